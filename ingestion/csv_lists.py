"""Marketing/CRM CSV lists into raw.csv_contacts, mapped by ``ingestion/mappings/<list_type>.yml``.

The list type is the file name up to ``__`` (``crm__accounts-2026-11-23.csv`` -> ``crm``). The
encoding (BOM, UTF-8, else the mapping's ``encoding`` or else charset detection, e.g. cp1252) and
the delimiter (``,`` ``;`` tab) are detected. Header names are matched to canonical fields through the YAML aliases; columns
no alias claims are kept per row in ``extra`` (JSON). A file whose header maps none of the
list type's required identifiers is rejected as a whole (manifest ``failed`` plus a quarantine
row naming the columns found and expected); other files still load. The suppression list is
loaded as part of this source.

Lists are re-sent under new names, edited. Each row is stored with ``row_fingerprint`` (list type
plus every mapped field and ``extra``) and ``contact_key`` (list type plus the normalised email;
without one, the phone's digits with the lower-cased name, as colleagues share a company line; else
the fingerprint). A row whose fingerprint the warehouse (or an earlier line of the file) already
holds is skipped (manifest ``rows_skipped``), keeping the lineage of its first load. A changed row
(same key, new fingerprint) replaces the row of that key an earlier file loaded, keeping its
``contact_id`` (the file loaded later wins); several rows of one key (a family sharing an e-mail
address) pair up by first and last name first, then in row order, and the rest are new. Rows missing from a new file are kept: a partial re-send is not a withdrawal. A file
changed under the SAME name replaces the rows its earlier version loaded; rows of the old version
whose key no other stored row holds are then reloaded from the other loaded files of the list
type that contain them (skipped there as repeats), the file whose name sorts last first.
"""

from __future__ import annotations

import codecs
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
from ingestion import csv_records, manifest, parsing
from ingestion.file_batches import (
    CheckedCsvReader,
    FileBatch,
    LoadCounts,
    RejectedFile,
    ingest_files,
    landing_files,
    registered,
    reject_unclosed_quote,
    report_unread_files,
)
from ingestion.report import IngestReport
from ingestion.suppression import ingest_suppression

SOURCE = "csv"
TABLE = "raw.csv_contacts"
FILE_PATTERNS = ("*.csv", "*.tsv", "*.txt")
TEXT_FIELDS = (
    "email", "phone", "first_name", "last_name", "street", "city", "postcode", "state", "country",
    "company_name", "source_campaign",
)  # fmt: skip
BOOLEAN_FIELDS = ("consent_email", "consent_sms", "consent_ads")
# The row's own date (newsletter sign-up, CRM last edit, event registration): its statements are
# dated by it rather than by the list's date (stg_csv__contacts.contact_dated_at).
ROW_DATE_FIELD = "row_dated_at"
CANONICAL_FIELDS = (*TEXT_FIELDS, "birth_date", *BOOLEAN_FIELDS, ROW_DATE_FIELD)
COLUMNS = (
    "list_type", "list_file", "row_number", "contact_id", "email", "phone", "first_name", "last_name",
    "birth_date", "street", "city", "postcode", "state", "country", "company_name", "consent_email",
    "consent_sms", "consent_ads", "source_campaign", "extra", "row_dated_at",
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
    _loaded_at TIMESTAMP NOT NULL,
    row_fingerprint VARCHAR,
    contact_key VARCHAR,
    row_dated_at TIMESTAMP
)
"""
# Both computed in SQL from the stored columns, so rows stored before the columns existed get
# exactly the values a load would give them (``ensure_table``).
# Each value followed by '|' and its length (none for NULL): read from the end, the text splits
# back into its values however they are written, so different rows never share a text. md5 of it
# is stable across DuckDB versions (``hash`` is not) and costs half of md5(to_json(struct_pack(...))).
# The row date, added later, comes last and only when present ('|' and its length joined to it, so
# a NULL adds nothing): rows of lists without one keep the fingerprints stored before it existed.
# A timestamp never starts with '{' as ``extra`` does, so the text still splits one way only.
ROW_FINGERPRINT_SQL = "md5(concat({}, CAST({d} AS VARCHAR) || '|' || strlen(CAST({d} AS VARCHAR))))".format(
    ", ".join(
        f"CAST({c} AS VARCHAR), '|', strlen(CAST({c} AS VARCHAR))"
        for c in ("list_type", *CANONICAL_FIELDS, "extra") if c != ROW_DATE_FIELD
    ),
    d=ROW_DATE_FIELD,
)
_PHONE_DIGITS = "regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')"
CONTACT_KEY_SQL = f"""list_type || '|' || CASE
    WHEN coalesce(lower(trim(email)), '') <> '' THEN 'email:' || lower(trim(email))
    WHEN {_PHONE_DIGITS} <> '' THEN 'phone:' || {_PHONE_DIGITS} || ':' || lower(trim(coalesce(first_name, '')))
        || ':' || lower(trim(coalesce(last_name, '')))
    ELSE 'row:' || row_fingerprint END"""
# In the table's order: the row date was added last (``ensure_table``).
STORED_COLUMNS = (
    *(c for c in COLUMNS if c != ROW_DATE_FIELD), "_source_file", "_source_line", "_batch_id", "_loaded_at",
    "row_fingerprint", "contact_key", ROW_DATE_FIELD,
)


@dataclass(frozen=True)
class ListMapping:
    """One list type's YAML: canonical field -> header aliases, required identifiers, defaults."""

    list_type: str
    fields: dict[str, tuple[str, ...]]
    required_any: tuple[str, ...]
    date_formats: tuple[str, ...]
    defaults: dict[str, str]
    # Used for files of this type that are not UTF-8 (no detection then); None: detect.
    encoding: str | None = None


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
        encoding=_known_encoding(spec.get("encoding"), path),
    )


def _known_encoding(name: str | None, path: Path) -> str | None:
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"{path}: unknown encoding {name!r} (a Python codec name such as cp1252)") from None


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.csv_contacts when missing; give rows of an older warehouse their fingerprint and key.

    Rows stored before ``row_dated_at`` existed get it NULL (their row date, if any, stays in
    ``extra``; they are dated by their list until a list re-sending them replaces them).
    """
    con.execute(CONTACTS_DDL)
    for column in ("row_fingerprint", "contact_key"):
        con.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {column} VARCHAR")
    add_row_date_column(con)
    con.execute(f"UPDATE {TABLE} SET row_fingerprint = {ROW_FINGERPRINT_SQL} WHERE row_fingerprint IS NULL")
    con.execute(f"UPDATE {TABLE} SET contact_key = {CONTACT_KEY_SQL} WHERE contact_key IS NULL")


def add_row_date_column(con: duckdb.DuckDBPyConnection) -> None:
    """Give a raw.csv_contacts of an earlier version its ``row_dated_at`` column (NULL: dated by the list).

    Also run before a dbt build (cdp.dbt), as stg_csv__contacts selects the column.
    """
    con.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {ROW_DATE_FIELD} TIMESTAMP")


def ingest_csv_lists(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> IngestReport:
    """Load every new or changed list file, then the suppression list (same source, same report)."""
    ensure_table(con)
    paths = landing_files(settings.csv_landing_dir, FILE_PATTERNS)
    report = ingest_files(
        con, settings, run_id, SOURCE, paths, load_file, forget_file, restore=restore_from_other_files
    )
    ingest_suppression(con, settings, run_id, report)
    report_unread_files(report, settings.csv_landing_dir, FILE_PATTERNS, also_read=(settings.suppression_path,))
    if settings.suppression_path.parent != settings.csv_landing_dir:
        report_unread_files(report, settings.suppression_path.parent, (), also_read=(settings.suppression_path,))
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


def load_file(con: duckdb.DuckDBPyConnection, batch: FileBatch, restoring: bool = False) -> LoadCounts:
    """Map, validate and merge one list file (inside the caller's transaction); see ``_merge``.

    ``restoring``: only rows whose key a replaced file's earlier version held and no stored row
    holds now are inserted (``restore_from_other_files``).

    The file is parsed whole into Arrow and typed in SQL; only rows SQL cannot vouch for (a
    problem, or a value outside the plain forms SQL types exactly) go through ``_typed`` in Python,
    which quarantines them or types them the same way as always. A file that is not plain RFC 4180
    CSV is read with the csv module, record by record (``_load_with_csv_module``).
    """
    mapping = _mapping_for(batch)
    content, delimiter, first_line = parsing.csv_text(_decoded(batch, mapping))
    records = csv_records.read_records(content, delimiter, split_unclosed_quote=True, first_line=first_line)
    if records is None:
        return _load_with_csv_module(con, batch, mapping, content, delimiter, first_line, restoring)
    positions = _map_header(records.header, mapping, batch.path.name)
    counts = _load_records(con, batch, mapping, content, records, positions, restoring)
    counts.rows_read += reject_unclosed_quote(batch, records.unclosed, records.header)
    return counts


def _decoded(batch: FileBatch, mapping: ListMapping) -> str:
    try:
        content, _ = parsing.decode_text_file(batch.path, mapping.encoding)
    except parsing.UndecodableText as exc:
        if exc.encoding != mapping.encoding:  # the file's byte-order mark named another encoding
            raise RejectedFile(str(exc), field="encoding") from None
        raise RejectedFile(
            f"{batch.path.name}: line {exc.line}: byte {exc.offset} ({exc.byte!r}) is neither "
            f"UTF-8 nor {mapping.encoding}, the encoding set in mappings/{mapping.list_type}.yml; fix the file "
            "or the mapping's encoding",
            field="encoding",
        ) from None
    return content


def _load_with_csv_module(
    con, batch: FileBatch, mapping: ListMapping, content: str, delimiter: str, first_line: int, restoring: bool
) -> LoadCounts:
    """Record-by-record load with the csv module: for files ``csv_records`` does not take."""
    reader = lines = CheckedCsvReader(batch, content, delimiter, first_line)
    header = next(lines, [])
    positions = _map_header(header, mapping, batch.path.name)
    rows: list[dict] = []
    row_number = 0
    for record in lines:
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not contacts
        row_number += 1
        row, field, reason = _typed(record, header, positions, mapping, batch)
        if reason is None and len(record) > len(header):
            field, reason = None, f"too-many-columns: {len(record)} values for {len(header)} header columns"
        if reason is not None:
            batch.reject(lines.first_line, field, reason, lines.text())
            continue
        row.update(_identity(batch, mapping, row_number, lines.first_line))
        rows.append(row)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_incoming AS {_incoming(_NO_ROWS)} WHERE false")
    try:
        _insert(con, rows)
        loaded, skipped = _merge(con, batch, restoring)
    finally:
        con.execute("DROP TABLE IF EXISTS _csv_incoming")
    read = row_number + reject_unclosed_quote(batch, reader.unclosed, header)
    return LoadCounts(rows_read=read, rows_loaded=loaded, rows_skipped=skipped)


def _identity(batch: FileBatch, mapping: ListMapping, row_number: int, line: int) -> dict:
    return {
        "list_type": mapping.list_type,
        "list_file": batch.path.name,
        "row_number": row_number,
        "contact_id": f"{batch.path.name}:{row_number}",
        "_source_line": line,
    }


def _python_rows_table(rows: list[dict]) -> pa.Table:
    return pa.table({name: [r.get(name) for r in rows] for name in (*COLUMNS, "_source_line")})


def _insert(con, rows: list[dict]) -> None:
    """Add rows typed in Python to ``_csv_incoming``."""
    if rows:
        with registered(con, "_csv_batch", _python_rows_table(rows)):
            con.execute(
                f"INSERT INTO _csv_incoming {_incoming('_csv_batch')}"
            )


def _load_records(
    con, batch: FileBatch, mapping: ListMapping, content: str, records, positions: dict[int, str],
    restoring: bool,
) -> LoadCounts:
    """Type a whole parsed file in SQL; rows flagged ``suspect`` are decided by ``_typed``."""
    header = records.header
    typed = _typed_sql(header, positions, mapping, batch.settings.max_field_chars)
    cells = ", ".join(f"r.c{i}" for i in range(len(header)))
    with registered(con, "_csv_records", records.table):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_typed AS {typed}")
        suspects = con.execute(
            f"""
            SELECT t.row_number, t._source_line, r._start, r._end, {cells}
            FROM _csv_typed t JOIN _csv_records r ON r._first_line = t._source_line
            WHERE t.suspect ORDER BY t._source_line
            """
        ).fetchall()
    try:
        rows: list[dict] = []
        rejected: list[tuple[int, str | None, str, tuple[int, int]]] = []
        for row_number, line, start, end, *record in suspects:
            row, field, reason = _typed(record, header, positions, mapping, batch)
            if reason is not None:
                rejected.append((line, field, reason, (start, end)))
                continue
            row.update(_identity(batch, mapping, row_number, line))
            rows.append(row)
        texts = csv_records.record_texts(content, [span for *_, span in rejected])
        for (line, field, reason, _), text in zip(rejected, texts, strict=True):
            batch.reject(line, field, reason, text)
        fast = (
            f"SELECT {_sql_text(mapping.list_type)} AS list_type, {_sql_text(batch.path.name)} AS list_file, "
            f"row_number, {_sql_text(batch.path.name + ':')} || row_number AS contact_id, "
            f"{', '.join(c for c in COLUMNS if c not in ('list_type', 'list_file', 'row_number', 'contact_id'))}, "
            "_source_line FROM _csv_typed WHERE NOT suspect"
        )
        [(read,)] = con.execute("SELECT count(*) FROM _csv_typed").fetchall()
        con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_incoming AS {_incoming(f'({fast})')}")
        _insert(con, rows)
        loaded, skipped = _merge(con, batch, restoring)
    finally:
        con.execute("DROP TABLE IF EXISTS _csv_typed")
        con.execute("DROP TABLE IF EXISTS _csv_incoming")
    return LoadCounts(rows_read=read, rows_loaded=loaded, rows_skipped=skipped)


_NAME_KEY_SQL = "lower(trim(coalesce(first_name, ''))) || chr(31) || lower(trim(coalesce(last_name, '')))"


def _merge(con, batch: FileBatch, restoring: bool) -> tuple[int, int]:
    """Store the new rows of ``_csv_incoming``; returns (rows stored, rows skipped as repeats).

    A row repeating an earlier line of the file, or content the warehouse holds for the list type,
    is skipped. The others pair up, per contact key, with the stored rows of that key whose content
    the file does not repeat (same first and last name first, case and spaces aside, then in row order): a paired row replaces the stored one under its
    contact_id, an unpaired one is new. When ``restoring``, only rows of keys in ``_csv_forgotten``
    that no stored row holds are stored.
    """
    [(incoming, repeats, has_stored)] = con.execute(
        f"""SELECT count(*), count(*) - count(DISTINCT row_fingerprint),
                   EXISTS (SELECT 1 FROM {TABLE} WHERE list_type IN (SELECT list_type FROM _csv_incoming))
            FROM _csv_incoming"""
    ).fetchall()
    # Fingerprints and contact ids (``<file>:<row>``, the file named ``<list type>__...``) start
    # with the list type: with none of it stored (a first load), no row can match a stored one.
    fresh = "SELECT * FROM _csv_incoming AS incoming"
    if has_stored:
        fresh += f" WHERE NOT EXISTS (SELECT 1 FROM {TABLE} o WHERE o.row_fingerprint = incoming.row_fingerprint)"
    if repeats:
        fresh += " QUALIFY row_number() OVER (PARTITION BY row_fingerprint ORDER BY row_number) = 1"
    if restoring:
        merged = f"""
            SELECT *, NULL::VARCHAR AS kept_contact_id FROM ({fresh}) AS fresh
            WHERE contact_key IN (SELECT contact_key FROM _csv_forgotten)
              AND contact_key NOT IN (SELECT contact_key FROM {TABLE})"""
    elif not has_stored:  # nothing of the list type stored yet (a first load): nothing to replace
        merged = f"SELECT *, NULL::VARCHAR AS kept_contact_id FROM ({fresh}) AS fresh"
    else:
        # Several rows of one key (a family sharing an e-mail address) pair up by name first, so a
        # re-sent row replaces the stored row of the same person, not the first row of the key;
        # the rest (a name changed too) pair up in row order.
        merged = f"""
            WITH candidates AS (
                SELECT *, {_NAME_KEY_SQL} AS name_key FROM ({fresh}) AS fresh
            ),
            replaceable AS (
                SELECT contact_id AS kept_contact_id, contact_key, {_NAME_KEY_SQL} AS name_key,
                       _loaded_at, _source_file, row_number AS stored_row_number
                FROM {TABLE}
                WHERE contact_key IN (SELECT contact_key FROM candidates)
                  AND row_fingerprint NOT IN (SELECT row_fingerprint FROM _csv_incoming)
            ),
            by_name AS (
                SELECT c.row_number, r.kept_contact_id
                FROM (SELECT row_number, contact_key, name_key,
                             row_number() OVER (PARTITION BY contact_key, name_key ORDER BY row_number) AS name_rank
                      FROM candidates) AS c
                JOIN (SELECT kept_contact_id, contact_key, name_key,
                             row_number() OVER (PARTITION BY contact_key, name_key
                                                ORDER BY _loaded_at, _source_file, stored_row_number) AS name_rank
                      FROM replaceable) AS r
                    USING (contact_key, name_key, name_rank)
            ),
            by_order AS (
                SELECT c.row_number, r.kept_contact_id
                FROM (SELECT row_number, contact_key,
                             row_number() OVER (PARTITION BY contact_key ORDER BY row_number) AS key_rank
                      FROM candidates WHERE row_number NOT IN (SELECT row_number FROM by_name)) AS c
                JOIN (SELECT kept_contact_id, contact_key,
                             row_number() OVER (PARTITION BY contact_key
                                                ORDER BY _loaded_at, _source_file, stored_row_number) AS key_rank
                      FROM replaceable WHERE kept_contact_id NOT IN (SELECT kept_contact_id FROM by_name)) AS r
                    USING (contact_key, key_rank)
            )
            SELECT candidates.*, paired.kept_contact_id
            FROM candidates
            LEFT JOIN (SELECT * FROM by_name UNION ALL SELECT * FROM by_order) AS paired USING (row_number)"""
        # Materialised: which rows it replaces must be known before they are deleted.
        con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_merged AS {merged}")
        merged = "SELECT * FROM _csv_merged"
        con.execute(
            f"DELETE FROM {TABLE} WHERE contact_id IN "
            "(SELECT kept_contact_id FROM _csv_merged WHERE kept_contact_id IS NOT NULL)"
        )
    try:
        # A replaced row keeps its contact_id, so a later file's ``<file>:<row>`` may be taken (its
        # own earlier version's row, replaced by another file): the new row's id then names its batch.
        contact_id = f"""coalesce(kept_contact_id, CASE WHEN contact_id IN (SELECT contact_id FROM {TABLE})
            THEN contact_id || '#' || $batch_id ELSE contact_id END)"""
        if not has_stored:
            contact_id = "contact_id"
        values = [contact_id if c == "contact_id" else c for c in COLUMNS if c != ROW_DATE_FIELD]
        [(stored,)] = con.execute(
            f"""INSERT INTO {TABLE} ({", ".join(STORED_COLUMNS)})
                SELECT {", ".join(values)}, $source_file, _source_line, $batch_id, $loaded_at, row_fingerprint,
                       contact_key, {ROW_DATE_FIELD}
                FROM ({merged}) AS merged""",
            {"batch_id": batch.batch_id, "source_file": batch.source_file, "loaded_at": batch.loaded_at},
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _csv_merged")
    return stored, (0 if restoring else incoming - stored)


def forget_file(con: duckdb.DuckDBPyConnection, source_file: str) -> None:
    """Delete the rows an earlier version of a file loaded, noting their contact keys for the restore."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _csv_forgotten AS SELECT DISTINCT contact_key FROM {TABLE} WHERE _source_file = ?",
        [source_file],
    )
    con.execute(f"DELETE FROM {TABLE} WHERE _source_file = ?", [source_file])


def restore_from_other_files(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> str | None:
    """After a changed file was reloaded: reload contacts it dropped that other loaded lists hold.

    A row is stored once; its repeats in other files of the list type were skipped. When the file
    that holds it changes and drops it, the other files (unchanged since loaded, the name sorting
    last first) are read again and only rows of the dropped keys no stored row holds are stored,
    under those files' own paths and batch ids (their quarantine was recorded when they loaded).
    """
    try:
        [(missing,)] = con.execute(
            f"SELECT count(*) FROM _csv_forgotten WHERE contact_key NOT IN (SELECT contact_key FROM {TABLE})"
        ).fetchall()
        if not missing:
            return None
        this_file = manifest.file_key(str(batch.path))
        prefix = this_file.split("__", 1)[0] + "__"
        others = sorted(
            (
                (name, loaded)
                for name, loaded in manifest.PriorLoads(con, SOURCE).latest_loads().items()
                if name != this_file and name.startswith(prefix)
            ),
            reverse=True,
        )
        restored, sources = 0, []
        for name, (sha256, batch_id, recorded) in others:
            path = batch.path.parent / name
            # A file changed on disk since it was loaded is reloaded on its own, not offered here.
            if not path.is_file() or manifest.fingerprint(path)[1] != sha256:
                continue
            offered = FileBatch(
                path, batch_id, batch.run_id, SOURCE, batch.settings, batch.loaded_at, recorded_as=recorded
            )
            try:
                counts = load_file(con, offered, restoring=True)
            except RejectedFile:  # e.g. its mapping changed since: it is not a source to restore from
                continue
            if counts.rows_loaded:
                restored += counts.rows_loaded
                sources.append(name)
    finally:
        con.execute("DROP TABLE IF EXISTS _csv_forgotten")
    if not restored:
        return None
    return f"{restored} contact(s) the earlier version held restored from {', '.join(sources)}"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_DATE_PARTS = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}"}


def _strict_date_pattern(date_format: str) -> str | None:
    """A regex of the zero-padded form of ``date_format`` (only %Y %m %d and plain characters), else None."""
    pattern, rest = "", date_format
    while rest:
        if rest[:2] in _DATE_PARTS:
            pattern, rest = pattern + _DATE_PARTS[rest[:2]], rest[2:]
        elif rest[0] == "%" or rest[0].isspace() or not rest[0].isascii() or rest[0].isalnum():
            return None
        else:
            pattern, rest = pattern + re.escape(rest[0]), rest[1:]
    return pattern or None


def _typed_sql(header: list[str], positions: dict[int, str], mapping: ListMapping, limit: int) -> str:
    """SELECT typing every non-blank record of ``_csv_records``, with ``suspect`` for rows Python must decide.

    A row is not suspect only when SQL's typing is exactly ``_typed``'s: text within the limit,
    yes/no words in ASCII, dates in the first date format written zero-padded, an identifier present,
    and extra values JSON-encoded the way json.dumps would.
    """
    trims = [f"t{i}" for i in range(len(header))]
    suspect: list[str] = []
    values: dict[str, str] = {}
    unmapped = [i for i in range(len(header)) if i not in positions]
    force_python = len({header[i] for i in unmapped}) != len(unmapped) or any(
        not isinstance(v, str) or f not in TEXT_FIELDS for f, v in mapping.defaults.items()
    )
    words = ", ".join(_sql_text(w) for w in sorted(parsing.TRUE_WORDS | parsing.FALSE_WORDS))
    true_words = ", ".join(_sql_text(w) for w in sorted(parsing.TRUE_WORDS))
    date_pattern = _strict_date_pattern(mapping.date_formats[0]) if mapping.date_formats else None
    for i, t in enumerate(trims):
        field = positions.get(i)
        if field in BOOLEAN_FIELDS:
            values[field] = f"CASE WHEN {t} = '' THEN NULL ELSE lower({t}) IN ({true_words}) END"
            suspect.append(f"({t} <> '' AND NOT (strlen({t}) = length({t}) AND lower({t}) IN ({words})))")
        elif field == "birth_date":
            if date_pattern is None:
                values[field] = "NULL::DATE"
                suspect.append(f"{t} <> ''")
            else:
                parsed = f"try_strptime({t}, {_sql_text(mapping.date_formats[0])})"
                values[field] = f"CASE WHEN {t} = '' THEN NULL ELSE {parsed}::DATE END"
                suspect.append(
                    f"({t} <> '' AND NOT (regexp_full_match({t}, {_sql_text(date_pattern)}) "
                    f"AND {parsed} IS NOT NULL AND year({parsed}) >= 1))"
                )
        elif field == ROW_DATE_FIELD:
            value, exact = _row_date_sql(t, mapping.date_formats[0] if mapping.date_formats else None)
            values[field] = value
            suspect.append(f"({t} <> '' AND NOT ({exact}))")
        else:
            suspect.append(f"strlen({t}) > {int(limit)}")
            if field is not None:
                values[field] = f"NULLIF({t}, '')"
    for field, default in mapping.defaults.items():
        if field in TEXT_FIELDS:
            values[field] = f"COALESCE({values.get(field, 'NULL')}, {_sql_text(default)})"
    ids = []
    for field in mapping.required_any:
        value = values.get(field)
        if value is None:
            continue
        if field in BOOLEAN_FIELDS:
            ids.append(f"({value}) IS TRUE")
        elif field in ("birth_date", ROW_DATE_FIELD):
            ids.append(f"({value}) IS NOT NULL")
        else:
            ids.append(f"COALESCE({value}, '') <> ''")
    suspect.append(f"NOT ({' OR '.join(ids)})" if ids else "TRUE")
    pairs = []
    for i in unmapped:
        key = _sql_text(json.dumps(header[i], ensure_ascii=False) + ': "')
        escaped = f"replace(replace({trims[i]}, '\\', '\\\\'), '\"', '\\\"')"
        pairs.append(f"CASE WHEN {trims[i]} <> '' THEN {key} || {escaped} || '\"' END")
        suspect.append(f"regexp_matches({trims[i]}, '[\\x00-\\x1f]')")
    extra = f"NULLIF('{{' || concat_ws(', ', {', '.join(pairs)}) || '}}', '{{}}')" if pairs else "NULL"
    columns = [f"{values.get(c, 'NULL')} AS {c}" for c in CANONICAL_FIELDS]
    blank = " AND ".join(f"{t} = ''" for t in trims)
    flag = "TRUE" if force_python else " OR ".join(f"COALESCE({s}, TRUE)" for s in suspect)
    return f"""
        SELECT row_number() OVER (ORDER BY _line) AS row_number, _first_line AS _source_line,
               {", ".join(columns)}, {extra} AS extra, {flag} AS suspect
        FROM (SELECT _line, _first_line, {", ".join(f"{csv_records.sql_strip(f'c{i}')} AS t{i}" for i in range(len(header)))} FROM _csv_records)
        WHERE NOT ({blank})
    """


_ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?Z?)?"
_TIME_PART = r"( \d{2}:\d{2}(:\d{2})?)?"


def _row_date_sql(t: str, date_format: str | None) -> tuple[str, str]:
    """(SQL typing the trimmed ``t`` as ``parsing.dated_timestamp`` does, SQL true when that typing is exact).

    Exact: an ISO-8601 timestamp without zone offset (or with Z), or a date in the first date
    format written zero-padded with an optional HH:MM[:SS], in 1900..2100. Anything else is left
    to Python. The date format is used only when it has a separator: '%d%m%Y' digits could also
    read as an ISO basic date, which Python tries first.
    """
    formats = ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
    iso = f"try_strptime(replace(rtrim({t}, 'Z'), 'T', ' '), [{', '.join(map(_sql_text, formats))}])"
    cases = [(f"regexp_full_match({t}, {_sql_text(_ISO_TIMESTAMP)})", iso)]
    date_pattern = _strict_date_pattern(date_format) if date_format else None
    if date_pattern is not None and re.sub(r"\\d\{\d\}", "", date_pattern):
        with_times = [date_format, f"{date_format} %H:%M", f"{date_format} %H:%M:%S"]
        cases.append((
            f"regexp_full_match({t}, {_sql_text(date_pattern + _TIME_PART)})",
            f"try_strptime({t}, [{', '.join(map(_sql_text, with_times))}])",
        ))
    parsed = "CASE " + " ".join(f"WHEN {match} THEN {value}" for match, value in cases) + " END"
    value = f"CASE WHEN {t} = '' THEN NULL ELSE ({parsed})::TIMESTAMP END"
    exact = f"({parsed}) IS NOT NULL AND year({parsed}) BETWEEN 1900 AND 2100"
    return value, exact


def _duck_type(column: str) -> str:
    if column in BOOLEAN_FIELDS:
        return "BOOLEAN"
    if column == "birth_date":
        return "DATE"
    if column == ROW_DATE_FIELD:
        return "TIMESTAMP"
    if column == "row_number":
        return "BIGINT"
    if column == "extra":
        return "JSON"
    return "VARCHAR"


_INCOMING_COLUMNS = ", ".join(
    [f"CAST({c} AS {_duck_type(c)}) AS {c}" for c in COLUMNS] + ["CAST(_source_line AS BIGINT) AS _source_line"]
)
_NO_ROWS = f"(SELECT {', '.join(f'NULL AS {c}' for c in COLUMNS)}, NULL AS _source_line)"


def _incoming(relation: str) -> str:
    """SELECT of ``relation``'s rows typed as stored, with their fingerprint and contact key."""
    typed = f"SELECT {_INCOMING_COLUMNS} FROM {relation}"
    return f"SELECT *, {CONTACT_KEY_SQL} AS contact_key FROM (SELECT *, {ROW_FINGERPRINT_SQL} AS row_fingerprint FROM ({typed}))"


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
            elif field == ROW_DATE_FIELD:
                row[field] = parsing.dated_timestamp(value, column, list(mapping.date_formats))
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
