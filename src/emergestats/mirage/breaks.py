"""Does the latent itself break? A step test on the smooth fit's cell deviations.

The smooth model gives every (curve, model) cell a deviation ``delta`` from the curve's power
law, shared by all metrics of that model's outputs, ``delta ~ Normal(0, cell_sigma)``
independently across cells. A latent that breaks (per-token CE dropping by a factor within a
fraction of a decade) leaves a *step* in the deviations along scale that iid noise does not
make, however wide the smooth fit makes ``cell_sigma`` to absorb it.

The statistic (:func:`step_statistic`) is scale-free, so a ``cell_sigma`` inflated by the break
does not hide it: with ``x`` the cells' log scale in order, the largest relative reduction of
the residual sum of squares when a step at one of the cells is added to a quadratic trend,

``T = max_k (SSR(1, x, x^2) - SSR(1, x, x^2, 1[x >= x_k])) / SSR(1, x, x^2, 1[x >= x_k])``,

over steps with at least ``min_side`` (2) cells on each side (a Chow-type sup-F statistic for a
break in a trend). The quadratic absorbs smooth bending the power law leaves (a floor, a
curved truth): with a line alone, 10-13% of the simulator's smooth truths passed for broken at
the 5% level (their observed log CE, 8 and 12 sizes, 300 truths), with the quadratic 6-7%, at
the same power (``benchmarks/break_oracle.py`` measures the bound).

The p-value (:func:`step_test_p`) compares ``T`` of the curve's posterior-mean deviations
with ``T`` of iid standard normal deviations at the same scales. ``T`` does not change when the
deviations are multiplied by a constant or a quadratic is added to them, so under the smooth
model (iid normal deviations, of which the posterior mean keeps the shape: the fitted ``a`` and
``b`` absorb a line, shrinkage is a common factor where the cells are pinned alike) this null
is exact whatever ``cell_sigma`` is. ``p = (1 + #(T_null >= T)) / (1 + n_null)``. It needs at least
``2 min_side + 1`` (5) cells and has little power below 8.

Tried first and not kept: the posterior predictive p-value with a *realized* discrepancy
(Gelman, Meng & Stern 1996: ``T`` of each posterior draw's deviations against ``T`` of fresh
deviations ``cell_sigma_s * eps``). Averaging the comparison over draws made it very
conservative (smooth truths of the simulator: p between 0.29 and 0.56, never near 0.05) and it
called none of 20 broken truths at 8 sizes.

What this can and cannot see (measured, ``docs/calibration.md``): the simulator's smooth truths
bend and its models deviate from their curve (sd about 0.1-0.15 in log CE), so a 2x drop of
CE at 8 sizes is hardly distinguishable from noise by *any* step statistic of the continuous
metric (an oracle that knows the simulator's null exactly finds 26%; this test 3-10 of 20);
a 4x drop (oracle 77%, this test 19 of 20) or 12 sizes (52% and 99%) is.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_SIDE", "step_statistic", "step_test_p"]

#: Fewest cells on each side of a step.
MIN_SIDE: Final[int] = 2
#: Sums of squares below this share of the total are rounding: an exact fit (a pure step) gives
#: ``T = 1 / _RELATIVE_FLOOR`` rather than a ratio of two rounding errors.
_RELATIVE_FLOOR: Final[float] = 1e-12


def _residual_maker(design: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``I - Q Q^T``: the projection onto the residuals of a least-squares fit on ``design``."""
    q, _ = np.linalg.qr(design)
    return np.eye(design.shape[0]) - q @ q.T


def step_statistic(
    deviations: npt.ArrayLike, x: npt.ArrayLike, *, min_side: int = MIN_SIDE
) -> npt.NDArray[np.float64]:
    """The largest relative SSR reduction of a quadratic + step over a quadratic, per row.

    Parameters
    ----------
    deviations
        ``(..., n)``: deviations of ``n`` cells, any leading axes (draws).
    x
        ``(n,)`` log scale of the cells (any order: sorted here).
    min_side
        Fewest cells on each side of a step.

    Returns
    -------
    numpy.ndarray
        ``T`` of the leading shape (see the module docstring); NaN with fewer than
        ``2 min_side + 1`` cells.

    Examples
    --------
    >>> x = np.log([1e7, 1e8, 1e9, 1e10, 1e11, 1e12])
    >>> float(step_statistic([0.0, 0.0, 0.0, -1.0, -1.0, -1.0], x)) > 1e6  # a pure step
    True
    >>> float(step_statistic([0.1, -0.2, 0.3, -0.1, 0.2, -0.3], x)) < 10
    True
    """
    d = np.asarray(deviations, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if d.shape[-1] != n:
        raise ValueError(f"deviations have {d.shape[-1]} cells on the last axis, x has {n}")
    lead = d.shape[:-1]
    if n < 2 * min_side + 1:
        return np.full(lead, np.nan)
    order = np.argsort(x, kind="stable")
    d, x = d[..., order], x[order]
    centred = (x - x.mean()) / (x.std() or 1.0)
    base = np.column_stack([np.ones(n), centred, centred**2])
    m0 = _residual_maker(base)
    ssr0 = np.einsum("...i,ij,...j->...", d, m0, d)
    # deviations on a quadratic (to rounding) leave nothing for a step to explain: T = 0
    flat = ssr0 <= _RELATIVE_FLOOR * np.einsum("...i,...i->...", d, d) + np.finfo(float).tiny
    best = np.zeros(lead)
    for k in range(min_side, n - min_side + 1):
        if x[k] == x[k - 1]:
            continue  # no step between two cells of one size
        step = (np.arange(n) >= k).astype(float)
        m1 = _residual_maker(np.column_stack([base, step]))
        ssr1 = np.einsum("...i,ij,...j->...", d, m1, d)
        denominator = np.maximum(ssr1, _RELATIVE_FLOOR * ssr0 + np.finfo(float).tiny)
        best = np.maximum(best, (ssr0 - ssr1) / denominator)
    return np.where(flat, 0.0, best)


def step_test_p(
    deviations: npt.ArrayLike,
    x: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    n_null: int = 4000,
    min_side: int = MIN_SIDE,
) -> float:
    """p-value of a step in one curve's deviations against iid normal deviations.

    Parameters
    ----------
    deviations
        ``(S, n)`` posterior draws of the curve's ``n`` cell deviations (their mean is tested),
        or ``(n,)`` the deviations themselves.
    x
        ``(n,)`` log scale of the cells.
    rng
        Source of the null deviations.
    n_null
        Draws of the null distribution.
    min_side
        Fewest cells on each side of a step.

    Returns
    -------
    float
        ``(1 + #(T_null >= T)) / (1 + n_null)``; NaN with fewer than ``2 min_side + 1`` cells.
    """
    d = np.asarray(deviations, dtype=np.float64)
    if d.ndim == 2:
        d = d.mean(axis=0)
    if d.ndim != 1:
        raise ValueError(f"deviations must be (draws, cells) or (cells,); got shape {d.shape}")
    observed = float(step_statistic(d, x, min_side=min_side))
    if not np.isfinite(observed):
        return float("nan")
    null = step_statistic(rng.standard_normal((n_null, d.size)), x, min_side=min_side)
    return float((1.0 + np.sum(null >= observed)) / (1.0 + n_null))
