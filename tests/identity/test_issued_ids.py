"""A customer id once handed out is never handed out to anyone else, whatever reruns undo."""

from __future__ import annotations

from datetime import date

import pytest
from id_raw_tables import add_csv_contact, create_raw_tables

from cdp.warehouse import connect
from identity.pipeline import resolve_warehouse


def _ids_of(settings, contact_id: str) -> set[str]:
    with connect(settings, read_only=True) as con:
        return {row[0] for row in con.execute(
            "SELECT customer_id FROM identity.customer_map WHERE source_system = 'csv' AND source_record_id = ?",
            [contact_id],
        ).fetchall()}


def _every_id(settings) -> list[str]:
    with connect(settings, read_only=True) as con:
        return [row[0] for row in con.execute(
            "SELECT DISTINCT customer_id FROM identity.customer_map ORDER BY 1"
        ).fetchall()]


def _resolve_lena_and_omar(settings) -> None:
    """Night 1 of two unrelated people: Lena (a.csv:1) and Omar (b.csv:1)."""
    with connect(settings) as con:
        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
        add_csv_contact(con, "b.csv:1", first="Omar", last="Quist", email="omar.q@example.com")
    resolve_warehouse(settings, "night-1")


@pytest.mark.parametrize("upgraded_before_rerun", [False, True])
def test_id_issued_by_an_undone_attempt_is_never_issued_again(settings, upgraded_before_rerun) -> None:
    with connect(settings) as con:
        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Lena", last="Ortiz", email="lena.o@example.com")
    resolve_warehouse(settings, "night-1")
    night_2 = settings.with_run_date(date(2026, 11, 24))
    with connect(settings) as con:
        add_csv_contact(con, "b.csv:1", first="Omar", last="Quist", email="omar.q@example.com")
    resolve_warehouse(night_2, "night-2")  # attempt 1 issues X to Omar (exports may read it now)
    (issued,) = _ids_of(settings, "b.csv:1")
    with connect(settings) as con:  # the row was a mistake: gone before night 2 is rerun
        con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = 'b.csv:1'")
        if upgraded_before_rerun:  # night 2 published by a version without the table: built from history
            con.execute("DROP TABLE identity.issued_customer_ids")
    resolve_warehouse(night_2, "night-2")
    assert issued not in _every_id(settings)
    with connect(settings) as con:  # the same record key comes back, now someone else
        add_csv_contact(con, "b.csv:1", first="Pia", last="Rask", email="pia.r@example.com")
    resolve_warehouse(settings.with_run_date(date(2026, 11, 25)), "night-3")
    (pia,) = _ids_of(settings, "b.csv:1")
    assert pia != issued
    assert issued not in _every_id(settings)
    with connect(settings, read_only=True) as con:
        handed_out = con.execute(
            "SELECT count(*) FROM identity.customer_id_history WHERE new_customer_id = ?", [issued]
        ).fetchone()[0]
    assert handed_out == 0  # the rerun's history no longer names X, yet X stays taken


def test_rerun_still_reproduces_the_ids_its_first_attempt_issued(settings) -> None:
    _resolve_lena_and_omar(settings)
    first = _every_id(settings)
    resolve_warehouse(settings, "night-1")
    assert _every_id(settings) == first


def test_id_of_a_customer_whose_records_all_went_is_not_reused(settings) -> None:
    _resolve_lena_and_omar(settings)
    (omar,) = _ids_of(settings, "b.csv:1")
    with connect(settings) as con:  # erased: no map row and no history row names Omar's id now
        con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = 'b.csv:1'")
    resolve_warehouse(settings.with_run_date(date(2026, 11, 24)), "night-2")
    assert omar not in _every_id(settings)
    with connect(settings) as con:
        add_csv_contact(con, "b.csv:1", first="Pia", last="Rask", email="pia.r@example.com")
    resolve_warehouse(settings.with_run_date(date(2026, 11, 25)), "night-3")
    assert _ids_of(settings, "b.csv:1") != {omar}
