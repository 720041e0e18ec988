"""meta.ingest_manifest: one row per file or watermark range per run, written in the batch's transaction.

The manifest is what makes reruns safe. A file is identified by its name in the source's landing
folder (the manifest keeps the absolute path; see ``file_key``) and SHA-256 (a file
whose ``os.stat`` signature - size, modification and change times, inode, device - is the one
recorded when it was last seen keeps that SHA-256 without being read again, unless the setting
``verify_file_checksums`` is on; rewriting a file always moves its change time):

* same file, same checksum as a loaded batch -> ``skipped_already_loaded`` (nothing is read);
* same file, different checksum -> the file changed after we loaded it. We deliberately reload it,
  replacing the rows that earlier version produced (under the path it was loaded from), and
  record ``replaced_changed_file``;
* a new file whose checksum is the latest load of another file of the same source (a renamed copy)
  -> skipped (content loaded only by a version that was replaced since no longer counts);
* a file that failed earlier is attempted again (its mapping or content may have been fixed).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePath

import duckdb

from cdp.clock import audit_now
from cdp.warehouse import transaction as warehouse_transaction
from ingestion.quarantine import ensure_quarantine_table

MANIFEST_DDL = """
CREATE TABLE IF NOT EXISTS meta.ingest_manifest (
    batch_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_object VARCHAR NOT NULL,
    file_size BIGINT,
    file_sha256 VARCHAR,
    file_signature VARCHAR,
    watermark_from TIMESTAMP,
    watermark_to TIMESTAMP,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_skipped BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    message VARCHAR
)
"""

LOADED_STATUSES = ("loaded", "replaced_changed_file")
SKIPPED_STATUS = "skipped_already_loaded"


@dataclass
class ManifestEntry:
    """One manifest row."""

    batch_id: str
    run_id: str
    source: str
    source_object: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    file_size: int | None = None
    file_sha256: str | None = None
    file_signature: str | None = None
    watermark_from: datetime | None = None
    watermark_to: datetime | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    message: str | None = None


@dataclass
class PriorLoad:
    """What the manifest already knows about a file: decides skip, load or replace."""

    action: str  # "load", "skip" or "replace"
    message: str | None = None
    # For "replace": the path the earlier version was loaded from, whose rows are deleted (the same
    # path unless the landing folder moved since).
    source_object: str | None = None


def ensure_meta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create meta.ingest_manifest and meta.quarantine when missing."""
    con.execute(MANIFEST_DDL)
    # Warehouses created before the column existed get it (NULL: their files are read once more).
    con.execute("ALTER TABLE meta.ingest_manifest ADD COLUMN IF NOT EXISTS file_signature VARCHAR")
    ensure_quarantine_table(con)


def new_batch_id(source: str) -> str:
    """A unique batch id; run ids repeat when a day is rerun, so they cannot serve as batch ids."""
    return f"{source}-{uuid.uuid4().hex[:16]}"


def fingerprint(path: Path) -> tuple[int, str]:
    """Size in bytes and SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def stat_signature(path: Path) -> str:
    """Size, modification and change times (ns), inode and device of a file.

    On a local Linux filesystem a file rewritten in place or replaced gets a new change time
    (which, unlike the modification time, no tool can set back) or a new inode, so an equal
    signature means the bytes recorded with it are still the file's bytes. Some network and FUSE
    mounts (and Windows, where st_ctime is the creation time) do not keep that promise: the
    setting ``verify_file_checksums`` makes every run hash every file.
    """
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def file_key(source_object: str) -> str:
    """What identifies a file of a source across runs: its path relative to the source's landing folder.

    A source's files are the direct children of its landing folder (``landing_files``), so that is
    the file name. The manifest records absolute paths (older rows too): matching on the name keeps
    a file the same file when the landing folder moves (new mount, new CDP_HOME).
    """
    return PurePath(source_object).name


class PriorLoads:
    """The manifest's loaded files of one source, read in one query: decides skip, load or replace per file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, verify_checksums: bool = True):
        self.source, self.verify_checksums = source, verify_checksums
        self._hashed: dict[tuple[str, str], tuple[int, str]] = {}  # this run's checksums, by path and signature
        self._expected: list[Path] = []
        self.reload(con)

    def reload(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read the manifest again: after a rollback, files ``add`` noted for it were not loaded."""
        source, verify_checksums = self.source, self.verify_checksums
        rows = con.execute(
            f"""
            SELECT source_object, file_sha256, batch_id, status, file_signature FROM meta.ingest_manifest
            WHERE source = ? AND status IN {(*LOADED_STATUSES, SKIPPED_STATUS)} AND file_sha256 IS NOT NULL
            ORDER BY finished_at
            """,
            [source],
        ).fetchall()
        loaded = [row for row in rows if row[3] in LOADED_STATUSES]
        # Later rows overwrite earlier ones: the latest load of each file wins (wherever it was loaded from).
        self._latest = {file_key(path): (sha256, batch_id, path) for path, sha256, batch_id, _, _ in loaded}
        # Content some file still holds: a version that was replaced since has no rows any more.
        self._by_checksum: dict[str, str] = {}
        for sha256, _, path in self._latest.values():
            self._by_checksum.setdefault(sha256, path)
        # The latest time each path was seen (loaded or skipped): its signature and checksum then.
        self._seen = {} if verify_checksums else {
            path: (signature, sha256) for path, sha256, _, _, signature in rows if signature
        }
        self._changing = self._changed_files()

    def expect(self, paths: list[Path]) -> None:
        """Note the files this run will go through, before any is decided.

        A loaded file whose content changed is replaced later in the run, and its earlier rows go:
        it is then no twin for a renamed copy of that earlier content seen before it (a copy
        ``a.ndjson`` of ``b.ndjson``'s old content, with ``b`` changed, loads instead of being
        skipped as already loaded, and the replacement of ``b`` restores its rows from it).
        """
        self._expected = list(paths)
        self._changing = self._changed_files()

    def _changed_files(self) -> set[str]:
        """Keys of the expected files whose content differs from their latest load."""
        return {
            file_key(str(path)) for path in self._expected
            if (latest := self._latest.get(file_key(str(path)))) is not None and latest[0] != self.fingerprint(path)[1]
        }  # fmt: skip

    def latest_loads(self) -> dict[str, tuple[str, str, str]]:
        """File key -> (SHA-256, batch id, path loaded from) of each file's latest load."""
        return dict(self._latest)

    def fingerprint(self, path: Path) -> tuple[int, str, str]:
        """Size, SHA-256 and stat signature of a file; the SHA-256 is reused when the signature is unchanged."""
        signature = stat_signature(path)
        seen = self._seen.get(str(path))
        if seen is not None and seen[0] == signature:
            return int(signature.split(":", 1)[0]), seen[1], signature
        if (str(path), signature) not in self._hashed:
            # Read after the stat: a file changed in between gets a new signature next time, so is read again.
            self._hashed[(str(path), signature)] = fingerprint(path)
        size, sha256 = self._hashed[(str(path), signature)]
        return size, sha256, signature

    def decide(self, source_object: str, sha256: str) -> PriorLoad:
        """Skip (unchanged, or a renamed copy), replace (checksum changed) or load (new)."""
        latest = self._latest.get(file_key(source_object))
        if latest is not None:
            moved = f" (loaded from {latest[2]})" if latest[2] != source_object else ""
            if latest[0] == sha256:
                return PriorLoad("skip", f"unchanged since batch {latest[1]}{moved}")
            return PriorLoad(
                "replace", f"checksum changed since batch {latest[1]}{moved}: earlier rows replaced", latest[2]
            )
        twin = self._by_checksum.get(sha256)
        if twin is not None and file_key(twin) in self._changing:
            # Its holder is replaced later in this run: another file still holding it, or a load.
            twin = next(
                (path for held, _, path in self._latest.values() if held == sha256
                 and file_key(path) not in self._changing),
                None,
            )  # fmt: skip
        if twin is not None:
            return PriorLoad("skip", f"identical content already loaded from {twin}")
        return PriorLoad("load")

    def add(self, source_object: str, sha256: str, batch_id: str) -> None:
        """Note a file this run loaded (or is loading, in a group), so a renamed copy later in the run is skipped."""
        previous = self._latest.get(file_key(source_object))
        self._latest[file_key(source_object)] = (sha256, batch_id, source_object)
        self._changing.discard(file_key(source_object))
        if previous is not None and previous[0] != sha256 and self._by_checksum.get(previous[0]) == previous[2]:
            # The replaced version's rows are gone: its content is loaded only if another file holds it.
            del self._by_checksum[previous[0]]
            holder = next((path for held, _, path in self._latest.values() if held == previous[0]), None)
            if holder is not None:
                self._by_checksum[previous[0]] = holder
        self._by_checksum.setdefault(sha256, source_object)


def record(con: duckdb.DuckDBPyConnection, entry: ManifestEntry) -> None:
    """Insert one manifest row (inside the caller's transaction)."""
    values = asdict(entry)
    if values["finished_at"] is None:
        values["finished_at"] = audit_now()
    columns = list(values)
    con.execute(
        f"INSERT INTO meta.ingest_manifest ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [values[c] for c in columns],
    )


# One batch = one transaction (the shared helper; ingestion code calls it as manifest.transaction).
transaction = warehouse_transaction
