"""The pieces the HTML report is built of: escaping, tables, number cells, the inline SVG charts
(metric bars with 95% whiskers, a win-rate bar), confusion matrices, and the page's CSS and script.
Every string goes through `escape`: a model's output that says `<script>` must show as text."""

from __future__ import annotations

from html import escape

from gristmill.evals.report_md import estimate, missing, num, pct

STATUS = {"ok": "#2e7d32", "pass": "#2e7d32", "clean": "#2e7d32", "warn": "#ef6c00",
           "overridden": "#ef6c00", "fail": "#c62828", "hit": "#c62828", "error": "#6a1b9a",
           "not_checked": "#757575"}
RANK = {"fail": 0, "warn": 1, "ok": 2}  # sort key: the worst gates first on an ascending sort
CAND, BASE = "#1565c0", "#9e9e9e"
CSS = (
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
    + "".join(f".s-{k}{{color:{v}}}" for k, v in STATUS.items()))
# subtle: sorts numbers by value (parseFloat reads "0.410 [..]" and "+5.1%"), text by locale; a
# cell's data-v overrides its text, so statuses sort by severity rather than alphabetically.
SCRIPT = """document.querySelectorAll("table.sortable th").forEach(function (th) {
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
    return "—" if not s else f"<span class='s s-{e(s) if s in STATUS else 'none'}'>{e(s)}</span>"


def table(head: list[str], rows: list[list[str]], cls: str = "sortable") -> str:
    """`head` is text; cells are HTML, and a bare cell becomes a <td> (numbers right-aligned)."""
    def cell(c: str) -> str:
        return c if c.startswith("<td") else f"<td>{c}</td>"
    return (f"<table class='{cls}'><thead><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join('<tr>' + ''.join(map(cell, r)) + '</tr>' for r in rows)}</tbody></table>")


def n(x: object, v: object = None) -> str:
    key = "" if v is None else f" data-v='{e(v)}'"
    return f"<td class='n'{key}>{e(x)}</td>"


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
    for i, (name, colour) in enumerate(x for x in zip(names, (CAND, BASE), strict=True) if x[0]):
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
        for j, (s, colour) in enumerate(zip(sides, (CAND, BASE), strict=True)):
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
            f"fill='#eeeeee'/><rect x='2' y='3' width='{156 * w['mean']:.1f}' height='12' fill='{CAND}'/>"
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
