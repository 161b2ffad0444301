"""Accuracy against Brier score on the same outputs (ExpEmergence): does the jump survive?

The claim (Schaeffer et al. 2023, section 3; Wu & Lo 2024, "U-shaped and inverted-U scaling
behind emergent abilities of large language models", the ExpEmergence data): multiple-choice
accuracy is an argmax of the model's outputs and can jump where a continuous score of the same
outputs, the Brier score of the correct choice (BIG-bench's ``tc_brier``), improves smoothly; and
items of different difficulty scale differently, which a task's average hides.

What this script measures on the published ExpEmergence files (9 tasks, 25 open families; every
task scored by accuracy and by ``tc_brier``, and by ``tc_brier`` in 10 groups of items sorted by
difficulty):

1. **The jump test per task** (:func:`emergestats.jump_test`, mode ``cross_metric``): for every
   family with >= ``--min-sizes`` sizes, the smooth model fitted to the task's Brier scores alone
   predicts the accuracy series of the same outputs (the one choice model maps the correct
   choice's probability to both); the verdict says whether accuracy's largest jump exceeds what
   the metric alone produces from that smooth latent. One fit per task (its families together).
2. **Difficulty groups.** The published files score ExpEmergence's Brier-ranked groups (every
   task) by ``tc_brier`` only and its accuracy-ranked groups (arithmetic, mmlu, parsinlu_qa) by
   accuracy only, and the two rankings put different questions in a group: no group has both
   metrics of the same outputs, so no accuracy-vs-Brier test can be made per group. Per ranking
   and group (1 = easiest ... 10 = hardest), over the (task, family) curves with
   >= ``--min-sizes`` sizes: the share that improves from the smallest to the largest model,
   the share that gets worse (inverse scaling), and the share highly emergent by the classic
   score (:func:`emergestats.meta_analysis.high_emergence`).
3. **The report** (``--report-task``, default ``hindu_knowledge``):
   :func:`emergestats.analysis.analyze` of that task's families (scores, the smooth fit of both
   metrics, the ``cross_metric`` jump test) writes ``report.html`` / ``report.md`` /
   ``report.json`` in ``--out/report``.

Writes ``analyses/results/expemergence_acc_brier.md`` (``--result``), and in ``--out`` the
verdicts (``verdicts.csv``), the per-group table (``groups.csv``) and the report.

Usage (the data mirror set)::

    EMERGESTATS_DATA_DIR=/work/shared/data .venv/bin/python analyses/expemergence_acc_brier.py
    ... analyses/expemergence_acc_brier.py --tasks hindu_knowledge --draws 300 --tune 300 \\
        --no-report   # reduced
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import emergestats as es
from emergestats.analysis import AnalysisSettings, analyze
from emergestats.emergence import jump_table
from emergestats.meta_analysis import high_emergence, verdict_shares

#: ExpEmergence's difficulty groups: ``<task>/brier_group_<r>of<G>`` (Brier-ranked) and
#: ``<task>/acc_group_<r>of<G>`` (accuracy-ranked).
GROUP_PATTERN = r"/(?:brier|acc)_group_\d+of\d+$"


def load() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return es.datasets.load("expemergence")


def is_group(table: pd.DataFrame) -> pd.Series:
    return table["subtask"].astype(str).str.contains(GROUP_PATTERN, regex=True)


def tested_families(table: pd.DataFrame, min_sizes: int) -> pd.DataFrame:
    """Whole-task rows of the (task, family, shots) whose accuracy has >= ``min_sizes`` sizes."""
    whole = table[~is_group(table)]
    sizes = whole[whole["metric"] == "acc"].groupby(["task", "family", "shots"])["params"].nunique()
    keep = sizes[sizes >= min_sizes].reset_index()[["task", "family", "shots"]]
    return whole.merge(keep, on=["task", "family", "shots"]).reset_index(drop=True)


def jump_tests(table: pd.DataFrame, args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    frames, notes = [], {}
    for task in sorted(table["task"].unique()):
        if args.tasks and task not in args.tasks:
            continue
        rows = table[table["task"] == task]
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = es.jump_test(
                rows,
                modes=("cross_metric",),
                compare_broken=False,
                n_replicates=args.replicates,
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                random_seed=args.seed,
                retry_failed=not args.no_retry,
            )
        seconds = time.perf_counter() - started
        frames.append(result.verdicts[result.verdicts["primary"]])
        diagnostics = result.diagnostics.get("cross_metric/smooth", {})
        notes[task] = {
            "families": sorted(rows["family"].unique()),
            "seconds": round(seconds),
            "passed": bool(diagnostics.get("passed")),
            "failures": diagnostics.get("failures", []),
        }
        print(f"{task}: {seconds:.0f} s, fit {'passed' if notes[task]['passed'] else 'FAILED'}")
    if not frames:
        return pd.DataFrame(), notes
    return pd.concat(frames, ignore_index=True), notes


def classic(table: pd.DataFrame) -> pd.DataFrame:
    """Classic jump statistics of every whole-task curve, with the high-emergence mark."""
    jumps = jump_table(table)
    jumps["high_emergence"] = high_emergence(jumps)
    return jumps


def group_table(table: pd.DataFrame, min_sizes: int) -> pd.DataFrame:
    """Per ranking and difficulty group: how its (task, family) curves move with scale.

    Two rankings: ``brier`` (every task: questions ranked by mean Brier score, groups scored by
    ``tc_brier``) and ``acc`` (arithmetic, mmlu, parsinlu_qa: ranked by mean accuracy, scored by
    accuracy). Group 1 is the easiest in both. ``improves``: the score is better at the largest
    model than at the smallest (Brier lower, accuracy higher).
    """
    pattern = r"/(?P<ranking>brier|acc)_group_(?P<group>\d+)of\d+$"
    parts = table["subtask"].astype(str).str.extract(pattern)
    groups = table.assign(ranking=parts["ranking"], group=parts["group"])
    groups = groups[groups["ranking"].notna()].copy()
    groups["group"] = groups["group"].astype(int)
    key = ["task", "subtask", "family", "shots", "metric"]
    sizes = groups.groupby(key)["params"].transform("nunique")
    groups = groups[sizes >= min_sizes]
    jumps = jump_table(groups)
    jumps["high_emergence"] = high_emergence(jumps)
    ordered = groups.sort_values("params")
    ends = ordered.groupby([*key, "ranking", "group"])["score"].agg(["first", "last"])
    lower_better = ends.index.get_level_values("metric") == "tc_brier"
    change = ends["last"] - ends["first"]
    ends["better"] = np.where(lower_better, -change, change)
    ends["change"] = change
    jumps = jumps.merge(ends.reset_index(), on=key)
    rows = []
    for (ranking, group), part in jumps.groupby(["ranking", "group"]):
        rows.append(
            {
                "ranking": str(ranking),
                "group": int(group),
                "curves": len(part),
                "tasks": part["task"].nunique(),
                "improves": int((part["better"] > 0).sum()),
                "worsens": int((part["better"] < 0).sum()),
                "median_change": float(part["change"].median()),
                "highly_emergent": int(part["high_emergence"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _interval(low: float, mid: float, high: float) -> str:
    if not np.isfinite(mid):
        return "-"
    return f"{mid:+.3f} [{low:+.3f}, {high:+.3f}]"


def write_result(
    path: Path,
    verdicts: pd.DataFrame,
    notes: dict,
    jumps: pd.DataFrame,
    groups: pd.DataFrame,
    report: str,
    args: argparse.Namespace,
    seconds: float,
) -> None:
    lines = [
        "# Accuracy against the Brier score of the same outputs (ExpEmergence)",
        "",
        "Made by `analyses/expemergence_acc_brier.py` "
        f"({' '.join(args.argv) or 'default settings'}; {seconds / 60:.0f} minutes on 2 cores).",
        "",
        "## Claim",
        "",
        "Multiple-choice accuracy (an argmax) can jump where a continuous score of the same "
        "outputs, the Brier score of the correct choice, improves smoothly: the jump is the "
        "metric's. Items of different difficulty scale differently, which a task average hides.",
        "",
        "## Jump test per task (`cross_metric`: Brier fitted, accuracy predicted)",
        "",
    ]
    if verdicts.empty:
        lines += ["Not run (no task selected).", ""]
        decided = 0
    else:
        counts = verdict_shares(verdicts.assign(source="expemergence"), by=("metric_kind",))
        high = jumps.set_index(["task", "family", "shots", "metric"])["high_emergence"]
        lines += [
            f"Families with >= {args.min_sizes} sizes "
            f"({', '.join(sorted(verdicts['family'].unique()))}); "
            f"{args.chains} chains x {args.draws} draws after {args.tune} tuning steps, one fit "
            "per task; the verdict rule of `jump_test` (Benjamini-Hochberg across the task's "
            "series). Observed: accuracy's largest adjacent jump per decade; predicted: its 90% "
            "band under the smooth latent fitted to the Brier scores; excess: observed minus "
            "predicted, with its 90% interval.",
            "",
            "| task | family | sizes | highly emergent (classic) | observed | predicted [90%] | "
            "excess [90%] | p | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for _, row in verdicts.sort_values(["task", "family"]).iterrows():
            key = (row["task"], row["family"], row["shots"], row["metric"])
            mark = bool(high.get(key, False))
            reason = f" ({row['reason']})" if row["verdict"] == "inconclusive" else ""
            lines.append(
                f"| {row['task']} | {row['family']} | {int(row['n_sizes'])} | "
                f"{'yes' if mark else 'no'} | {row['observed']:.3f} | "
                f"{row['predicted_q50']:.3f} [{row['predicted_q05']:.3f}, "
                f"{row['predicted_q95']:.3f}] | "
                f"{_interval(row['excess_q05'], row['excess_q50'], row['excess_q95'])} | "
                f"{row['p_value']:.3f} | {row['verdict']}{reason} |"
            )
        lines.append("")
        for _, row in counts.iterrows():
            lines.append(
                f"Verdicts ({row['metric_kind']}, {row['n']} series): excess_jump "
                f"{row['excess_jump']} [90% {row['excess_q05']:.2f}, {row['excess_q95']:.2f}], "
                f"explained_by_metric {row['explained_by_metric']}, inconclusive "
                f"{row['inconclusive']}."
            )
        lines.append("")
        for task, info in notes.items():
            state = "passed" if info["passed"] else "FAILED (" + "; ".join(info["failures"]) + ")"
            lines.append(f"- Fit of `{task}` ({info['seconds']} s): {state}.")
        lines.append("")
        decided = int((verdicts["verdict"] != "inconclusive").sum())
    lines += [
        "## Difficulty groups",
        "",
        "The published files score the Brier-ranked groups by Brier only, and the "
        "accuracy-ranked groups (arithmetic, mmlu, parsinlu_qa) by accuracy only: the two "
        "rankings put different questions in a group, so no group has both metrics of the same "
        "outputs and the jump test (which predicts one from the other) cannot be made per "
        "group. Per group (1 = easiest, 10 = hardest), the (task, family) curves with "
        f">= {args.min_sizes} sizes: how many improve from the smallest to the largest model "
        "(Brier lower, accuracy higher), how many get worse, the median change of the score, "
        "and how many are highly emergent by the classic score.",
        "",
        "| ranking (score) | group | curves | tasks | improves | worsens | median change | "
        "highly emergent |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in groups.itertuples(index=False):
        score = "tc_brier" if row.ranking == "brier" else "acc"
        lines.append(
            f"| {row.ranking} ({score}) | {row.group} | {row.curves} | {row.tasks} | "
            f"{row.improves} | {row.worsens} | {row.median_change:+.3f} | "
            f"{row.highly_emergent} |"
        )
    lines.append("")
    brier = groups[groups["ranking"] == "brier"].sort_values("group")
    easy, hard = brier.iloc[0], brier.iloc[-1]
    finding_groups = (
        f"by Brier, the easiest group of questions improves with scale on {easy['improves']}/"
        f"{easy['curves']} curves (median change {easy['median_change']:+.3f}), the hardest on "
        f"{hard['improves']}/{hard['curves']} (median {hard['median_change']:+.3f}, worse on "
        f"{hard['worsens']})"
    )
    if verdicts.empty:
        finding_test = "the jump test was not run"
    else:
        n = len(verdicts)
        excess = int((verdicts["verdict"] == "excess_jump").sum())
        explained = int((verdicts["verdict"] == "explained_by_metric").sum())
        finding_test = (
            f"of {n} accuracy series, {explained} are explained by the metric, {excess} show an "
            f"excess jump and {n - decided} are withheld"
        )
    reproduced = "Partly" if decided else "Undecided"
    lines += [
        "## Reproduced?",
        "",
        f"**{reproduced}**: {finding_test}; {finding_groups}. {report}",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out/expemergence_acc_brier"))
    parser.add_argument(
        "--result", type=Path, default=Path("analyses/results/expemergence_acc_brier.md")
    )
    parser.add_argument("--tasks", default="", help="comma-separated tasks (default: all)")
    parser.add_argument("--min-sizes", type=int, default=5)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--no-retry", action="store_true", help="no careful refit of a failed fit")
    parser.add_argument("--report-task", default="hindu_knowledge")
    parser.add_argument("--no-report", action="store_true", help="skip the full report")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    args.tasks = [t for t in args.tasks.split(",") if t]
    started = time.perf_counter()
    table = load()
    tested = tested_families(table, args.min_sizes)
    jumps = classic(tested)
    verdicts, notes = jump_tests(tested, args)
    groups = group_table(table, args.min_sizes)
    args.out.mkdir(parents=True, exist_ok=True)
    verdicts.to_csv(args.out / "verdicts.csv", index=False)
    groups.to_csv(args.out / "groups.csv", index=False)
    (args.out / "fits.json").write_text(json.dumps(notes, indent=1))
    report = "The full report was not written (`--no-report`)."
    if not args.no_report:
        settings = AnalysisSettings(
            modes=("cross_metric",),
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            n_replicates=args.replicates,
            random_seed=args.seed,
        )
        analysis = analyze(
            tested[tested["task"] == args.report_task],
            args.out / "report",
            settings=settings,
            command="analyses/expemergence_acc_brier.py " + " ".join(args.argv),
        )
        passed = analysis.fit.diagnostics_summary()["passed"]
        report = (
            f"The report of `{args.report_task}` (scores, the smooth fit of both metrics, the "
            f"`cross_metric` jump test): `{args.out}/report/report.html` (its all-metrics fit "
            f"{'passed' if passed else 'FAILED'} its diagnostics)."
        )
    write_result(
        args.result, verdicts, notes, jumps, groups, report, args, time.perf_counter() - started
    )
    print(args.result.read_text())


if __name__ == "__main__":
    main()
