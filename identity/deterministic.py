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
from identity.schema import RECORD_KEY_SQL, fetch_one

#: rule -> (standardised column, is_strong)
IDENTIFIER_RULES: dict[str, tuple[str, bool]] = {
    "user_id": ("web_user_id", True),
    "loyalty_card": ("loyalty_card_number", True),
    "email": ("email", False),
    "phone": ("phone", False),
}
log = logging.getLogger(__name__)

STRONG_RULES = frozenset({"user_id", "loyalty_card", "anonymous_to_user"})
_IDENTIFIER_RULE_LIST = ", ".join(f"'{rule}'" for rule in IDENTIFIER_RULES)
#: A published link's rejection before any guard: an identifier shared too widely, a Splink score
#: below the threshold (guards only ever reject links that had none).
OWN_REASON_SQL = ("CASE WHEN rejected_reason = 'below_threshold' "
                  "OR starts_with(rejected_reason, 'identifier_shared_by_') THEN rejected_reason END")


def build_deterministic_links(
    con: duckdb.DuckDBPyConnection,
    records: str,
    max_group_size: int,
    web_events: str | None = "raw.web_events",
    previous_links: str | None = None,
    changed: str | None = None,
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
    """
    identifiers = f"({_identifier_rows(records, RECORD_KEY_SQL)})"
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
    if web_events and table_exists(con, *web_events.split(".", 1)):
        _add_anonymous_to_user_links(con, records, web_events)
    con.execute("DROP TABLE deterministic_identifiers")
    return fetch_one(con, "SELECT count(*) FROM deterministic_links")[0]


def _identifier_rows(source: str, record_key: str, value_filter: str = "{column} IS NOT NULL") -> str:
    """SQL: (record_key, rule, value) for every identifier rule's column of ``source`` whose value passes
    ``value_filter`` (a template over ``{column}`` and ``{rule}``)."""
    return " UNION ALL ".join(
        f"SELECT {record_key} AS record_key, '{rule}' AS rule, {column} AS value FROM {source} "
        f"WHERE {value_filter.format(column=column, rule=rule)}"
        for rule, (column, _strong) in IDENTIFIER_RULES.items()
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


def _add_anonymous_to_user_links(con: duckdb.DuckDBPyConnection, records: str, web_events: str) -> None:
    # identify messages carry both ids; an alias names the earlier id in previousId.
    con.execute(
        f"""INSERT INTO deterministic_links
        WITH pairs AS (
            SELECT DISTINCT 'web|anon:' || anonymous_id AS anonymous_key, 'web|user:' || user_id AS user_key
            FROM {web_events}
            WHERE type = 'identify' AND nullif(anonymous_id, '') IS NOT NULL AND nullif(user_id, '') IS NOT NULL
            UNION
            SELECT 'web|anon:' || previous_id, 'web|user:' || user_id
            FROM {web_events}
            WHERE type = 'alias' AND nullif(previous_id, '') IS NOT NULL AND nullif(user_id, '') IS NOT NULL
        ),
        known AS (SELECT {RECORD_KEY_SQL} AS record_key FROM {records} WHERE source_system = 'web')
        SELECT least(anonymous_key, user_key), greatest(anonymous_key, user_key), 'anonymous_to_user', NULL
        FROM pairs
        WHERE anonymous_key IN (SELECT record_key FROM known) AND user_key IN (SELECT record_key FROM known)"""
    )
