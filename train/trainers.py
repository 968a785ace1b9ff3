"""TRL's SFT and DPO trainers, set up from our configs and a plan.

The data arrives prepared (train/data.py): SFT rows are token ids with labels already masked, so
TRL only packs them; DPO rows are conversational pairs TRL tokenizes with the same template.
"""

from __future__ import annotations

from pathlib import Path

from gristmill.train.config import DPOConfig, SFTConfig, TrainConfig
from gristmill.train.data import Prepared
from gristmill.train.model import Plan


def common_args(config: TrainConfig, p: Plan, out: Path, has_val: bool, quiet: bool,
                strategy: str = "single") -> dict:
    """TrainingArguments both trainers share: schedule, evaluation, checkpoints, logging, and
    how the processes of a launched run share the work."""
    return parallel(strategy, p) | dict(
        output_dir=str(out / "checkpoints"), seed=config.seed, data_seed=config.seed,
        num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        lr_scheduler_type=config.schedule, warmup_steps=config.warmup_ratio,
        max_grad_norm=config.max_grad_norm, weight_decay=config.weight_decay,
        eval_strategy="steps" if has_val else "no", eval_steps=config.eval_steps,
        save_strategy="steps", save_steps=config.eval_steps,
        save_total_limit=config.keep_checkpoints, load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None, greater_is_better=False,
        logging_steps=1, logging_first_step=True, report_to=list(config.report_to),
        use_cpu=p.device == "cpu", bf16=p.bf16, fp16=False,
        activation_checkpointing=p.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        disable_tqdm=quiet, dataloader_num_workers=0, dataset_num_proc=None,
        max_length=config.max_length,
    )


def parallel(strategy: str, p: Plan) -> dict:
    """DDP (each process a whole model, gradients averaged) or FSDP (parameters, gradients and
    optimizer state sharded across processes); gloo between CPU processes, NCCL between GPUs."""
    if strategy == "single":
        return {}
    settings: dict = {"ddp_backend": "gloo" if p.device == "cpu" else "nccl",
                      "ddp_find_unused_parameters": False}
    if strategy == "fsdp":
        settings |= {"fsdp": "full_shard auto_wrap",
                     "fsdp_config": {"use_orig_params": True,  # LoRA: frozen and trained mixed
                                     "cpu_ram_efficient_loading": False}}
    return settings


def callbacks(config: TrainConfig, has_val: bool, extra: list) -> list:
    from transformers import EarlyStoppingCallback

    found = list(extra)
    if has_val and config.patience:
        found.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    return found


def sft_trainer(model, tokenizer, config: SFTConfig, p: Plan, data: Prepared, out: Path,
                quiet: bool, extra_callbacks: list, strategy: str = "single"):
    from datasets import Dataset
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    from gristmill.train.model import lora_config

    if p.device == "cpu":
        SFTTrainer = _plain_loss_trainer()  # noqa: N806

    has_val = bool(data.val)
    args = TRLConfig(**common_args(config, p, out, has_val, quiet, strategy), packing=config.packing,
                     packing_strategy="bfd", padding_free=config.packing,
                     eval_packing=config.packing, shuffle_dataset=True)
    return SFTTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.val) if has_val else None,
        peft_config=None if _has_adapter(model) else lora_config(config),
        callbacks=callbacks(config, has_val, extra_callbacks))


def dpo_trainer(model, tokenizer, config: DPOConfig, p: Plan, data: Prepared, out: Path,
                quiet: bool, extra_callbacks: list, strategy: str = "single"):
    from datasets import Dataset
    from trl import DPOConfig as TRLConfig
    from trl import DPOTrainer

    from gristmill.train.model import lora_config

    has_val = bool(data.val)
    args = TRLConfig(**common_args(config, p, out, has_val, quiet, strategy), beta=config.beta)
    return DPOTrainer(
        model=model, ref_model=None, args=args, processing_class=tokenizer,
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.val) if has_val else None,
        peft_config=None if _has_adapter(model) else lora_config(config),
        callbacks=callbacks(config, has_val, extra_callbacks))


def _plain_loss_trainer():
    """SFTTrainer with the model's own loss over full logits. TRL's fused, chunked LM head
    (which also computes entropy and top-1 metrics) runs Triton kernels on CUDA but falls back to
    tiled torch code on CPU that made a step ~10x slower there (bench/train.py)."""
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class PlainLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs["use_cache"] = False
            mode = "train" if self.model.training else "eval"
            if mode == "train":  # what TRL counts: tokens in the batch, pads excluded
                tokens = (inputs["attention_mask"].sum() if "attention_mask" in inputs
                          else torch.tensor(inputs["position_ids"].size(1)))
                self._total_train_tokens += int(tokens)
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return PlainLossSFTTrainer


def _has_adapter(model) -> bool:
    return hasattr(model, "peft_config")
