"""Readers for BIG-bench: per-model result files, their full logs, and the task definitions.

Three readers, one per kind of BIG-bench file (the format is described in
``docs/bigbench-results-format.md``):

* :func:`read_bigbench_results` turns ``scores_*.json`` / ``full-log_*.json`` files into the
  canonical evaluation table (one row per task, subtask, family, model, shots and metric);
* :func:`read_bigbench_items` turns the ``queries`` of ``full-log_*.json`` files into the
  canonical item table (one row per model and query sample);
* :func:`read_bigbench_tasks` summarises ``task.json`` definitions: number of items, number of
  choices, chance level and the distribution of answer lengths the exact-match forward map needs.

A result file is a JSON object ``{"task": {"task_name": ...}, "model": {"model_family": ...,
"model_name": ..., "flop_matched_non_embedding_params": ..., "non_embedding_params": ...,
"total_params": ...}, "scores": [...]}``; each ``scores`` entry has ``subtask_description``,
``number_of_shots``, ``preferred_score``, ``low_score``, ``high_score`` and ``score_dict``
(metric -> value). Full logs add ``queries``: a list of ``{"function": "generate_text" |
"cond_log_prob", "shots": ..., "task": ..., "samples": [...]}``.

Answer lengths are measured in tokens of a tokenizer where one is given, and otherwise by the
approximation :data:`LENGTH_APPROXIMATION` (see :func:`answer_length`); every table that holds
lengths says which rule made them.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from emergestats.data.json_files import load_json_object
from emergestats.data.table import metric_kind_of, validate, validate_items
from emergestats.errors import ConfigError, DataFormatError, EmptyInputError

__all__ = [
    "AGGREGATE_METRIC",
    "AGGREGATE_SUBTASK",
    "LENGTH_APPROXIMATION",
    "QUERY_KINDS",
    "answer_length",
    "read_bigbench_items",
    "read_bigbench_results",
    "read_bigbench_tasks",
]

#: A callable that turns an answer string into its tokens (only the number of tokens is used).
Tokenizer = Callable[[str], Sequence[Any]]

#: ``preferred_score`` of BIG-bench's aggregate entries (0..100 in the files).
AGGREGATE_METRIC: Final = "normalized_aggregate_score"
#: ``subtask`` given to aggregate rows kept by ``read_bigbench_results(aggregates="keep")``, so
#: that they never share a curve with per-subtask observations.
AGGREGATE_SUBTASK: Final = "__aggregate__"
#: The rule :func:`answer_length` uses when no tokenizer is given.
LENGTH_APPROXIMATION: Final = (
    "approximate tokens: characters of a number (digits, sign and decimal point), "
    "whitespace-separated words of any other answer"
)
#: The kinds of query sample a full log holds, as used in item ids (``"<kind>:<position>"``).
QUERY_KINDS: Final[tuple[str, ...]] = ("generate_text", "multiple_choice", "scoring")

_RESULT_PATTERNS: Final = ("scores_*.json", "full-log_*.json")
_FULL_LOG_PATTERNS: Final = ("full-log_*.json",)
_FORMAT_HINT: Final = "the expected layout is in the emergestats.data.bigbench docstring"
_EXPECTED_JSON: Final = f"a BIG-bench JSON object ({_FORMAT_HINT})"
_READER_SOURCE: Final = "read_bigbench_results"
_ITEMS_SOURCE: Final = "read_bigbench_items"

# Stored in 0..100 although they are fractions of a maximum: divided by 100 on reading.
_PERCENT_KINDS: Final = frozenset({"bleu", "rouge"})
# Kinds whose low_score is a guessing level (a non-negative fraction), usable as `chance`.
_CHANCE_KINDS: Final = frozenset(
    {"exact_match", "multiple_choice_grade", "accuracy", "bleu", "rouge", "pass_at_k"}
)
# Which query kind each metric is computed from, to count the items behind a score.
_METRICS_FROM_MULTIPLE_CHOICE: Final = frozenset(
    {
        "multiple_choice_grade",
        "calibration_multiple_choice_brier_score",
        "expected_calibration_error",
        "macro_f1",
    }
)
_METRICS_FROM_SCORING: Final = frozenset(
    {
        "log_likelihood",
        "log_likelihood_per_word",
        "log_likelihood_per_char",
        "weighted_log_probabilities",
    }
)
_METRICS_FROM_GENERATION: Final = frozenset(
    {
        "exact_str_match",
        "case_insensitive_str_match",
        "bleu",
        "rouge1",
        "rouge2",
        "rougeLsum",
        "bleurt",
        "numeric_match_with_0_1_relative_error",
    }
)

_NUMBER_ANSWER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")

# The text unit a log-likelihood is averaged over (the ``unit`` column); BIG-bench divides each
# item's summed log-probability by its target's words or characters.
_UNIT_OF_METRIC: Final[dict[str, str]] = {
    "log_likelihood_per_word": "word",
    "log_likelihood_per_char": "char",
}


# --------------------------------------------------------------------------------------------
# Answer lengths


def answer_length(text: str, *, tokenizer: Tokenizer | None = None) -> int:
    """Length of an answer in tokens, exact with a tokenizer or approximated without one.

    Parameters
    ----------
    text
        The answer (a BIG-bench ``target`` or the correct choice).
    tokenizer
        A callable mapping a string to its sequence of tokens (e.g. ``tok.encode`` of the
        evaluated model's tokenizer, without special tokens). Where it is ``None`` the
        approximation :data:`LENGTH_APPROXIMATION` is used: a number (``"1219"``, ``"-42"``,
        ``"3.5"``) counts one token per character, because BPE vocabularies of the BIG-bench era
        split digit strings into short pieces; any other answer counts its whitespace-separated
        words.

    Returns
    -------
    int
        The number of tokens (``0`` for an empty answer).

    Raises
    ------
    ConfigError
        If ``tokenizer`` returns a mapping or a string instead of a sequence of tokens.

    Examples
    --------
    >>> answer_length("-123"), answer_length("the cat sat"), answer_length("3.25")
    (4, 3, 4)
    """
    if tokenizer is not None:
        tokens = tokenizer(text)
        if isinstance(tokens, (Mapping, str)):
            raise ConfigError(
                f"the tokenizer returned a {type(tokens).__name__} for {text!r}, not a sequence "
                "of tokens; pass a function returning token ids, e.g. tokenizer.encode or "
                "lambda s: tok(s, add_special_tokens=False)['input_ids']"
            )
        return len(tokens)
    stripped = text.strip()
    if _NUMBER_ANSWER.fullmatch(stripped):
        return len(stripped)
    return len(stripped.split())


def _length_rule(tokenizer: Tokenizer | None) -> str:
    if tokenizer is None:
        return LENGTH_APPROXIMATION
    name = getattr(tokenizer, "__qualname__", None) or type(tokenizer).__name__
    return f"tokens of tokenizer {name}"


# --------------------------------------------------------------------------------------------
# Files and JSON


def _benchmark_tasks_dir(root: Path) -> Path | None:
    """The ``benchmark_tasks`` folder of a BIG-bench checkout rooted at ``root``, if any."""
    for candidate in (root / "bigbench" / "benchmark_tasks", root / "benchmark_tasks"):
        if candidate.is_dir():
            return candidate
    return None


def _find_result_files(path: Path, *, patterns: Sequence[str]) -> list[Path]:
    if not path.exists():
        raise DataFormatError(
            "no such file or folder; give a BIG-bench checkout, a task or results folder, or a "
            "scores_*.json / full-log_*.json file",
            path=path,
        )
    if path.is_file():
        return [path]
    tasks_dir = _benchmark_tasks_dir(path)
    # In a checkout only the tasks' results folders hold result files; elsewhere search all.
    roots = sorted(tasks_dir.glob("*/results")) if tasks_dir is not None else [path]
    found = {f for root in roots for p in patterns for f in root.rglob(p) if f.is_file()}
    if not found:
        raise EmptyInputError(
            f"the folder holds no {' or '.join(patterns)} files; point to a BIG-bench checkout, "
            "a task's results folder or a folder of result files",
            path=path,
        )
    return sorted(found)


def _relative(file: Path, root: Path) -> str:
    """``file`` as named in a row's ``source``: relative to the folder that was read."""
    if root.is_file():
        return file.name
    return file.relative_to(root).as_posix()


def _require(container: Mapping[str, Any], key: str, *, file: Path, where: str = "") -> Any:
    if key not in container:
        raise DataFormatError(
            f"has no key '{where}{key}'; check that this is an unmodified BIG-bench result "
            f"file ({_FORMAT_HINT})",
            path=file,
            column=f"{where}{key}",
        )
    return container[key]


def _require_type(value: Any, kind: type | tuple[type, ...], *, file: Path, key: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise DataFormatError(
            f"key '{key}' holds a {type(value).__name__} ({value!r:.60}), expected a {names}; "
            f"{_FORMAT_HINT}",
            path=file,
            column=key,
        )
    return value


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a JSON number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _subtask_of(description: str, task: str) -> str:
    """``task:subtask`` -> ``subtask``; a description without ``:`` is the task itself."""
    if ":" in description:
        return description.split(":", 1)[1]
    return task


# --------------------------------------------------------------------------------------------
# The header shared by scores and full-log files


@dataclass(frozen=True)
class _ModelInfo:
    task: str
    family: str
    model: str
    params: float
    total_params: float


def _header(data: Mapping[str, Any], file: Path) -> _ModelInfo:
    task_block = _require_type(_require(data, "task", file=file), dict, file=file, key="task")
    task = _require_type(
        _require(task_block, "task_name", file=file, where="task."),
        str,
        file=file,
        key="task.task_name",
    )
    model = _require_type(_require(data, "model", file=file), dict, file=file, key="model")
    family = _require_type(
        _require(model, "model_family", file=file, where="model."),
        str,
        file=file,
        key="model.model_family",
    )
    name = _require_type(
        _require(model, "model_name", file=file, where="model."),
        str,
        file=file,
        key="model.model_name",
    )
    params = None
    for key in ("flop_matched_non_embedding_params", "non_embedding_params"):
        if model.get(key) is not None:
            params = _positive(model[key], file=file, key=f"model.{key}")
            break
    if params is None:
        raise DataFormatError(
            "has no key 'model.flop_matched_non_embedding_params' (nor the fallback "
            "'model.non_embedding_params'); the model's scale is needed, so use an unmodified "
            "BIG-bench result file",
            path=file,
            column="model.flop_matched_non_embedding_params",
        )
    total = model.get("total_params")
    total_params = (
        math.nan if total is None else _positive(total, file=file, key="model.total_params")
    )
    return _ModelInfo(task, family, name, params, total_params)


def _positive(value: Any, *, file: Path, key: str) -> float:
    number = _number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise DataFormatError(
            f"key '{key}' is {value!r}, expected a positive parameter count; {_FORMAT_HINT}",
            path=file,
            column=key,
        )
    return number


# --------------------------------------------------------------------------------------------
# Queries (full-log files)


@dataclass(frozen=True)
class _Sample:
    subtask: str
    shots: int
    kind: str  # one of QUERY_KINDS
    position: int  # position within the (subtask, shots, kind) samples, in file order
    sample: Mapping[str, Any]
    where: str  # e.g. "queries[3].samples[7]", for messages


def _iter_samples(data: Mapping[str, Any], task: str, file: Path) -> Iterator[_Sample]:
    queries = _require_type(_require(data, "queries", file=file), list, file=file, key="queries")
    positions: Counter[tuple[str, int, str]] = Counter()
    for q, query in enumerate(queries):
        where = f"queries[{q}]."
        query = _require_type(query, dict, file=file, key=f"queries[{q}]")
        function = _require(query, "function", file=file, where=where)
        if function not in ("generate_text", "cond_log_prob"):
            raise DataFormatError(
                f"key '{where}function' is {function!r}, expected 'generate_text' or "
                f"'cond_log_prob'; {_FORMAT_HINT}",
                path=file,
                column=f"{where}function",
            )
        shots = _shots(_require(query, "shots", file=file, where=where), file, f"{where}shots")
        description = _require_type(
            _require(query, "task", file=file, where=where), str, file=file, key=f"{where}task"
        )
        subtask = _subtask_of(description, task)
        samples = _require_type(
            _require(query, "samples", file=file, where=where),
            list,
            file=file,
            key=f"{where}samples",
        )
        for s, sample in enumerate(samples):
            sample_where = f"queries[{q}].samples[{s}]"
            sample = _require_type(sample, dict, file=file, key=sample_where)
            if function == "generate_text":
                kind = "generate_text"
            elif "target_values" in sample:
                kind = "multiple_choice"
            else:
                kind = "scoring"
            key = (subtask, shots, kind)
            yield _Sample(subtask, shots, kind, positions[key], sample, sample_where)
            positions[key] += 1


def _shots(value: Any, file: Path, key: str) -> int:
    number = _number(value)
    if number is None or number != round(number) or number < -1:
        raise DataFormatError(
            f"key '{key}' is {value!r}, expected an integer number of shots (-1 where shots do "
            f"not apply); {_FORMAT_HINT}",
            path=file,
            column=key,
        )
    return int(number)


@dataclass
class _QueryTally:
    """What the queries of one (subtask, shots) say about its scores."""

    samples: Counter[str] = field(default_factory=Counter)  # query kind -> number of samples
    guess_value_sum: float = 0.0  # sum over multiple-choice samples of their mean choice value

    def n_items(self, metric: str) -> int | None:
        if metric in _METRICS_FROM_MULTIPLE_CHOICE:
            kinds: tuple[str, ...] = ("multiple_choice",)
        elif metric in _METRICS_FROM_SCORING:
            kinds = ("scoring",)
        elif metric in _METRICS_FROM_GENERATION:
            kinds = ("generate_text",)
        else:
            # A metric of unknown origin: its count is known only where all queries agree.
            counts = set(self.samples.values())
            return counts.pop() if len(counts) == 1 else None
        count = sum(self.samples[k] for k in kinds)
        return count or None

    def multiple_choice_chance(self) -> float:
        n = self.samples["multiple_choice"]
        return self.guess_value_sum / n if n else math.nan


def _tally_queries(
    data: Mapping[str, Any], task: str, file: Path
) -> dict[tuple[str, int], _QueryTally]:
    tallies: dict[tuple[str, int], _QueryTally] = {}
    for item in _iter_samples(data, task, file):
        tally = tallies.setdefault((item.subtask, item.shots), _QueryTally())
        tally.samples[item.kind] += 1
        if item.kind == "multiple_choice":
            values = _choice_values(item, file)
            tally.guess_value_sum += float(np.mean(values))
    return tallies


def _choice_values(item: _Sample, file: Path) -> list[float]:
    """Value of every choice of a multiple-choice sample, in the order of its ``targets``."""
    targets = _require_type(
        _require(item.sample, "targets", file=file, where=f"{item.where}."),
        list,
        file=file,
        key=f"{item.where}.targets",
    )
    target_values = _require_type(
        item.sample["target_values"], dict, file=file, key=f"{item.where}.target_values"
    )
    values = []
    for choice in targets:
        value = _number(target_values.get(choice))
        if value is None:
            raise DataFormatError(
                f"choice {choice!r} of '{item.where}' has no numeric entry in its "
                f"target_values; every choice in 'targets' needs a value ({_FORMAT_HINT})",
                path=file,
                column=f"{item.where}.target_values",
            )
        values.append(value)
    if not values:
        raise DataFormatError(
            f"'{item.where}.targets' is empty; a multiple-choice sample needs its choices",
            path=file,
            column=f"{item.where}.targets",
        )
    return values


# --------------------------------------------------------------------------------------------
# Evaluation table


@dataclass
class _FileRows:
    file: Path
    info: _ModelInfo
    has_queries: bool
    rows: list[dict[str, Any]]
    aggregate_values_dropped: int
    non_finite: list[str]  # "subtask/shots/metric" of excluded null/NaN/inf scores


def _scale_of(metric: str) -> float:
    if metric_kind_of(metric) in _PERCENT_KINDS or metric == AGGREGATE_METRIC:
        return 0.01
    return 1.0


def _rows_of_result_file(
    file: Path, *, root: Path, aggregates: Literal["drop", "keep"]
) -> _FileRows:
    data = load_json_object(file, expected=_EXPECTED_JSON)
    info = _header(data, file)
    scores = _require_type(_require(data, "scores", file=file), list, file=file, key="scores")
    if not scores:
        raise EmptyInputError(
            "has an empty 'scores' list; give a result file of a completed evaluation", path=file
        )
    has_queries = "queries" in data
    tallies = _tally_queries(data, info.task, file) if has_queries else {}
    entries = [_require_type(e, dict, file=file, key=f"scores[{i}]") for i, e in enumerate(scores)]
    descriptions = [
        _require_type(
            _require(e, "subtask_description", file=file, where=f"scores[{i}]."),
            str,
            file=file,
            key=f"scores[{i}].subtask_description",
        )
        for i, e in enumerate(entries)
    ]
    has_subtasks = any(":" in d for d in descriptions)

    rows: list[dict[str, Any]] = []
    dropped = 0
    non_finite: list[str] = []
    seen: dict[tuple[str, int, str], int] = {}
    source = f"{_READER_SOURCE}:{_relative(file, root)}"
    for i, (entry, description) in enumerate(zip(entries, descriptions, strict=True)):
        where = f"scores[{i}]."
        shots = _shots(
            _require(entry, "number_of_shots", file=file, where=where),
            file,
            f"{where}number_of_shots",
        )
        preferred = _require(entry, "preferred_score", file=file, where=where)
        score_dict = _require_type(
            _require(entry, "score_dict", file=file, where=where),
            dict,
            file=file,
            key=f"{where}score_dict",
        )
        is_aggregate = has_subtasks and ":" not in description and preferred == AGGREGATE_METRIC
        if is_aggregate and aggregates == "drop":
            dropped += len(score_dict)
            continue
        subtask = AGGREGATE_SUBTASK if is_aggregate else _subtask_of(description, info.task)
        low = _number(entry.get("low_score"))
        tally = tallies.get((subtask, shots))
        for metric, raw in score_dict.items():
            value = _number(raw)
            if value is None and raw is not None:
                raise DataFormatError(
                    f"'{where}score_dict.{metric}' is {raw!r:.60}, expected a number; "
                    f"{_FORMAT_HINT}",
                    path=file,
                    column=f"{where}score_dict.{metric}",
                )
            if value is None or not math.isfinite(value):
                non_finite.append(f"{description}/{shots}/{metric}")
                continue
            key = (subtask, shots, metric)
            if key in seen:
                raise DataFormatError(
                    f"entries scores[{seen[key]}] and scores[{i}] both hold metric {metric!r} "
                    f"for subtask {description!r} at {shots} shots; each (subtask, shots) must "
                    "appear once, so remove the repeated entry",
                    path=file,
                    column="scores",
                    rows=[seen[key], i],
                )
            seen[key] = i
            scale = _scale_of(metric)
            kind = "other" if is_aggregate else metric_kind_of(metric)
            chance = math.nan
            if (
                metric == preferred
                and low is not None
                and (kind in _CHANCE_KINDS or metric == AGGREGATE_METRIC)
            ):
                chance = low * scale
            elif kind == "multiple_choice_grade" and tally is not None:
                chance = tally.multiple_choice_chance()
            n_items = None if (tally is None or is_aggregate) else tally.n_items(metric)
            rows.append(
                {
                    "task": info.task,
                    "subtask": subtask,
                    "family": info.family,
                    "model": info.model,
                    "params": info.params,
                    "shots": shots,
                    "metric": metric,
                    "metric_kind": kind,
                    "score": value * scale,
                    "n_items": pd.NA if n_items is None else n_items,
                    "chance": chance,
                    "source": source,
                    "total_params": info.total_params,
                    "unit": _UNIT_OF_METRIC.get(metric),
                }
            )
    return _FileRows(file, info, has_queries, rows, dropped, non_finite)


def _one_file_per_model(parsed: Sequence[_FileRows]) -> tuple[list[_FileRows], list[Path]]:
    """Keep one file per (task, family, model): the full log where there are both."""
    groups: dict[tuple[str, str, str], list[_FileRows]] = {}
    for entry in parsed:
        key = (entry.info.task, entry.info.family, entry.info.model)
        groups.setdefault(key, []).append(entry)
    kept: list[_FileRows] = []
    superseded: list[Path] = []
    for (task, family, model), entries in groups.items():
        logs = [e for e in entries if e.has_queries]
        candidates = logs or entries
        if len(candidates) > 1:
            raise DataFormatError(
                f"holds the same task {task!r}, family {family!r} and model {model!r} as "
                f"{candidates[1].file}; keep only one of these files",
                path=candidates[0].file,
            )
        kept.append(candidates[0])
        superseded.extend(e.file for e in entries if e is not candidates[0])
    return kept, sorted(superseded)


def read_bigbench_results(
    path: str | Path, *, aggregates: Literal["drop", "keep"] = "drop"
) -> pd.DataFrame:
    """Read BIG-bench per-model result files into the canonical evaluation table.

    Parameters
    ----------
    path
        A BIG-bench checkout (its ``bigbench/benchmark_tasks/*/results/`` or
        ``benchmark_tasks/*/results/`` folders are read), a task folder, a results folder, any
        folder (searched recursively for ``scores_*.json`` and ``full-log_*.json``), or one
        result file.
    aggregates
        What to do with BIG-bench's aggregate entries: in a task with subtasks, the entries
        whose ``subtask_description`` is the bare task name and whose ``preferred_score`` is
        ``normalized_aggregate_score``. They average over subtasks, so they are not
        observations of a metric. ``"drop"`` (default) leaves them out, a documented exclusion
        counted in ``df.attrs["aggregate_values_dropped"]``. ``"keep"`` keeps every value of
        their ``score_dict`` with ``subtask="__aggregate__"`` and ``metric_kind="other"``, so
        that they form curves of their own and never join a metric's per-subtask curve.

    Returns
    -------
    pandas.DataFrame
        The validated evaluation table (see :mod:`emergestats.data.table`), one row per
        ``score_dict`` value, with the optional columns ``total_params`` and ``unit``. Columns:

        ``task``
            ``task.task_name``.
        ``subtask``
            The part after ``:`` in ``subtask_description``; the task name where there is none.
        ``family``, ``model``
            ``model.model_family`` and ``model.model_name`` of the file (never its name).
        ``params``
            ``model.flop_matched_non_embedding_params``, the scale BIG-bench plots against
            (a FLOP-equivalent dense size for sparse models); where it is missing or null,
            ``model.non_embedding_params``. ``total_params`` is ``model.total_params``.
        ``shots``
            ``number_of_shots`` (``-1`` kept: shots do not apply).
        ``metric``, ``metric_kind``
            The ``score_dict`` key and :func:`~emergestats.data.table.metric_kind_of` of it.
        ``score``
            The stored value; BLEU and ROUGE (stored in 0..100) and
            ``normalized_aggregate_score`` are divided by 100, everything else is kept as
            stored (fractions are already in 0..1, log-likelihoods in nats).
        ``chance``
            For the entry's ``preferred_score``: its ``low_score`` (BIG-bench's chance level,
            scaled like the score), where the metric is a rate (exact match, multiple-choice
            grade, accuracy, BLEU, ROUGE) or the aggregate. For a non-preferred
            ``multiple_choice_grade`` with a full log: the mean over its multiple-choice samples
            of the mean choice value (``1 / choices`` for one correct choice), the expected grade
            of a uniform guess. Otherwise NaN.
        ``n_items``
            From a full log: the number of samples of that subtask and shots in the queries the
            metric is computed from (multiple-choice ``cond_log_prob`` samples for
            multiple-choice grade, Brier score, calibration error and macro F1; scoring
            ``cond_log_prob`` samples for log-likelihoods; ``generate_text`` samples for string
            metrics); ``<NA>`` without a full log, for aggregates, and for a metric of unknown
            origin unless every query of the subtask has the same number of samples.
        ``source``
            ``"read_bigbench_results:<file>"``, the file relative to ``path`` (its name where
            ``path`` is a file).
        ``unit``
            ``word`` for ``log_likelihood_per_word`` and ``char`` for
            ``log_likelihood_per_char`` (each item's summed log-probability divided by its
            target's words or characters); ``<NA>`` otherwise, including ``log_likelihood``,
            a per-item sum over the target's tokens. BIG-bench reports no standard errors.

    Notes
    -----
    Where a scores file and a full-log file hold the same task, family and model (read from
    their contents), only the full log is read, because it also gives ``n_items``; the skipped
    files are listed in ``df.attrs["superseded_files"]``. Two files of the same kind for one
    model are an error. Score values that are ``null``, NaN or infinite are excluded with a
    ``UserWarning`` saying how many.

    Raises
    ------
    DataFormatError
        If a file is not valid JSON or misses a key; the message names the file and the key.
    EmptyInputError
        If a file is empty or the folder holds no result files.

    Examples
    --------
    >>> table = read_bigbench_results("BIG-bench")  # doctest: +SKIP
    >>> table.query("task == 'arithmetic' and metric == 'exact_str_match'")  # doctest: +SKIP
    """
    if aggregates not in ("drop", "keep"):
        raise ConfigError(f"aggregates={aggregates!r}; use 'drop' or 'keep'")
    root = Path(path)
    files = _find_result_files(root, patterns=_RESULT_PATTERNS)
    parsed = [_rows_of_result_file(f, root=root, aggregates=aggregates) for f in files]
    kept, superseded = _one_file_per_model(parsed)
    rows = [row for entry in kept for row in entry.rows]
    non_finite = [f"{e.file.name}: {what}" for e in kept for what in e.non_finite]
    if non_finite:
        warnings.warn(
            f"read_bigbench_results: excluded {len(non_finite)} score value(s) that are null, "
            f"NaN or infinite, which are not observations (first: {non_finite[0]})",
            UserWarning,
            stacklevel=2,
        )
    if not rows:
        raise EmptyInputError(
            "the result files hold no per-subtask scores (only aggregate entries or excluded "
            "values); pass aggregates='keep' to read the aggregates",
            path=root,
        )
    frame = pd.DataFrame(rows)
    frame["n_items"] = frame["n_items"].astype("Int64")
    frame = frame.sort_values(
        ["task", "subtask", "family", "params", "model", "shots", "metric"], kind="mergesort"
    )
    table = validate(frame, path=root)
    table.attrs["aggregate_values_dropped"] = sum(e.aggregate_values_dropped for e in kept)
    table.attrs["superseded_files"] = tuple(str(f) for f in superseded)
    return table


# --------------------------------------------------------------------------------------------
# Item table


def _item_row(item: _Sample, *, file: Path, tokenizer: Tokenizer | None) -> dict[str, Any]:
    sample = item.sample
    where = f"{item.where}."
    if item.kind == "multiple_choice":
        values = _choice_values(item, file)
        targets = sample["targets"]
        scores = _logprobs(
            _require(sample, "scores", file=file, where=where),
            file,
            f"{where}scores",
            expected=len(targets),
        )
        ones = [c for c, v in enumerate(values) if v == 1]
        # The choice valued 1 is the correct one; with partial credit and no 1, the best-valued.
        correct_choice = ones[0] if ones else int(np.argmax(values))
        stored = sample.get("correct")
        if isinstance(stored, bool) or stored in (0, 1):
            correct = int(stored)
        else:
            correct = int(int(np.argmax(scores)) == correct_choice)
        return {
            "target_tokens": answer_length(str(targets[correct_choice]), tokenizer=tokenizer),
            "logprob": scores[correct_choice],
            "correct": correct,
            "choice_logprobs": tuple(scores),
            "correct_choice": correct_choice,
        }
    targets = _targets(_require(sample, "targets", file=file, where=where), file, f"{where}targets")
    if item.kind == "generate_text":
        output = _require_type(
            _require(sample, "output", file=file, where=where),
            str,
            file=file,
            key=f"{where}output",
        )
        answers = {t.strip() for t in targets}
        return {
            "target_tokens": answer_length(targets[0], tokenizer=tokenizer),
            "logprob": math.nan,
            "correct": int(output.strip() in answers),
            "choice_logprobs": None,
            "correct_choice": pd.NA,
        }
    raw_scores = _require(sample, "scores", file=file, where=where)
    scores = _logprobs(
        raw_scores if isinstance(raw_scores, list) else [raw_scores],
        file,
        f"{where}scores",
        expected=None,
    )
    return {
        "target_tokens": answer_length(targets[0], tokenizer=tokenizer),
        "logprob": scores[0],
        "correct": pd.NA,
        "choice_logprobs": None,
        "correct_choice": pd.NA,
    }


def _targets(value: Any, file: Path, key: str) -> list[str]:
    targets = [value] if isinstance(value, str) else value
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise DataFormatError(
            f"key '{key}' is {value!r:.60}, expected a string or a non-empty list of strings; "
            f"{_FORMAT_HINT}",
            path=file,
            column=key,
        )
    return targets


def _logprobs(value: Any, file: Path, key: str, *, expected: int | None) -> list[float]:
    numbers = [_number(v) for v in value] if isinstance(value, list) else [None]
    if (
        not numbers
        or any(n is None for n in numbers)
        or (expected is not None and len(numbers) != expected)
    ):
        size = "" if expected is None else f" of {expected} numbers (one per choice)"
        raise DataFormatError(
            f"key '{key}' is {value!r:.60}, expected a list{size} of log-probabilities; "
            f"{_FORMAT_HINT}",
            path=file,
            column=key,
        )
    return [float(n) for n in numbers if n is not None]


def read_bigbench_items(path: str | Path, *, tokenizer: Tokenizer | None = None) -> pd.DataFrame:
    """Read the queries of BIG-bench full-log files into the canonical item table.

    Parameters
    ----------
    path
        A BIG-bench checkout, a task or results folder, any folder (searched recursively for
        ``full-log_*.json``), or one full-log file. ``scores_*.json`` files hold no queries and
        are not read.
    tokenizer
        Passed to :func:`answer_length` for ``target_tokens``; ``None`` uses
        :data:`LENGTH_APPROXIMATION`.

    Returns
    -------
    pandas.DataFrame
        The validated item table (see :mod:`emergestats.data.table`) with the optional columns
        ``correct_choice`` and ``total_params``; one row per query sample. Family, model and
        parameters are read as in :func:`read_bigbench_results`. By kind of sample:

        multiple choice (``cond_log_prob`` with ``target_values``)
            ``choice_logprobs`` = ``scores``; ``correct_choice`` = position of the first choice
            whose value is 1 (the best-valued choice where partial credit leaves none at 1);
            ``logprob`` = its score; ``correct`` = the sample's ``correct`` where it is 0/1,
            else whether the highest-scored choice is the correct one; ``target_tokens`` =
            length of the correct choice.
        ``generate_text``
            ``correct`` = 1 if ``output`` equals any target after stripping surrounding
            whitespace (BIG-bench's ``exact_str_match`` on the post-processed output);
            ``logprob`` NaN; ``target_tokens`` = length of the first target.
        scoring (``cond_log_prob`` without ``target_values``)
            ``logprob`` = the score of the first target, ``correct`` <NA>;
            ``target_tokens`` = length of the first target.

        ``item`` is ``"<kind>:<position>"``, with ``kind`` one of :data:`QUERY_KINDS` and
        ``position`` the sample's position among the samples of that kind for its subtask and
        shots (in file order). The kind is part of the id because one subtask is often queried
        both ways (e.g. arithmetic: ``generate_text`` for exact match and multiple-choice
        ``cond_log_prob`` for multiple-choice grade), and those samples are not matched to each
        other. ``source`` is ``"read_bigbench_items:<file>"``, named as in
        :func:`read_bigbench_results`.

    Raises
    ------
    DataFormatError
        If a file is not valid JSON, has no ``queries`` or misses a key; the message names the
        file and the key.
    EmptyInputError
        If a file is empty or the folder holds no full-log files.
    """
    root = Path(path)
    files = _find_result_files(root, patterns=_FULL_LOG_PATTERNS)
    per_file: list[_FileRows] = []
    for file in files:
        data = load_json_object(file, expected=_EXPECTED_JSON)
        info = _header(data, file)
        if "queries" not in data:
            raise DataFormatError(
                "has no key 'queries', so it holds no item-level data; give a full-log_*.json "
                "file (scores_*.json files hold scores but no queries)",
                path=file,
                column="queries",
            )
        source = f"{_ITEMS_SOURCE}:{_relative(file, root)}"
        rows = []
        for item in _iter_samples(data, info.task, file):
            row = _item_row(item, file=file, tokenizer=tokenizer)
            row.update(
                task=info.task,
                subtask=item.subtask,
                family=info.family,
                model=info.model,
                params=info.params,
                shots=item.shots,
                item=f"{item.kind}:{item.position}",
                source=source,
                total_params=info.total_params,
            )
            rows.append(row)
        per_file.append(_FileRows(file, info, True, rows, 0, []))
    kept, _ = _one_file_per_model(per_file)
    rows = [row for entry in kept for row in entry.rows]
    if not rows:
        raise EmptyInputError(
            "the full-log files hold no query samples; item-level data needs full logs with "
            "non-empty 'queries'",
            path=root,
        )
    frame = pd.DataFrame(rows).sort_values(
        ["task", "subtask", "family", "params", "model", "shots"], kind="mergesort"
    )
    return validate_items(frame, path=root)


# --------------------------------------------------------------------------------------------
# Task definitions


def _find_task_files(path: Path) -> tuple[Path, list[Path]]:
    if not path.exists():
        raise DataFormatError(
            "no such file or folder; give a folder of BIG-bench task definitions (task.json)",
            path=path,
        )
    if path.is_file():
        return path.parent, [path]
    root = _benchmark_tasks_dir(path) or path
    files = sorted(root.rglob("task.json"))
    if not files:
        raise EmptyInputError(
            "the folder holds no task.json files; point to a BIG-bench checkout or its "
            "benchmark_tasks folder",
            path=path,
        )
    return root, files


def _has_subtask_folders(folder: Path) -> bool:
    return any(child.is_dir() and (child / "task.json").is_file() for child in folder.iterdir())


def _example_answer(example: Any, *, file: Path, index: int) -> tuple[str, list[float] | None]:
    """The answer text of an example and, for multiple choice, the values of its choices."""
    where = f"examples[{index}]"
    if not isinstance(example, dict):
        raise DataFormatError(
            f"'{where}' is not an object; every example needs 'input' and 'target' or "
            "'target_scores'",
            path=file,
            column=where,
            rows=[index],
        )
    values: list[float] | None = None
    best_choice: str | None = None
    if "target_scores" in example:
        scores = example["target_scores"]
        numbers = [_number(v) for v in scores.values()] if isinstance(scores, dict) else []
        if not numbers or any(n is None for n in numbers):
            raise DataFormatError(
                f"'{where}.target_scores' is {scores!r:.60}, expected a non-empty object "
                "mapping each choice to a number",
                path=file,
                column=f"{where}.target_scores",
                rows=[index],
            )
        values = [float(n) for n in numbers if n is not None]
        best_choice = list(scores)[int(np.argmax(values))]
    if "target" in example:
        return _targets(example["target"], file, f"{where}.target")[0], values
    if best_choice is not None:
        return best_choice, values
    raise DataFormatError(
        f"'{where}' has neither 'target' nor 'target_scores'; every example needs one",
        path=file,
        column=where,
        rows=[index],
    )


def read_bigbench_tasks(path: str | Path, *, tokenizer: Tokenizer | None = None) -> pd.DataFrame:
    """Summarise BIG-bench task definitions (``task.json``): items, choices, answer lengths.

    Parameters
    ----------
    path
        A folder holding ``<task>/task.json`` and ``<task>/<subtask>/task.json`` files (searched
        recursively; in a BIG-bench checkout, its ``benchmark_tasks`` folder), a single task
        folder, or one ``task.json``.
    tokenizer
        A callable mapping an answer to its tokens, used for answer lengths; ``None`` uses the
        approximation :data:`LENGTH_APPROXIMATION` (see :func:`answer_length`).

    Returns
    -------
    pandas.DataFrame
        One row per (task, subtask), sorted by both. A task.json whose folder has subtask
        folders and which holds no examples (BIG-bench's parent tasks) gives no row of its own.

        ``task``
            The task's folder name (what ``task.task_name`` in result files holds).
        ``subtask``
            For a subtask, the ``name`` of its task.json (BIG-bench names a subtask's scores
            ``<task>:<name>``; the folder name is used where ``name`` is missing); the task name
            for a task without subtasks.
        ``n_items``
            Number of examples.
        ``n_multiple_choice``
            Examples with ``target_scores`` (multiple-choice items).
        ``n_choices``, ``n_choices_min``, ``n_choices_max``
            Most common (the smaller on a tie), smallest and largest number of choices of the
            multiple-choice items; ``<NA>`` without any.
        ``chance``
            Expected ``multiple_choice_grade`` of a uniform guess: the mean over
            multiple-choice items of the mean choice value, i.e. ``1 / choices`` averaged over
            items when one choice is right (items with several right choices or partial credit
            count exactly). NaN without multiple-choice items.
        ``target_lengths``
            Tuple of every item's answer length: its ``target`` (the first one where
            ``target`` is a list of acceptable answers), or for multiple-choice-only items its
            best-valued choice.
        ``target_tokens_mean``
            Mean of ``target_lengths``.
        ``length_approximation``
            The rule the lengths follow: :data:`LENGTH_APPROXIMATION` or the tokenizer's name.
        ``preferred_score``, ``metrics``
            From the task.json (a subtask without them inherits its parent's); ``metrics`` is a
            tuple.
        ``path``
            The task.json the row came from.

    Raises
    ------
    DataFormatError
        If a task.json is not valid JSON or an example has no target; the message names the
        file.
    EmptyInputError
        If the folder holds no task.json or a task has neither examples nor subtasks.
    """
    root, files = _find_task_files(Path(path))
    rule = _length_rule(tokenizer)
    parents: dict[Path, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    origin: dict[tuple[str, str], Path] = {}
    for file in files:
        data = load_json_object(file, expected=_EXPECTED_JSON)
        folder = file.parent
        parent_file = folder.parent / "task.json"
        is_subtask = parent_file.is_file()
        examples = data.get("examples") or []
        if not isinstance(examples, list):
            raise DataFormatError(
                "key 'examples' is not a list; a task.json lists its examples there",
                path=file,
                column="examples",
            )
        if not examples:
            if not is_subtask and _has_subtask_folders(folder):
                continue  # a parent task: its items are its subtasks'
            raise EmptyInputError(
                "has no examples and no subtask folders; give a JSON task with 'examples'",
                path=file,
                column="examples",
            )
        if is_subtask:
            if parent_file not in parents:
                parents[parent_file] = load_json_object(parent_file, expected=_EXPECTED_JSON)
            parent = parents[parent_file]
            task = folder.parent.name
            name = data.get("name")
            # BIG-bench labels a subtask's scores "<task>:<name>", so the name is the join key.
            subtask = name.split(":", 1)[-1] if isinstance(name, str) and name else folder.name
        else:
            parent = {}
            task = subtask = folder.name
        if (task, subtask) in origin:
            raise DataFormatError(
                f"defines task {task!r} subtask {subtask!r} again (first in "
                f"{origin[(task, subtask)]}); give each subtask a distinct name",
                path=file,
            )
        origin[(task, subtask)] = file

        lengths: list[int] = []
        choice_counts: list[int] = []
        guess_values: list[float] = []
        for index, example in enumerate(examples):
            answer, values = _example_answer(example, file=file, index=index)
            lengths.append(answer_length(answer, tokenizer=tokenizer))
            if values is not None:
                choice_counts.append(len(values))
                guess_values.append(float(np.mean(values)))
        counts = Counter(choice_counts)
        typical = min(c for c, k in counts.items() if k == max(counts.values())) if counts else None
        metrics = data.get("metrics", parent.get("metrics", ()))
        rows.append(
            {
                "task": task,
                "subtask": subtask,
                "n_items": len(examples),
                "n_multiple_choice": len(choice_counts),
                "n_choices": typical,
                "n_choices_min": min(choice_counts) if choice_counts else None,
                "n_choices_max": max(choice_counts) if choice_counts else None,
                "chance": float(np.mean(guess_values)) if guess_values else math.nan,
                "target_tokens_mean": float(np.mean(lengths)),
                "target_lengths": tuple(lengths),
                "length_approximation": rule,
                "preferred_score": data.get("preferred_score", parent.get("preferred_score")),
                "metrics": tuple(str(m) for m in metrics),
                "path": str(file),
            }
        )
    if not rows:
        raise EmptyInputError(
            "holds only parent tasks without examples; point to the folder above their "
            "subtask folders",
            path=root,
        )
    table = pd.DataFrame(rows)
    for column in ("n_items", "n_multiple_choice", "n_choices", "n_choices_min", "n_choices_max"):
        table[column] = table[column].astype("Int64")
    for column in ("task", "subtask", "length_approximation", "preferred_score", "path"):
        table[column] = table[column].astype(object)
    return table.sort_values(["task", "subtask"], kind="mergesort").reset_index(drop=True)
