"""Shared fixtures: tmp warehouses and one Splink model trained once per test session."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from id_synthetic import generate_records, write_records_csv

from cdp.settings import Settings

RUN_DATE = date(2026, 11, 23)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory holding one model trained on 400 synthetic people."""
    import duckdb

    from identity.probabilistic import SPLINK_COLUMNS_SQL
    from identity.resolve_file import load_records
    from identity.standardise import standardise
    from identity.train import train_on

    home = tmp_path_factory.mktemp("model_home")
    settings = Settings(home=home, run_date=RUN_DATE)
    records, _truth = generate_records(400, seed=11)
    source = write_records_csv(home / "training.csv", records)
    con = duckdb.connect()
    load_records(con, source)
    standardise(con, settings, source="person_records", target="standardised")
    data = con.sql(f"SELECT {SPLINK_COLUMNS_SQL} FROM standardised").to_arrow_table()
    con.close()
    train_on(data, settings)
    return settings.model_dir


@pytest.fixture
def settings(tmp_path: Path, trained_model_dir: Path) -> Settings:
    """Settings for a fresh tmp warehouse that predicts with the session's trained model."""
    return Settings(home=tmp_path, model_dir=trained_model_dir, run_date=RUN_DATE)
