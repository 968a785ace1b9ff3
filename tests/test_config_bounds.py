"""Every numeric setting a user can give (a YAML file or `--set`) is bounded: a negative or an
absurd value is refused with the setting's name and the bound before any work starts, and what
the project ships still validates.

The configs are found, not listed: every module of the package that mentions a config base is
imported and every pydantic model it defines is checked, so a new numeric setting without a
bound fails here until it gets one (or an entry below, with the reason).
"""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from gristmill.settings import load_config
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
ABSURD = 10**12

# settings that take a negative number: the least value allowed (None: any), and why
NEGATIVE_OK: dict[str, tuple[float | None, str]] = {
    "train.config:TrainConfig.max_steps": (-1, "-1 (the default): the epochs decide the length"),
    "flywheel.loop_config:Mine.low_rating": (
        None, "compared with ratings on the logs' own scale, which may be signed"),
}
# settings with no ceiling: a larger value only keeps more, or runs longer, and holds no more
# in memory at once
NO_CEILING: dict[str, str] = {
    "curation.filters:StructureFilter.Config.min_turns": "a lower limit on user turns",
    "curation.filters:StructureFilter.Config.max_turns": "a limit: larger keeps more",
    "curation.filters:LengthFilter.Config.min_chars": "a lower limit on characters",
    "curation.filters:LengthFilter.Config.max_chars": "a limit: larger keeps more",
    "curation.filters:LengthFilter.Config.max_tokens": "a limit: larger keeps more",
    "curation.filters:RepetitionFilter.Config.min_words": "answers shorter are not judged",
    "curation.semantic:SemanticDedup.Config.flat_max": "exact search up to this many vectors, "
                                                        "in batches: slower, not bigger",
    "synth.self_instruct:SelfInstructConfig.count": "more runs longer; each round commits",
    "synth.self_instruct:SelfInstructConfig.max_rounds": "more runs longer; each round commits",
    "synth.self_instruct:SelfInstructConfig.min_words": "a lower limit on an instruction",
    "synth.self_instruct:SelfInstructConfig.max_words": "a limit: larger keeps more",
    "synth.evol:EvolConfig.rounds": "more runs longer; each round commits",
    "train.config:TrainConfig.max_examples": "a limit on the examples read",
    "train.config:TrainConfig.max_steps": "more runs longer",
    "train.config:TrainConfig.max_grad_norm": "a clipping threshold: larger clips less",
    "train.config:TrainConfig.eval_steps": "larger evaluates less often",
    "train.config:TrainConfig.patience": "larger stops later",
    "train.config:DPOConfig.patience": "larger stops later",
    "train.config:TrainConfig.keep_checkpoints": "larger keeps more on disk; every checkpoint "
                                                 "is written anyway",
    "train.config:TrainConfig.memory_budget_gib": "a cap the tuner stays under; it also stops "
                                                  "at out of memory",
    "evals.suite:Task.limit": "a limit on the items scored",
    "flywheel.loop_config:JudgeLogs.limit": "more runs longer",
    "flywheel.loop_config:Mine.low_rating": "on the logs' own rating scale",
    "flywheel.loop_config:Shadow.sample": "more runs longer",
}
# a module that defines a config imports pydantic or subclasses a config; one that merely uses
# one (train.model imports torch) is not imported
_CONFIG_SOURCE = re.compile(r"^(?:from pydantic |import pydantic|\s*class \w+\([^)]*(?:Config|BaseModel"
                            r"|_Strict)\):)", re.MULTILINE)


def _config_models() -> list[type[BaseModel]]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in packages:
        for folder in importlib.import_module(package).__path__:
            for path in sorted(Path(folder).glob("*.py")):
                if path.stem != "__main__" and _CONFIG_SOURCE.search(path.read_text("utf-8")):
                    importlib.import_module(f"{package}.{path.stem}")
    found, todo = set(), [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted((m for m in found if m.__module__.startswith("gristmill.")), key=_name)


def _name(model: type) -> str:
    return f"{model.__module__.removeprefix('gristmill.')}:{model.__qualname__}"


def _numeric(annotation: typing.Any) -> type | None:
    """int or float, for a number, an Optional one or an Annotated one; else None."""
    if annotation in (int, float):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _numeric(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _numeric(rest[0]) if len(rest) == 1 else None
    return None


def _owner(model: type[BaseModel], field: str) -> type[BaseModel]:
    """The class that declares (or last re-declares) a field, so inherited ones count once."""
    return next(c for c in model.__mro__ if field in inspect.get_annotations(c))


def _numeric_fields() -> dict[str, tuple[type[BaseModel], str, type]]:
    fields = {}
    for model in _config_models():
        for name, info in model.model_fields.items():
            if (kind := _numeric(info.annotation)) is not None:
                fields.setdefault(f"{_name(_owner(model, name))}.{name}", (model, name, kind))
    return fields


FIELDS = _numeric_fields()


def _refused(model: type[BaseModel], name: str, value: float) -> bool:
    """Whether the field itself refuses the value (other required fields may be missing)."""
    try:
        model(**{name: value})
    except ValidationError as e:
        return any(err["loc"][:1] == (name,) and err["type"] != "missing" for err in e.errors())
    return False


def test_the_configs_are_found():
    names = {_name(m) for m in _config_models()}
    for expected in ("curation.filters:LengthFilter.Config", "curation.minhash:MinHashDedup.Config",
                     "synth.self_instruct:SelfInstructConfig", "synth.pairs:Sampler",
                     "synth.endpoint:Endpoint", "train.config:DPOConfig", "evals.suite:Gates",
                     "flywheel.loop_config:Drift"):
        assert expected in names
    assert len(FIELDS) > 80


def test_the_allow_lists_name_numeric_settings():
    assert not (set(NEGATIVE_OK) | set(NO_CEILING)) - set(FIELDS)


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_a_negative_value_is_refused(key):
    model, name, kind = FIELDS[key]
    least, _ = NEGATIVE_OK.get(key, (0, ""))
    if least is None:
        return
    assert _refused(model, name, kind(least - 1)), f"{key} accepts {least - 1}"
    if least < 0:
        assert not _refused(model, name, kind(least))


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_an_absurd_value_is_refused_where_it_would_hurt(key):
    model, name, kind = FIELDS[key]
    if key in NO_CEILING:  # the list stays honest: a setting that gains a ceiling leaves it
        assert not _refused(model, name, kind(ABSURD)), f"{key} has a ceiling now"
    else:
        assert _refused(model, name, kind(ABSURD)), f"{key} accepts {ABSURD:g}"


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_the_default_is_within_the_bounds(key):
    model, name, _ = FIELDS[key]
    info = model.model_fields[name]
    if not info.is_required():
        default = info.get_default(call_default_factory=True)
        assert default is None or not _refused(model, name, default)


def test_the_message_names_the_setting_and_the_bound():
    from gristmill.curation.recipe import single_step
    from gristmill.errors import UsageError
    from gristmill.synth.self_instruct import SelfInstructConfig
    from gristmill.train.config import SFTConfig

    with pytest.raises(UsageError) as e:
        load_config(SFTConfig, None, ["lr=3", "batch_size=1000000000000"])
    assert str(e.value) == ("sft: batch_size: Input should be less than or equal to 65536; "
                            "lr: Input should be less than 1")
    with pytest.raises(UsageError) as e:
        load_config(SelfInstructConfig, None, ["min_words=10", "max_words=5"])
    assert str(e.value) == "selfinstruct: Value error, min_words (10) is over max_words (5)"
    with pytest.raises(UsageError) as e:
        single_step("length", ["min_chars=50", "max_chars=5"])
    assert str(e.value) == ("--step: step 'length': settings: Value error, min_chars (50) is over "
                            "max_chars (5)")


def test_curate_refuses_a_negative_setting_in_one_line(store, tmp_path, cli):
    ingest(store, [write_jsonl(tmp_path / "chats.jsonl", [chat("q", "a")])], "chats")
    code, out, err = cli("curate", "chats", "--step", "length", "--set", "max_chars=-5")
    assert code == 2
    assert err == ("gristmill curate: --step: step 'length': max_chars: Input should be greater "
                   "than or equal to 1\n")


def test_shipped_configs_validate(tmp_path):
    """Every YAML file in the package folders, and the example configs code writes out."""
    from gristmill.curation.recipe import load_recipe
    from gristmill.evals.suite import load_suite
    from gristmill.flywheel.loop_config import load_flywheel
    from gristmill.flywheel.simulate import EXAMPLE_FLYWHEEL, EXAMPLE_SUITE
    from gristmill.train.config import DPOConfig, SFTConfig

    loaders = {"recipes": load_recipe, "suites": load_suite}
    shipped = [p for folder in ("gristmill", "curation", "synth", "train", "evals", "flywheel",
                                "scale", "store")
               for p in sorted((ROOT / folder).rglob("*.y*ml"))]
    assert shipped
    for path in shipped:
        assert path.parent.name in loaders, f"{path}: no loader known; add one to this test"
        loaders[path.parent.name](path)
    (tmp_path / "suite.yaml").write_text(EXAMPLE_SUITE.format(dir=tmp_path))
    (tmp_path / "flywheel.yaml").write_text(EXAMPLE_FLYWHEEL.format(dir=tmp_path))
    flywheel = load_flywheel(tmp_path / "flywheel.yaml")
    load_suite(flywheel.eval.suite)
    kind = {"sft": SFTConfig, "dpo": DPOConfig}[flywheel.train.kind]
    load_config(kind, flywheel.train.config, [], **flywheel.train.set)
