"""Bounds the configs' numeric settings share, so that `--set max_chars=-5` or a batch size of
10**12 is refused up front with the setting's name and the bound, not found hours into a run.

Counts are at least 0 or 1 as their meaning demands. Settings that size what is held or sent at
once (batches, workers, tokens per answer) also get a ceiling: far above any sane value, below
one that would exhaust a machine. Limits where more only keeps more (max_chars, max_steps) have
none; tests/test_config_bounds.py lists those with the reason.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Fraction = Annotated[float, Field(ge=0, le=1)]  # a share, a probability, a score in 0..1
Temperature = Annotated[float, Field(ge=0, le=2)]  # the OpenAI API's range; 0 is greedy
# subtle: numpy's RandomState (datasketch's permutations, transformers' set_seed) takes no more
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
BatchSize = Annotated[int, Field(ge=1, le=65_536)]  # rows or requests held and sent at once
Workers = Annotated[int, Field(ge=1, le=1024)]  # processes, or requests in flight
MaxTokens = Annotated[int, Field(ge=1, le=1_048_576)]  # tokens one answer may have


def in_order(config: object, low: str, high: str) -> None:
    """For a model validator: refuse a lower limit over its upper one (None is no limit)."""
    lo, hi = getattr(config, low), getattr(config, high)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{low} ({lo}) is over {high} ({hi})")
