"""Fixtures: a tmp warehouse holding the contract tables dbt reads, with crafted customers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from cdp import dbt as cdp_dbt
from cdp.settings import Settings

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
