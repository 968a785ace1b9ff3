"""Joining a Ray cluster, or starting one on this machine for the run."""

from __future__ import annotations

import logging
import os

from gristmill.errors import GristmillError


def connect(address: str | None = None, cpus: int | None = None) -> None:
    """Attach to the cluster at `address` (host:port, or `auto` for the one `ray start` ran
    here); without one, start a local cluster for this process."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: nothing is sent anywhere
    if address and _token_at_hand():
        # subtle: a cluster from `ray start` wants its token, and Ray's client sends one only
        # in token mode, which it reads when it is imported
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise GristmillError("--engine ray needs Ray: pip install 'gristmill[scale]'") from None
    if ray.is_initialized():
        return

    settings = {"include_dashboard": False, "log_to_driver": False,
                "logging_level": logging.WARNING, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **settings)
        else:
            ray.init(num_cpus=cpus, **settings)
    except ConnectionError as e:
        raise GristmillError(
            f"cannot reach the Ray cluster at {address}: {str(e).splitlines()[0]} (is it "
            "running, and is its token in ~/.ray/auth_token or RAY_AUTH_TOKEN?)") from None


def _token_at_hand() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or os.path.exists(os.path.expanduser("~/.ray/auth_token")))
