"""Acceptance test against the public Segment corpus in ../shared/corpora/segment (skips when absent).

valid.ndjson, batch.ndjson and malformed.ndjson are ingested in that order into one warehouse, as
the corpus labels assume. Every valid message must load with its typed fields and skew-corrected
timestamp; every malformed record must get its labelled category or a listed acceptable alternative.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp.warehouse import connect
from ingestion.runner import ingest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "segment"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Segment corpus not found at {CORPUS}"),
]
ORDER = ("valid.ndjson", "batch.ndjson", "malformed.ndjson")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from datetime import date

    from cdp.settings import Settings

    home = tmp_path_factory.mktemp("corpus")
    settings = Settings(home=home, run_date=date(2026, 11, 23))
    settings.web_landing_dir.mkdir(parents=True)
    files = {}
    for number, name in enumerate(ORDER, 1):
        files[name] = str(
            Path(shutil.copy(CORPUS / name, settings.web_landing_dir / f"{number}-{name}")).resolve()
        )
    [report] = ingest(settings, "corpus-run", "web")
    with connect(settings, read_only=True) as con:
        events = con.execute(
            "SELECT message_id, type, event_name, page_name, user_id, anonymous_id, group_id, previous_id, event_at, "
            "_source_file, _source_line FROM raw.web_events"
        ).fetchall()
        quarantine = con.execute(
            "SELECT source_file, line_number, field, reason FROM meta.quarantine"
        ).fetchall()
    return settings, files, report, events, quarantine


def test_every_valid_message_loads_typed_and_skew_corrected(loaded):
    _, _, _, events, quarantine = loaded
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["messages"]
    by_id = {row[0]: row for row in events}
    checked = 0
    for message_id, want in expected.items():
        if want["status"] != "valid":
            continue
        assert message_id in by_id, f"{message_id} ({want['file']}:{want['line']}) was not loaded"
        row = by_id[message_id]
        assert row[1] == want["type"], message_id
        assert row[4] == want["userId"] and row[5] == want["anonymousId"], message_id
        assert row[6] == want["groupId"] and row[7] == want["previousId"], message_id
        if want["type"] == "track":
            assert row[2] == want["event"], message_id
        if want["type"] in ("page", "screen"):
            assert row[3] == want["name"], message_id
        times = want["timestamps"]
        if want["skew_corrected_timestamp"]:
            assert row[8] == _utc(want["skew_corrected_timestamp"]), message_id
        else:
            first = next(
                (times[k] for k in ("timestamp", "originalTimestamp", "receivedAt") if k in times), None
            )
            assert row[8] == (_utc(first) if first else None), message_id
        checked += 1
    assert checked == 66
    invalid = [m for m, w in expected.items() if w["status"] != "valid"]
    batch_reasons = [r[3] for r in quarantine if r[0].endswith("2-batch.ndjson")]
    assert len(batch_reasons) == len(invalid) and all(
        r.startswith("invalid-timestamp") for r in batch_reasons
    )


def test_every_malformed_record_gets_its_category_or_an_accepted_alternative(loaded):
    _, files, _, events, quarantine = loaded
    path = files["malformed.ndjson"]
    records = json.loads((CORPUS / "malformed_expected.json").read_text(encoding="utf-8"))["records"]
    loaded_lines = {row[10] for row in events if row[9] == path}
    reasons: dict[int, list[str]] = {}
    for source_file, line, _field, reason in quarantine:
        if source_file == path:
            reasons.setdefault(line, []).append(reason.split(":")[0])
    mismatches = []
    for record in records:
        line, category = record["line"], record["category"]
        accepted = {category} | {alt.split(" (")[0] for alt in record.get("acceptable_alternatives", [])}
        if line in reasons and line in loaded_lines:
            # A batch envelope unwrapped: some items loaded, some quarantined.
            outcome = "unwrap the batch"
        elif line in reasons:
            outcome = reasons[line][0]
        elif line in loaded_lines:
            outcome = "valid"
        else:
            outcome = "skip-empty" if category == "skip-empty" else "valid-duplicate"
        if outcome not in accepted:
            mismatches.append(
                f"line {line}: got {outcome}, expected {sorted(accepted)} ({record['detail'][:60]})"
            )
    assert not mismatches, "\n".join(mismatches)
    assert len(records) == 69
