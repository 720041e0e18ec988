"""`make docs`: the dbt docs site is generated from the built warehouse."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from cdp import dbt as cdp_dbt

# Column names that clearly hold personal data: names, contact details, address, birth date, the
# identifiers a person is tracked by, network addresses, raw payloads (JSON as sent: identify
# traits, message context with the IP, event properties, a CSV's unmapped columns). Every built
# column matching one must carry the `pii` tag (tags: ['pii']), whatever the layer.
PII_COLUMN = re.compile(
    r"(^|_)(e?mails?|phones?|first_name|last_name|full_name|date_of_birth|birth_date|street|city|"
    r"postcode|postal_code|zip_code|ip|ip_address|user_id|anonymous_id|previous_id|visitor_id|"
    r"user_record_id|anonymous_record_id|loyalty_card_number|card_number|traits|context|properties|extra)$"
)
# Matches of PII_COLUMN that hold no personal data, with the reason.
NOT_PERSONAL = {
    ("stg_store__stores", "city"): "a store's city, not a person's",
}


@pytest.fixture(scope="module")
def docs_site(built):
    """`make docs` run once over the built fixture warehouse: its static page, manifest and catalog."""
    settings, _ = built
    index = cdp_dbt.docs(settings)
    manifest = json.loads((index.parent / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((index.parent / "catalog.json").read_text(encoding="utf-8"))
    return index, manifest, catalog


@pytest.mark.slow
def test_docs_site_documents_dim_customers_with_its_columns(docs_site):
    index, _, catalog = docs_site
    assert index.name == "static_index.html" and index.exists()
    assert "dim_customers" in index.read_text(encoding="utf-8")
    dim = catalog["nodes"]["model.cdp.dim_customers"]
    assert {"customer_id", "segments", "has_consent_email_marketing"} <= set(dim["columns"])


@pytest.mark.slow
def test_every_built_column_is_described_and_personal_data_tagged_pii(docs_site):
    """Every model and seed states its grain, and every column of its built relation (the catalog:
    what the warehouse holds, not what the yml lists) has a description; a column whose name says
    it holds personal data is tagged `pii`."""
    _, manifest, catalog = docs_site
    nodes = {unique_id: node for unique_id, node in manifest["nodes"].items()
             if node["resource_type"] in ("model", "seed", "snapshot")
             and node["config"]["materialized"] != "ephemeral"}
    assert set(nodes) <= set(catalog["nodes"]), f"not built: {sorted(set(nodes) - set(catalog['nodes']))}"
    without_grain, undescribed, untagged = [], [], []
    for unique_id, node in sorted(nodes.items()):
        if "grain" not in node["description"].lower():
            without_grain.append(node["name"])
        for column in catalog["nodes"][unique_id]["columns"]:
            documented = node["columns"].get(column, {})
            if not documented.get("description", "").strip():
                undescribed.append(f"{node['name']}.{column}")
            if (PII_COLUMN.search(column) and (node["name"], column) not in NOT_PERSONAL
                    and "pii" not in documented.get("tags", [])):
                untagged.append(f"{node['name']}.{column}")
    problems = {"models without a description stating their grain": without_grain,
                "built columns without a description": undescribed,
                "personal-data columns not tagged pii": untagged}
    found = {what: names for what, names in problems.items() if names}
    assert not found, "\n".join(f"{len(names)} {what}: {', '.join(names)}" for what, names in found.items())


def _comments(settings) -> dict[tuple[str, str, str | None], str | None]:
    """(schema, relation, column or None) -> comment, for every dbt relation and column."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            """SELECT schema_name, table_name, NULL, comment FROM duckdb_tables()
               UNION ALL SELECT schema_name, view_name, NULL, comment FROM duckdb_views() WHERE NOT internal
               UNION ALL SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()"""
        ).fetchall()
    finally:
        con.close()
    return {(schema, name, column): comment for schema, name, column, comment in rows
            if schema in ("staging", "intermediate", "marts")}


def _last_build_comment_statements(settings) -> list[str]:
    log = (settings.dbt_target_dir.parent / "logs" / "dbt.log").read_text(encoding="utf-8")
    last = log.rsplit("Running with dbt", 1)[1]
    return re.findall(r'comment on \w+ "cdp"\."\w+"\."\w+"(?:\.\w+)?', last)


@pytest.mark.slow
def test_comments_already_in_place_are_not_written_again(tmp_path, warehouse_factory, nights):
    """persist_docs writes only the comments that differ from the stored ones (macros/persist_docs.sql):
    a stale or missing comment is restored, an incremental table's comments in place are left alone,
    and the tables and views the build recreates get all of theirs."""
    settings = warehouse_factory(tmp_path)
    cdp_dbt.build(settings, run_id="docs-1")
    documented = _comments(settings)
    records = ("intermediate", "int_person_records_dated")
    assert documented[(*records, None)].startswith("Grain: one row per person record")
    assert documented[(*records, "customer_id")]
    assert documented[("marts", "kpi_daily", None)] and documented[("staging", "stg_web__events", None)]

    nights.execute(settings, "COMMENT ON COLUMN intermediate.int_person_records_dated.customer_id IS 'stale'")
    nights.execute(settings, "COMMENT ON TABLE intermediate.int_orders_with_lines IS NULL")
    cdp_dbt.build(settings, run_id="docs-2")

    assert _comments(settings) == documented
    written = _last_build_comment_statements(settings)
    assert [s for s in written if '"int_person_records_dated"' in s] == [
        'comment on column "cdp"."intermediate"."int_person_records_dated".customer_id']
    assert [s for s in written if '"int_orders_with_lines"' in s] == [
        'comment on table "cdp"."intermediate"."int_orders_with_lines"']
    # recreated every build (a table model, a view): every comment written again
    assert any(s.startswith('comment on table "cdp"."marts"."kpi_daily"') for s in written)
    assert any(s.startswith('comment on view "cdp"."staging"."stg_web__events"') for s in written)
