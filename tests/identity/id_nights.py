"""Two identity nights on the same synthetic records: night 1, then night 2 after changes, either
against last night's state ("incremental") or with the baseline table dropped ("full")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest
from id_raw_tables import load_synthetic
from id_synthetic import generate_records
from test_pipeline import _night_two_changes

from cdp.settings import Settings
from cdp.warehouse import connect
from identity.pipeline import resolve_warehouse


def two_nights(
    tmp_path: Path,
    model_dir: Path,
    mode: str,
    caplog: pytest.LogCaptureFixture,
    *,
    logger: str,
    baseline_table: str,
    first_night: Callable[[duckdb.DuckDBPyConnection], None],
    second_night: Callable[[duckdb.DuckDBPyConnection], None],
) -> Settings:
    """Resolve night 1 (synthetic records + ``first_night``), apply the shared night-two changes and
    ``second_night``, drop ``baseline_table`` when ``mode`` is "full", resolve night 2 with
    ``logger`` captured at INFO; returns night 2's settings."""
    records, _truth = generate_records(200, seed=21)
    night_1 = Settings(home=tmp_path / mode, model_dir=model_dir, run_date=date(2026, 11, 23))
    with connect(night_1) as con:
        load_synthetic(con, records)
        first_night(con)
    resolve_warehouse(night_1, "run-1")
    with connect(night_1) as con:
        _night_two_changes(con)
        second_night(con)
        if mode == "full":
            con.execute(f"DROP TABLE {baseline_table}")
    night_2 = night_1.with_run_date(date(2026, 11, 24))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logger):
        resolve_warehouse(night_2, "run-2")
    return night_2
