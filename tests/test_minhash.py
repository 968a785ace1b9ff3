"""MinHash near dedup: signatures equal datasketch's, short texts stay apart, verification by true
Jaccard, keep policies, stored signatures reused, and precision and recall on the demo labels."""

import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from datasketch import MinHash
from pydantic import ValidationError

from gristmill.curation.clusters import candidate_pairs, components
from gristmill.curation.minhash import MinHashDedup
from gristmill.curation.rows import Context, VersionRows
from gristmill.curation.runner import curate
from gristmill.curation.signatures import _P, _Q, Shingling, sign_all, signatures
from gristmill.curation.step import ListRows, Row
from gristmill.demo_data import generate
from gristmill.example import Example
from gristmill.store.ingest import ingest
from gristmill.store.versions import resolve

from .conftest import chat, write_jsonl

MASK = (1 << 64) - 1
ORDER = ("Hello, I ordered the Alpine 2 tent three weeks ago and it still has not arrived. "
         "The tracking page says it left the warehouse on Monday. Can you tell me where it is?")
ANSWER = ("I am sorry about the delay. Your parcel is with the courier and should arrive within "
          "two working days; I have sent the new tracking link to your email address.")


def ex(user: str, answer: str = ANSWER) -> Example:
    return Example.chat(chat(user, answer)["messages"])


def poly(values: list[int], base: np.uint64) -> int:
    h = 0
    for v in reversed(values):  # Horner: sum of v_i * base^i modulo 2^64
        h = (h * int(base) + v) & MASK
    return h


def reference_hashes(text: str, shingling: Shingling) -> list[int]:
    """The shingle hashes one at a time in plain Python: n-grams, a text shorter than one is one
    shingle, then the 64-bit hash mixed down to 32 bits."""
    n = shingling.size
    if shingling.shingle == "char":
        units = [poly([ord(c) for c in text[i:i + n]], _P) for i in range(max(len(text) - n + 1, 1))]
    else:
        words = [poly([ord(c) for c in w], _P) for w in text.split()]
        units = [poly(words[i:i + n], _Q) for i in range(max(len(words) - n + 1, 1))]
    out = []
    for h in units:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & MASK
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & MASK
        out.append((h ^ (h >> 33)) >> 32)
    return out


@pytest.mark.parametrize("shingling", [Shingling("word", 3, 32), Shingling("char", 4, 16, seed=7)])
def test_signatures_equal_datasketch_minhash_over_the_same_shingle_hashes(shingling):
    rng = random.Random(0)
    long_text = "".join(rng.choice("abc d") for _ in range(300_000))  # spans several chunks
    texts = ["the quick brown fox jumps over the lazy dog", "", "hi", "two words",
             "héllo wörld ☃ 😀\u3000tab\there", long_text, "end"]
    for text, sig in zip(texts, signatures(texts, shingling), strict=True):
        m = MinHash(num_perm=shingling.num_perm, seed=shingling.seed, hashfunc=lambda h: h)
        m.update_batch(reference_hashes(text, shingling))
        assert sig.tolist() == m.hashvalues.tolist(), text[:20]


def test_forked_workers_sign_the_same_as_one_process():
    texts = [f"message {i} about order {i % 7} and the tent {i % 3}" for i in range(300)]
    one = sign_all(texts, Shingling(), str.lower, workers=1, batch=32)
    two = sign_all(texts, Shingling(), str.lower, workers=2, batch=32)
    assert np.array_equal(one, two)
    assert len({tuple(s) for s in one.tolist()}) == 300


def test_texts_shorter_than_a_shingle_do_not_share_one_signature():
    short = ["hi", "ok thanks", "bye", "Hi!", "", "   "]
    sigs = signatures(short, Shingling("word", 5))
    assert len({tuple(s) for s in sigs.tolist()}) == 5  # only "" and "   " are the same text
    step = MinHashDedup(MinHashDedup.Config(size=5))
    rows = ListRows([Example.text(t) for t in ("hi", "ok thanks", "bye", "Hi!")])
    decisions = step.run(rows, None)
    assert list(decisions.drops) == [rows.rows[3].example.id]  # "Hi!" is "hi" once normalized
    assert decisions.drops[rows.rows[3].example.id].evidence["jaccard"] == 1.0


def test_a_near_copy_is_dropped_with_the_kept_id_and_its_jaccard():
    original = ex(ORDER)
    typo = ex(ORDER.replace("arrived", "arrvied").replace("warehouse", "warehuose"))
    other = ex("Do you sell replacement poles for the Ridge 3 tent?", "Yes, in two sizes.")
    decisions = MinHashDedup(MinHashDedup.Config()).run(ListRows([original, typo, other]), None)
    assert list(decisions.drops) == [typo.id]
    drop = decisions.drops[typo.id]
    assert drop.reason == "near_duplicate"
    assert drop.evidence["kept_id"] == original.id
    assert 0.7 <= drop.evidence["jaccard"] < 1.0
    assert drop.message.startswith(f"near duplicate of {original.id[:12]} (Jaccard 0.")
    assert decisions.stats["clusters"] == 1


def test_verification_by_true_jaccard_removes_false_candidates():
    words = ORDER.split()
    half = " ".join(words[:len(words) // 2] + ["completely", "different", "ending", "here"])
    rows = ListRows([ex(ORDER, "Sure."), ex(half, "Sure.")])
    loose = {"bands": 64, "rows": 1}  # any shared minimum makes a candidate pair
    unverified = MinHashDedup(MinHashDedup.Config(verify=False, **loose)).run(rows, None)
    verified = MinHashDedup(MinHashDedup.Config(**loose)).run(rows, None)
    assert unverified.stats["candidate_pairs"] == verified.stats["candidate_pairs"] == 1
    assert list(unverified.drops) == [rows.rows[1].example.id]
    assert unverified.drops[rows.rows[1].example.id].evidence["jaccard"] < 0.7
    assert verified.drops == {} and verified.stats["edges"] == 0


def test_keep_policies_choose_the_survivor():
    short, longer = ex(ORDER, ANSWER), ex(ORDER, ANSWER + " Thanks for waiting.")
    longest = MinHashDedup(MinHashDedup.Config(keep="longest"))
    assert list(longest.run(ListRows([short, longer]), None).drops) == [short.id]
    human = MinHashDedup(MinHashDedup.Config(keep="human"))
    rows = ListRows([Row(1, short, {"tags": {"origin": "synthetic"}}), Row(2, longer, {})])
    assert list(human.run(rows, None).drops) == [short.id]
    first = MinHashDedup(MinHashDedup.Config())
    assert list(first.run(ListRows([short, longer]), None).drops) == [longer.id]


def test_union_find_joins_chains_and_large_groups_stay_linear():
    assert components(np.array([[0, 1], [2, 3], [1, 3], [5, 6]])) == {0: [0, 1, 2, 3], 5: [5, 6]}
    same = np.zeros((1000, 4), np.uint32)
    pairs = candidate_pairs(same, 2, 2)
    assert len(pairs) < 10 * 1000
    assert components(pairs) == {0: list(range(1000))}


def test_bad_banding_is_a_config_error():
    with pytest.raises(ValidationError, match="both bands and rows"):
        MinHashDedup.Config(bands=4)
    with pytest.raises(ValidationError, match="exceeds num_perm"):
        MinHashDedup.Config(bands=20, rows=8, num_perm=128)


@pytest.fixture
def chats(store, tmp_path):
    records = [chat(f"Question {i}: where is parcel {i * 7919} for the {i}th order of tents?",
                    f"Answer {i}: it ships on day {i % 5} from warehouse {i * 104729}.")
               for i in range(60)]
    records += [chat("Question 3: where is the parcel 23757 for the 3th order of tents?",
                     "Answer 3: it ships on day 3 from warehouse 314187.")]
    ingest(store, [write_jsonl(tmp_path / "c.jsonl", records)], "support", progress=False)
    return store


def test_signatures_and_clusters_are_stored_and_reused(chats):
    first = curate(chats, "support@1", [MinHashDedup(MinHashDedup.Config(workers=1))])[0]
    assert first.stats["signatures_computed"] == 61 and first.stats["dropped"] == {"near_duplicate": 1}
    other_threshold = MinHashDedup(MinHashDedup.Config(threshold=0.9))
    second = curate(chats, "support@1", [other_threshold])[0]
    assert (second.stats["signatures_computed"], second.stats["signatures_reused"]) == (0, 61)
    assert second.stats["dropped"] == {}  # the copy's Jaccard is under 0.9
    from_child = curate(chats, first.output, [MinHashDedup(MinHashDedup.Config(size=4))])[0]
    assert from_child.stats["signatures_computed"] == 60  # another shingling: computed again
    again = curate(chats, "support@1", [MinHashDedup(MinHashDedup.Config(workers=2))])[0]
    assert again.reused and again.output == first.output  # workers never change the result
    with chats.read() as con:
        counts = con.execute("SELECT count(*), count(DISTINCT config_hash), "
                             "min(len(signature)) FROM signatures").fetchone()
        clusters = con.execute("SELECT c.score, k.id FROM clusters c JOIN examples k ON "
                               "k.key = c.kept_key WHERE c.step = 'minhash_dedup' ORDER BY "
                               "c.score").fetchall()
    assert counts == (121, 2, 128)
    kept = Example.chat(chat("Question 3: where is parcel 23757 for the 3th order of tents?",
                             "Answer 3: it ships on day 3 from warehouse 314187.")["messages"]).id
    # 24 words, 22 3-word shingles: the inserted "the" replaces 2 and adds 3, so 20 of 25 shared
    assert clusters == [(20 / 25, kept), (1.0, kept)]


def test_demo_near_duplicates_are_found_with_high_precision_and_recall(store, tmp_path: Path):
    files = generate(tmp_path / "demo", seed=0)
    ingest(store, [files.chats], "support", on_error="skip", progress=False)
    outcome = curate(store, "support", [MinHashDedup(MinHashDedup.Config())], dry_run=True)[0]
    labels = [orjson.loads(line) for line in files.labels.read_bytes().splitlines()]
    near = [x for x in labels if x["problem"] == "near_duplicate"]
    with store.read() as con:  # a dry run stores nothing: run the step again for the evidence
        version = resolve(con, "support")
    decisions = MinHashDedup(MinHashDedup.Config()).run(
        VersionRows(store, version), Context(store, version))
    survivor = {i: d.evidence["kept_id"] for i, d in decisions.drops.items()}
    found = [x for x in near if (x["id"] in survivor or x["of_id"] in survivor)
             and survivor.get(x["id"], x["id"]) == survivor.get(x["of_id"], x["of_id"])]
    copies = {x["id"] for x in near} | {x["of_id"] for x in near}
    recall = len(found) / len(near)
    precision = len(copies & set(survivor)) / len(survivor)
    assert len(near) >= 50 and outcome.stats["dropped"]["near_duplicate"] == len(survivor)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
