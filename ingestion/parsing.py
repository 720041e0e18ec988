"""Small value parsers shared by the row-oriented sources (call center, CSV lists, suppression).

Each parser returns the typed value, or raises ``BadValue`` with a message that says what was
expected, so the caller can quarantine the row with the field name attached.
"""

from __future__ import annotations

import codecs
import csv
import re
from datetime import UTC, date, datetime
from pathlib import Path

from charset_normalizer import from_bytes


class BadValue(ValueError):
    """A field value that does not have the expected type or range."""


class UndecodableText(ValueError):
    """A text file holding bytes its encoding (named by its byte-order mark, or configured) cannot read."""

    def __init__(self, path: Path, encoding: str, offset: int, line: int, byte: bytes, why: str):
        self.encoding, self.offset, self.line, self.byte = encoding, offset, line, byte
        name = encoding.removesuffix("-sig").upper()
        super().__init__(
            f"{path.name}: line {line}: byte {offset} ({byte!r}) is not valid {name} ({why}); "
            "fix or re-export the file"
        )


def _decode(path: Path, data: bytes, start: int, encoding: str, why: str) -> str:
    """``data[start:]`` decoded, or ``UndecodableText`` naming the line and byte that is not ``encoding``."""
    try:
        return data[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line = data[start:offset].decode(encoding, errors="replace").count("\n") + 1
        raise UndecodableText(path, encoding, offset, line, data[offset : offset + 1], why) from None


def text(value, field: str, max_chars: int) -> str | None:
    """Trimmed text, None when empty; longer than ``max_chars`` is refused (oversized field)."""
    if value is None:
        return None
    value = str(value).strip()
    if value == "":
        return None
    if len(value) > max_chars:
        raise BadValue(f"oversized-field: {field} has {len(value)} characters, limit {max_chars}")
    return value


def timestamp(value, field: str) -> datetime | None:
    """ISO-8601 timestamp (with or without zone; zone-less means UTC) as naive UTC; None when empty."""
    if value is None or str(value).strip() == "":
        return None
    raw = str(value).strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise BadValue(
            f"invalid-timestamp: {field}={raw!r} is not an ISO-8601 timestamp like 2026-11-23T10:00:00Z"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if not 1900 <= parsed.year <= 2100:
        raise BadValue(f"timestamp-out-of-range: {field}={raw!r} is outside 1900..2100")
    return parsed


def integer(value, field: str, low: int, high: int) -> int | None:
    """Whole number in [low, high]; None when empty."""
    if value is None or str(value).strip() == "":
        return None
    raw = str(value).strip()
    try:
        number = float(raw)
    except ValueError:
        raise BadValue(
            f"invalid-field-type: {field}={raw!r} is not a number ({low}-{high} expected)"
        ) from None
    if not number.is_integer() or not low <= number <= high:
        raise BadValue(f"out-of-range: {field}={raw!r}, expected a whole number from {low} to {high}")
    return int(number)


TRUE_WORDS = {"true", "t", "yes", "y", "1", "x", "ja", "oui", "si", "opt-in", "opted in", "subscribed"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "nein", "non", "opt-out", "opted out", "unsubscribed"}


def boolean(value, field: str) -> bool | None:
    """Yes/no style flag; None when empty."""
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, bool):
        return value
    raw = str(value).strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise BadValue(f"invalid-field-type: {field}={value!r} is not a yes/no value (true/false, yes/no, 1/0)")


def calendar_date(value, field: str, formats: list[str]) -> date | None:
    """A date in one of ``formats`` (strptime patterns); None when empty."""
    if value is None or str(value).strip() == "":
        return None
    raw = str(value).strip()
    for pattern in formats:
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise BadValue(f"invalid-date: {field}={raw!r} does not match any of {', '.join(formats)}")


def decode_text_file(path: Path, fallback_encoding: str | None = None) -> tuple[str, str]:
    """File text and the encoding used: a UTF-8/16/32 BOM first, then strict UTF-8, then ``fallback_encoding``
    (a list type's configured encoding) when given, else charset detection.

    Raises ``UndecodableText`` when the BOM's or the configured encoding cannot read a byte.

    Single-byte code pages often explain the same bytes equally well (cp1250 and cp1252 both
    read "Muñoz" without a flaw, as "Muñoz" and "Muńoz"); among the detector's equally good
    candidates cp1252, the usual encoding of spreadsheet exports, wins.
    """
    data = path.read_bytes()
    # A byte-order mark names the encoding whatever a list type's mapping says (Excel's "Unicode
    # Text" is UTF-16LE with a BOM).
    marked = bom_encoding(data)
    if marked is not None:
        encoding, length = marked
        return _decode(path, data, length, encoding, "the file starts with its byte-order mark"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if fallback_encoding:
        return _decode(path, data, 0, fallback_encoding, "nor UTF-8"), fallback_encoding
    matches = from_bytes(data)
    best = matches.best()
    encoding = best.encoding if best is not None else PREFERRED_SINGLE_BYTE
    if best is not None and any(
        m.encoding == PREFERRED_SINGLE_BYTE and m.chaos == best.chaos and m.coherence == best.coherence
        for m in matches
    ):
        encoding = PREFERRED_SINGLE_BYTE
    elif _unlikely_for_a_list(encoding) and _reads_as_latin_text(data):
        # A short Western file has too few non-ASCII bytes for the detector: cp1252 "Øster" was
        # taken for Big5 ("喒ter") or DOS Baltic cp775 ("žster"). When every non-ASCII character
        # cp1252 gives is an accented Latin letter between ASCII ones, it is read as cp1252.
        # Windows code pages (cp1250 "Dvořák") are left to the detector: they are as likely.
        encoding = PREFERRED_SINGLE_BYTE
    # cp1252 is the usual culprit for spreadsheet exports; decode leniently only as a last resort.
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        return data.decode("cp1252", errors="replace"), "cp1252"


# Encodings a spreadsheet or CRM export of a Western list is practically never in: East-Asian
# multi-byte code pages and DOS (OEM) code pages.
_UNLIKELY_FOR_LISTS = frozenset({
    "big5", "big5hkscs", "cp932", "cp949", "cp950", "euc_jis_2004", "euc_jisx0213", "euc_jp", "euc_kr",
    "gb18030", "gb2312", "gbk", "hz", "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004",
    "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr", "johab", "shift_jis", "shift_jis_2004", "shift_jisx0213",
    "cp437", "cp720", "cp737", "cp775", "cp850", "cp852", "cp855", "cp856", "cp857", "cp858", "cp860", "cp861",
    "cp862", "cp863", "cp864", "cp865", "cp866", "cp869", "cp1006", "cp1125",
})  # fmt: skip
def _unlikely_for_a_list(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.replace("-", "_") in _UNLIKELY_FOR_LISTS
    except LookupError:
        return False


def _reads_as_latin_text(data: bytes) -> bool:
    """True when ``data`` reads in cp1252 as Western text: every non-ASCII character an accented
    Latin letter of À-ÿ (the bytes 0xC0-0xFF, where Western code pages put them), and those letters
    mostly alone between ASCII ones (runs of at most two, fewer runs of two than of one).

    What the other readings look like in cp1252: DOS code pages put their accented letters at
    0x80-0xA5 (cp850 "é" reads as "‚"), Shift-JIS kana as "ƒ^", Big5 lead bytes as symbols
    ("¤"), and double-byte text always comes in runs of two bytes or more per character (EUC-KR
    "이재" reads as the Latin letters "ÀÌÀç", but as one run of four)."""
    try:
        text = data.decode(PREFERRED_SINGLE_BYTE)
    except UnicodeDecodeError:
        return False
    runs = [len(run) for run in re.findall(r"[^\x00-\x7f]+", text)]
    if not runs or max(runs) > 2 or runs.count(2) >= runs.count(1):
        return False
    return all(
        "\u00c0" <= c <= "\u00ff" and c not in "\u00d7\u00f7" for c in text if ord(c) > 127
    )


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    """(encoding, length of the mark) when ``data`` starts with a UTF-8/16/32 byte-order mark, else None."""
    for bom, encoding in _UNICODE_BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return None


PREFERRED_SINGLE_BYTE = "cp1252"
# UTF-32LE's mark begins with UTF-16LE's: it is tested first.
_UNICODE_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample among ',', ';' and tab (comma when unsure)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(",;\t", key=first.count) if first else ","
