"""Data tests narrowed to the rows written since the last fully passing build keep their guarantee.

cdp/dbt.py records the start of a build whose every node passed (meta.dbt_tests_passed); the next
build's key tests over the raw tables (``written_at: _loaded_at``) then check only the keys of rows
loaded since, against the whole table (macros/test_primary_key.sql).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cdp import dbt as cdp_dbt
from cdp.clock import audit_now

KEY_TEST = "source_primary_key_store_store_orders_order_id"


def _failed_tests(error: cdp_dbt.DbtBuildFailed) -> dict[str, str]:
    return {node["unique_id"].split(".")[2]: node["message"] for node in error.failed_nodes}


def _key_test_failure(error: cdp_dbt.DbtBuildFailed) -> str:
    failed = _failed_tests(error)
    messages = [message for name, message in failed.items() if name.startswith(KEY_TEST)]
    assert messages, failed
    return messages[0]


def _passed_run(sql, settings) -> list[tuple]:
    return sql(settings, "select run_id from meta.dbt_tests_passed")


def _copy_order_1(loaded_at) -> str:
    """SQL adding a second raw.store_orders row with order_id 1, loaded at ``loaded_at``."""
    return (f"insert into raw.store_orders select * replace (timestamp '{loaded_at}' as _loaded_at, "
            "'b-copy' as _batch_id) from raw.store_orders where order_id = 1")


@pytest.mark.slow
def test_a_bad_row_of_a_failed_night_is_caught_again_the_next_night(warehouse_factory, sql, nights, tmp_path):
    settings = warehouse_factory(tmp_path)
    first = cdp_dbt.build(settings, run_id="night-1")
    assert first["tests_since"] is None  # no passing build yet: every row is tested
    assert _passed_run(sql, settings) == [("night-1",)]

    # night 2 loads a row repeating the key of a row loaded before night 1 (old + new duplicate)
    nights.execute(settings, _copy_order_1(audit_now()))
    with pytest.raises(cdp_dbt.DbtBuildFailed) as night_2:
        cdp_dbt.build(settings, run_id="night-2")
    assert _key_test_failure(night_2.value) == "Got 1 result, configured to fail if != 0"
    assert _passed_run(sql, settings) == [("night-1",)]  # a failed build does not move the watermark
    # the build writes no manifest.json (--no-write-json) but still says what failed in run_results.json
    target = cdp_dbt._target_dir(settings)
    assert not (target / "manifest.json").exists()
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    assert [r["status"] for r in results if r["unique_id"].split(".")[2].startswith(KEY_TEST)] == ["fail"]

    # night 3 loads nothing wrong; night 2's bad row is still in the window and still fails
    nights.execute(settings, "insert into raw.store_orders select * replace (9001 as order_id, "
                             f"timestamp '{audit_now()}' as _loaded_at) from raw.store_orders where order_id = 2")
    with pytest.raises(cdp_dbt.DbtBuildFailed) as night_3:
        cdp_dbt.build(settings, run_id="night-3")
    assert _key_test_failure(night_3.value) == "Got 1 result, configured to fail if != 0"
    assert _passed_run(sql, settings) == [("night-1",)]


@pytest.mark.slow
def test_narrowed_tests_skip_only_rows_a_passing_build_saw_and_a_full_refresh_or_new_tests_see_all(
    warehouse_factory, sql, nights, tmp_path, monkeypatch
):
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="night-1")
    (started,) = sql(settings, "select tests_since from meta.dbt_tests_passed")[0]

    # A duplicate dated before the watermark stands for a row the passing build already tested
    # (loads stamp the current time, so it cannot happen through ingestion): the narrowed key test
    # does not read it, which shows the narrowing is in effect; the models' own key tests, which
    # read every row, still catch what it spoils downstream ...
    nights.execute(settings, _copy_order_1(started - timedelta(hours=1)))
    with pytest.raises(cdp_dbt.DbtBuildFailed) as narrowed:
        cdp_dbt.build(settings, run_id="night-2")
    failed = _failed_tests(narrowed.value)
    assert not [name for name in failed if name.startswith(KEY_TEST)], failed
    assert any(name.startswith("primary_key_int_orders_with_lines_order_key") for name in failed), failed

    # ... a --full-refresh tests every row again ...
    with pytest.raises(cdp_dbt.DbtBuildFailed) as full_refresh:
        cdp_dbt.build(settings, run_id="night-3", full_refresh=True)
    assert _key_test_failure(full_refresh.value) == "Got 1 result, configured to fail if != 0"

    # ... and so does a build whose test definitions changed since the watermark was recorded
    monkeypatch.setattr(cdp_dbt, "tests_fingerprint", lambda: "edited tests")
    with pytest.raises(cdp_dbt.DbtBuildFailed) as edited:
        cdp_dbt.build(settings, run_id="night-4")
    assert _key_test_failure(edited.value) == "Got 1 result, configured to fail if != 0"


WEB_KEY_TEST = "primary_key_fct_web_events_web_event_id"


@pytest.mark.slow
def test_model_key_tests_read_only_rows_written_since_the_last_passing_build(warehouse_factory, sql, nights, tmp_path):
    """The incremental fact and record models stamp every row they write with the build's start
    (``written_at``); their key tests then check only the keys written since the watermark, against
    the whole table."""
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="night-1")
    (started,) = sql(settings, "select tests_since from meta.dbt_tests_passed")[0]
    stamps = sql(settings, "select distinct written_at from marts.fct_web_events")
    assert stamps == [(started,)]  # the build's start, the watermark it recorded
    event = "select * replace (timestamp '{}' as written_at) from marts.fct_web_events where web_event_id = 'm-x1'"

    # a copy written before the watermark stands for a row the passing build already tested: the
    # narrowed test does not read it (shows the narrowing is in effect) ...
    nights.execute(settings, "insert into marts.fct_web_events " + event.format(started - timedelta(hours=1)))
    night_2 = cdp_dbt.build(settings, run_id="night-2")
    assert night_2["failures"] == 0 and night_2["tests_since"] == started.isoformat(sep=" ")

    # ... while a copy written since then is caught with its old twin, and keeps failing until fixed
    nights.execute(settings, "delete from marts.fct_web_events where web_event_id = 'm-x1' "
                             f"and written_at < timestamp '{started}'")
    nights.execute(settings, "insert into marts.fct_web_events " + event.format(audit_now()))
    for run_id in ("night-3", "night-4"):
        with pytest.raises(cdp_dbt.DbtBuildFailed) as failed:
            cdp_dbt.build(settings, run_id=run_id)
        messages = [message for name, message in _failed_tests(failed.value).items()
                    if name.startswith(WEB_KEY_TEST)]
        assert messages == ["Got 1 result, configured to fail if != 0"], _failed_tests(failed.value)

    # a row written by a build carries that build's start, later than the watermark before it
    # (the raw event reloaded, so its visitor is rebuilt)
    nights.execute(settings, "delete from marts.fct_web_events where web_event_id = 'm-x1'")
    nights.execute(settings, f"update raw.web_events set _loaded_at = timestamp '{audit_now()}' "
                             "where message_id = 'm-x1'")
    night_5 = cdp_dbt.build(settings, run_id="night-5")
    assert night_5["failures"] == 0
    (started_5,) = sql(settings, "select tests_since from meta.dbt_tests_passed")[0]
    assert sql(settings, "select written_at from marts.fct_web_events where web_event_id = 'm-x1'") == [
        (started_5,)
    ]
