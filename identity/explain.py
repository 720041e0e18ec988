"""Explain one customer: its source records, and why each link that holds them together was made."""

from __future__ import annotations

import json
from typing import Any

from cdp.warehouse import connect, table_exists
from identity.schema import IdentityError, fetch_one

_RULE_REASONS = {
    "email": "same email address",
    "phone": "same phone number",
    "user_id": "same web user id",
    "loyalty_card": "same loyalty card",
    "anonymous_to_user": "the anonymous web visitor identified as (or was aliased to) this user",
}
_SHOWN_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode", "city")


def _describe_levels(levels_json: str | None) -> str:
    if not levels_json:
        return ""
    levels = json.loads(levels_json)
    agreed = [f"{name} ({v['level']}, {v['weight']:+.1f})" for name, v in levels.items() if (v.get("weight") or 0) > 0]
    disagreed = [f"{name} ({v['weight']:+.1f})" for name, v in levels.items() if (v.get("weight") or 0) < 0]
    parts = []
    if agreed:
        parts.append("agreed: " + ", ".join(agreed))
    if disagreed:
        parts.append("disagreed: " + ", ".join(disagreed))
    return "; ".join(parts)


class CustomerNotFound(IdentityError):
    """The customer id is neither in the published map nor in the id history."""


def explain(settings: Any, customer_id: str) -> str:
    """A readable account of ``customer_id``: records, accepted links with rule or weight, cut links.

    A merged or split-away id is answered from identity.customer_id_history; an id never handed
    out raises :class:`CustomerNotFound`, and a warehouse with no published map ``IdentityError``.
    """
    if not settings.warehouse_path.exists():
        raise IdentityError(
            f"no warehouse at {settings.warehouse_path}: run `cdp ingest` and `cdp identity run` first "
            "(or set CDP_HOME / CDP_WAREHOUSE_PATH to the warehouse to read)"
        )
    with connect(settings, read_only=True) as con:
        if not table_exists(con, "identity", "customer_map"):
            raise IdentityError(
                f"{settings.warehouse_path}: no identity resolution has been published yet "
                "(identity.customer_map is missing); run `cdp identity run` first"
            )
        found = fetch_one(con, "SELECT count(*) FROM identity.customer_map WHERE customer_id = ?", [customer_id])
        if not found or not found[0]:
            history = con.execute(
                """SELECT run_id, change_type, new_customer_id, reason FROM identity.customer_id_history
                   WHERE old_customer_id = ? ORDER BY changed_at DESC, run_id DESC LIMIT 5""",
                [customer_id],
            ).fetchall() if table_exists(con, "identity", "customer_id_history") else []
            if history:
                run_id, change, new_id, reason = history[0]
                return f"Customer {customer_id} no longer exists: {change} in run {run_id} into {new_id} ({reason})."
            raise CustomerNotFound(
                f"Customer {customer_id} is not in identity.customer_map and was never merged or split away "
                "(identity.customer_id_history); customer ids look like cus_0123456789abcdef"
            )
        records = con.execute(
            f"""SELECT m.source_system || '|' || m.source_record_id, {", ".join("s." + f for f in _SHOWN_FIELDS)}
                FROM identity.customer_map AS m
                LEFT JOIN identity.person_records_standardised AS s USING (source_system, source_record_id)
                WHERE m.customer_id = ? ORDER BY 1""",
            [customer_id],
        ).fetchall()
        keys = [row[0] for row in records]
        links = con.execute(
            """SELECT source_record_key_l, source_record_key_r, link_type, rule, match_weight, match_probability,
                      CAST(comparison_levels AS VARCHAR), is_accepted, rejected_reason
               FROM identity.links
               WHERE source_record_key_l IN (SELECT unnest(?::VARCHAR[]))
                  OR source_record_key_r IN (SELECT unnest(?::VARCHAR[]))
               ORDER BY is_accepted DESC, link_type, source_record_key_l, source_record_key_r""",
            [keys, keys],
        ).fetchall()
    lines = [f"Customer {customer_id}: {len(records)} source record(s)"]
    for key, *values in records:
        shown = ", ".join(f"{name}={value}" for name, value in zip(_SHOWN_FIELDS, values, strict=True) if value)
        lines.append(f"  {key}: {shown or '(no identifying fields)'}")
    accepted = [link for link in links if link[7]]
    rejected = [link for link in links if not link[7]]
    lines.append(f"Links that hold it together ({len(accepted)}):")
    for left, right, link_type, rule, weight, probability, levels, _ok, _reason in accepted:
        if link_type == "deterministic":
            lines.append(f"  {left} = {right}: {_RULE_REASONS.get(rule, rule)} (deterministic rule '{rule}')")
        else:
            lines.append(
                f"  {left} ~ {right}: match weight {weight:.1f}, probability {probability:.3f}; "
                f"{_describe_levels(levels)}"
            )
    if rejected:
        lines.append(f"Links considered and refused ({len(rejected)}):")
        for left, right, link_type, rule, _weight, probability, _levels, _ok, reason in rejected:
            score = f", probability {probability:.3f}" if probability is not None else ""
            lines.append(f"  {left} x {right}: {link_type} '{rule}'{score}; refused: {reason}")
    return "\n".join(lines)
