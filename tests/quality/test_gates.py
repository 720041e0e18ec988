"""The ingestion, identity and marts gates on a clean warehouse and on deliberately broken ones."""

from __future__ import annotations

import pytest

from quality.gate import QualityGateFailed, run_export_gate, run_gate
from quality.suite_config import load_suite

RUN_ID = "run-2"  # the run recorded in clean_warehouse.sql


def failing_checks(excinfo: pytest.ExceptionInfo[QualityGateFailed]) -> set[str]:
    return {c.name for c in excinfo.value.result.critical_failures}


def stored_result(sql, stage: str, check: str) -> tuple:
    return sql(f"""SELECT passed, severity, observed, threshold FROM meta.quality_results
                                 WHERE run_id = '{RUN_ID}' AND stage = '{stage}' AND check_name = '{check}'""")[0]


def test_clean_warehouse_passes_every_gate(settings, clean_export, sql):
    frames, context = clean_export
    results = [run_gate(settings, RUN_ID, stage) for stage in ("ingestion", "identity", "marts")]
    results.append(run_export_gate(settings, RUN_ID, frames, context))

    for result in results:
        assert result.passed and not result.blocked, [c for c in result.checks if not c.passed]
        assert [c.name for c in result.checks] == [c.name for c in load_suite(result.stage).checks]
    verdicts = sql(f"SELECT stage, verdict FROM meta.quality_runs WHERE run_id = '{RUN_ID}' ORDER BY 1")
    assert verdicts == [("export", "passed"), ("identity", "passed"), ("ingestion", "passed"), ("marts", "passed")]
    stored = sql(f"SELECT count(*), bool_and(passed) FROM meta.quality_results WHERE run_id = '{RUN_ID}'")
    assert stored == [(sum(len(r.checks) for r in results), True)]
    assert (settings.reports_dir / RUN_ID / "data_docs" / "index.html").exists()


def test_null_ids_block_ingestion(settings, sql):
    sql("INSERT INTO raw.web_events (message_id, event_at, _batch_id) VALUES (NULL, '2026-11-23', 'b2-web')")
    sql("INSERT INTO raw.call_center_calls (call_id, started_at, _batch_id) VALUES (NULL, '2026-11-23', 'b2-calls')")

    with pytest.raises(QualityGateFailed, match="web_events_have_message_id") as excinfo:
        run_gate(settings, RUN_ID, "ingestion")

    assert failing_checks(excinfo) == {"web_events_have_message_id", "calls_have_call_id"}
    passed, severity, observed, _ = stored_result(sql, "ingestion", "web_events_have_message_id")
    assert (passed, severity) == (False, "critical")
    assert observed.startswith("1 of 4 rows fail")
    assert sql(f"SELECT verdict, blocked FROM meta.quality_runs WHERE run_id = '{RUN_ID}'") == [("failed", True)]


def test_quarantine_rate_above_setting_blocks_and_names_source(settings, settings_with, sql):
    sql("UPDATE meta.ingest_manifest SET rows_quarantined = 3 WHERE batch_id = 'b2-csv'")  # 3/20 = 15%

    with pytest.raises(QualityGateFailed, match="quarantine_rate_per_source") as excinfo:
        run_gate(settings, RUN_ID, "ingestion")
    check = next(c for c in excinfo.value.result.checks if c.name == "quarantine_rate_per_source")
    assert "csv = 0.15" in check.observed
    assert check.threshold == "between 0 and 0.05 for every row"  # one row per source

    # The threshold comes from settings (CDP_QUARANTINE_RATE_MAX), not from code.
    relaxed = settings_with(quarantine_rate_max=0.2)
    assert run_gate(relaxed, RUN_ID, "ingestion").passed


def test_rerun_of_the_day_is_judged_on_each_files_latest_attempt(settings, sql):
    def attempt(batch, status, read, quarantined, hour):
        sql(f"""INSERT INTO meta.ingest_manifest VALUES ('{batch}', 'run-2', 'csv', 'csv/newsletter__extra.csv', 1,
                'x', NULL, NULL, {read}, {read - quarantined}, {quarantined}, 0, '{status}',
                '2026-11-23 {hour}:00:00', '2026-11-23 {hour}:01:00', NULL)""")

    def failing():
        with pytest.raises(QualityGateFailed) as excinfo:
            run_gate(settings, RUN_ID, "ingestion")
        return excinfo

    attempt("b2-bad", "failed", 0, 1, "02")  # the file is rejected: the day is blocked
    assert failing_checks(failing()) == {"no_failed_loads"}
    attempt("b2-fix1", "loaded", 20, 8, "03")  # fixed, but 8 of its 20 rows quarantined (40 rows, 20%)
    excinfo = failing()
    assert failing_checks(excinfo) == {"quarantine_rate_per_source"}
    check = next(c for c in excinfo.value.result.checks if c.name == "quarantine_rate_per_source")
    assert "csv = 0.2" in check.observed
    attempt("b2-fix2", "replaced_changed_file", 20, 0, "04")  # fixed again: the earlier reads no longer count
    assert run_gate(settings, RUN_ID, "ingestion").passed
    # A later attempt that only skipped the file does not hide the quarantine of the read that loaded it.
    sql("UPDATE meta.ingest_manifest SET rows_quarantined = 8 WHERE batch_id = 'b2-fix2'")
    attempt("b2-again", "skipped_already_loaded", 0, 0, "05")
    assert failing_checks(failing()) == {"quarantine_rate_per_source"}


def test_implausible_timestamps_block_ingestion(settings, sql):
    sql("""INSERT INTO raw.store_orders (order_id, ordered_at, _batch_id)
                         VALUES (9002, '2027-06-01', 'b2-store'), (9003, '1990-01-01', 'b2-store')""")
    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate(settings, RUN_ID, "ingestion")
    assert failing_checks(excinfo) == {"store_order_times_plausible"}


def test_volume_outside_band_only_warns(settings, sql):
    sql("UPDATE meta.ingest_manifest SET rows_read = 1000, rows_loaded = 998 WHERE batch_id = 'b2-web'")

    result = run_gate(settings, RUN_ID, "ingestion")

    assert result.passed and not result.blocked
    assert [c.name for c in result.warnings] == ["row_volume_within_band"]
    assert "web = 10" in result.warnings[0].observed


def test_missing_source_table_is_skipped_not_failed(settings, sql):
    sql("DROP TABLE raw.csv_contacts")
    result = run_gate(settings, RUN_ID, "ingestion")
    check = next(c for c in result.checks if c.name == "csv_contacts_have_contact_id")
    assert check.skipped and check.passed and "raw.csv_contacts" in check.observed


def test_overmerged_cluster_blocks_identity(settings, settings_with, sql):
    # cust-a grows to 4 records; with CDP_MAX_CLUSTER_SIZE=3 that is an over-merge.
    sql("""INSERT INTO identity.customer_map VALUES
        ('call_center', 'c-1', 'cust-a', '2026-11-23'), ('call_center', 'c-2', 'cust-a', '2026-11-23')""")
    sql("""INSERT INTO identity.person_records (source_system, source_record_id)
        VALUES ('call_center', 'c-1'), ('call_center', 'c-2')""")
    strict = settings_with(max_cluster_size=3)

    with pytest.raises(QualityGateFailed, match="cluster_size_within_limit") as excinfo:
        run_gate(strict, RUN_ID, "identity")

    assert failing_checks(excinfo) == {"cluster_size_within_limit"}
    assert "cust-a = 4" in stored_result(sql, "identity", "cluster_size_within_limit")[2]
    assert run_gate(settings, RUN_ID, "identity").passed  # the default limit is 25


def test_conflicting_user_ids_and_unresolved_records_block_identity(settings, sql):
    sql("UPDATE identity.customer_map SET customer_id = 'cust-a' WHERE source_record_id = 'user:u-2'")
    sql("INSERT INTO identity.person_records (source_system, source_record_id) VALUES ('web', 'anon:a-9')")
    sql("UPDATE identity.run_metrics SET share_multi_first_name = 0.4")

    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate(settings, RUN_ID, "identity")

    assert failing_checks(excinfo) == {"no_conflicting_web_user_ids", "share_of_records_resolved", "overmerge_first_names"}
    message = str(excinfo.value)
    assert "no_conflicting_web_user_ids" in message and "cust-a" in message


def test_duplicated_customer_id_blocks_marts(settings, sql):
    sql("""INSERT INTO marts.dim_customers (customer_id, email, lifetime_orders, lifetime_revenue)
                         VALUES ('cust-a', 'ann.two@example.com', 0, 0)""")

    with pytest.raises(QualityGateFailed, match="customer_id_unique") as excinfo:
        run_gate(settings, RUN_ID, "marts")

    assert failing_checks(excinfo) == {"customer_id_unique"}
    assert "cust-a" in stored_result(sql, "marts", "customer_id_unique")[2]


def test_bad_values_block_marts_and_hide_email_addresses(settings, sql):
    sql("""UPDATE marts.dim_customers SET email = 'not an email', lifetime_revenue = -5
                         WHERE customer_id = 'cust-b'""")
    sql("INSERT INTO marts.segments VALUES ('empty_one', 'Nobody', 'crm-team', 'none')")

    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate(settings, RUN_ID, "marts")

    assert failing_checks(excinfo) == {"emails_valid", "lifetime_revenue_not_negative", "segments_not_empty"}
    emails = stored_result(sql, "marts", "emails_valid")[2]
    assert "cust-b" in emails and "not an email" not in emails


def files_under(folder) -> dict[str, str]:
    return {str(path): path.read_text(encoding="utf-8", errors="replace")
            for path in folder.rglob("*") if path.is_file()}


def test_hidden_values_reach_no_file_under_reports(settings, sql):
    """show_values: false also keeps the value out of GX's stored results and Data Docs."""
    sql("UPDATE marts.dim_customers SET email = 'private person@example.com' WHERE customer_id = 'cust-b'")

    with pytest.raises(QualityGateFailed):
        run_gate(settings, RUN_ID, "marts")

    files = files_under(settings.reports_dir)
    assert any("/gx/" in path for path in files) and any("/data_docs/validations/" in path for path in files)
    assert [path for path, text in files.items() if "private person" in text] == []
    # The report still counts the failing rows and names the customer.
    assert "1 of" in stored_result(sql, "marts", "emails_valid")[2]
    assert "cust-b" in stored_result(sql, "marts", "emails_valid")[2]


def test_missing_mart_fails_with_a_readable_reason(settings, sql):
    sql("DROP TABLE marts.dim_customers")
    with pytest.raises(QualityGateFailed, match="customer_id_unique") as excinfo:
        run_gate(settings, RUN_ID, "marts")
    check = next(c for c in excinfo.value.result.checks if c.name == "customer_id_unique")
    assert check.observed.startswith("error: could not read the data") and "dim_customers" in check.observed


def test_segment_size_band_compares_with_previous_run_date(settings, sql):
    # browsers triples against 2026-11-22 (1 -> 3 members): reported, not blocking.
    sql("INSERT INTO marts.segment_memberships VALUES ('cust-a', 'browsers', '2026-11-23'), ('cust-e', 'browsers', '2026-11-23')")

    result = run_gate(settings, RUN_ID, "marts")

    assert result.passed
    assert [c.name for c in result.warnings] == ["segment_size_within_band"]
    observed = result.warnings[0].observed
    assert "browsers = 3" in observed and "high_value = 1" in observed


def test_segment_that_was_empty_and_fills_is_flagged(settings, sql):
    # browsers had 0 members on 2026-11-22 and 3 now: the ratio was NULL (0 in the divisor), which
    # GX passes silently; an empty segment now counts as one member.
    sql("UPDATE marts.segment_size_history SET members = 0 WHERE segment_name = 'browsers' AND as_of_date = '2026-11-22'")
    sql("INSERT INTO marts.segment_memberships VALUES ('cust-a', 'browsers', '2026-11-23'), ('cust-e', 'browsers', '2026-11-23')")

    result = run_gate(settings, RUN_ID, "marts")

    assert [c.name for c in result.warnings] == ["segment_size_within_band"]
    assert "browsers = 3" in result.warnings[0].observed


def test_segment_size_band_skipped_without_history(settings, sql):
    sql("DROP TABLE marts.segment_size_history")
    result = run_gate(settings, RUN_ID, "marts")
    check = next(c for c in result.checks if c.name == "segment_size_within_band")
    assert check.skipped and "marts.segment_size_history" in check.observed


def test_rerun_replaces_results_instead_of_appending(settings, sql):
    first = run_gate(settings, RUN_ID, "identity")
    run_gate(settings, RUN_ID, "identity")
    counts = sql("SELECT (SELECT count(*) FROM meta.quality_results), (SELECT count(*) FROM meta.quality_runs)")
    assert counts == [(len(first.checks), 1)]


def test_unknown_stage_is_rejected(settings):
    with pytest.raises(ValueError, match="unknown quality gate 'exports'"):
        run_gate(settings, RUN_ID, "exports")


def test_unknown_and_repeated_members_block_marts_from_one_shared_frame(settings, sql):
    # segment_members_are_customers and segment_membership_unique read the same frame.
    sql("INSERT INTO marts.segment_memberships VALUES ('cust-zz', 'high_value', '2026-11-23')")
    sql("INSERT INTO marts.segment_memberships SELECT * FROM marts.segment_memberships WHERE customer_id = 'cust-a'")

    with pytest.raises(QualityGateFailed) as excinfo:
        run_gate(settings, RUN_ID, "marts")

    assert failing_checks(excinfo) == {"segment_members_are_customers", "segment_membership_unique"}
    assert "high_value/cust-zz" in stored_result(sql, "marts", "segment_members_are_customers")[2]
    repeated = stored_result(sql, "marts", "segment_membership_unique")[2]
    assert repeated.startswith("2 of ") and "cust-a" in repeated
