"""Load the versioned gate definitions in ``quality/suites/<stage>.yml``.

A suite file lists the checks of one gate. Each check names the data it runs on (a SQL ``query``
against the warehouse, or a ``dataset`` the gate builds in Python, e.g. the export frames), the
Great Expectations expectation type with its kwargs, a severity and a plain-language description.
Thresholds live here, not in code: a kwarg written ``${name}`` is replaced by the setting
``name`` when ``Settings`` has it, else by the suite's own ``parameters`` default, so an operator
can tune e.g. ``CDP_QUARANTINE_RATE_MAX`` without touching the suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUITES_DIR = Path(__file__).resolve().parent / "suites"
STAGES = ("ingestion", "identity", "marts", "export")
SEVERITIES = ("critical", "warning")

# A threshold kwarg that is a parameter, or its negation ("-${name}": e.g. days after the run date
# as a lower bound on "days before").
_REFERENCE = re.compile(r"^(-?)\$\{([a-z_][a-z0-9_]*)\}$")
_QUERY_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


class SuiteError(ValueError):
    """A suite file is malformed: the message names the file, the check and the problem."""


@dataclass(frozen=True)
class CheckSpec:
    """One check of a gate, as written in the suite file (threshold references unresolved)."""

    name: str
    severity: str
    description: str
    expectation: str
    kwargs: dict[str, Any]
    query: str | None = None
    dataset: str | None = None
    requires: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()
    show_values: bool = True

    @property
    def data_key(self) -> str:
        """Identifies the frame the check runs on; checks sharing a query share one GX asset."""
        return f"dataset:{self.dataset}" if self.dataset else f"query:{' '.join(self.query.split())}"


@dataclass(frozen=True)
class Suite:
    """All checks of one stage plus the defaults of the parameters they reference."""

    stage: str
    version: int
    title: str
    summary: str
    parameters: dict[str, Any]
    checks: tuple[CheckSpec, ...] = field(default_factory=tuple)
    path: Path | None = None


def expectation_class_name(expectation_type: str) -> str:
    """``expect_column_values_to_not_be_null`` -> ``ExpectColumnValuesToNotBeNull``."""
    return "".join(part.capitalize() for part in expectation_type.split("_"))


def load_suite(stage: str, suites_dir: Path | None = None) -> Suite:
    """Read and validate ``<suites_dir>/<stage>.yml``."""
    import great_expectations as gx

    path = (suites_dir or SUITES_DIR) / f"{stage}.yml"
    if not path.exists():
        raise SuiteError(f"no suite file for stage {stage!r}: expected {path} (stages: {', '.join(STAGES)})")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from exc
    if doc.get("stage") != stage:
        raise SuiteError(f"{path}: 'stage' is {doc.get('stage')!r}, expected {stage!r}")
    parameters = {name: (spec or {}).get("default") for name, spec in (doc.get("parameters") or {}).items()}
    checks: list[CheckSpec] = []
    seen: set[str] = set()
    for position, raw in enumerate(doc.get("checks") or [], start=1):
        where = f"{path}, check #{position} ({raw.get('name', 'unnamed')})"
        missing = [key for key in ("name", "severity", "description", "expectation") if not raw.get(key)]
        if missing:
            raise SuiteError(f"{where}: missing {', '.join(missing)}")
        if raw["name"] in seen:
            raise SuiteError(f"{where}: check name {raw['name']!r} is used twice")
        seen.add(raw["name"])
        if raw["severity"] not in SEVERITIES:
            raise SuiteError(f"{where}: severity {raw['severity']!r} is not one of {', '.join(SEVERITIES)}")
        if bool(raw.get("query")) == bool(raw.get("dataset")):
            raise SuiteError(f"{where}: give exactly one of 'query' (SQL on the warehouse) or 'dataset'")
        if not hasattr(gx.expectations, expectation_class_name(raw["expectation"])):
            raise SuiteError(f"{where}: {raw['expectation']!r} is not a Great Expectations expectation type")
        kwargs = dict(raw.get("kwargs") or {})
        for value in kwargs.values():
            match = _REFERENCE.match(value) if isinstance(value, str) else None
            if match and match.group(2) not in parameters:
                raise SuiteError(f"{where}: threshold ${{{match.group(2)}}} has no default under 'parameters'")
        checks.append(CheckSpec(
            name=raw["name"],
            severity=raw["severity"],
            description=" ".join(str(raw["description"]).split()),
            expectation=raw["expectation"],
            kwargs=kwargs,
            query=raw.get("query"),
            dataset=raw.get("dataset"),
            requires=tuple(raw.get("requires") or ()),
            label_columns=tuple(raw.get("label_columns") or ()),
            show_values=bool(raw.get("show_values", True)),
        ))
    return Suite(
        stage=stage,
        version=int(doc.get("version", 1)),
        title=str(doc.get("title", stage)),
        summary=" ".join(str(doc.get("summary", "")).split()),
        parameters=parameters,
        checks=tuple(checks),
        path=path,
    )


def resolve_parameters(suite: Suite, settings: Any) -> dict[str, Any]:
    """Parameter values for this run: the setting of the same name wins over the suite default."""
    return {name: getattr(settings, name, default) for name, default in suite.parameters.items()}


def resolve_kwargs(kwargs: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Replace every ``${name}`` kwarg by its parameter value (typed, not as text), ``-${name}`` by
    its negation."""
    resolved = {}
    for key, value in kwargs.items():
        match = _REFERENCE.match(value) if isinstance(value, str) else None
        if match is None:
            resolved[key] = value
        else:
            resolved[key] = -parameters[match.group(2)] if match.group(1) else parameters[match.group(2)]
    return resolved


def query_parameters(query: str, values: dict[str, Any]) -> dict[str, Any]:
    """The named ``$parameters`` a query uses (DuckDB rejects unused named parameters)."""
    wanted = set(_QUERY_PARAMETER.findall(query))
    unknown = wanted - values.keys()
    if unknown:
        raise SuiteError(f"query uses unknown parameter(s) {', '.join(sorted('$' + u for u in unknown))}: {query}")
    return {name: values[name] for name in wanted}


def describe_threshold(expectation: str, kwargs: dict[str, Any]) -> str:
    """A threshold in words, e.g. 'at most 0.05' or 'no rows may violate'."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    parts = []
    if low is not None and high is not None:
        parts.append(f"between {low} and {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    if "value_set" in kwargs:
        word = "none of " if "_not_be_in_set" in expectation else "one of "
        parts.append(word + ", ".join(str(v) for v in kwargs["value_set"]))
    if "regex" in kwargs:
        parts.append(f"matches {kwargs['regex']}")
    if "regex_list" in kwargs:
        parts.append("matches none of " + " | ".join(kwargs["regex_list"]))
    if "value" in kwargs:
        parts.append(f"equal to {kwargs['value']}")
    if "column_A" in kwargs and "column_B" in kwargs:
        operator = ">=" if kwargs.get("or_equal") else ">"
        parts.append(f"{kwargs['column_A']} {operator} {kwargs['column_B']}")
    if expectation.endswith("to_be_unique"):
        parts.append("no duplicates")
    if expectation.endswith("to_not_be_null"):
        parts.append("no missing values")
    mostly = kwargs.get("mostly")
    scope = f"for at least {mostly:.1%} of rows" if mostly is not None and mostly < 1 else ""
    if expectation.startswith("expect_column_values") or expectation.startswith("expect_column_pair"):
        scope = scope or "for every row"
    text = ", ".join(parts) or expectation.replace("_", " ")
    return f"{text} {scope}".strip()
