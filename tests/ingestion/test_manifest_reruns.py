"""The manifest across runs: renamed copies, rejected files and reruns of the same file."""

from __future__ import annotations

import shutil

from cdp.settings import Settings
from cdp.warehouse import connect
from ingestion.csv_lists import ingest_csv_lists
from ingestion.file_batches import LoadCounts, RejectedFile, delete_rows_of_file, ingest_file_groups

X = "Email Address,First Name\nann@example.com,Ann\nbob@example.com,Bob\n"
Y = "Email Address,First Name\ncat@example.com,Cat\n"


def _rows(settings, sql, params=None):
    with connect(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _ingest(settings, run_id):
    with connect(settings) as con:
        return ingest_csv_lists(con, settings, run_id)


def test_copy_of_content_whose_only_file_was_replaced_is_loaded(settings):
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True)
    (folder / "newsletter__a.csv").write_text(X)
    _ingest(settings, "r1")
    (folder / "newsletter__a.csv").write_text(Y)  # a changes: its X rows are deleted
    assert _ingest(settings, "r2").files_loaded == 1
    (folder / "newsletter__b.csv").write_text(X)  # no file holds X any more: b is not a copy of anything loaded

    report = _ingest(settings, "r3")

    assert report.files_loaded == 1
    assert _rows(settings, "SELECT list_file, email FROM raw.csv_contacts ORDER BY email") == [
        ("newsletter__b.csv", "ann@example.com"), ("newsletter__b.csv", "bob@example.com"),
        ("newsletter__a.csv", "cat@example.com"),
    ]
    # A copy of content a file still holds is still skipped.
    (folder / "newsletter__c.csv").write_text(Y)
    report = _ingest(settings, "r4")
    assert (report.files_loaded, report.files_skipped) == (0, 3)
    [(message,)] = _rows(settings, "SELECT message FROM meta.ingest_manifest WHERE source_object LIKE '%newsletter__c%'")
    assert message.startswith("identical content already loaded from") and message.endswith("newsletter__a.csv")


def test_copy_is_loaded_when_the_original_is_replaced_earlier_in_the_same_run(settings):
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True)
    (folder / "newsletter__a.csv").write_text(X)
    _ingest(settings, "r1")
    (folder / "newsletter__a.csv").write_text(Y)
    (folder / "newsletter__b.csv").write_text(X)  # renamed copy of a's old content, arriving with the change

    report = _ingest(settings, "r2")

    assert (report.files_loaded, report.files_skipped) == (2, 0)
    assert _rows(settings, "SELECT count(*) FROM raw.csv_contacts") == [(3,)]


def test_copy_is_loaded_when_the_original_is_replaced_later_in_the_same_run(settings):
    """The copy sorts before the changed original: it was skipped as "identical content already
    loaded from" the original, whose replacement then deleted those rows: gone for a night."""
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True)
    (folder / "newsletter__b.csv").write_text(X)
    _ingest(settings, "r1")
    (folder / "newsletter__a.csv").write_text(X)  # a copy of b's old content, named before it
    (folder / "newsletter__b.csv").write_text(Y)

    report = _ingest(settings, "r2")

    assert (report.files_loaded, report.files_skipped) == (2, 0)
    assert _rows(settings, "SELECT list_file, email FROM raw.csv_contacts ORDER BY email") == [
        ("newsletter__a.csv", "ann@example.com"), ("newsletter__a.csv", "bob@example.com"),
        ("newsletter__b.csv", "cat@example.com"),
    ]
    assert (_ingest(settings, "r3").files_loaded, _rows(settings, "SELECT count(*) FROM raw.csv_contacts")) == (
        0, [(3,)])


def test_web_copy_is_loaded_when_the_original_is_replaced_later_in_the_same_run(settings):
    """The same for web events, loaded in groups: m1 and m2 were missing until the next run."""
    import json

    from ingestion.web_events import ingest_web

    def message(i):
        return json.dumps({"type": "track", "event": "e", "userId": "u", "messageId": f"m{i}",
                           "timestamp": "2026-11-23T10:00:00Z"}) + "\n"  # fmt: skip

    folder = settings.web_landing_dir
    folder.mkdir(parents=True)
    (folder / "b.ndjson").write_text(message(1) + message(2))
    with connect(settings) as con:
        ingest_web(con, settings, "r1")
    (folder / "a.ndjson").write_text(message(1) + message(2))
    (folder / "b.ndjson").write_text(message(3))
    with connect(settings) as con:
        ingest_web(con, settings, "r2")
    assert _rows(settings, "SELECT message_id FROM raw.web_events ORDER BY 1") == [("m1",), ("m2",), ("m3",)]


def test_rejected_file_does_not_make_its_correctly_named_copy_a_skip(settings):
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True)
    (folder / "Newsletter__nov.csv").write_text(X)  # no mapping for list type 'Newsletter': rejected
    (folder / "newsletter__nov.csv").write_text(X)  # the correctly named copy

    for run_id in ("r1", "r2"):
        report = _ingest(settings, run_id)
        assert _rows(settings, "SELECT count(*) FROM raw.csv_contacts") == [(2,)]

    statuses = _rows(settings, "SELECT run_id, regexp_extract(source_object, '[^/]+$'), status "
                               "FROM meta.ingest_manifest ORDER BY run_id, 2")
    assert statuses == [
        ("r1", "Newsletter__nov.csv", "failed"), ("r1", "newsletter__nov.csv", "loaded"),
        # Its content is loaded now, so the misnamed file is a copy of a loaded file.
        ("r2", "Newsletter__nov.csv", "skipped_already_loaded"), ("r2", "newsletter__nov.csv", "skipped_already_loaded"),
    ]
    assert (report.files_loaded, report.files_failed) == (0, 0)


def _name_loader(con, batches):
    counts = []
    for batch in batches:
        if batch.path.name.startswith("Bad"):
            raise RejectedFile(f"{batch.path.name}: no mapping for this name")
        con.execute("INSERT INTO raw.lines VALUES (?, ?)", [batch.path.read_text(), batch.source_file])
        counts.append(LoadCounts(rows_read=1, rows_loaded=1))
    return counts


def _groups(settings, source, paths, max_group_files=1000):
    with connect(settings) as con:
        con.execute("CREATE TABLE IF NOT EXISTS raw.lines (text VARCHAR, _source_file VARCHAR)")
        return ingest_file_groups(con, settings, "r1", source, paths, _name_loader, delete_rows_of_file("raw.lines"),
                                  max_group_bytes=1 << 20, max_group_files=max_group_files)


def _statuses(settings, source):
    return _rows(settings, "SELECT regexp_extract(source_object, '[^/]+$'), status, message FROM meta.ingest_manifest "
                           "WHERE source = ? ORDER BY finished_at", [source])


def test_rejected_file_in_a_group_does_not_make_its_copies_skips(settings, tmp_path):
    for name, text in [("Bad.txt", "one"), ("a.txt", "one"), ("b.txt", "one"), ("d.txt", "two"), ("e.txt", "three"),
                       ("f.txt", "one")]:
        (tmp_path / name).write_text(text)

    # a and b copy Bad, which the group load rejects: redone file by file, a loads and b copies a.
    report = _groups(settings, "same_group", [tmp_path / n for n in ("Bad.txt", "a.txt", "b.txt")])
    assert (report.files_loaded, report.files_failed, report.files_skipped) == (1, 1, 1)
    rows = _statuses(settings, "same_group")
    assert [(name, status) for name, status, _ in rows] == [
        ("Bad.txt", "failed"), ("a.txt", "loaded"), ("b.txt", "skipped_already_loaded"),
    ]
    assert rows[2][2].startswith("identical content") and rows[2][2].endswith("a.txt")

    # f copies Bad but is looked at after Bad's group (rolled back) committed: it copies nothing loaded.
    paths = [tmp_path / n for n in ("Bad.txt", "d.txt", "e.txt", "f.txt")]
    report = _groups(settings, "next_group", paths, max_group_files=2)
    assert (report.files_loaded, report.files_failed, report.files_skipped) == (3, 1, 0)
    assert sorted(_rows(settings, "SELECT text, regexp_extract(_source_file, '[^/]+$') FROM raw.lines")) == [
        ("one", "a.txt"), ("one", "f.txt"), ("three", "e.txt"), ("two", "d.txt"),
    ]


def test_a_file_rejected_again_is_quarantined_once(settings):
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True)
    (folder / "newsletter__bad.csv").write_text(X)
    _ingest(settings, "r1")
    (folder / "newsletter__bad.csv").write_text(X + "dan@example.com,Dan,extra\n")  # one line quarantined
    assert _ingest(settings, "r2").files_loaded == 1
    (folder / "newsletter__bad.csv").write_text("Mail,Name\nann@example.com,Ann\n")  # then an unusable header

    for run_id in ("r3", "r3", "r4"):
        assert _ingest(settings, run_id).files_failed == 1

    rows = _rows(settings, "SELECT q.run_id, m.status, q.line_number FROM meta.quarantine q "
                           "JOIN meta.ingest_manifest m USING (batch_id) ORDER BY q.run_id")
    # The last rejection only, and the bad line of the version whose rows are still loaded.
    assert rows == [("r2", "replaced_changed_file", 4), ("r4", "failed", None)]
    assert _rows(settings, "SELECT count(*) FROM raw.csv_contacts") == [(2,)]


def test_file_of_a_moved_landing_folder_is_the_same_file(settings, tmp_path):
    # The manifest, rows and quarantine hold absolute paths of the old folder (as every warehouse
    # loaded before the move does); the file is then found under the new folder and updated.
    old = tmp_path / "landing_old" / "csv"
    old.mkdir(parents=True)
    (old / "newsletter__list.csv").write_text(X + "dan@example.com,Dan,extra\n")  # one line quarantined
    before = Settings(home=settings.home, run_date=settings.run_date, csv_landing_dir=old)
    assert _ingest(before, "r1").files_loaded == 1
    new = tmp_path / "landing_new" / "csv"
    shutil.copytree(old, new)
    after = Settings(home=settings.home, run_date=settings.run_date, csv_landing_dir=new)

    report = _ingest(after, "r2")

    assert (report.files_loaded, report.files_skipped) == (0, 1)
    [(message,)] = _rows(after, "SELECT message FROM meta.ingest_manifest WHERE run_id = 'r2'")
    assert message.startswith("unchanged since batch") and str(old / "newsletter__list.csv") in message

    (new / "newsletter__list.csv").write_text(Y)  # the list is updated: its old rows are replaced, not kept
    assert _ingest(after, "r3").files_loaded == 1
    assert _rows(after, "SELECT contact_id, email, _source_file FROM raw.csv_contacts") == [
        ("newsletter__list.csv:1", "cat@example.com", str(new / "newsletter__list.csv")),
    ]
    assert _rows(after, "SELECT count(*) FROM meta.quarantine") == [(0,)]
    [(status, message)] = _rows(after, "SELECT status, message FROM meta.ingest_manifest WHERE run_id = 'r3'")
    assert status == "replaced_changed_file" and str(old / "newsletter__list.csv") in message


def test_file_of_a_moved_landing_folder_is_replaced_in_a_group(settings, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "a.txt").write_text("one")
    (old / "b.txt").write_text("two")
    _groups(settings, "moved", [old / "a.txt", old / "b.txt"])
    shutil.copytree(old, new)
    (new / "b.txt").write_text("two, changed")

    report = _groups(settings, "moved", [new / "a.txt", new / "b.txt"])

    assert (report.files_loaded, report.files_skipped) == (1, 1)
    assert sorted(_rows(settings, "SELECT text, _source_file FROM raw.lines")) == [
        ("one", str(old / "a.txt")), ("two, changed", str(new / "b.txt")),
    ]
