"""dbt build on the fixture warehouse: grain, golden record, consents, activity and KPIs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect


def test_build_reports_counts_and_no_failures(built):
    _, summary = built
    assert summary["failures"] == 0
    assert summary["models"] >= 30
    assert summary["tests"] >= 75  # one primary_key per key, one unique_combination per compound key
    # sessionisation, survivorship (x3), impossible birth dates, reporting currency, visits cut at the
    # run date, record dating, CSV consent dating, segment compilation, RFM ties, retention cohorts,
    # CLV, FCR (x2: answered calls only), churn risk, handle time of an unanswered call, revenue
    # percentile ties and sole buyer
    assert summary["unit_tests"] == 20
    assert summary["run_date"] == "2026-11-23"
    # per-layer execution seconds from dbt's run results, and the slowest nodes
    assert {"staging", "intermediate", "marts", "tests", "unit_tests", "dbt_build_wall"} <= set(summary["seconds"])
    assert all(seconds >= 0 for seconds in summary["seconds"].values())
    assert summary["seconds"]["dbt_build_wall"] >= summary["seconds"]["marts"]
    assert len(summary["slowest_nodes"]) == 8 and summary["slowest_nodes"][0]["unique_id"].startswith(
        ("model.", "test.", "unit_test.")
    )


def test_dim_customers_has_one_row_per_resolved_customer(built, sql):
    settings, _ = built
    mapped = sql(settings, "SELECT count(DISTINCT customer_id) FROM identity.customer_map")[0][0]
    rows, distinct = sql(settings, "SELECT count(*), count(DISTINCT customer_id) FROM marts.dim_customers")[0]
    assert rows == distinct == mapped == 7


def test_golden_record_follows_source_priority_then_recency(built, sql):
    settings, _ = built
    row = sql(
        settings,
        "SELECT first_name, email, date_of_birth, street, city, postcode, emails "
        "FROM marts.dim_customers WHERE customer_id = 'C1'",
    )[0]
    first_name, email, date_of_birth, street, city, postcode, emails = row
    # store outranks the newer web record ("Ally", alice@web.example)
    assert first_name == "Alice"
    assert email == "alice@store.example"
    # store has no birth date: the csv value beats the web one
    assert date_of_birth == date(1990, 1, 1)
    # address comes whole from the csv record, not the web record's lone city
    assert (street, city, postcode) == ("12 Main St", "Springfield", "11111")
    assert emails == ["alice@store.example", "alice@web.example"]


def test_consent_latest_statement_wins_per_purpose(built, sql):
    settings, _ = built
    rows = {
        customer_id: flags
        for customer_id, *flags in sql(
            settings,
            "SELECT customer_id, has_consent_email_marketing, has_consent_sms_marketing, "
            "has_consent_ad_targeting FROM marts.dim_customers",
        )
    }
    # C1: store opt-in (Jan) then web refuses email (Oct); csv grants ads (Nov) after web refused
    assert rows["C1"] == [False, True, True]
    # C5: store opt-in, later CRM list refuses SMS
    assert rows["C5"] == [True, False, False]
    # no statement at all means no consent
    assert rows["C4"] == [False, False, False]


def test_lifetime_activity_counts_completed_orders_sessions_and_calls(built, sql):
    settings, _ = built
    rows = {
        row[0]: row[1:]
        for row in sql(
            settings,
            "SELECT customer_id, lifetime_orders, lifetime_revenue, average_order_value, web_sessions, "
            "page_views, acquisition_channel, calls, average_csat, latest_nps, is_b2b, company_name "
            "FROM marts.dim_customers",
        )
    }
    assert rows["C6"][:3] == (5, Decimal("1500.00"), Decimal("300.00"))  # the return is excluded
    # two store orders and one web order (its retried message counted once)
    assert rows["C1"][:3] == (3, Decimal("1300.00"), Decimal("433.33"))
    assert rows["C1"][3:6] == (1, 1, "email")
    assert rows["C3"][3:6] == (3, 5, "paid_search")
    assert rows["C4"][6:9] == (2, 1.5, 4)
    assert rows["C5"][9:] == (True, "Acme")


def test_first_and_last_seen_span_all_sources(built, sql):
    settings, _ = built
    first_seen, last_seen = sql(
        settings, "SELECT first_seen_at, last_seen_at FROM marts.dim_customers WHERE customer_id = 'C1'"
    )[0]
    assert first_seen == datetime(2025, 6, 1, 10, 0)  # store account creation
    assert last_seen == datetime(2026, 11, 1)  # newsletter list of 2026-11-01 (its file date, not its 08:00 load)


def test_fct_orders_keeps_anonymous_orders_without_customer(built, sql):
    settings, _ = built
    assert sql(settings, "SELECT count(*) FROM marts.fct_orders")[0][0] == 13
    assert sql(settings, "SELECT customer_id FROM marts.fct_orders WHERE order_id = '9'")[0][0] is None


def test_web_orders_join_fct_orders_once_with_their_products(built, sql):
    settings, _ = built
    orders = sql(
        settings,
        "SELECT order_channel, customer_id, total_amount, order_line_count, item_quantity, lines_amount "
        "FROM marts.fct_orders WHERE order_id = 'WEB-00000001'",
    )
    assert orders == [("web", "C1", Decimal("100.00"), 2, 3, Decimal("100.00"))]
    lines = sql(
        settings,
        "SELECT order_line_id, product_sku, quantity, line_amount FROM marts.fct_order_lines "
        "WHERE order_id = 'WEB-00000001' ORDER BY order_line_id",
    )
    assert lines == [
        ("WEB-00000001:1", "SKU-9", 2, Decimal("80.00")),
        ("WEB-00000001:2", "SKU-8", 1, Decimal("20.00")),
    ]


def test_bridge_maps_every_person_record(built, sql):
    settings, _ = built
    assert sql(settings, "SELECT count(*) FROM marts.bridge_customer_records")[0][0] == 13
    keys = {
        row[0]
        for row in sql(
            settings, "SELECT source_record_key FROM marts.bridge_customer_records WHERE customer_id = 'C1'"
        )
    }
    assert keys == {
        "store|101",
        "csv|newsletter__2026-11-01.csv:2",
        "web|user:u1",
        "web|anon:a1",
        "call_center|call-1",
    }


def test_kpi_daily_repeat_purchase_rate_and_new_customers(built, sql):
    settings, _ = built
    rows = {
        row[0]: row[1:]
        for row in sql(
            settings,
            "SELECT kpi_date, orders, revenue, new_customers, returning_customers, repeat_purchase_rate "
            "FROM marts.kpi_daily",
        )
    }
    assert max(rows) == date(2026, 11, 23)  # the spine runs to the run date
    # Alice's second order: a returning customer; 3 of the 4 buyers have now bought twice
    assert rows[date(2026, 10, 15)] == (1, Decimal("700.00"), 0, 1, 0.75)
    assert rows[date(2026, 3, 1)][2] == 1
    assert rows[date(2026, 11, 22)][:2] == (0, Decimal("0.00"))


def test_kpi_call_center_abandonment_and_nps(built, sql):
    settings, _ = built
    row = sql(
        settings,
        "SELECT calls, abandoned_calls, abandonment_rate, net_promoter_score FROM marts.kpi_call_center "
        "WHERE call_date = DATE '2026-09-20' AND queue = 'support'",
    )[0]
    assert row == (2, 1, 0.5, -100.0)


@pytest.mark.slow
def test_backfill_describes_customers_as_of_its_run_date(tmp_path, warehouse_factory, sql):
    settings = warehouse_factory(tmp_path, run_date=date(2026, 10, 10))
    cdp_dbt.build(settings, run_id="backfill")
    row = sql(
        settings,
        "SELECT lifetime_orders, lifetime_revenue, last_seen_at, has_consent_ad_targeting, as_of_date "
        "FROM marts.dim_customers WHERE customer_id = 'C1'",
    )[0]
    # the 2026-10-15 store order and the November newsletter list came later
    assert row == (2, Decimal("600.00"), datetime(2026, 10, 1, 10, 12, 30), False, date(2026, 10, 10))


#: Two customers as identity writes them: each person record as the source wrote it
#: (identity.person_records) and standardised for matching (identity.person_records_standardised,
#: placeholders NULL). C9: a store record whose first name is a placeholder, and a web record.
#: C10: one web record whose only first name is a placeholder.
_WRITTEN_AND_STANDARDISED = """
insert into identity.person_records
    (source_system, source_record_id, first_name, last_name, email, street, city, postcode, state, country,
     record_updated_at)
values
    ('store', '901', 'N/A', ' O''Brien ', 'Jose.OBrien@Example.com', '9 2nd Ct.', 'New York', '10001-2345',
     'NY', 'United States', '2026-05-01 10:00:00'),
    ('web', 'user:u9', ' José ', 'OBRIEN', 'jose.obrien@example.com', '1 Other Rd', 'Brooklyn', null, null, null,
     '2026-06-01 10:00:00'),
    ('web', 'user:u10', 'test', 'Ng', null, null, null, null, null, null, '2026-06-01 10:00:00');
insert into identity.person_records_standardised
    (source_system, source_record_id, first_name, last_name, email, street, city, postcode, state, country,
     record_updated_at)
values
    ('store', '901', null, 'obrien', 'jose.obrien@example.com', '9 2nd ct', 'new york', '10001', 'NY', 'US',
     '2026-05-01 10:00:00'),
    ('web', 'user:u9', 'jose', 'obrien', 'jose.obrien@example.com', '1 other rd', 'brooklyn', null, null, null,
     '2026-06-01 10:00:00'),
    ('web', 'user:u10', null, 'ng', null, null, null, null, null, null, '2026-06-01 10:00:00');
insert into identity.customer_map values
    ('store', '901', 'C9', '2026-11-23 01:00:00'),
    ('web', 'user:u9', 'C9', '2026-11-23 01:00:00'),
    ('web', 'user:u10', 'C10', '2026-11-23 01:00:00');
"""


@pytest.mark.slow
def test_golden_record_shows_names_and_address_as_written(tmp_path, warehouse_factory, sql):
    """The 360 profile shows what the source wrote, not identity's matching keys ('jose', 'obrien',
    '9 2nd ct'); a placeholder standardisation nulled stays NULL, and survivorship still picks by the
    standardised values (the store record's NULL first name lets the web record's win)."""
    settings = warehouse_factory(tmp_path)
    with connect(settings) as con:
        con.execute(_WRITTEN_AND_STANDARDISED)
    cdp_dbt.build(settings, run_id="as-written")
    rows = sql(
        settings,
        "SELECT customer_id, first_name, last_name, email, street, city, postcode, state, country "
        "FROM marts.dim_customers WHERE customer_id IN ('C9', 'C10') ORDER BY customer_id",
    )
    assert rows == [
        ("C10", None, "Ng", None, None, None, None, None, None),
        ("C9", "José", "O'Brien", "jose.obrien@example.com", "9 2nd Ct.", "New York", "10001-2345", "NY", "US"),
    ]


_WRITTEN_WITH_EDGE_JUNK = """
insert into identity.person_records
    (source_system, source_record_id, first_name, last_name, street, city, postcode, state, record_updated_at)
values
    ('web', 'user:u11', '\tAnn\u00a0', '\u200bLee\ufeff', '\u200c4 Elm St\t', '\u00a0Boston\u200d',
     ' 02101\u2060', '\u3000MA\n', '2026-06-01 10:00:00'),
    ('web', 'user:u12', 'Bo', '\u00a0\u200b\t', null, null, null, null, '2026-06-01 10:00:00');
insert into identity.person_records_standardised
    (source_system, source_record_id, first_name, last_name, street, city, postcode, state, record_updated_at)
values
    ('web', 'user:u11', 'ann', 'lee', '4 elm st', 'boston', '02101', 'MA', '2026-06-01 10:00:00'),
    ('web', 'user:u12', 'bo', null, null, null, null, null, '2026-06-01 10:00:00');
insert into identity.customer_map values
    ('web', 'user:u11', 'C11', '2026-11-23 01:00:00'),
    ('web', 'user:u12', 'C12', '2026-11-23 01:00:00');
"""


@pytest.mark.slow
def test_golden_record_strips_whitespace_and_zero_width_characters(tmp_path, warehouse_factory, sql):
    """A tab, a non-breaking space or a zero-width character at either end of a name or address is
    not shown in dim_customers (nor exported), as identity strips them; a value of nothing else is
    NULL. DuckDB's trim() removed spaces only."""
    settings = warehouse_factory(tmp_path)
    with connect(settings) as con:
        con.execute(_WRITTEN_WITH_EDGE_JUNK)
    cdp_dbt.build(settings, run_id="edge-junk")
    rows = sql(
        settings,
        "SELECT customer_id, first_name, last_name, street, city, postcode, state "
        "FROM marts.dim_customers WHERE customer_id IN ('C11', 'C12') ORDER BY customer_id",
    )
    assert rows == [
        ("C11", "Ann", "Lee", "4 Elm St", "Boston", "02101", "MA"),
        ("C12", "Bo", None, None, None, None, None),
    ]
    assert sql(
        settings,
        "SELECT last_name FROM staging.stg_identity__person_records_as_written WHERE source_record_key = 'web|user:u12'",
    ) == [(None,)]


def test_strip_edges_macro_strips_what_identity_strips():
    """macros/strip_edges.sql's character class is identity.standardise's _EDGE_JUNK, no more, no less."""
    import re
    from pathlib import Path

    import duckdb

    from identity.standardise import _EDGE_JUNK

    macro = (Path(__file__).parents[2] / "dbt_project" / "macros" / "strip_edges.sql").read_text(encoding="utf-8")
    character_class = re.search(r"macro edge_junk_class\(\) -%}\s*(\S+)\s*{%- endmacro", macro).group(1)
    candidates = [chr(code) for code in range(1, 0x3100)] + ["\ufeff", "\uffef"]
    with duckdb.connect() as con:
        matched = con.execute(
            "SELECT list(c) FROM unnest(?::VARCHAR[]) AS t(c) WHERE regexp_full_match(c, ?)",
            [candidates, character_class],
        ).fetchone()[0]
    assert set(matched) == set(_EDGE_JUNK)


def test_kpi_identity_matches_counts_over_person_records(built, sql):
    # kpi_identity takes per-customer counts from int_identifiers_per_customer; they must equal
    # counting the person records of bridge_customer_records directly
    settings, _ = built
    expected = sql(
        settings,
        """
        with customers as (
            select customer_id, count(*) as records, count(distinct source_system) as systems
            from marts.bridge_customer_records group by customer_id
        )
        select 'all', sum(records)::bigint, count(*), count(*) filter (where systems > 1) from customers
        union all
        select b.source_system, count(*), count(distinct b.customer_id),
            count(distinct b.customer_id) filter (where c.systems > 1)
        from marts.bridge_customer_records as b inner join customers as c using (customer_id)
        group by b.source_system
        order by 1
        """,
    )
    actual = sql(
        settings,
        "select source_system, person_records, customers, customers_in_several_sources "
        "from marts.kpi_identity order by 1",
    )
    assert len(actual) > 2 and any(row[3] > 0 for row in actual)
    assert actual == expected


def test_retention_cohorts_reconcile_with_fct_orders(built, sql):
    # recomputed here by a window over every completed order, a different route from the model's
    settings, _ = built
    expected = sql(
        settings,
        """
        with months as (
            select distinct customer_id, date_trunc('month', order_date)::date as order_month
            from marts.fct_orders
            where is_completed and customer_id is not null and order_date <= date '2026-11-23'
        ), cohorts as (
            select *, min(order_month) over (partition by customer_id) as cohort_month from months
        )
        select cohort_month, date_diff('month', cohort_month, order_month), count(*)
        from cohorts group by all order by all
        """,
    )
    actual = sql(
        settings,
        "select cohort_month, months_since_first_purchase, active_customers from marts.kpi_retention_cohorts "
        "where active_customers > 0 order by all",
    )
    assert actual == expected
    buyers = sql(settings, "select count(*) from marts.dim_customers where lifetime_orders > 0")[0][0]
    cohorts = sql(
        settings,
        "select sum(cohort_size) filter (where months_since_first_purchase = 0), count(*), "
        "max(activity_month), count(*) filter (where retention_rate = 0), "
        "bool_and(retention_rate = 1) filter (where months_since_first_purchase = 0) "
        "from marts.kpi_retention_cohorts",
    )[0]
    # every buyer in one cohort; each cohort runs to the run date's month, quiet months as zeros
    rows_expected = sum(
        months + 1
        for (months,) in sql(
            settings,
            "select date_diff('month', cohort_month, date '2026-11-01') from marts.kpi_retention_cohorts "
            "where months_since_first_purchase = 0",
        )
    )
    assert cohorts[0] == buyers == 4
    assert cohorts[1] == rows_expected
    assert cohorts[2] == date(2026, 11, 1)
    assert cohorts[3] > 0 and cohorts[4] is True


def test_customer_lifetime_value_covers_every_buyer(built, sql):
    settings, _ = built
    historical = sql(
        settings,
        "select customer_id, lifetime_orders, lifetime_revenue, average_order_value, first_purchase_at "
        "from marts.customer_lifetime_value order by 1",
    )
    assert historical == sql(
        settings,
        "select customer_id, lifetime_orders, lifetime_revenue, average_order_value, first_purchase_at "
        "from marts.dim_customers where lifetime_orders > 0 order by 1",
    )
    # C1: 3 orders since 2026-03-01 (267 days), not overdue, AOV 433.33
    c1 = sql(
        settings,
        "select tenure_days, active_probability, predicted_clv_12m > 0 from marts.customer_lifetime_value "
        "where customer_id = 'C1'",
    )[0]
    assert c1 == (267, 1.0, True)


def test_kpi_call_center_first_contact_resolution(built, sql):
    settings, _ = built
    rows = sql(
        settings,
        "select call_date, queue, first_contact_resolutions, first_contact_resolution_rate "
        "from marts.kpi_call_center order by all",
    )
    # call-1 resolved with no repeat; Dan's calls were escalated / callback, call-4 abandoned
    assert rows == [
        (date(2026, 9, 10), "billing", 1, 1.0),
        (date(2026, 9, 12), "support", 0, 0.0),
        (date(2026, 9, 20), "support", 0, 0.0),
    ]


def test_a_resolved_repeat_call_is_no_first_contact_resolution(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    # Dan's escalated call moves to 2026-09-18; his call of 2026-09-20 resolves the issue
    with connect(settings) as con:
        con.execute("""
            update raw.call_center_calls set started_at = started_at + interval 6 day,
                answered_at = answered_at + interval 6 day, ended_at = ended_at + interval 6 day
            where call_id = 'call-2';
            update raw.call_center_calls set disposition = 'resolved' where call_id = 'call-3';
        """)
    cdp_dbt.build(settings, run_id="repeat-call")
    # call-3 follows call-2 within fcr_window_days: a repeat contact, not resolved on the first one
    assert sql(settings, "select first_contact_resolutions, first_contact_resolution_rate from marts.kpi_call_center "
                         "where call_date = '2026-09-20' and queue = 'support'") == [(0, 0.0)]
