"""Incremental web order tables (int_web_orders_deduplicated, int_web_order_lines_extracted): a
night with an earlier retry of an order (another chosen event, fewer lines), an order whose only
event is reloaded as a page view (the order and its lines go) and a new order gives the same rows
as a --full-refresh of the same data (EXCEPT ALL both ways), recomputes only those orders, and a
rerun rewrites nothing. A product's price and quantity are read only as plain numbers (else NULL,
never what DuckDB's cast makes of "1_000", "1e3" or 2.5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect

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


# (a product's price and quantity as sent, the unit_price, quantity and line_amount of its line)
PRODUCT_FORMS = [
    ('"price": 10.5, "quantity": 2', Decimal("10.5"), 2, Decimal("21")),
    ('"price": "10.5", "quantity": "3"', Decimal("10.5"), 3, Decimal("31.5")),
    ('"price": 1e3, "quantity": 2.0', Decimal("1000"), 2, Decimal("2000")),  # JSON numbers, whole 2.0
    ('"price": 4', Decimal("4"), 1, Decimal("4")),  # no quantity sent: one unit
    ('"price": 4, "quantity": null', Decimal("4"), 1, Decimal("4")),
    # DuckDB's cast read "1_000" and "1e3" as 1000 and rounded 2.5 to 3: unreadable, NULL
    ('"price": "1_000", "quantity": 1', None, 1, None),
    ('"price": "1e3", "quantity": 1', None, 1, None),
    ('"price": " 12 ", "quantity": 1', None, 1, None),
    ('"price": 5, "quantity": "1_000"', Decimal("5"), None, None),
    ('"price": 5, "quantity": 2.5', Decimal("5"), None, None),
    ('"price": 5, "quantity": "2.5"', Decimal("5"), None, None),
    ('"price": 5, "quantity": " 3 "', Decimal("5"), None, None),
    ('"price": 5, "quantity": "abc"', Decimal("5"), None, None),
]


@pytest.mark.slow
def test_web_line_prices_and_quantities_are_plain_numbers_else_null(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path / "warehouse")
    products = ", ".join(f'{{"product_id": "Q{index}", "name": "Q{index}", "category": "Misc", {forms}}}'
                         for index, (forms, *_) in enumerate(PRODUCT_FORMS, start=1))
    statement = (f"insert into raw.web_events {COLUMNS} values ('m-q1', 'track', 'Order Completed', 'u1', 'a1', "
                 f"'2026-11-05 09:00:00', '{{\"order_id\": \"WEB-Q1\", \"revenue\": 100.0, \"currency\": \"USD\", "
                 f"\"products\": [{products}]}}', 'web/o.ndjson', 1, 'b-o', '2026-11-23 00:00:00')")
    with connect(settings) as con:
        con.execute(statement)
    assert cdp_dbt.build(settings, run_id="line-forms")["failures"] == 0

    lines = sql(settings, "select unit_price, quantity, line_amount from intermediate.int_web_order_lines_extracted "
                          "where order_id = 'WEB-Q1' order by cast(split_part(order_line_id, ':', 2) as integer)")
    assert dict(zip([forms for forms, *_ in PRODUCT_FORMS], lines, strict=True)) == {
        forms: tuple(expected) for forms, *expected in PRODUCT_FORMS}
    # as a NULL price always was: the line counts, its NULL units and amount add nothing
    assert sql(settings, "select order_line_count, item_quantity, lines_amount from marts.fct_orders "
                         "where order_id = 'WEB-Q1'") == [
        (len(PRODUCT_FORMS), sum(quantity or 0 for *_, quantity, _ in PRODUCT_FORMS),
         sum(amount or 0 for *_, amount in PRODUCT_FORMS))]
    assert sql(settings, "select count(*), count(quantity), count(unit_price) from marts.fct_order_lines "
                         "where order_id = 'WEB-Q1'") == [(len(PRODUCT_FORMS), 8, 10)]
