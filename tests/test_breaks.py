"""The step test of a latent break (rule 7 of the mirage test) on cell deviations."""

from __future__ import annotations

import numpy as np
import pytest

from emergestats.mirage.breaks import step_statistic, step_test_p

X12 = np.log(np.geomspace(1e7, 1e11, 12))


def test_step_statistic_by_hand() -> None:
    # six cells, a unit step after the third: a quadratic + step fits exactly (T infinite in
    # exact arithmetic); the quadratic alone leaves residuals
    x = np.arange(6.0)
    step = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert step_statistic(step, x) > 1e11
    # a quadratic has nothing for a step to explain: SSR 0 both ways, T = 0
    assert step_statistic(0.5 - 0.2 * x + 0.03 * x**2, x) == pytest.approx(0.0, abs=1e-9)
    # by hand, steps before cells 2, 3 and 4 (>= 2 cells per side), the largest reduction
    d = np.array([0.1, -0.1, 0.2, -0.4, -0.2, -0.3])
    best = 0.0
    for k in (2, 3, 4):
        base = np.column_stack([np.ones(6), x, x**2])
        full = np.column_stack([base, (np.arange(6) >= k).astype(float)])
        ssr0 = np.sum((d - base @ np.linalg.lstsq(base, d, rcond=None)[0]) ** 2)
        ssr1 = np.sum((d - full @ np.linalg.lstsq(full, d, rcond=None)[0]) ** 2)
        best = max(best, (ssr0 - ssr1) / ssr1)
    assert float(step_statistic(d, x)) == pytest.approx(best, rel=1e-9)


def test_step_statistic_is_scale_free_order_free_and_needs_five_cells() -> None:
    rng = np.random.default_rng(0)
    d = rng.standard_normal((4, 12))
    t = step_statistic(d, X12)
    assert t.shape == (4,)
    np.testing.assert_allclose(step_statistic(7.5 * d, X12), t, rtol=1e-9)
    order = rng.permutation(12)
    np.testing.assert_allclose(step_statistic(d[:, order], X12[order]), t, rtol=1e-9)
    assert np.isnan(step_statistic(d[:, :4], X12[:4])).all()
    with pytest.raises(ValueError, match="12 cells on the last axis, x has 11"):
        step_statistic(d, X12[:11])


def _draws(deviations: np.ndarray, rng: np.random.Generator, sd: float = 0.02) -> np.ndarray:
    """400 posterior draws around a curve's deviations (a continuous metric pins them)."""
    return deviations + sd * rng.standard_normal((400, deviations.size))


def test_step_test_is_calibrated_under_iid_deviations_and_sees_a_step() -> None:
    # a curve's deviations iid Normal(0, sigma) as the smooth model says, its posterior draws
    # close around them: the p-value is uniform, 5% of them at or below 0.05, whatever sigma
    rng = np.random.default_rng(1)
    null_p = [
        step_test_p(_draws(sd * rng.standard_normal(12), rng), X12, rng=rng, n_null=2000)
        for sd in np.geomspace(0.05, 0.5, 300)
    ]
    rejected = np.mean(np.asarray(null_p) <= 0.05)
    assert 0.02 <= rejected <= 0.09
    assert 0.4 <= np.median(null_p) <= 0.6
    # a step of 0.69 (CE halved) in the middle of deviations of sd 0.1, shrunk toward 0 by the
    # fit (a common factor) and tilted by its slope (a line): found nearly every time
    shift = np.where(np.arange(12) >= 6, -0.69, 0.0)
    broken_p = [
        step_test_p(
            _draws(0.6 * (shift + 0.1 * rng.standard_normal(12)) + 0.05 * X12, rng),
            X12,
            rng=rng,
            n_null=2000,
        )
        for _ in range(50)
    ]
    assert np.mean(np.asarray(broken_p) <= 0.05) >= 0.8


def test_step_test_reads_the_posterior_mean_and_checks_its_shapes() -> None:
    rng = np.random.default_rng(2)
    d = 0.1 * rng.standard_normal(12)
    draws = d + 0.01 * rng.standard_normal((50, 12))
    p_draws = step_test_p(draws, X12, rng=np.random.default_rng(3))
    p_mean = step_test_p(draws.mean(axis=0), X12, rng=np.random.default_rng(3))
    assert p_draws == p_mean
    with pytest.raises(ValueError, match=r"\(draws, cells\) or \(cells,\)"):
        step_test_p(np.zeros((2, 10, 12)), X12, rng=rng)
    assert np.isnan(step_test_p(np.zeros((10, 4)), X12[:4], rng=rng))
