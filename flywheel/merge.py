"""The merge: what production taught, added to the training dataset as a new version.

From the curated logs only the chats worth learning from are taken (`approved`: a thumb up, a
rating of 4 or more, or a reviewer's good label; `unflagged`: every chat that is not a failure),
and from the mined corrections all of them. A new version of the training dataset is its latest
plus those members; nothing new, no version.
"""

from __future__ import annotations

from gristmill.errors import GristmillError
from gristmill.flywheel.log_store import extend
from gristmill.flywheel.mine import failures
from gristmill.store import versions
from gristmill.store.db import Store
from gristmill.store.runs import writing

GOOD_RATING = 4.0


def merge(store: Store, into: str, logs: str | None, corrections: str | None,
          include: list[str], low_rating: float, low_score: float) -> versions.Version:
    """Commit `into`'s latest plus the chosen members of `logs` (the curated logs version) and
    `corrections`; returns the new version, or the latest when nothing was new."""
    config = {"into": into, "logs": logs, "corrections": corrections, "include": include}
    with writing(store, f"flywheel merge {into}", config) as run, run.commit() as con:
        keys: set[int] = set()
        if logs and ("approved" in include or "unflagged" in include):
            keys |= _from_logs(con, versions.resolve(con, logs), include, low_rating, low_score)
        if corrections and "corrections" in include:
            keys |= _members(con, versions.resolve(con, corrections))
        con.execute("CREATE OR REPLACE TEMP TABLE _merge_in AS SELECT unnest(?::BIGINT[]) AS "
                    "example_key", [sorted(keys)])
        version, _ = extend(con, into, "SELECT example_key FROM _merge_in", run.id,
                            "flywheel-merge", config)
        if version is None:
            raise GristmillError(f"nothing to merge into {into}: no approved chat or correction "
                                 "yet, and the dataset does not exist")
        run.stats = {"candidates": len(keys), "version": version.ref, "added": version.n_added}
        return version


def _members(con, version: versions.Version) -> set[int]:
    return {k for (k,) in con.execute("SELECT example_key FROM members WHERE version_id = ?",
                                      [version.version_id]).fetchall()}


def _from_logs(con, curated: versions.Version, include: list[str], low_rating: float,
               low_score: float) -> set[int]:
    held = _members(con, curated)
    failing = {f.line_key for f in failures(con, curated.dataset, low_rating, low_score)}
    rows = con.execute(
        """SELECT l.line_key, l.example_key,
                  coalesce(bool_or(f.thumb = 'up') OR max(f.rating) >= ? OR
                           bool_or(f.label = 'good'), false) AS approved
           FROM log_lines l LEFT JOIN log_feedback f USING (line_key)
           WHERE l.dataset = ? GROUP BY ALL""", [GOOD_RATING, curated.dataset]).fetchall()
    # subtle: a curation step may have rewritten a log chat (PII, normalization); its new key is
    # what the curated version holds, found through the transforms along the way
    renamed = dict(con.execute(
        "SELECT old_key, new_key FROM transforms t JOIN versions v USING (version_id) "
        "WHERE v.dataset = ? ORDER BY v.number", [curated.dataset]).fetchall())
    out = set()
    for line_key, key, approved in rows:
        for _ in range(len(renamed)):
            if key in held or key not in renamed:
                break
            key = renamed[key]
        if key in held and line_key not in failing and (approved or "unflagged" in include):
            out.add(key)
    return out
