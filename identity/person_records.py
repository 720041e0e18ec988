"""Stage 1: one row per source person record in the canonical schema (identity.person_records).

Values are taken as the sources hold them; cleaning happens in :mod:`identity.standardise`.
A source whose raw table does not exist yet is skipped (and reported), so identity can run
on a warehouse that has only some sources loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from cdp.fingerprint import code_fingerprint
from cdp.warehouse import table_exists, transaction
from identity.schema import (
    PERSON_RECORD_COLUMNS,
    IdentityError,
    fetch_one,
    sql_literal,
    temp_table_exists,
    web_id_sql,
)

log = logging.getLogger(__name__)

_COLUMN_LIST = ", ".join(PERSON_RECORD_COLUMNS)
_KEY = ("source_system", "source_record_id")
#: The load batches of raw.web_events the stored web records were built from: rows and the sum of
#: their hashes per batch (table comment: :func:`_fingerprint`).
WEB_BATCHES = "identity.person_records_web_batches"
#: TEMP TABLE of :data:`WEB_BATCHES`' rows for raw.web_events as it is tonight; left for
#: :mod:`identity.deterministic` (anonymous-to-user links) and stored with the links by publish.
WEB_BATCHES_NOW = "person_records_web_batches_now"
#: Every column the web records and the anonymous-to-user links read (previous_id: aliases), and
#: the message id (so two like rows are two rows).
_WEB_BATCHES_SQL = """SELECT _batch_id, count(*) AS batch_rows,
    sum(hash(message_id, type, user_id, anonymous_id, previous_id, traits, event_at, received_at)) AS rows_hash
    FROM raw.web_events GROUP BY _batch_id"""


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


def _web_sql(only: str | None = None) -> str:
    """The web records; with ``only`` (a table of source_record_ids, ``user:<id>`` / ``anon:<id>``)
    just those, read from the events that carry one of their ids."""
    paths = "[" + ", ".join(f"'{path}'" for path in _WEB_TRAITS.values()) + "]"
    traits = _web_traits_select()
    names = ", ".join(_WEB_TRAITS)
    # Events of other ids come along (an event with a wanted anonymous id and another user id):
    # their records are incomplete, so only the wanted records are kept at the end.
    wanted = f"WHERE rowid IN ({_events_of_sql(only)})" if only else ""
    kept = f"WHERE source_record_id IN (SELECT source_record_id FROM {only})" if only else ""
    return f"""
    WITH events AS (
        SELECT {web_id_sql('user_id')} AS user_id, {web_id_sql('anonymous_id')} AS anonymous_id,
               type, traits, coalesce(event_at, received_at) AS event_at
        FROM raw.web_events {wanted}
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
    SELECT * FROM (SELECT * FROM users UNION ALL SELECT * FROM anonymous) AS w({_COLUMN_LIST}) {kept}"""


def _events_of_sql(only: str) -> str:
    """SQL selecting the rowid of the raw.web_events rows whose trimmed user or anonymous id is one
    of the web records in ``only``.

    Trimming every event's two ids to compare them was ~80% of this filter's CPU (0.08 of 0.10 s
    at 100k, ~0.9M events); DuckDB's trim removes only spaces, so an id equals its trimmed self
    unless it starts or ends with one, and only those rows are trimmed. The wanted ids are
    trimmed and not empty (they come from ``nullif(trim(...), '')``).
    """
    users = f"SELECT substr(source_record_id, 6) FROM {only} WHERE starts_with(source_record_id, 'user:')"
    anonymous = f"SELECT substr(source_record_id, 6) FROM {only} WHERE starts_with(source_record_id, 'anon:')"
    return f"""SELECT rowid FROM raw.web_events WHERE user_id IN ({users})
        UNION SELECT rowid FROM raw.web_events WHERE anonymous_id IN ({anonymous})
        UNION SELECT rowid FROM raw.web_events
              WHERE (starts_with(user_id, ' ') OR ends_with(user_id, ' ')
                     OR starts_with(anonymous_id, ' ') OR ends_with(anonymous_id, ' '))
                AND (nullif(trim(user_id), '') IN ({users}) OR nullif(trim(anonymous_id), '') IN ({anonymous}))"""


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
    gains rows that are new or changed. Web records are rebuilt only for the ids seen in load
    batches of raw.web_events that are new since the last build, when every batch that build saw
    is still there unchanged (see :func:`_web_scope`); otherwise from every event.
    """
    selects = []
    skipped = []
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    web_scope = _web_scope(con)
    for system, (table, sql) in SOURCES.items():
        if not table_exists(con, "raw", table):
            skipped.append(f"raw.{table}")
        elif system == "web" and web_scope is not None:
            selects.append(f"SELECT * FROM ({_web_sql(only=web_scope)})")
        else:
            selects.append(f"SELECT * FROM ({sql})")
    if not selects:
        raise IdentityError(
            "No raw person tables found (expected raw.web_events, raw.call_center_calls, "
            "raw.store_customers or raw.csv_contacts): run ingestion before identity resolution."
        )
    if skipped:
        log.warning("person records: %s not loaded yet, skipped", ", ".join(skipped))
    typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in PERSON_RECORD_COLUMNS.items())
    rebuilt = f"""SELECT {typed} FROM ({" UNION ALL ".join(selects)}) AS u({_COLUMN_LIST})"""
    try:
        if not table_exists(con, "identity", "person_records"):
            # Nothing to compare with (a first night): the records go straight to the warehouse,
            # without a copy in memory first (~0.2 s CPU at 100k).
            with transaction(con):
                con.execute(
                    f"CREATE TABLE identity.person_records AS {rebuilt} ORDER BY source_system, source_record_id"
                )
                _refuse_duplicates(con, "identity.person_records")
                _store_web_batches(con, web_scope)
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE person_records_rebuilt AS {rebuilt}")
            _refuse_duplicates(con, "person_records_rebuilt")
            _replace_changed_rows(con, web_scope)
    finally:
        # person_records_web_batches_now stays for the links (dropped by publish).
        for table in ("person_records_rebuilt", "person_records_web_scope"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    counts = con.execute(
        "SELECT source_system, count(*) FROM identity.person_records GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return dict(counts)


def _refuse_duplicates(con: duckdb.DuckDBPyConnection, table: str) -> None:
    duplicates = con.execute(
        f"""SELECT source_system, source_record_id, count(*) FROM {table}
           GROUP BY ALL HAVING count(*) > 1 LIMIT 3"""
    ).fetchall()
    if duplicates:
        raise IdentityError(
            f"identity.person_records has duplicate record ids, e.g. {duplicates}: the raw tables "
            "must hold one row per call_id / customer_id / contact_id."
        )


def _fingerprint() -> str:
    """What the stored web records depend on besides raw.web_events: this module and DuckDB."""
    return code_fingerprint([Path(__file__)], duckdb.__version__)


def _has_current_shape(con: duckdb.DuckDBPyConnection) -> bool:
    existing = con.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'identity' AND table_name = 'person_records' ORDER BY ordinal_position"""
    ).fetchall()
    return existing == list(PERSON_RECORD_COLUMNS.items())


def _web_scope(con: duckdb.DuckDBPyConnection) -> str | None:
    """TEMP TABLE person_records_web_scope(source_record_id): the web records to rebuild, or None
    (returned) for all of them. Leaves TEMP TABLE person_records_web_batches_now when web_events exists.

    Ingestion only ever adds load batches to raw.web_events, or deletes a changed file's rows
    (and may re-add rows to other files' batches). So when every batch the last build saw has the
    same rows now (count and sum of row hashes; :data:`WEB_BATCHES`), the events since are the
    rows of the new batches, and only the records of their user and anonymous ids can differ.
    Anything else (a batch gone or changed, an edit in place, rows without a batch id, another
    version of this module or of DuckDB) rebuilds every web record.
    """
    con.execute(f"DROP TABLE IF EXISTS {WEB_BATCHES_NOW}")
    if not table_exists(con, "raw", "web_events"):
        return None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {WEB_BATCHES_NOW} AS {_WEB_BATCHES_SQL}")
    stored = fetch_one(
        con,
        "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'identity' AND table_name = 'person_records_web_batches'",
    )
    if stored is None or stored[0] != _fingerprint() or not _has_current_shape(con):
        return None
    new_batches = web_batches_added_since(con, WEB_BATCHES)
    if new_batches is None:
        log.info("person records: a load batch of raw.web_events changed since the last build: all web records")
        return None
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_records_web_scope AS
        WITH added AS (
            SELECT {web_id_sql('user_id')} AS user_id, {web_id_sql('anonymous_id')} AS anonymous_id
            FROM raw.web_events
            WHERE _batch_id IN ({new_batches})
        )
        SELECT 'user:' || user_id AS source_record_id FROM added WHERE user_id IS NOT NULL
        UNION SELECT 'anon:' || anonymous_id FROM added WHERE anonymous_id IS NOT NULL"""
    )
    return "person_records_web_scope"


def web_batches_added_since(con: duckdb.DuckDBPyConnection, seen: str) -> str | None:
    """SQL selecting the _batch_id of the load batches in :data:`WEB_BATCHES_NOW` that ``seen`` (a
    table of the same shape, the batches an earlier build saw) lacks; None when a batch of ``seen``
    is gone or has other rows now, or either side has rows without a batch id: then the events
    since cannot be told apart and every event must be read."""
    changed = fetch_one(
        con,
        f"""SELECT (SELECT count(*) FROM {seen} AS o ANTI JOIN {WEB_BATCHES_NOW} AS n
                   ON n._batch_id = o._batch_id AND n.batch_rows = o.batch_rows AND n.rows_hash = o.rows_hash)
                 + (SELECT count(*) FROM {WEB_BATCHES_NOW} WHERE _batch_id IS NULL)
                 + (SELECT count(*) FROM {seen} WHERE _batch_id IS NULL)""",
    )[0]
    if changed:
        return None
    return f"SELECT _batch_id FROM {WEB_BATCHES_NOW} ANTI JOIN {seen} USING (_batch_id)"


def _replace_changed_rows(con: duckdb.DuckDBPyConnection, web_scope: str | None) -> None:
    """Make identity.person_records equal TEMP TABLE person_records_rebuilt, writing only what differs.

    With ``web_scope``, person_records_rebuilt holds only the web records named there: the other
    web records stay as they are. The batches seen (:data:`WEB_BATCHES`) change in the same
    transaction as the records.

    Most records are unchanged from one night to the next, and writing the whole table to the
    warehouse file cost about four times building it in memory (0.75 vs 0.2 s CPU at 100k); the
    rows that differ are found by joining on the record key and comparing every other column
    NULL-safely (keys are unique on both sides: checked above, and kept so here).
    """
    if not _has_current_shape(con):
        with transaction(con):
            con.execute(
                "CREATE OR REPLACE TABLE identity.person_records AS SELECT * FROM person_records_rebuilt"
                " ORDER BY source_system, source_record_id"
            )
            _store_web_batches(con, web_scope)
        return
    # One key join instead of EXCEPT both ways (each of which hashed both tables whole): record
    # keys are unique on both sides, so "differs in some column, NULL-safe" is the same test.
    key = " AND ".join(f"n.{column} = o.{column}" for column in _KEY)
    differs = " OR ".join(f"n.{column} IS DISTINCT FROM o.{column}" for column in PERSON_RECORD_COLUMNS if column not in _KEY)
    stored = "SELECT * FROM identity.person_records"
    if web_scope is not None:
        stored += f" WHERE source_system <> 'web' OR source_record_id IN (SELECT source_record_id FROM {web_scope})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE person_records_diff AS
        SELECT n.*, o.source_system AS stored_source_system, o.source_record_id AS stored_source_record_id
        FROM person_records_rebuilt AS n FULL JOIN ({stored}) AS o ON {key}
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
            _store_web_batches(con, web_scope)
    finally:
        for table in ("person_records_stale", "person_records_fresh"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _store_web_batches(con: duckdb.DuckDBPyConnection, web_scope: str | None) -> None:
    """Record the raw.web_events batches this build has seen (inside the records' transaction)."""
    if not temp_table_exists(con, WEB_BATCHES_NOW):
        con.execute(f"DROP TABLE IF EXISTS {WEB_BATCHES}")
    elif web_scope is None:
        con.execute(f"CREATE OR REPLACE TABLE {WEB_BATCHES} AS SELECT * FROM {WEB_BATCHES_NOW}")
        con.execute(f"COMMENT ON TABLE {WEB_BATCHES} IS {sql_literal(_fingerprint())}")
    else:
        con.execute(
            f"INSERT INTO {WEB_BATCHES} SELECT * FROM {WEB_BATCHES_NOW} ANTI JOIN {WEB_BATCHES} USING (_batch_id)"
        )
