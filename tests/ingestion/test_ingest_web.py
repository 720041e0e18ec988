"""Web events: typing, skew correction, batch envelopes, quarantine, dedupe, reruns, crashes."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime

import pytest

from cdp.settings import Settings
from cdp.warehouse import connect
from ingestion import manifest, web_events
from ingestion.runner import ingest

FIXTURE = "web/events-2026-11-22-001.ndjson"


def _web(settings, copy_fixture):
    return copy_fixture(FIXTURE, settings.web_landing_dir)


def _rows(settings, sql, params=None):
    with connect(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_valid_messages_load_typed_with_skew_corrected_utc_times(settings, copy_fixture):
    _web(settings, copy_fixture)
    [report] = ingest(settings, "run-1", "web")

    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_skipped_duplicate) == (
        13,
        5,
        7,
        1,
    )
    rows = {
        r[0]: r[1:]
        for r in _rows(
            settings,
            "SELECT message_id, type, event_name, page_name, user_id, anonymous_id, event_at, "
            "page_path, campaign_source, campaign_name, traits->>'$.email', _source_line FROM raw.web_events",
        )
    }
    assert set(rows) == {"m-1", "m-2", "m-3", "m-12a", "m-12b"}
    # Device clock 2 minutes fast: receivedAt - (sentAt - originalTimestamp) = 10:00:02.
    assert rows["m-1"][5] == datetime(2026, 11, 22, 10, 0, 2)
    assert rows["m-1"][9] == "ann@example.com"
    # +02:00 offset converted to UTC; page and campaign fields typed.
    assert rows["m-2"][:3] == ("page", None, "Home")
    assert rows["m-2"][5:9] == (datetime(2026, 11, 22, 10, 0), "/", "newsletter", "black-friday")
    assert rows["m-3"][1] == "Order Completed"
    assert rows["m-12a"][10] == 12 and rows["m-12b"][10] == 12


def test_unknown_fields_kept_in_payload_and_batch_context_merged(settings, copy_fixture):
    _web(settings, copy_fixture)
    ingest(settings, "run-1", "web")
    payload, context = _rows(
        settings, "SELECT payload, context FROM raw.web_events WHERE message_id = 'm-3'"
    )[0]
    assert json.loads(payload)["newFieldFromSdk"] == {"x": 1}
    assert context is None
    (merged,) = _rows(settings, "SELECT context FROM raw.web_events WHERE message_id = 'm-12b'")[0]
    # The message's own context wins, the envelope context fills in.
    assert json.loads(merged) == {"library": {"name": "http"}, "ip": "1.2.3.4"}


def test_bad_lines_are_quarantined_with_line_and_reason(settings, copy_fixture):
    path = _web(settings, copy_fixture)
    ingest(settings, "run-1", "web")
    found = {
        line: (reason.split(":")[0], field, source_file)
        for line, reason, field, source_file in _rows(
            settings, "SELECT line_number, reason, field, source_file FROM meta.quarantine"
        )
    }
    assert {line: v[0] for line, v in found.items()} == {
        5: "invalid-json",
        6: "missing-event",
        7: "missing-identity",
        8: "invalid-timestamp",
        9: "not-an-object",
        11: "duplicate-messageid-conflict",
        13: "truncated-json",
    }
    assert found[8][1] == "timestamp"
    assert all(v[2] == str(path.resolve()) for v in found.values())
    raw_text = _rows(settings, "SELECT raw_text FROM meta.quarantine WHERE line_number = 9")[0][0]
    assert raw_text == "[1,2]"


def test_rerun_loads_nothing_and_dedupes_across_files(settings, copy_fixture):
    _web(settings, copy_fixture)
    ingest(settings, "run-1", "web")
    [again] = ingest(settings, "run-2", "web")
    assert (again.files_skipped, again.rows_loaded, again.rows_quarantined) == (1, 0, 0)

    # The same messages in a new (gzipped) file are recognised by messageId.
    data = (settings.web_landing_dir / FIXTURE.split("/")[1]).read_bytes()
    with gzip.open(settings.web_landing_dir / "events-2026-11-23-001.ndjson.gz", "wb") as handle:
        handle.write(data.replace(b'"m-3"', b'"m-3-new"'))
    [third] = ingest(settings, "run-3", "web")
    assert third.rows_loaded == 1  # only m-3-new
    assert _rows(settings, "SELECT count(*), count(DISTINCT message_id) FROM raw.web_events")[0] == (6, 6)
    statuses = _rows(settings, "SELECT run_id, status FROM meta.ingest_manifest ORDER BY started_at")
    assert [s for _, s in statuses] == [
        "loaded",
        "skipped_already_loaded",
        "skipped_already_loaded",
        "loaded",
    ]


def test_changed_file_replaces_its_earlier_rows(settings, copy_fixture):
    path = _web(settings, copy_fixture)
    ingest(settings, "run-1", "web")
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("Order Completed", "Order Refunded")  # m-3 corrected upstream
    path.write_text("\n".join(lines[:3]) + "\n")
    [report] = ingest(settings, "run-2", "web")
    assert report.files_loaded == 1 and report.rows_loaded == 3
    assert _rows(settings, "SELECT message_id, event_name FROM raw.web_events ORDER BY 1") == [
        ("m-1", None),
        ("m-2", None),
        ("m-3", "Order Refunded"),
    ]
    assert _rows(settings, "SELECT status FROM meta.ingest_manifest ORDER BY started_at DESC LIMIT 1") == [
        ("replaced_changed_file",)
    ]


def test_crash_between_insert_and_manifest_leaves_nothing_and_next_run_completes(
    settings, copy_fixture, monkeypatch
):
    _web(settings, copy_fixture)

    def crash(con, entry):
        raise RuntimeError("simulated crash after the rows were inserted")

    monkeypatch.setattr(manifest, "record", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT count(*) FROM raw.web_events")[0] == (0,)
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine")[0] == (0,)
    monkeypatch.undo()

    [report] = ingest(settings, "run-2", "web")
    assert report.rows_loaded == 5 and report.rows_quarantined == 7
    assert _rows(settings, "SELECT count(*) FROM raw.web_events")[0] == (5,)


def test_small_blocks_keep_line_numbers_and_dedupe_across_blocks(settings, copy_fixture, monkeypatch):
    _web(settings, copy_fixture)
    monkeypatch.setattr(web_events, "BLOCK_BYTES", 200)  # forces many blocks
    monkeypatch.setattr(web_events, "READ_BYTES", 100)  # and files read in pieces cut mid-line
    [report] = ingest(settings, "run-1", "web")
    assert (report.rows_loaded, report.rows_quarantined, report.rows_skipped_duplicate) == (5, 7, 1)
    assert _rows(settings, "SELECT _source_line FROM raw.web_events WHERE message_id = 'm-3'") == [(3,)]
    lines = [r[0] for r in _rows(settings, "SELECT line_number FROM meta.quarantine ORDER BY 1")]
    assert lines == [5, 6, 7, 8, 9, 11, 13]


def test_a_block_gathers_several_read_chunks_with_their_line_numbers(tmp_path, monkeypatch):
    # Files are read in chunks smaller than a block, so one block spans several chunks of a file
    # (and the next file); each piece keeps the number of its first line.
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson.gz"
    first.write_bytes(b"".join(b'{"n":%d}\n' % i for i in range(1, 41)))
    second.write_bytes(gzip.compress(b'{"n":1}\n{"n":2}\n'))
    monkeypatch.setattr(web_events, "READ_BYTES", 64)
    monkeypatch.setattr(web_events, "BLOCK_BYTES", 10_000)
    [block] = list(web_events._blocks([first, second]))
    assert len(block) > 3
    lines = [(file_index, first_line + k) for file_index, first_line, data in block for k in range(data.count(b"\n"))]
    assert lines == [(0, n) for n in range(1, 41)] + [(1, 1), (1, 2)]
    assert b"".join(data for file_index, _, data in block if file_index == 0) == first.read_bytes()


def test_many_record_batches_per_block_give_the_same_result(settings, copy_fixture, monkeypatch):
    # A block reaches DuckDB as several Arrow record batches (parsed in parallel); the duplicate
    # of the fixture must still be found when its first occurrence is in another batch.
    _web(settings, copy_fixture)
    monkeypatch.setattr(web_events, "CHUNK_LINES", 2)
    [report] = ingest(settings, "run-1", "web")
    assert (report.rows_loaded, report.rows_quarantined, report.rows_skipped_duplicate) == (5, 7, 1)
    lines = [r[0] for r in _rows(settings, "SELECT line_number FROM meta.quarantine ORDER BY 1")]
    assert lines == [5, 6, 7, 8, 9, 11, 13]
    assert _rows(settings, "SELECT _source_line FROM raw.web_events WHERE message_id = 'm-3'") == [(3,)]


def test_line_ends_short_lines_and_pieces_too_long_for_string_views(settings, monkeypatch):
    # Lines reach DuckDB as Arrow string views cut before the line end; a piece too long for a
    # view (2 GiB; 300 bytes here) is cut at line ends and a single line that long is quarantined.
    settings.web_landing_dir.mkdir(parents=True)
    long_event = "x" * 400
    lines = [
        b'{"type":"identify","userId":"u-1","messageId":"v-1"}\r\r\n',  # one CR stays (JSON whitespace)
        b"{}\n",  # short enough to be held inside its view
        b"\r\n",  # blank
        b'{"type":"track","userId":"u-1","event":"%s","messageId":"v-2"}\n' % long_event.encode(),
        b'{"type":"identify","userId":"u-2","messageId":"v-3"}\n',
        b'{"type":"identify","userId":"u-3","messageId":"v-4"}',  # no newline at the end
    ]
    (settings.web_landing_dir / "events-2026-11-22-010.ndjson").write_bytes(b"".join(lines))
    monkeypatch.setattr(web_events, "_VIEW_BYTES", 300)
    [report] = ingest(settings, "run-1", "web")
    assert (report.rows_loaded, report.rows_quarantined) == (3, 2)
    stored = _rows(settings, "SELECT message_id, _source_line, payload FROM raw.web_events ORDER BY 2")
    assert [(m, n) for m, n, _ in stored] == [("v-1", 1), ("v-3", 5), ("v-4", 6)]
    assert stored[0][2].endswith("}\r") and stored[1][2].endswith("}")
    reasons = dict(_rows(settings, "SELECT line_number, reason FROM meta.quarantine"))
    assert reasons[2].startswith("missing-type") and reasons[4].startswith("oversize-message: 4")


def test_oversized_field_and_invalid_utf8_are_quarantined(settings):
    settings = type(settings)(home=settings.home, run_date=settings.run_date, max_field_chars=20)
    settings.web_landing_dir.mkdir(parents=True)
    good = b'{"type":"track","userId":"u-1","event":"Signed Up","messageId":"ok"}'
    long = b'{"type":"track","userId":"u-1","event":"' + b"x" * 30 + b'","messageId":"long"}'
    latin1 = b'{"type":"identify","userId":"Ren\xe9e","messageId":"latin"}'
    (settings.web_landing_dir / "events-2026-11-22-009.ndjson").write_bytes(b"\n".join([good, long, latin1]))
    [report] = ingest(settings, "run-1", "web")
    assert report.rows_loaded == 1
    reasons = dict(_rows(settings, "SELECT line_number, reason FROM meta.quarantine"))
    assert reasons[2].startswith("oversized-field") and reasons[3].startswith("invalid-utf8")
    assert _rows(settings, "SELECT field FROM meta.quarantine WHERE line_number = 2") == [("event_name",)]


def test_strict_problem_classifies_strict_json_violations():
    assert web_events.strict_problem('{"a":NaN}')[0].startswith("invalid-json")
    assert web_events.strict_problem('{"type":"a","type":"b"}')[0].startswith("duplicate-key")
    assert web_events.strict_problem('{"a":"\\ud800"}')[0].startswith("invalid-unicode")
    assert web_events.strict_problem('{"a":' * 70 + "1" + "}" * 70)[0].startswith("nesting-too-deep")
    assert web_events.strict_problem('{"a":"\\ud83d\\ude00"}') is None  # a valid surrogate pair (emoji)


def test_gzip_with_bom_and_crlf_and_a_renamed_copy(settings):
    settings.web_landing_dir.mkdir(parents=True)
    body = (
        b'\xef\xbb\xbf{"type":"identify","userId":"u-1","messageId":"g-1"}\r\n'
        b'{"type":"track","userId":"u-1","event":"Signed Up","messageId":"g-2"}\r\n'
    )
    with gzip.open(settings.web_landing_dir / "events-2026-11-22-001.ndjson.gz", "wb") as handle:
        handle.write(body)
    [first] = ingest(settings, "run-1", "web")
    assert (first.rows_loaded, first.rows_quarantined) == (2, 0)
    payload = _rows(settings, "SELECT payload FROM raw.web_events WHERE message_id = 'g-2'")[0][0]
    assert payload.endswith("}")  # CR and LF stripped from the stored message
    # The same bytes under another name are recognised by checksum and not read again.
    (settings.web_landing_dir / "events-2026-11-22-001.ndjson.gz").rename(
        settings.web_landing_dir / "events-copy.ndjson.gz"
    )
    [second] = ingest(settings, "run-2", "web")
    assert (second.files_skipped, second.rows_read) == (1, 0)
    message = _rows(settings, "SELECT message FROM meta.ingest_manifest WHERE run_id = 'run-2'")[0][0]
    assert "identical content already loaded" in message


def test_small_files_share_a_transaction_but_keep_their_own_lines_manifest_and_conflicts(settings):
    settings.web_landing_dir.mkdir(parents=True)
    first = b'{"type":"identify","userId":"u-1","messageId":"s-1"}\n{"type":"identify","userId":"u-2","messageId":"s-2"}\n'
    second = (
        b'{"type":"identify","userId":"u-1","messageId":"s-1"}\n'  # exact repeat of file 1: skipped
        b'{"type":"identify","userId":"u-9","messageId":"s-2"}\n'  # same id, other content: conflict
        b'{"type":"track","userId":"u-3","messageId":"s-3"}\n'  # track without event
        b'{"type":"identify","userId":"u-3","messageId":"s-4"}\n'
    )
    (settings.web_landing_dir / "events-a.ndjson").write_bytes(first)
    (settings.web_landing_dir / "events-b.ndjson").write_bytes(second)
    [report] = ingest(settings, "run-1", "web")
    assert (
        report.files_loaded,
        report.rows_loaded,
        report.rows_skipped_duplicate,
        report.rows_quarantined,
    ) == (
        2,
        3,
        1,
        2,
    )
    manifest_rows = _rows(
        settings,
        "SELECT source_object, batch_id, rows_read, rows_loaded, rows_skipped, rows_quarantined "
        "FROM meta.ingest_manifest ORDER BY source_object",
    )
    assert [r[2:] for r in manifest_rows] == [(2, 2, 0, 0), (4, 1, 1, 2)]
    assert manifest_rows[0][1] != manifest_rows[1][1]  # one batch id per file
    assert _rows(settings, "SELECT _source_line, _batch_id FROM raw.web_events WHERE message_id = 's-4'") == [
        (4, manifest_rows[1][1])
    ]
    conflict = _rows(
        settings, "SELECT line_number, reason, batch_id FROM meta.quarantine WHERE field = 'messageId'"
    )
    assert conflict[0][0] == 2 and "events-a.ndjson (line 2)" in conflict[0][1]
    assert conflict[0][2] == manifest_rows[1][1]


def _message(i: int) -> str:
    return json.dumps({"type": "track", "event": "E", "userId": "u", "messageId": f"m-{i}",
                       "timestamp": "2026-11-22T10:00:00Z"})  # fmt: skip


def test_changed_file_keeps_messages_other_files_hold_and_drops_its_stale_quarantine(settings):
    """a has m-1, m-2 and a bad line; b has m-2, m-3. a re-delivered with only m-1 must not lose m-2."""
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n" + _message(2) + "\n{bad json\n")
    (web / "b.ndjson").write_text(_message(2) + "\n" + _message(3) + "\n")
    ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(1,)]

    (web / "a.ndjson").write_text(_message(1) + "\n")
    ingest(settings, "run-2", "web")
    events = _rows(settings, "SELECT message_id, _source_file, _source_line FROM raw.web_events ORDER BY 1")
    assert [(m, f.rsplit("/", 1)[1], line) for m, f, line in events] == [
        ("m-1", "a.ndjson", 1),
        ("m-2", "b.ndjson", 1),
        ("m-3", "b.ndjson", 2),
    ]
    b_batch = _rows(
        settings,
        "SELECT batch_id FROM meta.ingest_manifest WHERE source_object LIKE '%b.ndjson' AND status = 'loaded'",
    )
    assert _rows(settings, "SELECT _batch_id FROM raw.web_events WHERE message_id = 'm-2'") == b_batch
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(0,)]
    status, message = _rows(
        settings,
        "SELECT status, message FROM meta.ingest_manifest WHERE source_object LIKE '%a.ndjson' AND run_id = 'run-2'",
    )[0]
    assert status == "replaced_changed_file" and "1 message(s)" in message and "b.ndjson" in message
    # A third run changes nothing.
    ingest(settings, "run-3", "web")
    assert _rows(settings, "SELECT count(*) FROM raw.web_events") == [(3,)]


def test_a_message_restored_from_another_file_is_not_loaded_again_from_a_later_new_file(settings):
    """a's change restores m-2 from b; c, new in the same run and after a, repeats m-2: skipped, not stored twice."""
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n" + _message(2) + "\n")
    (web / "b.ndjson").write_text(_message(2) + "\n" + _message(3) + "\n")
    ingest(settings, "run-1", "web")

    (web / "a.ndjson").write_text(_message(1) + "\n")
    (web / "c.ndjson").write_text(_message(2) + "\n" + _message(4) + "\n")
    ingest(settings, "run-2", "web")
    assert _rows(settings, "SELECT message_id, count(*) FROM raw.web_events GROUP BY 1 ORDER BY 1") == [
        ("m-1", 1), ("m-2", 1), ("m-3", 1), ("m-4", 1)
    ]
    assert _rows(settings, "SELECT _source_file LIKE '%b.ndjson' FROM raw.web_events WHERE message_id = 'm-2'") == [
        (True,)
    ]


@pytest.mark.parametrize("old_copy_kept", [True, False])
def test_restore_after_the_landing_folder_moved_reads_the_files_of_the_new_folder(settings, tmp_path, old_copy_kept):
    """The restore read files at the paths they were loaded from: a copy left in the old folder gave
    back the message the changed file dropped, and with the old folder gone, nothing was restored."""
    old, new = tmp_path / "old" / "web", tmp_path / "new" / "web"
    old.mkdir(parents=True)
    (old / "a.ndjson").write_text(_message(1) + "\n" + _message(2) + "\n" + _message(3) + "\n")
    (old / "b.ndjson").write_text(_message(3) + "\n" + _message(4) + "\n")
    ingest(Settings(home=settings.home, run_date=settings.run_date, web_landing_dir=old), "run-1", "web")
    shutil.copytree(old, new)
    if not old_copy_kept:
        shutil.rmtree(old)
    moved = Settings(home=settings.home, run_date=settings.run_date, web_landing_dir=new)
    (new / "a.ndjson").write_text(_message(1) + "\n")  # m-2 dropped; m-3 is still in b

    ingest(moved, "run-2", "web")

    events = _rows(moved, "SELECT message_id, _source_file FROM raw.web_events ORDER BY 1")
    assert events == [
        ("m-1", str(new / "a.ndjson")),
        # Restored from b as it is now, under the path (and batch) of b's other rows.
        ("m-3", str(old / "b.ndjson")),
        ("m-4", str(old / "b.ndjson")),
    ]
    # b changing later replaces the restored row with the rest of b.
    (new / "b.ndjson").write_text(_message(4) + "\n")
    ingest(moved, "run-3", "web")
    assert _rows(moved, "SELECT message_id, _source_file FROM raw.web_events ORDER BY 1") == [
        ("m-1", str(new / "a.ndjson")),
        ("m-4", str(new / "b.ndjson")),
    ]


def test_ids_loaded_by_an_earlier_run_are_found_again_in_a_new_file(settings):
    """A later night's file repeating stored messages: exact repeat skipped, changed one quarantined."""
    settings.web_landing_dir.mkdir(parents=True)
    first = b"".join(
        b'{"type":"track","userId":"u-1","event":"E","messageId":"r-%d"}\n' % i for i in range(50)
    )
    (settings.web_landing_dir / "events-2026-11-21.ndjson").write_bytes(first)
    ingest(settings, "run-1", "web")
    again = (
        b'{"type":"track","userId":"u-1","event":"E","messageId":"r-7"}\n'  # exact repeat
        b'{"type":"track","userId":"u-2","event":"E","messageId":"r-9"}\n'  # same id, other content
        b'{"type":"track","userId":"u-1","event":"E","messageId":"new-1"}\n'
    )
    (settings.web_landing_dir / "events-2026-11-22.ndjson").write_bytes(again)
    [report] = ingest(settings, "run-2", "web")
    assert (report.rows_loaded, report.rows_skipped_duplicate, report.rows_quarantined) == (1, 1, 1)
    [(line, reason)] = _rows(settings, "SELECT line_number, reason FROM meta.quarantine")
    assert line == 2 and reason.startswith("duplicate-messageid-conflict")
    assert _rows(settings, "SELECT count(*) FROM raw.web_events") == [(51,)]


def test_known_ids_report_only_hashes_that_may_be_stored():
    import duckdb
    import numpy as np

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    web_events.ensure_table(con)
    con.execute(
        "INSERT INTO raw.web_events (message_id, type, payload, _source_file, _batch_id, _loaded_at) "
        "SELECT 'id-' || i, 'track', '{}', 'f', 'b', now()::TIMESTAMP FROM range(1000) t(i)"
    )
    known = web_events.KnownIds()
    hashes = lambda ids: con.execute("SELECT hash(unnest(?::VARCHAR[])) AS h", [ids]).fetchnumpy()["h"]  # noqa: E731
    hit = known.maybe_seen(con, hashes(["id-5", "other-1", "id-999"]))
    assert sorted(hit.tolist()) == sorted(hashes(["id-5", "id-999"]).tolist())
    # What it was asked about is remembered: the next block repeating "other-1" gets a hit.
    assert known.maybe_seen(con, hashes(["other-1", "other-2"])).tolist() == hashes(["other-1"]).tolist()
    assert isinstance(hit, np.ndarray)


def test_known_ids_remember_every_block_of_a_long_load():
    """Across many blocks (hashes kept in runs that merge), every hash asked about earlier is a hit."""
    import numpy as np

    rng = np.random.default_rng(7)
    known = web_events.KnownIds()
    known._runs = [np.array([], dtype=np.uint64)]  # an empty warehouse, without a connection
    blocks = [rng.integers(1, 2**63, size=int(rng.integers(1, 500)), dtype=np.uint64) for _ in range(40)]
    asked: set[int] = set()
    for number, block in enumerate(blocks):
        # Each block repeats one hash of its own and one hash of every earlier block.
        earlier = [int(b[len(b) // 2]) for b in blocks[:number]]
        probe = np.concatenate((block, block[:1], np.array(earlier, dtype=np.uint64)))
        hits = known.maybe_seen(None, probe)
        assert sorted(hits.tolist()) == sorted(set(probe.tolist()) & asked)
        asked |= set(probe.tolist())
    assert sum(len(run) for run in known._runs) == len(asked)
    assert len(known._runs) <= 8
    # A block of nothing new adds no run.
    runs = len(known._runs)
    assert len(known.maybe_seen(None, blocks[0])) == len(set(blocks[0].tolist()))
    assert len(known._runs) == runs


def test_checkpoint_vacuum_is_skipped_while_appending_kept_for_a_replace_and_restored(settings, monkeypatch):
    """Groups that only append commit with max_vacuum_tasks=0; the group replacing a file vacuums."""
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n" + _message(2) + "\n")
    (web / "b.ndjson").write_text(_message(3) + "\n")
    monkeypatch.setattr(web_events, "GROUP_BYTES", 1)  # one file per group
    seen = []
    load_files = web_events.load_files

    def spy(con, batches, known=None, reader=None):
        seen.append((batches[0].path.name, con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0]))
        return load_files(con, batches, known, reader)

    monkeypatch.setattr(web_events, "load_files", spy)
    with connect(settings) as con:
        con.execute("SET max_vacuum_tasks = 7")  # whatever the connection had is restored
        web_events.ingest_web(con, settings, "run-1")
        (web / "a.ndjson").write_text(_message(1) + "\n")  # changed: its old rows are deleted
        (web / "c.ndjson").write_text(_message(4) + "\n")
        web_events.ingest_web(con, settings, "run-2")
        assert con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall() == [(7,)]
    assert seen == [("a.ndjson", 0), ("b.ndjson", 0), ("a.ndjson", 7), ("c.ndjson", 0)]
    assert _rows(settings, "SELECT message_id FROM raw.web_events ORDER BY 1") == [("m-1",), ("m-3",), ("m-4",)]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_gzip_file_that_does_not_decompress_is_rejected_alone_and_loads_once_delivered_again(
    settings, monkeypatch, streamed
):
    """A .gz cut short raised EOFError: the whole web source failed, every run, and no file loaded."""
    if streamed:
        monkeypatch.setattr(web_events, "WHOLE_GZIP_BYTES", 0)  # read through gzip.open, block by block
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n")
    whole = gzip.compress("".join(_message(i) + "\n" for i in range(2, 40)).encode())
    (web / "b.ndjson.gz").write_bytes(whole[:-20])
    (web / "c.ndjson").write_text(_message(40) + "\n")

    [report] = ingest(settings, "run-1", "web")

    assert (report.files_loaded, report.files_failed) == (2, 1)
    assert _rows(settings, "SELECT message_id FROM raw.web_events ORDER BY 1") == [("m-1",), ("m-40",)]
    [(source_file, field, reason)] = _rows(settings, "SELECT source_file, field, reason FROM meta.quarantine")
    assert (source_file, field) == (str(web / "b.ndjson.gz"), "gzip")
    assert reason.startswith("b.ndjson.gz does not decompress: Compressed file ended before the end-of-stream")
    (web / "b.ndjson.gz").write_bytes(whole)
    [report] = ingest(settings, "run-2", "web")
    assert (report.files_loaded, report.rows_loaded) == (1, 38)
    assert _rows(settings, "SELECT count(*) FROM raw.web_events") == [(40,)]


def _load_lines(settings, *messages) -> None:
    settings.web_landing_dir.mkdir(parents=True, exist_ok=True)
    (settings.web_landing_dir / "events.ndjson").write_text("".join(json.dumps(m) + "\n" for m in messages))
    ingest(settings, "run-1", "web")


def test_a_batch_over_32_kb_is_unwrapped_and_each_message_held_to_the_limit(settings):
    """The 32 KB message limit was applied to the whole envelope line: a 59 KB batch of 100 valid
    messages was quarantined as one oversize record and all 100 were lost. Segment allows batches
    up to 500 KB; the limit is per message."""
    items = [{"type": "track", "event": "x", "userId": "u1", "messageId": f"m{i}",
              "timestamp": "2026-11-23T10:00:00Z", "properties": {"pad": "y" * 500}} for i in range(100)]
    items.append({"type": "track", "event": "x", "userId": "u1", "messageId": "big",
                  "timestamp": "2026-11-23T10:00:00Z", "properties": {"pad": "z" * 40_000}})
    _load_lines(settings, {"batch": items})
    assert _rows(settings, "SELECT count(*) FROM raw.web_events") == [(100,)]
    assert _rows(settings, "SELECT line_number, field, split_part(reason, ':', 1) FROM meta.quarantine") == [
        (1, "batch[100]", "oversize-message")]
    settings.web_landing_dir.joinpath("events.ndjson").unlink()
    (settings.web_landing_dir / "huge.ndjson").write_text(json.dumps({"batch": items * 6}) + "\n")  # ~620 KB
    ingest(settings, "run-2", "web")
    assert _rows(settings, "SELECT split_part(reason, ':', 1) FROM meta.quarantine WHERE source_file LIKE '%huge%'"
                 ) == [("oversize-batch",)]  # fmt: skip


def test_a_batch_sent_at_corrects_its_messages_clock_and_their_nulls_are_kept(settings):
    """Only the envelope's context was merged: its sentAt was dropped (batched messages kept the
    device clock's error), and json_merge_patch deleted the messages' own null members."""
    item = {"type": "track", "event": "x", "userId": "u1", "messageId": "s1",
            "originalTimestamp": "2026-11-23T10:02:00Z", "receivedAt": "2026-11-23T10:00:05Z",
            "properties": {"coupon": None, "k": 1}, "context": {"ip": None, "locale": "fr"}}
    _load_lines(settings, {"batch": [item], "sentAt": "2026-11-23T10:02:03Z", "writeKey": "secret",
                           "context": {"library": {"name": "analytics.js"}, "locale": "en"}})
    [(event_at, sent_at, properties, context, payload)] = _rows(
        settings, "SELECT event_at, sent_at, properties, context, payload FROM raw.web_events")
    assert sent_at == datetime(2026, 11, 23, 10, 2, 3)
    assert event_at == datetime(2026, 11, 23, 10, 0, 2)  # receivedAt - (sentAt - originalTimestamp)
    assert json.loads(properties) == {"coupon": None, "k": 1}
    assert json.loads(context) == {"ip": None, "locale": "fr", "library": {"name": "analytics.js"}}
    assert "writeKey" not in json.loads(payload)


def test_blank_message_ids_are_no_ids_and_a_corrected_time_out_of_range_is_quarantined(settings):
    """messageId "" was a real id (a second message with "" was a conflict), and a skew-corrected
    time in 2154 loaded because only the input timestamps were range-checked."""
    _load_lines(
        settings,
        {"type": "track", "event": "a", "userId": "u1", "messageId": "", "timestamp": "2026-11-23T10:00:00Z"},
        {"type": "track", "event": "b", "userId": "u2", "messageId": "  ", "timestamp": "2026-11-23T11:00:00Z"},
        {"type": "track", "event": "d", "userId": "u4", "messageId": "k1", "originalTimestamp": "2099-01-01T00:00:00Z",
         "sentAt": "1971-01-01T00:00:00Z", "receivedAt": "2026-11-23T10:00:00Z"},
    )
    assert _rows(settings, "SELECT event_name FROM raw.web_events ORDER BY 1") == [("a",), ("b",)]
    assert _rows(settings, "SELECT line_number, field, split_part(reason, ':', 1) FROM meta.quarantine") == [
        (3, "sentAt", "timestamp-out-of-range")]


def test_a_gzip_error_read_ahead_fails_only_its_own_group(settings, monkeypatch):
    """One file per group: b.ndjson.gz is read (and fails) while a's group loads; only b fails."""
    monkeypatch.setattr(web_events, "GROUP_BYTES", 1)
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n")
    whole = gzip.compress("".join(_message(i) + "\n" for i in range(2, 40)).encode())
    (web / "b.ndjson.gz").write_bytes(whole[:-20])
    (web / "c.ndjson.gz").write_bytes(gzip.compress((_message(40) + "\n").encode() + b"\xff\n"))

    [report] = ingest(settings, "run-1", "web")

    assert (report.files_loaded, report.files_failed) == (2, 1)
    assert _rows(settings, "SELECT message_id FROM raw.web_events ORDER BY 1") == [("m-1",), ("m-40",)]
    assert _rows(settings, "SELECT source_file, line_number, field FROM meta.quarantine ORDER BY 1") == [
        (str(web / "b.ndjson.gz"), None, "gzip"),
        (str(web / "c.ndjson.gz"), 2, None),  # read ahead, quarantined once
    ]
    assert _rows(settings, "SELECT source_object, status FROM meta.ingest_manifest ORDER BY 1") == [
        (str(web / "a.ndjson"), "loaded"),
        (str(web / "b.ndjson.gz"), "failed"),
        (str(web / "c.ndjson.gz"), "loaded"),
    ]


def test_a_crash_in_a_later_group_keeps_earlier_groups_and_leaves_no_reading_thread(settings, monkeypatch):
    """The second group fails while the third is read ahead: the first stays, nothing else lands."""
    import threading

    monkeypatch.setattr(web_events, "GROUP_BYTES", 1)
    web = settings.web_landing_dir
    web.mkdir(parents=True)
    for i, name in enumerate(("a", "b", "c")):
        (web / f"{name}.ndjson").write_text(_message(2 * i) + "\n" + _message(2 * i + 1) + "\n{bad\n")
    load_block, calls = web_events._load_block, []

    def crash_on_second(con, lines, batches, known=None):
        calls.append(batches[0].path.name)
        if len(calls) == 2:
            raise RuntimeError("simulated crash while loading b")
        return load_block(con, lines, batches, known)

    monkeypatch.setattr(web_events, "_load_block", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(settings, "run-1", "web")
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("web-read")]
    assert _rows(settings, "SELECT message_id FROM raw.web_events ORDER BY 1") == [("m-0",), ("m-1",)]
    assert _rows(settings, "SELECT source_file, line_number FROM meta.quarantine") == [(str(web / "a.ndjson"), 3)]
    monkeypatch.undo()

    [report] = ingest(settings, "run-2", "web")
    assert (report.files_loaded, report.rows_loaded, report.rows_quarantined) == (2, 4, 2)
    assert _rows(settings, "SELECT count(*), count(DISTINCT message_id) FROM raw.web_events") == [(6, 6)]
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(3,)]


def test_the_block_read_ahead_goes_only_to_the_batches_it_was_read_for(settings):
    """The next group's first block is read once this group's blocks are taken, and handed over
    only to those very batches: batches planned again read the file afresh, quarantine included."""
    from ingestion.file_batches import FileBatch

    web = settings.web_landing_dir
    web.mkdir(parents=True)
    (web / "a.ndjson").write_text(_message(1) + "\n")
    (web / "b.ndjson").write_bytes(_message(2).encode() + b"\n\xff\n")

    def batches(name):
        return [FileBatch(web / name, f"batch-{name}", "run", "web", settings, datetime(2026, 11, 22))]

    def line_count(tables):
        return sum(table.num_rows for table in tables)

    read_ahead, planned_again, handed_over = batches("b.ndjson"), batches("b.ndjson"), batches("b.ndjson")
    with web_events.BlockReader() as reader:
        reader.expect(read_ahead)
        assert line_count(reader.tables(batches("a.ndjson"))) == 1
        assert line_count(reader.tables(planned_again)) == 2  # read afresh, not handed the block read for others
        reader.expect(handed_over)
        assert line_count(reader.tables(batches("a.ndjson"))) == 1
        assert line_count(reader.tables(handed_over)) == 2
    assert [record.line_number for record in planned_again[0].quarantine] == [2]
    assert [record.line_number for record in handed_over[0].quarantine] == [2]  # read once, ahead


def test_a_batched_message_over_32_kb_as_sent_is_refused_however_it_is_escaped(settings):
    """Items were measured by DuckDB's rewrite of them: 36 KB of "\\u00e9" escapes measured 13 KB
    and loaded inside a batch, while the same message on its own line was refused."""
    escaped = {"type": "track", "event": "x", "userId": "u1", "messageId": "big2",
               "timestamp": "2026-11-23T10:00:00Z", "properties": {"pad": "é" * 6000}}
    spaced = {"type": "track", "event": "x", "userId": "u1", "messageId": "big3",
              "timestamp": "2026-11-23T10:00:00Z", "properties": {f"k{i}": i for i in range(2600)}}
    small = {"type": "track", "event": "x", "userId": "u1", "messageId": "ok", "timestamp": "2026-11-23T10:00:00Z"}
    assert len(json.dumps(escaped)) > 32 * 1024 and len(json.dumps(spaced)) > 32 * 1024
    assert len(json.dumps(spaced, separators=(",", ":"))) < 32 * 1024  # the spaces make it too big
    settings.web_landing_dir.mkdir(parents=True)
    envelope = '{"batch": [' + ", ".join(json.dumps(m) for m in (small, escaped, spaced)) + "]}"
    (settings.web_landing_dir / "events.ndjson").write_text(envelope + "\n")
    ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT message_id FROM raw.web_events") == [("ok",)]
    assert _rows(settings, "SELECT field, split_part(reason, ':', 1) FROM meta.quarantine ORDER BY field") == [
        ("batch[1]", "oversize-message"), ("batch[2]", "oversize-message")]


def test_batch_item_sizes_are_read_off_the_line():
    from ingestion.web_events import _batch_item_sizes

    line = '{ "context" : {"a": [1, {"b": "]"}]}, "batch" : [ {"x": "\\u00e9"} , {"y": [1,2]},"s" ], "z": 1 }'
    assert _batch_item_sizes(line) == [len('{"x": "\\u00e9"}'), len('{"y": [1,2]}'), 3]
    assert _batch_item_sizes('{"batch": "no"}') == [] and _batch_item_sizes("[1]") == []


def test_a_redelivery_differing_only_in_transport_times_is_a_skipped_duplicate(settings):
    """A client retry (new sentAt, new receivedAt, so a new corrected timestamp) was quarantined as
    duplicate-messageid-conflict: whole payloads were compared. Segment dedupes on messageId; a
    repeat that changes the event itself is still a conflict."""
    processed = {"type": "track", "event": "A", "userId": "u1", "messageId": "p1", "properties": {"k": 1},
                 "originalTimestamp": "2026-11-23T10:00:00Z", "sentAt": "2026-11-23T10:00:05Z",
                 "receivedAt": "2026-11-23T10:00:06Z", "timestamp": "2026-11-23T10:00:01Z"}
    raw = {"type": "track", "event": "B", "userId": "u1", "messageId": "r1",
           "timestamp": "2026-11-23T10:00:00Z", "sentAt": "2026-11-23T10:00:05Z", "receivedAt": "2026-11-23T10:00:06Z"}
    retry = {"sentAt": "2026-11-23T10:07:05Z", "receivedAt": "2026-11-23T10:07:09Z"}
    _load_lines(
        settings,
        processed,
        dict(processed, **retry, timestamp="2026-11-23T10:00:04Z"),  # retry: skipped
        raw,
        dict(raw, **retry),  # retry: skipped
        dict(raw, timestamp="2026-11-23T09:00:00Z"),  # the device time of a raw message is content
        dict(processed, **retry, properties={"k": 2}),  # other event content
        {"batch": [dict(raw, messageId="b1")], "sentAt": "2026-11-23T10:00:05Z"},
    )
    # A later night: the batch re-sent in a new request, and the processed message once more.
    (settings.web_landing_dir / "events-2.ndjson").write_text(
        json.dumps({"batch": [dict(raw, messageId="b1")], "sentAt": "2026-11-23T11:00:00Z",
                    "receivedAt": "2026-11-23T11:00:01Z"}) + "\n"
        + json.dumps(dict(processed, **retry, timestamp="2026-11-23T10:00:04Z")) + "\n"
        + json.dumps(dict(processed, **retry, event="Other")) + "\n"
    )
    [report] = ingest(settings, "run-2", "web")
    assert (report.rows_loaded, report.rows_skipped_duplicate, report.rows_quarantined) == (0, 2, 1)
    assert _rows(settings, "SELECT message_id, event_at, sent_at FROM raw.web_events ORDER BY 1") == [
        ("b1", datetime(2026, 11, 23, 10, 0, 1), datetime(2026, 11, 23, 10, 0, 5)),
        ("p1", datetime(2026, 11, 23, 10, 0, 1), datetime(2026, 11, 23, 10, 0, 5)),
        ("r1", datetime(2026, 11, 23, 10, 0, 1), datetime(2026, 11, 23, 10, 0, 5)),
    ]
    quarantined = _rows(
        settings,
        "SELECT regexp_extract(source_file, '[^/]+$'), line_number, field, split_part(reason, ':', 1) "
        "FROM meta.quarantine ORDER BY 1, 2",
    )
    assert quarantined == [
        ("events-2.ndjson", 3, "messageId", "duplicate-messageid-conflict"),
        ("events.ndjson", 5, "messageId", "duplicate-messageid-conflict"),
        ("events.ndjson", 6, "messageId", "duplicate-messageid-conflict"),
    ]
    skipped = _rows(
        settings, "SELECT rows_skipped FROM meta.ingest_manifest WHERE status = 'loaded' ORDER BY source_object"
    )
    assert skipped == [(2,), (2,)]


def test_a_redelivery_whose_timestamp_was_set_on_receipt_is_a_skipped_duplicate(settings):
    """Without originalTimestamp, a timestamp not before sentAt (or with no sentAt) is no device time
    but set on receipt, and a retry carries a new one: such retries were quarantined as
    duplicate-messageid-conflict, as only an originalTimestamp made the timestamp a transport field."""
    after_sent = {"type": "track", "event": "C", "userId": "u1", "messageId": "a1",
                  "sentAt": "2026-11-23T10:00:05Z", "receivedAt": "2026-11-23T10:00:06Z",
                  "timestamp": "2026-11-23T10:00:06Z"}
    no_sent_at = {"type": "identify", "userId": "u1", "messageId": "n1", "traits": {"email": "a@x.com"},
                  "receivedAt": "2026-11-23T10:00:06Z", "timestamp": "2026-11-23T10:00:06Z"}
    retry = {"sentAt": "2026-11-23T11:00:05Z", "receivedAt": "2026-11-23T11:00:07Z",
             "timestamp": "2026-11-23T11:00:07Z"}
    _load_lines(
        settings,
        after_sent,
        dict(after_sent, **retry),  # retry in the same file: skipped
        no_sent_at,
        dict(no_sent_at, receivedAt="2026-11-23T10:05:09Z", timestamp="2026-11-23T10:05:09Z"),  # skipped
        dict(after_sent, **retry, event="Other"),  # other content: a conflict
    )
    # A later night: the retries once more, and conflicts with a stored message.
    (settings.web_landing_dir / "events-2.ndjson").write_text(
        json.dumps(dict(after_sent, **retry)) + "\n"
        + json.dumps(dict(no_sent_at, receivedAt="2026-11-24T08:00:00Z", timestamp="2026-11-24T08:00:00Z")) + "\n"
        + json.dumps(dict(no_sent_at, traits={"email": "b@x.com"})) + "\n"
    )
    [report] = ingest(settings, "run-2", "web")
    assert (report.rows_loaded, report.rows_skipped_duplicate, report.rows_quarantined) == (0, 2, 1)
    assert _rows(settings, "SELECT message_id, event_at FROM raw.web_events ORDER BY 1") == [
        ("a1", datetime(2026, 11, 23, 10, 0, 6)), ("n1", datetime(2026, 11, 23, 10, 0, 6)),
    ]  # fmt: skip
    quarantined = _rows(
        settings,
        "SELECT regexp_extract(source_file, '[^/]+$'), line_number, field, split_part(reason, ':', 1) "
        "FROM meta.quarantine ORDER BY 1, 2",
    )
    assert quarantined == [
        ("events-2.ndjson", 3, "messageId", "duplicate-messageid-conflict"),
        ("events.ndjson", 5, "messageId", "duplicate-messageid-conflict"),
    ]
    skipped = _rows(
        settings, "SELECT rows_skipped FROM meta.ingest_manifest WHERE status = 'loaded' ORDER BY source_object"
    )
    assert skipped == [(2,), (2,)]


def test_a_client_timestamp_without_original_timestamp_is_skew_corrected(settings):
    """Segment's libraries and HTTP API send the device time as ``timestamp`` with ``sentAt``; only
    ``originalTimestamp`` was corrected, so such messages kept the device clock's error."""
    base = {"type": "track", "event": "x", "userId": "u1"}
    _load_lines(
        settings,
        # Device clock 2 h fast: 12:00:10 - (12:00:05 - 12:00:00) = 12:00:05 would be wrong; the
        # device's own time is 12:00:00 and it sent 5 s later, received at 10:00:10 server time.
        dict(base, messageId="raw", timestamp="2026-11-23T12:00:00Z", sentAt="2026-11-23T12:00:05Z",
             receivedAt="2026-11-23T10:00:10Z"),
        {"batch": [dict(base, messageId="batched", timestamp="2026-11-23T12:00:00Z")],
         "sentAt": "2026-11-23T12:00:05Z", "receivedAt": "2026-11-23T10:00:10Z"},
        # Processed by Segment: originalTimestamp is the device time, timestamp already corrected.
        dict(base, messageId="processed", originalTimestamp="2026-11-23T12:00:00Z",
             timestamp="2026-11-23T10:00:05Z", sentAt="2026-11-23T12:00:05Z", receivedAt="2026-11-23T10:00:10Z"),
        # A timestamp not before sentAt is no device time that was then sent (Segment's published
        # processed examples without originalTimestamp look like this): kept as is.
        dict(base, messageId="kept", timestamp="2026-11-23T10:00:06Z", sentAt="2026-11-23T10:00:05Z",
             receivedAt="2026-11-23T10:00:10Z"),
        dict(base, messageId="no-sent-at", timestamp="2026-11-23T12:00:00Z", receivedAt="2026-11-23T10:00:10Z"),
        # The corrected time is range-checked too: 2026 - (2099 - 1971) is before 1970.
        dict(base, messageId="range", timestamp="1971-01-01T00:00:00Z", sentAt="2099-01-01T00:00:00Z",
             receivedAt="2026-11-23T10:00:00Z"),
    )
    assert dict(_rows(settings, "SELECT message_id, event_at FROM raw.web_events")) == {
        "raw": datetime(2026, 11, 23, 10, 0, 5),
        "batched": datetime(2026, 11, 23, 10, 0, 5),
        "processed": datetime(2026, 11, 23, 10, 0, 5),
        "kept": datetime(2026, 11, 23, 10, 0, 6),
        "no-sent-at": datetime(2026, 11, 23, 12, 0),
    }
    assert _rows(settings, "SELECT line_number, field, split_part(reason, ':', 1) FROM meta.quarantine") == [
        (6, "sentAt", "timestamp-out-of-range")]


def test_a_nul_is_reported_in_the_field_that_holds_it(settings):
    """A NUL in anonymousId or messageId was quarantined with field userId."""
    _load_lines(
        settings,
        {"type": "track", "event": "x", "userId": "u\x00", "messageId": "n1"},
        {"type": "track", "event": "x", "userId": "u1", "anonymousId": "a\x00", "messageId": "n2"},
        {"type": "track", "event": "x", "userId": "u1", "messageId": "n\x003"},
        {"batch": [{"type": "track", "event": "x", "anonymousId": "a\x00", "messageId": "n4"}]},
    )
    assert _rows(settings, "SELECT line_number, field, reason FROM meta.quarantine ORDER BY 1") == [
        (1, "userId", "nul-in-string: userId holds a NUL character"),
        (2, "anonymousId", "nul-in-string: anonymousId holds a NUL character"),
        (3, "messageId", "nul-in-string: messageId holds a NUL character"),
        (4, "batch[0].anonymousId", "nul-in-string: anonymousId holds a NUL character"),
    ]
    assert _rows(settings, "SELECT count(*) FROM raw.web_events") == [(0,)]


def test_a_null_context_or_sent_at_in_a_batched_message_takes_the_envelopes(settings):
    """json_merge_patch(envelope context, null) is null: "context": null lost the envelope context
    (and "sentAt": null kept the envelope's sentAt out, so no skew correction)."""
    item = {"type": "track", "event": "x", "userId": "u1", "messageId": "c1", "context": None,
            "sentAt": None, "originalTimestamp": "2026-11-23T10:02:00Z"}
    _load_lines(settings, {"batch": [item], "context": {"ip": "1.2.3.4", "library": {"name": "x"}},
                           "sentAt": "2026-11-23T10:02:03Z", "receivedAt": "2026-11-23T10:00:05Z"})
    [(context, event_at)] = _rows(settings, "SELECT context, event_at FROM raw.web_events")
    assert json.loads(context) == {"ip": "1.2.3.4", "library": {"name": "x"}}
    assert event_at == datetime(2026, 11, 23, 10, 0, 2)


def test_file_names_match_whatever_their_case_and_a_file_not_read_is_named(settings, caplog):
    """`events.NDJSON` and bucket-destination names (Segment's `<time>.<uuid>.gz`, RudderStack's
    `<time>.<hash>.json.gz`) were left out with no trace (files_seen 0, no message)."""
    folder = settings.web_landing_dir
    folder.mkdir(parents=True)
    line = '{"type": "track", "event": "E", "userId": "u", "messageId": "m-%d", "timestamp": "2026-11-01T10:00:00Z"}\n'
    (folder / "events.NDJSON").write_text(line % 1)
    (folder / "events-2.JSONL.GZ").write_bytes(gzip.compress((line % 2).encode()))
    (folder / "1494962400000.c3d9e9b5.gz").write_bytes(gzip.compress((line % 3).encode()))
    (folder / "1494962400000.a1b2c3.json.gz").write_bytes(gzip.compress((line % 4).encode()))
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\x00")
    with caplog.at_level("WARNING"):
        [report] = ingest(settings, "run-1", "web")
    assert (report.files_seen, report.rows_loaded) == (4, 4)
    unread = str(folder / "_SUCCESS")
    assert report.messages == [
        f"{unread}: not read: its name matches none of *.ndjson, *.jsonl, *.json, *.gz; rename it to load it"
    ]
    assert unread in caplog.text and ".DS_Store" not in caplog.text


def test_rfc3339_lower_case_t_and_z_are_timestamps(settings):
    """RFC 3339 allows '2026-01-01t10:00:00z'; it was quarantined as invalid-timestamp."""
    settings.web_landing_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        {"type": "page", "anonymousId": "a1", "messageId": "n1", "timestamp": "2026-01-01t10:00:00z"},
        {"type": "page", "anonymousId": "a1", "messageId": "n2", "timestamp": "2026-01-01t10:00:00.1234567+02:00"},
    ]
    (settings.web_landing_dir / "a.ndjson").write_text("".join(json.dumps(line) + "\n" for line in lines))
    ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT message_id, event_at FROM raw.web_events ORDER BY 1") == [
        ("n1", datetime(2026, 1, 1, 10)),
        ("n2", datetime(2026, 1, 1, 8, 0, 0, 123456)),
    ]
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(0,)]


def test_a_restored_conflicting_line_leaves_quarantine_and_its_manifest_counts_add_up(settings):
    """b.ndjson's m1 conflicted with a.ndjson's and was quarantined; a.ndjson then dropped m1 and
    the restore loaded b's m1, but its quarantine row stayed (loaded and quarantined at once) and
    b's manifest row still counted it as quarantined, c's repeat of m2 as skipped."""
    folder = settings.web_landing_dir
    folder.mkdir(parents=True, exist_ok=True)

    def line(message_id, event="E"):
        return json.dumps({"type": "track", "event": event, "userId": "u", "messageId": message_id,
                           "timestamp": "2026-01-01T10:00:00Z"}) + "\n"  # fmt: skip

    (folder / "a.ndjson").write_text(line("m1", "X") + line("m2"))
    (folder / "b.ndjson").write_text(line("m1", "Y") + line("m3"))
    (folder / "c.ndjson").write_text(line("m2"))
    ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT source_file, line_number FROM meta.quarantine") == [(str(folder / "b.ndjson"), 1)]
    (folder / "a.ndjson").write_text(line("m4"))
    ingest(settings, "run-2", "web")
    assert _rows(settings, "SELECT message_id, event_name FROM raw.web_events ORDER BY 1") == [
        ("m1", "Y"), ("m2", "E"), ("m3", "E"), ("m4", "E"),
    ]  # fmt: skip
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(0,)]
    counts = ("SELECT rows_read, rows_loaded, rows_quarantined, rows_skipped FROM meta.ingest_manifest "
              "WHERE source_object = ? AND status = 'loaded'")  # fmt: skip
    assert _rows(settings, counts, [str(folder / "b.ndjson")]) == [(2, 2, 0, 0)]
    assert _rows(settings, counts, [str(folder / "c.ndjson")]) == [(1, 1, 0, 0)]


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_a_repeat_with_another_device_time_conflicts_whatever_the_case_of_t_and_z(settings, case):
    """With a lower-case t and z the repeat check read no device time, so a re-delivery with another
    `timestamp` was skipped as an exact repeat instead of quarantined as a conflict (review of c3d0eca)."""
    settings.web_landing_dir.mkdir(parents=True, exist_ok=True)

    def message(device_time):
        return json.dumps({"type": "track", "event": "E", "userId": "u", "messageId": "m1",
                           "timestamp": case(f"2026-01-01T{device_time}Z"), "sentAt": case("2026-01-01T10:00:00Z"),
                           "receivedAt": case("2026-01-01T10:00:01Z")})  # fmt: skip

    (settings.web_landing_dir / "a.ndjson").write_text(message("09:00:00") + "\n" + message("09:30:00") + "\n")
    ingest(settings, "run-1", "web")
    assert _rows(settings, "SELECT message_id, event_at FROM raw.web_events") == [("m1", datetime(2026, 1, 1, 9, 0, 1))]
    [(line, reason)] = _rows(settings, "SELECT line_number, reason FROM meta.quarantine")
    assert line == 2 and reason.startswith("duplicate-messageid-conflict")
