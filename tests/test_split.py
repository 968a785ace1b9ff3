"""Splits: deterministic, in proportion, groups and shared prompts never straddle, stratified,
cut by time; export per split."""

from collections import Counter

import pytest
from pydantic import ValidationError

from gristmill.curation.recipe import single_step
from gristmill.curation.runner import curate
from gristmill.curation.split import Split
from gristmill.curation.step import ListRows, Row
from gristmill.example import Example
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl


def rows(n: int, meta=lambda i: {}) -> ListRows:
    return ListRows([Row(i, Example.chat(chat(f"question {i}", f"answer {i}")["messages"]),
                         meta(i)) for i in range(n)])


def split(data: ListRows, **config) -> dict[str, str]:
    return Split(Split.Config(**config)).run(data, None).splits


def test_splits_are_deterministic_and_in_proportion():
    data = rows(1000)
    first = split(data)
    assert first == split(data)
    assert Counter(first.values()) == {"train": 800, "val": 100, "test": 100}
    assert split(data, seed=1) != first


def test_a_user_never_straddles_splits():
    data = rows(600, lambda i: {"user_id": f"u{i % 37}"})
    assigned = split(data, group_by="user")
    by_user: dict[str, set] = {}
    for row in data:
        by_user.setdefault(row.meta["user_id"], set()).add(assigned[row.example.id])
    assert all(len(s) == 1 for s in by_user.values())
    assert len({s for sets in by_user.values() for s in sets}) == 3


def test_examples_sharing_a_prompt_share_a_split():
    same = [Example.chat(chat("How do I reset my password?", f"Answer {i}")["messages"])
            for i in range(30)]
    data = ListRows([*same, *(r.example for r in rows(200))])
    assigned = split(data)
    assert len({assigned[e.id] for e in same}) == 1


def test_stratified_splits_keep_label_proportions():
    data = rows(1000, lambda i: {"tags": {"label": "rare" if i % 10 == 0 else "common"}})
    assigned = split(data, stratify_by="label")
    rare = Counter(assigned[r.example.id] for r in data if r.meta["tags"]["label"] == "rare")
    assert rare == {"train": 80, "val": 10, "test": 10}


def test_a_time_cutoff_puts_later_examples_in_test():
    data = rows(100, lambda i: {"timestamp": f"2026-01-{1 + i % 28:02d}T10:00:00"})
    assigned = split(data, group_by="time", time_cutoff="2026-01-25")
    for row in data:
        later = row.meta["timestamp"] >= "2026-01-25"
        assert (assigned[row.example.id] == "test") == later
    assert {"train", "val"} <= set(assigned.values())


def test_bad_fractions_are_refused():
    with pytest.raises(ValidationError, match="add up to 1"):
        Split.Config(train=0.8, val=0.3, test=0.1)
    with pytest.raises(ValidationError, match="needs time_cutoff"):
        Split.Config(group_by="time")


def test_the_split_belongs_to_the_version_and_export_works_per_split(store, tmp_path, cli):
    records = [chat(f"q{i}", f"a{i}") for i in range(50)]
    ingest(store, [write_jsonl(tmp_path / "s.jsonl", records)], "s", progress=False)
    code, _, err = cli("export", "s", "-o", tmp_path / "x.jsonl", "--split", "train")
    assert code == 1 and "s@1 has no splits: run `gristmill curate s@1 --step split` first" in err
    curate(store, "s", [single_step("split", ["train=0.6", "val=0.2", "test=0.2"])])
    curate(store, "s", [single_step("length", ["min_chars=6"])])  # carries the split over
    sizes = {}
    for name in ("train", "val", "test"):
        code, out, _ = cli("export", "s@3", "-o", tmp_path / f"{name}.jsonl", "--split", name)
        assert code == 0
        sizes[name] = len((tmp_path / f"{name}.jsonl").read_text().splitlines())
    code, _, err = cli("export", "s@3", "-o", tmp_path / "x.jsonl", "--split", "dev")
    assert code == 2 and "s@3 has no split 'dev' (splits: test, train, val)" in err
    assert sum(sizes.values()) == 40  # q0..q9 with a0..a9: 5 characters with the line break
    assert sizes["train"] > sizes["val"] > 0 and sizes["test"] > 0
