"""Forward maps from per-token probability to the expected value of each benchmark metric.

Schaeffer, Miranda & Koyejo (2023) model a language model of scale ``N`` by the probability
``p(N) = exp(-CE(N))`` of emitting one correct token, where the per-token cross-entropy ``CE``
falls smoothly with scale. Every metric below is a function of ``p`` (and of the task: answer
lengths, number of choices, number of samples), so one smooth latent curve predicts all the
metrics of a task, sharp and smooth alike.

Backends
--------
The token-level maps (:func:`exact_match`, :func:`edit_distance`, :func:`log_likelihood`,
:func:`pass_at_k`, :func:`subset_accuracy`, :func:`expected_multiple_choice_grade`,
:func:`expected_brier_score`, :func:`expected_thresholded_reconstruction`) accept numpy arrays
(and Python numbers) *or* pytensor tensor variables, so they can be used inside a ``pm.Model``.
The result has the kind of the first argument: a Python ``float`` for a number, a numpy array
for an array (0-d included), a pytensor variable for a pytensor variable. If any other argument
is symbolic the result is symbolic too (pass the first argument as a tensor in that case to
keep the annotations exact). Numeric inputs are checked (probabilities in [0, 1], positive
lengths, ...) and a :class:`~emergestats.errors.DataFormatError` is raised on bad values;
symbolic inputs cannot be checked before sampling.

Broadcasting
------------
``p`` may have any shape (e.g. ``(chain, draw, model)``). A per-item argument (``lengths``,
``n_choices``, ``subset_size``) is either a scalar, applied elementwise, or a 1-D array with one
entry per item; a 1-D array is broadcast against ``p`` on a new trailing axis which is then
averaged, so the result always has the shape of ``p``. The average is over the metric's value per
item (the *mean of powers*, not the power of the mean length: by Jensen's inequality the two
differ, and the difference is what makes a task with mixed answer lengths less sharp). Optional
``weights`` (e.g. the number of items having each distinct length) make it a weighted mean.

The multiple-choice scorers (:func:`multiple_choice_grade`, :func:`brier_score`) and
:func:`thresholded_reconstruction` score observed model outputs and are numpy only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from emergestats.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from pytensor.tensor.variable import TensorVariable

__all__ = [
    "BRIER_FORMS",
    "brier_score",
    "chance_level",
    "choice_probabilities",
    "edit_distance",
    "exact_match",
    "expected_brier_score",
    "expected_multiple_choice_grade",
    "expected_thresholded_reconstruction",
    "log_likelihood",
    "multiple_choice_grade",
    "pass_at_k",
    "subset_accuracy",
    "thresholded_reconstruction",
]

#: A numeric array (or number) or a pytensor tensor variable.
type TensorLike = npt.ArrayLike | TensorVariable
#: Choice scores of a multiple-choice task: a 2-D array (items x choices) or one 1-D array per
#: item when items have different numbers of choices.
type ChoiceScores = npt.ArrayLike | Sequence[npt.ArrayLike]

#: The two Brier-score conventions: ``mean`` (BIG-bench: per item, summed squared error divided
#: by the number of choices) and ``sum`` (the common form, summed over choices).
BRIER_FORMS: Final[tuple[str, ...]] = ("mean", "sum")

# Tolerance for "the choice probabilities of an item sum to one".
_PROBABILITY_SUM_ATOL: Final[float] = 1e-6


# --------------------------------------------------------------------------------------------
# Backend switch
# --------------------------------------------------------------------------------------------


def _is_symbolic(value: object) -> bool:
    # Without pytensor imported nothing can be a pytensor variable; avoid importing it (slow).
    if "pytensor" not in sys.modules:
        return False
    from pytensor.graph.basic import Variable

    return isinstance(value, Variable)


def _namespace(*values: object) -> ModuleType:
    """``pytensor.tensor`` if any value is a pytensor variable, else ``numpy``."""
    if any(_is_symbolic(v) for v in values):
        import pytensor.tensor as pt

        return pt
    return np


def _as_float(xp: ModuleType, value: Any) -> Any:
    if xp is np:
        return np.asarray(value, dtype=np.float64)
    if _is_symbolic(value):
        return value
    return xp.as_tensor_variable(np.asarray(value, dtype=np.float64))


def _ndim(value: Any) -> int:
    return int(value.ndim) if _is_symbolic(value) else int(np.ndim(value))


def _erfc(xp: ModuleType, value: Any) -> Any:
    if xp is np:
        from scipy.special import erfc

        return erfc(value)
    return xp.erfc(value)


def _finish(value: Any, *, like: object) -> Any:
    """Give the result the kind of the main argument ``like``.

    A pytensor result stays a variable; a numeric one is an array if ``like`` is an array
    (0-d included) and a Python float if ``like`` is a number and the result is 0-d.
    """
    if _is_symbolic(value):
        return value
    array = np.asarray(value, dtype=np.float64)
    if isinstance(like, np.ndarray) or array.ndim > 0:
        return array
    return float(array)


# --------------------------------------------------------------------------------------------
# Checks on numeric (non-symbolic) inputs
# --------------------------------------------------------------------------------------------


def _check_probability(value: object, name: str) -> None:
    if _is_symbolic(value):
        return
    array = np.asarray(value, dtype=np.float64)
    bad = ~(np.isfinite(array) & (array >= 0.0) & (array <= 1.0))
    if bad.any():
        example = array[bad].flat[0]
        raise DataFormatError(
            f"argument {name!r} must hold probabilities in [0, 1], but {int(bad.sum())} of its "
            f"values are not (e.g. {example!r}); pass exp(-per-token cross-entropy), not a "
            "percentage or a log-probability"
        )


def _check_positive(
    value: object,
    name: str,
    *,
    minimum: float = 0.0,
    strict: bool = True,
    what: str = "positive numbers",
) -> None:
    if _is_symbolic(value):
        return
    array = np.asarray(value, dtype=np.float64)
    ok = np.isfinite(array) & ((array > minimum) if strict else (array >= minimum))
    if array.size == 0:
        raise DataFormatError(f"argument {name!r} is empty; give at least one value")
    if not ok.all():
        example = array[~ok].flat[0]
        raise DataFormatError(
            f"argument {name!r} must hold finite {what}, but {int((~ok).sum())} of its values "
            f"are not (e.g. {example!r}); check the values passed"
        )


def _check_per_item(value: object, name: str) -> None:
    if _ndim(value) > 1:
        raise DataFormatError(
            f"argument {name!r} must be a scalar or a 1-D array with one entry per item, not a "
            f"{_ndim(value)}-D array; flatten the items into one axis"
        )


def _normalised_weights(weights: Any, per_item: Any, per_item_name: str) -> Any:
    """Check ``weights`` against the per-item array and return them summing to one."""
    if _ndim(per_item) != 1:
        raise DataFormatError(
            f"argument 'weights' was given but {per_item_name!r} is a scalar; weights apply to a "
            f"1-D per-item {per_item_name!r} array"
        )
    if _is_symbolic(weights):
        return weights / weights.sum()
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 1 or (not _is_symbolic(per_item) and array.shape != np.shape(per_item)):
        raise DataFormatError(
            f"argument 'weights' must be a 1-D array as long as {per_item_name!r} "
            f"({np.shape(per_item)}), not of shape {array.shape}"
        )
    if not (np.isfinite(array).all() and (array >= 0).all() and array.sum() > 0):
        raise DataFormatError(
            "argument 'weights' must be finite, non-negative and not all zero (e.g. the number "
            f"of items having each {per_item_name} value)"
        )
    return array / array.sum()


# --------------------------------------------------------------------------------------------
# The per-item average shared by every map
# --------------------------------------------------------------------------------------------


def _average_over_items(
    per_item_value: Callable[[Any, Any], Any],
    p: Any,
    per_item: Any,
    weights: Any,
    *,
    xp: ModuleType,
) -> Any:
    """``per_item_value(p, x)`` for a scalar ``x``; its (weighted) mean over items for 1-D ``x``.

    The per-item axis is a new trailing axis of ``p``, so the result has ``p``'s shape.
    """
    if _ndim(per_item) == 0:
        return per_item_value(p, per_item)
    values = per_item_value(xp.expand_dims(p, -1), per_item)
    if weights is None:
        return xp.mean(values, axis=-1)
    return xp.sum(values * weights, axis=-1)


def _prepare(
    p: TensorLike,
    per_item: TensorLike,
    weights: TensorLike | None,
    *,
    per_item_name: str,
    p_name: str = "p",
    extra: tuple[object, ...] = (),
) -> tuple[ModuleType, Any, Any, Any]:
    _check_probability(p, p_name)
    _check_per_item(per_item, per_item_name)
    _check_positive(per_item, per_item_name)
    xp = _namespace(p, per_item, weights, *extra)
    normalised = None
    if weights is not None:
        normalised = _as_float(xp, _normalised_weights(weights, per_item, per_item_name))
    return xp, _as_float(xp, p), _as_float(xp, per_item), normalised


# --------------------------------------------------------------------------------------------
# Token-level forward maps (numpy or pytensor)
# --------------------------------------------------------------------------------------------


def exact_match[P: (float, npt.NDArray[Any], TensorVariable)](
    p: P, lengths: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Expected exact-match rate: every token of an item's answer must be right.

    .. math:: \mathrm{EM}(p) = \frac{1}{n} \sum_{i=1}^{n} p^{L_i}

    where ``L_i`` is the number of tokens in item ``i``'s answer and tokens are right
    independently with probability ``p``. This is the mean of powers: for mixed lengths it is
    larger than ``p ** mean(L)`` (Jensen's inequality), and less sharp in ``log N``.

    Parameters
    ----------
    p
        Per-token probability of a correct token, in [0, 1]; any shape.
    lengths
        Answer length in tokens (> 0): a scalar for every item, or a 1-D array with one entry
        per item (broadcast on a new trailing axis of ``p`` and averaged).
    weights
        Optional non-negative weight per entry of ``lengths`` (e.g. counts of items with each
        distinct length); default equal weights.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected fraction of items answered exactly right, with the shape of ``p``.

    Examples
    --------
    >>> exact_match(0.5, [1, 3])  # (0.5 + 0.125) / 2
    0.3125
    """
    xp, p_, lengths_, weights_ = _prepare(p, lengths, weights, per_item_name="lengths")
    return _finish(_average_over_items(xp.power, p_, lengths_, weights_, xp=xp), like=p)


def subset_accuracy[P: (float, npt.NDArray[Any], TensorVariable)](
    acc: P, subset_size: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Expected subset accuracy: all ``L`` independent items of a subset must be right.

    .. math:: \mathrm{SA}(a) = \frac{1}{S} \sum_{s=1}^{S} a^{L_s}

    with ``a`` the per-item accuracy and ``L_s`` the size of subset ``s``. This is
    :func:`exact_match` one level up (items in place of tokens): Schaeffer et al.'s example of a
    smooth accuracy made sharp by requiring several answers to be right together.

    Parameters
    ----------
    acc
        Probability that one item is answered right, in [0, 1]; any shape.
    subset_size
        Number of items per subset (> 0): a scalar, or a 1-D array with one entry per subset
        (averaged on a new trailing axis).
    weights
        Optional non-negative weight per entry of ``subset_size``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected fraction of subsets with every item right, with the shape of ``acc``.
    """
    xp, acc_, size_, weights_ = _prepare(
        acc, subset_size, weights, per_item_name="subset_size", p_name="acc"
    )
    return _finish(_average_over_items(xp.power, acc_, size_, weights_, xp=xp), like=acc)


def edit_distance[P: (float, npt.NDArray[Any], TensorVariable)](
    p: P, lengths: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Expected token edit distance between the model's answer and the target.

    .. math:: \mathrm{ED}(p) = \frac{1}{n} \sum_{i=1}^{n} L_i \, (1 - p)

    This is Schaeffer et al.'s *substitution-only approximation*: the answer has the target's
    length and each of its ``L_i`` tokens is wrong independently with probability ``1 - p``,
    costing one substitution; insertions and deletions are ignored. The count of wrong tokens
    (the Hamming distance) is an upper bound on the Levenshtein distance, and equal to it when
    wrong tokens are drawn from a large vocabulary. Being linear in ``L`` the map needs only the
    mean length, and it has no cliff: lower is better, in ``[0, max L]``.

    Parameters
    ----------
    p
        Per-token probability of a correct token, in [0, 1]; any shape.
    lengths
        Answer length in tokens (> 0): a scalar, or a 1-D per-item array (averaged on a new
        trailing axis).
    weights
        Optional non-negative weight per entry of ``lengths``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected number of token edits per item, with the shape of ``p``.
    """
    xp, p_, lengths_, weights_ = _prepare(p, lengths, weights, per_item_name="lengths")
    return _finish(
        _average_over_items(lambda q, length: length * (1.0 - q), p_, lengths_, weights_, xp=xp),
        like=p,
    )


def log_likelihood[P: (float, npt.NDArray[Any], TensorVariable)](
    p: P, lengths: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Expected log-likelihood of the target answer, in nats summed over its tokens.

    .. math:: \mathrm{LL}(p) = \frac{1}{n} \sum_{i=1}^{n} L_i \log p

    This is BIG-bench's ``log_likelihood`` (mean over items of the summed log-probability of the
    target). Divide by the mean length for a per-token value, ``log p = -CE``. It is ``<= 0`` and
    ``-inf`` where ``p = 0``.

    Parameters
    ----------
    p
        Per-token probability of a correct token, in [0, 1]; any shape.
    lengths
        Answer length in tokens (> 0): a scalar, or a 1-D per-item array (averaged on a new
        trailing axis).
    weights
        Optional non-negative weight per entry of ``lengths``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected summed log-probability of an item's answer, with the shape of ``p``.
    """
    xp, p_, lengths_, weights_ = _prepare(p, lengths, weights, per_item_name="lengths")
    # log(0) = -inf is the right value here, not a numerical accident.
    with np.errstate(divide="ignore"):
        log_p = xp.log(p_)
    return _finish(
        _average_over_items(lambda lp, length: length * lp, log_p, lengths_, weights_, xp=xp),
        like=p,
    )


def pass_at_k[P: (float, npt.NDArray[Any], TensorVariable)](
    p: P, lengths: TensorLike, k: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Expected pass@k: at least one of ``k`` independent samples is entirely right.

    .. math:: \mathrm{pass@}k(p) = \frac{1}{n} \sum_{i=1}^{n} \left[1 - (1 - p^{L_i})^k\right]

    computed as ``-expm1(k * log1p(-p ** L))`` so that small rates keep their precision.

    Parameters
    ----------
    p
        Per-token probability of a correct token, in [0, 1]; any shape.
    lengths
        Answer length in tokens (> 0): a scalar, or a 1-D per-item array (averaged on a new
        trailing axis).
    k
        Number of samples per item (>= 1); a scalar (it broadcasts with ``p`` if an array).
    weights
        Optional non-negative weight per entry of ``lengths``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected fraction of items solved by at least one of ``k`` samples.
    """
    if not _is_symbolic(k):
        k_array = np.asarray(k, dtype=np.float64)
        if not (np.isfinite(k_array).all() and (k_array >= 1).all()):
            raise ConfigError(f"argument 'k' must be a number of samples >= 1, not {k!r}")
    xp, p_, lengths_, weights_ = _prepare(p, lengths, weights, per_item_name="lengths", extra=(k,))
    k_ = _as_float(xp, k)

    def solved_by_k(q: Any, length: Any) -> Any:
        # log1p(-1) = -inf gives exactly 1 for p = 1; not an error.
        with np.errstate(divide="ignore"):
            return -xp.expm1(k_ * xp.log1p(-xp.power(q, length)))

    return _finish(_average_over_items(solved_by_k, p_, lengths_, weights_, xp=xp), like=p)


def expected_multiple_choice_grade[P: (float, npt.NDArray[Any], TensorVariable)](
    p_correct: P, n_choices: TensorLike, *, weights: TensorLike | None = None
) -> P:
    r"""Multiple-choice grade when the wrong choices share the remaining probability evenly.

    With probability ``q`` on the correct choice and ``(1 - q) / (n - 1)`` on each of the other
    ``n - 1``, the correct choice has the largest probability iff ``q > 1 / n``:

    .. math:: \mathrm{MCG}(q) = \frac{1}{m} \sum_{i=1}^{m}
              \begin{cases} 1 & q > 1/n_i \\ 1/n_i & q = 1/n_i \\ 0 & q < 1/n_i \end{cases}

    (at ``q = 1/n`` all choices tie; ties count ``1 / n_tied`` as in
    :func:`multiple_choice_grade`). The step is the argmax's discontinuity: a smooth ``q`` gives
    a sharp grade, while :func:`expected_brier_score` of the same ``q`` is smooth.

    Parameters
    ----------
    p_correct
        Probability the model puts on the correct choice, in [0, 1]; any shape.
    n_choices
        Number of choices (>= 2): a scalar, or a 1-D per-item array (averaged on a new trailing
        axis).
    weights
        Optional non-negative weight per entry of ``n_choices``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The grade, with the shape of ``p_correct``.
    """
    _check_positive(
        n_choices, "n_choices", minimum=2.0, strict=False, what="numbers of choices >= 2"
    )
    xp, q_, n_, weights_ = _prepare(
        p_correct, n_choices, weights, per_item_name="n_choices", p_name="p_correct"
    )

    def grade(q: Any, n: Any) -> Any:
        chance = 1.0 / n
        return xp.where(q > chance, 1.0, xp.where(xp.equal(q, chance), chance, 0.0))

    return _finish(_average_over_items(grade, q_, n_, weights_, xp=xp), like=p_correct)


def _check_brier_form(form: str) -> None:
    if form not in BRIER_FORMS:
        raise ConfigError(
            f"argument 'form' must be one of {', '.join(map(repr, BRIER_FORMS))}, not {form!r}: "
            "'mean' is BIG-bench's per-choice mean, 'sum' the summed form"
        )


def expected_brier_score[P: (float, npt.NDArray[Any], TensorVariable)](
    p_correct: P,
    n_choices: TensorLike,
    *,
    form: Literal["mean", "sum"] = "mean",
    weights: TensorLike | None = None,
) -> P:
    r"""Brier score when the wrong choices share the remaining probability evenly.

    With ``q`` on the correct choice and ``(1 - q) / (n - 1)`` on each other choice the summed
    squared error is ``(1 - q)^2 + (n - 1) ((1 - q)/(n - 1))^2``, so

    .. math:: \mathrm{BS}_{\mathrm{sum}}(q) = \frac{n}{n - 1} (1 - q)^2, \qquad
              \mathrm{BS}_{\mathrm{mean}}(q) = \frac{(1 - q)^2}{n - 1}

    averaged over items. Smooth in ``q``; lower is better.

    Parameters
    ----------
    p_correct
        Probability the model puts on the correct choice, in [0, 1]; any shape.
    n_choices
        Number of choices (>= 2): a scalar, or a 1-D per-item array (averaged on a new trailing
        axis).
    form
        ``"mean"`` (BIG-bench's ``calibration_multiple_choice_brier_score``: summed squared error
        divided by the number of choices) or ``"sum"`` (summed over choices).
    weights
        Optional non-negative weight per entry of ``n_choices``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The Brier score, with the shape of ``p_correct``.
    """
    _check_brier_form(form)
    _check_positive(
        n_choices, "n_choices", minimum=2.0, strict=False, what="numbers of choices >= 2"
    )
    xp, q_, n_, weights_ = _prepare(
        p_correct, n_choices, weights, per_item_name="n_choices", p_name="p_correct"
    )

    def brier(q: Any, n: Any) -> Any:
        squared_miss = (1.0 - q) ** 2
        return squared_miss / (n - 1.0) if form == "mean" else squared_miss * n / (n - 1.0)

    return _finish(_average_over_items(brier, q_, n_, weights_, xp=xp), like=p_correct)


def expected_thresholded_reconstruction[P: (float, npt.NDArray[Any], TensorVariable)](
    median_error: P, threshold: TensorLike, *, log_sd: TensorLike
) -> P:
    r"""Expected fraction of items reconstructed with error below a threshold.

    Assumes the per-item reconstruction errors of a model are log-normal around a median ``m``
    (which falls smoothly with scale) with log-scale spread ``s``:

    .. math:: \Pr(e < c) = \Phi\!\left(\frac{\log c - \log m}{s}\right)
              = \tfrac12 \operatorname{erfc}\!\left(-\frac{\log c - \log m}{s\sqrt2}\right)

    As ``s -> 0`` this becomes a step at ``m = c``: Schaeffer et al.'s "emergent" reconstruction
    ability made by thresholding a smooth error.

    Parameters
    ----------
    median_error
        Median per-item reconstruction error (> 0); any shape.
    threshold
        The threshold ``c`` (> 0); broadcasts with ``median_error``.
    log_sd
        Standard deviation of ``log e`` across items (> 0); broadcasts with ``median_error``.

    Returns
    -------
    float, numpy.ndarray or pytensor variable (as the first argument)
        The expected fraction of items with error below ``threshold``.
    """
    for value, name in (
        (median_error, "median_error"),
        (threshold, "threshold"),
        (log_sd, "log_sd"),
    ):
        _check_positive(value, name)
    xp = _namespace(median_error, threshold, log_sd)
    m_, c_, s_ = (_as_float(xp, v) for v in (median_error, threshold, log_sd))
    z = (xp.log(c_) - xp.log(m_)) / s_
    return _finish(0.5 * _erfc(xp, -z / math.sqrt(2.0)), like=median_error)


# --------------------------------------------------------------------------------------------
# Scoring observed outputs (numpy only)
# --------------------------------------------------------------------------------------------


def _choice_rows(choice_scores: ChoiceScores, name: str) -> list[npt.NDArray[np.float64]]:
    """One float array per item from a 2-D array or a ragged sequence of 1-D arrays."""
    if not isinstance(choice_scores, Iterable) or isinstance(choice_scores, str):
        raise DataFormatError(
            f"argument {name!r} must be a 2-D array (items x choices) or a list of 1-D arrays, "
            f"one per item, not {type(choice_scores).__name__}"
        )
    try:
        rows = [np.asarray(row, dtype=np.float64) for row in choice_scores]
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"argument {name!r} must hold numbers, one 1-D array of choices per item ({exc})"
        ) from exc
    if not rows:
        raise DataFormatError(f"argument {name!r} has no items; give at least one item")
    bad = [i for i, row in enumerate(rows) if row.ndim != 1 or row.size < 2]
    if bad:
        raise DataFormatError(
            f"argument {name!r} must give each item a 1-D array of at least 2 choices; items "
            f"{bad[:8]} do not"
        )
    return rows


def _correct_positions(correct: npt.ArrayLike, rows: list[npt.NDArray[np.float64]]) -> list[int]:
    positions = np.asarray(correct)
    if positions.ndim != 1 or len(positions) != len(rows):
        raise DataFormatError(
            f"argument 'correct' must be a 1-D array with one choice position per item "
            f"({len(rows)} items), not of shape {positions.shape}"
        )
    if not np.issubdtype(positions.dtype, np.integer):
        raise DataFormatError(
            "argument 'correct' must hold integer choice positions (0-based), not "
            f"{positions.dtype} values"
        )
    bad = [
        i
        for i, (pos, row) in enumerate(zip(positions, rows, strict=True))
        if not 0 <= pos < row.size
    ]
    if bad:
        raise DataFormatError(
            f"argument 'correct' points outside the item's choices for items {bad[:8]}; positions "
            "are 0-based indices into each item's choices"
        )
    return [int(pos) for pos in positions]


def choice_probabilities(
    choice_logprobs: ChoiceScores,
) -> npt.NDArray[np.float64] | list[npt.NDArray[np.float64]]:
    """Normalise each item's choice log-probabilities into probabilities (a softmax).

    BIG-bench's Brier score uses the probabilities of the choices renormalised to sum to one
    over the item's choices; this gives them from the item table's ``choice_logprobs``.

    Parameters
    ----------
    choice_logprobs
        Log-probabilities (nats, ``-inf`` allowed), a 2-D array (items x choices) or a list of
        1-D arrays (one per item, ragged).

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        Probabilities in the input's layout (2-D array in, 2-D array out).
    """
    rows = _choice_rows(choice_logprobs, "choice_logprobs")
    normalised = []
    for i, row in enumerate(rows):
        if np.isnan(row).any() or (row == np.inf).any() or not np.isfinite(row).any():
            raise DataFormatError(
                f"argument 'choice_logprobs' has NaN, +inf or only -inf values in item {i}; "
                "log-probabilities must be finite or -inf with at least one finite"
            )
        shifted = np.exp(row - row.max())
        normalised.append(shifted / shifted.sum())
    if isinstance(choice_logprobs, np.ndarray) and choice_logprobs.ndim == 2:
        return np.stack(normalised)
    return normalised


def multiple_choice_grade(choice_probs: ChoiceScores, correct: npt.ArrayLike) -> float:
    r"""Fraction of items whose correct choice has the largest score.

    .. math:: \mathrm{MCG} = \frac{1}{n} \sum_{i=1}^{n}
              \frac{[c_i \in T_i]}{|T_i|}, \qquad T_i = \arg\max_j \pi_{ij}

    Ties: an item whose largest score is shared by ``|T_i|`` choices counts ``1 / |T_i|`` if the
    correct choice is among them (the expected grade under a uniformly random tie-break), and 0
    otherwise. Ties are exact equality. Any order-preserving transform of the scores gives the
    same grade, so log-probabilities may be passed as they are.

    Parameters
    ----------
    choice_probs
        Per-choice probabilities (or log-probabilities): a 2-D array (items x choices) or a list
        of 1-D arrays, one per item, for items with different numbers of choices.
    correct
        0-based position of the correct choice of each item.

    Returns
    -------
    float
        The grade, in [0, 1].

    Examples
    --------
    >>> multiple_choice_grade([[0.7, 0.3], [0.4, 0.4, 0.2], [0.1, 0.9]], [0, 1, 0])
    0.5
    """
    rows = _choice_rows(choice_probs, "choice_probs")
    positions = _correct_positions(correct, rows)
    bad = [i for i, row in enumerate(rows) if np.isnan(row).any() or (row == np.inf).any()]
    if bad:
        raise DataFormatError(
            f"argument 'choice_probs' has NaN or +inf values in items {bad[:8]}; give finite "
            "probabilities or log-probabilities"
        )
    credit = []
    for row, position in zip(rows, positions, strict=True):
        best = row == row.max()
        credit.append(best[position] / best.sum())
    return float(np.mean(credit))


def brier_score(
    choice_probs: ChoiceScores,
    correct: npt.ArrayLike,
    *,
    form: Literal["mean", "sum"] = "mean",
) -> float:
    r"""Multiple-choice Brier score of per-choice probabilities against one-hot targets.

    .. math:: \mathrm{BS}_{\mathrm{sum}} = \frac{1}{n} \sum_{i=1}^{n} \sum_{j=1}^{J_i}
              (\pi_{ij} - [j = c_i])^2, \qquad
              \mathrm{BS}_{\mathrm{mean}} = \frac{1}{n} \sum_{i=1}^{n} \frac{1}{J_i}
              \sum_{j=1}^{J_i} (\pi_{ij} - [j = c_i])^2

    ``form="mean"`` is BIG-bench's ``calibration_multiple_choice_brier_score`` (range 0..1);
    ``form="sum"`` is the common summed form (range 0..2). Lower is better.

    Parameters
    ----------
    choice_probs
        Per-choice probabilities, each item's summing to one: a 2-D array (items x choices) or a
        list of 1-D arrays, one per item. Use :func:`choice_probabilities` to get them from
        log-probabilities.
    correct
        0-based position of the correct choice of each item.
    form
        ``"mean"`` or ``"sum"``, see above.

    Returns
    -------
    float
        The Brier score.

    Examples
    --------
    >>> brier_score([[0.5, 0.5]], [0], form="sum")  # 0.25 + 0.25
    0.5
    """
    _check_brier_form(form)
    rows = _choice_rows(choice_probs, "choice_probs")
    positions = _correct_positions(correct, rows)
    bad = [
        i
        for i, row in enumerate(rows)
        if not (
            np.isfinite(row).all()
            and (row >= 0).all()
            and (row <= 1).all()
            and abs(row.sum() - 1.0) <= _PROBABILITY_SUM_ATOL
        )
    ]
    if bad:
        raise DataFormatError(
            f"argument 'choice_probs' is not a probability vector summing to 1 for items "
            f"{bad[:8]}; normalise log-probabilities with choice_probabilities() first"
        )
    per_item = []
    for row, position in zip(rows, positions, strict=True):
        target = np.zeros_like(row)
        target[position] = 1.0
        squared_error = float(np.sum((row - target) ** 2))
        per_item.append(squared_error / row.size if form == "mean" else squared_error)
    return float(np.mean(per_item))


def thresholded_reconstruction(
    errors: npt.ArrayLike, threshold: float
) -> float | npt.NDArray[np.float64]:
    r"""Fraction of items whose reconstruction error is strictly below a threshold.

    .. math:: R_c = \frac{1}{n} \sum_{i=1}^{n} [e_i < c]

    Schaeffer et al.'s metric for manufacturing an "emergent" ability in vision autoencoders.
    See :func:`expected_thresholded_reconstruction` for its smooth expected value.

    Parameters
    ----------
    errors
        Per-item reconstruction errors (>= 0, e.g. squared L2 distance); items on the last axis,
        any leading axes (e.g. models) are kept.
    threshold
        The threshold ``c`` (> 0).

    Returns
    -------
    float or numpy.ndarray
        The fraction, with the shape of ``errors`` less its last axis.
    """
    array = np.asarray(errors, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise DataFormatError(
            "argument 'errors' must hold per-item errors on its last axis, at least one item"
        )
    _check_positive(array, "errors", strict=False, what="non-negative errors")
    _check_positive(threshold, "threshold")
    fraction = np.mean(array < threshold, axis=-1)
    return float(fraction) if fraction.ndim == 0 else fraction


def chance_level(
    n_choices: npt.ArrayLike,
    *,
    metric: Literal["multiple_choice_grade", "brier_mean", "brier_sum"] = "multiple_choice_grade",
) -> float:
    r"""A guesser's score on a multiple-choice task: uniform probability over each item's choices.

    ============================ ==================================
    ``metric``                   value per item with ``n`` choices
    ============================ ==================================
    ``multiple_choice_grade``    ``1 / n``
    ``brier_mean``               ``(n - 1) / n**2``
    ``brier_sum``                ``(n - 1) / n``
    ============================ ==================================

    averaged over items when ``n_choices`` is a per-item array.

    Parameters
    ----------
    n_choices
        Number of choices (>= 2), a scalar or one per item.
    metric
        Which metric's chance level.

    Returns
    -------
    float
        The chance level.
    """
    _check_positive(
        n_choices, "n_choices", minimum=2.0, strict=False, what="numbers of choices >= 2"
    )
    n = np.asarray(n_choices, dtype=np.float64)
    per_item: dict[str, Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]] = {
        "multiple_choice_grade": lambda m: 1.0 / m,
        "brier_mean": lambda m: (m - 1.0) / m**2,
        "brier_sum": lambda m: (m - 1.0) / m,
    }
    if metric not in per_item:
        raise ConfigError(
            f"argument 'metric' must be one of {', '.join(map(repr, per_item))}, not {metric!r}"
        )
    return float(np.mean(per_item[metric](n)))
