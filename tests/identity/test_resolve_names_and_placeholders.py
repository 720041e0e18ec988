"""`cdp resolve` on the audit's cases: middle names, generational suffixes and placeholder ids."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from identity.resolve_file import resolve_file

FIXTURES = Path(__file__).parent / "fixtures"


def _customers(source: str, settings, tmp_path: Path) -> dict[tuple[str, str], str]:
    output = tmp_path / "customers.csv"
    resolve_file(FIXTURES / source, output, settings)
    with output.open(newline="", encoding="utf-8") as handle:
        return {(row["source_system"], row["source_record_id"]): row["customer_id"] for row in csv.DictReader(handle)}


def _pairs_merged(customers: dict[tuple[str, str], str]) -> dict[str, bool]:
    """Each fixture source holds one pair of records: source -> whether they are one customer."""
    merged: dict[str, set[str]] = {}
    for (system, _record), customer in customers.items():
        merged.setdefault(system, set()).add(customer)
    return {system: len(ids) == 1 for system, ids in merged.items()}


def test_a_middle_name_or_initial_added_to_a_first_name_is_one_person(settings, tmp_path: Path) -> None:
    """John A. and John with the same email, phone, birth date and address were two customers."""
    merged = _pairs_merged(_customers("resolve_middle_names.csv", settings, tmp_path))
    assert merged == {
        "a": True,  # Mary Ann, Mary
        "b": True,  # John A., John
        "c": True,  # Anne-Marie, Anne
        "d": True,  # J. Robert, Robert
        "e": False,  # Mary Ann, Mary Beth: sisters sharing an inbox
        "f": False,  # John A., John B.
        "g": False,  # John, Joan
    }


def test_different_generational_suffixes_are_two_people(settings, tmp_path: Path) -> None:
    """The suffix was stripped from the last name and never seen again: father and son were one."""
    merged = _pairs_merged(_customers("resolve_father_and_son.csv", settings, tmp_path))
    assert merged == {"a": False, "b": False, "c": True}  # Sr/Jr, III/II, Jr and none


def test_generational_suffixes_spelled_out_or_in_the_first_name_are_two_people(settings, tmp_path: Path) -> None:
    """Only Jr, Sr, II, III and IV ending the last name were read: Senior and Junior, Snr and Jnr,
    III and 2nd, or a Jr typed after the first name (read as a middle name) made father and son one."""
    merged = _pairs_merged(_customers("resolve_father_and_son_spellings.csv", settings, tmp_path))
    assert merged == {
        "a": False,  # Senior, Junior
        "b": False,  # Snr, Jnr
        "c": False,  # III, 2nd
        "d": False,  # first name "John Jr", last name "Smith Sr"
        "e": True,  # first name "Paul Jr.", Paul: one without a suffix is no conflict
    }


def test_placeholder_web_ids_link_nobody(settings, tmp_path: Path) -> None:
    """Visitors sharing web_user_id "undefined" or "0", or web_anonymous_id "null", were one customer per id."""
    customers = _customers("resolve_placeholder_web_ids.csv", settings, tmp_path)
    assert len(set(customers.values())) == 6


def test_configured_placeholders_add_to_the_built_in_ones(settings, tmp_path: Path) -> None:
    """CDP_IDENTITY_PLACEHOLDERS replaced the list: loyalty cards "N/A" and "none" linked strangers."""
    assert len(set(_customers("resolve_placeholder_cards.csv", settings, tmp_path).values())) == 4
    configured = replace(settings, identity_placeholders="noreply@shop.com")
    assert len(set(_customers("resolve_placeholder_cards.csv", configured, tmp_path).values())) == 4


def test_a_built_in_placeholder_can_be_taken_off_the_list(settings, tmp_path: Path) -> None:
    """Built-in "nil" made Nil a missing first name, which no household guard compares: Nil Yilmaz
    joined Ahmet Yilmaz on their phone, and no setting could say Nil is a name. "-nil" does."""
    configured = replace(settings, identity_placeholders="-nil")
    assert len(set(_customers("resolve_placeholder_first_name.csv", configured, tmp_path).values())) == 2
