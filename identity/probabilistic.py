"""Stage 4: probabilistic links scored by a trained Splink model (temporary table ``probabilistic_links``).

Prediction only: the model is trained off the nightly path by :mod:`identity.train` and read
from ``settings.model_dir``. Splink works on the caller's connection, in an attached in-memory
database: its scratch tables never land in the warehouse file, and there is one DuckDB (one
memory_limit) per process, not a second one beside the warehouse.

A model saved with its term frequencies (``splink_model_v<N>_tf_<column>.parquet`` beside the
JSON) scores with those, not with frequencies of tonight's records: a pair's score depends on
the two records and the model alone.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from identity.schema import RECORD_KEY_SQL, IdentityError, fetch_one, sql_literal

LATEST_POINTER = "latest.json"
MODEL_PREFIX = "splink_model_v"
#: The attached in-memory database Splink's scratch tables go to (prediction and training).
SPLINK_SCRATCH = "splink_scratch"

#: The columns Splink compares, as they are derived from a standardised record.
SPLINK_COLUMNS_SQL = f"""
    {RECORD_KEY_SQL} AS record_key,
    first_name, first_name_canonical, last_name,
    strftime(date_of_birth, '%Y-%m-%d') AS date_of_birth,
    email, phone, street, postcode, city"""


def first_name_comparison() -> cl.CustomComparison:
    """First names: exact, same formal name (Bob/Robert), typo levels, swapped with the surname."""
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            cll.ExactMatchLevel("first_name_canonical").configure(
                label_for_charts="Short form of the same first name"
            ),
            cll.JaroWinklerLevel("first_name", 0.92),
            cll.JaroWinklerLevel("first_name", 0.88),
            cll.ColumnsReversedLevel("first_name", "last_name").configure(
                label_for_charts="First and last name swapped"
            ),
            cll.JaroWinklerLevel("first_name", 0.7),
            cll.ElseLevel(),
        ],
    )


def model_settings() -> SettingsCreator:
    """The Splink model specification: comparisons and prediction blocking rules."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            first_name_comparison(),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.EmailComparison("email"),
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            cl.JaroWinklerAtThresholds("street", [0.95, 0.85]),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        ],
        # Each rule keeps blocks small at 1M records: exact identifiers, or a name paired with
        # something that narrows it to a household or a birthday.
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("last_name", "date_of_birth"),
            block_on("first_name_canonical", "date_of_birth"),
            block_on("first_name_canonical", "last_name", "postcode"),
            block_on("last_name", "street"),
            block_on("first_name_canonical", "postcode", "street"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def latest_model_path(settings: Any) -> Path | None:
    """The model the latest pointer in ``settings.model_dir`` names, or None when none is trained."""
    pointer = Path(settings.model_dir) / LATEST_POINTER
    if not pointer.exists():
        return None
    name = json.loads(pointer.read_text(encoding="utf-8"))["model"]
    path = Path(settings.model_dir) / name
    if not path.exists():
        raise FileNotFoundError(f"{pointer} names {name}, which is missing from {settings.model_dir}")
    return path


def term_frequency_columns(model: dict[str, Any]) -> list[str]:
    """The input columns the model adjusts by term frequency (first_name, last_name, ...)."""
    return sorted({
        level["tf_adjustment_column"]
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    })


def term_frequency_path(model_path: Path, column: str) -> Path:
    """Where the frozen term frequencies of ``column`` for the model at ``model_path`` are kept."""
    return Path(model_path).with_name(f"{Path(model_path).stem}_tf_{column}.parquet")


def frozen_term_frequencies(model_path: Path, model: dict[str, Any]) -> dict[str, Path] | None:
    """The model's term-frequency files by column, or None for a model saved without them (older
    versions); a model with only some of them is refused (a copy went wrong)."""
    paths = {column: term_frequency_path(model_path, column) for column in term_frequency_columns(model)}
    missing = sorted(column for column, path in paths.items() if not path.exists())
    if len(missing) == len(paths):
        return None
    if missing:
        raise IdentityError(
            f"{model_path} has term-frequency files for some columns but not for {missing}: copy "
            f"{', '.join(term_frequency_path(model_path, c).name for c in missing)} beside it, or retrain "
            "(cdp identity train)."
        )
    return paths


def work_connection(settings: Any) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for Splink, with the pipeline's memory and thread limits."""
    return duckdb.connect(
        config={
            "memory_limit": getattr(settings, "duckdb_memory_limit", "6GB"),
            "threads": getattr(settings, "duckdb_threads", 2),
        }
    )


def load_splink_input(work: duckdb.DuckDBPyConnection, data: pa.Table) -> DuckDBAPI:
    """Copy Splink input rows into ``work`` as table splink_input; returns the Splink DB API."""
    work.register("splink_input_arrow", data)
    work.execute("CREATE OR REPLACE TABLE splink_input AS SELECT * FROM splink_input_arrow")
    work.unregister("splink_input_arrow")
    return DuckDBAPI(connection=work)


def _comparison_levels_sql(model: dict[str, Any]) -> str:
    """SQL json_object: per compared field, the comparison level reached and its match weight.

    Splink 5 returns per-field match weights (mw_<field>) rather than level numbers, so the level
    is recognised by its trained weight log2(m/u); a NULL level means missing on either side.
    """
    prefix = model.get("match_weight_column_prefix", "mw_")
    tf_prefix = f"{prefix}tf_adj_"
    parts = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        weight = f"{prefix}{name}"
        has_tf = any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
        total = f"({weight} + coalesce({tf_prefix}{name}, 0))" if has_tf else weight
        cases = []
        for level in comparison["comparison_levels"]:
            label = sql_literal(level.get("label_for_charts", ""))
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            if m and u:
                cases.append(f"WHEN abs({weight} - {math.log2(m / u)!r}) < 1e-9 THEN {label}")
        level_sql = f"CASE {' '.join(cases)} END" if cases else "NULL"
        parts.append(
            f"{sql_literal(name)}, json_object('level', {level_sql}, 'weight', round({total}, 3))"
        )
    return "json_object(" + ", ".join(parts) + ")"


def qualified_in(home: str, table: str) -> str:
    """``table`` (``name`` or ``schema.name``) as seen from the scratch database; ``home`` as
    :func:`splink_scratch` yields it."""
    return f"{home.split('.')[0]}.{table}" if "." in table else f"{home}.{table}"


def create_splink_input(con: duckdb.DuckDBPyConnection, home: str, records: str) -> int:
    """Inside :func:`splink_scratch`: TABLE splink_input (Splink's columns of ``records``), in SQL,
    never through Arrow; returns its row count."""
    con.execute(f"CREATE TABLE splink_input AS SELECT {SPLINK_COLUMNS_SQL} FROM {qualified_in(home, records)}")
    return fetch_one(con, "SELECT count(*) FROM splink_input")[0]


@contextmanager
def splink_scratch(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """Make an attached in-memory database ``con``'s default while Splink works; yields the
    qualified name (``db.schema``) that was the default, to reach the caller's tables by.

    Splink's scratch tables never land in the warehouse file, and there is one DuckDB (one
    memory_limit) rather than a second in-memory one beside the warehouse.
    """
    home, schema = fetch_one(con, "SELECT current_database(), current_schema()")
    con.execute(f"ATTACH ':memory:' AS {SPLINK_SCRATCH}")
    try:
        con.execute(f"USE {SPLINK_SCRATCH}")
        yield f"{home}.{schema}"
    finally:
        con.execute(f"USE {home}.{schema}")
        con.execute(f"DETACH {SPLINK_SCRATCH}")


def predict_links(
    con: duckdb.DuckDBPyConnection, records: str, model_path: Path, keep_above: float
) -> int:
    """Create TEMP TABLE probabilistic_links for pairs scoring at least ``keep_above``.

    Splink runs on ``con`` itself (see :func:`splink_scratch`): no copy of the records through Arrow.

    A model saved with its term frequencies scores with those (a value the model never saw gets
    no term-frequency adjustment: Splink's rule for a value missing from the lookup, i.e. the
    level's average weight); a model without them (older versions) computes them from ``records``.
    """
    model = json.loads(Path(model_path).read_text(encoding="utf-8"))
    frozen = frozen_term_frequencies(model_path, model)
    # Per-field match weights (mw_*) come out only with the intermediate columns.
    model["retain_intermediate_calculation_columns"] = True
    model["retain_matching_columns"] = False
    levels_sql = _comparison_levels_sql(model)
    with splink_scratch(con) as home:
        create_splink_input(con, home, records)
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register("splink_input"), model, log_level=logging.WARNING)
        if frozen is not None:
            _register_term_frequencies(con, db_api, linker, frozen)
        predictions = linker.inference.predict(threshold_match_probability=keep_above)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE probabilistic_links AS
            {_links_select(f"{SPLINK_SCRATCH}.main.{predictions.physical_name}", levels_sql)}"""
        )
    return fetch_one(con, "SELECT count(*) FROM probabilistic_links")[0]


def _links_select(predictions: str, levels_sql: str) -> str:
    """SELECT turning Splink predictions into probabilistic_links rows (smaller record key left)."""
    return f"""SELECT least(record_key_l, record_key_r) AS record_key_l,
                      greatest(record_key_l, record_key_r) AS record_key_r,
                      match_weight, match_probability, {levels_sql} AS comparison_levels
               FROM {predictions}"""


def _register_term_frequencies(
    con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI, linker: Linker, frozen: dict[str, Path]
) -> None:
    """Give Splink the model's frozen term-frequency tables instead of computing them from the records."""
    for column, path in frozen.items():
        table = f"splink_frozen_tf_{column}"
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet({sql_literal(str(path))})")
        linker.table_management.register_term_frequency_lookup(db_api.register(table), column)
