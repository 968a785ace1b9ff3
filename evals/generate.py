"""In-process generation with transformers: a base model with its LoRA adapter merged in memory
(merged weights generate as fast as the base; an unmerged adapter adds a matmul per layer and
token), prompts rendered by the model's own chat template, batched with left padding.

Prompts are generated longest first so each batch pads little; answers return in the order asked.
Greedy when the temperature is 0; otherwise sampled from a generator seeded per batch, so a re-run
of the same prompts in the same batches gives the same answers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class LocalModel:
    def __init__(self, folder: Path, adapter: Path | None = None):
        self.folder, self.adapter = Path(folder), Path(adapter) if adapter else None
        self._model = self._tok = None

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # the eval's own bar, on a TTY only
        cuda = torch.cuda.is_available()
        model = AutoModelForCausalLM.from_pretrained(
            str(self.folder), dtype=torch.bfloat16 if cuda else torch.float32,
            device_map={"": 0} if cuda else None, local_files_only=True)
        if self.adapter is not None:
            import warnings

            from peft import PeftModel

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # peft asks a deprecated property
                model = PeftModel.from_pretrained(model, str(self.adapter)).merge_and_unload()
        model.eval()
        tok = AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self._model, self._tok = model, tok

    def close(self) -> None:
        self._model = self._tok = None

    def generate(self, prompts: list[list[dict[str, Any]]], params: dict[str, Any],
                 batch_size: int, done=None) -> list[tuple[str, int]]:
        """(answer, tokens generated) per prompt; `done(n)` after each batch."""
        import torch

        self.load()
        tok, model = self._tok, self._model
        texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[tuple[str, int] | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            enc = tok([texts[i] for i in chosen], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(model.device)
            sample = params["temperature"] > 0
            if sample:
                torch.manual_seed(params["seed"] + start)
            with torch.inference_mode():
                generated = model.generate(
                    **enc, max_new_tokens=params["max_tokens"], do_sample=sample,
                    temperature=params["temperature"] if sample else None,
                    top_p=params["top_p"] if sample else None, top_k=None,
                    pad_token_id=tok.pad_token_id)
            new = generated[:, enc["input_ids"].shape[1]:]
            for row, i in zip(new, chosen, strict=True):
                n = int((row != tok.pad_token_id).sum())
                out[i] = (tok.decode(row, skip_special_tokens=True).strip(), n)
            if done is not None:
                done(len(chosen))
        return out  # type: ignore[return-value]
