"""ROUGE-L against a plain DP, and RougeIndex against brute force on near-duplicate-rich pools."""

import random

import pytest

from gristmill.synth.rouge import RougeIndex, rouge_l, tokens


def lcs_dp(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0  # row[j - 1] of the previous row
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_dp(a: list[str], b: list[str]) -> float:
    return 2 * lcs_dp(a, b) / (len(a) + len(b)) if a and b else 0.0


def instructions(n: int, seed: int) -> list[str]:
    """Short texts from a 25-word vocabulary; about a third are edits of an earlier one."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(22)] + ["a", "the", "of"]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.35:
            words = rng.choice(out).split()
            for _ in range(rng.randint(1, 2)):
                at, edit = rng.randrange(len(words) + 1), rng.randrange(4)
                if edit == 0 and len(words) > 1 and at < len(words):
                    del words[at]
                elif edit == 1 and at + 1 < len(words):
                    words[at], words[at + 1] = words[at + 1], words[at]
                elif edit == 2 and at < len(words):
                    words[at] = rng.choice(vocab)
                else:
                    words.insert(at, rng.choice(vocab))
        else:
            words = rng.choices(vocab, weights=range(len(vocab), 0, -1), k=rng.randint(0, 12))
        text = " ".join(words)
        out.append(", ".join(words).upper() if rng.random() < 0.05 else text)  # same tokens
    return out


def test_tokens() -> None:
    assert tokens("Write a poem, about CATS & dogs!  Don't stop 2day") == [
        "write", "a", "poem", "about", "cats", "dogs", "don", "t", "stop", "2day"]
    assert tokens("") == tokens(" ,.! ") == []
    assert tokens("café naïve") == ["caf", "na", "ve"]  # like rouge_score: non-ASCII letters split


def test_rouge_l_matches_dp() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        alphabet = "abcdefgh"[:rng.randint(1, 8)]
        a = rng.choices(alphabet, k=rng.randint(0, 40))
        b = rng.choices(alphabet, k=rng.randint(0, 40))
        assert rouge_l(a, b) == rouge_dp(a, b)
    long = rng.choices("ab", k=300)  # past one machine word of bits
    assert rouge_l(long, long[::-1]) == rouge_dp(long, long[::-1])


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_index_agrees_with_brute_force(threshold: float) -> None:
    index, kept = RougeIndex(threshold), []
    texts = instructions(1200, seed=int(threshold * 10))
    for n, text in enumerate(texts):
        toks = tokens(text)
        scores = [rouge_l(toks, k) for k in kept]
        best = max(scores, default=0.0)
        expected = (best, scores.index(best)) if best >= threshold else (0.0, None)
        assert index.most_similar(text) == expected, (n, text)
        # Keep the novel ones (the Self-Instruct loop), and some matches too, so the pool holds
        # near-duplicates of each other and ties.
        if best < threshold or n % 7 == 0:
            assert index.add(text) == len(kept)
            kept.append(toks)
    assert len(index) == len(kept) > 300


def test_edge_cases() -> None:
    index = RougeIndex(0.7)
    assert index.most_similar("anything") == (0.0, None)  # empty index
    assert index.add("") == 0
    assert index.most_similar("") == (0.0, None)  # empty texts score 0.0, never a match
    assert index.most_similar("!!") == (0.0, None)
    assert index.add("cat") == 1
    assert index.most_similar("Cat.") == (1.0, 1)
    assert index.most_similar("cat dog") == (0.0, None)  # 2/3 < 0.7
    assert index.add("a a a b") == 2
    assert index.most_similar("a a a b") == (1.0, 2)
    assert index.most_similar("b a a a") == (0.75, 2)  # LCS 3 of 4 + 4
    assert index.most_similar("a a b") == (2 * 3 / 7, 2)
    assert index.most_similar("a b b b") == (0.0, None)  # 0.5
    assert index.add("a a a b") == 3  # an identical copy: the earliest one is reported
    assert index.most_similar("a a a b") == (1.0, 2)
    assert len(index) == 4
    assert RougeIndex(1.0).most_similar("x") == (0.0, None)
    with pytest.raises(ValueError, match="threshold"):
        RougeIndex(0)


def test_long_and_repetitive_texts() -> None:
    # Past 64 tokens (several machine words of LCS bits) and past 255 copies of one token (where
    # the stored hashed counts saturate): still brute force's answers.
    rng = random.Random(3)
    texts = ["a " * 300, "a " * 299 + "b", "b " * 40 + "a " * 260, " ".join(rng.choices("abcde", k=400)),
             " ".join(rng.choices("abcdefghij", k=120))]
    texts += [t.replace("a", "c", 30) for t in texts] + ["a " * 255 + "b " * 5]
    for threshold in (0.5, 0.7, 0.9):
        index, kept = RougeIndex(threshold), []
        for text in texts:
            scores = [rouge_l(tokens(text), k) for k in kept]
            best = max(scores, default=0.0)
            assert index.most_similar(text) == ((best, scores.index(best)) if best >= threshold
                                                else (0.0, None))
            index.add(text)
            kept.append(tokens(text))


def test_threshold_reached_exactly() -> None:
    # 2*7/20 == 0.7 exactly as floats: at the threshold counts as similar, as in brute force.
    index = RougeIndex(0.7)
    index.add("a b c d e f g h i j")
    assert index.most_similar("a b c d e f g x y z") == (0.7, 0)
    assert index.most_similar("a b c d e f x y z w") == (0.0, None)
