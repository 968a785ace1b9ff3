"""The contamination guard: a golden item the candidate trained on measures memory, not skill.

Before a report is final, every golden set of the suite is matched against each dataset version
the candidate (and the models it continued) trained on, found through the registry's lineage,
with the curation leakage step's methods (exact, n-gram, MinHash, embedding). A hit fails the
gate unless the run is given a reason to accept it, which the report and the store record.
"""

from __future__ import annotations

from typing import Any

from gristmill.evals.candidates import Candidate
from gristmill.store.db import Store


def check(store: Store, candidate: Candidate, golden: list[str], override: str | None,
          progress: bool = False) -> dict[str, Any]:
    if not golden:
        return {"status": "not_checked", "checked": [], "hits": [], "override": override,
                "message": "the suite has no golden set from the store (built-in tasks only)"}
    if candidate.model is None:
        return {"status": "not_checked", "checked": [], "hits": [], "override": override,
                "message": f"the candidate is {candidate.kind} {candidate.spec}, with no training "
                           "lineage in this store to check"}
    from gristmill.curation.leakage import find_leaks
    from gristmill.train import registry

    with store.read() as con:
        trained = _training_refs(registry.lineage(con, candidate.model))
    hits = []
    for ref in trained:
        scan = find_leaks(store, ref, golden, progress=progress)
        hits += [{"eval_id": x.eval_id, "eval_ref": x.eval_ref, "train_ref": ref,
                  "train_id": x.train_id, "method": x.method, "score": x.score,
                  "eval_text": x.eval_text, "train_text": x.train_text} for x in scan.leaks]
    status = "clean" if not hits else "overridden" if override else "hit"
    message = (f"{len(hits)} golden item(s) found in the training data of {candidate.model}"
               if hits else f"no golden item in the {len(trained)} version(s) "
                            f"{candidate.model} trained on")
    return {"status": status, "checked": trained, "hits": hits, "override": override,
            "message": message + (f"; accepted: {override}" if hits and override else "")}


def _training_refs(node: dict[str, Any] | None) -> list[str]:
    refs: list[str] = []
    while node is not None and not node.get("missing"):
        refs += [v["ref"] for v in node["versions"] if v["ref"] not in refs]
        node = node.get("parent")
    return refs
