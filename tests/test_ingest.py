import orjson
import pytest

from gristmill.errors import InvalidRecord
from gristmill.example import Example
from gristmill.store import pieces as pieces_module
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl


def counts(store) -> dict:
    with store.read() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("examples", "versions", "members", "sources", "rejects")}


def test_the_first_bad_record_stops_the_ingest_and_nothing_is_committed(store, tmp_path, cli):
    good = write_jsonl(tmp_path / "good.jsonl", [chat("q", "a")])
    ingest(store, [good], "support")
    before = counts(store)
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat("q1", "a1"), chat("q2", "a2"),
                                               {"messages": [{"role": "user", "content": "q"}]}])
    with pytest.raises(InvalidRecord) as e:
        ingest(store, [bad], "support")
    assert str(e.value) == f"{bad}:3: the last message must be from the assistant, not user"
    assert counts(store) == before
    code, out, err = cli("ingest", bad, "-d", "support")
    assert (code, out) == (1, "")
    assert err == f"gristmill ingest: {bad}:3: the last message must be from the assistant, not user\n"


def test_skip_stores_rejects_and_counts_them(store, tmp_path, cli):
    path = write_jsonl(tmp_path / "mixed.jsonl", [
        chat("q1", "a1"), b"{not json", chat("q2", "  "), b'{"text": "caf\xff"}', chat("q3", "a3")])
    result = ingest(store, [path], "support", on_error="skip")
    assert (result.records, result.rejected, result.version) == (2, 3, "support@1")
    assert "3 rejected (gristmill rejects --run 1)" in result.summary()
    code, out, _ = cli("rejects", "--json")
    rejects = orjson.loads(out)["rejects"]
    assert [(r["position"], r["reason"]) for r in rejects] == [
        (2, "not valid JSON: unexpected character, expected a string key at column 2"),
        (3, "messages[2] (assistant): content is empty"),
        (4, "not valid UTF-8 (byte 0xff at column 14); Gristmill reads UTF-8 text")]


def test_reingesting_the_same_file_adds_nothing_and_says_so(store, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [chat(f"q{i}", "a") for i in range(5)])
    first = ingest(store, [path], "support")
    before = counts(store)
    again = ingest(store, [path], "support")
    assert (first.version, first.added, again.version, again.new) == ("support@1", 5, None, 0)
    assert "nothing new, every example is already in support" in again.summary()
    assert counts(store) == before
    with store.read() as con:
        stored = {r[0] for r in con.execute("SELECT id FROM examples").fetchall()}
    assert stored == {Example.chat(chat(f"q{i}", "a")["messages"]).id for i in range(5)}


def test_one_payload_from_two_files_and_two_datasets_is_one_example(store, tmp_path):
    same = chat("shared question", "shared answer")
    a = write_jsonl(tmp_path / "a.jsonl", [same, chat("only a", "x")])
    b = write_jsonl(tmp_path / "b.jsonl", [chat("only b", "y"), same, same])
    ingest(store, [a], "one")
    result = ingest(store, [b], "two")
    assert (result.new, result.repeated, result.added) == (1, 1, 2)
    with store.read() as con:
        rows = con.execute(
            "SELECT s.dataset, s.source, s.position FROM sources s JOIN examples e "
            "ON e.key = s.example_key WHERE e.payload LIKE '%shared question%' ORDER BY ALL"
        ).fetchall()
        assert con.execute("SELECT count(*) FROM examples").fetchone() == (3,)
    assert rows == [("one", str(a), 1), ("two", str(b), 2), ("two", str(b), 3)]


def test_a_second_ingest_makes_a_child_version(store, tmp_path, cli):
    a = write_jsonl(tmp_path / "a.jsonl", [chat("q1", "a1")])
    b = write_jsonl(tmp_path / "b.jsonl", [chat("q1", "a1"), chat("q2", "a2")])
    ingest(store, [a], "support", tags={"team": "cx"})
    result = ingest(store, [b], "support")
    assert (result.version, result.added) == ("support@2", 1)
    code, out, _ = cli("log", "support", "--json")
    log = orjson.loads(out)
    assert [(v["ref"], v["examples"], v["added"]) for v in log] == [
        ("support@2", 2, 1), ("support@1", 1, 1)]
    assert log[1]["config"]["tags"] == {"team": "cx"} and len(log[1]["config_hash"]) == 64
    with store.read() as con:
        (meta,) = con.execute("SELECT meta FROM sources WHERE source = ?", [str(a)]).fetchone()
    assert orjson.loads(meta) == {"tags": {"team": "cx"}}


def test_pieces_staged_in_worker_processes_give_what_one_process_gives(store, tmp_path,
                                                                       monkeypatch):
    records = [chat(f"question {i}", f"answer {i % 50}") for i in range(3000)]
    records[2500] = {"messages": [{"role": "user", "content": "no answer"}]}
    path = write_jsonl(tmp_path / "big.jsonl", records)
    serial = ingest(store, [path], "serial", on_error="skip", workers=1)
    monkeypatch.setattr(pieces_module, "PIECE_BYTES", 16 << 10)
    monkeypatch.setattr(pieces_module, "PARALLEL_BYTES", 0)
    assert len(pieces_module.split([path])) > 5
    parallel = ingest(store, [path], "parallel", on_error="skip", workers=2)
    assert (parallel.records, parallel.rejected) == (serial.records, serial.rejected) == (2999, 1)
    with store.read() as con:
        rows = con.execute(
            "SELECT s.dataset, e.key, s.position FROM sources s JOIN examples e "
            "ON e.key = s.example_key ORDER BY s.dataset, s.position").fetchall()
        rejects = con.execute("SELECT position FROM rejects").fetchall()
    by = {d: [(k, p) for dd, k, p in rows if dd == d] for d in ("serial", "parallel")}
    assert by["serial"] == by["parallel"]
    assert [k for k, _ in by["serial"]] == sorted(k for k, _ in by["serial"])
    assert rejects == [(2501,), (2501,)]
    with pytest.raises(InvalidRecord, match=r"big.jsonl:2501: the last message"):
        ingest(store, [path], "strict", workers=2)


@pytest.mark.parametrize("name, content, message", [
    ("empty.jsonl", b"", "empty.jsonl: the file is empty"),
    ("blank.jsonl", b"\n\n", "blank.jsonl: the file holds no records"),
])
def test_files_without_records(store, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidRecord, match=message):
        ingest(store, [path], "support")


def test_a_folder_is_read_file_by_file(store, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [chat("q1", "a1")])
    write_jsonl(folder / "b.jsonl", [{"text": "raw"}])
    (folder / "notes.md").write_text("ignored")
    result = ingest(store, [folder], "mixed")
    assert (result.files, result.records) == (2, 2)


def test_the_command_line_ingest_forks_its_workers_and_gets_the_same_result(store, tmp_path):
    """In its own process the ingest has one thread, so workers are forked, not spawned."""
    import subprocess
    import sys

    path = write_jsonl(tmp_path / "big.jsonl", [chat(f"q {i}", f"a {i}") for i in range(4000)])
    ingest(store, [path], "serial", workers=1)
    script = (
        "import sys; from pathlib import Path\n"
        "from gristmill.store import pieces as p\n"
        "from gristmill.store.db import Store\n"
        "from gristmill.store.ingest import ingest\n"
        "p.PIECE_BYTES, p.PARALLEL_BYTES = 16 << 10, 0\n"
        "assert p._start_method() == 'fork'\n"
        "r = ingest(Store(sys.argv[1]), [Path(sys.argv[2])], 'forked', workers=2)\n"
        "print(r.records)\n")
    done = subprocess.run([sys.executable, "-c", script, str(store.path), str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "4000", done.stderr
    with store.read() as con:
        keys = con.execute("SELECT dataset, list(example_key ORDER BY example_key) FROM members "
                           "JOIN versions USING (version_id) GROUP BY dataset").fetchall()
    assert dict(keys)["serial"] == dict(keys)["forked"]
