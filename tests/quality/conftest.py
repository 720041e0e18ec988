"""Fixtures for the quality gates: a tiny contract-shaped warehouse in tmp_path, no network."""

from __future__ import annotations

import hashlib
import socket
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from quality_testkit import execute

from cdp.settings import Settings

FIXTURES = Path(__file__).parent
RUN_ID = "run-2"
RUN_DATE = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gates and reports must work offline: any outgoing TCP connection fails the test."""
    original = socket.socket.connect

    def refuse(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address!r}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", refuse)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings rooted in tmp_path for the fixture run date."""
    return Settings(home=tmp_path, run_date=RUN_DATE, **overrides)




@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A warehouse that passes every gate (tests/quality/clean_warehouse.sql)."""
    result = make_settings(tmp_path)
    result.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    execute(result, (FIXTURES / "clean_warehouse.sql").read_text(encoding="utf-8"))
    return result


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def sql(settings: Settings):
    """``sql("...")`` runs a statement on the test warehouse."""
    return lambda statement: execute(settings, statement)


@pytest.fixture
def settings_with(tmp_path: Path, settings: Settings):
    """``settings_with(max_cluster_size=3)``: the same warehouse with other thresholds."""
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture
def clean_export() -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
    """A hashed high_value audience of the two consented, unsuppressed members."""
    frame = pd.DataFrame({
        "customer_id": ["cust-a", "cust-b"],
        "email_sha256": [sha256("ann@example.com"), sha256("bob@example.com")],
        "country": ["US", "US"],
    })
    return {"high_value__google.csv": frame}, {"segment_name": "high_value"}
