"""Atomic publication behind the quality gate, manifests, and paths that cannot escape."""

from __future__ import annotations

import hashlib
import os

import pytest
from exports_testkit import SEGMENTS, build_warehouse, export_folder, manifest, query, read_csv

from exports.gate import ExportGateFailed
from exports.publish import UnsafeExportPath, read_latest
from exports.runner import ExportBlocked, export


class Verdict:
    """What the quality engineer's gate returns: an object with ``passed``."""

    def __init__(self, passed: bool):
        self.passed = passed
        self.checks = [] if passed else ["row count dropped by 90%"]


def _snapshot_of_folder(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("failing_gate", [
    lambda settings, run_id, frames, context: Verdict(False),
    lambda settings, run_id, frames, context: False,
    lambda settings, run_id, frames, context: (_ for _ in ()).throw(RuntimeError("gate crashed")),
], ids=["verdict", "false", "raises"])
def test_failed_gate_publishes_nothing_and_keeps_the_previous_export(settings, failing_gate):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    before = _snapshot_of_folder(export_folder(settings, "vip", "csv", "run-1"))
    build_warehouse(settings, memberships={"vip": ["c1"]})

    with pytest.raises(ExportBlocked) as blocked:
        export(settings, "run-2", segment="vip", fmt="csv", gate=failing_gate)

    assert isinstance(blocked.value, ExportGateFailed)
    assert [r["status"] for r in blocked.value.results] == ["gate_failed"]
    assert not export_folder(settings, "vip", "csv", "run-2").exists()
    assert _snapshot_of_folder(export_folder(settings, "vip", "csv", "run-1")) == before
    assert read_latest(settings.export_dir, "vip", "csv") == "run-1"
    assert list((settings.export_dir / ".staging").iterdir()) == []
    assert query(settings, "SELECT status FROM exports.export_log WHERE run_id = 'run-2'") == [("gate_failed",)]
    assert query(settings, "SELECT count(*) FROM exports.export_member_changes WHERE run_id = 'run-2'") == [(0,)]
    # The current members are still run-1's.
    assert query(settings, "SELECT customer_id FROM exports.export_members_current ORDER BY 1") == [("c1",), ("c2",)]
    # The next successful run still diffs against run-1, the last export downstream received.
    result = export(settings, "run-3", segment="vip", fmt="csv", gate=None)[0]
    assert (result["previous_run_id"], result["removed"]) == ("run-1", 1)


def test_failed_rerun_leaves_the_already_published_run_in_place(settings):
    export(settings, "run-1", segment="vip", fmt="google", gate=None)
    before = _snapshot_of_folder(export_folder(settings, "vip", "google", "run-1"))
    with pytest.raises(ExportBlocked):
        export(settings, "run-1", segment="vip", fmt="google", gate=lambda *args: Verdict(False))
    assert _snapshot_of_folder(export_folder(settings, "vip", "google", "run-1")) == before
    assert sorted(query(settings, "SELECT status FROM exports.export_log WHERE run_id = 'run-1'")) == [
        ("gate_failed",), ("published",)]


def test_blocked_attempts_stay_in_the_log_when_the_run_is_rerun(settings):
    """Review finding: a rerun of the same run id deleted its gate_failed rows (no audit trace left)."""
    for _ in range(2):
        with pytest.raises(ExportBlocked):
            export(settings, "run-1", segment="vip", fmt="csv", gate=lambda *args: Verdict(False))
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)  # a rerun replaces only the published row
    rows = query(settings, "SELECT status, message IS NOT NULL, export_seq FROM exports.export_log "
                           "WHERE run_id = 'run-1' ORDER BY export_seq")
    assert [(status, has_message) for status, has_message, _ in rows] == [
        ("gate_failed", True), ("gate_failed", True), ("published", False)]
    assert len({seq for *_, seq in rows}) == 3


def test_gate_sees_every_export_of_the_run_before_publication(settings):
    seen = {}

    def gate(settings_, run_id, frames, context):
        seen.update(run_id=run_id, frames=frames, context=context)
        # Nothing is published while the gate runs.
        seen["published_during_gate"] = any(settings.export_dir.glob("vip/*/run-1"))
        return Verdict(True)

    export(settings, "run-1", segment="vip", gate=gate)
    assert seen["run_id"] == "run-1" and seen["published_during_gate"] is False
    # Snapshots only: added.csv rows are snapshot rows, judged there (exports/README.md, "Publication").
    assert sorted(seen["frames"]) == sorted(f"vip/{d}/{f}" for d, f in [
        ("csv", "snapshot.csv"), ("parquet", "snapshot.parquet"), ("google", "snapshot.csv"),
        ("meta", "snapshot.csv")])
    meta = seen["frames"]["vip/meta/snapshot.csv"]
    assert meta.column_names == ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY"] and meta.num_rows == 1
    context = seen["context"]
    assert context["customer_ids"]["vip/meta/snapshot.csv"] == ["c1"]
    assert context["customer_ids"]["vip/csv/snapshot.csv"] == ["c1", "c2"]
    assert context["segment_name"]["vip/csv/snapshot.csv"] == "vip"
    assert context["consent_purpose"]["vip/google/snapshot.csv"] == "email_marketing"
    # Ad platforms also need ad-targeting consent, and the gate is told so.
    assert context["destination_consent"]["vip/google/snapshot.csv"] == "ad_targeting"
    assert context["destination_consent"]["vip/csv/snapshot.csv"] is None
    assert context["hashed_columns"]["vip/google/snapshot.csv"] == ["Email", "Phone", "First Name", "Last Name"]
    assert context["hashed_columns"]["vip/csv/snapshot.csv"] == []
    # One segment asked for: the gate must keep what it knows of the other exports.
    assert context["every_export"] is False
    export(settings, "run-2", gate=gate)
    assert seen["context"]["every_export"] is True
    export(settings, "run-3", fmt="csv", gate=gate)
    assert seen["context"]["every_export"] is False


def test_a_failed_gate_blocks_every_export_of_the_run(settings):
    def gate(settings_, run_id, frames, context):
        return Verdict(not any(name.startswith("vip/") for name in frames))

    with pytest.raises(ExportBlocked) as blocked:
        export(settings, "run-1", fmt="csv", gate=gate)
    assert {r["segment"]: r["status"] for r in blocked.value.results} == {
        "everyone": "gate_failed", "retarget": "gate_failed", "vip": "gate_failed"}
    assert not any(settings.export_dir.rglob("snapshot.*"))
    assert query(settings, "SELECT count(*) FROM exports.export_log WHERE status = 'published'") == [(0,)]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "google", "meta"])
def test_manifest_checksums_and_counts_match_the_files(settings, fmt):
    export(settings, "run-1", segment="retarget", fmt=fmt, gate=None)
    folder = export_folder(settings, "retarget", fmt, "run-1")
    body = manifest(settings, "retarget", fmt, "run-1")
    assert (body["run_id"], body["segment"], body["destination"]) == ("run-1", "retarget", fmt)
    listed = {f["name"]: f for f in body["files"]}
    assert set(listed) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    for name, entry in listed.items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data)
    snapshot = next(f for f in body["files"] if f["role"] == "snapshot")
    assert snapshot["rows"] == body["row_count"]
    if fmt != "parquet":
        assert len(read_csv(folder / snapshot["name"])[1]) == body["row_count"]
    assert next(c["name"] for c in body["schema"]) in ("customer_id", "Email", "EMAIL")


def test_unknown_segment_or_format_lists_the_valid_ones(settings):
    with pytest.raises(ValueError, match=r"valid segments: everyone, retarget, vip"):
        export(settings, "run-1", segment="nope", gate=None)
    with pytest.raises(ValueError, match=r"valid formats: csv, parquet, google, meta"):
        export(settings, "run-1", fmt="xlsx", gate=None)


@pytest.mark.parametrize("bad_name", ["../escape", "vip/../../escape", "/tmp/abs", ".hidden", "a b"])
def test_segment_names_cannot_escape_the_export_folder(settings, bad_name):
    build_warehouse(settings, segments=[*SEGMENTS, (bad_name, "evil", "x", "none")],
                    memberships={bad_name: ["c1"]})
    with pytest.raises(UnsafeExportPath):
        export(settings, "run-1", segment=bad_name, gate=None)
    with pytest.raises(UnsafeExportPath):
        export(settings, "run-1", gate=None)  # exporting everything refuses before writing anything
    assert not any(settings.export_dir.rglob("snapshot.*"))
    assert not (settings.home / "escape").exists()


@pytest.mark.parametrize("run_id", ["../run", "a/b", "..", "", "latest"])
def test_run_ids_cannot_escape_the_export_folder(settings, run_id):
    with pytest.raises(UnsafeExportPath):
        export(settings, run_id, segment="vip", fmt="csv", gate=None)


def test_symlinked_segment_folder_pointing_outside_is_refused(settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    settings.export_dir.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, settings.export_dir / "vip")
    with pytest.raises(UnsafeExportPath, match="outside the export folder"):
        export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert list(outside.iterdir()) == []


def test_failed_recording_puts_every_folder_of_the_run_back(settings, monkeypatch):
    """All exports of a call are recorded in one transaction: when that fails, none is published."""
    from exports import state

    export(settings, "run-1", segment="vip", gate=None)
    formats = ("csv", "parquet", "google", "meta")
    before = {fmt: _snapshot_of_folder(export_folder(settings, "vip", fmt, "run-1")) for fmt in formats}
    build_warehouse(settings, memberships={"vip": ["c1"]})
    recorded = []

    def failing_record(con, run_id, run_date, publications):
        recorded.extend(p.destination for p in publications)
        raise RuntimeError("disk full")

    monkeypatch.setattr(state, "record_published_all", failing_record)
    with pytest.raises(RuntimeError, match="disk full"):
        export(settings, "run-2", segment="vip", gate=None)

    assert recorded == list(formats)
    for fmt in formats:
        assert not export_folder(settings, "vip", fmt, "run-2").exists()
        assert _snapshot_of_folder(export_folder(settings, "vip", fmt, "run-1")) == before[fmt]
        assert read_latest(settings.export_dir, "vip", fmt) == "run-1"
    assert query(settings, "SELECT count(*) FROM exports.export_log WHERE run_id = 'run-2'") == [(0,)]
    monkeypatch.undo()
    # The next run still diffs against run-1.
    results = export(settings, "run-3", segment="vip", gate=None)
    assert {(r["previous_run_id"], r["removed"]) for r in results if r["destination"] == "csv"} == {("run-1", 1)}


def test_a_folder_that_cannot_be_put_back_does_not_stop_the_others(settings, monkeypatch):
    """Rollback goes on past a folder it cannot restore, and the recording error is the one raised."""
    from exports import publish, state

    export(settings, "run-1", segment="vip", gate=None)
    before = {fmt: _snapshot_of_folder(export_folder(settings, "vip", fmt, "run-1")) for fmt in ("csv", "meta")}
    build_warehouse(settings, memberships={"vip": ["c1"]})
    roll_back = publish.roll_back

    def roll_back_except_google(target, replaced):
        if "google" in target.parts:
            raise OSError("device busy")
        roll_back(target, replaced)

    def failing_record(con, run_id, run_date, publications):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "roll_back", roll_back_except_google)
    monkeypatch.setattr(state, "record_published_all", failing_record)
    with pytest.raises(RuntimeError, match="disk full"):
        export(settings, "run-2", segment="vip", gate=None)
    for fmt in ("csv", "meta"):  # put back on both sides of the folder that failed
        assert not export_folder(settings, "vip", fmt, "run-2").exists()
        assert _snapshot_of_folder(export_folder(settings, "vip", fmt, "run-1")) == before[fmt]
