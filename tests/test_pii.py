"""The PII step on a few rows with exact expected decisions, and once through the runner on a
real store. The Presidio engine loads once for the module (it takes seconds)."""

from __future__ import annotations

import os

import orjson
import pytest

from gristmill.curation import pii_engine
from gristmill.curation.pii import PiiScrub
from gristmill.curation.pii_engine import KNOWN_ENTITIES, resolve_overlaps
from gristmill.curation.pii_models import DEFAULT_MODEL, resolve_model
from gristmill.curation.recipe import make_step
from gristmill.curation.rows import Context
from gristmill.curation.runner import curate
from gristmill.curation.step import ListRows
from gristmill.errors import UsageError
from gristmill.example import Example
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EMAIL, PHONE = "dana.whitfield@gmail.com", "(802) 555-0187"
USER = f"Hi, this is Dana Whitfield. Write to {EMAIL} or call {PHONE}."


@pytest.fixture(scope="module")
def engines():
    return pii_engine.engines(resolve_model(DEFAULT_MODEL))


def scrub(examples, engines, **settings):
    step = PiiScrub(PiiScrub.Config(workers=1, **settings))
    return step.run(ListRows(examples), Context())


def spans(*found):
    return [{"field": f, "message": m, "start": s, "end": e, "type": t} for f, m, s, e, t in found]


def test_placeholders_replace_a_name_an_email_and_a_phone(engines):
    example = Example.chat([{"role": "system", "content": "You help the customers of a shop."},
                            {"role": "user", "content": USER},
                            {"role": "assistant", "content": "Thanks, I will call you today."}])
    decisions = scrub([example], engines)
    assert not decisions.drops
    rewrite = decisions.rewrites[example.id]
    assert [m["content"] for m in rewrite.example.payload["messages"]] == [
        "You help the customers of a shop.",
        "Hi, this is <PERSON>. Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>.",
        "Thanks, I will call you today."]
    assert rewrite.evidence == {
        "operator": "placeholder",
        "entities": {"PERSON": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1},
        "spans": spans(("messages", 1, 12, 26, "PERSON"), ("messages", 1, 37, 61, "EMAIL_ADDRESS"),
                       ("messages", 1, 70, 84, "PHONE_NUMBER"))}
    assert USER[12:26] == "Dana Whitfield" and USER[70:84] == PHONE
    assert decisions.stats["entities"] == {"PERSON": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_an_example_without_pii_is_left_alone(engines):
    example = Example.chat([{"role": "user", "content": "How long does shipping take?"},
                            {"role": "assistant", "content": "Three to five business days."}])
    decisions = scrub([example], engines)
    assert not decisions.rewrites and not decisions.drops


def test_pseudonyms_are_consistent_across_turns_and_deterministic(engines):
    example = Example.chat([
        {"role": "user", "content": "My name is Dana Whitfield and my friend is Omar Haddad."},
        {"role": "assistant", "content": "Hello Dana Whitfield, how can I help?"},
        {"role": "user", "content": "Please send the parcel to Omar Haddad."},
        {"role": "assistant", "content": "Done."}])
    first = scrub([example], engines, operator="pseudonym").rewrites[example.id]
    again = scrub([example], engines, operator="pseudonym").rewrites[example.id]
    assert first.example.id == again.example.id
    texts = [m["content"] for m in first.example.payload["messages"]]
    dana, omar = texts[0][11:].split(" and my friend is ")
    omar = omar.rstrip(".")
    assert texts == [f"My name is {dana} and my friend is {omar}.", f"Hello {dana}, how can I help?",
                     f"Please send the parcel to {omar}.", "Done."]
    assert len({dana, omar, "Dana Whitfield", "Omar Haddad"}) == 4
    assert first.evidence["operator"] == "pseudonym"
    assert first.evidence["entities"] == {"PERSON": 4}


def test_pseudonyms_differ_between_examples(engines):
    a = Example.chat([{"role": "user", "content": "I am Dana Whitfield."},
                      {"role": "assistant", "content": "Hi."}])
    b = Example.chat([{"role": "user", "content": "I am Dana Whitfield."},
                      {"role": "assistant", "content": "Hello."}])
    out = scrub([a, b], engines, operator="pseudonym").rewrites
    names = [out[x.id].example.payload["messages"][0]["content"] for x in (a, b)]
    assert names[0] != names[1] and "Whitfield" not in names[0] + names[1]


def test_allow_listed_terms_are_never_scrubbed(engines):
    text = "Write to support@ridgeline.com or to dana.whitfield@gmail.com, see ridgeline.com."
    example = Example.text(text)
    decisions = scrub([example], engines, allow=("Support@Ridgeline.com", "ridgeline.com"))
    assert decisions.rewrites[example.id].example.payload["text"] == (
        "Write to support@ridgeline.com or to <EMAIL_ADDRESS>, see ridgeline.com.")
    unlisted = scrub([example], engines).rewrites[example.id].example.payload["text"]
    assert unlisted == "Write to <EMAIL_ADDRESS> or to <EMAIL_ADDRESS>, see <URL>."


def test_the_drop_operator_drops_with_a_reason_and_evidence(engines):
    example = Example.chat([{"role": "user", "content": USER},
                            {"role": "assistant", "content": "Noted."}])
    decisions = scrub([example], engines, operator="drop")
    assert not decisions.rewrites
    drop = decisions.drops[example.id]
    assert (drop.reason, drop.message) == (
        "pii", "3 PII span(s): PERSON 1, EMAIL_ADDRESS 1, PHONE_NUMBER 1")
    assert drop.evidence == {
        "entities": {"PERSON": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1},
        "spans": spans(("messages", 0, 12, 26, "PERSON"), ("messages", 0, 37, 61, "EMAIL_ADDRESS"),
                       ("messages", 0, 70, 84, "PHONE_NUMBER"))}


def test_every_preference_field_is_scrubbed(engines):
    example = Example.preference(
        [{"role": "user", "content": f"Reply to {EMAIL} please."}],
        [{"role": "assistant", "content": f"I wrote to {EMAIL}."}],
        [{"role": "assistant", "content": f"Call {PHONE} instead."}])
    rewrite = scrub([example], engines).rewrites[example.id]
    p = rewrite.example.payload
    assert [p["prompt"][0]["content"], p["chosen"][0]["content"], p["rejected"][0]["content"]] == [
        "Reply to <EMAIL_ADDRESS> please.", "I wrote to <EMAIL_ADDRESS>.", "Call <PHONE_NUMBER> instead."]
    assert rewrite.evidence["spans"] == spans(
        ("prompt", 0, 9, 33, "EMAIL_ADDRESS"), ("chosen", 0, 11, 35, "EMAIL_ADDRESS"),
        ("rejected", 0, 5, 19, "PHONE_NUMBER"))


def test_a_card_number_in_a_text_example_and_only_the_configured_entities(engines):
    text = "Charge card 4111 1111 1111 1111 for Dana Whitfield."
    example = Example.text(text)
    rewrite = scrub([example], engines).rewrites[example.id]
    assert rewrite.example.payload["text"] == "Charge card <CREDIT_CARD> for <PERSON>."
    assert rewrite.evidence["spans"] == [{"field": "text", "start": 12, "end": 31, "type": "CREDIT_CARD"},
                                         {"field": "text", "start": 36, "end": 50, "type": "PERSON"}]
    only_cards = scrub([example], engines, entities=("CREDIT_CARD",)).rewrites[example.id]
    assert only_cards.example.payload["text"] == "Charge card <CREDIT_CARD> for Dana Whitfield."


def test_literal_escapes_are_read_as_line_breaks_and_offsets_hold(engines):
    text = "Name: Dana Whitfield\\nPhone: 802 555 0187\\nThanks"
    example = Example.text(text)
    rewrite = scrub([example], engines).rewrites[example.id]
    assert rewrite.example.payload["text"] == "Name: <PERSON>\\nPhone: <PHONE_NUMBER>\\nThanks"


def test_overlapping_spans_merge_within_a_type_and_the_stronger_wins_across_types():
    found = [(0, 10, "LOCATION", 0.5), (5, 20, "LOCATION", 0.85), (30, 42, "PHONE_NUMBER", 0.4),
             (30, 46, "CREDIT_CARD", 1.0), (50, 55, "PERSON", 0.85), (50, 60, "URL", 0.85)]
    assert resolve_overlaps(found) == [(0, 20, "LOCATION"), (30, 46, "CREDIT_CARD"),
                                       (50, 60, "URL")]


def test_an_unknown_entity_is_a_clear_error():
    with pytest.raises(UsageError) as e:
        make_step("pii", {"entities": ["PERSON", "SHOE_SIZE"]}, "--step")
    assert str(e.value).startswith(
        "--step: step 'pii': entities: Value error, unknown entity 'SHOE_SIZE'; known: PERSON, ")


def test_a_missing_model_is_a_clear_error_not_a_download():
    with pytest.raises(UsageError, match="spaCy model 'en_core_web_lg' is neither an installed"):
        resolve_model("en_core_web_lg")


def test_the_engine_supports_every_known_entity(engines):
    analyzer, _ = engines
    assert set(KNOWN_ENTITIES) <= set(analyzer.get_supported_entities("en"))


def test_runner_commits_transforms_in_two_workers_and_stores_no_raw_value(store, tmp_path):
    records = [chat(f"Question {i}: where is my order?", f"Answer {i}: it ships today.")
               for i in range(5)]
    records.insert(2, chat(USER, "Thanks Dana Whitfield, noted."))
    ingest(store, [write_jsonl(tmp_path / "in.jsonl", records)], "support")
    # subtle: batches of two examples over six rows, so the worker pool really runs
    step = PiiScrub(PiiScrub.Config(workers=2, batch_size=2))
    (outcome,) = curate(store, "support", [step])
    assert outcome.output == "support@2"
    assert (outcome.stats["kept"], outcome.stats["transformed"]) == (6, 1)
    with store.read() as con:
        (evidence,) = con.execute(
            "SELECT evidence FROM transforms t JOIN versions v USING (version_id) "
            "WHERE v.number = 2").fetchone()
        payloads = con.execute(
            "SELECT e.payload FROM members m JOIN examples e ON e.key = m.example_key "
            "JOIN versions v USING (version_id) WHERE v.number = 2").fetchall()
        config, stats = con.execute("SELECT config, stats FROM versions WHERE number = 2").fetchone()
    assert orjson.loads(evidence)["entities"] == {"PERSON": 2, "EMAIL_ADDRESS": 1,
                                                  "PHONE_NUMBER": 1}
    for value in ("Dana", "Whitfield", EMAIL, PHONE, "555"):
        assert value not in evidence and value not in config + stats
        assert not any(value in p for (p,) in payloads)
    assert "workers" not in orjson.loads(config)  # a run detail: other values reuse the version
