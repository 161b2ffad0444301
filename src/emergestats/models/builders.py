"""Model builders: canonical tables in, plain ``pm.Model`` objects with named dims out.

Three builders share one latent and one population:

:func:`build_smooth_model`
    ``log CE_jm = a_j - b_j (log N_m - log N_ref) + delta_jm`` per curve ``j`` (task, subtask,
    family, shots) and model ``m``, ``b_j = exp(log_b_j) > 0``, optional floor
    ``CE = floor_j + exp(...)``.
:func:`build_broken_model`
    The same line with a smooth but sharp break at ``N*_j`` (change of level and of slope, see
    :func:`emergestats.models.latent.broken_log_cross_entropy`); "no break" is inside the model,
    and the floor is available too, so smooth is nested in broken.
:func:`build_item_model`
    The per-item version for item tables: per-item difficulty on ``log CE`` and per-item
    log-probabilities and correctness, vectorised over all items and models.

The measurement model (both evaluation builders)
------------------------------------------------
- **One model's outputs, one deviation.** ``delta_jm`` (dims ``cell``, sd ``cell_sigma``) is
  the deviation of model ``m`` on curve ``j`` from the power law; every metric of that (curve,
  model) cell is a function of the same ``CE_jm``, so the residuals of different metrics of the
  same outputs move together and a continuous metric observed at a model informs the
  discontinuous one at that model.
- **Items differ.** ``item_sd_j`` (dims ``curve``, log-normal around a pooled median) is the sd
  of the items' ``log CE`` around the cell's; every forward map integrates over it
  (:mod:`emergestats.models.forward`).
- **Every row its own map** (:mod:`emergestats.models.prepare` assigns the roles,
  :mod:`emergestats.models.likelihoods` the sampling models).

Population (partial pooling)
----------------------------
``(a_j, log_b_j)`` are bivariate normal around their family's mean (``a_mu``, ``log_b_mu``,
dims ``family``) plus, where some task has several curves, a task effect (``task_effect``,
dims ``(task, param)``, sd ``task_sigma``), with sds ``a_sigma``, ``log_b_sigma`` and
correlation ``ab_corr``. A table stacking several sources (a ``dataset`` column naming two or
more, :mod:`emergestats.corpus`) adds a level above the families: their means are pooled
around their source's (``source_a_mu``, ``source_log_b_mu``, dims ``source``).

Centred or non-centred, chosen by the data (:mod:`emergestats.models.centering`): per curve
for ``a`` and for ``log b`` (centred where the rows pin them more sharply than the population
spread, and the family has three curves or more), per (curve, model) cell for the deviation
(centred where the cell's rows read its ``log CE`` more sharply than the typical
``cell_sigma``), and for the task effects (centred with at least 5 curves per task on
average; with fewer, the centred task effect made a funnel: R-hat 3.65 on the open_lm table);
item sds are non-centred. ``centered=True/False`` forces the curve and task levels.

Starting point: :func:`emergestats.models.prepare.initial_curves` reads a rough ``(a, log b)``
per curve off the data; the builders keep it as ``model.emergestats_start`` and
:func:`emergestats.fit` starts every chain there (jittering only scales and spreads).

Inputs not in the table
-----------------------
``n_ref``
    Reference scale; default the geometric mean of the table's distinct ``params``.
``lengths``
    Per-item answer lengths by ``(task, subtask)`` or curve label (see
    :mod:`emergestats.models.prepare`: mean-only rows get a shifted-Poisson histogram).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from emergestats.data.table import CURVE_KEY, curve_labels, validate_items
from emergestats.errors import ConfigError, DataFormatError
from emergestats.models.centering import LineSensitivity, choose_centering, line_sensitivity
from emergestats.models.forward import grade_logit
from emergestats.models.latent import P_MIN, broken_log_cross_entropy, log_cross_entropy
from emergestats.models.likelihoods import (
    PROBABILITY_ROLES,
    add_map_parameters,
    add_metric_likelihoods,
    add_unit_conversions,
    needs_choice_noise,
    resolve_choice_options,
)
from emergestats.models.prepare import (
    LengthsMapping,
    ObservationData,
    PreparedData,
    curves_in_family,
    default_n_ref,
    initial_curves,
    length_histogram,
    mean_length_histogram,
    name_curves,
    prepare_evaluation,
)
from emergestats.models.priors import PriorSpec, prior_variable, resolve_priors

__all__ = [
    "PreparedData",
    "build_broken_model",
    "build_item_model",
    "build_smooth_model",
    "choose_centering",
    "default_n_ref",
    "length_histogram",
    "mean_length_histogram",
    "prepare_evaluation",
]


def _warn(message: str, *, warn: bool) -> None:
    if warn:
        warnings.warn(message, UserWarning, stacklevel=4)


# --------------------------------------------------------------------------------------------
# The population of curves
# --------------------------------------------------------------------------------------------


def add_curve_population(
    *,
    family_index: np.ndarray,
    task_index: np.ndarray,
    task_effects: bool,
    priors: dict[str, PriorSpec],
    centered: bool | tuple[np.ndarray, np.ndarray],
    task_centered: bool | None = None,
    initial: tuple[np.ndarray, np.ndarray] | None = None,
    curve_labels: Sequence[str] | None = None,
    level_shift: tuple[np.ndarray, Any] | None = None,
    follows: Sequence[LineFollow] = (),
    reference: np.ndarray | None = None,
    family_source: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """Add ``a`` and ``b`` (dims ``curve``) and their population to the current model.

    Variables: ``a_mu``, ``log_b_mu`` (dims ``family_pooled``: the families with two curves or
    more), ``a_sigma``, ``log_b_sigma``, ``ab_corr_unit`` (``(ab_corr + 1) / 2 ~ Beta(eta,
    eta)``, the LKJ(eta) marginal of a 2x2 correlation) and the deterministic ``ab_corr``; with
    task effects ``task_sigma`` (dims ``param``) and ``task_effect`` (dims ``(task, param)``,
    free when centred, else ``task_effect_z``); then the deterministics ``a``, ``log_b`` and
    ``b``.

    A family with a single curve cannot inform its means: kept, ``a_mu`` and ``log_b_mu``
    formed a ridge with that curve's ``a`` and ``log b`` (the ladder's one-curve fits ended at
    R-hat 1.013 on ``log_b_mu`` with a divergence; Pythia LAMBADA, two families of one curve,
    at 84 divergences). Its means are integrated out exactly: given the spreads and the
    correlation, ``(a, log b)`` is bivariate normal around the means' prior means (plus task
    effects) with covariance ``diag(sd(a_mu)^2, sd(log_b_mu)^2) + Sigma_population``. The
    prior is unchanged; the ridge is gone.

    ``centered`` is one flag for every curve, or a pair of boolean arrays over the curves (for
    ``a`` and for ``log_b``, from :func:`emergestats.models.centering.curve_centering`). A
    centred ``a`` is the free ``a_centred`` (dims ``curve_centred_a``), a non-centred one
    ``mean + sd z_a`` (``z_a``, dims ``curve_noncentred_a``); ``log_b`` likewise
    (``log_b_centred``, ``z_log_b``). The bivariate normal is factored per curve: a
    non-centred ``a`` first and ``log b`` given it; ``log b`` first and a centred ``a`` given it.

    ``reference`` (per curve, ``log N* - log N_ref``; default none: 0) is where a centred
    curve's data read its line (:func:`emergestats.models.centering.curve_centering`: the
    weighted mean of its sizes). Its ``a_centred`` is then the line's level there, ``a - b
    (log N* - log N_ref)``, a shear of unit Jacobian given ``log b``. Sampled at ``N_ref``, a
    curve whose sizes lie a decade from it had its level and slope on a curved ridge, ``a + b
    |log N* - log N_ref|`` fixed by the data (ObsScaling's 2-digit addition, 23 families of
    one curve: Phi's two sizes, both below ``N_ref``, 0.79 then 0.9995 exact match; 2-9
    divergent transitions on every seed at the default 4 x 1000 draws).

    ``level_shift`` (default none) is ``(curve_unit, deviation)``: per curve the position of
    the one unit it is seen in through log-likelihoods per word or character (-1: none), and
    per unit the log tokens-per-unit's deviation from its prior median
    (:func:`emergestats.models.likelihoods.add_unit_conversions`). Such rows pin only ``a + log
    tokens-per-unit``, so the sampler is given that sum where it can be without a funnel (a
    shear of unit Jacobian: the prior is unchanged): a pooled family whose curves are all
    seen in one unit samples its mean as ``a_mu_shifted`` (``a_mu`` is then deterministic),
    and a centred curve seen in one unit samples ``a + deviation`` as ``a_centred``. A
    non-centred curve's ``z`` is left alone: shearing it would tie its prior to the spread.

    ``follows`` (default none): pooled map parameters whose moves the centred curves' lines
    follow (:class:`LineFollow`, :func:`curves_follow`). A centred ``a`` is then sampled as
    ``a`` less its line's change, ``LineSensitivity.change("a", d)`` summed over the
    parameters (``d``: the parameter's log less its log prior median), a centred ``log b``
    likewise, and a pooled family's means less their curves' mean change: the line as the data
    read it at the prior medians, which hardly moves when the parameters do. Shears of unit
    Jacobian. Without them a pooled item sd that no curve informs (ObsScaling: one count metric
    per curve) had to drag every curve's level and slope with it: min bulk ESS 21 on
    ``item_sd`` over 2 x 200 draws; 72 with a first-order shear, 83 (``item_sd`` 99) with a
    second-order one (the line read at the median and half a prior sd either side), which
    still failed the ObsScaling meta-analysis table (bulk ESS 253, R-hat 1.011, seed 1: where
    the posterior sat the quadratic's slope was off by up to 1.4); the lines are now read at
    one and two prior sds either side and interpolated
    (:func:`emergestats.models.centering.line_sensitivity`).

    ``family_source`` (default none: one source) is, per family (in the order of the family
    labels ``family_index`` points into), the position of its source (a table stacking several,
    :mod:`emergestats.corpus`). The families' means are then pooled by source:
    ``source_a_mu`` and ``source_log_b_mu`` (dims ``source``) are Normal around the means'
    prior location with half its variance, and each family's means Normal around its source's
    with the other half (a family of one curve integrates its means out around its source's).
    The prior of any one family's means is unchanged; two families of one source are
    correlated 0.5 a priori, so the data of a source's other families inform a family's level
    and slope, and a source with many families pins its own. The split is fixed, not learned.
    """
    task_centered = bool(np.all(centered)) if task_centered is None else task_centered
    n_curves = len(family_index)
    labels = list(curve_labels) if curve_labels is not None else [str(i) for i in range(n_curves)]
    centred_a, centred_log_b = _centred_parameters(centered, n_curves)
    family_index = np.asarray(family_index)
    families, family_of_curve = np.unique(family_index, return_inverse=True)
    solo = curves_in_family(family_index) == 1
    pooled = np.flatnonzero(np.bincount(family_of_curve) >= 2)
    a_prior, log_b_prior = (
        _normal_parameters(priors, "a_mu"),
        _normal_parameters(priors, "log_b_mu"),
    )
    mean_a: Any = pt.full(n_curves, a_prior[0])
    mean_log_b: Any = pt.full(n_curves, log_b_prior[0])
    # where each family's means sit a priori, and how far from there: the prior's, or with
    # sources (see the docstring) the source's means and half the prior's variance
    family_a: Any = np.full(len(families), a_prior[0])
    family_log_b: Any = np.full(len(families), log_b_prior[0])
    family_sd = (a_prior[1], log_b_prior[1])
    source_of_family: np.ndarray | None = None
    if family_source is not None:
        source_of_family = np.asarray(family_source)[families]
        family_sd = (a_prior[1] / np.sqrt(2.0), log_b_prior[1] / np.sqrt(2.0))
        family_a = pm.Normal("source_a_mu", a_prior[0], family_sd[0], dims="source")[
            source_of_family
        ]
        family_log_b = pm.Normal("source_log_b_mu", log_b_prior[0], family_sd[1], dims="source")[
            source_of_family
        ]
        mean_a = family_a[family_of_curve]
        mean_log_b = family_log_b[family_of_curve]
    start: dict[str, np.ndarray] = {}
    curve_shift: Any = None
    family_unit = np.full(len(families), -1)
    if level_shift is not None:
        curve_unit = np.asarray(level_shift[0])
        deviation = _unit_deviations(level_shift)
        if (centred_a & (curve_unit >= 0)).any():
            curve_shift = deviation[np.where(centred_a & (curve_unit >= 0), curve_unit, -1)]
        for f in pooled:
            units = curve_unit[family_of_curve == f]
            if units[0] >= 0 and (units == units[0]).all():
                family_unit[f] = units[0]
    a_mu_name = "a_mu_shifted" if (family_unit >= 0).any() or follows else "a_mu"
    log_b_mu_name = "log_b_mu_shifted" if follows else "log_b_mu"
    if len(pooled):
        model = pm.modelcontext(None)
        family_labels = model.coords.get("family")
        model.add_coord(
            "family_pooled",
            [family_labels[f] for f in families[pooled]] if family_labels else families[pooled],
        )
        family_shift_log_b: Any = None
        if a_mu_name == "a_mu" and family_source is None:
            a_mu = prior_variable("a_mu", priors["a_mu"], dims="family_pooled")
        elif a_mu_name == "a_mu":
            a_mu = pm.Normal("a_mu", family_a[pooled], family_sd[0], dims="family_pooled")
        else:
            family_shift: Any = pt.zeros(len(pooled))
            if (family_unit >= 0).any():
                family_shift = deviation[family_unit[pooled]]
            if follows:
                # a family's means follow its curves' lines (on average) as the parameters move
                member = (family_of_curve[None, :] == pooled[:, None]).astype(float)
                member /= member.sum(axis=1, keepdims=True)
                family_shift = family_shift - pt.dot(member, _line_change(follows, "a"))
                family_shift_log_b = -pt.dot(member, _line_change(follows, "log_b"))
            a_mu_shifted = pm.Normal(
                a_mu_name, family_a[pooled] + family_shift, family_sd[0], dims="family_pooled"
            )
            a_mu = pm.Deterministic("a_mu", a_mu_shifted - family_shift, dims="family_pooled")
        if family_shift_log_b is None and family_source is None:
            log_b_mu = prior_variable("log_b_mu", priors["log_b_mu"], dims="family_pooled")
        elif family_shift_log_b is None:
            log_b_mu = pm.Normal(
                "log_b_mu", family_log_b[pooled], family_sd[1], dims="family_pooled"
            )
        else:
            log_b_mu_shifted = pm.Normal(
                log_b_mu_name,
                family_log_b[pooled] + family_shift_log_b,
                family_sd[1],
                dims="family_pooled",
            )
            log_b_mu = pm.Deterministic(
                "log_b_mu", log_b_mu_shifted - family_shift_log_b, dims="family_pooled"
            )
        position = np.full(len(families), -1)
        position[pooled] = np.arange(len(pooled))
        of_curve = position[family_of_curve]
        pooled_curves = np.flatnonzero(~solo)
        mean_a = pt.set_subtensor(mean_a[pooled_curves], a_mu[of_curve[pooled_curves]])
        mean_log_b = pt.set_subtensor(mean_log_b[pooled_curves], log_b_mu[of_curve[pooled_curves]])
    a_sigma = prior_variable("a_sigma", priors["a_sigma"])
    log_b_sigma = prior_variable("log_b_sigma", priors["log_b_sigma"])
    eta = float(priors["ab_corr"]["eta"])
    corr_unit = pm.Beta("ab_corr_unit", alpha=eta, beta=eta)
    corr = pm.Deterministic("ab_corr", 2.0 * corr_unit - 1.0)
    if initial is not None:
        a0, log_b0 = initial
        mean_a0 = np.full(n_curves, a_prior[0])
        mean_log_b0 = np.full(n_curves, log_b_prior[0])
        if source_of_family is not None:
            # each source's means start at the mean of its curves' readings (every source
            # holds a family, so no count is 0)
            source_of_curve = source_of_family[family_of_curve]
            counts = np.bincount(source_of_curve)
            start["source_a_mu"] = np.bincount(source_of_curve, weights=a0) / counts
            start["source_log_b_mu"] = np.bincount(source_of_curve, weights=log_b0) / counts
            mean_a0 = start["source_a_mu"][source_of_curve]
            mean_log_b0 = start["source_log_b_mu"][source_of_curve]
        if len(pooled):
            start[a_mu_name] = np.array([a0[family_of_curve == f].mean() for f in pooled])
            start[log_b_mu_name] = np.array([log_b0[family_of_curve == f].mean() for f in pooled])
            mean_a0[~solo] = start[a_mu_name][position[family_of_curve[~solo]]]
            mean_log_b0[~solo] = start[log_b_mu_name][position[family_of_curve[~solo]]]
        # the curves' prior sds at the spreads' medians (a solo family's adds its means' sd)
        scale_a = np.hypot(np.exp(priors["a_sigma"].get("mu", 0.0)), solo * family_sd[0])
        scale_log_b = np.hypot(np.exp(priors["log_b_sigma"].get("mu", 0.0)), solo * family_sd[1])
        start.update(
            {
                "a_centred": (
                    a0 - (0.0 if reference is None else np.exp(log_b0) * np.asarray(reference))
                )[centred_a],
                "log_b_centred": log_b0[centred_log_b],
                "z_a": ((a0 - mean_a0) / scale_a)[~centred_a],
                "z_log_b": ((log_b0 - mean_log_b0) / scale_log_b)[~centred_log_b],
            }
        )
        # kept beside the model (a model with initial values cannot be transformed by PyMC,
        # e.g. for its pointwise log-likelihood); emergestats.fit starts the sampler there
        pm.modelcontext(None).emergestats_start = start

    if task_effects:
        task_sigma = prior_variable("task_sigma", priors["task_sigma"], dims="param")
        if task_centered:
            task_effect = pm.Normal("task_effect", mu=0.0, sigma=task_sigma, dims=("task", "param"))
        else:
            task_z = pm.Normal("task_effect_z", mu=0.0, sigma=1.0, dims=("task", "param"))
            task_effect = pm.Deterministic(
                "task_effect", task_z * task_sigma, dims=("task", "param")
            )
        mean_a = mean_a + task_effect[task_index, 0]
        mean_log_b = mean_log_b + task_effect[task_index, 1]

    # (a, log b) of a curve: bivariate normal around its mean; a solo family's curve adds the
    # prior variances of the family means it integrates out
    var_a = a_sigma**2 + pt.as_tensor_variable(np.where(solo, family_sd[0] ** 2, 0.0))
    var_log_b = log_b_sigma**2 + pt.as_tensor_variable(np.where(solo, family_sd[1] ** 2, 0.0))
    cov = corr * a_sigma * log_b_sigma
    shift_log_b: Any = None
    if follows:
        follow_a = -_line_change(follows, "a")
        curve_shift = follow_a if curve_shift is None else curve_shift + follow_a
        shift_log_b = -_line_change(follows, "log_b")
    # A non-centred a is drawn first and log b given it; a centred a given log b, so that it
    # can be sampled as its line's level at the curve's own N* (see the docstring)
    nc = np.flatnonzero(~centred_a)
    a = _noncentred_elements(
        pt.zeros(n_curves), "z_a", mean_a, pt.sqrt(var_a), ~centred_a, "curve", labels, "a"
    )
    log_b_mean: Any = mean_log_b * pt.ones(n_curves)
    log_b_var: Any = var_log_b * pt.ones(n_curves)
    if len(nc):
        log_b_mean = pt.inc_subtensor(log_b_mean[nc], (cov / var_a * (a - mean_a))[nc])
        log_b_var = pt.inc_subtensor(log_b_var[nc], -(cov**2 / var_a * pt.ones(n_curves))[nc])
    log_b = partly_centred_normal(
        "log_b",
        "z_log_b",
        log_b_mean,
        pt.sqrt(log_b_var),
        centred_log_b,
        dim="curve",
        labels=labels,
        suffix="log_b",
        shift=shift_log_b,
    )
    level = 0.0 if reference is None else -pt.exp(log_b) * np.asarray(reference, float)
    a = _centred_elements(
        a,
        "a",
        mean_a + cov / var_log_b * (log_b - mean_log_b),
        pt.sqrt(var_a - cov**2 / var_log_b),
        centred_a,
        "curve",
        labels,
        "a",
        shift=level if curve_shift is None else curve_shift + level,
    )
    a = pm.Deterministic("a", a, dims="curve")
    b = pm.Deterministic("b", pt.exp(log_b), dims="curve")
    return a, b


def _centred_parameters(
    centered: bool | tuple[np.ndarray, np.ndarray], n_curves: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per curve, whether its ``a`` and its ``log b`` are centred: ``centered`` is one flag for
    all or the pair :func:`~emergestats.models.centering.choose_centering` gives."""
    if isinstance(centered, tuple):
        centred_a, centred_log_b = (np.asarray(c, dtype=bool) for c in centered)
        return centred_a, centred_log_b
    return np.full(n_curves, bool(centered)), np.full(n_curves, bool(centered))


def _unit_deviations(level_shift: tuple[np.ndarray, Any]) -> Any:
    """The units' log tokens-per-unit deviations and a last 0: indexed by a curve's unit
    position in ``level_shift`` (-1, no unit, reads the 0)."""
    return pt.concatenate([level_shift[1], pt.zeros(1)])


def _normal_parameters(priors: dict[str, PriorSpec], key: str) -> tuple[float, float]:
    spec = priors[key]
    if spec["dist"] != "Normal":
        raise ConfigError(f"prior {key!r} must be Normal, got {spec['dist']!r}")
    return float(spec["mu"]), float(spec["sigma"])


def add_cells_and_items(
    data: PreparedData,
    log_ce_cell: Any,
    priors: dict[str, PriorSpec],
    *,
    floor: bool,
    centered_cells: bool | np.ndarray = False,
    item_sd: Any = None,
    level_shift: tuple[np.ndarray, Any] | None = None,
    at_level: bool | np.ndarray = True,
) -> tuple[Any, Any]:
    """Cell deviations, floor and item-difficulty sds; returns per-row ``(CE, item_sd)``.

    Variables: ``cell_sigma``, the deviations ``cell_deviation`` (dims ``cell``; free
    ``cell_deviation_centred`` for the cells ``centered_cells`` marks, ``cell_z`` for the rest:
    :func:`partly_centred_normal`); ``floor`` (dims ``curve``, if asked); the item sds
    (:func:`add_item_spread`); the deterministic ``log_ce`` (dims ``cell``: ``log`` of the
    cell's typical per-token CE).

    A centred cell's free variable is the level its rows read, ``cell_deviation_centred = log
    CE line + deviation`` (plus its unit's log tokens-per-unit deviation where ``level_shift``,
    :func:`add_curve_population`, says its curve is seen only in that unit): a shear of unit
    Jacobian (:func:`partly_centred_normal`'s ``shift``). Sampled as the deviation itself, a
    tightly measured cell's deviation had to move with its line, so the curve's level and slope
    dragged every cell along: Pythia LAMBADA (2 curves of 7-8 sizes, per-word log-likelihoods)
    mixed at bulk ESS ~1000 of 4000 draws on ``log b``, the cells and ``a`` (max R-hat
    1.004-1.009 over seeds 1-22, 1.010 on one CI run); read as levels (and with
    :func:`add_item_spread`'s own item sds), min bulk ESS 2955-4252 and max R-hat 1.002-1.007
    over seeds 1-30, no divergence.

    Cells where ``at_level`` is false keep the deviation as their coordinate
    (:func:`_read_at_level`: a centred curve whose line follows a pooled map parameter, which
    its level then moves with). ObsScaling's 2-digit addition (23 centred curves following the
    pooled item sd), seeds 1, 2: with such cells at their levels R-hat 1.04-1.05, bulk ESS
    118-149; at their levels less the line's followed change, 1.012-1.020, 216-229 and 2-4
    divergences; as deviations, 1.006, 803-879, none. The same ObsScaling rows with 3-digit
    addition (families of two non-centred curves): 56 divergences as deviations, 0-2 at levels.
    With a ``floor`` every cell keeps its deviation: the rows then read ``log(floor + exp(line +
    deviation))``, not the line's level (the quick start's ladder, one curve with a floor, seeds
    1-6 and 20261202 of its cross-metric fit: 1 divergence and min bulk ESS 724-1158 at levels,
    none and 993-1297 as deviations).
    """
    cell_sigma = prior_variable("cell_sigma", priors["cell_sigma"])
    centred = np.broadcast_to(np.asarray(centered_cells, dtype=bool), (len(data.cell_curve),))
    # a centred cell samples the level its rows read (line + deviation, + its unit's log ratio
    # deviation where its curve is seen in one unit) where ``at_level``: see the docstring
    read_level = log_ce_cell
    if level_shift is not None:
        cell_unit = np.asarray(level_shift[0])[data.cell_curve]
        if (cell_unit >= 0).any():
            read_level = read_level + _unit_deviations(level_shift)[cell_unit]
    at_level = np.broadcast_to(np.asarray(at_level, dtype=bool), centred.shape) & (not floor)
    if not at_level.all():
        read_level = read_level * at_level.astype(float)
    deviation = partly_centred_normal(
        "cell_deviation",
        "cell_z",
        0.0,
        cell_sigma,
        centred,
        dim="cell",
        labels=data.coords()["cell"],
        shift=read_level,
    )
    ce_cell = pt.exp(log_ce_cell + deviation)
    if floor:
        floor_var = prior_variable("floor", priors["floor"], dims="curve")
        ce_cell = ce_cell + floor_var[data.cell_curve]
    pm.Deterministic("log_ce", pt.log(ce_cell), dims="cell")
    if item_sd is None:
        item_sd = add_item_spread(data, priors)
    return ce_cell[data.cell_index], item_sd[data.curve_index]


def add_item_spread(data: PreparedData, priors: dict[str, PriorSpec]) -> Any:
    """The item-difficulty sd of every curve (deterministic ``item_sd``, dims ``curve``).

    A curve whose rows report a standard error (:func:`item_sd_reported`) has its item sd
    pinned by them: it gets its own, from the population prior (``item_sd_median``'s), as a
    lone curve does; so does every curve of a one-curve table. The others share
    ``item_sd_median``, and those whose data inform their own item sd (:func:`item_sd_informed`)
    spread around it: ``item_sd_median exp(item_sd_spread item_sd_z)``. Pooled, pinned item sds
    left only the prior to place the median and spread: two curves (Pythia LAMBADA, item sds
    0.78 and 0.78) diverged in the spread's funnel at either end, at 1.2 non-centred, at 0.06
    centred (one default fit in 12, resp. 3 in 36); own, 30 of 30 seeds pass.
    """
    informed = item_sd_informed(data)
    reported = item_sd_reported(data)
    n_curves = len(data.curve_labels)
    if n_curves == 1 or reported.all():
        # a median, a spread and a z for values each pinned on its own would be a ridge
        return prior_variable("item_sd", priors["item_sd_median"], dims="curve")
    model = pm.modelcontext(None)
    pooled = np.flatnonzero(informed & ~reported)
    if len(pooled):
        model.add_coord("informed_curve", [data.curve_labels[c] for c in pooled])
        median, pooled_sd = _pooled_item_sds(priors, len(pooled))
        item_sd: Any = pt.set_subtensor((pt.ones(n_curves) * median)[pooled], pooled_sd)
    else:
        item_sd = pt.ones(n_curves) * prior_variable("item_sd_median", priors["item_sd_median"])
    own = np.flatnonzero(reported)
    if len(own):
        model.add_coord("reported_curve", [data.curve_labels[c] for c in own])
        own_sd = prior_variable("item_sd_reported", priors["item_sd_median"], dims="reported_curve")
        item_sd = pt.set_subtensor(item_sd[own], own_sd)
    return pm.Deterministic("item_sd", item_sd, dims="curve")


def _pooled_item_sds(priors: dict[str, PriorSpec], n_pooled: int) -> tuple[Any, Any]:
    """``item_sd_median`` and the pooled curves' item sds ``median exp(spread z)``, z ~ N(0, 1).

    Where the data pin each pooled curve's item sd, the non-centred coordinates lie on ridges:
    a larger median with every z lower reads the same sds, and so does a larger spread with
    every z nearer 0 (three simulated tasks, greedy match and log-likelihood: bulk ESS ~500 of
    8,000 on both, R-hat 1.012 on CI). With a log-normal median prior, ``z`` is split into its
    mean and its zero-sum rest (independent, ``N(0, 1/n)`` and ``ZeroSumNormal(1)``: the same
    prior), and the free coordinates are what the data pin: ``item_sd_log_mean = log median +
    spread mean(z) ~ Normal(mu + spread mean(z), sigma)``, the pooled curves' mean log item sd
    (a shear of unit Jacobian, as :func:`partly_centred_normal`'s ``shift``), and the
    deviations from it, ``item_sd_log_rest = spread rest(z) ~ ZeroSumNormal(spread)``,
    centred. The model is unchanged; ESS ~1,800-2,000, R-hat <= 1.003 on the same fits. Both
    start unjittered (:data:`emergestats.inference.fit.UNJITTERED`): jittered, the centred
    deviations had a divergence in 2 of 11 fits of a table without item spread, none in 14
    unjittered. Other median priors keep the plain non-centred form.
    """
    spec = priors["item_sd_median"]
    spread = prior_variable("item_sd_spread", priors["item_sd_spread"])
    if spec["dist"] != "LogNormal":
        median = prior_variable("item_sd_median", spec)
        item_z = pm.Normal("item_sd_z", 0.0, 1.0, dims="informed_curve")
        return median, median * pt.exp(spread * item_z)
    z_mean = pm.Normal("item_sd_z_mean", 0.0, 1.0 / np.sqrt(n_pooled))
    log_mean = pm.Normal("item_sd_log_mean", spec["mu"] + spread * z_mean, spec["sigma"])
    median = pm.Deterministic("item_sd_median", pt.exp(log_mean - spread * z_mean))
    if n_pooled == 1:
        pm.Deterministic("item_sd_z", pt.stack([z_mean]), dims="informed_curve")
        return median, pt.exp(log_mean)[None]
    rest = pm.ZeroSumNormal("item_sd_log_rest", sigma=spread, dims="informed_curve")
    pm.Deterministic("item_sd_z", rest / spread + z_mean, dims="informed_curve")
    return median, pt.exp(log_mean + rest)


def item_sd_reported(data: PreparedData) -> np.ndarray:
    """Curves with a modelled row whose reported standard error shows the items' spread
    (``obs_<role>_spread``, :mod:`emergestats.models.likelihoods`)."""
    obs = data.observations
    rows = obs.modelled & np.isfinite(obs.stderr)
    return np.bincount(data.curve_index[rows], minlength=len(data.curve_labels)) > 0


@dataclass(frozen=True)
class LineFollow:
    """A pooled map parameter the centred curves' lines follow (:func:`add_curve_population`).

    ``moved`` (pytensor, per curve or scalar) is the parameter's log less its log prior
    median; ``sensitivity`` how each curve's line moves with it
    (:func:`emergestats.models.centering.line_sensitivity`), held still for curves that do
    not follow.
    """

    moved: Any
    sensitivity: LineSensitivity


def _map_parameters_followed(
    data: PreparedData, priors: dict[str, PriorSpec], lure: bool, conversions: Any
) -> dict[str, Any] | None:
    """The forward maps' parameters, made before the curves where some curve's line follows them.

    Where a curve reads ``log CE`` only through the choices' logit noise
    (:func:`_through_choice_noise`), the noise must exist before the curves are made;
    elsewhere the parameters are made with the likelihoods, as always (``None``).
    """
    if needs_choice_noise(data.observations) and _through_choice_noise(data).any():
        return add_map_parameters(data.observations, priors, lure=lure, conversions=conversions)
    return None


def _line_change(follows: Sequence[LineFollow], which: str) -> Any:
    """Per curve, the change of the line's ``a`` or ``log b`` summed over ``follows``."""
    return sum(f.sensitivity.change(which, f.moved, backend=pt) for f in follows)


def _through_choice_noise(data: PreparedData) -> np.ndarray:
    """Curves every modelled row of which reads the choices' logit noise.

    Their data read ``log CE`` only together with the noise (``choice_noise``): through the
    argmax (grades, subset accuracies of choices) and, where the probabilities carry the noise
    too (:attr:`~emergestats.models.prepare.ObservationData.probability_noise`), through
    Brier scores and correct-choice log-likelihoods. Otherwise a curve with a Brier score or
    a choice log-likelihood reads the correct choice's probability directly.
    """
    obs = data.observations
    noisy = _argmax_rows(obs)
    if obs.probability_noise:
        noisy |= np.isin(obs.role, PROBABILITY_ROLES)
    return _every_row_of(data, noisy)


def _argmax_rows(obs: ObservationData) -> np.ndarray:
    """Rows read through the choices' argmax: grades and subset accuracies of choices."""
    return (obs.role == "grade") | ((obs.role == "subset") & np.isfinite(obs.n_choices))


def _every_row_of(data: PreparedData, rows: np.ndarray) -> np.ndarray:
    """Curves that have modelled rows, every one of them in the boolean row mask ``rows``."""
    modelled = data.observations.modelled
    n_curves = len(data.curve_labels)
    through = np.bincount(data.curve_index[modelled & rows], minlength=n_curves)
    every = np.bincount(data.curve_index[modelled], minlength=n_curves)
    return (every > 0) & (through == every)


def curves_follow(
    data: PreparedData, priors: dict[str, PriorSpec], params: dict[str, Any] | None
) -> tuple[Any, list[LineFollow]]:
    """The curves' item sds and the pooled map parameters their lines follow.

    The item sd: curves whose item sd their own data do not inform (it is the pooled median)
    follow it, and so do choice curves that inform their own (:func:`_follows_own_item_sd`);
    any other curve whose data inform its item sd reads its line jointly with it.
    The logit noise (``choice_noise``, from ``params``): only curves whose every row reads it
    (:func:`_through_choice_noise`). Returns ``(item_sd or None, follows)``; without a
    following curve the item sds are not made here (``None``: :func:`add_cells_and_items`
    adds them after the cells, as always).
    """
    follows: list[LineFollow] = []
    informed = item_sd_informed(data)
    item_sd = None
    # the sensitivities cost a few line fits per curve: only if used
    following = ~informed | _follows_own_item_sd(data, informed)
    if following.any() and _followable(priors["item_sd_median"]):
        sensitivity = line_sensitivity(data, priors, "item_sd_median", following)
        if sensitivity.following().any():
            item_sd = add_item_spread(data, priors)
            moved = pt.log(item_sd) - float(priors["item_sd_median"]["mu"])
            follows.append(LineFollow(moved=moved, sensitivity=sensitivity))
    noise = None if params is None else params.get("choice_noise")  # only where a curve needs it
    if noise is not None and _followable(priors["choice_noise"]):
        sensitivity = line_sensitivity(data, priors, "choice_noise", _through_choice_noise(data))
        if sensitivity.following().any():
            moved = pt.log(noise) - float(priors["choice_noise"]["mu"])
            follows.append(LineFollow(moved=moved, sensitivity=sensitivity))
    return item_sd, follows


def _follows_own_item_sd(data: PreparedData, informed: np.ndarray) -> np.ndarray:
    """Curves that inform their own item sd (``informed``, :func:`item_sd_informed`) and read
    ``log CE`` only through the choices.

    Every modelled row a grade, a Brier score, a correct-choice log-likelihood or a subset
    accuracy of choices: each reads the items' ``q`` through a nonlinear map, so a wider item
    spread (more easy items) and a higher level read the same rows, at every size, and a
    steeper slope goes with it. Their lines follow their own item sd (a shear of unit
    Jacobian, :class:`LineFollow`; the model is unchanged). On five simulated four-choice
    curves (400 items, 8 sizes, Brier and log-likelihood, 4 x 500 draws, seed 1), the level
    and log slope sampled jointly correlated with the log item sd at 0.85-0.90 and 0.79-0.84,
    and the fit failed (R-hat 1.016, bulk ESS 318 on the pooled log item sd); following, it
    passed (R-hat 1.006, bulk ESS 1,134). A free answer's log-likelihood reads the mean CE
    whatever the spread (:func:`emergestats.models.forward.log_likelihood`): curves with one
    are not sheared.
    """
    obs = data.observations
    choice = _argmax_rows(obs) | np.isin(obs.role, PROBABILITY_ROLES)
    return informed & _every_row_of(data, choice)


def _followable(spec: PriorSpec) -> bool:
    """Whether lines can follow a parameter with this prior: the follow is read in the log of
    the parameter less its log prior median (:func:`line_sensitivity`), which a log-normal
    prior has; under any other the curves do not follow (the same model, sampled as it
    stands)."""
    return spec["dist"] == "LogNormal"


def partly_centred_normal(
    name: str,
    z_name: str,
    mu: Any,
    sigma: Any,
    centred: np.ndarray,
    *,
    dim: str,
    labels: Sequence[Any],
    suffix: str = "",
    shift: Any = None,
) -> Any:
    """``Normal(mu, sigma)`` over ``dim``, centred where ``centred`` is true, non-centred elsewhere.

    ``mu`` and ``sigma`` are per element (or broadcast). Free variables ``<name>_centred``
    (dims ``<dim>_centred[_<suffix>]``) and ``z_name`` (dims ``<dim>_noncentred[_<suffix>]``),
    only those that have elements; the deterministic ``name`` (dims ``dim``) holds them all in
    order. Which samples better depends on how sharply the data pin each element
    (:mod:`emergestats.models.centering`).

    ``shift`` (per element, another model variable; default none) makes the free variable of
    a centred element ``value + shift ~ Normal(mu + shift, sigma)``, ``value`` recovered by
    subtracting ``shift`` (non-centred elements ignore it). A shear of unit Jacobian: the joint
    prior of ``value`` and whatever ``shift`` is made of is unchanged, but where the data pin
    only ``value + shift`` (a curve level seen only through per-word log-likelihoods pins
    ``a + log tokens-per-word``) the sampler's coordinates are the identified sum and the
    prior's remainder, not a ridge.
    """
    values = pt.zeros(len(labels))
    values = _centred_elements(values, name, mu, sigma, centred, dim, labels, suffix, shift)
    values = _noncentred_elements(values, z_name, mu, sigma, ~centred, dim, labels, suffix)
    return pm.Deterministic(name, values, dims=dim)


def _element_coord(
    dim: str, kind: str, suffix: str, labels: Sequence[Any], index: np.ndarray
) -> str:
    """Add and return the coord ``<dim>_<kind>[_<suffix>]`` of the elements ``index``."""
    coord = f"{dim}_{kind}_{suffix}" if suffix else f"{dim}_{kind}"
    pm.modelcontext(None).add_coord(coord, [labels[int(i)] for i in index])
    return coord


def _centred_elements(
    values: Any,
    name: str,
    mu: Any,
    sigma: Any,
    where: np.ndarray,
    dim: str,
    labels: Sequence[Any],
    suffix: str,
    shift: Any = None,
) -> Any:
    """``values`` with the elements ``where`` set from the free ``<name>_centred`` (see
    :func:`partly_centred_normal`); unchanged where ``where`` is empty."""
    index = np.flatnonzero(where)
    if not len(index):
        return values
    n = len(labels)
    coord = _element_coord(dim, "centred", suffix, labels, index)
    offset = 0.0 if shift is None else (pt.as_tensor_variable(shift) * pt.ones(n))[index]
    mu = (pt.as_tensor_variable(mu) * pt.ones(n))[index]
    sigma = (pt.as_tensor_variable(sigma) * pt.ones(n))[index]
    free = pm.Normal(f"{name}_centred", mu + offset, sigma, dims=coord)
    return pt.set_subtensor(values[index], free - offset)


def _noncentred_elements(
    values: Any,
    z_name: str,
    mu: Any,
    sigma: Any,
    where: np.ndarray,
    dim: str,
    labels: Sequence[Any],
    suffix: str,
) -> Any:
    """``values`` with the elements ``where`` set to ``mu + sigma z_name`` (see
    :func:`partly_centred_normal`); unchanged where ``where`` is empty."""
    index = np.flatnonzero(where)
    if not len(index):
        return values
    n = len(labels)
    coord = _element_coord(dim, "noncentred", suffix, labels, index)
    z = pm.Normal(z_name, 0.0, 1.0, dims=coord)
    mu = (pt.as_tensor_variable(mu) * pt.ones(n))[index]
    sigma = (pt.as_tensor_variable(sigma) * pt.ones(n))[index]
    return pt.set_subtensor(values[index], mu + sigma * z)


#: Seed of the starting values of coordinates no likelihood row informs (see
#: :func:`start_uninformed_at_prior_draws`).
UNINFORMED_START_SEED: Final[int] = 20261205

#: A curve's ``z`` that would start at exactly 0 starts this many prior sds off it, by a seeded
#: draw (see :func:`start_uninformed_at_prior_draws`).
CURVE_START_NUDGE: Final[float] = 0.1


def start_uninformed_at_prior_draws(model: pm.Model, data: PreparedData) -> None:
    """Start the non-centred ``z`` of curves and cells no likelihood row informs at prior draws.

    ``emergestats.fit`` starts the curve and cell coordinates unjittered at the data-driven
    start, where a ``z`` is 0. A curve (or cell) whose every row is left out of the likelihood
    (e.g. an accuracy and a Brier score of a task whose number of choices is unknown) feels only
    its ``Normal(0, 1)`` prior, whose gradient at 0 is exactly 0; nutpie's first mass matrix is
    read off the gradient and refused it ("All initialization points failed": every
    ExpEmergence family fit of the extrapolation benchmark). Those coordinates start at a seeded
    draw from their prior instead (the same for every chain, like the rest of the start). So
    does the slope of a curve seen at one scale only: the start's line passes through its
    rows, so their gradient on the slope is 0 too (ObsScaling's arithmetic, four subtasks:
    Jamba's one model). A curve's level or slope ``z`` that would still start at exactly 0
    (its family's mean starts at its own line: every curve of the family starts at the same
    level) starts a tenth of a draw off it: where every cell of the curve is centred, the
    cells start on the line and read no gradient onto it (ExpEmergence, three tasks: eight
    families whose 2-shot curves were each seen at one size; every chain refused,
    2026-12-07).
    """
    start = getattr(model, "emergestats_start", None)
    if start is None:
        return
    modelled = data.observations.modelled
    curve_informed = np.zeros(len(data.curve_labels), dtype=bool)
    curve_informed[data.curve_index[modelled]] = True
    cell_informed = np.zeros(len(data.cell_labels), dtype=bool)
    cell_informed[data.cell_index[modelled]] = True
    slope_informed = np.array(
        [
            len(np.unique(data.x[modelled & (data.curve_index == c)])) >= 2
            for c in range(len(data.curve_labels))
        ]
    )
    rng = np.random.default_rng(UNINFORMED_START_SEED)
    for z_name, informed, dim in (
        ("z_a", curve_informed, "curve"),
        ("z_log_b", slope_informed, "curve"),
        ("cell_z", cell_informed, "cell"),
    ):
        if z_name not in model.named_vars:
            continue
        labels = list(model.coords[dim])
        position = {label: i for i, label in enumerate(labels)}
        own = [position[label] for label in model.coords[model.named_vars_to_dims[z_name][0]]]
        values = np.array(start.get(z_name, np.zeros(len(own))), dtype=float)
        draws = rng.standard_normal(len(own))
        blind = ~informed[own]
        values[blind] = draws[blind]
        if z_name != "cell_z":
            # a curve's line read only through centred cells, which start on it, has no
            # gradient at z = 0 either (its z is 0 where its family's mean starts on its
            # line): started a tenth of a prior draw off it
            nudged = ~blind & (values == 0.0)
            values[nudged] = CURVE_START_NUDGE * draws[nudged]
        start[z_name] = values


def item_sd_informed(data: PreparedData) -> np.ndarray:
    """Curves whose own item-difficulty sd the data can inform (the rest use the median).

    The spread of item difficulty shows only where one curve is scored more than one way: two
    metric roles (e.g. exact match and log-likelihood), exact match at several answer lengths or
    subset sizes, pass@k at several k, or a reported standard error of a continuous score. A
    curve with one count metric alone cannot tell its item spread from its level and slope: a
    free item sd per such curve put 165 curved ridges into the ObsScaling posterior (NUTS at
    tree depth 10 with step size 0.02).
    """
    obs = data.observations
    informed = np.zeros(len(data.curve_labels), dtype=bool)
    for curve in range(len(data.curve_labels)):
        rows = np.flatnonzero(obs.modelled & (data.curve_index == curve))
        if not len(rows):
            continue
        variants = {
            (str(obs.role[r]), float(obs.pass_k[r]), float(obs.subset_size[r])) for r in rows
        }
        lengths = {tuple(obs.length_values[r][obs.length_weights[r] > 0]) for r in rows}
        informed[curve] = len(variants) >= 2 or len(lengths) >= 2
    return informed | item_sd_reported(data)


def _build_from_table(
    builder: str,
    table: pd.DataFrame,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None,
    n_ref: float | None,
    floor: bool,
    lengths: LengthsMapping | None,
    centered: bool | None,
    lure: bool | str,
    probability_noise: bool | str,
) -> pm.Model:
    """Prepare ``table``, resolve the ``"auto"`` options from it, build and record the model."""
    data = prepare_evaluation(table, lengths=lengths, n_ref=n_ref)
    resolved = resolve_priors(priors)
    noisy, lure_flag = resolve_choice_options(probability_noise, lure, data.observations)
    build = smooth_model_from_prepared if builder == "smooth" else broken_model_from_prepared
    model = build(
        data,
        priors=resolved,
        floor=floor,
        centered=centered,
        lure=lure_flag,
        probability_noise=noisy,
    )
    return _record_build(model, builder, resolved, data, floor, lengths, centered, lure_flag, noisy)


def _record_build(
    model: pm.Model,
    builder: str,
    priors: dict[str, PriorSpec],
    data: PreparedData,
    floor: bool,
    lengths: LengthsMapping | None,
    centered: bool | None,
    lure: bool,
    probability_noise: bool,
) -> pm.Model:
    """Record how a model was built, so :func:`emergestats.fit` can take the model itself."""
    model.emergestats_build = {
        "builder": builder,
        "priors": priors,
        "floor": floor,
        "lengths": lengths,
        "n_ref": data.n_ref,
        "centered": centered,
        "lure": lure,
        "probability_noise": probability_noise,
    }
    return model


def with_probability_noise(data: PreparedData, probability_noise: bool) -> PreparedData:
    """``data`` whose Brier and choice log-likelihood rows read the logit noise, or not.

    A shallow copy (the arrays are shared); ``data`` itself is unchanged.
    """
    if data.observations.probability_noise == probability_noise:
        return data
    observations = replace(data.observations, probability_noise=bool(probability_noise))
    return replace(data, observations=observations)


def _centering(
    data: PreparedData, centered: bool | None, priors: dict[str, PriorSpec]
) -> dict[str, Any]:
    chosen = choose_centering(data, priors)
    if centered is None:
        return chosen
    return {
        "curve": bool(centered),
        "task": bool(centered),
        "cell": chosen["cell"],
        "curve_reference": chosen["curve_reference"],
        "row_readings": chosen["row_readings"],
    }


def build_smooth_model(
    table: pd.DataFrame,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    n_ref: float | None = None,
    floor: bool = False,
    lengths: LengthsMapping | None = None,
    centered: bool | None = None,
    lure: bool | str = "auto",
    probability_noise: bool | str = "auto",
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
        Add an irreducible per-token CE ``floor`` (dims ``curve``): ``CE = floor + exp(...)``.
    lengths
        Per-item answer lengths by ``(task, subtask)`` or curve label.
    centered
        ``None`` (default): per level from the data (:func:`choose_centering`); ``True`` /
        ``False`` force the curve and task levels.
    lure
        Let a plausible distractor pull weak models below chance (the ``lure`` of
        :mod:`emergestats.models.forward`: grade, Brier and choice log-likelihood alike).
        ``"auto"`` (default): where some choice row of the table is below chance by more than
        two standard errors (:func:`emergestats.models.likelihoods.shows_below_chance`).
    probability_noise
        Let the probabilities on the choices (Brier scores, the correct choice's
        log-likelihood) carry the same logit noise (``choice_noise``) as the argmax: a model
        that knows nothing then grades at chance but guesses confidently, its Brier score worse
        than chance's (:mod:`emergestats.models.forward`). ``"auto"`` (default): where some
        correct-choice Brier score or log-likelihood is worse than chance's by more than two
        standard errors (:func:`emergestats.models.likelihoods.shows_confident_guessing`);
        a calibrated classifier's probabilities (the ladders') are read noise-free.

    Returns
    -------
    pymc.Model
        Dims ``curve``, ``cell`` ((curve, model) pairs), ``obs`` (table rows), ``family``,
        ``param``, ``task`` (with task effects) and ``<role>_obs`` per observed role. Variables:
        the population (:func:`add_curve_population`), ``a``, ``log_b``, ``b``, the cell and
        item terms (:func:`add_cells_and_items`), ``mu_<role>`` and ``obs_<role>``
        (:func:`emergestats.models.likelihoods.add_metric_likelihoods`).
    """
    return _build_from_table(
        "smooth",
        table,
        priors=priors,
        n_ref=n_ref,
        floor=floor,
        lengths=lengths,
        centered=centered,
        lure=lure,
        probability_noise=probability_noise,
    )


@dataclass(frozen=True)
class _CurveStage:
    """What :func:`_add_curves` made that the cells and likelihoods use."""

    conversions: Any
    params: dict[str, Any] | None
    item_sd: Any
    #: per cell: a centred cell samples the level its rows read (:func:`_read_at_level`)
    at_level: np.ndarray


def _add_curves(
    data: PreparedData, priors: dict[str, PriorSpec], centering: dict[str, Any], lure: bool
) -> tuple[Any, Any, _CurveStage]:
    """The unit conversions, the followed map parameters and the curves (both builders)."""
    conversions = add_unit_conversions(
        data.observations,
        priors,
        curve_index=data.curve_index,
        n_curves=len(data.curve_labels),
    )
    params = _map_parameters_followed(data, priors, lure, conversions)
    item_sd_curve, follows = curves_follow(data, priors, params)
    a, b = add_curve_population(
        family_index=data.family_index,
        task_index=data.task_index,
        task_effects=data.task_effects,
        priors=priors,
        centered=centering["curve"],
        task_centered=centering["task"],
        initial=initial_curves(data, centering["row_readings"]),
        curve_labels=data.curve_labels,
        level_shift=conversions.level_shift,
        follows=follows,
        reference=centering["curve_reference"],
        family_source=data.family_source,
    )
    stage = _CurveStage(
        conversions=conversions,
        params=params,
        item_sd=item_sd_curve,
        at_level=_read_at_level(data, follows, centering),
    )
    return a, b, stage


def _read_at_level(
    data: PreparedData, follows: Sequence[LineFollow], centering: dict[str, Any]
) -> np.ndarray:
    """Per cell: whether a centred cell samples the level its rows read (else its deviation).

    Every cell but those of a curve with a centred ``a`` or ``log b`` that follows a pooled map
    parameter (:func:`curves_follow`): such a line moves with the parameter, and a level held
    fixed would not (see :func:`add_cells_and_items`).
    """
    n = len(data.curve_labels)
    centred_a, centred_log_b = _centred_parameters(centering["curve"], n)
    following = np.zeros(n, dtype=bool)
    for follow in follows:
        following |= follow.sensitivity.following()
    return ~(following & (centred_a | centred_log_b))[data.cell_curve]


def _add_cells_and_likelihoods(
    data: PreparedData,
    log_ce_cell: Any,
    priors: dict[str, PriorSpec],
    stage: _CurveStage,
    *,
    floor: bool,
    centering: dict[str, Any],
    lure: bool,
) -> None:
    """The cells, item sds and metric likelihoods on the cells' lines (both builders)."""
    ce, item_sd = add_cells_and_items(
        data,
        log_ce_cell,
        priors,
        floor=floor,
        centered_cells=centering["cell"],
        item_sd=stage.item_sd,
        level_shift=stage.conversions.level_shift,
        at_level=stage.at_level,
    )
    add_metric_likelihoods(
        ce,
        item_sd,
        data.observations,
        priors,
        lure=lure,
        conversions=stage.conversions,
        params=stage.params,
    )


def smooth_model_from_prepared(
    data: PreparedData,
    *,
    priors: dict[str, PriorSpec],
    floor: bool = False,
    centered: bool | None = None,
    lure: bool = False,
    probability_noise: bool = False,
) -> pm.Model:
    """:func:`build_smooth_model` on already prepared data."""
    data = with_probability_noise(data, probability_noise)
    centering = _centering(data, centered, priors)
    with pm.Model(coords=data.coords()) as model:
        a, b, stage = _add_curves(data, priors, centering, lure)
        cc = data.cell_curve
        log_ce_cell = log_cross_entropy(data.cell_x, a[cc], b[cc])
        _add_cells_and_likelihoods(
            data, log_ce_cell, priors, stage, floor=floor, centering=centering, lure=lure
        )
    start_uninformed_at_prior_draws(model, data)
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
    floor: bool = False,
    lengths: LengthsMapping | None = None,
    centered: bool | None = None,
    lure: bool | str = "auto",
    probability_noise: bool | str = "auto",
) -> pm.Model:
    """Broken power law: the smooth model plus a smooth but sharp break per curve.

    ``log CE = a - b x - break_level * sigmoid(u) - break_slope * w * softplus(u) + delta``
    with ``u = (x - x*) / w``, ``x* = log_n_break - log N_ref`` and ``w`` the fixed
    ``break_width`` (see :func:`emergestats.models.latent.broken_log_cross_entropy`). Below the
    break the curve is the smooth line; above it ``log CE`` is lower by ``break_level`` and
    falls with slope ``b + break_slope``.

    Break variables (dims ``curve``)
    --------------------------------
    ``log_n_break``
        Natural log of the break scale ``N*``, uniform over the curve's observed ``log N`` range
        (prior ``break_location``).
    ``break_level``
        Drop of ``log CE`` across the break (normal around 0; positive is a sudden improvement).
    ``break_slope``
        Change of slope past the break (normal around 0).

    ``break_level = break_slope = 0`` is the smooth model (with the same floor, cells and
    items), so the smooth model is nested in this one; compare by PSIS-LOO
    (:func:`emergestats.inference.compare`). Other parameters as :func:`build_smooth_model`.
    """
    return _build_from_table(
        "broken",
        table,
        priors=priors,
        n_ref=n_ref,
        floor=floor,
        lengths=lengths,
        centered=centered,
        lure=lure,
        probability_noise=probability_noise,
    )


def broken_model_from_prepared(
    data: PreparedData,
    *,
    priors: dict[str, PriorSpec],
    floor: bool = False,
    centered: bool | None = None,
    lure: bool = False,
    probability_noise: bool = False,
) -> pm.Model:
    """:func:`build_broken_model` on already prepared data."""
    data = with_probability_noise(data, probability_noise)
    low, high = break_bounds(data, priors)
    width = float(priors["break_width"]["value"])
    if width <= 0:
        raise ConfigError(f"prior 'break_width' value must be positive, not {width!r}")
    centering = _centering(data, centered, priors)
    with pm.Model(coords=data.coords()) as model:
        a, b, stage = _add_curves(data, priors, centering, lure)
        log_n_break = pm.Uniform("log_n_break", lower=low, upper=high, dims="curve")
        break_level = prior_variable("break_level", priors["break_level"], dims="curve")
        break_slope = prior_variable("break_slope", priors["break_slope"], dims="curve")
        cc = data.cell_curve
        x_break = log_n_break - np.log(data.n_ref)
        log_ce_cell = broken_log_cross_entropy(
            data.cell_x, a[cc], b[cc], x_break[cc], break_slope[cc], break_level[cc], width
        )
        _add_cells_and_likelihoods(
            data, log_ce_cell, priors, stage, floor=floor, centering=centering, lure=lure
        )
    start_uninformed_at_prior_draws(model, data)
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
            f"(curves {name_curves(affected)})",
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
            curve_labels=data.curve_labels,
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
                logit = pt.switch(
                    has_choices, grade_logit(per_token_ce, safe_k, noise), logit_all_right
                )
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
