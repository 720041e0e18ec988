"""Atomic publication of an export folder under ``export_dir/<segment>/<destination>/<run_id>/``.

Files are written into a staging folder inside ``export_dir`` (same file system, so a rename is
atomic), checked, then renamed into place. Consumers follow the ``latest`` pointer file, which is
replaced atomically only after the export is recorded in the warehouse.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_FOLDER = ".staging"
LOCK_FILE = ".export.lock"
LATEST_POINTER = "latest"
MANIFEST = "manifest.json"

_SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$")


class UnsafeExportPath(ValueError):
    """A segment name or run id would place files outside the export folder."""


def validate_segment_name(name: str) -> str:
    """Return ``name`` when it is safe as one folder name (letters, digits, ``_``, ``-``)."""
    if not isinstance(name, str) or not _SEGMENT_NAME.match(name):
        raise UnsafeExportPath(
            f"segment name {name!r} cannot be used as an export folder: expected letters, digits, '_' or '-' "
            "(starting with a letter or digit, at most 128 characters)")
    return name


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` when it is safe as one folder name."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id or run_id == LATEST_POINTER:
        raise UnsafeExportPath(
            f"run id {run_id!r} cannot be used as an export folder: expected letters, digits and _ . : + - "
            f"(no '/' and no '..', and not {LATEST_POINTER!r})")
    return run_id


def contained(export_dir: Path, *parts: str) -> Path:
    """``export_dir/parts...`` resolved, refusing anything that lands outside ``export_dir``.

    Resolving follows symlinks, so a segment folder linked elsewhere is refused too.
    """
    root = Path(export_dir).resolve()
    target = root.joinpath(*parts).resolve()
    if target == root or not target.is_relative_to(root):
        raise UnsafeExportPath(f"export path {target} is outside the export folder {root}")
    return target


def export_path(export_dir: Path, segment: str, destination: str, run_id: str) -> Path:
    """Folder of one published export, validated to stay inside ``export_dir``."""
    return contained(export_dir, validate_segment_name(segment), destination, validate_run_id(run_id))


def new_staging_dir(export_dir: Path, label: str) -> Path:
    """A fresh, empty folder inside ``export_dir`` to write an export into before publishing."""
    staging = contained(export_dir, STAGING_FOLDER, f"{label}-{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    return staging


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, lower-case hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: dict, files: dict[str, dict]) -> Path:
    """Write manifest.json listing every file in ``folder`` with its SHA-256 and size."""
    entries = []
    for name in sorted(files):
        path = folder / name
        entries.append({"name": name, **files[name], "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    body = {**manifest, "files": entries}
    path = folder / MANIFEST
    path.write_text(json.dumps(body, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def aside_path(export_dir: Path) -> Path:
    """A fresh path in the staging folder where ``move_into_place`` may move a replaced folder."""
    return Path(export_dir) / STAGING_FOLDER / f"replaced-{uuid.uuid4().hex}"


def move_into_place(staging: Path, target: Path, aside: Path | None = None) -> Path | None:
    """Rename ``staging`` to ``target``; an existing ``target`` (a rerun) is moved aside and returned.

    ``aside``: where to move it (default: a fresh path beside ``staging``). The caller deletes the
    returned folder once the export is recorded, or hands it to ``roll_back`` to put it back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    replaced = None
    if target.exists():
        replaced = aside or staging.parent / f"replaced-{uuid.uuid4().hex}"
        os.replace(target, replaced)
    try:
        os.replace(staging, target)
    except OSError:
        if replaced is not None:
            os.replace(replaced, target)
        raise
    return replaced


def roll_back(target: Path, replaced: Path | None) -> None:
    """Undo ``move_into_place``: remove the new folder and restore the one it replaced."""
    shutil.rmtree(target, ignore_errors=True)
    if replaced is not None:
        os.replace(replaced, target)


def update_latest(export_dir: Path, segment: str, destination: str, run_id: str) -> Path:
    """Point ``<segment>/<destination>/latest`` at ``run_id`` (write-then-rename, so never half-written)."""
    pointer = contained(export_dir, segment, destination, LATEST_POINTER)
    temp = pointer.with_name(f".{LATEST_POINTER}-{uuid.uuid4().hex}")
    temp.write_text(run_id + "\n", encoding="utf-8")
    os.replace(temp, pointer)
    return pointer


def read_latest(export_dir: Path, segment: str, destination: str) -> str | None:
    """Run id the ``latest`` pointer names, or None before the first publication."""
    pointer = contained(export_dir, segment, destination, LATEST_POINTER)
    return pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None


@contextmanager
def export_lock(export_dir: Path) -> Iterator[None]:
    """Hold the export folder's lock: one export at a time writes there (others wait).

    The warehouse connection is not held while files are staged, so it cannot be the guard.
    """
    Path(export_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(export_dir) / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_staging(export_dir: Path) -> list[Path]:
    """Delete what a killed export left in ``export_dir/.staging``; returns the removed paths.

    Call it under ``export_lock``: then anything already in the staging folder is a leftover.
    """
    staging = Path(export_dir) / STAGING_FOLDER
    if not staging.is_dir():
        return []
    removed = []
    for leftover in sorted(staging.iterdir()):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def prune_runs(export_dir: Path, segment: str, destination: str, drop_run_ids: set[str]) -> list[str]:
    """Delete the run folders of ``segment/destination`` named in ``drop_run_ids``; returns those deleted.

    The folder ``latest`` names is always kept, and folders of runs not named (unknown to the
    export log) are never touched.
    """
    latest = read_latest(export_dir, segment, destination)
    pruned = []
    for run_id in sorted(drop_run_ids):
        if run_id == latest:
            continue
        run_folder = export_path(export_dir, segment, destination, run_id)
        if run_folder.is_dir():
            shutil.rmtree(run_folder)
            pruned.append(run_id)
    return pruned
