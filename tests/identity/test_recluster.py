"""The next night re-clusters only the components its changes touch, and publishes only changed
rows, with the result of clustering everything (identity.recluster)."""

from __future__ import annotations

import re

import pytest
from id_nights import two_nights
from id_raw_tables import add_csv_contact, add_store_customer, add_web_event, add_web_identify

from cdp.settings import Settings
from cdp.warehouse import connect
from identity.pipeline import resolve_warehouse
from identity.publish import CUSTOMER_SIZES
from identity.recluster import CLUSTERED_RECORDS


def _tables(settings) -> dict[str, list[tuple]]:
    """Every published identity table, run ids and timestamps of unchanged rows aside."""
    queries = {
        "customer_map": "SELECT source_system, source_record_id, customer_id FROM identity.customer_map",
        "links": "SELECT source_record_key_l, source_record_key_r, link_type, rule, match_weight, match_probability, "
                 "comparison_levels::VARCHAR, is_accepted, rejected_reason FROM identity.links",
        "history": "SELECT * FROM identity.customer_id_history",
        "changes": "SELECT * FROM identity.customer_map_changes",
        "metrics": "SELECT * FROM identity.run_metrics",
        "clustered_records": f"SELECT * FROM {CLUSTERED_RECORDS}",
        "customer_sizes": f"SELECT * FROM {CUSTOMER_SIZES}",
    }
    with connect(settings, read_only=True) as con:
        return {name: con.execute(f"{sql} ORDER BY ALL").fetchall() for name, sql in queries.items()}


def _everything(settings) -> dict[str, list[tuple]]:
    tables = ("customer_map", "links", "customer_id_history", "customer_map_changes", "run_metrics")
    with connect(settings, read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM identity.{t} ORDER BY ALL").fetchall() for t in tables}


def _first_night(con) -> None:
    add_web_identify(con, "m-1", None, "anon-solo", {"email": "solo.visitor@example.org"})
    add_web_identify(con, "m-2", "user-solo", None, {"email": "solo.user@example.org"})
    # Identifier groups (max_cluster_size 25): one phone on 26 records (too widely shared: a
    # rejected star), an e-mail on three, a phone on two.
    for number in range(26):
        add_csv_contact(con, f"zshop:{number}", f"Shopper{number}", "Crowd", phone="(212) 555-0199")
    for number in range(3):
        add_csv_contact(con, f"ztrio:{number}", "Tess", "Trio", email="trio@example.org")
    for number in range(2):
        add_csv_contact(con, f"zduo:{number}", "Dan", "Duo", phone="(303) 555-0142")
    # One loyalty card on six store records with nothing else in common (no Splink pair), five postcodes.
    for number, postcode in enumerate(("10001", "20002", "30003", "40004", "50005", "10001")):
        add_store_customer(con, 880001 + number, f"Card{number}", f"Holder{number}", postcode=postcode,
                           loyalty="LC-SHARED-6")
    # Load batches, as ingestion writes them: the next night reads web events of new batches only.
    con.execute("UPDATE raw.web_events SET _batch_id = 'web-night-1'")


def _second_night(con) -> None:
    # The shop phone falls to 25 records (pairs instead of a star); one of the trio leaves its
    # e-mail; both of the duo move to another phone together.
    con.execute("DELETE FROM raw.csv_contacts WHERE contact_id = 'zshop:0'")
    con.execute("UPDATE raw.csv_contacts SET email = 'tess.alone@example.org' WHERE contact_id = 'ztrio:1'")
    con.execute("UPDATE raw.csv_contacts SET phone = '(303) 555-0177' WHERE contact_id LIKE 'zduo:%'")
    # A link between two unchanged records: an alias ties the anonymous visitor to the user.
    add_web_event(con, "m-3", "alias", user_id="user-solo", previous_id="anon-solo")
    # A record that bridges two customers (a merge) through the phone of one and the e-mail of another.
    a, b = con.execute(
        "SELECT min(email), max(phone) FROM raw.store_customers WHERE email LIKE '%@%' AND phone IS NOT NULL"
    ).fetchall()[0]
    add_csv_contact(con, "bridge:1", "Pat", "Bridges", email=a, phone=b)
    # A sixth postcode for the card holders: no link or cluster changes, but the customer now has
    # more than five postcodes (run metrics).
    con.execute("UPDATE raw.store_customers SET postcode = '60006' WHERE customer_id = 880006")
    con.execute("UPDATE raw.web_events SET _batch_id = 'web-night-2' WHERE _batch_id IS NULL")


def _two_nights(tmp_path, model_dir, mode: str, caplog) -> Settings:
    return two_nights(tmp_path, model_dir, mode, caplog, logger="identity", baseline_table=CLUSTERED_RECORDS,
                      first_night=_first_night, second_night=_second_night)


@pytest.mark.slow
def test_next_night_reclusters_only_touched_components_and_equals_a_full_run(tmp_path, trained_model_dir,
                                                                           caplog) -> None:
    full = _two_nights(tmp_path, trained_model_dir, "full", caplog)
    assert "re-clustering" not in caplog.text
    assert "identifier links: pairing again" not in caplog.text
    assert "anonymous-to-user links:" not in caplog.text
    incremental = _two_nights(tmp_path, trained_model_dir, "incremental", caplog)
    reclustered = re.search(r"re-clustering (\d+) records", caplog.text)
    assert reclustered is not None
    touched = re.search(r"identifier links: pairing again (\d+) identifiers", caplog.text)
    assert touched is not None and 0 < int(touched.group(1)) < 200
    # Only the new batch's events were read for anonymous-to-user links: the alias.
    assert "anonymous-to-user links: 1 added from new load batches" in caplog.text
    published = _tables(incremental)
    assert 0 < int(reclustered.group(1)) < len(published["customer_map"]) / 4
    assert published == _tables(full)
    shares = [row[9] for row in published["metrics"]]
    assert shares[1] > shares[0]  # the card holders' sixth postcode counted
    kinds = {row[3] for row in published["history"] if row[0] == "run-2"}
    assert {"new", "merge"} <= kinds
    # Only changed rows were written: the rest keep the run that last decided them.
    with connect(incremental, read_only=True) as con:
        links_by_run = dict(con.execute("SELECT run_id, count(*) FROM identity.links GROUP BY 1").fetchall())
        map_by_run = dict(con.execute("SELECT run_id, count(*) FROM identity.customer_map GROUP BY 1").fetchall())
        alias = con.execute(
            "SELECT run_id, is_accepted FROM identity.links WHERE rule = 'anonymous_to_user'"
            " AND source_record_key_l = 'web|anon:anon-solo'"
        ).fetchall()
    assert 0 < links_by_run["run-2"] < links_by_run["run-1"]
    assert 0 < map_by_run["run-2"] < map_by_run["run-1"]
    assert alias == [("run-2", True)]
    with connect(incremental, read_only=True) as con:
        shop = con.execute(
            "SELECT count(*), count(rejected_reason) FROM identity.links"
            " WHERE rule = 'phone' AND source_record_key_l LIKE 'csv|zshop:%'"
        ).fetchall()
        trio_duo = con.execute(
            "SELECT source_record_key_l, source_record_key_r, rule FROM identity.links"
            " WHERE regexp_matches(source_record_key_l, '^csv[|]z(trio|duo):') AND rule <> 'splink' ORDER BY ALL"
        ).fetchall()
    assert shop == [(25 * 24 // 2, 0)]  # every pair now, no longer a rejected star
    assert trio_duo == [("csv|zduo:0", "csv|zduo:1", "phone"), ("csv|ztrio:0", "csv|ztrio:2", "email")]
    # A rerun of the night (which first undoes its map changes, so clusters everything) changes nothing.
    before = _everything(incremental)
    resolve_warehouse(incremental, "run-2")
    assert _everything(incremental) == before
    assert _tables(incremental) == published
