"""Cross-metric prediction on the package's ladder: fit log-likelihood alone, predict the rest.

The ladder's every metric is computed from the same class probabilities of the same 540 test
images (``emergestats.ladder``). Fitted on the log-likelihood rows only (with their reported
standard errors), the smooth model must predict accuracy, Brier (mean and summed) and subset
accuracy (L = 2..32) of all 12 sizes: inside their 90% predictive intervals for >= 85% of rows,
and with intervals that are narrow, not [0, 1]. Coverage and width are both asserted.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import emergestats as es


@pytest.mark.slow
def test_ladder_log_likelihood_alone_predicts_every_other_metric() -> None:
    table = es.datasets.load("ladder")
    fitted_rows = table[table["metric"] == "log_likelihood"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # the ladder preset's sampler settings (one curve: target_accept 0.95, low-rank mass
        # matrix; emergestats.analysis.LADDER_SETTINGS)
        fit = es.fit(
            fitted_rows,
            floor=True,
            random_seed=20261202,
            tune=2000,
            target_accept=0.95,
            adaptation="low_rank",
        )
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    # the fit records the sampler options it ran with
    assert json.loads(fit.config.sampler_options_json)["adaptation"] == "low_rank"
    held_out = table[table["metric"] != "log_likelihood"]
    pred = fit.predict_table(held_out, random_seed=1)
    inside = (pred["score"] >= pred["q05"]) & (pred["score"] <= pred["q95"])
    width = pred["q95"] - pred["q05"]
    proportions = ~pred["metric"].isin(["brier_sum"])  # brier_sum is on a 0..2 scale
    coverage = float(inside.mean())
    median_width = float(width[proportions].median())
    print(f"ladder cross-metric: coverage {coverage:.3f}, median width {median_width:.3f}")
    assert 0.85 <= coverage <= 1.0
    assert median_width <= 0.12
    # the all-or-nothing metric: subset accuracy over 32 images is predicted 0 where it is 0
    l32 = pred[pred["metric"] == "subset_accuracy_L32"]
    assert (l32.loc[l32["score"] == 0, "q05"] == 0).all()
    assert np.isfinite(pred["q50"]).all()
