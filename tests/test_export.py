import gzip

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
        assert code == 1 and "is a folder that export will not replace" in err
    assert (precious / "notes.txt").read_text() == "keep me"
    again = tmp_path / "ds"
    assert cli("export", "chats", "-o", again, "--format", "hf")[0] == 0
    assert cli("export", "chats", "-o", again, "--format", "hf")[0] == 0  # its own output
