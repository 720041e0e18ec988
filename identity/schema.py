"""Column lists and small SQL helpers shared by the identity stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import duckdb

from cdp.warehouse import table_exists

#: The canonical person-record schema (docs/contracts.md §3), in order, with DuckDB types.
PERSON_RECORD_COLUMNS: dict[str, str] = {
    "source_system": "VARCHAR",
    "source_record_id": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "date_of_birth": "DATE",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "street": "VARCHAR",
    "city": "VARCHAR",
    "postcode": "VARCHAR",
    "state": "VARCHAR",
    "country": "VARCHAR",
    "web_user_id": "VARCHAR",
    "web_anonymous_id": "VARCHAR",
    "loyalty_card_number": "VARCHAR",
    "record_updated_at": "TIMESTAMP",
}

#: SQL expression for the record key used in identity.links: ``<source_system>|<source_record_id>``.
RECORD_KEY_SQL = "source_system || '|' || source_record_id"


#: North American toll-free area codes: a business's line (a CRM contact's switchboard), never one person's.
TOLL_FREE_AREA_CODES: tuple[str, ...] = ("800", "833", "844", "855", "866", "877", "888")


def personal_phone_sql(column: str) -> str:
    """SQL: the standardised (E.164) phone in ``column``, or NULL for a toll-free number.

    Colleagues share their firm's toll-free line, so it says nothing about who a record is: it
    links nobody (identifier links) and Splink compares it as missing, not as a different phone.
    The standardised record keeps it.
    """
    codes = "|".join(TOLL_FREE_AREA_CODES)
    return f"CASE WHEN NOT regexp_matches({column}, '^\\+1({codes})') THEN {column} END"


#: Web user/anonymous ids that stand in for a missing id (an SDK or template writing a JavaScript
#: value as text), compared trimmed and lower-cased. Strangers share them: a userId "undefined" on
#: two visitors' identify calls made them one customer. The dbt macro ``web_id`` lists the same.
PLACEHOLDER_WEB_IDS: tuple[str, ...] = (
    "undefined", "null", "none", "nil", "nan", "unknown", "anonymous", "n/a", "na", "0", "-1",
    "[object object]", "false", "true", "-", "?",
)  # fmt: skip


def web_id_sql(column: str) -> str:
    """SQL: the web id in ``column`` trimmed, or NULL when empty or a placeholder (``PLACEHOLDER_WEB_IDS``).

    Only short values (or values padded with spaces) are compared with the list: ids are mostly
    UUIDs, and the length test keeps the lower-casing off them.
    """
    values = ", ".join(sql_literal(v) for v in PLACEHOLDER_WEB_IDS)
    short = f"(length({column}) <= 24 OR starts_with({column}, ' ') OR ends_with({column}, ' '))"
    return (f"CASE WHEN {short} AND lower(trim({column})) IN ({values}) THEN NULL "
            f"ELSE nullif(trim({column}), '') END")


def record_key_sql(alias: str) -> str:
    """The record key expression for the table aliased ``alias``."""
    return f"{alias}.source_system || '|' || {alias}.source_record_id"


class IdentityError(RuntimeError):
    """Identity resolution cannot go on; the message says what is missing and what to do."""


class CannotTrainModel(IdentityError):
    """No matching model can be learnt from these records; link by exact identifiers only, or
    point the model folder at a model trained elsewhere."""


class TooFewRecordsToTrain(CannotTrainModel):
    """There are too few person records to train a matching model on."""


def columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """The column names of ``schema.table`` (empty when it does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return {row[0] for row in rows}


def sql_literal(value: str) -> str:
    """Quote a Python string as a SQL literal."""
    return "'" + value.replace("'", "''") + "'"


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, reading the result to the end (DuckDB 2 refuses new work otherwise)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def temp_table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether this connection has a TEMP TABLE named ``table``."""
    return bool(fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [table])[0])


def table_comment(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The comment ('' for none) of ``schema.name`` in the warehouse, or None when it does not exist."""
    schema, name = table.split(".")
    row = fetch_one(
        con,
        "SELECT coalesce(comment, '') FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [schema, name],
    )
    return row[0] if row else None


#: Where identity.customer_id_history lives (created by identity.publish.HISTORY_DDL).
ID_HISTORY = "identity.customer_id_history"


def id_history_closure(
    con: duckdb.DuckDBPyConnection,
    customer_ids: Iterable[str],
    direction: Literal["forward", "backward"],
    change_types: Iterable[str] | None = None,
) -> set[str]:
    """Every customer id reached from ``customer_ids`` through identity.customer_id_history, chains
    followed to the end; the starting ids themselves are left out. Empty without the table.

    ``direction``: ``forward`` follows old -> new (the id a former one became: with
    ``change_types=("merge",)``, the customer it was merged into); ``backward`` follows new -> old
    (the ids a customer's records were held under in earlier runs). ``change_types``: only rows of
    these kinds (``merge``, ``split``, ``new``); every kind when None. A cycle in the history (an id
    handed back after a split, say) ends the walk: each id is visited once.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', not {direction!r}")
    start = {str(value) for value in customer_ids if value is not None}
    if not start or not table_exists(con, *ID_HISTORY.split(".")):
        return set()
    source, target = ("old_customer_id", "new_customer_id") if direction == "forward" else (
        "new_customer_id", "old_customer_id")
    kinds = sorted(set(change_types)) if change_types is not None else None
    kind_filter = "AND change_type IN (SELECT unnest(?::VARCHAR[]))" if kinds is not None else ""
    reached: set[str] = set()
    frontier = start
    while frontier:
        rows = con.execute(
            f"SELECT DISTINCT {target} FROM {ID_HISTORY} WHERE {source} IN (SELECT unnest(?::VARCHAR[])) "
            f"AND {target} IS NOT NULL {kind_filter}",
            [sorted(frontier), *([kinds] if kinds is not None else [])]).fetchall()
        frontier = {str(row[0]) for row in rows} - reached - start
        reached |= frontier
    return reached
