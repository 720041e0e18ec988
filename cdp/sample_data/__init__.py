"""Seeded, realistic sample data for the whole landing zone (docs/contracts.md §1).

``generate`` draws a true population (``people.py``) and writes, from it, what four source systems
would hold about those people, with the variations real data has (nicknames, typos, phone and
street formats, movers, households sharing an address and landline, anonymous web visitors who
identify later, placeholder junk), plus ``truth/ground_truth.csv`` naming the real person behind
every person record. The truth only joins records the data can link: every web anonymousId of a
person who appears anywhere else is tied to their userId by an ``identify`` or ``alias``; web
visitors who never identify are web-only prospects with a single anonymousId (see ``web.py``).
Same ``seed`` and ``run_date`` give byte-identical files.

Layout under ``out_dir``: ``web/events-YYYY-MM-DD-NNN.ndjson.gz``, ``call_center/calls-YYYY-MM-DD.csv|json``,
``store/pos.sqlite``, ``csv/<list_type>__*.csv`` (headers in ``csv_lists.py``),
``suppression/suppression.csv``, ``truth/ground_truth.csv``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cdp.sample_data.call_center import write_calls
from cdp.sample_data.csv_lists import write_csv_lists
from cdp.sample_data.people import build_population
from cdp.sample_data.store import write_store
from cdp.sample_data.suppression import write_suppression
from cdp.sample_data.web import write_web_events
from cdp.sample_data.writers import TruthWriter

__all__ = ["GENERATED_PATTERNS", "generate"]

# Files a previous generation may have left; removed first so a rerun never mixes two runs.
GENERATED_PATTERNS: tuple[str, ...] = (
    "web/events-*.ndjson.gz", "call_center/calls-*.csv", "call_center/calls-*.json", "store/pos.sqlite",
    "csv/newsletter__*.csv", "csv/crm__*.csv", "csv/event_leads__*.csv", "suppression/suppression.csv",
    "truth/ground_truth.csv",
)


def generate(out_dir: Path, customers: int, seed: int, run_date: date) -> dict[str, int]:
    """Write a complete sample landing zone for ``customers`` people; returns counts per file kind.

    Args:
        out_dir: landing-zone root (``Settings.landing_dir``); created if missing. Files this
            generator wrote before are replaced; other files are left alone.
        customers: number of true people (web events come to roughly 8-10 per person).
        seed: random seed; with ``run_date`` it fully determines the output bytes.
        run_date: the logical date; every timestamp falls before the end of this day (UTC).

    Returns counts, among them: ``people``; ``web_events`` (distinct well-formed messages, batch
    members included), ``web_duplicate_lines``, ``web_malformed_lines``, ``web_files``; ``calls``
    (distinct call ids), ``call_rows`` (incl. updates and malformed rows); ``store_customers``,
    ``stores``, ``orders``, ``order_lines``; ``csv_rows`` (data rows of all lists);
    ``suppression_rows``; ``truth_rows`` (= number of person records).
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for pattern in GENERATED_PATTERNS:
        for stale in sorted(out_dir.glob(pattern)):
            stale.unlink()
    population = build_population(customers, seed, run_date)
    counts: dict[str, int] = {"people": len(population)}
    truth = TruthWriter(out_dir / "truth" / "ground_truth.csv")
    try:
        for writer in (write_web_events, write_calls, write_store, write_csv_lists):
            counts.update(writer(out_dir, population, seed, run_date, truth))
    finally:
        truth.close()
    counts.update(write_suppression(out_dir, population, seed, run_date))
    counts["truth_rows"] = truth.rows
    return counts
