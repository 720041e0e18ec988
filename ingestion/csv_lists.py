"""Marketing/CRM CSV lists into raw.csv_contacts, mapped by ``ingestion/mappings/<list_type>.yml``.

The list type is the file name up to ``__`` (``crm__accounts-2026-11-23.csv`` -> ``crm``). The
encoding (BOM, UTF-8, else charset detection such as cp1252) and the delimiter (``,`` ``;`` tab)
are detected. Header names are matched to canonical fields through the YAML aliases; columns
no alias claims are kept per row in ``extra`` (JSON). A file whose header maps none of the
list type's required identifiers is rejected as a whole (manifest ``failed`` plus a quarantine
row naming the columns found and expected); other files still load. A changed file replaces
the rows its earlier version loaded. The suppression list is loaded as part of this source.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from cdp.settings import Settings
from ingestion import parsing
from ingestion.file_batches import (
    FileBatch,
    LoadCounts,
    RejectedFile,
    delete_rows_of_file,
    ingest_files,
    landing_files,
    registered,
)
from ingestion.report import IngestReport
from ingestion.suppression import ingest_suppression

SOURCE = "csv"
TABLE = "raw.csv_contacts"
TEXT_FIELDS = (
    "email", "phone", "first_name", "last_name", "street", "city", "postcode", "state", "country",
    "company_name", "source_campaign",
)  # fmt: skip
BOOLEAN_FIELDS = ("consent_email", "consent_sms", "consent_ads")
CANONICAL_FIELDS = (*TEXT_FIELDS, "birth_date", *BOOLEAN_FIELDS)
COLUMNS = (
    "list_type", "list_file", "row_number", "contact_id", "email", "phone", "first_name", "last_name",
    "birth_date", "street", "city", "postcode", "state", "country", "company_name", "consent_email",
    "consent_sms", "consent_ads", "source_campaign", "extra",
)  # fmt: skip

CONTACTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    list_type VARCHAR NOT NULL,
    list_file VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    contact_id VARCHAR NOT NULL,
    email VARCHAR,
    phone VARCHAR,
    first_name VARCHAR,
    last_name VARCHAR,
    birth_date DATE,
    street VARCHAR,
    city VARCHAR,
    postcode VARCHAR,
    state VARCHAR,
    country VARCHAR,
    company_name VARCHAR,
    consent_email BOOLEAN,
    consent_sms BOOLEAN,
    consent_ads BOOLEAN,
    source_campaign VARCHAR,
    extra JSON,
    _source_file VARCHAR NOT NULL,
    _source_line BIGINT,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
)
"""


@dataclass(frozen=True)
class ListMapping:
    """One list type's YAML: canonical field -> header aliases, required identifiers, defaults."""

    list_type: str
    fields: dict[str, tuple[str, ...]]
    required_any: tuple[str, ...]
    date_formats: tuple[str, ...]
    defaults: dict[str, str]


def normalise_header(name: str) -> str:
    """Header name as compared with aliases: lower case, runs of punctuation/space -> '_'."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def mappings_dir(settings: Settings) -> Path:
    """Folder of the mapping YAML files (packaged with ingestion; overridable for tests)."""
    override = getattr(settings, "csv_mappings_dir", None)
    return Path(override) if override else Path(str(files("ingestion") / "mappings"))


@cache
def load_mapping(path: Path) -> ListMapping:
    """Parse and check one mapping file."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    fields = {field: tuple(aliases or ()) for field, aliases in (spec.get("fields") or {}).items()}
    unknown = set(fields) - set(CANONICAL_FIELDS)
    if unknown:
        raise ValueError(
            f"{path}: unknown canonical fields {sorted(unknown)}; allowed: {', '.join(CANONICAL_FIELDS)}"
        )
    return ListMapping(
        list_type=spec.get("list_type", path.stem),
        fields=fields,
        required_any=tuple(spec.get("required_any") or ("email",)),
        date_formats=tuple(spec.get("date_formats") or ("%Y-%m-%d",)),
        defaults=dict(spec.get("defaults") or {}),
    )


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.csv_contacts when missing."""
    con.execute(CONTACTS_DDL)


def ingest_csv_lists(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> IngestReport:
    """Load every new or changed list file, then the suppression list (same source, same report)."""
    ensure_table(con)
    paths = landing_files(settings.csv_landing_dir, ("*.csv", "*.CSV", "*.tsv", "*.txt"))
    report = ingest_files(con, settings, run_id, SOURCE, paths, load_file, delete_rows_of_file(TABLE))
    ingest_suppression(con, settings, run_id, report)
    return report


def _mapping_for(batch: FileBatch) -> ListMapping:
    name = batch.path.name
    if "__" not in name:
        raise RejectedFile(f"{name}: list files must be named <list_type>__<anything>.csv", field="file name")
    list_type = name.split("__", 1)[0]
    path = mappings_dir(batch.settings) / f"{list_type}.yml"
    if not path.exists():
        known = sorted(p.stem for p in mappings_dir(batch.settings).glob("*.yml"))
        raise RejectedFile(
            f"{name}: no mapping for list type {list_type!r} (expected {path.name}); known types: {', '.join(known)}",
            field="list_type",
        )
    return load_mapping(path)


def _map_header(header: list[str], mapping: ListMapping, file_name: str) -> dict[int, str]:
    """Column position -> canonical field; rejects the file when no required identifier maps."""
    by_alias = {
        normalise_header(a): field for field, aliases in mapping.fields.items() for a in (*aliases, field)
    }
    positions: dict[int, str] = {}
    for position, name in enumerate(header):
        field = by_alias.get(normalise_header(name))
        if field is not None and field not in positions.values():
            positions[position] = field
    if not set(positions.values()) & set(mapping.required_any):
        expected = "; ".join(f"{f}: {', '.join(mapping.fields.get(f, (f,)))}" for f in mapping.required_any)
        raise RejectedFile(
            f"{file_name}: header cannot be mapped for list type {mapping.list_type!r}: none of the identifier "
            f"columns was found. Columns found: {', '.join(header) or '(none)'}. Expected at least one of "
            f"[{expected}]. Add the header name as an alias in ingestion/mappings/{mapping.list_type}.yml.",
            field="header",
            raw_text=", ".join(header),
        )
    return positions


def load_file(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> LoadCounts:
    """Map, validate and insert one list file (inside the caller's transaction)."""
    mapping = _mapping_for(batch)
    content, encoding = parsing.decode_text_file(batch.path)
    delimiter = parsing.sniff_delimiter(content[:65536])
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    header = next(reader, [])
    positions = _map_header(header, mapping, batch.path.name)
    rows: list[dict] = []
    row_number = 0
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not contacts
        row_number += 1
        row, field, reason = _typed(record, header, positions, mapping, batch)
        raw = delimiter.join(record)
        if reason is None and len(record) > len(header):
            field, reason = None, f"too-many-columns: {len(record)} values for {len(header)} header columns"
        if reason is not None:
            batch.reject(reader.line_num, field, reason, raw)
            continue
        row.update(
            list_type=mapping.list_type,
            list_file=batch.path.name,
            row_number=row_number,
            contact_id=f"{batch.path.name}:{row_number}",
            _source_line=reader.line_num,
        )
        rows.append(row)
    if rows:
        table = pa.table({name: [r.get(name) for r in rows] for name in (*COLUMNS, "_source_line")})
        with registered(con, "_csv_batch", table):
            con.execute(
                f"""
                INSERT INTO {TABLE}
                SELECT {", ".join(f"CAST({c} AS {_duck_type(c)})" for c in COLUMNS)}, ?, _source_line, ?, ?
                FROM _csv_batch
                """,
                [batch.source_file, batch.batch_id, batch.loaded_at],
            )
    del encoding  # detected for decoding only; the manifest records size and checksum
    return LoadCounts(rows_read=row_number, rows_loaded=len(rows))


def _duck_type(column: str) -> str:
    if column in BOOLEAN_FIELDS:
        return "BOOLEAN"
    if column == "birth_date":
        return "DATE"
    if column == "row_number":
        return "BIGINT"
    if column == "extra":
        return "JSON"
    return "VARCHAR"


def _typed(record: list[str], header: list[str], positions: dict[int, str], mapping: ListMapping, batch):
    """(row of canonical fields, problem field, problem reason) for one CSV record."""
    limit = batch.settings.max_field_chars
    row: dict = dict.fromkeys(CANONICAL_FIELDS)
    extra: dict[str, str] = {}
    for position, value in enumerate(record):
        field = positions.get(position)
        column = header[position] if position < len(header) else f"column_{position + 1}"
        try:
            if field is None:
                if value.strip():
                    extra[column] = parsing.text(value, column, limit)
            elif field in BOOLEAN_FIELDS:
                row[field] = parsing.boolean(value, column)
            elif field == "birth_date":
                row[field] = parsing.calendar_date(value, column, list(mapping.date_formats))
            else:
                row[field] = parsing.text(value, column, limit)
        except parsing.BadValue as exc:
            return row, column, str(exc)
    for field, value in mapping.defaults.items():
        if row.get(field) is None:
            row[field] = value
    if not any(row.get(field) for field in mapping.required_any):
        return (
            row,
            "/".join(mapping.required_any),
            f"missing-id: no {' or '.join(mapping.required_any)} in this row",
        )
    row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    return row, None, None
