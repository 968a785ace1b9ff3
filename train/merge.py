"""A registered model as files other tools load: the base with the adapter merged in, at full
precision (a QLoRA run's base is the full-precision folder it was quantized from at load time),
beside a copy of the adapter as PEFT saves it, the layout vLLM's `--enable-lora` reads."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from gristmill.errors import GristmillError, UsageError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def merge(row: dict, out: Path, dtype: str = "float32") -> tuple[Path, Path]:
    """Write the merged model to `out` and the adapter to `out/lora`; returns both paths."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(row["adapter_path"] or "")
    if row["status"] != "ok" or not all((adapter / f).is_file() for f in ADAPTER_FILES):
        raise GristmillError(f"{row['name']} has no finished adapter to merge "
                             f"(status {row['status']}, adapter {adapter or 'none'})")
    base = Path(row["base_path"])
    if not (base / "config.json").is_file():
        raise GristmillError(f"{row['name']}: its base model folder {base} is gone")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; name a new folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=getattr(torch, dtype),
                                                 local_files_only=True)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    AutoTokenizer.from_pretrained(str(adapter if (adapter / "tokenizer_config.json").is_file()
                                      else base), local_files_only=True).save_pretrained(str(tmp))
    lora = tmp / "lora"
    lora.mkdir()
    for f in ADAPTER_FILES:
        shutil.copy2(adapter / f, lora / f)
    (tmp / "gristmill-model.json").write_text(json.dumps({
        "model": row["name"], "kind": row["kind"], "base": row["base_source"],
        "base_digest": row["base_digest"], "versions": row["versions"], "dtype": dtype},
        indent=2))
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out, out / "lora"
