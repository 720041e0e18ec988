"""Small file-writing helpers shared by the source writers: timestamps, truth file, gzip files."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, timedelta
from pathlib import Path
from typing import IO

_EPOCH = date(1970, 1, 1)
TRUTH_HEADER = ("source_system", "source_record_id", "person_id")


class TimeFormatter:
    """Formats epoch milliseconds fast (millions of calls) by caching each day's date string."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._minutes: dict[int, str] = {}  # "YYYY-MM-DDTHH:MM:" by epoch minute

    def day(self, epoch_seconds: int) -> str:
        """YYYY-MM-DD of an epoch second."""
        day_number = epoch_seconds // 86400
        text = self._days.get(day_number)
        if text is None:
            text = (_EPOCH + timedelta(days=day_number)).isoformat()
            self._days[day_number] = text
        return text

    def rfc3339_ms(self, epoch_ms: int) -> str:
        """2026-11-23T10:15:02.123Z"""
        minute, rest = divmod(epoch_ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 200_000:
                self._minutes.clear()
            seconds = minute * 60
            of_day = seconds % 86400
            prefix = f"{self.day(seconds)}T{of_day // 3600:02d}:{of_day % 3600 // 60:02d}:"
            self._minutes[minute] = prefix
        return f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"

    def iso_z(self, epoch_seconds: int) -> str:
        """2026-11-23T10:15:02Z"""
        rest = epoch_seconds % 86400
        return f"{self.day(epoch_seconds)}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}Z"

    def sql(self, epoch_seconds: int) -> str:
        """2026-11-23 10:15:02 (the POS database's text timestamps)."""
        rest = epoch_seconds % 86400
        return f"{self.day(epoch_seconds)} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def epoch_seconds(day: date) -> int:
    """Midnight UTC of ``day`` in epoch seconds."""
    return (day - _EPOCH).days * 86400


class TruthWriter:
    """Streams truth/ground_truth.csv: the real person behind every person record written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(TRUTH_HEADER)
        self.rows = 0

    def add(self, source_system: str, source_record_id: str, person_id: str) -> None:
        """Record that ``source_record_id`` of ``source_system`` belongs to ``person_id``."""
        self._writer.writerow((source_system, source_record_id, person_id))
        self.rows += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


def open_gzip_text(path: Path, compresslevel: int = 3) -> IO[str]:
    """A text writer to a gzip file whose bytes depend only on its content (mtime 0, no name)."""
    raw = path.open("wb")
    compressed = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel)
    return _ClosingTextWrapper(compressed, raw)


class _ClosingTextWrapper(io.TextIOWrapper):
    # GzipFile does not close a fileobj it was handed; this closes both, in order.
    def __init__(self, compressed: gzip.GzipFile, raw: IO[bytes]) -> None:
        super().__init__(compressed, encoding="utf-8", newline="\n", write_through=False)
        self._raw = raw

    def close(self) -> None:
        super().close()
        self._raw.close()
