"""The nightly identity resolution: person records -> standardise -> links -> clusters -> publish.

Each stage is its own module and leaves a table behind; this module only runs them in order.
The matching model is read, never retrained here, except on first use when none exists.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import duckdb

from cdp.warehouse import connect
from identity.cluster import cluster
from identity.deterministic import build_deterministic_links
from identity.person_records import build_person_records
from identity.probabilistic import latest_model_path, predict_links
from identity.publish import check_rerun, publish
from identity.recluster import (
    find_identifier_changes,
    find_reclustering_scope,
    has_baseline,
    hash_guard_columns,
)
from identity.schema import CannotTrainModel
from identity.standardise import standardise

log = logging.getLogger(__name__)

RECORDS = "identity.person_records_standardised"
#: Last run's published links: their probabilistic rows between unchanged records are reused.
PUBLISHED_LINKS = "identity.links"
#: Splink pairs below this probability are not worth keeping even as rejected links.
KEEP_LINKS_ABOVE = 0.5


def link_and_cluster(
    con: duckdb.DuckDBPyConnection,
    settings: Any,
    records: str,
    model_path: Path | None,
    web_events: str | None,
    previous_links: str | None = None,
    run_id: str | None = None,
    link_shared_anonymous_ids: bool = False,
) -> dict[str, Any]:
    """Deterministic and probabilistic links (none without a model), then guarded clustering.

    ``previous_links``: the published links, whose Splink pairs between unchanged records are
    kept rather than predicted again (see ``predict_links``). With ``run_id`` too (the warehouse
    run), only the components touched since the last published run are re-clustered when it
    can serve as a baseline (see :mod:`identity.recluster`). ``link_shared_anonymous_ids``: see
    :func:`identity.deterministic.build_deterministic_links`.
    """
    threshold = float(settings.match_probability_threshold)
    timer = _Timer()
    baseline = False
    if previous_links is not None and run_id is not None:
        hash_guard_columns(con, records)
        baseline = has_baseline(con, run_id, threshold, settings.max_cluster_size)
        timer.lap("baseline")
    # With a baseline, identifier groups are paired again only where a record's identifiers changed.
    deterministic = build_deterministic_links(
        con, records, settings.max_cluster_size, web_events,
        previous_links=previous_links if baseline else None,
        changed=find_identifier_changes(con) if baseline else None,
        link_shared_anonymous_ids=link_shared_anonymous_ids,
    )
    timer.lap("deterministic")
    probabilistic = 0
    if model_path is not None:
        probabilistic = predict_links(
            con, records, model_path, keep_above=min(KEEP_LINKS_ABOVE, threshold), previous_links=previous_links
        )
    timer.lap("probabilistic")
    only = None
    if baseline:
        find_reclustering_scope(con, records, threshold)
        only = "reclustered_records"
        timer.lap("recluster_scope")
    guards = cluster(con, records, threshold, settings.max_cluster_size, only=only)
    timer.lap("cluster")
    return {"deterministic_candidates": deterministic, "probabilistic_candidates": probabilistic, **guards,
            "seconds": timer.laps}


def _train_on_first_use(settings: Any, con: duckdb.DuckDBPyConnection) -> Path | None:
    """Train the first model; with too little (or too uniform) data, go on with deterministic links only."""
    from identity.train import train_model

    log.warning("no Splink model in %s: training one on first use", settings.model_dir)
    try:
        return train_model(settings, con=con)
    except CannotTrainModel as error:
        # Linking conservatively beats failing a fresh install: only strong and exact-identifier
        # links are made until there is enough data to learn from.
        log.warning("probabilistic matching skipped: %s", error)
        return None


class _Timer:
    """Wall-clock seconds per stage, for the run summary (operational metadata, not business logic)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 2)
        self._last = now


def resolve_warehouse(settings: Any, run_id: str) -> dict:
    """Resolve every person record in the warehouse into customers and publish identity.*."""
    timer = _Timer()
    # One connection for the whole stage: Splink predicts on it too (see predict_links), so
    # there is one DuckDB and one memory_limit, and the warehouse is checkpointed once.
    with connect(settings) as con:
        # Before anything is written: a refused rerun leaves the warehouse as it was.
        check_rerun(con, run_id)
        per_source = build_person_records(con)
        timer.lap("person_records")
        standardise(con, settings, incremental=True)
        timer.lap("standardise")
        model_path = latest_model_path(settings)
        if model_path is None:
            model_path = _train_on_first_use(settings, con)
            timer.lap("train")
        link_summary = link_and_cluster(
            con, settings, RECORDS, model_path, web_events="raw.web_events", previous_links=PUBLISHED_LINKS,
            run_id=run_id,
        )
        timer.lap("link_and_cluster")
        metrics = publish(con, settings, run_id, RECORDS)
        timer.lap("publish")
        changes = dict(
            con.execute(
                "SELECT change_type, count(*) FROM identity.customer_id_history WHERE run_id = ? GROUP BY 1",
                [run_id],
            ).fetchall()
        )
    summary = {
        "run_id": run_id,
        "run_date": str(settings.run_date),
        "model": str(model_path) if model_path else None,
        "person_records": metrics["person_records"],
        "person_records_by_source": per_source,
        "customers": metrics["customers"],
        "largest_cluster": metrics["largest_cluster"],
        "links": {
            "deterministic_accepted": metrics["deterministic_links"],
            "probabilistic_accepted": metrics["probabilistic_links"],
            "rejected": metrics["rejected_links"],
        },
        "guards": {k: link_summary[k] for k in ("guarded_components", "cut_links")},
        "id_changes": {kind: changes.get(kind, 0) for kind in ("new", "merge", "split")},
        "share_multi_first_name": metrics["share_multi_first_name"],
        "share_multi_postcode": metrics["share_multi_postcode"],
        "seconds": {**timer.laps, **link_summary["seconds"]},
    }
    log.info("identity resolution %s: %s", run_id, summary)
    return summary
