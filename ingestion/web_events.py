"""Web events: Segment-spec NDJSON (plain or .gz) into raw.web_events.

Speed comes from doing the bulk in DuckDB: files are read into large blocks of lines (a block may
hold many small files; each line keeps its file index and line number) that reach DuckDB as
zero-copy Arrow string views, cut before each line end. One SQL pass validates each line with a cast to JSON (that value is
what gets stored), parses its top-level fields once, screens, types and validates it. Small files
share one transaction (``ingest_file_groups``) but each keeps its own batch id and manifest row.
DuckDB's JSON reader is lenient (it accepts NaN, trailing commas, duplicate keys), so a cheap
textual screen sends every line that *might* break strict JSON rules to a strict per-line Python
check; clean lines never touch Python. Each refused line goes to meta.quarantine with a reason
named like the categories of the Segment test corpus (``invalid-json``, ``missing-identity``...).

Rules: blank lines are skipped; a BOM is stripped on line 1 only; a .gz file that does not
decompress is rejected whole (manifest ``failed``, read again next run) while the others load;
``batch`` envelopes are unwrapped with the envelope ``context`` merged under each message's own;
messages dedupe on ``messageId``
across files and runs (a repeat that differs only in its transport fields, as a client retry does,
is skipped, and so is a ``timestamp`` that is no device time; a repeat with other content is
quarantined as ``duplicate-messageid-conflict``);
``event_at`` is skew-corrected (``receivedAt - (sentAt - device time)``, the device time being
``originalTimestamp`` or else a ``timestamp`` before ``sentAt``: ``_skew_corrected_sql``) and every
timestamp is converted to naive UTC.
Numbers are kept as their exact JSON text in the JSON columns, so ``1e400`` is stored, not
rejected. Duplicate keys are detected at the top level of a message (nested ones: last wins).
A changed file (same path, new checksum) replaces the rows its earlier version loaded (and its
quarantine rows); messages of the old version that other loaded files also contain (skipped there
as duplicates) are then reloaded from those files, so no message another file holds is lost.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import math
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from cdp.settings import Settings
from ingestion import manifest, parsing
from ingestion.file_batches import (
    FileBatch,
    LoadCounts,
    RejectedFile,
    ingest_file_groups,
    landing_files,
    registered,
    report_unread_files,
)
from ingestion.report import IngestReport

log = logging.getLogger(__name__)

SOURCE = "web"
TABLE = "raw.web_events"
# Event collectors write .ndjson/.jsonl; RudderStack's bucket destination `<time>.<hash>.json.gz`,
# Segment's `<time>.<uuid>.gz`: every .gz file of the folder is gzipped newline-delimited JSON.
FILE_PATTERNS = ("*.ndjson", "*.jsonl", "*.json", "*.gz")
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
TIMESTAMP_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
# Segment refuses messages over 32 KB; strict JSON limits we enforce like the reference corpus.
MAX_MESSAGE_BYTES = 32 * 1024
# Segment's limit for one batch request: each message in it still has the 32 KB limit.
MAX_BATCH_BYTES = 500 * 1024
MAX_DEPTH = 64
MIN_YEAR, MAX_YEAR = 1970, 2100
# Blocks large enough that per-block SQL overhead is small, small enough that a block, its parsed
# and typed copies and the next block in flight stay well inside 4 GiB. 384 MB blocks (so each
# INSERT spans several row groups and both cores compress them) cut CPU 10% at 100k but at 1M
# raised the web load's peak from 3.0 to 6.2 GiB with no wall gain (bench on 62f8c12): kept at 128.
BLOCK_BYTES = 128 << 20
# Files are read (and gzip undone) in chunks of this size; a block gathers several.
READ_BYTES = 128 << 20
# Files (size on disk, so ~8x that once unzipped) committed in one transaction; each still gets
# its own manifest row. Bounded because uncommitted rows are held by the transaction. Each COMMIT
# costs about a second at 1M (50 files: 10 commits of 32 MB took 10.3 s CPU, 3 of 96 MB 1.4 s).
GROUP_BYTES = 96 << 20
# DuckDB memory for the web load (lowered from the pipeline's limit, never raised): two blocks
# in flight on the Python side plus this stay under 4 GiB however many events are loaded.
MEMORY_LIMIT_BYTES = 2 << 30
# Compressed files up to this size are decompressed in one call (their text is ~8x larger).
WHOLE_GZIP_BYTES = 8 << 20
# Lines per Arrow record batch handed to DuckDB (its unit of parallelism when scanning Arrow).
CHUNK_LINES = 16384
# Lines are checked for valid UTF-8 in slices of this many; only a failing slice is checked line by line.
UTF8_SLICE_LINES = 2048

WEB_EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    message_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    event_name VARCHAR,
    page_name VARCHAR,
    user_id VARCHAR,
    anonymous_id VARCHAR,
    group_id VARCHAR,
    previous_id VARCHAR,
    event_at TIMESTAMP,
    original_timestamp_at TIMESTAMP,
    sent_at TIMESTAMP,
    received_at TIMESTAMP,
    traits JSON USING COMPRESSION zstd,
    properties JSON USING COMPRESSION zstd,
    context JSON USING COMPRESSION zstd,
    page_url VARCHAR,
    page_path VARCHAR,
    page_title VARCHAR,
    page_referrer VARCHAR,
    campaign_source VARCHAR,
    campaign_medium VARCHAR,
    campaign_name VARCHAR,
    campaign_term VARCHAR,
    campaign_content VARCHAR,
    payload JSON NOT NULL USING COMPRESSION zstd,
    _source_file VARCHAR NOT NULL,
    _source_line BIGINT,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
)
"""

# Every top-level field we type, read as raw JSON text in ONE parse of the message.
_FIELDS = (
    "type", "messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name",
    "properties", "traits", "context", "integrations", "batch", *TIMESTAMP_FIELDS,
)  # fmt: skip
_SPEC = json.dumps(dict.fromkeys(_FIELDS, "JSON"))

_TRAILING_COMMA = r",\s*[}\]]"
# RFC 3339 allows a lower-case t and z (DuckDB's cast does not: such text is cast upper-cased).
_ISO_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
# The usual form of _ISO_PATTERN (milliseconds, UTC) as a GLOB, ~3x cheaper than the regular
# expression, which then only runs for other forms.
_ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.web_events when missing."""
    # The JSON columns are long, repetitive texts: zstd writes them ~2x faster than the default
    # analysis (which picks FSST) and ~4x smaller. Existing tables keep their compression.
    con.execute(WEB_EVENTS_DDL)


def ingest_web(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> IngestReport:
    """Load every new or changed NDJSON file of the web landing folder."""
    ensure_table(con)
    files = landing_files(settings.web_landing_dir, FILE_PATTERNS)
    known = KnownIds()
    vacuum = _AppendOnlyVacuum(con)

    def forget(con: duckdb.DuckDBPyConnection, source_file: str) -> None:
        known.reset()  # a replaced file's rows are deleted and others may be restored: re-read later
        vacuum.deleting()
        forget_file(con, source_file)

    def load_group(con: duckdb.DuckDBPyConnection, batches: list[FileBatch]) -> list[LoadCounts]:
        vacuum.before_group()
        return load_files(con, batches, known, reader)

    def restore(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> str | None:
        # The restored messages are stored without passing through ``known``: re-read it, or a
        # later group of this run holding one of their ids would insert it a second time.
        try:
            return restore_from_other_files(con, batch)
        finally:
            known.reset()

    with _memory_capped(con, MEMORY_LIMIT_BYTES, settings.duckdb_memory_limit), vacuum, BlockReader() as reader:
        report = ingest_file_groups(
            con,
            settings,
            run_id,
            SOURCE,
            files,
            load_group,
            forget,
            GROUP_BYTES,
            restore=restore,
            read_ahead=reader.expect,
        )
        vacuum.checkpoint()
    report_unread_files(report, settings.web_landing_dir, FILE_PATTERNS)
    return report


class _AppendOnlyVacuum:
    """Skip DuckDB's checkpoint vacuum while groups only append; keep it for a group that deletes.

    Each block's insert ends in a partly filled row group (a block is ~150k lines, a row group
    122,880 rows). After each COMMIT the automatic checkpoint's vacuum rewrites those row groups
    into full ones: about a fifth of the whole web load's time at 100k people (8 s of 33 s), and
    the rewritten blocks left the file 1.7x larger (309 vs 180 MiB) until space was reused. The
    cost only moves, it is not saved by deferring: the next checkpoint that touches the table
    does the same merge. Only this loader writes raw.web_events, so the merge is skipped for good
    and row groups stay 40k-123k rows (scans do not notice). A group that replaces a changed file
    deletes rows and commits with vacuum on; DuckDB only checkpoints at a COMMIT once the WAL
    exceeds ``checkpoint_threshold``, so a small replace may be checkpointed later by an appending
    group with vacuum off, and its deleted rows then stay marked (space only, never data) until a
    later vacuuming checkpoint.
    ``max_vacuum_tasks`` is a database-wide setting: it is restored when the load ends.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._default = con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0]
        self._deleting = False

    def __enter__(self) -> _AppendOnlyVacuum:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._con.execute(f"SET max_vacuum_tasks = {int(self._default)}")

    def deleting(self) -> None:
        """The current group deletes rows (a replaced file): let its checkpoint vacuum."""
        self._deleting = True
        self._con.execute(f"SET max_vacuum_tasks = {int(self._default)}")

    def checkpoint(self) -> None:
        """Checkpoint what the load wrote while vacuum is still as the last group left it.

        Commits whose WAL stays under ``checkpoint_threshold`` (optimistically written rows log
        little) are not checkpointed; left for the next checkpoint, usually when the connection
        closes after ``max_vacuum_tasks`` was restored, they were all merged then: at 3x the 100k
        web files that close took 14.5 s CPU and raised the peak from 2.8 to 4.8 GiB.
        """
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error as error:  # only an optimisation: every group has already committed
            log.warning("web load: closing checkpoint failed (%s); it is left to a later checkpoint", error)

    def before_group(self) -> None:
        """Called as each group starts loading: no vacuum unless the group deleted rows."""
        if not self._deleting:
            self._con.execute("SET max_vacuum_tasks = 0")
        self._deleting = False


class KnownIds:
    """64-bit hashes of every message id in raw.web_events (read once, then kept up to date).

    A block none of whose ids' hashes is here holds no id the warehouse has, so it skips the probe
    of the warehouse's id column, whose cost grows with every block loaded. A hash that is here
    only means "maybe": the exact probe then runs for those ids. Hashes of rows later rolled back
    or deleted only cause such needless probes, never a missed duplicate. DuckDB's ``hash`` is
    computed on both sides in the same process, so it never has to be stable across versions.

    The hashes are kept as a few sorted runs, merged like a binary counter (a run is merged into
    the one before it once it is at least half that size). Inserting each block into one sorted
    array copied every known hash per block: 12.4 s for 60 blocks of 150k ids (about 1M people)
    on the loader's thread while DuckDB waited, against 2.1 s this way.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] | None = None

    def reset(self) -> None:
        self._runs = None

    def maybe_seen(self, con: duckdb.DuckDBPyConnection, hashes: np.ndarray) -> np.ndarray:
        """The hashes (of ids about to be loaded) that may already be stored; then remembers them all."""
        if self._runs is None:
            stored = con.execute(f"SELECT hash(message_id) AS h FROM {TABLE}").fetchnumpy()["h"]
            self._runs = [np.sort(np.asarray(stored, dtype=np.uint64))]
        # Sorted and distinct by hand (np.unique is hash-based in numpy 2 and slower here); probing
        # a run in ascending order also walks it once instead of at random.
        new = np.sort(np.asarray(hashes, dtype=np.uint64))
        if len(new) > 1:
            new = new[np.concatenate(([True], new[1:] != new[:-1]))]
        found = np.zeros(len(new), dtype=bool)
        for run in self._runs:
            if len(run):
                found |= run[np.minimum(np.searchsorted(run, new), len(run) - 1)] == new
        runs = self._runs
        if not found.all():
            runs.append(new[~found])
        while len(runs) > 1 and 2 * len(runs[-1]) >= len(runs[-2]):
            last = runs.pop()
            runs[-1] = np.sort(np.concatenate((runs[-1], last)))
        return new[found]


@contextmanager
def _memory_capped(con: duckdb.DuckDBPyConnection, limit_bytes: int, configured: str) -> Iterator[None]:
    """Lower DuckDB's memory_limit to ``limit_bytes`` (never raise it) for the block, then restore it.

    DuckDB keeps the table blocks it wrote cached up to its memory limit, so with the pipeline's
    limit a long load grows to that limit; the loader itself needs a few blocks' worth.
    ``configured`` (the setting the connection was opened with) restores the exact value when it
    matches the current one, which DuckDB only shows rounded.
    """
    previous = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    if abs(_size_bytes(configured) - _size_bytes(previous)) < 0.1 * 2**30:
        previous = configured
    if _size_bytes(previous) <= limit_bytes:
        yield
        return
    con.execute(f"SET memory_limit = '{limit_bytes}B'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{previous}'")


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def _size_bytes(text: str) -> float:
    """Bytes of a DuckDB size setting such as '7.4 GiB' (unlimited or unknown: infinity)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", text)
    if match is None or match.group(2).upper() not in _UNITS:
        return math.inf
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


def forget_file(con: duckdb.DuckDBPyConnection, source_file: str) -> None:
    """Delete the rows an earlier version of a file loaded, noting their message ids for the restore."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _web_forgotten AS SELECT message_id FROM {TABLE} WHERE _source_file = ?",
        [source_file],
    )
    con.execute(f"DELETE FROM {TABLE} WHERE _source_file = ?", [source_file])


def restore_from_other_files(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> str | None:
    """After a changed file was reloaded: reload forgotten messages that other loaded files contain.

    A message is stored once, attributed to the first file that had it; its repeats in later files
    were skipped. If the first file changes and drops the message, the other files still hold it,
    so those files are offered again (under their own batch ids): only messages missing from the
    warehouse load, and their quarantine (already recorded when they were loaded) is not repeated.
    A restored line that was quarantined as a conflict with the dropped message is no longer one:
    its quarantine row is deleted, and the file's manifest counts move that line (or the repeat it
    was skipped as) to loaded, so its rows still add up (``_settle_restored``).
    """
    missing = {
        r[0]
        for r in con.execute(
            f"SELECT message_id FROM _web_forgotten ANTI JOIN {TABLE} USING (message_id)"
        ).fetchall()
    }
    con.execute("DROP TABLE _web_forgotten")
    if not missing:
        return None
    # The other files as the landing folder holds them now: files are known by name within it
    # (``manifest.file_key``), so after the folder moved, a copy left at the old place (the old
    # version of the changed file among them) is not read, and a file loaded from there is found here.
    this_file = manifest.file_key(str(batch.path))
    others = sorted(
        (name, loaded)
        for name, loaded in manifest.PriorLoads(con, SOURCE).latest_loads().items()
        if name != this_file
    )
    # Ids computed from content (no messageId in the line) cannot be searched for as text.
    needles = None if any(m.startswith("sha256:") for m in missing) else [m.encode() for m in missing]
    restored, sources = 0, []
    for name, (sha256, batch_id, recorded) in others:
        path = batch.path.parent / name
        # A file changed on disk since it was loaded is reloaded on its own, not offered here.
        if not path.is_file() or manifest.fingerprint(path)[1] != sha256:
            continue
        if needles is not None and not _contains_any(path, needles):
            continue
        # Attributed to the path and batch its other rows have, so that a later change of it
        # replaces these rows too.
        offered = FileBatch(
            path, batch_id, batch.run_id, SOURCE, batch.settings, batch.loaded_at, recorded_as=recorded
        )
        [counts] = load_files(con, [offered])
        if counts.rows_loaded:
            _settle_restored(con, offered, missing)
            restored += counts.rows_loaded
            sources.append(path.name)
    if not restored:
        return None
    return f"{restored} message(s) the earlier version held restored from {', '.join(sources)}"


def _settle_restored(con: duckdb.DuckDBPyConnection, offered: FileBatch, missing: set[str]) -> None:
    """After messages were restored from ``offered``: delete the conflict quarantine rows of the
    lines now loaded and correct the file's manifest counts (in the caller's transaction)."""
    restored = con.execute(
        f"SELECT _source_line, message_id FROM {TABLE} WHERE _batch_id = ? AND _source_file = ? "
        "AND message_id IN (SELECT unnest(?::VARCHAR[]))",
        [offered.batch_id, offered.source_file, sorted(missing)],
    ).fetchall()
    # The reason _settle_fates wrote for each restored line, up to the file it named.
    conflicts = pa.table({
        "line_number": pa.array([line for line, _ in restored], pa.int64()),
        "prefix": [f"duplicate-messageid-conflict: messageId {message_id!r} was already loaded from "
                   for _, message_id in restored],
    })  # fmt: skip
    with registered(con, "_web_restored", conflicts):
        [(resolved,)] = con.execute(
            """DELETE FROM meta.quarantine q USING _web_restored r
               WHERE q.source = ? AND q.batch_id = ? AND q.source_file = ?
                 AND q.line_number = r.line_number AND starts_with(q.reason, r.prefix)""",
            [SOURCE, offered.batch_id, offered.source_file],
        ).fetchall()
    con.execute(
        "UPDATE meta.ingest_manifest SET rows_loaded = rows_loaded + ?, rows_quarantined = rows_quarantined - ?, "
        "rows_skipped = rows_skipped - ? WHERE source = ? AND batch_id = ?",
        [len(restored), resolved, len(restored) - resolved, SOURCE, offered.batch_id],
    )


def _contains_any(path: Path, needles: list[bytes]) -> bool:
    """Whether any needle occurs in the file's text (pieces end on line boundaries, ids have no newline)."""
    return any(needle in data for _, data in _file_pieces(path) for needle in needles)


def load_files(
    con: duckdb.DuckDBPyConnection,
    batches: list[FileBatch],
    known: KnownIds | None = None,
    reader: BlockReader | None = None,
) -> list[LoadCounts]:
    """Load NDJSON files block by block (inside the caller's transaction); one block may hold many files.

    ``known`` (kept by ``ingest_web`` across groups) spares blocks of new ids the warehouse probe.
    ``reader`` (kept across groups) may already hold the first block, read while the previous
    group finished; without one, blocks are read ahead within these files only.
    """
    loaded = [0] * len(batches)
    skipped = [0] * len(batches)
    with contextlib.ExitStack() as stack:
        if reader is None:
            reader = stack.enter_context(BlockReader())
        tables = stack.enter_context(contextlib.closing(reader.tables(batches)))
        for lines in tables:
            for file_index, block_loaded, block_skipped in _load_block(con, lines, batches, known):
                loaded[file_index] += block_loaded
                skipped[file_index] += block_skipped
    # Every message is accounted for: loaded, skipped as a duplicate, or quarantined.
    return [
        LoadCounts(
            rows_read=n_loaded + n_skipped + len(batch.quarantine),
            rows_loaded=n_loaded,
            rows_skipped=n_skipped,
        )
        for batch, n_loaded, n_skipped in zip(batches, loaded, skipped, strict=True)
    ]


class BlockReader:
    """Reads blocks (decompress, cut into lines) on one background thread, one block ahead of DuckDB.

    zlib and numpy release the GIL, so the next block is read while DuckDB loads the current one.
    Told the next group's batches (``expect``), the reader runs on into that group's first block
    once the current group's files are all read: it is then read while DuckDB loads the group's
    last block and while the group's quarantine, manifest rows and COMMIT are written, instead of
    afterwards with DuckDB idle (at 1M people ~2-3 s per group of 96 MB on disk). At most one
    block is read ahead, so memory stays bounded as before.

    A block read ahead belongs to the batches it was read for: it is handed only to ``tables``
    called with those very batches. A group that is planned again (after a rejected group was
    redone file by file) has new batches, so what was read for the old ones, including the
    quarantine records of its invalid UTF-8 lines and any error its reading raised, is dropped;
    an error raised while reading ahead surfaces in the group the block belongs to. The thread
    never outlives the reader: leaving it waits for the read in flight.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-read")
        self._following: list[FileBatch] | None = None
        # (batches, their remaining blocks, the future of their first block) read ahead of their turn.
        self._ahead: tuple[list[FileBatch], Iterator, Future] | None = None

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._drop_ahead()
        self._pool.shutdown(wait=True)

    def expect(self, batches: list[FileBatch]) -> None:
        """The batches of the group after the next one to load (read once that one is read)."""
        self._following = batches

    def tables(self, batches: list[FileBatch]) -> Iterator[pa.Table]:
        """The blocks of ``batches`` as Arrow tables (see ``_arrow_lines``), in file order."""
        following, self._following = self._following, None
        ahead, self._ahead = self._ahead, None
        cursor = _ReadCursor(batches, following)
        handed_over = None  # the first block, when it was read while the previous group loaded
        if ahead is not None and _same_batches(ahead[0], batches):
            cursor.blocks, upcoming = ahead[1], ahead[2]
            handed_over = upcoming
        else:
            if ahead is not None:
                _wait_quietly(ahead[2])
            cursor.blocks = _blocks([batch.path for batch in batches])
            upcoming = self._pool.submit(_next_block, cursor)
        try:
            while True:
                is_next_group, table = upcoming.result()
                if is_next_group and upcoming is not handed_over:
                    # Read on into the next group: its first block waits for it.
                    self._ahead, upcoming = (following, cursor.blocks, upcoming), None
                    return
                if isinstance(table, BaseException):
                    raise table
                if table is None:
                    upcoming = None
                    return
                upcoming = self._pool.submit(_next_block, cursor)
                yield table
        finally:
            if upcoming is not None:  # stopped early (an error): nothing may read on behind it
                cursor.following = None
                _wait_quietly(upcoming)

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            _wait_quietly(ahead[2])


@dataclass
class _ReadCursor:
    """Where the reader is: the batches being read, their block iterator, and the group after them."""

    batches: list[FileBatch]
    following: list[FileBatch] | None
    blocks: Iterator | None = None


def _next_block(cursor: _ReadCursor) -> tuple[bool, pa.Table | BaseException | None]:
    """On the reader's thread: the next block of the cursor's batches, or else the following group's first.

    Returns whether the block is the following group's, and the block (None: no more blocks). An
    error reading the following group is returned, not raised: it belongs to that group, not to
    the one whose last block is still loading.
    """
    pieces = next(cursor.blocks, None)
    if pieces is not None:
        return False, _arrow_lines(pieces, cursor.batches)
    if cursor.following is None:
        return False, None
    cursor.batches, cursor.following = cursor.following, None
    cursor.blocks = _blocks([batch.path for batch in cursor.batches])
    try:
        pieces = next(cursor.blocks, None)
        return True, None if pieces is None else _arrow_lines(pieces, cursor.batches)
    except Exception as error:  # handed to the group it belongs to
        return True, error


def _same_batches(left: list[FileBatch], right: list[FileBatch]) -> bool:
    return len(left) == len(right) and all(a is b for a, b in zip(left, right, strict=True))


def _wait_quietly(future: Future) -> None:
    """Wait for a read whose result is dropped (its error, if any, belongs to batches never loaded)."""
    with contextlib.suppress(Exception):
        future.result()


# ---------------------------------------------------------------------------------------------
# Reading: blocks of whole lines, line numbers preserved.


def _file_pieces(path: Path) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes) pieces that end on a line boundary; a BOM on line 1 is removed."""
    line_number = 1
    carry = b""
    first = True
    for data in _decompressed(path):
        if first:
            # RFC 8259 lets a parser ignore a BOM at the start of the text, nowhere else.
            data = data.removeprefix(b"\xef\xbb\xbf")
            first = False
        data = carry + data if carry else data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        piece, carry = (data, b"") if cut == len(data) - 1 else (data[: cut + 1], data[cut + 1 :])
        yield line_number, piece
        line_number += piece.count(b"\n")
    if carry:
        yield line_number, carry + b"\n"


def _decompressed(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks of about READ_BYTES (gzip undone).

    A .gz file that does not decompress (cut short, still being written, not gzip) rejects the
    file alone: the group it was in is redone file by file (``ingest_file_groups``).
    """
    gzipped = path.name.lower().endswith(".gz")
    try:
        if gzipped and path.stat().st_size <= WHOLE_GZIP_BYTES:
            # One zlib call for the whole file is ~1.5x faster than GzipFile's buffered reads.
            data = gzip.decompress(path.read_bytes())
            for start in range(0, len(data), READ_BYTES):
                yield data[start : start + READ_BYTES] if len(data) > READ_BYTES else data
            return
        with (gzip.open if gzipped else open)(path, "rb") as handle:
            while data := handle.read(READ_BYTES):
                yield data
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise RejectedFile(
            f"{path.name} does not decompress: {exc}; none of its lines were loaded, deliver the file "
            "again (it is read again on the next run)",
            field="gzip",
        ) from None


def _blocks(paths: list[Path]) -> Iterator[list[tuple[int, int, bytes]]]:
    """Blocks of about BLOCK_BYTES as (file index, first line number, bytes) pieces of one or more files.

    Small files share a block, so the fixed cost of the SQL passes is paid once per block, not per file.
    """
    pieces: list[tuple[int, int, bytes]] = []
    size = 0
    for file_index, path in enumerate(paths):
        for first_line, data in _file_pieces(path):
            pieces.append((file_index, first_line, data))
            size += len(data)
            if size >= BLOCK_BYTES:
                yield pieces
                pieces, size = [], 0
    if pieces:
        yield pieces


def _arrow_lines(pieces: list[tuple[int, int, bytes]], batches: list[FileBatch]) -> pa.Table:
    """The block as an Arrow table (file_index, line_number, line, has_many_brackets), lines without their newline.

    Each piece (a whole file or a part of one) is turned into record batches on its own, so the
    block is never joined into one copy and numpy's temporaries stay piece-sized. Lines reach
    DuckDB as Arrow string views into the piece's bytes: the newline (and a CR before it) is cut
    off by the view's length, with no copy and no string function in SQL. Lines that are not
    valid UTF-8 are quarantined here and reach DuckDB as NULL.
    """
    record_batches = [
        record_batch
        for file_index, first_line, piece in pieces
        for record_batch in _piece_lines(file_index, first_line, piece, batches)
    ]
    return pa.Table.from_batches(record_batches, schema=_LINES_SCHEMA)


_LINES_SCHEMA = pa.schema(
    [("file_index", pa.int32()), ("line_number", pa.int64()), ("line", pa.string_view()), ("has_many_brackets", pa.bool_())]
)
# An Arrow string view holds a 32-bit length and offset; longer pieces are cut in parts below this.
_VIEW_BYTES = 2**31 - 1


def _piece_lines(
    file_index: int, first_line: int, piece: bytes | memoryview, batches: list[FileBatch]
) -> Iterator[pa.RecordBatch]:
    """Record batches of at most CHUNK_LINES lines of one piece (which ends with a newline)."""
    data = np.frombuffer(piece, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    if len(data) > _VIEW_BYTES:
        yield from _long_piece_lines(file_index, first_line, piece, newlines, batches)
        return
    count = len(newlines)
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = newlines + 1
    starts = offsets[:-1]
    # The line without its newline, and without a CR right before it (CRLF line ends).
    lengths = newlines - starts
    lengths -= (lengths > 0) & (data[np.maximum(newlines - 1, 0)] == 13)
    # More '{' and '[' than MAX_DEPTH is necessary for nesting too deep; counting them here (numpy,
    # no per-line Python) spares SQL two string copies per line.
    # '{' (0x7B) and '[' (0x5B) are the only bytes that become 0x7B with bit 0x20 set.
    bracket_positions = np.flatnonzero((data | 0x20) == ord("{"))
    has_many_brackets = np.diff(np.searchsorted(bracket_positions, newlines), prepend=0) > MAX_DEPTH
    numbers = np.arange(first_line, first_line + count, dtype=np.int64)
    buffer = pa.py_buffer(piece)
    validity, null_count = None, 0
    try:
        # Checks UTF-8 in C without a copy (the newlines are valid UTF-8 and change nothing).
        pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), buffer).validate(full=True)
    except pa.ArrowInvalid:
        lines = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), buffer)
        valid = _utf8_lines(lines, piece, offsets, file_index, numbers, batches)
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(count - np.count_nonzero(valid))
    views = _string_views(data, starts, lengths)
    lines = pa.Array.from_buffers(pa.string_view(), count, [validity, pa.py_buffer(views), buffer], null_count)
    # DuckDB scans an Arrow table one record batch per thread: a block in one batch would run the
    # whole parsing pass on one core. Slices are zero-copy.
    table = pa.RecordBatch.from_arrays(
        [pa.array(np.full(count, file_index, dtype=np.int32)), pa.array(numbers), lines, pa.array(has_many_brackets)],
        schema=_LINES_SCHEMA,
    )
    for start in range(0, count, CHUNK_LINES):
        yield table.slice(start, CHUNK_LINES)


def _string_views(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Arrow string views (16 bytes each) of ``data[start:start + length]``, all in buffer 0.

    A view is its length (int32) then, up to 12 bytes, the string itself; longer strings keep
    their first 4 bytes, the buffer index and the offset.
    """
    views = np.zeros((len(starts), 4), dtype=np.int32)
    views[:, 0] = lengths
    as_bytes = views.view(np.uint8)
    long = lengths > 12
    long_starts = starts[long]
    as_bytes[long, 4:8] = data[long_starts[:, None] + np.arange(4)]
    views[long, 3] = long_starts
    short = np.flatnonzero(~long)
    if len(short):
        width = np.arange(12)
        inline = data[np.minimum(starts[short, None] + width, len(data) - 1)]
        inline[width >= lengths[short, None]] = 0
        as_bytes[short, 4:16] = inline
    return views


def _long_piece_lines(
    file_index: int, first_line: int, piece: bytes | memoryview, newlines: np.ndarray, batches: list[FileBatch]
) -> Iterator[pa.RecordBatch]:
    """A piece over 2 GiB (it holds a line that long): cut at line ends into parts string views can address.

    A single line that long cannot be a message (the limit is MAX_MESSAGE_BYTES), so it is
    quarantined here with its first bytes, without being parsed.
    """
    view = memoryview(piece)
    ends = newlines + 1
    start, line, i = 0, first_line, 0
    while i < len(ends):
        j = int(np.searchsorted(ends, start + _VIEW_BYTES, side="right"))
        if j == i:
            size = int(ends[i]) - 1 - start
            batches[file_index].reject(
                line, None, f"oversize-message: {size} bytes, limit {MAX_MESSAGE_BYTES}",
                bytes(view[start : start + MAX_MESSAGE_BYTES]),
            )
            j = i + 1
        else:
            yield from _piece_lines(file_index, line, view[start : int(ends[j - 1])], batches)
        line += j - i
        start, i = int(ends[j - 1]), j


def _utf8_lines(
    lines: pa.Array,
    piece: bytes | memoryview,
    offsets: np.ndarray,
    file_index: int,
    numbers: np.ndarray,
    batches: list[FileBatch],
) -> np.ndarray:
    """Which lines are valid UTF-8; the others are quarantined (they reach DuckDB as NULL).

    Slices of lines are validated in C; only a slice that fails is decoded line by line.
    """
    valid = np.ones(len(lines), dtype=bool)
    for start in range(0, len(lines), UTF8_SLICE_LINES):
        try:
            lines.slice(start, UTF8_SLICE_LINES).validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for i in range(start, min(start + UTF8_SLICE_LINES, len(lines))):
            line = bytes(piece[offsets[i] : offsets[i + 1] - 1])  # without its newline
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                batches[file_index].reject(
                    int(numbers[i]),
                    None,
                    f"invalid-utf8: {exc.reason} at byte {exc.start} (expected UTF-8)",
                    line,
                )
                valid[i] = False
    return valid


# ---------------------------------------------------------------------------------------------
# Strict per-line check, only for lines the SQL screen marked as suspect.


def strict_problem(line: str) -> tuple[str, str | None] | None:
    """Why a line is not a strict-JSON object we accept, as (reason, field), or None when it is."""

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            duplicated = next(k for k in keys if keys.count(k) > 1)
            raise _DuplicateKey(duplicated)
        return dict(pairs)

    def reject_constant(name):
        raise ValueError(f"non-standard literal {name}")

    try:
        obj = json.loads(line, object_pairs_hook=no_duplicates, parse_constant=reject_constant)
    except _DuplicateKey as exc:
        return f"duplicate-key: key {exc.args[0]!r} appears more than once in one object", str(exc.args[0])
    except json.JSONDecodeError as exc:
        tail = line.rstrip()
        if exc.pos >= len(tail) - 6 and not tail.endswith(("}", "]")) and "Extra data" not in exc.msg:
            return f"truncated-json: the line ends before the JSON is complete ({exc.msg})", None
        return f"invalid-json: {exc.msg} (column {exc.colno})", None
    except ValueError as exc:
        return f"invalid-json: {exc}", None
    except RecursionError:
        return f"nesting-too-deep: more than {MAX_DEPTH} levels", None
    if not isinstance(obj, dict):
        return f"not-an-object: the line holds a JSON {type(obj).__name__}, expected an object", None
    if parsing.holds_lone_surrogate(obj):
        return "invalid-unicode: a string holds a lone surrogate escape (not a Unicode character)", None
    if any(isinstance(x, float) and not math.isfinite(x) for x in parsing.walk_json(obj)):
        return "number-out-of-range: a number does not fit a 64-bit float", None
    if _depth(obj) > MAX_DEPTH:
        return f"nesting-too-deep: more than {MAX_DEPTH} levels of objects/arrays", None
    # A batch envelope may hold up to MAX_BATCH_BYTES; each of its messages is checked once unwrapped.
    envelope = "batch" in obj and "type" not in obj
    limit = MAX_BATCH_BYTES if envelope else MAX_MESSAGE_BYTES
    if len(line.encode("utf-8")) > limit:
        kind = "oversize-batch" if envelope else "oversize-message"
        return f"{kind}: {len(line.encode('utf-8'))} bytes, limit {limit}", None
    return None


class _DuplicateKey(Exception):
    pass


def _depth(obj) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


# ---------------------------------------------------------------------------------------------
# Validation and load, in SQL.


def _load_block(
    con: duckdb.DuckDBPyConnection, lines: pa.Table, batches: list[FileBatch], known: KnownIds | None = None
) -> list[tuple[int, int, int]]:
    """Validate and insert one block; returns (file index, messages loaded, duplicates skipped) per file."""
    max_field_chars = batches[0].settings.max_field_chars
    # One pass parses, screens and types every line; only the few suspect lines and batch
    # envelopes need more work afterwards.
    with registered(con, "_web_block", lines):
        con.execute(_typed_sql(max_field_chars, _LINES_SQL, "CREATE OR REPLACE TEMP TABLE _web_typed AS"))
    excluded = _strict_check_suspects(con, batches)
    if excluded.num_rows:
        with registered(con, "_web_excluded", excluded):
            con.execute(
                "DELETE FROM _web_typed t USING _web_excluded x "
                "WHERE t.file_index = x.file_index AND t.line_number = x.line_number"
            )
    if con.execute("SELECT count(*) FROM _web_typed WHERE is_envelope").fetchall()[0][0]:
        _quarantine_batch_problems(con, batches)
        con.execute(_ITEMS_SQL)
        _measure_large_batch_items(con)
        con.execute("DELETE FROM _web_typed WHERE is_envelope")
        con.execute(_typed_sql(max_field_chars, _ITEM_MESSAGES_SQL, "INSERT INTO _web_typed"))
    for file_index, line_number, batch_index, reason, field, msg in con.execute(
        "SELECT file_index, line_number, batch_index, reason, field, msg FROM _web_typed WHERE reason IS NOT NULL "
        "ORDER BY file_index, line_number, batch_index"
    ).fetchall():
        batches[file_index].reject(line_number, _field_name(batch_index, field), reason, msg)
    counts = _dedupe_and_insert(con, batches, known)
    for table in ("_web_items", "_web_typed", "_web_seen", "_web_fate"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return counts


def _field_name(batch_index: int | None, field: str | None) -> str | None:
    if batch_index is None:
        return field
    return f"batch[{batch_index}]" + (f".{field}" if field else "")


# The source of the one pass over a block (lines arrive without their line end): parse every message once into its
# top-level fields (kept as raw JSON text), and screen for lines that need the strict Python
# check. The screen is mostly substring tests, and DuckDB evaluates CASE branches lazily, so
# clean lines stop at the first false test. DuckDB's JSON reader is lenient (NaN, trailing
# commas, duplicate keys), which is what the screen makes up for.
_NON_NULL_FIELDS = " + ".join(f'(m."{name}" IS NOT NULL)::INTEGER' for name in _FIELDS)
# A batch envelope is a message with "batch" and no "type".
_ENVELOPE = "m.batch IS NOT NULL AND m.type IS NULL"
_LINES_SQL = f"""
SELECT file_index, line_number, NULL::BIGINT AS batch_index, msg, payload, true AS is_object, m, is_json,
       NULL::BIGINT AS oversize_bytes,
       CASE
           WHEN NOT is_json THEN true
           WHEN NOT starts_with(msg, '{{') THEN true
           WHEN strlen(msg) > {MAX_MESSAGE_BYTES} AND NOT coalesce({_ENVELOPE}, false) THEN true
           WHEN strlen(msg) > {MAX_BATCH_BYTES} THEN true
           WHEN contains(msg, 'NaN') OR contains(msg, 'Infinity') THEN true
           WHEN contains(msg, '\\ud') OR contains(msg, '\\uD') THEN true
           WHEN contains(msg, ',}}') OR contains(msg, ',]') THEN true
           WHEN (contains(msg, ' }}') OR contains(msg, ' ]') OR contains(msg, chr(9))
                 OR contains(msg, chr(13) || '}}'))
                AND regexp_matches(msg, '{_TRAILING_COMMA}') THEN true
           -- Counted in numpy while reading: more brackets than MAX_DEPTH may nest too deep.
           WHEN has_many_brackets THEN true
           -- Duplicate keys at the top level change a message's meaning (two "type"s). A line
           -- whose top-level keys are all known fields with non-null values has no duplicate when
           -- it has as many keys as non-null fields were parsed; only other lines pay for
           -- list_distinct.
           WHEN len(json_keys(msg)) > {_NON_NULL_FIELDS}
                AND list_transform([json_keys(msg)], lambda k: len(list_distinct(k)) <> len(k))[1] THEN true
           ELSE false
       END AS is_suspect,
       coalesce({_ENVELOPE}, false) AS is_envelope
FROM (
    SELECT *,
           -- try() makes DuckDB re-run a whole vector row by row after an error, which costs ~30%
           -- of this pass, so it only guards the rare valid-JSON line that is not an object.
           CASE WHEN NOT is_json THEN NULL
                WHEN starts_with(msg, '{{') THEN json_transform(msg, '{_SPEC}')
                ELSE try(json_transform(msg, '{_SPEC}')) END AS m
    FROM (
        -- The JSON-typed copy validates the line (as json_valid would) and is what gets stored:
        -- a VARCHAR would be parsed once more by the cast on insert.
        SELECT file_index, line_number, msg, has_many_brackets, payload, payload IS NOT NULL AS is_json
        FROM (
            SELECT *, try_cast(msg AS JSON) AS payload
            FROM (
                -- Lines arrive without their line end (CRLF or LF), as _arrow_lines cuts them.
                SELECT file_index, line_number, has_many_brackets, line AS msg
                FROM _web_block
                WHERE line IS NOT NULL
            )
        )
    )
)
"""


def _strict_check_suspects(con: duckdb.DuckDBPyConnection, batches: list[FileBatch]) -> pa.Table:
    """Strict-check the suspect lines; returns the (file_index, line_number) to leave out (refused or blank)."""
    files: list[int] = []
    numbers: list[int] = []
    for file_index, line_number, msg, is_json in con.execute(
        "SELECT file_index, line_number, msg, is_json FROM _web_typed WHERE is_suspect "
        "ORDER BY file_index, line_number"
    ).fetchall():
        line = msg.rstrip("\r")
        if not line.strip(" \t\r"):
            files.append(file_index)  # blank lines are skipped, not errors
            numbers.append(line_number)
            continue
        problem = strict_problem(line)
        if problem is None and not is_json:
            problem = ("invalid-json: refused by the warehouse JSON parser", None)
        if problem is not None:
            batches[file_index].reject(line_number, problem[1], problem[0], line)
            files.append(file_index)
            numbers.append(line_number)
    return pa.table({"file_index": pa.array(files, pa.int32()), "line_number": pa.array(numbers, pa.int64())})


# Batch envelopes are unwrapped. The envelope's context is merged under each message's own
# context, and its sentAt/receivedAt (the times of the request) fill a message's missing ones, so
# the clock-skew correction applies to batched messages too; the message wins on conflicts. A
# member the message sets to null ("context": null) is absent: the envelope's fills it (merged
# with a null, the envelope context was lost). The
# envelope is merged INTO the message (json_merge_patch drops the nulls of its patch argument, so
# the message must be the target: its "coupon": null stays). Other envelope fields (writeKey, a
# credential) are not copied. Suspect lines the strict check refused are gone by now.
_ITEMS_SQL = """
CREATE OR REPLACE TEMP TABLE _web_items AS
WITH envelopes AS (
    SELECT file_index, line_number, envelope_items AS items, envelope_context, envelope_sent_at,
           envelope_received_at
    FROM _web_typed
    WHERE is_envelope AND json_type(envelope_items) = 'ARRAY'
),
items AS (
    SELECT file_index, line_number,
           unnest(range(json_array_length(items)::BIGINT)) AS batch_index,
           unnest(json_extract(items, '$[*]')) AS item,
           envelope_context, envelope_sent_at, envelope_received_at
    FROM envelopes
),
patches AS (
    SELECT *, json_type(item) = 'OBJECT' AS is_object,
           -- A NULL argument can make json_merge_patch NULL: every part is an object.
           json_merge_patch(
               CASE WHEN envelope_context IS NOT NULL
                    THEN json_object('context', json_merge_patch(
                        envelope_context,
                        coalesce(CASE WHEN json_type(item, '$.context') <> 'NULL'
                                      THEN json_extract(item, '$.context') END, '{}'::JSON)))
                    ELSE '{}'::JSON END,
               CASE WHEN envelope_sent_at IS NOT NULL AND coalesce(json_type(item, '$.sentAt'), 'NULL') = 'NULL'
                    THEN json_object('sentAt', envelope_sent_at) ELSE '{}'::JSON END,
               CASE WHEN envelope_received_at IS NOT NULL AND coalesce(json_type(item, '$.receivedAt'), 'NULL') = 'NULL'
                    THEN json_object('receivedAt', envelope_received_at) ELSE '{}'::JSON END
           ) AS patch
    FROM items
)
SELECT file_index, line_number, batch_index,
       CASE WHEN is_object AND patch::VARCHAR <> '{}' THEN json_merge_patch(item, patch)::VARCHAR
            ELSE item::VARCHAR END AS msg,
       is_object,
       -- Set by _measure_large_batch_items for a message over the single-message limit as sent.
       NULL::BIGINT AS oversize_bytes
FROM patches
"""


def _measure_large_batch_items(con: duckdb.DuckDBPyConnection) -> None:
    """Size each message of a batch envelope over MAX_MESSAGE_BYTES as it was sent, in the line.

    DuckDB's rewrite of an item drops the whitespace and escapes it was sent with (a message of
    36 KB written with \\u00e9 escapes measured 13 KB that way, and loaded while the same message
    on a line of its own was refused), so items are measured in the line. Only an envelope over
    the limit can hold an item over it, so only those few lines are walked, item by item, and the
    oversize items marked in _web_items.
    """
    found: list[tuple[int, int, int, int]] = []
    for file_index, line_number, msg in con.execute(
        f"SELECT file_index, line_number, msg FROM _web_typed WHERE is_envelope AND strlen(msg) > {MAX_MESSAGE_BYTES}"
    ).fetchall():
        for batch_index, size in enumerate(_batch_item_sizes(msg)):
            if size > MAX_MESSAGE_BYTES:
                found.append((file_index, line_number, batch_index, size))
    if not found:
        return
    sizes = pa.table({name: pa.array(values, pa.int64()) for name, values in zip(
        ("file_index", "line_number", "batch_index", "size"), zip(*found, strict=True), strict=True)})
    with registered(con, "_web_item_sizes", sizes):
        con.execute(
            "UPDATE _web_items i SET oversize_bytes = x.size FROM _web_item_sizes x "
            "WHERE i.file_index = x.file_index AND i.line_number = x.line_number AND i.batch_index = x.batch_index"
        )


def _batch_item_sizes(line: str) -> list[int]:
    """UTF-8 bytes of each element of the top-level "batch" array of ``line``, as written there
    (empty when the line is not an object with such an array, which the SQL checks report)."""
    decoder, sizes = json.JSONDecoder(), []
    whitespace = re.compile(r"[ \t\n\r]*")

    def skip(at: int) -> int:
        return whitespace.match(line, at).end()

    try:
        at = skip(0)
        if line[at] != "{":
            return []
        at = skip(at + 1)
        while line[at] != "}":
            key, at = decoder.raw_decode(line, at)
            at = skip(skip(at) + 1)  # past the colon
            if key == "batch" and line[at] == "[":
                sizes, at = [], skip(at + 1)
                while line[at] != "]":
                    start = at
                    _, at = decoder.raw_decode(line, at)
                    sizes.append(len(line[start:at].encode("utf-8")))
                    at = skip(at)
                    at = skip(at + 1) if line[at] == "," else at
                at += 1
            else:
                _, at = decoder.raw_decode(line, at)
            at = skip(at)
            at = skip(at + 1) if line[at] == "," else at
    except (ValueError, IndexError):
        return []
    return sizes


# The source of the pass over batch items (parsed here), typed like single messages.
_ITEM_MESSAGES_SQL = f"""
SELECT file_index, line_number, batch_index, msg, msg::JSON AS payload, is_object,
       CASE WHEN is_object THEN json_transform(msg, '{_SPEC}') END AS m,
       true AS is_json, false AS is_suspect, false AS is_envelope, oversize_bytes
FROM _web_items
"""


def _quarantine_batch_problems(con: duckdb.DuckDBPyConnection, batches: list[FileBatch]) -> None:
    """Envelopes whose ``batch`` is not an array cannot be unwrapped."""
    for file_index, line_number, msg in con.execute(
        "SELECT file_index, line_number, msg FROM _web_typed "
        "WHERE is_envelope AND json_type(envelope_items) <> 'ARRAY' ORDER BY file_index, line_number"
    ).fetchall():
        batches[file_index].reject(
            line_number, "batch", "invalid-field-type: 'batch' must be an array of messages", msg
        )
        # Envelope rows are deleted once unwrapped, so no double quarantine.


def _is_string(expr: str) -> str:
    return f"starts_with({expr}, '\"')"


def _unquote(expr: str) -> str:
    """SQL for the text of a JSON string fragment (NULL when not a string), cheap when unescaped."""
    # ->> re-parses the fragment; slicing off the quotes is much faster and exact when the string
    # holds no escape sequence, which is nearly always.
    return (
        f"CASE WHEN {_is_string(expr)} THEN CASE WHEN contains({expr}, chr(92)) THEN {expr}->>'$' "
        f"ELSE ({expr}::VARCHAR)[2:-2] END END"
    )


def _six_fraction_digits_sql(text: str) -> str:
    """SQL for time ``text`` with the fractional digits beyond the six DuckDB casts dropped."""
    return rf"regexp_replace({text}, '(\.\d{{6}})\d+', '\1')"


def _typed_sql(max_field_chars: int, source: str, target: str) -> str:
    """Typed columns plus the first problem of each message (reason and field), from ``source`` into ``target``."""
    ts_checks, ts_texts, ts_parsed = [], [], []
    for name in TIMESTAMP_FIELDS:
        raw, column = f'm."{name}"', _TS_COLUMNS[name]
        ts_texts.append(f"{_unquote(raw)} AS {column}_text")
        text = f"{column}_text"
        # DuckDB casts at most 6 fractional digits; RFC 3339 allows more, so trim only when needed.
        trimmed = _six_fraction_digits_sql(text)
        # epoch_us -> make_timestamp is the UTC wall time, like ::TIMESTAMP under TimeZone UTC,
        # without the ICU calendar that cast goes through.
        ts_parsed.append(
            f"CASE WHEN {text} GLOB '{_ISO_GLOB}' OR regexp_full_match({text}, '{_ISO_PATTERN}') THEN make_timestamp(epoch_us("
            f"coalesce(try_cast({text} AS TIMESTAMPTZ), try_cast({trimmed} AS TIMESTAMPTZ), "
            f"try_cast(upper({trimmed}) AS TIMESTAMPTZ)))) END AS {column}"
        )
        ts_checks.append(
            f"WHEN {raw} IS NOT NULL AND {column} IS NULL THEN {{'reason': 'invalid-timestamp: {name} must be an "
            f"RFC 3339 timestamp with a zone, e.g. 2026-11-23T10:00:00Z', 'field': '{name}'}}"
        )
        ts_checks.append(
            f"WHEN year({column}) NOT BETWEEN {MIN_YEAR} AND {MAX_YEAR} "
            f"THEN {{'reason': 'timestamp-out-of-range: {name} year outside {MIN_YEAR}..{MAX_YEAR}', "
            f"'field': '{name}'}}"
        )
    type_checks = []
    for name in ("messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name"):
        raw = f'm."{name}"'
        type_checks.append(
            f"WHEN {raw} IS NOT NULL AND NOT {_is_string(raw)} "
            f"THEN {{'reason': 'invalid-field-type: {name} must be a string', 'field': '{name}'}}"
        )
    for name in ("properties", "traits", "context", "integrations"):
        type_checks.append(
            f'WHEN m."{name}" IS NOT NULL AND NOT starts_with(m."{name}", \'{{\') '
            f"THEN {{'reason': 'invalid-field-type: {name} must be an object', 'field': '{name}'}}"
        )
    # strlen (bytes) >= length (characters): one cheap gate before the per-column checks.
    size_gate = f"greatest({', '.join(f'strlen({c})' for c in _TEXT_COLUMNS)}) > {max_field_chars}"
    size_checks = [
        f"WHEN {size_gate} AND length({column}) > {max_field_chars} THEN {{'reason': 'oversized-field: {column} longer than "
        f"{max_field_chars} characters', 'field': '{column}'}}"
        for column in _TEXT_COLUMNS
    ]
    nul_field = (
        "CASE WHEN contains(coalesce(m.userId::VARCHAR, ''), '\\u0000') THEN 'userId' "
        "WHEN contains(coalesce(m.anonymousId::VARCHAR, ''), '\\u0000') THEN 'anonymousId' ELSE 'messageId' END"
    )
    problem = "\n".join(
        [
            "CASE",
            "WHEN NOT is_object THEN {'reason': 'not-an-object: a batch item must be an object', 'field': NULL}",
            "WHEN oversize_bytes IS NOT NULL THEN {'reason': 'oversize-message: ' || oversize_bytes || "
            f"' bytes, limit {MAX_MESSAGE_BYTES}', 'field': NULL}}",
            "WHEN m IS NULL THEN {'reason': 'invalid-json: refused by the warehouse JSON parser', 'field': NULL}",
            "WHEN m.batch IS NOT NULL AND m.type IS NULL THEN {'reason': 'batch-envelope-in-message-stream: "
            "nested batch envelope', 'field': 'batch'}",
            "WHEN m.type IS NULL THEN {'reason': 'missing-type: every message needs a type', 'field': 'type'}",
            f"WHEN type IS NULL OR type NOT IN {MESSAGE_TYPES} THEN {{'reason': 'unknown-type: type must be one of "
            f"{', '.join(MESSAGE_TYPES)}', 'field': 'type'}}",
            *type_checks[:1],
            "WHEN length(message_id_given) >= 100 THEN {'reason': 'messageid-too-long: messageId must be "
            "under 100 characters', 'field': 'messageId'}",
            *type_checks[1:3],
            "WHEN coalesce(user_id, '') = '' AND coalesce(anonymous_id, '') = '' THEN {'reason': "
            "'missing-identity: neither userId nor anonymousId is set', 'field': 'userId'}",
            # One cheap test on the three ids together; the field named is the one holding the NUL.
            "WHEN contains(coalesce(m.userId::VARCHAR, '') || coalesce(m.anonymousId::VARCHAR, '') || coalesce(m.messageId::VARCHAR, ''), "
            f"'\\u0000') THEN {{'reason': 'nul-in-string: ' || {nul_field} || ' holds a NUL character', "
            f"'field': {nul_field}}}",
            *type_checks[3:],
            "WHEN type = 'track' AND coalesce(event_name, '') = '' THEN {'reason': 'missing-event: a track "
            "message needs a non-empty event', 'field': 'event'}",
            "WHEN type = 'group' AND coalesce(group_id, '') = '' THEN {'reason': 'missing-group-id: a group "
            "message needs a groupId', 'field': 'groupId'}",
            *ts_checks,
            # The skew-corrected time is what is stored: each input can be in range and it not.
            f"WHEN year({_skew_corrected_sql()}) NOT BETWEEN "
            f"{MIN_YEAR} AND {MAX_YEAR} THEN {{'reason': 'timestamp-out-of-range: receivedAt - (sentAt - "
            f"device time) year outside {MIN_YEAR}..{MAX_YEAR}', 'field': 'sentAt'}}",
            *size_checks,
            "END",
        ]
    )
    return f"""
    {target}
    WITH strings AS (
        SELECT file_index, line_number, batch_index, msg, payload, is_object, m, is_json, is_suspect, is_envelope,
               oversize_bytes,
               {_unquote("m.type")} AS type,
               {_unquote("m.messageId")} AS message_id_given,
               {_unquote("m.userId")} AS user_id,
               {_unquote("m.anonymousId")} AS anonymous_id,
               {_unquote("m.groupId")} AS group_id,
               {_unquote("m.previousId")} AS previous_id,
               {_unquote("m.event")} AS event_name,
               {_unquote("m.name")} AS page_name,
               json_extract_string(m.context, {_CONTEXT_PATHS}) AS ctx,
               json_extract_string(m.properties, {_PAGE_PROPERTY_PATHS}) AS props,
               {", ".join(ts_texts)}
        FROM ({source})
    ),
    typed AS (
        SELECT *,
               coalesce(CASE WHEN type = 'page' THEN props[1] END, ctx[1]) AS page_url,
               coalesce(CASE WHEN type = 'page' THEN props[2] END, ctx[2]) AS page_path,
               coalesce(CASE WHEN type = 'page' THEN props[3] END, ctx[3]) AS page_title,
               coalesce(CASE WHEN type = 'page' THEN props[4] END, ctx[4]) AS page_referrer,
               ctx[5] AS campaign_source, ctx[6] AS campaign_medium, ctx[7] AS campaign_name,
               ctx[8] AS campaign_term, ctx[9] AS campaign_content,
               {", ".join(ts_parsed)}
        FROM strings
    ),
    checked AS (
        SELECT *, ({problem}) AS problem FROM typed
    )
    SELECT file_index, line_number, batch_index,
           -- The raw text is kept only for lines that may be quarantined or looked at again;
           -- messages that load are held once, as their JSON payload.
           CASE WHEN problem IS NOT NULL OR is_suspect OR is_envelope OR payload IS NULL THEN msg END AS msg,
           payload,
           problem.reason AS reason, problem.field AS field,
           -- Messages without a messageId still dedupe: on a hash of their content.
           -- An empty or blank messageId is none (two different messages with "" are not one).
           CASE WHEN nullif(trim(message_id_given), '') IS NULL THEN 'sha256:' || sha256(msg)
                ELSE message_id_given END AS message_id,
           type, CASE WHEN type = 'track' THEN event_name END AS event_name,
           CASE WHEN type IN ('page', 'screen') THEN page_name END AS page_name,
           user_id, anonymous_id, group_id, previous_id,
           {", ".join(_TS_COLUMNS.values())},
           m.traits AS traits, m.properties AS properties, m.context AS context,
           page_url, page_path, page_title, page_referrer,
           campaign_source, campaign_medium, campaign_name, campaign_term, campaign_content,
           is_json, is_suspect, is_envelope,
           CASE WHEN is_envelope THEN m.batch END AS envelope_items,
           CASE WHEN is_envelope THEN m.context END AS envelope_context,
           CASE WHEN is_envelope THEN m.sentAt END AS envelope_sent_at,
           CASE WHEN is_envelope THEN m.receivedAt END AS envelope_received_at
    FROM checked
    """


def _skew_corrected_sql(prefix: str = "") -> str:
    """SQL for ``receivedAt - (sentAt - device time)``: NULL unless the three are known.

    The device time is ``originalTimestamp`` when the message has one (Segment's processed form,
    whose ``timestamp`` is already corrected, and RudderStack's SDKs). Without it, a ``timestamp``
    before ``sentAt`` is the device time: Segment's libraries and HTTP API send the event's time
    as ``timestamp`` with ``sentAt``, and Segment renames it originalTimestamp on receipt. A
    ``timestamp`` not before ``sentAt`` stays as is: a device records an event before it sends it,
    and Segment's own published processed messages without originalTimestamp (its spec pages, in
    the public Segment corpus) carry a corrected ``timestamp`` at or after ``sentAt`` (correcting
    them again would put one after its ``receivedAt``). The price: a device time sent within the
    same millisecond is not corrected.
    """
    t = prefix
    device = (
        f"coalesce({t}original_timestamp_at, CASE WHEN {t}timestamp_at < {t}sent_at THEN {t}timestamp_at END)"
    )
    return f"{t}received_at - ({t}sent_at - {device})"


_TS_COLUMNS = {
    "timestamp": "timestamp_at",
    "originalTimestamp": "original_timestamp_at",
    "sentAt": "sent_at",
    "receivedAt": "received_at",
}
_TEXT_COLUMNS = (
    "message_id_given", "user_id", "anonymous_id", "group_id", "previous_id", "event_name", "page_name",
    "page_url", "page_path", "page_title", "page_referrer",
    "campaign_source", "campaign_medium", "campaign_name", "campaign_term", "campaign_content",
)  # fmt: skip
_CONTEXT_PATHS = (
    "['$.page.url', '$.page.path', '$.page.title', '$.page.referrer', '$.campaign.source', "
    "'$.campaign.medium', '$.campaign.name', '$.campaign.term', '$.campaign.content']"
)
_PAGE_PROPERTY_PATHS = "['$.url', '$.path', '$.title', '$.referrer']"


_POSITION = "{'file_index': file_index, 'line_number': line_number, 'item': item}"


def _dedupe_and_insert(
    con: duckdb.DuckDBPyConnection, batches: list[FileBatch], known: KnownIds | None = None
) -> list[tuple[int, int, int]]:
    """Insert first occurrences of new messageIds; skip exact repeats; quarantine conflicting ones."""
    # Only messages whose id was seen before (in the warehouse, which includes earlier blocks and
    # files of this transaction, or earlier in this block) land in _web_fate, so the common case
    # costs one semi-join and no window over the whole block. Positions order files, then lines.
    # The semi-join reads only the id column of the warehouse table; the stored payloads (the
    # largest column, growing with every block) are read only when some ids were seen before.
    # With ``known``, only ids whose hash is already known are looked for (usually none), and a
    # block with no stored id and no id twice skips _web_fate altogether.
    probed = "SELECT message_id FROM _web_typed WHERE reason IS NULL"
    hits = None
    repeats_possible, repeated_hashes = True, None
    if known is not None:
        counted = con.execute(
            f"SELECT hash(message_id) AS h, count(*) AS n FROM ({probed}) GROUP BY ALL"
        ).fetchnumpy()
        hashes = counted["h"]
        # No hash twice: no id twice in this block (equal ids have equal hashes).
        repeats_possible = bool(len(hashes)) and int(np.max(counted["n"])) > 1
        repeated_hashes = hashes[counted["n"] > 1]
        hits = known.maybe_seen(con, hashes)
        probed += " AND hash(message_id) IN (SELECT h FROM _web_hits)"
    if hits is not None and not len(hits):
        seen = 0
    else:
        with registered(con, "_web_hits", pa.table({"h": pa.array(hits if hits is not None else [], pa.uint64())})):
            seen = con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _web_seen AS
                SELECT DISTINCT message_id FROM {TABLE}
                WHERE message_id IN ({probed})
                """
            ).fetchall()[0][0]
    if not seen and not repeats_possible:
        # Nothing stored and nothing repeated: every good message is fresh.
        skipped, fresh = [0] * len(batches), "FROM _web_typed t WHERE t.reason IS NULL"
    else:
        existing = (
            f"""SELECT message_id, any_value(payload::VARCHAR) AS payload, any_value(_source_file) AS source_file
                FROM {TABLE} WHERE message_id IN (SELECT message_id FROM _web_seen) GROUP BY message_id"""
            if seen
            else "SELECT NULL::VARCHAR AS message_id, NULL::VARCHAR AS payload, NULL::VARCHAR AS source_file "
            "WHERE false"
        )
        # A message can only have a fate if its id is stored (its hash is a hit) or repeated here (its
        # hash is counted twice): only those rows, usually a few, are looked at with their payload.
        candidates = "true"
        if hits is not None:
            candidates = "hash(message_id) IN (SELECT h FROM _web_candidates)"
        candidate_hashes = np.union1d(hits, repeated_hashes) if hits is not None else []
        with registered(con, "_web_candidates", pa.table({"h": pa.array(candidate_hashes, pa.uint64())})):
            _fate(con, existing, candidates)
        skipped = _settle_fates(con, batches)
        fresh = """
            FROM _web_typed t
            ANTI JOIN _web_fate x
                ON x.file_index = t.file_index AND x.line_number = t.line_number AND x.item = coalesce(t.batch_index, -1)
            WHERE t.reason IS NULL
        """
    loaded = _insert_fresh(con, batches, fresh)
    return [(i, loaded.get(i, 0), skipped[i]) for i in range(len(batches))]


def _settle_fates(con: duckdb.DuckDBPyConnection, batches: list[FileBatch]) -> list[int]:
    """Count the exact repeats in _web_fate per file (skipped) and quarantine the conflicting ones."""
    skipped = [0] * len(batches)
    for file_index, count in con.execute(
        "SELECT file_index, count(*) FROM _web_fate WHERE is_same_content GROUP BY 1"
    ).fetchall():
        skipped[file_index] = count
    # Only conflicting repeats (rare) come to Python.
    for (
        file_index,
        line_number,
        item,
        message_id,
        msg,
        seen_file,
        first_index,
        first_line,
    ) in con.execute(
        "SELECT file_index, line_number, item, message_id, msg, first_seen_file, "
        "first_file_index, first_line FROM _web_fate WHERE NOT is_same_content ORDER BY 1, 2, 3"
    ).fetchall():
        if seen_file is None:
            seen_file = (
                f"line {first_line} of this file"
                if first_index == file_index
                else f"{batches[first_index].source_file} (line {first_line})"
            )
        batches[file_index].reject(
            line_number,
            _field_name(None if item < 0 else item, "messageId"),
            f"duplicate-messageid-conflict: messageId {message_id!r} was already loaded from {seen_file} "
            "with different content",
            msg,
        )
    return skipped


# What a re-delivery of a message may change: Segment deduplicates on messageId alone, and a
# client retry (or at-least-once delivery) re-sends the stored event with a new ``sentAt`` (set
# when a batch is sent) and a new ``receivedAt`` (set on receipt). A ``timestamp`` that is not the
# device time (see ``_skew_corrected_sql``) is derived from those too and changes with them: the
# one of a message with an ``originalTimestamp`` (receivedAt - (sentAt - originalTimestamp)), and,
# without one, a ``timestamp`` not before ``sentAt`` or without a ``sentAt`` (set by the server on
# receipt). A ``timestamp`` before ``sentAt`` is the device's time of the event and counts.
# Everything else (``_metadata``, ``context.library`` ...) is the event as the library stored it
# and counts: a repeat that differs there is a conflict.
_TRANSPORT_ONLY = json.dumps({"sentAt": None, "receivedAt": None})
_TRANSPORT_AND_DERIVED = json.dumps({"sentAt": None, "receivedAt": None, "timestamp": None})


def _json_time_sql(payload: str, field: str) -> str:
    """SQL for the time in ``payload``'s top-level string ``field`` (NULL when absent or not a time);
    fractional digits beyond the six DuckDB casts are dropped, as ``_typed_sql`` does, and a
    lower-case t or z (RFC 3339 allows them; DuckDB's cast does not) is read as upper case."""
    text = f"upper(({payload})->>'$.{field}')"
    return f"try_cast({_six_fraction_digits_sql(text)} AS TIMESTAMPTZ)"


def _content_sql(payload: str) -> str:
    """SQL for a message's content to compare repeats on: ``payload`` (JSON) without its transport
    fields, and without its ``timestamp`` unless that is the device time (before ``sentAt``, with
    no ``originalTimestamp``)."""
    has_original = f"coalesce(json_type({payload}, '$.originalTimestamp'), 'NULL') <> 'NULL'"
    device_timestamp = (
        f"coalesce({_json_time_sql(payload, 'timestamp')} < {_json_time_sql(payload, 'sentAt')}, false)"
    )
    return (
        f"json_merge_patch({payload}, CASE WHEN {has_original} OR NOT {device_timestamp} "
        f"THEN '{_TRANSPORT_AND_DERIVED}' ELSE '{_TRANSPORT_ONLY}' END::JSON)::VARCHAR"
    )


def _fate(con: duckdb.DuckDBPyConnection, existing: str, candidates: str) -> None:
    """_web_fate: good messages whose id is stored (``existing``) or that repeat an earlier one of the block.

    ``is_same_content``: the repeat is the first message again, up to its transport fields
    (``_content_sql``), so it is skipped as a duplicate; otherwise it is a conflict.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _web_fate AS
        WITH good AS (
            SELECT file_index, line_number, coalesce(batch_index, -1) AS item, message_id, payload::VARCHAR AS msg,
                   {_content_sql("payload")} AS content
            FROM _web_typed WHERE reason IS NULL AND {candidates}
        ),
        existing AS (SELECT *, {_content_sql("payload::JSON")} AS content FROM ({existing})),
        repeated AS (
            SELECT message_id FROM good GROUP BY message_id HAVING count(*) > 1
        ),
        firsts AS (
            SELECT message_id, arg_min(content, {_POSITION}) AS first_content, min({_POSITION}) AS first_position
            FROM good SEMI JOIN repeated USING (message_id) GROUP BY message_id
        )
        SELECT g.file_index, g.line_number, g.item, g.message_id, g.msg,
               coalesce(CASE WHEN e.message_id IS NOT NULL THEN e.content = g.content
                             ELSE f.first_content = g.content END, false) AS is_same_content,
               e.source_file AS first_seen_file,
               f.first_position.file_index AS first_file_index,
               f.first_position.line_number AS first_line
        FROM good g
        LEFT JOIN existing e USING (message_id)
        LEFT JOIN firsts f USING (message_id)
        WHERE e.message_id IS NOT NULL
           OR (f.message_id IS NOT NULL AND {_POSITION.replace("': ", "': g.")} <> f.first_position)
        """
    )


def _insert_fresh(con: duckdb.DuckDBPyConnection, batches: list[FileBatch], fresh: str) -> dict[int, int]:
    """Insert the rows of ``fresh`` (a FROM clause over _web_typed as t) into raw.web_events; rows per file index."""
    loaded = dict(con.execute(f"SELECT t.file_index, count(*) {fresh} GROUP BY 1").fetchall())
    files = pa.table(
        {
            "file_index": pa.array(range(len(batches)), pa.int32()),
            "source_file": [b.source_file for b in batches],
            "batch_id": [b.batch_id for b in batches],
            "loaded_at": pa.array([b.loaded_at for b in batches], pa.timestamp("us")),
        }
    )
    with registered(con, "_web_files", files):
        con.execute(
            f"""
            INSERT INTO {TABLE}
            SELECT t.message_id, t.type, t.event_name, t.page_name, t.user_id, t.anonymous_id, t.group_id,
                   t.previous_id,
                   -- Clock-skew correction: the device clock error is sentAt - device time.
                   coalesce({_skew_corrected_sql("t.")}, t.timestamp_at,
                            t.original_timestamp_at, t.received_at) AS event_at,
                   t.original_timestamp_at, t.sent_at, t.received_at,
                   t.traits, t.properties, t.context,
                   t.page_url, t.page_path, t.page_title, t.page_referrer,
                   t.campaign_source, t.campaign_medium, t.campaign_name, t.campaign_term, t.campaign_content,
                   t.payload, f.source_file, t.line_number, f.batch_id, f.loaded_at
            {fresh.replace("FROM _web_typed t", "FROM _web_typed t JOIN _web_files f USING (file_index)")}
            """
        )
    return loaded
