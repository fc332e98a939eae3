"""The report: one suite's runs as tables, PNG figures and a self-contained HTML page.

Modules, each importing only those before it (no cycles):

- ``labels``: run labels and flat rows, no pandas (the driver's progress lines use it);
- ``tables``: pandas tables, seed aggregation, baseline ratios, markdown/CSV cells;
- ``plots``: the PNG figures (matplotlib, imported when a figure is drawn);
- ``html``: the HTML page;
- this package: ``write_report``, which writes them all;
- ``data_plots``: figures of a dataset itself (``odebench data plot``), not of runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def safe_name(name: str) -> str:
    """A file-system-safe folder name for a suite."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "suite"


def write_report(runs: list[dict[str, Any]], directory: str | Path, title: str,
                 plots: bool = True, baseline: str | None = None) -> list[Path]:
    """Write ``summary.md``, ``summary.csv`` (one row per seed group), ``runs.csv`` (one row
    per run), the PNG plots and a self-contained ``report.html`` for one suite's runs (as
    returned by ``Store.latest``) into ``directory``; return the paths written. With
    ``baseline``, times also appear relative to that run (see ``tables.add_ratios``)."""
    # Imported here, not at the top: importing ``odebench.report.labels`` runs this file
    # first, and the driver's labels must not pull in pandas and numpy.
    from .html import render_html
    from .labels import flatten_all
    from .plots import make_plots
    from .tables import add_ratios, aggregate, summary_document, table, to_csv

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    frame = table(flatten_all(runs))
    if baseline:
        frame = add_ratios(frame, baseline, require=False)
    summary = aggregate(frame)
    written = []

    def write(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    write("summary.md", summary_document(summary, title))
    write("summary.csv", summary.to_csv(index=False))
    write("runs.csv", to_csv(frame))
    figures: list[tuple[str, str, Path]] = []
    if plots:
        for name, caption, path in make_plots(runs, out):
            figures.append((name, caption, path))
            written.append(path)
    write("report.html", render_html(title, runs, frame, summary, figures))
    return written
