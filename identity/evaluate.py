"""Accuracy of a resolution against ground truth: pairwise and B-cubed precision/recall/F1."""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections import Counter
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from cdp.warehouse import connect
from identity.schema import IdentityError
from ingestion import parsing

log = logging.getLogger(__name__)


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def evaluate_mappings(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> dict[str, Any]:
    """Compare record -> cluster with record -> true person, over the records both know.

    Pairwise: a pair of records is a true positive when both mappings put them together.
    B-cubed: per-record precision/recall of its cluster against its true group, averaged.
    Raises :class:`IdentityError` when no record is in both, and warns when some are in one only.
    """
    keys = [key for key in predicted if key in truth]
    _check_overlap(predicted, truth, len(keys))
    cluster_sizes = Counter(predicted[key] for key in keys)
    person_sizes = Counter(truth[key] for key in keys)
    overlap = Counter((predicted[key], truth[key]) for key in keys)
    true_positive = sum(_pairs(n) for n in overlap.values())
    predicted_pairs = sum(_pairs(n) for n in cluster_sizes.values())
    true_pairs = sum(_pairs(n) for n in person_sizes.values())
    precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    # B-cubed sums, per (cluster, person) cell, n records each scoring n/|cluster| and n/|person|.
    b3_precision = sum(n * n / cluster_sizes[c] for (c, _p), n in overlap.items()) / len(keys) if keys else 1.0
    b3_recall = sum(n * n / person_sizes[p] for (_c, p), n in overlap.items()) / len(keys) if keys else 1.0
    return {
        "records_evaluated": len(keys),
        "records_missing_from_truth": sum(1 for key in predicted if key not in truth),
        "records_missing_from_prediction": sum(1 for key in truth if key not in predicted),
        "pairwise_precision": precision,
        "pairwise_recall": recall,
        "pairwise_f1": _f1(precision, recall),
        "true_positive_pairs": true_positive,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "bcubed_precision": b3_precision,
        "bcubed_recall": b3_recall,
        "bcubed_f1": _f1(b3_precision, b3_recall),
        "predicted_clusters": len(cluster_sizes),
        "true_clusters": len(person_sizes),
        "largest_predicted_cluster": max(cluster_sizes.values(), default=0),
        "largest_true_cluster": max(person_sizes.values(), default=0),
    }


def _check_overlap(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable], shared: int) -> None:
    """Refuse to score when no record is in both mappings; warn when only some are.

    With no record in common every count is 0 and precision, recall and F1 came out 1.0: a truth
    file naming another source_system ('crm' for a file resolved as 'file') looked like a perfect
    resolution.
    """
    if not shared:
        raise IdentityError(
            f"none of the {len(predicted)} resolved records is in the truth ({len(truth)} records), so there is "
            f"nothing to score: e.g. resolved {_examples(predicted)}, truth {_examples(truth)}. The truth must "
            "name records by the same source_system and source_record_id"
        )
    if shared < len(predicted) or shared < len(truth):
        log.warning(
            "scoring only the %d records both know: %d of %d resolved records are not in the truth, "
            "%d of %d truth records not in the resolution",
            shared, len(predicted) - shared, len(predicted), len(truth) - shared, len(truth),
        )


def _examples(mapping: Mapping[Hashable, Hashable]) -> str:
    """Up to three keys of ``mapping``, for a message."""
    keys = list(itertools.islice(mapping, 3))
    return ", ".join(repr(key) for key in keys) if keys else "none"


def read_truth(truth_path: Path) -> dict[tuple[str, str], str]:
    """(source_system, source_record_id) -> person_id from a ground-truth CSV (docs/contracts.md §1)."""
    return {(row["source_system"], row["source_record_id"]): row["person_id"] for row in _truth_rows(truth_path)}


def check_truth(truth_path: Path) -> None:
    """Raise ValueError naming the file unless ``truth_path`` has a truth file's header; for a
    command to refuse a wrong truth file before its work, not after."""
    _truth_rows(truth_path)


def _truth_rows(truth_path: Path) -> csv.DictReader:
    """The rows of a truth file, read as `cdp resolve` reads its input: decoded as the ingestion
    CSV reader decodes (BOM, UTF-8, cp1252, ...), its delimiter (',', ';' or tab) sniffed or named
    by an Excel ``sep=`` line; its columns checked."""
    try:
        content = parsing.decode_text_file(Path(truth_path))[0]
    except parsing.UndecodableText as error:
        raise ValueError(f"{truth_path}: {str(error).split(': ', 1)[-1]}") from None
    named, content = parsing.separator_line(content)
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=named or parsing.sniff_delimiter(content[:65536]))
    missing = {"source_system", "source_record_id", "person_id"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{truth_path}: truth file lacks column(s) {sorted(missing)}; it has {reader.fieldnames or []}")
    return reader


def evaluate(settings: Any, truth_path: Path | None = None) -> dict[str, Any]:
    """Score the published identity.customer_map against ``truth_path`` (default settings.truth_path).

    Adds ``missed_pairs_by_shared_evidence`` (see :func:`missed_pairs_by_shared_evidence`).
    """
    truth = read_truth(Path(truth_path or settings.truth_path))
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT source_system, source_record_id, customer_id FROM identity.customer_map").fetchall()
        predicted = {(system, record): customer for system, record, customer in rows}
        scores = evaluate_mappings(predicted, truth)
        missed = missed_pairs_by_shared_evidence(con, truth)
    return {**scores, "missed_pairs_by_shared_evidence": missed}


#: What two parts of one true person that ended up in different customers have in common, strongest
#: first; a missed pair counts under the first that holds. Compared on the standardised records.
MISSED_EVIDENCE = ("email", "phone", "source_id", "name_and_birth_date", "name_and_postcode", "name_only",
                   "last_name_only", "nothing")

_MISSED_SQL = """
WITH records AS (
    SELECT t.person_id, m.customer_id, s.*
    FROM _eval_truth AS t
    INNER JOIN identity.customer_map AS m USING (source_system, source_record_id)
    INNER JOIN identity.person_records_standardised AS s USING (source_system, source_record_id)
),
split_people AS (
    SELECT person_id FROM records GROUP BY person_id HAVING count(DISTINCT customer_id) > 1
),
parts AS (
    SELECT person_id, customer_id, count(*) AS n,
           list(DISTINCT email) FILTER (WHERE email IS NOT NULL) AS emails,
           list(DISTINCT phone) FILTER (WHERE phone IS NOT NULL) AS phones,
           list_distinct(flatten(list(list_filter(
               ['user:' || web_user_id, 'anon:' || web_anonymous_id, 'card:' || loyalty_card_number],
               lambda id: id IS NOT NULL
           )))) AS ids,
           list(DISTINCT date_of_birth) FILTER (WHERE date_of_birth IS NOT NULL) AS births,
           list(DISTINCT coalesce(first_name_canonical, first_name) || '|' || last_name)
               FILTER (WHERE coalesce(first_name_canonical, first_name) IS NOT NULL AND last_name IS NOT NULL) AS names,
           list(DISTINCT postcode) FILTER (WHERE postcode IS NOT NULL) AS postcodes,
           list(DISTINCT last_name) FILTER (WHERE last_name IS NOT NULL) AS last_names
    FROM records
    WHERE person_id IN (SELECT person_id FROM split_people)
    GROUP BY person_id, customer_id
)
SELECT CASE
           WHEN list_has_any(a.emails, b.emails) THEN 'email'
           WHEN list_has_any(a.phones, b.phones) THEN 'phone'
           WHEN list_has_any(a.ids, b.ids) THEN 'source_id'
           WHEN list_has_any(a.names, b.names) AND list_has_any(a.births, b.births) THEN 'name_and_birth_date'
           WHEN list_has_any(a.names, b.names) AND list_has_any(a.postcodes, b.postcodes) THEN 'name_and_postcode'
           WHEN list_has_any(a.names, b.names) THEN 'name_only'
           WHEN list_has_any(a.last_names, b.last_names) THEN 'last_name_only'
           ELSE 'nothing'
       END AS evidence,
       sum(a.n * b.n)::BIGINT AS pairs
FROM parts AS a
INNER JOIN parts AS b ON a.person_id = b.person_id AND a.customer_id < b.customer_id
GROUP BY evidence
"""


def missed_pairs_by_shared_evidence(con: Any, truth: Mapping[tuple[str, str], str]) -> dict[str, int]:
    """The true pairs the resolution missed, by what their two records' customers share (recall's ceiling).

    When a true person's records are spread over several customers, each two of those parts miss
    ``n_a * n_b`` pairs. The parts are compared on their standardised records, all values of a part
    at once: a missed pair counts under the strongest evidence the two parts share, in the order
    of :data:`MISSED_EVIDENCE` ("name" is the canonical first name with the last name; "last name
    only" is, for example, a nickname the canonical form does not resolve). Pairs whose parts share
    an email, phone or source id were cut by a guard; pairs that share only a name are what no rule
    could link without also merging namesakes. The values add up to
    ``true_pairs - true_positive_pairs`` of :func:`evaluate_mappings` over the records both know.
    """
    import pyarrow as pa

    keys = list(truth)
    con.register("_eval_truth_arrow", pa.table({
        "source_system": [system for system, _record in keys],
        "source_record_id": [record for _system, record in keys],
        "person_id": list(truth.values()),
    }))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _eval_truth AS SELECT * FROM _eval_truth_arrow")
        counts = dict(con.execute(_MISSED_SQL).fetchall())
    finally:
        con.execute("DROP TABLE IF EXISTS _eval_truth")
        con.unregister("_eval_truth_arrow")
    return {evidence: int(counts.get(evidence, 0)) for evidence in MISSED_EVIDENCE}
