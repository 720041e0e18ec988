"""int_customer_profiles_joined rebuilds the customers its per-customer models logged as recomputed
(macros/incremental_customers.sql, log_recomputed_customers) instead of comparing every customer's
fingerprints: a night whose profiles fail to build keeps the log, and the next successful night
rebuilds what both nights changed, equal to a --full-refresh build (EXCEPT ALL both ways)."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

PROFILE_TABLES = (
    "intermediate.int_accounts_per_customer",
    "intermediate.int_calls_aggregated_to_customers",
    "intermediate.int_customer_profiles_joined",
    "marts.dim_customers",
)
LOG = "intermediate.int_customer_profiles_joined__keys_to_rebuild"


@pytest.mark.slow
def test_logged_customers_survive_a_failed_night_and_equal_full_refresh(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, f"select count(*) from {LOG}") == [(0,)]
    # an untouched customer's stored fingerprint, altered: the compare-every-customer path would
    # rebuild it, the logged path leaves it alone
    fingerprint = sql(settings, "select inputs_fingerprint from intermediate.int_customer_profiles_joined "
                                "where customer_id = 'C6'")[0][0]
    nights.execute(settings, "update intermediate.int_customer_profiles_joined set inputs_fingerprint = 0 "
                             "where customer_id = 'C6'")

    # Night 2: Dan (C4) calls again, Erin's (C5) company is renamed in the CRM list; the profiles
    # fail to build (a column dbt does not expect: on_schema_change='fail', not rebuilt here), the models below them do
    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(
        night_2,
        """
        insert into raw.call_center_calls values
            ('call-5', '+15550000004', null, 'Dan', 'Brown', 'ag1', 'support',
             '2026-11-24 08:00:00', '2026-11-24 08:01:00', '2026-11-24 08:09:00', 'resolved', 4, 10,
             '2026-11-24 08:09:00', 'cc/calls-2.csv', 2, 'b5', '2026-11-24 09:00:00');
        insert into identity.customer_map values ('call_center', 'call-5', 'C4', '2026-11-24 01:00:00');
        update raw.csv_contacts set company_name = 'Acme Holdings', _loaded_at = '2026-11-24 08:00:00'
        where contact_id = 'crm__accounts.csv:2';
        alter table intermediate.int_customer_profiles_joined add column unexpected integer;
        """,
    )
    with pytest.raises(cdp_dbt.DbtBuildFailed, match="int_customer_profiles_joined"):
        cdp_dbt.build(night_2, run_id="night-2", rebuild_out_of_sync=False)
    assert sql(night_2, "select calls from intermediate.int_calls_aggregated_to_customers "
                        "where customer_id = 'C4'") == [(3,)]
    assert sql(night_2, f"select distinct rebuild_key from {LOG} order by 1") == [("C4",), ("C5",)]

    # Night 3, nothing new: the profiles build and take in night 2's changes from the log
    night_3 = settings.with_run_date(date(2026, 11, 25))
    nights.execute(night_3, "alter table intermediate.int_customer_profiles_joined drop column unexpected")
    cdp_dbt.build(night_3, run_id="night-3")
    assert sql(night_3, "select calls from marts.dim_customers where customer_id = 'C4'") == [(3,)]
    assert sql(night_3, "select company_name from marts.dim_customers where customer_id = 'C5'") == [
        ("Acme Holdings",)
    ]
    assert sql(night_3, f"select count(*) from {LOG}") == [(0,)]
    assert sql(night_3, "select inputs_fingerprint from intermediate.int_customer_profiles_joined "
                        "where customer_id = 'C6'") == [(0,)]
    nights.execute(night_3, f"update intermediate.int_customer_profiles_joined set inputs_fingerprint = {fingerprint} "
                            "where customer_id = 'C6'")
    full = nights.full_refresh_copy(night_3, "night-3", tmp_path / "full_refresh")
    assert nights.differences(night_3, str(full.warehouse_path), PROFILE_TABLES) == {}
