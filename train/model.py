"""The model a run trains: the base on the best device, quantized where that pays, with LoRA
adapters on every linear layer.

QLoRA on CUDA (4-bit NF4, double quantization, bf16 compute), LoRA over fp32 weights on CPU,
where bitsandbytes' 4-bit kernels do not run and bf16 matmuls are slow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gristmill.train import attention
from gristmill.train.config import TrainConfig


@dataclass(frozen=True)
class Plan:
    device: str  # cuda | cpu
    quantize: bool  # 4-bit NF4 base
    attention: str
    gradient_checkpointing: bool
    bf16: bool


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def plan(config: TrainConfig, packing: bool, on: str | None = None) -> Plan:
    """What this machine runs the config with; `on` forces a device (tests check the CUDA plan)."""
    on = on or device()
    quantize = config.quantize == "nf4" or (config.quantize == "auto" and on == "cuda")
    if quantize and on != "cuda":
        from gristmill.errors import UsageError

        raise UsageError("quantize: nf4 needs a CUDA GPU (bitsandbytes' 4-bit kernels); "
                         "on CPU use quantize: none")
    if config.attention != "auto":
        kernel = config.attention
    elif packing:
        kernel = attention.kernel_for(on)
    else:
        kernel = "sdpa"
    checkpointing = config.gradient_checkpointing
    if checkpointing is None:
        checkpointing = on == "cuda"
    return Plan(on, quantize, kernel, checkpointing, bf16=on == "cuda")


def quantization_config(p: Plan):
    """bitsandbytes' QLoRA settings for a plan that quantizes, else None."""
    if not p.quantize:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=config.target_modules,
                      bias="none", task_type="CAUSAL_LM")


def load_base(folder: Path, p: Plan):
    """The base model, frozen, ready for adapters."""
    import torch
    from transformers import AutoModelForCausalLM

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.bfloat16 if p.bf16 else torch.float32,
        attn_implementation=p.attention, quantization_config=quantization_config(p),
        device_map={"": 0} if p.device == "cuda" else None, local_files_only=True)
    if p.quantize:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=p.gradient_checkpointing)
    model.config.use_cache = False
    return model


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def hardware(p: Plan) -> dict:
    import platform

    import torch

    info = {"device": p.device, "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch": torch.__version__}
    if p.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1)}
    return info


def packages() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "datasets",
                 "bitsandbytes"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
