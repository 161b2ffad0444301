"""The mirage test's answer per series: observed jump statistic against its predictive interval.

Draws :attr:`JumpTestResult.verdicts <emergestats.mirage.JumpTestResult.verdicts>` (the
observed statistic and the 5/50/95% quantiles of its posterior-predictive replicates, computed
by :func:`emergestats.mirage.jump_test`); nothing is recomputed or sampled here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from emergestats.data.table import curve_labels
from emergestats.errors import ConfigError
from emergestats.plots.style import (
    MODE_LABELS,
    STATISTIC_LABELS,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    verdict_colour,
)

if TYPE_CHECKING:
    from emergestats.mirage.jumps import JumpTestResult

__all__ = ["plot_jump_test", "series_labels"]

_NEEDED = (
    "task",
    "subtask",
    "family",
    "shots",
    "metric",
    "mode",
    "statistic",
    "observed",
    "predicted_q05",
    "predicted_q50",
    "predicted_q95",
    "p_value",
    "p_adjusted",
    "verdict",
    "reason",
)


def series_labels(verdicts: pd.DataFrame) -> pd.Series:
    """``"<curve label>: <metric>"`` for every row of a verdict table."""
    rows = verdicts.copy()
    shots = pd.to_numeric(rows["shots"], errors="coerce")
    if shots.notna().all():
        rows["shots"] = shots.astype(np.int64)
    return curve_labels(rows).astype(str) + ": " + rows["metric"].astype(str)


def _verdict_text(row: pd.Series) -> str:
    verdict = str(row["verdict"])
    text = VERDICT_LABELS.get(verdict, verdict)
    if np.isfinite(row["p_adjusted"]):
        text += f", p adj. {row['p_adjusted']:.2g}"
    elif np.isfinite(row["p_value"]):
        text += f", p {row['p_value']:.2g}"
    return text


def plot_jump_test(
    result: JumpTestResult,
    *,
    series: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    statistic: str = "max_jump",
) -> Figure:
    """Per tested series, the observed jump statistic against its predicted 90% interval.

    Parameters
    ----------
    result
        A :class:`~emergestats.mirage.JumpTestResult`.
    series
        Which series to draw: labels ``"<curve>: <metric>"`` (:func:`series_labels`) or metric
        names; default every tested series.
    modes
        Which modes, one panel each (default every mode of the result, in its order).
    statistic
        The jump statistic drawn (default the primary one, ``max_jump``); the verdict written
        beside each series is its series' verdict, decided on the primary statistic.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per mode, one row per series: the predicted 5-95% interval (grey bar) with
        its median (tick), the observed statistic (diamond, coloured by verdict) and the
        verdict with its p (adjusted where the rule adjusted it). A series the test could not
        run shows its reason instead.

    Raises
    ------
    ConfigError
        If ``result`` is not a jump-test result, or ``series``, ``modes`` or ``statistic`` name
        nothing in it.
    """
    verdicts = getattr(result, "verdicts", None)
    if not isinstance(verdicts, pd.DataFrame) or not set(_NEEDED) <= set(verdicts.columns):
        raise ConfigError(
            "plot_jump_test takes a JumpTestResult (from es.jump_test), not "
            f"{type(result).__name__}"
        )
    frame = verdicts[verdicts["statistic"] == statistic].copy()
    if frame.empty:
        present = ", ".join(dict.fromkeys(verdicts["statistic"].astype(str))) or "none"
        raise ConfigError(f"no rows of statistic {statistic!r} in the result (it has {present})")
    frame["_label"] = series_labels(frame).to_numpy()
    present_modes = list(dict.fromkeys(frame["mode"].astype(str)))
    chosen_modes = present_modes if modes is None else list(dict.fromkeys(modes))
    unknown = [m for m in chosen_modes if m not in present_modes]
    if unknown or not chosen_modes:
        raise ConfigError(
            f"mode(s) {', '.join(map(repr, unknown)) or '(none given)'} not in the result (its "
            f"modes: {', '.join(present_modes)})"
        )
    labels = list(dict.fromkeys(frame["_label"]))
    if series is not None:
        wanted = [series] if isinstance(series, str) else list(series)
        metrics = frame["metric"].astype(str)
        picked = [
            label
            for label in labels
            if label in wanted or metrics[frame["_label"] == label].iloc[0] in wanted
        ]
        matched = set(picked) | set(metrics[frame["_label"].isin(picked)])
        missing = [s for s in wanted if s not in matched]
        if missing:
            raise ConfigError(
                f"unknown series {', '.join(map(repr, missing[:5]))}; the result's series are "
                f"{', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''}"
            )
        labels = picked

    height = 1.7 + 0.42 * len(labels)
    fig, axes = plt.subplots(
        1,
        len(chosen_modes),
        figsize=(4.8 * len(chosen_modes) + 2.2, height),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, mode in zip(axes[0], chosen_modes, strict=True):
        ax.set_label(f"jump_test:{mode}")
        mine = frame[frame["mode"] == mode].set_index("_label")
        for position, label in enumerate(labels):
            if label not in mine.index:
                continue
            row = mine.loc[label]
            if isinstance(row, pd.DataFrame):  # duplicated series rows: the first
                row = row.iloc[0]
            _draw_series(ax, position, row)
        ax.set_title(textwrap.fill(MODE_LABELS.get(mode, mode), 40), fontsize="medium")
        ax.set_xlabel(STATISTIC_LABELS.get(statistic, statistic))
        ax.grid(axis="x", color="0.9")
    first = axes[0][0]
    first.set_yticks(range(len(labels)), labels, fontsize="small")
    first.set_ylim(len(labels) - 0.5, -0.7)
    handles: list[Any] = [
        Line2D([], [], color="0.6", lw=5, alpha=0.7, label="predicted 90% interval"),
        Line2D([], [], color="0.2", ls="", marker="|", ms=10, label="predicted median"),
    ] + [
        Line2D([], [], ls="", marker="D", color=colour, label=f"observed: {VERDICT_LABELS[v]}")
        for v, colour in VERDICT_COLOURS.items()
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return fig


def _draw_series(ax: Any, y: int, row: pd.Series) -> None:
    observed = float(row["observed"])
    low, mid, high = (float(row[c]) for c in ("predicted_q05", "predicted_q50", "predicted_q95"))
    colour = verdict_colour(str(row["verdict"]))
    if not np.isfinite(observed):
        reason = str(row["reason"]) if isinstance(row["reason"], str) else ""
        ax.annotate(
            textwrap.shorten(f"not tested: {reason}" if reason else "not tested", 70),
            xy=(0.01, y),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=6.5,
            color=colour,
            gid="not_tested",
        )
        return
    if np.isfinite(low) and np.isfinite(high):
        ax.plot([low, high], [y, y], color="0.6", lw=5, alpha=0.7, solid_capstyle="butt")
        ax.plot([mid], [y], "|", color="0.2", ms=10)
    ax.plot([observed], [y], "D", color=colour, ms=6, zorder=3, gid=f"observed:{y}")
    text = _verdict_text(row)
    if isinstance(row["reason"], str) and row["reason"]:
        text += " (" + textwrap.shorten(row["reason"], 50) + ")"
    ax.annotate(
        text,
        xy=(0.99, y - 0.22),
        xycoords=("axes fraction", "data"),
        ha="right",
        va="bottom",
        fontsize=6.5,
        color=colour,
        gid="verdict",
    )
