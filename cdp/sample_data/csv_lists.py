"""Marketing and CRM contact lists, each list type with its own headers, encoding and delimiter.

Ingestion maps these headers in ``ingestion/mappings/<list_type>.yml``; the constants below are
the exact header rows written (in this column order).

| list type | file name | encoding | delimiter | dates |
|---|---|---|---|---|
| ``newsletter`` | ``newsletter__<run_date>.csv`` | UTF-8 (no BOM) | ``,`` (every field quoted) | ``Signup Date`` = ``YYYY-MM-DD HH:MM:SS`` UTC; ``Opt-in`` = ``yes``/``no`` |
| ``crm`` | ``crm__accounts-<run_date>.csv`` | cp1252 (accented names: José, Zoë, Müller) | ``;`` | ``Birthdate`` = ``MM/DD/YYYY``; opt-ins ``Y``/``N``/empty; ``Last Modified`` = ``MM/DD/YYYY HH:MM`` |
| ``event_leads`` | ``event_leads__webinar-<event date>.csv`` | UTF-8 with BOM | tab | ``Registered At`` = ``YYYY-MM-DDTHH:MM:SSZ``; ``Marketing Consent`` = ``TRUE``/``FALSE`` |

Lines end with CRLF (spreadsheet exports) and no field contains a line break, so the n-th data
row is the n-th line after the header: ``contact_id`` = ``<file name>:<n>``.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cdp.sample_data.noise import Noise, format_phone
from cdp.sample_data.people import Population
from cdp.sample_data.vocab import JOB_TITLES
from cdp.sample_data.writers import TimeFormatter, TruthWriter, epoch_seconds

NEWSLETTER_HEADER: tuple[str, ...] = ("Email Address", "First Name", "Last Name", "Opt-in", "Signup Date", "ZIP Code")
CRM_HEADER: tuple[str, ...] = (
    "Account Name", "Contact First Name", "Contact Last Name", "E-mail", "Phone", "Mailing Street",
    "Mailing City", "Mailing State", "Mailing Zip", "Mailing Country", "Birthdate", "Email Opt In",
    "SMS Opt In", "Ads Opt In", "Account Owner", "Last Modified",
)
EVENT_LEADS_HEADER: tuple[str, ...] = (
    "Attendee Email", "Given Name", "Family Name", "Mobile Number", "Organization", "Job Title",
    "Postal Code", "Marketing Consent", "Registered At", "Session Attended",
)
LIST_FORMATS: dict[str, dict[str, Any]] = {
    "newsletter": {"header": NEWSLETTER_HEADER, "encoding": "utf-8", "delimiter": ","},
    "crm": {"header": CRM_HEADER, "encoding": "cp1252", "delimiter": ";"},
    "event_leads": {"header": EVENT_LEADS_HEADER, "encoding": "utf-8-sig", "delimiter": "\t"},
}
_ACCOUNT_OWNERS = ("Dana Whitfield", "Marcus Lee", "Priya Natarajan", "Tom Okafor")
_WEBINAR_SESSIONS = ("Holiday Merchandising 101", "Loyalty Program Deep Dive", "B2B Gifting Made Easy")


def write_csv_lists(out_dir: Path, population: Population, seed: int, run_date: date,
                    truth: TruthWriter) -> dict[str, int]:
    """Write the three ``csv/<list_type>__*.csv`` lists and their truth rows; returns row counts."""
    folder = out_dir / "csv"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:csv")
    noise = Noise(rng)
    fmt = TimeFormatter()
    end = epoch_seconds(run_date) + 86_400
    webinar_day = run_date - timedelta(days=26)
    counts = {
        "csv_newsletter_rows": _write_list(
            folder / f"newsletter__{run_date.isoformat()}.csv", "newsletter", population, truth, rng,
            lambda i: _newsletter_rows(rng, noise, fmt, population, i, end)),
        "csv_crm_rows": _write_list(
            folder / f"crm__accounts-{run_date.isoformat()}.csv", "crm", population, truth, rng,
            lambda i: _crm_rows(rng, noise, population, i, end)),
        "csv_event_leads_rows": _write_list(
            folder / f"event_leads__webinar-{webinar_day.isoformat()}.csv", "event_leads", population, truth, rng,
            lambda i: _event_lead_rows(rng, noise, fmt, population, i, epoch_seconds(webinar_day))),
    }
    counts["csv_rows"] = sum(counts.values())
    counts["csv_files"] = 3
    return counts


def _write_list(path: Path, list_type: str, people: Population, truth: TruthWriter, rng: random.Random,
                rows_for: Any) -> int:
    members = people.in_source[list_type].nonzero()[0].tolist()
    rng.shuffle(members)  # list order never follows person order
    spec = LIST_FORMATS[list_type]
    quoting = csv.QUOTE_ALL if list_type == "newsletter" else csv.QUOTE_MINIMAL
    row_number = 0
    with path.open("w", encoding=spec["encoding"], newline="") as handle:
        writer = csv.writer(handle, delimiter=spec["delimiter"], quoting=quoting, lineterminator="\r\n")
        writer.writerow(spec["header"])
        for i in members:
            for row in rows_for(i):
                writer.writerow(row)
                row_number += 1
                truth.add("csv", f"{path.name}:{row_number}", people.person_id[i])
    return row_number


def _newsletter_rows(rng: random.Random, noise: Noise, fmt: TimeFormatter, people: Population, i: int,
                     end: int) -> list[tuple[str, ...]]:
    rows = []
    for copy in range(2 if rng.random() < 0.02 else 1):  # some people subscribe twice
        email = noise.email(people.email[i])
        if copy:
            email = email.upper() if rng.random() < 0.5 else f" {email}"
        first = noise.first_name(people.first_name[i], nickname=0.15, accent=0.2) if rng.random() < 0.65 else ""
        last = noise.last_name(people.last_name[i], accent=0.2) if rng.random() < 0.55 else ""
        signup = end - rng.randint(3600, 3 * 365 * 86_400)
        zip_code = noise.postcode(people.address[i].zip_code) if rng.random() < 0.4 else ""
        rows.append((email, first, last, "yes" if rng.random() < 0.92 else "no", fmt.sql(signup), zip_code))
    return rows


def _company_phone(company: str) -> str:
    # One main line per company: colleagues at the same firm share it in the CRM.
    number = sum(ord(c) * (k + 1) for k, c in enumerate(company)) % 9_000_000 + 1_000_000
    return f"800{number:07d}"


def _crm_rows(rng: random.Random, noise: Noise, people: Population, i: int, end: int) -> list[tuple[str, ...]]:
    company = people.company[i]
    email_source = people.work_email[i] if company and rng.random() < 0.7 else people.email[i]
    if company and rng.random() < 0.3:
        phone = format_phone(_company_phone(company), rng)
    else:
        phone = noise.phone(people.landline[i] or people.mobile[i]) if rng.random() < 0.85 else ""
    address = people.previous_address[i] if people.previous_address[i] and rng.random() < 0.7 else people.address[i]
    street = noise.street(address.number, address.street_name, address.suffix_index, address.direction_index,
                          address.unit)
    birth = ""
    if rng.random() < 0.4:
        year, month, day = people.birth_date[i].split("-")
        birth = f"{month}/{day}/{year}"
    modified = end - rng.randint(3600, 900 * 86_400)
    modified_text = date.fromordinal(date(1970, 1, 1).toordinal() + modified // 86_400).strftime("%m/%d/%Y")
    modified_text += f" {modified % 86_400 // 3600:02d}:{modified % 3600 // 60:02d}"

    def opt_in() -> str:
        return rng.choices(("Y", "N", ""), (50, 30, 20))[0]

    email = noise.email(email_source) if rng.random() < 0.9 else ""
    if not email and not phone:
        # The CRM refuses a contact with no way to reach them, so one of the two is always there.
        phone = noise.phone(people.mobile[i])
    return [(
        company,
        noise.first_name(people.first_name[i], nickname=0.1, accent=0.95),
        noise.last_name(people.last_name[i], accent=0.95),
        email,
        phone,
        street,
        address.city,
        address.state,
        noise.postcode(address.zip_code),
        rng.choices(("United States", "US", "USA", ""), (60, 20, 15, 5))[0],
        birth,
        opt_in(), opt_in(), opt_in(),
        rng.choice(_ACCOUNT_OWNERS),
        modified_text,
    )]


def _event_lead_rows(rng: random.Random, noise: Noise, fmt: TimeFormatter, people: Population, i: int,
                     event_day_start: int) -> list[tuple[str, ...]]:
    company = people.company[i]
    email_source = people.work_email[i] if company and rng.random() < 0.8 else people.email[i]
    registered = event_day_start - rng.randint(3600, 30 * 86_400)
    return [(
        noise.email(email_source),
        noise.first_name(people.first_name[i], nickname=0.2, accent=0.1),
        noise.last_name(people.last_name[i], accent=0.1),
        noise.phone(people.mobile[i]) if rng.random() < 0.5 else "",
        company or ("" if rng.random() < 0.7 else noise.placeholder_text("Self-employed", 0.3)),
        rng.choice(JOB_TITLES) if company else "",
        noise.postcode(people.address[i].zip_code) if rng.random() < 0.6 else "",
        "TRUE" if rng.random() < 0.55 else "FALSE",
        fmt.iso_z(registered),
        rng.choice(_WEBINAR_SESSIONS),
    )]
