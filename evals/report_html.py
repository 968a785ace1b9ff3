"""An eval run's report as one self-contained HTML page: the verdict and gates first, then the
evidence (metric bars with 95% whiskers, slices, judge, contamination, the worst regressions side by
side). Inline CSS, inline SVG and a few lines of script to sort tables; no network, so it opens
anywhere and can be attached to a release review.

Every string from the report goes through `escape`: it holds model outputs, and an output that
says `<script>` must show as text.
"""

from __future__ import annotations

from gristmill.evals.html_parts import (
    CAND,
    CSS,
    RANK,
    SCRIPT,
    STATUS,
    callout,
    chart,
    e,
    matrix,
    n,
    pre,
    status,
    table,
    winbar,
)
from gristmill.evals.report_md import better, difference, estimate, missing, num, pct, pval, when


def page(report: dict) -> str:
    """The whole report; sections with nothing to show are left out."""
    parts = [(sid, title, html) for sid, title, build in _SECTIONS if (html := build(report))]
    nav = "".join(f"<a href='#{sid}'>{e(title)}</a>" for sid, title, _ in parts)
    body = "".join(f"<section id='{sid}'><h2>{e(title)}</h2>{html}</section>" for sid, title, html in parts)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>eval {e(report.get('suite'))} run {e(report.get('run_id'))}: "
            f"{e(str(report.get('verdict')).upper())}</title><style>{CSS}</style></head><body>"
            f"{header(report)}<nav>{nav}</nav>{body}<script>{SCRIPT}</script></body></html>\n")


def header(report: dict) -> str:
    verdict = str(report.get("verdict") or "error")
    colour = STATUS.get(verdict, "#757575")
    warnings = len(report.get("warnings") or []) + len((report.get("judge") or {}).get("warnings") or [])

    def side(label: str, s: dict | None) -> str:
        if not s:
            return f"<b>{label}</b> none (no comparison)"
        return (f"<b>{label}</b> <span style='color:{CAND if label == 'candidate' else '#616161'}'>"
                f"{e(s.get('name'))}</span> ({e(s.get('kind'))}) <span class='detail'>{e(s.get('detail'))}"
                "</span>")
    params = ", ".join(f"{e(k)}={e(v)}" for k, v in (report.get("params") or {}).items())
    return (f"<header><div id='verdict' data-verdict='{e(verdict)}' style='background:{colour}'>"
            f"{e(verdict.upper())}</div><div><h1>{e(report.get('suite'))} "
            f"<span class='detail'>run {e(report.get('run_id'))}</span></h1>"
            f"<p class='meta'>{side('candidate', report.get('candidate'))}<br>"
            f"{side('baseline', report.get('baseline'))}<br>{e(when(report.get('created_at')))}"
            + (f" · <span class='detail'>{params}</span>" if params else "")
            + (f" · <a href='#warnings'>{warnings} warning{'s' * (warnings != 1)}</a>" if warnings else "")
            + "</p></div></header>")


def metric_rows(metrics: list[dict], base: bool) -> list[list[str]]:
    rows = []
    for m in metrics:
        d = m.get("diff") or {}
        hib = m.get("higher_is_better", True)
        row = [f"{e(m['metric'])} <span class='detail'>{'↑' if hib else '↓'}</span>",
               n(estimate(m.get("candidate")), (m.get("candidate") or {}).get("mean")),
               n((m.get("candidate") or {}).get("n"))]
        if base:
            cls = {1: " better", -1: " worse", 0: ""}[better(m.get("diff"), hib)]
            row += [n(estimate(m.get("baseline")), (m.get("baseline") or {}).get("mean")),
                    f"<td class='n{cls}'>{e(difference(m.get('diff')))}</td>",
                    n(pct(d.get("relative"), True)), n(pval(d.get("p_value")))]
        rows.append(row + [f"<td data-v='{RANK.get(m.get('gate') or '', 3)}'>{status(m.get('gate'))}</td>"])
    return rows


def gates(report: dict) -> str:
    rows = [[e(g["name"]), f"<td data-v='{RANK.get(g['status'], 3)}'>{status(g['status'])}</td>",
             e(g.get("message"))] for g in report.get("gates") or []]
    return table(["gate", "status", "message"], rows) if rows else "<p>No gates were configured.</p>"


def metrics(report: dict) -> str:
    tasks: dict[str, list[dict]] = {}
    for m in report.get("metrics") or []:
        tasks.setdefault(str(m["task"]), []).append(m)
    names = (str((report.get("candidate") or {}).get("name") or "candidate"),
             (report.get("baseline") or {}).get("name"))
    out = []
    for task, ms in tasks.items():
        base = any(m.get("baseline") for m in ms)
        head = ["metric", "candidate [95% CI]", "n"] + (
            ["baseline [95% CI]", "difference [95% CI]", "relative", "p"] if base else []) + ["gate"]
        out.append(f"<h3>{e(task)}</h3>{chart(task, ms, (names[0], names[1] if base else None))}"
                   + table(head, metric_rows(ms, base)))
    return "".join(out)


def slices(report: dict) -> str:
    higher = {(m["task"], m["metric"]): m.get("higher_is_better", True) for m in report.get("metrics") or []}
    out = []
    for s in report.get("slices") or []:
        if not s.get("rows"):
            continue
        base = any(not missing(r.get("baseline")) for r in s["rows"])
        rows = []
        for r in s["rows"]:
            row = [e(r["slice"]), n(r.get("n")), n(num(r.get("candidate")))]
            if base:
                diff = None if missing(r.get("baseline")) else r["candidate"] - r["baseline"]
                sign = 0 if diff is None else diff * (1 if higher.get((s["task"], s["metric"]), True) else -1)
                cls = " better" if sign > 0 else " worse" if sign < 0 else ""
                row += [n(num(r.get("baseline"))), f"<td class='n{cls}'>{num(diff, True)}</td>"]
            rows.append(row)
        out.append(f"<h3>{e(s['task'])} · {e(s['metric'])} by {e(s['key'])}</h3>" + table(
            [str(s["key"]), "n", "candidate"] + (["baseline", "difference"] if base else []), rows))
    return "".join(out)


def judge(report: dict) -> str:
    j = report.get("judge")
    if not j:
        return ""
    out = [callout(j.get("warnings") or [], "Judge warnings")]
    if j.get("pairwise"):
        out.append("<h3>Pairwise: candidate against baseline</h3>" + table(
            ["task", "n", "wins", "losses", "ties", "win rate [95% CI]", "", "swap consistency"],
            [[e(p["task"]), n(p["n"]), n(p["wins"]), n(p["losses"]), n(p["ties"]),
              n(estimate(p.get("win_rate"), pct), (p.get("win_rate") or {}).get("mean")),
              winbar(p.get("win_rate")), n(pct(p.get("swap_consistency")))] for p in j["pairwise"]])
            + "<p class='detail'>Ties count half; the dashed line is 50%. Swap consistency: how often "
              "the verdict held when the two answers changed places.</p>")
    if j.get("rubric"):
        out.append("<h3>Rubric scores</h3>" + table(
            ["task", "side", "scale", "mean [95% CI]", "n"],
            [[e(r["task"]), e(r["side"]), e(r.get("scale")), n(estimate(r), r.get("mean")), n(r["n"])]
             for r in j["rubric"]]))
    cal = j.get("calibration")
    if cal:
        kappa = "—" if missing(cal.get("kappa")) else f"{cal['kappa']:.2f}"
        out.append(f"<h3>Calibration against human labels</h3><p>{e(cal.get('n'))} labels from "
                   f"<code>{e(cal.get('source'))}</code>: agreement <b>{pct(cal.get('agreement'))}</b>, "
                   f"Cohen's κ <b>{kappa}</b></p>"
                   + matrix(cal.get("labels") or [], cal.get("confusion") or [], "human", "judge"))
    if j.get("repeats"):
        r = j["repeats"]
        out.append(f"<h3>Repeats</h3><p>{e(r.get('n'))} repeated judgements agree on every item "
                   f"{pct(r.get('per_item_agreement'))} of the time.</p>")
    return "".join(out)


def classification(report: dict) -> str:
    return "<div class='row'>" + "".join(
        f"<div><h3>{e(c['task'])} · {e(c['side'])}</h3><p>accuracy <b>{pct(c.get('accuracy'))}</b>, "
        f"macro F1 <b>{num(c.get('macro_f1'))}</b></p>"
        + matrix(c.get("labels") or [], c.get("confusion") or [], "reference", "predicted") + "</div>"
        for c in report.get("classification") or []) + "</div>" if report.get("classification") else ""


def contamination(report: dict) -> str:
    c = report.get("contamination")
    if not c:
        return ""
    checked = ", ".join(f"<code>{e(x)}</code>" for x in c.get("checked") or []) or "nothing"
    out = [f"<p>{status(c.get('status'))} {e(c.get('message'))}</p><p>Checked against: {checked}</p>"]
    if c.get("override"):
        out.append(f"<div class='callout'><b>Overridden:</b> {e(c['override'])}</div>")
    if c.get("hits"):
        out.append(table(["eval item", "training data", "method", "score", "eval text", "training text"],
                         [[f"<code>{e(h.get('eval_id'))}</code>", e(h.get("train_ref")), e(h.get("method")),
                           n(num(h.get("score"))), f"<td class='clip'>{e(h.get('eval_text'))}</td>",
                           f"<td class='clip'>{e(h.get('train_text'))}</td>"] for h in c["hits"]]))
    return "".join(out)


def worst(report: dict) -> str:
    items = report.get("worst") or []
    paired = any(not missing(w.get("baseline_score")) for w in items)
    out = [] if paired or not items else ["<p>No baseline: these are the candidate's lowest scores.</p>"]
    for i, w in enumerate(items):
        base, cand = w.get("baseline_score"), w.get("candidate_score")
        drop = "" if missing(base) or missing(cand) else \
            f" (<span class='worse'>{num(cand - base, True)}</span>)"
        out.append(
            f"<details{' open' if i == 0 else ''}><summary><b>{e(w['task'])} · {e(w['metric'])}</b> "
            f"<code>{e(w.get('example_id'))}</code>: candidate {num(cand)}"
            + (f" vs baseline {num(base)}{drop}" if paired else "")
            + f"</summary>{pre('prompt', w.get('prompt'))}{pre('reference', w.get('reference'))}"
            f"<div class='{'pair' if paired else ''}'>"
            f"<div>{pre(f'candidate ({num(cand)})', w.get('candidate'))}</div>"
            + (f"<div>{pre(f'baseline ({num(base)})', w.get('baseline'))}</div>" if paired else "")
            + "</div></details>")
    return "".join(out)


def warnings(report: dict) -> str:
    return callout(report.get("warnings") or [])


_SECTIONS = [("gates", "Gates", gates), ("metrics", "Metrics", metrics), ("slices", "Slices", slices),
             ("judge", "Judge", judge), ("classification", "Classification", classification),
             ("contamination", "Contamination", contamination), ("worst", "Worst regressions", worst),
             ("warnings", "Warnings", warnings)]
