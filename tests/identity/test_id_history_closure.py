"""identity.schema.id_history_closure: the one walk over identity.customer_id_history that the
suppression matcher (forward through merges) and the erasure scrub (backward through everything) use."""

from __future__ import annotations

import duckdb
import pytest

from identity.publish import HISTORY_DDL
from identity.schema import id_history_closure


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA identity")
    connection.execute(HISTORY_DDL)
    yield connection
    connection.close()


def _history(con, *rows: tuple[str | None, str, str]) -> None:
    for number, (old, new, kind) in enumerate(rows):
        con.execute("INSERT INTO identity.customer_id_history VALUES (?, ?, ?, ?, '', NULL)",
                    [f"r{number}", old, new, kind])


def test_forward_follows_chained_merges_only(con):
    # a merged into b, b into c; c split d off (not a merge: d is not the person a was).
    _history(con, (None, "a", "new"), ("a", "b", "merge"), ("b", "c", "merge"), ("c", "d", "split"))
    assert id_history_closure(con, ["a"], "forward", change_types=("merge",)) == {"b", "c"}
    assert id_history_closure(con, ["a"], "forward") == {"b", "c", "d"}
    assert id_history_closure(con, ["c"], "forward", change_types=("merge",)) == set()


def test_backward_follows_merges_and_splits(con):
    # d split off c; c took b and a (merges): d's records were once under a, b and c.
    _history(con, (None, "a", "new"), ("a", "b", "merge"), ("b", "c", "merge"), ("c", "d", "split"),
             ("x", "y", "merge"))
    assert id_history_closure(con, ["d"], "backward") == {"a", "b", "c"}
    assert id_history_closure(con, ["c", "y"], "backward") == {"a", "b", "x"}
    assert id_history_closure(con, ["d"], "backward", change_types=("merge",)) == set()


def test_cycles_end_and_leave_out_the_starting_ids(con):
    _history(con, ("a", "b", "merge"), ("b", "c", "split"), ("c", "a", "merge"))
    assert id_history_closure(con, ["a"], "forward") == {"b", "c"}
    assert id_history_closure(con, ["a"], "backward") == {"b", "c"}
    assert id_history_closure(con, ["c"], "forward", change_types=("merge",)) == {"a", "b"}
    assert id_history_closure(con, ["a", "b"], "forward", change_types=("merge",)) == set()


def test_without_history_or_ids_nothing_is_reached():
    bare = duckdb.connect()
    assert id_history_closure(bare, ["a"], "forward") == set()
    bare.close()
    with pytest.raises(ValueError, match="direction"):
        id_history_closure(duckdb.connect(), ["a"], "sideways")
