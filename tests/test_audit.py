"""`gristmill audit`: the seeds' pre-training checks and the HTML page."""

import json

from gristmill.curation.recipe import single_step
from gristmill.curation.runner import curate
from gristmill.curation.tokens import TokenCounter
from gristmill.example import Example
from gristmill.store.ingest import ingest

from .conftest import chat, write_jsonl


def test_audit_reports_each_check_and_writes_a_page(store, tmp_path, cli):
    records = [chat(f"Question {i}: where is order {i * 13}?", f"It ships on day {i}.")
               for i in range(60)]
    records += [chat("QUESTION 3: where is order 39?", "It ships on day 3!")]  # a normalized copy
    path = write_jsonl(tmp_path / "s.jsonl", records)
    ingest(store, [path], "s", tags={"label": "billing"}, progress=False)
    html = tmp_path / "audit.html"
    code, out, err = cli("audit", "s", "--html", html, "--label", "label", "--json", "--strict")
    report = json.loads(out)
    checks = {c["name"]: c for c in report["checks"]}
    assert code == 1 and "audit of s@1: 1 failed (duplicates)" in err
    assert checks["format"]["status"] == "ok"
    assert checks["duplicates"]["details"]["conversations"] == 1
    assert checks["label balance"]["details"]["counts"] == {"billing": 61}
    assert checks["split overlap"]["status"] == "skipped"
    page = html.read_text()
    assert page.count("<svg") == 2 and "Pre-training audit of s@1" in page

    curate(store, "s", [single_step("exact_dedup", ["normalize=[nfkc, case, whitespace, "
                                                    "punctuation]"]), single_step("split")])
    counter = TokenCounter("smollm2")
    counts = sorted(counter.count([Example.chat(r["messages"]) for r in records[:60]]))
    limit = counts[0]
    code, out, _ = cli("audit", "s", "--html", html, "--json", "--strict", "--tokenizer", "smollm2",
                       "--max-tokens", limit)
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 0 and checks["duplicates"]["status"] == "ok"
    tokens = checks["tokenization"]
    assert tokens["status"] == "warn" and not tokens["details"]["failed"]
    assert tokens["details"]["over"] == sum(c > limit for c in counts) > 0
    assert tokens["details"]["tokens"]["max"] == counts[-1]
    assert checks["split overlap"]["status"] == "ok"
    assert checks["split overlap"]["details"]["pairs"] == {"test/train": 0, "test/val": 0,
                                                           "train/val": 0}
