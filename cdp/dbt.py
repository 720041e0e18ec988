"""Build the dbt project (customer 360, KPIs, segments) against the warehouse.

dbt runs in-process through ``dbtRunner``. Segments live in ``dbt_project/segments.yml``: this
module validates every segment condition against the ``dim_customers`` columns (declared, with
their types, in ``dbt_project/models/marts/core/_core__models.yml``, whose contract dbt enforces)
and passes the parsed list to dbt as the ``segments`` var, with ``run_date`` and ``run_id``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from cdp.clock import audit_now
from cdp.dbt_logic import logic_fingerprints, models_to_rebuild, record_fingerprints
from cdp.fingerprint import code_fingerprint
from cdp.settings import PROJECT_ROOT, Settings
from cdp.warehouse import connect, table_exists, transaction

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEGMENTS_PATH = DBT_PROJECT_DIR / "segments.yml"
DIM_CUSTOMERS_SCHEMA_PATH = DBT_PROJECT_DIR / "models" / "marts" / "core" / "_core__models.yml"
CONSENT_PURPOSES = ("email_marketing", "sms_marketing", "ad_targeting", "none")
# Columns segment conditions may not use: `segments` is computed from the conditions themselves.
_COLUMNS_NOT_FOR_CONDITIONS = {"segments"}
_FAILED_STATUSES = {"error", "fail", "runtime error"}
_SEGMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")
# dbt's error for an incremental model whose stored columns differ from its select, with
# on_schema_change='fail' (dbt/include/global_project/macros/.../on_schema_change.sql)
_OUT_OF_SYNC = "The source and target schemas on this incremental model are out of sync"
# The last build whose every node passed (one row): its data tests covered every row written
# before it started, so the next build's narrowed tests (macros/test_rows_since.sql) need only
# the rows written since. Kept in the warehouse, so a restored backup carries its own.
TESTS_PASSED_TABLE = "meta.dbt_tests_passed"
#: The project fingerprint (``unit_tests_fingerprint``) of the last build whose unit tests all passed.
UNIT_TESTS_PASSED_TABLE = "meta.dbt_unit_tests_passed"

log = logging.getLogger(__name__)


class DbtBuildFailed(RuntimeError):
    """dbt could not build the project; ``failed_nodes`` names what failed and why."""

    def __init__(self, message: str, failed_nodes: list[dict[str, str]] | None = None,
                 out_of_sync_models: list[str] | None = None, built_models: list[str] | None = None):
        super().__init__(message)
        self.failed_nodes = failed_nodes or []
        # the models this dbt call did build (their logic fingerprints are recorded even so)
        self.built_models = built_models or []
        # incremental models dbt refused because their table's columns differ from the model's
        # (on_schema_change='fail'); build() full-refreshes these and builds again
        self.out_of_sync_models = out_of_sync_models or []


class SegmentDefinitionError(DbtBuildFailed, ValueError):
    """A segment in segments.yml is malformed or its condition does not compile (found before dbt runs)."""


@dataclass(frozen=True)
class Segment:
    """One audience definition from segments.yml."""

    name: str
    description: str
    owner: str
    consent_purpose: str
    condition: str

    def as_var(self) -> dict[str, str]:
        """The form dbt receives in var('segments')."""
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "consent_purpose": self.consent_purpose,
            "condition": self.condition,
        }


def load_segments(path: Path = SEGMENTS_PATH) -> list[Segment]:
    """Parse segments.yml, checking the shape of every entry (not yet the SQL)."""
    path = Path(path)
    if not path.is_file():
        raise SegmentDefinitionError(
            f"{path}: segments file not found (setting segments_path, default dbt_project/segments.yml)"
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SegmentDefinitionError(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SegmentDefinitionError(f"{path}: expected a top-level `segments:` list")
    segments: list[Segment] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise SegmentDefinitionError(f"{path}: segment #{position} is not a mapping")
        name = str(entry.get("name") or "")
        label = f"{path}: segment '{name or f'#{position}'}'"
        if not _SEGMENT_NAME.fullmatch(name):
            raise SegmentDefinitionError(f"{label}: `name` must be lower_snake_case (letters, digits, _)")
        if name in seen:
            raise SegmentDefinitionError(f"{label}: defined twice")
        seen.add(name)
        purpose = entry.get("consent_purpose")
        if purpose not in CONSENT_PURPOSES:
            raise SegmentDefinitionError(
                f"{label}: consent_purpose is {purpose!r}; expected one of {', '.join(CONSENT_PURPOSES)}"
            )
        condition = str(entry.get("condition") or "").strip()
        if not condition:
            raise SegmentDefinitionError(f"{label}: `condition` is missing")
        for key in ("description", "owner"):
            if not str(entry.get(key) or "").strip():
                raise SegmentDefinitionError(f"{label}: `{key}` is missing")
        segments.append(
            Segment(
                name=name,
                description=str(entry["description"]).strip(),
                owner=str(entry["owner"]).strip(),
                consent_purpose=purpose,
                condition=condition,
            )
        )
    return segments


def dim_customers_columns(schema_path: Path = DIM_CUSTOMERS_SCHEMA_PATH) -> dict[str, str]:
    """Column name -> DuckDB type of marts.dim_customers, from its enforced dbt contract."""
    document = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    for model in document.get("models", []):
        if model.get("name") == "dim_customers":
            return {column["name"]: column["data_type"] for column in model["columns"]}
    raise SegmentDefinitionError(f"{schema_path}: no `dim_customers` model with typed columns")


def validate_segments(
    segments: list[Segment], columns: dict[str, str] | None = None, source: str = "segments.yml"
) -> None:
    """Compile every condition against an empty dim_customers; raise naming the first bad segment
    (and ``source``, the file it is defined in)."""
    columns = dim_customers_columns() if columns is None else columns
    usable = {name: kind for name, kind in columns.items() if name not in _COLUMNS_NOT_FOR_CONDITIONS}
    column_sql = ", ".join(f'"{name}" {kind}' for name, kind in usable.items())
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"CREATE TABLE dim_customers ({column_sql})")
        for segment in segments:
            _validate_condition(con, segment, sorted(usable), source)
    finally:
        con.close()


def _validate_condition(
    con: duckdb.DuckDBPyConnection, segment: Segment, columns: list[str], source: str = "segments.yml"
) -> None:
    label = f"segment '{segment.name}' ({source})"
    if ";" in segment.condition or "--" in segment.condition:
        raise SegmentDefinitionError(f"{label}: the condition must be one expression, without ';' or '--'")
    query = f"SELECT customer_id FROM dim_customers WHERE ({segment.condition})"
    # The condition is pasted into a WHERE clause; make sure it cannot close the parenthesis
    # and append another query (UNION, subquery tricks) or reach other tables.
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0])
    if parsed.get("error"):
        raise SegmentDefinitionError(
            f"{label}: condition is not valid SQL: {parsed.get('error_message')}\n  condition: {segment.condition}"
        )
    statements = parsed.get("statements", [])
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    if node.get("type") != "SELECT_NODE" or node.get("from_table", {}).get("table_name") != "dim_customers":
        raise SegmentDefinitionError(f"{label}: the condition must be a single boolean expression")
    try:
        described = con.execute(
            f"DESCRIBE SELECT ({segment.condition}) AS matches FROM dim_customers"
        ).fetchall()
        con.execute(query).fetchall()
    except duckdb.Error as exc:
        raise SegmentDefinitionError(
            f"{label}: condition does not compile against dim_customers: {exc}\n"
            f"  condition: {segment.condition}\n  available columns: {', '.join(columns)}"
        ) from exc
    result_type = described[0][1]
    if result_type not in ("BOOLEAN", '"NULL"', "NULL"):
        raise SegmentDefinitionError(
            f"{label}: condition must be true/false but returns {result_type}\n  condition: {segment.condition}"
        )


def dbt_vars(settings: Settings, run_id: str, segments: list[Segment]) -> dict[str, Any]:
    """Every var of a run, logical date and run id included: the form for a ``dbt`` CLI call by hand."""
    return {
        "run_date": settings.run_date.isoformat(),
        "run_id": run_id,
        **_parse_vars(segments, settings),
    }


def _parse_vars(segments: list[Segment], settings: Settings | None = None) -> dict[str, Any]:
    """The --vars of build/docs: only what changes rarely (the segments, ``CDP_REPORTING_CURRENCY``,
    the placeholder values of ``CDP_IDENTITY_PLACEHOLDERS``).
    dbt re-parses the whole project when --vars change, so the run date and run id (new every
    night) go in the environment instead (``_dbt_environment``; the run_date() / run_id() macros
    read it at execution only)."""
    variables: dict[str, Any] = {"segments": [segment.as_var() for segment in segments]}
    currency = getattr(settings, "reporting_currency", None)
    if currency:
        variables["reporting_currency"] = currency
    if settings is not None:
        # imported here: identity.standardise loads phonenumbers, which most callers never need
        from identity.standardise import placeholders

        # the identity standardiser's list (CDP_IDENTITY_PLACEHOLDERS included), so a value that
        # links no one is no company either (macros/placeholder.sql)
        variables["placeholders"] = list(placeholders(settings))
    return variables


def build(
    settings: Settings, run_id: str, segments_path: Path | None = None, full_refresh: bool = False,
    rebuild_out_of_sync: bool = True,
) -> dict[str, Any]:
    """Validate the segments, run ``dbt build`` and return counts and segment sizes.

    ``segments_path`` defaults to ``settings.segments_path`` when that setting exists, else
    ``dbt_project/segments.yml``. ``full_refresh`` rebuilds the incremental models from scratch
    (segment ``member_since`` dates are kept: ``segment_memberships`` reads its previous version). ``rebuild_out_of_sync``: an incremental
    model whose stored columns differ from its select (a warehouse built by an earlier version) is
    rebuilt from scratch by itself and the build run again (listed in ``full_refreshed_models``);
    False raises instead, as dbt does.
    An incremental model whose logic changed since the warehouse last recorded it (its SQL, config,
    the project macros it calls, the vars they name, the views it reads: ``cdp.dbt_logic``), or
    whose table exists without a recorded fingerprint (a warehouse built before they were kept:
    every incremental model but the history table ``segment_size_history`` is rebuilt once), is
    rebuilt from scratch by this build (dbt's ``full_refresh`` config set on those models in the
    parsed manifest, so they rebuild after the views they read), logged with the reason, listed in
    ``full_refreshed_models`` and in ``full_refresh_reasons``. The fingerprints of the models built
    (by a failing build too) are recorded in ``meta.dbt_model_logic`` (a ``full_refresh`` too). The
    project is parsed once (``dbt parse``) and that manifest reused by every dbt call of the build.
    Raises SegmentDefinitionError before dbt starts when a segment is invalid, DbtBuildFailed
    naming every failed node when dbt fails.
    """
    segments_path = Path(segments_path or getattr(settings, "segments_path", None) or SEGMENTS_PATH)
    segments = load_segments(segments_path)
    validate_segments(segments, source=segments_path.name)
    extra_args = ["--full-refresh"] if full_refresh else []
    fingerprint = tests_fingerprint()
    unit_fingerprint = unit_tests_fingerprint(_parse_vars(segments, settings))
    build_started_at = audit_now()
    started = time.perf_counter()
    variables = _parse_vars(segments, settings)
    # parsed once: every dbt call below reuses this manifest instead of parsing again
    manifest = _invoke(settings, "parse", variables, run_id)
    logic = logic_fingerprints(manifest, _resolved_vars(variables))
    state = _warehouse_state(settings, fingerprint, unit_fingerprint, logic)
    tests_since = None if full_refresh else state.tests_since
    # Unit tests check the models' logic on fixed inputs, not the data: with the same project,
    # vars and library versions as a build where they all passed, they would pass again (dbt's
    # advice is to run them in development and CI, not in production). `make test` always runs them.
    unit_tests_skipped = not full_refresh and state.unit_tests_passed
    if unit_tests_skipped:
        extra_args += ["--exclude-resource-type", "unit_test"]
    reasons: dict[str, str] = {} if full_refresh else state.logic_changed
    for name, reason in reasons.items():
        log.warning("dbt: %s: %s; this build rebuilds it from scratch", name, reason)
    # dbt's own per-model `full_refresh` config, set on this build's manifest only: the build
    # rebuilds these models from scratch in their place in the DAG, after the views and tables
    # they read were rebuilt with tonight's logic (a separate `dbt run --full-refresh --select`
    # before the build would read the views still defined by the previous version).
    _set_full_refresh(manifest, reasons, True)
    refreshed_for_new_columns: list[str] = []
    while True:
        try:
            results = _invoke(settings, "build", variables, run_id, extra_args=extra_args,
                              tests_since=tests_since, build_started_at=build_started_at, manifest=manifest)
            break
        except DbtBuildFailed as failure:
            built = [name for name in failure.built_models if name in logic]
            with connect(settings) as con:
                record_fingerprints(con, [logic[name] for name in built], run_id)
            _set_full_refresh(manifest, built, None)  # rebuilt already: not again on the next round
            # An incremental model whose columns changed in this version (a warehouse built by an
            # older one): rebuild just that model from scratch and build again. A model downstream
            # of it was skipped, so it may turn up on the next round; each round must find new ones.
            stale = [name for name in failure.out_of_sync_models if name not in refreshed_for_new_columns]
            if full_refresh or not rebuild_out_of_sync or not stale:
                _raise_for_failing_segments(settings, manifest, segments, failure, segments_path.name)
                raise
            log.warning("dbt: %s changed columns since the warehouse was built; rebuilding %s from scratch",
                        ", ".join(stale), "it" if len(stale) == 1 else "them")
            _invoke(settings, "run", variables, run_id,
                    extra_args=["--full-refresh", "--select", *stale], build_started_at=build_started_at,
                    manifest=manifest)
            refreshed_for_new_columns.extend(stale)
            reasons.update(dict.fromkeys(stale, "its stored columns differ from the model's"))
    wall = time.perf_counter() - started
    summary = _summarise(results)
    summary["seconds"] = {**_layer_seconds(results), "dbt_build_wall": round(wall, 3)}
    summary["slowest_nodes"] = _slowest_nodes(results)
    summary["run_id"] = run_id
    summary["run_date"] = settings.run_date.isoformat()
    summary["tests_since"] = tests_since.isoformat(sep=" ") if tests_since else None
    summary["full_refreshed_models"] = sorted(reasons)
    summary["full_refresh_reasons"] = dict(sorted(reasons.items()))
    summary["unit_tests_skipped"] = unit_tests_skipped
    all_passed = not (summary["failures"] or summary["warnings"] or summary["skipped"])
    built = set(_built_models(results))
    with connect(settings) as con:
        record_fingerprints(con, [item for name, item in logic.items() if name in built], run_id)
        if all_passed:
            _record_tests_passed(con, run_id, build_started_at, fingerprint)
            if not unit_tests_skipped:
                _record_unit_tests_passed(con, run_id, unit_fingerprint)
        summary["segment_sizes"] = _segment_sizes(con)
    return summary


#: The models that evaluate segment conditions; the view's error surfaces in the table reading it.
_SEGMENT_MODELS = ("int_segment_members_evaluated", "segment_memberships")
#: The relation the conditions are evaluated over (int_segment_members_evaluated's input).
_SEGMENT_PROFILES_MODEL = "int_customer_profiles_ranked"


def _raise_for_failing_segments(
    settings: Settings, manifest: Any, segments: list[Segment], failure: DbtBuildFailed, source: str
) -> None:
    """When the segment models failed on the data (a condition that compiles but fails at run time,
    such as a cast of text to a number), raise a SegmentDefinitionError naming each segment whose
    condition fails on its own, instead of only the model; otherwise return."""
    failed = {node.get("unique_id", "").rsplit(".", 1)[-1] for node in failure.failed_nodes}
    profiles = next((node for node in manifest.nodes.values() if node.name == _SEGMENT_PROFILES_MODEL
                     and str(getattr(node.resource_type, "value", node.resource_type)) == "model"), None)
    if profiles is None or not failed & set(_SEGMENT_MODELS) or not settings.warehouse_path.exists():
        return
    relation = f'"{profiles.schema}"."{profiles.alias or profiles.name}"'
    errors = []
    with connect(settings, read_only=True) as con:
        if not table_exists(con, profiles.schema, profiles.alias or profiles.name):
            return
        for segment in segments:
            try:
                con.execute(f"SELECT count(*) FROM {relation} WHERE ({segment.condition})").fetchall()
            except duckdb.Error as exc:
                errors.append(f"segment '{segment.name}' ({source}): condition fails on the data: "
                              f"{str(exc).splitlines()[0]}\n  condition: {segment.condition}")
    if errors:
        raise SegmentDefinitionError("\n".join(errors), failure.failed_nodes,
                                     built_models=failure.built_models) from failure


def _set_full_refresh(manifest: Any, models: Any, value: bool | None) -> None:
    """Set the ``full_refresh`` config of ``models`` (names) in this parsed manifest."""
    wanted = set(models)
    for node in manifest.nodes.values():
        if node.name in wanted and str(getattr(node.resource_type, "value", node.resource_type)) == "model":
            node.config.full_refresh = value


def _built_models(result: Any) -> list[str]:
    """Names of the models a dbt call built successfully."""
    return [node_result.node.name for node_result in getattr(result, "results", None) or []
            if _status(node_result) == "success"
            and str(getattr(node_result.node.resource_type, "value", node_result.node.resource_type)) == "model"]


def _resolved_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """The vars dbt resolves: dbt_project.yml's ``vars`` (global, then this project's), overridden by ``variables`` (--vars)."""
    document = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    declared = dict(document.get("vars") or {})
    scoped = declared.pop(str(document.get("name")), None)
    return {**declared, **(scoped if isinstance(scoped, dict) else {}), **variables}


def tests_fingerprint() -> str:
    """Fingerprint of every data test definition: the generic test macros, the singular tests,
    the schema files declaring tests, dbt_project.yml and the dbt version. A recorded passing
    build narrows the next build's tests only while it is unchanged: a new or edited test must
    see every row once."""
    from dbt.version import __version__ as dbt_version

    project = DBT_PROJECT_DIR
    files = sorted(
        [*project.glob("macros/test_*.sql"), *project.glob("tests/**/*.sql"),
         *project.glob("models/**/_*.yml"), project / "dbt_project.yml"]
    )
    return code_fingerprint(files, *(path.relative_to(project) for path in files), dbt_version)


def unit_tests_fingerprint(variables: dict[str, Any]) -> str:
    """Fingerprint of everything a unit test's outcome depends on: every file of the dbt project
    (models, macros, tests, seeds, dbt_project.yml, profiles.yml), the build's --vars and the
    versions of dbt, dbt-duckdb and DuckDB."""
    from importlib.metadata import version

    from dbt.version import __version__ as dbt_version

    project = DBT_PROJECT_DIR
    files = sorted(
        path for folder in ("models", "macros", "tests", "seeds", "snapshots", "analyses")
        for path in (project / folder).rglob("*") if path.is_file()
    )
    files += [project / "dbt_project.yml", project / "profiles.yml"]
    files = [path for path in files if path.is_file()]
    return code_fingerprint(files, *(path.relative_to(project) for path in files), json.dumps(variables, sort_keys=True),
                            dbt_version, version("dbt-duckdb"), duckdb.__version__)


def _record_unit_tests_passed(con: duckdb.DuckDBPyConnection, run_id: str, fingerprint: str) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {UNIT_TESTS_PASSED_TABLE} (run_id VARCHAR NOT NULL, "
                "unit_tests_fingerprint VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)")
    with transaction(con):
        con.execute(f"DELETE FROM {UNIT_TESTS_PASSED_TABLE}")
        con.execute(f"INSERT INTO {UNIT_TESTS_PASSED_TABLE} VALUES (?, ?, ?)", [run_id, fingerprint, audit_now()])


@dataclass(frozen=True)
class _WarehouseState:
    """What a build needs to know of the warehouse before dbt starts."""

    tests_since: Any = None  # watermark of the last fully passing build with these test definitions
    unit_tests_passed: bool = False  # a build with this unit-test fingerprint ran them all and all passed
    logic_changed: dict[str, str] = field(default_factory=dict)  # incremental model -> why it is rebuilt


def _warehouse_state(
    settings: Settings, tests_fp: str, unit_tests_fp: str, logic: dict[str, Any]
) -> _WarehouseState:
    """Upgrade an older warehouse's raw store tables and CSV contacts and read what the build needs, through one
    connection (each open of a big warehouse reads its catalog and checkpoints it at close).
    Without a warehouse there is nothing to upgrade, no passing build and no stale model."""
    if not Path(settings.warehouse_path).exists():
        return _WarehouseState()
    with connect(settings) as con:
        _upgrade_raw_store_tables(con)
        _upgrade_raw_csv_contacts(con)
        return _WarehouseState(
            tests_since=_recorded(con, TESTS_PASSED_TABLE, "tests_fingerprint", tests_fp, "tests_since"),
            unit_tests_passed=_recorded(
                con, UNIT_TESTS_PASSED_TABLE, "unit_tests_fingerprint", unit_tests_fp, "recorded_at"
            ) is not None,
            logic_changed=models_to_rebuild(con, logic),
        )


def _recorded(con: duckdb.DuckDBPyConnection, table: str, fingerprint_column: str, fingerprint: str, column: str) -> Any:
    """``column`` of the row ``table`` (``meta.dbt_*_passed``) holds for ``fingerprint``; None without
    the table or with another fingerprint recorded."""
    if not table_exists(con, *table.split(".")):
        return None
    rows = con.execute(f"SELECT {column} FROM {table} WHERE {fingerprint_column} = ?", [fingerprint]).fetchall()
    return rows[0][0] if rows else None


def _record_tests_passed(con: duckdb.DuckDBPyConnection, run_id: str, build_started_at: Any, fingerprint: str) -> None:
    """Remember that every test passed over the rows written before ``build_started_at``.

    The watermark is the build's start, moved back to the start of any load that finished after it
    (its rows carry its start time in ``_loaded_at`` but may have been committed after dbt read the
    table). Only loads that committed their manifest row are seen here; one still uncommitted when
    this runs cannot exist, because a load and the dbt build both write the warehouse and DuckDB
    allows one writing process per file (the nightly run serialises them)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TESTS_PASSED_TABLE} (run_id VARCHAR NOT NULL, "
        "build_started_at TIMESTAMP NOT NULL, tests_since TIMESTAMP NOT NULL, "
        "tests_fingerprint VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)"
    )
    since = build_started_at
    if table_exists(con, "meta", "ingest_manifest"):
        overlapping = con.execute(
            "SELECT min(started_at) FROM meta.ingest_manifest WHERE finished_at >= ?", [build_started_at],
        ).fetchall()[0][0]
        if overlapping is not None and overlapping < since:
            since = overlapping
    with transaction(con):
        con.execute(f"DELETE FROM {TESTS_PASSED_TABLE}")
        con.execute(
            f"INSERT INTO {TESTS_PASSED_TABLE} VALUES (?, ?, ?, ?, ?)",
            [run_id, build_started_at, since, fingerprint, audit_now()],
        )


def _upgrade_raw_store_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Add the columns ingestion derives to raw.store_* tables loaded by an earlier version (the
    next store ingestion would), so a build run before it reads them (stg_store__customers selects
    ``marketing_opt_in_changed_at``). A warehouse without store tables is left as it is.
    Amount columns an earlier version created as DECIMAL(12,2) are not widened here: the store
    ingestion widens them together with a full read of the POS table, which reloads the amounts
    that version rounded (widened here, the next ingestion would see nothing to reload), and the
    staging views cast to DECIMAL(18,4) either way."""
    from ingestion import store_pos

    if table_exists(con, "raw", "store_customers"):
        store_pos.add_derived_columns(con)


def _upgrade_raw_csv_contacts(con: duckdb.DuckDBPyConnection) -> None:
    """Add ``row_dated_at`` to a raw.csv_contacts loaded by an earlier version (the next CSV
    ingestion would), so a build run before it reads it (stg_csv__contacts selects it). Rows
    stored before stay dated by their list until a list re-sending them replaces them."""
    from ingestion import csv_lists

    if table_exists(con, "raw", "csv_contacts"):
        csv_lists.add_row_date_column(con)


def docs(settings: Settings) -> Path:
    """Generate the dbt docs site from the built warehouse; return its single-file static page.

    The page (``static_index.html``) embeds manifest and catalog, so it opens from disk without
    a web server; ``index.html`` beside it is the classic site for ``dbt docs serve``.
    """
    segments = load_segments(Path(getattr(settings, "segments_path", None) or SEGMENTS_PATH))
    _invoke(settings, "docs", _parse_vars(segments, settings), "docs", extra_args=["generate", "--static"])
    return _target_dir(settings) / "static_index.html"


def _target_dir(settings: Settings) -> Path:
    return Path(getattr(settings, "dbt_target_dir", None) or settings.home / "dbt" / "target")


@contextmanager
def _dbt_environment(
    settings: Settings, run_id: str, tests_since: Any = None, build_started_at: Any = None
) -> Iterator[None]:
    """Point the profile at this warehouse and give the run's date and id, for one dbt invocation.

    ``tests_since`` (the last fully passing build's watermark) narrows the tests of tables whose
    rows carry their write time; without it every test reads every row. ``build_started_at`` (the
    watermark this build records if it passes) is the write time of the rows it writes in the
    incremental models that carry one (``written_at``, macros/written_at.sql)."""
    wanted = {
        "CDP_DBT_TESTS_SINCE": tests_since.isoformat(sep=" ") if tests_since else "",
        "CDP_DBT_BUILD_STARTED_AT": build_started_at.isoformat(sep=" ") if build_started_at else "",
        "CDP_DBT_RUN_DATE": settings.run_date.isoformat(),
        "CDP_DBT_RUN_ID": run_id,
        "CDP_WAREHOUSE_PATH": str(settings.warehouse_path),
        "CDP_DBT_THREADS": str(settings.dbt_threads),
        "CDP_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "CDP_DUCKDB_THREADS": str(settings.duckdb_threads),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _invoke(
    settings: Settings,
    command: str,
    variables: dict[str, Any],
    run_id: str,
    extra_args: list[str] | None = None,
    tests_since: Any = None,
    build_started_at: Any = None,
    manifest: Any = None,
):
    """Run one dbt command in-process; ``manifest`` (what ``parse`` returns) skips its parse."""
    # Imported here: dbt is heavy and only this stage needs it (keeps `cdp --help` and DAG parsing fast).
    from dbt.cli.main import dbtRunner

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    target_dir = _target_dir(settings)
    args = [
        command,
        *(extra_args or []),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir.parent / "logs"),
        "--vars",
        json.dumps(variables),
    ]
    if command in ("build", "parse"):
        # dbt would write manifest.json twice per build (after parsing and at the end, ~1 MB of
        # JSON each; about 0.5 s of CPU at 100k, whatever the data volume). Nothing reads it:
        # partial parsing keeps its own partial_parse.msgpack and `make docs` writes its own
        # manifest. run_results.json (what failed, for `dbt retry` or a person) is still written.
        args.append("--no-write-json")
    with _dbt_environment(settings, run_id, tests_since, build_started_at):
        try:
            outcome = dbtRunner(manifest=manifest).invoke(args)
        finally:
            _release_warehouse()
    if command == "build" and hasattr(outcome.result, "write"):
        outcome.result.write(str(target_dir / "run_results.json"))
    if outcome.exception is not None:
        raise DbtBuildFailed(f"dbt {command} could not run: {outcome.exception}") from outcome.exception
    if not outcome.success:
        if command == "parse":
            raise DbtBuildFailed(f"dbt parse failed; see {target_dir.parent / 'logs'}/dbt.log")
        failed = _failed_nodes(outcome.result)
        detail = "\n".join(
            f"  - {node['unique_id']} ({node['status']}): {node['message']}" for node in failed
        )
        raise DbtBuildFailed(
            f"dbt {command} failed on {len(failed)} node(s); see {target_dir.parent / 'logs'}/dbt.log\n{detail}",
            failed,
            _out_of_sync_models(outcome.result),
            _built_models(outcome.result),
        )
    return outcome.result


def _release_warehouse() -> None:
    """Close dbt-duckdb's process-wide DuckDB handle so the next stage can open the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()


def _status(result: Any) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def _failed_nodes(result: Any) -> list[dict[str, str]]:
    nodes = []
    for node_result in getattr(result, "results", None) or []:
        status = _status(node_result)
        if status in _FAILED_STATUSES:
            # the first line of dbt's message is the useful one ("Got 3 results, ...", a DuckDB error)
            lines = str(node_result.message or "").strip().splitlines()
            nodes.append(
                {
                    "unique_id": node_result.node.unique_id,
                    "status": status,
                    "message": lines[0] if lines else "",
                }
            )
    return nodes


def _out_of_sync_models(result: Any) -> list[str]:
    """Names of the models that failed because their stored columns differ from their select."""
    return [node_result.node.name for node_result in getattr(result, "results", None) or []
            if _status(node_result) in _FAILED_STATUSES and _OUT_OF_SYNC in str(node_result.message or "")]


def _summarise(result: Any) -> dict[str, Any]:
    counts = {"models": 0, "tests": 0, "unit_tests": 0, "failures": 0, "warnings": 0, "skipped": 0}
    for node_result in result.results:
        resource_type = str(getattr(node_result.node.resource_type, "value", node_result.node.resource_type))
        status = _status(node_result)
        if resource_type == "model":
            counts["models"] += 1
        elif resource_type == "test":
            counts["tests"] += 1
        elif resource_type == "unit_test":
            counts["unit_tests"] += 1
        if status in _FAILED_STATUSES:
            counts["failures"] += 1
        elif status == "warn":
            counts["warnings"] += 1
        elif status == "skipped":
            counts["skipped"] += 1
    return counts


def _layer(node: Any) -> str:
    """``staging`` / ``intermediate`` / ``marts`` for a model, ``tests`` / ``unit_tests`` otherwise."""
    resource_type = str(getattr(node.resource_type, "value", node.resource_type))
    if resource_type == "model":
        fqn = list(getattr(node, "fqn", None) or [])
        return fqn[1] if len(fqn) > 2 else "other_models"
    return {"test": "tests", "unit_test": "unit_tests"}.get(resource_type, resource_type)


def _layer_seconds(result: Any) -> dict[str, float]:
    """Execution seconds per layer (models of staging, intermediate, marts; data tests; unit tests)."""
    seconds: dict[str, float] = {}
    for node_result in result.results:
        layer = _layer(node_result.node)
        seconds[layer] = seconds.get(layer, 0.0) + float(node_result.execution_time or 0.0)
    return {layer: round(value, 3) for layer, value in seconds.items()}


def _slowest_nodes(result: Any, count: int = 8) -> list[dict[str, Any]]:
    """The ``count`` slowest nodes of the build, with their seconds (where to look first)."""
    timed = sorted(result.results, key=lambda node_result: float(node_result.execution_time or 0.0), reverse=True)
    return [{"unique_id": node_result.node.unique_id, "seconds": round(float(node_result.execution_time or 0.0), 3)}
            for node_result in timed[:count]]


def _segment_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "SELECT segments.segment_name, count(memberships.customer_id) "
        "FROM marts.segments AS segments "
        "LEFT JOIN marts.segment_memberships AS memberships USING (segment_name) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {name: int(members) for name, members in rows}
