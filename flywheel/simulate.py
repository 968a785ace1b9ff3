"""Simulated production logs: a support bot's days, written and rotated the way real ones are.

`Logger` appends a day of OpenAI-shaped log lines (the demo shop's chats, with metadata, some
PII, thumbs, ratings and corrections), plus what real logs also hold: plain chat lines, client
retries that log a request twice, feedback events arriving a day later, a line still being
written when the day ends. `rotate` moves files like logrotate: rename-and-create or
copytruncate, older copies gzipped, the oldest deleted. `written` keeps every request id and
feedback event, so a test can check that each was ingested exactly once.
"""

from __future__ import annotations

import gzip
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from gristmill import demo_texts as texts

START = datetime(2026, 10, 1, 8, 0, 0)
MODEL = "support-bot-v1"


@dataclass
class Written:
    requests: set[str] = field(default_factory=set)  # request ids of conversation lines
    with_feedback: set[str] = field(default_factory=set)  # those carrying feedback inline
    events: int = 0  # distinct feedback events (separate lines)
    lines: int = 0  # complete lines written, retries included


class Logger:
    def __init__(self, directory: Path, seed: int = 0, per_day: int = 40, keep: int = 10,
                 name: str = "app.jsonl"):
        self.dir, self.per_day, self.keep = directory, per_day, keep
        self.path = directory / name
        self.rng, self.seed = random.Random(seed), seed
        self.written = Written()
        self._partial: bytes = b""
        self._recent: list[str] = []
        self._n = 0
        directory.mkdir(parents=True, exist_ok=True)

    def day(self, d: int) -> None:
        """Append day `d`'s lines (finishing yesterday's half-written one first)."""
        rng = self.rng
        lines: list[bytes] = []
        for _ in range(self.per_day):
            record = self._record(d)
            lines.append(orjson.dumps(record))
            if rng.random() < 0.03:  # a client retry logs the same request again
                lines.append(orjson.dumps(record))
        for key in rng.sample(self._recent, min(len(self._recent), self.per_day // 20)):
            event = {"request_id": key, "feedback": {"thumb": "down", "comment": "late feedback"},
                     "timestamp": (START + timedelta(days=d, hours=12)).isoformat()}
            lines.append(orjson.dumps(event))
            self.written.events += 1
        self._recent = [orjson.loads(line).get("metadata", {}).get("request_id") for line in lines]
        self._recent = list(dict.fromkeys(k for k in self._recent if k))
        with open(self.path, "ab") as f:
            if self._partial:
                f.write(self._partial)
                self._partial = b""
            body = b"".join(line + b"\n" for line in lines)
            if rng.random() < 0.3:  # the day ends mid-write: the last line is cut off
                cut = body[:-1].rfind(b"\n") + 1 + rng.randrange(1, 20)
                body, self._partial = body[:cut], body[cut:]
            f.write(body)
        self.written.lines += len(lines)

    def flush(self) -> None:
        """Finish the line still being written."""
        if self._partial:
            with open(self.path, "ab") as f:
                f.write(self._partial)
            self._partial = b""

    def rotate(self, mode: str = "rename") -> None:
        """logrotate: shift app.jsonl.N(.gz) up, gzip from .2 on, drop past `keep`."""
        self.flush()  # a writer finishes its line before the file is rotated
        for n in range(self.keep, 0, -1):
            for suffix in ("", ".gz"):
                old = self.dir / f"{self.path.name}.{n}{suffix}"
                if not old.exists():
                    continue
                if n == self.keep:
                    old.unlink()
                    continue
                new = self.dir / f"{self.path.name}.{n + 1}{suffix}"
                old.rename(new)
                if suffix == "" and n + 1 >= 2:
                    with open(new, "rb") as src, gzip.open(f"{new}.gz", "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    new.unlink()
        if not self.path.exists():
            return
        first = self.dir / f"{self.path.name}.1"
        if mode == "copytruncate":
            shutil.copyfile(self.path, first)
            with open(self.path, "r+b") as f:
                f.truncate(0)
        else:
            self.path.rename(first)

    def _record(self, d: int) -> dict[str, Any]:
        rng = self.rng
        self._n += 1
        spec = texts.new_spec(rng)
        messages, _ = texts.build(spec, pii=rng if rng.random() < 0.1 else None)
        key = f"req-{self.seed}-{d:02d}-{self._n:06d}"  # another seed, other requests
        self.written.requests.add(key)
        when = START + timedelta(days=d, seconds=rng.randrange(86_400))
        meta = {"timestamp": when.isoformat() + "Z", "request_id": key,
                "user_id": f"user-{rng.randrange(200):03d}", "session_id": f"s-{rng.randrange(10**6)}",
                "latency_ms": round(rng.uniform(200, 2500), 1)}
        record: dict[str, Any]
        if rng.random() < 0.15:  # an older service logs plain chats
            record = {"messages": messages, **meta, "model": MODEL}
        else:
            record = {"request": {"model": MODEL, "messages": messages[:-1]},
                      "response": {"id": f"chatcmpl-{self._n}", "model": MODEL, "choices": [
                          {"index": 0, "message": messages[-1], "finish_reason": "stop"}]},
                      "metadata": meta}
        feedback = self._feedback(spec)
        if feedback:
            record["feedback"] = feedback
            self.written.with_feedback.add(key)
        return record

    def _feedback(self, spec: texts.ChatSpec) -> dict[str, Any] | None:
        roll = self.rng.random()
        if roll < 0.04:
            better, _ = texts.build(texts.reword(self.rng, spec))
            return {"thumb": "down", "correction": better[-1]["content"]}
        if roll < 0.10:
            return {"thumb": "down"}
        if roll < 0.20:
            return {"thumb": "up"}
        if roll < 0.25:
            return {"rating": self.rng.randint(1, 5)}
        return None


EXAMPLE_FLYWHEEL = """\
# gristmill flywheel run {dir}/flywheel.yaml --store gristmill-demo/gristmill.duckdb
# One turn of the loop on the demo store (run `gristmill demo` first): the simulated logs in
# logs/ are ingested with PII scrubbed, failures mined, the chats curated with the shipped sft
# recipe (its leakage check pointed at the suite's golden set), approved chats and corrections
# merged into `support`, SmolLM2 trained for a few steps, evaluated against its base and shadowed
# against production's logged answers, and promoted to staging when it passes.
name: support
logs:
  source: logs/app.jsonl
curate: sft
merge:
  into: support
  include: [corrections, approved]
train:                  # a smoke run on CPU, like the demo's; drop `set` for the real recipe
  kind: sft
  set: {{max_steps: 6, batch_size: 1, max_length: 512, max_examples: 48, eval_steps: 3,
        patience: null}}
eval:
  suite: suite.yaml
shadow:
  sample: 8
promote: staging
"""
EXAMPLE_SUITE = """\
# gristmill eval run {dir}/suite.yaml --candidate MODEL --baseline base
name: support-loop
generation:
  max_tokens: 64
tasks:
  - name: support
    data: golden@1
    limit: 12
    metrics: [rouge_l, token_f1]
"""


def write_example(directory: Path, days: int, per_day: int, seed: int = 0) -> Written:
    """Simulated logs under DIR/logs, and a flywheel and suite config when none is there."""
    logger = Logger(directory / "logs", seed=seed, per_day=per_day)
    for day in range(days):
        logger.day(day)
        if day % 3 == 2:
            logger.rotate("copytruncate" if day % 2 else "rename")
    for name, text in (("flywheel.yaml", EXAMPLE_FLYWHEEL), ("suite.yaml", EXAMPLE_SUITE)):
        if not (directory / name).exists():
            (directory / name).write_text(text.format(dir=directory), encoding="utf-8")
    return logger.written
