"""Stage 1: one row per source person record in the canonical schema (identity.person_records).

Values are taken as the sources hold them; cleaning happens in :mod:`identity.standardise`.
A source whose raw table does not exist yet is skipped (and reported), so identity can run
on a warehouse that has only some sources loaded.
"""

from __future__ import annotations

import logging

import duckdb

from cdp.warehouse import table_exists
from identity.schema import PERSON_RECORD_COLUMNS, IdentityError

log = logging.getLogger(__name__)

_COLUMN_LIST = ", ".join(PERSON_RECORD_COLUMNS)


def _trait(path: str, traits: str) -> str:
    # Traits accumulate in Segment: each field takes its latest non-empty value, not the
    # latest identify call as a whole (a later call may send only the changed trait).
    value = f"nullif(trim(json_extract_string({traits}, '$.{path}')), '')"
    return f"arg_max({value}, event_at) FILTER (WHERE {value} IS NOT NULL)"


def _web_traits_select(traits: str) -> str:
    """The trait columns, aggregated per web record; ``traits`` is the JSON expression to read."""
    return f"""
        {_trait("first_name", traits)} AS first_name,
        {_trait("last_name", traits)} AS last_name,
        try_cast({_trait("birthday", traits)} AS DATE) AS date_of_birth,
        {_trait("email", traits)} AS email,
        {_trait("phone", traits)} AS phone,
        {_trait("address.street", traits)} AS street,
        {_trait("address.city", traits)} AS city,
        {_trait("address.postal_code", traits)} AS postcode,
        {_trait("address.state", traits)} AS state,
        {_trait("address.country", traits)} AS country"""


def _web_sql() -> str:
    user_traits = _web_traits_select("CASE WHEN type = 'identify' THEN traits END")
    anonymous_traits = _web_traits_select("CASE WHEN type = 'identify' AND user_id IS NULL THEN traits END")
    return f"""
    WITH events AS (
        SELECT nullif(trim(user_id), '') AS user_id, nullif(trim(anonymous_id), '') AS anonymous_id,
               type, traits, coalesce(event_at, received_at) AS event_at
        FROM raw.web_events
    ),
    users AS (
        SELECT 'web' AS source_system, 'user:' || user_id AS source_record_id,
               {user_traits},
               user_id AS web_user_id, NULL::VARCHAR AS web_anonymous_id,
               NULL::VARCHAR AS loyalty_card_number, max(event_at) AS record_updated_at
        FROM events WHERE user_id IS NOT NULL
        GROUP BY user_id
    ),
    anonymous AS (
        -- Traits sent before login (identify with no userId) belong to the anonymous record;
        -- the anonymous-to-user link is made by identity.deterministic.
        SELECT 'web', 'anon:' || anonymous_id,
               {anonymous_traits},
               NULL::VARCHAR, anonymous_id, NULL::VARCHAR, max(event_at)
        FROM events WHERE anonymous_id IS NOT NULL
        GROUP BY anonymous_id
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
    """Rebuild identity.person_records from the raw tables; returns record counts per source."""
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
        f"""CREATE OR REPLACE TABLE identity.person_records AS
        SELECT {typed} FROM ({" UNION ALL ".join(selects)}) AS u({_COLUMN_LIST})
        ORDER BY source_system, source_record_id"""
    )
    duplicates = con.execute(
        """SELECT source_system, source_record_id, count(*) FROM identity.person_records
           GROUP BY ALL HAVING count(*) > 1 LIMIT 3"""
    ).fetchall()
    if duplicates:
        raise IdentityError(
            f"identity.person_records has duplicate record ids, e.g. {duplicates}: the raw tables "
            "must hold one row per call_id / customer_id / contact_id."
        )
    counts = con.execute(
        "SELECT source_system, count(*) FROM identity.person_records GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return dict(counts)
