"""Fingerprints of what a stored, reusable result depends on besides its input rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def code_fingerprint(files: Iterable[Path], *parts: object) -> str:
    """SHA-256 over the bytes of ``files`` (source modules, model files), then ``|part`` for each of
    ``parts`` (settings, SQL, library versions), as lower-case hex.

    Results tagged with it (a table comment, a column) are reused only while it is unchanged: any
    edit to one of the files, a new library version or another setting recomputes them once.
    """
    digest = hashlib.sha256()
    for path in files:
        digest.update(Path(path).read_bytes())
    digest.update("".join(f"|{part}" for part in parts).encode())
    return digest.hexdigest()
