"""Snapshots and the changes since the last successful export of the same segment+destination."""

from __future__ import annotations

import dataclasses
import shutil

from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    build_warehouse,
    execute,
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
    # c1's row changed (new e-mail): its member key, the id with a digest of the row, left and entered.
    assert query(settings, "SELECT change, customer_id FROM exports.export_member_changes WHERE run_id = 'run-2' "
                           "ORDER BY 1, 2") == [("added", "c1"), ("added", "c6"), ("removed", "c1"), ("removed", "c2")]
    assert ids(settings, "vip", "csv", "run-2", "changed.csv") == ["c1"]
    assert query(settings, "SELECT count(*) FROM exports.export_members_current") == [(2,)]
    assert sorted(p.name for p in (settings.export_dir / "vip" / "csv").iterdir()) == ["latest", "run-1", "run-2"]
    assert list((settings.export_dir / ".staging").iterdir()) == []


def test_export_log_and_member_state_are_written(settings):
    export(settings, "run-1", segment="vip", fmt=None, gate=None)
    log = query(settings, "SELECT destination, row_count, added, removed, status, path FROM exports.export_log "
                          "WHERE segment = 'vip' ORDER BY destination")
    assert [row[:5] for row in log] == [("csv", 2, 2, 0, "published"), ("google", 1, 1, 0, "published"),
                                        ("meta", 1, 1, 0, "published"), ("parquet", 2, 2, 0, "published")]
    assert all(row[5].endswith("/vip/" + row[0] + "/run-1") for row in log)
    members = query(settings, "SELECT customer_id, member_key FROM exports.export_members_current "
                              "WHERE segment = 'vip' AND destination = 'csv' ORDER BY 1")
    # Marketing member keys: the customer id, a unit separator and a digest of the exported row.
    assert [(customer_id, key.split("\x1f")[0], len(key.split("\x1f")[1])) for customer_id, key in members] == [
        ("c1", "c1", 32), ("c2", "c2", 32)]


def _files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def test_a_rerun_after_the_previous_run_was_pruned_still_compares_with_it(settings):
    # With one kept run the run before the latest loses its folder, but a rerun of the latest run
    # still diffs against it (before, against nothing: added everyone, removed no one; review finding).
    settings = dataclasses.replace(settings, export_keep_runs=1)
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    _second_day(settings)
    first = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    again = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    assert (again["added"], again["removed"], again["previous_run_id"]) == (1, 1, "run-1")
    assert (again["added"], again["removed"]) == (first["added"], first["removed"])


def test_members_kept_per_run_are_converted_to_current_members_and_changes(settings, tmp_path):
    for destination in ("csv", "meta"):
        export(settings, "run-1", segment="vip", fmt=destination, gate=None)
    _second_day(settings)
    for destination in ("csv", "meta"):
        export(settings, "run-2", segment="vip", fmt=destination, gate=None)
    expected = {d: _files_of(export_folder(settings, "vip", d, "run-2")) for d in ("csv", "meta")}
    current = query(settings, "SELECT * FROM exports.export_members_current ORDER BY ALL")
    # The layout before: every member of every retained run in exports.export_members.
    execute(settings, """
        CREATE TABLE exports.export_members (segment VARCHAR NOT NULL, destination VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, member_key VARCHAR NOT NULL, hashed_row JSON);
        INSERT INTO exports.export_members SELECT segment, destination, 'run-2', customer_id, member_key, hashed_row
            FROM exports.export_members_current;
        INSERT INTO exports.export_members
            SELECT segment, destination, 'run-1', customer_id, member_key, hashed_row FROM exports.export_members_current m
            WHERE NOT EXISTS (SELECT 1 FROM exports.export_member_changes c WHERE c.change = 'added' AND c.run_id = 'run-2'
                              AND c.member_key = m.member_key AND c.customer_id = m.customer_id
                              AND c.segment = m.segment AND c.destination = m.destination)
            UNION ALL SELECT segment, destination, 'run-1', customer_id, member_key, hashed_row
            FROM exports.export_member_changes WHERE change = 'removed' AND run_id = 'run-2';
        DROP TABLE exports.export_members_current; DROP TABLE exports.export_member_changes;""")
    shutil.rmtree(export_folder(settings, "vip", "csv", "run-2"))
    shutil.rmtree(export_folder(settings, "vip", "meta", "run-2"))
    for destination in ("csv", "meta"):  # a rerun of run-2 after the conversion: compared with run-1 again
        export(settings, "run-2", segment="vip", fmt=destination, gate=None)
        assert _files_of(export_folder(settings, "vip", destination, "run-2")) == expected[destination]
    assert query(settings, "SELECT * FROM exports.export_members_current ORDER BY ALL") == current
    assert query(settings, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'export_members'") == [
        (0,)]


def _withdraw(settings, customer_id: str, channel: str) -> dict:
    """The customer withdraws e-mail or SMS marketing consent (stays a member of every segment)."""
    customers = dict(CUSTOMERS)
    row = list(customers[customer_id])
    row[{"email": 10, "sms": 11}[channel]] = False
    customers[customer_id] = tuple(row)
    build_warehouse(settings, customers=customers)
    return customers


def test_a_withdrawn_channel_consent_reaches_the_deltas_as_a_changed_row(settings):
    # Before 2026-11-25 the marketing diff compared customer ids only: the phone cell emptied in the
    # snapshot, but added.csv and removed.csv were both empty, so a tool applying deltas kept the phone.
    for fmt in ("csv", "parquet"):
        export(settings, "run-1", segment="vip", fmt=fmt, gate=None)
    customers = _withdraw(settings, "c1", "sms")
    for fmt in ("csv", "parquet"):
        summary = export(settings, "run-2", segment="vip", fmt=fmt, gate=None)[0]
        assert (summary["added"], summary["removed"], summary["changed"]) == (0, 0, 1)
        folder = export_folder(settings, "vip", fmt, "run-2")
        header, changed = read_csv(folder / "changed.csv")
        assert header == read_csv(folder / "added.csv")[0]
        assert [(r["customer_id"], r["email"], r["phone"]) for r in changed] == [("c1", "ada@example.com", "")]
        assert read_csv(folder / "added.csv")[1] == [] and read_csv(folder / "removed.csv")[1] == []
        files = {entry["name"]: entry for entry in manifest(settings, "vip", fmt, "run-2")["files"]}
        assert (files["changed.csv"]["role"], files["changed.csv"]["rows"]) == ("changed", 1)
        assert manifest(settings, "vip", fmt, "run-2")["changed"] == 1

    # The e-mail the same way (in a segment whose purpose is not e-mail); a rerun writes the same files.
    export(settings, "run-2", segment="retarget", fmt="csv", gate=None)
    customers["c1"] = (*customers["c1"][:10], False, *customers["c1"][11:])
    build_warehouse(settings, customers=customers)
    export(settings, "run-3", segment="retarget", fmt="csv", gate=None)
    folder = export_folder(settings, "retarget", "csv", "run-3")
    assert [(r["customer_id"], r["email"], r["phone"]) for r in read_csv(folder / "changed.csv")[1]] == [
        ("c1", "", "")]
    first = _files_of(folder)
    export(settings, "run-3", segment="retarget", fmt="csv", gate=None)
    assert _files_of(folder) == first

    # Nothing changed: every delta is empty and the files of the unchanged members are as before.
    export(settings, "run-4", segment="retarget", fmt="csv", gate=None)
    later = _files_of(export_folder(settings, "retarget", "csv", "run-4"))
    assert later["snapshot.csv"] == first["snapshot.csv"]
    assert all(later[name].count(b"\n") == 1 for name in ("added.csv", "removed.csv", "changed.csv"))


def test_a_member_who_joins_or_leaves_is_not_listed_as_changed(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    _second_day(settings)  # c2 leaves, c6 joins, c1's e-mail address changes
    summary = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    assert (summary["added"], summary["removed"], summary["changed"]) == (1, 1, 1)
    assert ids(settings, "vip", "csv", "run-2", "changed.csv") == ["c1"]
    assert read_csv(export_folder(settings, "vip", "csv", "run-2") / "changed.csv")[1][0]["email"] == \
        "ada.l@example.org"


def test_member_state_kept_before_row_digests_lists_every_member_as_changed_once(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    execute(settings, "UPDATE exports.export_members_current SET member_key = customer_id")  # the earlier keys
    summary = export(settings, "run-2", segment="vip", fmt="csv", gate=None)[0]
    assert (summary["added"], summary["removed"], summary["changed"]) == (0, 0, 2)
    summary = export(settings, "run-3", segment="vip", fmt="csv", gate=None)[0]
    assert (summary["added"], summary["removed"], summary["changed"]) == (0, 0, 0)


def test_marketing_member_key_is_the_id_and_the_sha256_of_the_row_text_as_documented():
    """``runner._marketing_member_keys`` (hashed from Arrow's UTF-8 bytes) keeps the key the member state
    holds: id, unit separator, first 32 hex digits of the SHA-256 of the cells cast to text joined by unit
    separators, a null cell as NUL (so it differs from an empty one). Keys kept by earlier runs must still
    match, or every continuing member would be listed in changed.csv."""
    import hashlib
    from datetime import datetime
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.compute as pc

    from exports.formats import Snapshot
    from exports.runner import _marketing_member_keys

    table = pa.table({
        "customer_id": ["c1", "c2", "c3", "c4"],
        "first_name": ["José María", "", None, "a\x00b,\"c\""],
        "lifetime_revenue": pa.array([Decimal("123.45"), None, Decimal("0.00"), Decimal("-1.50")], pa.decimal128(12, 2)),
        "last_purchase_at": pa.array([datetime(2026, 11, 1, 10), None, datetime(2026, 1, 2, 3, 4, 5, 6), None],
                                     pa.timestamp("us")),
    })
    ids = table.column("customer_id").to_pylist()
    texts = [pc.cast(column, pa.string()).to_pylist() for column in table.columns]
    expected = [f"{cid}\x1f" + hashlib.sha256("\x1f".join("\x00" if cell is None else cell for cell in row)
                                               .encode("utf-8")).hexdigest()[:32]
                for cid, row in zip(ids, zip(*texts, strict=True), strict=True)]
    assert _marketing_member_keys(Snapshot("csv", tuple(table.column_names), table, ids, ids)).to_pylist() == expected
    empty = table.slice(0, 0)
    assert _marketing_member_keys(Snapshot("csv", tuple(table.column_names), empty, [], [])).to_pylist() == []
