"""Batch size and checkpointing chosen by measuring a few steps of each candidate."""

from __future__ import annotations

import pytest

from gristmill.errors import GristmillError
from gristmill.train import tune
from gristmill.train.config import SFTConfig
from gristmill.train.data import Item, prepare, sft_renderer
from gristmill.train.model import load_tokenizer, plan
from tests.test_train import FACTS


@pytest.fixture(scope="module")
def data(tiny_base):
    tok = load_tokenizer(tiny_base)
    items = [Item(i, f"{i:064x}", "chat", {"messages": [
        {"role": "user", "content": f"{q} ({i})"}, {"role": "assistant", "content": a}]},
        "train") for i, (q, a) in enumerate(FACTS * 8)]
    return tok, prepare(items, sft_renderer(tok, True), 256, "drop")


def test_the_fastest_batch_that_fits_is_chosen_and_every_trial_kept(tiny_base, data):
    tok, prepared = data
    config = SFTConfig(base=str(tiny_base), max_length=256, tune="on", memory_budget_gib=1000)
    heard = []
    tuned, p, trials = tune.choose(config, plan(config, True), tok, tiny_base, prepared,
                                   heard.append)
    assert [t.batch_size for t in trials] == list(tune.BATCHES[:len(trials)])
    assert all(t.fits and t.tokens_per_s > 0 and t.peak_gib > 0 for t in trials)
    assert len(trials) < len(tune.BATCHES) or trials[-1].batch_size == tune.BATCHES[-1]
    if len(trials) < len(tune.BATCHES):  # it stopped because a bigger batch was no faster
        assert trials[-1].tokens_per_s < tune.GAIN * max(t.tokens_per_s for t in trials[:-1])
    best = max(trials, key=lambda t: t.tokens_per_s)
    assert tuned.batch_size == best.batch_size and tuned.tune == "off"
    assert tuned.gradient_checkpointing is False is p.gradient_checkpointing
    assert len(heard) == len(trials) and "tokens/s" in heard[0]


def test_a_budget_nothing_fits_tries_checkpointing_then_says_so(tiny_base, data):
    tok, prepared = data
    config = SFTConfig(base=str(tiny_base), max_length=256, tune="on", memory_budget_gib=0.01)
    heard = []
    with pytest.raises(GristmillError, match="memory_budget_gib"):
        tune.choose(config, plan(config, True), tok, tiny_base, prepared, heard.append)
    assert [("checkpointing on" in h, "over budget" in h) for h in heard] == [
        (False, True), (True, True)]


def test_tuning_is_on_by_default_only_where_it_pays(tiny_base):
    config = SFTConfig(base=str(tiny_base))
    assert tune.wanted(config, plan(config, True, on="cuda"))
    assert not tune.wanted(config, plan(config, True, on="cpu"))
    assert tune.wanted(config.model_copy(update={"tune": "on"}), plan(config, True, on="cpu"))


def test_a_tuned_run_records_its_trials_and_trains_with_the_choice(store, cli, tmp_path,
                                                                   tiny_base):
    from gristmill.train import registry
    from gristmill.train.run import train
    from tests.test_train import ingest_chats, quick

    ingest_chats(cli, tmp_path)
    out = train(store.path, "facts", "sft", quick(SFTConfig, tiny_base, max_steps=2,
                                                   patience=None, tune="on",
                                                   memory_budget_gib=1000), quiet=True)
    with store.read() as con:
        row = registry.get(con, out.name)
    trials = row["metrics"]["tuning"]
    best = max(trials, key=lambda t: t["tokens_per_s"])
    assert row["config"]["batch_size"] == best["batch_size"] and row["config"]["tune"] == "off"
    assert row["status"] == "ok"
    code, shown, _ = cli("models", "show", out.name)
    assert code == 0
    assert f"batch {best['batch_size']}: {best['tokens_per_s']:,.0f} tokens/s" in shown
