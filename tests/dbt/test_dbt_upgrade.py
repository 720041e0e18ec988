"""A warehouse built by an older version, whose incremental tables lack a column the models now
write (`written_at`, added to the order chain and the web facts) or that was a plain table then
(the consent statements), builds without a manual --full-refresh: cdp.dbt.build rebuilds only the models dbt finds out of sync, and the result
equals a --full-refresh build of the same data."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

# The previous version's tables: no `written_at` (dropped here to stand for them).
OLD_TABLES = ("intermediate.int_orders_with_lines", "marts.fct_orders", "marts.fct_order_lines")
COMPARED_TABLES = (
    *OLD_TABLES,
    "intermediate.int_consent_statements_unioned",
    "intermediate.int_customer_consents_resolved",
    "intermediate.int_orders_aggregated_to_customers",
    "intermediate.int_customer_profiles_joined",
    "marts.fct_web_events",
    "marts.fct_web_sessions",
    "marts.dim_customers",
    "marts.kpi_daily",
)


@pytest.mark.slow
def test_a_table_missing_a_new_column_is_rebuilt_alone_and_equals_a_full_refresh(
    warehouse_factory, sql, tmp_path, nights
):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    for table in OLD_TABLES:
        nights.execute(settings, f"alter table {table} drop column written_at")
    nights.execute(settings, "create or replace table intermediate.int_consent_statements_unioned as select * "
                             "exclude (source_record_key, loaded_at, web_event_id) from intermediate.int_consent_statements_unioned")
    # an untouched web event: only a rebuild of fct_web_events (not out of sync) would erase it
    nights.execute(settings, "update marts.fct_web_events set page_title = 'kept' where web_event_id = 'm-a1'")

    night_2 = settings.with_run_date(date(2026, 11, 24))
    summary = cdp_dbt.build(night_2, run_id="night-2")

    # int_orders_with_lines fails first and skips the two facts, which fail on the next round
    assert summary["full_refreshed_models"] == [
        "fct_order_lines", "fct_orders", "int_consent_statements_unioned", "int_orders_with_lines"
    ]
    assert summary["failures"] == 0
    for table in OLD_TABLES:
        schema, name = table.split(".")
        assert sql(night_2, "select count(*) from duckdb_columns() where schema_name = ? and table_name = ? "
                            "and column_name = 'written_at'", [schema, name]) == [(1,)]
        assert sql(night_2, f"select count(*) from {table} where written_at is null") == [(0,)]
    assert sql(night_2, "select page_title from marts.fct_web_events where web_event_id = 'm-a1'") == [("kept",)]

    nights.execute(night_2, "update marts.fct_web_events set page_title = null where web_event_id = 'm-a1'")
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh")
    assert nights.differences(night_2, str(full.warehouse_path), COMPARED_TABLES) == {}

    # the next night is an ordinary incremental build again
    assert cdp_dbt.build(night_2, run_id="night-2")["full_refreshed_models"] == []

