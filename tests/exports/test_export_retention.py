"""Old export runs are pruned to CDP_EXPORT_KEEP_RUNS, and a killed export's staging leftovers go."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    SEGMENTS,
    build_warehouse,
    export_folder,
    ids,
    manifest,
    query,
    read_csv,
    sha,
)

from exports.publish import STAGING_FOLDER, read_latest
from exports.runner import export


def test_only_the_newest_runs_are_kept(settings):
    settings = dataclasses.replace(settings, export_keep_runs=2)
    for run in ("run-1", "run-2", "run-3"):
        if run == "run-2":  # c1 moves e-mail: run-2 replaces c1's hashed row
            build_warehouse(settings, customers={**CUSTOMERS, "c1": ("Ada", "Lovelace", "ada.l@example.org",
                                                                     *CUSTOMERS["c1"][3:])})
        export(settings, run, segment="vip", fmt="google", gate=None)
    assert not export_folder(settings, "vip", "google", "run-1").exists()
    assert export_folder(settings, "vip", "google", "run-2").is_dir()
    assert export_folder(settings, "vip", "google", "run-3").is_dir()
    assert read_latest(settings.export_dir, "vip", "google") == "run-3"
    # Memberships are kept as the current members and each retained run's changes (run-3 changed nothing).
    assert query(settings, "SELECT run_id, change FROM exports.export_member_changes ORDER BY 2") == [
        ("run-2", "added"), ("run-2", "removed")]
    assert query(settings, "SELECT count(*) FROM exports.export_members_current") == [(1,)]
    # The audit trail keeps every run.
    assert len(query(settings, "SELECT * FROM exports.export_log WHERE segment = 'vip'")) == 3


def test_pruned_runs_lose_their_member_changes(settings):
    settings = dataclasses.replace(settings, export_keep_runs=1)
    export(settings, "run-1", segment="vip", fmt="google", gate=None)
    build_warehouse(settings, customers={**CUSTOMERS, "c1": ("Ada", "Lovelace", "ada.l@example.org",
                                                             *CUSTOMERS["c1"][3:])})
    export(settings, "run-2", segment="vip", fmt="google", gate=None)
    assert query(settings, "SELECT DISTINCT run_id FROM exports.export_member_changes") == [("run-2",)]
    export(settings, "run-3", segment="vip", fmt="google", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.export_member_changes") == [(0,)]
    assert not export_folder(settings, "vip", "google", "run-2").exists()


def test_rerun_with_one_kept_run_still_diffs_against_the_export_before(settings):
    """Review finding: with CDP_EXPORT_KEEP_RUNS=1 a rerun of the latest run compared with nothing
    (the run before was pruned), so removed.csv lost the people who left and added.csv listed everyone."""
    settings = dataclasses.replace(settings, export_keep_runs=1)
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    build_warehouse(settings, memberships={**MEMBERSHIPS, "vip": [c for c in MEMBERSHIPS["vip"] if c != "c1"]})
    first = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    folder = export_folder(settings, "vip", "csv", "run-2")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert not export_folder(settings, "vip", "csv", "run-1").exists()
    assert (first["added"], first["removed"]) == (0, 1)
    assert [r["customer_id"] for r in read_csv(folder / "removed.csv")[1]] == ["c1"]

    again = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    assert (again["previous_run_id"], again["added"], again["removed"]) == ("run-1", 0, 1)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_zero_keeps_every_run(settings):
    settings = dataclasses.replace(settings, export_keep_runs=0)
    for run in ("run-1", "run-2", "run-3"):
        export(settings, run, segment="vip", fmt="csv", gate=None)
    assert all(export_folder(settings, "vip", "csv", run).is_dir() for run in ("run-1", "run-2", "run-3"))


def test_staging_leftovers_of_a_killed_export_are_removed(settings):
    leftover = settings.export_dir / STAGING_FOLDER / "vip-csv-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "snapshot.csv").write_text("customer_id\nc1\n")
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    assert not leftover.exists()
    assert list((settings.export_dir / STAGING_FOLDER).iterdir()) == []


def test_a_segment_removed_from_the_yaml_is_emptied_downstream_once(settings):
    export(settings, "run-1", gate=None)
    # retarget leaves segments.yml (and so marts.segments and its memberships); Ada asks for erasure.
    build_warehouse(settings, segments=[s for s in SEGMENTS if s[0] != "retarget"],
                    memberships={k: v for k, v in MEMBERSHIPS.items() if k != "retarget"})
    results = export(settings, "run-2", gate=None)

    retired = {r["destination"]: r for r in results if r["segment"] == "retarget"}
    assert set(retired) == {"csv", "parquet", "google", "meta"}
    assert all(r["retired"] and r["row_count"] == 0 and r["status"] == "published" for r in retired.values())
    # A final empty export whose removed.csv takes every member out of the tool or platform.
    assert ids(settings, "retarget", "csv", "run-2") == []
    assert ids(settings, "retarget", "csv", "run-2", "removed.csv") == ids(settings, "retarget", "csv", "run-1")
    _, removed = read_csv(export_folder(settings, "retarget", "google", "run-2") / "removed.csv")
    assert sha("ada@example.com") in {r["Email"] for r in removed}
    assert read_latest(settings.export_dir, "retarget", "google") == "run-2"
    assert manifest(settings, "retarget", "csv", "run-2")["retired"] is True
    assert manifest(settings, "retarget", "csv", "run-2")["consent_purpose"] == "ad_targeting"
    assert query(settings, "SELECT count(*) FROM exports.export_members_current WHERE segment = 'retarget'") == [(0,)]

    # Then it is no longer tracked: later runs export nothing for it.
    assert not [r for r in export(settings, "run-3", gate=None) if r["segment"] == "retarget"]
    assert read_latest(settings.export_dir, "retarget", "google") == "run-2"


def test_an_export_of_some_segments_does_not_retire_the_others(settings):
    export(settings, "run-1", gate=None)
    build_warehouse(settings, segments=[s for s in SEGMENTS if s[0] != "retarget"],
                    memberships={k: v for k, v in MEMBERSHIPS.items() if k != "retarget"})
    assert not [r for r in export(settings, "run-2", segment="vip", gate=None) if r["segment"] == "retarget"]
    assert read_latest(settings.export_dir, "retarget", "csv") == "run-1"


def _export_killed_after_the_move(settings, run_id: str) -> None:
    """``export`` in another process, killed (SIGKILL, OOM) once its folders are in place but not recorded."""
    code = (
        "import os\nfrom datetime import date\nfrom pathlib import Path\n"
        "from cdp.settings import Settings\nfrom exports import state\nfrom exports.runner import export\n"
        "state.record_published_all = lambda *args, **kwargs: os._exit(9)\n"
        f"export(Settings(home=Path({str(settings.home)!r}), run_date=date(2026, 11, 23), "
        f"default_phone_region='US'), {run_id!r}, segment='vip', fmt='csv', gate=None)\n")
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 9


def test_folders_of_an_export_killed_before_recording_are_removed(settings):
    """Review finding: the folders of a killed export stayed, unknown to the log, and were never pruned."""
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    _export_killed_after_the_move(settings, "run-2")
    assert export_folder(settings, "vip", "csv", "run-2").is_dir()  # published-looking, but not recorded
    assert read_latest(settings.export_dir, "vip", "csv") == "run-1"

    result = export(settings, "run-3", segment="vip", fmt="csv", gate=None)[0]
    assert not export_folder(settings, "vip", "csv", "run-2").exists()
    assert result["previous_run_id"] == "run-1"
    assert query(settings, "SELECT DISTINCT run_id, status FROM exports.export_log ORDER BY 1") == [
        ("run-1", "published"), ("run-3", "published")]


def test_a_killed_rerun_puts_the_published_folder_back(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    folder = export_folder(settings, "vip", "csv", "run-1")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    build_warehouse(settings, memberships={**MEMBERSHIPS, "vip": ["c1"]})
    _export_killed_after_the_move(settings, "run-1")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} != before  # the unrecorded rerun's files

    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert list((settings.export_dir / STAGING_FOLDER).iterdir()) == []
