"""`flywheel ingest`: new production log lines in, PII scrubbed, exactly once, from cron.

Each file of the SOURCE is read from its cursor, parsed and PII-scrubbed in batches (in worker
processes when there is much to scrub); every `commit_every` lines, or every few seconds, become
one transaction with the file's cursor after them (see log_store). A second run while one holds
the store exits at once (the writer lock, exit code 3); a killed run loses only its uncommitted
chunk, which the next run reads again. When the files are read, one new version of the dataset takes in
every line stored since the last version, a killed run's lines included.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.errors import InvalidRecord, UsageError
from gristmill.flywheel import log_store, tail
from gristmill.flywheel.records import LogEntry, parse_entry
from gristmill.store import readers, versions
from gristmill.store.db import Store
from gristmill.store.runs import Run, writing

COMMIT_EVERY = 5000
COMMIT_SECONDS = 5.0  # a chunk commits after this long even when short of COMMIT_EVERY lines
BATCH = 64  # lines parsed (and PII-scrubbed) together
PARALLEL_BYTES = 1 << 19  # new log bytes that pay for starting PII workers
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
        starts = _starts(store, files, result)
        batch = min(BATCH, commit_every)
        stream = _parsed(files, starts, batch, on_error, max_record_bytes)
        if scrubber is not None:
            backlog = sum(max(f.size - starts.get(f.fingerprint, _NEW).offset, 0) for f in files)
            stream = _scrubbed(stream, scrubber, PARALLEL_BYTES < backlog)
        with _bar(progress, source) as bar:
            _commit_chunks(run, stream, result, commit_every, bar)
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


@dataclass
class _Batch:
    """Consecutive lines of one file, parsed: (line, entry, PII found) and (line, reason)."""

    file: tail.LogFile
    lines: list[tail.Line]
    taken: list[tuple[int, LogEntry, dict[str, int]]] = field(default_factory=list)
    rejects: list[tuple[int, str]] = field(default_factory=list)


_NEW = log_store.Cursor(0, 0)


def _starts(store: Store, files: list[tail.LogFile],
            result: LogIngestResult) -> dict[str, log_store.Cursor]:
    """Each file's cursor, read once before anything is committed; a file found shorter than
    its cursor was truncated and is read again from the start."""
    with store.read() as con:
        starts = {f.fingerprint: c for f in files if f.fingerprint is not None
                  and (c := log_store.cursor(con, f.fingerprint)) is not None}
    for f in files:
        at = starts.get(f.fingerprint)
        if at is not None and not f.path.name.endswith(".gz") and f.size < at.offset:
            result.truncated.append(str(f.path))
            del starts[f.fingerprint]
    return starts


def _parsed(files: list[tail.LogFile], starts: dict[str, log_store.Cursor], size: int,
            on_error: str, max_bytes: int) -> Iterator[_Batch]:
    for file in files:
        if file.fingerprint is None:
            continue  # no complete first line yet
        at = starts.get(file.fingerprint, _NEW)
        lines: list[tail.Line] = []
        for line in tail.new_lines(file.path, at.offset, at.lines + 1, max_bytes):
            lines.append(line)
            if len(lines) >= size:
                yield _parse(file, lines, on_error, max_bytes)
                lines = []
        if lines:
            yield _parse(file, lines, on_error, max_bytes)


def _parse(file: tail.LogFile, lines: list[tail.Line], on_error: str, max_bytes: int) -> _Batch:
    batch = _Batch(file, lines)
    for line in lines:
        record = readers.parse_line(line.number, line.raw, line.size, True, max_bytes)
        if record is None:  # a blank line
            continue
        try:
            if record.error:
                raise InvalidRecord(record.error)
            batch.taken.append((line.number, parse_entry(record.value), {}))
        except InvalidRecord as e:
            if on_error == "fail":
                raise e.at(f"{file.path}:{line.number}") from None
            batch.rejects.append((line.number, e.message))
    return batch


def _scrubbed(batches: Iterator[_Batch], scrubber, parallel: bool) -> Iterator[_Batch]:
    """The batches with PII replaced, in order; in worker processes when there is enough to
    pay for starting them."""
    held: deque[_Batch] = deque()

    def entries() -> Iterator[list[LogEntry]]:
        for batch in batches:
            held.append(batch)
            yield [e for _, e, _ in batch.taken]

    for entries_out, found in scrubber.stream(entries(), parallel):
        batch = held.popleft()
        batch.taken = [(n, e, f) for (n, _, _), e, f in zip(batch.taken, entries_out, found,
                                                             strict=True)]
        yield batch


def _commit_chunks(run: Run, batches: Iterator[_Batch], result: LogIngestResult,
                   commit_every: int, bar) -> None:
    """Commit every `commit_every` lines of a file, or every COMMIT_SECONDS, with its cursor."""
    chunk: list[_Batch] = []
    last = time.monotonic()
    for batch in batches:
        if chunk and batch.file is not chunk[0].file:
            _commit(run, chunk, result)
            chunk, last = [], time.monotonic()
        chunk.append(batch)
        bar.update(len(batch.lines))
        if sum(len(b.lines) for b in chunk) >= commit_every or \
                time.monotonic() - last >= COMMIT_SECONDS:
            _commit(run, chunk, result)
            chunk, last = [], time.monotonic()
    if chunk:
        _commit(run, chunk, result)


def _commit(run: Run, chunk: list[_Batch], result: LogIngestResult) -> None:
    file, end = chunk[0].file, chunk[-1].lines[-1]
    taken = [t for b in chunk for t in b.taken]
    rejects = [r for b in chunk for r in b.rejects]
    for _, _, counts in taken:
        for kind, n in counts.items():
            result.pii[kind] = result.pii.get(kind, 0) + n
    with run.commit(final=False) as con:
        stored = log_store.store_chunk(con, run.id, result.dataset, result.source, file,
                                       log_store.Cursor(end.end, end.number), taken, rejects)
        result.read += sum(len(b.lines) for b in chunk)
        result.stored += stored.lines
        result.repeats += stored.repeats
        result.feedback += stored.feedback
        result.rejected += len(rejects)
        run.stats = _stats(result)


def _stats(result: LogIngestResult) -> dict[str, Any]:
    return {"files": result.files, "read": result.read, "stored": result.stored,
            "repeats": result.repeats, "feedback": result.feedback, "rejected": result.rejected,
            "truncated": result.truncated, "pii": result.pii, "version": result.version}


def _bar(progress: bool, source: Path):
    from tqdm import tqdm

    return tqdm(desc=source.name, unit=" lines", disable=not progress, leave=False)
