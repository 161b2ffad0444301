"""Figures from a fitted object or a table; plotting never samples."""

from emergestats.plots.prior_predictive import plot_prior_predictive

__all__ = ["plot_prior_predictive"]
