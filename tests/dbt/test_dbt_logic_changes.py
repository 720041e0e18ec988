"""An incremental model whose logic changed (its SQL, a macro it calls, a view it reads) is rebuilt
from scratch by itself on the next build: cdp.dbt.build compares each incremental model's logic
fingerprint (cdp/dbt_logic.py) with the one meta.dbt_model_logic recorded. Without it the rows
written before the change would keep the old logic for ever (an incremental build rewrites only
the rows whose inputs changed)."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from cdp import dbt as cdp_dbt
from cdp.dbt_logic import KEEPS_HISTORY, LOGIC_TABLE


def _copy_project(tmp_path, monkeypatch):
    """A copy of the dbt project that cdp.dbt builds, for a test to edit."""
    project = tmp_path / "dbt_project"
    shutil.copytree(cdp_dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    monkeypatch.setattr(cdp_dbt, "DBT_PROJECT_DIR", project)
    return project


@pytest.mark.slow
def test_a_changed_macro_rebuilds_exactly_the_model_using_it(warehouse_factory, sql, tmp_path, monkeypatch):
    project = _copy_project(tmp_path, monkeypatch)
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    referrals = sql(settings, "select session_id from marts.fct_web_sessions where channel = 'referral' order by 1")
    assert referrals, "the fixture has a session from a referring site"

    # nothing changed: another night (new date and run id) rebuilds nothing from scratch
    night_2 = settings.with_run_date(date(2026, 11, 24))
    summary = cdp_dbt.build(night_2, run_id="night-2")
    assert summary["full_refreshed_models"] == []
    assert summary["full_refresh_reasons"] == {}

    # a new rule in a macro only fct_web_sessions calls; no new web event arrives
    macro = project / "macros" / "classify_channel.sql"
    old_rule = "trim({{ referrer }}) != '' then 'referral'"
    assert old_rule in macro.read_text(encoding="utf-8")
    macro.write_text(macro.read_text(encoding="utf-8").replace(old_rule, "trim({{ referrer }}) != '' then 'other_campaign'"),
                     encoding="utf-8")
    night_3 = settings.with_run_date(date(2026, 11, 25))
    summary = cdp_dbt.build(night_3, run_id="night-3")

    assert summary["full_refreshed_models"] == ["fct_web_sessions"]
    assert "logic changed" in summary["full_refresh_reasons"]["fct_web_sessions"]
    assert summary["failures"] == 0
    assert sql(night_3, "select count(*) from marts.fct_web_sessions where channel = 'referral'") == [(0,)]
    assert sql(night_3, "select session_id from marts.fct_web_sessions where channel = 'other_campaign' "
                        "and session_id in (select unnest(?)) order by 1", [[row[0] for row in referrals]]) == referrals
    assert sql(night_3, f"select run_id from {LOGIC_TABLE} where model = 'fct_web_sessions'") == [("night-3",)]

    # recorded: the next night is incremental again
    assert cdp_dbt.build(night_3.with_run_date(date(2026, 11, 26)), run_id="night-4")["full_refreshed_models"] == []


@pytest.mark.slow
def test_a_warehouse_without_recorded_fingerprints_rebuilds_its_incremental_models_once(
    warehouse_factory, sql, tmp_path, nights
):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    incremental = {name for (name,) in sql(settings, f"select model from {LOGIC_TABLE}")}
    assert "fct_web_sessions" in incremental and not incremental & KEEPS_HISTORY
    # a warehouse built before the fingerprints were kept
    nights.execute(settings, f"drop table {LOGIC_TABLE}")
    nights.execute(settings, "update marts.fct_web_events set page_title = 'kept' where web_event_id = 'm-a1'")

    night_2 = settings.with_run_date(date(2026, 11, 24))
    summary = cdp_dbt.build(night_2, run_id="night-2")

    assert summary["full_refreshed_models"] == sorted(incremental)
    assert all("no logic fingerprint" in reason for reason in summary["full_refresh_reasons"].values())
    assert summary["failures"] == 0
    # rebuilt from scratch: a marker in an untouched row is gone
    assert sql(night_2, "select page_title from marts.fct_web_events where web_event_id = 'm-a1'") != [("kept",)]
    # the history table is not rebuilt: the first night's sizes are still there
    assert sql(night_2, "select distinct as_of_date from marts.segment_size_history order by 1") == [
        (date(2026, 11, 23),), (date(2026, 11, 24),)
    ]
    assert {name for (name,) in sql(night_2, f"select model from {LOGIC_TABLE}")} == incremental

    assert cdp_dbt.build(night_2.with_run_date(date(2026, 11, 25)), run_id="night-3")["full_refreshed_models"] == []


@pytest.mark.slow
def test_changed_settings_still_build_and_apply_their_rule(warehouse_factory, sql, tmp_path, monkeypatch):
    # The unit tests pin the vars they depend on (overrides: vars:): a project configured otherwise
    # builds, instead of failing the night on a unit test written for the defaults.
    project = _copy_project(tmp_path, monkeypatch)
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select count(*) from marts.fct_web_sessions where visitor_id = 'a3'") == [(3,)]
    assert sql(settings, "select first_name from marts.dim_customers where customer_id = 'C1'") != [("Ally",)]

    config = project / "dbt_project.yml"
    text = config.read_text(encoding="utf-8")
    for default, configured in (
        ("session_inactivity_minutes: 30", "session_inactivity_minutes: 45"),
        ("golden_record_source_priority: [store, csv, web, call_center]",
         "golden_record_source_priority: [web, store, csv, call_center]"),
    ):
        assert default in text
        text = text.replace(default, configured)
    config.write_text(text, encoding="utf-8")
    night_2 = settings.with_run_date(date(2026, 11, 24))
    summary = cdp_dbt.build(night_2, run_id="night-2")

    assert summary["failures"] == 0
    # Carol's 36-minute gap no longer splits a session; Alice's web name wins over her store name
    assert sql(night_2, "select events from marts.fct_web_sessions where visitor_id = 'a3' "
                        "order by session_number") == [(5,), (1,)]
    assert sql(night_2, "select first_name from marts.dim_customers where customer_id = 'C1'") == [("Ally",)]
