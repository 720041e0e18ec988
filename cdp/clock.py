"""The one wall clock of the project, for audit columns only.

Business logic never reads the clock: it uses ``Settings.run_date`` (the logical date), so a rerun
or a backfill computes the same answer. Audit columns (``loaded_at``, ``checked_at``,
``exported_at``, stage start/end) record when something really happened, and use this. So does
the store source's read time: its watermark must never pass the moment the rows were read.
"""

from __future__ import annotations

from datetime import UTC, datetime


def audit_now() -> datetime:
    """Current UTC time as a naive datetime (the warehouse stores UTC without an offset)."""
    return datetime.now(UTC).replace(tzinfo=None)
