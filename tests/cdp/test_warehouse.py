"""The warehouse connection: a stage can hold the warehouse open, and read-only readers inside it share it."""

from __future__ import annotations

import duckdb
import pytest

from cdp.settings import Settings
from cdp.warehouse import connect, held


def test_read_only_connections_share_a_held_warehouse_and_stay_read_only_otherwise(tmp_path):
    settings = Settings.from_env({"CDP_HOME": str(tmp_path)})
    with connect(settings) as con:
        con.execute("CREATE TABLE meta.t AS SELECT 1 AS x")
    # A read-only connection would be refused while this process holds the file read-write
    # (DuckDB shares an open database only with connections of the same configuration).
    with held(settings), connect(settings, read_only=True) as con:
        assert con.execute("SELECT x FROM meta.t").fetchall() == [(1,)]
    # Outside a held stage, read-only means read-only again (so `cdp report` works beside readers).
    with connect(settings, read_only=True) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("INSERT INTO meta.t VALUES (2)")
