"""The per-record model rebuilt by row comparison (int_person_records_dated, and the view over it,
bridge_customer_records): a new loyalty card alone, a re-standardised attribute with an unchanged record_updated_at, an updated record, a CSV list
re-dated, a record gone and a new one give the same rows as a --full-refresh build of the same data
(EXCEPT ALL both ways), and a rerun of the night rewrites no row."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

RECORD_TABLES = (
    "intermediate.int_person_records_dated",
    "marts.bridge_customer_records",
    "intermediate.int_customer_golden_record",
    "intermediate.int_identifiers_per_customer",
    "marts.dim_customers",
    "marts.kpi_identity",
)
# A row-compared model repairs any stored row that differs from its inputs, so a marker cannot show
# that a rerun wrote nothing; the row ids can: a deleted and re-inserted row gets a new one.
# (bridge_customer_records is a view over int_person_records_dated.)
ROW_IDS = {
    "intermediate.int_person_records_dated": "select source_record_key, rowid from intermediate.int_person_records_dated order by 1",
}


@pytest.mark.slow
def test_record_changes_equal_full_refresh_and_a_rerun_changes_nothing(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")

    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(
        night_2,
        """
        -- Alice's store record gets a new loyalty card and nothing else (no golden-record input)
        update identity.person_records_standardised set loyalty_card_number = 'L-101-B'
        where source_record_id = '101';
        -- a new standardisation rule rewrites Frank's phone: same record, same record_updated_at
        update identity.person_records_standardised set phone = '+15550000066'
        where source_record_id = '106';
        -- Bob's store record changed in the POS
        update identity.person_records_standardised
        set email = 'bob@new.example', record_updated_at = '2026-11-24 09:00:00'
        where source_record_id = '102';
        -- Erin's CRM list (no date in its name) is reloaded: dated by its new load day
        update raw.csv_contacts set _loaded_at = '2026-11-24 08:00:00'
        where contact_id = 'crm__accounts.csv:2';
        -- a call record is gone; a visitor is resolved to Carol
        delete from identity.customer_map where source_record_id = 'call-4';
        delete from identity.person_records_standardised where source_record_id = 'call-4';
        insert into identity.customer_map values ('web', 'anon:a9', 'C3', '2026-11-24 00:00:00');
        insert into identity.person_records_standardised
            (source_system, source_record_id, web_anonymous_id, record_updated_at)
        values ('web', 'anon:a9', 'a9', '2026-11-01 09:00:00');
        """,
    )
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, "select phone from marts.bridge_customer_records where source_record_key = 'store|106'") == [
        ("+15550000066",)
    ]
    assert sql(night_2, "select email from marts.bridge_customer_records where source_record_key = 'store|102'") == [
        ("bob@new.example",)
    ]
    assert sql(night_2, "select loyalty_card_number from marts.bridge_customer_records "
                        "where source_record_key = 'store|101'") == [("L-101-B",)]
    assert sql(night_2, "select cast(record_dated_at as date) from intermediate.int_person_records_dated "
                        "where source_record_key = 'csv|crm__accounts.csv:2'") == [(date(2026, 11, 24),)]
    assert sql(night_2, "select count(*) from marts.bridge_customer_records "
                        "where source_record_key in ('call_center|call-4', 'web|anon:a9')") == [(1,)]
    assert sql(night_2, "select count(*) from intermediate.int_person_records_dated "
                        "where source_record_key = 'call_center|call-4' or customer_id is null") == [(0,)]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh")
    assert nights.differences(night_2, str(full.warehouse_path), RECORD_TABLES) == {}

    # A rerun on unchanged data rewrites no record: every row keeps its row id, and the tables still
    # equal the full refresh.
    row_ids = {table: sql(night_2, query) for table, query in ROW_IDS.items()}
    cdp_dbt.build(night_2, run_id="night-2")
    assert {table: sql(night_2, query) for table, query in ROW_IDS.items()} == row_ids
    assert nights.differences(night_2, str(full.warehouse_path), RECORD_TABLES) == {}


@pytest.mark.slow
def test_a_table_built_before_written_at_gains_it_without_rewriting_its_rows(warehouse_factory, sql, tmp_path, nights):
    """Upgrade: int_person_records_dated syncs its columns, so a table built before `written_at`
    existed gets the column; its row comparison leaves the column out on both sides, so only the
    records that changed are rewritten (and stamped), the others keep a NULL (tested every night)."""
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    nights.execute(settings, "alter table intermediate.int_person_records_dated drop column written_at")
    nights.execute(settings, "update identity.person_records_standardised set phone = '+15550000066' "
                             "where source_record_id = '106'")
    cdp_dbt.build(settings, run_id="night-2")

    assert sql(settings, "select source_record_key from intermediate.int_person_records_dated "
                         "where written_at is not null") == [("store|106",)]
    full = nights.full_refresh_copy(settings, "night-2", tmp_path / "full_refresh")
    assert nights.differences(settings, str(full.warehouse_path), RECORD_TABLES) == {}
    # the next night compares without the column too: nothing changed, nothing is rewritten
    row_ids = {table: sql(settings, query) for table, query in ROW_IDS.items()}
    cdp_dbt.build(settings, run_id="night-2")
    assert {table: sql(settings, query) for table, query in ROW_IDS.items()} == row_ids


@pytest.mark.slow
def test_rows_are_compared_by_their_stored_hash(warehouse_factory, sql, tmp_path, nights):
    """Each stored row keeps the hash of the fresh row it was written from (`row_hash`), and the next
    build compares fresh rows with it instead of hashing every stored row: a stored hash that no
    longer matches gets its row rewritten, and a table built before the column existed (upgrade)
    is compared by hashing its rows, then rewrites the rows left without a hash once; every night
    equals a --full-refresh."""
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select count(*) from intermediate.int_person_records_dated where row_hash is null") == [(0,)]

    # the comparison reads the stored hash: a wrong one makes its row differ, an intact one does not
    nights.execute(settings, "update intermediate.int_person_records_dated set row_hash = 0 "
                             "where source_record_key = 'store|102'")
    written_before = sql(settings, "select source_record_key, written_at from intermediate.int_person_records_dated "
                                   "where source_record_key <> 'store|102' order by 1")
    cdp_dbt.build(settings, run_id="night-1")
    assert sql(settings, "select source_record_key, written_at from intermediate.int_person_records_dated "
                         "where source_record_key <> 'store|102' order by 1") == written_before
    assert sql(settings, "select row_hash <> 0 from intermediate.int_person_records_dated "
                         "where source_record_key = 'store|102'") == [(True,)]

    # upgrade: the table loses the column, a record changes; only that record is rewritten, the
    # others get a NULL hash, and the next build rewrites them once (whatever the stored hash says)
    nights.execute(settings, "alter table intermediate.int_person_records_dated drop column row_hash")
    nights.execute(settings, "update identity.person_records_standardised set phone = '+15550000066' "
                             "where source_record_id = '106'")
    cdp_dbt.build(settings, run_id="night-2")
    assert sql(settings, "select source_record_key from intermediate.int_person_records_dated "
                         "where row_hash is not null") == [("store|106",)]
    cdp_dbt.build(settings, run_id="night-2")
    assert sql(settings, "select count(*) from intermediate.int_person_records_dated where row_hash is null") == [(0,)]
    full = nights.full_refresh_copy(settings, "night-2", tmp_path / "full_refresh")
    assert nights.differences(settings, str(full.warehouse_path), RECORD_TABLES) == {}
    row_ids = {table: sql(settings, query) for table, query in ROW_IDS.items()}
    cdp_dbt.build(settings, run_id="night-2")
    assert {table: sql(settings, query) for table, query in ROW_IDS.items()} == row_ids
