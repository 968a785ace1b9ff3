"""SFT throughput of Gristmill's trainer against plain TRL, same model, data and steps.

Each configuration runs in its own process (clean peak memory) and reports trained tokens/s
(non-pad tokens per second after a warm-up step) and peak memory (RSS on CPU, allocated on
CUDA). The baselines are what a user would write with TRL alone: padded batches, and TRL's
packing with the model's default `sdpa` attention (which masks the packed row densely).

    .venv/bin/python bench/train.py                 # tiny Llama on CPU
    .venv/bin/python bench/train.py --model DIR     # any local model folder
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "trl_padded": "plain TRL, padded batches (no packing), sdpa",
    "trl_packed_sdpa": "plain TRL, packing (bfd), sdpa: a dense mask over each packed row",
    "gristmill": "Gristmill: packing with a document-masked kernel, the plan's settings",
}


def examples(n: int, vocab: int, seed: int = 0) -> list[dict]:
    """Chat-like lengths: most short, a long tail (log-uniform 32..1500 tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = int(32 * (1500 / 32) ** rng.random())
        ids = [rng.randrange(10, vocab) for _ in range(length)]
        prompt = length // 3
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def worker(config: str, model_dir: str, steps: int, batch: int, max_length: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    from gristmill.train import trainers
    from gristmill.train.config import SFTConfig
    from gristmill.train.data import Prepared
    from gristmill.train.model import load_base, lora_config, plan
    from gristmill.train.recorder import peak_memory_gib
    from gristmill.train.tune import Clock

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    rows = examples(batch * steps * 8, len(tok))

    clock = Clock()
    out = Path(tempfile.mkdtemp())
    ours = SFTConfig(base=model_dir, max_steps=steps, batch_size=batch, max_length=max_length,
                     patience=None, lora_dropout=0.0)
    if config == "gristmill":
        p = plan(ours, packing=True)
        trainer = trainers.sft_trainer(load_base(Path(model_dir), p), tok, ours, p,
                                       Prepared(train=rows), out, True, [clock])
    else:
        on_cuda = torch.cuda.is_available()
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.bfloat16 if on_cuda else torch.float32)
        packed = config == "trl_packed_sdpa"
        args = TRLConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch,
                         max_length=max_length, packing=packed, learning_rate=2e-4,
                         logging_steps=1, report_to=[], save_strategy="no", disable_tqdm=True,
                         use_cpu=not on_cuda, bf16=on_cuda, seed=42)
        trainer = SFTTrainer(model=model, args=args, processing_class=tok,
                             train_dataset=Dataset.from_list(rows),
                             peft_config=lora_config(ours), callbacks=[clock])
    trainer.train()
    return {"config": config, "tokens_per_s": clock.rate(),
            "peak_gib": peak_memory_gib(), "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a model folder (default: a tiny random Llama)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.model, a.steps, a.batch, a.max_length)))
        return
    model = a.model
    if model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.train_fixtures import tiny_base

        model = str(tiny_base(Path(tempfile.mkdtemp())))
    results = {}
    for config in a.configs:
        proc = subprocess.run([sys.executable, __file__, "--worker", config, "--model", model,
                               "--steps", str(a.steps), "--batch", str(a.batch),
                               "--max-length", str(a.max_length)], capture_output=True,
                              text=True)
        if proc.returncode:
            print(f"{config}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results[config] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[config]
        print(f"{config:<16} {r['tokens_per_s']:>10,.0f} tokens/s  peak {r['peak_gib']:.2f} GiB"
              f"  ({CONFIGS[config]})", flush=True)
    if "gristmill" in results:
        ours = results["gristmill"]["tokens_per_s"]
        for config, r in results.items():
            if config != "gristmill":
                print(f"gristmill / {config}: {ours / r['tokens_per_s']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
