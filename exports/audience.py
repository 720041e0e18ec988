"""Who may be exported: segment members with the required consent, minus the suppression list.

Reads ``marts.segments``, ``marts.segment_memberships``, ``marts.dim_customers`` and
``raw.suppression_list`` (contracts §2 and §4). Suppression is fail-closed: a missing suppression
table stops the export instead of exporting everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.dbt import CONSENT_PURPOSES
from cdp.warehouse import table_exists
from exports import suppression as suppression_mod
from exports.suppression import SUPPRESSION_COLUMNS, Suppression, SuppressionMemo, contact_fingerprint_sql

# SQL for the fingerprint of what an ad-platform row is built from (exports.formats._google_row/_meta_row).
# (DuckDB's 64-bit hash: see suppression.CONTACT_FINGERPRINT_SQL.)
ROW_INPUT_FINGERPRINT_SQL = ("hash(c.email, c.phone, c.first_name, c.last_name, c.city, c.state, c.postcode, "
                             "c.country)::VARCHAR")

__all__ = ["CONSENT_PURPOSES", "Audience", "ExportInputError", "Segment", "Suppression", "load_audience",
           "load_members", "load_segments", "load_suppression"]

# Columns read from marts.dim_customers for every audience (contract §4).
CUSTOMER_COLUMNS = (
    "customer_id", "first_name", "last_name", "email", "phone", "street", "city", "postcode", "state",
    "country", "lifetime_orders", "lifetime_revenue", "last_purchase_at", "emails", "phones",
    "has_consent_email_marketing", "has_consent_sms_marketing", "has_consent_ad_targeting",
)


_REQUIRED_TABLES = (("marts", "segments"), ("marts", "segment_memberships"), ("marts", "dim_customers"))


class ExportInputError(RuntimeError):
    """An input table the export depends on is missing or unusable."""


@dataclass(frozen=True)
class Segment:
    """One row of marts.segments."""

    name: str
    consent_purpose: str
    description: str | None = None


@dataclass
class Audience:
    """The exportable members of one segment and why the others were left out."""

    segment: Segment
    members: pa.Table
    memberships: int
    excluded_no_consent: int
    excluded_suppressed: int


def check_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ExportInputError naming every missing input table."""
    missing = [f"{s}.{t}" for s, t in (*_REQUIRED_TABLES, ("raw", "suppression_list")) if not table_exists(con, s, t)]
    if missing:
        raise ExportInputError(
            f"cannot export: missing warehouse table(s) {', '.join(missing)}; run ingestion and dbt build first "
            "(exports never run without the suppression list)")


def load_segments(con: duckdb.DuckDBPyConnection) -> dict[str, Segment]:
    """All segments by name."""
    rows = con.execute(
        "SELECT segment_name, consent_purpose, description FROM marts.segments ORDER BY segment_name").fetchall()
    return {name: Segment(name, purpose, description) for name, purpose, description in rows}


def load_suppression(con: duckdb.DuckDBPyConnection, default_region: str | None) -> Suppression:
    """Every suppression request, standardised; raises ExportInputError if any cannot be applied.

    Fail closed: an erasure or opt-out we cannot match against customers (unknown identifier
    type, empty or malformed identifier, store customer number without identity.customer_map)
    stops the export, naming the file and line of each such row.
    """
    suppression = suppression_mod.load_suppression(con, default_region)
    if suppression.unusable:
        listed = "; ".join(row.describe() for row in suppression.unusable[:20])
        more = f" (and {len(suppression.unusable) - 20} more)" if len(suppression.unusable) > 20 else ""
        raise ExportInputError(
            f"raw.suppression_list has {len(suppression.unusable)} row(s) that cannot be applied: {listed}{more}; "
            "fix or remove them at the source and reload: exports stay stopped until every suppression applies")
    if suppression.unmapped_customer_ids:
        raise ExportInputError(
            f"raw.suppression_list has {len(suppression.unmapped_customer_ids)} customer_id request(s) that are not "
            "resolved customer ids, and identity.customer_map (needed to map store customer numbers to customers) "
            "is missing; refusing to export rather than ignore them")
    return suppression


def load_members(con: duckdb.DuckDBPyConnection, segment: Segment) -> pa.Table:
    """Every member of ``segment`` with the customer columns the formats need, by customer id.

    Also ``contact_fingerprint`` and ``row_input_fingerprint``: what suppression matching and
    ad-platform rows are computed from, so the next run can tell whose inputs changed.
    """
    columns = ", ".join(f"c.{name}" for name in CUSTOMER_COLUMNS)
    return con.sql(
        f"SELECT {columns}, m.member_since, {contact_fingerprint_sql('c')} AS contact_fingerprint, "
        f"{ROW_INPUT_FINGERPRINT_SQL} AS row_input_fingerprint FROM marts.segment_memberships AS m "
        "JOIN marts.dim_customers AS c ON c.customer_id = m.customer_id "
        "WHERE m.segment_name = ? ORDER BY c.customer_id",
        params=[segment.name]).to_arrow_table()


def load_members_of(con: duckdb.DuckDBPyConnection, segments: list[Segment]) -> dict[str, pa.Table]:
    """``load_members`` of each of ``segments``, read in one query (each customer's row and fingerprints
    computed once, however many segments the customer is in)."""
    if not segments:
        return {}
    columns = ", ".join(f"c.{name}" for name in CUSTOMER_COLUMNS)
    names = [segment.name for segment in segments]
    table = con.sql(
        f"WITH c AS (SELECT {columns}, {contact_fingerprint_sql('c')} AS contact_fingerprint, "
        f"{ROW_INPUT_FINGERPRINT_SQL} AS row_input_fingerprint FROM marts.dim_customers AS c) "
        f"SELECT m.segment_name, {columns}, m.member_since, c.contact_fingerprint, c.row_input_fingerprint "
        "FROM marts.segment_memberships AS m JOIN c ON c.customer_id = m.customer_id "
        "WHERE m.segment_name IN (SELECT unnest(?::VARCHAR[]))", params=[names]).to_arrow_table()
    # Sorted in Arrow, not by an ORDER BY: DuckDB sorts the whole wide rows (lists included), about
    # half of the query's CPU; Arrow sorts the two keys and takes the rows once. Same order (both
    # compare the UTF-8 bytes; a segment has a customer once, marts.segment_memberships' key).
    table = table.take(pc.sort_indices(table, sort_keys=[("segment_name", "ascending"),
                                                         ("customer_id", "ascending")]))
    # Sorted by segment: each segment's rows are one slice.
    segment_column = table.column("segment_name")
    counted = pc.value_counts(segment_column)
    rows = table.drop_columns(["segment_name"])
    members = {}
    for name, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
        members[name] = rows.slice(pc.index(segment_column, name).as_py(), count)
    empty = rows.slice(0, 0)
    return {name: members.get(name, empty) for name in names}


def decide_suppression(segments: list[Segment], members_of: dict[str, pa.Table],
                       memo: SuppressionMemo) -> dict[str, pa.Array]:
    """Suppressed or not, for each member row of each segment (``load_members_of``), in one ``memo`` call.

    Only members with the segment's consent are decided (as ``load_audience`` would: the others
    are never exported, so never matched nor kept in the memo); the rest read False.
    """
    consented_of, candidates = {}, []
    for segment in segments:
        table = members_of[segment.name]
        purpose = segment.consent_purpose
        if purpose in (None, "none") or purpose not in CONSENT_PURPOSES:
            consented = pa.array(np.ones(len(table), dtype=bool))  # load_audience raises for an unknown or NULL one
        else:
            consented = pc.fill_null(table.column(f"has_consent_{purpose}"), False)
            if isinstance(consented, pa.ChunkedArray):
                consented = consented.combine_chunks()
        consented_of[segment.name] = consented
        candidates.append(table.select([c for c in SUPPRESSION_COLUMNS if c in table.column_names]).filter(consented))
    if not candidates:
        return {}
    decided = memo.decide_array(pa.concat_tables(candidates)).to_numpy(zero_copy_only=False)
    result, start = {}, 0
    for segment, part in zip(segments, candidates, strict=True):
        consented = consented_of[segment.name].to_numpy(zero_copy_only=False)
        suppressed = np.zeros(len(consented), dtype=bool)
        suppressed[consented] = decided[start:start + part.num_rows]
        start += part.num_rows
        result[segment.name] = pa.array(suppressed)
    return result


def load_audience(con: duckdb.DuckDBPyConnection | None, segment: Segment, suppression: Suppression,
                  extra_consent: str | None = None, members: pa.Table | None = None,
                  memo: SuppressionMemo | None = None, suppressed: pa.Array | None = None) -> Audience:
    """Members of ``segment`` who gave the segment's consent (and ``extra_consent``) and are not suppressed.

    ``members`` (from ``load_members``) saves re-reading the segment for each destination, and
    ``memo`` (a ``SuppressionMemo`` for ``suppression``) saves matching a customer again in every
    segment and destination of one run, and again in the next run when nothing relevant changed.
    ``suppressed`` (``decide_suppression``, aligned with ``members``) saves even the memo's look-ups.
    """
    if segment.consent_purpose is None:
        # NULL is not "none": read that way, everyone in the segment would be exported.
        raise ExportInputError(
            f"marts.segments: segment {segment.name!r} has no consent_purpose (NULL); expected one of "
            f"{', '.join(CONSENT_PURPOSES)}: rebuild the marts (dbt build) so its not_null test passes")
    purposes = [p for p in (segment.consent_purpose, extra_consent) if p and p != "none"]
    for purpose in (segment.consent_purpose, extra_consent):
        if purpose is not None and purpose not in CONSENT_PURPOSES:
            raise ExportInputError(
                f"marts.segments: segment {segment.name!r} has consent_purpose {purpose!r}; "
                f"expected one of {', '.join(CONSENT_PURPOSES)}")
    table = load_members(con, segment) if members is None else members
    if not len(table):
        return Audience(segment, table, 0, 0, 0)
    # NULL consent means we do not know: treat it as no.
    consented = pa.array([True] * len(table), pa.bool_())
    for purpose in purposes:
        consented = pc.and_(consented, pc.fill_null(table.column(f"has_consent_{purpose}"), False))
    candidates = table.filter(consented)
    if suppressed is not None:
        suppressed = suppressed.filter(consented)
    else:
        memo = SuppressionMemo(suppression) if memo is None else memo
        suppressed = memo.decide_array(candidates)
    members_kept = candidates.filter(pc.invert(suppressed))
    excluded_suppressed = len(candidates) - len(members_kept)
    return Audience(segment, members_kept, len(table), len(table) - len(candidates), excluded_suppressed)
