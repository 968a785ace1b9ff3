"""Pseudonyms: realistic fake values that stand in for PII, consistent within one example.

The same real value (per entity type, ignoring case and spacing) gets the same fake in every turn
of a conversation, so a dialogue still reads right. Each fake is drawn by Faker seeded from the
example's id, the type and the value: the same input gives the same output (and the same output
id) on every run, and the same person in two conversations gets two unrelated fakes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

_FAKERS: dict[str, Callable[[Any, str], str]] = {
    "PERSON": lambda f, v: f.name(),
    "EMAIL_ADDRESS": lambda f, v: f.safe_email(),
    "PHONE_NUMBER": lambda f, v: f.phone_number(),
    "CREDIT_CARD": lambda f, v: f.credit_card_number(),
    "IBAN_CODE": lambda f, v: f.iban(),
    "IP_ADDRESS": lambda f, v: f.ipv6() if ":" in v else f.ipv4_public(),
    "US_SSN": lambda f, v: f.ssn(),
    # subtle: a value with a digit is a street address; a bare place name stays a place name
    "LOCATION": lambda f, v: (f"{f.street_address()}, {f.city()}, {f.state_abbr()} {f.zipcode()}"
                              if any(c.isdigit() for c in v) else f.city()),
    "URL": lambda f, v: f.url(),
    "ORGANIZATION": lambda f, v: f.company(),
    "DATE_TIME": lambda f, v: f.date(),
}


@functools.cache
def _faker() -> Any:
    from faker import Faker

    return Faker("en_US")


class Pseudonyms:
    """One example's fakes; call it with (entity type, real value). Types Faker has no
    generator for get numbered placeholders, `<US_PASSPORT_1>`, just as consistent."""

    def __init__(self, seed: str):
        self.seed = seed
        self.given: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, value: str) -> str:
        key = (kind, " ".join(value.split()).casefold())
        if key not in self.given:
            self.given[key] = self._draw(kind, value, key[1])
        return self.given[key]

    def _draw(self, kind: str, value: str, normal: str) -> str:
        make = _FAKERS.get(kind)
        if make is None:
            return f"<{kind}_{sum(k == kind for k, _ in self.given) + 1}>"
        used = set(self.given.values())
        faker = _faker()
        for attempt in itertools.count():
            digest = hashlib.blake2b(f"{self.seed}\0{kind}\0{normal}\0{attempt}".encode(),
                                     digest_size=8).digest()
            faker.seed_instance(int.from_bytes(digest, "big"))
            fake = make(faker, value)
            # subtle: two real values must not share a fake, nor may a fake echo the real value
            if fake not in used and fake.casefold() != normal:
                return fake
