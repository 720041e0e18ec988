"""Erased people out of the export runs kept by retention.

An export never contains a suppressed customer, but the last ``CDP_EXPORT_KEEP_RUNS`` runs of each
segment+format are kept on disk, and the ones published before an erasure request still hold that
person's plain e-mail and phone (``csv``/``parquet``) or hashed identifiers (``google``/``meta``).
When an erasure request (``reason = 'erasure'`` in ``raw.suppression_list``) is new since the last
export, ``scrub_erased`` rewrites every retained file of every published run without the rows of
the people it matches, updates each rewritten file's entry in ``manifest.json`` and records what it
removed (``exports.erasure_scrubs``). The requests it has handled are kept in
``exports.erasure_scrubbed_entries`` with the number of customers each matched, and the customers
each was applied to in ``exports.erasure_scrubbed_customers``.

Every request is checked again by every export, against the customers as they are now: a request
applied to one customer also reaches a second one that later gains the erased address (new records
give it to them), and that customer is removed from the retained runs too. The check is cheap:
customer-number requests are a few lookups, and e-mail/phone requests are matched only against the
customers whose contacts changed since the last check (``exports.erasure_checked_contacts``). A
night on which no request matches a new customer reads no export file.

A request that matches no customer yet (a store customer number not yet in ``identity.customer_map``,
an e-mail or phone no customer has) is recorded with ``customers_matched = 0`` and stays pending: each
export checks it again, and once a customer matches it (the store record arrives, a record links the
address to a customer) that customer is removed from every retained run, also from runs published
after the request (they were built when nobody matched it). ``pending_erasures`` lists them for the
run report.

Rows are found, in one pass per file:

- by ``customer_id`` (the matched customers' current ids, through ``identity.customer_id_history``
  the ids they had before a merge, and the request's own value for ``customer_id`` requests) in
  marketing files and ``skipped.csv``;
- by contact in marketing files: a row whose ``email`` or ``phone`` the request matches (the
  suppression matcher, the row's ``country`` for phones), so a person now under an id no history row
  links to the one a retained run used is still found;
- by member key in ad-platform files (the whole hashed row the member state keeps per matched
  customer), and by contact: a row holding the SHA-256 of an erased e-mail or phone in any spelling
  a destination hashes (``Suppression.hashes``).

Files are read with Arrow (every column as text), values are judged per distinct value, and only a
file that loses rows is rewritten (byte-for-byte what the exporter writes); a CSV file not as the
exporter writes it (a ragged row, an unquoted carriage return) leaves its folder as it was and, once
the other folders are scrubbed, stops the scrub with an error naming it (``ScrubIncomplete``). Each
folder is put in place whole, its manifest after its files, and logged at once (``_commit_folder``);
an export killed in between is finished by the next one (``finish_interrupted``), and the requests
are recorded as applied only once every folder is done, so a rerun still finds the people. Of the folders the calling export has just built only ``removed.csv`` is read (the rest was built
without the people; it lists those removed since the last run, the person erased now among them),
every other retained folder is read whole, those of its own run id included. The ``removed.csv`` of
each export's latest run is held back: it is how the erasure reaches the platform (it lists the
hashed rows the platform must delete); one holding an erased person is noted (``HELD_REMOVALS``) and
scrubbed by the first export after which it is no longer the latest; that of a retired segment's
final export, the latest for good, by the first export after the one that built it. A folder just built whose removed members
(``exports.export_member_changes``) include a customer a request was already applied to, or an erased
contact's hash, is noted the same way without reading it: after a partial export applied
a request, the next export's delete lists still name the person with nothing left to apply.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cdp.clock import audit_now
from cdp.settings import Settings
from cdp.warehouse import connect, table_exists, transaction
from exports import publish, state
from exports import suppression as suppression_mod
from exports.formats import AD_PLATFORMS, write_csv_table
from identity.schema import id_history_closure
from ingestion.csv_records import strip_edges

log = logging.getLogger(__name__)

SCRUBBED_ENTRIES = "exports.erasure_scrubbed_entries"
SCRUB_LOG = "exports.erasure_scrubs"
# The contacts of every customer when the e-mail/phone requests were last checked, so the next
# export checks them against new or changed customers only (at 1M the full check is ~4 s).
CHECKED_CONTACTS = "exports.erasure_checked_contacts"
_CONTACT_HASH = "hash(email, emails, phone, phones, country)"
# The customers each request has been applied to (removed from the retained runs for it).
SCRUBBED_CUSTOMERS = "exports.erasure_scrubbed_customers"
# Run folders whose removed.csv, the latest of its export, was left holding erased people's rows (it is
# what tells the platform to delete them); scrubbed by the first export after which it is not the latest.
HELD_REMOVALS = "exports.erasure_held_removals"
# The folders whose rewritten files (``.<name>.scrub``) and manifest are written in full but not all renamed
# into place and logged yet: a scrub killed then is finished by the next export (``finish_interrupted``).
PENDING_SCRUBS = "exports.erasure_scrubs_pending"
_TEMPORARY = ".scrub"  # suffix of a rewritten file (``.<name>.scrub``) until it is renamed into place

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {SCRUBBED_ENTRIES} (
        identifier_type VARCHAR NOT NULL,
        identifier VARCHAR NOT NULL,
        applied_by_run_id VARCHAR NOT NULL,
        customers_matched INTEGER
    )""",
    # Tables made before 2026-11-24 lack it; the next export handles their entries once more.
    f"ALTER TABLE {SCRUBBED_ENTRIES} ADD COLUMN IF NOT EXISTS customers_matched INTEGER",
    f"""CREATE TABLE IF NOT EXISTS {SCRUBBED_CUSTOMERS} (
        identifier_type VARCHAR NOT NULL,
        identifier VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL,
        applied_by_run_id VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {HELD_REMOVALS} (
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        held_by_run_id VARCHAR NOT NULL
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
    f"CREATE TABLE IF NOT EXISTS {PENDING_SCRUBS} AS SELECT * FROM {SCRUB_LOG} LIMIT 0",
)
_ID_FILES = ("skipped.csv",)  # files with a customer_id column in every format
_ERASURE_ENTRIES = ("SELECT DISTINCT trim(identifier_type) AS identifier_type, identifier FROM raw.suppression_list "
                    "WHERE lower(trim(reason)) = 'erasure' AND identifier IS NOT NULL")

Entry = tuple[str, str]


class ScrubIncomplete(RuntimeError):
    """Some retained folders could not be scrubbed (``failures``: one message per folder, naming the file).

    Every other folder was scrubbed and logged; nothing of the requests was recorded as applied, so the
    next export scrubs again once the files named are fixed or deleted."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


def erasure_entries(con: duckdb.DuckDBPyConnection) -> frozenset[Entry]:
    """The erasure requests in ``raw.suppression_list`` now (what an export's files are built without)."""
    if not table_exists(con, "raw", "suppression_list"):
        return frozenset()
    return frozenset(tuple(row) for row in con.execute(_ERASURE_ENTRIES).fetchall())


def scrub_erased(settings: Settings, con: duckdb.DuckDBPyConnection, run_id: str,
                 rebuilt: Iterable[tuple[str, str]] = (), built_without: frozenset[Entry] = frozenset()) -> int:
    """Remove the people matched by erasure requests from every retained export run's files: the
    customers each request matches now and has not been applied to yet (a request new since the last
    call, one that matched nobody until now, or one that now also matches another customer); returns
    the rows removed. ``run_id``: the export doing it; ``rebuilt``: the (segment, format) exports it
    has just published under ``run_id``, built without the people the erasure requests
    ``built_without`` (``erasure_entries`` when it read its inputs) matched: when every request to apply
    is among those, only their ``removed.csv`` is read (held while the latest). Every
    other folder is read whole, also one of ``run_id`` (a partial export, ``cdp export --segment``,
    under the night's run id)."""
    had_customers = table_exists(con, *SCRUBBED_CUSTOMERS.split("."))
    for ddl in _DDL:
        con.execute(ddl)
    _finish_pending(con, Path(settings.export_dir), sweep=False)  # ``export`` did it, under its lock
    if not table_exists(con, "raw", "suppression_list"):
        return 0
    entries = [tuple(row) for row in con.execute(f"{_ERASURE_ENTRIES} ORDER BY ALL").fetchall()]
    # Rows written before customers_matched existed (NULL) are handled once more: they may have
    # matched nobody, and files were then searched by customer id only.
    recorded = {(kind, value): count for kind, value, count in con.execute(
        f"SELECT identifier_type, identifier, customers_matched FROM {SCRUBBED_ENTRIES} "
        "WHERE customers_matched IS NOT NULL").fetchall()}
    new = [entry for entry in entries if entry not in recorded]
    contact_entries = [entry for entry in entries if entry[0].lower() in ("email", "phone")]
    if not entries:
        con.execute(f"DROP TABLE IF EXISTS {CHECKED_CONTACTS}")  # no e-mail/phone request: not needed
        _forget_retracted(con, entries)
        return 0
    # Every request is checked every night (a request applied to one customer may match another one
    # once new records give that customer the erased address). Customer-number requests are a few
    # lookups; e-mail/phone requests are checked against customers whose contacts changed since the
    # last check, unless a request is new (or the remembered contacts are not usable): then all.
    incremental = (had_customers and not any(entry in new for entry in contact_entries)
                   and _contacts_remembered(con, settings.default_phone_region))
    matched, changed = _erased_customers_by_entry(con, entries, settings.default_phone_region, incremental)
    applied: dict[Entry, set[str]] = defaultdict(set)
    for kind, value, customer_id in con.execute(
            f"SELECT identifier_type, identifier, customer_id FROM {SCRUBBED_CUSTOMERS}").fetchall():
        applied[(kind, value)].add(str(customer_id))
    fresh = {entry: matched[entry] - applied[entry] for entry in entries}
    found = set().union(*fresh.values())
    # A request that matched nobody before and still does was already looked for by contact.
    todo = [entry for entry in entries if entry in new or fresh[entry]]
    # A merge gives the surviving cluster the oldest id, so a retained export may list the person
    # under an id they had in an earlier run.
    customer_ids, contacts = _erased_targets(con, found, todo, settings.default_phone_region)
    # The folders this export has just built hold nobody the requests it was built with match (a first
    # export has nothing else to read). Only those: a partial export (one segment or format) under the
    # night's run id leaves that run's other folders as they were published, before the request.
    # Their removed.csv is still read (a small diff): it lists the people removed since the last run,
    # the person erased now among them (it is the platform's delete list), so it is held or scrubbed.
    skip = {(segment, destination, run_id) for segment, destination in rebuilt} if set(todo) <= built_without else set()
    retained = _retained_runs(con)
    removed = 0
    held: list[tuple[str, str, str]] = []
    failures: list[str] = []
    if retained and (customer_ids or contacts.emails or contacts.phones):
        erased: _Erased | None = None
        export_dir = Path(settings.export_dir)
        for segment, destination, scrubbed_run in retained:
            folder = publish.export_path(export_dir, segment, destination, scrubbed_run)
            if not folder.is_dir():
                continue
            body = _manifest(folder)
            only = None
            if (segment, destination, scrubbed_run) in skip:
                if not _lists_removals(body):
                    continue  # nobody removed (a first export): nothing to read
                only = "removed.csv"
            # The latest run's removed.csv is kept for the platform. A retired segment's final export stays
            # the latest for good: kept only by the export that built it, as a superseded latest would be.
            keep_removed = scrubbed_run == publish.read_latest(export_dir, segment, destination) \
                and (body.get("retired") is not True or scrubbed_run == run_id)
            if erased is None:
                erased = _Erased(con, customer_ids, contacts)
            # A folder that cannot be read is left whole and named at the end; the others are still scrubbed.
            try:
                counts, holds = _scrub_folder(folder, destination, erased, keep_removed=keep_removed, only=only)
            except (RuntimeError, OSError, pa.ArrowException) as exc:
                failures.append(str(exc))
                continue
            if holds:
                held.append((segment, destination, scrubbed_run))
            removed += _commit_folder(con, folder, (segment, destination, scrubbed_run), run_id, counts)
    # A folder just built may list in its removed.csv someone a request was applied to before (by a partial
    # export, say) or an erased contact's hash, with nothing left to apply now: found in the member state
    # (no file read) and handled as the delete lists above: held (a retired segment's final export too).
    built = _built_removals_of_erased(con, run_id, rebuilt, entries, found, settings.default_phone_region)
    released, released_removed = _scrub_held_removals(settings, con, run_id, entries, found, built, failures)
    held += [folder for folder in built if folder not in held and folder not in released]
    removed += released_removed
    if failures:
        # What was scrubbed is in the files, manifests and log; the requests stay unapplied, so the next
        # export looks for the people again (in the folders done already it finds nothing left to remove).
        raise ScrubIncomplete(failures)
    def customers_matched(entry: Entry) -> int:
        # Never fewer than recorded: entries applied before SCRUBBED_CUSTOMERS existed list nobody there.
        return max(len(applied[entry] | matched[entry]), recorded.get(entry) or 0)

    # Rewritten: the entries new or newly matched, and those still matching nobody (last checked now).
    checked = [entry for entry in entries if entry in todo or not customers_matched(entry)]
    with transaction(con):
        _forget_retracted(con, entries)
        for segment, destination, scrubbed_run in released + held:
            con.execute(f"DELETE FROM {HELD_REMOVALS} WHERE segment = ? AND destination = ? AND run_id = ?",
                        [segment, destination, scrubbed_run])
        if held:
            con.executemany(f"INSERT INTO {HELD_REMOVALS} VALUES (?, ?, ?, ?)", [(*row, run_id) for row in held])
        if checked:
            con.execute(f"DELETE FROM {SCRUBBED_ENTRIES} WHERE (identifier_type, identifier) IN "
                        "(SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))",
                        [[kind for kind, _ in checked], [value for _, value in checked]])
            con.executemany(f"INSERT INTO {SCRUBBED_ENTRIES} VALUES (?, ?, ?, ?)",
                            [(*entry, run_id, customers_matched(entry)) for entry in checked])
        rows = [(kind, value, customer_id, run_id) for (kind, value), ids in fresh.items() for customer_id in sorted(ids)]
        if rows:
            con.executemany(f"INSERT INTO {SCRUBBED_CUSTOMERS} VALUES (?, ?, ?, ?)", rows)
        _remember_contacts(con, bool(contact_entries), settings.default_phone_region, changed)
    nobody = sum(1 for entry in entries if not customers_matched(entry))
    if removed:
        log.info("export %s: %d row(s) of %d erased customer(s) removed from retained export runs",
                 run_id, removed, len(customer_ids))
    if nobody:
        log.warning("export %s: %d erasure request(s) match no customer yet; they stay pending and are checked "
                    "again by every export (exports.erasure_scrubbed_entries, customers_matched = 0)", run_id, nobody)
    return removed


def _erased_targets(con: duckdb.DuckDBPyConnection, found: set[str], entries: Iterable[Entry],
                    default_region: str | None) -> tuple[set[str], suppression_mod.Suppression]:
    """What to remove from files for ``entries``: the customer ids ``found`` with the ids they had
    before a merge and those customer-number requests name, and the requests' e-mails and phones."""
    entries = list(entries)
    customer_ids = (found | id_history_closure(con, found, "backward")
                    | {strip_edges(value) for kind, value in entries if kind.lower() == "customer_id"})
    contacts = suppression_mod.Suppression(default_region=default_region)
    for kind, value in entries:
        if kind.lower() in ("email", "phone"):
            contacts.add(kind, value)
    return customer_ids, contacts


def pending_erasures(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Erasure requests that matched no customer when last checked, with where each came from
    (``source_file``, ``source_line``) and the export that checked it; never the identifier itself."""
    if not (table_exists(con, "exports", "erasure_scrubbed_entries") and table_exists(con, "raw", "suppression_list")):
        return []
    columns = {row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'exports' "
        "AND table_name = 'erasure_scrubbed_entries'").fetchall()}
    if "customers_matched" not in columns:
        return []
    cursor = con.execute(
        f"""SELECT e.identifier_type, min(s._source_file) AS source_file, min(s._source_line) AS source_line,
                   min(s.requested_at) AS requested_at, e.applied_by_run_id AS last_checked_by_run_id
            FROM {SCRUBBED_ENTRIES} AS e
            JOIN raw.suppression_list AS s
              ON trim(s.identifier_type) = e.identifier_type AND s.identifier = e.identifier
             AND lower(trim(s.reason)) = 'erasure'
            WHERE e.customers_matched = 0
            GROUP BY e.identifier_type, e.identifier, e.applied_by_run_id ORDER BY ALL""")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _erased_customers_by_entry(con: duckdb.DuckDBPyConnection, entries: list[Entry], default_region: str | None,
                               changed_only: bool = False) -> tuple[dict[Entry, set[str]], pa.Table | None]:
    """The resolved customer ids each erasure entry matches now (customer ids, e-mails, phones).

    ``changed_only``: every e-mail/phone entry was checked against every customer before, so only
    customers whose contacts are new or changed since (``CHECKED_CONTACTS``) are looked at (the
    others' matches were applied then); they are returned too (customer id, contact fingerprint),
    for ``_remember_contacts``.
    """
    changed = None
    matched: dict[Entry, set[str]] = {entry: set() for entry in entries}
    ids = [entry for entry in entries if entry[0].lower() == "customer_id"]
    if ids:
        values = sorted({strip_edges(value) for _, value in ids})
        known: dict[str, set[str]] = defaultdict(set)
        if table_exists(con, "identity", "customer_map"):
            # Store customer numbers map to resolved customers; an id may also be a resolved one.
            for source_id, customer_id in con.execute(
                    "SELECT DISTINCT source_record_id, customer_id FROM identity.customer_map "
                    "WHERE source_system = 'store' AND source_record_id IN (SELECT unnest(?::VARCHAR[])) "
                    "UNION SELECT DISTINCT customer_id, customer_id FROM identity.customer_map "
                    "WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))", [values, values]).fetchall():
                known[str(source_id)].add(str(customer_id))
        if table_exists(con, "marts", "dim_customers"):
            for (customer_id,) in con.execute("SELECT customer_id FROM marts.dim_customers "
                                              "WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))", [values]).fetchall():
                known[str(customer_id)].add(str(customer_id))
        if table_exists(con, "identity", "customer_id_history"):
            # An id merged away since: the request erases the customer it was merged into.
            former = {str(row[0]) for row in con.execute(
                "SELECT DISTINCT old_customer_id FROM identity.customer_id_history "
                "WHERE old_customer_id IN (SELECT unnest(?::VARCHAR[]))",
                [[value for value in values if value not in known]]).fetchall()}
            for value in sorted(former):
                known[value] |= {value} | id_history_closure(con, [value], "forward", change_types=("merge",))
        for entry in ids:
            matched[entry] |= known.get(strip_edges(entry[1]), set())
    contact = [entry for entry in entries if entry[0].lower() in ("email", "phone")]
    if contact and table_exists(con, "marts", "dim_customers"):
        erasure = suppression_mod.Suppression(default_region=default_region)
        by_form: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        for entry in contact:
            single = suppression_mod.Suppression(default_region=default_region)
            single.add(*entry)
            erasure.add(*entry)
            for form in single.emails | single.phones:
                by_form[form].append(entry)
        columns = [c for c in suppression_mod.SUPPRESSION_COLUMNS if c != "contact_fingerprint"]
        query = f"SELECT {', '.join(columns)}, {_CONTACT_HASH} AS contact_fingerprint FROM marts.dim_customers"
        if changed_only:
            # An anti join on (customer id, fingerprint) with the fingerprint computed once per customer:
            # as a correlated NOT EXISTS, DuckDB hashed every customer's contact lists twice and
            # decorrelated the subquery, about 3x the CPU (same rows: hash() is never NULL).
            query = (f"WITH d AS ({query}) SELECT d.* FROM d ANTI JOIN {CHECKED_CONTACTS} AS c "
                     "ON c.customer_id = d.customer_id AND c.contact_fingerprint = d.contact_fingerprint")
        customers = con.sql(query).to_arrow_table()
        if changed_only:
            changed = customers.select(["customer_id", "contact_fingerprint"])
        candidates = customers.filter(pa.array(erasure.may_match_table(customers))) if customers.num_rows else customers
        for customer in candidates.to_pylist():
            if not erasure.matches_contact(customer):
                continue
            forms = set()
            for email in suppression_mod._values(customer.get("email"), customer.get("emails")):
                forms |= suppression_mod.email_forms(email)
            region = suppression_mod.hashing.country_code(customer.get("country")) or default_region
            for phone in suppression_mod._values(customer.get("phone"), customer.get("phones")):
                forms |= suppression_mod.phone_forms(phone, region)
            for form in forms & set(by_form):
                for entry in by_form[form]:
                    matched[entry].add(str(customer["customer_id"]))
    return matched, changed


def _contacts_remembered(con: duckdb.DuckDBPyConnection, default_region: str | None) -> bool:
    """True when ``CHECKED_CONTACTS`` holds the contacts of the last check under today's matching rules."""
    if not table_exists(con, *CHECKED_CONTACTS.split(".")):
        return False
    rules = con.execute(f"SELECT DISTINCT matcher FROM {CHECKED_CONTACTS} LIMIT 2").fetchall()
    return rules == [(suppression_mod.matcher_fingerprint(default_region),)]


def _remember_contacts(con: duckdb.DuckDBPyConnection, pending: bool, default_region: str | None,
                       changed: pa.Table | None) -> None:
    """Keep every customer's contact fingerprint while there are e-mail/phone requests (else drop it);
    ``changed``: only these customers were checked (the others were unchanged), so only they are rewritten."""
    if pending and changed is not None:
        if changed.num_rows:
            con.register("erasure_changed_contacts", changed)
            try:
                con.execute(f"DELETE FROM {CHECKED_CONTACTS} WHERE customer_id IN "
                            "(SELECT customer_id FROM erasure_changed_contacts)")
                con.execute(f"INSERT INTO {CHECKED_CONTACTS} SELECT customer_id, contact_fingerprint, ? "
                            "FROM erasure_changed_contacts", [suppression_mod.matcher_fingerprint(default_region)])
            finally:
                con.unregister("erasure_changed_contacts")
    elif pending and table_exists(con, "marts", "dim_customers"):
        con.execute(f"CREATE OR REPLACE TABLE {CHECKED_CONTACTS} AS SELECT customer_id, "
                    f"{_CONTACT_HASH} AS contact_fingerprint, ?::VARCHAR AS matcher FROM marts.dim_customers",
                    [suppression_mod.matcher_fingerprint(default_region)])
    else:
        con.execute(f"DROP TABLE IF EXISTS {CHECKED_CONTACTS}")


class _Erased:
    """What identifies the erased people in a file, built once for every retained file, with the
    verdict on each distinct e-mail kept across files (the same customers recur in every run)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, customer_ids: set[str],
                 contacts: suppression_mod.Suppression):
        self.ids = pa.array(sorted(customer_ids), pa.string())
        region = contacts.default_region
        self.emails = suppression_mod.Suppression(default_region=region, emails=set(contacts.emails))
        self.phones = suppression_mod.Suppression(default_region=region, phones=set(contacts.phones))
        self.hashes = pa.array(sorted(contacts.hashes()), pa.string())
        self._judged = pa.array([], pa.string())  # e-mail values already judged
        self._email_hits: set[str] = set()
        self._hashed_rows = _member_rows(con, customer_ids)
        self._row_keys: dict[tuple[str, ...], pa.Array] = {}

    def marketing_mask(self, table: pa.Table) -> np.ndarray:
        """Rows of a marketing file (or any file with ``customer_id``) that belong to an erased person."""
        mask = np.zeros(table.num_rows, dtype=bool)
        names = table.column_names
        if "customer_id" in names and len(self.ids):
            mask |= _flags(pc.is_in(_text(table.column("customer_id")), value_set=self.ids))
        if "email" in names and self.emails.emails:
            emails = _as_written(_text(table.column("email")))
            hits = self._erased_emails(emails)
            if hits:
                mask |= _flags(pc.is_in(emails, value_set=pa.array(sorted(hits), pa.string())))
        if "phone" in names and self.phones.phones:
            phones = _as_written(_text(table.column("phone")))
            countries = (_text(table.column("country")) if "country" in names
                         else pa.nulls(table.num_rows, pa.string()))
            for at in np.flatnonzero(self.phones.may_match_table(pa.table({"phone": phones}))):
                if self.phones.matches_contact({"phone": phones[at].as_py(), "country": countries[at].as_py()}):
                    mask[at] = True
        return mask

    def hashed_mask(self, table: pa.Table) -> np.ndarray:
        """Rows of an ad-platform file that are an erased customer's hashed row, or hold the hash of an
        erased e-mail or phone."""
        mask = np.zeros(table.num_rows, dtype=bool)
        columns = tuple(table.column_names)
        if not columns or not table.num_rows:
            return mask
        keys = self._keys_for(columns)
        if len(keys):
            cells = [pc.fill_null(_text(table.column(i)), "") for i in range(len(columns))]
            joined = pc.binary_join_element_wise(*cells, "\x1f") if len(cells) > 1 else cells[0]
            mask |= _flags(pc.is_in(joined, value_set=keys))
        if len(self.hashes):
            for i in range(len(columns)):
                mask |= _flags(pc.is_in(_text(table.column(i)), value_set=self.hashes))
        return mask

    def _erased_emails(self, emails: pa.ChunkedArray) -> set[str]:
        """The distinct values of ``emails`` an erasure request matches; each distinct value is judged
        once per call (kept in Arrow: the files of every run hold mostly the same addresses)."""
        values = pc.unique(emails.combine_chunks() if isinstance(emails, pa.ChunkedArray) else emails)
        unknown = values.filter(pc.invert(pc.is_in(values, value_set=self._judged)).fill_null(False))
        unknown = unknown.filter(pc.not_equal(unknown, "").fill_null(False))
        if len(unknown):
            for at in np.flatnonzero(self.emails.may_match_table(pa.table({"email": unknown}))):
                if self.emails.matches_contact({"email": unknown[at].as_py()}):
                    self._email_hits.add(unknown[at].as_py())
            self._judged = pa.concat_arrays([self._judged, unknown.cast(pa.string())])
        return self._email_hits

    def _keys_for(self, columns: tuple[str, ...]) -> pa.Array:
        """The erased customers' hashed rows as a file with these columns writes them (cells joined by
        the unit separator, as ``formats.row_fingerprint`` reads a row)."""
        if columns not in self._row_keys:
            self._row_keys[columns] = pa.array(sorted({"\x1f".join(row.get(c) or "" for c in columns)
                                                      for row in self._hashed_rows}), pa.string())
        return self._row_keys[columns]


def _text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _as_written(cells: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Cells of a marketing file without the ``'`` the CSV writer puts before a value a spreadsheet
    would run as a formula (``formats.neutralise_formula``): ``'+ann@x.com`` is the address
    ``+ann@x.com``, which an erasure request names without it."""
    neutralised = pc.match_substring_regex(cells, "^'[=+\\-@\t\r]")
    if not pc.any(neutralised).as_py():
        return cells
    return pc.if_else(neutralised, pc.utf8_slice_codeunits(cells, 1), cells)


def _flags(result: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def _member_rows(con: duckdb.DuckDBPyConnection, customer_ids: set[str]) -> list[dict[str, str | None]]:
    """Every hashed row the member state holds for ``customer_ids`` (current members and the changes of
    retained runs): the rows their ad-platform files hold."""
    if not customer_ids or not table_exists(con, *state.CURRENT_MEMBERS.split(".")):
        return []
    ids = sorted(customer_ids)
    rows = con.execute(
        f"SELECT hashed_row::VARCHAR FROM {state.CURRENT_MEMBERS} "
        "WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) AND hashed_row IS NOT NULL "
        f"UNION SELECT hashed_row::VARCHAR FROM {state.MEMBER_CHANGES} "
        "WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) AND hashed_row IS NOT NULL", [ids, ids]).fetchall()
    return [{k: (None if v is None else str(v)) for k, v in json.loads(row[0]).items()} for row in rows if row[0]]


def _retained_runs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return con.execute("SELECT DISTINCT segment, destination, run_id FROM exports.export_log "
                       "WHERE status = ? ORDER BY ALL", [state.PUBLISHED]).fetchall()


def _scrub_folder(folder: Path, destination: str, erased: _Erased, keep_removed: bool,
                  only: str | None = None) -> tuple[dict[str, int], bool]:
    """Write the files of one run folder (``only``: that file) without the erased rows beside them
    (``.<name>.scrub``, put in place by ``_commit_folder``); returns the rows removed per file name, and
    whether ``keep_removed`` left erased rows in its removed.csv. When a file cannot be read, the
    temporaries written are removed and the folder is left as it was."""
    counts: dict[str, int] = {}
    try:
        return _scrub_files(folder, destination, erased, keep_removed, only, counts)
    except BaseException:
        for name in counts:
            _temporary(folder / name).unlink(missing_ok=True)
        raise


def _scrub_files(folder: Path, destination: str, erased: _Erased, keep_removed: bool, only: str | None,
                 counts: dict[str, int]) -> tuple[dict[str, int], bool]:
    holds = False
    for path in sorted(folder.iterdir()):
        name = path.name
        if name == publish.MANIFEST or name.startswith(".") or not path.is_file() \
                or (only is not None and name != only):
            continue
        if keep_removed and name == "removed.csv":
            table = _read_csv_text(path)
            holds = table is not None and bool((erased.hashed_mask(table) if destination in AD_PLATFORMS
                                                else erased.marketing_mask(table)).any())
            continue
        hashed = destination in AD_PLATFORMS and name not in _ID_FILES
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            mask = erased.hashed_mask(table) if hashed else erased.marketing_mask(table)
            n = _rewrite_parquet(path, table, mask)
        elif name.endswith(".csv"):
            table = _read_csv_text(path)
            if table is None:
                continue
            mask = erased.hashed_mask(table) if hashed else erased.marketing_mask(table)
            n = _rewrite_csv(path, mask)
        else:
            continue
        if n:
            counts[name] = n
    return counts, holds


def _built_removals_of_erased(con: duckdb.DuckDBPyConnection, run_id: str, rebuilt: Iterable[tuple[str, str]],
                              entries: list[Entry], found: set[str],
                              default_region: str | None) -> list[tuple[str, str, str]]:
    """The folders the export ``run_id`` has just built (``rebuilt``) whose removed.csv lists an erased
    person: a removed member (``exports.export_member_changes``) who is a customer an erasure request has
    been applied to (``SCRUBBED_CUSTOMERS`` or ``found`` now, with their earlier ids), or whose hashed row
    holds the SHA-256 of an erased e-mail or phone. Read from the member state, not the files."""
    pairs = sorted(set(rebuilt))
    if not pairs or not entries:
        return []
    # Usually none of the night's removed members was erased: look at the removed rows first, resolve after.
    # A marketing member key carries a digest of the row, so a changed row (changed.csv), and every continuing
    # member the night keys without a digest are replaced, is a removed key plus an added one of the same
    # customer; removed.csv lists only the customers with no added key (``runner._prepare``).
    removed = con.execute(
        f"SELECT r.segment, r.destination, r.customer_id, r.hashed_row::VARCHAR FROM {state.MEMBER_CHANGES} AS r "
        "WHERE r.run_id = ? AND r.change = 'removed' AND (r.segment, r.destination) IN "
        "(SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[]))) AND (r.destination IN (SELECT unnest(?::VARCHAR[])) "
        f"OR NOT EXISTS (SELECT 1 FROM {state.MEMBER_CHANGES} AS a WHERE a.run_id = r.run_id "
        "AND a.segment = r.segment AND a.destination = r.destination AND a.customer_id = r.customer_id "
        "AND a.change = 'added'))",
        [run_id, [segment for segment, _ in pairs], [destination for _, destination in pairs],
         sorted(AD_PLATFORMS)]).fetchall()
    if not removed:
        return []
    customer_ids, contacts = _erased_targets(con, _applied_customers(con, entries) | found, entries, default_region)
    hashes = contacts.hashes()
    listed = set()
    for segment, destination, customer_id, hashed_row in removed:
        if (segment, destination) in listed:
            continue
        if str(customer_id) in customer_ids or (
                hashes and hashed_row and not hashes.isdisjoint(
                    str(value) for value in json.loads(hashed_row).values() if value is not None)):
            listed.add((segment, destination))
    return [(segment, destination, run_id) for segment, destination in sorted(listed)]


def _scrub_held_removals(settings: Settings, con: duckdb.DuckDBPyConnection, run_id: str, entries: list[Entry],
                         found: set[str], built: Iterable[tuple[str, str, str]] = (),
                         failures: list[str] | None = None) -> tuple[list[tuple[str, str, str]], int]:
    """Scrub the held removed.csv files (``HELD_REMOVALS``, and the folders ``built`` just now whose
    removed.csv lists an erased person) that are no longer their export's latest, or are a retired
    segment's final export built by an earlier export than ``run_id`` (or whose folder is gone), of every
    person an erasure request on the list now has been applied to; returns the folders released and the
    rows removed. A folder that cannot be read is added to ``failures`` (raised when None) and stays held."""
    export_dir = Path(settings.export_dir)
    released, due = [], []
    removed = 0
    noted = {tuple(row) for row in con.execute(
        f"SELECT DISTINCT segment, destination, run_id FROM {HELD_REMOVALS}").fetchall()}
    for segment, destination, scrubbed_run in sorted(noted | set(built)):
        folder = publish.export_path(export_dir, segment, destination, scrubbed_run)
        if not folder.is_dir():
            released.append((segment, destination, scrubbed_run))
        elif scrubbed_run != publish.read_latest(export_dir, segment, destination) \
                or (scrubbed_run != run_id and _is_retired(folder)):
            due.append((segment, destination, scrubbed_run))
    if not due:
        return released, removed
    customer_ids, contacts = _erased_targets(con, _applied_customers(con, entries) | found, entries,
                                             settings.default_phone_region)
    erased = _Erased(con, customer_ids, contacts)
    for segment, destination, scrubbed_run in due:
        folder = publish.export_path(export_dir, segment, destination, scrubbed_run)
        try:
            counts, _ = _scrub_folder(folder, destination, erased, keep_removed=False, only="removed.csv")
        except (RuntimeError, OSError, pa.ArrowException) as exc:
            if failures is None:
                raise
            failures.append(str(exc))
            continue
        removed += _commit_folder(con, folder, (segment, destination, scrubbed_run), run_id, counts)
        released.append((segment, destination, scrubbed_run))
    return released, removed


def _applied_customers(con: duckdb.DuckDBPyConnection, entries: Iterable[Entry]) -> set[str]:
    """The customers the erasure requests ``entries`` (those in ``raw.suppression_list`` now) have been
    applied to. A request taken off the list since (a mistyped row corrected) erases nobody any more: its
    customer is exported again as a member, and a delete list naming them must stay whole."""
    entries = sorted(set(entries))
    if not entries:
        return set()
    return {str(row[0]) for row in con.execute(
        f"SELECT DISTINCT customer_id FROM {SCRUBBED_CUSTOMERS} WHERE (identifier_type, identifier) IN "
        "(SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))",
        [[kind for kind, _ in entries], [value for _, value in entries]]).fetchall()}


def _forget_retracted(con: duckdb.DuckDBPyConnection, entries: Iterable[Entry]) -> None:
    """Drop what is recorded of erasure requests no longer in ``raw.suppression_list``: one put back later
    is a new request again, applied to every retained run (also those published while it was off)."""
    entries = sorted(set(entries))
    kinds, values = [kind for kind, _ in entries], [value for _, value in entries]
    for table in (SCRUBBED_ENTRIES, SCRUBBED_CUSTOMERS):
        con.execute(f"DELETE FROM {table} WHERE (identifier_type, identifier) NOT IN "
                    "(SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))", [kinds, values])


def _manifest(folder: Path) -> dict:
    """A run folder's manifest.json ({} when it cannot be read)."""
    try:
        body = json.loads((folder / publish.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _is_retired(folder: Path) -> bool:
    """True for the final, empty export of a segment no longer in ``marts.segments`` (its manifest says so)."""
    return _manifest(folder).get("retired") is True


def _lists_removals(body: dict) -> bool:
    """False only when the manifest says the folder's removed.csv has no rows (unknown: True)."""
    for entry in body.get("files") or []:
        if isinstance(entry, dict) and entry.get("name") == "removed.csv":
            return entry.get("rows") != 0
    return True


def _read_csv_text(path: Path) -> pa.Table | None:
    """A CSV file the exporter wrote, every column as text (empty cells as ""); None when it is empty.

    Raises RuntimeError naming the file when it cannot be read as the exporter writes files: a row
    whose cell count differs from the header's, or a row count other than its line feeds outside
    quotes (``_csv_records``: a carriage return left unquoted, as the exporter wrote a cell holding
    one before 2026-11-25, reads as a row break, which would split that row).
    """
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        return None
    data = path.read_bytes()
    table = _parse_csv_text(path, data, header)
    # Readers take a lone CR for a row break, the exporter never does: only then can the counts differ.
    records = _csv_records(data) if b"\r" in data or table is None else table.num_rows + 1
    if table is None or table.num_rows != records - 1:
        read = "unreadable" if table is None else f"{table.num_rows} row(s) read"
        raise RuntimeError(
            f"{path}: not a CSV file as the exporter writes it ({read}, {records - 1} row(s) by its line "
            "feeds outside quotes; a cell with an unquoted carriage return or a ragged row); the erasure "
            "scrub cannot tell whose rows it holds, so it stops here: fix or delete the file and export again")
    return table


def _csv_records(data: bytes) -> int:
    """Records (header included) of CSV text with ``\\n`` line ends: the line feeds outside quotes,
    plus a last line without one (RFC 4180; a carriage return is never a line end here)."""
    raw = np.frombuffer(data, np.uint8)
    feeds = np.flatnonzero(raw == ord("\n"))
    quotes = np.flatnonzero(raw == ord('"'))
    outside = np.searchsorted(quotes, feeds) % 2 == 0  # an even number of quotes before the line feed
    return int(outside.sum()) + (1 if data and not data.endswith(b"\n") else 0)


def _parse_csv_text(path: Path, data: bytes, header: list[str]) -> pa.Table | None:
    """The rows of ``path`` after ``header`` (quoted CR/LF inside cells), every cell as text; None for a ragged row."""
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(header))], skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f"c{i}": pa.string() for i in range(len(header))},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        ).rename_columns(header)
    except pa.ArrowInvalid:  # not as the exporter writes it (a ragged row): check with csv.reader
        with path.open(newline="", encoding="utf-8") as handle:
            body = list(csv.reader(handle))[1:]
        if any(len(row) != len(header) for row in body) or len(set(header)) != len(header):
            return None
        return pa.table({name: pa.array([row[i] for row in body], pa.string()) for i, name in enumerate(header)})


def _rewrite_csv(path: Path, mask: np.ndarray) -> int:
    """Write ``path`` without the rows of ``mask`` to its temporary (``_temporary``); returns the rows dropped."""
    if not mask.any():
        return 0
    data = path.read_bytes()
    lines = data.split(b"\n")
    if data.endswith(b"\n") and len(lines) == len(mask) + 2:
        # One line per row (no cell holds a line break): drop the lines, keep every other byte as is.
        kept_lines = [lines[0], *(line for line, drop in zip(lines[1:-1], mask.tolist(), strict=True) if not drop)]
        _temporary(path).write_bytes(b"\n".join(kept_lines) + b"\n")
        return int(mask.sum())
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    if len(body) != len(mask):
        raise RuntimeError(f"{path}: {len(body)} rows read by csv, {len(mask)} by Arrow; not rewritten")
    kept = [row for row, drop in zip(body, mask.tolist(), strict=True) if not drop]
    # Written as the exporter writes it (cells with a comma, quote, CR or LF quoted).
    write_csv_table(_temporary(path), pa.table({f"c{i}": pa.array([row[i] for row in kept], pa.string())
                                                for i in range(len(header))}).rename_columns(header), header)
    return len(body) - len(kept)


def _rewrite_parquet(path: Path, table: pa.Table, mask: np.ndarray) -> int:
    """Write ``table`` without the rows of ``mask`` to the temporary of ``path``; returns the rows dropped."""
    count = int(mask.sum())
    if not count:
        return 0
    pq.write_table(table.filter(pa.array(~mask)), _temporary(path))
    return count


def _note_in_manifest(folder: Path, run_id: str, counts: dict[str, int]) -> None:
    """Write the folder's manifest.json with the rewritten files' rows, size and SHA-256 (read from their
    temporaries) and why they changed, to its own temporary; ``_commit_folder`` puts them all in place."""
    manifest = json.loads((folder / publish.MANIFEST).read_text(encoding="utf-8"))
    for entry in manifest.get("files", []):
        name = entry.get("name")
        if name in counts:
            entry["rows"] = entry.get("rows", 0) - counts[name]
            entry["bytes"] = _temporary(folder / name).stat().st_size
            entry["sha256"] = publish.sha256_file(_temporary(folder / name))
    manifest.setdefault("erasure_scrubs", []).append(
        {"run_id": run_id, "reason": "erasure requests made after this export", "rows_removed": counts})
    _temporary(folder / publish.MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def _temporary(path: Path) -> Path:
    """Where the rewrite of ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}{_TEMPORARY}")


def _commit_folder(con: duckdb.DuckDBPyConnection, folder: Path, export: tuple[str, str, str], run_id: str,
                   counts: dict[str, int]) -> int:
    """Put one folder's scrub in place and log it; returns the rows removed.

    The rewritten files are beside their originals (``_scrub_folder``); the manifest is written beside
    its own, then the folder is noted in ``PENDING_SCRUBS`` (from here on the scrub is finished, by the
    next export if this one is killed), the files and then the manifest renamed into place, and the
    removals logged in ``SCRUB_LOG`` in the transaction that drops the note. Killed before the note, the
    folder is as it was (its temporaries are removed) and the requests are not recorded as applied, so
    the next export scrubs it again: files, manifest and log never disagree for longer than that.
    """
    if not counts:
        return 0
    try:
        _note_in_manifest(folder, run_id, counts)
    except BaseException:
        for name in [*counts, publish.MANIFEST]:
            _temporary(folder / name).unlink(missing_ok=True)
        raise
    at = audit_now()
    with transaction(con):
        con.executemany(f"INSERT INTO {PENDING_SCRUBS} VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(run_id, *export, name, n, at) for name, n in sorted(counts.items())])
    _finish_folder(con, folder, export)
    return sum(counts.values())


def _finish_folder(con: duckdb.DuckDBPyConnection, folder: Path, export: tuple[str, str, str]) -> None:
    """Rename a noted folder's rewritten files and then its manifest into place (those still beside
    them) and move its ``PENDING_SCRUBS`` rows to ``SCRUB_LOG``; a folder gone since loses its rows."""
    names = [row[0] for row in con.execute(
        f"SELECT DISTINCT file FROM {PENDING_SCRUBS} WHERE segment = ? AND destination = ? AND scrubbed_run_id = ?",
        list(export)).fetchall()]
    present = folder.is_dir()
    if present:
        for name in [*sorted(names), publish.MANIFEST]:  # the manifest last: it describes the new files
            if _temporary(folder / name).is_file():
                os.replace(_temporary(folder / name), folder / name)
    where = "segment = ? AND destination = ? AND scrubbed_run_id = ?"
    with transaction(con):
        if present:
            con.execute(f"INSERT INTO {SCRUB_LOG} SELECT * FROM {PENDING_SCRUBS} WHERE {where}", list(export))
        con.execute(f"DELETE FROM {PENDING_SCRUBS} WHERE {where}", list(export))


def _finish_pending(con: duckdb.DuckDBPyConnection, export_dir: Path, sweep: bool = True) -> None:
    """Finish the folder scrubs a killed export noted in ``PENDING_SCRUBS`` (their files rewritten in
    full), then (``sweep``) remove the rewritten files of a scrub killed before its folder was noted."""
    if table_exists(con, *PENDING_SCRUBS.split(".")):
        for export in con.execute(f"SELECT DISTINCT segment, destination, scrubbed_run_id FROM {PENDING_SCRUBS} "
                                  "ORDER BY ALL").fetchall():
            log.warning("finishing the erasure scrub of %s/%s/%s, left unfinished by an export that was killed",
                        *export)
            _finish_folder(con, publish.export_path(export_dir, *export), tuple(export))
    if sweep and export_dir.is_dir():
        for leftover in export_dir.glob(f"*/*/*/.*{_TEMPORARY}"):
            if leftover.is_file() and publish.STAGING_FOLDER not in leftover.relative_to(export_dir).parts:
                log.warning("removed %s, left by an erasure scrub that did not finish", leftover)
                leftover.unlink()


def finish_interrupted(settings: Settings) -> None:
    """Finish (or undo, before its folder was noted) the erasure scrub of an export that was killed, so
    no retained folder's files, manifest and ``exports.erasure_scrubs`` disagree. Call it under the export
    lock, before anything is published: a rerun of the same run id replaces its folders."""
    if not settings.warehouse_path.exists():
        return
    with connect(settings) as con:
        if table_exists(con, *SCRUB_LOG.split(".")):  # else no scrub ever ran
            _finish_pending(con, Path(settings.export_dir))
