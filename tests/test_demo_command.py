"""`gristmill demo` end to end, scored against the generator's own labels."""

import orjson
import pytest

from gristmill.store.db import Store

from .conftest import run_gristmill

pytestmark = pytest.mark.e2e


def test_demo_runs_the_loop_and_the_store_agrees_with_the_labels(tmp_path):
    first = run_gristmill("demo", "--dir", tmp_path / "demo", "--chats", "300", "--train-steps", "2",
                          "--eval-items", "4")
    assert first.returncode == 0, first.stderr
    assert "Look next at:" in first.stdout
    assert first.stdout.strip().splitlines()[-1].startswith("demo done: store ")
    labels = [orjson.loads(line) for line in (tmp_path / "demo/data/labels.jsonl").open()]
    chat_labels = [x for x in labels if x["file"] == "support_chats.jsonl"]
    bad_lines = {x["line"] for x in chat_labels if x["problem"] in ("malformed", "empty_assistant")}
    exact = [x for x in chat_labels if x["problem"] == "exact_duplicate"]

    store = Store(tmp_path / "demo/gristmill.duckdb")
    with store.read() as con:
        rejected = {r[0] for r in con.execute(
            "SELECT position FROM rejects WHERE source LIKE '%support_chats.jsonl'").fetchall()}
        stored_ids = {r[0] for r in con.execute("SELECT id FROM examples").fetchall()}
        positions = dict(con.execute(
            "SELECT s.position, e.id FROM sources s JOIN examples e ON e.key = s.example_key "
            "WHERE s.dataset = 'support'").fetchall())
    assert rejected == bad_lines
    for label in exact:  # an exact duplicate is stored once, with both lines as sources
        assert positions[label["line"]] == positions[label["of_line"]] == label["id"]
    leaks = [x for x in chat_labels if x["problem"] == "golden_leak" and x["variant"] == "verbatim"]
    assert leaks and all(x["golden_id"] in stored_ids for x in leaks)
    for step in ("pii", "exact_dedup", "minhash_dedup", "semantic_dedup", "leakage", "split"):
        assert f"   {step}: support@" in first.stdout
    assert "planted problem" in first.stdout
    train = (tmp_path / "demo/exports/support.train.jsonl").read_bytes().splitlines()
    with store.read() as con:
        final = con.execute("SELECT max(version_id) FROM versions WHERE dataset = 'support'").fetchone()[0]
        n_train = con.execute("SELECT count(*) FROM splits WHERE version_id = ? AND split = 'train'",
                              [final]).fetchone()[0]
    assert len(train) == n_train > 0
    with store.read() as con:  # the trained model, registered, saw only the final version's split
        model = con.execute("SELECT model_id, status, kind, adapter_path FROM models").fetchall()
        outside = con.execute(
            "SELECT count(*) FROM model_examples x LEFT JOIN splits s ON s.example_key = "
            "x.example_key AND s.version_id = ? AND s.split = x.split WHERE s.split IS NULL",
            [final]).fetchone()[0]
    assert [m[1:3] for m in model] == [("ok", "sft")]
    assert outside == 0 and f"models show {_name(first.stdout)}" in first.stdout

    again = run_gristmill("demo", "--dir", tmp_path / "demo", "--chats", "300", "--train-steps", "2",
                          "--eval-items", "4")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already ingested") == 3
    assert again.stdout.count("(reused)") == first.stdout.count(": support@") + first.stdout.count(
        ": preferences@")
    assert f"already trained: {_name(first.stdout)}" in again.stdout
    # step 9: the eval of the model against its base, answered once, scored on both runs
    report = tmp_path / "demo" / "eval-reports" / _name(first.stdout) / "report.html"
    assert "9. eval:" in first.stdout and f"report in {report.parent}" in first.stdout
    assert report.is_file() and f"{report}" in again.stdout
    with store.read() as con:
        runs = con.execute("SELECT candidate, baseline FROM eval_runs").fetchall()
        answers = con.execute("SELECT count(*), count(DISTINCT output_key) FROM eval_outputs").fetchone()
    assert runs == [(_name(first.stdout), "base")] * 2
    assert answers[0] == answers[1] == 2 * (4 + 8 + 4)  # golden, safety and MMLU, two models


def _name(stdout: str) -> str:
    line = next(x for x in stdout.splitlines() if x.startswith("   sft "))
    return line.split()[1].rstrip(":")


def test_demo_refuses_a_size_too_small_to_plant_every_problem(tmp_path):
    r = run_gristmill("demo", "--dir", tmp_path / "demo", "--chats", "20")
    assert r.returncode != 0
    assert "--chats must be at least 100" in r.stderr
