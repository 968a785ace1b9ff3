"""An eval run's report as one self-contained HTML page: the verdict and gates first, then the
evidence (metric bars with 95% whiskers, slices, judge, contamination, the worst regressions side by
side). Inline CSS, inline SVG and a few lines of script to sort tables; no network, so it opens
anywhere and can be attached to a release review.

Every string from the report goes through `escape`: it holds model outputs, and an output that
says `<script>` must show as text.
"""

from __future__ import annotations

from html import escape

from gristmill.evals.report_md import better, difference, estimate, missing, num, pct, pval, when

_STATUS = {"ok": "#2e7d32", "pass": "#2e7d32", "clean": "#2e7d32", "warn": "#ef6c00",
           "overridden": "#ef6c00", "fail": "#c62828", "hit": "#c62828", "error": "#6a1b9a",
           "not_checked": "#757575"}
_RANK = {"fail": 0, "warn": 1, "ok": 2}  # sort key: the worst gates first on an ascending sort
_CAND, _BASE = "#1565c0", "#9e9e9e"
_CSS = (
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#212121;"
    "margin:0 auto;padding:1.5em 2em;max-width:74em}h1{margin:0;font-size:1.5em}"
    "h2{border-bottom:1px solid #e0e0e0;margin-top:1.8em}h3{margin:1.2em 0 .3em}"
    "header{display:flex;gap:1.5em;align-items:center}"
    "#verdict{font-size:2em;font-weight:700;color:#fff;padding:.25em .7em;border-radius:.25em}"
    ".meta{margin:.3em 0;color:#424242}.detail{color:#757575;font-size:.9em}"
    "nav{margin:1em 0;padding:.4em 0;border-bottom:1px solid #e0e0e0}nav a{margin-right:1.2em}"
    "table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #ddd;padding:4px 8px;"
    "text-align:left;vertical-align:top}th{background:#f5f5f5;white-space:nowrap}"
    "table.sortable th{cursor:pointer}table.sortable th:hover{background:#e8eaf6}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".s{font-weight:700}.better{color:#2e7d32;font-weight:600}.worse{color:#c62828;font-weight:600}"
    ".callout{background:#fff3e0;border-left:4px solid #ef6c00;padding:.4em 1em;margin:.6em 0}"
    ".callout ul{margin:.2em 0;padding-left:1.2em}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#fafafa;border:1px solid #eee;"
    "padding:.5em;margin:.2em 0 .6em;max-height:22em;overflow:auto;font-size:.9em}"
    ".pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.pair>div{min-width:0}"
    "details{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;margin:.5em 0}"
    "summary{cursor:pointer}.row{display:flex;flex-wrap:wrap;gap:0 2.5em;align-items:flex-start}"
    "table.matrix td{text-align:center;min-width:2.5em}.clip{max-width:28em}"
    "svg.chart{max-width:100%;height:auto}"
    + "".join(f".s-{k}{{color:{v}}}" for k, v in _STATUS.items()))
# subtle: sorts numbers by value (parseFloat reads "0.410 [..]" and "+5.1%"), text by locale; a
# cell's data-v overrides its text, so statuses sort by severity rather than alphabetically.
_SCRIPT = """document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.title = "click to sort";
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var dir = th.dataset.dir === "asc" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir > 0 ? "asc" : "desc";
    function key(row) {
      var c = row.cells[i], v = !c ? "" : c.dataset.v !== undefined ? c.dataset.v : c.textContent.trim();
      var f = parseFloat(v);
      return isNaN(f) ? v : f;
    }
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), nx = typeof x === "number", ny = typeof y === "number";
      if (nx && ny) return dir * (x - y);
      if (nx !== ny) return nx ? -1 : 1;
      return dir * String(x).localeCompare(String(y));
    }).forEach(function (r) { body.appendChild(r); });
  });
});"""


def e(x: object) -> str:
    return "" if x is None else escape(str(x))


def status(s: str | None) -> str:
    return "—" if not s else f"<span class='s s-{e(s) if s in _STATUS else 'none'}'>{e(s)}</span>"


def table(head: list[str], rows: list[list[str]], cls: str = "sortable") -> str:
    """`head` is text; cells are HTML, and a bare cell becomes a <td> (numbers right-aligned)."""
    def cell(c: str) -> str:
        return c if c.startswith("<td") else f"<td>{c}</td>"
    return (f"<table class='{cls}'><thead><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join('<tr>' + ''.join(map(cell, r)) + '</tr>' for r in rows)}</tbody></table>")


def n(x: object, v: object = None) -> str:
    key = "" if v is None else f" data-v='{e(v)}'"
    return f"<td class='n'{key}>{e(x)}</td>"


def page(report: dict) -> str:
    """The whole report; sections with nothing to show are left out."""
    parts = [(sid, title, html) for sid, title, build in _SECTIONS if (html := build(report))]
    nav = "".join(f"<a href='#{sid}'>{e(title)}</a>" for sid, title, _ in parts)
    body = "".join(f"<section id='{sid}'><h2>{e(title)}</h2>{html}</section>" for sid, title, html in parts)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>eval {e(report.get('suite'))} run {e(report.get('run_id'))}: "
            f"{e(str(report.get('verdict')).upper())}</title><style>{_CSS}</style></head><body>"
            f"{header(report)}<nav>{nav}</nav>{body}<script>{_SCRIPT}</script></body></html>\n")


def header(report: dict) -> str:
    verdict = str(report.get("verdict") or "error")
    colour = _STATUS.get(verdict, "#757575")
    warnings = len(report.get("warnings") or []) + len((report.get("judge") or {}).get("warnings") or [])

    def side(label: str, s: dict | None) -> str:
        if not s:
            return f"<b>{label}</b> none (no comparison)"
        return (f"<b>{label}</b> <span style='color:{_CAND if label == 'candidate' else '#616161'}'>"
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
        rows.append(row + [f"<td data-v='{_RANK.get(m.get('gate') or '', 3)}'>{status(m.get('gate'))}</td>"])
    return rows


def chart(task: str, metrics: list[dict], names: tuple[str, str | None]) -> str:
    """Candidate and baseline means as horizontal bars with 95% whiskers, one group per metric,
    each on its own axis: 0 to 1 for scores in [0, 1], else zero to the furthest interval end."""
    bars = 2 if names[1] else 1
    left, plot, bar, top = 180, 420, 14, 30
    group = bars * (bar + 2) + 22
    height = top + group * len(metrics)
    label = f"{task}: {names[0]}" + (f" vs {names[1]}" if names[1] else "") + ", means with 95% intervals"
    out = [f"<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='720' height='{height}' "
           f"viewBox='0 0 720 {height}' role='img' aria-label='{e(label)}' font-size='12' "
           "font-family='system-ui,sans-serif'>"]
    for i, (name, colour) in enumerate(x for x in zip(names, (_CAND, _BASE), strict=True) if x[0]):
        out.append(f"<rect x='{left + i * 220}' y='6' width='12' height='12' fill='{colour}'/>"
                   f"<text x='{left + 18 + i * 220}' y='16'>{e(name[:30])}</text>")
    for i, m in enumerate(metrics):
        y0, sides = top + i * group, [m.get("candidate"), m.get("baseline")]
        ends = [s[k] for s in sides if s for k in ("mean", "low", "high") if not missing(s.get(k))]
        lo, hi = min([0.0, *ends]), max([0.0, *ends])
        hi = 1.0 if lo >= 0 and hi <= 1 else hi if hi > lo else lo + 1

        def x(v: float, lo: float = lo, hi: float = hi) -> float:
            return left + plot * (v - lo) / (hi - lo)
        out.append(f"<text x='{left - 8}' y='{y0 + bars * (bar + 2) / 2 + 4:.0f}' text-anchor='end'>"
                   f"<title>{e(m['metric'])}</title>{e(str(m['metric'])[:24])} "
                   f"{'↑' if m.get('higher_is_better', True) else '↓'}</text>")
        for j, (s, colour) in enumerate(zip(sides, (_CAND, _BASE), strict=True)):
            if not s or missing(s.get("mean")):
                continue
            y, mid = y0 + j * (bar + 2), y0 + j * (bar + 2) + bar / 2
            a, b = sorted((x(0), x(s["mean"])))
            out.append(f"<rect x='{a:.1f}' y='{y}' width='{max(b - a, 1):.1f}' height='{bar}' "
                       f"fill='{colour}'><title>{e(estimate(s))} (n={e(s.get('n'))})</title></rect>"
                       f"<text x='{left + plot + 10}' y='{y + bar - 2}' fill='{colour}'>"
                       f"{num(s['mean'])}</text>")
            if not missing(s.get("low")) and not missing(s.get("high")):
                lx, hx = x(s["low"]), x(s["high"])
                out.append(f"<path d='M{lx:.1f} {mid}H{hx:.1f}M{lx:.1f} {mid - 4}v8M{hx:.1f} {mid - 4}v8' "
                           "stroke='#212121' stroke-width='1.3' fill='none'/>")
        axis = y0 + bars * (bar + 2) + 2
        out.append(f"<path d='M{left} {axis}H{left + plot}M{x(0):.1f} {y0 - 2}V{axis}' stroke='#bdbdbd'/>"
                   f"<text x='{left}' y='{axis + 12}' font-size='10' fill='#757575'>{lo:g}</text>"
                   f"<text x='{left + plot}' y='{axis + 12}' font-size='10' fill='#757575' "
                   f"text-anchor='end'>{hi:.3g}</text>")
    return "".join(out) + "</svg>"


def winbar(w: dict | None) -> str:
    """A win rate on 0..100% with its interval and the 50% line (ties count half)."""
    if not w or missing(w.get("mean")):
        return ""
    def x(v: float) -> float:
        return 2 + 156 * v
    whisker = ("" if missing(w.get("low")) or missing(w.get("high")) else
               f"<path d='M{x(w['low']):.1f} 9H{x(w['high']):.1f}' stroke='#212121' stroke-width='1.5'/>")
    return (f"<svg class='winrate' xmlns='http://www.w3.org/2000/svg' width='160' height='18' role='img' "
            f"aria-label='win rate {e(estimate(w, pct))}'><rect x='2' y='3' width='156' height='12' "
            f"fill='#eeeeee'/><rect x='2' y='3' width='{156 * w['mean']:.1f}' height='12' fill='{_CAND}'/>"
            f"{whisker}<path d='M80 0V18' stroke='#c62828' stroke-dasharray='2 2'/></svg>")


def matrix(labels: list, confusion: list[list[int]], rows: str, cols: str) -> str:
    """A confusion matrix, shaded by count, the diagonal (agreement) outlined."""
    top = max((c for r in confusion for c in r), default=0) or 1
    head = f"<tr><th>{e(rows)} ↓ / {e(cols)} →</th>" + "".join(f"<th>{e(x)}</th>" for x in labels)
    body = "".join(
        f"<tr><th>{e(label)}</th>" + "".join(
            f"<td style='background:rgba(21,101,192,{0.08 + 0.55 * c / top:.2f})"
            f"{';outline:2px solid #2e7d32;outline-offset:-2px;font-weight:700' if i == j else ''}'>"
            f"{e(c)}</td>" for j, c in enumerate(row)) + "</tr>"
        for i, (label, row) in enumerate(zip(labels, confusion, strict=False)))
    return f"<table class='matrix'><thead>{head}</tr></thead><tbody>{body}</tbody></table>"


def callout(items: list[str], title: str = "") -> str:
    return ("" if not items else f"<div class='callout'>{f'<b>{e(title)}</b>' if title else ''}<ul>"
            + "".join(f"<li>{e(w)}</li>" for w in items) + "</ul></div>")


def pre(label: str, value: object) -> str:
    return f"<b>{label}</b><pre>{'<i>(none)</i>' if value is None else e(value)}</pre>"


def gates(report: dict) -> str:
    rows = [[e(g["name"]), f"<td data-v='{_RANK.get(g['status'], 3)}'>{status(g['status'])}</td>",
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
