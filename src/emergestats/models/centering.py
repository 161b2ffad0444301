"""Centred or non-centred, chosen from the data: per level, and per cell within a level.

A hierarchical parameter ``theta ~ Normal(mu, sigma)`` can be sampled as itself (centred) or
as ``mu + sigma z`` with ``z ~ Normal(0, 1)`` (non-centred). Which samples better depends on
how strongly the data pin ``theta`` compared with ``sigma``: data much sharper than ``sigma``
make the non-centred ``z`` and ``sigma`` a narrow curved ridge (changing ``sigma`` must move
every ``z``), data weaker than ``sigma`` make the centred form a funnel. Real benchmark tables
hold both kinds side by side (a 2,000-item arithmetic count next to a 0-of-50 exact match), so
the choice is made per (curve, model) cell, from how precisely each cell's rows read its
``log CE``, and per curve for ``a`` and ``log b`` (:func:`choose_centering`).

How a row reads its ``log CE``
------------------------------
The row's own forward map (:func:`emergestats.models.likelihoods.row_expectations`, the same
maps the model uses) is evaluated on a grid of ``log CE`` with the map parameters at their
prior medians; the observed score is located on it, and the sd of that reading is the score's
sampling sd (binomial, or the reported or map-implied standard error) over the map's slope
there. A count at 0 or at ``n`` and a score outside the map's range only bound ``log CE``:
they read nothing (precision 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from emergestats.models.likelihoods import UNIT_PRIORS, row_expectations
from emergestats.models.prepare import COUNT_ROLES, PreparedData, curves_in_family
from emergestats.models.priors import PriorSpec

#: Grid of ``log CE`` (nats per token) on which each row's map is located.
LOG_CE_GRID: Final[np.ndarray] = np.linspace(-10.0, 4.0, 281)


def prior_scale(spec: PriorSpec) -> float:
    """Typical value of a positive prior: the median of a log-normal, the scale otherwise."""
    dist = spec["dist"]
    if dist == "LogNormal":
        return float(np.exp(np.mean(spec["mu"])))
    if dist == "HalfNormal":
        return float(np.mean(spec["sigma"])) * 0.6745
    if dist == "Gamma":
        return float(spec["alpha"] / spec["beta"])
    if dist == "Exponential":
        return float(np.log(2.0) / spec["lam"])
    if dist == "Beta":
        return float(spec["alpha"] / (spec["alpha"] + spec["beta"]))
    raise ValueError(f"no typical value for a {dist!r} prior")


def _median_map_parameters(data: PreparedData, priors: dict[str, PriorSpec]) -> dict[str, Any]:
    units = {str(u) for u in data.observations.unit}
    return {
        "choice_noise": prior_scale(priors["choice_noise"]),
        "lure": 0.0,
        "distractor_concentration": prior_scale(priors["distractor_concentration"]),
        "rival_share": prior_scale(priors["rival_share"]),
        "tokens_per_unit": {
            u: float(np.exp(priors[key]["mu"])) for u, key in UNIT_PRIORS.items() if u in units
        },
    }


#: Rows evaluated at once on the grid (bounds memory: grid x rows x nodes x length slots).
_GRID_CHUNK_ROWS: Final[int] = 64


def _grid_expectations(
    obs: Any, rows: np.ndarray, role: str, grid_ce: np.ndarray, item_sd: float, params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Expected score and item spread of ``rows`` at every grid CE: two ``(grid, rows)`` arrays."""
    mean = np.full((len(grid_ce), len(rows)), np.nan)
    spread = np.full((len(grid_ce), len(rows)), np.nan)
    for start in range(0, len(rows), _GRID_CHUNK_ROWS):
        part = rows[start : start + _GRID_CHUNK_ROWS]
        ce = grid_ce * np.ones(len(part))
        with np.errstate(all="ignore"):
            m, sd = row_expectations(obs, part, role, ce, np.full_like(ce, item_sd), params)
        columns = slice(start, start + len(part))
        mean[:, columns] = m
        if sd is not None:
            spread[:, columns] = sd
    return mean, spread


def row_log_ce_readings(
    data: PreparedData, priors: dict[str, PriorSpec]
) -> tuple[np.ndarray, np.ndarray]:
    """Per table row: the ``log CE`` its score implies and the precision of that reading.

    Rows out of the likelihood, and rows that only bound ``log CE`` (a count at 0 or ``n``,
    a score outside the map's range), get ``nan`` and precision 0.
    """
    obs = data.observations
    estimate = np.full(len(obs.score), np.nan)
    precision = np.zeros(len(obs.score))
    params = _median_map_parameters(data, priors)
    item_sd = prior_scale(priors["item_sd_median"])
    grid_ce = np.exp(LOG_CE_GRID)[:, None]
    for role in obs.roles_present():
        rows = obs.rows_of(role)
        mean, spread = _grid_expectations(obs, rows, role, grid_ce, item_sd, params)
        y = obs.score[rows]
        n = obs.n_items[rows]
        low, high = np.nanmin(mean, axis=0), np.nanmax(mean, axis=0)
        nearest = np.nanargmin(np.abs(mean - y), axis=0)
        columns = np.arange(len(rows))
        slope = np.gradient(mean, LOG_CE_GRID, axis=0)[nearest, columns]
        if role in COUNT_ROLES:
            inside = (y * n >= 0.5) & (y * n <= n - 0.5)
            noise = np.sqrt(np.clip(y * (1.0 - y), 0.0, None) / n)
        else:
            span = high - low
            inside = (y > low + 1e-3 * span) & (y < high - 1e-3 * span)
            sd_map = spread[nearest, columns] / np.sqrt(n)
            reported = obs.stderr[rows]
            noise = np.where(np.isfinite(reported), reported, sd_map)
        usable = inside & np.isfinite(noise) & (noise > 0) & (np.abs(slope) > 0)
        estimate[rows[usable]] = LOG_CE_GRID[nearest[usable]]
        precision[rows[usable]] = (slope[usable] / noise[usable]) ** 2
    return estimate, precision


#: Step in a map parameter's log over which :func:`line_sensitivity` differences the readings.
_LOG_STEP: Final[float] = 0.5


def _cell_readings(
    data: PreparedData, row_readings: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the precision-weighted ``log CE`` reading of its rows and its precision."""
    estimate, precision = row_readings
    n_cells = len(data.cell_curve)
    cell_precision = np.bincount(data.cell_index, weights=precision, minlength=n_cells)
    weighted = np.nan_to_num(estimate) * precision
    cell_estimate = np.divide(
        np.bincount(data.cell_index, weights=weighted, minlength=n_cells),
        cell_precision,
        out=np.full(n_cells, np.nan),
        where=cell_precision > 0,
    )
    return cell_estimate, cell_precision


def _line_fit(
    data: PreparedData,
    cells: tuple[np.ndarray, np.ndarray],
    cell_var: float,
    curve: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """A curve's cell readings regressed on centred ``log N``: ``(coef, information)``.

    Weights ``1 / (sd_cell^2 + cell_var)`` (the cell deviation is noise around the line);
    ``None`` where the curve has readings at fewer than two sizes.
    """
    cell_estimate, cell_precision = cells
    mine = np.flatnonzero((data.cell_curve == curve) & (cell_precision > 0))
    x = data.cell_x[mine]
    if len(np.unique(x)) < 2:
        return None
    w = 1.0 / (1.0 / cell_precision[mine] + cell_var)
    design = np.column_stack([np.ones(len(x)), x])
    information = design.T @ (w[:, None] * design)
    return np.linalg.solve(information, design.T @ (w * cell_estimate[mine])), information


def _curve_lines(
    data: PreparedData, priors: dict[str, PriorSpec], row_readings: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per curve, the precision-weighted line ``(a, b)`` through its cells' readings (nan: none)."""
    cells = _cell_readings(data, row_readings)
    cell_var = prior_scale(priors["cell_sigma"]) ** 2
    a_hat = np.full(len(data.curve_labels), np.nan)
    b_hat = np.full(len(data.curve_labels), np.nan)
    for curve in range(len(data.curve_labels)):
        fitted = _line_fit(data, cells, cell_var, curve)
        if fitted is not None:
            coef = fitted[0]
            a_hat[curve], b_hat[curve] = coef[0], max(-float(coef[1]), 0.02)
    return a_hat, b_hat


@dataclass(frozen=True)
class LineSensitivity:
    """How the line a curve's data read moves with a pooled map parameter.

    Made by :func:`line_sensitivity`.

    ``k_a`` and ``k_log_b`` per curve, each of shape ``(2, curve)``: the first and second
    derivative of the line's level and log slope in the parameter's log at its prior median,
    0 where a curve has no line. The first is clipped to [-3, 3]; the second to
    ``|first| / (2 prior sds)`` (and 6), so that :meth:`shift`, the change to second order,
    moves one way over two prior sds either side of the median.
    """

    k_a: np.ndarray
    k_log_b: np.ndarray

    @staticmethod
    def shift(k: np.ndarray, moved: Any) -> Any:
        """``k[0] d + k[1] d^2 / 2`` for ``d`` = log parameter less its log prior median."""
        return k[0] * moved + 0.5 * k[1] * moved**2


def line_sensitivity(
    data: PreparedData, priors: dict[str, PriorSpec], parameter: str = "item_sd_median"
) -> LineSensitivity:
    """Per curve, how the line its data read moves with the log of a pooled map parameter.

    ``parameter`` names a log-normal prior whose median the rows' readings use:
    ``item_sd_median`` (the item spread) or ``choice_noise`` (the argmax noise). The rows'
    ``log CE`` readings are taken at the prior median and at that times ``exp(-0.5)`` and
    ``exp(0.5)``; the per-curve lines through them are differenced (central first and second
    differences). The readings are far from linear in ``log item_sd`` (ObsScaling's
    well-read cells: median slope 0.9 over the step below the median, 2.2 over the step
    above). The quadratic through three readings can turn back inside the prior's range
    (near the floor, a larger item sd then reads a steeper line half a prior sd below the
    median), so its curvature is bounded to keep it monotone over two prior sds.
    """
    spec = priors[parameter]

    def readings(step: float) -> tuple[np.ndarray, np.ndarray]:
        moved = {**priors, parameter: {**spec, "mu": float(spec["mu"]) + step}}
        a, b = _curve_lines(data, priors, row_log_ce_readings(data, moved))
        return a, np.log(b)

    below, at, above = (readings(step) for step in (-_LOG_STEP, 0.0, _LOG_STEP))

    # the quadratic stays monotone over two prior sds either side of the median
    reach = 2.0 * float(spec["sigma"])

    def derivatives(i: int) -> np.ndarray:
        first = np.clip(np.nan_to_num((above[i] - below[i]) / (2 * _LOG_STEP)), -3.0, 3.0)
        bound = np.minimum(np.abs(first) / reach, 6.0)
        second = np.nan_to_num((above[i] - 2 * at[i] + below[i]) / _LOG_STEP**2)
        return np.stack([first, np.clip(second, -bound, bound)])

    return LineSensitivity(k_a=derivatives(0), k_log_b=derivatives(1))


def _own_size(data: PreparedData, cells: tuple[np.ndarray, np.ndarray], curve: int) -> float:
    """Where a curve without a line is read: its one read size (``log N - log N_ref``), else 0."""
    read = np.unique(data.cell_x[(data.cell_curve == curve) & (cells[1] > 0)])
    return float(read[0]) if len(read) == 1 else 0.0


def curve_centering(
    data: PreparedData,
    priors: dict[str, PriorSpec],
    row_readings: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per curve: centre ``a`` and ``log b`` where the data pin them more sharply than the prior.

    Returns ``(centred_a, centred_log_b, reference)``: two boolean arrays and, per curve, where
    its data read its line's level, as ``log N* - log N_ref`` (0 where no line is read).

    The rows' ``log CE`` readings are pooled per cell (precision-weighted), then regressed on
    the cell's centred ``log N`` per curve with weights ``1 / (sd_cell^2 + cell_sigma^2)`` (the
    cell deviation is noise around the line). A centred ``a`` is sampled as the line's level at
    the curve's own ``N*``, the weighted mean of its sizes, where the fitted level and slope are
    uncorrelated (:func:`emergestats.models.builders.add_curve_population`), so ``a`` is
    centred where the fitted level's sd at ``N*`` is below the typical ``a_sigma``; ``log b``
    where ``sd(slope) / b`` is below the typical ``log_b_sigma``. A curve needs readings at
    two sizes or more, and its family three
    curves or more (otherwise its family mean and the curve are one ridge whichever way), or
    one: a family of one curve has its means integrated out
    (:func:`emergestats.models.builders.add_curve_population`), so its curve's prior sd adds
    the means' prior sd to the typical spread. On the ladder (one curve) the non-centred
    curve this rule gave before that case was added had 3 divergences and min bulk ESS 248
    (``log_b_sigma``); centred, 0 and 1208.

    A family of one curve whose rows read no line (one size, or only bounds: every answer right
    at every size) is centred too: its prior sd is at least its means' (no funnel as the spread
    shrinks), and centred its level and slope are what the bounds truncate. ObsScaling's 2-digit
    addition (23 families of one curve, 8 of them all but perfect at their 1-3 sizes), default
    4 x 1000 draws: with these curves non-centred, 17 and 14 divergences on seeds 1 and 2,
    where their slopes ran out to b = 20-30; centred, none on seeds 1, 2 and 4 and one on
    seed 3 (R-hat <= 1.007, bulk ESS >= 842), against 7 and 2 (bulk ESS 437) before either
    change.
    """
    cells = _cell_readings(data, row_readings)
    cell_var = prior_scale(priors["cell_sigma"]) ** 2
    a_scale = prior_scale(priors["a_sigma"])
    log_b_scale = prior_scale(priors["log_b_sigma"])
    family_size = curves_in_family(data.family_index)
    centred_a = np.zeros(len(data.curve_labels), dtype=bool)
    centred_log_b = np.zeros(len(data.curve_labels), dtype=bool)
    solo_a_scale = float(np.hypot(priors["a_mu"]["sigma"], a_scale))
    solo_log_b_scale = float(np.hypot(priors["log_b_mu"]["sigma"], log_b_scale))
    reference = np.zeros(len(data.curve_labels))
    modelled = np.zeros(len(data.curve_labels), dtype=bool)
    modelled[data.curve_index[data.observations.modelled]] = True
    for curve in range(len(data.curve_labels)):
        in_family = family_size[curve]
        if in_family == 2:
            continue
        fitted = _line_fit(data, cells, cell_var, curve)
        if fitted is None:
            if in_family == 1 and modelled[curve]:
                # a solo family's curve has a prior sd of at least its means' (no funnel)
                centred_a[curve] = centred_log_b[curve] = True
                reference[curve] = _own_size(data, cells, curve)
            continue
        coef, information = fitted
        covariance = np.linalg.inv(information)
        b_hat = max(-float(coef[1]), 0.02)
        solo = in_family == 1
        # the weighted mean of the sizes: there the fitted level and slope are uncorrelated
        own = -covariance[0, 1] / covariance[1, 1]
        level_sd = np.sqrt(max(covariance[0, 0] - covariance[0, 1] ** 2 / covariance[1, 1], 0.0))
        centred_a[curve] = level_sd < (solo_a_scale if solo else a_scale)
        reference[curve] = own
        centred_log_b[curve] = np.sqrt(covariance[1, 1]) / b_hat < (
            solo_log_b_scale if solo else log_b_scale
        )
    return centred_a, centred_log_b, reference


def choose_centering(
    data: PreparedData, priors: dict[str, PriorSpec] | None = None
) -> dict[str, Any]:
    """Centred or non-centred for each level, from the data.

    ``curve``: a pair of boolean arrays over the curves, for ``a`` and ``log b``
    (:func:`curve_centering`); ``curve_reference``: per curve where a centred ``a``'s level is
    read, ``log N* - log N_ref`` (0 where no line is read). ``task``: centred with at least 5
    curves per task on average (with fewer, the centred task effect made a funnel: R-hat 3.65
    on the open_lm table).
    ``cell``: a boolean per (curve, model) cell, centred where its rows read ``log CE`` with an
    sd below the typical ``cell_sigma``.
    """
    from emergestats.models.priors import resolve_priors

    resolved = resolve_priors(priors) if priors is None else priors
    curves_per_task = np.bincount(data.task_index, minlength=len(data.task_labels))
    readings = row_log_ce_readings(data, resolved)
    cell_precision = _cell_readings(data, readings)[1]
    sigma = prior_scale(resolved["cell_sigma"])
    centred_a, centred_log_b, reference = curve_centering(data, resolved, readings)
    return {
        "curve": (centred_a, centred_log_b),
        "curve_reference": reference,
        "task": bool(curves_per_task.mean() >= 5),
        "cell": cell_precision * sigma**2 > 1.0,
    }
