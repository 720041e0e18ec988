"""One typed settings object for the whole pipeline.

Every field can be overridden by an environment variable ``CDP_<FIELD NAME IN UPPER CASE>``.
Paths default to folders under ``CDP_HOME`` (default: ``<repo>/data``) so a fresh clone runs
with no configuration at all.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, get_type_hints

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A CDP_* environment variable holds a value that cannot be used."""


def _default_home(environ: dict[str, str] | None = None) -> Path:
    # `or`, not a get() default: `.env.example` ships `CDP_HOME=`, and an empty value means the
    # default ($(repo)/data), never the current directory.
    value = (os.environ if environ is None else environ).get("CDP_HOME") or ""
    return Path(value).expanduser().resolve() if value else (PROJECT_ROOT / "data").resolve()


@dataclass(frozen=True)
class Settings:
    """Paths, source locations, run date and thresholds for one pipeline run."""

    home: Path = field(default_factory=_default_home, metadata={"doc": "Root folder for all local data (warehouse, landing zone, exports, reports)."})
    warehouse_path: Path | None = field(default=None, metadata={"doc": "DuckDB warehouse file.", "default": "$CDP_HOME/warehouse/cdp.duckdb"})
    landing_dir: Path | None = field(default=None, metadata={"doc": "Landing zone root; each source has a folder below it.", "default": "$CDP_HOME/landing"})
    web_landing_dir: Path | None = field(default=None, metadata={"doc": "Segment-spec NDJSON files (plain or .gz).", "default": "$CDP_LANDING_DIR/web"})
    call_center_landing_dir: Path | None = field(default=None, metadata={"doc": "Call-center export files (CSV and JSON).", "default": "$CDP_LANDING_DIR/call_center"})
    csv_landing_dir: Path | None = field(default=None, metadata={"doc": "Marketing/CRM CSV lists.", "default": "$CDP_LANDING_DIR/csv"})
    store_db_uri: str | None = field(default=None, metadata={"doc": "Store point-of-sale database (sqlite:///path or postgresql://...).", "default": "sqlite:///$CDP_LANDING_DIR/store/pos.sqlite"})
    suppression_path: Path | None = field(default=None, metadata={"doc": "CSV of erased / opted-out identifiers that must never be exported.", "default": "$CDP_LANDING_DIR/suppression/suppression.csv"})
    csv_mappings_dir: Path | None = field(default=None, metadata={"doc": "Folder of YAML column mappings, one per CSV list type.", "default": "ingestion/mappings (packaged)"})
    segments_path: Path | None = field(default=None, metadata={"doc": "Audience segments as code (YAML).", "default": "dbt_project/segments.yml"})
    dbt_target_dir: Path | None = field(default=None, metadata={"doc": "dbt target folder (compiled SQL, run results, docs site).", "default": "$CDP_HOME/dbt/target"})
    export_dir: Path | None = field(default=None, metadata={"doc": "Where audience exports are published.", "default": "$CDP_HOME/exports"})
    export_keep_runs: int = field(default=30, metadata={"doc": "Published export runs kept per segment and format; older run folders (and their member rows) are deleted after each export. 0 keeps all. A new erasure request removes the person's rows from the kept runs' files (`exports/README.md`)."})
    reports_dir: Path | None = field(default=None, metadata={"doc": "Data-quality and run reports, one folder per run.", "default": "$CDP_HOME/reports"})
    model_dir: Path | None = field(default=None, metadata={"doc": "Versioned Splink models: JSON + frozen term-frequency Parquet files.", "default": "$CDP_HOME/models"})
    truth_path: Path | None = field(default=None, metadata={"doc": "Ground-truth mapping of source records to people (sample data only).", "default": "$CDP_LANDING_DIR/truth/ground_truth.csv"})
    run_date: date = field(default_factory=lambda: datetime.now(UTC).date(), metadata={"doc": "Logical date of the run (YYYY-MM-DD). Airflow passes its logical date.", "default": "today (UTC)"})
    default_phone_region: str = field(default="US", metadata={"doc": "Region used to parse phone numbers written without a country code."})
    match_probability_threshold: float = field(default=0.95, metadata={"doc": "Splink match probability above which two records are linked."})
    identity_placeholders: str = field(default="", metadata={"doc": "Comma-separated values (emails, phones, names) that never link anyone (nor count as a CSV list's company: dbt var `placeholders`), added to the built-in list (test@test.com, 0000000000, unknown, n/a, nil, na, ...); an entry starting with - takes a value off it (-nil keeps Nil as a first name); empty changes nothing.", "default": "(built-in list)"})
    identity_u_max_pairs: float = field(default=5e6, metadata={"doc": "Random record pairs Splink samples to train u probabilities."})
    identity_em_max_pairs: float = field(default=2e6, metadata={"doc": "Largest number of pairs per Splink EM training pass."})
    max_cluster_size: int = field(default=25, metadata={"doc": "Largest number of source records one customer may have before links are cut."})
    quarantine_rate_max: float = field(default=0.05, metadata={"doc": "Largest share of a source's records that may be quarantined before the gate fails."})
    store_watermark_overlap_minutes: int = field(default=60, metadata={"doc": "Re-read window before the store watermark, for late commits."})
    max_field_chars: int = field(default=4096, metadata={"doc": "Longest text field accepted by ingestion; longer values are quarantined."})
    verify_file_checksums: bool = field(default=False, metadata={"doc": "Checksum every landing file on every run. Off: a file whose size, modification and change times and inode are those recorded when it was last seen keeps its recorded SHA-256 without being read again (on a local Linux filesystem a rewrite changes the change time, which no tool can set back; turn this on for landing folders on network or FUSE mounts, or on Windows, where that does not hold)."})
    reporting_currency: str = field(default="USD", metadata={"doc": "ISO 4217 code of the currency revenue KPIs are reported in (dbt var `reporting_currency`); orders are converted with `dbt_project/seeds/currency_rates.csv`."})
    duckdb_memory_limit: str = field(default="6GB", metadata={"doc": "DuckDB memory_limit for pipeline and dbt connections (leave room for Python under the 8 GiB budget)."})
    duckdb_threads: int = field(default=2, metadata={"doc": "DuckDB worker threads, for pipeline and dbt connections."})
    dbt_threads: int = field(default=1, metadata={"doc": "dbt threads; keep 1: at 2 a new warehouse's first build can fail (two per-customer models create one shared change-log table at once, a DuckDB catalog conflict), and 2 measured no faster."})
    task_retries: int = field(default=2, metadata={"doc": "Airflow retries per task (make demo sets 0 so a failure shows at once)."})
    task_retry_delay_minutes: int = field(default=5, metadata={"doc": "Minutes Airflow waits before retrying a failed task."})

    def __post_init__(self) -> None:
        # Derived paths are resolved once here so every consumer sees the same absolute path.
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        home = Path(self.home).resolve()
        put("home", home)
        put("warehouse_path", Path(self.warehouse_path or home / "warehouse" / "cdp.duckdb").resolve())
        landing = Path(self.landing_dir or home / "landing").resolve()
        put("landing_dir", landing)
        put("web_landing_dir", Path(self.web_landing_dir or landing / "web").resolve())
        put("call_center_landing_dir", Path(self.call_center_landing_dir or landing / "call_center").resolve())
        put("csv_landing_dir", Path(self.csv_landing_dir or landing / "csv").resolve())
        put("store_db_uri", self.store_db_uri or f"sqlite:///{landing / 'store' / 'pos.sqlite'}")
        put("suppression_path", Path(self.suppression_path or landing / "suppression" / "suppression.csv").resolve())
        if self.csv_mappings_dir is not None:
            put("csv_mappings_dir", Path(self.csv_mappings_dir).resolve())
        put("segments_path", Path(self.segments_path or PROJECT_ROOT / "dbt_project" / "segments.yml").resolve())
        put("dbt_target_dir", Path(self.dbt_target_dir or home / "dbt" / "target").resolve())
        put("export_dir", Path(self.export_dir or home / "exports").resolve())
        put("reports_dir", Path(self.reports_dir or home / "reports").resolve())
        put("model_dir", Path(self.model_dir or home / "models").resolve())
        put("truth_path", Path(self.truth_path or landing / "truth" / "ground_truth.csv").resolve())
        if not 0 < self.match_probability_threshold < 1:
            raise SettingsError("CDP_MATCH_PROBABILITY_THRESHOLD must be between 0 and 1 (exclusive)")
        if self.export_keep_runs < 0:
            raise SettingsError("CDP_EXPORT_KEEP_RUNS must be 0 (keep all) or a positive number of runs")
        currency = str(self.reporting_currency).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise SettingsError(f"CDP_REPORTING_CURRENCY must be a three-letter ISO 4217 code such as USD or EUR, "
                                f"not {self.reporting_currency!r}")
        put("reporting_currency", currency)
        if self.max_cluster_size < 2:
            raise SettingsError("CDP_MAX_CLUSTER_SIZE must be at least 2")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CDP_*`` variables; keyword overrides win over the environment."""
        environ = dict(os.environ if environ is None else environ)
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f"CDP_{f.name.upper()}"
            if key in environ and environ[key] != "":
                values[f.name] = _parse(key, environ[key], hints[f.name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        # The home of the environment given, not the process's (the dataclass default reads os.environ).
        values.setdefault("home", _default_home(environ))
        return cls(**values)

    def with_run_date(self, run_date: date | str | None) -> Settings:
        """A copy of these settings for another logical date."""
        if run_date is None:
            return self
        if isinstance(run_date, str):
            run_date = _parse("run_date", run_date, date)
        return dataclasses.replace(self, run_date=run_date)

    def ensure_dirs(self) -> None:
        """Create the folders the pipeline writes to."""
        for path in (self.warehouse_path.parent, self.export_dir, self.reports_dir, self.model_dir):
            path.mkdir(parents=True, exist_ok=True)


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _parse(key: str, raw: str, hint: Any) -> Any:
    text = str(hint)
    try:
        if hint is date:
            return date.fromisoformat(raw[:10])
        if hint is bool:
            flag = raw.strip().lower()
            if flag not in _BOOLEANS:
                raise ValueError(f"expected one of {', '.join(sorted(_BOOLEANS))}")
            return _BOOLEANS[flag]
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if "Path" in text:
            return Path(raw).expanduser()
        return raw
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r} is not a valid {getattr(hint, '__name__', text)}: {exc}") from exc


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: the source of the README table."""
    rows = []
    for f in fields(Settings):
        default = f.metadata.get("default")
        if default is None:
            default = f.default if f.default is not dataclasses.MISSING else "$(repo)/data"
        rows.append((f"CDP_{f.name.upper()}", str(default), f.metadata.get("doc", "")))
    return rows
