"""The default SFT recipe end to end on the demo data, scored against the planted labels (which
the generator writes, independently of the steps)."""

import orjson
import pytest

from gristmill.curation.leakage import find_leaks
from gristmill.curation.rows import Context, VersionRows
from gristmill.curation.semantic import SemanticDedup
from gristmill.demo_score import load_labels, renamed, score
from gristmill.store.inspect import lineage

from .conftest import assert_accounted

pytestmark = pytest.mark.e2e


@pytest.fixture
def curated(curated_demo):
    store, files, outcomes, final = curated_demo
    return store, final, files, outcomes


def _input_of(outcomes, step: str) -> str:
    return next(o.input for o in outcomes if o.step == step)


def test_every_step_ran_and_ended_with_a_stats_line(curated):
    _, final, _, outcomes = curated
    assert [o.step for o in outcomes] == ["pii", "exact_dedup", "minhash_dedup", "semantic_dedup",
                                          "structure", "length", "repetition", "refusals",
                                          "json_valid", "leakage", "split"]
    for o in outcomes:
        assert {"kept", "dropped", "transformed", "seconds"} <= set(o.stats)
    assert final.stats["splits"]["train"] > 0.75 * final.n_examples


def test_the_quality_targets_hold_on_the_planted_labels(curated):
    store, final, files, _ = curated
    with store.read() as con:
        scored = score(con, final, load_labels(files.labels))
    planted = scored["planted"]

    def recall(problem):
        return planted[problem]["caught"] / planted[problem]["planted"]

    assert recall("exact_duplicate") == 1.0
    assert recall("near_duplicate") >= 0.95
    assert recall("paraphrase") >= 0.9
    assert recall("golden_leak/verbatim") >= 0.95
    assert recall("golden_leak/paraphrase") >= 0.9
    assert recall("overlong") == 1.0
    steps = scored["steps"]
    for step, floor in (("exact_dedup", 0.95), ("minhash_dedup", 0.95),
                        ("semantic_dedup", 0.9), ("leakage", 0.9)):
        assert steps[step]["removed"] > 0, step
        assert steps[step]["planted"] / steps[step]["removed"] >= floor, (step, steps[step])
    with store.read() as con:  # leakage removes from training, never from the eval set
        assert con.execute("SELECT count(*) FROM versions WHERE dataset = 'golden'").fetchone() == (1,)


def test_the_issue_default_alone_misses_templated_paraphrases_and_reads_the_cache(curated):
    store, _, files, outcomes = curated
    ctx = Context(store)
    ctx.version = ctx.resolve(_input_of(outcomes, "semantic_dedup"))
    decisions = SemanticDedup(SemanticDedup.Config()).run(VersionRows(store, ctx.version), ctx)
    assert decisions.stats["embedded"] == 0  # every vector came from the recipe's run
    with store.read() as con:
        now = renamed(con, ctx.version)  # ids after the PII step's rewrites
    paraphrases = [x["id"] for x in load_labels(files.labels) if x["problem"] == "paraphrase"]
    caught = sum(now.get(p, p) in decisions.drops for p in paraphrases)
    assert len(paraphrases) >= 8
    assert caught / len(paraphrases) < 0.5  # cosine 0.95 is the issue's default: too strict here


def test_the_leakage_command_agrees_with_the_step_and_reuses_its_vectors(curated):
    store, _, _, outcomes = curated
    step = next(o for o in outcomes if o.step == "leakage")
    found = find_leaks(store, step.input, ["golden"])
    assert found.stats["embedded"] == 0
    assert len(found.leaks) == sum(step.stats["dropped"].values()) > 0


def test_planted_pii_values_are_gone_from_the_curated_version(curated):
    store, final, files, _ = curated
    labels = [x for x in load_labels(files.labels) if x["problem"] == "pii"]
    found: dict[str, list[bool]] = {}
    with store.read() as con:
        members = {r[0]: orjson.loads(r[1]) for r in con.execute(
            "SELECT e.id, e.payload FROM members m JOIN examples e ON e.key = m.example_key "
            "WHERE m.version_id = ?", [final.version_id]).fetchall()}
        rewritten = renamed(con, final)  # only the PII step rewrites in this recipe
        originals = {r[0]: orjson.loads(r[1]) for r in con.execute(
            "SELECT id, payload FROM examples WHERE id IN (SELECT unnest(?))",
            [[x["id"] for x in labels]]).fetchall()}
    checked = 0
    for label in labels:
        now = members.get(rewritten.get(label["id"], label["id"]))
        if now is None:  # removed by a later step (a duplicate, say): nothing left to leak
            continue
        text = "\n".join(m["content"] for m in now["messages"])
        for e in label["entities"]:
            value = originals[label["id"]]["messages"][e["message"]]["content"][e["start"]:e["end"]]
            found.setdefault(e["type"], []).append(value not in text)
            checked += 1
    assert checked > 100
    recall = {t: sum(v) / len(v) for t, v in found.items()}
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"):
        assert recall[entity] >= 0.98, recall
    assert recall["PERSON"] >= 0.85, recall


def test_no_step_lost_an_example_without_a_record(curated):
    store, final, _, _ = curated
    with store.read() as con:
        for child in lineage(con, final)[:-1]:
            assert_accounted(con, child.parent_id, child.version_id)
