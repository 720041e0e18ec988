"""The suppression list (erasure / opt-out requests) into raw.suppression_list.

The table is append-only: it is never truncated and a request already present (same
identifier_type, identifier and reason) is not added again. When the file changes (new requests
appended), it is re-read and only the new requests are inserted; requests that disappear from the
file are kept, because a privacy request cannot be withdrawn by editing a CSV.

``reason`` is read from the wordings people write (``_normalise_reason``): "GDPR erasure",
"right to be forgotten", "delete my data" ... are ``erasure`` (exports then also scrub the person
from retained runs), "unsubscribe", "do not contact" ... are ``opt_out``. A request with a usable
identifier is always loaded: a reason still not recognised is loaded as ``opt_out`` (the person
is never exported, but is NOT erased) and an unreadable ``requested_at`` as NULL, and the row is ALSO written to
meta.quarantine (reason ``loaded-with-warning: ...``) for a person to check. Only a row that
identifies nobody (bad identifier_type, empty identifier) is quarantine-only.
"""

from __future__ import annotations

import csv
import io
import re

import duckdb
import pyarrow as pa

from cdp.settings import Settings
from ingestion import parsing
from ingestion.csv_records import strip_edges, without_zero_width
from ingestion.file_batches import (
    CheckedCsvReader,
    FileBatch,
    LoadCounts,
    RejectedFile,
    ingest_files,
    registered,
    reject_unclosed_quote,
)
from ingestion.report import IngestReport

SOURCE = "csv"
TABLE = "raw.suppression_list"
IDENTIFIER_TYPES = ("email", "phone", "customer_id")
REASONS = ("erasure", "opt_out")
HEADER = ("identifier_type", "identifier", "reason", "requested_at")

SUPPRESSION_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    identifier_type VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    requested_at TIMESTAMP,
    _source_file VARCHAR NOT NULL,
    _source_line BIGINT,
    _batch_id VARCHAR NOT NULL,
    _loaded_at TIMESTAMP NOT NULL
)
"""


def ingest_suppression(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, report: IngestReport
) -> None:
    """Append new requests from settings.suppression_path (if present) and fold counts into ``report``."""
    con.execute(SUPPRESSION_DDL)
    path = settings.suppression_path
    if not path.exists():
        return
    sub = ingest_files(con, settings, run_id, SOURCE, [path], load_file, lambda con, source_file: None)
    for name in (
        "files_seen", "files_loaded", "files_skipped", "files_failed", "rows_read", "rows_loaded",
        "rows_quarantined", "rows_skipped_duplicate",
    ):  # fmt: skip
        setattr(report, name, getattr(report, name) + getattr(sub, name))
    report.messages.extend(sub.messages)


# The wordings read as each reason: single words, or phrases of whole words. Erasure (GDPR art. 17,
# CCPA deletion) wins over opt-out ("opt out and delete my data"): the stricter request must not be
# lost. Ambiguous words ("remove": from a list, or my data?) are left out, so they are flagged.
ERASURE_WORDS = frozenset({
    "erasure", "erase", "erased", "delete", "deleted", "deletion", "forget", "forgotten", "rtbf",
    "purge", "anonymise", "anonymize", "art17",
})  # fmt: skip
ERASURE_PHRASES = ("right_to_be_forgotten", "right_to_erasure", "article_17", "art_17")
OPT_OUT_WORDS = frozenset({"optout", "unsubscribe", "unsubscribed", "unsub", "stop", "dnc", "suppress"})
OPT_OUT_PHRASES = (
    "opt_out", "opted_out", "do_not_contact", "do_not_email", "do_not_call", "do_not_sell", "do_not_mail",
    "no_marketing", "withdraw_consent", "consent_withdrawn",
)  # fmt: skip


def _normalise_reason(reason: str) -> str:
    """``erasure`` or ``opt_out`` for the wordings people write (see ERASURE_WORDS); other text folded.

    Case, punctuation and spacing do not matter: "GDPR Erasure", "erasure-request", "Right to be
    forgotten", "delete my data" are erasure; "Opt-Out", "opt out", "unsubscribed" are opt_out.
    """
    folded = "_".join(re.sub(r"[^0-9a-z]+", " ", reason.lower()).split())
    words, padded = set(folded.split("_")), f"_{folded}_"
    if words & ERASURE_WORDS or any(f"_{phrase}_" in padded for phrase in ERASURE_PHRASES):
        return "erasure"
    if words & OPT_OUT_WORDS or any(f"_{phrase}_" in padded for phrase in OPT_OUT_PHRASES):
        return "opt_out"
    return folded


def load_file(con: duckdb.DuckDBPyConnection, batch: FileBatch) -> LoadCounts:
    """Validate the suppression CSV and insert requests not yet in the table."""
    try:
        content, _ = parsing.decode_text_file(batch.path)
    except parsing.UndecodableText as exc:
        raise RejectedFile(str(exc), field="encoding") from None
    content, delimiter, first_line = parsing.csv_text(content)
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    checked = lines = reader.reader = CheckedCsvReader(batch, content, delimiter, first_line)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [h for h in HEADER if h not in header]
    if missing:
        raise RejectedFile(
            f"{batch.path.name}: missing columns {', '.join(missing)}; found {', '.join(header)}; "
            f"expected {', '.join(HEADER)}",
            field="header",
            raw_text=",".join(header),
        )
    reader.fieldnames = header
    rows, read = [], 0
    for record in reader:
        read += 1
        line, raw = lines.first_line, lines.text()  # where the record starts; its text as written
        identifier_type = (record.get("identifier_type") or "").strip().lower()
        # Whitespace and zero-width characters (a BOM, "\u200b" pasted from a web page) around the
        # identifier are not part of it, as identity and the exports' matcher read it.
        identifier = strip_edges(record.get("identifier") or "")
        reason = (record.get("reason") or "").strip().lower()
        if identifier_type not in IDENTIFIER_TYPES:
            batch.reject(line, "identifier_type", f"invalid-value: identifier_type {identifier_type!r} "
                         f"not in {', '.join(IDENTIFIER_TYPES)}; the request identifies nobody, fix the row", raw)  # fmt: skip
            continue
        if not identifier:
            batch.reject(line, "identifier", "missing-id: identifier is empty", raw)
            continue
        # From here the request identifies someone, so it is ALWAYS loaded (suppression is
        # fail-safe); a problem with its other fields is flagged in quarantine for a person.
        reason = _normalise_reason(reason)
        if reason not in REASONS:
            batch.reject(line, "reason", f"loaded-with-warning: reason {reason!r} is not a "
                         "known erasure or opt-out wording; loaded as 'opt_out' so the person is never "
                         "exported, but NOT treated as an erasure: their data was not erased. If it is "
                         "an erasure request, correct the reason to 'erasure' (or add the wording to "
                         "ingestion/suppression.py ERASURE_WORDS)", raw)  # fmt: skip
            reason = "opt_out"
        try:
            requested_at = parsing.timestamp(record.get("requested_at"), "requested_at")
        except parsing.BadValue as exc:
            batch.reject(line, "requested_at", f"loaded-with-warning: {exc}; loaded with "
                         "requested_at NULL", raw)  # fmt: skip
            requested_at = None
        if identifier_type == "email":
            # E-mails match case-insensitively, and no address holds an invisible character: one
            # pasted inside ("ada\u200b@example.com") is dropped, as the exports' matcher drops it.
            identifier = without_zero_width(identifier.lower())
        rows.append((identifier_type, identifier, reason, requested_at, line))
    read += reject_unclosed_quote(batch, checked.unclosed, header)
    if not rows:
        return LoadCounts(rows_read=read, rows_loaded=0)
    table = pa.table(
        {
            "identifier_type": [r[0] for r in rows],
            "identifier": [r[1] for r in rows],
            "reason": [r[2] for r in rows],
            "requested_at": pa.array([r[3] for r in rows], pa.timestamp("us")),
            "_source_line": [r[4] for r in rows],
        }
    )
    with registered(con, "_suppression_batch", table):
        loaded = con.execute(
            f"""
            INSERT INTO {TABLE}
            SELECT identifier_type, identifier, reason, requested_at, ?, _source_line, ?, ?
            FROM (
                SELECT * FROM _suppression_batch
                QUALIFY row_number() OVER (PARTITION BY identifier_type, identifier, reason ORDER BY _source_line) = 1
            ) n
            WHERE NOT EXISTS (
                SELECT 1 FROM {TABLE} o
                WHERE o.identifier_type = n.identifier_type AND o.identifier = n.identifier AND o.reason = n.reason
            )
            """,
            [batch.source_file, batch.batch_id, batch.loaded_at],
        ).fetchall()[0][0]
    # Flagged rows are both loaded (or skipped as repeats) and counted in rows_quarantined.
    return LoadCounts(rows_read=read, rows_loaded=loaded, rows_skipped=len(rows) - loaded)
