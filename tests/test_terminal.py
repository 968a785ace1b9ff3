"""Names are the user's bytes: one holding escape sequences never reaches the terminal raw (it
would clear the screen and retitle the window), while --json keeps it exact."""

from __future__ import annotations

import orjson
import pytest

from gristmill.output import printable, table
from gristmill.redact import redacted
from tests.conftest import chat, write_jsonl

NASTY = "\x1b[2J\x1b]0;pwned\x07\r\x08\x7f\x9b"  # clear screen, set title, CR, BS, DEL, CSI
RAW = ("\x1b", "\x07", "\r", "\x08", "\x7f", "\x9b")


def _clean(text: str) -> None:
    assert not [c for c in RAW if c in text], repr(text)


def test_printable_escapes_controls_and_keeps_lines_only_when_asked():
    assert printable("a\x1b[2Jb\x07\tc\nd\r") == "a\\x1b[2Jb\\x07\tc\nd\\r"
    assert printable("a\tb\nc\x9b", lines=False) == "a\\tb\\nc\\x9b"
    assert printable("café ✓ naïve") == "café ✓ naïve"  # printable Unicode passes
    assert table(["NAME"], [["x\ny\x1b"]]) == "NAME\nx\\ny\\x1b"  # one row stays one row


def test_escape_sequences_in_a_file_name_never_reach_the_terminal(cli, tmp_path):
    good = write_jsonl(tmp_path / f"{NASTY}.jsonl",
                       [chat("q", "a"), {"messages": "not a list"}, chat("q2", "a2")])
    code, out, err = cli("ingest", good, "-d", "names")  # fails at the bad record, naming the file
    assert code == 1 and "\\x1b[2J\\x1b]0;pwned\\x07" in err
    _clean(out + err)
    code, out, err = cli("ingest", good, "-d", "names", "--on-error", "skip", "--tag", f"t={NASTY}")
    assert code == 0, err
    _clean(out + err)
    for args in (["ls"], ["log", "names"], ["show", "names"], ["runs"], ["rejects"],
                 ["removed", "names"], ["diff", "names@1", "names"], ["verify"]):
        code, out, err = cli(*args)
        assert code == 0, (args, err)
        _clean(out + err)
    code, out, _ = cli("show", "names")
    assert f"{printable(str(good), lines=False)}: 2 examples" in out
    code, out, err = cli("show", "names", "--json")
    _clean(out + err)  # JSON escapes (\u001b), never the raw bytes
    assert orjson.loads(out)["sources"][0]["source"] == str(good)
    code, out, _ = cli("rejects", "--json")
    assert orjson.loads(out)["rejects"][0]["source"] == str(good)
    _clean(out)
    code, out, _ = cli("runs", "--json")
    assert str(good) in orjson.loads(out)[-1]["error"]  # the failed ingest's error, exact
    _clean(out)


def test_a_dataset_name_with_controls_is_refused_in_one_clean_line(cli, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")])
    code, out, err = cli("ingest", path, "-d", f"bad{NASTY}")
    assert code == 2 and len(err.splitlines()) == 1
    _clean(out + err)


@pytest.mark.parametrize("text, shown", [
    ("http://user:sk-abcdefghijklmnopqrst@host/v1", "http://host/v1"),
    ("https://token@example.com/x?y=1", "https://example.com/x?y=1"),
    ("Incorrect API key provided: Basic dXNlcjpwYXNz", "Incorrect API key provided: Basic [redacted]"),
    ("got Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "got Bearer [redacted]"),
    ("'Authorization': 'Token abc'", "'Authorization': 'Token [redacted]'"),
    ("s3://b/k?access_key=test&secret_key=test&scheme=http",
     "s3://b/k?access_key=[redacted]&secret_key=[redacted]&scheme=http"),
    ("id AKIAIOSFODNN7EXAMPLE, hf_" + "a1" * 17, "id [redacted], [redacted]"),
    ('{"api_key": "abc", "password": "hunter2", "use_token": true}',
     '{"api_key": "[redacted]", "password": "[redacted]", "use_token": true}'),
    ("key=Zt7yQ2mX9pL4vR8sK3 key=train token=abc", "key=[redacted] key=train token=abc"),
])
def test_credentials_are_redacted(text, shown):
    assert redacted(text) == shown


@pytest.mark.parametrize("text", [
    "Basic questions about a Bearer instrument, basic math",
    "example_key=12 max_tokens=12 api_key_env: OPENAI_API_KEY task-force sk-learn",
    "the id " + "f" * 64 + " duplicates " + "0123456789abcdef" * 4,
    "mail a@b.com about http://host/v1 and ssh git@host:repo",
])
def test_ordinary_text_and_hashes_pass_unchanged(text):
    assert redacted(text) == text


def test_known_secrets_are_redacted_whatever_they_look_like():
    assert redacted("echo: hunter22 and hunter22", ["hunter22"]) == "echo: [redacted] and [redacted]"
