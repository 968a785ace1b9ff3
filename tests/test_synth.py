"""The generators end to end against the real embedded server, and their pure parts on a few rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from gristmill.store.versions import resolve
from gristmill.synth.calls import Reply
from gristmill.synth.pairs import _decide
from gristmill.synth.rouge import RougeIndex
from gristmill.synth.self_instruct import SEED_TASKS as SEEDS
from gristmill.synth.self_instruct import Kept, Pool, SelfInstructConfig
from gristmill.synth.templates import Templates
from tests.conftest import chat, endpoint_file, write_jsonl
from tests.fault_proxy import FaultProxy, Faults

QUESTIONS = ["What is the boiling point of water at sea level?", "Name three primary colours.",
             "How many legs does a spider have?", "What is the capital of Japan?",
             "Give a synonym for happy.", "What is 12 times 12?"]


def _prompts(tmp_path, n: int, name: str = "prompts.jsonl"):
    records = [chat(f"{QUESTIONS[i % len(QUESTIONS)]} (case {i})", "I do not know.") for i in range(n)]
    return write_jsonl(tmp_path / name, records)


def _meta(store, ref: str) -> list[dict]:
    with store.read() as con:
        version = resolve(con, ref)
        rows = con.execute("SELECT s.meta FROM sources s JOIN members m ON m.example_key = s.example_key "
                           "WHERE m.version_id = ? AND s.source LIKE 'synth:%'",
                           [version.version_id]).fetchall()
    return [orjson.loads(m) for (m,) in rows]


@pytest.fixture
def local(tmp_path, llm_server):
    return endpoint_file(tmp_path / "local.yaml", llm_server.endpoint.base_url, llm_server.endpoint.model,
                         concurrency=4)


# -- pure parts -------------------------------------------------------------------------------

def test_templates_are_strict_and_overridable(tmp_path):
    from gristmill.errors import UsageError

    shipped = Templates().get("evol_depth")
    with pytest.raises(UsageError, match="missing variable 'method'"):
        shipped.render(prompt="p")
    mine = tmp_path / "depth.j2"
    mine.write_text("Harder: {{ prompt }} ({{ method }})")
    override = Templates({"evol_depth": mine}).get("evol_depth")
    assert override.render(prompt="p", method="m") == "Harder: p (m)"
    assert override.digest != shipped.digest and override.variables() == {"prompt", "method"}
    with pytest.raises(UsageError, match="no template named 'evol_dept'"):
        Templates({"evol_dept": mine})
    mine.write_text("{% for x in %}")
    with pytest.raises(UsageError, match="line 1"):
        Templates({"evol_depth": mine}).get("evol_depth")


def test_self_instruct_filters_in_order_with_keep_rates():
    pool = Pool(SelfInstructConfig(min_words=3, max_words=12), RougeIndex(0.7))
    pool.add_seed("Write a short poem about the sea.")
    origin = Kept("", 1, 1, [], [])
    offers = {
        "Hi there": "length",
        "Describe the picture in a few words please.": "blacklist",
        "- List three fruits you like to eat.": "format",
        "write a SHORT poem about the sea.": "duplicate",
        "Write a short poem about the blue sea.": "rouge",
        "Explain how a bicycle gear works.": None,
    }
    for text, reason in offers.items():
        assert pool.verdict(text) == reason, text
        assert pool.offer(text, origin) == (reason is None)
    report = pool.report()
    assert report["generated"] == 6 and report["kept_instructions"] == 1
    assert report["filters"]["length"] == {"reached": 6, "dropped": 1, "keep_rate": round(5 / 6, 4)}
    assert report["filters"]["rouge"] == {"reached": 2, "dropped": 1, "keep_rate": 0.5}


def _verdict(winner: str | None, call_id: int) -> Reply:
    if winner is None:
        return Reply(call_id, "unparsed", "???", None, "no JSON found in the output")
    return Reply(call_id, "ok", "{}", {"reason": "r", "winner": winner})


def test_a_pairwise_win_counts_only_when_it_survives_the_swap():
    counts = {"judgements": 0, "swap_consistent": 0}
    # sample 0 shown first wins as A, and shown second wins as B: consistent
    consistent = {(0, 1): [(0, _verdict("A", 1)), (1, _verdict("B", 2))]}
    assert _decide(consistent, counts)[:2] == (0, 1)
    # the judge always prefers the first answer: position bias, no win
    biased = {(0, 1): [(0, _verdict("A", 3)), (1, _verdict("A", 4))]}
    assert _decide(biased, counts) is None
    unreadable = {(0, 1): [(0, _verdict("B", 5)), (1, _verdict(None, 6))]}
    assert _decide(unreadable, counts) is None
    assert counts == {"judgements": 3, "swap_consistent": 1}
    three = {(0, 1): [(0, _verdict("B", 7)), (1, _verdict("A", 8))],   # 1 beats 0
             (0, 2): [(0, _verdict("tie", 9)), (2, _verdict("tie", 10))],
             (1, 2): [(1, _verdict("A", 11)), (2, _verdict("B", 12))]}  # 1 beats 2
    chosen, rejected, evidence = _decide(three, counts)
    assert chosen == 1 and rejected == 0 and len(evidence) == 6


# -- end to end against the embedded server ---------------------------------------------------

def test_respond_keeps_the_originals_marks_answers_and_drops_eval_leaks(cli, store, tmp_path, local):
    golden = write_jsonl(tmp_path / "golden.jsonl", [chat(QUESTIONS[0], "100 degrees Celsius.")])
    prompts = write_jsonl(tmp_path / "p.jsonl", [chat(QUESTIONS[0], "hot"), chat(QUESTIONS[1], "red"),
                                                 chat(QUESTIONS[2], "eight", system="Be terse.")])
    assert cli("ingest", golden, "-d", "golden")[0] == 0
    assert cli("ingest", prompts, "-d", "support")[0] == 0
    code, out, err = cli("synth", "respond", "support@1", "--endpoint", local, "--against", "golden@1",
                         "--set", "max_tokens=24", "--json")
    assert code == 0, err
    result = orjson.loads(out)
    assert result["version"] == "support@2" and result["leaked"] == 1 and result["produced"] == 2
    with store.read() as con:
        v1, v2 = resolve(con, "support@1"), resolve(con, "support@2")
        assert v2.n_examples == 5 and v2.n_removed == 1  # 3 originals and 2 answers
        (removal,) = con.execute("SELECT reason, evidence FROM removals WHERE version_id = ?",
                                 [v2.version_id]).fetchall()
        assert removal[0] == "eval_leak" and orjson.loads(removal[1])["eval_ref"] == "golden@1"
        kept_originals = con.execute("SELECT count(*) FROM members WHERE version_id = ? AND example_key "
                                     "IN (SELECT example_key FROM members WHERE version_id = ?)",
                                     [v2.version_id, v1.version_id]).fetchone()[0]
        assert kept_originals == 3
        call_ids = {c for (c,) in con.execute("SELECT call_id FROM llm_calls").fetchall()}
    metas = _meta(store, "support@2")
    assert len(metas) == 2 and all(m["synthetic"] and m["generator"] == "respond" for m in metas)
    with store.read() as con:
        answers = [orjson.loads(p)["messages"] for (p,) in con.execute(
            "SELECT e.payload FROM examples e JOIN sources s ON s.example_key = e.key "
            "WHERE s.source = 'synth:respond'").fetchall()]
    systems = sorted(m[0]["content"] for m in answers if m[0]["role"] == "system")
    assert systems == ["Be terse."]  # its own system turn kept, ours (the template) never stored
    assert all(set(m["calls"]) <= call_ids and m["model"] for m in metas)
    code, out, _ = cli("synth", "respond", "support@1", "--endpoint", local, "--against", "golden@1",
                       "--set", "max_tokens=24")
    assert code == 0 and "already in support@2" in out and "0 calls sent" in out


def test_self_instruct_grows_filters_and_records_provenance(cli, store, local):
    assert cli("ingest", SEEDS, "-d", "seeds")[0] == 0
    args = ("synth", "self-instruct", "seeds", "--endpoint", local, "--json", "--set", "count=3",
            "--set", "batch=2", "--set", "per_prompt=4", "--set", "max_tokens=160",
            "--set", "instance_max_tokens=60", "--set", "max_rounds=3")
    code, out, err = cli(*args)
    assert code == 0, err
    stats = orjson.loads(out)["stats"]
    filters = stats["filters"]
    assert stats["generated"] == stats["kept_instructions"] + sum(f["dropped"] for f in filters.values())
    assert stats["kept_instructions"] >= 1 and stats["seed_tasks"] == 175
    assert stats["instances"] + stats["no_instance"] == min(stats["kept_instructions"], 3)
    with store.read() as con:
        seed_ids = {i for (i,) in con.execute(
            "SELECT e.id FROM examples e JOIN members m ON m.example_key = e.key "
            "WHERE m.version_id = ?", [resolve(con, "seeds@1").version_id]).fetchall()}
    for meta in _meta(store, "seeds-self-instruct@latest"):
        assert meta["generator"] == "self-instruct" and len(meta["calls"]) == 3
        assert set(meta["seed_ids"]) <= seed_ids and len(meta["seed_ids"]) == 6
        assert set(meta["templates"]) >= {"self_instruct_tasks", "self_instruct_classify"}
    code, out, _ = cli(*args)
    assert code == 0 and orjson.loads(out)["stats"]["calls"]["sent"] == 0


def test_evol_accounts_for_every_evolution(cli, store, tmp_path, local):
    assert cli("ingest", _prompts(tmp_path, 3), "-d", "base")[0] == 0
    code, out, err = cli("synth", "evol", "base", "--endpoint", local, "--json", "--set", "rounds=2",
                         "--set", "max_tokens=60", "--set", "response_max_tokens=40")
    assert code == 0, err
    stats = orjson.loads(out)["stats"]
    assert stats["evolutions"] == 6 == stats["survived"] + sum(stats["eliminated"].values())
    assert sum(m["tried"] for m in stats["by_mutation"].values()) == 6
    if stats["survived"]:
        metas = _meta(store, "base-evol@1")
        assert len(metas) == stats["survived"]
        assert {m["round"] for m in metas} <= {1, 2} and all(m["evolved_from"] for m in metas)


def test_pairs_sample_from_two_endpoints_and_judge_both_orders_on_a_third(cli, store, tmp_path, local,
                                                                          llm_server):
    import yaml

    assert cli("ingest", _prompts(tmp_path, 2), "-d", "asks")[0] == 0
    model = llm_server.endpoint.model
    with FaultProxy(llm_server.url, Faults()) as judge_proxy, \
            FaultProxy(llm_server.url, Faults()) as sample_proxy:
        judge = endpoint_file(tmp_path / "judge.yaml", judge_proxy.url + "/v1", model)
        other = endpoint_file(tmp_path / "other.yaml", sample_proxy.url + "/v1", model, name="other")
        config = tmp_path / "pairs.yaml"
        config.write_text(yaml.safe_dump({"samplers": [{"temperature": 0.3},
                                                       {"temperature": 0.9, "endpoint": str(other)}],
                                          "max_tokens": 30, "judge_max_tokens": 40}))
        code, out, err = cli("synth", "pairs", "asks", "--endpoint", local, "--judge-endpoint", judge,
                             "--config", config, "--json")
    assert code == 0, err
    stats = orjson.loads(out)["stats"]
    assert sample_proxy.requests == 2 == stats[f"calls:{other}"]["sent"]  # one answer per prompt
    assert judge_proxy.requests == 2 * stats["judgements"] == stats["judge_calls"]["sent"]
    assert stats["pairs"] + stats["no_clear_winner"] + stats["failed"] == 2
    for meta in _meta(store, "asks-pairs@latest") if stats["pairs"] else []:
        assert len(meta["verdicts"]) == 2 and meta["judge_model"] == model


def test_a_budget_stops_the_run_cleanly_with_what_it_has(cli, store, tmp_path, local):
    assert cli("ingest", _prompts(tmp_path, 6), "-d", "many")[0] == 0
    code, out, err = cli("synth", "respond", "many", "--endpoint", local, "--max-requests", "3",
                         "--set", "max_tokens=16", "--set", "batch=2")
    assert code == 0, err
    assert "stopped early: budget" in out and "3 examples -> many@2" in out


def test_a_generator_under_faults_produces_every_example_once(cli, store, tmp_path, llm_server):
    assert cli("ingest", _prompts(tmp_path, 12), "-d", "flaky")[0] == 0
    faults = Faults(rate_429=0.2, rate_500=0.1, rate_stall=0.05, rate_truncate=0.05, stall_seconds=3.0,
                    retry_after=0.1, seed=11)
    with FaultProxy(llm_server.url, faults) as proxy:
        ep = endpoint_file(tmp_path / "flaky.yaml", proxy.url + "/v1", llm_server.endpoint.model,
                           timeout=1.5, max_attempts=12, concurrency=4)
        code, out, err = cli("synth", "respond", "flaky", "--endpoint", ep, "--set", "max_tokens=12",
                             "--json")
    assert code == 0, err
    stats = orjson.loads(out)["stats"]
    assert stats["answered"] == 12 and stats["calls"]["failed"] == 0 and stats["calls"]["retries"] > 0
    with store.read() as con:
        v = resolve(con, "flaky@2")
        assert v.n_examples == 24
        attempts = con.execute("SELECT sum(attempts - 1), count(*), count(DISTINCT request_hash) "
                               "FROM llm_calls").fetchone()
    assert attempts == (stats["calls"]["retries"], 12, 12)
    # every injected fault was retried (a slow answer past the timeout is retried too)
    assert stats["calls"]["retries"] >= sum(o != "ok" for _, o in proxy.log) > 0


def test_a_killed_run_run_again_makes_only_the_missing_calls(store, tmp_path, llm_server):
    from tests.conftest import run_gristmill

    assert run_gristmill("ingest", _prompts(tmp_path, 24), "-d", "big", "--store", store.path).returncode == 0
    with FaultProxy(llm_server.url, Faults()) as proxy:
        ep = endpoint_file(tmp_path / "ep.yaml", proxy.url + "/v1", llm_server.endpoint.model, concurrency=2)
        args = [sys.executable, "-m", "gristmill", "synth", "respond", "big", "--endpoint", str(ep),
                "--store", str(store.path), "--set", "max_tokens=16", "--set", "batch=2"]
        env = {**os.environ, "GRISTMILL_CHECKPOINT_SECONDS": "0"}
        first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        committed = 0
        deadline = time.monotonic() + 120
        while committed < 8 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
            committed = _calls(store)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert 8 <= committed < 24, "the run should be killed part way"
        committed = _calls(store)
        sent_before = proxy.requests
        second = subprocess.run(args, env=env, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        sent_again = proxy.requests - sent_before
    assert sent_before >= committed
    assert sent_again == _calls(store) - committed == 24 - committed  # only the missing ones
    with store.read() as con:
        assert resolve(con, "big@2").n_examples == 48


def _calls(store) -> int:
    from gristmill.errors import StoreBusy

    try:
        with store.read() as con:
            return con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    except StoreBusy:
        return 0


def test_serve_answers_the_openai_api_until_interrupted():
    from openai import OpenAI

    proc = subprocess.Popen([sys.executable, "-m", "gristmill", "serve", "--slots", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), proc.stderr.read()
        base_url = line.split(" at ")[1].split()[0]
        model = line.split()[1]
        reply = OpenAI(base_url=base_url, api_key="x").chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=5)
        assert reply.choices[0].message.content
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert "stopped" in proc.stdout.read()


def test_with_no_endpoint_a_run_starts_and_stops_the_embedded_server(cli, tmp_path):
    assert cli("ingest", write_jsonl(tmp_path / "one.jsonl", [chat("Say yes.", "no")]), "-d", "one")[0] == 0
    code, out, err = cli("synth", "respond", "one", "--set", "max_tokens=8", "--concurrency", "1")
    assert code == 0, err
    assert "1 examples -> one@2 (1 calls sent" in out
