"""Privacy requests against real generated people: ``suppression/suppression.csv``.

Columns ``identifier_type, identifier, reason, requested_at``: emails are lower-case, phones
E.164 (``+1XXXXXXXXXX``), customer ids are store ``customer_id`` values; ``requested_at`` is
``YYYY-MM-DDTHH:MM:SSZ`` within the 90 days before the run date.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from datetime import date
from pathlib import Path

from cdp.sample_data.noise import e164
from cdp.sample_data.people import Population
from cdp.sample_data.writers import TimeFormatter, epoch_seconds

SUPPRESSION_HEADER: tuple[str, ...] = ("identifier_type", "identifier", "reason", "requested_at")
REQUEST_SHARE = 0.002  # per identifier type, as a share of people


def write_suppression(out_dir: Path, population: Population, seed: int, run_date: date) -> dict[str, int]:
    """Write erasure and opt-out requests for a few emails, phones and store customers."""
    folder = out_dir / "suppression"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:suppression")
    fmt = TimeFormatter()
    end = epoch_seconds(run_date) + 86_400
    per_type = max(2, round(len(population) * REQUEST_SHARE))
    people = rng.sample(range(len(population)), min(len(population), 2 * per_type))
    rows: list[tuple[str, str, str, int]] = []
    for i in people[:per_type]:
        rows.append(("email", population.email[i], rng.choice(("erasure", "opt_out", "opt_out")), 0))
    for i in people[per_type:]:
        rows.append(("phone", e164(population.mobile[i]), "opt_out", 0))
    customer_ids = _store_customer_ids(out_dir / "store" / "pos.sqlite")
    for customer_id in rng.sample(customer_ids, min(len(customer_ids), per_type)):
        rows.append(("customer_id", str(customer_id), "erasure", 0))
    with (folder / "suppression.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SUPPRESSION_HEADER)
        for identifier_type, identifier, reason, _ in rows:
            requested = end - rng.randint(3600, 90 * 86_400)
            writer.writerow((identifier_type, identifier, reason, fmt.iso_z(requested)))
    return {"suppression_rows": len(rows)}


def _store_customer_ids(path: Path) -> list[int]:
    if not path.exists():
        return []
    con = sqlite3.connect(path)
    try:
        return [row[0] for row in con.execute("SELECT customer_id FROM customers ORDER BY customer_id")]
    finally:
        con.close()
