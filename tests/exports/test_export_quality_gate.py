"""The exporter with the quality engineer's real export gate (Great Expectations on the frames)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from exports_testkit import execute, export_folder, ids, query

import quality.gate as quality_gate
from exports.gate import default_gate
from exports.publish import read_latest
from exports.runner import ExportBlocked, export

pytestmark = pytest.mark.slow


def test_default_gate_is_the_quality_export_gate():
    assert default_gate() is quality_gate.run_export_gate


def test_exports_refuse_to_load_without_the_quality_gate():
    # A broken quality package must stop exports, not let them run with built-in checks only.
    code = ("import sys; sys.modules['quality.gate'] = None\n"
            "try:\n    import exports.runner\nexcept ImportError:\n    print('refused')\n"
            "else:\n    print('loaded, gate =', exports.runner.default_gate())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "refused"


def test_real_gate_passes_a_clean_export_and_blocks_a_tampered_one(settings):
    results = export(settings, "run-1", segment="vip")  # default gate: the real one
    assert {r["status"] for r in results} == {"published"}
    assert read_latest(settings.export_dir, "vip", "google") == "run-1"

    def tampering_gate(settings_, run_id, frames, context):
        # A clear-text e-mail where a hash belongs: the real gate must refuse it.
        bad = frames["vip/google/snapshot.csv"].to_pandas()
        bad.loc[0, "Email"] = "ada@example.com"
        return quality_gate.run_export_gate(settings_, run_id, {**frames, "vip/google/snapshot.csv": bad}, context)

    with pytest.raises(ExportBlocked, match="hashed_columns_are_sha256"):
        export(settings, "run-2", segment="vip", gate=tampering_gate)
    assert not export_folder(settings, "vip", "google", "run-2").exists()
    assert read_latest(settings.export_dir, "vip", "google") == "run-1"
    assert query(settings, "SELECT DISTINCT status FROM exports.export_log WHERE run_id = 'run-2'") == [
        ("gate_failed",)]


def test_gate_checks_each_snapshot_and_every_added_row_is_a_snapshot_row(settings):
    import csv

    import pandas as pd
    from exports_testkit import CUSTOMERS, build_warehouse

    seen: list[tuple[dict, dict]] = []

    def recording_gate(settings_, run_id, frames, context):
        seen.append((frames, context))
        return quality_gate.run_export_gate(settings_, run_id, frames, context)

    export(settings, "run-1", gate=recording_gate)
    customers = dict(CUSTOMERS)
    customers["c1"] = ("Ada", "Lovelace", "ada.l@example.org", *CUSTOMERS["c1"][3:])  # a new row in vip
    build_warehouse(settings, customers=customers)
    results = export(settings, "run-2", gate=recording_gate)
    assert sum(r["added"] for r in results) > 0
    for (frames, context), run_id in zip(seen, ("run-1", "run-2"), strict=True):
        assert {name.rsplit("/", 1)[1] for name in frames} == {"snapshot.csv", "snapshot.parquet"}
        for name, table in frames.items():
            frame = table.to_pandas()
            segment, destination, _ = name.split("/")
            with (export_folder(settings, segment, destination, run_id) / "added.csv").open(newline="") as handle:
                added = list(csv.DictReader(handle))
            # The snapshot's own checks decide for added.csv: its rows are snapshot rows.
            if destination in ("google", "meta"):
                rows = {tuple("" if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)}
                assert all(tuple(row.values()) in rows for row in added), name
            else:
                assert {row["customer_id"] for row in added} <= set(context["customer_ids"][name]), name
            assert len(context["customer_ids"][name]) == len(frame)


@pytest.mark.parametrize("overnight", ["consent withdrawn", "e-mail suppressed"])
def test_next_night_drops_the_member_and_the_gate_blocks_a_stale_snapshot(settings, overnight):
    # Ada (c1) is in retarget (ad targeting) on every destination; her rows do not change overnight.
    first: dict = {}

    def recording_gate(settings_, run_id, frames, context):
        first.setdefault("frames", frames)
        first.setdefault("context", context)
        return quality_gate.run_export_gate(settings_, run_id, frames, context)

    export(settings, "run-1", segment="retarget", gate=recording_gate)
    if overnight == "consent withdrawn":
        execute(settings, "UPDATE marts.dim_customers SET has_consent_ad_targeting = false WHERE customer_id = 'c1'")
    else:
        execute(settings, "INSERT INTO raw.suppression_list (identifier_type, identifier, reason) "
                          "VALUES ('email', 'ada@example.com', 'erasure')")

    # An exporter that kept last night's unchanged snapshots would be refused: the gate passed these very
    # rows last night, yet re-checks every row's consent and suppression.
    def stale_gate(settings_, run_id, frames, context):
        return quality_gate.run_export_gate(settings_, run_id, first["frames"], first["context"])

    with pytest.raises(ExportBlocked, match="exported_customers_consented" if overnight == "consent withdrawn"
                       else "no_suppressed_customers_exported"):
        export(settings, "run-2", segment="retarget", gate=stale_gate)
    assert read_latest(settings.export_dir, "retarget", "google") == "run-1"

    # The exporter drops her, as it always did, and the gate passes the rest.
    results = export(settings, "run-3", segment="retarget")
    assert {r["status"] for r in results} == {"published"}
    assert "c1" not in ids(settings, "retarget", "csv", "run-3")
    assert all(r["removed"] == 1 for r in results)


def test_a_blocked_run_keeps_its_report_when_a_similar_run_id_passes(settings):
    """'night:1' (blocked) and 'night+1' (published) both wrote reports/night_1: the blocked run's
    report, the record of why nothing was published, was replaced by the passing run's."""
    import json

    from cdp.pipeline import safe_run_id

    def tampering_gate(settings_, run_id, frames, context):
        # A clear-text e-mail where a hash belongs: the real gate refuses it.
        bad = frames["vip/google/snapshot.csv"].to_pandas()
        bad.loc[0, "Email"] = "ada@example.com"
        return quality_gate.run_export_gate(settings_, run_id, {**frames, "vip/google/snapshot.csv": bad}, context)

    with pytest.raises(ExportBlocked):
        export(settings, "night:1", segment="vip", fmt="google", gate=tampering_gate)
    export(settings, "night+1", segment="vip", fmt="google")

    reports = {run_id: json.loads((settings.reports_dir / safe_run_id(run_id) / "report.json").read_text())
               for run_id in ("night:1", "night+1")}
    assert {run_id: (report["run_id"], report["verdict"]) for run_id, report in reports.items()} == {
        "night:1": ("night:1", "failed"), "night+1": ("night+1", "passed")}
