"""`make docs`: the dbt docs site is generated from the built warehouse."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from cdp import dbt as cdp_dbt


@pytest.mark.slow
def test_docs_site_documents_dim_customers_with_its_columns(built):
    settings, _ = built
    index = cdp_dbt.docs(settings)
    assert index.name == "static_index.html" and index.exists()
    assert "dim_customers" in index.read_text(encoding="utf-8")
    catalog = json.loads((index.parent / "catalog.json").read_text(encoding="utf-8"))
    dim = catalog["nodes"]["model.cdp.dim_customers"]
    assert {"customer_id", "segments", "has_consent_email_marketing"} <= set(dim["columns"])


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
