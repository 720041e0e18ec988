"""Small value parsers shared by the row-oriented sources (call center, CSV lists, suppression).

Each parser returns the typed value, or raises ``BadValue`` with a message that says what was
expected, so the caller can quarantine the row with the field name attached.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
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
    iso = raw.upper()  # RFC 3339 allows a lower-case t and z, fromisoformat does not
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00") if iso.endswith("Z") else iso)
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


def dated_timestamp(value, field: str, date_formats: list[str]) -> datetime | None:
    """A timestamp as ``timestamp`` reads it, else a date in one of ``date_formats`` optionally
    followed by `` HH:MM`` or `` HH:MM:SS`` (UTC; midnight without a time); None when empty.
    Only 1900..2100 is taken."""
    if value is None or str(value).strip() == "":
        return None
    raw = str(value).strip()
    try:
        return timestamp(raw, field)
    except BadValue as exc:
        if str(exc).startswith("timestamp-out-of-range"):
            raise
    for pattern in date_formats:
        for time_part in ("", " %H:%M", " %H:%M:%S"):
            try:
                parsed = datetime.strptime(raw, pattern + time_part)
            except ValueError:
                continue
            if not 1900 <= parsed.year <= 2100:
                raise BadValue(f"timestamp-out-of-range: {field}={raw!r} is outside 1900..2100")
            return parsed
    raise BadValue(
        f"invalid-timestamp: {field}={raw!r} is neither an ISO-8601 timestamp like 2026-11-23T10:00:00Z "
        f"nor a date in one of {', '.join(date_formats)} with an optional time HH:MM[:SS]"
    )


def decode_text_file(path: Path, fallback_encoding: str | None = None) -> tuple[str, str]:
    """File text and the encoding used.

    In order: a UTF-8/16/32 byte-order mark names the encoding; strict UTF-8; ``fallback_encoding``
    (a list type's configured ``encoding:``) when given; cp1252 when the file reads in it as
    Western (Latin-script) text (``_reads_as_latin_text``); else charset detection.

    Raises ``UndecodableText`` when the BOM's or the configured encoding cannot read a byte.

    A file that is not UTF-8 is nearly always a spreadsheet or CRM export in cp1252 (which reads
    Latin-1 files the same). The detector is not asked first: on a short file it has too few
    non-ASCII bytes to go on and took cp1252 "Íñigo Núñez" for Shift-JIS ("ﾍ𠢹go N銲ez") and
    "Françoise" for ISO-8859-10 ("Franįoise"). Text in another script (Cyrillic, Greek, CJK, or
    a DOS code page) does not read as Latin words in cp1252, and goes to the detector.
    Central-European, Baltic and Turkish code pages give the same bytes other Latin letters
    (cp1250 "Kovačević" reads in cp1252 as "Kovaèeviæ"): when the detector reads the text as one
    of those languages, the first of its candidates in such a code page is used (before cp1252).
    On a short file it may not recognise the language (a single "Dvořák" reads as "Dvoøák"): a
    list type whose files are in such a code page sets ``encoding:`` in its mapping.
    A file whose cp1252 reading is Latin letters and signs throughout (even a word of capitals only,
    "ÆØÅ") is never read in a CJK encoding: the detector took "ÆØÅ Ltd" for Shift-JIS ("ﾆﾘﾅ Ltd").
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
    try:
        western = data.decode(PREFERRED_SINGLE_BYTE)
    except UnicodeDecodeError:
        western = None
    matches = from_bytes(data)
    latin = western is not None and _reads_as_latin_text(western)
    # Latin text in another Latin-script code page (cp1250 "Kovačević" reads in cp1252 as
    # "Kovaèeviæ", a Latin reading too): the detector's language tells them apart, given enough
    # letters the two readings differ in (on three lines of French it took "Lefèvre" for Czech).
    other_latin = _other_latin_code_page(matches)
    if other_latin is not None:
        try:
            text = data.decode(other_latin)
        except (UnicodeDecodeError, LookupError):
            text = None
        if text is not None and (not latin or _letters_read_differently(text, western) >= _MIN_DIFFERING_LETTERS):
            return text, other_latin
    if latin:
        return western, PREFERRED_SINGLE_BYTE
    best = matches.best()
    if best is not None and _is_cjk(best.encoding) and western is not None and _latin_letters_or_signs(western):
        # A few capitals (cp1252 "ÆØÅ Ltd") read as half-width katakana in Shift-JIS ("ﾆﾘﾅ Ltd"); Japanese,
        # Chinese or Korean text read in cp1252 has longer runs, or signs between its letters.
        return western, PREFERRED_SINGLE_BYTE
    if best is not None:
        try:
            return data.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    # Nothing reads the file cleanly: cp1252, with U+FFFD for the bytes it does not define.
    return data.decode(PREFERRED_SINGLE_BYTE, errors="replace"), PREFERRED_SINGLE_BYTE


# Single-byte code pages of other Latin-script languages: Central European (Czech, Polish, Croatian,
# Slovene, Hungarian, Slovak, Romanian), Baltic and Turkish. Not ISO-8859-10/-4 (Nordic/old Baltic),
# which the detector picks for short French or Spanish cp1252 text.
_LATIN_CODE_PAGES = frozenset({"cp1250", "iso8859_2", "iso8859_16", "cp1257", "iso8859_13", "cp1254", "iso8859_9"})


# Languages written in those code pages (as charset-normalizer names them), not in cp1252.
_OTHER_LATIN_LANGUAGES = frozenset({
    "Czech", "Slovak", "Polish", "Croatian", "Slovene", "Hungarian", "Romanian", "Serbian", "Bosnian",
    "Lithuanian", "Latvian", "Turkish",
})  # fmt: skip


#: Letters a Central-European reading must change (against cp1252) before the detector's language is trusted.
_MIN_DIFFERING_LETTERS = 8


def _letters_read_differently(text: str, western: str) -> int:
    """Characters two single-byte readings of the same bytes disagree on."""
    return sum(1 for a, b in zip(text, western, strict=True) if a != b)


def _other_latin_code_page(matches) -> str | None:
    """The code page of a Central-European, Baltic or Turkish text: when the detector's best reading
    is in one of those languages, the first of its candidate encodings that is such a code page
    (its best one may be another: ISO-8859-14 for Polish in ISO-8859-2), else None. Not its best
    encoding alone: it names cp1250 for French, Spanish or Nordic text as readily."""
    best = matches.best()
    if best is None or best.language not in _OTHER_LATIN_LANGUAGES:
        return None
    for match in matches:
        if _is_other_latin(match.encoding):
            return match.encoding
    return None


def _is_other_latin(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.replace("-", "_") in _LATIN_CODE_PAGES
    except LookupError:
        return False


# Letters of cp1252 beyond ASCII: À-ÿ except × and ÷, and Š š Œ œ Ž ž Ÿ at 0x80-0x9F.
_LATIN_LETTERS = frozenset(
    [chr(c) for c in range(0xC0, 0x100) if chr(c) not in "\u00d7\u00f7"] + list("ŠšŒœŽžŸ")
)
# Punctuation that may sit inside a word: O’Brien, l’été, Catalan col·lega, and the acute accent,
# grave accent and opening quote typed for an apostrophe (D´Angelo, O`Neil, D‘Souza).
_WORD_JOINERS = frozenset("\u2019\u00b7\u00b4`\u2018")
# Typographic signs written between two words without spaces (back—urgent, Jean–Pierre, VIP•gold,
# wait…ok): a file whose only odd runs are such single signs still reads as Western text.
_SIGNS_BETWEEN_WORDS = frozenset("\u2013\u2014\u2022\u2026")
# cp1252 symbols that Western names and notes practically never hold, but other encodings' letters
# read as: ƒ ˆ ‰ ˜ (Shift-JIS kana lead bytes, cp850 letters) and the odd signs ± ¶ ¼ ¤ ...
_NEVER_IN_NAMES = frozenset("ƒˆ‰˜†‡")
_ODD_NEXT_TO_A_LETTER = frozenset("¤¦¨ª¬¯±²³´µ¶¸¹º¼½¾×÷")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
#: Share of non-ASCII runs allowed not to look like Western text (a stray sign in a long file).
_ODD_RUNS_ALLOWED = 0.2


def _reads_as_latin_text(text: str) -> bool:
    """True when ``text`` (a file read as cp1252) looks like Western text: no control characters,
    and its runs of non-ASCII characters look like accented letters in Latin words or typographic
    signs (at most a fifth of them do not).

    A run does not look Western when it is longer than three characters, a word of two or more
    non-ASCII letters and no ASCII one (cp1251 "Иван" reads as "Èâàí", EUC-KR "이재" as "ÀÌÀç"),
    holds a sign between two letters (cp850 "Gérard" reads as "G‚rard", Shift-JIS "山田" as
    "ŽR“c"), or a sign that names never hold (ƒ, ˆ, ‰, ˜) or an odd one (± ¶ ¼ ¤ ...) next to an
    accented letter (EUC-KR "김" reads as "±è").

    A dash, bullet or ellipsis between two letters (``_SIGNS_BETWEEN_WORDS``) does not look
    Western either (cp850 "Dupùis" reads as "Dup—is"), but when such single signs are the file's
    only odd runs, it is Western text still: the detector, asked instead, read a short cp1252 file
    with one of them in a Central-European or DOS code page.
    """
    if _CONTROL.search(text):
        return False
    runs = odd = odd_signs = 0
    for match in _NON_ASCII_RUN.finditer(text):
        runs += 1
        start, end = match.span()
        if not _latin_run(text, start, end):
            if end - start == 1 and text[start] in _SIGNS_BETWEEN_WORDS:
                odd_signs += 1
            else:
                odd += 1
    return runs > 0 and (odd == 0 or odd + odd_signs <= runs * _ODD_RUNS_ALLOWED)


def _latin_letters_or_signs(text: str) -> bool:
    """True when every non-ASCII run of ``text`` (a file read as cp1252) looks Western by
    ``_latin_run`` or is a word of up to three Latin letters ("ÆØÅ"), and there are no control
    characters: looser than ``_reads_as_latin_text`` (which takes such a word for Cyrillic
    "Èâàí"), strict enough that CJK text (two bytes a character) practically never passes."""
    if _CONTROL.search(text):
        return False
    return all(
        _latin_run(text, *match.span())
        or (len(match.group()) <= 3 and all(c in _LATIN_LETTERS for c in match.group()))
        for match in _NON_ASCII_RUN.finditer(text)
    )


# Multi-byte encodings of Chinese, Japanese and Korean (by their codecs names).
_CJK_CODECS = frozenset({
    "shift_jis", "cp932", "euc_jp", "shift_jis_2004", "shift_jisx0213", "euc_jis_2004", "euc_jisx0213",
    "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3", "iso2022_jp_ext",
    "gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950", "euc_kr", "cp949", "johab", "iso2022_kr",
})  # fmt: skip


def _is_cjk(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.replace("-", "_") in _CJK_CODECS
    except LookupError:
        return False


def _latin_run(text: str, start: int, end: int) -> bool:
    run = text[start:end]
    if len(run) > 3:
        return False
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if all(c in _LATIN_LETTERS for c in run):
        # Part of a word with ASCII letters (Íñigo, Conceição), or a word of one letter (à, Å).
        return len(run) == 1 or before.isalpha() or after.isalpha()
    chars = f"{before}{run}{after}"
    for i, c in enumerate(run, 1):
        if c in _LATIN_LETTERS:
            continue
        if c in _NEVER_IN_NAMES:
            return False
        left, right = chars[i - 1], chars[i + 1]
        if c not in _WORD_JOINERS and left.isalpha() and right.isalpha():
            return False
        if c in _ODD_NEXT_TO_A_LETTER and (left in _LATIN_LETTERS or right in _LATIN_LETTERS):
            return False
    return True


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


#: The first line Excel writes to name a CSV's delimiter (``sep=;``), before the header.
_SEPARATOR_LINE = re.compile(r'\A"?sep=([^\r\n])"?\r?\n', re.IGNORECASE)


def separator_line(content: str) -> tuple[str | None, str]:
    """Excel's ``sep=;`` first line: (the delimiter it names, the text after it, whose first line
    is the header and line 2 of the file), or (None, ``content``) when there is none."""
    hint = _SEPARATOR_LINE.match(content)
    return (hint.group(1), content[hint.end():]) if hint else (None, content)


def csv_text(content: str) -> tuple[str, str, int]:
    """(the CSV text from its header on, its delimiter, the file's line that text starts on): the
    delimiter an Excel ``sep=;`` first line names (the header is then line 2), else sniffed."""
    named, content = separator_line(content)
    return content, named or sniff_delimiter(content[:65536]), 1 if named is None else 2


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample among ',', ';' and tab (comma when unsure)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(",;\t", key=first.count) if first else ","


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def holds_lone_surrogate(obj: object) -> bool:
    """Whether a decoded JSON value holds a lone surrogate escape (``"\\ud800"``) in any key or
    string: json.loads takes it, UTF-8 and DuckDB cannot hold it."""
    return any(isinstance(item, str) and _LONE_SURROGATE.search(item) for item in walk_json(obj))


def walk_json(obj: object) -> Iterator[object]:
    """Every key and leaf value of a decoded JSON value (dict keys included), depth first."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item
