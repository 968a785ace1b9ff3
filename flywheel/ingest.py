"""`flywheel ingest`: new production log lines in, PII scrubbed, exactly once, from cron.

Each file of the SOURCE is read from its cursor; every `commit_every` lines become one
transaction with the cursor after them (see log_store). A second run while one holds the store
exits at once (the writer lock, exit code 3); a killed run loses only its uncommitted chunk,
which the next run reads again. When the files are read, one new version of the dataset takes in
every line stored since the last version, a killed run's lines included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.errors import InvalidRecord, UsageError
from gristmill.flywheel import log_store, tail
from gristmill.flywheel.records import LogEntry, parse_entry
from gristmill.store import readers, versions
from gristmill.store.db import Store
from gristmill.store.runs import Run, writing

COMMIT_EVERY = 500
PII_CHOICES = ("placeholder", "pseudonym", "off")


@dataclass
class LogIngestResult:
    source: str
    dataset: str
    run_id: int = 0
    files: int = 0
    read: int = 0  # lines read this run
    stored: int = 0  # new log lines
    repeats: int = 0  # lines already stored (a copy, an overlap)
    feedback: int = 0  # new feedback events
    rejected: int = 0
    truncated: list[str] = field(default_factory=list)  # files found shorter than their cursor
    pii: dict[str, int] = field(default_factory=dict)  # entity type -> count scrubbed
    version: str | None = None
    seconds: float = 0.0
    drift: dict[str, Any] | None = None

    def summary(self) -> str:
        if not self.read:
            head = f"no new log lines in {self.files} file(s) of {self.source}"
        else:
            head = (f"read {self.read:,} new line(s) from {self.files} file(s) in "
                    f"{self.seconds:.1f} s: {self.stored:,} stored, {self.repeats:,} seen before, "
                    f"{self.feedback:,} feedback event(s)")
        parts = [head]
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected (gristmill rejects --run {self.run_id})")
        if self.pii:
            parts.append("PII scrubbed: " + ", ".join(f"{k} {v}" for k, v in self.pii.items()))
        if self.truncated:
            parts.append(f"{len(self.truncated)} file(s) truncated, read again from the start")
        if self.version:
            parts.append(f"{self.dataset} is now {self.version}")
        if self.drift:
            d = self.drift
            parts.append(f"drift vs {d['reference']}: centroid shift {d['centroid_shift']:.3f} "
                         f"(threshold {d['threshold']}), MMD p={d['p_value']:.3f}"
                         + (" DRIFTED" if d["drifted"] else ""))
        return "; ".join(parts)


def ingest_logs(store: Store, source: Path, dataset: str = "logs", pii: str = "placeholder",
                on_error: str = "skip", commit_every: int = COMMIT_EVERY,
                max_record_bytes: int = readers.MAX_RECORD_BYTES, drift_against: str | None = None,
                drift_threshold: float | None = None, progress: bool = False) -> LogIngestResult:
    versions.check_name(dataset)
    if pii not in PII_CHOICES:
        raise UsageError(f"--pii is one of {', '.join(PII_CHOICES)}, not {pii!r}")
    if on_error not in ("skip", "fail"):
        raise UsageError(f"--on-error is skip or fail, not {on_error!r}")
    if commit_every < 1:
        raise UsageError("--commit-every must be at least 1")
    started = time.perf_counter()
    files = tail.discover(source)
    result = LogIngestResult(str(source), dataset, files=len(files))
    scrubber = None
    if pii != "off":
        from gristmill.flywheel.scrub import Scrubber

        scrubber = Scrubber(operator=pii)
    config = {"source": str(source), "dataset": dataset,
              "pii": scrubber.recorded() if scrubber else "off", "on_error": on_error}
    with writing(store, f"flywheel ingest {source}", config) as run:
        result.run_id = run.id
        for file in files:
            if file.fingerprint is not None:
                _read_file(store, run, file, result, scrubber, on_error, commit_every,
                           max_record_bytes, progress)
        run.stats = _stats(result)
        with run.commit() as con:
            version = log_store.version_pending(con, dataset, run.id, config)
            result.version = version.ref if version else None
            run.stats = _stats(result)
    result.seconds = time.perf_counter() - started
    if drift_against:
        from gristmill.flywheel.drift import check_drift

        result.drift = check_drift(store, dataset, drift_against, threshold=drift_threshold,
                                   progress=progress)
    return result


def _read_file(store: Store, run: Run, file: tail.LogFile, result: LogIngestResult, scrubber,
               on_error: str, commit_every: int, max_bytes: int, progress: bool) -> None:
    with store.read() as con:
        at = log_store.cursor(con, file.fingerprint)
    if at is not None and not file.path.name.endswith(".gz") and file.size < at.offset:
        result.truncated.append(str(file.path))
        at = None
    at = at or log_store.Cursor(0, 0)
    chunk: list[tail.Line] = []
    bar = _bar(progress, file)
    for line in tail.new_lines(file.path, at.offset, at.lines + 1, max_bytes):
        chunk.append(line)
        if len(chunk) >= commit_every:
            _commit(run, file, chunk, result, scrubber, on_error, max_bytes)
            bar.update(len(chunk))
            chunk = []
    if chunk:
        _commit(run, file, chunk, result, scrubber, on_error, max_bytes)
        bar.update(len(chunk))
    bar.close()


def _commit(run: Run, file: tail.LogFile, chunk: list[tail.Line], result: LogIngestResult,
            scrubber, on_error: str, max_bytes: int) -> None:
    parsed: list[tuple[int, LogEntry]] = []
    rejects: list[tuple[int, str]] = []
    for line in chunk:
        record = readers.parse_line(line.number, line.raw, line.size, True, max_bytes)
        if record is None:  # a blank line
            continue
        try:
            if record.error:
                raise InvalidRecord(record.error)
            parsed.append((line.number, parse_entry(record.value)))
        except InvalidRecord as e:
            if on_error == "fail":
                raise e.at(f"{file.path}:{line.number}") from None
            rejects.append((line.number, e.message))
    entries = [e for _, e in parsed]
    found = [{} for _ in entries]
    if scrubber is not None and entries:
        entries, found = scrubber(entries)
    for counts in found:
        for kind, n in counts.items():
            result.pii[kind] = result.pii.get(kind, 0) + n
    taken = [(n, e, f) for (n, _), e, f in zip(parsed, entries, found, strict=True)]
    after = log_store.Cursor(chunk[-1].end, chunk[-1].number)
    with run.commit(final=False) as con:
        stored = log_store.store_chunk(con, run.id, result.dataset, result.source, file, after,
                                       taken, rejects)
        result.read += len(chunk)
        result.stored += stored.lines
        result.repeats += stored.repeats
        result.feedback += stored.feedback
        result.rejected += len(rejects)
        run.stats = _stats(result)


def _stats(result: LogIngestResult) -> dict[str, Any]:
    return {"files": result.files, "read": result.read, "stored": result.stored,
            "repeats": result.repeats, "feedback": result.feedback, "rejected": result.rejected,
            "truncated": result.truncated, "pii": result.pii, "version": result.version}


def _bar(progress: bool, file: tail.LogFile):
    from tqdm import tqdm

    return tqdm(desc=file.path.name, unit=" lines", disable=not progress, leave=False)
