"""Stage 3: deterministic links between person records (temporary table ``deterministic_links``).

Rules come in two strengths. *Strong* rules name one account and link on their own: the same web
user id, the same loyalty card, an anonymous id identified as / aliased to a user id. *Evidence*
rules (same email, same phone) are shared within households, so :mod:`identity.cluster` accepts
them only when names and birth dates do not disagree.
"""

from __future__ import annotations

import logging

import duckdb

from cdp.warehouse import table_exists
from identity.person_records import WEB_BATCHES_NOW, web_batches_added_since
from identity.schema import RECORD_KEY_SQL, fetch_one, personal_phone_sql, temp_table_exists, web_id_sql

#: rule -> (standardised column, is_strong)
IDENTIFIER_RULES: dict[str, tuple[str, bool]] = {
    "user_id": ("web_user_id", True),
    "loyalty_card": ("loyalty_card_number", True),
    "email": ("email", False),
    "phone": ("phone", False),
}
#: Only for records that carry their own anonymous web id beside a user id (``cdp resolve``'s file
#: rows): rows sharing one are one browser's, and a row with a user id says whose, as an identify
#: call does for the nightly run's web records (one record per id, linked by
#: ``anonymous_to_user`` from the events).
ANONYMOUS_ID_RULE: dict[str, tuple[str, bool]] = {"anonymous_id": ("web_anonymous_id", True)}
log = logging.getLogger(__name__)

STRONG_RULES = frozenset({"user_id", "loyalty_card", "anonymous_to_user", "anonymous_id"})
_IDENTIFIER_RULE_LIST = ", ".join(f"'{rule}'" for rule in IDENTIFIER_RULES)
#: A published link's rejection before any guard: an identifier shared too widely, a Splink score
#: below the threshold (guards only ever reject links that had none).
OWN_REASON_SQL = ("CASE WHEN rejected_reason = 'below_threshold' "
                  "OR starts_with(rejected_reason, 'identifier_shared_by_') THEN rejected_reason END")
#: The load batches of raw.web_events (rows and hash sum, as identity.person_records_web_batches)
#: whose identify and alias events the published anonymous-to-user links were made from; written
#: with identity.links by publish (:func:`store_linked_web_batches`).
LINKED_WEB_BATCHES = "identity.links_web_batches"
#: TEMP TABLE of the anonymous-to-user pairs from events in batches new since the published links.
ADDED_ANONYMOUS_LINKS = "anonymous_links_added"


def build_deterministic_links(
    con: duckdb.DuckDBPyConnection,
    records: str,
    max_group_size: int,
    web_events: str | None = "raw.web_events",
    previous_links: str | None = None,
    changed: str | None = None,
    link_shared_anonymous_ids: bool = False,
) -> int:
    """Create TEMP TABLE deterministic_links (record_key_l < record_key_r, rule, rejected_reason).

    An identifier shared by more than ``max_group_size`` records is not personal (a shop's
    phone, a shared inbox, an unlisted placeholder): its links are kept, rejected, as a star
    around the group's first record so the table stays small.

    With ``previous_links`` (identity.links as last published, by the same rules and group size
    cap) and ``changed`` (a table of the record keys whose identifiers changed since: new,
    changed and gone records) only the identifier groups such a record is in tonight or was in
    last run are paired again (see :func:`_touched_identifiers`, which leaves TEMP TABLE
    deterministic_touched); every other group's links are last run's. The links are the ones
    pairing every group gives.

    ``link_shared_anonymous_ids``: records sharing a ``web_anonymous_id`` are linked too
    (:data:`ANONYMOUS_ID_RULE`, for records with no web events to read the identify calls from).
    """
    rules = IDENTIFIER_RULES | (ANONYMOUS_ID_RULE if link_shared_anonymous_ids else {})
    identifiers = f"({_identifier_rows(records, RECORD_KEY_SQL, rules=rules)})"
    if previous_links is not None and changed is not None:
        _touched_identifiers(con, records, previous_links, changed)
        identifiers = "(SELECT record_key, rule, value FROM deterministic_touched)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE deterministic_identifiers AS
        WITH identifiers AS {identifiers},
        shared AS (
            -- Most identifiers belong to one record: drop them before anything is paired.
            SELECT rule, value, count(*) AS group_size, min(record_key) AS group_anchor
            FROM identifiers GROUP BY rule, value HAVING count(*) >= 2
        )
        SELECT i.record_key, i.rule, i.value, s.group_size, s.group_anchor
        FROM identifiers AS i JOIN shared AS s USING (rule, value)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE deterministic_links AS
        WITH shared AS (
            SELECT * FROM deterministic_identifiers WHERE group_size BETWEEN 2 AND {int(max_group_size)}
        ),
        pairs AS (
            SELECT l.record_key AS record_key_l, r.record_key AS record_key_r, l.rule,
                   NULL::VARCHAR AS rejected_reason
            FROM shared AS l JOIN shared AS r
              ON l.rule = r.rule AND l.value = r.value AND l.record_key < r.record_key
        ),
        oversized AS (
            SELECT group_anchor, record_key, rule,
                   'identifier_shared_by_' || group_size || '_records' AS rejected_reason
            FROM deterministic_identifiers
            WHERE group_size > {int(max_group_size)} AND record_key <> group_anchor
        )
        SELECT * FROM pairs
        UNION ALL
        SELECT least(group_anchor, record_key), greatest(group_anchor, record_key), rule, rejected_reason
        FROM oversized"""
    )
    if previous_links is not None and changed is not None:
        # Untouched groups: their members are unchanged and nobody joined or left, so last run's links.
        con.execute(
            f"""INSERT INTO deterministic_links
            SELECT source_record_key_l, source_record_key_r, rule, {OWN_REASON_SQL}
            FROM {previous_links} AS p
            ANTI JOIN {changed} AS l ON l.record_key = p.source_record_key_l
            ANTI JOIN {changed} AS r ON r.record_key = p.source_record_key_r
            ANTI JOIN deterministic_touched AS t ON t.record_key = p.source_record_key_l AND t.rule = p.rule
            WHERE link_type = 'deterministic' AND rule IN ({_IDENTIFIER_RULE_LIST})"""
        )
    con.execute(f"DROP TABLE IF EXISTS {ADDED_ANONYMOUS_LINKS}")
    if web_events and table_exists(con, *web_events.split(".", 1)):
        new_batches = _new_web_batches(con) if previous_links is not None and changed is not None else None
        if new_batches is None:
            _add_anonymous_to_user_links(con, records, web_events)
        else:
            _add_anonymous_to_user_links_since(con, records, web_events, previous_links, new_batches)
    con.execute("DROP TABLE deterministic_identifiers")
    return fetch_one(con, "SELECT count(*) FROM deterministic_links")[0]


def _identifier_rows(source: str, record_key: str, value_filter: str = "{column} IS NOT NULL",
                     rules: dict[str, tuple[str, bool]] = IDENTIFIER_RULES) -> str:
    """SQL: (record_key, rule, value) for every identifier rule's column of ``source`` whose value passes
    ``value_filter`` (a template over ``{column}`` and ``{rule}``). A toll-free phone is no identifier
    (:func:`identity.schema.personal_phone_sql`)."""
    values = {rule: personal_phone_sql(column) if rule == "phone" else column
              for rule, (column, _strong) in rules.items()}
    return " UNION ALL ".join(
        f"SELECT {record_key} AS record_key, '{rule}' AS rule, {value} AS value FROM {source} "
        f"WHERE {value_filter.format(column=value, rule=rule)}"
        for rule, value in values.items()
    )


def _touched_identifiers(con: duckdb.DuckDBPyConnection, records: str, previous_links: str, changed: str) -> None:
    """TEMP TABLE deterministic_touched(record_key, rule, value): tonight's identifiers in a group
    (rule, value) that a changed record is in tonight or was in last run.

    A group a changed or gone record left had links to it from its other members (every pair, or
    the star around the group's first record): an unchanged member is such a link's other end,
    and its value tonight is last run's. A group whose members all changed has only changed
    members tonight, if any. So no last-run value needs to be kept.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE deterministic_seeds AS
        WITH left_behind AS (
            SELECT source_record_key_l AS record_key, rule FROM {previous_links}
            WHERE link_type = 'deterministic' AND rule IN ({_IDENTIFIER_RULE_LIST})
              AND source_record_key_r IN (SELECT record_key FROM {changed})
            UNION
            SELECT source_record_key_r, rule FROM {previous_links}
            WHERE link_type = 'deterministic' AND rule IN ({_IDENTIFIER_RULE_LIST})
              AND source_record_key_l IN (SELECT record_key FROM {changed})
        ),
        seeds AS (
            SELECT record_key, unnest([{_IDENTIFIER_RULE_LIST}]) AS rule FROM {changed}
            UNION SELECT record_key, rule FROM left_behind
        ),
        seed_records AS (
            SELECT {RECORD_KEY_SQL} AS record_key, * FROM {records}
            WHERE {RECORD_KEY_SQL} IN (SELECT record_key FROM seeds)
        ),
        identifiers AS ({_identifier_rows("seed_records", "record_key")})
        SELECT DISTINCT rule, value FROM identifiers SEMI JOIN seeds USING (record_key, rule)"""
    )
    # Every member of those groups; the record key is built only for them.
    members = _identifier_rows(records, RECORD_KEY_SQL,
                               "{column} IN (SELECT value FROM deterministic_seeds WHERE rule = '{rule}')")
    con.execute(f"CREATE OR REPLACE TEMP TABLE deterministic_touched AS {members}")
    con.execute("DROP TABLE deterministic_seeds")
    log.info("identifier links: pairing again %s identifiers of records in groups a changed record is or was in",
             fetch_one(con, "SELECT count(*) FROM deterministic_touched")[0])


def _anonymous_pairs_sql(web_events: str, where: str = "TRUE") -> str:
    """SELECT (anonymous_key, user_key) of the events of ``web_events`` passing ``where``:
    identify messages carry both ids; an alias names the earlier id in previousId. The ids are
    read as the web person records read them (``web_id_sql``: trimmed, placeholders dropped), so
    the keys are those records' keys."""
    user, anonymous, previous = web_id_sql("user_id"), web_id_sql("anonymous_id"), web_id_sql("previous_id")
    return f"""SELECT DISTINCT 'web|anon:' || anonymous_id AS anonymous_key, 'web|user:' || user_id AS user_key
            FROM (SELECT {anonymous} AS anonymous_id, {user} AS user_id FROM {web_events}
                  WHERE type = 'identify' AND {where})
            WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
            UNION
            SELECT 'web|anon:' || previous_id, 'web|user:' || user_id
            FROM (SELECT {previous} AS previous_id, {user} AS user_id FROM {web_events}
                  WHERE type = 'alias' AND {where})
            WHERE previous_id IS NOT NULL AND user_id IS NOT NULL"""


def _add_anonymous_to_user_links(con: duckdb.DuckDBPyConnection, records: str, web_events: str) -> None:
    con.execute(
        f"""INSERT INTO deterministic_links
        WITH pairs AS ({_anonymous_pairs_sql(web_events)}),
        known AS (SELECT {RECORD_KEY_SQL} AS record_key FROM {records} WHERE source_system = 'web')
        SELECT least(anonymous_key, user_key), greatest(anonymous_key, user_key), 'anonymous_to_user', NULL
        FROM pairs
        WHERE anonymous_key IN (SELECT record_key FROM known) AND user_key IN (SELECT record_key FROM known)"""
    )


def _new_web_batches(con: duckdb.DuckDBPyConnection) -> str | None:
    """SQL selecting the _batch_id of raw.web_events' load batches new since the published links,
    or None when the links' batches are not all still there unchanged (or unknown): then every
    event is read.

    Ingestion only adds batches or deletes a changed file's rows (see
    :func:`identity.person_records._web_scope`), so with every batch the links were made from
    unchanged, tonight's events are those plus the new batches' rows.
    """
    if not temp_table_exists(con, WEB_BATCHES_NOW) or not table_exists(con, *LINKED_WEB_BATCHES.split(".")):
        return None
    return web_batches_added_since(con, LINKED_WEB_BATCHES)


def _add_anonymous_to_user_links_since(
    con: duckdb.DuckDBPyConnection, records: str, web_events: str, previous_links: str, new_batches: str
) -> None:
    """The anonymous-to-user links of every event, from the published links and the new batches' events.

    Events were only added since (:func:`_new_web_batches`), so last run's pairs are all still
    made, between records that still exist (a web record is there for every id of an event), and
    the new events' pairs are the only others. Leaves TEMP TABLE anonymous_links_added (those not
    published) for :func:`identity.recluster.find_reclustering_scope`: every other
    anonymous-to-user link is last run's row.
    """
    con.execute(
        f"""CREATE TEMP TABLE {ADDED_ANONYMOUS_LINKS} AS
        WITH pairs AS ({_anonymous_pairs_sql(web_events, f"_batch_id IN ({new_batches})")}),
        known AS (
            SELECT {RECORD_KEY_SQL} AS record_key FROM {records}
            WHERE source_system = 'web' AND source_record_id IN (
                SELECT substr(anonymous_key, 5) FROM pairs UNION SELECT substr(user_key, 5) FROM pairs)
        )
        SELECT least(anonymous_key, user_key) AS record_key_l, greatest(anonymous_key, user_key) AS record_key_r
        FROM pairs
        WHERE anonymous_key IN (SELECT record_key FROM known) AND user_key IN (SELECT record_key FROM known)
        EXCEPT
        SELECT source_record_key_l, source_record_key_r FROM {previous_links} WHERE rule = 'anonymous_to_user'"""
    )
    con.execute(
        f"""INSERT INTO deterministic_links
        SELECT source_record_key_l, source_record_key_r, rule, NULL FROM {previous_links}
        WHERE rule = 'anonymous_to_user'
        UNION ALL
        SELECT record_key_l, record_key_r, 'anonymous_to_user', NULL FROM {ADDED_ANONYMOUS_LINKS}"""
    )
    log.info("anonymous-to-user links: %s added from new load batches",
             fetch_one(con, f"SELECT count(*) FROM {ADDED_ANONYMOUS_LINKS}")[0])


def store_linked_web_batches(con: duckdb.DuckDBPyConnection) -> None:
    """Write :data:`LINKED_WEB_BATCHES` (in the transaction that publishes the links) from the
    batches this run's person records saw, when its anonymous-to-user links read raw.web_events."""
    if temp_table_exists(con, WEB_BATCHES_NOW):
        con.execute(f"CREATE OR REPLACE TABLE {LINKED_WEB_BATCHES} AS SELECT * FROM {WEB_BATCHES_NOW}")
    else:
        con.execute(f"DROP TABLE IF EXISTS {LINKED_WEB_BATCHES}")
