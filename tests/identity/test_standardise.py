"""Every standardiser: emails, phones, names, addresses, postcodes, countries, placeholders."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import duckdb
import pytest

from exports import hashing
from identity.schema import PERSON_RECORD_COLUMNS
from identity.standardise import (
    placeholders,
    standardise,
    standardise_phone,
)


@dataclass
class FakeSettings:
    """Only the fields standardise reads (a real object, not a mock of DuckDB)."""

    default_phone_region: str = "US"
    identity_placeholders: tuple[str, ...] | None = None


def _standardise(rows: list[dict], settings: object | None = None) -> list[dict]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    columns = ", ".join(f"{name} {kind}" for name, kind in PERSON_RECORD_COLUMNS.items())
    con.execute(f"CREATE TABLE identity.person_records ({columns})")
    for number, row in enumerate(rows):
        values = {"source_system": "csv", "source_record_id": str(number), **row}
        names = ", ".join(values)
        con.execute(
            f"INSERT INTO identity.person_records ({names}) VALUES ({', '.join('?' for _ in values)})",
            list(values.values()),
        )
    standardise(con, settings or FakeSettings())
    cursor = con.execute("SELECT * FROM identity.person_records_standardised ORDER BY CAST(source_record_id AS INT)")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Doe@Example.COM ", "john.doe@example.com"),
        ("o'neil+news@mail.co.uk", "o'neil+news@mail.co.uk"),
        ("bad@", None),
        ("no-at-sign.com", None),
        ("two@@signs.com", None),
        ("TEST@TEST.COM", None),
        ("noemail@example.com", None),
        ("no-reply@shop.com", None),
        ("nora@example.com", "nora@example.com"),
        ("No@No.com", None),
        ("abc@abc.net", None),
        ("john@johnsmith.com", "john@johnsmith.com"),
        ("mail@gmail.com", "mail@gmail.com"),
        ("x@x.co.uk", None),
        ("hr@hr.acme.com", "hr@hr.acme.com"),
        ("news@news.bbc.co.uk", "news@news.bbc.co.uk"),
        ("jane@jane.doe.name", "jane@jane.doe.name"),
        ("", None),
    ],
)
def test_email_is_trimmed_lowercased_and_validated(raw: str, expected: str | None) -> None:
    assert _standardise([{"email": raw}])[0]["email"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann Lee <Ann.Lee@Example.com>", "ann.lee@example.com"),
        ('"Lee, Ann" < ann@x.com >', "ann@x.com"),
        ("<ann@x.com>", "ann@x.com"),
        ("mailto:Ann@X.com", "ann@x.com"),
        ("MAILTO:ann@x.com?subject=hi", "ann@x.com"),
        ("Ann <not an address>", None),
        ("ann@x.com <", None),
    ],
)
def test_email_in_the_forms_mail_programs_copy_is_the_address(raw: str, expected: str | None) -> None:
    """'Ann Lee <ann@x.com>' pasted from a mail program was no e-mail at all (NULL), so it linked
    nobody, although the suppression list already read that form as the address."""
    assert _standardise([{"email": raw}])[0]["email"] == expected


@pytest.mark.parametrize("junk", ["\t", "\r", "\n", "\r\n", "\xa0", "\u200b", "\ufeff", "\u3000", " \u200b\t"])
def test_whitespace_and_zero_width_characters_around_values_are_stripped(junk: str) -> None:
    """DuckDB's trim removes spaces only: an e-mail with a tab, CR or zero-width space around it
    failed the address pattern and became NULL; a card number or web id kept them and linked nobody."""
    [row] = _standardise([{
        "email": f"{junk}Ann.Lee@Example.com{junk}", "phone": f"{junk}(212) 555-0123{junk}",
        "first_name": f"{junk}An\u200bn{junk}", "last_name": f"{junk}Lee", "state": f"ny{junk}",
        "loyalty_card_number": f"{junk}LC-1234{junk}", "web_user_id": f"{junk}u-1{junk}",
        "web_anonymous_id": f"{junk}anon-1", "street": f"1 Main St{junk}", "city": f"{junk}Springfield",
    }])
    assert [row[name] for name in ("email", "phone", "first_name", "last_name", "state", "loyalty_card_number",
                                   "web_user_id", "web_anonymous_id", "street", "city")] == [
        "ann.lee@example.com", "+12125550123", "ann", "lee", "NY", "LC1234", "u-1", "anon-1", "1 main st",
        "springfield"]


@pytest.mark.parametrize(
    "raw",
    ["ann@gmial.com", "john.smith@man.com", "jo@cloud.com", "kim@life.com", "lee@ao.com", "ann@ymail.com"],
)
def test_email_domain_is_never_rewritten(raw: str) -> None:
    """A 'misspelt' provider domain may be a real one (man.com is not msn.com), and an opt-out or
    erasure request names the address as the person typed it: the address is kept as typed."""
    assert _standardise([{"email": raw.upper()}])[0]["email"] == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 555-0123", "+12125550123"),
        ("212.555.0123", "+12125550123"),
        # Review finding: Python's \\d matched these, so they became "+1２１２５５５０１２３".
        ("２１２５５５０１２３", "+12125550123"), ("٢١٢٥٥٥٠١٢٣", "+12125550123"),
        ("＋４４ ２０ ７９４６ ０９５８", "+442079460958"),
        ("1 212 555 0123", "+12125550123"),
        ("+44 20 7946 0958", "+442079460958"),
        ("000-000-0000", None),
        ("123-456-7890", None),
        ("555-1234", None),
        ("call me", None),
    ],
)
def test_phone_to_e164_or_null(raw: str, expected: str | None) -> None:
    assert standardise_phone(raw, "US", frozenset({"0000000000", "1234567890"})) == expected


def test_numbering_and_footnote_marks_are_no_digits_of_a_phone() -> None:
    """Review finding: folding every compatibility form (NFKC) read ① as 1, so ①090-1234-5678 became
    the other possible number +81109012345678; only decimal digits and full-width forms are folded."""
    assert standardise_phone("①090-1234-5678", "JP", frozenset()) == "+819012345678"
    assert standardise_phone("２１２５５５０１２３²", "US", frozenset()) != "+121255501232"


@pytest.mark.parametrize("raw", ["+1 987-654-3210", "+1 (012) 345-6789", "0123456789", "+49 123 456789"])
def test_phone_counting_up_or_down_is_a_placeholder(raw: str) -> None:
    """Digits typed in a row to get past a form link strangers; none is in the default list."""
    rows = _standardise([{"phone": raw}, {"phone": "(212) 555-0123"}], FakeSettings(default_phone_region="US"))
    assert [row["phone"] for row in rows] == [None, "+12125550123"]


@pytest.mark.parametrize(("raw", "expected"), [("+1 678 901 2345", "+16789012345"), ("+372 567 8901", "+3725678901")])
def test_a_real_number_with_a_short_or_wrapped_run_is_kept(raw: str, expected: str) -> None:
    """Atlanta's 678-901-... counts up only by wrapping 9 -> 0; Estonian mobiles are 5678 xxxx."""
    assert _standardise([{"phone": raw}])[0]["phone"] == expected


def test_phone_default_region_comes_from_settings() -> None:
    rows = _standardise([{"phone": "020 7946 0958"}], FakeSettings(default_phone_region="GB"))
    assert rows[0]["phone"] == "+442079460958"


@pytest.mark.parametrize("region", ["US", "GB", "DE", "AU"])
def test_phone_with_the_00_international_prefix_is_the_plus_form(region: str) -> None:
    """`0044 20 7946 0958` was no number with the default region US (phonenumbers reads 00 as the
    international prefix only where the region's is 00), so it never linked with `+44 20 7946 0958`;
    the exports read it as +44 (identity.phones is the one rule for both)."""
    written = [
        ("0044 20 7946 0958", "+442079460958"), ("+44 20 7946 0958", "+442079460958"),
        ("00 1 212 555 0123", "+12125550123"), ("+1 212 555 0123", "+12125550123"),
        ("+0044 20 7946 0958", "+442079460958"), ("0044 20 7946 0958 ext. 12", "+442079460958"),
        ("00-49-30-1234567", "+49301234567"),
    ]
    rows = _standardise([{"phone": raw} for raw, _ in written], FakeSettings(default_phone_region=region))
    assert [row["phone"] for row in rows] == [expected for _, expected in written]
    for raw, expected in written:
        assert hashing.to_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        # One 0 is the national trunk prefix: still read in the default region.
        ("020 7946 0958", "GB", "+442079460958"), ("07700 900123", "GB", "+447700900123"),
        ("030 1234567", "DE", "+49301234567"), ("020 7946 0958", "US", None),
        # A region whose international prefix is not 00 still reads its own.
        ("0011 44 20 7946 0958", "AU", "+442079460958"), ("011 44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_national_numbers_and_other_international_prefixes_are_read_as_before(raw, region, expected) -> None:
    assert standardise_phone(raw, region, frozenset()) == expected
    assert hashing.to_e164(raw, region) == expected


def test_phones_in_table_are_standardised_once_per_distinct_value() -> None:
    rows = _standardise([{"phone": "(212) 555-0123"}, {"phone": "(212) 555-0123"}, {"phone": "0000000000"}])
    assert [row["phone"] for row in rows] == ["+12125550123", "+12125550123", None]


def test_names_lose_case_accents_punctuation_titles_and_suffixes() -> None:
    rows = _standardise([
        {"first_name": "  Mr. José ", "last_name": "O'Brien-Smith Jr."},
        {"first_name": "ZOË", "last_name": "Müller"},
        {"first_name": "Mary  Ann", "last_name": "  de la  Cruz "},
    ])
    assert [(row["first_name"], row["last_name"]) for row in rows] == [
        ("jose", "obrien smith"),
        ("zoe", "muller"),
        ("mary ann", "de la cruz"),
    ]
    assert [row["name_suffix"] for row in rows] == ["jr", None, None]


def test_generational_suffixes_are_read_in_every_spelling_and_off_the_first_name() -> None:
    """Senior, Snr, 2nd were kept in the last name, and "John Jr" read as a middle name."""
    rows = _standardise([
        {"first_name": "John", "last_name": "Smith Senior"}, {"first_name": "John", "last_name": "Smith Jnr"},
        {"first_name": "John", "last_name": "Smith 2nd"}, {"first_name": "John Jr.", "last_name": "Smith"},
        {"first_name": "John Jr", "last_name": "Smith Sr"}, {"first_name": "Jr", "last_name": "Senior"},
    ])
    assert [(row["first_name"], row["last_name"], row["name_suffix"]) for row in rows] == [
        ("john", "smith", "sr"), ("john", "smith", "jr"), ("john", "smith", "ii"), ("john", "smith", "jr"),
        ("john", "smith", "sr"),  # the last name's suffix wins
        ("jr", "senior", None),  # a one-word name is the name itself
    ]


def test_placeholder_web_ids_are_dropped_as_the_nightly_person_records_drop_them() -> None:
    """`cdp resolve` only trimmed web ids: six strangers sharing "undefined", "null" or "0" were three customers."""
    rows = _standardise([{"web_user_id": "undefined", "web_anonymous_id": " NULL "}, {"web_user_id": "0"},
                         {"web_user_id": " u7 ", "web_anonymous_id": "a1"}])
    assert [(row["web_user_id"], row["web_anonymous_id"]) for row in rows] == [(None, None), (None, None), ("u7", "a1")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Only a-z and 0-9 were kept: names in other scripts vanished, and Latin letters that
        # strip_accents leaves alone split the name ("s ren", "ukasz", "stra e").
        ("Иван", "иван"), ("Мария Петрова", "мария петрова"), ("王伟", "王伟"), ("محمد", "محمد"),
        ("Søren", "soren"), ("ØRJAN", "orjan"), ("Łukasz", "lukasz"), ("Straße", "strasse"), ("Æsa", "aesa"),
        ("Œuvray", "oeuvray"), ("Đorđe", "dorde"), ("Þór", "thor"), ("Yılmaz", "yilmaz"), ("Ðan", "dan"),
        ("Ωμέγα", "ωμεγα"), ("Ёлкин", "елкин"), ("Oʼbrien", "obrien"), ("Nguyễn Văn", "nguyen van"),
        # Where accents are spelling they stay: राम (Ram) is not रमा (Rama), ジュン (Jun) not シュン (Shun).
        ("राम", "राम"), ("रमा", "रमा"), ("ジュン", "ジュン"), ("シュン", "シュン"),
        # Review finding: full-width letters and decomposed Hangul (macOS) were other spellings.
        ("ＭＩＮＡ", "mina"), ("Ｓｔｒａßｅ ２", "strasse 2"), ("Ｏ＇Ｂｒｉｅｎ", "obrien"), ("Ｓｔ．Ｊｏｈｎ", "stjohn"),
        (unicodedata.normalize("NFD", "김 민준"), "김 민준"), (unicodedata.normalize("NFD", "ジュン"), "ジュン"),
    ],
)
def test_names_in_every_script_keep_their_letters(raw: str, expected: str) -> None:
    [row] = _standardise([{"first_name": raw, "city": raw}])
    assert row["first_name"] == row["city"] == expected


def test_a_placeholder_is_cleaned_as_names_are() -> None:
    """The placeholders' cleaned spellings were computed in Python with a-z and 0-9 only, so "н/д"
    (Russian n/a) had none, while the name became "н д" once names kept Cyrillic letters."""
    settings = FakeSettings(identity_placeholders=("н/д", "нет"))
    rows = _standardise([{"first_name": "Н/Д", "last_name": "Нет"}, {"first_name": "Надя", "last_name": "Нетто"}],
                        settings)
    assert [(row["first_name"], row["last_name"]) for row in rows] == [(None, None), ("надя", "нетто")]


def test_first_name_canonical_resolves_unambiguous_short_forms() -> None:
    rows = _standardise([{"first_name": "Bob"}, {"first_name": "Maggie"}, {"first_name": "Pat"},
                         {"first_name": "Sandra"}, {"first_name": "Zelda"}])
    assert [row["first_name_canonical"] for row in rows] == ["robert", "margaret", "pat", "sandra", "zelda"]


def test_street_abbreviations_are_unified() -> None:
    rows = _standardise([
        {"street": "12 North Main Street, Apt. 4"},
        {"street": "12 N. Main St Apt 4"},
        {"street": "9 Sunset Boulevard"},
        {"street": "1 Elm Avenue"},
    ])
    assert rows[0]["street"] == rows[1]["street"] == "12 n main st 4"
    assert rows[2]["street"] == "9 sunset blvd"
    assert rows[3]["street"] == "1 elm ave"


def test_unit_designators_before_a_unit_number_compare_equal() -> None:
    """`#4B` became "4b" but `Apt 4B` "apt 4b" and `Unit 4B` "unit 4b": one flat, three streets,
    so records never met in the blocking rules on street. Another unit, or a designator with no
    unit number after it, or a street named Unit, stays apart."""
    same = ["12 Main St #4B", "12 Main St Apt 4B", "12 Main Street, Apartment 4B", "12 Main St Unit 4B",
            "12 Main St Suite 4B", "12 Main St Apt. #4B", "12 Main St 4B", "12 MAIN ST # 4b"]
    apart = ["12 Main St Apt 5B", "12 Main St", "12 Main St Apt", "1 Unit St", "12 Main St Bldg 4B"]
    rows = _standardise([{"street": street} for street in same + apart])
    assert {row["street"] for row in rows[:len(same)]} == {"12 main st 4b"}
    assert [row["street"] for row in rows[len(same):]] == [
        "12 main st 5b", "12 main st", "12 main st apt", "1 unit st", "12 main st bldg 4b",
    ]


def test_postcode_city_state_country_are_cleaned() -> None:
    rows = _standardise([
        {"postcode": "12345-6789", "city": "São Paulo", "state": " il ", "country": "United States"},
        {"postcode": "sw1a 1aa", "city": "St. Louis", "state": None, "country": "uk"},
    ])
    assert (rows[0]["postcode"], rows[0]["city"], rows[0]["state"], rows[0]["country"]) == (
        "12345", "sao paulo", "IL", "US")
    assert (rows[1]["postcode"], rows[1]["city"], rows[1]["country"]) == ("SW1A1AA", "st louis", "GB")


def test_us_zip_that_lost_its_leading_zeros_gets_them_back_only_in_the_us() -> None:
    """A spreadsheet turned 02134 into 2134: the Boston records no longer shared a postcode."""
    rows = _standardise([
        {"postcode": "2134", "country": "USA"},
        {"postcode": "501", "country": "US"},
        {"postcode": "2134-1234", "country": "United States"},
        {"postcode": "02134", "country": "US"},
        {"postcode": "2000", "country": "Australia"},
        {"postcode": "2134", "country": None},
        {"postcode": "12", "country": "US"},
    ])
    assert [row["postcode"] for row in rows] == ["02134", "00501", "02134", "02134", "2000", "2134", "12"]


def test_default_placeholders_become_null() -> None:
    rows = _standardise([{"first_name": "Unknown", "last_name": "N/A", "email": "test@test.com",
                          "phone": "0000000000", "street": "n/a", "city": "none", "postcode": "NA"}])
    row = rows[0]
    assert [row[f] for f in ("first_name", "last_name", "email", "phone", "street", "city", "postcode")] == [None] * 7


def test_placeholder_list_is_configurable_and_adds_to_the_built_in_one() -> None:
    """A configured list replaced the built-in one: "N/A" and "none" became loyalty cards again."""
    settings = FakeSettings(identity_placeholders=("donald", "duck@example.com"))
    rows = _standardise([{"first_name": "Donald", "email": "duck@example.com", "last_name": "unknown",
                          "loyalty_card_number": "N/A"}], settings)
    assert rows[0]["first_name"] is None
    assert rows[0]["email"] is None
    # The built-in placeholders still apply.
    assert rows[0]["last_name"] is None
    assert rows[0]["loyalty_card_number"] is None
    assert "n a" in placeholders(FakeSettings())
    assert set(placeholders(FakeSettings())) < set(placeholders(FakeSettings(identity_placeholders="noreply@shop.com")))


def test_implausible_birth_dates_are_null() -> None:
    rows = _standardise([{"date_of_birth": date(1900, 1, 1)}, {"date_of_birth": date(1970, 1, 1)},
                         {"date_of_birth": date(1985, 3, 4)}])
    assert [row["date_of_birth"] for row in rows] == [None, None, date(1985, 3, 4)]


def test_loyalty_card_and_ids_are_trimmed() -> None:
    rows = _standardise([{"loyalty_card_number": " ab-12 34 ", "web_user_id": " u1 ", "web_anonymous_id": ""}])
    assert (rows[0]["loyalty_card_number"], rows[0]["web_user_id"], rows[0]["web_anonymous_id"]) == (
        "AB1234", "u1", None)


@pytest.mark.parametrize("region", ["US", "GB"])
def test_sql_fast_path_for_north_american_phones_agrees_with_phonenumbers(region: str) -> None:
    raw = ["(212) 555-0123", "1 212 555 0123", "+1 212 555 0123", "12125550123", "2125550123", "+2125550123",
           "+44 20 7946 0958", "020 7946 0958", "000-000-0000", "123-456-7890", "555-0000000", "1-800-555-0100",
           "212-555-0123 x12", "0125550123", "+1 111 111 1111", "415 555 0199"]
    settings = FakeSettings(default_phone_region=region)
    table = [row["phone"] for row in _standardise([{"phone": value} for value in raw], settings)]
    digits = frozenset(re.sub(r"\D", "", p) for p in placeholders(settings) if re.sub(r"\D", "", p))
    assert table == [standardise_phone(value, region, digits) for value in raw]


def _person_records(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in PERSON_RECORD_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE identity.person_records ({columns})")
    for row in rows:
        con.execute(
            f"INSERT INTO identity.person_records ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            list(row.values()),
        )


def _standardised(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * FROM identity.person_records_standardised ORDER BY ALL").fetchall()


def test_incremental_standardise_redoes_only_new_and_changed_records() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    night_1 = [
        {"source_system": "csv", "source_record_id": "kept", "first_name": "Bob", "email": " A@X.COM "},
        {"source_system": "csv", "source_record_id": "changed", "first_name": "Ann", "phone": "(212) 555-0123"},
        {"source_system": "csv", "source_record_id": "gone", "first_name": "Pat"},
    ]
    _person_records(con, night_1)
    standardise(con, FakeSettings(), incremental=True)
    # A marker on the unchanged record shows whether its row was reused or standardised again.
    con.execute("UPDATE identity.person_records_standardised SET city = 'reused' WHERE source_record_id = 'kept'")
    night_2 = [night_1[0], {**night_1[1], "phone": "212 555 0199"},
               {"source_system": "csv", "source_record_id": "new", "first_name": "Maggie"}]
    _person_records(con, night_2)
    assert standardise(con, FakeSettings(), incremental=True) == 3

    rows = {row[1]: row for row in _standardised(con)}
    assert set(rows) == {"kept", "changed", "new"}
    assert rows["kept"][8] == "reused"  # city column: the row was not recomputed
    assert rows["changed"][6] == "+12125550199"
    assert rows["new"][-1] == "margaret"
    hashes = "SELECT * FROM identity.person_records_standardised_input ORDER BY ALL"
    kept_hashes = con.execute(hashes).fetchall()
    assert [row[1] for row in kept_hashes] == ["changed", "kept", "new"]

    # Apart from the marker, the result is what a full run gives.
    con.execute("UPDATE identity.person_records_standardised SET city = NULL WHERE source_record_id = 'kept'")
    incremental = _standardised(con)
    standardise(con, FakeSettings())
    assert _standardised(con) == incremental
    # The hash table kept up to date row by row is the one a from-scratch run writes.
    standardise(con, FakeSettings(), incremental=True)
    assert con.execute(hashes).fetchall() == kept_hashes


def test_incremental_standardise_starts_over_when_the_rules_change() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    _person_records(con, [{"source_system": "csv", "source_record_id": "1", "first_name": "Acme"}])
    standardise(con, FakeSettings(identity_placeholders=("unknown",)), incremental=True)
    assert _standardised(con)[0][2] == "acme"
    # Same raw rows, but "acme" is now a placeholder: nothing may be reused.
    standardise(con, FakeSettings(identity_placeholders=("acme",)), incremental=True)
    assert _standardised(con)[0][2] is None
    # A full run in between leaves no reusable state behind either.
    standardise(con, FakeSettings())
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'person_records_standardised_input'"
    ).fetchall() == [(0,)]


def test_a_configured_entry_with_a_leading_minus_takes_a_built_in_placeholder_off() -> None:
    """The setting could only add: Nil (Turkish) and Na (Korean) were nulled as placeholders."""
    rows = _standardise([{"first_name": "Nil", "last_name": "Na", "email": "n/a"}, {"first_name": "-"}],
                        FakeSettings(identity_placeholders="-nil, -na,"))
    assert [(row["first_name"], row["last_name"]) for row in rows] == [("nil", "na"), (None, None)]
    assert "n/a" in placeholders(FakeSettings(identity_placeholders="-na"))
