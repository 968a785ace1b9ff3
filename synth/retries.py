"""When a failed call is asked again, and how long to wait first.

Worth another attempt: 408, 409, 429 and 5xx answers, timeouts, broken or truncated connections.
The wait doubles from `BACKOFF_BASE` up to `BACKOFF_CAP` with jitter (half fixed, half random, so
many clients that failed together do not return together); a server's `Retry-After` (seconds or
an HTTP date; `retry-after-ms` too) is the least it waits.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

RETRY_STATUS = frozenset((408, 409, 429))
BACKOFF_BASE = 0.5  # seconds before the first retry
BACKOFF_CAP = 30.0


def wait_before(attempt: int, error: Exception, rng: random.Random) -> float:
    """Seconds to wait before attempt `attempt + 1`."""
    backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    jittered = backoff / 2 + rng.uniform(0, backoff / 2)
    after = retry_after(error)
    return jittered if after is None else after + rng.uniform(0, min(1.0, after / 4))


def retryable(e: Exception) -> bool:
    import openai

    if isinstance(e, openai.APIStatusError):
        return e.status_code in RETRY_STATUS or e.status_code >= 500
    # timeouts, resets, truncated or unreadable bodies
    return isinstance(e, openai.APIConnectionError | openai.APIResponseValidationError | ValueError)


def retry_after(e: Exception) -> float | None:
    response = getattr(e, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    kind = type(e).__name__
    text = str(e) or kind
    return f"{status} {kind}: {text}" if status else f"{kind}: {text}"
