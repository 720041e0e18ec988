"""Shared test setup: every test runs against throw-away folders, never the repo's data/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Airflow reads its home at import time: point it at a throw-away folder before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cdp-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO_ROOT.parent / "shared" / "corpora"


@pytest.fixture
def cdp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every CDP_* path at a fresh temporary home and return it."""
    for key in list(os.environ):
        if key.startswith("CDP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "cdp"))
    return tmp_path / "cdp"
