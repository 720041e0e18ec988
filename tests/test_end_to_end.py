"""The whole nightly pipeline on a tiny generated dataset: data flows through every stage."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import duckdb
import pytest

from cdp.pipeline import make_run_id, run_all
from cdp.sample_data import generate
from cdp.settings import Settings

RUN_DATE = date(2026, 11, 23)
pytestmark = pytest.mark.slow


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def first_and_second_run(tmp_path_factory):
    """Generate ~300 customers, run the pipeline twice for the same night."""
    home = tmp_path_factory.mktemp("e2e")
    settings = Settings.from_env({}, home=home, run_date=RUN_DATE)
    generate(settings.landing_dir, customers=300, seed=7, run_date=RUN_DATE)
    run_id = make_run_id(RUN_DATE)
    first = run_all(settings, run_id)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        ids_first = con.execute("SELECT source_system, source_record_id, customer_id FROM identity.customer_map ORDER BY 1, 2").fetchall()
        raw_first = {t: scalar(con, f"SELECT count(*) FROM raw.{t}") for t in ("web_events", "call_center_calls", "store_customers", "store_orders", "csv_contacts")}
    second = run_all(settings, run_id)  # the same night again, as `cdp run` twice does
    return settings, first, second, ids_first, raw_first


def test_every_stage_produces_output(first_and_second_run):
    settings, first, _, _, _ = first_and_second_run
    assert all(status == "succeeded" for status in first["stages"].values()), first["stages"]
    assert set(first["loaded_this_run"]) >= {"web", "call_center", "store", "csv"}
    assert all(rows > 0 for rows in first["loaded_this_run"].values()), first["loaded_this_run"]
    assert sum(first["quarantined_all_time"].values()) > 0, "the generator's malformed records must be quarantined"
    assert 0 < first["customers"] < first["person_records"], "identity must merge records into fewer customers"
    assert first["segment_sizes"] and all(size > 0 for size in first["segment_sizes"].values())
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM marts.dim_customers") == first["customers"]
        assert scalar(con, "SELECT count(*) - count(DISTINCT customer_id) FROM marts.dim_customers") == 0
        assert scalar(con, "SELECT count(*) FROM exports.export_log") > 0
        # the KPI marts issue #5 lists are built from the generated data
        buyers = scalar(con, "SELECT count(*) FROM marts.dim_customers WHERE lifetime_orders > 0")
        assert buyers > 0
        assert scalar(con, "SELECT count(*) FROM marts.customer_lifetime_value WHERE predicted_clv_12m >= 0") == buyers
        assert scalar(con, "SELECT sum(cohort_size) FROM marts.kpi_retention_cohorts "
                           "WHERE months_since_first_purchase = 0") == buyers
        assert scalar(con, "SELECT sum(first_contact_resolutions) FROM marts.kpi_call_center") > 0


def test_exports_published_with_matching_manifests(first_and_second_run):
    settings = first_and_second_run[0]
    manifests = list(settings.export_dir.rglob("manifest.json"))
    assert manifests, "no export was published"
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        assert files
        for entry in files if isinstance(files, list) else [{"name": k, **v} for k, v in files.items()]:
            path = manifest_path.parent / entry["name"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path


def test_report_written(first_and_second_run):
    settings, first, _, _, _ = first_and_second_run
    report = settings.reports_dir / first["run_id"] / "report.html"
    assert report.exists()
    html = report.read_text(encoding="utf-8")
    assert "<script src=" not in html and "https://" not in html


def test_rerun_loads_nothing_twice_and_keeps_customer_ids(first_and_second_run):
    settings, first, second, ids_first, raw_first = first_and_second_run
    assert all(status == "succeeded" for status in second["stages"].values()), second["stages"]
    # Same run id: the second invocation adds nothing to what the night already loaded.
    assert second["loaded_this_run"] == first["loaded_this_run"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        ids_second = con.execute("SELECT source_system, source_record_id, customer_id FROM identity.customer_map ORDER BY 1, 2").fetchall()
        raw_second = {t: scalar(con, f"SELECT count(*) FROM raw.{t}") for t in raw_first}
    assert raw_second == raw_first
    assert ids_second == ids_first


def test_critical_gate_failure_stops_the_run_before_any_export(tmp_path):
    """A source whose quarantine rate breaks its threshold blocks the run: no export, a report says why."""
    from quality.gate import QualityGateFailed

    settings = Settings.from_env({}, home=tmp_path / "cdp", run_date=RUN_DATE, quarantine_rate_max=0.0)
    generate(settings.landing_dir, customers=150, seed=11, run_date=RUN_DATE)
    run_id = make_run_id(RUN_DATE)
    with pytest.raises(QualityGateFailed, match="quarantine_rate_per_source"):
        run_all(settings, run_id)
    assert not list(settings.export_dir.rglob("manifest.json")), "nothing may be published after a failed gate"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        stages = dict(con.execute("SELECT stage, status FROM meta.pipeline_runs WHERE run_id = ?", [run_id]).fetchall())
    assert stages["quality:ingestion"] == "failed"
    assert not {"identity", "marts", "export"} & set(stages), "nothing may run after a failed gate"
    report = json.loads((settings.reports_dir / run_id / "report.json").read_text())
    assert report["verdict"] == "failed"
    assert "quarantine_rate_per_source" in json.dumps(report["critical_failures"])
