"""Call-center exports: weekly files, alternately CSV and JSON, over the last ~180 days.

Export ``calls-<D>.csv|json`` holds every call whose ``updated_at`` falls in the 7 days ending on
``D`` (``D = run_date - 7k``; even ``k`` are CSV, odd ``k`` JSON). A call that is updated later
(callback resolved, survey answered) appears again, in the same or a later export, with a newer
``updated_at``: the latest wins. A few rows are malformed (csat "7", nps "11", impossible
timestamps); each such call is re-sent corrected 1-3 days later (a newer ``updated_at``, in the
same or a later export), so quarantining the broken row never loses the call.
Callers phone from their mobile or from a household landline they share with relatives.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from cdp.sample_data.noise import Noise
from cdp.sample_data.people import Population
from cdp.sample_data.vocab import CALL_QUEUES
from cdp.sample_data.writers import TimeFormatter, TruthWriter, epoch_seconds

CALL_COLUMNS: tuple[str, ...] = (
    "call_id", "caller_phone", "caller_email", "caller_first_name", "caller_last_name", "agent_id", "queue",
    "started_at", "answered_at", "ended_at", "disposition", "csat", "nps", "updated_at",
)
WINDOW_DAYS = 180
MALFORMED_SHARE = 0.004
_DISPOSITIONS = ("resolved", "escalated", "callback", "transferred")
_DISPOSITION_WEIGHTS = (62, 11, 15, 12)


class _Exports:
    """Weekly export files, opened on first use and streamed so memory stays flat."""

    def __init__(self, folder: Path, run_date: date) -> None:
        self.folder = folder
        self.run_date = run_date
        self._files: dict[int, tuple[IO[str], Any]] = {}
        self._json_started: set[int] = set()
        self.rows = 0

    def write(self, updated_day: date, row: dict[str, Any]) -> None:
        week = (self.run_date - updated_day).days // 7
        entry = self._files.get(week)
        if entry is None:
            export_date = (self.run_date - timedelta(days=7 * week)).isoformat()
            if week % 2 == 0:
                handle = (self.folder / f"calls-{export_date}.csv").open("w", encoding="utf-8", newline="")
                writer: Any = csv.DictWriter(handle, fieldnames=CALL_COLUMNS, lineterminator="\r\n")
                writer.writeheader()
            else:
                handle = (self.folder / f"calls-{export_date}.json").open("w", encoding="utf-8", newline="\n")
                handle.write("[")
                writer = None
            entry = (handle, writer)
            self._files[week] = entry
        handle, writer = entry
        if writer is not None:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        else:
            separator = ",\n  " if week in self._json_started else "\n  "
            self._json_started.add(week)
            handle.write(separator + json.dumps(row, ensure_ascii=False))
        self.rows += 1

    def close(self) -> int:
        for handle, writer in self._files.values():
            if writer is None:
                handle.write("\n]\n")
            handle.close()
        return len(self._files)


def write_calls(out_dir: Path, population: Population, seed: int, run_date: date,
                truth: TruthWriter) -> dict[str, int]:
    """Write ``call_center/calls-*.csv|json`` for every caller and their truth rows; returns counts."""
    folder = out_dir / "call_center"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:call_center")
    noise = Noise(rng, scale=1.5)  # agents type fast while talking: messier than web forms
    fmt = TimeFormatter()
    exports = _Exports(folder, run_date)
    end = epoch_seconds(run_date) + 86_400
    start = end - WINDOW_DAYS * 86_400
    used_ids: set[str] = set()
    counts = {"calls": 0, "call_updates": 0, "call_malformed_rows": 0}

    def day_of(epoch: int) -> date:
        return date.fromisoformat(fmt.day(epoch))

    for i in population.in_source["calls"].nonzero()[0].tolist():
        for _ in range(1 + min(int(rng.expovariate(1 / 0.7)), 7)):
            call_id = f"CL-{rng.getrandbits(40):010X}"
            while call_id in used_ids:
                call_id = f"CL-{rng.getrandbits(40):010X}"
            used_ids.add(call_id)
            row, updated = _call(rng, noise, fmt, population, i, call_id, rng.randrange(start, end - 7200))
            if rng.random() < MALFORMED_SHARE and updated + 3 * 86_400 < end:
                exports.write(day_of(updated), _corrupt(rng, row))
                counts["call_malformed_rows"] += 1
                updated += rng.randint(86_400, 3 * 86_400)
                row["updated_at"] = fmt.iso_z(updated)
            exports.write(day_of(updated), row)
            truth.add("call_center", call_id, population.person_id[i])
            counts["calls"] += 1
            if row["disposition"] in ("callback", "escalated") or rng.random() < 0.03:
                later = updated + rng.randint(86_400, 10 * 86_400)
                if later < end:
                    row = dict(row, disposition="resolved", updated_at=fmt.iso_z(later))
                    if row["answered_at"] and row["csat"] is None and rng.random() < 0.8:
                        row["csat"] = rng.choices((1, 2, 3, 4, 5), (8, 7, 15, 30, 40))[0]
                    exports.write(day_of(later), row)
                    counts["call_updates"] += 1
    counts["call_rows"] = exports.rows
    counts["call_files"] = exports.close()
    return counts


def _call(rng: random.Random, noise: Noise, fmt: TimeFormatter, people: Population, i: int, call_id: str,
          started: int) -> tuple[dict[str, Any], int]:
    """One call by person ``i``: the export row and its ``updated_at`` in epoch seconds."""
    wait = rng.randint(5, 900)
    abandoned = rng.random() < 0.09
    answered = None if abandoned else started + wait
    ended = started + wait if abandoned else started + wait + rng.randint(45, 2400)
    updated = ended + rng.randint(60, 1800)
    phone_digits = people.landline[i] if people.landline[i] and rng.random() < 0.35 else people.mobile[i]
    first = noise.placeholder_text(noise.first_name(people.first_name[i], nickname=0.2, accent=0.1), 0.01)
    last = noise.last_name(people.last_name[i], accent=0.1)
    if noise.chance(0.02):
        first, last = last, first
    if rng.random() < 0.03:
        first, last = "", ""
    row: dict[str, Any] = {
        "call_id": call_id,
        "caller_phone": "" if rng.random() < 0.04 else noise.phone(phone_digits),
        "caller_email": noise.email(people.email[i]) if rng.random() < 0.4 else "",
        "caller_first_name": first,
        "caller_last_name": last,
        "agent_id": f"AGT-{rng.randint(101, 145)}",
        "queue": rng.choice(CALL_QUEUES),
        "started_at": fmt.iso_z(started),
        "answered_at": None if answered is None else fmt.iso_z(answered),
        "ended_at": fmt.iso_z(ended),
        "disposition": "abandoned" if abandoned else rng.choices(_DISPOSITIONS, _DISPOSITION_WEIGHTS)[0],
        "csat": None if abandoned or rng.random() > 0.4 else rng.choices((1, 2, 3, 4, 5), (6, 6, 13, 30, 45))[0],
        "nps": None if abandoned or rng.random() > 0.25 else rng.randint(0, 10),
        "updated_at": fmt.iso_z(updated),
    }
    return row, updated


def _corrupt(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with one value the vendor's export sometimes gets wrong."""
    broken = dict(row)
    kind = rng.randrange(4)
    if kind == 0:
        broken["csat"] = rng.choice(("7", "0", "excellent"))
    elif kind == 1:
        broken["nps"] = rng.choice(("11", "-1"))
    elif kind == 2:
        broken["started_at"] = "2026-02-30T25:61:00Z"
    else:
        broken["ended_at"] = "not recorded"
    return broken
