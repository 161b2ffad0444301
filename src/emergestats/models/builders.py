"""Model builders: canonical tables in, plain ``pm.Model`` objects with named dims out.

Three builders share one latent and one population:

:func:`build_smooth_model`
    ``log CE_j(N) = a_j - b_j (log N - log N_ref)`` per curve ``j`` (task, subtask, family,
    shots), ``b_j = exp(log_b_j) > 0``, optional floor ``CE = floor_j + exp(...)``.
:func:`build_broken_model`
    The same line with a smooth but sharp break at ``N*_j`` (change of level and of slope, see
    :func:`emergestats.models.latent.broken_log_cross_entropy`); "no break" is inside the model.
:func:`build_item_model`
    The per-item version for item tables: per-item difficulty on ``log CE`` and per-item
    log-probabilities and correctness, vectorised over all items and models.

Population (partial pooling)
----------------------------
``(a_j, log_b_j)`` are bivariate normal around their family's mean (``a_mu``, ``log_b_mu``,
dims ``family``) plus, where some task has several curves (subtasks, families or shots), a task
effect (``task_effect``, dims ``(task, param)``, sd ``task_sigma``), with sds ``a_sigma``,
``log_b_sigma`` and correlation ``ab_corr``. Family means are not pooled with each other (there
are only a few families, and a common mean would only add a ridge between it and them).

The default is the *centred* parameterisation (``a`` and ``log_b`` are the sampled variables,
``log_b`` drawn conditionally on ``a``): with a dozen sizes and hundreds of items per curve the
data pin each curve tightly, and the centred form sampled far better in a trial (min bulk ESS
several times higher at equal draws). ``centered=False`` samples standard normals ``z_a``,
``z_log_b`` instead (better for curves with very few points).

Curves are batched in one model: every observation finds its curve through an index array
(``obs -> curve``); there is no per-curve Python loop in the graph.

Inputs not in the table
-----------------------
``n_ref``
    Reference scale; default the geometric mean of the table's distinct ``params``. Stored on
    the fit so ``a`` can be read back.
``lengths``
    Per-item answer lengths for the kinds that need them (exact match, pass@k, summed
    log-likelihood, edit distance), as a mapping from ``(task, subtask)`` or a curve label to a
    1-D array of lengths (in tokens). Rows of a curve not in the mapping use their
    ``target_tokens`` (the mean answer length: a point mass when it is an integer, otherwise
    split between the two neighbouring integers so the mean is kept), and rows without that use
    length 1 with a warning naming the curves.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from emergestats.data.table import CURVE_KEY, curve_labels, to_dataset, validate, validate_items
from emergestats.errors import ConfigError, DataFormatError
from emergestats.models.latent import (
    P_MIN,
    broken_log_cross_entropy,
    centred_log_scale,
    log_cross_entropy,
)
from emergestats.models.likelihoods import (
    FALLBACK_N_ITEMS,
    LENGTH_KINDS,
    MODELLED_KINDS,
    UNMODELLED_KINDS,
    ObservationData,
    add_metric_likelihoods,
    choice_margin,
    is_summed_brier,
    log_likelihood_unit,
    pass_k_of,
)
from emergestats.models.priors import PriorSpec, prior_variable, resolve_priors

type LengthsMapping = Mapping[Any, Any]

#: Largest chance level read as a number of choices (``K = 1 / chance >= 2``).
_MAX_CHOICE_CHANCE = 0.5 + 1e-9


@dataclass
class PreparedData:
    """A validated table turned into the arrays a model needs (see :func:`prepare_evaluation`).

    Attributes
    ----------
    table
        The validated evaluation table (row ``i`` is ``obs = i``).
    dataset
        :func:`emergestats.data.table.to_dataset` of the table.
    curve_labels
        Labels of the curves (coordinate ``curve``).
    curves
        One row per curve: task, subtask, family, shots.
    curve_index
        Curve position of every row.
    x
        Centred log scale of every row, ``log params - log n_ref``.
    n_ref
        Reference scale.
    family_labels, family_index
        Families (coordinate ``family``) and each curve's family position.
    task_labels, task_index, task_effects
        Tasks, each curve's task position, and whether task effects are in the model.
    curve_log_range
        ``(curves, 2)``: smallest and largest ``log params`` of each curve.
    observations
        Per-row likelihood data.
    """

    table: pd.DataFrame
    dataset: xr.Dataset
    curve_labels: list[str]
    curves: pd.DataFrame
    curve_index: np.ndarray
    x: np.ndarray
    n_ref: float
    family_labels: list[str]
    family_index: np.ndarray
    task_labels: list[str]
    task_index: np.ndarray
    task_effects: bool
    curve_log_range: np.ndarray
    observations: ObservationData

    def coords(self) -> dict[str, Any]:
        """Model coordinates: ``curve``, ``obs``, ``family``, ``param`` and ``task``."""
        coords: dict[str, Any] = {
            "curve": self.curve_labels,
            "obs": np.arange(len(self.table)),
            "family": self.family_labels,
            "param": ["a", "log_b"],
        }
        if self.task_effects:
            coords["task"] = self.task_labels
        return coords


# --------------------------------------------------------------------------------------------
# Preparing a table
# --------------------------------------------------------------------------------------------


def default_n_ref(params: np.ndarray) -> float:
    """Geometric mean of the distinct scales: the default reference scale ``N_ref``."""
    distinct = np.unique(np.asarray(params, dtype=float))
    return float(np.exp(np.mean(np.log(distinct))))


def length_histogram(lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    """Distinct answer lengths and their frequencies (summing to 1) from per-item lengths."""
    values = np.asarray(lengths, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ConfigError(
            "answer lengths must be a non-empty array of positive, finite numbers of tokens; "
            f"got {values[:8]!r}"
        )
    distinct, counts = np.unique(values, return_counts=True)
    return distinct, counts / counts.sum()


def mean_length_histogram(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """A length distribution with a given mean: its integer neighbours, weighted to keep it."""
    low = max(np.floor(mean), 1.0)
    high = max(np.ceil(mean), 1.0)
    if high == low:
        return np.array([low]), np.array([1.0])
    upper_weight = (mean - low) / (high - low)
    return np.array([low, high]), np.array([1.0 - upper_weight, upper_weight])


def _lookup_lengths(mapping: LengthsMapping | None, label: str, task: str, subtask: str) -> Any:
    if not mapping:
        return None
    for key in (label, (task, subtask)):
        if key in mapping:
            return mapping[key]
    return None


def _brier_chance_to_choices(chance: float, *, summed: bool) -> float:
    """Number of choices whose guessing Brier score is ``chance`` (NaN if none)."""
    if not np.isfinite(chance) or chance <= 0:
        return np.nan
    if summed:
        return 1.0 / (1.0 - chance) if chance < 1.0 else np.nan
    if chance > 0.25:
        return np.nan
    return float((1.0 + np.sqrt(1.0 - 4.0 * chance)) / (2.0 * chance))


def _choices_from_chance(chance: np.ndarray) -> np.ndarray:
    valid = np.isfinite(chance) & (chance > 0) & (chance <= _MAX_CHOICE_CHANCE)
    with np.errstate(divide="ignore"):
        return np.where(valid, 1.0 / np.where(valid, chance, 1.0), np.nan)


def _warn(message: str, *, warn: bool) -> None:
    if warn:
        warnings.warn(message, UserWarning, stacklevel=4)


def _name_curves(labels: list[str], *, limit: int = 6) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f", ... ({len(labels)} curves)" if len(labels) > limit else "")


LOGLIK_NOISE: tuple[str, ...] = ("pooled", "series")


def prepare_evaluation(
    table: pd.DataFrame,
    *,
    lengths: LengthsMapping | None = None,
    n_ref: float | None = None,
    loglik_noise: str = "pooled",
    warn: bool = True,
) -> PreparedData:
    """Validate an evaluation table and compute everything a model builder needs.

    Warnings (``UserWarning``, when ``warn``) are issued for rows excluded from the likelihood
    (no forward map, or an unknown number of choices), for rows whose ``n_items`` is unknown
    (:data:`~emergestats.models.likelihoods.FALLBACK_N_ITEMS` items assumed) and for curves with
    no answer length (length 1 assumed), each naming the count and the curves.
    """
    if loglik_noise not in LOGLIK_NOISE:
        raise ConfigError(
            f"loglik_noise must be one of {', '.join(LOGLIK_NOISE)}, not {loglik_noise!r}"
        )
    table = validate(table)
    dataset = to_dataset(table)
    labels = [str(v) for v in dataset["curve"].to_numpy()]
    curves = pd.DataFrame(
        {k: dataset[k].to_numpy() for k in CURVE_KEY}, index=pd.RangeIndex(len(labels))
    )
    curve_index = dataset["curve_index"].to_numpy().astype(np.int64)
    params = table["params"].to_numpy(float)
    if n_ref is None:
        n_ref = default_n_ref(params)
    if not (np.isfinite(n_ref) and n_ref > 0):
        raise ConfigError(f"n_ref must be a positive scale (a parameter count), not {n_ref!r}")
    x = np.asarray(centred_log_scale(params, float(n_ref)), dtype=float)

    family_labels = sorted({str(f) for f in curves["family"]})
    family_index = np.array([family_labels.index(str(f)) for f in curves["family"]])
    task_labels = sorted({str(t) for t in curves["task"]})
    task_index = np.array([task_labels.index(str(t)) for t in curves["task"]])
    curves_per_task = np.bincount(task_index, minlength=len(task_labels))
    task_effects = len(task_labels) >= 2 and bool((curves_per_task >= 2).any())

    log_params = np.log(params)
    curve_log_range = np.zeros((len(labels), 2))
    for position in range(len(labels)):
        mine = log_params[curve_index == position]
        curve_log_range[position] = (mine.min(), mine.max())

    observations = _prepare_observations(
        table, labels=labels, curve_index=curve_index, lengths=lengths, warn=warn
    )
    observations.loglik_noise = loglik_noise
    return PreparedData(
        table=table,
        dataset=dataset,
        curve_labels=labels,
        curves=curves,
        curve_index=curve_index,
        x=x,
        n_ref=float(n_ref),
        family_labels=family_labels,
        family_index=family_index,
        task_labels=task_labels,
        task_index=task_index,
        task_effects=task_effects,
        curve_log_range=curve_log_range,
        observations=observations,
    )


def _prepare_observations(
    table: pd.DataFrame,
    *,
    labels: list[str],
    curve_index: np.ndarray,
    lengths: LengthsMapping | None,
    warn: bool,
) -> ObservationData:
    n_rows = len(table)
    kind = table["metric_kind"].to_numpy(dtype=object).astype(str)
    metric = table["metric"].to_numpy(dtype=object).astype(str)
    chance = table["chance"].to_numpy(float)
    modelled = np.isin(kind, MODELLED_KINDS)

    unmodelled = np.isin(kind, UNMODELLED_KINDS)
    if unmodelled.any():
        counts = pd.Series(kind[unmodelled]).value_counts()
        detail = ", ".join(f"{n} {k}" for k, n in counts.items())
        _warn(
            f"{int(unmodelled.sum())} rows ({detail}) have a metric kind with no forward map "
            "from the latent and are left out of the likelihood",
            warn=warn,
        )

    # number of choices: rows' own chance for grade/accuracy; the curve's for Brier rows
    n_choices = np.full(n_rows, np.nan)
    own = _choices_from_chance(chance)
    choice_rows = np.isin(kind, ("multiple_choice_grade", "accuracy"))
    n_choices[choice_rows] = own[choice_rows]
    curve_choices = np.full(len(labels), np.nan)
    for position in range(len(labels)):
        mine = n_choices[(curve_index == position) & choice_rows]
        mine = mine[np.isfinite(mine)]
        if mine.size:
            curve_choices[position] = float(np.median(mine))
    grade = kind == "multiple_choice_grade"
    n_choices[grade & ~np.isfinite(n_choices)] = curve_choices[
        curve_index[grade & ~np.isfinite(n_choices)]
    ]
    for row in np.flatnonzero(kind == "brier"):
        from_curve = curve_choices[curve_index[row]]
        n_choices[row] = (
            from_curve
            if np.isfinite(from_curve)
            else _brier_chance_to_choices(chance[row], summed=is_summed_brier(metric[row]))
        )
    # subset accuracy scores several items together: its unit is the curve's accuracy
    subset = (kind == "exact_match") & np.array(
        [m.lower().startswith("subset_accuracy") for m in metric], dtype=bool
    )
    n_choices[subset] = curve_choices[curve_index[subset]]
    no_choices = np.isin(kind, ("multiple_choice_grade", "brier")) & ~np.isfinite(n_choices)
    if no_choices.any():
        modelled &= ~no_choices
        affected = sorted({labels[c] for c in curve_index[no_choices]})
        _warn(
            f"{int(no_choices.sum())} multiple-choice grade or Brier rows have no usable chance "
            f"level (1 / number of choices) and are left out of the likelihood: curves "
            f"{_name_curves(affected)}; fill their 'chance' column",
            warn=warn,
        )

    # pass@k
    pass_k = np.ones(n_rows)
    no_k: list[str] = []
    for row in np.flatnonzero(kind == "pass_at_k"):
        k = pass_k_of(metric[row])
        if k is None:
            no_k.append(labels[curve_index[row]])
        else:
            pass_k[row] = float(k)
    if no_k:
        _warn(
            f"pass@k rows of curves {_name_curves(sorted(set(no_k)))} do not say k in the metric "
            "name (e.g. 'pass@10'); k = 1 is assumed",
            warn=warn,
        )

    # number of items
    n_items = table["n_items"].to_numpy(dtype=float, na_value=np.nan)
    unknown_n = modelled & ~np.isfinite(n_items)
    if unknown_n.any():
        affected = sorted({labels[c] for c in curve_index[unknown_n]})
        _warn(
            f"{int(unknown_n.sum())} rows have no n_items; {FALLBACK_N_ITEMS} items are assumed "
            f"for them (curves {_name_curves(affected)}); fill 'n_items' for honest uncertainty",
            warn=warn,
        )
    n_items = np.where(np.isfinite(n_items), n_items, float(FALLBACK_N_ITEMS))

    # answer-length histograms
    histograms: list[tuple[np.ndarray, np.ndarray]] = []
    target = (
        table["target_tokens"].to_numpy(dtype=float, na_value=np.nan)
        if "target_tokens" in table.columns
        else np.full(n_rows, np.nan)
    )
    needs_length = np.isin(kind, LENGTH_KINDS) & modelled
    unit = np.array(
        [
            log_likelihood_unit(m) if k == "log_likelihood" else "token"
            for k, m in zip(kind, metric, strict=True)
        ],
        dtype=object,
    )
    needs_length &= ~((kind == "log_likelihood") & (unit != "token"))
    without_length: set[str] = set()
    tasks = table["task"].to_numpy(dtype=object)
    subtasks = table["subtask"].to_numpy(dtype=object)
    cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for row_index in range(n_rows):
        label = labels[curve_index[row_index]]
        if not needs_length[row_index]:
            histograms.append((np.array([1.0]), np.array([1.0])))
            continue
        given = _lookup_lengths(lengths, label, str(tasks[row_index]), str(subtasks[row_index]))
        if given is not None:
            if label not in cache:
                cache[label] = length_histogram(given)
            histograms.append(cache[label])
        elif np.isfinite(target[row_index]) and target[row_index] > 0:
            histograms.append(mean_length_histogram(float(target[row_index])))
        else:
            without_length.add(label)
            histograms.append((np.array([1.0]), np.array([1.0])))
    if without_length:
        _warn(
            f"no answer lengths for curves {_name_curves(sorted(without_length))} (no 'lengths' "
            "entry and no 'target_tokens'); answers of 1 token are assumed",
            warn=warn,
        )
    slots = max(len(values) for values, _ in histograms)
    length_values = np.ones((n_rows, slots))
    length_weights = np.zeros((n_rows, slots))
    for row_position, (values, weights) in enumerate(histograms):
        length_values[row_position, : len(values)] = values
        length_weights[row_position, : len(weights)] = weights

    series_labels_per_row = [f"{labels[c]}/{m}" for c, m in zip(curve_index, metric, strict=True)]
    series_labels = list(dict.fromkeys(series_labels_per_row))
    series_position = {s: i for i, s in enumerate(series_labels)}
    series_index = np.array([series_position[s] for s in series_labels_per_row], dtype=np.int64)

    return ObservationData(
        kind=kind,
        metric=metric,
        score=table["score"].to_numpy(float),
        n_items=n_items,
        length_values=length_values,
        length_weights=length_weights,
        n_choices=n_choices,
        pass_k=pass_k,
        unit=unit,
        series_index=series_index,
        series_labels=series_labels,
        modelled=modelled,
        fallback_n_items=unknown_n,
        subset=subset,
    )


# --------------------------------------------------------------------------------------------
# The population of curves
# --------------------------------------------------------------------------------------------


def add_curve_population(
    *,
    family_index: np.ndarray,
    task_index: np.ndarray,
    task_effects: bool,
    priors: dict[str, PriorSpec],
    centered: bool,
) -> tuple[Any, Any]:
    """Add ``a`` and ``b`` (dims ``curve``) and their population to the current model.

    Variables: ``a_mu``, ``log_b_mu`` (dims ``family``), ``a_sigma``, ``log_b_sigma``,
    ``ab_corr_unit`` (``(ab_corr + 1) / 2 ~ Beta(eta, eta)``, the LKJ(eta) marginal of a 2x2
    correlation) and the deterministic ``ab_corr``; with task effects ``task_sigma`` (dims
    ``param``) and ``task_effect`` (dims ``(task, param)``); then ``a``, ``log_b`` (free in the
    centred form, deterministic in the non-centred one, where ``z_a``, ``z_log_b`` are free) and
    the deterministic ``b = exp(log_b)``.
    """
    a_mu = prior_variable("a_mu", priors["a_mu"], dims="family")
    log_b_mu = prior_variable("log_b_mu", priors["log_b_mu"], dims="family")
    a_sigma = prior_variable("a_sigma", priors["a_sigma"])
    log_b_sigma = prior_variable("log_b_sigma", priors["log_b_sigma"])
    eta = float(priors["ab_corr"]["eta"])
    corr_unit = pm.Beta("ab_corr_unit", alpha=eta, beta=eta)
    corr = pm.Deterministic("ab_corr", 2.0 * corr_unit - 1.0)

    mean_a = a_mu[family_index]
    mean_log_b = log_b_mu[family_index]
    if task_effects:
        task_sigma = prior_variable("task_sigma", priors["task_sigma"], dims="param")
        if centered:
            task_effect = pm.Normal("task_effect", mu=0.0, sigma=task_sigma, dims=("task", "param"))
        else:
            task_z = pm.Normal("task_effect_z", mu=0.0, sigma=1.0, dims=("task", "param"))
            task_effect = pm.Deterministic(
                "task_effect", task_z * task_sigma, dims=("task", "param")
            )
        mean_a = mean_a + task_effect[task_index, 0]
        mean_log_b = mean_log_b + task_effect[task_index, 1]

    conditional_sd = log_b_sigma * pt.sqrt(1.0 - corr**2)
    if centered:
        a = pm.Normal("a", mu=mean_a, sigma=a_sigma, dims="curve")
        log_b = pm.Normal(
            "log_b",
            mu=mean_log_b + corr * log_b_sigma / a_sigma * (a - mean_a),
            sigma=conditional_sd,
            dims="curve",
        )
    else:
        z_a = pm.Normal("z_a", 0.0, 1.0, dims="curve")
        z_log_b = pm.Normal("z_log_b", 0.0, 1.0, dims="curve")
        a = pm.Deterministic("a", mean_a + a_sigma * z_a, dims="curve")
        log_b = pm.Deterministic(
            "log_b",
            mean_log_b + log_b_sigma * corr * z_a + conditional_sd * z_log_b,
            dims="curve",
        )
    b = pm.Deterministic("b", pt.exp(log_b), dims="curve")
    return a, b


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def build_smooth_model(
    table: pd.DataFrame,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    n_ref: float | None = None,
    floor: bool = False,
    lengths: LengthsMapping | None = None,
    centered: bool = True,
    loglik_noise: str = "pooled",
) -> pm.Model:
    """Smooth power law in the per-token cross-entropy, all curves and metrics in one model.

    Parameters
    ----------
    table
        Canonical evaluation table (validated here).
    priors
        Overrides of :data:`emergestats.models.priors.DEFAULT_PRIORS`, by key.
    n_ref
        Reference scale ``N_ref`` (default: geometric mean of the distinct ``params``).
    floor
        Add an irreducible per-token CE ``floor`` (dims ``curve``): ``CE = floor + exp(a - b x)``.
    lengths
        Per-item answer lengths by ``(task, subtask)`` or curve label (see the module docstring).
    centered
        Centred (default) or non-centred parameterisation of the curves' ``(a, log_b)``.
    loglik_noise
        ``"pooled"`` (default): one coefficient of variation of the log-likelihood's item noise
        per unit (token, word, char); ``"series"``: one per series (see
        :mod:`emergestats.models.likelihoods`).

    Returns
    -------
    pymc.Model
        Dims: ``curve`` (labels of :func:`emergestats.data.table.curve_labels`), ``obs`` (table
        rows), ``family``, ``param`` (``a``, ``log_b``), ``task`` (with task effects) and one
        ``<kind>_obs`` dim per observed metric kind. Variables: the population (see
        :func:`add_curve_population`), ``a``, ``log_b``, ``b`` (dims ``curve``), ``floor`` (if
        asked), the deterministic ``p_token`` (dims ``obs``), the likelihood parameters of
        :func:`emergestats.models.likelihoods.add_metric_likelihoods` and the observed
        ``obs_<kind>`` variables.
    """
    data = prepare_evaluation(table, lengths=lengths, n_ref=n_ref, loglik_noise=loglik_noise)
    return smooth_model_from_prepared(
        data, priors=resolve_priors(priors), floor=floor, centered=centered
    )


def smooth_model_from_prepared(
    data: PreparedData, *, priors: dict[str, PriorSpec], floor: bool, centered: bool
) -> pm.Model:
    """:func:`build_smooth_model` on already prepared data."""
    with pm.Model(coords=data.coords()) as model:
        a, b = add_curve_population(
            family_index=data.family_index,
            task_index=data.task_index,
            task_effects=data.task_effects,
            priors=priors,
            centered=centered,
        )
        ci = data.curve_index
        ce = pt.exp(log_cross_entropy(data.x, a[ci], b[ci]))
        if floor:
            floor_var = prior_variable("floor", priors["floor"], dims="curve")
            ce = ce + floor_var[ci]
        pm.Deterministic("p_token", pt.exp(-ce), dims="obs")
        add_metric_likelihoods(ce, data.observations, priors)
    return model


def break_bounds(data: PreparedData, priors: dict[str, PriorSpec]) -> tuple[np.ndarray, np.ndarray]:
    """Per-curve bounds of ``log_n_break``: the observed ``log N`` range, trimmed.

    A curve seen at a single scale gets that scale +/- 1 e-fold (its break is then prior-only).
    """
    trim = float(priors["break_location"]["trim"])
    if not 0.0 <= trim < 0.5:
        raise ConfigError(f"prior 'break_location' trim must be in [0, 0.5), not {trim!r}")
    low, high = data.curve_log_range[:, 0].copy(), data.curve_log_range[:, 1].copy()
    span = high - low
    low, high = low + trim * span, high - trim * span
    single = span <= 0
    low[single] -= 1.0
    high[single] += 1.0
    return low, high


def build_broken_model(
    table: pd.DataFrame,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    n_ref: float | None = None,
    lengths: LengthsMapping | None = None,
    centered: bool = True,
    loglik_noise: str = "pooled",
) -> pm.Model:
    """Broken power law: the smooth model plus a smooth but sharp break per curve.

    ``log CE = a - b x - break_level * sigmoid(u) - break_slope * w * softplus(u)`` with
    ``u = (x - x*) / w``, ``x* = log_n_break - log N_ref`` and ``w`` the fixed ``break_width``
    (see :func:`emergestats.models.latent.broken_log_cross_entropy`). Below the break the curve
    is the smooth line; above it ``log CE`` is lower by ``break_level`` and falls with slope
    ``b + break_slope``.

    Break variables (dims ``curve``)
    --------------------------------
    ``log_n_break``
        Natural log of the break scale ``N*``, uniform over the curve's observed ``log N`` range
        (prior ``break_location``).
    ``break_level``
        Drop of ``log CE`` across the break (normal around 0; positive is a sudden
        improvement). A half-normal (improvements only) put "no break" on the boundary, and on
        simulated breaks its posterior placed ``N*`` too late (mean error +0.14 e-folds, 5 of 8
        90% intervals covering); the sign-free prior gave 0.00 and 7 of 8.
    ``break_slope``
        Change of slope past the break (normal around 0).

    ``break_level = break_slope = 0`` is the smooth model, and the priors put their mode there,
    in the interior of their support, so "no break" is inside the model; compare with the
    smooth model by PSIS-LOO (:func:`emergestats.inference.compare`). Other parameters, dims
    and returns as :func:`build_smooth_model` (no floor).
    """
    data = prepare_evaluation(table, lengths=lengths, n_ref=n_ref, loglik_noise=loglik_noise)
    return broken_model_from_prepared(data, priors=resolve_priors(priors), centered=centered)


def broken_model_from_prepared(
    data: PreparedData, *, priors: dict[str, PriorSpec], centered: bool
) -> pm.Model:
    """:func:`build_broken_model` on already prepared data."""
    low, high = break_bounds(data, priors)
    width = float(priors["break_width"]["value"])
    if width <= 0:
        raise ConfigError(f"prior 'break_width' value must be positive, not {width!r}")
    with pm.Model(coords=data.coords()) as model:
        a, b = add_curve_population(
            family_index=data.family_index,
            task_index=data.task_index,
            task_effects=data.task_effects,
            priors=priors,
            centered=centered,
        )
        log_n_break = pm.Uniform("log_n_break", lower=low, upper=high, dims="curve")
        break_level = prior_variable("break_level", priors["break_level"], dims="curve")
        break_slope = prior_variable("break_slope", priors["break_slope"], dims="curve")
        ci = data.curve_index
        x_break = log_n_break - np.log(data.n_ref)
        log_ce = broken_log_cross_entropy(
            data.x, a[ci], b[ci], x_break[ci], break_slope[ci], break_level[ci], width
        )
        ce = pt.exp(log_ce)
        pm.Deterministic("p_token", pt.exp(-ce), dims="obs")
        add_metric_likelihoods(ce, data.observations, priors)
    return model


# --------------------------------------------------------------------------------------------
# Item model
# --------------------------------------------------------------------------------------------


@dataclass
class PreparedItems:
    """An item table turned into model arrays (see :func:`prepare_items`)."""

    items: pd.DataFrame
    curve_labels: list[str]
    curves: pd.DataFrame
    curve_index: np.ndarray
    item_labels: list[str]
    item_index: np.ndarray
    item_curve_index: np.ndarray
    x: np.ndarray
    n_ref: float
    lengths: np.ndarray
    n_choices: np.ndarray
    family_labels: list[str]
    family_index: np.ndarray
    task_labels: list[str]
    task_index: np.ndarray
    task_effects: bool
    logprob_rows: np.ndarray
    correct_rows: np.ndarray

    def coords(self) -> dict[str, Any]:
        coords: dict[str, Any] = {
            "curve": self.curve_labels,
            "item": self.item_labels,
            "obs": np.arange(len(self.items)),
            "family": self.family_labels,
            "param": ["a", "log_b"],
            "logprob_obs": self.logprob_rows,
            "correct_obs": self.correct_rows,
        }
        if self.task_effects:
            coords["task"] = self.task_labels
        return coords


def prepare_items(
    items: pd.DataFrame, *, n_ref: float | None = None, warn: bool = True
) -> PreparedItems:
    """Validate an item table and compute the arrays :func:`build_item_model` needs."""
    items = validate_items(items)
    key = list(CURVE_KEY)
    curves = items.loc[:, key].drop_duplicates().reset_index(drop=True)
    labels = [str(v) for v in curve_labels(curves)]
    curve_index = (
        items.merge(curves.assign(_curve=np.arange(len(curves))), on=key, how="left")["_curve"]
        .to_numpy()
        .astype(np.int64)
    )
    item_key = (
        items["task"].astype(str)
        + "/"
        + items["subtask"].astype(str)
        + "/"
        + items["item"].astype(str)
    ).to_numpy(dtype=object)
    item_labels = list(dict.fromkeys(item_key))
    position = {label: i for i, label in enumerate(item_labels)}
    item_index = np.array([position[k] for k in item_key], dtype=np.int64)
    item_curve_index = np.zeros(len(item_labels), dtype=np.int64)
    item_curve_index[item_index] = curve_index
    params = items["params"].to_numpy(float)
    if n_ref is None:
        n_ref = default_n_ref(params)
    x = np.log(params) - np.log(n_ref)

    lengths = items["target_tokens"].to_numpy(float)
    no_length = ~(np.isfinite(lengths) & (lengths > 0))
    if no_length.any():
        affected = sorted({labels[c] for c in curve_index[no_length]})
        _warn(
            f"{int(no_length.sum())} items have no target_tokens; answers of 1 token are assumed "
            f"(curves {_name_curves(affected)})",
            warn=warn,
        )
    lengths = np.where(no_length, 1.0, lengths)
    n_choices = np.array([np.nan if c is None else float(len(c)) for c in items["choice_logprobs"]])
    logprob_rows = np.flatnonzero(np.isfinite(items["logprob"].to_numpy(float)))
    correct_rows = np.flatnonzero(items["correct"].notna().to_numpy())
    if len(logprob_rows) == 0 and len(correct_rows) == 0:
        raise DataFormatError(
            "the item table has neither a 'logprob' nor a 'correct' value in any row; at least "
            "one is needed to fit",
            column="logprob",
        )
    family_labels = sorted({str(f) for f in curves["family"]})
    family_index = np.array([family_labels.index(str(f)) for f in curves["family"]])
    task_labels = sorted({str(t) for t in curves["task"]})
    task_index = np.array([task_labels.index(str(t)) for t in curves["task"]])
    curves_per_task = np.bincount(task_index, minlength=len(task_labels))
    return PreparedItems(
        items=items,
        curve_labels=labels,
        curves=curves,
        curve_index=curve_index,
        item_labels=item_labels,
        item_index=item_index,
        item_curve_index=item_curve_index,
        x=x,
        n_ref=float(n_ref),
        lengths=lengths,
        n_choices=n_choices,
        family_labels=family_labels,
        family_index=family_index,
        task_labels=task_labels,
        task_index=task_index,
        task_effects=len(task_labels) >= 2 and bool((curves_per_task >= 2).any()),
        logprob_rows=logprob_rows,
        correct_rows=correct_rows,
    )


def build_item_model(
    items: pd.DataFrame,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    n_ref: float | None = None,
) -> pm.Model:
    """Item-level model: per-item difficulty, per-item log-probabilities and correctness.

    For item ``i`` (of curve ``j``) scored by a model at scale ``N``:
    ``log CE_i(N) = a_j - b_j x + d_i`` with item difficulty ``d_i ~ Normal(0,
    item_difficulty_sigma)`` shared by every model that saw the item (items are identified by
    ``(task, subtask, item)``), the same curve population as :func:`build_smooth_model`
    (centred), and

    * ``obs_logprob``: ``log(-logprob_i) ~ Normal(log L_i + log CE_i, item_logprob_sd)``, the
      summed log-probability of the ``L_i``-token answer on the log scale (``-logprob`` is
      clipped below at 1e-6 nats so a perfectly predicted answer stays finite);
    * ``obs_correct``: Bernoulli, right with probability ``exp(-L_i CE_i)`` (all tokens right)
      for generated answers, and for multiple-choice items (``choice_logprobs`` given, ``K`` =
      its length) with the choice model's grade
      (:func:`emergestats.models.likelihoods.multiple_choice_grade_rate`, noise
      ``choice_noise``).

    Dims: ``curve``, ``item``, ``obs`` (item-table rows), ``logprob_obs``, ``correct_obs``,
    ``family``, ``param`` (and ``task``). Vectorised over every row.
    """
    data = prepare_items(items, n_ref=n_ref)
    return item_model_from_prepared(data, priors=resolve_priors(priors))


def item_model_from_prepared(data: PreparedItems, *, priors: dict[str, PriorSpec]) -> pm.Model:
    """:func:`build_item_model` on already prepared data."""
    with pm.Model(coords=data.coords()) as model:
        a, b = add_curve_population(
            family_index=data.family_index,
            task_index=data.task_index,
            task_effects=data.task_effects,
            priors=priors,
            centered=True,
        )
        difficulty_sigma = prior_variable("item_difficulty_sigma", priors["item_difficulty_sigma"])
        difficulty = pm.Normal("item_difficulty", 0.0, difficulty_sigma, dims="item")
        ci = data.curve_index
        log_ce = log_cross_entropy(data.x, a[ci], b[ci]) + difficulty[data.item_index]
        if len(data.logprob_rows):
            rows = data.logprob_rows
            logprob_sd = prior_variable("item_logprob_sd", priors["item_logprob_sd"])
            observed = np.log(np.maximum(-data.items["logprob"].to_numpy(float)[rows], 1e-6))
            pm.Normal(
                "obs_logprob",
                mu=np.log(data.lengths[rows]) + log_ce[rows],
                sigma=logprob_sd,
                observed=observed,
                dims="logprob_obs",
            )
        if len(data.correct_rows):
            rows = data.correct_rows
            answer_ce = data.lengths[rows] * pt.exp(log_ce[rows])
            # logit of exp(-L CE): log p - log(1 - p), with 1 - p = -expm1(-L CE)
            logit_all_right = -answer_ce - pt.log(pt.maximum(-pt.expm1(-answer_ce), P_MIN))
            k_choices = data.n_choices[rows]
            has_choices = np.isfinite(k_choices)
            if has_choices.any():
                noise = prior_variable("choice_noise", priors["choice_noise"])
                safe_k = np.where(has_choices, k_choices, 2.0)
                per_token_ce = pt.exp(log_ce[rows])
                grade_logit = choice_margin(per_token_ce, safe_k) / noise - np.log(safe_k - 1.0)
                logit = pt.switch(has_choices, grade_logit, logit_all_right)
            else:
                logit = logit_all_right
            correct = data.items["correct"].to_numpy(dtype=float, na_value=np.nan)[rows]
            pm.Bernoulli(
                "obs_correct",
                logit_p=logit,
                observed=correct.astype(np.int64),
                dims="correct_obs",
            )
    return model
