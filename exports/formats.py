"""The four export formats: what a snapshot row looks like and how its key for diffs is built.

``csv`` and ``parquet`` are marketing files keyed by ``customer_id``. ``google`` and ``meta`` are
ad-platform uploads of hashed identifiers, keyed by a fingerprint of the hashed row: when a
customer's e-mail changes the old hashed row is removed and the new one added, which is what the
platform needs to stay in sync.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.fingerprint import code_fingerprint
from exports import hashing
from identity import phones

FORMATS = ("csv", "parquet", "google", "meta")
AD_PLATFORMS = ("google", "meta")

# Ad platforms get data for ad targeting, whatever the segment was built for.
DESTINATION_CONSENT = {"google": "ad_targeting", "meta": "ad_targeting"}

MARKETING_COLUMNS = (
    "customer_id", "first_name", "last_name", "email", "phone", "city", "state", "postcode", "country",
    "lifetime_orders", "lifetime_revenue", "last_purchase_at", "member_since",
)
# Segments built without a consent purpose ("none") carry no personal data: the id and
# behavioural attributes only.
ANONYMOUS_COLUMNS = ("customer_id", "lifetime_orders", "lifetime_revenue", "last_purchase_at", "member_since")
# A contact channel is written only for customers who consented to being contacted through it.
CHANNEL_CONSENT = {"email": "has_consent_email_marketing", "phone": "has_consent_sms_marketing"}
GOOGLE_COLUMNS = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
GOOGLE_HASHED = ("Email", "Phone", "First Name", "Last Name")
META_COLUMNS = ("EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY")
META_HASHED = META_COLUMNS

NO_IDENTIFIER = "no matchable identifier: needs an e-mail, a phone, or first+last name with country and postcode"


@dataclass
class Snapshot:
    """The rows of one export, their diff keys, and the members that could not be expressed."""

    destination: str
    columns: tuple[str, ...]
    table: pa.Table
    keys: list[str]
    customer_ids: list[str]
    hashed_columns: tuple[str, ...] = ()
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (customer_id, reason)
    duplicates_collapsed: int = 0

    @property
    def snapshot_file(self) -> str:
        return "snapshot.parquet" if self.destination == "parquet" else "snapshot.csv"

    def rows_by_key(self) -> dict[str, dict]:
        """Each row (as a dict) by its diff key."""
        return dict(zip(self.keys, self.table.to_pylist(), strict=True))


def build_snapshot(destination: str, members: pa.Table, default_region: str,
                   consent_purpose: str | None = None, cache: HashCache | None = None) -> Snapshot:
    """Turn the exportable members of a segment into the rows of ``destination``.

    Marketing files: ``email``/``phone`` are blank unless the customer consented to e-mail/SMS
    marketing (NULL consent = no), and a segment with ``consent_purpose`` ``none`` gets
    ``ANONYMOUS_COLUMNS`` only. ``cache`` shares normalised hashes across the calls of one run.
    """
    cache = cache if cache is not None else HashCache()
    if destination in ("csv", "parquet"):
        return _marketing_snapshot(destination, members, consent_purpose)
    if destination in _HASHED_FORMATS:
        return _hashed_snapshot(destination, members, default_region, cache)
    raise ValueError(f"unknown export format {destination!r}; valid formats: {', '.join(FORMATS)}")


def _marketing_snapshot(destination: str, members: pa.Table, consent_purpose: str | None) -> Snapshot:
    if consent_purpose == "none":
        table = members.select(list(ANONYMOUS_COLUMNS))
        ids = [str(v) for v in table.column("customer_id").to_pylist()]
        return Snapshot(destination, ANONYMOUS_COLUMNS, table, ids, ids)
    table = members.select(list(MARKETING_COLUMNS))
    for column, consent in CHANNEL_CONSENT.items():
        allowed = pc.fill_null(members.column(consent), False)  # NULL consent = no
        index = table.schema.get_field_index(column)
        values = pc.if_else(allowed, table.column(column), pa.scalar(None, table.schema.field(index).type))
        table = table.set_column(index, table.schema.field(index), values)
    ids = [str(v) for v in table.column("customer_id").to_pylist()]
    return Snapshot(destination, MARKETING_COLUMNS, table, ids, ids)


class HashCache:
    """Memoised normalise-then-hash, shared by every segment and destination of one export run.

    Names, cities, states, postcodes and countries repeat across customers, and one customer is
    in several segments and destinations; phone parsing in particular is slow, so each distinct
    (rule, value, region) is normalised and hashed once per run. The rows built for customers are
    kept too, per destination as an Arrow table (``tables``: customer_id, row_input_fingerprint,
    the destination's columns, member_key; a null member key = not matchable), so a customer in
    several segments is looked up in Arrow instead of being built again; the runner seeds them with
    the last run's rows of customers whose inputs did not change.
    """

    def __init__(self) -> None:
        self._values: dict[tuple, str | None] = {}
        self.tables: dict[str, pa.Table] = {}

    def hashed(self, rule, *args) -> str | None:
        """``sha256_hex(rule(*args))``, computed once per distinct arguments."""
        key = (rule, *args)
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = hashing.sha256_hex(rule(*args))
            return value

    def plain(self, rule, *args) -> str | None:
        """``rule(*args)`` (a value sent in clear), computed once per distinct arguments."""
        key = ("plain", rule, *args)
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = rule(*args)
            return value

    def member_rows(self, destination: str, members: pa.Table, default_region: str) -> pa.Table:
        """The rows of ``destination`` for ``members``, in their order (``tables``' columns).

        Only customers without a row yet (or whose ``row_input_fingerprint`` differs from the kept
        row's) are built, in Python; members without that column are matched on customer id alone.
        """
        columns = _HASHED_FORMATS[destination][0]
        ids = pc.fill_null(_as_strings(members.column("customer_id")), "None")
        fingerprints = (_as_strings(members.column("row_input_fingerprint"))
                        if "row_input_fingerprint" in members.column_names else pa.nulls(len(ids), pa.string()))
        known = self.tables.get(destination)
        if known is None:
            known = self.tables[destination] = empty_row_table(columns)
        position = _positions(known, ids, fingerprints)
        missing = np.flatnonzero(position.is_null().to_numpy(zero_copy_only=False))
        if len(missing):
            built = self._build_rows(destination, members.take(missing), ids.take(missing),
                                     fingerprints.take(missing), default_region)
            stale = pc.is_in(known.column("customer_id"), value_set=built.column("customer_id"))
            known = self.tables[destination] = pa.concat_tables([known.filter(pc.invert(stale)), built])
            position = _positions(known, ids, fingerprints)
        return known.take(position)

    def _build_rows(self, destination: str, members: pa.Table, ids: pa.Array, fingerprints: pa.Array,
                    default_region: str) -> pa.Table:
        """Normalise and hash the rows of ``members`` (each customer once), as a ``tables`` table."""
        columns, _, make_row = _HASHED_FORMATS[destination]
        needed = ("email", "phone", "first_name", "last_name", "city", "state", "postcode", "country")
        values: dict[str, list] = {c: [] for c in columns}
        built_ids, built_fingerprints, keys = [], [], []
        seen: set[str] = set()
        for customer_id, fingerprint, customer in zip(
                ids.to_pylist(), fingerprints.to_pylist(), members.select(list(needed)).to_pylist(), strict=True):
            if customer_id in seen:
                continue
            seen.add(customer_id)
            region = self.plain(hashing.country_code, customer["country"]) or default_region
            row = make_row(customer, region, self)
            matchable = _is_matchable(row, columns)
            built_ids.append(customer_id)
            built_fingerprints.append(fingerprint)
            keys.append(row_fingerprint(row, columns) if matchable else None)
            for column in columns:
                values[column].append(row[column] if matchable else None)
        return pa.table({"customer_id": pa.array(built_ids, pa.string()),
                         "row_input_fingerprint": pa.array(built_fingerprints, pa.string()),
                         **{c: pa.array(values[c], pa.string()) for c in columns},
                         "member_key": pa.array(keys, pa.string())})


def empty_row_table(columns: tuple[str, ...]) -> pa.Table:
    """A ``HashCache.tables`` table without rows."""
    return pa.table({name: pa.array([], pa.string())
                     for name in ("customer_id", "row_input_fingerprint", *columns, "member_key")})


def _as_strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = pc.cast(column, pa.string())
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _positions(known: pa.Table, ids: pa.Array, fingerprints: pa.Array) -> pa.Array:
    """Row of ``known`` for each id whose kept fingerprint equals ``fingerprints`` (both null counts), else null."""
    position = pc.index_in(ids, value_set=known.column("customer_id"))
    kept = pc.take(known.column("row_input_fingerprint"), position)
    same = pc.or_kleene(pc.equal(kept, fingerprints), pc.and_(pc.is_null(kept), pc.is_null(fingerprints)))
    same = pc.and_(pc.is_valid(position), pc.fill_null(same, False))
    if isinstance(same, pa.ChunkedArray):
        same = same.combine_chunks()
    if isinstance(position, pa.ChunkedArray):
        position = position.combine_chunks()
    return pc.if_else(same, position, pa.scalar(None, position.type))


def _google_row(customer: dict, region: str, cache: HashCache) -> dict[str, str | None]:
    h = cache.hashed
    return {
        "Email": h(hashing.google_email, customer["email"]),
        "Phone": h(hashing.google_phone, customer["phone"], region),
        "First Name": h(hashing.google_first_name, customer["first_name"]),
        "Last Name": h(hashing.google_last_name, customer["last_name"]),
        "Country": cache.plain(hashing.google_country, customer["country"]),
        # Sent in clear, so neutralised here (``neutralise_formula``; Country is two letters): the row
        # kept as member state is then the row written, which removed.csv and erasure scrubs rely on.
        "Zip": cache.plain(_google_zip_cell, customer["postcode"], customer["country"]),
    }


def _google_zip_cell(postcode: object, country: object) -> str | None:
    """Google's Zip as written to the file: ``hashing.google_zip``, formula-neutralised."""
    value = hashing.google_zip(postcode, country)
    return neutralise_formula(value) if value is not None else None


def _meta_row(customer: dict, region: str, cache: HashCache) -> dict[str, str | None]:
    h = cache.hashed
    country = customer["country"]
    return {
        "EMAIL": h(hashing.meta_email, customer["email"]),
        "PHONE": h(hashing.meta_phone, customer["phone"], region),
        "FN": h(hashing.meta_name, customer["first_name"]),
        "LN": h(hashing.meta_name, customer["last_name"]),
        "CT": h(hashing.meta_city, customer["city"]),
        "ST": h(hashing.meta_state, customer["state"], country),
        "ZIP": h(hashing.meta_zip, customer["postcode"], country),
        "COUNTRY": h(hashing.meta_country, country),
    }


def _is_matchable(row: dict[str, str | None], columns: tuple[str, ...]) -> bool:
    email, phone, first, last, country, postcode = (
        row[c] for c in (("Email", "Phone", "First Name", "Last Name", "Country", "Zip") if "Email" in columns
                         else ("EMAIL", "PHONE", "FN", "LN", "COUNTRY", "ZIP")))
    return bool(email or phone or (first and last and country and postcode))


_HASHED_FORMATS = {"google": (GOOGLE_COLUMNS, GOOGLE_HASHED, _google_row),
                   "meta": (META_COLUMNS, META_HASHED, _meta_row)}


def _hashed_snapshot(destination: str, members: pa.Table, default_region: str, cache: HashCache) -> Snapshot:
    columns, hashed, _ = _HASHED_FORMATS[destination]
    rows = cache.member_rows(destination, members, default_region)
    ids = rows.column("customer_id")
    matchable = pc.is_valid(rows.column("member_key"))
    skipped = [(customer_id, NO_IDENTIFIER) for customer_id in ids.filter(pc.invert(matchable)).to_pylist()]
    rows = rows.filter(matchable)
    # Two customer records with identical identifiers are one person to the platform: the first is kept.
    first = _first_of_each(rows.column("member_key"))
    duplicates = rows.num_rows - len(first)
    rows = rows.take(first)
    table = pa.table({c: rows.column(c).combine_chunks() for c in columns})
    return Snapshot(destination, columns, table, rows.column("member_key").to_pylist(),
                    rows.column("customer_id").to_pylist(), hashed, skipped, duplicates)


def _first_of_each(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Positions of the first occurrence of each distinct value of ``keys`` (no nulls), in order."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    codes = pc.index_in(keys, value_set=pc.unique(keys)).to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)


def rules_fingerprint(default_region: str | None) -> str:
    """Identifies how hashed rows are built: the rules' source, phonenumbers, Unicode, DuckDB, region.

    Hashed rows kept between runs (``exports.hashed_rows``) are reused only under the same rules.
    """
    import unicodedata

    import duckdb
    import phonenumbers

    # audience.py: how row inputs are fingerprinted
    # identity/phones.py: the international prefix and digits hashing reads phones by
    files = [*(Path(__file__).parent / name for name in ("formats.py", "hashing.py", "audience.py")),
             Path(phones.__file__)]
    return code_fingerprint(files, phonenumbers.__version__, unicodedata.unidata_version, duckdb.__version__,
                            default_region or "")


def row_fingerprint(row: dict[str, str | None], columns: tuple[str, ...]) -> str:
    """Stable key of a hashed row: SHA-256 over its values in column order."""
    joined = "\x1f".join(row.get(c) or "" for c in columns)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- writers


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# RFC 4180: a cell holding a comma, a double quote, a carriage return or a line feed is quoted (its
# quotes doubled). Python 3.11's csv.writer (lineterminator "\n") leaves a carriage return unquoted,
# which every CSV reader takes for a row break, so the exporter quotes by this rule, not csv.writer's.
CSV_NEEDS_QUOTES = '[,"\r\n]'


# CSV injection (OWASP): a spreadsheet opening the file runs a cell starting with one of these as a
# formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(1+1)``, ``-2+3``), so such a cell gets
# a ``'`` in front, which spreadsheets read as "text follows". A plain number (an E.164 phone
# ``+447700900123``, an amount ``-1.50``, ``+1 (650) 555-0199``) is data, not a formula: left as is.
FORMULA_START = "=+-@\t\r"
_FORMULA_START_RE = "^[=+\\-@\t\r]"
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9 .()-]*")
_PLAIN_NUMBER_RE = "^[+-]?[0-9][0-9 .()\\-]*$"  # the same for Arrow's RE2, whose ``$`` is the end of the text


def neutralise_formula(text: str) -> str:
    """``text`` with a ``'`` in front when a spreadsheet would run it as a formula (``FORMULA_START``)."""
    if text[:1] and text[0] in FORMULA_START and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell_text(text: str) -> str:
    """``text`` as one CSV cell: formula-neutralised, then quoted when ``CSV_NEEDS_QUOTES`` says so."""
    text = neutralise_formula(text)
    return '"' + text.replace('"', '""') + '"' if re.search(CSV_NEEDS_QUOTES, text) else text


def _neutralised(text: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``neutralise_formula`` of each cell (no nulls), vectorised."""
    if not _may_start_formula(text):
        return text
    risky = pc.and_(pc.match_substring_regex(text, _FORMULA_START_RE),
                    pc.invert(pc.match_substring_regex(text, _PLAIN_NUMBER_RE)))
    if not pc.any(risky).as_py():
        return text
    return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)


def _csv_cells(column: pa.ChunkedArray | pa.Array, only_column: bool) -> pa.Array:
    """One column as CSV cell text: ``_cell`` of each value, quoted as ``csv_cell_text`` quotes."""
    # Integers, decimals, dates and timestamps (``_cast_cells``) never read as a formula; text and
    # the other types are neutralised (``neutralise_formula``).
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = _neutralised(pc.fill_null(column, ""))
    elif (formatted := _cast_cells(column)) is not None:
        text = pc.fill_null(formatted, "")
    else:
        # Other types: format each distinct value the way _cell does, then spread back.
        encoded = pc.dictionary_encode(column).combine_chunks() if isinstance(column, pa.ChunkedArray) \
            else pc.dictionary_encode(column)
        formatted = pa.array([neutralise_formula(_cell(v)) for v in encoded.dictionary.to_pylist()], pa.string())
        text = pc.fill_null(pc.take(formatted, encoded.indices), "")
    # Most columns (hashes, ids, numbers, names) have no such cell: one scan of their bytes says so.
    needs_quotes = pc.match_substring_regex(text, CSV_NEEDS_QUOTES) if _may_need_quotes(text) else None
    if needs_quotes is not None and pc.any(needs_quotes).as_py():
        quoted = pc.binary_join_element_wise("\"", pc.replace_substring(text, "\"", "\"\""), "\"", "")
        text = pc.if_else(needs_quotes, quoted, text)
    if only_column:  # a row of one empty cell is written as "" so it is not a blank line
        text = pc.if_else(pc.equal(text, ""), pa.scalar('""'), text)
    return text


# The bytes of the characters CSV_NEEDS_QUOTES quotes (ASCII: never part of another UTF-8 character).
_QUOTED_BYTES = re.compile(rb'[,"\r\n]')


def _may_need_quotes(text: pa.ChunkedArray | pa.Array) -> bool:
    """False when no cell of ``text`` (``string``/``large_string``) holds a character ``CSV_NEEDS_QUOTES``
    quotes: none of their bytes is in its character data (one scan of the buffer, not a regex per cell;
    bytes of values sliced away only make it say True)."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        data = chunk.buffers()[2]
        if data is not None and _QUOTED_BYTES.search(memoryview(data)):
            return True
    return False


_FORMULA_START_BYTES = np.frombuffer(FORMULA_START.encode("ascii"), np.uint8)


def _may_start_formula(text: pa.ChunkedArray | pa.Array) -> bool:
    """False when no cell of ``text`` (``string``/``large_string``, no nulls) starts with a character of
    ``FORMULA_START``: the first byte of each cell, read from the buffers (most columns have none)."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        if not len(chunk) or chunk.buffers()[2] is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], width, len(chunk) + 1, chunk.offset * np.dtype(width).itemsize)
        data = np.frombuffer(chunk.buffers()[2], np.uint8)
        starts = offsets[:-1][offsets[1:] > offsets[:-1]]  # non-empty cells
        if len(starts) and np.isin(data[starts], _FORMULA_START_BYTES).any():
            return True
    return False


def _cast_cells(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    """``_cell`` of each value by an Arrow cast, for the types where the two write the same text; else None.

    Integers, booleans (``true``/``false``) and dates are written alike. A decimal of scale <= 6
    prints as ``str(Decimal)`` (Python switches to exponent notation only below 1e-6). A time
    zone-less microsecond timestamp casts to ``YYYY-MM-DD HH:MM:SS.ffffff``, where ``isoformat``
    leaves out a zero fraction.
    """
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_date32(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_decimal(kind) and 0 <= kind.scale <= 6:
        return pc.cast(column, pa.string())
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None:
        return pc.replace_substring_regex(pc.cast(column, pa.string()), r"\.000000$", "")
    return None


def write_csv_table(path: Path, table: pa.Table, columns: tuple[str, ...] | list[str] | None = None) -> int:
    """Write an Arrow table as UTF-8 CSV (header first, ``\\n`` line ends, a cell quoted only when it holds a
    comma, a double quote, a CR or a LF: RFC 4180), vectorised; returns the row count. The same bytes as
    ``csv.writer`` writes for ``neutralise_formula(_cell(value))``, except that a cell holding a CR is quoted."""
    columns = list(columns or table.column_names)
    with path.open("wb") as handle:
        header = ",".join(csv_cell_text(str(name)) for name in columns) if columns != [""] else '""'
        handle.write((header + "\n").encode("utf-8"))
        if table.num_rows:
            cells = [_csv_cells(table.column(c), len(columns) == 1) for c in columns]
            lines = cells[0] if len(cells) == 1 else pc.binary_join_element_wise(*cells, ",")
            # Each line with its "\n" (the last argument is the separator): the lines' character
            # data is then the file body, written from Arrow's buffer without making Python strings.
            lines = pc.binary_join_element_wise(lines, "", "\n")
            if isinstance(lines, pa.ChunkedArray):
                lines = lines.combine_chunks()
            handle.write(_string_data(lines))
    return table.num_rows


def _string_data(strings: pa.Array) -> memoryview:
    """The UTF-8 bytes of a string array without nulls, concatenated (its data buffer, zero-copy)."""
    if pa.types.is_large_string(strings.type):
        offsets = np.frombuffer(strings.buffers()[1], np.int64, len(strings) + 1, strings.offset * 8)
    else:
        offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    return memoryview(strings.buffers()[2])[int(offsets[0]):int(offsets[-1])]


def write_snapshot(snapshot: Snapshot, folder: Path) -> Path:
    """Write the snapshot file of ``snapshot`` into ``folder``."""
    path = folder / snapshot.snapshot_file
    if snapshot.destination == "parquet":
        pq.write_table(snapshot.table, path)
    else:
        write_csv_table(path, snapshot.table, snapshot.columns)
    return path
