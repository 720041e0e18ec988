"""Shared fixtures: a throw-away warehouse and landing zone per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from cdp.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose warehouse and landing zone live in tmp_path (never data/)."""
    return Settings(home=tmp_path, run_date=date(2026, 11, 23))


@pytest.fixture
def copy_fixture() -> Callable[[str, Path], Path]:
    """Copy one committed fixture file into a landing folder; returns the new path."""

    def copy(relative: str, destination: Path) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(FIXTURES / relative, destination))

    return copy
