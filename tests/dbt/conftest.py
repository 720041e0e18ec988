"""Fixtures: a tmp warehouse holding the contract tables dbt reads, with crafted customers."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from cdp import dbt as cdp_dbt
from cdp.settings import Settings
from cdp.warehouse import connect

FIXTURES = Path(__file__).parent / "fixtures"
RUN_DATE = date(2026, 11, 23)


def make_warehouse(home: Path, run_date: date = RUN_DATE) -> Settings:
    """Settings for a fresh warehouse under ``home`` loaded with fixtures/warehouse.sql."""
    settings = Settings(home=home, run_date=run_date)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute((FIXTURES / "warehouse.sql").read_text(encoding="utf-8"))
    finally:
        con.close()
    return settings


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of a read-only query against the warehouse."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def warehouse_factory():
    """make_warehouse(home, run_date=2026-11-23) -> Settings for a fresh fixture warehouse."""
    return make_warehouse


@pytest.fixture(scope="session")
def sql():
    """query(settings, sql, params=None) -> rows, read-only."""
    return query


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Settings, dict]:
    """One dbt build of the fixture warehouse for run date 2026-11-23, shared by read-only tests."""
    settings = make_warehouse(tmp_path_factory.mktemp("dbt_built"))
    summary = cdp_dbt.build(settings, run_id="test-run-1")
    return settings, summary


def execute(settings: Settings, statement: str) -> None:
    """Run one statement on the warehouse (a write: a test's change to raw data or a marker)."""
    with connect(settings) as con:
        con.execute(statement)


# Every column but `written_at`, the time a build last wrote the row (dbt_project/macros/written_at.sql),
# and `events_written_at` (int_web_orders_deduplicated: the `written_at` of the fct_web_events row it
# was read from): audit columns, which a full refresh sets for every row and an incremental build only
# for the rows it rewrites, so the two are compared without them.
COMPARED_COLUMNS = "columns(lambda c: c not in ('written_at', 'events_written_at'))"


def table_differences(settings: Settings, other_database: str, tables: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Per table: (rows only in this warehouse, rows only in the other), where either is non-zero;
    ``written_at`` and ``events_written_at`` left out (COMPARED_COLUMNS)."""
    differing = {}
    with connect(settings, read_only=True) as con:
        con.execute(f"attach '{other_database}' as other (read_only)")
        for table in tables:
            counts = tuple(
                con.execute(f"select count(*) from (select {COMPARED_COLUMNS} from {left} "
                            f"except all select {COMPARED_COLUMNS} from {right})")
                .fetchall()[0][0]
                for left, right in ((table, f"other.{table}"), (f"other.{table}", table))
            )
            if counts != (0, 0):
                differing[table] = counts
    return differing


def full_refresh_copy(settings: Settings, run_id: str, home: Path) -> Settings:
    """A copy of the warehouse under ``home``, rebuilt by ``dbt build --full-refresh`` for ``run_id``."""
    full = dataclasses.replace(settings, home=home, warehouse_path=home / "warehouse" / "cdp.duckdb",
                               dbt_target_dir=home / "dbt" / "target")
    full.warehouse_path.parent.mkdir(parents=True)
    shutil.copy2(settings.warehouse_path, full.warehouse_path)
    cdp_dbt.build(full, run_id=run_id, full_refresh=True)
    return full


@pytest.fixture(scope="session")
def nights() -> SimpleNamespace:
    """Helpers of the incremental multi-night tests: ``execute``, ``differences``, ``full_refresh_copy``."""
    return SimpleNamespace(execute=execute, differences=table_differences, full_refresh_copy=full_refresh_copy)
