"""The nightly resolution end to end on a tmp warehouse: accuracy, reruns, history, explain, training."""

from __future__ import annotations

import json
from datetime import date

import pytest
from id_raw_tables import add_csv_contact, load_synthetic
from id_synthetic import generate_records, write_truth_csv

from cdp.settings import Settings
from cdp.warehouse import connect
from identity.evaluate import evaluate
from identity.explain import explain
from identity.pipeline import resolve_warehouse
from identity.probabilistic import latest_model_path
from identity.schema import CannotTrainModel
from identity.train import train_model

F1_FLOOR = 0.97


def _truth_with_anonymous_ids(truth: dict) -> dict:
    # id_raw_tables gives every web user one anonymous id, a-<userId>, identified as that user.
    extra = {("web", f"anon:a-{record[5:]}"): person for (system, record), person in truth.items() if system == "web"}
    return {**truth, **extra}


def _customer_map(settings) -> dict[tuple[str, str], str]:
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT source_system, source_record_id, customer_id FROM identity.customer_map").fetchall()
    return {(system, record): customer for system, record, customer in rows}


@pytest.fixture
def loaded(settings, tmp_path):
    records, truth = generate_records(300, seed=5)
    with connect(settings) as con:
        load_synthetic(con, records)
    return write_truth_csv(tmp_path / "truth.csv", _truth_with_anonymous_ids(truth))


@pytest.mark.slow
def test_accuracy_reruns_and_explain(settings, loaded) -> None:
    summary = resolve_warehouse(settings, "run-1")
    metrics = evaluate(settings, loaded)
    assert metrics["records_missing_from_prediction"] == 0
    assert metrics["pairwise_f1"] >= F1_FLOOR, metrics
    assert metrics["bcubed_f1"] >= F1_FLOOR, metrics
    assert summary["customers"] == metrics["predicted_clusters"]
    assert summary["id_changes"]["new"] == summary["customers"]

    with connect(settings, read_only=True) as con:
        published = con.execute(
            "SELECT count(*), count(DISTINCT (source_system, source_record_id)), min(resolved_at) "
            "FROM identity.customer_map"
        ).fetchall()[0]
        records = con.execute("SELECT count(*) FROM identity.person_records").fetchall()[0][0]
        history_1 = con.execute("SELECT * FROM identity.customer_id_history ORDER BY ALL").fetchall()
        metric_rows = con.execute("SELECT run_id, customers FROM identity.run_metrics").fetchall()
    assert published[0] == published[1] == records  # every person record exactly once
    assert str(published[2]) == "2026-11-23 00:00:00"
    assert metric_rows == [("run-1", summary["customers"])]

    first = _customer_map(settings)
    # Rerunning the same run replaces its rows and reproduces the same ids and history.
    resolve_warehouse(settings, "run-1")
    assert _customer_map(settings) == first
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT * FROM identity.customer_id_history ORDER BY ALL").fetchall() == history_1
    # The next night on unchanged data changes nothing.
    later = settings.with_run_date(date(2026, 11, 24))
    second = resolve_warehouse(later, "run-2")
    assert _customer_map(later) == first
    assert second["id_changes"] == {"new": 0, "merge": 0, "split": 0}

    biggest = max(set(first.values()), key=lambda c: sum(1 for v in first.values() if v == c))
    text = explain(settings, biggest)
    assert text.startswith(f"Customer {biggest}:")
    assert "deterministic rule" in text or "match weight" in text


def test_new_record_bridging_two_customers_is_a_merge(settings) -> None:
    with connect(settings) as con:
        from id_raw_tables import create_raw_tables

        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "b.csv:1", first="Lena", last="Ortiz", phone="(503) 555-0111")
    resolve_warehouse(settings, "night-1")
    before = _customer_map(settings)
    assert before[("csv", "a.csv:1")] != before[("csv", "b.csv:1")]
    with connect(settings) as con:
        add_csv_contact(con, "c.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com",
                        phone="503-555-0111")
    summary = resolve_warehouse(settings.with_run_date(date(2026, 11, 24)), "night-2")
    after = _customer_map(settings)
    assert len(set(after.values())) == 1
    assert set(after.values()) <= set(before.values())  # an existing id survives, no new one
    assert summary["id_changes"]["merge"] == 1
    with connect(settings, read_only=True) as con:
        rows = con.execute(
            "SELECT change_type, old_customer_id, new_customer_id FROM identity.customer_id_history "
            "WHERE run_id = 'night-2'"
        ).fetchall()
    assert len(rows) == 1 and rows[0][0] == "merge" and rows[0][2] == after[("csv", "c.csv:1")]
    assert "no longer exists: merge" in explain(settings, rows[0][1])


@pytest.mark.slow
def test_train_model_versions_and_nightly_trains_on_first_use(tmp_path) -> None:
    settings = Settings(home=tmp_path, run_date=date(2026, 11, 23))
    records, _truth = generate_records(200, seed=3)
    with connect(settings) as con:
        load_synthetic(con, records)
    assert latest_model_path(settings) is None
    summary = resolve_warehouse(settings, "first")  # no model yet: trains v1 on first use
    assert summary["model"].endswith("splink_model_v1.json")
    second = train_model(settings)
    assert second.name == "splink_model_v2.json"
    assert latest_model_path(settings) == second
    pointer = json.loads((settings.model_dir / "latest.json").read_text())
    assert pointer["version"] == 2 and pointer["model"] == second.name
    model = json.loads(second.read_text())
    assert {c["output_column_name"] for c in model["comparisons"]} >= {
        "first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode", "city"}
    assert resolve_warehouse(settings, "second")["model"] == str(second)


def test_too_little_data_to_train_links_deterministically(tmp_path) -> None:
    settings = Settings(home=tmp_path, run_date=date(2026, 11, 23))
    with connect(settings) as con:
        from id_raw_tables import create_raw_tables

        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "a.csv:2", first="Lena", last="Ortiz", email="LENA.O@example.com ")
        add_csv_contact(con, "a.csv:3", first="Omar", last="Ortiz", email="omar@example.com")
    summary = resolve_warehouse(settings, "tiny")
    assert summary["model"] is None
    assert summary["customers"] == 2
    assert latest_model_path(settings) is None


def _published(settings) -> dict[str, list[tuple]]:
    with connect(settings, read_only=True) as con:
        return {
            "customer_map": con.execute(
                "SELECT source_system, source_record_id, customer_id FROM identity.customer_map ORDER BY ALL"
            ).fetchall(),
            "links": con.execute(
                "SELECT source_record_key_l, source_record_key_r, link_type, rule, round(match_probability, 9), "
                "is_accepted, rejected_reason FROM identity.links ORDER BY ALL"
            ).fetchall(),
            "history": con.execute(
                "SELECT run_id, old_customer_id, new_customer_id, change_type, reason "
                "FROM identity.customer_id_history ORDER BY ALL"
            ).fetchall(),
            "standardised": con.execute("SELECT * FROM identity.person_records_standardised ORDER BY ALL").fetchall(),
        }


def _night_two_changes(con) -> None:
    """New, changed and removed records in every kind of way the next night brings them."""
    con.execute("UPDATE raw.store_customers SET email = 'moved.on@example.org', street = '9 North Road' "
                "WHERE customer_id = (SELECT min(customer_id) FROM raw.store_customers)")
    con.execute("UPDATE raw.call_center_calls SET caller_first_name = 'Bobby' "
                "WHERE call_id = (SELECT max(call_id) FROM raw.call_center_calls)")
    con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = (SELECT min(contact_id) FROM raw.csv_contacts)")
    add_csv_contact(con, "late:1", "Ann", "Newcomer", email="ann.newcomer@example.org", phone="(415) 555-0101")
    # A brand-new record sharing an email with an existing store customer joins that customer.
    email = con.execute("SELECT max(email) FROM raw.store_customers WHERE email LIKE '%@%'").fetchall()[0][0]
    add_csv_contact(con, "late:2", "Someone", "Else", email=email)


@pytest.mark.slow
def test_next_night_reuses_standardised_records_and_matches_a_full_run(tmp_path, trained_model_dir) -> None:
    records, _truth = generate_records(200, seed=21)
    results = {}
    for mode in ("incremental", "full"):
        night_1 = Settings(home=tmp_path / mode, model_dir=trained_model_dir, run_date=date(2026, 11, 23))
        with connect(night_1) as con:
            load_synthetic(con, records)
        resolve_warehouse(night_1, "run-1")
        with connect(night_1) as con:
            hashes = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'person_records_standardised_input'"
            assert con.execute(hashes).fetchall() == [(1,)]
            _night_two_changes(con)
            if mode == "full":
                # Without last night's hashes every record is standardised from scratch.
                con.execute("DROP TABLE identity.person_records_standardised_input")
        night_2 = night_1.with_run_date(date(2026, 11, 24))
        resolve_warehouse(night_2, "run-2")
        results[mode] = _published(night_2)
        # Rerunning the night reproduces it.
        resolve_warehouse(night_2, "run-2")
        assert _published(night_2) == results[mode]
    assert results["incremental"] == results["full"]
    keys = {(system, record) for system, record, _ in results["incremental"]["customer_map"]}
    assert ("csv", "late:1") in keys and ("csv", "late:2") in keys
    assert len(keys) == len(results["incremental"]["standardised"])
    assert any(run == "run-2" and kind == "new" for run, _old, _new, kind, _why in results["incremental"]["history"])


def _rows(settings, sql: str) -> list[tuple]:
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_map_is_published_as_a_diff_and_reruns_undo_it(settings) -> None:
    with connect(settings) as con:
        from id_raw_tables import create_raw_tables

        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "a.csv:2", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "b.csv:1", first="Lena", last="Ortiz", phone="(503) 555-0111")
        add_csv_contact(con, "d.csv:1", first="Omar", last="Quist", email="omar.q@example.com")
    resolve_warehouse(settings, "night-1")
    map_sql = "SELECT * FROM identity.customer_map ORDER BY ALL"
    night_1 = _rows(settings, map_sql)
    with connect(settings) as con:
        add_csv_contact(con, "c.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com",
                        phone="503-555-0111")
        con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = 'd.csv:1'")
    night_2_settings = settings.with_run_date(date(2026, 11, 24))
    resolve_warehouse(night_2_settings, "night-2")
    after = {(system, record): (customer, str(at), run) for system, record, customer, at, run in _rows(settings, map_sql)}
    before = {(system, record): customer for system, record, customer, _at, _run in night_1}
    assert ("csv", "d.csv:1") not in after
    for key, (customer, resolved_at, run_id) in after.items():
        if before.get(key) == customer:  # unchanged: keeps when and by which run it was resolved
            assert (resolved_at, run_id) == ("2026-11-23 00:00:00", "night-1"), key
        else:
            assert (resolved_at, run_id) == ("2026-11-24 00:00:00", "night-2"), key
    assert any(before.get(key) == customer for key, (customer, _at, _run) in after.items())
    # The map before the latest run is still there to read, whole.
    assert _rows(settings, "SELECT * FROM identity.customer_map_previous ORDER BY ALL") == night_1
    published = {table: _rows(settings, f"SELECT * FROM identity.{table} ORDER BY ALL")
                 for table in ("customer_map", "customer_map_changes", "links", "customer_id_history", "run_metrics")}
    # A rerun of the night first undoes its own changes, so it publishes exactly the same rows.
    resolve_warehouse(night_2_settings, "night-2")
    for table, rows in published.items():
        assert _rows(settings, f"SELECT * FROM identity.{table} ORDER BY ALL") == rows, table


def test_rerun_on_a_map_published_whole_by_an_older_version(settings) -> None:
    with connect(settings) as con:
        from id_raw_tables import create_raw_tables

        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "b.csv:1", first="Omar", last="Quist", email="omar.q@example.com")
    resolve_warehouse(settings, "night-1")
    history_sql = "SELECT * FROM identity.customer_id_history ORDER BY ALL"
    map_sql = "SELECT * FROM identity.customer_map ORDER BY ALL"
    history, published = _rows(settings, history_sql), _rows(settings, map_sql)
    with connect(settings) as con:
        # What an older version left: the map rewritten whole by its run, no change log; a
        # previous map (unused here) as a table of its own.
        con.execute("DROP VIEW identity.customer_map_previous")
        con.execute("DROP TABLE identity.customer_map_changes")
    resolve_warehouse(settings, "night-1")
    assert _rows(settings, history_sql) == history  # ids handed out again, as new
    assert _rows(settings, map_sql) == published
    with connect(settings) as con:
        con.execute("DROP VIEW identity.customer_map_previous")
        con.execute("DROP TABLE identity.customer_map_changes")
        con.execute("CREATE TABLE identity.customer_map_previous AS SELECT * FROM identity.customer_map")
    resolve_warehouse(settings.with_run_date(date(2026, 11, 24)), "night-2")
    assert _rows(settings, map_sql) == published  # nothing changed, so nothing was rewritten
    assert _rows(settings, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'customer_map_previous'") == [(1,)]


def test_rerun_of_an_older_run_is_refused_and_keeps_history(settings) -> None:
    from id_raw_tables import add_store_customer, create_raw_tables

    from identity.publish import SupersededRunError

    with connect(settings) as con:
        create_raw_tables(con)
        add_store_customer(con, 1, "Ann", "Lee", email="ann@x.com", birth_date=date(1980, 1, 1))
        add_csv_contact(con, "list:1", first="Ann", last="Lee", phone="415-555-0101")
    resolve_warehouse(settings, "night-1")
    with connect(settings) as con:  # night 2: the store record gains the phone, so the two merge
        con.execute("UPDATE raw.store_customers SET phone = '415-555-0101'")
    night_2 = settings.with_run_date(date(2026, 11, 24))
    resolve_warehouse(night_2, "night-2")
    with connect(settings) as con:  # night 3: a newcomer
        add_csv_contact(con, "list:2", first="Cy", last="Young", email="cy@x.com")
    night_3 = settings.with_run_date(date(2026, 11, 25))
    resolve_warehouse(night_3, "night-3")
    tables = ("customer_map", "customer_map_changes", "links", "customer_id_history", "run_metrics",
              "person_records")
    published = {table: _rows(settings, f"SELECT * FROM identity.{table} ORDER BY ALL") for table in tables}
    kinds = [(run, kind) for run, _old, _new, kind, *_rest in published["customer_id_history"]]
    assert kinds == [("night-1", "new"), ("night-1", "new"), ("night-2", "merge"), ("night-3", "new")]
    merged_away = next(row[1] for row in published["customer_id_history"] if row[3] == "merge")
    assert "merge in run night-2" in explain(settings, merged_away)

    # Clearing night 2 after night 3 ran: refused before anything is written.
    with pytest.raises(SupersededRunError, match="'night-3' has published the customer map since"):
        resolve_warehouse(night_2, "night-2")
    for table, rows in published.items():
        assert _rows(settings, f"SELECT * FROM identity.{table} ORDER BY ALL") == rows, table
    assert "merge in run night-2" in explain(settings, merged_away)

    # The latest run can still be rerun, reproducing the same ids, changes and history.
    resolve_warehouse(night_3, "night-3")
    for table, rows in published.items():
        assert _rows(settings, f"SELECT * FROM identity.{table} ORDER BY ALL") == rows, table


def _without_birth_dates(records: list[dict]) -> list[dict]:
    return [{**record, "date_of_birth": None} for record in records]


@pytest.mark.slow
def test_training_without_birth_dates_skips_that_em_pass(tmp_path, caplog) -> None:
    """The EM pass blocked on date_of_birth had no pairs; Splink's EMTrainingException was not
    the ValueError the pass loop skipped, so training (and a first night) crashed with a traceback."""
    settings = Settings(home=tmp_path, run_date=date(2026, 11, 23))
    records, _truth = generate_records(200, seed=3)
    with connect(settings) as con:
        load_synthetic(con, _without_birth_dates(records))
    summary = resolve_warehouse(settings, "first")  # trains on first use
    assert summary["model"].endswith("splink_model_v1.json")
    assert summary["links"]["probabilistic_accepted"] > 0
    assert "EM training pass blocked on date_of_birth failed and was skipped: Training rule" in caplog.text


def _strangers_without_birth_dates(con, count: int = 60) -> None:
    """``count`` contacts with no birth date and no two alike in first and last name: no EM pass
    has a pair to learn from. Two of them share an e-mail address."""
    from id_raw_tables import create_raw_tables

    create_raw_tables(con)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for number in range(count):
        last = "Or" + letters[number % 26] + letters[number // 26]
        add_csv_contact(con, f"a.csv:{number}", first="Lena", last=last, email=f"lena{number}@example.com")
    add_csv_contact(con, "b.csv:1", first="Lena", last="Ostrander", email="lena0@example.com")


def test_no_trainable_model_links_deterministically_on_first_use(tmp_path, caplog) -> None:
    settings = Settings(home=tmp_path, run_date=date(2026, 11, 23))
    with connect(settings) as con:
        _strangers_without_birth_dates(con)
    summary = resolve_warehouse(settings, "first")
    assert summary["model"] is None
    assert latest_model_path(settings) is None
    assert summary["customers"] == 60  # the shared e-mail still links
    assert "probabilistic matching skipped" in caplog.text
    assert "every EM training pass failed" in caplog.text
    with pytest.raises(CannotTrainModel, match=r"every EM training pass failed .*blocked on first_name \+ last_name"):
        train_model(settings)
