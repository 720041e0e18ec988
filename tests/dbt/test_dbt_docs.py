"""`make docs`: the dbt docs site is generated from the built warehouse."""

from __future__ import annotations

import json

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
