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
import phonenumbers

from cdp.warehouse import table_exists
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
    _seen_emails: dict = field(default_factory=dict, repr=False, compare=False)
    _seen_phones: dict = field(default_factory=dict, repr=False, compare=False)
    _phone_tails: set[str] | None = field(default=None, repr=False, compare=False)

    def add(self, identifier_type: object, identifier: object, source_file: str | None = None,
            source_line: int | None = None) -> None:
        """Add one suppression row; a row identifying nobody is kept in ``unusable`` with its origin."""
        self._seen_emails.clear()  # the memos of matches() hold decisions for the old lists
        self._seen_phones.clear()
        self._phone_tails = None
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
        if str(customer.get("customer_id")) in self.customer_ids:
            return True
        if self.emails:
            for email in _values(customer.get("email"), customer.get("emails")):
                if self._email_matches(email):
                    return True
        if not self.phones:
            return False
        region = hashing.country_code(customer.get("country")) or self.default_region
        return any(self._phone_matches(phone, region) for phone in _values(customer.get("phone"), customer.get("phones")))

    # Customers share addresses across their e-mail lists and segments: decide each value once.
    def _email_matches(self, email: object) -> bool:
        try:
            return self._seen_emails[email]
        except KeyError:
            found = self._seen_emails[email] = bool(email_forms(email) & self.emails)
            return found
        except TypeError:  # an unhashable value: decide it without the memo
            return bool(email_forms(email) & self.emails)

    def _phone_matches(self, phone: object, region: str | None) -> bool:
        key = (phone, region)
        try:
            return self._seen_phones[key]
        except KeyError:
            found = self._seen_phones[key] = self._phone_may_match(phone) and bool(
                phone_forms(phone, region) & self.phones)
            return found
        except TypeError:
            return bool(phone_forms(phone, region) & self.phones)

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
