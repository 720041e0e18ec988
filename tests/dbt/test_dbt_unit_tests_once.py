"""dbt unit tests run in a nightly build only when the project (or its vars, or a library) changed."""

from __future__ import annotations

from cdp import dbt as cdp_dbt


def test_unit_tests_run_once_per_project_version(warehouse_factory, tmp_path, monkeypatch):
    settings = warehouse_factory(tmp_path / "w")

    first = cdp_dbt.build(settings, "run-1")
    second = cdp_dbt.build(settings, "run-2")

    assert first["unit_tests"] >= 6 and not first["unit_tests_skipped"]
    # Same models, vars and versions as a build whose unit tests all passed: only data is built and tested.
    assert second["unit_tests"] == 0 and second["unit_tests_skipped"]
    assert (second["models"], second["tests"], second["failures"]) == (first["models"], first["tests"], 0)

    # An edited model, macro or unit test (here: any other fingerprint) runs them again.
    monkeypatch.setattr(cdp_dbt, "unit_tests_fingerprint", lambda variables: "another project version")
    third = cdp_dbt.build(settings, "run-3")
    assert third["unit_tests"] == first["unit_tests"] and not third["unit_tests_skipped"]
    # A full refresh always runs them.
    monkeypatch.undo()
    fourth = cdp_dbt.build(settings, "run-4", full_refresh=True)
    assert fourth["unit_tests"] == first["unit_tests"]


def test_unit_test_fingerprint_covers_vars():
    assert cdp_dbt.unit_tests_fingerprint({"segments": []}) == cdp_dbt.unit_tests_fingerprint({"segments": []})
    assert cdp_dbt.unit_tests_fingerprint({"segments": []}) != cdp_dbt.unit_tests_fingerprint({"segments": [{"name": "x"}]})
