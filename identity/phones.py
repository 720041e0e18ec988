"""The international prefix of a written phone number, read one way by identity and the exports.

Identity's standardisation (identity/standardise.py) and the exports' hashing and suppression
(exports/hashing.py) both turn ``0044 20 7946 0958`` and ``+0044 ...`` into ``+44 ...``, and
digits of other scripts into ASCII ones; they read it here so that a number one links on is the
number the other hashes and suppresses.
"""

from __future__ import annotations

import re
import unicodedata

#: The plus and any zeros (and separators) written after it ("+0044", "+ 00 44"), or the "00"
#: international prefix. Country codes never start with 0, so these zeros are all prefix.
_INTERNATIONAL_PREFIX = re.compile(r"^(?:\+[^0-9]*(?:0[^0-9]*)*|00)")


def with_international_prefix_as_plus(text: str) -> str | None:
    """``text`` with its international prefix written as one plus and the rest as written
    ("0044 20 7946 0958" -> "+44 20 7946 0958"; an extension stays for the parser to set aside),
    or None when it is written without one.

    Only two zeros are a prefix: one zero is a national trunk prefix ("020 7946 0958" is a London
    number written nationally) and is left to be read in the default region. Where the region's
    own international prefix is not 00 (Australia's 0011, Japan's 010), a number the plus form
    does not make possible is read in the region as written, by the callers.
    """
    text = text.strip()
    if not text.startswith(("+", "00")):
        return None
    return "+" + _INTERNATIONAL_PREFIX.sub("", text)


def with_ascii_digits(text: str) -> str:
    """``text`` with full-width forms in ASCII ("＋４４" is "+44") and every decimal digit of another
    script written in ASCII ("٢١٢" is "212"). Python's ``\\d`` matches such digits, so
    "２１２５５５０１２３" became "+1２１２５５５０１２３", which no ASCII-written number equals.
    Only decimal digits: a circled ① or a superscript ² (a footnote mark) is no digit of the number."""
    if text.isascii():
        return text
    return "".join(
        chr(ord(char) - _FULL_WIDTH_OFFSET) if "\uff01" <= char <= "\uff5e"
        else str(unicodedata.decimal(char)) if char.isdecimal() else char
        for char in text
    )


#: U+FF01-FF5E are the full-width forms of ASCII U+0021-007E.
_FULL_WIDTH_OFFSET = 0xFEE0
