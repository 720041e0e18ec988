"""Store point-of-sale database (SQLite or PostgreSQL) into raw.store_* tables, incrementally.

Rows are read through a Python DB driver into Arrow, never through a DuckDB scanner extension:
ADBC's SQLite driver (which hands query results over as Arrow, in C) or psycopg 3. Each table is read from ``watermark - overlap`` (late commits whose
``updated_at`` is a little older than the last watermark are still caught) and upserted by
primary key; re-read rows identical to what the warehouse holds are counted as skipped, so a
rerun loads 0 rows. One table range = one batch = one transaction with its manifest row.

A row whose ``updated_at`` is later than ``FUTURE_TOLERANCE`` after both the time it was read and
the end of the run date (a typo such as 2206; see ``future_horizon``) is quarantined and left out
of the watermark, which never passes the read time: one such row would otherwise move the
watermark centuries ahead and stop the table's incremental reads for good. The row stays above
the watermark, so it is read again every run (and quarantined once): it loads once it is
corrected or the clock passes it. A date or time outside the years 1 to 9999 (PostgreSQL's
``infinity`` and ``-infinity``, a BC date) is quarantined as ``timestamp-out-of-range`` naming
table, key and field, and never becomes the watermark.

The source's columns are read first (schema drift): an expected column the POS table lacks is
loaded as NULL, a column the warehouse does not know is kept in the row's ``extra`` JSON (as the
call-center loader keeps unknown fields), and a table without its key or ``updated_at`` fails
alone, with a ``failed`` manifest row and a quarantine record naming table and column.

``raw.store_customers.marketing_opt_in_changed_at`` is derived here, not read: the time the
customer's ``is_marketing_opt_in`` took its current value, i.e. the ``updated_at`` (else
``created_at``) of the first row loaded with that value. An upsert that leaves the flag as stored
(a new phone or address) keeps the stored time, one that changes it (or a customer seen for the
first time) takes the row's own. The table keeps only the current row, so this is the only record
of when the flag last changed; dbt dates the store's consent statement by it (a profile edit must
not re-state an old opt-in as new). Rows loaded before the column existed get their own
``updated_at`` (else ``created_at``) when it is added: the best date known for them.

Amounts (``orders.total_amount``, ``order_lines.unit_price``) keep the POS's precision as
``AMOUNT`` (DECIMAL(18,4)): four decimal places hold every currency's minor unit (three for KWD,
BHD, OMR, JOD) and prices quoted finer than it (fuel per litre), fourteen digits before the point
any order. They are never rounded: a value with more decimal places or digits, or an order line
whose ``quantity * unit_price`` would not fit, is quarantined (``unrepresentable-amount``, naming
the field and what does not fit). A binary floating-point amount (SQLite REAL, PostgreSQL
real/double precision) is read at the 15 significant digits a double holds (DBL_DIG; SQLite's
``printf('%!.15g')``, PostgreSQL's cast to numeric): 0.1 + 0.2 stored as REAL is 0.3, not a
quarantined 0.30000000000000004. A raw table an earlier version created with DECIMAL(12,2)
amounts is widened by the next ingestion of that table, which then reads the whole POS table
once, so the amounts that version rounded are loaded again as the POS holds them.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cdp.clock import audit_now
from cdp.settings import Settings
from ingestion import manifest
from ingestion.quarantine import QuarantineRecord, clip, write_quarantine
from ingestion.report import BatchOutcome, IngestReport
from ingestion.views import registered

SOURCE = "store"
FETCH_ROWS = 50_000
# How far ahead of the warehouse's clock (or of the end of the run date) a POS updated_at may be
# (clock skew) and still load.
FUTURE_TOLERANCE = timedelta(hours=1)
# The type of every POS amount (see the module docstring); dbt's staging keeps it.
AMOUNT = "DECIMAL(18,4)"


@dataclass(frozen=True)
class StoreTable:
    """One POS table: its key and the DuckDB type of every column."""

    name: str
    key: str
    columns: dict[str, str]
    # columns ingestion derives (name -> (type, SQL over the new row `changed` and the stored row
    # `stored` it replaces, NULL columns when there is none)), after the lineage columns
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)
    # amount column -> SQL over the typed row: why the row's amounts cannot be stored as they are
    # (text naming what does not fit), else NULL; checked after the column's own value
    amount_limits: dict[str, str] = field(default_factory=dict)

    @property
    def raw_table(self) -> str:
        return f"raw.store_{self.name}"

    @property
    def required(self) -> tuple[str, str]:
        """Columns without which the table cannot be read incrementally and upserted."""
        return (self.key, "updated_at")


@dataclass(frozen=True)
class SourceColumns:
    """How one POS table's actual columns map onto ``StoreTable.columns``."""

    # expected column -> how the source query names it (None: the source lacks it)
    refs: dict[str, str | None]
    # fetched alias -> the unknown source column it reads (kept in ``extra``)
    extras: dict[str, str] = field(default_factory=dict)
    # expected column -> the driver's type code of the source column
    types: dict[str, object] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [n for n, ref in self.refs.items() if ref is None]


TABLES = (
    StoreTable("customers", "customer_id", {
        "customer_id": "BIGINT", "loyalty_card_number": "VARCHAR", "first_name": "VARCHAR",
        "last_name": "VARCHAR", "email": "VARCHAR", "phone": "VARCHAR", "birth_date": "DATE",
        "street": "VARCHAR", "city": "VARCHAR", "postcode": "VARCHAR", "state": "VARCHAR",
        "country": "VARCHAR", "is_marketing_opt_in": "BOOLEAN", "created_at": "TIMESTAMP",
        "updated_at": "TIMESTAMP",
    }, derived={
        "marketing_opt_in_changed_at": ("TIMESTAMP", """
            CASE WHEN stored.customer_id IS NOT NULL
                      AND stored.is_marketing_opt_in IS NOT DISTINCT FROM changed.is_marketing_opt_in
                 THEN coalesce(stored.marketing_opt_in_changed_at, stored.updated_at, stored.created_at)
                 ELSE coalesce(changed.updated_at, changed.created_at) END"""),
    }),
    StoreTable("stores", "store_id", {
        "store_id": "BIGINT", "store_name": "VARCHAR", "city": "VARCHAR", "state": "VARCHAR",
        "opened_at": "TIMESTAMP", "updated_at": "TIMESTAMP",
    }),
    StoreTable("orders", "order_id", {
        "order_id": "BIGINT", "customer_id": "BIGINT", "store_id": "BIGINT", "ordered_at": "TIMESTAMP",
        "status": "VARCHAR", "total_amount": AMOUNT, "currency": "VARCHAR", "updated_at": "TIMESTAMP",
    }),
    StoreTable("order_lines", "order_line_id", {
        "order_line_id": "BIGINT", "order_id": "BIGINT", "product_sku": "VARCHAR", "product_name": "VARCHAR",
        "category": "VARCHAR", "quantity": "INTEGER", "unit_price": AMOUNT, "updated_at": "TIMESTAMP",
    }, amount_limits={
        # dbt's line_amount is quantity * unit_price as an AMOUNT: a larger one would stop the build
        "unit_price": """
            CASE WHEN abs(CAST(quantity AS DECIMAL(38,4)) * unit_price) >= 100000000000000
                 THEN 'times quantity ' || quantity || ' it makes a line amount of more than 14 digits '
                      || 'before the decimal point' END""",
    }),
)  # fmt: skip


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw.store_* tables when missing (and add ``extra`` and the derived columns to
    ones created before them)."""
    for table in TABLES:
        columns = ",\n".join(f"{name} {kind}" for name, kind in table.columns.items())
        derived = "".join(f", {name} {kind}" for name, (kind, _) in table.derived.items())
        con.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {table.raw_table} (
                {columns},
                _source_file VARCHAR NOT NULL, _source_line BIGINT, _batch_id VARCHAR NOT NULL,
                _loaded_at TIMESTAMP NOT NULL,
                extra JSON{derived}
            )
            """
        )
        if "extra" not in _columns(con, table):
            con.execute(f"ALTER TABLE {table.raw_table} ADD COLUMN extra JSON")
    add_derived_columns(con)


def add_derived_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the columns ingestion derives to raw.store_* tables an earlier version created (dbt reads
    them; ``cdp.dbt.build`` calls this too, for a build before the night's store ingestion)."""
    for table in TABLES:
        missing = [(name, kind) for name, (kind, _) in table.derived.items() if name not in _columns(con, table)]
        for name, kind in missing:
            # Rows loaded before: dated by the row itself (what dbt read before the column).
            with manifest.transaction(con):
                con.execute(f"ALTER TABLE {table.raw_table} ADD COLUMN {name} {kind}")
                con.execute(f"UPDATE {table.raw_table} SET {name} = coalesce(updated_at, created_at)")


def _narrower_amounts(con: duckdb.DuckDBPyConnection, table: StoreTable) -> dict[str, str]:
    """Amount columns of ``table``'s raw table whose stored DECIMAL holds fewer digits before or
    after the point than ``table.columns`` declares (name -> stored type): an earlier version's
    DECIMAL(12,2), which rounded. A wider stored column is left as it is."""
    stored = {
        name: (kind, precision, scale)
        for name, kind, precision, scale in con.execute(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'raw' AND table_name = ? "
            "AND data_type LIKE 'DECIMAL%'",
            [f"store_{table.name}"],
        ).fetchall()
    }
    narrower = {}
    for name, kind in table.columns.items():
        if _is_decimal(kind) and name in stored:
            stored_kind, precision, scale = stored[name]
            whole, places = _decimal_limits(kind)
            if (precision - scale, scale) != (whole, places) and precision - scale <= whole and scale <= places:
                narrower[name] = stored_kind
    return narrower


def _columns(con: duckdb.DuckDBPyConnection, table: StoreTable) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'raw' AND table_name = ?",
            [f"store_{table.name}"],
        ).fetchall()
    }


def ingest_store(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> IngestReport:
    """Read every POS table above its watermark and upsert it into the warehouse."""
    manifest.ensure_meta_tables(con)
    ensure_tables(con)
    report = IngestReport(source=SOURCE)
    with closing(_open(settings.store_db_uri)) as source_db:
        for table in TABLES:
            report.add(_ingest_table(con, source_db, settings, run_id, table))
    return report


def _open(uri: str):
    """A DB-API connection for a sqlite:/// or postgresql:// URI."""
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"store database {path} not found (set CDP_STORE_DB_URI to the POS database)"
            )
        import adbc_driver_sqlite.dbapi

        # Read-only: ingestion must never write to a source system. As a URI, the path is
        # percent-encoded: raw, a '#', '?' or '%' in it ended or changed the file name (and SQLite
        # opened, or created, another file).
        return adbc_driver_sqlite.dbapi.connect(f"{Path(path).resolve().as_uri()}?mode=ro")
    if uri.startswith(("postgresql://", "postgres://")):
        import psycopg
        from psycopg.types.string import TextLoader

        connection = psycopg.connect(uri)
        # Dates and timestamps arrive as PostgreSQL's text and are typed with the other columns,
        # where a bad value quarantines its row: psycopg's own loaders raise on the values Python
        # has no date for ('infinity', '0044-03-15 BC', year 10000+) and the whole fetch failed.
        for type_name in ("date", "timestamp", "timestamptz"):
            connection.adapters.register_loader(type_name, TextLoader)
        # Pin every session setting the reading depends on, whatever the server, database, role,
        # PG* environment or the URI's options set:
        # - the time zone: the watermark is naive UTC and timestamptz columns are cast to
        #   timestamp in the session time zone;
        # - extra_float_digits: real amounts are read through their text, which is the shortest
        #   exact form only at 1 or more (at 0, 12345.67 is written as 12345.7);
        # - DateStyle and IntervalStyle: psycopg parses dates, timestamps and intervals (a column
        #   kept in `extra` too) only in the ISO and postgres styles and raises on others.
        for setting in (
            "SET TIME ZONE 'UTC'",
            "SET extra_float_digits = 3",
            "SET DateStyle = 'ISO, YMD'",
            "SET IntervalStyle = 'postgres'",
        ):
            connection.execute(setting)
        connection.commit()
        return connection
    raise ValueError(f"CDP_STORE_DB_URI={safe_uri(uri)!r}: expected sqlite:///path or postgresql://...")


def safe_uri(uri: str) -> str:
    """The URI with any password masked, for lineage and messages."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _watermark(con: duckdb.DuckDBPyConnection, table: StoreTable, latest: datetime) -> datetime | None:
    """The table's watermark; ones later than ``latest`` (written from a future updated_at before
    such rows were quarantined) are ignored, so the rows they hid are read again."""
    return con.execute(
        "SELECT max(watermark_to) FROM meta.ingest_manifest WHERE source = ? AND source_object = ? "
        "AND status <> 'failed' AND watermark_to <= ?",
        [SOURCE, table.name, latest],
    ).fetchall()[0][0]


def _is_sqlite(source_db) -> bool:
    """Whether ``source_db`` is the ADBC (SQLite) connection ``_open`` makes, not psycopg's."""
    from adbc_driver_manager.dbapi import Connection

    return isinstance(source_db, Connection)


# PostgreSQL type OIDs of text, varchar, bpchar and name: an updated_at kept as text.
_PG_TEXT_TYPES = frozenset({25, 1043, 1042, 19})
# PostgreSQL type OIDs of real and double precision: an amount kept in binary floating point.
_PG_FLOAT_TYPES = frozenset({700, 701})


def _is_float_amount(table: StoreTable, name: str, shape: SourceColumns) -> bool:
    """Whether the PostgreSQL column read as amount ``name`` is a float: it is read cast to numeric,
    which keeps the digits the float holds (15 significant ones for double precision; a real through
    its shortest exact text, see ``_float_as_numeric``),
    not its binary noise (psycopg reads 0.1 + 0.2 in double precision as 0.30000000000000004)."""
    return _is_decimal(table.columns[name]) and shape.types.get(name) in _PG_FLOAT_TYPES


_PG_REAL = 700


def _float_as_numeric(ref: str, type_oid: object) -> str:
    """PostgreSQL SQL reading a float column as numeric with the digits the float holds. A real
    (float4) goes through its text, which PostgreSQL 12+ writes as the shortest exact form
    (12345.67): its direct cast to numeric keeps only 6 significant digits (12345.7)."""
    return f"CAST(CAST({ref} AS text) AS numeric)" if type_oid == _PG_REAL else f"CAST({ref} AS numeric)"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_columns(source_db, table: StoreTable) -> SourceColumns:
    """The POS table's columns (from an empty result), matched to the expected ones by name, any case."""
    cursor = source_db.cursor()
    try:
        cursor.execute(f"SELECT * FROM {table.name} LIMIT 0")
        found = [(column[0], column[1]) for column in cursor.description]
    finally:
        cursor.close()
    by_name = {name.lower(): (name, kind) for name, kind in reversed(found)}  # the first of a case clash
    refs: dict[str, str | None] = {}
    types: dict[str, object] = {}
    for name in table.columns:
        actual, kind = by_name.get(name, (None, None))
        # Unquoted names keep the query text (and the lineage it is recorded in) as it always was.
        refs[name] = None if actual is None else name if actual == name else _quoted(actual)
        types[name] = kind
    expected = {by_name[name][0] for name in table.columns if name in by_name}
    unknown = [name for name, _ in found if name not in expected]
    extras = {f"_extra_{i}": name for i, name in enumerate(unknown)}
    return SourceColumns(refs, extras, types)


def _query(source_db, table: StoreTable, since: datetime | None, shape: SourceColumns) -> tuple[str, list]:
    if _is_sqlite(source_db):
        return _sqlite_query(table, since, shape)
    selected = [
        f"NULL AS {n}" if ref is None
        else f"{_float_as_numeric(ref, shape.types.get(n))} AS {n}" if _is_float_amount(table, n, shape)
        else n if ref == n else f"{ref} AS {n}"
        for n, ref in shape.refs.items()
    ]  # fmt: skip
    selected += [f"{_quoted(name)} AS {alias}" for alias, name in shape.extras.items()]
    columns = ", ".join(selected)
    key, updated_at = (shape.refs[n] for n in table.required)
    if since is None:
        return f"SELECT {columns} FROM {table.name} ORDER BY {key}", []
    if shape.types["updated_at"] in _PG_TEXT_TYPES:
        # CAST(text AS timestamp) raises on one unparseable value ('n/a') and would fail every
        # later run; compare the text as on SQLite instead, byte by byte whatever the database's
        # collation. Text that is not a date (a letter sorts after any digit) is re-read each run
        # and quarantined once (see _already_quarantined).
        text = f'{updated_at} COLLATE "C"'
        return (
            f"SELECT {columns} FROM {table.name} WHERE {_since_text_sql(text, '%s')} ORDER BY {key}",
            _since_text_params(since),
        )
    return (
        f"SELECT {columns} FROM {table.name} WHERE CAST({updated_at} AS timestamp) >= CAST(%s AS timestamp) "
        f"OR {updated_at} IS NULL ORDER BY {key}",
        [since.isoformat(sep=" ")],
    )


# The widest UTC offset (UTC+14): text stamped with an offset may read up to 14 hours earlier than
# the UTC time it stands for, so such text is re-read from that much before the watermark.
_MAX_UTC_OFFSET = timedelta(hours=14)
_OFFSET_SUFFIXES = ("%+__:__", "%-__:__", "%+____", "%-____", "%+__", "%-__")  # also PostgreSQL's "-11"
# Text with a time zone name: a word after the time ('... 10:00:00 EST'), or a name with a region.
_ZONE_NAME_SUFFIXES = ("%:__% _%", "%/%")


def _since_text_sql(column: str, mark: str) -> str:
    """The incremental filter on an ``updated_at`` stored as text (SQLite, or a PostgreSQL text column).

    The text compares like time ('YYYY-MM-DD HH:MM:SS'; a 'T' separator sorts after the space, so
    such rows are re-read rather than missed). Text that ends in a UTC offset ('...T22:00:00-05:00')
    or a time zone name ('... 22:00:00 America/New_York') is read from 14 hours earlier, as its
    local clock may show an earlier day than the UTC watermark.
    A row without ``updated_at`` cannot be placed against the watermark: it is read every run
    (and skipped when unchanged), never left behind. Every branch is a range on the column, so an
    index on ``updated_at`` still serves the read.
    """
    wildcard = "%%" if mark == "%s" else "%"  # psycopg reads a lone % as a parameter mark
    offsets = " OR ".join(
        f"{column} LIKE '{suffix.replace('%', wildcard)}'" for suffix in _OFFSET_SUFFIXES + _ZONE_NAME_SUFFIXES
    )
    return f"({column} >= {mark} OR ({column} >= {mark} AND ({offsets})) OR {column} IS NULL)"


def _since_text_params(since: datetime) -> list[str]:
    return [since.strftime("%Y-%m-%d %H:%M:%S"), (since - _MAX_UTC_OFFSET).strftime("%Y-%m-%d %H:%M:%S")]


def _sqlite_query(table: StoreTable, since: datetime | None, shape: SourceColumns) -> tuple[str, list]:
    """Every column as text plus a NULL flag, so the driver's Arrow columns have one type each.

    SQLite lets a column mix types; ADBC infers each column's Arrow type from its first rows and
    fails on a later value of another type (a column NULL in its first rows is taken for integers).
    Text that is never NULL and an integer flag are one type in every row, whatever the data.
    """
    refs = [*shape.refs.items(), *((alias, _quoted(name)) for alias, name in shape.extras.items())]
    columns = ", ".join(
        f"'' AS {n}, 1 AS {n}{_NULL_FLAG}"
        if ref is None
        else f"coalesce({_sqlite_text(f'{table.name}.{ref}', table.columns.get(n, 'extra'))}, '') AS {n}, "
             f"{table.name}.{ref} IS NULL AS {n}{_NULL_FLAG}"
        for n, ref in refs
    )  # fmt: skip
    key, updated_at = (shape.refs[n] for n in table.required)
    order = f"ORDER BY {table.name}.{key}"
    if since is None:
        return f"SELECT {columns} FROM {table.name} {order}", []
    # The POS stores 'YYYY-MM-DD HH:MM:SS' text, which sorts like time.
    return (
        f"SELECT {columns} FROM {table.name} WHERE {_since_text_sql(f'{table.name}.{updated_at}', '?')} {order}",
        _since_text_params(since),
    )


def _sqlite_text(column: str, kind: str | None) -> str:
    """SQLite SQL for ``column`` as text. A REAL amount is written with the 15 significant digits a
    double holds (``%!.15g``): SQLite's own CAST writes the shortest text that reads back as the
    same double, so float arithmetic in the POS (0.1 + 0.2 = 0.30000000000000004) would be
    quarantined as more than four decimal places instead of loading as 0.3."""
    if kind == "extra":  # an unknown column: a BLOB (a photo, a hash) is not text, see BYTES_PREFIX
        return f"CASE WHEN typeof({column}) = 'blob' THEN '{BYTES_PREFIX}' || lower(hex({column})) " \
               f"ELSE CAST({column} AS TEXT) END"  # fmt: skip
    if kind is not None and _is_decimal(kind):
        return f"CASE WHEN typeof({column}) = 'real' THEN printf('%!.15g', {column}) ELSE CAST({column} AS TEXT) END"
    return f"CAST({column} AS TEXT)"


_NULL_FLAG = "__is_null"


def _fetch(source_db, sql: str, params: list, names: list[str], json_columns: set[str] = frozenset()) -> pa.Table:
    """Run the query and return all rows as text columns ``names`` (typed later, in DuckDB, row by row).

    From PostgreSQL, ``json_columns`` (the unknown columns kept in ``extra``) are JSON text
    (``_as_json``); SQLite has nothing but text, numbers and BLOBs, all read as text.
    """
    cursor = source_db.cursor()
    if _is_sqlite(source_db):
        try:
            cursor.execute(sql, params or None)
            fetched = cursor.fetch_arrow_table()
        finally:
            cursor.close()
        null = pa.scalar(None, pa.string())
        return _with_invalid_unicode({
            n: pc.if_else(fetched[n + _NULL_FLAG].cast(pa.bool_()), null, fetched[n].cast(pa.string()))
            for n in names
        })
    try:
        cursor.execute(sql, params)
        batches = []
        while rows := cursor.fetchmany(FETCH_ROWS):
            columns = list(zip(*rows, strict=True))
            batches.append(
                pa.table({
                    n: _json_column(col) if n in json_columns else _text_column(col)
                    for n, col in zip(names, columns, strict=True)
                })
            )
    finally:
        cursor.close()
    if not batches:
        fetched = pa.table({n: pa.array([], pa.string()) for n in names})
    else:
        fetched = pa.concat_tables(batches)
    # PostgreSQL checks its text's encoding; SQLite does not.
    return fetched.append_column(INVALID_UNICODE, pa.nulls(fetched.num_rows, pa.string()))


# The fetched column naming each row's first column whose text is not UTF-8 (else NULL).
INVALID_UNICODE = "_invalid_unicode"


def _with_invalid_unicode(columns: dict[str, pa.ChunkedArray]) -> pa.Table:
    """The SQLite columns plus ``INVALID_UNICODE``; text that is not UTF-8 is made readable.

    SQLite stores whatever bytes it is given as TEXT (and CAST(blob AS TEXT) keeps a BLOB's bytes):
    DuckDB refused the whole fetched table, so the store source failed every run. Such a value is
    decoded with its bad bytes as escapes (``\\xff``), for the quarantine record to show, and its
    row is quarantined naming the column. Columns are checked in C; only a bad one goes value by value.
    """
    invalid: list[str | None] | None = None
    for name, column in columns.items():
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        values = column.cast(pa.binary()).to_pylist()
        invalid = invalid or [None] * len(values)
        texts = []
        for row, value in enumerate(values):
            try:
                texts.append(None if value is None else value.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(value.decode("utf-8", errors="backslashreplace"))
                invalid[row] = invalid[row] or name
        columns[name] = pa.array(texts, pa.string())
    length = len(next(iter(columns.values()))) if columns else 0
    columns[INVALID_UNICODE] = pa.array(invalid, pa.string()) if invalid else pa.nulls(length, pa.string())
    return pa.table(columns)


def _text_column(values: tuple) -> pa.Array:
    """One fetched column as text, exactly as ``_as_text`` renders each value.

    Columns of only strings, integers or booleans (and NULLs) are converted by Arrow in C; any
    other column (floats, timestamps, mixed types, as SQLite allows) goes value by value.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        array = None
    if array is not None:
        kind = array.type
        if pa.types.is_null(kind):
            return pa.nulls(len(array), pa.string())
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
            return array.cast(pa.string())
        if pa.types.is_boolean(kind):
            return pc.if_else(array, "1", "0")
    return pa.array([_as_text(v) for v in values], pa.string())


def _json_column(values: tuple) -> pa.Array:
    return pa.array([_as_json(v) for v in values], pa.string())


def _as_json(value) -> str | None:
    """An unknown PostgreSQL column's value as JSON text, as ``extra`` keeps it: arrays and json
    as JSON, booleans as true/false, integers and floats as numbers, a numeric as a string of its
    digits (DuckDB's JSON reads numbers as doubles: 12345678901234567890.123 would lose digits),
    bytea as ``BYTES_PREFIX`` + hex,
    dates and times as PostgreSQL's ISO text (``_open`` loads them as text), anything else as its
    text (an interval as Python writes it)."""
    if value is None:
        return None
    if isinstance(value, Decimal) or (isinstance(value, float) and not math.isfinite(value)):
        return json.dumps(str(value))
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return json.dumps(str(value))
    return json.dumps(value, default=_json_default, ensure_ascii=False)


# bytea kept in ``extra`` is written as PostgreSQL writes it (bytea_output hex): \x then the
# bytes in hex. A SQLite BLOB is written the same way.
BYTES_PREFIX = "\\x"


def _json_default(value) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES_PREFIX + bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return _as_text(value)
    return str(value)  # Decimal inside an array, UUID, interval, range ...


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # timestamptz columns: the warehouse keeps naive UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _cast(column: str, kind: str) -> str:
    if kind == "BOOLEAN":
        return f"CASE lower(trim({column})) WHEN '1' THEN true WHEN 'true' THEN true WHEN 't' THEN true " \
               f"WHEN '0' THEN false WHEN 'false' THEN false WHEN 'f' THEN false END"  # fmt: skip
    if kind == "TIMESTAMP":
        # Text with a UTC offset ('2026-11-20T10:00:00-05:00', as SQLite apps often store it) or
        # a time zone name ('2026-11-20 10:00:00 America/New_York') is that instant in UTC (15:00);
        # a plain cast to TIMESTAMP drops the offset or name (any text after the time) and keeps
        # 10:00. A name the time zone database does not know ('... Foo/Bar') does not cast, so the
        # row is quarantined naming the field. Only text that can hold an offset or a name is
        # matched against the regex: longer than 'YYYY-MM-DD HH:MM:SS', or that long with a sign
        # where the seconds' colon would be ('... 10:00-05'). The regex on every value doubled the
        # cast's CPU time; this test adds about a third.
        return (
            f"CASE WHEN (length({column}) > 19 OR substr({column}, 17, 1) IN ('+', '-')) "
            f"AND regexp_matches({column}, '{_ZONE_PATTERN}') "
            f"THEN timezone('UTC', try_cast({column} AS TIMESTAMPTZ)) ELSE try_cast({column} AS {kind}) END"
        )
    if _is_decimal(kind):
        # Text is cast when it is short enough to fit (`_short_decimal_sql`) or a plain or exponent
        # number (`_decimal_problem_sql` quarantines one that does not fit): try_cast alone rounds
        # ('19.999' AS DECIMAL(12,2) is 20.00) and reads DuckDB's own forms ('1_000.00001').
        return (
            f"CASE WHEN {_short_decimal_sql(column, kind)} THEN try_cast({column} AS {kind}) "
            f"WHEN regexp_full_match({column}, '{_NUMBER_PATTERN}') THEN try_cast({column} AS {kind}) END"
        )
    if kind in ("INTEGER", "BIGINT"):
        # Whole numbers only (a REAL's "2.0" is 2): try_cast rounds '2.5' to 3 and reads DuckDB's own
        # forms ('1_000', '0x1F', '1e3'), so a quantity of 2.5 was stored as 3 lines' worth.
        return f"CASE WHEN regexp_full_match({column}, '{_WHOLE_NUMBER_PATTERN}') THEN try_cast({column} AS {kind}) END"
    return f"try_cast({column} AS {kind})"


# A whole number, around spaces; a float's ".0" (a SQLite REAL id or quantity) is still whole.
_WHOLE_NUMBER_PATTERN = r"\s*[+-]?[0-9]+(\.0*)?\s*"
_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
# A number in plain or exponent notation ('19.999', '-.5', '1.0e-05', '2E+3'), around spaces.
_NUMBER_PATTERN = r"^\s*[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\s*$"


def _is_decimal(kind: str) -> bool:
    return _DECIMAL_TYPE.fullmatch(kind) is not None


def _decimal_limits(kind: str) -> tuple[int, int]:
    """(digits before the decimal point, digits after it) of a ``DECIMAL(p,s)`` type."""
    precision, scale = (int(group) for group in _DECIMAL_TYPE.fullmatch(kind).groups())
    return precision - scale, scale


def _short_decimal_sql(column: str, kind: str) -> str:
    """SQL true for text that ``kind`` holds exactly if it is a number at all, tested without a
    regex (most amounts): no exponent, no more characters after a point than the type's decimal
    places, and no more characters in all than its digits before the point. No underscore either:
    DuckDB reads one as a digit separator ('1_000' AS DECIMAL is 1000), so a POS amount written
    1_000 was loaded as 1000 where any other unparseable amount is quarantined."""
    whole, places = _decimal_limits(kind)
    return (
        f"(length({column}) <= {whole} AND NOT contains({column}, 'e') AND NOT contains({column}, 'E') "
        f"AND NOT contains({column}, '_') "
        f"AND (strpos({column}, '.') = 0 OR length({column}) - strpos({column}, '.') <= {places}))"
    )


def _decimal_problem_sql(column: str, kind: str) -> str:
    """SQL: why the number written in ``column`` cannot be stored as ``kind`` without changing it
    ('more than 4 decimal places', 'more than 14 digits before the decimal point'), else NULL
    (NULL too for text that is no number: the cast rejects that as an invalid value).

    Counted on the text, so exact at any length: the number is its digits ``d`` (whole and
    fraction part run together) times 10^(exponent - length(fraction)). Its decimal places are
    length(fraction) - exponent - the trailing zeros of ``d``, its digits before the point
    length(``d`` without leading zeros) - length(fraction) + exponent.
    """
    whole, places = _decimal_limits(kind)
    digits = "(n.whole || n.fraction)"
    exponent = "coalesce(try_cast(nullif(n.exponent, '') AS INTEGER), 0)"
    decimal_places = f"(length(n.fraction) - {exponent} - (length({digits}) - length(rtrim({digits}, '0'))))"
    whole_digits = f"(length(ltrim({digits}, '0')) - length(n.fraction) + {exponent})"
    too_precise = f"'more than {places} decimal places'"
    too_large = f"'more than {whole} digits before the decimal point'"
    return f"""CASE WHEN {column} IS NULL OR {_short_decimal_sql(column, kind)} THEN NULL ELSE list_transform(
        [regexp_extract({column}, '{_NUMBER_PATTERN}', ['whole', 'fraction', 'exponent'])],
        lambda n: CASE WHEN ltrim({digits}, '0') = '' THEN NULL
                  WHEN n.exponent <> '' AND try_cast(n.exponent AS INTEGER) IS NULL
                      THEN CASE WHEN n.exponent LIKE '-%' THEN {too_precise} ELSE {too_large} END
                  WHEN {decimal_places} > {places} THEN {too_precise}
                  WHEN {whole_digits} > {whole} THEN {too_large} END
    )[1] END"""


# The dates and times the warehouse keeps (SQL for BETWEEN), by type.
_TIME_RANGE = {
    "DATE": "DATE '0001-01-01' AND DATE '9999-12-31'",
    "TIMESTAMP": "TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31 23:59:59.999999'",
}
# Text of a date or time outside them: infinite, before Christ, or a year of five digits or more.
_OUT_OF_RANGE = re.compile(r"infinity|\bBC$|^[+-]?[0-9]{5,}-", re.IGNORECASE)

# A time followed by a UTC offset ('-05:00', '+0530', '-11') or by a time zone name ('Z', 'UTC',
# 'EST', 'America/New_York', 'Etc/GMT+5').
_ZONE_PATTERN = (
    r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?( ?[+-][0-9]{2}(:?[0-9]{2})?| *[A-Za-z][A-Za-z0-9_/+-]*)$"
)


def _ingest_table(con, source_db, settings: Settings, run_id: str, table: StoreTable) -> BatchOutcome:
    # The read time is a physical fact, not the logical date: a backfill reads today's rows too.
    read_at = audit_now()
    latest = future_horizon(read_at, settings.run_date)
    previous = _watermark(con, table, latest)
    shape = _source_columns(source_db, table)
    missing_required = [n for n in table.required if shape.refs[n] is None]
    if missing_required:
        return _fail_table(con, settings, run_id, table, missing_required[0], previous)
    # Amount columns an earlier version created narrower are widened in the batch below, and the
    # whole POS table read: that version rounded some of the amounts it stored.
    narrower = _narrower_amounts(con, table)
    overlap = timedelta(minutes=settings.store_watermark_overlap_minutes)
    since = previous - overlap if previous and not narrower else None
    sql, params = _query(source_db, table, since, shape)
    lineage = f"{safe_uri(settings.store_db_uri)} :: {_render(sql, params)}"
    fetched = _fetch(source_db, sql, params, [*table.columns, *shape.extras], json_columns=set(shape.extras))
    entry = manifest.ManifestEntry(
        batch_id=manifest.new_batch_id(SOURCE),
        run_id=run_id,
        source=SOURCE,
        source_object=table.name,
        status="loaded",
        started_at=audit_now(),
        watermark_from=previous,
        watermark_to=previous,
    )
    quarantine: list[QuarantineRecord] = []
    with manifest.transaction(con), registered(con, "_store_fetched", fetched):
        for name in narrower:
            # In the batch's transaction: a failed batch leaves the column (and the watermark) as they were.
            con.execute(f"ALTER TABLE {table.raw_table} ALTER COLUMN {name} SET DATA TYPE {table.columns[name]}")
        amounts = [n for n, k in table.columns.items() if _is_decimal(k)]
        casts = ", ".join(
            [f"{_cast(f'raw_{n}', k)} AS {n}" for n, k in table.columns.items()]
            + [f"{_decimal_problem_sql(f'raw_{n}', table.columns[n])} AS unfit_{n}" for n in amounts]
        )
        # Dates and times outside the years 1 to 9999 (PostgreSQL's infinity among them) do not
        # type: DuckDB holds them, but not Python, Arrow's consumers or the exports downstream.
        in_range = ", ".join(
            f"CASE WHEN {n} BETWEEN {_TIME_RANGE[k]} THEN {n} END AS {n}"
            for n, k in table.columns.items() if k in _TIME_RANGE
        )  # fmt: skip
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _store_typed AS SELECT * {f'REPLACE ({in_range})' if in_range else ''} "
            f"FROM (SELECT *, {casts} FROM (SELECT {', '.join(f'{n} AS raw_{n}' for n in table.columns)}, {_extra_json(shape, not _is_sqlite(source_db))} AS extra, {INVALID_UNICODE} FROM _store_fetched))"
        )
        # Why an amount cannot be stored as it is (its own digits, then the table's limits), else NULL.
        unfit = {
            n: f"coalesce(unfit_{n}, {table.amount_limits[n]})" if n in table.amount_limits else f"unfit_{n}"
            for n in amounts
        }
        # A value that is present but does not cast (or an impossible date), or an amount that would
        # not be stored as it is, quarantines the row.
        problems = " ".join(
            (f"WHEN {unfit[n]} IS NOT NULL THEN '{n}' " if n in unfit else "")
            + f"WHEN raw_{n} IS NOT NULL AND {n} IS NULL THEN '{n}'"
            for n in table.columns
        )
        limit = settings.max_field_chars
        oversize = " ".join(
            f"WHEN length(raw_{n}) > {limit} THEN '{n}'" for n, k in table.columns.items() if k == "VARCHAR"
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _store_checked AS
            SELECT *, CASE WHEN {table.key} IS NULL THEN '{table.key}'
                           WHEN {INVALID_UNICODE} IS NOT NULL THEN {INVALID_UNICODE} {problems} END AS bad_field,
                      CASE {oversize or "WHEN false THEN NULL"} END AS long_field,
                      coalesce(updated_at > ?, false) AS is_future
            FROM _store_typed
            """,
            [latest],
        )
        for row in con.execute(
            f"SELECT bad_field, long_field, raw_{table.key}, {INVALID_UNICODE}, "
            f"to_json(struct_pack({', '.join(f'{n} := raw_{n}' for n in table.columns)}))::VARCHAR, updated_at, "
            f"map([{', '.join(repr(n) for n in unfit)}]::VARCHAR[], [{', '.join(unfit.values())}]::VARCHAR[]) "
            "FROM _store_checked WHERE bad_field IS NOT NULL OR long_field IS NOT NULL OR is_future"
        ).fetchall():
            bad, long, key, invalid_unicode, raw, updated_at, unfit_amounts = row
            if bad is None and long is None:
                # No read time in the text: the same row read again is recognised and kept once.
                bad, reason = (
                    "updated_at",
                    f"future-updated-at: {table.name}.updated_at (key {key}) is {updated_at}, more than "
                    f"{FUTURE_TOLERANCE} after the time it was read; left out of the watermark and "
                    "loaded once it is corrected or that time has passed",
                )
            elif bad is not None and bad == invalid_unicode and (bad != table.key or key is not None):
                bad = shape.extras.get(bad, bad)
                reason = (
                    f"invalid-unicode: {table.name}.{bad} (key {key}) is not UTF-8 text (a BLOB, or text in "
                    "another encoding); its bad bytes are shown as \\x escapes"
                )
            elif bad is not None:
                kind = table.columns[bad]
                if bad == table.key and key is None:
                    reason = f"missing-id: {table.name}.{bad} is empty"
                elif unfit_amounts.get(bad):
                    reason = (
                        f"unrepresentable-amount: {table.name}.{bad} (key {key}) is "
                        f"{json.loads(raw)[bad].strip()}: {unfit_amounts[bad]}; stored as {kind} it "
                        "would change, and amounts are never rounded: the row loads once the POS holds an "
                        "amount that fits"
                    )
                elif kind in _TIME_RANGE and _OUT_OF_RANGE.search(value := json.loads(raw)[bad].strip()):
                    reason = (
                        f"timestamp-out-of-range: {table.name}.{bad} (key {key}) is {value}: a {kind} "
                        "from year 1 to 9999 is expected"
                    )
                else:
                    reason = f"invalid-field-type: {table.name}.{bad} (key {key}) is not a valid {kind}"
            else:
                bad, reason = (
                    long,
                    f"oversized-field: {table.name}.{long} (key {key}) longer than {limit} characters",
                )
            quarantine.append(QuarantineRecord(lineage, None, bad, reason, raw))
        # The overlap window re-reads recent rows every run: a bad row already quarantined with
        # the same content (so the same table, key and updated_at) is not quarantined again.
        already = _already_quarantined(con, quarantine)
        repeated = [r for r in quarantine if (r.reason, clip(r.raw_text)) in already]
        quarantine = [r for r in quarantine if (r.reason, clip(r.raw_text)) not in already]
        typed_columns = ", ".join(table.columns)
        # Identical re-reads (the overlap window) are skipped; new or changed rows are upserted.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _store_changed AS
            SELECT {typed_columns}, extra FROM _store_checked
            WHERE bad_field IS NULL AND long_field IS NULL AND NOT is_future
            QUALIFY row_number() OVER (PARTITION BY {table.key} ORDER BY updated_at DESC NULLS LAST) = 1
            EXCEPT
            SELECT {typed_columns}, extra::VARCHAR FROM {table.raw_table}
            """
        )
        changed = con.execute("SELECT count(*) FROM _store_changed").fetchall()[0][0]
        # Derived columns are computed from the stored rows before they are deleted.
        derived_names = "".join(f", {name}" for name in table.derived)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _store_upsert AS
            SELECT changed.*{"".join(f", {sql} AS {name}" for name, (_, sql) in table.derived.items())}
            FROM _store_changed AS changed
            {f"LEFT JOIN {table.raw_table} AS stored ON stored.{table.key} = changed.{table.key}" if table.derived else ""}
            """
        )
        con.execute(
            f"DELETE FROM {table.raw_table} WHERE {table.key} IN (SELECT {table.key} FROM _store_changed)"
        )
        con.execute(
            f"INSERT INTO {table.raw_table} ({typed_columns}, extra, _source_file, _source_line, _batch_id, _loaded_at{derived_names}) "
            f"SELECT {typed_columns}, extra::JSON, ?, NULL, ?, ?{derived_names} FROM _store_upsert",
            [lineage, entry.batch_id, entry.started_at],
        )
        watermark = con.execute(
            "SELECT max(updated_at) FROM _store_checked WHERE bad_field IS NULL AND NOT is_future"
        ).fetchall()[0][0]
        if watermark is not None:
            watermark = min(watermark, read_at)  # a row a little ahead of the clock is read again
        entry.watermark_to = (
            max(w for w in (watermark, previous) if w is not None) if (watermark or previous) else None
        )
        entry.rows_read = fetched.num_rows
        entry.rows_loaded = changed
        entry.rows_quarantined = len(quarantine)
        entry.rows_skipped = fetched.num_rows - changed - len(quarantine)  # includes `repeated`
        entry.status = "loaded" if changed or quarantine else "skipped_already_loaded"
        entry.message = f"read {table.name} since {since}" if since else f"full read of {table.name}"
        if narrower:
            entry.message += "; widened " + ", ".join(
                f"{name} from {stored} to {table.columns[name]}" for name, stored in narrower.items()
            ) + " and read the whole table, so amounts stored rounded are loaded again as the POS holds them"
        if repeated:
            entry.message += f"; {len(repeated)} bad row(s) already in meta.quarantine, not added again"
        if shape.missing:
            entry.message += f"; not in the source table, loaded as NULL: {', '.join(shape.missing)}"
        if shape.extras:
            entry.message += f"; source columns kept in extra: {', '.join(shape.extras.values())}"
        write_quarantine(
            con,
            quarantine,
            batch_id=entry.batch_id,
            run_id=run_id,
            source=SOURCE,
            quarantined_at=entry.started_at,
        )
        manifest.record(con, entry)
        for temp in ("_store_typed", "_store_checked", "_store_changed", "_store_upsert"):
            con.execute(f"DROP TABLE {temp}")
    return BatchOutcome(
        table.name,
        entry.status,
        entry.rows_read,
        entry.rows_loaded,
        entry.rows_quarantined,
        entry.rows_skipped,
    )


def future_horizon(read_at: datetime, run_date: date) -> datetime:
    """The latest ``updated_at`` a run loads: ``FUTURE_TOLERANCE`` after the read time or after
    the end of the run's logical day, whichever is later.

    A run for ``run_date`` covers that whole day, even when it runs before the day is over (``cdp
    run`` for today, sample data generated for today): a row stamped later that day is valid
    data, not a clock error. The watermark is still capped at the read time, so such a row is
    read again (and skipped as unchanged) by the next run.
    """
    day_end = datetime.combine(run_date + timedelta(days=1), time())
    return max(read_at, day_end) + FUTURE_TOLERANCE


def _extra_json(shape: SourceColumns, is_json: bool) -> str:
    """SQL for the row's unknown source columns as a JSON object of their non-empty values (or NULL).

    ``is_json``: the fetched values are JSON text (PostgreSQL, ``_as_json``), else plain text (SQLite).
    """
    if not shape.extras:
        return "NULL::VARCHAR"
    entries = ", ".join(
        f"struct_pack(k := '{name.replace(chr(39), chr(39) * 2)}', "
        f"v := {f'CAST({alias} AS JSON)' if is_json else f'to_json({alias})'})"
        for alias, name in shape.extras.items()
    )
    return (
        f"nullif(to_json(map_from_entries(list_filter([{entries}], lambda e: coalesce(e.v::VARCHAR, '\"\"') <> '\"\"')))"
        "::VARCHAR, '{}')"
    )


def _fail_table(
    con, settings: Settings, run_id: str, table: StoreTable, column: str, previous: datetime | None
) -> BatchOutcome:
    """Record that the POS table lacks a required column: a failed batch (the gate stops the run)."""
    why = "it identifies a row" if column == table.key else "it drives the incremental read"
    reason = (
        f"missing-column: store table {table.name} has no column {column} ({why}); fix the POS table "
        "or CDP_STORE_DB_URI, the table loads again once the column is there"
    )
    lineage = f"{safe_uri(settings.store_db_uri)} :: {table.name}"
    entry = manifest.ManifestEntry(
        batch_id=manifest.new_batch_id(SOURCE),
        run_id=run_id,
        source=SOURCE,
        source_object=table.name,
        status="failed",
        started_at=audit_now(),
        watermark_from=previous,
        watermark_to=previous,
        message=reason,
    )
    records = [QuarantineRecord(lineage, None, column, reason, None)]
    records = [r for r in records if (r.reason, r.raw_text) not in _already_quarantined(con, records)]
    with manifest.transaction(con):
        entry.rows_quarantined = len(records)
        write_quarantine(
            con, records, batch_id=entry.batch_id, run_id=run_id, source=SOURCE, quarantined_at=entry.started_at
        )
        manifest.record(con, entry)
    return BatchOutcome(table.name, entry.status, message=reason)


def _already_quarantined(con, records: list[QuarantineRecord]) -> set[tuple[str, str | None]]:
    """(reason, raw_text) pairs of ``records`` that meta.quarantine already holds for the store."""
    if not records:
        return set()
    rows = con.execute(
        "SELECT DISTINCT reason, raw_text FROM meta.quarantine "
        "WHERE source = ? AND reason IN (SELECT unnest(?::VARCHAR[]))",
        [SOURCE, sorted({r.reason for r in records})],
    ).fetchall()
    return {(reason, raw_text) for reason, raw_text in rows}


def _render(sql: str, params: list) -> str:
    for value in params:
        sql = re.sub(r"\?|%s", f"'{value}'", sql, count=1)
    return sql
