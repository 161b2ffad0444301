"""A test-side simulator of benchmark curves, written in plain numpy.

It imports nothing from ``emergestats`` (the tests check its output with ``validate``), so the
recovery tests fit data that was generated independently of the package's own forward maps and
simulator: a shared bug in a metric map cannot cancel out between simulation and fit.

Generative story (one curve = one task, family ``sim``, 0 shots; ``x = log N - log N_ref``)
------------------------------------------------------------------------------------------
* Truths: ``(a_j, log b_j)`` drawn from a correlated bivariate normal population.
* Latent per-token cross-entropy ``CE_j(N) = exp(a_j - b_j x)``; per-token probability of the
  right token ``p = exp(-CE)``. A broken truth changes slope near ``x*``: from ``b`` to
  ``b_after`` over a few tenths of an e-fold (a smoothed hinge).
* Each task has a fixed set of items with answer lengths ``L_i`` in ``1..max_length`` (the same
  items are scored at every size, as in BIG-bench).
* Exact match at one size: the point's success rate is ``q = mean_i p ** L_i``; optionally
  overdispersed between points by ``q' ~ Beta(kappa q, kappa (1 - q))`` (prompt/format noise the
  item count does not explain); each item is then right with probability
  ``p ** L_i * q' / q`` (a common multiplier, so the expected rate stays ``q`` up to the cap of
  each item's probability at 1); the score is the fraction right.
* Log-likelihood (BIG-bench's ``log_likelihood``: mean over items of the summed log-probability
  of the target): item ``i`` scores ``-L_i * CE * m_i`` with ``m_i`` log-normal with mean 1 (items
  differ in difficulty; drawn afresh at each size, so the noise is independent between points and
  the expected score is exactly ``-mean(L) * CE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

FAMILY = "sim"
SHOTS = 0
SOURCE = "tests/simulate_independent.py"


@dataclass(frozen=True)
class Population:
    """The population curves are drawn from (``a`` and ``log b`` jointly normal)."""

    a_mean: float = -0.7
    a_sd: float = 0.6
    log_b_mean: float = float(np.log(0.35))
    log_b_sd: float = 0.3
    correlation: float = -0.3


@dataclass(frozen=True)
class SimulatedBenchmark:
    """A simulated evaluation table and the truths behind it.

    Attributes
    ----------
    table
        Canonical evaluation table (columns of ``emergestats.data.table``, plus ``target_tokens``).
    truth
        One row per curve: ``task, subtask, family, shots, a, b`` and, for broken truths,
        ``log_n_break`` (natural log of N*), ``b_after``, ``break_width`` and ``level_drop``.
    lengths
        Answer length of every item of each curve, keyed by ``(task, subtask)``.
    n_ref
        The reference scale ``N_ref`` the truths ``a`` are defined at.
    """

    table: pd.DataFrame
    truth: pd.DataFrame
    lengths: dict[tuple[str, str], np.ndarray]
    n_ref: float


def draw_population(
    n_curves: int, *, population: Population, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(a, b)`` for ``n_curves`` curves."""
    cov_ab = population.correlation * population.a_sd * population.log_b_sd
    cov = np.array([[population.a_sd**2, cov_ab], [cov_ab, population.log_b_sd**2]])
    draws = rng.multivariate_normal([population.a_mean, population.log_b_mean], cov, n_curves)
    return draws[:, 0], np.exp(draws[:, 1])


def draw_answer_lengths(n_items: int, *, max_length: int, rng: np.random.Generator) -> np.ndarray:
    """Answer lengths of one task's items: centred on a task-specific typical length."""
    centre = rng.uniform(1.0, max_length)
    lengths = np.rint(centre + rng.normal(0.0, 1.2, size=n_items))
    return np.clip(lengths, 1, max_length).astype(np.int64)


def log_ce_smooth(x: np.ndarray, *, a: float, b: float) -> np.ndarray:
    """``log CE = a - b x``."""
    return a - b * x


def log_ce_broken(
    x: np.ndarray,
    *,
    a: float,
    b: float,
    x_break: float,
    b_after: float,
    width: float,
    level_drop: float = 0.0,
) -> np.ndarray:
    """A broken power law: slope ``b`` well before ``x_break``, ``b_after`` well past it.

    The change of slope is spread over about ``x_break +/- 2 width`` e-folds of N
    (``width * log(1 + exp((x - x_break) / width))``, a smoothed hinge); past the break
    ``log CE`` is also lower by ``level_drop`` (a logistic step of the same width). ``width = 0``
    is a sharp kink (and step).
    """
    if width == 0:
        hinge = np.maximum(x - x_break, 0.0)
        step = (x > x_break).astype(float)
    else:
        hinge = width * np.logaddexp(0.0, (x - x_break) / width)
        step = 1.0 / (1.0 + np.exp(-(x - x_break) / width))
    return a - b * x - (b_after - b) * hinge - level_drop * step


def exact_match_score(
    ce: float,
    lengths: np.ndarray,
    *,
    concentration: float | None,
    rng: np.random.Generator,
) -> float:
    """Fraction of items right at one size (see the module docstring)."""
    per_item = np.exp(-ce * lengths)
    rate = float(per_item.mean())
    if concentration is not None and 0.0 < rate < 1.0:
        perturbed = rng.beta(concentration * rate, concentration * (1.0 - rate))
        # one multiplier for all items keeps the mean at `perturbed`; cap at probability 1
        per_item = np.minimum(per_item * (perturbed / rate), 1.0)
    return float((rng.random(lengths.size) < per_item).mean())


def log_likelihood_score(
    ce: float, lengths: np.ndarray, *, item_sd: float, rng: np.random.Generator
) -> float:
    """Mean over items of the summed log-probability of the answer (nats, <= 0)."""
    difficulty = rng.lognormal(-0.5 * item_sd**2, item_sd, size=lengths.size)
    return float(np.mean(-lengths * ce * difficulty))


def _rows_for_curve(
    *,
    task: str,
    params: np.ndarray,
    log_ce: np.ndarray,
    lengths: np.ndarray,
    metrics: Sequence[str],
    em_concentration: float | None,
    ll_item_sd: float,
    rng: np.random.Generator,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size, log_ce_at_size in zip(params, log_ce, strict=True):
        ce = float(np.exp(log_ce_at_size))
        common = {
            "task": task,
            "subtask": task,
            "family": FAMILY,
            "model": f"sim-{size:.3g}",
            "params": float(size),
            "shots": SHOTS,
            "n_items": int(lengths.size),
            "source": SOURCE,
            "target_tokens": float(lengths.mean()),
        }
        if "exact_match" in metrics:
            score = exact_match_score(ce, lengths, concentration=em_concentration, rng=rng)
            rows.append(
                common
                | {
                    "metric": "exact_str_match",
                    "metric_kind": "exact_match",
                    "score": score,
                    "chance": 0.0,
                }
            )
        if "log_likelihood" in metrics:
            score = log_likelihood_score(ce, lengths, item_sd=ll_item_sd, rng=rng)
            rows.append(
                common
                | {
                    "metric": "log_likelihood",
                    "metric_kind": "log_likelihood",
                    "score": score,
                    "chance": np.nan,
                }
            )
    return rows


def _as_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    columns = [
        "task",
        "subtask",
        "family",
        "model",
        "params",
        "shots",
        "metric",
        "metric_kind",
        "score",
        "n_items",
        "chance",
        "source",
        "target_tokens",
    ]
    table = pd.DataFrame(rows).loc[:, columns]
    for column in ("task", "subtask", "family", "model", "metric", "metric_kind", "source"):
        table[column] = table[column].astype(object)
    table["n_items"] = table["n_items"].astype("Int64")
    table["shots"] = table["shots"].astype(np.int64)
    return table


def simulate_smooth(
    *,
    n_tasks: int = 20,
    params: Sequence[float] | np.ndarray | None = None,
    n_ref: float = 1e9,
    n_items_range: tuple[int, int] = (200, 1000),
    max_length: int = 8,
    metrics: Sequence[str] = ("exact_match", "log_likelihood"),
    em_concentration: float | None = None,
    ll_item_sd: float = 0.5,
    population: Population | None = None,
    seed: int = 0,
) -> SimulatedBenchmark:
    """Simulate ``n_tasks`` smooth curves evaluated at ``params`` (default 10 sizes 1e7..1e11).

    Parameters
    ----------
    n_tasks
        Number of curves (one task each).
    params
        Model sizes; all curves are evaluated at all of them.
    n_ref
        Reference size: ``a`` is ``log CE`` at ``N = n_ref``.
    n_items_range
        Item counts are drawn uniformly from this inclusive range, once per task.
    max_length
        Answer lengths lie in ``1..max_length``.
    metrics
        Which of ``exact_match`` and ``log_likelihood`` to emit.
    em_concentration
        Beta concentration of between-point overdispersion of exact match (``None``: none).
    ll_item_sd
        Log-scale sd of item difficulty in the log-likelihood.
    population
        Population of the truths.
    seed
        Seed of everything.
    """
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 1e11, 10) if params is None else np.asarray(params, dtype=float)
    x = np.log(sizes) - np.log(n_ref)
    a, b = draw_population(n_tasks, population=population or Population(), rng=rng)
    rows: list[dict[str, object]] = []
    truth: list[dict[str, object]] = []
    lengths: dict[tuple[str, str], np.ndarray] = {}
    for j in range(n_tasks):
        task = f"task_{j:03d}"
        n_items = int(rng.integers(n_items_range[0], n_items_range[1] + 1))
        item_lengths = draw_answer_lengths(n_items, max_length=max_length, rng=rng)
        lengths[(task, task)] = item_lengths
        rows += _rows_for_curve(
            task=task,
            params=sizes,
            log_ce=log_ce_smooth(x, a=float(a[j]), b=float(b[j])),
            lengths=item_lengths,
            metrics=metrics,
            em_concentration=em_concentration,
            ll_item_sd=ll_item_sd,
            rng=rng,
        )
        truth.append(
            {
                "task": task,
                "subtask": task,
                "family": FAMILY,
                "shots": SHOTS,
                "a": float(a[j]),
                "b": float(b[j]),
            }
        )
    return SimulatedBenchmark(_as_table(rows), pd.DataFrame(truth), lengths, n_ref)


def simulate_broken(
    *,
    log_n_breaks: Sequence[float],
    a: float = -0.2,
    a_sd: float = 0.3,
    b_before: float = 0.05,
    b_after: float = 0.8,
    slope_sd: float = 0.2,
    break_width: float = 0.3,
    level_drops: Sequence[float] | None = None,
    params: Sequence[float] | np.ndarray | None = None,
    n_ref: float = 1e9,
    n_items: int = 500,
    max_length: int = 8,
    metrics: Sequence[str] = ("exact_match", "log_likelihood"),
    ll_item_sd: float = 0.5,
    seed: int = 0,
) -> SimulatedBenchmark:
    """Simulate one curve per entry of ``log_n_breaks`` with a clear change of slope there.

    Before the break ``log CE`` is nearly flat (slope about ``b_before``); past it, it falls
    with slope about ``b_after``: a genuine emergence of the per-token ability. Each curve's
    ``a`` (``log CE`` at ``n_ref`` on the pre-break line) is drawn from ``Normal(a, a_sd)`` and
    its two slopes are ``b_before`` and ``b_after`` times one log-normal factor of log-scale sd
    ``slope_sd``, so the curves differ as a population does. ``break_width`` (e-folds of N) sets
    how sharp the change is (see :func:`log_ce_broken`); ``level_drops`` (default all 0) adds a
    drop of ``log CE`` across each curve's break, on top of the change of slope. Default sizes:
    12 from 1e7 to 1e11.
    """
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 1e11, 12) if params is None else np.asarray(params, dtype=float)
    x = np.log(sizes) - np.log(n_ref)
    rows: list[dict[str, object]] = []
    truth: list[dict[str, object]] = []
    lengths: dict[tuple[str, str], np.ndarray] = {}
    drops = [0.0] * len(log_n_breaks) if level_drops is None else list(level_drops)
    for j, log_n_break in enumerate(log_n_breaks):
        task = f"broken_{j:02d}"
        item_lengths = draw_answer_lengths(n_items, max_length=max_length, rng=rng)
        lengths[(task, task)] = item_lengths
        x_break = float(log_n_break) - np.log(n_ref)
        curve_a = float(rng.normal(a, a_sd))
        slope_factor = float(rng.lognormal(0.0, slope_sd))
        before, after = b_before * slope_factor, b_after * slope_factor
        rows += _rows_for_curve(
            task=task,
            params=sizes,
            log_ce=log_ce_broken(
                x,
                a=curve_a,
                b=before,
                x_break=x_break,
                b_after=after,
                width=break_width,
                level_drop=drops[j],
            ),
            lengths=item_lengths,
            metrics=metrics,
            em_concentration=None,
            ll_item_sd=ll_item_sd,
            rng=rng,
        )
        truth.append(
            {
                "task": task,
                "subtask": task,
                "family": FAMILY,
                "shots": SHOTS,
                "a": curve_a,
                "b": before,
                "log_n_break": float(log_n_break),
                "b_after": after,
                "break_width": break_width,
                "level_drop": drops[j],
            }
        )
    return SimulatedBenchmark(_as_table(rows), pd.DataFrame(truth), lengths, n_ref)
