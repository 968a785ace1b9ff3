"""The fast path may only ever agree with the general one: same rows, or no opinion."""

import json
import random

import orjson

from gristmill.errors import InvalidRecord
from gristmill.store.fastpath import plain_chat
from gristmill.store.stage import convert

from .test_example import _random_messages

TEXTS = ["hi", "Zoë \"quoted\" \\ back/slash", "tab\tnew\nline\u0001", "中文 😀", "\u2028", "\xa0",
         "\u3000x", " ", ""]


def _line(rng: random.Random, messages: list) -> bytes:
    """One JSON line for the messages, written in one of the ways files write them."""
    for m in messages:
        if rng.random() < 0.3 and "content" in m and isinstance(m["content"], str):
            m["content"] = rng.choice(TEXTS)
    record = {"messages": messages}
    way = rng.randrange(5)
    if way == 0:
        return orjson.dumps(record)
    if way == 1:
        return json.dumps(record, ensure_ascii=True).encode()
    if way == 2:  # content before role, spaces after separators
        swapped = {"messages": [dict(reversed(list(m.items()))) for m in messages]}
        return json.dumps(swapped, ensure_ascii=False).encode()
    if way == 3:  # a duplicated key: the last one counts
        text = orjson.dumps(record).decode()
        return text.replace('{"role":', '{"role":"system","role":', 1).encode()
    return orjson.dumps({**record, "id": 1})


def _general(line: bytes) -> tuple | None:
    try:
        row, _ = convert(orjson.loads(line), "auto", 1 << 20)
    except (InvalidRecord, orjson.JSONDecodeError):
        return None
    return row


def test_the_fast_path_gives_the_general_paths_row_or_nothing():
    rng = random.Random(11)
    fast_count = 0
    for _ in range(20_000):
        line = _line(rng, _random_messages(rng))
        fast = plain_chat(line, 1 << 20)
        if fast is not None:
            fast_count += 1
            assert fast == _general(line), line
    assert fast_count > 2_000


def test_lines_it_cannot_read_are_left_to_the_general_path():
    for line in (b'{"messages": [{"role": "user", "content": "caf\xff"}]}', b"{", b"[]", b"",
                 b'{"messages": [{"role": "user", "content": "q"}, '
                 b'{"role": "assistant", "content": "a", "name": null}]}'):
        assert plain_chat(line, 1 << 20) is None
    ok = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    assert plain_chat(ok, 1 << 20) is not None
    assert plain_chat(ok, 40) is None  # over the size limit: the general path says why
