"""Reader for ExpEmergence's per-difficulty-group scores (Wu & Lo, ICLR 2025).

Source: ``tony10101105/ExpEmergence``, files ``data/<task>/<prefix><task>_instance_brier_<low>_
<high>_<groups>_<probs>.csv``, written by ``evaluation/<task>/<task>_question_grouping.py`` (and
``..._grouping_acc.py`` for the ``acc_`` files) from lm-evaluation-harness per-item logs.

Each file is a copy of ObsScaling's ``base_llm_benchmark_eval.csv`` (one row per model, the
ObsScaling model columns ``Model``, ``Model Family``, ``Model Size (B)``, ...) with score
columns appended for the models ExpEmergence evaluated; the other rows' score cells are empty.

What the file name says
-----------------------
``<low>``, ``<high>``
    The training-compute window, in ObsScaling's ``FLOPs (1E21)`` units, of the reference
    models whose mean per-question score ranks the questions by difficulty (``-1000`` = no
    lower bound; ``63.09573444801933`` = 10**1.8, and so on). Only the grouping depends on it;
    the other values are robustness variants of the same slicing.
``<groups>``
    Number of equal-size difficulty groups (3 or 10). Score columns ``<a>_<b>_brier`` (or
    ``_acc``) are the mean over the questions ranked ``a .. b-1``; ``<a>_<b>_san`` is a sanity
    check (mean summed raw probability over the choices), not a score.
``<probs>``
    ``redist``: choice probabilities renormalised to sum to 1 before scoring; ``undist``: raw.
``acc_`` prefix
    Questions ranked by mean accuracy (ascending: the first group is the hardest) and the
    group columns are accuracies; without it, ranked by mean Brier score (ascending: the
    first group is the easiest) and the group columns are Brier scores. The two rankings give
    different partitions of the same questions.

Scores: ``acc`` is 1 when the correct choice has the highest log-likelihood (multiple-choice
grade); ``brier`` is the target-class Brier score ``(1 - p_correct) ** 2`` (the paper's "TC
Brier score"), averaged over questions, lower is better. It is the correct choice's term alone,
not BIG-bench's ``calibration_multiple_choice_brier_score`` (the squared error summed over all
choices and divided by their number), so it is read under its own metric name, ``tc_brier``,
whose :func:`emergestats.data.table.brier_form` is ``"correct_choice"``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from emergestats.data.choices import CHOICE_TASKS
from emergestats.data.obsscaling import (
    FAMILY_COLUMN,
    MODEL_COLUMN,
    SIZE_COLUMN,
    numeric_column,
    obsscaling_model_columns,
    read_csv_cells,
    require_columns,
)
from emergestats.data.table import validate
from emergestats.errors import DataFormatError, EmptyInputError

__all__ = ["EXPEMERGENCE_SHOTS", "read_expemergence"]

_FILE_NAME: Final = re.compile(
    r"^(?P<acc>acc_)?(?P<task>.+?)_instance_brier_(?P<low>-?\d+(?:\.\d+)?)_"
    r"(?P<high>-?\d+(?:\.\d+)?)_(?P<groups>\d+)_(?P<probs>redist|undist)\.csv$"
)
_GROUP_COLUMN: Final = re.compile(r"^(?P<start>\d+)_(?P<end>\d+)_(?P<kind>brier|acc|san)$")

#: Shots per source task, from ``evaluation/<task>/<task>.sh`` (``--num_fewshot``).
EXPEMERGENCE_SHOTS: Final[dict[str, int]] = {
    "arithmetic": 2,
    "abstract_narrative_understanding": 2,
    "analogical_similarity": 2,
    "conceptual_combinations": 2,
    "hindu_knowledge": 2,
    "parsinlu_qa_mc": 2,
    "arc": 1,
    "hellaswag": 1,
    "mmlu": 5,
}

#: Source task -> canonical task: BIG-bench's name for lm-evaluation-harness's multiple-choice
#: variant of a BIG-bench task; other names are kept (``arc`` is ARC-Easy + ARC-Challenge).
_CANONICAL_TASK: Final[dict[str, str]] = {"parsinlu_qa_mc": "parsinlu_qa"}

#: Number of questions with k choices, per source task, where known: the BIG-bench task
#: definitions (arithmetic = all 20 subtasks), 4 choices throughout MMLU and HellaSwag.
#: ARC (3 to 5 choices) and abstract_narrative_understanding are not in the local mirror.
_CHOICE_COUNTS: Final[dict[str, dict[int, int]]] = {
    "arithmetic": {7: 13877, 6: 1004, 5: 142},
    "parsinlu_qa_mc": {4: 1044, 3: 6},
    "hindu_knowledge": {4: 169, 5: 5, 6: 1},
    "conceptual_combinations": {4: 103},
    "analogical_similarity": {7: 323},
    "mmlu": {4: 14042},
    "hellaswag": {4: 10042},
}

#: Tasks whose per-question choice counts are not known here but whose typical number of
#: choices is (:mod:`emergestats.data.choices`): ARC (ARC-Easy + ARC-Challenge test sets, 3548
#: questions) has 4 choices except a few questions with 3 or 5, so its chance is approximate.
_TYPICAL_CHOICES: Final[dict[str, int]] = {"arc": CHOICE_TASKS["arc_challenge"].n_choices}


@dataclass(frozen=True)
class _SourceFile:
    path: Path
    task: str
    by_accuracy: bool
    high: float
    groups: int
    renormalised: bool


@dataclass
class _Exclusions:
    """Rows the reader leaves out, gathered over all files and reported once."""

    repeated: dict[str, list[str]] = field(default_factory=dict)  # model -> files
    unsized: set[str] = field(default_factory=set)


def read_expemergence(
    path: str | Path,
    *,
    groups: int = 10,
    shots: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Read ExpEmergence's overall and per-difficulty-group scores into the evaluation table.

    Parameters
    ----------
    path
        The ExpEmergence checkout, its ``data`` folder, one ``data/<task>`` folder, or one CSV.
    groups
        Which grouping to read when ``path`` is a folder: 10 (default) or 3 groups.
    shots
        Shots per source task name (e.g. ``{"parsinlu_qa_mc": 2}``), added to or overriding
        :data:`EXPEMERGENCE_SHOTS`; needed only for a task that table does not know.

    Returns
    -------
    pandas.DataFrame
        The validated table, with the optional columns ``tokens``
        (``Pretraining Data Size (T)`` x 1e12) and ``flops`` (``FLOPs (1E21)`` x 1e21).

    Raises
    ------
    DataFormatError
        If the folder or a file is empty or missing, a file name or column does not follow the
        ExpEmergence layout, a cell is not numeric, a model repeats with different scores, or
        a task's shots are unknown.

    Warns
    -----
    UserWarning
        Once per call, naming the models whose rows are left out: repeated rows of a model
        (with identical scores; the first row is kept) and scored models without
        ``Model Size (B)`` or ``Model Family``. On the real data with ``groups=10`` the
        warning names ``openai-community/gpt2`` and ``openai-community/gpt2-large``: the
        arithmetic files list each twice, the second time with the sizes of gpt2-medium
        (0.355B) and gpt2-xl (1.5B); the first rows' 0.124B and 0.774B are the right ones.

    Notes
    -----
    **Which files.** From a folder: the ``_redist`` files with ``groups`` groups, one per
    task and ranking (Brier-ranked, and ``acc_`` accuracy-ranked where present); where several
    compute windows exist, the one with the largest ``<high>`` (the other windows re-slice the
    same questions using fewer reference models and are left out, as are the ``_undist``
    files, so no question is counted twice). With ``groups=10`` that is 12 of the 30 real
    files: one Brier-ranked file for each of the 9 tasks and the ``acc_`` files of
    arithmetic, mmlu and parsinlu_qa_mc. A single CSV is read whatever its name says.

    **Rows.** Per scored model and task: ``subtask`` = ``task`` with metric ``acc`` (kind
    ``multiple_choice_grade``) and ``tc_brier`` (kind ``brier``; ``tc_brier_unnormalized``
    from an ``_undist`` file), from the Brier-ranked file (the ``acc_`` file repeats its
    overall Brier score); and one row per difficulty group, with ``subtask``
    ``<task>/brier_group_<r>of<G>`` (metric ``tc_brier``) or ``<task>/acc_group_<r>of<G>``
    (metric ``acc``). ``r`` counts from the easiest group (r = 1) to the hardest in both
    rankings, so the ``acc_`` files' column order is reversed. ``n_items`` = ``b - a`` for a
    group, the number of questions for ``subtask = task``.

    **Names.** ``task``: the source folder's name, with ``parsinlu_qa_mc`` -> ``parsinlu_qa``
    (BIG-bench's name). ``family`` = ``Model Family``, ``model`` = ``Model``, ``params`` =
    ``Model Size (B)`` x 1e9, taken from the model columns each file carries (identical to
    ``evaluation/base_llm_benchmark_eval.csv``). ``shots`` from :data:`EXPEMERGENCE_SHOTS`.

    **Chance.** For ``acc``: the mean over questions of 1 / number of choices; for
    ``tc_brier``: the mean of ``(1 - 1/k) ** 2``, the score of a uniform guess (the
    correct-choice form of :func:`emergestats.data.table.brier_form`). From the choice counts
    in ``_CHOICE_COUNTS`` when they add up to the file's question count; exact for every row
    of a task whose questions all have one k (mmlu, hellaswag, conceptual_combinations,
    analogical_similarity). The files do not say which questions fall in which difficulty
    group, so where k varies (arithmetic: 5 to 7 choices; parsinlu_qa: 3 or 4;
    hindu_knowledge: 4 to 6) a group's chance is the whole task's mix, an approximation: a
    group's true ``acc`` chance lies between the smallest and largest 1/k (arithmetic 0.143 to
    0.2 against 0.145 for the task, parsinlu_qa 0.25 to 0.253, hindu_knowledge 0.23 to 0.26
    for groups of 17 or 18 questions). ARC uses 4 choices for every question (a few have 3 or
    5: approximate, see :mod:`emergestats.data.choices`). NaN for
    abstract_narrative_understanding (its choice counts are not in the local files) and for
    ``tc_brier_unnormalized`` (raw probabilities that need not sum to 1 have no uniform
    guess).

    **Counted exclusions.** Rows without any score (models ExpEmergence did not evaluate, and
    the 5 blank spacer rows) are not observations; on the real files 65 to 70 of the 114 rows
    are scored. Empty score cells in a scored row give no row (none in the real files).
    With ``groups=10`` the real data give 9080 rows: 12 per scored model in the 9
    Brier-ranked files (590 model-task pairs) and 10 per scored model in the 3 ``acc_``
    files (200).
    """
    given = Path(path)
    files = _select_files(given, groups=groups)
    shot_table = {**EXPEMERGENCE_SHOTS, **(shots or {})}
    exclusions = _Exclusions()
    tables: list[pd.DataFrame] = []
    tasks_with_overall: set[str] = set()
    # Brier-ranked files first, so the overall scores come from them
    for source in sorted(files, key=lambda f: (f.task, f.by_accuracy)):
        if source.task not in shot_table:
            raise DataFormatError(
                f"task {source.task!r} has no known number of shots; pass "
                f"shots={{{source.task!r}: <n>}}",
                path=source.path,
            )
        table = _read_file(
            source,
            root=given if given.is_dir() else given.parent,
            shots=shot_table[source.task],
            with_overall=source.task not in tasks_with_overall,
            exclusions=exclusions,
        )
        tasks_with_overall.add(source.task)
        tables.append(table)
    _warn_exclusions(exclusions)
    non_empty = [t for t in tables if not t.empty]
    if not non_empty:
        raise EmptyInputError("the ExpEmergence files hold no scored model", path=given)
    return validate(pd.concat(non_empty, ignore_index=True), path=given)


def _select_files(path: Path, *, groups: int) -> list[_SourceFile]:
    if not path.exists():
        raise DataFormatError(
            "no such file or folder; give the ExpEmergence checkout, its data folder or a CSV",
            path=path,
        )
    if path.is_file():
        return [_parse_file_name(path)]
    data = path / "data" if (path / "data").is_dir() else path
    candidates = sorted([*data.glob("*.csv"), *data.glob("*/*.csv")])
    if not candidates:
        raise EmptyInputError(
            "holds no ExpEmergence CSV files (data/<task>/<task>_instance_brier_*.csv)", path=path
        )
    parsed = [_parse_file_name(p) for p in candidates]
    chosen: dict[tuple[str, bool], _SourceFile] = {}
    for source in parsed:
        if source.groups != groups or not source.renormalised:
            continue
        key = (source.task, source.by_accuracy)
        if key not in chosen or source.high > chosen[key].high:
            chosen[key] = source
    if not chosen:
        raise DataFormatError(
            f"has no _redist file with {groups} groups (found: "
            f"{', '.join(sorted({str(s.groups) for s in parsed}))} groups); pass groups=",
            path=path,
        )
    return list(chosen.values())


def _parse_file_name(path: Path) -> _SourceFile:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise DataFormatError(
            "is not named [acc_]<task>_instance_brier_<low>_<high>_<groups>_<redist|undist>.csv; "
            "give ExpEmergence data files only",
            path=path,
        )
    return _SourceFile(
        path=path,
        task=match["task"],
        by_accuracy=match["acc"] is not None,
        high=float(match["high"]),
        groups=int(match["groups"]),
        renormalised=match["probs"] == "redist",
    )


def _group_columns(frame: pd.DataFrame, source: _SourceFile) -> list[tuple[str, int, int]]:
    """The file's group score columns as (column, start, end), checked to tile the questions."""
    wanted = "acc" if source.by_accuracy else "brier"
    found = []
    for column in frame.columns:
        match = _GROUP_COLUMN.match(column)
        if match and match["kind"] == wanted:
            found.append((column, int(match["start"]), int(match["end"])))
    found.sort(key=lambda item: item[1])
    expected = "<a>_<b>_" + wanted
    if len(found) != source.groups:
        raise DataFormatError(
            f"has {len(found)} group columns {expected}, but its name says {source.groups} "
            "groups; the file does not follow the ExpEmergence layout",
            path=source.path,
            column=found[0][0] if found else expected,
        )
    position = 0
    for column, start, end in found:
        if start != position or end <= start:
            raise DataFormatError(
                f"group column {column!r} does not continue the previous group (expected it to "
                f"start at question {position}); the groups must tile the questions",
                path=source.path,
                column=column,
            )
        position = end
    return found


def _read_file(
    source: _SourceFile,
    *,
    root: Path,
    shots: int,
    with_overall: bool,
    exclusions: _Exclusions,
) -> pd.DataFrame:
    frame = read_csv_cells(source.path)
    if source.by_accuracy:
        # acc_ files carry the overall Brier score (and no overall accuracy); optional here
        overall_metrics = [c for c in ("acc", "brier") if c in frame.columns]
    else:
        overall_metrics = ["acc", "brier"]
    require_columns(
        frame, [MODEL_COLUMN, FAMILY_COLUMN, SIZE_COLUMN, *overall_metrics], source.path
    )
    group_columns = _group_columns(frame, source)
    question_count = group_columns[-1][2]
    score_columns = [c for c, _, _ in group_columns] + (overall_metrics if with_overall else [])
    scores = pd.DataFrame({c: numeric_column(frame, c, source.path) for c in score_columns})
    models = obsscaling_model_columns(frame, source.path)

    scored = scores.notna().any(axis=1)
    blank_name = models["model"] == ""
    if (scored & blank_name).any():
        rows = [int(i) for i in np.flatnonzero((scored & blank_name).to_numpy())]
        raise DataFormatError(
            f"rows {rows[:8]} have scores but no {MODEL_COLUMN!r}; every scored row needs a model",
            path=source.path,
            column=MODEL_COLUMN,
            rows=rows,
        )
    keep = _first_row_per_model(models, scores, scored, source.path, exclusions)
    unsized = keep & (models["params"].isna() | models["family"].isna())
    exclusions.unsized.update(models.loc[unsized, "model"])
    keep &= ~unsized

    task = _CANONICAL_TASK.get(source.task, source.task)
    brier_metric = "tc_brier" if source.renormalised else "tc_brier_unnormalized"
    criterion = "acc" if source.by_accuracy else "brier"
    width = len(str(source.groups))
    # score column -> (subtask, metric, n_items, chance)
    columns_meta: dict[str, tuple[str, str, int, float]] = {}
    for index, (column, start, end) in enumerate(group_columns):
        # rank 1 = easiest: Brier ranking is easiest-first, accuracy ranking hardest-first
        rank = source.groups - index if source.by_accuracy else index + 1
        metric = "acc" if source.by_accuracy else brier_metric
        subtask = f"{task}/{criterion}_group_{rank:0{width}d}of{source.groups}"
        chance = _chance(source, metric, question_count)
        columns_meta[column] = (subtask, metric, end - start, chance)
    if with_overall:
        for column in overall_metrics:
            metric = "acc" if column == "acc" else brier_metric
            chance = _chance(source, metric, question_count)
            columns_meta[column] = (task, metric, question_count, chance)

    try:
        relative = source.path.relative_to(root)
    except ValueError:
        relative = Path(source.path.name)
    label = f"read_expemergence:{relative.as_posix()}"
    names = models["model"].to_numpy(dtype=object)
    families = models["family"].to_numpy(dtype=object)
    params, tokens, flops = (models[c].to_numpy(dtype=float) for c in ("params", "tokens", "flops"))
    values = {column: scores[column].to_numpy(dtype=float) for column in columns_meta}
    records: list[dict[str, object]] = []
    for row in np.flatnonzero(keep.to_numpy()):
        for column, (subtask, metric, n_items, chance) in columns_meta.items():
            value = float(values[column][row])
            if math.isnan(value):
                continue  # an empty cell is not an observation
            records.append(
                {
                    "task": task,
                    "subtask": subtask,
                    "family": families[row],
                    "model": names[row],
                    "params": params[row],
                    "shots": shots,
                    "metric": metric,
                    "metric_kind": "multiple_choice_grade" if metric == "acc" else "brier",
                    "score": value,
                    "n_items": n_items,
                    "chance": chance,
                    "source": label,
                    "tokens": tokens[row],
                    "flops": flops[row],
                }
            )
    return pd.DataFrame.from_records(records)


def _first_row_per_model(
    models: pd.DataFrame,
    scores: pd.DataFrame,
    scored: pd.Series,
    path: Path,
    exclusions: _Exclusions,
) -> pd.Series:
    """Scored rows, keeping the first of a model listed twice with identical scores."""
    keep = scored.copy()
    names = models["model"].where(scored)
    for name in names[names.duplicated(keep=False) & names.notna()].unique():
        rows = np.flatnonzero((names == name).to_numpy())
        first = scores.iloc[rows[0]]
        if not all(scores.iloc[r].equals(first) for r in rows[1:]):
            raise DataFormatError(
                f"model {name!r} has different scores on rows {list(map(int, rows))}; each "
                "model must have one row of scores",
                path=path,
                column=MODEL_COLUMN,
                rows=[int(r) for r in rows],
            )
        sizes = models["params"].to_numpy(dtype=float)[rows] / 1e9
        described = f"{name} ({sizes[0]:g}B kept; " + ", ".join(f"{v:g}B" for v in sizes[1:])
        exclusions.repeated.setdefault(described + " dropped)", []).append(path.name)
        keep.iloc[rows[1:]] = False
    return keep


def _chance(source: _SourceFile, metric: str, question_count: int) -> float:
    """A uniform guess's score: exact where every question has one k, else the task's mix."""
    if metric == "tc_brier_unnormalized":
        return math.nan
    counts = _CHOICE_COUNTS.get(source.task)
    if counts is None and source.task in _TYPICAL_CHOICES:
        counts = {_TYPICAL_CHOICES[source.task]: question_count}
    if counts is None or sum(counts.values()) != question_count:
        return math.nan  # unknown, or a different item set than the one the counts describe
    total = sum(counts.values())
    if metric == "acc":
        return sum(n / k for k, n in counts.items()) / total
    return sum(n * (1 - 1 / k) ** 2 for k, n in counts.items()) / total


def _warn_exclusions(exclusions: _Exclusions) -> None:
    parts = []
    if exclusions.repeated:
        listed = "; ".join(
            f"{model} in {', '.join(files)}" for model, files in exclusions.repeated.items()
        )
        parts.append(
            f"{len(exclusions.repeated)} model(s) are listed on several rows with identical "
            f"scores; only the first row of each is kept: {listed}"
        )
    if exclusions.unsized:
        names = sorted(exclusions.unsized)
        parts.append(
            f"{len(names)} scored model(s) without {SIZE_COLUMN!r} or {FAMILY_COLUMN!r} are left "
            f"out: {', '.join(names)}"
        )
    if parts:
        warnings.warn("ExpEmergence: " + " | ".join(parts), UserWarning, stacklevel=3)
