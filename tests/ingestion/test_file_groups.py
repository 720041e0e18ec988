"""ingest_file_groups: many files per transaction, one manifest row per file, rejects isolated."""

from __future__ import annotations

import duckdb

from cdp.warehouse import connect
from ingestion.file_batches import LoadCounts, RejectedFile, ingest_file_groups


def _setup(con) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS raw.lines (text VARCHAR, _source_file VARCHAR)")


def _loader(con: duckdb.DuckDBPyConnection, batches) -> list[LoadCounts]:
    counts = []
    for batch in batches:
        text = batch.path.read_text()
        if "reject me" in text:
            raise RejectedFile(f"{batch.path.name}: unusable header", field="header")
        con.execute("INSERT INTO raw.lines VALUES (?, ?)", [text, batch.source_file])
        counts.append(LoadCounts(rows_read=1, rows_loaded=1))
    return counts


def _forget(con, source_file: str) -> None:
    con.execute("DELETE FROM raw.lines WHERE _source_file = ?", [source_file])


def _run(settings, paths, run_id):
    with connect(settings) as con:
        _setup(con)
        return ingest_file_groups(
            con, settings, run_id, "test", paths, _loader, _forget, max_group_bytes=1 << 20
        )


def test_rejected_file_in_a_group_fails_alone_and_the_others_load(settings, tmp_path):
    paths = []
    for name, text in [("a.txt", "one"), ("b.txt", "reject me"), ("c.txt", "three"), ("d.txt", "one")]:
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    report = _run(settings, paths, "run-1")
    assert (report.files_loaded, report.files_failed, report.files_skipped) == (
        2,
        1,
        1,
    )  # d.txt is a copy of a.txt
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT text FROM raw.lines ORDER BY 1").fetchall() == [("one",), ("three",)]
        rows = con.execute("SELECT source_object, status FROM meta.ingest_manifest ORDER BY 1").fetchall()
        assert [(p.rsplit("/", 1)[1], s) for p, s in rows] == [
            ("a.txt", "loaded"),
            ("b.txt", "failed"),
            ("c.txt", "loaded"),
            ("d.txt", "skipped_already_loaded"),
        ]
        assert con.execute("SELECT field FROM meta.quarantine").fetchall() == [("header",)]

    (tmp_path / "c.txt").write_text("three, corrected")
    again = _run(settings, paths, "run-2")
    assert (again.files_loaded, again.files_skipped, again.files_failed) == (1, 2, 1)
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT text FROM raw.lines ORDER BY 1").fetchall() == [
            ("one",),
            ("three, corrected",),
        ]


def test_unchanged_files_are_not_read_again_but_a_same_size_rewrite_with_its_old_mtime_is(
    settings, tmp_path, monkeypatch
):
    """The SHA-256 of a file whose stat signature is unchanged is reused; a rewrite is still caught."""
    import dataclasses
    import os

    from ingestion import manifest

    read = []
    fingerprint = manifest.fingerprint
    monkeypatch.setattr(manifest, "fingerprint", lambda path: read.append(path.name) or fingerprint(path))
    for name, text in [("a.txt", "alpha"), ("b.txt", "bravo")]:
        (tmp_path / name).write_text(text)
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    _run(settings, paths, "run-1")
    assert read == ["a.txt", "b.txt"]

    read.clear()
    report = _run(settings, paths, "run-2")
    assert read == [] and report.files_skipped == 2  # nothing read: signatures unchanged

    # Same size, and the modification time set back to what it was: the change time still moved.
    before = (tmp_path / "b.txt").stat()
    (tmp_path / "b.txt").write_text("BRAVO")
    os.utime(tmp_path / "b.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    report = _run(settings, paths, "run-3")
    assert read == ["b.txt"] and (report.files_loaded, report.files_skipped) == (1, 1)
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT text FROM raw.lines ORDER BY 1").fetchall() == [("BRAVO",), ("alpha",)]

    read.clear()
    verify = dataclasses.replace(settings, verify_file_checksums=True)
    report = _run(verify, paths, "run-4")
    assert read == ["a.txt", "b.txt"] and report.files_skipped == 2


def test_a_warehouse_without_the_signature_column_gets_it_and_reads_files_once_more(settings, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    _run(settings, [tmp_path / "a.txt"], "run-1")
    with connect(settings) as con:
        con.execute("ALTER TABLE meta.ingest_manifest DROP COLUMN file_signature")
    report = _run(settings, [tmp_path / "a.txt"], "run-2")
    assert report.files_skipped == 1
    with connect(settings, read_only=True) as con:
        signatures = con.execute("SELECT run_id, file_signature IS NOT NULL FROM meta.ingest_manifest ORDER BY 1")
        assert signatures.fetchall() == [("run-1", False), ("run-2", True)]


def test_a_copy_of_a_file_rejected_in_the_group_before_is_decided_again_after_the_redo(settings, tmp_path):
    """The next group is planned before the current one loads; after a redo it is planned again.

    d.txt copies b.txt: planned while the group [a, b] loads, it looked like a copy of loaded
    content. b is then rejected, so d must be decided again (and fail like b), not be recorded as
    skipped in favour of a file that never loaded.
    """
    paths = []
    for name, text in [("a.txt", "one"), ("b.txt", "reject me"), ("c.txt", "three"), ("d.txt", "reject me")]:
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    announced = []
    with connect(settings) as con:
        _setup(con)
        report = ingest_file_groups(
            con, settings, "run-1", "test", paths, _loader, _forget, max_group_bytes=1 << 20, max_group_files=2,
            read_ahead=lambda batches: announced.append([batch.path.name for batch in batches]),
        )  # fmt: skip
    assert (report.files_loaded, report.files_failed, report.files_skipped) == (2, 2, 0)
    # [c] (with d as a skip) was announced while [a, b] loaded; after the redo [c, d] is the last group.
    assert announced == [["c.txt"]]
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT source_object, status FROM meta.ingest_manifest ORDER BY 1").fetchall()
        assert [(p.rsplit("/", 1)[1], s) for p, s in rows] == [
            ("a.txt", "loaded"),
            ("b.txt", "failed"),
            ("c.txt", "loaded"),
            ("d.txt", "failed"),
        ]
        assert con.execute("SELECT text FROM raw.lines ORDER BY 1").fetchall() == [("one",), ("three",)]
