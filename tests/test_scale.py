"""The Ray engine on a real local Ray cluster (a head node and a worker node, one CPU each): the
distributed pieces against their single-process counterparts, the default recipe against the
single-process run on the demo data, and a worker killed in the middle of a run."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from gristmill.store.db import Store
from gristmill.store.inspect import lineage
from gristmill.store.versions import resolve

from .conftest import S3_KEYS, assert_accounted, chat, run_gristmill, s3_uri, write_jsonl

pytestmark = pytest.mark.e2e
RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """`ray start --head` and a second node joining it, on this machine; stopped afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray")
    # a token of its own, which the nodes, this driver and the CLI runs it starts all read: the
    # cluster never depends on one a machine happens to hold in ~/.ray
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(32))
    before = {name: os.environ.get(name) for name in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")}
    # subtle: both, since gristmill.scale may have been imported (and chosen the mode) already
    os.environ |= {"RAY_AUTH_TOKEN_PATH": str(token), "RAY_AUTH_MODE": "token"}
    # the nodes' workers read s3:// paths with the test server's stand-in keys
    env = os.environ | S3_KEYS | {"RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--object-store-memory=400000000",
              "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                        f"--temp-dir={temp}", *common], check=True, env=env, capture_output=True)
        subprocess.run([RAY, "start", f"--address={address}", *common], check=True, env=env,
                       capture_output=True)
        yield address
    finally:
        import ray

        ray.shutdown()  # a driver left attached dies with the cluster: Ray exits its process
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def connected(ray_cluster):
    from gristmill.scale.cluster import connect

    connect(ray_cluster)
    import ray

    assert ray.cluster_resources()["CPU"] == 2  # two nodes, one CPU each
    yield
    ray.shutdown()


def test_distributed_components_equal_union_find(connected):
    import ray

    from gristmill.curation.clusters import components as union_find
    from gristmill.scale.components import components

    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 3000, 2500), rng.integers(0, 3000, 2500)
    chain = np.arange(10_000, 10_700)  # a long path: the case label propagation is slow on
    a, b = np.concatenate([a, chain[:-1]]), np.concatenate([b, chain[1:]])
    parts = [ray.put({"a": x, "b": y}) for x, y in zip(np.array_split(a, 3), np.array_split(b, 3),
                                                         strict=True)]
    got = {}
    for frame in ray.get(components(parts, 4)):
        for node, root in zip(frame["node"].tolist(), frame["root"].tolist(), strict=True):
            assert node not in got
            got[node] = root
    want = {x: root for root, members in union_find(np.stack([a, b], 1)).items()
            for x in members}
    assert got == want


def chain_of(store: Store, ref: str) -> list:
    """Every version from the input to `ref`: its step, member ids and keys, removal records
    and splits."""
    out = []
    with store.read() as con:
        for v in lineage(con, resolve(con, ref))[::-1]:
            def rows(sql: str, version_id: int = v.version_id) -> list:
                return sorted(con.execute(sql, [version_id]).fetchall())

            removals = [(i, reason, message, orjson.loads(ev) if ev else None) for i, reason, message, ev
                        in rows("SELECT e.id, reason, message, evidence FROM removals r JOIN "
                                "examples e ON e.key = r.example_key WHERE version_id = ?")]
            out.append({"ref": v.ref, "step": v.step, "config": v.config_hash,
                        "members": rows("SELECT e.key, e.id FROM members m JOIN examples e ON "
                                        "e.key = m.example_key WHERE version_id = ?"),
                        "removals": sorted(removals, key=repr),
                        "splits": rows("SELECT e.id, s.split FROM splits s JOIN examples e ON "
                                       "e.key = s.example_key WHERE version_id = ?")})
    return out


def _ingested(root: Path, files) -> Store:
    from gristmill.store.ingest import ingest

    store = Store(root / "gristmill.duckdb")
    ingest(store, [files.chats], "support", on_error="skip", progress=False)
    ingest(store, [files.golden], "golden", progress=False)
    return store


def _curate_args(store: Store, address: str) -> list[str]:
    from gristmill.demo_command import demo_overrides

    sets = [x for o in demo_overrides() for x in ("--set", o)]
    return ["curate", "support", "--recipe", "sft", *sets, "--engine", "ray", "--address", address,
            "--store", str(store.path)]


def test_the_default_recipe_on_ray_makes_the_single_process_versions_through_a_killed_worker(
        curated_demo, ray_cluster, tmp_path):
    """The demo data through the default recipe on the cluster, with the worker of a running
    task killed twice: Ray runs the lost tasks again and the versions equal the single-process
    run's, or the run fails and the store holds what it held before (then a clean run must
    equal it)."""
    single, files, _, final = curated_demo
    store = _ingested(tmp_path, files)
    work = tmp_path / "work"
    args = [sys.executable, "-m", "gristmill", *_curate_args(store, ray_cluster), "--work", str(work)]
    run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = _kill_running_tasks(run, times=2)
    out, err = run.communicate(timeout=900)
    assert killed, "no task ran long enough to be killed"
    if run.returncode != 0:
        with store.read() as con:
            assert con.execute("SELECT count(*) FROM versions WHERE dataset = 'support'"
                               ).fetchone() == (1,)
            assert con.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1"
                               ).fetchone() == ("failed",)
        done = run_gristmill(*args[3:])
        out, err = done.stdout, done.stderr
        assert done.returncode == 0, err[-3000:]
    assert "done on the cluster" in err
    last = out.strip().splitlines()[-1].split(" -> ")[-1].split(":")[0]
    ours, theirs = chain_of(store, last), chain_of(single, final.ref)
    assert [v["step"] for v in ours][1:] == [
        "pii", "exact_dedup", "minhash_dedup", "semantic_dedup", "structure", "length",
        "repetition", "refusals", "json_valid", "leakage", "split"]
    assert sum(len(v["removals"]) for v in ours) > 20  # every dedup and the leakage check removed
    for mine, want in zip(ours, theirs, strict=True):
        assert mine == want, mine["ref"]
    with store.read() as con:
        for parent, child in zip(ours, ours[1:], strict=False):
            assert_accounted(con, resolve(con, parent["ref"]).version_id,
                             resolve(con, child["ref"]).version_id)
    import pyarrow.parquet as pq

    output = pq.read_table(work / "output")  # the result as Parquet, beside the store's version
    assert sorted(output.column("id").to_pylist()) == sorted(i for _, i in ours[-1]["members"])
    again = run_gristmill(*_curate_args(store, ray_cluster))
    assert again.returncode == 0 and again.stdout.count("(reused)") == 11


def _kill_running_tasks(run: subprocess.Popen, times: int) -> list[int]:
    """SIGKILL the worker of a task that has run for a second, `times` times, 15 s apart."""
    killed: list[int] = []
    seen: dict[int, float] = {}
    last = 0.0
    while run.poll() is None and len(killed) < times:
        now = time.monotonic()
        busy = _task_workers()
        seen = {p: seen.get(p, now) for p in busy}
        ripe = [p for p, since in seen.items() if now - since >= 1.0]
        if ripe and now - last >= 15:
            os.kill(ripe[0], signal.SIGKILL)
            killed.append(ripe[0])
            last = now
        time.sleep(0.2)
    return killed


def _task_workers() -> list[int]:
    """Ray worker processes running one of the engine's tasks now."""
    found = subprocess.run(["pgrep", "-f", "^ray::_run"], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def test_a_run_reads_and_writes_its_parquet_through_an_s3_uri(ray_cluster, s3_endpoint, cli,
                                                             store, tmp_path):
    import pyarrow.parquet as pq

    from gristmill.store.datasets import filesystem

    chats = [chat(f"{'Where' if i % 2 else 'WHERE'} is order {i % 7}?{' ' * (i // 14)}",
                  f"On its way, {i % 7}.") for i in range(40)]  # 7 texts, 40 ways of writing them
    cli("ingest", write_jsonl(tmp_path / "a.jsonl", chats), "--dataset", "d")
    uri = s3_uri(s3_endpoint, "runs/d")
    code, out, err = cli("curate", "d", "--step", "exact_dedup", "--engine", "ray", "--address",
                         ray_cluster, "--work", uri, "--partitions", "3")
    assert code == 0, err
    assert "kept 7, dropped 33" in out
    fs, path = filesystem(uri)
    for name, rows in (("input", 40), ("output", 7)):
        files = [f"{path}/{name}/part-{i:05d}.parquet" for i in range(3)]
        assert sum(pq.read_table(f, filesystem=fs).num_rows for f in files) == rows


def test_a_step_failing_on_the_cluster_fails_the_run_with_nothing_committed(ray_cluster, cli,
                                                                            store, tmp_path):
    cli("ingest", write_jsonl(tmp_path / "a.jsonl", [chat(f"q{i}", "a") for i in range(9)]),
        "--dataset", "d")
    code, _, err = cli("curate", "d", "--recipe", _recipe(tmp_path), "--engine", "ray",
                       "--address", ray_cluster)
    assert code == 1 and "a task failed on the cluster, nothing was committed" in err
    assert "no-such-tokenizer" in err
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM versions").fetchone() == (1,)
        assert con.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1").fetchone() \
            == ("failed",)


def _recipe(tmp_path: Path) -> Path:
    """exact_dedup, then a length filter whose tokenizer exists on no node."""
    path = tmp_path / "recipe.yaml"
    path.write_text("steps:\n  - exact_dedup: {}\n  - length:\n      max_tokens: 10\n"
                    "      tokenizer: /no-such-tokenizer\n")
    return path


def test_the_engine_refuses_what_it_cannot_do(cli, store, tmp_path):
    cli("ingest", write_jsonl(tmp_path / "a.jsonl", [chat("q", "a")]), "--dataset", "d")
    code, _, err = cli("curate", "d", "--step", "structure", "--address", "auto")
    assert code == 2 and "--engine ray" in err
    code, _, err = cli("curate", "d", "--step", "structure", "--engine", "ray", "--dry-run")
    assert code == 2 and "--dry-run" in err
    assert shutil.which(RAY)
