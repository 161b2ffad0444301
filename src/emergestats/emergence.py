r"""Classic jump statistics of a score-versus-scale curve.

These are the point statistics with which BIG-bench (Srivastava et al. 2022) and Schaeffer,
Miranda & Koyejo (2023) call a curve "emergent". With the curve's points sorted by scale,
``y_1, ..., y_m`` their scores and ``d_i = y_{i+1} - y_i`` the adjacent steps:

.. math::

    I(y) = \operatorname{sign}(\arg\max_i y_i - \arg\min_i y_i)
           \,(\max_i y_i - \min_i y_i)

    \text{linearity} = \frac{I(y)}{\sqrt{\operatorname{mean}_i d_i^2}}, \qquad
    \text{breakthroughness} = \frac{I(y)}{\sqrt{\operatorname{median}_i d_i^2}}

Schaeffer et al.'s *emergence score* is the breakthroughness formula. A smooth, steady rise over
``m`` points has linearity near ``m - 1`` and breakthroughness near it too; a rise made in one
step has linearity ``sqrt(m - 1)`` and a breakthroughness far larger (infinite when more than
half the steps are flat). ``max_jump`` is the largest adjacent increase ``max_i d_i``, in score
units.

Conventions (the same in every function here)
---------------------------------------------
- **Order.** Points are sorted by scale; ``argmax``/``argmin`` are positions in that order and
  take the *first* (smallest-scale) point among tied maxima or minima, as ``numpy.argmax`` does.
- **Equal scales.** Rows with the same scale (two models of one size, or one model evaluated
  twice) are one point of the curve: their scores are averaged before anything else, so a
  difference between same-size models never counts as a jump with scale. ``n_points`` counts
  distinct scales.
- **Too few points.** Linearity, breakthroughness and emergence score need at least
  :data:`MIN_POINTS` (3) distinct scales and are ``NaN`` below that (with two points they are
  always ``+-1`` and say nothing); ``max_jump`` needs 2.
- **Flat curve.** When all scores are equal, ``I = 0`` and every step is 0. The three ratios are
  ``0`` by convention (no change, hence no jump), not ``0 / 0``; ``max_jump`` is 0.
- **Zero median step.** When more than half of the adjacent steps are exactly 0 but the curve
  does change, the median squared step is 0 and breakthroughness and emergence score are
  ``+inf`` (or ``-inf`` for a fall): the limit of a pure step. Linearity stays finite.
- **Scale invariance.** Linearity, breakthroughness and emergence score are unchanged by a
  positive affine map of the scores, so computing them on stored fractions gives the same values
  as BIG-bench's normalised 0..100 scores (for ``high_score > low_score``); ``max_jump`` is in
  the units of the scores given.

:func:`jump_statistics` returns all of them for one curve with a ``reason`` saying why any is
``NaN``, ``0`` or infinite; the single statistics (:func:`linearity`, :func:`breakthroughness`,
:func:`emergence_score`, :func:`max_jump`, :func:`signed_range`, and the variants
:func:`capped_breakthroughness` (finite: the typical step floored at the score's resolution) and
:func:`max_jump_per_decade`) take scores with any leading axes
(e.g. posterior-predictive replicates, shape ``(draw, point)``) and return one value per curve.
:func:`jump_table` computes one row per curve of a canonical evaluation table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from emergestats.data.table import drop_intermediate_checkpoints
from emergestats.errors import DataFormatError, EmptyInputError, format_rows

__all__ = [
    "JUMP_TABLE_KEY",
    "LOWER_IS_BETTER_KINDS",
    "MIN_POINTS",
    "JumpStatistics",
    "breakthroughness",
    "capped_breakthroughness",
    "emergence_score",
    "jump_statistics",
    "jump_table",
    "linearity",
    "max_jump",
    "max_jump_per_decade",
    "signed_range",
]

#: Fewest distinct scales for which linearity, breakthroughness and emergence score are defined.
MIN_POINTS: Final[int] = 3

#: Metric kinds (``metric_kind`` of the canonical table) for which a lower score is better;
#: :func:`jump_table` negates them so that improvement is positive.
LOWER_IS_BETTER_KINDS: Final[frozenset[str]] = frozenset({"brier", "edit_distance"})

#: Default grouping of :func:`jump_table`: one curve per task, subtask, family, shots and metric.
JUMP_TABLE_KEY: Final[tuple[str, ...]] = ("task", "subtask", "family", "shots", "metric")

type JumpValue = float | npt.NDArray[np.float64]

_STATISTIC_COLUMNS: Final[tuple[str, ...]] = (
    "n_points",
    "breakthroughness",
    "linearity",
    "emergence_score",
    "max_jump",
    "max_jump_from",
    "max_jump_at",
    "reason",
)


@dataclass(frozen=True)
class JumpStatistics:
    """Jump statistics of one score-versus-scale curve.

    Attributes
    ----------
    n_points
        Number of distinct scales (rows of equal scale are averaged into one point).
    breakthroughness
        ``I / sqrt(median d_i^2)`` (BIG-bench).
    linearity
        ``I / sqrt(mean d_i^2)`` (BIG-bench).
    emergence_score
        Schaeffer et al.'s emergence score; the breakthroughness formula, so the same value.
    max_jump
        Largest adjacent increase ``max_i d_i`` (negative if the curve only falls).
    max_jump_from, max_jump_at
        The scales of the two points of that step: the jump happens between them and is first
        seen at ``max_jump_at``. ``NaN`` with ``max_jump``.
    reason
        ``None`` when every statistic is a finite ratio; otherwise one sentence saying which
        statistics are ``NaN``, ``0`` or infinite, and why.
    """

    n_points: int
    breakthroughness: float
    linearity: float
    emergence_score: float
    max_jump: float
    max_jump_from: float
    max_jump_at: float
    reason: str | None


def _curve(scale: npt.ArrayLike, score: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], Any]:
    """Check a curve; return its distinct scales (sorted) and scores averaged per scale."""
    x = np.asarray(scale, dtype=np.float64)
    y = np.asarray(score, dtype=np.float64)
    if x.ndim != 1:
        raise DataFormatError(
            f"argument 'scale' must be 1-D (one value per point), not of shape {x.shape}"
        )
    if y.ndim == 0 or y.shape[-1] != x.size:
        raise DataFormatError(
            f"argument 'score' must have the points on its last axis, {x.size} of them as in "
            f"'scale', but has shape {y.shape}"
        )
    for values, name in ((x, "scale"), (y, "score")):
        if not np.isfinite(values).all():
            raise DataFormatError(
                f"argument {name!r} has {int((~np.isfinite(values)).sum())} NaN or infinite "
                "values; drop or fix those points first"
            )
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if distinct.size == x.size:
        return distinct, y[..., np.argsort(x, kind="stable")]
    # Average the scores of equal-scale rows: a (rows x distinct scales) averaging matrix keeps
    # any leading (replicate) axes of the scores.
    averaging = np.zeros((x.size, distinct.size))
    averaging[np.arange(x.size), inverse] = 1.0 / counts[inverse]
    return distinct, y @ averaging


def _as_result(values: Any) -> JumpValue:
    array = np.asarray(values, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def _signed_range(y: Any) -> Any:
    position_gap = np.argmax(y, axis=-1) - np.argmin(y, axis=-1)
    return np.sign(position_gap) * (np.max(y, axis=-1) - np.min(y, axis=-1))


def _normalised_range(y: Any, average: Any, resolution: Any = 0.0) -> Any:
    """``I(y) / sqrt(max(average(d^2), resolution^2))`` (conventions of the module docstring).

    ``resolution`` (default 0: the classic statistics) floors the typical step at the smallest
    change the score can show (see :func:`capped_breakthroughness`).
    """
    if y.shape[-1] < MIN_POINTS:
        return np.full(y.shape[:-1], np.nan)
    numerator = _signed_range(y)
    floor = np.square(np.asarray(resolution, dtype=np.float64))
    denominator = np.sqrt(np.maximum(average(np.diff(y, axis=-1) ** 2, axis=-1), floor))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    # A flat curve (I = 0, every step 0) has no jump: 0 rather than 0/0.
    return np.where(numerator == 0, 0.0, ratio)


def signed_range(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    r"""BIG-bench's ``I(y)``: the score range, signed by whether the maximum follows the minimum.

    .. math:: I(y) = \operatorname{sign}(\arg\max_i y_i - \arg\min_i y_i)
              (\max_i y_i - \min_i y_i)

    Parameters
    ----------
    scale
        The scale of each point (e.g. parameter count), 1-D; any order.
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.

    Returns
    -------
    float or numpy.ndarray
        ``I(y)`` per curve; ``NaN`` for a curve without points.
    """
    _, y = _curve(scale, score)
    if y.shape[-1] == 0:
        return _as_result(np.full(y.shape[:-1], np.nan))
    return _as_result(_signed_range(y))


def linearity(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    r"""BIG-bench's linearity: the signed range over the root-mean-square adjacent step.

    .. math:: L = \frac{I(y)}{\sqrt{\frac{1}{m-1} \sum_{i=1}^{m-1} (y_{i+1} - y_i)^2}}

    Parameters
    ----------
    scale
        The scale of each point, 1-D; any order (sorted here; equal scales averaged).
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.

    Returns
    -------
    float or numpy.ndarray
        Linearity per curve: ``NaN`` below 3 distinct scales, ``0`` for a flat curve.

    Examples
    --------
    >>> round(linearity([1, 10, 100, 1000], [0.1, 0.2, 0.3, 0.4]), 12)  # steady rise: 0.3 / 0.1
    3.0
    """
    _, y = _curve(scale, score)
    return _as_result(_normalised_range(y, np.mean))


def breakthroughness(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    r"""BIG-bench's breakthroughness: the signed range over the root-median-square adjacent step.

    .. math:: B = \frac{I(y)}{\sqrt{\operatorname{median}_{i} (y_{i+1} - y_i)^2}}

    Large when the change is made in a few steps and the typical step is small.

    Parameters
    ----------
    scale
        The scale of each point, 1-D; any order (sorted here; equal scales averaged).
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.

    Returns
    -------
    float or numpy.ndarray
        Breakthroughness per curve: ``NaN`` below 3 distinct scales, ``0`` for a flat curve,
        ``+-inf`` when more than half of the steps are flat but the curve changes.

    Examples
    --------
    >>> breakthroughness([1, 10, 100, 1000], [0.0, 0.0, 0.0, 0.5])  # median squared step is 0
    inf
    """
    _, y = _curve(scale, score)
    return _as_result(_normalised_range(y, np.median))


def emergence_score(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    r"""Schaeffer et al.'s emergence score (their eq. for the BIG-bench meta-analysis).

    .. math:: \frac{\operatorname{sign}(\arg\max_i y_i - \arg\min_i y_i)
              (\max_i y_i - \min_i y_i)}{\sqrt{\operatorname{Median}(\{(y_i - y_{i-1})^2\}_i)}}

    This is the breakthroughness formula; it is kept under its own name so that analyses can say
    which paper's statistic they report. Same conventions as :func:`breakthroughness`.
    """
    return breakthroughness(scale, score)


def capped_breakthroughness(
    scale: npt.ArrayLike, score: npt.ArrayLike, resolution: npt.ArrayLike
) -> JumpValue:
    r"""Breakthroughness with the typical step floored at the score's resolution: never infinite.

    .. math:: B_\delta = \frac{I(y)}{\sqrt{\max(\operatorname{median}_i d_i^2, \delta^2)}}

    The rule for the flat-steps infinity of :func:`breakthroughness`: a step smaller than
    ``delta``, the smallest change the score can show (``1 / n_items`` for a proportion of
    ``n_items`` items), cannot be told from no step, so the median squared step is never taken
    below ``delta^2``. A curve that is flat at 0 and then jumps by ``J`` gets ``J / delta``
    (finite, larger with more items) instead of ``inf``; where the median step exceeds
    ``delta`` the value equals :func:`breakthroughness`. It is not affine invariant: ``delta``
    is in the score's units.

    Parameters
    ----------
    scale
        The scale of each point, 1-D; any order (sorted here; equal scales averaged).
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.
    resolution
        ``delta > 0`` in score units; a scalar, or one value per curve (broadcast against the
        leading axes of ``score``).

    Returns
    -------
    float or numpy.ndarray
        Capped breakthroughness per curve: ``NaN`` below 3 distinct scales, ``0`` for a flat
        curve.

    Examples
    --------
    >>> capped_breakthroughness([1, 10, 100, 1000], [0.0, 0.0, 0.0, 0.5], 0.01)
    50.0
    """
    delta = np.asarray(resolution, dtype=np.float64)
    if not (np.all(np.isfinite(delta)) and np.all(delta > 0)):
        raise DataFormatError(
            f"argument 'resolution' must be positive and finite (a score step), not {delta!r}"
        )
    _, y = _curve(scale, score)
    return _as_result(_normalised_range(y, np.median, delta))


def max_jump_per_decade(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    """The largest adjacent increase per decade of scale, ``max_i d_i / log10(N_{i+1} / N_i)``.

    :func:`max_jump` divided, step by step, by the step's width in decades, so that an uneven
    spacing of sizes does not make a wide step look like a jump. Scales must be positive.

    Parameters
    ----------
    scale
        The scale of each point (> 0), 1-D; any order (sorted here; equal scales averaged).
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.

    Returns
    -------
    float or numpy.ndarray
        Score units per decade, per curve; ``NaN`` below 2 distinct scales.

    Examples
    --------
    >>> round(max_jump_per_decade([1e8, 1e9, 1e11], [0.1, 0.2, 0.6]), 12)  # .1 / 1, .4 / 2
    0.2
    """
    x, y = _curve(scale, score)
    if y.shape[-1] < 2:
        return _as_result(np.full(y.shape[:-1], np.nan))
    if np.any(x <= 0):
        raise DataFormatError("argument 'scale' must be positive for a jump per decade")
    return _as_result(np.max(np.diff(y, axis=-1) / np.diff(np.log10(x)), axis=-1))


def max_jump(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpValue:
    """The largest adjacent increase of the curve, ``max_i (y_{i+1} - y_i)``, in score units.

    Negative when the curve only falls. :func:`jump_statistics` also gives where it happens.

    Parameters
    ----------
    scale
        The scale of each point, 1-D; any order (sorted here; equal scales averaged).
    score
        The scores, points on the last axis; leading axes (e.g. replicates) are kept.

    Returns
    -------
    float or numpy.ndarray
        The largest step per curve; ``NaN`` below 2 distinct scales.

    Examples
    --------
    >>> max_jump([3, 1, 2], [0.9, 0.1, 0.2])  # sorted: 0.1, 0.2, 0.9
    0.7
    """
    _, y = _curve(scale, score)
    if y.shape[-1] < 2:
        return _as_result(np.full(y.shape[:-1], np.nan))
    return _as_result(np.max(np.diff(y, axis=-1), axis=-1))


def _reason(y: npt.NDArray[np.float64], breakthrough: float) -> str | None:
    n_points = y.size
    if n_points == 0:
        return "no points: every statistic is NaN"
    if n_points == 1:
        return "only 1 distinct scale: every statistic is NaN (no step between sizes)"
    if n_points < MIN_POINTS:
        return (
            "only 2 distinct scales: breakthroughness, linearity and emergence score need at "
            "least 3 and are NaN; max_jump is the single step"
        )
    if np.all(y == y[0]):
        return "all scores are equal: no change with scale, so every statistic is 0"
    if np.isinf(breakthrough):
        return (
            "more than half of the adjacent steps are flat: the median squared step is 0, so "
            "breakthroughness and emergence score are infinite (a pure step)"
        )
    return None


def jump_statistics(scale: npt.ArrayLike, score: npt.ArrayLike) -> JumpStatistics:
    """All jump statistics of one curve, with the reason for any degenerate value.

    Parameters
    ----------
    scale
        The scale of each point (e.g. parameter count), 1-D; any order. Points of equal scale
        are averaged into one (see the module docstring).
    score
        The scores, 1-D, one per entry of ``scale``.

    Returns
    -------
    JumpStatistics
        ``n_points``, ``breakthroughness``, ``linearity``, ``emergence_score``, ``max_jump``,
        ``max_jump_from``, ``max_jump_at`` and ``reason``.

    Raises
    ------
    DataFormatError
        If the arrays are not 1-D of equal length, or hold NaN or infinite values.

    Examples
    --------
    >>> stats = jump_statistics([1e8, 1e9, 1e10, 1e11], [0.0, 0.0, 0.0, 0.5])
    >>> stats.max_jump, stats.max_jump_at, stats.breakthroughness
    (0.5, 100000000000.0, inf)
    """
    if np.ndim(score) != 1:
        raise DataFormatError(
            f"argument 'score' of jump_statistics must be 1-D, not {np.ndim(score)}-D; use "
            "breakthroughness(), linearity() or max_jump() for replicates"
        )
    x, y = _curve(scale, score)
    breakthrough = float(_normalised_range(y, np.median))
    if y.size >= 2:
        steps = np.diff(y)
        largest = int(np.argmax(steps))
        jump, jump_from, jump_at = float(steps[largest]), float(x[largest]), float(x[largest + 1])
    else:
        jump = jump_from = jump_at = float("nan")
    return JumpStatistics(
        n_points=int(y.size),
        breakthroughness=breakthrough,
        linearity=float(_normalised_range(y, np.mean)),
        emergence_score=breakthrough,
        max_jump=jump,
        max_jump_from=jump_from,
        max_jump_at=jump_at,
        reason=_reason(y, breakthrough),
    )


def jump_table(
    table: pd.DataFrame,
    *,
    by: Sequence[str] = JUMP_TABLE_KEY,
    scale: str = "params",
    orient: bool = True,
) -> pd.DataFrame:
    """Jump statistics of every curve of a canonical evaluation table, one row per curve.

    Parameters
    ----------
    table
        An evaluation table (see :mod:`emergestats.data.table`); it needs the columns in ``by``,
        ``scale``, ``score`` and, when ``orient``, ``metric_kind``.
    by
        Columns whose combination defines one curve. The default keeps metrics apart.
    scale
        Column to order the points by (``params``; or ``flops``, ``tokens``, ...: any column
        that grows with model size). Rows of equal scale within a curve are averaged; where a
        ``step`` column holds several training checkpoints of a (family, size), only the last
        is used (:func:`~emergestats.data.table.drop_intermediate_checkpoints`, with a counted
        warning), so a size is not the average of its checkpoints.
    orient
        If true (default), scores of metric kinds in :data:`LOWER_IS_BETTER_KINDS` (``brier``,
        ``edit_distance``) are negated before computing, so that for every metric a positive
        breakthroughness, linearity and ``max_jump`` mean *improvement* with scale and the
        values of different metrics of one task can be compared; ``max_jump`` of a Brier score
        is then its largest adjacent *decrease*. BIG-bench's normalised score,
        ``100 (score - low) / (high - low)``, is likewise higher-is-better. If false, the
        statistics are computed on the scores as stored.

    Returns
    -------
    pandas.DataFrame
        One row per curve, sorted by ``by``: the ``by`` columns; ``metric_kind`` (when the table
        has it and it is not in ``by``); ``orientation`` (``-1`` where scores were negated, else
        ``1``); ``n_rows`` (table rows of the curve); then ``n_points``, ``breakthroughness``,
        ``linearity``, ``emergence_score``, ``max_jump``, ``max_jump_from``, ``max_jump_at`` and
        ``reason`` as in :class:`JumpStatistics`.

    Raises
    ------
    DataFormatError
        If a needed column is missing, ``scale`` or ``score`` has missing or non-finite values
        (named by row), or one curve mixes metric kinds while ``orient`` is true.
    EmptyInputError
        If the table has no rows.
    """
    by = list(by)
    if len(table) == 0:
        raise EmptyInputError("the evaluation table is empty; jump_table needs at least one row")
    needed = [*by, scale, "score"] + (["metric_kind"] if orient else [])
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        hint = (
            "; pass orient=False to compute on scores as stored"
            if missing == ["metric_kind"]
            else ""
        )
        raise DataFormatError(
            f"jump_table needs column(s) {', '.join(map(repr, missing))}, which the table lacks"
            f"{hint}",
            column=missing[0],
        )
    rows = table.reset_index(drop=True)
    if {"family", "params"} <= set(rows.columns):
        rows = drop_intermediate_checkpoints(rows, analysis="jump_table")  # keeps row labels
    for column in (scale, "score"):
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = rows.index[~np.isfinite(values)].to_numpy()
        if bad.size:
            raise DataFormatError(
                f"column {column!r} is missing, non-numeric or not finite in "
                f"{format_rows(bad.tolist())}; every point of a curve needs a finite {column}",
                column=column,
                rows=bad.tolist(),
            )
    with_kind = "metric_kind" in rows.columns and "metric_kind" not in by
    records: list[dict[str, Any]] = []
    for key, curve in rows.groupby(by, sort=True, dropna=False):
        orientation = 1
        kind: object = None
        if "metric_kind" in rows.columns:
            kinds = curve["metric_kind"].unique()
            if orient and len(kinds) > 1:
                raise DataFormatError(
                    f"the curve {dict(zip(by, key, strict=True))} mixes metric kinds "
                    f"{sorted(map(str, kinds))}; add 'metric' to `by` or pass orient=False",
                    column="metric_kind",
                    rows=curve.index.tolist(),
                )
            # A curve mixing kinds (only possible with orient=False) gets no kind.
            kind = kinds[0] if len(kinds) == 1 else None
            if orient and kind in LOWER_IS_BETTER_KINDS:
                orientation = -1
        statistics = jump_statistics(
            curve[scale].to_numpy(dtype=float), orientation * curve["score"].to_numpy(dtype=float)
        )
        record: dict[str, Any] = dict(zip(by, key, strict=True))
        if with_kind:
            record["metric_kind"] = kind
        record["orientation"] = orientation
        record["n_rows"] = len(curve)
        record.update(asdict(statistics))
        records.append(record)
    columns = [
        *by,
        *(["metric_kind"] if with_kind else []),
        "orientation",
        "n_rows",
        *_STATISTIC_COLUMNS,
    ]
    out = pd.DataFrame.from_records(records, columns=columns)
    for column in by:
        out[column] = out[column].astype(rows[column].dtype)
    for column in ("orientation", "n_rows", "n_points"):
        out[column] = out[column].astype(np.int64)
    # Text columns come from the records, not the frame: pandas would turn None into NaN.
    for column in ("metric_kind", "reason") if with_kind else ("reason",):
        out[column] = pd.Series([r[column] for r in records], dtype=object, index=out.index)
    return out
