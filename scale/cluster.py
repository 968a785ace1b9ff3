"""Joining a Ray cluster, or starting one on this machine for the run."""

from __future__ import annotations

import logging

from gristmill.errors import GristmillError


def connect(address: str | None = None, cpus: int | None = None) -> bool:
    """Attach to the cluster at `address` (host:port, or `auto` for the one `ray start` ran
    here); without one, start a local cluster for this process. False when this process was
    attached already (the caller's own Ray session, left as it is)."""
    try:
        import ray
    except ImportError:
        raise GristmillError("--engine ray needs Ray: pip install 'gristmill[scale]'") from None
    if ray.is_initialized():
        return False
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
    return True
