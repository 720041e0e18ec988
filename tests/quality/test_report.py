"""The compliance run report: self-contained HTML + JSON with every check, and the runs index."""

from __future__ import annotations

import json
import socket
from html.parser import HTMLParser

import pytest

from quality.gate import QualityGateFailed, run_gate
from quality.report import latest_verdict, write_run_report
from quality.suite_config import load_suite

RUN_ID = "run-2"


class ReportParser(HTMLParser):
    """Collects check rows, tags and every attribute value that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.checks: dict[str, str] = {}
        self.runs: list[str] = []
        self.tags: set[str] = set()
        self.references: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if "data-check" in values:
            self.checks[values["data-check"]] = values["data-result"]
        if "data-run" in values:
            self.runs.append(values["data-run"])
        self.references += [v for k, v in attrs if k in ("href", "src", "srcset", "action", "data") and v]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def parse(path) -> tuple[ReportParser, str]:
    text = path.read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(text)
    return parser, text


def assert_self_contained(parser: ReportParser, text: str) -> None:
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed", "video", "audio"}
    assert "url(" not in parser.style and "@import" not in parser.style and "@font-face" not in parser.style
    assert all(not ref.startswith(("//", "http:", "https:")) for ref in parser.references)


def test_network_is_really_blocked_in_these_tests():
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def _blocked_at_marts(settings, sql, gate):
    """Run the ingestion and identity gates with ``gate``, block the marts one; the report written
    before the exception (path, parser, text), checked to list every check of the three gates."""
    gate(settings, RUN_ID, "ingestion")
    gate(settings, RUN_ID, "identity")
    sql("INSERT INTO marts.dim_customers (customer_id, lifetime_orders, lifetime_revenue) VALUES ('cust-a', 0, 0)")
    with pytest.raises(QualityGateFailed) as excinfo:
        gate(settings, RUN_ID, "marts")

    path = excinfo.value.result.report_path  # written before the exception was raised
    assert path == settings.reports_dir / RUN_ID / "report.html" and path.exists()
    parser, text = parse(path)
    assert_self_contained(parser, text)
    assert set(parser.checks) == _gate_checks()
    assert parser.checks["customer_id_unique"] == "FAIL"
    return path, parser, text


def _gate_checks() -> set[str]:
    return {c.name for stage in ("ingestion", "identity", "marts") for c in load_suite(stage).checks}


def test_failed_run_report_lists_every_check_and_what_was_blocked(settings, sql):
    path, parser, text = _blocked_at_marts(settings, sql, run_gate)
    assert parser.checks["record_mapped_once"] == "PASS"
    assert "FAILED" in text and "all audience exports" in text
    # Descriptions are written for a reviewer, with the run's thresholds filled in.
    assert "No customer is made of more than 25 source records" in text

    report = json.loads((path.parent / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "failed"
    assert report["blocked_stages"] == ["marts"]
    assert report["critical_failures"] == ["customer_id_unique"]
    assert {c["check_name"] for c in report["checks"]} == _gate_checks()
    unique = next(c for c in report["checks"] if c["check_name"] == "customer_id_unique")
    assert unique["result"] == "FAIL" and unique["severity"] == "critical" and "cust-a" in unique["observed"]
    assert unique["threshold"] and unique["description"]


def test_report_row_counts_per_stage(settings, sql):
    sql("""CREATE TABLE meta.pipeline_runs (run_id VARCHAR, run_date DATE, stage VARCHAR, status VARCHAR,
                                            started_at TIMESTAMP, finished_at TIMESTAMP, detail JSON)""")
    sql("""INSERT INTO meta.pipeline_runs VALUES
           ('run-2', '2026-11-23', 'ingest:web', 'succeeded', '2026-11-23 02:00', '2026-11-23 02:01', '{}'),
           ('run-2', '2026-11-23', 'identity', 'failed', '2026-11-23 02:02', '2026-11-23 02:03', '{}')""")
    run_gate(settings, RUN_ID, "ingestion")
    report = json.loads((write_run_report(settings, RUN_ID).parent / "report.json").read_text(encoding="utf-8"))

    counts = report["row_counts"]
    loaded = {r["source"]: r["rows_loaded"] for r in counts["ingestion"]}
    assert loaded == {"call_center": 45, "csv": 20, "store": 42, "web": 108}
    assert {(r["source"], r["reason"], r["records"], r["example"]) for r in counts["quarantine"]} == {
        ("web", "invalid JSON", 1, "invalid JSON"), ("web", "missing messageId", 1, "missing messageId")}
    assert counts["identity"]["person_records"] == 6 and counts["identity"]["customers"] == 5
    assert {"table": "marts.dim_customers", "rows": 5} in counts["marts"]
    assert counts["exports"][0]["segment"] == "high_value"
    assert report["gates_not_run"] == ["identity", "marts", "export"]
    assert [(p["stage"], p["status"]) for p in report["pipeline_stages"]] == [
        ("ingest:web", "succeeded"), ("identity", "failed")]
    assert "failed for another reason: identity" in report["sentence"]


def test_index_and_latest_verdict(settings, sql):
    run_gate(settings, "run-1", "ingestion")
    sql("UPDATE identity.run_metrics SET share_multi_first_name = 0.9")
    with pytest.raises(QualityGateFailed):
        run_gate(settings, RUN_ID, "identity")

    parser, text = parse(settings.reports_dir / "index.html")
    assert_self_contained(parser, text)
    assert parser.runs == [RUN_ID, "run-1"]  # newest first
    assert "run-2/report.html" in parser.references and "run-1/report.html" in parser.references

    assert latest_verdict(settings) == ("failed", settings.reports_dir / RUN_ID / "report.html")
    assert latest_verdict(settings, run="run-1") == ("passed", settings.reports_dir / "run-1" / "report.html")


def test_latest_verdict_without_any_run(settings):
    with pytest.raises(LookupError, match="no quality gate has run yet"):
        latest_verdict(settings)


def test_run_stopped_by_a_failed_stage_is_failed_and_says_why(settings, sql):
    """Review finding: an export stopped by a suppression row it cannot apply showed as PASSED."""
    for gate in ("ingestion", "identity", "marts"):
        run_gate(settings, RUN_ID, gate)
    error = ("ExportInputError: raw.suppression_list has 1 row(s) that cannot be applied: requests.csv:7 "
             "(identifier_type 'email'): not an e-mail address <x@y>")
    sql("""CREATE TABLE meta.pipeline_runs (run_id VARCHAR, run_date DATE, stage VARCHAR, status VARCHAR,
                                            started_at TIMESTAMP, finished_at TIMESTAMP, detail JSON)""")
    sql(f"""INSERT INTO meta.pipeline_runs VALUES ('run-2', '2026-11-23', 'export', 'failed', '2026-11-23 03:00',
            '2026-11-23 03:01', '{json.dumps({"error": error}).replace("'", "''")}')""")

    path = write_run_report(settings, RUN_ID)
    parser, text = parse(path)
    assert_self_contained(parser, text)
    assert 'id="verdict">FAILED<' in text and "PASSED" not in text
    assert "requests.csv:7" in text and "&lt;x@y&gt;" in text and "<x@y>" not in text  # escaped
    report = json.loads((path.parent / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "failed"
    assert report["failed_stages"] == [{"stage": "export", "error": error}]
    assert "1 audience export(s) of this run are recorded as published" in report["sentence"]  # the fixture's
    assert latest_verdict(settings, run=RUN_ID)[0] == "failed"
    index = (settings.reports_dir / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and "PASSED" not in index and "failed stage(s): export" in index


def test_rerun_keeps_the_failed_attempt_and_its_report(settings, sql):
    """Review finding: a rerun of the run replaced the failed verdict and overwrote report.html."""
    for gate in ("ingestion", "identity"):
        run_gate(settings, RUN_ID, gate)
    sql("INSERT INTO marts.dim_customers (customer_id, lifetime_orders, lifetime_revenue) VALUES ('cust-a', 0, 0)")
    with pytest.raises(QualityGateFailed):
        run_gate(settings, RUN_ID, "marts")
    sql("DELETE FROM marts.dim_customers WHERE customer_id = 'cust-a' AND first_name IS NULL")
    run_gate(settings, RUN_ID, "marts")  # the same run, fixed

    folder = settings.reports_dir / RUN_ID
    parser, text = parse(folder / "report.html")
    assert_self_contained(parser, text)
    assert 'id="verdict">PASSED<' in text  # the latest attempt passed ...
    assert "An earlier attempt of this run failed" in text and "customer_id_unique" in text  # ... after one failed
    assert 'href="report-marts-attempt-1.html"' in text
    archived = (folder / "report-marts-attempt-1.html").read_text(encoding="utf-8")
    assert 'id="verdict">FAILED<' in archived
    assert sql("SELECT stage, attempt, verdict FROM meta.quality_run_attempts WHERE run_id = 'run-2'") == [
        ("marts", 1, "failed")]
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "passed"
    assert [(a["stage"], a["verdict"]) for a in report["earlier_attempts_failed"]] == [("marts", "failed")]


def test_a_stage_redone_under_another_name_no_longer_fails_the_run(settings, sql):
    """Review finding: the verdict stayed FAILED after a successful rerun recorded under another stage
    name (``ingest:all`` after ``ingest:store`` failed; a gate rerun with ``run_gate`` after the
    pipeline's ``quality:marts`` failed). The latest attempt decides; the failure stays on record."""
    from datetime import datetime

    from cdp import pipeline

    pipeline._record_stage(settings, RUN_ID, "ingest:store", "failed", datetime(2026, 11, 23, 1),
                           {"error": "OperationalError: store database unreachable"})
    pipeline._record_stage(settings, RUN_ID, "ingest:web", "failed", datetime(2026, 11, 23, 1),
                           {"error": "RejectedFile: web.json"})
    pipeline._record_stage(settings, RUN_ID, "ingest:store", "succeeded", datetime(2026, 11, 23, 1, 30), {})
    for gate in ("ingestion", "identity"):
        pipeline.quality_gate(settings, RUN_ID, gate)
    sql("INSERT INTO marts.dim_customers (customer_id, lifetime_orders, lifetime_revenue) VALUES ('cust-a', 0, 0)")
    with pytest.raises(QualityGateFailed):
        pipeline.quality_gate(settings, RUN_ID, "marts")
    sql("DELETE FROM marts.dim_customers WHERE customer_id = 'cust-a' AND first_name IS NULL")
    run_gate(settings, RUN_ID, "marts")  # redone outside the pipeline: recorded as gate 'marts' only

    # ingest:web failed and only ingest:store was redone: still failed, and only for ingest:web.
    report = json.loads((write_run_report(settings, RUN_ID).parent / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "failed"
    assert [f["stage"] for f in report["failed_stages"]] == ["ingest:web"]
    assert [f["stage"] for f in report["earlier_stage_failures"]] == ["quality:marts"]

    pipeline._record_stage(settings, RUN_ID, "ingest:all", "succeeded", datetime(2026, 11, 23, 2), {})  # cdp ingest
    path = write_run_report(settings, RUN_ID)
    parser, text = parse(path)
    assert_self_contained(parser, text)
    assert 'id="verdict">PASSED<' in text
    report = json.loads((path.parent / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "passed" and report["failed_stages"] == []
    # Every failed attempt is still shown, with what redid it.
    earlier = {f["stage"]: f for f in report["earlier_stage_failures"]}
    assert sorted(earlier) == ["ingest:web", "quality:marts"]
    assert earlier["ingest:web"]["error"] == "RejectedFile: web.json"
    assert earlier["ingest:web"]["superseded_by"].startswith("ingest:all")
    assert "the marts gate (passed" in earlier["quality:marts"]["superseded_by"]
    assert "An earlier attempt of this run failed:</strong> pipeline stage ingest:web" in text
    assert "An earlier attempt of this run failed:</strong> the marts gate, attempt 1" in text
    assert sql("SELECT stage, status FROM meta.pipeline_runs WHERE run_id = 'run-2' AND status = 'failed' "
               "ORDER BY stage") == [("ingest:web", "failed"), ("quality:marts", "failed")]  # the record is kept
    assert latest_verdict(settings, run=RUN_ID)[0] == "passed"
    index = (settings.reports_dir / "index.html").read_text(encoding="utf-8")
    assert "PASSED" in index and "FAILED" not in index


def test_failed_ingest_all_is_superseded_only_when_every_source_was_redone_after_it():
    """``ingest:all`` stands for every source: its failure is redone only when each source's latest
    attempt started after it and succeeded. Read through the same attempts as the stage statuses
    ``finish_run`` judges by (one reading, ``_latest_attempts``), so the report and the run agree."""
    from datetime import datetime

    from ingestion.runner import SOURCES
    from quality.report import latest_stage_statuses, superseded_failures

    failed_all = {"stage": "ingest:all", "status": "failed", "started_at": datetime(2026, 11, 23, 1)}
    later = [{"stage": f"ingest:{s}", "status": "succeeded", "started_at": datetime(2026, 11, 23, 2)} for s in SOURCES]
    found = superseded_failures([failed_all, *later], [])
    assert [p["stage"] for p in found] == ["ingest:all"]
    assert all(f"ingest:{s} (started" in found[0]["superseded_by"] for s in SOURCES)
    assert latest_stage_statuses([failed_all, *later], [], [f"ingest:{s}" for s in SOURCES]) == {
        f"ingest:{s}": "succeeded" for s in SOURCES}

    assert superseded_failures([failed_all, *later[1:]], []) == []  # one source never redone
    earlier = {**later[0], "started_at": datetime(2026, 11, 23, 0)}
    assert superseded_failures([failed_all, earlier, *later[1:]], []) == []  # redone before it failed
    failed_again = {**later[0], "status": "failed"}
    assert superseded_failures([failed_all, failed_again, *later[1:]], []) == []


def test_quarantine_is_counted_by_reason_code_with_an_example(settings, sql):
    """A row per full reason text listed every record again (each names its line or messageId)."""
    sql("""INSERT INTO meta.quarantine
           SELECT 'b2-web', 'run-2', 'web', 'a.ndjson', i, 'messageId',
                  format('duplicate-messageid-conflict: messageId ''m{}'' was already loaded', i), '{}',
                  TIMESTAMP '2026-11-23 02:00:30'
           FROM range(5) AS r(i)""")
    report = json.loads((write_run_report(settings, RUN_ID).parent / "report.json").read_text(encoding="utf-8"))
    rows = [r for r in report["row_counts"]["quarantine"] if r["reason"] == "duplicate-messageid-conflict"]
    assert [(r["source"], r["records"]) for r in rows] == [("web", 5)]
    assert rows[0]["example"] == "duplicate-messageid-conflict: messageId 'm0' was already loaded"


def test_pipeline_gates_leave_a_complete_report_when_one_blocks(settings, sql):
    """The pipeline's gates write the report when they block (a passing one leaves it to the end of
    the run): the report on disk right after the block lists every check of every gate that ran."""
    from cdp.pipeline import quality_gate

    path, _, text = _blocked_at_marts(settings, sql, quality_gate)
    assert 'id="verdict">FAILED<' in text and "stopped at the marts gate" in text
    report = json.loads((path.parent / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "failed" and report["gates_run"] == ["ingestion", "identity", "marts"]
    assert {c["check_name"] for c in report["checks"]} == _gate_checks()
    assert [(p["stage"], p["status"]) for p in report["pipeline_stages"]] == [
        ("quality:ingestion", "succeeded"), ("quality:identity", "succeeded"), ("quality:marts", "running")]


def test_rerun_of_a_passed_pipeline_gate_archives_the_report_of_that_attempt(settings):
    """A passing pipeline gate does not write the report, so before a rerun replaces its verdict
    the report of that attempt is written from the warehouse and archived (not skipped or stale)."""
    from cdp.pipeline import quality_gate

    quality_gate(settings, RUN_ID, "ingestion")
    quality_gate(settings, RUN_ID, "ingestion")  # the same run's gate again, e.g. an Airflow clear

    folder = settings.reports_dir / RUN_ID
    archived, text = parse(folder / "report-ingestion-attempt-1.html")
    assert 'id="verdict">PASSED<' in text
    assert set(archived.checks) == {c.name for c in load_suite("ingestion").checks}
    earlier = json.loads((folder / "report-ingestion-attempt-1.json").read_text(encoding="utf-8"))
    assert earlier["gates"][0]["stage"] == "ingestion" and earlier["gates"][0]["verdict"] == "passed"
