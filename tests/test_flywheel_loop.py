"""`flywheel run` end to end on a tiny model: a turn trains and gates a candidate and promotes
it; a turn with nothing new runs nothing; a planted regression fails the gate with exit code 1
and calls the webhook; a second turn while one runs exits 3; a killed turn resumes."""

from __future__ import annotations

import http.server
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import yaml

from gristmill.cli import main
from gristmill.flywheel.simulate import Logger
from gristmill.store.db import Store
from gristmill.store.lock import WriterLock

pytestmark = pytest.mark.e2e
PARAMS = {"max_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0, "system": None}
KEEP = {"lr": 1e-9, "max_steps": 2}  # a candidate that answers as its base does
REGRESS = {"lr": 0.06, "max_steps": 16}  # one trained away from the pinned behaviour


class Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - the http.server hook's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(orjson.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def loop(tmp_path_factory, tiny_base):
    """Logs, a golden set pinned to the base model's own answers, a suite, and a flywheel file
    writer: (folder, store, write(train settings) -> path)."""
    from gristmill.evals.generate import LocalModel

    folder = tmp_path_factory.mktemp("loop")
    store = Store(folder / "store.duckdb")
    logger = Logger(folder / "logs", seed=5, per_day=16)
    for day in range(2):
        logger.day(day)
    prompts = [[{"role": "user", "content": q}] for q in (
        "Where is my order?", "How do I return boots?", "Do you ship to Canada?",
        "Is the tent waterproof?", "Can I change my address?", "What sizes do jackets come in?",
        "How long is the warranty?", "Can I pay with PayPal?")]
    model = LocalModel(tiny_base, None)
    pinned = model.generate(prompts, PARAMS, 8)
    model.close()
    golden = folder / "golden.jsonl"
    pairs = zip(prompts, pinned, strict=True)
    golden.write_bytes(b"".join(orjson.dumps({"messages": p + [
        {"role": "assistant", "content": text}]}) + b"\n" for p, (text, _) in pairs))
    assert main(["ingest", str(golden), "-d", "golden", "--store", str(store.path), "-q"]) == 0
    (folder / "suite.yaml").write_text(yaml.safe_dump({
        "name": "pinned", "generation": {"max_tokens": 8, "batch_size": 8},
        "judge": {"max_tokens": 128},
        "tasks": [{"name": "qa", "data": "golden@1", "metrics": ["exact", "token_f1"]}]}))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"steps": [  # curation makes versions
        {"exact_dedup": {}}, {"length": {"max_chars": 20000}}]}))      # of the logs too
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def write(train: dict, **more) -> Path:
        path = folder / "flywheel.yaml"
        path.write_text(yaml.safe_dump(more | {
            "name": "support", "logs": {"source": "logs/app.jsonl", "commit_every": 8},
            "curate": "recipe.yaml",
            "merge": {"into": "support", "include": ["corrections", "unflagged"]},
            "train": {"set": {"base": str(tiny_base), "batch_size": 4, "eval_steps": 4,
                              "max_length": 512, "lora_r": 4, "warmup_ratio": 0.0,
                              "patience": None, "seed": 7, **train}},
            "eval": {"suite": "suite.yaml"}, "shadow": {"sample": 2},
            "webhook": f"http://127.0.0.1:{server.server_port}/alert"} | more))
        return path

    yield folder, store, write, logger
    server.shutdown()


def turn(store: Store, path: Path, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["flywheel", "run", str(path), "--store", str(store.path), "--json"])
    return code, orjson.loads(capsys.readouterr().out)


def test_a_turn_gates_a_candidate_then_runs_nothing_new_then_fails_a_planted_regression(loop, capsys):
    folder, store, write, logger = loop
    code, first = turn(store, write(KEEP), capsys)
    assert code == 0, first
    assert first["verdict"] in ("pass", "warn") and first["stages"]["eval"]["verdict"] != "fail"
    assert first["ran"][:3] == ["ingest", "drift", "mine"] and "train" in first["ran"]
    # every complete line (a day may end mid-line: that one waits for the next turn)
    assert len(logger.written.requests) - 1 <= first["stages"]["ingest"]["stored"] \
        <= len(logger.written.requests)
    model = first["stages"]["train"]["model"]
    assert first["stages"]["register"] == {"model": model, "stage": "staging"}
    assert first["stages"]["shadow"]["status"] == "ok" and first["stages"]["shadow"]["n"] == 2
    assert Path(first["report"]).is_file() and Hook.received == []

    code, again = turn(store, write(KEEP), capsys)  # nothing new: every stage reused
    assert code == 0 and again["ran"] == [] and again["stages"]["train"]["model"] == model

    logger.day(2)  # new logs, and training that moves the model off its pinned answers
    code, bad = turn(store, write(REGRESS), capsys)
    assert code == 1, bad["gates"]
    assert bad["verdict"] == "fail" and bad["stages"]["eval"]["verdict"] == "fail"
    assert bad["stages"]["ingest"]["stored"] > 0 and bad["stages"]["merge"]["added"] > 0
    regressed = bad["stages"]["train"]["model"]
    assert regressed != model and bad["stages"]["register"]["stage"] == "candidate"
    assert bad["webhook"].startswith("sent") and Hook.received[-1]["verdict"] == "fail"
    assert Hook.received[-1]["model"] == regressed
    report = (Path(bad["report"]).read_text())
    assert "FAIL" in report and "shadow win rate" in report
    with store.read() as con:
        stages = con.execute("SELECT stage, count(*) FROM flywheel_stages WHERE stage = 'train' "
                             "GROUP BY ALL").fetchall()
    assert stages == [("train", 2)]


def test_a_second_turn_while_one_runs_exits_3(loop, capsys):
    folder, store, write, _ = loop
    with WriterLock(Path(f"{store.path}.flywheel-support"), "a turn"):
        code = main(["flywheel", "run", str(write(KEEP)), "--store", str(store.path)])
    assert code == 3
    assert "another turn of the flywheel support is running" in capsys.readouterr().err


def test_a_turn_killed_while_training_resumes_at_that_stage(loop):
    folder, store, write, logger = loop
    logger.day(3)
    path = write({"lr": 1e-9, "max_steps": 12, "eval_steps": 3}, shadow=None, drift=None,
                 logs={"source": "logs/app.jsonl", "pii": "off"})
    command = [sys.executable, "-m", "gristmill", "flywheel", "run", str(path), "--store",
               str(store.path)]
    saved = "models/*/checkpoints/checkpoint-*/trainer_state.json"  # a checkpoint's last file
    earlier = set(folder.glob(saved))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not set(folder.glob(saved)) - earlier:  # into training, one checkpoint written
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(random.Random(1).uniform(0, 0.5))  # anywhere after it, a next save included
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with store.read() as con:
        before = con.execute("SELECT stage FROM flywheel_stages WHERE turn = (SELECT max(turn) "
                             "FROM flywheel_stages)").fetchall()
    assert ("merge",) in before and ("train",) not in before
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "train…" in done.stderr and "ingest…" not in done.stderr, done.stderr  # at train
    assert "resuming support-sft-" in done.stderr, done.stderr  # from its checkpoint
    with store.read() as con:
        (interrupted,) = con.execute("SELECT count(*) FROM models WHERE status = 'training'"
                                     ).fetchone()
    assert interrupted == 0


def test_a_stage_that_fails_exits_2_names_the_stage_and_calls_the_webhook(loop, capsys):
    folder, store, write, _ = loop
    path = write({"lr": 1e-9, "max_steps": 12, "eval_steps": 3}, shadow=None, drift=None,
                 logs={"source": "logs/app.jsonl", "pii": "off"})  # the killed turn's: trained
    path.write_text(path.read_text().replace("suite: suite.yaml", "suite: missing.yaml"))
    sent = len(Hook.received)
    code = main(["flywheel", "run", str(path), "--store", str(store.path)])
    err = capsys.readouterr().err
    assert code == 2 and "ERROR in eval" in err and "no suite file" in err
    assert "train…" not in err  # the model of the last turn, reused
    assert Hook.received[sent:] and Hook.received[-1]["verdict"] == "error"
