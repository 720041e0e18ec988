"""The dbt profile: dbt's DuckDB connection follows the same settings as the pipeline's own."""

from __future__ import annotations

import json

from cdp.dbt import DBT_PROJECT_DIR, _dbt_environment, _release_warehouse
from cdp.settings import Settings

PROBE = ("select current_setting('threads') as duckdb_threads, current_setting('memory_limit') as memory_limit, "
         "(select path from duckdb_databases() where database_name = current_database()) as warehouse_path")


def _dbt_connection(tmp_path) -> dict:
    """What dbt's own DuckDB connection reports, read through `dbt show` on this project."""
    from dbt.cli.main import dbtRunner

    try:
        outcome = dbtRunner().invoke([
            "show", "--inline", PROBE, "--output", "json", "--quiet",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            "--vars", json.dumps({"segments": []}),
        ])
    finally:
        _release_warehouse()
    assert outcome.success, outcome.exception
    [row] = outcome.result.results[0].agate_table.rows
    return dict(zip(outcome.result.results[0].agate_table.column_names, row, strict=True))


def test_duckdb_threads_reach_the_duckdb_dbt_builds_with(cdp_env, tmp_path, monkeypatch):
    """Review finding: CDP_DUCKDB_THREADS=1 gave 1 thread to the pipeline's connections but 2 inside dbt."""
    monkeypatch.setenv("CDP_DUCKDB_THREADS", "1")
    monkeypatch.setenv("CDP_DUCKDB_MEMORY_LIMIT", "1GB")
    settings = Settings.from_env()
    settings.ensure_dirs()
    with _dbt_environment(settings, "probe"):
        connection = _dbt_connection(tmp_path)
    assert int(connection["duckdb_threads"]) == 1
    assert connection["memory_limit"].startswith("953.6")  # 1GB as DuckDB prints it (MiB)
    assert connection["warehouse_path"] == str(settings.warehouse_path)


def test_empty_variables_mean_the_defaults_in_the_dbt_profile(cdp_env, tmp_path, monkeypatch):
    """dbt run by hand with `.env.example`'s empty values: each means its default, as in Settings."""
    for key in ("CDP_WAREHOUSE_PATH", "CDP_DBT_THREADS", "CDP_DUCKDB_MEMORY_LIMIT", "CDP_DUCKDB_THREADS"):
        monkeypatch.setenv(key, "")
    (cdp_env / "warehouse").mkdir(parents=True)
    connection = _dbt_connection(tmp_path)
    assert connection["warehouse_path"] == str(cdp_env / "warehouse" / "cdp.duckdb")
    assert int(connection["duckdb_threads"]) == Settings.duckdb_threads == 2
    assert connection["memory_limit"].startswith("5.5")  # 6GB as DuckDB prints it (GiB)
