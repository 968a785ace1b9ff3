"""The eval report renderers: the Markdown summary as text, the HTML page in a real headless browser
(system chromium via playwright): no script errors, no network, charts drawn, model outputs inert."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gristmill.evals.report_html import page
from gristmill.evals.report_md import markdown, pval
from tests.eval_report_sample import INJECTED, full_report, sparse_report


def _cells(line: str) -> list[str]:
    """A GFM table row split on unescaped pipes."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_has_verdict_gates_and_metrics():
    report = full_report()
    md = markdown(report)
    assert md.startswith("# Eval `support-golden` run 7: **WARN**\n")
    for g in report["gates"]:
        assert f"| `{g['name']}` | **{g['status']}** |" in md
    assert "| task | metric | candidate | baseline | diff [95% CI] | relative | p | gate |" in md
    assert ("| `support` | `rouge_l` | 0.410 [0.380, 0.440] | 0.390 [0.360, 0.420] | "
            "+0.020 [+0.005, +0.035] | +5.1% | 0.210 | ok |") in md
    assert "| 1.20e-05 |" in md  # p-values to 3 significant digits


def test_markdown_escapes_pipes_in_cells():
    md = markdown(full_report())
    assert "| change +5.1% vs baseline \\| p = 0.21 |" in md
    assert "- baseline \\| candidate tokenizers differ" in md
    for table in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        widths = {len(_cells(line)) for line in table.splitlines()}
        assert len(widths) == 1, table


def test_markdown_sparse_has_no_diff_columns():
    md = markdown(sparse_report())
    assert "**ERROR**" in md and "no baseline" in md
    assert "| task | metric | candidate | gate |" in md
    assert "## Judge" not in md and "## Contamination" not in md
    assert "No gates." in md


def test_number_formats():
    assert [pval(0.21), pval(0.000012), pval(1.0), pval(None)] == ["0.210", "1.20e-05", "1.00", "—"]


def test_html_escapes_model_outputs():
    html = page(full_report())
    assert INJECTED not in html and "&lt;script&gt;window.__pwned" in html
    assert "<img" not in html and html.count("<script>") == 1  # only the table sorter


@pytest.fixture(scope="module")
def browser():
    """One headless system chromium for the module; None without one, so that each browser test
    fails (not errors, never skips) with the fix in its message."""
    chromium = shutil.which("chromium")
    if chromium is None:
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True)
        yield b
        b.close()


def _open(browser, tmp_path: Path, report: dict):
    """The page loaded from a file, and the list that collects anything that went wrong."""
    if browser is None:
        pytest.fail("chromium is not on PATH: apt-get install chromium (the CI script installs it)")
    path = tmp_path / "report.html"
    path.write_text(page(report), encoding="utf-8")
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    tab.on("request", lambda r: r.url.startswith("file:") or problems.append(f"request: {r.url}"))
    tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.goto(path.as_uri())
    return tab, problems


def _charts(tab) -> list[dict]:
    charts = tab.locator("svg.chart")
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    assert all(charts.nth(i).is_visible() for i in range(charts.count()))
    return [b for b in boxes if b and b["width"] > 0 and b["height"] > 0]


def test_html_full_report_in_browser(browser, tmp_path):
    tab, problems = _open(browser, tmp_path, full_report())
    verdict = tab.locator("#verdict")
    assert verdict.is_visible() and verdict.inner_text() == "WARN"
    assert verdict.get_attribute("data-verdict") == "warn"
    assert len(_charts(tab)) == 2  # one per task: support, intent
    for chart in tab.locator("svg.chart").all():
        assert chart.get_attribute("role") == "img" and "95% intervals" in chart.get_attribute("aria-label")
    assert tab.locator("svg.winrate").count() == 1
    for sid in ("gates", "metrics", "slices", "judge", "classification", "contamination", "worst"):
        assert tab.locator(f"section#{sid}").is_visible(), sid
    # the injected script shows as text and never ran
    assert tab.get_by_text(INJECTED).is_visible()
    assert tab.evaluate("window.__pwned") is None
    tab.locator("section#worst details").nth(1).locator("summary").click()  # the <img onerror> one
    assert tab.get_by_text('<img src="http://evil.invalid/x.png"').is_visible()
    # the sorter works: p ascending puts the smallest p first
    table = tab.locator("section#metrics table").first
    table.get_by_role("columnheader", name="p", exact=True).click()
    assert table.locator("tbody tr").first.locator("td").first.inner_text().startswith("exact_match")
    tab.close()
    assert problems == []


def test_html_sparse_report_in_browser(browser, tmp_path):
    tab, problems = _open(browser, tmp_path, sparse_report())
    assert tab.locator("#verdict").inner_text() == "ERROR"
    assert len(_charts(tab)) == 2
    assert tab.locator("section#judge, section#contamination, section#classification").count() == 0
    assert "difference" not in tab.locator("section#metrics").inner_text()
    assert tab.get_by_text("No gates were configured.").is_visible()
    tab.locator("section#metrics th").first.click()
    tab.close()
    assert problems == []
