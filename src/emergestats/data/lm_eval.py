"""Readers for EleutherAI lm-evaluation-harness results (v0.3 and >= 0.4 layouts).

Two layouts are read by :func:`read_lm_eval`, file by file (a folder is searched recursively for
``*.json``, in sorted path order):

v0.3 (``lm-evaluation-harness/results/<family>/<model>/<model>_<group>_<k>-shot.json`` and the
Pythia suite's ``evals/pythia-v1/<model>/<shots>/<name>_step<N>.json``)
    ``{"results": {task: {"acc": .., "acc_stderr": .., "acc_norm": .., ...}},
    "versions": {task: int}, "config": {"model_args": "pretrained=..,revision=step<N>",
    "num_fewshot": k, "limit": ..}}``.

>= 0.4 (``<output>/<org>__<model>/results_<timestamp>.json``)
    ``{"results": {task: {"alias": .., "acc,none": .., "acc_stderr,none": ..}},
    "group_subtasks": {group: [task, ..]}, "n-shot": {task: k}, "n-samples": {task:
    {"original": N, "effective": n}}, "config": {"model_args": "pretrained=..", ..},
    "model_name": ..}``. Metric keys are ``<metric>,<filter>``.

Per-item log-likelihoods come from the >= 0.4 sample logs ``samples_<task>_<timestamp>.jsonl``,
read by :func:`read_lm_eval_samples` into the canonical item table.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from emergestats.data.choices import choice_task, generative_reason, item_count
from emergestats.data.json_files import load_json
from emergestats.data.model_sizes import canonical_model_name, params_for
from emergestats.data.table import EVALUATION_COLUMNS, metric_kind_of, validate, validate_items
from emergestats.errors import ConfigError, DataFormatError, EmptyInputError

#: Tokens per optimiser step of the Pythia suite: 1024 sequences of 2048 tokens. Biderman et al.
#: (2023, arXiv:2304.01373) train every model for 143,000 steps at this batch size; the model
#: cards: "All Pythia models trained for 143000 steps at a batch size of 2M (2,097,152 tokens)",
#: 299,892,736,000 tokens in all.
PYTHIA_TOKENS_PER_STEP: Final[int] = 2_097_152

# Pythia names of the current (retrained, "v1.1") suite; only these have a known tokens-per-step.
_PYTHIA_CURRENT_SIZES: Final[frozenset[str]] = frozenset(
    {"70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"}
)

# v0.3 task names joined by "_" whose keys are subsets or languages of one benchmark; they are
# grouped under the prefix as ``task`` (``subtask`` keeps the full name). Names like
# ``bigbench_*`` or ``math_*`` are distinct benchmarks and stay their own task.
_BENCHMARK_PREFIXES: Final[tuple[str, ...]] = (
    "arithmetic",
    "blimp",
    "crows_pairs",
    "lambada_openai_mt",
    "pawsx",
    "xcopa",
    "xnli",
    "xstory_cloze",
    "xwinograd",
)

# lm-eval metric names that mean a kind :func:`metric_kind_of` does not know under that name.
_LM_EVAL_METRIC_KINDS: Final[dict[str, str]] = {
    "exact": "exact_match",
    "mc1": "accuracy",
    "acc_mutual_info": "accuracy",
}

# Metrics lm-eval reports in percent (0..100): sacrebleu's corpus scores, and the SQuAD v2
# metric of Hugging Face ``evaluate`` used by the ``squad2``/``squadv2`` tasks. Divided by 100.
_SACREBLEU_METRICS: Final[frozenset[str]] = frozenset({"bleu", "chrf", "ter"})
_SQUAD_PERCENT_METRICS: Final[frozenset[str]] = frozenset(
    {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1"}
)

# Per-sample metrics of ``loglikelihood_rolling`` tasks (wikitext, pile_*).
_ROLLING_METRICS: Final[frozenset[str]] = frozenset(
    {"word_perplexity", "byte_perplexity", "bits_per_byte"}
)
# The text unit a perplexity is per (the ``unit`` column); LAMBADA's is set per task.
_UNIT_OF_METRIC: Final[dict[str, str]] = {
    "word_perplexity": "word",
    "byte_perplexity": "byte",
    "bits_per_byte": "byte",
}

#: Metric name of the row derived from a LAMBADA perplexity: the mean log-likelihood of the
#: target word, ``-log(ppl)`` (see :func:`read_lm_eval`).
LAMBADA_LOGLIK_METRIC: Final[str] = "loglik_per_word_from_ppl"
# LAMBADA's perplexity metric: ``ppl`` in v0.3, ``perplexity`` in the >= 0.4 task YAMLs.
_LAMBADA_PERPLEXITY_METRICS: Final[frozenset[str]] = frozenset({"ppl", "perplexity"})
# Metrics scored by picking the most likely of the choices: their chance level is 1 / K.
_CHOICE_METRICS: Final[frozenset[str]] = frozenset({"acc", "acc_norm", "multiple_choice_grade"})

#: Folder names that say what a Pythia evaluation is (``evals/pythia-v1/<model>/<folder>/``).
#: ``baseline/`` re-runs checkpoints that the canonical folders evaluate; ``intervention/``
#: holds other models (training resumed on pronoun-swapped data).
BASELINE_FOLDER: Final[str] = "baseline"
INTERVENTION_FOLDER: Final[str] = "intervention"

# Metrics that are the mean over the task's items of a 0/1 score: their reported standard error
# is the harness's ``mean_stderr``, ``sqrt(p (1 - p) / (n - 1))``, which gives back ``n``.
_PROPORTION_METRICS: Final[frozenset[str]] = frozenset(
    {
        "acc",
        "acc_norm",
        "acc_mutual_info",
        "mc1",
        "multiple_choice_grade",
        "exact_str_match",
        "exact_match",
        "pct_stereotype",
    }
)
# Metrics computed over other units than the task's items (groups of items, or a subset), so
# the task's number of items is not theirs: ETHICS ``em`` (groups of 4 or 5 scenarios), MC-TACO
# ``em`` (all answers of one question), SQuAD v2 ``HasAns_*`` / ``NoAns_*`` (a subset).
_GROUPED_METRICS: Final[dict[str, frozenset[str]]] = {
    "ethics_": frozenset({"em"}),
    "mc_taco": frozenset({"em"}),
}
_SUBSET_METRIC_PREFIXES: Final[tuple[str, ...]] = ("HasAns_", "NoAns_")

# Keys of a task's result dict that are not metrics.
_NON_METRIC_KEYS: Final[frozenset[str]] = frozenset({"alias", "samples", "name", "task"})

_SHOTS_IN_FILENAME = re.compile(r"_(\d+)-shot\.json$")
_STEP_IN_FILENAME = re.compile(r"_step(\d+)\.json$")
_STEP_REVISION = re.compile(r"^step(\d+)$")
_SIZE_SEGMENT = re.compile(r"^(\d+(\.\d+)?[kmbt]|\d+[mb]\d+)$", re.IGNORECASE)
_SAMPLES_FILENAME = re.compile(
    r"^samples_(?P<task>.+?)(_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d.\-:]+))?\.jsonl$"
)
_RESULTS_FILENAME = re.compile(r"^results(_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d.\-:]+))?\.json$")


@dataclass
class _Shadowed:
    """Baseline re-run rows left out because a canonical evaluation of them was read."""

    rows: int = 0
    evaluations: set[tuple[str, str, str, int]] = field(default_factory=set)
    example: tuple[str, str] | None = None
    kept_rows: int = 0  # baseline rows kept: no canonical evaluation of that checkpoint


@dataclass(frozen=True)
class _Run:
    """Who was evaluated in one results file."""

    base_name: str  # model name without checkpoint, e.g. ``pythia-1.4b-deduped``
    model: str  # unique per checkpoint, e.g. ``pythia-1.4b-deduped@step143000``
    pretrained: str | None  # ``pretrained=`` as the harness was given it
    step: int | None


@dataclass(frozen=True)
class _Evaluation:
    """One task of one results file: what every row of it shares."""

    task: str
    task_name: str
    family: str
    run: _Run
    params: float
    shots: int
    n_items: int | None
    source: str
    tokens: float
    file: Path
    baseline: bool  # the file lies in a baseline/ folder
    limit: str | None  # config.limit of the file (a subset of the items), None where unset


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------


def read_lm_eval(
    path: str | Path,
    *,
    sizes: Mapping[str, float] | None = None,
    family: str | None = None,
) -> pd.DataFrame:
    """Read lm-evaluation-harness result JSONs (v0.3 or >= 0.4) into the evaluation table.

    Parameters
    ----------
    path
        One results ``.json`` file, or a folder searched recursively for ``*.json`` (other files,
        such as ``README.md``, CSVs or ``samples_*.jsonl``, are not result files and are not
        read). Every ``.json`` found must be an lm-eval results file. Files in a ``baseline``
        folder are read after all others, and files in an ``intervention`` folder are other
        models (see Notes: *Pythia folders*).
    sizes
        Parameter count per model, overriding the built-in table
        (:func:`emergestats.data.model_sizes.params_for`). Keys may be the model name the reader
        derives (``llama-7B``, ``pythia-160m-deduped``), with a checkpoint
        (``pythia-160m@step1000``), or the ``pretrained=`` string; case does not matter.
    family
        Family written on every row (``<family>-intervention`` on the rows of intervention
        models). By default it is derived from the model name by dropping its size:
        ``pythia-1.4b-deduped`` -> ``pythia-deduped``, ``bloom-1b1`` -> ``bloom``, ``llama-7B``
        -> ``llama``, ``pythia-160m-0.5MtokBS`` -> ``pythia-0.5MtokBS``; the Pythia intervention
        models ``intervention-pythia-<size>-deduped`` and ``...-deduped-long`` ->
        ``pythia-deduped-intervention`` and ``pythia-deduped-intervention-long``.

    Returns
    -------
    pandas.DataFrame
        The canonical evaluation table (:func:`emergestats.data.validate`), one row per (task,
        metric) of every file (plus one ``loglik_per_word_from_ppl`` row per LAMBADA
        perplexity), with the optional columns ``score_stderr`` and ``unit``, and ``step`` and
        ``tokens`` where any file is a training checkpoint.

    Notes
    -----
    Columns are filled as follows.

    ``model``
        ``pretrained=`` of the run config without its organisation (``EleutherAI/pythia-v1.1-``
        is renamed ``pythia-``, the name the retrained suite was released under). Where
        ``pretrained`` is a local path (the LLaMA runs), the model folder / file-name prefix of
        the v0.3 layout (``llama-7B``) or the ``<org>__<model>`` folder of the >= 0.4 layout is
        used instead. A checkpoint (``revision=step<N>``, else ``_step<N>.json`` in the file
        name) is appended as ``@step<N>`` so that every checkpoint is its own model.
    ``step``, ``tokens``
        The checkpoint's training step, and for the Pythia suite ``step x 2,097,152`` tokens
        (:data:`PYTHIA_TOKENS_PER_STEP`; the batch-size ablations named ``<x>MtokBS`` use
        ``x x 2**20`` tokens per step, which puts all of them at 299.9B tokens at their last
        step). ``tokens`` is empty at step 0 (the table requires positive counts) and for models
        whose batch size is not known here.
    ``params``
        From ``sizes``, else the built-in table (total parameters); a model in neither raises
        :class:`DataFormatError`. All checkpoints of a model share its parameter count.
    ``task``, ``subtask``
        ``subtask`` is the harness's task name. ``task`` is its top-level group in a >= 0.4 file
        (``group_subtasks``); otherwise the part before the first ``-``
        (``hendrycksTest-anatomy`` -> ``hendrycksTest``), or one of the benchmark prefixes
        ``arithmetic``, ``blimp``, ``crows_pairs``, ``lambada_openai_mt``, ``pawsx``, ``xcopa``,
        ``xnli``, ``xstory_cloze``, ``xwinograd``; else the task name itself.
    ``shots``
        ``n-shot`` of the task (>= 0.4), else ``configs[task].num_fewshot``, else
        ``config.num_fewshot``, else ``_<k>-shot.json`` in the file name; a file with none of
        these raises :class:`DataFormatError`.
    ``metric``, ``metric_kind``, ``score``
        Every numeric metric key of a task's result dict is a row: ``acc``, ``acc_norm``, ``ppl``,
        ``f1``, ... In >= 0.4 files the ``,none`` filter suffix is dropped and any other filter
        kept (``exact_match,strict-match``). Perplexities (``ppl``, ``word_perplexity``, ...)
        and other unbounded metrics keep their value with kind ``other``. Percent metrics are
        divided by 100: sacrebleu's ``bleu``, ``chrf``, ``ter`` and the SQuAD v2 metrics
        (``exact``, ``f1``, ``HasAns_*``, ``NoAns_*``, ``best_exact``, ``best_f1`` of ``squad*``
        tasks). All other fractions are already in 0..1 in both layouts. ``acc`` is kind
        ``accuracy``, except for the generative tasks of
        :data:`emergestats.data.choices.GENERATIVE_TASKS` (arithmetic, LAMBADA, unscramble,
        gsm8k, MATH, asdiv, triviaqa, webqs), where ``acc`` is an exact match of the greedy or
        generated answer and its kind is ``exact_match``. LAMBADA's ``acc`` is the harness's
        ``is_greedy`` of the target word (every token of it is the greedy continuation), kind
        ``greedy_match`` with ``unit`` ``word``: the target must out-rank every rival word,
        which is not the probability of sampling it (``exact_match``; at 12B parameters Pythia's
        greedy accuracy is 0.70 where its mean target probability is about 0.41). The
        arithmetic ``acc`` is ``is_greedy`` too, but stays ``exact_match`` (Schaeffer et al.'s
        ``p ** L``, as the package's arithmetic analyses and ObsScaling's copy of the same
        results read it).
    ``score_stderr``
        The task's ``<metric>_stderr`` (v0.3) or ``<metric>_stderr,<filter>`` (>= 0.4) value,
        as reported (divided by 100 with a percent metric); ``NaN`` where there is none or it
        is not a number (``"N/A"``). The harness computes it as ``sd / sqrt(n)`` for means
        (``acc``, ...) and by bootstrap for perplexities, so a ``ppl`` row carries the
        bootstrap standard error of the perplexity itself.
    LAMBADA log-likelihood
        The harness's LAMBADA ``ppl`` (v0.3: ``lambada``, ``lambada_openai``,
        ``lambada_standard``, their ``_cloze`` variants and ``lambada_openai_mt_<lang>``;
        ``perplexity`` in >= 0.4) is ``exp(-mean_i ll_i)``, where ``ll_i`` is item ``i``'s
        log-probability (nats) of its target continuation ``" " + last word`` of the passage,
        summed over that word's tokens (``process_results`` returns ``ll``; the ``perplexity``
        aggregation exponentiates the negative mean). Each perplexity therefore also gives a
        row with metric ``loglik_per_word_from_ppl``, kind ``log_likelihood``, ``score`` =
        ``-log(ppl)``: the mean log-probability of the target word in nats per item, one item
        being one word (``unit`` = ``word``, <= 0). ``target_tokens`` is left empty: the number
        of tokens of a word depends on the tokenizer, and no file records it. ``score_stderr``
        is ``ppl_stderr / ppl``, the delta-method standard error of ``-log(ppl)`` from the
        harness's bootstrap standard error of the perplexity (``NaN`` where none is reported).
        The mean is over thousands of items (5,153 in ``lambada_openai``), so ``log(ppl)`` is
        nearly normal with sd ``se(ppl) / ppl`` (0.02-0.04 on Pythia): the approximation's
        relative error is of the order of that sd squared, below the bootstrap's own noise.
        The standard error carries the spread of the items' log-probabilities (``sd = se
        sqrt(n)``, 1.5-3.1 nats on Pythia), which the models read as item heterogeneity.
        The ``ppl`` row itself stays, kind ``other`` with ``unit`` = ``word``.
    ``unit``
        ``word`` for LAMBADA's ``ppl``, ``loglik_per_word_from_ppl`` and ``acc`` and for
        ``word_perplexity``; ``byte`` for ``byte_perplexity`` and ``bits_per_byte``; ``<NA>``
        elsewhere.
    ``n_items``
        ``n-samples[task]["effective"]`` (>= 0.4). v0.3 files do not record it, so where it is
        missing it is filled per task (harness task name, among the files with the same
        ``config.limit``), and a :class:`UserWarning` counts the rows filled each way and the
        rows left ``<NA>``:

        1. the documented number of items of the split the harness scores,
           :func:`emergestats.data.choices.item_count` (a cited table: ``piqa`` 1838,
           ``arc_easy`` 2376, ``lambada_openai`` 5153, ``xnli_*`` 5010, ...), for files without
           a ``limit``;
        2. otherwise, the number of items implied by the reported standard errors. The harness
           reports, for a metric that is the mean of a 0/1 score per item (``acc``,
           ``acc_norm``, ``acc_mutual_info``, ``mc1``, ``multiple_choice_grade``,
           ``exact_str_match``, ``exact_match``, ``pct_stereotype``), the sample standard error
           ``sqrt(p (1 - p) / (n - 1))`` (``mean_stderr``), so a row with ``p`` in (0, 1) and a
           standard error ``se > 0`` gives ``n = p (1 - p) / se^2 + 1``, rounded. The task's
           value is the one more than half of its rows give (every model is scored on the same
           items); a task without such a majority, or without any usable row (only 0 or 1
           scores, or only other metrics), keeps ``<NA>``.

        Every row of the task is filled, except those of metrics computed over other units than
        its items: ETHICS ``em`` (groups of scenarios), MC-TACO ``em`` (all answers to a
        question) and SQuAD v2's ``HasAns_*`` / ``NoAns_*`` (subsets). In the mirrored Pythia and
        v0.3 files every usable row of a task implies the same count, and that count is the
        cited one wherever the task is tabulated; the warning says how many rows disagree with
        the count filled, if any.
    ``chance``
        ``1 / K`` (or the mean of ``1 / K_i`` where items differ) for the ``acc``, ``acc_norm``
        and ``multiple_choice_grade`` rows of a multiple-choice task of
        :mod:`emergestats.data.choices`, which cites where each ``K`` comes from; ``NaN``
        otherwise: generative tasks, other metrics (``f1``, ``mcc``, ``em``, ``mc1``, ...), and
        tasks scored among choices without one verified ``K`` (``UNRESOLVED_TASKS``: e.g.
        ``truthfulqa_mc``, ``multirc``, ``headqa_*`` and seven of the ``bigbench_*`` tasks).
        Result files do not record a guessing level.

    **Pythia folders.** ``evals/pythia-v1/<model>/zero-shot/`` and ``five-shot/`` are the
    published (canonical) evaluations. ``baseline/`` re-evaluates checkpoints of the same
    models (with other batch sizes; the scores differ a little): a baseline evaluation of a
    (model, checkpoint, task, shots) that a canonical folder also evaluates is dropped whole
    (every metric of it), whatever order the paths sort in; a :class:`UserWarning` counts the
    rows and evaluations dropped and the baseline rows kept. Baseline evaluations of
    checkpoints no canonical folder has (1.4b-deduped at steps 114000-142000, 70m-, 410m-
    and 6.9b-deduped at 134000-142000) are kept, as evaluations of the published model.
    ``intervention/`` holds other models: the Pythia paper's gender-bias intervention, whose
    training was resumed on pronoun-swapped text. Their rows get the family
    ``<family>-intervention`` (``pythia-deduped-intervention``, and
    ``pythia-deduped-intervention-long`` for the longer intervention), so they never share a
    curve with the published models, also where a ``pretrained=`` name would not say so.

    Rows are excluded in four documented cases. (1) Group aggregates of a >= 0.4 file (a
    ``group_subtasks`` key with members, or a ``groups`` key) are averages of their subtasks'
    rows, which are read. (2) Baseline re-runs of a canonical evaluation (see *Pythia
    folders*). (3) Otherwise, a (task, subtask, family, model, shots, metric) already read from
    another file of the same standing is a re-run of one evaluation (the v0.3 LLaMA and MPT
    folders score ``boolq``, ``copa`` and ``drop`` in two group files, with slightly different
    values); the file whose path relative to ``path`` sorts first is kept, and a
    :class:`UserWarning` says how many were dropped. (4) A metric whose value is not a
    finite number is dropped with a :class:`UserWarning` giving the count.

    Values are kept as the source gives them, including known-bad runs: every score of the v0.3
    LLaMA-7B and LLaMA-13B ``arithmetic_5-shot`` files (and of LLaMA-7B ``unscramble_0-shot``)
    is 0.0, a failed upstream run; filter them out before fitting.

    Raises
    ------
    DataFormatError
        A missing path, a file that is not JSON or not an lm-eval results file, a file without
        a number of shots, or a model without a parameter count (pass ``sizes=``).
    EmptyInputError
        An empty file, a folder without ``*.json`` files, or no scores at all.
    """
    root = Path(path)
    files = _result_files(root)
    builder = _EvaluationRows(root=root, sizes=sizes, family=family)
    # Canonical evaluations first, so that a baseline re-run never shadows one.
    for file in sorted(files, key=lambda f: (_folder_role(f, root) == BASELINE_FOLDER, f)):
        builder.add_file(file)
    return builder.table()


def read_lm_eval_samples(
    path: str | Path,
    *,
    sizes: Mapping[str, float] | None = None,
    family: str | None = None,
    model: str | None = None,
    shots: int | None = None,
    filter_name: str | None = None,
) -> pd.DataFrame:
    """Read lm-eval (>= 0.4) per-sample logs ``samples_<task>_<timestamp>.jsonl`` as an item table.

    Parameters
    ----------
    path
        One samples ``.jsonl`` file, or a folder searched recursively for ``samples_*.jsonl``.
    sizes, family
        As in :func:`read_lm_eval`.
    model
        Model name to use where no ``results_*.json`` sits next to a samples file (the harness
        writes both into the same folder; model, checkpoint and shots are taken from it).
    shots
        Number of shots to use where the results file does not give one for the task.
    filter_name
        Which filter's responses to read when a task logs several (e.g. ``strict-match`` and
        ``flexible-extract``); each sample is logged once per filter. Needed only then.

    Returns
    -------
    pandas.DataFrame
        The canonical item table (:func:`emergestats.data.validate_items`) with the optional
        ``correct_choice`` (and ``step`` for checkpoints): one row per (task, document).

    Notes
    -----
    Each JSON line is one document (``doc_id``) with ``target``, ``filtered_resps`` and the
    per-sample metric values (``acc``, ``acc_norm``, ``exact_match``, ...). Assumptions, from the
    harness's ``evaluator.py`` and ``EvaluationTracker.save_results_samples``:

    * For ``multiple_choice`` tasks ``filtered_resps`` holds one ``[logprob, is_greedy]`` pair
      per choice, in choice order; the tracker writes their leaves as strings (``["-4.25",
      "False"]``), plain numbers are accepted too. ``choice_logprobs`` is the tuple of logprobs
      (nats, summed over the continuation's tokens, not length-normalised). A task using
      ``acc_mutual_info`` logs twice as many requests and is not supported.
    * ``target`` is the index of the correct choice (the tracker writes ``str(target)``, e.g.
      ``"2"``); a non-numeric target is matched against the choices' continuation strings in
      ``arguments`` (``gen_args_<i>.arg_1``). Where neither works ``correct_choice`` is empty.
    * ``logprob`` is the correct choice's log-probability; for a single ``loglikelihood``
      request (e.g. LAMBADA) the pair's logprob; for ``loglikelihood_rolling`` (a sample with
      ``word_perplexity``, ``byte_perplexity`` or ``bits_per_byte``) the rolling
      log-likelihood; ``NaN`` for generated answers.
    * ``correct`` is the sample's ``acc`` (else ``exact_match``) where it is 0 or 1; else, for
      multiple choice with a known correct choice, whether it has the highest logprob.
    * ``item`` is ``doc_id`` as text; ``target_tokens`` is not in the logs and is ``NaN``.

    Raises
    ------
    DataFormatError
        Invalid JSON lines (naming the line), missing ``doc_id``, a repeated ``doc_id``, a target
        index outside the choices, several filters without ``filter_name``, or no model / shots.
    EmptyInputError
        An empty file, or a folder without ``samples_*.jsonl``.
    """
    root = Path(path)
    files = _sample_files(root)
    frames = [
        _read_samples_file(
            file,
            root=root,
            sizes=sizes,
            family=family,
            model=model,
            shots=shots,
            filter_name=filter_name,
        )
        for file in files
    ]
    items = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return validate_items(items, path=root)


# --------------------------------------------------------------------------------------------
# Evaluation table
# --------------------------------------------------------------------------------------------


class _EvaluationRows:
    """Accumulates evaluation rows file by file (column lists: fast for ~10^5 rows)."""

    def __init__(
        self, *, root: Path, sizes: Mapping[str, float] | None, family: str | None
    ) -> None:
        self.root = root
        self.sizes = _checked_sizes(sizes)
        self.family = family
        self.columns: dict[str, list[Any]] = {
            name: [] for name in (*EVALUATION_COLUMNS, "score_stderr", "unit", "step", "tokens")
        }
        self.seen: set[tuple[str, str, str, str, int, str]] = set()
        # (family, model, subtask, shots) evaluated by a canonical (non-baseline) file
        self.canonical: set[tuple[str, str, str, int]] = set()
        self.shadowed = _Shadowed()
        self.duplicates = 0
        self.duplicate_example: tuple[str, str, str] | None = None
        self.non_finite = 0
        self.non_finite_example: tuple[str, str, str] | None = None
        self.params_cache: dict[str, float] = {}
        self.limits: list[str | None] = []  # config.limit of each row's file

    def add_file(self, file: Path) -> None:
        document = _load_results_json(file)
        run = _run_of(document, file)
        params = self._params(run, file)
        role = _folder_role(file, self.root)
        family = self.family if self.family is not None else _family_of(run.base_name)
        if role == INTERVENTION_FOLDER or _is_intervention(run.base_name):
            family = _intervention_family(family)
        tokens = _tokens_at(run)
        source = f"read_lm_eval:{_relative(file, self.root)}"
        config = _object_at(document, "config")
        parent_group = _parent_groups(document)
        aggregates = _group_names(document)
        n_shot = _object_at(document, "n-shot")
        n_samples = _object_at(document, "n-samples")
        task_configs = _object_at(document, "configs")
        file_shots = _file_level_shots(config, file)
        limit = None if config.get("limit") is None else str(config.get("limit"))

        for task_name, metrics in document["results"].items():
            if task_name in aggregates:
                continue  # a group's average of its subtasks, which are read themselves
            if not isinstance(metrics, dict):
                raise DataFormatError(
                    f"results[{task_name!r}] is a {type(metrics).__name__}, not a dict of "
                    "metric values; is this an lm-evaluation-harness results file?",
                    path=file,
                )
            shots = _as_int(n_shot.get(task_name))
            if shots is None:
                shots = _as_int(_object_at(task_configs, task_name).get("num_fewshot"))
            if shots is None:
                shots = file_shots
            if shots is None:
                raise DataFormatError(
                    f"task {task_name!r} has no number of shots: the file has no 'n-shot' entry, "
                    "no config.num_fewshot and no '_<k>-shot.json' in its name; add "
                    "config.num_fewshot to the file",
                    path=file,
                )
            n_items = _n_items(n_samples.get(task_name), metrics.get("samples"))
            task = _task_of(task_name, parent_group)
            where = _Evaluation(
                task=task,
                task_name=task_name,
                family=family,
                run=run,
                params=params,
                shots=shots,
                n_items=n_items,
                source=source,
                tokens=tokens,
                file=file,
                baseline=role == BASELINE_FOLDER,
                limit=limit,
            )
            self._add_task(where, metrics)

    def _add_task(self, where: _Evaluation, metrics: Mapping[str, Any]) -> None:
        """The rows of one task's result dict."""
        evaluation = (where.family, where.run.model, where.task_name, where.shots)
        if where.baseline and evaluation in self.canonical:
            self._shadow(evaluation, metrics, where.file, where.task_name)
            return
        if not where.baseline:
            self.canonical.add(evaluation)
        task_name = where.task_name
        stderrs = _standard_errors(metrics)
        choices = choice_task(task_name)
        generative = generative_reason(task_name) is not None
        is_lambada = task_name.startswith("lambada")
        for key, value in metrics.items():
            if key in _NON_METRIC_KEYS:
                continue
            metric, _, filter_key = key.partition(",")
            if metric.endswith("_stderr"):
                continue  # a standard error, attached to its metric's row
            label = metric if filter_key in ("", "none") else key
            score = _as_float(value)
            if score is None or not math.isfinite(score):
                self.non_finite += 1
                self.non_finite_example = self.non_finite_example or (
                    _relative(where.file, self.root),
                    task_name,
                    key,
                )
                continue
            stderr = stderrs.get((metric, filter_key), math.nan)
            if _reported_in_percent(task_name, metric):
                score /= 100.0
                stderr /= 100.0
            kind = _kind_of(metric)
            if generative and metric == "acc":
                kind = "exact_match"  # a generated answer's accuracy is an exact match
            if is_lambada and metric == "acc":
                kind = "greedy_match"  # is_greedy of the target word: see the docstring
            chance = math.nan
            if choices is not None and metric in _CHOICE_METRICS:
                chance = choices.chance
            perplexity = is_lambada and metric in _LAMBADA_PERPLEXITY_METRICS
            unit = "word" if perplexity or kind == "greedy_match" else _UNIT_OF_METRIC.get(metric)
            added = self._append(where, label, kind, score, stderr, chance, unit)
            if added and perplexity:
                loglik = _lambada_loglik(score, where.file, task_name, key)
                loglik_label = LAMBADA_LOGLIK_METRIC + label.removeprefix(metric)
                self._append(
                    where, loglik_label, "log_likelihood", loglik, stderr / score, math.nan, "word"
                )

    def _append(
        self,
        where: _Evaluation,
        label: str,
        kind: str,
        score: float,
        stderr: float,
        chance: float,
        unit: str | None,
    ) -> bool:
        """Add one row unless its key was read already (then count it); whether it was added."""
        row_key = (where.task, where.task_name, where.family, where.run.model, where.shots, label)
        if row_key in self.seen:
            self.duplicates += 1
            self.duplicate_example = self.duplicate_example or (
                _relative(where.file, self.root),
                where.task_name,
                label,
            )
            return False
        self.seen.add(row_key)
        if where.baseline:
            self.shadowed.kept_rows += 1
        columns = self.columns
        columns["task"].append(where.task)
        columns["subtask"].append(where.task_name)
        columns["family"].append(where.family)
        columns["model"].append(where.run.model)
        columns["params"].append(where.params)
        columns["shots"].append(where.shots)
        columns["metric"].append(label)
        columns["metric_kind"].append(kind)
        columns["score"].append(score)
        columns["n_items"].append(where.n_items)
        columns["chance"].append(chance)
        columns["source"].append(where.source)
        columns["score_stderr"].append(stderr)
        columns["unit"].append(unit)
        columns["step"].append(where.run.step)
        columns["tokens"].append(where.tokens)
        self.limits.append(where.limit)
        return True

    def _shadow(
        self,
        evaluation: tuple[str, str, str, int],
        metrics: Mapping[str, Any],
        file: Path,
        task_name: str,
    ) -> None:
        """Count the rows of a baseline evaluation that a canonical one already gave."""
        rows = 0
        for key in metrics:
            metric = key.partition(",")[0]
            if key in _NON_METRIC_KEYS or metric.endswith("_stderr"):
                continue
            rows += 1
            if task_name.startswith("lambada") and metric in _LAMBADA_PERPLEXITY_METRICS:
                rows += 1  # its log-likelihood row
        self.shadowed.rows += rows
        self.shadowed.evaluations.add(evaluation)
        self.shadowed.example = self.shadowed.example or (_relative(file, self.root), task_name)

    def _params(self, run: _Run, file: Path) -> float:
        if run.model not in self.params_cache:
            self.params_cache[run.model] = _params_of(run, self.sizes, file)
        return self.params_cache[run.model]

    def table(self) -> pd.DataFrame:
        if self.shadowed.rows:
            where, task = self.shadowed.example or ("?", "?")
            warnings.warn(
                f"{self.root}: dropped {self.shadowed.rows} rows of "
                f"{len(self.shadowed.evaluations)} baseline/ evaluations that re-run a "
                "(model, checkpoint, task, shots) a canonical folder (zero-shot/, five-shot/) "
                f"also evaluates (e.g. {task!r} in {where}); the canonical evaluation was kept. "
                f"{self.shadowed.kept_rows} baseline rows of checkpoints without a canonical "
                "evaluation were kept",
                UserWarning,
                stacklevel=3,
            )
        if self.duplicates:
            where, task, metric = self.duplicate_example or ("?", "?", "?")
            warnings.warn(
                f"{self.root}: dropped {self.duplicates} rows that repeat a (task, subtask, "
                "family, model, shots, metric) already read from another file (re-runs of one "
                f"evaluation; e.g. {task!r}/{metric!r} in {where}); the file whose path sorts "
                "first was kept",
                UserWarning,
                stacklevel=3,
            )
        if self.non_finite:
            where, task, key = self.non_finite_example or ("?", "?", "?")
            warnings.warn(
                f"{self.root}: dropped {self.non_finite} metric values that are not finite "
                f"numbers (e.g. {task!r}/{key!r} in {where})",
                UserWarning,
                stacklevel=3,
            )
        if not self.columns["score"]:
            raise EmptyInputError(
                "no scores found: the results files hold no numeric metric values", path=self.root
            )
        frame = pd.DataFrame(self.columns)
        frame["n_items"] = pd.array(self.columns["n_items"], dtype="Int64")
        frame["score_stderr"] = np.asarray(self.columns["score_stderr"], dtype=float)
        frame["step"] = pd.array(self.columns["step"], dtype="Int64")
        frame["tokens"] = np.asarray(self.columns["tokens"], dtype=float)
        filled = _fill_n_items(frame, self.limits)
        if filled.rows:
            warnings.warn(filled.message(self.root), UserWarning, stacklevel=3)
        if frame["step"].isna().all():
            frame = frame.drop(columns=["step"])
        if frame["tokens"].isna().all():
            frame = frame.drop(columns=["tokens"])
        return validate(frame, path=self.root)


def _folder_role(file: Path, root: Path) -> str | None:
    """``"baseline"`` or ``"intervention"`` where the file lies in such a folder, else ``None``.

    Only folders below ``root`` count (and the file's own folder when ``root`` is the file).
    """
    try:
        parts = file.relative_to(root).parts[:-1] if root.is_dir() else (file.parent.name,)
    except ValueError:
        parts = (file.parent.name,)
    for role in (BASELINE_FOLDER, INTERVENTION_FOLDER):
        if role in parts:
            return role
    return None


def _is_intervention(base_name: str) -> bool:
    return base_name.lower().startswith("intervention-")


def _intervention_family(family: str) -> str:
    """``intervention-pythia-deduped(-long)`` -> ``pythia-deduped-intervention(-long)``."""
    name = family.removeprefix("intervention-")
    if name.endswith("-long"):
        return name.removesuffix("-long") + "-intervention-long"
    return name + "-intervention"


def _standard_errors(metrics: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """``(metric, filter)`` -> its reported standard error (``NaN`` where not a number)."""
    out: dict[tuple[str, str], float] = {}
    for key, value in metrics.items():
        metric, _, filter_key = key.partition(",")
        if metric.endswith("_stderr"):
            number = _as_float(value)
            out[(metric.removesuffix("_stderr"), filter_key)] = (
                number if number is not None and math.isfinite(number) else math.nan
            )
    return out


def _lambada_loglik(perplexity: float, file: Path, task_name: str, key: str) -> float:
    """``-log(ppl)``: the mean log-probability (nats) of LAMBADA's target word."""
    if perplexity < 1.0:
        raise DataFormatError(
            f"results[{task_name!r}][{key!r}] is {perplexity!r}, below 1, which no perplexity "
            "of probabilities can be; the file is corrupt or the metric is not a perplexity",
            path=file,
            column=key,
        )
    return -math.log(perplexity)


def _result_files(root: Path) -> list[Path]:
    if not root.exists():
        raise DataFormatError(
            "no such file or folder; give an lm-eval results .json or a folder of them", path=root
        )
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    if not files:
        raise EmptyInputError(
            "the folder holds no *.json files; give a folder of lm-eval results JSONs", path=root
        )
    return files


def _load_results_json(file: Path) -> dict[str, Any]:
    document = load_json(file, expected="an lm-eval results JSON")
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise DataFormatError(
            "is not an lm-evaluation-harness results file: expected a JSON object with a "
            "'results' object mapping task names to metric values",
            path=file,
        )
    return document


def _relative(file: Path, root: Path) -> str:
    if root.is_dir():
        try:
            return file.relative_to(root).as_posix()
        except ValueError:
            pass
    return file.name


def _file_level_shots(config: Mapping[str, Any], file: Path) -> int | None:
    shots = _as_int(config.get("num_fewshot"))
    if shots is not None:
        return shots
    match = _SHOTS_IN_FILENAME.search(file.name)
    return int(match.group(1)) if match else None


def _n_items(n_samples_entry: Any, samples_in_results: Any) -> int | None:
    if isinstance(n_samples_entry, dict):
        effective = _as_int(n_samples_entry.get("effective"))
        if effective is not None and effective > 0:
            return effective
    count = _as_int(samples_in_results)
    return count if count is not None and count > 0 else None


@dataclass
class _ItemsFill:
    """What :func:`_fill_n_items` did, for the reader's warning."""

    documented_tasks: set[str] = field(default_factory=set)
    documented_rows: int = 0
    recovered_tasks: set[str] = field(default_factory=set)
    recovered_rows: int = 0
    left_tasks: set[str] = field(default_factory=set)
    left_rows: int = 0
    disagreeing_rows: int = 0
    disagreeing_example: tuple[str, int, int] | None = None  # (task, implied n, filled n)

    @property
    def rows(self) -> int:
        return self.documented_rows + self.recovered_rows

    def message(self, root: Path) -> str:
        tasks = len(self.documented_tasks | self.recovered_tasks)
        sources = []
        if self.documented_rows:
            sources.append(
                f"{_count(len(self.documented_tasks), 'task')} ({self.documented_rows} rows) "
                "from their "
                "documented number of items (emergestats.data.choices.ITEM_COUNTS)"
            )
        if self.recovered_rows:
            sources.append(
                f"{_count(len(self.recovered_tasks), 'task')} ({self.recovered_rows} rows) "
                "from the "
                "reported standard errors of their accuracies (n = p (1 - p) / stderr^2 + 1, "
                "the value most rows of a task give)"
            )
        text = (
            f"{root}: the result files do not record n_items; it was filled for {self.rows} "
            f"rows of {_count(tasks, 'task')}: {' and '.join(sources)}"
        )
        if self.left_rows:
            example = sorted(self.left_tasks)[0]
            text += (
                f"; {self.left_rows} rows of {_count(len(self.left_tasks), 'task')} keep "
                "n_items <NA> "
                f"(e.g. {example!r})"
            )
        if self.disagreeing_example is not None:
            task, implied, filled = self.disagreeing_example
            text += (
                f"; the standard errors of {self.disagreeing_rows} rows imply another number of "
                f"items than the one filled (e.g. {task!r}: {implied} against {filled})"
            )
        return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _fills_per_item(subtask: str, metric: str) -> bool:
    """Whether a metric of a task is computed over the task's items (see _GROUPED_METRICS)."""
    if metric.startswith(_SUBSET_METRIC_PREFIXES):
        return False
    return not any(
        subtask.startswith(prefix) and metric in grouped
        for prefix, grouped in _GROUPED_METRICS.items()
    )


def _fill_n_items(frame: pd.DataFrame, limits: list[str | None]) -> _ItemsFill:
    """Fill missing ``n_items`` in place, per task, from the cited counts or the stderrs.

    A task is a harness task name (``subtask``) within the files sharing one ``config.limit``.
    Its number of items is :func:`emergestats.data.choices.item_count` where tabulated (and no
    limit is set), else the value of ``round(p (1 - p) / se^2 + 1)`` that more than half of its
    0/1-metric rows (``p`` in (0, 1), ``se > 0``) give.
    """
    fill = _ItemsFill()
    missing = frame["n_items"].isna().to_numpy()
    if not missing.any():
        return fill
    subtasks = frame["subtask"].to_numpy(dtype=object)
    metrics = np.array([label.partition(",")[0] for label in frame["metric"]], dtype=object)
    score = frame["score"].to_numpy(dtype=float)
    stderr = frame["score_stderr"].to_numpy(dtype=float)
    usable = (
        missing
        & np.isin(metrics, list(_PROPORTION_METRICS))
        & (score > 0)
        & (score < 1)
        & np.isfinite(stderr)
        & (stderr > 0)
    )
    implied = np.full(len(frame), np.nan)
    implied[usable] = np.rint(score[usable] * (1 - score[usable]) / stderr[usable] ** 2 + 1)
    n_items = frame["n_items"].to_numpy(dtype=float, na_value=np.nan)
    limit_of = np.array(["" if limit is None else limit for limit in limits], dtype=object)
    keys = pd.DataFrame({"subtask": subtasks, "limit": limit_of})[missing]
    groups: dict[Any, Any] = keys.groupby(["subtask", "limit"], sort=True).groups
    for key, index in groups.items():
        subtask, limit = str(key[0]), str(key[1])
        rows = np.asarray(index, dtype=np.int64)
        own = implied[rows][usable[rows]]
        documented = item_count(str(subtask)) if limit == "" else None
        count: int | None = None
        if documented is not None:
            count = documented.n_items
        elif own.size:
            values, counts = np.unique(own, return_counts=True)
            best = int(np.argmax(counts))
            if 2 * counts[best] > own.size and values[best] >= 2:
                count = int(values[best])
        per_item = np.array([_fills_per_item(str(subtask), str(m)) for m in metrics[rows]])
        if count is None:
            fill.left_tasks.add(str(subtask))
            fill.left_rows += rows.size
            continue
        n_items[rows[per_item]] = count
        if documented is not None:
            fill.documented_tasks.add(str(subtask))
            fill.documented_rows += int(per_item.sum())
        else:
            fill.recovered_tasks.add(str(subtask))
            fill.recovered_rows += int(per_item.sum())
        if (~per_item).any():
            fill.left_tasks.add(str(subtask))
            fill.left_rows += int((~per_item).sum())
        other = own[own != count]
        if other.size:
            fill.disagreeing_rows += other.size
            fill.disagreeing_example = fill.disagreeing_example or (
                str(subtask),
                int(other[0]),
                count,
            )
    frame["n_items"] = pd.array([pd.NA if np.isnan(v) else int(v) for v in n_items], dtype="Int64")
    return fill


def _group_names(document: Mapping[str, Any]) -> set[str]:
    groups: set[str] = set()
    group_subtasks = document.get("group_subtasks")
    if isinstance(group_subtasks, dict):
        groups |= {name for name, members in group_subtasks.items() if members}
    if isinstance(document.get("groups"), dict):
        groups |= set(document["groups"])
    return groups


def _parent_groups(document: Mapping[str, Any]) -> dict[str, str]:
    group_subtasks = document.get("group_subtasks")
    parent: dict[str, str] = {}
    if isinstance(group_subtasks, dict):
        for group, members in group_subtasks.items():
            if isinstance(members, list):
                for member in members:
                    if isinstance(member, str) and member != group:
                        parent[member] = group
    return parent


def _task_of(task_name: str, parent: Mapping[str, str]) -> str:
    """The benchmark a harness task belongs to (see :func:`read_lm_eval`, ``task``)."""
    if task_name in parent:
        root = task_name
        for _ in range(len(parent) + 1):  # bounded: a malformed file could hold a cycle
            if root not in parent:
                break
            root = parent[root]
        return root
    if "-" in task_name:
        return task_name.split("-", 1)[0]
    for prefix in _BENCHMARK_PREFIXES:
        if task_name.startswith(prefix + "_"):
            return prefix
    return task_name


def _kind_of(metric: str) -> str:
    return _LM_EVAL_METRIC_KINDS.get(metric) or metric_kind_of(metric)


def _reported_in_percent(task_name: str, metric: str) -> bool:
    if metric in _SACREBLEU_METRICS:
        return True
    return task_name.startswith("squad") and metric in _SQUAD_PERCENT_METRICS


# --------------------------------------------------------------------------------------------
# Models, families, sizes, checkpoints
# --------------------------------------------------------------------------------------------


def _model_args(raw: Any) -> dict[str, str]:
    """``config.model_args``: ``"k=v,k=v"`` (both layouts) or a dict (recent >= 0.4)."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, str):
        pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
        return {key.strip(): value.strip() for key, value in pairs}
    return {}


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or "\\" in name
        or re.match(r"^[A-Za-z]:", name) is not None
    )


def _name_from_location(file: Path) -> str:
    """A model name from where the file lies, for runs whose ``pretrained`` is a local path."""
    parent = file.parent.name
    if parent and file.stem.startswith(parent):  # v0.3: results/<family>/<model>/<model>_*.json
        return parent
    if _RESULTS_FILENAME.match(file.name) and parent:  # >= 0.4: <output>/<org>__<model>/
        return parent.split("__")[-1]
    return file.stem.split("_", 1)[0]


def _normalise_model_name(name: str) -> str:
    name = name.rstrip("/").rsplit("/", 1)[-1]
    # The retrained Pythia suite was evaluated as ``pythia-v1.1-<size>`` before it was released
    # under the plain names (``pythia-<size>``); use the released names.
    return name.replace("pythia-v1.1-", "pythia-")


def _run_of(document: Mapping[str, Any], file: Path) -> _Run:
    config = _object_at(document, "config")
    args = _model_args(config.get("model_args"))
    pretrained = args.get("pretrained")
    if not pretrained and isinstance(document.get("model_name"), str):
        pretrained = document["model_name"]
    if pretrained and not _looks_like_path(pretrained):
        base_name = _normalise_model_name(pretrained)
    else:
        base_name = _normalise_model_name(_name_from_location(file))
    revision = args.get("revision")
    step: int | None = None
    suffix: str | None = None
    if revision and revision != "main":
        suffix = revision
        match = _STEP_REVISION.match(revision)
        step = int(match.group(1)) if match else None
    else:
        match = _STEP_IN_FILENAME.search(file.name)
        if match:
            step = int(match.group(1))
            suffix = f"step{step}"
    model = f"{base_name}@{suffix}" if suffix else base_name
    return _Run(base_name=base_name, model=model, pretrained=pretrained, step=step)


def _family_of(base_name: str) -> str:
    """Drop the size segment: ``pythia-1.4b-deduped`` -> ``pythia-deduped``, ``bloom-7b1`` ->
    ``bloom``; a name without a size segment is its own family."""
    segments = base_name.split("-")
    for index, segment in enumerate(segments):
        if _SIZE_SEGMENT.match(segment):
            rest = segments[:index] + segments[index + 1 :]
            return "-".join(rest) if rest else base_name
    return base_name


def _tokens_at(run: _Run) -> float:
    """Training tokens seen at the run's checkpoint, where the batch size is known (Pythia)."""
    if run.step is None or run.step <= 0:
        return math.nan
    name = run.base_name.lower()
    if "pythia" not in name or name.endswith("-v0"):
        return math.nan
    size = canonical_model_name(name).removeprefix("pythia-")
    if size not in _PYTHIA_CURRENT_SIZES:
        return math.nan  # old (v0) names: some of those models used 4M-token batches
    ablation = re.search(r"-(\d+(?:\.\d+)?)mtokbs", name)
    tokens_per_step = float(ablation.group(1)) * 2**20 if ablation else PYTHIA_TOKENS_PER_STEP
    return run.step * tokens_per_step


def _checked_sizes(sizes: Mapping[str, float] | None) -> dict[str, float]:
    if sizes is None:
        return {}
    checked: dict[str, float] = {}
    for name, count in sizes.items():
        value = _as_float(count)
        if value is None or not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"sizes[{name!r}] = {count!r} is not a positive parameter count; give each "
                "model's number of parameters, e.g. sizes={'my-model-1b': 1.0e9}"
            )
        checked[str(name)] = value
    return checked


def _params_of(run: _Run, sizes: Mapping[str, float], file: Path) -> float:
    candidates = [run.model, run.base_name] + ([run.pretrained] if run.pretrained else [])
    for key in candidates:
        if key in sizes:
            return float(sizes[key])
    lowered = {name.lower(): count for name, count in sizes.items()}
    for key in candidates:
        if key.lower() in lowered:
            return float(lowered[key.lower()])
    for key in candidates:
        count = params_for(key)
        if count is not None:
            return count
    raise DataFormatError(
        f"no parameter count for model {run.base_name!r} (not in the built-in table of "
        f"emergestats.data.model_sizes); pass sizes={{{run.base_name!r}: <number of "
        "parameters>}}",
        path=file,
    )


# --------------------------------------------------------------------------------------------
# Item table from per-sample logs
# --------------------------------------------------------------------------------------------


def _sample_files(root: Path) -> list[Path]:
    if not root.exists():
        raise DataFormatError(
            "no such file or folder; give a samples_<task>_<timestamp>.jsonl file or a folder",
            path=root,
        )
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("samples_*.jsonl") if p.is_file())
    if not files:
        raise EmptyInputError(
            "the folder holds no samples_*.jsonl files; run lm-eval with --log_samples",
            path=root,
        )
    return files


def _companion_results(file: Path, task: str) -> tuple[Path, dict[str, Any]] | None:
    """The ``results_*.json`` the harness wrote next to a samples file, if any."""
    match = _SAMPLES_FILENAME.match(file.name)
    stamp = match.group("stamp") if match else None
    candidates = sorted(
        p for p in file.parent.glob("results*.json") if _RESULTS_FILENAME.match(p.name)
    )
    if stamp:
        same_run = [p for p in candidates if p.name == f"results_{stamp}.json"]
        if same_run:
            return same_run[0], _load_results_json(same_run[0])
    loaded = [(p, _load_results_json(p)) for p in candidates]
    mentioning = [
        (p, doc) for p, doc in loaded if task in doc["results"] or task in doc.get("n-shot", {})
    ]
    if len(mentioning) == 1:
        return mentioning[0]
    if len(loaded) == 1:
        return loaded[0]
    return None


def _read_samples_file(
    file: Path,
    *,
    root: Path,
    sizes: Mapping[str, float] | None,
    family: str | None,
    model: str | None,
    shots: int | None,
    filter_name: str | None,
) -> pd.DataFrame:
    match = _SAMPLES_FILENAME.match(file.name)
    if not match:
        raise DataFormatError(
            "is not named samples_<task>_<timestamp>.jsonl, so its task is unknown; keep the "
            "name lm-eval gave it",
            path=file,
        )
    task_name = match.group("task")
    companion = _companion_results(file, task_name)
    document: dict[str, Any] = companion[1] if companion else {}
    if model is not None:
        checkpoint = re.search(r"@step(\d+)$", model)
        run = _Run(
            base_name=model.split("@", 1)[0],
            model=model,
            pretrained=None,
            step=int(checkpoint.group(1)) if checkpoint else None,
        )
    elif companion is not None:
        run = _run_of(document, companion[0])
    else:
        raise DataFormatError(
            "has no results_*.json next to it to name the model; pass model='<model name>'",
            path=file,
        )
    n_shot = _object_at(document, "n-shot")
    task_shots = _as_int(n_shot.get(task_name))
    if task_shots is None:
        task_config = _object_at(_object_at(document, "configs"), task_name)
        task_shots = _as_int(task_config.get("num_fewshot"))
    if task_shots is None:
        config = _object_at(document, "config")
        task_shots = _as_int(config.get("num_fewshot"))
    if task_shots is None:
        task_shots = shots
    if task_shots is None:
        raise DataFormatError(
            f"the number of shots of task {task_name!r} is not in a results file next to it; "
            "pass shots=<k>",
            path=file,
        )
    params = _params_of(run, _checked_sizes(sizes), file)
    family_name = family if family is not None else _family_of(run.base_name)
    task = _task_of(task_name, _parent_groups(document))
    source = f"read_lm_eval_samples:{_relative(file, root)}"

    samples = _load_jsonl(file)
    filters = sorted({str(sample.get("filter", "none")) for _, sample in samples})
    if filter_name is None:
        if len(filters) > 1:
            raise DataFormatError(
                f"logs each document under several filters ({', '.join(filters)}); pass "
                "filter_name= to choose one",
                path=file,
            )
        chosen = filters[0]
    elif filter_name in filters:
        chosen = filter_name
    else:
        raise DataFormatError(
            f"has no samples for filter {filter_name!r}; its filters are {', '.join(filters)}",
            path=file,
        )

    rows: list[dict[str, Any]] = []
    seen_docs: dict[str, int] = {}
    for line_number, sample in samples:
        if str(sample.get("filter", "none")) != chosen:
            continue
        if "doc_id" not in sample:
            raise DataFormatError(
                f"line {line_number} has no 'doc_id'; expected one lm-eval sample per line",
                path=file,
                rows=[line_number - 1],
            )
        item = str(sample["doc_id"])
        if item in seen_docs:
            raise DataFormatError(
                f"doc_id {item} appears on lines {seen_docs[item]} and {line_number} under filter "
                f"{chosen!r}; each document must be logged once per filter",
                path=file,
                rows=[seen_docs[item] - 1, line_number - 1],
            )
        seen_docs[item] = line_number
        logprob, choices, correct_choice, correct = _score_sample(sample, file, line_number)
        rows.append(
            {
                "task": task,
                "subtask": task_name,
                "family": family_name,
                "model": run.model,
                "params": params,
                "shots": task_shots,
                "item": item,
                "target_tokens": math.nan,
                "logprob": logprob,
                "correct": correct,
                "choice_logprobs": choices,
                "source": source,
                "correct_choice": correct_choice,
                "step": run.step,
            }
        )
    if not rows:
        raise EmptyInputError("holds no samples", path=file)
    frame = pd.DataFrame(rows)
    frame["correct"] = pd.array([row["correct"] for row in rows], dtype="Int64")
    frame["correct_choice"] = pd.array([row["correct_choice"] for row in rows], dtype="Int64")
    frame["step"] = pd.array([row["step"] for row in rows], dtype="Int64")
    if frame["step"].isna().all():
        frame = frame.drop(columns=["step"])
    return frame


def _load_jsonl(file: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot be read as UTF-8 text ({exc})", path=file) from exc
    if not text.strip():
        raise EmptyInputError("the file is empty; expected one lm-eval sample per line", path=file)
    samples: list[tuple[int, dict[str, Any]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"line {line_number} is not valid JSON ({exc.msg}); the file is corrupt or "
                "truncated",
                path=file,
                rows=[line_number - 1],
            ) from exc
        if not isinstance(sample, dict):
            raise DataFormatError(
                f"line {line_number} is not a JSON object; expected one lm-eval sample per line",
                path=file,
                rows=[line_number - 1],
            )
        samples.append((line_number, sample))
    return samples


def _score_sample(
    sample: Mapping[str, Any], file: Path, line_number: int
) -> tuple[float, tuple[float, ...] | None, int | None, int | None]:
    """``(logprob, choice_logprobs, correct_choice, correct)`` of one logged sample."""
    responses = sample.get("filtered_resps")
    if not isinstance(responses, list):
        raise DataFormatError(
            f"line {line_number} has no 'filtered_resps' list; expected lm-eval >= 0.4 samples",
            path=file,
            rows=[line_number - 1],
        )
    pairs = [_loglikelihood_pair(response) for response in responses]
    logprob = math.nan
    choices: tuple[float, ...] | None = None
    correct_choice: int | None = None
    if responses and all(pair is not None for pair in pairs):
        logprobs = tuple(pair[0] for pair in pairs if pair is not None)
        if len(logprobs) == 1:
            logprob = logprobs[0]  # a single loglikelihood request (e.g. LAMBADA)
        else:
            choices = logprobs
            correct_choice = _target_index(sample, len(choices), file, line_number)
            if correct_choice is not None:
                logprob = choices[correct_choice]
    elif (
        len(responses) == 1
        and _ROLLING_METRICS & set(sample)
        and (rolling := _as_float(responses[0])) is not None
    ):
        # loglikelihood_rolling (perplexity tasks); a generated answer that happens to be a
        # number ("18") has no perplexity metric next to it and is not a log-likelihood.
        logprob = rolling
    correct = _binary(sample.get("acc"))
    if correct is None:
        correct = _binary(sample.get("exact_match"))
    if correct is None and choices is not None and correct_choice is not None:
        correct = int(int(np.argmax(choices)) == correct_choice)
    return logprob, choices, correct_choice, correct


def _loglikelihood_pair(response: Any) -> tuple[float, bool] | None:
    """``[logprob, is_greedy]`` (numbers or the tracker's strings), else ``None``."""
    if isinstance(response, list | tuple) and len(response) == 2:
        logprob = _as_float(response[0])
        greedy = response[1]
        if isinstance(greedy, str):
            greedy = {"true": True, "false": False}.get(greedy.strip().lower(), greedy)
        if logprob is not None and isinstance(greedy, bool):
            return logprob, greedy
    return None


def _target_index(
    sample: Mapping[str, Any], n_choices: int, file: Path, line_number: int
) -> int | None:
    target = sample.get("target")
    index = _as_int(target)
    if index is None and isinstance(target, str):
        wanted = target.strip()
        for position, continuation in enumerate(_continuations(sample.get("arguments"))):
            if continuation is not None and continuation.strip() == wanted:
                return position
        return None
    if index is None:
        return None
    if not 0 <= index < n_choices:
        raise DataFormatError(
            f"line {line_number}: target {target!r} is not a choice index in 0..{n_choices - 1}",
            path=file,
            rows=[line_number - 1],
        )
    return index


def _continuations(arguments: Any) -> list[str | None]:
    """Continuation strings of each request: ``[[ctx, cont], ..]`` or ``{gen_args_i: {arg_1}}``."""
    requests: Iterable[Any]
    if isinstance(arguments, dict):
        requests = (arguments[key] for key in sorted(arguments, key=_argument_order))
    elif isinstance(arguments, list):
        requests = arguments
    else:
        return []
    out: list[str | None] = []
    for request in requests:
        if isinstance(request, dict):
            value = request.get("arg_1")
        elif isinstance(request, list | tuple) and len(request) >= 2:
            value = request[1]
        else:
            value = None
        out.append(value if isinstance(value, str) else None)
    return out


def _argument_order(key: str) -> int:
    match = re.search(r"(\d+)$", key)
    return int(match.group(1)) if match else 0


# --------------------------------------------------------------------------------------------
# Scalars
# --------------------------------------------------------------------------------------------


def _object_at(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` where it is a JSON object, else an empty dict."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number != round(number):
        return None
    return int(number)


def _binary(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    number = _as_float(value)
    if number in (0.0, 1.0):
        return int(number or 0)
    return None
