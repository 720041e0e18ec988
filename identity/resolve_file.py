"""Standalone dedupe: resolve the person records in one CSV or Parquet file, no warehouse needed.

The file holds the canonical person-record columns (docs/contracts.md §3); unknown columns are
ignored and missing optional ones treated as empty. Without ``source_system`` every row is
``file``; without ``source_record_id`` the 1-based row number is the id.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import duckdb

from identity.evaluate import evaluate_mappings, read_truth
from identity.pipeline import link_and_cluster
from identity.probabilistic import latest_model_path, work_connection
from identity.schema import (
    PERSON_RECORD_COLUMNS,
    IdentityError,
    TooFewRecordsToTrain,
    fetch_one,
    record_key_sql,
    sql_literal,
)
from identity.stable_ids import assign_customer_ids
from identity.standardise import standardise

log = logging.getLogger(__name__)


def _reader_sql(path: Path) -> str:
    suffix = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({sql_literal(str(path))})"
    if path.suffix.lower() in {".csv", ".tsv", ".txt"} or suffix.endswith(".csv.gz"):
        return f"read_csv({sql_literal(str(path))}, all_varchar = true, header = true)"
    raise IdentityError(f"{path}: expected a .csv or .parquet file of person records")


def load_records(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Load ``path`` into table person_records in the canonical schema; returns the row count."""
    if not path.exists():
        raise IdentityError(f"{path}: file not found")
    con.execute(f"CREATE OR REPLACE TABLE input_rows AS SELECT *, row_number() OVER () AS _row FROM {_reader_sql(path)}")
    present = {row[0].lower(): row[0] for row in con.execute("DESCRIBE input_rows").fetchall()}
    if not set(present) & (set(PERSON_RECORD_COLUMNS) - {"source_system", "source_record_id"}):
        raise IdentityError(
            f"{path}: none of the person-record columns ({', '.join(PERSON_RECORD_COLUMNS)}) is present"
        )
    select = []
    for name, kind in PERSON_RECORD_COLUMNS.items():
        if name in present:
            value = f'"{present[name]}"'
            expression = f"try_cast({value} AS {kind})" if kind != "VARCHAR" else f"CAST({value} AS VARCHAR)"
        elif name == "source_system":
            expression = "'file'"
        elif name == "source_record_id":
            expression = "CAST(_row AS VARCHAR)"
        else:
            expression = f"NULL::{kind}"
        select.append(f"{expression} AS {name}")
    con.execute(f"CREATE OR REPLACE TABLE person_records AS SELECT {', '.join(select)} FROM input_rows")
    duplicate = fetch_one(con,
        "SELECT source_system, source_record_id FROM person_records GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    )
    if duplicate:
        raise IdentityError(f"{path}: record id {duplicate[1]!r} of source {duplicate[0]!r} appears more than once")
    return fetch_one(con, "SELECT count(*) FROM person_records")[0]


def resolve_file(input: Path, output: Path, settings: Any, truth: Path | None = None) -> dict:
    """Dedupe the records in ``input``; write source_system, source_record_id, customer_id to ``output``."""
    input, output = Path(input), Path(output)
    con = work_connection(settings)
    try:
        records = load_records(con, input)
        nulls = fetch_one(con,
            "SELECT count(*) FROM person_records WHERE source_record_id IS NULL OR source_system IS NULL"
        )[0]
        if nulls:
            raise IdentityError(f"{input}: {nulls} row(s) have an empty source_system or source_record_id")
        standardise(con, settings, source="person_records", target="person_records_standardised")
        model_path = latest_model_path(settings)
        if model_path is None:
            from identity.train import train_in_connection

            try:
                model_path = train_in_connection(con, "person_records_standardised", settings)
            except TooFewRecordsToTrain as error:
                log.warning("probabilistic matching skipped: %s", error)
        summary = link_and_cluster(con, settings, "person_records_standardised", model_path, web_events=None)
        assign_customer_ids(con, "person_records_standardised", previous_map=None, history=None)
        rows = con.execute(
            f"""SELECT p.source_system, p.source_record_id, a.customer_id
                FROM person_records AS p JOIN customer_assignments AS a
                  ON a.record_key = {record_key_sql("p")}
                ORDER BY p.source_system, p.source_record_id"""
        ).fetchall()
    finally:
        con.close()
    _write_output(output, rows)
    predicted = {(system, record): customer for system, record, customer in rows}
    sizes: dict[str, int] = {}
    for customer in predicted.values():
        sizes[customer] = sizes.get(customer, 0) + 1
    result: dict[str, Any] = {
        "input": str(input),
        "output": str(output),
        "model": str(model_path) if model_path else None,
        "person_records": records,
        "customers": len(sizes),
        "largest_cluster": max(sizes.values(), default=0),
        **summary,
    }
    if truth is not None:
        result["metrics"] = evaluate_mappings(predicted, read_truth(Path(truth)))
    return result


def _write_output(output: Path, rows: list[tuple[str, str, str]]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(zip(*rows, strict=True)) if rows else [[], [], []]
        table = pa.table({name: pa.array(list(values), pa.string()) for name, values in
                          zip(("source_system", "source_record_id", "customer_id"), columns, strict=True)})
        pq.write_table(table, output)
        return
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_system", "source_record_id", "customer_id"])
        writer.writerows(rows)
