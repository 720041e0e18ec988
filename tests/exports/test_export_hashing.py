"""Core hashing tests: a handful of vectors copied from the platforms' published examples
(and the shared corpus), so they run without ../shared/corpora."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from exports import hashing

# (normaliser, raw, region/country, expected normalised, expected SHA-256): published by the platform.
PUBLISHED = [
    # Meta Conversions API "Customer information parameters" page.
    (hashing.meta_email, "     John_Smith@gmail.com    ", None, "john_smith@gmail.com",
     "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    (hashing.meta_phone, "(650)555-1212", "US", "16505551212",
     "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    (hashing.meta_name, "Valéry", None, "valéry",
     "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
    (hashing.meta_name, "정", None, "정",
     "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
    (hashing.meta_country, "United States", None, "us",
     "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),
    # Google Data Manager utils tests (googleads/data-manager-python, -java).
    (hashing.google_email, "  ALEXZ@example.com   ", None, "alexz@example.com",
     "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a"),
    (hashing.google_phone, "1-800-555-0100   ", "US", "+18005550100",
     "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"),
    (hashing.google_first_name, "  GivenName  ", None, "givenname",
     "128a07bfe2df877c52076e60d7774cf5baaa046c5a6c48daf30ff43ecca2f814"),
    (hashing.google_last_name, "  FamilyName ", None, "familyname",
     "77762c287e61ce065bee5c15464012c6fbe088398b8057627d5577249430d574"),
]


def _call(normaliser, raw, region):
    if normaliser in (hashing.meta_phone, hashing.google_phone):
        return normaliser(raw, region)
    return normaliser(raw)


@pytest.mark.parametrize(("normaliser", "raw", "region", "normalized", "digest"), PUBLISHED,
                         ids=[f"{p[0].__name__}:{p[1].strip()}" for p in PUBLISHED])
def test_published_platform_hashes(normaliser, raw, region, normalized, digest):
    assert _call(normaliser, raw, region) == normalized
    assert hashing.sha256_hex(normalized) == digest


def test_decomposed_accent_hashes_like_the_published_composed_form():
    nfd = unicodedata.normalize("NFD", "Valéry")
    assert nfd != "Valéry"
    assert hashing.sha256_hex(hashing.meta_name(nfd)) == "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"


@pytest.mark.parametrize(("raw", "google", "meta"), [
    ("  Jane.Doe@Example.COM ", "jane.doe@example.com", "jane.doe@example.com"),
    ("John.Doe@gmail.com", "johndoe@gmail.com", "john.doe@gmail.com"),
    ("jane.doe+newsletter@gmail.com", "janedoe@gmail.com", "jane.doe+newsletter@gmail.com"),
    ("John.Doe@googlemail.com", "johndoe@googlemail.com", "john.doe@googlemail.com"),
    ("Jane+News@Example.com", "jane+news@example.com", "jane+news@example.com"),
    ("not-an-email", None, None),
    ("   ", None, None),
    (None, None, None),
])
def test_email_upper_case_padding_and_gmail_rules(raw, google, meta):
    assert hashing.google_email(raw) == google
    assert hashing.meta_email(raw) == meta


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("(415) 555-0132", "US", "+14155550132"),          # US local format
    ("+1 (650) 555-1212", None, "+16505551212"),       # international with punctuation
    ("020 7946 0018", "GB", "+442079460018"),          # UK national, trunk 0 dropped
    ("07700 900123", "GB", "+447700900123"),           # UK mobile
    ("+44 (0)20 7946 0018", None, "+442079460018"),    # UK habit: (0) inside an international number
    ("0044 20 7946 0018", "GB", "+442079460018"),      # 00 international prefix
    ("+001 (616) 954-78 88", None, "+16169547888"),    # 00 written after the plus
    ("0151 23456789", "DE", "+4915123456789"),         # German mobile
    ("441134960987", "US", "+441134960987"),           # country code present, plus missing
    ("+1 (205) 754-8767 ext. 12", None, "+12057548767"),  # extension set aside, not glued on
    ("0044 20 7946 0018 x5", "US", "+442079460018"),
    ("650-555-1212", None, None),                      # no country code, no region: unmatchable
    ("+４４ ２０ ７９４６ ００１８", "US", "+442079460018"),  # full-width digits, as identity reads them
    ("٦٥٠٥٥٥١٢١٢", "US", "+16505551212"),             # Arabic-Indic digits
    ("call me", "US", None),
])
def test_phones_in_local_and_international_formats(raw, region, e164):
    assert hashing.google_phone(raw, region) == e164
    assert hashing.meta_phone(raw, region) == (e164[1:] if e164 else None)


@pytest.mark.parametrize(("raw", "meta", "google_first", "google_last"), [
    ("Jean-Luc", "jeanluc", "jean-luc", "jean-luc"),
    ("O'Brien", "obrien", "o'brien", "o'brien"),
    ("José María", "josémaría", "josé maría", "josé maría"),
    ("  MÜLLER ", "müller", "müller", "müller"),
    ("Zoë", "zoë", "zoë", "zoë"),
    (" Mr. Alex  ", "mralex", "alex", "mr. alex"),
    ("Smith Jr.", "smithjr", "smith jr.", "smith"),
    ("--", None, None, None),
])
def test_names_with_accents_hyphens_and_honorifics(raw, meta, google_first, google_last):
    assert hashing.meta_name(raw) == meta
    assert hashing.google_first_name(raw) == google_first
    assert hashing.google_last_name(raw) == google_last


@pytest.mark.parametrize(("city", "expected"), [
    ("Menlo Park", "menlopark"), ("  Menlo-Park ", "menlopark"), ("St. Louis", "stlouis"), ("São Paulo", "sãopaulo"),
])
def test_meta_city(city, expected):
    assert hashing.meta_city(city) == expected


@pytest.mark.parametrize(("state", "country", "expected"), [
    ("California", "US", "ca"), ("CA", None, "ca"), (" new york ", "United States", "ny"),
    ("Nordrhein-Westfalen", "DE", "nordrheinwestfalen"), ("Georgia", "GE", "georgia"),
])
def test_meta_state(state, country, expected):
    assert hashing.meta_state(state, country) == expected


@pytest.mark.parametrize(("postcode", "country", "expected"), [
    ("94035-1234", "US", "94035"), ("941041234", "US", "94104"), ("02134", "US", "02134"),
    ("37221-3312", None, "37221"), ("M1 1AE", "GB", "m11ae"), ("1229-076", "PT", "1229076"), ("75018", "FR", "75018"),
    # a spreadsheet stripped the leading zero: Boston's 02134 is "2134" (only in the US)
    ("2134", "US", "02134"), ("501", "United States", "00501"), ("2134-1234", "US", "02134"), ("2000", "AU", "2000"),
])
def test_meta_zip(postcode, country, expected):
    assert hashing.meta_zip(postcode, country) == expected


@pytest.mark.parametrize(("raw", "iso"), [
    ("US", "US"), (" us", "US"), ("United Kingdom", "GB"), ("UK", "GB"), ("Germany", "DE"),
    ("Deutschland", "DE"), ("Atlantis", None), ("", None),
])
def test_country_codes(raw, iso):
    assert hashing.google_country(raw) == iso
    assert hashing.meta_country(raw) == (iso.lower() if iso else None)


def test_google_zip_is_sent_as_written():
    assert hashing.google_zip(" 1229-076  ") == "1229-076"
    assert hashing.google_zip(" 1229-076  ", "PT") == "1229-076"


def test_google_zip_of_a_us_zip_that_lost_its_leading_zeros_gets_them_back():
    assert [hashing.google_zip(z, "US") for z in ("2134", "501", "2134-1234", "21341234", "02134")] == [
        "02134", "00501", "02134-1234", "02134-1234", "02134"]
    assert [hashing.google_zip("2134", c) for c in (None, "AU", "Denmark")] == ["2134"] * 3


def test_sha256_is_lower_case_hex_and_passes_existing_digests_through():
    digest = hashing.sha256_hex("alexz@example.com")
    assert digest == hashlib.sha256(b"alexz@example.com").hexdigest() and digest == digest.lower()
    assert hashing.sha256_hex(digest.upper()) == digest  # never hash a hash
    assert hashing.sha256_hex(None) is None and hashing.sha256_hex("") is None
