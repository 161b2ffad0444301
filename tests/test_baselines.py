"""The field's extrapolation baselines: fits recover their parameters, intervals cover.

The sigmoid's bootstrap interval is checked on curves that are *not* the sigmoid's own
noise-free story: per-model deviations on the logit scale plus binomial item noise, the
largest size held out; coverage must be near nominal from both sides and the intervals
narrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from emergestats.baselines import LogSigmoid, PowerLawLoss, predict_baseline
from emergestats.errors import ConfigError


def _row(task: str, i: int, params: float, metric: str, kind: str, score: float, **extra):
    return {
        "task": task,
        "subtask": task,
        "family": "f",
        "model": f"m{i}",
        "params": params,
        "shots": 0,
        "metric": metric,
        "metric_kind": kind,
        "score": score,
        "n_items": extra.pop("n_items", 500),
        "chance": extra.pop("chance", np.nan),
        "source": "test",
        **extra,
    }


def test_the_sigmoid_and_the_power_law_recover_noise_free_parameters() -> None:
    x = np.linspace(-1.5, 1.5, 7)
    truth = LogSigmoid(a=-0.4, b=1.7, floor=0.25)
    fitted = LogSigmoid.fit(x, truth(x), 0.25)
    assert fitted.a == pytest.approx(-0.4, abs=1e-4)
    assert fitted.b == pytest.approx(1.7, abs=1e-4)
    loss = PowerLawLoss(u=0.3, alpha=0.8, irreducible=0.6)
    recovered = PowerLawLoss.fit(x, loss(x))
    assert recovered.alpha == pytest.approx(0.8, rel=0.02)
    assert recovered.irreducible == pytest.approx(0.6, abs=0.02)
    # three sizes: no irreducible term is fitted
    assert PowerLawLoss.fit(x[:3], loss(x[:3])).irreducible == 0.0


def test_sigmoid_intervals_cover_the_held_out_size_near_nominal_and_stay_narrow() -> None:
    rng = np.random.default_rng(3)
    params = np.logspace(7, 10, 6)
    rows = []
    for s in range(24):
        a, b = rng.normal(0.0, 1.0), rng.uniform(0.5, 2.5)
        logit = a + b * (np.log10(params) - 8.5) + rng.normal(0.0, 0.1, len(params))
        scores = rng.binomial(500, 0.25 + 0.75 * special.expit(logit)) / 500
        for i, (n, y) in enumerate(zip(params, scores, strict=True)):
            rows.append(_row(f"t{s}", i, n, "acc", "multiple_choice_grade", y, chance=0.25))
    table = pd.DataFrame(rows)
    largest = table["params"] == params[-1]
    pred = predict_baseline(table[~largest], table[largest], "sigmoid", n_boot=100)
    inside = (pred["score"] >= pred["q05"]) & (pred["score"] <= pred["q95"])
    width = pred["q95"] - pred["q05"]
    assert 0.7 <= inside.mean() <= 1.0
    assert width.median() < 0.2
    assert (pred["q05"] <= pred["q50"]).all() and (pred["q50"] <= pred["q95"]).all()


def test_two_step_goes_through_the_task_loss() -> None:
    # a curve whose score is a sigmoid of a power-law loss: two-step predicts the largest
    # size, the sigmoid in scale (which cannot bend the same way) is the baseline beside it
    params = np.logspace(7, 11, 7)
    x = np.log10(params) - 9.0
    loss = 0.5 + np.exp(0.4 - 0.9 * x)
    score = special.expit(3.0 * (1.2 - loss))
    rows = []
    for i, (n, ell, y) in enumerate(zip(params, loss, score, strict=True)):
        rows.append(_row("t", i, n, "acc", "exact_match", y, n_items=100_000, chance=0.0))
        rows.append(_row("t", i, n, "ll", "log_likelihood", -ell))
    table = pd.DataFrame(rows)
    largest = table["params"] == params[-1]
    pred = predict_baseline(table[~largest], table[largest], "two_step", n_boot=50)
    acc = pred[pred["metric"] == "acc"].iloc[0]
    assert acc["reason"] == ""
    assert acc["q50"] == pytest.approx(score[-1], abs=0.02)
    ll = pred[pred["metric"] == "ll"].iloc[0]
    assert np.isnan(ll["q50"]) and "not log_likelihood" in ll["reason"]


def test_rows_a_baseline_cannot_predict_come_back_with_a_reason() -> None:
    rows = [_row("t", i, n, "acc", "accuracy", 0.3 + 0.1 * i) for i, n in enumerate([1e7, 1e8])]
    rows += [
        _row("u", i, n, "acc", "accuracy", 0.3 + 0.1 * i) for i, n in enumerate([1e7, 1e8, 1e9])
    ]
    table = pd.DataFrame(rows)
    targets = pd.DataFrame(
        [_row("t", 9, 1e10, "acc", "accuracy", 0.7), _row("u", 9, 1e10, "acc", "accuracy", 0.7)]
    )
    sigmoid = predict_baseline(table, targets, "sigmoid", n_boot=20)
    assert "fewer than 3 fitted sizes" in sigmoid.loc[0, "reason"]
    assert sigmoid.loc[1, "reason"] == "" and np.isfinite(sigmoid.loc[1, "q50"])
    two_step = predict_baseline(table, targets, "two_step", n_boot=20)
    assert "no task loss" in two_step.loc[1, "reason"]
    assert len(two_step) == len(targets)  # nothing dropped


def test_bad_settings_are_refused() -> None:
    table = pd.DataFrame([_row("t", 0, 1e7, "acc", "accuracy", 0.3)])
    with pytest.raises(ConfigError, match="unknown baseline"):
        predict_baseline(table, table, "spline")
    with pytest.raises(ConfigError, match="n_boot"):
        predict_baseline(table, table, n_boot=5)
