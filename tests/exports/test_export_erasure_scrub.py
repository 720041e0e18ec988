"""An erasure request reaches the export runs kept by retention, not only the next export."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    SUPPRESSION,
    build_warehouse,
    execute,
    export_folder,
    ids,
    manifest,
    query,
    read_csv,
    sha,
)

from exports.runner import export


def test_a_new_erasure_removes_the_person_from_retained_runs(settings):
    export(settings, "run-1", gate=None)
    assert "c1" in ids(settings, "vip", "csv", "run-1")
    # Ada asks for erasure; José only opts out (his past exports stay as they were).
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ADA@example.com", "erasure"),
                                           ("email", "jose@example.com", "opt_out")])
    export(settings, "run-2", gate=None)

    for name in ("snapshot.csv", "added.csv"):
        assert ids(settings, "vip", "csv", "run-1", name) == ["c2"]
    parquet = pq.read_table(export_folder(settings, "vip", "parquet", "run-1") / "snapshot.parquet")
    assert parquet.column("customer_id").to_pylist() == ["c2"]
    for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
        for name in ("snapshot.csv", "added.csv"):
            _, rows = read_csv(export_folder(settings, "retarget", fmt, "run-1") / name)
            assert sha("ada@example.com") not in {r[column] for r in rows}
    assert "ada@example.com" not in (export_folder(settings, "everyone", "csv", "run-1") / "snapshot.csv").read_text()

    # The latest run's removed.csv is how the erasure reaches the platform: kept.
    _, removed = read_csv(export_folder(settings, "retarget", "google", "run-2") / "removed.csv")
    assert sha("ada@example.com") in {r["Email"] for r in removed}
    assert "c1" in ids(settings, "vip", "csv", "run-2", "removed.csv")

    # Manifests describe the rewritten files and say why; the warehouse records what was removed.
    folder = export_folder(settings, "vip", "csv", "run-1")
    body = manifest(settings, "vip", "csv", "run-1")
    for entry in body["files"]:
        assert entry["sha256"] == hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest()
    assert {e["name"]: e["rows"] for e in body["files"]}["snapshot.csv"] == 1
    assert body["erasure_scrubs"][0]["run_id"] == "run-2"
    logged = query(settings, "SELECT segment, destination, scrubbed_run_id, file FROM exports.erasure_scrubs "
                             "WHERE segment = 'vip' AND destination = 'csv' ORDER BY ALL")
    assert logged == [("vip", "csv", "run-1", "added.csv"), ("vip", "csv", "run-1", "snapshot.csv")]

    # An entry is applied once: the next night rewrites nothing.
    count = query(settings, "SELECT count(*) FROM exports.erasure_scrubs")
    export(settings, "run-3", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs") == count


def test_the_erased_person_is_found_under_the_id_a_retained_run_used(settings):
    """Identity merged c1 into c9 after run-1: run-1's files list Ada as c1, and the erasure that
    now resolves to c9 still removes her from them (identity.customer_id_history)."""
    export(settings, "run-1", gate=None)
    assert "c1" in ids(settings, "vip", "csv", "run-1")
    customers = {("c9" if cid == "c1" else cid): row for cid, row in CUSTOMERS.items()}
    memberships = {name: [("c9" if cid == "c1" else cid) for cid in members] for name, members in MEMBERSHIPS.items()}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    execute(settings, "CREATE SCHEMA IF NOT EXISTS identity")
    execute(settings, "CREATE TABLE identity.customer_id_history (run_id VARCHAR, old_customer_id VARCHAR, "
                      "new_customer_id VARCHAR, change_type VARCHAR, reason VARCHAR, changed_at TIMESTAMP)")
    execute(settings, "INSERT INTO identity.customer_id_history VALUES "
                      "('r0', NULL, 'c1', 'new', NULL, NULL), ('r1', 'c1', 'c9', 'merge', 'merged', NULL)")
    export(settings, "run-2", gate=None)

    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert "ada@example.com" not in (export_folder(settings, "everyone", "csv", "run-1") / "snapshot.csv").read_text()
    parquet = pq.read_table(export_folder(settings, "vip", "parquet", "run-1") / "snapshot.parquet")
    assert "c1" not in parquet.column("customer_id").to_pylist()


def test_a_first_export_reads_no_files_for_erasures(settings, monkeypatch):
    """A first export (erasure requests already there) writes its files with the suppression list
    applied, so the scrub has no earlier run to read: it does not even resolve the requests (at 1M
    that was ~20 s of reading its own 36 file sets), yet records them as applied."""
    from exports import scrub

    def must_not_run(*args, **kwargs):
        raise AssertionError("resolved erasure requests with no earlier run retained")

    monkeypatch.setattr(scrub, "_erased_customers", must_not_run)
    export(settings, "run-1", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs") == [(0,)]
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubbed_entries") == [(1,)]
