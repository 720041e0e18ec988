"""The next night reuses the last run's suppression decisions and hashed rows, with the same files."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import replace

import pyarrow as pa
from exports_testkit import CUSTOMERS, SUPPRESSION, build_warehouse, execute, export_folder, query

from exports.runner import export
from exports.suppression import Suppression, SuppressionMemo, _email_key, email_forms


def _next_night(settings) -> None:
    """c1 moves e-mail; c6 gives every consent; a new erasure hits c2 through a Gmail-style spelling."""
    customers = dict(CUSTOMERS)
    customers["c1"] = ("Ada", "Lovelace", "ada.l@example.org", *CUSTOMERS["c1"][3:])
    customers["c2"] = (*CUSTOMERS["c2"][:2], "jose.m@gmail.com", *CUSTOMERS["c2"][3:8], ["jose.m@gmail.com"],
                       *CUSTOMERS["c2"][9:10], True, True, True)
    customers["c6"] = (*CUSTOMERS["c6"][:10], True, True, True)
    build_warehouse(settings, customers=customers)
    return customers


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".export.lock"}


def test_incremental_export_writes_the_same_files_as_a_recompute(settings, tmp_path, caplog):
    customers = dict(CUSTOMERS)
    customers["c2"] = (*CUSTOMERS["c2"][:2], "jose.m@gmail.com", *CUSTOMERS["c2"][3:8], ["jose.m@gmail.com"],
                       *CUSTOMERS["c2"][9:10], True, True, True)
    build_warehouse(settings, customers=customers)
    export(settings, "run-1", gate=None)
    assert query(settings, "SELECT count(*) FROM exports.hashed_rows")[0][0] > 0
    _next_night(settings)
    execute(settings, "INSERT INTO raw.suppression_list VALUES ('email', 'JoseM+ads@GMail.com', 'erasure', "
                      "NULL, 'suppression-2.csv', 1, 'b2', NULL)")

    # The same state, without what the last run kept: a recompute from scratch.
    scratch = replace(settings, home=tmp_path / "scratch", warehouse_path=tmp_path / "scratch" / "cdp.duckdb",
                      export_dir=tmp_path / "scratch" / "exports", reports_dir=tmp_path / "scratch" / "reports")
    scratch.warehouse_path.parent.mkdir(parents=True)
    shutil.copy2(settings.warehouse_path, scratch.warehouse_path)
    shutil.copytree(settings.export_dir, scratch.export_dir)
    execute(scratch, "DROP TABLE exports.hashed_rows; DROP TABLE exports.suppression_decisions; "
                     "DROP TABLE exports.suppression_decisions_entries")

    caplog.clear()  # run-1's own "0 reused" line is captured too when an earlier test left INFO enabled
    with caplog.at_level(logging.INFO, logger="exports.runner"):
        incremental = export(settings, "run-2", gate=None)
    reused = re.search(r"(\d+) suppression decision\(s\) and (\d+) hashed row\(s\) reused", caplog.text)
    assert reused and int(reused.group(1)) > 0 and int(reused.group(2)) > 0
    recomputed = export(scratch, "run-2", gate=None)
    assert incremental == [{**r, "path": r["path"].replace(str(scratch.export_dir), str(settings.export_dir))}
                           for r in recomputed]
    assert _files(settings.export_dir) == _files(scratch.export_dir)
    # c2 is now erased (new entry, Gmail spelling) although its e-mail did not change since run-1.
    removed = (export_folder(settings, "vip", "csv", "run-2") / "removed.csv").read_text()
    assert "c2" in removed.splitlines()
    assert query(settings, "SELECT is_contact_match FROM exports.suppression_decisions WHERE customer_id = 'c2'") == [
        (True,)]


def test_memo_rematches_everyone_when_an_entry_was_removed():
    suppression = Suppression(default_region="US")
    for kind, value, _ in SUPPRESSION:
        suppression.add(kind, value)
    customer = {"customer_id": "c9", "contact_fingerprint": "f", "email": "keep@example.com", "emails": []}
    # The stored decision says "suppressed" under an entry that is gone now: it must not stick.
    memo = SuppressionMemo(suppression, {"c9": ("f", True)}, {("email", "keep@example.com")},
                           SuppressionMemo(suppression).matcher)
    assert memo.delta is None
    assert memo.decide([customer]) == [False]
    # Same entries plus one: the stored decision stands, and only the new entry is matched.
    grown = SuppressionMemo(suppression, {"c9": ("f", False)}, {("email", "Erin.OLD@Example.com")},
                            SuppressionMemo(suppression).matcher)
    assert grown.delta is not None and grown.decide([customer]) == [False] and grown.reused == 1
    # A changed fingerprint is matched from scratch.
    assert grown.decide([{**customer, "contact_fingerprint": "g", "email": "otto@example.com",
                          "phone": "650-555-1212"}]) == [True]


def test_email_prefilter_never_hides_a_match():
    spellings = ["J.Doe@gmail.com", "jdoe@gmail.com", "j.doe+x@googlemail.com", "JDOE@GOOGLEMAIL.COM ",
                 "j.doe@example.com", "jdoe@example.com", " j doe@example.com", "+tag@gmail.com", "@gmail.com",
                 "a" * 64, "A" * 64, "x@y", "no-at-sign", "j.doe@gmail.com.", "j..doe@gmail.com"]
    for suppressed in spellings:
        suppression = Suppression(default_region="US")
        suppression.add("email", suppressed)
        for candidate in spellings:
            matches = bool(email_forms(candidate) & suppression.emails)
            if matches:
                assert suppression._email_may_match(candidate), (suppressed, candidate)
            assert suppression.matches_contact({"email": candidate}) == matches
    assert _email_key("J.Doe+x@GMail.com") == "jdoe@gmail.com"


def test_vectorised_prefilter_agrees_with_the_per_address_one():
    emails = ["J.Doe@gmail.com", "jdoe@gmail.com", "j.doe+x@googlemail.com", "JDOE@GOOGLEMAIL.COM ",
              "j.doe@example.com", "jdoe@example.com", " j doe@example.com", "+tag@gmail.com", "@gmail.com",
              "x@y", "no-at-sign", "j.doe@gmail.com.", "j..doe@gmail.com", "j\x1cdoe@gmail.com",
              "a@b@gmail.com", "Jösé@example.com", "", "j.doe\t@GMAIL.com"]
    phones = ["+1 650 555 1212", "1-650-555-1212", "650.555.1212 ext. 12", "1-800-FLOWERS", "020 7946 0018",
              "(650) 555-1213", "٦٥٠٥٥٥١٢١٢", "12", ""]
    customers = pa.table({
        "email": pa.array([*emails, None, None], pa.string()),
        "emails": pa.array([[e] for e in emails] + [None, [None, "jdoe@gmail.com"]], pa.list_(pa.string())),
        "phone": pa.array([None] * (len(emails) + 2), pa.string()),
        "phones": pa.array([[]] * (len(emails) + 2), pa.list_(pa.string())),
    })
    for entries in ([("email", "J.Doe@Gmail.com"), ("phone", "+16505551212")], [("email", "jdoe@example.com")],
                    [("phone", "12345")], [("phone", "+44 20 7946 0018")]):
        suppression = Suppression(default_region="US")
        for kind, value in entries:
            suppression.add(kind, value)
        expected = [any(v and suppression._email_may_match(v) for v in (e, *(more or [])))
                    if suppression.emails else False
                    for e, more in zip(customers.column("email").to_pylist(), customers.column("emails").to_pylist(),
                                       strict=True)]
        assert suppression.may_match_table(customers).tolist() == expected, entries
        by_phone = pa.table({"phone": pa.array(phones, pa.string()), "phones": pa.array([[p] for p in phones])})
        expected = [bool(suppression.phones) and bool(p) and suppression._phone_may_match(p) for p in phones]
        assert suppression.may_match_table(by_phone).tolist() == expected, entries


def test_memo_table_lookups_agree_with_deciding_each_customer_and_match_each_customer_once():
    suppression = Suppression(default_region="US")
    for kind, value, _ in SUPPRESSION:
        suppression.add(kind, value)
    suppression.add("customer_id", "c3")
    rows = [{"customer_id": f"c{i}", "contact_fingerprint": f"f{i}", "email": email, "emails": [],
             "phone": phone, "phones": [], "country": "US"}
            for i, (email, phone) in enumerate([("keep@example.com", None), ("Erin.OLD@Example.com", None),
                                                (None, "650-555-1212"), ("x@example.com", None),
                                                ("otto@example.com", "+1 650 555 1299")])]
    expected = SuppressionMemo(suppression).decide(rows)
    assert expected == [False, True, True, True, False]
    memo = SuppressionMemo(suppression)
    matched = []
    original = memo.suppression.matches_contact
    memo.suppression.matches_contact = lambda customer: matched.append(customer["customer_id"]) or original(customer)
    table = pa.Table.from_pylist(rows)
    # Overlapping tables in any order, as segments x destinations of one run, with a duplicate row.
    assert memo.decide_table(table.take([3, 1])) == [expected[3], expected[1]]
    assert memo.decide_table(table) == expected
    assert memo.decide_table(table.take([4, 0, 4, 2])) == [expected[i] for i in (4, 0, 4, 2)]
    # Matched one by one once each, and only customers with an address passing the list's prefilters.
    assert sorted(matched) == ["c1", "c2"]
    # A customer whose contact details change within the memo's life is decided again.
    changed = pa.Table.from_pylist([{**rows[0], "contact_fingerprint": "g0", "email": "erin.old@example.com"}])
    assert memo.decide_table(changed) == [True]
    assert memo.decide_table(table.take([0])) == [False]
    assert memo.decide_table(changed) == [True]
    assert matched.count("c0") == 2


def test_suppression_decided_once_per_run_equals_deciding_each_export(settings):
    """decide_suppression (one memo call for every segment) keeps and blocks the same members as
    load_audience deciding each segment and destination itself, and the memo decides the same customers."""
    from cdp.warehouse import connect
    from exports import audience
    from exports.formats import DESTINATION_CONSENT, FORMATS

    with connect(settings) as con:
        suppression = audience.load_suppression(con, "US")
        segments = list(audience.load_segments(con).values())
        members_of = audience.load_members_of(con, segments)
    once, each = SuppressionMemo(suppression), SuppressionMemo(suppression)
    suppressed_of = audience.decide_suppression(segments, members_of, once)
    blocked = 0
    for segment in segments:
        for destination in FORMATS:
            args = (None, segment, suppression, DESTINATION_CONSENT.get(destination))
            expected = audience.load_audience(*args, members=members_of[segment.name], memo=each)
            got = audience.load_audience(*args, members=members_of[segment.name], memo=once,
                                         suppressed=suppressed_of[segment.name])
            assert got.members.equals(expected.members)
            assert (got.memberships, got.excluded_no_consent, got.excluded_suppressed) == (
                expected.memberships, expected.excluded_no_consent, expected.excluded_suppressed)
            blocked += got.excluded_suppressed
    assert blocked > 0
    assert once.decided == each.decided


def test_members_of_every_segment_read_at_once_equal_each_segment_read_alone(settings):
    """load_members_of (sorted in Arrow) gives each segment's rows in load_members' order (ORDER BY customer_id)."""
    from cdp.warehouse import connect
    from exports import audience

    with connect(settings) as con:
        segments = list(audience.load_segments(con).values())
        members_of = audience.load_members_of(con, segments)
        assert sum(table.num_rows for table in members_of.values()) > len(segments)
        for segment in segments:
            assert members_of[segment.name].equals(audience.load_members(con, segment))


def test_runs_to_drop_of_every_export_at_once_equal_each_export_alone(settings):
    """state.runs_to_drop_all (one query, used by retention) equals state.runs_to_drop per export."""
    from cdp.warehouse import connect
    from exports import state

    for run in ("run-1", "run-2", "run-3", "run-2"):  # a rerun moves run-2 to the newest
        export(settings, run, gate=None)
    with connect(settings) as con:
        exports = [tuple(row) for row in con.execute(
            "SELECT DISTINCT segment, destination FROM exports.export_log ORDER BY ALL").fetchall()]
        exports.append(("no_such_segment", "csv"))
        for keep in (1, 2, 3):
            expected = {key: state.runs_to_drop(con, *key, keep) for key in exports}
            assert state.runs_to_drop_all(con, exports, keep) == expected
        assert state.runs_to_drop_all(con, exports, 1)[exports[0]] == {"run-1", "run-3"}


def _hashed_rows(rows: list[tuple]) -> pa.Table:
    """An ``exports.hashed_rows`` table of (destination, customer_id, fingerprint, values or None, key, rules)."""
    columns = ("destination", "customer_id", "row_input_fingerprint", "hashed_row", "member_key", "rules_fingerprint")
    return pa.table({name: pa.array([row[i] for row in rows], pa.list_(pa.string()) if name == "hashed_row"
                                    else pa.string()) for i, name in enumerate(columns)})


def test_saving_hashed_rows_leaves_exactly_the_runs_rows():
    """The kept rows are changed row by row (only the rows that differ are deleted and inserted), and
    end up exactly the rows handed over, as when the table was replaced whole."""
    import duckdb

    from exports.state import HASHED_ROWS, save_hashed_rows

    con = duckdb.connect()
    con.execute("CREATE SCHEMA exports")
    first = [("google", "c1", "1", ["a", "b"], "k1", "r"), ("meta", "c1", "1", ["a"], "k2", "r"),
             ("google", "c2", "2", None, None, "r"), ("google", "c3", "3", ["c"], "k3", "r")]
    second = [("google", "c1", "1", ["a", "b"], "k1", "r"),  # unchanged
              ("meta", "c1", "1", ["a"], "k2", "new rules"),  # other rules
              ("google", "c2", "9", ["d"], "k4", "r"),  # c2's inputs changed
              ("meta", "c4", "4", None, None, "r")]  # new; c3 left
    read = f"SELECT *, hashed_row::VARCHAR FROM {HASHED_ROWS} ORDER BY ALL"
    for rows in (first, second, second, []):
        save_hashed_rows(con, _hashed_rows(rows))
        expected = duckdb.connect()
        expected.execute("CREATE SCHEMA exports")
        expected.register("wanted", _hashed_rows(rows))
        expected.execute(f"CREATE TABLE {HASHED_ROWS} AS SELECT * FROM wanted")
        assert con.execute(read).fetchall() == expected.execute(read).fetchall()
    # A table of other columns (an earlier layout) is replaced.
    con.execute(f"CREATE OR REPLACE TABLE {HASHED_ROWS} (customer_id VARCHAR)")
    save_hashed_rows(con, _hashed_rows(first))
    assert len(con.execute(read).fetchall()) == len(first)
