"""Training configs: the seeds' recipe as defaults, typed, unknown keys rejected.

Flat on purpose: every setting is one `--set key=value` away.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gristmill.bounds import BatchSize, Seed

Attention = Literal["auto", "flex_attention", "varlen_sdpa", "flash_attention_2", "sdpa", "eager"]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = "smollm2"  # a model folder, a .gguf file, or the bundled SmolLM2
    line: str | None = None  # the product line stages are kept per (default: the dataset's name)
    output_dir: str | None = None  # default: models/NAME beside the store
    seed: Seed = 42

    # data
    max_length: int = Field(2048, ge=16, le=1_048_576)  # tokens; a longer example is never truncated
    bad_examples: Literal["drop", "fail"] = "drop"  # too long, unrenderable: drop records why
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # only for a version without splits
    max_examples: int | None = Field(None, ge=1)  # the first N of the train split, for a quick run

    # schedule
    epochs: float = Field(1.0, gt=0, le=1000)
    max_steps: int = Field(-1, ge=-1)  # > 0 overrides epochs; -1: the epochs decide
    batch_size: BatchSize = 4  # rows per device step (packed rows when packing)
    grad_accum: int = Field(1, ge=1, le=4096)
    lr: float = Field(2e-4, gt=0, lt=1)
    schedule: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, ge=0)  # 0: no clipping
    weight_decay: float = Field(0.01, ge=0, le=1)

    # adapters
    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: int = Field(32, ge=1, le=4096)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    quantize: Literal["auto", "nf4", "none"] = "auto"  # auto: 4-bit NF4 on CUDA, fp32 on CPU

    # evaluation and checkpoints
    eval_steps: int = Field(50, ge=1)  # eval loss on the val split every N steps
    patience: int | None = Field(3, ge=1)  # stop after N evaluations without improvement
    keep_checkpoints: int = Field(2, ge=1)  # the last k, plus the best

    # speed
    attention: Attention = "auto"  # auto: flex_attention on CUDA, varlen_sdpa on CPU
    gradient_checkpointing: bool | None = None  # None: on for CUDA, off on CPU (or tuned)
    # measure batch sizes and checkpointing for a few steps each and train with the fastest that
    # fits memory_budget_gib (SFT); auto: on CUDA, not on CPU, where it costs minutes
    tune: Literal["auto", "on", "off"] = "auto"
    memory_budget_gib: float | None = Field(None, gt=0)  # default: 90% of the GPU, 60% of free RAM
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = []


class SFTConfig(TrainConfig):
    packing: bool = True  # examples share rows; a document mask keeps them apart
    assistant_only: bool = True  # loss on the assistant's tokens only


class DPOConfig(TrainConfig):
    lr: float = Field(5e-6, gt=0, lt=1)
    beta: float = Field(0.1, gt=0, le=100)
    start_from: str | None = None  # an SFT model's name; its adapter trains on, its copy is the reference
    patience: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _lr_range(self):
        if not 5e-7 <= self.lr <= 5e-5:
            raise ValueError(f"lr {self.lr:g} is far outside DPO's useful range (5e-7 to 5e-6)")
        return self
