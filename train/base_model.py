"""The base model a training run starts from: a local Hugging Face folder, or a GGUF file (such
as the bundled SmolLM2) converted once into a cached folder, since trainers need full-precision
weights and reloading a GGUF costs ~20 s where a folder loads in under a second.

Nothing is fetched: a name that is neither a folder nor a file is an error. The digest identifies
the base in the model registry: the GGUF file's sha256, or for a folder a fingerprint of its
config and the names and sizes of its files (hashing gigabytes of weights on every run would
cost more than the run's first steps).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gristmill.errors import GristmillError
from gristmill.local_models import cache_dir, smollm2_gguf

MARKER = "gristmill-source.json"  # written last: a folder without it is an unfinished conversion


@dataclass(frozen=True)
class Base:
    folder: Path  # a Hugging Face model folder with its tokenizer
    source: Path  # what was named: the folder itself, or the GGUF it was converted from
    digest: str


def resolve_base(spec: str) -> Base:
    """`smollm2`, a GGUF file or a model folder, as a loadable folder."""
    path = smollm2_gguf() if spec == "smollm2" else Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GristmillError(f"base model {path}: a folder without config.json is not a "
                                 "Hugging Face model folder")
        return Base(path, path, folder_fingerprint(path))
    if path.is_file() and path.suffix == ".gguf":
        digest = file_sha256(path)
        folder = cache_dir() / "models" / f"{path.stem.lower()}-{digest[:12]}"
        if not (folder / MARKER).is_file():
            convert_gguf(path, folder, digest)
        return Base(folder, path, digest)
    raise GristmillError(f"base model {spec!r}: not a model folder, a .gguf file or 'smollm2' "
                         "(models load from local paths only)")


def convert_gguf(gguf: Path, folder: Path, digest: str) -> None:
    """Dequantize a GGUF into a float32 folder; whole or absent, even if two runs race."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # subtle: the weights are already dequantized; without this the folder would claim a GGUF
    # quantization that a plain load cannot undo
    model.hf_quantizer = None
    del model.config.quantization_config
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / MARKER).write_text(json.dumps({"gguf": str(gguf), "sha256": digest}))
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, folder)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def folder_fingerprint(folder: Path) -> str:
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(folder)}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()
