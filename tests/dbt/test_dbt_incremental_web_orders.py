"""Incremental web order tables (int_web_orders_deduplicated, int_web_order_lines_extracted): a
night with an earlier retry of an order (another chosen event, fewer lines), an order whose only
event is reloaded as a page view (the order and its lines go) and a new order gives the same rows
as a --full-refresh of the same data (EXCEPT ALL both ways), recomputes only those orders, and a
rerun rewrites nothing."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

ORDER_TABLES = (
    "intermediate.int_web_orders_deduplicated",
    "intermediate.int_web_order_lines_extracted",
    "intermediate.int_orders_with_lines",
    "marts.fct_orders",
    "marts.fct_order_lines",
)
COLUMNS = ("(message_id, type, event_name, user_id, anonymous_id, event_at, properties, "
           "_source_file, _source_line, _batch_id, _loaded_at)")


def _order(message_id: str, order_id: str, user_id: str | None, anonymous_id: str, at: str, skus: list[str],
           loaded_at: str, line: int) -> str:
    products = ", ".join(f'{{"product_id": "{sku}", "name": "{sku}", "category": "Misc", "price": 10.0, '
                         f'"quantity": 1}}' for sku in skus)
    user = f"'{user_id}'" if user_id else "null"
    return (f"('{message_id}', 'track', 'Order Completed', {user}, '{anonymous_id}', '{at}', "
            f"'{{\"order_id\": \"{order_id}\", \"revenue\": {10.0 * len(skus)}, \"currency\": \"USD\", "
            f"\"products\": [{products}]}}', 'web/o.ndjson', {line}, 'b-o', '{loaded_at}')")


def _marker_values(settings, sql) -> list[tuple]:
    return sql(settings, "select session_id from intermediate.int_web_orders_deduplicated "
                         "where order_id = 'WEB-00000003' union all "
                         "select product_name from intermediate.int_web_order_lines_extracted "
                         "where order_id = 'WEB-00000003'")


@pytest.mark.slow
def test_web_order_night_equals_full_refresh_and_a_rerun_changes_nothing(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    night_1_loaded = "2026-11-23 00:00:00"
    nights.execute(settings, f"insert into raw.web_events {COLUMNS} values "
                   + _order("m-o2", "WEB-00000002", "u1", "a1", "2026-11-05 09:00:00", ["S1", "S2"], night_1_loaded, 1)
                   + ", " + _order("m-o3", "WEB-00000003", None, "a3", "2026-11-10 09:00:00", ["S3"], night_1_loaded, 2))
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select order_id, count(*) from intermediate.int_web_order_lines_extracted "
                         "group by 1 order by 1") == [("WEB-00000001", 2), ("WEB-00000002", 2), ("WEB-00000003", 1)]
    # markers on an order nothing touches: only a recomputation of that order would erase them
    nights.execute(settings, "update intermediate.int_web_orders_deduplicated set session_id = 'marker' "
                             "where order_id = 'WEB-00000003'; "
                             "update intermediate.int_web_order_lines_extracted set product_name = 'marker' "
                             "where order_id = 'WEB-00000003'")

    night_2 = settings.with_run_date(date(2026, 11, 24))
    loaded = "2026-11-25 00:00:00"
    nights.execute(night_2, f"insert into raw.web_events {COLUMNS} values "
                   # a retry of WEB-00000001 stamped earlier than its first event: it is chosen now
                   + _order("m-a6", "WEB-00000001", "u1", "a1", "2026-10-01 10:11:00", ["S9"], loaded, 3)
                   + ", " + _order("m-o4", "WEB-00000004", "u1", "a1", "2026-11-23 09:00:00", ["S4", "S5"], loaded, 4)
                   # WEB-00000002's only event is reloaded as a page view: the order is gone
                   + "; update raw.web_events set type = 'page', event_name = null, properties = '{}', "
                   f"_loaded_at = '{loaded}' where message_id = 'm-o2'")
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, "select order_id, web_event_id from intermediate.int_web_orders_deduplicated order by 1") == [
        ("WEB-00000001", "m-a6"), ("WEB-00000003", "m-o3"), ("WEB-00000004", "m-o4")]
    assert sql(night_2, "select order_id, count(*) from intermediate.int_web_order_lines_extracted "
                        "group by 1 order by 1") == [("WEB-00000001", 1), ("WEB-00000003", 1), ("WEB-00000004", 2)]
    assert _marker_values(night_2, sql) == [("marker",), ("marker",)]
    assert sql(night_2, "select count(*) from intermediate.int_web_order_lines_extracted__keys_to_rebuild") == [(0,)]
    # the markers are not what a build writes: undo them, then compare with a full refresh
    nights.execute(night_2, "update intermediate.int_web_orders_deduplicated as orders set session_id = "
                            "(select events.session_id from marts.fct_web_events as events "
                            "where events.web_event_id = orders.web_event_id) where order_id = 'WEB-00000003'; "
                            "update intermediate.int_web_order_lines_extracted set product_name = 'S3' "
                            "where order_id = 'WEB-00000003'")
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), ORDER_TABLES) == {}

    # a rerun of the night finds no event written since and recomputes no order
    nights.execute(night_2, "update intermediate.int_web_orders_deduplicated set session_id = 'marker' "
                            "where order_id = 'WEB-00000001'; "
                            "update intermediate.int_web_order_lines_extracted set product_name = 'marker' "
                            "where order_id = 'WEB-00000004'")
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, "select session_id from intermediate.int_web_orders_deduplicated "
                        "where order_id = 'WEB-00000001'") == [("marker",)]
    assert sql(night_2, "select distinct product_name from intermediate.int_web_order_lines_extracted "
                        "where order_id = 'WEB-00000004'") == [("marker",)]
