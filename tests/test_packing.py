"""Packing never lets one example attend to another, and its attention cost follows each
example's length, not the packed row's."""

from __future__ import annotations

import random

import pytest
import torch

from gristmill.train import attention


@pytest.fixture(scope="module")
def model(tiny_base):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(tiny_base), attn_implementation=attention.VARLEN,
                                             dtype=torch.float32)
    return m.eval()


def examples(n: int, vocab: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(12, 90)
        ids = [rng.randrange(10, vocab) for _ in range(length)]
        out.append({"input_ids": ids, "labels": [-100] * (length // 3) + ids[length // 3:]})
    return out


def loss_alone(model, ex: dict) -> float:
    ids = torch.tensor([ex["input_ids"]])
    with torch.no_grad():
        return float(model(input_ids=ids, labels=torch.tensor([ex["labels"]])).loss)


def test_each_examples_loss_in_a_packed_row_equals_its_loss_alone(model):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    exs = examples(5, model.config.vocab_size)
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(exs)
    assert batch["input_ids"].shape[0] == 1  # one packed row
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       cu_seq_lens_q=batch["cu_seq_lens_q"], use_cache=False).logits[0]
    start = 0
    for ex in exs:
        n = len(ex["input_ids"])
        seg, labels = logits[start:start + n - 1], torch.tensor(ex["labels"][1:])
        packed = float(torch.nn.functional.cross_entropy(seg, labels, ignore_index=-100))
        assert packed == pytest.approx(loss_alone(model, ex), abs=1e-5)
        start += n
    # and the same row without the kernel's boundaries (position ids alone) agrees too
    with torch.no_grad():
        again = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                      use_cache=False).logits[0]
    torch.testing.assert_close(again, logits)


def test_a_dense_causal_row_would_leak_across_examples(model):
    """The check above can fail: without the document boundaries, the second example sees the
    first and its loss changes."""
    a, b = examples(2, model.config.vocab_size, seed=1)
    ids = torch.tensor([a["input_ids"] + b["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0]
    n = len(a["input_ids"])
    seg = logits[n:n + len(b["input_ids"]) - 1]
    leaked = float(torch.nn.functional.cross_entropy(seg, torch.tensor(b["labels"][1:]),
                                                     ignore_index=-100))
    assert abs(leaked - loss_alone(model, b)) > 1e-3


def test_attention_cost_grows_with_each_examples_length_not_the_rows(model):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    def attention_flops(position_ids: torch.Tensor) -> int:
        """The attention's batched matmuls, counted (the math backend spells them out)."""
        ids = torch.randint(10, model.config.vocab_size, position_ids.shape)
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as c:
            model(input_ids=ids, position_ids=position_ids, use_cache=False)
        return c.get_flop_counts()["Global"].get(torch.ops.aten.bmm, 0)

    one_long = attention_flops(torch.arange(512)[None])
    eight_short = attention_flops(torch.arange(64).repeat(8)[None])
    assert eight_short > 0
    assert eight_short * 7 < one_long  # 8 × 64² against 512²: an eighth, not the same
