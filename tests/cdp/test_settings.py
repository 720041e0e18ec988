"""The settings object: defaults, CDP_* overrides, and clear errors for bad values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from cdp.settings import Settings, SettingsError, settings_table

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_paths_derive_from_home(tmp_path):
    settings = Settings.from_env({"CDP_HOME": str(tmp_path)})
    assert settings.warehouse_path == tmp_path / "warehouse" / "cdp.duckdb"
    assert settings.web_landing_dir == tmp_path / "landing" / "web"
    assert settings.store_db_uri == f"sqlite:///{tmp_path / 'landing' / 'store' / 'pos.sqlite'}"


def test_environment_overrides_every_kind_of_field(tmp_path):
    settings = Settings.from_env({
        "CDP_HOME": str(tmp_path),
        "CDP_LANDING_DIR": str(tmp_path / "elsewhere"),
        "CDP_RUN_DATE": "2026-02-03",
        "CDP_MAX_CLUSTER_SIZE": "7",
        "CDP_MATCH_PROBABILITY_THRESHOLD": "0.8",
        "CDP_STORE_DB_URI": "postgresql://127.0.0.1/test",
    })
    assert settings.csv_landing_dir == tmp_path / "elsewhere" / "csv"
    assert settings.run_date == date(2026, 2, 3)
    assert settings.max_cluster_size == 7
    assert settings.match_probability_threshold == 0.8
    assert settings.store_db_uri == "postgresql://127.0.0.1/test"
    assert Settings.from_env({"CDP_REPORTING_CURRENCY": " eur "}).reporting_currency == "EUR"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("CDP_RUN_DATE", "yesterday", "CDP_RUN_DATE='yesterday' is not a valid date"),
    ("CDP_MAX_CLUSTER_SIZE", "many", "CDP_MAX_CLUSTER_SIZE='many' is not a valid int"),
    ("CDP_MATCH_PROBABILITY_THRESHOLD", "1.5", "between 0 and 1"),
    ("CDP_REPORTING_CURRENCY", "dollars", "CDP_REPORTING_CURRENCY must be a three-letter ISO 4217 code"),
])
def test_bad_values_name_the_variable(key, value, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({key: value})


def test_readme_settings_table_is_the_generated_one(capsys):
    """The README table is exactly `cdp settings --markdown` (it had drifted while every name was there)."""
    from cdp.cli import main

    assert main(["settings", "--markdown"]) == 0
    generated = capsys.readouterr().out.strip()
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(generated.splitlines()[0])
    in_readme = readme[start:readme.index("\n\n", start)].strip()
    assert in_readme == generated, "README settings table differs: paste the output of `cdp settings --markdown`"


def test_env_example_documents_every_setting_as_settings_does():
    env_example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    for variable, default, doc in settings_table():
        assert doc, f"{variable} has no description"
        assert f"\n# {doc} Default: {default}\n{variable}=\n" in env_example, f"{variable} in .env.example"
    listed = re.findall(r"^(CDP_\w+)=", env_example, flags=re.M)
    assert listed == [variable for variable, _default, _doc in settings_table()]


def test_empty_variables_mean_the_default(tmp_path, monkeypatch):
    """Review finding: `CDP_HOME=` (as `.env.example` ships it) put every path in the current directory."""
    for key in [key for key in os.environ if key.startswith("CDP_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    unset = Settings.from_env(run_date=date(2026, 1, 2))
    assert unset.home == REPO_ROOT / "data"
    every_variable_empty = {variable: "" for variable, _default, _doc in settings_table()}
    assert Settings.from_env(every_variable_empty, run_date=date(2026, 1, 2)) == unset
    for variable in every_variable_empty:
        monkeypatch.setenv(variable, "")
    assert Settings.from_env(run_date=date(2026, 1, 2)) == unset
    assert Settings(run_date=date(2026, 1, 2)) == unset
    # The environment given to from_env decides, not the process's.
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "process"))
    assert Settings.from_env({}, run_date=date(2026, 1, 2)) == unset


def test_cdp_settings_with_env_example_values(tmp_path):
    """`cdp settings` run elsewhere with every variable as `.env.example` ships it shows the defaults."""
    env_example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    shipped = dict(line.split("=", 1) for line in env_example.splitlines() if line.startswith("CDP_"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDP_")}
    env.update(shipped, PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-m", "cdp.cli", "settings"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert f"CDP_HOME={REPO_ROOT / 'data'}\n" in out
    assert f"CDP_WAREHOUSE_PATH={REPO_ROOT / 'data' / 'warehouse' / 'cdp.duckdb'}\n" in out
