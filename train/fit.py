"""Fitting a prepared run: load the base, build TRL's trainer, train, save the adapter. The same
code runs in the `gristmill train` process, or in each process a launcher starts (one rank of a
DDP or FSDP run)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from gristmill.train.config import TrainConfig
from gristmill.train.data import Prepared
from gristmill.train.model import Plan


@dataclass
class Job:
    """Everything a training process needs; pickled for launched processes."""

    kind: str  # sft | dpo
    config: TrainConfig
    plan: Plan
    base_folder: Path
    parent_adapter: str | None  # a DPO run's starting SFT adapter
    prepared: Prepared
    out: Path
    quiet: bool
    resuming: bool
    strategy: str = "single"  # single | ddp | fsdp


def fit(job: Job, recorder, extra: list) -> tuple[str, Path]:
    """Train to the end (or an early stop); returns (ok | stopped, the adapter folder)."""
    from gristmill.train import trainers
    from gristmill.train.model import load_base, load_tokenizer
    from gristmill.train.recorder import quiet_logs
    from gristmill.train.run import last_checkpoint, stopped_early

    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    if job.quiet:
        import datasets
        import transformers

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    tokenizer = load_tokenizer(job.base_folder)
    model = load_base(job.base_folder, job.plan)
    if job.parent_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, job.parent_adapter, is_trainable=True)
    build = trainers.dpo_trainer if job.kind == "dpo" else trainers.sft_trainer
    trainer = build(model, tokenizer, job.config, job.plan, job.prepared, job.out, job.quiet,
                    [recorder, *extra], job.strategy)
    quiet_logs(trainer, bar=not job.quiet)
    if job.strategy == "fsdp" and not getattr(trainer, "is_fsdp_enabled", False):
        raise RuntimeError("asked for FSDP, but the trainer would not shard (it needs GPUs)")
    start = last_checkpoint(job.out) if job.resuming else None
    trainer.train(resume_from_checkpoint=str(start) if start else None)
    recorder.stopped_early = stopped_early(trainer)
    recorder.wrapper = type(trainer.model_wrapped).__name__  # DDP or FSDP: what actually ran
    recorder.world_size = trainer.args.world_size
    finished = recorder.steps >= trainer.state.max_steps or recorder.stopped_early
    adapter = job.out / "adapter"
    trainer.save_model(str(adapter))  # the main process writes; every rank takes part
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(adapter))
    return ("ok" if finished else "stopped"), adapter
