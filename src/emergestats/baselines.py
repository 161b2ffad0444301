"""The field's extrapolation baselines, with bootstrap prediction intervals.

Two ways people predict a larger model's benchmark score from smaller ones, fitted per series
(task, subtask, family, shots, metric) on the same points the Bayesian model sees, so that
:func:`emergestats.mirage.extrapolation.extrapolation_benchmark` can set them beside
:meth:`emergestats.inference.Fit.predict_table`:

``sigmoid``
    A least-squares sigmoid in log scale (the usual practice; ObsScaling, Ruan et al. 2024,
    fit sigmoids of this kind to benchmark scores):
    ``score = floor + (1 - floor) * expit(a + b * (log10 N - c))``, ``c`` the mean fitted
    ``log10 N``, ``floor`` the row's ``chance`` (0 where it has none: generated answers).
    Two free parameters, so at least three sizes.
``two_step``
    Scale -> task loss -> score (Bhagia et al. 2024, "Establishing task scaling laws via
    compute-efficient model ladders"): step 1 fits the task loss of the same outputs as a power
    law ``loss = E + exp(u - alpha * (log10 N - c))`` by least squares on ``log(loss - E)``
    (``E >= 0`` is fitted where four or more sizes allow it, else 0); step 2 fits
    ``score = floor + (1 - floor) * expit(k * (L0 - loss))`` to the observed (loss, score)
    pairs. The task loss is the curve's log-likelihood (``-score``, nats) or, without one, its
    Brier score. Bhagia et al. also fit the sigmoid's floor and ceiling; with three to seven
    sizes per curve they are fixed at ``chance`` and 1 here.

Intervals: a residual bootstrap (Efron & Tibshirani 1993, ch. 9) of each least-squares step
(residuals inflated by ``sqrt(n / (n - p))`` for the parameters fitted), refitted
``n_boot`` times; each replicate's prediction gets a resampled residual of its own (the
misfit a new point shows) and the binomial sampling noise of the target row's ``n_items``,
so ``[q05, q95]`` is a 90% *prediction* interval of the observed score, like the model's.

The functions take and return canonical evaluation tables (:mod:`emergestats.data.table`);
every target row comes back, with ``reason`` saying why where a baseline cannot predict it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from scipy import optimize, special

from emergestats.data.table import SERIES_KEY
from emergestats.errors import ConfigError

__all__ = [
    "BASELINES",
    "LOSS_KINDS",
    "SCORE_KINDS",
    "LogSigmoid",
    "PowerLawLoss",
    "predict_baseline",
]

#: The baselines :func:`predict_baseline` knows.
BASELINES: Final[tuple[str, ...]] = ("sigmoid", "two_step")
#: Metric kinds the baselines predict (scores in 0..1 with a floor at chance).
SCORE_KINDS: Final[tuple[str, ...]] = (
    "accuracy",
    "exact_match",
    "greedy_match",
    "multiple_choice_grade",
)
#: Metric kinds read as the task loss of step 1 of ``two_step``, in order of preference.
LOSS_KINDS: Final[tuple[str, ...]] = ("log_likelihood", "brier")
MIN_SIZES: Final[int] = 3
_EPS = 1e-6


@dataclass(frozen=True)
class LogSigmoid:
    """``floor + (1 - floor) * expit(a + b * x)`` with ``x`` centred by the fit."""

    a: float
    b: float
    floor: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.floor + (1.0 - self.floor) * special.expit(self.a + self.b * x)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, floor: float) -> LogSigmoid:
        """Least squares in the score's units, started from a logit-linear regression."""
        share = np.clip((y - floor) / (1.0 - floor), 0.01, 0.99)
        slope, intercept = np.polyfit(x, special.logit(share), 1) if np.ptp(x) > 0 else (0.0, 0.0)

        def residuals(theta: np.ndarray) -> np.ndarray:
            return cls(theta[0], theta[1], floor)(x) - y

        # bounded so that a flat series (every score at the floor) cannot run off to infinity
        start = np.clip([intercept, slope], -30.0, 30.0)
        result = optimize.least_squares(residuals, start, bounds=([-30.0, -30.0], [30.0, 30.0]))
        return cls(float(result.x[0]), float(result.x[1]), floor)


@dataclass(frozen=True)
class PowerLawLoss:
    """``E + exp(u - alpha * x)``: a task loss falling as a power law of scale."""

    u: float
    alpha: float
    irreducible: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.irreducible + np.exp(self.u - self.alpha * x)

    @classmethod
    def fit(cls, x: np.ndarray, loss: np.ndarray) -> PowerLawLoss:
        """Log-linear least squares; ``E`` in ``[0, min loss)`` fitted from four sizes on."""

        def line(irreducible: float) -> PowerLawLoss:
            log_excess = np.log(np.maximum(loss - irreducible, _EPS))
            slope, intercept = np.polyfit(x, log_excess, 1)
            return cls(float(intercept), float(-slope), irreducible)

        if len(x) < 4:
            return line(0.0)
        best = optimize.minimize_scalar(
            lambda e: float(np.sum((line(e)(x) - loss) ** 2)),
            bounds=(0.0, 0.99 * max(float(np.min(loss)), _EPS)),
            method="bounded",
        )
        return line(float(best.x))


def _inflate(residuals: np.ndarray, n_params: int) -> np.ndarray:
    n = len(residuals)
    return residuals * np.sqrt(n / (n - n_params)) if n > n_params else residuals


def _floor(rows: pd.DataFrame) -> float:
    chance = pd.to_numeric(rows["chance"], errors="coerce").to_numpy(dtype=float)
    chance = chance[np.isfinite(chance)]
    return float(chance[0]) if len(chance) else 0.0


def _predictive(
    means: np.ndarray, residuals: np.ndarray, n_items: float, rng: np.random.Generator
) -> np.ndarray:
    """Replicate means plus a resampled residual and the binomial noise of ``n_items``."""
    draws = np.clip(means + rng.choice(residuals, size=means.shape), 0.0, 1.0)
    if np.isfinite(n_items) and n_items > 0:
        draws = rng.binomial(int(n_items), draws) / int(n_items)
    return draws


def _sigmoid_draws(
    x: np.ndarray,
    y: np.ndarray,
    floor: float,
    x_new: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicate means at ``x_new`` (``n_boot x len(x_new)``) and the residuals."""
    fitted = LogSigmoid.fit(x, y, floor)
    residuals = _inflate(y - fitted(x), 2)
    means = np.empty((n_boot, len(x_new)))
    for b in range(n_boot):
        y_star = np.clip(fitted(x) + rng.choice(residuals, size=len(x)), 0.0, 1.0)
        means[b] = LogSigmoid.fit(x, y_star, floor)(x_new)
    return means, residuals


def _two_step_draws(
    x: np.ndarray,
    y: np.ndarray,
    x_loss: np.ndarray,
    loss: np.ndarray,
    floor: float,
    x_new: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1 on every size with a loss; step 2 on the sizes with both a loss and a score."""
    position = {value: i for i, value in enumerate(x_loss.tolist())}
    both = np.array([value in position for value in x.tolist()])
    if both.sum() < MIN_SIZES:
        raise _CannotPredict(f"fewer than {MIN_SIZES} sizes with both the score and a task loss")
    pairs = np.array([position[value] for value in x[both].tolist()])
    scores = y[both]
    step1 = PowerLawLoss.fit(x_loss, loss)
    # step 2 is a sigmoid falling in the loss: LogSigmoid of -loss
    step2 = LogSigmoid.fit(-loss[pairs], scores, floor)
    excess = step1(x_loss) - step1.irreducible
    log_residuals = _inflate(
        np.log(np.maximum(loss - step1.irreducible, _EPS)) - np.log(excess),
        3 if len(x_loss) >= 4 else 2,
    )
    residuals = _inflate(scores - step2(-loss[pairs]), 2)
    means = np.empty((n_boot, len(x_new)))
    for b in range(n_boot):
        loss_star = step1.irreducible + excess * np.exp(rng.choice(log_residuals, len(x_loss)))
        fitted_scores = step2(-loss_star[pairs])
        scores_star = np.clip(fitted_scores + rng.choice(residuals, len(pairs)), 0.0, 1.0)
        step1_star = PowerLawLoss.fit(x_loss, loss_star)
        step2_star = LogSigmoid.fit(-loss_star[pairs], scores_star, floor)
        means[b] = step2_star(-step1_star(x_new))
    return means, residuals


class _CannotPredict(Exception):
    """A series the baseline cannot predict; the message becomes the row's ``reason``."""


def _task_loss(curve_rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """``(log10 N, loss, metric)`` of the curve's preferred loss series."""
    for kind in LOSS_KINDS:
        candidates = curve_rows[curve_rows["metric_kind"] == kind]
        if candidates.empty:
            continue
        metric = sorted(candidates["metric"].unique())[0]
        series = candidates[candidates["metric"] == metric].sort_values("params")
        score = series["score"].to_numpy(dtype=float)
        loss = -score if kind == "log_likelihood" else score
        return np.log10(series["params"].to_numpy(dtype=float)), loss, metric
    raise _CannotPredict("no task loss (log-likelihood or Brier) in the curve's fitted rows")


def predict_baseline(
    fit_rows: pd.DataFrame,
    targets: pd.DataFrame,
    method: str = "sigmoid",
    *,
    n_boot: int = 1000,
    level: float = 0.9,
    random_seed: int | None = 0,
) -> pd.DataFrame:
    """Predict every row of ``targets`` from the rows of the same series in ``fit_rows``.

    Parameters
    ----------
    fit_rows
        Canonical evaluation rows the baseline is fitted on (other sizes of the same series;
        for ``two_step`` also the curve's log-likelihood or Brier rows).
    targets
        Rows to predict (any sizes; in the benchmark the largest models).
    method
        One of :data:`BASELINES`.
    n_boot
        Bootstrap refits per series.
    level
        Central probability of the interval ``[q_lo, q_hi]`` (reported as ``q05``/``q95``
        at the default 0.9).
    random_seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        ``targets`` with ``mean``, ``q05``, ``q50``, ``q95`` (NaN where the baseline cannot
        predict the row) and ``reason`` (empty where it can): a metric kind outside
        :data:`SCORE_KINDS`, fewer than three fitted sizes, no task loss.

    Examples
    --------
    >>> import emergestats as es
    >>> table = es.datasets.load("ladder")
    >>> big = table["params"] == table["params"].max()
    >>> pred = predict_baseline(table[~big], table[big & (table["metric"] == "accuracy")])
    >>> bool(pred["q05"].iloc[0] <= pred["q95"].iloc[0])
    True
    """
    if method not in BASELINES:
        raise ConfigError(f"unknown baseline {method!r}; choose one of {', '.join(BASELINES)}")
    if n_boot < 20:
        raise ConfigError(f"n_boot must be >= 20 for quantiles, not {n_boot}")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), not {level}")
    rng = np.random.default_rng(random_seed)
    out = targets.reset_index(drop=True).copy()
    for column in ("mean", "q05", "q50", "q95"):
        out[column] = np.nan
    out["reason"] = ""
    curve_key = list(SERIES_KEY[:-1])
    fitted_by_series = {
        key: group for key, group in fit_rows.groupby(list(SERIES_KEY), sort=False, dropna=False)
    }
    fitted_by_curve = {
        key: group for key, group in fit_rows.groupby(curve_key, sort=False, dropna=False)
    }
    tails = ((1.0 - level) / 2.0, 0.5, (1.0 + level) / 2.0)
    for key, group in out.groupby(list(SERIES_KEY), sort=False, dropna=False):
        index = group.index
        kind = str(group["metric_kind"].iloc[0])
        try:
            if kind not in SCORE_KINDS:
                raise _CannotPredict(f"the baselines predict {', '.join(SCORE_KINDS)}, not {kind}")
            series = fitted_by_series.get(key)
            if series is None or series["params"].nunique() < MIN_SIZES:
                raise _CannotPredict(f"fewer than {MIN_SIZES} fitted sizes of the series")
            series = series.sort_values("params")
            x_all = np.log10(series["params"].to_numpy(dtype=float))
            centre = float(x_all.mean())
            x = x_all - centre
            y = series["score"].to_numpy(dtype=float)
            x_new = np.log10(group["params"].to_numpy(dtype=float)) - centre
            floor = _floor(series)
            if method == "sigmoid":
                means, residuals = _sigmoid_draws(x, y, floor, x_new, n_boot, rng)
            else:
                curve = fitted_by_curve[tuple(key[: len(curve_key)])]
                x_loss, loss, _ = _task_loss(curve)
                if len(np.unique(x_loss)) < MIN_SIZES:
                    raise _CannotPredict(f"fewer than {MIN_SIZES} sizes with a task loss")
                means, residuals = _two_step_draws(
                    x, y, x_loss - centre, loss, floor, x_new, n_boot, rng
                )
        except _CannotPredict as why:
            out.loc[index, "reason"] = f"{method}: {why}"
            continue
        n_items = pd.to_numeric(group["n_items"], errors="coerce").to_numpy(dtype=float)
        for j, row in enumerate(index):
            draws = _predictive(means[:, j], residuals, n_items[j], rng)
            out.loc[row, "mean"] = float(draws.mean())
            out.loc[row, ["q05", "q50", "q95"]] = np.quantile(draws, tails)
    return out
