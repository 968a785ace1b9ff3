"""Each filter on a few rows, with the exact decisions expected."""

import pytest

from gristmill.curation.filters import (
    JsonFilter,
    LengthFilter,
    RefusalFilter,
    RepetitionFilter,
    StructureFilter,
)
from gristmill.curation.step import ListRows, Row
from gristmill.example import Example


def ex(*turns: str, system: str | None = None) -> Example:
    messages = [{"role": "system", "content": system}] if system else []
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return Example.chat(messages)


def drops(step, *examples, metas=None):
    rows = [Row(i, e, (metas or {}).get(i, {})) for i, e in enumerate(examples)]
    decided = step.run(ListRows(rows), None).drops
    return [(e.id in decided and decided[e.id].reason) or None for e in examples]


def test_structure_checks_turns_system_prompt_and_tools():
    one, two = ex("hi", "hello"), ex("hi", "hello", "more?", "sure")
    assert drops(StructureFilter(StructureFilter.Config(max_turns=1)), one, two) == \
        [None, "turn_count"]
    assert drops(StructureFilter(StructureFilter.Config(require_system=True)),
                 one, ex("hi", "hello", system="Be brief.")) == ["no_system_prompt", None]
    tool = Example.chat([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function",
                                                               "function": {"name": "w"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
        {"role": "assistant", "content": "Sunny."}])
    assert drops(StructureFilter(StructureFilter.Config(allow_tools=False)), one, tool) == \
        [None, "tool_use"]


def test_structure_rechecks_content_that_bypassed_validation():
    broken = Example("0" * 64, "chat", {"kind": "chat", "messages": [
        {"role": "assistant", "content": "I speak first"}]}, b"")
    decided = StructureFilter(StructureFilter.Config()).run(ListRows([broken]), None).drops
    assert decided[broken.id].reason == "bad_structure"
    assert "must open with a user message" in decided[broken.id].message


def test_length_bounds_in_characters_and_scope():
    short, fine, long_ = ex("a", "b"), ex("question", "answer"), ex("q", "x" * 500)
    step = LengthFilter(LengthFilter.Config(min_chars=5, max_chars=100))
    assert drops(step, short, fine, long_) == ["too_short", None, "too_long"]
    decided = step.run(ListRows([long_]), None).drops[long_.id]
    assert decided.evidence == {"chars": 502} and decided.message == "502 characters, over " \
        "max_chars 100"
    by_answer = LengthFilter(LengthFilter.Config(min_chars=3, max_chars=None, scope="response"))
    assert drops(by_answer, ex("long question here", "ok")) == ["too_short"]


def test_length_in_tokens_counts_the_chat_template():
    words = " ".join(f"word{i}" for i in range(300))
    step = LengthFilter(LengthFilter.Config(max_chars=None, max_tokens=100))
    decisions = step.run(ListRows([ex("hi", "hello"), ex("hi", words)]), None)
    ((dropped_id, drop),) = decisions.drops.items()
    assert dropped_id == ex("hi", words).id and drop.reason == "too_many_tokens"
    assert drop.evidence["tokens"] > 300 and drop.evidence["max_tokens"] == 100
    # subtle: the template's default system prompt counts too: the short chat is over 20 tokens
    tight = LengthFilter(LengthFilter.Config(max_chars=None, max_tokens=20))
    assert len(tight.run(ListRows([ex("hi", "hello")]), None).drops) == 1


def test_repetition_flags_answers_that_repeat_themselves():
    para = "Our return policy lasts thirty days from the day your order arrives at your door."
    looping = ex("policy?", "\n\n".join([para] * 8))
    vocab = ("tent", "stove", "boots", "refund", "label", "carrier", "warranty", "strap",
             "zipper", "seam", "order", "parcel", "store", "credit", "size", "colour", "trail")
    varied = ex("policy?", " ".join(vocab[(i * 7 + i // 3) % len(vocab)] for i in range(120)))
    step = RepetitionFilter(RepetitionFilter.Config())
    assert drops(step, looping, varied) == ["repetitive", None]
    short = ex("hi", "yes yes yes yes")
    assert drops(step, short) == [None]  # too short to judge


def test_refusals_match_boilerplate_in_answers_only():
    step = RefusalFilter(RefusalFilter.Config())
    refusal = ex("Write a poem", "As an AI language model, I don't write poems.")
    asked = ex("Are you an AI language model? As an AI language model, answer.", "I am a bot.")
    assert drops(step, refusal, asked) == ["refusal", None]
    custom = RefusalFilter(RefusalFilter.Config(patterns=(), extra_patterns=("per our policy",)))
    assert drops(custom, refusal, ex("x", "Per our policy, no.")) == [None, "refusal"]


@pytest.mark.parametrize("answer, expected", [
    ('{"label": "billing"}', None),
    ('```json\n{"label": "billing"}\n```', None),
    ("label: billing", "invalid_json"),
])
def test_json_validity_for_tasks_declared_json(answer, expected):
    step = JsonFilter(JsonFilter.Config())
    by_system = ex("Classify: my card was charged twice", answer,
                   system="Classify the ticket. Respond only with JSON.")
    by_tag = ex("Classify: my card was charged twice", answer)
    undeclared = ex("Classify: my card was charged twice", answer + " ")
    assert drops(step, by_system, by_tag, undeclared,
                 metas={1: {"tags": {"format": "json"}}}) == [expected, expected, None]
