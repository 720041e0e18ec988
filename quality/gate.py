"""Quality gates: run a stage's checks through Great Expectations, record them, block on failure.

Usage::

    result = run_gate(settings, run_id, "marts")          # ingestion | identity | marts
    result = run_export_gate(settings, run_id, frames, context)

Each gate reads its checks from ``quality/suites/<stage>.yml``, pulls the data each check needs
from the warehouse into pandas, validates it with GX (Data Docs under ``reports/<run>/data_docs``),
stores every result in ``meta.quality_results`` and the verdict in ``meta.quality_runs``,
rewrites the run report (when it passes, only unless ``report_on_pass=False``: the pipeline writes
it once at the end of the run), and only then raises ``QualityGateFailed`` when a critical check failed.
Warnings are reported and never block.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from cdp.clock import audit_now
from cdp.pipeline import safe_run_id as run_folder
from cdp.settings import Settings
from cdp.warehouse import connect, table_exists
from quality import store
from quality.suite_config import (
    STAGES,
    CheckSpec,
    Suite,
    describe_threshold,
    load_suite,
    query_parameters,
    resolve_kwargs,
    resolve_parameters,
)

_TEXT_REFERENCE = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
# Small frames (per-source rates, per-segment sizes) are shown in full in the report.
_SHOW_ALL_ROWS = 12
_EXAMPLES = 5
# Expectations on a measured value (a rate, a size), where the value itself is what a reader wants.
_VALUE_EXPECTATIONS = {"expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
                       "expect_column_values_to_not_be_in_set"}


class QualityGateFailed(RuntimeError):
    """A critical check failed; the run must stop before anything is published."""

    def __init__(self, result: GateResult):
        self.result = result
        failing = ", ".join(f"{c.name} (observed {c.observed}; expected {c.threshold})" for c in result.critical_failures)
        super().__init__(
            f"quality gate '{result.stage}' failed for run {result.run_id}: {failing}. "
            f"Nothing downstream of this gate runs. Report: {result.report_path}"
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, in terms a reviewer can read."""

    name: str
    description: str
    severity: str
    observed: str
    threshold: str
    passed: bool
    skipped: bool = False


@dataclass
class GateResult:
    """The verdict of one gate for one run."""

    stage: str
    run_id: str
    passed: bool
    checks: list[CheckResult]
    blocked: bool
    data_docs_path: Path | None = None
    report_path: Path | None = None  # the run report, when this gate wrote it (always when it blocked)
    suite_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def critical_failures(self) -> list[CheckResult]:
        """Failed critical checks: each one blocks the run."""
        return [c for c in self.checks if not c.passed and c.severity == "critical"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed warning checks: reported, not blocking."""
        return [c for c in self.checks if not c.passed and c.severity == "warning"]


def run_gate(
    settings: Settings,
    run_id: str,
    stage: str,
    frames: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    *,
    report_on_pass: bool = True,
) -> GateResult:
    """Run the gate of ``stage``; raise ``QualityGateFailed`` after recording a critical failure.

    ``frames``/``context`` are only used by the ``export`` stage (see ``run_export_gate``).
    A gate that blocks always writes the run report before it raises (the run stops there, and the
    report says why). ``report_on_pass=False`` skips the report when the gate passes: for callers
    that write it themselves once the run ends (``cdp.pipeline.quality_gate``: ``run_all`` and
    ``cdp quality gate`` write it in ``finally``, the DAG's ``finish_run`` always runs, the
    benchmark has its ``report`` step), so a night writes it once instead of once per gate.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown quality gate {stage!r}: choose one of {', '.join(STAGES)}")
    if stage == "export":
        if frames is None:
            raise ValueError("the export gate validates the frames an exporter is about to publish: "
                             "call run_export_gate(settings, run_id, frames, context)")
        return run_export_gate(settings, run_id, frames, context)
    return _run(settings, run_id, load_suite(stage), dataset_builder=None, report_on_pass=report_on_pass)


def run_export_gate(
    settings: Settings,
    run_id: str,
    frames: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> GateResult:
    """Validate audience frames before they are published; raise ``QualityGateFailed`` if unsafe.

    frames: export name (e.g. the file name) -> pandas DataFrame or pyarrow Table, exactly the
        rows that will be written.
    context (all keys optional; a value may be one value for all frames or {export name: value}):
        ``segments`` / ``segment_name``: the segment each export is for (consent purpose is read
        from marts.segments); ``consent_purpose``: override (email_marketing, sms_marketing,
        ad_targeting, none); ``destination``: csv, parquet, google or meta (google and meta also
        require ad_targeting consent, exports.formats.DESTINATION_CONSENT); ``destination_consent``:
        an extra purpose every exported customer must have consented to; ``hashed_columns``: columns that must hold SHA-256 hex (default:
        names ending in _sha256/_hash/_hashed or starting with hashed_); ``customer_id_column``
        (default ``customer_id``); ``customer_ids``: the customer id of each row, in row order,
        when the published file does not carry it.
    Call it without holding a warehouse connection open (it opens its own to record results).
    """
    from quality.export_datasets import build_datasets

    frames = dict(frames)
    context = dict(context or {})
    return _run(settings, run_id, load_suite("export"),
                dataset_builder=lambda con: build_datasets(con, frames, context, settings.default_phone_region))


def _run(
    settings: Settings,
    run_id: str,
    suite: Suite,
    dataset_builder: Callable[[duckdb.DuckDBPyConnection], Any] | None,
    report_on_pass: bool = True,
) -> GateResult:
    """Run ``suite``; ``dataset_builder`` (export only) returns a ``quality.export_datasets.ExportDatasets``.

    The run report is written when the gate blocks, and when it passes unless ``report_on_pass`` is False.
    """
    from quality.gx_validation import PlannedCheck, validate
    from quality.report import write_run_report

    parameters = resolve_parameters(suite, settings)
    query_values = {"run_id": run_id, "run_date": settings.run_date, **parameters}
    planned = [PlannedCheck(spec, resolve_kwargs(spec.kwargs, parameters)) for spec in suite.checks]
    frames: dict[str, pd.DataFrame] = {}
    not_loaded: dict[str, str] = {}  # check name -> why its data could not be read

    with connect(settings) as con:
        store.ensure_tables(con)
        built = dataset_builder(con) if dataset_builder else None
        datasets = built.frames if built else {}
        # What a check covered beyond its GX frame (export: rows verified set-based, unchanged rows).
        notes = built.notes if built else {}
        planned = [replace(check, note=notes.get(check.spec.name)) for check in planned]
        for check in planned:
            spec = check.spec
            missing = [t for t in spec.requires if not table_exists(con, *t.split(".", 1))]
            if missing:
                not_loaded[spec.name] = f"skipped: {', '.join(missing)} not in the warehouse (source not loaded)"
                continue
            if spec.data_key in frames:
                continue
            if spec.dataset:
                if spec.dataset not in datasets:
                    not_loaded[spec.name] = f"error: dataset {spec.dataset!r} was not built"
                    continue
                frames[spec.data_key] = datasets[spec.dataset]
                continue
            try:
                frames[spec.data_key] = read_frame(con, spec.query, query_parameters(spec.query, query_values))
            except duckdb.Error as exc:
                not_loaded[spec.name] = f"error: could not read the data ({str(exc).splitlines()[0]})"

    folder = settings.reports_dir / run_folder(run_id)
    docs_dir = folder / "data_docs"
    outcomes = validate(suite.stage, [c for c in planned if c.spec.name not in not_loaded], frames,
                        gx_root=folder / "gx", docs_dir=docs_dir)

    results = []
    for check in planned:
        spec = check.spec
        description = _render(spec.description, parameters)
        threshold = describe_threshold(spec.expectation, check.kwargs)
        if spec.name in not_loaded:
            reason = not_loaded[spec.name]
            skipped = reason.startswith("skipped")
            results.append(CheckResult(spec.name, description, spec.severity, reason, threshold,
                                       passed=skipped, skipped=skipped))
            continue
        outcome = outcomes.get(spec.name)
        if outcome is None or "error" in outcome.result:
            error = outcome.result["error"] if outcome else "Great Expectations returned no result"
            results.append(CheckResult(spec.name, description, spec.severity,
                                       f"error: could not evaluate ({error})", threshold, passed=False))
            continue
        frame = frames[spec.data_key]
        observed = _observed(spec, check.kwargs, outcome.result, frame)
        if len(frame) == 1 and not check.note:  # a single measured value: "for every row" would confuse
            threshold = threshold.removesuffix(" for every row")
        if check.note:
            observed = f"{observed} (GX frame); {check.note}"
        results.append(CheckResult(spec.name, description, spec.severity, observed, threshold, outcome.success))

    blocked = any(not c.passed and c.severity == "critical" for c in results)
    result = GateResult(stage=suite.stage, run_id=run_id, passed=not blocked, checks=results, blocked=blocked,
                        data_docs_path=docs_dir / "index.html", suite_version=suite.version)
    # The export gate keeps the rows it passed, so tomorrow it need not look at unchanged ones again.
    _record(settings, result, keep=built.save if built is not None and not blocked else None)
    if blocked or report_on_pass:
        result.report_path = write_run_report(settings, run_id)
    if blocked:
        raise QualityGateFailed(result)
    return result


def read_frame(con: duckdb.DuckDBPyConnection, query: str, parameters: dict[str, Any]) -> pd.DataFrame:
    """The result of ``query`` as the pandas frame DuckDB's ``.df()`` would give, read through Arrow.

    ``.df()`` converts every value itself: at 1M it took 2.3 of the 2.8 s (CPU) of reading the
    customer map. Arrow hands the columns over nearly as they are (strings stay Arrow-backed,
    which is the pandas string dtype anyway), so the frame costs a fraction. The dtypes are made
    those of ``.df()`` so GX judges and the report prints exactly the same values: decimals (e.g.
    ``sum`` of integers) as float, dates as datetime64, integers and booleans that hold NULLs as
    pandas' nullable types. Columns of any other type (lists, intervals, ...) fall back to
    ``.df()``.
    """
    table = con.sql(query, params=parameters).to_arrow_table()
    nullable: dict[str, pd.api.extensions.ExtensionDtype] = {}
    for position, (name, column) in enumerate(zip(table.column_names, table.columns, strict=True)):
        kind = column.type
        if pa.types.is_decimal(kind):
            table = table.set_column(position, name, column.cast(pa.float64()))
        elif pa.types.is_date(kind):
            table = table.set_column(position, name, column.cast(pa.timestamp("us")))
        elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
            if column.null_count:
                nullable[name] = (pd.BooleanDtype() if pa.types.is_boolean(kind) else
                                  pd.api.types.pandas_dtype(f"{'U' if pa.types.is_unsigned_integer(kind) else ''}"
                                                            f"Int{kind.bit_width}"))
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_floating(kind)
                  or pa.types.is_timestamp(kind) or pa.types.is_null(kind)):
            return con.execute(query, parameters).df()
    if len(set(table.column_names)) < table.num_columns:  # duplicate names: leave them to DuckDB
        return con.execute(query, parameters).df()
    frame = table.to_pandas()
    for name, dtype in nullable.items():
        frame[name] = table.column(name).to_pandas(types_mapper={table.schema.field(name).type: dtype}.get)
    return frame


def _record(settings: Settings, result: GateResult,
            keep: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
    # Audit timestamp of when the check ran, never used in business logic.
    checked_at = audit_now()
    rows = [
        {"check_name": c.name, "severity": c.severity, "description": c.description, "observed": c.observed,
         "threshold": c.threshold, "passed": c.passed, "is_skipped": c.skipped, "suite_version": result.suite_version}
        for c in result.checks
    ]
    failing = [c.name for c in result.checks if not c.passed]
    verdict = {
        "verdict": "failed" if result.blocked else "passed",
        "passed": result.passed,
        "blocked": result.blocked,
        "checks": len(result.checks),
        "critical_failures": len(result.critical_failures),
        "warnings": len(result.warnings),
        "failing_checks": ", ".join(failing) or None,
        "data_docs_path": str(result.data_docs_path) if result.data_docs_path else None,
    }
    with connect(settings) as con:
        store.ensure_tables(con)
        archived = _archive_report(settings, con, result.run_id, result.stage)
        store.save_stage(con, result.run_id, result.stage, settings.run_date, rows, verdict, checked_at,
                         archived_report=archived)
        if keep is not None:
            keep(con)


def _archive_report(settings: Settings, con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> str | None:
    """Keep the run's report before a rerun of ``stage`` replaces its verdict: copied to
    ``report-<stage>-attempt-<n>.html`` (and ``.json``) beside it; returns that file name (None: nothing to keep).

    A blocked attempt wrote the report itself, so that copy is kept as it is. A passed attempt may
    not have (``report_on_pass=False``: the report of the run is written once, when it ends), so the
    report is first written from the warehouse, which still holds the verdict being replaced.
    """
    from quality.report import write_run_report_with

    attempt = store.next_attempt(con, run_id, stage)
    folder = settings.reports_dir / run_folder(run_id)
    if attempt is not None and store.verdict(con, run_id, stage) == "passed":
        write_run_report_with(con, settings, run_id)
    if attempt is None or not (folder / "report.html").exists():
        return None
    name = f"report-{stage}-attempt-{attempt}"
    for suffix in (".html", ".json"):
        if (folder / f"report{suffix}").exists():
            shutil.copyfile(folder / f"report{suffix}", folder / f"{name}{suffix}")
    return f"{name}.html"


def _render(text: str, parameters: dict[str, Any]) -> str:
    """Put the run's threshold values into a description written with ${name} references."""
    return _TEXT_REFERENCE.sub(lambda m: _format_value(parameters.get(m.group(1), m.group(0))), text)


def _format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    try:
        if pd.isna(value):
            return "n/a"
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _label(frame: pd.DataFrame, index: Any, label_columns: tuple[str, ...]) -> str:
    columns = [c for c in label_columns if c in frame.columns]
    if not columns or index not in frame.index:
        return f"row {index}"
    return "/".join(_format_value(frame.at[index, c]) for c in columns)


def _observed(spec: CheckSpec, kwargs: dict[str, Any], result: dict[str, Any], frame: pd.DataFrame) -> str:
    """What the check saw: the value itself for small frames, else counts, range and examples."""
    if "observed_value" in result:
        value = result["observed_value"]
        if spec.expectation.startswith("expect_table_row_count"):
            return f"{value} row{'' if value == 1 else 's'}"
        return _format_value(value)
    column = kwargs.get("column")
    unexpected = result.get("unexpected_count")
    total = result.get("element_count", len(frame))
    shows_values = spec.expectation in _VALUE_EXPECTATIONS and spec.show_values and column in frame.columns
    if shows_values and 0 < len(frame) <= _SHOW_ALL_ROWS:
        if spec.label_columns:
            shown = "; ".join(sorted(f"{_label(frame, i, spec.label_columns)} = {_format_value(v)}"
                                     for i, v in frame[column].items()))
        else:
            shown = ", ".join(sorted(_format_value(v) for v in frame[column]))
        text = f"{column}: {shown}"
        return f"{text} ({unexpected} outside the threshold)" if unexpected else text
    if unexpected is None:
        return "no result details"
    text = f"{unexpected} of {total} rows fail"
    if shows_values and spec.expectation == "expect_column_values_to_be_between" and frame[column].notna().any():
        text += f"; {column} ranges from {_format_value(frame[column].min())} to {_format_value(frame[column].max())}"
    if unexpected:
        indexes = result.get("partial_unexpected_index_list") or []
        values = result.get("partial_unexpected_list") or []
        examples: list[str] = []
        # Sorted before the first few are taken: a query without ORDER BY (a GROUP BY) returns its
        # rows in any order, and the report of one warehouse must read the same on every run.
        if indexes and spec.label_columns:
            for index in indexes:
                label = _label(frame, index, spec.label_columns)
                examples.append(f"{label} ({_format_value(frame.at[index, column])})"
                                if column in frame.columns and spec.show_values else label)
            examples = sorted(examples)[:_EXAMPLES]
        elif spec.show_values:
            examples = sorted(_format_value(v) for v in values)[:_EXAMPLES]
        if examples:
            text += "; e.g. " + ", ".join(examples)
    return text
