"""The curation runner: one version per step, reuse of a committed step config, dry runs, recipe
errors, resumption after a kill, and no example lost without a record."""

import os
import signal
import subprocess
import sys
import time

import pytest

from gristmill.curation.exact import ExactDedup
from gristmill.curation.recipe import load_recipe, single_step
from gristmill.curation.runner import curate
from gristmill.curation.step import ListRows, Row
from gristmill.errors import UsageError
from gristmill.example import Example
from gristmill.store.ingest import ingest

from .conftest import assert_accounted, chat, write_jsonl

CHEAP = """steps:
  - exact_dedup: {normalize: [nfkc, case, whitespace, punctuation]}
  - structure: {}
  - length: {max_chars: 200}
  - refusals: {}
  - split: {}
"""


def ex(user: str, answer: str) -> Example:
    return Example.chat(chat(user, answer)["messages"])


def test_exact_dedup_finds_copies_that_differ_in_case_space_and_punctuation():
    rows = ListRows([ex("Where is my order?", "It ships today."),
                     ex("where is  my order", "It ships today!"),
                     ex("Where is my order?", "It ships tomorrow.")])
    step = ExactDedup(ExactDedup.Config(normalize=("nfkc", "case", "whitespace", "punctuation")))
    decisions = step.run(rows, None)
    first, second, _ = (r.example.id for r in rows)
    assert list(decisions.drops) == [second]
    assert decisions.drops[second].reason == "exact_duplicate"
    assert decisions.drops[second].evidence == {"kept_id": first, "scope": "conversation"}


def test_exact_dedup_scope_and_keep_policies():
    short, long_ = ex("Same question", "Short."), ex("same question", "A much longer answer.")
    prompt_only = ExactDedup(ExactDedup.Config(scope="prompt", keep="longest"))
    assert list(prompt_only.run(ListRows([short, long_]), None).drops) == [short.id]
    synthetic = Row(1, short, {"tags": {"origin": "synthetic"}})
    human = Row(2, long_, {})
    keep_human = ExactDedup(ExactDedup.Config(scope="prompt", keep="human"))
    assert list(keep_human.run(ListRows([synthetic, human]), None).drops) == [short.id]
    scored = [Row(1, short, {"quality": 0.2}), Row(2, long_, {"tags": {"quality": "0.9"}})]
    keep_best = ExactDedup(ExactDedup.Config(scope="prompt", keep="quality"))
    assert list(keep_best.run(ListRows(scored), None).drops) == [short.id]


@pytest.fixture
def support(store, tmp_path):
    records = [chat(f"Question number {i}?", f"Answer {i}.") for i in range(40)]
    records += [chat("QUESTION NUMBER 3?", "answer 3!"), chat("x" * 300, "too long")]
    records += [chat("Can you help?", "As an AI language model, I cannot help with that.")]
    ingest(store, [write_jsonl(tmp_path / "s.jsonl", records)], "support", progress=False)
    return store


def test_each_step_commits_a_version_and_a_rerun_reuses_them(support, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(CHEAP)
    first = curate(support, "support", load_recipe(recipe))
    assert [o.output for o in first] == [f"support@{n}" for n in range(2, 7)]
    assert [sum(o.stats["dropped"].values()) for o in first] == [1, 0, 1, 1, 0]
    assert not any(o.reused for o in first)
    again = curate(support, "support@1", load_recipe(recipe))
    assert [o.output for o in again] == [o.output for o in first]
    assert all(o.reused for o in again)
    with support.read() as con:
        (n,) = con.execute("SELECT count(*) FROM versions").fetchone()
        stats = con.execute("SELECT stats FROM versions WHERE number = 4").fetchone()[0]
    assert n == 6
    assert '"dropped":{"too_long":1}' in stats and '"seconds":' in stats


def test_a_changed_setting_is_a_new_version(support):
    curate(support, "support", [single_step("length", ["max_chars=200"])])
    out = curate(support, "support@1", [single_step("length", ["max_chars=100"])])
    assert out[0].output == "support@3" and not out[0].reused


def test_a_dry_run_reports_and_commits_nothing(support, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(CHEAP)
    outcomes = curate(support, "support", load_recipe(recipe), dry_run=True)
    assert [sum(o.stats["dropped"].values()) for o in outcomes] == [1, 0, 1, 1, 0]
    assert [o.stats["input"] for o in outcomes] == [43, 42, 42, 41, 40]
    with support.read() as con:
        assert con.execute("SELECT count(*) FROM versions").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_recipe_errors_name_the_step_and_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - exact_dedup: {scope: prompt}\n  - split: {trian: 0.8}\n")
    with pytest.raises(UsageError) as e:
        load_recipe(bad)
    assert str(e.value) == (f"{bad}, step 2: step 'split': unknown key 'trian' (known: train, val, "
                            "test, group_by, time_key, time_cutoff, stratify_by, seed)")
    bad.write_text("steps:\n  - dedupe: {}\n")
    with pytest.raises(UsageError, match="unknown step 'dedupe'; known steps: pii, exact_dedup"):
        load_recipe(bad)
    bad.write_text("step:\n  - exact_dedup: {}\n")
    with pytest.raises(UsageError, match="a non-empty list `steps`"):
        load_recipe(bad)
    with pytest.raises(UsageError, match=r"scope: Input should be 'conversation', 'prompt' or"):
        single_step("exact_dedup", ["scope=everything"])
    with pytest.raises(UsageError, match="--set with a recipe takes STEP.KEY=VALUE"):
        load_recipe(_write(tmp_path, CHEAP), ["max_chars=3"])


def _write(tmp_path, text):
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    return path


def test_set_overrides_a_recipe_step(tmp_path):
    steps = load_recipe(_write(tmp_path, CHEAP), ["length.max_chars=50", "split.seed=7"])
    assert steps[2].config.max_chars == 50 and steps[4].config.seed == 7


def test_no_step_loses_an_example_without_a_record(support, tmp_path):
    """members(parent) = members(child) - added + removed, for every version a step made."""
    curate(support, "support", load_recipe(_write(tmp_path, CHEAP)))
    with support.read() as con:
        pairs = con.execute("SELECT parent_id, version_id FROM versions WHERE parent_id IS NOT "
                            "NULL").fetchall()
        assert len(pairs) == 5
        for parent, child in pairs:
            assert_accounted(con, parent, child)


def test_a_killed_curate_continues_from_the_last_committed_step(tmp_path):
    """kill -9 after the first step's commit; the re-run reuses it and finishes the recipe."""
    store = tmp_path / "s.duckdb"
    records = [chat(f"Question {i} " * 30, f"Answer {i} " * 40) for i in range(20_000)]
    run = [sys.executable, "-m", "gristmill"]
    subprocess.run([*run, "ingest", str(write_jsonl(tmp_path / "s.jsonl", records)), "-d", "s",
                    "--store", str(store)], check=True, capture_output=True)
    recipe = _write(tmp_path, "steps:\n  - exact_dedup: {}\n  - structure: {}\n"
                              "  - refusals: {}\n  - split: {}\n")
    proc = subprocess.Popen([*run, "curate", "s", "--recipe", str(recipe), "--store", str(store)],
                            stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # printed after the step's commit
    assert first.startswith("exact_dedup: s@1 -> s@2")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.1)
    again = subprocess.run([*run, "curate", "s", "--recipe", str(recipe), "--store",
                            str(store)], capture_output=True, text=True, check=True).stdout
    lines = again.splitlines()
    assert lines[0].startswith("exact_dedup: s@1 -> s@2") and lines[0].endswith("(reused)")
    assert lines[-2].startswith("split: ") and not lines[-2].endswith("(reused)")
    assert "20,000 examples kept" in lines[-1]
