"""Posterior reports of an analysis: one self-contained HTML file, a Markdown summary, a JSON.

- :mod:`~emergestats.report.sections`: the section builders, analysis -> the report's numbers
  (``report.json``), and the measured calibration shipped with the package;
- :mod:`~emergestats.report.figures`: the figures, drawn by :mod:`emergestats.plots`;
- :mod:`~emergestats.report.render`: Jinja2 templates (``templates/``) -> HTML and Markdown;
- :mod:`~emergestats.report.formats`: tables as text (``table``, ``csv``, ``json``,
  ``markdown``) for the command line.

Examples
--------
>>> from emergestats.analysis import analyze, load_analysis  # doctest: +SKIP
>>> analysis = analyze("ladder", "out/ladder")  # doctest: +SKIP
>>> write_report(load_analysis("out/ladder"), "out/ladder")  # doctest: +SKIP
"""

from __future__ import annotations

from emergestats.report.formats import FORMATS, render_table
from emergestats.report.render import render_html, render_markdown, write_report
from emergestats.report.sections import build_report, measured_calibration

__all__ = [
    "FORMATS",
    "build_report",
    "measured_calibration",
    "render_html",
    "render_markdown",
    "render_table",
    "write_report",
]
