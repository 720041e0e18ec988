"""The quality gate an export must pass before it is published.

Two layers: the exporter's own structural checks (always run, cheap) and the quality engineer's
export gate, ``quality.gate.run_export_gate(settings, run_id, frames, context)``, injected as a
callable. A gate fails by raising, by returning ``False``, or by returning an object whose
``passed`` attribute is false; any of these means nothing is published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc

from exports.formats import Snapshot
from quality.gate import run_export_gate

ExportGate = Callable[[Any, str, dict, dict], Any]

# ``re.match(r"^[0-9a-f]{64}$")`` for Arrow's RE2: Python's "$" also matches before one final
# newline, so "\n?" keeps the two equal.
_HEX64_RE2 = r"^[0-9a-f]{64}\n?$"


class ExportGateFailed(RuntimeError):
    """An export did not pass its quality gate and was not published."""


def default_gate() -> ExportGate:
    """The quality package's export gate, ``quality.gate.run_export_gate``.

    Imported directly, never behind ``try/except ImportError``: a broken quality package must stop
    exports (fail closed), not let them run with the built-in checks only.
    """
    return run_export_gate


def builtin_problems(snapshot: Snapshot) -> list[str]:
    """Structural problems of a snapshot: duplicate keys, wrong columns, values that are not SHA-256 hex."""
    problems = []
    if list(snapshot.table.column_names) != list(snapshot.columns):
        problems.append(f"columns {snapshot.table.column_names} differ from the format's {list(snapshot.columns)}")
    if len(set(snapshot.keys)) != len(snapshot.keys):
        problems.append("duplicate member keys in the snapshot")
    if len(snapshot.keys) != snapshot.table.num_rows:
        problems.append("member keys and rows are out of step")
    for column in snapshot.hashed_columns:
        values = snapshot.table.column(column)
        hex64 = pc.match_substring_regex(values, _HEX64_RE2)  # null stays null: not counted
        bad = len(values) - values.null_count - (pc.sum(hex64).as_py() or 0)
        if bad:
            problems.append(f"column {column!r}: {bad} value(s) are not lower-case SHA-256 hex")
    return problems


def evaluate(gate: ExportGate | None, settings: Any, run_id: str, frames: dict, context: dict) -> str | None:
    """Run the injected gate; return None when it passed, else a message saying why it failed."""
    if gate is None:
        return None
    try:
        result = gate(settings, run_id, frames, context)
    except Exception as exc:  # any error in the gate blocks publication: fail closed
        return f"{type(exc).__name__}: {exc}"
    if result is False:
        return "export gate returned False"
    if result is not None and getattr(result, "passed", True) is False:
        failures = getattr(result, "failures", None) or getattr(result, "checks", None)
        return f"export gate did not pass: {failures}" if failures else "export gate did not pass"
    return None
