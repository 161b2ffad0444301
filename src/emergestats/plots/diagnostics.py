"""Sampling and predictive diagnostics of a fit, drawn with arviz-plots and matplotlib.

- :func:`plot_rank`: rank (or trace) plots of the population parameters;
- :func:`plot_energy`: the HMC energy distributions with each chain's E-BFMI;
- :func:`plot_ppc`: the posterior predictive check of every observed variable;
- :func:`plot_pareto_k`: the PSIS-LOO Pareto k of every observation cell
  (:func:`emergestats.inference.loo`), with the 0.7 threshold;
- :func:`plot_diagnostics`: the first three at once.

Everything is read from the fit's inference data (or a LOO result); nothing is sampled. A fit
that fails its sampling diagnostics has the failures written above each figure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from emergestats.errors import ConfigError
from emergestats.plots.slopes import plot_collection_figure
from emergestats.plots.style import (
    SCALE_LABEL,
    VERDICT_COLOURS,
    diagnostics_note,
    figure_title,
)

if TYPE_CHECKING:
    from arviz_plots import PlotCollection

    from emergestats.inference.fit import Fit
    from emergestats.inference.loo import LooResult

__all__ = [
    "plot_diagnostics",
    "plot_energy",
    "plot_pareto_k",
    "plot_ppc",
    "plot_rank",
    "population_variables",
]

#: Dimensions of per-curve, per-cell, per-row or per-item variables (not population ones).
_LOCAL_DIMS: Final[tuple[str, ...]] = ("curve", "cell", "obs", "item", "row")
#: Name parts of the samplers' internal parametrisation (non-centred z's, LKJ units, ...).
_INTERNAL: Final[tuple[str, ...]] = ("z_", "_z", "_centred", "_unit", "_raw", "_offset")
PARETO_K_THRESHOLD: Final[float] = 0.7
RANK_KINDS: Final[tuple[str, ...]] = ("rank", "trace", "trace_dist")


def _check_fit(fit: Any, function: str) -> Fit:
    from emergestats.inference.fit import Fit

    if not isinstance(fit, Fit):
        raise ConfigError(
            f"{function} takes an emergestats Fit (from es.fit or Fit.load), not "
            f"{type(fit).__name__}"
        )
    return fit


def population_variables(fit: Fit) -> list[str]:
    """The posterior's population-level variables: none of their dims is per curve or cell.

    Scalars (spreads, correlations, forward-map parameters) and per-family means (``a_mu``,
    ``log_b_mu``); the non-centred ``z`` variables and other internal parametrisations are
    left out.
    """
    fit = _check_fit(fit, "population_variables")
    posterior = fit.posterior
    out = []
    for name in posterior.data_vars:
        dims = [str(d) for d in posterior[name].dims if d not in ("chain", "draw")]
        if any(any(local in d for local in _LOCAL_DIMS) for d in dims):
            continue
        text = str(name)
        if text.startswith("z_") or any(part in text for part in _INTERNAL[1:]):
            continue
        out.append(text)
    return sorted(out)


def _variables(fit: Fit, var_names: Sequence[str] | None) -> list[str]:
    if var_names is None:
        names = population_variables(fit)
        if not names:
            raise ConfigError("the fit's posterior has no population-level variable to draw")
        return names
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    missing = [v for v in names if v not in fit.posterior.data_vars]
    if missing or not names:
        raise ConfigError(
            f"the posterior has no {', '.join(map(repr, missing)) or 'variable given'}; its "
            f"population variables are {', '.join(population_variables(fit))}"
        )
    return names


SAMPLE: Final[tuple[str, str]] = ("chain", "draw")


def plot_rank(
    fit: Fit,
    *,
    var_names: Sequence[str] | None = None,
    kind: str = "rank",
    **pc_kwargs: Any,
) -> PlotCollection:
    """Rank plots (or traces) of the population parameters, one panel per variable.

    Parameters
    ----------
    fit
        A fit.
    var_names
        The variables (default :func:`population_variables`).
    kind
        ``"rank"`` (:func:`arviz_plots.plot_rank`: per-chain rank ECDFs with a simultaneous
        envelope; default), ``"trace"`` (:func:`arviz_plots.plot_trace`) or ``"trace_dist"``
        (:func:`arviz_plots.plot_trace_dist`).
    **pc_kwargs
        Passed to the arviz-plots function.

    Returns
    -------
    arviz_plots.PlotCollection
    """
    import arviz_plots as azp
    from arviz_base import rc_context, rcParams

    fit = _check_fit(fit, "plot_rank")
    if kind not in RANK_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(map(repr, RANK_KINDS))}, not {kind!r}")
    names = _variables(fit, var_names)
    function: dict[str, Any] = {
        "rank": azp.plot_rank,
        "trace": azp.plot_trace,
        "trace_dist": azp.plot_trace_dist,
    }
    # one panel per element: a fit of 23 families has 2 x 23 family means beside its scalars,
    # more than arviz-plots' default cap of 40 subplots, which raised inside the report
    panels = sum(
        int(np.prod([size for d, size in fit.posterior[n].sizes.items() if d not in SAMPLE]))
        for n in names
    )
    limit = max(int(rcParams["plot.max_subplots"]), panels)
    with rc_context({"plot.max_subplots": limit}):
        pc = function[kind](fit.idata, var_names=names, backend="matplotlib", **pc_kwargs)
    figure_title(plot_collection_figure(pc), None, [diagnostics_note(fit)])
    return pc


def plot_energy(fit: Fit, **pc_kwargs: Any) -> PlotCollection:
    """Marginal and transition energy of the sampler, with E-BFMI per chain (threshold 0.3).

    :func:`arviz_plots.plot_energy` on the fit's ``sample_stats``.
    """
    import arviz_plots as azp

    fit = _check_fit(fit, "plot_energy")
    if "sample_stats" not in fit.idata.children or "energy" not in fit.idata["sample_stats"]:
        raise ConfigError("the fit has no sampler energy (sample_stats/energy) to draw")
    pc = azp.plot_energy(fit.idata, backend="matplotlib", **pc_kwargs)
    figure_title(plot_collection_figure(pc), None, [diagnostics_note(fit)])
    return pc


def plot_ppc(
    fit: Fit,
    *,
    var_names: Sequence[str] | None = None,
    kind: str = "ecdf",
    num_samples: int = 50,
    **pc_kwargs: Any,
) -> PlotCollection:
    """Posterior predictive check: each observed variable's distribution against replicates.

    :func:`arviz_plots.plot_ppc_dist` on the fit's ``posterior_predictive`` and
    ``observed_data`` (drawn when the fit was made): one panel per observed variable
    (``obs_<role>``), the values of all its rows pooled, as observed (counts for the count
    roles). ``kind`` ``"ecdf"`` (default: the counts are discrete), ``"kde"`` or ``"hist"``.
    """
    import arviz_plots as azp

    fit = _check_fit(fit, "plot_ppc")
    children = fit.idata.children
    if "posterior_predictive" not in children or "observed_data" not in children:
        raise ConfigError("the fit has no posterior_predictive and observed_data groups to check")
    available = list(fit.idata["posterior_predictive"].to_dataset().data_vars)
    names = available if var_names is None else list(var_names)
    missing = [v for v in names if v not in available]
    if missing or not names:
        raise ConfigError(
            f"no posterior predictive variable {', '.join(map(repr, missing)) or 'given'}; the "
            f"fit has {', '.join(map(str, available))}"
        )
    pc = azp.plot_ppc_dist(
        fit.idata,
        var_names=names,
        kind=kind,
        num_samples=num_samples,
        backend="matplotlib",
        **pc_kwargs,
    )
    figure_title(plot_collection_figure(pc), None, [diagnostics_note(fit)])
    return pc


def plot_diagnostics(fit: Fit, *, rank_kind: str = "rank") -> dict[str, PlotCollection]:
    """The sampling diagnostics figures of a fit: ``rank``, ``energy`` and ``ppc``.

    See :func:`plot_rank` (``kind=rank_kind``), :func:`plot_energy` and :func:`plot_ppc`;
    the LOO Pareto k figure is :func:`plot_pareto_k`.
    """
    return {
        "rank": plot_rank(fit, kind=rank_kind),
        "energy": plot_energy(fit),
        "ppc": plot_ppc(fit),
    }


def plot_pareto_k(
    fit_or_loo: Fit | LooResult,
    *,
    threshold: float = PARETO_K_THRESHOLD,
) -> Figure:
    """The PSIS-LOO Pareto k of every observation cell, with the threshold marked.

    Parameters
    ----------
    fit_or_loo
        A fit (its LOO is computed here with :func:`emergestats.inference.loo`, PSIS only, no
        refits) or a :class:`~emergestats.inference.LooResult`.
    threshold
        Pareto k above which a cell's PSIS estimate is unreliable (0.7); those cells are
        named (their model) and counted in the title.

    Returns
    -------
    matplotlib.figure.Figure
        One axis. From a smooth or broken fit: one point per (curve, model) cell at the model's
        scale, one colour per curve; from a LOO result (or an item fit): k against the cell's
        position. Hollow points are the constant cells (k = 0 exactly); refitted cells, whose
        k is undefined, are left out.
    """
    from emergestats.inference.fit import Fit
    from emergestats.inference.loo import LooResult, loo

    if isinstance(fit_or_loo, Fit):
        fit: Fit | None = fit_or_loo
        with warnings.catch_warnings():
            # the cells above the threshold are what this figure shows
            warnings.simplefilter("ignore", UserWarning)
            result = loo(fit_or_loo)
    elif isinstance(fit_or_loo, LooResult):
        fit, result = None, fit_or_loo
    else:
        raise ConfigError(
            f"plot_pareto_k takes a Fit or a LooResult, not {type(fit_or_loo).__name__}"
        )
    if not (isinstance(threshold, int | float) and math.isfinite(threshold)):
        raise ConfigError(f"threshold must be a finite number, not {threshold!r}")
    pointwise = result.pointwise
    cells = pointwise["cell"].to_numpy(np.int64)
    k = pointwise["pareto_k"].to_numpy(float)
    constant = (pointwise["method"] == "constant").to_numpy()
    prepared = fit.prepared if fit is not None else None
    by_scale = prepared is not None and hasattr(prepared, "cell_curve")

    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    ax.set_label("pareto_k")
    if by_scale:
        assert fit is not None and prepared is not None
        evaluation: Any = prepared
        cell_curve = np.asarray(evaluation.cell_curve)[cells]
        x = np.exp(np.asarray(evaluation.cell_x, dtype=float)[cells] + math.log(fit.n_ref))
        names = [str(evaluation.cell_labels[c]).rsplit("|", 1)[-1] for c in cells]
        groups = [(str(label), cell_curve == j) for j, label in enumerate(prepared.curve_labels)]
        ax.set_xscale("log")
        ax.set_xlabel(SCALE_LABEL + " of the cell's model")
    else:
        x = np.arange(len(cells), dtype=float)
        names = [str(c) for c in cells]
        groups = [("cells", np.ones(len(cells), dtype=bool))]
        ax.set_xlabel("observation cell")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, mine) in enumerate(groups):
        if not mine.any():
            continue
        colour = colours[index % len(colours)]
        solid = mine & ~constant & np.isfinite(k)
        ax.plot(x[solid], k[solid], "o", color=colour, ms=4, label=label, gid=f"k:{label}")
        hollow = mine & constant
        if hollow.any():
            ax.plot(x[hollow], k[hollow], "o", mfc="white", mec=colour, ms=4, gid="k:constant")
    high = np.flatnonzero(np.isfinite(k) & (k > threshold))
    for position in high:
        ax.annotate(
            names[position],
            xy=(x[position], k[position]),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=6.5,
        )
    ax.axhline(threshold, color=VERDICT_COLOURS["excess_jump"], ls="--", lw=1, gid="threshold")
    ax.set_ylabel("Pareto k")
    finite = k[np.isfinite(k)]
    low = min(-0.05, float(finite.min()) - 0.05) if finite.size else -0.05
    high_limit = max(1.0, float(finite.max()) + 0.1) if finite.size else 1.0
    ax.set_ylim(low, high_limit)
    handles, _ = ax.get_legend_handles_labels()
    red = VERDICT_COLOURS["excess_jump"]
    handles.append(Line2D([], [], color=red, ls="--", label=f"k = {threshold:g}"))
    if constant.any():
        exact = Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", label="constant (exact)")
        handles.append(exact)
    ax.legend(handles=handles, loc="upper left", fontsize="x-small", ncols=2)
    n_finite = int(np.isfinite(k).sum())
    ax.set_title(
        f"PSIS-LOO Pareto k per observation cell: {len(high)} of {n_finite} above {threshold:g}",
        fontsize="medium",
    )
    if fit is not None:
        figure_title(fig, None, [diagnostics_note(fit)])
    return fig
