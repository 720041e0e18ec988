"""Term frequencies frozen with the model."""

from __future__ import annotations

import json
import math
import shutil

import pyarrow.parquet as pq
import pytest
from id_raw_tables import add_csv_contact, load_synthetic

from cdp.settings import Settings
from cdp.warehouse import connect
from identity.person_records import build_person_records
from identity.probabilistic import (
    frozen_term_frequencies,
    latest_model_path,
    predict_links,
    term_frequency_columns,
    term_frequency_path,
)
from identity.schema import IdentityError
from identity.standardise import standardise

TF_COLUMNS = ["city", "email", "first_name", "last_name", "postcode"]


def _model(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


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
