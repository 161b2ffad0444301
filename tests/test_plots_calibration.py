"""The calibration figure draws a tidy calibration summary (Agg backend, no sampling)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from emergestats.plots.calibration import plot_calibration, wilson_interval


def test_wilson_interval_by_hand() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_plot_calibration_returns_two_panels() -> None:
    table = pd.DataFrame(
        {
            "mode": ["leave_future_out", "leave_future_out", "cross_metric"],
            "cell": ["generation L=5, 200 items, 8 sizes"] * 2 + ["choice K=4, 200 items, 8 sizes"],
            "break_factor": [0.5, 0.25, 0.5],
            "n_smooth": [20, 20, 20],
            "n_broken": [20, 20, 20],
            "false_alarm": [0.05, 0.05, 0.0],
            "power": [0.85, 1.0, 0.0],
        }
    )
    fig = plot_calibration(table)
    try:
        assert len(fig.axes) == 2
        assert fig.axes[0].get_title().startswith("false-alarm")
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(labels) == 3 and "CE x0.5" in labels[0]
        assert {t.get_text() for t in fig.axes[1].get_legend().get_texts()} == {
            "leave_future_out: verdict rule",
            "cross_metric: verdict rule",
        }
    finally:
        plt.close(fig)
