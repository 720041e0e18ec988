"""Call-center exports (CSV and JSON arrays) into raw.call_center_calls, one row per call_id.

A later export may repeat a call with a newer ``updated_at``: the latest ``updated_at`` wins,
within a file, across files and across runs (equal ``updated_at``: the later file wins). A
changed file is re-read and upserted the same way; rows it no longer contains are kept, since
a call may also have come from another export.
"""

from __future__ import annotations

import csv
import io
import json

import duckdb
import pyarrow as pa

from cdp.settings import Settings
from ingestion import parsing
from ingestion.file_batches import (
    FileBatch,
    LoadCounts,
    RejectedFile,
    ingest_files,
    landing_files,
    registered,
)
from ingestion.report import IngestReport

SOURCE = "call_center"
TABLE = "raw.call_center_calls"
FILE_PATTERNS = ("*.csv", "*.json")
TEXT_FIELDS = (
    "call_id", "caller_phone", "caller_email", "caller_first_name", "caller_last_name",
    "agent_id", "queue", "disposition",
)  # fmt: skip
TIME_FIELDS = ("started_at", "answered_at", "ended_at", "updated_at")
COLUMNS = (
    *TEXT_FIELDS[:7],
    "started_at",
    "answered_at",
    "ended_at",
    "disposition",
    "csat",
    "nps",
    "updated_at",
)
DISPOSITIONS = ("resolved", "escalated", "callback", "abandoned", "transferred")

CALLS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    call_id VARCHAR PRIMARY KEY,
    caller_phone VARCHAR,
    caller_email VARCHAR,
    caller_first_name VARCHAR,
    caller_last_name VARCHAR,
    agent_id VARCHAR,
    queue VARCHAR,
    started_at TIMESTAMP,
    answered_at TIMESTAMP,
    ended_at TIMESTAMP,
    disposition VARCHAR,
    csat INTEGER,
    nps INTEGER,
    updated_at TIMESTAMP NOT NULL,
    extra JSON,
    _source_file VARCHAR NOT NULL,
    _source_line BIGINT,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
)
"""


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.call_center_calls when missing."""
    con.execute(CALLS_DDL)


def ingest_call_center(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> IngestReport:
    """Load every new or changed call-center export."""
    ensure_table(con)
    files = landing_files(settings.call_center_landing_dir, FILE_PATTERNS)
    # Nothing to forget: upserting the changed file's rows is the replacement (see module doc).
    return ingest_files(con, settings, run_id, SOURCE, files, load_file, lambda con, source_file: None)


def _records(batch: FileBatch) -> list[tuple[int, dict, str]]:
    """(line or array position, record, raw text) for every record of a CSV or JSON export."""
    if batch.path.suffix.lower() == ".json":
        try:
            items = json.loads(batch.path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RejectedFile(f"{batch.path.name} is not valid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise RejectedFile(
                f"{batch.path.name} must hold a JSON array of call objects, found {type(items).__name__}"
            )
        return [(n, item, json.dumps(item, default=str)) for n, item in enumerate(items, 1)]
    content, _ = parsing.decode_text_file(batch.path)
    reader = csv.DictReader(
        io.StringIO(content, newline=""), delimiter=parsing.sniff_delimiter(content[:65536])
    )
    header = [h.strip() for h in reader.fieldnames or []]
    if "call_id" not in header or "updated_at" not in header:
        raise RejectedFile(
            f"{batch.path.name}: header must contain call_id and updated_at; found columns: {', '.join(header)}",
            field="header",
            raw_text=",".join(header),
        )
    reader.fieldnames = header
    records = []
    for row in reader:
        records.append((reader.line_num, row, ",".join("" if v is None else str(v) for v in row.values())))
    return records


def _typed(record, batch: FileBatch) -> tuple[dict, str | None, str | None]:
    """(typed row, problem field, problem reason) for one record."""
    if not isinstance(record, dict):
        return {}, None, "not-an-object: each call must be an object"
    limit = batch.settings.max_field_chars
    row: dict = {}
    field = None
    try:
        for field in TEXT_FIELDS:
            row[field] = parsing.text(record.get(field), field, limit)
        for field in TIME_FIELDS:
            row[field] = parsing.timestamp(record.get(field), field)
        field = "csat"
        row["csat"] = parsing.integer(record.get("csat"), "csat", 1, 5)
        field = "nps"
        row["nps"] = parsing.integer(record.get("nps"), "nps", 0, 10)
    except parsing.BadValue as exc:
        return row, field, str(exc)
    if row["call_id"] is None:
        return row, "call_id", "missing-id: call_id is empty"
    if row["updated_at"] is None:
        return row, "updated_at", "missing-field: updated_at is needed to pick the latest version of a call"
    if row["disposition"] is not None and row["disposition"] not in DISPOSITIONS:
        return (
            row,
            "disposition",
            f"invalid-value: disposition {row['disposition']!r} not in {', '.join(DISPOSITIONS)}",
        )
    extra = {k: v for k, v in record.items() if k not in COLUMNS and k is not None and v not in (None, "")}
    row["extra"] = json.dumps(extra, default=str) if extra else None
    return row, None, None


def load_file(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> LoadCounts:
    """Validate one export and upsert its calls (latest updated_at wins)."""
    rows, lines = [], []
    for line, record, raw in _records(batch):
        row, field, reason = _typed(record, batch)
        if reason is not None:
            batch.reject(line, field, reason, raw)
            continue
        rows.append(row)
        lines.append(line)
    if not rows:
        return LoadCounts(rows_read=len(batch.quarantine), rows_loaded=0)
    names = [*COLUMNS, "extra"]
    table = pa.table({**{n: [r.get(n) for r in rows] for n in names}, "_source_line": lines})
    with registered(con, "_calls_batch", table):
        # Latest version per call inside this file first (later line wins a tie) ...
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _calls_latest AS
            SELECT * FROM _calls_batch
            QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY updated_at DESC, _source_line DESC) = 1
            """
        )
    # ... then only those at least as new as what the warehouse holds.
    newer = con.execute(
        f"""
        SELECT count(*) FROM _calls_latest n LEFT JOIN {TABLE} o USING (call_id)
        WHERE o.call_id IS NULL OR n.updated_at >= o.updated_at
        """
    ).fetchall()[0][0]
    con.execute(
        f"""
        DELETE FROM {TABLE} WHERE call_id IN (
            SELECT n.call_id FROM _calls_latest n JOIN {TABLE} o USING (call_id) WHERE n.updated_at >= o.updated_at
        )
        """
    )
    con.execute(
        f"""
        INSERT INTO {TABLE}
        SELECT {", ".join(f"n.{c}" for c in COLUMNS)}, n.extra::JSON, ?, n._source_line, ?, ?
        FROM _calls_latest n ANTI JOIN {TABLE} o USING (call_id)
        """,
        [batch.source_file, batch.batch_id, batch.loaded_at],
    )
    con.execute("DROP TABLE _calls_latest")
    return LoadCounts(
        rows_read=len(rows) + len(batch.quarantine), rows_loaded=newer, rows_skipped=len(rows) - newer
    )
