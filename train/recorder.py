"""What a run records while it trains: the loss curves, tokens seen, speed and peak memory."""

from __future__ import annotations

import resource
import sys
import time

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback


class Bar(ProgressCallback):
    """transformers' bar, with the latest losses on it rather than a dict printed per step."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.training_bar is not None and logs:
            shown = {k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "eval_loss")}
            if shown:
                self.training_bar.set_postfix(shown, refresh=False)


def quiet_logs(trainer, bar: bool) -> None:
    """No per-step dicts on stdout; a bar only when asked."""
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if bar:
        trainer.add_callback(Bar())


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.train: list[list[float]] = []
        self.eval: list[list[float]] = []
        self.tokens = 0.0  # trained in this process
        self.resumed_tokens = 0.0  # trained before a resume, from the checkpoint's history
        self._counter = 0.0
        self.started = time.monotonic()
        self.steps = 0
        self.epoch = 0.0
        self.best_step: int | None = None
        self.stopped_early = False
        self.world_size = 1  # processes that trained together
        self.wrapper: str | None = None  # the trainer's model wrapper: DDP or FSDP in a launched run

    def on_train_begin(self, args, state, control, **kwargs):
        # a resumed run starts from its checkpoint's history, so the curves stay whole
        self.train = [[h["step"], h["loss"]] for h in state.log_history if "loss" in h]
        self.eval = [[h["step"], h["eval_loss"]] for h in state.log_history if "eval_loss" in h]
        self.resumed_tokens = self._counter = float(
            max((h.get("num_tokens", 0) for h in state.log_history), default=0))
        self.tokens = 0.0
        self.started = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.train.append([state.global_step, float(logs["loss"])])
        if "eval_loss" in logs:
            self.eval.append([state.global_step, float(logs["eval_loss"])])
        if "num_tokens" in logs:  # a running count, which a resumed trainer may restart at 0
            n = float(logs["num_tokens"])
            self.tokens += n - self._counter if n >= self._counter else n
            self._counter = n

    def on_train_end(self, args, state, control, **kwargs):
        self.steps = state.global_step
        self.epoch = float(state.epoch or 0)
        if state.best_model_checkpoint:
            self.best_step = int(state.best_model_checkpoint.rsplit("-", 1)[-1])

    def metrics(self) -> dict:
        seconds = time.monotonic() - self.started
        trained = self.tokens
        out = {"steps": self.steps, "epochs": round(self.epoch, 3),
               "train_tokens": int(self.resumed_tokens + self.tokens), "seconds": round(seconds, 1),
               "tokens_per_s": round(trained / seconds, 1) if seconds > 0 else None,
               "peak_memory_gib": round(peak_memory_gib(), 2)}
        if self.train:
            out["train_loss_first"] = self.train[0][1]
            out["train_loss_last"] = self.train[-1][1]
        if self.eval:
            best = min(self.eval, key=lambda e: e[1])
            out |= {"eval_loss_best": best[1], "best_step": self.best_step or best[0],
                    "eval_loss_last": self.eval[-1][1], "stopped_early": self.stopped_early}
        return out


def peak_memory_gib() -> float:
    """Peak GPU memory allocated on CUDA; the process's peak resident memory otherwise."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**30 if sys.platform == "darwin" else rss / 2**20
