"""Benchmark web-event ingestion against DuckDB's own ``read_json`` over the same files.

Usage::

    CDP_HOME=/tmp/perf100k .venv/bin/python -m cdp.benchmark.web_ingest [--only ours|read_json]

Each side runs in a fresh subprocess with a fresh warehouse in a temporary folder (the landing
files are only read), so the peak RSS printed is that side's own. The baseline is
``CREATE TABLE AS SELECT * FROM read_json(...)`` with ``ignore_errors`` (it needs that to get
past the malformed lines the sample data contains) using the same DuckDB threads and memory
limit as the pipeline: it decompresses and parses the same gz files into typed, materialised
rows (auto-detected STRUCT columns), which is the core of our work without the validation,
quarantine, dedupe and manifest. This prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cdp.settings import Settings


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _files(settings: Settings) -> list[str]:
    from ingestion.file_batches import landing_files
    from ingestion.web_events import FILE_PATTERNS

    return [str(p) for p in landing_files(settings.web_landing_dir, FILE_PATTERNS)]


def run_ours(settings: Settings, home: Path) -> dict:
    """Ingest the landing folder into a fresh warehouse under ``home``; returns events and seconds."""
    from cdp.warehouse import connect
    from ingestion.web_events import ingest_web

    fresh = dataclasses.replace(settings, home=home, warehouse_path=home / "bench.duckdb")
    started = time.perf_counter()
    with connect(fresh) as con:
        report = ingest_web(con, fresh, "bench")
    seconds = time.perf_counter() - started
    return {
        "events": report.rows_read,
        "loaded": report.rows_loaded,
        "quarantined": report.rows_quarantined,
        "seconds": seconds,
    }


READ_JSON_MEMORY_LIMIT = "16GB"


def run_read_json(settings: Settings, home: Path) -> dict:
    """Materialise read_json over the same files into a fresh DuckDB file; returns rows and seconds."""
    import duckdb

    files = _files(settings)
    # The reference is DuckDB's physical limit, not held to the pipeline's memory budget:
    # at 10M events read_json needs more than the pipeline's 6GB limit (it failed with it).
    con = duckdb.connect(
        str(home / "baseline.duckdb"),
        config={"memory_limit": READ_JSON_MEMORY_LIMIT, "threads": settings.duckdb_threads},
    )
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited', "
        "ignore_errors = true, union_by_name = true)",
        [files],
    )
    loaded = time.perf_counter()
    # Like for like: our side's time includes writing its tables to the file (its commits and
    # closing checkpoint), so the reference's includes its checkpoint too.
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.close()
    return {"events": rows, "seconds": seconds, "checkpoint_seconds": seconds - (loaded - started)}


def _child(side: str) -> None:
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench_web_") as folder:
        result = (run_ours if side == "ours" else run_read_json)(settings, Path(folder))
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    """Run both sides in subprocesses and print events/s, the ratio and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ours", "read_json"))
    parser.add_argument("--child", choices=("ours", "read_json"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    settings = Settings()
    files = _files(settings)
    size = sum(Path(f).stat().st_size for f in files)
    print(f"{len(files)} files, {size / 2**20:.1f} MiB on disk, in {settings.web_landing_dir}")
    results = {}
    for side in ("read_json", "ours") if args.only is None else (args.only,):
        out = subprocess.run(
            [sys.executable, "-m", "cdp.benchmark.web_ingest", "--child", side],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        results[side] = result
        rate = result["events"] / result["seconds"]
        print(
            f"{side:<10} {result['events']:>11,} events {result['seconds']:8.2f} s "
            f"{rate:>12,.0f} events/s  peak RSS {result['peak_rss_mib']:,.0f} MiB"
        )
    if len(results) == 2:
        ratio = (results["ours"]["events"] / results["ours"]["seconds"]) / (
            results["read_json"]["events"] / results["read_json"]["seconds"]
        )
        print(f"ours / read_json = {ratio:.0%}")


if __name__ == "__main__":
    main()
