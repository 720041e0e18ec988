"""A whole CSV text parsed into Arrow at once, with the line numbers the ``csv`` module would report.

The row-oriented loaders (CSV lists, call-center exports) used to walk files with ``csv.reader``
and type every cell in Python. ``read_records`` instead frames the records with numpy (record ends
are line breaks outside quotes), parses the fields with ``pyarrow.csv`` (all strings) and gives
each record ``csv.reader.line_num``: the physical line its record ends on, so quoted fields with
line breaks keep later records on their true line.

It only takes plain RFC 4180 text, where ``csv.reader`` and Arrow provably agree: every quote opens
a field or closes one (or is doubled inside one), every record has the header's field count, no
NUL byte, no record beyond the csv module's field size limit. Anything else returns ``None`` and
the caller reads the file with the ``csv`` module as before, so odd files keep their exact
behaviour (ragged rows quarantined with their line, and so on).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as arrow_csv

#: Every character ``str.strip()`` removes (``str.isspace``): SQL ``trim(value, WHITESPACE)`` strips
#: exactly these. tests/ingestion/test_csv_records.py checks the list against Python.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_WHITESPACE_SQL = "'" + WHITESPACE + "'"
_EDGE_WHITESPACE_SQL = f"'^[{WHITESPACE}]|[{WHITESPACE}]$'"


def sql_strip(column: str) -> str:
    """SQL for Python's ``str.strip()`` of a VARCHAR column.

    ``trim`` with a character list is slow in DuckDB; most values have nothing to strip, so a
    regex looks at the two ends first.
    """
    return f"CASE WHEN regexp_matches({column}, {_EDGE_WHITESPACE_SQL}) THEN trim({column}, {_WHITESPACE_SQL}) ELSE {column} END"


_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")


@dataclass
class CsvRecords:
    """The header record and every non-blank data record of one CSV text."""

    header: list[str]
    table: pa.Table  # columns c0..c{n-1} (strings, as written) and _line (csv.reader.line_num)


def read_records(content: str, delimiter: str) -> CsvRecords | None:
    """Header and data records of ``content``; None when the text needs the csv module (see module doc)."""
    try:
        header = next(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return None  # the caller's csv module path words the refusal
    if not header or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if b"\x00" in data:
        return None
    framed = _frame(np.frombuffer(data, np.uint8), ord(delimiter))
    if framed is None:
        return None
    starts, ends, lines, fields = framed
    if fields[0] != len(header):
        return None
    data_rows = ends[1:] > starts[1:]  # blank lines are records of no fields: csv.reader yields []
    if not (fields[1:][data_rows] == len(header)).all():
        return None
    if len(ends) and (ends - starts).max(initial=0) > csv.field_size_limit():
        return None  # csv.reader refuses such a field; keep its error
    names = [f"c{i}" for i in range(len(header))]
    body = data[int(starts[1]) :] if len(starts) > 1 else b""
    try:
        table = (
            arrow_csv.read_csv(
                pa.py_buffer(body),
                read_options=arrow_csv.ReadOptions(column_names=names, use_threads=False),
                parse_options=arrow_csv.ParseOptions(
                    delimiter=delimiter,
                    quote_char='"',
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                ),
                convert_options=arrow_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            if body.strip(b"\r\n")
            else None
        )
    except pa.ArrowInvalid:
        return None
    record_lines = lines[1:][data_rows]
    if table is None:
        table = pa.Table.from_arrays([pa.array([], pa.string()) for _ in names], names=names)
    if table.num_rows != len(record_lines):
        return None
    return CsvRecords(header, table.append_column("_line", pa.array(record_lines, pa.int64())))


def _frame(b: np.ndarray, delimiter: int):
    """(start, end, line, field count) of every record, or None when quoting is not plain RFC 4180."""
    n = len(b)
    quotes = np.flatnonzero(b == _QUOTE)
    if len(quotes) % 2:
        return None
    if len(quotes):
        opening, closing = quotes[0::2], quotes[1::2]
        before = b[np.maximum(opening - 1, 0)]
        if not (
            (opening == 0) | (before == delimiter) | (before == _LF) | (before == _CR) | (before == _QUOTE)
        ).all():
            return None  # a quote inside an unquoted field: csv.reader keeps it as text
        after = b[np.minimum(closing + 1, n - 1)]
        if not (
            (closing == n - 1) | (after == delimiter) | (after == _LF) | (after == _CR) | (after == _QUOTE)
        ).all():
            return None  # text after a closing quote
    lf = np.flatnonzero(b == _LF)
    cr = np.flatnonzero(b == _CR)
    lone_cr = cr[(cr == n - 1) | (b[np.minimum(cr + 1, n - 1)] != _LF)]
    line_ends = np.sort(np.concatenate([lf, lone_cr]))  # where csv.reader's line iterator splits
    outside = (np.searchsorted(quotes, line_ends) % 2) == 0
    record_ends = line_ends[outside]
    record_lines = np.flatnonzero(outside) + 1
    starts = np.concatenate([[0], record_ends + 1])
    ends = np.concatenate([record_ends, [n]])
    lines = np.concatenate([record_lines, [len(line_ends) + 1]])
    # "\r\n" ends a record at "\n"; the "\r" is not part of the last field.
    crlf = (b[np.maximum(record_ends - 1, 0)] == _CR) & (b[record_ends] == _LF) & (record_ends > 0)
    ends[:-1] -= crlf.astype(ends.dtype)
    if starts[-1] >= n:  # nothing after the last line break
        starts, ends, lines = starts[:-1], ends[:-1], lines[:-1]
    delimiters = np.flatnonzero(b == delimiter)
    delimiters = delimiters[(np.searchsorted(quotes, delimiters) % 2) == 0]
    fields = np.searchsorted(delimiters, ends) - np.searchsorted(delimiters, starts) + 1
    return starts, ends, lines, fields
