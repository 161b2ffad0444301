"""Observed variables: every modelled row of a table scored from the latent of its cell.

The expected value of each row comes from :mod:`emergestats.models.forward` (the only forward
maps), with the row's own items, lengths, choices, ``k`` and unit; this module adds the sampling
model of the observed score and the few parameters the maps need. For each role ``r`` present
(:data:`emergestats.models.prepare.ROLES`) the model gets the deterministic ``mu_<r>`` (the
noise-free expected score) and the observed ``obs_<r>``, both with dims ``<r>_obs`` whose
coordinate values are the table rows they cover.

Sampling models
---------------
Count roles (exact match, pass@k, grade, subset accuracy)
    ``round(score * n)`` is binomial with the expected rate. Items differ, but that is already
    inside the rate (the forward maps integrate over item difficulty); what is left above the
    binomial is the model's own deviation on this curve, which all metrics of the same outputs
    share (the cell deviation of :mod:`emergestats.models.builders`). So the spread of a
    540-item accuracy shrinks with ``n`` as a proportion should, instead of a fixed
    beta-binomial overdispersion that made every proportion's sd about 0.09 whatever ``n`` was.
Continuous roles (log-likelihood, Brier, edit distance)
    Normal around the expected value with sd = the reported standard error (``score_stderr``)
    where the source gives one, else the map's item-level sd over ``sqrt(n)``: the spread of the
    items' log-probabilities (or Brier scores, or edit distances) implied by the item-difficulty
    distribution at this scale. The log-likelihood's item spread so changes with scale (the
    ladder's item CV of ``-log q`` goes 0.31 -> 1.33 -> 2.31) instead of one pooled CV. A floor
    of ``1e-4 + 1e-3 |mean|`` keeps it positive where every item is right.

Parameters created here (only where a role needs them)
------------------------------------------------------
``choice_noise`` (Gumbel scale of the argmax's logit noise, which the Brier and choice
log-likelihood maps read too where :attr:`ObservationData.probability_noise` is set),
``lure`` (with ``lure=True``), ``rule_shift`` (dims ``decision_rule``: the grade logit's shift
under another decision rule of the same outputs, per labelled (curve, rule),
:attr:`ObservationData.decision_rule`), ``rival_share`` (greedy match: the strongest rival
continuation's share of the mass not on the target),
``distractor_concentration`` (mean and summed Brier forms), ``tokens_per_unit`` (dims
``unit``: tokens per word / per character for log-likelihoods and edit distances in those
units; free ``tokens_per_unit_z``, made before the curves by :func:`add_unit_conversions`).
Every probability entering a likelihood is clipped to ``[1e-12, 1 - 1e-12]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from emergestats.data.table import BRIER_FORMS
from emergestats.errors import ConfigError
from emergestats.models import forward
from emergestats.models.latent import P_MAX, P_MIN
from emergestats.models.prepare import COUNT_ROLES, UNIT_KINDS, ObservationData
from emergestats.models.priors import PriorSpec, prior_variable

#: Units other than tokens, and the prior key of their tokens-per-unit ratio.
UNIT_PRIORS = {"word": "tokens_per_word", "char": "tokens_per_char"}
#: Roles whose rows may be in words or characters: their scores need ``tokens_per_unit``
#: (the kinds that read a ``unit``, whose rows keep their kind as their role).
UNIT_ROLES = UNIT_KINDS


def units_present(data: ObservationData) -> list[str]:
    """Non-token units of modelled log-likelihood, edit-distance and greedy-match rows."""
    rows = np.flatnonzero(data.modelled & np.isin(data.role, UNIT_ROLES))
    present = {str(u) for u in data.unit[rows]}
    return [u for u in UNIT_PRIORS if u in present]


#: Roles whose expectation reads the choices' probabilities (with ``probability_noise``, their
#: logit noise).
PROBABILITY_ROLES: Final[tuple[str, ...]] = ("brier", "choice_log_likelihood")


def needs_choice_noise(data: ObservationData) -> bool:
    """Whether any modelled row reads the choices' logit noise.

    Grades and subset accuracies of choices (the argmax) always; where the data's
    ``probability_noise`` is set, the Brier scores and correct-choice log-likelihoods too.
    """
    subset = data.rows_of("subset")
    if len(data.rows_of("grade")) > 0 or bool(np.isfinite(data.n_choices[subset]).any()):
        return True
    return data.probability_noise and any(len(data.rows_of(r)) for r in PROBABILITY_ROLES)


def needs_lure(data: ObservationData) -> bool:
    """Whether any modelled row depends on the correct choice's probability (choice rows)."""
    rows = np.flatnonzero(data.modelled & np.isin(data.role, ("grade", *PROBABILITY_ROLES)))
    subset = data.rows_of("subset")
    return len(rows) > 0 or bool(np.isfinite(data.n_choices[subset]).any())


def _choice_rows_past_chance(data: ObservationData, z: float) -> dict[str, np.ndarray]:
    """Per criterion, the modelled choice rows past chance by more than ``z`` standard errors.

    ``grade``: below ``1/K`` (binomial standard error at chance); ``log_likelihood``: a
    correct-choice log-likelihood below ``-log K``; ``brier``: a correct-choice Brier score
    above ``(1 - 1/K)^2``; ``brier_beyond_guessing``: above ``1 - 1/K``. The reported standard
    error is used where there is one (else none: any value past the bound counts). The mean and
    summed Brier forms are not used: a concentrated wrong mass raises them without either.
    """
    k = data.n_choices
    stderr = np.nan_to_num(data.stderr, nan=0.0)
    usable = data.modelled & np.isfinite(k)
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = 1.0 / k
        grade_se = np.sqrt(chance * (1.0 - chance) / np.maximum(data.n_items, 1.0))
        correct_brier = (data.role == "brier") & (
            data.brier_form == BRIER_FORMS.index("correct_choice")
        )
        return {
            "grade": usable & (data.role == "grade") & (data.score < chance - z * grade_se),
            "log_likelihood": usable
            & (data.role == "choice_log_likelihood")
            & (data.score < -np.log(k) - z * stderr),
            "brier": usable & correct_brier & (data.score > (1.0 - chance) ** 2 + z * stderr),
            "brier_beyond_guessing": usable
            & correct_brier
            & (data.score > 1.0 - chance + z * stderr),
        }


def shows_confident_guessing(data: ObservationData, *, z: float = 2.0) -> bool:
    """Whether some probability on the choices is worse than chance's by more than ``z`` SEs.

    A correct-choice log-likelihood below ``-log K`` or a correct-choice Brier score above
    ``(1 - 1/K)^2``. Noise-free probabilities can be that bad only through a lure pulling the
    mean probability below ``1/K``; a model whose logits carry noise reaches them while it
    still grades at chance and puts ``1/K`` on the right choice on average
    (:mod:`emergestats.models.forward`). This is the rule of ``probability_noise="auto"``: the
    probabilities carry the argmax's noise only where the data show worse-than-chance
    probabilities; a calibrated classifier's do not (the ladders').
    """
    past = _choice_rows_past_chance(data, z)
    return bool(past["log_likelihood"].any() or past["brier"].any())


def shows_below_chance(
    data: ObservationData, *, z: float = 2.0, probability_noise: bool = False
) -> bool:
    """Whether some modelled choice row is worse than chance by more than ``z`` standard errors.

    Grades (binomial standard error at chance) always. Without ``probability_noise``, also
    correct-choice log-likelihoods below ``-log K`` and correct-choice Brier scores above
    ``(1 - 1/K)^2``. With it, logit noise alone keeps the grade and the mean probability of
    the correct choice at ``1/K`` for a model that knows nothing while it raises its Brier
    score towards ``1 - 1/K`` (``E[(1 - q)^2] <= 1 - E[q]``) and lowers its log-likelihood
    without bound: there only a Brier score beyond ``1 - 1/K`` counts. This is the rule of
    ``lure="auto"``: the lure is in the model only where the data show what only a lure can
    produce.
    """
    past = _choice_rows_past_chance(data, z)
    if probability_noise:
        return bool(past["grade"].any() or past["brier_beyond_guessing"].any())
    return bool(past["grade"].any() or past["log_likelihood"].any() or past["brier"].any())


def resolve_probability_noise(option: bool | str, data: ObservationData) -> bool:
    """The ``probability_noise`` option as a flag (``"auto"``: :func:`shows_confident_guessing`)."""
    if option == "auto":
        return shows_confident_guessing(data)
    if isinstance(option, bool):
        return option
    raise ConfigError(f"probability_noise must be True, False or 'auto', not {option!r}")


def resolve_lure(
    option: bool | str, data: ObservationData, *, probability_noise: bool = False
) -> bool:
    """The ``lure`` option as a flag: ``"auto"`` is :func:`shows_below_chance` of the data."""
    if option == "auto":
        return shows_below_chance(data, probability_noise=probability_noise)
    if isinstance(option, bool):
        return option
    raise ConfigError(f"lure must be True, False or 'auto', not {option!r}")


def resolve_choice_options(
    probability_noise: bool | str, lure: bool | str, data: ObservationData
) -> tuple[bool, bool]:
    """``(probability_noise, lure)`` as flags; the lure's ``"auto"`` depends on the noise."""
    noisy = resolve_probability_noise(probability_noise, data)
    return noisy, resolve_lure(lure, data, probability_noise=noisy)


def needs_concentration(data: ObservationData) -> bool:
    """Whether any modelled Brier row depends on how distractor mass is spread."""
    rows = data.rows_of("brier")
    return bool(np.any(data.brier_form[rows] != BRIER_FORMS.index("correct_choice")))


def row_expectations(
    data: ObservationData,
    rows: np.ndarray,
    role: str,
    ce: Any,
    item_sd: Any,
    params: dict[str, Any],
) -> tuple[Any, Any]:
    """Expected score and item-level sd (``None`` for count roles) of ``rows`` of a role.

    ``ce`` and ``item_sd`` are per-row arrays for exactly these rows (numpy or pytensor, with
    any leading draw axes); ``params`` holds ``choice_noise``, ``lure``,
    ``distractor_concentration`` and ``tokens_per_unit`` (a dict unit -> value) as needed, and
    ``rule_shift`` (optional) over *all* rows of ``data`` (last axis), indexed here by ``rows``.
    Shared by the model graph and :mod:`emergestats.inference.predict`.
    """
    lv, lw = data.length_values[rows], data.length_weights[rows]
    k_choices = data.n_choices[rows]
    if role == "exact_match":
        return forward.exact_match(ce, item_sd, lv, lw), None
    if role == "greedy_match":
        # a word's (or character's) tokens: its CE is tokens_per_unit times the token CE
        tokens, _ = _tokens_per_item(data, rows, role, params)
        return forward.greedy_match(ce * tokens, item_sd, lv, lw, params["rival_share"]), None
    if role == "pass_at_k":
        return forward.pass_at_k(ce, item_sd, lv, lw, data.pass_k[rows]), None
    if role == "grade":
        # another decision rule's logit shift (``rule_shift`` per row; absent: none)
        shift = params.get("rule_shift")
        grade = forward.grade(
            ce,
            item_sd,
            k_choices,
            params["choice_noise"],
            params.get("lure", 0.0),
            0.0 if shift is None else shift[..., rows],
        )
        return grade, None
    if role == "subset":
        has_k = np.isfinite(k_choices)
        unit_generated = forward.exact_match(
            ce, item_sd, np.ones((len(rows), 1)), np.ones((len(rows), 1))
        )
        if has_k.any():
            unit_choice = forward.grade(
                ce,
                item_sd,
                np.where(has_k, k_choices, 2.0),
                params["choice_noise"],
                params.get("lure", 0.0),
            )
            if isinstance(unit_choice, pt.TensorVariable):
                unit = pt.switch(has_k, unit_choice, unit_generated)
            else:
                unit = np.where(has_k, unit_choice, unit_generated)
        else:
            unit = unit_generated
        return forward.subset_accuracy(unit, data.subset_size[rows]), None
    if role == "brier":
        return forward.brier(
            ce,
            item_sd,
            k_choices,
            data.brier_form[rows],
            params.get("distractor_concentration", 0.0),
            params.get("lure", 0.0),
            params["choice_noise"] if data.probability_noise else None,
        )
    if role == "choice_log_likelihood":
        return forward.choice_log_likelihood(
            ce,
            item_sd,
            k_choices,
            params.get("lure", 0.0),
            params["choice_noise"] if data.probability_noise else None,
        )
    tokens, second = _tokens_per_item(data, rows, role, params)
    if role == "log_likelihood":
        return forward.log_likelihood(ce, item_sd, tokens, second)
    if role == "edit_distance":
        mean, sd = forward.edit_distance(ce, item_sd, lv, lw)
        return mean / tokens, sd / tokens
    raise ValueError(f"unknown role {role!r}")


def _tokens_per_item(
    data: ObservationData, rows: np.ndarray, role: str, params: dict[str, Any]
) -> tuple[Any, Any]:
    """Tokens per scored unit: the length for token rows, a fitted ratio for word/char rows.

    For a log-likelihood it is what the score sums over (returns the first and second moment);
    for an edit distance or a greedy match it converts tokens into the row's unit (1 for token
    rows; second moment unused).
    """
    units = data.unit[rows]
    if role == "log_likelihood":
        first: Any = data.mean_lengths[rows]
        second: Any = data.second_lengths[rows]
    else:
        first = np.ones(len(rows))
        second = np.ones(len(rows))
    ratios = params.get("tokens_per_unit", {})
    for unit, ratio in ratios.items():
        mine = units == unit
        if not mine.any():
            continue
        if isinstance(ratio, pt.TensorVariable) or isinstance(first, pt.TensorVariable):
            first = pt.switch(mine, ratio, first)
            second = pt.switch(mine, ratio**2, second)
        else:
            ratio = np.asarray(ratio, dtype=float)
            first = np.where(mine, ratio, first)
            second = np.where(mine, ratio**2, second)
    return first, second


#: Largest item-level coefficient of variation the sd of an unreported log-likelihood may take.
#: The log-normal item model's CV, ``sqrt(exp(s^2) - 1)``, explodes with ``s`` (9 at ``s = 2.1``);
#: without a reported standard error such a CV made the log-likelihood rows uninformative and
#: opened a second posterior mode "large item spread, log-likelihood explained as noise" (R-hat
#: 2.5 on a 3-curve simulated fit). Real per-item CVs of ``-log p`` seen here: 0.3 to 2.3.
LOGLIK_CV_CAP = 2.5


def continuous_sd(data: ObservationData, rows: np.ndarray, mean: Any, item_sd: Any) -> Any:
    """Sd of an observed mean score: reported stderr, else item sd / sqrt(n), with a floor.

    For generated answers' log-likelihoods the map's item sd is capped at
    :data:`LOGLIK_CV_CAP` times the mean.
    """
    backend = (
        pt if isinstance(mean, pt.TensorVariable) or isinstance(item_sd, pt.TensorVariable) else np
    )
    reported = data.stderr[rows]
    generated_loglik = data.role[rows] == "log_likelihood"
    if generated_loglik.any():
        capped = backend.minimum(item_sd, LOGLIK_CV_CAP * backend.abs(mean))
        item_sd = backend.where(generated_loglik, capped, item_sd)
    from_map = item_sd / np.sqrt(data.n_items[rows])
    sd = backend.where(np.isfinite(reported), np.nan_to_num(reported, nan=1.0), from_map)
    return backend.sqrt(sd**2 + (1e-4 + 1e-3 * backend.abs(mean)) ** 2)


@dataclass(frozen=True)
class UnitConversions:
    """Fitted tokens per word or character, and the shear of the curve levels they call for.

    ``ratios`` maps a unit to its ``tokens_per_unit`` (pytensor). ``level_shift`` is
    ``(curve_unit, deviation)`` for
    :func:`~emergestats.models.builders.add_curve_population`: per curve the position of the
    unit of a curve whose every modelled row is a log-likelihood in that one unit (-1 for the
    others), and per unit the log ratio's deviation from its prior median (``None`` where no
    curve is such).
    """

    ratios: dict[str, Any] = field(default_factory=dict)
    level_shift: tuple[np.ndarray, Any] | None = None


def add_unit_conversions(
    data: ObservationData,
    priors: dict[str, PriorSpec],
    *,
    curve_index: np.ndarray | None = None,
    n_curves: int = 0,
) -> UnitConversions:
    """Create ``tokens_per_unit`` (dims ``unit``) for the units present, and the curves' shear.

    ``tokens_per_unit = exp(mu + sigma z)`` with ``z = tokens_per_unit_z ~ Normal(0, 1)``: the
    ``LogNormal(mu, sigma)`` prior of the ratio (keys ``tokens_per_word``, ``tokens_per_char``).
    A curve seen only through log-likelihoods (and greedy matches) per word pins the sum of its
    level ``a`` and ``log tokens_per_word`` (both see the per-word CE, whose log is their sum
    plus the slope term) and nothing else separates the two but their priors: sampled as they
    stand, the chains crawl along that ridge (Pythia LAMBADA's default fit: R-hat 1.010-1.014
    on ``a`` and the ratio at 4 x 1000 draws). Such a curve's level (or its family's mean) is
    sheared by ``sigma z`` (:func:`emergestats.models.builders.add_curve_population`), so the
    sampler moves the sum itself; the prior is unchanged. Call before the curve population; pass the
    result to :func:`add_metric_likelihoods`. Without ``curve_index`` (the row's curve) and
    ``n_curves`` only the ratios are made, no shear.
    """
    units = units_present(data)
    if not units:
        return UnitConversions()
    model = pm.modelcontext(None)
    model.add_coord("unit", units)
    mus = np.array([priors[UNIT_PRIORS[u]]["mu"] for u in units], dtype=float)
    sigmas = np.array([priors[UNIT_PRIORS[u]]["sigma"] for u in units], dtype=float)
    z = pm.Normal("tokens_per_unit_z", 0.0, 1.0, dims="unit")
    ratio = pm.Deterministic("tokens_per_unit", pt.exp(mus + sigmas * z), dims="unit")
    ratios = {u: ratio[i] for i, u in enumerate(units)}
    if curve_index is None or n_curves == 0:
        return UnitConversions(ratios=ratios)
    # the one unit of each curve seen only through rows in that unit (-1: none): its
    # log-likelihoods and greedy matches both see the ratio times the token CE
    modelled = np.flatnonzero(data.modelled)
    curves = curve_index[modelled]
    in_units = np.isin(data.role[modelled], ("log_likelihood", "greedy_match"))
    sole = np.full(n_curves, -1)
    for position, unit in enumerate(units):
        ratio_only = in_units & (data.unit[modelled] == unit)
        has = np.bincount(curves[ratio_only], minlength=n_curves) > 0
        other = np.bincount(curves[~ratio_only], minlength=n_curves) > 0
        sole[has & ~other] = position
    if not (sole >= 0).any():
        return UnitConversions(ratios=ratios)
    return UnitConversions(ratios=ratios, level_shift=(sole, sigmas * z))


def add_map_parameters(
    data: ObservationData,
    priors: dict[str, PriorSpec],
    *,
    lure: bool,
    conversions: UnitConversions | None = None,
) -> dict[str, Any]:
    """Create the parameters the forward maps of this data need, in the current model.

    The tokens-per-unit ratios are taken from ``conversions`` (made before the curves by
    :func:`add_unit_conversions`), or created here when it is not given.
    """
    params: dict[str, Any] = {}
    if needs_choice_noise(data):
        params["choice_noise"] = prior_variable("choice_noise", priors["choice_noise"])
    if lure and needs_lure(data):
        params["lure"] = prior_variable("lure", priors["lure"])
    shifted = np.flatnonzero(data.modelled & (data.decision_rule != ""))
    if len(shifted):
        rules, slot = np.unique(data.decision_rule[shifted].astype(str), return_inverse=True)
        pm.modelcontext(None).add_coord("decision_rule", list(rules))
        shift = prior_variable("rule_shift", priors["rule_shift"], dims="decision_rule")
        params["rule_shift"] = pt.set_subtensor(pt.zeros(len(data.score))[shifted], shift[slot])
    if len(data.rows_of("greedy_match")):
        params["rival_share"] = prior_variable("rival_share", priors["rival_share"])
    if needs_concentration(data):
        params["distractor_concentration"] = prior_variable(
            "distractor_concentration", priors["distractor_concentration"]
        )
    if conversions is None:
        conversions = add_unit_conversions(data, priors)
    if conversions.ratios:
        params["tokens_per_unit"] = conversions.ratios
    return params


def add_metric_likelihoods(
    ce: Any,
    item_sd: Any,
    data: ObservationData,
    priors: dict[str, PriorSpec],
    *,
    lure: bool = False,
    conversions: UnitConversions | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create ``mu_<role>`` and ``obs_<role>`` for every role with modelled rows.

    Parameters
    ----------
    ce, item_sd
        Per-row cell CE and item-difficulty sd (pytensor, dims ``obs``).
    data
        Per-row data (:func:`emergestats.models.prepare.prepare_evaluation`).
    priors
        Resolved priors.
    lure
        Add the ``lure`` parameter (below-chance grades).
    conversions
        The tokens-per-unit ratios, if already made (:func:`add_unit_conversions`).
    params
        The maps' parameters, if already made (:func:`add_map_parameters`); made here if not.

    Returns
    -------
    dict
        The observed variables, keyed by name.
    """
    model = pm.modelcontext(None)
    if params is None:
        params = add_map_parameters(data, priors, lure=lure, conversions=conversions)
    observed: dict[str, Any] = {}
    for role in data.roles_present():
        rows = data.rows_of(role)
        dim = f"{role}_obs"
        model.add_coord(dim, rows)
        mean, spread = row_expectations(data, rows, role, ce[rows], item_sd[rows], params)
        if role in COUNT_ROLES:
            rate = pm.Deterministic(f"mu_{role}", pt.clip(mean, P_MIN, P_MAX), dims=dim)
            n = np.rint(data.n_items[rows]).astype(np.int64)
            counts = np.clip(np.rint(data.score[rows] * n), 0, n).astype(np.int64)
            observed[f"obs_{role}"] = pm.Binomial(
                f"obs_{role}", n=n, p=rate, observed=counts, dims=dim
            )
        else:
            mu = pm.Deterministic(f"mu_{role}", mean, dims=dim)
            sd = continuous_sd(data, rows, mean, spread)
            observed[f"obs_{role}"] = pm.Normal(
                f"obs_{role}", mu=mu, sigma=sd, observed=data.score[rows], dims=dim
            )
            reported = np.isfinite(data.stderr[rows])
            if reported.any():
                observed.update(
                    _add_spread(role, rows[reported], spread[np.flatnonzero(reported)], data)
                )
    return observed


#: Tolerance (sd on the log scale) of the item-level spread implied by the maps against the
#: spread a reported standard error shows: the item distribution's shape is an approximation.
SPREAD_TOLERANCE = 0.25


def _add_spread(role: str, rows: np.ndarray, spread: Any, data: ObservationData) -> dict[str, Any]:
    """``obs_<role>_spread``: the items' sd shown by a reported stderr, against the map's.

    A reported standard error of a mean over ``n`` items is the items' sd over ``sqrt(n)``; that
    sd is evidence about the spread of item difficulty (which the forward maps of the
    discontinuous metrics need), so it enters as ``log(stderr sqrt(n)) ~ Normal(log sd_map,
    SPREAD_TOLERANCE + 1 / sqrt(2 n))``.
    """
    model = pm.modelcontext(None)
    dim = f"{role}_spread_obs"
    model.add_coord(dim, rows)
    n = data.n_items[rows]
    observed_sd = np.log(data.stderr[rows] * np.sqrt(n))
    name = f"obs_{role}_spread"
    return {
        name: pm.Normal(
            name,
            mu=pt.log(spread + 1e-9),
            sigma=SPREAD_TOLERANCE + 1.0 / np.sqrt(2.0 * n),
            observed=observed_sd,
            dims=dim,
        )
    }
