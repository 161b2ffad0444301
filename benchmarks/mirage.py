"""Throughput of the mirage test's calibration: batched replicates versus one fit per replicate.

The arms run :func:`emergestats.mirage.calibrate` on the same grid cell, the same replicate
seeds and the same ``LocalCluster`` size in one run of this script:

``batched``
    ``batch_size`` replicates of a cell fitted together as independent curves of one model
    (one compile and one tuning per batch).
``naive``
    ``batch_size=1``: one model fit per simulated test.
``batched_all_groups``
    ``batched``, but every fit also computes the pointwise log-likelihood and the posterior
    predictive groups the test does not read (how calibration fits ran before 2026-12-05).

Printed: tests, wall seconds, tests per minute, the share of tests with a verdict, and the
projected wall time of 1000 tests. Tests per minute include everything (simulation, model
build and compile, sampling, posterior predictive, statistics) and the cluster's start.

Usage::

    .venv/bin/python benchmarks/mirage.py                      # ~10 min on 2 cores
    .venv/bin/python benchmarks/mirage.py --n-rep 4 --quick    # ~3 min
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from typing import Any

import pandas as pd

from emergestats.mirage import VerdictRule, calibrate
from emergestats.report.formats import render_table


def _arm(
    name: str, cell: dict[str, Any], args: argparse.Namespace, batch_size: int
) -> dict[str, Any]:
    groups = name == "batched_all_groups"
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(
            [cell],
            args.n_rep,
            batch_size=batch_size,
            n_workers=args.workers,
            n_replicates=args.replicates,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            sampler=args.sampler,
            rule=VerdictRule(adjust="none", require_diagnostics=not args.no_diagnostics),
            progress=False,
            log_likelihood=groups,
            posterior_predictive=groups,
        )
    wall = time.perf_counter() - started
    tests = len(result.replicates)
    decided = float((result.replicates["verdict"] != "inconclusive").mean())
    return {
        "arm": name,
        "batch_size": batch_size,
        "tests": tests,
        "wall_s": round(wall, 1),
        "tests_per_min": round(60 * tests / wall, 2),
        "min_for_1000": round(1000 / (60 * tests / wall) / 1, 1),
        "decided": round(decided, 2),
        "false_alarm": round(float(result.summary["false_alarm"].iloc[0]), 3),
        "power": round(float(result.summary["power"].iloc[0]), 3),
    }


def _batch_sizes(args: argparse.Namespace) -> list[int]:
    if not args.batch_size:
        return [args.n_rep]
    return [int(size) for size in str(args.batch_size).split(",")]


_SWEEP_CELLS: dict[str, dict[str, Any]] = {
    "gen5": {"kind": "generation", "n_choices": math.nan, "mean_length": 5.0},
    "gen1": {"kind": "generation", "n_choices": math.nan, "mean_length": 1.0},
    "gen20": {"kind": "generation", "n_choices": math.nan, "mean_length": 20.0},
    "mc4": {"kind": "choice", "n_choices": 4.0, "mean_length": math.nan},
    "mc2": {"kind": "choice", "n_choices": 2.0, "mean_length": math.nan},
}


def sweep(args: argparse.Namespace) -> None:
    """One calibration sweep: ``--cells`` x ``--items`` x ``--sizes``, written to ``--sweep``.

    Writes ``<sweep>`` (the per-replicate rows) and ``<sweep stem>-summary.csv`` (per cell),
    both with a ``mode`` column, and prints the wall time and tests per minute.
    """
    from pathlib import Path

    grid = [
        {
            **_SWEEP_CELLS[name],
            "n_items": args.items,
            "n_sizes": args.sizes,
            "break_factor": args.break_factor,
        }
        for name in args.cells.split(",")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(
            grid,
            args.n_rep,
            batch_size=_batch_sizes(args)[0],
            n_workers=args.workers,
            mode=args.mode,
            compare_broken=args.broken,
            n_replicates=args.replicates,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            sampler=args.sampler,
            random_seed=args.seed,
            truths=tuple(args.truths.split(",")),
        )
    out = Path(args.sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.replicates.assign(mode=args.mode).to_csv(out, index=False)
    summary = result.summary.assign(mode=args.mode, wall_s=round(result.wall_seconds, 1))
    summary.to_csv(out.with_name(out.stem + "-summary.csv"), index=False)
    print(
        f"sweep: {len(result.replicates)} tests in {result.wall_seconds:.0f} s, "
        f"{result.tests_per_minute:.2f} tests/min ({args.workers} workers, mode {args.mode}, "
        f"broken fits {'on' if args.broken else 'off'})"
    )
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(summary.drop(columns=["cell"]).to_string(index=False))


def combine(paths: list[str], out: str) -> None:
    """Summarise per-replicate sweep CSVs (``--sweep`` outputs) into ``docs/calibration.csv``
    and ``.png``: one row per (mode, grid cell), with 95% Wilson intervals of the rates."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    from emergestats.mirage import summarise_calibration
    from emergestats.plots.calibration import plot_calibration, wilson_interval

    frames = []
    for path in paths:
        replicates = pd.read_csv(path)
        mode = str(replicates["mode"].iloc[0]) if "mode" in replicates else "leave_future_out"
        summary = summarise_calibration(replicates.assign(mode=mode)).assign(
            mode=mode,
            compare_broken=bool(replicates["elpd_diff"].notna().any())
            if "elpd_diff" in replicates
            else False,
            source=Path(path).name,
        )
        for rate, trials in (("false_alarm", "n_smooth"), ("power", "n_broken")):
            for suffix in ("", "_p"):
                column = rate + suffix
                bounds = [
                    wilson_interval(round(r * n), int(n))
                    for r, n in zip(summary[column], summary[trials], strict=True)
                ]
                summary[f"{column}_wilson95_low"] = [b[0] for b in bounds]
                summary[f"{column}_wilson95_high"] = [b[1] for b in bounds]
        frames.append(summary)
    table = pd.concat(frames, ignore_index=True)
    first = [
        "mode",
        "compare_broken",
        "cell",
        *[c for c in table.columns if c not in ("mode", "compare_broken", "cell")],
    ]
    table = table.loc[:, first]
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(target, index=False)
    figure = plot_calibration(table)
    figure.savefig(target.with_suffix(".png"), dpi=120)
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", default=None, help="run a calibration sweep; write this CSV")
    parser.add_argument("--mode", default="cross_metric", help="sweep: the jump test's mode")
    parser.add_argument("--broken", action="store_true", help="sweep: fit the broken model too")
    parser.add_argument("--cells", default="gen5", help="sweep: comma-separated cell kinds")
    parser.add_argument("--seed", type=int, default=0, help="sweep: seed of the whole sweep")
    parser.add_argument("--break-factor", type=float, default=0.5, help="sweep: CE multiplier")
    parser.add_argument(
        "--truths", default="smooth,broken", help="sweep: smooth, broken or both (default)"
    )
    parser.add_argument("--combine", default=None, help="comma-separated sweep CSVs to summarise")
    parser.add_argument("--to", default="docs/calibration.csv", help="combine: output table")
    parser.add_argument("--n-rep", type=int, default=10, help="replicates per truth")
    parser.add_argument(
        "--batch-size",
        default=None,
        help="default: n-rep; a comma list (10,20) runs each batched arm at each size",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--sampler", default="nutpie")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--sizes", type=int, default=8)
    parser.add_argument("--length", type=float, default=5.0)
    parser.add_argument("--no-diagnostics", action="store_true", help="ignore the fit gate")
    parser.add_argument("--quick", action="store_true", help="draws = tune = 200")
    parser.add_argument(
        "--arms", default="batched,naive", help="of batched, naive, batched_all_groups"
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.draws = args.tune = 200
        args.replicates = 200
    if args.combine:
        combine(args.combine.split(","), args.to)
        return
    if args.sweep:
        sweep(args)
        return
    cell = {
        "kind": "generation",
        "n_choices": math.nan,
        "mean_length": args.length,
        "n_items": args.items,
        "n_sizes": args.sizes,
        "break_factor": 0.5,
    }
    rows = []
    arms = args.arms.split(",")
    unknown = set(arms) - {"batched", "naive", "batched_all_groups"}
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(sorted(unknown))}")
    for arm in arms:
        for size in [1] if arm == "naive" else _batch_sizes(args):
            rows.append(_arm(arm, cell, args, size))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(
        f"\ncell: generation L={args.length:g}, {args.items} items, {args.sizes} sizes; "
        f"{args.n_rep} smooth + {args.n_rep} broken (x0.5) truths; {args.workers} workers, "
        f"{args.chains} chains x {args.draws} draws after {args.tune}, sampler {args.sampler}"
    )
    print(render_table(table, "markdown" if args.markdown else "table", footnotes=()))


if __name__ == "__main__":
    main()
