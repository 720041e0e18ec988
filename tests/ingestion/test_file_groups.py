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
