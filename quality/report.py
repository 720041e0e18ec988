"""The compliance run report: ``reports/<run>/report.html`` + ``report.json`` and ``reports/index.html``.

Everything is rebuilt from the warehouse (``meta.quality_results``, ``meta.quality_runs`` and the
row counts of each stage), so a report can be regenerated at any time, also after a failed run.
The HTML is self-contained: inline CSS, no scripts, fonts, images or links to other sites, so it
opens offline and can be attached to an audit file as is.
"""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from cdp.settings import Settings
from cdp.warehouse import connect, table_exists
from quality.gate import run_folder
from quality.suite_config import STAGES

STAGE_TITLES = {
    "ingestion": "Ingestion (raw data loaded from the sources)",
    "identity": "Identity resolution (source records grouped into customers)",
    "marts": "Customer marts (customer table and audience segments)",
    "export": "Audience exports (files sent to marketing and ad platforms)",
}
DOWNSTREAM = {
    "ingestion": "identity resolution, the customer marts and all audience exports",
    "identity": "the customer marts and all audience exports",
    "marts": "all audience exports",
    "export": "publishing of the checked audience files",
}

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2330;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #e3e6ec;
padding-bottom:.3rem}h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d8dce4;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.15rem .55rem;border-radius:.3rem;font-weight:600;font-size:.85rem}
.passed{background:#dff3e4;color:#14532d}.failed{background:#fde2e1;color:#7f1d1d}
.warning{background:#fff4d6;color:#78350f}.skipped{background:#eceff3;color:#374151}
.verdict{font-size:1.1rem;padding:.3rem .8rem}.muted{color:#5b6474;font-size:.85rem}
.box{border:1px solid #d8dce4;border-radius:.4rem;padding:.7rem 1rem;background:#fafbfc}
code{font-size:.85em;word-break:break-all}
"""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, table]).fetchall()}


def _collect(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """Every fact the report shows, read from the warehouse."""
    data: dict[str, Any] = {"stages": [], "checks": [], "counts": {}}
    if table_exists(con, "meta", "quality_runs"):
        data["stages"] = _rows(con, """
            SELECT * FROM meta.quality_runs WHERE run_id = ?
            ORDER BY CASE stage WHEN 'ingestion' THEN 1 WHEN 'identity' THEN 2 WHEN 'marts' THEN 3 ELSE 4 END""",
            [run_id])
    if table_exists(con, "meta", "quality_run_attempts"):
        data["earlier_attempts"] = _rows(con, """
            SELECT stage, attempt, verdict, critical_failures, failing_checks, checked_at, replaced_at,
                   archived_report
            FROM meta.quality_run_attempts WHERE run_id = ? ORDER BY checked_at, stage""", [run_id])
    if table_exists(con, "meta", "quality_results"):
        data["checks"] = _rows(con, """
            SELECT stage, check_name, severity, description, observed, threshold, passed, is_skipped, checked_at
            FROM meta.quality_results WHERE run_id = ? ORDER BY stage, check_name""", [run_id])
    if table_exists(con, "meta", "pipeline_runs"):
        data["pipeline_stages"] = _rows(con, """
            SELECT stage, status, started_at, finished_at, json_extract_string(detail, '$.error') AS error
            FROM meta.pipeline_runs WHERE run_id = ? ORDER BY started_at""", [run_id])
        data["superseded_failures"] = superseded_failures(data["pipeline_stages"], data["stages"])
    counts = data["counts"]
    if table_exists(con, "meta", "ingest_manifest"):
        counts["ingestion"] = _rows(con, """
            SELECT source, count(*) AS objects, sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded,
                   sum(rows_quarantined) AS rows_quarantined, sum(rows_skipped) AS rows_skipped,
                   string_agg(DISTINCT status, ', ' ORDER BY status) AS statuses
            FROM meta.ingest_manifest WHERE run_id = ? GROUP BY source ORDER BY source""", [run_id])
    if table_exists(con, "meta", "quarantine"):
        # By the reason's code ("invalid-json: ..." is invalid-json), with one full reason as an
        # example: the full texts name a line, a value or a messageId, so a row per text listed
        # every record again (8,903 rows at 100k customers on a night of duplicate messageIds).
        counts["quarantine"] = _rows(con, """
            SELECT source, trim(split_part(reason, ':', 1)) AS reason, count(*) AS records,
                   min(reason) AS example
            FROM meta.quarantine WHERE run_id = ?
            GROUP BY ALL ORDER BY source, records DESC, reason""", [run_id])
    if table_exists(con, "identity", "run_metrics"):
        metrics = _rows(con, "SELECT * FROM identity.run_metrics WHERE run_id = ? LIMIT 1", [run_id])
        counts["identity"] = metrics[0] if metrics else {}
    marts = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY table_name").fetchall()]
    counts["marts"] = [
        {"table": f"marts.{t}", "rows": con.execute(f'SELECT count(*) FROM marts."{t}"').fetchall()[0][0]} for t in marts
    ]
    if table_exists(con, "marts", "segments") and table_exists(con, "marts", "segment_memberships"):
        counts["segments"] = _rows(con, """
            SELECT s.segment_name, s.consent_purpose, count(m.customer_id) AS members
            FROM marts.segments AS s LEFT JOIN marts.segment_memberships AS m ON m.segment_name = s.segment_name
            GROUP BY ALL ORDER BY s.segment_name""")
    from exports.scrub import pending_erasures

    counts["pending_erasures"] = pending_erasures(con)
    if table_exists(con, "exports", "export_log"):
        where = "WHERE run_id = ?" if "run_id" in _columns(con, "exports", "export_log") else ""
        counts["exports"] = _rows(con, f"SELECT * FROM exports.export_log {where}", [run_id] if where else [])
    return data


def superseded_failures(pipeline_stages: list[dict[str, Any]], gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed pipeline stages of one run that a later attempt under another stage name redid.

    A rerun under the *same* stage name replaces the row in ``meta.pipeline_runs``; these are the
    reruns that do not: ``ingest:all`` (``cdp ingest`` without ``--source``) after ``ingest:<source>``
    failed, every ``ingest:<source>`` after ``ingest:all`` failed, and a gate rerun outside the
    pipeline (``quality.gate.run_gate``, recorded in ``meta.quality_runs`` as ``<gate>``) after
    ``quality:<gate>`` failed. Each is returned with ``superseded_by`` (what redid it, and when);
    the run's verdict follows that later attempt, and the report keeps the failure as an earlier
    attempt. The attempts are read by :func:`_latest_attempts`, as :func:`latest_stage_statuses`
    reads them: a failure is superseded when the latest attempt of every stage it stands for
    (``ingest:all`` stands for each source) succeeded under another name.
    """
    from ingestion.runner import SOURCES

    found = []
    for failed in (p for p in pipeline_stages if p["status"] == "failed"):
        stage = failed["stage"]
        covered = [f"ingest:{source}" for source in SOURCES] if stage == "ingest:all" else [stage]
        latest = _latest_attempts(pipeline_stages, gates, covered)
        if all(s in latest and latest[s].status == "succeeded" and latest[s].name != stage for s in covered):
            found.append({**failed, "superseded_by": ", ".join(latest[s].label for s in covered)})
    return found


def latest_stage_statuses(pipeline_stages: list[dict[str, Any]], gates: list[dict[str, Any]],
                          stages: list[str]) -> dict[str, str]:
    """The status of each of ``stages`` by its *latest* attempt, whatever name that attempt ran under
    (:func:`_latest_attempts`): a failure redone successfully is ``succeeded`` and a success redone
    unsuccessfully is ``failed``. A stage nothing attempted is left out. ``pipeline_stages``: rows
    with stage, status, started_at; ``gates``: meta.quality_runs rows (stage, verdict, checked_at).
    """
    return {stage: attempt.status for stage, attempt in _latest_attempts(pipeline_stages, gates, stages).items()}


class _Attempt(NamedTuple):
    when: Any
    order: int  # among attempts at the same time: the stage's own row, then ingest:all, then a gate run
    status: str
    name: str
    label: str


def _latest_attempts(pipeline_stages: list[dict[str, Any]], gates: list[dict[str, Any]],
                     stages: list[str]) -> dict[str, _Attempt]:
    """The latest attempt of each of ``stages``, whatever name it ran under: ``ingest:<source>`` is
    also attempted by ``ingest:all``, and ``quality:<gate>`` by a gate run outside the pipeline (its
    ``meta.quality_runs`` verdict: ``succeeded`` when passed, else ``failed``). The attempt that
    started (or was checked) last decides. A rerun under the same stage name replaces its row in
    ``meta.pipeline_runs``, so it is the latest by construction. A stage nothing attempted is left out.
    """
    recorded = {p["stage"]: p for p in pipeline_stages}
    verdicts = {g["stage"]: g for g in gates}
    found: dict[str, _Attempt] = {}
    for stage in stages:
        attempts = []
        if stage in recorded:
            own = recorded[stage]
            attempts.append(_Attempt(own["started_at"], 0, own["status"], stage, f"{stage} (started {own['started_at']})"))
        if stage.startswith("ingest:") and stage != "ingest:all" and "ingest:all" in recorded:
            run = recorded["ingest:all"]
            attempts.append(_Attempt(run["started_at"], 1, run["status"], "ingest:all",
                                     f"ingest:all (started {run['started_at']})"))
        if stage.startswith("quality:") and (gate := verdicts.get(stage.removeprefix("quality:"))):
            attempts.append(_Attempt(gate["checked_at"], 2, "succeeded" if gate["verdict"] == "passed" else "failed",
                                     gate["stage"], f"the {gate['stage']} gate ({gate['verdict']}, checked "
                                     f"{gate['checked_at']})"))
        attempts = [a for a in attempts if a.when is not None]
        if attempts:
            found[stage] = max(attempts, key=lambda a: (a.when, a.order))
    return found


def _verdict(stages: list[dict[str, Any]], pipeline_stages: list[dict[str, Any]] | None = None) -> str:
    """``failed`` when a gate blocked or any pipeline stage failed (e.g. an export stopped by a
    suppression row it cannot apply), else ``passed``; ``not run`` before any gate or stage ended."""
    if any(p["status"] == "failed" for p in pipeline_stages or []):
        return "failed"
    if not stages:
        return "not run"
    return "failed" if any(s["blocked"] for s in stages) else "passed"


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    stages = data["stages"]
    blocked = [s["stage"] for s in stages if s["blocked"]]
    checks = data["checks"]
    failed_critical = [c for c in checks if not c["passed"] and c["severity"] == "critical"]
    warnings = [c for c in checks if not c["passed"] and c["severity"] == "warning"]
    redone = {p["stage"] for p in data.get("superseded_failures", [])}
    failed = [p for p in data.get("pipeline_stages", []) if p["status"] == "failed" and p["stage"] not in redone]
    failed_stages = [p["stage"] for p in failed]
    verdict = _verdict(stages, failed)
    if verdict == "not run":
        sentence = "No quality gate has run for this run yet."
    elif blocked:
        stage = blocked[0]
        sentence = (f"The run was stopped at the {stage} gate because {len(failed_critical)} critical check(s) "
                    f"failed. {DOWNSTREAM[stage].capitalize()} did not run for this run, so no unchecked data "
                    "was published.")
    else:
        sentence = (f"All {len(checks)} checks of the gates that ran met their critical thresholds"
                    + (f"; {len(warnings)} warning(s) need a look but did not block the run." if warnings else "."))
    if failed_stages and not blocked:
        sentence = (f"The run failed: pipeline stage(s) that failed for another reason: {', '.join(failed_stages)}"
                    " (the reason is below)." + (f" {sentence}" if stages else ""))
        if "export" in failed_stages:
            published = [e for e in data["counts"].get("exports", []) if e.get("status") == "published"]
            sentence += (f" {len(published)} audience export(s) of this run are recorded as published."
                         if published else " No audience export of this run was published.")
    return {
        "verdict": verdict,
        "sentence": sentence,
        "blocked_stages": blocked,
        "failed_stages": [{"stage": p["stage"], "error": p.get("error")} for p in failed],
        "blocked": [f"{DOWNSTREAM[s]} (stopped by the {s} gate)" for s in blocked],
        "gates_run": [s["stage"] for s in stages],
        "gates_not_run": [s for s in STAGES if s not in {x["stage"] for x in stages}],
        "critical_failures": [c["check_name"] for c in failed_critical],
        "warnings": [c["check_name"] for c in warnings],
        "earlier_attempts_failed": [a for a in data.get("earlier_attempts", []) if a["verdict"] != "passed"],
        "earlier_stage_failures": [{"stage": p["stage"], "error": p.get("error"), "started_at": p["started_at"],
                                    "superseded_by": p["superseded_by"]}
                                   for p in data.get("superseded_failures", [])],
    }


def _status(check: dict[str, Any]) -> tuple[str, str]:
    if check["is_skipped"]:
        return "skipped", "SKIPPED"
    if check["passed"]:
        return "passed", "PASS"
    return ("failed", "FAIL") if check["severity"] == "critical" else ("warning", "WARN")


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return html.escape(f"{value:,.4g}")
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">Nothing recorded for this run.</p>'
    columns = columns or list(rows[0].keys())
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{_e(r.get(c))}</td>' if isinstance(r.get(c), int | float | Decimal)
            and not isinstance(r.get(c), bool) else f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render_html(run_id: str, run_date: Any, data: dict[str, Any], summary: dict[str, Any]) -> str:
    verdict = summary["verdict"]
    verdict_class = {"passed": "passed", "failed": "failed"}.get(verdict, "skipped")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Data quality report - run {_e(run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>Data quality report</h1><p class=\"muted\">Run <code>{_e(run_id)}</code>, logical date "
        f"{_e(run_date)}.</p>",
        f'<p>Verdict: <span class="badge verdict {verdict_class}" id="verdict">{_e(verdict.upper())}</span></p>',
        f'<div class="box"><p>{_e(summary["sentence"])}</p>',
    ]
    if summary["blocked"]:
        parts.append("<p><strong>Blocked:</strong> " + "; ".join(_e(b) for b in summary["blocked"]) + ".</p>")
    for attempt in summary["earlier_attempts_failed"]:
        link = (f' (its report: <a href="{_e(attempt["archived_report"])}">{_e(attempt["archived_report"])}</a>)'
                if attempt["archived_report"] else "")
        parts.append(f'<p class="earlier-attempt"><strong>An earlier attempt of this run failed:</strong> the '
                     f'{_e(attempt["stage"])} gate, attempt {_e(attempt["attempt"])}, checked at '
                     f'{_e(attempt["checked_at"])} UTC, {_e(attempt["verdict"].upper())} on '
                     f'<code>{_e(attempt["failing_checks"])}</code>{link}. This report shows the latest attempt.</p>')
    for earlier in summary["earlier_stage_failures"]:
        parts.append(f'<p class="earlier-attempt" data-stage="{_e(earlier["stage"])}"><strong>An earlier attempt of '
                     f'this run failed:</strong> pipeline stage {_e(earlier["stage"])}, started '
                     f'{_e(earlier["started_at"])} UTC: <code>{_e(earlier["error"] or "no reason recorded")}</code>. '
                     f'It was redone by {_e(earlier["superseded_by"])}; this report shows the latest attempt.</p>')
    for failed in summary["failed_stages"]:
        parts.append(f'<p class="stage-error" data-stage="{_e(failed["stage"])}"><strong>Stage '
                     f'{_e(failed["stage"])} failed:</strong> <code>{_e(failed["error"] or "no reason recorded")}'
                     "</code></p>")
    if summary["gates_not_run"]:
        parts.append("<p class=\"muted\">Gates not run (yet) for this run: "
                     + ", ".join(_e(s) for s in summary["gates_not_run"]) + ".</p>")
    parts.append("</div>")
    parts.append("<h2>How to read this report</h2><p>Each stage of the pipeline is followed by a gate: a list of "
                 "checks on the data it produced. A <strong>critical</strong> check that fails stops the run "
                 "before anything further happens, in particular before any audience is sent out. A "
                 "<strong>warning</strong> is reported for a person to look at but does not stop the run. "
                 "<em>Observed</em> is what the data showed; <em>threshold</em> is what the check requires. "
                 "A <em>skipped</em> check had no data to look at (for example a source that was not loaded).</p>")

    if data.get("pipeline_stages"):
        parts.append("<h2>Pipeline stages</h2>" + _table(data["pipeline_stages"]))
    parts.append("<h2>Gates</h2>")
    parts.append(_table([{"gate": s["stage"], "verdict": s["verdict"], "checks": s["checks"],
                          "critical failures": s["critical_failures"], "warnings": s["warnings"],
                          "checked at (UTC)": s["checked_at"]} for s in data["stages"]]))
    if data.get("earlier_attempts"):
        parts.append("<h3>Earlier attempts of this run (replaced by a rerun)</h3>" + _table(
            [{"gate": a["stage"], "attempt": a["attempt"], "verdict": a["verdict"],
              "critical failures": a["critical_failures"], "failing checks": a["failing_checks"],
              "checked at (UTC)": a["checked_at"], "replaced at (UTC)": a["replaced_at"],
              "archived report": a["archived_report"]} for a in data["earlier_attempts"]]))

    for stage in STAGES:
        checks = [c for c in data["checks"] if c["stage"] == stage]
        if not checks:
            continue
        parts.append(f'<h2 id="stage-{_e(stage)}">{_e(STAGE_TITLES[stage])}</h2>')
        parts.append("<table><thead><tr><th>Result</th><th>Check</th><th>What it verifies</th><th>Severity</th>"
                     "<th>Observed</th><th>Threshold</th></tr></thead><tbody>")
        for c in sorted(checks, key=lambda c: (c["passed"], c["severity"] != "critical", c["check_name"])):
            css, label = _status(c)
            parts.append(
                f'<tr class="check" data-check="{_e(c["check_name"])}" data-stage="{_e(stage)}" '
                f'data-result="{label}"><td><span class="badge {css}">{label}</span></td>'
                f'<td><code>{_e(c["check_name"])}</code></td><td>{_e(c["description"])}</td>'
                f'<td>{_e(c["severity"])}</td><td>{_e(c["observed"])}</td><td>{_e(c["threshold"])}</td></tr>')
        parts.append("</tbody></table>")

    counts = data["counts"]
    parts.append("<h2>Row counts</h2>")
    parts.append("<h3>Rows loaded per source (this run)</h3>" + _table(counts.get("ingestion", [])))
    parts.append("<h3>Records set aside (quarantined) by source and reason (this run)</h3>"
                 + _table(counts.get("quarantine", [])))
    identity = counts.get("identity") or {}
    parts.append("<h3>Identity resolution (this run)</h3>" + _table(
        [{"measure": k.replace("_", " "), "value": v} for k, v in identity.items() if k not in ("run_id",)]))
    parts.append("<h3>Customer marts (current contents)</h3>" + _table(counts.get("marts", [])))
    if "segments" in counts:
        parts.append("<h3>Audience segments</h3>" + _table(counts["segments"]))
    parts.append("<h3>Audience exports (this run)</h3>" + (
        _table(counts["exports"]) if "exports" in counts else '<p class="muted">No export log in the warehouse.</p>'))
    pending = counts.get("pending_erasures") or []
    parts.append("<h3>Erasure requests that match nobody yet</h3>" + (
        f'<p class="pending-erasures">{len(pending)} erasure request(s) matched no customer when the last export '
        "checked them. They stay pending: every export checks them again, and once a customer matches one "
        "(a record with that e-mail, phone or store number arrives) that customer is removed from every "
        "retained export run. The identifiers are not shown here; each request is named by its file and line "
        "in the suppression list.</p>" + _table(pending)
        if pending else '<p class="muted">None: every erasure request checked so far matched a customer.</p>'))
    parts.append('<h2>Technical detail</h2><p class="muted">Every check ran through Great Expectations; its '
                 'validation pages are in the <code>data_docs</code> folder next to this file '
                 '(<a href="data_docs/index.html">data_docs/index.html</a>). The same results are stored in the '
                 'warehouse tables <code>meta.quality_results</code> and <code>meta.quality_runs</code>.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_index(con: duckdb.DuckDBPyConnection | None, reports_dir: Path) -> Path:
    runs: list[dict[str, Any]] = []
    if con is not None and table_exists(con, "meta", "quality_runs"):
        runs = _rows(con, """
            SELECT run_id, max(run_date) AS run_date, bool_or(blocked) AS blocked,
                   string_agg(stage || ': ' || verdict, ', ' ORDER BY checked_at) AS gates,
                   sum(critical_failures) AS critical_failures, sum(warnings) AS warnings,
                   max(checked_at) AS last_checked_at
            FROM meta.quality_runs GROUP BY run_id ORDER BY last_checked_at DESC""")
        # A run with a failed pipeline stage (say an export stopped by a suppression row it cannot
        # apply) is failed too, also when every gate that ran passed, unless a later attempt under
        # another stage name redid that stage (superseded_failures), as in the run's own report.
        failing = {row[0] for row in con.execute(
            "SELECT DISTINCT run_id FROM meta.pipeline_runs WHERE status = 'failed'").fetchall()} \
            if table_exists(con, "meta", "pipeline_runs") else set()
        for run in runs:
            run["failed_stages"] = None
            if run["run_id"] not in failing:
                continue
            stages = _rows(con, "SELECT stage, status, started_at FROM meta.pipeline_runs WHERE run_id = ? "
                                "ORDER BY started_at", [run["run_id"]])
            gates = _rows(con, "SELECT stage, verdict, checked_at FROM meta.quality_runs WHERE run_id = ?",
                          [run["run_id"]])
            redone = {p["stage"] for p in superseded_failures(stages, gates)}
            still = [p["stage"] for p in stages if p["status"] == "failed" and p["stage"] not in redone]
            run["failed_stages"] = ", ".join(still) or None
    rows = []
    for run in runs:
        verdict = "failed" if run["blocked"] or run["failed_stages"] else "passed"
        if run["failed_stages"]:
            run["gates"] = f"{run['gates']}; failed stage(s): {run['failed_stages']}"
        link = f"{run_folder(run['run_id'])}/report.html"
        rows.append(
            f'<tr class="run" data-run="{_e(run["run_id"])}"><td><a href="{_e(link)}">{_e(run["run_id"])}</a></td>'
            f'<td>{_e(run["run_date"])}</td><td><span class="badge {verdict}">{verdict.upper()}</span></td>'
            f'<td>{_e(run["gates"])}</td><td class="num">{_e(run["critical_failures"])}</td>'
            f'<td class="num">{_e(run["warnings"])}</td><td>{_e(run["last_checked_at"])}</td></tr>')
    body = ("<table><thead><tr><th>Run</th><th>Logical date</th><th>Verdict</th><th>Gates</th>"
            "<th>Critical failures</th><th>Warnings</th><th>Last checked (UTC)</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>") if rows else '<p class="muted">No run has been checked yet.</p>'
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data quality runs</title>"
            f"<style>{CSS}</style></head><body><h1>Data quality runs</h1><p>Every pipeline run with the verdict of "
            f"its quality gates, newest first. Open a run for its full report.</p>{body}</body></html>")
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_run_report(settings: Settings, run_id: str) -> Path:
    """Write ``reports/<run>/report.html`` and ``report.json`` and refresh ``reports/index.html``."""
    if settings.warehouse_path.exists():
        # Read-only, so `cdp report` works beside other readers; inside a gate's stage, which holds
        # the warehouse read-write (cdp.warehouse.held), connect() opens it read-write.
        with connect(settings, read_only=True) as con:
            return write_run_report_with(con, settings, run_id)
    return write_run_report_with(None, settings, run_id)


def write_run_report_with(con: duckdb.DuckDBPyConnection | None, settings: Settings, run_id: str) -> Path:
    """:func:`write_run_report` on an open warehouse connection (None: no warehouse yet)."""
    folder = settings.reports_dir / run_folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    if con is not None:
        data = _collect(con, run_id)
        _write_index(con, settings.reports_dir)
    else:
        data = {"stages": [], "checks": [], "counts": {}}
        _write_index(None, settings.reports_dir)
    run_date = data["stages"][0]["run_date"] if data["stages"] else settings.run_date
    summary = _summary(data)
    document = {
        "run_id": run_id,
        "run_date": run_date,
        **summary,
        "gates": data["stages"],
        "checks": [
            {**c, "result": _status(c)[1]} for c in data["checks"]
        ],
        "pipeline_stages": data.get("pipeline_stages", []),
        "earlier_attempts": data.get("earlier_attempts", []),
        "row_counts": data["counts"],
        "data_docs": "data_docs/index.html",
    }
    (folder / "report.json").write_text(json.dumps(document, indent=2, default=_json_default), encoding="utf-8")
    path = folder / "report.html"
    path.write_text(_render_html(run_id, run_date, data, summary), encoding="utf-8")
    return path


def latest_verdict(settings: Settings, run: str | None = None) -> tuple[str, Path]:
    """(verdict, report path) of ``run`` or of the most recently checked run; rewrites its report.

    Verdict is ``passed``, ``failed`` or ``not run``. Raises LookupError when no run was checked.
    """
    if run is None:
        row = None
        if settings.warehouse_path.exists():
            with connect(settings, read_only=True) as con:
                if table_exists(con, "meta", "quality_runs"):
                    found = con.execute(
                        "SELECT run_id FROM meta.quality_runs GROUP BY run_id ORDER BY max(checked_at) DESC LIMIT 1"
                    ).fetchall()
                    row = found[0] if found else None
        if row is None:
            raise LookupError(f"no quality gate has run yet (no rows in meta.quality_runs in {settings.warehouse_path})")
        run = row[0]
    path = write_run_report(settings, run)
    verdict = json.loads((path.parent / "report.json").read_text(encoding="utf-8"))["verdict"]
    return verdict, path
