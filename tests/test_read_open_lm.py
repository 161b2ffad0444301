"""read_open_lm: the mlfoundations/scaling testbed (models/*.json, evals/*.json, metadata)."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from emergestats.data.choices import choice_task, unresolved_reason
from emergestats.data.open_lm import read_open_lm
from emergestats.errors import DataFormatError, EmptyInputError

METADATA_HEADER = [
    "Eval Task",
    "Task Type",
    "#shots",
    "#datapoints",
    "Random baseline",
    "Centered Metric?",
    "Description",
]
METADATA_ROWS = [
    ["arc_challenge", "multiple choice", "10", "2376", "25", "", "copied from ARC easy"],
    ["bigbench_strategy_qa", "multiple choice", "10", "2289", "50", "", "yes/no"],
    ["bigbench_operators", "language modeling", "10", "210", "0", "", "operators"],
    ["winograd", "schema", "0", "273", "50", "", "schema"],
    ["gsm8k", "question answering", "3", "1319", "0", "", "never evaluated"],
]


def model_json(name: str, *, dataset: str, arch: str, params: int, no_embed: int, mult: float):
    return {
        "name": name,
        "dataset_name": dataset,
        "hyperparameters": {
            "model": f"scaling/open_lm_configs/{arch}.json",
            "tokens": int(20 * mult * params),
            "params": params,
            "params_no_embed": no_embed,
            "chinchilla_multiplier": mult,
        },
        "results": [
            {"loss": 6.1, "val_data": ["training/eval_data/val_tok_mult/openlm/shard.tar"]},
            {"loss": 5.25, "val_data": ["training/eval_data/c4_val/shard-{0000000..0000010}.tar"]},
        ],
    }


def eval_json(arch: str, scores: dict[str, Any]) -> dict[str, Any]:
    return {"name": "/mnt/eval/heavy", "model": arch, "eval_metrics": {"icl": scores}}


def write_testbed(root: Path, *, evals: dict[str, dict[str, Any]] | None = None) -> Path:
    """Two rpj models at M=20 (1x Chinchilla), each with 4 task scores."""
    exp = root / "exp_data"
    (exp / "models").mkdir(parents=True)
    (exp / "evals").mkdir()
    with (exp / "eval_metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(METADATA_HEADER)
        writer.writerows(METADATA_ROWS)
    models = {
        "rpj-d=96_l=8_h=4-1.0": ("d=96_l=8_h=4", 10569312, 5727840),
        "rpj-d=512_l=8_h=4-1.0": ("d=512_l=8_h=4", 78914048, 53095936),
    }
    for name, (arch, params, no_embed) in models.items():
        payload = model_json(
            name, dataset="rpj", arch=arch, params=params, no_embed=no_embed, mult=1.0
        )
        (exp / "models" / f"{name}.json").write_text(json.dumps(payload))
    if evals is None:
        evals = {
            f"evaluation_{name}_heavy.json": eval_json(
                arch,
                {
                    "arc_challenge": 0.2226962447166443,
                    "bigbench_strategy_qa": 0.5,
                    "bigbench_operators": 0.0476190485060215,
                    "winograd": 0.5384615659713745,
                },
            )
            for name, (arch, _, _) in models.items()
        }
    for file_name, payload in evals.items():
        (exp / "evals" / file_name).write_text(json.dumps(payload))
    return root


def test_fixture_rows(tmp_path: Path) -> None:
    table = read_open_lm(write_testbed(tmp_path))
    assert len(table) == 8  # 2 models x 4 tasks; gsm8k is in the metadata only
    rows = table.set_index(["model", "task"])
    small = "rpj-d=96_l=8_h=4-1.0"
    arc = rows.loc[(small, "arc_challenge")]
    assert arc["family"] == "open_lm/rpj/M=20"
    assert arc["params"] == 5727840  # non-embedding count
    assert arc["total_params"] == 10569312
    assert arc["tokens"] == 20 * 10569312
    assert arc["flops"] == 6.0 * 10569312 * 20 * 10569312
    assert arc["loss"] == 5.25  # the c4_val entry, not the first one
    assert arc["shots"] == 10
    assert arc["n_items"] == 1172  # metadata's 2376 corrected
    assert arc["chance"] == 0.25
    assert (arc["metric"], arc["metric_kind"]) == (
        "multiple_choice_accuracy",
        "multiple_choice_grade",
    )
    assert arc["score"] == 0.2226962447166443
    strategy = rows.loc[(small, "strategyqa")]
    assert strategy["subtask"] == "strategyqa"
    assert strategy["n_items"] == 2289
    operators = rows.loc[(small, "operators")]
    assert (operators["metric"], operators["metric_kind"]) == ("lm_accuracy", "exact_match")
    assert operators["chance"] == 0.0
    winograd = rows.loc[(small, "winograd")]
    assert (winograd["shots"], winograd["metric_kind"]) == (0, "multiple_choice_grade")
    assert arc["source"] == f"read_open_lm:evals/evaluation_{small}_heavy.json"


def test_exp_data_folder_is_accepted(tmp_path: Path) -> None:
    assert len(read_open_lm(write_testbed(tmp_path) / "exp_data")) == 8


def test_eval_without_model_is_an_error_with_count(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    orphan = eval_json("d=96_l=8_h=4", {"winograd": 0.5})
    (root / "exp_data" / "evals" / "evaluation_c4-ghost-1.0_heavy.json").write_text(
        json.dumps(orphan)
    )
    with pytest.raises(DataFormatError, match=r"1 eval file\(s\) have no model file.*c4-ghost"):
        read_open_lm(root)


def test_eval_paired_with_wrong_architecture(tmp_path: Path) -> None:
    root = write_testbed(
        tmp_path,
        evals={
            "evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json": eval_json(
                "d=512_l=8_h=4", {"winograd": 0.5}
            )
        },
    )
    with pytest.raises(DataFormatError, match="wrong model") as info:
        read_open_lm(root)
    assert info.value.column == "model"


def test_task_missing_from_metadata(tmp_path: Path) -> None:
    root = write_testbed(
        tmp_path,
        evals={
            "evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json": eval_json("d=96_l=8_h=4", {"piqa": 0.6})
        },
    )
    with pytest.raises(
        DataFormatError, match=re.escape("'piqa' is not in eval_metadata.csv")
    ) as info:
        read_open_lm(root)
    assert info.value.column == "piqa"


def test_non_numeric_score(tmp_path: Path) -> None:
    root = write_testbed(
        tmp_path,
        evals={
            "evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json": eval_json(
                "d=96_l=8_h=4", {"winograd": "0.5"}
            )
        },
    )
    with pytest.raises(DataFormatError, match=re.escape("'winograd' has score '0.5'")) as info:
        read_open_lm(root)
    assert info.value.path is not None and info.value.path.name.startswith("evaluation_rpj")


def test_missing_model_key(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    path = root / "exp_data" / "models" / "rpj-d=96_l=8_h=4-1.0.json"
    payload = json.loads(path.read_text())
    del payload["hyperparameters"]["params_no_embed"]
    path.write_text(json.dumps(payload))
    with pytest.raises(
        DataFormatError, match=re.escape("no key 'hyperparameters.params_no_embed'")
    ) as info:
        read_open_lm(root)
    assert info.value.path == path
    assert info.value.column == "hyperparameters.params_no_embed"


def test_invalid_json(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    path = root / "exp_data" / "evals" / "evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json"
    path.write_text('{"eval_metrics": ')
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        read_open_lm(root)
    assert info.value.path == path


def test_empty_eval_file(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    path = root / "exp_data" / "evals" / "evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json"
    path.write_text("")
    with pytest.raises(EmptyInputError) as info:
        read_open_lm(root)
    assert info.value.path == path


def test_metadata_missing_column(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    path = root / "exp_data" / "eval_metadata.csv"
    path.write_text("Eval Task,Task Type,#shots\nwinograd,schema,0\n")
    with pytest.raises(DataFormatError, match="'#datapoints'") as info:
        read_open_lm(root)
    assert info.value.column == "#datapoints"
    assert info.value.path == path


def test_metadata_non_numeric_cell(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    path = root / "exp_data" / "eval_metadata.csv"
    text = path.read_text().replace("winograd,schema,0,273", "winograd,schema,zero,273")
    path.write_text(text)
    with pytest.raises(DataFormatError, match="'#shots' is not numeric in row 3") as info:
        read_open_lm(root)
    assert info.value.rows == [3]


def test_empty_metadata_file(tmp_path: Path) -> None:
    root = write_testbed(tmp_path)
    (root / "exp_data" / "eval_metadata.csv").write_text("")
    with pytest.raises(EmptyInputError, match="empty"):
        read_open_lm(root)


def test_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(EmptyInputError, match="folder is empty"):
        read_open_lm(tmp_path)
    root = write_testbed(tmp_path / "checkout")
    for path in (root / "exp_data" / "evals").iterdir():
        path.unlink()
    with pytest.raises(EmptyInputError, match=re.escape("no eval .json files")):
        read_open_lm(root)


# --------------------------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_testbed_row_count(data_dir: Path) -> None:
    root = data_dir / "mlfoundations-scaling"
    table = read_open_lm(root)
    eval_files = sorted((root / "exp_data" / "evals").glob("*.json"))
    scores_per_file = [len(json.loads(p.read_text())["eval_metrics"]["icl"]) for p in eval_files]
    # 104 eval files (one per model file, all paired) x 46 tasks each = 4784 rows
    assert len(eval_files) == 104
    assert set(scores_per_file) == {46}
    assert len(table) == 104 * 46
    assert table["model"].nunique() == 104
    # 3 corpora x 8 token multipliers; only the M=20 families have all 6 sizes
    families = table.groupby("family")["model"].nunique()
    assert len(families) == 24
    assert families["open_lm/rw_original/M=20"] == 6
    assert families["open_lm/c4_original/M=640"] == 3
    assert table["loss"].notna().all()


@pytest.mark.realdata
def test_real_values_cell_for_cell(data_dir: Path) -> None:
    root = data_dir / "mlfoundations-scaling" / "exp_data"
    table = read_open_lm(root).set_index(["model", "task"])
    with (root / "eval_metadata.csv").open(newline="") as handle:
        metadata = {row["Eval Task"]: row for row in csv.DictReader(handle)}
    for name, label, task in (
        ("rw_original-d=96_l=8_h=4-1.0", "bigbench_qa_wikidata", "qa_wikidata"),
        ("c4_original-open_lm_7b-1.0", "hellaswag", "hellaswag"),
        ("rpj-d=1024_l=24_h=8-32.0", "piqa", "piqa"),
        ("rpj-open_lm_1b-32.0", "mmlu", "mmlu"),
    ):
        model = json.loads((root / "models" / f"{name}.json").read_text())
        scores = json.loads((root / "evals" / f"evaluation_{name}_heavy.json").read_text())
        row = table.loc[(name, task)]
        assert row["score"] == scores["eval_metrics"]["icl"][label]
        assert row["params"] == model["hyperparameters"]["params_no_embed"]
        assert row["total_params"] == model["hyperparameters"]["params"]
        assert row["tokens"] == model["hyperparameters"]["tokens"]
        c4 = [r for r in model["results"] if "c4_val" in r["val_data"][0]]
        assert row["loss"] == c4[0]["loss"]
        assert row["shots"] == int(metadata[label]["#shots"])
        assert row["n_items"] == int(metadata[label]["#datapoints"])
        assert row["chance"] == float(metadata[label]["Random baseline"]) / 100
    assert table.loc[("rw_original-d=96_l=8_h=4-1.0", "qa_wikidata"), "metric_kind"] == (
        "exact_match"
    )
    # every arc_challenge score is a whole number of the 1172 ARC-Challenge test questions
    arc = table.xs("arc_challenge", level="task")
    assert set(arc["n_items"]) == {1172}
    assert all(math.isclose(s * 1172, round(s * 1172), abs_tol=1e-3) for s in arc["score"])


#: Where eval_metadata.csv's "Random baseline" (kept: the source's own number) disagrees with
#: 1 / K of the choice table (emergestats.data.choices, which cites each K).
METADATA_CHANCE_DISAGREEMENTS = {
    "agi_eval_lsat_ar": (0.25, 0.2),  # LSAT questions have 5 options
    "agi_eval_lsat_lr": (0.25, 0.2),
    "agi_eval_lsat_rc": (0.25, 0.2),
    "bbq": (0.5, 1 / 3),  # two people and "unknown"
    "commonsense_qa": (0.25, 0.2),  # 5 answers
    "logical_deduction": (0.25, 0.2),  # 300 x 3, 500 x 5, 700 x 7 choices
    "math_qa": (0.25, 0.2),  # options a-e
    "novel_concepts": (0.25, (30 / 5 + 2 / 10) / 32),
    "siqa": (0.5, 1 / 3),  # 3 answers
    "strange_stories": (0.5, (53 / 2 + 121 / 4) / 174),
    "understanding_fables": (0.25, 0.2),  # 5 choices
}


@pytest.mark.realdata
def test_real_chance_levels_against_the_choice_table(data_dir: Path) -> None:
    table = read_open_lm(data_dir / "mlfoundations-scaling")
    choice_rows = table[table["metric_kind"] == "multiple_choice_grade"]
    chance = choice_rows.groupby("task")["chance"].agg(["min", "max"])
    assert (chance["min"] == chance["max"]).all()
    # every multiple-choice task is in the table, or unresolved with a reason
    unresolved = sorted(t for t in chance.index if unresolved_reason(t) is not None)
    assert unresolved == ["elementary_math_qa", "language_identification"]
    disagreements = {}
    for task, source in chance["min"].items():
        if task in unresolved:
            continue
        entry = choice_task(task)
        assert entry is not None, task
        if not math.isclose(source, entry.chance):
            disagreements[task] = (source, entry.chance)
    assert disagreements.keys() == METADATA_CHANCE_DISAGREEMENTS.keys()
    for task, (source, ours) in METADATA_CHANCE_DISAGREEMENTS.items():
        assert disagreements[task] == (source, pytest.approx(ours)), task
    # the reader keeps the source's number; of 33 multiple-choice tasks, 20 agree
    assert len(chance) - len(unresolved) - len(disagreements) == 20
    # generated answers (language modelling, QA) are exact matches, at the source's chance 0
    others = table[table["metric_kind"] != "multiple_choice_grade"]
    assert set(others["metric_kind"]) == {"exact_match"}
    assert set(others["chance"]) == {0.0}
