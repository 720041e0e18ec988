"""Exposing in-memory Arrow tables to DuckDB SQL for the length of one block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table) -> Iterator[None]:
    """Expose an Arrow table to SQL under ``name`` for the duration of the block."""
    con.register(name, table)
    try:
        yield
    finally:
        # After a failed statement the transaction is aborted and unregister itself fails;
        # the view dies with the rollback anyway, and the original error must not be masked.
        with suppress(duckdb.Error):
            con.unregister(name)
