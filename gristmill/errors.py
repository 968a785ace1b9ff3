"""Errors a user can act on, each with the exit code a script or cron job sees.

The CLI prints `str(error)` and exits with `error.exit_code`; anything else is a bug and keeps its
traceback.
"""


class GristmillError(Exception):
    """A problem with the user's input or environment, explained in one message."""

    exit_code = 1


class UsageError(GristmillError):
    exit_code = 2


class StoreLocked(GristmillError):
    """Another writer holds the store."""

    exit_code = 3


class StoreBusy(GristmillError):
    """A reader waited its bounded time for a commit to finish."""

    exit_code = 4


class VerifyFailed(GristmillError):
    exit_code = 5


class SchemaTooNew(GristmillError):
    exit_code = 6


class StoreDamaged(GristmillError):
    """DuckDB found bytes in the store file that it did not write: only a copy can restore it."""

    exit_code = 7


class InvalidRecord(GristmillError):
    """One record is wrong; `where` is `FILE:LINE` when it came from a file."""

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, where: str) -> "InvalidRecord":
        return InvalidRecord(self.message, where)
