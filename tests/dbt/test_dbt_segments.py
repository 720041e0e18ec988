"""Segments as code: membership of crafted customers, member_since across reruns, bad definitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from cdp import dbt as cdp_dbt

EXPECTED_MEMBERS = {
    # the top 20% of the four buyers (C5 80, C2 110, C1 1,200, C6 1,500): C6 alone
    "high_value": {"C6"},
    # overdue against their own rhythm (churn_risk_band medium / high): Bob (two orders 95 days
    # apart, last one 200 days ago, score 2.11) and Frank (monthly buyer, last order 53 days ago,
    # score 1.77); a fixed "90 to 365 days ago" rule took Bob only
    "at_risk_of_churn": {"C2", "C6"},
    "new_this_month": {"C3"},
    "lapsed": {"C5"},
    "frequent_buyers": {"C6"},
    "engaged_never_bought": {"C3"},
    "unhappy_callers": {"C4"},
    "b2b": {"C5"},
    "b2c": {"C1", "C2", "C3", "C4", "C6", "C7"},
}


def memberships(sql, settings) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in EXPECTED_MEMBERS}
    for customer_id, segment_name in sql(
        settings, "SELECT customer_id, segment_name FROM marts.segment_memberships"
    ):
        found.setdefault(segment_name, set()).add(customer_id)
    return found


def test_built_in_segments_select_the_crafted_customers(built, sql):
    settings, summary = built
    assert memberships(sql, settings) == EXPECTED_MEMBERS
    assert summary["segment_sizes"] == {name: len(members) for name, members in EXPECTED_MEMBERS.items()}


def test_segment_definitions_and_dim_customers_list(built, sql):
    settings, _ = built
    definitions = dict(sql(settings, "SELECT segment_name, consent_purpose FROM marts.segments"))
    assert definitions["unhappy_callers"] == "none"
    assert definitions["engaged_never_bought"] == "ad_targeting"
    assert sql(settings, "SELECT segments FROM marts.dim_customers WHERE customer_id = 'C6'")[0][0] == [
        "at_risk_of_churn",
        "b2c",
        "frequent_buyers",
        "high_value",
    ]


@pytest.mark.slow
def test_member_since_survives_reruns_and_leavers_drop_out(tmp_path, warehouse_factory, sql):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="day-1")

    # Bob buys again on the next day: he is no longer at risk of churning
    new_order = (
        "INSERT INTO raw.store_orders VALUES (13, 102, 1, TIMESTAMP '2026-11-24 09:00:00', 'completed', "
        "20.00, 'USD', TIMESTAMP '2026-11-24 09:00:00', 'q', NULL, 'b9', TIMESTAMP '2026-11-24 10:00:00')"
    )
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(new_order)
    finally:
        con.close()
    next_day = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(next_day, run_id="day-2")
    cdp_dbt.build(next_day, run_id="day-2-rerun")

    since = {
        (customer_id, segment): member_since
        for customer_id, segment, member_since in sql(
            settings, "SELECT customer_id, segment_name, member_since FROM marts.segment_memberships"
        )
    }
    assert since[("C6", "high_value")] == date(2026, 11, 23)
    assert ("C2", "at_risk_of_churn") not in since
    history = sql(
        settings,
        "SELECT as_of_date, members, run_id FROM marts.segment_size_history "
        "WHERE segment_name = 'at_risk_of_churn' ORDER BY as_of_date",
    )
    # one row per run date: the rerun replaced day 2 instead of appending (Frank stays overdue)
    assert history == [(date(2026, 11, 23), 2, "day-1"), (date(2026, 11, 24), 1, "day-2-rerun")]


def write_segments(path: Path, condition: str, name: str = "big_spenders") -> Path:
    segment = {
        "name": name,
        "description": "test segment",
        "owner": "tests",
        "consent_purpose": "email_marketing",
        "condition": condition,
    }
    path.write_text(yaml.safe_dump({"segments": [segment]}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("lifetime_spend > 100", '"lifetime_spend" not found'),  # unknown column
        ("lifetime_revenue >", "not valid SQL"),
        ("lifetime_revenue + 1", "true/false"),
        ("true) UNION SELECT customer_id FROM dim_customers WHERE (true", "single boolean expression"),
        ("true; DROP TABLE marts.dim_customers", "without ';'"),
        ("segments IS NOT NULL", '"segments" not found'),  # computed from the conditions themselves
    ],
)
def test_invalid_condition_fails_before_dbt_naming_the_segment(tmp_path, condition, expected):
    settings = cdp_dbt.Settings(home=tmp_path, run_date=date(2026, 11, 23))
    path = write_segments(tmp_path / "segments.yml", condition)
    with pytest.raises(cdp_dbt.SegmentDefinitionError) as raised:
        cdp_dbt.build(settings, run_id="bad", segments_path=path)
    assert "segment 'big_spenders'" in str(raised.value)
    assert expected in str(raised.value)
    assert not settings.warehouse_path.exists()  # dbt never started


def test_error_names_the_segments_file_given(tmp_path):
    settings = cdp_dbt.Settings(home=tmp_path, run_date=date(2026, 11, 23))
    path = write_segments(tmp_path / "spring_campaign.yml", "lifetime_spend > 100")
    with pytest.raises(cdp_dbt.SegmentDefinitionError, match=r"segment 'big_spenders' \(spring_campaign\.yml\)"):
        cdp_dbt.build(settings, run_id="bad", segments_path=path)


@pytest.mark.slow
def test_condition_failing_on_the_data_names_the_segment(tmp_path, warehouse_factory):
    # Compiles against the empty dim_customers, fails only on a real e-mail address.
    settings = warehouse_factory(tmp_path)
    path = write_segments(tmp_path / "segments.yml", "cast(email as integer) > 0")
    with pytest.raises(cdp_dbt.SegmentDefinitionError) as raised:
        cdp_dbt.build(settings, run_id="runtime", segments_path=path)
    message = str(raised.value)
    assert "segment 'big_spenders' (segments.yml): condition fails on the data" in message
    assert "cast(email as integer) > 0" in message
    assert any("segment_memberships" in node["unique_id"] for node in raised.value.failed_nodes)


def test_bad_consent_purpose_is_rejected(tmp_path):
    path = tmp_path / "segments.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "segments": [
                    {
                        "name": "x",
                        "description": "d",
                        "owner": "o",
                        "consent_purpose": "fax",
                        "condition": "true",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(cdp_dbt.SegmentDefinitionError, match=r"segment 'x'.*consent_purpose is 'fax'"):
        cdp_dbt.load_segments(path)


def test_shipped_segments_are_valid_and_match_the_dbt_project_default():
    segments = cdp_dbt.load_segments()
    cdp_dbt.validate_segments(segments)
    project = yaml.safe_load((cdp_dbt.DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    # dbt_project.yml keeps a verbatim copy so a plain `dbt build` builds the same audiences
    assert project["vars"]["segments"] == [segment.as_var() for segment in segments]


@pytest.mark.slow
def test_custom_segments_file_with_quoted_literals_reaches_dbt(tmp_path, warehouse_factory, sql):
    settings = warehouse_factory(tmp_path)
    path = write_segments(tmp_path / "segments.yml", "acquisition_channel = 'paid_search'", name="from_ads")
    summary = cdp_dbt.build(settings, run_id="custom", segments_path=path)
    assert summary["segment_sizes"] == {"from_ads": 1}
    assert sql(settings, "SELECT customer_id, segment_name FROM marts.segment_memberships") == [
        ("C3", "from_ads")
    ]
    assert sql(settings, "SELECT condition_sql FROM marts.segments") == [
        ("acquisition_channel = 'paid_search'",)
    ]
    assert sql(settings, "SELECT segments FROM marts.dim_customers WHERE customer_id = 'C1'") == [([],)]


def test_missing_segments_file_is_reported_with_its_path(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(cdp_dbt.SegmentDefinitionError, match=r"nope\.yml: segments file not found"):
        cdp_dbt.load_segments(missing)


@pytest.mark.slow
def test_rerun_of_a_date_drops_the_size_rows_of_segments_removed_since(tmp_path, warehouse_factory, sql):
    settings = warehouse_factory(tmp_path / "warehouse")
    day_1 = settings.with_run_date(date(2026, 11, 22))
    cdp_dbt.build(day_1, run_id="day-1")
    cdp_dbt.build(settings, run_id="day-2")
    sizes = "SELECT as_of_date, segment_name, run_id FROM marts.segment_size_history ORDER BY 1, 2"
    day_1_rows = [row for row in sql(settings, sizes) if row[0] == date(2026, 11, 22)]
    assert ("b2b" in {row[1] for row in day_1_rows}) and len(day_1_rows) == len(EXPECTED_MEMBERS)

    # day 2 rerun after b2b was renamed: only the segments defined now have a row for day 2
    shipped = yaml.safe_load(cdp_dbt.SEGMENTS_PATH.read_text(encoding="utf-8"))
    for segment in shipped["segments"]:
        if segment["name"] == "b2b":
            segment["name"] = "business_buyers"
    renamed = tmp_path / "segments.yml"
    renamed.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    cdp_dbt.build(settings, run_id="day-2-rerun", segments_path=renamed)
    day_2_rows = [row for row in sql(settings, sizes) if row[0] == date(2026, 11, 23)]
    assert {row[1] for row in day_2_rows} == set(EXPECTED_MEMBERS) - {"b2b"} | {"business_buyers"}
    assert {row[2] for row in day_2_rows} == {"day-2-rerun"}

    # a rerun with no segment defined at all leaves no row for day 2; day 1 is kept as it was
    empty = tmp_path / "no_segments.yml"
    empty.write_text("segments: []\n", encoding="utf-8")
    cdp_dbt.build(settings, run_id="day-2-empty", segments_path=empty)
    assert sql(settings, sizes) == day_1_rows


@pytest.mark.parametrize(("first_order", "last_order", "days", "segments"), [
    # at_risk_of_churn is the churn-risk mart's definition (band medium or high: the last purchase
    # at least 1.5 of the customer's own usual gaps ago, the gap floored at 30 days), not a fixed
    # 90-day rule: a 10-day buyer is at risk after 45 days, not after 44...
    ("2026-09-29 12:00:00", "2026-10-09 12:00:00", 45, {"at_risk_of_churn"}),
    ("2026-09-30 12:00:00", "2026-10-10 12:00:00", 44, set()),
    # ...and a buyer every 340 days is not at risk 200 days after their last purchase
    ("2025-06-01 12:00:00", "2026-05-07 12:00:00", 200, set()),
    # the day-365 / day-366 boundary with lapsed: never both, never neither for a high score
    ("2025-09-01 12:00:00", "2025-11-23 12:00:00", 365, {"at_risk_of_churn"}),
    ("2025-09-01 12:00:00", "2025-11-22 12:00:00", 366, {"lapsed"}),
])
def test_churn_segment_follows_the_churn_risk_band_and_meets_lapsed_at_day_365(
    tmp_path, warehouse_factory, sql, first_order, last_order, days, segments
):
    settings = warehouse_factory(tmp_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # Bob's two orders both move
        con.execute("UPDATE raw.store_orders SET ordered_at = ?, updated_at = ? WHERE order_id = 4", [last_order, last_order])
        con.execute("UPDATE raw.store_orders SET ordered_at = ? WHERE order_id = 3", [first_order])
    cdp_dbt.build(settings, run_id="boundary")
    assert sql(settings, "SELECT days_since_last_purchase FROM marts.dim_customers WHERE customer_id = 'C2'") == [(days,)]
    in_recency_segments = {name for name, members in memberships(sql, settings).items()
                           if "C2" in members and name in ("at_risk_of_churn", "lapsed")}
    assert in_recency_segments == segments
    # one definition: the profile the segments read carries the churn mart's own score and band
    churn_columns = "expected_gap_days, churn_risk_score, churn_risk_band"
    profile = sql(settings, f"SELECT {churn_columns} FROM marts.dim_customers WHERE customer_id = 'C2'")
    assert profile == sql(settings, f"SELECT {churn_columns} FROM marts.customer_churn_risk WHERE customer_id = 'C2'")
