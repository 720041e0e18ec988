"""Snapshots and the changes since the last successful export of the same segment+destination."""

from __future__ import annotations

from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    build_warehouse,
    export_folder,
    ids,
    manifest,
    query,
    read_csv,
    sha,
)

from exports.publish import read_latest
from exports.runner import export


def _second_day(settings):
    """c2 leaves vip; c6 gives e-mail consent; c1 changes e-mail address."""
    customers = dict(CUSTOMERS)
    customers["c6"] = (*CUSTOMERS["c6"][:10], True, True, True)
    customers["c1"] = ("Ada", "Lovelace", "ada.l@example.org", *CUSTOMERS["c1"][3:])
    memberships = {**MEMBERSHIPS, "vip": [c for c in MEMBERSHIPS["vip"] if c != "c2"]}
    build_warehouse(settings, customers=customers, memberships=memberships)


def test_first_export_adds_everyone_and_second_only_the_changes(settings):
    first = export(settings, "run-1", segment="vip", fmt="csv", gate=None)[0]
    assert (first["added"], first["removed"], first["previous_run_id"]) == (2, 0, None)
    _second_day(settings)
    second = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    assert ids(settings, "vip", "csv", "run-2") == ["c1", "c6"]
    assert ids(settings, "vip", "csv", "run-2", "added.csv") == ["c6"]
    assert ids(settings, "vip", "csv", "run-2", "removed.csv") == ["c2"]
    assert (second["added"], second["removed"], second["previous_run_id"]) == (1, 1, "run-1")
    assert manifest(settings, "vip", "csv", "run-2")["previous_run_id"] == "run-1"
    assert read_latest(settings.export_dir, "vip", "csv") == "run-2"


def test_ad_platform_diff_is_by_hashed_identifiers(settings):
    export(settings, "run-1", segment="retarget", fmt="meta", gate=None)
    _second_day(settings)
    export(settings, "run-2", segment="retarget", fmt="meta", gate=None)
    folder = export_folder(settings, "retarget", "meta", "run-2")
    # Same customer, new e-mail: the platform must drop the old identifiers and add the new ones.
    assert [r["EMAIL"] for r in read_csv(folder / "removed.csv")[1]] == [sha("ada@example.com")]
    assert [r["EMAIL"] for r in read_csv(folder / "added.csv")[1]] == [sha("ada.l@example.org")]
    columns, _ = read_csv(folder / "removed.csv")
    assert columns == ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY"]


def test_unchanged_audience_gives_empty_diffs(settings):
    export(settings, "run-1", segment="vip", fmt="google", gate=None)
    second = export(settings, "run-2", segment="vip", fmt="google", gate=None)[0]
    assert (second["added"], second["removed"], second["row_count"]) == (0, 0, 1)
    assert read_csv(export_folder(settings, "vip", "google", "run-2") / "added.csv")[1] == []


def test_rerunning_a_run_replaces_it_without_duplicates(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    _second_day(settings)
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    again = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    # Still compared with run-1, the export before this run, so a rerun gives the same files.
    assert (again["added"], again["removed"], again["previous_run_id"]) == (1, 1, "run-1")
    assert query(settings, "SELECT count(*) FROM exports.export_log WHERE run_id = 'run-2'") == [(1,)]
    assert query(settings, "SELECT count(*) FROM exports.export_members WHERE run_id = 'run-2'") == [(2,)]
    assert sorted(p.name for p in (settings.export_dir / "vip" / "csv").iterdir()) == ["latest", "run-1", "run-2"]
    assert list((settings.export_dir / ".staging").iterdir()) == []


def test_export_log_and_member_state_are_written(settings):
    export(settings, "run-1", segment="vip", fmt=None, gate=None)
    log = query(settings, "SELECT destination, row_count, added, removed, status, path FROM exports.export_log "
                          "WHERE segment = 'vip' ORDER BY destination")
    assert [row[:5] for row in log] == [("csv", 2, 2, 0, "published"), ("google", 1, 1, 0, "published"),
                                        ("meta", 1, 1, 0, "published"), ("parquet", 2, 2, 0, "published")]
    assert all(row[5].endswith("/vip/" + row[0] + "/run-1") for row in log)
    members = query(settings, "SELECT customer_id, member_key FROM exports.export_members "
                              "WHERE segment = 'vip' AND destination = 'csv' ORDER BY 1")
    assert members == [("c1", "c1"), ("c2", "c2")]
