"""BIG-bench meta-analysis (Schaeffer et al. 2023, section 4): where does "emergence" live?

The claim: across BIG-bench, high emergence scores concentrate in a few metrics, above all exact
string match and multiple-choice grade, nonlinear or discontinuous metrics, and are rare under
continuous ones; a jump a metric manufactures is not an ability that breaks.

What this script measures, on every BIG-bench task and metric of the shared data (open_lm's
BIG-bench and other few-shot tasks on 24 controlled families, ObsScaling's emergent tasks on 25
open families, ExpEmergence's BIG-bench tasks on 25 families):

1. **Classic emergence per metric kind.** The emergence score of every (task, subtask, family,
   shots, metric) curve with >= 3 sizes (:func:`emergestats.emergence.jump_table`); a curve is
   *highly emergent* when its score exceeds twice that of an even, steady rise over the same
   points (:func:`emergestats.meta_analysis.high_emergence`). The share per source and metric
   kind, with 90% intervals from a bootstrap over tasks (curves of one task are not
   independent).
2. **How much survives the jump test.** The mirage test (:func:`emergestats.jump_test`) of the
   discontinuous series of the families with >= ``--min-sizes`` sizes of the ``--test-sources``
   (default ObsScaling: its fits take minutes; open_lm's 46-task family fits and ExpEmergence's
   take over 7 and 14 minutes each on 2 cores and are not run by default). Modes ``in_sample``
   and ``leave_future_out`` (the sources have no continuous metric of the same outputs for
   ``cross_metric``, except ExpEmergence's Brier). Verdict counts per metric kind with
   Jeffreys intervals, and the share of the highly emergent curves among them called
   ``excess_jump``.

Writes ``analyses/results/bigbench_meta.md`` (``--result``), and in ``--out`` the curve table
(``curves.csv``), the shares (``shares.csv``), the verdicts (``verdicts.csv``) and a figure
(``shares.png``).

Usage (the data mirror set)::

    EMERGESTATS_DATA_DIR=/work/shared/data .venv/bin/python analyses/bigbench_meta.py
    ... analyses/bigbench_meta.py --families OPT --draws 300 --tune 300   # reduced
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import emergestats as es
from emergestats.emergence import jump_table
from emergestats.meta_analysis import (
    DEFAULT_FACTOR,
    emergence_shares,
    high_emergence,
    paired_emergence,
    verdict_shares,
)
from emergestats.mirage import CONTINUOUS_KINDS
from emergestats.plots.style import kind_colour

SOURCES = ("open-lm", "obsscaling", "expemergence")


def load(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return es.datasets.load(name)


def whole_tasks(table: pd.DataFrame) -> pd.DataFrame:
    """The table without ExpEmergence's difficulty groups (``<subtask>/brier_group_..``): they
    are subsets of a task's items sorted by difficulty, not curves of their own."""
    group = table["subtask"].astype(str).str.contains("/brier_group_", regex=False)
    return table[~group]


def curves(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per curve of every source, with its source and the high-emergence mark."""
    frames = [jump_table(whole_tasks(table)).assign(source=name) for name, table in tables.items()]
    jumps = pd.concat(frames, ignore_index=True)
    jumps["high_emergence"] = high_emergence(jumps)
    jumps["continuous"] = jumps["metric_kind"].isin(CONTINUOUS_KINDS)
    return jumps


def shares(jumps: pd.DataFrame, *, n_boot: int, seed: int) -> pd.DataFrame:
    per_source = emergence_shares(
        jumps, by=("source", "metric_kind"), n_boot=n_boot, random_seed=seed
    )
    pooled = emergence_shares(
        jumps.assign(source="all", task=jumps["source"] + "/" + jumps["task"]),
        by=("source", "metric_kind"),
        n_boot=n_boot,
        random_seed=seed,
    )
    return pd.concat([per_source, pooled], ignore_index=True)


def test_table(table: pd.DataFrame, min_sizes: int, families: list[str]) -> pd.DataFrame:
    sizes = table.groupby("family")["params"].nunique()
    keep = sizes[sizes >= min_sizes].index
    if families:
        keep = keep.intersection(families)
    return table[table["family"].isin(keep)].reset_index(drop=True)


def jump_tests(
    tables: dict[str, pd.DataFrame], args: argparse.Namespace
) -> tuple[pd.DataFrame, dict]:
    frames = []
    notes: dict[str, object] = {}
    for name in args.test_sources.split(","):
        name = name.strip()
        if not name:
            continue
        table = test_table(tables[name], args.min_sizes, args.families)
        if table.empty:
            notes[name] = "no family with enough sizes"
            continue
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = es.jump_test(
                table,
                modes=tuple(args.modes.split(",")),
                compare_broken=False,
                n_replicates=args.replicates,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                random_seed=args.seed,
                retry_failed=not args.no_retry,
                lengths="auto",
            )
        seconds = time.perf_counter() - started
        verdicts = result.verdicts[result.verdicts["primary"]].assign(source=name)
        frames.append(verdicts)
        notes[name] = {
            "families": sorted(table["family"].unique()),
            "rows": len(table),
            "seconds": round(seconds),
            "diagnostics": {k: bool(v.get("passed")) for k, v in result.diagnostics.items()},
        }
    if not frames:
        return pd.DataFrame(), notes
    return pd.concat(frames, ignore_index=True), notes


def mark_high(verdicts: pd.DataFrame, jumps: pd.DataFrame) -> pd.DataFrame:
    key = ["source", "task", "subtask", "family", "shots", "metric"]
    marks = jumps[[*key, "high_emergence", "emergence_score"]]
    return verdicts.merge(marks, on=key, how="left")


def figure(table: pd.DataFrame, path: Path) -> None:
    table = table[table["n_curves"] > 0]
    labels = [f"{s}: {k}" for s, k in zip(table["source"], table["metric_kind"], strict=True)]
    y = np.arange(len(table))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(table) + 1.2), layout="constrained")
    colours = [kind_colour(k) for k in table["metric_kind"]]
    ax.errorbar(
        table["share_high"],
        y,
        xerr=np.vstack(
            [table["share_high"] - table["share_q05"], table["share_q95"] - table["share_high"]]
        ),
        fmt="none",
        ecolor="#777777",
        capsize=2,
    )
    ax.scatter(table["share_high"], y, c=colours, zorder=3)
    for yy, n in zip(y, table["n_curves"], strict=True):
        ax.annotate(
            f"{n} curves",
            (1.0, yy),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize="x-small",
            annotation_clip=False,
        )
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        f"share with emergence score > {DEFAULT_FACTOR:g} (n - 1)\n(90% bootstrap over tasks)"
    )
    ax.set_title("Where classic 'emergence' lives, per metric kind", fontsize="medium")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _interval(low: float, high: float) -> str:
    return "one task" if not np.isfinite(low) else f"[{low:.2f}, {high:.2f}]"


def _pct(row: pd.Series) -> str:
    return (
        f"{row['share_high']:.2f} {_interval(row['share_q05'], row['share_q95'])} "
        f"({int(row['n_high'])}/{int(row['n_curves'])} curves, {int(row['n_tasks'])} tasks)"
    )


def _classic_section(shares_table: pd.DataFrame, jumps: pd.DataFrame) -> list[str]:
    scored = jumps[jumps["n_points"] >= 3]
    lines = [
        "## Classic emergence score per metric kind",
        "",
        f"A curve is one (task, subtask, family, shots, metric) of "
        f"{', '.join(sorted(jumps['source'].unique()))}; ExpEmergence's difficulty groups "
        "(subsets of a task's items) are left out. "
        f"{len(scored)} of {len(jumps)} curves have >= 3 sizes and a score "
        f"({int(scored['n_points'].min())}-{int(scored['n_points'].max())} sizes, median "
        f"{scored['n_points'].median():g}). *Highly emergent*: emergence score > "
        f"{DEFAULT_FACTOR:g} (n - 1), more than {DEFAULT_FACTOR:g} times an even, steady rise "
        "over the same points. Shares with 90% intervals from 2,000 bootstrap resamples of "
        "tasks (none for a single task).",
        "",
        "| source | metric kind | share highly emergent [90%] | pure steps (score inf) | "
        "median score |",
        "| --- | --- | --- | --- | --- |",
    ]
    for _, row in shares_table[shares_table["n_curves"] > 0].iterrows():
        lines.append(
            f"| {row['source']} | {row['metric_kind']} | {_pct(row)} | {int(row['n_step'])} | "
            f"{row['median_score']:.2f} |"
        )
    return [*lines, ""]


def _paired_section(pairs: pd.DataFrame) -> tuple[list[str], str | None]:
    lines = ["## The same outputs under two metrics (ExpEmergence: grade and Brier)", ""]
    if pairs.empty:
        return [*lines, "No pair of curves of the same outputs with >= 3 sizes.", ""], None
    grade, brier = pairs["high_multiple_choice_grade"], pairs["high_brier"]
    only_grade = int((grade & ~brier).sum())
    only_brier = int((brier & ~grade).sum())
    both = int((grade & brier).sum())
    lines += [
        f"{len(pairs)} (task, family) curves scored both by multiple-choice grade and by the "
        "Brier score of the correct choice (BIG-bench's `tc_brier`, negated so that higher is "
        "better) from the same model outputs. Highly emergent under grade only: "
        f"{only_grade}; under Brier only: {only_brier}; under both: {both}; under neither: "
        f"{len(pairs) - only_grade - only_brier - both}.",
        "",
    ]
    finding = (
        f"on the same outputs, {only_grade} curves are highly emergent under grade only and "
        f"{only_brier} under Brier only"
    )
    if only_grade + only_brier:
        from scipy import stats

        test = stats.binomtest(only_grade, only_grade + only_brier, 0.5)
        lines.append(
            f"Exact two-sided sign test of the discordant pairs: p = {test.pvalue:.3g} "
            "(pairs of one task are not independent; read it as descriptive)."
        )
        lines.append("")
        finding += (
            f" (sign test p = {test.pvalue:.2g}: "
            + ("a difference" if test.pvalue < 0.05 else "no detectable difference")
            + ")"
        )
    return lines, finding


def _jump_section(verdicts: pd.DataFrame, notes: dict, args: argparse.Namespace) -> list[str]:
    lines = ["## Jump test of the discontinuous series", ""]
    if verdicts.empty:
        return [*lines, "Not run (`--test-sources` empty or no family with enough sizes).", ""]
    counted = verdict_shares(verdicts, by=("source", "mode", "metric_kind"))
    lines += [
        f"Series of the families with >= {args.min_sizes} sizes of {args.test_sources}; "
        f"modes {args.modes}; {args.chains} chains x {args.draws} draws after {args.tune} "
        "tuning steps; the verdict rule of `jump_test` (Benjamini-Hochberg across a mode's "
        "series). Shares of all series with 90% Jeffreys intervals.",
        "",
        "| source | mode | metric kind | series | excess_jump [90%] | explained_by_metric | "
        "inconclusive |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, row in counted.iterrows():
        lines.append(
            f"| {row['source']} | {row['mode']} | {row['metric_kind']} | {row['n']} | "
            f"{row['excess_jump']} [{row['excess_q05']:.2f}, {row['excess_q95']:.2f}] | "
            f"{row['explained_by_metric']} | {row['inconclusive']} |"
        )
    high = verdicts[verdicts["high_emergence"].fillna(False).astype(bool)]
    lines.append("")
    if len(high):
        counts = high.groupby("mode")["verdict"].value_counts()
        lines.append(
            f"Highly emergent by the classic score among the tested series: "
            f"{high[['task', 'subtask', 'family', 'metric']].drop_duplicates().shape[0]}; "
            "their verdicts: "
            + "; ".join(f"{mode} {verdict} {n}" for (mode, verdict), n in counts.items())
            + "."
        )
        lines.append("")
    reasons = verdicts.loc[verdicts["verdict"] == "inconclusive", "reason"].value_counts()
    if len(reasons):
        lines += ["Reasons for `inconclusive` (most frequent first):", ""]
        lines += [f"- {n} x {reason}" for reason, n in reasons.head(6).items()]
        lines.append("")
    for name, info in notes.items():
        lines.append(f"Fits of {name}: {info}.")
    return [*lines, ""]


def _jump_finding(verdicts: pd.DataFrame) -> str:
    """One sentence per jump-test mode: how the tested series came out, and what it can show."""
    if verdicts.empty:
        return "The jump test was not run."
    parts = []
    for mode, frame in verdicts.groupby("mode", sort=False):
        counts = frame["verdict"].value_counts()
        parts.append(
            f"`{mode}`: {counts.get('excess_jump', 0)} excess_jump, "
            f"{counts.get('explained_by_metric', 0)} explained_by_metric, "
            f"{counts.get('inconclusive', 0)} inconclusive of {len(frame)} series"
        )
    sentence = "Jump test: " + "; ".join(parts) + "."
    if "in_sample" in set(verdicts["mode"]):
        sentence += (
            " `in_sample` is a posterior predictive check of the data the smooth fit saw: it "
            "flags only a jump the smooth latent cannot absorb, so `explained_by_metric` there "
            "says the jump is what a smooth per-token rise produces through this metric, a "
            "weaker statement than `cross_metric`, which needs a continuous metric of the same "
            "outputs."
        )
    return sentence


def write_result(
    path: Path,
    shares_table: pd.DataFrame,
    jumps: pd.DataFrame,
    pairs: pd.DataFrame,
    verdicts: pd.DataFrame,
    notes: dict,
    args: argparse.Namespace,
    seconds: float,
) -> None:
    pooled = shares_table[shares_table["source"] == "all"].set_index("metric_kind")
    lines = [
        "# BIG-bench meta-analysis: where does classic emergence live, and does it survive the "
        "jump test?",
        "",
        "Schaeffer, Miranda & Koyejo (2023), section 4. Made by `analyses/bigbench_meta.py` "
        f"({' '.join(args.argv) or 'default settings'}; {seconds:.0f} s on 2 cores).",
        "",
        "## Claim",
        "",
        "High emergence scores concentrate in discontinuous or nonlinear metrics (exact string "
        "match, multiple-choice grade) and are rare under continuous ones; the jumps are the "
        "metric's, not the ability's.",
        "",
        *_classic_section(shares_table, jumps),
    ]
    em = pooled.loc["exact_match"] if "exact_match" in pooled.index else None
    mc = pooled.loc["multiple_choice_grade"] if "multiple_choice_grade" in pooled.index else None
    br = pooled.loc["brier"] if "brier" in pooled.index else None
    findings: list[str] = []
    if em is not None and br is not None:
        above = bool(em["share_q05"] > br["share_q95"])
        findings.append(
            f"exact match ({em['share_high']:.2f}) is highly emergent "
            + ("more often than" if above else "not clearly more often than")
            + f" the continuous Brier score ({br['share_high']:.2f})"
            + (" (90% intervals apart)" if above else " (90% intervals overlap)")
        )
    if mc is not None and br is not None:
        above = bool(mc["share_q05"] > br["share_q95"])
        below = bool(mc["share_q95"] < br["share_q05"])
        findings.append(
            f"multiple-choice grade ({mc['share_high']:.2f}) is "
            + ("more" if above else "less" if below else "about as")
            + f" often highly emergent {'than' if above or below else 'as'} the Brier score"
        )
    paired, paired_finding = _paired_section(pairs)
    if paired_finding is not None:
        findings.append(paired_finding)
    lines += paired
    lines += _jump_section(verdicts, notes, args)
    reproduced = bool(em is not None and br is not None and em["share_q05"] > br["share_q95"])
    lines += [
        "## Reproduced?",
        "",
        (
            "**Partly**: the concentration in exact match reproduces, the rest as follows: "
            if reproduced
            else "**Not as claimed**: "
        )
        + "; ".join(findings)
        + ". "
        + _jump_finding(verdicts),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/bigbench_meta"))
    parser.add_argument("--result", type=Path, default=Path("analyses/results/bigbench_meta.md"))
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument(
        "--test-sources",
        default="obsscaling",
        help="sources whose series get the jump test ('' for none)",
    )
    parser.add_argument("--families", default="", help="jump test: only these families")
    parser.add_argument("--min-sizes", type=int, default=5)
    parser.add_argument("--modes", default="in_sample,leave_future_out")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument(
        "--no-retry", action="store_true", help="jump test: no careful refit of a failed fit"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    args.families = [f for f in args.families.split(",") if f]
    started = time.perf_counter()
    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    tables = {name: load(name) for name in names}
    jumps = curves(tables)
    table = shares(jumps, n_boot=args.n_boot, seed=args.seed)
    pairs = paired_emergence(jumps, "multiple_choice_grade", "brier")
    verdicts, notes = jump_tests(tables, args)
    if not verdicts.empty:
        verdicts = mark_high(verdicts, jumps)
    args.out.mkdir(parents=True, exist_ok=True)
    jumps.to_csv(args.out / "curves.csv", index=False)
    table.to_csv(args.out / "shares.csv", index=False)
    verdicts.to_csv(args.out / "verdicts.csv", index=False)
    figure(table, args.out / "shares.png")
    pairs.to_csv(args.out / "pairs.csv", index=False)
    write_result(
        args.result, table, jumps, pairs, verdicts, notes, args, time.perf_counter() - started
    )
    print(args.result.read_text())


if __name__ == "__main__":
    main()
