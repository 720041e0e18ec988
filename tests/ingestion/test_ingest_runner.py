"""The runner: source selection, and an end-to-end run over generated sample data."""

from __future__ import annotations

from datetime import date

import pytest

from cdp.warehouse import connect
from ingestion.report import IngestReport
from ingestion.runner import SOURCES, ingest


def test_unknown_source_lists_the_valid_ones(settings):
    with pytest.raises(ValueError, match="web, call_center, store, csv"):
        ingest(settings, "run-1", "crm")


def test_empty_landing_zone_reports_nothing_loaded(settings, tmp_path):
    settings = type(settings)(home=settings.home, run_date=settings.run_date,
                              store_db_uri=f"sqlite:///{tmp_path / 'missing.sqlite'}")  # fmt: skip
    reports = ingest(settings, "run-1", "web")
    assert [r.as_dict()["files_seen"] for r in reports] == [0]
    assert SOURCES == ("web", "call_center", "store", "csv")


@pytest.mark.slow
def test_sample_data_end_to_end_twice(settings):
    from cdp import sample_data  # a broken project module must fail, not skip

    counts = sample_data.generate(settings.landing_dir, customers=200, seed=1, run_date=date(2026, 11, 23))
    first = {r.source: r for r in ingest(settings, "run-1")}
    assert list(first) == list(SOURCES)
    assert all(isinstance(r, IngestReport) for r in first.values())
    assert first["web"].rows_loaded == counts["web_events"]
    assert first["store"].rows_loaded == sum(
        counts[k] for k in ("store_customers", "stores", "orders", "order_lines")
    )
    with connect(settings, read_only=True) as con:
        calls = con.execute("SELECT count(*) FROM raw.call_center_calls").fetchall()[0][0]
        suppressed = con.execute("SELECT count(*) FROM raw.suppression_list").fetchall()[0][0]
    assert calls == counts["calls"] and suppressed == counts["suppression_rows"]
    second = ingest(settings, "run-2")
    assert [r.rows_loaded for r in second] == [0, 0, 0, 0]
    assert all(r.rows_quarantined == 0 for r in second)


def test_an_unavailable_source_fails_loudly_without_blocking_the_others(settings, copy_fixture):
    copy_fixture("web/events-2026-11-22-001.ndjson", settings.web_landing_dir)
    with pytest.raises(RuntimeError, match=r"source\(s\) store.*pos.sqlite not found"):
        ingest(settings, "run-1")  # no store database in this landing zone
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.web_events").fetchall() == [(5,)]
        assert con.execute("SELECT count(*) FROM raw.csv_contacts").fetchall() == [(0,)]  # csv still ran
