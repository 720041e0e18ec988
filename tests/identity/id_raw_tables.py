"""Build tiny raw.* tables (docs/contracts.md §2) in a test warehouse, from canonical-style dicts."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

LINEAGE = "_source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP"

WEB_EVENTS_DDL = f"""CREATE TABLE IF NOT EXISTS raw.web_events (
    message_id VARCHAR, type VARCHAR, event_name VARCHAR, page_name VARCHAR, user_id VARCHAR,
    anonymous_id VARCHAR, group_id VARCHAR, previous_id VARCHAR, event_at TIMESTAMP,
    original_timestamp_at TIMESTAMP, sent_at TIMESTAMP, received_at TIMESTAMP, traits JSON,
    properties JSON, context JSON, page_url VARCHAR, page_path VARCHAR, page_title VARCHAR,
    page_referrer VARCHAR, campaign_source VARCHAR, campaign_medium VARCHAR, campaign_name VARCHAR,
    campaign_term VARCHAR, campaign_content VARCHAR, payload JSON, {LINEAGE})"""

CALLS_DDL = f"""CREATE TABLE IF NOT EXISTS raw.call_center_calls (
    call_id VARCHAR, caller_phone VARCHAR, caller_email VARCHAR, caller_first_name VARCHAR,
    caller_last_name VARCHAR, agent_id VARCHAR, queue VARCHAR, started_at TIMESTAMP, answered_at TIMESTAMP,
    ended_at TIMESTAMP, disposition VARCHAR, csat INTEGER, nps INTEGER, updated_at TIMESTAMP, {LINEAGE})"""

STORE_DDL = f"""CREATE TABLE IF NOT EXISTS raw.store_customers (
    customer_id INTEGER, loyalty_card_number VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR,
    phone VARCHAR, birth_date DATE, street VARCHAR, city VARCHAR, postcode VARCHAR, state VARCHAR,
    country VARCHAR, is_marketing_opt_in BOOLEAN, created_at TIMESTAMP, updated_at TIMESTAMP, {LINEAGE})"""

CSV_DDL = f"""CREATE TABLE IF NOT EXISTS raw.csv_contacts (
    list_type VARCHAR, list_file VARCHAR, row_number BIGINT, contact_id VARCHAR, email VARCHAR, phone VARCHAR,
    first_name VARCHAR, last_name VARCHAR, birth_date DATE, street VARCHAR, city VARCHAR, postcode VARCHAR,
    state VARCHAR, country VARCHAR, company_name VARCHAR, consent_email BOOLEAN, consent_sms BOOLEAN,
    consent_ads BOOLEAN, source_campaign VARCHAR, extra JSON, {LINEAGE})"""

LOADED_AT = datetime(2026, 11, 20, 3, 0, 0)


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty raw tables with the contract's columns."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for ddl in (WEB_EVENTS_DDL, CALLS_DDL, STORE_DDL, CSV_DDL):
        con.execute(ddl)


def add_web_identify(con, message_id, user_id, anonymous_id, traits, event_at=LOADED_AT) -> None:
    """One identify message (user_id and/or anonymous_id) with these traits."""
    con.execute(
        "INSERT INTO raw.web_events (message_id, type, user_id, anonymous_id, event_at, traits) "
        "VALUES (?, 'identify', ?, ?, ?, ?)",
        [message_id, user_id, anonymous_id, event_at, json.dumps(traits)],
    )


def add_web_event(con, message_id, type_, user_id=None, anonymous_id=None, previous_id=None, event_at=LOADED_AT):
    """A non-identify web message (page, track, alias)."""
    con.execute(
        "INSERT INTO raw.web_events (message_id, type, user_id, anonymous_id, previous_id, event_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [message_id, type_, user_id, anonymous_id, previous_id, event_at],
    )


def add_call(con, call_id, phone=None, email=None, first=None, last=None, updated_at=LOADED_AT) -> None:
    """One call-center call."""
    con.execute(
        "INSERT INTO raw.call_center_calls (call_id, caller_phone, caller_email, caller_first_name, "
        "caller_last_name, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [call_id, phone, email, first, last, updated_at],
    )


def add_store_customer(con, customer_id, first, last, email=None, phone=None, birth_date=None, street=None,
                       city=None, postcode=None, state=None, loyalty=None, updated_at=LOADED_AT) -> None:
    """One store loyalty customer."""
    con.execute(
        "INSERT INTO raw.store_customers (customer_id, loyalty_card_number, first_name, last_name, email, phone, "
        "birth_date, street, city, postcode, state, country, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'US', ?)",
        [customer_id, loyalty, first, last, email, phone, birth_date, street, city, postcode, state, updated_at],
    )


def add_csv_contact(con, contact_id, first=None, last=None, email=None, phone=None, birth_date=None,
                    street=None, city=None, postcode=None, state=None) -> None:
    """One marketing-list contact."""
    con.execute(
        "INSERT INTO raw.csv_contacts (list_type, list_file, row_number, contact_id, email, phone, first_name, "
        "last_name, birth_date, street, city, postcode, state, country, _loaded_at) "
        "VALUES ('newsletter', split_part(?, ':', 1), 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'US', ?)",
        [contact_id, contact_id, email, phone, first, last, birth_date, street, city, postcode, state, LOADED_AT],
    )


def load_synthetic(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """Load canonical synthetic records (tests/identity/id_synthetic.py) into the raw tables."""
    create_raw_tables(con)
    for number, record in enumerate(records):
        source = record["source_system"]
        if source == "web":
            traits = {k: record[k] for k in ("first_name", "last_name", "email", "phone") if record[k]}
            if record["date_of_birth"]:
                traits["birthday"] = record["date_of_birth"]
            traits["address"] = {"street": record["street"], "city": record["city"],
                                 "postal_code": record["postcode"], "state": record["state"], "country": "US"}
            add_web_identify(con, f"m{number}", record["web_user_id"], f"a-{record['web_user_id']}", traits)
            add_web_event(con, f"p{number}", "page", anonymous_id=f"a-{record['web_user_id']}")
        elif source == "call_center":
            add_call(con, record["source_record_id"], record["phone"], record["email"],
                     record["first_name"], record["last_name"])
        elif source == "store":
            add_store_customer(con, int(record["source_record_id"]), record["first_name"], record["last_name"],
                               record["email"], record["phone"], record["date_of_birth"], record["street"],
                               record["city"], record["postcode"], record["state"], record["loyalty_card_number"])
        else:
            add_csv_contact(con, record["source_record_id"], record["first_name"], record["last_name"],
                            record["email"], record["phone"], record["date_of_birth"], record["street"],
                            record["city"], record["postcode"], record["state"])
