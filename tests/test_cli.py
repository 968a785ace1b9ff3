import argparse
import subprocess
import sys

import orjson

from gristmill.cli import build_parser

from .conftest import chat, run_gristmill, write_jsonl

HEAVY = ("torch", "transformers", "presidio_analyzer", "sentence_transformers", "duckdb",
         "pyarrow", "polars", "datasets")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_has_help_text():
    parser = build_parser()
    commands = _subcommands(parser)
    assert {"init", "ingest", "ls", "log", "show", "diff", "removed", "export", "verify", "runs",
            "rejects", "demo"} <= set(commands)
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {c.dest: c.help for c in sub._choices_actions}
    for name, command in commands.items():
        assert summaries[name], f"{name} has no summary line"
        assert command.description, f"{name} has no description"
        for action in command._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_help_loads_no_heavy_library():
    code = ("import sys; from gristmill.cli import build_parser; p = build_parser();"
            "[p.parse_known_args([c, '--help']) for c in []];"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_subcommand_help_runs_without_heavy_imports():
    for name in _subcommands(build_parser()):
        code = ("import sys, contextlib, io\nfrom gristmill.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    try: main([{name!r}, '--help'])\n    except SystemExit: pass\n"
                f"print([m for m in {HEAVY!r} if m in sys.modules])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == "[]", name


def test_usage_errors_exit_2_and_user_errors_exit_1(tmp_path):
    assert run_gristmill("ingest").returncode == 2
    missing = run_gristmill("ingest", tmp_path / "nope.jsonl", "-d", "x",
                            "--store", tmp_path / "s.duckdb")
    assert missing.returncode == 1
    assert missing.stderr == f"gristmill ingest: no such file: {tmp_path / 'nope.jsonl'}\n"


def test_store_comes_from_the_flag_then_the_environment(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")])
    env_store = tmp_path / "env.duckdb"
    import os

    env = {**os.environ, "GRISTMILL_STORE": str(env_store)}
    assert run_gristmill("ingest", path, "-d", "x", env=env).returncode == 0
    assert env_store.exists()
    listing = run_gristmill("ls", "--json", env=env)
    assert [d["latest"] for d in orjson.loads(listing.stdout)] == ["x@1"]
    assert listing.stderr.strip() == "1 dataset(s)"
    assert run_gristmill("--store", tmp_path / "other.duckdb", "ls").returncode == 1
    before = run_gristmill("--store", env_store, "ls", "--json", env={**os.environ, "GRISTMILL_STORE": ""})
    assert [d["latest"] for d in orjson.loads(before.stdout)] == ["x@1"]  # before the command too


def test_listing_commands_speak_json_and_end_with_one_summary_line(cli, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [chat("q", "a"), chat("q", "a"),
                                              chat("q2", "a2", system="s")])
    assert cli("ingest", path, "-d", "support")[0] == 0
    for args in (["ls"], ["log", "support"], ["show", "support"], ["runs"], ["rejects"],
                 ["removed", "support"], ["diff", "support@1", "support"], ["verify"]):
        code, out, err = cli(*args, "--json")
        assert code == 0, args
        orjson.loads(out)
        assert len(err.strip().splitlines()) == 1, args
    code, out, _ = cli("show", "support", "--json")
    shown = orjson.loads(out)
    assert shown["kinds"]["chat"]["with_system_prompt"] == 0.5
    assert shown["duplicate_records"] == 1
    assert shown["sources"] == [{"source": str(path), "examples": 2, "records": 3}]


def test_a_store_in_a_new_folder_is_created_and_os_errors_are_one_line(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")])
    deep = tmp_path / "new" / "folder" / "s.duckdb"
    assert run_gristmill("ingest", path, "-d", "x", "--store", deep).returncode == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    failed = run_gristmill("init", "--store", blocker / "s.duckdb")
    assert failed.returncode == 1
    assert failed.stderr == f"gristmill init: File exists ({blocker})\n"
