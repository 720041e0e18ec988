"""Call-center exports (CSV and JSON arrays) into raw.call_center_calls, one row per call_id.

A later export may repeat a call with a newer ``updated_at``: the latest ``updated_at`` wins,
within a file, across files and across runs (equal ``updated_at``: the later record in a file
(line, then element of a JSON array), then the later export wins, whatever order the files were loaded in: the file whose name without
its extension sorts later, so ``calls-2026-11-01-v2.csv`` after ``calls-2026-11-01.csv``, then
the one whose whole name does, so ``.json`` after ``.csv``; see ``_export_order``). A
changed file is re-read and upserted the same way; rows it no longer contains are kept, since
a call may also have come from another export. Exports are loaded in groups sharing one
transaction (``ingest_file_groups``), each file keeping its own batch id and manifest row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from contextlib import nullcontext

import duckdb
import numpy as np
import pyarrow as pa

from cdp.settings import Settings
from ingestion import csv_records, parsing
from ingestion.file_batches import (
    CheckedCsvReader,
    FileBatch,
    LoadCounts,
    RejectedFile,
    ingest_file_groups,
    landing_files,
    registered,
    reject_unclosed_quote,
    report_unread_files,
)
from ingestion.report import IngestReport

SOURCE = "call_center"
TABLE = "raw.call_center_calls"
FILE_PATTERNS = ("*.csv", "*.json")
# One commit per this many bytes of exports instead of one per file (a commit costs ~0.1 s).
GROUP_BYTES = 256 << 20
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
    # Exports share a transaction per GROUP_BYTES (each keeps its batch id and manifest row): files
    # are upserted in name order inside it, so the latest version wins exactly as file by file.
    report = ingest_file_groups(
        con, settings, run_id, SOURCE, files, load_files, lambda con, source_file: None, GROUP_BYTES
    )
    report_unread_files(report, settings.call_center_landing_dir, FILE_PATTERNS)
    return report


def load_files(con: duckdb.DuckDBPyConnection, batches: list[FileBatch]) -> list[LoadCounts]:
    """Upsert a group of exports in order (inside the group's transaction)."""
    return [load_file(con, batch) for batch in batches]


def _records(batch: FileBatch) -> list[tuple[int, int | None, dict, str]]:
    """(line the record starts on, its index in a JSON export's array (None in a CSV export),
    record, raw text) for every record of a CSV or JSON export."""
    if batch.path.suffix.lower() == ".json":
        return [
            (line, element, item, json.dumps(item, default=str))
            for element, (line, item) in enumerate(_json_items(batch))
        ]
    return _csv_records_of(batch, *parsing.csv_text(_decoded(batch)))


def _decoded(batch: FileBatch) -> str:
    """A CSV export's text (encoding from its byte-order mark, else UTF-8, else detected)."""
    try:
        return parsing.decode_text_file(batch.path)[0]
    except parsing.UndecodableText as exc:
        raise RejectedFile(str(exc), field="encoding") from None


def _json_items(batch: FileBatch) -> list[tuple[int, object]]:
    """(line the element starts on, element) for every element of a JSON export's array."""
    data = batch.path.read_bytes()
    # JSON is UTF-8 (RFC 8259), but exports saved as "Unicode" carry a UTF-16/32 byte-order mark,
    # which names their encoding as it does for CSV exports.
    encoding, length = parsing.bom_encoding(data) or ("utf-8", 0)
    try:
        text = data[length:].decode(encoding)
    except UnicodeDecodeError as exc:
        raise RejectedFile(
            f"{batch.path.name} is not valid {encoding.removesuffix('-sig').upper()}: byte "
            f"0x{data[length + exc.start]:02x} at offset {length + exc.start} cannot be decoded "
            "(JSON exports must be UTF-8, or UTF-16/UTF-32 starting with a byte-order mark)"
        ) from exc
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RejectedFile(f"{batch.path.name} is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise RejectedFile(
            f"{batch.path.name} must hold a JSON array of call objects, found {type(items).__name__}"
        )
    return list(zip(_element_lines(text), items, strict=True))


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _element_lines(text: str) -> list[int]:
    """The line (1-based, counting ``\\n``) each element of the JSON array ``text`` starts on;
    ``text`` is known to be valid JSON (``json.loads`` read it)."""
    decoder = json.JSONDecoder()
    pos = _JSON_SPACE.match(text, _JSON_SPACE.match(text).end() + 1).end()  # past the "["
    lines: list[int] = []
    line, counted = 1, 0
    while text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = _JSON_SPACE.match(text, pos).end()
        if text[pos] == ",":
            pos = _JSON_SPACE.match(text, pos + 1).end()
    return lines


_QUOTE, _BACKSLASH, _NEWLINE = ord('"'), ord("\\"), ord("\n")
_STRUCTURAL = np.zeros(256, bool)
_STRUCTURAL[list(b"[]{},")] = True
_OPENING = np.zeros(256, bool)
_OPENING[list(b"[{")] = True


def _array_element_lines(body: bytes) -> np.ndarray | None:
    """``_element_lines`` of a UTF-8 JSON array, found with numpy (no Python loop per element);
    None when the text is not shaped like one (the caller then lets the json module decide)."""
    b = np.frombuffer(body, np.uint8)
    quotes = np.flatnonzero(b == _QUOTE)
    escaped = quotes[(quotes > 0) & (b[np.maximum(quotes - 1, 0)] == _BACKSLASH)]
    if len(escaped):
        # A quote after an odd number of backslashes is inside a string (JSON has no backslash
        # outside strings); such quotes are few, they are checked one by one.
        inside = []
        for q in escaped.tolist():
            run = 0
            while body[q - 1 - run] == _BACKSLASH:
                run += 1
            if run % 2:
                inside.append(q)
        quotes = np.setdiff1d(quotes, np.array(inside, dtype=quotes.dtype), assume_unique=True)
    if len(quotes) % 2:
        return None
    structural = np.flatnonzero(_STRUCTURAL[b])
    structural = structural[np.searchsorted(quotes, structural) % 2 == 0]  # not inside a string
    if not len(structural) or b[structural[0]] != ord("["):
        return None
    kinds = b[structural]
    depth = np.cumsum(
        (kinds == ord("[")).astype(np.int64) + (kinds == ord("{")) - (kinds == ord("]")) - (kinds == ord("}"))
    )
    # Where each element's text may start: after the opening "[" and after every "," of the array.
    after = structural[((kinds == ord(",")) & (depth == 1)) | (np.arange(len(kinds)) == 0)]
    following = np.searchsorted(structural, after, side="right")
    starts = after + 1
    # An object or array element starts at its bracket; any other is found after the blanks.
    nested = following < len(structural)
    nested[nested] = _OPENING[b[structural[following[nested]]]]
    starts[nested] = structural[following[nested]]
    for i in np.flatnonzero(~nested).tolist():
        start = int(starts[i])
        while start < len(b) and b[start] in b" \t\r\n":
            start += 1
        starts[i] = start
    if starts.max(initial=0) >= len(b):
        return None
    if len(starts) == 1 and b[starts[0]] == ord("]"):
        return np.empty(0, np.int64)  # an empty array
    return np.searchsorted(np.flatnonzero(b == _NEWLINE), starts) + 1


def _check_header(batch: FileBatch, header: list[str]) -> None:
    if "call_id" not in header or "updated_at" not in header:
        raise RejectedFile(
            f"{batch.path.name}: header must contain call_id and updated_at; found columns: {', '.join(header)}",
            field="header",
            raw_text=",".join(header),
        )


def _csv_records_of(
    batch: FileBatch, content: str, delimiter: str, first_line: int
) -> list[tuple[int, None, dict, str]]:
    """(line the record starts on, None, record, the record's text as written) for every CSV record."""
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    checked = lines = reader.reader = CheckedCsvReader(batch, content, delimiter, first_line)
    header = [h.strip() for h in reader.fieldnames or []]
    _check_header(batch, header)
    reader.fieldnames = header
    records = []
    for row in reader:
        beyond = row.pop(None, None) or []  # values past the header's last column
        raw = lines.text()
        filled = [i for i, value in enumerate(beyond) if value.strip()]
        if filled:
            # Those values have no column to go to: quarantine the row rather than drop them.
            batch.reject(
                lines.first_line,
                f"column {len(header) + filled[0] + 1}",
                f"too-many-columns: {len(header) + len(beyond)} values for {len(header)} header columns",
                raw,
            )
            continue
        records.append((lines.first_line, None, row, raw))
    reject_unclosed_quote(batch, checked.unclosed, header)
    return records


def _typed(record, batch: FileBatch) -> tuple[dict, str | None, str | None]:
    """(typed row, problem field, problem reason) for one record."""
    if not isinstance(record, dict):
        return {}, None, "not-an-object: each call must be an object"
    problem = _unicode_problem(record)
    if problem is not None:
        return {}, *problem
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
    extra = {k: v for k, v in record.items() if k not in COLUMNS and v not in (None, "")}
    row["extra"] = json.dumps(extra, default=str) if extra else None
    return row, None, None


def _unicode_problem(record: dict) -> tuple[str, str] | None:
    """(field, reason) when a record holds text the warehouse must not take: a lone surrogate
    escape (``"\\ud800"``: json.loads takes it, UTF-8 and DuckDB cannot hold it) anywhere, or a
    NUL in a call field; worded as web quarantines them."""
    for key, value in record.items():
        name = key.encode("utf-8", "backslashreplace").decode()
        if parsing.holds_lone_surrogate([key, value]):
            return name, f"invalid-unicode: {name} holds a lone surrogate escape (not a Unicode character)"
        if key in TEXT_FIELDS and isinstance(value, str) and "\x00" in value:
            return name, f"nul-in-string: {name} holds a NUL character"
    return None


def load_file(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> LoadCounts:
    """Validate one export and upsert its calls (latest updated_at wins).

    The export is read whole by DuckDB (JSON) or Arrow (CSV, ``csv_records``) and typed in SQL;
    only the rows SQL cannot vouch for go through ``_typed`` in Python, which quarantines them or
    types them as always. An export either reader does not take is read record by record.
    """
    staged = _stage_json(con, batch) if batch.path.suffix.lower() == ".json" else _stage_csv(con, batch)
    if staged is None:
        rows, lines, elements = _python_rows(batch, _records(batch))
        fast_rows = 0
    else:
        try:
            rows, lines, elements = _python_rows(batch, staged)
            fast_rows = con.execute("SELECT count(*) FROM _calls_typed WHERE NOT suspect").fetchall()[0][0]
        except BaseException:
            con.execute("DROP TABLE IF EXISTS _calls_typed")
            raise
    valid = len(rows) + fast_rows
    if not valid:
        con.execute("DROP TABLE IF EXISTS _calls_typed")
        return LoadCounts(rows_read=len(batch.quarantine), rows_loaded=0)
    names = [*COLUMNS, "extra"]
    parts = []
    if fast_rows:
        parts.append(f"SELECT {', '.join(names)}, _source_line, _element FROM _calls_typed WHERE NOT suspect")
    if rows:
        parts.append("SELECT * FROM _calls_batch")
    table = (
        pa.table(
            {
                **{n: [r.get(n) for r in rows] for n in names},
                "_source_line": lines,
                "_element": pa.array(elements, pa.int64()),
            }
        )
        if rows
        else None
    )
    with registered(con, "_calls_batch", table) if rows else nullcontext():
        # Latest version per call inside this file first (the later record wins a tie: later line,
        # then later element, as a compact JSON array holds many on one line) ...
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _calls_latest AS
            SELECT * FROM ({" UNION ALL BY NAME ".join(parts)})
            QUALIFY row_number() OVER (PARTITION BY call_id ORDER BY updated_at DESC, _source_line DESC, _element DESC) = 1
            """
        )
    con.execute("DROP TABLE IF EXISTS _calls_typed")
    # ... then only those newer than what the warehouse holds; on a tie, the later export (or this
    # file again) wins, so re-exporting an earlier file does not override a later one.
    wins = (
        "(n.updated_at > o.updated_at OR (n.updated_at = o.updated_at AND "
        f"{_export_order('?')} >= {_export_order('o._source_file')}))"
    )
    newer = con.execute(
        f"""
        SELECT count(*) FROM _calls_latest n LEFT JOIN {TABLE} o USING (call_id)
        WHERE o.call_id IS NULL OR {wins}
        """,
        [batch.source_file] * 2,  # the two ? of `wins`
    ).fetchall()[0][0]
    con.execute(
        f"""
        DELETE FROM {TABLE} WHERE call_id IN (
            SELECT n.call_id FROM _calls_latest n JOIN {TABLE} o USING (call_id) WHERE {wins}
        )
        """,
        [batch.source_file] * 2,  # the two ? of `wins`
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
    return LoadCounts(rows_read=valid + len(batch.quarantine), rows_loaded=newer, rows_skipped=valid - newer)


def _export_order(path: str) -> str:
    """SQL for the order in which exports were made, from a file path: its name without the
    extension, then its whole name.

    Compared character by character, a re-export named after the original with a suffix
    (``calls-2026-11-01-v2.csv``, ``calls-2026-11-01 (1).csv``) comes after it; whole names would
    put it first, as ``-`` and `` `` sort before ``.``.
    """
    return f"[parse_filename({path}, true), parse_filename({path})]"


def _python_rows(batch: FileBatch, records) -> tuple[list[dict], list[int], list[int | None]]:
    """Type records in Python: quarantine the bad ones, return the good rows, their lines and
    their elements (index in a JSON export's array)."""
    rows, lines, elements = [], [], []
    for line, element, record, raw in records:
        row, field, reason = _typed(record, batch)
        if reason is not None:
            batch.reject(line, _field_name(element, field), reason, raw)
            continue
        rows.append(row)
        lines.append(line)
        elements.append(element)
    return rows, lines, elements


def _field_name(element: int | None, field: str | None) -> str | None:
    """Where in a record the problem is: ``[3].csat`` for the fourth element of a JSON export
    (as web names ``batch[3].userId``), since a compact array holds many elements on one line."""
    if element is None:
        return field
    return f"[{element}]" + (f".{field}" if field else "")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# The one timestamp form SQL types itself (what the exports write); any other goes to parsing.timestamp.
_ISO_Z = _sql_text(
    r"(19\d\d|20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ"
)
_SCORES = {"csat": "[1-5]", "nps": "[0-9]|10"}


def _typed_columns(
    kind: dict[str, str | None], text: dict[str, str], limit: int
) -> tuple[list[str], list[str]]:
    """(typed column expressions, suspect conditions) for the call fields.

    ``text[field]`` is the field's trimmed text; ``kind[field]`` an SQL condition true when the
    value is a plain string or null (None: always).
    """
    columns, suspect = [], []
    for field in COLUMNS:
        value = text.get(field)
        if value is None:
            columns.append(f"NULL AS {field}")
            continue
        if kind.get(field):
            suspect.append(f"NOT ({kind[field]})")
        if field in TIME_FIELDS:
            parsed = f"try_strptime({value}, '%Y-%m-%dT%H:%M:%SZ')"
            columns.append(f"CASE WHEN {value} <> '' THEN {parsed} END AS {field}")
            suspect.append(
                f"({value} <> '' AND NOT (regexp_full_match({value}, {_ISO_Z}) AND {parsed} IS NOT NULL))"
            )
        elif field in _SCORES:
            columns.append(f"CASE WHEN {value} <> '' THEN TRY_CAST({value} AS BIGINT) END AS {field}")
            suspect.append(f"({value} <> '' AND NOT regexp_full_match({value}, '{_SCORES[field]}'))")
        else:
            columns.append(f"NULLIF({value}, '') AS {field}")
            suspect.append(f"strlen({value}) > {int(limit)}")
    dispositions = ", ".join(_sql_text(d) for d in DISPOSITIONS)
    suspect.append(f"COALESCE({text['call_id']}, '') = ''")
    suspect.append(f"COALESCE({text['updated_at']}, '') = ''")
    if text.get("disposition"):
        suspect.append(f"({text['disposition']} <> '' AND {text['disposition']} NOT IN ({dispositions}))")
    return columns, suspect


def _stage_csv(con, batch: FileBatch):
    """``_calls_typed`` from a CSV export; returns the suspect records, or None for the record-by-record path."""
    content, delimiter, first_line = parsing.csv_text(_decoded(batch))
    records = csv_records.read_records(content, delimiter, split_unclosed_quote=True, first_line=first_line)
    if records is None:
        return None
    header = [h.strip() for h in records.header]
    _check_header(batch, header)
    if len(set(header)) != len(header):
        return None  # DictReader keeps the last of repeated columns: leave that to it
    reject_unclosed_quote(batch, records.unclosed, header)
    limit = batch.settings.max_field_chars
    trims = [
        f"{csv_records.sql_strip(f'c{i}')} AS t_{name}" for i, name in enumerate(header) if name in COLUMNS
    ]
    columns, suspect = _typed_columns({}, {name: f"t_{name}" for name in header if name in COLUMNS}, limit)
    pairs = []
    for i, name in enumerate(header):
        if name not in COLUMNS:
            key = _sql_text(json.dumps(name) + ': "')
            escaped = f"replace(replace(c{i}, '\\', '\\\\'), '\"', '\\\"')"
            pairs.append(f"CASE WHEN c{i} <> '' THEN {key} || {escaped} || '\"' END")
            suspect.append(f"NOT regexp_full_match(c{i}, '[\\x20-\\x7e]*')")
    extra = (
        f"NULLIF('{{' || concat_ws(', ', {', '.join(pairs)}) || '}}', '{{}}')" if pairs else "NULL::VARCHAR"
    )
    cells = ", ".join(f"c{i}" for i in range(len(header)))
    flag = " OR ".join(f"COALESCE({s}, TRUE)" for s in suspect)
    with registered(con, "_calls_records", records.table):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _calls_typed AS
            SELECT {", ".join(columns)}, {extra} AS extra, _first_line AS _source_line,
                   NULL::BIGINT AS _element, {flag} AS suspect,
                   _start, _end, {cells}
            FROM (SELECT *, {", ".join(trims)} FROM _calls_records)
            """
        )
    suspects = con.execute(
        f"SELECT _source_line, _start, _end, {cells} FROM _calls_typed WHERE suspect ORDER BY 1"
    ).fetchall()
    texts = csv_records.record_texts(content, [(start, end) for _, start, end, *_ in suspects])
    return [
        (line, None, dict(zip(header, cells, strict=True)), text)
        for (line, _, _, *cells), text in zip(suspects, texts, strict=True)
    ]


_TRAILING_COMMA = re.compile(rb",[ \t\r\n]*[}\]]")


def _stage_json(con, batch: FileBatch):
    """``_calls_typed`` from a JSON export; returns the suspect records, or None for the json-module path.

    DuckDB's ``read_json_objects`` hands over each array element's own text, so a suspect element
    is exactly what json.loads would have produced. Files DuckDB's parser rejects, or might accept
    where json.loads would not (a comma before ``}`` or ``]``), go to the json module, which
    decides (and words the rejection) as before.
    """
    data = batch.path.read_bytes()
    body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    stripped = body.strip(b" \t\r\n")
    if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _TRAILING_COMMA.search(body):
        # DuckDB accepts a comma before } or ], which json.loads (and RFC 8259) refuse: the json
        # module decides such a file, as a whole (a string holding ", }" also goes there).
        return None
    paths = ", ".join(_sql_text(f"$.{field}") for field in COLUMNS)
    # v[n] is the field's JSON text: a string (decoded here; json_extract_string only when it holds
    # escapes), null, missing (SQL NULL), or another JSON value (kept as text: scores must then
    # match their digit pattern, text fields go to Python).
    values = ", ".join(
        f"""CASE WHEN v[{n}] IS NULL OR v[{n}] = 'null' THEN ''
                 WHEN v[{n}][1] <> '"' THEN v[{n}]
                 WHEN contains(v[{n}], '\\') THEN v[{n}]->>'$' ELSE v[{n}][2:-2] END AS s_{field},
            v[{n}] IS NULL OR v[{n}] = 'null' OR v[{n}][1] = '"' AS k_{field}"""
        for n, field in enumerate(COLUMNS, 1)
    )
    strips = ", ".join(f"{csv_records.sql_strip(f's_{field}')} AS t_{field}" for field in COLUMNS)
    text = {field: f"t_{field}" for field in COLUMNS}
    plain = {field: f"k_{field}" for field in COLUMNS if field not in _SCORES}
    columns, suspect = _typed_columns(plain, text, batch.settings.max_field_chars)
    keys = "[" + ", ".join(_sql_text(c) for c in COLUMNS) + "]"
    suspect[:0] = [
        "NOT starts_with(j, '{')",  # not an object
        "len(k) <> len(list_distinct(k))",  # json.loads keeps the last of repeated keys
        f"NOT list_has_all({keys}, k)",  # extra fields: json.dumps of any JSON value, left to Python
        "contains(j, '\\u0000')",  # a NUL, which Python quarantines in a call field
    ]
    flag = " OR ".join(f"COALESCE({s}, TRUE)" for s in suspect)
    # A parse error would abort the batch's transaction: DuckDB first parses the file on a cursor
    # of its own, where failing costs nothing.
    probe = con.cursor()
    try:
        [(count,)] = probe.execute(
            "SELECT count(*) FROM read_json_objects(?, format = 'array')", [str(batch.path)]
        ).fetchall()
    except duckdb.Error:
        return None
    finally:
        probe.close()
    lines = _array_element_lines(body)
    if lines is None or len(lines) != count:
        return None  # not the array DuckDB read: the json module decides
    positions = pa.table({"_position": np.arange(1, count + 1, dtype=np.int64), "_line": lines})
    with registered(con, "_calls_lines", positions):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _calls_typed AS
            SELECT {", ".join(columns)}, NULL::VARCHAR AS extra, _source_line, _element, {flag} AS suspect, j
            FROM (SELECT *, {strips} FROM (
                SELECT j, k, _line AS _source_line, _position - 1 AS _element, {values} FROM (
                    SELECT json AS j, ordinality AS _position, json_keys(json) AS k,
                           json_extract(json, [{paths}])::VARCHAR[] AS v
                    FROM read_json_objects(?, format = 'array') WITH ORDINALITY
                ) JOIN _calls_lines USING (_position)
            ))
            """,
            [str(batch.path)],
        )
    suspects = con.execute(
        "SELECT _source_line, _element, j FROM _calls_typed WHERE suspect ORDER BY _element"
    ).fetchall()
    items = [(line, element, json.loads(text)) for line, element, text in suspects]
    return [(line, element, item, json.dumps(item, default=str)) for line, element, item in items]
