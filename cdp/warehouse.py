"""The DuckDB warehouse connection.

DuckDB allows one writing process per file, so every task opens a connection, does its work
and closes it (``with connect(settings) as con:``); nothing holds a connection across tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from cdp.settings import Settings

SCHEMAS = ("raw", "meta", "identity", "exports")
# Warehouse files this process holds open read-write for a whole stage (``held``), with how often.
_HELD: dict[str, int] = {}


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, make sure the pipeline schemas exist, and always close it.

    A read-only connection to a warehouse this process holds (``held``) opens read-write instead:
    DuckDB shares an open database only with connections of the same configuration.
    """
    if read_only and _HELD.get(str(settings.warehouse_path)):
        read_only = False
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        str(settings.warehouse_path),
        read_only=read_only,
        config={"memory_limit": settings.duckdb_memory_limit, "threads": settings.duckdb_threads},
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


@contextmanager
def held(settings: Settings) -> Iterator[None]:
    """Keep the warehouse open read-write for a whole stage (a gate or the export).

    The stage opens several connections of its own (stage record, gate datasets, results, report,
    publication). While this one is open they share its database instance (DuckDB's instance cache,
    same settings) instead of each reading the file's catalog and checkpointing it at close: one
    checkpoint per stage instead of one per connection. Connections inside asked for read-only
    open read-write (see ``connect``).
    """
    key = str(settings.warehouse_path)
    with connect(settings):
        _HELD[key] = _HELD.get(key, 0) + 1
        try:
            yield
        finally:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """True when ``schema.table`` exists in the warehouse."""
    # fetchall, not fetchone: DuckDB 2 leaves a partly read result open, which breaks the next query.
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows and rows[0][0])


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One unit of work: commit on success, roll back everything on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, new: str, columns: list[str] | tuple[str, ...],
                 key: list[str] | tuple[str, ...] | None = None) -> None:
    """Make ``table`` (``schema.name``) hold the rows of the registered view ``new``, deleting and inserting
    only the rows that differ, as replacing it would (both hold distinct rows).

    A table of other ``columns``, or of other column types than ``new``'s, is replaced. ``key``: the columns a row is compared on (default: all),
    when the other columns are a function of them. A nightly state table of which about 1% changes
    costs a few rows this way; rewritten whole, DuckDB writes and checkpoints all of it.
    """
    schema, name = table.split(".", 1)
    existing = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema, name]).fetchall()
    # Other names or types (a table an earlier version wrote): inserting would cast into the old types.
    incoming = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {new})").fetchall()
    if [c for c, _ in existing] != list(columns) or existing != incoming:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {new}")
        return
    same = " AND ".join(f"o.{c} IS NOT DISTINCT FROM n.{c}" for c in (key or columns))
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT o.rowid FROM {table} AS o ANTI JOIN {new} AS n ON {same})")
    con.execute(f"INSERT INTO {table} SELECT n.* FROM {new} AS n ANTI JOIN {table} AS o ON {same}")
