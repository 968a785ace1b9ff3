"""Where LLM calls go: an endpoint config names a base URL, a model, the *name* of the environment
variable holding the API key (never the key) and default parameters.

With no endpoint configured, a run starts the embedded llama.cpp server (see `server`). A base URL
may carry `user:password@` for a server behind Basic auth: only `public_url`, without them, is ever
stored or printed.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gristmill.errors import GristmillError, UsageError
from gristmill.redact import redacted

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Endpoint(BaseModel):
    """Any OpenAI-compatible server: OpenAI, vLLM, llama.cpp, Ollama, ..."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = "default"
    base_url: str  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1
    model: str
    api_key_env: str | None = None  # the NAME of the variable, e.g. OPENAI_API_KEY
    params: dict[str, Any] = Field(default_factory=dict)  # defaults: temperature, max_tokens, ...
    concurrency: int = Field(4, ge=1, le=1024)  # requests in flight
    timeout: float = Field(120.0, gt=0, le=86_400)  # seconds per attempt
    max_attempts: int = Field(6, ge=1, le=100)  # per call, retries included
    json_schema: bool = True  # the server honours response_format json_schema

    @field_validator("api_key_env")
    @classmethod
    def _a_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            # subtle: never echo the value: a pasted key is the likeliest mistake
            raise ValueError("api_key_env is the name of an environment variable (such as "
                             "OPENAI_API_KEY), not a key itself")
        return value

    def api_key(self) -> str:
        """The key from the environment; servers that need none get a placeholder."""
        if self.api_key_env is None:
            return "none"
        key = os.environ.get(self.api_key_env)
        if not key:
            raise GristmillError(f"endpoint {self.name!r}: the environment variable "
                                 f"{self.api_key_env} is not set")
        return key

    @property
    def public_url(self) -> str:
        """The base URL as stored and printed: no `user:password@`, no key in its query."""
        return redacted(self.base_url)

    def client_url(self) -> tuple[str, tuple[str, str] | None]:
        """The URL for the client and the (user, password) its userinfo carried, to send as Basic
        auth as httpx would: kept apart so that no URL a library logs holds them."""
        parts = urlsplit(self.base_url)
        if "@" not in parts.netloc:
            return self.base_url, None
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))

    def secrets(self) -> list[str]:
        """The values to scrub, wherever they appear, from what this endpoint's calls record or
        log: the key, and the URL's password and the Basic header made from it."""
        found = [self.api_key()]
        _, auth = self.client_url()
        if auth:
            user, password = auth
            found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
            if not password:
                found.append(user)  # a token given as the user name
        return [s for s in found if s and s != "none"]


def load_endpoint(path: Path, overrides: dict[str, Any] | None = None) -> Endpoint:
    """An endpoint from a YAML file; unknown keys are errors naming the key."""
    from gristmill.settings import read_mapping

    data = read_mapping(path, "an endpoint")
    data.setdefault("name", path.stem)
    try:
        return Endpoint(**(data | (overrides or {})))
    except ValidationError as e:
        raise UsageError(f"{path}: {_problems(e)}") from None


def _problems(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}"
                     for err in e.errors())
