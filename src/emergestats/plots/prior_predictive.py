"""Figure of the prior predictive check: what the default priors say about scaling curves.

The draws come from :func:`emergestats.models.priors.sample_prior_curves`; this module only
draws them (plots never compute posteriors).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_prior_predictive(
    curves: xr.Dataset,
    *,
    ax: Axes | np.ndarray | None = None,
    n_lines: int = 40,
    random_seed: int | None = 0,
) -> tuple[Figure, Any]:
    """Plot prior draws of per-token cross-entropy and exact match against scale.

    Parameters
    ----------
    curves
        Output of :func:`~emergestats.models.priors.sample_prior_curves` (dims ``draw``,
        ``scale``; variables ``cross_entropy`` and ``exact_match``).
    ax
        Two axes to draw on (cross-entropy, exact match); new ones if ``None``.
    n_lines
        Number of individual prior curves drawn over the 5-95% bands.
    random_seed
        Which draws are shown as lines.

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)
    """
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), constrained_layout=True)
    else:
        axes = np.asarray(ax).ravel()
        if axes.size != 2:
            raise ValueError("ax must hold two axes: cross-entropy and exact match")
        fig = axes[0].figure
    scales = curves["scale"].to_numpy()
    rng = np.random.default_rng(random_seed)
    shown = rng.choice(curves.sizes["draw"], size=min(n_lines, curves.sizes["draw"]), replace=False)
    panels = (
        ("cross_entropy", "per-token cross-entropy (nats)", True),
        ("exact_match", f"exact match (mean length {curves.attrs.get('mean_length', 1):g})", False),
    )
    for axis, (name, label, log_y) in zip(axes, panels, strict=True):
        values = curves[name].transpose("draw", "scale").to_numpy()
        low, mid, high = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
        axis.fill_between(scales, low, high, color="C0", alpha=0.2, label="5-95% of prior")
        axis.plot(scales, mid, color="C0", lw=2, label="prior median")
        for draw in shown:
            axis.plot(scales, values[draw], color="C0", lw=0.5, alpha=0.4)
        axis.set_xscale("log")
        if log_y:
            axis.set_yscale("log")
        axis.set_xlabel("parameters N")
        axis.set_ylabel(label)
    axes[0].axvline(curves.attrs.get("n_ref", np.nan), color="grey", ls=":", lw=1)
    axes[0].legend(loc="best", fontsize="small")
    fig.suptitle("Prior predictive check: default priors")
    return fig, axes
