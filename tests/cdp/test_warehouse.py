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


def test_replace_rows_leaves_exactly_the_new_rows_writing_only_those_that_differ():
    import pyarrow as pa

    from cdp.warehouse import replace_rows

    con = duckdb.connect()
    con.execute("CREATE SCHEMA meta")
    columns = ["customer_id", "fingerprint", "is_match"]

    def rows(values):
        return pa.table({"customer_id": [v[0] for v in values], "fingerprint": [v[1] for v in values],
                         "is_match": pa.array([v[2] for v in values], pa.bool_())})

    nights = [[("c1", "1", False), ("c2", "2", True), ("c3", None, False)],
              [("c1", "1", False), ("c2", "9", True), ("c3", None, False), ("c4", "4", None)],
              [("c1", "1", True)], []]
    for night in nights:
        con.register("new_rows", rows(night))
        before = con.execute("SELECT rowid, * FROM meta.t ORDER BY ALL").fetchall() if night is not nights[0] else []
        replace_rows(con, "meta.t", "new_rows", columns)
        assert sorted(con.execute("SELECT * FROM meta.t").fetchall(), key=str) == sorted(night, key=str)
        # A row that stayed is the row that was there (not deleted and inserted again).
        kept = [row for row in before if row[1:] in night]
        assert [row for row in con.execute("SELECT rowid, * FROM meta.t ORDER BY ALL").fetchall()
                if row in kept] == kept
    # A table of other columns is replaced.
    con.execute("CREATE OR REPLACE TABLE meta.t (customer_id VARCHAR)")
    con.register("new_rows", rows(nights[0]))
    replace_rows(con, "meta.t", "new_rows", columns)
    assert len(con.execute("SELECT * FROM meta.t").fetchall()) == 3
    # A table of the same columns in other types (an earlier version's) is replaced too: inserting
    # would cast the new rows into the old types ("2" into an integer fingerprint).
    con.execute("CREATE OR REPLACE TABLE meta.t (customer_id VARCHAR, fingerprint BIGINT, is_match BOOLEAN)")
    con.register("new_rows", rows([("c1", "01", True)]))
    replace_rows(con, "meta.t", "new_rows", columns)
    assert con.execute("SELECT * FROM meta.t").fetchall() == [("c1", "01", True)]
