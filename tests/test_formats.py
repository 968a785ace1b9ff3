import pytest

from gristmill.errors import InvalidRecord
from gristmill.example import Example
from gristmill.store.formats import FORMATS, Unsupported, detect, parse, render
from gristmill.store.stage import convert

Q, A, S = "What is 2+2?", "4", "Be brief."
CHAT = Example.chat([{"role": "system", "content": S}, {"role": "user", "content": Q},
                     {"role": "assistant", "content": A}])
PLAIN = Example.chat([{"role": "user", "content": Q}, {"role": "assistant", "content": A}])


@pytest.mark.parametrize("record, fmt, expected", [
    ({"messages": CHAT.payload["messages"]}, "openai", CHAT),
    ({"conversations": [{"from": "system", "value": S}, {"from": "human", "value": Q},
                        {"from": "gpt", "value": A}]}, "sharegpt", CHAT),
    ({"instruction": Q, "input": "", "output": A, "system": S}, "alpaca", CHAT),
    ({"instruction": "What is", "input": "2+2?", "output": A}, "alpaca",
     Example.chat([{"role": "user", "content": "What is\n\n2+2?"},
                   {"role": "assistant", "content": A}])),
    ({"prompt": Q, "completion": A}, "prompt-completion", PLAIN),
    ({"prompt": [{"role": "user", "content": Q}],
      "completion": [{"role": "assistant", "content": A}]}, "prompt-completion", PLAIN),
    ({"text": "raw"}, "text", Example.text("raw")),
    ({"prompt": Q, "chosen": A, "rejected": "5"}, "preference",
     Example.preference([{"role": "user", "content": Q}], [{"role": "assistant", "content": A}],
                        [{"role": "assistant", "content": "5"}])),
])
def test_each_format_reads_to_the_expected_example(record, fmt, expected):
    assert detect(record) == fmt
    for given in ("auto", fmt):
        (ex_id, kind, canonical, *_), _ = convert(record, given, 1 << 20)
        assert (ex_id, kind, canonical) == (expected.id, expected.kind, expected.canonical)


def test_leftover_keys_become_metadata_not_content():
    _, extra = parse({"messages": [], "id": "abc", "source": "web"}, "openai")
    assert extra == {"id": "abc", "source": "web"}
    row, extra = convert({"messages": PLAIN.payload["messages"], "id": "x"}, "auto", 1 << 20)
    assert (row[0], extra) == (PLAIN.id, {"id": "x"})


def test_message_lists_held_as_json_text_are_read():
    import orjson

    record = {"messages": orjson.dumps(PLAIN.payload["messages"]).decode()}
    assert convert(record, "openai", 1 << 20)[0][0] == PLAIN.id
    text_prompt = {"prompt": "[1, 2] sorted?", "completion": "yes"}
    assert convert(text_prompt, "auto", 1 << 20)[0][2].startswith(b'{"kind":"chat"')


def test_unknown_keys_name_what_was_found_and_what_is_known():
    with pytest.raises(InvalidRecord) as e:
        detect({"question": "q", "answer": "a"})
    assert str(e.value) == (
        "cannot tell the format from the keys (answer, question); known formats: gristmill "
        "(id, kind, payload); openai (messages); sharegpt (conversations); preference (prompt, "
        "chosen, rejected); self-instruct (instruction, instances); alpaca (instruction, output); "
        "prompt-completion (prompt, completion); text (text); pass --format to say which")


def test_a_self_instruct_task_is_its_first_instance_with_the_instruction_as_metadata():
    from gristmill.store.formats import parse

    task = {"id": "seed_task_9", "name": "sentiment", "is_classification": True,
            "instruction": "Label the sentiment.",
            "instances": [{"input": "I love it", "output": "positive"},
                          {"input": "meh", "output": "neutral"}]}
    payload, meta = parse(task, "auto")
    assert payload["messages"] == [{"role": "user", "content": "Label the sentiment.\n\nI love it"},
                                   {"role": "assistant", "content": "positive"}]
    assert meta["instruction"] == "Label the sentiment." and meta["is_classification"] is True
    assert meta["more_instances"] == [{"input": "meh", "output": "neutral"}]
    with pytest.raises(InvalidRecord, match="instances must be a non-empty list"):
        parse(task | {"instances": []}, "auto")


@pytest.mark.parametrize("record, fmt, message", [
    ({"text": "x"}, "openai", "missing key 'messages' for the openai format (found: text)"),
    ({"conversations": [{"from": "bot", "value": "x"}]}, "sharegpt",
     "conversations[1]: 'from' is 'bot', not one of system, human, user, gpt, assistant, tool, "
     "observation"),
    ({"conversations": [{"value": "x"}]}, "sharegpt",
     "conversations[1]: expected an object with 'from' and 'value'"),
    ({"instruction": 1, "output": "a"}, "alpaca", "instruction must be a string"),
    ({"id": "0" * 64, "kind": "text", "payload": {"kind": "text", "text": "x"}}, "gristmill",
     "id does not match the payload (was the record edited after export?)"),
])
def test_format_error_messages(record, fmt, message):
    with pytest.raises(InvalidRecord) as e:
        convert(record, fmt, 1 << 20)
    assert str(e.value) == message


def test_record_size_limit():
    with pytest.raises(InvalidRecord) as e:
        convert({"text": "x" * 100}, "auto", 64)
    assert str(e.value) == "the record is 125 bytes, over the limit of 64 (--max-record-bytes)"


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca", "gristmill"])
def test_rendered_records_read_back_to_the_same_id(fmt):
    for example in (CHAT, PLAIN):
        assert convert(render(example, fmt), fmt, 1 << 20)[0][0] == example.id


def test_what_a_format_cannot_hold_is_refused():
    multi = Example.chat([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}])
    with pytest.raises(Unsupported, match="alpaca holds one user turn"):
        render(multi, "alpaca")
    with pytest.raises(Unsupported, match="a text example cannot be written as openai"):
        render(Example.text("t"), "openai")
    assert set(FORMATS) >= {"openai", "sharegpt", "alpaca", "preference", "text"}
