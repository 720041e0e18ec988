"""Run the nightly pipeline at scale, stage by stage, with timings, memory and reference points."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cdp.benchmark.dataset import cached_dataset, materialise_landing, next_night
from cdp.benchmark.memory import PeakMemorySampler, rusage_peaks_mib
from cdp.benchmark.references import (
    DUCKDB_INGEST_REFERENCES,
    export_splink_input,
    plain_dbt_build,
    plain_splink,
)
from cdp.benchmark.report import bar_chart_png, format_table
from cdp.settings import Settings
from cdp.warehouse import connect, table_exists

log = logging.getLogger(__name__)

def bench_home(out_dir: Path, scale: int) -> Path:
    """The benchmark's own CDP_HOME for one scale: ``<out>/bench/<scale>``."""
    return Path(out_dir) / "bench" / str(scale)


def bench_settings(home: Path, run_date: date) -> Settings:
    """Settings rooted at ``home`` only (environment paths ignored, so the demo warehouse is never touched)."""
    base = Settings.from_env()
    path_fields = {f.name: None for f in dataclasses.fields(Settings)
                   if f.name.endswith(("_path", "_dir", "_uri")) and f.name not in ("segments_path", "csv_mappings_dir")}
    return dataclasses.replace(base, **path_fields, home=Path(home) / "run", run_date=run_date)


def rate(rows: int | None, seconds: float | None) -> float | None:
    """Rows per second, or None when either figure is missing or the time is zero."""
    if rows is None or not seconds:
        return None
    return rows / seconds


def speed_ratio(our_rows: int | None, our_seconds: float | None, ref_rows: int | None,
                ref_seconds: float | None) -> float | None:
    """Our throughput over the reference's (rows/s when both have rows, else reference s / our s)."""
    ours, theirs = rate(our_rows, our_seconds), rate(ref_rows, ref_seconds)
    if ours is not None and theirs:
        return ours / theirs
    if our_seconds and ref_seconds is not None:
        return ref_seconds / our_seconds
    return None


def pipeline_steps(settings: Settings, run_id: str, train: bool) -> list[tuple[str, Callable[[], Any]]]:
    """The nightly stages in order, as ``cdp.pipeline.run_all`` runs them (plus explicit training)."""
    from cdp import pipeline
    from ingestion.runner import SOURCES

    steps: list[tuple[str, Callable[[], Any]]] = [
        (f"ingest:{source}", lambda source=source: pipeline.ingest(settings, run_id, source)) for source in SOURCES
    ]
    steps.append(("quality:ingestion", lambda: pipeline.quality_gate(settings, run_id, "ingestion")))
    if train:
        # Trained off the nightly path in production; timed apart so predict+cluster compare fairly.
        from identity.train import train_model

        steps.append(("identity:train", lambda: {"model": str(train_model(settings))}))
    steps += [
        ("identity", lambda: pipeline.resolve_identities(settings, run_id)),
        ("quality:identity", lambda: pipeline.quality_gate(settings, run_id, "identity")),
        ("marts", lambda: pipeline.build_marts(settings, run_id)),
        ("quality:marts", lambda: pipeline.quality_gate(settings, run_id, "marts")),
        ("export", lambda: pipeline.export_audiences(settings, run_id)),
        ("report", lambda: {"report": pipeline.write_report(settings, run_id)}),
    ]
    return steps


def _count(settings: Settings, schema: str, table: str) -> int | None:
    with connect(settings, read_only=True) as con:
        if not table_exists(con, schema, table):
            return None
        return con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchall()[0][0]


def _stage_rows(name: str, detail: Any, settings: Settings, ingested: int) -> int | None:
    """The rows a stage processed: rows read for ingestion, person records for identity, customers after."""
    if name.startswith("ingest:") and isinstance(detail, dict):
        return sum(int(report.get("rows_read", 0)) for report in detail.get("sources", {}).values())
    if name == "quality:ingestion":
        return ingested
    if name.startswith(("identity", "quality:identity")):
        return _count(settings, "identity", "person_records_standardised")
    if name == "export" and isinstance(detail, dict):
        return sum(int(item.get("row_count") or 0) for item in detail.get("exports", []))
    if name in ("marts", "quality:marts"):
        return _count(settings, "marts", "dim_customers")
    return None


def run_night(settings: Settings, run_id: str, sampler: PeakMemorySampler, train: bool,
              before_stage: dict[str, Callable[[], None]] | None = None) -> list[dict[str, Any]]:
    """Run every stage once, timing each; returns one result dict per stage.

    A gate refusing the data (and the export it then blocks) is recorded as the stage's status
    rather than stopping the benchmark; any other error propagates.
    """
    from cdp.pipeline import ExportRefused
    from quality.gate import QualityGateFailed

    results: list[dict[str, Any]] = []
    ingested = 0
    for name, step in pipeline_steps(settings, run_id, train):
        if before_stage and name in before_stage:
            before_stage[name]()
        log.info("bench: stage %s", name)
        sampler.start_window()
        started = time.perf_counter()
        status, detail = "succeeded", None
        try:
            detail = step()
        except (QualityGateFailed, ExportRefused) as error:
            status = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        seconds = time.perf_counter() - started
        peak = round(sampler.window_peak(), 1)
        rows = _stage_rows(name, detail, settings, ingested)
        if name.startswith("ingest:"):
            ingested += rows or 0
        results.append({"stage": name, "status": status, "seconds": round(seconds, 3), "rows": rows,
                        "rows_per_second": rate(rows, seconds), "peak_rss_mib": peak, "reference": None,
                        "reference_seconds": None, "reference_rows": None, "ratio": None,
                        "detail_seconds": _breakdown(detail)})
    return results


def _breakdown(detail: Any) -> dict[str, float] | None:
    """A stage's own per-step seconds, when it reports them as a dict."""
    seconds = detail.get("seconds") if isinstance(detail, dict) else None
    return seconds if isinstance(seconds, dict) else None


def dbt_node_seconds(settings: Settings) -> dict[str, float]:
    """Seconds of every node of the last ``dbt build`` in ``settings``' dbt target folder (its
    run_results.json), slowest first; empty without one. Read after each night's marts stage: the
    next night's build overwrites the file."""
    path = Path(settings.dbt_target_dir) / "run_results.json"
    if not path.is_file():
        return {}
    results = json.loads(path.read_text(encoding="utf-8")).get("results") or []
    timed = sorted(((row["unique_id"], float(row.get("execution_time") or 0.0)) for row in results),
                   key=lambda item: -item[1])
    return {unique_id: round(seconds, 3) for unique_id, seconds in timed}


def web_visitors(settings: Settings, limit: int) -> list[tuple[str, str | None]]:
    """A fixed sample of stored web visitors: (anonymousId, the userId it logged in as, if any)."""
    with connect(settings, read_only=True) as con:
        if not table_exists(con, "raw", "web_events"):
            return []
        return con.execute(
            """SELECT anonymous_id, max(user_id) FROM raw.web_events WHERE coalesce(anonymous_id, '') <> ''
               GROUP BY anonymous_id ORDER BY hash(anonymous_id), anonymous_id LIMIT ?""", [limit]).fetchall()


def customer_map(settings: Settings) -> dict[str, str]:
    """record key (``<system>|<id>``) -> customer id from identity.customer_map."""
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT source_system || '|' || source_record_id, customer_id "
                           "FROM identity.customer_map").fetchall()
    return dict(rows)


def id_stability(before: dict[str, str], after: dict[str, str], changed_keys: set[str]) -> dict[str, Any]:
    """Share of customers none of whose records changed that kept their customer id for every record."""
    members: dict[str, list[str]] = {}
    for key, customer in before.items():
        members.setdefault(customer, []).append(key)
    unchanged = [keys for keys in members.values() if not changed_keys.intersection(keys)]
    kept = sum(1 for keys in unchanged if all(after.get(key) == before[key] for key in keys))
    return {"unchanged_customers": len(unchanged), "unchanged_customers_kept_id": kept,
            "share_unchanged_kept_id": kept / len(unchanged) if unchanged else None}


def _in_child_process(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a fresh (spawned) process, so the memory it allocates is returned afterwards.

    The plain Splink reference left about 4.7 GiB in this process at 1M, which the next night's
    peak then included. The sampler watches the whole process tree, so the child's peak still
    counts in the reference's window.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _attach_reference(row: dict[str, Any], reference: dict[str, Any]) -> None:
    row["reference"] = reference["reference"]
    row["reference_seconds"] = round(reference["seconds"], 3)
    row["reference_rows"] = reference.get("rows")
    if row["stage"].startswith("ingest:"):
        row["ratio"] = speed_ratio(row["rows"], row["seconds"], reference.get("rows"), reference["seconds"])
    else:  # different row notions (pairs, nodes): compare wall time on the same input
        row["ratio"] = speed_ratio(None, row["seconds"], None, reference["seconds"])


def run_benchmark(scale: int, seed: int, out_dir: Path, run_date: date, share: float = 0.01) -> dict[str, Any]:
    """Generate (or reuse) the dataset, run a full night, the references and a next night; write JSON and PNG."""
    from identity.evaluate import evaluate

    home = bench_home(out_dir, scale)
    dataset, dataset_info = cached_dataset(home / "cache", scale, seed, run_date)
    settings = bench_settings(home, run_date)
    shutil.rmtree(settings.home, ignore_errors=True)  # a fresh warehouse every full run
    materialise_landing(dataset, settings.landing_dir)
    references_dir = home / "references"
    shutil.rmtree(references_dir, ignore_errors=True)
    references_dir.mkdir(parents=True)
    warehouse_copy = references_dir / "dbt_reference.duckdb"
    run_id = f"bench_{run_date.isoformat()}"

    with PeakMemorySampler() as sampler:
        night = run_night(settings, run_id, sampler, train=True, before_stage={
            "marts": lambda: shutil.copy2(settings.warehouse_path, warehouse_copy)})
        full_seconds = sum(row["seconds"] for row in night)
        full_nodes = dbt_node_seconds(settings)
        accuracy = evaluate(settings)
        before = customer_map(settings)
        by_stage = {row["stage"]: row for row in night}

        references: dict[str, Any] = {}
        for source, reference in DUCKDB_INGEST_REFERENCES.items():
            sampler.start_window()
            references[f"ingest:{source}"] = {**reference(settings), "peak_rss_mib": round(sampler.window_peak(), 1)}
        parquet = references_dir / "person_records_standardised.parquet"
        export_splink_input(settings, parquet)
        sampler.start_window()
        splink = _in_child_process(plain_splink, settings, parquet, settings.truth_path)
        references["identity"] = {**splink, "peak_rss_mib": round(sampler.window_peak(), 1)}
        sampler.start_window()
        references["marts"] = {**plain_dbt_build(settings, warehouse_copy, run_id, references_dir / "dbt"),
                               "peak_rss_mib": round(sampler.window_peak(), 1)}
        for stage, reference in references.items():
            if stage in by_stage:
                _attach_reference(by_stage[stage], reference)

        next_date = run_date + timedelta(days=1)
        next_settings = settings.with_run_date(next_date)
        added = next_night(settings.landing_dir, scale, seed, next_date, share=share,
                           returning_visitors=web_visitors(settings, 2 * max(10, round(scale * share))))
        changed_keys = set(added.pop("changed_record_keys"))
        second = run_night(next_settings, f"bench_{next_date.isoformat()}", sampler, train=False)
        next_seconds = sum(row["seconds"] for row in second)
        next_nodes = dbt_node_seconds(next_settings)
        stability = id_stability(before, customer_map(next_settings), changed_keys)
        overall_peak = round(sampler.overall_peak, 1)

    results_dir = Path(out_dir) / "bench"
    chart = bar_chart_png([(row["stage"], row["seconds"]) for row in night], results_dir / f"results-{scale}.png")
    results = {
        "scale": scale, "seed": seed, "run_date": run_date.isoformat(), "next_run_date": next_date.isoformat(),
        "cdp_home": str(settings.home), "dataset": dataset_info,
        "stages": night, "full_night_seconds": round(full_seconds, 3),
        "full_night_peak_rss_mib": max(row["peak_rss_mib"] for row in night),
        "peak_rss_mib": {"process_tree_sampled_mib": overall_peak, **rusage_peaks_mib()},
        "references": references,
        "identity_accuracy": accuracy,
        "next_night": {"seconds": round(next_seconds, 3), "peak_rss_mib": max(row["peak_rss_mib"] for row in second),
                       "share_of_full_night": next_seconds / full_seconds if full_seconds else None,
                       "stages": second, "added": added, "changed_records": len(changed_keys), **stability},
        "dbt_node_seconds": {"full_night": full_nodes, "next_night": next_nodes},
        "chart_png": str(chart),
    }
    path = results_dir / f"results-{scale}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    results["results_json"] = str(path)
    return results


def format_results(results: dict[str, Any]) -> str:
    """The terminal summary: the per-stage table, then accuracy, next night and where the files are."""
    accuracy, splink, following = results["identity_accuracy"], results["references"]["identity"], results["next_night"]
    peaks = results["peak_rss_mib"]
    stability = following["share_unchanged_kept_id"]
    return "\n".join([
        f"CDP benchmark: scale {results['scale']:,} people, seed {results['seed']}, run date {results['run_date']} "
        f"(dataset {'reused' if results['dataset']['cached'] else 'generated'})",
        format_table(results["stages"]),
        f"full night {results['full_night_seconds']:.1f} s, peak RSS {results['full_night_peak_rss_mib']:,.0f} MiB; "
        f"whole benchmark incl. references: process tree {peaks['process_tree_sampled_mib']:,.0f} MiB "
        f"(ru_maxrss self {peaks['ru_maxrss_self_mib']:,.0f}, largest child {peaks['ru_maxrss_children_mib']:,.0f})",
        f"identity vs truth: pairwise P {accuracy['pairwise_precision']:.3f} R {accuracy['pairwise_recall']:.3f} "
        f"F1 {accuracy['pairwise_f1']:.3f}, B-cubed F1 {accuracy['bcubed_f1']:.3f}; plain Splink pairwise F1 "
        f"{splink['pairwise_f1']:.3f} (predict+cluster {splink['seconds']:.2f} s, training {splink['train_seconds']:.2f} s excluded)",
        _missed_pairs_line(accuracy),
        f"next night (+{following['added']['new_store_customers']:,} store customers, {following['changed_records']:,} changed records): "
        f"{following['seconds']:.1f} s = {following['share_of_full_night']:.0%} of the full night, "
        f"peak RSS {following['peak_rss_mib']:,.0f} MiB; "
        f"unchanged customers keeping their id: "
        + (f"{stability:.2%} of {following['unchanged_customers']:,}" if stability is not None else "n/a"),
        *(_marts_layers_line(night, label) for night, label in
          ((results["stages"], "full"), (following["stages"], "next night"))),
        _slowest_next_night_nodes_line(results.get("dbt_node_seconds") or {}),
        f"results: {results['results_json']}  chart: {results['chart_png']}",
    ])


def _missed_pairs_line(accuracy: dict[str, Any]) -> str:
    """The missed true pairs by what their parts share, largest first (recall's ceiling)."""
    missed = accuracy.get("missed_pairs_by_shared_evidence") or {}
    total = sum(missed.values())
    if not total:
        return "missed true pairs: none"
    parts = ", ".join(f"{name.replace('_', ' ')} {pairs / total:.1%}"
                      for name, pairs in sorted(missed.items(), key=lambda item: -item[1]) if pairs)
    return f"missed true pairs: {total:,}, by what the two customers share: {parts}"


def _slowest_next_night_nodes_line(nodes: dict[str, dict[str, float]], count: int = 8) -> str:
    """The next night's slowest dbt nodes, each with its share of the same node's full-night time:
    a node near 100% does work that scales with all the data, not with the night's changes."""
    following, full = nodes.get("next_night") or {}, nodes.get("full_night") or {}
    if not following:
        return "slowest dbt nodes (next night): n/a"
    shown = []
    for unique_id, seconds in list(following.items())[:count]:
        name = unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id
        share = f" ({seconds / full[unique_id]:.0%} of full)" if full.get(unique_id) else ""
        shown.append(f"{name} {seconds:.2f} s{share}")
    return "slowest dbt nodes (next night): " + ", ".join(shown)


def _marts_layers_line(stages: list[dict[str, Any]], label: str) -> str:
    """dbt seconds per layer of the marts stage (from dbt's run results) and its peak memory."""
    marts = next((row for row in stages if row["stage"] == "marts"), None)
    layers = (marts or {}).get("detail_seconds") or {}
    if not layers:
        return f"marts layers ({label}): n/a"
    shown = ", ".join(f"{name} {layers[name]:.1f} s" for name in
                      ("staging", "intermediate", "marts", "tests", "unit_tests", "dbt_build_wall") if name in layers)
    return f"marts layers ({label}): {shown}; peak {marts['peak_rss_mib']:,.0f} MiB"
