"""Change logs between incremental models (dbt_project/macros/change_log.sql): a model that fails on
one night keeps the keys its producer logged for it, and the next successful night rebuilds them,
so every table still equals a --full-refresh build (EXCEPT ALL both ways); a consumed log is empty;
a NULL key (what a full build of the producer logs) makes the consumer rebuild every key."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

TABLES = (
    "intermediate.int_person_records_dated",
    "marts.fct_web_events",
    "marts.fct_web_sessions",
    "intermediate.int_web_orders_deduplicated",
    "intermediate.int_orders_with_lines",
    "marts.fct_orders",
    "marts.fct_order_lines",
    "marts.dim_customers",
)
# consumer -> a column renamed to make its incremental build fail (on_schema_change='fail'; the
# builds that should fail pass rebuild_out_of_sync=False, else cdp.dbt.build would rebuild them)
CONSUMERS_OF_PERSON_RECORDS = {"marts.fct_web_events": "page_title", "intermediate.int_orders_with_lines": "store_name"}
CONSUMERS_OF_EVENTS_AND_ORDERS = {
    "marts.fct_web_sessions": "utm_campaign", "marts.fct_orders": "store_name", "marts.fct_order_lines": "product_name",
}
LOGS = ("fct_web_events", "int_orders_with_lines", "fct_web_sessions", "fct_orders", "fct_order_lines")


def _rename(nights, settings, consumers: dict[str, str], broken: bool) -> None:
    for table, column in consumers.items():
        old, new = (column, f"{column}_broken") if broken else (f"{column}_broken", column)
        nights.execute(settings, f"alter table {table} rename column {old} to {new}")


@pytest.mark.slow
def test_a_failed_consumer_catches_up_on_the_next_night(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")

    # Night 2: new events and orders, a web and a store identity change; the two models that read
    # int_person_records_dated's log fail (and what is built from them is skipped).
    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(
        night_2,
        """
        insert into raw.web_events
            (message_id, type, event_name, user_id, anonymous_id, event_at, properties, page_path,
             _source_file, _source_line, _batch_id, _loaded_at)
        values
            ('m-c8', 'page', null, null, 'a3', '2026-11-02 10:15:00', '{}', '/late',
             'web/n2.ndjson', 1, 'b9', '2026-11-25 00:00:00');
        insert into identity.customer_map values ('web', 'anon:a9', 'C3', '2026-11-24 00:00:00');
        insert into identity.person_records_standardised
            (source_system, source_record_id, web_anonymous_id, record_updated_at)
        values ('web', 'anon:a9', 'a9', '2026-11-01 09:00:00');
        update identity.customer_map set customer_id = 'C5', resolved_at = '2026-11-24 00:00:00'
        where source_system = 'store' and source_record_id = '106';
        insert into raw.store_orders values
            (13, 102, 1, '2026-01-15 12:00:00', 'completed', 30.00, 'USD', '2026-11-24 09:00:00',
             'select * from orders', null, 'b7', '2026-11-25 00:00:00');
        """,
    )
    _rename(nights, night_2, CONSUMERS_OF_PERSON_RECORDS, broken=True)
    with pytest.raises(cdp_dbt.DbtBuildFailed):
        cdp_dbt.build(night_2, run_id="night-2", rebuild_out_of_sync=False)
    _rename(nights, night_2, CONSUMERS_OF_PERSON_RECORDS, broken=False)
    assert sql(night_2, "select count(*) from intermediate.fct_web_events__keys_to_rebuild") != [(0,)]

    # Night 3: one more event, identity moves the store record back; now the models that read
    # fct_web_events' and int_orders_with_lines' logs fail.
    night_3 = settings.with_run_date(date(2026, 11, 25))
    nights.execute(
        night_3,
        """
        insert into raw.web_events
            (message_id, type, event_name, user_id, anonymous_id, event_at, properties, page_path,
             _source_file, _source_line, _batch_id, _loaded_at)
        values
            ('m-a8', 'page', null, 'u1', 'a1', '2026-11-23 09:00:00', '{}', '/',
             'web/n3.ndjson', 1, 'b10', '2026-11-26 00:00:00');
        update identity.customer_map set customer_id = 'C6', resolved_at = '2026-11-25 00:00:00'
        where source_system = 'store' and source_record_id = '106';
        """,
    )
    _rename(nights, night_3, CONSUMERS_OF_EVENTS_AND_ORDERS, broken=True)
    with pytest.raises(cdp_dbt.DbtBuildFailed):
        cdp_dbt.build(night_3, run_id="night-3", rebuild_out_of_sync=False)
    _rename(nights, night_3, CONSUMERS_OF_EVENTS_AND_ORDERS, broken=False)

    # Night 4, nothing new: the logged keys of both failed nights are rebuilt.
    night_4 = settings.with_run_date(date(2026, 11, 26))
    cdp_dbt.build(night_4, run_id="night-4")
    assert sql(night_4, "select customer_id from marts.fct_web_sessions where visitor_id = 'a9'") == [("C3",)]
    assert sql(night_4, "select session_number, events from marts.fct_web_sessions "
                        "where visitor_id = 'a3' order by 1") == [(1, 4), (2, 2), (3, 1)]
    assert sql(night_4, "select count(*) from marts.fct_orders where order_id = '13'") == [(1,)]
    for log in LOGS:
        assert sql(night_4, f"select count(*) from intermediate.{log}__keys_to_rebuild") == [(0,)], log
    full = nights.full_refresh_copy(night_4, "night-4", tmp_path / "full_refresh_night_4")
    assert nights.differences(night_4, str(full.warehouse_path), TABLES) == {}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["null_key", "logs_dropped"])
def test_a_null_key_in_a_log_rebuilds_every_key(how, warehouse_factory, sql, tmp_path, nights):
    """Also when the logs do not exist (a warehouse from before them): the producers' hooks then
    create them holding the NULL key, not only tonight's keys, or what the consumers missed before
    (here: the markers) would never be rebuilt."""
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    # markers that only a rebuild of the row erases
    markers = (
        "update marts.fct_web_sessions set utm_campaign = 'kept'",
        "update marts.fct_orders set store_name = 'kept'",
        "update marts.fct_order_lines set product_name = 'kept'",
    )
    for marker in markers:
        nights.execute(settings, marker)
    for log in ("fct_web_sessions", "fct_orders", "fct_order_lines"):
        if how == "null_key":
            nights.execute(settings, f"insert into intermediate.{log}__keys_to_rebuild values (null)")
        else:
            nights.execute(settings, f"drop table intermediate.{log}__keys_to_rebuild")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, """
        select
            (select count(*) from marts.fct_web_sessions where utm_campaign = 'kept'),
            (select count(*) from marts.fct_orders where store_name = 'kept'),
            (select count(*) from marts.fct_order_lines where product_name = 'kept')
    """) == [(0, 0, 0)]
    full = nights.full_refresh_copy(settings, "night-1", tmp_path / "full_refresh")
    assert nights.differences(settings, str(full.warehouse_path), TABLES) == {}
