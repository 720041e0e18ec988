"""Entry point for ``cdp ingest`` and the Airflow ingestion tasks: one function per source."""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

from cdp.settings import Settings
from cdp.warehouse import connect
from ingestion.report import IngestReport

log = logging.getLogger(__name__)

SOURCES = ("web", "call_center", "store", "csv")


def _loaders() -> dict[str, Callable[[duckdb.DuckDBPyConnection, Settings, str], IngestReport]]:
    # Imported lazily so `import ingestion.runner` (e.g. by a DAG file) stays cheap.
    from ingestion.call_center import ingest_call_center
    from ingestion.csv_lists import ingest_csv_lists
    from ingestion.store_pos import ingest_store
    from ingestion.web_events import ingest_web

    return {
        "web": ingest_web,
        "call_center": ingest_call_center,
        "store": ingest_store,
        "csv": ingest_csv_lists,
    }


def ingest(settings: Settings, run_id: str, source: str | None = None) -> list[IngestReport]:
    """Ingest one source (or all, in SOURCES order) into the raw schema; returns one report per source."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources are: {', '.join(SOURCES)}")
    loaders = _loaders()
    reports: list[IngestReport] = []
    failures: list[tuple[str, Exception]] = []
    for name in SOURCES if source is None else (source,):
        try:
            with connect(settings) as con:
                report = loaders[name](con, settings, run_id)
        except Exception as exc:
            # One unavailable source must not stop the others; the run still fails loudly below.
            log.exception("ingestion of source %s failed", name)
            failures.append((name, exc))
            continue
        log.info("ingested %s: %s", name, report.as_dict())
        reports.append(report)
    if failures:
        name, first = failures[0]
        names = ", ".join(n for n, _ in failures)
        raise RuntimeError(
            f"ingestion failed for source(s) {names}; first error ({name}): {first}"
        ) from first
    return reports
