"""Incremental customer-level models: every night's incremental build equals a --full-refresh build
of the same data (EXCEPT ALL both ways), across an identity merge, a split and a run date that
brings already-loaded rows into the window; a rerun of the same night changes nothing."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect

# compared without the audit columns `written_at` (the time a build last wrote the row) and
# `events_written_at`: see conftest.COMPARED_COLUMNS
COMPARED_COLUMNS = "columns(lambda c: c not in ('written_at', 'events_written_at'))"

# History-keeping marts, left out of the comparison: they keep history on purpose (member_since,
# one row per run date; segment_size_history is incremental, a full refresh drops its past rows).
KEEPS_HISTORY = {"segment_memberships", "segment_size_history"}


def _execute(settings, sql: str) -> None:
    with connect(settings) as con:
        con.execute(sql)


def _built_tables(sql, settings) -> list[str]:
    """Every table of intermediate and marts, plus the marts views (dim_customers is one)."""
    rows = sql(
        settings,
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where schema_name in ('intermediate', 'marts') "
        "union all select schema_name || '.' || view_name from duckdb_views() "
        "where schema_name = 'marts' order by 1",
    )
    return [row[0] for row in rows if row[0].split(".")[1] not in KEEPS_HISTORY]


def _differences(settings, table: str, other_database: str) -> tuple[int, int]:
    """(rows only in this warehouse's table, rows only in the other warehouse's), without written_at."""
    with connect(settings, read_only=True) as con:
        con.execute(f"attach '{other_database}' as other (read_only)")
        only_here = con.execute(
            f"select count(*) from (select {COMPARED_COLUMNS} from {table} "
            f"except all select {COMPARED_COLUMNS} from other.{table})"
        ).fetchall()[0][0]
        only_there = con.execute(
            f"select count(*) from (select {COMPARED_COLUMNS} from other.{table} "
            f"except all select {COMPARED_COLUMNS} from {table})"
        ).fetchall()[0][0]
    return only_here, only_there


def _assert_equals_full_refresh(sql, settings, run_id: str, tmp_path, label: str) -> None:
    """Build a --full-refresh of a copy of the warehouse and compare every built table with it."""
    full_home = tmp_path / f"full_refresh_{label}"
    full = dataclasses.replace(settings, home=full_home, warehouse_path=full_home / "warehouse" / "cdp.duckdb",
                               dbt_target_dir=full_home / "dbt" / "target")
    full.warehouse_path.parent.mkdir(parents=True)
    shutil.copy2(settings.warehouse_path, full.warehouse_path)
    cdp_dbt.build(full, run_id=run_id, full_refresh=True)
    tables = _built_tables(sql, settings)
    assert {"intermediate.int_customer_golden_record", "marts.dim_customers"} <= set(tables)
    assert tables == _built_tables(sql, full)
    differing = {table: counts for table in tables
                 if (counts := _differences(settings, table, str(full.warehouse_path))) != (0, 0)}
    assert differing == {}, f"{label}: incremental build differs from a full refresh: {differing}"


def _snapshot(settings, tables: list[str]) -> None:
    statements = ["create schema if not exists snapshot"]
    statements += [f"create or replace table snapshot.{table.replace('.', '__')} as select * from {table}"
                   for table in tables]
    _execute(settings, ";\n".join(statements))


def _changed_since_snapshot(sql, settings, tables: list[str]) -> list[str]:
    changed = []
    for table in tables:
        copy = f"snapshot.{table.replace('.', '__')}"
        rows = sql(settings, f"select count(*) from ((select * from {table} except all select * from {copy}) "
                             f"union all (select * from {copy} except all select * from {table}))")
        if rows[0][0]:
            changed.append(table)
    return changed


@pytest.mark.slow
def test_two_incremental_nights_with_a_merge_and_a_split_equal_full_refresh(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path / "warehouse")
    # already loaded before night 1, but dated the day after it: only night 2 counts it
    _execute(
        settings,
        """
        insert into raw.store_orders values
            (13, 105, 1, '2026-11-24 09:00:00', 'completed', 25.00, 'USD', '2026-11-24 09:00:00',
             'select * from orders', null, 'b3', '2026-11-22 00:00:00');
        """,
    )
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select lifetime_orders from marts.dim_customers where customer_id = 'C5'") == [(1,)]

    # Night 2: identity merges Bob (C2) into Frank (C6); Dan (C4) calls again.
    night_2 = settings.with_run_date(date(2026, 11, 24))
    _execute(
        night_2,
        """
        update identity.customer_map set customer_id = 'C6', resolved_at = '2026-11-24 01:00:00'
        where customer_id = 'C2';
        create table if not exists identity.customer_id_history (
            run_id varchar, old_customer_id varchar, new_customer_id varchar, change_type varchar,
            reason varchar, changed_at timestamp);
        insert into identity.customer_id_history values
            ('night-2', 'C2', 'C6', 'merge', 'store|102 linked to store|106', '2026-11-24 01:00:00');
        insert into raw.call_center_calls values
            ('call-5', '+15550000004', null, 'Dan', 'Brown', 'ag1', 'support',
             '2026-11-24 08:00:00', '2026-11-24 08:01:00', '2026-11-24 08:09:00', 'resolved', 4, 10,
             '2026-11-24 08:09:00', 'cc/calls-2.csv', 2, 'b4', '2026-11-24 09:00:00');
        insert into identity.customer_map values ('call_center', 'call-5', 'C4', '2026-11-24 01:00:00');
        insert into identity.person_records_standardised values
            ('call_center', 'call-5', 'Dan', 'Brown', null, null, '+15550000004', null, null, null,
             null, null, null, null, null, '2026-11-24 08:09:00');
        """,
    )
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, "select count(*) from marts.dim_customers where customer_id = 'C2'") == [(0,)]
    assert sql(night_2, "select lifetime_orders, calls from marts.dim_customers where customer_id = 'C6'") == [
        (7, 0)
    ]
    assert sql(night_2, "select calls, latest_nps from marts.dim_customers where customer_id = 'C4'") == [(3, 10)]
    assert sql(night_2, "select lifetime_orders from marts.dim_customers where customer_id = 'C5'") == [(2,)]
    _assert_equals_full_refresh(sql, night_2, "night-2", tmp_path, "merge")


    # Night 3: Alice's (C1) web records split off into a customer of their own.
    night_3 = settings.with_run_date(date(2026, 11, 25))
    _execute(
        night_3,
        """
        update identity.customer_map set customer_id = 'C8', resolved_at = '2026-11-25 01:00:00'
        where source_record_id in ('user:u1', 'anon:a1');
        insert into identity.customer_id_history values
            ('night-3', 'C1', 'C8', 'split', 'web records cut from C1', '2026-11-25 01:00:00');
        """,
    )
    cdp_dbt.build(night_3, run_id="night-3")

    assert sql(night_3, "select customer_id, source_record_count from marts.dim_customers "
                        "where customer_id in ('C1', 'C8') order by customer_id") == [("C1", 3), ("C8", 2)]
    # Alice's web order moved with her web records; her two store orders stayed with C1
    assert sql(night_3, "select customer_id, lifetime_orders from marts.dim_customers "
                        "where customer_id in ('C1', 'C8') order by customer_id") == [("C1", 2), ("C8", 1)]
    assert sql(night_3, "select first_name from marts.dim_customers where customer_id = 'C8'") == [("Ally",)]
    _assert_equals_full_refresh(sql, night_3, "split", tmp_path, "split")

    # A rerun of the night gives identical rows and recomputes nobody: a marker in an untouched
    # customer's golden record survives it.
    tables = _built_tables(sql, night_3)
    _execute(night_3, "update intermediate.int_customer_golden_record set first_name = 'kept' "
                      "where customer_id = 'C5'")
    _snapshot(night_3, tables)
    # a run id is free text: a quote in it must reach segment_size_history as written
    cdp_dbt.build(night_3, run_id="night-3 'rerun'")
    assert _changed_since_snapshot(sql, night_3, tables) == []
    assert sql(night_3, "select distinct run_id from marts.segment_size_history "
                        "where as_of_date = '2026-11-25'") == [("night-3 'rerun'",)]
    assert sql(night_3, "select first_name from intermediate.int_customer_golden_record "
                        "where customer_id = 'C5'") == [("kept",)]
