"""Stage 5: turn accepted links into clusters, refusing over-merges.

Two layers of guards, both conservative:

1. Pair guards. An *evidence* link (same email, same phone, or a Splink score) is refused when
   the two records' birth dates, first names or generational suffixes (Sr, Jr; not with one birth date) disagree: that is
   what a household sharing a landline or an inbox looks like. *Strong* links (same web user id, loyalty card, an anonymous
   id identified as a user) name one account and skip this check.
2. Cluster guards. A connected component that would hold two web user ids, two conflicting
   birth dates, two conflicting first names (John and Jane joined through a record with no first
   name; a suffix conflict is cut as one too) or more than ``max_cluster_size`` records is rebuilt link by link, strongest first, and
   every link that would break a rule is cut (kept in identity.links, rejected).

Everything runs in SQL except the rebuild of the few components that break a cluster rule.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np

from identity.deterministic import STRONG_RULES
from identity.nicknames import name_groups
from identity.schema import RECORD_KEY_SQL, fetch_one

_STRONG_LIST = ", ".join(f"'{rule}'" for rule in sorted(STRONG_RULES))
STRONG_LINK_STRENGTH = 1000.0
#: Added to a deterministic evidence link's strength: an exact identifier beats a bare score.
EVIDENCE_BONUS = {"email": 30.0, "phone": 20.0}
FIRST_NAME_SIMILARITY_FLOOR = 0.8
#: The words after a shared first word are held to a stricter typo score: at 0.8 Juan Carlos and
#: Juan Camilo (0.82), Mary Jane and Mary Jean (0.85) were one person; Ann, Anne (0.94) stays a typo.
OTHER_WORDS_SIMILARITY_FLOOR = 0.92


def dob_conflict_sql(left: str, right: str) -> str:
    """SQL: both birth dates known and different beyond a one-character typo or a day/month swap."""
    # CASE, not AND: DuckDB evaluates every operand of an AND in a select list for every row, and
    # most pairs have equal or missing dates; a CASE formats and compares only the others.
    return f"""(CASE WHEN {left} IS NULL OR {right} IS NULL OR {left} = {right} THEN false
        ELSE levenshtein(strftime({left}, '%Y%m%d'), strftime({right}, '%Y%m%d')) > 1
             AND NOT (year({left}) = year({right}) AND month({left}) = day({right}) AND day({left}) = month({right}))
        END)"""


#: Scripts whose given names are one to three characters, none an initial or a typo of another:
#: 伟 and 伟强, 민준 and 민준호, ゆう and ゆうこ are different names (they were "an initial" and "a typo").
_NO_INITIALS_SCRIPTS = r"[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}]"


def _names_compatible_sql(left: str, left_role: str, right: str, right_role: str) -> str:
    """SQL: the ``<role>_name`` of aliases ``left`` and ``right`` may be one name.

    Compatible: equal, short forms or spellings of one formal name (Bob, Robert; Steve, Stephen),
    an initial (one or two letters) that starts the other, or, unless both are known names
    (:func:`_build_record_name_groups`), a known short form that starts the other (Chris,
    Christoph) or a typo (Jaro-Winkler >= 0.8). A longer name that starts with a known one that is
    not a short form is another name (Paul, Paula; Eric, Erica), whatever the score.
    Names of several words: one whose words start the other's is that name with a middle name or
    initial added (John A., John; Mary Ann, Mary; Anne-Marie, Anne); two that share their first
    word but not the next ones are compared on those (Mary Ann, Mary Beth: two people).
    Chinese, Japanese and Korean names are compatible only when equal or spellings of one formal
    name: a one- or two-character given name is a whole name, not an initial.
    """
    a, b = f"{left}.{left_role}_name", f"{right}.{right_role}_name"
    a_known, b_known = f"{left}.{left_role}_is_known", f"{right}.{right_role}_is_known"
    a_short, b_short = f"{left}.{left_role}_is_short_form", f"{right}.{right_role}_is_short_form"
    typo = f"jaro_winkler_similarity({a}, {b}) >= {FIRST_NAME_SIMILARITY_FLOOR}"
    # Standardised names are words with single spaces: "john a" is John with a middle initial.
    a_rest, b_rest = f"{a}[strpos({a}, ' ') + 1:]", f"{b}[strpos({b}, ' ') + 1:]"
    return f"""(CASE WHEN {a} = {b} THEN true
        WHEN regexp_matches({a} || {b}, '{_NO_INITIALS_SCRIPTS}') THEN coalesce(list_has_any({left}.{left_role}_groups, {right}.{right_role}_groups), false)
        WHEN starts_with({a}, {b} || ' ') OR starts_with({b}, {a} || ' ') THEN true
        WHEN contains({a}, ' ') AND contains({b}, ' ') AND split_part({a}, ' ', 1) = split_part({b}, ' ', 1)
            THEN {_other_words_compatible_sql(a_rest, b_rest)}
        ELSE coalesce(list_has_any({left}.{left_role}_groups, {right}.{right_role}_groups), false)
        OR {_initial_sql(a, b)}
        OR (NOT ({a_known} AND {b_known}) AND CASE
                WHEN starts_with({a}, {b}) THEN {b_short} OR (NOT {b_known} AND {typo})
                WHEN starts_with({b}, {a}) THEN {a_short} OR (NOT {a_known} AND {typo})
                ELSE {typo} END) END)"""


def _other_words_compatible_sql(a: str, b: str) -> str:
    """SQL: the words after one shared first word, ``a`` and ``b``, may name one person: an initial
    that starts the other (A, Andrew) or a close typo (:data:`OTHER_WORDS_SIMILARITY_FLOOR`);
    Mary Ann and Mary Beth, Juan Carlos and Juan Camilo are two people."""
    return f"({_initial_sql(a, b)} OR jaro_winkler_similarity({a}, {b}) >= {OTHER_WORDS_SIMILARITY_FLOOR})"


def _initial_sql(a: str, b: str) -> str:
    """SQL: one of ``a`` and ``b`` is an initial (one or two letters) that starts the other."""
    return f"(least(length({a}), length({b})) <= 2 AND (starts_with({a}, {b}) OR starts_with({b}, {a})))"


def suffix_conflict_sql(left: str, right: str) -> str:
    """SQL: records ``left`` and ``right`` carry two different generational suffixes (Sr, Jr):
    father and son. One without a suffix is no conflict, nor are two with one known birth date:
    father and son are not born on one day, and John Smith II is often written John Smith Jr."""
    same_birth_date = f"coalesce({left}.date_of_birth = {right}.date_of_birth, false)"
    return f"coalesce({left}.name_suffix <> {right}.name_suffix AND NOT {same_birth_date}, false)"


def first_name_conflict_sql(left: str, right: str) -> str:
    """SQL: records ``left`` and ``right`` (aliases with the columns of :func:`name_columns_sql`)
    cannot share a first name.

    Compatible: see :func:`_names_compatible_sql`; or first and last name swapped in one record,
    also when the other record has no last name.
    Two different known given names with no formal name or spelling in common (John, Joan) conflict.
    """
    same = _names_compatible_sql(left, "first", right, "first")
    # A record with first and last name swapped: its last name is the other's first name, and its
    # first name the other's last name when the other has one (Coleman Timothy, Timothy).
    left_swapped = f"""({left}.last_name IS NOT NULL AND {_names_compatible_sql(left, "last", right, "first")}
        AND ({right}.last_name IS NULL OR {_names_compatible_sql(left, "first", right, "last")}))"""
    right_swapped = f"""({right}.last_name IS NOT NULL AND {_names_compatible_sql(left, "first", right, "last")}
        AND ({left}.last_name IS NULL OR {_names_compatible_sql(left, "last", right, "first")}))"""
    # A chain of CASE branches rather than ANDs: DuckDB evaluates every operand of an AND in a
    # select list for every row (five name comparisons, each with Jaro-Winkler), while each CASE
    # branch only sees the rows the branches before it left; most pairs share their first name.
    return f"""(CASE WHEN {left}.first_name IS NULL OR {right}.first_name IS NULL
                   OR {left}.first_name = {right}.first_name THEN false
              WHEN {same} THEN false
              WHEN {left_swapped} THEN false
              WHEN {right_swapped} THEN false
              ELSE true END)"""


def name_columns_sql(first: str = "f", last: str = "g") -> str:
    """Select list of the name columns :func:`first_name_conflict_sql` reads, from the
    record_name_groups rows joined as ``first`` (on first_name) and ``last`` (on last_name)."""
    return ", ".join(
        f"{alias}.formals AS {role}_groups, coalesce({alias}.is_known, false) AS {role}_is_known, "
        f"coalesce({alias}.is_short_form, false) AS {role}_is_short_form"
        for alias, role in ((first, "first"), (last, "last"))
    )


def dates_conflict(left: date, right: date) -> bool:
    """Python twin of :func:`dob_conflict_sql` for the cluster rebuild."""
    if left == right:
        return False
    a, b = left.strftime("%Y%m%d"), right.strftime("%Y%m%d")
    one_typo = sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    swapped = left.year == right.year and left.month == right.day and left.day == right.month
    return not (one_typo or swapped)


def _build_record_name_groups(con: duckdb.DuckDBPyConnection, records: str) -> None:
    """TEMP TABLE record_name_groups(name, formals, is_known, is_short_form) for every first and
    last name in ``records``.

    A known name (:func:`identity.nicknames.name_groups`: Maggie) stands for its formal names
    (Margaret); a short form is a known name that does not stand for itself. An unknown name that
    is one typo away from known names (Mzddie) stands for theirs: a short form typed badly is
    still a short form. Known names are never stretched, so Tim does not become Jim (James) and
    Dana does not become Dan (Daniel).
    """
    groups = name_groups()
    # Lists as query parameters, not an Arrow table: building one imports pandas (~0.3-0.8 s per process).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE identity_name_groups AS
        SELECT unnest(?::VARCHAR[]) AS name, unnest(?::VARCHAR[][]) AS formals""",
        [list(groups), [list(formals) for formals in groups.values()]],
    )
    # One typo apart means sharing a spelling with one letter deleted (or none): an equi-join on
    # those deletion variants finds the candidates, damerau_levenshtein confirms them. A nested
    # loop of every unknown name against every known one took seconds at 100k records.
    deletions = "list_concat([name], list_transform(range(1, length(name) + 1), lambda i: left(name, i - 1) || substr(name, i + 1)))"
    # A name of n letters has n variants of n - 1 letters: quadratic, so a 20,000-letter first name
    # asked for gigabytes. Only a name at most one letter longer than the longest known one can be
    # one typo away from it, so longer ones make no variants at all.
    longest_known = max(map(len, groups), default=0)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE record_name_groups AS
        WITH names AS (
            SELECT first_name AS name FROM {records} WHERE first_name IS NOT NULL
            UNION SELECT last_name FROM {records} WHERE last_name IS NOT NULL
        ),
        unknown AS (
            SELECT name, unnest({deletions}) AS variant
            FROM names WHERE length(name) BETWEEN 2 AND {longest_known + 1}
                AND name NOT IN (SELECT name FROM identity_name_groups)
        ),
        known AS (SELECT name, formals, unnest({deletions}) AS variant FROM identity_name_groups),
        near AS (
            SELECT u.name, flatten(list(DISTINCT k.formals)) AS formals
            FROM (SELECT DISTINCT u.name, k.name AS known_name
                  FROM unknown AS u JOIN known AS k USING (variant)
                  WHERE damerau_levenshtein(u.name, k.name) <= 1) AS u
            JOIN identity_name_groups AS k ON k.name = u.known_name
            GROUP BY u.name
        )
        SELECT n.name, coalesce(exact.formals, near.formals) AS formals, exact.name IS NOT NULL AS is_known,
               coalesce(NOT list_contains(exact.formals, n.name), false) AS is_short_form
        FROM names AS n
        LEFT JOIN identity_name_groups AS exact ON exact.name = n.name
        LEFT JOIN near ON near.name = n.name"""
    )
    con.execute("DROP TABLE identity_name_groups")


def raw_links_sql(con: duckdb.DuckDBPyConnection, threshold: float) -> str:
    """SELECT of tonight's deterministic and probabilistic links before any guard, each with its own
    rejected_reason (an identifier shared too widely, a Splink score below ``threshold``)."""
    has_probabilistic = bool(
        fetch_one(con,
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'probabilistic_links' AND temporary"
        )[0]
    )
    probabilistic = (
        f"""SELECT record_key_l, record_key_r, 'probabilistic' AS link_type, 'splink' AS rule,
                  match_weight, match_probability, comparison_levels,
                  CASE WHEN match_probability < {float(threshold)} THEN 'below_threshold' END AS rejected_reason
           FROM probabilistic_links"""
        if has_probabilistic
        # Parenthesised: a bare LIMIT 0 would apply to the whole UNION.
        else "(SELECT NULL::VARCHAR, NULL::VARCHAR, NULL, NULL, NULL::DOUBLE, NULL::DOUBLE, NULL::JSON, NULL LIMIT 0)"
    )
    return f"""SELECT record_key_l, record_key_r, 'deterministic' AS link_type, rule,
                   NULL::DOUBLE AS match_weight, NULL::DOUBLE AS match_probability,
                   NULL::JSON AS comparison_levels, rejected_reason
            FROM deterministic_links
            UNION ALL {probabilistic}"""


def build_candidate_links(
    con: duckdb.DuckDBPyConnection, records: str, threshold: float, touching: str | None = None
) -> None:
    """Create TEMP TABLE candidate_links: every link with its pair-guard decision and strength.

    ``touching``: a table of record keys; only the links with a record among them are judged.
    A pair's links are judged together, and a decision depends only on the pair's two records and
    links, so each is the one judging every link gives.
    """
    unioned = raw_links_sql(con, threshold)
    if touching is not None:
        unioned = f"""SELECT * FROM ({unioned}) AS u
            WHERE record_key_l IN (SELECT record_key FROM {touching})
               OR record_key_r IN (SELECT record_key FROM {touching})"""
        con.execute(f"CREATE OR REPLACE TEMP TABLE judged_links AS {unioned}")
        unioned = "SELECT * FROM judged_links"
        records = f"""(SELECT * FROM {records} WHERE {RECORD_KEY_SQL} IN (
                          SELECT record_key_l FROM judged_links UNION SELECT record_key_r FROM judged_links))"""
    _build_record_name_groups(con, records)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE candidate_links AS
        WITH unioned AS ({unioned}),
        keyed AS (
            SELECT {RECORD_KEY_SQL} AS record_key, first_name, last_name, name_suffix, date_of_birth,
                   {name_columns_sql()}
            FROM {records}
            LEFT JOIN record_name_groups AS f ON f.name = first_name
            LEFT JOIN record_name_groups AS g ON g.name = last_name
        ),
        pairs AS (
            -- Each pair is judged once, however many rules link it. An exact identifier link is as
            -- strong as the Splink score of the same pair (plus a bonus, below).
            SELECT record_key_l, record_key_r, max(match_weight) AS pair_match_weight
            FROM unioned GROUP BY record_key_l, record_key_r
        ),
        judged_pairs AS (
            SELECT p.*,
                   {dob_conflict_sql("l.date_of_birth", "r.date_of_birth")} AS is_dob_conflict,
                   {first_name_conflict_sql("l", "r")} AS is_first_name_conflict,
                   {suffix_conflict_sql("l", "r")} AS is_suffix_conflict
            FROM pairs AS p
            JOIN keyed AS l ON l.record_key = p.record_key_l
            JOIN keyed AS r ON r.record_key = p.record_key_r
        ),
        judged AS (
            SELECT c.*, j.pair_match_weight, j.is_dob_conflict, j.is_first_name_conflict, j.is_suffix_conflict,
                   c.rule IN ({_STRONG_LIST}) AS is_strong
            FROM unioned AS c JOIN judged_pairs AS j USING (record_key_l, record_key_r)
        )
        SELECT record_key_l, record_key_r, link_type, rule, match_weight, match_probability, comparison_levels,
               coalesce(rejected_reason,
                        CASE WHEN NOT is_strong AND is_dob_conflict THEN 'conflicting_birth_dates'
                             WHEN NOT is_strong AND is_first_name_conflict THEN 'conflicting_first_names'
                             WHEN NOT is_strong AND is_suffix_conflict THEN 'conflicting_name_suffixes' END
               ) AS rejected_reason,
               CASE WHEN is_strong THEN {STRONG_LINK_STRENGTH}
                    WHEN link_type = 'probabilistic' THEN match_weight
                    ELSE coalesce(pair_match_weight, 0)
                         + CASE rule WHEN 'email' THEN {EVIDENCE_BONUS["email"]} ELSE {EVIDENCE_BONUS["phone"]} END
               END AS strength
        FROM judged AS c"""
    )
    con.execute("DROP TABLE record_name_groups")
    con.execute("DROP TABLE IF EXISTS judged_links")


def component_labels(nodes: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For nodes 0..nodes-1 and undirected edges (left[i], right[i]): each node's smallest connected node.

    Hooking (every edge lowers the label of the larger label's root) alternated with pointer
    jumping; a handful of vectorised passes over the edges, whatever the component sizes.
    """
    label = np.arange(nodes, dtype=np.int64)
    while True:
        low = np.minimum(label[left], label[right])
        np.minimum.at(label, label[left], low)
        np.minimum.at(label, label[right], low)
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label[left], label[right]):
            return label


def _connected_components(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP TABLE components(record_key, component_key) over accepted pairs.

    Nodes are numbered in record-key order, so the smallest node of a component is its smallest
    record key; the numbering and the joins stay in DuckDB, only two integer arrays per edge go
    to numpy for :func:`component_labels`.
    """
    con.execute(
        """CREATE OR REPLACE TEMP TABLE component_nodes AS
        SELECT record_key, row_number() OVER (ORDER BY record_key) - 1 AS node
        FROM (SELECT record_key_l AS record_key FROM candidate_links WHERE rejected_reason IS NULL
              UNION SELECT record_key_r FROM candidate_links WHERE rejected_reason IS NULL)"""
    )
    nodes = fetch_one(con, "SELECT count(*) FROM component_nodes")[0]
    edges = con.execute(
        """SELECT l.node AS a, r.node AS b
        FROM candidate_links AS c
        JOIN component_nodes AS l ON l.record_key = c.record_key_l
        JOIN component_nodes AS r ON r.record_key = c.record_key_r
        WHERE c.rejected_reason IS NULL"""
    ).fetchnumpy()
    labels = component_labels(
        nodes, np.asarray(edges["a"], dtype=np.int64), np.asarray(edges["b"], dtype=np.int64)
    )
    # A dict of numpy arrays registers without pyarrow (and so without importing pandas).
    con.register("component_labels_np", {"node": np.arange(nodes, dtype=np.int64), "label": labels})
    con.execute(
        """CREATE OR REPLACE TEMP TABLE components AS
        SELECT n.record_key, k.record_key AS component_key
        FROM component_labels_np AS l
        JOIN component_nodes AS n ON n.node = l.node
        JOIN component_nodes AS k ON k.node = l.label"""
    )
    con.unregister("component_labels_np")
    con.execute("DROP TABLE component_nodes")


@dataclass
class _Group:
    members: list[str]
    user_ids: set[str] = field(default_factory=set)
    birth_dates: set[date] = field(default_factory=set)
    first_names: set[Hashable] = field(default_factory=set)


def _merge_refusal(
    left: _Group, right: _Group, max_size: int, conflicting_names: Collection[frozenset] = ()
) -> str | None:
    if len(left.user_ids | right.user_ids) > 1:
        return "would_join_two_web_user_ids"
    if any(dates_conflict(a, b) for a in left.birth_dates for b in right.birth_dates):
        return "would_join_conflicting_birth_dates"
    if conflicting_names and any(
        frozenset((a, b)) in conflicting_names for a in left.first_names for b in right.first_names
    ):
        return "would_join_conflicting_first_names"
    if len(left.members) + len(right.members) > max_size:
        return "cluster_size_cap"
    return None


def rebuild_component(
    nodes: dict[str, tuple[str | None, date | None]],
    edges: list[tuple[str, str, float]],
    max_size: int,
    first_names: dict[str, Hashable] | None = None,
    conflicting_names: Collection[frozenset] = (),
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Re-cluster one over-merged component, strongest link first, cutting links that break a rule.

    ``nodes``: record key -> (web user id, birth date); ``edges``: (left, right, strength).
    ``first_names``: record key -> its name (any label; records without a first name left out);
    ``conflicting_names``: frozensets of two labels that cannot be one person's first name. Two
    groups holding such names are never joined, so a record with no first name (a caller known
    only by a household phone) joins one of two people, not both.
    Returns (record key -> cluster key, (left, right) -> reason for every cut link).
    """
    first_names = first_names or {}
    group_of = {key: key for key in nodes}
    groups = {
        key: _Group([key], {user} if user else set(), {born} if born else set(),
                    {first_names[key]} if key in first_names else set())
        for key, (user, born) in nodes.items()
    }
    cut: dict[tuple[str, str], str] = {}
    for left, right, _strength in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        a, b = group_of[left], group_of[right]
        if a == b:
            continue
        reason = _merge_refusal(groups[a], groups[b], max_size, conflicting_names)
        if reason:
            cut[(left, right)] = reason
            continue
        keep, gone = (a, b) if len(groups[a].members) >= len(groups[b].members) else (b, a)
        for member in groups[gone].members:
            group_of[member] = keep
        groups[keep].members.extend(groups[gone].members)
        groups[keep].user_ids |= groups[gone].user_ids
        groups[keep].birth_dates |= groups[gone].birth_dates
        groups[keep].first_names |= groups[gone].first_names
        del groups[gone]
    cluster_of = {}
    for group in groups.values():
        cluster_key = min(group.members)
        for member in group.members:
            cluster_of[member] = cluster_key
    return cluster_of, cut


def _temp_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, list[str]]) -> None:
    """A TEMP TABLE of VARCHAR columns from Python lists (empty lists give an empty table)."""
    selected = ", ".join(f"unnest(?::VARCHAR[]) AS {column}" for column in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {selected}", [list(v) for v in columns.values()])


def _suffix_birth_date_sql(alias: str) -> str:
    """SQL: the birth date of record ``alias`` when it has a suffix, the only case a name's
    conflicts depend on it (:func:`suffix_conflict_sql`); NULL keeps one name per spelling."""
    return f"CASE WHEN {alias}.name_suffix IS NOT NULL THEN {alias}.date_of_birth END"


def _find_first_name_conflicts(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP TABLEs component_names(component_key, first_name, last_name, name_suffix, date_of_birth
    (:func:`_suffix_birth_date_sql`), name_id, ...) and
    component_name_conflicts(component_key, name_l, name_r): the pairs of names in one component
    that the pair guard would refuse as one person's (:func:`first_name_conflict_sql`,
    :func:`suffix_conflict_sql`: John Smith Sr and John Smith Jr are two names here).

    A pair guard only sees the two records of a link; a record without a first name can link
    John and Jane through a shared phone, so the component is checked as a whole.
    """
    # Only components with two different first names or suffixes can hold a conflict (most hold one).
    # A record with a suffix and no first name counts: Smith Jr joins John Smith Sr through John Smith.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE component_names AS
        SELECT DISTINCT component_key, first_name, last_name, name_suffix,
               {_suffix_birth_date_sql("component_members")} AS date_of_birth
        FROM component_members
        WHERE (first_name IS NOT NULL OR name_suffix IS NOT NULL) AND component_key IN (
            SELECT component_key FROM component_members
            GROUP BY component_key HAVING count(DISTINCT first_name) > 1 OR count(DISTINCT name_suffix) > 1)"""
    )
    _build_record_name_groups(con, "component_names")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE component_names AS
        SELECT m.component_key, m.first_name, m.last_name, m.name_suffix, m.date_of_birth, {name_columns_sql()},
               row_number() OVER (ORDER BY m.component_key, m.first_name NULLS FIRST, m.last_name NULLS FIRST,
                                  m.name_suffix NULLS FIRST, m.date_of_birth NULLS FIRST) AS name_id
        FROM component_names AS m
        LEFT JOIN record_name_groups AS f ON f.name = m.first_name
        LEFT JOIN record_name_groups AS g ON g.name = m.last_name"""
    )
    con.execute("DROP TABLE record_name_groups")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE component_name_conflicts AS
        SELECT l.component_key, l.name_id AS name_l, r.name_id AS name_r
        FROM component_names AS l
        JOIN component_names AS r ON r.component_key = l.component_key AND l.name_id < r.name_id
        WHERE {first_name_conflict_sql("l", "r")} OR {suffix_conflict_sql("l", "r")}"""
    )


def cluster(
    con: duckdb.DuckDBPyConnection,
    records: str,
    threshold: float,
    max_cluster_size: int,
    only: str | None = None,
) -> dict:
    """Create TEMP TABLE clusters(record_key, cluster_key) for every record; returns guard counts.

    ``only``: a table of record keys closed under accepted links (whole components, see
    :mod:`identity.recluster`): only those records are clustered, and candidate_links holds only
    the links touching them.
    """
    build_candidate_links(con, records, threshold, touching=only)
    if only is not None:
        records = f"(SELECT * FROM {records} WHERE {RECORD_KEY_SQL} IN (SELECT record_key FROM {only}))"
    _connected_components(con)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE component_members AS
        SELECT k.record_key, coalesce(c.component_key, k.record_key) AS component_key,
               k.web_user_id, k.date_of_birth, k.first_name, k.last_name, k.name_suffix
        FROM (SELECT {RECORD_KEY_SQL} AS record_key, web_user_id, date_of_birth, first_name, last_name, name_suffix
              FROM {records}) AS k
        LEFT JOIN components AS c USING (record_key)"""
    )
    _find_first_name_conflicts(con)
    suspicious = [
        row[0]
        for row in con.execute(
            f"""SELECT component_key FROM component_members GROUP BY component_key
                HAVING count(*) > {int(max_cluster_size)} OR count(DISTINCT web_user_id) > 1
                    OR count(DISTINCT date_of_birth) > 1
                UNION SELECT component_key FROM component_name_conflicts
                ORDER BY component_key"""
        ).fetchall()
    ]
    reassigned: dict[str, str] = {}
    cut_links: dict[tuple[str, str], str] = {}
    if suspicious:
        _temp_table(con, "suspicious_components", {"component_key": suspicious})
        member_rows = con.execute(
            f"""SELECT m.component_key, m.record_key, m.web_user_id, m.date_of_birth, n.name_id
               FROM component_members AS m
               LEFT JOIN component_names AS n
                 ON n.component_key = m.component_key AND n.first_name IS NOT DISTINCT FROM m.first_name
                AND n.last_name IS NOT DISTINCT FROM m.last_name AND n.name_suffix IS NOT DISTINCT FROM m.name_suffix
                AND n.date_of_birth IS NOT DISTINCT FROM {_suffix_birth_date_sql("m")}
               WHERE m.component_key IN (SELECT component_key FROM suspicious_components)"""
        ).fetchall()
        edge_rows = con.execute(
            """SELECT m.component_key, l.record_key_l, l.record_key_r, max(l.strength)
               FROM candidate_links AS l JOIN component_members AS m ON m.record_key = l.record_key_l
               WHERE l.rejected_reason IS NULL
                 AND m.component_key IN (SELECT component_key FROM suspicious_components)
               GROUP BY ALL"""
        ).fetchall()
        conflicts_by_component: dict[str, set[frozenset]] = {}
        for component, name_l, name_r in con.execute(
            "SELECT component_key, name_l, name_r FROM component_name_conflicts"
        ).fetchall():
            conflicts_by_component.setdefault(component, set()).add(frozenset((name_l, name_r)))
        nodes_by_component: dict[str, dict] = {}
        names_by_component: dict[str, dict] = {}
        for component, key, user, born, name_id in member_rows:
            nodes_by_component.setdefault(component, {})[key] = (user, born)
            if name_id is not None:
                names_by_component.setdefault(component, {})[key] = name_id
        edges_by_component: dict[str, list] = {}
        for component, left, right, strength in edge_rows:
            edges_by_component.setdefault(component, []).append((left, right, strength))
        for component, nodes in nodes_by_component.items():
            cluster_of, cut = rebuild_component(
                nodes, edges_by_component.get(component, []), max_cluster_size,
                names_by_component.get(component), conflicts_by_component.get(component, set()),
            )
            reassigned.update(cluster_of)
            cut_links.update(cut)
        con.execute("DROP TABLE suspicious_components")
    _temp_table(con, "reassigned", {"record_key": list(reassigned), "cluster_key": list(reassigned.values())})
    _temp_table(con, "cut_links", {
        "record_key_l": [pair[0] for pair in cut_links],
        "record_key_r": [pair[1] for pair in cut_links],
        "reason": list(cut_links.values()),
    })
    con.execute(
        """UPDATE candidate_links AS c SET rejected_reason = x.reason
           FROM cut_links AS x
           WHERE c.record_key_l = x.record_key_l AND c.record_key_r = x.record_key_r AND c.rejected_reason IS NULL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE clusters AS
        SELECT m.record_key, coalesce(r.cluster_key, m.component_key) AS cluster_key
        FROM component_members AS m LEFT JOIN reassigned AS r USING (record_key)"""
    )
    for table in ("components", "component_members", "component_names", "component_name_conflicts",
                  "reassigned", "cut_links"):
        con.execute(f"DROP TABLE {table}")
    return {"guarded_components": len(suspicious), "cut_links": len(cut_links)}
