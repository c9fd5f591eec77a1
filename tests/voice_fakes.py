"""Stand-ins for the search's answer in the voice decision tests (tests/test_voice_vietasr.py,
tests/test_voice_confidence.py): `voice.vietasr_engine.decide` reads only these attributes of
`centre.search` hits and results, so a test states the text search's answer directly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeHit:
    key: str
    name: str
    score: float
    matched_text: str = ""


@dataclass
class FakeSearch:
    hits: list
    referral: dict | None = None
