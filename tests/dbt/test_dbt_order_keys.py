"""A web order whose order_id equals a POS order id stays a separate order: the order models are
keyed by order_key ('<channel>|<order_id>'), so each order keeps its own line totals, the build
passes, the customer's lifetime orders count both, and a later night that changes one of them
leaves the other alone and equals a --full-refresh build."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

ORDER_TABLES = (
    "intermediate.int_orders_with_lines",
    "marts.fct_orders",
    "marts.fct_order_lines",
    "marts.dim_customers",
    "marts.kpi_daily",
)
# Alice's online order (events m-a4 and its retry m-a5) gets the id of her first POS order, 1.
WEB_ORDER_ID_1 = """
    update raw.web_events
    set properties = cast(replace(cast(properties as varchar), 'WEB-00000001', '1') as json)
    where message_id in ('m-a4', 'm-a5')
"""
ORDERS_1 = """
    select order_key, order_channel, total_amount, order_line_count, lines_amount, customer_id
    from {table} where order_id = '1' order by order_key
"""


@pytest.mark.slow
def test_web_and_store_orders_with_the_same_id_stay_apart(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    nights.execute(settings, WEB_ORDER_ID_1)
    summary = cdp_dbt.build(settings, run_id="night-1")
    assert summary["failures"] == 0

    expected = [("store|1", "store", 500, 1, 500, "C1"), ("web|1", "web", 100, 2, 100, "C1")]
    for table in ("intermediate.int_orders_with_lines", "marts.fct_orders"):
        assert sql(settings, ORDERS_1.format(table=table)) == expected, table
    assert sql(settings, "select order_key, count(*), sum(line_amount) from marts.fct_order_lines "
                         "where order_id = '1' group by order_key order by order_key") == [
        ("store|1", 1, 500), ("web|1", 2, 100)
    ]
    assert sql(settings, "select lifetime_orders from marts.dim_customers where customer_id = 'C1'") == [(3,)]
    # the web order and Frank's POS order 11
    assert sql(settings, "select orders from marts.kpi_daily where kpi_date = '2026-10-01'") == [(2,)]

    # Night 2: a line added to the POS order recomputes it alone; the web order keeps its lines.
    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(night_2, """
        insert into raw.store_order_lines values
            (5, 1, 'SKU-5', 'Laces', 'Shoes', 1, 5.00, '2026-11-24 09:00:00',
             'select * from order_lines', null, 'b7', '2026-11-25 00:00:00')
    """)
    nights.execute(night_2, "update marts.fct_order_lines set product_name = 'kept' where order_key = 'web|1'")
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, ORDERS_1.format(table="marts.fct_orders")) == [
        ("store|1", "store", 500, 2, 505, "C1"), ("web|1", "web", 100, 2, 100, "C1")
    ]
    assert sql(night_2, "select distinct product_name from marts.fct_order_lines where order_key = 'web|1'") == [
        ("kept",)
    ]
    nights.execute(night_2, "update marts.fct_order_lines set product_name = 'Scarf' where order_line_id = '1:1'")
    nights.execute(night_2, "update marts.fct_order_lines set product_name = 'Hat' where order_line_id = '1:2'")
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), ORDER_TABLES) == {}
