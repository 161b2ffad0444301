"""Leave-one-out cross-validation per observation cell: PSIS-LOO, exact refits, comparison.

The pointwise log-likelihood is defined per observation cell (one table row with a
likelihood), :func:`log_likelihood_cells` (:meth:`Fit.log_likelihood_cells
<emergestats.inference.Fit.log_likelihood_cells>`). Every probability inside the likelihoods is
clipped to ``[1e-12, 1 - 1e-12]``, so each cell is finite in every draw. A cell whose
log-likelihood is the same in every draw (e.g. a count of 0 where the rate is ~0 in every
draw) carries no information for importance sampling and makes PSIS return NaN; :func:`loo`
gives such cells their exact value (the constant; Pareto k = 0). Cells with Pareto k above 0.7
are reported and, with ``refit=True``, replaced by exact leave-one-out refits.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from emergestats.errors import ConfigError
from emergestats.inference.fit import Fit, fit
from emergestats.inference.io import _lengths_from_json


def log_likelihood_cells(fit_: Fit, *, by: str = "cell") -> xr.DataArray:
    """Pointwise log-likelihood per LOO unit, dims ``(chain, draw, cell)``.

    ``by="cell"`` (default): one unit per (curve, model) cell, the sum over every row of that
    model's outputs on that curve (every metric, and the spread of a reported standard error):
    leaving out one row would let the other metrics of the same outputs predict it.
    ``cell`` holds the positions in the prepared data's ``cell_labels``. ``by="row"``: one unit
    per table row with a likelihood (``cell`` = the row positions). Item fits are by row.
    """
    if by not in ("cell", "row"):
        raise ConfigError(f"by must be 'cell' or 'row', not {by!r}")
    group = fit_.idata["log_likelihood"].to_dataset()
    pieces = []
    for name in group.data_vars:
        array = group[name]
        (dim,) = [d for d in array.dims if d not in ("chain", "draw")]
        pieces.append(
            array.rename({dim: "cell"}).assign_coords(
                cell=np.asarray(array[dim].to_numpy(), dtype=np.int64)
            )
        )
    rows = xr.concat(pieces, dim="cell")
    prepared = fit_.prepared
    if by == "row" or fit_.config.model == "item":
        cells = rows.groupby("cell").sum()
    else:
        cell_of_row = np.asarray(prepared.cell_index)[rows["cell"].to_numpy()]  # type: ignore[union-attr]
        cells = rows.assign_coords(cell=cell_of_row).groupby("cell").sum()
    return cells.transpose("chain", "draw", "cell").rename("log_likelihood")


@dataclass
class LooResult:
    """PSIS-LOO of a fit, per observation cell.

    Attributes
    ----------
    elpd
        Expected log pointwise predictive density (sum over cells).
    se
        Its standard error.
    p_loo
        Effective number of parameters.
    pointwise
        One row per cell: ``cell`` (table row), ``elpd``, ``pareto_k``, ``method``
        (``psis``, ``constant`` for cells with the same log-likelihood in every draw, or
        ``refit`` for exact leave-one-out refits).
    n_high_k
        Cells with Pareto k > 0.7 left after any refits.
    elpd_data
        ArviZ's own result for the PSIS cells (for :func:`arviz.compare` and plots).
    """

    elpd: float
    se: float
    p_loo: float
    pointwise: pd.DataFrame
    n_high_k: int
    elpd_data: Any

    def __repr__(self) -> str:
        return (
            f"LooResult(elpd={self.elpd:.1f}, se={self.se:.1f}, p_loo={self.p_loo:.1f}, "
            f"cells={len(self.pointwise)}, pareto_k>0.7: {self.n_high_k})"
        )


def _cells_tree(cells: xr.DataArray, posterior: xr.Dataset) -> xr.DataTree:
    """A DataTree with the cell log-likelihood (and the posterior, for ArviZ's relative ESS)."""
    tree = xr.DataTree()
    tree["posterior"] = xr.DataTree(posterior)
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({"cells": cells}))
    return tree


def loo(
    fit_: Fit,
    *,
    refit: bool = False,
    max_refits: int = 10,
    k_threshold: float = 0.7,
) -> LooResult:
    """PSIS-LOO per observation cell, with constant cells handled exactly and optional refits.

    Parameters
    ----------
    fit_
        The fit.
    refit
        Replace the PSIS estimate of every cell with Pareto k > ``k_threshold`` by an exact
        leave-one-out refit (the model refitted without that table row, with the fit's sampler
        settings); at most ``max_refits`` refits (else a warning says how many were left).
    max_refits
        Cap on the number of refits.
    k_threshold
        Pareto k above which PSIS is unreliable (0.7).

    Returns
    -------
    LooResult
    """
    cells = fit_.log_likelihood_cells()
    values = cells.to_numpy().reshape(-1, cells.sizes["cell"])
    spread = values.max(axis=0) - values.min(axis=0)
    constant = spread < 1e-10
    cell_ids = cells["cell"].to_numpy()
    elpd_i = np.empty(len(cell_ids))
    k = np.zeros(len(cell_ids))
    method = np.array(["constant"] * len(cell_ids), dtype=object)
    elpd_i[constant] = values[0, constant]
    elpd_data = None
    p_loo = 0.0
    if (~constant).any():
        sub = cells.isel(cell=np.flatnonzero(~constant))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elpd_data = az.loo(_cells_tree(sub, fit_.posterior), pointwise=True, var_name="cells")
        elpd_i[~constant] = np.asarray(elpd_data.elpd_i).ravel()
        k[~constant] = np.asarray(elpd_data.pareto_k).ravel()
        method[~constant] = "psis"
        lppd_i = _logmeanexp(values[:, ~constant], axis=0)
        p_loo = float(np.sum(lppd_i - elpd_i[~constant]))
    high = np.flatnonzero(k > k_threshold)
    if refit and len(high):
        todo, left = high[:max_refits], high[max_refits:]
        for position in todo:
            elpd_i[position] = _exact_loo_cell(fit_, int(cell_ids[position]))
            method[position] = "refit"
            k[position] = np.nan
        if len(left):
            warnings.warn(
                f"{len(left)} cells still have Pareto k > {k_threshold} after {len(todo)} "
                "refits; raise max_refits or use k-fold cross-validation",
                UserWarning,
                stacklevel=2,
            )
        n_high = len(left)
    else:
        n_high = len(high)
        if n_high:
            warnings.warn(
                f"{n_high} of {len(cell_ids)} cells have Pareto k > {k_threshold}: their PSIS "
                "estimates are unreliable; call loo(fit, refit=True) for exact refits",
                UserWarning,
                stacklevel=2,
            )
    pointwise = pd.DataFrame({"cell": cell_ids, "elpd": elpd_i, "pareto_k": k, "method": method})
    elpd = float(elpd_i.sum())
    se = float(np.sqrt(len(elpd_i) * np.var(elpd_i)))
    return LooResult(
        elpd=elpd, se=se, p_loo=p_loo, pointwise=pointwise, n_high_k=n_high, elpd_data=elpd_data
    )


def _logmeanexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.mean(np.exp(values - top), axis=axis))


def _exact_loo_cell(fit_: Fit, cell: int) -> float:
    """Exact LOO log predictive density of one (curve, model) cell: refit without it, score it."""
    config = fit_.config
    prepared = fit_.prepared
    if config.model == "item":
        rows = np.array([cell])
    else:
        rows = np.flatnonzero(np.asarray(prepared.cell_index) == cell)  # type: ignore[union-attr]
    table = fit_.table.drop(index=list(rows)).reset_index(drop=True)
    options: dict[str, Any] = {"n_ref": config.n_ref}
    if config.model != "item":
        options.update(floor=config.floor, centered=config.centered, lure=config.lure)
    lengths = _lengths_from_json(config.lengths_json)
    if lengths:
        options["lengths"] = lengths
    options.update(json.loads(config.sampler_options_json))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        held_out = fit(
            table,
            config.model,
            sampler=config.sampler,
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            random_seed=config.random_seed,
            priors=config.priors,
            **options,
        )
    # score the left-out rows: their log predictive density under the held-out posterior,
    # with the left-out cell's deviation drawn from its population (a new cell to that fit)
    from emergestats.inference.predict import row_log_density

    if config.model != "item":
        rows = rows[prepared.observations.modelled[rows]]  # type: ignore[union-attr]
    return row_log_density(held_out, fit_.table.iloc[rows], random_seed=config.random_seed)


def compare(fits: Mapping[str, Fit]) -> pd.DataFrame:
    """Compare fits of the same table by PSIS-LOO (ArviZ ``compare`` on the cell log-likelihood).

    Parameters
    ----------
    fits
        Named fits, e.g. ``{"smooth": smooth_fit, "broken": broken_fit}``; all must be fitted
        to the same rows.

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (rank, elpd, differences and their standard errors, weights).
    """
    if len(fits) < 2:
        raise ConfigError("compare needs at least two fits")
    cells = {name: f.log_likelihood_cells() for name, f in fits.items()}
    reference = next(iter(cells.values()))["cell"].to_numpy()
    for name, array in cells.items():
        if not np.array_equal(array["cell"].to_numpy(), reference):
            raise ConfigError(
                f"fit {name!r} was fitted to other rows than the first fit; LOO comparison "
                "needs the same observation cells"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.compare(
            {name: _cells_tree(c, fits[name].posterior) for name, c in cells.items()},
            var_name="cells",
        )
