"""Incremental web marts: reruns change nothing, and new events or identity changes give a full-refresh result."""

from __future__ import annotations

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect

# compared without the audit columns `written_at` (the time a build last wrote the row) and
# `events_written_at`: see conftest.COMPARED_COLUMNS
COMPARED_COLUMNS = "columns(lambda c: c not in ('written_at', 'events_written_at'))"

WEB_MARTS = ("fct_web_events", "fct_web_sessions")
# Marts rebuilt from the incremental ones (and from the intermediate tables) that must also come
# out identical to a full refresh. segment_memberships / segment_size_history are left out: they
# keep history on purpose (member_since, one row per run date), which is not what is compared here.
DERIVED_MARTS = ("fct_orders", "fct_order_lines", "dim_customers", "kpi_daily", "kpi_acquisition")


def _execute(settings, sql: str) -> None:
    with connect(settings) as con:
        con.execute(sql)


def _snapshot(settings, label: str, marts: tuple[str, ...] = WEB_MARTS) -> None:
    """Copy the marts into schema `snapshot` as <mart>_<label>, for EXCEPT comparisons."""
    statements = ["create schema if not exists snapshot"]
    statements += [
        f"create or replace table snapshot.{mart}_{label} as select * from marts.{mart}" for mart in marts
    ]
    _execute(settings, ";\n".join(statements))


def _differences(sql, settings, mart: str, label: str, columns: str = "*") -> list[tuple]:
    """Rows of marts.<mart> missing from the snapshot plus rows of the snapshot missing from the mart."""
    return sql(
        settings,
        f"(select 'only in mart' as side, * from (select {columns} from marts.{mart} "
        f"except all select {columns} from snapshot.{mart}_{label})) "
        f"union all (select 'only in snapshot', * from (select {columns} from snapshot.{mart}_{label} "
        f"except all select {columns} from marts.{mart}))",
    )


def test_rerun_of_the_same_day_keeps_identical_rows_and_skips_unchanged_visitors(
    warehouse_factory, sql, tmp_path
):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="day-1")
    # a marker only a rebuild of visitor a9 would erase: proves the rerun does not recompute it.
    # session_number, not an event column: a rebuilt visitor's older events take their event
    # columns (page_title...) from the table itself, but its sessions are always recomputed.
    _execute(settings, "update marts.fct_web_events set session_number = -1 where web_event_id = 'm-x1'")
    _snapshot(settings, "first")

    cdp_dbt.build(settings, run_id="day-1")

    for mart in WEB_MARTS:
        assert sql(settings, f"select count(*) from marts.{mart}")[0][0] > 0
        assert _differences(sql, settings, mart, "first") == []
    assert sql(settings, "select session_number from marts.fct_web_events where web_event_id = 'm-x1'") == [
        (-1,)
    ]


def test_build_after_new_events_and_identity_changes_equals_full_refresh(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="day-1")
    old_a3_session_ids = {
        row[0]
        for row in sql(settings, "select session_id from marts.fct_web_sessions where visitor_id = 'a3'")
    }

    _execute(
        settings,
        """
        insert into raw.web_events
            (message_id, type, user_id, anonymous_id, event_at, properties, page_path,
             _source_file, _source_line, _batch_id, _loaded_at)
        values
            -- a late event between Carol's sessions 1 and 2 (gaps of 11 and 25 minutes) merges them
            ('m-c7', 'page', null, 'a3', '2026-11-02 11:10:00', '{}', '/late',
             'web/late.ndjson', 1, 'b9', '2026-11-24 00:00:00'),
            -- a new visitor with two sessions (45 minutes apart)
            ('m-n1', 'page', null, 'a10', '2026-11-23 08:00:00', '{}', '/', 'web/late.ndjson', 2, 'b9',
             '2026-11-24 00:00:00'),
            ('m-n2', 'page', null, 'a10', '2026-11-23 08:45:00', '{}', '/sale', 'web/late.ndjson', 3, 'b9',
             '2026-11-24 00:00:00');
        -- identity merges Alice's web records into C2; her events themselves are unchanged
        update identity.customer_map set customer_id = 'C2'
        where source_record_id in ('user:u1', 'anon:a1');
        """,
    )
    cdp_dbt.build(settings, run_id="day-2")

    a3_sessions = sql(
        settings,
        "select session_id, session_number, events from marts.fct_web_sessions "
        "where visitor_id = 'a3' order by session_number",
    )
    assert [(row[1], row[2]) for row in a3_sessions] == [(1, 6), (2, 1)]
    # the old third session's id is gone, not left behind beside the renumbered one
    assert {row[0] for row in a3_sessions} < old_a3_session_ids
    assert sql(
        settings,
        "select session_number, events from marts.fct_web_sessions where visitor_id = 'a10' order by 1",
    ) == [(1, 1), (2, 1)]
    assert sql(
        settings, "select distinct customer_id from marts.fct_web_events where anonymous_id = 'a1'"
    ) == [("C2",)]
    assert sql(settings, "select customer_id from marts.fct_web_sessions where visitor_id = 'a1'") == [
        ("C2",)
    ]
    _snapshot(settings, "incremental", WEB_MARTS + DERIVED_MARTS)

    cdp_dbt.build(settings, run_id="day-2", full_refresh=True)

    for mart in WEB_MARTS + DERIVED_MARTS:
        assert sql(settings, f"select count(*) from marts.{mart}")[0][0] > 0, mart
        assert _differences(sql, settings, mart, "incremental", COMPARED_COLUMNS) == [], mart
