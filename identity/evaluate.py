"""Accuracy of a resolution against ground truth: pairwise and B-cubed precision/recall/F1."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from cdp.warehouse import connect


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def evaluate_mappings(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> dict[str, Any]:
    """Compare record -> cluster with record -> true person, over the records both know.

    Pairwise: a pair of records is a true positive when both mappings put them together.
    B-cubed: per-record precision/recall of its cluster against its true group, averaged.
    """
    keys = [key for key in predicted if key in truth]
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


def read_truth(truth_path: Path) -> dict[tuple[str, str], str]:
    """(source_system, source_record_id) -> person_id from a ground-truth CSV (docs/contracts.md §1)."""
    with Path(truth_path).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"source_system", "source_record_id", "person_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{truth_path}: truth file lacks column(s) {sorted(missing)}")
        return {(row["source_system"], row["source_record_id"]): row["person_id"] for row in reader}


def evaluate(settings: Any, truth_path: Path | None = None) -> dict[str, Any]:
    """Score the published identity.customer_map against ``truth_path`` (default settings.truth_path)."""
    truth = read_truth(Path(truth_path or settings.truth_path))
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT source_system, source_record_id, customer_id FROM identity.customer_map").fetchall()
    predicted = {(system, record): customer for system, record, customer in rows}
    return evaluate_mappings(predicted, truth)
