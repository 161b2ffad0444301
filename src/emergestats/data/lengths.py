"""Per-item answer lengths, in tokens, of the generated answers of an evaluation table.

The forward maps of exact match, pass@k, a summed log-likelihood and a token edit distance
depend on how many tokens an answer has (``lengths`` of the model builders: ``(task,
subtask)`` -> per-item lengths). Real result tables do not carry them; :func:`default_lengths`
supplies them where the package can know them, from two sources:

* the BIG-bench task definitions (``task.json``, read by
  :func:`emergestats.data.read_bigbench_tasks`): every item's target;
* the generation rule of GPT-3's arithmetic tasks (Brown et al. 2020, section 3.9.1), from
  which the distribution of the answer's length follows exactly.

:func:`unknown_length_tasks` lists the (task, subtask) pairs of a table that need lengths and got
none, with the reason (:data:`NO_LENGTH_TASKS` documents the known ones). Lengths follow
:data:`emergestats.data.bigbench.LENGTH_APPROXIMATION`: a number counts one token per character
(digits and minus sign), any other answer one token per whitespace-separated word.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from emergestats.data.bigbench import read_bigbench_tasks
from emergestats.data.obsscaling import OBSSCALING_COLUMN_MAP
from emergestats.data.open_lm import BIGBENCH_TASK_NAMES
from emergestats.errors import ConfigError

__all__ = [
    "ARITHMETIC_ITEMS",
    "GPT3_ARITHMETIC_TASKS",
    "LENGTH_KINDS",
    "NO_LENGTH_PREFIXES",
    "NO_LENGTH_TASKS",
    "default_lengths",
    "gpt3_arithmetic_length_distribution",
    "gpt3_arithmetic_lengths",
    "unknown_length_tasks",
]

#: Metric kinds whose forward map needs answer lengths (``log_likelihood`` only where the score
#: is a sum over the answer's tokens; see :func:`default_lengths`).
LENGTH_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "pass_at_k",
    "log_likelihood",
    "edit_distance",
)

#: Items per GPT-3 arithmetic task (Brown et al. 2020: 2,000 random problems each); the size of
#: the representative arrays :func:`gpt3_arithmetic_lengths` returns by default.
ARITHMETIC_ITEMS: Final[int] = 2000

#: GPT-3 arithmetic tasks: lm-evaluation-harness code (``arithmetic_<code>``) -> the name the
#: ObsScaling reader gives them (subtask of task ``gpt3_arithmetic``).
GPT3_ARITHMETIC_TASKS: Final[dict[str, str]] = {
    prefix.removeprefix("arithmetic_"): task.subtask
    for prefix, task in OBSSCALING_COLUMN_MAP.items()
    if task.task == "gpt3_arithmetic"
}
_GPT3_ARITHMETIC_TASK: Final = "gpt3_arithmetic"
_LM_EVAL_ARITHMETIC = re.compile(r"^arithmetic_(?P<code>[1-5]d[asmc])$")
_CODE = re.compile(r"^(?P<digits>[1-5])d(?P<op>[asmc])$")

_NOT_IN_MIRRORS = "its items are not in the package's data sources, so their answers are unknown"
_ONE_WORD = (
    "the answer is one word, whose number of tokens depends on the tokenizer (no file records "
    "it; the readers leave target_tokens empty for the same reason)"
)
_GROUPED = (
    "em counts groups of items answered all right, a choice score: answer lengths do not apply"
)

#: Tasks that need answer lengths and get none from :func:`default_lengths`, with the reason;
#: looked up by subtask, then task (exact names, then :data:`NO_LENGTH_PREFIXES`).
NO_LENGTH_TASKS: Final[dict[str, str]] = {
    # open_lm testbed (LLM Foundry labels)
    "coqa": "CoQA (Reddy et al. 2019): free-form answers about a passage; " + _NOT_IN_MIRRORS,
    "jeopardy": "LLM Foundry's Jeopardy questions: free-form answers; " + _NOT_IN_MIRRORS,
    "pubmed_qa_labeled": (
        "PubMedQA (Jin et al. 2019) as a yes/no/maybe continuation: " + _ONE_WORD
    ),
    "simple_arithmetic_nospaces": (
        "MosaicML's simple arithmetic (up to 3 operations on numbers of up to 3 digits): no "
        "documented generation rule, and " + _NOT_IN_MIRRORS
    ),
    "simple_arithmetic_withspaces": (
        "MosaicML's simple arithmetic (up to 3 operations on numbers of up to 3 digits): no "
        "documented generation rule, and " + _NOT_IN_MIRRORS
    ),
    "squad": "SQuAD v1.1 (Rajpurkar et al. 2016): extracted spans; " + _NOT_IN_MIRRORS,
    "triviaqa_sm_sub": "TriviaQA (Joshi et al. 2017): free-form answers; " + _NOT_IN_MIRRORS,
    "agi_eval_sat_math": "AGIEval SAT math: chain-of-thought answers; " + _NOT_IN_MIRRORS,
    "aqua": "AQuA-RAT: chain-of-thought answers; " + _NOT_IN_MIRRORS,
    "svamp": "SVAMP: chain-of-thought answers; " + _NOT_IN_MIRRORS,
    # lm-evaluation-harness
    **{
        name: "GPT-3 word scrambling (Brown et al. 2020, section 3.9.2): " + _ONE_WORD
        for name in (
            "anagrams1",
            "anagrams2",
            "cycle_letters",
            "random_insertion",
            "reversed_words",
        )
    },
    "gsm8k": "GSM8K (Cobbe et al. 2021): chain-of-thought answers; " + _NOT_IN_MIRRORS,
    "drop": "DROP (Dua et al. 2019): free-form answers; " + _NOT_IN_MIRRORS,
    "squad2": "SQuAD v2 (Rajpurkar et al. 2018): extracted spans; " + _NOT_IN_MIRRORS,
    "triviaqa": "TriviaQA (Joshi et al. 2017): free-form answers; " + _NOT_IN_MIRRORS,
    "webqs": "WebQuestions (Berant et al. 2013): free-form answers; " + _NOT_IN_MIRRORS,
    "record": (
        "ReCoRD (Zhang et al. 2018): the harness scores the most likely candidate entity, a "
        "choice: answer lengths do not apply"
    ),
    "mc_taco": "MC-TACO (Zhou et al. 2019): " + _GROUPED,
}
#: Families of tasks without lengths, by name prefix (prefix -> reason).
NO_LENGTH_PREFIXES: Final[dict[str, str]] = {
    "lambada": "LAMBADA (Paperno et al. 2016): " + _ONE_WORD,
    "math_": "MATH (Hendrycks et al. 2021) and ASDiv: free-form answers; " + _NOT_IN_MIRRORS,
    "ethics_": "ETHICS (Hendrycks et al. 2021): " + _GROUPED,
}
_NO_DEFINITION = (
    "no BIG-bench task definition among those read (the mirrored bigbench-tasks holds 20 "
    "tasks) and no known generation rule"
)

_OPERATIONS: Final = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
}
_POWERS_OF_TEN: Final = 10 ** np.arange(1, 19, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# GPT-3 arithmetic


def _arithmetic_code(name: str) -> str:
    """``"2da"`` from ``"2da"``, ``"arithmetic_2da"`` or ``"2_digit_addition"``."""
    match = _LM_EVAL_ARITHMETIC.match(name)
    code = match.group("code") if match else name
    if code in GPT3_ARITHMETIC_TASKS:
        return code
    for known, long_name in GPT3_ARITHMETIC_TASKS.items():
        if name == long_name:
            return known
    raise ConfigError(
        f"{name!r} is not a GPT-3 arithmetic task; give one of "
        f"{', '.join(sorted(GPT3_ARITHMETIC_TASKS))}, as a code ('2da'), an lm-eval name "
        "('arithmetic_2da') or the ObsScaling subtask name ('2_digit_addition')"
    )


def _characters(answers: np.ndarray) -> np.ndarray:
    """Characters of each integer written in decimal: its digits, plus one for a minus sign."""
    magnitude = np.abs(answers)
    digits = 1 + np.searchsorted(_POWERS_OF_TEN, magnitude, side="right")
    return digits + (answers < 0)


def _answer_counts(code: str) -> tuple[np.ndarray, np.ndarray]:
    """Every possible answer of a task and how many operand draws give it (exact integers)."""
    parsed = _CODE.match(code)
    assert parsed is not None  # _arithmetic_code checked the name
    size = 10 ** int(parsed.group("digits"))
    op = parsed.group("op")
    if op == "a":  # a + b, a and b uniform on [0, size): the sum s has min(s, 2 size - 2 - s) + 1
        sums = np.arange(2 * size - 1, dtype=np.int64)
        return sums, np.minimum(sums, 2 * size - 2 - sums) + 1
    if op == "s":  # a - b: the difference d has size - |d| draws
        differences = np.arange(-(size - 1), size, dtype=np.int64)
        return differences, size - np.abs(differences)
    if op == "m":  # a * b, enumerated
        operands = np.arange(size, dtype=np.int64)
        products = np.multiply.outer(operands, operands).ravel()
        return products, np.ones(products.size, dtype=np.int64)
    # "1dc": (a op1 b) op2 c with a, b, c in 1..9 and op1, op2 in {+, -, *}, enumerated
    answers = [
        _OPERATIONS[op2](_OPERATIONS[op1](a, b), c)
        for a, b, c in itertools.product(range(1, 10), repeat=3)
        for op1, op2 in itertools.product(_OPERATIONS, repeat=2)
    ]
    values = np.asarray(answers, dtype=np.int64)
    return values, np.ones(values.size, dtype=np.int64)


def gpt3_arithmetic_length_distribution(name: str) -> dict[int, Fraction]:
    """Exact distribution of the answer length of a GPT-3 arithmetic task, in characters.

    Parameters
    ----------
    name
        The task: its lm-evaluation-harness code (``"2da"``, ``"3ds"``, ``"2dm"``, ``"1dc"``,
        ...), its harness name (``"arithmetic_2da"``) or its ObsScaling subtask name
        (``"2_digit_addition"``; see :data:`GPT3_ARITHMETIC_TASKS`).

    Returns
    -------
    dict of int to fractions.Fraction
        Answer length (characters of the answer written in decimal, a minus sign included) ->
        its probability under the task's generation rule, summing to 1. Sorted by length.

    Raises
    ------
    ConfigError
        If ``name`` is not one of the ten tasks.

    Notes
    -----
    The rule is that of Brown et al. (2020, section 3.9.1), as the released problems
    (``openai/gpt-3``, ``data/*.jsonl``, which lm-evaluation-harness's ``arithmetic`` tasks
    read) follow it: for the ``n``-digit tasks both operands are uniform on ``[0, 10^n)``
    (``0 plus 25`` and ``25 times 0`` are problems), independently; a difference may be negative
    (``" -289"``). ``1dc`` ("single digit three ops") is ``(a op1 b) op2 c`` with the operations
    uniform on ``{+, -, *}``; the released file puts the parentheses around the *first* two
    operands and draws the digits from 1..9 (none of its first 250 items has a 0, where ``[0, 10)``
    would put one in 27% of them), which differs from the paper's wording
    (``6+(4*8)``, ``[0, 10)``); the file's form is used, because it is what was scored.
    The distribution is computed exactly: for addition and subtraction in closed form (the sum
    ``s`` of two operands uniform on ``[0, N)`` has ``min(s, 2N - 2 - s) + 1`` of the ``N^2``
    draws, the difference ``d`` has ``N - |d|``), for ``2dm`` and ``1dc`` by enumerating every
    draw.

    References
    ----------
    .. [1] Brown, T. B., Mann, B., Ryder, N., et al. (2020). Language Models are Few-Shot
       Learners. NeurIPS 33, section 3.9.1. arXiv:2005.14165.
    .. [2] OpenAI, ``gpt-3`` repository, ``data/two_digit_addition.jsonl`` etc.;
       EleutherAI lm-evaluation-harness, ``lm_eval/datasets/arithmetic/arithmetic.py``.

    Examples
    --------
    >>> gpt3_arithmetic_length_distribution("2da")
    {1: Fraction(11, 2000), 2: Fraction(999, 2000), 3: Fraction(99, 200)}
    """
    answers, counts = _answer_counts(_arithmetic_code(name))
    lengths = _characters(answers)
    total = int(counts.sum())
    return {
        int(length): Fraction(int(counts[lengths == length].sum()), total)
        for length in np.unique(lengths)
    }


def gpt3_arithmetic_lengths(name: str, *, n_items: int = ARITHMETIC_ITEMS) -> np.ndarray:
    """A representative set of per-item answer lengths of a GPT-3 arithmetic task.

    Parameters
    ----------
    name
        As in :func:`gpt3_arithmetic_length_distribution`.
    n_items
        Number of items (2,000 per task in the released sets).

    Returns
    -------
    numpy.ndarray
        ``n_items`` lengths (int64, sorted) whose frequencies are the exact probabilities of
        :func:`gpt3_arithmetic_length_distribution` rounded to multiples of ``1 / n_items`` by
        largest remainder (each off by less than ``1 / n_items``; a length rarer than that,
        like the 1-digit sums of 5-digit addition, may get no item).

    Examples
    --------
    >>> lengths = gpt3_arithmetic_lengths("2da")
    >>> [int((lengths == k).sum()) for k in (1, 2, 3)]
    [11, 999, 990]
    """
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise ConfigError(f"n_items must be a positive integer, got {n_items!r}")
    distribution = gpt3_arithmetic_length_distribution(name)
    lengths = list(distribution)
    exact = [distribution[length] * n_items for length in lengths]
    counts = [math.floor(value) for value in exact]
    order = sorted(range(len(lengths)), key=lambda i: (counts[i] - exact[i], lengths[i]))
    for i in order[: n_items - sum(counts)]:
        counts[i] += 1
    return np.repeat(np.asarray(lengths, dtype=np.int64), counts)


def _gpt3_arithmetic_name(task: str, subtask: str) -> str | None:
    """The arithmetic task a table's (task, subtask) is, if it is one (never BIG-bench's)."""
    if _LM_EVAL_ARITHMETIC.match(subtask):
        return subtask
    if task == _GPT3_ARITHMETIC_TASK and subtask in GPT3_ARITHMETIC_TASKS.values():
        return subtask
    return None


# --------------------------------------------------------------------------------------------
# BIG-bench task definitions


class _Definitions:
    """Per-item lengths of the BIG-bench definitions, by (task, subtask) and by whole task."""

    def __init__(self, tasks: pd.DataFrame) -> None:
        missing = [c for c in ("task", "subtask", "target_lengths") if c not in tasks.columns]
        if missing:
            raise ConfigError(
                f"tasks has no column(s) {', '.join(repr(c) for c in missing)}; pass the table "
                "emergestats.data.read_bigbench_tasks returns"
            )
        ordered = tasks.sort_values(["task", "subtask"], kind="mergesort")
        self.by_key: dict[tuple[str, str], np.ndarray] = {}
        parts: dict[str, list[np.ndarray]] = {}
        for task, subtask, lengths in zip(
            ordered["task"], ordered["subtask"], ordered["target_lengths"], strict=True
        ):
            # An empty answer still ends: it is counted as one token.
            values = np.maximum(np.asarray(lengths, dtype=np.int64), 1)
            self.by_key[(str(task), str(subtask))] = values
            parts.setdefault(str(task), []).append(values)
        self.by_task = {task: np.concatenate(arrays) for task, arrays in parts.items()}

    def lookup(self, task: str, subtask: str) -> np.ndarray | None:
        if (task, subtask) in self.by_key:
            return self.by_key[(task, subtask)]
        if subtask == task and task in self.by_task:
            return self.by_task[task]  # a whole task's score: the items of all its subtasks
        for name in dict.fromkeys((subtask, task)):
            if not name.startswith("bigbench_"):
                continue
            bare = BIGBENCH_TASK_NAMES.get(name, name.removeprefix("bigbench_"))
            if (bare, bare) in self.by_key:
                return self.by_key[(bare, bare)]
            if bare in self.by_task:
                return self.by_task[bare]
            for parent in self.by_task:  # lm-eval names a subtask <task>_<subtask>
                rest = bare.removeprefix(parent + "_")
                if rest != bare and (parent, rest) in self.by_key:
                    return self.by_key[(parent, rest)]
        return None


def _definitions(tasks: pd.DataFrame | str | Path | None) -> _Definitions:
    if tasks is None:
        from emergestats import datasets

        return _Definitions(read_bigbench_tasks(datasets.path("bigbench-tasks")))
    if isinstance(tasks, str | Path):
        return _Definitions(read_bigbench_tasks(tasks))
    if not isinstance(tasks, pd.DataFrame):
        raise ConfigError(
            f"tasks is a {type(tasks).__name__}; pass the table read_bigbench_tasks returns, a "
            "folder of BIG-bench task definitions, or None for the bigbench-tasks dataset"
        )
    return _Definitions(tasks)


# --------------------------------------------------------------------------------------------
# Tables


def _length_rows(table: pd.DataFrame) -> np.ndarray:
    """Rows whose forward map needs answer lengths in tokens (the model builders' rule)."""
    for column in ("task", "subtask", "metric", "metric_kind"):
        if column not in table.columns:
            raise ConfigError(
                f"the table has no column {column!r}; pass a canonical evaluation table "
                "(see emergestats.data.table)"
            )
    kind = table["metric_kind"].to_numpy(dtype=object)
    metric = table["metric"].astype(str).str.lower().to_numpy(dtype=object)
    given = (
        table["unit"].to_numpy(dtype=object)
        if "unit" in table.columns
        else np.full(len(table), None, dtype=object)
    )
    unit = np.array(
        [
            u if isinstance(u, str) and u in ("token", "word", "char")
            else "word" if "word" in m
            else "char" if "char" in m
            else "token"
            for u, m in zip(given, metric, strict=True)
        ],
        dtype=object,
    )  # fmt: skip
    in_units = ("log_likelihood", "greedy_match")  # per token: over the answer's tokens
    always = np.isin(kind, [k for k in LENGTH_KINDS if k not in in_units])
    return always | (np.isin(kind, in_units) & (unit == "token"))


def _pairs(table: pd.DataFrame, rows: np.ndarray) -> list[tuple[str, str]]:
    chosen = table.loc[rows, ["task", "subtask"]].astype(str).drop_duplicates()
    return sorted(zip(chosen["task"], chosen["subtask"], strict=True))


def default_lengths(
    table: pd.DataFrame, *, tasks: pd.DataFrame | str | Path | None = None
) -> dict[tuple[str, str], np.ndarray]:
    """Per-item answer lengths (tokens) of the generated-answer tasks of an evaluation table.

    For every (task, subtask) with rows whose forward map depends on the answer's length (kind
    ``exact_match``, ``pass_at_k`` or ``edit_distance``, and ``log_likelihood`` or
    ``greedy_match`` over the answer's tokens: ``unit`` ``token`` or empty, and no
    ``word``/``char`` in the metric name),
    the lengths of its items where the package can know them. The result is the ``lengths``
    argument of the model builders.

    Parameters
    ----------
    table
        A canonical evaluation table (:mod:`emergestats.data.table`).
    tasks
        BIG-bench task definitions: the table :func:`emergestats.data.read_bigbench_tasks`
        returns (read with a tokenizer, its lengths are exact tokens), or a folder of
        ``task.json`` files to read. ``None`` reads the ``bigbench-tasks`` dataset through
        :func:`emergestats.datasets.path` (the local mirror where ``EMERGESTATS_DATA_DIR`` is
        set, else the user cache, downloading it once), only if some pair is neither GPT-3
        arithmetic nor documented to have no lengths (:data:`NO_LENGTH_TASKS`).

    Returns
    -------
    dict of (str, str) to numpy.ndarray
        ``(task, subtask)`` of the table -> int64 lengths, one per item (each >= 1). Pairs
        without a known length are absent; :func:`unknown_length_tasks` lists them with the
        reason (the builders then use ``target_tokens`` or 1 token, with their own warning).

    Raises
    ------
    ConfigError
        If ``table`` lacks a canonical column or ``tasks`` is not a task-definition table or
        folder.
    DatasetUnavailableError
        If ``tasks`` is ``None`` and the ``bigbench-tasks`` dataset can neither be found nor
        downloaded.

    Notes
    -----
    **GPT-3 arithmetic** (ObsScaling's ``gpt3_arithmetic`` subtasks ``2_digit_addition``,
    ``3_digit_subtraction``, ``2_digit_multiplication``, ..., and lm-evaluation-harness's
    ``arithmetic_2da`` ... ``arithmetic_1dc``): :func:`gpt3_arithmetic_lengths`, 2,000 items
    whose lengths follow the exact distribution of the answer's number of characters under the
    tasks' generation rule (operands uniform on ``[0, 10^n)``; a minus sign counts as a
    character). These are never matched to BIG-bench's ``arithmetic`` task, whose items differ.

    **BIG-bench tasks**: the ``target_lengths`` of the task definitions. Table names are
    matched to definitions in this order: the same (task, subtask); a whole-task score (subtask
    = task, as in the open_lm and ObsScaling readers) to the items of all the task's subtasks
    (open_lm's ``conlang_translation``: the 164 items of its 16 subtasks; ``cs_algorithms``: 320
    + 1000); a name ``bigbench_<name>`` (lm-evaluation-harness v0.3, LLM Foundry labels) to the
    task ``<name>`` (``bigbench_strategy_qa`` -> ``strategyqa``, see
    :data:`emergestats.data.open_lm.BIGBENCH_TASK_NAMES`) or to the subtask ``<task>_<subtask>``
    spells (``bigbench_logical_deduction_three_objects``). The open_lm reader already names its
    15 BIG-bench tasks by their BIG-bench names.

    **Approximations.** Without a tokenizer the lengths are
    :data:`emergestats.data.bigbench.LENGTH_APPROXIMATION`: a number counts one token per
    character (the BPE vocabularies of the GPT-2 / GPT-NeoX era split digit strings into
    pieces of one to three digits, so this is an upper bound for long numbers and exact for
    short ones; the arithmetic lengths use the same rule), any other answer one token per word
    (an under-count for rare words, transliterations and symbols). The leading space of a
    continuation is not counted. Where a definition gives several acceptable targets, the
    first one's length is used. LLM Foundry scores some BIG-bench tasks (``cs_algorithms``,
    ``dyck_languages``) as continuations whose answers are the definitions' correct choices:
    their lengths are those.

    References
    ----------
    .. [1] Brown, T. B., Mann, B., Ryder, N., et al. (2020). Language Models are Few-Shot
       Learners. NeurIPS 33, section 3.9.1. arXiv:2005.14165.
    .. [2] Srivastava, A., Rastogi, A., Rao, A., et al. (2023). Beyond the Imitation Game:
       Quantifying and extrapolating the capabilities of language models. TMLR.
       arXiv:2206.04615.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"task": ["gpt3_arithmetic"], "subtask": ["2_digit_addition"],
    ...                       "metric": ["acc"], "metric_kind": ["exact_match"]})
    >>> lengths = default_lengths(table)
    >>> lengths[("gpt3_arithmetic", "2_digit_addition")].mean()
    np.float64(2.4895)
    """
    pairs = _pairs(table, _length_rows(table))
    lengths: dict[tuple[str, str], np.ndarray] = {}
    definitions: _Definitions | None = None
    for task, subtask in pairs:
        arithmetic = _gpt3_arithmetic_name(task, subtask)
        if arithmetic is not None:
            lengths[(task, subtask)] = gpt3_arithmetic_lengths(arithmetic)
            continue
        if _documented_reason(task, subtask) is not None:
            continue  # known to have no lengths: no need to read the definitions for it
        if definitions is None:
            definitions = _definitions(tasks)
        found = definitions.lookup(task, subtask)
        if found is not None:
            lengths[(task, subtask)] = found.copy()
    return lengths


def _documented_reason(task: str, subtask: str) -> str | None:
    """Why a pair has no lengths, where :data:`NO_LENGTH_TASKS` or its prefixes say so."""
    for name in dict.fromkeys((subtask, task)):
        if name in NO_LENGTH_TASKS:
            return NO_LENGTH_TASKS[name]
    for name in dict.fromkeys((subtask, task)):
        for prefix in sorted(NO_LENGTH_PREFIXES, key=len, reverse=True):
            if name.startswith(prefix):
                return NO_LENGTH_PREFIXES[prefix]
    return None


def unknown_length_tasks(
    table: pd.DataFrame, lengths: Mapping[object, object] | None
) -> pd.DataFrame:
    """The (task, subtask) pairs of a table that need answer lengths and have none in ``lengths``.

    Parameters
    ----------
    table
        A canonical evaluation table.
    lengths
        The mapping given to the model builders (e.g. :func:`default_lengths`'s result); only
        its ``(task, subtask)`` keys are looked at.

    Returns
    -------
    pandas.DataFrame
        One row per pair, sorted: ``task``, ``subtask``, ``metric_kinds`` (the kinds needing
        lengths, comma-separated), ``rows`` (how many rows) and ``reason`` (from
        :data:`NO_LENGTH_TASKS` / :data:`NO_LENGTH_PREFIXES`, or that no definition or rule was
        found). Empty (with those columns) when every pair has lengths.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"task": ["squad"], "subtask": ["squad"],
    ...                       "metric": ["qa_accuracy"], "metric_kind": ["exact_match"]})
    >>> unknown_length_tasks(table, {})[["task", "rows"]].values.tolist()
    [['squad', 1]]
    """
    needed = _length_rows(table)
    keys = set(lengths or {})
    records = []
    subset = table.loc[needed, ["task", "subtask", "metric_kind"]].astype(str)
    for (task, subtask), group in subset.groupby(["task", "subtask"], sort=True):
        if (task, subtask) in keys:
            continue
        records.append(
            {
                "task": task,
                "subtask": subtask,
                "metric_kinds": ", ".join(sorted(set(group["metric_kind"]))),
                "rows": len(group),
                "reason": _documented_reason(str(task), str(subtask)) or _NO_DEFINITION,
            }
        )
    columns = ["task", "subtask", "metric_kinds", "rows", "reason"]
    return pd.DataFrame(records, columns=columns)
