"""The store's marketing opt-in is dated by when it took its value, not by the row's last edit.

raw.store_customers keeps only the current row; the store ingestion records when
`is_marketing_opt_in` took its value (`marketing_opt_in_changed_at`). Consent is resolved per
purpose by the latest statement across sources, so dating the store's statement by `updated_at`
made any edit of a store customer (a new phone) re-state an old opt-in as new and beat a newer
refusal made on the web: Alice (C1, store opt-in since 2025) refused e-mail on the web on
2026-10-01 and was put back into e-mail audiences when her phone changed. These tests load the
POS rows through the real upsert (ingestion.store_pos) into the fixture warehouse and build with
cdp.dbt.build."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import date, datetime

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect
from ingestion.store_pos import ingest_store

POS_DDL = [
    """CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, loyalty_card_number TEXT, first_name TEXT,
       last_name TEXT, email TEXT, phone TEXT, birth_date TEXT, street TEXT, city TEXT, postcode TEXT,
       state TEXT, country TEXT, is_marketing_opt_in INTEGER, created_at TEXT, updated_at TEXT)""",
    "CREATE TABLE stores (store_id INTEGER PRIMARY KEY, store_name TEXT, city TEXT, state TEXT, opened_at TEXT, "
    "updated_at TEXT)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, store_id INTEGER, ordered_at TEXT, "
    "status TEXT, total_amount NUMERIC, currency TEXT, updated_at TEXT)",
    "CREATE TABLE order_lines (order_line_id INTEGER PRIMARY KEY, order_id INTEGER, product_sku TEXT, "
    "product_name TEXT, category TEXT, quantity INTEGER, unit_price NUMERIC, updated_at TEXT)",
]
CONSENTS = ("select has_consent_email_marketing, has_consent_sms_marketing from marts.dim_customers "
            "where customer_id = 'C1'")
STORE_STATED = ("select distinct stated_at from intermediate.int_consent_statements_unioned "
                "where source_record_key = 'store|101'")


def _alice(opt_in: bool, phone: str, updated_at: str) -> tuple:
    """Store customer 101 (C1) as the POS holds it (the fixture's row, with these changes)."""
    return (101, "L-101", "Alice", "Smith", "alice@store.example", phone, None, None, None, None, None, "US",
            int(opt_in), "2025-06-01 10:00:00", updated_at)  # fmt: skip


class Pos:
    """A SQLite POS holding only store customer 101; `load` upserts it into the warehouse."""

    def __init__(self, settings, path):
        self.path = path
        self.settings = dataclasses.replace(settings, store_db_uri=f"sqlite:///{path}")
        with sqlite3.connect(path) as con:
            for ddl in POS_DDL:
                con.execute(ddl)

    def load(self, row: tuple, run_id: str) -> None:
        with sqlite3.connect(self.path) as con:
            con.execute("INSERT OR REPLACE INTO customers VALUES (" + ", ".join("?" * len(row)) + ")", row)
        with connect(self.settings) as con:
            assert ingest_store(con, self.settings, run_id).rows_loaded == 1


@pytest.mark.slow
def test_a_store_edit_that_keeps_the_opt_in_does_not_beat_a_newer_web_refusal(warehouse_factory, sql, tmp_path,
                                                                                nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, CONSENTS) == [(False, True)]  # e-mail refused on the web on 2026-10-01

    # The POS edits Alice's phone on 2026-11-15; her opt-in (true since 2025) is unchanged.
    Pos(settings, tmp_path / "pos.sqlite").load(_alice(True, "+15550000099", "2026-11-15 10:00:00"), "load-2")
    assert sql(settings, "select phone, marketing_opt_in_changed_at from raw.store_customers "
                         "where customer_id = 101") == [("+15550000099", datetime(2025, 6, 1, 10))]
    night_2 = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, CONSENTS) == [(False, True)]
    assert sql(night_2, STORE_STATED) == [(datetime(2025, 6, 1, 10),)]
    # The date lives in the raw table, so a --full-refresh keeps it (no history held by dbt).
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full")
    assert sql(full, CONSENTS) == [(False, True)]


@pytest.mark.slow
def test_a_store_opt_in_given_again_after_the_web_refusal_wins(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    pos = Pos(settings, tmp_path / "pos.sqlite")

    # Alice opts out at the store on 2026-11-10: a real change, stated then (SMS refused too).
    pos.load(_alice(False, "+15550000001", "2026-11-10 10:00:00"), "load-2")
    night_2 = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, STORE_STATED) == [(datetime(2026, 11, 10, 10),)]
    assert sql(night_2, CONSENTS) == [(False, False)]

    # ... and opts in again on 2026-11-15, after her web refusal: the store's statement is the latest.
    pos.load(_alice(True, "+15550000001", "2026-11-15 10:00:00"), "load-3")
    night_3 = settings.with_run_date(date(2026, 11, 25))
    cdp_dbt.build(night_3, run_id="night-3")
    assert sql(night_3, STORE_STATED) == [(datetime(2026, 11, 15, 10),)]
    assert sql(night_3, CONSENTS) == [(True, True)]


def test_a_build_before_the_first_store_ingestion_of_an_upgraded_warehouse_adds_the_column(warehouse_factory, sql,
                                                                                         tmp_path):
    # a warehouse whose store tables an earlier version loaded: no marketing_opt_in_changed_at yet,
    # and `cdp build` run before the night's store ingestion (which would add it)
    settings = warehouse_factory(tmp_path)
    with connect(settings) as con:
        con.execute("alter table raw.store_customers drop column marketing_opt_in_changed_at")
    summary = cdp_dbt.build(settings, run_id="upgraded")
    assert summary["failures"] == 0
    # each row dated by itself, as dbt dated the store statement before the column existed
    assert sql(settings, "select count(*) from raw.store_customers "
                         "where marketing_opt_in_changed_at is distinct from coalesce(updated_at, created_at)") == [(0,)]
