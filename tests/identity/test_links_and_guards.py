"""Deterministic rules and every clustering guard, including the household trap."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
from id_raw_tables import add_call, add_store_customer, add_web_event, add_web_identify, create_raw_tables

from cdp.warehouse import connect
from identity.cluster import (
    _build_record_name_groups,
    cluster,
    dates_conflict,
    dob_conflict_sql,
    first_name_conflict_sql,
    name_columns_sql,
    rebuild_component,
)
from identity.deterministic import build_deterministic_links
from identity.pipeline import resolve_warehouse
from identity.probabilistic import create_splink_input, splink_scratch
from identity.schema import PERSON_RECORD_COLUMNS


def _records(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind in PERSON_RECORD_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE recs ({columns}, name_suffix VARCHAR, first_name_canonical VARCHAR)")
    for row in rows:
        row = {"first_name_canonical": row.get("first_name"), **row}
        con.execute(
            f"INSERT INTO recs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
        )
    return "recs"


def _cluster(rows: list[dict], max_cluster_size: int = 25, web_events: str | None = None,
             con: duckdb.DuckDBPyConnection | None = None) -> tuple[dict[str, str], list[tuple]]:
    con = con or duckdb.connect()
    table = _records(con, rows)
    build_deterministic_links(con, table, max_cluster_size, web_events)
    cluster(con, table, threshold=0.95, max_cluster_size=max_cluster_size)
    clusters = dict(con.execute("SELECT record_key, cluster_key FROM clusters").fetchall())
    links = con.execute(
        "SELECT record_key_l, record_key_r, rule, rejected_reason FROM candidate_links ORDER BY ALL"
    ).fetchall()
    return clusters, links


def _same(clusters: dict[str, str], *keys: str) -> bool:
    return len({clusters[key] for key in keys}) == 1


def test_same_email_links_and_records_the_rule() -> None:
    clusters, links = _cluster([
        {"source_system": "csv", "source_record_id": "1", "first_name": "ann", "email": "ann@x.com"},
        {"source_system": "store", "source_record_id": "2", "first_name": "ann", "email": "ann@x.com"},
        {"source_system": "store", "source_record_id": "3", "first_name": "bob", "email": "bob@x.com"},
    ])
    assert _same(clusters, "csv|1", "store|2")
    assert not _same(clusters, "csv|1", "store|3")
    assert links == [("csv|1", "store|2", "email", None)]


def test_household_trap_shared_phone_is_not_enough() -> None:
    """Two people at one address with one landline and one surname stay two customers."""
    home = {"last_name": "garcia", "phone": "+12125550100", "street": "1 elm st", "postcode": "62701"}
    clusters, links = _cluster([
        {"source_system": "store", "source_record_id": "1", "first_name": "maria",
         "date_of_birth": date(1970, 5, 1), **home},
        {"source_system": "store", "source_record_id": "2", "first_name": "jose",
         "date_of_birth": date(1968, 9, 30), **home},
        # A call from the landline by someone who gives no birth date but a different name.
        {"source_system": "call_center", "source_record_id": "c1", "first_name": "jose", "last_name": "garcia",
         "phone": "+12125550100"},
    ])
    assert not _same(clusters, "store|1", "store|2")
    assert not _same(clusters, "store|1", "call_center|c1")
    assert _same(clusters, "store|2", "call_center|c1")
    reasons = {(left, right): reason for left, right, _rule, reason in links}
    assert reasons[("store|1", "store|2")] == "conflicting_birth_dates"
    assert reasons[("call_center|c1", "store|1")] == "conflicting_first_names"


def test_shared_family_email_with_different_birth_dates_is_refused() -> None:
    clusters, links = _cluster([
        {"source_system": "csv", "source_record_id": "1", "first_name": "sam", "email": "smiths@x.com",
         "date_of_birth": date(1980, 1, 1)},
        {"source_system": "csv", "source_record_id": "2", "first_name": "samantha", "email": "smiths@x.com",
         "date_of_birth": date(1982, 6, 6)},
    ])
    assert not _same(clusters, "csv|1", "csv|2")
    assert links[0][3] == "conflicting_birth_dates"


def test_typo_in_birth_date_or_short_first_name_is_not_a_conflict() -> None:
    clusters, _links = _cluster([
        {"source_system": "csv", "source_record_id": "1", "first_name": "sam", "email": "sam@x.com",
         "date_of_birth": date(1980, 3, 4)},
        {"source_system": "csv", "source_record_id": "2", "first_name": "samuel", "email": "sam@x.com",
         "date_of_birth": date(1980, 4, 3)},
        {"source_system": "csv", "source_record_id": "3", "first_name": "smauel", "phone": "+12125550101",
         "date_of_birth": date(1980, 3, 14)},
        {"source_system": "csv", "source_record_id": "4", "first_name": "samuel", "phone": "+12125550101",
         "date_of_birth": date(1980, 3, 4)},
    ])
    assert _same(clusters, "csv|1", "csv|2")
    assert _same(clusters, "csv|3", "csv|4")
    assert dates_conflict(date(1980, 3, 4), date(1981, 3, 4)) is False  # one typo
    assert dates_conflict(date(1980, 3, 4), date(1980, 4, 3)) is False  # day/month swapped
    assert dates_conflict(date(1980, 3, 4), date(1975, 10, 20)) is True


def test_short_forms_and_swapped_names_are_not_conflicts() -> None:
    clusters, links = _cluster([
        {"source_system": "store", "source_record_id": "1", "first_name": "margaret", "last_name": "gomez",
         "first_name_canonical": "margaret", "email": "mg@x.com"},
        {"source_system": "csv", "source_record_id": "2", "first_name": "maggie", "last_name": "gomez",
         "first_name_canonical": "margaret", "email": "mg@x.com"},
        {"source_system": "call_center", "source_record_id": "3", "first_name": "edwards", "last_name": "allison",
         "first_name_canonical": "edwards", "phone": "+13475181326"},
        {"source_system": "call_center", "source_record_id": "4", "first_name": "allison", "last_name": "edwards",
         "first_name_canonical": "allison", "phone": "+13475181326"},
    ])
    assert _same(clusters, "store|1", "csv|2")
    assert _same(clusters, "call_center|3", "call_center|4")
    assert all(reason is None for *_rest, reason in links)


def test_one_web_user_id_per_customer() -> None:
    """A shared device identified as two users: the anonymous id joins only one of them."""
    con = duckdb.connect()
    create_raw_tables(con)
    add_web_identify(con, "m1", "u1", "shared-device", {})
    add_web_identify(con, "m2", "u2", "shared-device", {})
    clusters, links = _cluster(
        [
            {"source_system": "web", "source_record_id": "user:u1", "web_user_id": "u1", "first_name": "ann"},
            {"source_system": "web", "source_record_id": "user:u2", "web_user_id": "u2", "first_name": "bob"},
            {"source_system": "web", "source_record_id": "anon:shared-device", "web_anonymous_id": "shared-device"},
        ],
        web_events="raw.web_events",
        con=con,
    )
    assert not _same(clusters, "web|user:u1", "web|user:u2")
    assert _same(clusters, "web|user:u1", "web|anon:shared-device")
    assert ("web|anon:shared-device", "web|user:u2", "anonymous_to_user", "would_join_two_web_user_ids") in links


def test_alias_links_anonymous_id_to_user() -> None:
    con = duckdb.connect()
    create_raw_tables(con)
    add_web_event(con, "m1", "alias", user_id="u1", previous_id="anon-9")
    clusters, _links = _cluster(
        [
            {"source_system": "web", "source_record_id": "user:u1", "web_user_id": "u1"},
            {"source_system": "web", "source_record_id": "anon:anon-9", "web_anonymous_id": "anon-9"},
        ],
        web_events="raw.web_events",
        con=con,
    )
    assert _same(clusters, "web|user:u1", "web|anon:anon-9")


def test_loyalty_card_is_strong_but_birth_date_conflict_in_cluster_is_cut() -> None:
    """Strong links skip the pair check; the cluster guard still refuses two birth dates."""
    clusters, links = _cluster([
        {"source_system": "store", "source_record_id": "1", "loyalty_card_number": "L1",
         "date_of_birth": date(1950, 1, 1), "email": "a@x.com", "first_name": "al"},
        {"source_system": "store", "source_record_id": "2", "loyalty_card_number": "L1", "first_name": "al"},
        {"source_system": "csv", "source_record_id": "3", "email": "a@x.com", "first_name": "al"},
        {"source_system": "csv", "source_record_id": "4", "loyalty_card_number": "L1",
         "date_of_birth": date(1990, 7, 7), "first_name": "al"},
    ])
    assert _same(clusters, "store|1", "csv|3")
    assert not _same(clusters, "store|1", "csv|4")
    # The card holder without a birth date can go with either side, but with exactly one.
    assert _same(clusters, "store|2", "store|1") != _same(clusters, "store|2", "csv|4")
    cut = [link for link in links if link[3] == "would_join_conflicting_birth_dates"]
    assert cut, links


def test_cluster_size_cap_cuts_weakest_links() -> None:
    rows = [
        {"source_system": "csv", "source_record_id": str(n), "first_name": "kim",
         "email": "kim@x.com" if n < 4 else None, "phone": "+12125550155" if n >= 3 else None}
        for n in range(6)
    ]
    clusters, links = _cluster(rows, max_cluster_size=4)
    sizes: dict[str, int] = {}
    for key in clusters.values():
        sizes[key] = sizes.get(key, 0) + 1
    assert max(sizes.values()) <= 4
    # The email group is stronger evidence than the phone group, so it stays whole.
    assert _same(clusters, "csv|0", "csv|1", "csv|2", "csv|3")
    assert any(reason == "cluster_size_cap" for *_rest, reason in links)


def test_toll_free_company_line_links_nobody() -> None:
    """Colleagues give their firm's toll-free line: it says nothing about who a record is."""
    line = "+18005550100"
    clusters, links = _cluster([
        {"source_system": "csv", "source_record_id": "1", "first_name": "john", "last_name": "smith", "phone": line},
        {"source_system": "csv", "source_record_id": "2", "first_name": "john", "last_name": "reed", "phone": line},
        {"source_system": "csv", "source_record_id": "3", "first_name": "ann", "phone": "+12125550100"},
        {"source_system": "store", "source_record_id": "4", "first_name": "ann", "phone": "+12125550100"},
    ])
    assert not _same(clusters, "csv|1", "csv|2")
    assert _same(clusters, "csv|3", "store|4")
    assert links == [("csv|3", "store|4", "phone", None)]


def test_splink_compares_a_toll_free_phone_as_missing() -> None:
    con = duckdb.connect()
    _records(con, [
        {"source_system": "csv", "source_record_id": "1", "phone": "+18885550100"},
        {"source_system": "csv", "source_record_id": "2", "phone": "+12125550100"},
    ])
    with splink_scratch(con) as home:
        create_splink_input(con, home, "recs")
        phones = con.execute("SELECT record_key, phone FROM splink_input ORDER BY record_key").fetchall()
    assert phones == [("csv|1", None), ("csv|2", "+12125550100")]


def test_identifier_shared_by_too_many_records_links_nobody() -> None:
    rows = [{"source_system": "csv", "source_record_id": str(n), "email": "office@shop.com"} for n in range(5)]
    clusters, links = _cluster(rows, max_cluster_size=3)
    assert len(set(clusters.values())) == 5
    assert {reason for *_rest, reason in links} == {"identifier_shared_by_5_records"}


def test_rebuild_component_is_deterministic_and_strongest_first() -> None:
    nodes = {"a": ("u1", None), "b": (None, None), "c": ("u2", None)}
    edges = [("a", "b", 5.0), ("b", "c", 9.0)]
    cluster_of, cut = rebuild_component(nodes, edges, max_size=10)
    assert cluster_of == {"a": "a", "b": "b", "c": "b"}
    assert cut == {("a", "b"): "would_join_two_web_user_ids"}


@pytest.mark.slow
def test_household_trap_through_the_whole_pipeline(settings) -> None:
    """Splink sees same surname, address and phone; names and birth dates keep them apart."""
    with connect(settings) as con:
        create_raw_tables(con)
        for number, (first, born, email) in enumerate(
            [("Maria", date(1970, 5, 1), "maria.g@x.com"), ("Jose", date(1968, 9, 30), "jose.g@x.com")], start=1
        ):
            add_store_customer(con, number, first, "Garcia", email=email, phone="(212) 555-0100",
                               birth_date=born, street="1 Elm Street", city="Springfield", postcode="62701",
                               state="IL")
            add_web_identify(con, f"m{number}", f"u{number}", f"a{number}", {
                "first_name": first, "last_name": "Garcia", "email": email, "phone": "212-555-0100",
                "birthday": born.isoformat(),
                "address": {"street": "1 Elm St.", "city": "Springfield", "postal_code": "62701"},
            })
        add_call(con, "c1", phone="2125550100", first="Maria", last="Garcia")
    summary = resolve_warehouse(settings, "run-household")
    with connect(settings, read_only=True) as con:
        customers = dict(
            con.execute(
                "SELECT source_system || '|' || source_record_id, customer_id FROM identity.customer_map"
            ).fetchall()
        )
    assert summary["customers"] == 2
    assert customers["store|1"] == customers["web|user:u1"] == customers["call_center|c1"]
    assert customers["store|2"] == customers["web|user:u2"] == customers["web|anon:a2"]
    assert customers["store|1"] != customers["store|2"]


def test_record_without_a_first_name_does_not_join_a_household() -> None:
    """John and Jane share a phone; a call from it with no caller name links to both. The cluster
    guard refuses joining the two names, cuts the weaker link, and the caller goes with one of them."""
    home = {"last_name": "smith", "phone": "+14155550101", "street": "1 elm st", "postcode": "94110"}
    clusters, links = _cluster([
        {"source_system": "store", "source_record_id": "1", "first_name": "john", **home},
        {"source_system": "store", "source_record_id": "2", "first_name": "jane", **home},
        {"source_system": "call_center", "source_record_id": "c9", "phone": "+14155550101"},
    ])
    assert not _same(clusters, "store|1", "store|2")
    assert _same(clusters, "call_center|c9", "store|1") != _same(clusters, "call_center|c9", "store|2")
    reasons = {(left, right): reason for left, right, _rule, reason in links}
    assert reasons[("store|1", "store|2")] == "conflicting_first_names"
    cut = [pair for pair, reason in reasons.items() if reason == "would_join_conflicting_first_names"]
    assert len(cut) == 1 and "call_center|c9" in cut[0], reasons


def test_rebuild_component_refuses_conflicting_first_names() -> None:
    nodes = {"john": (None, None), "caller": (None, None), "jane": (None, None)}
    edges = [("caller", "john", 9.0), ("caller", "jane", 5.0)]
    cluster_of, cut = rebuild_component(
        nodes, edges, max_size=10, first_names={"john": 1, "jane": 2},
        conflicting_names={frozenset((1, 2))},
    )
    assert cluster_of == {"john": "caller", "caller": "caller", "jane": "jane"}
    assert cut == {("caller", "jane"): "would_join_conflicting_first_names"}


@pytest.mark.parametrize(("first", "second"), [
    ("paul", "paula"), ("dan", "dana"), ("john", "joan"), ("eric", "erica"), ("john", "jane"),
    ("mary ann", "mary beth"), ("john a", "john b"),  # one first word, then two others
    ("juan carlos", "juan camilo"), ("maria del carmen", "maria del pilar"), ("mary jane", "mary jean"),
    ("伟", "伟强"), ("민준", "민준호"), ("ゆう", "ゆうこ"), ("カナ", "カナエ"),  # whole names, not initials or typos
])
def test_different_given_names_in_one_household_stay_apart(first: str, second: str) -> None:
    """A prefix (Paul, Paula) or a close spelling (John, Joan) of a known name is another person."""
    home = {"last_name": "smith", "phone": "+12125550123", "street": "1 elm st", "postcode": "10001"}
    clusters, links = _cluster([
        {"source_system": "crm", "source_record_id": "1", "first_name": first, **home},
        {"source_system": "crm", "source_record_id": "2", "first_name": second, **home},
    ])
    assert not _same(clusters, "crm|1", "crm|2")
    assert links == [("crm|1", "crm|2", "phone", "conflicting_first_names")]


@pytest.mark.parametrize(("first", "second"), [
    ("jonathan", "jonathon"),  # a typo of a known name
    ("stephen", "steven"),  # two spellings of one name
    ("steve", "stephen"),
    ("j", "john"),  # an initial
    ("chris", "christoph"),  # a known short form starting an unknown name
    ("bob", "robert"),
    ("mcihelle", "michelle"),
    ("john a", "john"), ("mary ann", "mary"), ("anne marie", "anne"),  # a middle name or initial added
    ("mary ann", "mary anne"), ("john a", "john andrew"),
])
def test_typos_spellings_initials_and_short_forms_still_link(first: str, second: str) -> None:
    home = {"last_name": "smith", "phone": "+12125550123", "street": "1 elm st", "postcode": "10001"}
    clusters, links = _cluster([
        {"source_system": "crm", "source_record_id": "1", "first_name": first, **home},
        {"source_system": "crm", "source_record_id": "2", "first_name": second, **home},
    ])
    assert _same(clusters, "crm|1", "crm|2"), links


def test_father_and_son_with_different_suffixes_stay_apart() -> None:
    """Smith Sr and Smith Jr on one landline were one customer (the suffix was stripped from the
    last name); a record without a suffix joins one of them, not both."""
    home = {"first_name": "john", "last_name": "smith", "phone": "+12125550188", "street": "12 oak st"}
    clusters, links = _cluster([
        {"source_system": "crm", "source_record_id": "1", "name_suffix": "sr", **home},
        {"source_system": "crm", "source_record_id": "2", "name_suffix": "jr", **home},
        {"source_system": "crm", "source_record_id": "3", **home},
    ])
    assert not _same(clusters, "crm|1", "crm|2")
    assert _same(clusters, "crm|1", "crm|3") or _same(clusters, "crm|2", "crm|3")
    reasons = {(left, right): reason for left, right, _rule, reason in links}
    assert reasons[("crm|1", "crm|2")] == "conflicting_name_suffixes"
    assert "would_join_conflicting_first_names" in reasons.values()


def test_different_suffixes_with_one_birth_date_are_one_person() -> None:
    """John Smith II and John Smith Jr with one birth date, email and phone were two customers
    (II is often written Jr); a Sr born on another day stays apart."""
    home = {"first_name": "john", "last_name": "smith", "phone": "+12125550130", "email": "js9@example.org"}
    clusters, links = _cluster([
        {"source_system": "crm", "source_record_id": "1", "name_suffix": "ii", "date_of_birth": "1980-05-05", **home},
        {"source_system": "crm", "source_record_id": "2", "name_suffix": "jr", "date_of_birth": "1980-05-05", **home},
        {"source_system": "crm", "source_record_id": "3", "name_suffix": "sr", "date_of_birth": "1952-11-30", **home},
    ])
    assert _same(clusters, "crm|1", "crm|2"), links
    assert not _same(clusters, "crm|1", "crm|3"), links


@pytest.mark.parametrize("middle_first_name", ["john", None])
def test_a_suffix_without_a_first_name_still_keeps_father_and_son_apart(middle_first_name: str | None) -> None:
    """John Smith Sr -phone- John Smith -email- (no first name) Smith Jr was one customer: the
    component guard only looked at records with a first name, so the Jr never counted."""
    clusters, links = _cluster([
        {"source_system": "crm", "source_record_id": "1", "first_name": "john", "last_name": "smith",
         "name_suffix": "sr", "phone": "+12125550111"},
        {"source_system": "crm", "source_record_id": "2", "first_name": middle_first_name, "last_name": "smith",
         "phone": "+12125550111", "email": "js@example.org"},
        {"source_system": "crm", "source_record_id": "3", "last_name": "smith", "name_suffix": "jr",
         "email": "js@example.org"},
    ])
    assert not _same(clusters, "crm|1", "crm|3"), links
    assert "would_join_conflicting_first_names" in {reason for *_pair, reason in links}


@pytest.mark.slow
def test_caller_with_only_a_household_phone_does_not_merge_the_household(settings) -> None:
    """The nightly path, the next nights re-clustering only what changed: the new call joins one of
    John and Jane; a third night adding a record of John's keeps the cut link cut (it is an edge of
    the component to re-cluster, so the guard sees Jane again)."""
    with connect(settings) as con:
        create_raw_tables(con)
        for number, first in ((1, "John"), (2, "Jane")):
            add_store_customer(con, number, first, "Smith", email=f"{first.lower()}.smith@x.com",
                               phone="(415) 555-0101", street="1 Elm St", postcode="94110")
    resolve_warehouse(settings, "night-1")

    def customers() -> dict[str, str]:
        with connect(settings, read_only=True) as con:
            return dict(con.execute(
                "SELECT source_system || '|' || source_record_id, customer_id FROM identity.customer_map"
            ).fetchall())

    def caller_links() -> set[tuple]:
        with connect(settings, read_only=True) as con:
            return set(con.execute(
                """SELECT source_record_key_r, is_accepted, rejected_reason FROM identity.links
                   WHERE source_record_key_l = 'call_center|call-9'"""
            ).fetchall())

    first = customers()
    assert first["store|1"] != first["store|2"]
    with connect(settings) as con:
        add_call(con, "call-9", phone="415-555-0101")  # caller id only
    resolve_warehouse(settings.with_run_date(settings.run_date + timedelta(days=1)), "night-2")
    second = customers()
    assert second["store|1"] == first["store|1"] and second["store|2"] == first["store|2"]
    assert second["call_center|call-9"] == first["store|1"]  # equal links: the smaller record key first
    cut = {("store|1", True, None), ("store|2", False, "would_join_conflicting_first_names")}
    assert caller_links() == cut
    with connect(settings) as con:
        add_call(con, "call-10", email="john.smith@x.com", first="John", last="Smith")
    resolve_warehouse(settings.with_run_date(settings.run_date + timedelta(days=2)), "night-3")
    assert customers() == {**second, "call_center|call-10": first["store|1"]}
    assert caller_links() == cut


def test_record_with_first_and_last_name_swapped_is_not_a_conflict_with_one_missing_a_last_name() -> None:
    """Coleman Timothy (swapped) and Timothy (no last name) name one person; the component
    guard must not cut what the pair guard would not refuse (a recall loss on the 100k benchmark)."""
    phone = {"phone": "+12125550177"}
    clusters, links = _cluster([
        {"source_system": "store", "source_record_id": "1", "first_name": "timothy", "last_name": "coleman", **phone},
        {"source_system": "csv", "source_record_id": "2", "first_name": "coleman", "last_name": "timothy", **phone},
        {"source_system": "call_center", "source_record_id": "3", "first_name": "timothy", **phone},
    ])
    assert _same(clusters, "store|1", "csv|2", "call_center|3")
    assert all(reason is None for *_rest, reason in links), links


def _customers(settings) -> dict[str, str]:
    with connect(settings, read_only=True) as con:
        return dict(con.execute(
            "SELECT source_system || '|' || source_record_id, customer_id FROM identity.customer_map").fetchall())


def test_padded_user_ids_still_link_anonymous_ids_to_their_user(settings) -> None:
    """Person records trim the ids (" u1" is record user:u1); the identify/alias link keys did not,
    matched no record and were dropped: one person became three customers."""
    with connect(settings) as con:
        create_raw_tables(con)
        add_web_identify(con, "m1", "u1", None, {"first_name": "Ann", "last_name": "Lee"})
        add_web_event(con, "m2", "page", anonymous_id="a1")
        add_web_identify(con, "m3", " u1", "a1", {})
        add_web_event(con, "m4", "alias", user_id="u1 ", previous_id="a9")
        add_web_event(con, "m5", "page", anonymous_id="a9")
    resolve_warehouse(settings, "run-padded")
    customers = _customers(settings)
    assert customers["web|user:u1"] == customers["web|anon:a1"] == customers["web|anon:a9"]


def test_a_placeholder_web_user_id_links_nobody(settings) -> None:
    """Two visitors identified with userId "undefined" (an SDK writing a JavaScript value) were one customer."""
    with connect(settings) as con:
        create_raw_tables(con)
        add_web_identify(con, "m1", None, "a1", {"email": "ann@x.com", "first_name": "Ann", "last_name": "Lee"})
        add_web_identify(con, "m2", None, "a2", {"email": "bob@y.com", "first_name": "Bob", "last_name": "Ray"})
        add_web_identify(con, "m3", "undefined", "a1", {})
        add_web_identify(con, "m4", " NULL" + " " * 30, "a2", {})  # padded past the length gate
        add_web_identify(con, "m5", "u7", "null", {"email": "cy@z.com"})
    resolve_warehouse(settings, "run-undefined")
    customers = _customers(settings)
    assert customers["web|anon:a1"] != customers["web|anon:a2"]
    assert not {"web|user:undefined", "web|user:NULL", "web|anon:null"} & set(customers)
    assert "web|user:u7" in customers


@pytest.mark.parametrize("card", ["N.A.", "(UNKNOWN)", "???", "N/A.", "0000"])
def test_a_placeholder_loyalty_card_links_nobody(settings, card: str) -> None:
    """A card compared only without spaces and dashes kept "N.A.": the strong card link merged strangers."""
    with connect(settings) as con:
        create_raw_tables(con)
        add_store_customer(con, 1, "Ann", "Lee", email="ann.lee@x.com", loyalty=card, postcode="10001")
        add_store_customer(con, 2, "Ann", "Moss", email="ann.moss@y.com", loyalty=card.lower(), postcode="94110")
    resolve_warehouse(settings, "run-card")
    customers = _customers(settings)
    assert customers["store|1"] != customers["store|2"]
    with connect(settings, read_only=True) as con:
        assert con.execute("SELECT count(loyalty_card_number) FROM identity.person_records_standardised"
                           ).fetchall() == [(0,)]  # fmt: skip


def test_pair_guard_sql_is_true_or_false_never_null_and_matches_its_rules() -> None:
    """The guards are CASE chains that settle missing and equal values first (only the rest are
    compared); a NULL would silently let a conflicting pair through, so every case is a boolean."""
    con = duckdb.connect()
    dates = [None, date(1980, 3, 4), date(1981, 3, 4), date(1980, 4, 3), date(1975, 10, 20)]
    con.execute("CREATE TABLE d (l DATE, r DATE)")
    con.executemany("INSERT INTO d VALUES (?, ?)", [[a, b] for a in dates for b in dates])
    for left, right, conflict in con.execute(f"SELECT l, r, {dob_conflict_sql('l', 'r')} FROM d").fetchall():
        assert conflict is (left is not None and right is not None and dates_conflict(left, right)), (left, right)

    # first name, last name: (john, smith) against each; None for a missing name.
    people = [(None, "smith"), ("john", "smith"), ("johnn", None), ("jane", "smith"), ("smith", "john"),
              ("j", "smith"), ("robert", "smith"), ("bob", None)]
    con.execute("CREATE TABLE p (key INTEGER, first_name VARCHAR, last_name VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?)", [[i, f, g] for i, (f, g) in enumerate(people)])
    _build_record_name_groups(con, "p")
    con.execute(
        f"""CREATE TABLE named AS SELECT key, first_name, last_name, {name_columns_sql()} FROM p
        LEFT JOIN record_name_groups AS f ON f.name = first_name
        LEFT JOIN record_name_groups AS g ON g.name = last_name"""
    )
    judged = {
        (people[a], people[b]): conflict
        for a, b, conflict in con.execute(
            f"SELECT l.key, r.key, {first_name_conflict_sql('l', 'r')} FROM named AS l, named AS r"
        ).fetchall()
    }
    assert all(conflict in (True, False) for conflict in judged.values())
    john = ("john", "smith")
    assert judged[(john, ("jane", "smith"))] is True
    assert judged[(john, (None, "smith"))] is False  # no first name: nothing to conflict with
    assert judged[(john, ("johnn", None))] is False  # a typo
    assert judged[(john, ("smith", "john"))] is False  # first and last name swapped
    assert judged[(john, ("j", "smith"))] is False  # an initial
    assert judged[(("robert", "smith"), ("bob", None))] is False  # a short form
    assert judged[(("robert", "smith"), john)] is True


def test_a_name_thousands_of_letters_long_does_not_exhaust_memory() -> None:
    """Review finding: every unknown name made one spelling per deleted letter, each as long as the
    name, so a 20,000-letter first name (a pasted blob in a form) asked DuckDB for ~400 MB and a
    200,000-letter one killed the night. Names too long to be one typo from a known name now make
    no spellings; short ones still find their known name."""
    con = duckdb.connect()
    con.execute("SET memory_limit = '300MB'")
    con.execute("CREATE TABLE p (first_name VARCHAR, last_name VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?)", [["a" * 20_000, "lee"], ["mzddie", "b" * 20_000]])
    _build_record_name_groups(con, "p")
    groups = dict(con.execute("SELECT name, formals FROM record_name_groups").fetchall())
    assert groups["a" * 20_000] is None and groups["b" * 20_000] is None
    assert groups["mzddie"] == ["madeline"]  # one typo from maddie (Madeline)
