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
from scipy.interpolate import PchipInterpolator

from emergestats.models.likelihoods import UNIT_PRIORS, row_expectations
from emergestats.models.prepare import COUNT_ROLES, PreparedData, curves_in_family
from emergestats.models.priors import PriorSpec

#: Grid of ``log CE`` (nats per token) on which each row's map is located.
LOG_CE_GRID: Final[np.ndarray] = np.linspace(-10.0, 4.0, 281)

#: The grid :func:`line_sensitivity` reads on: with the item sd two prior sds above its
#: median a 0.1% exact match reads ``log CE`` near 10, beyond :data:`LOG_CE_GRID`, and a row
#: read at the grid's edge is not read at all (the lines above the median lost their low
#: rows and read flatter: slopes near the least one where the extended grid reads them rising).
FOLLOW_LOG_CE_GRID: Final[np.ndarray] = np.linspace(-10.0, 14.0, 481)


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
    data: PreparedData,
    priors: dict[str, PriorSpec],
    grid: np.ndarray = LOG_CE_GRID,
    curves: np.ndarray | None = None,
    *,
    bounds: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per table row: the ``log CE`` its score implies and the precision of that reading.

    Rows out of the likelihood, and rows that only bound ``log CE`` (a count at 0 or ``n``,
    a score outside the map's range), get ``nan`` and precision 0; so do the rows of curves
    outside the boolean mask ``curves`` (default: every curve is read). With ``bounds``, a
    modelled row that only bounds ``log CE`` gets the grid point whose score is nearest its
    own (an end of the grid for a score beyond the map's range: a grade or Brier score worse
    than chance reads the grid's top), still with precision 0.
    """
    obs = data.observations
    estimate = np.full(len(obs.score), np.nan)
    precision = np.zeros(len(obs.score))
    params = _median_map_parameters(data, priors)
    item_sd = prior_scale(priors["item_sd_median"])
    grid_ce = np.exp(grid)[:, None]
    for role in obs.roles_present():
        rows = obs.rows_of(role)
        if curves is not None:
            rows = rows[np.asarray(curves, dtype=bool)[data.curve_index[rows]]]
            if not len(rows):
                continue
        mean, spread = _grid_expectations(obs, rows, role, grid_ce, item_sd, params)
        y = obs.score[rows]
        n = obs.n_items[rows]
        low, high = np.nanmin(mean, axis=0), np.nanmax(mean, axis=0)
        nearest = np.nanargmin(np.abs(mean - y), axis=0)
        columns = np.arange(len(rows))
        slope = np.gradient(mean, grid, axis=0)[nearest, columns]
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
        if bounds:
            estimate[rows] = grid[nearest]
        estimate[rows[usable]] = grid[nearest[usable]]
        precision[rows[usable]] = (slope[usable] / noise[usable]) ** 2
    return estimate, precision


#: The least slope ``b`` a read line is given (a flat or rising line is read as this).
MIN_READ_SLOPE: Final[float] = 0.02

#: Where :func:`line_sensitivity` reads the lines: the followed parameter's log less its log
#: prior median, in prior sds (two either side, one apart).
_FOLLOW_GRID_SDS: Final[np.ndarray] = np.arange(-2.0, 2.5, 1.0)


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
    ``None`` where the curve has readings at fewer than two sizes. A reading with an sd over
    1,000 (a map almost flat there) is none: its weight underflowed to 0 and left the
    regression singular (ObsScaling, read on :data:`FOLLOW_LOG_CE_GRID`).
    """
    cell_estimate, cell_precision = cells
    mine = np.flatnonzero((data.cell_curve == curve) & (cell_precision > 1e-6))
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
            a_hat[curve], b_hat[curve] = coef[0], max(-float(coef[1]), MIN_READ_SLOPE)
    return a_hat, b_hat


@dataclass(frozen=True)
class LineSensitivity:
    """How the line a curve's data read moves with a pooled map parameter.

    Made by :func:`line_sensitivity`. ``grid`` (shape ``(n,)``, evenly spaced, 0 in the
    middle) is the parameter's log less its log prior median; ``a`` and ``log_b`` (shape
    ``(n, curve)``) the line's level and log slope as read there, less their reading at the
    prior median (0 at the middle, and everywhere for a curve without a line);
    ``slope_a`` and ``slope_log_b`` their derivatives at the grid points, those of the
    monotone piecewise-cubic (PCHIP) interpolant through them, which :meth:`change` evaluates.
    """

    grid: np.ndarray
    a: np.ndarray
    log_b: np.ndarray
    slope_a: np.ndarray
    slope_log_b: np.ndarray

    def following(self) -> np.ndarray:
        """Per curve: whether its line moves with the parameter at all."""
        return np.any(self.a != 0.0, axis=0) | np.any(self.log_b != 0.0, axis=0)

    def change(self, which: str, moved: Any, backend: Any = np) -> Any:
        """Per curve, the change of ``a`` or ``log_b`` (``which``) at ``moved``.

        ``moved`` is the parameter's log less its log prior median (a scalar or one value per
        curve; numpy, or a pytensor variable with ``backend=pytensor.tensor``). The cubic
        Hermite interpolant of the grid's values and slopes (continuous with its first
        derivative), continued as a line beyond the grid's ends.
        """
        tensor = getattr(backend, "as_tensor_variable", np.asarray)
        where = getattr(backend, "switch", np.where)
        pair = (self.a, self.slope_a) if which == "a" else (self.log_b, self.slope_log_b)
        values, slopes = tensor(pair[0]), tensor(pair[1])
        grid = self.grid
        step = float(grid[1] - grid[0])
        n_curves = pair[0].shape[1]
        moved = moved * backend.ones(n_curves)
        t = (moved - grid[0]) / step
        i = backend.clip(backend.floor(t), 0, len(grid) - 2).astype("int64")
        u = t - i
        curves = np.arange(n_curves)
        y0, y1 = values[i, curves], values[i + 1, curves]
        d0, d1 = step * slopes[i, curves], step * slopes[i + 1, curves]
        inside = (
            (2 * u**3 - 3 * u**2 + 1) * y0
            + (u**3 - 2 * u**2 + u) * d0
            + (-2 * u**3 + 3 * u**2) * y1
            + (u**3 - u**2) * d1
        )
        below = values[0] + slopes[0] * (moved - grid[0])
        above = values[-1] + slopes[-1] * (moved - grid[-1])
        return where(t < 0, below, where(t > len(grid) - 1, above, inside))


def line_sensitivity(
    data: PreparedData,
    priors: dict[str, PriorSpec],
    parameter: str = "item_sd_median",
    curves: np.ndarray | None = None,
) -> LineSensitivity:
    """Per curve, how the line its data read moves with the log of a pooled map parameter.

    ``parameter`` names a log-normal prior whose median the rows' readings use:
    ``item_sd_median`` (the item spread) or ``choice_noise`` (the argmax noise). Only the
    curves in the boolean mask ``curves`` are read (default: all); the rest are held still
    (their tables all 0), without the cost of reading them. The lines
    (:func:`_curve_lines`, rows read on :data:`FOLLOW_LOG_CE_GRID`) are read with the
    parameter's log at its prior median and one and two prior sds either side, and
    interpolated by a monotone cubic (PCHIP) between them (:meth:`LineSensitivity.change`).
    The readings are far from linear, and not quadratic either: on the ObsScaling
    meta-analysis table (exact match of arithmetic, unscrambling and transliteration; the
    item sd's prior median 1, prior sd 0.5 in its log) a curve's level rises 0.2-0.5 per unit
    log item sd two prior sds below the median, 1-2 just below it, 4 just above and 10 two
    prior sds above. A quadratic through the median and half a prior sd either side (until
    2026-12-06) had its first derivative off by up to 1.4 where the posterior sat (log item
    sd 0.6 below the median), so the free levels still moved with the item sd (posterior
    correlation down to -0.93) and the fit failed (bulk ESS 253, R-hat 1.011, seed 1).
    """
    spec = priors[parameter]
    grid = _FOLLOW_GRID_SDS * float(spec["sigma"])

    def readings(step: float) -> tuple[np.ndarray, np.ndarray]:
        moved = {**priors, parameter: {**spec, "mu": float(spec["mu"]) + step}}
        rows = row_log_ce_readings(data, moved, FOLLOW_LOG_CE_GRID, curves)
        a, b = _curve_lines(data, priors, rows)
        return a, np.log(b)

    read = [readings(float(step)) for step in grid]
    middle = len(grid) // 2
    # a line that cannot be read says nothing about the move, and a slope read only as flat
    # (at the least one) nothing about the slope's: the move is held at the last one read on
    # the way out from the median (read on the model's narrower grid, rows near the floor
    # fell off its edge at a larger item sd, and the clipped slope was a 2.2 drop of log b)
    tables = []
    for which in (0, 1):
        table = np.array([r[which] for r in read])
        readable = np.isfinite(table)
        if which == 1:
            readable &= np.exp(table) > MIN_READ_SLOPE
        source = np.tile(np.arange(len(grid))[:, None], (1, table.shape[1]))
        for k in [*range(middle + 1, len(grid)), *range(middle - 1, -1, -1)]:
            inner = k - 1 if k > middle else k + 1
            source[k] = np.where(readable[k], k, source[inner])
        table = np.take_along_axis(table, source, axis=0)
        table = np.where(readable[middle], table - table[middle], 0.0)
        tables.append((table, PchipInterpolator(grid, table, axis=0).derivative()(grid)))
    (a, slope_a), (log_b, slope_log_b) = tables
    return LineSensitivity(grid=grid, a=a, log_b=log_b, slope_a=slope_a, slope_log_b=slope_log_b)


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
    sd below the typical ``cell_sigma``. ``row_readings``: the rows' readings it used
    (:func:`row_log_ce_readings`, with ``bounds``), which the builders' start uses too.
    """
    from emergestats.models.priors import resolve_priors

    resolved = resolve_priors(priors) if priors is None else priors
    curves_per_task = np.bincount(data.task_index, minlength=len(data.task_labels))
    readings = row_log_ce_readings(data, resolved, bounds=True)
    cell_precision = _cell_readings(data, readings)[1]
    sigma = prior_scale(resolved["cell_sigma"])
    centred_a, centred_log_b, reference = curve_centering(data, resolved, readings)
    return {
        "curve": (centred_a, centred_log_b),
        "curve_reference": reference,
        "task": bool(curves_per_task.mean() >= 5),
        "cell": cell_precision * sigma**2 > 1.0,
        "row_readings": readings,
    }
