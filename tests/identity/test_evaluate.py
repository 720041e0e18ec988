"""identity.evaluate: the missed true pairs, by what the customers they were split into share."""

from __future__ import annotations

from datetime import date

import duckdb

from identity.evaluate import MISSED_EVIDENCE, evaluate_mappings, missed_pairs_by_shared_evidence

# record -> (person, customer, email, phone, card, first, last, birth, postcode)
RECORDS = {
    "a": ("P1", "C1", "x@example.com", None, None, "ann", "lee", None, None),
    "b": ("P1", "C2", "x@example.com", None, None, None, None, None, None),
    "c": ("P2", "C3", None, None, None, "bob", "ray", date(1990, 1, 2), None),
    "d": ("P2", "C4", None, None, None, "bob", "ray", date(1990, 1, 2), "10001"),
    "e": ("P3", "C5", None, None, None, "cy", "do", None, "20002"),
    "f": ("P3", "C6", None, None, None, "cy", "do", None, "20002"),
    "g": ("P3", "C7", None, "+15550000001", None, "cy", "do", None, None),
    "h": ("P4", "C8", None, None, None, None, None, None, None),
    "i": ("P4", "C9", None, None, None, "di", "fox", None, None),
    "j": ("P5", "C10", None, "+15550000002", None, None, None, None, None),
    "k": ("P5", "C10", None, "+15550000002", None, "ed", "gu", None, None),
    "l": ("P5", "C11", None, "+15550000002", "card-1", None, None, None, None),
    "m": ("P6", "C12", None, None, "card-2", None, None, None, None),
    "n": ("P6", "C13", None, None, "card-2", "fa", "ho", None, None),
    "o": ("P7", "C14", None, None, None, "chris", "sanders", None, None),
    "p": ("P7", "C15", None, None, None, "christopher", "sanders", None, None),
}


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    con.execute("CREATE TABLE identity.customer_map (source_system VARCHAR, source_record_id VARCHAR, customer_id VARCHAR)")
    con.execute("""CREATE TABLE identity.person_records_standardised (
        source_system VARCHAR, source_record_id VARCHAR, first_name VARCHAR, last_name VARCHAR, date_of_birth DATE,
        email VARCHAR, phone VARCHAR, postcode VARCHAR, web_user_id VARCHAR, web_anonymous_id VARCHAR,
        loyalty_card_number VARCHAR, first_name_canonical VARCHAR)""")
    for record, (_person, customer, email, phone, card, first, last, birth, postcode) in RECORDS.items():
        con.execute("INSERT INTO identity.customer_map VALUES ('csv', ?, ?)", [record, customer])
        con.execute("INSERT INTO identity.person_records_standardised VALUES ('csv', ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                    [record, first, last, birth, email, phone, postcode, card, first])
    return con


def test_missed_pairs_count_under_the_strongest_shared_evidence() -> None:
    truth = {("csv", record): row[0] for record, row in RECORDS.items()}
    missed = missed_pairs_by_shared_evidence(_warehouse(), truth)
    assert list(missed) == list(MISSED_EVIDENCE)
    assert missed == {
        "email": 1,  # a-b
        "phone": 2,  # {j, k}-l share the phone (and the card is only on l)
        "source_id": 1,  # m-n share the loyalty card
        "name_and_birth_date": 1,  # c-d
        "name_and_postcode": 1,  # e-f
        "name_only": 2,  # e-g, f-g
        "last_name_only": 1,  # o-p
        "nothing": 1,  # h (no name) - i
    }
    predicted = {("csv", record): row[1] for record, row in RECORDS.items()}
    scores = evaluate_mappings(predicted, truth)
    assert sum(missed.values()) == scores["true_pairs"] - scores["true_positive_pairs"]


def test_nothing_missed_when_every_person_is_one_customer() -> None:
    truth = {("csv", record): row[1] for record, row in RECORDS.items()}  # the clusters are the truth
    assert set(missed_pairs_by_shared_evidence(_warehouse(), truth).values()) == {0}
