"""Stage 7: publish the resolution to the warehouse in one transaction.

Writes identity.customer_map (the dbt contract), identity.links, identity.customer_id_history and
identity.run_metrics. Reruns of a run_id replace that run's rows and reproduce the same ids,
because ids are always assigned against the map as it was *before* this run
(identity.customer_map_previous).
"""

from __future__ import annotations

from typing import Any

import duckdb

from cdp.warehouse import table_exists
from identity.schema import columns_of, fetch_one
from identity.stable_ids import assign_customer_ids

HISTORY_DDL = """CREATE TABLE IF NOT EXISTS identity.customer_id_history (
    run_id VARCHAR, old_customer_id VARCHAR, new_customer_id VARCHAR, change_type VARCHAR,
    reason VARCHAR, changed_at TIMESTAMP)"""

METRICS_DDL = """CREATE TABLE IF NOT EXISTS identity.run_metrics (
    run_id VARCHAR, run_date DATE, person_records BIGINT, customers BIGINT, largest_cluster BIGINT,
    clusters_size_1 BIGINT, clusters_size_2_5 BIGINT, clusters_size_6_plus BIGINT,
    share_multi_first_name DOUBLE, share_multi_postcode DOUBLE, deterministic_links BIGINT,
    probabilistic_links BIGINT, rejected_links BIGINT, computed_at TIMESTAMP)"""


def _baseline_map(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The customer map ids are assigned against: the one before this run, even on a rerun."""
    if table_exists(con, "identity", "customer_map"):
        published_by = None
        if "run_id" in columns_of(con, "identity", "customer_map"):
            row = fetch_one(con, "SELECT any_value(run_id) FROM identity.customer_map")
            published_by = row[0] if row else None
        if published_by != run_id:
            # Renamed, not copied: customer_map is rewritten below anyway (same transaction).
            con.execute("DROP TABLE IF EXISTS identity.customer_map_previous")
            con.execute("ALTER TABLE identity.customer_map RENAME TO customer_map_previous")
            return "identity.customer_map_previous"
    if table_exists(con, "identity", "customer_map_previous"):
        return "identity.customer_map_previous"
    return None


def publish(con: duckdb.DuckDBPyConnection, settings: Any, run_id: str, records: str) -> dict[str, Any]:
    """Assign stable ids to TEMP TABLE clusters and write the identity tables; returns the run metrics."""
    run_at = f"CAST(DATE '{settings.run_date.isoformat()}' AS TIMESTAMP)"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(HISTORY_DDL)
        con.execute(METRICS_DDL)
        con.execute("DELETE FROM identity.customer_id_history WHERE run_id = ?", [run_id])
        baseline = _baseline_map(con, run_id)
        assign_customer_ids(con, records, previous_map=baseline, history="identity.customer_id_history")
        con.execute(
            f"""CREATE OR REPLACE TABLE identity.customer_map AS
            WITH split AS (
                -- Every record has an assignment; a source system name never holds '|'.
                SELECT split_part(record_key, '|', 1) AS source_system, customer_id,
                       substr(record_key, strpos(record_key, '|') + 1) AS source_record_id
                FROM customer_assignments
            )
            SELECT source_system, source_record_id, customer_id, {run_at} AS resolved_at, ? AS run_id
            FROM split ORDER BY source_system, source_record_id""",
            [run_id],
        )
        con.execute(
            f"""INSERT INTO identity.customer_id_history
            SELECT ?, old_customer_id, new_customer_id, change_type, reason, {run_at}
            FROM id_changes ORDER BY change_type, new_customer_id, old_customer_id""",
            [run_id],
        )
        con.execute(
            """CREATE OR REPLACE TABLE identity.links AS
            SELECT record_key_l AS source_record_key_l, record_key_r AS source_record_key_r, link_type, rule,
                   match_weight, match_probability, comparison_levels,
                   rejected_reason IS NULL AS is_accepted, rejected_reason, ? AS run_id
            FROM candidate_links""",
            [run_id],
        )
        metrics = _run_metrics(con, settings, run_id, records)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for table in ("customer_assignments", "id_changes"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return metrics


def _run_metrics(con: duckdb.DuckDBPyConnection, settings: Any, run_id: str, records: str) -> dict[str, Any]:
    con.execute("DELETE FROM identity.run_metrics WHERE run_id = ?", [run_id])
    run_at = f"CAST(DATE '{settings.run_date.isoformat()}' AS TIMESTAMP)"
    con.execute(
        f"""INSERT INTO identity.run_metrics
        WITH sized AS (
            SELECT m.customer_id, count(*) AS records,
                   count(DISTINCT s.first_name) AS first_names, count(DISTINCT s.postcode) AS postcodes
            FROM identity.customer_map AS m
            JOIN {records} AS s USING (source_system, source_record_id)
            GROUP BY m.customer_id
        ),
        link_counts AS (
            SELECT count(*) FILTER (WHERE link_type = 'deterministic' AND is_accepted) AS deterministic_links,
                   count(*) FILTER (WHERE link_type = 'probabilistic' AND is_accepted) AS probabilistic_links,
                   count(*) FILTER (WHERE NOT is_accepted) AS rejected_links
            FROM identity.links
        )
        SELECT ?, DATE '{settings.run_date.isoformat()}', sum(records), count(*), max(records),
               count(*) FILTER (WHERE records = 1), count(*) FILTER (WHERE records BETWEEN 2 AND 5),
               count(*) FILTER (WHERE records >= 6),
               coalesce(avg(CASE WHEN first_names > 3 THEN 1.0 ELSE 0.0 END), 0),
               coalesce(avg(CASE WHEN postcodes > 5 THEN 1.0 ELSE 0.0 END), 0),
               any_value(l.deterministic_links), any_value(l.probabilistic_links), any_value(l.rejected_links),
               {run_at}
        FROM sized, link_counts AS l""",
        [run_id],
    )
    cursor = con.execute("SELECT * FROM identity.run_metrics WHERE run_id = ?", [run_id])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))
