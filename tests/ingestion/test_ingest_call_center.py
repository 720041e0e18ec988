"""Call center: CSV + JSON exports, latest updated_at per call wins, csat/nps validated."""

from __future__ import annotations

import codecs
import json
import os
from datetime import datetime

import pytest

from cdp.warehouse import connect
from ingestion.runner import ingest


def _rows(settings, sql):
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def _land(settings, copy_fixture, *names):
    for name in names:
        copy_fixture(f"call_center/{name}", settings.call_center_landing_dir)


def test_latest_update_wins_across_exports_and_bad_rows_are_quarantined(settings, copy_fixture):
    _land(settings, copy_fixture, "calls-2026-11-16.csv", "calls-2026-11-23.json")
    [report] = ingest(settings, "run-1", "call_center")

    calls = {
        r[0]: r[1:]
        for r in _rows(
            settings,
            "SELECT call_id, disposition, csat, nps, agent_id, updated_at, "
            "started_at, extra->>'$.sentiment' FROM raw.call_center_calls",
        )
    }
    assert set(calls) == {"c-1", "c-2", "c-5"}
    assert calls["c-1"][:4] == ("resolved", 5, 9, "ag-3")  # the newer JSON export won
    assert calls["c-1"][6] == "positive"  # unknown field kept in extra
    assert calls["c-2"][0] == "abandoned"  # the JSON row is older than the CSV row: CSV kept
    assert calls["c-5"][5] == datetime(2026, 11, 22, 9, 0)  # +01:00 converted to UTC
    quarantined = dict(_rows(settings, "SELECT field, reason FROM meta.quarantine"))
    assert quarantined["csat"].startswith("out-of-range")  # c-3 csat 7
    assert quarantined["[2].nps"].startswith("out-of-range")  # c-4 nps 11, third element of the JSON
    assert quarantined["call_id"].startswith("missing-id")
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_skipped_duplicate) == (
        8,
        4,
        3,
        1,
    )


def test_rerun_loads_nothing_and_a_later_run_still_applies_newer_updates(settings, copy_fixture):
    _land(settings, copy_fixture, "calls-2026-11-23.json")
    ingest(settings, "run-1", "call_center")
    [again] = ingest(settings, "run-2", "call_center")
    assert (again.files_skipped, again.rows_loaded) == (1, 0)

    # An older export arriving late must not overwrite newer versions from an earlier run.
    _land(settings, copy_fixture, "calls-2026-11-16.csv")
    ingest(settings, "run-3", "call_center")
    calls = dict(_rows(settings, "SELECT call_id, disposition FROM raw.call_center_calls"))
    assert calls["c-1"] == "resolved"  # 2026-11-20 version from run-1 kept
    assert calls["c-2"] == "abandoned"  # CSV version (2026-11-16) newer than JSON (2026-11-15)
    assert _rows(settings, "SELECT count(*), count(DISTINCT call_id) FROM raw.call_center_calls")[0] == (3, 3)


def test_csv_without_call_id_column_is_rejected_and_other_files_load(settings, copy_fixture):
    _land(settings, copy_fixture, "calls-2026-11-23.json")
    (settings.call_center_landing_dir / "calls-2026-11-24.csv").write_text("id,phone\n1,2\n")
    [report] = ingest(settings, "run-1", "call_center")
    assert report.files_failed == 1 and report.rows_loaded == 3
    status, message = _rows(
        settings, "SELECT status, message FROM meta.ingest_manifest WHERE source_object LIKE '%11-24.csv'"
    )[0]
    assert status == "failed" and "call_id" in message and "id, phone" in message


HEADER = (
    "call_id,caller_phone,caller_email,caller_first_name,caller_last_name,agent_id,queue,started_at,"
    "answered_at,ended_at,disposition,csat,nps,updated_at\n"
)


def _call(call_id, disposition, extra=""):
    return (
        f"{call_id},555-0100,a@example.com,Ann,Lee,AGT-1,orders,2026-11-20T10:00:00Z,,,{disposition},,,"
        f"2026-11-20T12:00:00Z{extra}\n"
    )


def test_equal_updated_at_the_later_file_wins_even_when_the_earlier_is_re_exported(settings):
    """A tie went to whichever file was loaded last, so a re-exported earlier file took over."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_text(HEADER + _call("CL-1", "escalated"))
    (folder / "calls-2026-11-02.csv").write_text(HEADER + _call("CL-1", "resolved"))
    ingest(settings, "run-1", "call_center")
    (folder / "calls-2026-11-01.csv").write_text(
        HEADER + _call("CL-1", "escalated") + _call("CL-2", "resolved")
    )
    [report] = ingest(settings, "run-2", "call_center")
    assert (report.rows_loaded, report.rows_skipped_duplicate) == (1, 1)
    assert _rows(
        settings,
        "SELECT call_id, disposition, parse_filename(_source_file) FROM raw.call_center_calls ORDER BY 1",
    ) == [
        ("CL-1", "resolved", "calls-2026-11-02.csv"),
        ("CL-2", "resolved", "calls-2026-11-01.csv"),
    ]
    # The later file changed again (same updated_at): it still replaces its own row.
    (folder / "calls-2026-11-02.csv").write_text(HEADER + _call("CL-1", "callback"))
    ingest(settings, "run-3", "call_center")
    assert _rows(settings, "SELECT disposition FROM raw.call_center_calls WHERE call_id = 'CL-1'") == [
        ("callback",)
    ]


def test_a_value_beyond_the_header_quarantines_the_row(settings):
    """The csv module files such values under no column name; they were silently dropped."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    path = folder / "calls-2026-11-01.csv"
    path.write_text(
        HEADER
        + _call("CL-1", "resolved", ",customer asked for refund")
        + _call("CL-2", "resolved")
        + _call("CL-3", "resolved", ",")
    )
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert _rows(settings, "SELECT call_id FROM raw.call_center_calls ORDER BY 1") == [("CL-2",), ("CL-3",)]
    [(source_file, line, field, reason, raw)] = _rows(
        settings, "SELECT source_file, line_number, field, reason, raw_text FROM meta.quarantine"
    )
    assert (source_file, line, field) == (str(path), 2, "column 15")
    assert reason == "too-many-columns: 15 values for 14 header columns"
    assert raw.startswith("CL-1,") and raw.endswith(",customer asked for refund")


def test_equal_updated_at_a_suffixed_re_export_is_the_later_export(settings):
    """`calls-2026-11-01-v2.csv` sorted before `calls-2026-11-01.csv` (`-` < `.`), so the original won."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_text(HEADER + _call("CL-1", "escalated") + _call("CL-2", "escalated"))
    (folder / "calls-2026-11-01-v2.csv").write_text(HEADER + _call("CL-1", "resolved"))
    ingest(settings, "run-1", "call_center")
    # In a later run too: the original changes again (CL-2 only), the v2 version of CL-1 stays.
    (folder / "calls-2026-11-01.csv").write_text(HEADER + _call("CL-1", "escalated") + _call("CL-2", "callback"))
    ingest(settings, "run-2", "call_center")
    assert _rows(
        settings,
        "SELECT call_id, disposition, parse_filename(_source_file) FROM raw.call_center_calls ORDER BY 1",
    ) == [("CL-1", "resolved", "calls-2026-11-01-v2.csv"), ("CL-2", "callback", "calls-2026-11-01.csv")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_json_export_with_a_utf16_or_utf32_byte_order_mark_loads(settings, encoding):
    """Such exports were rejected as 'not valid JSON: utf-8 codec can't decode byte 0xff'."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}[encoding]  # fmt: skip
    calls = [{"call_id": "J-1", "caller_first_name": "Zoë", "disposition": "resolved",
              "updated_at": "2026-11-20T12:00:00Z"}]  # fmt: skip
    (folder / "calls-2026-11-01.json").write_bytes(bom + json.dumps(calls, ensure_ascii=False).encode(encoding))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_loaded, report.rows_loaded, report.files_failed) == (1, 1, 0)
    assert _rows(settings, "SELECT call_id, caller_first_name FROM raw.call_center_calls") == [("J-1", "Zoë")]


def test_json_export_that_is_not_utf8_is_rejected_naming_the_byte(settings):
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.json").write_bytes(b'[{"call_id": "J-1", "caller_first_name": "Zo\xeb"}]')
    [report] = ingest(settings, "run-1", "call_center")
    assert report.files_failed == 1
    [(reason,)] = _rows(settings, "SELECT reason FROM meta.quarantine")
    assert reason == (
        "calls-2026-11-01.json is not valid UTF-8: byte 0xeb at offset 44 cannot be decoded (JSON exports "
        "must be UTF-8, or UTF-16/UTF-32 starting with a byte-order mark)"
    )


@pytest.mark.parametrize("csat", ["9", "4"])
def test_json_export_with_a_trailing_comma_is_rejected_and_other_exports_load(settings, csat):
    """DuckDB's reader accepts `{..., "csat": 9,}`: the row with a bad csat then crashed json.loads
    (the whole call-center source failed on every run), a good one loaded from invalid JSON."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.json").write_text(
        f'[{{"call_id": "J-1", "updated_at": "2026-11-20T12:00:00Z", "csat": {csat},}}]'
    )
    (folder / "calls-2026-11-02.csv").write_text(HEADER + _call("CL-1", "resolved"))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_loaded, report.files_failed) == (1, 1)
    assert _rows(settings, "SELECT call_id FROM raw.call_center_calls") == [("CL-1",)]
    [(reason,)] = _rows(settings, "SELECT reason FROM meta.quarantine")
    assert reason.startswith("calls-2026-11-01.json is not valid JSON: Expecting property name")


def test_csv_export_its_byte_order_mark_encoding_cannot_read_is_rejected_and_others_load(settings):
    """A UTF-16 export cut off mid-character raised UnicodeDecodeError: the whole source failed, every run."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_bytes(
        codecs.BOM_UTF16_LE + (HEADER + _call("CL-1", "resolved")).encode("utf-16-le") + b"\x00"
    )
    (folder / "calls-2026-11-02.csv").write_text(HEADER + _call("CL-2", "resolved"))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_loaded, report.files_failed) == (1, 1)
    assert _rows(settings, "SELECT call_id FROM raw.call_center_calls") == [("CL-2",)]
    [(field, reason)] = _rows(settings, "SELECT field, reason FROM meta.quarantine")
    assert field == "encoding" and reason.startswith("calls-2026-11-01.csv: line 3: byte ")
    assert reason.endswith("is not valid UTF-16-LE (the file starts with its byte-order mark); fix or re-export the file")


def test_a_field_over_the_csv_module_limit_rejects_the_export_not_the_source(settings):
    """csv.Error('field larger than field limit') failed the whole call-center source, every run."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_text(HEADER + _call("CL-1", "resolved", "") + '"' + "x" * 200_000 + '"\n')
    (folder / "calls-2026-11-02.csv").write_text(HEADER + _call("CL-2", "resolved"))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_loaded, report.files_failed) == (1, 1)
    assert _rows(settings, "SELECT call_id FROM raw.call_center_calls") == [("CL-2",)]
    [(field, reason)] = _rows(settings, "SELECT field, reason FROM meta.quarantine")
    assert (field, reason) == (
        "csv",
        "calls-2026-11-01.csv: line 3: not readable as CSV: field larger than field limit (131072) (usually a "
        "quote left open earlier in the file); fix the file",
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])  # DuckDB's reader, the json module's
@pytest.mark.parametrize("extra", [{}, {"sentiment": "calm"}])  # typed in SQL, typed in Python
def test_a_compact_json_export_the_later_element_on_a_line_wins_and_quarantine_names_it(settings, encoding, extra):
    """Elements on one line shared a line number, so for equal updated_at the earlier one won, and
    every quarantined element of a file written by json.dumps said line 1 and nothing more."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    at = "2026-11-20T12:00:00Z"
    calls = [
        {"call_id": "J-1", "updated_at": at, "disposition": "resolved", **extra},
        {"call_id": "J-1", "updated_at": at, "disposition": "escalated", **extra},
        {"call_id": "J-2", "updated_at": at, "csat": 9, **extra},
        {"call_id": "J-3", "updated_at": at, "disposition": "callback", **extra},
        {"call_id": "J-3", "updated_at": at, "disposition": "abandoned", **extra},
    ]
    (folder / "calls-2026-11-01.json").write_bytes(json.dumps(calls).encode(encoding))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.rows_loaded, report.rows_quarantined, report.rows_skipped_duplicate) == (2, 1, 2)
    assert _rows(settings, "SELECT call_id, disposition, _source_line FROM raw.call_center_calls ORDER BY 1") == [
        ("J-1", "escalated", 1),
        ("J-3", "abandoned", 1),
    ]
    [(line, field, reason)] = _rows(settings, "SELECT line_number, field, reason FROM meta.quarantine")
    assert (line, field) == (1, "[2].csat") and reason.startswith("out-of-range: csat")


def test_a_lone_surrogate_or_a_nul_quarantines_the_call_and_the_rest_loads(settings):
    """A lone surrogate escape ("\\ud800") raised UnicodeEncodeError: the whole call-center source
    failed on every run, naming no file, row or field. A NUL in a call field loaded as is."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    at = '"updated_at": "2026-11-20T12:00:00Z"'
    (folder / "calls-2026-11-01.json").write_text(
        "[\n"
        f'{{"call_id": "J-1", {at}, "caller_first_name": "\\ud800"}},\n'
        f'{{"call_id": "J-2", {at}, "note": ["a\\udc00b"]}},\n'
        f'{{"call_id": "J-3", {at}, "caller_last_name": "Lee"}}\n'
        "]"
    )
    (folder / "calls-2026-11-02.json").write_text(
        f'[{{"call_id": "J-4", {at}, "caller_first_name": "a\\u0000b"}}, {{"call_id": "J-5", {at}}}]'
    )
    (folder / "calls-2026-11-03.csv").write_text(HEADER + _call("CL-1", "resolved").replace("Ann", "A\x00nn"))
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_loaded, report.files_failed, report.rows_loaded, report.rows_quarantined) == (3, 0, 2, 4)
    assert _rows(settings, "SELECT call_id FROM raw.call_center_calls ORDER BY 1") == [("J-3",), ("J-5",)]
    assert _rows(
        settings, "SELECT parse_filename(source_file), line_number, field, reason FROM meta.quarantine ORDER BY 1, 2"
    ) == [
        ("calls-2026-11-01.json", 2, "[0].caller_first_name",
         "invalid-unicode: caller_first_name holds a lone surrogate escape (not a Unicode character)"),
        ("calls-2026-11-01.json", 3, "[1].note",
         "invalid-unicode: note holds a lone surrogate escape (not a Unicode character)"),
        ("calls-2026-11-02.json", 1, "[0].caller_first_name", "nul-in-string: caller_first_name holds a NUL character"),
        ("calls-2026-11-03.csv", 2, "caller_first_name", "nul-in-string: caller_first_name holds a NUL character"),
    ]  # fmt: skip


@pytest.mark.parametrize("ragged", [False, True])  # read by csv_records, by the csv module
def test_an_excel_sep_line_names_the_delimiter_and_lines_count_it(settings, ragged):
    """Excel's `sep=;` first line was taken as the header: the export was rejected for lacking call_id."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_text(
        "sep=;\n" + HEADER.replace(",", ";") + _call("CL-1", "resolved").replace(",", ";")
        + _call("CL-2", "hung-up").replace(",", ";") + (_call("CL-3", "resolved", ";x").replace(",", ";") if ragged else "")
    )  # fmt: skip
    [report] = ingest(settings, "run-1", "call_center")
    assert report.files_failed == 0
    assert _rows(settings, "SELECT call_id, _source_line FROM raw.call_center_calls") == [("CL-1", 3)]
    assert _rows(settings, "SELECT line_number, field FROM meta.quarantine ORDER BY 1") == [
        (4, "disposition"),
        *([(5, "column 15")] if ragged else []),
    ]


def test_an_upper_case_extension_loads_and_a_file_not_read_is_named(settings):
    """`calls.CSV` was left out with no trace (files_seen 0, no message), as was `calls.txt`."""
    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.CSV").write_text(HEADER + _call("CL-1", "resolved"))
    (folder / "calls-2026-11-02.txt").write_text(HEADER + _call("CL-2", "resolved"))
    (folder / "._calls-2026-11-01.CSV").write_bytes(b"\x00\x05\x16\x07")
    [report] = ingest(settings, "run-1", "call_center")
    assert (report.files_seen, report.rows_loaded) == (1, 1)
    assert report.messages == [
        f"{folder / 'calls-2026-11-02.txt'}: not read: its name matches none of *.csv, *.json; rename it to load it"
    ]


def test_a_hidden_file_or_a_name_that_is_not_utf8_is_named_not_read_and_the_stage_is_recorded(settings):
    """A Latin-1 file name (`calls-\\xff.csv`, copied from a Windows share) failed the whole source,
    and one that matched no pattern failed recording the stage (its name, a lone surrogate, is no
    JSON the warehouse takes) every night; a hidden `.calls.csv` was skipped with no trace."""
    from cdp.pipeline import ingest as pipeline_ingest

    folder = settings.call_center_landing_dir
    folder.mkdir(parents=True)
    (folder / "calls-2026-11-01.csv").write_text(HEADER + _call("CL-1", "resolved"))
    (folder / ".calls-2026-11-02.csv").write_text(HEADER + _call("CL-2", "resolved"))
    for name in (b"calls-\xff.csv", b"notes-\xff.txt"):
        with open(os.path.join(os.fsencode(folder), name), "w") as handle:
            handle.write(HEADER + _call("CL-3", "resolved"))
    result = pipeline_ingest(settings, "run-1", "call_center")
    assert result["sources"]["call_center"]["rows_loaded"] == 1
    assert sorted(result["sources"]["call_center"]["messages"]) == [
        f"{folder}/.calls-2026-11-02.csv: not read: it is a hidden file; rename it without the leading dot to load it",
        f"{folder}/calls-\\xff.csv: not read: its name is not UTF-8 text; rename it to load it",
        f"{folder}/notes-\\xff.txt: not read: its name is not UTF-8 text; rename it to load it",
    ]
    assert _rows(settings, "SELECT count(*) FROM meta.pipeline_runs WHERE stage = 'ingest:call_center'") == [(1,)]
