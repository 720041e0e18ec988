"""The text a check reports must not depend on the row order of its query."""

from __future__ import annotations

import pandas as pd

from quality.gate import _observed
from quality.suite_config import CheckSpec

SPEC = CheckSpec(name="no_conflicting_web_user_ids", severity="critical", description="",
                 expectation="expect_column_values_to_be_between",
                 kwargs={"column": "distinct_web_user_ids", "max_value": 1},
                 query="SELECT 1", label_columns=("customer_id",))


def _text(customers: list[str], counts: list[int]) -> str:
    frame = pd.DataFrame({"customer_id": customers, "distinct_web_user_ids": counts})
    bad = [i for i, n in enumerate(counts) if n > 1]
    result = {"unexpected_count": len(bad), "element_count": len(frame), "partial_unexpected_index_list": bad}
    return _observed(SPEC, SPEC.kwargs, result, frame)


def test_examples_read_the_same_whatever_order_a_group_by_returned_its_rows() -> None:
    """`identity/no_conflicting_web_user_ids` (a GROUP BY, no ORDER BY) printed cust-d, cust-a
    or cust-a, cust-d for one warehouse."""
    customers = [f"cust-{n:02d}" for n in range(40)]
    counts = [2 if n % 5 == 0 else 1 for n in range(40)]
    forward = _text(customers, counts)
    assert forward == _text(customers[::-1], counts[::-1])
    assert "e.g. cust-00 (2), cust-05 (2), cust-10 (2), cust-15 (2), cust-20 (2)" in forward
    few = _text(["cust-d", "cust-a"], [2, 2])
    assert few == _text(["cust-a", "cust-d"], [2, 2]) and "cust-a = 2; cust-d = 2" in few
