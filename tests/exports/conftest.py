"""Fixtures for the export tests."""

from __future__ import annotations

from datetime import date

import pytest
from exports_testkit import build_warehouse

from cdp.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings pointing every path into tmp_path, with the default test warehouse built."""
    s = Settings(home=tmp_path, run_date=date(2026, 11, 23), default_phone_region="US")
    build_warehouse(s)
    return s
