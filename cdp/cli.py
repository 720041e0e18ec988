"""The ``cdp`` command line: the same functions the Airflow DAG calls, runnable by hand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from cdp.settings import Settings, SettingsError, settings_table


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(run_date=getattr(args, "run_date", None))


def _run_id(args: argparse.Namespace, settings: Settings) -> str:
    from cdp.pipeline import make_run_id, safe_run_id

    return safe_run_id(args.run_id) if getattr(args, "run_id", None) else make_run_id(settings.run_date)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def cmd_generate(args: argparse.Namespace) -> int:
    from cdp.sample_data import generate

    settings = _settings(args)
    out = Path(args.out) if args.out else settings.landing_dir
    counts = generate(out, customers=args.customers, seed=args.seed, run_date=settings.run_date)
    print(f"Sample data for {args.customers:,} customers (seed {args.seed}, run date {settings.run_date}) in {out}")
    for key, value in counts.items():
        print(f"  {key:<20}{value:>12,}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from cdp.pipeline import ingest

    settings = _settings(args)
    _print(ingest(settings, _run_id(args, settings), source=args.source))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from identity.resolve_file import resolve_file

    settings = _settings(args)
    result = resolve_file(Path(args.input), Path(args.output), settings, truth=Path(args.truth) if args.truth else None,
                          date_format=args.date_format)
    _print(result)
    return 0


def cmd_identity(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.identity_command == "train":
        from identity.train import train_model

        print(f"model saved: {train_model(settings)}")
    elif args.identity_command == "run":
        from cdp.pipeline import resolve_identities

        _print(resolve_identities(settings, _run_id(args, settings)))
    elif args.identity_command == "evaluate":
        from identity.evaluate import evaluate

        _print(evaluate(settings, Path(args.truth) if args.truth else settings.truth_path))
    elif args.identity_command == "explain":
        from identity.explain import CustomerNotFound, explain

        try:
            print(explain(settings, args.customer_id))
        except CustomerNotFound as exc:
            print(f"cdp identity explain: {exc}", file=sys.stderr)
            return 1
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from cdp.pipeline import build_marts

    settings = _settings(args)
    _print(build_marts(settings, _run_id(args, settings), full_refresh=args.full_refresh))
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from cdp.dbt import docs

    print(f"dbt docs written to {docs(_settings(args))}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.quality_command == "gate":
        from cdp.pipeline import quality_gate, write_report

        run_id = _run_id(args, settings)
        try:
            for gate in args.stage or ("ingestion", "identity", "marts"):
                _print({gate: quality_gate(settings, run_id, gate)})
        finally:
            print(f"report: {write_report(settings, run_id)}")
        return 0
    from quality.report import latest_verdict

    verdict, path = latest_verdict(settings, run=args.run)
    print(f"verdict: {verdict}\nreport:  {path}")
    return 0 if verdict == "passed" else 1


def cmd_export(args: argparse.Namespace) -> int:
    from cdp.pipeline import export_audiences

    settings = _settings(args)
    _print(export_audiences(settings, _run_id(args, settings), segment=args.segment, fmt=args.format))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from cdp.pipeline import format_summary, run_all

    settings = _settings(args)
    summary = run_all(settings, _run_id(args, settings), on_stage=lambda name: print(f"-> {name}", flush=True))
    print(format_summary(summary))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from cdp.pipeline import format_summary, safe_run_id, summarize

    settings = _settings(args)
    run_id = safe_run_id(args.run_id) if args.run_id else None
    summary = summarize(settings, run_id, run_date=args.run_date)
    if (run_id or args.run_date) and summary["run_date"] is None:
        asked = f"run {run_id}" if run_id else f"run of run date {args.run_date}"
        raise LookupError(f"no {asked} is recorded in {settings.warehouse_path} (meta.pipeline_runs); "
                          "`cdp summary` alone shows the latest run")
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        print("| variable | default | what it is |\n|---|---|---|")
        for name, default, doc in settings_table():
            print(f"| `{name}` | `{default}` | {doc} |")
    else:
        for key, value in vars(_settings(args)).items():
            print(f"CDP_{key.upper()}={value}")
    return 0


def _add_common_options(parser: argparse.ArgumentParser, run_scoped: bool, default: Any) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=False if default is None else default,
                        help="log progress to stderr")
    parser.add_argument("--run-date", type=date.fromisoformat, default=default,
                        help="logical date YYYY-MM-DD (default: CDP_RUN_DATE or today)")
    if run_scoped:
        parser.add_argument("--run-id", default=default,
                            help="run id (default: cdp_<run date>; rerunning a date replaces its work)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; options before the subcommand mean what they mean after it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run_id is not None and not args.takes_run_id:
        # Before the subcommand the top-level parser accepts --run-id for any command; after it,
        # argparse refuses it for commands that have none. Refuse both the same way.
        command = " ".join(filter(None, (args.command, getattr(args, "identity_command", None),
                                         getattr(args, "quality_command", None))))
        parser.error(f"{command} does not take --run-id")
    return args


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so the tests and the README can inspect it)."""
    # No abbreviations at the top: argparse classifies every argument with the top-level parser's
    # options first, so `quality report --run R` would be an ambiguous --run-date/--run-id.
    parser = argparse.ArgumentParser(prog="cdp", description=__doc__, allow_abbrev=False)
    _add_common_options(parser, run_scoped=True, default=None)
    parser.set_defaults(takes_run_id=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def options(run_scoped: bool) -> argparse.ArgumentParser:
        """The options every command takes, also after a subcommand (``cdp quality gate --run-id R``).

        After a subcommand they default to SUPPRESS: argparse copies a subparser's defaults over
        values already parsed, which would drop ``cdp --run-date D run``'s or ``cdp quality --run-id
        R gate``'s value. The defaults (None, False) are the top-level parser's.
        """
        common = argparse.ArgumentParser(add_help=False)
        _add_common_options(common, run_scoped, default=argparse.SUPPRESS)
        return common

    def add(
        name: str, func: Any, help_text: str, run_scoped: bool = True, nested: bool = False
    ) -> argparse.ArgumentParser:
        # A command with subcommands must not take abbreviations: argparse would read the
        # subcommand's own options as its abbreviations (``quality report --run R`` as an
        # ambiguous --run-date/--run-id).
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[options(run_scoped)],
                           allow_abbrev=not nested)
        p.set_defaults(func=func, takes_run_id=run_scoped)
        return p

    def add_sub(subparsers: Any, name: str, help_text: str, run_scoped: bool = True) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, help=help_text, parents=[options(run_scoped)])
        p.set_defaults(takes_run_id=run_scoped)
        return p

    p = add("generate", cmd_generate, "write seeded sample data for all four sources", run_scoped=False)
    p.add_argument("--customers", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="landing-zone folder (default: CDP_LANDING_DIR)")

    p = add("ingest", cmd_ingest, "load new source data into the raw tables")
    p.add_argument("--source", help="web, call_center, store or csv (default: all)")

    p = add("resolve", cmd_resolve, "resolve a CSV/Parquet of person records to customer ids", run_scoped=False)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--truth", help="ground truth (source_system, source_record_id, person_id) to score against")
    p.add_argument("--date-format", help="strptime pattern of birth dates not in ISO form, e.g. %%m/%%d/%%Y "
                   "(default: ISO, YYYYMMDD, 15 Jan 1960, and D/M/YYYY or M/D/YYYY when the file shows which); "
                   "a two-digit year (%%y) is read on or before the run date, 60 = 1960")

    p = add("identity", cmd_identity, "identity resolution: train, run, evaluate, explain", nested=True)
    isub = p.add_subparsers(dest="identity_command", required=True)
    add_sub(isub, "train", "train the Splink model and save a new version", run_scoped=False)
    add_sub(isub, "run", "resolve the warehouse's person records")
    ev = add_sub(isub, "evaluate", "precision, recall, F1 against a ground truth", run_scoped=False)
    ev.add_argument("--truth", help="default: CDP_TRUTH_PATH")
    ex = add_sub(isub, "explain", "why the records of a customer were linked", run_scoped=False)
    ex.add_argument("customer_id")

    p = add("build", cmd_build, "dbt build: staging, marts, segments and their tests")
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild incremental models from scratch (after their columns change)")
    add("docs", cmd_docs, "generate the dbt docs site", run_scoped=False)

    p = add("quality", cmd_quality, "data-quality gates and reports", nested=True)
    qsub = p.add_subparsers(dest="quality_command", required=True)
    g = add_sub(qsub, "gate", "run gates (default: ingestion, identity, marts)")
    g.add_argument("--stage", action="append", choices=["ingestion", "identity", "marts"])
    r = add_sub(qsub, "report", "print the verdict and report path of a run", run_scoped=False)
    r.add_argument("--run", help="run id (default: latest)")

    p = add("export", cmd_export, "publish audience exports")
    p.add_argument("--segment", help="one segment (default: all)")
    p.add_argument("--format", choices=None, help="csv, parquet, google or meta (default: all)")

    add("run", cmd_run, "run the whole nightly pipeline without Airflow")

    p = add("summary", cmd_summary, "what a run did")
    p.add_argument("--json", action="store_true")

    p = add("settings", cmd_settings, "show the effective settings", run_scoped=False)
    p.add_argument("--markdown", action="store_true", help="print the documented settings table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cdp`` command."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"cdp: configuration error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"cdp {args.command}: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        if isinstance(exc, (KeyError, IndexError)):
            raise  # a bug, whose traceback is needed; not something the user asked for that is missing
        # Something asked for is not there yet (no gate has run, no such run).
        print(f"cdp {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        # duckdb is imported lazily by the commands that need it; only its errors are caught here.
        duckdb = sys.modules.get("duckdb")
        if duckdb is None or not isinstance(exc, duckdb.Error):
            raise
        print(f"cdp {args.command}: warehouse error ({type(exc).__name__}): {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
