"""The one suppression matcher, shared by the exporter and the export quality gate.

A suppressed identifier blocks a customer when it equals one of the customer's identifiers in
*any* destination's normalised form: plain (trim, lower case), Google's (Gmail/Googlemail local
part without dots and ``+tags``) and Meta's for e-mails, a Googlemail address also as the Gmail
one (one inbox); E.164 for phones (region: the customer's country, else
``settings.default_phone_region``; suppression entries carry no country, so they use the default
region), with the bare digits too. A suppressed phone must read as one
E.164 number (``phone_entry_problem``: an extension is set aside; a number without country code
must be valid in the default region), otherwise the row is unusable and the export stops.
Using every form on both sides means an erased ``j.doe@gmail.com`` keeps ``jdoe@gmail.com`` out
of the CSV file as well as out of Google, and the gate, which imports this module, agrees.

Suppression customer ids are the store's own customer numbers (contracts §1): they block the
resolved customer holding that store record (``identity.customer_map``), a resolved id
written directly, and the customer a former id was merged into (``identity.customer_id_history``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

import duckdb
import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from cdp.fingerprint import code_fingerprint
from cdp.warehouse import replace_rows, table_exists, transaction
from exports import hashing
from identity import phones
from identity.phones import with_ascii_digits
from identity.schema import id_history_closure
from ingestion.csv_records import strip_edges, without_zero_width


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


_GMAIL = "gmail.com"


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
        # gmail.com and googlemail.com deliver to one inbox: a request naming either blocks both.
        # For suppression only (it errs towards not contacting); the hashes sent are unchanged.
        if (mailbox := _gmail_mailbox(google)) is not None:
            forms.add(("mailbox", mailbox))
    return forms


def _gmail_mailbox(google_form: str) -> str | None:
    """``local@gmail.com`` for a Google-normalised Gmail or Googlemail address, else None."""
    local, _, domain = google_form.rpartition("@")
    return f"{local}@{_GMAIL}" if domain in hashing.GOOGLE_MAIL_DOMAINS else None


def phone_forms(value: object, region: str | None) -> set[tuple[str, str]]:
    """E.164 of a phone (``region`` for numbers without a country code) and its bare digits."""
    forms: set[tuple[str, str]] = set()
    if e164 := hashing.to_e164(value, region):
        forms.add(("e164", e164))
    # Digits too, so a number that cannot be parsed still blocks one written identically.
    if digits := re.sub(r"\D", "", with_ascii_digits(str(value or ""))):
        forms.add(("digits", digits))
    return forms


_NOT_AN_ADDRESS = ("not an e-mail address (expected local@domain, e.g. jane@example.com; "
                   "'Name <address>' and 'mailto:address' are read as the address)")
# "Jane Customer <jane@example.com>" and "<jane@example.com>": the address is what was meant.
_NAMED_ADDRESS = re.compile(r"<([^<>]*)>$")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
# local@domain: no whitespace or separators (,;:<>()[]"\\) in the local part, no leading, trailing or
# doubled dot; a domain of letter/digit labels (hyphens inside) ending in a top-level domain.
_ADDRESS = re.compile(r"(?P<local>[^\s@<>()\[\],;:\"\\]+)@"
                      r"(?P<domain>(?:[^\W_](?:(?:[^\W_]|-)*[^\W_])?\.)+(?:[^\W\d_]{2,}|xn--[a-z0-9-]+))",
                      re.IGNORECASE)


def email_entry_address(value: object) -> str | None:
    """The address a suppressed e-mail names, or None when it names none (the row is unusable).

    People send requests in the forms their mail programs write: ``Name <address>`` and
    ``mailto:address`` are read as the address. Anything else must be one well-formed address:
    ``normalize_email`` (the platforms' hashing rules) accepts any text with an ``@`` and a dot,
    so ``x@example.com;`` or ``x@example.`` would be accepted and then match nobody. A SHA-256
    digest is accepted as an already hashed address. Zero-width characters (a BOM, ``\u200b``)
    pasted anywhere in it are dropped, as ``hashing.normalize_email`` drops them from customers'
    addresses: ``ada\u200b@example.com`` is ``ada@example.com`` on both sides.
    """
    text = hashing._clean(value)
    if text is None:
        return None
    text = without_zero_width(text)
    if hashing._SHA256_HEX.match(text.lower()):
        return text
    if match := _NAMED_ADDRESS.search(text):
        text = match.group(1).strip()
    if _MAILTO.match(text):
        text = unquote(_MAILTO.sub("", text).split("?", 1)[0]).strip()
    match = _ADDRESS.fullmatch(text)
    if match is None:
        return None
    local = match.group("local")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    return text


def phone_entry_problem(value: object, region: str | None) -> str | None:
    """Why a suppressed phone cannot be applied, or None when it reads as one E.164 number.

    Customers' phones are compared in E.164, so an entry must become one: a number written with
    its country code (``+``/``00``) must be possible for that country (an extension is set aside);
    one written without must be a *valid* number of the default region, since that region is only
    our guess (``07700 900123`` read as a US number is not one: it is a UK mobile written
    nationally, and its digits would never equal a customer's E.164 phone).
    """
    text = hashing._clean(value) or ""
    if not re.search(r"\d", text):
        return "no digits in the phone number"
    e164 = hashing.to_e164(text, region)
    if text.startswith(("+", "00")):
        return None if e164 else "not a phone number for the country code it starts with"
    if e164 is not None and phonenumbers.is_valid_number(phonenumbers.parse(e164, None)):
        return None
    if not region:
        return ("no country code, and no default region (CDP_DEFAULT_PHONE_REGION) to read it in: "
                "write it with its country code (+...)")
    return f"not a valid {region.upper()} number and no country code: write it with its country code (+...)"


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
        value = strip_edges(str(identifier or ""))
        if not value:
            self.unusable.append(UnusableRow(source_file, source_line, identifier_type, "empty identifier"))
        elif kind == "email":
            address = email_entry_address(value)
            if address is None:
                self.unusable.append(UnusableRow(source_file, source_line, identifier_type, _NOT_AN_ADDRESS))
            forms = email_forms(address if address is not None else value)
            self.emails |= forms
            self.raw_emails.append(value)
        elif kind == "phone":
            forms = phone_forms(value, self.default_region)
            if problem := phone_entry_problem(value, self.default_region):
                self.unusable.append(UnusableRow(source_file, source_line, identifier_type, problem))
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
        whitespace, Gmail local part without dots and ``+tag``, Googlemail as Gmail), so two
        addresses can only share a form when their keys are equal. Non-ASCII text (NFC may change it) is always normalised.
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
    return pc.if_else(google, pc.binary_join_element_wise(dotless, _GMAIL, "@"), compact)


def _email_key(text: str) -> str:
    """Cheap common key of every normalised form of an ASCII e-mail (see ``_email_may_match``)."""
    compact = "".join(text.split()).lower()
    local, at, domain = compact.rpartition("@")
    if at and domain in hashing.GOOGLE_MAIL_DOMAINS:  # one inbox: keyed on gmail.com (``email_forms``)
        return f"{local.split('+', 1)[0].replace('.', '')}@{_GMAIL}"
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
        # A request naming a customer's former id still names the customer it was merged into.
        suppression.customer_ids.update(
            id_history_closure(con, suppression.customer_ids, "forward", change_types=("merge",)))
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
    import unicodedata
    from pathlib import Path

    sources = [Path(__file__).parent / name for name in _MATCHER_SOURCES] + [Path(phones.__file__)]
    return code_fingerprint(sources, phonenumbers.__version__,
                            unicodedata.unidata_version, duckdb.__version__, default_region or "")


_DECISION_COLUMNS = ("customer_id", "contact_fingerprint", "is_contact_match")


def _decision_table(customer_ids, fingerprints, hits) -> pa.Table:
    return pa.table({"customer_id": pa.array(customer_ids, pa.string()),
                     "contact_fingerprint": pa.array(fingerprints, pa.string()),
                     "is_contact_match": pa.array(hits, pa.bool_())})


class SuppressionMemo:
    """Each customer's suppression decision for one run, reusing the decisions of the last run.

    A stored decision says whether a customer's e-mails/phones (identified by their contact
    fingerprint) matched the suppression entries of that run. It still holds when the
    fingerprint and the matching rules are unchanged and no entry was removed since; then only
    the *new* entries are matched (with the e-mail domain and phone tail prefilters, almost no
    address is normalised). Otherwise the customer is matched from scratch. Customer-id entries
    are always applied live. ``save_memo`` replaces the stored decisions with this run's.

    Decisions (stored and this run's) are Arrow tables of customer_id, contact_fingerprint and
    is_contact_match, so a night reusing almost every decision never walks its customers in Python;
    only customers that must be matched become dicts.
    """

    def __init__(self, suppression: Suppression, previous: dict[str, tuple[str, bool]] | pa.Table | None = None,
                 previous_entries: set[tuple[str, str]] | None = None, previous_matcher: str | None = None):
        """``previous``: the last run's decisions, by customer id or as a table of ``_DECISION_COLUMNS``."""
        self.suppression = suppression
        self.matcher = matcher_fingerprint(suppression.default_region)
        self.entries = contact_entries(suppression)
        self._decisions = _decision_table([], [], [])  # this run's, one row per customer id
        self._stored = _decision_table([], [], [])
        self.delta: Suppression | None = None
        if isinstance(previous, dict):
            previous = _decision_table(list(previous), [fp for fp, _ in previous.values()],
                                       [bool(hit) for _, hit in previous.values()])
        if previous is not None and previous.num_rows and previous_entries is not None \
                and previous_matcher == self.matcher and previous_entries <= self.entries:
            self._stored = pa.table({
                "customer_id": pc.cast(previous.column("customer_id"), pa.string()),
                "contact_fingerprint": pc.cast(previous.column("contact_fingerprint"), pa.string()),
                "is_contact_match": pc.fill_null(pc.cast(previous.column("is_contact_match"), pa.bool_()), False),
            }).combine_chunks()
            self.delta = Suppression(default_region=suppression.default_region)
            for kind, value in sorted(self.entries - previous_entries):
                self.delta.add(kind, value)
        self.reused = 0

    @property
    def decided(self) -> dict[str, tuple[str, bool]]:
        """This run's decisions by customer id: (contact fingerprint, contact match)."""
        return _as_dict(self._decisions)

    @property
    def previous(self) -> dict[str, tuple[str, bool]]:
        """The reusable decisions of the last run by customer id (empty when none may be reused)."""
        return _as_dict(self._stored)

    def decision_table(self) -> pa.Table:
        """This run's decisions: customer_id, contact_fingerprint, is_contact_match."""
        return self._decisions

    def decide(self, customers: list[dict]) -> list[bool]:
        """Suppressed or not, for each customer dict (customer_id, contact_fingerprint, email, emails, ...)."""
        if not customers:
            return []
        return self.decide_array(_customer_table(customers)).to_pylist()

    def decide_table(self, customers) -> list[bool]:
        """``decide`` for an Arrow table with the columns of ``SUPPRESSION_COLUMNS``, in row order."""
        return self.decide_array(customers).to_pylist()

    def decide_array(self, customers: pa.Table) -> pa.BooleanArray:
        """``decide_table`` as an Arrow array.

        Vectorised over what this memo already decided: one customer is in many segments and
        destinations of a run, so a call looks its rows up in Arrow and only customers decided
        for the first time (or whose fingerprint changed) go through the prefilters and, when
        they must be matched, become Python dicts.
        """
        ids = pc.fill_null(pc.cast(customers.column("customer_id"), pa.string()), "None")
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        fingerprints = (pc.cast(customers.column("contact_fingerprint"), pa.string())
                        if "contact_fingerprint" in customers.column_names else pa.nulls(len(ids), pa.string()))
        if isinstance(fingerprints, pa.ChunkedArray):
            fingerprints = fingerprints.combine_chunks()
        position = pc.index_in(ids, value_set=self._decisions.column("customer_id").combine_chunks())
        known = pc.fill_null(pc.equal(fingerprints, pc.take(self._decisions.column("contact_fingerprint"),
                                                            position)), False)
        todo = np.flatnonzero(~known.to_numpy(zero_copy_only=False))
        if len(todo):
            self._decide_rows(customers.take(todo), ids.take(todo), fingerprints.take(todo))
            position = pc.index_in(ids, value_set=self._decisions.column("customer_id").combine_chunks())
        hits = pc.fill_null(pc.take(self._decisions.column("is_contact_match"), position), False)
        if isinstance(hits, pa.ChunkedArray):
            hits = hits.combine_chunks()
        if self.suppression.customer_ids:
            blocked = pa.array(sorted(self.suppression.customer_ids), pa.string())
            hits = pc.or_(hits, pc.is_in(ids, value_set=blocked))
        return hits

    def _decide_rows(self, customers: pa.Table, ids: pa.Array, fingerprints: pa.Array) -> None:
        """Decide the rows of ``customers`` this memo has no current decision for (``decide_array``)."""
        if pc.count_distinct(ids).as_py() != len(ids):
            # A customer twice in one table: its last row decides (as when deciding row by row).
            last = np.sort(len(ids) - 1 - _first_of_each(ids.take(np.arange(len(ids) - 1, -1, -1))))
            customers, ids, fingerprints = customers.take(last), ids.take(last), fingerprints.take(last)
        count = len(ids)
        hits = np.zeros(count, dtype=bool)
        done = np.zeros(count, dtype=bool)
        stored_at = pc.index_in(ids, value_set=self._stored.column("customer_id"))
        stored_fingerprint = pc.take(self._stored.column("contact_fingerprint"), stored_at)
        stored_hit = pc.fill_null(pc.take(self._stored.column("is_contact_match"), stored_at),
                                  False).to_numpy(zero_copy_only=False)
        same = pc.or_kleene(pc.equal(stored_fingerprint, fingerprints),
                            pc.and_(pc.is_null(stored_fingerprint), pc.is_null(fingerprints)))
        # As deciding one by one: a stored decision is kept and only the new entries are matched,
        # or the customer is matched against the whole list.
        reusable = (pc.and_(pc.is_valid(stored_at), pc.fill_null(same, False)).to_numpy(zero_copy_only=False)
                    & (self.delta is not None))
        if self.delta is not None:
            # Customers none of whose e-mails/phones can match an entry added since the last run
            # keep their stored decision without being matched (all of them when none was added).
            candidates = np.flatnonzero(reusable & pc.is_valid(fingerprints).to_numpy(zero_copy_only=False))
            if len(candidates):
                quiet = (np.ones(len(candidates), dtype=bool) if not (self.delta.emails or self.delta.phones)
                         else ~self.delta.may_match_table(customers.take(candidates)))
                kept = candidates[quiet]
                hits[kept], done[kept] = stored_hit[kept], True
                self.reused += len(kept)
        # Customers none of whose e-mails/phones passes the prefilters of the whole list match
        # nothing: decided without being matched one by one (``may_match_table``, pinned to agree).
        fresh = np.flatnonzero(~reusable)
        if len(fresh):
            done[fresh[~self.suppression.may_match_table(customers.take(fresh))]] = True
        pending = np.flatnonzero(~done)
        if len(pending):
            columns = [c for c in SUPPRESSION_COLUMNS if c in customers.column_names]
            delta = self.delta
            for index, customer in zip(pending.tolist(), customers.select(columns).take(pending).to_pylist(),
                                       strict=True):
                if reusable[index]:
                    self.reused += 1
                    hits[index] = stored_hit[index] or (bool(delta.emails or delta.phones)
                                                        and delta.matches_contact(customer))
                else:
                    hits[index] = self.suppression.matches_contact(customer)
        decided = self._decisions
        replaced = pc.is_in(decided.column("customer_id"), value_set=ids)
        self._decisions = pa.concat_tables([
            decided.filter(pc.invert(replaced)),
            pa.table({"customer_id": ids, "contact_fingerprint": fingerprints,
                      "is_contact_match": pa.array(hits, pa.bool_())}),
        ]).combine_chunks()


def _first_of_each(values: pa.Array) -> np.ndarray:
    """Positions of the first occurrence of each distinct value of ``values``."""
    codes = pc.index_in(values, value_set=pc.unique(values)).to_numpy(zero_copy_only=False)
    return np.unique(codes, return_index=True)[1]


def _as_dict(decisions: pa.Table) -> dict[str, tuple[str, bool]]:
    return {cid: (fp, hit) for cid, fp, hit in zip(*(decisions.column(c).to_pylist() for c in _DECISION_COLUMNS),
                                                   strict=True)}


def _customer_table(customers: list[dict]) -> pa.Table:
    """Customer dicts as a table of ``SUPPRESSION_COLUMNS`` (missing keys: null)."""
    lists = ("emails", "phones")
    return pa.table({
        column: pa.array([([str(v) for v in c.get(column) or []] if column in lists
                           else (None if c.get(column) is None else str(c.get(column))))
                          for c in customers], pa.list_(pa.string()) if column in lists else pa.string())
        for column in SUPPRESSION_COLUMNS})


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
    previous = con.sql(f"SELECT customer_id::VARCHAR AS customer_id, contact_fingerprint, is_contact_match "
                       f"FROM {table}").to_arrow_table()
    return SuppressionMemo(suppression, previous, {(kind, value) for kind, value in entries},
                           matchers.pop() if len(matchers) == 1 else None)


def save_memo(con: duckdb.DuckDBPyConnection, memo: SuppressionMemo, table: str) -> None:
    """Replace ``table`` and ``table``_entries with this run's decisions, in one transaction."""
    decisions = memo.decision_table()
    decided = decisions.append_column("matcher_fingerprint",
                                      pa.array([memo.matcher] * decisions.num_rows, pa.string()))
    entries = sorted(memo.entries)
    entry_table = pa.table({
        "identifier_type": pa.array([kind for kind, _ in entries], pa.string()),
        "identifier": pa.array([value for _, value in entries], pa.string()),
    })
    try:
        con.register("_memo_decided", decided)
        con.register("_memo_entries", entry_table)
        with transaction(con):
            # Only the decisions that changed are written (about 1% a night).
            replace_rows(con, table, "_memo_decided", decided.column_names)
            con.execute(f"CREATE OR REPLACE TABLE {table}_entries AS SELECT * FROM _memo_entries")
    finally:
        con.unregister("_memo_decided")
        con.unregister("_memo_entries")

