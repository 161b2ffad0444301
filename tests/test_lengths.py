"""Answer lengths of generated-answer tasks: GPT-3 arithmetic rules and BIG-bench definitions.

The arithmetic distributions are checked against values counted by hand and against a
brute-force enumeration that writes every answer out as text; BIG-bench lengths against a
task folder written here; the ``realdata`` tests against the mirrored ObsScaling, open_lm and
lm-eval tables.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emergestats import datasets
from emergestats.data import read_bigbench_tasks
from emergestats.data.lengths import (
    ARITHMETIC_ITEMS,
    GPT3_ARITHMETIC_TASKS,
    NO_LENGTH_PREFIXES,
    NO_LENGTH_TASKS,
    default_lengths,
    gpt3_arithmetic_length_distribution,
    gpt3_arithmetic_lengths,
    unknown_length_tasks,
)
from emergestats.errors import ConfigError

# --------------------------------------------------------------------------------------------
# GPT-3 arithmetic
# --------------------------------------------------------------------------------------------


def test_two_digit_addition_counted_by_hand() -> None:
    # a + b with a, b uniform on 0..99: 55 of the 10^4 pairs sum to at most 9 (1 digit), and
    # a + b >= 100 for sum_{a=1}^{99} a = 4950 pairs (3 digits); the rest have 2 digits.
    assert gpt3_arithmetic_length_distribution("2da") == {
        1: Fraction(55, 10_000),
        2: Fraction(4995, 10_000),
        3: Fraction(4950, 10_000),
    }


def test_two_digit_subtraction_counts_the_minus_sign() -> None:
    # a - b = d has 100 - |d| pairs. One character: d in 0..9 (100 + 99 + ... + 91 = 955);
    # two: d in 10..99 (90 + ... + 1 = 4095) or d in -9..-1 (855); three: d in -99..-10 (4095).
    assert gpt3_arithmetic_length_distribution("arithmetic_2ds") == {
        1: Fraction(955, 10_000),
        2: Fraction(4095 + 855, 10_000),
        3: Fraction(4095, 10_000),
    }


def test_three_digit_addition_share_of_four_digit_sums() -> None:
    distribution = gpt3_arithmetic_length_distribution("3_digit_addition")
    # a + b >= 1000 for sum_{a=1}^{999} a = 499,500 of the 10^6 pairs
    assert distribution[4] == Fraction(499_500, 10**6)
    # sums of at most 99: sum_{s=0}^{99} (s + 1) = 5050, of which 55 are at most 9
    assert distribution[1] == Fraction(55, 10**6)
    assert distribution[2] == Fraction(5050 - 55, 10**6)
    assert sum(distribution.values()) == 1


def test_five_digit_tasks_by_closed_form() -> None:
    n = 10**5
    addition = gpt3_arithmetic_length_distribution("5da")
    assert addition[6] == Fraction((n - 1) * n // 2, n**2)  # a + b >= 10^5
    subtraction = gpt3_arithmetic_length_distribution("5ds")
    # 6 characters: d in -99999..-10000, sum_{k=10000}^{99999} (n - k) pairs
    assert subtraction[6] == Fraction(sum(n - k for k in range(10_000, n)), n**2)
    assert max(subtraction) == 6 and sum(subtraction.values()) == 1


def test_two_digit_multiplication_counted_by_hand() -> None:
    # products of at most 9: a = 0 (100 pairs), b = 0 with a >= 1 (99), and
    # sum_{a=1}^{9} floor(9 / a) = 9 + 4 + 3 + 2 + 1 + 1 + 1 + 1 + 1 = 23 more
    distribution = gpt3_arithmetic_length_distribution("2_digit_multiplication")
    assert distribution[1] == Fraction(222, 10_000)
    assert max(distribution) == 4  # 99 * 99 = 9801


def written_out(answers: list[int]) -> dict[int, Fraction]:
    """The distribution of the answers' lengths as text: an independent count."""
    counts = Counter(len(str(answer)) for answer in answers)
    return {length: Fraction(count, len(answers)) for length, count in sorted(counts.items())}


@pytest.mark.parametrize(
    ("code", "operation", "size"),
    [
        ("2da", lambda a, b: a + b, 100),
        ("2ds", lambda a, b: a - b, 100),
        ("2dm", lambda a, b: a * b, 100),
        ("3ds", lambda a, b: a - b, 1000),
    ],
)
def test_distributions_match_every_answer_written_out(code: str, operation: Any, size: int) -> None:
    answers = [operation(a, b) for a in range(size) for b in range(size)]
    assert gpt3_arithmetic_length_distribution(code) == written_out(answers)


def test_single_digit_composite_follows_the_released_file() -> None:
    # "(a op1 b) op2 c", digits 1..9 (openai/gpt-3 data/single_digit_three_ops.jsonl, e.g.
    # "What is (4 - 7) - 3?" -> " -6"), every expression evaluated as text.
    answers = [
        eval(f"({a} {op1} {b}) {op2} {c}")  # the expression as the released file writes it
        for a, b, c in itertools.product(range(1, 10), repeat=3)
        for op1, op2 in itertools.product("+-*", repeat=2)
    ]
    assert gpt3_arithmetic_length_distribution("1dc") == written_out(answers)
    assert written_out([(4 - 7) - 3, (1 - 9) * 5, (9 * 9) * 9]) == {
        2: Fraction(1, 3),
        3: Fraction(2, 3),
    }


def test_representative_lengths_round_the_exact_frequencies() -> None:
    lengths = gpt3_arithmetic_lengths("2da")
    assert lengths.dtype == np.int64 and lengths.size == ARITHMETIC_ITEMS == 2000
    assert np.all(np.diff(lengths) >= 0)
    assert [int((lengths == k).sum()) for k in (1, 2, 3)] == [11, 999, 990]  # exact here
    for code in GPT3_ARITHMETIC_TASKS:
        for n_items in (2000, 7):
            lengths = gpt3_arithmetic_lengths(code, n_items=n_items)
            assert lengths.size == n_items
            for length, probability in gpt3_arithmetic_length_distribution(code).items():
                share = Fraction(int((lengths == length).sum()), n_items)
                assert abs(share - probability) < Fraction(1, n_items), (code, length)


def test_arithmetic_names_and_errors() -> None:
    assert set(GPT3_ARITHMETIC_TASKS) == {
        "1dc", "2da", "2ds", "2dm", "3da", "3ds", "4da", "4ds", "5da", "5ds",
    }  # fmt: skip
    assert GPT3_ARITHMETIC_TASKS["2dm"] == "2_digit_multiplication"
    same = [gpt3_arithmetic_length_distribution(n) for n in ("3ds", "arithmetic_3ds")]
    assert same[0] == same[1] == gpt3_arithmetic_length_distribution("3_digit_subtraction")
    with pytest.raises(ConfigError, match=r"'2_digit_division' is not a GPT-3 arithmetic task"):
        gpt3_arithmetic_length_distribution("2_digit_division")
    with pytest.raises(ConfigError, match="n_items must be a positive integer"):
        gpt3_arithmetic_lengths("2da", n_items=0)


# --------------------------------------------------------------------------------------------
# Tables and BIG-bench definitions
# --------------------------------------------------------------------------------------------


def write_task(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def task_tree(tmp_path: Path) -> Path:
    """BIG-bench task definitions: a task with two subtasks, one without, and arithmetic."""
    root = tmp_path / "benchmark_tasks"
    write_task(root / "sums" / "task.json", {"name": "sums", "description": "parent"})
    write_task(
        root / "sums" / "two_digit" / "task.json",
        {
            "name": "two_digit",
            "examples": [
                {"input": "1+11", "target": "12"},
                {"input": "99+1", "target": "100"},
                {"input": "3-10", "target": "-7"},
            ],
        },
    )
    write_task(
        root / "sums" / "words" / "task.json",
        {"name": "words", "examples": [{"input": "one plus one", "target": ["two", "a pair"]}]},
    )
    write_task(
        root / "quiz" / "task.json",
        {
            "name": "quiz",
            "examples": [
                {"input": "q1", "target_scores": {"the right answer": 1, "no": 0}},
                {"input": "q2", "target": "yes"},
            ],
        },
    )
    # BIG-bench's own arithmetic: its items, never GPT-3's rule
    write_task(root / "arithmetic" / "task.json", {"name": "arithmetic"})
    write_task(
        root / "arithmetic" / "2_digit_addition" / "task.json",
        {"name": "2_digit_addition", "examples": [{"input": "10+10", "target": "20"}]},
    )
    return root


def evaluation_rows(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """A minimal table: (task, subtask, metric, metric_kind) per row."""
    return pd.DataFrame(rows, columns=["task", "subtask", "metric", "metric_kind"])


TABLE_ROWS = [
    ("gpt3_arithmetic", "2_digit_addition", "acc", "exact_match"),  # ObsScaling
    ("arithmetic", "arithmetic_3ds", "acc", "exact_match"),  # lm-eval
    ("arithmetic", "2_digit_addition", "exact_str_match", "exact_match"),  # BIG-bench
    ("arithmetic", "2_digit_addition", "multiple_choice_grade", "multiple_choice_grade"),
    ("sums", "two_digit", "exact_str_match", "exact_match"),
    ("sums", "two_digit", "log_likelihood", "log_likelihood"),  # summed over tokens
    ("sums", "sums", "lm_accuracy", "exact_match"),  # a whole-task score (open_lm)
    ("bigbench_quiz", "bigbench_quiz", "exact_str_match", "exact_match"),  # lm-eval v0.3
    ("bigbench_sums_words", "bigbench_sums_words", "exact_str_match", "exact_match"),
    ("quiz", "quiz", "multiple_choice_grade", "multiple_choice_grade"),  # needs no length
    ("quiz", "quiz", "log_likelihood_per_word", "log_likelihood"),  # per word: no length
    ("squad", "squad", "qa_accuracy", "exact_match"),
    ("mystery", "mystery", "edit_distance", "edit_distance"),
]


def test_default_lengths_from_rules_and_definitions(task_tree: Path) -> None:
    table = evaluation_rows(*TABLE_ROWS)
    lengths = default_lengths(table, tasks=read_bigbench_tasks(task_tree))
    assert set(lengths) == {
        ("gpt3_arithmetic", "2_digit_addition"),
        ("arithmetic", "arithmetic_3ds"),
        ("arithmetic", "2_digit_addition"),
        ("sums", "two_digit"),
        ("sums", "sums"),
        ("bigbench_quiz", "bigbench_quiz"),
        ("bigbench_sums_words", "bigbench_sums_words"),
    }
    assert np.array_equal(
        lengths[("gpt3_arithmetic", "2_digit_addition")], gpt3_arithmetic_lengths("2da")
    )
    assert np.array_equal(lengths[("arithmetic", "arithmetic_3ds")], gpt3_arithmetic_lengths("3ds"))
    assert lengths[("arithmetic", "2_digit_addition")].tolist() == [2]  # the definition's item
    assert lengths[("sums", "two_digit")].tolist() == [2, 3, 2]  # characters of each number
    # the whole task: every subtask's items, subtasks in name order
    assert lengths[("sums", "sums")].tolist() == [2, 3, 2, 1]
    assert lengths[("bigbench_quiz", "bigbench_quiz")].tolist() == [3, 1]  # best choice, target
    assert lengths[("bigbench_sums_words", "bigbench_sums_words")].tolist() == [1]  # first target
    assert all(v.dtype == np.int64 for v in lengths.values())

    unknown = unknown_length_tasks(table, lengths)
    assert unknown.columns.tolist() == ["task", "subtask", "metric_kinds", "rows", "reason"]
    assert unknown[["task", "subtask", "metric_kinds", "rows"]].values.tolist() == [
        ["mystery", "mystery", "edit_distance", 1],
        ["squad", "squad", "exact_match", 1],
    ]
    assert unknown["reason"].tolist() == [
        "no BIG-bench task definition among those read (the mirrored bigbench-tasks holds 20 "
        "tasks) and no known generation rule",
        NO_LENGTH_TASKS["squad"],
    ]
    assert unknown_length_tasks(table.iloc[:2], lengths).empty


def test_units_decide_which_log_likelihoods_need_lengths(task_tree: Path) -> None:
    table = evaluation_rows(
        ("lambada_openai", "lambada_openai", "loglik_per_word_from_ppl", "log_likelihood"),
        ("sums", "two_digit", "logprob", "log_likelihood"),
        ("quiz", "quiz", "logprob", "log_likelihood"),
    )
    table["unit"] = ["word", pd.NA, "char"]
    assert set(default_lengths(table, tasks=task_tree)) == {("sums", "two_digit")}
    assert unknown_length_tasks(table, {})["subtask"].tolist() == ["two_digit"]


def test_definitions_are_read_only_when_needed(
    task_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def fake_path(name: str, **_: Any) -> Path:
        asked.append(name)
        return task_tree

    monkeypatch.setattr(datasets, "path", fake_path)
    arithmetic = evaluation_rows(
        ("arithmetic", "arithmetic_2da", "acc", "exact_match"),
        ("lambada_openai", "lambada_openai", "acc", "greedy_match"),
    )
    assert set(default_lengths(arithmetic)) == {("arithmetic", "arithmetic_2da")}
    # neither GPT-3 arithmetic nor a task documented to have no lengths needs the definitions
    assert asked == []
    quiz = evaluation_rows(("quiz", "quiz", "exact_str_match", "exact_match"))
    assert default_lengths(quiz)[("quiz", "quiz")].tolist() == [3, 1]
    assert asked == ["bigbench-tasks"]


def test_bad_inputs_are_config_errors(task_tree: Path) -> None:
    table = evaluation_rows(("quiz", "quiz", "exact_str_match", "exact_match"))
    with pytest.raises(ConfigError, match="tasks has no column\\(s\\) 'target_lengths'"):
        default_lengths(table, tasks=pd.DataFrame({"task": ["quiz"], "subtask": ["quiz"]}))
    with pytest.raises(ConfigError, match="tasks is a list"):
        default_lengths(table, tasks=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="the table has no column 'metric_kind'"):
        default_lengths(table.drop(columns="metric_kind"), tasks=task_tree)


def test_documented_reasons_cover_names_and_prefixes() -> None:
    table = evaluation_rows(
        ("lambada_openai_mt", "lambada_openai_mt_de", "acc", "exact_match"),
        ("math_algebra", "math_algebra", "acc", "exact_match"),
        ("anagrams1", "anagrams1", "acc", "exact_match"),
    )
    reasons = unknown_length_tasks(table, None).set_index("subtask")["reason"]
    assert reasons["lambada_openai_mt_de"] == NO_LENGTH_PREFIXES["lambada"]
    assert reasons["math_algebra"] == NO_LENGTH_PREFIXES["math_"]
    assert reasons["anagrams1"] == NO_LENGTH_TASKS["anagrams1"]


# --------------------------------------------------------------------------------------------
# Real tables
# --------------------------------------------------------------------------------------------


DOCUMENTED_REASONS = set(NO_LENGTH_TASKS.values()) | set(NO_LENGTH_PREFIXES.values())


def load_quietly(name: str) -> pd.DataFrame:
    # the readers' counted exclusions and fills are tested with the readers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return datasets.load(name)


@pytest.fixture(scope="module")
def bigbench_tasks(data_dir: Path) -> pd.DataFrame:
    return read_bigbench_tasks(data_dir / "bigbench-tasks")


@pytest.mark.realdata
def test_real_obsscaling_and_open_lm_lengths_or_documented_reasons(
    data_dir: Path, bigbench_tasks: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(data_dir))
    obsscaling = load_quietly("obsscaling")
    lengths = default_lengths(obsscaling, tasks=bigbench_tasks)
    assert sorted(lengths) == [
        ("gpt3_arithmetic", "2_digit_addition"),
        ("gpt3_arithmetic", "2_digit_multiplication"),
        ("gpt3_arithmetic", "3_digit_addition"),
        ("gpt3_arithmetic", "3_digit_subtraction"),
        ("international_phonetic_alphabet_transliterate",) * 2,
        ("word_unscrambling", "word_unscrambling"),
    ]
    assert unknown_length_tasks(obsscaling, lengths).empty
    definition = bigbench_tasks.set_index(["task", "subtask"])["target_lengths"]
    for key in [("word_unscrambling",) * 2, ("international_phonetic_alphabet_transliterate",) * 2]:
        assert lengths[key].tolist() == list(definition[key])
    # GPT-3's 2-digit sums (mean 2.49 characters), not BIG-bench's 2_digit_addition (2.62)
    assert lengths[("gpt3_arithmetic", "2_digit_addition")].mean() == pytest.approx(2.4895)
    assert definition[("arithmetic", "2_digit_addition")] != tuple(
        lengths[("gpt3_arithmetic", "2_digit_addition")]
    )

    open_lm = load_quietly("open-lm")
    lengths = default_lengths(open_lm, tasks=bigbench_tasks)
    items = {key[0]: value.size for key, value in lengths.items()}
    # conlang_translation and cs_algorithms are scored whole: all their subtasks' items (164
    # and 320 + 1000, the counts of eval_metadata.csv); operators and qa_wikidata have 211 and
    # 20,442 items in BIG-bench 1.0.0 against 210 and 20,321 in LLM Foundry's copies.
    assert items == {
        "conlang_translation": 164,
        "cs_algorithms": 1320,
        "dyck_languages": 1000,
        "operators": 211,
        "qa_wikidata": 20442,
        "repeat_copy_logic": 32,
    }
    unknown = unknown_length_tasks(open_lm, lengths)
    assert unknown["task"].tolist() == [
        "coqa", "jeopardy", "lambada_openai", "pubmed_qa_labeled",
        "simple_arithmetic_nospaces", "simple_arithmetic_withspaces", "squad",
    ]  # fmt: skip
    assert set(unknown["reason"]) <= DOCUMENTED_REASONS
    # every exact-match pair of both tables has lengths or a documented reason
    for table in (obsscaling, open_lm):
        lengths = default_lengths(table, tasks=bigbench_tasks)
        unknown = unknown_length_tasks(table, lengths)
        assert set(unknown["reason"]) <= DOCUMENTED_REASONS
        exact = table.loc[table["metric_kind"] == "exact_match", ["task", "subtask"]]
        covered = set(lengths) | set(zip(unknown["task"], unknown["subtask"], strict=True))
        assert set(exact.itertuples(index=False, name=None)) == covered


@pytest.mark.realdata
def test_real_lm_eval_arithmetic_gets_the_gpt3_rule(
    data_dir: Path, bigbench_tasks: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.DATA_DIR_VARIABLE, str(data_dir))
    table = load_quietly("lm-eval-v0.3")
    lengths = default_lengths(table, tasks=bigbench_tasks)
    assert sorted(lengths) == [
        ("arithmetic", f"arithmetic_{code}") for code in sorted(GPT3_ARITHMETIC_TASKS)
    ]
    unknown = unknown_length_tasks(table, lengths)
    # 34 before LAMBADA's accuracy was read per word (a greedy match needs no token lengths)
    assert len(unknown) == 25
    # every one documented but BIG-bench's geometric_shapes, which the mirror does not hold
    generic = unknown.loc[~unknown["reason"].isin(DOCUMENTED_REASONS), "subtask"]
    assert generic.tolist() == ["bigbench_geometric_shapes"]
