"""Stage 7: publish the resolution to the warehouse in one transaction.

Writes identity.customer_map (the dbt contract), identity.links (+ identity.splink_scored_records,
which lets the next run reuse its Splink pairs), identity.customer_id_history and
identity.run_metrics. Most records keep their customer from one night to the next, so the map is
published as a diff: rows whose customer did not change are left alone (with the ``resolved_at`` /
``run_id`` of the run that last gave them their customer), changed and new ones are written, gone
ones deleted. The links are rewritten whole (see :func:`_publish_links`).

Ids are always assigned against the map as it was *before* this run. The run's changes to the
map are kept in identity.customer_map_changes (with the values they replaced), so a rerun of the
latest run first undoes them and reproduces the same ids and history; identity.customer_map_previous
is a view of the map with those changes undone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from cdp.fingerprint import code_fingerprint
from cdp.warehouse import table_exists
from identity.deterministic import ADDED_ANONYMOUS_LINKS, store_linked_web_batches
from identity.person_records import WEB_BATCHES_NOW
from identity.probabilistic import store_scored_records
from identity.recluster import fingerprint as clusters_fingerprint
from identity.recluster import has_guard_hashes, is_reclustering, store_clustered_records
from identity.schema import (
    IdentityError,
    columns_of,
    fetch_one,
    sql_literal,
    table_comment,
    temp_table_exists,
)
from identity.stable_ids import assign_customer_ids

HISTORY_DDL = """CREATE TABLE IF NOT EXISTS identity.customer_id_history (
    run_id VARCHAR, old_customer_id VARCHAR, new_customer_id VARCHAR, change_type VARCHAR,
    reason VARCHAR, changed_at TIMESTAMP)"""

#: Every customer id any run has handed out, with the run that first issued it. Rows are only ever
#: added: a rerun deletes its history rows and undoes its map rows, but the ids its earlier attempt
#: issued (which exports may already have sent) stay taken, so no later run gives them to anyone.
ISSUED_IDS = "identity.issued_customer_ids"

ISSUED_DDL = f"""CREATE TABLE {ISSUED_IDS} (
    customer_id VARCHAR, first_run_id VARCHAR, first_issued_at TIMESTAMP)"""

METRICS_DDL = """CREATE TABLE IF NOT EXISTS identity.run_metrics (
    run_id VARCHAR, run_date DATE, person_records BIGINT, customers BIGINT, largest_cluster BIGINT,
    clusters_size_1 BIGINT, clusters_size_2_5 BIGINT, clusters_size_6_plus BIGINT,
    share_multi_first_name DOUBLE, share_multi_postcode DOUBLE, deterministic_links BIGINT,
    probabilistic_links BIGINT, rejected_links BIGINT, computed_at TIMESTAMP)"""

MAP_DDL = """CREATE TABLE IF NOT EXISTS identity.customer_map (
    source_system VARCHAR, source_record_id VARCHAR, customer_id VARCHAR, resolved_at TIMESTAMP, run_id VARCHAR)"""

#: One row per record whose customer the latest run changed, added or removed, with what it replaced
#: (previous_* NULL for a record new in that run; customer_id NULL for a record that is gone). A run
#: that found no map leaves one row with NULL keys instead: undoing it empties the map.
CHANGES_DDL = """CREATE TABLE IF NOT EXISTS identity.customer_map_changes (
    run_id VARCHAR, source_system VARCHAR, source_record_id VARCHAR, customer_id VARCHAR,
    previous_customer_id VARCHAR, previous_resolved_at TIMESTAMP, previous_run_id VARCHAR)"""

#: One row per customer of the published map: its records and whether it has more than 3 first
#: names / 5 postcodes, for the run metrics (table comment: :func:`_sizes_fingerprint`). Written
#: with the map; a re-clustering run recounts only the customers it can have changed.
CUSTOMER_SIZES = "identity.customer_sizes"

PREVIOUS_VIEW = """CREATE OR REPLACE VIEW identity.customer_map_previous AS
    SELECT m.source_system, m.source_record_id, m.customer_id, m.resolved_at, m.run_id
    FROM identity.customer_map AS m
    ANTI JOIN identity.customer_map_changes AS c USING (source_system, source_record_id)
    WHERE NOT EXISTS (SELECT 1 FROM identity.customer_map_changes WHERE source_system IS NULL)
    UNION ALL
    SELECT source_system, source_record_id, previous_customer_id, previous_resolved_at, previous_run_id
    FROM identity.customer_map_changes WHERE previous_customer_id IS NOT NULL"""



def _is_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = fetch_one(
        con,
        "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() AND schema_name = ? "
        "AND view_name = ?",
        [schema, name],
    )
    return bool(row and row[0])


def _migrate_whole_table_map(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Warehouses published before the map was diffed have no customer_map_changes, and maybe the
    previous map as a table. A rerun of the run that wrote such a map starts from that previous
    map (none: from no map, so its ids are handed out, and written to history, again)."""
    if table_exists(con, "identity", "customer_map_changes"):
        return
    has_old_previous = table_exists(con, "identity", "customer_map_previous") and not _is_view(
        con, "identity", "customer_map_previous"
    )
    published_by = None
    if table_exists(con, "identity", "customer_map") and "run_id" in columns_of(con, "identity", "customer_map"):
        row = fetch_one(con, "SELECT any_value(run_id) FROM identity.customer_map")
        published_by = row[0] if row else None
    if published_by is not None and published_by == run_id:
        con.execute("DROP TABLE identity.customer_map")
        if has_old_previous:
            con.execute("ALTER TABLE identity.customer_map_previous RENAME TO customer_map")
    elif has_old_previous:
        con.execute("DROP TABLE identity.customer_map_previous")


def _create_issued_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Create :data:`ISSUED_IDS` on a warehouse without it, from every id the identity tables still
    name: the history (an id's issuing run is that of its first ``new`` or ``split`` row), the map,
    the latest run's change log and an older version's previous-map table. Ids that had left all
    of them before this table existed cannot be known."""
    if table_exists(con, *ISSUED_IDS.split(".", 1)):
        return
    named = ["""SELECT new_customer_id AS customer_id,
                       CASE WHEN change_type IN ('new', 'split') THEN run_id END AS run_id,
                       CASE WHEN change_type IN ('new', 'split') THEN changed_at END AS issued_at
                FROM identity.customer_id_history WHERE new_customer_id IS NOT NULL""",
             """SELECT old_customer_id, NULL, NULL FROM identity.customer_id_history
                WHERE old_customer_id IS NOT NULL"""]
    for schema, name, column in (("identity", "customer_map", "customer_id"),
                                 ("identity", "customer_map_changes", "previous_customer_id"),
                                 ("identity", "customer_map_changes", "customer_id"),
                                 ("identity", "customer_map_previous", "customer_id")):
        if table_exists(con, schema, name) and column in columns_of(con, schema, name):
            named.append(f"SELECT {column}, NULL, NULL FROM {schema}.{name} WHERE {column} IS NOT NULL")
    con.execute(ISSUED_DDL)
    union = " UNION ALL ".join(named)
    con.execute(
        f"""INSERT INTO {ISSUED_IDS}
        SELECT customer_id, arg_min(run_id, issued_at), min(issued_at) FROM ({union})
        GROUP BY customer_id ORDER BY customer_id"""
    )


class SupersededRunError(IdentityError):
    """A rerun of a run that a later run has published over."""


def latest_publisher(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run id that published identity.customer_map last (None when unknown).

    Kept as the comment of identity.customer_map_changes; a warehouse published before that
    comment existed names it only through the changes its latest run logged, if any."""
    comment = table_comment(con, "identity.customer_map_changes")
    if comment:
        return comment
    if comment is None:
        return None
    row = fetch_one(con, "SELECT any_value(run_id) FROM identity.customer_map_changes")
    return row[0] if row else None


def check_rerun(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Refuse to publish ``run_id`` again when a later run has published since.

    Ids are assigned against the map before a run, and only the latest run's changes are kept to
    undo, so an older run cannot be replayed: publishing it again would rewrite its history rows
    (which the later runs' ids and ``cdp identity explain`` rely on) from tonight's map."""
    if not table_exists(con, "identity", "run_metrics"):
        return
    published = fetch_one(
        con,
        "SELECT count(*) FROM (SELECT run_id FROM identity.run_metrics WHERE run_id = ? LIMIT 1)",
        [run_id],
    )[0]
    if table_exists(con, "identity", "customer_id_history"):
        published += fetch_one(
            con,
            "SELECT count(*) FROM (SELECT run_id FROM identity.customer_id_history WHERE run_id = ? LIMIT 1)",
            [run_id],
        )[0]
    latest = latest_publisher(con)
    if published and latest is not None and latest != run_id:
        raise SupersededRunError(
            f"identity run {run_id!r} was already published, and run {latest!r} has published the "
            f"customer map since: republishing {run_id!r} would rewrite the id history later runs "
            f"build on. Rerun {latest!r} (the latest run), or resolve today's data under a new run id."
        )


def _undo_rerun(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """When ``run_id`` published the map last, put back the rows it replaced: ids are assigned
    against the map before the run, and unchanged rows keep their own resolved_at again."""
    if fetch_one(con, "SELECT count(*) FROM identity.customer_map_changes WHERE run_id = ? AND source_system IS NULL",
                 [run_id])[0]:
        con.execute("DELETE FROM identity.customer_map")  # that run found no map
    con.execute(
        """DELETE FROM identity.customer_map AS m USING identity.customer_map_changes AS c
        WHERE c.run_id = ? AND m.source_system = c.source_system AND m.source_record_id = c.source_record_id""",
        [run_id],
    )
    con.execute(
        """INSERT INTO identity.customer_map
        SELECT source_system, source_record_id, previous_customer_id, previous_resolved_at, previous_run_id
        FROM identity.customer_map_changes WHERE run_id = ? AND previous_customer_id IS NOT NULL""",
        [run_id],
    )
    # The table holds one run's changes: ``run_id``'s own, just undone, or, for a new run, those
    # of the run it publishes over, which can no longer be undone (check_rerun refuses a rerun of
    # that run from now on). Other runs' history rows are never touched.
    con.execute("DELETE FROM identity.customer_map_changes")


def _stage_map(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP TABLE customer_map_new from customer_assignments and, after a re-clustering run,
    map_scope: the re-clustered and gone records, the only ones that can have another customer."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE customer_map_new AS
        -- Every record has an assignment; a source system name never holds '|'.
        SELECT split_part(record_key, '|', 1) AS source_system,
               substr(record_key, strpos(record_key, '|') + 1) AS source_record_id, customer_id
        FROM customer_assignments"""
    )
    if is_reclustering(con):
        con.execute(
            """CREATE OR REPLACE TEMP TABLE map_scope AS
            SELECT split_part(record_key, '|', 1) AS source_system,
                   substr(record_key, strpos(record_key, '|') + 1) AS source_record_id
            FROM (SELECT record_key FROM reclustered_records UNION SELECT record_key FROM changed_records)"""
        )


def _publish_map(con: duckdb.DuckDBPyConnection, run_id: str, run_at: str) -> None:
    """Make identity.customer_map hold TEMP TABLE customer_map_new (see :func:`_stage_map`), writing
    only the records whose customer changed (or that are new or gone) and noting them in
    customer_map_changes."""
    published = "identity.customer_map"
    if is_reclustering(con):
        published = "(SELECT * FROM identity.customer_map SEMI JOIN map_scope USING (source_system, source_record_id))"
    elif not fetch_one(con, "SELECT count(*) FROM (SELECT 1 FROM identity.customer_map LIMIT 1)")[0]:
        # No map yet: one marker row rather than a logged row per record.
        con.execute("INSERT INTO identity.customer_map_changes (run_id) VALUES (?)", [run_id])
        con.execute(
            f"""INSERT INTO identity.customer_map
            SELECT source_system, source_record_id, customer_id, {run_at}, ? FROM customer_map_new
            ORDER BY source_system, source_record_id""",
            [run_id],
        )
        return
    con.execute(
        f"""INSERT INTO identity.customer_map_changes
        SELECT ?, coalesce(n.source_system, m.source_system), coalesce(n.source_record_id, m.source_record_id),
               n.customer_id, m.customer_id, m.resolved_at, m.run_id
        FROM customer_map_new AS n FULL JOIN {published} AS m USING (source_system, source_record_id)
        WHERE n.customer_id IS DISTINCT FROM m.customer_id""",
        [run_id],
    )
    con.execute("DROP TABLE IF EXISTS map_scope")
    con.execute(
        """DELETE FROM identity.customer_map AS m USING identity.customer_map_changes AS c
        WHERE c.previous_customer_id IS NOT NULL
          AND m.source_system = c.source_system AND m.source_record_id = c.source_record_id"""
    )
    con.execute(
        f"""INSERT INTO identity.customer_map
        SELECT source_system, source_record_id, customer_id, {run_at}, run_id
        FROM identity.customer_map_changes WHERE customer_id IS NOT NULL
        ORDER BY source_system, source_record_id"""
    )


_LINK_COLUMNS = ("link_type", "match_weight", "match_probability", "comparison_levels", "is_accepted",
                 "rejected_reason")


def _publish_links(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Make identity.links hold TEMP TABLE candidate_links, writing only the links that are new,
    gone or changed, so ``run_id`` is the run that last wrote the link (as in the map).

    After a re-clustering run (candidate_links holds the links touching re-clustered records)
    only the published links touching re-clustered or gone records are compared; other runs
    compare them all (100k: ~1.0 s CPU against ~0.55 s for rewriting the table, on full nights only).
    """
    tonight = """SELECT record_key_l AS source_record_key_l, record_key_r AS source_record_key_r, link_type, rule,
                        match_weight, match_probability, comparison_levels,
                        rejected_reason IS NULL AS is_accepted, rejected_reason
                 FROM candidate_links"""
    if not table_exists(con, "identity", "links"):
        con.execute(f"CREATE TABLE identity.links AS SELECT *, ? AS run_id FROM ({tonight})", [run_id])
        return
    published = "identity.links"
    if is_reclustering(con):
        con.execute(
            """CREATE OR REPLACE TEMP TABLE links_scope AS
            SELECT record_key FROM reclustered_records UNION SELECT record_key FROM changed_records"""
        )
        published = """(SELECT * FROM identity.links
            WHERE source_record_key_l IN (SELECT record_key FROM links_scope)
               OR source_record_key_r IN (SELECT record_key FROM links_scope))"""
    differs = " OR ".join(
        f"n.{column}::VARCHAR IS DISTINCT FROM o.{column}::VARCHAR" if column == "comparison_levels"
        else f"n.{column} IS DISTINCT FROM o.{column}"
        for column in _LINK_COLUMNS
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE links_tonight AS {tonight}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE links_changed AS
        WITH published AS (SELECT * FROM {published})
        SELECT coalesce(n.source_record_key_l, o.source_record_key_l) AS source_record_key_l,
               coalesce(n.source_record_key_r, o.source_record_key_r) AS source_record_key_r,
               coalesce(n.rule, o.rule) AS rule,
               o.source_record_key_l IS NOT NULL AS is_published, n.source_record_key_l IS NOT NULL AS is_tonight
        FROM links_tonight AS n FULL JOIN published AS o
          ON o.source_record_key_l = n.source_record_key_l AND o.source_record_key_r = n.source_record_key_r
         AND o.rule = n.rule
        WHERE n.source_record_key_l IS NULL OR o.source_record_key_l IS NULL OR {differs}"""
    )
    con.execute(
        """DELETE FROM identity.links AS l USING links_changed AS c
        WHERE c.is_published AND l.source_record_key_l = c.source_record_key_l
          AND l.source_record_key_r = c.source_record_key_r AND l.rule = c.rule"""
    )
    con.execute(
        """INSERT INTO identity.links
        SELECT n.*, ? FROM links_tonight AS n
        SEMI JOIN (SELECT * FROM links_changed WHERE is_tonight) AS c
          USING (source_record_key_l, source_record_key_r, rule)
        ORDER BY source_record_key_l, source_record_key_r, rule""",
        [run_id],
    )
    for table in ("links_tonight", "links_changed", "links_scope"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _shape(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str]]:
    return con.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position""",
        [schema, name],
    ).fetchall()


_MAP_SHAPE = [("source_system", "VARCHAR"), ("source_record_id", "VARCHAR"), ("customer_id", "VARCHAR"),
              ("resolved_at", "TIMESTAMP"), ("run_id", "VARCHAR")]


def _conform_tables(con: duckdb.DuckDBPyConnection) -> None:
    """A map written by an older version in another shape keeps its ids (missing columns become NULL)."""
    if table_exists(con, "identity", "customer_map"):
        shape = _shape(con, "identity", "customer_map")
        if shape != _MAP_SHAPE:
            present = {column for column, _kind in shape}
            selected = ", ".join(
                f"CAST({column if column in present else 'NULL'} AS {kind}) AS {column}" for column, kind in _MAP_SHAPE
            )
            con.execute(f"CREATE OR REPLACE TABLE identity.customer_map AS SELECT {selected} FROM identity.customer_map")


def publish(con: duckdb.DuckDBPyConnection, settings: Any, run_id: str, records: str) -> dict[str, Any]:
    """Assign stable ids to TEMP TABLE clusters and write the identity tables; returns the run metrics."""
    run_at = f"CAST(DATE '{settings.run_date.isoformat()}' AS TIMESTAMP)"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(HISTORY_DDL)
        con.execute(METRICS_DDL)
        check_rerun(con, run_id)
        # Before this run's history rows go: a rerun's own earlier ids are known by them.
        _create_issued_ids(con)
        con.execute("DELETE FROM identity.customer_id_history WHERE run_id = ?", [run_id])
        _migrate_whole_table_map(con, run_id)
        _conform_tables(con)
        for ddl in (MAP_DDL, CHANGES_DDL, PREVIOUS_VIEW):
            con.execute(ddl)
        _undo_rerun(con, run_id)
        assign_customer_ids(con, records, previous_map="identity.customer_map", history="identity.customer_id_history",
                            issued=ISSUED_IDS, run_id=run_id)
        _stage_map(con)
        # Before the map and links are written: DuckDB 2.0.0 counted no rows in identity.customer_map
        # read back in this transaction after the whole map was deleted and inserted (a rerun of a
        # first night), although the commit wrote them all.
        _measure(con, records, _sizes_fingerprint(settings))
        _publish_map(con, run_id, run_at)
        con.execute(f"COMMENT ON TABLE identity.customer_map_changes IS {sql_literal(run_id)}")
        con.execute(
            f"""INSERT INTO identity.customer_id_history
            SELECT ?, old_customer_id, new_customer_id, change_type, reason, {run_at}
            FROM id_changes ORDER BY change_type, new_customer_id, old_customer_id""",
            [run_id],
        )
        # Every fresh id has a new or split row naming it; inherited ones are already there.
        con.execute(
            f"""INSERT INTO {ISSUED_IDS}
            SELECT DISTINCT new_customer_id, ?, {run_at} FROM id_changes
            WHERE new_customer_id NOT IN (SELECT customer_id FROM {ISSUED_IDS})
            ORDER BY 1""",
            [run_id],
        )
        _publish_links(con, run_id)
        # With the links they describe: tomorrow's run reuses Splink pairs of unchanged records.
        store_scored_records(con)
        if has_guard_hashes(con):
            store_clustered_records(con, settings.match_probability_threshold, settings.max_cluster_size)
        # With the links: tomorrow's run reads anonymous-to-user pairs only from newer batches.
        store_linked_web_batches(con)
        _store_customer_sizes(con, _sizes_fingerprint(settings))
        metrics = _run_metrics(con, settings, run_id, records)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for table in ("customer_assignments", "id_changes", "customer_map_new", "map_scope", "reclustered_records",
                  "changed_records", "dirty_records", "guard_hashes", "identifier_changed", "record_hash_changes",
                  WEB_BATCHES_NOW, ADDED_ANONYMOUS_LINKS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return metrics


def _measure(con: duckdb.DuckDBPyConnection, records: str, sizes_fingerprint: str) -> None:
    """TEMP TABLEs customer_sizes and link_counts describing the map and links this run publishes:
    tonight's rows (customer_map_new, candidate_links) and, after a re-clustering run, the
    published rows outside its scope, which it leaves as they are. Read before anything is written.

    After a re-clustering run that also reused Splink pairs, only the customers it can have
    changed are counted (see :func:`_recount_touched_customers`); the rest are read from
    :data:`CUSTOMER_SIZES` (``sizes_fingerprint``: what its comment must be)."""
    kept_map = "SELECT NULL::VARCHAR AS source_system, NULL::VARCHAR AS source_record_id, NULL::VARCHAR AS customer_id LIMIT 0"
    kept_links = "SELECT NULL::VARCHAR AS link_type, NULL::BOOLEAN AS is_accepted LIMIT 0"
    if is_reclustering(con):
        kept_map = """SELECT source_system, source_record_id, customer_id FROM identity.customer_map
                      ANTI JOIN map_scope USING (source_system, source_record_id)"""
        kept_links = """SELECT link_type, is_accepted FROM identity.links
                        WHERE source_record_key_l NOT IN (SELECT record_key FROM map_scope_keys)
                          AND source_record_key_r NOT IN (SELECT record_key FROM map_scope_keys)"""
        con.execute(
            """CREATE OR REPLACE TEMP TABLE map_scope_keys AS
            SELECT record_key FROM reclustered_records UNION SELECT record_key FROM changed_records"""
        )
    for table in ("customer_sizes_touched", "customer_sizes_recounted"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    if (
        is_reclustering(con)
        and temp_table_exists(con, "splink_scored_stale")
        and table_comment(con, CUSTOMER_SIZES) == sizes_fingerprint
    ):
        _recount_touched_customers(con, records, kept_map)
    else:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE customer_sizes AS
            {_customer_sizes_sql(f"SELECT * FROM customer_map_new UNION ALL ({kept_map})", records)}"""
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE link_counts AS
        SELECT count(*) FILTER (WHERE link_type = 'deterministic' AND is_accepted) AS deterministic_links,
               count(*) FILTER (WHERE link_type = 'probabilistic' AND is_accepted) AS probabilistic_links,
               count(*) FILTER (WHERE NOT is_accepted) AS rejected_links
        FROM (SELECT link_type, rejected_reason IS NULL AS is_accepted FROM candidate_links
              UNION ALL ({kept_links}))"""
    )
    con.execute("DROP TABLE IF EXISTS map_scope_keys")


def _customer_sizes_sql(mapped: str, records: str) -> str:
    """SELECT of (customer_id, records, has_many_first_names, has_many_postcodes) for the customers
    of ``mapped`` (map rows, each of a different record of ``records``), from those rows alone.

    The metrics ask whether a customer has more than 3 first names or 5 postcodes, which takes 4+
    records: distinct values are counted only for those customers (counting them for every
    customer was ~40% of this query's CPU at 100k), and only their map rows are joined with the
    records (each map row is one record's: tonight's assignments are of tonight's records, and
    the kept rows are of records neither gone nor re-clustered), so sizes need no join."""
    return f"""WITH mapped AS ({mapped}),
        sizes AS (SELECT customer_id, count(*) AS records FROM mapped GROUP BY customer_id),
        large AS (
            SELECT m.customer_id, count(DISTINCT s.first_name) > 3 AS has_many_first_names,
                   count(DISTINCT s.postcode) > 5 AS has_many_postcodes
            FROM mapped AS m JOIN {records} AS s USING (source_system, source_record_id)
            WHERE m.customer_id IN (SELECT customer_id FROM sizes WHERE records > 3)
            GROUP BY m.customer_id
        )
        SELECT customer_id, records, coalesce(has_many_first_names, false) AS has_many_first_names,
               coalesce(has_many_postcodes, false) AS has_many_postcodes
        FROM sizes LEFT JOIN large USING (customer_id)"""


def _recount_touched_customers(con: duckdb.DuckDBPyConnection, records: str, kept_map: str) -> None:
    """TEMP TABLE customer_sizes from :data:`CUSTOMER_SIZES` (the published map's customers) with
    the customers this re-clustering run can have changed counted again: TEMP TABLEs
    customer_sizes_touched (their ids) and customer_sizes_recounted (their rows, for
    :func:`_store_customer_sizes`).

    A customer's row depends on its records and their first names and postcodes. Outside the
    re-clustered scope a customer keeps exactly its records (whole components are re-clustered,
    and no re-clustered cluster takes a kept customer's id); a record's first name and postcode
    are among Splink's compared values, so one that changed is in TEMP TABLE splink_scored (new
    and changed records) or splink_scored_stale (changed and gone ones), whatever its links did.
    So the touched customers are the published customers of re-clustered, gone or re-scored
    records and tonight's customers of the re-clustered ones; every other row is as published.
    """
    con.execute(
        """CREATE TEMP TABLE customer_sizes_touched AS
        WITH touched_records AS (
            SELECT source_system, source_record_id FROM map_scope
            UNION
            SELECT split_part(record_key, '|', 1), substr(record_key, strpos(record_key, '|') + 1)
            FROM (SELECT record_key FROM splink_scored UNION SELECT record_key FROM splink_scored_stale)
        )
        SELECT customer_id FROM identity.customer_map SEMI JOIN touched_records USING (source_system, source_record_id)
        UNION SELECT customer_id FROM customer_map_new"""
    )
    mapped = f"""SELECT * FROM customer_map_new
        UNION ALL (SELECT * FROM ({kept_map}) WHERE customer_id IN (SELECT customer_id FROM customer_sizes_touched))"""
    con.execute(f"CREATE TEMP TABLE customer_sizes_recounted AS {_customer_sizes_sql(mapped, records)}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE customer_sizes AS
        SELECT * FROM customer_sizes_recounted
        UNION ALL (SELECT * FROM {CUSTOMER_SIZES} ANTI JOIN customer_sizes_touched USING (customer_id))"""
    )


def _sizes_fingerprint(settings: Any) -> str:
    """What :data:`CUSTOMER_SIZES` depends on besides the map and records: this module and the
    clustering baseline's fingerprint (the scope the recount relies on)."""
    return code_fingerprint(
        [Path(__file__)], clusters_fingerprint(settings.match_probability_threshold, settings.max_cluster_size)
    )


def _store_customer_sizes(con: duckdb.DuckDBPyConnection, sizes_fingerprint: str) -> None:
    """Write :data:`CUSTOMER_SIZES` from what :func:`_measure` counted, in the publishing
    transaction: after a recount only the touched customers' rows, otherwise the whole table."""
    if temp_table_exists(con, "customer_sizes_touched"):
        con.execute(
            f"DELETE FROM {CUSTOMER_SIZES} WHERE customer_id IN (SELECT customer_id FROM customer_sizes_touched)"
        )
        con.execute(f"INSERT INTO {CUSTOMER_SIZES} SELECT * FROM customer_sizes_recounted ORDER BY customer_id")
        for table in ("customer_sizes_touched", "customer_sizes_recounted"):
            con.execute(f"DROP TABLE {table}")
        return
    con.execute(f"CREATE OR REPLACE TABLE {CUSTOMER_SIZES} AS SELECT * FROM customer_sizes ORDER BY customer_id")
    con.execute(f"COMMENT ON TABLE {CUSTOMER_SIZES} IS {sql_literal(sizes_fingerprint)}")


def _run_metrics(con: duckdb.DuckDBPyConnection, settings: Any, run_id: str, records: str) -> dict[str, Any]:
    """Replace this run's row of identity.run_metrics from what :func:`_measure` counted."""
    con.execute("DELETE FROM identity.run_metrics WHERE run_id = ?", [run_id])
    run_at = f"CAST(DATE '{settings.run_date.isoformat()}' AS TIMESTAMP)"
    con.execute(
        f"""INSERT INTO identity.run_metrics
        WITH sized AS (SELECT * FROM customer_sizes)
        SELECT ?, DATE '{settings.run_date.isoformat()}', sum(records), count(*), max(records),
               count(*) FILTER (WHERE records = 1), count(*) FILTER (WHERE records BETWEEN 2 AND 5),
               count(*) FILTER (WHERE records >= 6),
               coalesce(avg(CASE WHEN has_many_first_names THEN 1.0 ELSE 0.0 END), 0),
               coalesce(avg(CASE WHEN has_many_postcodes THEN 1.0 ELSE 0.0 END), 0),
               any_value(l.deterministic_links), any_value(l.probabilistic_links), any_value(l.rejected_links),
               {run_at}
        FROM sized, link_counts AS l""",
        [run_id],
    )
    for table in ("customer_sizes", "link_counts"):
        con.execute(f"DROP TABLE {table}")
    cursor = con.execute("SELECT * FROM identity.run_metrics WHERE run_id = ?", [run_id])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))
