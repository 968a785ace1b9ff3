"""The audit as one self-contained HTML page: a table of checks and inline SVG histograms (no
scripts, no network), so it opens anywhere and can be attached to a review."""

from __future__ import annotations

from html import escape

from gristmill.curation.audit import Check

_COLOURS = {"ok": "#2e7d32", "warn": "#ef6c00", "fail": "#c62828", "skipped": "#757575"}


def page(ref: str, checks: list[Check]) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.name)}</td><td style='color:{_COLOURS[c.status]};font-weight:bold'>"
        f"{c.status}</td><td>{escape(c.summary)}</td></tr>" for c in checks)
    charts = "".join(
        f"<h2>{escape(c.name)}: {label}</h2>{svg(c.details['histogram'], label)}"
        for c in checks if c.details.get("histogram")
        for label in [("characters per example" if c.name == "lengths" else "tokens per example")])
    balance = next((c for c in checks if c.name == "label balance" and c.details.get("counts")),
                   None)
    if balance:
        counts = balance.details["counts"]
        charts += "<h2>label balance</h2>" + svg(
            [(k, k, v) for k, v in counts.items()], "examples per label", categorical=True)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>audit {escape(ref)}</title><style>body{{font-family:sans-serif;margin:2em;"
        "max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Pre-training audit of {escape(ref)}</h1>"
        f"<table><tr><th>check</th><th>status</th><th>result</th></tr>{rows}</table>"
        f"{charts}</body></html>\n")


def svg(bins: list[tuple], label: str, categorical: bool = False) -> str:
    """A bar chart of (low, high, count) bins, or (name, name, count) categories."""
    width, height, pad = 720, 220, 40
    top = max(count for *_, count in bins) or 1
    bar = (width - 2 * pad) / len(bins)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 40}' "
             f"role='img' aria-label='{escape(label)}'>"]
    for i, (low, high, count) in enumerate(bins):
        h = (height - pad) * count / top
        x, y = pad + i * bar, height - h
        name = str(low) if categorical else f"{low:,}-{high:,}"
        parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(bar - 2, 1):.1f}' "
                     f"height='{h:.1f}' fill='#1565c0'><title>{escape(name)}: {count:,}"
                     "</title></rect>")
        if categorical or i % max(1, len(bins) // 5) == 0:
            parts.append(f"<text x='{x:.1f}' y='{height + 14}' font-size='10'>"
                         f"{escape(name[:18])}</text>")
    parts.append(f"<text x='{pad}' y='12' font-size='11'>max {top:,} per bar; "
                 f"{escape(label)}</text></svg>")
    return "".join(parts)
