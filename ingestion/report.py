"""What one source's ingestion did in one run: the counts the CLI prints and the quality gate reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class IngestReport:
    """Counts for one source in one run (summed over its files or tables)."""

    source: str
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped_duplicate: int = 0
    files_failed: int = 0
    messages: list[str] = field(default_factory=list)

    def add(self, outcome: BatchOutcome) -> None:
        """Fold one batch (file or table range) into the source totals."""
        self.files_seen += 1
        if outcome.status in ("loaded", "replaced_changed_file"):
            self.files_loaded += 1
        elif outcome.status == "skipped_already_loaded":
            self.files_skipped += 1
        else:
            self.files_failed += 1
        self.rows_read += outcome.rows_read
        self.rows_loaded += outcome.rows_loaded
        self.rows_quarantined += outcome.rows_quarantined
        self.rows_skipped_duplicate += outcome.rows_skipped
        if outcome.message:
            self.messages.append(f"{outcome.source_object}: {outcome.message}")

    def as_dict(self) -> dict:
        """Plain dict for JSON output and XCom."""
        return asdict(self)


@dataclass
class BatchOutcome:
    """Result of one batch: one manifest row."""

    source_object: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    message: str | None = None
