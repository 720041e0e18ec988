"""The nightly pipeline as plain functions: one per stage, each a transaction on the warehouse.

The Airflow DAG and ``cdp run`` call the same functions, so the pipeline can be debugged and
tested without Airflow. Every stage records its start, end and outcome in ``meta.pipeline_runs``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from cdp.clock import audit_now
from cdp.settings import Settings
from cdp.warehouse import connect, held, table_exists

log = logging.getLogger(__name__)

GATES = ("ingestion", "identity", "marts")


class ExportRefused(RuntimeError):
    """Exports were asked for a run whose quality gates have not all passed."""


def expected_stages(sources: tuple[str, ...] | None = None) -> list[str]:
    """Every stage a complete nightly run records in ``meta.pipeline_runs``, in order."""
    if sources is None:
        from ingestion.runner import SOURCES as sources
    return [*(f"ingest:{source}" for source in sources), "quality:ingestion", "identity", "quality:identity",
            "marts", "quality:marts", "export"]


def make_run_id(run_date: date, prefix: str = "cdp") -> str:
    """The run id for a logical date: rerunning a day reuses (and replaces) that day's run."""
    return f"{prefix}_{run_date.isoformat()}"


# Airflow's own run ids: "scheduled__2026-11-01T00:00:00+00:00", "manual__<iso time>_<random>"
# (Airflow 3, no logical date). Their ':' and '+' sit at fixed places, so folding them to '_' keeps
# two of them apart, and they keep the names their runs always had.
_AIRFLOW_RUN_ID = re.compile(r"[a-z_]+__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?(_[A-Za-z0-9]+)?")


def safe_run_id(run_id: str) -> str:
    """A run id usable as a folder name, a different one for each run id (Airflow run ids contain ':' and '+').

    A run id of letters, digits, ``_``, ``.`` and ``-`` (``cdp_2026-11-01``) is its own folder name,
    and so is the result (calling this again changes nothing). Other characters become ``_``; for a
    run id that is not one of Airflow's own (those keep the name they always had) the first 8 hex
    digits of its SHA-256 are appended, so ``night:1`` and ``night+1`` no longer share a folder
    (before 2026-11-26 both were ``night_1``, and the later run's report replaced the earlier's).
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("._")
    if not cleaned:
        raise ValueError(f"run id {run_id!r} has no usable characters")
    if cleaned == run_id or _AIRFLOW_RUN_ID.fullmatch(run_id):
        return cleaned
    return f"{cleaned}-{hashlib.sha256(run_id.encode('utf-8')).hexdigest()[:8]}"


def _record_stage(settings: Settings, run_id: str, stage: str, status: str, started_at: datetime,
                  detail: dict[str, Any] | None) -> None:
    with connect(settings) as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS meta.pipeline_runs (
                run_id VARCHAR, run_date DATE, stage VARCHAR, status VARCHAR,
                started_at TIMESTAMP, finished_at TIMESTAMP, detail JSON)"""
        )
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM meta.pipeline_runs WHERE run_id = ? AND stage = ?", [run_id, stage])
        con.execute(
            "INSERT INTO meta.pipeline_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, settings.run_date, stage, status, started_at, audit_now(),
             json.dumps(detail or {}, default=str)],
        )
        con.execute("COMMIT")


@contextmanager
def _stage(settings: Settings, run_id: str, stage: str) -> Iterator[dict[str, Any]]:
    detail: dict[str, Any] = {}
    started = audit_now()
    t0 = time.perf_counter()
    log.info("stage %s started (run %s, run date %s)", stage, run_id, settings.run_date)
    _record_stage(settings, run_id, stage, "running", started, detail)
    try:
        yield detail
    except BaseException as exc:  # timeouts and terminations too: the run must not look green
        detail["error"] = f"{type(exc).__name__}: {exc}"
        _record_stage(settings, run_id, stage, "failed", started, detail)
        raise
    detail["stage_seconds"] = round(time.perf_counter() - t0, 2)  # a stage may report its own "seconds"
    _record_stage(settings, run_id, stage, "succeeded", started, detail)
    log.info("stage %s finished in %.1fs: %s", stage, detail["stage_seconds"], detail)


def ingest(settings: Settings, run_id: str, source: str | None = None) -> dict[str, Any]:
    """Load new landing-zone files / database rows of one source (or all) into raw tables."""
    from ingestion.runner import ingest as run_ingest

    settings.ensure_dirs()
    with _stage(settings, run_id, f"ingest:{source or 'all'}") as detail:
        reports = run_ingest(settings, run_id, source=source)
        detail["sources"] = {r.source: r.as_dict() for r in reports}
    return detail


def resolve_identities(settings: Settings, run_id: str) -> dict[str, Any]:
    """Resolve every person record to a stable customer id."""
    from identity.pipeline import resolve_warehouse

    with _stage(settings, run_id, "identity") as detail:
        detail.update(resolve_warehouse(settings, run_id))
    return detail


def build_marts(settings: Settings, run_id: str, full_refresh: bool = False) -> dict[str, Any]:
    """Run ``dbt build``: staging, intermediate, marts, segments and their tests.

    ``full_refresh`` rebuilds incremental models from scratch (needed after their columns change).
    """
    from cdp.dbt import build

    with _stage(settings, run_id, "marts") as detail:
        detail.update(build(settings, run_id, full_refresh=full_refresh))
    return detail


def quality_gate(settings: Settings, run_id: str, gate: str) -> dict[str, Any]:
    """Run one data-quality gate (ingestion, identity or marts); a critical failure raises."""
    from quality.gate import run_gate

    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; valid gates: {', '.join(GATES)}")
    with held(settings), _stage(settings, run_id, f"quality:{gate}") as detail:
        # A blocked gate writes the run report before it raises; a passing one leaves it to the end
        # of the run: every caller writes it then (run_all and `cdp quality gate` in `finally`, the
        # DAG's finish_run, which always runs, the benchmark's report step).
        result = run_gate(settings, run_id, gate, report_on_pass=False)
        detail.update({"passed": result.passed, "checks": len(result.checks),
                       "warnings": len(result.warnings)})
    return detail


def _export_problems(settings: Settings, run_id: str) -> tuple[list[str], list[str]]:
    """(problems of ``run_id``'s own gates, problems that mean another run's data is in the tables)."""
    verdicts: dict[str, tuple[str, Any]] = {}
    latest: dict[str, tuple[str, str, Any]] = {}
    rebuilt: dict[str, tuple[str, Any]] = {}
    if settings.warehouse_path.exists():
        with connect(settings, read_only=True) as con:
            if table_exists(con, "meta", "quality_runs"):
                verdicts = {stage: (verdict, checked_at) for stage, verdict, checked_at in con.execute(
                    "SELECT stage, verdict, checked_at FROM meta.quality_runs WHERE run_id = ?", [run_id]).fetchall()}
                # A tie (the same check time) counts the run's own verdict, else any that did not pass.
                latest = {stage: (run, verdict, checked_at) for stage, run, verdict, checked_at in con.execute(
                    "SELECT stage, arg_max(run_id, (checked_at, run_id = ?, verdict <> 'passed')), "
                    "arg_max(verdict, (checked_at, run_id = ?, verdict <> 'passed')), max(checked_at) "
                    "FROM meta.quality_runs WHERE stage IN ('identity', 'marts') GROUP BY stage",
                    [run_id, run_id]).fetchall()}
            if table_exists(con, "meta", "pipeline_runs"):
                rebuilt = {stage: (run, started_at) for stage, run, started_at in con.execute(
                    "SELECT stage, arg_max(run_id, started_at), max(started_at) FROM meta.pipeline_runs "
                    "WHERE stage IN ('identity', 'marts') GROUP BY stage").fetchall()}
    own = [f"{gate} ({verdicts.get(gate, ('not run',))[0]})" for gate in GATES
           if verdicts.get(gate, ("not run",))[0] != "passed"]
    newer: list[str] = []  # the tables now hold another run's data: the fix is exporting that run
    for gate in ("identity", "marts"):
        if gate not in verdicts or verdicts[gate][0] != "passed":
            continue
        checked_at = verdicts[gate][1]
        run, verdict, _ = latest.get(gate, (run_id, "passed", None))
        if verdict != "passed":
            newer.append(f"{gate} (the latest {gate} gate, of run {run}, {verdict} on the current tables (the ones "
                         f"an export publishes): fix the data, rerun that gate with cdp quality gate "
                         f"--stage {gate} --run-id {run}, then export run {run} with cdp export --run-id {run})")
            continue
        build_run, started_at = rebuilt.get(gate, (None, None))
        if started_at is None or started_at <= checked_at:
            continue
        if build_run == run_id:
            own.append(f"{gate} (rebuilt by this run at {started_at:%Y-%m-%d %H:%M:%S} UTC, after its {gate} gate "
                       f"checked it: rerun that gate with cdp quality gate --stage {gate} --run-id {run_id})")
        else:
            newer.append(f"{gate} (rebuilt by run {build_run} at {started_at:%Y-%m-%d %H:%M:%S} UTC, after this "
                         f"run's {gate} gate checked it, so the tables hold run {build_run}'s data: run that gate "
                         f"with cdp quality gate --stage {gate} --run-id {build_run} and export run {build_run} "
                         f"with cdp export --run-id {build_run})")
    return own, newer


def gates_not_passed(settings: Settings, run_id: str) -> list[str]:
    """The gates of ``run_id`` that did not run or did not pass (empty: the run may export).

    Also refused: the warehouse's latest identity or marts verdict (of any run) is not passed,
    or those tables were rebuilt after ``run_id``'s gate checked them. Exports read the current
    tables, not a copy per run, so a run id whose own gates passed earlier must not publish data
    that a later gate failed or that no gate has seen (``cdp export --run-date <yesterday>``, or
    clearing yesterday's export task). Each entry names the run and gate to fix, and what to do.
    """
    own, newer = _export_problems(settings, run_id)
    return own + newer


def export_audiences(settings: Settings, run_id: str, segment: str | None = None, fmt: str | None = None) -> dict[str, Any]:
    """Publish audience exports; refused unless every gate of this run passed and still holds
    (``gates_not_passed``)."""
    from exports.runner import export

    own, newer = _export_problems(settings, run_id)
    if own or newer:
        # Rerunning this run's gates is the fix only for its own gates: when a later run rebuilt or
        # failed the tables, they hold that run's data, and gating them under this run id would
        # publish them under the wrong run.
        advice = []
        if own:
            advice.append(f"Run the pipeline (cdp run --run-id {run_id}) or the gates (cdp quality gate "
                          f"--run-id {run_id}) first.")
        if newer:
            advice.append(f"The tables an export publishes are now the later run's named above: export that run "
                          f"once its gate passes; rerunning run {run_id}'s gates is not the fix (it would publish "
                          f"the later run's data under run {run_id}).")
        raise ExportRefused(f"run {run_id} cannot export: quality gates not passed: {', '.join(own + newer)}. "
                            + " ".join(advice))
    with held(settings), _stage(settings, run_id, "export") as detail:
        detail["exports"] = export(settings, run_id, segment=segment, fmt=fmt)
    return detail


def write_report(settings: Settings, run_id: str) -> str:
    """Write the run's compliance report (also after a failed run: it says what was blocked)."""
    from quality.report import write_run_report

    return str(write_run_report(settings, run_id))


def run_all(settings: Settings, run_id: str, on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every stage in order, as the DAG does; the report is written even when a stage fails."""
    from ingestion.runner import SOURCES

    steps: list[tuple[str, Callable[[], Any]]] = [
        (f"ingest:{source}", lambda source=source: ingest(settings, run_id, source)) for source in SOURCES
    ]
    steps += [
        ("quality:ingestion", lambda: quality_gate(settings, run_id, "ingestion")),
        ("identity", lambda: resolve_identities(settings, run_id)),
        ("quality:identity", lambda: quality_gate(settings, run_id, "identity")),
        ("marts", lambda: build_marts(settings, run_id)),
        ("quality:marts", lambda: quality_gate(settings, run_id, "marts")),
        ("export", lambda: export_audiences(settings, run_id)),
    ]
    try:
        for name, step in steps:
            if on_stage:
                on_stage(name)
            step()
    finally:
        write_report(settings, run_id)
    return summarize(settings, run_id)


def latest_run_id(settings: Settings, run_date: date | None = None) -> str | None:
    """The most recent run recorded in the warehouse, of ``run_date`` if given (None if there is none)."""
    if not settings.warehouse_path.exists():
        return None
    with connect(settings, read_only=True) as con:
        if not table_exists(con, "meta", "pipeline_runs"):
            return None
        where, params = ("WHERE run_date = ?", [run_date]) if run_date is not None else ("", [])
        rows = con.execute(f"SELECT run_id FROM meta.pipeline_runs {where} ORDER BY finished_at DESC LIMIT 1",
                           params).fetchall()
    return rows[0][0] if rows else None


def summarize(settings: Settings, run_id: str | None = None, run_date: date | None = None) -> dict[str, Any]:
    """What a run did, read back from the warehouse: the figures ``make demo`` prints.

    The run is ``run_id``, else the latest run of ``run_date``, else the latest run; ``run_date`` in
    the result is the one the run recorded (None when no such run is recorded).
    """
    out: dict[str, Any] = {"run_id": run_id, "run_date": None, "warehouse": str(settings.warehouse_path),
                           "exports": str(settings.export_dir), "reports": str(settings.reports_dir)}
    if run_id is None and run_date is not None:
        out["asked_run_date"] = str(run_date)
    if not settings.warehouse_path.exists():
        return out
    run_id = out["run_id"] = run_id or latest_run_id(settings, run_date)
    if run_id is None:
        return out
    with connect(settings, read_only=True) as con:
        def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
            return con.execute(sql, params or []).fetchall()

        if table_exists(con, "meta", "pipeline_runs"):
            recorded = rows("SELECT stage, status, run_date FROM meta.pipeline_runs WHERE run_id = ? ORDER BY started_at",
                            [run_id])
            out["stages"] = {stage: status for stage, status, _ in recorded}
            if recorded:
                out["run_date"] = str(recorded[-1][2])
        if table_exists(con, "meta", "ingest_manifest"):
            out["loaded_this_run"] = dict(rows(
                "SELECT source, sum(rows_loaded)::BIGINT FROM meta.ingest_manifest WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]))
            out["loaded_all_time"] = dict(rows(
                "SELECT source, sum(rows_loaded)::BIGINT FROM meta.ingest_manifest GROUP BY 1 ORDER BY 1"))
        if table_exists(con, "meta", "quarantine"):
            out["quarantined_all_time"] = dict(rows("SELECT source, count(*) FROM meta.quarantine GROUP BY 1 ORDER BY 1"))
        if table_exists(con, "identity", "customer_map"):
            records, customers = rows("SELECT count(*), count(DISTINCT customer_id) FROM identity.customer_map")[0]
            out["person_records"], out["customers"] = records, customers
        if table_exists(con, "marts", "segment_memberships"):
            out["segment_sizes"] = dict(rows(
                "SELECT segment_name, count(*) FROM marts.segment_memberships GROUP BY 1 ORDER BY 1"))
        if table_exists(con, "meta", "quality_runs"):
            verdicts = rows("SELECT * FROM meta.quality_runs WHERE run_id = ?", [run_id])
            cols = [d[0] for d in con.description]
            out["quality"] = [dict(zip(cols, v, strict=True)) for v in verdicts]
        if table_exists(con, "exports", "export_log"):
            out["exports_published"] = rows(
                "SELECT segment, destination, row_count, status FROM exports.export_log WHERE run_id = ? ORDER BY 1, 2", [run_id])
    report = settings.reports_dir / safe_run_id(run_id) / "report.html"
    if report.exists():
        out["report"] = str(report)
    return out


def stage_statuses(settings: Settings, run_id: str, stages: list[str] | None = None) -> dict[str, str]:
    """The status of each of ``stages`` (default: :func:`expected_stages`) of ``run_id`` by its latest
    attempt, as the run report judges it (``quality.report.latest_stage_statuses``): a stage redone
    under another name (``ingest:all``, a gate rerun outside the pipeline) counts as that attempt.
    Stages never attempted are left out."""
    from quality.report import latest_stage_statuses

    stages = expected_stages() if stages is None else stages
    if not settings.warehouse_path.exists():
        return {}
    with connect(settings, read_only=True) as con:
        def rows(sql: str) -> list[dict[str, Any]]:
            cursor = con.execute(sql, [run_id])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        recorded = (rows("SELECT stage, status, started_at FROM meta.pipeline_runs WHERE run_id = ?")
                    if table_exists(con, "meta", "pipeline_runs") else [])
        gates = (rows("SELECT stage, verdict, checked_at FROM meta.quality_runs WHERE run_id = ?")
                 if table_exists(con, "meta", "quality_runs") else [])
    return latest_stage_statuses(recorded, gates, stages)


def format_summary(summary: dict[str, Any]) -> str:
    """A short human summary of a run for the terminal."""
    if summary.get("run_id") is None:
        asked = summary.get("asked_run_date")
        lines = [f"No CDP run recorded yet{f' for run date {asked}' if asked else ''}"]
    elif summary.get("run_date") is None:
        lines = [f"CDP run {summary['run_id']}: no stage of it is recorded"]
    else:
        lines = [f"CDP run {summary['run_id']} (run date {summary['run_date']})"]
    if "stages" in summary:
        lines.append("  stages:       " + ", ".join(f"{k}={v}" for k, v in summary["stages"].items()))
    for key, label in (("loaded_this_run", "rows loaded (this run)"), ("loaded_all_time", "rows loaded (all runs)"),
                       ("quarantined_all_time", "quarantined")):
        if key in summary:
            values = summary[key] or {}
            lines.append(f"  {label + ':':<24}" + (", ".join(f"{k} {v:,}" for k, v in values.items()) or "none"))
    if "customers" in summary:
        lines.append(f"  {'customers resolved:':<24}{summary['customers']:,} from {summary['person_records']:,} person records")
    if "segment_sizes" in summary:
        lines.append(f"  {'segment sizes:':<24}" + ", ".join(f"{k} {v:,}" for k, v in summary["segment_sizes"].items()))
    if "quality" in summary:
        verdicts = ", ".join(f"{q.get('stage')}={q.get('verdict', q.get('passed'))}" for q in summary["quality"])
        lines.append(f"  {'quality verdict:':<24}{verdicts or 'not run'}")
    if "exports_published" in summary:
        # Blocked attempts stay in the export log beside the published rows (exports/state.py).
        published = [row for row in summary["exports_published"] if row[-1] == "published"]
        segments = len({segment for segment, *_ in published})
        lines.append(f"  {'exports published:':<24}{len(published)} (segment, format) file sets for {segments} segments")
    lines.append(f"  {'warehouse:':<24}{summary['warehouse']}")
    lines.append(f"  {'exports:':<24}{summary['exports']}")
    lines.append(f"  {'report:':<24}{summary.get('report', summary['reports'])}")
    return "\n".join(lines)
