"""Evaluation-design planner: how many items does the mirage test need to see a break?

:func:`plan` answers, for one task (its answer lengths or its number of choices, read from a
BIG-bench ``task.json`` or given), a planned family of model sizes and a break worth detecting
(per-token CE multiplied by ``break_factor`` within half a decade at the geometric middle of
the sizes), the **power** of the jump test at each candidate number of items, and the smallest
number of items that reaches the target power (80% by default).

It is the calibration sweep (:func:`emergestats.mirage.calibrate`) run on the task's own
design: the project's item-level simulator (which does not share the model's assumptions) draws
truths from its population of smooth per-token curves (:class:`~emergestats.simulation.
TruthPopulation`), breaks them, simulates every item's output at the planned sizes (generation:
item lengths resampled from the task's own answers; choice: the task's number of choices with a
plausible distractor), and runs the jump test on each replicate, batched on
``dask.distributed``. Power is the share of broken truths on which the test reports the break
(:func:`detected`: the verdict ``excess_jump``, or a latent break by the step test of the
jump test's rule 7, ``latent_break``); a replicate whose verdict the test withholds
(``inconclusive``, e.g. a fit that fails its diagnostics) counts as **not detected**, because
that is what a user of the test would get.
With ``false_alarm=True`` the same number of smooth truths is simulated per candidate and the
false-alarm rate is measured beside the power; otherwise the planner quotes none.

The cost of the full grid (every candidate of :data:`FULL_ITEMS` with :data:`FULL_REPLICATES`
replicates per truth) on a cluster is estimated from the compute seconds per test measured in
the run (:meth:`PlanResult.estimate_minutes`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd

from emergestats.cluster import Progress
from emergestats.errors import ConfigError, EmptyInputError
from emergestats.mirage.calibration import (
    CalibrationResult,
    calibrate,
    detected,
    proportion_interval,
)
from emergestats.mirage.jumps import VerdictRule

if TYPE_CHECKING:
    from distributed import Client
    from matplotlib.figure import Figure

__all__ = [
    "FULL_ITEMS",
    "FULL_REPLICATES",
    "PlanResult",
    "TaskDesign",
    "detected",
    "parse_sizes",
    "plan",
    "power_table",
    "task_design",
]

#: Candidate item counts of the full planning grid.
FULL_ITEMS: Final[tuple[int, ...]] = (50, 100, 200, 500, 1000, 2000, 5000)
#: Replicates per candidate and truth of the full grid (90% Jeffreys interval of a power near
#: 0.8 about +-0.07).
FULL_REPLICATES: Final[int] = 100
#: BIG-bench scores whose task is answered by generating text.
_GENERATION_SCORES: Final[frozenset[str]] = frozenset(
    {
        "exact_str_match",
        "bleu",
        "rouge",
        "bleurt",
        "sequence_f1",
        "numeric_match_with_0_1_relative_error",
    }
)


@dataclass(frozen=True)
class TaskDesign:
    """What the planner needs to know of a task.

    Attributes
    ----------
    name
        A label (``task`` or ``task:subtask``).
    kind
        ``"generation"`` (scored by exact match of a generated answer) or ``"choice"``
        (multiple-choice grade).
    n_choices
        Choices per item (choice tasks).
    lengths
        Every item's answer length in tokens (generation tasks); the simulated items draw
        theirs from these with replacement.
    n_items
        Items the task defines (for reference: the plan's candidates may be more or fewer).
    source
        Where the design came from (a ``task.json`` path, or ``"given"``).
    """

    name: str
    kind: Literal["generation", "choice"]
    n_choices: int | None = None
    lengths: tuple[int, ...] | None = None
    n_items: int | None = None
    source: str = "given"

    def __post_init__(self) -> None:
        if self.kind not in ("generation", "choice"):
            raise ConfigError(f"kind must be 'generation' or 'choice', not {self.kind!r}")
        if self.kind == "choice" and (self.n_choices is None or self.n_choices < 2):
            raise ConfigError(f"task {self.name!r}: a choice task needs n_choices >= 2")
        if self.kind == "generation" and (not self.lengths or min(self.lengths) < 1):
            raise ConfigError(
                f"task {self.name!r}: a generation task needs its answer lengths (tokens >= 1)"
            )

    @property
    def mean_length(self) -> float:
        """Mean answer length in tokens (NaN for a choice task)."""
        return float(np.mean(self.lengths)) if self.lengths else math.nan

    def describe(self) -> str:
        """One line: kind, choices or answer lengths, items defined."""
        if self.kind == "choice":
            what = f"multiple choice, {self.n_choices} choices"
        else:
            lengths = np.asarray(self.lengths)
            what = (
                f"generation, answers of {lengths.min()}-{lengths.max()} tokens "
                f"(mean {lengths.mean():.1f})"
            )
        items = f", {self.n_items} items defined" if self.n_items else ""
        return f"{self.name}: {what}{items}"


def task_design(
    task: TaskDesign | str | Path, *, subtask: str | None = None, tokenizer: Any = None
) -> TaskDesign:
    """The design of a task: a :class:`TaskDesign` as is, or read from a BIG-bench definition.

    Parameters
    ----------
    task
        A :class:`TaskDesign`; a path to a ``task.json`` or a task folder; or the name of a
        task in the ``bigbench-tasks`` dataset (:func:`emergestats.datasets.path`).
    subtask
        Which subtask of a task with several (required then; the error lists them).
    tokenizer
        Passed to :func:`emergestats.data.bigbench.read_bigbench_tasks` for answer lengths.

    The task is a choice task when its preferred score is ``multiple_choice_grade`` (or, with
    no preferred score, when every item has ``target_scores``), and a generation task when it
    is a generation score (exact match, BLEU, ROUGE...) or no item has choices. The planner
    tests what the jump test tests: exact match of a generation task's answers (also where
    the task's preferred score is BLEU or ROUGE) and the grade of a choice task.
    """
    if isinstance(task, TaskDesign):
        return task
    from emergestats.data.bigbench import read_bigbench_tasks

    where = Path(task)
    if not where.exists():
        from emergestats import datasets

        folder = datasets.path("bigbench-tasks") / str(task)
        if not folder.exists():
            raise EmptyInputError(
                f"{task!r} is neither a task.json, a task folder, nor a task of the "
                "'bigbench-tasks' dataset; give a path or a BIG-bench task name"
            )
        where = folder
    rows = read_bigbench_tasks(where, tokenizer=tokenizer)
    if subtask is not None:
        chosen = rows[
            (rows["subtask"] == subtask) | (rows["task"] + ":" + rows["subtask"] == subtask)
        ]
        if chosen.empty:
            raise ConfigError(
                f"{where} has no subtask {subtask!r}; its subtasks: "
                + ", ".join(rows["subtask"].astype(str))
            )
    elif len(rows) > 1:
        raise ConfigError(
            f"{where} defines {len(rows)} subtasks; choose one with subtask= (--subtask): "
            + ", ".join(rows["subtask"].astype(str))
        )
    else:
        chosen = rows
    row = chosen.iloc[0]
    name = str(row["task"]) if row["subtask"] == row["task"] else f"{row['task']}:{row['subtask']}"
    preferred = str(row["preferred_score"]) if isinstance(row["preferred_score"], str) else ""
    n_mc = int(row["n_multiple_choice"])
    n_items = int(row["n_items"])
    if preferred == "multiple_choice_grade" or (
        preferred not in _GENERATION_SCORES and n_mc == n_items
    ):
        if n_mc == 0 or pd.isna(row["n_choices"]):
            raise ConfigError(f"{row['path']}: scored by multiple-choice grade but has no choices")
        return TaskDesign(
            name=name,
            kind="choice",
            n_choices=int(row["n_choices"]),
            n_items=n_items,
            source=str(row["path"]),
        )
    return TaskDesign(
        name=name,
        kind="generation",
        lengths=tuple(int(n) for n in row["target_lengths"]),
        n_items=n_items,
        source=str(row["path"]),
    )


def parse_sizes(text: str) -> list[float]:
    """Model sizes from ``"1e8,3e8,1e9"`` or ``"LOW:HIGH:COUNT"`` (COUNT log-spaced sizes)."""
    try:
        if ":" in text:
            low, high, count = text.split(":")
            if int(count) < 2:
                raise ValueError
            return [float(v) for v in np.geomspace(float(low), float(high), int(count))]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(
            f"sizes {text!r}: give comma-separated parameter counts (1e8,3e8,1e9) or "
            "LOW:HIGH:COUNT (1e8:1e11:8)"
        ) from exc


@dataclass(frozen=True)
class PlanResult:
    """What :func:`plan` measured.

    Attributes
    ----------
    task
        The task's design.
    sizes
        The planned model sizes.
    break_factor
        The break worth detecting (per-token CE multiplied by it at the middle size).
    target_power
        The power asked for.
    power
        One row per candidate number of items (:func:`power_table`): ``n_items``,
        ``n_broken``, ``detected``, ``power`` with its 90% Jeffreys interval (``power_q05``,
        ``power_q95``), ``inconclusive_broken`` (share of broken truths whose verdict was
        withheld), and with smooth truths ``n_smooth``, ``alarms``, ``false_alarm`` (+
        interval) and ``inconclusive_smooth``.
    calibration
        The underlying :class:`~emergestats.mirage.calibration.CalibrationResult` (every
        replicate, its seed and verdict).
    max_false_alarm
        The verdict rule's largest acceptable false-alarm rate.
    """

    task: TaskDesign
    sizes: tuple[float, ...]
    break_factor: float
    target_power: float
    power: pd.DataFrame
    calibration: CalibrationResult
    max_false_alarm: float = 0.10
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def needed_items(self) -> int | None:
        """The fewest candidate items whose power reaches the target (and whose false alarm,
        where measured, is within the rule's limit); ``None`` if no candidate does."""
        ok = self.power["power"] >= self.target_power
        if "false_alarm" in self.power.columns:
            ok &= ~(self.power["false_alarm"] > self.max_false_alarm)
        hits = self.power.loc[ok, "n_items"]
        return int(hits.min()) if len(hits) else None

    @property
    def seconds_per_test(self) -> float:
        """Compute seconds per simulated test (each batch's time shared by its replicates)."""
        rows = self.calibration.replicates
        total = float((rows["batch_seconds"] / rows["batch_size"]).sum())
        return total / len(rows)

    def estimate_minutes(
        self,
        n_workers: int,
        *,
        n_items: Sequence[int] = FULL_ITEMS,
        n_rep: int = FULL_REPLICATES,
        truths: int = 2,
    ) -> float:
        """Estimated wall minutes of a grid on ``n_workers`` single-core workers.

        ``len(n_items) * n_rep * truths`` tests at the compute seconds per test measured here,
        shared perfectly over the workers (a lower bound: the cluster's start and the last,
        partly idle round are not counted; the fit's cost barely depends on the items).
        """
        tests = len(n_items) * n_rep * truths
        return tests * self.seconds_per_test / max(1, n_workers) / 60.0

    def answer(self) -> str:
        """The plan's answer in words."""
        sizes = np.asarray(self.sizes)
        head = (
            f"{self.task.describe()}; {sizes.size} sizes {sizes.min():.3g}-{sizes.max():.3g}; "
            f"break: per-token CE x {self.break_factor:g} within half a decade at "
            f"{float(np.exp(np.mean(np.log(sizes)))):.3g} parameters."
        )
        needed = self.needed_items
        best = self.power.iloc[int(np.argmax(self.power["power"].to_numpy(float)))]
        if needed is not None:
            row = self.power[self.power["n_items"] == needed].iloc[0]
            verdict = (
                f"{needed} items reach {self.target_power:.0%} power (measured "
                f"{row['power']:.2f}, 90% interval {row['power_q05']:.2f}-{row['power_q95']:.2f}, "
                f"{int(row['n_broken'])} broken truths)."
            )
        else:
            verdict = (
                f"No candidate reaches {self.target_power:.0%} power: the highest measured is "
                f"{best['power']:.2f} at {int(best['n_items'])} items (90% interval "
                f"{best['power_q05']:.2f}-{best['power_q95']:.2f}); "
                f"{best['inconclusive_broken']:.0%} of its verdicts were withheld."
            )
        if "false_alarm" in self.power.columns:
            fa = self.power["false_alarm"]
            verdict += f" False alarm on smooth truths: {fa.min():.2f}-{fa.max():.2f}."
        else:
            verdict += " False alarm not simulated (false_alarm=False)."
        return f"{head}\n{verdict}"

    def save(self, folder: str | Path) -> Path:
        """Write ``power.csv``, ``replicates.csv``, ``plan.json`` and ``power.png``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.power.to_csv(out / "power.csv", index=False)
        self.calibration.replicates.to_csv(out / "replicates.csv", index=False)
        summary = {
            "task": {**asdict(self.task), "lengths": list(self.task.lengths or ())},
            "sizes": list(self.sizes),
            "break_factor": self.break_factor,
            "target_power": self.target_power,
            "needed_items": self.needed_items,
            "answer": self.answer(),
            "seconds_per_test": self.seconds_per_test,
            "wall_seconds": self.calibration.wall_seconds,
            "settings": self.settings,
        }
        (out / "plan.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        figure = self.plot()
        figure.savefig(out / "power.png", dpi=120, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(figure)
        return out

    def plot(self) -> Figure:
        """The power curve (see :func:`emergestats.plots.planning.plot_power_curve`)."""
        from emergestats.plots.planning import plot_power_curve

        return plot_power_curve(self)


def power_table(replicates: pd.DataFrame) -> pd.DataFrame:
    """Power (and false alarm, where smooth truths ran) per ``n_items`` from calibration rows.

    A replicate counts as a detection when :func:`detected`; withheld verdicts
    (``inconclusive``) count as none. Intervals are 90% Jeffreys intervals.
    """
    rows = []
    counts = replicates["n_items"].to_numpy(float)
    for n_items in np.unique(counts):
        part = replicates[counts == n_items]
        row: dict[str, Any] = {"n_items": int(n_items)}
        for truth, name in (("broken", "power"), ("smooth", "false_alarm")):
            these = part[part["truth"] == truth]
            if these.empty:
                continue
            hits = int(detected(these).sum())
            low, high = proportion_interval(hits, len(these))
            row[f"n_{truth}"] = len(these)
            row["detected" if truth == "broken" else "alarms"] = hits
            row[name] = hits / len(these)
            row[f"{name}_q05"] = low
            row[f"{name}_q95"] = high
            row[f"inconclusive_{truth}"] = float((these["verdict"] == "inconclusive").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def plan(
    task: TaskDesign | str | Path,
    sizes: Sequence[float],
    *,
    subtask: str | None = None,
    break_factor: float = 0.5,
    n_items: Sequence[int] = (100, 400, 1600),
    n_rep: int = 10,
    target_power: float = 0.8,
    false_alarm: bool = False,
    mode: str = "cross_metric",
    client: Client | None = None,
    n_workers: int | None = None,
    batch_size: int | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 4,
    n_replicates: int = 400,
    random_seed: int = 0,
    progress: Progress = True,
    **options: Any,
) -> PlanResult:
    """Power of the jump test per candidate number of items, for one task and planned sizes.

    Parameters
    ----------
    task, subtask
        The task (see :func:`task_design`).
    sizes
        Planned model sizes (parameters; at least 3, distinct).
    break_factor
        The break worth detecting: per-token CE multiplied by this (< 1: a sudden improvement)
        within half a decade at the sizes' geometric middle.
    n_items
        Candidate numbers of items (the default is a small grid that runs in a few minutes on
        2 cores; :data:`FULL_ITEMS` is the full one).
    n_rep
        Broken truths (and smooth ones, with ``false_alarm``) per candidate.
    target_power
        The power asked for (default 0.8).
    false_alarm
        Also simulate ``n_rep`` smooth truths per candidate and measure the false-alarm rate
        (doubles the cost).
    mode
        The jump test's mode (default ``cross_metric``).
    client, n_workers
        A ``distributed.Client`` (any cluster), or a ``LocalCluster`` of ``n_workers``.
    batch_size
        Replicates fitted together (default ``n_rep``: one fit per candidate and truth).
    draws, tune, chains, n_replicates
        Sampler settings and posterior-predictive replicates of every test.
    random_seed
        Seed of the whole plan.
    progress
        See :func:`emergestats.cluster.run_on_cluster`.
    **options
        Passed to :func:`emergestats.mirage.calibrate` (``compare_broken``, ``rule``,
        ``break_width``, fit options).

    Returns
    -------
    PlanResult

    Examples
    --------
    >>> result = plan("arithmetic", [1e8, 3e8, 1e9, 3e9, 1e10, 3e10, 1e11, 3e11],
    ...               subtask="3_digit_addition")  # doctest: +SKIP
    >>> print(result.answer())  # doctest: +SKIP
    """
    design = task_design(task, subtask=subtask)
    planned = sorted(float(s) for s in sizes)
    if not 0 < target_power < 1:
        raise ConfigError(f"target_power must be in (0, 1), not {target_power}")
    if not break_factor > 0 or break_factor == 1:
        raise ConfigError(
            f"break_factor must be a positive multiplier of CE other than 1, not {break_factor}"
        )
    candidates = sorted({int(n) for n in n_items})
    if not candidates or candidates[0] < 1:
        raise ConfigError(f"n_items must list positive item counts, not {list(n_items)}")
    grid = pd.DataFrame(
        {
            "kind": design.kind,
            "n_choices": float(design.n_choices) if design.n_choices else math.nan,
            "mean_length": design.mean_length,
            "n_items": candidates,
            "n_sizes": len(planned),
            "break_factor": break_factor,
        }
    )
    rule = options.pop("rule", None) or VerdictRule(adjust="none")
    result = calibrate(
        grid,
        n_rep,
        client=client,
        mode=mode,
        batch_size=batch_size or n_rep,
        n_workers=n_workers,
        n_replicates=n_replicates,
        draws=draws,
        tune=tune,
        chains=chains,
        rule=rule,
        params=planned,
        length_pool=list(design.lengths) if design.lengths else None,
        truths=("smooth", "broken") if false_alarm else ("broken",),
        random_seed=random_seed,
        progress=progress,
        **options,
    )
    power = power_table(result.replicates)
    return PlanResult(
        task=design,
        sizes=tuple(planned),
        break_factor=break_factor,
        target_power=target_power,
        power=power,
        calibration=result,
        max_false_alarm=rule.max_false_alarm,
        settings={**result.settings, "n_items": candidates, "mode": mode},
    )
