"""Recovery and calibration of the Bayesian core on independently simulated data (slow).

The data come from ``tests/simulate_independent.py`` (plain numpy, no package code), so a bug in
the package's forward maps cannot cancel out between simulation and fit. Every test here samples
for real (4 chains x 1000 draws after 500 tuning steps; 500 draws for the broken model), with
fixed seeds; each fit is made once per module and shared.

Measured with the seeds below (default sampler nutpie; core as of 2026-11-26 11:40; recorded so
that a change is noticed; the asserts are the honest ranges, not these values):

* recovery, 20 curves x 10 sizes, exact match (answer lengths 1..8) + log-likelihood, 200-1000
  items: the 90% intervals cover the true ``a`` for 18 of 20 curves and the true ``b`` for 19
  of 20 (pooled 37/40 = 92.5%); posterior sd of ``a`` ~0.007 and of ``b`` ~0.002 (median),
  max R-hat 1.004, min bulk ESS 3100, no divergences. (With numpyro and the first priors:
  18/20 and 18/20.)
* cross-metric prediction, fitted on log-likelihood alone: the 90% predictive intervals of exact
  match contain the held-back observed value at 200 of 200 points, but they are wide (median
  width 0.26): without a count metric the beta-binomial concentration is drawn from its prior.
  With the fitted latent and binomial noise alone the coverage was 93% at median width 0.05.
* broken truth (8 curves, 4 with a change of slope only, 4 also with a drop of level): the 90%
  interval of ``log_n_break`` covers the true ``log N*`` for 6 of 8 curves (the two misses are
  level-drop curves, 0.02-0.03 e-folds outside intervals 0.23 wide); mean error +0.03, largest
  0.14 e-folds; max R-hat 1.016 at 4 x 500 draws. With the earlier half-normal
  ``break_level`` prior: 4-5 of 8, mean error +0.14.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from emergestats.data.table import validate
from simulate_independent import SimulatedBenchmark, simulate_broken, simulate_smooth

pytestmark = [
    pytest.mark.slow,
    # These measurements belong to the superseded measurement model (beta-binomial counts, no
    # item difficulty, no cell deviations) and the old simulator, which shared that model's
    # assumptions. Re-validating recovery, coverage and LOO on emergestats.simulation is the
    # open part of issue 6; until then they would measure a model the package no longer fits.
    pytest.mark.skip(
        reason="measured on the superseded model; re-validation on emergestats.simulation "
        "is open (issue 6)"
    ),
]

#: Draws per chain: 1000 where R-hat is held to the package's own 1.01 (sampling is the cheap
#: part of these fits; compilation dominates), 500 for the broken model.
DRAWS = 1000
BROKEN_DRAWS = 500
TUNE = 500
CHAINS = 4
#: Log N* of the broken truths: inside the sizes 1e7..1e11 (log 16.1..25.3), far enough from the
#: ends that each curve has at least three of its 12 sizes on either side of the break *and*
#: outside its transition (more than two widths, 0.6 e-folds, away): log N* in [18.4, 23.05].
#: Nearer the end the data cannot tell a late break with a level drop from an earlier one
#: without: a break at 23.5 gave a bimodal posterior (modes 22.65 and 23.5, R-hat 1.06). The
#: first four change slope only (0.05 -> 0.8); the last four also drop ``log CE`` by LEVEL_DROP.
SLOPE_BREAKS = (18.5, 20.0, 21.5, 23.0)
LEVEL_BREAKS = (19.0, 20.5, 22.0, 22.75)
LEVEL_DROP = 0.7


def _fit(
    data: SimulatedBenchmark, table: pd.DataFrame, *, model: str, seed: int, draws: int = DRAWS
) -> Any:
    from emergestats.inference import fit

    return fit(
        validate(table),
        model=model,
        draws=draws,
        tune=TUNE,
        chains=CHAINS,
        random_seed=seed,
        n_ref=data.n_ref,
        lengths=data.lengths,
    )


def _with_truth(curves: pd.DataFrame, truth: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """Rows of ``Fit.curves()`` for one parameter, joined to the true value by curve key."""
    rows = curves.loc[curves["parameter"] == parameter]
    key = ["task", "subtask", "family", "shots"]
    merged = rows.merge(
        truth.loc[:, [*key, parameter]].rename(columns={parameter: "truth"}),
        on=key,
        how="inner",
        validate="one_to_one",
    )
    assert len(merged) == len(truth), "every simulated curve must appear once in Fit.curves()"
    return merged


def _covered(rows: pd.DataFrame) -> np.ndarray:
    return ((rows["q05"] <= rows["truth"]) & (rows["truth"] <= rows["q95"])).to_numpy()


# --------------------------------------------------------------------------------------------
# smooth truth: 20 tasks x 10 sizes


@pytest.fixture(scope="module")
def smooth_data() -> SimulatedBenchmark:
    # mild between-point overdispersion of exact match (beta concentration 300) exercises the
    # beta-binomial without dominating the item-count noise
    return simulate_smooth(n_tasks=20, em_concentration=300.0, seed=11)


@pytest.fixture(scope="module")
def smooth_fit(smooth_data: SimulatedBenchmark) -> Any:
    return _fit(smooth_data, smooth_data.table, model="smooth", seed=12)


def test_simulated_table_is_canonical(smooth_data: SimulatedBenchmark) -> None:
    table = validate(smooth_data.table)
    # 20 curves x 10 sizes x 2 metrics
    assert len(table) == 400
    assert set(table["metric_kind"]) == {"exact_match", "log_likelihood"}
    lengths = np.concatenate(list(smooth_data.lengths.values()))
    assert lengths.min() == 1 and lengths.max() == 8
    n_items = table.groupby("task")["n_items"].first()
    assert n_items.between(200, 1000).all()


def test_smooth_fit_converged(smooth_fit: Any) -> None:
    curves = smooth_fit.curves()
    ab = curves.loc[curves["parameter"].isin(["a", "b"])]
    assert len(ab) == 40
    assert ab["r_hat"].max() <= 1.01
    assert ab["ess_bulk"].min() >= 400


def test_smooth_recovery_interval_coverage(
    smooth_fit: Any, smooth_data: SimulatedBenchmark
) -> None:
    curves = smooth_fit.curves()
    a_rows = _with_truth(curves, smooth_data.truth, "a")
    b_rows = _with_truth(curves, smooth_data.truth, "b")
    covered_a, covered_b = _covered(a_rows), _covered(b_rows)
    pooled = np.concatenate([covered_a, covered_b]).mean()
    # nominal 90%; 40 correlated intervals: 80%..98% is a real two-sided check (too narrow
    # intervals fail the lower bound, intervals that are uselessly wide the upper one)
    assert 0.80 <= pooled <= 0.98, (covered_a.mean(), covered_b.mean())
    assert covered_a.mean() >= 0.75
    assert covered_b.mean() >= 0.75


def test_smooth_recovery_is_informative(smooth_fit: Any, smooth_data: SimulatedBenchmark) -> None:
    # coverage alone passes for a posterior equal to the prior; the data must pin the curves
    curves = smooth_fit.curves()
    for parameter, population_sd in (("a", 0.6), ("b", 0.1)):
        rows = _with_truth(curves, smooth_data.truth, parameter)
        assert rows["sd"].median() < 0.25 * population_sd, parameter
        assert np.corrcoef(rows["mean"], rows["truth"])[0, 1] > 0.95, parameter


# --------------------------------------------------------------------------------------------
# cross-metric prediction: fit the log-likelihood, predict exact match


@pytest.fixture(scope="module")
def cross_data() -> SimulatedBenchmark:
    # no extra overdispersion: a fit that never sees exact match cannot learn it
    return simulate_smooth(n_tasks=20, em_concentration=None, seed=21)


@pytest.fixture(scope="module")
def loglik_fit(cross_data: SimulatedBenchmark) -> Any:
    table = cross_data.table
    loglik_rows = table.loc[table["metric_kind"] == "log_likelihood"]
    return _fit(cross_data, loglik_rows, model="smooth", seed=22)


def test_cross_metric_prediction_covers_held_back_exact_match(
    loglik_fit: Any, cross_data: SimulatedBenchmark
) -> None:
    table = cross_data.table
    exact = table.loc[table["metric_kind"] == "exact_match"]
    scales = np.sort(exact["params"].unique())
    curves = loglik_fit.curves().drop_duplicates("curve")
    curve_of_task = dict(zip(curves["task"], curves["curve"], strict=True))
    n_items = exact.groupby("task")["n_items"].first()
    # a fit without any count metric has no data on the beta-binomial concentration: predict
    # says so and draws it from its prior
    with pytest.warns(UserWarning, match="no data on 'concentration'"):
        prediction = loglik_fit.predict(
            scales,
            metrics=("exact_match",),
            n_items={curve_of_task[task]: int(n) for task, n in n_items.items()},
            lengths=cross_data.lengths,
            random_seed=23,
        )["exact_match"]
    low = prediction.quantile(0.05, dim=("chain", "draw"))
    high = prediction.quantile(0.95, dim=("chain", "draw"))
    inside, width = [], []
    for task, scale, score in zip(
        exact["task"].to_numpy(),
        exact["params"].to_numpy(float),
        exact["score"].to_numpy(float),
        strict=True,
    ):
        where = {"curve": curve_of_task[task], "scale": scale}
        lo, hi = float(low.sel(where)), float(high.sel(where))
        inside.append(lo <= score <= hi)
        width.append(hi - lo)
    assert len(inside) == 200
    assert np.mean(inside) >= 0.85
    # and the intervals say something (exact match spans 0..1 across these points). They are
    # wide: with no count metric in the fit, the beta-binomial concentration comes from its prior
    # (median 30), which inflates the item-count variance ~17-fold at 500 items; with binomial
    # noise alone the median width would be about 0.05
    assert np.median(width) < 0.30


# --------------------------------------------------------------------------------------------
# broken truth, broken model


@pytest.fixture(scope="module")
def broken_data() -> SimulatedBenchmark:
    return simulate_broken(
        log_n_breaks=SLOPE_BREAKS + LEVEL_BREAKS,
        level_drops=[0.0] * len(SLOPE_BREAKS) + [LEVEL_DROP] * len(LEVEL_BREAKS),
        seed=31,
    )


@pytest.fixture(scope="module")
def broken_fit(broken_data: SimulatedBenchmark) -> Any:
    return _fit(broken_data, broken_data.table, model="broken", seed=32, draws=BROKEN_DRAWS)


def test_broken_model_locates_breaks(broken_fit: Any, broken_data: SimulatedBenchmark) -> None:
    rows = _with_truth(broken_fit.curves(), broken_data.truth, "log_n_break")
    # 500 draws per chain on a harder posterior than the smooth one: R-hat to 1.02 here (the
    # benchmark holds the smooth model to 1.01 at 1000 draws)
    assert rows["r_hat"].max() <= 1.02
    # every break is located to within half an e-fold of N, with a 90% interval under 1.5
    # e-folds (less than two size steps of 0.84; the prior spans 9.2). A slope-only break is the
    # vaguer kind: measured widths 0.7-1.1 for those, 0.2-0.3 with a level drop
    assert (rows["mean"] - rows["truth"]).abs().max() < 0.5
    assert (rows["q95"] - rows["q05"]).max() < 1.5


def test_broken_model_break_intervals_are_calibrated(
    broken_fit: Any, broken_data: SimulatedBenchmark
) -> None:
    rows = _with_truth(broken_fit.curves(), broken_data.truth, "log_n_break")
    covered = _covered(rows)
    # nominal 90% of 8 curves: at least 6 covered (P(<= 5 of 8) = 4% for calibrated intervals).
    # With the earlier half-normal prior on break_level (>= 0) only 4-5 of 8 were covered: the
    # level absorbed curvature and pushed every slope-only break later (mean error +0.14)
    assert covered.sum() >= 6, rows.loc[:, ["task", "truth", "q05", "mean", "q95"]]
