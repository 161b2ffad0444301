"""Reader for the open_lm over-training testbed (Gadre et al. 2024, ``mlfoundations/scaling``).

104 models of 6 sizes trained by one team on 3 corpora with token budgets from 0.25x to 32x
Chinchilla's 20 tokens per parameter, each evaluated on 46 in-context tasks with LLM Foundry.
Files, under ``exp_data/``:

``models/<name>.json``
    ``name``, ``dataset_name`` (the pre-training corpus: ``c4_original``, ``rpj``,
    ``rw_original``) and ``hyperparameters`` with ``params``, ``params_no_embed``, ``tokens``,
    ``chinchilla_multiplier`` and ``model`` (the architecture); ``results`` holds one validation
    loss per held-out set.
``evals/evaluation_<name>_heavy.json``
    ``eval_metrics.icl``: task -> accuracy (0..1). The file name is the only link to the model:
    the ``model`` field inside names only the architecture, shared by up to 24 models. This is
    how the authors' own loader (``scaling/shared.py``) pairs them.
``eval_metadata.csv``
    Per task: ``Task Type``, ``#shots``, ``#datapoints`` and ``Random baseline`` (percent).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from emergestats.data.json_files import load_json_object
from emergestats.data.table import validate
from emergestats.errors import DataFormatError, EmptyInputError

__all__ = ["BIGBENCH_TASK_NAMES", "LOSS_SET", "read_open_lm"]

_EVAL_NAME: Final = re.compile(r"^evaluation_(?P<model>.+)_heavy\.json$")

#: Held-out set whose loss becomes the ``loss`` column: the authors' "C4 eval"
#: (``VAL_FRIENDLIES['c4_val']`` in ``scaling/constants.py``), the loss they relate to
#: downstream error; 174M tokens, the largest of the eight.
LOSS_SET: Final = "c4_val"

#: LLM Foundry task type (metadata ``Task Type``) -> (metric, metric_kind).
_METRIC_BY_TASK_TYPE: Final[dict[str, tuple[str, str]]] = {
    # InContextLearningMultipleChoiceAccuracy: the choice with the highest likelihood is right
    "multiple choice": ("multiple_choice_accuracy", "multiple_choice_grade"),
    # schema tasks (Winograd): the same argmax over two candidate contexts
    "schema": ("multiple_choice_accuracy", "multiple_choice_grade"),
    # InContextLearningLMAccuracy: right only if every answer token is the greedy token
    "language modeling": ("lm_accuracy", "exact_match"),
    # InContextLearningQAAccuracy: generated answer matches a reference after normalisation
    "question answering": ("qa_accuracy", "exact_match"),
}

#: LLM Foundry's BIG-bench task labels -> BIG-bench task names, so that answer lengths and
#: item counts can be looked up in the BIG-bench task definitions. Other labels are kept.
BIGBENCH_TASK_NAMES: Final[dict[str, str]] = {
    "bigbench_strategy_qa": "strategyqa",  # the only one that is not the label minus the prefix
}

#: Known errors in ``eval_metadata.csv``'s ``#datapoints``: task -> (value there, true count).
#: arc_challenge repeats ARC-Easy's 2376 (and its description); every one of the 104 scores
#: is k/1172, the ARC-Challenge test set size. Applied only while the file still says 2376.
_ITEM_COUNT_CORRECTIONS: Final[dict[str, tuple[int, int]]] = {"arc_challenge": (2376, 1172)}

_METADATA_COLUMNS: Final = ("Eval Task", "Task Type", "#shots", "#datapoints", "Random baseline")


@dataclass(frozen=True)
class _TaskInfo:
    shots: int
    n_items: int
    chance: float
    metric: str
    metric_kind: str


@dataclass(frozen=True)
class _ModelInfo:
    name: str
    family: str
    params_no_embed: float
    params: float
    tokens: float
    loss: float
    architecture: str


def read_open_lm(path: str | Path) -> pd.DataFrame:
    """Read the open_lm testbed's downstream accuracies into the canonical evaluation table.

    Parameters
    ----------
    path
        The ``mlfoundations/scaling`` checkout (or its ``exp_data`` folder).

    Returns
    -------
    pandas.DataFrame
        One row per (model, task), validated, with the optional columns ``total_params``,
        ``tokens``, ``flops`` and ``loss``.

    Raises
    ------
    DataFormatError
        If a folder or file is missing, empty or unreadable; a JSON key or metadata column is
        missing or not numeric; an eval file cannot be paired with a model file (the message
        counts and names them); or a task is absent from ``eval_metadata.csv``.

    Notes
    -----
    **Families.** ``family`` = ``open_lm/<dataset_name>/M=<tokens per parameter>``, e.g.
    ``open_lm/rw_original/M=20``: models trained on one corpus with one token multiplier M
    (= 20 x ``chinchilla_multiplier``; the paper's notation, M=20 is compute-optimal), so
    that within a family only the size changes. There are 3 corpora x 8 multipliers = 24
    families; the M=20 families have all 6 sizes (10.6M to 6.9B total parameters), the others
    3 to 5.
    ``model`` is the model file's ``name`` (e.g. ``rw_original-d=96_l=8_h=4-1.0``), unique.

    **Scale.** ``params`` = ``params_no_embed``, the non-embedding count: the embedding
    matrix (50k-token vocabulary x width) is 46% of the smallest model and 3% of the largest,
    and Kaplan et al. found the non-embedding count gives the cleaner power law.
    ``total_params`` = ``params`` (the authors' N; their token budget is 20 x M/20 x N).
    ``tokens`` = ``tokens``; ``flops`` = 6 x total params x tokens, as the authors compute it;
    ``loss`` = the validation loss on ``c4_val`` (:data:`LOSS_SET`), NaN where a model has
    none.

    **Metrics.** By ``Task Type``: multiple choice and schema -> ``multiple_choice_accuracy``
    (kind ``multiple_choice_grade``); language modeling -> ``lm_accuracy`` (kind
    ``exact_match``: the whole answer must be the greedy continuation); question answering ->
    ``qa_accuracy`` (kind ``exact_match``). ``shots`` = ``#shots``, ``chance`` =
    ``Random baseline`` / 100 (0 for the language-modelling tasks), ``n_items`` =
    ``#datapoints``, except arc_challenge, corrected from 2376 to 1172 (see
    ``_ITEM_COUNT_CORRECTIONS``). The scores of mmlu, mmlu_zeroshot, jeopardy and bbq are
    means over categories, not over items (LLM Foundry's ``has_categories``), so they are not
    exactly k / n_items.

    **Chance.** The metadata's own ``Random baseline`` is kept, also where it disagrees with
    the number of choices of the dataset (:mod:`emergestats.data.choices`, which cites each):
    ``siqa`` 50% (Social IQa has 3 answers: 33.3%), ``bbq`` 50% (3: 33.3%),
    ``commonsense_qa``, ``math_qa`` and the three ``agi_eval_lsat_*`` 25% (5 options: 20%),
    ``understanding_fables`` 25% (5 choices in BIG-bench's task: 20%), ``logical_deduction``
    25% (3, 5 and 7 choices: 20%), ``novel_concepts`` 25% (19.4%) and ``strange_stories`` 50%
    (32.6%). LLM Foundry's reformatted copies of these tasks are not in the local files, so
    which is right is not checked here; ``tests/test_read_open_lm.py`` records the list.

    **Tasks.** ``task`` = ``subtask`` = the LLM Foundry label, except the 15 ``bigbench_*``
    labels, which become the BIG-bench task name (``bigbench_qa_wikidata`` -> ``qa_wikidata``,
    ``bigbench_strategy_qa`` -> ``strategyqa``); their item counts match the BIG-bench task
    definitions to within a few items. Tasks listed in the metadata but never evaluated
    (gsm8k, svamp, aqua, agi_eval_sat_math, triviaqa_sm_sub) give no rows, nor would a model
    file without an eval file (none on the real data: 104 of each, all paired).
    """
    root = _exp_data_folder(Path(path))
    metadata = _read_metadata(root / "eval_metadata.csv")
    models = _read_models(root / "models")
    eval_files = _eval_files(root / "evals")

    unpaired = [name for name in eval_files if name not in models]
    if unpaired:
        raise DataFormatError(
            f"{len(unpaired)} eval file(s) have no model file models/<name>.json "
            f"({', '.join(unpaired[:5])}); every evaluation_<name>_heavy.json needs its model",
            path=root / "evals",
        )

    records: list[dict[str, object]] = []
    for name, eval_path in sorted(eval_files.items()):
        model = models[name]
        scores = _read_eval(eval_path, architecture=model.architecture)
        source = f"read_open_lm:evals/{eval_path.name}"
        for label, score in scores.items():
            info = metadata.get(label)
            if info is None:
                raise DataFormatError(
                    f"task {label!r} is not in eval_metadata.csv, so its shots, item count and "
                    "chance are unknown; add a row for it",
                    path=eval_path,
                    column=label,
                )
            task = _canonical_task(label)
            records.append(
                {
                    "task": task,
                    "subtask": task,
                    "family": model.family,
                    "model": model.name,
                    "params": model.params_no_embed,
                    "shots": info.shots,
                    "metric": info.metric,
                    "metric_kind": info.metric_kind,
                    "score": score,
                    "n_items": info.n_items,
                    "chance": info.chance,
                    "source": source,
                    "total_params": model.params,
                    "tokens": model.tokens,
                    "flops": 6.0 * model.params * model.tokens,
                    "loss": model.loss,
                }
            )
    if not records:
        raise EmptyInputError("the eval files hold no task scores", path=root / "evals")
    return validate(pd.DataFrame.from_records(records), path=root)


def _canonical_task(label: str) -> str:
    if label in BIGBENCH_TASK_NAMES:
        return BIGBENCH_TASK_NAMES[label]
    return label.removeprefix("bigbench_")


def _exp_data_folder(path: Path) -> Path:
    if not path.exists():
        raise DataFormatError(
            "no such folder; give the mlfoundations/scaling checkout or its exp_data folder",
            path=path,
        )
    if not path.is_dir():
        raise DataFormatError(
            "is a file; give the mlfoundations/scaling checkout or its exp_data folder", path=path
        )
    if not any(path.iterdir()):
        raise EmptyInputError(
            "the folder is empty; it should hold exp_data/ (models/, evals/, eval_metadata.csv)",
            path=path,
        )
    root = path / "exp_data" if (path / "exp_data").is_dir() else path
    for part in ("models", "evals", "eval_metadata.csv"):
        if not (root / part).exists():
            raise DataFormatError(
                f"has no {part}; give the mlfoundations/scaling checkout or its exp_data folder",
                path=root,
            )
    return root


def _read_metadata(path: Path) -> dict[str, _TaskInfo]:
    if path.stat().st_size == 0:
        raise EmptyInputError(
            "the file is empty; expected eval_metadata.csv with a header", path=path
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = [c.strip() for c in reader.fieldnames or []]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    missing = [c for c in _METADATA_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"missing column(s) {', '.join(repr(c) for c in missing)}; eval_metadata.csv needs "
            f"{', '.join(repr(c) for c in _METADATA_COLUMNS)}",
            path=path,
            column=missing[0],
        )
    if not rows:
        raise EmptyInputError("the file has a header but no task rows", path=path)
    tasks: dict[str, _TaskInfo] = {}
    for index, row in enumerate(rows):
        label = row["Eval Task"]
        if label in tasks or not label:
            raise DataFormatError(
                f"column 'Eval Task' is empty or repeats {label!r} in row {index}; each task "
                "needs exactly one row",
                path=path,
                column="Eval Task",
                rows=[index],
            )
        task_type = row["Task Type"]
        if task_type not in _METRIC_BY_TASK_TYPE:
            raise DataFormatError(
                f"column 'Task Type' has unknown value {task_type!r} in row {index}; expected one "
                f"of {', '.join(_METRIC_BY_TASK_TYPE)}",
                path=path,
                column="Task Type",
                rows=[index],
            )
        shots = _metadata_number(row, "#shots", index, path)
        n_items = _metadata_number(row, "#datapoints", index, path)
        baseline = _metadata_number(row, "Random baseline", index, path)
        if shots != int(shots) or n_items != int(n_items) or n_items <= 0:
            raise DataFormatError(
                f"'#shots' and '#datapoints' must be whole numbers (items > 0) in row {index}",
                path=path,
                column="#datapoints",
                rows=[index],
            )
        wrong, right = _ITEM_COUNT_CORRECTIONS.get(label, (-1, -1))
        metric, kind = _METRIC_BY_TASK_TYPE[task_type]
        tasks[label] = _TaskInfo(
            shots=int(shots),
            n_items=right if int(n_items) == wrong else int(n_items),
            chance=baseline / 100.0,  # the file gives percent
            metric=metric,
            metric_kind=kind,
        )
    return tasks


def _metadata_number(row: dict[str, str], column: str, index: int, path: Path) -> float:
    try:
        value = float(row[column])
    except ValueError:
        raise DataFormatError(
            f"column {column!r} is not numeric in row {index} ({row[column]!r}); expected a number",
            path=path,
            column=column,
            rows=[index],
        ) from None
    if not math.isfinite(value):
        raise DataFormatError(
            f"column {column!r} is not finite in row {index}",
            path=path,
            column=column,
            rows=[index],
        )
    return value


def _get(payload: dict[str, Any], dotted: str, path: Path) -> Any:
    value: Any = payload
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DataFormatError(
                f"has no key {dotted!r}; the file should follow the mlfoundations/scaling layout",
                path=path,
                column=dotted,
            )
        value = value[key]
    return value


def _positive_number(payload: dict[str, Any], dotted: str, path: Path) -> float:
    value = _get(payload, dotted, path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise DataFormatError(
            f"key {dotted!r} is {value!r}; expected a positive number", path=path, column=dotted
        )
    return float(value)


def _read_models(folder: Path) -> dict[str, _ModelInfo]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise EmptyInputError("holds no model .json files", path=folder)
    models: dict[str, _ModelInfo] = {}
    for path in files:
        payload = load_json_object(path, expected="an mlfoundations/scaling JSON object")
        name = _get(payload, "name", path)
        if name != path.stem:
            raise DataFormatError(
                f"key 'name' is {name!r} but the file is named {path.name}; they must agree "
                "(evals are paired with models by name)",
                path=path,
                column="name",
            )
        dataset = _get(payload, "dataset_name", path)
        multiplier = _positive_number(payload, "hyperparameters.chinchilla_multiplier", path)
        models[name] = _ModelInfo(
            name=name,
            family=f"open_lm/{dataset}/M={20 * multiplier:g}",
            params_no_embed=_positive_number(payload, "hyperparameters.params_no_embed", path),
            params=_positive_number(payload, "hyperparameters.params", path),
            tokens=_positive_number(payload, "hyperparameters.tokens", path),
            loss=_validation_loss(payload, path),
            # the config path's stem: d=96_l=8_h=4, open_lm_1b, ...
            architecture=str(_get(payload, "hyperparameters.model", path))
            .rsplit("/", 1)[-1]
            .removesuffix(".json"),
        )
    return models


def _validation_loss(payload: dict[str, Any], path: Path) -> float:
    """The loss on :data:`LOSS_SET`, NaN if the model has no such result."""
    results = payload.get("results", [])
    if not isinstance(results, list):
        raise DataFormatError("key 'results' is not a list", path=path, column="results")
    for result in results:
        sets = result.get("val_data", []) if isinstance(result, dict) else []
        if any(f"/{LOSS_SET}/" in str(s) for s in sets):
            loss = result.get("loss")
            if isinstance(loss, bool) or not isinstance(loss, int | float) or not loss > 0:
                raise DataFormatError(
                    f"the {LOSS_SET} result has loss {loss!r}; expected a positive number",
                    path=path,
                    column="results.loss",
                )
            return float(loss)
    return math.nan


def _eval_files(folder: Path) -> dict[str, Path]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise EmptyInputError("holds no eval .json files", path=folder)
    by_model: dict[str, Path] = {}
    for path in files:
        match = _EVAL_NAME.match(path.name)
        if match is None:
            raise DataFormatError(
                "is not named evaluation_<model name>_heavy.json, so it cannot be paired with a "
                "model; rename or remove it",
                path=path,
            )
        by_model[match["model"]] = path
    return by_model


def _read_eval(path: Path, *, architecture: str) -> dict[str, float]:
    payload = load_json_object(path, expected="an mlfoundations/scaling JSON object")
    evaluated = payload.get("model")
    if evaluated is not None and evaluated != architecture:
        raise DataFormatError(
            f"key 'model' is {evaluated!r} but the paired model file has architecture "
            f"{architecture!r}; the file name pairs it with the wrong model",
            path=path,
            column="model",
        )
    scores = _get(payload, "eval_metrics.icl", path)
    if not isinstance(scores, dict) or not scores:
        raise DataFormatError(
            "key 'eval_metrics.icl' holds no task scores", path=path, column="eval_metrics.icl"
        )
    out: dict[str, float] = {}
    for label, value in scores.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise DataFormatError(
                f"task {label!r} has score {value!r}; expected a number in 0..1",
                path=path,
                column=label,
            )
        out[label] = float(value)
    return out
