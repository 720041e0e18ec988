"""The warehouse tables that keep every check result, so reports can always be rebuilt.

- ``meta.quality_results``: one row per check per stage per run.
- ``meta.quality_runs``: one verdict row per stage per run.
- ``meta.quality_run_attempts``: the verdicts a rerun replaced (attempt 1, 2, ... of the run's stage),
  with the archived report that showed them, so a blocked attempt keeps its audit trace.

A rerun of a stage replaces that stage's rows for the run (delete + insert in one transaction),
so results are never duplicated; the replaced verdict moves to ``meta.quality_run_attempts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import duckdb

DDL = (
    """CREATE TABLE IF NOT EXISTS meta.quality_results (
        run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, check_name VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, description VARCHAR, observed VARCHAR, threshold VARCHAR,
        passed BOOLEAN NOT NULL, is_skipped BOOLEAN NOT NULL DEFAULT FALSE, run_date DATE,
        suite_version INTEGER, checked_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta.quality_runs (
        run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, run_date DATE, verdict VARCHAR NOT NULL,
        passed BOOLEAN NOT NULL, blocked BOOLEAN NOT NULL, checks INTEGER, critical_failures INTEGER,
        warnings INTEGER, failing_checks VARCHAR, data_docs_path VARCHAR, checked_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta.quality_run_attempts (
        run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, run_date DATE, verdict VARCHAR NOT NULL,
        passed BOOLEAN NOT NULL, blocked BOOLEAN NOT NULL, checks INTEGER, critical_failures INTEGER,
        warnings INTEGER, failing_checks VARCHAR, data_docs_path VARCHAR, checked_at TIMESTAMP NOT NULL,
        attempt INTEGER NOT NULL, replaced_at TIMESTAMP NOT NULL, archived_report VARCHAR)""",
)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the quality tables when they do not exist yet."""
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    for statement in DDL:
        con.execute(statement)


def next_attempt(con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> int | None:
    """The attempt number the current verdict of the run's stage gets once replaced (None: no verdict yet)."""
    if not con.execute("SELECT count(*) FROM meta.quality_runs WHERE run_id = ? AND stage = ?",
                       [run_id, stage]).fetchall()[0][0]:
        return None
    return con.execute("SELECT count(*) + 1 FROM meta.quality_run_attempts WHERE run_id = ? AND stage = ?",
                       [run_id, stage]).fetchall()[0][0]


def verdict(con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> str | None:
    """The current verdict (``passed`` | ``failed``) of the run's stage (None: not run)."""
    rows = con.execute("SELECT verdict FROM meta.quality_runs WHERE run_id = ? AND stage = ?", [run_id, stage]).fetchall()
    return rows[0][0] if rows else None


def save_stage(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    stage: str,
    run_date: date,
    results: Iterable[dict[str, Any]],
    verdict: dict[str, Any],
    checked_at: datetime,
    archived_report: str | None = None,
) -> None:
    """Replace this run's results and verdict for ``stage`` atomically; the replaced verdict is kept
    in ``meta.quality_run_attempts`` (``archived_report``: the report file that showed it)."""
    rows = [
        (run_id, stage, r["check_name"], r["severity"], r["description"], r["observed"], r["threshold"],
         r["passed"], r["is_skipped"], run_date, r["suite_version"], checked_at)
        for r in results
    ]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta.quality_results WHERE run_id = ? AND stage = ?", [run_id, stage])
        if rows:
            con.executemany("INSERT INTO meta.quality_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute(
            "INSERT INTO meta.quality_run_attempts SELECT *, (SELECT count(*) + 1 FROM meta.quality_run_attempts "
            "WHERE run_id = ? AND stage = ?), ?, ? FROM meta.quality_runs WHERE run_id = ? AND stage = ?",
            [run_id, stage, checked_at, archived_report, run_id, stage])
        con.execute("DELETE FROM meta.quality_runs WHERE run_id = ? AND stage = ?", [run_id, stage])
        con.execute(
            "INSERT INTO meta.quality_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, stage, run_date, verdict["verdict"], verdict["passed"], verdict["blocked"], verdict["checks"],
             verdict["critical_failures"], verdict["warnings"], verdict["failing_checks"],
             verdict["data_docs_path"], checked_at],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
