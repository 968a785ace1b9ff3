import duckdb
import orjson
import pyarrow as pa
import pytest

from gristmill.errors import GristmillError, SchemaTooNew, UsageError
from gristmill.example import Example
from gristmill.store import inspect, versions
from gristmill.store.db import schema_version
from gristmill.store.ingest import ingest
from gristmill.store.runs import writing
from gristmill.store.schema import LATEST

from .conftest import chat, write_jsonl


@pytest.fixture
def filled(store, tmp_path):
    """support@1 with 10 chats."""
    path = write_jsonl(tmp_path / "a.jsonl", [chat(f"question {i}", f"answer {i}") for i in range(10)])
    ingest(store, [path], "support")
    return store


def ids_of(con, ref: str) -> list[str]:
    v = versions.resolve(con, ref)
    return [r[0] for r in con.execute(
        "SELECT e.id FROM members m JOIN examples e ON e.key = m.example_key "
        "WHERE m.version_id = ? ORDER BY e.key", [v.version_id]).fetchall()]


def child(store, parent_ref: str, removals: list[tuple], transforms=()) -> versions.Version:
    table = pa.table({"id": [r[0] for r in removals], "reason": [r[1] for r in removals],
                      "message": [r[2] for r in removals],
                      "evidence": [orjson.dumps(r[3]).decode() for r in removals]},
                     schema=pa.schema([(c, pa.string()) for c in
                                       ("id", "reason", "message", "evidence")]))
    with writing(store, "test-step", {}) as run, run.commit() as con:
        parent = versions.resolve(con, parent_ref)
        return versions.commit_child(con, parent, step="dedup", config={"threshold": 0.7},
                                     run_id=run.id, removals=table, transforms=list(transforms))


def test_a_new_store_is_migrated_to_the_latest_schema(filled):
    with filled.read() as con:
        assert schema_version(con) == LATEST
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (LATEST,)


def test_a_store_from_a_newer_release_is_refused_with_a_message(filled, cli):
    con = duckdb.connect(str(filled.path))
    con.execute("INSERT INTO schema_migrations VALUES (99, 'future', now())")
    con.close()
    with pytest.raises(SchemaTooNew, match=r"newer Gristmill \(schema 99; this release knows up"):
        with filled.read():
            pass
    code, out, err = cli("ls")
    assert code == 6 and "upgrade gristmill" in err and "Traceback" not in err


def test_a_duckdb_file_that_is_not_a_store_is_refused(store, cli):
    con = duckdb.connect(str(store.path))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    code, _, err = cli("ls")
    assert code == 1 and "not a Gristmill store" in err


def test_reading_a_missing_store_says_how_to_make_one(cli):
    code, _, err = cli("ls")
    assert code == 1 and "no store at" in err and "gristmill ingest" in err


@pytest.mark.parametrize("ref, parsed", [
    ("support", ("support", None)), ("support@latest", ("support", None)),
    ("support@3", ("support", 3)), ("a.b-c_d@12", ("a.b-c_d", 12)),
])
def test_refs(ref, parsed):
    assert versions.parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["support@0", "support@x", "@1", "bad name"])
def test_bad_refs(ref):
    with pytest.raises(UsageError):
        versions.parse_ref(ref)


def test_resolve_names_what_exists(filled):
    with filled.read() as con:
        assert versions.resolve(con, "support").ref == "support@1"
        with pytest.raises(GristmillError, match=r"support has no version 4 \(versions 1 to 1\)"):
            versions.resolve(con, "support@4")
        with pytest.raises(GristmillError, match=r"no dataset named 'nope' \(datasets: support\)"):
            versions.resolve(con, "nope")


def test_a_child_version_shares_rows_and_records_every_removal_and_transform(filled, cli):
    with filled.read() as con:
        before = ids_of(con, "support@1")
        (n_examples,) = con.execute("SELECT count(*) FROM examples").fetchone()
    rewritten = Example.chat([{"role": "user", "content": "question <PERSON>"},
                              {"role": "assistant", "content": "answer 0"}])
    v2 = child(filled, "support", [(before[1], "exact_duplicate", "same as 3", {"of": before[3]}),
                                   (before[2], "too_long", None, {"tokens": 9000})],
               transforms=[(before[0], rewritten, {"entities": {"PERSON": 1}})])
    assert (v2.ref, v2.n_examples, v2.n_removed, v2.n_transformed, v2.n_added) == (
        "support@2", 8, 2, 1, 1)
    assert (v2.parent_id, v2.step, v2.config) == (1, "dedup", {"threshold": 0.7})
    with filled.read() as con:
        after = ids_of(con, "support@2")
        assert set(after) == (set(before) - set(before[:3])) | {rewritten.id}
        (grown,) = con.execute("SELECT count(*) FROM examples").fetchone()
        assert grown == n_examples + 1  # only the rewritten example is new

        rows, counts = inspect.removed(con, v2)
        assert counts == {"dedup:exact_duplicate": 1, "dedup:too_long": 1}
        assert {(r["id"], r["reason"]) for r in rows} == {
            (before[1], "exact_duplicate"), (before[2], "too_long")}
        assert [r["evidence"] for r in rows if r["reason"] == "exact_duplicate"] == [{"of": before[3]}]

        d = inspect.diff(con, versions.resolve(con, "support@1"), v2)
        assert (d["added"], d["removed"], d["transformed"]) == (0, 2, 1)
        assert d["removed_by_reason"] == {"dedup:exact_duplicate": 1, "dedup:too_long": 1}
        assert d["transformed_ids"] == [{"from": before[0], "to": rewritten.id, "step": "dedup"}]

    code, out, _ = cli("removed", "support", "--reason", "too_long")
    assert code == 0 and before[2][:16] in out and before[1][:16] not in out
    assert out.strip().splitlines()[-1] == "1 example(s) removed on the way to support@2: dedup:too_long 1"
    code, out, _ = cli("diff", "support@1", "support@2", "--json")
    assert code == 0 and orjson.loads(out)["removed"] == 2


def test_a_step_cannot_remove_what_its_input_does_not_hold(filled):
    other = Example.text("not a member")
    with pytest.raises(GristmillError, match="1 removals and 0 transforms name examples"):
        child(filled, "support", [(other.id, "x", None, {})])


def test_verify_catches_rows_changed_behind_its_back(filled, cli):
    assert cli("verify")[0] == 0
    con = duckdb.connect(str(filled.path))
    con.execute("UPDATE examples SET payload = replace(payload, 'answer 3', 'answer 4') "
                "WHERE payload LIKE '%answer 3%'")
    con.execute("DELETE FROM members WHERE example_key = 5")
    con.close()
    code, out, err = cli("verify")
    assert code == 5
    assert "its payload does not hash to its id" in out
    assert "a version's example count matches its members: not so for support@1, 10, 9" in out
    assert "2 problem(s) in 10 examples" in err


def test_runs_are_recorded_with_status_config_and_stats(filled, tmp_path, cli):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": ""}])
    assert cli("ingest", bad, "-d", "support")[0] == 1
    code, out, _ = cli("runs", "--json")
    runs = orjson.loads(out)
    assert [r["status"] for r in runs] == ["failed", "ok"]
    assert runs[0]["error"].endswith("bad.jsonl:1: text: content is empty")
    assert runs[1]["stats"] and orjson.loads(runs[1]["stats"])["version"] == "support@1"
    assert orjson.loads(runs[1]["config"])["format"] == "auto"


def test_a_writer_lock_that_may_wait_gets_the_store_when_the_holder_lets_go(tmp_path):
    import threading
    import time

    from gristmill.errors import StoreLocked
    from gristmill.store.lock import WriterLock

    path = tmp_path / "store.duckdb"
    holder = WriterLock(path, "first")
    holder.acquire()
    with pytest.raises(StoreLocked, match=r"\(first\)"):
        WriterLock(path, "second").acquire()  # no wait: fails at once
    threading.Timer(0.5, holder.release).start()
    started = time.monotonic()
    with WriterLock(path, "patient", wait=10):
        waited = time.monotonic() - started
    assert 0.4 < waited < 5
