"""Tests of the BIG-bench readers: result files, full-log queries and task definitions.

The result-file fixtures are hand-written in the documented format
(docs/bigbench-results-format.md) inside tmp_path; no real result file exists on this machine.
The task definitions are also checked on the real task.json mirror (``realdata``).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emergestats.data.bigbench import (
    AGGREGATE_SUBTASK,
    LENGTH_APPROXIMATION,
    answer_length,
    read_bigbench_items,
    read_bigbench_results,
    read_bigbench_tasks,
)
from emergestats.errors import ConfigError, DataFormatError, EmptyInputError

# --------------------------------------------------------------------------------------------
# Fixtures in the documented format

BIG_G_2B = {
    "model_family": "BIG-G T=0",
    "model_name": "2b",
    "total_params": 2241429504,
    "non_embedding_params": 1946210304,
    "flop_matched_non_embedding_params": 1946210304,
    "training_batch_size": 262144,
    "training_steps": 500000,
    "description": "A dense decoder-only transformer.",
    "decoding_params": {},
    "additional_details": "",
}
# No flop_matched key: the reader must fall back to non_embedding_params.
GPT_SMALL = {
    "model_family": "GPT",
    "model_name": "GPT-3 Small",
    "total_params": 125000000,
    "non_embedding_params": 85000000,
    "description": "",
}
# Sparse: the FLOP-matched size differs from the non-embedding count, and must be the one used.
SPARSE_4B = {
    "model_family": "BIG-G sparse",
    "model_name": "4b",
    "total_params": 4500000000,
    "non_embedding_params": 4000000000,
    "flop_matched_non_embedding_params": 2000000000,
}


def _entry(
    description: str, shots: int, preferred: str, scores: dict[str, float], low: float = 0.0
) -> dict[str, Any]:
    return {
        "subtask_description": description,
        "number_of_shots": shots,
        "preferred_score": preferred,
        "low_score": low,
        "high_score": 100.0 if preferred in ("bleu", "normalized_aggregate_score") else 1.0,
        "score_dict": scores,
    }


def _mc(targets: list[str], scores: list[float], right: str, **extra: Any) -> dict[str, Any]:
    return {
        "input": "Q?",
        "targets": targets,
        "scores": scores,
        "target_values": {t: int(t == right) for t in targets},
        **extra,
    }


def _gen(output: str, targets: list[str]) -> dict[str, Any]:
    return {"input": "Q?", "output": output, "raw_output": f" {output}\n", "targets": targets}


ARITHMETIC_QUERIES = [
    {
        "function": "generate_text",
        "shots": 0,
        "task": "arithmetic:2_digit_multiplication",
        "samples": [
            _gen("144", ["144"]),
            _gen("100", ["1000"]),
            _gen(" -12 ", ["-12"]),  # surrounding whitespace does not make it wrong
            _gen("42", ["42"]),
        ],
    },
    {
        "function": "cond_log_prob",
        "shots": 0,
        "task": "arithmetic:2_digit_multiplication",
        "samples": [
            _mc(["144", "145", "banana"], [-0.5, -1.5, -3.0], "144", correct=1),
            _mc(["999", "1000", "house"], [-0.2, -2.0, -4.0], "1000", correct=0),
            _mc(["7", "8"], [-3.0, -0.1], "8"),  # no stored `correct`: argmax decides
        ],
    },
    {
        "function": "generate_text",
        "shots": 0,
        "task": "arithmetic:1_digit_addition",
        "samples": [_gen("2", ["2"]), _gen("10", ["11"]), _gen("four", ["4", "four"])],
    },
    {
        "function": "cond_log_prob",
        "shots": 0,
        "task": "arithmetic:1_digit_addition",
        "samples": [
            {"input": "1 + 1 =", "targets": ["2"], "scores": [-0.25]},
            {"input": "5 + 5 =", "targets": ["10"], "scores": [-1.75]},
        ],
    },
]

ARITHMETIC_2B_SCORES = [
    _entry(
        "arithmetic:2_digit_multiplication",
        0,
        "exact_str_match",
        {
            "exact_str_match": 0.75,
            "multiple_choice_grade": 2 / 3,
            "calibration_multiple_choice_brier_score": 0.125,
        },
    ),
    _entry(
        "arithmetic:1_digit_addition",
        0,
        "exact_str_match",
        {
            "exact_str_match": 2 / 3,
            "multiple_choice_grade": 1.0,
            "calibration_multiple_choice_brier_score": 0.05,
            "log_likelihood": -1.0,
        },
    ),
    _entry("arithmetic", 0, "normalized_aggregate_score", {"normalized_aggregate_score": 37.5}),
]


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _result(task: str, model: dict[str, Any], scores: list[dict[str, Any]], **extra: Any) -> dict:
    return {"task": {"task_name": task}, "model": model, "scores": scores, **extra}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A BIG-bench-checkout-like tree: two tasks, three families, one full log."""
    root = tmp_path / "BIG-bench"
    tasks = root / "bigbench" / "benchmark_tasks"
    results = tasks / "arithmetic" / "results"
    _write(
        results / "full-log_BIG-G_T=0_2b.json",
        _result("arithmetic", BIG_G_2B, ARITHMETIC_2B_SCORES, queries=ARITHMETIC_QUERIES),
    )
    # The same model's scores-only file, with different numbers: it must not be read.
    stale = [
        _entry("arithmetic:2_digit_multiplication", 0, "exact_str_match", {"exact_str_match": 0.0})
    ]
    _write(results / "scores_BIG-G_T=0_2b.json", _result("arithmetic", BIG_G_2B, stale))
    _write(
        results / "scores_GPT_GPT-3_Small.json",
        _result(
            "arithmetic",
            GPT_SMALL,
            [
                _entry(
                    "arithmetic:2_digit_multiplication",
                    0,
                    "exact_str_match",
                    {"exact_str_match": 0.0, "multiple_choice_grade": 0.3},
                ),
                _entry(
                    "arithmetic",
                    0,
                    "normalized_aggregate_score",
                    {"normalized_aggregate_score": 10.0},
                ),
            ],
        ),
    )
    _write(
        tasks / "toy_translation" / "results" / "scores_BIG-G_sparse_4b.json",
        _result(
            "toy_translation",
            SPARSE_4B,
            [
                _entry(
                    "toy_translation",
                    -1,
                    "bleu",
                    {
                        "bleu": 45.0,
                        "rougeLsum": 60.0,
                        "exact_str_match": 0.1,
                        "log_likelihood": -12.5,
                    },
                    low=10.0,
                )
            ],
        ),
    )
    # A result-like file outside any results folder is not part of the checkout's results.
    (root / "docs").mkdir()
    (root / "docs" / "scores_broken.json").write_text("{not json", encoding="utf-8")
    return root


EVAL_COLUMNS = [
    "task", "subtask", "family", "model", "params", "shots", "metric", "metric_kind", "score",
    "n_items", "chance", "total_params",
]  # fmt: skip
NAN = math.nan
NA = pd.NA
# (task, subtask, family, model, params, shots, metric, kind, score, n_items, chance, total)
EXPECTED_ROWS = [
    ("arithmetic", "1_digit_addition", "BIG-G T=0", "2b", 1946210304.0, 0,
     "calibration_multiple_choice_brier_score", "brier", 0.05, NA, NAN, 2241429504.0),
    ("arithmetic", "1_digit_addition", "BIG-G T=0", "2b", 1946210304.0, 0,
     "exact_str_match", "exact_match", 2 / 3, 3, 0.0, 2241429504.0),
    ("arithmetic", "1_digit_addition", "BIG-G T=0", "2b", 1946210304.0, 0,
     "log_likelihood", "log_likelihood", -1.0, 2, NAN, 2241429504.0),
    # No multiple-choice samples for this subtask in the log: items and chance unknown.
    ("arithmetic", "1_digit_addition", "BIG-G T=0", "2b", 1946210304.0, 0,
     "multiple_choice_grade", "multiple_choice_grade", 1.0, NA, NAN, 2241429504.0),
    ("arithmetic", "2_digit_multiplication", "BIG-G T=0", "2b", 1946210304.0, 0,
     "calibration_multiple_choice_brier_score", "brier", 0.125, 3, NAN, 2241429504.0),
    ("arithmetic", "2_digit_multiplication", "BIG-G T=0", "2b", 1946210304.0, 0,
     "exact_str_match", "exact_match", 0.75, 4, 0.0, 2241429504.0),
    # chance = mean over the 3 multiple-choice samples of 1/choices = (1/3 + 1/3 + 1/2) / 3.
    ("arithmetic", "2_digit_multiplication", "BIG-G T=0", "2b", 1946210304.0, 0,
     "multiple_choice_grade", "multiple_choice_grade", 2 / 3, 3, 7 / 18, 2241429504.0),
    ("arithmetic", "2_digit_multiplication", "GPT", "GPT-3 Small", 85000000.0, 0,
     "exact_str_match", "exact_match", 0.0, NA, 0.0, 125000000.0),
    ("arithmetic", "2_digit_multiplication", "GPT", "GPT-3 Small", 85000000.0, 0,
     "multiple_choice_grade", "multiple_choice_grade", 0.3, NA, NAN, 125000000.0),
    # BLEU and ROUGE are stored in 0..100: divided by 100, and so is BLEU's low_score (chance).
    ("toy_translation", "toy_translation", "BIG-G sparse", "4b", 2000000000.0, -1,
     "bleu", "bleu", 0.45, NA, 0.1, 4500000000.0),
    ("toy_translation", "toy_translation", "BIG-G sparse", "4b", 2000000000.0, -1,
     "exact_str_match", "exact_match", 0.1, NA, NAN, 4500000000.0),
    ("toy_translation", "toy_translation", "BIG-G sparse", "4b", 2000000000.0, -1,
     "log_likelihood", "log_likelihood", -12.5, NA, NAN, 4500000000.0),
    ("toy_translation", "toy_translation", "BIG-G sparse", "4b", 2000000000.0, -1,
     "rougeLsum", "rouge", 0.6, NA, NAN, 4500000000.0),
]  # fmt: skip
AGGREGATE_ROWS = [
    ("arithmetic", AGGREGATE_SUBTASK, "BIG-G T=0", "2b", 1946210304.0, 0,
     "normalized_aggregate_score", "other", 0.375, NA, 0.0, 2241429504.0),
    ("arithmetic", AGGREGATE_SUBTASK, "GPT", "GPT-3 Small", 85000000.0, 0,
     "normalized_aggregate_score", "other", 0.1, NA, 0.0, 125000000.0),
]  # fmt: skip


def _expected(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=EVAL_COLUMNS)
    for column in ("task", "subtask", "family", "model", "metric", "metric_kind"):
        frame[column] = frame[column].astype(object)
    frame["shots"] = frame["shots"].astype(np.int64)
    frame["n_items"] = frame["n_items"].astype("Int64")
    return frame


# --------------------------------------------------------------------------------------------
# read_bigbench_results


def test_results_exact_rows_with_aggregates_dropped(checkout: Path) -> None:
    table = read_bigbench_results(checkout)
    pd.testing.assert_frame_equal(table[EVAL_COLUMNS], _expected(EXPECTED_ROWS))
    # Aggregates are a documented, counted exclusion: one value in each of the two read files.
    assert table.attrs["aggregate_values_dropped"] == 2
    assert AGGREGATE_SUBTASK not in set(table["subtask"])
    assert "normalized_aggregate_score" not in set(table["metric"])


def test_results_full_log_supersedes_scores_file_of_same_model(checkout: Path) -> None:
    table = read_bigbench_results(checkout)
    results = checkout / "bigbench" / "benchmark_tasks" / "arithmetic" / "results"
    assert table.attrs["superseded_files"] == (str(results / "scores_BIG-G_T=0_2b.json"),)
    sources = set(table["source"])
    assert sources == {
        "read_bigbench_results:bigbench/benchmark_tasks/arithmetic/results/"
        "full-log_BIG-G_T=0_2b.json",
        "read_bigbench_results:bigbench/benchmark_tasks/arithmetic/results/"
        "scores_GPT_GPT-3_Small.json",
        "read_bigbench_results:bigbench/benchmark_tasks/toy_translation/results/"
        "scores_BIG-G_sparse_4b.json",
    }
    # One row per metric of the model: the stale 0.0 exact-match score is not double-counted.
    of_2b = table[(table["model"] == "2b") & (table["metric"] == "exact_str_match")]
    assert of_2b["score"].tolist() == [2 / 3, 0.75]


def test_results_keep_aggregates_apart(checkout: Path) -> None:
    table = read_bigbench_results(checkout, aggregates="keep")
    expected = _expected(sorted(EXPECTED_ROWS + AGGREGATE_ROWS, key=_sort_key))
    pd.testing.assert_frame_equal(table[EVAL_COLUMNS], expected)
    assert table.attrs["aggregate_values_dropped"] == 0
    aggregates = table[table["subtask"] == AGGREGATE_SUBTASK]
    # Their own curves: no (task, subtask, family, shots) shared with a per-subtask row.
    curves = ["task", "subtask", "family", "shots"]
    shared = aggregates[curves].merge(table[table["subtask"] != AGGREGATE_SUBTASK][curves])
    assert shared.empty


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    task, subtask, family, model, params, shots, metric = row[:7]
    return (task, subtask, family, params, model, shots, metric)


def test_results_scales_and_scale_columns(checkout: Path) -> None:
    table = read_bigbench_results(checkout)
    fractions = table[table["metric_kind"].isin(["exact_match", "multiple_choice_grade"])]
    assert fractions["score"].between(0, 1).all()
    assert table.loc[table["metric"] == "bleu", "score"].item() == pytest.approx(0.45)
    # Sparse model: the FLOP-matched size, not the non-embedding or total count.
    sparse = table[table["family"] == "BIG-G sparse"]
    assert set(sparse["params"]) == {2.0e9}
    assert set(sparse["total_params"]) == {4.5e9}
    assert set(sparse["shots"]) == {-1}
    assert table["shots"].dtype == np.int64


def test_results_family_comes_from_contents_not_file_name(tmp_path: Path) -> None:
    palm = {"model_family": "PaLM", "model_name": "8b", "non_embedding_params": 8.6e9}
    file = _write(
        tmp_path / "scores_GPT_something_else.json",
        _result("toy", palm, [_entry("toy", 1, "exact_str_match", {"exact_str_match": 0.5})]),
    )
    table = read_bigbench_results(file)
    assert table[["family", "model", "params", "shots"]].values.tolist() == [
        ["PaLM", "8b", 8.6e9, 1]
    ]
    assert math.isnan(table["total_params"].item())


def test_results_unit_of_per_word_and_per_char_log_likelihoods(tmp_path: Path) -> None:
    palm = {"model_family": "PaLM", "model_name": "8b", "non_embedding_params": 8.6e9}
    scores = {
        "log_likelihood": -12.0,
        "log_likelihood_per_word": -3.0,
        "log_likelihood_per_char": -0.6,
        "exact_str_match": 0.25,
    }
    file = _write(
        tmp_path / "scores_PaLM_8b.json",
        _result("toy", palm, [_entry("toy", 1, "exact_str_match", scores)]),
    )
    table = read_bigbench_results(file).set_index("metric")
    assert table.loc["log_likelihood_per_word", "unit"] == "word"
    assert table.loc["log_likelihood_per_char", "unit"] == "char"
    # a per-item sum over the target's tokens, and a fraction: no unit
    assert pd.isna(table.loc["log_likelihood", "unit"])
    assert pd.isna(table.loc["exact_str_match", "unit"])
    assert "score_stderr" not in table.columns  # BIG-bench reports no standard errors


def test_results_from_task_and_results_folders(checkout: Path) -> None:
    tasks = checkout / "bigbench" / "benchmark_tasks"
    from_task = read_bigbench_results(tasks / "toy_translation")
    from_results = read_bigbench_results(tasks / "arithmetic" / "results")
    assert len(from_task) == 4
    assert len(from_results) == 9
    assert set(from_results["family"]) == {"BIG-G T=0", "GPT"}


def test_results_null_and_nan_scores_are_excluded_with_a_warning(tmp_path: Path) -> None:
    file = tmp_path / "scores_x.json"
    text = json.dumps(
        _result(
            "toy",
            BIG_G_2B,
            [_entry("toy", 0, "exact_str_match", {"exact_str_match": 0.5, "macro_f1": None})],
        )
    ).replace('"exact_str_match": 0.5', '"exact_str_match": 0.5, "bleurt": NaN')
    file.write_text(text, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"excluded 2 score value\(s\)"):
        table = read_bigbench_results(file)
    assert table["metric"].tolist() == ["exact_str_match"]


def test_results_bad_aggregates_option(checkout: Path) -> None:
    with pytest.raises(ConfigError, match="aggregates='merge'"):
        read_bigbench_results(checkout, aggregates="merge")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Bad input: typed errors naming the file


def test_corrupt_json_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "scores_GPT_x.json"
    file.write_text('{"task": {"task_name": "toy"}, "model": ', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        read_bigbench_results(tmp_path)
    assert str(file) in str(info.value)
    assert info.value.path == file


def test_missing_model_key_names_file_and_key(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "results" / "scores_GPT_x.json",
        {"task": {"task_name": "toy"}, "scores": []},
    )
    with pytest.raises(DataFormatError, match="has no key 'model'") as info:
        read_bigbench_results(tmp_path)
    assert str(file) in str(info.value)
    assert info.value.column == "model"


def test_missing_nested_key_names_its_place(tmp_path: Path) -> None:
    entry = _entry("toy", 0, "exact_str_match", {"exact_str_match": 0.5})
    del entry["score_dict"]
    file = _write(tmp_path / "scores_x.json", _result("toy", BIG_G_2B, [entry]))
    with pytest.raises(DataFormatError, match=r"has no key 'scores\[0\]\.score_dict'") as info:
        read_bigbench_results(file)
    assert str(file) in str(info.value)


def test_missing_params_names_both_keys(tmp_path: Path) -> None:
    model = {"model_family": "GPT", "model_name": "x", "total_params": 10}
    file = _write(
        tmp_path / "scores_x.json",
        _result("toy", model, [_entry("toy", 0, "exact_str_match", {"exact_str_match": 0.5})]),
    )
    with pytest.raises(DataFormatError, match=r"flop_matched_non_embedding_params.*non_embedding"):
        read_bigbench_results(file)


def test_empty_file(tmp_path: Path) -> None:
    file = tmp_path / "scores_GPT_x.json"
    file.write_text("", encoding="utf-8")
    with pytest.raises(EmptyInputError, match="is empty") as info:
        read_bigbench_results(file)
    assert str(file) in str(info.value)


def test_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(EmptyInputError, match=r"holds no scores_\*\.json or full-log") as info:
        read_bigbench_results(folder)
    assert str(folder) in str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file or folder"):
        read_bigbench_results(tmp_path / "nowhere")


def test_two_files_for_one_model_are_an_error(tmp_path: Path) -> None:
    data = _result("toy", GPT_SMALL, [_entry("toy", 0, "exact_str_match", {"exact_str_match": 0})])
    first = _write(tmp_path / "a" / "scores_GPT_GPT-3_Small.json", data)
    second = _write(tmp_path / "b" / "scores_GPT_GPT-3_Small.json", data)
    with pytest.raises(DataFormatError, match="same task 'toy', family 'GPT'") as info:
        read_bigbench_results(tmp_path)
    assert str(first) in str(info.value) and str(second) in str(info.value)


def test_non_numeric_score_names_the_metric(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "scores_x.json",
        _result("toy", BIG_G_2B, [_entry("toy", 0, "exact_str_match", {"exact_str_match": "x"})]),
    )
    with pytest.raises(DataFormatError, match=r"'scores\[0\]\.score_dict\.exact_str_match'"):
        read_bigbench_results(file)


# --------------------------------------------------------------------------------------------
# read_bigbench_items

ITEM_COLUMNS = [
    "subtask", "item", "target_tokens", "logprob", "correct", "choice_logprobs", "correct_choice",
]  # fmt: skip
EXPECTED_ITEMS = [
    ("1_digit_addition", "generate_text:0", 1.0, NAN, 1, None, NA),
    ("1_digit_addition", "generate_text:1", 2.0, NAN, 0, None, NA),  # target "11"
    ("1_digit_addition", "generate_text:2", 1.0, NAN, 1, None, NA),  # "four" is the 2nd target
    ("1_digit_addition", "scoring:0", 1.0, -0.25, NA, None, NA),
    ("1_digit_addition", "scoring:1", 2.0, -1.75, NA, None, NA),
    ("2_digit_multiplication", "generate_text:0", 3.0, NAN, 1, None, NA),
    ("2_digit_multiplication", "generate_text:1", 4.0, NAN, 0, None, NA),
    ("2_digit_multiplication", "generate_text:2", 3.0, NAN, 1, None, NA),  # "-12": 3 characters
    ("2_digit_multiplication", "generate_text:3", 2.0, NAN, 1, None, NA),
    ("2_digit_multiplication", "multiple_choice:0", 3.0, -0.5, 1, (-0.5, -1.5, -3.0), 0),
    ("2_digit_multiplication", "multiple_choice:1", 4.0, -2.0, 0, (-0.2, -2.0, -4.0), 1),
    ("2_digit_multiplication", "multiple_choice:2", 1.0, -0.1, 1, (-3.0, -0.1), 1),
]


def test_items_exact_rows(checkout: Path) -> None:
    items = read_bigbench_items(checkout)
    expected = pd.DataFrame(EXPECTED_ITEMS, columns=ITEM_COLUMNS)
    for column in ("subtask", "item"):
        expected[column] = expected[column].astype(object)
    expected["correct"] = expected["correct"].astype("Int64")
    expected["correct_choice"] = expected["correct_choice"].astype("Int64")
    pd.testing.assert_frame_equal(items[ITEM_COLUMNS], expected)
    # Only the full log holds queries: one model, its header values on every row.
    assert set(items["task"]) == {"arithmetic"}
    assert set(items["family"]) == {"BIG-G T=0"}
    assert set(items["params"]) == {1946210304.0}
    assert set(items["total_params"]) == {2241429504.0}
    assert set(items["shots"]) == {0}
    assert set(items["source"]) == {
        "read_bigbench_items:bigbench/benchmark_tasks/arithmetic/results/full-log_BIG-G_T=0_2b.json"
    }


def test_items_agree_with_the_scores_they_came_from(checkout: Path) -> None:
    items = read_bigbench_items(checkout)
    table = read_bigbench_results(checkout)
    mc = items[items["item"].str.startswith("multiple_choice:")]
    grade = table.query("subtask == '2_digit_multiplication' and model == '2b'").set_index("metric")
    assert mc["correct"].mean() == pytest.approx(grade.loc["multiple_choice_grade", "score"])
    assert len(mc) == grade.loc["multiple_choice_grade", "n_items"]
    gen = items[items["item"].str.startswith("generate_text:")]
    assert gen.groupby("subtask")["correct"].mean().tolist() == [2 / 3, 0.75]


def test_items_with_a_tokenizer(checkout: Path) -> None:
    items = read_bigbench_items(checkout, tokenizer=lambda text: text.split("0"))
    # "1000" splits into ["1", "", "", ""]: 4 pieces; "144" has no "0": 1 piece.
    assert items["target_tokens"].tolist()[5:7] == [1.0, 4.0]


def test_items_need_a_full_log(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "scores_x.json",
        _result("toy", BIG_G_2B, [_entry("toy", 0, "exact_str_match", {"exact_str_match": 1})]),
    )
    with pytest.raises(DataFormatError, match="has no key 'queries'") as info:
        read_bigbench_items(file)
    assert str(file) in str(info.value)
    with pytest.raises(EmptyInputError, match=r"no full-log_\*\.json files"):
        read_bigbench_items(tmp_path)


def test_items_bad_choice_scores_name_the_sample(tmp_path: Path) -> None:
    queries = [
        {
            "function": "cond_log_prob",
            "shots": 1,
            "task": "toy",
            "samples": [_mc(["a", "b"], [-1.0], "a")],
        }
    ]
    file = _write(
        tmp_path / "full-log_x.json",
        _result("toy", BIG_G_2B, [_entry("toy", 1, "exact_str_match", {})], queries=queries),
    )
    with pytest.raises(DataFormatError, match=r"queries\[0\]\.samples\[0\]\.scores") as info:
        read_bigbench_items(file)
    assert str(file) in str(info.value)


# --------------------------------------------------------------------------------------------
# answer_length and read_bigbench_tasks on fixtures


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("1219", 4),
        ("-123", 4),  # sign counts as a character of the number
        ("+7", 2),
        ("3.25", 4),
        (" 42 ", 2),  # surrounding whitespace is not part of the answer
        ("the cat sat", 3),
        ("12 apples", 2),  # not a number: words
        ("", 0),
    ],
)
def test_answer_length_approximation(text: str, length: int) -> None:
    assert answer_length(text) == length


def test_answer_length_with_tokenizer() -> None:
    assert answer_length("the cat", tokenizer=list) == 7
    with pytest.raises(ConfigError, match="returned a dict"):
        answer_length("the cat", tokenizer=lambda s: {"input_ids": [1, 2]})  # type: ignore[arg-type, return-value]


@pytest.fixture
def task_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tasks"
    _write(root / "sums" / "task.json", {"name": "sums", "description": "parent"})
    _write(
        root / "sums" / "two_digit" / "task.json",
        {
            "name": "two_digit",
            "metrics": ["exact_str_match", "multiple_choice_grade"],
            "preferred_score": "exact_str_match",
            "examples": [
                {"input": "1+11", "target": "12", "target_scores": {"12": 1, "13": 0, "x": 0}},
                {"input": "50+50", "target": "100", "target_scores": {"100": 1, "99": 0}},
                {"input": "3-10", "target": "-7", "target_scores": {"-7": 1, "7": 0, "0": 0}},
            ],
        },
    )
    # Subtask name differs from its folder (like conlang_translation/atikampe_from).
    _write(
        root / "sums" / "words" / "task.json",
        {
            "name": "wörds",
            "metrics": ["exact_str_match"],
            "preferred_score": "exact_str_match",
            "examples": [
                {"input": "one plus one", "target": ["two", "a pair"]},
                {"input": "ten", "target": "ten times one"},
            ],
        },
    )
    _write(
        root / "quiz" / "task.json",
        {
            "name": "quiz",
            "metrics": ["multiple_choice_grade"],
            "preferred_score": "multiple_choice_grade",
            "examples": [
                # Partial credit: chance is the mean choice value, (1 + 0.5 + 0 + 0) / 4.
                {"input": "q1", "target_scores": {"right answer": 1, "half": 0.5, "no": 0, "n": 0}},
                {"input": "q2", "target_scores": {"a": 0, "b": 1}},
            ],
        },
    )
    return root


def test_tasks_rows_from_fixture(task_tree: Path) -> None:
    tasks = read_bigbench_tasks(task_tree)
    assert tasks[["task", "subtask"]].values.tolist() == [
        ["quiz", "quiz"],
        ["sums", "two_digit"],
        ["sums", "wörds"],
    ]
    quiz, digits, words = (row for _, row in tasks.iterrows())
    assert (quiz["n_items"], quiz["n_multiple_choice"], quiz["n_choices"]) == (2, 2, 2)
    assert (quiz["n_choices_min"], quiz["n_choices_max"]) == (2, 4)
    assert quiz["chance"] == pytest.approx((1.5 / 4 + 1 / 2) / 2)
    assert quiz["target_lengths"] == (2, 1)  # best-valued choice: "right answer", "b"
    assert digits["target_lengths"] == (2, 3, 2)
    assert digits["target_tokens_mean"] == pytest.approx(7 / 3)
    assert digits["n_choices"] == 3
    assert digits["chance"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)
    assert digits["metrics"] == ("exact_str_match", "multiple_choice_grade")
    assert words["target_lengths"] == (1, 3)  # first acceptable target of a list
    assert words["n_multiple_choice"] == 0
    assert pd.isna(words["n_choices"]) and math.isnan(words["chance"])
    assert words["path"] == str(task_tree / "sums" / "words" / "task.json")
    assert set(tasks["length_approximation"]) == {LENGTH_APPROXIMATION}


def test_tasks_with_tokenizer_and_single_subtask_folder(task_tree: Path) -> None:
    tasks = read_bigbench_tasks(task_tree / "sums" / "two_digit", tokenizer=list)
    assert tasks[["task", "subtask"]].values.tolist() == [["sums", "two_digit"]]
    assert tasks["target_lengths"].item() == (2, 3, 2)
    assert tasks["length_approximation"].item() == "tokens of tokenizer list"


def test_tasks_bad_input(tmp_path: Path, task_tree: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmptyInputError, match=r"no task\.json") as info:
        read_bigbench_tasks(empty)
    assert str(empty) in str(info.value)
    broken = task_tree / "quiz" / "task.json"
    broken.write_text('{"name": "quiz", "examples": [', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        read_bigbench_tasks(task_tree)
    assert str(broken) in str(info.value)
    _write(broken, {"name": "quiz", "examples": [{"input": "q"}]})
    with pytest.raises(DataFormatError, match=r"'examples\[0\]' has neither") as info:
        read_bigbench_tasks(task_tree)
    assert info.value.rows == [0]


# --------------------------------------------------------------------------------------------
# Real task definitions


def _examples(file: Path) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = json.loads(file.read_text(encoding="utf-8")).get(
        "examples", []
    )
    return examples


@pytest.mark.realdata
def test_real_tasks_row_count(data_dir: Path) -> None:
    folder = data_dir / "bigbench-tasks"
    tasks = read_bigbench_tasks(folder)
    # Counted independently: one row per task.json that holds examples. The mirror has 75
    # task.json files; the 7 parent tasks (arithmetic, conceptual_combinations,
    # conlang_translation, cs_algorithms, logical_deduction, modified_arithmetic,
    # strange_stories) hold no examples of their own, leaving 68 = 13 tasks without subtasks
    # + 55 subtasks (20 arithmetic + 6 + 16 + 2 + 3 + 6 + 2).
    files = sorted(folder.rglob("task.json"))
    with_examples = [f for f in files if _examples(f)]
    assert len(files) == 75
    assert len(tasks) == len(with_examples) == 68
    assert tasks.duplicated(["task", "subtask"]).sum() == 0
    assert (tasks["task"] == "arithmetic").sum() == 20
    assert tasks["n_items"].sum() == sum(len(_examples(f)) for f in with_examples)


@pytest.mark.realdata
def test_real_arithmetic_lengths_match_the_json(data_dir: Path) -> None:
    file = data_dir / "bigbench-tasks" / "arithmetic" / "2_digit_multiplication" / "task.json"
    examples = _examples(file)
    row = (
        read_bigbench_tasks(data_dir / "bigbench-tasks" / "arithmetic")
        .set_index("subtask")
        .loc["2_digit_multiplication"]
    )
    assert row["n_items"] == len(examples) == 1000
    # Every target is a digit string, so its approximate length is its number of characters.
    assert all(re.fullmatch(r"\d+", e["target"]) for e in examples)
    assert row["target_lengths"] == tuple(len(e["target"]) for e in examples)
    assert examples[0]["target"] == "1000" and row["target_lengths"][0] == 4
    choices = Counter(len(e["target_scores"]) for e in examples)
    assert row["n_choices"] == choices.most_common(1)[0][0] == 7
    assert row["chance"] == pytest.approx(np.mean([1 / len(e["target_scores"]) for e in examples]))
    assert row["preferred_score"] == "exact_str_match"
    assert row["metrics"] == ("exact_str_match", "multiple_choice_grade")


@pytest.mark.realdata
def test_real_list_targets_and_subtask_names(data_dir: Path) -> None:
    folder = data_dir / "bigbench-tasks"
    tasks = read_bigbench_tasks(folder).set_index(["task", "subtask"])
    unscrambling = tasks.loc[("word_unscrambling", "word_unscrambling")]
    examples = _examples(folder / "word_unscrambling" / "task.json")
    firsts = [e["target"] if isinstance(e["target"], str) else e["target"][0] for e in examples]
    assert unscrambling["n_items"] == len(examples) == 8917
    assert unscrambling["target_lengths"] == tuple(len(t.split()) for t in firsts)
    # Subtasks are named by their task.json name, which BIG-bench's scores use.
    assert ("conlang_translation", "atikampé_from") in tasks.index
    assert ("conlang_translation", "pp_english_to") in tasks.index
    stories = tasks.loc[("strange_stories", "multiple_choice")]
    story_examples = _examples(folder / "strange_stories" / "multiple_choice" / "task.json")
    # Partial credit (values 0.5) makes chance the mean choice value, not 1/choices.
    assert stories["chance"] == pytest.approx(
        np.mean([np.mean(list(e["target_scores"].values())) for e in story_examples])
    )
