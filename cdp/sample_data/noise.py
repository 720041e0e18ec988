"""The variations real source systems introduce into one person's details.

Each method takes the person's true value and returns what one source record would hold:
nicknames, typos, case and whitespace damage, phone formats, abbreviated streets and the
placeholder junk ("test@test.com", "0000000000", "unknown", "n/a") that clerks type to get
past a required field. Probabilities are per call, so every source draws its own variation.
"""

from __future__ import annotations

import random

from cdp.sample_data.vocab import ACCENTED, DIRECTIONS, DOMAIN_TYPOS, NICKNAMES, STREET_SUFFIXES

PLACEHOLDER_EMAILS = ("test@test.com", "none@none.com", "noemail@example.com", "na@na.com")
PLACEHOLDER_PHONES = ("0000000000", "1111111111", "5555555555", "123-456-7890")
PLACEHOLDER_TEXT = ("unknown", "n/a", "N/A", "Unknown", "none", "-")

_KEYBOARD_NEIGHBOURS = {
    "a": "sqwz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji",
    "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}


def typo(text: str, rng: random.Random) -> str:
    """One realistic keying error: swapped, dropped, doubled or neighbouring-key letter."""
    if len(text) < 3:
        return text
    position = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:position] + text[position + 1] + text[position] + text[position + 2 :]
    if kind == 1:
        return text[:position] + text[position + 1 :]
    if kind == 2:
        return text[:position] + text[position] + text[position:]
    char = text[position]
    neighbours = _KEYBOARD_NEIGHBOURS.get(char.lower())
    if not neighbours:
        return text[:position] + text[position + 1 :]
    replacement = rng.choice(neighbours)
    return text[:position] + (replacement.upper() if char.isupper() else replacement) + text[position + 1 :]


def format_phone(digits: str, rng: random.Random) -> str:
    """A 10-digit US number in one of the formats people and systems write it."""
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    kind = rng.randrange(8)
    if kind == 0:
        return f"({area}) {exchange}-{line}"
    if kind == 1:
        return f"{area}.{exchange}.{line}"
    if kind == 2:
        return f"+1 {area} {exchange} {line}"
    if kind == 3:
        return digits
    if kind == 4:
        return f"{area}-{exchange}-{line}"
    if kind == 5:
        return f"+1{digits}"
    if kind == 6:
        return f"1-{area}-{exchange}-{line}"
    return f"({area}) {exchange}-{line}"  # the most common format, so it gets two of the eight slots


def e164(digits: str) -> str:
    """The E.164 form of a 10-digit US number."""
    return f"+1{digits}"


class Noise:
    """Draws per-record variations with one seeded generator; `scale` multiplies every error rate."""

    def __init__(self, rng: random.Random, scale: float = 1.0) -> None:
        self.rng = rng
        self.scale = scale

    def chance(self, probability: float) -> bool:
        """True with the given probability, scaled by this source's messiness."""
        return self.rng.random() < probability * self.scale

    def first_name(self, name: str, *, nickname: float = 0.12, accent: float = 0.3) -> str:
        """A first name as typed into one system: nickname, accent, typo or case damage."""
        rng = self.rng
        if name in NICKNAMES and self.chance(nickname):
            name = rng.choice(NICKNAMES[name])
        elif name in ACCENTED and rng.random() < accent:
            name = ACCENTED[name]
        return self._text_damage(name)

    def last_name(self, name: str, *, accent: float = 0.3) -> str:
        """A last name as typed into one system."""
        if name in ACCENTED and self.rng.random() < accent:
            name = ACCENTED[name]
        return self._text_damage(name)

    def _text_damage(self, text: str) -> str:
        rng = self.rng
        if self.chance(0.03):
            text = typo(text, rng)
        if self.chance(0.04):
            text = text.upper() if rng.random() < 0.5 else text.lower()
        if self.chance(0.01):
            text = f" {text}" if rng.random() < 0.5 else f"{text} "
        return text

    def email(self, email: str) -> str:
        """An email address with the case, whitespace and domain slips forms let through."""
        rng = self.rng
        if self.chance(0.006):
            return rng.choice(PLACEHOLDER_EMAILS)
        if self.chance(0.08):
            local, _, domain = email.partition("@")
            email = (local[:1].upper() + local[1:] + "@" + domain) if rng.random() < 0.6 else email.upper()
        if self.chance(0.03):
            email = rng.choice((" ", "  ", "\t")) + email if rng.random() < 0.5 else email + " "
        if self.chance(0.005):
            local, _, domain = email.partition("@")
            if domain in DOMAIN_TYPOS:
                email = f"{local}@{DOMAIN_TYPOS[domain]}"
        return email

    def phone(self, digits: str) -> str:
        """A phone number in a random format, sometimes replaced by a placeholder."""
        if self.chance(0.006):
            return self.rng.choice(PLACEHOLDER_PHONES)
        return format_phone(digits, self.rng)

    def placeholder_text(self, value: str, probability: float = 0.004) -> str:
        """The value, or now and then the junk a clerk typed into a required field."""
        return self.rng.choice(PLACEHOLDER_TEXT) if self.chance(probability) else value

    def street(self, number: int, name: str, suffix_index: int, direction_index: int, unit: str) -> str:
        """A street line with the suffix/direction abbreviated or spelled out, as each system does."""
        rng = self.rng
        full, short = STREET_SUFFIXES[suffix_index]
        abbreviate = rng.random() < 0.55
        suffix = short if abbreviate else full
        if abbreviate and rng.random() < 0.3 and short != full:
            suffix += "."
        prefix = ""
        if direction_index >= 0:
            full_dir, short_dir = DIRECTIONS[direction_index]
            prefix = (short_dir if abbreviate else full_dir) + " "
        line = f"{number} {prefix}{name} {suffix}"
        if unit:
            line += rng.choice((f" Apt {unit}", f" #{unit}", f", Apt {unit}", f" Unit {unit}"))
        if self.chance(0.03):
            line = line.upper()
        if self.chance(0.01):
            line = typo(line, rng)
        return line

    def postcode(self, zip_code: str) -> str:
        """A ZIP code, occasionally as ZIP+4 or with its leading zero lost by a spreadsheet."""
        if self.chance(0.05):
            return f"{zip_code}-{self.rng.randrange(1000, 9999)}"
        if zip_code.startswith("0") and self.chance(0.3):
            return zip_code.lstrip("0")
        return zip_code
