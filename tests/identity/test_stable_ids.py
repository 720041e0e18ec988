"""Customer ids survive reruns, merges and splits; every change lands in the history."""

from __future__ import annotations

from datetime import datetime

import duckdb

from identity.stable_ids import assign_customer_ids


def _state(previous: dict[str, str] | None, created: dict[str, datetime] | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    con.execute("CREATE TABLE identity.customer_map (source_system VARCHAR, source_record_id VARCHAR, customer_id VARCHAR)")
    con.execute(
        "CREATE TABLE identity.customer_id_history (run_id VARCHAR, old_customer_id VARCHAR, "
        "new_customer_id VARCHAR, change_type VARCHAR, reason VARCHAR, changed_at TIMESTAMP)"
    )
    for key, customer in (previous or {}).items():
        system, record = key.split("|", 1)
        con.execute("INSERT INTO identity.customer_map VALUES (?, ?, ?)", [system, record, customer])
    for customer, at in (created or {}).items():
        con.execute("INSERT INTO identity.customer_id_history VALUES ('r0', NULL, ?, 'new', '', ?)", [customer, at])
    return con


def _assign(con: duckdb.DuckDBPyConnection, clusters: list[list[str]]) -> tuple[dict[str, str], list[tuple]]:
    con.execute("CREATE OR REPLACE TEMP TABLE clusters (record_key VARCHAR, cluster_key VARCHAR)")
    for members in clusters:
        for member in members:
            con.execute("INSERT INTO clusters VALUES (?, ?)", [member, min(members)])
    assign_customer_ids(con, "unused")
    ids = dict(con.execute("SELECT record_key, customer_id FROM customer_assignments").fetchall())
    changes = con.execute(
        "SELECT change_type, old_customer_id, new_customer_id FROM id_changes ORDER BY ALL"
    ).fetchall()
    return ids, changes


def test_first_run_ids_are_deterministic_and_new() -> None:
    clusters = [["csv|1", "web|user:a"], ["store|9"]]
    first, changes = _assign(_state(None), clusters)
    again, _ = _assign(_state(None), clusters)
    assert first == again
    assert first["csv|1"] == first["web|user:a"] != first["store|9"]
    assert all(customer.startswith("cus_") and len(customer) == 20 for customer in first.values())
    assert [change[0] for change in changes] == ["new", "new"]


def test_rerun_on_unchanged_data_keeps_every_id() -> None:
    previous = {"csv|1": "cus_a", "web|user:a": "cus_a", "store|9": "cus_b"}
    ids, changes = _assign(_state(previous), [["csv|1", "web|user:a"], ["store|9"]])
    assert ids == previous
    assert changes == []


def test_merge_keeps_the_oldest_id_even_when_it_is_the_smaller_part() -> None:
    previous = {"csv|1": "cus_old", "csv|2": "cus_young", "csv|3": "cus_young", "csv|4": "cus_young"}
    created = {"cus_old": datetime(2025, 1, 1), "cus_young": datetime(2026, 1, 1)}
    ids, changes = _assign(_state(previous, created), [["csv|1", "csv|2", "csv|3", "csv|4"]])
    assert set(ids.values()) == {"cus_old"}
    assert changes == [("merge", "cus_young", "cus_old")]


def test_split_gives_the_old_id_to_the_biggest_part() -> None:
    previous = {f"csv|{n}": "cus_a" for n in range(1, 6)}
    ids, changes = _assign(_state(previous), [["csv|1", "csv|2"], ["csv|3", "csv|4", "csv|5"]])
    assert ids["csv|3"] == ids["csv|4"] == ids["csv|5"] == "cus_a"
    assert ids["csv|1"] == ids["csv|2"] != "cus_a"
    assert changes == [("split", "cus_a", ids["csv|1"])]


def test_split_off_record_never_reuses_an_id_it_hashed_to_before() -> None:
    # Run 1: one cluster whose id is the hash of its smallest record csv|1.
    first, _ = _assign(_state(None), [["csv|1", "csv|2", "csv|3"]])
    original = first["csv|1"]
    # Run 2: csv|1 splits off alone; its fresh hash would collide with the surviving id.
    ids, changes = _assign(_state(first), [["csv|1"], ["csv|2", "csv|3"]])
    assert ids["csv|2"] == ids["csv|3"] == original
    assert ids["csv|1"] not in (original, None)
    assert changes == [("split", original, ids["csv|1"])]


def test_records_new_to_an_existing_customer_inherit_its_id() -> None:
    previous = {"csv|1": "cus_a"}
    ids, changes = _assign(_state(previous), [["csv|1", "store|5"], ["store|6"]])
    assert ids["store|5"] == "cus_a"
    assert [change[0] for change in changes] == ["new"]


def test_id_born_in_a_split_is_younger_than_the_id_it_split_from() -> None:
    previous = {"csv|1": "cus_split_off", "csv|2": "cus_split_off", "csv|3": "cus_first"}
    con = _state(previous, {"cus_first": datetime(2026, 1, 1)})
    con.execute(
        "INSERT INTO identity.customer_id_history VALUES "
        "('r5', 'cus_first', 'cus_split_off', 'split', '', TIMESTAMP '2026-06-01')"
    )
    ids, changes = _assign(con, [["csv|1", "csv|2", "csv|3"]])
    # cus_split_off holds more records, but cus_first is older: the merge keeps cus_first.
    assert set(ids.values()) == {"cus_first"}
    assert changes == [("merge", "cus_split_off", "cus_first")]


def test_part_left_alone_by_a_merge_keeps_its_id() -> None:
    """Previous B = {b1, b2, b3}: b1, b2 join older A, b3 is alone. A keeps A, b3 keeps B, and the
    history says 2 records of B moved (a split), not that B merged into a brand-new id."""
    previous = {"crm|a1": "cus_A", "crm|a2": "cus_A", "crm|b1": "cus_B", "crm|b2": "cus_B", "crm|b3": "cus_B"}
    created = {"cus_A": datetime(2026, 11, 1), "cus_B": datetime(2026, 11, 2)}
    ids, changes = _assign(_state(previous, created), [["crm|a1", "crm|a2", "crm|b1", "crm|b2"], ["crm|b3"]])
    assert ids == {"crm|a1": "cus_A", "crm|a2": "cus_A", "crm|b1": "cus_A", "crm|b2": "cus_A", "crm|b3": "cus_B"}
    assert changes == [("split", "cus_B", "cus_A")]


def test_even_split_into_an_older_customer_does_not_depend_on_record_keys() -> None:
    """B = {b1, lone}: b1 joins older A, the other stays alone and keeps B, whichever key sorts first."""
    created = {"cus_A": datetime(2026, 11, 1), "cus_B": datetime(2026, 11, 2)}
    for lone in ("crm|b2", "crm|0b2"):
        previous = {"crm|a1": "cus_A", "crm|b1": "cus_B", lone: "cus_B"}
        ids, changes = _assign(_state(previous, created), [["crm|a1", "crm|b1"], [lone]])
        assert ids == {"crm|a1": "cus_A", "crm|b1": "cus_A", lone: "cus_B"}, lone
        assert changes == [("split", "cus_B", "cus_A")], lone
