"""Turn the audience frames an exporter is about to publish into the export gate's datasets.

The exporter hands over ``frames`` (export name -> pandas DataFrame or pyarrow Table) and a
``context`` dict (see ``quality.gate.run_export_gate``). From them, and from the warehouse, this
module builds the long, check-friendly frames that ``quality/suites/export.yml`` validates:

- ``export_frames``: one row per export, whether customer ids are known for it.
- ``export_hashed_values``: the values of the hashed columns, flagged when one is the hash of a
  suppressed e-mail address or phone number.
- ``export_plain_values``: the values of the other text columns of hashed exports.
- ``export_column_names``: every column of hashed exports, flagged when its name says plain PII.
- ``export_customers``: exported customers with their consent status (the segment's purpose
  and, for google/meta, ad targeting) and suppression status (``exports.suppression``, the
  exporter's own matcher).

What GX sees scales with what changed: consent, suppression and suppressed hashes are checked
for every exported row, set-based (Arrow and DuckDB), every night; GX validates the rows that are
new or changed since this gate last passed the export, plus every row that fails. A row
identical to one the gate passed before (``meta.export_gate_validated_rows``) is not handed to the
checks that depend on the row alone (SHA-256 hex, no readable PII) again. ``ExportDatasets.notes``
says, per check, how many rows were checked which way; the report shows it next to GX's counts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp.fingerprint import code_fingerprint
from cdp.warehouse import table_exists, transaction
from exports.formats import DESTINATION_CONSENT
from exports.suppression import Suppression, contact_fingerprint_sql, load_memo, load_suppression, save_memo

# The gate's own suppression decisions of its last run (not the exporter's: the gate checks them).
GATE_SUPPRESSION_DECISIONS = "meta.export_gate_suppression_decisions"
# The rows (fingerprints) of each export the gate last passed, kept by the gate itself.
GATE_VALIDATED_ROWS = "meta.export_gate_validated_rows"

HASHED_NAME = re.compile(r"(^hashed_|_sha256$|_hash$|_hashed$)", re.IGNORECASE)
PLAIN_PII_NAME = re.compile(
    r"^(e?mail|email_address|emails|phone|phone_number|phones|mobile|first_name|last_name|full_name|"
    r"name|street|address|street_address|date_of_birth|birth_date|birthday|dob|fn|ln)$",
    re.IGNORECASE,
)
CONSENT_COLUMNS = {
    "email_marketing": "has_consent_email_marketing",
    "sms_marketing": "has_consent_sms_marketing",
    "ad_targeting": "has_consent_ad_targeting",
}


def _per_frame(value: Any, frame_name: str) -> Any:
    """Context values may be given once for all frames or as a {frame name: value} mapping."""
    return value.get(frame_name) if isinstance(value, dict) else value


def hashed_columns_of(frame_name: str, columns: list[Any], context: dict[str, Any]) -> list[Any]:
    """The columns of a frame that must hold hashes: from the context, else by column name."""
    given = _per_frame(context.get("hashed_columns"), frame_name)
    if given is not None:
        missing = [c for c in given if c not in columns]
        if missing:
            raise ValueError(f"export {frame_name!r}: hashed column(s) {missing} are not in the frame "
                             f"(columns: {list(columns)})")
        return list(given)
    return [c for c in columns if HASHED_NAME.search(str(c))]


def required_purposes(segment_purpose: str | None, destination: str | None,
                      destination_consent: str | None = None) -> list[str | None]:
    """Every consent purpose an export needs: the segment's, the destination's, and any extra one given.

    ``None`` (segment unknown) is kept so the check fails closed; ``none`` needs nothing.
    """
    wanted = [segment_purpose, DESTINATION_CONSENT.get(destination or ""), destination_consent]
    purposes: list[str | None] = []
    for index, purpose in enumerate(wanted):
        if purpose == "none" or (purpose is None and index > 0) or purpose in purposes:
            continue
        purposes.append(purpose)
    return purposes


def _customer_flags(con: duckdb.DuckDBPyConnection, frames: list[_Frame],
                    suppression: Suppression) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each frame with customer ids: (has_required_consent, is_suppressed) of each id, set-based.

    The customers are read with one join on their distinct ids. Consent: only TRUE counts (NULL
    consent, an unknown customer or an unknown purpose fail closed). Suppression uses the
    exporter's own matcher (exports.suppression), so both agree on who is blocked: customer id /
    store number, and every e-mail and phone of the customer in every destination's normalised
    form. The gate keeps its own decisions of its last run (``meta.export_gate_suppression_decisions``,
    a ``SuppressionMemo``), so a customer whose e-mails and phones did not change is only matched
    against suppression entries added since. Every exported row is checked, every night.
    """
    with_ids = [frame for frame in frames if frame.customer_ids is not None]
    if not with_ids:
        return {}
    every_id = pa.chunked_array([frame.customer_ids for frame in with_ids], pa.string())
    distinct = pc.unique(every_id.combine_chunks().drop_null())
    known = pa.table({"customer_id": pa.array([], pa.string())})
    if len(distinct) and table_exists(con, "marts", "dim_customers"):
        try:
            con.register("_gate_exported_ids", pa.table({"customer_id": distinct}))
            known = con.sql(
                "SELECT c.customer_id::VARCHAR AS customer_id, c.email, c.emails, c.phone, c.phones, c.country, "
                + ", ".join(f"c.{column}" for column in CONSENT_COLUMNS.values())
                + f", {contact_fingerprint_sql('c')} AS contact_fingerprint FROM marts.dim_customers AS c "
                "SEMI JOIN _gate_exported_ids AS e ON c.customer_id::VARCHAR = e.customer_id").to_arrow_table()
        finally:
            con.unregister("_gate_exported_ids")
    memo = load_memo(con, suppression, GATE_SUPPRESSION_DECISIONS)
    hits = memo.decide_array(known) if known.num_rows else pa.array([], pa.bool_())
    if known.num_rows:
        save_memo(con, memo, GATE_SUPPRESSION_DECISIONS)
    known_ids = known.column("customer_id").combine_chunks()
    suppressed_ids = pa.concat_arrays([known_ids.filter(hits),
                                       pa.array(sorted(suppression.customer_ids), pa.string())])
    no_id_suppressed = suppression.matches({"customer_id": None})  # how a row without an id was judged
    # Each exported row's customer among the known ones, found once for all frames: an ``is_in``
    # per frame and purpose built a hash set of every consented customer each time (72 times).
    distinct_known = pc.unique(known_ids)
    consent_of: dict[str, pa.ChunkedArray] = {}
    if not known.num_rows:
        pass  # nobody is known, so nobody consented
    elif len(distinct_known) < len(known_ids):  # a customer on two rows has consented if either row says so
        by_id = known.group_by("customer_id", use_threads=False).aggregate(
            [(column, "any") for column in CONSENT_COLUMNS.values()])
        distinct_known = by_id.column("customer_id").combine_chunks()
        consent_of = {column: by_id.column(f"{column}_any") for column in CONSENT_COLUMNS.values()}
    else:
        consent_of = {column: known.column(column) for column in CONSENT_COLUMNS.values()}
    position = pc.index_in(every_id, value_set=distinct_known)
    consented_rows: dict[str | None, np.ndarray] = {}
    flags, start = {}, 0
    for frame in with_ids:
        ids = frame.customer_ids
        rows = slice(start, start + len(ids))
        start += len(ids)
        consent = np.ones(len(ids), dtype=bool)
        for purpose in frame.required:
            if purpose not in consented_rows:
                column = CONSENT_COLUMNS.get(purpose or "")  # an unknown purpose: nobody consented
                consented_rows[purpose] = (
                    pc.fill_null(pc.take(pc.fill_null(consent_of[column], False), position), False)
                    .to_numpy(zero_copy_only=False) if column in consent_of
                    else np.zeros(len(every_id), dtype=bool))
            consent &= consented_rows[purpose][rows]
        suppressed = pc.fill_null(pc.is_in(ids, value_set=suppressed_ids), no_id_suppressed)
        flags[frame.name] = (consent, suppressed.to_numpy(zero_copy_only=False))
    return flags


def _segment_purposes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    if not table_exists(con, "marts", "segments"):
        return {}
    return dict(con.execute("SELECT segment_name, consent_purpose FROM marts.segments").fetchall())


@dataclass
class _Frame:
    """One export frame as the gate sees it."""

    name: str
    table: pa.Table
    pandas: pd.DataFrame | None  # the frame as handed over, when it was pandas
    hashed: list[str]
    others: list[str]  # non-hashed columns other than the customer id
    customer_ids: pa.Array | None  # one per row (or as handed over), strings; None: no ids
    segment: str | None
    label: str
    required: list[str | None]
    rules: str = ""
    is_new: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    fingerprints: pa.Array | None = None
    vanished: pa.Array | None = None  # kept fingerprints (same rules) the frame no longer has

    @property
    def ids_match_rows(self) -> bool:
        return self.customer_ids is not None and len(self.customer_ids) == self.table.num_rows


@dataclass
class ExportDatasets:
    """The export gate's datasets (keyed by the dataset names of export.yml), with what was checked how.

    ``notes``: per check name, what the check covered beyond the rows of its GX frame (for the
    report and the Data Docs). ``validated_rows``: how the kept rows of this call's frames change, applied
    by ``save`` once the gate has passed (``GATE_VALIDATED_ROWS``).
    """

    frames: dict[str, pd.DataFrame]
    notes: dict[str, str]
    validated_rows: ValidatedRowsChange

    def save(self, con: duckdb.DuckDBPyConnection) -> None:
        """Keep this call's rows as validated (call only when the gate passed)."""
        save_validated_rows(con, self.validated_rows)


def to_arrow(frame: Any) -> pa.Table:
    """Accept a pandas DataFrame or a pyarrow Table; a pandas column Arrow cannot type becomes text."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pd.DataFrame):
        columns: dict[str, pa.Array] = {}
        for position, name in enumerate(frame.columns):
            values = frame.iloc[:, position]
            try:
                columns[str(name)] = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                columns[str(name)] = pa.array([None if _is_missing(v) else str(v) for v in values], pa.string())
        return pa.table(columns)
    if hasattr(frame, "to_pandas"):
        return to_arrow(frame.to_pandas())
    raise TypeError(f"export frames must be pandas DataFrames or pyarrow Tables, got {type(frame).__name__}")


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_text(frame: _Frame, column: str) -> bool:
    """Whether ``column`` counts as text, as the pandas frame of the export types it."""
    if frame.pandas is not None:
        dtype = frame.pandas[column].dtype
        return not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    values = frame.table.column(column)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return False
    # pandas keeps a boolean column without NULLs as bool, else as object (then it is text).
    return not pa.types.is_boolean(values.type) or values.null_count > 0


def _long_values(frame: _Frame, columns: list[str], rows: np.ndarray) -> list[tuple[str, str, pa.Array]]:
    """Every non-null value of ``columns`` in ``rows`` (positions) as text: (frame name, column, values).

    Text as the pandas frame of the export would print it (``astype(str)``); string columns as they are.
    """
    parts = []
    for column in columns:
        if frame.pandas is not None:
            values = frame.pandas[column].iloc[rows].dropna().astype(str)
            text = pa.array(values.to_numpy(dtype=object), pa.string())
        else:
            chosen = frame.table.column(column).take(rows)
            if pa.types.is_string(chosen.type) or pa.types.is_large_string(chosen.type):
                text = pc.drop_null(chosen).combine_chunks().cast(pa.string())
            else:
                values = chosen.to_pandas().dropna().astype(str)
                text = pa.array(values.to_numpy(dtype=object), pa.string())
        parts.append((frame.name, column, text))
    return parts


def _long_frame(parts: list[tuple[str, str, pa.Array]], flag: str | None = None,
                flagged: pa.Array | None = None) -> pd.DataFrame:
    """One frame of frame_name, column_name, value (and ``flag``: value in ``flagged``) from ``_long_values``."""
    sizes = [len(values) for _, _, values in parts]
    values = pa.concat_arrays([values for _, _, values in parts]) if parts else pa.array([], pa.string())
    frame = pd.DataFrame({
        "frame_name": np.repeat(np.array([name for name, _, _ in parts], dtype=object), sizes),
        "column_name": np.repeat(np.array([column for _, column, _ in parts], dtype=object), sizes),
        "value": values.to_numpy(zero_copy_only=False).astype(object),
    })
    if flag is not None:
        frame[flag] = pc.is_in(values, value_set=flagged).to_numpy(zero_copy_only=False).astype(bool)
    return frame


def _source_rules() -> str:
    """What the verdict on a row depends on apart from the row: the suite, the code that turns it into
    checks and runs them, Great Expectations' and DuckDB's versions (the row hash is DuckDB's)."""
    from importlib.metadata import version

    here = Path(__file__).parent
    files = [here / "suites" / "export.yml", *(here / module for module in ("export_datasets.py", "suite_config.py",
                                                                            "gx_validation.py"))]
    return code_fingerprint(files, duckdb.__version__, version("great_expectations"))


def _frame_rules(source_rules: str, frame: _Frame) -> str:
    schema = [(field_.name, str(field_.type)) for field_ in frame.table.schema]
    text = json.dumps([source_rules, schema, frame.hashed, frame.others, frame.pandas is not None])
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprints(con: duckdb.DuckDBPyConnection, frames: list[_Frame]) -> dict[int, pa.Array]:
    """DuckDB's 64-bit hash of each row's values and customer id, for each of ``frames`` by ``id(frame)``.

    Hashed in one query per distinct schema (csv and parquet frames share one, and so do all google
    and all meta frames) instead of one query per frame (36 a night): the same hash of the same values.
    """
    groups: list[tuple[pa.Schema, list[tuple[_Frame, pa.Table]]]] = []
    for frame in frames:
        table = frame.table.append_column("__gate_customer_id", frame.customer_ids)
        group = next((members for schema, members in groups if schema.equals(table.schema, check_metadata=True)),
                     None)
        if group is None:
            groups.append((table.schema, group := []))
        group.append((frame, table))
    result = {}
    for _, members in groups:
        hashed = _fingerprint_table(con, pa.concat_tables([table for _, table in members]))
        start = 0
        for frame, table in members:
            result[id(frame)] = hashed.slice(start, table.num_rows)
            start += table.num_rows
    return result


def _fingerprint_table(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Array:
    """DuckDB's 64-bit hash of each row of ``table``, in row order."""
    columns = ", ".join('"' + name.replace('"', '""') + '"' for name in table.column_names)
    try:
        con.register("_gate_frame", table)
        return con.sql(f"SELECT hash({columns}) AS row_fingerprint FROM _gate_frame").to_arrow_table() \
            .column(0).combine_chunks()
    finally:
        con.unregister("_gate_frame")


def _mark_unchanged(con: duckdb.DuckDBPyConnection, frames: list[_Frame]) -> None:
    """Set each frame's ``is_new``: rows not identical to a row this gate passed last time in that export.

    Only frames whose customer ids line up with their rows can be compared; the rows of any
    other frame are all new.
    """
    source_rules = _source_rules()
    comparable = [frame for frame in frames if frame.ids_match_rows]
    stored = pa.table({"frame_name": pa.array([], pa.string()), "row_fingerprint": pa.array([], pa.uint64())})
    if comparable and table_exists(con, *GATE_VALIDATED_ROWS.split(".", 1)):
        for frame in comparable:
            frame.rules = _frame_rules(source_rules, frame)
        wanted = pa.table({"frame_name": [f.name for f in comparable], "frame_rules": [f.rules for f in comparable]})
        try:
            con.register("_gate_frame_rules", wanted)
            stored = con.sql(f"SELECT v.frame_name, v.row_fingerprint FROM {GATE_VALIDATED_ROWS} AS v "
                             "SEMI JOIN _gate_frame_rules AS w USING (frame_name, frame_rules)").to_arrow_table()
        finally:
            con.unregister("_gate_frame_rules")
    stored_frames = pc.dictionary_encode(stored.column("frame_name").combine_chunks())
    stored_fingerprints = stored.column("row_fingerprint").combine_chunks()
    fingerprints = _fingerprints(con, comparable)
    for frame in frames:
        frame.is_new = np.ones(frame.table.num_rows, dtype=bool)
        if not frame.ids_match_rows:
            continue
        frame.rules = frame.rules or _frame_rules(source_rules, frame)
        frame.fingerprints = fingerprints[id(frame)]
        index = stored_frames.dictionary.index(frame.name).as_py() if len(stored_frames) else -1
        if index >= 0:
            known = stored_fingerprints.filter(pc.equal(stored_frames.indices, index))
            frame.is_new = ~pc.is_in(frame.fingerprints, value_set=known).to_numpy(zero_copy_only=False)
            frame.vanished = known.filter(pc.invert(pc.is_in(known, value_set=frame.fingerprints)))


@dataclass
class ValidatedRowsChange:
    """How the kept rows of one call's frames change once the gate passed (``GATE_VALIDATED_ROWS``).

    ``frames``: frame_name, frame_rules of every frame of the call (rules NULL: the frame keeps no
    rows); rows kept under other rules are dropped. ``vanished``: frame_name, row_fingerprint of kept
    rows (under the frame's rules) the frame no longer has. ``added``: frame_name, frame_rules,
    row_fingerprint of its rows not kept yet. Applying it leaves exactly the call's distinct rows
    per frame, as replacing them would, while writing only what changed (at 1M, 2.3M rows were
    rewritten every night for ~1% that changed).
    """

    frames: pa.Table
    vanished: pa.Table
    added: pa.Table
    forget_other_frames: bool = False  # the call's frames are every export there is (context ``every_export``)


def save_validated_rows(con: duckdb.DuckDBPyConnection, change: ValidatedRowsChange) -> None:
    """Apply ``change`` to the kept rows, in one transaction."""
    try:
        con.register("_gate_frames", change.frames)
        con.register("_gate_vanished", change.vanished)
        con.register("_gate_added", change.added)
        with transaction(con):
            con.execute(f"CREATE TABLE IF NOT EXISTS {GATE_VALIDATED_ROWS} "
                        "(frame_name VARCHAR, frame_rules VARCHAR, row_fingerprint UBIGINT)")
            con.execute(f"DELETE FROM {GATE_VALIDATED_ROWS} AS v USING _gate_frames AS f "
                        "WHERE v.frame_name = f.frame_name AND v.frame_rules IS DISTINCT FROM f.frame_rules")
            if change.forget_other_frames:  # exports that no longer exist (a segment dropped or renamed)
                con.execute(f"DELETE FROM {GATE_VALIDATED_ROWS} WHERE frame_name NOT IN "
                            "(SELECT frame_name FROM _gate_frames)")
            if change.vanished.num_rows:
                con.execute(f"DELETE FROM {GATE_VALIDATED_ROWS} AS v USING _gate_vanished AS x "
                            "WHERE v.frame_name = x.frame_name AND v.row_fingerprint = x.row_fingerprint")
            if change.added.num_rows:
                con.execute(f"INSERT INTO {GATE_VALIDATED_ROWS} SELECT frame_name, frame_rules, row_fingerprint "
                            "FROM _gate_added")
    finally:
        for name in ("_gate_frames", "_gate_vanished", "_gate_added"):
            con.unregister(name)


def _validated_rows_change(frames: list[_Frame], forget_other_frames: bool) -> ValidatedRowsChange:
    """``ValidatedRowsChange`` of ``frames`` (after ``_mark_unchanged``)."""
    names, vanished, added = [], [], []
    for frame in frames:
        names.append((frame.name, frame.rules if frame.fingerprints is not None else None))
        if frame.fingerprints is None:
            continue
        if frame.vanished is not None and len(frame.vanished):
            vanished.append(pa.table({"frame_name": pa.array([frame.name] * len(frame.vanished), pa.string()),
                                      "row_fingerprint": frame.vanished}))
        new = pc.unique(frame.fingerprints.filter(pa.array(frame.is_new)).drop_null())
        if len(new):
            added.append(pa.table({"frame_name": pa.array([frame.name] * len(new), pa.string()),
                                   "frame_rules": pa.array([frame.rules] * len(new), pa.string()),
                                   "row_fingerprint": new}))
    empty_vanished = pa.table({"frame_name": pa.array([], pa.string()), "row_fingerprint": pa.array([], pa.uint64())})
    empty_added = pa.table({"frame_name": pa.array([], pa.string()), "frame_rules": pa.array([], pa.string()),
                            "row_fingerprint": pa.array([], pa.uint64())})
    return ValidatedRowsChange(
        frames=pa.table({"frame_name": pa.array([n for n, _ in names], pa.string()),
                         "frame_rules": pa.array([r for _, r in names], pa.string())}),
        vanished=pa.concat_tables(vanished) if vanished else empty_vanished,
        added=pa.concat_tables(added) if added else empty_added, forget_other_frames=forget_other_frames)


def _prepare_frames(frames: dict[str, Any], context: dict[str, Any],
                    purposes: dict[str, str]) -> list[_Frame]:
    id_column = context.get("customer_id_column", "customer_id")
    prepared = []
    for frame_name, raw_frame in frames.items():
        table = to_arrow(raw_frame)
        given = raw_frame if isinstance(raw_frame, pd.DataFrame) else None
        names = list(given.columns) if given is not None else table.column_names
        hashed = hashed_columns_of(frame_name, names, context)
        given_ids = _per_frame(context.get("customer_ids"), frame_name)
        customer_ids = None
        if given_ids is not None:
            customer_ids = _as_id_array(given_ids)
        elif id_column in names:
            customer_ids = _as_id_array(table.column(str(id_column)))
        segment = _per_frame(context.get("segments", context.get("segment_name")), frame_name)
        purpose = _per_frame(context.get("consent_purpose"), frame_name) or purposes.get(segment)
        required = required_purposes(purpose, _per_frame(context.get("destination"), frame_name),
                                     _per_frame(context.get("destination_consent"), frame_name))
        prepared.append(_Frame(
            name=frame_name, table=table, pandas=given, hashed=[str(c) for c in hashed],
            others=[str(c) for c in names if c not in hashed and c != id_column],
            customer_ids=customer_ids, segment=segment,
            label="+".join(p or "unknown" for p in required) or "none", required=required))
    return prepared


def _as_id_array(ids: Any) -> pa.Array:
    """Customer ids as text (NULL for a missing one), as the gate compares them."""
    if isinstance(ids, pa.ChunkedArray | pa.Array):
        array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        if pa.types.is_string(array.type):
            return array
        ids = array.to_pylist()
    values = list(ids)
    try:  # the exporter's ids are text already: taken as they are (None stays missing)
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    return pa.array([None if _is_missing(customer_id) else str(customer_id) for customer_id in values], pa.string())


def _coverage(total: int, in_gx: int, against: str) -> str:
    return (f"{total:,} exported row(s) checked set-based against {against}; {in_gx:,} of them validated by GX "
            f"(new or changed since this gate last passed, and any failing), {total - in_gx:,} unchanged")


def build_datasets(
    con: duckdb.DuckDBPyConnection, frames: dict[str, Any], context: dict[str, Any],
    default_phone_region: str | None = None,
) -> ExportDatasets:
    """The export gate's datasets: every row is checked, GX sees the rows that are new or fail.

    A row identical (values and customer id) to a row this gate passed in the same export last
    time, under the same suite, columns and hashed columns (``GATE_VALIDATED_ROWS``), passed the
    checks that depend on the row alone (hashes are SHA-256 hex, no readable PII); its values are
    not handed to GX again. Everything that can change overnight without the row changing is
    checked for every row, set-based: consent and suppression of every exported customer, and
    every hashed value against today's suppressed hashes. Failing rows always reach GX, so they
    block and are named in the report as before.
    """
    suppression = load_suppression(con, default_phone_region)
    suppressed_set = pa.array(sorted(suppression.hashes()), pa.string())
    prepared = _prepare_frames(frames, context, _segment_purposes(con))
    _mark_unchanged(con, prepared)
    flags = _customer_flags(con, prepared, suppression)

    frame_rows, name_rows, customer_rows = [], [], []
    hashed_rows: list[tuple[str, str, pa.Array]] = []
    plain_rows: list[tuple[str, str, pa.Array]] = []
    counts = {"customer_rows": 0, "customer_gx": 0, "hashed_values": 0,
              "value_rows": 0, "value_rows_new": 0}
    for frame in prepared:
        frame_rows.append({"frame_name": frame.name, "rows": frame.table.num_rows,
                           "has_customer_ids": frame.ids_match_rows})
        if frame.name in flags and len(frame.customer_ids):
            consent, suppressed = flags[frame.name]
            new = frame.is_new if frame.ids_match_rows else np.ones(len(consent), dtype=bool)
            keep = np.flatnonzero(new | ~consent | suppressed)
            counts["customer_rows"] += len(consent)
            counts["customer_gx"] += len(keep)
            customer_rows.append(pd.DataFrame({
                "frame_name": frame.name,
                "customer_id": pd.Series(frame.customer_ids.take(keep).to_numpy(zero_copy_only=False), dtype=object),
                "segment_name": frame.segment, "consent_purpose": frame.label,
                "has_required_consent": consent[keep], "is_suppressed": suppressed[keep]}))
        if not frame.hashed:
            continue
        new_rows = np.flatnonzero(frame.is_new)
        counts["value_rows"] += frame.table.num_rows
        counts["value_rows_new"] += len(new_rows)
        # Today's suppressed hashes against every hashed value: a row with a match reaches GX even if unchanged.
        rows = new_rows
        for column in frame.hashed:
            values = frame.table.column(column)
            counts["hashed_values"] += len(values) - values.null_count
            texts = values if pa.types.is_string(values.type) else pa.array(
                [None if v is None else str(v) for v in values.to_pylist()], pa.string())
            matched = pc.fill_null(pc.is_in(texts, value_set=suppressed_set), False).to_numpy(zero_copy_only=False)
            if matched.any():
                rows = np.union1d(rows, np.flatnonzero(matched))
        if len(rows):
            hashed_rows.extend(_long_values(frame, frame.hashed, rows))
        # Only hashed exports promise "no readable PII"; a plain e-mail list to the ESP is allowed it.
        text_columns = [c for c in frame.others if _is_text(frame, c)]
        if text_columns and len(new_rows):
            plain_rows.extend(_long_values(frame, text_columns, new_rows))
        name_rows.extend({"frame_name": frame.name, "column_name": c,
                          "is_plain_pii_column": bool(PLAIN_PII_NAME.match(c))} for c in frame.others)

    def frame_of(rows: list[Any], columns: list[str]) -> pd.DataFrame:
        if rows and isinstance(rows[0], pd.DataFrame):
            return pd.concat(rows, ignore_index=True)[columns]
        return pd.DataFrame(rows, columns=columns)

    customers = frame_of(customer_rows, ["frame_name", "customer_id", "segment_name", "consent_purpose",
                                         "has_required_consent", "is_suppressed"])
    customers = customers.astype({"customer_id": "object", "segment_name": "object", "consent_purpose": "object",
                                  "has_required_consent": bool, "is_suppressed": bool})
    customers = customers.sort_values(["frame_name", "customer_id"], na_position="first").reset_index(drop=True)
    hashed_values = _long_frame(hashed_rows, "is_suppressed_identifier", suppressed_set)
    counts["hashed_gx"] = len(hashed_values)
    unchanged_value_rows = counts["value_rows"] - counts["value_rows_new"]
    kept_rows = f"{unchanged_value_rows:,} unchanged row(s) identical to rows this gate passed before under the same suite"
    notes = {
        "exported_customers_consented": _coverage(counts["customer_rows"], counts["customer_gx"], "today's consent"),
        "no_suppressed_customers_exported": _coverage(counts["customer_rows"], counts["customer_gx"],
                                                      "today's suppression list"),
        "hashed_columns_are_sha256": f"GX validated the values of {counts['value_rows_new']:,} new or changed "
                                     f"row(s); {kept_rows}",
        "no_plain_pii_values_in_hashed_exports": f"GX validated the values of {counts['value_rows_new']:,} new or "
                                                 f"changed row(s); {kept_rows}",
        "no_suppressed_identifier_hashes": f"all {counts['hashed_values']:,} hashed value(s) checked set-based "
                                           f"against today's suppressed hashes; {counts['hashed_gx']:,} of them "
                                           "(new or changed rows, and any match) validated by GX",
    }
    return ExportDatasets(
        frames={
            "export_frames": frame_of(frame_rows, ["frame_name", "rows", "has_customer_ids"]),
            "export_hashed_values": hashed_values,
            "export_plain_values": _long_frame(plain_rows),
            "export_column_names": frame_of(name_rows, ["frame_name", "column_name", "is_plain_pii_column"]),
            "export_customers": customers,
        },
        notes=notes,
        validated_rows=_validated_rows_change(prepared, bool(context.get("every_export"))))
