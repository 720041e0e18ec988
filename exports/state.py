"""Per-export state in the warehouse: who is in each published export, and the export log.

Memberships are kept as diffs, so a night that changes 1% of an audience writes 1% of it:

- ``exports.export_members_current``: one row per member of the *last published* export of each
  segment+destination (which run that is: ``exports.export_log``), what the next run diffs against.
- ``exports.export_member_changes``: per published run, the member rows that entered (``added``)
  or left (``removed``) since ``previous_run_id`` (none for a first export: it is compared with
  nothing). The membership of any retained run is the
  current one with the changes of the later runs undone; a rerun of the latest run undoes its own
  changes to find the export before it.

Rows are (member_key, customer_id, hashed_row); for ad platforms the hashed row (never clear-text
PII) lets ``removed.csv`` tell the platform exactly which identifiers to drop. A marketing member key
carries a digest of the exported row (``runner._marketing_member_keys``), so a changed row is a key
that left and one that entered.
``exports.export_log`` has one row per attempt: a rerun replaces the run's ``published`` row of an
export, but every ``gate_failed`` row stays, so a blocked attempt keeps its audit trace. (Before, ``exports.export_members`` held every
member of every retained run; ``ensure_tables`` converts such a table once.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cdp.clock import audit_now
from cdp.warehouse import replace_rows, table_exists, transaction

CURRENT_MEMBERS = "exports.export_members_current"
MEMBER_CHANGES = "exports.export_member_changes"
_LEGACY_MEMBERS = "exports.export_members"

DDL = (
    f"""CREATE TABLE IF NOT EXISTS {CURRENT_MEMBERS} (
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL,
        member_key VARCHAR NOT NULL,
        hashed_row JSON
    )""",
    f"""CREATE TABLE IF NOT EXISTS {MEMBER_CHANGES} (
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        previous_run_id VARCHAR,
        change VARCHAR NOT NULL,
        customer_id VARCHAR NOT NULL,
        member_key VARCHAR NOT NULL,
        hashed_row JSON
    )""",
    """CREATE TABLE IF NOT EXISTS exports.export_log (
        run_id VARCHAR NOT NULL,
        segment VARCHAR NOT NULL,
        destination VARCHAR NOT NULL,
        run_date DATE,
        export_seq BIGINT,
        row_count BIGINT,
        added BIGINT,
        removed BIGINT,
        previous_run_id VARCHAR,
        path VARCHAR,
        status VARCHAR NOT NULL,
        message VARCHAR,
        exported_at TIMESTAMP
    )""",
)

HASHED_ROWS = "exports.hashed_rows"
SUPPRESSION_DECISIONS = "exports.suppression_decisions"

PUBLISHED = "published"
GATE_FAILED = "gate_failed"
# Logged (and committed) before an export's folder is moved into place, replaced by its published
# row in the recording transaction: a row left over names a folder of an export that was killed
# in between (path: the folder, message: where a replaced folder was moved aside).
PUBLISHING = "publishing"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the export state tables when they do not exist yet (converting a per-run member table)."""
    legacy = table_exists(con, *_LEGACY_MEMBERS.split(".")) and not table_exists(con, *CURRENT_MEMBERS.split("."))
    with transaction(con):
        for statement in DDL:
            con.execute(statement)
        if legacy:
            _convert_legacy_members(con)


def _convert_legacy_members(con: duckdb.DuckDBPyConnection) -> None:
    """Turn ``exports.export_members`` (every member of every retained run) into current members + changes.

    Each retained run's changes are taken against the run published before it (no rows when that
    one was pruned, as the old table compared), so reruns and audits see the same memberships.
    """
    runs = con.execute(
        "SELECT segment, destination, run_id, previous_run_id, is_latest FROM ("
        "SELECT segment, destination, run_id, lag(run_id) OVER (PARTITION BY segment, destination "
        "ORDER BY export_seq) AS previous_run_id, "
        "row_number() OVER (PARTITION BY segment, destination ORDER BY export_seq DESC) = 1 AS is_latest "
        "FROM exports.export_log WHERE status = ?) AS l "
        f"WHERE is_latest OR EXISTS (SELECT 1 FROM {_LEGACY_MEMBERS} AS m "
        "WHERE m.segment = l.segment AND m.destination = l.destination AND m.run_id = l.run_id)",
        [PUBLISHED]).fetchall()
    for segment, destination, run_id, previous_run_id, is_latest in runs:
        key = [segment, destination]
        this = f"(SELECT * FROM {_LEGACY_MEMBERS} WHERE segment = ? AND destination = ? AND run_id = ?)"
        for change, first, second in (("added", run_id, previous_run_id), ("removed", previous_run_id, run_id)):
            if previous_run_id is None:
                break
            con.execute(
                f"INSERT INTO {MEMBER_CHANGES} SELECT ?, ?, ?, ?, ?, a.customer_id, a.member_key, a.hashed_row "
                f"FROM {this} AS a WHERE {_without('a', this)}",
                [*key, run_id, previous_run_id, change, *key, first or "", *key, second or ""])
        if is_latest:
            con.execute(f"INSERT INTO {CURRENT_MEMBERS} SELECT segment, destination, customer_id, member_key, "
                        f"hashed_row FROM {_LEGACY_MEMBERS} WHERE segment = ? AND destination = ? AND run_id = ?",
                        [*key, run_id])
    con.execute(f"DROP TABLE {_LEGACY_MEMBERS}")


def previous_export(con: duckdb.DuckDBPyConnection, segment: str, destination: str, run_id: str) -> str | None:
    """Run id of the last published export of segment+destination other than ``run_id``.

    Ordered by publication sequence, not by run date: the diff must be against what downstream
    syncs last received, and a rerun of ``run_id`` is compared with the export before it.
    """
    row = con.execute(
        "SELECT run_id FROM exports.export_log WHERE segment = ? AND destination = ? AND status = ? "
        "AND run_id <> ? ORDER BY export_seq DESC LIMIT 1",
        [segment, destination, PUBLISHED, run_id]).fetchall()
    return row[0][0] if row else None


def _without(table: str, other: str) -> str:
    """SQL condition on rows of ``table``: no row of ``other`` has the same member key and customer id."""
    return (f"NOT EXISTS (SELECT 1 FROM {other} AS o WHERE o.member_key = {table}.member_key "
            f"AND o.customer_id = {table}.customer_id)")


def _latest_published(con: duckdb.DuckDBPyConnection, segment: str, destination: str) -> str | None:
    """Run id of the last published export of segment+destination (whose members are the current ones)."""
    row = con.execute(
        "SELECT run_id FROM exports.export_log WHERE segment = ? AND destination = ? AND status = ? "
        "ORDER BY export_seq DESC LIMIT 1", [segment, destination, PUBLISHED]).fetchall()
    return row[0][0] if row else None


def previous_member_table(con: duckdb.DuckDBPyConnection, segment: str, destination: str,
                          previous_run_id: str | None, run_id: str, keep_runs: int = 0) -> pa.Table:
    """Members of the published export ``previous_run_id`` (``previous_export`` of ``run_id``) as a table:
    member_key, customer_id, hashed_row (JSON text or null).

    That export is the current one, or, when ``run_id`` is being rerun, the current one with
    ``run_id``'s own changes undone, unless retention (``keep_runs``) has pruned it: like a pruned
    run's folder, its members are gone. Anything else (an unknown run) has no members.
    The export just before the latest one counts as kept even with ``keep_runs`` 1 (its folder is
    gone, but the latest run's changes against it are kept): else a rerun of the latest run would
    diff against nothing and rewrite added.csv as everyone and removed.csv as no one, losing the
    deletions the first attempt sent.
    """
    columns = "member_key, customer_id, hashed_row::VARCHAR AS hashed_row"
    key = [segment, destination]
    latest = _latest_published(con, segment, destination) if previous_run_id is not None else None
    if latest is not None and latest == previous_run_id:
        return con.sql(f"SELECT {columns} FROM {CURRENT_MEMBERS} WHERE segment = ? AND destination = ?",
                       params=key).to_arrow_table()
    pruned = keep_runs > 0 and previous_run_id in runs_to_drop(con, segment, destination, max(keep_runs, 2))
    if latest is not None and latest == run_id and not pruned:
        changes = (f"SELECT * FROM {MEMBER_CHANGES} WHERE segment = ? AND destination = ? AND run_id = ? "
                   "AND previous_run_id = ? AND change = ?")
        return con.sql(
            f"SELECT {columns} FROM {CURRENT_MEMBERS} AS m WHERE segment = ? AND destination = ? "
            f"AND {_without('m', f'({changes})')} UNION ALL SELECT {columns} FROM ({changes})",
            params=[*key, *key, run_id, previous_run_id, "added", *key, run_id, previous_run_id, "removed"],
        ).to_arrow_table()
    return pa.table({"member_key": pa.array([], pa.string()), "customer_id": pa.array([], pa.string()),
                     "hashed_row": pa.array([], pa.string())})


def previous_member_tables(con: duckdb.DuckDBPyConnection, exports: list[tuple[str, str]], run_id: str,
                           keep_runs: int = 0) -> dict[tuple[str, str], tuple[str | None, pa.Table]]:
    """``previous_export`` and ``previous_member_table`` of each (segment, destination) of ``exports``.

    The usual night (the previous export is the current one) reads the current members of every
    such export in one scan of ``exports.export_members_current``; the rest go one by one.
    """
    published = con.execute(
        "SELECT segment, destination, arg_max(run_id, export_seq) FILTER (WHERE run_id <> ?), "
        "arg_max(run_id, export_seq) FROM exports.export_log WHERE status = ? GROUP BY ALL",
        [run_id, PUBLISHED]).fetchall()
    previous_of = {(segment, destination): (previous, latest) for segment, destination, previous, latest in published}
    result: dict[tuple[str, str], tuple[str | None, pa.Table]] = {}
    current = []
    for key in exports:
        previous, latest = previous_of.get(key, (None, None))
        if previous is not None and previous == latest:
            current.append(key)
        else:
            result[key] = (previous, previous_member_table(con, *key, previous, run_id, keep_runs))
    if current:
        wanted = pa.table({"segment": pa.array([k[0] for k in current], pa.string()),
                           "destination": pa.array([k[1] for k in current], pa.string())})
        with registered(con, "_previous_exports", wanted):
            table = con.sql(
                "SELECT m.segment, m.destination, m.member_key, m.customer_id, m.hashed_row::VARCHAR AS hashed_row "
                f"FROM {CURRENT_MEMBERS} AS m SEMI JOIN _previous_exports AS w "
                "ON w.segment = m.segment AND w.destination = m.destination "
                "ORDER BY m.segment, m.destination").to_arrow_table()
        starts = {}
        if table.num_rows:
            pairs = pc.binary_join_element_wise(table.column("segment"), table.column("destination"), "/")
            counted = pc.value_counts(pairs)
            for pair, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                                   strict=True):
                starts[pair] = (pc.index(pairs, pair).as_py(), count)
        rows = table.select(["member_key", "customer_id", "hashed_row"])
        for key in current:
            start, count = starts.get(f"{key[0]}/{key[1]}", (0, 0))
            result[key] = (previous_of[key][0], rows.slice(start, count))
    return result


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """Expose ``table`` to SQL as view ``name`` for the block only, also when the block fails."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


@dataclass
class Publication:
    """One export to record as published (``record_published_all``).

    ``members`` has columns customer_id, member_key, hashed_row (a struct or JSON text, or null);
    ``previous`` is ``previous_member_table`` of this run.
    """

    segment: str
    destination: str
    members: pa.Table
    previous: pa.Table
    row_count: int
    added: int
    removed: int
    previous_run_id: str | None
    path: str
    message: str | None = None


def record_published(con: duckdb.DuckDBPyConnection, *, segment: str, destination: str, run_id: str,
                     run_date: date, members: pa.Table, previous: pa.Table, row_count: int, added: int,
                     removed: int, previous_run_id: str | None, path: str, message: str | None = None) -> None:
    """``record_published_all`` for one export."""
    record_published_all(con, run_id, run_date, [Publication(
        segment, destination, members, previous, row_count, added, removed, previous_run_id, path, message)])


def record_published_all(con: duckdb.DuckDBPyConnection, run_id: str, run_date: date,
                         publications: list[Publication]) -> None:
    """Make each publication's members the current members of its segment+destination and log it,
    all in one transaction (logged in list order).

    Only the difference is written: the changes since ``previous_run_id`` (replacing this run's
    earlier ones on a rerun), and the current members minus the rows that left plus the rows that
    entered. Every export of the call is handled by the same few set-based statements, so the
    current members are scanned once per call rather than once per export.
    """
    if not publications:
        return
    # The usual night: the current members are ``previous``, so the changes turn them into ``members``
    # (no comparison with the whole current membership); else (a first export, or a rerun of the
    # latest one) the new members are compared with the current ones.
    latest = {(segment, destination): run for segment, destination, run in con.execute(
        "SELECT segment, destination, arg_max(run_id, export_seq) FROM exports.export_log WHERE status = ? "
        "GROUP BY ALL", [PUBLISHED]).fetchall()}
    exports = pa.table({
        "segment": pa.array([p.segment for p in publications], pa.string()),
        "destination": pa.array([p.destination for p in publications], pa.string()),
        "previous_run_id": pa.array([p.previous_run_id for p in publications], pa.string()),
        "is_usual": pa.array([p.previous_run_id is not None
                              and latest.get((p.segment, p.destination)) == p.previous_run_id
                              for p in publications], pa.bool_()),
    })
    # The changes of each export, found in Arrow: only they are turned into JSON and written.
    added, removed, compared = [], [], []
    for publication, usual in zip(publications, exports.column("is_usual").to_pylist(), strict=True):
        previous = publication.previous.select(["customer_id", "member_key", "hashed_row"]).cast(_PREVIOUS_SCHEMA)
        if publication.previous_run_id is not None:  # a first export is compared with nothing, also when rerun
            new_pairs, old_pairs = _member_pairs(publication.members), _member_pairs(previous)
            added.append(_with_export(publication, publication.members.filter(
                pc.invert(pc.is_in(new_pairs, value_set=old_pairs)))))
            removed.append(_with_export(publication, previous.filter(
                pc.invert(pc.is_in(old_pairs, value_set=new_pairs)))))
        if not usual:
            compared.append(_with_export(publication, publication.members))
    tables = {"added": _by_schema(added), "removed": _by_schema(removed), "compared": _by_schema(compared)}
    views = {kind: [f"_export_members_{kind}_{i}" for i in range(len(parts))] for kind, parts in tables.items()}
    with contextlib.ExitStack() as stack:
        for kind, parts in tables.items():
            for view, part in zip(views[kind], parts, strict=True):
                stack.enter_context(registered(con, view, part))
        stack.enter_context(registered(con, "_exports", exports))
        with transaction(con):
            _record_members(con, run_id, views)
            forget_publishing(con, run_id)
            # Sequence numbers as when each export replaced its own published row and took max + 1 in
            # turn: only the first export's earlier published row is gone when the first number is drawn.
            # Blocked attempts (gate_failed) of the run stay: they are the audit trail of the run.
            first = publications[0]
            seq = con.execute(
                "SELECT coalesce(max(export_seq), 0) FROM exports.export_log "
                "WHERE NOT (segment = ? AND destination = ? AND run_id = ? AND status = ?)",
                [first.segment, first.destination, run_id, PUBLISHED]).fetchall()[0][0]
            con.execute("DELETE FROM exports.export_log AS l USING _exports AS e WHERE l.segment = e.segment "
                        "AND l.destination = e.destination AND l.run_id = ? AND l.status = ?", [run_id, PUBLISHED])
            for offset, p in enumerate(publications, start=1):
                _insert_log(con, [p.segment, p.destination, run_id], run_date, PUBLISHED, p.row_count, p.added,
                            p.removed, p.previous_run_id, p.path, p.message, seq=seq + offset)


_PREVIOUS_SCHEMA = pa.schema([("customer_id", pa.string()), ("member_key", pa.string()), ("hashed_row", pa.string())])


def _with_export(publication: Publication, rows: pa.Table) -> pa.Table:
    """``rows`` with the publication's segment and destination in front."""
    count = rows.num_rows
    return pa.table({"segment": pa.array([publication.segment] * count, pa.string()),
                     "destination": pa.array([publication.destination] * count, pa.string()),
                     **{name: rows.column(name) for name in ("customer_id", "member_key", "hashed_row")}})


def _by_schema(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` concatenated into one table per distinct schema (hashed rows differ by destination)."""
    groups: dict[pa.Schema, list[pa.Table]] = {}
    for table in tables:
        for schema, group in groups.items():
            if schema.equals(table.schema):
                group.append(table)
                break
        else:
            groups[table.schema] = [table]
    return [pa.concat_tables(group) for group in groups.values()]


def _member_pairs(rows: pa.Table) -> pa.Array:
    """Each row's (member_key, customer_id) as one string, unambiguously (the key's length first)."""
    key, customer = rows.column("member_key"), rows.column("customer_id")
    return pc.binary_join_element_wise(pc.cast(pc.utf8_length(key), pa.string()), key, customer, "\x1f")


def _record_members(con: duckdb.DuckDBPyConnection, run_id: str, views: dict[str, list[str]]) -> None:
    """The member statements of ``record_published_all``: ``views`` names the registered tables of the
    added, removed and compared (first or rerun exports) rows; ``_exports`` is registered too."""
    def rows(kind: str) -> str:
        return " UNION ALL ".join(f"SELECT segment, destination, customer_id, member_key, hashed_row::JSON AS "
                                  f"hashed_row FROM {view}" for view in views[kind]) or \
            "SELECT NULL::VARCHAR AS segment, NULL::VARCHAR AS destination, NULL::VARCHAR AS customer_id, " \
            "NULL::VARCHAR AS member_key, NULL::JSON AS hashed_row WHERE false"

    same_member = ("{o}.segment = {t}.segment AND {o}.destination = {t}.destination "
                   "AND {o}.member_key = {t}.member_key AND {o}.customer_id = {t}.customer_id")
    usual = "(SELECT segment, destination FROM _exports WHERE is_usual)"
    con.execute(f"DELETE FROM {MEMBER_CHANGES} AS c USING _exports AS e WHERE c.segment = e.segment "
                "AND c.destination = e.destination AND c.run_id = ?", [run_id])
    for change in ("added", "removed"):
        if views[change]:
            con.execute(
                f"INSERT INTO {MEMBER_CHANGES} SELECT n.segment, n.destination, ?, e.previous_run_id, ?, "
                f"n.customer_id, n.member_key, n.hashed_row FROM ({rows(change)}) AS n JOIN _exports AS e "
                "ON e.segment = n.segment AND e.destination = n.destination", [run_id, change])
    # The usual night: the current members are the previous ones, so the changes turn them into the new ones.
    if views["removed"]:
        con.execute(
            f"DELETE FROM {CURRENT_MEMBERS} AS m WHERE EXISTS (SELECT 1 FROM ({rows('removed')}) AS o "
            f"SEMI JOIN {usual} AS u ON u.segment = o.segment AND u.destination = o.destination "
            f"WHERE {same_member.format(o='o', t='m')})")
    if views["added"]:
        con.execute(
            f"INSERT INTO {CURRENT_MEMBERS} SELECT n.segment, n.destination, n.customer_id, n.member_key, "
            f"n.hashed_row FROM ({rows('added')}) AS n SEMI JOIN {usual} AS u "
            "ON u.segment = n.segment AND u.destination = n.destination")
    if views["compared"]:
        # A first export, or a rerun of the latest one: compare with the current members.
        con.execute(f"CREATE TEMP TABLE _export_members_compared AS {rows('compared')}")
        new = "temp._export_members_compared"
        compared = "EXISTS (SELECT 1 FROM _exports AS e WHERE NOT e.is_usual AND e.segment = m.segment " \
                   "AND e.destination = m.destination)"
        con.execute(
            f"DELETE FROM {CURRENT_MEMBERS} AS m WHERE {compared} "
            f"AND NOT EXISTS (SELECT 1 FROM {new} AS o WHERE {same_member.format(o='o', t='m')})")
        con.execute(
            f"INSERT INTO {CURRENT_MEMBERS} SELECT n.segment, n.destination, n.customer_id, n.member_key, "
            f"n.hashed_row FROM {new} AS n WHERE NOT EXISTS "
            f"(SELECT 1 FROM {CURRENT_MEMBERS} AS o WHERE {same_member.format(o='o', t='n')})")
        # Dropped before the commit; a failure rolls its creation back with everything else.
        con.execute(f"DROP TABLE {new}")


def record_publishing(con: duckdb.DuckDBPyConnection, run_id: str, run_date: date,
                      targets: list[tuple[str, str, str, str]]) -> None:
    """Log that the folders of ``targets`` (segment, destination, folder, aside path) are about to be
    moved into place, in one transaction (no sequence number: only published rows are ordered)."""
    with transaction(con):
        for segment, destination, folder, aside in targets:
            con.execute(
                "INSERT INTO exports.export_log (run_id, segment, destination, run_date, path, status, message, "
                "exported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, segment, destination, run_date, folder, PUBLISHING, aside, audit_now()])


def unfinished_publications(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str, str, bool]]:
    """``record_publishing`` rows never replaced by their published row: (run_id, segment, destination,
    folder, aside path, whether the log has an earlier published row of that run)."""
    return con.execute(
        "SELECT p.run_id, p.segment, p.destination, p.path, p.message, EXISTS (SELECT 1 FROM exports.export_log "
        "AS l WHERE l.status = ? AND l.run_id = p.run_id AND l.segment = p.segment "
        "AND l.destination = p.destination) FROM exports.export_log AS p WHERE p.status = ? ORDER BY ALL",
        [PUBLISHED, PUBLISHING]).fetchall()


def forget_publishing(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> None:
    """Delete the ``record_publishing`` rows of ``run_id`` (None: of every run)."""
    con.execute("DELETE FROM exports.export_log WHERE status = ? AND (? IS NULL OR run_id = ?)",
                [PUBLISHING, run_id, run_id])


def record_gate_failure(con: duckdb.DuckDBPyConnection, *, segment: str, destination: str, run_id: str,
                        run_date: date, row_count: int, added: int, removed: int,
                        previous_run_id: str | None, message: str) -> None:
    """Log a blocked export as a new row: earlier attempts of the same run stay, blocked or
    published (a published run's files stay too)."""
    key = [segment, destination, run_id]
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_log(con, key, run_date, GATE_FAILED, row_count, added, removed, previous_run_id, None, message)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _insert_log(con, key, run_date, status, row_count, added, removed, previous_run_id, path, message,
                seq: int | None = None) -> None:
    if seq is None:
        seq = con.execute("SELECT coalesce(max(export_seq), 0) + 1 FROM exports.export_log").fetchall()[0][0]
    con.execute(
        "INSERT INTO exports.export_log (run_id, segment, destination, run_date, export_seq, row_count, added, "
        "removed, previous_run_id, path, status, message, exported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [key[2], key[0], key[1], run_date, seq, row_count, added, removed, previous_run_id, path, status,
         message, audit_now()])  # audit only: when the files appeared


def runs_to_drop(con: duckdb.DuckDBPyConnection, segment: str, destination: str, keep: int) -> set[str]:
    """Published run ids of segment+destination beyond the ``keep`` newest."""
    rows = con.execute(
        "SELECT run_id FROM exports.export_log WHERE segment = ? AND destination = ? AND status = ? "
        "GROUP BY run_id ORDER BY max(export_seq) DESC", [segment, destination, PUBLISHED]).fetchall()
    run_ids = [r[0] for r in rows]
    return set(run_ids[keep:])


def runs_to_drop_all(con: duckdb.DuckDBPyConnection, exports: list[tuple[str, str]],
                     keep: int) -> dict[tuple[str, str], set[str]]:
    """``runs_to_drop`` of each (segment, destination) of ``exports``, in one query instead of one per export."""
    result: dict[tuple[str, str], set[str]] = {key: set() for key in exports}
    if not exports:
        return result
    rows = con.execute(
        "SELECT segment, destination, run_id FROM (SELECT segment, destination, run_id, row_number() OVER "
        "(PARTITION BY segment, destination ORDER BY max(export_seq) DESC) AS newest FROM exports.export_log "
        "WHERE status = ? GROUP BY segment, destination, run_id) WHERE newest > ?", [PUBLISHED, keep]).fetchall()
    for segment, destination, run_id in rows:
        if (segment, destination) in result:
            result[(segment, destination)].add(run_id)
    return result


def forget_members(con: duckdb.DuckDBPyConnection, segment: str, destination: str, run_ids: set[str]) -> None:
    """Delete the member changes of pruned runs (their export_log rows stay as the audit trail)."""
    if run_ids:
        con.execute(f"DELETE FROM {MEMBER_CHANGES} WHERE segment = ? AND destination = ? "
                    "AND run_id IN (SELECT unnest(?::VARCHAR[]))", [segment, destination, sorted(run_ids)])


def load_hashed_rows(con: duckdb.DuckDBPyConnection, rules: str) -> pa.Table:
    """Ad-platform rows kept by the last run under the rules ``rules`` (``formats.rules_fingerprint``).

    Columns: destination, customer_id, row_input_fingerprint, hashed_row (values in the format's
    column order; null when the customer had no matchable identifier), member_key.
    """
    if not table_exists(con, *HASHED_ROWS.split(".")):
        return pa.table({"destination": pa.array([], pa.string())})
    return con.sql("SELECT destination, customer_id, row_input_fingerprint, hashed_row, member_key "
                   f"FROM {HASHED_ROWS} WHERE rules_fingerprint = ?", params=[rules]).to_arrow_table()


_HASHED_ROW_KEY = ("destination", "customer_id", "row_input_fingerprint", "rules_fingerprint")
_HASHED_ROW_COLUMNS = ("destination", "customer_id", "row_input_fingerprint", "hashed_row", "member_key",
                       "rules_fingerprint")


def save_hashed_rows(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Make ``exports.hashed_rows`` this run's rows (columns as ``load_hashed_rows`` plus rules_fingerprint).

    Only the rows that differ are deleted and inserted (about 1% on a usual night): rewriting the whole
    table (540 bytes a row, 330k rows at 1M) made DuckDB write and checkpoint all of it every night.
    Rows are compared on ``_HASHED_ROW_KEY``: a row is a function of its destination, inputs (their
    fingerprint) and rules, and a kept row whose key the run has is the row the run reused
    (``runner._RunCache.seed_rows``). A table of other columns is replaced.
    """
    if rows.column_names != list(_HASHED_ROW_COLUMNS):
        raise ValueError(f"hashed rows need the columns {_HASHED_ROW_COLUMNS}, got {rows.column_names}")
    with registered(con, "_hashed_rows_new", rows), transaction(con):
        replace_rows(con, HASHED_ROWS, "_hashed_rows_new", _HASHED_ROW_COLUMNS, key=_HASHED_ROW_KEY)
