"""Predictive checks of the smooth model on real results: one metric from another, and scale.

Each measurement fits the smooth model (``emergestats.fit`` with the package's default sampler
and model options) to some rows of a published source and predicts other rows of the same
curves with :meth:`emergestats.inference.Fit.predict_table`. A predicted row is *covered* when
its observed score lies inside the 90% posterior predictive interval ``[q05, q95]``. Coverage
alone rewards vague predictions (an interval of nearly [0, 1] covers everything), so every
coverage is printed beside the median interval width and the median absolute error of the
predictive median ``q50``.

``expemergence``
    ExpEmergence (Wu & Lo, ICLR 2025): fitted on the target-class Brier rows (metric kind
    ``brier``, ``tc_brier``) of the overall task (``subtask == task``; the per-difficulty-group
    rows are the same questions again and are not fitted), predict the multiple-choice grade
    (``acc``) of the same outputs (task, family, model, shots). The whole source (~9,000 rows)
    is too slow for two shared cores, so ``--tasks`` selects tasks; the default is the three
    BIG-bench tasks of the source with the fewest questions and a known number of choices
    (``conceptual_combinations`` 103, ``hindu_knowledge`` 175, ``analogical_similarity`` 323).
    Every ``acc`` row of the selected tasks is a prediction target; rows whose curve the fit
    has not seen (ExpEmergence's ``acc_group`` rows of arithmetic, MMLU and ParsiNLU, which
    partition the questions differently from the Brier groups) are counted as unmappable.
``pythia_lambada``
    EleutherAI's Pythia evaluations, final checkpoints (``step`` 143000), 0-shot, families
    ``pythia`` and ``pythia-deduped`` as the reader names them: fitted on the LAMBADA
    (``lambada_openai``) log-likelihood per word (``loglik_per_word_from_ppl`` = -log ppl),
    predict the accuracy (``acc``: the harness's greedy match of the target word, kind
    ``greedy_match``) of the same outputs. Nothing in these rows informs the share of the
    probability the strongest rival word holds (``rival_share``), so it comes from its prior.
``pythia_lambada_transfer``
    The same prediction, with the rival's share learnt from the other families of the same
    harness files: fitted on Pythia's LAMBADA log-likelihoods and on the log-likelihood and
    accuracy of BLOOM (5 sizes) and OPT (8 sizes), final rows, 0-shot; predict Pythia's
    accuracy.
``pythia_extrapolation``
    The same checkpoints and families: fitted on every metric of ``--pythia-tasks`` (default
    ``lambada_openai``, ``piqa``, ``arc_easy``, ``sciq``, ``winogrande``) of the models up to
    2.8B parameters (``params`` <= 3e9), predict every metric of the 6.9B and 12B models.

Printed per measurement: the rows predicted and the rows the model cannot map (NaN quantiles
and the package's ``reason``, or a curve the fit has not seen; never dropped silently), the
coverage over every predicted row, the median width and median absolute error over the
predicted rows on a 0..1 scale (accuracy, grade, exact match; log-likelihood rows are in nats
and are shown only in the per-metric table), the fit's diagnostics (max R-hat, min bulk ESS,
divergences and the package's gate, :meth:`Fit.diagnostics_summary`; a fit that fails it is
reported as ``FAILED``, its numbers still printed) and the wall time of fit plus prediction.
A second table breaks every measurement down by predicted metric, with the unmappable rows'
reasons. The package's own notes on the fitted tables (rows left out of the likelihood,
lengths assumed) are printed on stderr.

The data are read with ``emergestats.datasets.load`` (set ``EMERGESTATS_DATA_DIR`` to a mirror
of the published files). Measurements run one after another, never in parallel.

Usage::

    EMERGESTATS_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/cross_metric.py --markdown
    ... benchmarks/cross_metric.py --only pythia_lambada             # about a minute
    ... benchmarks/cross_metric.py --only expemergence --tasks hindu_knowledge --draws 500
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import emergestats as es
from emergestats.data.table import CURVE_KEY
from emergestats.report.formats import render_table

MEASUREMENTS = (
    "expemergence",
    "pythia_lambada",
    "pythia_lambada_transfer",
    "pythia_extrapolation",
)
OTHER_LAMBADA_FAMILIES = ("bloom", "opt")
DEFAULT_EXPEMERGENCE_TASKS = ("conceptual_combinations", "hindu_knowledge", "analogical_similarity")
DEFAULT_PYTHIA_TASKS = ("lambada_openai", "piqa", "arc_easy", "sciq", "winogrande")
PYTHIA_FAMILIES = ("pythia", "pythia-deduped")
PYTHIA_FINAL_STEP = 143000
PYTHIA_LARGEST_FITTED = 3e9  # 2.8B is the largest fitted; 6.9B and 12B are predicted
PROPORTION_KINDS = ("accuracy", "exact_match", "greedy_match", "multiple_choice_grade")
NOT_FITTED = "curve not in the fit"


@dataclass(frozen=True)
class Split:
    """What one measurement fits and what it predicts, with the labels the table prints."""

    data: str
    fitted: str
    predicted: str
    fit_rows: pd.DataFrame
    held_out: pd.DataFrame


def expemergence_split(tasks: Sequence[str]) -> Split:
    table = es.datasets.load("expemergence")
    unknown = sorted(set(tasks) - set(table["task"]))
    if unknown:
        raise SystemExit(f"ExpEmergence has no task {', '.join(unknown)}")
    mine = table[table["task"].isin(tasks)]
    overall = mine["subtask"] == mine["task"]
    fit_rows = mine[overall & (mine["metric_kind"] == "brier")]
    held_out = mine[mine["metric"] == "acc"]
    return Split(
        data=f"ExpEmergence {', '.join(tasks)} (overall rows)",
        fitted="tc_brier",
        predicted="acc (grade)",
        fit_rows=fit_rows,
        held_out=held_out,
    )


def _pythia_final() -> pd.DataFrame:
    table = es.datasets.load("pythia")
    final = (
        (table["step"] == PYTHIA_FINAL_STEP)
        & (table["shots"] == 0)
        & table["family"].isin(PYTHIA_FAMILIES)
    )
    return table[final.fillna(False).astype(bool)]


def pythia_lambada_split() -> Split:
    final = _pythia_final()
    lambada = final[final["task"] == "lambada_openai"]
    return Split(
        data="Pythia + deduped, step 143000, 0-shot, lambada_openai",
        fitted="loglik_per_word_from_ppl",
        predicted="acc",
        fit_rows=lambada[lambada["metric"] == "loglik_per_word_from_ppl"],
        held_out=lambada[lambada["metric"] == "acc"],
    )


def pythia_lambada_transfer_split() -> Split:
    own = pythia_lambada_split()
    table = es.datasets.load("pythia")
    others = (
        table["family"].isin(OTHER_LAMBADA_FAMILIES)
        & (table["shots"] == 0)
        & (table["task"] == "lambada_openai")
        & table["metric"].isin(["loglik_per_word_from_ppl", "acc"])
    )
    return Split(
        data=own.data + f"; {', '.join(OTHER_LAMBADA_FAMILIES)} (same task)",
        fitted=f"{own.fitted}; {', '.join(OTHER_LAMBADA_FAMILIES)}: {own.fitted} and acc",
        predicted=own.predicted,
        fit_rows=pd.concat([own.fit_rows, table[others]]),
        held_out=own.held_out,
    )


def pythia_extrapolation_split(tasks: Sequence[str]) -> Split:
    final = _pythia_final()
    unknown = sorted(set(tasks) - set(final["task"]))
    if unknown:
        raise SystemExit(f"the Pythia final checkpoints have no task {', '.join(unknown)}")
    mine = final[final["task"].isin(tasks)]
    small = mine["params"] <= PYTHIA_LARGEST_FITTED
    metrics = ", ".join(sorted(mine["metric"].unique()))
    return Split(
        data=f"Pythia + deduped, step 143000, 0-shot, {', '.join(tasks)}",
        fitted=f"all ({metrics}), 70M-2.8B",
        predicted="all, 6.9B and 12B",
        fit_rows=mine[small],
        held_out=mine[~small],
    )


def _curve_keys(frame: pd.DataFrame) -> pd.Series:
    return frame.loc[:, list(CURVE_KEY)].astype(str).agg("|".join, axis=1)


def _fit(rows: pd.DataFrame, args: argparse.Namespace) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options: dict[str, Any] = {}
        if args.adaptation is not None:
            options["adaptation"] = args.adaptation
        if args.target_accept is not None:
            options["target_accept"] = args.target_accept
        if args.floor:
            options["floor"] = True
        fit = es.fit(
            rows,
            random_seed=args.seed,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            **options,
        )
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return fit, notes


def _predict(fit: Any, held_out: pd.DataFrame, fit_rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every held-out row with its prediction; rows of curves the fit lacks get a reason."""
    seen = _curve_keys(held_out).isin(set(_curve_keys(fit_rows)))
    parts = []
    if seen.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            parts.append(fit.predict_table(held_out[seen.to_numpy()], random_seed=seed))
    if (~seen).any():
        parts.append(held_out[~seen.to_numpy()].assign(reason=NOT_FITTED))
    pred = pd.concat(parts, ignore_index=True)
    for column in ("mean", "q05", "q50", "q95"):
        if column not in pred:
            pred[column] = np.nan
    pred["reason"] = pred["reason"].fillna("").astype(str)
    return pred


def _scores(pred: pd.DataFrame) -> dict[str, Any]:
    """Coverage over all predicted rows; width and absolute error over the 0..1 rows."""
    mapped = np.isfinite(pred["q05"]) & np.isfinite(pred["q95"])
    done = pred[mapped]
    proportion = done[done["metric_kind"].isin(PROPORTION_KINDS)]
    inside = (done["score"] >= done["q05"]) & (done["score"] <= done["q95"])
    reasons = pred.loc[~mapped, "reason"].replace("", "no prediction").value_counts()
    return {
        "predicted": int(mapped.sum()),
        "unmappable": int((~mapped).sum()),
        "covered": int(inside.sum()),
        "coverage": float(inside.mean()) if len(done) else math.nan,
        "median_width": float((proportion["q95"] - proportion["q05"]).median()),
        "median_abs_error": float((proportion["score"] - proportion["q50"]).abs().median()),
        "reasons": "; ".join(f"{n} {r}" for r, n in reasons.items()),
    }


def _by_metric(name: str, pred: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for metric, group in pred.groupby("metric", sort=True):
        mapped = np.isfinite(group["q05"]) & np.isfinite(group["q95"])
        done = group[mapped]
        inside = (done["score"] >= done["q05"]) & (done["score"] <= done["q95"])
        scores = _scores(group)
        rows.append(
            {
                "measurement": name,
                "metric": metric,
                "kind": str(group["metric_kind"].iloc[0]),
                "rows": len(group),
                "predicted": int(mapped.sum()),
                "coverage": _fmt_share(int(inside.sum()), len(done)),
                "median_width": round(float((done["q95"] - done["q05"]).median()), 3),
                "median_abs_error": round(float((done["score"] - done["q50"]).abs().median()), 3),
                "below_q05": int((done["score"] < done["q05"]).sum()),
                "above_q95": int((done["score"] > done["q95"]).sum()),
                "unmappable": scores["reasons"],
            }
        )
    return rows


def _fmt_share(k: int, n: int) -> str:
    return f"{k / n:.3f} ({k}/{n})" if n else "n/a"


def measure(name: str, split: Split, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    print(
        f"[{name}] fitting {len(split.fit_rows)} rows, predicting {len(split.held_out)} "
        f"({args.chains} chains x {args.draws} draws after {args.tune} tuning, seed {args.seed})",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    fit, notes = _fit(split.fit_rows, args)
    fitted_s = time.perf_counter() - started
    pred = _predict(fit, split.held_out, split.fit_rows, args.seed)
    wall = time.perf_counter() - started
    for note in notes:
        print(f"[{name}] note: {note}", file=sys.stderr)
    diag = fit.diagnostics_summary()
    scores = _scores(pred)
    row = {
        "measurement": name,
        "data": split.data,
        "fitted": split.fitted,
        "predicted_metric": split.predicted,
        "rows_fitted": len(split.fit_rows),
        "curves": int(_curve_keys(split.fit_rows).nunique()),
        "rows_predicted": scores["predicted"],
        "rows_unmappable": scores["unmappable"]
        if not scores["reasons"]
        else f"{scores['unmappable']} ({scores['reasons']})",
        "coverage_90": _fmt_share(scores["covered"], scores["predicted"]),
        "median_width": round(scores["median_width"], 3),
        "median_abs_error": round(scores["median_abs_error"], 3),
        "max_rhat": round(float(diag["r_hat_max"]), 3),
        "min_ess_bulk": round(float(diag["ess_bulk_min"])),
        "divergences": int(diag["divergences"]),
        "diagnostics": "passed" if diag["passed"] else "FAILED: " + "; ".join(diag["failures"]),
        "sampler": f"{fit.config.sampler} {args.chains}x{args.draws}+{args.tune}",
        "fit_s": round(fitted_s, 1),
        "wall_s": round(wall, 1),
    }
    print(f"[{name}] {row}", file=sys.stderr, flush=True)
    return row, _by_metric(name, pred)


def _render(frame: pd.DataFrame, markdown: bool) -> str:
    return render_table(frame, "markdown" if markdown else "table", footnotes=())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=MEASUREMENTS, action="append", help="repeatable")
    parser.add_argument(
        "--tasks",
        default=",".join(DEFAULT_EXPEMERGENCE_TASKS),
        help="expemergence: comma-separated tasks",
    )
    parser.add_argument(
        "--pythia-tasks",
        default=",".join(DEFAULT_PYTHIA_TASKS),
        help="pythia_extrapolation: comma-separated tasks",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument(
        "--adaptation",
        choices=("diag", "low_rank"),
        default=None,
        help="nutpie's mass-matrix adaptation (default: the package's)",
    )
    parser.add_argument(
        "--target-accept",
        type=float,
        default=None,
        help="NUTS target acceptance (default: the package's)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="fit the smooth model with an irreducible floor of CE (default: without)",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    splits: dict[str, Callable[[], Split]] = {
        "expemergence": lambda: expemergence_split(args.tasks.split(",")),
        "pythia_lambada": pythia_lambada_split,
        "pythia_lambada_transfer": pythia_lambada_transfer_split,
        "pythia_extrapolation": lambda: pythia_extrapolation_split(args.pythia_tasks.split(",")),
    }
    rows, metric_rows = [], []
    for name in args.only or MEASUREMENTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the readers' notes on the sources
            split = splits[name]()
        row, by_metric = measure(name, split, args)
        rows.append(row)
        metric_rows.extend(by_metric)
    print(_render(pd.DataFrame(rows), args.markdown))
    print()
    print(_render(pd.DataFrame(metric_rows), args.markdown))


if __name__ == "__main__":
    main()
