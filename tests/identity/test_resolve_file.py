"""The standalone dedupe tool on a small committed CSV, and the accuracy metrics it reports."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdp.cli import main
from identity.evaluate import evaluate_mappings
from identity.resolve_file import rejects_path, resolve_file
from identity.schema import IdentityError

FIXTURES = Path(__file__).parent / "fixtures"


def _read(path: Path) -> dict[tuple[str, str], str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["source_system"], row["source_record_id"]): row["customer_id"] for row in csv.DictReader(handle)}


def test_resolve_file_dedupes_a_small_csv(settings, tmp_path: Path) -> None:
    output = tmp_path / "out" / "customers.csv"
    result = resolve_file(FIXTURES / "people.csv", output, settings, truth=FIXTURES / "people_truth.csv")
    customers = _read(output)
    assert len(customers) == 10  # every record exactly once, unknown column ignored
    assert customers[("crm", "1")] == customers[("web", "user:77")] == customers[("store", "3")]
    assert customers[("crm", "2")] == customers[("newsletter", "8")]
    assert customers[("crm", "3")] == customers[("store", "9")]
    # David shares Chloe's address and phone: a household, not one person.
    assert customers[("crm", "4")] != customers[("crm", "3")]
    assert result["customers"] == 6
    assert result["metrics"]["pairwise_f1"] == 1.0


def test_resolve_file_reads_parquet_without_ids_and_writes_parquet(settings, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({
        "first_name": ["Ann", "ann", "Bob"],
        "last_name": ["Lee", "Lee", "Stone"],
        "email": ["ann.lee@example.com", " ANN.LEE@example.com", "bob@example.com"],
    }), source)
    output = tmp_path / "out.parquet"
    result = resolve_file(source, output, settings)
    table = pq.read_table(output).to_pylist()
    assert [(row["source_system"], row["source_record_id"]) for row in table] == [
        ("file", "1"), ("file", "2"), ("file", "3")]
    assert table[0]["customer_id"] == table[1]["customer_id"] != table[2]["customer_id"]
    assert result["customers"] == 2


def test_resolve_file_explains_bad_input(settings, tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="file not found"):
        resolve_file(tmp_path / "missing.csv", tmp_path / "out.csv", settings)
    unrelated = tmp_path / "unrelated.csv"
    unrelated.write_text("sku,price\nA1,3\n", encoding="utf-8")
    with pytest.raises(IdentityError, match="none of the person-record columns"):
        resolve_file(unrelated, tmp_path / "out.csv", settings)


def test_rows_without_an_id_or_sharing_one_are_rejected_and_the_rest_resolved(settings, tmp_path: Path) -> None:
    """One empty or repeated record id refused the whole file: every other row went unresolved."""
    source = _write(tmp_path / "ids.csv", "source_system,source_record_id,email\n"
                    "crm,1,a@x.com\ncrm,1,b@x.com\ncrm,,c@x.com\n,4,d@x.com\ncrm,5,e@x.com\n")
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    assert set(_read(output)) == {("crm", "5")}
    assert result["rejected_rows"] == 4
    rejects = [(r["line"], r["field"], r["value"], r["reason"]) for r in _rejects(output)]
    assert [r[:3] for r in rejects] == [
        ("2", "source_record_id", "1"), ("3", "source_record_id", "1"),
        ("4", "source_record_id", ""), ("5", "source_system", "")]
    assert rejects[0][3] == ("record id 1 of source crm appears on 2 rows (lines or rows 2, 3); none of them is "
                             "resolved: give each record its own id")
    assert rejects[2][3].startswith("empty source_record_id")
    with pytest.raises(IdentityError, match=r"ids.csv: line 2: record id 1 of source crm appears on 2 rows"):
        from identity.resolve_file import load_records

        load_records(duckdb.connect(), source)


def test_evaluate_mappings_counts_pairs_and_bcubed() -> None:
    truth = {"a": 1, "b": 1, "c": 1, "d": 2}
    perfect = evaluate_mappings({"a": "x", "b": "x", "c": "x", "d": "y"}, truth)
    assert perfect["pairwise_f1"] == perfect["bcubed_f1"] == 1.0
    over = evaluate_mappings({"a": "x", "b": "x", "c": "x", "d": "x"}, truth)
    assert over["pairwise_precision"] == pytest.approx(3 / 6)
    assert over["pairwise_recall"] == 1.0
    assert over["largest_predicted_cluster"] == 4
    under = evaluate_mappings({"a": "x", "b": "x", "c": "z", "d": "y"}, truth)
    assert under["pairwise_precision"] == 1.0
    assert under["pairwise_recall"] == pytest.approx(1 / 3)
    # B-cubed recall: a and b see 2 of 3, c sees 1 of 3, d sees 1 of 1.
    assert under["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert under["predicted_clusters"] == 3 and under["true_clusters"] == 2


def test_evaluate_mappings_refuses_a_truth_naming_no_resolved_record(caplog) -> None:
    """A truth with no record in common scored records_evaluated 0 and precision, recall, F1 1.0."""
    truth = {"a": 1, "b": 1, "c": 1, "d": 2}
    partial = evaluate_mappings({"a": "x", "zz": "q"}, truth)
    assert partial["records_missing_from_truth"] == 1 and partial["records_missing_from_prediction"] == 3
    assert ("scoring only the 1 records both know: 1 of 2 resolved records are not in the truth, "
            "3 of 4 truth records not in the resolution") in caplog.text
    with pytest.raises(IdentityError, match="none of the 2 resolved records is in the truth"):
        evaluate_mappings({"y": "x", "zz": "q"}, truth)


def test_resolve_with_a_truth_for_another_source_system_says_so(settings, tmp_path: Path) -> None:
    source = _write(tmp_path / "people.csv", "first_name,last_name,email\nAnn,Lee,ann@example.com\n")
    truth = _write(tmp_path / "truth.csv", "source_system,source_record_id,person_id\ncrm,1,p1\n")
    with pytest.raises(IdentityError, match=r"none of the 1 resolved records is in the truth \(1 records\), so "
                       r"there is nothing to score: e.g. resolved \('file', '1'\), truth \('crm', '1'\)"):
        resolve_file(source, tmp_path / "out.csv", settings, truth=truth)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _rejects(output: Path) -> list[dict]:
    with rejects_path(output).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


HEADER = "source_system,source_record_id,first_name,last_name,date_of_birth,email\n"


@pytest.mark.parametrize(
    ("father", "son"),
    [("01/15/1960", "03/02/1990"), ("15/01/1960", "02/03/1990"), ("15.01.1960", "2.3.1990"),
     ("19600115", "1990-03-02"), ("15 Jan 1960", '"Mar 2, 1990"')],
)
def test_birth_dates_not_in_iso_form_keep_a_father_and_son_apart(settings, tmp_path: Path, father, son) -> None:
    """A date not in ISO form was read as empty, so the birth-date guard let father and son merge."""
    source = _write(tmp_path / "family.csv", HEADER + f"crm,1,John,Smith,{father},smiths@example.com\n"
                    f"crm,2,John,Smith,{son},smiths@example.com\n")
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    customers = _read(output)
    assert customers[("crm", "1")] != customers[("crm", "2")]
    assert result["rejected_rows"] == 0 and not rejects_path(output).exists()


def test_ambiguous_or_unreadable_birth_dates_are_reported(settings, tmp_path: Path) -> None:
    ambiguous = _write(tmp_path / "ambiguous.csv", HEADER + "crm,1,John,Smith,03/02/1960,j@example.com\n")
    with pytest.raises(IdentityError, match=r"ambiguous.csv: date_of_birth '03/02/1960' \(line 2\).*--date-format"):
        resolve_file(ambiguous, tmp_path / "out.csv", settings)
    result = resolve_file(ambiguous, tmp_path / "out.csv", settings, date_format="%d/%m/%Y")
    assert result["person_records"] == 1

    mixed = _write(tmp_path / "mixed.csv", HEADER + "crm,1,A,B,31/12/1960,a@example.com\n"
                   "crm,2,C,D,12/31/1960,c@example.com\n")
    with pytest.raises(IdentityError, match=r"mixes day-first \(line 2.*month-first \(line 3"):
        resolve_file(mixed, tmp_path / "out.csv", settings)

    bad = _write(tmp_path / "bad.csv", HEADER + "crm,1,Ann,Lee,1980-01-01,ann@example.com\n"
                 "crm,2,Ann,Lee,not a date,ann@example.com\ncrm,3,Bo,Ek,,bo@example.com\n")
    output = tmp_path / "bad_out.csv"
    result = resolve_file(bad, output, settings)
    assert set(_read(output)) == {("crm", "1"), ("crm", "3")}  # the unreadable row is not guessed at
    assert result["rejected_rows"] == 1 and result["rejects"] == str(rejects_path(output))
    [reject] = _rejects(output)
    assert (reject["file"], reject["row"], reject["line"], reject["field"], reject["value"]) == (
        str(bad), "2", "3", "date_of_birth", "not a date")
    assert "--date-format" in reject["reason"]


def test_resolve_without_a_model_leaves_the_nightly_model_alone(tmp_path: Path) -> None:
    """With no model, resolve trained one on the file and moved the nightly run's latest pointer to it."""
    from id_synthetic import generate_records, write_records_csv

    from cdp.settings import Settings
    from identity.probabilistic import latest_model_path

    settings = Settings(home=tmp_path / "home", run_date=date(2026, 11, 23))
    records, _truth = generate_records(120, seed=3)
    source = write_records_csv(tmp_path / "list.csv", records)
    result = resolve_file(source, tmp_path / "out.csv", settings)
    assert result["model_trained_on_input"] is True and result["model"] is None
    assert result["probabilistic_candidates"] > 0  # the model trained for the run was used
    assert latest_model_path(settings) is None
    assert not Path(settings.model_dir).exists() or not any(Path(settings.model_dir).iterdir())


def test_a_pipe_in_source_system_is_rejected_not_merged_into_another_key(settings, tmp_path: Path) -> None:
    """('cr|m','1') and ('cr','m|1') made one record key: two people became one, and 4 output rows."""
    source = _write(tmp_path / "pipe.csv", "source_system,source_record_id,first_name,email\n"
                    "cr|m,1,Ann,ann@x.com\ncr,m|1,Bob,bob@y.com\n")
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    assert _read(output).keys() == {("cr", "m|1")}
    assert result["rejected_rows"] == 1
    [reject] = _rejects(output)
    assert (reject["line"], reject["field"], reject["value"]) == ("2", "source_system", "cr|m")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_spreadsheet_encodings_are_decoded(settings, tmp_path: Path, encoding) -> None:
    text = "source_record_id,first_name,last_name,email\r\n1,José,Muñoz,jm@x.com\r\n2,José,Muñoz,jm@x.com\r\n"
    source = _write(tmp_path / "export.csv", text, encoding)
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    assert result["person_records"] == 2 and result["customers"] == 1


def test_unreadable_files_are_named_and_ragged_rows_rejected(settings, tmp_path: Path) -> None:
    corrupt = _write(tmp_path / "corrupt.parquet", "not a parquet file")
    with pytest.raises(IdentityError, match=r"corrupt\.parquet: not a readable Parquet file"):
        resolve_file(corrupt, tmp_path / "out.csv", settings)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xef\xbb\xbffirst_name,email\nAnn,a@x.com\nJos\xe9,b@x.com\n")  # BOM says UTF-8
    with pytest.raises(IdentityError, match=r"broken.csv: line 3: byte"):
        resolve_file(broken, tmp_path / "out.csv", settings)
    # A row with an extra value made the sniffer take a wrong header, so no person column was found.
    ragged = _write(tmp_path / "ragged.csv", "first_name,email\nAnn,a@x.com\nBob,b@x.com,extra\nCy,c@x.com\n")
    output = tmp_path / "ragged_out.csv"
    result = resolve_file(ragged, output, settings)
    assert set(_read(output)) == {("file", "1"), ("file", "3")}
    assert result["rejected_rows"] == 1
    [reject] = _rejects(output)
    assert (reject["row"], reject["line"], reject["value"]) == ("2", "3", "Bob,b@x.com,extra")
    assert "3 values for 2 header columns" in reject["reason"]
    with pytest.raises(IdentityError, match=r"out.xlsx: expected an output path ending in .csv or .parquet"):
        resolve_file(ragged, tmp_path / "out.xlsx", settings)


def test_two_digit_years_are_read_in_the_past_and_future_birth_dates_rejected(tmp_path: Path) -> None:
    """Review finding: --date-format %m/%d/%y read 60 as 2060 (strptime's 00-68 -> 20xx), and a birth
    date after the run date was accepted. A two-digit year is now read in the latest century that puts
    the date on or before the run date; a birth date after it, however written, goes to the rejects."""
    from cdp.settings import Settings
    from identity.resolve_file import load_records

    settings = Settings(home=tmp_path / "home", run_date=date(2026, 11, 24))
    source = _write(tmp_path / "yy.csv", HEADER + "crm,1,Ann,Lee,01/15/60,ann@example.com\n"
                    "crm,2,Bo,Ek,03/02/05,bo@example.com\ncrm,3,Cy,Ng,12/31/26,cy@example.com\n")
    con = duckdb.connect()
    load_records(con, source, date_format="%m/%d/%y", run_date=settings.run_date)
    births = dict(con.execute("SELECT source_record_id, date_of_birth FROM person_records").fetchall())
    assert births == {"1": date(1960, 1, 15), "2": date(2005, 3, 2), "3": date(1926, 12, 31)}

    future = _write(tmp_path / "future.csv", HEADER + "crm,1,Ann,Lee,1960-01-15,ann@example.com\n"
                    "crm,2,Bo,Ek,2060-01-15,bo@example.com\ncrm,3,Cy,Ng,2026-11-24,cy@example.com\n")
    output = tmp_path / "out.csv"
    result = resolve_file(future, output, settings)
    assert set(_read(output)) == {("crm", "1"), ("crm", "3")}  # the run date itself is fine
    assert result["rejected_rows"] == 1
    [reject] = _rejects(output)
    assert (reject["file"], reject["row"], reject["line"], reject["field"], reject["value"]) == (
        str(future), "2", "3", "date_of_birth", "2060-01-15")
    assert "after the run date 2026-11-24" in reject["reason"]


def _marketing_list(path: Path, people: int, rows: int) -> Path:
    """``rows`` rows of email, first_name, last_name, phone (no birth dates) for ``people`` people:
    row ``i`` is person ``i % people``, so the first ``rows - people`` people appear twice."""
    first = ["John", "Mary", "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi"]
    last = ["Smith", "Jones", "Brown", "Lee", "Khan", "Garcia", "Miller", "Davis"]
    lines = ["email,first_name,last_name,phone"]
    for row in range(rows):
        person = row % people
        name_first, name_last = first[person % 10], last[person % 8]
        lines.append(f"{name_first.lower()}.{name_last.lower()}{person}@example.com,{name_first},{name_last},"
                     f"212555{person:04d}")
    return _write(path, "\n".join(lines) + "\n")


def test_a_file_without_birth_dates_trains_without_that_em_pass(tmp_path: Path, caplog) -> None:
    """Splink's EMTrainingException (the pass blocked on date_of_birth had no pairs) was not the
    ValueError the pass loop skipped: `cdp resolve` of a marketing list crashed with a traceback."""
    from cdp.settings import Settings

    settings = Settings(home=tmp_path / "home", run_date=date(2026, 11, 23))
    output = tmp_path / "out.csv"
    result = resolve_file(_marketing_list(tmp_path / "mkt.csv", 50, 80), output, settings)
    assert result["model_trained_on_input"] is True
    assert result["customers"] == 50
    assert "EM training pass blocked on date_of_birth failed and was skipped" in caplog.text


def test_a_file_no_model_can_be_trained_on_links_by_exact_identifiers(tmp_path: Path, caplog) -> None:
    from cdp.settings import Settings

    settings = Settings(home=tmp_path / "home", run_date=date(2026, 11, 23))
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [f"Lena,Or{letters[n % 26]}{letters[n // 26]},lena{n % 59}@example.com" for n in range(60)]
    source = _write(tmp_path / "strangers.csv", "first_name,last_name,email\n" + "\n".join(rows) + "\n")
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    assert result["model_trained_on_input"] is False and result["model"] is None
    assert result["customers"] == 59  # rows 1 and 60 share an e-mail
    assert "probabilistic matching skipped, linking by exact identifiers only" in caplog.text
    assert "every EM training pass failed" in caplog.text


def test_names_in_other_scripts_keep_a_household_apart(settings, tmp_path: Path) -> None:
    """Only a-z and 0-9 survived standardising: Иван Петров and Мария Петрова (王伟 and 李娜) were
    nameless records sharing a phone, so the household guard let the phone make them one customer."""
    source = _write(tmp_path / "family.csv", "source_record_id,first_name,last_name,email,phone\n"
                    "1,Иван,Петров,,212-555-0199\n2,Мария,Петрова,,212-555-0199\n"
                    "3,伟,王,,212-555-0188\n4,娜,李,,212-555-0188\n"
                    "5,Иван,Петров,ivan.petrov@example.ru,\n6,ИВАН,ПЕТРОВ,ivan.petrov@example.ru,\n"
                    "7,Søren,Kierkegaard,sk@example.dk,\n8,Soren,Kierkegaard,sk@example.dk,\n")
    output = tmp_path / "out.csv"
    resolve_file(source, output, settings)
    customers = {record: customer for (_system, record), customer in _read(output).items()}
    assert customers["1"] != customers["2"]
    assert customers["3"] != customers["4"]
    assert customers["5"] == customers["6"]
    assert customers["7"] == customers["8"]


def test_numbers_stored_as_floats_in_parquet_are_read_as_integers(settings, tmp_path: Path) -> None:
    """pandas writes a phone column with missing values as float64: 2125550123.0 became the text
    '2125550123.0', eleven digits once the dot went, and the phone was dropped."""
    source = tmp_path / "floats.parquet"
    pq.write_table(pa.table({
        "source_record_id": pa.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        "first_name": ["Ann", "Ann", "Bob", "Cy", "Cy"],
        "last_name": ["Lee", "Lee", "Stone", "Ng", "Ng"],
        "phone": pa.array([2125550123.0, 2125550123.0, None, None, None]),
        "loyalty_card_number": pa.array([None, None, None, 4400123.0, 4400123.0]),
        "postcode": pa.array([Decimal("10001.0"), None, None, None, Decimal("10001.5")], pa.decimal128(7, 1)),
    }), source)
    con = duckdb.connect()
    from identity.resolve_file import load_records

    load_records(con, source)
    rows = con.execute("SELECT source_record_id, phone, loyalty_card_number, postcode FROM person_records "
                       "ORDER BY source_record_id").fetchall()
    assert rows == [("1", "2125550123", None, "10001"), ("2", "2125550123", None, None),
                    ("3", None, None, None), ("4", None, "4400123", None), ("5", None, "4400123", "10001.5")]
    output = tmp_path / "out.csv"
    resolve_file(source, output, settings)
    customers = {record: customer for (_system, record), customer in _read(output).items()}
    assert customers["1"] == customers["2"] and customers["4"] == customers["5"]
    assert len(set(customers.values())) == 3


def test_rows_sharing_an_anonymous_web_id_are_one_visitor(settings, tmp_path: Path) -> None:
    """web_anonymous_id was read but linked nothing: anon-1 alone, with u-1, and again made three
    customers. A row with both ids is the identify call; two user ids on one browser stay apart."""
    source = _write(tmp_path / "web.csv", "source_record_id,web_user_id,web_anonymous_id\n"
                    "1,,anon-1\n2,u-1,anon-1\n3,u-1,\n4,,anon-1\n"
                    "5,u-2,anon-9\n6,u-3,anon-9\n7,,anon-9\n")
    output = tmp_path / "out.csv"
    resolve_file(source, output, settings)
    customers = {record: customer for (_system, record), customer in _read(output).items()}
    assert customers["1"] == customers["2"] == customers["3"] == customers["4"]
    assert customers["5"] != customers["6"]  # a shared computer: the guard on two web user ids
    assert customers["7"] in (customers["5"], customers["6"])
    assert len(set(customers.values())) == 3


def test_an_output_that_is_the_input_is_refused_before_any_work(settings, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    """`cdp resolve --input x.csv --output ./x.csv` wrote the customer ids over the records."""
    source = tmp_path / "people.csv"
    original = (FIXTURES / "people.csv").read_bytes()
    source.write_bytes(original)
    (tmp_path / "link.csv").symlink_to(source)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    spellings = [source, Path("people.csv"), Path("./people.csv"), Path("sub/../people.csv"), Path("link.csv")]
    for output in spellings:
        with pytest.raises(IdentityError, match="is the input file"):
            resolve_file(Path("people.csv"), output, settings)
    with pytest.raises(IdentityError, match="is the input file"):
        resolve_file(Path("link.csv"), source, settings)
    # The rejects file beside the output (a run without rejects deletes it) is the input too.
    rejects_named = tmp_path / "people.rejects.csv"
    rejects_named.write_bytes(original)
    with pytest.raises(IdentityError, match=r"rejects file .* is the input file"):
        resolve_file(rejects_named, source, settings)
    truth = tmp_path / "people_truth.csv"
    truth.write_bytes((FIXTURES / "people_truth.csv").read_bytes())
    with pytest.raises(IdentityError, match="is the truth file"):
        resolve_file(source, truth, settings, truth=Path("people_truth.csv"))
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "home"))
    assert main(["resolve", "--input", "people.csv", "--output", "./people.csv"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert source.read_bytes() == original and rejects_named.read_bytes() == original
    assert not (tmp_path / "sub" / "people.csv").exists()


def test_unrecognised_columns_are_named_in_a_warning(settings, tmp_path: Path, caplog) -> None:
    """An `e-mail` or `Phone Number` column was ignored without a word: the file matched worse."""
    source = _write(tmp_path / "list.csv", "First_Name,LAST_NAME,e-mail,Phone Number,EMAIL\n"
                    "Ann,Lee,ann@x.com,212 555 0123,ann@x.com\nAnn,Lee,ann@x.com,212 555 0123,ann@x.com\n")
    with caplog.at_level("WARNING", logger="identity.resolve_file"):
        result = resolve_file(source, tmp_path / "out.csv", settings)
    assert result["person_records"] == 2 and result["customers"] == 1  # EMAIL (any case) is read
    ignored = [record.getMessage() for record in caplog.records if "ignored" in record.getMessage()]
    assert len(ignored) == 1
    assert "'e-mail', 'Phone Number' ignored" in ignored[0] and "first_name, last_name" in ignored[0]
    assert "First_Name" not in ignored[0]


def test_a_file_with_no_recognised_identifying_column_is_refused(settings, tmp_path: Path) -> None:
    source = _write(tmp_path / "list.csv", "source_system,e-mail,Phone Number\ncrm,ann@x.com,212 555 0123\n")
    with pytest.raises(IdentityError, match=r"none of the person-record columns .*'e-mail', 'Phone Number'.*email, phone"):
        resolve_file(source, tmp_path / "out.csv", settings)
    assert not (tmp_path / "out.csv").exists()


def test_a_list_of_copies_links_by_exact_identifiers_instead_of_failing(tmp_path: Path, caplog) -> None:
    """Review finding: 60 copies of a few people made Splink refuse the 0.7 recall of its prior
    (`Deterministic matching rules led to more observed matches ...`), which `cdp resolve` reported
    as its own failure, naming no file; now no model is trained and exact identifiers link."""
    from cdp.settings import Settings

    settings = Settings(home=tmp_path / "home", run_date=date(2026, 11, 23))
    # 55 of 60 rows are one person: 1,485 of the 1,770 pairs share an e-mail, more than 0.7 recall allows.
    rows = ["Ann,Lee,ann@example.com,1980-01-05"] * 55 + [f"Bo,Ek{n},bo{n}@example.com,1975-03-0{n}" for n in range(1, 6)]
    source = _write(tmp_path / "copies.csv", "first_name,last_name,email,date_of_birth\n" + "\n".join(rows) + "\n")
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    assert result["model_trained_on_input"] is False
    assert len(_read(output)) == 60 and result["customers"] >= 6
    assert "they look like copies of a few people" in caplog.text


def test_an_excel_separator_line_names_the_delimiter(settings, tmp_path: Path) -> None:
    """Review finding: Excel's `sep=;` first line was taken for the header ("columns 'sep=' ... not
    among them"). It now names the delimiter, and lines in the rejects still count it."""
    source = _write(tmp_path / "excel.csv", 'sep=;\r\nfirst_name;last_name;email\r\nAnn;Lee;a@x.com\r\n'
                    'Ann;Lee;a@x.com;extra\r\nAnn;Lee;a@x.com\r\n')
    output = tmp_path / "out.csv"
    result = resolve_file(source, output, settings)
    customers = _read(output)
    assert set(customers) == {("file", "1"), ("file", "3")}
    assert customers[("file", "1")] == customers[("file", "3")]
    [reject] = _rejects(output)
    assert (reject["row"], reject["line"]) == ("2", "4")
    assert result["rejected_rows"] == 1
    # A value rejected after reading (the fast reader's lines) counts the sep= line too.
    dated = _write(tmp_path / "dated.csv", "sep=,\nfirst_name,last_name,date_of_birth\nAnn,Lee,1980-01-05\n"
                   "Bo,Ek,2090-01-01\n")
    resolve_file(dated, output, settings)
    [reject] = _rejects(output)
    assert (reject["row"], reject["line"], reject["field"]) == ("2", "4", "date_of_birth")


def test_a_quote_never_closed_is_an_error_not_a_silent_loss_of_the_rows_after_it(settings, tmp_path: Path) -> None:
    """Review finding: with the csv module's field limit lifted, an unclosed quote made the other
    6,000 rows one value and the file "resolved" to 1 record with no reject. The limit stays, and
    the error says what the long value may be."""
    rows = "".join(f"Bo{n},Ek,b{n}@x.com\n" for n in range(10_000))  # more than 131,072 characters
    source = _write(tmp_path / "quote.csv", 'first_name,last_name,email\nAnn,"Lee,a@x.com\n' + rows)
    with pytest.raises(IdentityError, match=r"quote\.csv: line \d+: not readable as CSV: a value longer than "
                       r"131,072 characters, or a quote opened on or before this line and never closed"):
        resolve_file(source, tmp_path / "out.csv", settings)


def test_a_truth_file_is_read_with_its_delimiter_and_checked_before_the_work(settings, tmp_path: Path) -> None:
    """Review finding: a `;` truth file was refused as lacking its columns, and only after the whole
    resolution had run."""
    source = _write(tmp_path / "people.csv", "first_name,last_name,email\nAnn,Lee,a@x.com\nAnn,Lee,a@x.com\n")
    truth = _write(tmp_path / "truth.csv", "source_system;source_record_id;person_id\nfile;1;p1\nfile;2;p1\n")
    result = resolve_file(source, tmp_path / "out.csv", settings, truth=truth)
    assert result["metrics"]["pairwise_f1"] == 1.0
    wrong = _write(tmp_path / "wrong.csv", "system,record,person\nfile,1,p1\n")
    output = tmp_path / "never.csv"
    with pytest.raises(ValueError, match=r"wrong\.csv: truth file lacks column\(s\)"):
        resolve_file(source, output, settings, truth=wrong)
    assert not output.exists()


def test_a_truth_file_is_decoded_and_read_like_an_input_file(settings, tmp_path: Path) -> None:
    """Review finding: a cp1252 truth file failed with a bare UnicodeDecodeError naming no file, and
    one starting with Excel's `sep=;` line was said to lack its columns ("it has ['sep=', '']")."""
    source = _write(tmp_path / "people.csv", "first_name,last_name,email\nJosé,Lee,a@x.com\nJosé,Lee,a@x.com\n")
    truth = _write(tmp_path / "truth.csv", "sep=;\nsource_system;source_record_id;person_id\nfile;1;José\n"
                   "file;2;José\n", encoding="cp1252")
    result = resolve_file(source, tmp_path / "out.csv", settings, truth=truth)
    assert result["metrics"]["pairwise_f1"] == 1.0
