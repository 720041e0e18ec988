"""A small seeded generator of canonical person records with known truth, for identity tests.

Each person gets 1-4 records from different sources with realistic damage (typos, missing
fields, formatting noise). Some people live in households that share an address, a landline
and a surname: the trap a careless matcher falls into.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

FIRST_NAMES = [
    "james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david", "elizabeth",
    "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
    "christopher", "lisa", "daniel", "nancy", "matthew", "betty", "anthony", "margaret", "mark", "sandra",
    "donald", "ashley", "steven", "kimberly", "paul", "emily", "andrew", "donna", "joshua", "michelle",
    "kenneth", "carol", "kevin", "amanda", "brian", "dorothy", "george", "melissa", "timothy", "deborah",
    "ronald", "stephanie", "edward", "rebecca", "jason", "sharon", "jeffrey", "laura", "ryan", "cynthia",
]
LAST_NAMES = [
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
    "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
    "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
    "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores",
    "green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts",
]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "River"]
STREET_TYPES = [("Street", "St."), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr."), ("Lane", "Ln")]
CITIES = [("Springfield", "IL", "627"), ("Riverside", "CA", "925"), ("Franklin", "TN", "370"),
          ("Greenville", "SC", "296"), ("Madison", "WI", "537"), ("Salem", "OR", "973")]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "example.org"]


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.random()
    if kind < 0.4:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind < 0.7:
        return text[:i] + text[i + 1:]
    return text[:i] + rng.choice("aeioustnr") + text[i + 1:]


def _phone_formats(rng: random.Random, digits: str) -> str:
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return rng.choice([f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"+1{digits}",
                       f"{area}.{exchange}.{line}", f"1 {area} {exchange} {line}"])


def generate_people(count: int, seed: int = 7) -> list[dict]:
    """``count`` people, about a fifth of them in shared households."""
    rng = random.Random(seed)
    people: list[dict] = []
    while len(people) < count:
        city, state, zip_prefix = rng.choice(CITIES)
        street_name, (street_long, street_short) = rng.choice(STREETS), rng.choice(STREET_TYPES)
        address = {
            "number": str(rng.randint(1, 9999)), "street_name": street_name,
            "street_type": (street_long, street_short), "city": city, "state": state,
            "postcode": zip_prefix + f"{rng.randint(0, 99):02d}",
        }
        landline = f"{rng.randint(201, 989)}555{rng.randint(1000, 9999)}"
        last = rng.choice(LAST_NAMES)
        household = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
        used_first_names: set[str] = set()
        for member in range(household):
            first = rng.choice(FIRST_NAMES)
            while first in used_first_names:
                first = rng.choice(FIRST_NAMES)
            used_first_names.add(first)
            born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 60))
            people.append({
                "person_id": f"p{len(people):05d}", "first_name": first, "last_name": last,
                "date_of_birth": born, "address": address, "household_phone": landline,
                "mobile": f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}",
                "email": f"{first}.{last}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}",
                "uses_landline": household > 1 and member < 2,
            })
    return people[:count]


def generate_records(count: int, seed: int = 7) -> tuple[list[dict], dict[tuple[str, str], str]]:
    """Canonical person records for ``count`` people, and the truth (record id -> person id)."""
    rng = random.Random(seed + 1)
    records: list[dict] = []
    truth: dict[tuple[str, str], str] = {}
    counters = {"web": 0, "call_center": 0, "store": 0, "csv": 0}
    for person in generate_people(count, seed):
        sources = rng.sample(["web", "call_center", "store", "csv", "csv"], k=rng.choice([1, 2, 2, 3, 3, 4]))
        for source in sources:
            counters[source] += 1
            n = counters[source]
            record_id = {"web": f"user:u{n:05d}", "call_center": f"call{n:05d}", "store": str(n),
                         "csv": f"newsletter__2026.csv:{n}"}[source]
            record = _record_for(rng, person, source, record_id)
            records.append(record)
            truth[(source, record_id)] = person["person_id"]
    return records, truth


def _record_for(rng: random.Random, person: dict, source: str, record_id: str) -> dict:
    address = person["address"]
    street_type = address["street_type"][rng.random() < 0.5]
    phone = person["household_phone"] if person["uses_landline"] else person["mobile"]
    first, last = person["first_name"], person["last_name"]
    if rng.random() < 0.08:
        first = _typo(rng, first)
    if rng.random() < 0.06:
        last = _typo(rng, last)
    email = person["email"]
    if rng.random() < 0.05:
        email = _typo(rng, email.split("@")[0]) + "@" + email.split("@")[1]
    record = {
        "source_system": source, "source_record_id": record_id,
        "first_name": rng.choice([first, first.title(), first.upper()]),
        "last_name": rng.choice([last, last.title(), last.upper()]),
        "date_of_birth": person["date_of_birth"].isoformat(),
        "email": rng.choice([email, email.upper(), f" {email} "]),
        "phone": _phone_formats(rng, phone),
        "street": f"{address['number']} {address['street_name']} {street_type}",
        "city": address["city"], "postcode": address["postcode"], "state": address["state"], "country": "US",
        "web_user_id": record_id[5:] if source == "web" else None,
        "loyalty_card_number": None,
    }
    if source == "call_center":
        for field in ("date_of_birth", "street", "city", "postcode", "state", "country"):
            record[field] = None
        if rng.random() < 0.5:
            record["email"] = None
    if source == "csv":
        for field in ("street", "city", "postcode", "state"):
            if rng.random() < 0.6:
                record[field] = None
        if rng.random() < 0.5:
            record["date_of_birth"] = None
        if rng.random() < 0.4:
            record["phone"] = None
    if source == "store" and rng.random() < 0.2:
        record["email"] = rng.choice(["test@test.com", "", None])
    if source == "web" and rng.random() < 0.3:
        record["phone"] = None
    return record


def write_records_csv(path: Path, records: list[dict]) -> Path:
    """Write canonical records as CSV (columns of the first record)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


def write_truth_csv(path: Path, truth: dict[tuple[str, str], str]) -> Path:
    """Write a ground-truth CSV in the landing-zone format."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_system", "source_record_id", "person_id"])
        for (system, record), person in sorted(truth.items()):
            writer.writerow([system, record, person])
    return path
