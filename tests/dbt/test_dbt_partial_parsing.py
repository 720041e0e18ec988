"""The run date and run id reach dbt without forcing a full re-parse every night."""

from __future__ import annotations

from datetime import date

from cdp import dbt as cdp_dbt


def _dbt_log(settings) -> str:
    return (cdp_dbt._target_dir(settings).parent / "logs" / "dbt.log").read_text(encoding="utf-8")


def test_next_night_keeps_partial_parsing_and_uses_its_own_date(warehouse_factory, sql, tmp_path):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="night-1")
    log_after_first = len(_dbt_log(settings))

    next_day = settings.with_run_date(date(2026, 11, 24))
    cdp_dbt.build(next_day, run_id="night-2")

    second_log = _dbt_log(settings)[log_after_first:]
    # dbt says this when --vars differ from the saved manifest's (they used to hold the date)
    assert "Unable to do partial parsing" not in second_log
    assert sql(settings, "select distinct as_of_date from marts.dim_customers") == [(date(2026, 11, 24),)]
    assert sql(
        settings, "select distinct as_of_date, run_id from marts.segment_size_history order by as_of_date"
    ) == [(date(2026, 11, 23), "night-1"), (date(2026, 11, 24), "night-2")]
