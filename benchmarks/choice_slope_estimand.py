"""Which slope should a choice task's fit cover? Two estimands beside the sweep's intervals.

A fitted choice map reads the slope of "knowledge" ``p`` (``q = 1/K + (1 - 1/K) p`` and its
lure), which the simulator (correct-choice logit ``sharpness * -log(1 - p)``, surface appeal of
every choice, fresh logit noise, a plausible distractor) does not have, so a choice task's
slope estimand is a choice. The calibration sweep records one
(``slope_estimand`` = ``SimulatedCurve.b_knowledge``: the typical item's CE converted to the
map's units, no appeal, no noise, no distractor). This script computes a second one for the
same truths: the *projection* of the truth onto the fitted model's own maps, i.e. the
``(a, b, item_sd, lure, distractor concentration)`` whose expected choice log-likelihood and
mean Brier score (:mod:`emergestats.models.forward`) come closest, in units of the item-level
sd, to the truth's at every size, measured on 200,000 simulated items with no model-level
deviations. It then prints, per cell of ``docs/calibration-replicates.csv``, how many of the
smooth truths whose fit passed have each estimand inside the fit's 90% interval of ``b``.

Nothing is fitted by MCMC here (21 s for the 30 truths of 2026-12-05, one core).

Usage::

    .venv/bin/python benchmarks/choice_slope_estimand.py --csv OUT/projection.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from emergestats.mirage.calibration import GRID_COLUMNS, simulate_batch
from emergestats.models import forward
from emergestats.report.formats import render_table

POPULATION_ITEMS = 200_000


def projected_slope(cell: dict[str, Any], seed: int) -> dict[str, float]:
    """The slope (and the other map parameters) of the truth's projection onto the maps."""
    big = {**cell, "n_items": POPULATION_ITEMS}
    _, _, curves = simulate_batch(big, "smooth", [seed], {"deviation_sd": 0.0})
    curve = curves[0]
    outputs = curve.outputs
    n_sizes = curve.params.size
    k = np.full(n_sizes, float(curve.n_choices))
    # the continuous metrics the sweep's cross_metric fit sees, as the simulator scores them;
    # their item-level sd (the simulator keeps only the means) sets each residual's unit
    target = np.concatenate([curve.scores["log_likelihood"], curve.scores["brier_score"]])
    truth = np.zeros_like(outputs.probs)
    truth[:, np.arange(outputs.probs.shape[1]), outputs.correct_choice] = 1.0
    item_brier = ((outputs.probs - truth) ** 2).mean(axis=2)
    scale = np.concatenate([outputs.logprob.std(axis=1), item_brier.std(axis=1)])
    x = np.log(curve.params) - np.log(curve.n_ref)

    def residual(theta: np.ndarray) -> np.ndarray:
        a, b, log_sd, lure, concentration = theta
        ce = np.exp(a - b * x)
        sd = np.full(n_sizes, np.exp(log_sd))
        ll, _ = forward.choice_log_likelihood(ce, sd, k, lure)
        br, _ = forward.brier(ce, sd, k, np.zeros(n_sizes, dtype=int), concentration, lure)
        return (np.concatenate([ll, br]) - target) / scale

    best = None
    for b0 in (0.3, 0.6, 1.0):
        for sd0 in (-1.0, 0.0):
            found = least_squares(
                residual,
                [0.0, b0, sd0, 0.5, 0.2],
                bounds=([-10, -5, -5, 0, 0], [10, 5, 2, 10, 1]),
            )
            if best is None or found.cost < best.cost:
                best = found
    assert best is not None
    _a, b, log_sd, lure, concentration = best.x
    return {
        "b_typical_item": curve.b_knowledge,
        "b_projection": float(b),
        "item_sd": float(np.exp(log_sd)),
        "lure": float(lure),
        "concentration": float(concentration),
        "rms_residual": float(np.sqrt(2 * best.cost / target.size)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=Path, default=Path("docs/calibration-replicates.csv"))
    parser.add_argument("--csv", type=Path, default=None, help="also write the per-truth table")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = pd.read_csv(args.replicates)
    smooth = rows[
        (rows["kind"] == "choice")
        & (rows["truth"] == "smooth")
        & rows["slope_q05"].notna()
        & rows["smooth_passed"].astype(bool)
    ]
    records = []
    for _, row in smooth.iterrows():
        cell = {c: row[c] for c in GRID_COLUMNS}
        found = projected_slope(cell, int(row["seed"]))
        records.append(
            {
                "n_choices": int(row["n_choices"]),
                "n_items": int(row["n_items"]),
                "seed": int(row["seed"]),
                "slope_q05": row["slope_q05"],
                "slope_q95": row["slope_q95"],
                **found,
            }
        )
    table = pd.DataFrame(records)
    if args.csv:
        table.to_csv(args.csv, index=False)
    summary = []
    for (k, n_items), group in table.groupby(["n_choices", "n_items"]):
        line: dict[str, Any] = {"cell": f"K={k}, {n_items} items", "truths": len(group)}
        for estimand in ("b_typical_item", "b_projection"):
            inside = (group[estimand] >= group["slope_q05"]) & (
                group[estimand] <= group["slope_q95"]
            )
            line[f"{estimand} covered"] = f"{int(inside.sum())}/{len(group)}"
            line[f"{estimand} range"] = f"{group[estimand].min():.2f}-{group[estimand].max():.2f}"
        line["projection item_sd"] = f"{group['item_sd'].min():.2f}-{group['item_sd'].max():.2f}"
        line["projection lure"] = f"{group['lure'].min():.2f}-{group['lure'].max():.2f}"
        summary.append(line)
    print(render_table(pd.DataFrame(summary)))
    print(f"\n{len(table)} truths in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
