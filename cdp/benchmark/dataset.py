"""Benchmark datasets: a seeded landing zone cached per (scale, seed, run date), and the "next night".

The cached copy is never ingested from directly: every full run gets a fresh landing zone of
hard links to it (the SQLite store is copied, because ``next_night`` writes to it), so a run
can append the next night's files without spoiling the cache.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from cdp.sample_data import generate

CACHE_MARKER = ".bench-dataset.json"
STORE_FILE = Path("store") / "pos.sqlite"
#: Added to the benchmark seed for the next night's new people, so they never repeat night one's.
NEXT_NIGHT_SEED_OFFSET = 7919
#: Share of the next night's web visitors who are returning visitors of night one: their page,
#: screen and track events are written under an existing visitor's anonymousId (and userId).
RETURNING_VISITOR_SHARE = 0.5
#: Message types re-attributed to a returning visitor; identify, alias and group messages keep
#: the new person's ids, so no new identity claim is made about an existing customer.
RETURNING_MESSAGE_TYPES = frozenset({"page", "screen", "track"})


def cache_key(scale: int, seed: int, run_date: date) -> str:
    """The folder name a generated dataset is cached under."""
    return f"scale{scale}-seed{seed}-{run_date.isoformat()}"


def cached_dataset(cache_root: Path, scale: int, seed: int, run_date: date) -> tuple[Path, dict[str, Any]]:
    """Generate the landing zone for (scale, seed, run_date) once; returns (its folder, info).

    ``info`` holds the generator's counts, ``cached`` (True when an earlier run's copy was
    reused) and ``generate_seconds`` (of the generation that produced it).
    """
    folder = Path(cache_root) / cache_key(scale, seed, run_date)
    marker = folder / CACHE_MARKER
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        return folder, {**info, "cached": True}
    # Generate beside the final folder and rename, so an interrupted run never leaves a half cache.
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    counts = generate(staging, scale, seed, run_date)
    info = {"scale": scale, "seed": seed, "run_date": run_date.isoformat(), "counts": counts,
            "generate_seconds": round(time.perf_counter() - started, 2)}
    (staging / CACHE_MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder, {**info, "cached": False}


def materialise_landing(cached: Path, landing: Path) -> None:
    """Replace ``landing`` with hard links to the cached files (a real copy of the SQLite store)."""
    shutil.rmtree(landing, ignore_errors=True)
    for source in sorted(Path(cached).rglob("*")):
        if not source.is_file() or source.name == CACHE_MARKER:
            continue
        target = landing / source.relative_to(cached)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.relative_to(cached) == STORE_FILE:
            shutil.copy2(source, target)
        else:
            try:
                os.link(source, target)
            except OSError:  # another file system: copy instead
                shutil.copy2(source, target)


def next_night(landing: Path, scale: int, seed: int, next_date: date, share: float = 0.01,
               returning_visitors: Sequence[tuple[str, str | None]] = ()) -> dict[str, Any]:
    """Add about ``share`` new and changed data to ``landing`` as it would arrive for ``next_date``.

    New: the people of a fresh ``share * scale`` population (own seed) arrive in every source:
    web files ``events-<next>-NNN.ndjson.gz``, one ``calls-<next>.csv``, store rows with ids
    above the existing ones, and CSV lists ``<type>__bench-<next>-*.csv``. Changed: ``share / 2``
    of the existing store customers move street, and ``share / 2`` of the existing calls are
    re-exported with a later ``updated_at`` and a new disposition. Returning: given night one's
    visitors (``(anonymousId, userId or None)``), ``RETURNING_VISITOR_SHARE`` of the new web
    visitors are written as one of them instead (see ``_returning_web``), as real traffic mixes
    new and returning visitors. Returns counts and ``changed_record_keys``
    (``<source_system>|<source_record_id>`` of existing records changed).
    """
    landing = Path(landing)
    rng = random.Random(seed * 1_000_003 + next_date.toordinal())
    stamp = f"{next_date.isoformat()}T06:00:00Z"
    with tempfile.TemporaryDirectory(prefix="bench_next_night_") as folder:
        fresh = Path(folder)
        generate(fresh, max(10, round(scale * share)), seed + NEXT_NIGHT_SEED_OFFSET, next_date)
        # Its own generator, so the calls and store customers changed below stay the same.
        web_rng = random.Random(seed * 1_000_003 + next_date.toordinal() + 1)
        returning = _returning_web(fresh / "web", returning_visitors, web_rng)
        counts: dict[str, Any] = {
            "new_web_files": _copy_web(fresh, landing, next_date),
            "new_csv_files": _copy_csv_lists(fresh, landing, next_date),
            **returning,
        }
        calls_new, calls_changed = _write_calls(fresh, landing, next_date, rng, share, stamp)
        store_new, store_changed = _merge_store(fresh, landing, rng, share, stamp.replace("T", " ").rstrip("Z"))
    counts.update({"new_calls": calls_new, "new_store_customers": store_new,
                   "changed_calls": len(calls_changed), "changed_store_customers": len(store_changed)})
    counts["changed_record_keys"] = sorted(
        [f"call_center|{call_id}" for call_id in calls_changed] + [f"store|{cid}" for cid in store_changed]
    )
    return counts


def _returning_web(web: Path, visitors: Sequence[tuple[str, str | None]], rng: random.Random) -> dict[str, int]:
    """Rewrite the fresh web files in place so that some new visitors are returning ones.

    Each fresh anonymousId is, with probability ``RETURNING_VISITOR_SHARE``, given one of
    ``visitors`` (each used once); its page, screen and track messages (batch items too) then
    carry that visitor's anonymousId and userId (none if the visitor never logged in). Lines that
    are not JSON objects are copied unchanged, so the malformed share stays what it was.
    """
    pool = list(visitors)
    rng.shuffle(pool)
    mapping: dict[str, tuple[str, str | None] | None] = {}
    rewritten = 0

    def rewrite(message: Any) -> Any:
        nonlocal rewritten
        if not isinstance(message, dict) or message.get("type") not in RETURNING_MESSAGE_TYPES:
            return message
        anonymous_id = message.get("anonymousId")
        if not isinstance(anonymous_id, str):
            return message
        if anonymous_id not in mapping:
            mapping[anonymous_id] = pool.pop() if pool and rng.random() < RETURNING_VISITOR_SHARE else None
        target = mapping[anonymous_id]
        if target is None:
            return message
        message = {key: value for key, value in message.items() if key != "userId"}
        message["anonymousId"] = target[0]
        if target[1]:
            message["userId"] = target[1]
        rewritten += 1
        return message

    for path in sorted(web.glob("*.ndjson.gz")) if pool else []:
        lines = []
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            for line in handle:
                try:
                    message = json.loads(line)
                except ValueError:
                    lines.append(line)
                    continue
                if isinstance(message, dict) and isinstance(message.get("batch"), list):
                    items = [rewrite(item) for item in message["batch"]]
                    unchanged = all(new is old for new, old in zip(items, message["batch"], strict=True))
                    changed = message if unchanged else {**message, "batch": items}
                else:
                    changed = rewrite(message)
                lines.append(line if changed is message else json.dumps(changed, separators=(",", ":")) + "\n")
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
    visitors_returning = sum(1 for target in mapping.values() if target is not None)
    return {"returning_web_visitors": visitors_returning, "returning_web_messages": rewritten}


def _copy_web(fresh: Path, landing: Path, next_date: date) -> int:
    files = sorted((fresh / "web").glob("*.ndjson.gz"))
    for number, source in enumerate(files, start=1):
        shutil.copy2(source, landing / "web" / f"events-{next_date.isoformat()}-{number:03d}.ndjson.gz")
    return len(files)


def _copy_csv_lists(fresh: Path, landing: Path, next_date: date) -> int:
    files = sorted((fresh / "csv").glob("*__*.csv"))
    for source in files:
        list_type, rest = source.name.split("__", 1)
        shutil.copy2(source, landing / "csv" / f"{list_type}__bench-{next_date.isoformat()}-{rest}")
    return len(files)


def _call_rows(folder: Path) -> list[dict[str, str]]:
    """Every call row of a call-center folder (CSV and JSON exports), as strings."""
    rows: list[dict[str, str]] = []
    for path in sorted(folder.glob("calls-*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows.extend(csv.DictReader(handle))
    for path in sorted(folder.glob("calls-*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            rows.append({key: "" if value is None else str(value) for key, value in item.items()})
    return rows


def _write_calls(fresh: Path, landing: Path, next_date: date, rng: random.Random, share: float,
                 stamp: str) -> tuple[int, list[str]]:
    from cdp.sample_data.call_center import CALL_COLUMNS

    new_rows = [row for row in _call_rows(fresh / "call_center") if row.get("call_id")]
    existing = {row["call_id"]: row for row in _call_rows(landing / "call_center") if row.get("call_id")}
    changed_ids = rng.sample(sorted(existing), k=min(len(existing), max(1, round(len(existing) * share / 2))))
    changed = [dict(existing[call_id], disposition="callback", updated_at=stamp) for call_id in changed_ids]
    target = landing / "call_center" / f"calls-{next_date.isoformat()}.csv"
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CALL_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(new_rows + changed)
    return len({row["call_id"] for row in new_rows}), changed_ids


def _merge_store(fresh: Path, landing: Path, rng: random.Random, share: float, stamp: str) -> tuple[int, list[int]]:
    con = sqlite3.connect(landing / STORE_FILE)
    try:
        con.execute("ATTACH DATABASE ? AS fresh", [str(fresh / STORE_FILE)])
        customer_offset, order_offset, line_offset, stores = (
            con.execute(sql).fetchone()[0] or 0
            for sql in ("SELECT max(customer_id) FROM main.customers", "SELECT max(order_id) FROM main.orders",
                        "SELECT max(order_line_id) FROM main.order_lines", "SELECT count(*) FROM main.stores")
        )
        # New rows carry the next night's updated_at, as a live POS database would; the
        # generator spreads them over years, below the watermark the pipeline resumes from.
        con.execute(
            """INSERT INTO main.customers SELECT customer_id + ?, loyalty_card_number, first_name, last_name,
               email, phone, birth_date, street, city, postcode, state, country, is_marketing_opt_in, created_at, ?
               FROM fresh.customers""", [customer_offset, stamp])
        con.execute(
            """INSERT INTO main.orders SELECT order_id + ?, customer_id + ?, ((store_id - 1) % ?) + 1, ordered_at,
               status, total_amount, currency, ? FROM fresh.orders""", [order_offset, customer_offset, max(stores, 1), stamp])
        con.execute(
            """INSERT INTO main.order_lines SELECT order_line_id + ?, order_id + ?, product_sku, product_name, category,
               quantity, unit_price, ? FROM fresh.order_lines""", [line_offset, order_offset, stamp])
        added = con.execute("SELECT count(*) FROM fresh.customers").fetchone()[0]
        existing = [row[0] for row in con.execute("SELECT customer_id FROM main.customers WHERE customer_id <= ?",
                                                  [customer_offset])]
        changed = sorted(rng.sample(existing, k=min(len(existing), max(1, round(len(existing) * share / 2)))))
        con.executemany("UPDATE main.customers SET street = coalesce(street, '') || ' Apt 2', updated_at = ? "
                        "WHERE customer_id = ?", [(stamp, customer_id) for customer_id in changed])
        con.commit()
    finally:
        con.close()
    return added, changed
