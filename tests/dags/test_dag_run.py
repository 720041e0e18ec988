"""cdp_nightly runs end to end through real Airflow (``airflow dags test``) on tiny sample data."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def test_nightly_dag_runs_through_airflow(tmp_path):
    from cdp.sample_data import generate

    run_date = date(2026, 11, 23)
    home = tmp_path / "cdp"
    generate(home / "landing", customers=120, seed=3, run_date=run_date)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update({
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CDP_HOME": str(home),
        "CDP_TASK_RETRIES": "0",
    })

    def airflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=900)

    assert airflow("db", "migrate").returncode == 0
    assert airflow("pools", "set", "duckdb_writer", "1", "one DuckDB writer").returncode == 0
    result = airflow("dags", "test", "cdp_nightly", run_date.isoformat())
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Task failed" not in log, log[-4000:]
    with duckdb.connect(str(home / "warehouse" / "cdp.duckdb"), read_only=True) as con:
        stages = dict(con.execute("SELECT stage, status FROM meta.pipeline_runs").fetchall())
        customers = con.execute("SELECT count(*) FROM marts.dim_customers").fetchone()[0]
    assert stages and set(stages.values()) == {"succeeded"}, stages
    from cdp.pipeline import expected_stages

    assert set(expected_stages()) <= set(stages)
    assert customers > 0
