"""Eval-set leakage: the step removes training examples that match eval items (never eval items),
the read-only command reports them. The demo's planted golden-set leaks score it in
test_recipe_e2e."""

from __future__ import annotations

import argparse

import orjson
import pytest

from gristmill.cli import common_options
from gristmill.curation.leakage import LeakageStep, find_leaks
from gristmill.curation.leakage_command import register
from gristmill.curation.runner import curate
from gristmill.example import Example
from gristmill.store.db import Store
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl

EVAL = [
    chat("How do I wash the Larch Down Jacket without ruining the fill?", "Cold, gentle cycle."),
    chat("What is the warranty on the Talus Trekking Poles, and does it cover a snapped shaft?",
         "Lifetime, including shafts."),
    chat("Can I return the Scree Canister Stove after using it on one trip?", "Yes, within 60 days."),
]
TRAIN = {
    "exact": chat("how do I wash the LARCH down jacket, without ruining the fill", "Use cold water."),
    "ngram": chat("My friend asked me this: what is the warranty on the Talus Trekking Poles, and does "
                  "it cover a snapped shaft? I said I'd check.", "It does."),
    "embedding": chat("If I've used the Scree Canister Stove on a single trip, may I still send it back?",
                      "Yes."),
    "other": chat("Can I return the Larch Down Jacket if it does not fit?", "Yes, unworn."),
    "unrelated": chat("Do you ship to Canada?", "Yes, in 5-8 business days."),
}


def leakage(**settings) -> LeakageStep:
    return LeakageStep(LeakageStep.Config(**({"against": ("evals",)} | settings)))


@pytest.fixture
def small(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ingest(store, [write_jsonl(tmp_path / "evals.jsonl", EVAL)], "evals")
    ingest(store, [write_jsonl(tmp_path / "train.jsonl", list(TRAIN.values()))], "train")
    ids = {k: Example.chat(v["messages"]).id for k, v in TRAIN.items()}
    eval_ids = [Example.chat(v["messages"]).id for v in EVAL]
    return store, ids, eval_ids


def test_each_method_finds_its_leak_and_names_the_eval_item(small):
    store, ids, eval_ids = small
    (outcome,) = curate(store, "train", [leakage()])
    with store.read() as con:
        removed = {r[0]: orjson.loads(r[1]) for r in con.execute(
            "SELECT e.id, r.evidence FROM removals r JOIN examples e ON e.key = r.example_key "
            "WHERE r.reason = 'eval_leak'").fetchall()}
        n_eval = con.execute("SELECT n_examples FROM versions WHERE dataset = 'evals'").fetchall()
    assert set(removed) == {ids["exact"], ids["ngram"], ids["embedding"]}
    assert removed[ids["exact"]] == {"eval_id": eval_ids[0], "eval_ref": "evals@1", "method": "exact",
                                     "score": 1.0}
    assert (removed[ids["ngram"]]["eval_id"], removed[ids["ngram"]]["method"]) == (eval_ids[1], "ngram")
    assert removed[ids["ngram"]]["score"] >= 0.5
    assert (removed[ids["embedding"]]["eval_id"], removed[ids["embedding"]]["method"]) == (
        eval_ids[2], "embedding")
    assert n_eval == [(3,)]  # the eval set keeps every item
    assert outcome.stats["leaks"] == {"exact": 1, "ngram": 1, "minhash": 0, "embedding": 1}


def test_minhash_catches_a_small_edit_the_exact_hash_misses(small):
    store, ids, eval_ids = small
    train = chat("What is the warranty on the Talus Trekking Poles and does it cover snapped shafts?",
                 "Yes.")
    found = _scan(store, [train], {"methods": ["exact", "minhash"]})
    assert [(x.method, x.eval_id) for x in found.leaks] == [("minhash", eval_ids[1])]
    assert found.leaks[0].score >= 0.6


def test_without_specifics_a_different_question_about_the_same_thing_can_pass_for_a_leak(small):
    store, ids, _ = small
    strict = find_leaks(store, "train", ["evals"], {"methods": ["embedding"]})
    loose = find_leaks(store, "train", ["evals"], {"methods": ["embedding"], "specifics": 0.0,
                                                   "cosine": 0.5})
    assert ids["other"] not in {x.train_id for x in strict.leaks}
    assert ids["other"] in {x.train_id for x in loose.leaks}


def test_the_eval_refs_are_pinned_so_a_new_eval_version_is_a_new_config(small, tmp_path):
    store, _, _ = small
    (first,) = curate(store, "train@1", [leakage()])
    with store.read() as con:
        (config,) = con.execute("SELECT config FROM versions WHERE dataset = 'train' AND number = 2"
                                ).fetchone()
    assert orjson.loads(config)["against"] == ["evals@1"]
    assert curate(store, "train@1", [leakage()])[0].reused
    more = chat("Which stove boils water fastest at altitude?", "The Scree.")
    ingest(store, [write_jsonl(tmp_path / "more.jsonl", [*EVAL, more])], "evals")
    assert not curate(store, "train@1", [leakage()])[0].reused


def test_the_command_prints_each_leak_with_both_questions_and_reads_only(small, capsys):
    store, ids, eval_ids = small
    before = store.path.stat().st_mtime_ns
    assert _command(store, "train", "--against", "evals", "--json") == 0
    out, err = capsys.readouterr()
    leaks = {x["train_id"]: x for x in orjson.loads(out)}
    assert set(leaks) == {ids["exact"], ids["ngram"], ids["embedding"]}
    assert leaks[ids["exact"]] == {
        "train_id": ids["exact"], "eval_id": eval_ids[0], "eval_ref": "evals@1", "method": "exact",
        "score": 1.0, "train_text": TRAIN["exact"]["messages"][0]["content"],
        "eval_text": EVAL[0]["messages"][0]["content"]}
    assert err == "3 of 5 training examples in train match 3 of 3 eval items (exact 1, ngram 1, " \
                  "embedding 1)\n"
    assert store.path.stat().st_mtime_ns == before
    assert _command(store, "train", "--against", "evals", "--set", "methods=[exact]") == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1] == "1 of 5 training examples in train match 1 of 3 eval items (exact 1)"


def test_the_command_help_says_what_it_checks(capsys):
    with pytest.raises(SystemExit):
        _command(None, "--help")
    text = " ".join(capsys.readouterr().out.split())
    for words in ("exact", "ngram", "minhash", "embedding", "read-only", "never from the eval set"):
        assert words in text


def _scan(store: Store, train: list[dict], settings: dict):
    path = store.path.parent / "extra.jsonl"
    ingest(store, [write_jsonl(path, train)], "extra")
    return find_leaks(store, "extra", ["evals"], settings)


def _command(store: Store | None, *argv: str) -> int:
    common = common_options()
    parser = argparse.ArgumentParser(prog="gristmill", parents=[common])
    parser.set_defaults(store=None, json=False, quiet=False)
    register(parser.add_subparsers(dest="command"), common)
    args = parser.parse_args(["leakage", *argv, *(["--store", str(store.path)] if store else [])])
    return args.handler(args)
