"""The model registry: runs, the examples each saw, stages, rollback, lineage, and its commands."""

import os
import subprocess
import sys
from contextlib import contextmanager

import orjson
import pytest

from gristmill.errors import GristmillError, UsageError
from gristmill.store import versions
from gristmill.store.db import transaction
from gristmill.store.ingest import ingest
from gristmill.store.lock import WriterLock
from gristmill.store.runs import code_version
from gristmill.train import registry, stages

from .conftest import chat, write_jsonl

TRAIN_CURVE = [[1, 2.5], [2, 1.0], [3, 1.5]]


@contextmanager
def writer(store):
    with WriterLock(store.path, "test"), store.write() as con, transaction(con):
        yield con


@pytest.fixture
def data(store, tmp_path):
    """support@1 with 10 chats: (store, version, [(key, id)] in key order)."""
    path = write_jsonl(tmp_path / "a.jsonl", [chat(f"question {i}", f"answer {i}") for i in range(10)])
    ingest(store, [path], "support")
    with store.read() as con:
        version = versions.resolve(con, "support@1")
        examples = con.execute("SELECT e.key, e.id FROM members m JOIN examples e ON e.key = "
                               "m.example_key WHERE m.version_id = ? ORDER BY e.key",
                               [version.version_id]).fetchall()
    return store, version, examples


def seen_rows(examples) -> list[tuple]:
    """7 train, 2 val, 1 dropped as too long."""
    keys = [k for k, _ in examples]
    return ([(k, "train", None, None) for k in keys[:7]] + [(k, "val", None, None) for k in keys[7:9]]
            + [(keys[9], "dropped", "too_long", "3,120 tokens > max_length 2,048")])


def trained(data, *, status="ok", kind="sft", parent=None, line=None, eval_curve=None) -> str:
    store, version, examples = data
    with writer(store) as con:
        name = registry.start(
            con, kind=kind, dataset="support", base_path="/models/base", base_source="smollm2.gguf",
            base_digest="ab" * 32, versions=[{"version_id": version.version_id, "ref": version.ref,
                                              "split_source": None}],
            config={"lr": 2e-4, "lora": {"r": 16}}, output_dir="/out", parent=parent,
            packages={"torch": "2.13.0"}, hardware={"gpu": None}, line=line)
        registry.record_examples(con, name, seen_rows(examples))
        registry.finish(con, name, status=status, adapter_path="/out/adapter",
                        curves={"train": TRAIN_CURVE, "eval": eval_curve or [[3, 1.7]]},
                        metrics={"train_runtime": 12.5}, error=None if status == "ok" else "boom")
    return name


def test_a_run_is_named_per_dataset_and_kind_and_recorded_from_start_to_finish(data):
    store, version, _ = data
    first, second = trained(data), trained(data)
    dpo = trained(data, kind="dpo", parent=first)
    assert [first, second, dpo] == ["support-sft-1", "support-sft-2", "support-dpo-1"]
    with store.read() as con:
        m = registry.get(con, first)
        history = registry.history(con, first)
    assert m["status"] == "ok" and m["stage"] == "candidate" and m["line"] == "support"
    assert m["pid"] == os.getpid() and m["code_version"] == code_version()
    assert m["versions"] == [{"version_id": version.version_id, "ref": "support@1",
                              "split_source": None}]
    assert m["config"] == {"lr": 2e-4, "lora": {"r": 16}} and m["curves"]["train"] == TRAIN_CURVE
    assert m["ended_at"] >= m["created_at"]
    assert [(s["stage"], s["previous"], s["reason"]) for s in history] == [("candidate", None, "trained")]


def test_a_dataset_whose_name_ends_like_a_kind_does_not_take_the_numbers(data):
    store = data[0]
    with writer(store) as con:
        names = [registry.start(con, kind="sft", dataset=d, base_path="b", base_source="s",
                                base_digest="d", versions=[], config={}, output_dir="o",
                                parent=None, packages={}, hardware={}) for d in ("a-sft", "a", "a")]
    assert names == ["a-sft-sft-1", "a-sft-1", "a-sft-2"]


def test_examples_a_run_saw_are_counted_per_split_and_reason(data):
    store, _, examples = data
    name = trained(data)
    with store.read() as con:
        tree = registry.lineage(con, name)
    rows = seen_rows(examples)
    expected = {s: sum(1 for r in rows if r[1] == s) for s in ("train", "val", "dropped")}
    assert tree["examples"] == expected
    assert tree["versions"][0]["ref"] == "support@1"
    assert {s: tree["versions"][0][s] for s in expected} == expected
    assert tree["dropped_reasons"] == {"too_long": 1} and tree["parent"] is None


def test_examples_with_an_unknown_key_or_split_are_refused(data):
    store, _, examples = data
    name = trained(data)
    top = max(k for k, _ in examples) + 1
    with pytest.raises(GristmillError, match=f"1 example key.*recorded for {name} are not in"):
        with writer(store) as con:
            registry.record_examples(con, name, [(top, "train", None, None)])
    with pytest.raises(GristmillError, match="unknown split.*test"):
        with writer(store) as con:
            registry.record_examples(con, name, [(examples[0][0], "test", None, None)])


def test_thousands_of_example_rows_are_stored_quickly(data):
    import time

    store, _, examples = data
    name = trained(data)
    rows = [(examples[i % 10][0], "train", None, None) for i in range(20_000)]
    began = time.monotonic()
    with writer(store) as con:
        registry.record_examples(con, name, rows)
    assert time.monotonic() - began < 5
    with store.read() as con:
        assert registry.lineage(con, name)["examples"]["train"] == 20_000 + 7


def test_promote_steps_through_stages_and_production_archives_the_previous_one(data):
    store = data[0]
    old, new = trained(data), trained(data)
    with writer(store) as con:
        assert stages.promote(con, old)["to"] == "staging"
        assert stages.promote(con, old, reason="beats baseline")["to"] == "production"
    with writer(store) as con:
        done = stages.promote(con, new, to="production", reason="better eval")
    assert done["archived"] == [old] and done["from"] == "candidate"
    with store.read() as con:
        assert registry.get(con, old)["stage"] == "archived"
        assert [m["name"] for m in registry.listing(con, "production")] == [new]
        steps = [(s["stage"], s["previous"], s["reason"]) for s in registry.history(con, old)]
    assert steps == [("candidate", None, "trained"), ("staging", "candidate", None),
                     ("production", "staging", "beats baseline"),
                     ("archived", "production", f"replaced by {new}")]


def test_rollback_restores_the_previous_production_model_and_again_swaps_back(data):
    store = data[0]
    a, b = trained(data), trained(data)
    with writer(store) as con:
        stages.promote(con, a, to="production")
    with writer(store) as con:
        with pytest.raises(GristmillError, match=f"nothing to roll back to: {a} is the first"):
            stages.rollback(con, "support")
        stages.promote(con, b, to="production")
    with writer(store) as con:
        done = stages.rollback(con, b, reason="regression in eval")  # a model names its line
    assert (done["from"], done["to"], done["line"]) == (b, a, "support")
    with store.read() as con:
        stage_of = {m["name"]: m["stage"] for m in registry.listing(con)}
        last = registry.history(con, b)[-1]
    assert stage_of == {a: "production", b: "archived"}
    assert last["reason"] == f"rolled back to {a}: regression in eval"
    with writer(store) as con:
        assert stages.rollback(con, "support")["to"] == b


def test_rollback_restores_the_latest_production_model_before_the_current_one(data):
    store = data[0]
    a, b, c = trained(data), trained(data), trained(data)
    for name in (a, b, c):
        with writer(store) as con:
            stages.promote(con, name, to="production")
    with writer(store) as con:
        assert stages.rollback(con, "support")["to"] == b
    with store.read() as con:
        assert {m["name"]: m["stage"] for m in registry.listing(con)} == {
            a: "archived", b: "production", c: "archived"}


def test_rollback_keeps_to_the_line(data):
    store = data[0]
    a, b, other = trained(data), trained(data), trained(data, line="beta")
    with writer(store) as con:
        for name in (a, other, b):
            stages.promote(con, name, to="production")
        assert stages.rollback(con, "support")["to"] == a
        with pytest.raises(GristmillError, match="no model or line named 'gamma' "
                                                 r"\(lines: beta, support\)"):
            stages.rollback(con, "gamma")
    with store.read() as con:
        assert registry.get(con, other)["stage"] == "production"


def test_a_failed_run_cannot_be_promoted_but_can_be_archived(data):
    store = data[0]
    name = trained(data, status="failed")
    with writer(store) as con:
        with pytest.raises(GristmillError, match=f"cannot promote {name} to staging: its training "
                                                 "status is failed"):
            stages.promote(con, name)
        assert stages.promote(con, name, to="archived")["to"] == "archived"


def test_promote_refuses_moving_back_or_staying(data):
    store = data[0]
    name = trained(data)
    with writer(store) as con:
        stages.promote(con, name, to="production")
        with pytest.raises(GristmillError, match="promote moves forward"):
            stages.promote(con, name, to="staging")
        with pytest.raises(GristmillError, match="already production"):
            stages.promote(con, name, to="production")
        with pytest.raises(GristmillError, match="name the stage with --to"):
            stages.promote(con, name)


def test_a_training_run_whose_process_died_reads_as_interrupted(data, cli):
    store, version, _ = data
    code = ("import sys\nfrom gristmill.store.db import Store, transaction\n"
            "from gristmill.store.lock import WriterLock\nfrom gristmill.train import registry\n"
            "store = Store(sys.argv[1])\n"
            "with WriterLock(store.path, 't'), store.write() as con, transaction(con):\n"
            "    print(registry.start(con, kind='sft', dataset='support', base_path='b', "
            "base_source='s', base_digest='d', versions=[], config={}, output_dir='o', "
            "parent=None, packages={}, hardware={}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True,
                          text=True, check=True)
    dead = done.stdout.strip()
    alive = trained(data, status="ok")
    with writer(store) as con:
        here = registry.start(con, kind="sft", dataset="support", base_path="b", base_source="s",
                              base_digest="d", versions=[], config={}, output_dir="o", parent=None,
                              packages={}, hardware={})
    with store.read() as con:
        shown = {m["name"]: m["status"] for m in registry.listing(con)}
        (stored,) = con.execute("SELECT status FROM models WHERE name = ?", [dead]).fetchone()
    assert shown == {dead: "interrupted", alive: "ok", here: "training"} and stored == "training"
    _, out, _ = cli("models", "ls", "--json")
    assert {m["name"]: m["status"] for m in orjson.loads(out)}[dead] == "interrupted"
    with writer(store) as con:
        registry.reopen(con, dead)
        with pytest.raises(GristmillError, match=f"{alive} is ok: only a stopped"):
            registry.reopen(con, alive)
    with store.read() as con:
        assert registry.get(con, dead)["status"] == "training"


def test_lineage_follows_the_parent_chain(data):
    store, _, examples = data
    sft = trained(data)
    dpo = trained(data, kind="dpo", parent=sft)
    with store.read() as con:
        tree = registry.lineage(con, dpo)
    assert tree["name"] == dpo and tree["parent"]["name"] == sft
    assert tree["parent"]["versions"][0]["train"] == 7 and tree["parent"]["parent"] is None
    with writer(store) as con, pytest.raises(GristmillError, match="no model named 'nope'"):
        registry.start(con, kind="dpo", dataset="support", base_path="b", base_source="s",
                       base_digest="d", versions=[], config={}, output_dir="o", parent="nope",
                       packages={}, hardware={})


def test_models_for_an_example_by_prefix_leave_out_runs_that_dropped_it(data, cli):
    store, _, examples = data
    sft, dpo = trained(data), trained(data, kind="dpo")
    key, example_id = examples[0]
    code, out, _ = cli("lineage", "--example", example_id[:10].upper(), "--json")
    assert code == 0
    assert [(m["model"], m["split"], m["example_id"]) for m in orjson.loads(out)] == [
        (sft, "train", example_id), (dpo, "train", example_id)]
    dropped_id = examples[9][1]  # every run dropped it as too long
    code, out, err = cli("lineage", "--example", dropped_id)
    assert code == 0 and sft not in out and err == "" and "0 model(s)" in out
    code, _, err = cli("lineage", "--example", "0123")
    assert code == 2 and "8 to 64 hex characters" in err
    absent = next(p for p in (f"{i:08x}" for i in range(99)) if not any(
        i.startswith(p) for _, i in examples))
    code, _, err = cli("lineage", "--example", absent)
    assert code == 1 and err == f"gristmill lineage: no example id starts with {absent}\n"
    code, _, err = cli("lineage", sft, "--example", example_id)
    assert code == 2 and "one of the three" in err


def test_an_ambiguous_example_prefix_is_refused(data):
    store, _, examples = data
    with store.write() as con:  # two ids with one start, as a big store would have
        con.execute("UPDATE examples SET id = 'abcdef01' || id[9:] WHERE key IN (?, ?)",
                    [examples[0][0], examples[1][0]])
    with store.read() as con, pytest.raises(GristmillError, match="more than one example id"):
        registry.models_for_example(con, "abcdef01")


def test_cli_ls_show_promote_rollback(data, cli):
    store = data[0]
    a = trained(data, eval_curve=[[10, 1.8], [20, 1.6]])
    b = trained(data, status="failed")
    code, out, _ = cli("models", "ls")
    assert code == 0 and "1.6000" in out and "support@1" in out and "2 model(s)" in out
    code, out, _ = cli("models", "show", a)
    assert code == 0
    assert "first 2.5000 @1, last 1.5000 @3, best 1.0000 @2" in out
    assert "train 7, val 2, dropped 1" in out and "too_long 1" in out
    code, _, err = cli("models", "promote", b)
    assert code == 1 and err.startswith(f"gristmill models promote: cannot promote {b} to staging")
    code, out, _ = cli("models", "promote", a, "--to", "production", "--json")
    assert code == 0 and orjson.loads(out)["to"] == "production"
    code, out, _ = cli("models", "ls", "--stage", "production", "--json")
    assert [m["name"] for m in orjson.loads(out)] == [a]
    code, _, err = cli("models", "rollback", "support")
    assert code == 1 and "nothing to roll back to" in err
    code, _, err = cli("models", "show", "support-sft-9")
    assert code == 1 and f"no model named 'support-sft-9' (latest models: {b}, {a})" in err
    with store.read() as con:  # a writing command is a recorded run, refused ones too
        runs = con.execute("SELECT config, status, error FROM runs WHERE config LIKE '%\"to\"%' "
                           "ORDER BY run_id").fetchall()
    assert [(orjson.loads(c)["model"], st, e is not None) for c, st, e in runs] == [
        (b, "failed", True), (a, "ok", False)]


def test_cli_writing_commands_take_the_writer_lock(data, cli):
    name = trained(data)
    with WriterLock(data[0].path, "someone else"):
        code, _, err = cli("models", "promote", name)
    assert code == 3 and "another run holds the store" in err
    with data[0].read() as con:
        assert registry.get(con, name)["stage"] == "candidate"


def test_lineage_cli_prints_the_chain(data, cli):
    sft = trained(data)
    dpo = trained(data, kind="dpo", parent=sft)
    code, out, _ = cli("lineage", dpo)
    assert code == 0 and out.index(dpo) < out.index("continued from") < out.index(sft)
    assert "1 parent model(s)" in out
    code, out, _ = cli("lineage", dpo, "--json")
    assert orjson.loads(out)["parent"]["name"] == sft


def test_registry_commands_have_help_and_load_no_model_library(data):
    from gristmill.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    models = sub.choices["models"]
    (actions,) = [a for a in models._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name in ("ls", "show", "promote", "rollback"):
        command = actions.choices[name]
        assert command.description
        assert all(a.help for a in command._actions), name
    code = ("import sys\nfrom gristmill.cli import main\n"
            f"main(['models', 'ls', '--store', {str(data[0].path)!r}])\n"
            "print([m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")


def test_unknown_kind_and_stage_are_usage_errors(data):
    store = data[0]
    with writer(store) as con, pytest.raises(UsageError, match="unknown model kind 'ppo'"):
        registry.start(con, kind="ppo", dataset="support", base_path="b", base_source="s",
                       base_digest="d", versions=[], config={}, output_dir="o", parent=None,
                       packages={}, hardware={})
    with store.read() as con, pytest.raises(UsageError, match="unknown stage 'live'"):
        registry.listing(con, "live")
