"""Incremental web marts over three nights: a late event inside an existing session, a new session
of a known visitor (with a web order), a reloaded message that moves to another visitor and a
customer_map change each give the same rows as a --full-refresh build of the same data
(EXCEPT ALL both ways), a rerun of the night rewrites nothing, and a visitor whose only event moves
to another device loses its session."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

# The incremental web marts and everything built from them.
WEB_TABLES = (
    "marts.fct_web_events",
    "marts.fct_web_sessions",
    "intermediate.int_web_orders_deduplicated",
    "intermediate.int_web_order_lines_extracted",
    "intermediate.int_orders_with_lines",
    "intermediate.int_web_sessions_aggregated_to_customers",
    "marts.fct_orders",
    "marts.fct_order_lines",
    "marts.dim_customers",
    "marts.kpi_daily",
    "marts.kpi_acquisition",
)


@pytest.mark.slow
def test_three_web_nights_equal_full_refresh_and_a_rerun_changes_nothing(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    carol_sessions = sql(settings, "select session_number, events from marts.fct_web_sessions "
                                   "where visitor_id = 'a3' order by 1")
    assert carol_sessions == [(1, 3), (2, 2), (3, 1)]

    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(
        night_2,
        """
        insert into raw.web_events
            (message_id, type, event_name, user_id, anonymous_id, event_at, properties, page_path,
             _source_file, _source_line, _batch_id, _loaded_at)
        values
            -- late: 15 minutes into Carol's first session, which keeps its number and grows
            ('m-c8', 'page', null, null, 'a3', '2026-11-02 10:15:00', '{}', '/late',
             'web/n2.ndjson', 1, 'b9', '2026-11-25 00:00:00'),
            -- Alice comes back: a new session of a known visitor, with a web order
            ('m-a8', 'page', null, 'u1', 'a1', '2026-11-23 09:00:00', '{}', '/',
             'web/n2.ndjson', 2, 'b9', '2026-11-25 00:00:00'),
            ('m-a9', 'track', 'Order Completed', 'u1', 'a1', '2026-11-23 09:05:00',
             '{"order_id": "WEB-00000009", "revenue": 30.0, "currency": "USD", "products": [{"product_id": "SKU-8", "name": "Hat", "category": "Accessories", "price": 30.0, "quantity": 1}]}',
             null, 'web/n2.ndjson', 3, 'b9', '2026-11-25 00:00:00');
        -- a reloaded message: Carol's m-c5 arrives again, now from another device
        update raw.web_events set anonymous_id = 'a11', _loaded_at = '2026-11-25 00:00:00'
        where message_id = 'm-c5';
        -- identity resolves visitor a9, who sent nothing new: only the re-attribution check sees it
        insert into identity.customer_map values ('web', 'anon:a9', 'C3', '2026-11-24 00:00:00');
        insert into identity.person_records_standardised
            (source_system, source_record_id, web_anonymous_id, record_updated_at)
        values ('web', 'anon:a9', 'a9', '2026-11-01 09:00:00');
        """,
    )
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, "select session_number, events from marts.fct_web_sessions "
                        "where visitor_id = 'a3' order by 1") == [(1, 4), (2, 1), (3, 1)]
    assert sql(night_2, "select customer_id from marts.fct_web_sessions where visitor_id = 'a9'") == [("C3",)]
    assert sql(night_2, "select session_number, events from marts.fct_web_sessions "
                        "where visitor_id = 'a1' order by 1") == [(1, 5), (2, 2)]
    assert sql(night_2, "select visitor_id from marts.fct_web_events where web_event_id = 'm-c5'") == [("a11",)]
    assert sql(night_2, "select customer_id from marts.fct_orders where order_id = 'WEB-00000009'") == [("C1",)]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), WEB_TABLES) == {}

    # Night 3 reruns night 2 on unchanged data: nothing is recomputed. A marker that only a rebuild
    # of Carol's events would erase survives, and every table still equals the full refresh. The
    # marker is a session number, which a rebuild recomputes (a rebuilt visitor's older events keep
    # their stored event columns, e.g. page_title, so a marker there would survive a rebuild too).
    session_number = sql(night_2, "select session_number from marts.fct_web_events where web_event_id = 'm-c1'")
    marker = "update marts.fct_web_events set session_number = -1 where web_event_id = 'm-c1'"
    nights.execute(night_2, marker)
    nights.execute(full, marker)
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, "select session_number from marts.fct_web_events where web_event_id = 'm-c1'") == [(-1,)]
    assert nights.differences(night_2, str(full.warehouse_path), WEB_TABLES) == {}

    # Night 4: visitor a9's only message arrives again from another device; a9 is left without
    # events, so its stored session goes (fct_web_sessions' marker row), and a12 gets one.
    # (First the night-3 marker is undone: it is not what a build would write.)
    night_4 = settings.with_run_date(date(2026, 11, 25))
    nights.execute(night_4, f"update marts.fct_web_events set session_number = {session_number[0][0]} "
                            "where web_event_id = 'm-c1'")
    nights.execute(night_4, "update raw.web_events set anonymous_id = 'a12', _loaded_at = '2026-11-26 00:00:00' "
                            "where message_id = 'm-x1'")
    cdp_dbt.build(night_4, run_id="night-4")
    assert sql(night_4, "select visitor_id, events from marts.fct_web_sessions "
                        "where visitor_id in ('a9', 'a12')") == [("a12", 1)]
    full_4 = nights.full_refresh_copy(night_4, "night-4", tmp_path / "full_refresh_night_4")
    assert nights.differences(night_4, str(full_4.warehouse_path), WEB_TABLES) == {}
