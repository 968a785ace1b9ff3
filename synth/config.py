"""Settings every generator shares; each generator's config adds its own and rejects unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gristmill.bounds import BatchSize, Seed


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str | None = None  # the dataset the output goes to (default: per generator)
    seed: Seed = 0  # every random choice, and the `seed` sent with each request
    batch: BatchSize = 16  # requests per round; the calls are committed after each
