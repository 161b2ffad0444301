"""Train one of the package's own model ladders and write the tables committed under the package.

Twelve random-feature networks of hidden widths 1 to 2,048 (85 to 153,610 parameters) are
trained on scikit-learn's handwritten digits; every model's log-probability of every class is
recorded for each of 540 test images (``items.parquet``), and the models are scored by accuracy,
subset accuracy over groups of ``L`` images, Brier score and log-likelihood
(``evaluations.csv``). See ``emergestats.ladder`` for the models and the metrics, and for why a
rerun reproduces the committed files exactly on any CPU. About 10 s on one core::

    .venv/bin/python analyses/train_ladder.py                   # rewrite the packaged files
    .venv/bin/python analyses/train_ladder.py --out /tmp/ladder --seed 1 --widths 1,8,64

``--kind conv`` trains the convolutional ladder instead (``resources/conv_ladder/``): twelve
networks of 1 to 2,048 random 3x3 filters with global average pooling (30 to 40,970
parameters), about 15 s on one core::

    .venv/bin/python analyses/train_ladder.py --kind conv       # rewrite its packaged files
    .venv/bin/python analyses/train_ladder.py --kind conv --out /tmp/conv --filters 1,8,64

Rewriting the packaged files is allowed only with the committed seed and sizes; anything else
needs ``--out``. The printed table shows Schaeffer et al.'s vision experiment: subset accuracy
over 32 images stays at exactly 0 while log-likelihood and Brier score improve smoothly, then
jumps — and it tracks ``accuracy ** 32``, so the jump is made by the all-or-nothing metric.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from emergestats.ladder import (
    CONV_LADDER_FILTERS,
    LADDER_SEED,
    LADDER_WIDTHS,
    SUBSET_SIZES,
    train_conv_ladder,
    train_ladder,
    write_ladder,
)

RESOURCES = Path(__file__).resolve().parents[1] / "src" / "emergestats" / "resources"
PACKAGED_DIR = RESOURCES / "ladder"
CONV_PACKAGED_DIR = RESOURCES / "conv_ladder"

# Metrics where lower is better (all others: higher is better).
LOWER_IS_BETTER = frozenset({"brier_mean", "brier_sum"})


def parse_widths(text: str) -> tuple[int, ...]:
    """``"1,8,64"`` -> ``(1, 8, 64)``; an argparse type (of ``--widths`` and ``--filters``)."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"sizes must be comma-separated integers such as 1,8,64, not {text!r}"
        ) from exc


def ladder_table_text(evaluations: pd.DataFrame) -> str:
    """One line per model: params, accuracy, subset accuracies, ``accuracy ** L_max``, Brier, LL."""
    wide = evaluations.pivot_table(
        index=["params", "model"], columns="metric", values="score", sort=False
    ).sort_index(level="params")
    longest = max(SUBSET_SIZES)
    columns = {"accuracy": "accuracy"}
    columns |= {f"subset_accuracy_L{size}": f"L={size}" for size in SUBSET_SIZES}
    columns |= {"brier_mean": "brier_mean", "log_likelihood": "log_lik"}
    shown = wide.loc[:, [c for c in columns if c in wide.columns]].rename(columns=columns)
    # Subset accuracy of independent items would be accuracy ** L: the metric alone makes a cliff.
    shown.insert(
        shown.columns.get_loc(f"L={longest}") + 1, f"acc^{longest}", wide["accuracy"] ** longest
    )
    shown = shown.reset_index()
    shown["params"] = shown["params"].map(lambda p: f"{p:,.0f}")
    return shown.to_string(index=False, float_format=lambda x: f"{x:.3f}")


def mirage_sentence(evaluations: pd.DataFrame) -> str:
    """How far the smooth metrics have come while the longest subset accuracy is still 0."""
    wide = evaluations.pivot_table(index="params", columns="metric", values="score").sort_index()
    sharp = f"subset_accuracy_L{max(SUBSET_SIZES)}"
    zero = wide[sharp].to_numpy() == 0.0
    n_flat = int(zero.argmin()) if not zero.all() else len(zero)
    if n_flat < 2 or n_flat == len(zero):
        return f"{sharp} has no flat start followed by a rise in this ladder."
    last_flat = wide.index[n_flat - 1]
    shares = []
    for metric, label in (
        ("log_likelihood", "log-likelihood"),
        ("brier_mean", "Brier score"),
        ("accuracy", "accuracy"),
    ):
        values = wide[metric]
        total = values.iloc[-1] - values.iloc[0]
        share = (values.loc[last_flat] - values.iloc[0]) / total
        shares.append(f"{label} {share:.0%}")
    return (
        f"{sharp} is exactly 0 for the {n_flat} smallest models (up to {last_flat:,.0f} params) "
        f"and then jumps; by then the per-image metrics have made this share of their change "
        f"from the smallest to the largest model: {', '.join(shares)}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--kind",
        choices=("rf", "conv"),
        default="rf",
        help="rf: random Fourier features (the ladder); conv: random 3x3 filters (default: rf)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write evaluations.csv and items.parquet into (default: the packaged "
        f"folder of the kind, {PACKAGED_DIR} or {CONV_PACKAGED_DIR})",
    )
    parser.add_argument("--seed", type=int, default=LADDER_SEED, help="seed (default: %(default)s)")
    parser.add_argument(
        "--widths",
        type=parse_widths,
        default=None,
        help="--kind rf: comma-separated hidden widths (default: the committed ladder)",
    )
    parser.add_argument(
        "--filters",
        type=parse_widths,
        default=None,
        help="--kind conv: comma-separated filter counts (default: the committed ladder)",
    )
    args = parser.parse_args(argv)
    conv = args.kind == "conv"
    if (args.filters if not conv else args.widths) is not None:
        parser.error("--widths goes with --kind rf, --filters with --kind conv")
    committed = CONV_LADDER_FILTERS if conv else LADDER_WIDTHS
    given = args.filters if conv else args.widths
    sizes = committed if given is None else tuple(given)
    if args.out is None and (args.seed != LADDER_SEED or sizes != committed):
        parser.error("a seed or sizes other than the committed ones need --out")
    out = (CONV_PACKAGED_DIR if conv else PACKAGED_DIR) if args.out is None else args.out

    start = time.perf_counter()
    if conv:
        tables = train_conv_ladder(filters=sizes, seed=args.seed)
    else:
        tables = train_ladder(widths=sizes, seed=args.seed)
    seconds = time.perf_counter() - start
    paths = write_ladder(tables, out)

    print(ladder_table_text(tables.evaluations))
    print()
    print(mirage_sentence(tables.evaluations))
    print()
    n_models = tables.items["model"].nunique()
    print(f"trained and scored {n_models} models in {seconds:.1f} s (seed {args.seed}); wrote")
    for path in paths:
        print(f"  {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
