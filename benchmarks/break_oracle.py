"""How much power against a latent break can *any* step test of the continuous metric have?

An upper bound for rule 7 of the mirage test (``emergestats.mirage.breaks``) on the project's
simulator: the step statistic of the observed log CE of every simulated curve (read off its
log-likelihood, ``log(-LL / mean L)``, no model fitted), with its critical value taken from the
simulator's *own* smooth truths (the 95% quantile of the statistic over them: an oracle null no
real test has, since it knows how the simulator's smooth curves bend and how its models
deviate). The share of broken truths above it is the power of a test that knew the null
exactly; a fitted test can only approach it.

Usage (about 1 minute, no sampling)::

    .venv/bin/python benchmarks/break_oracle.py                   # 300 truths per arm
    .venv/bin/python benchmarks/break_oracle.py --n 1000 --items 1000 --length 1
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from emergestats.mirage.breaks import step_statistic
from emergestats.mirage.calibration import simulate_batch


def log_ce_series(
    n_sizes: int, truth: str, factor: float, seeds: list[int], *, n_items: int, length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Observed log CE per (replicate, size) of simulated curves, and the log sizes."""
    cell = {
        "kind": "generation",
        "n_items": n_items,
        "n_sizes": n_sizes,
        "mean_length": length,
        "n_choices": 4,
        "break_factor": factor,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table, lengths, _ = simulate_batch(cell, truth, seeds, {})
    rows = table[table["metric"] == "log_likelihood"].sort_values(["task", "params"])
    series, x = [], np.zeros(0)
    for task, part in rows.groupby("task"):
        mean_length = float(np.mean(lengths[(task, task)]))
        series.append(np.log(-part["score"].to_numpy(float) / mean_length))
        x = np.log(part["params"].to_numpy(float))
    return np.asarray(series), x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300, help="truths per arm")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--length", type=float, default=5.0)
    parser.add_argument("--sizes", default="5,8,12")
    parser.add_argument("--factors", default="0.5,0.25")
    args = parser.parse_args()
    rows = []
    for n_sizes in (int(s) for s in args.sizes.split(",")):
        smooth, x = log_ce_series(
            n_sizes,
            "smooth",
            0.5,
            list(range(50_000, 50_000 + args.n)),
            n_items=args.items,
            length=args.length,
        )
        critical = float(np.quantile(step_statistic(smooth, x), 0.95))
        for factor in (float(f) for f in args.factors.split(",")):
            broken, _ = log_ce_series(
                n_sizes,
                "broken",
                factor,
                list(range(60_000, 60_000 + args.n)),
                n_items=args.items,
                length=args.length,
            )
            power = float(np.mean(step_statistic(broken, x) > critical))
            rows.append(
                {
                    "sizes": n_sizes,
                    "items": args.items,
                    "length": args.length,
                    "CE factor": factor,
                    "oracle power": power,
                    "truths": args.n,
                }
            )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
