"""The standalone dedupe tool on a small committed CSV, and the accuracy metrics it reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from identity.evaluate import evaluate_mappings
from identity.resolve_file import resolve_file
from identity.schema import IdentityError

FIXTURES = Path(__file__).parent / "fixtures"


def _read(path: Path) -> dict[tuple[str, str], str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["source_system"], row["source_record_id"]): row["customer_id"] for row in csv.DictReader(handle)}


def test_resolve_file_dedupes_a_small_csv(settings, tmp_path: Path) -> None:
    output = tmp_path / "out" / "customers.csv"
    result = resolve_file(FIXTURES / "people.csv", output, settings, truth=FIXTURES / "people_truth.csv")
    customers = _read(output)
    assert len(customers) == 10  # every record exactly once, unknown column ignored
    assert customers[("crm", "1")] == customers[("web", "user:77")] == customers[("store", "3")]
    assert customers[("crm", "2")] == customers[("newsletter", "8")]
    assert customers[("crm", "3")] == customers[("store", "9")]
    # David shares Chloe's address and phone: a household, not one person.
    assert customers[("crm", "4")] != customers[("crm", "3")]
    assert result["customers"] == 6
    assert result["metrics"]["pairwise_f1"] == 1.0


def test_resolve_file_reads_parquet_without_ids_and_writes_parquet(settings, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({
        "first_name": ["Ann", "ann", "Bob"],
        "last_name": ["Lee", "Lee", "Stone"],
        "email": ["ann.lee@example.com", " ANN.LEE@example.com", "bob@example.com"],
    }), source)
    output = tmp_path / "out.parquet"
    result = resolve_file(source, output, settings)
    table = pq.read_table(output).to_pylist()
    assert [(row["source_system"], row["source_record_id"]) for row in table] == [
        ("file", "1"), ("file", "2"), ("file", "3")]
    assert table[0]["customer_id"] == table[1]["customer_id"] != table[2]["customer_id"]
    assert result["customers"] == 2


def test_resolve_file_explains_bad_input(settings, tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="file not found"):
        resolve_file(tmp_path / "missing.csv", tmp_path / "out.csv", settings)
    unrelated = tmp_path / "unrelated.csv"
    unrelated.write_text("sku,price\nA1,3\n", encoding="utf-8")
    with pytest.raises(IdentityError, match="none of the person-record columns"):
        resolve_file(unrelated, tmp_path / "out.csv", settings)
    duplicated = tmp_path / "dup.csv"
    duplicated.write_text("source_system,source_record_id,email\ncrm,1,a@x.com\ncrm,1,b@x.com\n", encoding="utf-8")
    with pytest.raises(IdentityError, match="appears more than once"):
        resolve_file(duplicated, tmp_path / "out.csv", settings)


def test_evaluate_mappings_counts_pairs_and_bcubed() -> None:
    truth = {"a": 1, "b": 1, "c": 1, "d": 2}
    perfect = evaluate_mappings({"a": "x", "b": "x", "c": "x", "d": "y"}, truth)
    assert perfect["pairwise_f1"] == perfect["bcubed_f1"] == 1.0
    over = evaluate_mappings({"a": "x", "b": "x", "c": "x", "d": "x"}, truth)
    assert over["pairwise_precision"] == pytest.approx(3 / 6)
    assert over["pairwise_recall"] == 1.0
    assert over["largest_predicted_cluster"] == 4
    under = evaluate_mappings({"a": "x", "b": "x", "c": "z", "d": "y"}, truth)
    assert under["pairwise_precision"] == 1.0
    assert under["pairwise_recall"] == pytest.approx(1 / 3)
    # B-cubed recall: a and b see 2 of 3, c sees 1 of 3, d sees 1 of 1.
    assert under["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert under["predicted_clusters"] == 3 and under["true_clusters"] == 2
    partial = evaluate_mappings({"a": "x", "zz": "q"}, truth)
    assert partial["records_missing_from_truth"] == 1 and partial["records_missing_from_prediction"] == 3
