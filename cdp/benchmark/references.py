"""Reference points measured on the same inputs: DuckDB's own readers, plain Splink, plain ``dbt build``.

Each returns seconds and rows so the benchmark can put our stage next to the tool doing the
same work with nothing of ours around it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from cdp.settings import Settings


def _duckdb(settings: Settings, path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), config={"memory_limit": settings.duckdb_memory_limit,
                                             "threads": settings.duckdb_threads})


def duckdb_read_web(settings: Settings) -> dict[str, Any]:
    """``read_json`` of every web landing file into a fresh DuckDB table (cdp/benchmark/web_ingest.py's baseline)."""
    from cdp.benchmark.web_ingest import run_read_json

    with tempfile.TemporaryDirectory(prefix="bench_ref_web_") as folder:
        result = run_read_json(settings, Path(folder))
    return {"reference": "duckdb read_json", "rows": result["events"], "seconds": result["seconds"],
            "checkpoint_seconds": result["checkpoint_seconds"]}


def duckdb_read_call_center(settings: Settings) -> dict[str, Any]:
    """``read_csv`` + ``read_json`` of the call-center exports into one fresh DuckDB table."""
    folder = settings.call_center_landing_dir
    csv_files = [str(p) for p in sorted(folder.glob("*.csv"))]
    json_files = [str(p) for p in sorted(folder.glob("*.json"))]
    with tempfile.TemporaryDirectory(prefix="bench_ref_calls_") as tmp:
        con = _duckdb(settings, Path(tmp) / "reference.duckdb")
        try:
            started = time.perf_counter()
            parts = []
            if csv_files:
                parts.append("SELECT * FROM read_csv(?, all_varchar = true, union_by_name = true, ignore_errors = true)")
            if json_files:
                parts.append("SELECT * FROM read_json(?, format = 'array', union_by_name = true, ignore_errors = true)")
            params = [files for files in (csv_files, json_files) if files]
            if parts:
                con.execute("CREATE TABLE calls AS " + " UNION ALL BY NAME ".join(parts), params)
                rows = con.execute("SELECT count(*) FROM calls").fetchall()[0][0]
            else:
                rows = 0
            con.execute("CHECKPOINT")  # written to the file, as our side's time includes
            seconds = time.perf_counter() - started
        finally:
            con.close()
    return {"reference": "duckdb read_csv+json", "rows": rows, "seconds": seconds}


def duckdb_read_csv_lists(settings: Settings) -> dict[str, Any]:
    """``read_csv`` (sniffed dialect) of every CSV list into its own fresh DuckDB table."""
    files = sorted(settings.csv_landing_dir.glob("*.csv"))
    rows = 0
    with tempfile.TemporaryDirectory(prefix="bench_ref_csv_") as tmp:
        con = _duckdb(settings, Path(tmp) / "reference.duckdb")
        try:
            started = time.perf_counter()
            for number, path in enumerate(files):
                for encoding in ("utf-8", "latin-1"):  # DuckDB has no cp1252; latin-1 reads its bytes
                    try:
                        con.execute(f"CREATE OR REPLACE TABLE list_{number} AS SELECT * FROM read_csv(?, "
                                    f"all_varchar = true, ignore_errors = true, encoding = '{encoding}')", [str(path)])
                        break
                    except duckdb.Error:
                        continue
                else:
                    continue
                rows += con.execute(f"SELECT count(*) FROM list_{number}").fetchall()[0][0]
            con.execute("CHECKPOINT")  # written to the file, as our side's time includes
            seconds = time.perf_counter() - started
        finally:
            con.close()
    return {"reference": "duckdb read_csv", "rows": rows, "seconds": seconds}


DUCKDB_INGEST_REFERENCES = {
    "web": duckdb_read_web,
    "call_center": duckdb_read_call_center,
    "csv": duckdb_read_csv_lists,
    # store: DuckDB 2 here has no sqlite scanner (only json, parquet, icu are built in).
}


def export_splink_input(settings: Settings, parquet: Path) -> int:
    """Write the Splink input columns of identity.person_records_standardised to ``parquet``."""
    from cdp.warehouse import connect
    from identity.probabilistic import SPLINK_COLUMNS_SQL

    parquet.parent.mkdir(parents=True, exist_ok=True)
    with connect(settings, read_only=True) as con:
        target = str(parquet).replace("'", "''")  # COPY takes no parameters
        con.execute(f"COPY (SELECT {SPLINK_COLUMNS_SQL} FROM identity.person_records_standardised) "
                    f"TO '{target}' (FORMAT parquet)")
        return con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchall()[0][0]


def plain_splink(settings: Settings, parquet: Path, truth_path: Path) -> dict[str, Any]:
    """Train, predict and cluster with Splink alone, at the pipeline's threshold; time predict + cluster.

    Same comparisons and blocking rules as the pipeline's model (identity.probabilistic.model_settings),
    trained the same simple way (random-sampling u, EM on identity.train.EM_BLOCKING_RULES).
    """
    from splink import DuckDBAPI, Linker, block_on

    from identity.evaluate import evaluate_mappings, read_truth
    from identity.probabilistic import model_settings
    from identity.train import EM_BLOCKING_RULES

    threshold = float(settings.match_probability_threshold)
    work = _duckdb(settings, Path(":memory:"))
    try:
        work.execute("CREATE TABLE splink_input AS SELECT * FROM read_parquet(?)", [str(parquet)])
        db_api = DuckDBAPI(connection=work)
        linker = Linker(db_api.register("splink_input"), model_settings(), log_level=logging.WARNING)
        train_started = time.perf_counter()
        linker.training.estimate_probability_two_random_records_match(
            [block_on("email"), block_on("first_name", "last_name", "date_of_birth")], recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=float(settings.identity_u_max_pairs), seed=1)
        em_passes = 0
        for number, rule in enumerate(EM_BLOCKING_RULES):
            before = linker.misc.save_model_to_json()
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule), max_pairs=float(settings.identity_em_max_pairs))
                em_passes += 1
            except ValueError as error:  # a degenerate pass on tiny data; the pipeline skips it too
                logging.getLogger(__name__).warning("plain Splink: EM pass %s skipped: %s", rule, error)
                linker = Linker(db_api.register("splink_input", table_name=f"splink_input_retry_{number}"),
                                before, log_level=logging.WARNING)
        train_seconds = time.perf_counter() - train_started
        started = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold)
        rows = work.execute(f"SELECT record_key, cluster_id FROM {clusters.physical_name}").fetchall()
        seconds = time.perf_counter() - started
        pairs = work.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()[0][0]
    finally:
        work.close()
    predicted = {tuple(key.split("|", 1)): cluster for key, cluster in rows}
    accuracy = evaluate_mappings(predicted, read_truth(truth_path))
    return {"reference": "plain splink", "rows": len(rows), "seconds": seconds, "train_seconds": train_seconds,
            "predicted_pairs_above_threshold": pairs, "clusters": len(set(predicted.values())),
            "em_passes": em_passes, "pairwise_f1": accuracy["pairwise_f1"],
            "pairwise_precision": accuracy["pairwise_precision"], "pairwise_recall": accuracy["pairwise_recall"]}


def plain_dbt_build(settings: Settings, warehouse_copy: Path, run_id: str, work_dir: Path) -> dict[str, Any]:
    """``dbt build`` as a CLI subprocess on ``warehouse_copy`` with the pipeline's vars; times it."""
    from cdp.dbt import DBT_PROJECT_DIR, SEGMENTS_PATH, dbt_vars, load_segments

    segments = load_segments(Path(settings.segments_path or SEGMENTS_PATH))
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt) if dbt.exists() else "dbt", "build", "--project-dir", str(DBT_PROJECT_DIR),
               "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(work_dir / "target"),
               "--log-path", str(work_dir / "logs"), "--vars", json.dumps(dbt_vars(settings, run_id, segments))]
    env = {**os.environ, "CDP_WAREHOUSE_PATH": str(warehouse_copy), "CDP_DBT_THREADS": str(settings.dbt_threads),
           "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    started = time.perf_counter()
    outcome = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if outcome.returncode != 0:
        tail = "\n".join(outcome.stdout.splitlines()[-15:])
        raise RuntimeError(f"reference `dbt build` on {warehouse_copy} failed (exit {outcome.returncode}):\n{tail}")
    with duckdb.connect(str(warehouse_copy), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM marts.dim_customers").fetchall()[0][0]
    return {"reference": "dbt build (CLI)", "rows": rows, "seconds": seconds}
