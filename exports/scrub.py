"""Erased people out of the export runs kept by retention.

An export never contains a suppressed customer, but the last ``CDP_EXPORT_KEEP_RUNS`` runs of each
segment+format are kept on disk, and the ones published before an erasure request still hold that
person's plain e-mail and phone (``csv``/``parquet``) or hashed identifiers (``google``/``meta``).
When an erasure request (``reason = 'erasure'`` in ``raw.suppression_list``) is new since the last
export, ``scrub_erased`` rewrites every retained file of every published run without the rows of
the customers it matches, updates each rewritten file's entry in ``manifest.json`` and records
what it removed (``exports.erasure_scrubs``). The entries it has applied are kept in
``exports.erasure_scrubbed_entries``, so a night without new erasure requests reads nothing.

Rows are found by ``customer_id`` (the matched customers' current ids and, through
``identity.customer_id_history``, the ids they had before a merge) in marketing files and
``skipped.csv``, and by member key
(``formats.row_fingerprint`` of the hashed row, the key the member state keeps per customer) in
ad-platform files. The ``removed.csv`` of each export's latest run is left alone: it is how the
erasure reaches the platform (it lists the hashed rows the platform must delete).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.clock import audit_now
from cdp.settings import Settings
from cdp.warehouse import table_exists, transaction
from exports import publish, state
from exports import suppression as suppression_mod
from exports.formats import AD_PLATFORMS, row_fingerprint

log = logging.getLogger(__name__)

SCRUBBED_ENTRIES = "exports.erasure_scrubbed_entries"
SCRUB_LOG = "exports.erasure_scrubs"

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {SCRUBBED_ENTRIES} (
        identifier_type VARCHAR NOT NULL,
        identifier VARCHAR NOT NULL,
        applied_by_run_id VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SCRUB_LOG} (
        run_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        scrubbed_run_id VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        rows_removed BIGINT NOT NULL,
        scrubbed_at TIMESTAMP
    )""",
)
_ID_FILES = ("skipped.csv",)  # files with a customer_id column in every format


def scrub_erased(settings: Settings, con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Remove customers matched by erasure requests new since the last call from every retained
    export run's files; returns the number of rows removed. ``run_id``: the export doing it."""
    for ddl in _DDL:
        con.execute(ddl)
    if not table_exists(con, "raw", "suppression_list"):
        return 0
    new = con.execute(
        "SELECT DISTINCT trim(identifier_type), identifier FROM raw.suppression_list "
        "WHERE lower(trim(reason)) = 'erasure' AND identifier IS NOT NULL "
        f"EXCEPT SELECT identifier_type, identifier FROM {SCRUBBED_ENTRIES} ORDER BY ALL").fetchall()
    if not new:
        return 0
    # This export's own runs were built with today's suppression list, so they hold nobody it
    # erases; when no earlier run is retained (a first export), nothing needs reading.
    retained = [run for run in _retained_runs(con) if run[2] != run_id]
    customer_ids = _erased_customers(con, new, settings.default_phone_region) if retained else set()
    removed = 0
    log_rows: list[tuple] = []
    if customer_ids:
        keys, hashed_values = _member_keys(con, customer_ids)
        for segment, destination, scrubbed_run in retained:
            folder = publish.export_path(Path(settings.export_dir), segment, destination, scrubbed_run)
            if not folder.is_dir():
                continue
            latest = publish.read_latest(Path(settings.export_dir), segment, destination)
            counts = _scrub_folder(folder, destination, customer_ids, keys, keep_removed=scrubbed_run == latest,
                                   needles=hashed_values)
            if counts:
                _note_in_manifest(folder, run_id, counts)
                removed += sum(counts.values())
                log_rows += [(run_id, segment, destination, scrubbed_run, name, n, audit_now())
                             for name, n in sorted(counts.items())]
    with transaction(con):
        if log_rows:
            con.executemany(f"INSERT INTO {SCRUB_LOG} VALUES (?, ?, ?, ?, ?, ?, ?)", log_rows)
        con.executemany(f"INSERT INTO {SCRUBBED_ENTRIES} VALUES (?, ?, ?)",
                        [(kind, value, run_id) for kind, value in new])
    if removed:
        log.info("export %s: %d row(s) of %d erased customer(s) removed from retained export runs",
                 run_id, removed, len(customer_ids))
    return removed


def _erased_customers(con: duckdb.DuckDBPyConnection, entries: list[tuple[str, str]],
                      default_region: str | None) -> set[str]:
    """Resolved customer ids the erasure ``entries`` match (customer ids, e-mails, phones)."""
    erasure = suppression_mod.Suppression(default_region=default_region)
    for kind, value in entries:
        erasure.add(kind, value)
    found: set[str] = set()
    if erasure.customer_ids:
        # Store customer numbers map to resolved customers; an id may also be a resolved one.
        suppression_mod._resolve_customer_ids(con, erasure)
        found |= erasure.customer_ids
    if (erasure.emails or erasure.phones) and table_exists(con, "marts", "dim_customers"):
        columns = [c for c in suppression_mod.SUPPRESSION_COLUMNS if c != "contact_fingerprint"]
        customers = con.sql(f"SELECT {', '.join(columns)} FROM marts.dim_customers").to_arrow_table()
        candidates = customers.filter(pa.array(erasure.may_match_table(customers)))
        for customer in candidates.to_pylist():
            if erasure.matches_contact(customer):
                found.add(str(customer["customer_id"]))
    return found | _earlier_ids(con, found)


def _earlier_ids(con: duckdb.DuckDBPyConnection, customer_ids: set[str]) -> set[str]:
    """The ids these customers had in earlier runs (``identity.customer_id_history``: a merge gives the
    surviving cluster the oldest id, so a retained export may list the person under another one)."""
    if not customer_ids or not table_exists(con, "identity", "customer_id_history"):
        return set()
    earlier: set[str] = set()
    frontier = set(customer_ids)
    while frontier:  # old -> new chains, followed backwards until no id is new
        rows = con.execute(
            "SELECT DISTINCT old_customer_id FROM identity.customer_id_history "
            "WHERE new_customer_id IN (SELECT unnest(?::VARCHAR[])) AND old_customer_id IS NOT NULL",
            [sorted(frontier)]).fetchall()
        frontier = {str(row[0]) for row in rows} - earlier - customer_ids
        earlier |= frontier
    return earlier


def _member_keys(con: duckdb.DuckDBPyConnection, customer_ids: set[str]) -> tuple[set[str], set[bytes]]:
    """Every member key (hashed-row key) the member state holds for ``customer_ids``, and the hashed
    values of those rows (a file holding none of them holds none of the rows: read no further)."""
    ids = sorted(customer_ids)
    rows = con.execute(
        f"SELECT member_key, hashed_row::VARCHAR FROM {state.CURRENT_MEMBERS} "
        "WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) "
        f"UNION SELECT member_key, hashed_row::VARCHAR FROM {state.MEMBER_CHANGES} "
        "WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))", [ids, ids]).fetchall()
    values = set()
    for _, hashed_row in rows:
        row = json.loads(hashed_row) if hashed_row else {}
        values |= {str(v).encode() for v in row.values() if v}
    return {row[0] for row in rows}, values


def _retained_runs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return con.execute("SELECT DISTINCT segment, destination, run_id FROM exports.export_log "
                       "WHERE status = ? ORDER BY ALL", [state.PUBLISHED]).fetchall()


def _scrub_folder(folder: Path, destination: str, customer_ids: set[str], keys: set[str],
                  keep_removed: bool, needles: set[bytes]) -> dict[str, int]:
    """Rewrite the files of one run folder without the erased rows; rows removed per file name.

    ``needles``: text every erased row of the folder's CSV files holds (customer ids, or hashed
    values for ad platforms); a file holding none is not parsed.
    """
    counts = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name == publish.MANIFEST or not path.is_file() or (keep_removed and name == "removed.csv"):
            continue
        if name.endswith(".parquet"):
            n = _scrub_parquet(path, customer_ids)
        elif name.endswith(".csv"):
            by_key = destination in AD_PLATFORMS and name not in _ID_FILES
            text = path.read_bytes()
            if not any(needle in text for needle in (needles if by_key else {c.encode() for c in customer_ids})):
                continue
            n = _scrub_csv(path, keys if by_key else customer_ids, by_key)
        else:
            continue
        if n:
            counts[name] = n
    return counts


def _scrub_csv(path: Path, drop: set[str], by_key: bool) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    if by_key:
        columns = tuple(header)
        kept = [row for row in body if row_fingerprint(dict(zip(columns, row, strict=False)), columns) not in drop]
    else:
        if "customer_id" not in header:
            return 0
        at = header.index("customer_id")
        kept = [row for row in body if row[at] not in drop]
    if len(kept) == len(body):
        return 0
    temporary = path.with_name(f".{path.name}.scrub")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        # The exporter writes byte-for-byte what csv.writer writes (formats.write_csv_table).
        csv.writer(handle, lineterminator="\n").writerows([header, *kept])
    os.replace(temporary, path)
    return len(body) - len(kept)


def _scrub_parquet(path: Path, customer_ids: set[str]) -> int:
    table = pq.read_table(path)
    if "customer_id" not in table.column_names:
        return 0
    erased = pc.is_in(pc.cast(table.column("customer_id"), pa.string()),
                      value_set=pa.array(sorted(customer_ids), pa.string()))
    count = pc.sum(erased).as_py() or 0
    if not count:
        return 0
    temporary = path.with_name(f".{path.name}.scrub")
    pq.write_table(table.filter(pc.invert(erased)), temporary)
    os.replace(temporary, path)
    return count


def _note_in_manifest(folder: Path, run_id: str, counts: dict[str, int]) -> None:
    """Update the rewritten files' rows, size and SHA-256 in manifest.json and say why they changed."""
    path = folder / publish.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for entry in manifest.get("files", []):
        name = entry.get("name")
        if name in counts:
            entry["rows"] = entry.get("rows", 0) - counts[name]
            entry["bytes"] = (folder / name).stat().st_size
            entry["sha256"] = publish.sha256_file(folder / name)
    manifest.setdefault("erasure_scrubs", []).append(
        {"run_id": run_id, "reason": "erasure requests made after this export", "rows_removed": counts})
    temporary = folder / f".{publish.MANIFEST}.scrub"
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)
