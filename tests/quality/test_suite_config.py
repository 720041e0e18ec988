"""The versioned suite files: valid, documented, thresholds from settings."""

from __future__ import annotations

import pytest

from quality.suite_config import STAGES, SuiteError, load_suite, resolve_kwargs, resolve_parameters


@pytest.mark.parametrize("stage", STAGES)
def test_every_suite_loads_and_documents_its_checks(stage):
    suite = load_suite(stage)
    assert suite.checks and suite.summary
    for check in suite.checks:
        assert check.severity in ("critical", "warning")
        assert len(check.description) > 30, f"{check.name}: describe it for a compliance reviewer"
        assert check.query or check.dataset


def test_thresholds_resolve_from_settings_then_suite_defaults(tmp_path):
    from cdp.settings import Settings

    suite = load_suite("identity")
    parameters = resolve_parameters(suite, Settings(home=tmp_path, max_cluster_size=7))
    check = next(c for c in suite.checks if c.name == "cluster_size_within_limit")
    assert resolve_kwargs(check.kwargs, parameters)["max_value"] == 7
    overmerge = next(c for c in suite.checks if c.name == "overmerge_first_names")
    assert resolve_kwargs(overmerge.kwargs, parameters)["max_value"] == 0.01  # no such setting: suite default


def test_malformed_suite_names_file_and_check(tmp_path):
    (tmp_path / "marts.yml").write_text(
        "stage: marts\nchecks:\n  - name: typo\n    severity: critical\n    description: d\n"
        "    query: SELECT 1 AS x\n    expectation: expect_column_values_to_be_positive\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"marts.yml, check #1 \(typo\).*not a Great Expectations expectation"):
        load_suite("marts", suites_dir=tmp_path)


def test_future_timestamp_allowance_drives_the_check_not_only_its_description():
    """``timestamp_max_future_days`` was only quoted in the descriptions; the checks kept -1."""
    suite = load_suite("ingestion")
    parameters = {**suite.parameters, "timestamp_max_future_days": 3}
    checks = [c for c in suite.checks if c.name.endswith("_plausible")]
    assert {c.name for c in checks} >= {"call_times_plausible", "store_order_times_plausible"}
    for check in checks:
        assert resolve_kwargs(check.kwargs, parameters)["min_value"] == -3, check.name
        assert "${timestamp_max_future_days}" in check.description, check.name


def test_negated_threshold_reference_needs_a_default(tmp_path):
    (tmp_path / "ingestion.yml").write_text(
        "stage: ingestion\nchecks:\n  - name: neg\n    severity: critical\n    description: d\n"
        "    query: SELECT 1 AS x\n    expectation: expect_column_values_to_be_between\n"
        "    kwargs: {column: x, min_value: \"-${nowhere}\"}\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"threshold \$\{nowhere\} has no default"):
        load_suite("ingestion", suites_dir=tmp_path)
