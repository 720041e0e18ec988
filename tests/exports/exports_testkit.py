"""Test kit for the export tests: a tiny warehouse with the contract tables the exporter reads
(docs/contracts.md §2 and §4), and readers for what it publishes.

Named uniquely (not helpers.py) because the test folders are not packages."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb

from cdp.settings import Settings

DIM_CUSTOMERS_DDL = """
CREATE OR REPLACE TABLE marts.dim_customers (
    customer_id VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR, phone VARCHAR,
    street VARCHAR, city VARCHAR, postcode VARCHAR, state VARCHAR, country VARCHAR,
    date_of_birth DATE, company_name VARCHAR, is_b2b BOOLEAN, emails VARCHAR[], phones VARCHAR[],
    first_seen_at TIMESTAMP, last_seen_at TIMESTAMP, has_consent_email_marketing BOOLEAN,
    has_consent_sms_marketing BOOLEAN, has_consent_ad_targeting BOOLEAN, lifetime_orders BIGINT,
    lifetime_revenue DECIMAL(12, 2), average_order_value DECIMAL(12, 2), last_purchase_at TIMESTAMP,
    web_sessions BIGINT, page_views BIGINT, last_visit_at TIMESTAMP, acquisition_channel VARCHAR,
    calls BIGINT, last_call_at TIMESTAMP, average_csat DOUBLE, latest_nps INTEGER, segments VARCHAR[]
)"""

# customer_id: (first, last, email, phone, city, postcode, state, country, emails, phones,
#               consent email, consent sms, consent ads)
CUSTOMERS = {
    "c1": ("Ada", "Lovelace", "ada@example.com", "+447700900123", "London", "N1 9GU", None, "GB",
           ["ada@example.com"], ["+447700900123"], True, True, True),
    "c2": ("José María", "Pérez-Núñez", "Jose@Example.com", "+16505550101", "San José", "95112", "California",
           "US", ["jose@example.com"], ["+16505550101"], True, False, False),
    "c3": ("Erin", "Erased", "erin@example.com", "+16505550102", "Austin", "73301", "TX", "US",
           ["erin@example.com", "erin.old@example.com"], ["+16505550102"], True, True, True),
    "c4": ("Otto", "Optout", "otto@example.com", "+16505551212", "Boston", "02134", "MA", "US",
           ["otto@example.com"], ["+16505551212"], True, True, True),
    "c5": ("Ida", "Byid", "ida@example.com", "+16505550104", "Denver", "80201", "CO", "US",
           ["ida@example.com"], ["+16505550104"], True, True, True),
    "c6": ("Nora", "Null", "nora@example.com", None, "Paris", "75018", None, "FR",
           ["nora@example.com"], [], None, None, None),
    "c7": ("Carl", "Noconsent", "carl@example.com", "+4915123456789", "Berlin", "10115", None, "DE",
           ["carl@example.com"], ["+4915123456789"], False, False, False),
    "c8": ("Pat", "Noids", None, None, "Leeds", None, None, None, [], [], True, True, True),
}

SEGMENTS = [
    ("vip", "Big spenders", "crm", "email_marketing"),
    ("retarget", "Ad retargeting", "ads", "ad_targeting"),
    ("everyone", "All customers", "analytics", "none"),
]

MEMBERSHIPS = {
    "vip": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
    "retarget": ["c1", "c2", "c3", "c4", "c8"],
    "everyone": list(CUSTOMERS),
}

# Written the way people send them: case, padding and local phone formats differ from the marts.
SUPPRESSION = [
    ("email", "  Erin.OLD@Example.com ", "erasure"),   # matches c3 through an older address
    ("phone", "(650) 555-1212", "opt_out"),            # c4, local US format
    ("customer_id", "c5", "opt_out"),
]


def build_warehouse(settings: Settings, customers: dict | None = None, memberships: dict | None = None,
                    segments: list | None = None, suppression: list | None = None) -> None:
    """(Re)create the input tables; each argument replaces the default data set."""
    customers = CUSTOMERS if customers is None else customers
    memberships = MEMBERSHIPS if memberships is None else memberships
    segments = SEGMENTS if segments is None else segments
    suppression = SUPPRESSION if suppression is None else suppression
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for schema in ("raw", "marts"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(DIM_CUSTOMERS_DDL)
        for cid, (fn, ln, em, ph, city, pc, st, country, ems, phs, c_em, c_sms, c_ad) in customers.items():
            con.execute(
                "INSERT INTO marts.dim_customers (customer_id, first_name, last_name, email, phone, city, postcode, "
                "state, country, emails, phones, has_consent_email_marketing, has_consent_sms_marketing, "
                "has_consent_ad_targeting, lifetime_orders, lifetime_revenue, last_purchase_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 2, 123.45, TIMESTAMP '2026-11-01 10:00:00')",
                [cid, fn, ln, em, ph, city, pc, st, country, ems, phs, c_em, c_sms, c_ad])
        con.execute("CREATE OR REPLACE TABLE marts.segments (segment_name VARCHAR, description VARCHAR, "
                    "owner VARCHAR, consent_purpose VARCHAR)")
        con.executemany("INSERT INTO marts.segments VALUES (?, ?, ?, ?)", segments)
        con.execute("CREATE OR REPLACE TABLE marts.segment_memberships (customer_id VARCHAR, segment_name VARCHAR, "
                    "member_since DATE)")
        for name, ids in memberships.items():
            con.executemany("INSERT INTO marts.segment_memberships VALUES (?, ?, DATE '2026-11-01')",
                            [[cid, name] for cid in ids])
        con.execute("CREATE TABLE IF NOT EXISTS raw.suppression_list (identifier_type VARCHAR, identifier VARCHAR, "
                    "reason VARCHAR, requested_at TIMESTAMP, _source_file VARCHAR, _source_line BIGINT, "
                    "_batch_id VARCHAR, _loaded_at TIMESTAMP)")
        con.execute("DELETE FROM raw.suppression_list")
        con.executemany("INSERT INTO raw.suppression_list VALUES (?, ?, ?, TIMESTAMP '2026-11-20 00:00:00', "
                        "'suppression.csv', 1, 'b1', TIMESTAMP '2026-11-22 00:00:00')", suppression)
    finally:
        con.close()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def export_folder(settings, segment: str, destination: str, run_id: str) -> Path:
    return Path(settings.export_dir) / segment / destination / run_id


def manifest(settings, segment: str, destination: str, run_id: str) -> dict:
    return json.loads((export_folder(settings, segment, destination, run_id) / "manifest.json").read_text())


def ids(settings, segment: str, destination: str, run_id: str, name: str = "snapshot.csv") -> list[str]:
    return [row["customer_id"] for row in read_csv(export_folder(settings, segment, destination, run_id) / name)[1]]


def query(settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def execute(settings, sql: str, params: list | None = None) -> None:
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()
