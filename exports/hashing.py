"""Normalisation and SHA-256 hashing of customer identifiers for ad-platform audiences.

Pure functions only (no I/O, no warehouse): each ``google_*`` / ``meta_*`` normaliser returns the
exact string the platform expects *before* hashing, or ``None`` when the value is empty or cannot
be made matchable (a phone number without a country code, say). ``sha256_hex`` then hashes it.

The rules follow the platforms' own published examples, pinned by the vectors in
``../shared/corpora/hashing`` (see its SOURCE.md). Where the platforms' docs and libraries
disagree we follow the published documentation:

* Unicode is NFC-normalised first: Meta's published hash of ``valéry`` is the NFC form.
* Every value loses whitespace and zero-width characters (``\u200b``, a BOM ``\ufeff``, ...) at
  both ends, as identity strips them (``ingestion.csv_records.strip_edges``); an e-mail loses
  them inside too (a pasted ``ada\u200b@example.com`` is ``ada@example.com``): no platform has an
  address with an invisible character, and a suppressed one must block the visible address.
* Google e-mail: trim + lower case; for ``gmail.com``/``googlemail.com`` remove every ``.``
  and any ``+suffix`` from the local part (current Data Manager guide). Other domains unchanged.
* Google names: trim + lower case, inner whitespace collapsed (the guide trims only the ends),
  honorifics (``Mr.``, ``Dr.``) and suffixes (``Jr.``, ``III``) removed. Accents are kept.
* Meta e-mail: trim + lower case only (dots and ``+`` kept). Meta names/city: lower case,
  every character that is not a letter removed (spaces, hyphens, apostrophes), accents kept
  (Meta's published ``valéry`` hash keeps ``é``; ASCII-folding would not match).
* Phones: parsed to E.164 with ``phonenumbers`` (region = the customer's country, else the
  default region); Google wants ``+<digits>``, Meta the same digits without ``+``.
* Postcodes: a US ZIP that a spreadsheet stripped of its leading zeros (``2134``, ``2134-1234``)
  gets them back when the customer's country is the US (Google ``02134``, Meta ``02134``); Meta
  then keeps the first five digits of a US ZIP.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

import phonenumbers

from identity.phones import with_ascii_digits, with_international_prefix_as_plus
from ingestion.csv_records import ZERO_WIDTH, strip_edges

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
GOOGLE_MAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# Whitespace and zero-width characters, which ``normalize_email`` removes anywhere in an address.
_EMAIL_JUNK = re.compile(f"[\\s{ZERO_WIDTH}]+")
_NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})

US_STATES: dict[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
    "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
    "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "puertorico": "pr", "guam": "gu", "americansamoa": "as", "virginislands": "vi",
    "usvirginislands": "vi", "northernmarianaislands": "mp",
}

# Names people write that are not the ISO 3166-1 name (ISO says GB, people say UK/England).
_COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northernireland": "GB", "unitedkingdomofgreatbritainandnorthernireland": "GB",
    "usa": "US", "us": "US", "unitedstatesofamerica": "US", "america": "US",
    "holland": "NL", "deutschland": "DE", "espana": "ES", "españa": "ES",
    "southkorea": "KR", "korea": "KR", "russia": "RU", "czechia": "CZ",
    # Common English names, so the usual cases never load the (slow to import) full name table.
    "unitedstates": "US", "unitedkingdom": "GB", "germany": "DE", "france": "FR", "spain": "ES",
    "italy": "IT", "netherlands": "NL", "belgium": "BE", "ireland": "IE", "portugal": "PT",
    "austria": "AT", "switzerland": "CH", "sweden": "SE", "norway": "NO", "denmark": "DK",
    "finland": "FI", "poland": "PL", "canada": "CA", "mexico": "MX", "brazil": "BR",
    "australia": "AU", "newzealand": "NZ", "japan": "JP", "india": "IN", "china": "CN",
}


def sha256_hex(normalized: str | None) -> str | None:
    """SHA-256 of a normalised value as lower-case hex; a value that already is a digest passes through.

    Meta's libraries send a 64-hex-digit value as is (lower-cased) instead of hashing a hash.
    """
    if normalized is None or normalized == "":
        return None
    if _SHA256_HEX.match(normalized.lower()):
        return normalized.lower()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def _clean(value: object) -> str | None:
    """NFC text without whitespace or zero-width characters at the ends, or None for empty/missing values."""
    if value is None:
        return None
    text = strip_edges(unicodedata.normalize("NFC", str(value)))
    return text or None


def _letters_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isalpha())


def _alnum_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


# ---------------------------------------------------------------- shared building blocks


def normalize_email(value: object) -> str | None:
    """Trimmed, lower-cased e-mail with all whitespace and zero-width characters removed; None when it has no ``local@domain``."""
    text = _clean(value)
    if text is None:
        return None
    text = _EMAIL_JUNK.sub("", text).lower()
    if _SHA256_HEX.match(text):
        return text  # already hashed upstream: passed through by sha256_hex
    local, sep, domain = text.rpartition("@")
    if not sep or not local or "." not in domain:
        return None
    return text


def to_e164(value: object, default_region: str | None = None) -> str | None:
    """A phone number in E.164 (``+`` and digits), or None when it cannot be made unambiguous.

    ``default_region`` (ISO alpha-2) is used for numbers written without a country code; without
    it such numbers return None rather than a hash that can never match.
    """
    text = _clean(value)
    if text is None:
        return None
    return _text_to_e164(text, (default_region or "").upper() or None)


# Parsing is the slow part of exporting (tens of microseconds a number); one number is parsed for
# suppression matching, Google and Meta in every segment it is in, so results are memoised.
@functools.lru_cache(maxsize=1 << 18)
def _text_to_e164(text: str, region: str | None) -> str | None:
    text = with_ascii_digits(text)
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    # "0044 ...", "+0044 ..." and "+001 616 ...": the international prefix as one plus, as identity
    # reads it (identity.phones), so a number identity links on is the one hashed and suppressed.
    international = with_international_prefix_as_plus(text)
    if international is not None:
        # An extension ("ext. 12", "x12") is not part of the number: parse the number as written
        # so phonenumbers sets it aside, rather than gluing its digits onto the number below
        # ("+1 205 754 8767 ext. 12" is +12057548767).
        written = _parse_phone(international, None)
        if written is not None and written.extension:
            return _e164_if_possible(written)
        candidate = "+" + re.sub(r"\D", "", international)
    else:
        candidate = text
    parsed = _parse_phone(candidate, region)
    # "Possible" (right length for the country) rather than "valid": fictional and newly allocated
    # ranges fail phonenumbers' validity tables but are still what the customer gave us.
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if international is not None and text.startswith("00") and region is not None:
        # The region's own international prefix, where it is not 00 ("0011 44 ..." in Australia).
        parsed = _parse_phone(text, region)
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not candidate.startswith("+"):
        # Digits that already start with a country code but lack the plus ("441134960987").
        parsed = _parse_phone("+" + digits, None)
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def _e164_if_possible(parsed: phonenumbers.PhoneNumber) -> str | None:
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def country_code(value: object) -> str | None:
    """ISO 3166-1 alpha-2 code (upper case) for a code or an English/local country name, else None."""
    text = _clean(value)
    if text is None:
        return None
    key = _letters_only(text.lower())
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    if len(key) == 2 and key.isascii():
        return key.upper()
    return _country_names().get(key)


_COUNTRY_NAME_CACHE: dict[str, str] = {}


def _country_names() -> dict[str, str]:
    """Country names (English and local spellings) from the phonenumbers geodata, keyed letters-only."""
    if not _COUNTRY_NAME_CACHE:
        from phonenumbers.geodata.locale import LOCALE_DATA

        for code, names in LOCALE_DATA.items():
            for name in names.values():
                if name.startswith("*"):
                    continue  # a pointer to another language's spelling
                _COUNTRY_NAME_CACHE.setdefault(_letters_only(name.lower()), code.upper())
    return _COUNTRY_NAME_CACHE


def _strip_name_affixes(words: list[str], affixes: frozenset[str], from_start: bool) -> list[str]:
    while len(words) > 1:
        edge = words[0] if from_start else words[-1]
        if edge.rstrip(".,").lower() not in affixes:
            break
        words = words[1:] if from_start else words[:-1]
    return words


# ---------------------------------------------------------------- Google Customer Match


def google_email(value: object) -> str | None:
    """Google: trim, lower case; gmail/googlemail local part without dots and ``+suffix``."""
    return google_email_from_normalized(normalize_email(value))


def google_email_from_normalized(email: str | None) -> str | None:
    """``google_email`` of an address already passed through ``normalize_email``."""
    if email is None or _SHA256_HEX.match(email):
        return email
    local, _, domain = email.rpartition("@")
    if domain in GOOGLE_MAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def google_phone(value: object, default_region: str | None = None) -> str | None:
    """Google: E.164 with the leading ``+``."""
    return to_e164(value, default_region)


def google_first_name(value: object) -> str | None:
    """Google: trim, lower case, no honorific prefix (``Mr.``, ``Dr.``); accents and hyphens kept."""
    return _google_name(value, _NAME_PREFIXES, from_start=True)


def google_last_name(value: object) -> str | None:
    """Google: trim, lower case, no suffix (``Jr.``, ``III``); accents and hyphens kept."""
    return _google_name(value, _NAME_SUFFIXES, from_start=False)


def _google_name(value: object, affixes: frozenset[str], from_start: bool) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    words = _strip_name_affixes(text.lower().split(), affixes, from_start)
    name = " ".join(words)
    # Punctuation alone ("--", ".") is a placeholder, not a name.
    return name if any(ch.isalpha() for ch in name) else None


def google_country(value: object) -> str | None:
    """Google: ISO alpha-2 country code in upper case, sent in clear."""
    return country_code(value)


def _us_zip_with_its_zeros(text: str, iso: str | None) -> str:
    """A US ZIP that a spreadsheet stripped of leading zeros ("2134", "2134-1234") with them back.

    Only where the country says the US: four digits are a whole postcode in Australia or Denmark.
    """
    if iso == "US":
        digits = re.sub(r"[\s-]+", "", text)
        if digits.isascii() and digits.isdigit() and len(digits) in (3, 4):
            return digits.zfill(5)
        if digits.isascii() and digits.isdigit() and len(digits) in (7, 8):
            padded = digits.zfill(9)
            return f"{padded[:5]}-{padded[5:]}"
    return text


def google_zip(value: object, country: object = None) -> str | None:
    """Google: postal code as written, trimmed, sent in clear (a US ZIP with its leading zeros)."""
    text = _clean(value)
    if text is None:
        return None
    return _us_zip_with_its_zeros(text, country_code(country))


# ---------------------------------------------------------------- Meta custom audiences


def meta_email(value: object) -> str | None:
    """Meta: trim and lower case only (dots and ``+`` kept)."""
    return normalize_email(value)


def meta_phone(value: object, default_region: str | None = None) -> str | None:
    """Meta: digits only with the country code, no ``+`` and no leading zeros."""
    e164 = to_e164(value, default_region)
    return e164[1:] if e164 else None


def meta_name(value: object) -> str | None:
    """Meta ``fn``/``ln``: lower case, letters only (no spaces or punctuation), accents kept."""
    text = _clean(value)
    if text is None:
        return None
    return _letters_only(text.lower()) or None


def meta_city(value: object) -> str | None:
    """Meta ``ct``: lower case without spaces or punctuation, accents kept."""
    text = _clean(value)
    if text is None:
        return None
    return _alnum_only(text.lower()) or None


def meta_state(value: object, country: object = None) -> str | None:
    """Meta ``st``: US states as the two-letter code; elsewhere lower case without punctuation/spaces."""
    text = _clean(value)
    if text is None:
        return None
    key = _alnum_only(text.lower())
    iso = country_code(country)
    if iso in (None, "US") and key in US_STATES:
        return US_STATES[key]
    return key or None


def meta_zip(value: object, country: object = None) -> str | None:
    """Meta ``zp``: lower case, no spaces or dashes; US ZIP codes cut to the first 5 digits."""
    text = _clean(value)
    if text is None:
        return None
    iso = country_code(country)
    text = _us_zip_with_its_zeros(text, iso)
    compact = re.sub(r"[\s-]+", "", text.lower())
    looks_us = re.fullmatch(r"\d{5}(-?\d{4})?", re.sub(r"\s+", "", text)) is not None
    if (iso == "US" or (iso is None and looks_us)) and compact[:5].isdigit():
        return compact[:5]
    return compact or None


def meta_country(value: object) -> str | None:
    """Meta ``country``: ISO alpha-2 in lower case (hashed, unlike Google)."""
    iso = country_code(value)
    return iso.lower() if iso else None
