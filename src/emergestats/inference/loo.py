"""Leave-one-out cross-validation per observation cell: PSIS-LOO, exact refits, comparison.

The pointwise log-likelihood is defined per (curve, model) cell, :func:`log_likelihood_cells`
(:meth:`Fit.log_likelihood_cells <emergestats.inference.Fit.log_likelihood_cells>`). A cell has
its own deviation ``delta`` from the power law, a parameter that only its own rows inform, so
the log-likelihood *given* ``delta`` changes sharply when the cell is left out: PSIS then fails
(Pareto k 0.8-1.4 on 8-size curves). Leaving out a cell means predicting a model the fit has
not seen, whose deviation is a fresh draw from ``Normal(0, cell_sigma)``; :func:`loo` therefore
uses the *integrated* cell log-likelihood (:func:`integrated_log_likelihood_cells`, Vehtari,
Mononen, Tolvanen, Sivula & Winther 2016), ``log int p(y_cell | delta) N(delta | 0,
cell_sigma) d delta`` per draw, computed by adaptive Gauss-Hermite quadrature through the
model's own likelihood graph. Every probability inside the likelihoods is
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
from typing import Any, Final

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy.special import logsumexp

from emergestats.data.table import CURVE_KEY
from emergestats.errors import ConfigError
from emergestats.inference.fit import Fit, fit
from emergestats.inference.io import _lengths_from_json

#: Gauss-Hermite nodes of the integral over a left-out cell's deviation.
DEVIATION_NODES: Final[int] = 15
#: The quadrature is centred on the posterior of each cell's deviation and this much wider
#: than its posterior sd, so the nodes cover the likelihood's peak and the prior's bulk.
_NODE_WIDENING: Final[float] = 2.0
#: Values per chunk of the quadrature's log-likelihood evaluation (draws x nodes x rows).
_CHUNK_VALUES: Final[int] = 20_000_000


def log_likelihood_cells(
    fit_: Fit, *, by: str = "cell", integrate_deviation: bool = False
) -> xr.DataArray:
    """Pointwise log-likelihood per LOO unit, dims ``(chain, draw, cell)``.

    ``by="cell"`` (default): one unit per (curve, model) cell, the sum over every row of that
    model's outputs on that curve (every metric, and the spread of a reported standard error):
    leaving out one row would let the other metrics of the same outputs predict it.
    ``cell`` holds the positions in the prepared data's ``cell_labels``. ``by="row"``: one unit
    per table row with a likelihood (``cell`` = the row positions). Item fits are by row.
    ``integrate_deviation=True`` (cells of an evaluation fit only) gives the cell's
    log-likelihood with its deviation integrated out
    (:func:`integrated_log_likelihood_cells`); :func:`loo` and :func:`compare` use it.
    """
    if by not in ("cell", "row"):
        raise ConfigError(f"by must be 'cell' or 'row', not {by!r}")
    if integrate_deviation:
        if by != "cell" or fit_.config.model == "item":
            raise ConfigError(
                "integrate_deviation needs by='cell' and a smooth or broken evaluation fit"
            )
        return integrated_log_likelihood_cells(fit_)
    if "log_likelihood" not in fit_.idata.children:
        raise ConfigError(
            "the fit has no log_likelihood group (it was fitted with log_likelihood=False); "
            "refit without that option, or use integrate_deviation=True"
        )
    return _group_cells(fit_, fit_.idata["log_likelihood"].to_dataset(), by=by)


def _group_cells(
    fit_: Fit, group: xr.Dataset, *, by: str, sample_dims: tuple[str, ...] = ("chain", "draw")
) -> xr.DataArray:
    """Join the observed variables' pointwise log-likelihoods and sum them per LOO unit."""
    pieces = []
    for name in group.data_vars:
        array = group[name]
        (dim,) = [d for d in array.dims if d not in sample_dims]
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
    return cells.transpose(*sample_dims, "cell").rename("log_likelihood")


def integrated_log_likelihood_cells(fit_: Fit, *, nodes: int = DEVIATION_NODES) -> xr.DataArray:
    """Each (curve, model) cell's log-likelihood with its deviation integrated out.

    Per posterior draw, ``log int p(y_cell | delta) Normal(delta | 0, cell_sigma) d delta``:
    the density of the cell's rows for a model the fit has not seen, which is what leaving the
    cell out asks (its own ``delta`` is informed by nothing else). The integral is an adaptive
    Gauss-Hermite quadrature per draw: ``nodes`` points ``delta_g = m + w s z_g`` (``w`` = 2)
    around the mean ``m`` and sd ``s`` of the draw's integrand, approximated as the cell's
    likelihood in ``delta`` (a normal read off the deviation's posterior mean and sd, less the
    prior's precision) times the draw's ``Normal(0, cell_sigma)``; each node weighted by
    ``Normal(delta_g | 0, cell_sigma) / Normal(delta_g | m, w s)``. Nodes fixed across draws
    at the posterior's mean and sd missed the integrand where ``cell_sigma`` was far below its
    posterior mean (a short run's drifting chain: 15 nodes gave -2.45, 41 nodes -2.61, Monte
    Carlo -1.87). The rows' log-likelihoods at each node come from the model's own graph
    (``pm.compute_log_likelihood`` with the cell's free deviation set to ``delta_g``), so every
    metric's likelihood is defined once.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, cell)``, ``cell`` the positions in ``cell_labels`` (as
        :func:`log_likelihood_cells`).

    References
    ----------
    Vehtari, A., Mononen, T., Tolvanen, V., Sivula, T. & Winther, O. (2016). Bayesian leave-one-out
    cross-validation approximations for Gaussian latent variable models. JMLR 17(103).
    """
    if fit_.config.model not in ("smooth", "broken"):
        raise ConfigError("the integrated cell log-likelihood needs a smooth or broken fit")
    post = fit_.posterior
    model = fit_.build_model()
    free = {v.name for v in model.free_RVs}
    deviation = post["cell_deviation"]  # (chain, draw, cell)
    sigma = post["cell_sigma"]  # (chain, draw)
    # the cell's likelihood in its deviation, as a normal read off the posterior: posterior
    # precision = likelihood's + prior's (at the mean prior variance; none where the posterior
    # is no sharper than the prior)
    center = deviation.mean(("chain", "draw"))
    post_var = deviation.var(("chain", "draw")).clip(min=1e-8)
    like_precision = (1.0 / post_var - 1.0 / (sigma**2).mean()).clip(min=0.0)
    like_weighted_mean = xr.where(like_precision > 0, center / post_var, 0.0)
    # per draw, that likelihood times the draw's own prior Normal(0, cell_sigma): the nodes
    # follow cell_sigma from draw to draw
    precision = like_precision + 1.0 / sigma**2  # (chain, draw, cell)
    scale = (_NODE_WIDENING / np.sqrt(precision)).clip(min=1e-4)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    z_nodes = xr.DataArray(z, dims="node")
    delta = like_weighted_mean / precision + scale * z_nodes  # (chain, draw, cell, node)
    # log [w_g / q(delta_g)] with q = Normal(m, s) the proposal: q(delta_g) = exp(-z_g^2 / 2)
    # / (sqrt(2 pi) s), and hermegauss's weights w_g sum to sqrt(2 pi)
    log_weight = xr.DataArray(np.log(w), dims="node") + 0.5 * z_nodes**2 + np.log(scale)
    log_prior = (
        -0.5 * (delta / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2.0 * np.pi)
    )  # (chain, draw, cell, node)
    names = [str(name) for name in post.data_vars if name in free]
    cell_dim = deviation.dims[-1]
    n_rows = int(np.asarray(fit_.prepared.observations.modelled).sum())  # type: ignore[union-attr]
    per_node = max(1, post.sizes["chain"] * post.sizes["draw"] * max(n_rows, 1))
    chunk = max(1, _CHUNK_VALUES // per_node)
    pieces = []
    for start in range(0, nodes, chunk):
        part = slice(start, min(nodes, start + chunk))
        values = {name: post[name].expand_dims(node=z[part]) for name in names}
        sub = delta.isel(node=part).rename({cell_dim: "__cell"})
        # the free deviations at the nodes: non-centred cells as delta / sigma, centred as delta
        # plus the draw's shift of the free value from the deviation (the level the rows read,
        # less the deviation, where the builder samples the cell at its level; else 0)
        for name in ("cell_z", "cell_deviation_centred"):
            if name in values:
                dim = post[name].dims[-1]
                labels = post[name].coords[dim].to_numpy()
                here = sub.sel(__cell=labels).rename({"__cell": dim})
                if name == "cell_z":
                    here = here / sigma
                else:
                    shift = post[name] - deviation.sel({cell_dim: labels}).rename({cell_dim: dim})
                    here = here + shift
                values[name] = here.transpose("node", "chain", "draw", ...)
        dataset = xr.Dataset({k: v.drop_vars("node", errors="ignore") for k, v in values.items()})
        tree = xr.DataTree()
        tree["posterior"] = xr.DataTree(dataset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            computed = pm.compute_log_likelihood(
                tree,
                model=model,
                extend_inferencedata=False,
                progressbar=False,
                sample_dims=("node", "chain", "draw"),
            )
        # extend_inferencedata=False returns the log_likelihood group itself
        group = computed.to_dataset() if isinstance(computed, xr.DataTree) else computed
        pieces.append(_group_cells(fit_, group, by="cell", sample_dims=("node", "chain", "draw")))
    conditional = xr.concat(pieces, dim="node")  # (node, chain, draw, cell)
    cells = conditional["cell"].to_numpy()
    prior = log_prior.isel({cell_dim: cells}).transpose("node", "chain", "draw", cell_dim)
    weight = log_weight.isel({cell_dim: cells}).transpose("node", "chain", "draw", cell_dim)
    total = conditional.to_numpy() + prior.to_numpy() + weight.to_numpy()
    integrated = logsumexp(total, axis=0)
    return xr.DataArray(
        integrated,
        dims=("chain", "draw", "cell"),
        coords={"chain": post["chain"], "draw": post["draw"], "cell": cells},
        name="log_likelihood",
    )


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
    cells = _loo_cells(fit_)
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


def _loo_cells(fit_: Fit) -> xr.DataArray:
    """The LOO units of a fit: integrated cells for evaluation fits, rows for item fits."""
    if fit_.config.model in ("smooth", "broken"):
        return integrated_log_likelihood_cells(fit_)
    return log_likelihood_cells(fit_)


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
        options.update(
            floor=config.floor,
            centered=config.centered,
            lure=config.lure,
            probability_noise=config.probability_noise,
        )
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
    cells = {name: _loo_cells(f) for name, f in fits.items()}
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


def compare_by_curve(smooth: Fit, broken: Fit, *, k_threshold: float = 0.7) -> pd.DataFrame:
    """Smooth vs broken latent per curve: the difference of their cell-level PSIS-LOO.

    Both fits must be of the same rows. Per curve, ``elpd_diff`` is the sum over the curve's
    (curve, model) cells of ``elpd_broken - elpd_smooth`` (positive: the break predicts
    left-out models better), ``elpd_se`` its standard error ``sqrt(n var(diff_i))`` over the
    curve's ``n_cells`` cells, and ``pareto_k_max`` the worst Pareto k of either fit's cells
    (above ``k_threshold`` the estimate is unreliable).

    Returns
    -------
    pandas.DataFrame
        One row per curve: the curve key (``task, subtask, family, shots``), ``curve`` (its
        label), ``elpd_diff``, ``elpd_se``, ``pareto_k_max``, ``n_cells``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # high-k cells are reported in a column
        results = {
            name: loo(f, k_threshold=k_threshold)
            for name, f in (("smooth", smooth), ("broken", broken))
        }
    prepared = smooth.prepared
    cell_curve = np.asarray(prepared.cell_curve)  # type: ignore[union-attr]
    frame = results["smooth"].pointwise.merge(
        results["broken"].pointwise, on="cell", suffixes=("_smooth", "_broken")
    )
    frame["curve"] = cell_curve[frame["cell"].to_numpy()]
    frame["diff"] = frame["elpd_broken"] - frame["elpd_smooth"]
    frame["k"] = frame[["pareto_k_smooth", "pareto_k_broken"]].max(axis=1)
    curves = prepared.curves
    rows = []
    for position, group in frame.groupby("curve"):
        diff = group["diff"].to_numpy()
        index = int(str(position))
        rows.append(
            {
                **{column: curves[column].iloc[index] for column in CURVE_KEY},
                "curve": prepared.curve_labels[index],
                "elpd_diff": float(diff.sum()),
                "elpd_se": float(np.sqrt(len(diff) * np.var(diff))),
                "pareto_k_max": float(group["k"].max()),
                "n_cells": len(diff),
            }
        )
    return pd.DataFrame(rows)
