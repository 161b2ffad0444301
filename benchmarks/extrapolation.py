"""Extrapolation benchmark: hold out each real family's largest models, predict them.

For every family with at least five sizes in the selected sources, the largest one and the
largest two sizes are held out; the smooth model (``emergestats.fit`` with the package's
defaults unless ``--draws``/``--tune``/``--chains`` say otherwise) is fitted to every row of the
smaller models and predicts the held-out rows; beside it, fitted to the same smaller models,
the two baselines of ``emergestats.baselines``: a least-squares sigmoid in log scale
(ObsScaling-style) and the two-step fit scale -> task loss -> score (Bhagia et al. 2024), both
with bootstrap prediction intervals. Scored on the held-out accuracy, exact-match and
multiple-choice-grade rows (``emergestats.mirage.extrapolation``): 90% interval coverage,
median width and median absolute error of the predictive median; ``error (shared)`` is each
method's error on the rows all three predicted (two-step needs a task loss: only Pythia's
LAMBADA and ExpEmergence's Brier rows have one).

Sources (``--sources``, comma-separated; default all four):

``obsscaling``
    ObsScaling's BIG-bench emergent tasks, families with >= 5 sizes.
``open-lm``
    mlfoundations/scaling's open_lm models, families (data set and tokens-per-parameter) with
    >= 5 sizes, 46 tasks each (``--open-lm-tasks`` to select fewer).
``expemergence``
    ExpEmergence, the overall rows of each task (``subtask == task``; the difficulty-group rows
    are the same questions again).
``pythia``
    The lm-eval results of the Pythia suite (``pythia``, ``pythia-deduped``; the last training
    step of each size) and of BLOOM and OPT in the same files, 0-shot, the tasks of
    ``--pythia-tasks`` (default every task but ``hendrycksTest``'s 57 subjects and
    ``crows_pairs``, whose metrics no map covers).

The fits run on ``dask.distributed`` (``--scheduler ADDRESS`` for a running cluster; default a
``LocalCluster`` of ``--workers`` processes, each sampling on one core). Printed: one table per
(family, hold-out, method), a table of totals per method, and whether the issue's target
(coverage >= 80% and error no worse than the better baseline on >= 2/3 of families) is met.
``--out DIR`` writes ``predictions.csv``, ``summary.csv`` and ``targets.csv``; ``--render
FILE [FILE ...]`` prints the tables of saved ``predictions.csv`` files together (runs of
different sources) without fitting.

Usage::

    EMERGESTATS_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/extrapolation.py \
        --sources obsscaling,pythia --markdown
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import emergestats as es
from emergestats.mirage.extrapolation import (
    METHODS,
    compare_with_baselines,
    extrapolation_benchmark,
    final_checkpoints,
    summarise_extrapolation,
)
from emergestats.report.formats import render_table

SOURCES = ("obsscaling", "open-lm", "expemergence", "pythia")
PYTHIA_LEFT_OUT = ("hendrycksTest", "crows_pairs")
FIT_COLUMNS = (
    "source",
    "family",
    "hold_out",
    "fit_passed",
    "rhat_max",
    "ess_bulk_min",
    "divergences",
    "fit_seconds",
)


def load_sources(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    tables = {}
    for source in args.sources.split(","):
        if source not in SOURCES:
            raise SystemExit(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the readers' notes on the sources
            table = es.datasets.load(source)
        if source == "expemergence":
            table = table[table["subtask"] == table["task"]]
        if source == "open-lm" and args.open_lm_tasks:
            table = table[table["task"].isin(args.open_lm_tasks.split(","))]
        if source == "pythia":
            table = final_checkpoints(table)
            table = table[table["shots"] == 0]
            if args.pythia_tasks:
                table = table[table["task"].isin(args.pythia_tasks.split(","))]
            else:
                table = table[~table["task"].isin(PYTHIA_LEFT_OUT)]
        tables[source] = table.reset_index(drop=True)
    return tables


def totals(summary: pd.DataFrame) -> pd.DataFrame:
    """Per method: rows, coverage, median of the families' widths and errors, families won."""
    records = []
    for method, group in summary.groupby("method", sort=False):
        records.append(
            {
                "method": method,
                "fits": len(group),
                "rows": int(group["predicted"].sum()),
                "coverage": float(group["covered"].sum() / max(group["predicted"].sum(), 1)),
                # over the family hold-outs where the method predicted any row
                "families_cov_ge_80": f"{int((group['coverage'] >= 0.8).sum())}/"
                f"{int(group['coverage'].notna().sum())}",
                "median_width": float(group["median_width"].median()),
                "median_abs_error": float(group["median_abs_error"].median()),
            }
        )
    return pd.DataFrame.from_records(records).set_index("method").loc[list(METHODS)].reset_index()


def _render(frame: pd.DataFrame, markdown: bool) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].round(3)
    return render_table(shown, "markdown" if markdown else "table", footnotes=())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--families", default="", help="comma-separated; default all")
    parser.add_argument("--hold-out", default="1,2", help="comma-separated counts")
    parser.add_argument("--open-lm-tasks", default="")
    parser.add_argument("--pythia-tasks", default="")
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None, help="address of a running scheduler")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="fit the smooth model without its irreducible floor of CE (default: with)",
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--render",
        nargs="+",
        type=Path,
        default=None,
        help="print the tables of saved predictions.csv files (several runs together); no fit",
    )
    args = parser.parse_args()
    if args.render:
        report(
            pd.concat([pd.read_csv(path) for path in args.render], ignore_index=True), args.markdown
        )
        return
    tables = load_sources(args)
    fit_options = {
        name: value
        for name, value in (("draws", args.draws), ("tune", args.tune), ("chains", args.chains))
        if value is not None
    }
    if args.no_floor:
        fit_options["floor"] = False
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    result = extrapolation_benchmark(
        tables,
        hold_out=[int(n) for n in args.hold_out.split(",")],
        families=args.families.split(",") if args.families else None,
        client=client,
        n_workers=args.workers,
        n_boot=args.n_boot,
        random_seed=args.seed,
        **fit_options,
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result.predictions.to_csv(args.out / "predictions.csv", index=False)
        result.summary.to_csv(args.out / "summary.csv", index=False)
        compare_with_baselines(result.predictions).to_csv(args.out / "targets.csv", index=False)
    print(
        f"wall {result.wall_seconds:.0f} s on {result.settings['scheduler']}; "
        f"skipped: {'; '.join(result.settings['skipped']) or 'none'}"
    )
    report(result.predictions, args.markdown)


def report(predictions: pd.DataFrame, markdown: bool) -> None:
    """Print the fits, the per-family scores, the totals and the target of ``predictions``."""
    fits = (
        predictions.drop_duplicates(["source", "family", "hold_out"])
        .loc[:, list(FIT_COLUMNS)]
        .reset_index(drop=True)
    )
    summary = summarise_extrapolation(predictions)
    print(_render(fits, markdown))
    print()
    print(_render(summary.drop(columns=["fit_passed"]), markdown))
    print()
    print(_render(totals(summary), markdown))
    print()
    met = compare_with_baselines(predictions)
    print(_render(met, markdown))
    share = float(np.mean(met["both_met"])) if len(met) else float("nan")
    print(
        f"\ntarget (coverage >= 0.8 and error no worse than each baseline on the rows it shares): "
        f"met on {int(met['both_met'].sum())}/{len(met)} family hold-outs ({share:.2f}; "
        "target >= 0.67)"
    )


if __name__ == "__main__":
    main()
