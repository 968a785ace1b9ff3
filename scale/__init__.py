"""Curation past one machine: the same steps, run as Ray tasks over partitions of a version.

The single-process runner is the reference: every step here makes the same decisions (member
sets, removal records) as `gristmill.curation.runner` on the same input, and the store commits
them the same way, once, when the whole run has finished.
"""

import os as _os


def _ray_settings() -> None:
    """Set before Ray is first imported, which is when it reads them: nothing is sent
    anywhere, and a token on this machine is presented to the cluster (Ray's client sends one
    only in token mode)."""
    _os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if _os.environ.get("RAY_AUTH_TOKEN") or _os.environ.get("RAY_AUTH_TOKEN_PATH") or \
            _os.path.exists(_os.path.expanduser("~/.ray/auth_token")):
        _os.environ.setdefault("RAY_AUTH_MODE", "token")


_ray_settings()
