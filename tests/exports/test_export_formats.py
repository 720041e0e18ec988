"""What each export format writes: columns, values, hashing and skipped members."""

from __future__ import annotations

import pyarrow.parquet as pq
from exports_testkit import (
    CUSTOMERS,
    MEMBERSHIPS,
    SEGMENTS,
    build_warehouse,
    export_folder,
    ids,
    read_csv,
    sha,
)

from exports.formats import ANONYMOUS_COLUMNS
from exports.runner import export


def test_csv_marketing_file_has_contact_and_segment_attributes(settings):
    export(settings, "run-1", segment="vip", fmt="csv", gate=None)
    columns, rows = read_csv(export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv")
    assert columns[:5] == ["customer_id", "first_name", "last_name", "email", "phone"]
    assert {"lifetime_revenue", "last_purchase_at", "city", "country"} <= set(columns)
    jose = next(r for r in rows if r["customer_id"] == "c2")
    assert (jose["first_name"], jose["last_name"], jose["city"]) == ("José María", "Pérez-Núñez", "San José")
    assert (jose["lifetime_revenue"], jose["last_purchase_at"]) == ("123.45", "2026-11-01 10:00:00")


def test_parquet_keeps_warehouse_types_and_the_same_members_as_csv(settings):
    export(settings, "run-1", segment="vip", fmt=None, gate=None)
    table = pq.read_table(export_folder(settings, "vip", "parquet", "run-1") / "snapshot.parquet")
    assert str(table.schema.field("lifetime_revenue").type) == "decimal128(12, 2)"
    assert str(table.schema.field("last_purchase_at").type).startswith("timestamp")
    assert table.column("customer_id").to_pylist() == ids(settings, "vip", "csv", "run-1") == ["c1", "c2"]


def test_google_customer_match_headers_and_hashing(settings):
    export(settings, "run-1", segment="retarget", fmt="google", gate=None)
    folder = export_folder(settings, "retarget", "google", "run-1")
    header = (folder / "snapshot.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "Email,Phone,First Name,Last Name,Country,Zip"
    _, rows = read_csv(folder / "snapshot.csv")
    assert rows == [{
        "Email": sha("ada@example.com"), "Phone": sha("+447700900123"),
        "First Name": sha("ada"), "Last Name": sha("lovelace"),
        "Country": "GB", "Zip": "N1 9GU",  # sent in clear, as Google asks
    }]


FORMULAS = ('=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3")


def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(settings):
    """Names, city and postcode starting with = + - @ were written as is, so opening the marketing file
    in a spreadsheet ran them (CSV injection); phones and amounts are plain numbers and stay as they are."""
    first, last, city, postcode = FORMULAS
    c1 = (first, last, "ada@example.com", "+447700900123", city, postcode, "\tTab", "GB",
          ["ada@example.com"], ["+447700900123"], True, True, True)
    build_warehouse(settings, customers={**CUSTOMERS, "c1": c1})
    export(settings, "run-1", segment="vip", gate=None)
    export(settings, "run-1", segment="retarget", fmt="google", gate=None)

    folder = export_folder(settings, "vip", "csv", "run-1")
    for name in ("snapshot.csv", "added.csv"):
        ada = next(r for r in read_csv(folder / name)[1] if r["customer_id"] == "c1")
        assert [ada[c] for c in ("first_name", "last_name", "city", "postcode", "state")] == [
            f"'{value}" for value in (*FORMULAS, "\tTab")]
        assert (ada["phone"], ada["lifetime_revenue"]) == ("+447700900123", "123.45")
    # Parquet has types, not formulas: the values as they are.
    parquet = pq.read_table(export_folder(settings, "vip", "parquet", "run-1") / "snapshot.parquet").to_pylist()
    assert next(r for r in parquet if r["customer_id"] == "c1")["first_name"] == first
    # Google's Zip is sent in clear: neutralised too (the hashed columns are hex digests).
    [row] = read_csv(export_folder(settings, "retarget", "google", "run-1") / "snapshot.csv")[1]
    assert (row["Zip"], row["Country"], row["Email"]) == ("'-2+3", "GB", sha("ada@example.com"))


def test_formula_neutralisation_in_arrow_is_the_python_rule():
    import pyarrow as pa

    from exports.formats import _neutralised, csv_cell_text, neutralise_formula

    values = [*FORMULAS, "+447700900123", "+1 (650) 555-0199", "-1.50", "-2-3", "5-3", "-", "+", "=", "@",
              "\tx", "\rx", " =1+1", "plain", "", "+44 7700\n", "-\u0661", "'=already"]
    expected = [neutralise_formula(v) for v in values]
    assert _neutralised(pa.array(values)).to_pylist() == expected
    # Slices and chunks: the first-byte check reads the buffers at their offsets.
    assert _neutralised(pa.array(values).slice(1)).to_pylist() == expected[1:]
    assert _neutralised(pa.array(["ok", *values]).slice(0, 1)).to_pylist() == ["ok"]
    chunked = pa.chunked_array([pa.array(values[8:]), pa.array(values[:8])])
    assert _neutralised(chunked).to_pylist() == expected[8:] + expected[:8]
    assert expected[:8] == [f"'{v}" for v in FORMULAS] + ["+447700900123", "+1 (650) 555-0199", "-1.50", "-2-3"]
    assert csv_cell_text("=1,2") == '"\'=1,2"' and csv_cell_text("'=already") == "'=already"


def test_meta_custom_audience_headers_and_normalisation(settings):
    export(settings, "run-1", segment="retarget", fmt="meta", gate=None)
    folder = export_folder(settings, "retarget", "meta", "run-1")
    columns, rows = read_csv(folder / "snapshot.csv")
    assert columns == ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY"]
    assert rows == [{
        "EMAIL": sha("ada@example.com"), "PHONE": sha("447700900123"), "FN": sha("ada"), "LN": sha("lovelace"),
        "CT": sha("london"), "ST": "", "ZIP": sha("n19gu"), "COUNTRY": sha("gb"),
    }]


def test_meta_normalises_accents_hyphens_and_us_states(settings):
    # c2 has no ad-targeting consent in the default data, so give it one for this test.

    customers = {**CUSTOMERS, "c2": (*CUSTOMERS["c2"][:12], True)}
    build_warehouse(settings, customers=customers, memberships={"retarget": ["c2"]})
    export(settings, "run-1", segment="retarget", fmt="meta", gate=None)
    _, rows = read_csv(export_folder(settings, "retarget", "meta", "run-1") / "snapshot.csv")
    assert rows[0]["EMAIL"] == sha("jose@example.com")
    assert rows[0]["FN"] == sha("josémaría") and rows[0]["LN"] == sha("péreznúñez")
    assert rows[0]["CT"] == sha("sanjosé") and rows[0]["ST"] == sha("ca") and rows[0]["ZIP"] == sha("95112")
    assert rows[0]["PHONE"] == sha("16505550101")


def test_members_without_any_matchable_identifier_are_listed_not_dropped(settings):
    result = export(settings, "run-1", segment="retarget", fmt="google", gate=None)[0]
    folder = export_folder(settings, "retarget", "google", "run-1")
    _, skipped = read_csv(folder / "skipped.csv")
    assert [r["customer_id"] for r in skipped] == ["c8"]
    assert "no matchable identifier" in skipped[0]["reason"]
    assert result["skipped_no_identifier"] == 1 and result["row_count"] == 1


def test_marketing_files_carry_only_the_contact_channels_consented_to(settings):
    customers = {**CUSTOMERS, "c9": ("Sam", "Smsonly", "sam@example.com", "+16505550109", "Reno", "89501", "NV",
                                     "US", ["sam@example.com"], ["+16505550109"], False, True, False)}
    build_warehouse(settings, customers=customers, memberships={**MEMBERSHIPS, "texts": ["c1", "c2", "c9"]},
                    segments=[*SEGMENTS, ("texts", "SMS list", "crm", "sms_marketing")])
    export(settings, "run-1", segment="vip", fmt=None, gate=None)
    export(settings, "run-1", segment="texts", fmt=None, gate=None)

    _, vip = read_csv(export_folder(settings, "vip", "csv", "run-1") / "snapshot.csv")
    contact = {r["customer_id"]: (r["email"], r["phone"]) for r in vip}
    # c2 agreed to e-mail but not to SMS marketing: no phone number in the file.
    assert contact == {"c1": ("ada@example.com", "+447700900123"), "c2": ("Jose@Example.com", "")}
    _, texts = read_csv(export_folder(settings, "texts", "csv", "run-1") / "snapshot.csv")
    assert {r["customer_id"]: (r["email"], r["phone"]) for r in texts} == {
        "c1": ("ada@example.com", "+447700900123"), "c9": ("", "+16505550109")}
    table = pq.read_table(export_folder(settings, "texts", "parquet", "run-1") / "snapshot.parquet")
    assert table.select(["email", "phone"]).to_pylist() == [
        {"email": "ada@example.com", "phone": "+447700900123"}, {"email": None, "phone": "+16505550109"}]


def test_segments_without_consent_purpose_export_no_personal_data(settings):
    export(settings, "run-1", segment="everyone", fmt=None, gate=None)
    folder = export_folder(settings, "everyone", "csv", "run-1")
    columns, rows = read_csv(folder / "snapshot.csv")
    assert columns == list(ANONYMOUS_COLUMNS)
    assert [r["customer_id"] for r in rows] == ["c1", "c2", "c6", "c7", "c8"]
    text = (folder / "snapshot.csv").read_text() + (folder / "added.csv").read_text()
    assert not any(pii in text for pii in ("@", "Lovelace", "+44", "London", "N1 9GU"))
    table = pq.read_table(export_folder(settings, "everyone", "parquet", "run-1") / "snapshot.parquet")
    assert table.column_names == list(ANONYMOUS_COLUMNS)


def test_builtin_checks_count_values_that_are_not_sha256_hex_as_python_re_would():
    import re

    import pyarrow as pa

    from exports.formats import Snapshot
    from exports.gate import builtin_problems

    good = "a" * 64
    values = [good, good + "\n", None, "A" * 64, good + "\n\n", "0" * 63, "", good + " ", "\n" + good]
    snapshot = Snapshot("google", ("Email",), pa.table({"Email": pa.array(values, pa.string())}),
                        [str(i) for i in range(len(values))], [str(i) for i in range(len(values))], ("Email",))
    python_bad = sum(1 for v in values if v is not None and not re.match(r"^[0-9a-f]{64}$", v))
    assert builtin_problems(snapshot) == [f"column 'Email': {python_bad} value(s) are not lower-case SHA-256 hex"]
    snapshot.table = pa.table({"Email": pa.array([good, None], pa.string())})
    snapshot.keys = snapshot.customer_ids = ["1", "2"]
    assert builtin_problems(snapshot) == []


def test_csv_writer_writes_what_csv_writer_writes_for_every_column_type(tmp_path):
    """Byte for byte csv.writer's output, except that a cell with a carriage return is quoted too
    (RFC 4180; Python 3.11's csv.writer with "\\n" line ends leaves it bare, which readers take for a
    row break)."""
    import csv
    import io
    from datetime import date, datetime
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from exports.formats import _cell, write_csv_table

    table = pa.table({
        "text": pa.array(["plain", None, "a,b", 'say "hi"', "two\nlines", "", "Zoë\r"], pa.string()),
        "orders": pa.array([0, -5, 2**62, None, 7, 1, 2], pa.int64()),
        "revenue": pa.array([Decimal("0.00"), Decimal("-1.50"), Decimal("123456789.99"), None, Decimal("0.01"),
                             Decimal("10.00"), Decimal("2.30")], pa.decimal128(14, 2)),
        "share": pa.array([Decimal("0.000001"), Decimal("0"), None, Decimal("-1.5"), Decimal("2"),
                           Decimal("0.5"), Decimal("1")], pa.decimal128(20, 6)),
        "last_purchase_at": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 1, 1, 2, 3, 4), None,
                                      datetime(2026, 1, 1, 1, 2, 3, 500000), datetime(1, 1, 1),
                                      datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(2026, 11, 1, 10)],
                                     pa.timestamp("us")),
        "member_since": pa.array([date(2026, 11, 1), None, date(1, 1, 1), date(9999, 12, 31), date(2000, 2, 29),
                                  date(2026, 1, 9), date(2026, 10, 31)], pa.date32()),
        "is_vip": pa.array([True, False, None, True, True, False, False]),
        "ratio": pa.array([0.1, 1e20, None, 3.0, -0.0, 2.5, 1 / 3], pa.float64()),  # Python's formatting
    })
    # A slice: Arrow buffers with an offset (slice(0, 2) keeps bytes that need quotes outside its rows); two
    # chunks: the cells that need quotes are in the second one.
    for rows in (table, table.slice(2), table.slice(0, 2), pa.concat_tables([table.slice(0, 2), table.slice(2)])):
        for columns in (table.column_names, ["text"], ["orders"]):
            path = tmp_path / "out.csv"
            assert write_csv_table(path, rows.select(columns)) == rows.num_rows
            cells = [[_cell(row[c]) for c in columns] for row in rows.select(columns).to_pylist()]
            if not any("\r" in cell for line in cells for cell in line):
                expected = io.StringIO()
                csv.writer(expected, lineterminator="\n").writerows([columns, *cells])
                assert path.read_bytes() == expected.getvalue().encode("utf-8"), columns
            # Every reader gets the cells back, one record per row (a CR or LF inside a cell is quoted).
            with path.open(newline="", encoding="utf-8") as handle:
                assert list(csv.reader(handle)) == [columns, *cells], columns
            assert pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True)).num_rows \
                == rows.num_rows
            if "text" in columns and "Zoë\r" in rows.column("text").to_pylist():
                assert b'"Zo\xc3\xab\r"' in path.read_bytes()
