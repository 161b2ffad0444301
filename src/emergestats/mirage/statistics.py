"""Jump statistics of an observed curve and of its posterior-predictive replicates, vectorised.

Every formula lives in :mod:`emergestats.emergence`; this module only chooses which statistics
the mirage test reports and evaluates them on a ``(replicate, point)`` array at once (the
functions there keep leading axes). The statistics, all oriented so that larger means a sharper
*rise* (the tested metrics are all higher-is-better):

``max_jump`` (the primary statistic)
    The largest adjacent increase ``max_i (y_{i+1} - y_i)``, in the metric's units.
``max_jump_per_decade``
    The same step divided by its width in decades of scale.
``breakthroughness``, ``emergence_score``
    BIG-bench's breakthroughness and Schaeffer et al.'s emergence score (the same formula), in
    the **capped** form :func:`emergestats.emergence.capped_breakthroughness`: the median squared
    step is floored at ``delta^2`` with ``delta = 1 / n_items`` (one item's worth of score,
    the smallest change a proportion of ``n_items`` items can show), so a curve flat at 0 that
    then jumps by ``J`` scores ``J / delta`` instead of ``inf``.
``linearity``
    BIG-bench's linearity (always finite).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from emergestats.emergence import capped_breakthroughness, linearity, max_jump, max_jump_per_decade

__all__ = [
    "PRIMARY_STATISTIC",
    "STATISTICS",
    "jump_statistics_of_replicates",
    "score_resolution",
]

#: The statistics reported per (curve, metric), in output order.
STATISTICS: Final[tuple[str, ...]] = (
    "max_jump",
    "max_jump_per_decade",
    "breakthroughness",
    "emergence_score",
    "linearity",
)

#: The statistic the verdict is decided on.
PRIMARY_STATISTIC: Final[str] = "max_jump"

#: Items assumed for the resolution of a score whose ``n_items`` is unknown.
_FALLBACK_ITEMS: Final[int] = 100


def score_resolution(n_items: npt.ArrayLike) -> float:
    """``delta = 1 / n``: the smallest step of a proportion; ``n`` the curve's median item count.

    Unknown counts (NaN or missing) count as 100 items, as the model assumes.

    Examples
    --------
    >>> score_resolution([200, 200, 400])
    0.005
    """
    values = np.asarray(n_items, dtype=float).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    n = float(np.median(values)) if values.size else float(_FALLBACK_ITEMS)
    return 1.0 / max(n, 1.0)


def jump_statistics_of_replicates(
    scale: npt.ArrayLike, scores: npt.ArrayLike, *, resolution: float
) -> dict[str, npt.NDArray[np.float64]]:
    """Every statistic of :data:`STATISTICS` for each curve of ``scores``.

    Parameters
    ----------
    scale
        The scale of each point, 1-D (sorted and equal scales averaged as in
        :mod:`emergestats.emergence`).
    scores
        Points on the last axis; any leading axes (replicates) are kept. A 1-D array is one
        curve (the observed one).
    resolution
        ``delta`` of the capped breakthroughness (see :func:`score_resolution`).

    Returns
    -------
    dict
        Statistic name to an array of the leading shape of ``scores`` (0-D for one curve).

    Examples
    --------
    >>> out = jump_statistics_of_replicates([1, 10, 100], [[0, 0, 0.5], [0, 0.25, 0.5]],
    ...                                     resolution=0.01)
    >>> out["max_jump"].tolist(), out["breakthroughness"].tolist()
    ([0.5, 0.25], [50.0, 2.0])
    """
    y = np.asarray(scores, dtype=np.float64)
    capped = np.asarray(capped_breakthroughness(scale, y, resolution), dtype=np.float64)
    return {
        "max_jump": np.asarray(max_jump(scale, y), dtype=np.float64),
        "max_jump_per_decade": np.asarray(max_jump_per_decade(scale, y), dtype=np.float64),
        "breakthroughness": capped,
        "emergence_score": capped,
        "linearity": np.asarray(linearity(scale, y), dtype=np.float64),
    }
