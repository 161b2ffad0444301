"""Rendering: the report's numbers and figures -> one self-contained HTML file, Markdown, JSON.

The HTML embeds every figure as a base64 PNG and its style sheet inline, so it opens without
a network; the Markdown summary links the PNGs written to ``figures/``; ``report.json`` is
:func:`~emergestats.report.sections.build_report`'s dictionary plus the figures' metadata.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from emergestats.report.figures import ReportFigure
from emergestats.report.formats import format_number

if TYPE_CHECKING:
    import jinja2

    from emergestats.analysis import Analysis

__all__ = ["render_html", "render_markdown", "write_report"]


def _environment(autoescape: bool) -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("emergestats.report", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["num"] = lambda value, digits=4: format_number(value, digits)
    environment.filters["md"] = lambda value: (
        "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")
    )
    return environment


def _figure_html(figure: ReportFigure) -> Markup:
    if not figure.png:
        return Markup("")
    return Markup(
        '<figure id="fig-{name}"><img alt="{title}" src="data:image/png;base64,{data}">'
        "<figcaption>{title}. {caption}</figcaption></figure>"
    ).format(name=figure.name, title=figure.title, caption=figure.caption, data=figure.base64)


def _by_name(figures: list[ReportFigure]) -> dict[str, ReportFigure]:
    return {f.name: f for f in figures}


def render_html(report: Mapping[str, Any], figures: list[ReportFigure]) -> str:
    """The self-contained HTML report."""
    template = _environment(autoescape=True).get_template("report.html.j2")
    return template.render(
        r=report,
        figures=_by_name(figures),
        figure_html=_figure_html,
        unavailable=[f for f in figures if f.unavailable],
        escape=escape,
    )


def render_markdown(report: Mapping[str, Any], figures: list[ReportFigure]) -> str:
    """The Markdown summary (figures linked from ``figures/``)."""
    template = _environment(autoescape=False).get_template("report.md.j2")
    return template.render(r=report, figures=_by_name(figures))


def _write_text(path: Path, text: str) -> None:
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(tmp_name, path)


def write_report(analysis: Analysis, folder: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``report.json`` and ``figures/*.png`` to ``folder``.

    Returns
    -------
    dict of str to Path
        ``html``, ``markdown`` and ``json``: the files written.
    """
    from emergestats.report.figures import report_figures
    from emergestats.report.sections import build_report

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(analysis)
    figures = report_figures(analysis, report)
    figure_folder = folder / "figures"
    figure_folder.mkdir(exist_ok=True)
    for old in figure_folder.glob("*.png"):
        old.unlink()
    for figure in figures:
        if figure.png:
            (figure_folder / f"{figure.name}.png").write_bytes(figure.png)
    report = {**report, "figures": [f.to_dict() for f in figures]}
    paths = {
        "html": folder / "report.html",
        "markdown": folder / "report.md",
        "json": folder / "report.json",
    }
    _write_text(paths["html"], render_html(report, figures))
    _write_text(paths["markdown"], render_markdown(report, figures))
    _write_text(paths["json"], json.dumps(report, indent=2, allow_nan=False) + "\n")
    return paths
