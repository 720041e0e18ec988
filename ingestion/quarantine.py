"""meta.quarantine: every record ingestion refused, with where it came from and why."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from ingestion.views import registered

# Quarantine keeps the offending text so a person can fix the source; cap it so one
# pathological line (a 40 MB blob) cannot bloat the warehouse.
MAX_RAW_TEXT_CHARS = 65_536

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS meta.quarantine (
    batch_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR,
    line_number BIGINT,
    field VARCHAR,
    reason VARCHAR NOT NULL,
    raw_text VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
)
"""


@dataclass
class QuarantineRecord:
    """One refused record: the line (or row) it came from, the field at fault and why."""

    source_file: str
    line_number: int | None
    field: str | None
    reason: str
    raw_text: str | None


def ensure_quarantine_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create meta.quarantine when missing."""
    con.execute(QUARANTINE_DDL)


def clip(text: str | bytes | None) -> str | None:
    """Raw text as stored in quarantine: decoded leniently and capped in length."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    if len(text) > MAX_RAW_TEXT_CHARS:
        return text[:MAX_RAW_TEXT_CHARS] + f"... [truncated, {len(text)} chars in total]"
    return text


def write_quarantine(
    con: duckdb.DuckDBPyConnection,
    records: list[QuarantineRecord],
    *,
    batch_id: str,
    run_id: str,
    source: str,
    quarantined_at,
) -> int:
    """Append records to meta.quarantine inside the caller's transaction; returns how many."""
    if not records:
        return 0
    table = pa.table(
        {
            "source_file": pa.array([r.source_file for r in records], pa.string()),
            "line_number": pa.array([r.line_number for r in records], pa.int64()),
            "field": pa.array([r.field for r in records], pa.string()),
            "reason": pa.array([r.reason for r in records], pa.string()),
            "raw_text": pa.array([clip(r.raw_text) for r in records], pa.string()),
        }
    )
    with registered(con, "_quarantine_batch", table):
        con.execute(
            """
            INSERT INTO meta.quarantine
            SELECT ?, ?, ?, source_file, line_number, field, reason, raw_text, ?
            FROM _quarantine_batch
            """,
            [batch_id, run_id, source, quarantined_at],
        )
    return len(records)
