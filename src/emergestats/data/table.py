"""The canonical tables every reader returns and every model consumes.

Evaluation table
----------------
One row per (task, subtask, family, model, shots, metric). Columns, in order:

============== ========= =================================================================
column         dtype     meaning and unit
============== ========= =================================================================
task           str       benchmark task, e.g. ``arithmetic``
subtask        str       subtask, e.g. ``2_digit_multiplication``; equal to ``task`` for a
                         task without subtasks
family         str       model family, e.g. ``BIG-G T=0``, ``pythia``, ``ladder``
model          str       model name within the family, unique per size (and checkpoint)
params         float     the scale the curves are drawn against, a parameter count (> 0);
                         each reader documents which count it uses
shots          int       number of in-context examples; ``-1`` where shots make no sense
metric         str       the source's metric name, e.g. ``exact_str_match``, ``acc``
metric_kind    str       one of :data:`METRIC_KINDS`: what forward map the metric follows
score          float     the metric's value. Fractions are in 0..1 whatever the source used
                         (BLEU and ROUGE given in percent are divided by 100). Log-likelihoods
                         are in nats (<= 0); Brier scores are 0..1 (mean over choices) or
                         0..2 (summed over choices), lower is better
n_items        Int64     number of items the score averages over; ``<NA>`` where unknown
chance         float     the metric's value for a model that guesses (e.g. 1 / choices for
                         multiple-choice grade); ``NaN`` where not defined or unknown
source         str       where the row came from (reader name and file)
============== ========= =================================================================

Optional columns (present only where a source provides them):

============== ========= =================================================================
column         dtype     meaning and unit
============== ========= =================================================================
target_tokens  float     mean answer length in tokens; the full distribution comes from the
                         task definitions (see :func:`emergestats.data.read_bigbench_tasks`)
total_params   float     all parameters, including embeddings
flops          float     training FLOPs
tokens         float     training tokens
loss           float     pre-training validation loss, nats per token
step           Int64     training step of a checkpoint
score_stderr   float     standard error of ``score`` as the source reports it, in the same
                         units as ``score`` (a percentage's standard error is divided by 100
                         with it); ``NaN`` where the source reports none. Never computed by a
                         reader: a bootstrap or binomial standard error of the source, kept
                         as given (>= 0)
unit           str       the text unit a length-dependent score counts or is averaged over,
                         one of :data:`UNITS` or ``<NA>``: for ``edit_distance`` the unit of
                         one edit; for ``log_likelihood`` (and perplexities) the unit one
                         value is per (``log_likelihood_per_word``: ``word``; per item where
                         each item is one word, as LAMBADA: ``word``); ``<NA>`` where the
                         reader does not know it or the score is a per-item sum over the
                         answer's tokens (``target_tokens`` then gives the length)
n_choices      float     number of choices of a multiple-choice task (every row of its curve,
                         log-likelihoods and Brier scores included); ``NaN`` for generated
                         answers or where unknown (``chance`` then tells it for grade and
                         accuracy rows)
dataset        str       the source of a row in a table that stacks several
                         (:func:`emergestats.corpus.load_corpus`); with two or more sources,
                         each family belongs to one and the fits pool the families' means
                         around their source's (:func:`emergestats.models.build_smooth_model`)
============== ========= =================================================================

Brier scores come in three forms (:func:`brier_form`): BIG-bench's mean over the choices of an
item (0..1), the sum over choices (0..2), and the squared error of the correct choice alone,
``(1 - q)^2`` (ExpEmergence's ``tc_brier``, 0..1). The metric name says which.

Item table
----------
One row per (task, subtask, family, model, shots, item): ``task, subtask, family, model, params,
shots, item, target_tokens, logprob, correct, choice_logprobs, source``. ``item`` is the item's id
within its subtask (str), ``logprob`` the model's log-probability (nats) of the correct answer,
``correct`` 1 if the model's answer was scored right and 0 if not, ``choice_logprobs`` (multiple
choice only, else missing) a tuple with the log-probability of every choice, and
``correct_choice`` (Int64, optional) the position of the correct choice in that tuple.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import xarray as xr

from emergestats.errors import AssumptionWarning, DataFormatError, EmptyInputError, format_rows

METRIC_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "multiple_choice_grade",
    "brier",
    "log_likelihood",
    "edit_distance",
    "bleu",
    "rouge",
    "pass_at_k",
    "accuracy",
    "other",
)

EVALUATION_COLUMNS: Final[tuple[str, ...]] = (
    "task",
    "subtask",
    "family",
    "model",
    "params",
    "shots",
    "metric",
    "metric_kind",
    "score",
    "n_items",
    "chance",
    "source",
)
OPTIONAL_EVALUATION_COLUMNS: Final[tuple[str, ...]] = (
    "target_tokens",
    "total_params",
    "flops",
    "tokens",
    "loss",
    "step",
    "score_stderr",
    "unit",
    "n_choices",
    "dataset",
)
#: Values of the optional ``unit`` column (missing: ``<NA>``). ``byte`` is used only by the
#: byte-level perplexities of lm-evaluation-harness (kind ``other``).
UNITS: Final[tuple[str, ...]] = ("token", "word", "char", "byte")
#: The forms a Brier score comes in; see :func:`brier_form`.
BRIER_FORMS: Final[tuple[str, ...]] = ("mean", "sum", "correct_choice")
#: Optional columns holding text (the rest hold numbers).
_TEXT_OPTIONAL_COLUMNS: Final[tuple[str, ...]] = ("unit", "dataset")
# Optional columns holding numbers (the rest hold text).
_NUMERIC_OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "target_tokens",
    "total_params",
    "flops",
    "tokens",
    "loss",
    "score_stderr",
    "n_choices",
)
ITEM_COLUMNS: Final[tuple[str, ...]] = (
    "task",
    "subtask",
    "family",
    "model",
    "params",
    "shots",
    "item",
    "target_tokens",
    "logprob",
    "correct",
    "choice_logprobs",
    "source",
)
OPTIONAL_ITEM_COLUMNS: Final[tuple[str, ...]] = ("correct_choice", "total_params", "step")

#: The key of one evaluation row, and of one latent curve (all metrics of a curve share it).
ROW_KEY: Final[tuple[str, ...]] = ("task", "subtask", "family", "model", "shots", "metric")
CURVE_KEY: Final[tuple[str, ...]] = ("task", "subtask", "family", "shots")
SERIES_KEY: Final[tuple[str, ...]] = (*CURVE_KEY, "metric")

_STRING_COLUMNS = ("task", "subtask", "family", "model", "metric", "metric_kind", "source")
_ITEM_STRING_COLUMNS = ("task", "subtask", "family", "model", "item", "source")

#: Range each metric kind's score must lie in (inclusive); ``None`` leaves a side open.
SCORE_RANGE: Final[dict[str, tuple[float | None, float | None]]] = {
    "exact_match": (0.0, 1.0),
    "greedy_match": (0.0, 1.0),
    "multiple_choice_grade": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "pass_at_k": (0.0, 1.0),
    "bleu": (0.0, 1.0),
    "rouge": (0.0, 1.0),
    "brier": (0.0, 2.0),
    "log_likelihood": (None, 0.0),
    "edit_distance": (0.0, None),
    "other": (None, None),
}

#: Metric names used by the real sources, mapped to their kind. Readers use
#: :func:`metric_kind_of`; a name not listed is ``other``.
METRIC_KIND_BY_NAME: Final[dict[str, str]] = {
    # BIG-bench
    "exact_str_match": "exact_match",
    "case_insensitive_str_match": "exact_match",
    "multiple_choice_grade": "multiple_choice_grade",
    "calibration_multiple_choice_brier_score": "brier",
    "log_likelihood": "log_likelihood",
    "log_likelihood_per_word": "log_likelihood",
    "log_likelihood_per_char": "log_likelihood",
    "bleu": "bleu",
    "rouge1": "rouge",
    "rouge2": "rouge",
    "rougeLsum": "rouge",
    "numeric_match_with_0_1_relative_error": "accuracy",
    # ExpEmergence (target-class Brier, (1 - p_correct) ** 2) and open_lm task types
    "tc_brier": "brier",
    "tc_brier_unnormalized": "brier",
    "multiple_choice_accuracy": "multiple_choice_grade",
    "lm_accuracy": "exact_match",
    "qa_accuracy": "exact_match",
    # lm-evaluation-harness
    "acc": "accuracy",
    "acc_norm": "accuracy",
    "exact_match": "exact_match",
    "em": "exact_match",
    # lm-evaluation-harness LAMBADA perplexity read as a log-likelihood (see read_lm_eval)
    "loglik_per_word_from_ppl": "log_likelihood",
    # package-defined names
    "accuracy": "accuracy",
    "subset_accuracy": "exact_match",
    "brier": "brier",
    "brier_mean": "brier",
    "brier_sum": "brier",
    "edit_distance": "edit_distance",
    "pass_at_k": "pass_at_k",
}


def metric_kind_of(metric: str) -> str:
    """Return the :data:`METRIC_KINDS` entry for a source's metric name (``other`` if unknown)."""
    return METRIC_KIND_BY_NAME.get(metric, "other")


#: Brier metric names of the real sources and of this package, and their form.
BRIER_FORM_BY_NAME: Final[dict[str, str]] = {
    "calibration_multiple_choice_brier_score": "mean",  # BIG-bench
    "brier": "mean",
    "brier_mean": "mean",
    "brier_sum": "sum",
    "tc_brier": "correct_choice",  # ExpEmergence, choices renormalised to sum to 1
    "tc_brier_unnormalized": "correct_choice",  # ExpEmergence, raw choice probabilities
}


def brier_form(metric: str) -> str:
    """Which Brier score a metric name is: ``"mean"``, ``"sum"`` or ``"correct_choice"``.

    With ``K`` choices, probabilities ``pi_c`` and ``q`` the correct choice's probability:

    ``"mean"``
        BIG-bench's ``calibration_multiple_choice_brier_score``: the squared error summed over
        the choices and divided by ``K`` (``brier_mean`` of :mod:`emergestats.ladder`); 0..1.
    ``"sum"``
        The squared error summed over the choices (``brier_sum``); 0..2.
    ``"correct_choice"``
        The correct choice's term alone, ``(1 - q)^2``: ExpEmergence's ``tc_brier`` (the
        paper's "target-class" Brier score); 0..1. For an even spread of the rest it is
        ``K - 1`` times the mean form.

    Parameters
    ----------
    metric
        A metric name of a row of kind ``brier``.

    Returns
    -------
    str
        One of :data:`BRIER_FORMS`. Names not in :data:`BRIER_FORM_BY_NAME` follow their
        wording: ``tc_brier...``, ``target_class`` or ``correct_choice`` give
        ``"correct_choice"``, ``sum`` gives ``"sum"``, anything else BIG-bench's ``"mean"``.

    Examples
    --------
    >>> brier_form("calibration_multiple_choice_brier_score")
    'mean'
    >>> brier_form("tc_brier")
    'correct_choice'
    """
    if metric in BRIER_FORM_BY_NAME:
        return BRIER_FORM_BY_NAME[metric]
    lowered = metric.lower()
    if lowered.startswith("tc_brier") or "target_class" in lowered or "correct" in lowered:
        return "correct_choice"
    if "sum" in lowered:
        return "sum"
    return "mean"


def empty_evaluation_table(*, optional: Iterable[str] = ()) -> pd.DataFrame:
    """An evaluation table with no rows and the canonical dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in EVALUATION_COLUMNS})
    for column in optional:
        frame[column] = pd.Series(dtype=float)
    return coerce_evaluation_table(frame)


def coerce_evaluation_table(df: pd.DataFrame) -> pd.DataFrame:
    """Put columns in canonical order and dtypes (readers call this before :func:`validate`).

    Extra columns that are neither canonical nor optional are dropped; missing canonical ones are
    left missing so that :func:`validate` names them.
    """
    out = df.copy()
    keep = [c for c in EVALUATION_COLUMNS if c in out.columns]
    keep += [c for c in OPTIONAL_EVALUATION_COLUMNS if c in out.columns]
    out = out.loc[:, keep]
    for column in _STRING_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype(object)
    for column in ("params", "score", "chance", *_NUMERIC_OPTIONAL_COLUMNS):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    for column in _TEXT_OPTIONAL_COLUMNS:
        if column in out.columns:
            out[column] = _text_or_missing(out[column])
    for column in ("n_items", "step"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    if "shots" in out.columns:
        out["shots"] = pd.to_numeric(out["shots"], errors="coerce")
        if out["shots"].notna().all():
            out["shots"] = out["shots"].astype(np.int64)
    return out.reset_index(drop=True)


def _text_or_missing(values: pd.Series) -> pd.Series:
    """Text values as ``object`` with ``pd.NA`` for missing ones (None, NaN, empty)."""
    return pd.Series(
        [pd.NA if _is_missing(v) else str(v).strip() for v in values],
        index=values.index,
        dtype=object,
    )


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _fail(
    message: str,
    *,
    path: str | Path | None,
    column: str | None = None,
    rows: list[int] | None = None,
) -> DataFormatError:
    return DataFormatError(message, path=path, column=column, rows=rows)


def _bad_rows(mask: pd.Series | np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(mask, dtype=bool))]


def validate(df: pd.DataFrame, *, path: str | Path | None = None) -> pd.DataFrame:
    """Check an evaluation table and return it in canonical dtypes.

    Parameters
    ----------
    df
        A table with at least the columns in :data:`EVALUATION_COLUMNS`.
    path
        The file the table came from, named in error messages.

    Returns
    -------
    pandas.DataFrame
        The table with canonical column order and dtypes.

    Raises
    ------
    DataFormatError
        Naming the column, the offending rows (0-based data rows) and what is expected.
    """
    if len(df) == 0:
        raise EmptyInputError("the evaluation table is empty (no data rows)", path=path)
    missing = [c for c in EVALUATION_COLUMNS if c not in df.columns]
    if missing:
        raise _fail(
            f"missing column(s) {', '.join(repr(c) for c in missing)}; an evaluation table needs "
            f"the columns {', '.join(EVALUATION_COLUMNS)}",
            path=path,
            column=missing[0],
        )
    raw = df.reset_index(drop=True)
    for column in _STRING_COLUMNS:
        bad = raw[column].isna() | (raw[column].astype(str).str.strip() == "")
        if bad.any():
            rows = _bad_rows(bad)
            raise _fail(
                f"column {column!r} is empty in {format_rows(rows)}; every row needs a {column}",
                path=path,
                column=column,
                rows=rows,
            )
    numeric = {
        "params": "a positive parameter count",
        "shots": "an integer number of shots (-1 where shots do not apply)",
        "score": "a finite number",
    }
    for column, expected in numeric.items():
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if bad.any():
            rows = _bad_rows(bad)
            raise _fail(
                f"column {column!r} is not numeric in {format_rows(rows)} "
                f"(e.g. {raw[column].iloc[rows[0]]!r}); expected {expected}",
                path=path,
                column=column,
                rows=rows,
            )
        not_finite = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if not_finite.any():
            rows = _bad_rows(not_finite)
            raise _fail(
                f"column {column!r} is missing or not finite (NaN/inf) in {format_rows(rows)}; "
                f"expected {expected}",
                path=path,
                column=column,
                rows=rows,
            )
    params = pd.to_numeric(raw["params"])
    if (params <= 0).any():
        rows = _bad_rows(params <= 0)
        raise _fail(
            f"column 'params' is not positive in {format_rows(rows)}; parameter counts must be > 0",
            path=path,
            column="params",
            rows=rows,
        )
    shots = pd.to_numeric(raw["shots"])
    bad = (shots != np.round(shots)) | (shots < -1)
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"column 'shots' must be an integer >= -1, not so in {format_rows(rows)}",
            path=path,
            column="shots",
            rows=rows,
        )
    kinds = raw["metric_kind"].astype(str)
    bad = ~kinds.isin(METRIC_KINDS)
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"column 'metric_kind' has unknown value {kinds.iloc[rows[0]]!r} in "
            f"{format_rows(rows)}; expected one of {', '.join(METRIC_KINDS)}",
            path=path,
            column="metric_kind",
            rows=rows,
        )
    score = pd.to_numeric(raw["score"])
    for kind, (low, high) in SCORE_RANGE.items():
        of_kind = kinds == kind
        out_of_range = pd.Series(False, index=raw.index)
        if low is not None:
            out_of_range |= score < low
        if high is not None:
            out_of_range |= score > high
        bad = of_kind & out_of_range
        if bad.any():
            rows = _bad_rows(bad)
            span = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            raise _fail(
                f"column 'score' is outside {span} for metric_kind {kind!r} in "
                f"{format_rows(rows)} (e.g. {score.iloc[rows[0]]!r}); fractions must be in 0..1 "
                "(divide percentages by 100) and log-likelihoods <= 0",
                path=path,
                column="score",
                rows=rows,
            )
    for column, check, expected in (
        ("n_items", lambda v: v <= 0, "a positive integer or empty"),
        ("chance", lambda v: (v < 0) | ~np.isfinite(v), "a finite number or empty"),
    ):
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = (values.isna() & raw[column].notna()) | (values.notna() & check(values))
        if column == "n_items":
            bad |= values.notna() & (values != np.round(values))
        if bad.any():
            rows = _bad_rows(bad)
            raise _fail(
                f"column {column!r} has invalid values in {format_rows(rows)} "
                f"(e.g. {raw[column].iloc[rows[0]]!r}); expected {expected}",
                path=path,
                column=column,
                rows=rows,
            )
    for column in OPTIONAL_EVALUATION_COLUMNS:
        if column not in raw.columns or column in ("score_stderr", *_TEXT_OPTIONAL_COLUMNS):
            continue
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if column in ("target_tokens", "total_params", "flops", "tokens"):
            bad |= values.notna() & (values <= 0)
        if bad.any():
            rows = _bad_rows(bad)
            raise _fail(
                f"optional column {column!r} has invalid values in {format_rows(rows)} "
                f"(e.g. {raw[column].iloc[rows[0]]!r}); expected a positive number or empty",
                path=path,
                column=column,
                rows=rows,
            )
    if "score_stderr" in raw.columns:
        _check_stderr(raw["score_stderr"], path=path)
    if "unit" in raw.columns:
        _check_units(raw["unit"], path=path)
    out = coerce_evaluation_table(raw)
    duplicated = out.duplicated(list(ROW_KEY), keep=False)
    if duplicated.any():
        rows = _bad_rows(duplicated)
        raise _fail(
            f"{format_rows(rows)} repeat the same (task, subtask, family, model, shots, metric); "
            "each combination must appear once",
            path=path,
            column=None,
            rows=rows,
        )
    return out


def _check_stderr(column: pd.Series, *, path: str | Path | None) -> None:
    values = pd.to_numeric(column, errors="coerce")
    given = pd.Series([not _is_missing(v) for v in column], index=column.index)
    not_numeric = values.isna() & given
    negative_or_infinite = values.notna() & ((values < 0) | ~np.isfinite(values))
    bad = not_numeric | negative_or_infinite
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"optional column 'score_stderr' has invalid values in {format_rows(rows)} (e.g. "
            f"{column.iloc[rows[0]]!r}); a standard error is a finite number >= 0 in the units "
            "of 'score', or empty where the source reports none",
            path=path,
            column="score_stderr",
            rows=rows,
        )


def _check_units(column: pd.Series, *, path: str | Path | None) -> None:
    bad = pd.Series(
        [not _is_missing(v) and str(v).strip() not in UNITS for v in column], index=column.index
    )
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"optional column 'unit' has unknown value {column.iloc[rows[0]]!r} in "
            f"{format_rows(rows)}; expected one of {', '.join(UNITS)}, or empty where the unit "
            "is unknown",
            path=path,
            column="unit",
            rows=rows,
        )


def validate_items(df: pd.DataFrame, *, path: str | Path | None = None) -> pd.DataFrame:
    """Check an item table (see the module docstring) and return it in canonical dtypes."""
    if len(df) == 0:
        raise EmptyInputError("the item table is empty (no data rows)", path=path)
    missing = [c for c in ITEM_COLUMNS if c not in df.columns]
    if missing:
        raise _fail(
            f"missing column(s) {', '.join(repr(c) for c in missing)}; an item table needs the "
            f"columns {', '.join(ITEM_COLUMNS)}",
            path=path,
            column=missing[0],
        )
    out = df.reset_index(drop=True).copy()
    for column in _ITEM_STRING_COLUMNS:
        bad = out[column].isna()
        if bad.any():
            rows = _bad_rows(bad)
            raise _fail(
                f"column {column!r} is empty in {format_rows(rows)}",
                path=path,
                column=column,
                rows=rows,
            )
        out[column] = out[column].astype(str).astype(object)
    params = pd.to_numeric(out["params"], errors="coerce")
    bad = params.isna() | ~(params > 0)
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"column 'params' is missing or not positive in {format_rows(rows)}",
            path=path,
            column="params",
            rows=rows,
        )
    out["params"] = params.astype(float)
    out["shots"] = pd.to_numeric(out["shots"], errors="raise").astype(np.int64)
    out["target_tokens"] = pd.to_numeric(out["target_tokens"], errors="coerce").astype(float)
    logprob = pd.to_numeric(out["logprob"], errors="coerce")
    bad = logprob.notna() & (logprob > 1e-9)
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"column 'logprob' is positive in {format_rows(rows)}; log-probabilities must be <= 0",
            path=path,
            column="logprob",
            rows=rows,
        )
    out["logprob"] = logprob.astype(float)
    correct = pd.to_numeric(out["correct"], errors="coerce")
    bad = correct.notna() & ~correct.isin([0, 1])
    if bad.any():
        rows = _bad_rows(bad)
        raise _fail(
            f"column 'correct' must be 0 or 1, not so in {format_rows(rows)}",
            path=path,
            column="correct",
            rows=rows,
        )
    out["correct"] = correct.astype("Int64")
    out["choice_logprobs"] = pd.Series(
        [_as_choice_tuple(v) for v in out["choice_logprobs"]], index=out.index, dtype=object
    )
    if "correct_choice" in out.columns:
        out["correct_choice"] = pd.to_numeric(out["correct_choice"]).astype("Int64")
    keep = list(ITEM_COLUMNS) + [c for c in OPTIONAL_ITEM_COLUMNS if c in out.columns]
    return out.loc[:, keep]


def _as_choice_tuple(value: object) -> tuple[float, ...] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        if value.strip() == "":
            return None
        value = json.loads(value)
    return tuple(float(v) for v in value)  # type: ignore[attr-defined]


def _is_item_table(columns: Iterable[str]) -> bool:
    return "item" in set(columns) and "logprob" in set(columns)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a canonical evaluation (or item) table from CSV or Parquet and validate it.

    The kind of table is recognised from its columns (an item table has ``item`` and
    ``logprob``).

    Raises
    ------
    DataFormatError
        If the file is missing, empty, unreadable or fails validation; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError("no such file; give the path of a CSV or Parquet table", path=path)
    if path.is_dir():
        raise DataFormatError(
            "is a folder, not a table file; give a .csv or .parquet file", path=path
        )
    if path.stat().st_size == 0:
        raise EmptyInputError("the file is empty", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".csv", ".txt") or suffix == "":
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        else:
            raise DataFormatError(
                f"unknown table format {suffix!r}; use .csv or .parquet", path=path
            )
    except DataFormatError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise EmptyInputError("the file is empty", path=path) from exc
    except Exception as exc:  # pandas/pyarrow raise many types on corrupt input
        raise DataFormatError(f"cannot be read as a table ({exc})", path=path) from exc
    if _is_item_table(df.columns):
        return validate_items(df, path=path)
    return validate(df, path=path)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a canonical table to CSV or Parquet (by suffix); choice tuples become JSON in CSV."""
    path = Path(path)
    out = df.copy()
    if suffix_is_csv(path) and "choice_logprobs" in out.columns:
        out["choice_logprobs"] = [
            "" if v is None else json.dumps([float(x) for x in v]) for v in out["choice_logprobs"]
        ]
    if suffix_is_csv(path):
        out.to_csv(path, index=False)
    else:
        if "choice_logprobs" in out.columns:
            out["choice_logprobs"] = pd.Series(
                [None if v is None else list(v) for v in out["choice_logprobs"]],
                index=out.index,
                dtype=object,
            )
        out.to_parquet(path, index=False)
    return path


def suffix_is_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".txt", "")


def curve_labels(df: pd.DataFrame, key: Iterable[str] = CURVE_KEY) -> pd.Series:
    """One readable label per row's curve: ``task/subtask/family/shots`` (task once if equal)."""
    key = list(key)

    def label(row: pd.Series) -> str:
        parts = [str(row[k]) for k in key]
        if "subtask" in key and row["subtask"] == row["task"]:
            parts.pop(key.index("subtask"))
        return "/".join(parts)

    return df.apply(label, axis=1) if len(df) else pd.Series(dtype=object)


def to_dataset(df: pd.DataFrame) -> xr.Dataset:
    """Turn a validated evaluation table into an :class:`xarray.Dataset` with named dims.

    Dims
    ----
    ``obs``
        One per table row: ``score``, ``params``, ``log_params``, ``n_items``, ``chance``,
        ``metric``, ``metric_kind``, ``model``, ``curve_index`` (position along ``curve``) and any
        optional columns (``unit`` as a text coordinate, ``""`` where missing).
    ``curve``
        One per latent curve (task, subtask, family, shots): the coordinates ``task``,
        ``subtask``, ``family``, ``shots``. All metrics of a curve share one latent.
    """
    table = validate(df)
    curves = table.loc[:, list(CURVE_KEY)].drop_duplicates().reset_index(drop=True)
    labels = curve_labels(curves)
    curve_index = table.merge(
        curves.assign(_curve=np.arange(len(curves))), on=list(CURVE_KEY), how="left"
    )["_curve"].to_numpy()
    obs = np.arange(len(table))
    data_vars: dict[str, tuple[str, np.ndarray]] = {
        "score": ("obs", table["score"].to_numpy(float)),
        "params": ("obs", table["params"].to_numpy(float)),
        "log_params": ("obs", np.log(table["params"].to_numpy(float))),
        "n_items": ("obs", table["n_items"].to_numpy(dtype=float, na_value=np.nan)),
        "chance": ("obs", table["chance"].to_numpy(float)),
        "curve_index": ("obs", curve_index.astype(np.int64)),
    }
    for column in OPTIONAL_EVALUATION_COLUMNS:
        if column in table.columns and column not in _TEXT_OPTIONAL_COLUMNS:
            data_vars[column] = ("obs", table[column].to_numpy(dtype=float, na_value=np.nan))
    coords = {
        "obs": obs,
        "metric": ("obs", table["metric"].to_numpy(str)),
        "metric_kind": ("obs", table["metric_kind"].to_numpy(str)),
        "model": ("obs", table["model"].to_numpy(str)),
        "source": ("obs", table["source"].to_numpy(str)),
        "curve": labels.to_numpy(str),
        "task": ("curve", curves["task"].to_numpy(str)),
        "subtask": ("curve", curves["subtask"].to_numpy(str)),
        "family": ("curve", curves["family"].to_numpy(str)),
        "shots": ("curve", curves["shots"].to_numpy(np.int64)),
    }
    for column in _TEXT_OPTIONAL_COLUMNS:
        if column in table.columns:
            coords[column] = ("obs", table[column].fillna("").to_numpy(str))
    return xr.Dataset(data_vars, coords=coords)


def is_final_checkpoint(table: pd.DataFrame) -> np.ndarray:
    """Per row: is it of the last training step of its (family, size)? All true without ``step``.

    Rows without a step (a model published only at the end of training) count as final. Scale
    analyses (fits, the jump test, extrapolation) compare models across size, each at the end
    of its training; a suite's intermediate checkpoints are another axis (training time).
    """
    if "step" not in table.columns:
        return np.ones(len(table), dtype=bool)
    step = pd.to_numeric(table["step"], errors="coerce")
    last = step.groupby([table["family"], table["params"]], dropna=False).transform("max")
    return (step.isna() | (step == last)).to_numpy(dtype=bool)


def final_checkpoints(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`is_final_checkpoint`; a table without ``step`` unchanged."""
    if "step" not in table.columns:
        return table
    return table[is_final_checkpoint(table)]


def drop_intermediate_checkpoints(table: pd.DataFrame, *, analysis: str) -> pd.DataFrame:
    """:func:`final_checkpoints`, with a counted warning where intermediate ones are set aside.

    For scale analyses (``analysis`` names the one, for the message): a suite evaluated over
    training (Pythia: up to 27 steps of every size) would otherwise put each size's early
    checkpoints into its series as more models of that size. Row labels are kept.
    """
    final = final_checkpoints(table)
    if len(final) == len(table):
        return table
    set_aside = table.drop(index=final.index)
    pairs = set_aside.groupby(["family", "params"], dropna=False).ngroups
    example = set_aside.iloc[0]
    warnings.warn(
        f"{len(set_aside)} rows of intermediate training checkpoints ({pairs} (family, size) "
        f"pairs evaluated at several steps, e.g. {example['family']} at "
        f"{float(example['params']):.3g} parameters, step {example['step']}) are set aside: "
        f"{analysis} compares models across scale, each at its last training step (column "
        "'step'). To study a checkpoint, select its rows by 'step' first.",
        AssumptionWarning,
        stacklevel=3,
    )
    return final
