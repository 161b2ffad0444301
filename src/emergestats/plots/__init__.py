"""Figures from a fitted object, a result or a table; plotting never samples.

Each function returns the matplotlib Figure or the arviz-plots ``PlotCollection`` it drew, so a
notebook can restyle it; colours and labels come from :mod:`emergestats.plots.style`.

- :func:`plot_curves`, :func:`plot_latent`: observed scores against posterior predictive bands
  (and the metric-only band), the latent per-token curve, the verdicts;
- :func:`plot_jump_test`: each series' observed jump statistic against its predicted interval;
- :func:`plot_slopes`: forest plot of the per-curve slopes and levels;
- :func:`plot_pareto_k`, :func:`plot_rank`, :func:`plot_energy`, :func:`plot_ppc`,
  :func:`plot_diagnostics`: LOO and sampling diagnostics;
- :func:`plot_calibration`: false alarm and power of the mirage test;
- :func:`plot_prior_predictive`: what the default priors say about scaling curves.
"""

from emergestats.plots.calibration import plot_calibration
from emergestats.plots.curves import plot_curves, plot_latent
from emergestats.plots.diagnostics import (
    plot_diagnostics,
    plot_energy,
    plot_pareto_k,
    plot_ppc,
    plot_rank,
    population_variables,
)
from emergestats.plots.jump_test import plot_jump_test
from emergestats.plots.prior_predictive import plot_prior_predictive
from emergestats.plots.slopes import plot_collection_figure, plot_slopes

__all__ = [
    "plot_calibration",
    "plot_collection_figure",
    "plot_curves",
    "plot_diagnostics",
    "plot_energy",
    "plot_jump_test",
    "plot_latent",
    "plot_pareto_k",
    "plot_ppc",
    "plot_prior_predictive",
    "plot_rank",
    "plot_slopes",
    "population_variables",
]
