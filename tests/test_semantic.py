"""Semantic dedup: embeddings cached by (example, model, field), faiss neighbours, a greedy keep
pass. The demo's planted paraphrases score it in test_recipe_e2e."""

from __future__ import annotations

import numpy as np

from gristmill.curation.embed import DEFAULT_MODEL, encode
from gristmill.curation.rows import Context
from gristmill.curation.runner import curate
from gristmill.curation.semantic import SemanticDedup, Specifics, nearest
from gristmill.curation.step import ListRows
from gristmill.example import Example
from gristmill.store.db import Store
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl


def step(**settings) -> SemanticDedup:
    return SemanticDedup(SemanticDedup.Config(**settings))


def user(text: str) -> Example:
    return Example.chat([{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}])


def test_a_rewording_is_dropped_for_the_first_with_its_cosine_and_others_stay():
    rows = [user("How do I reset my password?"), user("What is the capital of France?"),
            user("How can I reset my password?")]
    decisions = step(scope="prompt").run(ListRows(rows), Context())
    assert list(decisions.drops) == [rows[2].id]
    drop = decisions.drops[rows[2].id]
    assert drop.reason == "semantic_duplicate"
    assert drop.evidence["kept_id"] == rows[0].id
    assert 0.95 <= drop.evidence["cosine"] <= 1.0
    assert decisions.stats["embedded"] == 3


def test_keep_longest_keeps_the_longer_wording():
    short, long = user("How do I reset my password?"), user("How can I reset my password?!!")
    decisions = step(scope="prompt", keep="longest", threshold=0.9).run(ListRows([short, long]), Context())
    assert list(decisions.drops) == [short.id]


def test_specifics_keep_alike_texts_about_different_orders():
    texts = ["Where is order RO-111111? It was due Monday and I need the Larch Tent.",
             "Where is order RO-222222? It was due Monday and I need the Larch Tent.",
             "Where is my order RO-111111? It was due on Monday, I need the Larch Tent.",
             "How do I reset my password?", "What is the capital of France?"]
    rows = ListRows([user(t) for t in texts])
    plain = step(scope="prompt", threshold=0.9).run(rows, Context())
    assert set(plain.drops) == {rows.rows[1].example.id, rows.rows[2].example.id}
    guarded = step(scope="prompt", threshold=0.9, specifics=0.6).run(rows, Context())
    assert set(guarded.drops) == {rows.rows[2].example.id}


def test_specifics_are_numbers_codes_and_names_inside_a_sentence():
    tokens = Specifics.tokens("Order RO-5 costs $14.95. My Larch Tent is torn, I think.")
    assert tokens == {"ro-5", "$14.95", "larch", "tent"}


def test_approximate_indexes_find_the_same_nearest_neighbour():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3000, 32)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:200] + 0.01 * rng.normal(size=(200, 32)).astype(np.float32)
    for kind in ("flat", "ivf", "hnsw"):
        _, ids, used = nearest(base, queries, 1, kind, nprobe=64)
        assert used == kind
        assert (ids[:, 0] == np.arange(200)).mean() >= 0.95, kind
    assert nearest(base, queries, 1, "auto", flat_max=1000)[2] == "ivf"


def test_a_rerun_reads_cached_embeddings_and_records_clusters(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    records = [chat(f"Question number {i} about topic {i * 7}", f"Answer {i}") for i in range(20)]
    records.append(chat("Question number 3 about topic 21!", "Answer 3"))  # a near rewording
    ingest(store, [write_jsonl(tmp_path / "c.jsonl", records)], "c")
    (first,) = curate(store, "c", [step(threshold=0.97)])
    assert (first.stats["embedded"], first.stats["cached"]) == (21, 0)
    (again,) = curate(store, "c@1", [step(threshold=0.98)])
    assert (again.stats["embedded"], again.stats["cached"]) == (0, 21)
    with store.read() as con:
        assert con.execute("SELECT count(*), min(model), min(field) FROM embeddings").fetchone() == (
            21, DEFAULT_MODEL, "conversation")
        clusters = con.execute("SELECT count(*) FROM clusters WHERE step = 'semantic_dedup' "
                               "AND score < 1").fetchone()[0]
    assert clusters == sum(first.stats["dropped"].values()) + sum(again.stats["dropped"].values())


def test_stored_vectors_are_the_vectors_the_model_gives(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    ingest(store, [write_jsonl(tmp_path / "c.jsonl", [chat("Where is my tent?", "On its way.")])], "c")
    curate(store, "c", [step()])
    with store.read() as con:
        (vector,) = con.execute("SELECT vector FROM embeddings").fetchone()
    expected = encode(["Where is my tent?\nOn its way."])[0]
    assert np.allclose(np.array(vector, np.float32), expected, atol=1e-5)
