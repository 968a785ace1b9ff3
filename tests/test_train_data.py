"""What a training run reads: assistant-only labels checked token by token, nothing truncated."""

from __future__ import annotations

import pytest

from gristmill.curation.tokens import load_tokenizer
from gristmill.errors import GristmillError
from gristmill.train.data import IGNORE, Item, prepare, sft_renderer

CHAT = [
    {"role": "system", "content": "You answer in French."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "Bonjour !"},
    {"role": "user", "content": "And goodbye?"},
    {"role": "assistant", "content": "Au revoir."},
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("smollm2")


def item(messages, key=1, split="train") -> Item:
    return Item(key, f"{key:064x}", "chat", {"messages": messages}, split)


def test_labels_are_the_assistant_tokens_and_nothing_else(tokenizer):
    record, n = sft_renderer(tokenizer, assistant_only=True)(item(CHAT))
    ids, labels = record["input_ids"], record["labels"]
    assert n == len(ids) == len(labels)
    # token by token: a label is its own input token, or ignored
    assert all(lab in (tok, IGNORE) for tok, lab in zip(ids, labels, strict=True))
    # the labelled runs, decoded, are exactly each assistant turn with its end-of-turn marker
    runs, current = [], []
    for tok, lab in zip(ids, labels, strict=True):
        if lab == IGNORE and current:
            runs.append(current)
            current = []
        elif lab != IGNORE:
            current.append(tok)
    runs.append(current) if current else None
    decoded = [tokenizer.decode(r) for r in runs]
    assert [d.split("<|im_end|>")[0] for d in decoded] == ["Bonjour !", "Au revoir."]
    assert all("<|im_end|>" in d for d in decoded)  # the model learns to stop
    ignored = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab == IGNORE])
    for m in CHAT[:2] + CHAT[3:4]:
        assert m["content"] in ignored
    assert "Bonjour" not in ignored and "revoir" not in ignored


def test_every_token_is_a_label_when_asked(tokenizer):
    record, _ = sft_renderer(tokenizer, assistant_only=False)(item(CHAT))
    assert record["labels"] == record["input_ids"]


def test_too_long_examples_are_dropped_with_their_reason_never_truncated(tokenizer):
    render = sft_renderer(tokenizer, assistant_only=True)
    short = item(CHAT[1:3], key=1)
    long = item([CHAT[1], {"role": "assistant", "content": "word " * 400}], key=2)
    val = item(CHAT, key=3, split="val")
    n_short = render(short)[1]
    prepared = prepare([short, long, val], render, max_length=n_short + 60, on_bad="drop")
    assert [r["input_ids"] for r in prepared.train] == [render(short)[0]["input_ids"]]
    assert len(prepared.val) == 1
    dropped = [u for u in prepared.used if u[1] == "dropped"]
    assert [(k, reason) for k, _, reason, _ in dropped] == [(2, "too_long")]
    assert f"> max_length {n_short + 60}" in dropped[0][3]
    with pytest.raises(GristmillError, match=f"example {long.id[:12]}.*max_length"):
        prepare([short, long], render, max_length=n_short + 60, on_bad="fail")


def test_a_chat_without_an_assistant_turn_is_dropped(tokenizer):
    render = sft_renderer(tokenizer, assistant_only=True)
    prepared = prepare([item(CHAT[1:3], 1), item(CHAT[1:2], 2)], render, 512, "drop")
    assert [(k, s, r) for k, s, r, _ in prepared.used] == [
        (1, "train", None), (2, "dropped", "no_assistant_turn")]
