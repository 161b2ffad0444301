"""The forward maps: latent per-token cross-entropy -> expected value of every metric.

This module is the only place where a metric's expected value (and its item-level spread) is
written as a function of the latent. The model graph (:mod:`emergestats.models.likelihoods`),
prediction (:mod:`emergestats.inference.predict`) and :mod:`emergestats.metrics` all call it.
Every function works on numpy arrays and on pytensor tensors alike (the backend is chosen from
the arguments, see :func:`emergestats.models.latent.backend_of`).

The latent of one (curve, model) cell
-------------------------------------
``CE`` is the cell's per-token cross-entropy averaged over items (nats): the loss a language
model reports, and the quantity Schaeffer et al.'s power law describes. Items differ: item ``i``
has ``CE_i = CE * exp(s z_i - s^2 / 2)`` with ``z_i ~ Normal(0, 1)`` and ``s`` the curve's
item-difficulty sd (``item_sd``), so ``log CE_i`` is normal with sd ``s`` and ``E[CE_i] = CE``
whatever ``s``. Parameterised by the mean, the log-likelihood of generated answers does not
depend on ``s`` at all; by the median item, ``s`` and ``CE`` formed a ridge that left chains of
a 3-curve fit in separate modes (R-hat 2.5). Every map below
is an expectation over that item distribution, computed by Gauss-Hermite quadrature with
:data:`QUADRATURE_NODES` nodes. Measured against 2e6 Monte Carlo items
(``tests/test_forward.py``): error <= 0.0011 for exact match up to ``s = 3``, ``L = 5``; the
step-like integrands of pass@k with large ``k`` are harder (0.005 at ``k = 100``,
``s = 1.5``). An item's per-token probability of the right token is ``p_i = exp(-CE_i)``.

Generated answers (an item of ``L`` tokens; ``L`` follows the row's length histogram)
-------------------------------------------------------------------------------------
- exact match: ``E[p_i ** L]`` (all ``L`` tokens right);
- pass@k: ``E[1 - (1 - p_i ** L) ** k]`` (``k`` independent samples; with items differing,
  pass@k follows a power law in ``k`` rather than jumping to 1);
- token edit distance: ``E[L (1 - p_i)]`` (substitutions, as
  :func:`emergestats.metrics.edit_distance`);
- log-likelihood of the target: ``-E[L CE_i] = -mean(L) CE``;
- greedy match (the target is the model's *greedy* continuation, lm-eval's ``is_greedy``
  accuracy of LAMBADA): the target's probability ``P_i = exp(-L CE_i)`` must beat the
  strongest rival continuation. That rival holds a share ``c`` (``rival_share``) of the mass
  not on the target, so the target wins when ``P_i >= c (1 - P_i)``, i.e. ``P_i >= t`` with
  ``t = c / (1 + c) <= 1/2`` (a target with half the mass always wins). Over the log-normal
  items this is exact: ``sum_l w_l Phi((log(-log t) - log(L_l CE) + s^2/2) / s)``. Exact
  match (above) is instead the probability that a *sampled* answer is right, ``E[P_i]``: the
  two differ most where many items sit just above ``t`` (Pythia 12B on LAMBADA: greedy
  accuracy 0.70, mean target probability about 0.41 under the item spread a joint fit
  of both metrics finds).

Choices (``K`` choices; one item = one question)
------------------------------------------------
The model knows the answer with "probability" ``p_i``: the correct choice's log-odds against
each ordinary distractor is ``m_i = log((1 + (K - 1) p_i) / (1 - p_i))`` (0 for a model that
knows nothing, growing without bound as it learns). One *plausible* distractor per item has the
extra log-odds ``lure (1 - p_i)`` (``lure >= 0``; it draws weak models to it and fades as the
model learns, Schaeffer et al. 2024). The correct choice gets the probability

``q_i = 1 / (1 + exp(-m_i) (K - 2 + exp(lure (1 - p_i))))``,

which is ``1/K + (1 - 1/K) p_i`` without a lure (a model that knows nothing is exactly at
chance) and ``1 / (K - 1 + exp(lure))`` *below* chance at ``p_i = 0`` with one.

Those are the choices' *mean* logits. A model's logits on one question carry noise besides
(its own confident guesses): each choice's logit gets Gumbel noise of scale ``tau``
(``choice_noise``). The argmax always reads it; the probabilities (Brier scores and the choice
log-likelihood) read it where the model's ``probability_noise`` option puts it in (``noise=``
of :func:`brier` and :func:`choice_log_likelihood`; ``None``: the noise-free ``q_i`` above,
which a well-calibrated classifier's probabilities follow, :mod:`emergestats.ladder`):

- grade (argmax): the correct choice wins with probability
  ``sigmoid(m_i / tau - log(K - 2 + exp(lure (1 - p_i) / tau)))`` (exact for Gumbel noise), so
  with ``lure > 0`` a weak model's grade is below chance too, and ``lure = 0`` gives exactly
  ``1/K`` at ``p = 0``. Accuracy of a choice task is the grade. Another decision rule over the
  same log-probabilities (lm-eval's ``acc_norm``: log-likelihood per byte) moves every item's
  logit by a shift of its own per curve (``rule_shift``), so the two grades of one model's
  outputs share its latent and differ by a constant on the logit scale.
- the realised probability of the correct choice ``q = sigmoid(eta)``, ``eta`` its log-odds
  against all other choices (the correct logit less the distractors' noisy log-sum-exp).
  ``eta`` is read as logistic: location ``m_i - T log(K - 2 + exp(lure (1 - p_i) / T))`` (the
  distractors' log-sum-exp as a Gumbel, ``T = sqrt(1 + c tau^2)`` between 1, no noise, and
  ``tau``, their maximum: :func:`rival_temperature`) and scale ``tau sqrt((1 + r^2) / 2)``
  (``r``: the log-sum-exp's sd against one Gumbel's, :func:`realised_spread`). Exact for two
  choices and without noise; against 2e5 Monte Carlo draws of the K Gumbel noises (K = 2 to
  12, p to 0.9, tau to 2.5, lure to 3; ``tests/test_forward.py``) the mean Brier is within
  0.010 and the mean log-probability within 0.083. The integral over ``eta`` is Gauss-Legendre
  in the logistic's probability after a sigmoidal change of variable (:func:`noise_quadrature`,
  :data:`NOISE_NODES` nodes). From ``q``:

  - log-likelihood of the correct choice (normalised over choices): ``E[log q]``;
  - Brier score, correct-choice form ``(1 - q)^2``; BIG-bench's mean over choices
    ``(1 - q)^2 (1 + h) / K``; the summed form ``(1 - q)^2 (1 + h)``. ``h`` is the
    Herfindahl index of the distractors' shares of ``1 - q``: ``1/(K - 1)`` when the wrong
    mass is spread evenly, 1 when it all sits on one plausible distractor; it is
    ``h = 1/(K-1) + (1 - 1/(K-1)) c`` with ``c`` in [0, 1] the *distractor concentration*.

  A model that knows nothing still grades at ``1/K`` and puts ``1/K`` on the correct choice
  on average, but its Brier score is ``(1 - 1/K)^2 + Var(q)``, worse than chance's, and its
  log-likelihood below ``-log K``: confident guessing (ExpEmergence's models under 1.5B, whose
  accuracy is at chance and whose Brier is not), which a noise-free ``q`` could only read as
  a lure and a wide item spread. Without the noise (``noise=None``) ``q = q_i`` and every
  probability metric is an expectation over the items alone.

Subset accuracy over ``L`` items (all right) is the unit accuracy to the power ``L``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import numpy as np
import pytensor.tensor as pt
from scipy import special

from emergestats.models.latent import P_MAX, P_MIN, backend_of

#: Gauss-Hermite nodes of the item-difficulty integral.
QUADRATURE_NODES: Final[int] = 32


@cache
def item_quadrature(nodes: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``z`` and weights (summing to 1) for ``E[f(z)]``, ``z ~ Normal(0, 1)``."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / w.sum()


def _expect(xp: Any, values: Any) -> Any:
    """Quadrature mean over the last axis (the item nodes)."""
    _, w = item_quadrature()
    return xp.sum(values * w, axis=-1)


def item_cross_entropy(ce: Any, item_sd: Any, nodes: int = QUADRATURE_NODES) -> Any:
    """Per-token CE of the items at the quadrature nodes: ``(..., rows, Q)``, mean ``ce``."""
    xp = backend_of(ce, item_sd)
    z, _ = item_quadrature(nodes)
    s = item_sd[..., None]
    return ce[..., None] * xp.exp(s * z - 0.5 * s**2)


def _clip(xp: Any, value: Any) -> Any:
    return xp.clip(value, P_MIN, P_MAX)


# --------------------------------------------------------------------------------------------
# Generated answers
# --------------------------------------------------------------------------------------------


def _all_tokens_right(xp: Any, item_ce: Any, length_values: Any, length_weights: Any) -> Any:
    """``sum_l w_l exp(-L_l CE_iz)``: (..., rows, Q)."""
    per_length = xp.exp(-length_values[..., :, None, :] * item_ce[..., None])
    return xp.sum(length_weights[..., :, None, :] * per_length, axis=-1)


def exact_match(ce: Any, item_sd: Any, length_values: Any, length_weights: Any) -> Any:
    """Expected exact-match rate of each row: ``E_i sum_l w_l p_i ** L_l``.

    ``ce``, ``item_sd``: ``(..., rows)``; ``length_values``, ``length_weights``: ``(rows,
    slots)`` histograms (padding slots have weight 0).
    """
    xp = backend_of(ce, item_sd, length_values, length_weights)
    right = _all_tokens_right(xp, item_cross_entropy(ce, item_sd), length_values, length_weights)
    return _expect(xp, right)


def pass_at_k(ce: Any, item_sd: Any, length_values: Any, length_weights: Any, k: Any) -> Any:
    """Expected pass@k: ``E_i sum_l w_l (1 - (1 - p_i ** L_l) ** k)``."""
    xp = backend_of(ce, item_sd, length_values, length_weights, k)
    item_ce = item_cross_entropy(ce, item_sd)
    right = _clip(xp, xp.exp(-length_values[..., :, None, :] * item_ce[..., None]))
    k_ = k[..., :, None, None]
    solved = -xp.expm1(k_ * xp.log1p(-right))
    return _expect(xp, xp.sum(length_weights[..., :, None, :] * solved, axis=-1))


def _normal_cdf(xp: Any, value: Any) -> Any:
    if xp is pt:
        return 0.5 * pt.erfc(-value / np.sqrt(2.0))
    return special.ndtr(value)


#: Smallest item sd in :func:`greedy_match` (its map is a step in ``log CE`` at ``s = 0``).
GREEDY_MIN_ITEM_SD: Final[float] = 1e-3


def greedy_threshold(rival_share: Any) -> Any:
    """``t = c / (1 + c)``: the target probability that beats a rival holding ``c`` of the rest."""
    return rival_share / (1.0 + rival_share)


def greedy_match(
    ce: Any, item_sd: Any, length_values: Any, length_weights: Any, rival_share: Any
) -> Any:
    """Expected greedy-match rate: ``E_i sum_l w_l [exp(-L_l CE_i) >= t]`` (module docstring).

    ``rival_share`` (``c``, scalar or broadcasting against ``ce``) sets ``t = c / (1 + c)``.
    """
    xp = backend_of(ce, item_sd, length_values, length_weights, rival_share)
    s = xp.maximum(item_sd, GREEDY_MIN_ITEM_SD)
    log_budget = xp.log(-xp.log(greedy_threshold(rival_share)))  # log of the CE that still wins
    gap = log_budget - xp.log(ce) + 0.5 * s**2
    z = (gap[..., None] - xp.log(length_values)) / s[..., None]
    return xp.sum(length_weights * _normal_cdf(xp, z), axis=-1)


def _length_moments(xp: Any, length_values: Any, length_weights: Any) -> tuple[Any, Any]:
    mean = xp.sum(length_values * length_weights, axis=-1)
    second = xp.sum(length_values**2 * length_weights, axis=-1)
    return mean, second


def edit_distance(
    ce: Any, item_sd: Any, length_values: Any, length_weights: Any
) -> tuple[Any, Any]:
    """Expected token edit distance ``E[L (1 - p_i)]`` and its item-level sd.

    The sd counts the three sources of item spread: answer length, item difficulty and the
    binomial number of wrong tokens of one item.
    """
    xp = backend_of(ce, item_sd, length_values, length_weights)
    wrong = -xp.expm1(-item_cross_entropy(ce, item_sd))
    mean_wrong = _expect(xp, wrong)
    second_wrong = _expect(xp, wrong**2)
    mean_l, second_l = _length_moments(xp, length_values, length_weights)
    mean = mean_l * mean_wrong
    binomial = mean_l * (mean_wrong - second_wrong)
    variance = second_l * second_wrong - mean**2 + binomial
    return mean, xp.sqrt(xp.maximum(variance, 0.0))


def log_likelihood(
    ce: Any, item_sd: Any, tokens_per_item: Any, second_tokens_per_item: Any
) -> tuple[Any, Any]:
    """Expected log-likelihood of the target ``-E[L CE_i]`` and its item-level sd.

    ``tokens_per_item`` is the mean number of tokens the log-likelihood sums over (the mean
    answer length, or tokens per word/char for normalised forms), ``second_tokens_per_item`` its
    second moment. Closed form: ``E[CE_i] = CE``, ``E[CE_i^2] = CE^2 exp(s^2)``.
    """
    xp = backend_of(ce, item_sd, tokens_per_item, second_tokens_per_item)
    mean = -tokens_per_item * ce
    variance = ce**2 * (second_tokens_per_item * xp.exp(item_sd**2) - tokens_per_item**2)
    return mean, xp.sqrt(xp.maximum(variance, 0.0))


# --------------------------------------------------------------------------------------------
# Choices
# --------------------------------------------------------------------------------------------


def _log_odds_against_distractor(xp: Any, item_ce: Any, n_choices: Any) -> Any:
    """``m = log1p((K - 1) p) - log(1 - p)``, accurate near ``p = 1``."""
    p = xp.exp(-item_ce)
    return xp.log1p((n_choices - 1.0) * p) - xp.log(xp.maximum(-xp.expm1(-item_ce), P_MIN))


def _log_rivals(xp: Any, item_ce: Any, n_choices: Any, lure: Any, noise: Any = 1.0) -> Any:
    """``log(K - 2 + exp(lure (1 - p) / tau))``: the distractors' weight against the answer."""
    pull = lure * -xp.expm1(-item_ce) / noise
    return xp.log(n_choices - 2.0 + xp.exp(pull))


def choice_probability(item_ce: Any, n_choices: Any, lure: Any = 0.0) -> Any:
    """Probability ``q`` on the correct choice of noise-free logits (module docstring).

    Without a lure, ``q = 1/K + (1 - 1/K) exp(-CE)``. Any shapes.
    """
    xp = backend_of(item_ce, n_choices, lure)
    margin = _log_odds_against_distractor(xp, item_ce, n_choices)
    return _sigmoid(xp, margin - _log_rivals(xp, item_ce, n_choices, lure))


#: Nodes of the logit-noise integral of the Brier and choice log-likelihood maps, and of their
#: item integral: the double integral costs their product per row, so both are fewer than the
#: item integral's elsewhere. The noise integral is Gauss-Legendre in the standard logistic's
#: probability ``u`` after Sidi's sigmoidal change of variable ``u = t^2 (3 - 2t)``
#: (:func:`noise_quadrature`). Against 96 x 300 plain Gauss-Legendre nodes over 400 random
#: rows (K = 2 to 10, CE 0.005 to 20, item sd to 2.5, noise 0.1 to 2.5, lure to 3 on a third):
#: mean Brier within 0.0024 and its item sd within 0.0083, mean log-probability within 0.012 and
#: its item sd within 0.029. Plain Gauss-Legendre with 12 x 20 nodes, the rule before, was
#: within 0.0015, 0.017, 0.013 and 0.100 at 1.9 times the nodes (the log-probability's logistic
#: tails are a log singularity at ``u = 0`` and 1, which the change of variable smooths):
#: the gradient of a five-curve choice fit (400 items, 8 sizes) took 321 instead of 455 us.
NOISE_NODES: Final[int] = 8
CHOICE_ITEM_NODES: Final[int] = 16


@cache
def noise_quadrature(nodes: int = NOISE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``xi`` and weights (summing to 1) for ``E[f(xi)]``, ``xi`` standard logistic.

    ``E[f(xi)]`` is the integral of ``f(logit(u))`` over ``u`` in (0, 1). Where ``f`` grows
    linearly in the logistic's tails (``log q``), that integrand has log singularities at both
    ends, on which Gauss-Legendre converges slowly; with ``u = t^2 (3 - 2t)`` (Sidi's
    sigmoidal transformation, ``du = 6 t (1 - t) dt``) the integrand in ``t`` vanishes at the
    ends and Gauss-Legendre in ``t`` converges fast.
    """
    t, w = np.polynomial.legendre.leggauss(nodes)
    t = 0.5 * (t + 1.0)
    u = t * t * (3.0 - 2.0 * t)
    weights = w * 6.0 * t * (1.0 - t)
    return np.log(u) - np.log1p(-u), weights / weights.sum()


def rival_temperature(n_choices: Any, noise: Any) -> Any:
    """``T`` of the distractors' noisy log-sum-exp read as a Gumbel of scale ``tau``.

    ``T = sqrt(1 + c tau^2)``: 1 without noise (the log-sum-exp of the distractors' logits),
    ``tau`` as the noise grows (their maximum). ``c`` goes from the small-noise expansion
    ``c0 = (1 - 1/n) pi^2 / (6 log n)`` (``n = K - 1`` distractors; ``pi^2 / 6`` at ``n = 1``)
    towards 1 by the weight ``tau / (1/2 + tau)`` (module docstring).
    """
    xp = backend_of(n_choices, noise)
    n = n_choices - 1.0
    near_one = xp.abs(n - 1.0) < 1e-6
    safe_n = xp.maximum(n, 1.0 + 1e-6)
    ratio = xp.where(near_one, 1.0, (1.0 - 1.0 / safe_n) / xp.log(safe_n))
    c0 = ratio * np.pi**2 / 6.0
    c = c0 + (1.0 - c0) * noise / (0.5 + noise)
    return xp.sqrt(1.0 + c * noise**2)


def realised_spread(n_choices: Any, noise: Any) -> Any:
    """Scale of the realised log-odds' noise in units of ``tau``: ``sqrt((1 + r^2) / 2)``.

    The correct choice's Gumbel noise has the sd ``tau pi / sqrt(6)``; the distractors'
    log-sum-exp ``r`` times that, with ``r^2 = 1/n + (1 - 1/n) tau^2 / (0.8 + tau^2)``: the
    mean of ``n`` noises for small ``tau``, their maximum (one Gumbel) for large. Exact (1) for
    two choices.
    """
    xp = backend_of(n_choices, noise)
    inverse_n = 1.0 / xp.maximum(n_choices - 1.0, 1.0)
    r2 = inverse_n + (1.0 - inverse_n) * noise**2 / (0.8 + noise**2)
    return xp.sqrt(0.5 * (1.0 + r2))


def noisy_choice_logit(item_ce: Any, n_choices: Any, noise: Any, lure: Any = 0.0) -> Any:
    """Location of the correct choice's realised log-odds against all others (any shapes).

    ``m - T log(K - 2 + exp(lure (1 - p) / T))`` with ``T`` = :func:`rival_temperature`; the
    realised log-odds is this plus ``tau xi`` (``xi`` standard logistic). Without noise it is
    the ``logit(q)`` of :func:`choice_probability`.
    """
    xp = backend_of(item_ce, n_choices, noise, lure)
    margin = _log_odds_against_distractor(xp, item_ce, n_choices)
    temperature = rival_temperature(n_choices, noise)
    return margin - temperature * _log_rivals(xp, item_ce, n_choices, lure, temperature)


def _noisy_choice_logits(ce: Any, item_sd: Any, n_choices: Any, noise: Any, lure: Any = 0.0) -> Any:
    """The correct choice's realised log-odds at the item and noise nodes: ``(..., rows, Q, R)``."""
    xp = backend_of(ce, item_sd, n_choices, noise, lure)
    noise_ = _expand(xp, noise)
    location = noisy_choice_logit(
        item_cross_entropy(ce, item_sd, CHOICE_ITEM_NODES),
        n_choices[..., None],
        noise_,
        _expand(xp, lure),
    )
    xi, _ = noise_quadrature()
    scale = noise_ * realised_spread(n_choices[..., None], noise_)
    return location[..., None] + scale[..., None] * xi


def _expect_items_and_noise(xp: Any, values: Any) -> Any:
    """Quadrature mean over the last two axes (item nodes, noise nodes)."""
    _, w_items = item_quadrature(CHOICE_ITEM_NODES)
    _, w_noise = noise_quadrature()
    return xp.sum(values * (w_items[:, None] * w_noise[None, :]), axis=(-2, -1))


def grade_logit(item_ce: Any, n_choices: Any, noise: Any, lure: Any = 0.0) -> Any:
    """Logit of the correct choice winning the argmax, per item (any matching shapes).

    ``m / tau - log(K - 2 + exp(lure (1 - p) / tau))`` with ``m = log1p((K - 1) p) - log(1 -
    p)`` the correct choice's log-odds against an ordinary distractor (accurate near ``p = 1``).
    """
    xp = backend_of(item_ce, n_choices, noise, lure)
    margin = _log_odds_against_distractor(xp, item_ce, n_choices)
    return margin / noise - _log_rivals(xp, item_ce, n_choices, lure, noise)


def _sigmoid(xp: Any, value: Any) -> Any:
    return pt.sigmoid(value) if xp is pt else 0.5 * (1.0 + np.tanh(0.5 * value))


def grade(
    ce: Any, item_sd: Any, n_choices: Any, noise: Any, lure: Any = 0.0, shift: Any = 0.0
) -> Any:
    """Expected multiple-choice grade (argmax correct) of each row (see the module docstring).

    ``shift`` (per row or scalar) is added to every item's logit: another decision rule over
    the same log-probabilities (e.g. lm-eval's per-byte ``acc_norm``), 0 for the plain argmax.
    """
    xp = backend_of(ce, item_sd, n_choices, noise, lure, shift)
    logit = grade_logit(
        item_cross_entropy(ce, item_sd),
        n_choices[..., None],
        _expand(xp, noise),
        _expand(xp, lure),
    )
    return _expect(xp, _sigmoid(xp, logit + _expand(xp, shift)))


def _expand(xp: Any, value: Any) -> Any:
    """A per-row (or scalar) parameter as ``(..., rows, 1)`` against the node axis."""
    if xp is pt:
        value = pt.as_tensor_variable(value)
        return value[..., None] if value.ndim else value
    value = np.asarray(value, dtype=float)
    return value[..., None] if value.ndim else value


def distractor_herfindahl(n_choices: Any, concentration: Any) -> Any:
    """``h = 1/(K-1) + (1 - 1/(K-1)) c``: the distractors' sum of squared shares."""
    even = 1.0 / (n_choices - 1.0)
    return even + (1.0 - even) * concentration


def _item_choice_probability(ce: Any, item_sd: Any, n_choices: Any, lure: Any = 0.0) -> Any:
    """The noise-free ``q`` of the items at the quadrature nodes: ``(..., rows, Q)``."""
    xp = backend_of(ce, item_sd, n_choices, lure)
    return choice_probability(
        item_cross_entropy(ce, item_sd), n_choices[..., None], _expand(xp, lure)
    )


def brier(
    ce: Any,
    item_sd: Any,
    n_choices: Any,
    form: Any,
    concentration: Any = 0.0,
    lure: Any = 0.0,
    noise: Any = None,
) -> tuple[Any, Any]:
    """Expected Brier score of each row and its item-level sd.

    ``form`` is a per-row integer array indexing :data:`BRIER_FORMS` (0 mean over choices, 1
    summed, 2 correct choice only); ``noise`` is the logit noise ``tau`` the probabilities
    carry (``choice_noise``, the models' ``probability_noise`` option), ``None`` for the
    noise-free ``q``.
    """
    xp = backend_of(ce, item_sd, n_choices, concentration, lure)
    if noise is None:
        miss = (1.0 - _item_choice_probability(ce, item_sd, n_choices, lure)) ** 2
        mean_miss = _expect(xp, miss)
        variance = _expect(xp, miss**2) - mean_miss**2
    else:
        logits = _noisy_choice_logits(ce, item_sd, n_choices, noise, lure)
        miss = _sigmoid(xp, -logits) ** 2
        mean_miss = _expect_items_and_noise(xp, miss)
        variance = _expect_items_and_noise(xp, miss**2) - mean_miss**2
    h = distractor_herfindahl(n_choices, concentration)
    form = np.asarray(form)
    factor = xp.where(form == 0, (1.0 + h) / n_choices, xp.where(form == 1, 1.0 + h, 1.0))
    return factor * mean_miss, factor * xp.sqrt(xp.maximum(variance, 0.0))


def _log_sigmoid(xp: Any, value: Any) -> Any:
    return -pt.softplus(-value) if xp is pt else -np.logaddexp(0.0, -value)


def choice_log_likelihood(
    ce: Any, item_sd: Any, n_choices: Any, lure: Any = 0.0, noise: Any = None
) -> tuple[Any, Any]:
    """Expected log-probability of the correct choice ``E[log q_i]`` and its item-level sd.

    ``noise`` as in :func:`brier` (``None``: the noise-free ``q``).
    """
    xp = backend_of(ce, item_sd, n_choices, lure)
    if noise is None:
        log_q = xp.log(_item_choice_probability(ce, item_sd, n_choices, lure))
        mean = _expect(xp, log_q)
        variance = _expect(xp, log_q**2) - mean**2
    else:
        log_q = _log_sigmoid(xp, _noisy_choice_logits(ce, item_sd, n_choices, noise, lure))
        mean = _expect_items_and_noise(xp, log_q)
        variance = _expect_items_and_noise(xp, log_q**2) - mean**2
    return mean, xp.sqrt(xp.maximum(variance, 0.0))


def subset_accuracy(unit_accuracy: Any, subset_size: Any) -> Any:
    """All ``L`` independent items of a subset right: ``unit_accuracy ** L``."""
    xp = backend_of(unit_accuracy, subset_size)
    return xp.exp(subset_size * xp.log(xp.maximum(unit_accuracy, P_MIN)))
