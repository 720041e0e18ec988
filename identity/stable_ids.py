"""Stage 6: give clusters customer ids that survive from run to run.

Against the previous identity.customer_map:

* every previous id goes to the new cluster holding most of its records (a split keeps the id
  on its biggest part; the other parts get new ids and a ``split`` history row);
* a cluster that wins several previous ids keeps the oldest; each other one goes to the cluster
  without an id holding most of its remaining records (a ``split`` row for the records that left),
  or, with none, is retired (a ``merge`` row);
* a cluster that wins none gets a new id, ``cus_`` + a hash of its smallest record key, so a
  rerun on the same data produces the same ids (``new`` row), salted when that id was ever
  handed out before (``issued``: every id any run has issued, including attempts a rerun undid).
"""

from __future__ import annotations

import duckdb

from cdp.warehouse import table_exists
from identity.schema import fetch_one, sql_literal

ID_PREFIX = "cus_"


def _new_id_sql(seed: str, salt: int) -> str:
    salted = seed if salt == 0 else f"{seed} || '#{salt}'"
    return f"'{ID_PREFIX}' || left(sha256({salted}), 16)"


def assign_customer_ids(
    con: duckdb.DuckDBPyConnection,
    records: str,
    previous_map: str | None = "identity.customer_map",
    history: str | None = "identity.customer_id_history",
    issued: str | None = None,
    run_id: str | None = None,
) -> None:
    """From TEMP TABLE clusters, create TEMP TABLEs customer_assignments(record_key, customer_id)
    and id_changes(old_customer_id, new_customer_id, change_type, reason).

    ``issued`` (customer_id, first_run_id, ...): every id ever handed out. When given, a fresh id
    is taken if it is there, unless ``run_id`` first issued it (a rerun may hand out its own
    attempt's ids again); otherwise the ids in ``history`` and ``previous_map`` are taken."""
    has_previous = previous_map is not None and table_exists(con, *previous_map.split(".", 1))
    # Joined on the map's own key columns (a source system name never holds '|'): building the
    # record key of every map row cost more than the join when few records are re-clustered.
    previous = (
        f"SELECT source_system, source_record_id, customer_id FROM {previous_map}"
        if has_previous
        else "SELECT NULL::VARCHAR AS source_system, NULL::VARCHAR AS source_record_id, NULL::VARCHAR AS customer_id LIMIT 0"
    )
    has_history = history is not None and table_exists(con, *history.split(".", 1))
    # "Oldest" is the run that first gave out the id (as new, or as the fresh id of a split part);
    # ids from before history existed sort first.
    created = (
        f"""SELECT new_customer_id AS customer_id, min(changed_at) AS created_at FROM {history}
            WHERE new_customer_id IN (SELECT old_id FROM cluster_overlaps) GROUP BY 1"""
        if has_history
        else "SELECT NULL::VARCHAR AS customer_id, NULL::TIMESTAMP AS created_at LIMIT 0"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE id_overlaps AS
        WITH previous AS ({previous}),
        cluster_overlaps AS (
            SELECT c.cluster_key, p.customer_id AS old_id, count(*) AS shared
            FROM (SELECT cluster_key, split_part(record_key, '|', 1) AS source_system,
                         substr(record_key, strpos(record_key, '|') + 1) AS source_record_id
                  FROM clusters) AS c
            JOIN previous AS p USING (source_system, source_record_id)
            GROUP BY ALL
        ),
        created AS ({created})
        SELECT o.*, cr.created_at,
               row_number() OVER (PARTITION BY o.old_id ORDER BY o.shared DESC, o.cluster_key) = 1 AS is_winner
        FROM cluster_overlaps AS o LEFT JOIN created AS cr ON cr.customer_id = o.old_id"""
    )
    oldest = "arg_min(old_id, (created_at IS NOT NULL, created_at, old_id))"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE inherited AS
        SELECT cluster_key, {oldest} AS customer_id FROM id_overlaps WHERE is_winner GROUP BY cluster_key"""
    )
    # An id that lost to an older one in the cluster holding most of its records goes to the
    # cluster without an id holding most of the rest: previous B = {b1, b2, b3} with b1, b2 now
    # in older A's cluster keeps B on {b3} (a split) instead of retiring B and calling b3 new. Each
    # round places at least one id, so the loop ends; ties go to the smaller cluster key.
    while True:
        placed = con.execute(
            f"""INSERT INTO inherited
            SELECT cluster_key, {oldest} FROM (
                SELECT *, row_number() OVER (PARTITION BY old_id ORDER BY shared DESC, cluster_key) = 1 AS is_best
                FROM id_overlaps
                WHERE old_id NOT IN (SELECT customer_id FROM inherited)
                  AND cluster_key NOT IN (SELECT cluster_key FROM inherited)
            ) WHERE is_best GROUP BY cluster_key"""
        ).fetchone()[0]
        if not placed:
            break
    # Ids ever handed out must never be reused for someone else: salt the hash on a clash. Only
    # the taken ids among the fresh ones are collected (the fresh ids are the small side to hash).
    fresh_ids = "(SELECT customer_id FROM fresh)"
    taken_sql = f"SELECT old_id AS customer_id FROM id_overlaps WHERE old_id IN {fresh_ids}"
    # A rerun deletes its history rows and undoes its map rows, so only ``issued`` still knows
    # the ids its earlier attempt handed out (and exports may already have sent).
    if issued is not None and table_exists(con, *issued.split(".", 1)):
        taken_sql += (f" UNION SELECT customer_id FROM {issued} WHERE customer_id IN {fresh_ids}"
                      f" AND first_run_id IS DISTINCT FROM {'NULL' if run_id is None else sql_literal(run_id)}")
    else:
        if has_history:
            taken_sql += (f" UNION SELECT new_customer_id FROM {history} WHERE new_customer_id IN {fresh_ids}"
                          f" UNION SELECT old_customer_id FROM {history} WHERE old_customer_id IN {fresh_ids}")
        if has_previous:
            taken_sql += f" UNION SELECT customer_id FROM {previous_map} WHERE customer_id IN {fresh_ids}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fresh AS
        SELECT DISTINCT cluster_key, {_new_id_sql("cluster_key", 0)} AS customer_id FROM clusters
        WHERE cluster_key NOT IN (SELECT cluster_key FROM inherited)"""
    )
    for salt in range(1, 6):
        con.execute(f"CREATE OR REPLACE TEMP TABLE taken_ids AS {taken_sql}")
        clashes = fetch_one(con,
            """SELECT count(*) FROM fresh WHERE customer_id IN (SELECT customer_id FROM taken_ids)
                  OR customer_id IN (SELECT customer_id FROM inherited)"""
        )[0]
        if clashes == 0:
            break
        con.execute(
            f"""UPDATE fresh SET customer_id = {_new_id_sql("cluster_key", salt)}
                WHERE customer_id IN (SELECT customer_id FROM taken_ids)
                   OR customer_id IN (SELECT customer_id FROM inherited)"""
        )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE cluster_ids AS
        SELECT cluster_key, customer_id, false AS is_fresh FROM inherited
        UNION ALL SELECT cluster_key, customer_id, true FROM fresh"""
    )
    duplicates = fetch_one(con,
        "SELECT customer_id FROM cluster_ids GROUP BY 1 HAVING count(*) > 1 LIMIT 1"
    )
    if duplicates:
        raise RuntimeError(f"customer id {duplicates[0]} was assigned to two clusters; refusing to publish")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE customer_assignments AS
        SELECT c.record_key, i.customer_id FROM clusters AS c JOIN cluster_ids AS i USING (cluster_key)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE id_changes AS
        WITH kept AS (SELECT customer_id FROM cluster_ids WHERE NOT is_fresh),
        moved AS (
            SELECT o.old_id, i.customer_id AS new_id, o.shared, i.is_fresh,
                   o.old_id IN (SELECT customer_id FROM kept) AS old_id_survives
            FROM id_overlaps AS o JOIN cluster_ids AS i USING (cluster_key)
            WHERE o.old_id <> i.customer_id
        )
        SELECT old_id AS old_customer_id, new_id AS new_customer_id,
               CASE WHEN old_id_survives THEN 'split' ELSE 'merge' END AS change_type,
               CASE WHEN old_id_survives
                    THEN shared || ' record(s) of ' || old_id || ' now belong to ' || new_id
                    ELSE old_id || ' merged into ' || new_id || ' (' || shared || ' record(s)); the oldest id is kept'
               END AS reason
        FROM moved
        UNION ALL
        SELECT NULL, i.customer_id, 'new',
               'new customer of ' || count(*) || ' record(s), first seen in this run'
        FROM cluster_ids AS i JOIN clusters AS c USING (cluster_key)
        WHERE i.is_fresh AND i.cluster_key NOT IN (SELECT cluster_key FROM id_overlaps)
        GROUP BY i.customer_id"""
    )
    for table in ("id_overlaps", "inherited", "taken_ids", "fresh", "cluster_ids"):
        con.execute(f"DROP TABLE {table}")
