"""Stage 4: probabilistic links scored by a trained Splink model (temporary table ``probabilistic_links``).

Prediction only: the model is trained off the nightly path by :mod:`identity.train` and read
from ``settings.model_dir``. Splink works on the caller's connection, in an attached in-memory
database: its scratch tables never land in the warehouse file, and there is one DuckDB (one
memory_limit) per process, not a second one beside the warehouse.

A model saved with its term frequencies (``splink_model_v<N>_tf_<column>.parquet`` beside the
JSON) scores a pair from the two records and the model alone, so the nightly run keeps last
night's probabilistic links between unchanged records (read back from ``identity.links``) and
predicts only pairs touching a new or changed record; see :func:`predict_links`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from cdp.fingerprint import code_fingerprint
from identity.schema import RECORD_KEY_SQL, IdentityError, fetch_one, personal_phone_sql, sql_literal

log = logging.getLogger(__name__)

LATEST_POINTER = "latest.json"
MODEL_PREFIX = "splink_model_v"
#: The attached in-memory database Splink's scratch tables go to (prediction and training).
SPLINK_SCRATCH = "splink_scratch"

#: The columns Splink compares, as they are derived from a standardised record.
SPLINK_COLUMNS_SQL = f"""
    {RECORD_KEY_SQL} AS record_key,
    first_name, first_name_canonical, last_name,
    strftime(date_of_birth, '%Y-%m-%d') AS date_of_birth,
    email, {personal_phone_sql("phone")} AS phone, street, postcode, city"""


def first_name_comparison() -> cl.CustomComparison:
    """First names: exact, same formal name (Bob/Robert), typo levels, swapped with the surname."""
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            cll.ExactMatchLevel("first_name_canonical").configure(
                label_for_charts="Short form of the same first name"
            ),
            cll.JaroWinklerLevel("first_name", 0.92),
            cll.JaroWinklerLevel("first_name", 0.88),
            cll.ColumnsReversedLevel("first_name", "last_name").configure(
                label_for_charts="First and last name swapped"
            ),
            cll.JaroWinklerLevel("first_name", 0.7),
            cll.ElseLevel(),
        ],
    )


#: The big consumer mail providers: an address at one of them is a private one (``EmailComparison``).
#: Addresses are never rewritten to one of these when standardised: a "misspelt" domain (gmial.com,
#: man.com) may be a real one, and an opt-out or erasure request names the address as it was typed.
MAIL_PROVIDER_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "live.com", "msn.com",
    "comcast.net", "verizon.net", "sbcglobal.net", "protonmail.com",
)
_PROVIDER_LIST_SQL = "[" + ", ".join(sql_literal(domain) for domain in MAIL_PROVIDER_DOMAINS) + "]"


class EmailComparison(cl.EmailComparison):
    """Splink's e-mail levels, plus one before "all other": a personal (mail provider) address
    against another domain's, i.e. most often a work address against a private one. A person
    who gives a shop their private address and a CRM their work one is common; two people who
    differ that way are not more alike than any two, so the level gets its own (trained) weight
    instead of the strong penalty of two different addresses of one kind."""

    def create_comparison_levels(self) -> list:
        levels = super().create_comparison_levels()
        column = self.col_expression.raw_sql_expression
        provider = "list_contains({providers}, split_part({email}, '@', 2))"
        left = provider.format(providers=_PROVIDER_LIST_SQL, email=f'"{column}_l"')
        right = provider.format(providers=_PROVIDER_LIST_SQL, email=f'"{column}_r"')
        personal_and_other = cll.CustomLevel(
            f"({left}) <> ({right})", label_for_charts="One personal address, one at another domain"
        )
        return [*levels[:-1], personal_and_other, levels[-1]]


def model_settings() -> SettingsCreator:
    """The Splink model specification: comparisons and prediction blocking rules."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            first_name_comparison(),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            EmailComparison("email"),
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            cl.JaroWinklerAtThresholds("street", [0.95, 0.85]),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        ],
        # Each rule keeps blocks small at 1M records: exact identifiers, or a name paired with
        # something that narrows it to a household or a birthday.
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("last_name", "date_of_birth"),
            block_on("first_name_canonical", "date_of_birth"),
            block_on("first_name_canonical", "last_name", "postcode"),
            block_on("last_name", "street"),
            block_on("first_name_canonical", "postcode", "street"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _specification(settings: dict[str, Any]) -> tuple:
    """What a model compares and blocks on: per comparison its name and level conditions, and the
    prediction blocking rules (trained parameters left out)."""
    comparisons = tuple(
        (comparison["output_column_name"], tuple(level["sql_condition"] for level in comparison["comparison_levels"]))
        for comparison in settings["comparisons"]
    )
    rules = tuple(rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"])
    return comparisons, rules


def specification_changes(model: dict[str, Any]) -> list[str]:
    """How a saved model's comparisons and blocking rules differ from :func:`model_settings` (this
    code's): the names of the comparisons whose levels differ, and "blocking rules"; [] when equal.

    A model is self-contained (its JSON holds its levels and rules), so an older one keeps scoring
    as trained; it only misses what changed until ``cdp identity train`` saves a new version.
    """
    (theirs, their_rules), (ours, our_rules) = _specification(model), _specification(
        model_settings().get_settings("duckdb").as_dict())
    changed = sorted({name for name, _levels in set(theirs) ^ set(ours)})
    return changed + (["blocking rules"] if their_rules != our_rules else [])


def latest_model_path(settings: Any) -> Path | None:
    """The model the latest pointer in ``settings.model_dir`` names, or None when none is trained."""
    pointer = Path(settings.model_dir) / LATEST_POINTER
    if not pointer.exists():
        return None
    name = json.loads(pointer.read_text(encoding="utf-8"))["model"]
    path = Path(settings.model_dir) / name
    if not path.exists():
        raise FileNotFoundError(f"{pointer} names {name}, which is missing from {settings.model_dir}")
    return path


def term_frequency_columns(model: dict[str, Any]) -> list[str]:
    """The input columns the model adjusts by term frequency (first_name, last_name, ...)."""
    return sorted({
        level["tf_adjustment_column"]
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    })


def term_frequency_path(model_path: Path, column: str) -> Path:
    """Where the frozen term frequencies of ``column`` for the model at ``model_path`` are kept."""
    return Path(model_path).with_name(f"{Path(model_path).stem}_tf_{column}.parquet")


def frozen_term_frequencies(model_path: Path, model: dict[str, Any]) -> dict[str, Path] | None:
    """The model's term-frequency files by column, or None for a model saved without them (older
    versions); a model with only some of them is refused (a copy went wrong)."""
    paths = {column: term_frequency_path(model_path, column) for column in term_frequency_columns(model)}
    missing = sorted(column for column, path in paths.items() if not path.exists())
    if len(missing) == len(paths):
        return None
    if missing:
        raise IdentityError(
            f"{model_path} has term-frequency files for some columns but not for {missing}: copy "
            f"{', '.join(term_frequency_path(model_path, c).name for c in missing)} beside it, or retrain "
            "(cdp identity train)."
        )
    return paths


def work_connection(settings: Any) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for Splink, with the pipeline's memory and thread limits."""
    return duckdb.connect(
        config={
            "memory_limit": getattr(settings, "duckdb_memory_limit", "6GB"),
            "threads": getattr(settings, "duckdb_threads", 2),
        }
    )


def load_splink_input(work: duckdb.DuckDBPyConnection, data: pa.Table) -> DuckDBAPI:
    """Copy Splink input rows into ``work`` as table splink_input; returns the Splink DB API."""
    work.register("splink_input_arrow", data)
    work.execute("CREATE OR REPLACE TABLE splink_input AS SELECT * FROM splink_input_arrow")
    work.unregister("splink_input_arrow")
    return DuckDBAPI(connection=work)


def _comparison_levels_sql(model: dict[str, Any]) -> str:
    """SQL json_object: per compared field, the comparison level reached and its match weight.

    Splink 5 returns per-field match weights (mw_<field>) rather than level numbers, so the level
    is recognised by its trained weight log2(m/u); a NULL level means missing on either side.
    """
    prefix = model.get("match_weight_column_prefix", "mw_")
    tf_prefix = f"{prefix}tf_adj_"
    parts = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        weight = f"{prefix}{name}"
        has_tf = any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
        total = f"({weight} + coalesce({tf_prefix}{name}, 0))" if has_tf else weight
        cases = []
        for level in comparison["comparison_levels"]:
            label = sql_literal(level.get("label_for_charts", ""))
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            if m and u:
                cases.append(f"WHEN abs({weight} - {math.log2(m / u)!r}) < 1e-9 THEN {label}")
        level_sql = f"CASE {' '.join(cases)} END" if cases else "NULL"
        parts.append(
            f"{sql_literal(name)}, json_object('level', {level_sql}, 'weight', round({total}, 3))"
        )
    return "json_object(" + ", ".join(parts) + ")"


def qualified_in(home: str, table: str) -> str:
    """``table`` (``name`` or ``schema.name``) as seen from the scratch database; ``home`` as
    :func:`splink_scratch` yields it."""
    return f"{home.split('.')[0]}.{table}" if "." in table else f"{home}.{table}"


def create_splink_input(con: duckdb.DuckDBPyConnection, home: str, records: str) -> int:
    """Inside :func:`splink_scratch`: TABLE splink_input (Splink's columns of ``records``), in SQL,
    never through Arrow; returns its row count."""
    con.execute(f"CREATE TABLE splink_input AS SELECT {SPLINK_COLUMNS_SQL} FROM {qualified_in(home, records)}")
    return fetch_one(con, "SELECT count(*) FROM splink_input")[0]


@contextmanager
def splink_scratch(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """Make an attached in-memory database ``con``'s default while Splink works; yields the
    qualified name (``db.schema``) that was the default, to reach the caller's tables by.

    Splink's scratch tables never land in the warehouse file, and there is one DuckDB (one
    memory_limit) rather than a second in-memory one beside the warehouse.
    """
    home, schema = fetch_one(con, "SELECT current_database(), current_schema()")
    con.execute(f"ATTACH ':memory:' AS {SPLINK_SCRATCH}")
    try:
        con.execute(f"USE {SPLINK_SCRATCH}")
        yield f"{home}.{schema}"
    finally:
        con.execute(f"USE {home}.{schema}")
        con.execute(f"DETACH {SPLINK_SCRATCH}")


#: Hash of each record's compared values as last scored (table comment: the scoring fingerprint).
SCORED_RECORDS = "identity.splink_scored_records"
#: TEMP tables predict_links leaves for store_scored_records: the hashes to write (all, or on a
#: reusing run those of new and changed records), the keys whose stored hash goes, the fingerprint.
_SCORED_HANDOFF = ("splink_scored", "splink_scored_stale", "splink_scored_fingerprint")


def predict_links(
    con: duckdb.DuckDBPyConnection,
    records: str,
    model_path: Path,
    keep_above: float,
    previous_links: str | None = None,
) -> int:
    """Create TEMP TABLE probabilistic_links for pairs scoring at least ``keep_above``.

    Splink runs on ``con`` itself (see :func:`splink_scratch`): no copy of the records through Arrow.

    A model saved with its term frequencies scores with those (a value the model never saw gets
    no term-frequency adjustment: Splink's rule for a value missing from the lookup, i.e. the
    level's average weight), so a pair's score depends only on its two records and the model.
    With ``previous_links`` (the published links table, identity.links) the pairs between records
    whose compared values are unchanged since the run that published it are taken from its
    probabilistic rows, and only pairs with a new or changed record are predicted: the pairs a
    full predict gives. That needs :data:`SCORED_RECORDS`, written with the links by
    :func:`store_scored_records` and tagged with a fingerprint of the model, its term
    frequencies, ``keep_above``, this module and the Splink and DuckDB versions; another
    fingerprint (a new model version) means a full predict. A model without term frequencies
    computes them from ``records``, so every pair is predicted every time.

    Leaves TEMP tables (see ``_SCORED_HANDOFF``) for :func:`store_scored_records` when the pairs
    can be reused next time.
    """
    model = json.loads(Path(model_path).read_text(encoding="utf-8"))
    changes = specification_changes(model)
    if changes:
        log.warning("%s was trained with other %s than this code's: it scores as trained; retrain "
                    "(cdp identity train) to use the new ones", Path(model_path).name, ", ".join(changes))
    frozen = frozen_term_frequencies(model_path, model)
    # Per-field match weights (mw_*) come out only with the intermediate columns.
    model["retain_intermediate_calculation_columns"] = True
    model["retain_matching_columns"] = False
    levels_sql = _comparison_levels_sql(model)
    for table in _SCORED_HANDOFF:
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    with splink_scratch(con) as home:
        create_splink_input(con, home, records)
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register("splink_input"), model, log_level=logging.WARNING)
        if frozen is not None:
            _register_term_frequencies(con, db_api, linker, frozen)
        if frozen is None or previous_links is None:
            predictions = linker.inference.predict(threshold_match_probability=keep_above)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE probabilistic_links AS
                {_links_select(f"{SPLINK_SCRATCH}.main.{predictions.physical_name}", levels_sql)}"""
            )
        else:
            fingerprint = _pairs_fingerprint(model_path, frozen, keep_above)
            _predict_reusing(con, db_api, linker, model, home, previous_links, fingerprint, keep_above, levels_sql)
    return fetch_one(con, "SELECT count(*) FROM probabilistic_links")[0]


def store_scored_records(con: duckdb.DuckDBPyConnection) -> None:
    """Write :data:`SCORED_RECORDS` from what :func:`predict_links` left, in the caller's
    transaction (the one that publishes the links, so the two never disagree); without it (no
    model, a model without term frequencies) the table goes: those links cannot be reused."""
    left = {
        row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'splink_scored%'"
        ).fetchall()
    }
    if "splink_scored_fingerprint" not in left:
        con.execute(f"DROP TABLE IF EXISTS {SCORED_RECORDS}")
        return
    fingerprint = fetch_one(con, "SELECT fingerprint FROM splink_scored_fingerprint")[0]
    stored = _comment(con, fetch_one(con, "SELECT current_database()")[0], SCORED_RECORDS)
    if "splink_scored_stale" in left and stored == fingerprint:
        # A reusing run: only the hashes of changed, gone and new records differ.
        con.execute(f"DELETE FROM {SCORED_RECORDS} WHERE record_key IN (SELECT record_key FROM splink_scored_stale)")
        con.execute(f"INSERT INTO {SCORED_RECORDS} SELECT * FROM splink_scored")
    elif "splink_scored_stale" in left:
        con.execute(f"DROP TABLE IF EXISTS {SCORED_RECORDS}")  # changed underneath: start afresh next run
    else:
        con.execute(f"CREATE OR REPLACE TABLE {SCORED_RECORDS} AS SELECT * FROM splink_scored ORDER BY record_key")
        con.execute(f"COMMENT ON TABLE {SCORED_RECORDS} IS {sql_literal(fingerprint)}")
    for table in left:
        con.execute(f"DROP TABLE {table}")


def _links_select(predictions: str, levels_sql: str) -> str:
    """SELECT turning Splink predictions into probabilistic_links rows (smaller record key left)."""
    return f"""SELECT least(record_key_l, record_key_r) AS record_key_l,
                      greatest(record_key_l, record_key_r) AS record_key_r,
                      match_weight, match_probability, {levels_sql} AS comparison_levels
               FROM {predictions}"""


def _register_term_frequencies(
    con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI, linker: Linker, frozen: dict[str, Path]
) -> None:
    """Give Splink the model's frozen term-frequency tables instead of computing them from the records."""
    for column, path in frozen.items():
        table = f"splink_frozen_tf_{column}"
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet({sql_literal(str(path))})")
        linker.table_management.register_term_frequency_lookup(db_api.register(table), column)


def _pairs_fingerprint(model_path: Path, frozen: dict[str, Path], keep_above: float) -> str:
    """What stored pairs depend on besides their two records: model, frequencies, threshold, code."""
    files = (Path(__file__), Path(model_path), *(frozen[column] for column in sorted(frozen)))
    return code_fingerprint(files, repr(float(keep_above)), SPLINK_COLUMNS_SQL, splink.__version__,
                            duckdb.__version__)


def _predict_reusing(
    con: duckdb.DuckDBPyConnection,
    db_api: DuckDBAPI,
    linker: Linker,
    model: dict[str, Any],
    home: str,
    previous_links: str,
    fingerprint: str,
    keep_above: float,
    levels_sql: str,
) -> None:
    """Inside :func:`splink_scratch`: TEMP TABLE probabilistic_links from the reusable probabilistic
    rows of ``previous_links`` and predictions for pairs with a new or changed record."""
    # A record whose compared values hash the same scores the same against any other record.
    con.execute(
        "CREATE TABLE splink_input_hashes AS "
        "SELECT record_key, hash(*COLUMNS(* EXCLUDE (record_key))) AS splink_hash FROM splink_input"
    )
    con.execute("CREATE TEMP TABLE splink_scored_fingerprint AS SELECT ? AS fingerprint", [fingerprint])
    database = home.split(".")[0]
    reusable = (
        _comment(con, database, SCORED_RECORDS) == fingerprint
        and _comment(con, database, previous_links) is not None
    )
    if not reusable:
        log.info("no reusable Splink pairs: predicting every pair")
        con.execute("CREATE TEMP TABLE splink_scored AS SELECT * FROM splink_input_hashes")
        predictions = linker.inference.predict(threshold_match_probability=keep_above)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE probabilistic_links AS
            {_links_select(predictions.physical_name, levels_sql)}"""
        )
        return
    # New and changed records (tonight's hash has no stored twin) and changed and gone ones (the
    # stored hash has none tonight), from one join on key and hash (keys are unique on both sides);
    # a semi join for the unchanged keys and two anti joins with them read both sides three times
    # (0.11 -> 0.04 s CPU at 100k).
    con.execute(
        f"""CREATE TABLE splink_hash_changes AS
        SELECT n.record_key AS new_key, n.splink_hash, o.record_key AS old_key
        FROM splink_input_hashes AS n FULL JOIN {qualified_in(home, SCORED_RECORDS)} AS o
          ON o.record_key = n.record_key AND o.splink_hash = n.splink_hash
        WHERE n.record_key IS NULL OR o.record_key IS NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE splink_scored AS
        SELECT new_key AS record_key, splink_hash FROM splink_hash_changes WHERE new_key IS NOT NULL"""
    )
    con.execute(
        """CREATE TEMP TABLE splink_scored_stale AS
        SELECT old_key AS record_key FROM splink_hash_changes WHERE old_key IS NOT NULL"""
    )
    con.execute("CREATE TABLE splink_changed_keys AS SELECT record_key FROM splink_scored")
    # The records to score: the new and changed ones, and the unchanged ones some blocking rule
    # pairs with one of them (every partner a new pair can have). Scoring them with each other
    # (dedupe, smaller record key on the left as in a full predict: some levels are one-way, e.g.
    # first and last name swapped tests l.first_name = r.last_name) and keeping the pairs with a
    # new or changed record gives the full predict's pairs with a new or changed record.
    rules = [rule["blocking_rule"] for rule in model["blocking_rules_to_generate_predictions"]]
    # A rule of column equalities (block_on) pairs the same records whichever side the changed one
    # is on: one semi join, not two (each one reads every record).
    # The new and changed records' rows once, not once per rule and side (each a pass over every record).
    con.execute("CREATE TABLE splink_changed_records AS SELECT * FROM splink_input SEMI JOIN splink_changed_keys USING (record_key)")
    partners = " UNION ".join(
        f"""SELECT {side}.record_key FROM splink_input AS {side}
            SEMI JOIN splink_changed_records AS {other} ON ({rule})"""
        for rule in rules
        for side, other in ((("r", "l"),) if _is_symmetric(rule) else (("r", "l"), ("l", "r")))
    )
    con.execute(
        f"""CREATE TABLE splink_rescore AS SELECT * FROM splink_input
        SEMI JOIN (SELECT record_key FROM splink_changed_keys UNION {partners}) USING (record_key)"""
    )
    changed = fetch_one(con, "SELECT count(*) FROM splink_changed_keys")[0]
    rescored = fetch_one(con, "SELECT count(*) FROM splink_rescore")[0]
    # Last run's pairs between two unchanged records (a pair's other record may be gone). Both
    # records of a published pair were scored by that run, so are in SCORED_RECORDS: unchanged
    # unless stale (changed or gone). Filtering on the few stale keys rather than on every
    # unchanged one: 0.14-0.2 -> 0.05 s CPU at 100k.
    kept = f"""SELECT source_record_key_l AS record_key_l, source_record_key_r AS record_key_r,
                      match_weight, match_probability, comparison_levels
               FROM {qualified_in(home, previous_links)}
               WHERE link_type = 'probabilistic'
                 AND source_record_key_l NOT IN (SELECT record_key FROM splink_scored_stale)
                 AND source_record_key_r NOT IN (SELECT record_key FROM splink_scored_stale)"""
    new = "(SELECT NULL::VARCHAR, NULL::VARCHAR, NULL::DOUBLE, NULL::DOUBLE, NULL::JSON LIMIT 0)"
    if changed:
        predictions = linker.inference.predict_within(
            db_api.register("splink_rescore"), threshold_match_probability=keep_above
        ).physical_name
        new = f"""{_links_select(predictions, levels_sql)}
                  WHERE record_key_l IN (SELECT record_key FROM splink_changed_keys)
                     OR record_key_r IN (SELECT record_key FROM splink_changed_keys)"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE probabilistic_links AS {kept} UNION ALL {new}")
    log.info("Splink pairs: %s records new or changed, scored with the %s unchanged records they block with; "
             "pairs between unchanged records kept", changed, rescored - changed)


_SAME_COLUMN = re.compile(r'^\(?l\."(\w+)" = r\."(\w+)"\)?$')


def _is_symmetric(rule: str) -> bool:
    """Is a blocking rule only equalities of a column with itself (``l."a" = r."a" AND ...``), so
    that swapping l and r pairs the same records?"""
    parts = [_SAME_COLUMN.match(part.strip()) for part in rule.split(" AND ")]
    return all(part is not None and part.group(1) == part.group(2) for part in parts)


def _comment(con: duckdb.DuckDBPyConnection, database: str, table: str) -> str | None:
    """The comment ('' for none) of table ``schema.name`` in ``database``, or None when it does not exist."""
    schema, _, name = table.rpartition(".")
    row = fetch_one(
        con,
        "SELECT coalesce(comment, '') FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [database, schema, name],
    )
    return row[0] if row else None
