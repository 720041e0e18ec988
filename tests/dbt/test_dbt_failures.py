"""A failing dbt test surfaces as DbtBuildFailed naming the node."""

from __future__ import annotations

import duckdb
import pytest

from cdp import dbt as cdp_dbt


def _build_after(tmp_path, warehouse_factory, sql: str, run_id: str) -> cdp_dbt.DbtBuildFailed:
    """Spoil a built warehouse with ``sql``, build again, and return the failure dbt raised."""
    settings = warehouse_factory(tmp_path)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(sql)
    finally:
        con.close()
    with pytest.raises(cdp_dbt.DbtBuildFailed) as raised:
        cdp_dbt.build(settings, run_id=run_id)
    # dbt released the warehouse: another process-local connection can write to it again
    duckdb.connect(str(settings.warehouse_path)).close()
    return raised.value


@pytest.mark.slow
def test_duplicate_primary_key_fails_the_build_naming_the_test(tmp_path, warehouse_factory):
    error = _build_after(tmp_path, warehouse_factory,
                         "INSERT INTO raw.store_orders SELECT * FROM raw.store_orders WHERE order_id = 1", "dup")
    failed = {node["unique_id"] for node in error.failed_nodes}
    assert any("source_primary_key_store_store_orders_order_id" in node for node in failed), failed
    assert "source_primary_key_store_store_orders_order_id" in str(error)


@pytest.mark.slow
def test_primary_key_test_catches_duplicates_and_nulls_naming_the_model(tmp_path, warehouse_factory):
    # a repeated person record and one without a source system (its key is NULL)
    error = _build_after(
        tmp_path, warehouse_factory,
        "INSERT INTO identity.person_records_standardised "
        "SELECT * FROM identity.person_records_standardised WHERE source_record_id = '101';"
        "INSERT INTO identity.person_records_standardised (source_system, source_record_id) VALUES (NULL, 'x')",
        "bad-key",
    )
    failed = {node["unique_id"]: node["message"] for node in error.failed_nodes}
    key_test = [node for node in failed if "primary_key_stg_identity__person_records_source_record_key" in node]
    assert key_test, failed
    assert "Got 2 results" in failed[key_test[0]]  # the repeated key and the NULL key


@pytest.mark.slow
def test_an_order_line_without_its_order_fails_the_source_relationship_test(tmp_path, warehouse_factory):
    error = _build_after(
        tmp_path, warehouse_factory,
        "INSERT INTO raw.store_order_lines VALUES (4, 404, 'SKU-4', 'Belt', 'Accessories', 1, 30.00, "
        "'2026-11-20 12:00:00', 'select * from order_lines', null, 'b3', '2026-11-22 00:00:00')",
        "orphan-line",
    )
    failed = {node["unique_id"].split(".")[2]: node["message"] for node in error.failed_nodes}
    # the foreign key is tested on the source's integer columns, not on the staging views' text
    assert failed == {
        "source_relationships_store_store_order_lines_order_id__order_id__source_store_store_orders_":
            "Got 1 result, configured to fail if != 0",
    }, failed


@pytest.mark.slow
def test_compound_key_test_catches_a_null_part_as_well_as_a_repeat(tmp_path, warehouse_factory):
    # unique_combination is a compound primary key: a NULL part fails it (no separate not_null tests)
    error = _build_after(
        tmp_path, warehouse_factory,
        "INSERT INTO identity.customer_map VALUES ('store', NULL, 'C2', '2026-11-23 01:00:00'), "
        "('store', '101', 'C1', '2026-11-23 01:00:00')",
        "bad-compound-key",
    )
    failed = {node["unique_id"].split(".")[2]: node["message"] for node in error.failed_nodes}
    key_test = "source_unique_combination_identity_customer_map_source_system__source_record_id"
    assert failed.get(key_test) == "Got 2 results, configured to fail if != 0", failed
