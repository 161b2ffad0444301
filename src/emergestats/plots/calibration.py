"""Figure of the mirage test's calibration: false-alarm rate and power per simulated grid cell.

The table is the tidy summary of :func:`emergestats.mirage.calibrate` (its ``summary``,
one row per grid cell), optionally with a ``mode`` column when several modes were calibrated
(``docs/calibration.csv``). Plotting never samples.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_calibration", "wilson_interval"]


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN for no trials).

    Examples
    --------
    >>> [round(v, 3) for v in wilson_interval(0, 20)]
    [0.0, 0.161]
    """
    if trials <= 0:
        return math.nan, math.nan
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def plot_calibration(
    table: pd.DataFrame,
    *,
    max_false_alarm: float = 0.10,
    min_power: float = 0.80,
    alpha: float = 0.05,
) -> Figure:
    """False-alarm rate (smooth truths) and power (broken truths) per grid cell and mode.

    Parameters
    ----------
    table
        Calibration summary rows with ``cell``, ``n_smooth``, ``n_broken``, ``false_alarm``,
        ``power``, ``break_factor`` and optionally ``mode``; the 95% Wilson intervals are
        computed from the counts.
    max_false_alarm, min_power, alpha
        The targets and the nominal level, drawn as reference lines.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (false alarm, power), one row of points per grid cell, one colour per mode:
        filled markers with intervals for the verdict rule, hollow ones (when the table has
        ``false_alarm_p`` and ``power_p``) for the raw ``p <= alpha`` with diagnostics ignored.
    """
    frame = table.copy()
    if "mode" not in frame.columns:
        frame["mode"] = "cross_metric"
    frame["label"] = [
        f"{c}, CE x{b:g}" for c, b in zip(frame["cell"], frame["break_factor"], strict=True)
    ]
    labels = list(dict.fromkeys(frame["label"]))
    modes = list(dict.fromkeys(frame["mode"]))
    height = 2.2 + 0.45 * len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(11, height), sharey=True, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    offsets = np.linspace(-0.2, 0.2, len(modes)) if len(modes) > 1 else np.zeros(1)
    panels = (
        ("false_alarm", "n_smooth", "false-alarm rate (smooth truths)", max_false_alarm),
        ("power", "n_broken", "power (broken truths)", min_power),
    )
    for ax, (column, trials, title, target) in zip(axes, panels, strict=True):
        for index, mode in enumerate(modes):
            mine = frame[frame["mode"] == mode]
            y = np.array([labels.index(v) for v in mine["label"]], dtype=float) + offsets[index]
            rate = mine[column].to_numpy(float)
            n = mine[trials].to_numpy(float)
            low, high = np.array(
                [
                    wilson_interval(round(r * t), int(t)) if np.isfinite(r) else (np.nan, np.nan)
                    for r, t in zip(rate, n, strict=True)
                ]
            ).T.reshape(2, -1)
            ax.errorbar(
                rate,
                y,
                xerr=[rate - low, high - rate],
                fmt="o",
                color=colours[index % len(colours)],
                label=f"{mode}: verdict rule",
                capsize=2,
            )
            if f"{column}_p" in mine.columns:
                # the raw rule p <= alpha, diagnostics ignored: hollow markers, no interval
                ax.plot(
                    mine[f"{column}_p"].to_numpy(float),
                    y + 0.12,
                    "o",
                    markerfacecolor="none",
                    color=colours[index % len(colours)],
                    label=f"{mode}: raw p <= {alpha:g}",
                )
        ax.axvline(target, color="0.3", linestyle="--", linewidth=1)
        if column == "false_alarm":
            ax.axvline(alpha, color="0.6", linestyle=":", linewidth=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(title)
        ax.set_xlabel("share called excess_jump (95% Wilson interval)")
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    axes[1].legend(loc="center right", fontsize="x-small")
    return fig
