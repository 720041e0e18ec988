"""Publish audience exports: one folder per segment, destination and run.

For each selected segment and format: read the exportable members (consent given, not
suppressed), build the snapshot, diff it against the last successful export of the same
segment+destination and write everything into a staging folder. Then the quality gate runs
once over all of the run's exports; only if it passes is each folder atomically moved into
``export_dir/<segment>/<destination>/<run_id>/``, recorded in the member state (``exports.state``) /
``exports.export_log``, and ``latest`` repointed. A failed gate publishes nothing and leaves
every previous export in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.settings import Settings
from cdp.warehouse import connect, table_exists
from exports import audience as audience_mod
from exports import publish, scrub, state
from exports import suppression as suppression_mod
from exports.formats import (
    AD_PLATFORMS,
    DESTINATION_CONSENT,
    FORMATS,
    GOOGLE_COLUMNS,
    META_COLUMNS,
    HashCache,
    Snapshot,
    build_snapshot,
    rules_fingerprint,
    write_csv_table,
    write_snapshot,
)
from exports.gate import ExportGate, ExportGateFailed, builtin_problems, default_gate, evaluate

log = logging.getLogger(__name__)

_USE_DEFAULT_GATE: Any = object()


class ErasureScrubFailed(RuntimeError):
    """The exports of the call were published (``results``), but the erasure scrub of the retained runs
    that follows stopped (``__cause__``): the requests are not recorded as applied, so the next export
    scrubs again once what is named is fixed."""

    def __init__(self, message: str, results: list[dict]):
        super().__init__(message)
        self.results = results


class ExportBlocked(ExportGateFailed):
    """One or more exports failed their gate; ``results`` holds every export's outcome."""

    def __init__(self, message: str, results: list[dict]):
        super().__init__(message)
        self.results = results


def export(settings: Settings, run_id: str, segment: str | None = None, fmt: str | None = None,
           gate: ExportGate | None = _USE_DEFAULT_GATE) -> list[dict]:
    """Export one or all segments in one or all formats; returns one summary dict per export.

    ``gate`` defaults to ``quality.gate.run_export_gate`` (imported directly: no quality package,
    no exports); pass ``None`` explicitly to run only the exporter's built-in checks. Raises
    ExportInputError when a suppression row cannot be applied (naming its file and line). Raises ValueError for an unknown
    segment or format or an unsafe name, and ExportBlocked when the gate fails (then nothing of
    this call is published and each blocked export is logged with status ``gate_failed``).
    """
    if gate is _USE_DEFAULT_GATE:
        gate = default_gate()
    publish.validate_run_id(run_id)
    formats = _select_formats(fmt)
    export_dir = Path(settings.export_dir)
    with publish.export_lock(export_dir):
        _reconcile_killed_publication(settings)
        scrub.finish_interrupted(settings)  # before publishing: a rerun replaces the folders of its run id
        for leftover in publish.clear_staging(export_dir):
            log.warning("removed %s, left in the staging folder by an export that did not finish", leftover)
        return _export_locked(settings, run_id, segment, formats, gate)


def _export_locked(settings: Settings, run_id: str, segment: str | None, formats: tuple[str, ...],
                   gate: ExportGate | None) -> list[dict]:
    """``export`` once it holds the export folder's lock."""
    with connect(settings) as con:
        audience_mod.check_inputs(con)
        state.ensure_tables(con)
        segments = audience_mod.load_segments(con)
        selected = _select_segments(segments, segment)
        # Raises (naming file and line) when any suppression row cannot be applied.
        suppression = audience_mod.load_suppression(con, settings.default_phone_region)
        erasures = scrub.erasure_entries(con)  # the erasure requests this call's exports are built without
        # What the last run decided and hashed, reused for customers whose inputs did not change.
        shared = _RunCache(memo=suppression_mod.load_memo(con, suppression, state.SUPPRESSION_DECISIONS),
                           rules=rules_fingerprint(settings.default_phone_region))
        stored_rows = state.load_hashed_rows(con, shared.rules)

        # Everything the exports read, in this one connection: opening the warehouse is not free.
        inputs = []
        members_of = audience_mod.load_members_of(con, selected)
        previous_of = state.previous_member_tables(
            con, [(seg.name, destination) for seg in selected for destination in formats], run_id,
            settings.export_keep_runs)
        # Each member's suppression decision once per run, not once per destination.
        suppressed_of = audience_mod.decide_suppression(selected, members_of, shared.memo)
        for seg in selected:
            members = members_of[seg.name]
            shared.note_inputs(members)
            for destination in formats:
                previous_run_id, previous = previous_of[(seg.name, destination)]
                inputs.append((seg, destination, members, suppressed_of[seg.name], previous_run_id, previous))
        retired = _retired_inputs(settings, con, run_id, segments) if segment is None and formats == FORMATS else []
    shared.seed_rows(stored_rows)

    prepared: list[_Prepared] = []
    try:
        for seg, destination, members, suppressed, previous_run_id, previous in inputs:
            prepared.append(_prepare(settings, run_id, seg, destination, suppression, members, suppressed, shared,
                                     previous_run_id, previous))
        for seg, destination, members, suppressed, previous_run_id, previous in retired:
            prepared.append(_prepare(settings, run_id, seg, destination, suppression, members, suppressed, shared,
                                     previous_run_id, previous, retired=True))
        failure = _gate_all(settings, run_id, prepared, gate, every_export=segment is None and formats == FORMATS)
        if failure is not None:
            with connect(settings) as con:
                results = [_block(settings, con, item.summary, failure) for item in prepared]
            raise ExportBlocked(
                f"run {run_id}: the export quality gate failed ({failure}); nothing was published and the "
                "previous exports are unchanged", results)
        with connect(settings) as con:
            results = _publish_all(settings, con, run_id, prepared)
            _prune(settings, con, prepared)
            # Kept for the next run (only after publishing: a blocked run keeps the last run's).
            suppression_mod.save_memo(con, shared.memo, state.SUPPRESSION_DECISIONS)
            state.save_hashed_rows(con, shared.hashed_rows_table())
            # Retained runs published before a new erasure request lose that person's rows. After
            # publishing: the new run is built without the person and its removed.csv is the platforms'
            # delete list, so an old file the scrub cannot read must not hold it back.
            try:
                scrub.scrub_erased(settings, con, run_id, built_without=erasures, rebuilt=[
                    (item.summary["segment"], item.summary["destination"]) for item in prepared])
            except Exception as exc:
                raise ErasureScrubFailed(
                    f"run {run_id}: published {len(results)} export(s) and repointed their latest, but the "
                    f"erasure scrub of the retained runs did not finish: {exc}. Folders scrubbed before are "
                    "logged in exports.erasure_scrubs; the erasure requests are not recorded as applied, so the "
                    "next export scrubs again: fix or delete what is named and export again", results) from exc
        log.info("export %s: %d suppression decision(s) and %d hashed row(s) reused from the last run",
                 run_id, shared.memo.reused, shared.rows_reused)
        return results
    finally:
        for item in prepared:
            shutil.rmtree(item.staging, ignore_errors=True)


def _select_formats(fmt: str | None) -> tuple[str, ...]:
    if fmt is None:
        return FORMATS
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return (fmt,)


def _select_segments(segments: dict[str, audience_mod.Segment], name: str | None) -> list[audience_mod.Segment]:
    if name is not None:
        if name not in segments:
            valid = ", ".join(segments) or "(marts.segments is empty)"
            raise ValueError(f"unknown segment {name!r}; valid segments: {valid}")
        chosen = [segments[name]]
    else:
        chosen = list(segments.values())
    for seg in chosen:
        publish.validate_segment_name(seg.name)  # before any file is written
    return chosen


def _retired_inputs(settings: Settings, con, run_id: str, segments: dict[str, audience_mod.Segment]) -> list[tuple]:
    """``_prepare`` inputs of a final, empty export of each segment+format that still has published
    members but whose segment is no longer in ``marts.segments`` (removed from the YAML).

    Its removed.csv lists every member, so marketing tools and ad platforms delete them (erasure
    requests made since included); afterwards it has no members and is never exported again.
    """
    rows = con.execute(
        f"SELECT DISTINCT segment, destination FROM {state.CURRENT_MEMBERS} "
        "WHERE segment NOT IN (SELECT unnest(?::VARCHAR[])) ORDER BY ALL", [sorted(segments)]).fetchall()
    rows = [(name, destination) for name, destination in rows if destination in FORMATS]
    if not rows:
        return []
    previous_of = state.previous_member_tables(con, rows, run_id, settings.export_keep_runs)
    inputs = []
    for name, destination in rows:
        publish.validate_segment_name(name)
        previous_run_id, previous = previous_of[(name, destination)]
        if not previous.num_rows:
            continue
        seg = audience_mod.Segment(name, _last_consent_purpose(settings, name, destination, previous_run_id),
                                   "retired: no longer in marts.segments")
        members = audience_mod.load_members(con, seg).slice(0, 0)  # nobody is a member any more
        inputs.append((seg, destination, members, pa.array([], pa.bool_()), previous_run_id, previous))
    return inputs


def _last_consent_purpose(settings: Settings, name: str, destination: str, run_id: str | None) -> str:
    """The consent purpose a retired segment was last exported with (its manifest), so its final
    empty snapshot has the same columns; ``none`` when the manifest cannot be read."""
    if run_id is not None:
        manifest = publish.export_path(Path(settings.export_dir), name, destination, run_id) / "manifest.json"
        try:
            purpose = json.loads(manifest.read_text()).get("consent_purpose")
        except (OSError, ValueError):
            purpose = None
        if isinstance(purpose, str) and purpose in audience_mod.CONSENT_PURPOSES:
            return purpose
    return "none"


_ROW_COLUMNS = {"google": GOOGLE_COLUMNS, "meta": META_COLUMNS}


@dataclass
class _RunCache:
    """Work shared by every segment and destination of one export call (a customer is in many),
    seeded with what the last run decided and hashed for customers whose inputs are unchanged."""

    memo: suppression_mod.SuppressionMemo
    rules: str
    hashes: HashCache = field(default_factory=HashCache)
    inputs: list[pa.Table] = field(default_factory=list)  # customer_id, row_input_fingerprint per segment
    rows_reused: int = 0
    # load_audience results by (segment, extra consent, members, suppressed): the objects stay referenced
    # by the call's inputs, so their ids are not reused while it runs.
    audiences: dict[tuple, audience_mod.Audience] = field(default_factory=dict)
    _row_inputs: tuple[int, pa.Table] | None = None  # (len(inputs) it was built from, row_inputs())
    # _marketing_member_keys by audience (held in ``audiences``): csv and parquet have the same rows.
    _marketing_keys: dict[int, pa.Array] = field(default_factory=dict)

    def audience(self, seg: audience_mod.Segment, extra_consent: str | None, suppression: audience_mod.Suppression,
                 members: pa.Table, suppressed: pa.Array) -> audience_mod.Audience:
        """``audience.load_audience`` of ``members``, once per segment and extra consent purpose: csv and
        parquet need none, google and meta the same one (``DESTINATION_CONSENT``)."""
        key = (seg, extra_consent, id(members), id(suppressed))
        if key not in self.audiences:
            self.audiences[key] = audience_mod.load_audience(None, seg, suppression, extra_consent, members=members,
                                                             memo=self.memo, suppressed=suppressed)
        return self.audiences[key]

    def marketing_keys(self, audience: audience_mod.Audience, snapshot: Snapshot) -> pa.Array:
        """``_marketing_member_keys(snapshot)``, once per audience: the csv and parquet snapshots of one
        audience hold the same rows (``formats.build_snapshot``), so they have the same keys."""
        key = id(audience)
        if key not in self._marketing_keys:
            self._marketing_keys[key] = _marketing_member_keys(snapshot)
        return self._marketing_keys[key]

    def note_inputs(self, members: pa.Table) -> None:
        """Remember each member's row input fingerprint (``audience.load_members``)."""
        self.inputs.append(members.select(["customer_id", "row_input_fingerprint"]))

    def row_inputs(self) -> pa.Table:
        """Each member's customer id and row input fingerprint, once per customer."""
        if self._row_inputs is not None and self._row_inputs[0] == len(self.inputs):
            return self._row_inputs[1]
        if not self.inputs:
            table = pa.table({"customer_id": pa.array([], pa.string()),
                              "row_input_fingerprint": pa.array([], pa.string())})
        else:
            table = pa.concat_tables(self.inputs).combine_chunks()
            table = pa.table({c: pc.cast(table.column(c), pa.string()) for c in table.column_names})
            table = table.group_by(["customer_id", "row_input_fingerprint"], use_threads=False).aggregate([])
        self._row_inputs = (len(self.inputs), table)
        return table

    def seed_rows(self, stored: pa.Table) -> None:
        """Reuse stored ad-platform rows whose customer's inputs have the same fingerprint now."""
        if not stored.num_rows:
            return
        current = self.row_inputs()
        position = pc.index_in(stored.column("customer_id"), value_set=current.column("customer_id"))
        unchanged = pc.fill_null(pc.equal(pc.take(current.column("row_input_fingerprint"), position),
                                          stored.column("row_input_fingerprint")), False)
        for destination, columns in _ROW_COLUMNS.items():
            rows = stored.filter(pc.and_(unchanged, pc.equal(stored.column("destination"), destination)))
            values = rows.column("hashed_row")
            self.hashes.tables[destination] = pa.table({
                "customer_id": rows.column("customer_id"),
                "row_input_fingerprint": rows.column("row_input_fingerprint"),
                **{c: pc.list_element(values, i) if rows.num_rows else pa.array([], pa.string())
                   for i, c in enumerate(columns)},
                "member_key": rows.column("member_key"),
            })
            self.rows_reused += rows.num_rows

    def hashed_rows_table(self) -> pa.Table:
        """Every ad-platform row of this run's members, for ``state.save_hashed_rows``."""
        members = self.row_inputs().column("customer_id")
        parts = []
        for destination, columns in _ROW_COLUMNS.items():
            rows = self.hashes.tables.get(destination)
            if rows is None:
                continue
            rows = rows.filter(pc.is_in(rows.column("customer_id"), value_set=members)).combine_chunks()
            count, width = rows.num_rows, len(columns)
            # The row's values in column order as one list (null when not matchable).
            values = pa.concat_arrays([rows.column(c).chunk(0) if rows.column(c).num_chunks
                                       else pa.array([], pa.string()) for c in columns])
            order = (np.arange(count)[:, None] + np.arange(width)[None, :] * count).ravel()
            hashed = pa.ListArray.from_arrays(pa.array(np.arange(0, count * width + 1, width), pa.int32()),
                                              values.take(order), mask=pc.is_null(rows.column("member_key"))
                                              .combine_chunks() if count else None)
            parts.append(pa.table({
                "destination": pa.array([destination] * count, pa.string()),
                "customer_id": rows.column("customer_id"),
                "row_input_fingerprint": rows.column("row_input_fingerprint"),
                "hashed_row": hashed,
                "member_key": rows.column("member_key"),
                "rules_fingerprint": pa.array([self.rules] * count, pa.string()),
            }))
        if not parts:
            return pa.table({"destination": pa.array([], pa.string()), "customer_id": pa.array([], pa.string()),
                             "row_input_fingerprint": pa.array([], pa.string()),
                             "hashed_row": pa.array([], pa.list_(pa.string())),
                             "member_key": pa.array([], pa.string()),
                             "rules_fingerprint": pa.array([], pa.string())})
        return pa.concat_tables(parts)


@dataclass
class _Prepared:
    """One export written to its staging folder, waiting for the gate."""

    summary: dict
    snapshot: Snapshot
    staging: Path
    target: Path
    previous: pa.Table  # members of the previous export (state.previous_member_table)
    member_keys: pa.Array  # each snapshot row's key in the member state (marketing: id + row digest)


def _prepare(settings: Settings, run_id: str, seg: audience_mod.Segment, destination: str,
             suppression: audience_mod.Suppression, members_table: pa.Table, suppressed: pa.Array,
             shared: _RunCache, previous_run_id: str | None, previous: pa.Table, retired: bool = False) -> _Prepared:
    """Build one export's snapshot and diff and write its files into a staging folder.

    ``previous`` holds the members of the last published export of segment+destination
    (``state.previous_member_table``), ``previous_run_id`` its run. ``retired``: the final, empty
    export of a segment that no longer exists (``_retired_inputs``).
    """
    export_dir = Path(settings.export_dir)
    target = publish.export_path(export_dir, seg.name, destination, run_id)
    region = settings.default_phone_region

    members = shared.audience(seg, DESTINATION_CONSENT.get(destination), suppression, members_table, suppressed)
    snapshot = build_snapshot(destination, members.members, region, seg.consent_purpose, shared.hashes)
    previous_keys = previous.column("member_key").combine_chunks()
    changed_table = None
    if destination in AD_PLATFORMS:
        # The key is the hashed row itself: a changed row leaves (removed.csv) and enters (added.csv).
        keys = pa.array(snapshot.keys, pa.string())
        is_added = pc.invert(pc.is_in(keys, value_set=previous_keys))
        removed = previous.filter(pc.invert(pc.is_in(previous.column("member_key"), value_set=keys)))
        removed = removed.sort_by("member_key")
    else:
        # Marketing files are keyed on customer_id; the member state keeps a digest of each row with
        # it, so a member whose row changed (a withdrawn channel consent empties its cell) is listed
        # in changed.csv with its new row instead of in neither file.
        keys = shared.marketing_keys(members, snapshot)
        ids = pa.array(snapshot.customer_ids, pa.string())
        previous_ids = previous.column("customer_id").combine_chunks()
        is_new_row = pc.invert(pc.is_in(keys, value_set=previous_keys))
        was_member = pc.is_in(ids, value_set=previous_ids)
        is_added = pc.and_(is_new_row, pc.invert(was_member))
        changed_table = snapshot.table.filter(pc.and_(is_new_row, was_member))
        removed = previous.filter(pc.invert(pc.is_in(previous_ids, value_set=ids))).sort_by("customer_id")
    added_table = snapshot.table.filter(is_added)
    summary = {
        "run_id": run_id, "segment": seg.name, "destination": destination,
        "consent_purpose": seg.consent_purpose, "row_count": snapshot.table.num_rows,
        "added": added_table.num_rows, "removed": removed.num_rows,
        **({"changed": changed_table.num_rows} if changed_table is not None else {}),
        "previous_run_id": previous_run_id,
        "memberships": members.memberships, "excluded_no_consent": members.excluded_no_consent,
        "excluded_suppressed": members.excluded_suppressed, "skipped_no_identifier": len(snapshot.skipped),
        "duplicates_collapsed": snapshot.duplicates_collapsed,
    }
    if retired:
        summary["retired"] = True
    removed_table = _removed_rows(snapshot, removed)
    staging = publish.new_staging_dir(export_dir, f"{seg.name}-{destination}")
    try:
        files = _write_files(snapshot, staging, added_table, removed_table, changed_table)
        publish.write_manifest(staging, _manifest(settings, summary, snapshot), files)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _Prepared(summary, snapshot, staging, target, previous, keys)


def _marketing_member_keys(snapshot: Snapshot) -> pa.Array:
    """Member-state keys of a marketing snapshot: ``customer_id``, a unit separator, and the first 32 hex
    digits of the SHA-256 of the row's values (each cast to text, null as a NUL character, so it is
    told apart from an empty cell).

    A key kept before 2026-11-25 is the bare customer id: compared with it, every row counts as
    changed once, so the first export after the upgrade lists its members in changed.csv.
    """
    ids = pa.array(snapshot.customer_ids, pa.string())
    if not len(ids):
        return ids
    texts = [pc.cast(column, pa.string()) for column in snapshot.table.columns]
    rows = pc.binary_join_element_wise(*texts, "\x1f", null_handling="replace", null_replacement="\x00")
    # The joined rows as UTF-8 bytes (a cast, no Python str), each hashed once.
    sha256 = hashlib.sha256
    digests = pa.array([sha256(row).hexdigest()[:32] for row in pc.cast(rows, pa.binary()).to_pylist()], pa.string())
    return pc.binary_join_element_wise(ids, digests, "\x1f")


def _gate_all(settings: Settings, run_id: str, prepared: list[_Prepared], gate: ExportGate | None,
              every_export: bool = False) -> str | None:
    """Run the built-in checks and the quality gate once over every export of the run.

    Frames are named ``<segment>/<destination>/<file>``. Only the snapshots go to the gate.
    added.csv (and a marketing export's changed.csv) holds a subset of the snapshot's rows (the same rows, filtered by the diff, with the
    same segment, consent purposes, hashed columns and customer ids), and every check of the export
    suite is a check of each row on its own, so checking the snapshot decides for added.csv too
    (until 2026-11-24 it was handed over as well, which doubled the gate's rows on a first export).
    removed.csv lists people *leaving* the audience, including erased ones whose hashes must
    reach the platform so it deletes them, so consent/suppression checks do not apply to it.
    ``every_export``: the call covers every segment and format, so the gate may forget what it
    kept of exports not among them (segments that no longer exist).
    """
    problems = [f"{item.summary['segment']}/{item.summary['destination']}: {problem}"
                for item in prepared for problem in builtin_problems(item.snapshot)]
    if problems:
        return "; ".join(problems)
    frames: dict[str, Any] = {}
    context: dict[str, Any] = {"segment_name": {}, "consent_purpose": {}, "hashed_columns": {},
                               "customer_ids": {}, "destination": {}, "destination_consent": {}, "exports": [],
                               "every_export": every_export}
    for item in prepared:
        prefix = f"{item.summary['segment']}/{item.summary['destination']}"
        name = f"{prefix}/{item.snapshot.snapshot_file}"
        frames[name] = item.snapshot.table  # Arrow: the gate works on it without a pandas copy
        context["segment_name"][name] = item.summary["segment"]
        context["consent_purpose"][name] = item.summary["consent_purpose"]
        context["hashed_columns"][name] = list(item.snapshot.hashed_columns)
        context["customer_ids"][name] = item.snapshot.customer_ids
        context["destination"][name] = item.summary["destination"]
        # Ad platforms need ad-targeting consent on top of the segment's purpose: the gate checks both.
        context["destination_consent"][name] = DESTINATION_CONSENT.get(item.summary["destination"])
        context["exports"].append({**item.summary, "staging_dir": str(item.staging), "target_dir": str(item.target)})
    return evaluate(gate, settings, run_id, frames, context)


def _removed_rows(snapshot: Snapshot, removed: pa.Table) -> pa.Table:
    """Rows for removed.csv, from the previous export's members that left (sorted by member key).

    Marketing files: customer_id only (no PII of people who left, some of them erased). Ad
    platforms: the previously sent hashed rows, since the platform matches on identifiers, not
    on our ids.
    """
    if snapshot.destination in AD_PLATFORMS:
        rows = [json.loads(text) if text else {} for text in removed.column("hashed_row").to_pylist()]
        return pa.Table.from_pylist([{c: row.get(c) for c in snapshot.columns} for row in rows],
                                    schema=pa.schema([(c, pa.string()) for c in snapshot.columns]))
    return pa.table({"customer_id": removed.column("customer_id")})


def _write_files(snapshot: Snapshot, folder: Path, added: pa.Table, removed: pa.Table,
                 changed: pa.Table | None = None) -> dict[str, dict]:
    """Write the snapshot and the delta files; ``changed`` (marketing formats only): rows of members
    already in the previous export whose row differs from it."""
    write_snapshot(snapshot, folder)
    files = {snapshot.snapshot_file: {"role": "snapshot", "rows": snapshot.table.num_rows}}
    files["added.csv"] = {"role": "added", "rows": write_csv_table(folder / "added.csv", added, snapshot.columns)}
    files["removed.csv"] = {"role": "removed", "rows": write_csv_table(folder / "removed.csv", removed)}
    if changed is not None:
        files["changed.csv"] = {"role": "changed",
                                "rows": write_csv_table(folder / "changed.csv", changed, snapshot.columns)}
    if snapshot.skipped:
        skipped = pa.table({"customer_id": pa.array([cid for cid, _ in snapshot.skipped], pa.string()),
                            "reason": pa.array([reason for _, reason in snapshot.skipped], pa.string())})
        files["skipped.csv"] = {"role": "skipped members (not uploaded)",
                                "rows": write_csv_table(folder / "skipped.csv", skipped)}
    return files


def _manifest(settings: Settings, summary: dict, snapshot: Snapshot) -> dict:
    return {
        **{k: summary[k] for k in ("run_id", "segment", "destination", "consent_purpose")},
        "run_date": settings.run_date.isoformat(),
        **{k: summary[k] for k in ("row_count", "added", "removed", "changed", "previous_run_id") if k in summary},
        "diff_key": "customer_id" if snapshot.destination not in AD_PLATFORMS else "sha256 of the hashed row",
        "schema": [{"name": f.name, "type": str(f.type)} for f in snapshot.table.schema],
        "hashing": {"algorithm": "sha256", "encoding": "lower-case hex", "columns": list(snapshot.hashed_columns)},
        "exclusions": {k: summary[k] for k in ("memberships", "excluded_no_consent", "excluded_suppressed",
                                               "skipped_no_identifier", "duplicates_collapsed")},
        # The segment was removed: this empty export's removed.csv takes every member out downstream.
        **({"retired": True} if summary.get("retired") else {}),
    }


def _prune(settings: Settings, con, prepared: list[_Prepared]) -> None:
    """Keep the newest ``settings.export_keep_runs`` published runs of each export; 0 keeps all."""
    if settings.export_keep_runs <= 0:
        return
    dropped_of = state.runs_to_drop_all(con, [(item.summary["segment"], item.summary["destination"])
                                              for item in prepared], settings.export_keep_runs)
    for item in prepared:
        segment, destination = item.summary["segment"], item.summary["destination"]
        dropped = dropped_of[(segment, destination)]
        pruned = publish.prune_runs(Path(settings.export_dir), segment, destination, dropped)
        state.forget_members(con, segment, destination, dropped)
        if pruned:
            log.info("pruned %d old run folder(s) of %s/%s: %s", len(pruned), segment, destination, ", ".join(pruned))


def _block(settings: Settings, con, summary: dict, message: str) -> dict:
    log.error("export %s/%s blocked by the quality gate: %s", summary["segment"], summary["destination"], message)
    state.record_gate_failure(
        con, segment=summary["segment"], destination=summary["destination"], run_id=summary["run_id"],
        run_date=settings.run_date, row_count=summary["row_count"], added=summary["added"],
        removed=summary["removed"], previous_run_id=summary["previous_run_id"], message=message)
    return {**summary, "status": state.GATE_FAILED, "path": None, "message": message}


def _reconcile_killed_publication(settings: Settings) -> None:
    """Undo the folder moves of an export killed between moving its folders into place and recording
    them (``state.PUBLISHING`` rows left over): such a folder is removed, and a folder it replaced
    (a rerun) is put back, so no published-looking folder exists that the export log does not know
    (retention would never prune it). Call it under the export lock, before the staging folder is cleared.
    """
    if not settings.warehouse_path.exists():
        return
    with connect(settings) as con:
        if not table_exists(con, "exports", "export_log"):
            return
        unfinished = state.unfinished_publications(con)
        if not unfinished:
            return
        export_dir = Path(settings.export_dir)
        for run_id, segment, destination, _, aside, was_published in unfinished:
            target = publish.export_path(export_dir, segment, destination, run_id)
            # Only ever a folder of the staging area (the logged path's name), never anything else.
            replaced = export_dir / publish.STAGING_FOLDER / Path(aside).name if aside else None
            if replaced is not None and not replaced.is_dir():
                replaced = None
            if replaced is not None or not was_published:
                log.warning("export %s/%s run %s was killed before it was recorded: removing %s%s", segment,
                            destination, run_id, target, f" and putting back {replaced}" if replaced else "")
                publish.roll_back(target, replaced)
        state.forget_publishing(con)


def _publish_all(settings: Settings, con, run_id: str, prepared: list[_Prepared]) -> list[dict]:
    """Move every gated export into place, record them all in one transaction, then repoint ``latest``.

    When recording fails, every folder of the call is put back as it was (nothing is published).
    The folders are logged as being published first (``state.record_publishing``), so that an export
    killed in between is undone by the next one (``_reconcile_killed_publication``).
    """
    export_dir = Path(settings.export_dir)
    asides = [publish.aside_path(export_dir) for _ in prepared]
    state.record_publishing(con, run_id, settings.run_date, [
        (item.summary["segment"], item.summary["destination"], str(item.target), str(aside))
        for item, aside in zip(prepared, asides, strict=True)])
    moved: list[tuple[Path, Path | None]] = []
    try:
        for item, aside in zip(prepared, asides, strict=True):
            moved.append((item.target, publish.move_into_place(item.staging, item.target, aside)))
        state.record_published_all(con, run_id, settings.run_date, [_publication(item) for item in prepared])
    except BaseException:
        # Every folder is put back even if one of them cannot be; the first error is the one raised.
        put_back = True
        for target, replaced in reversed(moved):
            try:
                publish.roll_back(target, replaced)
            except OSError:
                put_back = False
                log.exception("could not put back %s (the folder it replaced: %s)", target, replaced)
        # Every folder put back: nothing is left to reconcile (else the next export tries again).
        if put_back:
            with contextlib.suppress(Exception):
                state.forget_publishing(con, run_id)
        raise
    results = []
    for (_, replaced), item in zip(moved, prepared, strict=True):
        summary = item.summary
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        publish.update_latest(Path(settings.export_dir), summary["segment"], summary["destination"], summary["run_id"])
        log.info("published %s/%s run %s: %d rows (+%d, -%d, ~%d)", summary["segment"], summary["destination"],
                 summary["run_id"], summary["row_count"], summary["added"], summary["removed"],
                 summary.get("changed", 0))
        results.append({**summary, "status": state.PUBLISHED, "path": str(item.target), "message": None})
    return results


def _publication(item: _Prepared) -> state.Publication:
    """What ``state.record_published_all`` records of one export."""
    summary, snapshot = item.summary, item.snapshot
    if snapshot.destination in AD_PLATFORMS:
        # The hashed row as a struct: record_published_all stores it as a JSON object.
        hashed_rows = pa.StructArray.from_arrays(
            [snapshot.table.column(c).combine_chunks() for c in snapshot.columns], names=list(snapshot.columns))
    else:
        hashed_rows = pa.nulls(snapshot.table.num_rows, pa.string())
    members = pa.table({
        "customer_id": pa.array(snapshot.customer_ids, pa.string()),
        "member_key": item.member_keys,
        "hashed_row": hashed_rows,
    })
    return state.Publication(
        segment=summary["segment"], destination=summary["destination"], members=members, previous=item.previous,
        row_count=summary["row_count"], added=summary["added"], removed=summary["removed"],
        previous_run_id=summary["previous_run_id"], path=str(item.target))
