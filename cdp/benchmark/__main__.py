"""``python -m cdp.benchmark --scale N --seed S --out DIR``: see the package docstring."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import date
from pathlib import Path

from cdp.benchmark import DEFAULT_RUN_DATE
from cdp.benchmark.run import format_results, run_benchmark
from cdp.settings import PROJECT_ROOT


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="python -m cdp.benchmark",
                                     description="Time every nightly stage at scale, next to reference tools.")
    parser.add_argument("--scale", type=int, default=1_000_000, help="number of true people (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "data",
                        help="output root; everything goes under <out>/bench/ (default data)")
    parser.add_argument("--run-date", type=date.fromisoformat, default=DEFAULT_RUN_DATE,
                        help=f"logical date of the full night (default {DEFAULT_RUN_DATE}; part of the cache key)")
    parser.add_argument("--next-night-share", type=float, default=0.01,
                        help="share of new and changed data for the next night (default 0.01)")
    args = parser.parse_args(argv)
    if args.scale < 10:
        parser.error("--scale must be at least 10 people")
    if not 0 < args.next_night_share <= 0.5:
        parser.error("--next-night-share must be in (0, 0.5]")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # dbt prints every node; the benchmark prints its own table (errors still show).
    os.environ.setdefault("DBT_QUIET", "true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Splink warns about untrainable levels on every run; the benchmark reports accuracy instead.
    logging.getLogger("splink").setLevel(logging.ERROR)
    results = run_benchmark(args.scale, args.seed, args.out.resolve(), args.run_date, share=args.next_night_share)
    print(format_results(results))


if __name__ == "__main__":
    main()
