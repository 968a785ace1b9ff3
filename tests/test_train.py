"""Training end to end on a tiny random Llama: SFT lowers its loss, DPO widens the chosen
margin, a resumed run repeats the uninterrupted curve, and every run lands in the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from gristmill.store.db import Store
from gristmill.train import registry
from gristmill.train.config import DPOConfig, SFTConfig
from gristmill.train.model import plan, quantization_config
from gristmill.train.run import train
from tests.conftest import chat, write_jsonl
from tests.train_fixtures import sequence_logprob

FACTS = [("What colour is the sky?", "The sky is blue."),
         ("What do cows drink?", "Cows drink water."),
         ("Name a prime number.", "Seven is a prime number."),
         ("What is ice made of?", "Ice is frozen water."),
         ("Where do fish live?", "Fish live in water."),
         ("What do bees make?", "Bees make honey.")]


def ingest_chats(cli, tmp_path: Path, n: int = 48) -> None:
    records = [chat(f"{q} (#{i})", a) for i in range(n // len(FACTS)) for q, a in FACTS]
    code, _, err = cli("ingest", write_jsonl(tmp_path / "chats.jsonl", records), "-d", "facts")
    assert code == 0, err


def ingest_pairs(cli, tmp_path: Path, n: int = 24) -> list[dict]:
    records = [{"prompt": [{"role": "user", "content": f"{q} (#{i})"}],
                "chosen": [{"role": "assistant", "content": a}],
                "rejected": [{"role": "assistant", "content": "I do not know, sorry."}]}
               for i in range(n // len(FACTS)) for q, a in FACTS]
    code, _, err = cli("ingest", write_jsonl(tmp_path / "pairs.jsonl", records), "-d", "prefs",
                       "-f", "preference")
    assert code == 0, err
    return records


def quick(cls, base: Path, **kw):
    settings = dict(base=str(base), lr=6e-2, batch_size=4, eval_steps=4, max_length=256,
                    lora_r=8, warmup_ratio=0.0, seed=7)
    return cls(**(settings | kw))


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny_base):
    """One SFT run the tests below read: (store, outcome)."""
    from gristmill.cli import main

    folder = tmp_path_factory.mktemp("sft")
    store = Store(folder / "store.duckdb")
    records = [chat(f"{q} (#{i})", a) for i in range(8) for q, a in FACTS]
    assert main(["ingest", str(write_jsonl(folder / "chats.jsonl", records)), "-d", "facts",
                 "--store", str(store.path)]) == 0
    out = train(store.path, "facts", "sft", quick(SFTConfig, tiny_base, max_steps=24,
                                                   patience=None), quiet=True)
    return store, out


def test_sft_drives_the_loss_down_and_registers_the_model(sft_run):
    store, out = sft_run
    assert out.status == "ok"
    curves = _curve(store, out.name)
    train_loss = [loss for _, loss in curves["train"]]
    assert sum(train_loss[-4:]) / 4 < sum(train_loss[:4]) / 4 - 0.75
    assert curves["eval"][-1][1] < curves["eval"][0][1] - 0.75
    with store.read() as con:
        row = registry.get(con, out.name)
        used = con.execute("SELECT split, count(*) FROM model_examples WHERE model_id = ? "
                           "GROUP BY split ORDER BY split", [row["model_id"]]).fetchall()
    assert row["status"] == "ok" and row["stage"] == "candidate" and row["kind"] == "sft"
    assert row["versions"][0]["ref"] == "facts@1"
    assert row["versions"][0]["split_source"].startswith("hash(")  # no splits: split here
    assert dict(used)["train"] + dict(used).get("val", 0) == 48
    assert row["config"]["lora_r"] == 8 and row["packages"]["trl"]
    assert row["metrics"]["tokens_per_s"] > 0 and row["metrics"]["peak_memory_gib"] > 0
    adapter = Path(row["adapter_path"])
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8


def test_merge_writes_the_merged_model_and_a_vllm_style_adapter(sft_run, tmp_path, capsys):
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from gristmill.cli import main

    store, out = sft_run
    merged_dir = tmp_path / "merged"
    assert main(["models", "merge", out.name, "-o", str(merged_dir), "--store",
                 str(store.path)]) == 0
    assert str(merged_dir) in capsys.readouterr().out
    with store.read() as con:
        base_path = registry.get(con, out.name)["base_path"]
    ids = torch.tensor([[5, 900, 1200, 33, 7, 4100]])
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_path), str(merged_dir / "lora")).eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits,
                                   with_adapter(input_ids=ids).logits, atol=1e-4, rtol=1e-4)
        plain = AutoModelForCausalLM.from_pretrained(base_path)(input_ids=ids).logits
    assert not torch.allclose(plain, merged(input_ids=ids).logits, atol=1e-3)  # it did change
    # what vLLM's --enable-lora reads: the config and LoRA A/B weights of linear layers only
    assert sorted(p.name for p in (merged_dir / "lora").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]
    with safe_open(str(merged_dir / "lora" / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("base_model.model.model.layers.") for k in keys)
    assert all(".lora_A.weight" in k or ".lora_B.weight" in k for k in keys)
    assert (merged_dir / "tokenizer_config.json").is_file()
    assert main(["models", "merge", out.name, "-o", str(merged_dir), "--store",
                 str(store.path)]) == 2  # never over a folder that holds something


def _curve(store, name: str) -> dict:
    with store.read() as con:
        return registry.get(con, name)["curves"]


class StopAt(TrainerCallback):
    """Ends training after a step, as a kill after a checkpoint would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def test_a_resumed_run_repeats_the_uninterrupted_loss_curve(store, cli, tmp_path, tiny_base):
    ingest_chats(cli, tmp_path)
    config = quick(SFTConfig, tiny_base, max_steps=8, eval_steps=2, patience=None,
                   lora_dropout=0.0)
    whole = train(store.path, "facts", "sft", config, quiet=True)
    cut = train(store.path, "facts", "sft", config, quiet=True, callbacks=[StopAt(4)])
    assert cut.status == "stopped"
    resumed = train(store.path, "facts", "sft", config, quiet=True, resume=cut.name)
    assert resumed.name == cut.name and resumed.status == "ok"
    assert resumed.metrics["train_tokens"] == whole.metrics["train_tokens"]
    assert resumed.metrics["tokens_per_s"] > 0
    a, b = _curve(store, whole.name), _curve(store, cut.name)
    assert [s for s, _ in a["train"]] == [s for s, _ in b["train"]]
    assert [loss for _, loss in b["train"]] == pytest.approx([loss for _, loss in a["train"]],
                                                             rel=1e-4)
    assert [loss for _, loss in b["eval"]] == pytest.approx([loss for _, loss in a["eval"]],
                                                            rel=1e-4)


def test_early_stopping_keeps_the_best_and_the_last_checkpoints(store, cli, tmp_path,
                                                                tiny_base):
    ingest_chats(cli, tmp_path)
    # a learning rate this high makes the eval loss climb after the first steps
    out = train(store.path, "facts", "sft", quick(SFTConfig, tiny_base, lr=0.5, max_steps=40,
                                                   eval_steps=2, patience=2,
                                                   keep_checkpoints=1), quiet=True)
    m = out.metrics
    assert m["stopped_early"] and m["steps"] < 40
    evals = _curve(store, out.name)["eval"]
    best = min(range(len(evals)), key=lambda i: evals[i][1])
    assert len(evals) - 1 - best == 2  # stopped after `patience` evaluations without a gain
    kept = sorted(p.name for p in (out.adapter.parent / "checkpoints").glob("checkpoint-*"))
    assert f"checkpoint-{evals[best][0]}" in kept and len(kept) <= 2


def test_dpo_raises_the_chosen_minus_rejected_margin(store, cli, tmp_path, tiny_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pairs = ingest_pairs(cli, tmp_path)
    out = train(store.path, "prefs", "dpo", quick(DPOConfig, tiny_base, lr=5e-5, max_steps=12),
                quiet=True)
    tok = AutoTokenizer.from_pretrained(str(tiny_base))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base)).eval()

    def margin(model) -> float:
        return sum(sequence_logprob(model, tok, p["prompt"], p["chosen"])
                   - sequence_logprob(model, tok, p["prompt"], p["rejected"])
                   for p in pairs[:6]) / 6

    before = margin(base)
    after = margin(PeftModel.from_pretrained(base, str(out.adapter)).eval())
    assert after > before + 0.5


def test_the_qlora_plan_for_cuda_is_4bit_nf4_double_quant_bf16(tiny_base):
    import torch

    p = plan(SFTConfig(base=str(tiny_base)), packing=True, on="cuda")
    assert p.quantize and p.bf16 and p.attention == "flex_attention"
    assert p.gradient_checkpointing
    q = quantization_config(p)
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4"
    assert q.bnb_4bit_use_double_quant and q.bnb_4bit_compute_dtype == torch.bfloat16
    cpu = plan(SFTConfig(base=str(tiny_base)), packing=True, on="cpu")
    assert not cpu.quantize and not cpu.bf16 and cpu.attention == "varlen_sdpa"
    assert quantization_config(cpu) is None


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_qlora_on_cuda_trains_a_4bit_base_with_a_document_mask(store, cli, tmp_path, tiny_base):
    import torch

    ingest_chats(cli, tmp_path)
    out = train(store.path, "facts", "sft", quick(SFTConfig, tiny_base, max_steps=8,
                                                   patience=None), quiet=True)
    with store.read() as con:
        row = registry.get(con, out.name)
    assert row["status"] == "ok" and row["hardware"]["device"] == "cuda"
    assert row["metrics"]["peak_memory_gib"] > 0
    p = plan(SFTConfig(base=str(tiny_base)), packing=True)
    assert p.quantize and p.attention == "flex_attention"
    from gristmill.train.model import load_base

    model = load_base(tiny_base, p)
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    assert torch.cuda.max_memory_allocated() > 0


def test_dpo_continues_an_sft_adapter_and_records_its_parent(sft_run, tiny_base, tmp_path):
    from gristmill.cli import main

    store, sft = sft_run
    records = [{"prompt": [{"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": a}],
                "rejected": [{"role": "assistant", "content": "No idea."}]} for q, a in FACTS]
    assert main(["ingest", str(write_jsonl(tmp_path / "p.jsonl", records)), "-d", "prefs", "-f",
                 "preference", "--store", str(store.path)]) == 0
    out = train(store.path, "prefs", "dpo", quick(DPOConfig, tiny_base, lr=5e-5, max_steps=2,
                                                   start_from=sft.name), quiet=True)
    assert out.status == "ok"
    with store.read() as con:
        row = registry.get(con, out.name)
        chain = registry.lineage(con, out.name)
    assert row["parent"] == sft.name and row["kind"] == "dpo"
    assert chain["parent"]["name"] == sft.name
    assert chain["parent"]["versions"][0]["ref"] == "facts@1"
    with pytest.raises(Exception, match="start_from"):
        train(store.path, "prefs", "dpo", quick(DPOConfig, tiny_base, lr=5e-5,
                                                start_from=out.name + "x"))


def test_resume_starts_from_the_newest_checkpoint_a_kill_did_not_cut_short(tmp_path):
    from gristmill.train.run import last_checkpoint

    assert last_checkpoint(tmp_path) is None
    for step, complete in ((2, True), (10, True), (12, False)):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path).name == "checkpoint-10"  # by step, not by name order


@pytest.mark.parametrize("launcher, kind", [("torchrun", "sft"), ("accelerate", "dpo")])
def test_a_launched_run_trains_ddp_in_two_cpu_processes_and_registers_like_one(
        store, cli, tmp_path, tiny_base, launcher, kind):
    """Two gloo processes on CPU: the launcher path of a multi-GPU run. The registry entry and
    lineage name the version and every one of its examples, as a one-process run's do."""
    from gristmill.store.versions import resolve
    from tests.conftest import run_gristmill

    if kind == "sft":
        ingest_chats(cli, tmp_path, n=24)
    else:
        ingest_pairs(cli, tmp_path, n=24)
    ref = "facts" if kind == "sft" else "prefs"
    settings = ["--base", str(tiny_base), "--set", "max_steps=4", "--set", "batch_size=2",
                "--set", "eval_steps=2", "--set", "max_length=128", "--set", "patience=null",
                "--set", "lr=0.05" if kind == "sft" else "lr=5e-5", "--store", str(store.path)]
    done = run_gristmill("train", kind, ref, *settings, "--launcher", launcher, "--nproc", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    with store.read() as con:
        (launched,) = registry.listing(con)
        version = resolve(con, ref)
        recorded = con.execute("SELECT example_key, split FROM model_examples WHERE model_id = ?",
                               [launched["model_id"]]).fetchall()
        members = {k for (k,) in con.execute("SELECT example_key FROM members WHERE "
                                             "version_id = ?", [version.version_id]).fetchall()}
    m = launched["metrics"]
    assert (m["world_size"], m["wrapper"], m["launcher"]) == (2, "DistributedDataParallel",
                                                              launcher)
    assert launched["status"] == "ok" and Path(launched["adapter_path"], "adapter_config.json").is_file()
    assert m["steps"] == 4 and len(launched["curves"]["train"]) == 4
    assert [v["version_id"] for v in launched["versions"]] == [version.version_id]
    assert {k for k, _ in recorded} == members and len(recorded) == len(members) == 24
    assert {s for _, s in recorded} >= {"train"} and len({s for _, s in recorded}) == 2
    if kind == "sft":
        assert m["train_loss_last"] < m["train_loss_first"]
