"""The demo dataset: the same seed gives the same bytes, valid lines are valid, and every planted
problem is where its label says, with exact PII spans."""

from __future__ import annotations

import difflib
import itertools
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from gristmill import demo_texts
from gristmill.demo_data import DemoFiles, generate
from gristmill.errors import InvalidRecord
from gristmill.example import Example

REJECTED = (UnicodeDecodeError, orjson.JSONDecodeError, InvalidRecord)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo"), seed=0)


@pytest.fixture(scope="module")
def chats(demo: DemoFiles) -> list[bytes]:
    return _lines(demo.chats)


@pytest.fixture(scope="module")
def labels(demo: DemoFiles) -> list[dict]:
    return [orjson.loads(line) for line in _lines(demo.labels)]


@pytest.fixture(scope="module")
def ordinary(chats: list[bytes], labels: list[dict]) -> dict[int, Example]:
    """Unlabelled chat lines by line number."""
    planted = {x["line"] for x in labels if x["file"] == "support_chats.jsonl"}
    return {n: _chat(line) for n, line in enumerate(chats, 1) if n not in planted}


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def _chat(line: bytes) -> Example:
    record = orjson.loads(line.decode("utf-8"))
    return Example.from_payload({"kind": "chat", **record})


def _problems(labels: list[dict], problem: str, file: str = "support_chats.jsonl") -> list[dict]:
    return [x for x in labels if x["problem"] == problem and x["file"] == file]


def _text(example: Example) -> str:
    return "\n".join(m["content"] for m in example.payload["messages"])


def test_the_same_seed_writes_the_same_bytes(demo: DemoFiles, tmp_path: Path):
    again = generate(tmp_path / "again", seed=0)
    small = [generate(tmp_path / str(seed), seed=seed, n_chats=300) for seed in (0, 1)]
    for name in ("chats", "preferences", "golden", "labels"):
        assert getattr(demo, name).read_bytes() == getattr(again, name).read_bytes(), name
        assert getattr(small[0], name).read_bytes() != getattr(small[1], name).read_bytes(), name
    assert again.counts == demo.counts


def test_counts_are_about_the_planned_rates(demo: DemoFiles, labels: list[dict]):
    counts = demo.counts
    assert demo.chats.name == "support_chats.jsonl" and demo.directory == demo.chats.parent
    assert counts["chats"] == len(_lines(demo.chats)) == 2000
    assert counts["preferences"] == len(_lines(demo.preferences)) == 300
    assert counts["golden"] == len(_lines(demo.golden)) == 150
    assert counts["labels"] == len(labels)
    expected = {
        "pii": (150, 250),
        "exact_duplicate": (40, 80),
        "near_duplicate": (40, 80),
        "paraphrase": (25, 55),
        "golden_leak": (10, 20),
        "malformed": (8, 12),
        "empty_assistant": (3, 8),
        "overlong": (3, 8),
    }
    for problem, (low, high) in expected.items():
        assert low <= counts[problem] <= high, problem
        assert counts[problem] == len(_problems(labels, problem))
    assert 3 <= counts["preference_exact_duplicate"] <= 8


def test_valid_lines_are_valid_and_labelled_bad_lines_are_rejected(
    chats: list[bytes], labels: list[dict]
):
    bad = {x["line"]: x for x in labels if x["problem"] in ("malformed", "empty_assistant")}
    ids = {x["line"]: x["id"] for x in labels if x["file"] == "support_chats.jsonl"}
    errors = Counter()
    for n, line in enumerate(chats, 1):
        if n in bad:
            with pytest.raises(REJECTED) as e:
                _chat(line)
            errors[e.type.__name__] += 1
            assert bad[n]["id"] is None
        elif n in ids:
            assert _chat(line).id == ids[n]
        else:
            _chat(line)
    assert set(errors) == {"UnicodeDecodeError", "JSONDecodeError", "InvalidRecord"}
    reasons = [x["reason"] for x in _problems(labels, "malformed")]
    assert len(set(reasons)) == len(reasons) and all(reasons)


def test_pii_spans_cover_the_entities(chats: list[bytes], labels: list[dict]):
    seen = Counter()
    for label in _problems(labels, "pii"):
        messages = _chat(chats[label["line"] - 1]).payload["messages"]
        assert label["entities"]
        for e in label["entities"]:
            text = messages[e["message"]]["content"][e["start"] : e["end"]]
            digits = re.sub(r"\D", "", text)
            assert text == text.strip() and text
            if e["type"] == "EMAIL_ADDRESS":
                assert re.fullmatch(r"[\w.]+@[\w.]+\.[a-z]+", text)
            elif e["type"] == "PHONE_NUMBER":
                assert len(digits) in (10, 11) and "555" in text
            elif e["type"] == "CREDIT_CARD":
                assert len(digits) in (15, 16) and _luhn(digits)
            elif e["type"] == "LOCATION":
                assert re.fullmatch(r"\d+ [\w ]+(, Apt \w+)?, [\w ]+, [A-Z]{2} \d{5}", text)
            else:
                assert e["type"] == "PERSON" and re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)?", text)
            seen[e["type"], messages[e["message"]]["role"]] += 1
    assert {t for t, _ in seen} == {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "LOCATION",
    }
    assert {role for _, role in seen} == {"user", "assistant"}


def test_ordinary_chats_hold_no_pii(ordinary: dict[int, Example]):
    surnames = set(demo_texts.LAST_NAMES)
    for example in ordinary.values():
        text = _text(example)
        assert not re.search(r"@|555[ .-]01\d\d", text)
        assert not surnames & set(re.findall(r"\w+", text))
        digits = re.sub(r"[ -]", "", text)
        assert not any(card in digits for card in demo_texts.TEST_CARDS)


def test_exact_duplicates_copy_an_earlier_line(chats: list[bytes], labels: list[dict], ordinary):
    for label in _problems(labels, "exact_duplicate"):
        assert label["of_line"] < label["line"] and label["of_line"] in ordinary
        assert chats[label["line"] - 1] == chats[label["of_line"] - 1]
        assert label["id"] == label["of_id"] == ordinary[label["of_line"]].id


def test_near_duplicates_are_close_but_not_equal(chats: list[bytes], labels: list[dict], ordinary):
    near = _problems(labels, "near_duplicate")
    for label in near:
        line, original = chats[label["line"] - 1], chats[label["of_line"] - 1]
        assert line != original and label["id"] != label["of_id"]
        assert label["of_id"] == ordinary[label["of_line"]].id
        assert difflib.SequenceMatcher(None, line, original).ratio() > 0.8
        assert difflib.SequenceMatcher(None, original, line).ratio() > 0.8
    assert {x["variant"] for x in near} == {"typo", "whitespace", "reorder"}


def test_paraphrases_say_the_same_in_other_words(chats: list[bytes], labels: list[dict]):
    for label in _problems(labels, "paraphrase"):
        line, original = chats[label["line"] - 1], chats[label["of_line"] - 1]
        assert label["id"] == _chat(line).id != label["of_id"] == _chat(original).id
        assert set(re.findall(rb"RO-\d{6}", line)) == set(re.findall(rb"RO-\d{6}", original))
        assert difflib.SequenceMatcher(None, line, original).ratio() < 0.8


def test_golden_leaks_point_at_golden_items(demo: DemoFiles, chats: list[bytes], labels: list):
    golden = _lines(demo.golden)
    leaks = _problems(labels, "golden_leak")
    for label in leaks:
        item = golden[label["golden_line"] - 1]
        assert label["golden_id"] == _chat(item).id
        if label["variant"] == "verbatim":
            assert chats[label["line"] - 1] == item and label["id"] == label["golden_id"]
        else:
            assert label["id"] == _chat(chats[label["line"] - 1]).id != label["golden_id"]
    assert {x["variant"] for x in leaks} == {"verbatim", "paraphrase"}


def test_golden_items_are_distinct_from_training(demo: DemoFiles, ordinary: dict[int, Example]):
    golden = [_chat(line) for line in _lines(demo.golden)]
    assert len({g.id for g in golden}) == len(golden)
    assert not {g.id for g in golden} & {e.id for e in ordinary.values()}
    grams = set().union(*(_ngrams(_text(g), 13) for g in golden))
    assert not [n for n, e in ordinary.items() if _ngrams(_text(e), 13) & grams]


def test_ordinary_chats_are_unique_and_not_near_duplicates(ordinary: dict[int, Example]):
    assert len({e.id for e in ordinary.values()}) == len(ordinary)
    shingles = [_ngrams(_text(e), 5) for e in list(ordinary.values())[:300]]
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(shingles, 2))
    assert worst < 0.7
    turns = Counter(
        sum(m["role"] == "user" for m in e.payload["messages"]) for e in ordinary.values()
    )
    assert set(turns) == {1, 2, 3, 4} and 0.35 < turns[1] / len(ordinary) < 0.65
    system = sum(e.payload["messages"][0]["role"] == "system" for e in ordinary.values())
    assert 0.35 < system / len(ordinary) < 0.65


def test_overlong_examples_are_long_but_bounded(chats: list[bytes], labels, ordinary):
    for label in _problems(labels, "overlong"):
        example = _chat(chats[label["line"] - 1])
        assert (
            20_000 <= label["chars"] == len(_text(example)) - len(example.payload["messages"]) + 1
        )
        assert label["chars"] <= 60_000 and len(chats[label["line"] - 1]) < 1 << 20
    assert max(len(_text(e)) for e in ordinary.values()) < 5_000


def test_preferences_are_valid_pairs_with_labelled_duplicates(demo: DemoFiles, labels: list):
    lines = _lines(demo.preferences)
    dups = {x["line"]: x for x in _problems(labels, "exact_duplicate", "preferences.jsonl")}
    ids = {}
    for n, line in enumerate(lines, 1):
        record = orjson.loads(line)
        assert set(record) == {"prompt", "chosen", "rejected"}
        assert record["chosen"] != record["rejected"]
        ids[n] = Example.preference(**record).id
    for n, label in dups.items():
        assert lines[n - 1] == lines[label["of_line"] - 1] and label["of_line"] not in dups
        assert label["id"] == label["of_id"] == ids[n]
    unlabelled = [i for n, i in ids.items() if n not in dups]
    assert dups and len(set(unlabelled)) == len(unlabelled)


def test_too_few_chats_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="n_chats must be at least 100, not 10"):
        generate(tmp_path, n_chats=10)


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        k = int(d) * (2 if i % 2 else 1)
        total += k - 9 if k > 9 else k
    return total % 10 == 0
