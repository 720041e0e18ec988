"""Turn the audience frames an exporter is about to publish into the export gate's datasets.

The exporter hands over ``frames`` (export name -> pandas DataFrame or pyarrow Table) and a
``context`` dict (see ``quality.gate.run_export_gate``). From them, and from the warehouse, this
module builds the long, check-friendly frames that ``quality/suites/export.yml`` validates:

- ``export_frames``: one row per export, whether customer ids are known for it.
- ``export_hashed_values``: every value of every hashed column, flagged when it is the hash of
  a suppressed e-mail address or phone number.
- ``export_plain_values``: every value of the other text columns of hashed exports.
- ``export_column_names``: every column of hashed exports, flagged when its name says plain PII.
- ``export_customers``: every exported customer with its consent status (the segment's purpose
  and, for google/meta, ad targeting) and suppression status (``exports.suppression``, the
  exporter's own matcher).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp.warehouse import table_exists
from exports.formats import DESTINATION_CONSENT
from exports.suppression import Suppression, contact_fingerprint_sql, load_memo, load_suppression, save_memo

# The gate's own suppression decisions of its last run (not the exporter's: the gate checks them).
GATE_SUPPRESSION_DECISIONS = "meta.export_gate_suppression_decisions"

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


def to_pandas(frame: Any) -> pd.DataFrame:
    """Accept a pandas DataFrame or a pyarrow Table."""
    if isinstance(frame, pd.DataFrame):
        return frame
    if hasattr(frame, "to_pandas"):
        return frame.to_pandas()
    raise TypeError(f"export frames must be pandas DataFrames or pyarrow Tables, got {type(frame).__name__}")


def _per_frame(value: Any, frame_name: str) -> Any:
    """Context values may be given once for all frames or as a {frame name: value} mapping."""
    return value.get(frame_name) if isinstance(value, dict) else value


def hashed_columns_of(frame_name: str, frame: pd.DataFrame, context: dict[str, Any]) -> list[str]:
    """The columns of a frame that must hold hashes: from the context, else by column name."""
    given = _per_frame(context.get("hashed_columns"), frame_name)
    if given is not None:
        missing = [c for c in given if c not in frame.columns]
        if missing:
            raise ValueError(f"export {frame_name!r}: hashed column(s) {missing} are not in the frame "
                             f"(columns: {list(frame.columns)})")
        return list(given)
    return [c for c in frame.columns if HASHED_NAME.search(str(c))]


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


def _consent_flags(known: pa.Table, ids: list[str], purpose: str | None) -> np.ndarray:
    """For each of ``ids`` then one more (a row without a customer id): consented to ``purpose``?

    Only TRUE counts: NULL consent, an unknown customer or an unknown purpose fail closed.
    """
    column = CONSENT_COLUMNS.get(purpose or "")
    flags = np.zeros(len(ids) + 1, dtype=bool)
    if column is None or not known.num_rows:
        return flags
    given = dict(zip(known.column("customer_id").to_pylist(), known.column(column).to_pylist(), strict=True))
    flags[:-1] = [given.get(cid) is True for cid in ids]
    return flags


def _customer_status(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame,
                     suppression: Suppression) -> pd.DataFrame:
    """Add has_required_consent and is_suppressed to the exported (frame, customer) rows.

    Suppression uses the exporter's own matcher (exports.suppression), so both agree on who is
    blocked: customer id / store number, and every e-mail and phone of the customer in every
    destination's normalised form. The gate keeps its own decisions of its last run
    (``meta.export_gate_suppression_decisions``, a ``SuppressionMemo``), so a customer whose
    e-mails and phones did not change is only matched against suppression entries added since.
    """
    ids = sorted({cid for cid in customers["customer_id"] if cid is not None})
    known = pa.table({"customer_id": pa.array([], pa.string())})
    if ids and table_exists(con, "marts", "dim_customers"):
        known = con.sql(
            "SELECT customer_id, email, emails, phone, phones, country, "
            + ", ".join(CONSENT_COLUMNS.values()) + f", {contact_fingerprint_sql()} AS contact_fingerprint "
            "FROM marts.dim_customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            params=[ids]).to_arrow_table()
    # One customer is in many frames (segments x destinations x snapshot/added): decide each once,
    # then spread the decisions over the rows by position (the last slot: rows without an id).
    memo = load_memo(con, suppression, GATE_SUPPRESSION_DECISIONS)
    decided = dict(zip(map(str, known.column("customer_id").to_pylist()), memo.decide_table(known), strict=True))
    if known.num_rows:
        save_memo(con, memo, GATE_SUPPRESSION_DECISIONS)
    suppressed_by_position = np.array(
        [decided[cid] if cid in decided else suppression.matches({"customer_id": cid}) for cid in ids]
        + [suppression.matches({"customer_id": None})], dtype=bool)
    position = pd.Index(ids, dtype=object).get_indexer(customers["customer_id"])  # -1: no id, the last slot
    flags: dict[str | None, np.ndarray] = {}
    consented = np.zeros(len(customers), dtype=bool)
    for _, rows in customers.groupby("frame_name", sort=False).indices.items():
        purposes = customers["required_purposes"].iat[rows[0]]
        frame_consent = np.ones(len(ids) + 1, dtype=bool)
        for purpose in purposes:
            if purpose not in flags:
                flags[purpose] = _consent_flags(known, ids, purpose)
            frame_consent &= flags[purpose]
        consented[rows] = frame_consent[position[rows]]
    status = customers.drop(columns=["required_purposes"]).assign(
        has_required_consent=pd.Series(consented, dtype=bool),
        is_suppressed=pd.Series(suppressed_by_position[position], dtype=bool))
    return status.sort_values(["frame_name", "customer_id"], na_position="first").reset_index(drop=True)


def _segment_purposes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    if not table_exists(con, "marts", "segments"):
        return {}
    return dict(con.execute("SELECT segment_name, consent_purpose FROM marts.segments").fetchall())


def _long_values(frame_name: str, frame: pd.DataFrame, columns: Iterable[str]) -> list[pd.DataFrame]:
    """Every non-null value of ``columns`` as text, one row each: frame_name, column_name, value."""
    parts = []
    for column in columns:
        values = frame[column].dropna()
        parts.append(pd.DataFrame({"frame_name": frame_name, "column_name": str(column),
                                   "value": values.astype(str).to_numpy(dtype=object)}))
    return parts


def build_datasets(
    con: duckdb.DuckDBPyConnection, frames: dict[str, Any], context: dict[str, Any],
    default_phone_region: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The export gate's datasets, keyed by the dataset names used in export.yml."""
    id_column = context.get("customer_id_column", "customer_id")
    purposes = _segment_purposes(con)
    suppression = load_suppression(con, default_phone_region)
    suppressed_set = pa.array(sorted(suppression.hashes()), pa.string())
    frame_rows, hashed_rows, plain_rows, name_rows, customer_rows = [], [], [], [], []
    for frame_name, raw_frame in frames.items():
        frame = to_pandas(raw_frame)
        hashed = hashed_columns_of(frame_name, frame, context)
        given_ids = _per_frame(context.get("customer_ids"), frame_name)
        if given_ids is None and id_column in frame.columns:
            given_ids = frame[id_column].tolist()
        frame_rows.append({"frame_name": frame_name, "rows": len(frame),
                           "has_customer_ids": given_ids is not None and len(given_ids) == len(frame)})
        segment = _per_frame(context.get("segments", context.get("segment_name")), frame_name)
        purpose = _per_frame(context.get("consent_purpose"), frame_name) or purposes.get(segment)
        required = required_purposes(purpose, _per_frame(context.get("destination"), frame_name),
                                     _per_frame(context.get("destination_consent"), frame_name))
        label = "+".join(p or "unknown" for p in required) or "none"
        if given_ids is not None and len(given_ids):
            if all(type(customer_id) is str for customer_id in given_ids):  # the exporter's ids: as they are
                customer_ids = list(given_ids)
            else:
                customer_ids = [None if pd.isna(customer_id) else str(customer_id) for customer_id in given_ids]
            customer_rows.append(pd.DataFrame({
                "frame_name": frame_name, "customer_id": pd.Series(customer_ids, dtype=object),
                "segment_name": segment, "consent_purpose": label,
                "required_purposes": pd.Series([required] * len(customer_ids), dtype=object)}))
        for part in _long_values(frame_name, frame, hashed):
            flags = pc.is_in(pa.array(part["value"].to_numpy(dtype=object), pa.string()), value_set=suppressed_set)
            hashed_rows.append(part.assign(is_suppressed_identifier=flags.to_numpy(zero_copy_only=False)))
        if hashed:
            # Only hashed exports promise "no readable PII"; a plain e-mail list to the ESP is allowed it.
            others = [c for c in frame.columns if c not in hashed and c != id_column]
            text_columns = [c for c in others if not pd.api.types.is_numeric_dtype(frame[c])
                            and not pd.api.types.is_bool_dtype(frame[c])]
            plain_rows.extend(_long_values(frame_name, frame, text_columns))
            name_rows.extend({"frame_name": frame_name, "column_name": str(c),
                              "is_plain_pii_column": bool(PLAIN_PII_NAME.match(str(c)))} for c in others)

    def frame_of(rows: list[dict[str, Any]] | list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        if rows and isinstance(rows[0], pd.DataFrame):
            return pd.concat(rows, ignore_index=True)[columns]
        return pd.DataFrame(rows, columns=columns)

    customers = frame_of(customer_rows, ["frame_name", "customer_id", "segment_name", "consent_purpose",
                                         "required_purposes"])
    customers = customers.astype({"customer_id": "object", "segment_name": "object", "consent_purpose": "object"})
    return {
        "export_frames": frame_of(frame_rows, ["frame_name", "rows", "has_customer_ids"]),
        "export_hashed_values": frame_of(hashed_rows, ["frame_name", "column_name", "value", "is_suppressed_identifier"]),
        "export_plain_values": frame_of(plain_rows, ["frame_name", "column_name", "value"]),
        "export_column_names": frame_of(name_rows, ["frame_name", "column_name", "is_plain_pii_column"]),
        "export_customers": _customer_status(con, customers, suppression),
    }
