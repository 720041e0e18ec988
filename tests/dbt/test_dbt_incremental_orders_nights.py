"""Incremental order chain over three nights: a new store order that becomes its customer's first
purchase, an order whose status the POS updated, a line added to an existing order, an identity
merge that re-attributes a POS customer's orders and a web order whose chosen event was reloaded as
something else each give the same rows as a --full-refresh build of the same data (EXCEPT ALL both
ways); a rerun of the night rewrites nothing; a renamed store reaches every order of the store."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

# The incremental order chain and what is built from it.
ORDER_TABLES = (
    "intermediate.int_web_orders_deduplicated",
    "intermediate.int_web_order_lines_extracted",
    "intermediate.int_orders_with_lines",
    "intermediate.int_orders_aggregated_to_customers",
    "marts.fct_orders",
    "marts.fct_order_lines",
    "marts.dim_customers",
    "marts.customer_rfm",
    "marts.kpi_daily",
)
# Rows of an order nothing touches on night 2: only a rebuild of that order would erase them.
MARKERS = (
    "update intermediate.int_orders_with_lines set store_name = 'kept' where order_id = '9'",
    "update marts.fct_orders set store_name = 'kept' where order_id = '9'",
    "update marts.fct_order_lines set product_name = 'kept' where order_line_id = '3'",
)
MARKED = """
    select
        (select store_name from intermediate.int_orders_with_lines where order_id = '9'),
        (select store_name from marts.fct_orders where order_id = '9'),
        (select product_name from marts.fct_order_lines where order_line_id = '3')
"""


@pytest.mark.slow
def test_order_nights_equal_full_refresh_and_a_rerun_changes_nothing(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select order_id from marts.fct_orders where is_first_purchase order by 1") == [
        ("1",), ("3",), ("5",), ("6",)
    ]

    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(
        night_2,
        """
        -- Bob's new order predates his first one: it becomes his first purchase
        insert into raw.store_orders values
            (13, 102, 1, '2026-01-15 12:00:00', 'completed', 30.00, 'USD', '2026-11-24 09:00:00',
             'select * from orders', null, 'b7', '2026-11-25 00:00:00');
        insert into raw.store_order_lines values
            (4, 13, 'SKU-4', 'Belt', 'Accessories', 2, 15.00, '2026-11-24 09:00:00',
             'select * from order_lines', null, 'b7', '2026-11-25 00:00:00'),
            -- a line added to Alice's first order; the order row itself is not reloaded
            (5, 1, 'SKU-5', 'Laces', 'Shoes', 1, 5.00, '2026-11-24 09:00:00',
             'select * from order_lines', null, 'b7', '2026-11-25 00:00:00');
        -- the POS upserts Alice's second order as returned
        update raw.store_orders
        set status = 'returned', updated_at = '2026-11-24 09:00:00', _batch_id = 'b7',
            _loaded_at = '2026-11-25 00:00:00'
        where order_id = 2;
        -- identity merges Frank (C6) into Erin (C5): his orders move, nothing about them is reloaded
        update identity.customer_map set customer_id = 'C5', resolved_at = '2026-11-24 00:00:00'
        where source_system = 'store' and source_record_id = '106';
        -- the web order's chosen event is reloaded as another event: its retry (no products) wins
        update raw.web_events set event_name = 'Checkout Started', _loaded_at = '2026-11-25 00:00:00'
        where message_id = 'm-a4';
        """,
    )
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, "select order_id, customer_id from marts.fct_orders where is_first_purchase order by 1") == [
        ("1", "C1"), ("13", "C2"), ("5", "C5")
    ]
    assert sql(night_2, "select order_status from marts.fct_orders where order_id = '2'") == [("returned",)]
    assert sql(night_2, "select order_line_count, lines_amount from marts.fct_orders where order_id = '1'") == [
        (2, 505)
    ]
    assert sql(night_2, "select distinct customer_id from marts.fct_order_lines where order_id = '1'") == [("C1",)]
    assert sql(night_2, "select count(distinct customer_id), min(customer_id) from marts.fct_orders "
                        "where store_customer_id = '106'") == [(1, "C5")]
    assert sql(night_2, "select cast(ordered_at as varchar), order_line_count from marts.fct_orders "
                        "where order_id = 'WEB-00000001'") == [("2026-10-01 10:12:30", 0)]
    assert sql(night_2, "select count(*) from marts.fct_order_lines where order_id = 'WEB-00000001'") == [(0,)]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), ORDER_TABLES) == {}

    # A rerun of night 2 on unchanged data recomputes no order: markers on an untouched order
    # survive, and every table still equals the full refresh (marked the same way).
    for marker in MARKERS:
        nights.execute(night_2, marker)
        nights.execute(full, marker)
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, MARKED) == [("kept", "kept", "kept")]
    assert nights.differences(night_2, str(full.warehouse_path), ORDER_TABLES) == {}

    # Night 3: the store is renamed, which reaches every one of its orders (and rewrites the markers).
    night_3 = settings.with_run_date(date(2026, 11, 25))
    nights.execute(night_3, "update raw.store_stores set store_name = 'Downtown Plaza', _loaded_at = '2026-11-26 00:00:00'")
    cdp_dbt.build(night_3, run_id="night-3")
    assert sql(night_3, "select distinct store_name from marts.fct_orders where order_channel = 'store'") == [
        ("Downtown Plaza",)
    ]
    full_3 = nights.full_refresh_copy(night_3, "night-3", tmp_path / "full_refresh_night_3")
    assert nights.differences(night_3, str(full_3.warehouse_path), ORDER_TABLES) == {}
