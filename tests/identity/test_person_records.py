"""Person records: one canonical row per source record, from the raw tables of docs/contracts.md §2."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from id_raw_tables import (
    add_call,
    add_csv_contact,
    add_store_customer,
    add_web_event,
    add_web_identify,
    create_raw_tables,
)

from cdp.warehouse import connect
from identity.person_records import build_person_records
from identity.schema import IdentityError


def test_every_source_gives_canonical_records(settings) -> None:
    with connect(settings) as con:
        create_raw_tables(con)
        add_web_identify(con, "m1", "u1", "a1", {"first_name": "Ann", "email": "ann@x.com",
                                                  "address": {"street": "1 Elm St", "postal_code": "62701"}},
                         event_at=datetime(2026, 11, 1))
        # A later identify sends only the changed phone: earlier traits must survive.
        add_web_identify(con, "m2", "u1", "a1", {"phone": "2125550123", "birthday": "1980-02-03"},
                         event_at=datetime(2026, 11, 2))
        add_web_event(con, "m3", "page", anonymous_id="a2", event_at=datetime(2026, 11, 3))
        add_web_identify(con, "m4", None, "a2", {"email": "guest@x.com"}, event_at=datetime(2026, 11, 3))
        add_call(con, "c1", phone="(212) 555-0123", email="ann@x.com", first="Ann", last="Lee")
        add_store_customer(con, 7, "Ann", "Lee", birth_date=date(1980, 2, 3), loyalty="L-7", postcode="62701")
        add_csv_contact(con, "newsletter__a.csv:2", first="Ann", email="ann@x.com")
        counts = build_person_records(con)
        rows = {
            (r[0], r[1]): r
            for r in con.execute(
                "SELECT source_system, source_record_id, first_name, email, phone, date_of_birth, street, postcode, "
                "web_user_id, web_anonymous_id, loyalty_card_number FROM identity.person_records"
            ).fetchall()
        }
    assert counts == {"call_center": 1, "csv": 1, "store": 1, "web": 3}
    user = rows[("web", "user:u1")]
    assert user[2:9] == ("Ann", "ann@x.com", "2125550123", date(1980, 2, 3), "1 Elm St", "62701", "u1")
    # Traits sent with a userId belong to the user record, not the anonymous one.
    assert rows[("web", "anon:a1")][3] is None
    assert rows[("web", "anon:a1")][9] == "a1"
    assert rows[("web", "anon:a2")][3] == "guest@x.com"
    assert rows[("call_center", "c1")][4] == "(212) 555-0123"
    assert rows[("store", "7")][10] == "L-7"
    assert rows[("csv", "newsletter__a.csv:2")][3] == "ann@x.com"


def test_missing_sources_are_skipped(settings) -> None:
    with connect(settings) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        from id_raw_tables import CALLS_DDL

        con.execute(CALLS_DDL)
        add_call(con, "c1", phone="2125550123")
        assert build_person_records(con) == {"call_center": 1}


def test_no_raw_tables_is_a_clear_error(settings) -> None:
    with connect(settings) as con, pytest.raises(IdentityError, match="run ingestion"):
        build_person_records(con)


def _all_rows(con) -> list[tuple]:
    return con.execute("SELECT * FROM identity.person_records ORDER BY source_system, source_record_id").fetchall()


def test_rebuild_writes_only_changed_rows_and_equals_a_fresh_build(settings) -> None:
    with connect(settings) as con:
        create_raw_tables(con)
        add_csv_contact(con, "a.csv:1", first="Ann", last="Lee", email="ann@x.com")
        add_csv_contact(con, "a.csv:2", first="Bo", last="Kim")
        add_csv_contact(con, "a.csv:3", first="Cy", last="Ray", phone="2125550123")
        add_store_customer(con, 7, "Dee", "Fox", birth_date=date(1980, 2, 3))
        build_person_records(con)
        rowids = dict(con.execute(
            "SELECT source_system || '|' || source_record_id, rowid FROM identity.person_records").fetchall())
        # A NULL that gains a value, a value that changes, a record that goes, one that comes.
        con.execute("UPDATE raw.csv_contacts SET email = 'bo@x.com' WHERE contact_id = 'a.csv:2'")
        con.execute("UPDATE raw.store_customers SET last_name = 'Foxx' WHERE customer_id = 7")
        con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = 'a.csv:3'")
        add_csv_contact(con, "a.csv:4", first="Eve", last="Ng")
        counts = build_person_records(con)
        incremental = _all_rows(con)
        kept = dict(con.execute(
            "SELECT source_system || '|' || source_record_id, rowid FROM identity.person_records").fetchall())
        con.execute("DROP TABLE identity.person_records")
        build_person_records(con)
        assert incremental == _all_rows(con)
    assert counts == {"csv": 3, "store": 1}
    assert kept["csv|a.csv:1"] == rowids["csv|a.csv:1"]  # unchanged: not rewritten
    assert {key for key in kept if kept[key] != rowids.get(key)} == {"csv|a.csv:2", "store|7", "csv|a.csv:4"}
    by_key = {(row[0], row[1]): row for row in incremental}
    assert by_key[("csv", "a.csv:2")][5] == "bo@x.com"
    assert by_key[("store", "7")][3] == "Foxx"
    assert ("csv", "a.csv:3") not in by_key


def _web_batch(con, batch_id: str) -> None:
    """Give the web events added since the last call (no batch id yet) the load batch ``batch_id``."""
    con.execute("UPDATE raw.web_events SET _batch_id = ? WHERE _batch_id IS NULL", [batch_id])


def _fresh_build(con) -> list[tuple]:
    con.execute("DROP TABLE identity.person_records")
    con.execute("DROP TABLE IF EXISTS identity.person_records_web_batches")
    build_person_records(con)
    return _all_rows(con)


def test_web_records_are_rebuilt_only_for_ids_in_new_load_batches(settings) -> None:
    later = datetime(2026, 11, 21, 9, 0)
    with connect(settings) as con:
        create_raw_tables(con)
        add_web_identify(con, "m1", "u1", "a1", {"first_name": "Ann"})
        add_web_event(con, "m2", "page", anonymous_id="a2")
        add_web_identify(con, "m3", None, "a3", {"email": "a3@x.com"})
        # Ids padded with spaces are the trimmed ids' events: found when their records are rebuilt.
        add_web_identify(con, "m0", " u1 ", None, {"phone": "2125550123"})
        add_web_identify(con, "m0b", None, "a2 ", {"address": {"city": "Springfield"}})
        _web_batch(con, "b1")
        build_person_records(con)
        # A row nothing new touches is kept as stored: spoil it to see that it is not rebuilt.
        con.execute("UPDATE identity.person_records SET first_name = 'kept' WHERE source_record_id = 'anon:a3'")
        # New batch: the user gets a trait under a new anonymous id, a2 a later page view.
        add_web_identify(con, "m4", "u1", "a4", {"last_name": "Lee"}, event_at=later)
        add_web_event(con, "m5", "page", anonymous_id="a2", event_at=later)
        _web_batch(con, "b2")
        counts = build_person_records(con)
        incremental = {row[1]: row for row in _all_rows(con)}
        assert incremental["anon:a3"][2] == "kept"
        con.execute("UPDATE identity.person_records SET first_name = NULL WHERE source_record_id = 'anon:a3'")
        assert _all_rows(con) == _fresh_build(con)
        assert counts == {"web": 5}
        assert incremental["user:u1"][2:4] == ("Ann", "Lee")
        assert incremental["user:u1"][6] == "2125550123"
        assert incremental["anon:a2"][8] == "Springfield"
        assert incremental["user:u1"][-1] == later
        assert incremental["anon:a2"][-1] == later
        assert "anon:a4" in incremental

        # A batch that is gone (a changed file's rows deleted) or edited in place: every web record.
        con.execute("UPDATE identity.person_records SET first_name = 'stale' WHERE source_record_id = 'anon:a3'")
        con.execute("DELETE FROM raw.web_events WHERE _batch_id = 'b1'")
        build_person_records(con)
        after_delete = _all_rows(con)
        assert after_delete == _fresh_build(con)
        assert "anon:a1" not in {row[1] for row in after_delete}
        con.execute("UPDATE identity.person_records SET first_name = 'stale' WHERE source_record_id = 'anon:a2'")
        con.execute("UPDATE raw.web_events SET traits = '{\"first_name\": \"Bo\"}' WHERE message_id = 'm4'")
        build_person_records(con)
        edited = _all_rows(con)
        assert edited == _fresh_build(con)
        assert {row[1]: row for row in edited}["user:u1"][2] == "Bo"


def test_duplicate_record_ids_are_refused_and_write_nothing(settings) -> None:
    with connect(settings) as con:
        create_raw_tables(con)
        add_call(con, "c1", phone="2125550123")
        add_call(con, "c1", phone="2125550199")
        # First night: the table written straight to the warehouse is rolled back.
        with pytest.raises(IdentityError, match="duplicate record ids"):
            build_person_records(con)
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'identity' AND table_name = 'person_records'"
        ).fetchall() == [(0,)]
        con.execute("DELETE FROM raw.call_center_calls WHERE caller_phone = '2125550199'")
        build_person_records(con)
        before = _all_rows(con)
        add_call(con, "c1", phone="2125550199")
        with pytest.raises(IdentityError, match="duplicate record ids"):
            build_person_records(con)
        assert _all_rows(con) == before


def test_dbt_reads_the_same_placeholder_web_ids_as_identity():
    """stg_web__events (macro web_id) and the web person records must drop the same stand-in ids:
    otherwise a visitor's events map to a record identity never built."""
    import re
    from pathlib import Path

    from identity.schema import PLACEHOLDER_WEB_IDS

    macro = (Path(__file__).parents[2] / "dbt_project" / "macros" / "web_id.sql").read_text()
    listed = re.search(r"in \(([^)]*)\)", macro.replace("\n", " ")).group(1)
    assert tuple(re.findall(r"'([^']*)'", listed)) == PLACEHOLDER_WEB_IDS
