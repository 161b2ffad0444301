"""Draw the prior predictive check of the default priors as a figure.

Usage: ``python analyses/prior_predictive.py [--out FILE] [--seed N]`` (default
``out/prior_predictive.png``). Left: per-token cross-entropy against parameter count for prior
draws of one curve; right: the exact-match rate those draws imply for answers of 1, 3 and 5
tokens. The defaults should put their mass on plausible scaling curves (CE of a few nats down to
hundredths over 1e6..1e12 parameters) and not on absurd ones (flat, or jumping within a decade).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")

from emergestats.models.priors import sample_prior_curves
from emergestats.plots import plot_prior_predictive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/prior_predictive.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scales = np.logspace(6, 12, 61)
    curves = sample_prior_curves(
        scales=scales, n_ref=1e9, lengths=[1, 3, 5], draws=2000, random_seed=args.seed
    )
    fig, _ = plot_prior_predictive(curves, n_lines=20)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
