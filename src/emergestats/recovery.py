"""Recovery and model choice on the simulator: slope coverage and smooth-vs-broken LOO.

Does the fitted model recover what generated the data, when the data come from a simulator
that shares none of its assumptions (:mod:`emergestats.simulation`: persistent gamma item
difficulty with hard items, per-item lengths, model-level deviations, choices from logits with
a plausible distractor, every metric scored from the same outputs)? A *replicate* is one
simulated benchmark of four tasks on one model family (``n_sizes`` sizes, ``n_items`` items):
a generation and a multiple-choice task with a smooth truth, and a generation and a
multiple-choice task whose per-token CE drops by ``break_factor`` within about half a decade
around ``break_at`` (which pair is broken alternates with the replicate, so both numbers of
choices meet both truths). Each replicate is fitted by the smooth model and, with
``compare=True``, by the broken one, on every metric of the table, both with the irreducible
``floor`` (the simulator's smooth truths have one, and curvature: without a floor in the smooth
model the broken one wins LOO on smooth truths by bending where the floor would), so the smooth
model is nested in the broken one; per curve the study records

- **slope coverage** (smooth truths): whether the 90% interval of ``b`` contains the truth's
  best log-linear slope over the sizes (for a choice task in the fitted map's units,
  ``b_knowledge``, :func:`emergestats.simulation.choice_knowledge_ce`), and the interval's
  width;
- **LOO model choice**: ``elpd_diff`` (broken - smooth) with its SE from the (curve, model)
  cell PSIS-LOO with the cell deviation integrated out
  (:func:`emergestats.inference.compare_by_curve`); the break is *picked* when ``elpd_diff >
  break_z * elpd_se`` (the mirage test's ``latent_break`` rule), else smooth;
- each fit's diagnostics (passed, worst R-hat, divergences): a failed fit is counted, never
  hidden.

Replicates run on ``dask.distributed`` (:mod:`emergestats.cluster`): a ``LocalCluster`` by
default, any ``Client`` passed in. ``benchmarks/recovery.py`` prints the summary.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from emergestats.cluster import Progress, run_on_cluster
from emergestats.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "RecoveryDesign",
    "RecoveryResult",
    "recovery_replicate",
    "recovery_study",
    "summarise_recovery",
]


@dataclass(frozen=True)
class RecoveryDesign:
    """The simulated benchmark of one replicate (four tasks; see the module docstring)."""

    n_sizes: int = 8
    n_items: int = 300
    sizes: tuple[float, float] = (1e7, 1e10)
    break_factor: float = 0.25
    break_at: float = 3e8
    break_width: float = 0.25
    break_z: float = 2.0


@dataclass
class RecoveryResult:
    """A recovery study: one row per (replicate, curve), its summary and how it ran."""

    curves: pd.DataFrame
    summary: pd.DataFrame
    wall_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def recovery_replicate(
    replicate: int,
    seed: int,
    design: RecoveryDesign,
    fit_options: dict[str, Any],
    compare: bool = True,
) -> pd.DataFrame:
    """Simulate one replicate, fit it (smooth, and broken with ``compare``) and score it."""
    from emergestats.inference import compare_by_curve, fit
    from emergestats.simulation import simulate_benchmark

    broken_first = replicate % 2 == 1
    factors = [design.break_factor, design.break_factor, None, None]
    if not broken_first:
        factors = factors[2:] + factors[:2]
    sim = simulate_benchmark(
        n_tasks=4,
        n_sizes=design.n_sizes,
        n_items=design.n_items,
        sizes=design.sizes,
        task_kinds=("generation", "choice"),
        n_choices=(2, 4),
        break_factor=factors,
        break_at=[design.break_at if f is not None else None for f in factors],
        break_width=design.break_width,
        seed=seed,
    )
    options = {"n_ref": sim.n_ref, "lengths": sim.lengths, **fit_options}
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smooth = fit(sim.table, "smooth", random_seed=seed, **options)
        broken = fit(sim.table, "broken", random_seed=seed + 1, **options) if compare else None
    wall = time.perf_counter() - started
    curves = smooth.curves()
    slopes = curves[curves["parameter"] == "b"].set_index("task")
    smooth_diag = smooth.diagnostics_summary()
    frame = sim.truth.loc[:, ["task", "kind", "n_choices", "broken", "b", "b_knowledge"]].copy()
    frame.insert(0, "replicate", replicate)
    frame.insert(1, "seed", seed)
    frame["b_true"] = frame["b_knowledge"]
    frame["b_q05"] = slopes.loc[frame["task"], "q05"].to_numpy()
    frame["b_q95"] = slopes.loc[frame["task"], "q95"].to_numpy()
    frame["b_mean"] = slopes.loc[frame["task"], "mean"].to_numpy()
    frame["b_covered"] = (frame["b_q05"] <= frame["b_true"]) & (frame["b_true"] <= frame["b_q95"])
    frame["smooth_passed"] = bool(smooth_diag["passed"])
    frame["smooth_r_hat"] = float(smooth_diag["r_hat_max"])
    frame["smooth_divergences"] = int(smooth_diag["divergences"])
    if broken is not None:
        broken_diag = broken.diagnostics_summary()
        loo = compare_by_curve(smooth, broken).set_index("task")
        for column in ("elpd_diff", "elpd_se", "pareto_k_max"):
            frame[column] = loo.loc[frame["task"], column].to_numpy()
        frame["picks_break"] = frame["elpd_diff"] > design.break_z * frame["elpd_se"]
        frame["broken_passed"] = bool(broken_diag["passed"])
        frame["broken_r_hat"] = float(broken_diag["r_hat_max"])
    frame["fit_seconds"] = wall
    frame["n_choices"] = frame["n_choices"].astype("Float64")
    return frame.reset_index(drop=True)


def summarise_recovery(curves: pd.DataFrame) -> pd.DataFrame:
    """Slope coverage and LOO choice per task kind and truth, with 90% Jeffreys intervals.

    Rows: ``kind`` (generation, choice, all) x ``truth`` (smooth, broken). Columns: ``curves``;
    ``slope_coverage`` (smooth truths only: share of 90% intervals of ``b`` containing the
    truth), its interval and ``slope_width_median``; ``picks_break`` (share of curves where
    LOO picks the broken latent) and its interval; ``fits_failed`` (curves whose smooth or
    broken fit failed its diagnostics; they are counted in the rates, not dropped).
    """
    from emergestats.mirage.calibration import proportion_interval

    rows = []
    kinds = [*sorted(curves["kind"].unique()), "all"]
    for kind in kinds:
        for truth in (False, True):
            mine = curves[
                (curves["broken"] == truth) & ((curves["kind"] == kind) | (kind == "all"))
            ]
            if not len(mine):
                continue
            row: dict[str, Any] = {
                "kind": kind,
                "truth": "broken" if truth else "smooth",
                "curves": len(mine),
            }
            if not truth:
                hits = int(mine["b_covered"].sum())
                low, high = proportion_interval(hits, len(mine))
                row.update(
                    slope_coverage=hits / len(mine),
                    slope_coverage_low=low,
                    slope_coverage_high=high,
                    slope_width_median=float((mine["b_q95"] - mine["b_q05"]).median()),
                )
            if "picks_break" in mine:
                hits = int(mine["picks_break"].sum())
                low, high = proportion_interval(hits, len(mine))
                row.update(picks_break=hits / len(mine), picks_break_low=low, picks_break_high=high)
                row["pareto_k_over_0_7"] = int((mine["pareto_k_max"] > 0.7).sum())
            failed = ~mine["smooth_passed"]
            if "broken_passed" in mine:
                failed = failed | ~mine["broken_passed"]
            row["fits_failed"] = int(failed.sum())
            rows.append(row)
    return pd.DataFrame(rows)


def recovery_study(
    n_rep: int,
    *,
    design: RecoveryDesign | None = None,
    client: Client | None = None,
    n_workers: int | None = None,
    random_seed: int = 0,
    compare: bool = True,
    time_limit: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    progress: Progress = True,
    **fit_options: Any,
) -> RecoveryResult:
    """Run ``n_rep`` replicates on Dask and summarise slope coverage and LOO model choice.

    Parameters
    ----------
    n_rep
        Replicates (each four curves: see the module docstring).
    design
        The simulated benchmark (:class:`RecoveryDesign`).
    client
        A ``distributed.Client``; default a ``LocalCluster`` of ``n_workers`` processes.
    random_seed
        Replicate ``r`` simulates and fits with seed ``random_seed + 1000 r``.
    compare
        Also fit the broken model and compare by LOO.
    time_limit
        Stop waiting after this many seconds: replicates not finished by then are cancelled
        and left out (``settings["n_done"]`` says how many finished).
    draws, tune, chains, **fit_options
        Passed to :func:`emergestats.fit` (``cores=1`` and ``floor=True`` by default: one
        worker, one core; nested models).
    progress
        Print a line per finished replicate on stderr, or call ``progress(done, total, s)``.

    Returns
    -------
    RecoveryResult
    """
    if n_rep < 1:
        raise ConfigError(f"n_rep must be >= 1, not {n_rep}")
    design = design or RecoveryDesign()
    options = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": 1,
        "floor": True,
        **fit_options,
    }
    run = run_on_cluster(
        [
            (recovery_replicate, (r, random_seed + 1000 * r, design, options, compare), {})
            for r in range(n_rep)
        ],
        client=client,
        n_workers=n_workers,
        progress=progress,
        label="recovery replicates",
        time_limit=time_limit,
    )
    frames = run.finished()
    if not frames:
        raise ConfigError(
            f"no replicate finished within the time limit of {time_limit} s; raise time_limit"
        )
    wall = run.wall_seconds
    scheduler = run.scheduler
    curves = pd.concat(frames, ignore_index=True).sort_values(["replicate", "task"])
    curves = curves.reset_index(drop=True)
    return RecoveryResult(
        curves=curves,
        summary=summarise_recovery(curves),
        wall_seconds=wall,
        settings={
            "n_rep": n_rep,
            "n_done": len(frames),
            "design": asdict(design),
            "random_seed": random_seed,
            "compare": compare,
            "fit_options": options,
            "scheduler": scheduler,
        },
    )
