"""Shared fixtures: a real DuckDB store in tmp_path and helpers to write input files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from gristmill.cli import main
from gristmill.store.db import Store


def chat(user: str, answer: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(
        (r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")


@pytest.fixture
def cli(store: Store, capsys):
    """Run `gristmill ARGS --store <the test store>` in-process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*map(str, args), "--store", str(store.path)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_gristmill(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a subprocess (for locks, kills and import checks)."""
    return subprocess.run([sys.executable, "-m", "gristmill", *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def assert_accounted(con, parent_id: int, child_id: int) -> None:
    """members(parent) = members(child) - added + removed: no example lost without a record."""
    def keys(sql: str, version_id: int) -> set[int]:
        return {k for (k,) in con.execute(sql, [version_id]).fetchall()}

    member_sql = "SELECT example_key FROM members WHERE version_id = ?"
    before, after = keys(member_sql, parent_id), keys(member_sql, child_id)
    removed = keys("SELECT example_key FROM removals WHERE version_id = ?", child_id)
    removed |= keys("SELECT old_key FROM transforms WHERE version_id = ?", child_id)
    added = keys("SELECT new_key FROM transforms WHERE version_id = ?", child_id)
    assert before == (after - added) | removed, (parent_id, child_id)
    assert not removed & after


DEMO_CHATS = 600  # the demo at a size CI can curate in a couple of minutes on 2 cores


@pytest.fixture(scope="session")
def curated_demo(tmp_path_factory):
    """The demo's support chats curated once with the default SFT recipe, shared by the tests
    that score steps against the planted labels: (store, demo files, outcomes, final version)."""
    from gristmill.curation.commands import recipe_path
    from gristmill.curation.recipe import load_recipe
    from gristmill.curation.runner import curate
    from gristmill.demo_command import demo_overrides
    from gristmill.demo_data import generate
    from gristmill.store.ingest import ingest
    from gristmill.store.versions import resolve

    root = tmp_path_factory.mktemp("demo")
    files = generate(root / "data", seed=0, n_chats=DEMO_CHATS)
    store = Store(root / "gristmill.duckdb")
    ingest(store, [files.chats], "support", on_error="skip", progress=False)
    ingest(store, [files.golden], "golden", progress=False)
    outcomes = curate(store, "support", load_recipe(recipe_path("sft"), demo_overrides()))
    with store.read() as con:
        final = resolve(con, outcomes[-1].output)
    return store, files, outcomes, final


@pytest.fixture(scope="session")
def llm_server():
    """The embedded llama.cpp server with SmolLM2, shared by the tests that call an LLM."""
    from gristmill.synth.server import LocalServer

    server = LocalServer(slots=4, context=8192)
    yield server
    server.stop()


def endpoint_file(path: Path, base_url: str, model: str, **settings) -> Path:
    """An endpoint YAML file for `--endpoint`."""
    import yaml

    path.write_text(yaml.safe_dump({"base_url": base_url, "model": model, **settings}))
    return path


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    from tests.train_fixtures import tiny_base

    return tiny_base(tmp_path_factory.mktemp("tiny-base"))


S3_KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}  # moto's stand-in credentials, not a real key


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3-compatible server (moto): host:port. URIs name it with `s3_uri`."""
    import os

    from moto.server import ThreadedMotoServer

    os.environ.update(S3_KEYS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def s3_uri(endpoint: str, path: str) -> str:
    return (f"s3://{path}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
            "&allow_bucket_creation=true")
