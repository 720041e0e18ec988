"""An erasure request reaches the export runs kept by retention, not only the next export."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow.parquet as pq
import pytest
from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    SEGMENTS,
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

    # An entry is applied once: the next night rewrites only run-2's removed.csv files, held for the
    # platform while run-2 was the latest; the night after rewrites nothing.
    count = query(settings, "SELECT count(*) FROM exports.erasure_scrubs")
    export(settings, "run-3", gate=None)
    assert query(settings, "SELECT DISTINCT scrubbed_run_id, file FROM exports.erasure_scrubs "
                           "WHERE run_id = 'run-3'") == [("run-2", "removed.csv")]
    count = query(settings, "SELECT count(*) FROM exports.erasure_scrubs")
    export(settings, "run-4", gate=None)
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
    applied, so the scrub has no earlier run to read (at 1M reading its own 36 file sets was ~20 s);
    it only resolves the requests, to record which match nobody yet (they stay pending)."""
    from exports import scrub

    def must_not_run(*args, **kwargs):
        raise AssertionError("read export files with no earlier run retained")

    monkeypatch.setattr(scrub, "_scrub_folder", must_not_run)
    export(settings, "run-1", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs") == [(0,)]
    assert query(settings, "SELECT identifier_type, customers_matched FROM exports.erasure_scrubbed_entries") == [
        ("email", 1)]


def _customer_map(settings, store_numbers: dict[str, str]) -> None:
    """identity.customer_map with one store record per customer (store number -> customer id)."""
    execute(settings, "CREATE SCHEMA IF NOT EXISTS identity")
    execute(settings, "CREATE OR REPLACE TABLE identity.customer_map (source_system VARCHAR, "
                      "source_record_id VARCHAR, customer_id VARCHAR)")
    for number, customer_id in store_numbers.items():
        execute(settings, "INSERT INTO identity.customer_map VALUES ('store', ?, ?)", [number, customer_id])


def test_an_erasure_that_matches_nobody_yet_stays_pending(settings):
    """Review finding: an erasure request that matched no customer was marked applied, so when the
    person's record arrived later (here the store record behind the request's store customer number)
    the retained runs kept them. It now stays pending, is reported, and applies once it matches."""
    from exports.scrub import pending_erasures

    _customer_map(settings, {"s2": "c2"})
    export(settings, "run-1", gate=None)
    # Ada asks for erasure with her store customer number; the store record is not loaded yet.
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "s1", "erasure")])
    export(settings, "run-2", gate=None)
    assert "c1" in ids(settings, "vip", "csv", "run-1") and "c1" in ids(settings, "vip", "csv", "run-2")
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 's1'") == [(0,)]
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        pending = pending_erasures(con)
    finally:
        con.close()
    assert [(p["identifier_type"], p["source_file"], p["last_checked_by_run_id"]) for p in pending] == [
        ("customer_id", "suppression.csv", "run-2")]
    # The run report says so (by file and line, never the identifier).
    from quality.report import write_run_report

    report = json.loads((write_run_report(settings, "run-2").parent / "report.json").read_text(encoding="utf-8"))
    assert [(p["identifier_type"], p["source_file"], p["source_line"])
            for p in report["row_counts"]["pending_erasures"]] == [("customer_id", "suppression.csv", 1)]
    html = (settings.reports_dir / "run-2" / "report.html").read_text(encoding="utf-8")
    assert "1 erasure request(s) matched no customer" in html

    # The store record arrives and maps s1 to Ada (c1): both retained runs lose her.
    _customer_map(settings, {"s1": "c1", "s2": "c2"})
    export(settings, "run-3", gate=None)
    for run in ("run-1", "run-2"):
        assert "c1" not in ids(settings, "vip", "csv", run)
        assert "ada@example.com" not in (export_folder(settings, "everyone", "csv", run) / "snapshot.csv").read_text()
        for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
            _, rows = read_csv(export_folder(settings, "retarget", fmt, run) / "snapshot.csv")
            assert sha("ada@example.com") not in {r[column] for r in rows}
    assert query(settings, "SELECT customers_matched, applied_by_run_id FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 's1'") == [(1, "run-3")]


def test_an_erased_person_under_an_id_no_history_links_is_found_by_contact(settings):
    """Review finding: retained files were scrubbed by customer id only. Ada was exported as c1; her
    records now form c10, with no identity.customer_id_history row linking them (her old records were
    deleted at the source). Erased by e-mail, she matched c10 only and stayed in run-1 as c1."""
    export(settings, "run-1", gate=None)
    for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
        _, rows = read_csv(export_folder(settings, "retarget", fmt, "run-1") / "snapshot.csv")
        assert [r[column] for r in rows] == [sha("ada@example.com")]  # Ada is the only one uploaded
    customers = {("c10" if cid == "c1" else cid): row for cid, row in CUSTOMERS.items()}
    memberships = {name: [("c10" if cid == "c1" else cid) for cid in members] for name, members in MEMBERSHIPS.items()}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure"),
                                 ("phone", "+447700900123", "erasure")])
    export(settings, "run-2", gate=None)

    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    snapshot = (export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv").read_text()
    assert "ada@example.com" not in snapshot and "+447700900123" not in snapshot
    parquet = pq.read_table(export_folder(settings, "vip", "parquet", "run-1") / "snapshot.parquet")
    assert "c1" not in parquet.column("customer_id").to_pylist()
    for fmt, columns in (("google", ("Email", "Phone")), ("meta", ("EMAIL", "PHONE"))):
        for name in ("snapshot.csv", "added.csv"):
            _, rows = read_csv(export_folder(settings, "retarget", fmt, "run-1") / name)
            cells = {r[c] for r in rows for c in columns}
            assert sha("ada@example.com") not in cells
            assert not cells & {sha("+447700900123"), sha("447700900123")}
            assert rows == []
    assert ids(settings, "vip", "csv", "run-1") == ["c2"]  # everyone else stays


def test_an_address_a_spreadsheet_would_run_is_found_by_contact_in_kept_marketing_files(settings):
    """The marketing CSV writes `+ada@example.com` as `'+ada@example.com` (formula neutralised); the
    scrub compared the cell as written, so Ada, erased by that address under an id no history
    links, stayed in run-1."""
    customers = {**CUSTOMERS, "c1": (*CUSTOMERS["c1"][:2], "+ada@example.com", *CUSTOMERS["c1"][3:8],
                                     ["+ada@example.com"], *CUSTOMERS["c1"][9:])}
    build_warehouse(settings, customers=customers)
    export(settings, "run-1", gate=None)
    assert "'+ada@example.com" in (export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv").read_text()
    customers = {("c10" if cid == "c1" else cid): row for cid, row in customers.items()}
    memberships = {name: [("c10" if cid == "c1" else cid) for cid in members] for name, members in MEMBERSHIPS.items()}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "+ada@example.com", "erasure")])
    export(settings, "run-2", gate=None)
    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert "ada@example.com" not in (export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv").read_text()


def test_a_pending_e_mail_erasure_applies_once_a_customer_gains_the_address(settings):
    """The pending e-mail request is checked again on the next export, against customers whose
    contacts changed since (exports.erasure_checked_contacts), and applies when one has it."""
    export(settings, "run-1", gate=None)
    suppression = [*SUPPRESSION, ("email", "ada.new@example.com", "erasure"), ("email", "ghost@example.com", "erasure")]
    build_warehouse(settings, suppression=suppression)
    export(settings, "run-2", gate=None)
    assert "c1" in ids(settings, "vip", "csv", "run-1")
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ada.new@example.com'") == [(0,)]
    assert query(settings, "SELECT count(*) FROM exports.erasure_checked_contacts") == [(len(CUSTOMERS),)]

    # A new record links Ada's new address to her (c1): her rows leave both retained runs.
    customers = dict(CUSTOMERS)
    ada = list(customers["c1"])
    ada[8] = ["ada@example.com", "ada.new@example.com"]
    customers["c1"] = tuple(ada)
    build_warehouse(settings, customers=customers, suppression=suppression)
    export(settings, "run-3", gate=None)
    for run in ("run-1", "run-2"):
        assert "c1" not in ids(settings, "vip", "csv", run)
        assert "c1" not in ids(settings, "everyone", "csv", run)  # anonymous files too (by id)
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ada.new@example.com'") == [(1,)]
    # The ghost is still pending: the remembered contacts now hold Ada's new ones (only she was re-read).
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ghost@example.com'") == [(0,)]
    assert query(settings, "SELECT count(*) FROM exports.erasure_checked_contacts") == [(len(CUSTOMERS),)]
    assert query(settings, "SELECT count(*) FROM marts.dim_customers AS d WHERE NOT EXISTS (SELECT 1 FROM "
                           "exports.erasure_checked_contacts AS c WHERE c.customer_id = d.customer_id AND "
                           "c.contact_fingerprint = hash(email, emails, phone, phones, country))") == [(0,)]
    # Every e-mail/phone request is checked every night (an applied one may reach another customer
    # later), so the remembered contacts are kept while there is one, and dropped once there is none.
    build_warehouse(settings, customers=customers, suppression=[s for s in suppression if "ghost" not in s[1]])
    export(settings, "run-4", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.erasure_checked_contacts") == [(len(CUSTOMERS),)]
    build_warehouse(settings, customers=customers,
                    suppression=[s for s in suppression if s[2] != "erasure" or s[0] == "customer_id"])
    export(settings, "run-5", gate=None)
    assert query(settings, "SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'erasure_checked_contacts'") == [(0,)]


def test_entries_recorded_by_the_earlier_code_are_handled_once_more(settings):
    """The table written before customers_matched existed marked a request applied even when it had
    matched nobody; the first export with this code checks those requests again."""
    export(settings, "run-1", gate=None)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "s1", "erasure")])
    execute(settings, "CREATE OR REPLACE TABLE exports.erasure_scrubbed_entries AS SELECT * FROM (VALUES "
                      "('email', '  Erin.OLD@Example.com ', 'run-1'), ('customer_id', 's1', 'run-1')) "
                      "AS t(identifier_type, identifier, applied_by_run_id)")
    _customer_map(settings, {"s1": "c1"})
    export(settings, "run-2", gate=None)
    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert query(settings, "SELECT identifier, customers_matched FROM exports.erasure_scrubbed_entries "
                           "ORDER BY ALL") == [("  Erin.OLD@Example.com ", 1), ("s1", 1)]


def test_an_erasure_by_a_merged_away_id_is_not_left_pending(settings):
    """Review finding: a request naming a customer id that identity merged away since (c1 -> c9)
    matched nobody in the marts, so the scrub left it pending and the exporter kept publishing the
    person as c9. It counts as matched (the former id and the customer it was merged into)."""
    export(settings, "run-1", gate=None)
    customers = {("c9" if cid == "c1" else cid): row for cid, row in CUSTOMERS.items()}
    memberships = {name: [("c9" if cid == "c1" else cid) for cid in members] for name, members in MEMBERSHIPS.items()}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("customer_id", "c1", "erasure")])
    execute(settings, "CREATE SCHEMA IF NOT EXISTS identity")
    execute(settings, "CREATE TABLE identity.customer_id_history (run_id VARCHAR, old_customer_id VARCHAR, "
                      "new_customer_id VARCHAR, change_type VARCHAR, reason VARCHAR, changed_at TIMESTAMP)")
    execute(settings, "INSERT INTO identity.customer_id_history VALUES ('r1', 'c1', 'c9', 'merge', 'merged', NULL)")
    _customer_map(settings, {"s9": "c9"})
    export(settings, "run-2", gate=None)
    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'c1'") == [(2,)]
    # The exporter (and its gate, which shares the matcher) no longer publishes her as c9 either.
    assert ids(settings, "vip", "csv", "run-2") == ["c2"]


def test_an_applied_erasure_reaches_a_second_customer_who_gains_the_address_later(settings):
    """Review finding: an erasure request was applied once, to the customer it matched that night;
    when a later night's records gave the erased e-mail to a second customer (c2), the exporter left
    c2 out of new files but c2's rows stayed in the retained runs. Every night re-checks every erasure
    request against the current customers."""
    export(settings, "run-1", gate=None)
    suppression = [*SUPPRESSION, ("email", "ada@example.com", "erasure")]
    build_warehouse(settings, suppression=suppression)
    export(settings, "run-2", gate=None)
    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert "c2" in ids(settings, "vip", "csv", "run-1") and "c2" in ids(settings, "vip", "csv", "run-2")
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ada@example.com'") == [(1,)]

    # The next night a new record gives José (c2) Ada's address as well.
    customers = dict(CUSTOMERS)
    jose = list(customers["c2"])
    jose[8] = ["jose@example.com", "ada@example.com"]
    customers["c2"] = tuple(jose)
    build_warehouse(settings, customers=customers, suppression=suppression)
    export(settings, "run-3", gate=None)
    assert "c2" not in ids(settings, "vip", "csv", "run-3")  # the exporter already left him out
    for run in ("run-1", "run-2"):
        assert "c2" not in ids(settings, "vip", "csv", run)
        assert "c2" not in ids(settings, "everyone", "csv", run)
        parquet = pq.read_table(export_folder(settings, "vip", "parquet", run) / "snapshot.parquet")
        assert "c2" not in parquet.column("customer_id").to_pylist()
    assert query(settings, "SELECT customer_id FROM exports.erasure_scrubbed_customers "
                           "WHERE identifier = 'ada@example.com' ORDER BY ALL") == [("c1",), ("c2",)]
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ada@example.com'") == [(2,)]
    # Nothing new the night after: only run-3's removed.csv files (held for the platforms while run-3
    # was the latest) lose José; the night after that no file is rewritten again.
    export(settings, "run-4", gate=None)
    assert query(settings, "SELECT DISTINCT scrubbed_run_id, file FROM exports.erasure_scrubs "
                           "WHERE run_id = 'run-4'") == [("run-3", "removed.csv")]
    assert "c2" not in ids(settings, "vip", "csv", "run-3", "removed.csv")
    count = query(settings, "SELECT count(*) FROM exports.erasure_scrubs")
    export(settings, "run-5", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs") == count


def _hashes(settings, segment: str, destination: str, run_id: str, name: str, column: str = "Email") -> set[str]:
    return {row[column] for row in read_csv(export_folder(settings, segment, destination, run_id) / name)[1]}


def test_a_partial_export_under_the_nights_run_id_scrubs_that_runs_other_folders(settings):
    """`cdp export --segment vip` defaults to the night's run id, the one `cdp run` published every
    export under: the erasure it applies reaches that run's other folders too (it rebuilt only
    vip/csv), and the next night does not have to (the request is recorded as applied)."""
    export(settings, "run-1", gate=None)
    export(settings, "run-2", gate=None)
    ada = sha("ada@example.com")
    assert ada in _hashes(settings, "retarget", "google", "run-2", "snapshot.csv")
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)

    for run in ("run-1", "run-2"):
        for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
            for name in ("snapshot.csv", "added.csv"):
                assert ada not in _hashes(settings, "retarget", fmt, run, name, column), (run, fmt, name)
        for segment in ("vip", "retarget", "everyone"):
            text = (export_folder(settings, segment, "csv", run) / "snapshot.csv").read_text()
            assert "ada@example.com" not in text and "Lovelace" not in text, (run, segment)
        parquet = pq.read_table(export_folder(settings, "vip", "parquet", run) / "snapshot.parquet")
        assert "c1" not in parquet.column("customer_id").to_pylist()
    assert query(settings, "SELECT DISTINCT scrubbed_run_id FROM exports.erasure_scrubs ORDER BY ALL") == [
        ("run-1",), ("run-2",)]


def test_the_folders_an_export_built_are_read_only_for_requests_it_was_built_without(settings):
    """The scrub skips the folders the export just built only when they were built with every request it
    applies; a request that arrived in between (another process loading the suppression list) is looked for
    in them too."""
    from exports import scrub

    export(settings, "run-1", gate=None)
    rebuilt = [(segment, fmt) for segment in ("vip", "retarget", "everyone")
               for fmt in ("csv", "parquet", "google", "meta")]
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        built_without = scrub.erasure_entries(con)
        assert built_without == {("email", "  Erin.OLD@Example.com ")}
        con.execute("INSERT INTO raw.suppression_list VALUES ('email', 'ada@example.com', 'erasure', NULL, "
                    "'suppression.csv', 9, 'b2', NULL)")
        assert scrub.scrub_erased(settings, con, "run-1", rebuilt=rebuilt, built_without=built_without) > 0
    finally:
        con.close()
    assert "c1" not in ids(settings, "vip", "csv", "run-1")
    assert sha("ada@example.com") not in _hashes(settings, "retarget", "google", "run-1", "snapshot.csv")
    # The removed.csv the export just published is how the erasure reaches the platform: kept.
    assert ids(settings, "vip", "csv", "run-1", "removed.csv") == []


def test_a_retired_segments_final_export_loses_an_erased_person(settings):
    """A segment removed from the YAML gets a final, empty export whose removed.csv lists every member,
    and that run stays its latest for good: an erasure made later removes the person from it too."""
    export(settings, "run-1", gate=None)
    segments = [s for s in SEGMENTS if s[0] != "retarget"]
    memberships = {k: v for k, v in MEMBERSHIPS.items() if k != "retarget"}
    build_warehouse(settings, segments=segments, memberships=memberships)
    export(settings, "run-2", gate=None)
    ada = sha("ada@example.com")
    assert manifest(settings, "retarget", "google", "run-2").get("retired") is True
    assert ada in _hashes(settings, "retarget", "google", "run-2", "removed.csv")
    assert "c1" in ids(settings, "retarget", "csv", "run-2", "removed.csv")

    build_warehouse(settings, segments=segments, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-3", gate=None)
    for run in ("run-1", "run-2"):
        for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
            for name in ("snapshot.csv", "added.csv", "removed.csv"):
                assert ada not in _hashes(settings, "retarget", fmt, run, name, column), (run, fmt, name)
        assert "c1" not in ids(settings, "retarget", "csv", run, "removed.csv")
    assert ids(settings, "retarget", "csv", "run-2", "removed.csv") == ["c8"]  # only the erased person goes


def _with_line_breaks() -> dict:
    customers = dict(CUSTOMERS)
    customers["c1"] = ("Ada\rMarie", *CUSTOMERS["c1"][1:])   # a carriage return alone
    c6 = list(CUSTOMERS["c6"])
    c6[4] = "Paris\r\nCentre"                                 # CR LF: the scrub's csv.reader path
    c6[10] = True                                              # consents to e-mail: in vip/csv
    customers["c6"] = tuple(c6)
    return customers


def test_a_cell_with_a_carriage_return_keeps_its_row_whole_through_export_and_scrub(settings):
    """A carriage return in a cell is quoted (RFC 4180), so readers keep the row whole, and the scrub
    removes exactly the erased person's row and writes the others back as they were."""
    build_warehouse(settings, customers=_with_line_breaks())
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    path = export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv"
    rows = {row["customer_id"]: row for row in read_csv(path)[1]}
    assert sorted(rows) == ["c1", "c2", "c6"]
    assert rows["c1"]["first_name"] == "Ada\rMarie" and rows["c6"]["city"] == "Paris\r\nCentre"
    assert b'\nc1,"Ada\rMarie",Lovelace,' in path.read_bytes()

    build_warehouse(settings, customers=_with_line_breaks(),
                    suppression=[*SUPPRESSION, ("customer_id", "c2", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    rows = {row["customer_id"]: row for row in read_csv(path)[1]}
    assert sorted(rows) == ["c1", "c6"]
    assert rows["c1"]["first_name"] == "Ada\rMarie" and rows["c6"]["city"] == "Paris\r\nCentre"
    assert b'\nc1,"Ada\rMarie",Lovelace,' in path.read_bytes()
    assert b',"Paris\r\nCentre",' in path.read_bytes()

    build_warehouse(settings, customers=_with_line_breaks(),
                    suppression=[*SUPPRESSION, ("customer_id", "c2", "erasure"), ("customer_id", "c1", "erasure")])
    export(settings, "run-3", segment="vip", fmt="csv", gate=None)
    text = path.read_text(encoding="utf-8")
    assert "Lovelace" not in text and "ada@example.com" not in text and "+447700900123" not in text
    assert sorted(row["customer_id"] for row in read_csv(path)[1]) == ["c6"]
    entry = {e["name"]: e for e in manifest(settings, "vip", "csv", "run-1")["files"]}["snapshot.csv"]
    assert entry["rows"] == 1 and entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_retained_file_with_an_unquoted_carriage_return_stops_the_scrub_naming_it(settings, tmp_path):
    """Before 2026-11-25 the exporter left a carriage return unquoted: every reader takes it for a row
    break and would remove a fragment of the erased person's row. The scrub refuses such a file."""
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    path = export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv"
    broken = path.read_bytes().replace(b"\nc1,Ada,", b"\nc1,Ada\rMarie,")
    path.write_bytes(broken)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "c1", "erasure")])
    with pytest.raises(RuntimeError, match=r"vip/csv/run-1/snapshot\.csv: not a CSV file as the exporter"):
        export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    assert path.read_bytes() == broken
    # A one-column file (a marketing removed.csv) splits into rows that are not ragged: the scrub counts
    # the line feeds outside quotes, which a bare carriage return is not.
    from exports import scrub

    removed = tmp_path / "removed.csv"
    removed.write_bytes(b"customer_id\nc1\rc9\nc2\n")
    with pytest.raises(RuntimeError, match=r"removed\.csv: not a CSV file as the exporter writes it"):
        scrub._read_csv_text(removed)
    removed.write_bytes(b'customer_id\n"c1\rc9"\nc2\n')
    assert scrub._read_csv_text(removed).column("customer_id").to_pylist() == ["c1\rc9", "c2"]
    # Not recorded as applied: once the file is fixed, the next export applies the request.
    path.write_bytes(broken.replace(b"Ada\rMarie", b"Ada"))
    export(settings, "run-3", segment="vip", fmt="csv", gate=None)
    assert "c1" not in ids(settings, "vip", "csv", "run-1")


def test_a_latest_removed_csv_kept_for_the_platform_loses_the_person_once_superseded(settings):
    """Ada left retarget in run-2, so its removed.csv tells the platforms to delete her. Her erasure
    arrives; a partial export keeps that file (still the latest: the platforms may not have read it) and
    the next export that is not reading it as the latest removes her from it."""
    export(settings, "run-1", gate=None)
    memberships = {**MEMBERSHIPS, "retarget": [cid for cid in MEMBERSHIPS["retarget"] if cid != "c1"]}
    build_warehouse(settings, memberships=memberships)
    export(settings, "run-2", gate=None)
    ada = sha("ada@example.com")
    assert ada in _hashes(settings, "retarget", "google", "run-2", "removed.csv")
    build_warehouse(settings, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    assert ada in _hashes(settings, "retarget", "google", "run-2", "removed.csv")
    assert "c1" in ids(settings, "retarget", "csv", "run-2", "removed.csv")
    assert ada not in _hashes(settings, "retarget", "google", "run-2", "snapshot.csv")

    export(settings, "run-3", segment="vip", fmt="csv", gate=None)  # retarget's latest is still run-2
    assert ada in _hashes(settings, "retarget", "google", "run-2", "removed.csv")
    export(settings, "run-3", gate=None)
    for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
        assert ada not in _hashes(settings, "retarget", fmt, "run-2", "removed.csv", column), fmt
    assert "c1" not in ids(settings, "retarget", "csv", "run-2", "removed.csv")
    # Released; run-3's other folders are held instead: the partial export applied the request, so their
    # removed.csv (built from member state that still listed Ada) is the platforms' delete list.
    assert query(settings, "SELECT segment, destination, run_id FROM exports.erasure_held_removals "
                           "ORDER BY ALL") == [("everyone", fmt, "run-3") for fmt in ("csv", "google", "meta", "parquet")
                                               ] + [("vip", fmt, "run-3") for fmt in ("google", "meta", "parquet")]
    assert "c1" in ids(settings, "vip", "parquet", "run-3", "removed.csv")
    body = manifest(settings, "retarget", "google", "run-2")
    assert body["erasure_scrubs"][-1] == {"run_id": "run-3", "reason": "erasure requests made after this export",
                                          "rows_removed": {"removed.csv": 1}}


def test_the_removed_csv_of_the_run_built_after_an_erasure_loses_the_person_once_superseded(settings):
    """The export built right after an erasure lists the person in its removed.csv (the platforms'
    delete list) although it skips reading the rest of the folders it built: that folder is noted and
    the first export after which it is not the latest scrubs it (before 2026-11-25 it was never noted,
    so the person stayed in it until retention deleted the run)."""
    export(settings, "run-1", gate=None)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", gate=None)
    ada = sha("ada@example.com")
    assert ada in _hashes(settings, "retarget", "google", "run-2", "removed.csv")  # kept for the platform
    assert "c1" in ids(settings, "retarget", "csv", "run-2", "removed.csv")
    held = query(settings, "SELECT segment, destination FROM exports.erasure_held_removals "
                           "WHERE run_id = 'run-2' ORDER BY ALL")
    assert ("retarget", "google") in held and ("retarget", "csv") in held

    export(settings, "run-3", gate=None)
    for fmt, column in (("google", "Email"), ("meta", "EMAIL")):
        assert ada not in _hashes(settings, "retarget", fmt, "run-2", "removed.csv", column), fmt
    for fmt in ("csv", "parquet"):
        assert "c1" not in ids(settings, "retarget", fmt, "run-2", "removed.csv"), fmt
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals") == [(0,)]


def test_a_retired_segments_final_export_built_the_night_of_an_erasure_loses_the_person_at_the_next_export(
        settings):
    """The segment is retired the same night the erasure arrives: its final export (the latest for
    good) is built then, with the person in its removed.csv, the platforms' delete list. It is held for
    that night, as a latest superseded later would be, and scrubbed by the next export. Until 2026-11-25
    it was scrubbed at once, so Google and Meta were never told to delete the person they still held."""
    export(settings, "run-1", gate=None)
    _retire_retarget(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", gate=None)
    assert manifest(settings, "retarget", "google", "run-2").get("retired") is True
    for fmt in ("csv", "parquet", "google", "meta"):
        assert _removed_lists_ada(settings, "retarget", fmt, "run-2"), fmt
    assert query(settings, "SELECT destination FROM exports.erasure_held_removals "
                           "WHERE segment = 'retarget' AND run_id = 'run-2' ORDER BY ALL") == [
        ("csv",), ("google",), ("meta",), ("parquet",)]
    export(settings, "run-3", gate=None)
    for fmt in ("csv", "parquet", "google", "meta"):
        assert not _removed_lists_ada(settings, "retarget", fmt, "run-2"), fmt
    assert ids(settings, "retarget", "csv", "run-2", "removed.csv") == ["c8"]  # only the erased person goes
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals "
                           "WHERE segment = 'retarget'") == [(0,)]


def _removed_lists_ada(settings, segment: str, fmt: str, run_id: str) -> bool:
    if fmt in ("google", "meta"):
        return sha("ada@example.com") in _hashes(settings, segment, fmt, run_id, "removed.csv",
                                                 "Email" if fmt == "google" else "EMAIL")
    return "c1" in ids(settings, segment, fmt, run_id, "removed.csv")


_ADA_EXPORTS = [(segment, fmt) for segment in ("vip", "retarget", "everyone")
                for fmt in ("csv", "parquet", "google", "meta")]


def test_the_removed_csv_built_after_a_partial_export_applied_an_erasure_loses_the_person_once_superseded(settings):
    """A partial export (vip/csv) applies Ada's erasure: retained runs lose her, but the other exports' member
    state still lists her, so the next full export's removed.csv files tell the platforms (and marketing
    tools) to delete her. That export has nothing left to apply; its folders are noted as held all the same
    (from exports.export_member_changes) and the first export after which they are not the latest scrubs
    them. Until 2026-11-25 they were not, and kept her until retention deleted the run (30 runs)."""
    export(settings, "run-1", gate=None)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    ada = sha("ada@example.com")
    assert ada not in _hashes(settings, "retarget", "google", "run-1", "snapshot.csv")
    export(settings, "run-3", gate=None)
    listing = [(segment, fmt) for segment, fmt in _ADA_EXPORTS if (segment, fmt) != ("vip", "csv")]
    for segment, fmt in listing:  # the delete lists, kept while they are the latest
        assert _removed_lists_ada(settings, segment, fmt, "run-3"), (segment, fmt)
    assert query(settings, "SELECT segment, destination FROM exports.erasure_held_removals "
                           "WHERE run_id = 'run-3' ORDER BY ALL") == sorted(listing)
    export(settings, "run-4", gate=None)  # run-3 is no longer the latest
    for segment, fmt in listing:
        assert not _removed_lists_ada(settings, segment, fmt, "run-3"), (segment, fmt)
    assert ids(settings, "retarget", "csv", "run-3", "removed.csv") == []  # nobody else left retarget
    body = manifest(settings, "retarget", "meta", "run-3")
    assert body["erasure_scrubs"] == [{"run_id": "run-4", "reason": "erasure requests made after this export",
                                       "rows_removed": {"removed.csv": 1}}]
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals") == [(0,)]
    count = query(settings, "SELECT count(*) FROM exports.erasure_scrubs")
    export(settings, "run-5", gate=None)  # nothing left to do, nothing noted
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs") == count
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals") == [(0,)]


def test_a_delete_list_built_by_a_second_partial_export_after_the_erasure_is_held_and_scrubbed(settings):
    """The other order: after vip/csv applied the request, partial exports of one format each build the
    delete lists (retarget/meta, then vip/parquet); each is held while it is its export's latest and
    scrubbed once a later partial export of that same segment+format supersedes it."""
    export(settings, "run-1", gate=None)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    export(settings, "run-3", segment="retarget", fmt="meta", gate=None)
    export(settings, "run-3", segment="vip", fmt="parquet", gate=None)
    assert _removed_lists_ada(settings, "retarget", "meta", "run-3")
    assert _removed_lists_ada(settings, "vip", "parquet", "run-3")
    assert query(settings, "SELECT segment, destination, run_id FROM exports.erasure_held_removals ORDER BY ALL") == [
        ("retarget", "meta", "run-3"), ("vip", "csv", "run-2"), ("vip", "parquet", "run-3")]
    export(settings, "run-4", segment="retarget", fmt="meta", gate=None)
    assert not _removed_lists_ada(settings, "retarget", "meta", "run-3")
    assert _removed_lists_ada(settings, "vip", "parquet", "run-3")  # still vip/parquet's latest
    assert _removed_lists_ada(settings, "retarget", "google", "run-1") is False  # built before: scrubbed in run-2
    export(settings, "run-4", segment="vip", fmt="parquet", gate=None)
    assert not _removed_lists_ada(settings, "vip", "parquet", "run-3")
    assert query(settings, "SELECT segment, destination, run_id FROM exports.erasure_held_removals") == [
        ("vip", "csv", "run-2")]  # built while applying the request, still vip/csv's latest


def test_a_segment_retired_after_a_partial_export_applied_an_erasure_is_held_for_one_export(settings):
    """A partial export applied Ada's erasure; the next full export retires retarget, whose final export (its
    latest for good) lists every member it still held, Ada among them: the platforms' delete list, held for
    that export (noted from the member state, no file read) and scrubbed by the next one (a partial one
    here). Until 2026-11-25 it was scrubbed at once, so the platforms kept her."""
    export(settings, "run-1", gate=None)
    suppression = [*SUPPRESSION, ("email", "ada@example.com", "erasure")]
    build_warehouse(settings, suppression=suppression)
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    _retire_retarget(settings, suppression=suppression)
    export(settings, "run-3", gate=None)
    assert manifest(settings, "retarget", "google", "run-3").get("retired") is True
    for fmt in ("csv", "parquet", "google", "meta"):
        assert _removed_lists_ada(settings, "retarget", fmt, "run-3"), fmt
    assert query(settings, "SELECT DISTINCT segment FROM exports.erasure_held_removals ORDER BY ALL") == [
        ("everyone",), ("retarget",), ("vip",)]
    export(settings, "run-4", segment="vip", fmt="csv", gate=None)
    for fmt in ("csv", "parquet", "google", "meta"):
        assert not _removed_lists_ada(settings, "retarget", fmt, "run-3"), fmt
    assert ids(settings, "retarget", "csv", "run-3", "removed.csv") == ["c8"]  # only the erased person goes
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals WHERE segment = 'retarget'") == [
        (0,)]


def _retire_retarget(settings, suppression=SUPPRESSION) -> None:
    build_warehouse(settings, segments=[s for s in SEGMENTS if s[0] != "retarget"],
                    memberships={k: v for k, v in MEMBERSHIPS.items() if k != "retarget"}, suppression=suppression)


def test_a_retracted_erasure_request_leaves_delete_lists_naming_the_customer_whole(settings):
    """A mistyped erasure row names Ada; a partial export applies it (run-2), and the row is taken off the
    list the next night (run-3), when retarget is retired: Ada is not erased, so the final export's delete
    lists must still tell the platforms to drop her. Until 2026-11-25 everyone a request was ever applied
    to counted as erased."""
    export(settings, "run-1", gate=None)
    build_warehouse(settings, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)
    _retire_retarget(settings)
    export(settings, "run-3", gate=None)
    assert "c1" in ids(settings, "vip", "csv", "run-3")  # a member again
    assert manifest(settings, "retarget", "google", "run-3").get("retired") is True
    for fmt in ("csv", "parquet", "google", "meta"):
        assert _removed_lists_ada(settings, "retarget", fmt, "run-3"), fmt
    assert query(settings, "SELECT count(*) FROM exports.erasure_held_removals") == [(0,)]
    assert query(settings, "SELECT DISTINCT customer_id FROM exports.erasure_scrubbed_customers") == [("c3",)]


def test_an_erasure_request_put_back_after_a_retraction_reaches_the_runs_published_meanwhile(settings):
    """Retracted (run-3), Ada is exported again; the request put back (run-5) is a new one: the runs
    published while it was off lose her too, the retired segment's final delete list among them."""
    export(settings, "run-1", gate=None)
    erasure = [*SUPPRESSION, ("email", "ada@example.com", "erasure")]
    build_warehouse(settings, suppression=erasure)
    export(settings, "run-2", gate=None)
    build_warehouse(settings)
    export(settings, "run-3", gate=None)
    _retire_retarget(settings)
    export(settings, "run-4", gate=None)
    for fmt in ("csv", "parquet", "google", "meta"):  # not erased: the delete lists name her
        assert _removed_lists_ada(settings, "retarget", fmt, "run-4"), fmt
    _retire_retarget(settings, suppression=erasure)
    export(settings, "run-5", gate=None)
    for run in ("run-3", "run-4"):
        assert "c1" not in ids(settings, "vip", "csv", run), run
        assert sha("ada@example.com") not in _hashes(settings, "vip", "google", run, "snapshot.csv"), run
    for fmt in ("csv", "parquet", "google", "meta"):
        assert not _removed_lists_ada(settings, "retarget", fmt, "run-4"), fmt


@pytest.mark.parametrize("keys_without_digest", [False, True], ids=["changed-row", "upgrade-night"])
def test_a_marketing_row_that_changed_does_not_hold_its_delete_list(settings, keys_without_digest):
    """Identity split Ada's records off c1 into c9 and she is erased: c1 (someone else now) stays a member
    under an id Ada's rows had, and its row changed, which the member state records as a removed key and an
    added one. removed.csv lists nobody, so no csv/parquet folder is noted as holding her; nor on the night
    after the upgrade, when every continuing member's key (the bare customer id) is replaced that way."""
    export(settings, "run-1", gate=None)
    if keys_without_digest:  # as kept before 2026-11-25
        execute(settings, "UPDATE exports.export_members_current SET member_key = customer_id "
                          "WHERE destination IN ('csv', 'parquet')")
    customers = {**CUSTOMERS, "c9": CUSTOMERS["c1"],
                 "c1": ("Ann", "Other", "ann@example.com", "+447700900999", *CUSTOMERS["c1"][4:8],
                        ["ann@example.com"], ["+447700900999"], *CUSTOMERS["c1"][10:])}
    memberships = {**MEMBERSHIPS, "everyone": [*MEMBERSHIPS["everyone"], "c9"]}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    execute(settings, "CREATE SCHEMA IF NOT EXISTS identity")
    execute(settings, "CREATE TABLE identity.customer_id_history (run_id VARCHAR, old_customer_id VARCHAR, "
                      "new_customer_id VARCHAR, change_type VARCHAR, reason VARCHAR, changed_at TIMESTAMP)")
    execute(settings, "INSERT INTO identity.customer_id_history VALUES ('r1', 'c1', 'c9', 'split', 'split', NULL)")
    export(settings, "run-2", gate=None)
    changed = ["c1", "c2"] if keys_without_digest else ["c1"]  # every member (c3-c7 are left out) or c1
    for fmt in ("csv", "parquet"):
        assert ids(settings, "vip", fmt, "run-2", "removed.csv") == [], fmt
        assert ids(settings, "vip", fmt, "run-2", "changed.csv") == changed, fmt
    assert query(settings, "SELECT segment, destination FROM exports.erasure_held_removals "
                           "WHERE destination IN ('csv', 'parquet')") == []
    # Her hashed row (c1's before) left the ad audiences: those delete lists do hold her, and are held.
    assert query(settings, "SELECT segment, destination FROM exports.erasure_held_removals ORDER BY ALL") == [
        (segment, fmt) for segment in ("everyone", "retarget", "vip") for fmt in ("google", "meta")]


def test_a_delete_list_holding_an_erased_hash_of_nobody_now_is_held_and_scrubbed(settings):
    """Ada changed her address and left retarget; then her old address is erased. It matches no customer
    (pending), so no customer id is applied, but retarget's next delete list holds her previously uploaded
    row, with the erased address's hash: noted by that hash and scrubbed once superseded."""
    export(settings, "run-1", gate=None)
    customers = {**CUSTOMERS, "c1": ("Ada", "Lovelace", "ada.new@example.com", *CUSTOMERS["c1"][3:8],
                                     ["ada.new@example.com"], *CUSTOMERS["c1"][9:])}
    memberships = {**MEMBERSHIPS, "retarget": [cid for cid in MEMBERSHIPS["retarget"] if cid != "c1"]}
    build_warehouse(settings, customers=customers, memberships=memberships,
                    suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-2", segment="vip", fmt="csv", gate=None)  # pending: nobody has the address now
    assert query(settings, "SELECT customers_matched FROM exports.erasure_scrubbed_entries "
                           "WHERE identifier = 'ada@example.com'") == [(0,)]
    export(settings, "run-3", gate=None)
    assert _removed_lists_ada(settings, "retarget", "google", "run-3")
    assert _removed_lists_ada(settings, "retarget", "meta", "run-3")
    assert query(settings, "SELECT destination FROM exports.erasure_held_removals WHERE segment = 'retarget' "
                           "ORDER BY ALL") == [("google",), ("meta",)]  # not csv/parquet: c1 is not erased
    export(settings, "run-4", gate=None)
    assert not _removed_lists_ada(settings, "retarget", "google", "run-3")
    assert not _removed_lists_ada(settings, "retarget", "meta", "run-3")
    assert "c1" in ids(settings, "retarget", "csv", "run-3", "removed.csv")



def test_an_erased_person_leaves_the_changed_csv_of_retained_runs(settings):
    export(settings, "run-1", segment="vip", gate=None)
    customers = dict(CUSTOMERS)
    customers["c1"] = (*CUSTOMERS["c1"][:11], False, CUSTOMERS["c1"][12])  # SMS consent withdrawn
    build_warehouse(settings, customers=customers)
    export(settings, "run-2", segment="vip", gate=None)
    for fmt in ("csv", "parquet"):
        assert ids(settings, "vip", fmt, "run-2", "changed.csv") == ["c1"]

    build_warehouse(settings, customers=customers, suppression=[*SUPPRESSION, ("email", "ada@example.com", "erasure")])
    export(settings, "run-3", segment="vip", gate=None)

    for fmt in ("csv", "parquet"):
        folder = export_folder(settings, "vip", fmt, "run-2")
        assert ids(settings, "vip", fmt, "run-2", "changed.csv") == []
        entry = next(e for e in manifest(settings, "vip", fmt, "run-2")["files"] if e["name"] == "changed.csv")
        assert entry["rows"] == 0
        assert entry["sha256"] == hashlib.sha256((folder / "changed.csv").read_bytes()).hexdigest()
    assert ("vip", "csv", "run-2", "changed.csv") in query(
        settings, "SELECT segment, destination, scrubbed_run_id, file FROM exports.erasure_scrubs")


def _files_disagreeing_with_their_manifest(settings) -> list[str]:
    """Every file of every run folder whose manifest rows, size or SHA-256 differ from the file."""
    wrong = []
    for path in sorted(settings.export_dir.glob("*/*/*/manifest.json")):
        for entry in json.loads(path.read_text())["files"]:
            file = path.parent / entry["name"]
            rows = pq.read_metadata(file).num_rows if file.suffix == ".parquet" else len(read_csv(file)[1])
            if (rows, file.stat().st_size, hashlib.sha256(file.read_bytes()).hexdigest()) != (
                    entry["rows"], entry["bytes"], entry["sha256"]):
                wrong.append(str(file.relative_to(settings.export_dir)))
        wrong += [str(p.relative_to(settings.export_dir)) for p in path.parent.glob(".*")]  # temporaries left
    return wrong


def _scrub_log(settings) -> list[tuple]:
    return query(settings, "SELECT run_id, segment, destination, scrubbed_run_id, file, rows_removed "
                           "FROM exports.erasure_scrubs ORDER BY ALL")


def test_a_scrub_stopped_by_an_unreadable_file_leaves_files_manifests_and_log_agreeing(settings):
    """Review finding: the scrub rewrote files one by one and logged them all at the end. A file it could
    not read left the folders before it rewritten but unlogged, and in its own folder added.csv
    rewritten with its manifest still saying rows=2 and the old SHA-256; the next export repaired neither.
    Now each folder is put in place whole with its manifest and logged at once, an unreadable folder is
    left as it was, and the error says the run was published."""
    export(settings, "run-1", gate=None)
    path = export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv"
    good = path.read_bytes()
    path.write_bytes(good.replace(b"Lovelace", b"Love\rlace"))  # as the exporter wrote it before 2026-11-25
    vip_csv = {p.name: p.read_bytes() for p in export_folder(settings, "vip", "csv", "run-1").iterdir()}
    build_warehouse(settings, suppression=[*SUPPRESSION, ("customer_id", "c2", "erasure")])
    with pytest.raises(RuntimeError, match=r"vip/csv/run-1/snapshot\.csv: not a CSV") as failed:
        export(settings, "run-2", gate=None)
    assert publish_latest(settings, "vip", "csv") == "run-2"
    # The unreadable folder is untouched (its added.csv too); every other folder is scrubbed and logged.
    assert {p.name: p.read_bytes() for p in export_folder(settings, "vip", "csv", "run-1").iterdir()} == vip_csv
    assert "c2" not in ids(settings, "everyone", "csv", "run-1")
    assert "c2" not in ids(settings, "vip", "parquet", "run-1", "added.csv")
    assert ("run-2", "everyone", "csv", "run-1", "snapshot.csv", 1) in _scrub_log(settings)
    assert not [row for row in _scrub_log(settings) if row[1:4] == ("vip", "csv", "run-1")]
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubbed_customers WHERE customer_id = 'c2'") == [(0,)]
    # Only the file the exporter wrote before is refused: it is named, the rest agrees with the manifests.
    assert _files_disagreeing_with_their_manifest(settings) == ["vip/csv/run-1/snapshot.csv"]
    assert type(failed.value).__name__ == "ErasureScrubFailed"
    assert "published 12 export(s) and repointed their latest" in str(failed.value)
    assert len(failed.value.results) == 12

    path.write_bytes(good)  # the operator restores the file
    export(settings, "run-3", gate=None)
    assert "c2" not in ids(settings, "vip", "csv", "run-1") + ids(settings, "vip", "csv", "run-1", "added.csv")
    assert {row[4]: row[5] for row in _scrub_log(settings) if row[1:4] == ("vip", "csv", "run-1")} == {
        "added.csv": 1, "snapshot.csv": 1}
    assert _files_disagreeing_with_their_manifest(settings) == []


def publish_latest(settings, segment: str, destination: str) -> str | None:
    from exports.publish import read_latest

    return read_latest(settings.export_dir, segment, destination)


def _erasure_export(settings, run_id: str, crash_at: str | None = None) -> None:
    """``export(settings, run_id)`` (every segment and format), in another process killed (``os._exit``, as
    SIGKILL or OOM) at ``crash_at`` = ``<function of exports.scrub>:<call>`` when given."""
    if crash_at is None:
        export(settings, run_id, gate=None)
        return
    import os
    import subprocess
    import sys
    from pathlib import Path

    name, call = crash_at.split(":")
    code = (
        "import os\nfrom datetime import date\nfrom pathlib import Path\n"
        "from cdp.settings import Settings\nfrom exports import scrub\nfrom exports.runner import export\n"
        f"calls = []\nreal = getattr(scrub.os if {name!r} == 'replace' else scrub, {name!r})\n"
        "def crash(*args, **kwargs):\n"
        "    calls.append(1)\n"
        f"    if len(calls) == {int(call)}:\n"
        "        os._exit(9)\n"
        "    return real(*args, **kwargs)\n"
        f"if {name!r} == 'replace':\n"
        "    scrub.os = type('os', (), {'replace': staticmethod(crash)})\n"
        "else:\n"
        f"    setattr(scrub, {name!r}, crash)\n"
        f"export(Settings(home=Path({str(settings.home)!r}), run_date=date(2026, 11, 23), "
        f"default_phone_region='US'), {run_id!r}, gate=None)\n")
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 9


def _export_tree(settings) -> dict[str, bytes]:
    return {str(p.relative_to(settings.export_dir)): p.read_bytes() for p in sorted(settings.export_dir.rglob("*"))
            if p.is_file() and p.name != ".export.lock"}


@pytest.mark.parametrize("crash_at", [
    "_note_in_manifest:1",  # files rewritten beside the originals, the manifest not yet
    "_finish_folder:1",  # the folder noted as pending, nothing renamed
    "replace:2",  # one file renamed into place, the other and the manifest not
    "replace:3",  # both files in place, the manifest not
    "replace:4",  # the first folder done, the second noted, nothing of it renamed
])
def test_a_scrub_killed_at_any_point_is_finished_by_the_rerun(settings, tmp_path_factory, crash_at):
    """Review finding: killed between rewriting a file and updating its manifest, the scrub left the
    manifest saying 5 rows for a file of 4 with the old SHA-256, and the rerun never logged the removal.
    Whatever point it is killed at, the rerun's files, manifests and log are those of an export never killed."""
    from cdp.settings import Settings

    reference = Settings(home=tmp_path_factory.mktemp("reference"), run_date=settings.run_date,
                         default_phone_region="US")
    for each, crash in ((reference, None), (settings, crash_at)):
        build_warehouse(each)
        export(each, "run-1", gate=None)
        build_warehouse(each, suppression=[*SUPPRESSION, ("customer_id", "c2", "erasure")])
        _erasure_export(each, "run-2", crash)
        export(each, "run-2", gate=None)  # the rerun (a reference run's rerun changes nothing)

    assert _export_tree(settings) == _export_tree(reference)
    assert _scrub_log(settings) == _scrub_log(reference)
    assert ("run-2", "everyone", "csv", "run-1", "snapshot.csv", 1) in _scrub_log(settings)
    assert _files_disagreeing_with_their_manifest(settings) == []
    assert "c2" not in ids(settings, "everyone", "csv", "run-1")
    assert query(settings, "SELECT count(*) FROM exports.erasure_scrubs_pending") == [(0,)]
