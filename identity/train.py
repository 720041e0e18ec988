"""Train the Splink model off the nightly path and save it as a new version in settings.model_dir.

u probabilities come from random sampling, m probabilities from EM over two blocking passes
that between them leave every comparison free to be estimated at least once.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, block_on
from splink.internals.exceptions import EMTrainingException

from cdp.warehouse import connect, table_exists
from identity.probabilistic import (
    LATEST_POINTER,
    MODEL_PREFIX,
    create_splink_input,
    load_splink_input,
    model_settings,
    splink_scratch,
    term_frequency_columns,
    term_frequency_path,
    work_connection,
)
from identity.schema import CannotTrainModel, TooFewRecordsToTrain

log = logging.getLogger(__name__)

MIN_TRAINING_RECORDS = 50
#: EM passes; together they leave every comparison free to be estimated at least once.
EM_BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("date_of_birth",),
)


def train_model(settings: Any, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Train a model on the warehouse's standardised person records; returns the saved JSON path.

    ``con``: an open warehouse connection to use (the nightly run's own); default: open one.
    """
    if con is None:
        with connect(settings) as own:
            return train_model(settings, own)
    if not table_exists(con, "identity", "person_records_standardised"):
        # First use on a fresh warehouse: build the inputs the model learns from.
        from identity.person_records import build_person_records
        from identity.standardise import standardise

        build_person_records(con)
        standardise(con, settings)
    return train_in_connection(con, "identity.person_records_standardised", settings)


def train_in_connection(
    con: duckdb.DuckDBPyConnection, records: str, settings: Any, model_dir: Path | None = None
) -> Path:
    """Train on the standardised records in table ``records`` of ``con`` and save a new model version.

    Splink's input is built in SQL in a scratch database attached to ``con`` (as prediction does),
    not read out to Arrow and written back into the same connection. ``model_dir``: where to save
    it (default ``settings.model_dir``, whose latest pointer then names it).
    """
    with splink_scratch(con) as home:
        rows = create_splink_input(con, home, records)
        _require_enough(rows, settings)
        model, frequencies = _fit(DuckDBAPI(connection=con), settings)
    return save_model(model, settings, records=rows, term_frequencies=frequencies, model_dir=model_dir)


def _require_enough(rows: int, settings: Any) -> None:
    if rows < MIN_TRAINING_RECORDS:
        raise TooFewRecordsToTrain(
            f"Only {rows} person records to train the matching model on; at least "
            f"{MIN_TRAINING_RECORDS} are needed. Load more data, or copy a trained model into "
            f"{settings.model_dir} and point {LATEST_POINTER} at it."
        )


def train_on(data: pa.Table, settings: Any) -> Path:
    """Train on Splink input rows held in Arrow (see probabilistic.SPLINK_COLUMNS_SQL), in a private
    in-memory DuckDB, and save a new model version; records already in a DuckDB connection train
    with :func:`train_in_connection` instead."""
    _require_enough(data.num_rows, settings)
    work = work_connection(settings)
    try:
        model, frequencies = _fit(load_splink_input(work, data), settings)
    finally:
        work.close()
    return save_model(model, settings, records=data.num_rows, term_frequencies=frequencies)


#: Share of true pairs the deterministic rules below are assumed to find when estimating how likely
#: two random records are to match.
DETERMINISTIC_RECALL = 0.7
_DETERMINISTIC_RULES = (("email",), ("first_name", "last_name", "date_of_birth"))


def _estimate_match_probability(linker: Linker, settings: Any) -> None:
    """Splink's prior that two random records match, from the pairs the deterministic rules find.

    Records that are mostly copies of each other (one list pasted several times) give more such
    pairs than that recall allows, which Splink refuses: nothing can be learnt from them about
    how different people differ, so no model is trained (CannotTrainModel).
    """
    rules = [block_on(*rule) for rule in _DETERMINISTIC_RULES]
    try:
        linker.training.estimate_probability_two_random_records_match(rules, recall=DETERMINISTIC_RECALL)
    except ValueError as error:
        if "recall" not in str(error):
            raise
        raise CannotTrainModel(
            "No matching model could be trained: the records share an e-mail, or a name and birth date, "
            f"far more often than different people do ({_first_line(error)}); they look like copies of "
            f"a few people. Copy a trained model into {settings.model_dir} and point {LATEST_POINTER} "
            "at it, or train on more varied data."
        ) from None


def _fit(db_api: DuckDBAPI, settings: Any) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """Estimate the model's parameters on the registered table splink_input; returns the model JSON
    and the term frequencies of its term-frequency-adjusted columns over the same records."""
    linker = Linker(db_api.register("splink_input"), model_settings(), log_level=logging.WARNING)
    _estimate_match_probability(linker, settings)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=float(getattr(settings, "identity_u_max_pairs", 5e6)), seed=1
    )
    em_max_pairs = getattr(settings, "identity_em_max_pairs", 2e6)
    failures = []
    for number, rule in enumerate(EM_BLOCKING_RULES):
        before = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), max_pairs=float(em_max_pairs)
            )
        except (ValueError, EMTrainingException) as error:
            # EM can drive an m probability to 0 on a small or very clean pass, which Splink
            # refuses mid-session (ValueError), and a pass whose blocking column is empty
            # (no birth dates) has no pairs (EMTrainingException): restart from the parameters
            # before the pass and go on; the other pass still estimates what it can.
            reason = _first_line(error)
            log.warning("EM training pass blocked on %s failed and was skipped: %s", " + ".join(rule), reason)
            failures.append(f"blocked on {' + '.join(rule)}: {reason}")
            linker = Linker(
                db_api.register("splink_input", table_name=f"splink_input_retry_{number}"),
                before,
                log_level=logging.WARNING,
            )
    if len(failures) == len(EM_BLOCKING_RULES):
        raise CannotTrainModel(
            "No matching model could be trained: every EM training pass failed ("
            + "; ".join(failures) + "). The records need pairs sharing a first and last name, or a "
            f"birth date. Copy a trained model into {settings.model_dir} and point {LATEST_POINTER} at it, "
            "or train on more varied data."
        )
    model = linker.misc.save_model_to_json()
    # Frozen with the model, so a pair's score depends on its two records only and last night's
    # pairs between unchanged records stay valid (see probabilistic.predict_links).
    frequencies = {
        column: linker.table_management.compute_tf_table(column).as_duckdbpyrelation().order(column).to_arrow_table()
        for column in term_frequency_columns(model)
    }
    return model, frequencies


def _first_line(error: Exception) -> str:
    """The first line of an error's message: Splink's messages run to several paragraphs of advice."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def save_model(
    model: dict[str, Any],
    settings: Any,
    records: int,
    term_frequencies: dict[str, pa.Table] | None = None,
    model_dir: Path | None = None,
) -> Path:
    """Write ``model`` as the next version in ``model_dir`` (default ``settings.model_dir``) and
    move that folder's latest pointer to it.

    ``term_frequencies``: per term-frequency-adjusted column, the table (value, tf_<column>) the
    model scores with, written beside the JSON as ``splink_model_v<N>_tf_<column>.parquet``.
    """
    import pyarrow.parquet as pq

    model_dir = Path(model_dir or settings.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    versions = [
        int(match.group(1))
        for path in model_dir.glob(f"{MODEL_PREFIX}*.json")
        if (match := re.fullmatch(rf"{MODEL_PREFIX}(\d+)\.json", path.name))
    ]
    version = max(versions, default=0) + 1
    path = model_dir / f"{MODEL_PREFIX}{version}.json"
    frequency_files = {}
    # The frequencies first: a model JSON never names files that are not there yet.
    for column, table in (term_frequencies or {}).items():
        frequency_path = term_frequency_path(path, column)
        pq.write_table(table, frequency_path)
        frequency_files[column] = frequency_path.name
    path.write_text(json.dumps(model, indent=2), encoding="utf-8")
    pointer = {"model": path.name, "version": version, "trained_on_records": records,
               "trained_for_run_date": str(settings.run_date), "term_frequencies": frequency_files}
    # Write-then-rename so a reader never sees a half-written pointer.
    tmp = model_dir / f".{LATEST_POINTER}.tmp"
    tmp.write_text(json.dumps(pointer, indent=2), encoding="utf-8")
    tmp.replace(model_dir / LATEST_POINTER)
    log.info("saved Splink model version %s to %s", version, path)
    return path
