"""Stage 1: one row per source person record in the canonical schema (identity.person_records).

Values are taken as the sources hold them; cleaning happens in :mod:`identity.standardise`.
A source whose raw table does not exist yet is skipped (and reported), so identity can run
on a warehouse that has only some sources loaded.
"""

from __future__ import annotations

import logging

import duckdb

from cdp.warehouse import table_exists, transaction
from identity.schema import PERSON_RECORD_COLUMNS, IdentityError

log = logging.getLogger(__name__)

_COLUMN_LIST = ", ".join(PERSON_RECORD_COLUMNS)
_KEY = ("source_system", "source_record_id")


#: Trait columns of a web record -> JSON path in the identify call's traits.
_WEB_TRAITS: dict[str, str] = {
    "first_name": "$.first_name", "last_name": "$.last_name", "date_of_birth": "$.birthday",
    "email": "$.email", "phone": "$.phone", "street": "$.address.street", "city": "$.address.city",
    "postcode": "$.address.postal_code", "state": "$.address.state", "country": "$.address.country",
}


def _web_traits_select() -> str:
    """The trait columns, aggregated per web record from the ``identify`` CTE's ``trait`` list.

    Traits accumulate in Segment: each field takes its latest non-empty value, not the latest
    identify call as a whole (a later call may send only the changed trait).
    """
    columns = []
    for number, name in enumerate(_WEB_TRAITS, start=1):
        value = f"nullif(trim(trait[{number}]), '')"
        latest = f"arg_max({value}, event_at) FILTER (WHERE {value} IS NOT NULL)"
        columns.append(f"try_cast({latest} AS DATE) AS {name}" if name == "date_of_birth" else f"{latest} AS {name}")
    return ",\n        ".join(columns)


def _web_sql() -> str:
    paths = "[" + ", ".join(f"'{path}'" for path in _WEB_TRAITS.values()) + "]"
    traits = _web_traits_select()
    names = ", ".join(_WEB_TRAITS)
    return f"""
    WITH events AS (
        SELECT nullif(trim(user_id), '') AS user_id, nullif(trim(anonymous_id), '') AS anonymous_id,
               type, traits, coalesce(event_at, received_at) AS event_at
        FROM raw.web_events
    ),
    identify AS (
        -- Each identify call's traits parsed once, every path in one pass.
        SELECT user_id, anonymous_id, event_at, json_extract_string(traits, {paths}) AS trait
        FROM events WHERE type = 'identify' AND traits IS NOT NULL
    ),
    user_traits AS (SELECT user_id, {traits} FROM identify WHERE user_id IS NOT NULL GROUP BY user_id),
    -- Traits sent before login (identify with no userId) belong to the anonymous record;
    -- the anonymous-to-user link is made by identity.deterministic.
    anonymous_traits AS (
        SELECT anonymous_id, {traits} FROM identify
        WHERE user_id IS NULL AND anonymous_id IS NOT NULL GROUP BY anonymous_id
    ),
    users AS (
        SELECT 'web' AS source_system, 'user:' || u.user_id AS source_record_id, {names},
               u.user_id AS web_user_id, NULL::VARCHAR AS web_anonymous_id,
               NULL::VARCHAR AS loyalty_card_number, u.record_updated_at
        FROM (SELECT user_id, max(event_at) AS record_updated_at FROM events
              WHERE user_id IS NOT NULL GROUP BY user_id) AS u
        LEFT JOIN user_traits USING (user_id)
    ),
    anonymous AS (
        SELECT 'web', 'anon:' || a.anonymous_id, {names},
               NULL::VARCHAR, a.anonymous_id, NULL::VARCHAR, a.record_updated_at
        FROM (SELECT anonymous_id, max(event_at) AS record_updated_at FROM events
              WHERE anonymous_id IS NOT NULL GROUP BY anonymous_id) AS a
        LEFT JOIN anonymous_traits USING (anonymous_id)
    )
    SELECT * FROM users UNION ALL SELECT * FROM anonymous"""


_CALL_CENTER_SQL = """
    SELECT 'call_center', CAST(call_id AS VARCHAR), caller_first_name, caller_last_name, NULL::DATE,
           caller_email, CAST(caller_phone AS VARCHAR), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           CAST(updated_at AS TIMESTAMP)
    FROM raw.call_center_calls WHERE call_id IS NOT NULL"""

_STORE_SQL = """
    SELECT 'store', CAST(customer_id AS VARCHAR), first_name, last_name, try_cast(birth_date AS DATE),
           email, CAST(phone AS VARCHAR), street, city, CAST(postcode AS VARCHAR), state, country,
           NULL, NULL, nullif(trim(CAST(loyalty_card_number AS VARCHAR)), ''),
           CAST(updated_at AS TIMESTAMP)
    FROM raw.store_customers WHERE customer_id IS NOT NULL"""

_CSV_SQL = """
    SELECT 'csv', contact_id, first_name, last_name, try_cast(birth_date AS DATE),
           email, CAST(phone AS VARCHAR), street, city, CAST(postcode AS VARCHAR), state, country,
           NULL, NULL, NULL, CAST(_loaded_at AS TIMESTAMP)
    FROM raw.csv_contacts WHERE contact_id IS NOT NULL"""

#: source_system -> (raw table, SELECT producing the canonical columns in order)
SOURCES: dict[str, tuple[str, str]] = {
    "web": ("web_events", _web_sql()),
    "call_center": ("call_center_calls", _CALL_CENTER_SQL),
    "store": ("store_customers", _STORE_SQL),
    "csv": ("csv_contacts", _CSV_SQL),
}


def build_person_records(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild identity.person_records from the raw tables; returns record counts per source.

    Built in memory first; the warehouse table then only loses rows that changed or are gone and
    gains rows that are new or changed.
    """
    selects = []
    skipped = []
    for table, sql in SOURCES.values():
        if table_exists(con, "raw", table):
            selects.append(f"SELECT * FROM ({sql})")
        else:
            skipped.append(f"raw.{table}")
    if not selects:
        raise IdentityError(
            "No raw person tables found (expected raw.web_events, raw.call_center_calls, "
            "raw.store_customers or raw.csv_contacts): run ingestion before identity resolution."
        )
    if skipped:
        log.warning("person records: %s not loaded yet, skipped", ", ".join(skipped))
    typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in PERSON_RECORD_COLUMNS.items())
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_records_rebuilt AS
        SELECT {typed} FROM ({" UNION ALL ".join(selects)}) AS u({_COLUMN_LIST})"""
    )
    duplicates = con.execute(
        """SELECT source_system, source_record_id, count(*) FROM person_records_rebuilt
           GROUP BY ALL HAVING count(*) > 1 LIMIT 3"""
    ).fetchall()
    if duplicates:
        con.execute("DROP TABLE person_records_rebuilt")
        raise IdentityError(
            f"identity.person_records has duplicate record ids, e.g. {duplicates}: the raw tables "
            "must hold one row per call_id / customer_id / contact_id."
        )
    _replace_changed_rows(con)
    con.execute("DROP TABLE person_records_rebuilt")
    counts = con.execute(
        "SELECT source_system, count(*) FROM identity.person_records GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return dict(counts)


def _replace_changed_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Make identity.person_records equal TEMP TABLE person_records_rebuilt, writing only what differs.

    Most records are unchanged from one night to the next, and writing the whole table to the
    warehouse file cost about four times building it in memory (0.75 vs 0.2 s CPU at 100k); the
    rows that differ are found by joining on the record key and comparing every other column
    NULL-safely (keys are unique on both sides: checked above, and kept so here).
    """
    existing = con.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'identity' AND table_name = 'person_records' ORDER BY ordinal_position"""
    ).fetchall()
    if existing != list(PERSON_RECORD_COLUMNS.items()):
        con.execute(
            "CREATE OR REPLACE TABLE identity.person_records AS SELECT * FROM person_records_rebuilt"
            " ORDER BY source_system, source_record_id"
        )
        return
    # One key join instead of EXCEPT both ways (each of which hashed both tables whole): record
    # keys are unique on both sides, so "differs in some column, NULL-safe" is the same test.
    key = " AND ".join(f"n.{column} = o.{column}" for column in _KEY)
    differs = " OR ".join(f"n.{column} IS DISTINCT FROM o.{column}" for column in PERSON_RECORD_COLUMNS if column not in _KEY)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_records_diff AS
        SELECT n.*, o.source_system AS stored_source_system, o.source_record_id AS stored_source_record_id
        FROM person_records_rebuilt AS n FULL JOIN identity.person_records AS o ON {key}
        WHERE n.source_system IS NULL OR o.source_system IS NULL OR {differs}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE person_records_stale AS
        SELECT stored_source_system AS source_system, stored_source_record_id AS source_record_id
        FROM person_records_diff WHERE stored_source_system IS NOT NULL"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_records_fresh AS
        SELECT {_COLUMN_LIST} FROM person_records_diff WHERE source_system IS NOT NULL"""
    )
    con.execute("DROP TABLE person_records_diff")
    try:
        with transaction(con):
            con.execute(
                """DELETE FROM identity.person_records AS p USING person_records_stale AS s
                WHERE p.source_system = s.source_system AND p.source_record_id = s.source_record_id"""
            )
            con.execute(
                "INSERT INTO identity.person_records SELECT * FROM person_records_fresh"
                " ORDER BY source_system, source_record_id"
            )
    finally:
        for table in ("person_records_stale", "person_records_fresh"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
