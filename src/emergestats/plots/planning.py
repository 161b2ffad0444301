"""Figure of an evaluation plan: the jump test's power (and false alarm) per number of items.

Drawn from a :class:`~emergestats.planning.PlanResult`; plotting never samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from emergestats.plots.style import VERDICT_COLOURS

if TYPE_CHECKING:
    from emergestats.planning import PlanResult

__all__ = ["plot_power_curve"]


def plot_power_curve(result: PlanResult) -> Figure:
    """Power per candidate number of items with 90% intervals, the target, and the answer.

    The false-alarm rate is drawn on the same axis when the plan simulated smooth truths,
    with the verdict rule's limit.
    """
    table = result.power
    items = table["n_items"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    detect = VERDICT_COLOURS["excess_jump"]
    ax.errorbar(
        items,
        table["power"],
        yerr=np.vstack([table["power"] - table["power_q05"], table["power_q95"] - table["power"]]),
        color=detect,
        marker="o",
        capsize=3,
        label="power (broken truths detected)",
    )
    ax.axhline(result.target_power, color=detect, linestyle="--", linewidth=1, label="target power")
    if "false_alarm" in table.columns:
        calm = VERDICT_COLOURS["explained_by_metric"]
        ax.errorbar(
            items,
            table["false_alarm"],
            yerr=np.vstack(
                [
                    table["false_alarm"] - table["false_alarm_q05"],
                    table["false_alarm_q95"] - table["false_alarm"],
                ]
            ),
            color=calm,
            marker="s",
            capsize=3,
            label="false alarm (smooth truths)",
        )
        ax.axhline(
            result.max_false_alarm,
            color=calm,
            linestyle=":",
            linewidth=1,
            label="false-alarm limit",
        )
    needed = result.needed_items
    if needed is not None:
        ax.axvline(needed, color="#333333", linewidth=0.8)
        ax.annotate(f"{needed} items", (needed, 0.02), xytext=(4, 0), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlim(items.min() / 1.5, items.max() * 1.5)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("items in the task")
    ax.set_ylabel("share of simulated tests (90% interval)")
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    sizes = np.asarray(result.sizes)
    fig.suptitle(f"{result.task.name}: power of the jump test", fontsize="medium")
    ax.set_title(
        f"{sizes.size} sizes {sizes.min():.2g}-{sizes.max():.2g}, CE x {result.break_factor:g}, "
        f"{int(table['n_broken'].iloc[0])} broken truths per point",
        fontsize="small",
    )
    return fig
