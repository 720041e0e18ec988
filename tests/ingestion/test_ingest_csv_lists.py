"""CSV lists: YAML header mapping, encodings and delimiters, rejected headers, suppression list."""

from __future__ import annotations

import codecs
import json
from datetime import date, datetime

import pytest

from cdp.warehouse import connect
from ingestion.csv_lists import load_mapping, mappings_dir, normalise_header
from ingestion.runner import ingest

LISTS = (
    "newsletter__2026-11-23.csv",
    "crm__accounts-2026-11-23.csv",
    "event_leads__webinar-2026-10-28.csv",
    "newsletter__broken-export.csv",
)


def _rows(settings, sql):
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def landed(settings, copy_fixture):
    for name in LISTS:
        copy_fixture(f"csv/{name}", settings.csv_landing_dir)
    copy_fixture("suppression/suppression.csv", settings.suppression_path.parent)
    return settings


def test_lists_in_three_encodings_and_delimiters_map_to_canonical_fields(landed):
    [report] = ingest(landed, "run-1", "csv")
    contacts = {
        r[0]: r[1:]
        for r in _rows(
            landed,
            "SELECT contact_id, list_type, email, first_name, last_name, birth_date, consent_email, consent_sms, "
            "consent_ads, company_name, source_campaign, postcode, extra, row_dated_at FROM raw.csv_contacts",
        )
    }
    assert set(contacts) == {
        "newsletter__2026-11-23.csv:1",
        "newsletter__2026-11-23.csv:4",
        "crm__accounts-2026-11-23.csv:1",
        "event_leads__webinar-2026-10-28.csv:1",
    }
    ann = contacts["newsletter__2026-11-23.csv:1"]
    assert ann[:2] == ("newsletter", "ann@example.com") and ann[5] is True and ann[10] == "12345"
    # the sign-up date is the row's own date (row_dated_at), no longer left in extra
    assert json.loads(ann[11]) == {"Favourite Colour": "blue"} and ann[12] == datetime(2026, 11, 1, 10)
    jose = contacts["crm__accounts-2026-11-23.csv:1"]  # cp1252, ';'
    assert jose[2:5] == ("José", "Müller", date(1980, 2, 29))
    assert jose[5:9] == (True, False, None, "Müller GmbH")
    assert json.loads(jose[11]) == {"Account Owner": "Dana Whitfield"}
    eve = contacts["event_leads__webinar-2026-10-28.csv:1"]  # UTF-8 BOM, tab
    assert (eve[1], eve[5], eve[8], eve[9]) == ("eve@example.com", True, "Acme", "Loyalty Program Deep Dive")
    assert eve[12] == datetime(2026, 10, 28, 10) and jose[12] is None  # this CRM export has no Last Modified
    assert report.files_seen == 5 and report.files_failed == 1


def test_bad_rows_quarantined_and_unmappable_header_rejects_only_that_file(landed):
    ingest(landed, "run-1", "csv")
    quarantined = {
        (source_file.rsplit("/", 1)[1], line): (field, reason.split(":")[0])
        for source_file, line, field, reason in _rows(
            landed, "SELECT source_file, line_number, field, reason FROM meta.quarantine"
        )
    }
    assert quarantined[("newsletter__2026-11-23.csv", 3)] == ("email", "missing-id")
    assert quarantined[("newsletter__2026-11-23.csv", 4)] == ("Opt-in", "invalid-field-type")
    assert quarantined[("crm__accounts-2026-11-23.csv", 3)] == ("Birthdate", "invalid-date")
    assert quarantined[("suppression.csv", 4)] == ("identifier_type", "invalid-value")
    assert quarantined[("newsletter__broken-export.csv", None)][0] == "header"
    status, message = _rows(
        landed,
        "SELECT status, message FROM meta.ingest_manifest WHERE source_object LIKE '%broken-export.csv'",
    )[0]
    assert status == "failed"
    assert "Columns found: Name, Zip" in message and "Email Address" in message


def test_row_dates_are_typed_in_every_written_form_and_a_bad_one_is_quarantined(settings):
    """Each list's own row date column maps to row_dated_at; an unreadable date quarantines its row."""
    folder = settings.csv_landing_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "newsletter__2026-11-24.csv").write_text(
        '"Email Address","Opt-in","Signup Date"\r\n'
        '"ann@example.com","yes","2023-12-29 14:03:11"\r\n'
        '"bob@example.com","yes","29.12.2023"\r\n'
        '"cy@example.com","yes","12/29/2023"\r\n'
        '"dee@example.com","yes","2023-12-29T14:03:11.5+01:00"\r\n'
        '"eli@example.com","yes",""\r\n'
        '"fay@example.com","yes","1066-10-14"\r\n',
        encoding="utf-8",
    )
    (folder / "crm__accounts-2026-11-24.csv").write_text(
        "E-mail;Email Opt In;Last Modified\r\ngus@example.com;N;06/15/2026 09:30\r\n"
        "hal@example.com;Y;2026-06-15\r\nivy@example.com;Y;6/15/2026 9:30\r\n",
        encoding="utf-8",
    )
    ingest(settings, "run-1", "csv")
    dated = dict(_rows(settings, "SELECT email, row_dated_at FROM raw.csv_contacts"))
    assert dated == {
        "ann@example.com": datetime(2023, 12, 29, 14, 3, 11),
        "cy@example.com": datetime(2023, 12, 29),  # the mapping's second date format
        "dee@example.com": datetime(2023, 12, 29, 13, 3, 11, 500000),  # to UTC
        "eli@example.com": None,
        "gus@example.com": datetime(2026, 6, 15, 9, 30),
        "hal@example.com": datetime(2026, 6, 15),
        "ivy@example.com": datetime(2026, 6, 15, 9, 30),  # not zero-padded: typed in Python, same value
    }
    quarantined = {
        (source_file.rsplit("/", 1)[1], line): (field, reason)
        for source_file, line, field, reason in _rows(
            settings, "SELECT source_file, line_number, field, reason FROM meta.quarantine"
        )
    }
    assert quarantined[("newsletter__2026-11-24.csv", 3)][0] == "Signup Date"
    assert quarantined[("newsletter__2026-11-24.csv", 3)][1].startswith("invalid-timestamp: Signup Date='29.12.2023'")
    assert quarantined[("newsletter__2026-11-24.csv", 7)][0] == "Signup Date"
    assert quarantined[("newsletter__2026-11-24.csv", 7)][1].startswith("timestamp-out-of-range")
    assert len(quarantined) == 2


def test_rerun_skips_and_changed_file_replaces_its_rows(landed):
    ingest(landed, "run-1", "csv")
    [again] = ingest(landed, "run-2", "csv")
    assert again.rows_loaded == 0 and again.files_skipped == 4  # the failed file is retried (and fails again)
    path = landed.csv_landing_dir / "newsletter__2026-11-23.csv"
    path.write_text('"Email Address","First Name"\r\n"dan@example.com","Dan"\r\n', encoding="utf-8")
    [third] = ingest(landed, "run-3", "csv")
    assert third.rows_loaded == 1
    newsletter = _rows(
        landed, "SELECT contact_id, email FROM raw.csv_contacts WHERE list_type = 'newsletter'"
    )
    assert newsletter == [("newsletter__2026-11-23.csv:1", "dan@example.com")]


def test_suppression_list_appends_new_requests_and_never_truncates(landed):
    ingest(landed, "run-1", "csv")
    assert _rows(
        landed, "SELECT identifier_type, identifier, reason FROM raw.suppression_list ORDER BY 1"
    ) == [
        ("email", "ann@example.com", "erasure"),
        ("phone", "+15550001", "opt_out"),
    ]
    # A new export holding one old request, one repeat, and one new one: only the new one is added;
    # the request missing from the file stays.
    landed.suppression_path.write_text(
        "identifier_type,identifier,reason,requested_at\n"
        "email,ann@example.com,erasure,2026-11-01T10:00:00Z\n"
        "customer_id,42,erasure,2026-11-20T10:00:00Z\n"
        "customer_id,42,erasure,2026-11-21T10:00:00Z\n"
    )
    [report] = ingest(landed, "run-2", "csv")
    assert report.rows_loaded == 1
    assert _rows(landed, "SELECT count(*) FROM raw.suppression_list")[0] == (3,)


def test_suppression_request_with_usable_identifier_is_loaded_and_flagged(settings):
    """An erasure request is honoured even when its reason or requested_at is unreadable."""
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text(
        "identifier_type,identifier,reason,requested_at\n"
        "email,Gone@Example.com,per our call,2026-11-01T10:00:00Z\n"
        "phone,+15550009,erasure,last tuesday\n"
        "email,ok@example.com,Opt-Out,2026-11-03T10:00:00Z\n"
        "email,,erasure,2026-11-03T10:00:00Z\n"
    )
    [report] = ingest(settings, "run-1", "csv")
    loaded = _rows(
        settings,
        "SELECT identifier_type, identifier, reason, requested_at, _source_line FROM raw.suppression_list ORDER BY 5",
    )
    assert loaded == [
        ("email", "gone@example.com", "opt_out", datetime(2026, 11, 1, 10), 2),
        ("phone", "+15550009", "erasure", None, 3),
        ("email", "ok@example.com", "opt_out", datetime(2026, 11, 3, 10), 4),
    ]
    flagged = _rows(settings, "SELECT line_number, field, reason FROM meta.quarantine ORDER BY 1")
    assert [(line, field) for line, field, _ in flagged] == [
        (2, "reason"),
        (3, "requested_at"),
        (5, "identifier"),
    ]
    assert flagged[0][2].startswith("loaded-with-warning") and "'per_our_call'" in flagged[0][2]
    assert "NOT treated as an erasure" in flagged[0][2]
    assert flagged[1][2].startswith("loaded-with-warning")
    assert flagged[2][2].startswith("missing-id")
    assert report.rows_loaded == 3


def test_suppression_quarantine_quotes_the_record_as_written_and_the_line_it_starts_on(settings):
    """A request with a quoted line break was numbered by its last line and quarantined re-joined
    with commas, its quotes and line break lost."""
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_bytes(
        b"identifier_type;identifier;reason;requested_at\r\n"
        b'email;Gone@Example.com;"per our\r\ncall";2026-11-01T10:00:00Z\r\n'  # lines 2-3
        b"phone;+15550009;erasure;2026-11-02T10:00:00Z\r\n"  # line 4
        b'email;"\n";"erasure; GDPR";\r\n'  # lines 5-6
    )
    ingest(settings, "run-1", "csv")
    assert _rows(settings, "SELECT identifier, _source_line FROM raw.suppression_list ORDER BY 2") == [
        ("gone@example.com", 2),
        ("+15550009", 4),
    ]
    assert _rows(settings, "SELECT line_number, field, raw_text FROM meta.quarantine ORDER BY 1") == [
        (2, "reason", 'email;Gone@Example.com;"per our\r\ncall";2026-11-01T10:00:00Z'),
        (5, "identifier", 'email;"\n";"erasure; GDPR";'),
    ]


def test_suppression_identifier_loses_invisible_characters_it_was_pasted_with(settings):
    """A zero-width space or BOM pasted with an address was loaded as part of it, so the request
    blocked nobody: ada@example.com was still exported."""
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text(
        "identifier_type,identifier,reason,requested_at\n"
        "email,\u200bada@example.com,unsubscribe,2026-11-20\n"
        "email,\ufeffbo@example.com\u200d,erasure,2026-11-20\n"
        "email,cy\u200b@Example.com,erasure,2026-11-20\n"
        "phone,\u2060+15550009\u00a0,erasure,2026-11-20\n"
        "customer_id,\ufeffC-17\u200b,erasure,2026-11-20\n",
        encoding="utf-8",
    )
    [report] = ingest(settings, "run-1", "csv")
    assert _rows(settings, "SELECT identifier_type, identifier FROM raw.suppression_list ORDER BY _source_line") == [
        ("email", "ada@example.com"),
        ("email", "bo@example.com"),
        ("email", "cy@example.com"),
        ("phone", "+15550009"),
        ("customer_id", "C-17"),
    ]
    assert report.rows_loaded == 5 and report.rows_quarantined == 0


ERASURE_WORDINGS = (
    "GDPR erasure", "erasure request", "Right to be forgotten", "right-to-be-forgotten", "deletion",
    "delete my data", "GDPR delete", "CCPA deletion", "RTBF", "Art. 17", "opt out and delete my data",
)  # fmt: skip
OPT_OUT_WORDINGS = ("Opt-Out", "opt out", "optout", "unsubscribe", "Do not contact", "withdraw consent")


def test_erasure_wordings_are_loaded_as_erasure_and_opt_out_wordings_as_opt_out(settings):
    """'GDPR erasure', 'right to be forgotten', 'delete my data' ... were loaded as opt_out (with a
    warning), so the person was never erased from retained exports."""
    settings.suppression_path.parent.mkdir(parents=True)
    wordings = [*ERASURE_WORDINGS, *OPT_OUT_WORDINGS]
    settings.suppression_path.write_text(
        "identifier_type,identifier,reason,requested_at\n"
        + "".join(f"email,p{n}@example.com,{w},2026-11-01T10:00:00Z\n" for n, w in enumerate(wordings))
    )
    [report] = ingest(settings, "run-1", "csv")
    reasons = dict(_rows(settings, "SELECT identifier, reason FROM raw.suppression_list"))
    assert [reasons[f"p{n}@example.com"] for n in range(len(wordings))] == (
        ["erasure"] * len(ERASURE_WORDINGS) + ["opt_out"] * len(OPT_OUT_WORDINGS)
    )
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(0,)]
    assert report.rows_quarantined == 0


def test_mapping_files_cover_the_sample_data_headers(settings):
    from cdp.sample_data import csv_lists as sample  # a broken project module must fail, not skip

    for list_type, spec in sample.LIST_FORMATS.items():
        mapping = load_mapping(mappings_dir(settings) / f"{list_type}.yml")
        aliases = {normalise_header(a) for names in mapping.fields.values() for a in names}
        mapped = [h for h in spec["header"] if normalise_header(h) in aliases]
        assert any(normalise_header(h) in aliases for h in spec["header"]), list_type
        assert len(mapped) >= 4, (list_type, mapped)


NEWSLETTER_HEADER = "Email Address;First Name;Last Name\n"


def test_cp1252_list_without_configured_encoding_keeps_spanish_letters(settings):
    # cp1250 reads these bytes without a flaw too ("Muńoz"); detection must not pick it.
    settings.csv_landing_dir.mkdir(parents=True)
    body = NEWSLETTER_HEADER + "".join(f"p{i}@example.com;Iñigo;Muñoz Peña\n" for i in range(50))
    (settings.csv_landing_dir / "newsletter__es.csv").write_bytes(body.encode("cp1252"))
    ingest(settings, "run-1", "csv")
    names = _rows(settings, "SELECT DISTINCT first_name, last_name FROM raw.csv_contacts")
    assert names == [("Iñigo", "Muñoz Peña")]


def test_a_short_cp1252_list_is_not_read_as_big5(settings):
    """With one non-ASCII letter the detector took cp1252 "Øster" for Big5 and loaded "喒ter", silently."""
    settings.csv_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "newsletter__nov.csv").write_bytes(
        (NEWSLETTER_HEADER + "ann@example.com;Ann;Øster\n").encode("cp1252")
    )
    ingest(settings, "run-1", "csv")
    assert _rows(settings, "SELECT last_name FROM raw.csv_contacts") == [("Øster",)]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("big5", "王小明;台北市"), ("shift_jis", "山田太郎;鈴木花子"), ("euc_kr", "김철수;이영희"),
     # each of these reads in cp1252 as Latin-looking text ("‚", "ƒ^", "ÀÌÀç"): the detector keeps them
     ("cp850", "René;Gérard\nc@example.com;Hélène;Françoise"), ("shift_jis", "タナカ;ヤマダ"),
     ("euc_kr", "이재;장이")],
)
def test_east_asian_lists_keep_their_detected_encoding(tmp_path, encoding, text):
    from ingestion.parsing import decode_text_file

    path = tmp_path / "list.csv"
    path.write_bytes(f"{NEWSLETTER_HEADER}a@example.com;{text}\nb@example.com;{text}\n".encode(encoding))
    assert decode_text_file(path)[0].endswith(f"b@example.com;{text}\n")


def test_configured_encoding_is_used_and_a_byte_it_cannot_read_rejects_the_file(settings, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    spec = (mappings_dir(settings) / "newsletter.yml").read_text() + "encoding: cp1252\n"
    (mappings / "newsletter.yml").write_text(spec)
    settings = type(settings)(home=settings.home, run_date=settings.run_date, csv_mappings_dir=mappings)
    settings.csv_landing_dir.mkdir(parents=True)
    good = (NEWSLETTER_HEADER + "ann@example.com;Zoë;Ñúñez\n").encode("cp1252")
    (settings.csv_landing_dir / "newsletter__good.csv").write_bytes(good)
    # 0x81 is undefined in cp1252, and the file is not UTF-8 either.
    bad = NEWSLETTER_HEADER.encode() + b"bob@example.com;B\x81b;X\n"
    (settings.csv_landing_dir / "newsletter__bad.csv").write_bytes(bad)
    [report] = ingest(settings, "run-1", "csv")
    assert _rows(settings, "SELECT first_name, last_name FROM raw.csv_contacts") == [("Zoë", "Ñúñez")]
    assert report.files_failed == 1
    [(field, reason)] = _rows(settings, "SELECT field, reason FROM meta.quarantine")
    assert field == "encoding" and "newsletter__bad.csv: line 2" in reason and "cp1252" in reason


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_unicode_text_with_a_byte_order_mark_is_read_whatever_the_mapping_encoding(settings, encoding):
    """crm.yml says cp1252: Excel's "Unicode Text" (UTF-16 with a BOM) was decoded as cp1252."""
    settings.csv_landing_dir.mkdir(parents=True)
    text = "Account Name\tE-mail\tContact First Name\nAcme\tann@example.com\tZoë\n"
    bom = {"utf-16-be": "\ufeff", "utf-32-be": "\ufeff"}.get(encoding, "")  # the others write their own
    (settings.csv_landing_dir / "crm__unicode.txt").write_bytes((bom + text).encode(encoding))
    [report] = ingest(settings, "run-1", "csv")
    assert report.files_failed == 0
    assert _rows(settings, "SELECT email, first_name FROM raw.csv_contacts") == [("ann@example.com", "Zoë")]


def test_bytes_the_byte_order_mark_encoding_cannot_read_reject_the_file_not_the_source(settings):
    """A UTF-16 list cut off mid-character (or a bad byte after a UTF-8 BOM) was rejected as 'neither
    UTF-8 nor None'; the same suppression file crashed the whole csv source on every run."""
    settings.csv_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "newsletter__cut.csv").write_bytes(
        codecs.BOM_UTF16_LE + "email\nann@example.com\n".encode("utf-16-le") + b"\x00"
    )
    (settings.csv_landing_dir / "newsletter__ok.csv").write_text("email\nbob@example.com\n")
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_bytes(codecs.BOM_UTF8 + b"identifier_type,identifier,reason\nemail,z\xff@x.com,erasure\n")
    [report] = ingest(settings, "run-1", "csv")
    assert (report.files_loaded, report.files_failed) == (1, 2)
    assert _rows(settings, "SELECT email FROM raw.csv_contacts") == [("bob@example.com",)]
    assert sorted(_rows(settings, "SELECT field, reason FROM meta.quarantine")) == [
        ("encoding", "newsletter__cut.csv: line 3: byte 46 (b'\\x00') is not valid UTF-16-LE (the file starts "
                     "with its byte-order mark); fix or re-export the file"),
        ("encoding", "suppression.csv: line 2: byte 44 (b'\\xff') is not valid UTF-8 (the file starts with its "
                     "byte-order mark); fix or re-export the file"),
    ]  # fmt: skip


def test_a_field_over_the_csv_module_limit_rejects_the_list_or_suppression_file_not_the_source(settings):
    """csv.Error('field larger than field limit') failed the whole csv source (lists and suppression)."""
    settings.csv_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "newsletter__long.csv").write_text(f'email,first_name\nann@example.com,"{"x" * 200_000}"\n')
    (settings.csv_landing_dir / "newsletter__ok.csv").write_text("email\nbob@example.com\n")
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text(
        f'identifier_type,identifier,reason,requested_at\nemail,"{"x" * 200_000}",erasure,\n'
    )
    [report] = ingest(settings, "run-1", "csv")
    assert (report.files_loaded, report.files_failed) == (1, 2)
    assert _rows(settings, "SELECT email FROM raw.csv_contacts") == [("bob@example.com",)]
    reasons = sorted(_rows(settings, "SELECT field, reason FROM meta.quarantine"))
    assert [field for field, _ in reasons] == ["csv", "csv"]
    assert reasons[0][1].startswith("newsletter__long.csv: line 2: not readable as CSV: field larger than field limit")
    assert reasons[1][1].startswith("suppression.csv: line 2: not readable as CSV: field larger than field limit")


@pytest.mark.parametrize("ragged", [False, True])  # read by csv_records, by the csv module
def test_an_excel_sep_line_names_the_delimiter_and_lines_count_it(settings, ragged):
    """Excel's `sep=;` first line was taken as the header: the whole list (and the suppression
    list) was rejected as unmappable."""
    settings.csv_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "newsletter__excel.csv").write_text(
        "sep=;\nEmail;First Name;Opt-in\na@example.com;Ann;yes\nb@example.com;Bob;maybe\n"
        + ("c@example.com;Cy;no;extra\n" if ragged else "")
    )
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text(
        "sep=,\nidentifier_type,identifier,reason,requested_at\n"
        "email,gone@example.com,erasure,2026-11-01T10:00:00Z\nemail,,erasure,2026-11-01T10:00:00Z\n"
    )
    [report] = ingest(settings, "run-1", "csv")
    assert report.files_failed == 0
    assert _rows(settings, "SELECT email, first_name, _source_line FROM raw.csv_contacts") == [
        ("a@example.com", "Ann", 3)
    ]
    assert _rows(settings, "SELECT identifier, _source_line FROM raw.suppression_list") == [("gone@example.com", 3)]
    assert _rows(
        settings, "SELECT parse_filename(source_file), line_number, field FROM meta.quarantine ORDER BY 1, 2"
    ) == [
        ("newsletter__excel.csv", 4, "Opt-in"),
        *([("newsletter__excel.csv", 5, None)] if ragged else []),
        ("suppression.csv", 4, "identifier"),
    ]


def test_a_file_no_list_or_suppression_loader_reads_is_named_in_the_report(settings):
    """A list saved as .xlsx, or a second suppression file, was left out with no trace."""
    settings.csv_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "newsletter__nov.CSV").write_text("Email\na@example.com\n")
    (settings.csv_landing_dir / "newsletter__dec.xlsx").write_bytes(b"PK\x03\x04")
    settings.suppression_path.parent.mkdir(parents=True)
    settings.suppression_path.write_text("identifier_type,identifier,reason,requested_at\nemail,b@example.com,erasure,\n")
    (settings.suppression_path.parent / "suppression-2.csv").write_text("")
    [report] = ingest(settings, "run-1", "csv")
    assert (report.files_seen, report.rows_loaded) == (2, 2)
    assert report.messages == [
        f"{settings.csv_landing_dir / 'newsletter__dec.xlsx'}: not read: its name matches none of *.csv, *.tsv, "
        "*.txt; rename it to load it",
        f"{settings.suppression_path.parent / 'suppression-2.csv'}: not read: its name matches none of "
        "suppression.csv; rename it to load it",
    ]
