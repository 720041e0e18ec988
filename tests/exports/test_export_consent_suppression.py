"""Consent and suppression: who may never appear in any export."""

from __future__ import annotations

import pandas as pd
import pytest
from exports_testkit import SUPPRESSION, build_warehouse, execute, export_folder, ids, read_csv, sha

from cdp import dbt
from exports import audience
from exports.audience import ExportInputError
from exports.runner import export
from quality.gate import QualityGateFailed, run_export_gate


def test_segment_consent_and_every_suppression_identifier_are_enforced(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    # c3 erased through an older e-mail (different case, padded), c4 opted out by a local-format
    # phone, c5 by customer_id, c6 consent unknown (NULL), c7 no e-mail consent.
    assert ids(settings, "vip", "csv", "run-1") == ["c1", "c2"]


def test_segment_without_consent_purpose_still_applies_suppression(settings):
    result = export(settings, "run-1", segment="everyone", fmt="csv", gate=None)[0]
    assert ids(settings, "everyone", "csv", "run-1") == ["c1", "c2", "c6", "c7", "c8"]
    assert (result["excluded_suppressed"], result["excluded_no_consent"]) == (3, 0)


def test_ad_platforms_also_require_ad_targeting_consent(settings):
    export(settings, "run-1", segment="vip", fmt="google", gate=None)
    _, rows = read_csv(export_folder(settings, "vip", "google", "run-1") / "snapshot.csv")
    # c2 agreed to e-mail marketing but not to ad targeting: not uploaded to an ad platform.
    assert [r["Email"] for r in rows] == [sha("ada@example.com")]


def test_suppressed_hashes_never_reach_an_ad_platform(settings):
    for fmt in ("google", "meta"):
        export(settings, "run-1", segment="everyone", fmt=fmt, gate=None)
        text = (export_folder(settings, "everyone", fmt, "run-1") / "snapshot.csv").read_text()
        for email in ("erin@example.com", "otto@example.com", "ida@example.com"):
            assert sha(email) not in text


def test_store_customer_id_in_the_suppression_list_blocks_the_resolved_customer(settings):
    execute(settings, "CREATE SCHEMA IF NOT EXISTS identity")
    execute(settings, "CREATE TABLE identity.customer_map (source_system VARCHAR, source_record_id VARCHAR, "
                      "customer_id VARCHAR, resolved_at TIMESTAMP)")
    execute(settings, "INSERT INTO identity.customer_map VALUES ('store', '4711', 'c1', TIMESTAMP '2026-11-22')")
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "4711", "erasure")])
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert ids(settings, "vip", "csv", "run-1") == ["c2"]


def test_a_newly_suppressed_customer_is_removed_downstream(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    export(settings, "run-1", segment="vip", fmt="google", gate=None)
    # The suppression list is only appended to: a later erasure request arrives.
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ADA@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    export(settings, "run-2", segment="vip", fmt="google", gate=None)
    assert ids(settings, "vip", "csv", "run-2") == ["c2"]
    assert ids(settings, "vip", "csv", "run-2", "removed.csv") == ["c1"]
    _, removed = read_csv(export_folder(settings, "vip", "csv", "run-2") / "removed.csv")
    assert list(removed[0]) == ["customer_id"]  # no PII of an erased person in the diff
    _, google_removed = read_csv(export_folder(settings, "vip", "google", "run-2") / "removed.csv")
    assert [r["Email"] for r in google_removed] == [sha("ada@example.com")]  # tell Google to drop her


def test_missing_suppression_list_stops_the_export(settings):
    execute(settings, "DROP TABLE raw.suppression_list")
    with pytest.raises(ExportInputError, match=r"raw\.suppression_list"):
        export(settings, "run-1", gate=None)
    assert not (settings.export_dir / "vip").exists()


def test_unknown_consent_purpose_is_refused(settings):
    build_warehouse(settings, segments=[("vip", "x", "crm", "telepathy")])
    with pytest.raises(ExportInputError, match="telepathy"):
        export(settings, "run-1", segment="vip", fmt="csv", gate=None)


def test_store_customer_ids_that_cannot_be_mapped_stop_the_export(settings):
    # No identity.customer_map in this warehouse, and 4711 is not a resolved customer id.
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "4711", "erasure")])
    with pytest.raises(ExportInputError, match=r"identity\.customer_map"):
        export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert not export_folder(settings, "vip", "csv", "run-1").exists()


def test_gate_requires_ad_targeting_consent_for_ad_platforms(settings):
    # c2 consented to e-mail marketing but not to ad targeting: the gate must refuse it in a
    # google frame of the e-mail segment `vip`, not only the exporter.
    name = "vip/google/snapshot.csv"
    frame = pd.DataFrame({"Email": [sha("jose@example.com")], "Phone": [None], "First Name": [None],
                          "Last Name": [None], "Country": ["US"], "Zip": ["95112"]})
    context = {"segment_name": {name: "vip"}, "consent_purpose": {name: "email_marketing"},
               "hashed_columns": {name: ["Email", "Phone", "First Name", "Last Name"]},
               "customer_ids": {name: ["c2"]}, "destination": {name: "google"}}
    with pytest.raises(QualityGateFailed, match="exported_customers_consented"):
        run_export_gate(settings, "run-x", {name: frame}, context)
    # The same customer in the e-mail file is fine: csv needs e-mail consent only.
    csv_name = "vip/csv/snapshot.csv"
    result = run_export_gate(settings, "run-x", {csv_name: pd.DataFrame({"customer_id": ["c2"]})},
                             {"segment_name": "vip", "destination": {csv_name: "csv"}, "hashed_columns": []})
    assert result.passed


@pytest.mark.parametrize(("row", "expected"), [
    (("fax", "+16505550000", "opt_out"), "suppression.csv:1 (identifier_type 'fax'): unknown identifier_type"),
    (("email", "   ", "erasure"), "suppression.csv:1 (identifier_type 'email'): empty identifier"),
    (("email", "not-an-address", "erasure"), "suppression.csv:1 (identifier_type 'email'): not an e-mail"),
    # A UK mobile written nationally, read in the default region (US): no US number, and its digits
    # never equal a customer's E.164 phone, so it would silently match nobody.
    (("phone", "07700 900123", "opt_out"), "suppression.csv:1 (identifier_type 'phone'): not a valid US number"),
    (("phone", "+1 650 555", "opt_out"), "suppression.csv:1 (identifier_type 'phone'): not a phone number for"),
    # Text with an @ and a dot that is still no address: accepted before, then matched nobody.
    (("email", "ada@example.com;", "erasure"), "suppression.csv:1 (identifier_type 'email'): not an e-mail"),
    (("email", "ada@example.", "erasure"), "suppression.csv:1 (identifier_type 'email'): not an e-mail"),
    (("email", "<ada@example>", "erasure"), "suppression.csv:1 (identifier_type 'email'): not an e-mail"),
    (("email", "mailto:ada@example", "erasure"), "suppression.csv:1 (identifier_type 'email'): not an e-mail"),
])
def test_a_suppression_row_that_cannot_be_applied_stops_the_export(settings, row, expected):
    build_warehouse(settings, suppression=[*SUPPRESSION, row])
    with pytest.raises(ExportInputError) as excinfo:
        export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert expected in str(excinfo.value)
    assert not export_folder(settings, "vip", "csv", "run-1").exists()


def test_consent_purposes_come_from_the_segment_definitions():
    assert audience.CONSENT_PURPOSES is dbt.CONSENT_PURPOSES


def test_a_phone_opt_out_with_an_extension_blocks_the_number(settings):
    # The extension is not part of the number: its digits must not be glued onto it.
    build_warehouse(settings, suppression=[*SUPPRESSION, ("phone", "+1 (650) 555-0101 ext. 12", "opt_out"),
                                           ("phone", "+44 7700 900123 x5", "opt_out")])
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    export(settings, "run-1", segment="retarget", fmt="google", gate=None)
    assert ids(settings, "vip", "csv", "run-1") == []  # c1 and c2 opted out by phone
    google = (export_folder(settings, "retarget", "google", "run-1") / "snapshot.csv").read_text()
    assert sha("+447700900123") not in google and sha("ada@example.com") not in google


def test_an_e_mail_opt_out_written_as_name_and_address_or_mailto_blocks_the_address(settings):
    # What mail programs write: the address inside is what the person meant.
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "Ada Lovelace <ADA@example.com>", "erasure"),
                                           ("email", "mailto:jose@example.com?subject=unsubscribe", "opt_out")])
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    export(settings, "run-1", segment="retarget", fmt="meta", gate=None)
    assert ids(settings, "vip", "csv", "run-1") == []  # c1 (Ada) and c2 (José)
    meta = (export_folder(settings, "retarget", "meta", "run-1") / "snapshot.csv").read_text()
    assert sha("ada@example.com") not in meta


def test_missing_consent_purpose_is_refused_not_read_as_none(settings):
    # marts.segments built around its not_null test (a failed build, a hand-made table): NULL is not
    # "no consent needed", or everyone in the segment would be exported.
    build_warehouse(settings, segments=[("vip", "x", "crm", None)])
    with pytest.raises(ExportInputError, match=r"segment 'vip' has no consent_purpose"):
        export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert not (settings.export_dir / "vip").exists()
