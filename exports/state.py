"""Per-export state in the warehouse: who was in each published export, and the export log.

``exports.export_members`` holds one row per member of every *published* export so the next run
can compute added/removed against the last successful export of the same segment+destination.
For ad platforms it also keeps the hashed row (never clear-text PII) so ``removed.csv`` can tell
the platform exactly which identifiers to drop. ``exports.export_log`` has one row per attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import pyarrow as pa

from cdp.clock import audit_now
from cdp.warehouse import table_exists

DDL = (
    """CREATE TABLE IF NOT EXISTS exports.export_members (
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL,
        member_key VARCHAR NOT NULL,
        hashed_row JSON
    )""",
    """CREATE TABLE IF NOT EXISTS exports.export_log (
        run_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        run_date DATE,
        export_seq BIGINT,
        row_count BIGINT,
        added BIGINT,
        removed BIGINT,
        previous_run_id VARCHAR,
        path VARCHAR,
        status VARCHAR NOT NULL,
        message VARCHAR,
        exported_at TIMESTAMP
    )""",
)

HASHED_ROWS = "exports.hashed_rows"
SUPPRESSION_DECISIONS = "exports.suppression_decisions"

PUBLISHED = "published"
GATE_FAILED = "gate_failed"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the export state tables when they do not exist yet."""
    for statement in DDL:
        con.execute(statement)


def previous_export(con: duckdb.DuckDBPyConnection, segment: str, destination: str, run_id: str) -> str | None:
    """Run id of the last published export of segment+destination other than ``run_id``.

    Ordered by publication sequence, not by run date: the diff must be against what downstream
    syncs last received, and a rerun of ``run_id`` is compared with the export before it.
    """
    row = con.execute(
        "SELECT run_id FROM exports.export_log WHERE segment = ? AND destination = ? AND status = ? "
        "AND run_id <> ? ORDER BY export_seq DESC LIMIT 1",
        [segment, destination, PUBLISHED, run_id]).fetchall()
    return row[0][0] if row else None


def previous_member_table(con: duckdb.DuckDBPyConnection, segment: str, destination: str,
                          run_id: str | None) -> pa.Table:
    """Members of a published export as a table: member_key, customer_id, hashed_row (JSON text or null)."""
    return con.sql(
        "SELECT member_key, customer_id, hashed_row::VARCHAR AS hashed_row FROM exports.export_members "
        "WHERE segment = ? AND destination = ? AND run_id = ?",
        params=[segment, destination, run_id or ""]).to_arrow_table()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """Expose ``table`` to SQL as view ``name`` for the block only, also when the block fails."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def record_published(con: duckdb.DuckDBPyConnection, *, segment: str, destination: str, run_id: str,
                     run_date: date, members: pa.Table, row_count: int, added: int, removed: int,
                     previous_run_id: str | None, path: str, message: str | None = None) -> None:
    """Replace this run's members and log row for segment+destination in one transaction.

    ``members`` has columns customer_id, member_key, hashed_row (JSON text or null).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        key = [segment, destination, run_id]
        con.execute("DELETE FROM exports.export_members WHERE segment = ? AND destination = ? AND run_id = ?", key)
        with registered(con, "_export_members_new", members):
            con.execute(
                "INSERT INTO exports.export_members SELECT ?, ?, ?, customer_id, member_key, hashed_row::JSON "
                "FROM _export_members_new", key)
        con.execute("DELETE FROM exports.export_log WHERE segment = ? AND destination = ? AND run_id = ?", key)
        _insert_log(con, key, run_date, PUBLISHED, row_count, added, removed, previous_run_id, path, message)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def record_gate_failure(con: duckdb.DuckDBPyConnection, *, segment: str, destination: str, run_id: str,
                        run_date: date, row_count: int, added: int, removed: int,
                        previous_run_id: str | None, message: str) -> None:
    """Log a blocked export; an earlier published row of the same run stays (its files stay too)."""
    key = [segment, destination, run_id]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM exports.export_log WHERE segment = ? AND destination = ? AND run_id = ? "
                    "AND status = ?", [*key, GATE_FAILED])
        _insert_log(con, key, run_date, GATE_FAILED, row_count, added, removed, previous_run_id, None, message)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _insert_log(con, key, run_date, status, row_count, added, removed, previous_run_id, path, message) -> None:
    seq = con.execute("SELECT coalesce(max(export_seq), 0) + 1 FROM exports.export_log").fetchall()[0][0]
    con.execute(
        "INSERT INTO exports.export_log (run_id, segment, destination, run_date, export_seq, row_count, added, "
        "removed, previous_run_id, path, status, message, exported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [key[2], key[0], key[1], run_date, seq, row_count, added, removed, previous_run_id, path, status,
         message, audit_now()])  # audit only: when the files appeared


def runs_to_drop(con: duckdb.DuckDBPyConnection, segment: str, destination: str, keep: int) -> set[str]:
    """Published run ids of segment+destination beyond the ``keep`` newest."""
    rows = con.execute(
        "SELECT run_id FROM exports.export_log WHERE segment = ? AND destination = ? AND status = ? "
        "GROUP BY run_id ORDER BY max(export_seq) DESC", [segment, destination, PUBLISHED]).fetchall()
    run_ids = [r[0] for r in rows]
    return set(run_ids[keep:])


def forget_members(con: duckdb.DuckDBPyConnection, segment: str, destination: str, run_ids: set[str]) -> None:
    """Delete the member rows of pruned runs (their export_log rows stay as the audit trail)."""
    if run_ids:
        con.execute("DELETE FROM exports.export_members WHERE segment = ? AND destination = ? "
                    "AND run_id IN (SELECT unnest(?::VARCHAR[]))", [segment, destination, sorted(run_ids)])


def load_hashed_rows(con: duckdb.DuckDBPyConnection, rules: str) -> pa.Table:
    """Ad-platform rows kept by the last run under the rules ``rules`` (``formats.rules_fingerprint``).

    Columns: destination, customer_id, row_input_fingerprint, hashed_row (values in the format's
    column order; null when the customer had no matchable identifier), member_key.
    """
    if not table_exists(con, *HASHED_ROWS.split(".")):
        return pa.table({"destination": pa.array([], pa.string())})
    return con.sql("SELECT destination, customer_id, row_input_fingerprint, hashed_row, member_key "
                   f"FROM {HASHED_ROWS} WHERE rules_fingerprint = ?", params=[rules]).to_arrow_table()


def save_hashed_rows(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Replace ``exports.hashed_rows`` with this run's rows (columns as ``load_hashed_rows`` plus rules_fingerprint)."""
    with registered(con, "_hashed_rows_new", rows):
        con.execute(f"CREATE OR REPLACE TABLE {HASHED_ROWS} AS SELECT * FROM _hashed_rows_new")
