import hashlib
import random

import pytest

from gristmill.errors import InvalidRecord
from gristmill.example import Example, canonical_json, normalize


def test_canonical_json_is_the_documented_form():
    payload = {"kind": "text", "text": "Zoë says \"hi\"\n\tand\u0001 leaves/"}
    expected = b'{"kind":"text","text":"Zo\xc3\xab says \\"hi\\"\\n\\tand\\u0001 leaves/"}'
    assert canonical_json(payload) == expected
    assert Example.text(payload["text"]).id == hashlib.sha256(expected).hexdigest()


def test_keys_are_sorted_at_every_level_and_nulls_dropped():
    a = Example.chat([{"content": "q", "role": "user"}, {"role": "assistant", "content": "a"}])
    b = Example.chat([{"role": "user", "content": "q", "name": None},
                      {"content": "a", "role": "assistant"}])
    assert a.id == b.id
    assert a.canonical == (b'{"kind":"chat","messages":[{"content":"q","role":"user"},'
                           b'{"content":"a","role":"assistant"}]}')


def test_content_changes_change_the_id_but_nothing_else_does():
    base = Example.chat([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
    other = Example.chat([{"role": "user", "content": "q "}, {"role": "assistant", "content": "a"}])
    assert base.id != other.id
    assert len(base.id) == 64 and int(base.id, 16) >= 0


@pytest.mark.parametrize("messages, message", [
    ([], "messages is empty"),
    ("hi", "messages must be a list of messages, found a string"),
    ([{"role": "bot", "content": "x"}],
     "messages[1]: role 'bot' is not one of system, user, assistant, tool"),
    ([{"role": "user", "content": 3}], "messages[1] (user): content must be a string, found a number"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}],
     "messages[2] (assistant): content is empty"),
    ([{"role": "user", "content": "q", "mood": "x"}],
     "messages[1]: unknown key 'mood'; a message has role, content, name, tool_calls, tool_call_id"),
    ([{"role": "user", "content": "q"}], "the last message must be from the assistant, not user"),
    ([{"role": "assistant", "content": "a"}],
     "message 1: the conversation must open with a user message"),
    ([{"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
      {"role": "assistant", "content": "a"}], "message 2: two user messages in a row"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
      {"role": "assistant", "content": "b"}], "message 3: two assistant messages in a row"),
    ([{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
      {"role": "assistant", "content": "a"}], "message 2: a system message may only come first"),
    ([{"role": "user", "content": "q"}, {"role": "tool", "content": "42"},
      {"role": "assistant", "content": "a"}],
     "message 2: a tool message must follow an assistant message with tool_calls"),
    (["x"], "messages[1]: a message must be an object, found a string"),
])
def test_chat_validation_messages(messages, message):
    with pytest.raises(InvalidRecord) as e:
        Example.chat(messages)
    assert str(e.value) == message


def test_tool_calls_are_valid_and_kept():
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    ex = Example.chat([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": call},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        {"role": "assistant", "content": "It is sunny."},
    ])
    assert ex.payload["messages"][1] == {"role": "assistant", "content": "", "tool_calls": call}


@pytest.mark.parametrize("payload, message", [
    ({"kind": "preference", "prompt": [{"role": "user", "content": "q"}],
      "chosen": [{"role": "assistant", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "a"}]}, "chosen and rejected are the same"),
    ({"kind": "preference", "prompt": [{"role": "user", "content": "q"},
                                       {"role": "assistant", "content": "a"}],
      "chosen": [{"role": "assistant", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]},
     "the last message must be from the user, not assistant"),
    ({"kind": "preference", "prompt": [{"role": "user", "content": "q"}],
      "chosen": [{"role": "user", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]},
     "chosen: message 2: two user messages in a row"),
    ({"kind": "text", "text": ""}, "text: content is empty"),
    ({"kind": "image"}, "kind 'image' is not one of chat, preference, text"),
    ({"kind": "text", "text": "t", "extra": 1}, "unknown key 'extra' in a text payload"),
])
def test_other_kinds_validation_messages(payload, message):
    with pytest.raises(InvalidRecord) as e:
        normalize(payload)
    assert str(e.value) == message


def _random_messages(rng: random.Random) -> list:
    """A valid chat, then as often as not one random mutation of it."""
    messages = [{"role": "system", "content": "s"}] if rng.random() < 0.5 else []
    for turn in range(rng.randint(1, 3)):
        messages += [{"role": "user", "content": f"q{turn}"},
                     {"role": "assistant", "content": f"a{turn}"}]
    if rng.random() < 0.5:
        m = rng.choice(messages)
        mutation = rng.randrange(5)
        if mutation == 0:
            m["role"] = rng.choice(["system", "user", "assistant", "tool", "bot"])
        elif mutation == 1:
            m["content"] = rng.choice(["", "  ", 7, None, "\n"])
        elif mutation == 2:
            m["name"] = rng.choice(["n", None])
        elif mutation == 3:
            messages.remove(m)
        else:
            messages.insert(rng.randrange(len(messages) + 1), dict(m))
    return messages
