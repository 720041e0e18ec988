"""A whole CSV text parsed into Arrow at once, with the line numbers the ``csv`` module would report.

The row-oriented loaders (CSV lists, call-center exports) used to walk files with ``csv.reader``
and type every cell in Python. ``read_records`` instead frames the records with numpy (record ends
are line breaks outside quotes), parses the fields with ``pyarrow.csv`` (all strings) and gives
each record ``csv.reader.line_num``: the physical line its record ends on, so quoted fields with
line breaks keep later records on their true line. Each record also gets the line it starts on
(``_first_line``) and where its text is in the UTF-8 encoded file (``_start``, ``_end``: bytes,
the line break that ends the record left out), for a loader to quote the record as written.

It only takes plain RFC 4180 text, where ``csv.reader`` and Arrow provably agree: every quote opens
a field or closes one (or is doubled inside one), every record has the header's field count, no
NUL byte, no record beyond the csv module's field size limit. Anything else returns ``None`` and
the caller reads the file with the ``csv`` module as before, so odd files keep their exact
behaviour (ragged rows quarantined with their line, and so on).

A quote that opens a field and is never closed makes the ``csv`` module read the rest of the file
as that one value, silently. ``unclosed_quote_at_end`` recognises that; ``read_records`` (when the
caller asks, ``split_unclosed_quote=True``) returns the plain records before such a record, with
the unreadable rest in ``CsvRecords.unclosed``, so the loaders quarantine it line by line
(``unclosed_quote_lines``) instead of losing the rows it swallowed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.csv as arrow_csv

#: Every character ``str.strip()`` removes (``str.isspace``): SQL ``trim(value, WHITESPACE)`` strips
#: exactly these. tests/ingestion/test_csv_records.py checks the list against Python.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: Characters with no width a copy from a web page or a spreadsheet leaves in a value; not
#: ``str.isspace``, so no trim removes them: zero-width space, non-joiner and joiner, word joiner,
#: byte-order mark, Mongolian vowel separator.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u180e"
#: What surrounds a value people pasted without being part of it (``strip_edges``).
EDGE_JUNK = WHITESPACE + ZERO_WIDTH


def strip_edges(text: str) -> str:
    """``text`` without whitespace or zero-width characters (a BOM among them) at either end."""
    return text.strip(EDGE_JUNK)


_ZERO_WIDTH_RUNS = re.compile(f"[{ZERO_WIDTH}]+")


def without_zero_width(text: str) -> str:
    """``text`` without any zero-width character (one pasted inside an e-mail address, say)."""
    return _ZERO_WIDTH_RUNS.sub("", text)


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
class UnclosedQuote:
    """The last record of a text opens a quoted field that is never closed."""

    record_line: int  # the line the record starts on
    quote_line: int  # the line the open quote is on
    field: int  # position (0-based) of the field the quote opens
    text: str  # the record and everything after it, to the end of the text


@dataclass
class CsvRecords:
    """The header record and every non-blank data record of one CSV text."""

    header: list[str]
    # Columns c0..c{n-1} (strings, as written), _line (csv.reader.line_num: the line the record ends
    # on), _first_line (the line it starts on), _start and _end (its bytes in the UTF-8 text).
    table: pa.Table
    unclosed: UnclosedQuote | None = None  # the unreadable rest, when asked to split it off


def _line_breaks(text: str) -> int:
    """Line breaks as ``csv.reader`` counts them (``\r\n``, ``\r`` and ``\n`` are one each)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@cache
def _open_quote_pattern(delimiter: str) -> re.Pattern:
    d = re.escape(delimiter)
    # Fields as the csv module reads them (doublequote, not strict): a quoted field runs to its
    # closing quote ("" is a quote inside it), then anything up to the delimiter is kept as text;
    # an unquoted field is text in which quotes are plain characters. Possessive throughout: the
    # match must never re-read a "" as a closing quote.
    quoted = rf'"(?:[^"]++|"")*+"[^{d}\r\n]*+'
    plain = rf'[^"{d}\r\n][^{d}\r\n]*+'
    return re.compile(rf'((?:(?:{quoted}|{plain})?+{d})*+)"(?:[^"]++|"")*+\Z')


def unclosed_quote_at_end(text: str, delimiter: str, first_line: int) -> UnclosedQuote | None:
    """Where ``text`` (one record, starting at line ``first_line``, to the end of the file) opens a
    quote it never closes; None when its quotes are all closed."""
    if '"' not in text:
        return None
    match = _open_quote_pattern(delimiter).match(text)
    if match is None:
        return None
    before = match.group(1)
    field = len(next(csv.reader(io.StringIO(before, newline=""), delimiter=delimiter), [""])) - 1 if before else 0
    return UnclosedQuote(first_line, first_line + _line_breaks(before), field, text)


def unclosed_quote_lines(unclosed: UnclosedQuote, header: list[str]) -> list[tuple[int, str | None, str, str]]:
    """(line, field, reason, raw text) to quarantine for an unclosed quote: the record holding the
    quote, then every non-blank line after it, each on its own line, none of them loaded."""
    field = header[unclosed.field] if unclosed.field < len(header) else f"column {unclosed.field + 1}"
    lines = list(io.StringIO(unclosed.text, newline=""))
    first = unclosed.quote_line - unclosed.record_line + 1
    last = unclosed.record_line + len(lines) - 1
    after = [(unclosed.quote_line + i, line) for i, line in enumerate(lines[first:], 1) if line.strip()]
    rest = f"lines {unclosed.quote_line + 1}-{last}" if last > unclosed.quote_line else "no other line"
    rows = [
        (
            unclosed.record_line,
            field,
            f"unclosed-quote: the quote opening field {field!r} on line {unclosed.quote_line} is never closed, "
            f"so the rest of the file ({rest}) would read as that one value; this row and the "
            f"{len(after)} rows after it were not loaded: close the quote and send the file again",
            "".join(lines[:first]).rstrip("\r\n"),
        )
    ]
    rows += [
        (
            line_number,
            None,
            f"unclosed-quote: not loaded, it follows the quote left open on line {unclosed.quote_line} "
            f"(field {field!r}); close that quote and send the file again",
            line.rstrip("\r\n"),
        )
        for line_number, line in after
    ]
    return rows


def _split_unclosed_quote(content: str, delimiter: str, first_line: int) -> tuple[str, UnclosedQuote] | None:
    """(plain text before it, the unclosed quote) when the last line(s) open a quote never closed.

    Cheap (string searches): the open quote is the last one that is not half of a "" pair, its
    line must start after an even number of quotes; the caller checks the text before it is plain
    RFC 4180 (so that line starts a record), and the regex decides the rest as the csv module would.
    """
    opening = content.rfind('"')
    while opening > 0 and content[opening - 1] == '"':
        opening = content.rfind('"', 0, opening - 1)
    if opening < 0:
        return None
    line_start = max(content.rfind("\n", 0, opening), content.rfind("\r", 0, opening)) + 1
    if line_start == 0 or content.count('"', 0, line_start) % 2:
        return None
    unclosed = unclosed_quote_at_end(content[line_start:], delimiter, _line_breaks(content[:line_start]) + first_line)
    return (content[:line_start], unclosed) if unclosed is not None else None


def read_records(
    content: str, delimiter: str, split_unclosed_quote: bool = False, first_line: int = 1
) -> CsvRecords | None:
    """Header and data records of ``content``; None when the text needs the csv module (see module doc).

    ``split_unclosed_quote``: when the text ends in a quote never closed, return the records before
    it and the rest in ``unclosed`` (the caller must quarantine it) instead of None.
    ``first_line``: the file's line ``content`` starts on (2 after an Excel ``sep=;`` line).
    """
    if split_unclosed_quote and content.count('"') % 2:
        split = _split_unclosed_quote(content, delimiter, first_line)
        if split is None:
            return None
        records = read_records(split[0], delimiter, first_line=first_line)
        if records is not None:
            records.unclosed = split[1]
        return records
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
    lines = lines + (first_line - 1)
    record_lines = lines[1:][data_rows]
    if table is None:
        table = pa.Table.from_arrays([pa.array([], pa.string()) for _ in names], names=names)
    if table.num_rows != len(record_lines):
        return None
    # A record starts on the line after the one the record before it (blank lines included) ends on.
    first_lines = (lines[:-1] + 1)[data_rows]
    for name, values in (
        ("_line", record_lines), ("_first_line", first_lines), ("_start", starts[1:][data_rows]),
        ("_end", ends[1:][data_rows]),
    ):  # fmt: skip
        table = table.append_column(name, pa.array(values, pa.int64()))
    return CsvRecords(header, table)


def record_texts(content: str, spans: list[tuple[int, int]]) -> list[str]:
    """The text of records of ``content`` as written, from their ``(_start, _end)`` byte offsets."""
    if not spans:
        return []
    data = content.encode("utf-8")
    return [data[start:end].decode("utf-8") for start, end in spans]


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
