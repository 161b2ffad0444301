"""The report's figures: drawn by :mod:`emergestats.plots`, embedded as base64 PNG.

Plotting lives in :mod:`emergestats.plots` (one function per figure; it never samples); this
module only calls those functions on an analysis and turns what they return (a matplotlib
``Figure``, an ``arviz_plots.PlotCollection`` or anything with a ``figure``) into PNG bytes.
A figure whose plotting function the installed package lacks is listed as unavailable rather
than drawn some other way.
"""

from __future__ import annotations

import base64
import functools
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from emergestats.analysis import Analysis

__all__ = ["ReportFigure", "figure_png", "report_figures"]

_DPI = 110


@dataclass(frozen=True)
class ReportFigure:
    """One drawn figure of the report.

    Attributes
    ----------
    name
        File stem (``curve-1``, ``diagnostics-all_metrics``, ...).
    section
        The report section it belongs to.
    title, caption
        Heading and one-sentence caption.
    png
        The PNG bytes (empty when unavailable).
    fits
        The fits whose numbers it shows (marked when one failed its diagnostics).
    unavailable
        Why it is not drawn (empty when it is).
    """

    name: str
    section: str
    title: str
    caption: str
    png: bytes = b""
    fits: tuple[str, ...] = ()
    unavailable: str = ""

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (no image bytes)."""
        return {
            "name": self.name,
            "section": self.section,
            "title": self.title,
            "caption": self.caption,
            "fits": list(self.fits),
            "file": f"figures/{self.name}.png" if self.png else None,
            "unavailable": self.unavailable or None,
        }


def _as_figure(drawn: Any) -> Figure:
    from matplotlib.figure import Figure

    if isinstance(drawn, Figure):
        return drawn
    viz = getattr(drawn, "viz", None)
    if viz is not None and "figure" in viz:  # an arviz_plots.PlotCollection
        figure = viz["figure"].item()
        if isinstance(figure, Figure):
            return figure
    for attribute in ("figure", "fig"):
        figure = getattr(drawn, attribute, None)
        if isinstance(figure, Figure):
            return figure
        if figure is not None and isinstance(getattr(figure, "figure", None), Figure):
            return figure.figure  # a SubFigure
    raise TypeError(f"cannot turn a {type(drawn).__name__} into a figure")


def figure_png(drawn: Any, *, dpi: int = _DPI) -> bytes:
    """PNG bytes of a drawn figure; the figure is closed afterwards."""
    import matplotlib.pyplot as plt

    figure = _as_figure(drawn)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _plot_function(name: str) -> Callable[..., Any] | None:
    from emergestats import plots

    function = getattr(plots, name, None)
    return function if callable(function) else None


def _draw(
    function_name: str,
    *,
    name: str,
    section: str,
    title: str,
    caption: str,
    fits: tuple[str, ...],
    call: Callable[[Callable[..., Any]], Any],
) -> ReportFigure:
    function = _plot_function(function_name)
    if function is None:
        return ReportFigure(
            name,
            section,
            title,
            caption,
            fits=fits,
            unavailable=f"emergestats.plots.{function_name} is not available in this version",
        )
    import matplotlib

    with matplotlib.rc_context({"figure.max_open_warning": 0}), warnings.catch_warnings():
        # plots of a fit that failed its diagnostics are still drawn; the report marks them
        warnings.simplefilter("ignore", UserWarning)
        png = figure_png(call(function))
    return ReportFigure(name, section, title, caption, png=png, fits=fits)


#: The figures of :func:`emergestats.plots.plot_diagnostics`, by its keys: title and caption.
_DIAGNOSTICS: dict[str, tuple[str, str]] = {
    "rank": (
        "Rank plots of the population parameters",
        "Per chain, the distribution of the ranks of each population parameter's draws among "
        "all chains' draws (ArviZ): the chains mix when every chain's ranks are uniform.",
    ),
    "energy": (
        "Energy",
        "The marginal energy distribution against the energy transitions (ArviZ), with each "
        "chain's E-BFMI; similar widths mean the sampler explores the posterior's tails.",
    ),
    "ppc": (
        "Posterior predictive check",
        "Each observed variable's distribution (pooled over its rows) against posterior "
        "predictive replicates (ArviZ).",
    ),
}


def _diagnostics_figures(key: str, stem: str, fitted: Any) -> list[ReportFigure]:
    """The figures of ``plot_diagnostics`` (a dict of them) for one fit."""
    function = _plot_function("plot_diagnostics")
    if function is None:
        return [
            ReportFigure(
                f"diagnostics-{stem}",
                "diagnostics",
                f"Sampling diagnostics of the {key} fit",
                "",
                fits=(key,),
                unavailable="emergestats.plots.plot_diagnostics is not available in this version",
            )
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        drawn = function(fitted)
    if not isinstance(drawn, dict):
        drawn = {"diagnostics": drawn}
    out = []
    for name, item in drawn.items():
        title, caption = _DIAGNOSTICS.get(name, (name, ""))
        out.append(
            ReportFigure(
                f"{name}-{stem}",
                "diagnostics",
                f"{title}: {key} fit",
                caption,
                png=figure_png(item),
                fits=(key,),
            )
        )
    return out


def _call_curves(function: Callable[..., Any], *, analysis: Any, label: str, cross: Any) -> Any:
    return function(
        analysis.fit, analysis.table, curves=[label], cross_metric=cross, jump_result=analysis.jump
    )


def _call_on(fitted: Any, function: Callable[..., Any]) -> Any:
    return function(fitted)


def report_figures(analysis: Analysis, report: dict[str, Any]) -> list[ReportFigure]:
    """Every figure of the report of ``analysis`` (``report`` is :func:`build_report`'s)."""
    figures: list[ReportFigure] = []
    cross = analysis.jump.fits.get("cross_metric/smooth")
    curve_fits = ("all_metrics", *(("cross_metric/smooth",) if cross is not None else ()))
    for panel in report["curves"]:
        label = panel["curve"]
        figures.append(
            _draw(
                "plot_curves",
                name=panel["figure"],
                section="curves",
                title=f"{label}: observed scores against the posterior predictive",
                caption=(
                    "Every metric's observed points against the 90% posterior predictive band "
                    "of the all-metrics fit"
                    + (
                        " and the metric-only band of the fit to the continuous metrics"
                        if cross is not None
                        else ""
                    )
                    + ", with the latent per-token curve and the tested jumps."
                ),
                fits=curve_fits,
                call=functools.partial(_call_curves, analysis=analysis, label=label, cross=cross),
            )
        )
    figures.append(
        _draw(
            "plot_jump_test",
            name="jump-test",
            section="verdicts",
            title="Observed largest jump against its metric-only prediction",
            caption="Per tested series and mode: the observed largest adjacent jump and the "
            "90% interval of the replicated one; the verdict colours the point.",
            fits=tuple(f"{m}/smooth" for m in analysis.settings.modes),
            call=lambda f: f(analysis.jump),
        )
    )

    from emergestats.report.sections import measured_calibration

    figures.append(
        _draw(
            "plot_calibration",
            name="calibration",
            section="calibration",
            title="Measured false alarm and power of the test",
            caption="False-alarm rate on smooth simulated truths and power on broken ones, per "
            "measured grid cell and mode, with 95% Wilson intervals.",
            fits=(),
            call=lambda f: f(measured_calibration()),
        )
    )
    for key, fitted in analysis.fits.items():
        stem = key.replace("/", "-")
        figures.extend(_diagnostics_figures(key, stem, fitted))
        figures.append(
            _draw(
                "plot_pareto_k",
                name=f"pareto-k-{stem}",
                section="diagnostics",
                title=f"PSIS-LOO Pareto k of the {key} fit",
                caption="Pareto k per (curve, model) cell; above 0.7 the PSIS estimate of that "
                "cell is unreliable.",
                fits=(key,),
                call=functools.partial(_call_on, fitted),
            )
        )
    figures.append(
        _draw(
            "plot_slopes",
            name="slopes",
            section="diagnostics",
            title="Slopes across curves",
            caption="Forest plot of the per-curve slope b of log CE in log scale (all-metrics "
            "fit): 90% intervals.",
            fits=("all_metrics",),
            call=lambda f: f(analysis.fit),
        )
    )
    return figures
