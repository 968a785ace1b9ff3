"""Judge calibration: the judge's verdicts beside human labels for a sample of the same items.

Labels come from a JSONL file (`{"example_id": ID or a unique prefix, "label": ..., "task": optional}`)
or a dataset whose examples carry a `label` in their metadata. A pairwise label is `candidate`,
`baseline` or `tie`; a rubric label is `pass`/`fail` or a 1-5 score. Agreement under 80% (the
seeds' number) means the judge's scores should not decide a ship.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from gristmill.errors import UsageError
from gristmill.store.db import Store


def read_labels(store: Store, source: str) -> list[dict[str, Any]]:
    path = Path(source)
    if path.suffix in (".jsonl", ".json") or path.exists():
        return _from_file(path)
    from gristmill.store.versions import resolve

    with store.read() as con:
        version = resolve(con, source)
        # subtle: the labels are this dataset's metadata; the same example ingested earlier into
        # the golden set carries that set's metadata, without them
        found = con.execute(
            "SELECT e.id, s.meta FROM members m JOIN examples e ON e.key = m.example_key "
            "JOIN sources s ON s.example_key = e.key AND s.dataset = ? WHERE m.version_id = ? "
            "AND s.meta IS NOT NULL", [version.dataset, version.version_id]).fetchall()
    metas = {example_id: orjson.loads(meta) for example_id, meta in found}
    out = [{"example_id": i, "label": m["label"], "task": m.get("task")}
           for i, m in metas.items() if "label" in m]
    if not out:
        raise UsageError(f"{source}: no example carries a `label` in its metadata")
    return out


def _from_file(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"no calibration labels file {path}")
    out = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise UsageError(f"{path}:{n}: not JSON ({e})") from None
        if not isinstance(record, dict) or "example_id" not in record or "label" not in record:
            raise UsageError(f"{path}:{n}: a label is {{\"example_id\": ..., \"label\": ...}}")
        out.append(record)
    if not out:
        raise UsageError(f"{path}: no labels")
    return out


def calibrate(labels: list[dict[str, Any]], judged: dict[str, dict[str, str]],
              source: str) -> dict[str, Any] | None:
    """Agreement, kappa and confusion of judge vs humans. `judged` maps task -> example id ->
    the judge's label; a label's example id may be a prefix."""
    from gristmill.evals.stats import agreement

    human, judge = [], []
    for record in labels:
        tasks = [record["task"]] if record.get("task") else list(judged)
        for task in tasks:
            ids = [i for i in judged.get(task, {}) if i.startswith(str(record["example_id"]))]
            if len(ids) == 1:
                human.append(_label(record["label"]))
                judge.append(judged[task][ids[0]])
                break
    if not human:
        return None
    return agreement(human, judge) | {"source": source}


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()
