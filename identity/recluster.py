"""Stage 5 on the next night: find the components something touched, so only they are re-clustered.

A component's clusters, cut links and customer ids depend only on its records (the columns the
guards read: names, birth date, web user id) and its links. So against the last published run
(identity.links, identity.customer_map and :data:`CLUSTERED_RECORDS`, written in one transaction):

* *dirty* records are the new, changed and gone ones, both records of every link (tonight's or
  last run's) touching one of them, and both records of every link that differs from last run's
  (added, gone, another weight, levels or own rejection);
* tonight's links touching a dirty record are judged afresh (pair guards); every other link is the
  one last run judged, with the same decision;
* the records to re-cluster are the dirty ones and everything tonight's accepted links connect
  them to: whole components. Every other component has no dirty record, so it is last run's
  component with the same links, and keeps its clusters, cut links and customer ids.

A record outside the re-clustered set keeps last run's customer: its cluster is exactly last
run's customer's records, and no re-clustered record shares its old id, so a full run would hand
it the same id and write no history for it.

Last run's state is only a baseline when it was published by this code with the same settings
(:data:`CLUSTERED_RECORDS` carries a fingerprint) and when this run will not undo the map first
(a rerun of the run that last changed the map assigns ids against the map before that run, which
is not the partition last published): otherwise everything is clustered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from cdp.fingerprint import code_fingerprint
from cdp.warehouse import table_exists
from identity.cluster import build_candidate_links, raw_links_sql
from identity.deterministic import ADDED_ANONYMOUS_LINKS, IDENTIFIER_RULES, OWN_REASON_SQL
from identity.schema import RECORD_KEY_SQL, fetch_one, sql_literal, table_comment, temp_table_exists

log = logging.getLogger(__name__)

#: Hash of each record's guard columns as last published (table comment: :func:`fingerprint`).
CLUSTERED_RECORDS = "identity.clustered_records"
#: Reasons the cluster rebuild gives; any other rejection is the link's own or a pair guard's.
CUT_REASONS = (
    "would_join_two_web_user_ids", "would_join_conflicting_birth_dates", "would_join_conflicting_first_names",
    "cluster_size_cap",
)
_CUT_LIST = ", ".join(f"'{reason}'" for reason in CUT_REASONS)
#: The columns the guards read; a record whose hash differs is re-clustered.
_GUARD_HASH_SQL = "hash(first_name, last_name, name_suffix, date_of_birth, web_user_id)"
#: The columns identifier links are made of; a record whose hash differs has its groups paired again.
_IDENTIFIER_HASH_SQL = "hash(" + ", ".join(column for column, _strong in IDENTIFIER_RULES.values()) + ")"
#: Modules whose rules decide clusters and ids.
_MODULES = ("cluster.py", "recluster.py", "stable_ids.py", "nicknames.py", "deterministic.py")


def fingerprint(threshold: float, max_cluster_size: int) -> str:
    """What last run's clusters depend on besides records and links: rules, settings, DuckDB."""
    here = Path(__file__).parent
    return code_fingerprint((here / module for module in _MODULES), repr(float(threshold)), int(max_cluster_size),
                            duckdb.__version__)


def has_baseline(con: duckdb.DuckDBPyConnection, run_id: str, threshold: float, max_cluster_size: int) -> bool:
    """Can this run re-cluster only what changed since the last published run?"""
    if not all(table_exists(con, "identity", name) for name in ("links", "customer_map", "customer_map_changes")):
        return False
    if table_comment(con, CLUSTERED_RECORDS) != fingerprint(threshold, max_cluster_size):
        return False
    # A rerun of the run that last changed the map starts from the map before it (publish undoes it).
    undone = fetch_one(con, "SELECT count(*) FROM identity.customer_map_changes WHERE run_id = ?", [run_id])[0]
    return not undone


def find_reclustering_scope(con: duckdb.DuckDBPyConnection, records: str, threshold: float) -> int:
    """TEMP TABLEs changed_records (record_key, new/changed/gone), dirty_records and
    reclustered_records (record keys); returns how many records are re-clustered.

    Needs TEMP TABLE guard_hashes (:func:`hash_guard_columns`) and tonight's links
    (deterministic_links, probabilistic_links).
    """
    if not temp_table_exists(con, "record_hash_changes"):
        _diff_record_hashes(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE changed_records AS SELECT record_key FROM record_hash_changes WHERE is_guard_changed"
    )
    con.execute("DROP TABLE record_hash_changes")
    compared = _comparable_links_sql(con)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE tonight_links AS SELECT * FROM ({raw_links_sql(con, threshold)})
        WHERE {compared}
           OR record_key_l IN (SELECT record_key FROM changed_records)
           OR record_key_r IN (SELECT record_key FROM changed_records)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE dirty_records AS
        -- Not materialized: read twice, once for few links with every column, once for keys only
        -- (materialized, every published link was copied with its JSON levels: ~0.1 s CPU at 100k).
        WITH last_run AS NOT MATERIALIZED (
            SELECT source_record_key_l AS record_key_l, source_record_key_r AS record_key_r, link_type, rule,
                   match_weight, match_probability, comparison_levels, {OWN_REASON_SQL} AS rejected_reason
            FROM identity.links
        ),
        differing AS (
            SELECT coalesce(n.record_key_l, o.record_key_l) AS record_key_l,
                   coalesce(n.record_key_r, o.record_key_r) AS record_key_r
            FROM (SELECT * FROM tonight_links WHERE {compared}) AS n
            FULL JOIN (SELECT * FROM last_run WHERE {compared}) AS o
              ON o.record_key_l = n.record_key_l AND o.record_key_r = n.record_key_r AND o.rule = n.rule
            WHERE n.record_key_l IS NULL OR o.record_key_l IS NULL
               OR n.match_weight IS DISTINCT FROM o.match_weight
               OR n.match_probability IS DISTINCT FROM o.match_probability
               OR n.comparison_levels::VARCHAR IS DISTINCT FROM o.comparison_levels::VARCHAR
               OR n.rejected_reason IS DISTINCT FROM o.rejected_reason
            UNION ALL
            SELECT record_key_l, record_key_r FROM tonight_links
            WHERE record_key_l IN (SELECT record_key FROM changed_records)
               OR record_key_r IN (SELECT record_key FROM changed_records)
            UNION ALL
            SELECT record_key_l, record_key_r FROM last_run
            WHERE record_key_l IN (SELECT record_key FROM changed_records)
               OR record_key_r IN (SELECT record_key FROM changed_records)
        )
        SELECT record_key FROM changed_records
        UNION SELECT record_key_l FROM differing
        UNION SELECT record_key_r FROM differing"""
    )
    con.execute("DROP TABLE tonight_links")
    for table in ("link_sources_touched", "deterministic_touched"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    # Tonight's accepted links: judged afresh where they touch a dirty record, last run's otherwise.
    build_candidate_links(con, records, threshold, touching="dirty_records")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE accepted_edges AS
        WITH edges AS (
            SELECT record_key_l, record_key_r FROM candidate_links WHERE rejected_reason IS NULL
            UNION ALL
            SELECT source_record_key_l, source_record_key_r FROM identity.links
            WHERE (rejected_reason IS NULL OR rejected_reason IN ({_CUT_LIST}))
              AND source_record_key_l NOT IN (SELECT record_key FROM dirty_records)
              AND source_record_key_r NOT IN (SELECT record_key FROM dirty_records)
        )
        SELECT record_key_l AS record_key, record_key_r AS partner_key FROM edges
        UNION ALL SELECT record_key_r, record_key_l FROM edges"""
    )
    con.execute("DROP TABLE candidate_links")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE reclustered_records AS
        SELECT record_key FROM dirty_records SEMI JOIN guard_hashes USING (record_key)"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE recluster_frontier AS SELECT record_key FROM reclustered_records")
    while True:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE recluster_frontier AS
            SELECT DISTINCT e.partner_key AS record_key
            FROM accepted_edges AS e SEMI JOIN recluster_frontier AS f USING (record_key)
            WHERE e.partner_key NOT IN (SELECT record_key FROM reclustered_records)"""
        )
        if not fetch_one(con, "SELECT count(*) FROM recluster_frontier")[0]:
            break
        con.execute("INSERT INTO reclustered_records SELECT record_key FROM recluster_frontier")
    for table in ("recluster_frontier", "accepted_edges"):
        con.execute(f"DROP TABLE {table}")
    count = fetch_one(con, "SELECT count(*) FROM reclustered_records")[0]
    log.info("re-clustering %s records (%s new, changed or gone; %s dirty)", count,
             fetch_one(con, "SELECT count(*) FROM changed_records")[0],
             fetch_one(con, "SELECT count(*) FROM dirty_records")[0])
    return count


def _comparable_links_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SQL condition on a link (record_key_l, record_key_r, link_type, rule): the links that can
    differ from last run's. Links of one pair and rule get the same answer tonight and last run,
    so comparing only these finds every differing link.

    When Splink reused last run's pairs (TEMP TABLEs splink_scored, splink_scored_stale), a
    probabilistic link between two records whose compared values did not change is last run's
    row; when identifier groups were paired only where touched (TEMP TABLE deterministic_touched,
    identifier_changed), an identifier link between two records neither changed nor in a touched
    group is last run's row; when anonymous-to-user links were read only from new load batches
    (TEMP TABLE anonymous_links_added), one whose anonymous record has no added link is last
    run's row. Everything else (full predicts, links from every event) is compared.
    """
    if temp_table_exists(con, ADDED_ANONYMOUS_LINKS):
        condition = [f"(rule = 'anonymous_to_user' AND record_key_l IN (SELECT record_key_l FROM {ADDED_ANONYMOUS_LINKS}))"]
    else:
        condition = ["rule = 'anonymous_to_user'"]
    touched = []
    if temp_table_exists(con, "splink_scored_stale"):
        touched.append("SELECT record_key FROM splink_scored UNION SELECT record_key FROM splink_scored_stale")
    else:
        condition.append("link_type = 'probabilistic'")
    if temp_table_exists(con, "deterministic_touched"):
        touched.append("SELECT record_key FROM deterministic_touched UNION SELECT record_key FROM identifier_changed")
    else:
        condition.append("link_type = 'deterministic'")
    if touched:
        con.execute(f"CREATE OR REPLACE TEMP TABLE link_sources_touched AS {' UNION '.join(touched)}")
        condition += ["record_key_l IN (SELECT record_key FROM link_sources_touched)",
                      "record_key_r IN (SELECT record_key FROM link_sources_touched)"]
    return "(" + " OR ".join(condition) + ")"


def is_reclustering(con: duckdb.DuckDBPyConnection) -> bool:
    """Did this run re-cluster only some records (TEMP TABLE reclustered_records)?"""
    return temp_table_exists(con, "reclustered_records")


def has_guard_hashes(con: duckdb.DuckDBPyConnection) -> bool:
    """Did this run hash its records' guard columns (a warehouse run, TEMP TABLE guard_hashes)?"""
    return temp_table_exists(con, "guard_hashes")


def hash_guard_columns(con: duckdb.DuckDBPyConnection, records: str) -> None:
    """TEMP TABLE guard_hashes(record_key, guard_hash) of tonight's records."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE guard_hashes AS
        SELECT {RECORD_KEY_SQL} AS record_key, {_GUARD_HASH_SQL} AS guard_hash,
               {_IDENTIFIER_HASH_SQL} AS identifier_hash
        FROM {records}"""
    )


def find_identifier_changes(con: duckdb.DuckDBPyConnection) -> str:
    """TEMP TABLE identifier_changed: keys of the records whose identifiers (the columns identifier
    links are made of) differ from last published run's, new and gone ones included; returns its name.
    Needs TEMP TABLE guard_hashes and a baseline (:func:`has_baseline`)."""
    _diff_record_hashes(con)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE identifier_changed AS
        SELECT record_key FROM record_hash_changes WHERE is_identifier_changed"""
    )
    return "identifier_changed"


def _diff_record_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP TABLE record_hash_changes(record_key, is_guard_changed, is_identifier_changed): the
    records whose guard or identifier hash differs from last published run's, new and gone ones
    included. One key join for both (keys are unique on both sides)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE record_hash_changes AS
        SELECT coalesce(n.record_key, o.record_key) AS record_key,
               n.guard_hash IS DISTINCT FROM o.guard_hash AS is_guard_changed,
               n.identifier_hash IS DISTINCT FROM o.identifier_hash AS is_identifier_changed
        FROM guard_hashes AS n FULL JOIN {CLUSTERED_RECORDS} AS o ON o.record_key = n.record_key
        WHERE n.guard_hash IS DISTINCT FROM o.guard_hash OR n.identifier_hash IS DISTINCT FROM o.identifier_hash"""
    )


def store_clustered_records(con: duckdb.DuckDBPyConnection, threshold: float, max_cluster_size: int) -> None:
    """Write :data:`CLUSTERED_RECORDS` from TEMP TABLE guard_hashes, in the transaction that
    publishes the map and links; after a re-clustering run only the changed rows."""
    if is_reclustering(con):
        changed = "(SELECT record_key FROM changed_records UNION SELECT record_key FROM identifier_changed)"
        con.execute(f"DELETE FROM {CLUSTERED_RECORDS} WHERE record_key IN {changed}")
        con.execute(
            f"""INSERT INTO {CLUSTERED_RECORDS}
            SELECT * FROM guard_hashes SEMI JOIN {changed} USING (record_key) ORDER BY record_key"""
        )
    else:
        con.execute(f"CREATE OR REPLACE TABLE {CLUSTERED_RECORDS} AS SELECT * FROM guard_hashes ORDER BY record_key")
        con.execute(
            f"COMMENT ON TABLE {CLUSTERED_RECORDS} IS {sql_literal(fingerprint(threshold, max_cluster_size))}"
        )
