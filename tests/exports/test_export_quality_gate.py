"""The exporter with the quality engineer's real export gate (Great Expectations on the frames)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from exports_testkit import export_folder, query

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
        bad = frames["vip/google/snapshot.csv"].copy()
        bad.loc[0, "Email"] = "ada@example.com"
        return quality_gate.run_export_gate(settings_, run_id, {**frames, "vip/google/snapshot.csv": bad}, context)

    with pytest.raises(ExportBlocked, match="hashed_columns_are_sha256"):
        export(settings, "run-2", segment="vip", gate=tampering_gate)
    assert not export_folder(settings, "vip", "google", "run-2").exists()
    assert read_latest(settings.export_dir, "vip", "google") == "run-1"
    assert query(settings, "SELECT DISTINCT status FROM exports.export_log WHERE run_id = 'run-2'") == [
        ("gate_failed",)]
