"""Settings every generator shares; each generator's config adds its own and rejects unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str | None = None  # the dataset the output goes to (default: per generator)
    seed: int = 0  # every random choice, and the `seed` sent with each request
    batch: int = Field(16, ge=1)  # requests per round; the calls are committed after each
