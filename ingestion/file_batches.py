"""The per-file batch loop shared by the file sources (web, call center, CSV lists, suppression).

Each file is one batch: checksum, compare with the manifest, then load rows, quarantine rows and
the manifest row in ONE transaction. A data problem that makes the whole file unusable raises
``RejectedFile``: the file is recorded as ``failed`` (manifest and quarantine) and the other
files still load. Any other exception rolls the batch back and propagates, so the task fails
loudly and the next run loads the file from scratch.

``ingest_file_groups`` is the same contract for sources of many small files (web): a group of
files shares one transaction, so the fixed cost of a transaction and of the loader's SQL is paid
once per group, while every file still gets its own batch id, manifest row and quarantine rows.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from cdp.clock import audit_now
from cdp.settings import Settings
from ingestion import csv_records, manifest
from ingestion.quarantine import QuarantineRecord, write_quarantine
from ingestion.report import BatchOutcome, IngestReport
from ingestion.views import registered

__all__ = ["registered"]  # re-exported: loaders import it from here

log = logging.getLogger(__name__)


class RejectedFile(Exception):
    """The whole file cannot be loaded; the message tells a person what to fix."""

    def __init__(self, message: str, field: str | None = None, raw_text: str | None = None):
        super().__init__(message)
        self.field = field
        self.raw_text = raw_text


@dataclass
class FileBatch:
    """Everything a loader needs for one file, plus the quarantine records it collects."""

    path: Path
    batch_id: str
    run_id: str
    source: str
    settings: Settings
    loaded_at: datetime
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    # The path the manifest knows the file by, when it is read from elsewhere (its landing folder
    # moved since it was loaded): its rows keep the lineage of its earlier ones.
    recorded_as: str | None = None

    @property
    def source_file(self) -> str:
        return self.recorded_as or str(self.path)

    def reject(self, line_number: int | None, field_name: str | None, reason: str, raw_text) -> None:
        """Quarantine one record of this file."""
        self.quarantine.append(QuarantineRecord(self.source_file, line_number, field_name, reason, raw_text))


class _TrackedLines:
    """The lines of a text, as ``csv.reader`` reads them, counting the characters handed out."""

    def __init__(self, content: str) -> None:
        self._lines = io.StringIO(content, newline="")
        self.offset = 0

    def __iter__(self) -> _TrackedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.offset += len(line)
        return line


class CheckedCsvReader:
    """A ``csv.reader`` over ``content`` that neither fails the source nor swallows rows.

    The csv module refuses a field over ``csv.field_size_limit()`` characters: that rejects the
    file, naming the line, instead of failing the whole source on every run. A quote that opens a
    field and is never closed makes the csv module read the rest of the file as that one value
    (or refuse it as too long): the reader stops before that record and keeps it in ``unclosed``,
    for the loader to quarantine with ``reject_unclosed_quote``. Use it alone, or set it as a
    ``csv.DictReader``'s ``reader``.

    It also knows the line its last record started on (``first_line``; the csv module only tells
    the line a record ends on) and gives that record's text as written (``text()``), for a loader
    to quarantine the record exactly as the file has it. ``first_line`` is the file's line
    ``content`` starts on (2 after an Excel ``sep=;`` line, see ``parsing.csv_text``).
    """

    def __init__(self, batch: FileBatch, content: str, delimiter: str, first_line: int = 1) -> None:
        self._batch, self._content, self._delimiter = batch, content, delimiter
        self._lines_before = first_line - 1
        self._lines = _TrackedLines(content)
        self._reader = csv.reader(self._lines, delimiter=delimiter)
        self.unclosed: csv_records.UnclosedQuote | None = None
        self.first_line = 0
        self._span = (0, 0)  # where the last record's text is in ``content``

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    @property
    def dialect(self):
        return self._reader.dialect

    def __iter__(self) -> CheckedCsvReader:
        return self

    def __next__(self) -> list[str]:
        if self.unclosed is not None:
            raise StopIteration
        start, first_line = self._lines.offset, self._lines_before + self._reader.line_num + 1
        try:
            record = next(self._reader)
        except csv.Error as exc:
            if self._found_unclosed_quote(start, first_line):
                raise StopIteration from None
            hint = " (usually a quote left open earlier in the file)" if "field limit" in str(exc) else ""
            raise RejectedFile(
                f"{self._batch.path.name}: line {self._lines_before + self._reader.line_num}: not readable "
                f"as CSV: {exc}{hint}; "
                "fix the file",
                field="csv",
            ) from None
        # Only the last record can run into the end of the file inside a quote.
        if self._lines.offset == len(self._content) and self._found_unclosed_quote(start, first_line):
            raise StopIteration
        self.first_line, self._span = first_line, (start, self._lines.offset)
        return record

    def text(self) -> str:
        """The last record's text as written (delimiter, quotes and inner line breaks kept), without
        the line break that ends it."""
        text = self._content[self._span[0] : self._span[1]]
        return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith(("\n", "\r")) else text

    def _found_unclosed_quote(self, start: int, first_line: int) -> bool:
        self.unclosed = csv_records.unclosed_quote_at_end(self._content[start:], self._delimiter, first_line)
        return self.unclosed is not None


def reject_unclosed_quote(batch: FileBatch, unclosed: csv_records.UnclosedQuote | None, header: list[str]) -> int:
    """Quarantine the record with a quote never closed and every line after it; returns how many."""
    if unclosed is None:
        return 0
    rows = csv_records.unclosed_quote_lines(unclosed, header)
    for line, field_name, reason, raw in rows:
        batch.reject(line, field_name, reason, raw)
    return len(rows)


@dataclass
class LoadCounts:
    """What a loader did with one file (quarantined rows are counted from FileBatch.quarantine)."""

    rows_read: int
    rows_loaded: int
    rows_skipped: int = 0


Loader = Callable[[duckdb.DuckDBPyConnection, FileBatch], LoadCounts]
GroupLoader = Callable[[duckdb.DuckDBPyConnection, list[FileBatch]], list[LoadCounts]]
Forgetter = Callable[[duckdb.DuckDBPyConnection, str], None]
# Runs after a changed file was reloaded, in the same transaction; returns a note for the manifest.
Restorer = Callable[[duckdb.DuckDBPyConnection, FileBatch], str | None]


def new_file_entry(run_id: str, source: str, path: Path, known: manifest.PriorLoads) -> manifest.ManifestEntry:
    """A manifest entry for loading one file: new batch id, size, checksum and stat signature."""
    size, sha256, signature = known.fingerprint(path)
    return manifest.ManifestEntry(
        batch_id=manifest.new_batch_id(source),
        run_id=run_id,
        source=source,
        source_object=str(path),
        status="loaded",
        started_at=audit_now(),
        file_size=size,
        file_sha256=sha256,
        file_signature=signature,
    )


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    source: str,
    paths: Iterable[Path],
    load: Loader,
    forget: Forgetter,
    restore: Restorer | None = None,
) -> IngestReport:
    """Load each file as its own atomic batch; ``forget`` removes an earlier version's rows.

    ``restore`` (optional) runs after a changed file was reloaded, e.g. to bring back rows that
    other files also contain (see ``ingest_file_groups``).
    """
    manifest.ensure_meta_tables(con)
    report = IngestReport(source=source)
    known = manifest.PriorLoads(con, source, settings.verify_file_checksums)
    paths = [Path(path).resolve() for path in paths]
    known.expect(paths)
    for path in paths:
        outcome = _ingest_one(con, settings, run_id, source, path, load, forget, known, restore)
        log.info("%s %s: %s, %d rows loaded", source, path, outcome.status, outcome.rows_loaded)
        report.add(outcome)
    return report


def ingest_file_groups(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    source: str,
    paths: Iterable[Path],
    load_group: GroupLoader,
    forget: Forgetter,
    max_group_bytes: int,
    max_group_files: int = 1000,
    restore: Restorer | None = None,
    read_ahead: Callable[[list[FileBatch]], None] | None = None,
) -> IngestReport:
    """Load many small files per transaction; each file keeps its own batch id and manifest row.

    Files are grouped in name order until ``max_group_bytes`` (size on disk) or ``max_group_files``;
    a group's rows, quarantine and manifest rows commit together or not at all. A changed file
    (replace) forms a group of its own, so its old rows are deleted right before its new ones load.
    The manifest is read once per call instead of once per file. If the loader raises
    ``RejectedFile`` the group is rolled back and its files are redone one at a time, so only the
    rejected file is marked ``failed``.

    On replace, the old version's rows (``forget``) and its quarantine rows are deleted, the new
    version is loaded, then ``restore`` runs: rows the old version held that other loaded files
    also contain (skipped there as duplicates) must not vanish with it.

    ``read_ahead`` (optional) is told the next group's batches before each group loads, so the
    loader may start reading them while the current group finishes. The next group is planned
    before the current one loads; it is planned again (new batches) when the current one is
    rejected and redone, since the redo changes what is loaded: batches announced once may never
    be loaded.
    """
    manifest.ensure_meta_tables(con)
    report = IngestReport(source=source)
    known = manifest.PriorLoads(con, source, settings.verify_file_checksums)
    paths = [Path(path).resolve() for path in paths]
    known.expect(paths)
    planner = _GroupPlanner(paths, run_id, source, settings, known, max_group_bytes, max_group_files)
    current = planner.next_group()
    while current is not None:
        upcoming = planner.next_group()
        if read_ahead is not None and upcoming is not None and upcoming.group:
            read_ahead([batch for _, batch, _ in upcoming.group])
        outcomes, redone = _ingest_group(
            con, settings, run_id, source, current.group, current.skips, load_group, forget, known, restore
        )
        for outcome in outcomes:
            log.info("%s %s: %s, %d rows loaded", source, outcome.source_object, outcome.status, outcome.rows_loaded)
            report.add(outcome)
        if redone and upcoming is not None:
            # The redo read the manifest again (the next group's files count as loaded no more):
            # decide them again.
            planner.rewind(upcoming)
            upcoming = planner.next_group()
        current = upcoming
    return report


@dataclass
class _PlannedGroup:
    """Files to load in one transaction, the skips recorded with them, and where they start in the run's files."""

    group: list[tuple[manifest.ManifestEntry, FileBatch, manifest.PriorLoad | None]]
    skips: list[manifest.ManifestEntry]
    start: int


class _GroupPlanner:
    """Cuts the run's files into groups, one group at a time, deciding skip, load or replace per file."""

    def __init__(self, paths, run_id, source, settings, known, max_group_bytes, max_group_files) -> None:
        self._paths, self._run_id, self._source, self._settings = paths, run_id, source, settings
        self._known, self._max_bytes, self._max_files = known, max_group_bytes, max_group_files
        self._position = 0

    def rewind(self, planned: _PlannedGroup) -> None:
        """Plan again from the first file of ``planned`` (whose batches are dropped)."""
        self._position = planned.start

    def next_group(self) -> _PlannedGroup | None:
        """The next group (``known`` notes its files as loading), or None when every file is planned."""
        known, start = self._known, self._position
        group: list[tuple[manifest.ManifestEntry, FileBatch, manifest.PriorLoad | None]] = []
        skips: list[manifest.ManifestEntry] = []
        group_bytes = 0
        while self._position < len(self._paths):
            path = self._paths[self._position]
            entry = new_file_entry(self._run_id, self._source, path, known)
            sha256 = entry.file_sha256
            prior = known.decide(str(path), sha256)
            if prior.action == "skip":
                entry.status, entry.message = "skipped_already_loaded", prior.message
                skips.append(entry)
                self._position += 1
                continue
            if (group or skips) and (
                prior.action == "replace"
                or group_bytes + entry.file_size > self._max_bytes
                or len(group) >= self._max_files
            ):
                break  # this file starts the next group (the skips before a replace commit on their own)
            known.add(str(path), sha256, entry.batch_id)
            batch = FileBatch(path, entry.batch_id, self._run_id, self._source, self._settings, entry.started_at)
            group.append((entry, batch, prior if prior.action == "replace" else None))
            group_bytes += entry.file_size
            self._position += 1
            if prior.action == "replace":
                break  # a replaced file loads alone
        if not group and not skips:
            return None
        return _PlannedGroup(group, skips, start)


def _ingest_group(
    con, settings, run_id, source, group, skips, load_group: GroupLoader, forget, known, restore
) -> tuple[list[BatchOutcome], bool]:
    """One transaction: skip records, then the group's rows, quarantine and manifest rows.

    After a rollback ``known`` is read again from the manifest, so the group's files count as
    loaded only once the file-by-file redo has loaded them. Returns the outcomes in file order and
    whether the group was redone file by file.
    """
    redone = False
    outcomes: dict[str, BatchOutcome] = {}
    try:
        with manifest.transaction(con):
            for entry in skips:
                manifest.record(con, entry)
                outcomes[entry.source_object] = BatchOutcome(entry.source_object, entry.status)
            for entry, _, replaced in group:
                if replaced is not None:
                    _forget(con, forget, source, replaced.source_object)
                    entry.status, entry.message = "replaced_changed_file", replaced.message
            counts = load_group(con, [batch for _, batch, _ in group]) if group else []
            for (entry, batch, replaced), count in zip(group, counts, strict=True):
                if replaced is not None:
                    entry.message = _restore(con, restore, batch, entry.message)
                outcomes[entry.source_object] = _record_loaded(con, entry, batch, count)
    except RejectedFile:
        # Redo file by file: the sequential path records exactly the rejected file as failed.
        redone = True
        def load_one(con, batch):
            return load_group(con, [batch])[0]

        outcomes = {}
        # The group was rolled back, so the manifest again says what it said before the group.
        known.reload(con)
        # A skip may have relied on a group file (a copy of it) that is now rejected: decide again,
        # in the order the files were seen.
        skipped = {entry.source_object: entry for entry in skips}
        for source_object in sorted([*skipped, *(entry.source_object for entry, _, _ in group)]):
            entry = skipped.get(source_object)
            prior = known.decide(source_object, entry.file_sha256) if entry is not None else None
            if prior is not None and prior.action == "skip":
                entry.message = prior.message
                with manifest.transaction(con):
                    manifest.record(con, entry)
                outcomes[source_object] = BatchOutcome(source_object, entry.status)
            else:
                outcomes[source_object] = _ingest_one(
                    con, settings, run_id, source, Path(source_object), load_one, forget, known, restore
                )
    # Outcomes in the order the files were seen (skips and loads interleave by name).
    order = sorted(outcomes.values(), key=lambda o: o.source_object)
    return order, redone


def _ingest_one(
    con,
    settings,
    run_id,
    source,
    path: Path,
    load: Loader,
    forget: Forgetter,
    known: manifest.PriorLoads,
    restore: Restorer | None = None,
) -> BatchOutcome:
    entry = new_file_entry(run_id, source, path, known)
    sha256 = entry.file_sha256
    prior = known.decide(str(path), sha256)
    if prior.action == "skip":
        entry.status, entry.message = "skipped_already_loaded", prior.message
        with manifest.transaction(con):
            manifest.record(con, entry)
        return BatchOutcome(str(path), entry.status, message=None)

    batch = FileBatch(path, entry.batch_id, run_id, source, settings, entry.started_at)
    try:
        with manifest.transaction(con):
            if prior.action == "replace":
                _forget(con, forget, source, prior.source_object)
                entry.status, entry.message = "replaced_changed_file", prior.message
            counts = load(con, batch)
            if prior.action == "replace":
                entry.message = _restore(con, restore, batch, entry.message)
            _record_loaded(con, entry, batch, counts)
    except RejectedFile as exc:
        log.warning("%s: file rejected: %s", path, exc)
        entry.status, entry.message = "failed", str(exc)
        entry.rows_read = entry.rows_loaded = entry.rows_skipped = 0
        batch.quarantine = [QuarantineRecord(str(path), None, exc.field, str(exc), exc.raw_text)]
        with manifest.transaction(con):
            # An earlier failed attempt's rejection is replaced by this one, not repeated. Quarantine
            # rows of a version that loaded stay: its rows are still in the warehouse.
            con.execute(
                """DELETE FROM meta.quarantine WHERE source = ? AND source_file = ? AND batch_id IN (
                       SELECT batch_id FROM meta.ingest_manifest
                       WHERE source = ? AND source_object = ? AND status = 'failed')""",
                [source, str(path), source, str(path)],
            )
            entry.rows_quarantined = _quarantine(con, batch, entry)
            manifest.record(con, entry)
    else:
        # Only a committed load makes a later copy of this content a skip.
        known.add(str(path), sha256, entry.batch_id)
    return _outcome(entry)


def _record_loaded(con, entry: manifest.ManifestEntry, batch: FileBatch, counts) -> BatchOutcome:
    """Inside the batch's transaction: quarantine its bad lines, record its counts and manifest row."""
    entry.rows_quarantined = _quarantine(con, batch, entry)
    entry.rows_read, entry.rows_loaded, entry.rows_skipped = counts.rows_read, counts.rows_loaded, counts.rows_skipped
    manifest.record(con, entry)
    return _outcome(entry)


def _outcome(entry: manifest.ManifestEntry) -> BatchOutcome:
    """What the report says of one file, from its manifest entry (the message only for failures)."""
    return BatchOutcome(entry.source_object, entry.status, entry.rows_read, entry.rows_loaded,
                        entry.rows_quarantined, entry.rows_skipped,
                        entry.message if entry.status == "failed" else None)


def _forget(con, forget: Forgetter, source: str, source_file: str) -> None:
    """Remove what an earlier version of a file left: its rows and its (now stale) quarantine rows."""
    forget(con, source_file)
    con.execute("DELETE FROM meta.quarantine WHERE source = ? AND source_file = ?", [source, source_file])


def _restore(con, restore: Restorer | None, batch: FileBatch, message: str | None) -> str | None:
    note = restore(con, batch) if restore is not None else None
    return f"{message}; {note}" if note and message else (note or message)


def _quarantine(con, batch: FileBatch, entry: manifest.ManifestEntry) -> int:
    return write_quarantine(
        con,
        batch.quarantine,
        batch_id=entry.batch_id,
        run_id=entry.run_id,
        source=entry.source,
        quarantined_at=batch.loaded_at,
    )


def delete_rows_of_file(table: str) -> Forgetter:
    """A forgetter that deletes every row an earlier version of the file put in ``table``."""

    def forget(con: duckdb.DuckDBPyConnection, source_file: str) -> None:
        con.execute(f"DELETE FROM {table} WHERE _source_file = ?", [source_file])

    return forget


def landing_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files in a landing folder matching any pattern, whatever the case (``events.NDJSON``), in
    name order (so dates load in order)."""
    return _landing(folder, patterns)[0]


def report_unread_files(
    report: IngestReport, folder: Path, patterns: tuple[str, ...], also_read: tuple[Path, ...] = ()
) -> None:
    """Name in ``report``'s messages, and log as a warning, every file of a landing folder that
    matches none of ``patterns`` (``also_read`` aside: read by another loader), so a file landed
    under a name the source does not read is not left out silently; so is a hidden file that
    matches one, and a file whose name is not UTF-8 text (which the warehouse cannot record).
    ``.DS_Store`` and macOS's ``._calls.csv`` are not data."""
    read_elsewhere = {path.resolve() for path in also_read}
    names = [*patterns, *(path.name for path in also_read if path.parent.resolve() == folder.resolve())]
    for path in _landing(folder, patterns)[1]:
        if path.resolve() in read_elsewhere:
            continue
        if not _utf8_name(path):
            message = "not read: its name is not UTF-8 text; rename it to load it"
        elif path.name.startswith("."):
            message = "not read: it is a hidden file; rename it without the leading dot to load it"
        else:
            message = f"not read: its name matches none of {', '.join(names)}; rename it to load it"
        # The name as text the warehouse can store (a Latin-1 byte is written \xff).
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        log.warning("%s: %s", shown, message)
        report.messages.append(f"{shown}: {message}")


def _utf8_name(path: Path) -> bool:
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, as surrogate escapes
        return False
    return True


def _landing(folder: Path, patterns: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """(files matching a pattern, other files) of a landing folder, by name. Not data, and in
    neither list: ``.DS_Store`` and macOS's ``._`` files. A hidden file or one whose name is not
    UTF-8 is among the others, whatever its name."""
    if not folder.exists():
        return [], []
    found: tuple[list[Path], list[Path]] = ([], [])
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.is_file() or path.name == ".DS_Store" or path.name.startswith("._"):
            continue
        name = path.name.lower()
        readable = _utf8_name(path) and not path.name.startswith(".")
        matches = readable and any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in patterns)
        found[not matches].append(path)
    return found
