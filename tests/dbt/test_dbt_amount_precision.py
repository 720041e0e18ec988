"""Store amounts keep the POS's precision from the source to the order facts.

Raw and staging amounts were DECIMAL(12,2): an order of 19.999 (a KWD amount, 3 minor digits) was
stored as 20.00 and a fuel price of 1.859 per litre as 1.86, without a word. The POS rows are
loaded here through the real store ingestion (SQLite and PostgreSQL) into the fixture warehouse
and built with cdp.dbt.build; the upgrade test turns a built warehouse back into one of the earlier
version (DECIMAL(12,2) raw and incremental columns, amounts rounded) and builds it again.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from datetime import date
from decimal import Decimal

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect
from ingestion.store_pos import ingest_store

POS_DDL = [
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, loyalty_card_number TEXT, first_name TEXT, "
    "last_name TEXT, email TEXT, phone TEXT, birth_date TEXT, street TEXT, city TEXT, postcode TEXT, state TEXT, "
    "country TEXT, is_marketing_opt_in INTEGER, created_at TEXT, updated_at TEXT)",
    "CREATE TABLE stores (store_id INTEGER PRIMARY KEY, store_name TEXT, city TEXT, state TEXT, opened_at TEXT, "
    "updated_at TEXT)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, store_id INTEGER, ordered_at TEXT, "
    "status TEXT, total_amount NUMERIC, currency TEXT, updated_at TEXT)",
    "CREATE TABLE order_lines (order_line_id INTEGER PRIMARY KEY, order_id INTEGER, product_sku TEXT, "
    "product_name TEXT, category TEXT, quantity INTEGER, unit_price NUMERIC, updated_at TEXT)",
]
STAMP = "2026-11-20 13:00:00"
# Alice (store customer 101, C1) buys fuel and tea for 19.999 KWD; a guest pays 19.999 USD, another
# 2,000,000.5 EUR (converted, an amount times a decimal(18, 8) rate overflowed a decimal(18, 12)).
# The fixture's store 1 and customers stay as they are (the POS holds only these rows).
ORDERS = [
    (9001, 101, 1, STAMP, "completed", 19.999, "KWD", STAMP),
    (9002, None, 1, STAMP, "completed", "19.999", "USD", STAMP),
    (9003, None, 1, STAMP, "completed", 2_000_000.5, "EUR", STAMP),
]
LINES = [
    (90011, 9001, "FUEL-D", "Diesel", "Fuel", 10, 1.859, STAMP),  # per litre
    (90012, 9001, "TEA", "Tea", "Grocery", 1, 1.409, STAMP),  # 1 dinar 409 fils
    (90021, 9002, "MUG", "Mug", "Kitchen", 1, "19.999", STAMP),
]
FACT_ORDERS = ("select order_id, total_amount, lines_amount, total_minus_lines_amount from marts.fct_orders "
               "where order_id in ('9001', '9002') order by order_id")
FACT_LINES = ("select order_line_id, unit_price, line_amount from marts.fct_order_lines "
              "where order_id in ('9001', '9002') order by order_line_id")
EXPECTED_ORDERS = [
    ("9001", Decimal("19.999"), Decimal("19.999"), Decimal("0")),
    ("9002", Decimal("19.999"), Decimal("19.999"), Decimal("0")),
]
EXPECTED_LINES = [
    ("90011", Decimal("1.859"), Decimal("18.59")),
    ("90012", Decimal("1.409"), Decimal("1.409")),
    ("90021", Decimal("19.999"), Decimal("19.999")),
]


def _fill(connection, mark: str) -> None:
    """Create the POS tables through a DB-API connection and insert the orders and lines."""
    cursor = connection.cursor()
    for ddl in POS_DDL:
        cursor.execute(ddl)
    for table, rows in (("orders", ORDERS), ("order_lines", LINES)):
        for row in rows:
            cursor.execute(f"INSERT INTO {table} VALUES ({', '.join([mark] * len(row))})", row)
    connection.commit()


def _sqlite_pos(tmp_path) -> str:
    path = tmp_path / "pos.sqlite"
    with sqlite3.connect(path) as connection:
        _fill(connection, "?")
    return f"sqlite:///{path}"


def _ingest(settings, uri: str, run_id: str) -> None:
    settings = dataclasses.replace(settings, store_db_uri=uri)
    with connect(settings) as con:
        assert ingest_store(con, settings, run_id).rows_quarantined == 0


@pytest.mark.slow
@pytest.mark.parametrize("source", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_store_amounts_reach_the_order_facts_unrounded(warehouse_factory, sql, tmp_path, source):
    settings = warehouse_factory(tmp_path / "warehouse")
    if source == "sqlite":
        _ingest(settings, _sqlite_pos(tmp_path), "load-1")
    else:
        psycopg = pytest.importorskip("psycopg")
        base = "postgresql://postgres@127.0.0.1:5432/test"
        try:
            admin = psycopg.connect(base, connect_timeout=3, autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL not reachable: {exc}")
        schema = f"cdp_amounts_test_{uuid.uuid4().hex[:10]}"
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            uri = f"{base}?options=-csearch_path%3D{schema}"
            with psycopg.connect(uri) as connection:
                _fill(connection, "%s")
            _ingest(settings, uri, "load-1")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.close()
    assert sql(settings, "select order_id, total_amount from raw.store_orders where order_id in (9001, 9002) "
                         "order by 1") == [(9001, Decimal("19.999")), (9002, Decimal("19.999"))]  # fmt: skip

    summary = cdp_dbt.build(settings, run_id="night-1")
    assert summary["failures"] == 0  # the revenue reconciliation test included
    assert sql(settings, FACT_ORDERS) == EXPECTED_ORDERS
    assert sql(settings, FACT_LINES) == EXPECTED_LINES
    # Rounded to the reporting currency's cents only in its KPI sums (the KWD order has no rate):
    # the fixture's 40.00 + 19.999 + 2,000,000.5 EUR * 1.08 = 2,160,060.539, summed, then rounded.
    assert sql(settings, "select revenue from marts.kpi_daily where kpi_date = date '2026-11-20'") == [
        (Decimal("2160060.54"),)
    ]


# The amount columns of the incremental tables, as the earlier version typed them.
OLD_INCREMENTAL_TYPES = {
    "intermediate.int_orders_with_lines": {"total_amount": "decimal(12, 2)", "lines_amount": "decimal(12, 2)"},
    "intermediate.int_web_orders_deduplicated": {"total_amount": "decimal(12, 2)"},
    "intermediate.int_web_order_lines_extracted": {"unit_price": "decimal(12, 2)", "line_amount": "decimal(12, 2)"},
    "marts.fct_orders": {"total_amount": "decimal(12, 2)", "lines_amount": "decimal(12, 2)",
                         "total_minus_lines_amount": "decimal(13, 2)"},
    "marts.fct_order_lines": {"unit_price": "decimal(12, 2)", "line_amount": "decimal(12, 2)"},
    "marts.fct_web_events": {"order_revenue": "decimal(12, 2)"},
}  # fmt: skip
COMPARED_TABLES = (*OLD_INCREMENTAL_TYPES, "intermediate.int_orders_aggregated_to_customers", "marts.kpi_daily")


@pytest.mark.slow
def test_a_warehouse_of_rounded_amounts_is_widened_reloaded_and_rebuilt(warehouse_factory, sql, tmp_path, nights):
    """The earlier version's warehouse: raw and incremental amount columns DECIMAL(12,2), holding
    20.00 for 19.999. The next store ingestion widens the raw columns and reads the store tables
    whole (restoring 19.999); the next build finds the incremental tables' amount columns retyped
    (on_schema_change='fail'), rebuilds those models by themselves, and equals a --full-refresh."""
    settings = warehouse_factory(tmp_path / "warehouse")
    pos = _sqlite_pos(tmp_path)
    _ingest(settings, pos, "load-1")
    cdp_dbt.build(settings, run_id="night-1")
    nights.execute(settings, "alter table raw.store_orders alter column total_amount set data type decimal(12, 2)")
    nights.execute(settings, "alter table raw.store_order_lines alter column unit_price set data type decimal(12, 2)")
    for table, columns in OLD_INCREMENTAL_TYPES.items():
        for column, kind in columns.items():
            nights.execute(settings, f"alter table {table} alter column {column} set data type {kind}")
    assert sql(settings, FACT_ORDERS)[0][1] == Decimal("20.00")

    _ingest(settings, pos, "load-2")
    assert sql(settings, "select unit_price from raw.store_order_lines where order_line_id = 90011") == [
        (Decimal("1.859"),)
    ]
    night_2 = settings.with_run_date(date(2026, 11, 24))
    summary = cdp_dbt.build(night_2, run_id="night-2")
    assert summary["failures"] == 0
    assert set(summary["full_refreshed_models"]) == {name.split(".")[1] for name in OLD_INCREMENTAL_TYPES}
    assert sql(night_2, FACT_ORDERS) == EXPECTED_ORDERS
    assert sql(night_2, FACT_LINES) == EXPECTED_LINES
    assert sql(night_2, "select distinct data_type from duckdb_columns() where schema_name = 'marts' "
                        "and column_name in ('total_amount', 'unit_price', 'line_amount', 'order_revenue')") == [
        ("DECIMAL(18,4)",)
    ]  # fmt: skip
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh")
    assert nights.differences(night_2, str(full.warehouse_path), COMPARED_TABLES) == {}
