"""Standalone dedupe: resolve the person records in one CSV or Parquet file, no warehouse needed.

The file holds the canonical person-record columns (docs/contracts.md §3); unknown columns are
ignored with a warning naming them and missing optional ones treated as empty. Without ``source_system`` every row is
``file``; without ``source_record_id`` the 1-based row number is the id.

CSV text is decoded as the ingestion CSV reader decodes it (byte-order mark, UTF-8, else charset
detection, e.g. cp1252) and its delimiter sniffed among ``,`` ``;`` and tab. A row this tool cannot
take (a value that does not parse, more values than header columns, a ``|`` in source_system) is
not resolved: it is written with its row, line, field and reason to ``<output>.rejects.csv``.

No trained model in ``settings.model_dir``: one is trained on the file for this run only, in a
temporary folder, so the nightly run's model (and its latest pointer) is never touched.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from identity.evaluate import check_truth, evaluate_mappings, read_truth
from identity.pipeline import link_and_cluster
from identity.probabilistic import latest_model_path, work_connection
from identity.schema import (
    PERSON_RECORD_COLUMNS,
    CannotTrainModel,
    IdentityError,
    fetch_one,
    record_key_sql,
    sql_literal,
)
from identity.stable_ids import assign_customer_ids
from identity.standardise import standardise
from ingestion import csv_records, parsing

log = logging.getLogger(__name__)

_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
OUTPUT_SUFFIXES = (".csv", ".parquet")
REJECT_COLUMNS = ("file", "row", "line", "field", "value", "reason")
#: Dates read without ``--date-format`` besides ISO (YYYY-MM-DD, which DuckDB casts) and the
#: numeric day/month orders decided per file (see :func:`_numeric_date_order`).
_UNAMBIGUOUS_DATE_FORMATS = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y",
                             "%d-%b-%Y")
#: D/M/YYYY or M/D/YYYY with '/', '.' or '-': which part is the day is decided for the whole file.
_NUMERIC_DATE = r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"
_DATE_FORMS = "YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD, 15 Jan 1960, or DD/MM/YYYY / MM/DD/YYYY (one order per file)"


def rejects_path(output: Path) -> Path:
    """Where the rows ``cdp resolve`` could not take are written: ``<output stem>.rejects.csv`` beside it."""
    return Path(output).with_name(f"{Path(output).stem}.rejects.csv")


def load_records(
    con: duckdb.DuckDBPyConnection, path: Path, date_format: str | None = None, rejects: list[dict] | None = None,
    run_date: date | None = None,
) -> int:
    """Load ``path`` into table person_records in the canonical schema; returns the row count.

    ``date_format``: a strptime pattern (``%m/%d/%Y``) for dates not in ISO form; with a two-digit
    year (``%y``) a date that would fall after ``run_date`` is read a century earlier (``60`` is
    1960, not 2060). ``run_date``: a birth date after it is a bad value (rejected). ``rejects``:
    gets one dict (:data:`REJECT_COLUMNS`) per rejected row; without it a rejected row is an error.
    """
    path = Path(path)
    if not path.exists():
        raise IdentityError(f"{path}: file not found")
    problems: list[dict] = []
    # Queried in place (a view over the Arrow table), not copied into DuckDB first.
    con.register("input_rows", _read_input(path, problems))
    try:
        return _load_input_rows(con, path, problems, date_format, rejects, run_date)
    finally:
        con.unregister("input_rows")


def _load_input_rows(
    con: duckdb.DuckDBPyConnection, path: Path, problems: list[dict], date_format: str | None,
    rejects: list[dict] | None, run_date: date | None = None,
) -> int:
    kinds = {name: kind for name, kind, *_rest in con.execute("DESCRIBE input_rows").fetchall()}
    present = set(kinds) - {"_row", "_line"}
    if not present - _NOT_IDENTIFYING:  # _canonical_columns refuses such a header; this is a table's guard
        raise IdentityError(
            f"{path}: none of the person-record columns that identify a person is present. "
            f"Columns read (any case): {', '.join(PERSON_RECORD_COLUMNS)}"
        )
    select, checks = [], []
    for name, kind in PERSON_RECORD_COLUMNS.items():
        if name in present:
            expression, check = _typed_sql(con, path, name, kind, kinds[name], date_format, run_date)
            if check:
                checks.append(check)
            if name == "date_of_birth" and run_date is not None:
                checks.append(_future_date_check(name, expression, run_date))
        elif name == "source_system":
            expression = "'file'"
        elif name == "source_record_id":
            expression = "CAST(_row AS VARCHAR)"
        else:
            expression = f"NULL::{kind}"
        select.append(f"{expression} AS {name}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE typed_rows AS SELECT _row, _line, {', '.join(select)} FROM input_rows")
    if "source_system" in present:
        checks.append(
            """SELECT _row, _line, 'source_system' AS field, source_system AS value,
                      'source_system holds ''|'', which separates it from source_record_id in record keys '
                      || '(''cr|m'',''1'' and ''cr'',''m|1'' would be one record); rename the source' AS reason
               FROM typed_rows WHERE strpos(source_system, '|') > 0"""
        )
    for check in checks:
        problems.extend(
            {"file": str(path), "row": row, "line": line, "field": field, "value": value, "reason": reason}
            for row, line, field, value, reason in con.execute(check).fetchall()
        )
    problems.sort(key=lambda problem: problem["row"])
    if problems and rejects is None:
        first = problems[0]
        raise IdentityError(f"{path}: {_where(first)}: {first['reason']}")
    if rejects is not None:
        rejects.extend(problems)
    if problems:
        con.execute(
            "DELETE FROM typed_rows WHERE _row IN (SELECT unnest(?::BIGINT[]))",
            [sorted({problem["row"] for problem in problems})],
        )
    # Rows no record key can name: an empty id, or an id that several rows claim (which row would
    # the output's customer id be of?). Rejected when rejects are kept, else the file is refused.
    unnamed = con.execute(
        """SELECT _row, _line,
                  CASE WHEN source_system IS NULL THEN 'source_system' ELSE 'source_record_id' END,
                  CASE WHEN source_system IS NULL OR source_record_id IS NULL THEN NULL ELSE source_record_id END,
                  CASE WHEN source_system IS NULL OR source_record_id IS NULL
                       THEN 'empty ' || CASE WHEN source_system IS NULL THEN 'source_system' ELSE 'source_record_id' END
                            || ': a record needs an id; fill it in'
                       ELSE 'record id ' || source_record_id || ' of source ' || source_system || ' appears on '
                            || count(*) OVER (PARTITION BY source_system, source_record_id)
                            || ' rows (lines or rows ' || string_agg(coalesce(_line, _row)::VARCHAR, ', ')
                               OVER (PARTITION BY source_system, source_record_id ORDER BY _row
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                            || '); none of them is resolved: give each record its own id' END
           FROM typed_rows
           QUALIFY source_system IS NULL OR source_record_id IS NULL
                OR count(*) OVER (PARTITION BY source_system, source_record_id) > 1
           ORDER BY _row"""
    ).fetchall()
    if unnamed and rejects is None:
        row, line, _, _, reason = unnamed[0]
        raise IdentityError(f"{path}: {_where({'row': row, 'line': line})}: {reason}")
    if unnamed:
        rejects.extend(
            {"file": str(path), "row": row, "line": line, "field": field, "value": value, "reason": reason}
            for row, line, field, value, reason in unnamed
        )
        rejects.sort(key=lambda problem: problem["row"])
        con.execute(
            "DELETE FROM typed_rows WHERE _row IN (SELECT unnest(?::BIGINT[]))", [[row for row, *_ in unnamed]]
        )
    con.execute(f"CREATE OR REPLACE TABLE person_records AS SELECT {', '.join(PERSON_RECORD_COLUMNS)} FROM typed_rows")
    con.execute("DROP TABLE IF EXISTS typed_rows")
    return fetch_one(con, "SELECT count(*) FROM person_records")[0]


def _where(problem: dict) -> str:
    return f"line {problem['line']}" if problem.get("line") is not None else f"row {problem['row']}"


def _read_input(path: Path, problems: list[dict]) -> pa.Table:
    """The person-record columns of ``path`` (canonical lower-case names), ``_row`` (1-based data
    row) and ``_line`` (CSV line the row ends on; NULL for Parquet). Rows with more values than the
    header go to ``problems``."""
    suffixes = [suffix.lower() for suffix in path.suffixes[-2:]]
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    if path.suffix.lower() in _CSV_SUFFIXES or suffixes[-2:] == [".csv", ".gz"]:
        return _read_csv(path, problems)
    raise IdentityError(f"{path}: expected a .csv or .parquet file of person records")


#: Columns that say nothing about who a record is: a file with none but these cannot be resolved.
_NOT_IDENTIFYING = frozenset({"source_system", "source_record_id", "record_updated_at"})


def _canonical_columns(names: list[str], path: Path) -> dict[str, int]:
    """Position of each person-record column among ``names`` (matched case-insensitively, trimmed).

    Other columns are left out with a warning naming them and the names read (an ``e-mail`` or
    ``Phone Number`` column was ignored without a word, and the file matched worse); a header
    with no identifying column at all is an error.
    """
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for position, name in enumerate(names):
        canonical = str(name).strip().lower()
        if canonical not in PERSON_RECORD_COLUMNS:
            ignored.append(repr(str(name)) if str(name).strip() else f"(unnamed column {position + 1})")
            continue
        if canonical in positions:
            raise IdentityError(f"{path}: column {canonical!r} appears twice in the header; keep one")
        positions[canonical] = position
    recognised = ", ".join(PERSON_RECORD_COLUMNS)
    if names and not set(positions) - _NOT_IDENTIFYING:
        found = f"; its columns {', '.join(ignored)} are not among them" if ignored else ""
        raise IdentityError(
            f"{path}: none of the person-record columns that identify a person is present{found}. "
            f"Columns read (any case): {recognised}; rename the file's columns to these"
        )
    if ignored:
        log.warning(
            "%s: column(s) %s ignored: not person-record columns (read, in any case: %s); rename a column "
            "to one of these if it holds that field, or matching will not use it",
            path, ", ".join(ignored), recognised,
        )
    return positions


def _read_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise IdentityError(f"{path}: not a readable Parquet file ({error}); re-export it") from None
    positions = _canonical_columns(table.column_names, path)
    columns = {}
    for name, position in positions.items():
        column = table.column(position)
        if pa.types.is_nested(column.type):
            raise IdentityError(
                f"{path}: column {table.column_names[position]!r} holds {column.type} values; "
                "person-record fields must be single values (text, number or date)"
            )
        columns[name] = column
    columns["_row"] = pa.array(range(1, table.num_rows + 1), pa.int64())
    columns["_line"] = pa.nulls(table.num_rows, pa.int64())
    return pa.table(columns)


def _decoded_csv(path: Path) -> str:
    """The text of CSV ``path`` (gzipped when it ends in .gz), decoded as the ingestion CSV reader does."""
    try:
        if path.suffix.lower() != ".gz":
            return parsing.decode_text_file(path)[0]
        with tempfile.TemporaryDirectory(prefix="cdp-resolve-") as folder:
            plain = Path(folder) / path.stem  # error messages name the file as the user knows it
            try:
                plain.write_bytes(gzip.decompress(path.read_bytes()))
            except (OSError, EOFError, gzip.BadGzipFile) as error:
                raise IdentityError(f"{path}: does not decompress as gzip ({error})") from None
            return parsing.decode_text_file(plain)[0]
    except parsing.UndecodableText as error:
        detail = str(error).split(": ", 1)[-1]
        raise IdentityError(f"{path}: {detail}") from None


def _read_csv(path: Path, problems: list[dict]) -> pa.Table:
    named, content = parsing.separator_line(_decoded_csv(path))
    hint = named is not None  # the header is on line 2
    delimiter = named or parsing.sniff_delimiter(content[:65536])
    earlier_problems = len(problems)
    records = csv_records.read_records(content, delimiter)
    if records is not None:
        header = records.header
        cells = {name: records.table.column(f"c{position}") for name, position in
                 _canonical_columns(header, path).items()}
        lines = records.table.column("_line")
        rows = records.table.num_rows
    else:
        header, cells, lines, rows = _read_csv_records(path, content, delimiter, problems)
    if not header:
        raise IdentityError(f"{path}: the file is empty; expected a header row naming person-record columns")
    columns = dict(cells)
    columns["_row"] = pa.array(range(1, rows + 1), pa.int64())
    columns["_line"] = pc.add(lines, 1) if hint else lines
    if hint:
        for problem in problems[earlier_problems:]:
            problem["line"] += 1
    return pa.table(columns)


def _read_csv_records(path: Path, content: str, delimiter: str, problems: list[dict]):
    """Header, person-record columns, lines and row count of a CSV the fast reader does not take
    (ragged rows, odd quoting), read with the csv module; a row with more values than the
    header goes to ``problems`` (fewer: the missing ones are empty)."""
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        positions = _canonical_columns(header, path)
        values: dict[str, list[str]] = {name: [] for name in positions}
        lines: list[int] = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # a blank line is not a person
            lines.append(reader.line_num)
            if len(record) > len(header):
                problems.append({
                    "file": str(path), "row": len(lines), "line": reader.line_num, "field": None,
                    "value": delimiter.join(record),
                    "reason": f"{len(record)} values for {len(header)} header columns; quote values holding "
                              f"{delimiter!r} or remove the extra ones",
                })
            for name, position in positions.items():
                values[name].append(record[position] if position < len(record) else "")
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            # Not lifted: a quote opened and never closed makes the rest of the file one value,
            # and a lifted limit would let those rows vanish into it without a word.
            raise IdentityError(
                f"{path}: line {reader.line_num}: not readable as CSV: a value longer than "
                f"{csv.field_size_limit():,} characters, or a quote opened on or before this line and "
                "never closed"
            ) from None
        raise IdentityError(f"{path}: line {reader.line_num}: not readable as CSV ({error})") from None
    cells = {name: pa.array(column, pa.string()) for name, column in values.items()}
    return header, cells, pa.array(lines, pa.int64()), len(lines)


def _future_date_check(name: str, expression: str, run_date: date) -> str:
    """SQL of the rows whose ``name`` (typed by ``expression``) is after the run date: nobody is born
    in the future, so the value is wrong (a typo, or a two-digit year read in the wrong century)."""
    reason = (f"'{name}=' || CAST(parsed AS VARCHAR) || {sql_literal(' is after the run date ' + run_date.isoformat())}"
              " || ': a date of birth cannot be in the future; fix the value'")
    return f"""SELECT _row, _line, '{name}', CAST("{name}" AS VARCHAR), {reason}
        FROM (SELECT _row, _line, "{name}", {expression} AS parsed FROM input_rows)
        WHERE parsed > DATE '{run_date.isoformat()}'"""


def _typed_sql(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, kind: str, source_kind: str, date_format: str | None,
    run_date: date | None = None,
) -> tuple[str, str | None]:
    """(SQL of column ``name`` typed ``kind``, SQL of its rejects or None) over input_rows."""
    column = f'"{name}"'
    if kind == "VARCHAR":
        return f"NULLIF(CAST({_integral_as_integer_sql(column, source_kind)} AS VARCHAR), '')", None
    if source_kind.startswith(("DATE", "TIMESTAMP")):
        return f"CAST({column} AS {kind})", None
    text = f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"
    if kind == "DATE":
        parsed = _date_sql(con, path, name, text, date_format, run_date)
        expected = f"not a date in any form read ({_DATE_FORMS}"
        expected += f", or {date_format!r})" if date_format else "); pass --date-format, e.g. %m/%d/%Y"
    else:
        parsed = f"try_cast({text} AS {kind})"
        expected = "not an ISO-8601 timestamp like 2026-11-23T10:00:00"
    reason = f"'{name}=' || {text} || {sql_literal(': ' + expected)}"
    check = f"""SELECT _row, _line, '{name}', CAST({column} AS VARCHAR), {reason}
        FROM (SELECT _row, _line, {column}, {parsed} AS parsed FROM input_rows)
        WHERE {text} IS NOT NULL AND parsed IS NULL"""
    return parsed, check


def _integral_as_integer_sql(column: str, source_kind: str) -> str:
    """SQL of ``column`` with a whole number held as a float or decimal read as that integer.

    pandas writes a number column with missing values as float64, so a phone 2125550123 is
    2125550123.0 in the Parquet file: cast to text, the dot and zero made 11 digits and the phone
    was dropped; a card number or record id became another id. Other values stay as they are.
    """
    if not source_kind.startswith(("FLOAT", "DOUBLE", "DECIMAL")):
        return column
    return (f"CASE WHEN isfinite({column}) AND {column} = round({column}) AND abs({column}) < 1e18 "
            f"THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) ELSE CAST({column} AS VARCHAR) END")


def _date_sql(con: duckdb.DuckDBPyConnection, path: Path, name: str, text: str, date_format: str | None,
              run_date: date | None = None) -> str:
    """SQL parsing date text: ISO, then ``date_format`` or the unambiguous forms and the file's day order.

    A ``date_format`` with a two-digit year (``%y``): strptime reads 00-68 as 2000-2068, so a date
    after ``run_date`` (a birth date cannot be) is taken from the century before: 60 is 1960.
    """
    if date_format:
        try:
            con.execute("SELECT try_strptime('2000-01-01', ?)", [date_format]).fetchall()
        except duckdb.Error as error:
            raise IdentityError(f"--date-format {date_format!r}: {error}") from None
        parsed = f"CAST(try_strptime({text}, {sql_literal(date_format)}) AS DATE)"
        if "%y" in date_format.replace("%%", "") and run_date is not None:
            run = f"DATE '{run_date.isoformat()}'"
            parsed = f"CASE WHEN {parsed} > {run} THEN CAST({parsed} - INTERVAL 100 YEAR AS DATE) ELSE {parsed} END"
        return f"coalesce({_iso_date_sql(text)}, {parsed})"
    formats = "[" + ", ".join(sql_literal(f) for f in _UNAMBIGUOUS_DATE_FORMATS) + "]"
    day, month = (1, 2) if _numeric_date_order(con, path, name, text) == "dmy" else (2, 1)

    def part(group: int) -> str:
        return f"try_cast(regexp_extract({text}, '{_NUMERIC_DATE}', {group}) AS INTEGER)"

    numeric = f"try_cast(printf('%04d-%02d-%02d', {part(3)}, {part(month)}, {part(day)}) AS DATE)"
    return f"coalesce({_iso_date_sql(text)}, CAST(try_strptime({text}, {formats}) AS DATE), {numeric})"


def _iso_date_sql(text: str) -> str:
    """SQL of an ISO date (YYYY-MM-DD). Only text starting with a four-digit year is cast: DuckDB's cast
    also takes ``03/02/05`` (as the year 3), which is a two-digit-year date for ``--date-format``."""
    return f"CASE WHEN regexp_matches({text}, '^[0-9]{{4}}-') THEN try_cast({text} AS DATE) END"


def _numeric_date_order(con: duckdb.DuckDBPyConnection, path: Path, name: str, text: str) -> str:
    """'dmy' or 'mdy': which of the two leading numbers of ``name``'s D/M/YYYY values is the day.

    A value with a first number over 12 says day-first, one with a second number over 12
    month-first; a file with both, or with only values either order reads differently (03/02/1990),
    is refused: only ``--date-format`` can say which it is."""
    rows = con.execute(
        f"""WITH parts AS (
            SELECT _row, _line, {text} AS value, regexp_extract({text}, '{_NUMERIC_DATE}', 1) AS first,
                   regexp_extract({text}, '{_NUMERIC_DATE}', 2) AS second
            FROM input_rows WHERE regexp_matches({text}, '{_NUMERIC_DATE}')
        )
        SELECT arg_min(value, _row) FILTER (WHERE first::INTEGER > 12 AND second::INTEGER <= 12),
               arg_min(coalesce(_line, _row), _row) FILTER (WHERE first::INTEGER > 12 AND second::INTEGER <= 12),
               arg_min(value, _row) FILTER (WHERE second::INTEGER > 12 AND first::INTEGER <= 12),
               arg_min(coalesce(_line, _row), _row) FILTER (WHERE second::INTEGER > 12 AND first::INTEGER <= 12),
               arg_min(value, _row) FILTER (WHERE first <> second AND first::INTEGER <= 12
                                                  AND second::INTEGER <= 12),
               arg_min(coalesce(_line, _row), _row) FILTER (WHERE first <> second AND first::INTEGER <= 12
                                                                AND second::INTEGER <= 12),
               bool_or(_line IS NOT NULL)
        FROM parts"""
    ).fetchall()[0]
    day_first, day_first_at, month_first, month_first_at, either, either_at, is_csv = rows
    where = "line" if is_csv else "row"
    if day_first is not None and month_first is not None:
        raise IdentityError(
            f"{path}: {name} mixes day-first ({where} {day_first_at}: {day_first!r}) and month-first "
            f"({where} {month_first_at}: {month_first!r}) dates; fix the file, or pass --date-format to read one "
            "form and reject the rest"
        )
    if day_first is not None:
        return "dmy"
    if month_first is not None:
        return "mdy"
    if either is not None:
        raise IdentityError(
            f"{path}: {name} {either!r} ({where} {either_at}) reads as a different date day-first and "
            "month-first, and no value in the file tells which; pass --date-format %d/%m/%Y or %m/%d/%Y"
        )
    return "mdy"  # every D/M value reads the same either way (01/01/1980), if there is any


def resolve_file(
    input: Path, output: Path, settings: Any, truth: Path | None = None, date_format: str | None = None
) -> dict:
    """Dedupe the records in ``input``; write source_system, source_record_id, customer_id to ``output``.

    Rows that cannot be read go to :func:`rejects_path` (``rejected_rows`` in the result counts them).
    ``date_format``: a strptime pattern for birth dates not in ISO form (see :func:`load_records`).
    """
    input, output = Path(input), Path(output)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise IdentityError(f"{output}: expected an output path ending in .csv or .parquet")
    _refuse_overwriting_inputs(input, output, truth)
    if truth is not None and not Path(truth).exists():
        raise IdentityError(f"{truth}: truth file not found")
    if truth is not None:
        check_truth(Path(truth))
    try:  # before the work: a folder that cannot be made fails now, not after the matching
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise IdentityError(f"{output}: cannot create its folder ({error.strerror or error})") from None
    rejects: list[dict] = []
    con = work_connection(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="cdp-resolve-model-") as scratch:
            records = load_records(con, input, date_format=date_format, rejects=rejects,
                                   run_date=getattr(settings, "run_date", None))
            standardise(con, settings, source="person_records", target="person_records_standardised")
            model_path = latest_model_path(settings)
            trained_here = False
            if model_path is None:
                from identity.train import train_in_connection

                # For this run only: a model learnt from one marketing list must not become the
                # nightly run's model (save_model would move the latest pointer of model_dir).
                try:
                    model_path = train_in_connection(
                        con, "person_records_standardised", settings, model_dir=Path(scratch)
                    )
                    trained_here = True
                except CannotTrainModel as error:
                    log.warning("probabilistic matching skipped, linking by exact identifiers only: %s", error)
            # No web events: a row with a user and an anonymous id is the identify call.
            summary = link_and_cluster(con, settings, "person_records_standardised", model_path, web_events=None,
                                       link_shared_anonymous_ids=True)
        assign_customer_ids(con, "person_records_standardised", previous_map=None, history=None)
        rows = con.execute(
            f"""SELECT p.source_system, p.source_record_id, a.customer_id
                FROM person_records AS p JOIN customer_assignments AS a
                  ON a.record_key = {record_key_sql("p")}
                ORDER BY p.source_system, p.source_record_id"""
        ).fetchall()
    finally:
        con.close()
    _write_output(output, rows)
    rejected_rows = len({problem["row"] for problem in rejects})
    _write_rejects(rejects_path(output), rejects)
    if rejects:
        first = rejects[0]
        log.warning(
            "%s: %d row(s) could not be read and were not resolved; they are listed in %s (first: %s: %s)",
            input, rejected_rows, rejects_path(output), _where(first), first["reason"],
        )
    predicted = {(system, record): customer for system, record, customer in rows}
    sizes: dict[str, int] = {}
    for customer in predicted.values():
        sizes[customer] = sizes.get(customer, 0) + 1
    result: dict[str, Any] = {
        "input": str(input),
        "output": str(output),
        "model": None if trained_here or model_path is None else str(model_path),
        "model_trained_on_input": trained_here,
        "person_records": records,
        "rejected_rows": rejected_rows,
        "rejects": str(rejects_path(output)) if rejects else None,
        "customers": len(sizes),
        "largest_cluster": max(sizes.values(), default=0),
        **summary,
    }
    if truth is not None:
        result["metrics"] = evaluate_mappings(predicted, read_truth(Path(truth)))
    return result


def _is_same_file(first: Path, second: Path) -> bool:
    """``first`` and ``second`` name one file: however spelled (``./x.csv``, ``x.csv``), through a
    symbolic or hard link, or a path that does not exist yet but will be that file."""
    try:
        if first.exists() and second.exists():
            return first.samefile(second)
        return first.resolve() == second.resolve()
    except OSError:
        return False


def _refuse_overwriting_inputs(input: Path, output: Path, truth: Path | None) -> None:
    """Raise before any work when the output or its rejects file would be the input or the truth file.

    The output was written over the input (and a run with no rejects deletes ``<output stem>.rejects.csv``):
    the records were lost with no copy.
    """
    read = [("input", input)] + ([("truth", Path(truth))] if truth is not None else [])
    for written_as, written in (("output", output), ("rejects file", rejects_path(output))):
        for read_as, path in read:
            if _is_same_file(written, path):
                raise IdentityError(
                    f"{output}: the {written_as} {written} is the {read_as} file {path}; writing it would "
                    "overwrite the records being read. Choose another --output path"
                )


def _write_rejects(path: Path, rejects: list[dict]) -> None:
    """Write the rejected rows to ``path``; with none, remove an earlier run's file there."""
    if not rejects:
        path.unlink(missing_ok=True)
        return
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=REJECT_COLUMNS)
            writer.writeheader()
            writer.writerows(rejects)
    except OSError as error:
        raise IdentityError(f"{path}: cannot write the rejected rows ({error.strerror})") from None


def _write_output(output: Path, rows: list[tuple[str, str, str]]) -> None:
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".parquet":
            columns = list(zip(*rows, strict=True)) if rows else [[], [], []]
            table = pa.table({name: pa.array(list(values), pa.string()) for name, values in
                              zip(("source_system", "source_record_id", "customer_id"), columns, strict=True)})
            pq.write_table(table, output)
            return
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source_system", "source_record_id", "customer_id"])
            writer.writerows(rows)
    except OSError as error:
        raise IdentityError(f"{output}: cannot write the output ({error.strerror or error})") from None
