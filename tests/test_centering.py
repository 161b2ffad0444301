"""Centring chosen from the data: per-row readings of log CE, per-cell centring, the builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.interpolate import PchipInterpolator

from emergestats.models import forward
from emergestats.models.builders import build_smooth_model
from emergestats.models.centering import (
    LOG_CE_GRID,
    LineSensitivity,
    choose_centering,
    line_sensitivity,
    prior_scale,
    row_log_ce_readings,
)
from emergestats.models.prepare import prepare_evaluation
from emergestats.models.priors import resolve_priors

PRIORS = resolve_priors(None)
ITEM_SD = prior_scale(PRIORS["item_sd_median"])


def exact_match_table(rates: list[float], n_items: list[int], length: float = 2.0) -> pd.DataFrame:
    sizes = np.logspace(7, 10, len(rates))
    return pd.DataFrame(
        {
            "task": "t",
            "subtask": "t",
            "family": "f",
            "model": [f"m{i}" for i in range(len(rates))],
            "params": sizes,
            "shots": 0,
            "metric": "exact_str_match",
            "metric_kind": "exact_match",
            "score": rates,
            "n_items": n_items,
            "chance": np.nan,
            "source": "test",
            "target_tokens": length,
        }
    )


def test_prior_scale_is_the_median_or_scale() -> None:
    assert prior_scale({"dist": "LogNormal", "mu": np.log(0.1), "sigma": 0.6}) == pytest.approx(0.1)
    assert prior_scale({"dist": "HalfNormal", "sigma": 1.0}) == pytest.approx(0.6745)
    assert prior_scale({"dist": "Beta", "alpha": 1.0, "beta": 3.0}) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no typical value"):
        prior_scale({"dist": "Uniform"})


def test_a_count_reads_its_log_ce_through_the_forward_map() -> None:
    # the score the map gives at a known log CE (item sd at its prior median) is read back
    true_log_ce = np.array([-2.0, -1.0, 0.0])
    prepared = prepare_evaluation(exact_match_table([0.5, 0.5, 0.5], [2000, 2000, 2000]))
    # the rows' own length histograms (a mean-only length is a shifted Poisson around it)
    lv, lw = prepared.observations.length_values, prepared.observations.length_weights
    rates = forward.exact_match(np.exp(true_log_ce), np.full(3, ITEM_SD), lv, lw)
    prepared.observations.score = np.asarray(rates, dtype=float)
    estimate, precision = row_log_ce_readings(prepared, PRIORS)
    step = LOG_CE_GRID[1] - LOG_CE_GRID[0]
    np.testing.assert_allclose(estimate, true_log_ce, atol=step / 2 + 1e-9)
    # precision = (slope / binomial sd)^2, the slope by finite differences of the same map
    h = 1e-4
    slope = (
        forward.exact_match(np.exp(true_log_ce + h), np.full(3, ITEM_SD), lv, lw)
        - forward.exact_match(np.exp(true_log_ce - h), np.full(3, ITEM_SD), lv, lw)
    ) / (2 * h)
    expected = slope**2 / (rates * (1 - rates) / 2000)
    np.testing.assert_allclose(precision, expected, rtol=0.15)


def test_counts_at_the_bounds_read_nothing() -> None:
    table = exact_match_table([0.0, 0.3, 1.0], [500, 500, 500])
    estimate, precision = row_log_ce_readings(prepare_evaluation(table), PRIORS)
    assert np.isnan(estimate[[0, 2]]).all() and (precision[[0, 2]] == 0).all()
    assert np.isfinite(estimate[1]) and precision[1] > 0


def test_cells_are_centred_where_their_rows_are_sharp() -> None:
    # a 3000-item count at 40% reads log CE to ~0.03 (< cell_sigma's median 0.1): centred;
    # 10 items read it to ~0.3, and a count at 0 bounds it only: non-centred
    table = exact_match_table([0.0, 0.4, 0.4], [3000, 10, 3000])
    chosen = choose_centering(prepare_evaluation(table))
    np.testing.assert_array_equal(chosen["cell"], [False, False, True])
    # one curve in its family: its family means are integrated out, so its prior sd of a is
    # hypot(sd(a_mu), typical a_sigma) = 1.28, and two sharp sizes pin a below that: centred
    assert chosen["curve"][0].all()
    # two curves in a family: the family mean and the curves are one ridge; non-centred
    pair = pd.concat([table, table.assign(task="other", subtask="other")], ignore_index=True)
    chosen = choose_centering(prepare_evaluation(pair))
    assert not chosen["curve"][0].any() and not chosen["curve"][1].any()


@pytest.mark.parametrize("item_sd_informed", [False, True])
def test_the_builder_splits_cells_into_centred_and_non_centred(item_sd_informed: bool) -> None:
    table = exact_match_table([0.0, 0.4, 0.4], [3000, 10, 3000])
    if item_sd_informed:  # exact match at two answer lengths shows the item spread
        table["target_tokens"] = [2.0, 3.0, 2.0]
    model = build_smooth_model(table)
    free = {v.name for v in model.free_RVs}
    assert {"cell_deviation_centred", "cell_z"} <= free
    assert len(model.coords["cell_centred"]) == 1 and len(model.coords["cell_noncentred"]) == 2
    assert model.named_vars_to_dims["cell_deviation"] == ("cell",)
    point = model.initial_point()
    point["cell_deviation_centred"] = np.array([0.2])
    point["cell_z"] = np.array([1.0, -1.0])
    sigma = np.exp(point["cell_sigma_log__"])
    inputs = model.value_vars
    outputs = model.replace_rvs_by_values([model["cell_deviation"], model["log_ce"]])
    compute = pytensor.function(inputs, outputs, on_unused_input="ignore")
    deviation, log_ce = compute(*(point[v.name] for v in inputs))
    # the non-centred cells' deviations are sigma * z
    np.testing.assert_allclose(deviation[:2], [sigma, -sigma])
    if item_sd_informed:
        # the centred cell's free value is the level its rows read (log CE: line + deviation)
        assert log_ce[2] == pytest.approx(0.2)
        assert deviation[2] != pytest.approx(0.2)
    else:
        # its centred line follows the pooled item sd (curves_follow): a level held fixed would
        # not, so the free value is the deviation
        assert deviation[2] == pytest.approx(0.2)
    # either way, moving the free value moves the deviation by as much, the line not at all
    point["cell_deviation_centred"] = np.array([0.5])
    moved, _ = compute(*(point[v.name] for v in inputs))
    assert moved[2] - deviation[2] == pytest.approx(0.3)
    np.testing.assert_allclose(moved[:2], deviation[:2])


def test_curves_pinned_by_their_rows_are_centred() -> None:
    # three curves of one family: two measured sharply at three sizes, one only at 0 counts
    frames = []
    for task, rates, n in (
        ("sharp", [0.2, 0.4, 0.6], 3000),
        ("also", [0.1, 0.3, 0.5], 3000),
        ("zeros", [0.0, 0.0, 0.0], 50),
    ):
        frames.append(exact_match_table(rates, [n] * 3).assign(task=task, subtask=task))
    table = pd.concat(frames, ignore_index=True)
    centred_a, centred_log_b = choose_centering(prepare_evaluation(table))["curve"]
    np.testing.assert_array_equal(centred_a, [True, True, False])
    np.testing.assert_array_equal(centred_log_b, [True, True, False])
    model = build_smooth_model(table)
    assert list(model.coords["curve_centred_a"]) == ["sharp/f/0", "also/f/0"]
    assert list(model.coords["curve_noncentred_log_b"]) == ["zeros/f/0"]


def test_a_followed_change_is_one_interpolant_for_numpy_and_pytensor() -> None:
    # LineSensitivity.change: scipy's PCHIP through the readings inside the grid, a line with
    # the end slopes beyond it, and the same values (and a matching gradient) in pytensor
    grid = np.linspace(-1.0, 1.0, 5)
    a = np.array([[-1.2, 0.3], [-0.8, 0.1], [0.0, 0.0], [1.5, 0.0], [4.0, -0.2]])
    log_b = np.array([[-0.4, 0.0], [-0.2, 0.0], [0.0, 0.0], [0.3, 0.0], [0.5, 0.0]])
    slopes = [PchipInterpolator(grid, t, axis=0).derivative()(grid) for t in (a, log_b)]
    sensitivity = LineSensitivity(grid, a, log_b, slopes[0], slopes[1])
    interpolant = PchipInterpolator(grid, a, axis=0)
    inside = np.linspace(-1.0, 1.0, 41)
    numpy_values = np.array([sensitivity.change("a", m) for m in inside])
    np.testing.assert_allclose(numpy_values, interpolant(inside), atol=1e-12)
    np.testing.assert_allclose(sensitivity.change("a", 1.5), a[-1] + 0.5 * slopes[0][-1])
    np.testing.assert_allclose(sensitivity.change("a", -1.5), a[0] - 0.5 * slopes[0][0])
    moved = pt.dscalar("moved")
    change = sensitivity.change("a", moved, backend=pt)
    evaluate = pytensor.function([moved], [change, pytensor.grad(change[0], moved)])
    for m in (-1.7, -0.63, 0.0, 0.37, 1.2):
        value, gradient = evaluate(m)
        np.testing.assert_allclose(value, sensitivity.change("a", m), atol=1e-12)
        step = 1e-6
        numeric = (sensitivity.change("a", m + step) - sensitivity.change("a", m - step))[0]
        assert gradient == pytest.approx(numeric / (2 * step), rel=1e-5, abs=1e-8)
    # a curve whose tables are all 0 is held still
    assert sensitivity.following().tolist() == [True, True]
    keep = np.array([[1.0, 0.0]])
    held = LineSensitivity(
        grid=sensitivity.grid,
        a=sensitivity.a * keep,
        log_b=sensitivity.log_b * keep,
        slope_a=sensitivity.slope_a * keep,
        slope_log_b=sensitivity.slope_log_b * keep,
    )
    assert held.following().tolist() == [True, False]
    assert sensitivity.change("a", 0.8)[1] != 0.0 and held.change("a", 0.8)[1] == 0.0
    np.testing.assert_allclose(held.change("a", 0.8)[0], sensitivity.change("a", 0.8)[0])


def test_reading_only_some_curves_is_reading_all_and_holding_the_rest() -> None:
    # three curves of exact match at 2, 4 and 8 tokens; reading only the first and the last
    # costs two thirds of the map evaluations and gives what holding the middle one does
    table = pd.concat(
        [
            exact_match_table([0.02, 0.1, 0.3, 0.6], [500] * 4, length).assign(task=f"t{length}")
            for length in (2.0, 4.0, 8.0)
        ],
        ignore_index=True,
    )
    prepared = prepare_evaluation(table)
    mask = np.array([True, False, True])
    whole = line_sensitivity(prepared, PRIORS, "item_sd_median")
    assert whole.following().all()
    part = line_sensitivity(prepared, PRIORS, "item_sd_median", mask)
    np.testing.assert_array_equal(part.following(), mask)
    for field in ("a", "log_b", "slope_a", "slope_log_b"):
        held = getattr(whole, field) * mask[None, :]
        np.testing.assert_allclose(getattr(part, field), held, atol=1e-12)
    # the unread curve's rows read nothing
    estimate, precision = row_log_ce_readings(prepared, PRIORS, curves=mask)
    middle = prepared.curve_index == 1
    assert np.isnan(estimate[middle]).all() and (precision[middle] == 0).all()
    assert np.isfinite(estimate[~middle]).all()
