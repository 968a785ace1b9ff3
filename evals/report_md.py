"""An eval run's report as a short Markdown summary (for a PR comment or a chat message), and the
number formats it shares with the HTML page, so both say the same thing the same way.

Every string from the report is escaped: it holds model outputs, and a `|` in a cell would split
a table row, a `<` could open HTML in a renderer that allows it.
"""

from __future__ import annotations

import math
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&])")


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: float | None, signed: bool = False) -> str:
    """A mean or a difference: 3 decimals."""
    return "—" if missing(x) else f"{x:+.3f}" if signed else f"{x:.3f}"


def pct(x: float | None, signed: bool = False) -> str:
    return "—" if missing(x) else f"{x:+.1%}" if signed else f"{x:.1%}"


def pval(p: float | None) -> str:
    """3 significant digits, kept when they are zeros (0.210, 1.00e-05)."""
    return "—" if missing(p) else f"{p:#.3g}"


def interval(low: float | None, high: float | None, signed: bool = False, fmt=num) -> str:
    return "" if missing(low) or missing(high) else f"[{fmt(low, signed)}, {fmt(high, signed)}]"


def estimate(e: dict | None, fmt=num) -> str:
    """A mean with its 95% interval: `0.410 [0.380, 0.440]`."""
    if not e:
        return "—"
    return f"{fmt(e.get('mean'))} {interval(e.get('low'), e.get('high'), fmt=fmt)}".strip()


def difference(d: dict | None) -> str:
    if not d:
        return "—"
    return f"{num(d.get('diff'), True)} {interval(d.get('low'), d.get('high'), True)}".strip()


def better(d: dict | None, higher_is_better: bool) -> int:
    """+1 when the whole interval of the difference says better, -1 when it says worse, else 0."""
    if not d or missing(d.get("low")) or missing(d.get("high")):
        return 0
    sign = 1 if higher_is_better else -1
    if d["low"] > 0 or d["high"] < 0:
        return sign if d["low"] > 0 else -sign
    return 0


def when(created_at: str | None) -> str:
    return (created_at or "").replace("T", " ")


def text(s: Any) -> str:
    """Free text on one line with Markdown's special characters backslash-escaped."""
    return "" if s is None else _MD_SPECIAL.sub(r"\\\1", " ".join(str(s).split()))


def code(s: Any) -> str:
    """A name as a code span, fenced so a backtick inside cannot close it; `|` stays escaped
    because GFM splits table cells before it reads code spans."""
    s = " ".join(str(s).split()).replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def _side(side: dict | None) -> str:
    return f"{code(side['name'])} ({text(side.get('kind'))})" if side else "no baseline"


def markdown(report: dict) -> str:
    """The verdict, gates, metrics, judge and contamination in a few tables; the HTML page has the
    rest (slices, confusion matrices, outputs side by side)."""
    verdict = str(report.get("verdict") or "error").upper()
    out = [f"# Eval {code(report['suite'])} run {text(report.get('run_id'))}: **{text(verdict)}**", "",
           f"{_side(report['candidate'])} vs {_side(report.get('baseline'))}, "
           f"{text(when(report.get('created_at')))}", ""]
    gates = report.get("gates") or []
    out += ["## Gates", ""]
    out += _table(["gate", "status", "message"],
                  [[code(g["name"]), f"**{text(g['status'])}**", text(g.get("message"))] for g in gates]
                  ) if gates else ["No gates.", ""]
    metrics = report.get("metrics") or []
    if metrics:
        base = any(m.get("baseline") for m in metrics)
        head = ["task", "metric", "candidate"] + (["baseline", "diff [95% CI]", "relative", "p"]
                                                  if base else []) + ["gate"]
        rows = []
        for m in metrics:
            d = m.get("diff") or {}
            row = [code(m["task"]), code(m["metric"]), estimate(m.get("candidate"))]
            if base:
                row += [estimate(m.get("baseline")), difference(m.get("diff")),
                        pct(d.get("relative"), True), pval(d.get("p_value"))]
            rows.append(row + [text(m.get("gate") or "—")])
        out += ["## Metrics", "", *_table(head, rows)]
    out += _judge(report.get("judge"))
    c = report.get("contamination")
    if c:
        out += ["## Contamination", "", f"**{text(c.get('status'))}**: {text(c.get('message'))}"
                + (f" Checked: {', '.join(code(x) for x in c['checked'])}." if c.get("checked") else ""),
                ""]
        if c.get("override"):
            out += [f"Overridden: {text(c['override'])}", ""]
        if c.get("hits"):
            out += [f"{len(c['hits'])} hit(s), e.g. {code(c['hits'][0]['eval_id'])} in "
                    f"{code(c['hits'][0]['train_ref'])} ({text(c['hits'][0].get('method'))}).", ""]
    warnings = report.get("warnings") or []
    if warnings:
        out += ["## Warnings", "", *(f"- {text(w)}" for w in warnings), ""]
    return "\n".join(out).rstrip() + "\n"


def _judge(judge: dict | None) -> list[str]:
    if not judge:
        return []
    out = ["## Judge", ""]
    if judge.get("pairwise"):
        out += _table(["task", "n", "wins", "losses", "ties", "win rate [95% CI]", "swap consistency"],
                      [[code(p["task"]), str(p["n"]), str(p["wins"]), str(p["losses"]), str(p["ties"]),
                        estimate(p.get("win_rate"), pct), pct(p.get("swap_consistency"))]
                       for p in judge["pairwise"]])
    if judge.get("rubric"):
        out += _table(["task", "side", "scale", "mean [95% CI]", "n"],
                      [[code(r["task"]), text(r["side"]), text(r.get("scale")), estimate(r), str(r["n"])]
                       for r in judge["rubric"]])
    cal = judge.get("calibration")
    if cal:
        kappa = "—" if missing(cal.get("kappa")) else f"{cal['kappa']:.2f}"
        out += [f"Calibration against {text(cal.get('source'))}: agreement {pct(cal.get('agreement'))}, "
                f"Cohen's kappa {kappa} on {cal['n']} labels.", ""]
    if judge.get("repeats"):
        r = judge["repeats"]
        out += [f"Repeats: {r['n']} runs agree on {pct(r.get('per_item_agreement'))} of items.", ""]
    out += [f"- **warning**: {text(w)}" for w in judge.get("warnings") or []]
    return out + ([""] if judge.get("warnings") else [])
