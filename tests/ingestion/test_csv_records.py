"""Whole-file CSV/JSON loading gives exactly what the record-by-record path gives.

``csv_records.read_records`` must agree with ``csv.reader`` on values and line numbers, or decline;
the CSV-list and call-center loaders must load and quarantine the same rows whether a file goes
through SQL or through the csv/json modules (forced here by making ``read_records`` decline and
by DuckDB refusing the JSON).
"""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from cdp.warehouse import connect
from ingestion import call_center, csv_lists, csv_records
from ingestion.runner import ingest

PLAIN = [
    'a,b,c\r\n1,2,3\r\n"x, y","say ""hi""",\r\n',
    'a,b\n"multi\nline",2\n\n\nnext,"two\r\nlines"\nlast,row',
    "a;b\r1;2\r\r3;4\r",
    'h1,h2\r\n"",""\r\n,\r\n"  padded ",\u00a0nbsp\u3000\r\n',
]
ODD = [
    "a,b\n1,2,3\n",  # too many fields
    "a,b\n1\n",  # too few
    'a,b\nab"c,d\n',  # quote inside an unquoted field
    'a,b\n"ab"c,d\n',  # text after a closing quote
    'a,b\n"open,d\n',  # quote never closed
    "a,b\n   \n",  # whitespace-only line: one field
]


def _python_records(text: str, delimiter: str):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    return header, [(record, reader.line_num) for record in reader if record]


def test_whitespace_is_what_str_strip_removes():
    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == csv_records.WHITESPACE


@pytest.mark.parametrize("text", PLAIN)
def test_plain_csv_matches_the_csv_module_including_line_numbers(text):
    delimiter = ";" if ";" in text.split("\r")[0] else ","
    parsed = csv_records.read_records(text, delimiter)
    assert parsed is not None
    header, expected = _python_records(text, delimiter)
    assert parsed.header == header
    columns = [parsed.table.column(f"c{i}").to_pylist() for i in range(len(header))]
    got = [
        ([col[n] for col in columns], line) for n, line in enumerate(parsed.table.column("_line").to_pylist())
    ]
    assert got == expected


@pytest.mark.parametrize("text", ODD)
def test_text_the_csv_module_reads_differently_is_declined(text):
    assert csv_records.read_records(text, ",") is None


LIST = (
    '"Email Address","First Name","Opt-in","Notes","ZIP Code"\r\n'
    '"ann@example.com","Ann","yes","likes ""quotes""","12345"\r\n'
    '"bob@example.com","Bob\r\nSecond line","NO","","  9 "\r\n'
    "\r\n"
    '"","Nobody","yes","",""\r\n'
    '"cy@example.com","Cy","maybe","",""\r\n'
    '"  dee@example.com\u00a0","\u2003Dee","Opted In","tab\there","1"\r\n'
    '"eve@example.com","Eve","",' + '"' + "x" * 5000 + '",""\r\n'
    '"fay@example.com","F\u00e4y","Ja","caf\u00e9 \\ back",""\r\n'
    '"","","","",""\r\n'
    '"gus@example.com","Gus","1","","00501"'
)


def _snapshot(settings):
    with connect(settings, read_only=True) as con:
        tables = {
            "contacts": "SELECT * EXCLUDE (_batch_id, _loaded_at, _source_file) FROM raw.csv_contacts",
            "calls": "SELECT * EXCLUDE (_batch_id, _loaded_at, _source_file) FROM raw.call_center_calls",
            "quarantine": "SELECT line_number, field, reason, raw_text FROM meta.quarantine",
            "manifest": "SELECT status, rows_read, rows_loaded, rows_quarantined, rows_skipped, message "
            "FROM meta.ingest_manifest",
        }
        found = {}
        for name, sql in tables.items():
            try:
                found[name] = sorted(con.execute(sql).fetchall(), key=repr)
            except Exception:  # the source's table does not exist in this warehouse
                found[name] = None
        return found


def _both_ways(settings_factory, monkeypatch, land, source):
    fast = settings_factory("fast")
    land(fast)
    ingest(fast, "run-1", source)
    slow = settings_factory("slow")
    land(slow)
    with monkeypatch.context() as patch:
        patch.setattr(csv_records, "read_records", lambda content, delimiter, **_: None)
        patch.setattr(call_center, "_stage_json", lambda con, batch: None)
        ingest(slow, "run-1", source)
    return _snapshot(fast), _snapshot(slow)


@pytest.fixture
def settings_factory(tmp_path):
    from datetime import date

    from cdp.settings import Settings

    return lambda name: Settings(home=tmp_path / name, run_date=date(2026, 11, 23))


def test_csv_list_loads_the_same_through_sql_as_through_the_csv_module(settings_factory, monkeypatch):
    def land(settings):
        settings.csv_landing_dir.mkdir(parents=True)
        (settings.csv_landing_dir / "newsletter__odd.csv").write_text(LIST, encoding="utf-8", newline="")

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "csv")
    assert fast == slow
    assert csv_records.read_records(LIST, ",") is not None  # the fast path was taken
    lines = {row[0]: row[1] for row in fast["quarantine"]}
    assert lines[6] == "email"  # the row after a quoted line break is on its physical line
    assert {r[4] for r in fast["contacts"]} == {
        "ann@example.com", "bob@example.com", "dee@example.com", "fay@example.com", "gus@example.com",
    }  # fmt: skip
    assert any(r[0].startswith("oversized-field") for r in [(q[2],) for q in fast["quarantine"]])


CALLS_CSV = (
    "call_id,caller_phone,started_at,ended_at,disposition,csat,nps,updated_at,sentiment\r\n"
    "c-1,555,2026-11-01T10:00:00Z,2026-11-01T10:05:00Z,resolved,5,10,2026-11-01T11:00:00Z,\r\n"
    'c-2,"55\r\n5",2026-11-01T10:00:00+01:00,,callback, 4 ,0,2026-11-02T11:00:00Z,"caf\u00e9"\r\n'
    "c-3,,2026-02-30T25:61:00Z,,resolved,,,2026-11-02T11:00:00Z,\r\n"
    "c-4,,,,Resolved,5.0,,2026-11-03T11:00:00Z,ok\r\n"
    " ,,,,,,,2026-11-03T11:00:00Z,\r\n"
    "c-1,,,,resolved,,,2026-11-01 12:00:00,\r\n"
    "c-5,,,,,,,,\r\n"
)
CALLS_JSON = [
    {"call_id": "c-1", "updated_at": "2026-11-03T11:00:00Z", "csat": 4, "nps": "7"},
    {"call_id": "c-7", "updated_at": "2026-11-03T11:00:00Z", "caller_phone": 5550001},
    {"call_id": "c-8", "updated_at": "2026-11-03T11:00:00Z", "csat": 3.0, "extra_field": {"a": [1, 2]}},
    "not an object",
    {"call_id": "c-9", "updated_at": "2026-11-03T11:00:00Z", "queue": " \u3000sales\t", "nps": True},
    {"call_id": "c-10", "updated_at": None},
    {"call_id": "c-11", "updated_at": "2026-11-03T11:00:00Z", "caller_email": 'a"b\\c\u00e9@x'},
]


def test_call_exports_load_the_same_through_sql_as_through_csv_and_json_modules(
    settings_factory, monkeypatch
):
    def land(settings):
        folder = settings.call_center_landing_dir
        folder.mkdir(parents=True)
        (folder / "calls-1.csv").write_text(CALLS_CSV, encoding="utf-8", newline="")
        (folder / "calls-0.csv").write_text(CALLS_CSV + "c-6,1,2\r\n", encoding="utf-8", newline="")  # ragged
        text = json.dumps(CALLS_JSON).replace(
            '"c-10", "updated_at"', '"c-10", "call_id": "c-12", "updated_at"'
        )
        (folder / "calls-2.json").write_text(text, encoding="utf-8")
        (folder / "calls-3.json").write_text('[{"call_id": "c-13", "updated_at": "2026-11-03T11:00:00Z"},]')

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "call_center")
    assert csv_records.read_records(CALLS_CSV, ",") is not None  # the fast path was taken
    assert fast == slow
    assert {r[0] for r in fast["calls"]} == {"c-1", "c-2", "c-7", "c-8", "c-11"}
    assert ("failed",) in {(r[0],) for r in fast["manifest"]}  # trailing comma: json.loads refuses


UNCLOSED_LIST = (
    "email,first_name,last_name\r\n"
    "ann@example.com,Ann,Lee\r\n"
    'bob@example.com,"Bob ""B"", Jr",Ray\r\n'
    'cat@example.com,"Cat,Moe\r\n'  # the quote opened here is never closed
    "dan@example.com,Dan,Fox\r\n"
    "\r\n"
    "eve@example.com,Eve,Orr\r\n"
)


def _unclosed_quote_rows(snapshot):
    return [(q[0], q[1], q[2].split(":")[0]) for q in snapshot["quarantine"]]


@pytest.mark.parametrize("stray_quote", [False, True], ids=["plain", "quote-in-unquoted-field"])
def test_an_unclosed_quote_quarantines_the_rows_it_would_swallow_and_loads_those_before(
    settings_factory, monkeypatch, stray_quote
):
    """The csv module read 'Cat,Moe' and every line after it as one first_name: dan and eve vanished."""
    text = UNCLOSED_LIST.replace("Ray", 'R"ay') if stray_quote else UNCLOSED_LIST

    def land(settings):
        settings.csv_landing_dir.mkdir(parents=True)
        (settings.csv_landing_dir / "newsletter__cut.csv").write_text(text, encoding="utf-8", newline="")

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "csv")
    assert fast == slow
    # The fast path takes the plain file (it only declines the stray quote).
    assert (csv_records.read_records(text, ",", split_unclosed_quote=True) is None) == stray_quote
    assert sorted((r[4], r[6]) for r in fast["contacts"]) == [
        ("ann@example.com", "Ann"), ("bob@example.com", 'Bob "B", Jr'),
    ]  # fmt: skip
    assert _unclosed_quote_rows(fast) == [
        (4, "first_name", "unclosed-quote"), (5, None, "unclosed-quote"), (7, None, "unclosed-quote"),
    ]  # fmt: skip
    first, *_ = fast["quarantine"]
    assert "on line 4 is never closed" in first[2] and "lines 5-7" in first[2]


def test_an_unclosed_quote_in_a_call_export_and_the_suppression_list_is_quarantined(settings_factory, monkeypatch):
    """Beyond the csv module's field limit the quote rejected the whole file; under it, rows vanished."""
    calls = CALLS_CSV.replace("c-4,,,,Resolved", 'c-4,"555,,,Resolved')

    def land(settings):
        folder = settings.call_center_landing_dir
        folder.mkdir(parents=True)
        (folder / "calls-1.csv").write_text(calls, encoding="utf-8", newline="")
        # Over csv.field_size_limit(): the csv module refuses the swallowed value.
        long_tail = "".join(f"c-{n},,,,,,,2026-11-03T11:00:00Z,\r\n" for n in range(100, 6000))
        (folder / "calls-2.csv").write_text(calls + long_tail, encoding="utf-8", newline="")

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "call_center")
    assert fast == slow
    assert {r[0] for r in fast["calls"]} == {"c-1", "c-2"}
    assert [m[0] for m in fast["manifest"]] == ["loaded", "loaded"]
    unclosed = [q for q in fast["quarantine"] if q[2].startswith("unclosed-quote")]
    assert len(unclosed) == 4 + 4 + 5900
    assert [q[:2] for q in unclosed if q[1] is not None] == [(6, "caller_phone")] * 2


def test_an_unclosed_quote_in_the_suppression_list_is_quarantined_line_by_line(settings):
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text(
        "identifier_type,identifier,reason,requested_at\n"
        "email,a@example.com,erasure,2026-11-01T10:00:00Z\n"
        'email,"b@example.com,erasure,2026-11-01T10:00:00Z\n'
        "email,c@example.com,erasure,2026-11-01T10:00:00Z\n"
    )
    [report] = ingest(settings, "run-1", "csv")
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT identifier FROM raw.suppression_list").fetchall() == [("a@example.com",)]
        flagged = con.execute("SELECT line_number, field, raw_text FROM meta.quarantine ORDER BY 1").fetchall()
    assert flagged == [
        (3, "identifier", 'email,"b@example.com,erasure,2026-11-01T10:00:00Z'),
        (4, None, "email,c@example.com,erasure,2026-11-01T10:00:00Z"),
    ]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 1, 2)


@pytest.mark.parametrize(
    ("record", "field"),
    [('"open', 0), ('a,"open""', 1), ('"a""b', 0), ('"x",y,"z\nmore\n', 2), ('"a"b"c,"d', 1), ('a,"b"",c', 1)],
)
def test_unclosed_quote_at_end_finds_the_field_the_csv_module_leaves_open(record, field):
    found = csv_records.unclosed_quote_at_end(record, ",", 7)
    assert found is not None and found.field == field and found.record_line == 7
    # The csv module reads as many fields, the last one running to the end of the text.
    assert len(next(csv.reader(io.StringIO(record, newline="")))) == field + 1


@pytest.mark.parametrize("record", ['"closed"', 'a,"b""c"\n', 'ab"c,d', '"a"b"c,d\n', 'x,""'])
def test_closed_quotes_are_not_an_unclosed_quote(record):
    assert csv_records.unclosed_quote_at_end(record, ",", 1) is None


CALLS_AS_WRITTEN = (
    "call_id;caller_last_name;csat;updated_at\r\n"
    'c-1;"Smith, Jr";9;2026-11-01T10:00:00Z\r\n'
    'c-2;"Doe\r\nsecond line";4;2026-11-01T10:00:00Z\r\n'
    "\r\n"
    'c-3;"Roe\nand\nmore";7;2026-11-01T10:00:00Z\r\n'
    "c-4;Poe;5;2026-11-01T10:00:00Z\r\n"
)
CALLS_PRETTY_JSON = [
    {"call_id": "c-5", "csat": 3, "updated_at": "2026-11-01T10:00:00Z"},
    {"call_id": "c-6", "nps": 11, "note": 'a "quoted", [bracketed] {value}', "updated_at": "2026-11-01T10:00:00Z"},
    "not an object",
    {"call_id": "c-7", "updated_at": "2026-11-01T10:00:00Z"},
]


@pytest.mark.parametrize("ragged", [False, True], ids=["sql", "csv-module"])
def test_call_quarantine_quotes_the_record_as_written_and_the_line_it_starts_on(
    settings_factory, monkeypatch, ragged
):
    """A ';' export's row was quarantined re-joined with commas, its quotes lost ('c-1,Smith, Jr,9,...');
    a record with a quoted line break was numbered by its last line, a JSON element by its array position."""
    csv_text = CALLS_AS_WRITTEN + ("c-9;Zoe;1\r\n" if ragged else "")  # a short row: the csv module's path

    def land(settings):
        folder = settings.call_center_landing_dir
        folder.mkdir(parents=True)
        (folder / "calls-1.csv").write_text(csv_text, encoding="utf-8", newline="")
        (folder / "calls-2.json").write_text(json.dumps(CALLS_PRETTY_JSON, indent=2), encoding="utf-8")

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "call_center")
    assert fast == slow
    assert (csv_records.read_records(csv_text, ";") is None) == ragged
    quarantined = {(q[0], q[1]): q[3] for q in fast["quarantine"] if not (q[1] or "").endswith("updated_at")}
    assert quarantined == {
        (2, "csat"): 'c-1;"Smith, Jr";9;2026-11-01T10:00:00Z',
        (6, "csat"): 'c-3;"Roe\nand\nmore";7;2026-11-01T10:00:00Z',
        (7, "[1].nps"): json.dumps(CALLS_PRETTY_JSON[1]),  # lines 7-12 of the pretty-printed array
        (13, "[2]"): json.dumps("not an object"),
    }
    # Loaded rows carry the line their record starts on too.
    assert {(r[0], r[-1]) for r in fast["calls"]} == {("c-2", 3), ("c-4", 9), ("c-5", 2), ("c-7", 14)}


LIST_AS_WRITTEN = (
    "Email Address;First Name;Opt-in\r\n"
    'ann@example.com;"Smith; Ann";perhaps\r\n'  # line 2
    "\r\n"
    'bob@example.com;"Bob\nSecond\r\nline";yes\r\n'  # lines 4-6 (a lone \n ends a line too)
    'cy@example.com;"Cy\r\nRoe";maybe\r\n'  # lines 7-8
    ';"No\nBody";yes\r\n'  # lines 9-10
)


@pytest.mark.parametrize("ragged", [False, True], ids=["sql", "csv-module"])
def test_list_quarantine_quotes_the_record_as_written_and_the_line_it_starts_on(
    settings_factory, monkeypatch, ragged
):
    """A CSV list's record with a quoted line break was numbered by its last line (cy's, on lines
    7-8, as 8) and quarantined re-joined with the delimiter, its quotes and line break lost."""
    # A row with a value past the header: the csv module's path.
    text = LIST_AS_WRITTEN + ('dee@example.com;"Dee\r\nDoe";yes;"x;y"\r\n' if ragged else "")

    def land(settings):
        settings.csv_landing_dir.mkdir(parents=True)
        (settings.csv_landing_dir / "newsletter__x.csv").write_text(text, encoding="utf-8", newline="")

    fast, slow = _both_ways(settings_factory, monkeypatch, land, "csv")
    assert fast == slow
    assert (csv_records.read_records(text, ";") is None) == ragged
    expected = {
        (2, "Opt-in"): 'ann@example.com;"Smith; Ann";perhaps',
        (7, "Opt-in"): 'cy@example.com;"Cy\r\nRoe";maybe',
        (9, "email"): ';"No\nBody";yes',
    }
    if ragged:
        expected[(11, None)] = 'dee@example.com;"Dee\r\nDoe";yes;"x;y"'
    assert {(q[0], q[1]): q[3] for q in fast["quarantine"]} == expected
    # A loaded row's lineage names the line its record starts on; its contact id stays
    # <file>:<row number>, counting records (not lines), as before.
    columns = [c for c in csv_lists.STORED_COLUMNS if c not in ("_source_file", "_batch_id", "_loaded_at")]
    contacts = [dict(zip(columns, row, strict=True)) for row in fast["contacts"]]
    assert [(c["contact_id"], c["row_number"], c["first_name"], c["_source_line"]) for c in contacts] == [
        ("newsletter__x.csv:2", 2, "Bob\nSecond\r\nline", 4)
    ]


@pytest.mark.parametrize("indent", [None, 2, "\t"])
def test_json_element_lines_found_with_numpy_match_the_json_module(indent):
    elements = [
        {"a": 'say "hi" \\', "b": [1, {"c": "]},[{"}]}, "x\\\\", 3, None, [], {}, "\\\"{", {"d": [[], [1]]}, []
    ]
    for text in (json.dumps(elements, indent=indent), "\n\n " + json.dumps(elements, indent=indent).replace(", ", ",\n"),
                 "[]", " [\n] "):  # fmt: skip
        expected = call_center._element_lines(text)
        assert list(call_center._array_element_lines(text.encode())) == expected
    assert call_center._element_lines(json.dumps([1, 2], indent=2)) == [2, 3]
