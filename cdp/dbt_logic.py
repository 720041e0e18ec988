"""Logic fingerprints of the incremental dbt models: which ones must be rebuilt from scratch.

An incremental model only rewrites the rows it finds changed, so a change of its logic (its SQL, a
macro it calls, a view it reads) would reach only the rows rewritten from then on; the others would
keep the old logic for ever. ``cdp.dbt.build`` compares each incremental model's fingerprint
(``logic_fingerprints``) with the one recorded in ``meta.dbt_model_logic`` by the last build and
rebuilds the models whose logic changed from scratch (dbt's ``full_refresh`` config set on them
in the build's parsed manifest, so they rebuild after the views they read).

A fingerprint covers, from the parsed manifest: the model's raw SQL and its config (hooks, unique
key, strategy; not docs, tags or meta), the project macros it calls, transitively (their SQL;
dbt's and the adapter's own macros by name only, so a dbt upgrade does not rebuild everything), the
values of the vars that SQL names (``var('x')``; not ``run_date`` / ``run_id``, which change every
night and are read from the environment anyway), and the same for every upstream view or
ephemeral model, walked through. The walk stops at tables, incremental models, seeds and sources
(named only): a table is rebuilt whole every night and its new values reach an incremental model
through that model's own change detection, and an incremental model upstream is checked itself (a
full build of it tells its consumers through its change log).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from cdp.clock import audit_now
from cdp.warehouse import table_exists, transaction

LOGIC_TABLE = "meta.dbt_model_logic"
# History tables: each night appends the rows of its run date, which were right by the logic of that
# night; rebuilding one from scratch would erase its past (a --full-refresh does, by hand only).
KEEPS_HISTORY = frozenset({"segment_size_history"})
# Vars that change every run: never part of a fingerprint.
_PER_RUN_VARS = frozenset({"run_date", "run_id"})
# config keys that do not change what a model writes
_CONFIG_NOT_LOGIC = frozenset({"docs", "persist_docs", "tags", "meta", "group", "access", "grants", "packages"})
_VAR_NAME = re.compile(r"""\bvar\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
_WALKED_MATERIALIZATIONS = frozenset({"view", "ephemeral"})


@dataclass(frozen=True)
class ModelLogic:
    """One incremental model: its relation and the fingerprint of its logic."""

    name: str
    schema: str
    relation: str
    fingerprint: str


def logic_fingerprints(manifest: Any, variables: dict[str, Any]) -> dict[str, ModelLogic]:
    """Model name -> ModelLogic for every incremental model of the root project but the history
    tables (``KEEPS_HISTORY``) and those configured ``full_refresh: false``. ``variables``: the
    vars dbt resolves (dbt_project.yml's, overridden by --vars)."""
    project = manifest.metadata.project_name
    parts_of: dict[str, list[str]] = {}
    fingerprints = {}
    for unique_id, node in manifest.nodes.items():
        if (_resource_type(node) != "model" or node.package_name != project
                or node.config.materialized != "incremental" or node.name in KEEPS_HISTORY
                or node.config.full_refresh is False):
            continue
        digest = hashlib.sha256("\n".join(_node_parts(manifest, unique_id, variables, parts_of)).encode())
        fingerprints[node.name] = ModelLogic(node.name, node.schema, node.alias or node.name, digest.hexdigest())
    return fingerprints


def _resource_type(node: Any) -> str:
    return str(getattr(node.resource_type, "value", node.resource_type))


def _node_parts(manifest: Any, unique_id: str, variables: dict[str, Any], memo: dict[str, list[str]]) -> list[str]:
    if unique_id in memo:
        return memo[unique_id]
    node = manifest.nodes[unique_id]
    config = {key: value for key, value in node.config.to_dict().items() if key not in _CONFIG_NOT_LOGIC}
    code = [node.raw_code or ""]
    parts = [f"node {unique_id}\n{node.raw_code or ''}", json.dumps(config, sort_keys=True, default=str)]
    for macro_id in _macros(manifest, node.depends_on.macros):
        macro = manifest.macros[macro_id]
        if macro.package_name == manifest.metadata.project_name:
            parts.append(f"macro {macro_id}\n{macro.macro_sql}")
            code.append(macro.macro_sql)
        else:
            parts.append(f"macro {macro_id}")
    names = sorted({name for text in code for name in _VAR_NAME.findall(text)} - _PER_RUN_VARS)
    parts += [f"var {name}={json.dumps(variables.get(name), sort_keys=True, default=str)}" for name in names]
    for upstream_id in sorted(node.depends_on.nodes):
        upstream = manifest.nodes.get(upstream_id)
        if (upstream is not None and _resource_type(upstream) == "model"
                and upstream.config.materialized in _WALKED_MATERIALIZATIONS):
            parts += _node_parts(manifest, upstream_id, variables, memo)
        else:
            parts.append(f"reads {upstream_id}")
    memo[unique_id] = parts
    return parts


def _macros(manifest: Any, direct: list[str]) -> list[str]:
    """The macros ``direct`` names and every macro they call, transitively, sorted."""
    seen: set[str] = set()
    pending = list(direct)
    while pending:
        macro_id = pending.pop()
        if macro_id in seen or macro_id not in manifest.macros:
            continue
        seen.add(macro_id)
        pending.extend(manifest.macros[macro_id].depends_on.macros)
    return sorted(seen)


def models_to_rebuild(con: duckdb.DuckDBPyConnection, current: dict[str, ModelLogic]) -> dict[str, str]:
    """Model -> reason, for the incremental models whose table exists and whose recorded logic
    fingerprint differs from ``current`` or was never recorded (a warehouse built before the
    fingerprints were: it may hold rows of any earlier logic)."""
    recorded = dict(con.execute(f"SELECT model, logic_fingerprint FROM {LOGIC_TABLE}").fetchall()
                    if table_exists(con, *LOGIC_TABLE.split(".")) else [])
    existing = set(con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
    reasons = {}
    for name, logic in sorted(current.items()):
        if (logic.schema, logic.relation) not in existing:
            continue  # built from scratch by this build anyway
        if name not in recorded:
            reasons[name] = "no logic fingerprint recorded (built before fingerprints were kept)"
        elif recorded[name] != logic.fingerprint:
            reasons[name] = "its logic changed (SQL, config, macros, vars or upstream views)"
    return reasons


def record_fingerprints(con: duckdb.DuckDBPyConnection, logic: list[ModelLogic], run_id: str) -> None:
    """Remember that the tables of ``logic``'s models hold rows of that logic only."""
    if not logic:
        return
    con.execute(f"CREATE TABLE IF NOT EXISTS {LOGIC_TABLE} (model VARCHAR PRIMARY KEY, "
                "logic_fingerprint VARCHAR NOT NULL, run_id VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)")
    now = audit_now()
    with transaction(con):
        con.execute(f"DELETE FROM {LOGIC_TABLE} WHERE model IN (SELECT unnest(?))", [[item.name for item in logic]])
        con.executemany(f"INSERT INTO {LOGIC_TABLE} VALUES (?, ?, ?, ?)",
                        [[item.name, item.fingerprint, run_id, now] for item in logic])
