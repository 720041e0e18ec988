"""The one suppression matcher: the exporter and the export quality gate agree on who is blocked."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    SUPPRESSION,
    build_warehouse,
    export_folder,
    ids,
    read_csv,
    sha,
)

from cdp.warehouse import connect
from exports import state
from exports.runner import export
from exports.suppression import Suppression
from quality.gate import QualityGateFailed, run_export_gate

JDOE = ("Jane", "Doe", "jdoe@gmail.com", None, "Austin", "73301", "TX", "US",
        ["jdoe@gmail.com"], [], True, True, True)


def failing(excinfo) -> set[str]:
    return {c.name for c in excinfo.value.result.critical_failures}


def test_erased_gmail_address_blocks_its_dotless_spelling_everywhere(settings):
    build_warehouse(settings, customers={**CUSTOMERS, "c9": JDOE},
                    memberships={**MEMBERSHIPS, "vip": [*MEMBERSHIPS["vip"], "c9"]},
                    suppression=[*SUPPRESSION, ("email", "j.doe@gmail.com", "erasure")])
    results = export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    results += export(settings, "run-1", segment="vip", fmt="google", gate=None)

    assert ids(settings, "vip", "csv", "run-1") == ["c1", "c2"]
    google = (export_folder(settings, "vip", "google", "run-1") / "snapshot.csv").read_text()
    assert sha("jdoe@gmail.com") not in google and read_csv(
        export_folder(settings, "vip", "google", "run-1") / "snapshot.csv")[1]
    assert [r["excluded_suppressed"] for r in results] == [4, 4]  # c3, c4, c5 and c9

    # The gate agrees: c9 in a file, or the hash Google would match on, is refused.
    name = "vip/google/snapshot.csv"
    frame = pd.DataFrame({"Email": [sha("jdoe@gmail.com")], "Phone": [None], "First Name": [None],
                          "Last Name": [None], "Country": ["US"], "Zip": ["73301"]})
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, "run-x", {name: frame}, {
            "segment_name": "vip", "destination": {name: "google"}, "customer_ids": {name: ["c9"]},
            "hashed_columns": {name: ["Email", "Phone", "First Name", "Last Name"]}})
    assert failing(excinfo) == {"no_suppressed_customers_exported", "no_suppressed_identifier_hashes"}


@pytest.mark.parametrize(("suppressed", "customer_email", "blocked"), [
    ("j.doe@gmail.com", "jdoe@gmail.com", True),
    ("jdoe@gmail.com", " J.Doe+News@Gmail.com ", True),
    ("J.Doe@Example.com", "j.doe@example.com", True),
    ("j.doe@example.com", "jdoe@example.com", False),  # dots only fold for Gmail
    # gmail.com and googlemail.com are one inbox (suppression only; the hashes sent are unchanged).
    ("j.doe@gmail.com", "jdoe@googlemail.com", True),
    ("anna@googlemail.com", "anna@gmail.com", True),
    ("A.nna+x@GoogleMail.com", "anna+news@gmail.com", True),
    ("anna@googlemail.com", "anna@gmail.co", False),
    ("anna@googlemail.com", "anna@mail.google.com", False),
])
def test_email_matching_uses_every_destination_form(suppressed, customer_email, blocked):
    suppression = Suppression(default_region="US")
    suppression.add("email", suppressed)
    assert suppression.matches({"customer_id": "x", "email": None, "emails": [customer_email]}) is blocked


@pytest.mark.parametrize("suppressed", [
    "\u200bada@example.com", "ada@example.com\u200b", "\ufeffada@example.com", "ada\u200b@example.com",
    "\u2060 Ada <ada@exam\u200cple.com>", "mailto:ada@example.com\ufeff",
])
def test_an_address_with_invisible_characters_blocks_the_visible_one(settings, suppressed):
    """A zero-width space or BOM pasted with an opted-out address was read as part of it, so the
    entry was accepted and blocked nobody (or, at the end, stopped the export as malformed)."""
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", suppressed, "opt_out")])
    export(settings, "run-1", segment="vip", gate=None)

    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    for fmt in ("google", "meta"):
        snapshot = (export_folder(settings, "vip", fmt, "run-1") / "snapshot.csv").read_text()
        assert sha("ada@example.com") not in snapshot


@pytest.mark.parametrize("customer_email", ["ada\u200b@example.com", "\ufeffAda@Example.com", "ada@example.com\u200d"])
def test_a_customer_address_with_invisible_characters_is_matched_as_the_visible_one(customer_email):
    suppression = Suppression(default_region="US")
    suppression.add("email", "ada@example.com")
    customer = {"customer_id": "x", "email": customer_email, "emails": [customer_email]}
    assert suppression.matches(customer)
    assert suppression.may_match_table(pa.Table.from_pylist([customer])).tolist() == [True]


def test_a_googlemail_request_blocks_the_same_gmail_inbox_everywhere(settings):
    """An opt-out for anna@googlemail.com did not block customer anna@gmail.com (the same inbox) in
    any format; what is sent to Google and Meta for other customers is unchanged."""
    anna = ("Anna", "Gee", "anna@gmail.com", None, "Austin", "73301", "TX", "US",
            ["anna@gmail.com"], [], True, True, True)
    bert = ("Bert", "Gee", "Bert@GoogleMail.com", None, "Austin", "73301", "TX", "US",
            ["bert@googlemail.com"], [], True, True, True)
    build_warehouse(settings, customers={**CUSTOMERS, "g3": anna, "g4": bert},
                    memberships={**MEMBERSHIPS, "vip": [*MEMBERSHIPS["vip"], "g3", "g4"],
                                 "retarget": [*MEMBERSHIPS["retarget"], "g3", "g4"]},
                    suppression=[*SUPPRESSION, ("email", "anna@googlemail.com", "opt_out")])
    export(settings, "run-1")  # the quality gate agrees

    assert ids(settings, "vip", "csv", "run-1") == ["c1", "c2", "g4"]
    google = read_csv(export_folder(settings, "retarget", "google", "run-1") / "snapshot.csv")[1]
    meta = read_csv(export_folder(settings, "retarget", "meta", "run-1") / "snapshot.csv")[1]
    assert sha("anna@gmail.com") not in {r["Email"] for r in google}
    assert sha("anna@gmail.com") not in {r["EMAIL"] for r in meta}
    # Googlemail stays Googlemail in what is hashed for the platforms.
    assert sha("bert@googlemail.com") in {r["Email"] for r in google}
    assert sha("bert@googlemail.com") in {r["EMAIL"] for r in meta}


def test_phone_without_country_code_is_read_in_the_default_region(settings):
    # c2's number is +16505550101; the request writes it the way a US caller would.
    build_warehouse(settings, suppression=[("phone", "650 555 0101", "opt_out")])
    suppression = Suppression(default_region="US")
    suppression.add("phone", "650 555 0101")
    assert {sha("+16505550101"), sha("16505550101")} <= suppression.hashes()

    name = "vip/google/snapshot.csv"
    frame = pd.DataFrame({"Email": [None], "Phone": [sha("+16505550101")], "First Name": [None],
                          "Last Name": [None], "Country": ["US"], "Zip": ["95112"]})
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, "run-x", {name: frame}, {
            "segment_name": "vip", "destination": {name: "google"}, "customer_ids": {name: ["c1"]},
            "hashed_columns": {name: ["Email", "Phone", "First Name", "Last Name"]}})
    assert failing(excinfo) == {"no_suppressed_identifier_hashes"}


def test_registered_view_is_dropped_even_when_the_statement_fails():
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (j JSON)")
        with pytest.raises(duckdb.Error), state.registered(con, "_rows", pa.table({"h": ["{not json"]})):
            con.execute("INSERT INTO t SELECT h::JSON FROM _rows")
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM _rows")
    finally:
        con.close()


def test_failed_member_insert_rolls_back_and_leaves_no_view(settings):
    members = pa.table({"customer_id": ["c1"], "member_key": ["k1"], "hashed_row": ["{not json"]})
    with connect(settings) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS exports")
        state.ensure_tables(con)
        with pytest.raises(duckdb.Error):
            state.record_published(con, segment="vip", destination="google", run_id="run-1",
                                   run_date=settings.run_date, members=members, previous=members.slice(0, 0),
                                   row_count=1, added=1,
                                   removed=0, previous_run_id=None, path="x")
        assert con.execute("SELECT count(*) FROM exports.export_members_current").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM exports.export_member_changes").fetchall() == [(0,)]
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM _export_members_new")


@pytest.mark.parametrize(("suppressed", "customer_phone", "country", "blocked"), [
    ("(650) 555-1212", "+1 650 555 1212", "US", True),
    ("+16505551212", "1-650-555-1212", "US", True),
    ("+16505551212", "650.555.1212 ext. 12", "US", True),       # extension: parsed, not prefiltered
    ("+18003569377", "1-800-FLOWERS", "US", True),              # letters: parsed, not prefiltered
    ("+44 20 7946 0018", "020 7946 0018", "GB", True),           # national prefix stripped at the front
    ("+44 20 7946 0018", "020 7946 0019", "GB", False),
    ("+16505551212", "+1 650 555 1213", "US", False),
    ("12345", "1-2345", "US", True),                            # short suppressed digits: no prefilter
])
def test_fast_phone_prefilter_never_hides_a_match(suppressed, customer_phone, country, blocked):
    suppression = Suppression(default_region="US")
    suppression.add("phone", suppressed)
    customer = {"customer_id": "c1", "phone": customer_phone, "phones": [], "country": country}
    assert suppression.matches(customer) is blocked


@pytest.mark.parametrize("written", ["２１２５５５０１２３", "٢١٢٥٥٥٠١٢٣", "212-555-0123²"])
def test_a_suppressed_phone_in_other_digits_blocks_the_ascii_number(written):
    """Review finding: the digits form of a suppression entry kept full-width and Arabic-Indic
    digits ("２１２５５５０１２３"), so it never equalled the customer's "2125550123"; a footnote
    mark (²) must not become a digit of the number either."""
    from exports.suppression import phone_forms

    assert ("digits", "2125550123") in phone_forms(written, "US")
