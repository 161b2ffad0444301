"""read_obsscaling: ObsScaling's emergent-capability CSV joined to its model metadata."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from emergestats.data.obsscaling import read_obsscaling
from emergestats.errors import DataFormatError, EmptyInputError

EMERGENT_HEADER = [
    "Model",
    "parsinlu_qa_2_acc",
    "word_unscrambling_2_exact_match",
    "ipa_transliterate_2_exact_match",
    "ipa_transliterate_2_bleu",
    "arithmetic_2dm_2_acc",
]
METADATA_HEADER = [
    "Model",
    "Model Family",
    "Model Size (B)",
    "Pretraining Data Size (T)",
    "FLOPs (1E21)",
    "MMLU",
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_fixture(
    folder: Path,
    *,
    emergent_rows: list[list[str]] | None = None,
    metadata_rows: list[list[str]] | None = None,
) -> Path:
    """Two models of one family, shaped like the real files; one empty cell (BLEU of org/b)."""
    write_csv(
        folder / "base_llm_emergent_capability_eval.csv",
        EMERGENT_HEADER,
        emergent_rows
        if emergent_rows is not None
        else [
            ["org/a-1b", "0.25142857142857142", "0.089", "0.0717846460618145", "27.5", "0.4155"],
            ["org/a-7b", "0.3", "0.2", "0.008", "", "0.9"],
        ],
    )
    write_csv(
        folder / "base_llm_benchmark_eval.csv",
        METADATA_HEADER,
        metadata_rows
        if metadata_rows is not None
        else [
            ["org/a-1b", "A", "1.0", "2.0", "12.0", "0.3"],
            ["org/a-7b", "A", "7.0", "", "", "0.5"],
            ["org/unused", "B", "3.0", "1.0", "18.0", "0.4"],
        ],
    )
    return folder


def test_fixture_rows_metrics_and_scaling(tmp_path: Path) -> None:
    table = read_obsscaling(write_fixture(tmp_path))
    # 2 models x 5 score columns, minus the one empty BLEU cell
    assert len(table) == 9
    row = table.set_index(["model", "metric", "subtask"]).sort_index()
    parsinlu = row.loc[("org/a-1b", "multiple_choice_grade", "parsinlu_qa")]
    assert parsinlu["task"] == "parsinlu_qa"
    assert parsinlu["metric_kind"] == "multiple_choice_grade"
    assert parsinlu["shots"] == 2
    assert parsinlu["n_items"] == 1050
    assert parsinlu["chance"] == pytest.approx(263 / 1050)
    assert parsinlu["family"] == "A"
    assert parsinlu["params"] == 1e9
    assert parsinlu["tokens"] == 2e12
    assert parsinlu["flops"] == 12e21
    arithmetic = row.loc[("org/a-1b", "acc", "2_digit_multiplication")]
    assert (arithmetic["task"], arithmetic["metric_kind"]) == ("gpt3_arithmetic", "exact_match")
    assert arithmetic["n_items"] == 2000
    assert arithmetic["chance"] == 0.0
    ipa = "international_phonetic_alphabet_transliterate"
    bleu = row.loc[("org/a-1b", "bleu", ipa)]
    assert bleu["score"] == pytest.approx(0.275)  # BLEU 27.5 on 0..100
    assert bleu["metric_kind"] == "bleu"
    assert math.isnan(bleu["chance"])
    assert row.loc[("org/a-1b", "exact_str_match", "word_unscrambling"), "n_items"] == 2000
    assert row.loc[("org/a-1b", "exact_str_match", ipa), "n_items"] == 1003
    assert math.isnan(row.loc[("org/a-7b", "acc", "2_digit_multiplication"), "tokens"])
    assert set(table["source"]) == {"read_obsscaling:base_llm_emergent_capability_eval.csv"}


def test_item_count_blank_where_score_is_not_a_whole_number_of_items(tmp_path: Path) -> None:
    table = read_obsscaling(write_fixture(tmp_path))
    ipa = table[table["task"] == "international_phonetic_alphabet_transliterate"]
    counts = ipa.set_index(["model", "metric"])["n_items"]
    # 0.0717846... = 72/1003 is consistent; 0.008 = 8/1000 is not a multiple of 1/1003
    assert counts[("org/a-1b", "exact_str_match")] == 1003
    assert counts[("org/a-1b", "bleu")] == 1003
    assert pd.isna(counts[("org/a-7b", "exact_str_match")])


def test_csv_path_and_explicit_metadata_path(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path)
    moved = folder / "elsewhere.csv"
    (folder / "base_llm_benchmark_eval.csv").rename(moved)
    emergent = folder / "base_llm_emergent_capability_eval.csv"
    with pytest.raises(DataFormatError, match="no model metadata file"):
        read_obsscaling(emergent)
    assert len(read_obsscaling(emergent, benchmark_path=moved)) == 9


def test_model_missing_from_metadata_warns_with_count_and_names(tmp_path: Path) -> None:
    folder = write_fixture(
        tmp_path,
        metadata_rows=[["org/a-1b", "A", "1.0", "2.0", "12.0", "0.3"]],
    )
    with pytest.warns(UserWarning, match=r"1 model\(s\).*4 score rows.*org/a-7b"):
        table = read_obsscaling(folder)
    assert set(table["model"]) == {"org/a-1b"}
    assert len(table) == 5


def test_model_without_size_warns(tmp_path: Path) -> None:
    folder = write_fixture(
        tmp_path,
        metadata_rows=[
            ["org/a-1b", "A", "1.0", "2.0", "12.0", "0.3"],
            ["org/a-7b", "A", "", "", "", "0.5"],
        ],
    )
    with pytest.warns(UserWarning, match="org/a-7b"):
        assert len(read_obsscaling(folder)) == 5


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EmptyInputError, match="folder is empty") as info:
        read_obsscaling(tmp_path)
    assert info.value.path == tmp_path


def test_empty_file(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path)
    (folder / "base_llm_emergent_capability_eval.csv").write_text("")
    with pytest.raises(EmptyInputError, match="empty") as info:
        read_obsscaling(folder)
    assert info.value.path == folder / "base_llm_emergent_capability_eval.csv"


def test_header_only_file(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path, emergent_rows=[])
    with pytest.raises(EmptyInputError, match="no data rows"):
        read_obsscaling(folder)


def test_missing_model_column(tmp_path: Path) -> None:
    folder = write_fixture(tmp_path)
    write_csv(folder / "base_llm_benchmark_eval.csv", ["Model", "Model Family"], [["org/a", "A"]])
    with pytest.raises(DataFormatError, match="'Model Size \\(B\\)'") as info:
        read_obsscaling(folder)
    assert info.value.column == "Model Size (B)"
    assert info.value.path == folder / "base_llm_benchmark_eval.csv"


def test_non_numeric_score_names_file_column_and_row(tmp_path: Path) -> None:
    folder = write_fixture(
        tmp_path,
        emergent_rows=[
            ["org/a-1b", "0.25", "0.089", "0.07", "27.5", "0.4"],
            ["org/a-7b", "0.3", "n/a", "0.008", "", "0.9"],
        ],
    )
    with pytest.raises(DataFormatError, match="not numeric in row 1") as info:
        read_obsscaling(folder)
    assert info.value.column == "word_unscrambling_2_exact_match"
    assert info.value.rows == [1]
    assert "base_llm_emergent_capability_eval.csv" in str(info.value)


def test_non_numeric_size(tmp_path: Path) -> None:
    folder = write_fixture(
        tmp_path,
        metadata_rows=[
            ["org/a-1b", "A", "1B", "2.0", "12.0", "0.3"],
            ["org/a-7b", "A", "7.0", "", "", "0.5"],
        ],
    )
    with pytest.raises(DataFormatError, match="not numeric in row 0") as info:
        read_obsscaling(folder)
    assert info.value.column == "Model Size (B)"


def test_unknown_score_column_is_an_error_not_a_guess(tmp_path: Path) -> None:
    folder = tmp_path
    write_fixture(folder)
    write_csv(
        folder / "base_llm_emergent_capability_eval.csv",
        ["Model", "modified_arithmetic_2_acc"],
        [["org/a-1b", "0.5"]],
    )
    with pytest.raises(DataFormatError, match="not a known") as info:
        read_obsscaling(folder)
    assert info.value.column == "modified_arithmetic_2_acc"


def test_repeated_model_is_an_error(tmp_path: Path) -> None:
    row = ["org/a-1b", "0.25", "0.089", "0.07", "27.5", "0.4"]
    folder = write_fixture(tmp_path, emergent_rows=[row, row])
    with pytest.raises(DataFormatError, match="repeats a model in rows 0, 1"):
        read_obsscaling(folder)


def test_score_out_of_range_fails_validation(tmp_path: Path) -> None:
    folder = write_fixture(
        tmp_path,
        emergent_rows=[["org/a-1b", "25.1", "0.089", "0.07", "27.5", "0.4"]],
    )
    with pytest.raises(DataFormatError, match="outside"):
        read_obsscaling(folder)


# --------------------------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------------------------


def real_cells(folder: Path) -> list[dict[str, str]]:
    with (folder / "base_llm_emergent_capability_eval.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.realdata
def test_real_file_row_count(data_dir: Path) -> None:
    folder = data_dir / "obsscaling"
    table = read_obsscaling(folder)
    cells = real_cells(folder)
    score_columns = [c for c in cells[0] if c != "Model"]
    non_empty = sum(1 for row in cells for c in score_columns if row[c].strip())
    # 84 models x 8 score columns = 672 cells, 59 of them empty (parsinlu_qa 8, IPA exact
    # match 12, IPA BLEU 19, arithmetic_3da 10, arithmetic_2da 10): 613 observations, and every
    # model is in base_llm_benchmark_eval.csv with a size, so none is left out.
    assert (len(cells), len(score_columns), non_empty) == (84, 8, 613)
    assert len(table) == 613
    counts = table.groupby(["subtask", "metric"]).size()
    assert counts[("parsinlu_qa", "multiple_choice_grade")] == 84 - 8
    assert counts[("international_phonetic_alphabet_transliterate", "bleu")] == 84 - 19
    assert counts[("2_digit_addition", "acc")] == 84 - 10
    assert table["family"].nunique() == 25
    # IPA exact match of Qwen1.5-72B and Qwen-72B is k/1000, not k/1003: those two rows and
    # Qwen-72B's BLEU row have an unknown item count
    unknown = table[table["n_items"].isna()]
    assert sorted(zip(unknown["model"], unknown["metric"], strict=True)) == [
        ("Qwen/Qwen-72B", "bleu"),
        ("Qwen/Qwen-72B", "exact_str_match"),
        ("Qwen/Qwen1.5-72B", "exact_str_match"),
    ]


@pytest.mark.realdata
def test_real_file_values_cell_for_cell(data_dir: Path) -> None:
    folder = data_dir / "obsscaling"
    table = read_obsscaling(folder).set_index(["model", "subtask", "metric"])
    cells = {row["Model"]: row for row in real_cells(folder)}
    with (folder / "base_llm_benchmark_eval.csv").open(newline="") as handle:
        metadata = {row["Model"]: row for row in csv.DictReader(handle)}
    checks = [
        ("meta-llama/Llama-2-7b-hf", "2_digit_multiplication", "acc", "arithmetic_2dm_2_acc", 1),
        (
            "meta-llama/Llama-2-13b-hf",
            "parsinlu_qa",
            "multiple_choice_grade",
            "parsinlu_qa_2_acc",
            1,
        ),
        (
            "meta-llama/Llama-2-13b-hf",
            "international_phonetic_alphabet_transliterate",
            "bleu",
            "ipa_transliterate_2_bleu",
            100,
        ),
        (
            "EleutherAI/pythia-70m-deduped",
            "word_unscrambling",
            "exact_str_match",
            "word_unscrambling_2_exact_match",
            1,
        ),
        ("EleutherAI/pythia-12b-deduped", "3_digit_subtraction", "acc", "arithmetic_3ds_2_acc", 1),
    ]
    for model, subtask, metric, column, divisor in checks:
        row = table.loc[(model, subtask, metric)]
        assert row["score"] == float(cells[model][column]) / divisor
        assert row["params"] == float(metadata[model]["Model Size (B)"]) * 1e9
        assert row["family"] == metadata[model]["Model Family"]
        assert row["flops"] == pytest.approx(float(metadata[model]["FLOPs (1E21)"]) * 1e21)
    # Mistral has no data size or FLOPs in the metadata: optional columns are NaN
    mistral = table.loc[("mistralai/Mistral-7B-v0.1", "word_unscrambling", "exact_str_match")]
    assert math.isnan(mistral["tokens"]) and math.isnan(mistral["flops"])
    assert mistral["params"] == float(metadata["mistralai/Mistral-7B-v0.1"]["Model Size (B)"]) * 1e9
