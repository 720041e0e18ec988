"""The one suppression matcher, shared by the exporter and the export quality gate.

A suppressed identifier blocks a customer when it equals one of the customer's identifiers in
*any* destination's normalised form: plain (trim, lower case), Google's (Gmail/Googlemail local
part without dots and ``+tags``) and Meta's for e-mails; E.164 for phones (region: the
customer's country, else ``settings.default_phone_region``; suppression entries carry no country,
so they use the default region), with a digits-only fallback for numbers that cannot be parsed.
Using every form on both sides means an erased ``j.doe@gmail.com`` keeps ``jdoe@gmail.com`` out
of the CSV file as well as out of Google, and the gate, which imports this module, agrees.

Suppression customer ids are the store's own customer numbers (contracts §1): they block the
resolved customer holding that store record (``identity.customer_map``) and a resolved id
written directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from cdp.warehouse import table_exists, transaction
from exports import hashing


class SuppressionError(RuntimeError):
    """A suppression request cannot be applied, so nothing may be exported."""


@dataclass(frozen=True)
class UnusableRow:
    """A raw.suppression_list row that identifies nobody, with where it came from."""

    source_file: str | None
    source_line: int | None
    identifier_type: str | None
    reason: str

    def describe(self) -> str:
        """``file:line (identifier_type 'x'): reason``, for error messages."""
        where = f"{self.source_file or '<unknown file>'}:{self.source_line if self.source_line is not None else '?'}"
        return f"{where} (identifier_type {self.identifier_type!r}): {self.reason}"


def email_forms(value: object) -> set[tuple[str, str]]:
    """Every destination's normalised form of an e-mail, tagged with the form's name."""
    # Google's form starts from normalize_email: normalise once, derive it.
    plain = hashing.normalize_email(value)
    if plain is None:
        return set()
    forms = {("plain", plain)}
    if meta := hashing.meta_email(value):
        forms.add(("meta", meta))
    if google := hashing.google_email_from_normalized(plain):
        forms.add(("google", google))
    return forms


def phone_forms(value: object, region: str | None) -> set[tuple[str, str]]:
    """E.164 of a phone (``region`` for numbers without a country code) and its bare digits."""
    forms: set[tuple[str, str]] = set()
    if e164 := hashing.to_e164(value, region):
        forms.add(("e164", e164))
    # Digits too, so a number that cannot be parsed still blocks one written identically.
    if digits := re.sub(r"\D", "", str(value or "")):
        forms.add(("digits", digits))
    return forms


@dataclass
class Suppression:
    """Normalised suppressed identifiers; ``matches`` decides whether a customer is blocked."""

    default_region: str | None = None
    emails: set[tuple[str, str]] = field(default_factory=set)
    phones: set[tuple[str, str]] = field(default_factory=set)
    customer_ids: set[str] = field(default_factory=set)
    raw_emails: list[str] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)
    unusable: list[UnusableRow] = field(default_factory=list)
    unmapped_customer_ids: set[str] = field(default_factory=set)
    _phone_tails: set[str] | None = field(default=None, repr=False, compare=False)
    _email_keys: set[str] | None = field(default=None, repr=False, compare=False)

    def add(self, identifier_type: object, identifier: object, source_file: str | None = None,
            source_line: int | None = None) -> None:
        """Add one suppression row; a row identifying nobody is kept in ``unusable`` with its origin."""
        self._phone_tails = None  # the prefilters are built from the lists on first use
        self._email_keys = None
        kind = str(identifier_type or "").strip().lower()
        value = str(identifier or "").strip()
        if not value:
            self.unusable.append(UnusableRow(source_file, source_line, identifier_type, "empty identifier"))
        elif kind == "email":
            forms = email_forms(value)
            if not forms:
                self.unusable.append(UnusableRow(source_file, source_line, identifier_type,
                                                 "not an e-mail address (expected local@domain)"))
            self.emails |= forms
            self.raw_emails.append(value)
        elif kind == "phone":
            forms = phone_forms(value, self.default_region)
            if not forms:
                self.unusable.append(UnusableRow(source_file, source_line, identifier_type,
                                                 "no digits in the phone number"))
            self.phones |= forms
            self.raw_phones.append(value)
        elif kind == "customer_id":
            self.customer_ids.add(value)
        else:
            self.unusable.append(UnusableRow(source_file, source_line, identifier_type,
                                             "unknown identifier_type (expected email, phone or customer_id)"))

    def matches(self, customer: dict) -> bool:
        """True when any of the customer's ids, e-mails (``email``, ``emails``) or phones is suppressed."""
        return str(customer.get("customer_id")) in self.customer_ids or self.matches_contact(customer)

    def matches_contact(self, customer: dict) -> bool:
        """True when any of the customer's e-mails (``email``, ``emails``) or phones is suppressed.

        Callers decide each customer once per run (``SuppressionMemo``), so no per-address memo
        is kept here; phone parsing itself is memoised in ``hashing.to_e164``.
        """
        if self.emails:
            for email in _values(customer.get("email"), customer.get("emails")):
                if self._email_may_match(email) and email_forms(email) & self.emails:
                    return True
        if not self.phones:
            return False
        region = hashing.country_code(customer.get("country")) or self.default_region
        return any(self._phone_may_match(phone) and phone_forms(phone, region) & self.phones
                   for phone in _values(customer.get("phone"), customer.get("phones")))

    def _email_may_match(self, email: object) -> bool:
        """False only when ``email`` certainly matches no suppressed e-mail, without normalising it.

        Every destination form of an ASCII address has the same ``_email_key`` (lower case, no
        whitespace, Gmail local part without dots and ``+tag``), so two addresses can only share
        a form when their keys are equal. Non-ASCII text (NFC may change it) is always normalised.
        """
        if self._email_keys is None:
            self._email_keys = {_email_key(form) for _, form in self.emails}
        text = str(email)
        return not text.isascii() or _email_key(text) in self._email_keys

    def _phone_may_match(self, phone: object) -> bool:
        """False only when ``phone`` certainly matches no suppressed phone, without parsing it.

        Parsing a number is slow and almost no customer is suppressed. Parsing only strips and
        rewrites the *front* of a number (international and national prefixes, country code), so
        a number written with ASCII digits and ``+-(). /`` only, whose E.164 or digits equal a
        suppressed number's, ends in the same last ``_TAIL`` digits. Anything else (letters,
        extensions, non-ASCII digits) is always parsed.
        """
        if self._phone_tails is None:
            self._phone_tails = _phone_tails(self.phones)
        if not self._phone_tails:  # empty set: some suppressed number too short to filter on
            return True
        text = str(phone)
        if not _PLAIN_PHONE.fullmatch(text):
            return True
        return _ascii_digits(text)[-_TAIL:] in self._phone_tails

    def may_match_table(self, customers) -> np.ndarray:
        """For each row of an Arrow table (``email``, ``emails``, ``phone``, ``phones``): could
        ``matches_contact`` be true? The prefilters of ``_email_may_match`` and ``_phone_may_match``,
        vectorised, so a run that adds a few entries does not turn every customer into a dict.

        False only where no e-mail and no phone of the row passes its prefilter.
        """
        rows = customers.num_rows
        flags = np.zeros(rows, dtype=bool)
        if self.emails:
            if self._email_keys is None:
                self._email_keys = {_email_key(form) for _, form in self.emails}
            keys = pa.array(sorted(self._email_keys), pa.string())
            for values, parents in _contact_values(customers, "email", "emails"):
                keyed = _email_keys_vectorised(values)
                hit = pc.or_(pc.invert(pc.string_is_ascii(values)), pc.is_in(keyed, value_set=keys))
                flags[parents[hit.to_numpy(zero_copy_only=False)]] = True
        if self.phones:
            if self._phone_tails is None:
                self._phone_tails = _phone_tails(self.phones)
            tails = pa.array(sorted(self._phone_tails), pa.string())
            for values, parents in _contact_values(customers, "phone", "phones"):
                if not self._phone_tails:
                    flags[parents] = True
                    continue
                digits = pc.replace_substring_regex(values, "[^0-9]", "")
                tail = pc.utf8_slice_codeunits(digits, -_TAIL)
                plain = pc.match_substring_regex(values, _PLAIN_PHONE_ANCHORED)
                hit = pc.or_(pc.invert(plain), pc.is_in(tail, value_set=tails))
                flags[parents[hit.to_numpy(zero_copy_only=False)]] = True
        return flags

    def hashes(self) -> set[str]:
        """SHA-256 of every suppressed e-mail and phone in every spelling a destination hashes."""
        plain = {form for _, form in self.emails}
        for value in self.raw_phones:
            for kind, form in phone_forms(value, self.default_region):
                # Google hashes +E.164, Meta the digits without the plus.
                plain |= {form, form.lstrip("+")} if kind == "e164" else {form, f"+{form}"}
        return {digest for value in plain if (digest := hashing.sha256_hex(value))}


# The prefilter of Suppression._phone_may_match: numbers written like this are parsed predictably.
_TAIL = 6
_PLAIN_PHONE = re.compile(r"[0-9+\-(). /]*")


# The same, anchored for Arrow's RE2 (whose ``$`` is the end of the text, as ``fullmatch``).
_PLAIN_PHONE_ANCHORED = r"^[0-9+\-(). /]*$"
# The characters Python's ``str.split()`` treats as whitespace in ASCII text (``_email_key``).
_ASCII_WHITESPACE = r"[ \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f]"


def _contact_values(customers, single: str, many: str):
    """(values, row index of each value) for the non-empty values of column ``single`` and list column ``many``."""
    names = customers.column_names
    if single in names:
        column = customers.column(single).combine_chunks().cast(pa.string())
        keep = pc.and_(pc.is_valid(column), pc.not_equal(column, "")).fill_null(False)
        yield column.filter(keep), np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    if many in names:
        lists = customers.column(many).combine_chunks()
        values = pc.list_flatten(lists).cast(pa.string())
        parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        keep = pc.and_(pc.is_valid(values), pc.not_equal(values, "")).fill_null(False)
        yield values.filter(keep), parents[keep.to_numpy(zero_copy_only=False)]


def _email_keys_vectorised(values: pa.Array) -> pa.Array:
    """``_email_key`` of each value (meaningful for ASCII values; the others are always normalised)."""
    compact = pc.ascii_lower(pc.replace_substring_regex(values, _ASCII_WHITESPACE, ""))
    parts = pc.extract_regex(compact, r"^(?P<local>.*)@(?P<domain>[^@]*)$")  # the last '@', as rpartition
    local, domain = pc.struct_field(parts, "local"), pc.struct_field(parts, "domain")
    google = pc.is_in(domain, value_set=pa.array(sorted(hashing.GOOGLE_MAIL_DOMAINS), pa.string())).fill_null(False)
    dotless = pc.replace_substring(pc.replace_substring_regex(local, r"\+.*", ""), ".", "")
    return pc.if_else(google, pc.binary_join_element_wise(dotless, domain, "@"), compact)


def _email_key(text: str) -> str:
    """Cheap common key of every normalised form of an ASCII e-mail (see ``_email_may_match``)."""
    compact = "".join(text.split()).lower()
    local, at, domain = compact.rpartition("@")
    if at and domain in hashing.GOOGLE_MAIL_DOMAINS:
        return f"{local.split('+', 1)[0].replace('.', '')}@{domain}"
    return compact


def _ascii_digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def _phone_tails(phones: set[tuple[str, str]]) -> set[str]:
    """The last ``_TAIL`` digits of every suppressed phone form; empty when one is too short to use.

    For E.164 forms the national number itself must have ``_TAIL`` digits, so the tail never
    reaches into the country code a customer's number may be written without.
    """
    tails = set()
    for kind, form in phones:
        digits = _ascii_digits(form)
        if kind == "e164":
            try:
                national = phonenumbers.parse(form, None).national_number
            except phonenumbers.NumberParseException:
                return set()
            if len(str(national)) < _TAIL:
                return set()
        if len(digits) < _TAIL or digits != re.sub(r"\D", "", form):
            return set()  # short, or holding non-ASCII digits: no safe tail
        tails.add(digits[-_TAIL:])
    return tails


def _values(first: object, more: Iterable[object] | None) -> list[object]:
    return [v for v in (first, *(more or [])) if v]


def load_suppression(con: duckdb.DuckDBPyConnection, default_region: str | None) -> Suppression:
    """Read raw.suppression_list (every reason blocks) into a Suppression.

    Store customer numbers are mapped to resolved customers through ``identity.customer_map``;
    without that table, ids that are not resolved customer ids land in ``unmapped_customer_ids``.
    A missing suppression table yields an empty Suppression: callers that must fail closed check
    for the table first.
    """
    suppression = Suppression(default_region=default_region)
    if not table_exists(con, "raw", "suppression_list"):
        return suppression
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = 'suppression_list'").fetchall()}
    lineage = ", ".join(c if c in columns else f"NULL AS {c}" for c in ("_source_file", "_source_line"))
    rows = con.execute(f"SELECT identifier_type, identifier, {lineage} FROM raw.suppression_list "
                       "ORDER BY 3 NULLS LAST, 4 NULLS LAST").fetchall()
    for identifier_type, identifier, source_file, source_line in rows:
        suppression.add(identifier_type, identifier, source_file, source_line)
    if suppression.customer_ids:
        _resolve_customer_ids(con, suppression)
    return suppression


def _resolve_customer_ids(con: duckdb.DuckDBPyConnection, suppression: Suppression) -> None:
    source_ids = sorted(suppression.customer_ids)
    if table_exists(con, "identity", "customer_map"):
        found = con.execute(
            "SELECT DISTINCT customer_id FROM identity.customer_map "
            "WHERE source_system = 'store' AND source_record_id IN (SELECT unnest(?::VARCHAR[]))",
            [source_ids]).fetchall()
        suppression.customer_ids.update(str(r[0]) for r in found)
        return
    direct: set[str] = set()
    if table_exists(con, "marts", "dim_customers"):
        direct = {str(r[0]) for r in con.execute(
            "SELECT customer_id FROM marts.dim_customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [source_ids]).fetchall()}
    suppression.unmapped_customer_ids = set(source_ids) - direct


# ---------------------------------------------------------------- decisions kept between runs

# What SuppressionMemo reads of a customer.
SUPPRESSION_COLUMNS = ("customer_id", "contact_fingerprint", "email", "emails", "phone", "phones", "country")
# SQL for a customer's contact fingerprint: everything Suppression.matches_contact reads. It only
# detects change (one customer's inputs against its own inputs of the last run), so DuckDB's 64-bit
# hash is enough (a change goes unnoticed with odds of 2^-64) and ~5x cheaper than MD5 over JSON;
# its values may differ between DuckDB versions, so the version is part of matcher_fingerprint.
CONTACT_FINGERPRINT_SQL = "hash({a}email, {a}emails, {a}phone, {a}phones, {a}country)::VARCHAR"
_MATCHER_SOURCES = ("suppression.py", "hashing.py")


def contact_fingerprint_sql(alias: str = "") -> str:
    """SQL expression of the contact fingerprint of ``marts.dim_customers`` rows (``alias.`` prefix optional)."""
    return CONTACT_FINGERPRINT_SQL.format(a=f"{alias}." if alias else "")


def matcher_fingerprint(default_region: str | None) -> str:
    """Identifies the matching rules: this module's and hashing's source, phonenumbers, Unicode, DuckDB, region."""
    import hashlib
    import unicodedata
    from pathlib import Path

    digest = hashlib.sha256()
    for name in _MATCHER_SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(f"|{phonenumbers.__version__}|{unicodedata.unidata_version}|{duckdb.__version__}"
                  f"|{default_region or ''}".encode())
    return digest.hexdigest()


class SuppressionMemo:
    """Each customer's suppression decision for one run, reusing the decisions of the last run.

    A stored decision says whether a customer's e-mails/phones (identified by their contact
    fingerprint) matched the suppression entries of that run. It still holds when the
    fingerprint and the matching rules are unchanged and no entry was removed since; then only
    the *new* entries are matched (with the e-mail domain and phone tail prefilters, almost no
    address is normalised). Otherwise the customer is matched from scratch. Customer-id entries
    are always applied live. ``save`` replaces the stored decisions with this run's.
    """

    def __init__(self, suppression: Suppression, previous: dict[str, tuple[str, bool]] | None = None,
                 previous_entries: set[tuple[str, str]] | None = None, previous_matcher: str | None = None):
        self.suppression = suppression
        self.matcher = matcher_fingerprint(suppression.default_region)
        self.entries = contact_entries(suppression)
        self.decided: dict[str, tuple[str, bool]] = {}  # customer id -> (fingerprint, contact match)
        self.previous: dict[str, tuple[str, bool]] = {}
        self.delta: Suppression | None = None
        if previous and previous_entries is not None and previous_matcher == self.matcher \
                and previous_entries <= self.entries:
            self.previous = previous
            self.delta = Suppression(default_region=suppression.default_region)
            for kind, value in sorted(self.entries - previous_entries):
                self.delta.add(kind, value)
        self.reused = 0
        self._index: pa.Table | None = None  # ``decided`` in Arrow (decide_table), when in step
        self._version = 0  # bumped on every change of ``decided``
        self._indexed = -1  # the version ``_index`` reflects

    def decide(self, customers: list[dict]) -> list[bool]:
        """Suppressed or not, for each customer dict (customer_id, contact_fingerprint, email, emails, ...)."""
        return [self._decide(customer) for customer in customers]

    def decide_table(self, customers) -> list[bool]:
        """``decide`` for an Arrow table with the columns of ``SUPPRESSION_COLUMNS``, in row order.

        Vectorised over what this memo already decided: one customer is in many segments and
        destinations of a run, so a call looks its rows up in Arrow and only customers decided
        for the first time (or whose fingerprint changed) go through the prefilters and, when
        they must be matched, become Python dicts.
        """
        ids = pc.fill_null(pc.cast(customers.column("customer_id"), pa.string()), "None").combine_chunks()
        fingerprints = (pc.cast(customers.column("contact_fingerprint"), pa.string()).combine_chunks()
                        if "contact_fingerprint" in customers.column_names else pa.nulls(len(ids), pa.string()))
        index = self._decided_index()
        position = pc.index_in(ids, value_set=index.column("customer_id"))
        known = pc.fill_null(pc.equal(fingerprints, pc.take(index.column("contact_fingerprint"), position)), False)
        todo = np.flatnonzero(~known.to_numpy(zero_copy_only=False))
        if len(todo):
            self._decide_rows(customers.take(todo), ids.take(todo), fingerprints.take(todo),
                              pc.is_valid(position.take(todo)))
            index = self._decided_index()
            position = pc.index_in(ids, value_set=index.column("customer_id"))
        hits = pc.fill_null(pc.take(index.column("is_contact_match"), position), False)
        if self.suppression.customer_ids:
            blocked = pa.array(sorted(self.suppression.customer_ids), pa.string())
            hits = pc.or_(hits, pc.is_in(ids, value_set=blocked))
        return hits.to_pylist()

    def _decide_rows(self, customers, ids: pa.Array, fingerprints: pa.Array, was_indexed: pa.Array) -> None:
        """Decide the rows of ``customers`` this memo has no current decision for (``decide_table``)."""
        # Customers none of whose e-mails/phones can match an entry added since the last run keep
        # their stored decision without being matched (all of them when no entry was added).
        quiet = None
        if self.delta is not None:
            quiet = (np.ones(len(ids), dtype=bool) if not (self.delta.emails or self.delta.phones)
                     else ~self.delta.may_match_table(customers))
        # Customers none of whose e-mails/phones passes the prefilters of the whole list match
        # nothing: decided without being matched one by one (``may_match_table``, pinned to agree).
        may_match = None
        pending = []
        id_list, fingerprint_list = ids.to_pylist(), fingerprints.to_pylist()
        for index, (customer_id, fingerprint) in enumerate(zip(id_list, fingerprint_list, strict=True)):
            known = self.decided.get(customer_id)
            if known is not None and known[0] == fingerprint and fingerprint is not None:
                continue  # a duplicate row of this table
            stored = self.previous.get(customer_id)
            # As ``_decide``: a stored decision is kept and only the new entries are matched, or
            # the customer is matched against the whole list.
            reusable = stored is not None and stored[0] == fingerprint and self.delta is not None
            if reusable and fingerprint is not None and quiet is not None and quiet[index]:
                self.reused += 1
                self.decided[customer_id] = stored
                self._version += 1
                continue
            if not reusable:
                if may_match is None:
                    may_match = self.suppression.may_match_table(customers)
                if not may_match[index]:
                    self.decided[customer_id] = (fingerprint, False)
                    self._version += 1
                    continue
            pending.append(index)
        if pending:
            columns = [c for c in SUPPRESSION_COLUMNS if c in customers.column_names]
            self.decide(customers.select(columns).take(pending).to_pylist())
        if self._index is None or pc.any(was_indexed).as_py() or len(set(id_list)) != len(id_list):
            self._index = None  # a fingerprint changed within the run, or a duplicate row: index afresh
            return
        new = pa.table({"customer_id": ids, "contact_fingerprint": fingerprints,
                        "is_contact_match": pa.array([self.decided[c][1] for c in id_list], pa.bool_())})
        self._index = pa.concat_tables([self._index, new]).combine_chunks()
        self._indexed = self._version

    def _decided_index(self) -> pa.Table:
        """``decided`` as an Arrow table (customer_id, contact_fingerprint, is_contact_match), kept in step."""
        if self._index is None or self._indexed != self._version:
            self._index = pa.table({
                "customer_id": pa.array(list(self.decided), pa.string()),
                "contact_fingerprint": pa.array([fp for fp, _ in self.decided.values()], pa.string()),
                "is_contact_match": pa.array([hit for _, hit in self.decided.values()], pa.bool_())})
            self._indexed = self._version
        return self._index

    def _decide(self, customer: dict) -> bool:
        customer_id = str(customer.get("customer_id"))
        fingerprint = customer.get("contact_fingerprint")
        known = self.decided.get(customer_id)
        if known is None or known[0] != fingerprint:
            stored = self.previous.get(customer_id)
            if stored is not None and stored[0] == fingerprint and self.delta is not None:
                self.reused += 1
                contact = stored[1] or (bool(self.delta.emails or self.delta.phones)
                                        and self.delta.matches_contact(customer))
            else:
                contact = self.suppression.matches_contact(customer)
            known = self.decided[customer_id] = (fingerprint, contact)
            self._version += 1
        return customer_id in self.suppression.customer_ids or known[1]


def contact_entries(suppression: Suppression) -> set[tuple[str, str]]:
    """The e-mail and phone entries of a suppression list, as (identifier_type, identifier)."""
    return {("email", v) for v in suppression.raw_emails} | {("phone", v) for v in suppression.raw_phones}


def load_memo(con: duckdb.DuckDBPyConnection, suppression: Suppression, table: str) -> SuppressionMemo:
    """A SuppressionMemo seeded from ``table`` (``schema.name``) and ``table``_entries, when they exist."""
    schema, name = table.split(".", 1)
    if not (table_exists(con, schema, name) and table_exists(con, schema, f"{name}_entries")):
        return SuppressionMemo(suppression)
    entries = con.execute(f"SELECT identifier_type, identifier FROM {table}_entries").fetchall()
    matchers = {row[0] for row in con.execute(f"SELECT DISTINCT matcher_fingerprint FROM {table}").fetchall()}
    previous = {str(cid): (fp, bool(hit)) for cid, fp, hit in con.execute(
        f"SELECT customer_id, contact_fingerprint, is_contact_match FROM {table}").fetchall()}
    return SuppressionMemo(suppression, previous, {(kind, value) for kind, value in entries},
                           matchers.pop() if len(matchers) == 1 else None)


def save_memo(con: duckdb.DuckDBPyConnection, memo: SuppressionMemo, table: str) -> None:
    """Replace ``table`` and ``table``_entries with this run's decisions, in one transaction."""
    import pyarrow as pa

    decided = pa.table({
        "customer_id": pa.array(list(memo.decided), pa.string()),
        "contact_fingerprint": pa.array([fp for fp, _ in memo.decided.values()], pa.string()),
        "is_contact_match": pa.array([hit for _, hit in memo.decided.values()], pa.bool_()),
        "matcher_fingerprint": pa.array([memo.matcher] * len(memo.decided), pa.string()),
    })
    entries = sorted(memo.entries)
    entry_table = pa.table({
        "identifier_type": pa.array([kind for kind, _ in entries], pa.string()),
        "identifier": pa.array([value for _, value in entries], pa.string()),
    })
    try:
        con.register("_memo_decided", decided)
        con.register("_memo_entries", entry_table)
        with transaction(con):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _memo_decided")
            con.execute(f"CREATE OR REPLACE TABLE {table}_entries AS SELECT * FROM _memo_entries")
    finally:
        con.unregister("_memo_decided")
        con.unregister("_memo_entries")
