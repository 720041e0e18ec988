"""The ``cdp`` argument parser: options before or after a subcommand mean the same."""

from __future__ import annotations

import re
import shlex
from datetime import date

import pytest

from cdp import pipeline
from cdp.cli import build_parser, main
from cdp.settings import Settings


def _parsed(argv: list[str]) -> dict:
    return {k: v for k, v in vars(build_parser().parse_args(argv)).items() if k != "func"}


def test_the_command_an_export_refusal_suggests_parses(cdp_env):
    """The refusal said `cdp quality gate --run-id R`, which argparse rejected (unrecognized arguments)."""
    settings = Settings.from_env()
    settings.ensure_dirs()
    with pytest.raises(pipeline.ExportRefused) as refused:
        pipeline.export_audiences(settings, "run_4")
    [command] = re.findall(r"\(cdp quality gate [^)]*\)", str(refused.value))
    argv = shlex.split(command.strip("()"))[1:]
    assert _parsed(argv)["run_id"] == "run_4"


@pytest.mark.parametrize(
    "argv",
    [
        ["quality", "gate", "--run-id", "r1", "--run-date", "2026-01-01"],
        ["quality", "--run-id", "r1", "--run-date", "2026-01-01", "gate"],
        ["quality", "--run-id", "r0", "gate", "--run-id", "r1", "--run-date", "2026-01-01"],
    ],
)
def test_run_options_after_the_subcommand(argv):
    parsed = _parsed(argv)
    assert (parsed["run_id"], parsed["run_date"], parsed["quality_command"]) == ("r1", date(2026, 1, 1), "gate")


def test_identity_run_date_after_the_subcommand_and_verbose_anywhere():
    assert _parsed(["identity", "run", "--run-date", "2026-01-01"])["run_date"] == date(2026, 1, 1)
    assert _parsed(["identity", "--run-date", "2026-01-01", "run"])["run_date"] == date(2026, 1, 1)
    assert _parsed(["identity", "run", "--run-id", "r1", "-v"])["verbose"] is True
    assert _parsed(["ingest", "--verbose"])["verbose"] is True
    assert _parsed(["-v", "ingest"])["verbose"] is True
    assert _parsed(["ingest"])["verbose"] is False


def test_quality_report_run_is_not_an_ambiguous_abbreviation():
    """`quality report --run R` (the README's form) was read as an abbreviation of --run-date/--run-id."""
    assert _parsed(["quality", "report", "--run", "r1"])["run"] == "r1"
    assert _parsed(["build", "--full"])["full_refresh"] is True  # other commands keep abbreviations


def test_errors_are_one_line_with_exit_code_1(cdp_env, capsys):
    """Review finding: `cdp quality report` before any gate (LookupError) and DuckDB errors were tracebacks."""
    assert main(["quality", "report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cdp quality: no quality gate has run yet") and err.count("\n") == 1, err
    warehouse = Settings.from_env().warehouse_path
    warehouse.parent.mkdir(parents=True)
    warehouse.write_text("not a database\n", encoding="utf-8")
    assert main(["summary"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cdp summary: warehouse error (IOException): ") and str(warehouse) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
