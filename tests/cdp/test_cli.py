"""The ``cdp`` argument parser: options before or after a subcommand mean the same."""

from __future__ import annotations

import re
import shlex
from datetime import date, datetime

import pytest

from cdp import pipeline
from cdp.cli import build_parser, main, parse_args
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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--run-date", "2026-11-03", "run"], {"command": "run", "run_date": date(2026, 11, 3), "run_id": None}),
        (["--run-id", "X", "summary"], {"command": "summary", "run_id": "X", "run_date": None}),
        (["-v", "--run-id", "r1", "quality", "gate"], {"quality_command": "gate", "run_id": "r1", "verbose": True}),
        (["--run-date", "2026-11-03", "settings"], {"command": "settings", "run_date": date(2026, 11, 3)}),
        (["--run-id", "r0", "export", "--run-id", "r1"], {"run_id": "r1"}),  # the later one wins
    ],
)
def test_options_before_the_subcommand(argv, expected):
    """Review finding: `cdp --run-date D run` and `cdp --run-id X summary` were refused, though the
    README says these options go before or after a subcommand."""
    parsed = vars(parse_args(argv))
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize("argv", [["--run-id", "X", "settings"], ["quality", "--run-id", "X", "report"],
                                  ["settings", "--run-id", "X"]])
def test_run_id_refused_before_or_after_a_command_without_runs(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "does not take --run-id" in err or "unrecognized arguments: --run-id X" in err, err


def _runs(settings: Settings, stages: dict[str, str]) -> None:
    for day, status in stages.items():
        dated = settings.with_run_date(date.fromisoformat(day))
        pipeline._record_stage(dated, f"cdp_{day}", "identity", status, datetime(2026, 11, 4), {})


def test_summary_shows_the_run_of_the_run_date_asked_for(cdp_env, capsys):
    """Review finding: `cdp summary --run-date 2026-11-01` showed run cdp_2026-11-03 headed "run date 2026-11-01"."""
    settings = Settings.from_env()
    settings.ensure_dirs()
    _runs(settings, {"2026-11-01": "failed", "2026-11-03": "succeeded"})
    for argv in (["summary", "--run-date", "2026-11-01"], ["--run-date", "2026-11-01", "summary"]):
        assert main(argv) == 0
        assert capsys.readouterr().out.splitlines()[:2] == ["CDP run cdp_2026-11-01 (run date 2026-11-01)",
                                                            "  stages:       identity=failed"]
    assert main(["summary"]) == 0  # the latest run, headed with its own date, not today's
    assert capsys.readouterr().out.splitlines()[0] == "CDP run cdp_2026-11-03 (run date 2026-11-03)"
    assert main(["--run-id", "cdp_2026-11-01", "summary"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "CDP run cdp_2026-11-01 (run date 2026-11-01)"
    assert main(["summary", "--run-date", "2026-11-02"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"cdp summary: no run of run date 2026-11-02 is recorded in {settings.warehouse_path} "
        "(meta.pipeline_runs); `cdp summary` alone shows the latest run")
    assert main(["summary", "--run-id", "nope"]) == 1
    assert capsys.readouterr().err.startswith("cdp summary: no run nope is recorded")


def test_summary_before_any_run_says_so(cdp_env, capsys):
    assert main(["summary"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "No CDP run recorded yet"


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
