"""Term frequencies frozen with the model, and the next night predicting only pairs that touch a
new or changed record (the rest read back from identity.links)."""

from __future__ import annotations

import json
import logging
import math
import shutil
from datetime import date

import pyarrow.parquet as pq
import pytest
from id_nights import two_nights
from id_raw_tables import add_csv_contact, add_store_customer, load_synthetic
from id_synthetic import generate_records
from test_pipeline import _published

from cdp.settings import Settings
from cdp.warehouse import connect
from identity.person_records import build_person_records
from identity.pipeline import resolve_warehouse
from identity.probabilistic import (
    SCORED_RECORDS,
    _is_symmetric,
    frozen_term_frequencies,
    latest_model_path,
    predict_links,
    specification_changes,
    term_frequency_columns,
    term_frequency_path,
)
from identity.schema import IdentityError
from identity.standardise import standardise
from identity.train import train_model

TF_COLUMNS = ["city", "email", "first_name", "last_name", "postcode"]


def _model(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _pairs(settings) -> list[tuple]:
    with connect(settings, read_only=True) as con:
        return con.execute(
            "SELECT source_record_key_l, source_record_key_r, match_weight, match_probability, "
            "comparison_levels::VARCHAR, is_accepted, rejected_reason FROM identity.links "
            "WHERE link_type = 'probabilistic' ORDER BY ALL"
        ).fetchall()


def test_term_frequencies_are_saved_with_the_model(trained_model_dir) -> None:
    path = latest_model_path(Settings(home=trained_model_dir, model_dir=trained_model_dir))
    model = _model(path)
    assert term_frequency_columns(model) == TF_COLUMNS
    assert frozen_term_frequencies(path, model) == {c: term_frequency_path(path, c) for c in TF_COLUMNS}
    pointer = json.loads((trained_model_dir / "latest.json").read_text(encoding="utf-8"))
    assert pointer["term_frequencies"] == {c: f"{path.stem}_tf_{c}.parquet" for c in TF_COLUMNS}
    for column in TF_COLUMNS:
        table = pq.read_table(term_frequency_path(path, column)).to_pydict()
        assert list(table) == [column, f"tf_{column}"]
        # Shares of the non-null values of the training records: they add up to one.
        assert sum(table[f"tf_{column}"]) == pytest.approx(1.0)
        assert len(set(table[column])) == len(table[column]) > 1


def test_a_model_missing_some_term_frequency_files_is_refused(tmp_path, trained_model_dir) -> None:
    model_dir = shutil.copytree(trained_model_dir, tmp_path / "models")
    path = latest_model_path(Settings(home=tmp_path, model_dir=model_dir))
    term_frequency_path(path, "city").unlink()
    with pytest.raises(IdentityError, match=r"not for \['city'\]"):
        frozen_term_frequencies(path, _model(path))
    for column in TF_COLUMNS:
        term_frequency_path(path, column).unlink(missing_ok=True)
    assert frozen_term_frequencies(path, _model(path)) is None


def _two_identical_people(con, first: str) -> None:
    for number in (1, 2):
        add_csv_contact(con, f"twin:{first}-{number}", first, "Quayle", email=f"{first}.{number}@example.org",
                        birth_date="1980-02-03", street="1 Elm Street", postcode="94110", city="Oakland")


def test_a_value_the_model_never_saw_gets_no_term_frequency_adjustment(settings) -> None:
    path = latest_model_path(settings)
    model = _model(path)
    seen = pq.read_table(term_frequency_path(path, "first_name")).column("first_name").to_pylist()
    assert "zebediah" not in seen
    exact = next(level for level in next(c for c in model["comparisons"] if c["output_column_name"] == "first_name")
                 ["comparison_levels"] if level.get("tf_adjustment_column") == "first_name")
    with connect(settings) as con:
        load_synthetic(con, [])
        _two_identical_people(con, "Zebediah")
        _two_identical_people(con, seen[0].capitalize())
        build_person_records(con)
        standardise(con, settings)
        predict_links(con, "identity.person_records_standardised", path, keep_above=0.0)
        weights = dict(con.execute(
            """SELECT split_part(split_part(record_key_l, ':', 2), '-', 1),
                      CAST(json_extract(comparison_levels, '$.first_name.weight') AS DOUBLE)
               FROM probabilistic_links WHERE record_key_l LIKE 'csv|twin:%' AND record_key_r LIKE 'csv|twin:%'"""
        ).fetchall())
    level_weight = math.log2(exact["m_probability"] / exact["u_probability"])
    # Unseen: the exact-match level's own weight, neither a crash nor an extreme rarity bonus.
    assert len(weights) == 2
    assert weights["Zebediah"] == pytest.approx(level_weight, abs=1e-3)
    # Seen: adjusted by its frozen frequency, so it differs from the level's weight.
    assert weights[seen[0].capitalize()] != pytest.approx(level_weight, abs=1e-3)


def _first_night(con) -> None:
    # First and last name swapped, a one-way level (l.first_name = r.last_name): the pair must
    # be scored with the smaller key (csv|...) on the left whichever record changes.
    add_csv_contact(con, "swap:1", "Michael", None, email="michael.swap@example.org")
    add_store_customer(con, 990001, "Walker", "Michael", email="michael.swap@example.org")


def _second_night(con) -> None:
    con.execute("UPDATE raw.store_customers SET street = '5 Swap Lane' WHERE customer_id = 990001")
    # A changed record whose Splink columns are untouched, and one that moves house.
    con.execute("UPDATE raw.store_customers SET loyalty_card_number = 'LC-NEW-1' "
                "WHERE customer_id = (SELECT max(customer_id) FROM raw.store_customers)")
    con.execute("UPDATE raw.store_customers SET postcode = '10001', city = 'New York' "
                "WHERE customer_id = (SELECT min(customer_id) FROM raw.store_customers WHERE email IS NOT NULL "
                "AND customer_id > (SELECT min(customer_id) FROM raw.store_customers))")


def _two_nights(tmp_path, model_dir, mode: str, caplog) -> Settings:
    return two_nights(tmp_path, model_dir, mode, caplog, logger="identity.probabilistic",
                      baseline_table=SCORED_RECORDS, first_night=_first_night, second_night=_second_night)


@pytest.mark.slow
def test_next_night_predicts_only_changed_records_and_equals_a_full_predict(tmp_path, trained_model_dir,
                                                                            caplog) -> None:
    full = _two_nights(tmp_path, trained_model_dir, "full", caplog)
    assert "predicting every pair" in caplog.text
    incremental = _two_nights(tmp_path, trained_model_dir, "incremental", caplog)
    assert "predicting every pair" not in caplog.text
    # The call-centre name change, the e-mail move, two house moves and two new contacts (the
    # removed record and the loyalty-card change need no scoring).
    assert "Splink pairs: 6 records new or changed" in caplog.text
    # Exactly the full predict's pairs, weights to the last bit; and so the same published tables.
    assert _pairs(incremental) == _pairs(full)
    assert len(_pairs(full)) > 100
    assert [pair[:2] for pair in _pairs(full) if pair[0] == "csv|swap:1"] == [("csv|swap:1", "store|990001")]
    assert _published(incremental) == _published(full)
    with connect(incremental, read_only=True) as con:
        keys = con.execute(f"SELECT record_key FROM {SCORED_RECORDS} ORDER BY 1").fetchall()
        records = con.execute(
            "SELECT source_system || '|' || source_record_id FROM identity.person_records_standardised ORDER BY 1"
        ).fetchall()
        assert keys == records  # removed records left, new ones came
    # A rerun of the night changes nothing and reproduces the ids.
    published = _published(incremental)
    resolve_warehouse(incremental, "run-2")
    assert _published(incremental) == published
    assert _pairs(incremental) == _pairs(full)


@pytest.mark.slow
def test_a_new_model_version_predicts_every_pair(tmp_path, trained_model_dir, caplog) -> None:
    model_dir = shutil.copytree(trained_model_dir, tmp_path / "models")
    settings = Settings(home=tmp_path / "home", model_dir=model_dir, run_date=date(2026, 11, 23))
    records, _truth = generate_records(200, seed=21)
    with connect(settings) as con:
        load_synthetic(con, records)
    resolve_warehouse(settings, "run-1")
    new_version = train_model(settings)
    assert frozen_term_frequencies(new_version, _model(new_version)) is not None
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="identity.probabilistic"):
        resolve_warehouse(settings.with_run_date(date(2026, 11, 24)), "run-2")
    assert "predicting every pair" in caplog.text
    # Same records, model unchanged since: nothing to predict.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="identity.probabilistic"):
        resolve_warehouse(settings.with_run_date(date(2026, 11, 25)), "run-3")
    assert "Splink pairs: 0 records new or changed" in caplog.text


@pytest.mark.slow
def test_a_model_without_term_frequencies_predicts_every_pair_every_night(tmp_path, trained_model_dir) -> None:
    model_dir = shutil.copytree(trained_model_dir, tmp_path / "models")
    settings = Settings(home=tmp_path / "home", model_dir=model_dir, run_date=date(2026, 11, 23))
    records, _truth = generate_records(200, seed=21)
    with connect(settings) as con:
        load_synthetic(con, records)
    resolve_warehouse(settings, "run-1")
    scored = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'splink_scored_records'"
    with connect(settings, read_only=True) as con:
        assert con.execute(scored).fetchall() == [(1,)]
    # The same model saved the old way: frequencies come from the records, nothing can be reused.
    path = latest_model_path(settings)
    for column in TF_COLUMNS:
        term_frequency_path(path, column).unlink()
    summary = resolve_warehouse(settings.with_run_date(date(2026, 11, 24)), "run-2")
    assert summary["links"]["probabilistic_accepted"] > 0
    with connect(settings, read_only=True) as con:
        assert con.execute(scored).fetchall() == [(0,)]


def test_only_rules_of_same_column_equalities_are_searched_from_one_side() -> None:
    # block_on rules: a changed record's partners are the same whichever side it is on.
    assert _is_symmetric('l."email" = r."email"')
    assert _is_symmetric('(l."last_name" = r."last_name") AND (l."date_of_birth" = r."date_of_birth")')
    # Anything else is searched from both sides.
    assert not _is_symmetric('l."first_name" = r."last_name"')
    assert not _is_symmetric('(l."email" = r."email") AND (l."age" < r."age")')
    assert not _is_symmetric('l."email" = r."email" OR l."phone" = r."phone"')


def test_a_model_trained_before_a_comparison_changed_still_scores_and_says_to_retrain(
        tmp_path, trained_model_dir, caplog) -> None:
    """The e-mail comparison gained a level (a personal address against another domain's): a model
    saved without it keeps scoring with its own levels, and the run log says to retrain."""
    model_dir = shutil.copytree(trained_model_dir, tmp_path / "models")
    settings = Settings(home=tmp_path / "home", model_dir=model_dir, run_date=date(2026, 11, 23))
    path = latest_model_path(settings)
    model = _model(path)
    assert specification_changes(model) == []
    email = next(c for c in model["comparisons"] if c["output_column_name"] == "email")
    email["comparison_levels"] = [level for level in email["comparison_levels"]
                                  if level.get("label_for_charts") != "One personal address, one at another domain"]
    path.write_text(json.dumps(model), encoding="utf-8")
    assert specification_changes(model) == ["email"]
    records, _truth = generate_records(200, seed=21)
    with connect(settings) as con:
        load_synthetic(con, records)
    with caplog.at_level(logging.WARNING, logger="identity.probabilistic"):
        summary = resolve_warehouse(settings, "run-1")
    assert summary["links"]["probabilistic_accepted"] > 0
    assert f"{path.name} was trained with other email than this code's" in caplog.text


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("ann.lee@gmail.com", "alee@acme-dental.com", True),  # private against work: its own level
        ("alee@acme-dental.com", "ann.lee@yahoo.com", True),
        ("ann.lee@gmail.com", "annie77@yahoo.com", False),  # two private addresses: "all other"
        ("alee@acme-dental.com", "bob@northwind.com", False),
    ],
)
def test_email_comparison_tells_a_private_against_a_work_address(left: str, right: str, expected: bool) -> None:
    import duckdb

    from identity.probabilistic import model_settings

    settings = model_settings().get_settings("duckdb").as_dict()
    email = next(c for c in settings["comparisons"] if c["output_column_name"] == "email")
    level = next(level for level in email["comparison_levels"]
                 if level.get("label_for_charts") == "One personal address, one at another domain")
    assert email["comparison_levels"][-1]["sql_condition"] == "ELSE"
    assert email["comparison_levels"][-2] is level
    found = duckdb.sql(f"SELECT {level['sql_condition']} FROM (SELECT ? AS email_l, ? AS email_r)",
                       params=[left, right]).fetchall()
    assert found == [(expected,)]
