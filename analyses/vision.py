"""Emergence manufactured in vision models (Schaeffer et al. 2023, section 5), on two own ladders.

The claim: an all-or-nothing metric manufactures an "emergent" ability in models whose per-item
quality improves smoothly. Schaeffer et al. score convolutional networks on MNIST by subset
accuracy (all ``L`` images of a group right) and see it sit at zero, then jump.

What this script measures, on the package's two model ladders (``emergestats.ladder``; 12 sizes
each, every metric computed from the same class probabilities of the same 540 test images of
scikit-learn's digits): ``ladder`` (random Fourier features, 85 to 153,610 parameters) and
``ladder-conv`` (frozen random 3x3 convolution filters with global pooling, 30 to 40,970):

1. **Classic jump statistics** of every metric (:func:`emergestats.emergence.jump_table`): the
   emergence score, the largest adjacent jump, and whether the curve is *highly emergent*
   (:func:`emergestats.meta_analysis.high_emergence`).
2. **The jump test** (:func:`emergestats.analysis.analyze` with the ladder preset): the smooth
   model fitted to the continuous metrics alone (log-likelihood, Brier) predicts accuracy and
   subset accuracy over L = 2 ... 32 images (``cross_metric``); the posterior predictive check
   of the fit of every metric (``in_sample``). A manufactured jump is ``explained_by_metric``.
3. **The reports**: ``report.html`` / ``report.md`` / ``report.json`` per ladder in ``--out``.

Writes ``analyses/results/vision.md`` (``--result``).

Usage::

    .venv/bin/python analyses/vision.py                  # both ladders, about 5 minutes
    .venv/bin/python analyses/vision.py --ladders ladder-conv --draws 300 --tune 300   # reduced
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import emergestats as es
from emergestats.analysis import analyze, default_settings
from emergestats.emergence import jump_table
from emergestats.meta_analysis import high_emergence

LADDERS = ("ladder", "ladder-conv")
SHARP = "subset_accuracy_L32"


def classic(table: pd.DataFrame) -> pd.DataFrame:
    jumps = jump_table(table)
    jumps["high_emergence"] = high_emergence(jumps)
    return jumps


def flat_start(table: pd.DataFrame) -> tuple[int, dict[str, float]]:
    """How many of the smallest models score exactly 0 on the sharpest subset accuracy, and the
    share of its total change each per-image metric has made by the last of them."""
    wide = table.pivot_table(index="params", columns="metric", values="score").sort_index()
    zero = wide[SHARP].to_numpy() == 0.0
    n_flat = int(zero.argmin()) if not zero.all() else len(zero)
    shares = {}
    if 0 < n_flat < len(zero):
        last = wide.index[n_flat - 1]
        for metric in ("log_likelihood", "brier_mean", "accuracy"):
            values = wide[metric]
            shares[metric] = float(
                (values.loc[last] - values.iloc[0]) / (values.iloc[-1] - values.iloc[0])
            )
    return n_flat, shares


def run(name: str, args: argparse.Namespace) -> dict:
    table = es.datasets.load(name)
    settings = default_settings(name)
    changes = {
        key: getattr(args, key)
        for key in ("draws", "tune", "chains")
        if getattr(args, key) is not None
    }
    settings = dataclasses.replace(settings, **changes)
    started = time.perf_counter()
    analysis = analyze(
        name,
        args.out / name,
        settings=settings,
        command=f"analyses/vision.py {' '.join(args.argv)}",
    )
    seconds = time.perf_counter() - started
    verdicts = analysis.jump.verdicts
    verdicts = verdicts[verdicts["primary"]]
    diagnostics = {
        key: bool(value.get("passed")) for key, value in analysis.jump.diagnostics.items()
    }
    diagnostics["all metrics"] = bool(analysis.fit.diagnostics_summary()["passed"])
    n_flat, shares = flat_start(table)
    return {
        "name": name,
        "table": table,
        "jumps": classic(table),
        "verdicts": verdicts,
        "diagnostics": diagnostics,
        "seconds": seconds,
        "n_flat": n_flat,
        "shares": shares,
        "params": (float(table["params"].min()), float(table["params"].max())),
    }


def _excess(row: pd.Series) -> str:
    if not np.isfinite(row["excess_q50"]):
        return "-"
    return f"{row['excess_q50']:+.3f} [{row['excess_q05']:+.3f}, {row['excess_q95']:+.3f}]"


def write_result(path: Path, runs: list[dict], args: argparse.Namespace, seconds: float) -> None:
    lines = [
        "# Emergence manufactured in vision models: two own ladders",
        "",
        "Schaeffer, Miranda & Koyejo (2023), section 5. Made by `analyses/vision.py` "
        f"({' '.join(args.argv) or 'default settings'}; {seconds / 60:.1f} minutes on 2 cores).",
        "",
        "## Claim",
        "",
        "An all-or-nothing metric manufactures an emergent ability: subset accuracy (every image "
        "of a group of L right) stays at zero and then jumps, while per-image metrics of the "
        "same outputs improve smoothly; the jump is the metric's.",
        "",
    ]
    findings = []
    for r in runs:
        low, high = r["params"]
        jumps = r["jumps"].set_index("metric")
        lines += [
            f"## `{r['name']}` ({low:,.0f} to {high:,.0f} parameters, 12 sizes)",
            "",
            "| metric | emergence score | largest jump | highly emergent |",
            "| --- | --- | --- | --- |",
        ]
        for metric, row in jumps.iterrows():
            score = row["emergence_score"]
            lines.append(
                f"| {metric} | {'inf' if np.isinf(score) else f'{score:.2f}'} | "
                f"{row['max_jump']:.3f} | {'yes' if row['high_emergence'] else 'no'} |"
            )
        lines.append("")
        if r["shares"]:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in r["shares"].items())
            lines += [
                f"`{SHARP}` is exactly 0 for the {r['n_flat']} smallest models; by the last of "
                f"them the per-image metrics have made this share of their change from the "
                f"smallest to the largest model: {shares}.",
                "",
            ]
        lines += [
            "Jump test (the primary statistic, the largest adjacent jump per decade; excess = "
            "observed minus predicted with its 90% interval):",
            "",
            "| mode | metric | observed | predicted [90%] | excess [90%] | p | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, row in r["verdicts"].sort_values(["mode", "metric"]).iterrows():
            reason = f" ({row['reason']})" if row["verdict"] == "inconclusive" else ""
            lines.append(
                f"| {row['mode']} | {row['metric']} | {row['observed']:.3f} | "
                f"{row['predicted_q50']:.3f} [{row['predicted_q05']:.3f}, "
                f"{row['predicted_q95']:.3f}] | {_excess(row)} | {row['p_value']:.3f} | "
                f"{row['verdict']}{reason} |"
            )
        fits = ", ".join(f"{k} {'passed' if v else 'FAILED'}" for k, v in r["diagnostics"].items())
        lines += [
            "",
            f"Fits: {fits}; {r['seconds']:.0f} s. Report: `{args.out}/{r['name']}/report.html`.",
            "",
        ]
        cross = r["verdicts"][r["verdicts"]["mode"] == "cross_metric"]
        sharp = cross[cross["metric"] == SHARP]
        high_sharp = bool(jumps.loc[SHARP, "high_emergence"]) if SHARP in jumps.index else False
        smooth = [
            m
            for m in ("log_likelihood", "brier_mean")
            if m in jumps.index and not jumps.loc[m, "high_emergence"]
        ]
        verdict = sharp["verdict"].iloc[0] if len(sharp) else "not tested"
        findings.append(
            {
                "name": r["name"],
                "flat": r["n_flat"],
                "high_sharp": high_sharp,
                "smooth": smooth,
                "verdict": verdict,
                "explained": int((cross["verdict"] == "explained_by_metric").sum()),
                "excess": int((cross["verdict"] == "excess_jump").sum()),
                "n": len(cross),
            }
        )
    reproduced = all(
        f["flat"] >= 2 and f["verdict"] == "explained_by_metric" and len(f["smooth"]) == 2
        for f in findings
    )
    sentences = [
        f"`{f['name']}`: {SHARP} is 0 for {f['flat']} sizes and then jumps "
        f"({'highly emergent' if f['high_sharp'] else 'not highly emergent'} by the classic "
        f"score), log-likelihood and Brier are "
        f"{'not highly emergent' if len(f['smooth']) == 2 else 'partly highly emergent'}; in "
        f"`cross_metric` mode {f['explained']} of {f['n']} discontinuous series are "
        f"explained by the metric and {f['excess']} show an excess jump ({SHARP}: "
        f"{f['verdict']})"
        for f in findings
    ]
    lines += [
        "## Reproduced?",
        "",
        ("**Yes**" if reproduced else "**Not fully**")
        + ": "
        + "; ".join(sentences)
        + ". The continuous metrics of the same outputs, fitted alone, predict the jump.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out/vision"))
    parser.add_argument("--result", type=Path, default=Path("analyses/results/vision.md"))
    parser.add_argument("--ladders", default=",".join(LADDERS))
    parser.add_argument("--draws", type=int, default=None, help="default: the ladder preset")
    parser.add_argument("--tune", type=int, default=None, help="default: the ladder preset")
    parser.add_argument("--chains", type=int, default=None, help="default: the ladder preset")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    started = time.perf_counter()
    runs = [run(name.strip(), args) for name in args.ladders.split(",") if name.strip()]
    write_result(args.result, runs, args, time.perf_counter() - started)
    print(args.result.read_text())


if __name__ == "__main__":
    main()
