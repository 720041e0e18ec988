"""The orchestration glue: run dates, run ids, and the final check that fails incomplete runs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from cdp import pipeline
from cdp.orchestration import PipelineRunFailed, finish_run, settings_for, unfinished_stages
from cdp.settings import Settings


def test_every_run_id_gets_its_own_folder_name():
    """'night:1' and 'night+1' were both folded to 'night_1', so the second run's report replaced the
    first's (a blocked run's compliance record lost)."""
    colliding = ["night:1", "night+1", "night 1", "night/1", "night_1_", "night:1:", "nïght_1"]
    names = [pipeline.safe_run_id(run_id) for run_id in colliding]
    assert len(set(names)) == len(names) and "night_1" not in names
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", name) and pipeline.safe_run_id(name) == name for name in names)
    # Run ids that already were folder names, and Airflow's own, keep the names they always had.
    unchanged = {"night_1": "night_1", "cdp_2026-11-01": "cdp_2026-11-01", "bench_2026-11-01": "bench_2026-11-01",
                 "scheduled__2026-03-04T00:00:00+00:00": "scheduled__2026-03-04T00_00_00_00_00",
                 "manual__2026-11-01T10:20:30.123456+00:00": "manual__2026-11-01T10_20_30.123456_00_00",
                 "manual__2026-11-01T10:20:30.123456+00:00_aB3xYz9Q": "manual__2026-11-01T10_20_30.123456_00_00_aB3xYz9Q",
                 "backfill__2026-11-01T00:00:00-05:00": "backfill__2026-11-01T00_00_00-05_00"}
    assert {run_id: pipeline.safe_run_id(run_id) for run_id in unchanged} == unchanged
    with pytest.raises(ValueError, match="no usable characters"):
        pipeline.safe_run_id("::")


def test_logical_date_wins_then_run_after(cdp_env):
    settings, run_id = settings_for(datetime(2026, 3, 4, 23, 59, tzinfo=UTC), "scheduled__2026-03-04T00:00:00+00:00")
    assert settings.run_date == date(2026, 3, 4)
    assert run_id == "scheduled__2026-03-04T00_00_00_00_00"
    # Runs triggered without a logical date cover the day that had ended when the run was due (the
    # day before its run_after), never the task's own clock nor a day that has not happened yet.
    settings, run_id = settings_for(None, None, run_after=datetime(2026, 5, 6, 0, 1, tzinfo=UTC))
    assert settings.run_date == date(2026, 5, 5)
    assert run_id == "cdp_2026-05-05"
    # run_after is read in UTC: 01:30 on the 7th in UTC+2 is still the 6th in UTC.
    settings, _ = settings_for(None, None, run_after=datetime(2026, 5, 7, 1, 30, tzinfo=timezone(timedelta(hours=2))))
    assert settings.run_date == date(2026, 5, 5)


def test_unfinished_stages_names_missing_and_failed_ones():
    expected = pipeline.expected_stages(("web", "csv"))
    assert expected[:3] == ["ingest:web", "ingest:csv", "quality:ingestion"]
    stages = dict.fromkeys(expected, "succeeded")
    assert unfinished_stages(stages, expected) == []
    del stages["export"]
    stages["identity"] = "running"  # a task killed mid-stage never records an end
    assert unfinished_stages(stages, expected) == ["identity (running)", "export (never ran)"]


def _record(settings: Settings, run_id: str, stages: dict[str, str]) -> None:
    for stage, status in stages.items():
        pipeline._record_stage(settings, run_id, stage, status, datetime(2026, 1, 1), {})


def test_finish_run_fails_when_a_stage_never_ran(cdp_env):
    settings = Settings.from_env()
    settings.ensure_dirs()
    _record(settings, "run_1", {"ingest:web": "succeeded"})
    with pytest.raises(PipelineRunFailed, match=r"export \(never ran\)"):
        finish_run(date(2026, 1, 1), "run_1")


def test_finish_run_passes_when_every_stage_succeeded(cdp_env):
    settings = Settings.from_env()
    settings.ensure_dirs()
    _record(settings, "run_2", dict.fromkeys(pipeline.expected_stages(), "succeeded"))
    summary = finish_run(date(2026, 1, 1), "run_2")
    assert set(summary["stages"].values()) == {"succeeded"}


def test_stage_failure_is_recorded_even_for_base_exceptions(cdp_env):
    settings = Settings.from_env()
    settings.ensure_dirs()
    with pytest.raises(KeyboardInterrupt), pipeline._stage(settings, "run_3", "identity"):
        raise KeyboardInterrupt  # what a task timeout or termination looks like to Python
    assert pipeline.summarize(settings, "run_3")["stages"] == {"identity": "failed"}


def test_exports_refused_until_every_gate_passed(cdp_env):
    settings = Settings.from_env()
    settings.ensure_dirs()
    with pytest.raises(pipeline.ExportRefused, match=r"ingestion \(not run\), identity \(not run\), marts \(not run\)"):
        pipeline.export_audiences(settings, "run_4")


def _verdicts(settings: Settings, run_id: str, checked_at: datetime, failed: tuple[str, ...] = ()) -> None:
    from cdp.warehouse import connect
    from quality import store

    with connect(settings) as con:
        store.ensure_tables(con)
        for gate in pipeline.GATES:
            verdict = {"verdict": "failed" if gate in failed else "passed", "passed": gate not in failed,
                       "blocked": gate in failed, "checks": 1, "critical_failures": int(gate in failed),
                       "warnings": 0, "failing_checks": None, "data_docs_path": None}
            store.save_stage(con, run_id, gate, settings.run_date, [], verdict, checked_at)


def test_export_refused_under_an_older_run_after_a_later_gate_failed(cdp_env):
    """Review finding: a failed marts gate was bypassed by exporting under yesterday's run id."""
    settings = Settings.from_env()
    settings.ensure_dirs()
    _verdicts(settings, "cdp_2026-11-24", datetime(2026, 11, 24, 3))
    assert pipeline.gates_not_passed(settings, "cdp_2026-11-24") == []
    _verdicts(settings, "cdp_2026-11-25", datetime(2026, 11, 25, 3), failed=("marts",))
    with pytest.raises(pipeline.ExportRefused, match=r"latest marts gate, of run cdp_2026-11-25, failed"):
        pipeline.export_audiences(settings, "cdp_2026-11-24")
    # Once the newer run's marts gate passes again, the older run may export again.
    _verdicts(settings, "cdp_2026-11-25", datetime(2026, 11, 25, 4))
    assert pipeline.gates_not_passed(settings, "cdp_2026-11-24") == []


def test_export_refused_when_the_marts_were_rebuilt_after_the_gate(cdp_env):
    settings = Settings.from_env()
    settings.ensure_dirs()
    _verdicts(settings, "cdp_2026-11-24", datetime(2026, 11, 24, 3))
    pipeline._record_stage(settings, "cdp_2026-11-24", "marts", "succeeded", datetime(2026, 11, 24, 2), {})
    assert pipeline.gates_not_passed(settings, "cdp_2026-11-24") == []
    # The next night rebuilt the marts, and no gate has checked them yet.
    pipeline._record_stage(settings, "cdp_2026-11-25", "marts", "succeeded", datetime(2026, 11, 25, 2), {})
    with pytest.raises(pipeline.ExportRefused, match=r"marts \(rebuilt by run cdp_2026-11-25 .* --run-id cdp_2026-11-25"):
        pipeline.export_audiences(settings, "cdp_2026-11-24")


def test_summary_before_any_run_creates_nothing(cdp_env):
    settings = Settings.from_env()
    summary = pipeline.summarize(settings)
    assert summary["run_id"] is None
    assert not settings.warehouse_path.exists()


def test_export_refusal_says_what_to_do_in_each_case(cdp_env):
    """Review finding: refused for an older run id, the message ended with "rerun the gates
    (cdp quality gate --run-id <older run>)", which would gate the later run's tables under the older
    run id; exporting the later run is the fix. Each case now says its own remedy."""
    settings = Settings.from_env()
    settings.ensure_dirs()

    def refusal(run_id: str) -> str:
        with pytest.raises(pipeline.ExportRefused) as raised:
            pipeline.export_audiences(settings, run_id)
        return str(raised.value)

    # The run's own gates: run them.
    message = refusal("cdp_2026-11-23")
    assert "Run the pipeline (cdp run --run-id cdp_2026-11-23) or the gates (cdp quality gate --run-id " \
           "cdp_2026-11-23) first" in message and "later run" not in message

    # A later run's marts gate failed on the current tables: fix and export that run, not this one.
    _verdicts(settings, "cdp_2026-11-24", datetime(2026, 11, 24, 3))
    _verdicts(settings, "cdp_2026-11-25", datetime(2026, 11, 25, 3), failed=("marts",))
    message = refusal("cdp_2026-11-24")
    assert "rerun that gate with cdp quality gate --stage marts --run-id cdp_2026-11-25, then export run " \
           "cdp_2026-11-25 with cdp export --run-id cdp_2026-11-25" in message
    assert "--run-id cdp_2026-11-24" not in message
    assert "rerunning run cdp_2026-11-24's gates is not the fix" in message

    # A later run rebuilt the marts after this run's gate: gate and export that run.
    _verdicts(settings, "cdp_2026-11-25", datetime(2026, 11, 25, 4))
    pipeline._record_stage(settings, "cdp_2026-11-26", "marts", "succeeded", datetime(2026, 11, 26, 2), {})
    message = refusal("cdp_2026-11-25")
    assert "export run cdp_2026-11-26 with cdp export --run-id cdp_2026-11-26" in message
    assert "--run-id cdp_2026-11-25" not in message

    # This run rebuilt its own marts after its gate: rerun its own gate, then export it.
    _verdicts(settings, "cdp_2026-11-26", datetime(2026, 11, 26, 1))
    message = refusal("cdp_2026-11-26")
    assert "rebuilt by this run" in message and "cdp quality gate --stage marts --run-id cdp_2026-11-26" in message
    assert "later run" not in message


def _attempt(settings: Settings, run_id: str, stage: str, status: str, hour: int) -> None:
    pipeline._record_stage(settings, run_id, stage, status, datetime(2026, 1, 1, hour), {})


def _report_verdict(settings: Settings, run_id: str) -> str:
    import json

    return json.loads((settings.reports_dir / run_id / "report.json").read_text(encoding="utf-8"))["verdict"]


def _complete_run(settings: Settings, run_id: str) -> None:
    """Every expected stage succeeded at 01:00, every gate passed at 01:30."""
    for stage in pipeline.expected_stages():
        _attempt(settings, run_id, stage, "succeeded", 1)
    _verdicts(settings, run_id, datetime(2026, 1, 1, 1, 30))


def test_finish_run_follows_the_latest_attempt_of_each_stage(cdp_env):
    """Review finding: finish_run read the last row per stage *name*, so a failed ingest:web redone by
    ingest:all, or a failed quality gate redone outside the pipeline, still failed the run, and a
    successful stage whose later rerun (under ingest:all, or a gate rerun) failed still passed it. The
    verdict now follows the latest attempt, as the run report's does (superseded_failures)."""
    settings = Settings.from_env()
    settings.ensure_dirs()

    # A failure redone successfully under another name: the run passes.
    _complete_run(settings, "redone")
    _attempt(settings, "redone", "ingest:web", "failed", 2)
    _attempt(settings, "redone", "ingest:all", "succeeded", 3)
    _attempt(settings, "redone", "quality:identity", "failed", 2)
    _verdicts(settings, "redone", datetime(2026, 1, 1, 3))  # the gate rerun (cdp quality gate) passed
    assert finish_run(date(2026, 1, 1), "redone")["stage_statuses"]["ingest:web"] == "succeeded"
    assert _report_verdict(settings, "redone") == "passed"

    # An Airflow retry replaces its stage's row: failed, then succeeded on retry, passes.
    _complete_run(settings, "retried")
    _attempt(settings, "retried", "identity", "failed", 2)
    _attempt(settings, "retried", "identity", "succeeded", 3)
    finish_run(date(2026, 1, 1), "retried")

    # A success redone unsuccessfully: the run fails, naming the stage.
    _complete_run(settings, "reingested")
    _attempt(settings, "reingested", "ingest:all", "failed", 2)
    with pytest.raises(PipelineRunFailed, match=r"ingest:web \(failed\)"):
        finish_run(date(2026, 1, 1), "reingested")
    assert _report_verdict(settings, "reingested") == "failed"

    _complete_run(settings, "regated")
    _verdicts(settings, "regated", datetime(2026, 1, 1, 2), failed=("marts",))  # a later gate rerun blocked
    with pytest.raises(PipelineRunFailed, match=r"quality:marts \(failed\)") as raised:
        finish_run(date(2026, 1, 1), "regated")
    assert "quality:identity" not in str(raised.value)
    assert _report_verdict(settings, "regated") == "failed"

    _complete_run(settings, "rerun_failed")
    _attempt(settings, "rerun_failed", "export", "failed", 2)  # a rerun of the same stage
    with pytest.raises(PipelineRunFailed, match=r"export \(failed\)"):
        finish_run(date(2026, 1, 1), "rerun_failed")
