"""Column lists and small SQL helpers shared by the identity stages."""

from __future__ import annotations

import duckdb

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


def record_key_sql(alias: str) -> str:
    """The record key expression for the table aliased ``alias``."""
    return f"{alias}.source_system || '|' || {alias}.source_record_id"


class IdentityError(RuntimeError):
    """Identity resolution cannot go on; the message says what is missing and what to do."""


class TooFewRecordsToTrain(IdentityError):
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
