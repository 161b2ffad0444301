"""Error rates of the mirage test, measured by simulation on ``dask.distributed``.

:func:`calibrate` simulates curves with the project's item-level simulator
(:func:`emergestats.simulation.simulate_curve`, which shares none of the model's assumptions:
gamma item difficulty with very hard items, per-token multipliers, temperature-1 sampling,
choice logits with a plausible distractor, curvature and a floor in the truth) and runs
:func:`~emergestats.mirage.jump_test` on them:

- **smooth truths** (no break): the share called ``excess_jump`` is the *false-alarm rate*;
- **broken truths** (CE multiplied by ``break_factor`` across ``N*`` in the geometric middle of
  the sizes, a logistic step of ``break_width`` e-folds; 0.25 puts 10%-90% of the step inside
  1.1 e-folds, i.e. half a decade): the share called ``excess_jump`` is the *power*.

Each replicate is analysed as its own one-curve test (no multiple-testing adjustment: a real
analysis adjusts across its curves, which only lowers the false-alarm rate further).

Throughput: replicates are batched
----------------------------------
A fit's fixed cost (building the graph, compiling it, tuning) dominates a one-curve fit, so
``batch_size`` replicates of one grid cell are fitted together as independent *curves* of one
table (tasks ``rep000``, ``rep001``, ...; one family), and every replicate curve is tested on its
own rows of that one fit's posterior predictive. The curves then share the model's population
hyperparameters (the family mean and spread of ``(a, log b)``, the cell-deviation and item-sd
scales), which are identical across replicates of one cell by construction; smooth and broken
truths are never batched together. ``benchmarks/mirage.py`` measures this against one fit per
replicate.

Grid
----
One row per design cell: ``kind`` (``generation`` or ``choice``), ``n_choices`` (choice; NaN
for generation), ``mean_length`` (tokens of a generated answer; NaN for choice), ``n_items``,
``n_sizes`` (log-spaced over ``sizes``) and ``break_factor`` (of the broken truths; each design
cell's smooth truths are simulated once whatever its break factors). :func:`default_grid` is
the issue's sweep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from emergestats.cluster import Progress, run_on_cluster
from emergestats.errors import ConfigError
from emergestats.mirage.jumps import VerdictRule

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DESIGN_COLUMNS",
    "GRID_COLUMNS",
    "CalibrationResult",
    "calibrate",
    "calibration_batch",
    "closest_cells",
    "default_grid",
    "detected",
    "kind_of_metric",
    "nearest_cells",
    "proportion_interval",
    "simulate_batch",
    "summarise_calibration",
]

#: The columns that define a design cell (what smooth truths depend on).
DESIGN_COLUMNS: Final[tuple[str, ...]] = ("kind", "n_choices", "mean_length", "n_items", "n_sizes")
GRID_COLUMNS: Final[tuple[str, ...]] = (*DESIGN_COLUMNS, "break_factor")

#: Metrics simulated and kept per task kind: the tested one first, then the continuous ones.
_KEPT_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "generation": ("exact_str_match", "log_likelihood", "edit_distance"),
    "choice": ("multiple_choice_grade", "log_likelihood", "brier_score"),
}
_FAMILY: Final[str] = "sim"


def default_grid() -> pd.DataFrame:
    """The issue's sweep: lengths 1-20, 50-5000 items, 5-12 sizes, generation and K = 2, 4.

    Break factors 0.5 (CE halves: the power target) and 0.25.
    """
    rows: list[dict[str, Any]] = []
    for n_items in (50, 200, 1000, 5000):
        for n_sizes in (5, 8, 12):
            for factor in (0.5, 0.25):
                for length in (1.0, 5.0, 20.0):
                    rows.append(_cell("generation", math.nan, length, n_items, n_sizes, factor))
                for k in (2.0, 4.0):
                    rows.append(_cell("choice", k, math.nan, n_items, n_sizes, factor))
    return pd.DataFrame(rows, columns=list(GRID_COLUMNS))


def _cell(
    kind: str, k: float, length: float, n_items: int, n_sizes: int, factor: float
) -> dict[str, Any]:
    return {
        "kind": kind,
        "n_choices": k,
        "mean_length": length,
        "n_items": n_items,
        "n_sizes": n_sizes,
        "break_factor": factor,
    }


def _check_grid(grid: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(grid).reset_index(drop=True)
    missing = [c for c in GRID_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(f"the calibration grid lacks column(s) {', '.join(missing)}")
    if frame.empty:
        raise ConfigError("the calibration grid has no rows")
    for column in ("n_choices", "mean_length", "n_items", "n_sizes", "break_factor"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    kinds = frame["kind"].astype(str)
    bad = np.flatnonzero(~kinds.isin(("generation", "choice")).to_numpy())
    bad_choice = np.flatnonzero(((kinds == "choice") & ~(frame["n_choices"] >= 2)).to_numpy())
    bad_gen = np.flatnonzero(((kinds == "generation") & ~(frame["mean_length"] >= 1)).to_numpy())
    bad_size = np.flatnonzero(~((frame["n_items"] >= 1) & (frame["n_sizes"] >= 3)).to_numpy())
    bad_break = np.flatnonzero(~(frame["break_factor"] > 0).to_numpy())
    for rows, text in (
        (bad, "'kind' must be 'generation' or 'choice'"),
        (bad_choice, "a choice cell needs n_choices >= 2"),
        (bad_gen, "a generation cell needs mean_length >= 1 token"),
        (bad_size, "every cell needs n_items >= 1 and n_sizes >= 3"),
        (bad_break, "break_factor must be a positive multiplier of CE"),
    ):
        if len(rows):
            raise ConfigError(f"calibration grid rows {rows.tolist()}: {text}")
    frame.loc[kinds == "generation", "n_choices"] = math.nan
    frame.loc[kinds == "choice", "mean_length"] = math.nan
    return frame


def _cell_label(cell: Mapping[str, Any]) -> str:
    if cell["kind"] == "choice":
        what = f"choice K={int(cell['n_choices'])}"
    else:
        what = f"generation L={cell['mean_length']:g}"
    return f"{what}, {int(cell['n_items'])} items, {int(cell['n_sizes'])} sizes"


def simulate_batch(
    cell: Mapping[str, Any],
    truth: str,
    seeds: Sequence[int],
    settings: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray], list[Any]]:
    """The simulated table of one batch (tasks ``rep000``, ...), its answer lengths and curves.

    Replicate ``i``'s truth (``log_ce_ref``, slope, floor and curvature drawn from
    :class:`~emergestats.simulation.TruthPopulation`), items and outputs depend only on
    ``seeds[i]``, so a replicate is the same whatever batch it is fitted in. The third value
    lists the :class:`~emergestats.simulation.SimulatedCurve` of each replicate (its
    ``truth``, and ``b_knowledge``: the slope a fit estimates). ``settings["deviation_sd"]``
    (default 0.1, :func:`~emergestats.simulation.simulate_curve`'s) is the sd of each model's
    deviation of log CE from the truth's curve; 0 gives the truth's population curve.
    """
    from emergestats.simulation import TruthPopulation, simulate_curve

    if truth not in ("smooth", "broken"):
        raise ConfigError(f"truth must be 'smooth' or 'broken', not {truth!r}")
    population = TruthPopulation()
    params = simulated_sizes(cell, settings)
    break_at = float(np.exp(np.mean(np.log(params))))
    kind = str(cell["kind"])
    pool = settings.get("length_pool")
    tables = []
    lengths: dict[tuple[str, str], np.ndarray] = {}
    curves = []
    for replicate, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        line = population.draw(rng, n_ref=break_at)
        if truth == "broken":
            line = replace(
                line,
                break_at=break_at,
                break_factor=float(cell["break_factor"]),
                break_width=float(settings.get("break_width", 0.25)),
            )
        curve = simulate_curve(
            line,
            params=params,
            kind="choice" if kind == "choice" else "generation",
            n_items=int(cell["n_items"]),
            n_choices=int(cell["n_choices"]) if kind == "choice" else 4,
            lengths=(
                rng.choice(np.asarray(pool, dtype=np.int64), size=int(cell["n_items"]))
                if kind == "generation" and pool is not None
                else None
            ),
            mean_length=float(cell["mean_length"]) if kind == "generation" else 1.0,
            pass_k=(),
            subset_sizes=(),
            deviation_sd=float(settings.get("deviation_sd", 0.1)),
            seed=rng,
        )
        curves.append(curve)
        task = f"rep{replicate:03d}"
        frame = curve.table(task=task, family=_FAMILY)
        tables.append(frame[frame["metric"].isin(_KEPT_METRICS[kind])])
        if kind == "generation":
            lengths[(task, task)] = curve.lengths
    return pd.concat(tables, ignore_index=True), lengths, curves


def _fitted_slopes(fit: Any, mode: str) -> dict[str, tuple[float, float]]:
    """The 90% interval of each curve's fitted slope ``b``, by task; empty for
    ``leave_future_out`` (fitted on the early sizes only, it estimates another slope)."""
    if fit is None or mode == "leave_future_out":
        return {}
    curves = fit.curves()
    b = curves[curves["parameter"] == "b"]
    return {
        str(task): (float(q05), float(q95))
        for task, q05, q95 in zip(b["task"], b["q05"], b["q95"], strict=True)
    }


def simulated_sizes(cell: Mapping[str, Any], settings: Mapping[str, Any]) -> np.ndarray:
    """The model sizes of a cell's curves: ``settings["params"]`` when given, else ``n_sizes``
    log-spaced over ``settings["sizes"]`` (default 1e7-1e10)."""
    given = settings.get("params")
    if given is not None:
        params = np.sort(np.asarray(given, dtype=float))
        if params.size != int(cell["n_sizes"]):
            raise ConfigError(
                f"the cell has n_sizes {int(cell['n_sizes'])} but {params.size} sizes were given"
            )
        return params
    low, high = settings.get("sizes", (1e7, 1e10))
    return np.geomspace(low, high, int(cell["n_sizes"]))


def calibration_batch(
    cell: Mapping[str, Any],
    truth: str,
    seeds: Sequence[int],
    settings: Mapping[str, Any],
    first: int = 0,
) -> pd.DataFrame:
    """Simulate ``len(seeds)`` replicates of one grid cell and test them in one batched fit.

    The unit of work :func:`calibrate` sends to a Dask worker (importable, picklable).

    Parameters
    ----------
    cell
        One grid row (see the module docstring).
    truth
        ``"smooth"`` or ``"broken"``.
    seeds
        One seed per replicate (of its truth, items and outputs).
    settings
        ``mode``, ``n_replicates``, ``rule`` (a :class:`VerdictRule`), ``sizes`` (smallest,
        largest), ``break_width``, ``fit_options`` (for :func:`emergestats.fit`) and
        ``random_seed`` of the fit.
    first
        Number of the first replicate (replicate ``first + i`` gets ``seeds[i]``).

    Returns
    -------
    pandas.DataFrame
        One row per replicate: the grid columns, ``truth``, ``replicate``, ``seed``, the true
        slope parameter (``true_slope``), the primary statistic's ``observed``, predicted
        quantiles, ``p_value``, ``verdict``, ``reason``, the LOO and step-test columns,
        ``slope_estimand`` (the truth's best log-linear slope over the sizes in the fitted map's
        units, ``SimulatedCurve.b_knowledge``) beside the smooth fit's 90% interval of ``b``
        (``slope_q05``, ``slope_q95``; NaN for ``leave_future_out``), the fits' diagnostics
        and ``batch_size`` and ``batch_seconds`` of the batch.
    """
    from emergestats.mirage.jumps import jump_test

    started = time.perf_counter()
    table, lengths, curves = simulate_batch(cell, truth, seeds, settings)
    options = dict(settings.get("fit_options", {}))
    if lengths:
        options["lengths"] = lengths
    result = jump_test(
        table,
        modes=(str(settings.get("mode", "cross_metric")),),
        rule=settings.get("rule", VerdictRule(adjust="none")),
        compare_broken=bool(settings.get("compare_broken", False)),
        n_replicates=int(settings.get("n_replicates", 400)),
        random_seed=settings.get("random_seed"),
        **options,
    )
    primary = result.verdicts[result.verdicts["primary"]].set_index("task")
    seconds = time.perf_counter() - started
    passed = {k: bool(v.get("passed")) for k, v in result.diagnostics.items()}
    mode = str(settings.get("mode", "cross_metric"))
    slopes = _fitted_slopes(result.fits.get(f"{mode}/smooth"), mode)
    rows = []
    for replicate, (seed, curve) in enumerate(zip(seeds, curves, strict=True)):
        task = f"rep{replicate:03d}"
        found = primary.loc[task]
        slope_q05, slope_q95 = slopes.get(task, (math.nan, math.nan))
        rows.append(
            {
                **{c: cell[c] for c in GRID_COLUMNS},
                "truth": truth,
                "replicate": first + replicate,
                "seed": int(seed),
                "true_slope": curve.truth.slope,
                "observed": found["observed"],
                "predicted_q05": found["predicted_q05"],
                "predicted_q50": found["predicted_q50"],
                "predicted_q95": found["predicted_q95"],
                "p_value": found["p_value"],
                "verdict": found["verdict"],
                "reason": found["reason"],
                "elpd_diff": found["elpd_diff"],
                "elpd_se": found["elpd_se"],
                "pareto_k_max": found["pareto_k_max"],
                "step_p": found["step_p"],
                "latent_break": found["latent_break"],
                "slope_estimand": curve.b_knowledge,
                "slope_q05": slope_q05,
                "slope_q95": slope_q95,
                "smooth_passed": passed.get(f"{mode}/smooth", False),
                "broken_passed": passed.get(f"{mode}/broken", math.nan),
                "batch_size": len(seeds),
                "batch_seconds": seconds,
            }
        )
    return pd.DataFrame(rows)


def proportion_interval(successes: int, trials: int, level: float = 0.9) -> tuple[float, float]:
    """Jeffreys interval of a binomial proportion."""
    if trials == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2
    a, b = successes + 0.5, trials - successes + 0.5
    lower = 0.0 if successes == 0 else float(stats.beta.ppf(tail, a, b))
    upper = 1.0 if successes == trials else float(stats.beta.ppf(1 - tail, a, b))
    return lower, upper


def summarise_calibration(
    replicates: pd.DataFrame, *, alpha: float = 0.05, max_false_alarm: float = 0.10
) -> pd.DataFrame:
    """False alarm and power per grid cell, with 90% Jeffreys intervals.

    ``false_alarm``: share of smooth-truth replicates called ``excess_jump`` (an inconclusive
    one is not an alarm); ``power``: the share of broken-truth ones; ``*_p``: the same with
    the raw rule ``p_value <= alpha`` (diagnostics ignored); ``inconclusive_*``: shares
    withheld; ``meets_false_alarm``: ``false_alarm <= max_false_alarm``. With the slope columns
    of :func:`calibration_batch`: ``slope_coverage`` (share of smooth truths whose fit passed
    its diagnostics with ``slope_estimand`` inside the 90% interval of ``b``; ``n_slope`` of
    them) and ``slope_width_median``.
    """
    design = list(DESIGN_COLUMNS)
    smooth = replicates[replicates["truth"] == "smooth"]
    broken = replicates[replicates["truth"] == "broken"]
    cells = replicates.loc[:, list(GRID_COLUMNS)].drop_duplicates().reset_index(drop=True)
    rows = []
    for record in cells.to_dict("records"):
        cell = {str(k): v for k, v in record.items()}
        same = np.ones(len(smooth), dtype=bool)
        for column in design:
            same &= _equal(smooth[column], cell[column])
        null = smooth[same]
        alt_mask = np.ones(len(broken), dtype=bool)
        for column in GRID_COLUMNS:
            alt_mask &= _equal(broken[column], cell[column])
        alt = broken[alt_mask]
        n_alarm = int((null["verdict"] == "excess_jump").sum())
        extra = _break_rates(null, alt)
        n_hit = int((alt["verdict"] == "excess_jump").sum())
        fa_low, fa_high = proportion_interval(n_alarm, len(null))
        pw_low, pw_high = proportion_interval(n_hit, len(alt))
        false_alarm = n_alarm / len(null) if len(null) else math.nan
        rows.append(
            {
                **cell,
                "cell": _cell_label(cell),
                "n_smooth": len(null),
                "n_broken": len(alt),
                "false_alarm": false_alarm,
                "false_alarm_q05": fa_low,
                "false_alarm_q95": fa_high,
                "power": n_hit / len(alt) if len(alt) else math.nan,
                "power_q05": pw_low,
                "power_q95": pw_high,
                "false_alarm_p": float((null["p_value"] <= alpha).mean()) if len(null) else np.nan,
                "power_p": float((alt["p_value"] <= alpha).mean()) if len(alt) else np.nan,
                "inconclusive_smooth": float((null["verdict"] == "inconclusive").mean())
                if len(null)
                else np.nan,
                "inconclusive_broken": float((alt["verdict"] == "inconclusive").mean())
                if len(alt)
                else np.nan,
                "meets_false_alarm": bool(false_alarm <= max_false_alarm),
                **extra,
                **_slope_coverage(null),
            }
        )
    return pd.DataFrame(rows)


def _slope_coverage(null: pd.DataFrame) -> dict[str, float]:
    """Slope coverage of the smooth truths whose fit passed (see :func:`summarise_calibration`)."""
    if "slope_q05" not in null.columns:
        return {"n_slope": 0, "slope_coverage": math.nan, "slope_width_median": math.nan}
    low = null["slope_q05"].to_numpy(dtype=float, na_value=np.nan)
    high = null["slope_q95"].to_numpy(dtype=float, na_value=np.nan)
    true = null["slope_estimand"].to_numpy(dtype=float, na_value=np.nan)
    passed = null["smooth_passed"].to_numpy(dtype=bool)
    usable = passed & np.isfinite(low) & np.isfinite(high) & np.isfinite(true)
    covered = (low <= true) & (true <= high)
    return {
        "n_slope": int(usable.sum()),
        "slope_coverage": float(covered[usable].mean()) if usable.any() else math.nan,
        "slope_width_median": float(np.median((high - low)[usable])) if usable.any() else math.nan,
    }


def detected(replicates: pd.DataFrame) -> pd.Series:
    """Whether the test reported the break of each replicate: ``excess_jump``, or a latent
    break by the step test of rule 7 (``latent_break == 1``; NaN, not measurable, is no call)."""
    flag = replicates["verdict"] == "excess_jump"
    if "latent_break" in replicates.columns:
        flag |= replicates["latent_break"].to_numpy(dtype=float, na_value=np.nan) == 1.0
    return flag


def _break_rates(null: pd.DataFrame, alt: pd.DataFrame) -> dict[str, float]:
    """Rule 7's rates: ``latent_break`` (1) among smooth and broken truths, and of either call.

    ``*_break``: share with ``latent_break == 1`` (the step test; NaN, not measurable, counts as
    no call); ``*_break_raw``: share with ``step_p <= 0.05`` whatever the fit's diagnostics;
    ``*_loo_raw``: share with ``elpd_diff > 2 elpd_se`` (the smooth-vs-broken LOO, only with
    ``compare_broken``; NaN without); ``*_any``: share called ``excess_jump`` or
    ``latent_break``; ``undecided_break_*``: share with ``latent_break`` NaN.
    """
    out: dict[str, float] = {}
    for name, part in (("false_alarm", null), ("power", alt)):
        if "latent_break" not in part.columns or not len(part):
            for suffix in ("break", "break_raw", "loo_raw", "any"):
                out[f"{name}_{suffix}"] = math.nan
            continue
        flag = part["latent_break"].to_numpy(dtype=float, na_value=np.nan) == 1.0
        out[f"{name}_break"] = float(flag.mean())
        # the step test without its gate (the fit's diagnostics): what the evidence alone gives
        step = (
            part["step_p"].to_numpy(dtype=float, na_value=np.nan)
            if "step_p" in part.columns
            else np.full(len(part), np.nan)
        )
        out[f"{name}_break_raw"] = (
            float((step <= 0.05).mean()) if np.isfinite(step).any() else math.nan
        )
        diff = part["elpd_diff"].to_numpy(dtype=float, na_value=np.nan)
        se = part["elpd_se"].to_numpy(dtype=float, na_value=np.nan)
        out[f"{name}_loo_raw"] = (
            float((diff > 2.0 * se).mean()) if np.isfinite(diff).any() else math.nan
        )
        out[f"{name}_any"] = float(detected(part).mean())
    for name, part in (("smooth", null), ("broken", alt)):
        values = (
            part["latent_break"].to_numpy(dtype=float, na_value=np.nan)
            if "latent_break" in part.columns
            else np.array([])
        )
        out[f"undecided_break_{name}"] = float(np.isnan(values).mean()) if values.size else math.nan
    return out


def _equal(column: pd.Series, value: Any) -> np.ndarray:
    if isinstance(value, float) and math.isnan(value):
        return column.isna().to_numpy()
    return (column == value).to_numpy()


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` measured.

    Attributes
    ----------
    replicates
        One row per simulated test (see :func:`calibration_batch`).
    summary
        One row per grid cell (see :func:`summarise_calibration`).
    wall_seconds
        Wall time of the sweep (simulation, fits and tests, on the cluster).
    settings
        Replicates, batch size, mode, sampler settings and the scheduler used.
    """

    replicates: pd.DataFrame
    summary: pd.DataFrame
    wall_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def tests_per_minute(self) -> float:
        """Simulated jump tests completed per minute of wall time."""
        return 60.0 * len(self.replicates) / self.wall_seconds

    def failing_cells(self) -> pd.DataFrame:
        """The grid cells whose false-alarm rate misses its target (their verdicts are withheld)."""
        return self.summary[~self.summary["meets_false_alarm"]]


def kind_of_metric(metric_kind: str) -> str:
    """The calibration grid's task kind of a tested metric kind: exact match and pass@k are
    ``generation``, grade and accuracy ``choice``."""
    generation = ("exact_match", "greedy_match", "pass_at_k")
    return "generation" if metric_kind in generation else "choice"


def closest_cells(
    summary: pd.DataFrame,
    kind: str,
    n_items: float,
    n_sizes: float,
    n_choices: float = math.nan,
) -> pd.DataFrame:
    """The measured cells of ``kind`` nearest to a tested series' design (all ties).

    Distance: ``|log(items / n_items)| + |sizes - n_sizes| / 4``, plus ``|log(K / n_choices)|``
    for a choice series whose number of choices is known (a ten-choice task is nearer the K = 4
    cell than the K = 2 one). An unknown item count counts as 100. Empty when no cell of the
    kind was measured.
    """
    mine = summary[summary["kind"] == kind]
    if mine.empty:
        return mine
    items = n_items if math.isfinite(n_items) else 100.0
    distance = np.abs(np.log(mine["n_items"].to_numpy(float) / items)) + (
        np.abs(mine["n_sizes"].to_numpy(float) - float(n_sizes)) / 4.0
    )
    if kind == "choice" and math.isfinite(n_choices) and n_choices > 0:
        distance = distance + np.abs(np.log(mine["n_choices"].to_numpy(float) / n_choices))
    return mine[np.isclose(distance, distance.min())]


def nearest_cells(verdicts: pd.DataFrame, calibration: CalibrationResult) -> pd.DataFrame:
    """For every verdict row, the calibration cell nearest to its design: label, false alarm, power.

    ``power_any`` is the share of the broken truths called ``excess_jump`` or ``latent_break``
    (NaN for a calibration without ``latent_break`` rates).

    The cells of :func:`closest_cells` (same kind; nearest in items, sizes and, for a choice
    series that says it, the number of choices); over the dimensions a verdict row does not
    know (answer length, the number of choices where unknown, break factor) the *worst* false
    alarm and the *lowest* power are taken. Where both tables have a ``mode`` column, a row is
    matched only to cells of its own mode (a mode the calibration did not measure gets no cell:
    NaN rates, and the rules that need them do not apply).
    """
    summary = calibration.summary
    by_mode = "mode" in summary.columns and "mode" in verdicts.columns
    out = pd.DataFrame(
        {
            "cell": pd.Series([None] * len(verdicts), dtype=object),
            "false_alarm": np.nan,
            "power": np.nan,
            "power_any": np.nan,
        },
        index=verdicts.index,
    )
    for index, row in verdicts.iterrows():
        kind = kind_of_metric(str(row["metric_kind"]))
        near = closest_cells(
            summary[summary["mode"] == row["mode"]] if by_mode else summary,
            kind,
            float(row["n_items"]),
            float(row["n_sizes"]),
            float(row.get("n_choices", math.nan)),
        )
        if near.empty:
            continue
        out.at[index, "cell"] = _cells_label(near)
        out.at[index, "false_alarm"] = float(near["false_alarm"].max())
        out.at[index, "power"] = float(near["power"].min())
        if "power_any" in near.columns:
            out.at[index, "power_any"] = float(near["power_any"].min())
    return out


def _cells_label(cells: pd.DataFrame) -> str:
    """One label for tied cells, e.g. ``generation L=1|5|20, 200 items, 8 sizes``."""
    records = [{str(k): v for k, v in c.items()} for c in cells.to_dict("records")]
    labels = sorted({_cell_label(r) for r in records})
    design = cells.loc[:, ["kind", "n_items", "n_sizes"]].drop_duplicates()
    if len(labels) == 1 or len(design) > 1:
        return "; ".join(labels)
    kind, items, sizes = design.iloc[0]
    column, name = ("n_choices", "K") if kind == "choice" else ("mean_length", "L")
    values = "|".join(f"{v:g}" for v in sorted(set(cells[column].astype(float))))
    return f"{kind} {name}={values}, {int(items)} items, {int(sizes)} sizes"


def _batches(
    grid: pd.DataFrame,
    n_rep: int,
    batch_size: int,
    random_seed: int,
    truths: Sequence[str] = ("smooth", "broken"),
) -> list[tuple[dict[str, Any], str, list[int], int]]:
    """(cell, truth, seeds, first) per batch: smooth truths once per design, broken per row.

    The seeds of a (cell, truth) do not depend on ``truths``: leaving the smooth truths out
    simulates the same broken ones.
    """
    work: list[tuple[dict[str, Any], str, list[int], int]] = []
    sequence = np.random.SeedSequence(random_seed)
    seen_designs: set[tuple[Any, ...]] = set()
    for record in grid.to_dict("records"):
        cell = {str(k): v for k, v in record.items()}
        design = tuple("nan" if _isnan(cell[c]) else cell[c] for c in DESIGN_COLUMNS)
        kinds = ["broken"] if design in seen_designs else ["smooth", "broken"]
        seen_designs.add(design)
        for truth in kinds:
            seeds = [int(s.generate_state(1)[0]) for s in sequence.spawn(n_rep)]
            if truth not in truths:
                continue
            for start in range(0, n_rep, batch_size):
                work.append((cell, truth, seeds[start : start + batch_size], start))
    return work


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def calibrate(
    grid: pd.DataFrame | Sequence[Mapping[str, Any]],
    n_rep: int,
    *,
    client: Client | None = None,
    mode: str = "cross_metric",
    batch_size: int = 25,
    n_workers: int | None = None,
    n_replicates: int = 400,
    draws: int = 500,
    tune: int = 500,
    chains: int = 4,
    rule: VerdictRule | None = None,
    sizes: tuple[float, float] = (1e7, 1e10),
    params: Sequence[float] | None = None,
    length_pool: Sequence[int] | None = None,
    truths: Sequence[str] = ("smooth", "broken"),
    break_width: float = 0.25,
    random_seed: int = 0,
    progress: Progress = True,
    compare_broken: bool = False,
    **fit_options: Any,
) -> CalibrationResult:
    """False-alarm rate and power of the mirage test over a grid, on ``dask.distributed``.

    Parameters
    ----------
    grid
        Design cells (:data:`GRID_COLUMNS`; :func:`default_grid`).
    n_rep
        Replicates per cell and truth (smooth and broken).
    client
        A ``distributed.Client`` (any cluster); default a ``LocalCluster`` of ``n_workers``
        single-threaded worker processes, closed at the end.
    mode
        The jump test's mode (default ``cross_metric``).
    batch_size
        Replicates fitted together in one model (see the module docstring); 1 is the naive
        one-fit-per-replicate loop.
    n_workers
        Workers of the default ``LocalCluster`` (default: the CPU count, at most 4).
    n_replicates, draws, tune, chains
        Posterior-predictive replicates per test and sampler settings per fit. The default
        4 x 500 draws: with 2 x 400 every batched fit of the first sweeps failed the
        diagnostics gate and withheld all its verdicts; with 4 x 500 the batches of broken
        truths pass (``docs/calibration.md``).
    rule
        The verdict rule; the default is :class:`VerdictRule` with ``adjust="none"`` (each
        simulated test is one curve).
    sizes
        Smallest and largest model size (the break is at their geometric mean).
    params
        The model sizes themselves (e.g. a planned family) instead of ``n_sizes`` log-spaced
        over ``sizes``; every grid row's ``n_sizes`` must then be ``len(params)``. The break is
        at their geometric mean.
    length_pool
        Answer lengths (tokens) of a real task's items: a generation cell's ``n_items`` items
        draw their lengths from it with replacement instead of from a negative binomial of
        mean ``mean_length``.
    truths
        Which truths to simulate: both (the default), or only ``"broken"`` (power alone) or
        ``"smooth"`` (false alarm alone). A replicate's seed does not depend on this choice.
    break_width
        Width of the broken truths' step in e-folds.
    random_seed
        Seed of the whole sweep: replicate ``i`` of a cell gets the same truth whatever the
        batching and the cluster.
    progress
        Print one line per finished batch to stderr (``True``), nothing (``False``), or call
        ``progress(done, total, seconds)``.
    compare_broken
        Also fit the broken model per batch (``cross_metric`` and ``in_sample``) and record the
        smooth-vs-broken LOO per replicate (``elpd_diff``, ``elpd_se``, ``pareto_k_max``);
        doubles the sampling. ``latent_break`` (rule 7's step test) needs only the smooth fit
        and is recorded either way.
    **fit_options
        Passed to :func:`emergestats.fit` (``sampler``, ``floor``, ...). Unless given,
        ``cores=1`` (every worker runs its chains on its own core) and
        ``log_likelihood=False``, ``posterior_predictive=False``: the test reads only the
        posterior of its fits (the LOO of ``compare_broken`` computes its own integrated
        log-likelihood) and then discards them (``benchmarks/mirage.py``'s
        ``batched_all_groups`` arm measures what skipping them saves).

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> grid = [dict(kind="generation", n_choices=None, mean_length=5, n_items=200,
    ...              n_sizes=8, break_factor=0.5)]
    >>> result = calibrate(grid, 25)  # doctest: +SKIP
    >>> result.summary[["cell", "false_alarm", "power"]]  # doctest: +SKIP
    """
    cells = _check_grid(grid)
    if n_rep < 1 or batch_size < 1:
        raise ConfigError(f"n_rep and batch_size must be >= 1, not {n_rep} and {batch_size}")
    unknown = sorted(set(truths) - {"smooth", "broken"})
    if unknown or not truths:
        raise ConfigError(f"truths must name 'smooth' and/or 'broken', not {list(truths)}")
    if params is not None:
        given = np.asarray(params, dtype=float)
        if given.size < 3 or not np.all(np.isfinite(given) & (given > 0)):
            raise ConfigError(f"params must be >= 3 positive model sizes, not {list(params)}")
        if np.unique(given).size != given.size:
            raise ConfigError(f"params lists a model size twice: {list(params)}")
        wrong = np.flatnonzero(cells["n_sizes"].to_numpy() != given.size)
        if wrong.size:
            raise ConfigError(
                f"calibration grid rows {wrong.tolist()}: n_sizes must be {given.size}, "
                "the number of params given"
            )
    if length_pool is not None and (len(length_pool) == 0 or min(int(n) for n in length_pool) < 1):
        raise ConfigError("length_pool must list positive answer lengths (tokens)")
    rule = rule or VerdictRule(adjust="none")
    options = {"cores": 1, "log_likelihood": False, "posterior_predictive": False, **fit_options}
    settings = {
        "mode": mode,
        "n_replicates": n_replicates,
        "rule": rule,
        "sizes": sizes,
        "params": None if params is None else [float(p) for p in params],
        "length_pool": None if length_pool is None else [int(n) for n in length_pool],
        "break_width": break_width,
        "random_seed": random_seed,
        "compare_broken": compare_broken,
        "fit_options": {"draws": draws, "tune": tune, "chains": chains, **options},
    }
    work = _batches(cells, n_rep, batch_size, random_seed, truths)
    run = run_on_cluster(
        [
            (calibration_batch, (cell, truth, seeds, settings, first), {})
            for cell, truth, seeds, first in work
        ],
        client=client,
        n_workers=n_workers,
        progress=progress,
        label="calibration batches",
        describe=lambda frame: (
            f"({len(frame)} tests of {_cell_label(frame.iloc[0])}, {frame['truth'].iloc[0]})"
        ),
    )
    frames = run.finished()
    wall = run.wall_seconds
    scheduler = run.scheduler
    replicates = pd.concat(frames, ignore_index=True)
    sort = [*GRID_COLUMNS, "truth", "replicate"]
    replicates = replicates.sort_values(sort, kind="stable").reset_index(drop=True)
    summary = summarise_calibration(
        replicates, alpha=rule.alpha, max_false_alarm=rule.max_false_alarm
    )
    return CalibrationResult(
        replicates=replicates,
        summary=summary,
        wall_seconds=wall,
        settings={
            "n_rep": n_rep,
            "batch_size": batch_size,
            "mode": mode,
            "compare_broken": compare_broken,
            "n_replicates": n_replicates,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "truths": list(truths),
            "params": settings["params"],
            "break_width": break_width,
            "random_seed": random_seed,
            "scheduler": scheduler,
            "fit_options": {k: v for k, v in options.items()},
        },
    )
