"""The Ray engine against the single-process engine: the same recipe on the same documents, in
the same run, and a paper model of 1 B documents on N nodes from the measured costs.

    .venv/bin/python bench/scale.py                       # 1,000,000 documents, and 10,000
    .venv/bin/python bench/scale.py --n 100000 --small 5000

Input: bench/minhash.py's documents (20-60 words, planted near copies and hard negatives),
ingested once into a store (untimed) that each run copies. Recipe: the steps that need no model,
in the default recipe's order: exact_dedup, minhash_dedup, structure, length, repetition, split
(PII and embeddings cost per example, the same on either engine, and spread over workers as
their partitions do).
Ours: `gristmill curate docs --recipe R --engine ray` on a local Ray cluster of this machine's
2 CPUs (starting it is timed). Baseline: the same command with the single-process engine. Both
results are checked equal (members and removal records). Printed: wall times and their ratio at
both sizes (the small one shows the engine's fixed cost), each step's seconds on each engine,
and the model.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import orjson
from measure import gib, run_measured
from minhash import stored, write_docs

HERE = Path(__file__).resolve().parent
RECIPE = """steps:
  - exact_dedup: {}
  - minhash_dedup: {}
  - structure: {}
  - length: {}
  - repetition: {}
  - split: {}
"""
RECORD_BYTES = {"exact_dedup": 120, "minhash_band": 24, "pair": 16, "edge_round": 64}


def run(store: Path, recipe: Path, engine: str) -> dict:
    """Curate a copy of `store`; wall time, peak memory, and per-step stats of the chain."""
    work = Path(tempfile.mkdtemp(dir=store.parent))
    copy = work / "store.duckdb"
    shutil.copy(store, copy)
    argv = [sys.executable, "-m", "gristmill", "curate", "docs", "--recipe", str(recipe),
            "--store", str(copy), "-q", "--engine", engine]
    seconds, peak, done = run_measured(argv)
    if done.returncode:
        sys.exit(f"{engine} failed:\n{done.stderr[-3000:]}")
    con = duckdb.connect(str(copy), read_only=True)
    chain = con.execute("SELECT version_id, step, stats FROM versions WHERE dataset = 'docs' "
                        "ORDER BY version_id").fetchall()
    last = chain[-1][0]
    members = {i for (i,) in con.execute("SELECT e.id FROM members m JOIN examples e ON "
                                         "e.key = m.example_key WHERE version_id = ?", [last]).fetchall()}
    removals = set(con.execute("SELECT example_key, step, reason, message, evidence FROM removals"
                               ).fetchall())
    con.close()
    shutil.rmtree(work)
    steps = {step: orjson.loads(stats) for _, step, stats in chain[1:]}
    return {"seconds": seconds, "peak": peak, "members": members, "removals": removals,
            "steps": steps}


def compare(n: int, recipe: Path) -> tuple[dict, dict]:
    shards, _ = write_docs(HERE / "data" / "minhash", n)
    store = stored(shards, n)
    one, ray = run(store, recipe, "local"), run(store, recipe, "ray")
    same = one["members"] == ray["members"] and one["removals"] == ray["removals"]
    print(f"\n{n:,} documents: single process {one['seconds']:.1f} s (peak {gib(one['peak'])}), "
          f"ray {ray['seconds']:.1f} s (peak {gib(ray['peak'])}): ratio "
          f"{one['seconds'] / ray['seconds']:.2f}x; same result: {same}")
    print(f"  {'step':<15}{'single s':>10}{'ray s':>10}")
    for step in one["steps"]:
        print(f"  {step:<15}{one['steps'][step]['seconds']:>10.1f}"
              f"{ray['steps'][step]['seconds']:>10.1f}")
    if not same:
        sys.exit("the engines disagree")
    return one, ray


def model(n: int, ray: dict, small: int, ray_small: dict, cores: int = 2) -> None:
    """Wall time of 1 B documents on N nodes of 32 cores and 25 Gbit/s, from this run's costs
    per document, each the difference between the two sizes (so Ray's start and other fixed
    costs drop out): each step's core-seconds (its seconds on `cores` CPUs), the bytes each
    shuffle moves, and the driver's share (export, commit) measured as the rest."""
    steps, few = ray["steps"], ray_small["steps"]
    extra = n - small
    per_doc = {s: max(0.0, v["seconds"] - few[s]["seconds"]) * cores / extra
               for s, v in steps.items()}
    mh = steps["minhash_dedup"]
    shuffled = (RECORD_BYTES["exact_dedup"] + mh["bands"] * RECORD_BYTES["minhash_band"]
                + 2 * RECORD_BYTES["pair"] * mh["candidate_pairs"] / n
                + RECORD_BYTES["edge_round"] * mh["edges"] / n)
    def rest(run: dict) -> float:
        return run["seconds"] - sum(v["seconds"] for v in run["steps"].values())

    driver = max(0.0, rest(ray) - rest(ray_small)) / extra
    total, bandwidth, node_cores = 1e9, 25e9 / 8, 32
    print(f"\npaper model, 1 B documents (per document: {sum(per_doc.values()) * 1e6:.1f} core-µs "
          f"in steps, {shuffled:.0f} B shuffled, {driver * 1e6:.1f} µs on the driver):")
    print(f"  {'nodes':>6}{'steps h':>10}{'shuffle h':>11}{'driver h':>10}{'total h':>9}")
    for nodes in (1, 4, 16, 64):
        compute = sum(per_doc.values()) * total / (nodes * node_cores) / 3600
        network = shuffled * total / (nodes * bandwidth) / 3600
        serial = driver * total / 3600
        print(f"  {nodes:>6}{compute:>10.2f}{network:>11.2f}{serial:>10.2f}"
              f"{compute + network + serial:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    recipe = HERE / "data" / "scale_recipe.yaml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(RECIPE)
    _, ray_small = compare(args.small, recipe)
    _, ray = compare(args.n, recipe)
    model(args.n, ray, args.small, ray_small)


if __name__ == "__main__":
    main()
