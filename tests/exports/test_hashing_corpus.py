"""Every vector of the shared ad-platform hashing corpus, through exports.hashing.

The corpus sits beside the project (../shared/corpora/hashing), not in it: these tests skip
cleanly when it is absent. See its SOURCE.md for where each vector comes from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exports import hashing

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "hashing" / "vectors.json"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_file(), reason=f"hashing corpus not found at {CORPUS}"),
]

# Fields the exports never send (Meta gender and date of birth are not in our audience files).
NOT_EXPORTED = {("meta", "ge"), ("meta", "db")}


def _region(vector: dict) -> str | None:
    context = vector.get("context") or {}
    if "default_region" in context:
        return context["default_region"]
    return context.get("country")


def _normalise(vector: dict) -> str | None:
    raw, region = vector["raw"], _region(vector)
    country = (vector.get("context") or {}).get("country")
    normalisers = {
        ("meta", "em"): lambda: hashing.meta_email(raw),
        ("meta", "ph"): lambda: hashing.meta_phone(raw, region),
        ("meta", "fn"): lambda: hashing.meta_name(raw),
        ("meta", "ln"): lambda: hashing.meta_name(raw),
        ("meta", "ct"): lambda: hashing.meta_city(raw),
        ("meta", "st"): lambda: hashing.meta_state(raw, country),
        ("meta", "zp"): lambda: hashing.meta_zip(raw, country),
        ("meta", "country"): lambda: hashing.meta_country(raw),
        ("google", "email_address"): lambda: hashing.google_email(raw),
        ("google", "phone_number"): lambda: hashing.google_phone(raw, region),
        ("google", "given_name"): lambda: hashing.google_first_name(raw),
        ("google", "family_name"): lambda: hashing.google_last_name(raw),
        ("google", "region_code"): lambda: hashing.google_country(raw),
        ("google", "postal_code"): lambda: hashing.google_zip(raw),
    }
    return normalisers[(vector["platform"], vector["field"])]()


def _vectors() -> list[dict]:
    if not CORPUS.is_file():
        return []
    return json.loads(CORPUS.read_text(encoding="utf-8"))["vectors"]


def _is_unmatchable(vector: dict) -> bool:
    """The corpus marks a phone with no country code and no known region as not matchable."""
    return "NOT MATCHABLE" in (vector.get("notes") or "")


EXPORTED = [v for v in _vectors() if (v["platform"], v["field"]) not in NOT_EXPORTED]


def test_corpus_is_the_one_described_in_source_md():
    data = json.loads(CORPUS.read_text(encoding="utf-8"))
    assert data["counts"]["total"] == len(data["vectors"]) == 114
    assert sum(v["source"].startswith("published") for v in data["vectors"]) == 31
    # Everything except Meta gender/date of birth is covered by an exporter normaliser.
    assert len(EXPORTED) == 114 - sum((v["platform"], v["field"]) in NOT_EXPORTED for v in data["vectors"])


@pytest.mark.parametrize("vector", EXPORTED, ids=[v["id"] for v in EXPORTED])
def test_normalisation_and_hash_match_the_vector(vector):
    normalized = _normalise(vector)
    if _is_unmatchable(vector):
        # Sending the bare national digits would upload a hash that can never match anyone.
        assert normalized is None
        return
    assert normalized == vector["normalized"], f"{vector['id']}: raw {vector['raw']!r}"
    if vector.get("hashed", True):
        assert hashing.sha256_hex(normalized) == vector["sha256"]
    if vector.get("published_sha256"):
        assert hashing.sha256_hex(normalized) == vector["published_sha256"].lower()


PUBLISHED = [v for v in EXPORTED if v.get("published_sha256")]


@pytest.mark.parametrize("vector", PUBLISHED, ids=[v["id"] for v in PUBLISHED])
def test_platform_published_hashes_are_reproduced_from_raw_input(vector):
    assert hashing.sha256_hex(_normalise(vector)) == vector["published_sha256"].lower()


def test_no_alternative_normalisation_is_what_we_produce():
    """Where the platforms' libraries disagree, we produce the pinned choice, never an alternative."""
    for vector in EXPORTED:
        for alternative in vector.get("alternatives", []):
            if alternative.get("normalized") not in (None, vector["normalized"]):
                assert _normalise(vector) != alternative["normalized"], vector["id"]
