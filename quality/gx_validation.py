"""Run a gate's checks through Great Expectations and build its Data Docs.

The stores are file-based under ``reports/<run>/gx`` so every stage of one run lands in the same
validation store, and the Data Docs in ``reports/<run>/data_docs`` list all of them (the context
itself is ephemeral: see ``_context``). Batches are pandas frames pulled from DuckDB: GX's SQL datasource gives wrong answers on
DuckDB, and the frames are what the gate itself has already read.

Data Docs are built incrementally: each gate renders the pages of its own suites and validation
results and rebuilds the index, instead of re-rendering every earlier gate's pages of the run.

One dataframe asset per distinct frame (checks that share a query share the asset), one
expectation suite and one validation definition per asset, and one checkpoint per asset because a
checkpoint hands the same batch parameters (the dataframe) to all its validation definitions.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import pandas as pd

from quality.suite_config import CheckSpec, expectation_class_name

# GX phones home for analytics unless told not to; the pipeline runs without network.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DOCS_SITE = "run_report"
# SUMMARY without the failing values: counts, percentages and the failing rows' frame indexes
# (the report names those rows by its label columns) but no partial_unexpected_list or _counts.
HIDDEN_VALUES_FORMAT = {"result_format": "SUMMARY", "exclude_unexpected_values": True}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GxOutcome:
    """What GX said about one check."""

    success: bool
    result: dict[str, Any]


@dataclass(frozen=True)
class PlannedCheck:
    """A check with its thresholds resolved, ready to hand to GX."""

    spec: CheckSpec
    kwargs: dict[str, Any]
    note: str | None = None  # what this run's check covered beyond its frame (shown in the Data Docs)


def _asset_name(stage: str, label: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", f"{stage}__{label}".lower())


def _context(gx_root: Path, docs_dir: Path) -> Any:
    """An ephemeral GX context whose validation results live on disk under ``gx_root``.

    The project config stays in memory: a file-mode context re-reads and rewrites its
    ``great_expectations.yml`` on every suite, definition and checkpoint it touches (some 500
    YAML parses per gate, about two thirds of a gate's time). The stores still write to
    ``gx_root``, so every stage of one run shares one validation store and the Data Docs list all
    of them.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
        ProgressBarsConfig,
    )

    gx_root.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(gx_root)),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    # An ephemeral context still serialises its whole config to YAML into an in-memory store that
    # nothing reads, on every asset and batch definition added (~40 ms each, 28 per ingestion gate).
    context._save_project_config = lambda: None
    _skip_frame_fingerprints()
    _share_compiled_templates()
    return context


def _skip_frame_fingerprints() -> None:
    """Stop GX hashing every frame it validates.

    GX's pandas engine records an md5 of the whole frame (``pandas_data_fingerprint``, hashed row
    by row with pandas) as a batch marker of every frame under ``HASH_THRESHOLD`` bytes (1 GB).
    Nothing reads that marker: results are judged from the frame itself, and our run report and
    ``meta.quality_results`` are the record. At 1M it was 24 of the ingestion gate's 55 s (wall,
    busy machine). GX skips the marker for frames over the threshold; a threshold of 0 makes that
    every frame.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0


def _share_compiled_templates() -> None:
    """Compile each Data Docs template once per process instead of once per page section.

    Every GX view builds its own Jinja environment, so each gate compiled the same ~20 page
    templates about three times (57 compiles, 0.2 s CPU of a 1 s marts gate at 100k), and every
    later gate of the process again. A shared in-memory bytecode cache keeps the compiled code;
    Jinja reuses it only for a template whose source checksum matches, so the pages are the same.
    """
    from great_expectations.render.view import view

    if getattr(view.DefaultJinjaView, "_cdp_shared_bytecode", None) is not None:
        return
    cache = _InMemoryBytecode()
    build_environment = view.DefaultJinjaView.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        build_environment(self, *args, **kwargs)
        self.env.bytecode_cache = cache

    view.DefaultJinjaView.__init__ = init
    view.DefaultJinjaView._cdp_shared_bytecode = cache


class _InMemoryBytecode(jinja2.BytecodeCache):
    """Jinja bytecode kept in this process (keyed by template name; checksum checked on load)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


def _exception_message(info: Any) -> str | None:
    """The first error GX hit, from either its flat or its per-metric exception_info shape."""
    if not isinstance(info, dict) or not info:
        return None
    candidates = [info] + [v for v in info.values() if isinstance(v, dict)]
    for candidate in candidates:
        message = candidate.get("exception_message")
        if message or candidate.get("raised_exception"):
            return str(message or "unknown error").strip().splitlines()[-1]
    return None


def validate(
    stage: str,
    planned: list[PlannedCheck],
    frames: dict[str, pd.DataFrame],
    gx_root: Path,
    docs_dir: Path,
) -> dict[str, GxOutcome]:
    """Validate every planned check on its frame (keyed by ``CheckSpec.data_key``); build Data Docs.

    Returns the GX outcome per check name. Checks whose frame is missing are not validated (the
    caller reports them as skipped or failed to load).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    context = _context(gx_root, docs_dir)
    datasource = context.data_sources.add_or_update_pandas(name="warehouse_frames")
    by_frame: dict[str, list[PlannedCheck]] = {}
    for check in planned:
        if check.spec.data_key in frames:
            by_frame.setdefault(check.spec.data_key, []).append(check)
    # GX stores each result in the validation store and renders it into the Data Docs, both under
    # reports/: a check that must not show its failing values (show_values: false, e.g. e-mails)
    # runs in its own checkpoint whose results keep counts and row indexes but no values.
    groups: list[tuple[str, str, list[PlannedCheck], bool]] = []
    for data_key, checks in by_frame.items():
        name = _asset_name(stage, checks[0].spec.dataset or checks[0].spec.name)
        shown = [c for c in checks if c.spec.show_values]
        hidden = [c for c in checks if not c.spec.show_values]
        if shown:
            groups.append((data_key, name, shown, True))
        if hidden:
            groups.append((data_key, f"{name}__values_hidden" if shown else name, hidden, False))

    outcomes: dict[str, GxOutcome] = {}
    # This gate's suites and validation results: the Data Docs pages to render. Pages of the
    # run's earlier gates are already on disk and unchanged; only the index lists everything.
    rendered: list[Any] = []
    for data_key, name, checks, show_values in groups:
        try:
            asset = datasource.get_asset(name)
        except LookupError:
            asset = datasource.add_dataframe_asset(name=name)
        try:
            batch_definition = asset.get_batch_definition("whole_frame")
        except KeyError:
            batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")

        suite = gx.ExpectationSuite(name=name, meta={"stage": stage})
        for check in checks:
            expectation_class = getattr(gx.expectations, expectation_class_name(check.spec.expectation))
            suite.add_expectation(expectation_class(
                **check.kwargs,
                severity=check.spec.severity,
                notes=check.spec.description + (f"\n\nThis run: {check.note}" if check.note else ""),
                meta={"check_name": check.spec.name, "severity": check.spec.severity},
            ))
        # The checkpoint's add_or_update saves its validation definitions, and each of those its
        # suite, itself: saving them here first as well stored every suite and definition twice.
        definition = gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(name=name, validation_definitions=[definition], actions=[],
                        result_format="SUMMARY" if show_values else HIDDEN_VALUES_FORMAT))
        run = checkpoint.run(batch_parameters={"dataframe": frames[data_key]})
        rendered += [ExpectationSuiteIdentifier(name=name), *run.run_results]
        for validation in run.run_results.values():
            for result in validation.results:
                check_name = (result.expectation_config.meta or {}).get("check_name")
                message = _exception_message(result.exception_info)
                if message:
                    log.warning("GX could not evaluate %s: %s", check_name, message)
                    outcomes[check_name] = GxOutcome(False, {"error": message})
                else:
                    outcomes[check_name] = GxOutcome(bool(result.success), dict(result.result or {}))
    if rendered:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=rendered)
    else:
        context.build_data_docs(site_names=[DOCS_SITE])
    return outcomes
