"""The manifest across runs: renamed copies, rejected files and reruns of the same file."""

from __future__ import annotations

from cdp.warehouse import connect
from ingestion.csv_lists import ingest_csv_lists

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
