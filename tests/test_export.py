import gzip
import os
import stat

import orjson
import pytest

from gristmill.store import commands
from gristmill.store.export import EXPORT_FORMATS
from gristmill.store.formats import FORMATS
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl

TOOL_CHAT = {"messages": [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    {"role": "assistant", "content": "Sunny."}]}


@pytest.fixture
def filled(store, tmp_path):
    chats = [chat(f"q{i}", f"a{i}", system="sys" if i % 2 else None) for i in range(6)]
    ingest(store, [write_jsonl(tmp_path / "chats.jsonl", chats)], "chats")
    ingest(store, [write_jsonl(tmp_path / "tool.jsonl", [TOOL_CHAT])], "tools")
    prefs = [{"prompt": f"p{i}", "chosen": "good", "rejected": "bad"} for i in range(3)]
    ingest(store, [write_jsonl(tmp_path / "prefs.jsonl", prefs)], "prefs")
    ingest(store, [write_jsonl(tmp_path / "text.jsonl", [{"text": "t1"}, {"text": "t2"}])], "text")
    return store


def member_ids(store, ref):
    from gristmill.store.versions import resolve

    with store.read() as con:
        v = resolve(con, ref)
        return sorted(r[0] for r in con.execute(
            "SELECT e.id FROM members m JOIN examples e ON e.key = m.example_key "
            "WHERE m.version_id = ?", [v.version_id]).fetchall())


@pytest.mark.parametrize("ref, fmt, name", [
    ("chats", "openai", "out.jsonl"), ("chats", "sharegpt", "out.jsonl"),
    ("chats", "alpaca", "out.jsonl.gz"), ("chats", "gristmill", "out.jsonl"),
    ("tools", "openai", "out.jsonl"), ("prefs", "preference", "out.jsonl"),
    ("text", "text", "out.jsonl"), ("prefs", "parquet", "out.parquet"),
    ("chats", "hf", "out_hf"), ("prefs", "hf", "out_hf"),
])
def test_an_exported_file_ingests_back_to_the_same_ids(filled, tmp_path, cli, ref, fmt, name):
    out = tmp_path / name
    code, stdout, _ = cli("export", ref, "-o", out, "--format", fmt)
    assert code == 0 and f"examples of {ref}@1 to {out} ({fmt})" in stdout
    assert cli("ingest", out, "-d", f"back_{fmt}")[0] == 0
    assert member_ids(filled, f"back_{fmt}") == member_ids(filled, ref)


def test_openai_export_is_the_chat_jsonl_trainers_read(filled, tmp_path):
    from gristmill.cli import main

    out = tmp_path / "train.jsonl.gz"
    assert main(["export", "chats", "-o", str(out), "--store", str(filled.path)]) == 0
    first = orjson.loads(gzip.open(out).readline())
    assert first == {"messages": [{"content": "q0", "role": "user"},
                                  {"content": "a0", "role": "assistant"}]}
    assert not list(tmp_path.glob(".*partial"))


def test_what_a_format_cannot_hold_stops_the_export_unless_skipped(filled, tmp_path, cli):
    out = tmp_path / "t.jsonl"
    code, _, err = cli("export", "tools", "-o", out, "--format", "sharegpt")
    assert code == 1 and "cannot be written as sharegpt" in err and "--skip-unsupported" in err
    assert not out.exists()
    code, stdout, _ = cli("export", "tools", "-o", out, "--format", "sharegpt",
                          "--skip-unsupported")
    assert code == 0 and "0 examples" in stdout and "1 left out as unsupported" in stdout


def test_the_cli_offers_the_formats_the_library_has():
    assert set(commands.FORMATS) == {"auto", *FORMATS}
    assert set(commands.EXPORT_FORMATS) == set(EXPORT_FORMATS)


def test_export_never_replaces_a_folder_it_did_not_write(filled, tmp_path, cli):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    for fmt in ("openai", "hf"):
        code, _, err = cli("export", "chats", "-o", precious, "--format", fmt)
        assert code == 2 and "is a folder that gristmill export did not write" in err
    assert (precious / "notes.txt").read_text() == "keep me"
    again = tmp_path / "ds"
    assert cli("export", "chats", "-o", again, "--format", "hf")[0] == 0
    assert cli("export", "chats", "-o", again, "--format", "hf")[0] == 0  # its own output


def test_export_refuses_the_store_devices_fifos_and_links_with_one_message(filled, tmp_path, cli):
    store = filled.path
    before = store.read_bytes()
    (tmp_path / "real.jsonl").write_text("someone's data\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    os.mkfifo(tmp_path / "pipe")
    os.link(store, tmp_path / "hard.duckdb")
    refused = {store: "is the store's own file", f"{store}.wal": "is the store's own file",
               tmp_path / "hard.duckdb": "is the store's own file",
               "/dev/null": "is a device", tmp_path / "pipe": "is a FIFO",
               tmp_path / "link.jsonl": "is a symbolic link"}
    for path, why in refused.items():
        for force in ([], ["--force"]):
            code, out, err = cli("export", "chats", "-o", path, *force)
            assert (code, out) == (2, ""), (path, err)
            assert err == f"gristmill export: {path} {why}" + (
                "; export to a new path\n" if "store" in why else
                "; export writes a regular file (`-o -` writes to standard output)\n")
    assert store.read_bytes() == before and not os.path.exists(f"{store}.wal")
    assert (tmp_path / "real.jsonl").read_text() == "someone's data\n"
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


def test_export_replaces_its_own_output_and_another_file_only_with_force(filled, tmp_path, cli):
    own, other = tmp_path / "train.jsonl", tmp_path / "notes.jsonl"
    assert cli("export", "chats", "-o", own)[0] == 0
    assert cli("export", "chats@1", "-o", own)[0] == 0  # a re-run: its own earlier output
    other.write_text("keep me\n")
    code, _, err = cli("export", "chats", "-o", other)
    assert code == 2 and err == (f"gristmill export: {other} exists and is a file that gristmill "
                                 "export did not write; name a new path, or pass --force to "
                                 "replace it\n")
    assert other.read_text() == "keep me\n"
    assert cli("export", "chats", "-o", other, "--force")[0] == 0
    assert len(other.read_text().splitlines()) == 6
    assert not list(tmp_path.glob(".*.partial"))


def test_export_to_dash_writes_standard_output(filled, cli, tmp_path):
    code, out, err = cli("export", "chats", "-o", "-")
    answers = sorted(orjson.loads(line)["messages"][-1]["content"] for line in out.splitlines())
    assert code == 0 and answers == [f"a{i}" for i in range(6)]
    assert err == "exported 6 examples of chats@1 to standard output (openai)\n"
    assert not (tmp_path / "-").exists()
    code, _, err = cli("export", "chats", "-o", "-", "--format", "parquet")
    assert code == 2 and "takes a JSON Lines format" in err


def test_a_parquet_dataset_is_hive_partitioned_and_read_whole_by_other_engines(filled, tmp_path,
                                                                               cli):
    import duckdb
    import pyarrow.dataset as ds

    code, _, err = cli("curate", "chats", "--step", "split", "--set", "train=0.5",
                       "--set", "val=0.25", "--set", "test=0.25")
    assert code == 0, err
    out = tmp_path / "chats-parquet"
    code, stdout, err = cli("export", "chats", "-f", "parquet", "-o", out, "--rows-per-file", "2")
    assert code == 0, err
    splits = sorted(p.name for p in out.iterdir())
    assert splits == [f"split={s}" for s in ("test", "train", "val")]
    assert len(list((out / "split=train").glob("*.parquet"))) >= 2  # rows per file held
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    got = duckdb.sql(f"SELECT id, split FROM read_parquet('{out}/**/*.parquet', "
                     "hive_partitioning = true) ORDER BY id").fetchall()
    assert sorted(zip(table.column("id").to_pylist(), table.column("split").to_pylist(),
                      strict=True)) == got
    assert sorted(i for i, _ in got) == member_ids(filled, "chats")
    with filled.read() as con:  # each row in the split the store gave it
        want = sorted(con.execute(
            "SELECT e.id, s.split FROM splits s JOIN examples e ON e.key = s.example_key "
            "WHERE s.version_id = (SELECT max(version_id) FROM versions WHERE dataset = 'chats')"
        ).fetchall())
    assert got == want
    code, _, err = cli("ingest", *sorted(out.glob("*/*.parquet")), "--dataset", "back")
    assert code == 0, err
    assert member_ids(filled, "back") == member_ids(filled, "chats")  # payloads ingest back
    code, _, err = cli("export", "chats", "-f", "parquet", "-o", out)
    assert code == 1 and "exists" in err
    code, _, err = cli("export", "chats", "-f", "openai", "-o", "s3://bucket/x.jsonl")
    assert code == 2 and "URI" in err


def test_a_parquet_dataset_goes_to_object_storage_through_an_s3_uri(filled, cli, s3_endpoint):
    import pyarrow.dataset as ds

    from gristmill.store.datasets import filesystem

    from .conftest import s3_uri

    uri = s3_uri(s3_endpoint, "exports/chats")
    code, out, err = cli("export", "chats", "-f", "parquet", "-o", uri, "--partition-by", "kind")
    assert code == 0, err
    fs, path = filesystem(uri)
    table = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive",
                       exclude_invalid_files=True).to_table()
    assert sorted(table.column("id").to_pylist()) == member_ids(filled, "chats")
    assert set(table.column("kind").to_pylist()) == {"chat"}
    assert fs.get_file_info(f"{path}/_SUCCESS").size == 0  # written last: the dataset is whole
