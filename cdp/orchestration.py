"""Glue between an orchestrator's run context and the pipeline functions.

Airflow hands each task its logical date (or, for runs triggered without one, the time the run
was due: ``run_after``) and run id; everything else comes from ``Settings``. The DAG's data-interval
timetable gives a scheduled run the start of the day that has just ended as its logical date, and a
run triggered without one covers that same day: the day before ``run_after`` (UTC), as Airflow infers
for a manual run. Results are returned JSON-safe because Airflow stores them as XComs.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cdp import pipeline
from cdp.settings import Settings


class PipelineRunFailed(RuntimeError):
    """A stage of the run failed or never ran; raised by the final task so the DAG run fails."""


def settings_for(logical_date: datetime | date | None, run_id: str | None,
                 run_after: datetime | date | None = None) -> tuple[Settings, str]:
    """Settings for the run's date and a folder-safe run id.

    The date is the logical date, else the day that had ended when the run was due (the day before
    ``run_after``, in UTC): a nightly run never processes a day that has not happened yet. Never
    each task's own clock, so a run that crosses midnight keeps one date.
    """
    settings = Settings.from_env()
    if logical_date is not None:
        settings = settings.with_run_date(_utc_day(logical_date))
    elif run_after is not None:
        settings = settings.with_run_date(_utc_day(run_after) - timedelta(days=1))
    return settings, pipeline.safe_run_id(run_id or pipeline.make_run_id(settings.run_date))


def _utc_day(moment: datetime | date) -> date:
    if not isinstance(moment, datetime):
        return moment
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_stage(stage: str, logical_date: datetime | date | None, run_id: str | None,
              run_after: datetime | date | None = None, **kwargs: Any) -> Any:
    """Run one named pipeline stage (ingest, identity, marts, quality, export) for an orchestrated run."""
    settings, safe_id = settings_for(logical_date, run_id, run_after)
    functions = {
        "ingest": pipeline.ingest,
        "identity": pipeline.resolve_identities,
        "marts": pipeline.build_marts,
        "quality": pipeline.quality_gate,
        "export": pipeline.export_audiences,
    }
    if stage not in functions:
        raise ValueError(f"unknown stage {stage!r}; valid stages: {', '.join(functions)}")
    return _json_safe(functions[stage](settings, safe_id, **kwargs))


def unfinished_stages(stages: dict[str, str], expected: list[str]) -> list[str]:
    """Expected stages that are missing or did not succeed, as 'stage (status)'."""
    return [f"{stage} ({stages.get(stage, 'never ran')})" for stage in expected if stages.get(stage) != "succeeded"]


def finish_run(logical_date: datetime | date | None, run_id: str | None,
               run_after: datetime | date | None = None) -> dict[str, Any]:
    """Write the run report and summary; fail unless the latest attempt of every expected stage succeeded.

    The latest attempt, as the run report judges it (``pipeline.stage_statuses``): an Airflow retry
    replaces its stage's row, ``ingest:all`` redoes every ``ingest:<source>``, a gate rerun outside the
    pipeline redoes ``quality:<gate>``; whichever ran last decides, success or failure.
    """
    settings, safe_id = settings_for(logical_date, run_id, run_after)
    report = pipeline.write_report(settings, safe_id)
    summary = pipeline.summarize(settings, safe_id)
    print(pipeline.format_summary(summary))
    expected = pipeline.expected_stages()
    summary["stage_statuses"] = pipeline.stage_statuses(settings, safe_id, expected)
    unfinished = unfinished_stages(summary["stage_statuses"], expected)
    if unfinished:
        raise PipelineRunFailed(f"run {safe_id} did not complete: {', '.join(unfinished)}. Nothing was exported past "
                                f"the first failure. Read the report: {report}")
    return _json_safe(summary)
