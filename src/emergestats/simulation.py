"""Simulated benchmark results, output by output, for testing and calibrating the models.

The simulator does not share the models' assumptions. It simulates what a family of language
models *outputs* on each item of each task, scores those outputs the way benchmarks do, and
averages the per-item values into a canonical evaluation table
(:mod:`emergestats.data.table`). Every metric of a (task, model) cell is computed from the same
simulated outputs, so the metrics of one cell move together as real ones do. Only numpy and
pandas are used; nothing is imported from the models, the metric forward maps or inference.

Truth of the latent (:class:`CurveTruth`)
-----------------------------------------
Per-token cross-entropy of a task falls with parameter count ``N`` but is *not* the models' pure
power law: with ``x = log N - log n_ref``,

.. math:: \\mathrm{CE}(N) = E + \\exp(c_0 - \\alpha x + \\tfrac12 \\gamma x^2)

(an irreducible floor ``E`` and a little curvature ``gamma``). A *broken* truth multiplies that
CE by ``break_factor`` above ``N*`` through a logistic step in ``log N`` of width
``break_width`` e-folds (10% to 90% of the step takes ``4.4 break_width`` e-folds) and can also
steepen the slope by ``break_slope_change`` past ``N*`` (a smoothed hinge of the same width).
Because the truth is not log-linear, what a fitted slope should be compared with is the
best-fitting log-linear slope ``b`` of ``log CE`` on ``log N`` over the simulated sizes (and its
intercept ``a`` at ``n_ref``); both are recorded.

Items (:class:`ItemDifficulty`)
-------------------------------
Each task has a fixed set of items scored at every size. Item ``i`` has a persistent difficulty
multiplier ``d_i``: a gamma variate (skewed, coefficient of variation ``1 / sqrt(shape)``) times
``hard_multiplier`` for a few very hard items (probability ``hard_fraction``), rescaled so the
task's items average exactly 1. Generation items have answer lengths ``L_i = 1 +
NegativeBinomial`` with a task-specific mean, and each of an item's tokens has its own persistent
multiplier (gamma, rescaled to average 1 within the item). At a model of scale ``N`` item ``i``
has per-token CE ``CE(N) exp(delta) d_i w_i`` with ``delta`` the model's deviation (below)
and ``w_i`` a small per-(item, model) log-normal wobble of mean 1, so item ranks are
persistent but not frozen.

Model-level deviations
----------------------
Each model size has a deviation of its log CE shared by all tasks (``model_deviation_sd``), plus
a smaller per-(task, model) one (``cell_deviation_sd``). Every metric of a cell is computed from
the outputs of that one deviated model.

Outputs and per-item values
---------------------------
Generation
    Answers are sampled at temperature 1, token by token: token ``t`` is right with probability
    ``exp(-CE_t)``. The first sample is the scored answer: its *edit distance* is the number of
    wrong tokens (substitutions only) and it is an *exact match* when none is wrong. The
    *log-likelihood* is the summed log-probability of the target, ``-sum_t CE_t`` (nats). For
    pass@k, ``n_samples`` answers are drawn per item (the scored one first) and ``c`` of them are
    right; pass@k is Chen et al.'s (2021) unbiased estimator ``1 - C(n - c, k) / C(n, k)``.
Multiple choice (:class:`ChoiceStructure`)
    Each of the K choices gets a logit, the sum of: a persistent surface attractiveness (every
    choice, the correct one included); for the correct choice, ``sharpness * -log(1 - p_i)``
    with ``p_i = exp(-CE_i)`` (0 for a model that knows nothing, growing without bound as CE
    falls); for one *plausible* distractor per item, ``plausible_pull * (1 - p_i)``, which draws
    weak models to it (so grades dip below chance) and fades as the model learns; and fresh
    Gaussian noise per model. Softmax gives the
    choice probabilities ``pi``. The *grade* is whether the correct choice has the largest
    logit; the *log-likelihood* is ``log q`` with ``q`` the correct choice's probability
    (normalised over choices); the Brier scores are BIG-bench's ``mean_c (pi_c - y_c)^2``, the
    summed form (K times it) and the correct-choice form ``(1 - q)^2``; *subset accuracy* of
    size ``L`` takes disjoint groups of ``L`` consecutive items (item ``i`` is in group
    ``i // L``; the items past the last full group are left out) and scores a group right when
    all its items are.

Scores
------
Every score is the mean over items (or groups) of the per-item values:

========================= ===================== ==========================================
metric                    metric_kind           chance
========================= ===================== ==========================================
``exact_str_match``       exact_match           NaN
``edit_distance``         edit_distance         NaN (tokens per item)
``log_likelihood``        log_likelihood        NaN (nats per item, summed over tokens)
``pass@k``                pass_at_k             NaN
``greedy_match``          greedy_match          NaN (with ``greedy_rival``: every target token
                                                out-ranks its strongest rival)
``multiple_choice_grade`` multiple_choice_grade ``1 / K``
``brier_score``           brier                 ``(K - 1) / K^2`` (mean over choices)
``brier_score_sum``       brier                 ``(K - 1) / K`` (summed over choices)
``brier_correct_choice``  brier                 ``(1 - 1 / K)^2``
``log_likelihood``        log_likelihood        NaN (``log q`` of the correct choice)
``subset_accuracy_L<n>``  exact_match           ``1 / K^n`` (``target_tokens = n``,
                                                ``n_items`` = number of groups)
========================= ===================== ==========================================

``target_tokens`` is the task's mean answer length on generation rows and 1 on choice rows;
``n_choices`` is ``K`` on every row of a choice task and NaN on generation rows (it survives
:func:`~emergestats.data.table.validate` where the table schema lists it as optional).

References
----------
Schaeffer, Miranda & Koyejo (2023), "Are Emergent Abilities of Large Language Models a
Mirage?". Chen et al. (2021), "Evaluating Large Language Models Trained on Code" (pass@k).
Schaeffer et al. (2024), "Why has predicting downstream capabilities of frontier AI models with
scale remained elusive?" (mass on plausible distractors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from emergestats.data.table import EVALUATION_COLUMNS, validate

__all__ = [
    "ChoiceStructure",
    "CurveTruth",
    "ItemDifficulty",
    "ItemOutputs",
    "MetricSpec",
    "SimulatedBenchmark",
    "SimulatedCurve",
    "TruthPopulation",
    "choice_knowledge_ce",
    "draw_answer_lengths",
    "log_linear_fit",
    "model_names",
    "simulate_benchmark",
    "simulate_curve",
]

FAMILY: Final = "sim"
SHOTS: Final = 0
SOURCE: Final = "emergestats.simulation"
TASK_KINDS: Final[tuple[str, ...]] = ("generation", "choice")

TaskKind = Literal["generation", "choice"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Seed = int | np.random.Generator


# --------------------------------------------------------------------------------------------
# The truth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveTruth:
    """The true per-token cross-entropy of one task as a function of scale.

    Attributes
    ----------
    log_ce_ref
        ``c_0``: log of the reducible part of CE at ``n_ref`` (nats).
    slope
        ``alpha > 0``: how fast the reducible part falls per e-fold of ``N``.
    n_ref
        The scale ``log_ce_ref`` is defined at.
    floor
        ``E >= 0``: irreducible CE (nats per token).
    curvature
        ``gamma``: coefficient of ``x^2 / 2`` in the log of the reducible part.
    break_at
        ``N*``, the scale of a break; ``None`` for a smooth truth.
    break_factor
        What CE is multiplied by well above ``N*`` (0.5: CE halves).
    break_width
        Width of the transition in e-folds of ``N`` (0: a sharp step).
    break_slope_change
        Extra slope of ``log CE`` per e-fold well above ``N*`` (0: a change of level only).
    """

    log_ce_ref: float
    slope: float
    n_ref: float = 1e9
    floor: float = 0.0
    curvature: float = 0.0
    break_at: float | None = None
    break_factor: float = 1.0
    break_width: float = 0.25
    break_slope_change: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.n_ref) and self.n_ref > 0):
            raise ValueError(f"n_ref must be a positive scale, not {self.n_ref!r}")
        if not (np.isfinite(self.floor) and self.floor >= 0):
            raise ValueError(f"floor must be a finite CE >= 0 (nats per token), not {self.floor!r}")
        if self.break_at is not None and not (np.isfinite(self.break_at) and self.break_at > 0):
            raise ValueError(f"break_at must be a positive scale or None, not {self.break_at!r}")
        if not (np.isfinite(self.break_factor) and self.break_factor > 0):
            raise ValueError(
                f"break_factor must be a positive multiplier of CE, not {self.break_factor!r}"
            )
        if not (np.isfinite(self.break_width) and self.break_width >= 0):
            raise ValueError(f"break_width must be >= 0 e-folds, not {self.break_width!r}")

    @property
    def broken(self) -> bool:
        """Whether the truth has a break (a change of level or of slope at ``break_at``)."""
        return self.break_at is not None and (
            self.break_factor != 1.0 or self.break_slope_change != 0.0
        )

    def unbroken(self) -> CurveTruth:
        """The same truth without its break."""
        return replace(self, break_at=None, break_factor=1.0, break_slope_change=0.0)

    def ce(self, params: npt.ArrayLike) -> FloatArray:
        """Per-token cross-entropy (nats) at the scales ``params``.

        Examples
        --------
        >>> truth = CurveTruth(log_ce_ref=0.0, slope=0.5, n_ref=1e9, break_at=1e9, break_factor=0.5)
        >>> ratio = truth.ce([1e7, 1e11]) / truth.unbroken().ce([1e7, 1e11])
        >>> [round(float(r), 3) for r in ratio]
        [1.0, 0.5]
        """
        n = np.asarray(params, dtype=float)
        x = np.log(n) - math.log(self.n_ref)
        log_reducible = self.log_ce_ref - self.slope * x + 0.5 * self.curvature * x**2
        ce = self.floor + np.exp(log_reducible)
        if self.break_at is None:
            return np.asarray(ce, dtype=float)
        z = np.log(n) - math.log(self.break_at)
        if self.break_width == 0:
            step = (z > 0).astype(float)
            hinge = np.maximum(z, 0.0)
        else:
            step = 0.5 * (1.0 + np.tanh(z / (2.0 * self.break_width)))  # logistic, stable
            hinge = self.break_width * np.logaddexp(0.0, z / self.break_width)
        log_change = math.log(self.break_factor) * step - self.break_slope_change * hinge
        return np.asarray(ce * np.exp(log_change), dtype=float)


@dataclass(frozen=True)
class TruthPopulation:
    """Where :func:`simulate_benchmark` draws each task's :class:`CurveTruth` from.

    Attributes
    ----------
    log_ce_ref
        Uniform range of ``c_0`` (log reducible CE at ``n_ref``).
    slope
        Uniform range of ``alpha``.
    floor
        Uniform range of the irreducible CE ``E`` (nats per token).
    curvature_sd
        Standard deviation of the (normal, mean 0) curvature ``gamma``.
    """

    log_ce_ref: tuple[float, float] = (-1.0, 0.5)
    slope: tuple[float, float] = (0.25, 0.6)
    floor: tuple[float, float] = (0.0, 0.05)
    curvature_sd: float = 0.02

    def draw(self, rng: np.random.Generator, *, n_ref: float, **breaks: Any) -> CurveTruth:
        """One smooth :class:`CurveTruth` at ``n_ref`` (``breaks``: its break fields, if any).

        Draws ``c_0``, ``alpha``, ``E`` and ``gamma`` from ``rng`` in that order.
        """
        return CurveTruth(
            log_ce_ref=float(rng.uniform(*self.log_ce_ref)),
            slope=float(rng.uniform(*self.slope)),
            n_ref=n_ref,
            floor=float(rng.uniform(*self.floor)),
            curvature=float(rng.normal(0.0, self.curvature_sd)),
            **breaks,
        )


@dataclass(frozen=True)
class ItemDifficulty:
    """How items, and the tokens of an item, differ in difficulty.

    Attributes
    ----------
    shape
        Gamma shape of the bulk of item multipliers (mean 1, coefficient of variation
        ``1 / sqrt(shape)``; skewed to the right).
    hard_fraction
        Probability that an item is one of the very hard ones.
    hard_multiplier
        Extra multiplier of a very hard item's CE.
    token_shape
        Gamma shape of the per-token multipliers within a generation item.
    item_model_sd
        Log-scale sd of the per-(item, model) wobble of an item's CE (mean 1).
    """

    shape: float = 2.0
    hard_fraction: float = 0.05
    hard_multiplier: float = 5.0
    token_shape: float = 3.0
    item_model_sd: float = 0.15


@dataclass(frozen=True)
class ChoiceStructure:
    """How a multiple-choice model's logits arise (see the module docstring).

    Attributes
    ----------
    sharpness
        The correct choice's logit is ``sharpness * -log(1 - p)``.
    appeal_sd
        Sd of each choice's persistent surface attractiveness (logit units; the correct
        choice has one too, so a model that knows nothing is at chance but for the plausible
        distractor).
    plausible_pull
        Extra logit of the plausible distractor for a model with ``p = 0``; it fades as
        ``1 - p``.
    logit_noise_sd
        Sd of the fresh per-(model, item, choice) logit noise.
    """

    sharpness: float = 2.5
    appeal_sd: float = 0.5
    plausible_pull: float = 0.5
    logit_noise_sd: float = 0.5


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a task: its name, kind, chance level and the counts behind its score."""

    name: str
    kind: str
    chance: float
    target_tokens: float
    n_items: int


@dataclass(frozen=True)
class ItemOutputs:
    """Per-(size, item) outputs of one task; ``S`` sizes, ``I`` items, ``K`` choices.

    Attributes
    ----------
    kind
        ``generation`` or ``choice``.
    lengths
        ``(I,)`` answer lengths in tokens (ones for choice items).
    difficulty
        ``(I,)`` persistent difficulty multipliers (mean 1 over the task's items).
    hard
        ``(I,)`` whether an item was drawn as one of the very hard ones.
    ce
        ``(S, I)`` each item's per-token CE at each size (nats).
    logprob
        ``(S, I)`` log-probability of the target (summed over its tokens) or of the correct
        choice (normalised over choices), nats.
    correct
        ``(S, I)`` exact match of the scored answer, or the multiple-choice grade.
    wrong_tokens
        ``(S, I)`` wrong tokens of the scored answer (generation; else ``None``).
    n_samples
        Answers sampled per item for pass@k (generation; else ``None``).
    n_correct_samples
        ``(S, I)`` how many of them were right (generation; else ``None``).
    probs
        ``(S, I, K)`` choice probabilities (choice; else ``None``).
    correct_choice
        ``(I,)`` position of the correct choice (choice; else ``None``).
    plausible_choice
        ``(I,)`` position of the plausible distractor (choice; else ``None``).
    greedy
        ``(S, I)`` whether every token of the target is the model's top choice (generation with
        ``greedy_rival``; else ``None``).
    """

    kind: str
    lengths: IntArray
    difficulty: FloatArray
    hard: BoolArray
    ce: FloatArray
    logprob: FloatArray
    correct: BoolArray
    wrong_tokens: IntArray | None = None
    n_samples: int | None = None
    n_correct_samples: IntArray | None = None
    probs: FloatArray | None = None
    correct_choice: IntArray | None = None
    plausible_choice: IntArray | None = None
    greedy: BoolArray | None = None


@dataclass(frozen=True)
class SimulatedCurve:
    """One simulated task evaluated on one family (the result of :func:`simulate_curve`).

    Attributes
    ----------
    truth
        The task's latent truth.
    kind
        ``generation`` or ``choice``.
    n_choices
        Number of choices (``None`` for generation).
    params
        ``(S,)`` model sizes.
    n_ref
        Reference scale of ``a``.
    a, b
        Intercept at ``n_ref`` and slope of the best log-linear fit ``log CE = a - b x`` to the
        truth (without deviations) over ``params``.
    b_knowledge
        The same slope in the units a fitted model's choice map uses
        (:func:`choice_knowledge_ce` of the truth; equal to ``b`` for generation): what a
        fitted slope estimates.
    ce_curve
        ``(S,)`` the truth's CE at ``params``.
    deviation
        ``(S,)`` the models' deviations of log CE.
    ce
        ``(S,)`` ``ce_curve * exp(deviation)``: the mean-item per-token CE of the simulated models.
    metrics
        The metrics scored, in table order.
    scores
        Metric name to ``(S,)`` scores.
    outputs
        The per-item outputs the scores average.
    """

    truth: CurveTruth
    kind: str
    n_choices: int | None
    params: FloatArray
    n_ref: float
    a: float
    b: float
    b_knowledge: float
    ce_curve: FloatArray
    deviation: FloatArray
    ce: FloatArray
    metrics: tuple[MetricSpec, ...]
    scores: dict[str, FloatArray]
    outputs: ItemOutputs

    @property
    def lengths(self) -> IntArray:
        """Per-item answer lengths in tokens (ones for a choice task)."""
        return self.outputs.lengths

    def table(self, *, task: str = "sim_task", family: str = FAMILY) -> pd.DataFrame:
        """The scores as a canonical evaluation table (validated)."""
        models = model_names(self.params)
        frame = _score_frame(
            task, family, self.params, models, self.metrics, self.scores, self.n_choices
        )
        return validate(frame)

    def item_table(self, *, task: str = "sim_task", family: str = FAMILY) -> pd.DataFrame:
        """The per-item outputs as an item table (see :class:`SimulatedBenchmark`)."""
        return _item_frame(task, family, self.params, model_names(self.params), self.outputs)


@dataclass(frozen=True)
class SimulatedBenchmark:
    """A simulated benchmark, its per-item outputs and the truths behind them.

    Attributes
    ----------
    table
        Canonical evaluation table (with ``target_tokens`` and ``n_choices``).
    items
        One row per (task, model, item): the canonical item-table columns (``task, subtask,
        family, model, params, shots, item, target_tokens, logprob, correct, choice_logprobs,
        source, correct_choice``) plus ``kind``, ``length`` (tokens), ``difficulty`` (the item's
        persistent multiplier), ``hard``, ``ce`` (its per-token CE at this size),
        ``wrong_tokens``, ``n_samples``, ``n_correct_samples`` (generation) and ``prob_0`` ...
        (choice probabilities, NaN past the task's choices). Every score of ``table`` is a mean
        of these values.
    truth
        One row per task: ``kind``, ``n_choices``, ``n_items``, ``mean_length``, the best
        log-linear fit ``a`` (at ``n_ref``) and ``b`` of the truth over the sizes, ``b_realised``
        (the same fit to the deviated CE), ``a_knowledge`` and ``b_knowledge`` (the same fit in
        the units a fitted model's choice map uses, :func:`choice_knowledge_ce` of the typical
        item at the truth's CE; equal to ``a`` and ``b`` on generation tasks: what a fitted
        slope estimates), the truth's parameters (``log_ce_ref, slope, floor, curvature``), its
        break (``broken, break_at, break_factor, break_width,
        break_slope_change``), a summary of item difficulty (``difficulty_sd_log,
        difficulty_q90, difficulty_max, n_hard_items``) and the choice structure
        (``sharpness, plausible_pull``; NaN for generation).
    lengths
        Per-item answer lengths (tokens) of each *generation* task, keyed by
        ``(task, subtask)``. Choice tasks are left out on purpose: a model given lengths for a
        curve would use them for its subset-accuracy rows too, whose unit is the subset size
        ``target_tokens``.
    true_ce
        One row per (task, model): ``ce_curve`` (the truth), ``ce_unbroken`` (the truth without
        its break), ``model_deviation``, ``cell_deviation``, ``ce`` (``ce_curve`` times the
        exponentiated deviations: the mean-item per-token CE of the simulated model) and
        ``ce_items`` (the realised mean of the items' CE, wobble included).
    n_ref
        The reference scale of the truths' ``a``.
    """

    table: pd.DataFrame
    items: pd.DataFrame
    truth: pd.DataFrame
    lengths: dict[tuple[str, str], IntArray]
    true_ce: pd.DataFrame
    n_ref: float


# --------------------------------------------------------------------------------------------
# Small public helpers
# --------------------------------------------------------------------------------------------


def log_linear_fit(
    params: npt.ArrayLike, ce: npt.ArrayLike, *, n_ref: float
) -> tuple[float, float]:
    """Least-squares ``log CE = a - b (log N - log n_ref)``; returns ``(a, b)``.

    With a single distinct size ``b`` is NaN (and ``a`` too unless that size is ``n_ref``).

    Examples
    --------
    >>> a, b = log_linear_fit([1e8, 1e9, 1e10], [2.0, 1.0, 0.5], n_ref=1e9)
    >>> round(a, 6), round(b * math.log(10), 6)
    (0.0, 0.693147)
    """
    x = np.log(np.asarray(params, dtype=float)).ravel() - math.log(n_ref)
    y = np.log(np.asarray(ce, dtype=float)).ravel()
    spread = float(np.sum((x - x.mean()) ** 2))
    if spread == 0.0:  # one distinct size: no slope; the level is known only at that size
        return (float(y.mean()) if np.all(x == 0) else math.nan), math.nan
    slope = float(np.sum((x - x.mean()) * (y - y.mean()))) / spread
    return float(y.mean() - slope * x.mean()), -slope


def choice_knowledge_ce(ce: npt.ArrayLike, n_choices: int, *, sharpness: float) -> FloatArray:
    """A choice task's CE in the units of "knowledge" ``p``, for comparing with a fitted model.

    The simulator's correct choice gets the logit ``sharpness * -log(1 - exp(-CE))``; a fitted
    model reads the correct choice's probability as ``q = 1/K + (1 - 1/K) p`` with ``p =
    exp(-CE*)`` (:mod:`emergestats.models.forward`). The two conventions give the same
    ``q`` at chance and at certainty but different CE in between, so a fitted slope of a
    choice task estimates the slope of ``CE*``, not of the simulator's CE. This converts the
    truth for that comparison (the typical item: no surface appeal, no noise, no plausible
    distractor): ``q = (1 - p)^-s / ((1 - p)^-s + K - 1)``, ``p* = (K q - 1) / (K - 1)``, ``CE*
    = -log p*``. It defines the estimand only; nothing
    simulated uses it. It is not exact for a task whose items differ (a slope is not invariant
    under a change of convention once items are averaged), which is why choice-task slopes are
    checked against it with that caveat.

    Examples
    --------
    Two choices, sharpness 1: ``q = 1 / (2 - p)``, so ``p* = p / (2 - p)``; at ``p = 1/2``,
    ``p* = 1/3``:

    >>> round(float(choice_knowledge_ce([math.log(2)], 2, sharpness=1.0)[0]), 6)
    1.098612
    """
    ce = np.asarray(ce, dtype=float)
    log_unknown = np.log(-np.expm1(-ce))  # log(1 - p)
    k = float(n_choices)
    # q = 1 / (1 + (K - 1) (1 - p)^s); then 1 - q and K q - 1, without cancellation
    odds_against = (k - 1.0) * np.exp(sharpness * log_unknown)
    knowledge = (1.0 - odds_against / (k - 1.0)) / (1.0 + odds_against)
    return -np.log(np.maximum(knowledge, np.finfo(float).tiny))


def _knowledge_fit(
    params: npt.ArrayLike,
    ce_curve: npt.ArrayLike,
    n_choices: int | None,
    choices: ChoiceStructure,
    *,
    n_ref: float,
) -> tuple[float, float]:
    """The truth's best log-linear ``(a, b)`` in the units a fitted model's map reads: of
    :func:`choice_knowledge_ce` for a choice task, of the CE itself for generation (``None``)."""
    if n_choices is not None:
        ce_curve = choice_knowledge_ce(ce_curve, n_choices, sharpness=choices.sharpness)
    return log_linear_fit(params, ce_curve, n_ref=n_ref)


def draw_answer_lengths(
    n_items: int, *, mean_length: float, dispersion: float = 2.0, seed: Seed = 0
) -> IntArray:
    """Answer lengths ``1 + NegativeBinomial`` with mean ``mean_length`` tokens.

    ``dispersion`` is the negative binomial's size ``r``: the extra length has variance
    ``m + m^2 / r`` (``m = mean_length - 1``), so small ``r`` gives a long tail.
    """
    if not (np.isfinite(mean_length) and mean_length >= 1):
        raise ValueError(f"mean_length must be >= 1 token, not {mean_length!r}")
    if not (np.isfinite(dispersion) and dispersion > 0):
        raise ValueError(f"dispersion must be positive, not {dispersion!r}")
    rng = np.random.default_rng(seed)
    extra = mean_length - 1.0
    if extra == 0:
        return np.ones(n_items, dtype=np.int64)
    draws = rng.negative_binomial(dispersion, dispersion / (dispersion + extra), size=n_items)
    return (1 + draws).astype(np.int64)


def model_names(params: npt.ArrayLike) -> list[str]:
    """Model names ``sim-<size>``, one per size; the sizes must be distinct."""
    sizes = np.asarray(params, dtype=float)
    names = [f"sim-{size:.4g}" for size in sizes]
    if len(set(names)) != len(names):
        raise ValueError(
            "model sizes must be distinct (to 4 significant digits) to name the models; "
            f"got {sizes.tolist()}"
        )
    return names


# --------------------------------------------------------------------------------------------
# Items and outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemStructure:
    """What stays the same for every model: items, their tokens, their choices."""

    kind: str
    lengths: IntArray
    difficulty: FloatArray
    hard: BoolArray
    token_item: IntArray  # (T,) item of each token
    token_weight: FloatArray  # (T,) per-token multiplier, mean 1 within each item
    starts: IntArray  # (I,) first token of each item
    n_choices: int | None
    correct_choice: IntArray | None
    plausible_choice: IntArray | None
    attractiveness: FloatArray | None  # (I, K) persistent surface appeal of each choice


def _draw_items(
    kind: str,
    *,
    n_items: int,
    n_choices: int | None,
    lengths: IntArray | None,
    difficulty: ItemDifficulty,
    choices: ChoiceStructure,
    rng: np.random.Generator,
) -> _ItemStructure:
    bulk = rng.gamma(difficulty.shape, 1.0 / difficulty.shape, size=n_items)
    hard = rng.random(n_items) < difficulty.hard_fraction
    raw = bulk * np.where(hard, difficulty.hard_multiplier, 1.0)
    multiplier = raw / raw.mean()
    if kind == "generation":
        assert lengths is not None
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        token_item = np.repeat(np.arange(n_items), lengths)
        tokens = rng.gamma(
            difficulty.token_shape, 1.0 / difficulty.token_shape, size=token_item.size
        )
        item_mean = np.bincount(token_item, weights=tokens, minlength=n_items) / lengths
        return _ItemStructure(
            kind=kind,
            lengths=lengths,
            difficulty=multiplier,
            hard=hard,
            token_item=token_item,
            token_weight=tokens / item_mean[token_item],
            starts=starts,
            n_choices=None,
            correct_choice=None,
            plausible_choice=None,
            attractiveness=None,
        )
    assert n_choices is not None
    correct_choice = rng.integers(0, n_choices, size=n_items)
    # the plausible distractor: any position but the correct one
    plausible_choice = (correct_choice + rng.integers(1, n_choices, size=n_items)) % n_choices
    # every choice, the correct one included, has a surface attractiveness: a model that knows
    # nothing (and no plausible distractor) then picks the correct choice at exactly chance
    attractiveness = rng.normal(0.0, choices.appeal_sd, size=(n_items, n_choices))
    empty = np.zeros(0, dtype=np.int64)
    return _ItemStructure(
        kind=kind,
        lengths=np.ones(n_items, dtype=np.int64),
        difficulty=multiplier,
        hard=hard,
        token_item=empty,
        token_weight=np.zeros(0),
        starts=empty,
        n_choices=n_choices,
        correct_choice=correct_choice.astype(np.int64),
        plausible_choice=plausible_choice.astype(np.int64),
        attractiveness=attractiveness,
    )


def _token_ce(ce_item: FloatArray, items: _ItemStructure) -> FloatArray:
    """``(S, T)`` per-token CE of every answer token: its item's CE times its own multiplier."""
    return ce_item[:, items.token_item] * items.token_weight[None, :]


#: Sd of the per-(size, token) logit wobble of a rival's share (:func:`simulate_curve`).
RIVAL_WOBBLE_SD: Final[float] = 0.3


def _greedy_targets(
    outputs: ItemOutputs,
    items: _ItemStructure,
    rival: tuple[float, float],
    rng: np.random.Generator,
) -> BoolArray:
    """``(S, I)``: every token's target probability beats its strongest rival's."""
    alpha, beta = rival
    if not (alpha > 0 and beta > 0):
        raise ValueError(f"greedy_rival must be two positive Beta parameters, not {rival!r}")
    token_ce = _token_ce(outputs.ce, items)
    target = np.exp(-token_ce)
    share = rng.beta(alpha, beta, size=items.token_item.size)
    logit = np.log(share) - np.log1p(-share)
    wobbled = logit[None, :] + rng.normal(0.0, RIVAL_WOBBLE_SD, size=token_ce.shape)
    rival_share = 1.0 / (1.0 + np.exp(-wobbled))
    wins = target >= rival_share * (1.0 - target)
    losses = np.add.reduceat((~wins).astype(np.int64), items.starts, axis=1)
    return losses == 0


def _simulate_outputs(
    ce: FloatArray,
    items: _ItemStructure,
    *,
    difficulty: ItemDifficulty,
    choices: ChoiceStructure,
    n_samples: int,
    rng: np.random.Generator,
) -> ItemOutputs:
    n_sizes, n_items = ce.size, items.difficulty.size
    sd = difficulty.item_model_sd
    wobble = np.exp(rng.normal(-0.5 * sd**2, sd, size=(n_sizes, n_items)))
    ce_item = ce[:, None] * items.difficulty[None, :] * wobble
    if items.kind == "generation":
        token_ce = _token_ce(ce_item, items)
        # token wrong with probability 1 - exp(-CE_t)
        wrong = rng.random(token_ce.shape) < -np.expm1(-token_ce)
        wrong_tokens = np.add.reduceat(wrong.astype(np.int64), items.starts, axis=1)
        logprob = -np.add.reduceat(token_ce, items.starts, axis=1)
        exact = wrong_tokens == 0
        # the other samples of an answer are right with probability prod_t p_t = exp(logprob)
        others = rng.binomial(n_samples - 1, np.exp(logprob))
        return ItemOutputs(
            kind="generation",
            lengths=items.lengths,
            difficulty=items.difficulty,
            hard=items.hard,
            ce=ce_item,
            logprob=logprob,
            correct=exact,
            wrong_tokens=wrong_tokens,
            n_samples=n_samples,
            n_correct_samples=exact.astype(np.int64) + others,
        )
    assert items.attractiveness is not None
    assert items.correct_choice is not None and items.plausible_choice is not None
    n_choices = items.attractiveness.shape[1]
    rows = np.arange(n_items)
    not_known = -np.expm1(-ce_item)  # 1 - p, accurate for small CE
    logits = items.attractiveness[None, :, :] + rng.normal(
        0.0, choices.logit_noise_sd, size=(n_sizes, n_items, n_choices)
    )
    logits[:, rows, items.correct_choice] += -choices.sharpness * np.log(not_known)
    logits[:, rows, items.plausible_choice] += choices.plausible_pull * not_known
    top = logits.max(axis=2, keepdims=True)
    log_probs = logits - (top + np.log(np.exp(logits - top).sum(axis=2, keepdims=True)))
    grade = logits.argmax(axis=2) == items.correct_choice[None, :]
    return ItemOutputs(
        kind="choice",
        lengths=items.lengths,
        difficulty=items.difficulty,
        hard=items.hard,
        ce=ce_item,
        logprob=np.minimum(log_probs[:, rows, items.correct_choice], 0.0),
        correct=grade,
        probs=np.exp(log_probs),
        correct_choice=items.correct_choice,
        plausible_choice=items.plausible_choice,
    )


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def _pass_at_k_table(n_samples: int, k: int) -> FloatArray:
    """Chen et al.'s unbiased pass@k for every count of right samples ``c = 0..n``."""
    total = math.comb(n_samples, k)
    return np.array([1.0 - math.comb(n_samples - c, k) / total for c in range(n_samples + 1)])


def _score(
    outputs: ItemOutputs, *, pass_k: Sequence[int], subset_sizes: Sequence[int]
) -> tuple[tuple[MetricSpec, ...], dict[str, FloatArray]]:
    n_items = outputs.lengths.size
    specs: list[MetricSpec] = []
    scores: dict[str, FloatArray] = {}

    def add(spec: MetricSpec, per_item: npt.NDArray[np.generic]) -> None:
        specs.append(spec)
        scores[spec.name] = np.asarray(per_item, dtype=float).mean(axis=1)

    nan = float("nan")
    if outputs.kind == "generation":
        assert outputs.wrong_tokens is not None and outputs.n_correct_samples is not None
        assert outputs.n_samples is not None
        mean_length = float(outputs.lengths.mean())
        add(
            MetricSpec("exact_str_match", "exact_match", nan, mean_length, n_items),
            outputs.correct,
        )
        add(
            MetricSpec("edit_distance", "edit_distance", nan, mean_length, n_items),
            outputs.wrong_tokens,
        )
        add(
            MetricSpec("log_likelihood", "log_likelihood", nan, mean_length, n_items),
            outputs.logprob,
        )
        for k in pass_k:
            estimate = _pass_at_k_table(outputs.n_samples, k)[outputs.n_correct_samples]
            add(MetricSpec(f"pass@{k}", "pass_at_k", nan, mean_length, n_items), estimate)
        if outputs.greedy is not None:
            add(
                MetricSpec("greedy_match", "greedy_match", nan, mean_length, n_items),
                outputs.greedy,
            )
        return tuple(specs), scores
    assert outputs.probs is not None and outputs.correct_choice is not None
    n_choices = outputs.probs.shape[2]
    k_f = float(n_choices)
    add(
        MetricSpec("multiple_choice_grade", "multiple_choice_grade", 1.0 / k_f, 1.0, n_items),
        outputs.correct,
    )
    target = np.zeros((n_items, n_choices))
    target[np.arange(n_items), outputs.correct_choice] = 1.0
    squared = (outputs.probs - target[None, :, :]) ** 2
    q = outputs.probs[:, np.arange(n_items), outputs.correct_choice]
    add(
        MetricSpec("brier_score", "brier", (k_f - 1.0) / k_f**2, 1.0, n_items),
        squared.mean(axis=2),
    )
    add(
        MetricSpec("brier_score_sum", "brier", (k_f - 1.0) / k_f, 1.0, n_items),
        squared.sum(axis=2),
    )
    add(
        MetricSpec("brier_correct_choice", "brier", (1.0 - 1.0 / k_f) ** 2, 1.0, n_items),
        (1.0 - q) ** 2,
    )
    add(MetricSpec("log_likelihood", "log_likelihood", nan, 1.0, n_items), outputs.logprob)
    n_sizes = outputs.correct.shape[0]
    for size in subset_sizes:
        n_groups = n_items // size
        if n_groups == 0:
            continue
        groups = outputs.correct[:, : n_groups * size].reshape(n_sizes, n_groups, size)
        add(
            MetricSpec(
                f"subset_accuracy_L{size}", "exact_match", k_f**-size, float(size), n_groups
            ),
            groups.all(axis=2),
        )
    return tuple(specs), scores


def _score_frame(
    task: str,
    family: str,
    params: FloatArray,
    models: list[str],
    specs: Sequence[MetricSpec],
    scores: dict[str, FloatArray],
    n_choices: int | None,
) -> pd.DataFrame:
    n_sizes, n_metrics = params.size, len(specs)
    n_rows = n_sizes * n_metrics

    def per_metric(values: list[object]) -> npt.NDArray[np.generic]:
        return np.repeat(np.asarray(values), n_sizes)

    frame = pd.DataFrame(
        {
            "task": np.full(n_rows, task, dtype=object),
            "subtask": np.full(n_rows, task, dtype=object),
            "family": np.full(n_rows, family, dtype=object),
            "model": np.tile(np.asarray(models, dtype=object), n_metrics),
            "params": np.tile(params, n_metrics),
            "shots": np.full(n_rows, SHOTS, dtype=np.int64),
            "metric": per_metric([s.name for s in specs]).astype(object),
            "metric_kind": per_metric([s.kind for s in specs]).astype(object),
            "score": np.concatenate([scores[s.name] for s in specs]),
            "n_items": pd.array(
                np.repeat(np.array([s.n_items for s in specs], dtype=np.int64), n_sizes),
                dtype="Int64",
            ),
            "chance": per_metric([s.chance for s in specs]).astype(float),
            "source": np.full(n_rows, SOURCE, dtype=object),
            "target_tokens": per_metric([s.target_tokens for s in specs]).astype(float),
            "n_choices": np.full(n_rows, np.nan if n_choices is None else float(n_choices)),
        }
    )
    return frame.loc[:, [*EVALUATION_COLUMNS, "target_tokens", "n_choices"]]


def _item_frame(
    task: str, family: str, params: FloatArray, models: list[str], outputs: ItemOutputs
) -> pd.DataFrame:
    n_sizes, n_items = outputs.ce.shape
    n_rows = n_sizes * n_items
    item_ids = np.array([str(i) for i in range(n_items)], dtype=object)
    generation = outputs.kind == "generation"
    lengths = np.tile(outputs.lengths, n_sizes)
    columns: dict[str, object] = {
        "task": np.full(n_rows, task, dtype=object),
        "subtask": np.full(n_rows, task, dtype=object),
        "family": np.full(n_rows, family, dtype=object),
        "model": np.repeat(np.asarray(models, dtype=object), n_items),
        "params": np.repeat(params, n_items),
        "shots": np.full(n_rows, SHOTS, dtype=np.int64),
        "item": np.tile(item_ids, n_sizes),
        "target_tokens": lengths.astype(float),
        "logprob": outputs.logprob.ravel(),
        "correct": pd.array(outputs.correct.ravel().astype(np.int64), dtype="Int64"),
    }
    if generation:
        assert outputs.wrong_tokens is not None and outputs.n_correct_samples is not None
        columns["choice_logprobs"] = np.full(n_rows, None, dtype=object)
        columns["source"] = np.full(n_rows, SOURCE, dtype=object)
        columns["correct_choice"] = pd.array(np.full(n_rows, pd.NA), dtype="Int64")
        wrong = outputs.wrong_tokens.ravel().astype(float)
        n_samples = np.full(n_rows, float(outputs.n_samples or 0))
        n_correct = outputs.n_correct_samples.ravel().astype(float)
    else:
        assert outputs.probs is not None and outputs.correct_choice is not None
        log_probs = np.log(outputs.probs.reshape(n_rows, -1))
        choice_logprobs = np.empty(n_rows, dtype=object)
        choice_logprobs[:] = [tuple(row) for row in log_probs.tolist()]
        columns["choice_logprobs"] = choice_logprobs
        columns["source"] = np.full(n_rows, SOURCE, dtype=object)
        columns["correct_choice"] = pd.array(
            np.tile(outputs.correct_choice, n_sizes), dtype="Int64"
        )
        wrong, n_samples, n_correct = (np.full(n_rows, np.nan) for _ in range(3))
    columns |= {
        "kind": np.full(n_rows, outputs.kind, dtype=object),
        "length": lengths,
        "difficulty": np.tile(outputs.difficulty, n_sizes),
        "hard": np.tile(outputs.hard, n_sizes),
        "ce": outputs.ce.ravel(),
        "wrong_tokens": wrong,
        "n_samples": n_samples,
        "n_correct_samples": n_correct,
    }
    if outputs.probs is not None:
        flat = outputs.probs.reshape(n_rows, -1)
        for choice in range(flat.shape[1]):
            columns[f"prob_{choice}"] = flat[:, choice]
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def _check_common(
    *, kind: str, n_items: int, n_choices: int | None, pass_k: Sequence[int], n_samples: int
) -> None:
    if kind not in TASK_KINDS:
        raise ValueError(f"task kind must be one of {', '.join(TASK_KINDS)}, not {kind!r}")
    if n_items < 1:
        raise ValueError(f"a task needs at least one item, not n_items={n_items}")
    if kind == "choice" and (n_choices is None or n_choices < 2):
        raise ValueError(f"a choice task needs at least 2 choices, not {n_choices!r}")
    if any(k < 1 for k in pass_k):
        raise ValueError(f"every k of pass@k must be >= 1, not {list(pass_k)}")
    if pass_k and n_samples < max(pass_k):
        raise ValueError(
            f"pass@{max(pass_k)} needs at least {max(pass_k)} samples per item, not "
            f"n_samples={n_samples}"
        )


def _default_samples(pass_k: Sequence[int], n_samples: int | None) -> int:
    if n_samples is not None:
        return n_samples
    return 2 * max(pass_k) if pass_k else 1


def simulate_curve(
    truth: CurveTruth,
    *,
    params: npt.ArrayLike,
    kind: TaskKind = "generation",
    n_items: int = 500,
    n_choices: int = 4,
    lengths: npt.ArrayLike | None = None,
    mean_length: float = 4.0,
    length_dispersion: float = 2.0,
    deviation_sd: float = 0.1,
    difficulty: ItemDifficulty | None = None,
    choices: ChoiceStructure | None = None,
    pass_k: Sequence[int] = (1, 10),
    n_samples: int | None = None,
    subset_sizes: Sequence[int] = (2, 4, 8),
    n_ref: float | None = None,
    greedy_rival: tuple[float, float] | None = None,
    seed: Seed = 0,
) -> SimulatedCurve:
    """Simulate one task on one model family, item by item (fast: for calibration sweeps).

    Parameters
    ----------
    truth
        The task's latent per-token CE.
    params
        Model sizes (distinct, positive).
    kind
        ``generation`` or ``choice``.
    n_items
        Number of items (ignored for generation when ``lengths`` is given).
    n_choices
        Choices per item of a choice task.
    lengths
        Per-item answer lengths of a generation task; drawn by :func:`draw_answer_lengths`
        with ``mean_length`` and ``length_dispersion`` when ``None``.
    mean_length
        Mean answer length (tokens) when lengths are drawn.
    length_dispersion
        Negative-binomial size of the drawn lengths.
    deviation_sd
        Sd of each model's deviation of log CE (the model-level and cell-level deviations of
        :func:`simulate_benchmark` in one).
    difficulty
        Item and token difficulty (default :class:`ItemDifficulty`).
    choices
        Logit structure of a choice task (default :class:`ChoiceStructure`).
    pass_k
        The ``k`` of the pass@k rows (generation).
    n_samples
        Answers sampled per item for pass@k (default ``2 * max(pass_k)``).
    subset_sizes
        Group sizes of the subset-accuracy rows (choice).
    n_ref
        Reference scale of the recorded fit ``a``, ``b`` (default the geometric mean of
        ``params``).
    greedy_rival
        ``(alpha, beta)``: also score a *greedy match* (generation; metric ``greedy_match``):
        the target is the greedy continuation when each of its tokens out-ranks that token's
        strongest rival, which holds a share ``c`` of the mass not on the target; ``c`` is
        ``Beta(alpha, beta)`` per token (persistent across sizes) with a per-(size, token)
        logit wobble of sd 0.3. Drawn after every other output, so the other scores are those
        of the same seed without it.
    seed
        Seed (or generator) of every draw.

    Returns
    -------
    SimulatedCurve
        Scores, per-item outputs and the truth; ``.table()`` gives the evaluation table.

    Examples
    --------
    >>> truth = CurveTruth(log_ce_ref=-0.5, slope=0.4, n_ref=1e9, floor=0.02)
    >>> curve = simulate_curve(truth, params=np.geomspace(1e7, 1e10, 10), seed=1)
    >>> sorted(curve.scores)[:3]
    ['edit_distance', 'exact_str_match', 'log_likelihood']
    """
    rng = np.random.default_rng(seed)
    difficulty = difficulty or ItemDifficulty()
    choices = choices or ChoiceStructure()
    sizes = np.asarray(params, dtype=float).ravel()
    if sizes.size == 0 or not np.all(np.isfinite(sizes) & (sizes > 0)):
        raise ValueError(f"params must be positive model sizes, not {sizes.tolist()}")
    item_lengths: IntArray | None = None
    if kind == "generation":
        if lengths is None:
            item_lengths = draw_answer_lengths(
                n_items, mean_length=mean_length, dispersion=length_dispersion, seed=rng
            )
        else:
            item_lengths = np.asarray(lengths, dtype=np.int64).ravel()
            if item_lengths.size == 0 or np.any(item_lengths < 1):
                raise ValueError("lengths must be a non-empty array of positive token counts")
        n_items = item_lengths.size
    samples = _default_samples(pass_k, n_samples)
    _check_common(
        kind=kind,
        n_items=n_items,
        n_choices=n_choices if kind == "choice" else None,
        pass_k=pass_k if kind == "generation" else (),
        n_samples=samples,
    )
    reference = float(np.exp(np.mean(np.log(np.unique(sizes))))) if n_ref is None else n_ref
    ce_curve = truth.ce(sizes)
    a, b = log_linear_fit(sizes, ce_curve, n_ref=reference)
    _, b_knowledge = _knowledge_fit(
        sizes, ce_curve, n_choices if kind == "choice" else None, choices, n_ref=reference
    )
    deviation = rng.normal(0.0, deviation_sd, size=sizes.size)
    ce = ce_curve * np.exp(deviation)
    items = _draw_items(
        kind,
        n_items=n_items,
        n_choices=n_choices if kind == "choice" else None,
        lengths=item_lengths,
        difficulty=difficulty,
        choices=choices,
        rng=rng,
    )
    outputs = _simulate_outputs(
        ce, items, difficulty=difficulty, choices=choices, n_samples=samples, rng=rng
    )
    if greedy_rival is not None and kind == "generation":
        outputs = replace(outputs, greedy=_greedy_targets(outputs, items, greedy_rival, rng))
    metrics, scores = _score(outputs, pass_k=pass_k, subset_sizes=subset_sizes)
    return SimulatedCurve(
        truth=truth,
        kind=kind,
        n_choices=n_choices if kind == "choice" else None,
        params=sizes,
        n_ref=reference,
        a=a,
        b=b,
        b_knowledge=b_knowledge,
        ce_curve=ce_curve,
        deviation=deviation,
        ce=ce,
        metrics=metrics,
        scores=scores,
        outputs=outputs,
    )


def _per_task(
    value: float | Sequence[float | None] | None, n_tasks: int, name: str
) -> list[float | None]:
    if value is None or isinstance(value, int | float):
        return [value] * n_tasks
    values = list(value)
    if len(values) != n_tasks:
        raise ValueError(f"{name} has {len(values)} entries; give one per task ({n_tasks}) or one")
    return values


def simulate_benchmark(
    *,
    n_tasks: int = 8,
    n_sizes: int = 10,
    n_items: int = 300,
    sizes: tuple[float, float] = (1e7, 1e10),
    task_kinds: Sequence[TaskKind] = ("generation", "choice"),
    n_choices: Sequence[int] = (2, 4),
    mean_length: tuple[float, float] = (1.0, 8.0),
    length_dispersion: float = 2.0,
    break_factor: float | Sequence[float | None] | None = None,
    break_at: float | Sequence[float | None] | None = None,
    break_width: float = 0.25,
    break_slope_change: float = 0.0,
    model_deviation_sd: float = 0.1,
    cell_deviation_sd: float = 0.05,
    pass_k: Sequence[int] = (1, 10),
    n_samples: int | None = None,
    subset_sizes: Sequence[int] = (2, 4, 8),
    population: TruthPopulation | None = None,
    difficulty: ItemDifficulty | None = None,
    choices: ChoiceStructure | None = None,
    n_ref: float | None = None,
    seed: int = 0,
) -> SimulatedBenchmark:
    """Simulate a benchmark of generation and multiple-choice tasks on one model family.

    Parameters
    ----------
    n_tasks
        Number of tasks.
    n_sizes
        Number of model sizes, log-spaced over ``sizes``.
    n_items
        Items per task.
    sizes
        Smallest and largest parameter count.
    task_kinds
        Kinds of the tasks, cycled: task ``j`` is ``task_kinds[j % len(task_kinds)]``.
    n_choices
        Choices per item of the choice tasks, cycled over the choice tasks.
    mean_length
        Range the mean answer length (tokens) of each generation task is drawn from, uniformly.
    length_dispersion
        Negative-binomial size of the answer lengths (small: long tails).
    break_factor
        ``None`` for smooth truths; a number breaks every task (CE multiplied by it above
        ``N*``); a sequence gives one per task (``None`` for a smooth one). A task with a
        factor (1 included) also gets ``break_slope_change``.
    break_at
        ``N*``: one for all, one per task, or ``None`` to draw each broken task's ``N*``
        log-uniformly over the middle half of ``log sizes``.
    break_width
        Width of every break's transition, in e-folds of ``N``.
    break_slope_change
        Extra slope of ``log CE`` past every break.
    model_deviation_sd
        Sd of each model's deviation of log CE, shared by all tasks.
    cell_deviation_sd
        Sd of the additional per-(task, model) deviation of log CE.
    pass_k
        The ``k`` of the pass@k rows of generation tasks.
    n_samples
        Answers sampled per generation item (default ``2 * max(pass_k)``).
    subset_sizes
        Group sizes ``L`` of the subset-accuracy rows of choice tasks.
    population
        Where the truths are drawn from (default :class:`TruthPopulation`).
    difficulty
        Item and token difficulty (default :class:`ItemDifficulty`).
    choices
        Logit structure of the choice tasks (default :class:`ChoiceStructure`).
    n_ref
        Reference scale of the truths (default the geometric mean of the sizes).
    seed
        Seed of every draw; each task draws from its own child stream.

    Returns
    -------
    SimulatedBenchmark
        The evaluation table, the per-item outputs and the truths.

    Examples
    --------
    >>> bench = simulate_benchmark(n_tasks=2, n_sizes=4, n_items=50, seed=3)
    >>> sorted(bench.table["metric"].unique())[:3]
    ['brier_correct_choice', 'brier_score', 'brier_score_sum']
    """
    if n_tasks < 1 or n_sizes < 2:
        raise ValueError(f"need n_tasks >= 1 and n_sizes >= 2, not {n_tasks} and {n_sizes}")
    if not (0 < sizes[0] < sizes[1]):
        raise ValueError(f"sizes must be (smallest, largest) with 0 < smallest < largest: {sizes}")
    if not task_kinds or not n_choices:
        raise ValueError("task_kinds and n_choices must not be empty")
    if not (1 <= mean_length[0] <= mean_length[1]):
        raise ValueError(
            f"mean_length must be a range (low, high) with 1 <= low <= high: {mean_length}"
        )
    population = population or TruthPopulation()
    difficulty = difficulty or ItemDifficulty()
    choices = choices or ChoiceStructure()
    params = np.geomspace(sizes[0], sizes[1], n_sizes)
    models = model_names(params)
    reference = float(np.exp(np.mean(np.log(params)))) if n_ref is None else float(n_ref)
    samples = _default_samples(pass_k, n_samples)
    factors = _per_task(break_factor, n_tasks, "break_factor")
    breaks = _per_task(break_at, n_tasks, "break_at")

    rng = np.random.default_rng(seed)
    model_deviation = rng.normal(0.0, model_deviation_sd, size=n_sizes)
    task_rngs = rng.spawn(n_tasks)
    log_lo, log_hi = math.log(sizes[0]), math.log(sizes[1])

    tables: list[pd.DataFrame] = []
    item_frames: list[pd.DataFrame] = []
    truth_rows: list[dict[str, object]] = []
    ce_frames: list[pd.DataFrame] = []
    lengths: dict[tuple[str, str], IntArray] = {}
    n_choice_tasks = 0
    for j, task_rng in enumerate(task_rngs):
        kind = task_kinds[j % len(task_kinds)]
        k_choices: int | None = None
        if kind == "choice":
            k_choices = int(n_choices[n_choice_tasks % len(n_choices)])
            n_choice_tasks += 1
            task = f"task_{j:02d}_choice{k_choices}"
        else:
            task = f"task_{j:02d}_generation"
        _check_common(
            kind=kind,
            n_items=n_items,
            n_choices=k_choices,
            pass_k=pass_k if kind == "generation" else (),
            n_samples=samples,
        )
        factor, at = factors[j], breaks[j]
        broken = factor is not None
        if broken and at is None:
            middle = (0.75 * log_lo + 0.25 * log_hi, 0.25 * log_lo + 0.75 * log_hi)
            at = math.exp(task_rng.uniform(*middle))
        truth = population.draw(
            task_rng,
            n_ref=reference,
            break_at=float(at) if broken and at is not None else None,
            break_factor=float(factor) if broken and factor is not None else 1.0,
            break_width=break_width,
            break_slope_change=break_slope_change if broken else 0.0,
        )
        item_lengths: IntArray | None = None
        if kind == "generation":
            task_mean = float(task_rng.uniform(*mean_length))
            item_lengths = draw_answer_lengths(
                n_items, mean_length=task_mean, dispersion=length_dispersion, seed=task_rng
            )
            lengths[(task, task)] = item_lengths
        cell_deviation = task_rng.normal(0.0, cell_deviation_sd, size=n_sizes)
        ce_curve = truth.ce(params)
        ce = ce_curve * np.exp(model_deviation + cell_deviation)
        items = _draw_items(
            kind,
            n_items=n_items,
            n_choices=k_choices,
            lengths=item_lengths,
            difficulty=difficulty,
            choices=choices,
            rng=task_rng,
        )
        outputs = _simulate_outputs(
            ce, items, difficulty=difficulty, choices=choices, n_samples=samples, rng=task_rng
        )
        specs, scores = _score(outputs, pass_k=pass_k, subset_sizes=subset_sizes)
        tables.append(_score_frame(task, FAMILY, params, models, specs, scores, k_choices))
        item_frames.append(_item_frame(task, FAMILY, params, models, outputs))

        a, b = log_linear_fit(params, ce_curve, n_ref=reference)
        _, b_realised = log_linear_fit(params, ce, n_ref=reference)
        a_knowledge, b_knowledge = _knowledge_fit(
            params, ce_curve, k_choices, choices, n_ref=reference
        )
        log_d = np.log(items.difficulty)
        truth_rows.append(
            {
                "task": task,
                "subtask": task,
                "family": FAMILY,
                "shots": SHOTS,
                "kind": kind,
                "n_choices": k_choices if k_choices is not None else pd.NA,
                "n_items": n_items,
                "mean_length": float(items.lengths.mean()),
                "a": a,
                "b": b,
                "b_realised": b_realised,
                "a_knowledge": a_knowledge,
                "b_knowledge": b_knowledge,
                "n_ref": reference,
                "log_ce_ref": truth.log_ce_ref,
                "slope": truth.slope,
                "floor": truth.floor,
                "curvature": truth.curvature,
                "broken": truth.broken,
                "break_at": truth.break_at if truth.break_at is not None else np.nan,
                "break_factor": truth.break_factor,
                "break_width": truth.break_width,
                "break_slope_change": truth.break_slope_change,
                "difficulty_sd_log": float(log_d.std()),
                "difficulty_q90": float(np.quantile(items.difficulty, 0.9)),
                "difficulty_max": float(items.difficulty.max()),
                "n_hard_items": int(items.hard.sum()),
                "sharpness": choices.sharpness if kind == "choice" else np.nan,
                "plausible_pull": choices.plausible_pull if kind == "choice" else np.nan,
            }
        )
        ce_frames.append(
            pd.DataFrame(
                {
                    "task": task,
                    "subtask": task,
                    "family": FAMILY,
                    "model": models,
                    "params": params,
                    "ce_curve": ce_curve,
                    "ce_unbroken": truth.unbroken().ce(params),
                    "model_deviation": model_deviation,
                    "cell_deviation": cell_deviation,
                    "ce": ce,
                    "ce_items": outputs.ce.mean(axis=1),
                }
            )
        )

    truth_frame = pd.DataFrame(truth_rows)
    truth_frame["n_choices"] = truth_frame["n_choices"].astype("Int64")
    return SimulatedBenchmark(
        table=validate(pd.concat(tables, ignore_index=True)),
        items=pd.concat(item_frames, ignore_index=True),
        truth=truth_frame,
        lengths=lengths,
        true_ce=pd.concat(ce_frames, ignore_index=True),
        n_ref=reference,
    )
