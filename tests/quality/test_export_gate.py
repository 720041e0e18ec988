"""The export gate on audience frames handed over by an exporter."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pytest
from quality_testkit import execute

from quality.gate import QualityGateFailed, run_export_gate, run_gate

RUN_ID = "run-2"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def failing(excinfo: pytest.ExceptionInfo[QualityGateFailed]) -> set[str]:
    return {c.name for c in excinfo.value.result.critical_failures}


def test_clean_hashed_export_passes_as_pandas_and_arrow(settings, clean_export):
    frames, context = clean_export
    arrow_frames = {name: pa.Table.from_pandas(frame) for name, frame in frames.items()}

    for given in (frames, arrow_frames):
        result = run_export_gate(settings, RUN_ID, given, context)
        assert result.passed, [c for c in result.checks if not c.passed]


def test_unconsented_customer_blocks_export(settings, clean_export):
    frames, context = clean_export
    # cust-c has not consented to e-mail marketing, which the high_value segment requires.
    frame = pd.concat([frames["high_value__google.csv"], pd.DataFrame(
        {"customer_id": ["cust-c"], "email_sha256": [sha256("cy@example.com")], "country": ["US"]})])

    with pytest.raises(QualityGateFailed, match="exported_customers_consented") as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": frame}, context)

    assert failing(excinfo) == {"exported_customers_consented"}
    check = next(c for c in excinfo.value.result.checks if c.name == "exported_customers_consented")
    assert "cust-c" in check.observed


def test_hashed_column_with_plain_text_blocks_export(settings, clean_export):
    frames, context = clean_export
    frame = frames["high_value__google.csv"].copy()
    frame.loc[1, "email_sha256"] = "bob@example.com"  # the exporter forgot to hash one value

    with pytest.raises(QualityGateFailed, match="hashed_columns_are_sha256") as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": frame}, context)

    assert failing(excinfo) == {"hashed_columns_are_sha256"}
    check = next(c for c in excinfo.value.result.checks if c.name == "hashed_columns_are_sha256")
    assert "high_value__google.csv/email_sha256" in check.observed
    assert "bob@example.com" not in check.observed  # the report must not repeat the leaked value
    assert "bob@example.com" not in str(excinfo.value)


def test_plain_values_in_hashed_columns_reach_no_file_under_reports(settings, clean_export):
    frames, context = clean_export
    frame = frames["high_value__google.csv"].copy()
    frame.loc[1, "email_sha256"] = "secret.person@example.org"
    frame.loc[0, "email_sha256"] = "+16505550123"

    with pytest.raises(QualityGateFailed):
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": frame}, context)

    files = {path: path.read_text(encoding="utf-8", errors="replace")
             for path in settings.reports_dir.rglob("*") if path.is_file()}
    assert any("data_docs" in str(path) for path in files) and any(path.suffix == ".json" for path in files)
    leaked = [str(path) for path, text in files.items() if "secret.person" in text or "6505550123" in text]
    assert leaked == []


def test_upper_case_hash_is_not_accepted(settings, clean_export):
    frames, context = clean_export
    frame = frames["high_value__google.csv"].copy()
    frame["email_sha256"] = frame["email_sha256"].str.upper()
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": frame}, context)
    assert failing(excinfo) == {"hashed_columns_are_sha256"}


def test_plain_pii_next_to_hashes_blocks_export(settings, clean_export):
    frames, context = clean_export
    frame = frames["high_value__google.csv"].assign(
        email=["ann@example.com", "bob@example.com"], note=["call +15551230001", "+15551230002"])

    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": frame}, context)

    assert failing(excinfo) == {"no_plain_pii_values_in_hashed_exports", "no_plain_pii_columns_in_hashed_exports"}


def test_suppressed_customer_blocks_export(settings, sql):
    # cust-e's e-mail is on the suppression list (erasure), and the hash of it must not leave either.
    sql("INSERT INTO marts.segment_memberships VALUES ('cust-e', 'high_value', '2026-11-23')")
    frame = pd.DataFrame({"customer_id": ["cust-a", "cust-e"],
                          "email_sha256": [sha256("ann@example.com"), sha256("erased@example.com")]})

    with pytest.raises(QualityGateFailed, match="no_suppressed_customers_exported") as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value.csv": frame}, {"segment_name": "high_value"})

    assert failing(excinfo) == {"no_suppressed_customers_exported", "no_suppressed_identifier_hashes"}


def test_suppression_by_store_customer_number(settings):
    # Suppression entry customer_id 777 is the store's number for the person resolved as cust-e.
    frame = pd.DataFrame({"customer_id": ["cust-e"], "segment": ["high_value"]})
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value.csv": frame},
                        {"segment_name": "high_value", "consent_purpose": "none", "hashed_columns": []})
    assert failing(excinfo) == {"no_suppressed_customers_exported"}


def test_export_without_customer_ids_cannot_pass(settings):
    frame = pd.DataFrame({"email_sha256": [sha256("ann@example.com")]})
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value.csv": frame}, {"segment_name": "high_value"})
    assert failing(excinfo) == {"export_frames_identify_customers"}

    # Handing the ids over separately (the file itself does not carry them) is enough.
    result = run_export_gate(settings, RUN_ID, {"high_value.csv": frame},
                             {"segment_name": "high_value", "customer_ids": {"high_value.csv": ["cust-a"]}})
    assert result.passed


def test_unknown_segment_fails_closed(settings, clean_export):
    frames, _ = clean_export
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, {"segment_name": "no_such_segment"})
    assert failing(excinfo) == {"exported_customers_consented"}


def test_run_gate_export_requires_frames(settings):
    with pytest.raises(ValueError, match="run_export_gate"):
        run_gate(settings, RUN_ID, "export")


def test_gate_reuses_its_decisions_but_catches_new_and_changed_suppression(settings, sql, clean_export):
    frames, context = clean_export
    assert run_export_gate(settings, RUN_ID, frames, context).passed
    stored = execute(settings, "SELECT customer_id, is_contact_match FROM meta.export_gate_suppression_decisions "
                               "ORDER BY 1")
    assert stored == [("cust-a", False), ("cust-b", False)]

    # Next night: a new erasure of Bob's address; his stored decision ("not suppressed") must not hide it.
    sql("INSERT INTO raw.suppression_list (identifier_type, identifier, reason) VALUES ('email', ' BOB@example.com', "
        "'erasure')")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, context)
    assert failing(excinfo) == {"no_suppressed_customers_exported", "no_suppressed_identifier_hashes"}
    check = next(c for c in excinfo.value.result.checks if c.name == "no_suppressed_customers_exported")
    # Ann's row is unchanged and passes: checked set-based, counted, not handed to GX again.
    assert "cust-b = True" in check.observed and "cust-a" not in check.observed
    assert "2 exported row(s) checked set-based against today's suppression list" in check.observed

    # The entry is withdrawn and Ann changes her phone to a suppressed one: both are re-matched from scratch.
    sql("DELETE FROM raw.suppression_list WHERE identifier = ' BOB@example.com'")
    sql("INSERT INTO raw.suppression_list (identifier_type, identifier, reason) VALUES ('phone', '(555) 123-9999', "
        "'opt_out')")
    assert run_export_gate(settings, RUN_ID, frames, context).passed
    sql("UPDATE marts.dim_customers SET phones = ['+15551239999'] WHERE customer_id = 'cust-a'")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, context)
    assert failing(excinfo) == {"no_suppressed_customers_exported"}


# The gate's incremental path: a row identical to one it passed before is not handed to GX's
# row-only checks again, but nothing that can change overnight without the row changing may slip.

def kept_rows(settings) -> int:
    return execute(settings, "SELECT count(*) FROM meta.export_gate_validated_rows")[0][0]


def test_unchanged_row_still_blocked_when_consent_is_withdrawn(settings, sql, clean_export):
    frames, context = clean_export
    assert run_export_gate(settings, RUN_ID, frames, context).passed
    assert kept_rows(settings) == 2

    # Overnight Ann withdraws e-mail marketing consent; her exported row is byte for byte the same.
    sql("UPDATE marts.dim_customers SET has_consent_email_marketing = false WHERE customer_id = 'cust-a'")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, context)
    assert failing(excinfo) == {"exported_customers_consented"}
    check = next(c for c in excinfo.value.result.checks if c.name == "exported_customers_consented")
    assert "cust-a" in check.observed and "cust-b" not in check.observed  # only the failing unchanged row


def test_unchanged_row_still_blocked_when_its_email_is_suppressed(settings, sql, clean_export):
    frames, context = clean_export
    assert run_export_gate(settings, RUN_ID, frames, context).passed

    sql("INSERT INTO raw.suppression_list (identifier_type, identifier, reason) "
        "VALUES ('email', 'ann@example.com', 'erasure')")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, context)
    # Both the customer and the hash of her address in the unchanged row are caught.
    assert failing(excinfo) == {"no_suppressed_customers_exported", "no_suppressed_identifier_hashes"}
    check = next(c for c in excinfo.value.result.checks if c.name == "no_suppressed_identifier_hashes")
    assert "high_value__google.csv/email_sha256" in check.observed


def test_changed_row_and_changed_rules_are_validated_again(settings, clean_export):
    frames, context = clean_export
    assert run_export_gate(settings, RUN_ID, frames, context).passed

    changed = frames["high_value__google.csv"].copy()
    changed.loc[1, "email_sha256"] = "bob@example.com"
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, {"high_value__google.csv": changed}, context)
    assert failing(excinfo) == {"hashed_columns_are_sha256"}

    # The same rows, but now `country` must be hashed too: rows passed under other rules are not trusted.
    with pytest.raises(QualityGateFailed) as excinfo:
        run_export_gate(settings, RUN_ID, frames, {**context, "hashed_columns": ["email_sha256", "country"]})
    assert failing(excinfo) == {"hashed_columns_are_sha256"}


def test_a_blocked_run_keeps_no_rows_as_validated(settings, clean_export):
    frames, context = clean_export
    assert run_export_gate(settings, RUN_ID, frames, context).passed
    bad = pd.concat([frames["high_value__google.csv"], pd.DataFrame(
        {"customer_id": ["cust-b"], "email_sha256": ["not a hash"], "country": ["US"]})], ignore_index=True)

    for _ in range(2):  # the second night must not take the bad row for one it passed
        with pytest.raises(QualityGateFailed) as excinfo:
            run_export_gate(settings, RUN_ID, {"high_value__google.csv": bad}, context)
        assert failing(excinfo) == {"hashed_columns_are_sha256"}
    assert kept_rows(settings) == 2


def test_report_says_what_was_validated_how(settings, clean_export):
    frames, context = clean_export
    run_export_gate(settings, RUN_ID, frames, context)
    bigger = pd.concat([frames["high_value__google.csv"], pd.DataFrame(
        {"customer_id": ["cust-b"], "email_sha256": [sha256("bob2@example.com")], "country": ["US"]})],
        ignore_index=True)
    result = run_export_gate(settings, RUN_ID, {"high_value__google.csv": bigger}, context)
    observed = {c.name: c.observed for c in result.checks}
    assert observed["exported_customers_consented"].endswith(
        "3 exported row(s) checked set-based against today's consent; 1 of them validated by GX "
        "(new or changed since this gate last passed, and any failing), 2 unchanged")
    assert "GX validated the values of 1 new or changed row(s); 2 unchanged row(s)" in observed[
        "hashed_columns_are_sha256"]
    assert "all 3 hashed value(s) checked set-based against today's suppressed hashes; 1 of them" in observed[
        "no_suppressed_identifier_hashes"]
    report = (settings.reports_dir / RUN_ID / "report.html").read_text(encoding="utf-8")
    assert "3 exported row(s) checked set-based against today&#x27;s consent" in report


def test_kept_rows_follow_the_frame_as_a_rebuild_would(settings, sql, clean_export):
    """The kept rows are updated by what changed (rows gone deleted, new rows added), not rewritten:
    they must end up exactly the rows a first run on the same frames keeps."""
    frames, context = clean_export
    other = {"segment_name": "high_value", "hashed_columns": {"high_value__google.csv": ["email_sha256"],
                                                              "other.csv": ["email_sha256"]}}
    both = {**frames, "other.csv": frames["high_value__google.csv"]}
    assert run_export_gate(settings, RUN_ID, both, other).passed

    def kept() -> list[tuple]:
        return execute(settings, "SELECT frame_name, frame_rules, row_fingerprint "
                                 "FROM meta.export_gate_validated_rows ORDER BY ALL")

    # Bob leaves, Ann's row changes and a third row arrives; other.csv is not part of this call.
    changed = pd.DataFrame({"customer_id": ["cust-a", "cust-b"],
                            "email_sha256": [sha256("ann2@example.com"), sha256("bob@example.com")],
                            "country": ["US", "CA"]}).iloc[[0]]
    changed = pd.concat([changed, pd.DataFrame({"customer_id": ["cust-b"], "email_sha256": [sha256("b@x.org")],
                                                "country": ["US"]})], ignore_index=True)
    assert run_export_gate(settings, RUN_ID, {"high_value__google.csv": changed}, context).passed
    incremental = kept()
    assert sum(1 for row in incremental if row[0] == "high_value__google.csv") == 2
    assert sum(1 for row in incremental if row[0] == "other.csv") == 2  # left alone

    sql("DELETE FROM meta.export_gate_validated_rows")
    assert run_export_gate(settings, RUN_ID, both, other).passed
    assert run_export_gate(settings, RUN_ID, {"high_value__google.csv": changed}, context).passed
    sql("DELETE FROM meta.export_gate_validated_rows WHERE frame_name = 'high_value__google.csv'")
    assert run_export_gate(settings, RUN_ID, {"high_value__google.csv": changed}, context).passed
    assert kept() == incremental

    # Frames without customer ids keep nothing (their rows cannot be compared).
    no_ids = {"high_value__google.csv": changed.drop(columns=["customer_id"])}
    with pytest.raises(QualityGateFailed):
        run_export_gate(settings, RUN_ID, no_ids, context)
    assert run_export_gate(settings, RUN_ID, {"high_value__google.csv": changed}, context).passed
    assert kept() == incremental


def test_consent_flags_of_many_frames_match_a_per_frame_look_up(settings, sql):
    """Consent is looked up once for the rows of every frame; each row must get what a look-up of its
    own frame gives: consented only if a row of the customer says TRUE for every required purpose
    (an unknown customer, a missing id, NULL consent or an unknown purpose: not consented)."""
    import duckdb

    from exports.suppression import load_suppression
    from quality.export_datasets import _customer_flags, _prepare_frames

    # cust-b twice: one row without ad-targeting consent, one with it.
    sql("INSERT INTO marts.dim_customers (customer_id, email, emails, phones, has_consent_email_marketing, "
        "has_consent_ad_targeting) VALUES ('cust-b', 'bob@example.com', ['bob@example.com'], [], NULL, TRUE), "
        "('cust-n', 'n@example.com', ['n@example.com'], [], NULL, NULL)")
    ids = {"a.csv": ["cust-a", "cust-b", None, "nobody"], "b.csv": ["cust-c", "cust-n", "cust-a"],
           "c.csv": ["cust-b", "cust-d"], "d.csv": ["cust-e", "cust-a"], "e.csv": ["cust-b", "cust-d"]}
    purposes = {"a.csv": "email_marketing", "b.csv": "ad_targeting", "c.csv": "sms_marketing", "d.csv": "unknown",
                "e.csv": "ad_targeting"}
    frames = {name: pd.DataFrame({"customer_id": values}) for name, values in ids.items()}
    context = {"consent_purpose": purposes, "destination": {"b.csv": "google", "c.csv": "meta"}}
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        prepared = _prepare_frames(frames, context, {})
        flags = _customer_flags(con, prepared, load_suppression(con, None))
        rows = con.execute("SELECT customer_id, has_consent_email_marketing, has_consent_sms_marketing, "
                           "has_consent_ad_targeting FROM marts.dim_customers").fetchall()
    finally:
        con.close()
    columns = {"email_marketing": 1, "sms_marketing": 2, "ad_targeting": 3}
    for frame in prepared:
        expected = [all(any(row[0] == customer_id and row[columns[p]] is True for row in rows) if p in columns
                        else False for p in frame.required) for customer_id in ids[frame.name]]
        assert list(flags[frame.name][0]) == expected, frame.name
    assert list(flags["a.csv"][0]) == [True, True, False, False]
    assert list(flags["b.csv"][0]) == [True, False, True]
    assert list(flags["d.csv"][0]) == [False, False]
    assert list(flags["e.csv"][0]) == [True, False]  # cust-b: ad targeting from its second row


def test_a_call_with_every_export_forgets_exports_that_no_longer_exist(settings, clean_export):
    frames, context = clean_export
    both = {**frames, "gone.csv": frames["high_value__google.csv"]}
    hashed = {"hashed_columns": {"high_value__google.csv": ["email_sha256"], "gone.csv": ["email_sha256"]}}
    assert run_export_gate(settings, RUN_ID, both, {**context, **hashed}).passed
    assert run_export_gate(settings, RUN_ID, frames, context).passed  # a partial call keeps gone.csv's rows
    assert kept_rows(settings) == 4
    assert run_export_gate(settings, RUN_ID, frames, {**context, "every_export": True}).passed
    assert kept_rows(settings) == 2
    assert execute(settings, "SELECT DISTINCT frame_name FROM meta.export_gate_validated_rows") == [
        ("high_value__google.csv",)]
