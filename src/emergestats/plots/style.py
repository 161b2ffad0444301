"""Colours and labels shared by every figure of :mod:`emergestats.plots` and the report.

One colour per metric kind (several metrics of one kind on a panel get shades of it), one per
verdict, and the axis labels, so that a metric, a verdict or the scale axis looks the same in
every figure. The palette is Okabe and Ito's colour-blind-safe one (Okabe & Ito 2008, "Color
Universal Design"), extended with greys.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from matplotlib.colors import to_hex, to_rgb

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BAND_ALPHA",
    "CONTINUOUS_PANEL_KINDS",
    "CROSS_METRIC_HATCH",
    "FAILED_DIAGNOSTICS_NOTE",
    "KIND_COLOURS",
    "KIND_LABELS",
    "LATENT_COLOUR",
    "LATENT_LABELS",
    "MODE_LABELS",
    "SCALE_LABEL",
    "STATISTIC_LABELS",
    "VERDICT_COLOURS",
    "VERDICT_LABELS",
    "diagnostics_note",
    "figure_title",
    "kind_colour",
    "metric_colours",
    "verdict_colour",
]

#: Colour of each metric kind (:data:`emergestats.data.table.METRIC_KINDS`).
KIND_COLOURS: Final[dict[str, str]] = {
    "exact_match": "#D55E00",  # vermillion
    "greedy_match": "#AA4499",  # purple
    "multiple_choice_grade": "#CC79A7",  # reddish purple
    "accuracy": "#E69F00",  # orange
    "pass_at_k": "#882255",  # wine
    "brier": "#009E73",  # bluish green
    "log_likelihood": "#0072B2",  # blue
    "edit_distance": "#56B4E9",  # sky blue
    "bleu": "#999933",  # olive
    "rouge": "#44AA99",  # teal
    "other": "#7F7F7F",  # grey
}

#: Readable name of each metric kind.
KIND_LABELS: Final[dict[str, str]] = {
    "exact_match": "exact match",
    "greedy_match": "greedy match",
    "multiple_choice_grade": "multiple-choice grade",
    "accuracy": "accuracy",
    "pass_at_k": "pass@k",
    "brier": "Brier score",
    "log_likelihood": "log-likelihood",
    "edit_distance": "edit distance",
    "bleu": "BLEU",
    "rouge": "ROUGE",
    "other": "other metric",
}

#: Kinds drawn on a curve's second (unbounded-score) panel; the others lie in [0, 2].
CONTINUOUS_PANEL_KINDS: Final[tuple[str, ...]] = ("log_likelihood", "edit_distance", "other")

#: Colour of each verdict of :func:`emergestats.mirage.jump_test`.
VERDICT_COLOURS: Final[dict[str, str]] = {
    "excess_jump": "#B2182B",
    "explained_by_metric": "#2166AC",
    "inconclusive": "#6F6F6F",
}

VERDICT_LABELS: Final[dict[str, str]] = {
    "excess_jump": "excess jump",
    "explained_by_metric": "explained by metric",
    "inconclusive": "inconclusive",
}

MODE_LABELS: Final[dict[str, str]] = {
    "cross_metric": "cross-metric (fitted to the continuous metrics only)",
    "in_sample": "in-sample (fitted to every metric)",
    "leave_future_out": "leave-future-out (fitted up to the jump)",
}

STATISTIC_LABELS: Final[dict[str, str]] = {
    "max_jump": "largest rise between adjacent sizes",
    "max_jump_per_decade": "largest rise per decade of scale",
    "breakthroughness": "breakthroughness (capped)",
    "emergence_score": "emergence score (capped)",
    "linearity": "linearity",
}

#: The latent per-token quantities and their axis labels.
LATENT_LABELS: Final[dict[str, str]] = {
    "cross_entropy": "per-token cross-entropy (nats)",
    "p_token": "per-token probability p = exp(-CE)",
}

LATENT_COLOUR: Final[str] = "#333333"
SCALE_LABEL: Final[str] = "parameters N"
#: Opacity of a posterior predictive band; the metric-only band is hatched, unfilled.
BAND_ALPHA: Final[float] = 0.22
CROSS_METRIC_HATCH: Final[str] = "////"
FAILED_DIAGNOSTICS_NOTE: Final[str] = "FAILED its sampling diagnostics"


def kind_colour(kind: str) -> str:
    """The colour of a metric kind (grey for an unknown kind)."""
    return KIND_COLOURS.get(str(kind), KIND_COLOURS["other"])


def verdict_colour(verdict: str) -> str:
    """The colour of a verdict (that of ``inconclusive`` for anything else)."""
    return VERDICT_COLOURS.get(str(verdict), VERDICT_COLOURS["inconclusive"])


def _shade(colour: str, amount: float) -> str:
    """Lighten (``amount > 0``, towards white) or darken (``< 0``, towards black) a colour."""
    rgb = np.asarray(to_rgb(colour))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return to_hex(rgb + abs(amount) * (target - rgb))


def metric_colours(metrics: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One colour per metric name: its kind's colour, shaded apart when a kind has several.

    Parameters
    ----------
    metrics
        ``(metric, metric_kind)`` pairs; the order within a kind sets the shades (darkest
        first).

    Examples
    --------
    >>> metric_colours([("accuracy", "accuracy")])
    {'accuracy': '#E69F00'}
    >>> colours = metric_colours([("L2", "exact_match"), ("L4", "exact_match")])
    >>> colours["L2"] != colours["L4"]
    True
    """
    by_kind: dict[str, list[str]] = {}
    for metric, kind in metrics:
        names = by_kind.setdefault(str(kind), [])
        if str(metric) not in names:
            names.append(str(metric))
    out: dict[str, str] = {}
    for kind, names in by_kind.items():
        base = kind_colour(kind)
        if len(names) == 1:
            out[names[0]] = base
            continue
        for metric, amount in zip(names, np.linspace(-0.35, 0.45, len(names)), strict=True):
            out[metric] = _shade(base, float(amount))
    return out


def diagnostics_note(fit: Any, name: str = "the fit") -> str:
    """``""`` for a fit that passes its sampling diagnostics, else a line naming the failures.

    Every figure drawn from a fit writes this line above itself (:func:`figure_title`), so a
    failed fit is marked wherever its numbers appear.
    """
    summary = fit.diagnostics_summary()
    if summary.get("passed", True):
        return ""
    return f"{name} {FAILED_DIAGNOSTICS_NOTE}: " + "; ".join(summary.get("failures", []))


def figure_title(fig: Figure, title: str | None, notes: Iterable[str] = ()) -> None:
    """Set a figure's title, with any non-empty ``notes`` below it in red, wrapped to width."""
    lines = [n for n in notes if n]
    if title is None and not lines:
        return
    width = max(40, int(fig.get_figwidth() * 13))  # ~13 characters per inch at medium size
    text = "\n".join(textwrap.fill(line, width) for line in ([title] if title else []) + lines)
    colour = VERDICT_COLOURS["excess_jump"] if lines else "black"
    fig.suptitle(text, color=colour, fontsize="medium")
