"""The true population behind every source record: one row per real person.

Everything here is the *truth*; the source writers derive their (noisy) records from it.
Arrays are drawn with numpy in one go so a million people take seconds; per-person values are
then exposed as plain Python lists because the writers read them one record at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from cdp.sample_data.vocab import (
    CITIES,
    COMPANIES,
    COMPANY_KINDS,
    COMPANY_PREFIXES,
    FEMALE_FIRST_NAMES,
    FREE_EMAIL_DOMAINS,
    FREE_EMAIL_WEIGHTS,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    STREET_NAMES,
    STREET_SUFFIX_WEIGHTS,
    STREET_SUFFIXES,
)

# Share of people present in each source (a person may be in several).
PRESENCE = {"web": 0.70, "store": 0.45, "calls": 0.20, "newsletter": 0.18, "crm": 0.02, "event_leads": 0.04}
HOUSEHOLD_SHARE = 0.06  # share of people heading a multi-person household
MOVER_SHARE = 0.09  # share of people with a previous address still held by older records
B2B_SHARE = 0.07  # share of people who are also a business contact in the CRM


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address in parts, so each source can format the street line its own way."""

    number: int
    street_name: str
    suffix_index: int
    direction_index: int  # -1 when the street has no directional prefix
    unit: str
    city: str
    state: str
    zip_code: str


@dataclass
class Population:
    """The true identities; index ``i`` is one person in every list."""

    person_id: list[str]
    first_name: list[str]
    last_name: list[str]
    birth_date: list[str]
    email: list[str]
    mobile: list[str]
    landline: list[str]  # "" when the person has no landline
    household_id: np.ndarray  # -1 when the person lives alone
    address: list[Address]
    previous_address: list[Address | None]
    company: list[str]  # "" for consumers
    work_email: list[str]
    in_source: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.person_id)


def _weights(count: int, flatness: float) -> np.ndarray:
    # Zipf-like popularity: a few common values, a long tail, as with real names and cities.
    weights = 1.0 / (np.arange(count) + flatness)
    return weights / weights.sum()


def _addresses(rng: np.random.Generator, count: int, city_index: np.ndarray) -> list[Address]:
    numbers = np.exp(rng.uniform(0.5, 9.6, count)).astype(np.int64) + 1
    streets = rng.integers(0, len(STREET_NAMES), count)
    suffix_p = np.array(STREET_SUFFIX_WEIGHTS) / sum(STREET_SUFFIX_WEIGHTS)
    suffixes = rng.choice(len(STREET_SUFFIXES), count, p=suffix_p)
    directions = np.where(rng.random(count) < 0.12, rng.integers(0, 4, count), -1)
    has_unit = rng.random(count) < 0.22
    unit_numbers = rng.integers(1, 40, count)
    unit_letters = rng.choice(list("ABCD"), count)
    zips = rng.integers(0, 100, count)
    out = []
    for i in range(count):
        city, state, prefix, _ = CITIES[city_index[i]]
        unit = ""
        if has_unit[i]:
            unit = f"{unit_numbers[i]}{unit_letters[i]}" if unit_numbers[i] % 3 == 0 else str(unit_numbers[i])
        out.append(Address(int(numbers[i]), STREET_NAMES[streets[i]], int(suffixes[i]), int(directions[i]),
                           unit, city, state, f"{prefix}{zips[i]:02d}"))
    return out


def _phones(rng: np.random.Generator, count: int, city_index: np.ndarray, taken: set[int]) -> list[str]:
    # Seven-digit subscriber numbers drawn without replacement, so two people never share a
    # number by accident: every shared phone in the data is a deliberate household landline.
    subscribers = rng.choice(8_000_000, count + len(taken), replace=False) + 2_000_000
    area_pick = rng.random(count)
    out = []
    j = 0
    for i in range(count):
        while int(subscribers[j]) in taken:
            j += 1
        codes = CITIES[city_index[i]][3]
        out.append(codes[int(area_pick[i] * len(codes))] + str(int(subscribers[j])))
        j += 1
    return out


def _email_local(first: str, last: str, rng_value: float, number: int) -> str:
    f, last_clean = first.lower(), last.lower().replace("'", "").replace(" ", "")
    patterns = (f"{f}.{last_clean}", f"{f}{last_clean}", f"{f[0]}{last_clean}", f"{f}.{last_clean}{number % 100:02d}",
                f"{f}{last_clean}{number % 1000}", f"{last_clean}.{f}", f"{f}_{last_clean}", f"{f}{number % 100:02d}")
    return patterns[int(rng_value * len(patterns))]


def build_population(customers: int, seed: int, run_date: date) -> Population:
    """Draw ``customers`` true people (names, birth dates, contacts, households, moves, sources)."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    rng = np.random.default_rng([seed, 1])
    n = customers
    is_female = rng.random(n) < 0.51
    male = rng.choice(len(MALE_FIRST_NAMES), n, p=_weights(len(MALE_FIRST_NAMES), 25))
    female = rng.choice(len(FEMALE_FIRST_NAMES), n, p=_weights(len(FEMALE_FIRST_NAMES), 25))
    first = [FEMALE_FIRST_NAMES[female[i]] if is_female[i] else MALE_FIRST_NAMES[male[i]] for i in range(n)]
    last_index = rng.choice(len(LAST_NAMES), n, p=_weights(len(LAST_NAMES), 15))
    last = [LAST_NAMES[k] for k in last_index]
    age_days = rng.integers(18 * 365, 86 * 365, n)
    birth_ordinal = run_date.toordinal() - age_days
    city_index = rng.choice(len(CITIES), n, p=_weights(len(CITIES), 4))
    address = _addresses(rng, n, city_index)
    mobile = _phones(rng, n, city_index, set())
    mobile_subscribers = {int(m[3:]) for m in mobile}
    landline_candidates = _phones(rng, n, city_index, mobile_subscribers)
    has_landline = rng.random(n) < 0.18
    landline = [landline_candidates[i] if has_landline[i] else "" for i in range(n)]

    # Households: a head plus members (1.5 on average) who share the address and landline, usually the last
    # name, but never the first name or birth date (the over-merge trap for identity).
    household_id = np.full(n, -1, dtype=np.int64)
    order = rng.permutation(n)
    heads = order[: int(n * HOUSEHOLD_SHARE)]
    members = order[len(heads) : len(heads) + int(len(heads) * 1.5)]
    share_email = rng.random(len(heads)) < 0.03
    shared_email_pairs: list[tuple[int, int]] = []
    if len(heads):
        member_head = heads[rng.integers(0, len(heads), len(members))]
        household_id[heads] = np.arange(len(heads))
        keep_last = rng.random(len(members)) < 0.85
        head_position = {int(h): k for k, h in enumerate(heads)}
        household_names: dict[int, set[str]] = {}
        # Most family homes keep a landline that every member gives out.
        for h, keeps_landline in zip(heads.tolist(), (rng.random(len(heads)) < 0.7).tolist(), strict=True):
            if keeps_landline:
                landline[h] = landline_candidates[h]
        for k, (m, h) in enumerate(zip(members.tolist(), member_head.tolist(), strict=True)):
            household_id[m] = household_id[h]
            if keep_last[k]:
                last[m] = last[h]
            taken = household_names.setdefault(h, {first[h]})
            pool = FEMALE_FIRST_NAMES if is_female[m] else MALE_FIRST_NAMES
            step = 0
            while first[m] in taken:
                step += 1
                first[m] = pool[(int(female[m] if is_female[m] else male[m]) + 7 * step) % len(pool)]
            taken.add(first[m])
            address[m] = address[h]
            city_index[m] = city_index[h]
            landline[m] = landline[h]
            if share_email[head_position[h]]:
                share_email[head_position[h]] = False  # one shared inbox per household is plenty
                shared_email_pairs.append((h, m))

    domain_p = np.array(FREE_EMAIL_WEIGHTS) / sum(FREE_EMAIL_WEIGHTS)
    domains = rng.choice(len(FREE_EMAIL_DOMAINS), n, p=domain_p)
    pattern_pick = rng.random(n)
    numbers = rng.integers(0, 100_000, n)
    emails: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        local = _email_local(first[i], last[i], pattern_pick[i], int(numbers[i]))
        candidate = f"{local}@{FREE_EMAIL_DOMAINS[domains[i]]}"
        bump = 1
        while candidate in seen:
            candidate = f"{local}{bump}@{FREE_EMAIL_DOMAINS[domains[i]]}"
            bump += 1
        seen.add(candidate)
        emails.append(candidate)
    for head, member in shared_email_pairs:
        emails[member] = emails[head]

    # Movers: older records (store sign-up, CRM) still hold where they used to live.
    moved = rng.random(n) < MOVER_SHARE
    other_city = np.where(rng.random(n) < 0.4, rng.choice(len(CITIES), n, p=_weights(len(CITIES), 4)), city_index)
    old_addresses = _addresses(rng, n, other_city)
    previous = [old_addresses[i] if moved[i] else None for i in range(n)]

    is_b2b = rng.random(n) < B2B_SHARE
    curated = rng.random(n) < 0.3
    company_pick = rng.integers(0, len(COMPANIES), n)
    prefix_pick = rng.integers(0, len(COMPANY_PREFIXES), n)
    kind_pick = rng.integers(0, len(COMPANY_KINDS), n)
    company = [""] * n
    work_email = [""] * n
    for i in is_b2b.nonzero()[0].tolist():
        company[i] = (COMPANIES[company_pick[i]] if curated[i]
                      else f"{COMPANY_PREFIXES[prefix_pick[i]]} {COMPANY_KINDS[kind_pick[i]]}")
        local = first[i][0].lower() + last[i].lower().replace("'", "").replace(" ", "")
        candidate, bump = f"{local}@{_domain_of(company[i])}", 1
        while candidate in seen:  # two J. Smiths at one firm get jsmith@ and jsmith2@
            bump += 1
            candidate = f"{local}{bump}@{_domain_of(company[i])}"
        seen.add(candidate)
        work_email[i] = candidate

    in_source = {name: rng.random(n) < share for name, share in PRESENCE.items()}
    in_source["crm"] |= is_b2b & (rng.random(n) < 0.85)
    in_source["event_leads"] |= is_b2b & (rng.random(n) < 0.3)
    nowhere = ~np.logical_or.reduce(list(in_source.values()))
    in_source["web"] |= nowhere

    epoch = date(1970, 1, 1).toordinal()
    birth_dates = np.datetime_as_string((birth_ordinal - epoch).astype("datetime64[D]")).tolist()
    return Population(
        person_id=[f"P{i + 1:07d}" for i in range(n)],
        first_name=first,
        last_name=last,
        birth_date=birth_dates,
        email=emails,
        mobile=mobile,
        landline=landline,
        household_id=household_id,
        address=address,
        previous_address=previous,
        company=company,
        work_email=work_email,
        in_source=in_source,
    )


def _domain_of(company: str) -> str:
    slug = "".join(ch for ch in company.lower() if ch.isalnum())
    return f"{slug[:20]}.com"


def run_day_bounds(run_date: date) -> tuple[int, int]:
    """(start, end) of the run date in epoch seconds; generated timestamps stay below ``end``."""
    start = (run_date - date(1970, 1, 1)).days * 86400
    return start, start + 86400
