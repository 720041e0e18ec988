"""Checks really run through Great Expectations, errors surface as readable failures, Data Docs are built."""

from __future__ import annotations

import pandas as pd

from quality.gx_validation import PlannedCheck, validate
from quality.suite_config import CheckSpec


def spec(name: str, expectation: str, table: str = "t", **kwargs: object) -> CheckSpec:
    return CheckSpec(name=name, severity="critical", description=f"{name} for a reviewer", expectation=expectation,
                     kwargs=dict(kwargs), query=f"SELECT * FROM {table}")


def test_outcomes_per_check_and_data_docs(tmp_path):
    not_null = spec("ids_present", "expect_column_values_to_not_be_null", column="customer_id")
    unique = spec("ids_unique", "expect_column_values_to_be_unique", column="customer_id")
    missing_column = spec("typo_check", "expect_column_values_to_not_be_null", table="u", column="no_such_column")
    frame = pd.DataFrame({"customer_id": ["a", "a", None]})
    frames = {c.data_key: frame for c in (not_null, unique, missing_column)}

    outcomes = validate("marts", [PlannedCheck(c, c.kwargs) for c in (not_null, unique, missing_column)], frames,
                        gx_root=tmp_path / "gx", docs_dir=tmp_path / "docs")

    assert outcomes["ids_present"].success is False and outcomes["ids_present"].result["unexpected_count"] == 1
    assert outcomes["ids_unique"].success is False and outcomes["ids_unique"].result["unexpected_count"] == 2
    assert outcomes["typo_check"].success is False and "no_such_column" in outcomes["typo_check"].result["error"]
    # Checks on the same query share one asset/suite; each asset gets its validation pages.
    pages = {p.name for p in (tmp_path / "docs" / "validations").iterdir()}
    assert pages == {"marts__ids_present", "marts__typo_check"}
    assert (tmp_path / "docs" / "index.html").exists()
    # Results are stored on disk, so a later stage of the same run adds to the same store and site.
    assert {p.name for p in (tmp_path / "gx" / "uncommitted" / "validations").iterdir()} >= pages

    earlier_pages = {p: p.stat().st_mtime_ns for p in (tmp_path / "docs").rglob("*.html") if p.name != "index.html"}
    later = spec("rows_present", "expect_table_row_count_to_be_between", table="v", min_value=1)
    outcomes = validate("identity", [PlannedCheck(later, later.kwargs)], {later.data_key: frame},
                        gx_root=tmp_path / "gx", docs_dir=tmp_path / "docs")
    assert outcomes["rows_present"].success is True
    assert {p.name for p in (tmp_path / "docs" / "validations").iterdir()} == pages | {"identity__rows_present"}
    assert "identity__rows_present" in (tmp_path / "docs" / "index.html").read_text()
    # Data Docs are built incrementally: the earlier stage's pages are kept as written, and the index lists both.
    index = (tmp_path / "docs" / "index.html").read_text()
    assert "marts__ids_present" in index and "marts__typo_check" in index
    assert {p: p.stat().st_mtime_ns for p in earlier_pages} == earlier_pages
    suites = {p.name for p in (tmp_path / "docs" / "expectations").iterdir()}
    assert suites == {"marts__ids_present.html", "marts__typo_check.html", "identity__rows_present.html"}


def test_data_docs_templates_compiled_once_per_process(tmp_path, monkeypatch):
    import jinja2

    check = spec("rows_present", "expect_table_row_count_to_be_between", min_value=1)
    frames = {check.data_key: pd.DataFrame({"customer_id": ["a"]})}
    validate("marts", [PlannedCheck(check, check.kwargs)], frames, gx_root=tmp_path / "gx", docs_dir=tmp_path / "one")

    compiled: list[str] = []
    compile_template = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, source, name=None, *a, **k: compiled.append(name) or
                        compile_template(self, source, name, *a, **k))
    validate("marts", [PlannedCheck(check, check.kwargs)], frames, gx_root=tmp_path / "gx", docs_dir=tmp_path / "two")

    # The second site reuses the compiled page templates (only inline template strings compile again)
    # and renders the same pages.
    assert not [name for name in compiled if name and name.endswith(".j2")]
    assert "marts__rows_present" in (tmp_path / "two" / "index.html").read_text()
    assert {p.name for p in (tmp_path / "two" / "validations").iterdir()} == {"marts__rows_present"}
