"""Recipes: which steps run, in what order, with what settings; and the registry of step names.

A recipe is YAML: a list `steps`, each item one mapping `{step_name: {setting: value}}`. Step
classes load only when a recipe names them, so `gristmill --help` never imports presidio or torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gristmill import yamlfile
from gristmill.curation.registry import STEPS
from gristmill.curation.step import Step
from gristmill.errors import UsageError

RECIPE_KEYS = ("steps",)


def step_class(name: str) -> type[Step]:
    if name not in STEPS:
        raise UsageError(f"unknown step {name!r}; known steps: {', '.join(STEPS)}")
    module, cls = STEPS[name].split(":")
    return getattr(importlib.import_module(f"gristmill.curation.{module}"), cls)


def make_step(name: str, settings: dict[str, Any] | None, where: str) -> Step:
    """Build a step, turning a bad setting into one message naming the key and the step."""
    cls = step_class(name)
    if settings is not None and not isinstance(settings, dict):
        raise UsageError(f"{where}: the settings of step {name!r} must be a mapping, "
                         f"not {type(settings).__name__}")
    try:
        return cls(cls.Config(**(settings or {})))
    except ValidationError as e:
        raise UsageError(f"{where}: step {name!r}: {_explain(e, cls)}") from None


def load_recipe(path: Path, overrides: list[str] = ()) -> list[Step]:
    """The steps of a recipe file; `overrides` are `STEP.KEY=VALUE` settings laid over it."""
    data = yamlfile.read(path, "a recipe")
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise UsageError(f"{path}: a recipe is a mapping with a non-empty list `steps`")
    if unknown := sorted(set(data) - set(RECIPE_KEYS)):
        raise UsageError(f"{path}: unknown key {unknown[0]!r} (a recipe holds: steps)")
    items: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(data["steps"], 1):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise UsageError(f"{path}: step {i} must be one mapping `name: {{settings}}`")
        ((name, settings),) = item.items()
        items.append((name, dict(settings or {}) if isinstance(settings, dict) else settings))
    for override in overrides:
        target, key, value = _split_override(override, dotted=True)
        matches = [s for n, s in items if n == target]
        if not matches:
            raise UsageError(f"--set {override}: the recipe has no step {target!r}")
        for settings in matches:
            settings[key] = value
    return [make_step(name, settings, f"{path}, step {i}") for i, (name, settings) in
            enumerate(items, 1)]


def single_step(name: str, overrides: list[str] = ()) -> Step:
    settings = {}
    for override in overrides:
        _, key, value = _split_override(override, dotted=False)
        settings[key] = value
    return make_step(name, settings, "--step")


def _split_override(text: str, dotted: bool) -> tuple[str, str, Any]:
    key, sep, raw = text.partition("=")
    shape = "STEP.KEY=VALUE" if dotted else "KEY=VALUE"
    if not sep or not key:
        raise UsageError(f"--set takes {shape}, not {text!r}")
    step = ""
    if dotted:
        step, dot, key = key.partition(".")
        if not dot or not step or not key:
            raise UsageError(f"--set with a recipe takes {shape}, not {text!r}")
    try:
        value = yamlfile.parse(raw, f"--set {key}") if raw else ""
    except UsageError:
        value = raw
    return step, key, value


def _explain(e: ValidationError, cls: type[Step]) -> str:
    known = ", ".join(cls.Config.model_fields) or "none"
    problems = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r} (known: {known})")
        else:
            problems.append(f"{key}: {err['msg']}")
    return "; ".join(problems)
