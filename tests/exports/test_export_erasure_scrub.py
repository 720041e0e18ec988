"""An erasure request reaches the export runs kept by retention, not only the next export."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
from exports_testkit import SUPPRESSION, build_warehouse, export_folder, ids, manifest, query, read_csv, sha

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
