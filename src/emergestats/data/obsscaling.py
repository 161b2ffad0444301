"""Reader for the Observational Scaling Laws results (Ruan, Maddison & Hashimoto 2024).

Source: ``ryoungj/ObsScaling``, folder ``eval_results/``. Two files are used:

``base_llm_emergent_capability_eval.csv``
    One row per open base model (column ``Model``, a Hugging Face id), one column per
    ``<task>_<shots>_<metric>`` score of the tasks Wei et al. (2022) called emergent, e.g.
    ``arithmetic_2dm_2_acc`` or ``ipa_transliterate_2_bleu``. An empty cell means the model was
    not scored on that column.
``base_llm_benchmark_eval.csv``
    One row per model with ``Model Family``, ``Model Size (B)``, ``Pretraining Data Size (T)`` and
    ``FLOPs (1E21)`` (and standard benchmark scores, not read here); joined on ``Model``.

The helpers :func:`read_csv_cells`, :func:`numeric_column` and :func:`obsscaling_model_columns`
are shared with :mod:`emergestats.data.expemergence`, whose files carry the same model columns.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from emergestats.data.table import validate
from emergestats.errors import DataFormatError, EmptyInputError, format_rows

__all__ = ["OBSSCALING_COLUMN_MAP", "ObsScalingTask", "read_obsscaling"]

EMERGENT_FILE: Final = "base_llm_emergent_capability_eval.csv"
BENCHMARK_FILE: Final = "base_llm_benchmark_eval.csv"

#: The ObsScaling model columns (shared by the ExpEmergence files) and what they hold.
MODEL_COLUMN: Final = "Model"
FAMILY_COLUMN: Final = "Model Family"
SIZE_COLUMN: Final = "Model Size (B)"
TOKENS_COLUMN: Final = "Pretraining Data Size (T)"
FLOPS_COLUMN: Final = "FLOPs (1E21)"


@dataclass(frozen=True)
class ObsScalingTask:
    """What one ``<prefix>`` of an emergent-capability column name stands for.

    Attributes
    ----------
    task, subtask
        Canonical names (BIG-bench names where the task is a BIG-bench task).
    n_items
        Number of items each score averages over (see :func:`read_obsscaling` for why).
    choice_chance
        Multiple-choice grade of a uniform guess (mean of 1 / number of choices), if the task
        is multiple choice.
    """

    task: str
    subtask: str
    n_items: int
    choice_chance: float | None = None


_GPT3_ARITHMETIC: Final[dict[str, str]] = {
    "1dc": "1_digit_composite",
    "2da": "2_digit_addition",
    "2ds": "2_digit_subtraction",
    "2dm": "2_digit_multiplication",
    "3da": "3_digit_addition",
    "3ds": "3_digit_subtraction",
    "4da": "4_digit_addition",
    "4ds": "4_digit_subtraction",
    "5da": "5_digit_addition",
    "5ds": "5_digit_subtraction",
}

#: Column-name prefix -> canonical task. The explicit mapping documented in
#: :func:`read_obsscaling`; a column whose prefix is not here is an error, not a guess.
OBSSCALING_COLUMN_MAP: Final[dict[str, ObsScalingTask]] = {
    # BIG-bench parsinlu_qa: 1050 items, 1044 with 4 choices and 6 with 3 (task.json), so a
    # uniform guess scores (1044/4 + 6/3) / 1050 = 263/1050.
    "parsinlu_qa": ObsScalingTask("parsinlu_qa", "parsinlu_qa", 1050, 263 / 1050),
    # BIG-bench word_unscrambling has 8917 items; every ObsScaling score is a multiple of
    # 1/2000 (29 of 84 need that denominator), i.e. a 2000-item subset was scored.
    "word_unscrambling": ObsScalingTask("word_unscrambling", "word_unscrambling", 2000),
    # BIG-bench international_phonetic_alphabet_transliterate: 1003 items.
    "ipa_transliterate": ObsScalingTask(
        "international_phonetic_alphabet_transliterate",
        "international_phonetic_alphabet_transliterate",
        1003,
    ),
    # lm-evaluation-harness ``arithmetic_<x>``: the GPT-3 arithmetic sets (Brown et al. 2020),
    # 2000 items each; not BIG-bench's arithmetic items, so the task is named apart
    # (``gpt3_arithmetic``) and never joins BIG-bench's arithmetic answer lengths by accident.
    **{
        f"arithmetic_{code}": ObsScalingTask("gpt3_arithmetic", name, 2000)
        for code, name in _GPT3_ARITHMETIC.items()
    },
}

_COLUMN_PATTERN: Final = re.compile(
    r"^(?P<prefix>.+)_(?P<shots>\d+)_(?P<metric>acc|exact_match|bleu)$"
)


def read_obsscaling(
    path: str | Path,
    *,
    benchmark_path: str | Path | None = None,
) -> pd.DataFrame:
    """Read ObsScaling's emergent-capability scores into the canonical evaluation table.

    Parameters
    ----------
    path
        The ObsScaling ``eval_results`` folder, or the emergent-capability CSV itself.
    benchmark_path
        The model metadata CSV; by default ``base_llm_benchmark_eval.csv`` next to the
        emergent-capability file.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty score cell, validated, with the optional columns ``tokens``
        (``Pretraining Data Size (T)`` x 1e12) and ``flops`` (``FLOPs (1E21)`` x 1e21), NaN
        where the metadata leaves them empty.

    Raises
    ------
    DataFormatError
        If a file is missing, empty or unreadable, a column is missing or not numeric, a
        column name is not in :data:`OBSSCALING_COLUMN_MAP`, a model repeats, or a metadata
        value contradicts itself.

    Warns
    -----
    UserWarning
        Naming the models (and how many) whose rows are left out because the metadata file
        lacks them or gives them no ``Model Size (B)`` or ``Model Family``.

    Notes
    -----
    **Column names.** ``<prefix>_<shots>_<metric>``: ``_2_`` is the number of in-context
    examples (2 for every real column). The prefix is mapped by :data:`OBSSCALING_COLUMN_MAP`:
    ``parsinlu_qa`` -> ``parsinlu_qa``; ``word_unscrambling`` -> ``word_unscrambling``;
    ``ipa_transliterate`` -> ``international_phonetic_alphabet_transliterate`` (the BIG-bench
    names, subtask = task); ``arithmetic_2da`` / ``_3da`` / ``_3ds`` / ``_2dm`` (and the rest
    of the GPT-3 set) -> task ``gpt3_arithmetic``, subtask ``2_digit_addition`` /
    ``3_digit_addition`` / ``3_digit_subtraction`` / ``2_digit_multiplication`` ...

    **Metrics.**

    ===================== ============================ ======================== ==========
    column metric         canonical ``metric``         ``metric_kind``          ``chance``
    ===================== ============================ ======================== ==========
    ``acc`` parsinlu_qa   ``multiple_choice_grade``    multiple_choice_grade    263/1050
    ``acc`` arithmetic    ``acc``                      exact_match              0
    ``exact_match``       ``exact_str_match``          exact_match              0
    ``bleu``              ``bleu`` (score / 100)       bleu                     NaN
    ===================== ============================ ======================== ==========

    The arithmetic columns are lm-evaluation-harness's ``arithmetic_<x>`` tasks, whose
    ``acc`` is 1 when the answer is the model's greedy continuation: an exact match of the
    whole answer, not a choice among options. parsinlu_qa's ``acc`` picks the most likely of
    the choices, which BIG-bench calls multiple-choice grade. A guess essentially never
    produces an exact target string, so exact-match chance is 0; BLEU has no guessing level.

    **Item counts.** ``n_items`` is the item count in :data:`OBSSCALING_COLUMN_MAP`: 1050
    (parsinlu_qa) and 1003 (IPA transliterate) from the BIG-bench task definitions, 2000 for
    each GPT-3 arithmetic set, and 2000 for word_unscrambling (a subset: see the map). Every
    score that counts items is checked to be a whole number of items out of that count; where
    it is not, ``n_items`` is ``<NA>`` for that model's rows of the task. On the real file
    that is 3 rows: the IPA exact-match scores of ``Qwen/Qwen1.5-72B`` (0.008) and
    ``Qwen/Qwen-72B`` (0.014) are k/1000, not k/1003, so those two rows and Qwen-72B's IPA
    BLEU row (Qwen1.5-72B has no BLEU score) get ``<NA>``.

    **Sizes.** ``family`` = ``Model Family``; ``model`` = ``Model``; ``params`` =
    ``Model Size (B)`` x 1e9 (ObsScaling's total parameter count, in billions).

    **Counted exclusions.** An empty score cell is not an observation and gives no row: on
    the real file 59 of 84 x 8 = 672 cells are empty (parsinlu_qa 8, IPA exact match 12,
    IPA BLEU 19, ``arithmetic_3da`` 10, ``arithmetic_2da`` 10), leaving 613 rows. Every real
    model is in the metadata file with a size, so nothing else is left out.
    """
    emergent_path, metadata_path = _locate(Path(path), benchmark_path)
    scores = read_csv_cells(emergent_path)
    require_columns(scores, [MODEL_COLUMN], emergent_path)
    _check_unique_models(scores, emergent_path)
    score_columns = [c for c in scores.columns if c != MODEL_COLUMN]
    parsed = {column: _parse_column(column, emergent_path) for column in score_columns}

    metadata = read_csv_cells(metadata_path)
    models = obsscaling_model_columns(metadata, metadata_path)
    models = _unique_model_metadata(models, metadata_path)

    source = f"read_obsscaling:{emergent_path.name}"
    records: list[dict[str, object]] = []
    for column in score_columns:
        task_info, shots, metric, kind, scale = parsed[column]
        values = numeric_column(scores, column, emergent_path) / scale
        for model, value in zip(scores[MODEL_COLUMN], values, strict=True):
            if math.isnan(value):
                continue  # empty cell: this model was not scored on this column
            records.append(
                {
                    "task": task_info.task,
                    "subtask": task_info.subtask,
                    "model": model,
                    "shots": shots,
                    "metric": metric,
                    "metric_kind": kind,
                    "score": float(value),
                    "n_items": task_info.n_items,
                    "chance": _chance(task_info, kind),
                    "source": source,
                }
            )
    if not records:
        raise EmptyInputError(
            "holds no scores (every score cell is empty); give a file with at least one score",
            path=emergent_path,
        )
    table = pd.DataFrame.from_records(records)
    table = _join_models(table, models, metadata_path)
    table = _item_counts_consistent_with_scores(table)
    return validate(table, path=emergent_path)


def _locate(path: Path, benchmark_path: str | Path | None) -> tuple[Path, Path]:
    if not path.exists():
        raise DataFormatError(
            "no such file or folder; give the ObsScaling eval_results folder or its "
            f"{EMERGENT_FILE}",
            path=path,
        )
    if path.is_dir():
        if not any(path.iterdir()):
            raise EmptyInputError(
                f"the folder is empty; it should hold {EMERGENT_FILE} and {BENCHMARK_FILE}",
                path=path,
            )
        emergent = path / EMERGENT_FILE
        if not emergent.is_file():
            raise DataFormatError(
                f"the folder has no {EMERGENT_FILE}; give the ObsScaling eval_results folder",
                path=path,
            )
    else:
        emergent = path
    metadata = (
        Path(benchmark_path) if benchmark_path is not None else emergent.parent / BENCHMARK_FILE
    )
    if not metadata.is_file():
        raise DataFormatError(
            f"no model metadata file here; put {BENCHMARK_FILE} next to {emergent.name} or pass "
            "benchmark_path=",
            path=metadata,
        )
    return emergent, metadata


def _parse_column(column: str, path: Path) -> tuple[ObsScalingTask, int, str, str, float]:
    """Map a score column name to (task, shots, metric, metric_kind, divisor of the score)."""
    match = _COLUMN_PATTERN.match(column)
    task_info = OBSSCALING_COLUMN_MAP.get(match["prefix"]) if match else None
    if match is None or task_info is None:
        known = ", ".join(sorted(OBSSCALING_COLUMN_MAP))
        raise DataFormatError(
            f"column {column!r} is not a known <task>_<shots>_<metric> score column (tasks: "
            f"{known}; metrics: acc, exact_match, bleu); add the task to OBSSCALING_COLUMN_MAP "
            "or remove the column",
            path=path,
            column=column,
        )
    shots = int(match["shots"])
    metric = match["metric"]
    if metric == "bleu":
        return task_info, shots, "bleu", "bleu", 100.0  # ObsScaling BLEU is 0..100
    if metric == "exact_match":
        return task_info, shots, "exact_str_match", "exact_match", 1.0
    if task_info.choice_chance is not None:
        return task_info, shots, "multiple_choice_grade", "multiple_choice_grade", 1.0
    return task_info, shots, "acc", "exact_match", 1.0  # greedy-continuation accuracy


def _chance(task_info: ObsScalingTask, kind: str) -> float:
    if kind == "multiple_choice_grade":
        return float(task_info.choice_chance) if task_info.choice_chance is not None else math.nan
    if kind == "exact_match":
        return 0.0
    return math.nan


def _check_unique_models(frame: pd.DataFrame, path: Path) -> None:
    names = frame[MODEL_COLUMN].str.strip()
    bad = (names == "").to_numpy()
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad)]
        raise DataFormatError(
            f"column {MODEL_COLUMN!r} is empty in {format_rows(rows)}; every score row needs a "
            "model name",
            path=path,
            column=MODEL_COLUMN,
            rows=rows,
        )
    repeated = names.duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = [int(i) for i in np.flatnonzero(repeated)]
        raise DataFormatError(
            f"column {MODEL_COLUMN!r} repeats a model in {format_rows(rows)} (e.g. "
            f"{names.iloc[rows[0]]!r}); each model must have one row",
            path=path,
            column=MODEL_COLUMN,
            rows=rows,
        )


def _unique_model_metadata(models: pd.DataFrame, path: Path) -> pd.DataFrame:
    """One metadata row per model; a model listed twice must be listed identically."""
    named = models[models["model"] != ""]
    distinct = named.drop_duplicates()
    conflicting = distinct["model"].duplicated(keep=False)
    if conflicting.any():
        names = sorted(set(distinct.loc[conflicting, "model"]))
        raise DataFormatError(
            f"column {MODEL_COLUMN!r} lists {len(names)} model(s) more than once with different "
            f"metadata ({', '.join(names[:5])}); keep one row per model",
            path=path,
            column=MODEL_COLUMN,
        )
    return distinct.reset_index(drop=True)


def _join_models(table: pd.DataFrame, models: pd.DataFrame, metadata_path: Path) -> pd.DataFrame:
    joined = table.merge(models, on="model", how="left", validate="many_to_one")
    unusable = joined["params"].isna() | joined["family"].isna() | (joined["family"] == "")
    if unusable.any():
        names = sorted(set(joined.loc[unusable, "model"]))
        warnings.warn(
            f"{metadata_path}: {len(names)} model(s) are missing from the metadata file or have "
            f"no {SIZE_COLUMN!r}/{FAMILY_COLUMN!r}, so their {int(unusable.sum())} score rows are "
            f"left out: {', '.join(names)}",
            UserWarning,
            stacklevel=3,
        )
        joined = joined.loc[~unusable]
        if joined.empty:
            raise DataFormatError(
                "no scored model has a size and family in the metadata file; check that "
                f"{MODEL_COLUMN!r} names match between the two files",
                path=metadata_path,
                column=MODEL_COLUMN,
            )
    return joined.reset_index(drop=True)


def _item_counts_consistent_with_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Blank ``n_items`` for a (model, task) whose counted scores are not k / n_items."""
    counted = table["metric_kind"] != "bleu"
    whole = table["score"] * table["n_items"]
    off = counted & ~np.isclose(whole, np.round(whole), rtol=0.0, atol=1e-6 * table["n_items"])
    if not off.any():
        return table
    out = table.copy()
    out["n_items"] = out["n_items"].astype("Int64")
    bad_pairs = set(zip(out.loc[off, "model"], out.loc[off, "subtask"], strict=True))
    blank = [
        (model, subtask) in bad_pairs
        for model, subtask in zip(out["model"], out["subtask"], strict=True)
    ]
    out.loc[blank, "n_items"] = pd.NA
    return out


# --------------------------------------------------------------------------------------------
# Shared CSV helpers (also used by the ExpEmergence reader)
# --------------------------------------------------------------------------------------------


def read_csv_cells(path: Path) -> pd.DataFrame:
    """Read a CSV with every cell as a stripped string ('' where empty).

    Raises
    ------
    EmptyInputError
        If the file is empty or has a header but no data rows.
    DataFormatError
        If the file is missing or cannot be parsed as CSV.
    """
    if not path.is_file():
        raise DataFormatError("no such file; check the path", path=path)
    if path.stat().st_size == 0:
        raise EmptyInputError("the file is empty; expected a CSV with a header row", path=path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise EmptyInputError(
            "the file is empty; expected a CSV with a header row", path=path
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"cannot be parsed as CSV ({exc}); check the file", path=path
        ) from exc
    if frame.empty:
        raise EmptyInputError("the file has a header but no data rows", path=path)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip()).astype(object)


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Raise :class:`DataFormatError` naming the first of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"missing column(s) {', '.join(repr(c) for c in missing)}; the file needs "
            f"{', '.join(repr(c) for c in columns)}",
            path=path,
            column=missing[0],
        )


def numeric_column(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column of string cells as floats: '' -> NaN, anything else non-numeric is an error."""
    cells = frame[column].astype(str)
    values = pd.to_numeric(cells.where(cells != "", None), errors="coerce").astype(float)
    bad = (values.isna() & (cells != "")).to_numpy()
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad)]
        raise DataFormatError(
            f"column {column!r} is not numeric in {format_rows(rows)} (e.g. "
            f"{cells.iloc[rows[0]]!r}); expected a number or an empty cell",
            path=path,
            column=column,
            rows=rows,
        )
    return values


def obsscaling_model_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The ObsScaling model columns as ``model, family, params, tokens, flops``.

    ``params`` = ``Model Size (B)`` x 1e9, ``tokens`` = ``Pretraining Data Size (T)`` x 1e12,
    ``flops`` = ``FLOPs (1E21)`` x 1e21; NaN where a cell is empty (and the token and FLOP
    columns may be absent altogether). ``family`` is ``None`` where empty.
    """
    require_columns(frame, [MODEL_COLUMN, FAMILY_COLUMN, SIZE_COLUMN], path)
    out = pd.DataFrame(
        {
            "model": frame[MODEL_COLUMN].astype(object),
            "family": frame[FAMILY_COLUMN].where(frame[FAMILY_COLUMN] != "", None).astype(object),
            "params": _positive_column(frame, SIZE_COLUMN, path) * 1e9,
        }
    )
    for column, name, unit in ((TOKENS_COLUMN, "tokens", 1e12), (FLOPS_COLUMN, "flops", 1e21)):
        if column in frame.columns:
            out[name] = _positive_column(frame, column, path) * unit
        else:
            out[name] = np.nan
    return out


def _positive_column(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = numeric_column(frame, column, path)
    bad = (values <= 0).to_numpy()
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad)]
        raise DataFormatError(
            f"column {column!r} is not positive in {format_rows(rows)}; expected a positive "
            "number or an empty cell",
            path=path,
            column=column,
            rows=rows,
        )
    return values
