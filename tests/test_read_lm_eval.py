"""lm-evaluation-harness readers (v0.3 and >= 0.4 results, per-sample logs) and model sizes.

Fixtures are written in ``tmp_path`` in the shape of the real files; the ``realdata`` tests read
the mirrored ``lm-eval-harness-v0.3`` and ``pythia-evals`` folders and recompute every count
from the JSON files independently of the reader.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emergestats.data.choices import (
    CHOICE_TASK_PREFIXES,
    CHOICE_TASKS,
    GENERATIVE_TASKS,
    ITEM_COUNT_PREFIXES,
    ITEM_COUNTS,
    UNRESOLVED_TASKS,
    choice_task,
    generative_reason,
    item_count,
    unresolved_reason,
)
from emergestats.data.lm_eval import (
    PYTHIA_TOKENS_PER_STEP,
    read_lm_eval,
    read_lm_eval_samples,
)
from emergestats.data.model_sizes import (
    PARAMETER_COUNTS,
    PYTHIA_NON_EMBEDDING_PARAMS,
    canonical_model_name,
    params_for,
)
from emergestats.errors import ConfigError, DataFormatError, EmptyInputError

# --------------------------------------------------------------------------------------------
# Fixture writers (shapes of the real files, made-up values)
# --------------------------------------------------------------------------------------------


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def v03_document(
    results: dict[str, dict[str, float]],
    *,
    model_args: str = "pretrained=EleutherAI/pythia-160m,use_accelerate=True",
    num_fewshot: int | None = 5,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model": "hf-causal-experimental",
        "model_args": model_args,
        "batch_size": "auto",
        "device": "cuda:0",
        "no_cache": True,
        "limit": None,
        "bootstrap_iters": 100000,
        "description_dict": {},
    }
    if num_fewshot is not None:
        config["num_fewshot"] = num_fewshot
    return {"results": results, "versions": dict.fromkeys(results, 0), "config": config}


V03_RESULTS: dict[str, dict[str, float]] = {
    "arithmetic_2da": {"acc": 0.125, "acc_stderr": 0.0074},
    "lambada_openai": {"ppl": 25.5, "ppl_stderr": 0.9, "acc": 0.375, "acc_stderr": 0.0067},
    "hendrycksTest-anatomy": {
        "acc": 0.25,
        "acc_stderr": 0.037,
        "acc_norm": 0.3125,
        "acc_norm_stderr": 0.04,
    },
    "squad2": {"exact": 12.5, "f1": 20.0, "best_exact": 50.0, "HasAns_f1": 31.25},
}


def results_04(
    *,
    model_args: str = "pretrained=EleutherAI/pythia-410m,revision=step3000,dtype=float16",
) -> dict[str, Any]:
    """A >= 0.4 results file: one group (mmlu) with two subtasks, gsm8k with two filters."""
    return {
        "results": {
            "mmlu": {"acc,none": 0.26, "acc_stderr,none": 0.004, "alias": "mmlu"},
            "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.25, "acc_stderr,none": 0.03},
            "mmlu_virology": {"alias": " - virology", "acc,none": 0.5, "acc_stderr,none": "N/A"},
            "gsm8k": {
                "alias": "gsm8k",
                "exact_match,strict-match": 0.0625,
                "exact_match_stderr,strict-match": 0.006,
                "exact_match,flexible-extract": 0.125,
                "exact_match_stderr,flexible-extract": 0.009,
            },
            "squadv2": {"alias": "squadv2", "exact,none": 40.0, "f1,none": 45.0},
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": 0.5,
                "acc_stderr,none": 0.01,
                "acc_norm,none": 0.375,
                "acc_norm_stderr,none": 0.01,
            },
        },
        "groups": {"mmlu": {"acc,none": 0.26, "acc_stderr,none": 0.004, "alias": "mmlu"}},
        "group_subtasks": {
            "mmlu": ["mmlu_anatomy", "mmlu_virology"],
            "gsm8k": [],
            "squadv2": [],
            "arc_easy": [],
        },
        "configs": {"arc_easy": {"task": "arc_easy", "output_type": "multiple_choice"}},
        "versions": {"arc_easy": 1.0, "gsm8k": 3.0},
        "n-shot": {
            "mmlu": 0,
            "mmlu_anatomy": 0,
            "mmlu_virology": 0,
            "gsm8k": 5,
            "squadv2": 0,
            "arc_easy": 0,
        },
        "higher_is_better": {"arc_easy": {"acc": True, "acc_norm": True}},
        "n-samples": {
            "mmlu_anatomy": {"original": 135, "effective": 135},
            "mmlu_virology": {"original": 166, "effective": 166},
            "gsm8k": {"original": 1319, "effective": 100},
            "squadv2": {"original": 11873, "effective": 11873},
            "arc_easy": {"original": 2376, "effective": 4},
        },
        "config": {"model": "hf", "model_args": model_args, "batch_size": "auto"},
        "git_hash": "abc1234",
        "date": 1714557600.0,
        "model_name": "EleutherAI/pythia-410m",
        "model_name_sanitized": "EleutherAI__pythia-410m",
    }


STAMP = "2024-05-01T10-00-00.123456"


def mc_sample(
    doc_id: int, logprobs: list[float], target: Any, *, acc: float | None, **extra: Any
) -> dict[str, Any]:
    """One multiple-choice sample as EvaluationTracker writes it (leaves as strings)."""
    choices = [" red", " green", " blue", " black"][: len(logprobs)]
    greedy = [False] * len(logprobs)
    sample: dict[str, Any] = {
        "doc_id": doc_id,
        "doc": {"question": f"question {doc_id}", "choices": choices},
        "target": target,
        "arguments": {
            f"gen_args_{i}": {"arg_0": f"Question: question {doc_id}\nAnswer:", "arg_1": c}
            for i, c in enumerate(choices)
        },
        "resps": [[[str(lp), str(g)]] for lp, g in zip(logprobs, greedy, strict=True)],
        "filtered_resps": [[str(lp), str(g)] for lp, g in zip(logprobs, greedy, strict=True)],
        "filter": "none",
        "metrics": ["acc", "acc_norm"],
        "doc_hash": "d" * 8,
        "prompt_hash": "p" * 8,
        "target_hash": "t" * 8,
    }
    if acc is not None:
        sample["acc"] = acc
        sample["acc_norm"] = acc
    sample.update(extra)
    return sample


def write_jsonl(path: Path, samples: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    return path


@pytest.fixture
def run_04(tmp_path: Path) -> Path:
    """A >= 0.4 output folder: results JSON and an arc_easy samples log with 4 documents."""
    folder = tmp_path / "out" / "EleutherAI__pythia-410m"
    write_json(folder / f"results_{STAMP}.json", results_04())
    write_jsonl(
        folder / f"samples_arc_easy_{STAMP}.jsonl",
        [
            mc_sample(0, [-5.5, -3.25, -1.0, -7.0], "2", acc=1.0),
            mc_sample(1, [-2.0, -4.0, -6.0, -8.0], "3", acc=0.0),
            # A non-numeric target is matched against the choices' continuations.
            mc_sample(2, [-9.0, -0.5, -3.0, -4.0], "green", acc=1.0),
            # No acc logged: correctness comes from argmax(logprobs) == target.
            mc_sample(3, [-1.5, -2.5, -0.25, -3.5], "0", acc=None),
        ],
    )
    return folder


N_ITEMS_FILLED = r"do not record n_items; it was filled for"


def read_fixture(path: Path, **kwargs: Any) -> pd.DataFrame:
    """``read_lm_eval`` without its note on filled ``n_items`` (tested on its own below).

    Every other warning still reaches the caller (and ``pytest.warns`` around it).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*" + N_ITEMS_FILLED, category=UserWarning)
        return read_lm_eval(path, **kwargs)


# --------------------------------------------------------------------------------------------
# v0.3 layout
# --------------------------------------------------------------------------------------------


def test_v03_file_gives_one_row_per_metric_with_its_stderr(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "results" / "pythia" / "pythia-160m" / "pythia-160m_mixed_5-shot.json",
        v03_document(V03_RESULTS),
    )
    with pytest.warns(UserWarning, match=N_ITEMS_FILLED) as caught:
        table = read_lm_eval(file)
    # 1 (arithmetic acc) + 2 (lambada ppl, acc) + 1 (lambada log-likelihood from ppl)
    # + 2 (mmlu acc, acc_norm) + 4 (squad2) = 10; the 5 *_stderr keys are not rows.
    assert len(table) == 10
    assert not table["metric"].str.contains("stderr").any()
    row = table.set_index(["subtask", "metric"])
    assert row.loc[("arithmetic_2da", "acc"), "task"] == "arithmetic"
    assert row.loc[("arithmetic_2da", "acc"), "score"] == 0.125
    # arithmetic's acc is the greedy continuation: an exact match, no guessing level
    assert row.loc[("arithmetic_2da", "acc"), "metric_kind"] == "exact_match"
    assert math.isnan(row.loc[("arithmetic_2da", "acc"), "chance"])
    assert row.loc[("hendrycksTest-anatomy", "acc_norm"), "task"] == "hendrycksTest"
    assert row.loc[("hendrycksTest-anatomy", "acc_norm"), "score"] == 0.3125
    assert row.loc[("hendrycksTest-anatomy", "acc_norm"), "metric_kind"] == "accuracy"
    assert row.loc[("hendrycksTest-anatomy", "acc_norm"), "chance"] == 0.25
    assert row.loc[("hendrycksTest-anatomy", "acc"), "chance"] == 0.25
    # Standard errors sit on their metric's row, as reported.
    assert row.loc[("arithmetic_2da", "acc"), "score_stderr"] == 0.0074
    assert row.loc[("hendrycksTest-anatomy", "acc_norm"), "score_stderr"] == 0.04
    assert row.loc[("lambada_openai", "acc"), "score_stderr"] == 0.0067
    assert row.loc[("lambada_openai", "ppl"), "score_stderr"] == 0.9
    assert math.isnan(row.loc[("squad2", "exact"), "score_stderr"])
    # Perplexity is kept as given, kind "other"; LAMBADA's acc is its greedy match of a word
    # (arithmetic's acc, is_greedy too, stays an exact match).
    assert row.loc[("lambada_openai", "ppl"), "score"] == 25.5
    assert row.loc[("lambada_openai", "ppl"), "metric_kind"] == "other"
    assert row.loc[("lambada_openai", "ppl"), "task"] == "lambada_openai"
    assert row.loc[("lambada_openai", "ppl"), "unit"] == "word"
    assert row.loc[("lambada_openai", "acc"), "metric_kind"] == "greedy_match"
    assert row.loc[("lambada_openai", "acc"), "unit"] == "word"
    assert row.loc[("arithmetic_2da", "acc"), "metric_kind"] == "exact_match"
    assert math.isnan(row.loc[("lambada_openai", "acc"), "chance"])
    # ... and gives the mean log-probability of the target word: -log(ppl) nats per word.
    loglik = row.loc[("lambada_openai", "loglik_per_word_from_ppl")]
    assert loglik["score"] == pytest.approx(-math.log(25.5))
    assert loglik["metric_kind"] == "log_likelihood"
    assert loglik["unit"] == "word"
    # its standard error by the delta method from the perplexity's: se(log ppl) = se(ppl) / ppl
    assert loglik["score_stderr"] == pytest.approx(0.9 / 25.5)
    assert math.isnan(loglik["chance"])
    assert "target_tokens" not in table.columns
    assert table.loc[~table["subtask"].str.startswith("lambada"), "unit"].isna().all()
    # SQuAD v2 metrics are percentages upstream: divided by 100.
    assert row.loc[("squad2", "exact"), "score"] == pytest.approx(0.125)
    assert row.loc[("squad2", "exact"), "metric_kind"] == "exact_match"
    assert row.loc[("squad2", "best_exact"), "score"] == pytest.approx(0.5)
    assert row.loc[("squad2", "HasAns_f1"), "score"] == pytest.approx(0.3125)
    assert set(table["model"]) == {"pythia-160m"}
    assert set(table["family"]) == {"pythia"}
    assert set(table["params"]) == {162_322_944.0}
    assert set(table["shots"]) == {5}
    # n_items is not in v0.3 files: the documented counts fill arithmetic (2000) and LAMBADA
    # (5153, every row of it); the two anatomy rows imply 138 and 135 items (their rounded
    # standard errors), no majority, so anatomy stays empty, as does squad2 (no stderr).
    assert row["n_items"].to_dict() == {
        ("arithmetic_2da", "acc"): 2000,
        ("lambada_openai", "ppl"): 5153,
        ("lambada_openai", "acc"): 5153,
        ("lambada_openai", "loglik_per_word_from_ppl"): 5153,
        ("hendrycksTest-anatomy", "acc"): None,
        ("hendrycksTest-anatomy", "acc_norm"): None,
        ("squad2", "exact"): None,
        ("squad2", "f1"): None,
        ("squad2", "best_exact"): None,
        ("squad2", "HasAns_f1"): None,
    }
    # 0.125 * 0.875 / 0.0074^2 + 1 = 1998.4: the file's 4-digit stderr, against the 2000 cited
    assert [str(w.message) for w in caught] == [
        f"{file}: the result files do not record n_items; it was filled for 4 rows of 2 tasks: "
        "2 tasks (4 rows) from their documented number of items "
        "(emergestats.data.choices.ITEM_COUNTS); 6 rows of 2 tasks keep n_items <NA> (e.g. "
        "'hendrycksTest-anatomy'); the standard errors of 2 rows imply another number of items "
        "than the one filled (e.g. 'arithmetic_2da': 1998 against 2000)"
    ]
    assert "step" not in table.columns and "tokens" not in table.columns
    assert set(table["source"]) == {"read_lm_eval:pythia-160m_mixed_5-shot.json"}


def test_v03_shots_fall_back_to_the_file_name(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "bloom-560m" / "bloom-560m_gsm8k_8-shot.json",
        v03_document(
            {"gsm8k": {"acc": 0.0, "acc_stderr": 0.0}},
            model_args="pretrained=bigscience/bloom-560m",
            num_fewshot=None,
        ),
    )
    table = read_fixture(file)
    assert table["shots"].tolist() == [8]
    assert table["params"].tolist() == [559_214_592.0]
    assert table["family"].tolist() == ["bloom"]


def test_v03_local_model_path_names_the_model_after_its_folder(tmp_path: Path) -> None:
    # The LLaMA runs give a local checkpoint path as pretrained=.
    folder = tmp_path / "results" / "llama" / "llama-7B"
    write_json(
        folder / "llama-7B_arithmetic_5-shot.json",
        v03_document(
            {"arithmetic_2da": {"acc": 0.0, "acc_stderr": 0.0}},
            model_args="pretrained=/models/LLaMA/huggingface/7B,use_accelerate=True",
        ),
    )
    table = read_fixture(tmp_path / "results")
    assert table["model"].tolist() == ["llama-7B"]
    assert table["family"].tolist() == ["llama"]
    assert table["params"].tolist() == [6.7e9]
    assert table["source"].tolist() == [
        "read_lm_eval:llama/llama-7B/llama-7B_arithmetic_5-shot.json"
    ]


def test_pythia_checkpoints_are_models_with_step_and_tokens(tmp_path: Path) -> None:
    root = tmp_path / "evals" / "pythia-v1" / "pythia-160m-deduped" / "zero-shot"
    for step, acc in [(0, 0.0), (512, 0.125), (143000, 0.5)]:
        write_json(
            root / f"160m-deduped_step{step}.json",
            v03_document(
                {"piqa": {"acc": acc, "acc_stderr": 0.01}},
                model_args=f"pretrained=EleutherAI/pythia-v1.1-160m-deduped,revision=step{step}",
                num_fewshot=0,
            ),
        )
    table = read_fixture(tmp_path / "evals").sort_values("step").reset_index(drop=True)
    assert table["model"].tolist() == [
        "pythia-160m-deduped@step0",
        "pythia-160m-deduped@step512",
        "pythia-160m-deduped@step143000",
    ]
    assert table["step"].tolist() == [0, 512, 143000]
    # tokens = step x 2,097,152; empty at step 0 (the table needs positive counts).
    assert math.isnan(table.loc[0, "tokens"])
    assert table.loc[1, "tokens"] == 512 * 2_097_152
    assert table.loc[2, "tokens"] == 299_892_736_000
    assert table["family"].unique().tolist() == ["pythia-deduped"]
    assert table["params"].unique().tolist() == [162_322_944.0]
    assert table["score"].tolist() == [0.0, 0.125, 0.5]


def test_batch_size_ablation_tokens_per_step_follow_the_name(tmp_path: Path) -> None:
    write_json(
        tmp_path / "70m-0.25MtokBS_step1144000.json",
        v03_document(
            {"piqa": {"acc": 0.5}},
            model_args="pretrained=EleutherAI/pythia-v1.1-70m-0.25MtokBS,revision=step1144000",
        ),
    )
    table = read_fixture(tmp_path)
    assert table["model"].tolist() == ["pythia-70m-0.25MtokBS@step1144000"]
    assert table["family"].tolist() == ["pythia-0.25MtokBS"]
    # 0.25 x 2**20 tokens per step; 8x the steps of the 2M-token run, the same 299.9B tokens.
    assert table["tokens"].tolist() == [299_892_736_000.0]
    assert table["params"].tolist() == [70_426_624.0]


# --------------------------------------------------------------------------------------------
# >= 0.4 layout
# --------------------------------------------------------------------------------------------


def test_04_results_file(run_04: Path) -> None:
    table = read_fixture(run_04)
    # mmlu (a group: its average is not a row) -> 2 subtasks x acc; gsm8k 2 filters;
    # squadv2 2 metrics; arc_easy acc + acc_norm: 2 + 2 + 2 + 2 = 8 rows.
    assert len(table) == 8
    assert "mmlu" not in set(table["subtask"])
    rows = table.set_index(["subtask", "metric"])
    assert rows.loc[("mmlu_anatomy", "acc"), "task"] == "mmlu"
    assert rows.loc[("mmlu_virology", "acc"), "score"] == 0.5
    assert rows.loc[("mmlu_virology", "acc"), "n_items"] == 166
    assert rows.loc[("gsm8k", "exact_match,strict-match"), "score"] == 0.0625
    assert rows.loc[("gsm8k", "exact_match,flexible-extract"), "score"] == 0.125
    assert rows.loc[("gsm8k", "exact_match,flexible-extract"), "metric_kind"] == "exact_match"
    assert rows.loc[("gsm8k", "exact_match,strict-match"), "shots"] == 5
    assert rows.loc[("gsm8k", "exact_match,strict-match"), "n_items"] == 100
    # <metric>_stderr,<filter> goes to the row of the same filter; "N/A" is no standard error
    assert rows.loc[("gsm8k", "exact_match,strict-match"), "score_stderr"] == 0.006
    assert rows.loc[("gsm8k", "exact_match,flexible-extract"), "score_stderr"] == 0.009
    assert rows.loc[("mmlu_anatomy", "acc"), "score_stderr"] == 0.03
    assert math.isnan(rows.loc[("mmlu_virology", "acc"), "score_stderr"])
    assert math.isnan(rows.loc[("squadv2", "exact"), "score_stderr"])
    assert rows.loc[("arc_easy", "acc_norm"), "chance"] == 0.25
    assert rows.loc[("mmlu_anatomy", "acc"), "chance"] == 0.25
    assert math.isnan(rows.loc[("gsm8k", "exact_match,strict-match"), "chance"])
    assert rows.loc[("squadv2", "exact"), "score"] == pytest.approx(0.40)
    assert rows.loc[("squadv2", "f1"), "score"] == pytest.approx(0.45)
    assert rows.loc[("arc_easy", "acc_norm"), "score"] == 0.375
    assert rows.loc[("arc_easy", "acc"), "shots"] == 0
    assert set(table["model"]) == {"pythia-410m@step3000"}
    assert set(table["step"]) == {3000}
    assert set(table["tokens"]) == {3000.0 * PYTHIA_TOKENS_PER_STEP}
    assert set(table["params"]) == {405_334_016.0}
    assert set(table["source"]) == {f"read_lm_eval:results_{STAMP}.json"}


def test_04_shots_fall_back_to_the_task_config(tmp_path: Path) -> None:
    document = results_04()
    del document["n-shot"]
    document["configs"]["arc_easy"]["num_fewshot"] = 25
    write_json(tmp_path / "results.json", document)
    with pytest.raises(DataFormatError, match="'mmlu_anatomy' has no number of shots"):
        read_fixture(tmp_path)
    document["results"] = {"arc_easy": document["results"]["arc_easy"]}
    write_json(tmp_path / "results.json", document)
    assert set(read_fixture(tmp_path)["shots"]) == {25}


def test_04_model_args_as_a_dict_and_model_name_fallback(tmp_path: Path) -> None:
    document = results_04()
    document["config"]["model_args"] = {"pretrained": "EleutherAI/pythia-1b", "dtype": "bf16"}
    write_json(tmp_path / "a" / "results.json", document)
    document = results_04()
    document["config"]["model_args"] = None
    document["model_name"] = "EleutherAI/pythia-2.8b"
    write_json(tmp_path / "b" / "results.json", document)
    table = read_fixture(tmp_path)
    assert sorted(table["model"].unique()) == ["pythia-1b", "pythia-2.8b"]
    assert "step" not in table.columns


# --------------------------------------------------------------------------------------------
# Sizes, families, duplicates
# --------------------------------------------------------------------------------------------


def test_unknown_model_without_sizes_names_the_model_and_asks_for_sizes(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "my-lm-3b_arc_0-shot.json",
        v03_document({"arc_easy": {"acc": 0.5}}, model_args="pretrained=acme/my-lm-3b"),
    )
    with pytest.raises(DataFormatError, match=r"'my-lm-3b'.*sizes=") as error:
        read_fixture(file)
    assert error.value.path == file
    assert str(file) in str(error.value)


def test_sizes_override_the_built_in_table_by_any_name(tmp_path: Path) -> None:
    write_json(
        tmp_path / "a.json",
        v03_document({"arc_easy": {"acc": 0.5}}, model_args="pretrained=acme/my-lm-3b"),
    )
    write_json(
        tmp_path / "b.json",
        v03_document({"arc_easy": {"acc": 0.25}}, model_args="pretrained=EleutherAI/pythia-70m"),
    )
    table = read_fixture(tmp_path, sizes={"MY-LM-3B": 3.1e9, "EleutherAI/pythia-70m": 7.0e7})
    params = dict(zip(table["model"], table["params"], strict=True))
    assert params == {"my-lm-3b": 3.1e9, "pythia-70m": 7.0e7}


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "many"])
def test_invalid_sizes_are_a_config_error(tmp_path: Path, bad: Any) -> None:
    file = write_json(tmp_path / "a.json", v03_document({"arc_easy": {"acc": 0.5}}))
    with pytest.raises(ConfigError, match="positive parameter count"):
        read_fixture(file, sizes={"pythia-160m": bad})


def test_family_argument_is_written_on_every_row(tmp_path: Path) -> None:
    file = write_json(tmp_path / "a.json", v03_document({"arc_easy": {"acc": 0.5}}))
    assert read_fixture(file, family="my suite")["family"].tolist() == ["my suite"]


def test_repeated_evaluations_keep_the_first_file_and_warn(tmp_path: Path) -> None:
    # Two group files of one model both score boolq (as the v0.3 LLaMA folders do).
    folder = tmp_path / "opt-125m"
    write_json(
        folder / "opt-125m_common_sense_reasoning_0-shot.json",
        v03_document({"boolq": {"acc": 0.625}}, model_args="pretrained=facebook/opt-125m"),
    )
    write_json(
        folder / "opt-125m_superglue_0-shot.json",
        v03_document(
            {"boolq": {"acc": 0.5}, "cb": {"acc": 0.375}},
            model_args="pretrained=facebook/opt-125m",
        ),
    )
    with pytest.warns(UserWarning, match=r"dropped 1 rows .*'boolq'/'acc'"):
        table = read_fixture(tmp_path)
    assert len(table) == 2
    assert table.set_index("subtask").loc["boolq", "score"] == 0.625


def test_non_finite_values_are_dropped_with_a_warning(tmp_path: Path) -> None:
    file = tmp_path / "a.json"
    file.write_text(
        '{"results": {"cola": {"mcc": NaN, "acc": 0.5}, "rte": {"acc": null}},'
        ' "config": {"model_args": "pretrained=facebook/opt-350m", "num_fewshot": 0}}',
        encoding="utf-8",
    )
    with pytest.warns(UserWarning, match="dropped 2 metric values that are not finite"):
        table = read_fixture(file)
    assert table["metric"].tolist() == ["acc"]
    assert table["params"].tolist() == [350e6]


# --------------------------------------------------------------------------------------------
# Pythia folders: canonical, baseline re-runs, intervention models
# --------------------------------------------------------------------------------------------


def pythia_file(
    root: Path, folder: str, step: int, results: dict[str, dict[str, float]], *, model: str
) -> Path:
    name = model.removeprefix("EleutherAI/").replace("pythia-v1.1-", "")
    return write_json(
        root / folder / f"{folder}-{name}_step{step}.json",
        v03_document(
            results,
            model_args=f"use_accelerate=True,pretrained={model},revision=step{step}",
            num_fewshot=0,
        ),
    )


def write_pythia_folders(model_folder: Path, *, canonical: str = "zero-shot") -> None:
    """One model's zero-shot, baseline and intervention folders, as in evals/pythia-v1/."""
    published = "EleutherAI/pythia-v1.1-70m-deduped"
    # canonical: step 143000, piqa acc only (no acc_norm) and arc_easy
    pythia_file(
        model_folder,
        canonical,
        143000,
        {"piqa": {"acc": 0.625, "acc_stderr": 0.011}, "arc_easy": {"acc": 0.375}},
        model=published,
    )
    # baseline re-run of the same checkpoint (other values, and an acc_norm the canonical run
    # lacks), plus a checkpoint no canonical folder holds
    pythia_file(
        model_folder,
        "baseline",
        143000,
        {"piqa": {"acc": 0.5, "acc_stderr": 0.012, "acc_norm": 0.5}, "sciq": {"acc": 0.75}},
        model=published,
    )
    pythia_file(model_folder, "baseline", 142000, {"piqa": {"acc": 0.5}}, model=published)
    # intervention models: other models, their own family
    pythia_file(
        model_folder,
        "intervention",
        143000,
        {"piqa": {"acc": 0.25}},
        model="EleutherAI/intervention-pythia-v1.1-70m-deduped",
    )
    pythia_file(
        model_folder,
        "intervention",
        142000,
        {"piqa": {"acc": 0.125}},
        model="EleutherAI/intervention-pythia-v1.1-70m-deduped-long",
    )


@pytest.mark.parametrize(
    "layout",
    [
        # baseline/ sorts before zero-shot/ (as in the real folders)
        ("evals/pythia-v1/pythia-70m-deduped", "zero-shot"),
        # the canonical folder sorts first
        ("evals/pythia-v1/pythia-70m-deduped", "a-canonical"),
    ],
)
def test_canonical_folder_wins_over_baseline_whatever_the_path_order(
    tmp_path: Path, layout: tuple[str, str]
) -> None:
    folder, canonical = layout
    write_pythia_folders(tmp_path / folder, canonical=canonical)
    with pytest.warns(UserWarning) as caught:
        table = read_fixture(tmp_path / "evals")
    messages = [str(w.message) for w in caught]
    # the whole baseline evaluation of (piqa, step 143000) is dropped: acc and acc_norm
    assert messages == [
        f"{tmp_path / 'evals'}: dropped 2 rows of 1 baseline/ evaluations that re-run a (model, "
        "checkpoint, task, shots) a canonical folder (zero-shot/, five-shot/) also evaluates "
        "(e.g. 'piqa' in pythia-v1/pythia-70m-deduped/baseline/baseline-70m-deduped_step143000"
        ".json); the canonical evaluation was kept. 2 baseline rows of checkpoints without a "
        "canonical evaluation were kept"
    ]
    rows = table.set_index(["family", "model", "subtask", "metric"])
    final = ("pythia-deduped", "pythia-70m-deduped@step143000")
    assert rows.loc[(*final, "piqa", "acc"), "score"] == 0.625
    assert rows.loc[(*final, "piqa", "acc"), "score_stderr"] == 0.011
    assert rows.loc[(*final, "piqa", "acc"), "source"].endswith(
        f"{canonical}/{canonical}-70m-deduped_step143000.json"
    )
    assert (*final, "piqa", "acc_norm") not in rows.index
    # a task only the baseline evaluated at that checkpoint, and a baseline-only checkpoint
    assert rows.loc[(*final, "sciq", "acc"), "score"] == 0.75
    assert rows.loc[
        ("pythia-deduped", "pythia-70m-deduped@step142000", "piqa", "acc"), "score"
    ] == (0.5)
    # intervention models are their own families, never mixed with the published ones
    assert table.groupby("family")["model"].unique().map(sorted).to_dict() == {
        "pythia-deduped": ["pythia-70m-deduped@step142000", "pythia-70m-deduped@step143000"],
        "pythia-deduped-intervention": ["intervention-pythia-70m-deduped@step143000"],
        "pythia-deduped-intervention-long": ["intervention-pythia-70m-deduped-long@step142000"],
    }
    assert len(table) == 6


def test_intervention_folder_makes_its_own_family_even_with_a_plain_name(tmp_path: Path) -> None:
    # A run in intervention/ whose pretrained= name does not say so is still another model.
    folder = tmp_path / "pythia-70m-deduped"
    pythia_file(
        folder, "zero-shot", 143000, {"piqa": {"acc": 0.625}}, model="EleutherAI/pythia-70m-deduped"
    )
    pythia_file(
        folder,
        "intervention",
        143000,
        {"piqa": {"acc": 0.25}},
        model="EleutherAI/pythia-70m-deduped",
    )
    table = read_fixture(tmp_path)
    assert dict(zip(table["family"], table["score"], strict=True)) == {
        "pythia-deduped": 0.625,
        "pythia-deduped-intervention": 0.25,
    }
    named = read_fixture(tmp_path, family="suite")
    assert sorted(named["family"]) == ["suite", "suite-intervention"]


# --------------------------------------------------------------------------------------------
# Chance levels, generative tasks, standard errors, LAMBADA log-likelihoods
# --------------------------------------------------------------------------------------------


def stderr_of(p: float, n: int) -> float:
    """The harness's standard error of a mean of n 0/1 scores: sqrt(p (1 - p) / (n - 1))."""
    return math.sqrt(p * (1 - p) / (n - 1))


def test_n_items_is_recovered_from_the_standard_errors_per_task(tmp_path: Path) -> None:
    # "my_task" is in no table of documented counts: 250 items, scored by three models.
    for size, p in (("70m", 0.2), ("160m", 0.4), ("410m", 1.0)):
        write_json(
            tmp_path / f"{size}.json",
            v03_document(
                {
                    "my_task": {
                        "acc": p,
                        "acc_stderr": stderr_of(p, 250) if p < 1 else 0.0,
                        "acc_norm": p / 2,
                        "acc_norm_stderr": stderr_of(p / 2, 250),
                        "f1": 0.3,  # not a 0/1 mean: its bootstrap stderr says nothing of n
                        "f1_stderr": 0.05,
                    },
                    # ETHICS em counts groups of scenarios: it keeps <NA>; acc gives 400.
                    "ethics_deontology": {
                        "acc": 0.55,
                        "acc_stderr": stderr_of(0.55, 400),
                        "em": 0.1,
                    },
                },
                model_args=f"pretrained=EleutherAI/pythia-{size}",
            ),
        )
    # A run limited to the first 100 items is its own file set: 100, not 250.
    limited = v03_document(
        {"my_task": {"acc": 0.3, "acc_stderr": stderr_of(0.3, 100)}},
        model_args="pretrained=EleutherAI/pythia-1b",
    )
    limited["config"]["limit"] = 100
    write_json(tmp_path / "limited" / "1b.json", limited)
    with pytest.warns(UserWarning, match=N_ITEMS_FILLED) as caught:
        table = read_lm_eval(tmp_path)
    rows = table.set_index(["model", "subtask", "metric"])["n_items"]
    for size in ("70m", "160m", "410m"):
        model = f"pythia-{size}"
        # every metric of the task, the p = 1 row (no usable stderr) and f1 included
        assert rows[(model, "my_task", "acc")] == 250
        assert rows[(model, "my_task", "acc_norm")] == 250
        assert rows[(model, "my_task", "f1")] == 250
        assert rows[(model, "ethics_deontology", "acc")] == 400
        assert pd.isna(rows[(model, "ethics_deontology", "em")])
    assert rows[("pythia-1b", "my_task", "acc")] == 100
    assert [str(w.message) for w in caught] == [
        f"{tmp_path}: the result files do not record n_items; it was filled for 13 rows of 2 "
        "tasks: 2 tasks (13 rows) from the reported standard errors of their accuracies "
        "(n = p (1 - p) / stderr^2 + 1, the value most rows of a task give); 3 rows of 1 task "
        "keep n_items <NA> (e.g. 'ethics_deontology')"
    ]


def test_n_items_needs_a_majority_and_prefers_the_documented_count(tmp_path: Path) -> None:
    # Two models disagree on "my_task" (100 against 120 items): no majority, no n_items.
    # arc_easy's documented 2376 is used even where a file's stderr says otherwise.
    for size, n in (("70m", 100), ("160m", 120)):
        write_json(
            tmp_path / f"{size}.json",
            v03_document(
                {
                    "my_task": {"acc": 0.5, "acc_stderr": stderr_of(0.5, n)},
                    "arc_easy": {"acc": 0.5, "acc_stderr": stderr_of(0.5, 2000)},
                },
                model_args=f"pretrained=EleutherAI/pythia-{size}",
            ),
        )
    with pytest.warns(UserWarning, match=N_ITEMS_FILLED) as caught:
        table = read_lm_eval(tmp_path)
    assert table.loc[table["subtask"] == "my_task", "n_items"].isna().all()
    assert (table.loc[table["subtask"] == "arc_easy", "n_items"] == 2376).all()
    assert [str(w.message) for w in caught] == [
        f"{tmp_path}: the result files do not record n_items; it was filled for 2 rows of 1 "
        "task: 1 task (2 rows) from their documented number of items "
        "(emergestats.data.choices.ITEM_COUNTS); 2 rows of 1 task keep n_items <NA> (e.g. "
        "'my_task'); the standard errors of 2 rows imply another number of items than the one "
        "filled (e.g. 'arc_easy': 2000 against 2376)"
    ]


def test_n_items_recorded_by_the_file_is_kept_and_not_announced(run_04: Path) -> None:
    # >= 0.4 files record n-samples: nothing is filled, so nothing is said.
    table = read_lm_eval(run_04)
    assert table["n_items"].notna().all()


def test_item_counts_are_cited_and_positive() -> None:
    for name, count in {**ITEM_COUNTS, **ITEM_COUNT_PREFIXES}.items():
        assert count.n_items > 0 and count.split and count.citation, name
    assert item_count("piqa") == ITEM_COUNTS["piqa"]
    assert item_count("xnli_sw") == ITEM_COUNT_PREFIXES["xnli_"]
    assert item_count("lambada_openai_mt_de") == ITEM_COUNT_PREFIXES["lambada_openai_mt_"]
    assert item_count("hendrycksTest-anatomy") is None
    # wsc is SuperGLUE's 104-item version; the 273 schemas are wsc273
    assert (item_count("wsc").n_items, item_count("wsc273").n_items) == (104, 273)  # type: ignore[union-attr]


def test_chance_and_kind_follow_the_choice_table(tmp_path: Path) -> None:
    results = {
        "piqa": {"acc": 0.625, "acc_norm": 0.6},
        "xnli_de": {"acc": 0.4},
        "blimp_anaphor_gender_agreement": {"acc": 0.9},
        "mathqa": {"acc": 0.25, "acc_norm": 0.25},
        "bigbench_navigate": {"multiple_choice_grade": 0.5},
        "bigbench_ruin_names": {"multiple_choice_grade": 0.25},  # choices vary: unresolved
        "truthfulqa_mc": {"mc1": 0.25, "mc2": 0.4},
        "boolq": {"acc": 0.6},
        "cb": {"acc": 0.4, "f1": 0.3},
        "arithmetic_3ds": {"acc": 0.05},
        "lambada_standard": {"acc": 0.3, "ppl": 40.0},
        "gsm8k": {"acc": 0.02},
        "math_algebra": {"acc": 0.01},
        "triviaqa": {"acc": 0.1},
        "anagrams1": {"acc": 0.0},
    }
    file = write_json(
        tmp_path / "opt-125m_mix_0-shot.json",
        v03_document(results, model_args="pretrained=facebook/opt-125m", num_fewshot=0),
    )
    rows = read_fixture(file).set_index(["subtask", "metric"])
    chance = rows["chance"].to_dict()
    kind = rows["metric_kind"].to_dict()
    assert chance[("piqa", "acc")] == chance[("piqa", "acc_norm")] == 0.5
    assert chance[("xnli_de", "acc")] == pytest.approx(1 / 3)
    assert chance[("blimp_anaphor_gender_agreement", "acc")] == 0.5
    assert chance[("mathqa", "acc_norm")] == 0.2
    assert chance[("bigbench_navigate", "multiple_choice_grade")] == 0.5
    assert chance[("boolq", "acc")] == 0.5
    assert chance[("cb", "acc")] == pytest.approx(1 / 3)
    for key in [
        ("bigbench_ruin_names", "multiple_choice_grade"),
        ("truthfulqa_mc", "mc1"),
        ("cb", "f1"),
        ("lambada_standard", "ppl"),
    ]:
        assert math.isnan(chance[key]), key
    for task in ("arithmetic_3ds", "lambada_standard", "gsm8k", "math_algebra", "triviaqa",
                 "anagrams1"):  # fmt: skip
        expected = "greedy_match" if task.startswith("lambada") else "exact_match"
        assert kind[(task, "acc")] == expected, task
        assert math.isnan(chance[(task, "acc")]), task
    assert kind[("piqa", "acc")] == "accuracy"
    assert kind[("lambada_standard", "loglik_per_word_from_ppl")] == "log_likelihood"


def test_percent_metrics_divide_their_stderr_too(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "a.json",
        v03_document(
            {"wmt16-en-ro": {"bleu": 25.0, "bleu_stderr": 1.5, "ter": 60.0, "ter_stderr": 2.0}}
        ),
    )
    rows = read_fixture(file).set_index("metric")
    assert rows.loc["bleu", "score"] == 0.25
    assert rows.loc["bleu", "score_stderr"] == pytest.approx(0.015)
    assert rows.loc["ter", "score_stderr"] == pytest.approx(0.02)


def test_04_lambada_perplexity_gives_a_log_likelihood_row(tmp_path: Path) -> None:
    document = results_04()
    document["results"] = {
        "lambada_openai": {
            "alias": "lambada_openai",
            "perplexity,none": 10.0,
            "perplexity_stderr,none": 0.5,
            "acc,none": 0.5,
            "acc_stderr,none": 0.007,
        }
    }
    document["n-shot"] = {"lambada_openai": 0}
    document["n-samples"] = {"lambada_openai": {"original": 5153, "effective": 5153}}
    write_json(tmp_path / "results.json", document)
    rows = read_fixture(tmp_path).set_index("metric")
    assert rows.loc["perplexity", "score_stderr"] == 0.5
    assert rows.loc["perplexity", "unit"] == "word"
    assert rows.loc["loglik_per_word_from_ppl", "score"] == pytest.approx(-math.log(10.0))
    assert rows.loc["loglik_per_word_from_ppl", "n_items"] == 5153
    assert rows.loc["loglik_per_word_from_ppl", "score_stderr"] == pytest.approx(0.5 / 10.0)
    assert rows.loc["acc", "metric_kind"] == "greedy_match"
    assert rows.loc["acc", "unit"] == "word"


def test_lambada_perplexity_below_one_is_an_error(tmp_path: Path) -> None:
    file = write_json(tmp_path / "a.json", v03_document({"lambada_openai": {"ppl": 0.5}}))
    with pytest.raises(DataFormatError, match=r"\['lambada_openai'\]\['ppl'\] is 0\.5, below 1"):
        read_fixture(file)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_corrupt_json_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text('{"results": {"arc_easy": {"acc": 0.5', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"broken\.json: is not valid JSON") as error:
        read_fixture(tmp_path)
    assert error.value.path == file
    assert not isinstance(error.value, EmptyInputError)


def test_empty_file_is_empty_input(tmp_path: Path) -> None:
    file = tmp_path / "empty.json"
    file.write_text("  \n", encoding="utf-8")
    with pytest.raises(EmptyInputError, match=r"empty\.json: the file is empty"):
        read_fixture(file)


def test_empty_folder_is_empty_input(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no results here", encoding="utf-8")
    with pytest.raises(EmptyInputError, match=r"no \*\.json files") as error:
        read_fixture(tmp_path)
    assert error.value.path == tmp_path


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file or folder"):
        read_fixture(tmp_path / "nowhere")


@pytest.mark.parametrize("document", [[1, 2], {"evals": {}}, {"results": [1]}])
def test_json_that_is_not_a_results_file(tmp_path: Path, document: Any) -> None:
    file = write_json(tmp_path / "other.json", document)
    with pytest.raises(DataFormatError, match=r"other\.json: is not an lm-evaluation-harness"):
        read_fixture(file)


def test_task_entry_that_is_not_a_dict(tmp_path: Path) -> None:
    file = write_json(tmp_path / "odd.json", v03_document({"arc_easy": 0.5}))
    with pytest.raises(DataFormatError, match=r"results\['arc_easy'\] is a float"):
        read_fixture(file)


def test_file_without_shots(tmp_path: Path) -> None:
    file = write_json(
        tmp_path / "results.json", v03_document({"arc_easy": {"acc": 0.5}}, num_fewshot=None)
    )
    with pytest.raises(DataFormatError, match="'arc_easy' has no number of shots"):
        read_fixture(file)


def test_results_without_any_score(tmp_path: Path) -> None:
    file = write_json(tmp_path / "a.json", v03_document({"arc_easy": {"acc_stderr": 0.1}}))
    with pytest.raises(EmptyInputError, match="no scores found"):
        read_fixture(file)


# --------------------------------------------------------------------------------------------
# Per-sample logs -> item table
# --------------------------------------------------------------------------------------------


def test_multiple_choice_samples_become_items(run_04: Path) -> None:
    items = read_lm_eval_samples(run_04).set_index("item")
    assert list(items.index) == ["0", "1", "2", "3"]
    assert items.loc["0", "choice_logprobs"] == (-5.5, -3.25, -1.0, -7.0)
    assert items.loc["0", "correct_choice"] == 2
    assert items.loc["0", "logprob"] == -1.0
    assert items.loc["0", "correct"] == 1
    assert items.loc["1", "logprob"] == -8.0
    assert items.loc["1", "correct"] == 0
    assert items.loc["2", "correct_choice"] == 1  # "green" matched to the continuation " green"
    assert items.loc["2", "logprob"] == -0.5
    assert items.loc["3", "correct"] == 0  # argmax is choice 2, the target is choice 0
    assert items.loc["3", "logprob"] == -1.5
    assert set(items["task"]) == {"arc_easy"}
    assert set(items["subtask"]) == {"arc_easy"}
    assert set(items["model"]) == {"pythia-410m@step3000"}
    assert set(items["step"]) == {3000}
    assert set(items["shots"]) == {0}
    assert set(items["params"]) == {405_334_016.0}
    assert set(items["family"]) == {"pythia"}
    assert items["target_tokens"].isna().all()
    assert set(items["source"]) == {f"read_lm_eval_samples:samples_arc_easy_{STAMP}.jsonl"}
    assert str(items["correct"].dtype) == "Int64"


def test_numeric_leaves_and_integer_targets_are_accepted(tmp_path: Path) -> None:
    sample = mc_sample(7, [-1.0, -2.0], 1, acc=0.0)
    sample["filtered_resps"] = [[-1.0, False], [-2.0, False]]
    file = write_jsonl(tmp_path / f"samples_piqa_{STAMP}.jsonl", [sample])
    items = read_lm_eval_samples(file, model="pythia-1b", shots=0)
    assert items["choice_logprobs"].tolist() == [(-1.0, -2.0)]
    assert items["correct_choice"].tolist() == [1]
    assert items["logprob"].tolist() == [-2.0]
    assert items["params"].tolist() == [1_011_781_632.0]


def test_loglikelihood_rolling_and_generation_samples(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_json(folder / f"results_{STAMP}.json", results_04())
    write_jsonl(
        folder / f"samples_lambada_openai_{STAMP}.jsonl",
        [
            {"doc_id": 0, "target": " dog", "filtered_resps": [["-2.5", "True"]], "acc": 1.0},
            {"doc_id": 1, "target": " cat", "filtered_resps": [["-6.0", "False"]], "acc": 0.0},
        ],
    )
    write_jsonl(
        folder / f"samples_wikitext_{STAMP}.jsonl",
        [{"doc_id": 0, "target": "", "filtered_resps": ["-1234.5"], "word_perplexity": 20.0}],
    )
    items = read_lm_eval_samples(folder, shots=0).set_index(["subtask", "item"])
    assert items.loc[("lambada_openai", "0"), "logprob"] == -2.5
    assert items.loc[("lambada_openai", "1"), "correct"] == 0
    assert items.loc[("lambada_openai", "0"), "choice_logprobs"] is None
    assert pd.isna(items.loc[("lambada_openai", "0"), "correct_choice"])
    assert items.loc[("wikitext", "0"), "logprob"] == -1234.5
    assert pd.isna(items.loc[("wikitext", "0"), "correct"])


def test_several_filters_need_filter_name(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_json(folder / f"results_{STAMP}.json", results_04())
    samples = [
        {"doc_id": 0, "target": "18", "filtered_resps": ["18"], "filter": f, "exact_match": v}
        for f, v in [("strict-match", 0.0), ("flexible-extract", 1.0)]
    ]
    file = write_jsonl(folder / f"samples_gsm8k_{STAMP}.jsonl", samples)
    with pytest.raises(DataFormatError, match=r"flexible-extract, strict-match.*filter_name="):
        read_lm_eval_samples(file)
    items = read_lm_eval_samples(file, filter_name="flexible-extract")
    assert items["correct"].tolist() == [1]
    assert math.isnan(items["logprob"].iloc[0])
    assert items["shots"].tolist() == [5]
    with pytest.raises(DataFormatError, match="no samples for filter 'none'"):
        read_lm_eval_samples(file, filter_name="none")


def test_samples_without_results_need_model_and_shots(tmp_path: Path) -> None:
    file = write_jsonl(
        tmp_path / f"samples_arc_easy_{STAMP}.jsonl", [mc_sample(0, [-1.0, -2.0], "0", acc=1.0)]
    )
    with pytest.raises(DataFormatError, match="pass model="):
        read_lm_eval_samples(file)
    with pytest.raises(DataFormatError, match="pass shots="):
        read_lm_eval_samples(file, model="pythia-70m")
    items = read_lm_eval_samples(file, model="pythia-70m@step1000", shots=0)
    assert items["model"].tolist() == ["pythia-70m@step1000"]
    assert items["step"].tolist() == [1000]
    assert items["params"].tolist() == [70_426_624.0]


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("", EmptyInputError, "the file is empty"),
        (
            '{"doc_id": 0, "target": "0", "filtered_resps": [["-1", "False"]]}\n{"doc_id": 1,',
            DataFormatError,
            "line 2 is not valid JSON",
        ),
        ("[1, 2]\n", DataFormatError, "line 1 is not a JSON object"),
        ('{"target": "0", "filtered_resps": []}\n', DataFormatError, "line 1 has no 'doc_id'"),
        ('{"doc_id": 0, "target": "0"}\n', DataFormatError, "no 'filtered_resps'"),
    ],
)
def test_bad_sample_files_name_the_file_and_line(
    tmp_path: Path, content: str, error: type[Exception], message: str
) -> None:
    file = tmp_path / f"samples_arc_easy_{STAMP}.jsonl"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=re.escape(message)) as raised:
        read_lm_eval_samples(file, model="pythia-70m", shots=0)
    assert str(file) in str(raised.value)


def test_target_outside_the_choices_and_repeated_documents(tmp_path: Path) -> None:
    file = write_jsonl(
        tmp_path / f"samples_arc_easy_{STAMP}.jsonl", [mc_sample(0, [-1.0, -2.0], "5", acc=0.0)]
    )
    with pytest.raises(DataFormatError, match=r"target '5' is not a choice index in 0\.\.1"):
        read_lm_eval_samples(file, model="pythia-70m", shots=0)
    write_jsonl(file, [mc_sample(0, [-1.0, -2.0], "0", acc=1.0)] * 2)
    with pytest.raises(DataFormatError, match="doc_id 0 appears on lines 1 and 2"):
        read_lm_eval_samples(file, model="pythia-70m", shots=0)


def test_samples_folder_without_logs(tmp_path: Path) -> None:
    write_json(tmp_path / f"results_{STAMP}.json", results_04())
    with pytest.raises(EmptyInputError, match=r"no samples_\*\.jsonl"):
        read_lm_eval_samples(tmp_path)


# --------------------------------------------------------------------------------------------
# Model sizes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EleutherAI/pythia-160m-deduped", 162_322_944),
        ("pythia-70M", 70_426_624),
        ("EleutherAI/pythia-v1.1-1b-bf16", 1_011_781_632),
        ("pythia-1.4b-deduped@step3000", 1_414_647_808),
        ("EleutherAI/intervention-pythia-v1.1-6.9b-deduped-long", 6_857_302_016),
        ("pythia-410m-0.5MtokBS", 405_334_016),
        ("pythia-12b-v0", 11_846_072_320),
        ("pythia-1.3b", 1_414_647_808),  # the old name of pythia-1.4b
        ("facebook/opt-1.3b", 1.3e9),
        ("bigscience/bloom-7b1", 7_069_016_064),
        ("facebook/xglm-564M", 564e6),
        ("huggyllama/llama-30b", 32.5e9),
        ("decapoda-research/llama-7b-hf", 6.7e9),
        ("mosaicml/mpt-30b", 29.95e9),
    ],
)
def test_params_for_tolerates_case_orgs_variants_and_checkpoints(
    name: str, expected: float
) -> None:
    assert params_for(name) == float(expected)


@pytest.mark.parametrize("name", ["gpt-5", "pythia-14m", "opt-2b", "llama-2-7b", "bloomz-7b1x"])
def test_params_for_unknown_models_is_none(name: str) -> None:
    assert params_for(name) is None


def test_canonical_model_name() -> None:
    assert canonical_model_name("EleutherAI/pythia-v1.1-160m-0.5MtokBS@step20") == "pythia-160m"
    assert canonical_model_name(" LLaMA-7B ") == "llama-7b"


def test_pythia_counts_follow_the_gpt_neox_architecture() -> None:
    # Untied input and output embeddings (2 V h), per layer 12 h^2 + 13 h (attention, MLP,
    # biases, two layer norms), a final layer norm (2 h). The padded vocabulary V is 50,304,
    # except 50,432 for 6.9B and 50,688 for 12B (their Hugging Face configs' vocab_size).
    shapes = {
        "70m": (6, 512, 50_304), "160m": (12, 768, 50_304), "410m": (24, 1024, 50_304),
        "1b": (16, 2048, 50_304), "1.4b": (24, 2048, 50_304), "2.8b": (32, 2560, 50_304),
        "6.9b": (32, 4096, 50_432), "12b": (36, 5120, 50_688),
    }  # fmt: skip
    for size, (layers, width, vocabulary) in shapes.items():
        non_embedding = layers * (12 * width**2 + 13 * width) + 2 * width
        assert PYTHIA_NON_EMBEDDING_PARAMS[f"pythia-{size}"] == non_embedding
        assert PARAMETER_COUNTS[f"pythia-{size}"] == non_embedding + 2 * vocabulary * width


def test_bloom_counts_follow_the_bloom_architecture() -> None:
    # Tied embeddings (V h), per layer 12 h^2 + 13 h, embedding and final layer norms (4 h);
    # V = 250,880 (BigScience 2022, Table 3).
    vocabulary = 250_880
    shapes = {
        "bloom-560m": (24, 1024), "bloom-1b1": (24, 1536), "bloom-1b7": (24, 2048),
        "bloom-3b": (30, 2560), "bloom-7b1": (30, 4096), "bloom": (70, 14336),
    }  # fmt: skip
    for name, (layers, width) in shapes.items():
        expected = vocabulary * width + layers * (12 * width**2 + 13 * width) + 4 * width
        assert PARAMETER_COUNTS[name] == expected


# --------------------------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------------------------


def walk_results(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for file in sorted(root.rglob("*.json")):
        yield file, json.loads(file.read_text(encoding="utf-8"))


def count_rows(root: Path, model_key: Any) -> tuple[int, int]:
    """(distinct rows, repeated rows) counted straight from the JSON files."""
    seen: set[tuple[Any, ...]] = set()
    repeats = 0
    for file, document in walk_results(root):
        model = model_key(file, document)
        shots = document["config"]["num_fewshot"]
        for task, metrics in document["results"].items():
            for metric in metrics:
                if metric.endswith("_stderr"):
                    continue
                key = (model, shots, task, metric)
                if key in seen:
                    repeats += 1
                seen.add(key)
    return len(seen), repeats


def lambada_perplexities(root: Path) -> int:
    """Distinct (model, shots, LAMBADA task) perplexities, straight from the files."""
    seen: set[tuple[Any, ...]] = set()
    for file, document in walk_results(root):
        for task, metrics in document["results"].items():
            if task.startswith("lambada") and "ppl" in metrics:
                model = (file.parent.name, document["config"]["model_args"])
                seen.add((model, document["config"]["num_fewshot"], task))
    return len(seen)


@pytest.fixture(scope="module")
def harness_v03(data_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    with pytest.warns(UserWarning) as caught:
        table = read_lm_eval(data_dir / "lm-eval-harness-v0.3")
    return table, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def pythia_evals(data_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    with pytest.warns(UserWarning) as caught:
        table = read_lm_eval(data_dir / "pythia-evals")
    return table, [str(w.message) for w in caught]


@pytest.mark.realdata
def test_real_harness_v03_row_counts(
    data_dir: Path, harness_v03: tuple[pd.DataFrame, list[str]]
) -> None:
    table, messages = harness_v03
    root = data_dir / "lm-eval-harness-v0.3"
    distinct, repeats = count_rows(root, lambda file, _: file.parent.name)
    # 166 result JSONs (190 files with the READMEs); 3,483 (task, metric) entries that are not
    # *_stderr, over 22 models (BLOOM 5, OPT 8, XGLM 5, LLaMA 3, MPT 1). 8 of them re-score a
    # task that an earlier file of the same model scored (LLaMA-13B boolq, copa, drop em/f1;
    # LLaMA-7B drop em/f1; MPT-7B boolq, copa), leaving 3,475 rows.
    assert (distinct, repeats) == (3475, 8)
    # plus one loglik_per_word_from_ppl row per LAMBADA perplexity: 39 (9 LAMBADA variants)
    assert lambada_perplexities(root) == 39
    assert len(table) == distinct + 39 == 3514
    assert messages == [
        f"{root}: dropped 8 rows that repeat a (task, subtask, family, model, shots, metric) "
        "already read from another file (re-runs of one evaluation; e.g. 'drop'/'em' in "
        "results/llama/llama-13B/llama-13B_reading_comprehension_0-shot.json); the file whose "
        "path sorts first was kept",
        # v0.3 files do not record n_items (see test_real_n_items_agree_with_the_cited_counts)
        f"{root}: the result files do not record n_items; it was filled for 3399 rows of 292 "
        "tasks: 185 tasks (1719 rows) from their documented number of items "
        "(emergestats.data.choices.ITEM_COUNTS) and 107 tasks (1680 rows) from the reported "
        "standard errors of their accuracies (n = p (1 - p) / stderr^2 + 1, the value most rows "
        "of a task give); 115 rows of 7 tasks keep n_items <NA> (e.g. 'coqa')",
    ]
    assert table.groupby("family")["model"].nunique().to_dict() == {
        "bloom": 5, "llama": 3, "mpt": 1, "opt": 8, "xglm": 5,
    }  # fmt: skip
    # (before the LAMBADA log-likelihoods: 556, 1118, 383, 1024, 394)
    assert table.groupby("family").size().to_dict() == {
        "bloom": 558, "llama": 1136, "mpt": 392, "opt": 1032, "xglm": 396,
    }  # fmt: skip
    assert table["metric_kind"].value_counts().to_dict() == {
        "accuracy": 2772,
        "other": 310,
        "exact_match": 249,  # 68 before; + 181 acc rows of generative tasks
        "greedy_match": 39,  # LAMBADA's acc, one per perplexity
        "multiple_choice_grade": 105,
        "log_likelihood": 39,
    }
    assert "step" not in table.columns


@pytest.mark.realdata
def test_real_harness_v03_cells(
    data_dir: Path, harness_v03: tuple[pd.DataFrame, list[str]]
) -> None:
    table, _ = harness_v03
    root = data_dir / "lm-eval-harness-v0.3" / "results"
    rows = table.set_index(["model", "subtask", "shots", "metric"])
    for model, file_name, task, metric in [
        ("bloom-1b1", "bloom-1b1_common_sense_reasoning_0-shot.json", "boolq", "acc"),
        ("xglm-564M", "xglm-564M_xnli_0-shot.json", "xnli_sw", "acc"),
        ("mpt-7b", "mpt-7b_lambada_0-shot.json", "lambada_openai", "ppl"),
        ("llama-30B", "llama-30B_bbh_3-shot.json", "bigbench_navigate", "multiple_choice_grade"),
        ("opt-66b", "opt-66b.json", "hendrycksTest-virology", "acc_norm"),
    ]:
        family = table.loc[table["model"] == model, "family"].iloc[0]
        document = json.loads((root / family / model / file_name).read_text(encoding="utf-8"))
        shots = document["config"]["num_fewshot"]
        source = document["results"][task][metric]
        assert rows.loc[(model, task, shots, metric), "score"] == source
        assert rows.loc[(model, task, shots, metric), "source"].endswith(file_name)
    # SQuAD v2 is stored in percent and divided by 100.
    squad = json.loads(
        (root / "llama" / "llama-7B" / "llama-7B_question_answering_0-shot.json").read_text()
    )["results"]["squad2"]
    assert rows.loc[("llama-7B", "squad2", 0, "exact"), "score"] == pytest.approx(
        squad["exact"] / 100
    )
    assert rows.loc[("llama-7B", "squad2", 0, "best_f1"), "score"] == pytest.approx(
        squad["best_f1"] / 100
    )
    assert rows.loc[("llama-13B", "drop", 0, "f1"), "source"].endswith(
        "llama-13B_mathematical_reasoning_0-shot.json"  # first in sorted order wins
    )
    assert table.loc[table["model"] == "llama-30B", "params"].unique().tolist() == [32.5e9]
    assert table.loc[table["model"] == "bloom-560m", "params"].unique().tolist() == [559_214_592]


@pytest.mark.realdata
def test_real_llama_arithmetic_zeros_are_kept(
    harness_v03: tuple[pd.DataFrame, list[str]],
) -> None:
    # SOURCES.md: the LLaMA arithmetic values are a known-bad upstream run (all 0.0). They are
    # read as given (documented in read_lm_eval) so that a user sees, and filters, them.
    table, _ = harness_v03
    arithmetic = table[(table["task"] == "arithmetic") & (table["family"] == "llama")]
    # LLaMA-7B and -13B have arithmetic_5-shot.json (10 subtasks x acc); LLaMA-30B has none.
    assert sorted(arithmetic["model"].unique()) == ["llama-13B", "llama-7B"]
    assert len(arithmetic) == 20
    assert (arithmetic["score"] == 0.0).all()
    assert set(arithmetic["shots"]) == {5}
    mpt = table[(table["task"] == "arithmetic") & (table["model"] == "mpt-7b")]
    assert len(mpt) == 10 and (mpt["score"] > 0).any()


def count_pythia_baseline(root: Path) -> tuple[int, int, int, int]:
    """(other rows, baseline rows dropped, evaluations dropped, baseline rows kept), straight
    from the files: a baseline/ evaluation of a (model, checkpoint, shots, task) that another
    folder evaluates is dropped whole."""
    canonical: set[tuple[Any, ...]] = set()
    evaluated: set[tuple[Any, ...]] = set()
    baseline: list[tuple[tuple[Any, ...], list[str]]] = []
    for file, document in walk_results(root):
        model = pythia_model_key(file, document)
        shots = document["config"]["num_fewshot"]
        for task, metrics in document["results"].items():
            names = [m for m in metrics if not m.endswith("_stderr")]
            evaluation = (model, shots, task)
            if "baseline" in file.parts:
                baseline.append((evaluation, names))
                continue
            evaluated.add(evaluation)
            for name in names:
                assert (*evaluation, name) not in canonical  # no repeats outside baseline/
                canonical.add((*evaluation, name))
    dropped = [names for evaluation, names in baseline if evaluation in evaluated]
    kept = [names for evaluation, names in baseline if evaluation not in evaluated]
    return len(canonical), sum(map(len, dropped)), len(dropped), sum(map(len, kept))


def pythia_model_key(file: Path, document: dict[str, Any]) -> tuple[str, str | None]:
    args = dict(
        part.split("=", 1) for part in document["config"]["model_args"].split(",") if "=" in part
    )
    return args["pretrained"], args.get("revision")


@pytest.mark.realdata
def test_real_pythia_row_counts(
    data_dir: Path, pythia_evals: tuple[pd.DataFrame, list[str]]
) -> None:
    table, messages = pythia_evals
    root = data_dir / "pythia-evals"
    files = sorted(root.rglob("*.json"))
    # 889 result JSONs: 876 Pythia checkpoints (zero-shot, five-shot, the batch-size ablations,
    # and the baseline/intervention runs of the gender-pronoun experiment) + 5 BLOOM + 8 OPT
    # final models. The evals/csv/*.csv files are another format and are not read.
    assert len(files) == 889
    assert sum("pythia-v1" in file.parts for file in files) == 876
    distinct, repeats = count_rows(root, pythia_model_key)
    # 132,074 non-stderr (task, metric) entries. The baseline/ folders re-evaluate checkpoints
    # that zero-shot/ also holds: 1.4b-deduped at steps 123000, 133000, 143000 (23 tasks, 46
    # metrics each), 410m-deduped at 143000 (22 tasks, 44), 70m- and 6.9b-deduped at 143000
    # (87 tasks, 172 each): 3 x 46 + 44 + 2 x 172 = 526 repeats, leaving 131,548 rows.
    assert (distinct, repeats) == (131_548, 526)
    # Those 265 baseline evaluations are dropped whole, the zero-shot/ ones kept; the baseline
    # evaluations of checkpoints zero-shot/ lacks stay.
    canonical, dropped, evaluations, kept = count_pythia_baseline(root)
    assert (dropped, evaluations) == (526, 3 * 23 + 22 + 2 * 87)
    assert canonical + kept == distinct
    # Every file has lambada_openai: 879 perplexities, 874 once the dropped baseline
    # evaluations are left out, each giving a log-likelihood row.
    assert lambada_perplexities(root) == 879
    assert len(table) == distinct + 874 == 132_422
    assert messages == [
        f"{root}: dropped 531 rows of 265 baseline/ evaluations that re-run a (model, "
        "checkpoint, task, shots) a canonical folder (zero-shot/, five-shot/) also evaluates "
        "(e.g. 'crows_pairs_english_religion' in evals/pythia-v1/pythia-1.4b-deduped/baseline/"
        "baseline-1.4b-deduped_step123000.json); the canonical evaluation was kept. 4653 "
        "baseline rows of checkpoints without a canonical evaluation were kept",
        # every row: the 8 tabulated tasks by their cited counts, the other 79 by their stderrs
        f"{root}: the result files do not record n_items; it was filled for 132422 rows of 87 "
        "tasks: 8 tasks (12654 rows) from their documented number of items "
        "(emergestats.data.choices.ITEM_COUNTS) and 79 tasks (119768 rows) from the reported "
        "standard errors of their accuracies (n = p (1 - p) / stderr^2 + 1, the value most rows "
        "of a task give)",
    ]
    baseline_rows = table["source"].str.contains("/baseline/")
    # + the log-likelihood rows of their LAMBADA perplexities: 27 (1.4b) + 9 (70m) + 9 (6.9b);
    # the 410m-deduped baseline runs have no LAMBADA
    assert baseline_rows.sum() == kept + 45 == 4653
    assert set(table.loc[baseline_rows, "family"]) == {"pythia-deduped"}
    intervention = table["source"].str.contains("/intervention/")
    assert intervention.sum() == 10_850
    assert set(table.loc[intervention, "family"]) == {
        "pythia-deduped-intervention",
        "pythia-deduped-intervention-long",
    }
    assert not table.loc[~intervention, "family"].str.contains("intervention").any()
    assert table["metric_kind"].value_counts().to_dict() == {
        "accuracy": 105_336,  # 106,210 before: the 874 LAMBADA acc rows are greedy matches
        "other": 25_338,
        "greedy_match": 874,
        "log_likelihood": 874,
    }
    assert table.groupby("family")["model"].nunique().to_dict() == {
        "bloom": 5,
        "opt": 8,
        # 7 sizes (no plain 1b folder) x 27 checkpoints
        "pythia": 189,
        # 8 sizes x 27 zero-shot checkpoints, + 27 baseline-only 1.4b steps (114000-142000 but
        # 123000, 133000) + 9 each for 70m, 410m, 6.9b (134000-142000)
        "pythia-deduped": 270,
        "pythia-bf16": 27,  # pythia-1b-bf16
        "pythia-0.25MtokBS": 14,
        "pythia-0.5MtokBS": 45,  # 160m, 410m, 1b x 15
        "pythia-1MtokBS": 15,
        "pythia-deduped-intervention": 40,  # 70m, 410m, 6.9b, 1.4b x 10
        "pythia-deduped-intervention-long": 30,  # 1.4b x 30
    }


@pytest.mark.realdata
def test_real_pythia_models_are_unique_per_size_and_checkpoint(
    pythia_evals: tuple[pd.DataFrame, list[str]],
) -> None:
    table, _ = pythia_evals
    pythia = table[table["family"].str.contains("pythia")]
    per_model = pythia.groupby("model").agg(
        params=("params", "nunique"), step=("step", "nunique"), tokens=("tokens", "max")
    )
    assert (per_model["params"] == 1).all() and (per_model["step"] == 1).all()
    names = pythia["model"].str.extract(r"^(?P<base>.+)@step(?P<step>\d+)$")
    assert names.notna().all().all()
    assert (names["step"].astype(int) == pythia["step"].astype(int).to_numpy()).all()
    # Every run ends at 299,892,736,000 tokens whatever its batch size.
    final = pythia.groupby("model")["tokens"].max()
    assert final.max() == 299_892_736_000
    standard = pythia[pythia["family"].isin(["pythia", "pythia-deduped"]) & (pythia["step"] > 0)]
    assert np.array_equal(
        standard["tokens"].to_numpy(), standard["step"].astype(float).to_numpy() * 2_097_152
    )
    assert pythia.loc[pythia["step"] == 0, "tokens"].isna().all()
    assert sorted(pythia.loc[pythia["family"] == "pythia", "params"].unique()) == [
        70_426_624, 162_322_944, 405_334_016, 1_414_647_808,
        2_775_208_960, 6_857_302_016, 11_846_072_320,
    ]  # fmt: skip
    assert set(pythia["shots"]) == {0, 5}


@pytest.mark.realdata
def test_real_pythia_cells(data_dir: Path, pythia_evals: tuple[pd.DataFrame, list[str]]) -> None:
    table, _ = pythia_evals
    evals = data_dir / "pythia-evals" / "evals"
    rows = table.set_index(["model", "subtask", "shots", "metric"])
    for model, relative, task, metric in [
        ("pythia-1.4b@step143000", "pythia-1.4b/zero-shot/1.4b_step143000.json",
         "lambada_openai", "ppl"),
        ("pythia-1.4b@step143000", "pythia-1.4b/zero-shot/1.4b_step143000.json",
         "lambada_openai", "acc"),
        ("pythia-12b-deduped@step3000",
         "pythia-12b-deduped/five-shot/12b-deduped-5shot_step3000.json",
         "arc_challenge", "acc_norm"),
        ("pythia-70m@step0", "pythia-70m/zero-shot/70m_step0.json",
         "crows_pairs_french_age", "likelihood_difference"),
        ("pythia-160m-0.5MtokBS@step132000",
         "pythia-160m-0.5MtokBS/160m-0.5MtokBS_step132000.json", "sciq", "acc"),
        # Where baseline/ and zero-shot/ both hold a checkpoint, zero-shot/ is kept although
        # baseline/ sorts first (the baseline value is 0.1621..., this one 0.1629...).
        ("pythia-70m-deduped@step143000",
         "pythia-70m-deduped/zero-shot/70m-deduped_step143000.json",
         "arc_challenge", "acc"),
        # a checkpoint only baseline/ evaluates
        ("pythia-1.4b-deduped@step114000",
         "pythia-1.4b-deduped/baseline/baseline-1.4b-deduped_step114000.json",
         "lambada_openai", "acc"),
    ]:  # fmt: skip
        file = evals / "pythia-v1" / relative
        document = json.loads(file.read_text(encoding="utf-8"))
        shots = document["config"]["num_fewshot"]
        assert rows.loc[(model, task, shots, metric), "score"] == document["results"][task][metric]
        assert rows.loc[(model, task, shots, metric), "source"] == (
            f"read_lm_eval:{file.relative_to(data_dir / 'pythia-evals').as_posix()}"
        )
    bloom = json.loads((evals / "bloom" / "bloom-7b1.json").read_text(encoding="utf-8"))
    assert (
        rows.loc[("bloom-7b1", "piqa", 0, "acc_norm"), "score"]
        == (bloom["results"]["piqa"]["acc_norm"])
    )


@pytest.mark.realdata
def test_real_standard_errors_are_the_files_values(
    data_dir: Path,
    harness_v03: tuple[pd.DataFrame, list[str]],
    pythia_evals: tuple[pd.DataFrame, list[str]],
) -> None:
    for folder, (table, _) in (
        ("lm-eval-harness-v0.3", harness_v03),
        ("pythia-evals", pythia_evals),
    ):
        root = data_dir / folder
        stderr = dict(
            zip(
                zip(table["source"], table["subtask"], table["metric"], strict=True),
                table["score_stderr"],
                strict=True,
            )
        )
        checked = 0
        for file, document in walk_results(root):
            source = f"read_lm_eval:{file.relative_to(root).as_posix()}"
            for task, metrics in document["results"].items():
                for metric in metrics:
                    got = stderr.get((source, task, metric))
                    if metric.endswith("_stderr") or got is None:
                        continue  # a standard error, or a row dropped as a re-run
                    reported = metrics.get(f"{metric}_stderr")
                    if reported is None:
                        assert math.isnan(got), (source, task, metric)
                    else:
                        assert got == reported, (source, task, metric)
                    checked += 1
        assert checked == table["metric"].ne("loglik_per_word_from_ppl").sum()
    # every Pythia metric has a standard error (LAMBADA's log-likelihood from its perplexity's);
    # 98 v0.3 rows have none (squad2, some em/f1)
    pythia, _ = pythia_evals
    assert pythia["score_stderr"].notna().all()
    v03, _ = harness_v03
    assert v03["score_stderr"].isna().sum() == 98
    assert (v03["score_stderr"].dropna() >= 0).all()


def implied_item_counts(root: Path) -> dict[str, set[int]]:
    """Task -> the numbers of items its 0/1 metrics' standard errors imply, from the files."""
    binary = {"acc", "acc_norm", "mc1", "multiple_choice_grade", "exact_str_match"}
    binary |= {"pct_stereotype"}
    implied: dict[str, set[int]] = {}
    for _, document in walk_results(root):
        for task, metrics in document["results"].items():
            for metric in binary & set(metrics):
                p, se = metrics[metric], metrics.get(f"{metric}_stderr")
                if isinstance(se, float) and se > 0 and 0 < p < 1:
                    implied.setdefault(task, set()).add(round(p * (1 - p) / se**2 + 1))
    return implied


@pytest.mark.realdata
def test_real_n_items_agree_with_the_cited_counts(
    data_dir: Path,
    harness_v03: tuple[pd.DataFrame, list[str]],
    pythia_evals: tuple[pd.DataFrame, list[str]],
) -> None:
    tabulated: dict[str, set[str]] = {}
    for folder, (table, _) in (
        ("lm-eval-harness-v0.3", harness_v03),
        ("pythia-evals", pythia_evals),
    ):
        implied = implied_item_counts(data_dir / folder)
        n_items = table.groupby("subtask")["n_items"].agg(lambda s: set(s.dropna()))
        tabulated[folder] = set()
        for task, counts in implied.items():
            # Every row of a task, in every file and for every model, implies one count ...
            assert len(counts) == 1, (folder, task, counts)
            (count,) = counts
            documented = item_count(task)
            if documented is not None:
                # ... the documented one where the task is tabulated ...
                assert count == documented.n_items, (folder, task, count, documented)
                tabulated[folder].add(task)
            # ... and the one the reader filled.
            assert n_items[task] == {count}, (folder, task)
    assert tabulated["pythia-evals"] == {
        "arc_challenge", "arc_easy", "lambada_openai", "logiqa", "piqa", "sciq", "winogrande",
        "wsc",
    }  # fmt: skip
    assert len(tabulated["lm-eval-harness-v0.3"]) == 179
    # The other 6 of the 185 tabulated v0.3 tasks have no usable standard error and are filled
    # from the table alone: cola (mcc), drop and record (em, f1: not 0/1 means), and three
    # word-scrambling tasks whose every score is 0.
    v03, _ = harness_v03
    only_cited = {
        task
        for task in v03["subtask"].unique()
        if item_count(task) is not None and task not in tabulated["lm-eval-harness-v0.3"]
    }
    assert only_cited == {
        "anagrams1", "cola", "cycle_letters", "drop", "record", "reversed_words",
    }  # fmt: skip
    assert v03.loc[v03["subtask"] == "cola", "n_items"].eq(1043).all()


@pytest.mark.realdata
def test_real_lambada_log_likelihoods(
    harness_v03: tuple[pd.DataFrame, list[str]],
    pythia_evals: tuple[pd.DataFrame, list[str]],
) -> None:
    for (table, _), count in ((harness_v03, 39), (pythia_evals, 874)):
        cell = ["subtask", "family", "model", "shots"]
        ppl = table[table["metric"] == "ppl"].set_index(cell)
        loglik = table[table["metric"] == "loglik_per_word_from_ppl"].set_index(cell)
        assert len(ppl) == len(loglik) == count
        assert set(ppl.index.get_level_values("subtask")) == set(
            loglik.index.get_level_values("subtask")
        )
        assert all(name.startswith("lambada") for name in ppl.index.get_level_values("subtask"))
        joined = loglik.join(ppl.add_suffix("_ppl"))
        np.testing.assert_allclose(joined["score"], -np.log(joined["score_ppl"]), rtol=1e-12)
        assert (joined["score"] <= 0).all()
        assert set(loglik["metric_kind"]) == {"log_likelihood"}
        assert set(loglik["unit"]) == set(ppl["unit"]) == {"word"}
        np.testing.assert_allclose(
            joined["score_stderr"], joined["score_stderr_ppl"] / joined["score_ppl"], rtol=1e-12
        )
        assert set(ppl["metric_kind"]) == {"other"}
        lambada_acc = table[table["subtask"].str.startswith("lambada") & (table["metric"] == "acc")]
        assert set(lambada_acc["metric_kind"]) == {"greedy_match"}
        assert set(lambada_acc["unit"]) == {"word"}
        assert lambada_acc["chance"].isna().all()
        assert set(table["unit"].dropna()) == {"word"}
        assert (table["unit"] == "word").sum() == 2 * count + len(lambada_acc)


# --------------------------------------------------------------------------------------------
# The choice table against the real files
# --------------------------------------------------------------------------------------------

CHOICE_METRICS = ("acc", "acc_norm", "multiple_choice_grade")


def test_choice_tables_are_disjoint_and_cited() -> None:
    exact = [set(CHOICE_TASKS), set(GENERATIVE_TASKS), set(UNRESOLVED_TASKS)]
    assert all(not (a & b) for a, b in itertools.combinations(exact, 2))
    for name, entry in {**CHOICE_TASKS, **CHOICE_TASK_PREFIXES}.items():
        assert entry.n_choices >= 2, name
        assert len(entry.citation) > 20, name
        assert 0 < entry.chance <= 0.5, name
        if entry.choice_counts:
            assert entry.n_choices == max(entry.choice_counts, key=entry.choice_counts.__getitem__)
    # a name is in one class only, whichever way it is found
    for name in ["math_qa", "mathqa", "math_algebra", "lambada_openai", "hendrycksTest-virology",
                 "mmlu_anatomy", "arithmetic_2da", "bigbench_ruin_names", "xnli_sw"]:  # fmt: skip
        found = [
            choice_task(name) is not None,
            generative_reason(name) is not None,
            unresolved_reason(name) is not None,
        ]
        assert sum(found) == 1, name
    assert choice_task("logical_deduction").chance == pytest.approx(0.2)
    assert choice_task("arc_easy").note.startswith("most items have 4 choices")


@pytest.mark.realdata
def test_choice_counts_of_bigbench_tasks_match_the_task_definitions(data_dir: Path) -> None:
    # The open_lm BIG-bench tasks whose counts come from the mirrored task.json files.
    root = data_dir / "bigbench-tasks"
    for name in ("misconceptions", "strategyqa", "conceptual_combinations",
                 "understanding_fables", "novel_concepts", "strange_stories",
                 "logical_deduction"):  # fmt: skip
        counts: Counter[int] = Counter()
        for file in sorted((root / name).rglob("task.json")):
            examples = json.loads(file.read_text(encoding="utf-8")).get("examples", [])
            counts.update(len(e["target_scores"]) for e in examples if "target_scores" in e)
        entry = CHOICE_TASKS[name]
        expected = entry.choice_counts or {entry.n_choices: counts.total()}
        assert dict(counts) == dict(expected), name


@pytest.mark.realdata
def test_real_choice_tasks_are_all_in_the_choice_table(
    harness_v03: tuple[pd.DataFrame, list[str]],
    pythia_evals: tuple[pd.DataFrame, list[str]],
) -> None:
    table = pd.concat([harness_v03[0], pythia_evals[0]], ignore_index=True)
    scored = table[table["metric"].isin(CHOICE_METRICS)]
    names = sorted(set(scored["subtask"]))
    assert len(names) == 269  # every task of both mirrors with an acc, acc_norm or mc grade
    classes = {
        "choice": [n for n in names if choice_task(n) is not None],
        "generative": [n for n in names if generative_reason(n) is not None],
        "unresolved": [n for n in names if unresolved_reason(n) is not None],
    }
    assert sorted(itertools.chain(*classes.values())) == names  # each in one class only
    assert {k: len(v) for k, v in classes.items()} == {
        "choice": 223,
        "generative": 35,
        "unresolved": 11,
    }
    assert classes["unresolved"] == [
        "bigbench_date_understanding", "bigbench_disambiguation_qa", "bigbench_dyck_languages",
        "bigbench_geometric_shapes", "bigbench_movie_recommendation",
        "bigbench_reasoning_about_colored_objects", "bigbench_ruin_names",
        "ethics_utilitarianism_original", "headqa_en", "headqa_es", "multirc",
    ]  # fmt: skip
    choice = scored["subtask"].isin(classes["choice"])
    expected = scored.loc[choice, "subtask"].map(lambda n: choice_task(n).chance)
    np.testing.assert_allclose(scored.loc[choice, "chance"], expected)
    assert scored.loc[~choice, "chance"].isna().all()
    generative = table["subtask"].isin(classes["generative"]) & (table["metric"] == "acc")
    lambada = table["subtask"].str.startswith("lambada")
    assert set(table.loc[generative & ~lambada, "metric_kind"]) == {"exact_match"}
    assert set(table.loc[generative & lambada, "metric_kind"]) == {"greedy_match"}
    # no other metric gets a chance level
    assert table.loc[~table["metric"].isin(CHOICE_METRICS), "chance"].isna().all()
