"""Steps that decide each example alone (PII, the filters): every partition runs the step's own
code on its rows, in parallel."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import ray

from gristmill.curation.rows import Context
from gristmill.curation.step import ListRows, Step
from gristmill.scale.parts import drops_frame, rewrites_frame, rows_of
from gristmill.scale.result import Result, merge_stats
from gristmill.scale.tasks import call


def run_local(step: Step, parts: list, n: int, ctx: Context) -> Result:
    step = one_process(step)
    outs = [call(_decide, part, step, n_out=3) for part in parts]
    stats = merge_stats(ray.get([o[2] for o in outs]))
    return Result([o[0] for o in outs], [o[1] for o in outs], stats=stats)


def one_process(step: Step) -> Step:
    """The step with its own worker processes off: Ray's tasks are the parallelism."""
    if "workers" in type(step.config).model_fields:
        return type(step)(step.config.model_copy(update={"workers": 1}))
    return step


def _decide(part: pa.Table, step: Step) -> tuple[Any, Any, dict]:
    rows = rows_of(part)
    key_of = {r.example.id: r.key for r in rows}
    decisions = step.run(ListRows(rows), Context())
    return drops_frame(decisions, key_of), rewrites_frame(decisions, key_of), decisions.stats
