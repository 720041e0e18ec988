"""
### cdp_nightly: the nightly customer data platform run

1. **ingest_<source>**: new web events, call-center exports, store POS rows and CSV lists land in
   `raw.*` (exactly once; bad records go to `meta.quarantine` with a reason).
2. **gate_ingestion**: Great Expectations checks on what landed (ids, timestamps, quarantine rate,
   volume against previous runs).
3. **resolve_identities**: deterministic + Splink links become customers with stable ids
   (`identity.customer_map`), then **gate_identity** (cluster sizes, conflicts, over-merge signs).
4. **build_marts**: `dbt build` of staging, intermediate and marts, segments included, with tests,
   then **gate_marts** (keys, emails, revenue, KPI plausibility, segment sizes).
5. **export_audiences**: segment files for marketing and hashed files for Google and Meta, after an
   export gate on the files themselves (consent, suppression, hashing). A critical failure in any
   gate stops the run where it is: nothing downstream runs, nothing is published.
6. **finish_run**: always runs; writes the compliance report under `reports/<run id>/` and fails the
   DAG run unless every stage ran and succeeded.

Every task calls one function of the `cdp` package (the same ones `cdp run` uses). All tasks write to
one DuckDB file, which allows a single writer: they share the 1-slot pool `duckdb_writer`
(`make airflow` creates it) and the DAG runs one task at a time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from cdp.settings import Settings  # standard library only: cheap at parse time

# Kept in step with ingestion.runner.SOURCES by tests/dags/test_dag_integrity.py; importing the
# ingestion package here would put heavy imports at DAG parse time.
SOURCES = ("web", "call_center", "store", "csv")
WAREHOUSE_POOL = "duckdb_writer"

_SETTINGS = Settings.from_env()
DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": _SETTINGS.task_retries,
    "retry_delay": timedelta(minutes=_SETTINGS.task_retry_delay_minutes),
    "pool": WAREHOUSE_POOL,
}


@dag(
    dag_id="cdp_nightly",
    # A nightly run covers the day that has ended: the run due at 00:00 on the 25th gets logical date
    # (= CDP run date) the 24th. "@daily" would be a CronTriggerTimetable in Airflow 3, whose 00:00 run
    # on the 25th has logical date the 25th, a day that has not happened yet.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args=DEFAULT_ARGS,
    tags=["cdp", "nightly"],
    doc_md=__doc__,
)
def cdp_nightly():
    # Each task passes the run's logical date, id and run_after (a run triggered without a logical
    # date covers the day before it) to one function of cdp.orchestration; nothing else happens here.
    @task
    def ingest(source: str, logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import run_stage

        return run_stage("ingest", logical_date, run_id, dag_run.run_after, source=source)

    @task(retries=0)
    def quality_gate(gate: str, logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import run_stage

        return run_stage("quality", logical_date, run_id, dag_run.run_after, gate=gate)

    @task(outlets=[Asset("cdp://warehouse/identity/customer_map")])
    def resolve_identities(logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import run_stage

        return run_stage("identity", logical_date, run_id, dag_run.run_after)

    @task(outlets=[Asset("cdp://warehouse/marts/dim_customers")])
    def build_marts(logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import run_stage

        return run_stage("marts", logical_date, run_id, dag_run.run_after)

    @task(outlets=[Asset("cdp://exports/audiences")])
    def export_audiences(logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import run_stage

        return run_stage("export", logical_date, run_id, dag_run.run_after)

    @task(trigger_rule="all_done", retries=0)
    def finish_run(logical_date=None, run_id=None, dag_run=None):
        from cdp.orchestration import finish_run as finish

        return finish(logical_date, run_id, dag_run.run_after)

    def gate(name: str):
        return quality_gate.override(task_id=f"gate_{name}")(name)

    ingests = [ingest.override(task_id=f"ingest_{source}")(source) for source in SOURCES]
    ingestion_gate = gate("ingestion")
    ingests >> ingestion_gate
    (ingestion_gate >> resolve_identities() >> gate("identity") >> build_marts() >> gate("marts")
     >> export_audiences() >> finish_run())


cdp_nightly()
