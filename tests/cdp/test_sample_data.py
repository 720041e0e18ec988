"""Tests for cdp.sample_data: determinism, documented formats, ground truth and realistic variation."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cdp.sample_data import generate
from cdp.sample_data.call_center import CALL_COLUMNS
from cdp.sample_data.csv_lists import LIST_FORMATS
from cdp.sample_data.noise import PLACEHOLDER_EMAILS, PLACEHOLDER_TEXT
from cdp.sample_data.people import build_population
from cdp.sample_data.vocab import NICKNAMES

RUN_DATE = date(2026, 11, 23)
SEED = 11
CUSTOMERS = 1500
RUN_END = datetime(2026, 11, 24)
WEB_FILE = re.compile(r"^events-(\d{4}-\d{2}-\d{2})-\d{3}\.ndjson\.gz$")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
MESSAGE_TYPES = {"identify", "track", "page", "screen", "group", "alias"}
TRACK_EVENTS = {"Product Viewed", "Product Added", "Order Completed", "Signed Up", "Newsletter Subscribed"}
IDENTIFY_TRAITS = {"email", "phone", "first_name", "last_name", "birthday", "address", "consent"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate(out, CUSTOMERS, SEED, RUN_DATE)


@pytest.fixture(scope="module")
def web_messages(landing: tuple[Path, dict[str, int]]) -> list[dict]:
    """The landing zone's parseable web messages, parsed once for all tests."""
    return _web_messages(landing[0])


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _web_lines(root: Path) -> list[tuple[str, str]]:
    lines = []
    for path in sorted((root / "web").iterdir()):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            lines.extend((path.name, line.rstrip("\n")) for line in handle)
    return lines


def _web_messages(root: Path) -> list[dict]:
    """Every parseable message, with batch envelopes unpacked (envelope context merged in)."""
    messages = []
    for _, line in _web_lines(root):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "batch" in obj:
            messages.extend({"context": obj["context"], **m} for m in obj["batch"])
        else:
            messages.append(obj)
    return messages


def _calls(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "call_center").iterdir()):
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                rows.extend(csv.DictReader(handle))
        else:
            rows.extend(json.loads(path.read_text(encoding="utf-8")))
    return rows


def _csv_lists(root: Path) -> dict[str, list[list[str]]]:
    out = {}
    for path in sorted((root / "csv").iterdir()):
        spec = LIST_FORMATS[path.name.split("__")[0]]
        with path.open(encoding=spec["encoding"], newline="") as handle:
            out[path.name] = list(csv.reader(handle, delimiter=spec["delimiter"]))
    return out


def _truth(root: Path) -> list[dict[str, str]]:
    with (root / "truth" / "ground_truth.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _is_timestamp(value: object) -> bool:
    """True for an RFC 3339 UTC timestamp that names a real instant."""
    if not isinstance(value, str) or not RFC3339_Z.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _digits(phone: str | None) -> str:
    digits = re.sub(r"\D", "", phone or "")
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def test_same_seed_gives_identical_bytes_even_in_another_process(landing, tmp_path):
    root, _ = landing
    other = tmp_path / "again"
    code = ("import sys; from datetime import date; from pathlib import Path; from cdp.sample_data import generate; "
            f"generate(Path(sys.argv[1]), {CUSTOMERS}, {SEED}, date(2026, 11, 23))")
    subprocess.run([sys.executable, "-c", code, str(other)], check=True, env={"PYTHONHASHSEED": "123"},
                   cwd=Path(__file__).resolve().parents[2])
    assert _hashes(other) == _hashes(root)


def test_another_seed_gives_other_data(landing, tmp_path):
    root, _ = landing
    generate(tmp_path, CUSTOMERS, SEED + 1, RUN_DATE)
    assert _hashes(tmp_path)["truth/ground_truth.csv"] != _hashes(root)["truth/ground_truth.csv"]


def test_web_files_follow_the_segment_contract(landing, web_messages):
    root, counts = landing
    names = [p.name for p in (root / "web").iterdir()]
    assert names and all(WEB_FILE.match(n) for n in names)
    assert counts["web_files"] == len(names)
    assert 8 <= counts["web_events"] / CUSTOMERS <= 12
    lines = _web_lines(root)
    broken = 0
    valid = 0
    for _, line in lines:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            broken += 1
            continue
        for message in obj.get("batch", [obj]):
            ok = (message["type"] in MESSAGE_TYPES and "messageId" in message
                  and ("userId" in message or "anonymousId" in message)
                  and all(_is_timestamp(message.get(k)) for k in
                          ("originalTimestamp", "sentAt", "receivedAt", "timestamp"))
                  and (message["type"] != "track" or message.get("event") in TRACK_EVENTS))
            if not ok:
                broken += 1
                continue
            valid += 1
            if message["type"] == "identify":
                assert set(message["traits"]) <= IDENTIFY_TRAITS
            if message["type"] == "page":
                assert set(message["properties"]) == {"url", "path", "title", "referrer"}
            if message.get("event") == "Order Completed":
                assert {"order_id", "revenue", "currency"} <= set(message["properties"])
    assert broken == counts["web_malformed_lines"] > 0
    assert valid == counts["web_events"] + counts["web_duplicate_lines"]
    assert counts["web_batches"] > 0 and sum('"batch":' in line[:10] for _, line in lines) == counts["web_batches"]
    message_ids = [m["messageId"] for m in web_messages]
    assert len(message_ids) > len(set(message_ids))  # exact duplicates are delivered too


def test_landing_pages_carry_campaign_and_skew_is_recoverable(web_messages):
    messages = web_messages
    campaigns = [m["context"]["campaign"] for m in messages if m["type"] == "page" and "campaign" in m["context"]]
    assert campaigns and all(set(c) == {"source", "medium", "name", "term", "content"} for c in campaigns)

    def ms(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")

    skewed = 0
    for m in messages:
        if not all(_is_timestamp(m.get(k)) for k in ("originalTimestamp", "sentAt", "receivedAt")):
            continue
        corrected = ms(m["receivedAt"]) - (ms(m["sentAt"]) - ms(m["originalTimestamp"]))
        assert corrected == ms(m["timestamp"])
        skewed += abs(ms(m["originalTimestamp"]) - ms(m["timestamp"])) > timedelta(seconds=60)
    assert skewed > 0


def test_call_center_exports_are_csv_and_json_with_the_contract_columns(landing):
    root, counts = landing
    files = sorted((root / "call_center").iterdir())
    assert {p.suffix for p in files} == {".csv", ".json"}
    for path in files:
        if path.suffix == ".csv":
            assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(CALL_COLUMNS)
        else:
            assert all(tuple(row) == CALL_COLUMNS for row in json.loads(path.read_text(encoding="utf-8")))
    rows = _calls(root)
    assert len(rows) == counts["call_rows"]
    assert {r["disposition"] for r in rows} == {"resolved", "escalated", "callback", "abandoned", "transferred"}
    abandoned = [r for r in rows if r["disposition"] == "abandoned"]
    assert abandoned and all(not r["answered_at"] for r in abandoned)
    by_call = defaultdict(list)
    for r in rows:
        by_call[r["call_id"]].append(r)
    repeated = [v for v in by_call.values() if len(v) > 1]
    assert repeated and all(len({r["updated_at"] for r in v}) == len(v) for v in repeated)
    asked = [r for r in rows if r["csat"] not in ("", None)]
    assert 0 < len(asked) < len(rows)
    malformed = [r for r in rows if str(r["csat"]) in {"7", "0", "excellent"} or str(r["nps"]) in {"11", "-1"}
                 or not str(r["started_at"]).endswith("Z") or r["ended_at"] == "not recorded"
                 or r["started_at"].startswith("2026-02-30")]
    assert len(malformed) == counts["call_malformed_rows"] > 0


def test_store_database_has_the_contract_tables(landing):
    root, counts = landing
    con = sqlite3.connect(root / "store" / "pos.sqlite")
    columns = {t: [c[1] for c in con.execute(f"PRAGMA table_info({t})")]
               for t in ("customers", "stores", "orders", "order_lines")}
    assert columns["customers"] == ["customer_id", "loyalty_card_number", "first_name", "last_name", "email", "phone",
                                    "birth_date", "street", "city", "postcode", "state", "country",
                                    "is_marketing_opt_in", "created_at", "updated_at"]
    assert columns["stores"] == ["store_id", "store_name", "city", "state", "opened_at", "updated_at"]
    assert columns["orders"] == ["order_id", "customer_id", "store_id", "ordered_at", "status", "total_amount",
                                 "currency", "updated_at"]
    assert columns["order_lines"] == ["order_line_id", "order_id", "product_sku", "product_name", "category",
                                      "quantity", "unit_price", "updated_at"]
    assert con.execute("SELECT count(*) FROM stores").fetchone()[0] == 20
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == counts["store_customers"]
    guests, orders = con.execute("SELECT sum(customer_id IS NULL), count(*) FROM orders").fetchone()
    assert orders == counts["orders"] and 0.05 < guests / orders < 0.3
    assert con.execute("SELECT count(*) FROM order_lines WHERE order_id NOT IN (SELECT order_id FROM orders)"
                       ).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM orders o WHERE abs(total_amount - (SELECT sum(quantity * unit_price) "
                       "FROM order_lines l WHERE l.order_id = o.order_id)) > 0.011").fetchone()[0] == 0
    for table, names in columns.items():
        for column in (c for c in names if c.endswith("_at")):
            values = [v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {table}")]
            assert values and all(re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", v) for v in values), column


def test_csv_lists_have_distinct_encodings_delimiters_and_headers(landing):
    root, counts = landing
    files = {p.name: p.read_bytes() for p in (root / "csv").iterdir()}
    by_type = {name.split("__")[0]: name for name in files}
    assert set(by_type) == {"newsletter", "crm", "event_leads"}
    assert files[by_type["event_leads"]].startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        files[by_type["crm"]].decode("utf-8")  # cp1252 accents are not valid UTF-8
    lists = _csv_lists(root)
    for list_type, name in by_type.items():
        assert tuple(lists[name][0]) == LIST_FORMATS[list_type]["header"]
        assert all(len(row) == len(lists[name][0]) for row in lists[name])
    assert sum(len(rows) - 1 for rows in lists.values()) == counts["csv_rows"]
    crm = lists[by_type["crm"]]
    assert any(row[0] for row in crm[1:])  # B2B contacts carry a company name
    assert all(row[3] or row[4] for row in crm[1:])  # every CRM contact has an email or a phone
    assert any(ch in "".join(row[1] + row[2] for row in crm) for ch in "éëíóúñü")


def test_suppression_targets_real_people(landing):
    root, counts = landing
    people = build_population(CUSTOMERS, SEED, RUN_DATE)
    with (root / "suppression" / "suppression.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == counts["suppression_rows"]
    assert {r["identifier_type"] for r in rows} == {"email", "phone", "customer_id"}
    assert {r["reason"] for r in rows} <= {"erasure", "opt_out"} and len({r["reason"] for r in rows}) == 2
    emails, phones = set(people.email), {f"+1{m}" for m in people.mobile}
    assert all(r["identifier"] in emails for r in rows if r["identifier_type"] == "email")
    assert all(r["identifier"] in phones for r in rows if r["identifier_type"] == "phone")


def test_ground_truth_covers_exactly_every_person_record(landing, web_messages):
    root, counts = landing
    truth = _truth(root)
    keys = [(t["source_system"], t["source_record_id"]) for t in truth]
    assert len(keys) == len(set(keys)) == counts["truth_rows"]
    expected = set()
    for m in web_messages:
        if m.get("userId"):
            expected.add(("web", f"user:{m['userId']}"))
        if m.get("anonymousId"):
            expected.add(("web", f"anon:{m['anonymousId']}"))
    expected |= {("call_center", r["call_id"]) for r in _calls(root)}
    con = sqlite3.connect(root / "store" / "pos.sqlite")
    expected |= {("store", str(c)) for (c,) in con.execute("SELECT customer_id FROM customers")}
    for name, rows in _csv_lists(root).items():
        expected |= {("csv", f"{name}:{n}") for n in range(1, len(rows))}
    assert set(keys) == expected
    person_ids = {t["person_id"] for t in truth}
    assert person_ids <= {f"P{i:07d}" for i in range(1, CUSTOMERS + 1)} and len(person_ids) == CUSTOMERS


def test_same_people_appear_across_sources(landing):
    systems = defaultdict(set)
    for t in _truth(landing[0]):
        systems[t["person_id"]].add(t["source_system"])
    spread = [len(s) for s in systems.values()]
    assert sum(n >= 2 for n in spread) > CUSTOMERS * 0.4
    assert sum(n == 4 for n in spread) > 0


def test_records_vary_like_real_data(landing, web_messages):
    root, _ = landing
    people = build_population(CUSTOMERS, SEED, RUN_DATE)
    index = {pid: i for i, pid in enumerate(people.person_id)}
    owner = {(t["source_system"], t["source_record_id"]): index[t["person_id"]] for t in _truth(root)}
    con = sqlite3.connect(root / "store" / "pos.sqlite")
    store = con.execute("SELECT customer_id, first_name, last_name, email, phone, street FROM customers").fetchall()
    calls = _calls(root)
    named = [(owner["store", str(r[0])], r[1]) for r in store]
    named += [(owner["call_center", c["call_id"]], c["caller_first_name"]) for c in calls]
    nicknamed = [n for i, n in named if n and n.strip() in NICKNAMES.get(people.first_name[i], ())]
    assert nicknamed, "some records should use a nickname (Bob for Robert)"
    swapped = [n for i, n in named if n and n.strip() == people.last_name[i] != people.first_name[i]]
    assert swapped, "some records should have first and last name swapped"

    phones = [r[4] for r in store if r[4]] + [c["caller_phone"] for c in calls if c["caller_phone"]]
    for pattern in (r"^\(\d{3}\) \d{3}-\d{4}$", r"^\d{3}\.\d{3}\.\d{4}$", r"^\+1 \d{3} \d{3} \d{4}$", r"^\d{10}$"):
        assert any(re.match(pattern, p) for p in phones), pattern
    assert any(_digits(p) in {"0000000000", "1111111111", "5555555555", "1234567890"} for p in phones)

    streets = " ".join(r[5] for r in store if r[5])
    assert re.search(r"\bStreet\b", streets) and re.search(r"\bSt\b", streets)
    assert re.search(r"\bAvenue\b", streets) and re.search(r"\bAve\b", streets)
    movers = [r for r in store if people.previous_address[owner["store", str(r[0])]] is not None]
    assert any(people.previous_address[owner["store", str(r[0])]].street_name in (r[5] or "") for r in movers)

    emails = [r[3] for r in store if r[3]]
    assert any(e != e.strip() for e in emails) and any(e.strip() != e.strip().lower() for e in emails)
    all_emails = emails + [c["caller_email"] for c in calls]
    all_emails += [m["traits"].get("email", "") for m in web_messages if m["type"] == "identify"]
    assert any(e.strip() in PLACEHOLDER_EMAILS for e in all_emails)
    assert any(n and n.strip() in PLACEHOLDER_TEXT for _, n in named)


def test_households_share_address_and_landline_but_not_identity(landing):
    root, _ = landing
    people = build_population(CUSTOMERS, SEED, RUN_DATE)
    households = defaultdict(list)
    for i, h in enumerate(people.household_id.tolist()):
        if h >= 0:
            households[h].append(i)
    sharing = [m for m in households.values() if len(m) > 1 and people.landline[m[0]]]
    assert sharing
    for members in sharing:
        assert len({people.landline[i] for i in members}) == 1
        assert len({people.address[i] for i in members}) == 1
        assert len({people.first_name[i] for i in members}) == len(members)
    # In the source data, one landline number is used by records of different real people.
    owner = {(t["source_system"], t["source_record_id"]): t["person_id"] for t in _truth(root)}
    landlines = {people.landline[i] for m in sharing for i in m}
    users = defaultdict(set)
    for c in _calls(root):
        if _digits(c["caller_phone"]) in landlines:
            users[_digits(c["caller_phone"])].add(owner["call_center", c["call_id"]])
    con = sqlite3.connect(root / "store" / "pos.sqlite")
    for customer_id, phone in con.execute("SELECT customer_id, phone FROM customers"):
        if _digits(phone) in landlines:
            users[_digits(phone)].add(owner["store", str(customer_id)])
    assert any(len(p) > 1 for p in users.values())


def test_anonymous_visitors_identify_later_and_some_never_do(web_messages):
    by_anonymous = defaultdict(list)
    aliases = 0
    for m in web_messages:
        if m.get("anonymousId") and _is_timestamp(m.get("timestamp")):
            by_anonymous[m["anonymousId"]].append(m)
        aliases += m["type"] == "alias" and bool(m.get("previousId")) and bool(m.get("userId"))
    assert aliases > 0
    identified_later = 0
    never = 0
    for messages in by_anonymous.values():
        messages.sort(key=lambda m: m["timestamp"])
        if not any(m.get("userId") for m in messages):
            never += 1
        elif not messages[0].get("userId") and any(m["type"] == "identify" and m.get("userId") for m in messages):
            identified_later += 1
    assert identified_later > 0 and never > 0


def _anonymous_links(messages: list[dict]) -> dict[str, set[str]]:
    """anonymousId -> userIds an identify (both ids) or alias (previousId -> userId) ties it to."""
    links = defaultdict(set)
    for m in messages:
        if not (m.get("userId") and _is_timestamp(m.get("timestamp"))):
            continue  # evidence must come from a well-formed message
        if m["type"] == "identify" and m.get("anonymousId"):
            links[m["anonymousId"]].add(m["userId"])
        if m["type"] == "alias" and m.get("previousId"):
            links[m["previousId"]].add(m["userId"])
    return links


def _web_ids_by_person(root: Path) -> dict[str, dict[str, set[str]]]:
    """person_id -> {"anon": anonymousIds, "user": userIds, "other": non-web record ids}, from the truth only."""
    people = defaultdict(lambda: {"anon": set(), "user": set(), "other": set()})
    for t in _truth(root):
        kind, _, value = t["source_record_id"].partition(":")
        if t["source_system"] == "web" and kind in ("anon", "user"):
            people[t["person_id"]][kind].add(value)
        else:
            people[t["person_id"]]["other"].add((t["source_system"], t["source_record_id"]))
    return people


def test_every_anonymous_id_of_a_known_person_is_linked_by_identify_or_alias(landing, web_messages):
    links = _anonymous_links(web_messages)
    checked = 0
    for person_id, ids in _web_ids_by_person(landing[0]).items():
        if not ids["anon"] or len(ids["anon"]) + len(ids["user"]) + len(ids["other"]) < 2:
            continue
        assert len(ids["user"]) == 1, f"{person_id} has anonymousIds and other records but {len(ids['user'])} userIds"
        for anonymous_id in ids["anon"]:
            assert links[anonymous_id] == ids["user"], (
                f"{person_id}: anonymousId {anonymous_id} is tied to {links[anonymous_id] or 'no userId'}, "
                f"expected {ids['user']}")
            checked += 1
    assert checked > CUSTOMERS * 0.5


def test_never_identified_visitors_are_web_only_prospects_with_one_anonymous_id(landing, web_messages):
    links = _anonymous_links(web_messages)
    by_person = _web_ids_by_person(landing[0])
    prospects = {p for p, ids in by_person.items() if ids["anon"] and not any(a in links for a in ids["anon"])}
    assert all(len(by_person[p]["anon"]) == 1 and not by_person[p]["user"] and not by_person[p]["other"]
               for p in prospects)
    prospect_ids = {a for p in prospects for a in by_person[p]["anon"]}
    all_anonymous = sum(len(ids["anon"]) for ids in by_person.values())
    assert 0.2 <= len(prospect_ids) / all_anonymous <= 0.3
    seen = [m for m in web_messages if m.get("anonymousId") in prospect_ids]
    assert seen and not any(m.get("userId") for m in seen)
    assert {m["type"] for m in seen} <= {"page", "screen", "track"}
    assert {m["event"] for m in seen if m["type"] == "track"} <= {"Product Viewed", "Product Added"}


def test_dates_are_relative_to_the_run_date(landing, web_messages):
    root, _ = landing
    web_days = {WEB_FILE.match(p.name).group(1) for p in (root / "web").iterdir()}
    assert max(web_days) == RUN_DATE.isoformat()
    assert min(web_days) >= (RUN_DATE - timedelta(days=61)).isoformat()
    stamps = [datetime.strptime(m[k], "%Y-%m-%dT%H:%M:%S.%fZ") for m in web_messages
              for k in ("originalTimestamp", "sentAt", "receivedAt", "timestamp")
              if _is_timestamp(m.get(k))]
    assert max(stamps) < RUN_END
    call_starts = [datetime.strptime(c["started_at"], "%Y-%m-%dT%H:%M:%SZ") for c in _calls(root)
                   if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", c["started_at"])
                   and not c["started_at"].startswith("2026-02-30")]
    assert RUN_END - timedelta(days=181) < min(call_starts) and max(call_starts) < RUN_END
    assert (root / "call_center" / f"calls-{RUN_DATE.isoformat()}.csv").exists()
    con = sqlite3.connect(root / "store" / "pos.sqlite")
    first, last, newest_update = con.execute("SELECT min(ordered_at), max(ordered_at), max(updated_at) FROM orders"
                                             ).fetchone()
    assert first >= str(RUN_DATE - timedelta(days=731)) and last < str(RUN_END) and newest_update < str(RUN_END)
    month_ago, year_ago = str(RUN_DATE - timedelta(days=30)), str(RUN_DATE - timedelta(days=365))
    lapsed = con.execute("SELECT count(*) FROM (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL "
                         "GROUP BY 1 HAVING max(ordered_at) < ?)", (year_ago,)).fetchone()[0]
    repeat = con.execute("SELECT count(*) FROM (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL "
                         "GROUP BY 1 HAVING count(*) >= 4)").fetchone()[0]
    new = con.execute("SELECT count(*) FROM customers c WHERE created_at >= ? AND EXISTS "
                      "(SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)", (month_ago,)).fetchone()[0]
    assert lapsed > 0 and repeat > 0 and new > 0


def test_rerun_with_a_later_run_date_replaces_the_previous_files(tmp_path):
    generate(tmp_path, 150, 3, RUN_DATE)
    later = RUN_DATE + timedelta(days=90)
    counts = generate(tmp_path, 150, 3, later)
    web_days = {WEB_FILE.match(p.name).group(1) for p in (tmp_path / "web").iterdir()}
    assert min(web_days) >= (later - timedelta(days=61)).isoformat()
    assert not list((tmp_path / "csv").glob(f"*{RUN_DATE.isoformat()}*"))
    assert len(_truth(tmp_path)) == counts["truth_rows"]


def test_rejects_an_empty_population(tmp_path):
    with pytest.raises(ValueError, match="customers must be at least 1"):
        generate(tmp_path, 0, 1, RUN_DATE)


def test_contact_details_are_unique_unless_shared_on_purpose():
    people = build_population(3000, 5, RUN_DATE)
    assert len(set(people.mobile)) == len(people)
    assert not set(people.mobile) & {p for p in people.landline if p}
    work = [e for e in people.work_email if e]
    assert work and len(set(work)) == len(work)
    households_by_email = defaultdict(set)
    for email, household in zip(people.email, people.household_id.tolist(), strict=True):
        households_by_email[email].add(household)
    shared = [e for e, n in Counter(people.email).items() if n > 1]
    # The only shared personal inboxes are a few couples' family addresses.
    assert shared and all(len(households_by_email[e]) == 1 and -1 not in households_by_email[e] for e in shared)
