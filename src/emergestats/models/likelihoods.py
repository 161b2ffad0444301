"""Metric likelihoods from the latent per-token cross-entropy.

Every observed metric of a curve is a forward map of the curve's per-token cross-entropy ``CE``
(``p = exp(-CE)`` is the probability of one correct token) plus a sampling model that knows how
many items were scored. The forward maps here are written on ``CE`` rather than ``p``
(``p ** L = exp(-L CE)``), which keeps them accurate where ``p`` is within rounding of 0 or 1,
and work on numpy arrays and pytensor tensors alike. They agree with the ``p``-based maps of
:mod:`emergestats.metrics` (the tests check it); they exist separately because the models need
one padded *length histogram per observation* (a ``(rows, slots)`` matrix, vectorised over all
rows of a kind at once) where :mod:`emergestats.metrics` takes one 1-D length array per call.

Sampling models (``n`` = the row's ``n_items``; where unknown, :data:`FALLBACK_N_ITEMS`)
--------------------------------------------------------------------------------------
``exact_match``
    Item ``i`` with answer length ``L_i`` is right with probability ``p ** L_i``; the expected
    rate is the mean over the row's answer-length histogram, ``E = sum_k w_k exp(-L_k CE)``
    (the mean of powers, not the power of the mean length). The count ``round(score * n)`` is
    beta-binomial with mean ``E`` and concentration ``kappa`` (one per metric kind, pooled over
    all curves): items differ in difficulty and prompts add noise that the item count does not
    explain, so the observed fraction varies more than binomially. Rows whose metric is named
    ``subset_accuracy...`` (``target_tokens`` = the subset size ``L``) score ``L`` independent
    *items* together: their unit is the curve's accuracy, so a curve with a known number of
    choices uses the choice model's grade (below) to the power ``L`` (as
    :func:`emergestats.metrics.subset_accuracy`), and ``p ** L`` otherwise.
``pass_at_k``
    ``1 - (1 - p ** L) ** k`` averaged over the length histogram, beta-binomial as above; ``k``
    is read from the metric's name (``pass@10``, ``pass_at_10``), else 1 with a warning.
``accuracy``
    Rows with a known chance level (``chance`` in (0, 0.75]) go through the choice model below
    (it is a multiple-choice accuracy with ``K = 1 / chance`` choices, at chance for ``p -> 0``);
    rows without a chance level are one-token answers, right with probability ``p``.
    Beta-binomial as above.
``multiple_choice_grade`` and ``brier`` (one latent choice model)
    With ``K`` choices the model puts probability ``q = 1/K + (1 - 1/K) p`` on the correct
    choice and shares ``1 - q`` evenly over the distractors: at ``p -> 0`` it guesses, at
    ``p -> 1`` it is certain. The Brier score follows from those probabilities:
    ``(1 - q)^2 / (K - 1) = (K - 1)(1 - p)^2 / K^2`` in BIG-bench's per-choice-mean form, and ``K``
    times that when the metric's name contains ``sum``; it is smooth in ``p``. The grade is the
    argmax: item by item, each choice's logit ``log pi_c`` is perturbed by independent Gumbel
    noise of scale ``tau`` (``choice_noise``, pooled), and the item counts as right when the
    correct choice has the largest perturbed logit. That probability is closed-form,
    ``grade = sigmoid(m / tau - log(K - 1))`` with the margin
    ``m = log(q / ((1 - q) / (K - 1))) = log1p((K - 1) p) - log(1 - p)``: exactly ``1/K`` at
    ``p = 0``, 1 at ``p = 1``, and a step at ``p = 0`` as ``tau -> 0`` (the argmax's
    discontinuity; ``tau = 1`` gives ``grade = q``). Grade counts are beta-binomial; Brier rows
    are normal with sd ``brier_item_sd * (K if summed) / sqrt(n)`` (the noise-free probabilities
    give the Brier mean; item noise enters only the argmax). ``K = 1 / chance`` of the curve's
    grade or accuracy rows (not rounded, so a task mixing 3- and 4-choice items keeps its exact
    chance level); a Brier row of a curve without them reads its own ``chance`` as the Brier
    score at chance (``(K - 1)/K^2``, or ``(K - 1)/K`` when summed).
``log_likelihood``
    BIG-bench's ``log_likelihood`` is the mean over items of the summed log-probability of the
    target: expected ``-mean(L) * CE``. ``log_likelihood_per_word`` / ``_per_char`` divide each
    item's sum by its words or characters; a word (character) is treated as ``r`` tokens with
    ``r`` a per-series parameter (``tokens_per_word`` / ``tokens_per_char``), expected
    ``-r * CE``. The observation is normal with sd ``cv * |mean| / sqrt(n)``: the per-item
    spread of log-probabilities is proportional to their size (coefficient of variation ``cv``,
    prior ``loglik_item_cv``), so curves are weighted sensibly at every scale. By default
    (``loglik_noise="pooled"``) there is one ``cv`` per unit (token, word, char), pooled over
    all series; ``loglik_noise="series"`` gives every series (curve x metric) its own. Per-series
    scales couple each series' noise to its curve like a small funnel, and at 200 curves they
    made NUTS need trajectories twice as long for the same effective sample size.
``edit_distance``
    Expected token edit distance ``mean(L) * (1 - p)`` (substitutions only, as in
    :func:`emergestats.metrics.edit_distance`), normal with sd
    ``edit_distance_item_sd * mean(L) / sqrt(n)``.

Metric kinds ``bleu``, ``rouge`` and ``other`` have no forward map and are excluded with a
warning that counts their rows. Every probability entering a likelihood is clipped to
``[1e-12, 1 - 1e-12]`` so the pointwise log-likelihood is finite in every draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from emergestats.models.latent import P_MAX, P_MIN, backend_of
from emergestats.models.priors import PriorSpec, prior_variable

#: Items assumed where a row's ``n_items`` is unknown (a warning names the curves).
FALLBACK_N_ITEMS: Final[int] = 100

#: Metric kinds with a forward map, in the order their observed variables are created.
MODELLED_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "pass_at_k",
    "accuracy",
    "multiple_choice_grade",
    "brier",
    "log_likelihood",
    "edit_distance",
)
#: Kinds whose observation is a count out of ``n_items`` (beta-binomial).
COUNT_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "pass_at_k",
    "accuracy",
    "multiple_choice_grade",
)
#: Kinds that need the answer-length distribution.
LENGTH_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "pass_at_k",
    "log_likelihood",
    "edit_distance",
)
#: Kinds excluded from the likelihood (no forward map).
UNMODELLED_KINDS: Final[tuple[str, ...]] = ("bleu", "rouge", "other")

_PASS_AT_K = re.compile(r"pass(?:@|_at_|_)(\d+)", re.IGNORECASE)


def pass_k_of(metric: str) -> int | None:
    """``k`` of a pass@k metric name (``pass@10``, ``pass_at_10``), ``None`` if not given."""
    match = _PASS_AT_K.search(metric)
    return int(match.group(1)) if match else None


def log_likelihood_unit(metric: str) -> str:
    """``"word"``, ``"char"`` or ``"token"``: what one log-likelihood unit of a metric is."""
    lowered = metric.lower()
    if "per_word" in lowered:
        return "word"
    if "per_char" in lowered:
        return "char"
    return "token"


def is_summed_brier(metric: str) -> bool:
    """Whether a Brier metric is summed over choices (its name says ``sum``)."""
    return "sum" in metric.lower()


# --------------------------------------------------------------------------------------------
# Forward maps on CE (numpy or pytensor). ``length_values`` / ``length_weights`` are padded
# (rows, slots) matrices; padding slots have weight 0 (and any positive value).
# --------------------------------------------------------------------------------------------


def _clip(xp: Any, value: Any, low: float = P_MIN, high: float = P_MAX) -> Any:
    return xp.clip(value, low, high)


def exact_match_rate(ce: Any, length_values: Any, length_weights: Any) -> Any:
    """Expected exact-match rate ``sum_k w_k exp(-L_k CE)`` per row (CE shape ``(..., rows)``)."""
    xp = backend_of(ce, length_values, length_weights)
    per_length = xp.exp(-length_values * ce[..., None])
    return xp.sum(length_weights * per_length, axis=-1)


#: Largest integer answer length for which exact match is evaluated as a polynomial in ``p``.
_MAX_POLYNOMIAL_LENGTH: Final[int] = 64


def exact_match_polynomial(p: Any, length_values: np.ndarray, length_weights: np.ndarray) -> Any:
    """``sum_k w_k p ** L_k`` by Horner's rule, for integer lengths (pytensor or numpy).

    One exponential per row (``p = exp(-CE)``, computed by the caller) and one multiply-add
    per possible length, instead of one exponential per (row, length): the histogram becomes
    the coefficient matrix ``C[row, L - 1]`` of a polynomial in ``p``.
    """
    coefficients = polynomial_coefficients(length_values, length_weights)
    accumulated = coefficients[:, -1]
    for column in range(coefficients.shape[1] - 2, -1, -1):
        accumulated = coefficients[:, column] + p * accumulated
    return p * accumulated


def polynomial_coefficients(length_values: np.ndarray, length_weights: np.ndarray) -> np.ndarray:
    """``(rows, max L)`` matrix: the weight of each integer length ``L`` (column ``L - 1``)."""
    max_length = int(length_values[length_weights > 0].max())
    coefficients = np.zeros((length_values.shape[0], max_length))
    rows, slots = np.nonzero(length_weights > 0)
    np.add.at(
        coefficients,
        (rows, length_values[rows, slots].astype(np.int64) - 1),
        length_weights[rows, slots],
    )
    return coefficients


def integer_lengths(length_values: np.ndarray, length_weights: np.ndarray) -> bool:
    """Whether every used length is an integer in ``1.._MAX_POLYNOMIAL_LENGTH``."""
    used = length_values[length_weights > 0]
    return bool(
        used.size
        and np.all(used == np.round(used))
        and used.min() >= 1
        and used.max() <= _MAX_POLYNOMIAL_LENGTH
    )


def pass_at_k_rate(ce: Any, length_values: Any, length_weights: Any, k: Any) -> Any:
    """Expected pass@k ``sum_k w_k (1 - (1 - exp(-L CE))^k)`` per row."""
    xp = backend_of(ce, length_values, length_weights, k)
    right = _clip(xp, xp.exp(-length_values * ce[..., None]))
    k_column = np.asarray(k, dtype=float)[..., None] if xp is np else k[..., None]
    solved = -xp.expm1(k_column * xp.log1p(-right))
    return xp.sum(length_weights * solved, axis=-1)


def mean_length(length_values: Any, length_weights: Any) -> Any:
    """Mean answer length of each row's histogram."""
    xp = backend_of(length_values, length_weights)
    return xp.sum(length_values * length_weights, axis=-1)


def log_likelihood_mean(ce: Any, tokens_per_unit: Any) -> Any:
    """Expected log-likelihood ``-tokens_per_unit * CE`` (mean length for summed targets)."""
    return -tokens_per_unit * ce


def edit_distance_mean(ce: Any, mean_lengths: Any) -> Any:
    """Expected token edit distance ``mean(L) * (1 - exp(-CE))``."""
    xp = backend_of(ce, mean_lengths)
    return -mean_lengths * xp.expm1(-ce)


def choice_margin(ce: Any, n_choices: Any) -> Any:
    """Log-odds of the correct choice against one distractor, ``log1p((K-1)p) - log(1-p)``."""
    xp = backend_of(ce, n_choices)
    p = xp.exp(-ce)
    # 1 - p = -expm1(-CE) keeps precision where p is close to 1
    return xp.log1p((n_choices - 1.0) * p) - xp.log(xp.maximum(-xp.expm1(-ce), P_MIN))


def choice_probability(ce: Any, n_choices: Any) -> Any:
    """Probability the model puts on the correct choice, ``q = 1/K + (1 - 1/K) p``."""
    xp = backend_of(ce, n_choices)
    return 1.0 / n_choices + (1.0 - 1.0 / n_choices) * xp.exp(-ce)


def multiple_choice_grade_logit(ce: Any, n_choices: Any, noise: Any) -> Any:
    """Logit of the expected grade, ``m / tau - log(K - 1)`` (see the module docstring)."""
    xp = backend_of(ce, n_choices, noise)
    return choice_margin(ce, n_choices) / noise - xp.log(n_choices - 1.0)


def multiple_choice_grade_rate(ce: Any, n_choices: Any, noise: Any) -> Any:
    """Expected multiple-choice grade under Gumbel item noise of scale ``noise``."""
    xp = backend_of(ce, n_choices, noise)
    logit = multiple_choice_grade_logit(ce, n_choices, noise)
    if xp is pt:
        return pt.sigmoid(logit)
    return 0.5 * (1.0 + np.tanh(0.5 * logit))


def brier_score_mean(ce: Any, n_choices: Any, *, summed: Any = False) -> Any:
    """Expected Brier score: ``(K-1)(1-p)^2 / K^2``, times ``K`` where ``summed``."""
    xp = backend_of(ce, n_choices, summed)
    miss = -xp.expm1(-ce)
    mean_form = (n_choices - 1.0) * miss**2 / n_choices**2
    return xp.where(summed, mean_form * n_choices, mean_form)


# --------------------------------------------------------------------------------------------
# A fast beta-binomial
# --------------------------------------------------------------------------------------------

_HALF_LOG_TWO_PI: Final[float] = 0.91893853320467274


def _stirling(w: Any) -> Any:
    """Stirling's series for ``log Gamma(w)``, ``w >= 4``, to the ``w**-7`` term."""
    xp = backend_of(w)
    inv = 1.0 / w
    inv2 = inv * inv
    series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)))
    return (w - 0.5) * xp.log(w) - w + _HALF_LOG_TWO_PI + series


def _rising4(z: Any) -> Any:
    """``z (z+1) (z+2) (z+3)``: the shift that carries ``log Gamma(z)`` to ``z + 4``."""
    return z * (z + 1.0) * (z + 2.0) * (z + 3.0)


def log_gamma(z: Any) -> Any:
    """``log Gamma(z)`` for ``z > 0``: Stirling's series after a shift by 4 (rel. error < 2e-9).

    ``log Gamma(z) = log Gamma(z + 4) - log(z (z+1) (z+2) (z+3))``, with ``log Gamma(w)`` for
    ``w >= 4`` from Stirling's series to the ``w**-7`` term. Two logarithms and a few
    multiplications; the beta-binomial below also merges the shifts' logarithms of its four
    terms into one.
    """
    xp = backend_of(z)
    return _stirling(z + 4.0) - xp.log(_rising4(z))


def beta_binomial_logp(value: Any, n: Any, rate: Any, kappa: Any) -> Any:
    """Beta-binomial log-probability of ``value`` of ``n``, mean ``rate``, concentration ``kappa``.

    ``alpha = rate * kappa``, ``beta = (1 - rate) * kappa``. Written with :func:`log_gamma`;
    the binomial coefficient depends only on data (constant-folded when observed). Works on
    numpy arrays and pytensor tensors; ``kappa`` may be a scalar.
    """
    xp = backend_of(value, n, rate, kappa)
    gammaln = pt.gammaln if xp is pt else _scipy_gammaln
    alpha = rate * kappa
    beta = (1.0 - rate) * kappa
    log_choose = gammaln(n + 1.0) - gammaln(value + 1.0) - gammaln(n - value + 1.0)
    return (
        log_choose
        + log_gamma(value + alpha)
        + log_gamma(n - value + beta)
        - log_gamma(alpha)
        - log_gamma(beta)
        + log_gamma(kappa)
        - log_gamma(n + kappa)
    )


def _scipy_gammaln(z: Any) -> Any:
    from scipy.special import gammaln

    return gammaln(z)


def beta_binomial_random(
    n: Any,
    rate: Any,
    kappa: Any,
    rng: np.random.Generator | None = None,
    size: Any = None,
) -> np.ndarray:
    """Draw beta-binomial counts (numpy), used for posterior predictive sampling."""
    generator = rng if rng is not None else np.random.default_rng()
    rate = np.clip(rate, P_MIN, P_MAX)
    mixed = generator.beta(rate * kappa, (1.0 - rate) * kappa, size=size)
    return generator.binomial(np.asarray(n, dtype=np.int64), np.nan_to_num(mixed), size=size)


def beta_binomial(
    name: str, *, n: np.ndarray, rate: Any, kappa: Any, observed: Any, dims: str
) -> Any:
    """An observed beta-binomial variable with a fast log-probability.

    ``n`` is data, so ``log Gamma(n + kappa)`` is computed once per distinct ``n`` and gathered
    (``kappa`` is one scalar per metric kind): four ``log_gamma`` per row instead of six.
    """
    n = np.asarray(n, dtype=np.int64)
    distinct_n, n_position = np.unique(n, return_inverse=True)
    # pytensor turns a Python float into a float32 constant; log Gamma needs float64
    rate = pt.cast(pt.as_tensor_variable(rate), "float64")
    kappa = pt.cast(pt.as_tensor_variable(kappa), "float64")

    def logp(value: Any, n_: Any, rate_: Any, kappa_: Any) -> Any:
        alpha = rate_ * kappa_
        beta = (1.0 - rate_) * kappa_
        log_choose = pt.gammaln(n_ + 1.0) - pt.gammaln(value + 1.0) - pt.gammaln(n_ - value + 1.0)
        per_n = log_gamma(distinct_n.astype(float) + kappa_)[n_position]
        successes = value + alpha
        failures = n_ - value + beta
        # the four shifted log Gammas share one logarithm of the ratio of their shifts
        shifts = (_rising4(successes) * _rising4(failures)) / (_rising4(alpha) * _rising4(beta))
        return (
            log_choose
            + _stirling(successes + 4.0)
            + _stirling(failures + 4.0)
            - _stirling(alpha + 4.0)
            - _stirling(beta + 4.0)
            - pt.log(shifts)
            + log_gamma(kappa_)
            - per_n
        )

    def generative(n_: Any, rate_: Any, kappa_: Any, size: Any) -> Any:
        # symbolic forward model (no Python callback), so every backend can sample it
        mixed = pm.Beta.dist(rate_ * kappa_, (1.0 - rate_) * kappa_, size=size)
        return pm.Binomial.dist(n_, pt.clip(mixed, 0.0, 1.0), size=size)

    return pm.CustomDist(
        name,
        n,
        rate,
        kappa,
        dist=generative,
        logp=logp,
        dtype="int64",
        observed=observed,
        dims=dims,
    )


# --------------------------------------------------------------------------------------------
# Observation data and the observed variables
# --------------------------------------------------------------------------------------------


@dataclass
class ObservationData:
    """Per-row arrays the likelihoods need (built by :mod:`emergestats.models.builders`).

    All arrays run over the table rows (dim ``obs``); rows of a kind without a likelihood are
    kept (so ``obs`` is the table) and simply get no observed variable.
    """

    kind: np.ndarray
    metric: np.ndarray
    score: np.ndarray
    n_items: np.ndarray
    length_values: np.ndarray
    length_weights: np.ndarray
    n_choices: np.ndarray
    pass_k: np.ndarray
    unit: np.ndarray
    series_index: np.ndarray
    series_labels: list[str]
    modelled: np.ndarray
    fallback_n_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    loglik_noise: str = "pooled"
    subset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def rows_of(self, kind: str) -> np.ndarray:
        """Row positions of a modelled kind."""
        return np.flatnonzero((self.kind == kind) & self.modelled)

    @property
    def mean_lengths(self) -> np.ndarray:
        return mean_length(self.length_values, self.length_weights)


def count_kinds_present(data: ObservationData) -> list[str]:
    """Count kinds with at least one modelled row, in :data:`COUNT_KINDS` order."""
    return [k for k in COUNT_KINDS if len(data.rows_of(k)) > 0]


def loglik_series(data: ObservationData) -> tuple[np.ndarray, list[str]]:
    """Noise groups of the log-likelihood rows: index per log-likelihood row, and labels.

    With ``loglik_noise="pooled"`` one group per unit (``token``, ``word``, ``char``); with
    ``"series"`` one per series (curve x metric).
    """
    rows = data.rows_of("log_likelihood")
    if data.loglik_noise == "pooled":
        units = [str(u) for u in data.unit[rows]]
        labels: list[str] = [u for u in ("token", "word", "char") if u in units]
        return np.array([labels.index(u) for u in units], dtype=np.int64), labels
    series = data.series_index[rows]
    unique = np.unique(series)
    position = {s: i for i, s in enumerate(unique)}
    return np.array([position[s] for s in series], dtype=np.int64), [
        data.series_labels[s] for s in unique
    ]


def unit_series(data: ObservationData) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Per-word/per-char log-likelihood series: (rows among LL rows, index, labels, units)."""
    rows = data.rows_of("log_likelihood")
    in_units = np.flatnonzero(data.unit[rows] != "token")
    series = data.series_index[rows[in_units]]
    unique = np.unique(series)
    position = {s: i for i, s in enumerate(unique)}
    units = [str(data.unit[rows[in_units]][list(series).index(s)]) for s in unique]
    return (
        in_units,
        np.array([position[s] for s in series], dtype=np.int64),
        [data.series_labels[s] for s in unique],
        units,
    )


def choice_noise_needed(data: ObservationData) -> bool:
    """Whether any row goes through the argmax of the choice model."""
    grade_rows = data.rows_of("multiple_choice_grade")
    accuracy_rows = data.rows_of("accuracy")
    subset_rows = data.rows_of("exact_match")
    subset_rows = subset_rows[data.subset[subset_rows]] if data.subset.size else subset_rows[:0]
    return (
        len(grade_rows) > 0
        or bool(np.isfinite(data.n_choices[accuracy_rows]).any())
        or bool(np.isfinite(data.n_choices[subset_rows]).any())
    )


def rate_from_unit_probability(
    unit: Any, length_values: np.ndarray, length_weights: np.ndarray
) -> Any:
    """``sum_k w_k unit ** L_k``: all ``L`` independent units right (pytensor)."""
    if integer_lengths(length_values, length_weights):
        return exact_match_polynomial(unit, length_values, length_weights)
    log_unit = pt.log(pt.clip(unit, P_MIN, 1.0))
    return pt.sum(length_weights * pt.exp(length_values * log_unit[:, None]), axis=-1)


def add_metric_likelihoods(
    ce: Any, data: ObservationData, priors: dict[str, PriorSpec]
) -> dict[str, Any]:
    """Create the observed variable of every modelled metric kind in the current model.

    Parameters
    ----------
    ce
        Per-token cross-entropy of every table row (pytensor, dims ``obs``).
    data
        Per-row data from the builder.
    priors
        Resolved priors (:func:`emergestats.models.priors.resolve_priors`).

    Returns
    -------
    dict
        Observed variable of each kind, keyed ``obs_<kind>``. Each has its own dim
        ``<kind>_obs`` whose coordinate values are the table row positions it covers. Model-level
        parameters created here: ``concentration`` (dims ``count_kind``), ``choice_noise``,
        ``loglik_item_cv`` (dims ``loglik_group``), ``tokens_per_unit`` (dims
        ``unit_series``), ``brier_item_sd`` and ``edit_distance_item_sd``, each only where a
        kind that needs it is present.
    """
    model = pm.modelcontext(None)
    observed: dict[str, Any] = {}
    count_kinds = count_kinds_present(data)
    concentration = None
    if count_kinds:
        model.add_coord("count_kind", count_kinds)
        concentration = prior_variable("concentration", priors["concentration"], dims="count_kind")
    noise = (
        prior_variable("choice_noise", priors["choice_noise"])
        if choice_noise_needed(data)
        else None
    )

    for kind in MODELLED_KINDS:
        rows = data.rows_of(kind)
        if len(rows) == 0:
            continue
        name = f"obs_{kind}"
        dim = f"{kind}_obs"
        model.add_coord(dim, rows)
        ce_rows = ce[rows]
        n = data.n_items[rows]
        if kind in COUNT_KINDS:
            assert concentration is not None
            rate = _count_rate(kind, ce_rows, rows, data, noise)
            rate = pt.clip(rate, P_MIN, P_MAX)
            kappa = concentration[count_kinds.index(kind)]
            counts = np.rint(data.score[rows] * n).astype(np.int64)
            observed[name] = beta_binomial(
                name,
                n=n.astype(np.int64),
                rate=rate,
                kappa=kappa,
                observed=counts,
                dims=dim,
            )
        elif kind == "brier":
            k_choices = data.n_choices[rows]
            summed = np.array([is_summed_brier(str(m)) for m in data.metric[rows]])
            mean = brier_score_mean(ce_rows, k_choices, summed=summed)
            item_sd = prior_variable("brier_item_sd", priors["brier_item_sd"])
            sd = item_sd * np.where(summed, k_choices, 1.0) / np.sqrt(n)
            observed[name] = pm.Normal(name, mu=mean, sigma=sd, observed=data.score[rows], dims=dim)
        elif kind == "log_likelihood":
            tokens_per_unit = pt.as_tensor_variable(data.mean_lengths[rows])
            in_units, unit_index, unit_labels, units = unit_series(data)
            if unit_labels:
                model.add_coord("unit_series", unit_labels)
                mus = np.array([priors[f"tokens_per_{u}"]["mu"] for u in units], dtype=float)
                sigmas = np.array([priors[f"tokens_per_{u}"]["sigma"] for u in units], dtype=float)
                ratio = pm.LogNormal("tokens_per_unit", mu=mus, sigma=sigmas, dims="unit_series")
                tokens_per_unit = pt.set_subtensor(tokens_per_unit[in_units], ratio[unit_index])
            series_index, series_labels = loglik_series(data)
            model.add_coord("loglik_group", series_labels)
            cv = prior_variable("loglik_item_cv", priors["loglik_item_cv"], dims="loglik_group")
            mean = log_likelihood_mean(ce_rows, tokens_per_unit)
            # sd proportional to |mean|; the small constant keeps it positive at CE -> 0
            sd = cv[series_index] * (pt.abs(mean) + 1e-6) / np.sqrt(n)
            observed[name] = pm.Normal(name, mu=mean, sigma=sd, observed=data.score[rows], dims=dim)
        elif kind == "edit_distance":
            lengths = data.mean_lengths[rows]
            item_sd = prior_variable("edit_distance_item_sd", priors["edit_distance_item_sd"])
            mean = edit_distance_mean(ce_rows, lengths)
            observed[name] = pm.Normal(
                name,
                mu=mean,
                sigma=item_sd * lengths / np.sqrt(n),
                observed=data.score[rows],
                dims=dim,
            )
    return observed


def _count_rate(
    kind: str, ce_rows: Any, rows: np.ndarray, data: ObservationData, noise: Any
) -> Any:
    """Expected rate of a count kind for its rows."""
    if kind == "exact_match":
        values, weights = data.length_values[rows], data.length_weights[rows]
        k_choices = data.n_choices[rows]
        subset = data.subset[rows] if data.subset.size else np.zeros(len(rows), dtype=bool)
        by_choice = subset & np.isfinite(k_choices)
        if by_choice.any():
            # subset accuracy of a choice task: all L items right, each with the grade
            safe_k = np.where(by_choice, k_choices, 2.0)
            grade = multiple_choice_grade_rate(ce_rows, safe_k, noise)
            unit = pt.switch(by_choice, grade, pt.exp(-ce_rows))
            return rate_from_unit_probability(unit, values, weights)
        if integer_lengths(values, weights):
            return exact_match_polynomial(pt.exp(-ce_rows), values, weights)
        return exact_match_rate(ce_rows, values, weights)
    if kind == "pass_at_k":
        return pass_at_k_rate(
            ce_rows, data.length_values[rows], data.length_weights[rows], data.pass_k[rows]
        )
    k_choices = data.n_choices[rows]
    if kind == "multiple_choice_grade":
        return multiple_choice_grade_rate(ce_rows, k_choices, noise)
    # accuracy: the choice model where the chance level is known, one token otherwise
    has_choices = np.isfinite(k_choices)
    if not has_choices.any():
        return pt.exp(-ce_rows)
    safe_k = np.where(has_choices, k_choices, 2.0)
    grade = multiple_choice_grade_rate(ce_rows, safe_k, noise)
    return pt.switch(has_choices, grade, pt.exp(-ce_rows))
