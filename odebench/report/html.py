"""One self-contained HTML page per suite: tables and the PNG figures embedded as base64
(no external asset, opens offline)."""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .tables import SUMMARY_NOTE, result_notes, run_cells, summary_cells

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td.text { text-align: left; }
tr.bad td { background: #fff3f0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.9em; }
.scroll { overflow-x: auto; }
"""


def _table(headers: list[str], rows: list[list[str]], bad: list[bool] | None = None,
           text_columns: int = 0) -> str:
    out = ["<div class='scroll'><table><thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cls = " class='bad'" if bad and bad[i] else ""
        out.append(f"<tr{cls}>")
        for j, cell in enumerate(row):
            attr = " class='text'" if j < text_columns else ""
            out.append(f"<td{attr}>{html.escape(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _summary_table(summary: pd.DataFrame) -> str:
    columns, rows = summary_cells(summary, reason_chars=None)
    bad = [status != "done" for status in summary["status"]]
    return _table([t for _, t in columns], rows, bad, text_columns=4)


def _runs_table(frame: pd.DataFrame) -> str:
    columns, rows = run_cells(frame, reason_chars=None)
    bad = [row.get("status") != "done" for _, row in frame.iterrows()]
    return _table([t for _, t in columns], rows, bad, text_columns=4)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def _machines(runs: list[dict[str, Any]]) -> str:
    """One row per distinct machine record and code version, a column per key the machine
    records hold (whatever the measuring code stored: hardware, library versions...), except
    ``hostname``: a published page should not name the machine, its hardware is what counts."""
    keys = [k for k in dict.fromkeys(k for r in runs for k in (r.get("machine") or {}))
            if k != "hostname"]
    rows: list[list[str]] = []
    for r in runs:
        machine = r.get("machine") or {}
        row = [_text(machine.get(k)) for k in keys] + [_text(r.get("code_version"))]
        if row not in rows:
            rows.append(row)
    return _table(keys + ["odebench"], rows, text_columns=len(keys) + 1)


def render_html(title: str, runs: list[dict[str, Any]], frame: pd.DataFrame,
                summary: pd.DataFrame, figures: list[tuple[str, str, Path]]) -> str:
    """The report page: summary table (mean ± std over seeds), figures, per-run table and
    the machines that produced the runs."""
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>{len(runs)} runs in {len(summary)} groups, report written "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M'))}. Runs that differ only in their seed "
        f"form a group. {html.escape(SUMMARY_NOTE)} Figures show mean ± sd as error bars or "
        "bands.</p>",
        "<h2>Summary</h2>",
        _summary_table(summary) if not summary.empty else "<p>(no runs)</p>",
    ]
    parts += [f"<p class='note'>{html.escape(note)}</p>"
              for note in (result_notes(summary) if not summary.empty else [])]
    for name, caption, path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts += [
            f"<h2>{html.escape(caption.split(';')[0].split(' (')[0].rstrip('.'))}</h2>",
            f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>",
            f"<figcaption>{html.escape(caption)} ({html.escape(name)})</figcaption></figure>",
        ]
    parts += [
        "<h2>Every run</h2>",
        _runs_table(frame) if not frame.empty else "<p>(no runs)</p>",
        "<h2>Machines and code</h2>",
        _machines(runs),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
