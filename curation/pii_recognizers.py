"""Recognizers that lift Presidio's recall on support chats and forms: tuned copies of its own,
plus patterns for street addresses and international phone numbers.

All are Presidio's own mechanisms (PatternRecognizer with context words, checksums, the spaCy
recognizer's entity filter); presidio imports inside the functions, so importing this module
stays cheap for a worker that unpickles a task.
"""

from __future__ import annotations

import re
from typing import Any

_NO_CASE = re.DOTALL | re.MULTILINE  # Presidio's default adds IGNORECASE; capitals matter here
_STREET = (r"(?i:street|st|road|rd|lane|ln|drive|dr|court|ct|avenue|ave|boulevard|blvd|way|place|"
           r"pl|terrace|circle|cir|crescent|row|parkway|pkwy|highway|hwy|trail|trl|square|sq|loop|"
           r"alley|plaza|path|pike|ridge|stream|heights|hill|walk|park|gardens|close|mews)\.?")
_UNIT = r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|room|floor|#)\.?\s*#?\w{1,6})?"
_NAME = r"[A-Z][\w'.-]*"
_CITY_STATE_ZIP = r"[A-Z][\w'.-]+(?:\s[A-Z][\w'.-]+){0,3},\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
ADDRESS_PATTERNS = (
    # 5447 Elm Road, Apt 2B, Bozeman, MT 59744 (the city, state and ZIP are optional)
    ("street address", rf"\b\d{{1,6}}[A-Z]?\s+(?:{_NAME}\s+){{1,4}}{_STREET}{_UNIT}"
                       rf"(?:,\s*{_CITY_STATE_ZIP})?", 0.6),
    ("city, state ZIP", rf"\b{_CITY_STATE_ZIP}", 0.6),
    # Via Leopardi 83, Rua Arapiraca 1943, Fitjabraut 87, Bécsi utca 53
    ("named street and number", r"\b(?i:via|viale|rua|rue|calle|avenida|avenue|piazza|corso|"
                                r"plaza|praça|ulica|ul\.)\s+(?:[A-Z][\w'.-]*\s+){1,3}\d{1,5}\w?\b", 0.5),
    ("street word and number", r"\b[A-Z][\w'-]*(?i:straße|strasse|gasse|weg|vej|gade|gatan|vägen|"
                               r"veien|tie|katu|braut|stræde|laan|straat|plein|utca|ská|ova|ego)"
                               r"(?:\s+[a-z]+\.?)?\s+\d{1,5}\w?\b", 0.5),
    # 637 Strojírenská 1006, 0671 Langenhorner Chaussee 76: a building number on both sides
    ("numbered street", r"\b\d{1,5}\s+(?:\p{Lu}[\p{L}'.-]*\s+){1,3}\d{1,5}\b", 0.5),
    # an address block's last line: Czech Republic 45098
    ("country and postcode", r"^[ ?]*\p{Lu}\p{L}+(?: \p{Lu}\p{L}+)?\s+\d{4,5}[ ?]*$", 0.5),
    ("unit", r"\b(?i:apt|apartment|suite|unit)\.?\s+#?\d{1,5}[A-Z]?\b", 0.5),
    ("post office box", r"\b(?i:p\.?\s?o\.?\s+box|box)\s+\d{1,6}\b", 0.5),
)
# a bare postcode counts only beside its own context words
POSTCODE = r"\b\d{4,5}(?:-\d{4})?\b"
POSTCODE_CONTEXT = ["zip", "postal", "postcode"]
ADDRESS_CONTEXT = ["address", "live", "street", "ship", "send", "deliver", "located", "zip",
                   "postal", "apartment"]
# +41 53 147 37 99, (72) 583-350, 0494 41 18 24, 650-752-7354x549: two or more digit groups
PHONE_PATTERNS = (
    ("grouped digits", r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\(0\)[ .-]?)?\d{2,5}"
                       r"(?:[ .-]\d{2,6}){1,4}(?:\s?x\d{1,5})?(?!\w|-\d)", 0.3),
    ("international, ungrouped", r"(?<![\w+])\+\d{8,15}\b", 0.5),
)
# not "number": tracking, order and card numbers have it too
PHONE_CONTEXT = ["phone", "call", "mobile", "cell", "tel", "telephone", "fax", "office", "desk",
                 "reach", "text", "contact", "message", "answer", "registered", "whatsapp", "sms",
                 "ring", "dial"]
# a name right after the words people introduce, greet or point at someone with; the cue itself
# stays out of the match (a variable-length lookbehind, which the regex module allows)
_CUE = (r"(?i:my name is|name is|name:|names? are|this is|i am|i'm|calls? me|call me|thanks,?|"
        r"thank you,?|hi|hello|hey|dear|under|follow up with|add|ask|tell|contact|said|asked|"
        r"told|sincerely,?|regards,?|directed by:|written by:?|signed,?)")
_NAME_WORD = r"\p{Lu}[\p{Ll}'’-]+"
PERSON_PATTERN = (rf"(?<=\b{_CUE}[ \t]{{1,6}}){_NAME_WORD}(?:[ ]+(?:\p{{Lu}}\.?|{_NAME_WORD}|"
                  rf"(?i:de|van|von|da|del|der|di|la|le|bin|al)(?=[ ]+\p{{Lu}}))){{0,3}}\b")
# words spaCy lists as stop words that are context all the same ("call me on ...")
CUE_WORDS = frozenset(("call", "name", "give", "first", "last", "front", "back", "top"))
# 12 to 19 digits, grouped any way, starting as issuers' numbers do; Luhn decides
CARD_PATTERN = r"\b[1-6](?:[ -]?\d){11,18}\b"


def tuned_recognizers() -> list[Any]:
    """Presidio recognizers, configured otherwise; each replaces the predefined one of its name."""
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
    )

    class NerRecognizer(SpacyRecognizer):
        """spaCy's entities less the codes it takes for names and places (RO-161612, PEAK10):
        no name or place is written with digits, while an address is, and has its own pattern."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list:
            return [r for r in super().analyze(text, entities, nlp_artifacts)
                    if not any(c.isdigit() for c in text[r.start:r.end])]

    class LongPhoneRecognizer(PhoneRecognizer):
        """libphonenumber's matches with 7 digits or more: some regions accept 6, which makes
        every order number (RO-374884) a phone."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list:
            # subtle: most messages hold fewer than 7 digits in all, and then libphonenumber's
            # eight passes (a quarter of the analysis time) cannot find anything to keep
            if sum(c.isdigit() for c in text) < 7:
                return []
            return [r for r in super().analyze(text, entities, nlp_artifacts)
                    if sum(c.isdigit() for c in text[r.start:r.end]) >= 7]

    class CardRecognizer(CreditCardRecognizer):
        """Luhn-valid numbers of 13 to 19 digits; at 12 digits (Maestro) one in ten tracking or
        account numbers passes Luhn too, so those need a context word such as "card"."""

        def validate_result(self, pattern_text: str) -> bool | None:
            valid = super().validate_result(pattern_text)
            return None if valid and sum(c.isdigit() for c in pattern_text) == 12 else valid

    cards = CardRecognizer(patterns=[Pattern("card number, 12 to 19 digits", CARD_PATTERN, 0.3)],
                           name="CreditCardRecognizer")
    ner = NerRecognizer(supported_entities=["PERSON", "LOCATION", "NRP", "ORGANIZATION", "DATE_TIME"],
                        name="SpacyRecognizer")
    return [cards, ner, LongPhoneRecognizer(context=PHONE_CONTEXT, name="PhoneRecognizer")]


def custom_recognizers() -> list[Any]:
    from presidio_analyzer import Pattern, PatternRecognizer

    class PhonePatternRecognizer(PatternRecognizer):
        """Numbers in groups that libphonenumber's regions miss; a phone has 6 to 15 digits."""

        def validate_result(self, pattern_text: str) -> bool | None:
            digits = sum(c.isdigit() for c in pattern_text)
            return None if 6 <= digits <= 15 else False

    addresses = PatternRecognizer(
        supported_entity="LOCATION", name="AddressRecognizer", context=ADDRESS_CONTEXT,
        patterns=[Pattern(name, regex, score) for name, regex, score in ADDRESS_PATTERNS],
        global_regex_flags=_NO_CASE)
    postcodes = PatternRecognizer(
        supported_entity="LOCATION", name="PostcodeRecognizer", context=POSTCODE_CONTEXT,
        patterns=[Pattern("postcode", POSTCODE, 0.1)])
    phones = PhonePatternRecognizer(
        supported_entity="PHONE_NUMBER", name="PhonePatternRecognizer", context=PHONE_CONTEXT,
        patterns=[Pattern(name, regex, score) for name, regex, score in PHONE_PATTERNS])
    names = PatternRecognizer(
        supported_entity="PERSON", name="NameCueRecognizer", global_regex_flags=_NO_CASE,
        # subtle: above spaCy's 0.85, so a cued name that spaCy calls a place stays a person
        patterns=[Pattern("name after a cue", PERSON_PATTERN, 0.86)])
    return [addresses, postcodes, phones, names]
