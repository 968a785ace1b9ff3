"""Log records, cursors across rotation, PII on the way in, failure mining, the review queue,
forget and lineage: each on a few real log lines and a real store."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import orjson
import pytest

from gristmill.errors import GristmillError, InvalidRecord, UsageError
from gristmill.flywheel import tail
from gristmill.flywheel.forget import forget
from gristmill.flywheel.ingest import ingest_logs
from gristmill.flywheel.mine import mine
from gristmill.flywheel.records import parse_entry
from gristmill.flywheel.review import export, import_labels
from gristmill.store.runs import writing
from gristmill.train import registry

EMAIL, NAME, PHONE = "maria.gonzalez@example.com", "Maria Gonzalez", "(415) 555-0132"


def logged(n: int, user: str = "u-1", feedback: dict | None = None, text: str | None = None,
           answer: str = "Use the reset link on the sign-in page.") -> dict:
    record = {"request": {"model": "bot-v1", "messages": [
        {"role": "user", "content": text or f"How do I reset my password? (ticket {n})"}]},
        "response": {"id": f"cmpl-{n}", "model": "bot-v1", "choices": [
            {"message": {"role": "assistant", "content": answer}}]},
        "metadata": {"timestamp": f"2026-11-01T10:{n % 60:02d}:00Z", "request_id": f"req-{n}",
                     "user_id": user, "session_id": "s-1", "latency_ms": 100 + n}}
    if feedback:
        record["feedback"] = feedback
    return record


def append(path: Path, *records: dict | bytes) -> Path:
    with open(path, "ab") as f:
        for r in records:
            f.write((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n")
    return path


def table(store, sql: str, *params) -> list[tuple]:
    with store.read() as con:
        return con.execute(sql, list(params)).fetchall()


# -- records -------------------------------------------------------------------------------

def test_an_openai_shaped_line_gives_the_conversation_metadata_and_feedback():
    e = parse_entry(logged(3, feedback={"thumbs": "-1", "rating": "2", "correction": "Better."}))
    assert e.key == "req-3" and e.about == "req-3"
    assert [m["role"] for m in e.example.payload["messages"]] == ["user", "assistant"]
    assert (e.user, e.session_id, e.model, e.latency_ms) == ("u-1", "s-1", "bot-v1", 103.0)
    assert e.logged_at.isoformat() == "2026-11-01T10:03:00"
    assert (e.feedback.thumb, e.feedback.rating, e.feedback.correction) == ("down", 2.0, "Better.")


def test_a_plain_chat_without_an_id_is_known_by_its_content_and_a_feedback_event_by_its_request():
    plain = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
             "timestamp": 1_790_000_000_000}
    a, b = parse_entry(plain), parse_entry(dict(reversed(plain.items())))
    assert a.key == b.key and a.key.startswith("sha256:")  # key order does not matter
    assert a.logged_at.year == 2026  # epoch milliseconds
    event = parse_entry({"request_id": "req-1", "feedback": {"thumb": "up"}})
    assert event.example is None and event.about == "req-1" and event.key.startswith("feedback:")


@pytest.mark.parametrize("record, message", [
    ({"messages": [{"role": "user", "content": "q"}]}, "end with the assistant's answer"),
    ({"request": {"messages": []}, "response": {}}, "request.messages"),
    ({"request": {"messages": [{"role": "user", "content": "q"}]}, "response": {"choices": []}},
     r"response.choices\[0\].message"),
    ({**logged(1), "feedback": {"thumb": "meh"}}, "use up or down"),
    ({**logged(1), "metadata": {"timestamp": "yesterday"}}, "neither ISO 8601"),
    ({"prompt": "x"}, "not a log record"),
])
def test_a_bad_record_says_what_is_wrong(record, message):
    with pytest.raises(InvalidRecord, match=message):
        parse_entry(record)


# -- files and cursors ---------------------------------------------------------------------

def test_a_file_keeps_its_fingerprint_when_renamed_and_gzipped_and_copies_are_read_once(tmp_path):
    log = append(tmp_path / "app.jsonl", logged(1), logged(2))
    before = tail.fingerprint(log)
    rotated = log.rename(tmp_path / "app.jsonl.1")
    assert tail.fingerprint(rotated) == before
    with open(rotated, "rb") as src, gzip.open(tmp_path / "app.jsonl.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert tail.fingerprint(tmp_path / "app.jsonl.2.gz") == before
    append(rotated, logged(3))  # the plain copy grew: it is the one read
    append(tmp_path / "app.jsonl", logged(9))
    found = tail.discover(tmp_path / "app.jsonl")
    assert sorted(f.path.name for f in found) == ["app.jsonl", "app.jsonl.1"]
    (tmp_path / "notes.txt").write_text("x")
    assert "notes.txt" not in {f.path.name for f in tail.discover(tmp_path)}


def test_only_complete_lines_are_read_and_offsets_resume_exactly(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(logged(1)) + b"\n" + orjson.dumps(logged(2))
                    + b"\n" + b'{"half": ')
    lines = list(tail.new_lines(log, 0, 1, 1 << 20))
    assert [x.number for x in lines] == [1, 2]
    assert lines[-1].end == log.stat().st_size - len(b'{"half": ')
    assert tail.fingerprint(tmp_path / "app.jsonl") == tail.fingerprint(
        append(tmp_path / "other.jsonl", logged(1)))  # the byte-order mark is not the line
    with open(log, "ab") as f:
        f.write(b'"done"}\n')
    rest = list(tail.new_lines(log, lines[-1].end, 3, 1 << 20))
    assert [(x.number, x.raw) for x in rest] == [(3, b'{"half": "done"}')]
    empty = tmp_path / "fresh.jsonl"
    empty.write_bytes(b'{"no newline yet"')
    assert tail.fingerprint(empty) is None


def test_a_missing_source_is_an_error(tmp_path):
    with pytest.raises(GristmillError, match="no such log file"):
        tail.discover(tmp_path / "nope.jsonl")


# -- ingest --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scrubbed(tmp_path_factory):
    """A store with a few log lines ingested with PII scrubbing on (the default)."""
    from gristmill.store.db import Store

    root = tmp_path_factory.mktemp("pii")
    log = append(root / "app.jsonl",
                 logged(1, text=f"Hi, I'm {NAME}, email {EMAIL}. Where is my order?"),
                 logged(2, user=EMAIL, feedback={"thumb": "down", "correction":
                        f"Call {PHONE} and ask for {NAME}.", "comment": f"mail {EMAIL}"}),
                 logged(3, feedback={"rating": 1}),
                 b"{broken", logged(4))
    store = Store(root / "store.duckdb")
    result = ingest_logs(store, log)
    return store, log, result


def test_pii_never_lands_in_the_store(scrubbed):
    store, _, result = scrubbed
    assert result.stored == 4 and result.rejected == 1 and result.version == "logs@1"
    assert result.pii["PERSON"] >= 2 and result.pii["EMAIL_ADDRESS"] >= 2
    with store.read() as con:
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            text = str(con.execute(f"SELECT * FROM {name}").fetchall())
            for secret in (EMAIL, NAME, PHONE, "Maria"):
                assert secret not in text, (name, secret)
    (correction,) = table(store, "SELECT correction FROM log_feedback WHERE line_key = 'req-2'")[0]
    assert "<PHONE_NUMBER>" in correction and "<PERSON>" in correction
    evidence = table(store, "SELECT pii FROM log_lines WHERE line_key = 'req-1'")[0][0]
    assert orjson.loads(evidence) == {"PERSON": 1, "EMAIL_ADDRESS": 1}


def test_a_bad_line_is_a_reject_with_its_line_and_fail_mode_names_it(scrubbed, tmp_path):
    store, log, result = scrubbed
    assert table(store, "SELECT source, position FROM rejects") == [(str(log), 4)]
    bad = append(tmp_path / "bad.jsonl", logged(1), b"[1, 2]")
    with pytest.raises(InvalidRecord, match=r"bad.jsonl:2: expected a JSON object"):
        ingest_logs(type(store)(tmp_path / "s.duckdb"), bad, pii="off", on_error="fail")


def test_lines_seen_again_are_stored_once_and_a_truncated_file_is_read_again(store, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = append(logs / "app.jsonl", logged(1), logged(2))
    first = ingest_logs(store, log, pii="off")
    assert (first.stored, first.version) == (2, "logs@1")
    again = ingest_logs(store, log, pii="off")
    assert (again.read, again.stored, again.version) == (0, 0, None)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(log, copy / "app.jsonl.bak")  # the same lines in another file
    append(copy / "app.jsonl.bak", logged(3))
    moved = ingest_logs(store, copy, pii="off")
    assert (moved.read, moved.stored, moved.version) == (1, 1, "logs@2")  # followed by fingerprint
    log.write_bytes(orjson.dumps(logged(1)) + b"\n")  # truncated to its first line
    shrunk = ingest_logs(store, log, pii="off")
    assert shrunk.truncated == [str(log.resolve())] and (shrunk.read, shrunk.stored) == (1, 0)
    assert table(store, "SELECT count(*), count(DISTINCT line_key) FROM log_lines") == [(3, 3)]


# -- mining and review ---------------------------------------------------------------------

def test_failures_become_sft_examples_pairs_and_a_review_queue_whose_labels_come_back(store, tmp_path):
    log = append(tmp_path / "app.jsonl",
                 logged(1, feedback={"thumb": "down", "correction": "Open Settings > Security."}),
                 logged(2, feedback={"thumb": "down"}), logged(3, feedback={"rating": 2}),
                 logged(4, feedback={"rating": 4}), logged(5, feedback={"thumb": "up"}),
                 logged(6))
    ingest_logs(store, log, pii="off")
    result = mine(store)
    assert (result.failures, result.corrections, result.queued) == (3, 1, 2)
    assert result.versions == ["logs-corrections@1", "logs-pairs@1"]
    ((pair, meta),) = table(store, "SELECT e.payload, s.meta FROM sources s JOIN examples e "
                            "ON e.key = s.example_key WHERE s.dataset = 'logs-pairs'")
    pair = orjson.loads(pair)
    assert pair["chosen"][0]["content"] == "Open Settings > Security."
    assert pair["rejected"][0]["content"] == "Use the reset link on the sign-in page."
    assert orjson.loads(meta)["line_key"] == "req-1"
    assert mine(store).versions == []  # nothing new: no new version

    queue = tmp_path / "queue.csv"
    assert export(store, queue) == 2
    rows = list(csv.DictReader(open(queue, encoding="utf-8")))
    assert [r["line_key"] for r in rows] == ["req-2", "req-3"]
    assert rows[0]["prompt"].startswith("user: How do I reset") and rows[0]["label"] == ""
    rows[0].update(label="bad", correction="Use Settings > Security > Reset.")
    rows[1].update(label="good")
    with open(queue, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)
    done = import_labels(store, queue, pii="off")
    assert (done.rows, done.labelled, done.new) == (2, 2, 2)
    assert import_labels(store, queue, pii="off").new == 0  # imported twice, stored once
    after = mine(store)
    assert (after.failures, after.corrections, after.queued) == (2, 2, 0)  # req-3 is cleared
    assert after.versions == ["logs-corrections@2", "logs-pairs@2"]
    assert export(store, tmp_path / "rest.jsonl") == 0


def test_a_review_file_with_an_unknown_line_or_label_is_refused_with_its_line(store, tmp_path):
    ingest_logs(store, append(tmp_path / "app.jsonl", logged(1)), pii="off")
    bad = append(tmp_path / "labels.jsonl", {"line_key": "req-1", "label": "good"},
                 {"line_key": "req-404", "label": "bad"})
    with pytest.raises(InvalidRecord, match=r"labels.jsonl:2: no log line 'req-404'"):
        import_labels(store, bad, pii="off")
    bad.write_bytes(orjson.dumps({"line_key": "req-1", "label": "meh"}) + b"\n")
    with pytest.raises(InvalidRecord, match="use good or bad"):
        import_labels(store, bad, pii="off")
    with pytest.raises(UsageError, match=".jsonl or .csv"):
        export(store, tmp_path / "queue.txt")


def test_a_low_judge_score_is_a_failure(store, tmp_path):
    from gristmill.flywheel.log_store import insert_feedback

    ingest_logs(store, append(tmp_path / "app.jsonl", logged(1), logged(2)), pii="off")
    with writing(store, "test judge", {}) as run, run.commit() as con:
        insert_feedback(con, run.id, [
            {"feedback_key": f"judge:{k}", "line_key": k, "origin": "judge", "thumb": None,
             "rating": None, "score": s, "label": None, "correction": None, "note": None,
             "path": None, "line": None} for k, s in (("req-1", 0.25), ("req-2", 0.75))])
    assert export(store, tmp_path / "q.jsonl") == 1
    (row,) = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert (row["line_key"], row["signals"]) == ("req-1", "low_judge_score")


# -- forget and lineage --------------------------------------------------------------------

def test_forget_a_user_removes_their_examples_from_future_versions_and_names_the_models(store, tmp_path, cli):
    log = append(tmp_path / "app.jsonl",
                 logged(1, user="alice", feedback={"thumb": "down", "correction": "Fixed."}),
                 logged(2, user="bob"), logged(3, user="alice"))
    ingest_logs(store, log, pii="off")
    mine(store)
    with writing(store, "test train", {}) as run, run.commit() as con:
        name = registry.start(con, kind="sft", dataset="logs", base_path="b", base_source="s",
                              base_digest="d", versions=[], config={}, output_dir="o",
                              parent=None, packages={}, hardware={})
        keys = [k for (k,) in con.execute("SELECT example_key FROM log_lines").fetchall()]
        registry.record_examples(con, name, [(k, "train", None, None) for k in keys])
    result = forget(store, user="alice", reason="erasure request #12")
    assert result.examples == 4  # two logged chats, the mined SFT example and the pair
    assert result.versions == ["logs@2", "logs-corrections@2", "logs-pairs@2"]
    assert result.models == [{"model": name, "stage": "candidate", "examples": 2}]
    assert "alice" not in str(table(store, "SELECT * FROM forgotten"))
    removed = table(store, "SELECT count(*), any_value(message) FROM removals r JOIN versions v "
                    "USING (version_id) WHERE v.dataset = 'logs' AND r.reason = 'forgotten'")
    assert removed == [(2, "erasure request #12")]
    assert table(store, "SELECT n_examples FROM versions WHERE dataset = 'logs' ORDER BY number") \
        == [(3,), (1,)]
    # the same content coming back is kept out, and says so
    again = append(tmp_path / "again.jsonl", logged(1, user="alice") | {"metadata": {
        "request_id": "req-1b"}}, logged(7, user="carol"))
    assert ingest_logs(store, again, pii="off").version == "logs@3"
    kept_out = table(store, "SELECT count(*) FROM removals r JOIN versions v USING (version_id) "
                     "WHERE v.dataset = 'logs' AND v.number = 3 AND r.step = 'forget'")
    assert kept_out == [(1,)]
    assert table(store, "SELECT n_examples FROM versions WHERE dataset = 'logs' AND number = 3") \
        == [(2,)]

    code, out, _ = cli("lineage", "--log", "req-1")
    assert code == 0 and "FORGOTTEN: erasure request #12" in out and f"{name} (train)" in out
    assert "logs-pairs@1" in out and "logs-corrections@1" in out
    code, out, _ = cli("lineage", "--log", f"{log}:2")
    assert code == 0 and "req-2" in out
    with pytest.raises(GristmillError, match="no stored example matches"):
        forget(store, user="nobody", reason="x")


def test_forget_a_source_file(store, tmp_path, cli):
    (tmp_path / "a").mkdir()
    one = append(tmp_path / "a" / "app.jsonl", logged(1), logged(2))
    two = append(tmp_path / "b.jsonl", logged(3))
    ingest_logs(store, one, pii="off")
    ingest_logs(store, two, pii="off")
    code, out, _ = cli("forget", "--source", str(tmp_path / "a"), "--reason", "bad batch")
    assert code == 0 and "forgot 2 example(s)" in out and "logs@3" in out
    assert table(store, "SELECT n_examples FROM versions WHERE dataset = 'logs' ORDER BY number "
                 "DESC LIMIT 1") == [(1,)]
    with pytest.raises(SystemExit) as exit_:
        cli("forget", "--source", str(tmp_path / "a"))
    assert exit_.value.code == 2  # --reason is required


# -- drift ---------------------------------------------------------------------------------

def test_mmd_tells_one_distribution_from_two_and_the_centroid_shift_is_a_cosine_distance():
    import numpy as np

    from gristmill.flywheel.drift import centroid_shift, mmd_test

    rng = np.random.default_rng(0)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    a, b = unit(rng.normal(size=(120, 8)) + 3), unit(rng.normal(size=(120, 8)) + 3)
    moved = unit(rng.normal(size=(120, 8)) + 3 + 2 * np.eye(8)[0])
    assert mmd_test(a, b)[1] > 0.05 and mmd_test(a, moved)[1] < 0.01
    assert centroid_shift(a, a) == pytest.approx(0, abs=1e-6)
    x, y = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert centroid_shift(x, y) == pytest.approx(1.0) and centroid_shift(x, -x) == pytest.approx(2.0)


def test_drift_is_reported_for_new_topics_and_not_for_more_of_the_same(store, tmp_path, cli):
    import random

    from gristmill.flywheel.simulate import Logger
    from gristmill.store.ingest import ingest

    Logger(tmp_path / "ref", seed=2, per_day=60).day(0)
    train = []
    for line in (tmp_path / "ref" / "app.jsonl").read_bytes().splitlines():
        r = parse_entry(orjson.loads(line)) if line.endswith(b"}") else None
        if r is not None and r.example is not None:
            train.append(r.example.payload)
    ingest(store, [append(tmp_path / "train.jsonl", *[{"messages": p["messages"]} for p in train])],
           "train")
    Logger(tmp_path / "same", seed=1, per_day=40).day(0)
    same = ingest_logs(store, tmp_path / "same", pii="off", drift_against="train")
    assert same.drift["centroid_shift"] < 0.1 and not same.drift["drifted"]
    rng = random.Random(0)
    topics = ["photosynthesis", "black holes", "sourdough bread", "jazz", "volcanoes"]
    asks = ["Explain {} to a child.", "Write a short poem about {}.", "Three facts about {}?"]
    other = append(tmp_path / "other.jsonl", *[logged(i, text=rng.choice(asks).format(
        rng.choice(topics))) for i in range(40)])
    ingest_logs(store, other, dataset="other", pii="off")
    code, out, _ = cli("flywheel", "drift", "--dataset", "other", "--against", "train")
    assert code == 1 and "DRIFTED" in out
    checks = table(store, "SELECT dataset, drifted, n_recent FROM drift_checks ORDER BY run_id")
    assert checks == [("logs", False, same.drift["n_recent"]), ("other", True, 40)]


def test_a_judge_grades_logged_answers_once_and_low_grades_are_failures(store, tmp_path, llm_server):
    from gristmill.flywheel.judge_logs import judge_logs
    from gristmill.flywheel.mine import failures
    from tests.conftest import endpoint_file

    judge = endpoint_file(tmp_path / "judge.yaml", llm_server.endpoint.base_url,
                          llm_server.endpoint.model)
    ingest_logs(store, append(tmp_path / "app.jsonl", logged(1), logged(2, answer="Bananas."),
                              logged(3)), pii="off")
    first = judge_logs(store, endpoint_file=judge, limit=2)
    assert first["judged"] + first["unreadable"] == 2
    rows = table(store, "SELECT f.line_key, f.score, f.note FROM log_feedback f "
                 "WHERE f.origin = 'judge' ORDER BY f.line_key")
    assert len(rows) == first["judged"] and all(s in (0.0, 1.0) for _, s, _ in rows)
    calls = table(store, "SELECT count(*) FROM llm_calls WHERE status IN ('ok', 'unparsed')")
    assert calls == [(2,)]
    second = judge_logs(store, endpoint_file=judge, limit=5)  # only the line not graded yet
    assert second["skipped"] == first["judged"]
    assert second["judged"] + second["unreadable"] == 3 - first["judged"]
    with store.read() as con:
        low = {f.line_key for f in failures(con, "logs")}
    graded = table(store, "SELECT line_key FROM log_feedback WHERE origin = 'judge' AND score < 0.5")
    assert low == {k for (k,) in graded}


def test_a_review_csv_saved_by_a_spreadsheet_reads_and_a_latin1_one_is_refused(store, tmp_path):
    ingest_logs(store, append(tmp_path / "app.jsonl", logged(1, feedback={"thumb": "down"})),
                pii="off")
    sheet = tmp_path / "queue.csv"
    sheet.write_bytes("\ufeffline_key,label,correction\r\nreq-1,bad,Café hours are 9-5.\r\n"
                      .encode("utf-8"))
    assert import_labels(store, sheet, pii="off").new == 1
    sheet.write_bytes("line_key,label,correction\nreq-1,bad,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidRecord, match="not valid UTF-8"):
        import_labels(store, sheet, pii="off")


def test_simulate_writes_rotated_logs_and_configs_that_load(store, tmp_path, cli):
    from gristmill.flywheel.loop_config import load_flywheel

    code, out, _ = cli("flywheel", "simulate", tmp_path / "fw", "--days", "4", "--per-day", "10")
    assert code == 0 and "next: gristmill flywheel run" in out
    names = sorted(p.name for p in (tmp_path / "fw" / "logs").iterdir())
    assert names == ["app.jsonl", "app.jsonl.1"]  # rotated on day 3
    config = load_flywheel(tmp_path / "fw" / "flywheel.yaml")
    assert config.logs.source == tmp_path / "fw" / "logs" / "app.jsonl"
    assert config.eval.suite.is_file() and config.merge.into == "support"
    result = ingest_logs(store, config.logs.source, pii="off")
    assert 40 - 1 <= result.stored <= 40 and result.files == 2


def test_a_loop_stage_waits_while_another_writer_holds_the_store(store, tmp_path, monkeypatch):
    import threading

    from gristmill.flywheel import loop
    from gristmill.store.lock import WriterLock

    monkeypatch.setattr(loop, "LOCK_POLL", 0.05)
    holder = WriterLock(store.path, "a cron ingest")
    holder.acquire()
    threading.Timer(0.5, holder.release).start()
    said: list[str] = []
    log = append(tmp_path / "app.jsonl", logged(1))
    loop._patiently(lambda: ingest_logs(store, log, pii="off"), said.append)
    assert said and "a cron ingest" in said[0]
    assert table(store, "SELECT count(*) FROM log_lines") == [(1,)]
    monkeypatch.setattr(loop, "LOCK_WAIT", 0.2)
    with WriterLock(store.path, "a long writer"), pytest.raises(GristmillError, match="long writer"):
        loop._patiently(lambda: ingest_logs(store, log, pii="off"), said.append)


def test_the_synth_stage_runs_a_generator_and_merges_its_output(store, tmp_path, llm_server):
    from gristmill.flywheel.loop_config import Flywheel
    from gristmill.flywheel.loop_stages import State, synth
    from gristmill.store.ingest import ingest
    from tests.conftest import chat, endpoint_file, write_jsonl

    chats = [chat("How do I return boots I bought last week?", "Use the returns page."),
             chat("Do you ship tents to Canada?", "Yes, in 5 to 8 days.")]
    ingest(store, [write_jsonl(tmp_path / "support.jsonl", chats)], "support")
    config = Flywheel(
        name="t", logs={"source": tmp_path / "app.jsonl"}, merge={"into": "support"},
        eval={"suite": tmp_path / "suite.yaml"}, synth={
            "generator": "evol", "set": ["rounds=1", "max_tokens=48", "response_max_tokens=48"],
            "endpoint": endpoint_file(tmp_path / "llm.yaml", llm_server.endpoint.base_url,
                                      llm_server.endpoint.model)})
    state = State(store, config, say=lambda line: None)
    state.out["merge"] = {"version": "support@1"}
    out = synth(state)
    made = table(store, "SELECT count(*) FROM members m JOIN versions v USING (version_id) "
                 "WHERE v.dataset = 'support-evol'")
    assert out["produced"] == made[0][0] and out["synth_version"] == "support-evol@1"
    assert out["version"] == ("support@2" if out["produced"] else "support@1")
    held = table(store, "SELECT n_examples FROM versions WHERE dataset = 'support' ORDER BY number")
    assert held[-1] == (2 + out["produced"],)
