"""Incremental consent statements over two nights: a first identify event of a new user, a store
customer the POS upserted with another opt-in, a web message reloaded as another event (its
statements go), a new CSV contact and an identity merge that moves a store record to another
customer give the same statements and resolved consents as a --full-refresh build of the same data
(EXCEPT ALL both ways); a rerun of the night rewrites nothing; only the records concerned are
recomputed."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

CONSENT_TABLES = (
    "intermediate.int_consent_statements_unioned",
    "intermediate.int_customer_consents_resolved",
    "intermediate.int_customer_profiles_joined",
    "marts.dim_customers",
    "marts.segment_memberships",
)
# A record nothing touches on night 2 (Erin's CRM list row): only a rebuild of it would reset its
# statements' load time. A column the resolved consents do not read, so they are not recomputed.
ERIN = "source_record_key = 'csv|crm__accounts.csv:2'"
MARKER = f"update intermediate.int_consent_statements_unioned set loaded_at = '2000-01-01' where {ERIN}"
UNMARK = f"update intermediate.int_consent_statements_unioned set loaded_at = '2025-09-15 08:00:00' where {ERIN}"
MARKED = f"select distinct cast(loaded_at as varchar) from intermediate.int_consent_statements_unioned where {ERIN}"
STATEMENTS = ("select source_record_key, consent_purpose, is_granted, customer_id "
              "from intermediate.int_consent_statements_unioned order by all")


@pytest.mark.slow
def test_consent_nights_equal_full_refresh_and_a_rerun_changes_nothing(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select has_consent_email_marketing from intermediate.int_customer_consents_resolved "
                         "where customer_id = 'C1'") == [(False,)]

    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(night_2, MARKER)
    nights.execute(
        night_2,
        """
        -- Carol identifies as u2 and grants e-mail marketing
        insert into raw.web_events
            (message_id, type, user_id, anonymous_id, event_at, traits, _source_file, _source_line,
             _batch_id, _loaded_at)
        values ('m-c7', 'identify', 'u2', 'a3', '2026-11-23 09:00:00',
                '{"consent": {"email_marketing": true}}', 'web/f.ndjson', 1, 'b8', '2026-11-24 01:00:00');
        insert into identity.person_records_standardised (source_system, source_record_id, web_user_id)
        values ('web', 'user:u2', 'u2');
        insert into identity.customer_map values ('web', 'user:u2', 'C3', '2026-11-24 00:00:00');
        -- the POS upserts Bob, who now opts in (the store ingestion records when the flag changed)
        update raw.store_customers set is_marketing_opt_in = true, updated_at = '2026-11-23 12:00:00',
            marketing_opt_in_changed_at = '2026-11-23 12:00:00', _batch_id = 'b8', _loaded_at = '2026-11-24 01:00:00'
        where customer_id = 102;
        -- Alice's identify is reloaded as a page view: its statements (e-mail and ads refused) go
        update raw.web_events set type = 'page', traits = null, _loaded_at = '2026-11-24 01:00:00'
        where message_id = 'm-a2';
        -- a new CRM list row, for a new customer
        insert into raw.csv_contacts
            (list_type, list_file, row_number, contact_id, email, consent_email, consent_sms,
             consent_ads, extra, _source_file, _source_line, _batch_id, _loaded_at)
        values ('crm', 'crm__2026-11-23.csv', 2, 'crm__2026-11-23.csv:2', 'gina@example.com', true, null,
                false, '{}', 'csv/crm__2026-11-23.csv', 2, 'b8', '2026-11-24 01:00:00');
        insert into identity.person_records_standardised (source_system, source_record_id, email, record_updated_at)
        values ('csv', 'crm__2026-11-23.csv:2', 'gina@example.com', '2026-11-23 00:00:00');
        insert into identity.customer_map values ('csv', 'crm__2026-11-23.csv:2', 'C8', '2026-11-24 00:00:00');
        -- identity merges Frank (C6) into Bob (C2): his opt-in statements move, nothing is reloaded
        update identity.customer_map set customer_id = 'C2', resolved_at = '2026-11-24 00:00:00'
        where source_system = 'store' and source_record_id = '106';
        """,
    )
    cdp_dbt.build(night_2, run_id="night-2")

    marked = sql(night_2, MARKED)
    nights.execute(night_2, UNMARK)
    assert sql(night_2, "select customer_id, has_consent_email_marketing, has_consent_sms_marketing "
                        "from intermediate.int_customer_consents_resolved "
                        "where customer_id in ('C1', 'C2', 'C3', 'C6', 'C8') order by 1") == [
        ("C1", True, True), ("C2", True, True), ("C3", True, False), ("C8", True, False)
    ]
    assert sql(night_2, "select count(*) from intermediate.int_consent_statements_unioned "
                        "where web_event_id = 'm-a2' or source_record_key = 'store|106' and customer_id <> 'C2'") == [(0,)]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), CONSENT_TABLES) == {}
    # the untouched record was not recomputed: its marker survived night 2
    assert marked == [("2000-01-01 00:00:00",)]

    # A rerun of night 2 on unchanged data recomputes no record (the marker survives again).
    nights.execute(night_2, MARKER)
    cdp_dbt.build(night_2, run_id="night-2")
    assert sql(night_2, MARKED) == [("2000-01-01 00:00:00",)]
    nights.execute(night_2, UNMARK)
    assert sql(night_2, STATEMENTS) == sql(full, STATEMENTS)
    assert nights.differences(night_2, str(full.warehouse_path), CONSENT_TABLES) == {}


@pytest.mark.slow
def test_a_web_record_moved_to_another_customer_keeps_the_statements_of_its_old_identify_events(
    warehouse_factory, sql, tmp_path, nights
):
    """The incremental path parses the traits of the identify events of the records it rebuilds
    only (macros/web_consent.sql): a record re-attributed by identity, whose identify events were all
    loaded on an earlier night, must still get every statement they make, under its new customer."""
    settings = warehouse_factory(tmp_path / "warehouse")
    # a second identify of Alice's user record, loaded with the first: a grant that a later call
    # does not repeat, and a value that is no boolean (no statement)
    nights.execute(
        settings,
        """
        insert into raw.web_events
            (message_id, type, user_id, anonymous_id, event_at, traits, _source_file, _source_line,
             _batch_id, _loaded_at)
        values ('m-a9', 'identify', 'u1', 'a1', '2026-10-01 10:20:00',
                '{"consent": {"ad_targeting": true, "email_marketing": "maybe"}}', 'web/e.ndjson', 13, 'b1',
                '2026-10-02 00:00:00');
        """,
    )
    cdp_dbt.build(settings, run_id="night-1")
    web_statements = ("select web_event_id, consent_purpose, is_granted, customer_id "
                      "from intermediate.int_consent_statements_unioned "
                      "where source_record_key = 'web|user:u1' order by all")
    assert sql(settings, web_statements) == [
        ("m-a2", "ad_targeting", False, "C1"), ("m-a2", "email_marketing", False, "C1"),
        ("m-a9", "ad_targeting", True, "C1"),
    ]

    night_2 = settings.with_run_date(date(2026, 11, 24))
    # identity splits Alice's user record off to a customer of its own; no event is loaded
    nights.execute(night_2, "update identity.customer_map set customer_id = 'C9', resolved_at = '2026-11-24 00:00:00' "
                            "where source_system = 'web' and source_record_id = 'user:u1'")
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, web_statements) == [
        ("m-a2", "ad_targeting", False, "C9"), ("m-a2", "email_marketing", False, "C9"),
        ("m-a9", "ad_targeting", True, "C9"),
    ]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert nights.differences(night_2, str(full.warehouse_path), CONSENT_TABLES) == {}
