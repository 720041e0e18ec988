"""Business dates that must not come from the wall clock, and segment membership across identity merges."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import yaml

from cdp import dbt as cdp_dbt
from cdp.settings import Settings
from cdp.warehouse import connect
from identity.standardise import placeholders
from ingestion import csv_lists


def _execute(settings, sql: str) -> None:
    with connect(settings) as con:
        con.execute(sql)


def _add_csv_contact(settings, list_file: str, customer_id: str, email: str, loaded_at: str, consent_email,
                     company_name: str | None = None, row_dated_at: str | None = None) -> None:
    """A CSV list row for ``customer_id``, as ingestion and identity would write it (record time = load time)."""
    contact_id = f"{list_file}:2"
    consent = "null" if consent_email is None else str(consent_email).lower()
    company = "null" if company_name is None else f"'{company_name}'"
    row_date = "null" if row_dated_at is None else f"'{row_dated_at}'"
    with connect(settings) as con:
        csv_lists.add_row_date_column(con)  # the fixture's table predates the column
    _execute(
        settings,
        f"""
        insert into raw.csv_contacts values
            ('{list_file.split("__")[0]}', '{list_file}', 2, '{contact_id}', '{email}', null, 'Pat', 'Lee',
             null, null, null, null, null, 'US', {company}, {consent}, null, null, null, '{{}}',
             'csv/{list_file}', 2, 'b8', '{loaded_at}', {row_date});
        insert into identity.person_records_standardised (source_system, source_record_id, first_name,
            last_name, email, country, record_updated_at)
        values ('csv', '{contact_id}', 'Pat', 'Lee', '{email}', 'US', '{loaded_at}');
        insert into identity.customer_map values ('csv', '{contact_id}', '{customer_id}', '2026-11-23 01:00:00');
        """,
    )


def test_csv_lists_are_dated_by_their_file_not_their_load_time(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    # an old newsletter export (January) loaded late: Alice's October web refusal of email is newer
    _add_csv_contact(settings, "newsletter__2026-01-15.csv", "C1", "alice@store.example",
                     "2026-11-22 23:00:00", True)
    # a customer known only from an event-lead list of May, loaded in November
    _add_csv_contact(settings, "event_leads__2026-05-05.csv", "C8", "pat@leads.example",
                     "2026-11-20 07:00:00", None)

    cdp_dbt.build(settings, run_id="day-1")

    assert sql(settings, "select has_consent_email_marketing from marts.dim_customers where customer_id = 'C1'") == [
        (False,)
    ]
    assert sql(settings, "select first_seen_at, last_seen_at from marts.dim_customers where customer_id = 'C8'") == [
        (datetime(2026, 5, 5), datetime(2026, 5, 5))
    ]
    assert sql(
        settings,
        "select list_file_date, list_dated_at from staging.stg_csv__contacts "
        "where contact_id = 'event_leads__2026-05-05.csv:2'",
    ) == [(date(2026, 5, 5), datetime(2026, 5, 5))]


def test_a_list_row_with_its_own_date_is_dated_by_it_not_by_the_list(warehouse_factory, sql, tmp_path):
    """A sign-up of 2023 re-exported in this month's newsletter is not new this month, and its
    2024 opt-in does not override Bob's store opt-out of June 2026 (both were dated by the list)."""
    settings = warehouse_factory(tmp_path)
    _execute(settings, "update raw.store_customers set marketing_opt_in_changed_at = '2026-06-15 10:00:00' "
                       "where customer_id = 102")  # Bob (C2) refuses marketing in the store in June
    _add_csv_contact(settings, "newsletter__2026-11-20.csv", "C2", "bob@store.example",
                     "2026-11-20 07:00:00", True, row_dated_at="2024-03-01 09:00:00")
    # known only from this month's newsletter: one who signed up in 2023, one with no sign-up date
    _add_csv_contact(settings, "newsletter__2026-11-21.csv", "C8", "pat@news.example",
                     "2026-11-21 07:00:00", True, row_dated_at="2023-12-29 14:03:11")
    _add_csv_contact(settings, "newsletter__2026-11-22.csv", "C9", "kim@news.example",
                     "2026-11-22 07:00:00", True)

    cdp_dbt.build(settings, run_id="day-1")

    assert sql(settings, "select has_consent_email_marketing from marts.dim_customers where customer_id = 'C2'") == [
        (False,)
    ]
    assert sql(settings, "select stated_at from intermediate.int_consent_statements_unioned "
                         "where source_record_id = 'newsletter__2026-11-20.csv:2'") == [(datetime(2024, 3, 1, 9),)]
    first_seen = dict(sql(settings, "select customer_id, first_seen_at from marts.dim_customers "
                                    "where customer_id in ('C8', 'C9')"))
    assert first_seen == {"C8": datetime(2023, 12, 29, 14, 3, 11), "C9": datetime(2026, 11, 22)}
    new_this_month = {c for (c,) in sql(settings, "select customer_id from marts.segment_memberships "
                                                  "where segment_name = 'new_this_month'")}
    assert "C8" not in new_this_month and "C9" in new_this_month
    assert sql(settings, "select row_dated_at, contact_dated_at from staging.stg_csv__contacts "
                         "where contact_id = 'newsletter__2026-11-21.csv:2'") == [
        (datetime(2023, 12, 29, 14, 3, 11), datetime(2023, 12, 29, 14, 3, 11))
    ]


def test_a_row_date_after_its_list_is_read_as_the_end_of_the_lists_day(warehouse_factory, sql, tmp_path):
    """A junk sign-up date of 2099 in a November list is not the newest consent statement for ever:
    Bob's store opt-out of December (after the list) still wins."""
    settings = warehouse_factory(tmp_path)
    _execute(settings, "update raw.store_customers set marketing_opt_in_changed_at = '2026-11-21 10:00:00' "
                       "where customer_id = 102")  # Bob (C2) refuses marketing in the store the day after
    _add_csv_contact(settings, "newsletter__2026-11-20.csv", "C2", "bob@store.example",
                     "2026-11-20 07:00:00", True, row_dated_at="2099-01-01 00:00:00")

    cdp_dbt.build(settings, run_id="day-1")

    assert sql(settings, "select contact_dated_at from staging.stg_csv__contacts "
                         "where contact_id = 'newsletter__2026-11-20.csv:2'") == [
        (datetime(2026, 11, 20, 23, 59, 59, 999999),)
    ]
    assert sql(settings, "select has_consent_email_marketing from marts.dim_customers where customer_id = 'C2'") == [
        (False,)
    ]


def test_a_row_date_arriving_later_moves_the_stored_statement_and_first_seen(warehouse_factory, sql, tmp_path):
    """A warehouse built while rows were dated by their list: a row date set later (a list re-sent
    with it) re-dates the stored consent statement and first seen on the next incremental build."""
    settings = warehouse_factory(tmp_path)
    _execute(settings, "update raw.store_customers set marketing_opt_in_changed_at = '2026-06-15 10:00:00' "
                       "where customer_id = 102")
    _add_csv_contact(settings, "newsletter__2026-11-20.csv", "C2", "bob@store.example", "2026-11-20 07:00:00", True)
    _add_csv_contact(settings, "newsletter__2026-11-21.csv", "C8", "pat@news.example", "2026-11-21 07:00:00", True)
    cdp_dbt.build(settings, run_id="day-1")
    assert sql(settings, "select has_consent_email_marketing from marts.dim_customers where customer_id = 'C2'") == [
        (True,)
    ]
    _execute(settings, "update raw.csv_contacts set row_dated_at = '2024-03-01 09:00:00' "
                       "where contact_id in ('newsletter__2026-11-20.csv:2', 'newsletter__2026-11-21.csv:2')")
    cdp_dbt.build(settings, run_id="day-2")
    assert sql(settings, "select has_consent_email_marketing from marts.dim_customers where customer_id = 'C2'") == [
        (False,)
    ]
    assert sql(settings, "select first_seen_at from marts.dim_customers where customer_id = 'C8'") == [
        (datetime(2024, 3, 1, 9),)
    ]


def test_company_comes_from_the_newest_dated_list_not_the_latest_loaded(warehouse_factory, sql, tmp_path):
    """dim_customers.company_name, as documented: the newest list by list date wins, then the latest load.
    Erin (C5) is in the fixture's undated crm__accounts.csv (Acme, dated by its 2025-09-15 load)."""
    settings = warehouse_factory(tmp_path)
    _add_csv_contact(settings, "crm__2026-11-01.csv", "C5", "erin@acme.example", "2026-11-02 08:00:00", None,
                     company_name="Acme Holdings")
    # an old export loaded last: a later load does not make its company newer
    _add_csv_contact(settings, "crm__2025-01-10.csv", "C5", "erin@acme.example", "2026-11-22 23:00:00", None,
                     company_name="Acme Old Name")

    cdp_dbt.build(settings, run_id="day-1")

    assert sql(settings, "select company_name, is_b2b from marts.dim_customers where customer_id = 'C5'") == [
        ("Acme Holdings", True)
    ]


def test_placeholder_company_is_no_company(warehouse_factory, sql, tmp_path):
    """A company_name typed for "none" (N/A, n/a, "-", or a CDP_IDENTITY_PLACEHOLDERS value) is NULL in
    stg_csv__contacts: it makes no one B2B, and a newer list's N/A does not replace Erin's (C5) Acme.
    Self-employed is kept as a company: a sole trader buys as a business."""
    settings = dataclasses.replace(warehouse_factory(tmp_path), identity_placeholders="tba")
    _add_csv_contact(settings, "crm__2026-11-01.csv", "C5", "erin@acme.example", "2026-11-02 08:00:00", None,
                     company_name="Acme Holdings")
    _add_csv_contact(settings, "crm__2026-11-20.csv", "C5", "erin@acme.example", "2026-11-21 08:00:00", None,
                     company_name=" N/A ")
    for list_file, customer_id, company in (("leads__2026-11-02.csv", "C6", "n/a"), ("leads__2026-11-03.csv", "C7", "-"),
                                            ("leads__2026-11-04.csv", "C8", "TBA"),
                                            ("leads__2026-11-05.csv", "C9", "Self-employed")):
        _add_csv_contact(settings, list_file, customer_id, f"{customer_id.lower()}@leads.example",
                         "2026-11-22 08:00:00", None, company_name=company)

    cdp_dbt.build(settings, run_id="day-1")

    assert sql(settings, "select customer_id, company_name, is_b2b from marts.dim_customers "
                         "where customer_id in ('C5', 'C6', 'C7', 'C8', 'C9') order by customer_id") == [
        ("C5", "Acme Holdings", True), ("C6", None, False), ("C7", None, False), ("C8", None, False),
        ("C9", "Self-employed", True),
    ]


def test_dbt_placeholders_are_the_identity_placeholders(tmp_path):
    """dbt_project.yml's default var `placeholders` is identity.standardise.placeholders() for the default
    settings (a plain `dbt build` nulls the same company names), and a build passes the configured list."""
    project = yaml.safe_load((cdp_dbt.DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    settings = Settings(home=tmp_path)
    assert tuple(project["vars"]["placeholders"]) == placeholders(settings)
    configured = cdp_dbt._parse_vars([], dataclasses.replace(settings, identity_placeholders="tba,-n/a"))
    assert "tba" in configured["placeholders"] and "n/a" not in configured["placeholders"]


def test_merged_customer_keeps_the_earliest_member_since(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="day-1")
    assert sql(
        settings, "select member_since from marts.segment_memberships "
        "where customer_id = 'C6' and segment_name = 'high_value'"
    ) == [(date(2026, 11, 23),)]

    # the next night identity merges the top buyer (C6) into Bob's customer C2 and records it
    _execute(
        settings,
        """
        update identity.customer_map set customer_id = 'C2' where customer_id = 'C6';
        create table identity.customer_id_history (
            run_id varchar, old_customer_id varchar, new_customer_id varchar, change_type varchar,
            reason varchar, changed_at timestamp);
        insert into identity.customer_id_history values
            ('day-2', 'C6', 'C2', 'merge', 'test', '2026-11-24 00:00:00');
        """,
    )
    next_day = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(next_day, run_id="day-2")
    cdp_dbt.build(next_day, run_id="day-2")  # a rerun keeps it too

    since = dict(sql(settings, "select segment_name, member_since from marts.segment_memberships "
                               "where customer_id = 'C2'"))
    assert since["high_value"] == date(2026, 11, 23)
    assert sql(settings, "select count(*) from marts.segment_memberships where customer_id = 'C6'") == [(0,)]


def test_list_date_comes_from_the_file_name_else_the_load_day(built, sql):
    settings, _ = built
    rows = sql(
        settings,
        "select list_file, list_file_date, list_dated_at from staging.stg_csv__contacts order by list_file",
    )
    assert rows == [
        # no date in the name and no manifest row: the day it was loaded
        ("crm__accounts.csv", None, datetime(2025, 9, 15)),
        ("newsletter__2026-11-01.csv", date(2026, 11, 1), datetime(2026, 11, 1)),
    ]


def test_member_since_follows_a_chain_of_four_merges(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="day-1")

    # four identity runs between two dbt builds: C6 -> M1 -> M2 -> M3 -> C9 (a join per merge
    # would stop after a fixed number of steps)
    _execute(
        settings,
        """
        update identity.customer_map set customer_id = 'C9' where customer_id = 'C6';
        create table identity.customer_id_history (
            run_id varchar, old_customer_id varchar, new_customer_id varchar, change_type varchar,
            reason varchar, changed_at timestamp);
        insert into identity.customer_id_history values
            ('r1', 'C6', 'M1', 'merge', 'test', '2026-11-24 00:00:00'),
            ('r2', 'M1', 'M2', 'merge', 'test', '2026-11-24 00:10:00'),
            ('r3', 'M2', 'M3', 'merge', 'test', '2026-11-24 00:20:00'),
            ('r4', 'M3', 'C9', 'merge', 'test', '2026-11-24 00:30:00');
        """,
    )
    next_day = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(next_day, run_id="day-2")

    assert sql(
        settings, "select member_since from marts.segment_memberships "
        "where customer_id = 'C9' and segment_name = 'high_value'"
    ) == [(date(2026, 11, 23),)]
