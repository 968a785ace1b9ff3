"""The base model from a local path: the bundled GGUF converted once to a folder that loads alone."""

from __future__ import annotations

import time

import pytest

from gristmill.errors import GristmillError
from gristmill.train.base_model import MARKER, resolve_base


def test_the_gguf_is_converted_once_to_a_folder_with_the_same_model(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("GRISTMILL_CACHE", str(tmp_path / "cache"))
    base = resolve_base("smollm2")
    assert base.source.suffix == ".gguf" and (base.folder / MARKER).is_file()
    assert base.folder.parent == tmp_path / "cache" / "models"
    assert base.digest in (base.folder / MARKER).read_text()
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(base.folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(base.folder), local_files_only=True)
    assert time.perf_counter() - started < 10  # a folder, not a GGUF to dequantize again
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert tokenizer.chat_template  # its own chat template travels with it
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    reference = AutoModelForCausalLM.from_pretrained(str(base.source.parent), gguf_file=base.source.name,
                                                     dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-4)
    marker_time = (base.folder / MARKER).stat().st_mtime
    again = resolve_base(str(base.source))
    assert again == base and (base.folder / MARKER).stat().st_mtime == marker_time  # not redone


def test_a_base_is_a_local_folder_or_gguf_and_never_fetched(tmp_path):
    with pytest.raises(GristmillError, match="local paths only"):
        resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GristmillError, match="without config.json"):
        resolve_base(str(tmp_path / "empty"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"12345")
    first = resolve_base(str(folder)).digest
    (folder / "model.safetensors").write_bytes(b"123456")
    assert resolve_base(str(folder)).digest != first and resolve_base(str(folder)).folder == folder
