"""One training run, end to end: read the version, prepare the data, register the run, train,
save the adapter, and write down how it went.

The store's writer lock is held only for the short writes at the start and the end, so curation
can go on while a run trains for hours. A run that dies leaves its row as `training` with a dead
pid (read as interrupted) and its checkpoints on disk for `--resume`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gristmill.errors import GristmillError, UsageError
from gristmill.store.db import Store, transaction
from gristmill.store.lock import WriterLock
from gristmill.store.runs import invocation
from gristmill.store.versions import resolve
from gristmill.train import data as train_data
from gristmill.train import registry, tune
from gristmill.train.base_model import resolve_base
from gristmill.train.config import DPOConfig, SFTConfig, TrainConfig
from gristmill.train.launch import Launch

CONFIGS = {"sft": SFTConfig, "dpo": DPOConfig}
FINISH_WAIT = 600.0  # seconds a finished run waits for the writer lock to record its result


@dataclass
class Outcome:
    name: str
    kind: str
    status: str  # ok | stopped
    adapter: Path | None
    metrics: dict = field(default_factory=dict)
    dropped: str = ""

    def line(self) -> str:
        m = self.metrics
        parts = [f"{self.kind} {self.name}: {self.status}, {m.get('steps', 0)} steps"]
        if "train_loss_first" in m:
            parts.append(f"train loss {m['train_loss_first']:.3f} → {m['train_loss_last']:.3f}")
        if "eval_loss_best" in m:
            parts.append(f"eval loss best {m['eval_loss_best']:.3f} at step {m['best_step']}"
                         + (" (stopped early)" if m.get("stopped_early") else ""))
        if m.get("tokens_per_s"):
            parts.append(f"{m['tokens_per_s']:,.0f} tokens/s")
        parts.append(f"peak {m.get('peak_memory_gib', 0):.2f} GiB")
        if self.dropped:
            parts.append(f"dropped {self.dropped}")
        if self.adapter:
            parts.append(f"→ {self.adapter}")
        return ", ".join(parts)


def train(store_path: Path, ref: str, kind: str, config: TrainConfig, *, quiet: bool = False,
          resume: str | None = None, callbacks: list | None = None, say=None,
          launch: Launch | None = None) -> Outcome:
    """Train `kind` (sft | dpo) on the version `ref`; with `resume`, continue that model's run
    from its last checkpoint under its recorded config. `say` hears the tuning trials. With
    `launch`, the training runs in the processes a launcher starts (DDP or FSDP)."""
    from gristmill.train.model import hardware, load_tokenizer, packages, plan

    store = Store(store_path)
    if resume:
        with store.read() as con:
            row = registry.get(con, resume)
        config, ref = _resumed(row, kind)
    packing = isinstance(config, SFTConfig) and config.packing
    p = plan(config, packing)
    if launch is not None and launch.strategy == "fsdp" and p.device != "cuda":
        raise UsageError("--strategy fsdp shards across GPUs (the trainer runs plain DDP between "
                         "CPU processes): use --strategy ddp on CPU")
    base = resolve_base(config.base)
    tokenizer = load_tokenizer(base.folder)
    parent = _parent(store, config, base.digest) if isinstance(config, DPOConfig) else None
    with store.read() as con:
        version = resolve(con, ref)
        kinds = ("preference",) if kind == "dpo" else ("chat", "preference", "text")
        items, split_source = train_data.read_items(con, version, kinds, config.val_fraction,
                                                    config.seed, config.max_examples)
    render = (train_data.dpo_renderer(tokenizer) if kind == "dpo"
              else train_data.sft_renderer(tokenizer, config.assistant_only))
    prepared = train_data.prepare(items, render, config.max_length, config.bad_examples)
    trials = []
    if kind == "sft" and not resume and launch is None and tune.wanted(config, p):
        config, p, trials = tune.choose(config, p, tokenizer, base.folder, prepared,
                                        say or (lambda line: None))

    command = invocation(f"train {kind}")
    if resume:
        name = resume
        out = Path(row["output_dir"])
        with WriterLock(store.path, command), store.write() as con, transaction(con):
            registry.reopen(con, name)
    else:
        with WriterLock(store.path, command), store.write() as con, transaction(con):
            name = registry.start(
                con, kind=kind, dataset=version.dataset, base_path=str(base.folder),
                base_source=str(base.source), base_digest=base.digest,
                versions=[{"version_id": version.version_id, "ref": version.ref,
                           "split_source": split_source}],
                config=config.model_dump(mode="json"), output_dir="",
                parent=parent["name"] if parent else None, packages=packages(),
                hardware=hardware(p), line=config.line)
            out = Path(config.output_dir or store.path.parent / "models" / name).resolve()
            registry.set_output_dir(con, name, str(out))
            registry.record_examples(con, name, prepared.used)
    return _fit(store, name, kind, config, p, base.folder, parent, prepared, out, quiet,
                bool(resume), callbacks or [], tune.as_records(trials), launch)


def _fit(store, name, kind, config, p, base_folder, parent, prepared, out, quiet, resuming, extra,
         trials, launch: Launch | None) -> Outcome:
    from gristmill.train.fit import Job, fit
    from gristmill.train.recorder import Recorder

    job = Job(kind, config, p, base_folder, parent["adapter_path"] if parent else None, prepared,
              out, quiet, resuming, launch.strategy if launch else "single")
    recorder = Recorder()
    status, error, adapter, metrics, curves = "failed", None, None, {}, {}
    try:
        if launch is not None:
            done = launch.run(job)
            status, metrics, curves = done["status"], done["metrics"], done["curves"]
            adapter = Path(done["adapter"]) if done["adapter"] else None
            error = done["error"]
        else:
            status, adapter = fit(job, recorder, extra)
    except KeyboardInterrupt:
        status, error = "stopped", "interrupted; continue with --resume " + name
        raise
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        if launch is None:
            metrics, curves = recorder.metrics(), {"train": recorder.train, "eval": recorder.eval}
        metrics |= {"tuning": trials} if trials else {}
        if launch is not None:
            metrics |= {"launcher": launch.launcher, "processes": launch.nproc * launch.nnodes,
                        "strategy": launch.strategy}
        # subtle: hours of training must not be lost to a writer that holds the store the
        # moment it ends (a cron ingest): the result waits for the lock
        with WriterLock(store.path, invocation(f"train {kind}"), wait=FINISH_WAIT), \
                store.write() as con, transaction(con):
            registry.finish(con, name, status=status,
                            adapter_path=str(adapter) if adapter else None,
                            curves=curves, metrics=metrics, error=error)
    if status == "failed":
        raise GristmillError(f"{kind} {name} failed: {error}")
    return Outcome(name, kind, status, adapter, metrics, train_data.dropped_summary(prepared.used))


def stopped_early(trainer) -> bool:
    from transformers import EarlyStoppingCallback

    return any(isinstance(cb, EarlyStoppingCallback)
               and cb.early_stopping_patience_counter >= cb.early_stopping_patience
               for cb in trainer.callback_handler.callbacks)


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of a run. The trainer writes trainer_state.json last, so a
    folder without it is one a kill cut short, and resuming from it would fail."""
    done = [p for p in (out / "checkpoints").glob("checkpoint-*")
            if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None


def _parent(store: Store, config: DPOConfig, base_digest: str) -> dict | None:
    if not config.start_from:
        return None
    with store.read() as con:
        try:
            row = registry.get(con, config.start_from)
        except GristmillError as e:
            raise UsageError(f"start_from: {e}") from None
    if row["status"] != "ok" or not row["adapter_path"] or not Path(row["adapter_path"]).is_dir():
        raise GristmillError(f"start_from {row['name']}: the model has no finished adapter "
                             f"(status {row['status']})")
    if row["base_digest"] != base_digest:
        raise UsageError(f"start_from {row['name']} was trained on another base "
                         f"({row['base_source']}); set base to it")
    return row


def _resumed(row: dict, kind: str) -> tuple[TrainConfig, str]:
    if row["kind"] != kind:
        raise UsageError(f"{row['name']} is a {row['kind']} run, not {kind}")
    registry.check_resumable(row)
    return CONFIGS[kind](**row["config"]), row["versions"][0]["ref"]
