"""Helpers the quality tests import by name (``from conftest import ...`` finds whichever test
folder's conftest was imported first, so it broke when tests/quality ran without tests/dbt)."""

from __future__ import annotations

import duckdb

from cdp.settings import Settings


def execute(settings: Settings, sql: str) -> list[tuple]:
    """Run SQL on the test warehouse and close it again (gates open their own connections)."""
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []
    finally:
        con.close()
