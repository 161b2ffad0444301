"""How many choices each multiple-choice task of the readers has, with the source of the number.

The lm-evaluation-harness results files (:func:`emergestats.data.read_lm_eval`) do not say how
many choices a task has, so their accuracy rows had no guessing level. This module is the
cited table the readers use for it, keyed by the task names they meet: the harness's task names
(``subtask`` of :func:`~emergestats.data.read_lm_eval`: ``piqa``, ``arc_easy``,
``hendrycksTest-anatomy``, ``bigbench_navigate``, ...) and the open_lm testbed's task names
(``task`` of :func:`~emergestats.data.read_open_lm`: ``siqa``, ``openbook_qa``,
``logical_deduction``, ...).

Three tables, disjoint:

:data:`CHOICE_TASKS`
    Multiple-choice tasks (the answer is the argmax of the model's log-likelihood over ``K``
    given choices): ``K`` and the chance level ``1 / K``, or, where items have different
    numbers of choices and the counts are known, the mean of ``1 / K_i`` over the items.
:data:`GENERATIVE_TASKS`
    Tasks whose ``acc`` is an exact match of a generated (greedy) answer, not a choice: their
    accuracy has no guessing level and their ``acc`` rows are of kind ``exact_match``.
:data:`UNRESOLVED_TASKS`
    Tasks scored among choices whose guessing level is not ``1 / K`` of a single ``K`` verified
    here (per-item choice counts that vary and are not in the local files, or a metric that is
    not a plain argmax); their chance stays ``NaN``, with the reason.

Names are looked up exactly, then by the prefixes in :data:`CHOICE_TASK_PREFIXES` and
:data:`GENERATIVE_TASK_PREFIXES` (``hendrycksTest-``, ``blimp_``, ``xnli_``, ``arithmetic_``,
``lambada``, ...). Where the number comes from a local file, the citation names it:
``bigbench-tasks/<task>/task.json`` is the mirrored BIG-bench 1.0.0 task definition
(``target_scores`` per item). "lm-eval v0.3 ``<file>``" is the task's source in
``EleutherAI/lm-evaluation-harness`` at the commit of the mirrored results (``lm_eval/tasks/``).

A sibling table, :data:`ITEM_COUNTS` (with :data:`ITEM_COUNT_PREFIXES` and
:func:`item_count`), gives the number of items of the split the harness scores, where that is a
documented fact of the dataset; :func:`~emergestats.data.read_lm_eval` uses it for ``n_items``,
which v0.3 result files do not record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CHOICE_TASKS",
    "CHOICE_TASK_PREFIXES",
    "GENERATIVE_TASKS",
    "GENERATIVE_TASK_PREFIXES",
    "ITEM_COUNTS",
    "ITEM_COUNT_PREFIXES",
    "UNRESOLVED_TASKS",
    "ChoiceTask",
    "ItemCount",
    "choice_task",
    "generative_reason",
    "item_count",
    "unresolved_reason",
]


@dataclass(frozen=True)
class ChoiceTask:
    """The choices of one multiple-choice task.

    Attributes
    ----------
    n_choices
        Choices per item (the most common number where items differ).
    citation
        Where the number comes from: the dataset paper and/or the task's source file.
    choice_counts
        Number of items with each number of choices, where items differ and the counts are
        known (e.g. ``{3: 300, 5: 500, 7: 700}``); empty where every item has ``n_choices``.
    note
        Caveats (e.g. "a few items have 3 or 5 choices").
    """

    n_choices: int
    citation: str
    choice_counts: Mapping[int, int] = field(default_factory=dict)
    note: str = ""

    @property
    def chance(self) -> float:
        """Accuracy of a uniform guess: ``1 / K``, or the mean of ``1 / K_i`` over the items."""
        if self.choice_counts:
            total = sum(self.choice_counts.values())
            return sum(count / k for k, count in self.choice_counts.items()) / total
        return 1.0 / self.n_choices


_LM_EVAL = "lm-eval v0.3 lm_eval/tasks/"
_BIGBENCH_LM_EVAL = (
    "Srivastava et al. (2023), BIG-bench, TMLR, arXiv:2206.04615 (the BIG-Bench Hard selection, "
    "Suzgun et al. 2023, Findings of ACL); lm-eval v0.3 lm_eval/tasks/bigbench.py reads "
    "lm_eval/datasets/bigbench_resources/{name}.json, whose items' target_scores hold the choices"
)
_GLUE = "Wang et al. (2019), GLUE, ICLR, arXiv:1804.07461; " + _LM_EVAL + "glue.py"
_SUPERGLUE = (
    "Wang et al. (2019), SuperGLUE, NeurIPS, arXiv:1905.00537; " + _LM_EVAL + "superglue.py"
)
_ETHICS = (
    "Hendrycks et al. (2021), Aligning AI With Shared Human Values, ICLR, arXiv:2008.02275; "
    + _LM_EVAL
    + "hendrycks_ethics.py (acc: one yes/no item; em groups items and is not a choice)"
)
_MOSAIC = "the Mosaic Eval Gauntlet (LLM Foundry) as described in open_lm's eval_metadata.csv"


def _bigbench(name: str, k: int, how: str) -> ChoiceTask:
    return ChoiceTask(k, _BIGBENCH_LM_EVAL.format(name=name), note=how)


#: Multiple-choice tasks by exact name: lm-evaluation-harness v0.3 names and open_lm names.
CHOICE_TASKS: Final[dict[str, ChoiceTask]] = {
    # --- lm-evaluation-harness (v0.3 names; the >= 0.4 names are mostly the same) ---
    "anli_r1": ChoiceTask(3, "Nie et al. (2020), ANLI, ACL; " + _LM_EVAL + "anli.py"),
    "anli_r2": ChoiceTask(3, "Nie et al. (2020), ANLI, ACL; " + _LM_EVAL + "anli.py"),
    "anli_r3": ChoiceTask(3, "Nie et al. (2020), ANLI, ACL; " + _LM_EVAL + "anli.py"),
    "arc_easy": ChoiceTask(
        4,
        "Clark et al. (2018), ARC, arXiv:1803.05457; " + _LM_EVAL + "arc.py",
        note="most items have 4 choices, a few 3 or 5: 1/4 is approximate",
    ),
    "arc_challenge": ChoiceTask(
        4,
        "Clark et al. (2018), ARC, arXiv:1803.05457; " + _LM_EVAL + "arc.py",
        note="most items have 4 choices, a few 3 or 5: 1/4 is approximate",
    ),
    "boolq": ChoiceTask(2, "Clark et al. (2019), BoolQ, NAACL (yes/no); " + _SUPERGLUE),
    "cb": ChoiceTask(
        3, "de Marneffe et al. (2019), CommitmentBank (True/False/Neither); " + _SUPERGLUE
    ),
    "copa": ChoiceTask(2, "Roemmele et al. (2011), COPA, AAAI Spring Symposium; " + _SUPERGLUE),
    "wic": ChoiceTask(2, "Pilehvar & Camacho-Collados (2019), WiC, NAACL (yes/no); " + _SUPERGLUE),
    "wsc": ChoiceTask(2, "Levesque et al. (2012), WSC, as a yes/no item in " + _SUPERGLUE),
    "wsc273": ChoiceTask(
        2, "Levesque et al. (2012), The Winograd Schema Challenge, KR; " + _LM_EVAL + "wsc273.py"
    ),
    "cola": ChoiceTask(2, "Warstadt et al. (2019), CoLA, TACL; " + _GLUE + " (scored by mcc)"),
    "mnli": ChoiceTask(3, "Williams et al. (2018), MultiNLI, NAACL; " + _GLUE),
    "mnli_mismatched": ChoiceTask(3, "Williams et al. (2018), MultiNLI, NAACL; " + _GLUE),
    "mrpc": ChoiceTask(2, "Dolan & Brockett (2005), MRPC; " + _GLUE),
    "qnli": ChoiceTask(2, "Rajpurkar et al. (2016) as QNLI; " + _GLUE),
    "qqp": ChoiceTask(2, "Quora Question Pairs; " + _GLUE),
    "rte": ChoiceTask(2, "Dagan et al. (2006) and successors, RTE; " + _GLUE),
    "sst": ChoiceTask(2, "Socher et al. (2013), SST-2, EMNLP; " + _GLUE),
    "wnli": ChoiceTask(2, "Levesque et al. (2012) as WNLI; " + _GLUE),
    "ethics_cm": ChoiceTask(2, _ETHICS),
    "ethics_deontology": ChoiceTask(2, _ETHICS),
    "ethics_justice": ChoiceTask(2, _ETHICS),
    "ethics_utilitarianism": ChoiceTask(2, _ETHICS),
    "ethics_virtue": ChoiceTask(2, _ETHICS),
    "hellaswag": ChoiceTask(
        4, "Zellers et al. (2019), HellaSwag, ACL; " + _LM_EVAL + "hellaswag.py"
    ),
    "swag": ChoiceTask(4, "Zellers et al. (2018), SWAG, EMNLP; " + _LM_EVAL + "swag.py"),
    "logiqa": ChoiceTask(4, "Liu et al. (2020), LogiQA, IJCAI; " + _LM_EVAL + "logiqa.py"),
    "mathqa": ChoiceTask(
        5, "Amini et al. (2019), MathQA, NAACL (options a-e); " + _LM_EVAL + "mathqa.py"
    ),
    "openbookqa": ChoiceTask(
        4, "Mihaylov et al. (2018), OpenBookQA, EMNLP; " + _LM_EVAL + "openbookqa.py"
    ),
    "piqa": ChoiceTask(2, "Bisk et al. (2020), PIQA, AAAI (2 solutions); " + _LM_EVAL + "piqa.py"),
    "prost": ChoiceTask(
        4, "Aroca-Ouellette et al. (2021), PROST, Findings of ACL; " + _LM_EVAL + "prost.py"
    ),
    "race": ChoiceTask(4, "Lai et al. (2017), RACE, EMNLP; " + _LM_EVAL + "race.py"),
    "sciq": ChoiceTask(
        4, "Welbl et al. (2017), SciQ, W-NUT (3 distractors); " + _LM_EVAL + "sciq.py"
    ),
    "toxigen": ChoiceTask(
        2, "Hartvigsen et al. (2022), ToxiGen, ACL (toxic or not); " + _LM_EVAL + "toxigen.py"
    ),
    "winogrande": ChoiceTask(
        2, "Sakaguchi et al. (2020), WinoGrande, AAAI (2 options); " + _LM_EVAL + "winogrande.py"
    ),
    # BIG-bench tasks as lm-eval v0.3 runs them (multiple_choice_grade). Only those whose
    # number of choices is fixed by the task's construction; the rest are in UNRESOLVED_TASKS.
    "bigbench_causal_judgement": _bigbench("causal_judgement", 2, "Yes/No"),
    "bigbench_formal_fallacies_syllogisms_negation": _bigbench(
        "formal_fallacies_syllogisms_negation", 2, "valid/invalid"
    ),
    "bigbench_hyperbaton": _bigbench("hyperbaton", 2, "which of two adjective orders"),
    "bigbench_navigate": _bigbench("navigate", 2, "Yes/No"),
    "bigbench_snarks": _bigbench("snarks", 2, "which of two sentences is sarcastic"),
    "bigbench_sports_understanding": _bigbench("sports_understanding", 2, "plausible/implausible"),
    "bigbench_logical_deduction_three_objects": _bigbench(
        "logical_deduction_three_objects", 3, "one choice per object"
    ),
    "bigbench_logical_deduction_five_objects": _bigbench(
        "logical_deduction_five_objects", 5, "one choice per object"
    ),
    "bigbench_logical_deduction_seven_objects": _bigbench(
        "logical_deduction_seven_objects", 7, "one choice per object"
    ),
    "bigbench_tracking_shuffled_objects_three_objects": _bigbench(
        "tracking_shuffled_objects_three_objects", 3, "one choice per object"
    ),
    "bigbench_tracking_shuffled_objects_five_objects": _bigbench(
        "tracking_shuffled_objects_five_objects", 5, "one choice per object"
    ),
    "bigbench_tracking_shuffled_objects_seven_objects": _bigbench(
        "tracking_shuffled_objects_seven_objects", 7, "one choice per object"
    ),
    "bigbench_temporal_sequences": _bigbench(
        "temporal_sequences", 4, "four time windows per item (checked in the resource file)"
    ),
    "bigbench_salient_translation_error_detection": _bigbench(
        "salient_translation_error_detection", 6, "the six error categories of the task"
    ),
    # --- open_lm testbed (LLM Foundry task names, bigbench_ prefix removed) ---
    "mmlu": ChoiceTask(4, "Hendrycks et al. (2021), MMLU, ICLR, arXiv:2009.03300"),
    "mmlu_zeroshot": ChoiceTask(4, "Hendrycks et al. (2021), MMLU, ICLR, arXiv:2009.03300"),
    "hellaswag_zeroshot": ChoiceTask(4, "Zellers et al. (2019), HellaSwag, ACL"),
    "openbook_qa": ChoiceTask(4, "Mihaylov et al. (2018), OpenBookQA, EMNLP"),
    "logi_qa": ChoiceTask(4, "Liu et al. (2020), LogiQA, IJCAI"),
    "math_qa": ChoiceTask(
        5,
        "Amini et al. (2019), MathQA, NAACL (options a-e)",
        note="eval_metadata.csv calls it four-choice (25%); LLM Foundry's copy is not checked here",
    ),
    "siqa": ChoiceTask(
        3,
        "Sap et al. (2019), Social IQa, EMNLP (three answers per question)",
        note="eval_metadata.csv calls it two-choice (50%)",
    ),
    "commonsense_qa": ChoiceTask(
        5,
        "Talmor et al. (2019), CommonsenseQA, NAACL (five answers per question)",
        note="eval_metadata.csv calls it four-choice (25%)",
    ),
    "winograd": ChoiceTask(2, "Levesque et al. (2012), The Winograd Schema Challenge, KR"),
    "agi_eval_lsat_ar": ChoiceTask(
        5,
        "Zhong et al. (2023), AGIEval, arXiv:2304.06364 (LSAT questions have options A-E)",
        note="eval_metadata.csv says 25%",
    ),
    "agi_eval_lsat_lr": ChoiceTask(
        5,
        "Zhong et al. (2023), AGIEval, arXiv:2304.06364 (LSAT questions have options A-E)",
        note="eval_metadata.csv says 25%",
    ),
    "agi_eval_lsat_rc": ChoiceTask(
        5,
        "Zhong et al. (2023), AGIEval, arXiv:2304.06364 (LSAT questions have options A-E)",
        note="eval_metadata.csv says 25%",
    ),
    "agi_eval_sat_en": ChoiceTask(
        4, "Zhong et al. (2023), AGIEval, arXiv:2304.06364 (SAT questions have options A-D)"
    ),
    "bbq": ChoiceTask(
        3,
        "Parrish et al. (2022), BBQ, Findings of ACL (two people and 'unknown')",
        note="eval_metadata.csv says 50%",
    ),
    "winogender_mc_female": ChoiceTask(
        2, "Rudinger et al. (2018), Winogender, NAACL, in the two-choice form of " + _MOSAIC
    ),
    "winogender_mc_male": ChoiceTask(
        2, "Rudinger et al. (2018), Winogender, NAACL, in the two-choice form of " + _MOSAIC
    ),
    "enterprise_pii_classification": ChoiceTask(
        2, "Patronus AI, Enterprise PII classification (two labels), via " + _MOSAIC
    ),
    # BIG-bench tasks of the open_lm testbed: counted in bigbench-tasks/<task>/task.json
    "misconceptions": ChoiceTask(2, "bigbench-tasks/misconceptions/task.json: 219 items x 2"),
    "strategyqa": ChoiceTask(2, "bigbench-tasks/strategyqa/task.json: 2290 items x 2"),
    "conceptual_combinations": ChoiceTask(
        4, "bigbench-tasks/conceptual_combinations/*/task.json: 103 items x 4"
    ),
    "understanding_fables": ChoiceTask(
        5,
        "bigbench-tasks/understanding_fables/task.json: 189 items x 5",
        note="eval_metadata.csv calls it 4-choice (25%)",
    ),
    "novel_concepts": ChoiceTask(
        5,
        "bigbench-tasks/novel_concepts/task.json: 30 items x 5, 2 items x 10",
        choice_counts={5: 30, 10: 2},
        note="eval_metadata.csv says 25%",
    ),
    "strange_stories": ChoiceTask(
        4,
        "bigbench-tasks/strange_stories/{boolean,multiple_choice}/task.json: 53 items x 2, "
        "121 items x 4 (174 in all, the item count of eval_metadata.csv)",
        choice_counts={2: 53, 4: 121},
        note="eval_metadata.csv calls it two-choice (50%)",
    ),
    "logical_deduction": ChoiceTask(
        7,
        "bigbench-tasks/logical_deduction/{three,five,seven}_objects/task.json: 300 x 3, "
        "500 x 5, 700 x 7 (1500 in all, the item count of eval_metadata.csv)",
        choice_counts={3: 300, 5: 500, 7: 700},
        note="eval_metadata.csv calls it four-choice (25%)",
    ),
}

#: Families of multiple-choice tasks named ``<prefix><subset>`` (languages, subjects, phenomena).
CHOICE_TASK_PREFIXES: Final[dict[str, ChoiceTask]] = {
    "hendrycksTest-": ChoiceTask(
        4,
        "Hendrycks et al. (2021), MMLU, ICLR, arXiv:2009.03300; " + _LM_EVAL + "hendrycks_test.py",
    ),
    "mmlu_": ChoiceTask(4, "Hendrycks et al. (2021), MMLU, ICLR (lm-eval >= 0.4 subject names)"),
    "blimp_": ChoiceTask(
        2,
        "Warstadt et al. (2020), BLiMP, TACL: minimal pairs, acc = log p(good) > log p(bad); "
        + _LM_EVAL
        + "blimp.py",
    ),
    "xnli_": ChoiceTask(3, "Conneau et al. (2018), XNLI, EMNLP; " + _LM_EVAL + "xnli.py"),
    "xcopa_": ChoiceTask(2, "Ponti et al. (2020), XCOPA, EMNLP; " + _LM_EVAL + "xcopa.py"),
    "pawsx_": ChoiceTask(2, "Yang et al. (2019), PAWS-X, EMNLP; " + _LM_EVAL + "pawsx.py"),
    "xstory_cloze_": ChoiceTask(
        2,
        "Mostafazadeh et al. (2016), Story Cloze, NAACL; Lin et al. (2022), XStoryCloze, EMNLP; "
        + _LM_EVAL
        + "xstorycloze.py",
    ),
    "xwinograd_": ChoiceTask(
        2,
        "Tikhonov & Ryabinin (2021), XWINO, Findings of ACL; Muennighoff et al. (2023), ACL; "
        + _LM_EVAL
        + "xwinograd.py",
    ),
}

_GREEDY = "acc = the whole answer is the model's greedy continuation"
#: Tasks whose ``acc`` is an exact match of a generated answer (name -> why).
GENERATIVE_TASKS: Final[dict[str, str]] = {
    **{
        name: _LM_EVAL + "unscramble.py: greedy generation, acc = the output equals the target"
        for name in (
            "anagrams1",
            "anagrams2",
            "cycle_letters",
            "random_insertion",
            "reversed_words",
        )
    },
    "gsm8k": _LM_EVAL + "gsm8k.py: greedy generation, acc = the extracted number equals the target",
    "triviaqa": _LM_EVAL + "triviaqa.py: acc = some answer alias is the greedy continuation",
    "webqs": _LM_EVAL + "webqs.py: acc = some answer alias is the greedy continuation",
}
#: Families of generative tasks by name prefix (prefix -> why).
GENERATIVE_TASK_PREFIXES: Final[dict[str, str]] = {
    "arithmetic_": _LM_EVAL + "arithmetic.py (Brown et al. 2020): " + _GREEDY,
    "lambada": _LM_EVAL
    + "lambada*.py: acc = the target word (all its tokens) is the greedy continuation",
    "math_": _LM_EVAL
    + "hendrycks_math.py (generated answer equals the target) and asdiv.py ("
    + _GREEDY
    + ")",
}

#: Tasks scored among choices without a single verified chance level (name -> why).
UNRESOLVED_TASKS: Final[dict[str, str]] = {
    "truthfulqa_mc": (
        "Lin et al. (2022), TruthfulQA: the number of choices varies by question (mc1) and mc2 "
        "is a probability mass, not an argmax"
    ),
    "multirc": (
        _SUPERGLUE + ": acc is acc_all, right only if every answer to a question is labelled "
        "right, so its guessing level depends on the number of answers"
    ),
    "headqa_en": "Vilares & Gomez-Rodriguez (2019), HEAD-QA: 4 or 5 options by exam year",
    "headqa_es": "Vilares & Gomez-Rodriguez (2019), HEAD-QA: 4 or 5 options by exam year",
    "ethics_utilitarianism_original": (
        _ETHICS + ": compares two scenarios' rating log-likelihoods, not an argmax of choices"
    ),
    **{
        f"bigbench_{name}": (
            _BIGBENCH_LM_EVAL.format(name=name)
            + ": the number of choices differs between items and is not in the local files"
        )
        for name in (
            "date_understanding",
            "disambiguation_qa",
            "dyck_languages",
            "geometric_shapes",
            "movie_recommendation",
            "reasoning_about_colored_objects",
            "ruin_names",
        )
    },
    "language_identification": "BIG-bench language_identification: not in the local task files",
    "elementary_math_qa": "BIG-bench elementary_math_qa: not in the local task files",
}


def _by_prefix[T](name: str, table: Mapping[str, T]) -> T | None:
    for prefix in sorted(table, key=len, reverse=True):
        if name.startswith(prefix):
            return table[prefix]
    return None


def choice_task(name: str) -> ChoiceTask | None:
    """The choices of a multiple-choice task, ``None`` if it is not one (or not resolved).

    Parameters
    ----------
    name
        A task name as the lm-eval reader writes ``subtask`` or the open_lm reader ``task``.

    Examples
    --------
    >>> choice_task("piqa").chance
    0.5
    >>> choice_task("hendrycksTest-anatomy").n_choices
    4
    >>> choice_task("lambada_openai") is None
    True
    """
    if name in UNRESOLVED_TASKS or generative_reason(name) is not None:
        return None
    if name in CHOICE_TASKS:
        return CHOICE_TASKS[name]
    return _by_prefix(name, CHOICE_TASK_PREFIXES)


def generative_reason(name: str) -> str | None:
    """Why a task's ``acc`` is an exact match of a generated answer; ``None`` if it is not."""
    if name in CHOICE_TASKS or name in UNRESOLVED_TASKS:
        return None
    if name in GENERATIVE_TASKS:
        return GENERATIVE_TASKS[name]
    return _by_prefix(name, GENERATIVE_TASK_PREFIXES)


def unresolved_reason(name: str) -> str | None:
    """Why a choice-scored task has no chance level here; ``None`` if it is not such a task."""
    return UNRESOLVED_TASKS.get(name)


# --------------------------------------------------------------------------------------------
# Number of items of the split each task scores


@dataclass(frozen=True)
class ItemCount:
    """The number of items of the split a harness task scores.

    Attributes
    ----------
    n_items
        Items (documents) the task's metrics average over.
    split
        The split the harness scores (``"validation"``, ``"test"``, ...).
    citation
        Where the number is documented: the dataset paper and/or the harness task source.
    """

    n_items: int
    split: str
    citation: str


_ANLI = "Nie et al. (2020), Adversarial NLI, ACL (test sets of 1,000, 1,000 and 1,200); "
_GPT3_ARITHMETIC = (
    "Brown et al. (2020), Language Models are Few-Shot Learners, NeurIPS, section 3.9.1 "
    "(2,000 random problems per task); " + _LM_EVAL + "arithmetic.py"
)
_GPT3_WORDS = (
    "Brown et al. (2020), Language Models are Few-Shot Learners, NeurIPS, section 3.9.2 "
    "(10,000 examples per task); " + _LM_EVAL + "unscramble.py"
)
_LAMBADA = (
    "Paperno et al. (2016), The LAMBADA dataset, ACL (test set: 5,153 passages); the OpenAI "
    "detokenised copy (Radford et al. 2019) and its machine translations hold the same passages; "
    + _LM_EVAL
    + "lambada*.py"
)
_MATH = "Hendrycks et al. (2021), MATH, NeurIPS Datasets and Benchmarks (test split by subject: "
_MATH_COUNTS = (
    "algebra 1,187, counting & probability 474, geometry 479, intermediate algebra 903, "
    "number theory 540, prealgebra 871, precalculus 546; 5,000 in all); "
    + _LM_EVAL
    + "hendrycks_math.py"
)

#: Documented number of items of the split each harness task (v0.3 names) scores.
ITEM_COUNTS: Final[dict[str, ItemCount]] = {
    "piqa": ItemCount(
        1838,
        "validation",
        "Bisk et al. (2020), PIQA, AAAI (validation: 1,838; test labels "
        "are hidden); " + _LM_EVAL + "piqa.py",
    ),
    "arc_easy": ItemCount(
        2376,
        "test",
        "Clark et al. (2018), ARC, arXiv:1803.05457 (Easy test: 2,376); " + _LM_EVAL + "arc.py",
    ),
    "arc_challenge": ItemCount(
        1172,
        "test",
        "Clark et al. (2018), ARC, arXiv:1803.05457 (Challenge test: 1,172); "
        + _LM_EVAL
        + "arc.py",
    ),
    "winogrande": ItemCount(
        1267,
        "validation",
        "Sakaguchi et al. (2020), WinoGrande, AAAI (dev: 1,267); "
        + _LM_EVAL
        + "winogrande.py (winogrande_xl validation)",
    ),
    "sciq": ItemCount(
        1000, "test", "Welbl et al. (2017), SciQ, W-NUT (test: 1,000); " + _LM_EVAL + "sciq.py"
    ),
    "hellaswag": ItemCount(
        10042,
        "validation",
        "Zellers et al. (2019), HellaSwag, ACL (validation: 10,042); " + _LM_EVAL + "hellaswag.py",
    ),
    "boolq": ItemCount(
        3270, "validation", "Clark et al. (2019), BoolQ, NAACL (dev: 3,270); " + _SUPERGLUE
    ),
    "openbookqa": ItemCount(
        500,
        "test",
        "Mihaylov et al. (2018), OpenBookQA, EMNLP (test: 500); " + _LM_EVAL + "openbookqa.py",
    ),
    "copa": ItemCount(
        100, "validation", "Roemmele et al. (2011), COPA (validation: 100); " + _SUPERGLUE
    ),
    "wsc": ItemCount(
        104,
        "validation",
        "SuperGLUE's WSC (validation: 104 items), not the 273 schemas of wsc273; " + _SUPERGLUE,
    ),
    "wsc273": ItemCount(
        273,
        "test",
        "Levesque et al. (2012), The Winograd Schema Challenge, KR (273 schemas); "
        + _LM_EVAL
        + "wsc273.py",
    ),
    "logiqa": ItemCount(
        651, "test", "Liu et al. (2020), LogiQA, IJCAI (test: 651); " + _LM_EVAL + "logiqa.py"
    ),
    "cb": ItemCount(
        56,
        "validation",
        "de Marneffe et al. (2019), CommitmentBank (validation: 56); " + _SUPERGLUE,
    ),
    "wic": ItemCount(
        638,
        "validation",
        "Pilehvar & Camacho-Collados (2019), WiC, NAACL (validation: 638); " + _SUPERGLUE,
    ),
    "record": ItemCount(
        10000, "validation", "Zhang et al. (2018), ReCoRD (validation: 10,000); " + _SUPERGLUE
    ),
    "cola": ItemCount(
        1043,
        "validation",
        "Warstadt et al. (2019), CoLA, TACL (dev: 527 "
        "in-domain + 516 out-of-domain = 1,043); " + _GLUE,
    ),
    "mnli": ItemCount(
        9815,
        "validation_matched",
        "Williams et al. (2018), MultiNLI, NAACL (dev matched: 9,815); " + _GLUE,
    ),
    "mnli_mismatched": ItemCount(
        9832,
        "validation_mismatched",
        "Williams et al. (2018), MultiNLI, NAACL (dev mismatched: 9,832); " + _GLUE,
    ),
    "mrpc": ItemCount(408, "validation", "Dolan & Brockett (2005), MRPC (dev: 408); " + _GLUE),
    "qnli": ItemCount(5463, "validation", "QNLI (dev: 5,463); " + _GLUE),
    "qqp": ItemCount(40430, "validation", "Quora Question Pairs (dev: 40,430); " + _GLUE),
    "rte": ItemCount(277, "validation", "RTE (dev: 277); " + _GLUE),
    "sst": ItemCount(872, "validation", "Socher et al. (2013), SST-2 (dev: 872); " + _GLUE),
    "wnli": ItemCount(71, "validation", "WNLI (dev: 71); " + _GLUE),
    "anli_r1": ItemCount(1000, "test_r1", _ANLI + _LM_EVAL + "anli.py"),
    "anli_r2": ItemCount(1000, "test_r2", _ANLI + _LM_EVAL + "anli.py"),
    "anli_r3": ItemCount(1200, "test_r3", _ANLI + _LM_EVAL + "anli.py"),
    "mathqa": ItemCount(
        2985, "test", "Amini et al. (2019), MathQA, NAACL (test: 2,985); " + _LM_EVAL + "mathqa.py"
    ),
    "headqa_en": ItemCount(
        2742,
        "test",
        "Vilares & Gomez-Rodriguez (2019), HEAD-QA, ACL (test: 2,742); " + _LM_EVAL + "headqa.py",
    ),
    "headqa_es": ItemCount(
        2742,
        "test",
        "Vilares & Gomez-Rodriguez (2019), HEAD-QA, ACL (test: 2,742); " + _LM_EVAL + "headqa.py",
    ),
    "swag": ItemCount(
        20006,
        "validation",
        "Zellers et al. (2018), SWAG, EMNLP (validation: 20,006); " + _LM_EVAL + "swag.py",
    ),
    "prost": ItemCount(
        18736,
        "test",
        "Aroca-Ouellette et al. (2021), PROST, Findings of ACL "
        "(18,736 questions); " + _LM_EVAL + "prost.py",
    ),
    "truthfulqa_mc": ItemCount(
        817,
        "validation",
        "Lin et al. (2022), TruthfulQA, ACL (817 questions); " + _LM_EVAL + "truthfulqa.py",
    ),
    "gsm8k": ItemCount(
        1319,
        "test",
        "Cobbe et al. (2021), GSM8K, arXiv:2110.14168 (test: 1,319); " + _LM_EVAL + "gsm8k.py",
    ),
    "drop": ItemCount(
        9536,
        "validation",
        "Dua et al. (2019), DROP, NAACL (dev: 9,536 questions); " + _LM_EVAL + "drop.py",
    ),
    "webqs": ItemCount(
        2032,
        "test",
        "Berant et al. (2013), WebQuestions, EMNLP (test: 2,032); " + _LM_EVAL + "webqs.py",
    ),
    "triviaqa": ItemCount(
        11313,
        "validation",
        "Joshi et al. (2017), TriviaQA, ACL (unfiltered "
        "validation: 11,313); " + _LM_EVAL + "triviaqa.py",
    ),
    **{
        name: ItemCount(5153, "test", _LAMBADA)
        for name in (
            "lambada",
            "lambada_openai",
            "lambada_standard",
            "lambada_openai_cloze",
            "lambada_standard_cloze",
        )
    },
    **{
        name: ItemCount(10000, "validation", _GPT3_WORDS)
        for name in (
            "anagrams1",
            "anagrams2",
            "cycle_letters",
            "random_insertion",
            "reversed_words",
        )
    },
    **{
        f"math_{subject}": ItemCount(count, "test", _MATH + _MATH_COUNTS)
        for subject, count in (
            ("algebra", 1187),
            ("counting_and_prob", 474),
            ("geometry", 479),
            ("intermediate_algebra", 903),
            ("num_theory", 540),
            ("prealgebra", 871),
            ("precalc", 546),
        )
    },
    **{
        f"xwinograd_{language}": ItemCount(
            count,
            "test",
            "Tikhonov & Ryabinin (2021), XWINO, Findings of ACL; Muennighoff et "
            "al. (2023), ACL (en 2,325, fr 83, jp 959, pt 263, ru 315, zh 504); "
            + _LM_EVAL
            + "xwinograd.py",
        )
        for language, count in (
            ("en", 2325),
            ("fr", 83),
            ("jp", 959),
            ("pt", 263),
            ("ru", 315),
            ("zh", 504),
        )
    },
}

#: Families of tasks whose every member scores the same number of items (prefix -> count).
ITEM_COUNT_PREFIXES: Final[dict[str, ItemCount]] = {
    "arithmetic_": ItemCount(2000, "validation", _GPT3_ARITHMETIC),
    "lambada_openai_mt_": ItemCount(5153, "test", _LAMBADA),
    "blimp_": ItemCount(
        1000,
        "train",
        "Warstadt et al. (2020), BLiMP, TACL (1,000 minimal pairs per "
        "paradigm); " + _LM_EVAL + "blimp.py",
    ),
    "xnli_": ItemCount(
        5010,
        "test",
        "Conneau et al. (2018), XNLI, EMNLP (test: 5,010 per language); " + _LM_EVAL + "xnli.py",
    ),
    "xcopa_": ItemCount(
        500,
        "test",
        "Ponti et al. (2020), XCOPA, EMNLP (test: 500 per language); " + _LM_EVAL + "xcopa.py",
    ),
    "pawsx_": ItemCount(
        2000,
        "test",
        "Yang et al. (2019), PAWS-X, EMNLP (test: 2,000 per language); " + _LM_EVAL + "pawsx.py",
    ),
    "xstory_cloze_": ItemCount(
        1511,
        "eval",
        "Lin et al. (2022), XStoryCloze, EMNLP (1,511 evaluation stories per "
        "language, the Story Cloze 2016 validation set); " + _LM_EVAL + "xstorycloze.py",
    ),
}


def item_count(name: str) -> ItemCount | None:
    """The documented number of items a harness task scores; ``None`` where not tabulated.

    Parameters
    ----------
    name
        A task name as the lm-eval reader writes ``subtask`` (v0.3 names).

    Examples
    --------
    >>> item_count("piqa").n_items
    1838
    >>> item_count("xnli_sw").n_items
    5010
    >>> item_count("hendrycksTest-anatomy") is None
    True
    """
    if name in ITEM_COUNTS:
        return ITEM_COUNTS[name]
    return _by_prefix(name, ITEM_COUNT_PREFIXES)
