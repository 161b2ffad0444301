"""read_expemergence: ExpEmergence's per-difficulty-group accuracy and TC Brier files."""

from __future__ import annotations

import csv
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from emergestats.data.expemergence import read_expemergence
from emergestats.data.table import CURVE_KEY, brier_form
from emergestats.errors import DataFormatError, EmptyInputError

MODEL_HEADER = [
    "Model",
    "Model Family",
    "Model Size (B)",
    "Pretraining Data Size (T)",
    "FLOPs (1E21)",
    "MMLU",
    "Company",
    "Unnamed: 7",
]


@dataclass
class Model:
    name: str
    family: str
    size: str
    tokens: str = "2.0"
    flops: str = "12.0"


SMALL = Model("org/a-1b", "A", "1.0")
LARGE = Model("org/a-7b", "A", "7.0", tokens="", flops="")
UNSCORED = Model("org/b-3b", "B", "3.0")


def write_file(
    path: Path,
    bounds: list[int],
    rows: list[tuple[Model | None, list[str] | None, str, str]],
    *,
    by_accuracy: bool = False,
) -> Path:
    """An ExpEmergence CSV: model columns, then ``a_b_<kind>`` / ``a_b_san`` per group, then
    ``acc`` (Brier-ranked files only), ``brier``, ``san``. A row is (model or None for a spacer
    row, group scores or None when unscored, overall acc, overall brier)."""
    kind = "acc" if by_accuracy else "brier"
    header = list(MODEL_HEADER)
    for start, end in itertools.pairwise(bounds):
        header += [f"{start}_{end}_{kind}", f"{start}_{end}_san"]
    header += ["brier", "san"] if by_accuracy else ["acc", "brier", "san"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for model, groups, acc, brier in rows:
            cells = (
                [model.name, model.family, model.size, model.tokens, model.flops, "0.3", "x", ""]
                if model is not None
                else [""] * len(MODEL_HEADER)
            )
            for value in groups or [""] * (len(bounds) - 1):
                cells += [value, "0.9" if groups else ""]
            overall = [brier] if by_accuracy else [acc, brier]
            cells += [*overall, "0.9"] if groups else [""] * (len(overall) + 1)
            writer.writerow(cells)
    return path


def write_checkout(root: Path) -> Path:
    """Two tasks in the real layout, plus files the reader must skip."""
    data = root / "data"
    conceptual = [0, 34, 68, 103]  # 103 questions, the real 3-group split
    write_file(
        data
        / "conceptual_combinations"
        / "conceptual_combinations_instance_brier_-1000_31.622776601683793_3_redist.csv",
        conceptual,
        [
            (SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5"),
            (LARGE, ["0.1", "0.3", "0.6"], "0.5", "0.33"),
            (UNSCORED, None, "", ""),
            (None, None, "", ""),
        ],
    )
    parsinlu = [0, 350, 700, 1050]
    folder = data / "parsinlu_qa_mc"
    rows = [(SMALL, ["0.4", "0.6", "0.7"], "0.26", "0.6"), (UNSCORED, None, "", "")]
    write_file(
        folder / "parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_3_redist.csv",
        parsinlu,
        rows,
    )
    # accuracy-ranked: first column = lowest mean accuracy = hardest group
    write_file(
        folder / "acc_parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_3_redist.csv",
        parsinlu,
        [(SMALL, ["0.05", "0.25", "0.5"], "", "0.6"), (UNSCORED, None, "", "")],
        by_accuracy=True,
    )
    # skipped: a smaller compute window, raw probabilities, a 10-group file
    write_file(
        folder / "parsinlu_qa_mc_instance_brier_-1000_79.43282347242814_3_redist.csv",
        parsinlu,
        [(SMALL, ["0.41", "0.61", "0.71"], "0.26", "0.6")],
    )
    write_file(
        folder / "parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_3_undist.csv",
        parsinlu,
        [(SMALL, ["0.5", "0.7", "0.8"], "0.26", "0.7")],
    )
    write_file(
        folder / "parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_10_redist.csv",
        list(range(0, 1051, 105)),
        [(SMALL, ["0.5"] * 10, "0.26", "0.6")],
    )
    return root


def test_fixture_rows_and_names(tmp_path: Path) -> None:
    table = read_expemergence(write_checkout(tmp_path), groups=3)
    # conceptual: 2 scored models x (acc + tc_brier + 3 groups) = 10;
    # parsinlu: 1 scored model x (acc + tc_brier + 3 Brier groups + 3 accuracy groups) = 8
    assert len(table) == 18
    rows = table.set_index(["model", "subtask", "metric"])
    overall = rows.loc[("org/a-1b", "conceptual_combinations", "acc")]
    assert overall["task"] == "conceptual_combinations"
    assert overall["metric_kind"] == "multiple_choice_grade"
    assert (overall["score"], overall["n_items"], overall["shots"]) == (0.3, 103, 2)
    assert overall["chance"] == 0.25
    assert (overall["family"], overall["params"]) == ("A", 1e9)
    assert (overall["tokens"], overall["flops"]) == (2e12, 12e21)
    brier = rows.loc[("org/a-7b", "conceptual_combinations", "tc_brier")]
    assert (brier["metric_kind"], brier["score"]) == ("brier", 0.33)
    assert brier["chance"] == pytest.approx(0.75**2)
    assert math.isnan(brier["tokens"])
    group = rows.loc[("org/a-7b", "conceptual_combinations/brier_group_3of3", "tc_brier")]
    assert (group["score"], group["n_items"]) == (0.6, 35)
    assert group["chance"] == pytest.approx(0.5625)  # every question has 4 choices

    parsinlu = table[table["task"] == "parsinlu_qa"].set_index(["subtask", "metric"])
    assert parsinlu.loc[("parsinlu_qa", "acc"), "chance"] == pytest.approx(263 / 1050)
    assert parsinlu.loc[("parsinlu_qa", "tc_brier"), "score"] == 0.6
    # accuracy ranking reversed so that group 1 is the easiest: 0.5 (last column)
    assert parsinlu.loc[("parsinlu_qa/acc_group_1of3", "acc"), "score"] == 0.5
    assert parsinlu.loc[("parsinlu_qa/acc_group_3of3", "acc"), "score"] == 0.05
    assert parsinlu.loc[("parsinlu_qa/brier_group_1of3", "tc_brier"), "score"] == 0.4
    # which questions (4 or 3 choices) fall in a group is not in the files: a group gets the
    # whole task's mix, 1044 questions with 4 choices and 6 with 3
    whole_brier = (1044 * (3 / 4) ** 2 + 6 * (2 / 3) ** 2) / 1050
    assert parsinlu.loc[("parsinlu_qa/brier_group_1of3", "tc_brier"), "chance"] == pytest.approx(
        whole_brier
    )
    assert parsinlu.loc[("parsinlu_qa", "tc_brier"), "chance"] == pytest.approx(whole_brier)
    assert parsinlu.loc[("parsinlu_qa/acc_group_2of3", "acc"), "chance"] == pytest.approx(
        263 / 1050
    )
    # the skipped variants' scores (0.41, 0.5, 10 groups) do not appear
    assert not (table["score"] == 0.41).any()
    assert "org/b-3b" not in set(table["model"])
    assert set(table["source"]) == {
        "read_expemergence:data/conceptual_combinations/"
        "conceptual_combinations_instance_brier_-1000_31.622776601683793_3_redist.csv",
        "read_expemergence:data/parsinlu_qa_mc/"
        "parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_3_redist.csv",
        "read_expemergence:data/parsinlu_qa_mc/"
        "acc_parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_3_redist.csv",
    }


def test_group_rows_are_canonical_rows_with_items_and_chance(tmp_path: Path) -> None:
    table = read_expemergence(write_checkout(tmp_path), groups=3)
    groups = table[table["subtask"].str.contains("_group_")]
    assert groups["chance"].notna().all()
    assert groups["n_items"].notna().all()
    # the groups of one ranking tile the task's questions
    per_ranking = groups.assign(ranking=groups["subtask"].str.extract(r"/(\w+)_group_")[0])
    totals = per_ranking.groupby(["model", "task", "ranking"])["n_items"].sum()
    assert set(totals.to_dict().values()) == {103, 1050}
    # every group is its own curve: one metric per (task, subtask, family, shots) and model
    assert not groups.duplicated([*CURVE_KEY, "model"]).any()
    assert set(groups.groupby(list(CURVE_KEY))["metric"].nunique()) == {1}


def test_tc_brier_is_the_correct_choice_form(tmp_path: Path) -> None:
    root = write_checkout(tmp_path)
    table = read_expemergence(root, groups=3)
    brier = table[table["metric_kind"] == "brier"]
    assert set(brier["metric"]) == {"tc_brier"}
    assert {brier_form(m) for m in brier["metric"]} == {"correct_choice"}
    assert brier_form("calibration_multiple_choice_brier_score") == "mean"
    undist = read_expemergence(next((root / "data" / "parsinlu_qa_mc").glob("*_3_undist.csv")))
    assert brier_form(undist["metric"][undist["metric_kind"] == "brier"].iloc[0]) == (
        "correct_choice"
    )


@pytest.mark.parametrize(
    ("task", "acc_chance"),
    [("arc", 0.25), ("abstract_narrative_understanding", math.nan), ("hellaswag", 0.25)],
)
def test_chance_of_tasks_with_unknown_or_typical_choice_counts(
    tmp_path: Path, task: str, acc_chance: float
) -> None:
    bounds = {"arc": [0, 1000, 2000, 3548], "hellaswag": [0, 3347, 6694, 10042]}.get(
        task, [0, 1000, 2000, 3000]
    )
    path = write_file(
        tmp_path / "data" / task / f"{task}_instance_brier_-1000_199.52623149688787_3_redist.csv",
        bounds,
        [(SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5")],
    )
    table = read_expemergence(path).set_index(["subtask", "metric"])
    for subtask in (task, f"{task}/brier_group_2of3"):
        brier_chance = table.loc[(subtask, "tc_brier"), "chance"]
        if math.isnan(acc_chance):
            assert math.isnan(brier_chance)
        else:
            # ARC: 4 choices for every question (a few have 3 or 5; approximate)
            assert brier_chance == pytest.approx((1 - acc_chance) ** 2)
    if not math.isnan(acc_chance):
        assert table.loc[(task, "acc"), "chance"] == pytest.approx(acc_chance)


def test_default_reads_the_ten_group_files(tmp_path: Path) -> None:
    table = read_expemergence(write_checkout(tmp_path))
    # only parsinlu has a 10-group file: acc + tc_brier + 10 groups for one model
    assert len(table) == 12
    assert set(table["n_items"]) == {105, 1050}


def test_single_file_and_undistributed_brier(tmp_path: Path) -> None:
    root = write_checkout(tmp_path)
    path = next((root / "data" / "parsinlu_qa_mc").glob("*_3_undist.csv"))
    table = read_expemergence(path)
    assert len(table) == 5
    assert set(table["metric"]) == {"acc", "tc_brier_unnormalized"}
    assert table["chance"][table["metric"] == "tc_brier_unnormalized"].isna().all()


def test_repeated_model_with_identical_scores_warns_and_keeps_first(tmp_path: Path) -> None:
    path = tmp_path / "hellaswag" / "hellaswag_instance_brier_-1000_199.5_3_redist.csv"
    misnamed = Model("org/a-1b", "A", "0.355")
    scores = ["0.2", "0.5", "0.8"]
    write_file(
        path,
        [0, 3347, 6694, 10042],
        [(SMALL, scores, "0.3", "0.5"), (misnamed, scores, "0.3", "0.5")],
    )
    with pytest.warns(UserWarning, match=re.escape("org/a-1b (1B kept; 0.355B dropped)")):
        table = read_expemergence(tmp_path, groups=3)
    assert len(table) == 5
    assert set(table["params"]) == {1e9}


def test_repeated_model_with_different_scores_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hellaswag" / "hellaswag_instance_brier_-1000_199.5_3_redist.csv"
    write_file(
        path,
        [0, 3347, 6694, 10042],
        [
            (SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5"),
            (SMALL, ["0.2", "0.5", "0.9"], "0.3", "0.5"),
        ],
    )
    with pytest.raises(DataFormatError, match="different scores on rows") as info:
        read_expemergence(path)
    assert info.value.rows == [0, 1]


def test_scored_model_without_size_warns(tmp_path: Path) -> None:
    path = tmp_path / "hellaswag_instance_brier_-1000_199.5_3_redist.csv"
    write_file(
        path,
        [0, 3347, 6694, 10042],
        [
            (SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5"),
            (Model("org/x", "X", ""), ["0.2", "0.5", "0.8"], "0.3", "0.5"),
        ],
    )
    with pytest.warns(UserWarning, match=r"1 scored model\(s\) without 'Model Size \(B\)'.*org/x"):
        assert set(read_expemergence(path)["model"]) == {"org/a-1b"}


def test_unknown_task_needs_shots(tmp_path: Path) -> None:
    path = tmp_path / "winogrande_instance_brier_-1000_10_3_redist.csv"
    write_file(path, [0, 1, 2, 3], [(SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5")])
    with pytest.raises(DataFormatError, match=re.escape("shots={'winogrande': <n>}")):
        read_expemergence(path)
    assert set(read_expemergence(path, shots={"winogrande": 5})["shots"]) == {5}


def test_missing_column(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "hellaswag_instance_brier_-1000_199.5_3_redist.csv",
        [0, 3347, 6694, 10042],
        [(SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5")],
    )
    text = path.read_text().splitlines()
    header = text[0].replace(",acc,brier,san", ",accuracy,brier,san")
    path.write_text("\n".join([header, *text[1:]]) + "\n")
    with pytest.raises(DataFormatError, match="missing column") as info:
        read_expemergence(path)
    assert info.value.column == "acc"
    assert info.value.path == path


def test_group_columns_must_match_the_file_name(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "hellaswag_instance_brier_-1000_199.5_10_redist.csv",
        [0, 3347, 6694, 10042],
        [(SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5")],
    )
    with pytest.raises(DataFormatError, match="has 3 group columns") as info:
        read_expemergence(path)
    assert info.value.column == "0_3347_brier"


def test_non_numeric_cell(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "hellaswag_instance_brier_-1000_199.5_3_redist.csv",
        [0, 3347, 6694, 10042],
        [(SMALL, ["0.2", "0.5", "0.8"], "0.3", "0.5"), (LARGE, ["0.2", "high", "0.8"], "0.3", "")],
    )
    with pytest.raises(DataFormatError, match="not numeric in row 1") as info:
        read_expemergence(path)
    assert info.value.column == "3347_6694_brier"
    assert info.value.rows == [1]


def test_empty_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EmptyInputError, match="holds no ExpEmergence CSV files"):
        read_expemergence(tmp_path)
    path = tmp_path / "hellaswag_instance_brier_-1000_199.5_3_redist.csv"
    path.write_text("")
    with pytest.raises(EmptyInputError, match="empty") as info:
        read_expemergence(path)
    assert info.value.path == path


def test_file_with_no_scored_model(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "hellaswag_instance_brier_-1000_199.5_3_redist.csv",
        [0, 3347, 6694, 10042],
        [(UNSCORED, None, "", "")],
    )
    with pytest.raises(EmptyInputError, match="no scored model"):
        read_expemergence(path)


def test_unrecognised_file_name(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="is not named") as info:
        read_expemergence(tmp_path)
    assert info.value.path == tmp_path / "notes.csv"


# --------------------------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------------------------

GPT2_WARNING = re.escape("openai-community/gpt2 (0.124B kept; 0.355B dropped)")


def scored_rows(path: Path) -> list[dict[str, str]]:
    """Rows with any score, first occurrence of each model (independent of the reader)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    score_columns = [c for c in rows[0] if re.match(r"^\d+_\d+_(brier|acc)$", c) or c == "brier"]
    seen: set[str] = set()
    out = []
    for row in rows:
        if any(row[c].strip() for c in score_columns) and row["Model"] not in seen:
            seen.add(row["Model"])
            out.append(row)
    return out


@pytest.mark.realdata
def test_real_row_count(data_dir: Path) -> None:
    root = data_dir / "expemergence"
    with pytest.warns(UserWarning, match=GPT2_WARNING):
        table = read_expemergence(root)
    data = root / "data"
    brier_files = {
        "abstract_narrative_understanding": "abstract_narrative_understanding_instance_brier_"
        "-1000_199.52623149688787_10_redist.csv",
        "analogical_similarity": "analogical_similarity_instance_brier_-1000_100_10_redist.csv",
        "arc": "arc_instance_brier_-1000_199.52623149688787_10_redist.csv",
        "arithmetic": "arithmetic_instance_brier_-1000_63.09573444801933_10_redist.csv",
        "conceptual_combinations": "conceptual_combinations_instance_brier_"
        "-1000_31.622776601683793_10_redist.csv",
        "hellaswag": "hellaswag_instance_brier_-1000_199.52623149688787_10_redist.csv",
        "hindu_knowledge": "hindu_knowledge_instance_brier_-1000_10_10_redist.csv",
        "mmlu": "mmlu_instance_brier_-1000_31.622776601683793_10_redist.csv",
        "parsinlu_qa_mc": "parsinlu_qa_mc_instance_brier_-1000_199.52623149688787_10_redist.csv",
    }
    scored = {task: len(scored_rows(data / task / name)) for task, name in brier_files.items()}
    # scored models per task (the arithmetic files list gpt2 and gpt2-large twice: 70 -> 68)
    assert scored == {
        "abstract_narrative_understanding": 65,
        "analogical_similarity": 65,
        "arc": 65,
        "arithmetic": 68,
        "conceptual_combinations": 65,
        "hellaswag": 65,
        "hindu_knowledge": 65,
        "mmlu": 67,
        "parsinlu_qa_mc": 65,
    }
    # Brier-ranked files: acc + tc_brier + 10 groups per scored model (590 models -> 7080);
    # accuracy-ranked acc_ files (arithmetic, mmlu, parsinlu_qa_mc): 10 groups each (200 -> 2000)
    assert sum(scored.values()) == 590
    accuracy_ranked = scored["arithmetic"] + scored["mmlu"] + scored["parsinlu_qa_mc"]
    assert len(table) == 12 * 590 + 10 * accuracy_ranked == 9080
    assert table.groupby("task")["subtask"].nunique()["arithmetic"] == 21


@pytest.mark.realdata
def test_real_values_cell_for_cell(data_dir: Path) -> None:
    data = data_dir / "expemergence" / "data"
    with pytest.warns(UserWarning, match=GPT2_WARNING):
        table = read_expemergence(data).set_index(["model", "subtask", "metric"])
    brier_file = (
        data / "arithmetic" / "arithmetic_instance_brier_-1000_63.09573444801933_10_redist.csv"
    )
    acc_file = (
        data / "arithmetic" / "acc_arithmetic_instance_brier_-1000_63.09573444801933_10_redist.csv"
    )
    brier_rows = {r["Model"]: r for r in scored_rows(brier_file)}
    acc_rows = {r["Model"]: r for r in scored_rows(acc_file)}
    for model in ("meta-llama/Llama-2-7b-hf", "EleutherAI/pythia-410m-deduped"):
        source = brier_rows[model]
        assert table.loc[(model, "arithmetic", "acc"), "score"] == float(source["acc"])
        assert table.loc[(model, "arithmetic", "tc_brier"), "score"] == float(source["brier"])
        easiest = table.loc[(model, "arithmetic/brier_group_01of10", "tc_brier")]
        assert easiest["score"] == float(source["0_1502_brier"])
        assert easiest["n_items"] == 1502
        # accuracy ranking: the last source column (hardest-first order) is the easiest group
        easiest_acc = table.loc[(model, "arithmetic/acc_group_01of10", "acc")]
        assert easiest_acc["score"] == float(acc_rows[model]["13520_15023_acc"])
        assert easiest_acc["n_items"] == 1503
        assert easiest["params"] == float(source["Model Size (B)"]) * 1e9
        assert easiest["family"] == source["Model Family"]
        assert easiest["shots"] == 2
    gpt2 = table.loc[("openai-community/gpt2", "arithmetic", "acc")]
    assert gpt2["params"] == pytest.approx(0.124e9)
    mmlu = table.loc[("Qwen/Qwen1.5-7B", "mmlu", "acc")]
    mmlu_file = data / "mmlu" / "mmlu_instance_brier_-1000_31.622776601683793_10_redist.csv"
    assert mmlu["score"] == float(
        {r["Model"]: r for r in scored_rows(mmlu_file)}["Qwen/Qwen1.5-7B"]["acc"]
    )
    assert (mmlu["shots"], mmlu["n_items"], mmlu["chance"]) == (5, 14042, 0.25)
    parsinlu = table.loc[("meta-llama/Llama-2-7b-hf", "parsinlu_qa", "acc")]
    assert parsinlu["n_items"] == 1050
    assert parsinlu["chance"] == pytest.approx(263 / 1050)


@pytest.mark.realdata
def test_real_group_rows_have_items_and_chance(data_dir: Path) -> None:
    with pytest.warns(UserWarning, match=GPT2_WARNING):
        table = read_expemergence(data_dir / "expemergence")
    # chance is missing only where the choice counts are not in the local files
    missing = table[table["chance"].isna()]
    assert set(missing["task"]) == {"abstract_narrative_understanding"}
    assert len(missing) == 65 * 12  # 65 scored models x (acc, tc_brier, 10 groups)
    groups = table[table["subtask"].str.contains("_group_")]
    assert groups["n_items"].notna().all()
    ranking = groups["subtask"].str.extract(r"^(?P<task>[^/]+)/(?P<ranking>\w+)_group_")
    totals = groups.assign(**ranking).groupby(["model", "task", "ranking"])["n_items"].sum()
    overall = table[table["subtask"] == table["task"]].groupby("task")["n_items"].first()
    for (_, task, _), total in totals.items():
        assert total == overall[task]
    # groups of tasks with one number of choices get the exact chance
    mmlu = groups[(groups["task"] == "mmlu") & (groups["metric"] == "acc")]
    assert set(mmlu["chance"]) == {0.25}
    arithmetic = groups[(groups["task"] == "arithmetic") & (groups["metric"] == "acc")]
    whole = (13877 / 7 + 1004 / 6 + 142 / 5) / 15023
    assert arithmetic["chance"].to_numpy() == pytest.approx(whole)
    assert 1 / 7 < whole < 1 / 5
    assert {brier_form(m) for m in table.loc[table["metric_kind"] == "brier", "metric"]} == {
        "correct_choice"
    }
