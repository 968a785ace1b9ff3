"""Choosing batch size and gradient checkpointing by measuring, not guessing.

Each candidate trains a fresh copy of the model for a few steps on the run's own data; its
tokens/s (after a warm-up step) and peak memory (allocated on CUDA, resident on CPU) decide. Batch
sizes double until a step no longer fits the memory budget or stops getting faster; checkpointing
is tried only when the budget, not the speed, ended the search without it. The fastest candidate
that fits wins, and every trial is recorded with the run.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from transformers import TrainerCallback

from gristmill.errors import GristmillError
from gristmill.train.config import SFTConfig
from gristmill.train.data import Prepared
from gristmill.train.model import Plan

STEPS = 3  # the first warms up; the others are timed
BATCHES = (1, 2, 4, 8, 16, 32, 64)
GAIN = 1.05  # a bigger batch must be this much faster to be worth its memory


@dataclass
class Trial:
    batch_size: int
    gradient_checkpointing: bool
    tokens_per_s: float = 0.0
    peak_gib: float = 0.0
    fits: bool = False
    error: str | None = None


def wanted(config: SFTConfig, p: Plan) -> bool:
    return config.tune == "on" or (config.tune == "auto" and p.device == "cuda")


def default_budget(p: Plan) -> float:
    import psutil
    import torch

    if p.device == "cuda":
        return 0.9 * torch.cuda.get_device_properties(0).total_memory / 2**30
    return 0.6 * psutil.virtual_memory().available / 2**30


def choose(config: SFTConfig, p: Plan, tokenizer, base_folder: Path, data: Prepared,
           say=print) -> tuple[SFTConfig, Plan, list[Trial]]:
    """The config and plan to train with, and the trials that chose them."""
    budget = config.memory_budget_gib or default_budget(p)
    trials: list[Trial] = []
    for checkpointing in (False, True):
        best, ended_by_budget = 0.0, False
        for batch in BATCHES:
            t = measure(config, replace(p, gradient_checkpointing=checkpointing), batch,
                        tokenizer, base_folder, data, budget)
            trials.append(t)
            say(f"   tune: batch {batch}, checkpointing {'on' if checkpointing else 'off'}: "
                + (f"{t.tokens_per_s:,.0f} tokens/s, peak {t.peak_gib:.2f} GiB"
                   if not t.error else t.error) + ("" if t.fits else " (over budget)"))
            if not t.fits:
                ended_by_budget = True
                break
            if t.tokens_per_s < best * GAIN:
                break
            best = max(best, t.tokens_per_s)
        if not ended_by_budget:
            break  # speed stopped growing before memory ran out: checkpointing cannot help
    fitting = [t for t in trials if t.fits]
    if not fitting:
        raise GristmillError(f"no batch size fits the memory budget of {budget:.1f} GiB, even "
                             "batch 1 with gradient checkpointing; raise memory_budget_gib or "
                             "lower max_length")
    pick = max(fitting, key=lambda t: t.tokens_per_s)
    tuned = config.model_copy(update={"batch_size": pick.batch_size, "tune": "off",
                                      "gradient_checkpointing": pick.gradient_checkpointing,
                                      "memory_budget_gib": round(budget, 2)})
    return tuned, replace(p, gradient_checkpointing=pick.gradient_checkpointing), trials


def measure(config: SFTConfig, p: Plan, batch: int, tokenizer, base_folder: Path,
            data: Prepared, budget: float) -> Trial:
    """A few training steps of a fresh model at one batch size."""
    import torch

    from gristmill.train.model import load_base
    from gristmill.train.recorder import quiet_logs
    from gristmill.train.trainers import sft_trainer

    trial = Trial(batch, p.gradient_checkpointing)
    trial_config = config.model_copy(update={"batch_size": batch, "max_steps": STEPS,
                                             "eval_steps": 10**9, "patience": None,
                                             "report_to": []})
    out = Path(tempfile.mkdtemp(prefix="gristmill-tune-"))
    clock, peak = Clock(), _Peak(p.device)
    model = trainer = None
    try:
        model = load_base(base_folder, p)
        trainer = sft_trainer(model, tokenizer, trial_config, p, Prepared(train=data.train), out,
                              True, [clock])
        quiet_logs(trainer, bar=False)
        with peak:
            trainer.train()
        trial.tokens_per_s = clock.rate()
        trial.peak_gib = peak.gib
        trial.fits = trial.peak_gib <= budget
    except torch.OutOfMemoryError:
        trial.error = "out of memory"
    finally:
        del model, trainer
        gc.collect()
        if p.device == "cuda":
            torch.cuda.empty_cache()
        shutil.rmtree(out, ignore_errors=True)
    return trial


def as_records(trials: list[Trial]) -> list[dict]:
    return [asdict(t) for t in trials]


class Clock(TrainerCallback):
    """Tokens per second after the first step."""

    def __init__(self) -> None:
        self.t0 = self.t1 = 0.0
        self.tokens0 = self.tokens = 0.0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "num_tokens" in logs:
            self.tokens = float(logs["num_tokens"])
            if state.global_step == 1:
                self.t0, self.tokens0 = time.perf_counter(), self.tokens
            self.t1 = time.perf_counter()

    def rate(self) -> float:
        seconds = self.t1 - self.t0
        return (self.tokens - self.tokens0) / seconds if seconds > 0 else 0.0


class _Peak:
    """Peak memory inside the block: allocated on CUDA, resident (sampled) on CPU."""

    def __init__(self, device: str):
        self.device, self.gib, self._stop = device, 0.0, threading.Event()

    def __enter__(self):
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            import torch

            self.gib = torch.cuda.max_memory_allocated() / 2**30
        else:
            self._stop.set()
            self._thread.join()

    def _sample(self) -> None:
        import psutil

        proc = psutil.Process()
        while not self._stop.wait(0.02):
            self.gib = max(self.gib, proc.memory_info().rss / 2**30)
