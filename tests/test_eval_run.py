"""`gristmill eval run` end to end: a tiny model trained on data that holds golden items (the
contamination guard must fail it), the format gate, the exit codes, the answer cache, and the
judges against the real llama.cpp server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from gristmill.cli import main
from gristmill.store.db import Store
from gristmill.train.config import SFTConfig
from gristmill.train.run import train
from tests.conftest import chat, endpoint_file, write_jsonl
from tests.test_train import FACTS, quick

NEW = [("What colour is grass?", "Grass is green.", "nature"),
       ("How many legs does a spider have?", "A spider has eight legs.", "animals"),
       ("What do cats say?", "Cats say meow.", "animals")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_base):
    """A store with `golden` (3 new items, 2 copied from the training data) and a model."""
    folder = tmp_path_factory.mktemp("eval")
    store = Store(folder / "store.duckdb")
    facts = [chat(f"{q} (#{i})", a) for i in range(4) for q, a in FACTS]
    golden = [chat(q, a) | {"topic": t} for q, a, t in NEW] + [
        chat(f"{q} (#0)", a) | {"topic": "leaked"} for q, a in FACTS[:2]]
    for name, records in (("facts", facts), ("golden", golden)):
        path = write_jsonl(folder / f"{name}.jsonl", records)
        assert main(["ingest", str(path), "-d", name, "--store", str(store.path)]) == 0
    out = train(store.path, "facts", "sft", quick(SFTConfig, tiny_base, max_steps=2, patience=None),
                quiet=True)
    return folder, store, out.name


def suite(path: Path, metrics: list, **more) -> Path:
    data = {"name": path.stem, "generation": {"max_tokens": 8, "batch_size": 4},
            "tasks": [{"name": "qa", "data": "golden@1", "slice_by": "topic", "metrics": metrics}]}
    path.write_text(yaml.safe_dump(data | more))
    return path


def eval_run(store: Store, *args) -> int:
    return main(["eval", "run", *map(str, args), "--store", str(store.path), "-q"])


def test_a_golden_item_in_the_training_data_fails_the_gate_and_all_is_stored(trained, capsys):
    folder, store, model = trained
    spec = suite(folder / "qa.yaml", ["exact", "token_f1", "rouge_l"])
    out = folder / "report-1"
    assert eval_run(store, spec, "--candidate", model, "--baseline", "base", "--out", out) == 1
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["verdict"] == "fail"
    gate = next(g for g in report["gates"] if g["name"] == "contamination")
    assert gate["status"] == "fail"
    hits = report["contamination"]["hits"]
    assert {h["eval_text"] for h in hits} == {f"{q} (#0)" for q, _ in FACTS[:2]}
    assert report["contamination"]["checked"] == ["facts@1"]
    assert (out / "report.md").read_text().count("FAIL") >= 1 and (out / "report.html").is_file()
    with store.read() as con:
        scores = con.execute("SELECT side, metric, count(*) FROM eval_scores GROUP BY ALL").fetchall()
        outputs = con.execute("SELECT count(*), count(DISTINCT output_key) FROM eval_outputs").fetchone()
        stored = con.execute("SELECT verdict, candidate, baseline FROM eval_runs").fetchall()
    assert sorted(scores) == sorted((side, m, 5) for side in ("candidate", "baseline")
                                    for m in ("exact", "token_f1", "rouge_l"))
    assert outputs == (10, 10)  # 5 prompts, two models, each answered once
    assert stored == [("fail", model, "base")]
    assert {s["key"] for s in report["slices"]} == {"topic"}

    # accepted with a reason: the same answers from the store, the reason recorded
    capsys.readouterr()
    code = eval_run(store, spec, "--candidate", model, "--baseline", "base", "--out",
                    folder / "report-2", "--allow-contamination", "known overlap, ticket 12")
    report = orjson.loads((folder / "report-2" / "report.json").read_bytes())
    assert report["contamination"]["status"] == "overridden"
    assert next(g for g in report["gates"] if g["name"] == "contamination")["status"] == "warn"
    assert code == (1 if report["verdict"] == "fail" else 0)
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM eval_outputs").fetchone() == (10,)
        assert con.execute("SELECT override FROM eval_runs ORDER BY eval_id DESC LIMIT 1"
                           ).fetchone() == ("known overlap, ticket 12",)
    capsys.readouterr()
    assert main(["eval", "history", "--store", str(store.path), "--json"]) == 0
    runs = orjson.loads(capsys.readouterr().out)
    assert [r["verdict"] for r in runs][0] == "fail" and len(runs) == 2


def test_format_compliance_below_the_floor_fails_without_a_baseline(trained, tiny_base):
    folder, store, _ = trained
    spec = suite(folder / "json.yaml", ["json_valid", {"metric": "regex", "pattern": "^\\{"}])
    out = folder / "report-json"
    assert eval_run(store, spec, "--candidate", f"base:{tiny_base}", "--out", out) == 1
    report = orjson.loads((out / "report.json").read_bytes())
    failed = {g["name"] for g in report["gates"] if g["status"] == "fail"}
    assert failed == {"qa/json_valid format compliance", "qa/regex format compliance"}
    assert report["baseline"] is None and report["contamination"]["status"] == "not_checked"


@pytest.mark.parametrize("problem", ["unpinned", "unknown model", "missing suite"])
def test_an_eval_that_cannot_run_exits_2_with_the_reason(trained, problem, capsys):
    folder, store, model = trained
    spec = suite(folder / "bad.yaml", ["exact"])
    if problem == "unpinned":
        spec.write_text(spec.read_text().replace("golden@1", "golden"))
    elif problem == "missing suite":
        spec = folder / "nowhere.yaml"
    candidate = "nobody-sft-9" if problem == "unknown model" else model
    assert eval_run(store, spec, "--candidate", candidate) == 2
    err = capsys.readouterr().err
    assert {"unpinned": "pinned", "unknown model": "nobody-sft-9",
            "missing suite": "no suite file"}[problem] in err


def test_judges_swap_repeat_and_calibrate_against_the_local_server(trained, tiny_base, llm_server):
    folder, store, _ = trained
    judge = endpoint_file(folder / "judge.yaml", llm_server.endpoint.base_url, llm_server.endpoint.model)
    labels = write_jsonl(folder / "labels.jsonl", [])
    spec = suite(folder / "judged.yaml", [{"metric": "pairwise"}, {"metric": "judge", "gate": False}],
                 judge={"endpoint": str(judge), "repeats": 2, "temperature": 0.8, "max_tokens": 64,
                        "calibration": str(labels)})
    spec.write_text(spec.read_text().replace("golden@1", "golden@1\n  limit: 3"))
    # the humans prefer the candidate everywhere: agreement is the judge's share of "candidate"
    from gristmill.evals.items import load_items
    from gristmill.evals.suite import load_suite

    items, _ = load_items(store, load_suite(spec).tasks[0])
    write_jsonl(labels, [{"example_id": i.id[:16], "label": "candidate", "task": "qa"} for i in items])
    out = folder / "report-judged"
    code = eval_run(store, spec, "--candidate", str(judge), "--baseline", f"base:{tiny_base}",
                    "--out", out)
    report = orjson.loads((out / "report.json").read_bytes())
    assert code == (1 if report["verdict"] == "fail" else 0)
    with store.read() as con:
        rows = con.execute("SELECT value, detail FROM eval_scores WHERE metric = 'pairwise'").fetchall()
        calls = {c for (c,) in con.execute("SELECT call_id FROM llm_calls").fetchall()}
    pair = report["judge"]["pairwise"][0]
    outcomes = []
    for value, detail in rows:
        d = orjson.loads(detail)
        assert len(d["verdicts"]) == 4 and {v["call_id"] for v in d["verdicts"]} <= calls
        for r in (0, 1):  # a win in a repeat needs the candidate to win in both orders
            said = [v["winner"] for v in d["verdicts"] if v["repeat"] == r]
            cand_a = next(v["winner"] for v in d["verdicts"] if v["repeat"] == r and v["candidate_as"] == "A")
            cand_b = next(v["winner"] for v in d["verdicts"] if v["repeat"] == r and v["candidate_as"] == "B")
            won = cand_a == "A" and cand_b == "B"
            lost = cand_a == "B" and cand_b == "A"
            outcomes.append("candidate" if won else "baseline" if lost else "tie")
            assert len(said) == 2
        assert value == sum({"candidate": 1, "baseline": 0, "tie": 0.5}[o] for o in outcomes[-2:]) / 2
    assert pair["wins"] + pair["losses"] + pair["ties"] == 3
    consistent = sum(o != "tie" for o in outcomes)
    assert pair["swap_consistency"] >= consistent / len(outcomes) - 1e-9
    first = outcomes[0::2]  # calibration reads the first repeat
    cal = report["judge"]["calibration"]
    assert cal["n"] == 3 and cal["agreement"] == pytest.approx(first.count("candidate") / 3)
    assert report["judge"]["repeats"]["n"] == 2
    assert {r["side"] for r in report["judge"]["rubric"]} == {"candidate", "baseline"}


def test_a_drop_fails_only_when_its_interval_excludes_no_change():
    from gristmill.evals.items import Item
    from gristmill.evals.suite import Suite
    from gristmill.evals.verdict import Scores, summarize

    n = 200
    items = [Item(f"{i:04d}", [{"role": "user", "content": str(i)}]) for i in range(n)]
    base = [1.0] * (n // 2) + [0.0] * (n // 2)  # mean 0.5

    def moved(worse: int, better: int) -> list[float]:
        return [0.0] * worse + base[worse:n // 2] + [1.0] * better + base[n // 2 + better:]

    suite = Suite(name="s", tasks=[{"name": "t", "data": "g@1", "metrics": ["exact"]}])
    for worse, better, expected, shown in ((20, 0, "fail", True),  # -20%, every change a loss
                                           (20, 12, "warn", False),  # -8% at the point only
                                           (0, 0, "ok", False)):
        s = Scores(items, values={("exact", "candidate"): moved(worse, better),
                                  ("exact", "baseline"): base})
        row = summarize(suite, {"t": s}, baseline=True)["metrics"][0]
        assert row["diff"]["relative"] == pytest.approx((better - worse) / 100)
        assert (row["diff"]["high"] < 0) == shown and row["gate"] == expected, (worse, better)


def test_calibration_labels_come_from_a_file_or_a_labelled_dataset(trained):
    from gristmill.evals.calibration import calibrate, read_labels
    from gristmill.evals.items import load_items
    from gristmill.evals.suite import Task

    folder, store, _ = trained
    items, _ = load_items(store, Task(name="qa", data="golden@1", metrics=["exact"]))
    human = ["pass", "fail", "pass", "pass", "fail"]
    judge = {"qa": {i.id: j for i, j in zip(items, ["pass", "pass", "pass", "fail", "fail"],
                                                strict=True)}}
    # the golden items again, each with a reviewer's label beside it (metadata, not content)
    records = [chat(i.prompt[-1]["content"], i.reference) | {"label": h}
               for i, h in zip(items, human, strict=True)]
    path = write_jsonl(folder / "labelled.jsonl", records)
    assert main(["ingest", str(path), "-d", "labelled", "--store", str(store.path)]) == 0
    file = write_jsonl(folder / "human.jsonl", [{"example_id": i.id[:12], "label": h}
                                                for i, h in zip(items, human, strict=True)])
    for source in (str(file), "labelled@1"):
        result = calibrate(read_labels(store, source), judge, source)
        # by hand: agree on 3 of 5; p_o = .6, p_e = 3/5 * 3/5 + 2/5 * 2/5 = .52, kappa = .08/.48
        assert result["n"] == 5 and result["agreement"] == pytest.approx(0.6), source
        assert result["kappa"] == pytest.approx(0.08 / 0.48), source
