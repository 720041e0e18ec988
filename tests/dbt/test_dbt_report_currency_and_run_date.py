"""Analyst-facing correctness of the marts on the fixture warehouse plus a few awkward rows:
revenue in one reporting currency (never a sum of amounts in different currencies), no visit after
the run date, and no impossible birth date in the golden record."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date, datetime
from decimal import Decimal

import pytest

from cdp import dbt as cdp_dbt
from cdp.warehouse import connect

# Added to the fixture (tests/dbt/fixtures/warehouse.sql, run date 2026-11-23):
# - Bob (C2, store 102) buys twice more on 2026-11-10: 100 EUR (rate 1.08 to USD in
#   seeds/currency_rates.csv) and 50 CHF (no rate); his USD orders are 50 + 60.
# - Carol (C3, anon a3) starts a session at 23:50 on the run date that goes on past midnight,
#   and a device with a clock in the future sends an event next year.
# - Bob's store record says he was born in 2031; Alice's CSV record (her winning birth date,
#   1990-01-01 in the fixture) says 1850, so her web record's 1991-01-01 must win instead.
AWKWARD_ROWS = """
insert into raw.store_orders values
    (13, 102, 1, '2026-11-10 12:00:00', 'completed', 100.00, 'EUR', '2026-11-10 12:00:00',
     'select * from orders', null, 'b3', '2026-11-22 00:00:00'),
    (14, 102, 1, '2026-11-10 13:00:00', 'completed', 50.00, 'chf', '2026-11-10 13:00:00',
     'select * from orders', null, 'b3', '2026-11-22 00:00:00');
insert into raw.web_events
    (message_id, type, event_name, anonymous_id, event_at, properties, page_path,
     _source_file, _source_line, _batch_id, _loaded_at)
values
    ('m-c7', 'page', null, 'a3', '2026-11-23 23:50:00', '{}', '/late', 'web/e.ndjson', 20, 'b1', '2026-11-23 00:00:00'),
    ('m-c8', 'page', null, 'a3', '2026-11-24 00:10:00', '{}', '/later', 'web/e.ndjson', 21, 'b1', '2026-11-23 00:00:00'),
    ('m-c9', 'page', null, 'a3', '2027-06-01 08:00:00', '{}', '/future', 'web/e.ndjson', 22, 'b1', '2026-11-23 00:00:00');
update identity.person_records_standardised set date_of_birth = '2031-05-05'
    where source_system = 'store' and source_record_id = '102';
update identity.person_records_standardised set date_of_birth = '1850-01-01'
    where source_system = 'csv' and source_record_id = 'newsletter__2026-11-01.csv:2';
"""


@pytest.fixture(scope="module")
def awkward(warehouse_factory, tmp_path_factory):
    settings = warehouse_factory(tmp_path_factory.mktemp("dbt_awkward"))
    with connect(settings) as con:
        con.execute(AWKWARD_ROWS)
    summary = cdp_dbt.build(settings, run_id="awkward-1")
    return settings, summary


def test_lifetime_revenue_converts_to_the_reporting_currency_and_never_sums_a_currency_without_rate(awkward, sql):
    settings, summary = awkward
    assert summary["failures"] == 0
    orders, revenue, aov = sql(
        settings,
        "select lifetime_orders, lifetime_revenue, average_order_value from marts.dim_customers where customer_id = 'C2'",
    )[0]
    # 50 + 60 USD + 100 EUR * 1.08; the 50 CHF order is counted, but not as 50 dollars (the sum of
    # the amounts as they are would be 260)
    assert orders == 4
    assert revenue == Decimal("218.00")
    assert aov == Decimal("72.67")  # 218 / the 3 converted orders
    assert sql(settings, "select lifetime_orders_without_rate from marts.dim_customers where customer_id = 'C2'") == [(1,)]
    clv_revenue, clv_aov = sql(
        settings, "select lifetime_revenue, average_order_value from marts.customer_lifetime_value where customer_id = 'C2'"
    )[0]
    assert (clv_revenue, clv_aov) == (Decimal("218.00"), Decimal("72.67"))
    # the order keeps its own amount and currency
    assert sql(settings, "select total_amount, currency from marts.fct_orders where order_id = '14'") == [
        (Decimal("50.00"), "CHF")
    ]


def test_daily_revenue_is_in_the_reporting_currency(awkward, sql):
    settings, _ = awkward
    day = "from marts.kpi_daily where kpi_date = date '2026-11-10'"
    # 100 EUR * 1.08, not 100 + 50 "dollars"; the CHF order counts as an order, not in revenue or AOV
    assert sql(settings, f"select orders, revenue, average_order_value {day}") == [(2, Decimal("108.00"), Decimal("108.00"))]
    assert sql(settings, f"select orders_without_rate, reporting_currency {day}") == [(1, "USD")]


def test_a_currency_without_rate_is_a_warning(awkward):
    settings, summary = awkward
    assert summary["failures"] == 0
    results = json.loads((cdp_dbt._target_dir(settings) / "run_results.json").read_text(encoding="utf-8"))
    statuses = {result["unique_id"].split(".")[-1]: (result["status"], result["failures"]) for result in results["results"]}
    assert statuses["assert_completed_orders_have_reporting_rate"] == ("warn", 1)  # one currency: CHF


def test_another_reporting_currency_converts_with_its_own_rates(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    with connect(settings) as con:
        con.execute(AWKWARD_ROWS)
        cdp_dbt._upgrade_raw_csv_contacts(con)  # as build() does: the fixture's table predates row_dated_at
    # CDP_REPORTING_CURRENCY (dbt var reporting_currency, default USD): the same build reporting in EUR
    variables = cdp_dbt._parse_vars(cdp_dbt.load_segments(), dataclasses.replace(settings, reporting_currency=" eur"))
    assert variables["reporting_currency"] == "EUR"
    cdp_dbt._invoke(settings, "build", variables, "awkward-eur", extra_args=["--exclude-resource-type", "unit_test"])
    revenue, without_rate = sql(
        settings, "select lifetime_revenue, lifetime_orders_without_rate from marts.dim_customers where customer_id = 'C2'"
    )[0]
    # 110 USD * 0.93 + 100 EUR; CHF still without a rate
    assert (revenue, without_rate) == (Decimal("202.30"), 1)
    assert sql(settings, "select distinct reporting_currency from marts.kpi_daily") == [("EUR",)]


def test_last_visit_is_never_after_the_run_date(awkward, sql):
    settings, _ = awkward
    visits, page_views, last_visit = sql(
        settings, "select web_sessions, page_views, last_visit_at from marts.dim_customers where customer_id = 'C3'"
    )[0]
    # the fixture's three sessions plus the one started at 23:50, cut at midnight; 2027 not counted
    assert visits == 4
    assert page_views == 5 + 1
    assert last_visit == datetime(2026, 11, 23, 23, 50)
    # the session itself is whole in fct_web_sessions
    assert sql(settings, "select count(*) from marts.fct_web_sessions where session_ended_at = '2026-11-24 00:10:00'") == [(1,)]


def test_impossible_birth_dates_do_not_reach_the_golden_record(awkward, sql):
    settings, _ = awkward
    births = dict(sql(settings, "select customer_id, date_of_birth from marts.dim_customers where customer_id in ('C1', 'C2')"))
    assert births["C2"] is None  # born 2031, his only birth date
    assert births["C1"] == date(1991, 1, 1)  # the CSV's 1850 is skipped, the web record's date wins


@pytest.mark.parametrize("duplicate", ["eur,USD,1.08", "EUR ,USD,1.08"])
def test_a_currency_twice_in_the_rates_seed_stops_the_build(warehouse_factory, sql, tmp_path, monkeypatch, duplicate):
    """Review finding: the seed's unique_combination test compares the raw values, so `eur` (or
    `EUR `) next to `EUR` passed it, int_currency_rates_to_reporting (upper(trim())) then held EUR
    twice and Bob's 100 EUR order counted twice in dim_customers and kpi_daily (lifetime revenue
    326.00 instead of 218.00). The view's key tests fail the build, naming the duplicated key."""
    project = tmp_path / "dbt_project"
    shutil.copytree(cdp_dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    rates = project / "seeds" / "currency_rates.csv"
    rates.write_text(rates.read_text(encoding="utf-8") + duplicate + "\n", encoding="utf-8")
    monkeypatch.setattr(cdp_dbt, "DBT_PROJECT_DIR", project)
    settings = warehouse_factory(tmp_path / "home")
    with connect(settings) as con:
        con.execute(AWKWARD_ROWS)  # Bob (C2) buys for 100 EUR

    with pytest.raises(cdp_dbt.DbtBuildFailed, match=r"unique_int_currency_rates_to_reporting_currency") as failed:
        cdp_dbt.build(settings, run_id="duplicate-rate")
    assert "fail" in str(failed.value)
    # Nothing downstream was built from the doubled rates.
    assert sql(settings, "select count(*) from information_schema.tables where table_schema = 'marts' "
                         "and table_name in ('dim_customers', 'kpi_daily')") == [(0,)]


def test_order_currencies_are_trimmed_and_blank_is_unknown(awkward, sql):
    settings, _ = awkward
    with connect(settings) as con:
        con.execute("""
            insert into raw.web_events
                (message_id, type, event_name, anonymous_id, event_at, properties,
                 _source_file, _source_line, _batch_id, _loaded_at)
            values
                ('m-cur1', 'track', 'Order Completed', 'a3', '2026-11-20 10:00:00',
                 '{"order_id": "w-cur1", "revenue": 10, "currency": " eur "}', 'web/e.ndjson', 30, 'b1', '2026-11-23 00:00:00'),
                ('m-cur2', 'track', 'Order Completed', 'a3', '2026-11-20 11:00:00',
                 '{"order_id": "w-cur2", "revenue": 10, "currency": " "}', 'web/e.ndjson', 31, 'b1', '2026-11-23 00:00:00')
        """)
    # the staging views read the raw rows as they are now: no rebuild needed
    try:
        rows = sql(settings, "select web_event_id, order_currency from staging.stg_web__events "
                             "where web_event_id in ('m-cur1', 'm-cur2') order by web_event_id")
    finally:  # the module's warehouse stays as the other tests built it
        with connect(settings) as con:
            con.execute("delete from raw.web_events where message_id in ('m-cur1', 'm-cur2')")
    # ' eur ' is EUR (it has a rate), not a currency of its own without one; blank is unknown
    assert rows == [("m-cur1", "EUR"), ("m-cur2", None)]


# (properties of an Order Completed event, the order_revenue staging reads from them)
ORDER_AMOUNTS = [
    ('{"revenue": 29.970000000000002}', Decimal("29.97")),  # a JSON number, client binary noise
    ('{"revenue": 1e3}', Decimal("1000")),  # a JSON number in exponent form is still a number
    ('{"revenue": "29.97"}', Decimal("29.97")),  # a plain decimal number as a string
    ('{"revenue": "-5"}', Decimal("-5")),
    ('{"revenue": null, "total": 55}', Decimal("55")),  # revenue not sent: total
    # DuckDB's cast read the first three as 1000, 1000 and 12: no source means them as amounts
    ('{"revenue": "1_000"}', None),
    ('{"revenue": "1e3"}', None),
    ('{"revenue": " 12 "}', None),
    ('{"revenue": "0x1F"}', None),
    ('{"revenue": "Infinity"}', None),
    ('{"revenue": "NaN"}', None),
    ('{"revenue": "1,000"}', None),
    ('{"revenue": true}', None),
    ('{"revenue": "1_000", "total": 10}', None),  # an unreadable revenue is not replaced by total
]


def test_an_order_amount_is_a_json_number_or_a_plain_decimal_string(awkward, sql):
    settings, _ = awkward
    ids = [f"m-amt{index}" for index in range(len(ORDER_AMOUNTS))]
    with connect(settings) as con:
        for message_id, (properties, _) in zip(ids, ORDER_AMOUNTS, strict=True):
            con.execute(
                "insert into raw.web_events (message_id, type, event_name, anonymous_id, event_at, properties, "
                "_source_file, _source_line, _batch_id, _loaded_at) values (?, 'track', 'Order Completed', 'a3', "
                "'2026-11-20 10:00:00', ?, 'web/e.ndjson', 50, 'b1', '2026-11-23 00:00:00')",
                [message_id, properties],
            )
    # the staging views read the raw rows as they are now: no rebuild needed
    try:
        rows = dict(sql(settings, "select web_event_id, order_revenue from staging.stg_web__events "
                                  "where web_event_id like 'm-amt%'"))
    finally:  # the module's warehouse stays as the other tests built it
        with connect(settings) as con:
            con.execute("delete from raw.web_events where message_id like 'm-amt%'")
    read = {properties: rows[message_id] for message_id, (properties, _) in zip(ids, ORDER_AMOUNTS, strict=True)}
    assert read == dict(ORDER_AMOUNTS)


def test_a_web_order_without_an_amount_is_counted_not_a_failed_build(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    # Alice's (C1) web orders: one sends only `total`, one no amount at all, one a revenue that is
    # no plain number (DuckDB's cast read "1_000" as 1000): a missing amount, not 1000 nor the total
    with connect(settings) as con:
        con.execute("""
            insert into raw.web_events (message_id, type, event_name, user_id, anonymous_id, event_at, properties,
                                        _source_file, _source_line, _batch_id, _loaded_at)
            values
                ('m-t1', 'track', 'Order Completed', 'u1', 'a1', '2026-11-05 10:00:00',
                 '{"order_id": "WEB-T1", "currency": "USD", "total": 55.0}', 'web/e.ndjson', 40, 'b1', '2026-11-06 00:00:00'),
                ('m-t2', 'track', 'Order Completed', 'u1', 'a1', '2026-11-05 11:00:00',
                 '{"order_id": "WEB-T2", "currency": "USD"}', 'web/e.ndjson', 41, 'b1', '2026-11-06 00:00:00'),
                ('m-t3', 'track', 'Order Completed', 'u1', 'a1', '2026-11-05 12:00:00',
                 '{"order_id": "WEB-T3", "currency": "USD", "revenue": "1_000", "total": 10}', 'web/e.ndjson', 42,
                 'b1', '2026-11-06 00:00:00')
        """)
    # the revenue reconciliation test counted only orders without a rate: the night's build failed
    summary = cdp_dbt.build(settings, run_id="no-amount")
    assert summary["failures"] == 0
    assert sql(settings, "select order_id, total_amount from marts.fct_orders where order_id like 'WEB-T%' "
                         "order by order_id") == [("WEB-T1", Decimal("55.00")), ("WEB-T2", None), ("WEB-T3", None)]
    day = "from marts.kpi_daily where kpi_date = date '2026-11-05'"
    assert sql(settings, f"select orders, revenue, orders_without_rate {day}") == [(3, Decimal("55.00"), 2)]
    results = json.loads((cdp_dbt._target_dir(settings) / "run_results.json").read_text(encoding="utf-8"))
    statuses = {result["unique_id"].split(".")[-1]: (result["status"], result["failures"]) for result in results["results"]}
    assert statuses["assert_completed_orders_have_an_amount"] == ("warn", 1)
    assert statuses["assert_lifetime_revenue_matches_fct_orders"] == ("pass", 0)
