"""Posterior predictions of table rows: the engine behind ``Fit.predict_table`` and ``Fit.predict``.

:func:`predict_rows` gives, for every row of a canonical evaluation table (in the fit or not,
any metric the model maps), the posterior predictive distribution of that row's *observed*
score, with the row's own ``n_items``, answer lengths, choices and ``k``. It evaluates the same
forward maps as the model graph (:func:`emergestats.models.likelihoods.row_expectations` over
:mod:`emergestats.models.forward`) on the posterior draws, in numpy:

1. the row's curve must be a curve of the fit (its ``a``, ``b``, item sd, floor, break);
2. its (curve, model) cell: a cell of the fit uses that cell's posterior deviation (so a metric
   predicted at a model the fit saw through another metric is conditioned on it); a new cell
   draws its deviation from ``Normal(0, cell_sigma)`` draw by draw, and so does every cell
   with ``cell_deviations="fresh"`` (a replicate curve of the latent itself);
3. the expected score of the row's role, then the sampling noise of the observed score
   (binomial count out of ``n_items``; normal with the reported or the map's standard error).

Parameters the fit did not inform (e.g. ``choice_noise`` of a fit on log-likelihoods only) are
drawn from their priors: the prediction then carries that prior uncertainty honestly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import xarray as xr

from emergestats.errors import AssumptionWarning, ConfigError
from emergestats.models.builders import PreparedItems, with_probability_noise
from emergestats.models.forward import QUADRATURE_NODES
from emergestats.models.latent import P_MAX, P_MIN, broken_log_cross_entropy, log_cross_entropy
from emergestats.models.likelihoods import UNIT_PRIORS, continuous_sd, row_expectations
from emergestats.models.prepare import (
    ALTERNATIVE_DECISION_RULES,
    COUNT_ROLES,
    PreparedData,
    decision_rule_label,
    prepare_evaluation,
)
from emergestats.models.priors import DEFAULT_PRIORS, PriorSpec

if TYPE_CHECKING:
    from emergestats.inference.fit import Fit

#: Largest number of ``draws x rows x nodes x lengths`` values evaluated at once.
_CHUNK_VALUES: Final[int] = 20_000_000

#: Output columns added to the input table.
PREDICTION_COLUMNS: Final[tuple[str, ...]] = ("mean", "q05", "q50", "q95", "expected", "reason")
#: How a predicted row's cell deviation is drawn (see :meth:`Fit.predict_table`).
CELL_DEVIATIONS: Final[tuple[str, ...]] = ("fitted", "fresh")


def prior_draws(spec: PriorSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of a scalar prior entry (numpy), for parameters the data did not inform."""
    dist = spec["dist"]
    if dist == "LogNormal":
        return rng.lognormal(spec["mu"], spec["sigma"], size)
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, spec["sigma"], size))
    if dist == "Normal":
        return rng.normal(spec["mu"], spec["sigma"], size)
    if dist == "Beta":
        return rng.beta(spec["alpha"], spec["beta"], size)
    if dist == "Gamma":
        return rng.gamma(spec["alpha"], 1.0 / spec["beta"], size)
    if dist == "Exponential":
        return rng.exponential(1.0 / spec["lam"], size)
    raise ConfigError(f"cannot draw from a {dist} prior")


def stacked_draws(
    posterior: xr.Dataset, max_draws: int | None, rng: np.random.Generator
) -> xr.Dataset:
    """The posterior with ``(chain, draw)`` stacked into ``sample``, thinned to ``max_draws``."""
    stacked = posterior.stack(sample=("chain", "draw"))
    n = stacked.sizes["sample"]
    if max_draws is not None and n > max_draws:
        keep = np.sort(rng.choice(n, size=max_draws, replace=False))
        stacked = stacked.isel(sample=keep)
    return stacked


def _values(stacked: xr.Dataset, name: str) -> np.ndarray:
    """``(sample, ...)`` array of a posterior variable."""
    array = stacked[name]
    return np.moveaxis(array.to_numpy(), -1, 0)


def _per_draw(values: np.ndarray) -> np.ndarray:
    """A scalar parameter's draws as ``(sample, 1)``: one value per draw, for every row."""
    return np.asarray(values, dtype=float).reshape(-1, 1)


@dataclass(frozen=True)
class RowDraws:
    """Posterior draws behind :func:`predict_rows`, each ``(draws, rows)`` (``roles``: rows).

    ``observed``: the predicted observed score; ``expected``: its noise-free value; ``ce``: the
    cell's mean per-token CE; ``noise_sd``: the sd of a continuous row's observation (NaN for
    counts); ``roles``: each row's role (:data:`emergestats.models.prepare.ROLES`, or empty).
    """

    observed: np.ndarray
    expected: np.ndarray
    ce: np.ndarray
    noise_sd: np.ndarray
    roles: np.ndarray


def predict_rows(
    fit_: Fit,
    table: pd.DataFrame,
    *,
    lengths: Any = None,
    max_draws: int | None = 2000,
    return_draws: bool = False,
    random_seed: int | None = None,
    cell_deviations: str = "fitted",
) -> tuple[pd.DataFrame, RowDraws | None]:
    """Posterior predictive of every row's observed score (see :meth:`Fit.predict_table`).

    Returns the table with :data:`PREDICTION_COLUMNS` and, with ``return_draws``, the
    :class:`RowDraws` behind it.
    """
    if fit_.config.model not in ("smooth", "broken"):
        raise ConfigError("predict_table needs a fit of the smooth or broken evaluation model")
    if cell_deviations not in CELL_DEVIATIONS:
        raise ConfigError(
            f"cell_deviations must be one of {', '.join(CELL_DEVIATIONS)}, not {cell_deviations!r}"
        )
    rng = np.random.default_rng(random_seed)
    fitted = fit_.prepared
    assert isinstance(fitted, PreparedData)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        new = prepare_evaluation(
            table,
            lengths=lengths if lengths is not None else fit_.lengths,
            n_ref=fitted.n_ref,
        )
    # the rows are read as the fit read its own (e.g. probabilities with the logit noise)
    new = with_probability_noise(new, fit_.config.probability_noise)
    # what the predicted rows lack and had assumed for them (answer lengths, k, n_items) is
    # said; the likelihood's notes (rows left out of a fit) do not concern a prediction
    for caught_warning in caught:
        if issubclass(caught_warning.category, AssumptionWarning):
            warnings.warn(
                f"predicted rows: {caught_warning.message}", AssumptionWarning, stacklevel=3
            )
    obs = new.observations
    rows = len(new.table)
    post = stacked_draws(fit_.posterior, max_draws, rng)
    n_draws = post.sizes["sample"]

    # curve of every row, in the fit
    fit_curves = {label: i for i, label in enumerate(fitted.curve_labels)}
    row_labels = [new.curve_labels[c] for c in new.curve_index]
    curve_position = np.array([fit_curves.get(label, -1) for label in row_labels])
    unknown = curve_position < 0
    if unknown.any():
        missing = sorted({row_labels[i] for i in np.flatnonzero(unknown)})
        raise ConfigError(
            f"{int(unknown.sum())} rows belong to curves the fit has not seen "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}); predict_table "
            "predicts the curves of the fit at any scale and metric: fit a table that includes "
            "these curves"
        )
    # number of choices: a row's own, else the fitted curve's
    fill = ~np.isfinite(obs.n_choices) & np.isfinite(fitted.curve_choices[curve_position])
    choice_roles = np.isin(obs.role, ("grade", "brier", "subset", "log_likelihood"))
    fill &= choice_roles
    obs.n_choices[fill] = fitted.curve_choices[curve_position[fill]]
    relabel = (obs.role == "log_likelihood") & np.isfinite(obs.n_choices)
    obs.role[relabel] = "choice_log_likelihood"

    log_ce = _latent_log_ce(
        fit_, fitted, post, new, curve_position, rng, fresh=cell_deviations == "fresh"
    )
    ce: np.ndarray = np.exp(log_ce)
    if "floor" in post:
        ce = ce + _values(post, "floor")[:, curve_position]
    item_sd = _values(post, "item_sd")[:, curve_position]
    params = _map_parameters(fit_, post, n_draws, rng)
    shifts = _rule_shifts(fit_, post, new, curve_position, rng)
    if shifts is not None:
        params["rule_shift"] = shifts

    expected = np.full((n_draws, rows), np.nan)
    observed = np.full((n_draws, rows), np.nan)
    noise_sd = np.full((n_draws, rows), np.nan)
    reason = np.full(rows, "", dtype=object)
    reason[obs.role == ""] = "no forward map for this metric kind"
    no_k = np.isin(obs.role, ("grade", "brier")) & ~np.isfinite(obs.n_choices)
    reason[no_k] = "no known number of choices"
    for role in [r for r in dict.fromkeys(obs.role) if r]:
        mine = np.flatnonzero((obs.role == role) & (reason == ""))
        slots = obs.length_values.shape[1]
        chunk = max(1, _CHUNK_VALUES // (n_draws * QUADRATURE_NODES * slots))
        for start in range(0, len(mine), chunk):
            part = mine[start : start + chunk]
            mean, spread = row_expectations(obs, part, role, ce[:, part], item_sd[:, part], params)
            expected[:, part] = mean
            if role in COUNT_ROLES:
                rate = np.clip(mean, P_MIN, P_MAX)
                n = np.maximum(np.rint(obs.n_items[part]).astype(np.int64), 1)
                observed[:, part] = rng.binomial(n, rate) / n
            else:
                sd = continuous_sd(obs, part, mean, spread)
                noise_sd[:, part] = sd
                observed[:, part] = rng.normal(mean, sd)

    frame = new.table.copy()
    # summaries only over the rows that have a prediction (the others keep NaN and a reason)
    predicted = np.flatnonzero(reason == "")
    summaries = np.full((5, rows), np.nan)
    if len(predicted):
        summaries[0, predicted] = np.nanmean(observed[:, predicted], axis=0)
        summaries[1:4, predicted] = np.nanquantile(
            observed[:, predicted], [0.05, 0.5, 0.95], axis=0
        )
        summaries[4, predicted] = np.nanmean(expected[:, predicted], axis=0)
    for name, values in zip(("mean", "q05", "q50", "q95", "expected"), summaries, strict=True):
        frame[name] = values
    frame["reason"] = reason
    draws = RowDraws(observed, expected, ce, noise_sd, obs.role.copy())
    return frame, (draws if return_draws else None)


def row_log_density(
    fit_: Fit, table: pd.DataFrame, *, max_draws: int | None = None, random_seed: int | None = None
) -> float:
    """Log predictive density of rows the fit did not see, jointly (the LOO of a cell).

    ``log mean_draws prod_rows p(score_row | draw)``: counts binomial, continuous scores normal,
    as in the likelihood; rows of a cell new to the fit share one drawn deviation per draw.
    """
    from scipy import stats

    frame, draws = predict_rows(
        fit_, table, max_draws=max_draws, return_draws=True, random_seed=random_seed
    )
    assert draws is not None
    expected, noise_sd, roles = draws.expected, draws.noise_sd, draws.roles
    score = frame["score"].to_numpy(float)
    n = np.maximum(np.rint(frame["n_items"].to_numpy(dtype=float, na_value=100.0)), 1)
    total = np.zeros(expected.shape[0])
    for row in range(len(frame)):
        if frame["reason"].iloc[row] or not roles[row]:
            continue
        if roles[row] in COUNT_ROLES:
            count = np.clip(np.rint(score[row] * n[row]), 0, n[row])
            rate = np.clip(expected[:, row], P_MIN, P_MAX)
            total += stats.binom.logpmf(count, n[row], rate)
        else:
            total += stats.norm.logpdf(score[row], expected[:, row], noise_sd[:, row])
    top = total.max()
    return float(top + np.log(np.mean(np.exp(total - top))))


def _latent_log_ce(
    fit_: Fit,
    fitted: PreparedData,
    post: xr.Dataset,
    new: PreparedData,
    curve_position: np.ndarray,
    rng: np.random.Generator,
    *,
    fresh: bool = False,
) -> np.ndarray:
    """``(draws, rows)`` log CE of each row's cell before the floor: line (+ break) + deviation.

    A cell the fit saw keeps its posterior deviation unless ``fresh``; the others draw one.
    """
    a = _values(post, "a")[:, curve_position]
    b = _values(post, "b")[:, curve_position]
    x = new.x[None, :]
    if fit_.config.model == "broken":
        width = float(fit_.config.priors["break_width"]["value"])
        x_break = _values(post, "log_n_break")[:, curve_position] - np.log(fitted.n_ref)
        log_ce = broken_log_cross_entropy(
            x,
            a,
            b,
            x_break,
            _values(post, "break_slope")[:, curve_position],
            _values(post, "break_level")[:, curve_position],
            width,
        )
    else:
        log_ce = log_cross_entropy(x, a, b)
    # cell deviations: the fit's where it saw the cell (unless fresh), fresh draws otherwise
    fit_cells = {label: i for i, label in enumerate(fitted.cell_labels)}
    new_cells = [new.cell_labels[c] for c in new.cell_index]
    known = np.array([-1 if fresh else fit_cells.get(label, -1) for label in new_cells])
    deviation = np.empty_like(log_ce)
    fitted_deviation = _values(post, "cell_deviation")
    seen = known >= 0
    deviation[:, seen] = fitted_deviation[:, known[seen]]
    if (~seen).any():
        sigma = _values(post, "cell_sigma")
        # one fresh deviation per new cell, shared by that cell's rows
        unseen_cells, inverse = np.unique(new.cell_index[~seen], return_inverse=True)
        drawn = rng.normal(size=(len(sigma), len(unseen_cells))) * sigma[:, None]
        deviation[:, ~seen] = drawn[:, inverse]
    return log_ce + deviation


def _map_parameters(
    fit_: Fit, post: xr.Dataset, n_draws: int, rng: np.random.Generator
) -> dict[str, Any]:
    """The forward maps' parameters: posterior draws where fitted, prior draws otherwise."""
    priors = fit_.config.priors
    params: dict[str, Any] = {}
    for name in ("choice_noise", "distractor_concentration", "rival_share"):
        params[name] = _per_draw(
            _values(post, name) if name in post else prior_draws(priors[name], n_draws, rng)
        )
    params["lure"] = _per_draw(_values(post, "lure")) if "lure" in post else 0.0
    ratios: dict[str, Any] = {}
    fitted_units = (
        [str(u) for u in post["tokens_per_unit"].coords["unit"].to_numpy()]
        if "tokens_per_unit" in post
        else []
    )
    for unit, key in UNIT_PRIORS.items():
        if unit in fitted_units:
            ratios[unit] = _per_draw(_values(post.sel(unit=unit), "tokens_per_unit"))
        else:
            ratios[unit] = _per_draw(prior_draws(priors[key], n_draws, rng))
    params["tokens_per_unit"] = ratios
    return params


def _rule_shifts(
    fit_: Fit,
    post: xr.Dataset,
    new: PreparedData,
    curve_position: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """``(draws, rows)``: each predicted grade's logit shift under another decision rule.

    For a grade row under an alternative rule (:data:`ALTERNATIVE_DECISION_RULES`) of a fitted
    curve: the posterior draws of that (curve, rule)'s ``rule_shift`` where the fit estimated
    it; 0 where the fit read the curve's grade only under this rule (its rows stood for the
    plain argmax); else draws from the prior, one set per (curve, rule). ``None`` where no row
    is under another rule.
    """
    obs = new.observations
    other_rule = (obs.role == "grade") & np.isin(obs.metric, list(ALTERNATIVE_DECISION_RULES))
    if not other_rule.any():
        return None
    fitted = fit_.prepared
    assert isinstance(fitted, PreparedData)
    fitted_obs = fitted.observations
    estimated = (
        {str(v): i for i, v in enumerate(post["decision_rule"].to_numpy())}
        if "rule_shift" in post
        else {}
    )
    fitted_shifts = _values(post, "rule_shift") if estimated else None
    read_plain = {
        decision_rule_label(fitted.curve_labels[fitted.curve_index[row]], fitted_obs.metric[row])
        for row in np.flatnonzero(
            fitted_obs.modelled
            & (fitted_obs.role == "grade")
            & (fitted_obs.decision_rule == "")
            & np.isin(fitted_obs.metric, list(ALTERNATIVE_DECISION_RULES))
        )
    }
    spec = fit_.config.priors.get("rule_shift", DEFAULT_PRIORS["rule_shift"])
    shifts = np.zeros((post.sizes["sample"], len(obs.score)))
    from_prior: dict[str, np.ndarray] = {}
    for row in np.flatnonzero(other_rule):
        label = decision_rule_label(fitted.curve_labels[curve_position[row]], obs.metric[row])
        if fitted_shifts is not None and label in estimated:
            shifts[:, row] = fitted_shifts[:, estimated[label]]
        elif label not in read_plain:
            if label not in from_prior:
                from_prior[label] = prior_draws(spec, post.sizes["sample"], rng)
            shifts[:, row] = from_prior[label]
    return shifts


#: ``Fit.predict`` metric names -> (metric name in the table, metric kind).
_PREDICT_METRICS: Final[dict[str, tuple[str, str]]] = {
    "exact_match": ("exact_str_match", "exact_match"),
    "accuracy": ("accuracy", "accuracy"),
    "multiple_choice_grade": ("multiple_choice_grade", "multiple_choice_grade"),
    "brier": ("brier_score", "brier"),
    "brier_mean": ("brier_score", "brier"),
    "brier_sum": ("brier_score_sum", "brier"),
    "log_likelihood": ("log_likelihood", "log_likelihood"),
    "edit_distance": ("edit_distance", "edit_distance"),
    "p_token": ("log_likelihood", "log_likelihood"),
    "cross_entropy": ("log_likelihood", "log_likelihood"),
}


def fitted_answer_length(fitted: PreparedData, position: int, kind: str) -> float:
    """The answer length the fit's rows of a curve gave (``target_tokens``), for predictions.

    The most common finite ``target_tokens`` of the curve's rows of the same metric kind, else
    of any kind; NaN when the rows had none (the fit then used a lengths mapping or assumed 1
    token, and :func:`predict_rows` says so).
    """
    table = fitted.table
    if "target_tokens" not in table:
        return float("nan")
    mine = fitted.curve_index == position
    tokens = table["target_tokens"].to_numpy(dtype=float, na_value=np.nan)
    for rows in (mine & (table["metric_kind"].to_numpy() == kind), mine):
        values = tokens[rows & np.isfinite(tokens)]
        if values.size:
            unique, counts = np.unique(values, return_counts=True)
            return float(unique[np.argmax(counts)])
    return float("nan")


def predict(
    fit_: Fit,
    scales: Sequence[float] | np.ndarray,
    *,
    metrics: Sequence[str] = ("exact_match",),
    curves: Sequence[str] | None = None,
    n_items: int | Mapping[str, int] | None = None,
    lengths: Any = None,
    random_seed: int | None = None,
) -> xr.Dataset:
    """Posterior predictive of metrics at any scales (:meth:`Fit.predict`, which documents it).

    Evaluation fits go through :func:`predict_rows` on a table of one row per (curve, scale,
    metric); item fits average over the curve's own items (:func:`_predict_items`).
    """
    scales_array = np.asarray(scales, dtype=float).ravel()
    if scales_array.size == 0 or not np.all(np.isfinite(scales_array) & (scales_array > 0)):
        raise ConfigError("scales must be a non-empty list of positive parameter counts")
    rng = np.random.default_rng(random_seed)
    if fit_.config.model == "item":
        return _predict_items(
            fit_,
            scales_array,
            metrics=metrics,
            curves=curves,
            n_items=n_items,
            lengths=lengths,
            rng=rng,
        )
    fitted = fit_.prepared
    assert isinstance(fitted, PreparedData)
    positions = _curve_selection(fit_, curves)
    rows: list[dict[str, Any]] = []
    length_map: dict[Any, Any] | None = None
    target = np.nan
    if lengths is not None and np.ndim(lengths) == 0 and not isinstance(lengths, Mapping):
        target = float(lengths)
    elif isinstance(lengths, Mapping):
        length_map = dict(lengths)
    elif lengths is not None:
        length_map = {fitted.curve_labels[p]: np.asarray(lengths, float) for p in positions}
    for metric in metrics:
        name, kind = _metric_row(metric)
        for position in positions:
            label = fitted.curve_labels[position]
            curve = fitted.curves.iloc[position]
            count = n_items.get(label, 1000) if isinstance(n_items, Mapping) else n_items
            k_choices = fitted.curve_choices[position]
            row_target = target
            if lengths is None:
                row_target = fitted_answer_length(fitted, position, kind)
            for scale in scales_array:
                rows.append(
                    {
                        "task": curve["task"],
                        "subtask": curve["subtask"],
                        "family": curve["family"],
                        "model": f"predicted@{scale:.6g}",
                        "params": float(scale),
                        "shots": int(curve["shots"]),
                        "metric": str(metric) if metric in _PREDICT_METRICS else name,
                        "metric_kind": kind,
                        "score": -0.5 if kind == "log_likelihood" else 0.5,
                        "n_items": 1000 if count is None else int(count),
                        "chance": 1.0 / k_choices if np.isfinite(k_choices) else np.nan,
                        "source": "Fit.predict",
                        "target_tokens": row_target,
                        "n_choices": k_choices,
                    }
                )
    table = pd.DataFrame(rows)
    _, draws = predict_rows(
        fit_, table, lengths=length_map, max_draws=None, return_draws=True, random_seed=random_seed
    )
    assert draws is not None
    ce = draws.ce
    values = draws.expected if n_items is None else draws.observed
    labels = [fitted.curve_labels[p] for p in positions]
    shape = (values.shape[0], len(labels), len(scales_array))
    out = {}
    per_metric = len(labels) * len(scales_array)
    for m, metric in enumerate(metrics):
        columns = slice(m * per_metric, (m + 1) * per_metric)
        block = values[:, columns]
        if metric == "cross_entropy":
            block = ce[:, columns]
        elif metric == "p_token":
            block = np.exp(-ce[:, columns])
        out[str(metric)] = (("sample", "curve", "scale"), block.reshape(shape))
    return xr.Dataset(out, coords={"curve": np.asarray(labels, dtype=str), "scale": scales_array})


def _metric_row(metric: str) -> tuple[str, str]:
    if metric in _PREDICT_METRICS:
        return _PREDICT_METRICS[metric]
    if metric.startswith("pass"):
        return metric, "pass_at_k"
    raise ConfigError(
        f"cannot predict {metric!r}; use one of {', '.join(_PREDICT_METRICS)} or pass@<k> "
        "(or predict_table for any row of a canonical table)"
    )


def _draws(post: xr.Dataset, name: str, curve_positions: np.ndarray | None = None) -> np.ndarray:
    """``(chain, draw[, curve])`` numpy array of a posterior variable."""
    array = post[name]
    if "curve" in array.dims:
        values = array.transpose("chain", "draw", "curve").to_numpy()
        return values if curve_positions is None else values[..., curve_positions]
    return array.transpose("chain", "draw", ...).to_numpy()


def _curve_selection(fit_: Fit, curves: Sequence[str] | None) -> np.ndarray:
    labels = list(fit_.prepared.curve_labels)
    if curves is None:
        return np.arange(len(labels))
    unknown = [c for c in curves if c not in labels]
    if unknown:
        raise ConfigError(
            f"unknown curve(s) {', '.join(map(repr, unknown[:5]))}; the fit's curves are "
            f"{', '.join(labels[:5])}{', ...' if len(labels) > 5 else ''}"
        )
    return np.array([labels.index(c) for c in curves], dtype=np.int64)


def _predict_items(
    fit_: Fit,
    scales: np.ndarray,
    *,
    metrics: Sequence[str],
    curves: Sequence[str] | None,
    n_items: int | Mapping[str, int] | None,
    lengths: Any,
    rng: np.random.Generator,
) -> xr.Dataset:
    """Item fits: each curve's metric averaged over its own items (with their difficulties)."""
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedItems)
    if n_items is not None or lengths is not None:
        raise ConfigError(
            "predictions from an item fit average over the curve's own items; n_items and "
            "lengths cannot be changed (fit the evaluation-level model for that)"
        )
    positions = _curve_selection(fit_, curves)
    labels = [prepared.curve_labels[p] for p in positions]
    post = fit_.posterior
    x = np.log(scales) - np.log(fit_.n_ref)
    a = _draws(post, "a", positions)
    b = _draws(post, "b", positions)
    difficulty = post["item_difficulty"].transpose("chain", "draw", "item").to_numpy()
    item_lengths = np.ones(len(prepared.item_labels))
    item_lengths[prepared.item_index] = prepared.lengths
    shape = (*a.shape, len(scales))
    out: dict[str, np.ndarray] = {}
    for metric in metrics:
        if metric not in ("exact_match", "log_likelihood", "p_token", "cross_entropy"):
            raise ConfigError(
                f"an item fit predicts exact_match, log_likelihood, p_token or cross_entropy, "
                f"not {metric!r}"
            )
        out[str(metric)] = np.zeros(shape)
    for j, position in enumerate(positions):
        items = np.flatnonzero(prepared.item_curve_index == position)
        log_ce = (
            a[..., j, None, None]
            - b[..., j, None, None] * x[:, None]
            + difficulty[..., None, items]
        )  # (chain, draw, scale, item)
        ce = np.exp(log_ce)
        lengths_here = item_lengths[items]
        for metric in out:
            if metric == "exact_match":
                out[metric][..., j, :] = np.exp(-lengths_here * ce).mean(axis=-1)
            elif metric == "log_likelihood":
                out[metric][..., j, :] = (-lengths_here * ce).mean(axis=-1)
            else:
                typical = np.exp(a[..., j, None] - b[..., j, None] * x)
                out[metric][..., j, :] = np.exp(-typical) if metric == "p_token" else typical
    coords = {
        "chain": post["chain"].to_numpy(),
        "draw": post["draw"].to_numpy(),
        "curve": np.asarray(labels, dtype=str),
        "scale": scales,
    }
    return xr.Dataset(
        {k: (("chain", "draw", "curve", "scale"), v) for k, v in out.items()}, coords=coords
    )
