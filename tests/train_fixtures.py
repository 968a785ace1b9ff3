"""A tiny random Llama with the SmolLM2 tokenizer, saved as a model folder: the base the
training tests run on (a step takes a fraction of a second on CPU)."""

from __future__ import annotations

from pathlib import Path


def tiny_base(folder: Path) -> Path:
    """Weights wider than the usual 0.02 init: with LoRA leaving the LM head and norms frozen,
    that init caps every logit near 1, so no adapter could make the model confident."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from gristmill.curation.tokens import load_tokenizer

    tok = load_tokenizer("smollm2")
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok),
                      max_position_embeddings=1024, initializer_range=0.1, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def sequence_logprob(model, tokenizer, prompt: list[dict], answer: list[dict]) -> float:
    """Sum of the answer's token log-probs after the prompt, as the chat template renders them."""
    import torch

    before = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + answer, tokenize=False)
    ids = tokenizer(full, add_special_tokens=False, return_tensors="pt")["input_ids"]
    n_prompt = len(tokenizer(before, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logp[n_prompt - 1:].sum())
