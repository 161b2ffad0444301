"""Evaluation planner: task designs from BIG-bench definitions, power tables, the answer, a run.

The power table and the answer are checked on hand-made calibration rows (counts by hand);
``test_plan_runs_from_a_task_definition_through_the_cli`` runs the whole path (definition ->
simulation on a Dask ``LocalCluster`` -> jump tests -> power table -> files) with tiny draws.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from emergestats.cli import main
from emergestats.errors import ConfigError, EmptyInputError
from emergestats.mirage.calibration import calibrate, proportion_interval, simulate_batch
from emergestats.planning import (
    FULL_ITEMS,
    PlanResult,
    TaskDesign,
    detected,
    parse_sizes,
    power_table,
    task_design,
)


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    root = tmp_path / "tasks"
    _write(root / "sums" / "task.json", {"name": "sums", "description": "parent"})
    for name, answers in (("two", ["12", "100", "-7"]), ("long", ["123456", "7", "99"])):
        _write(
            root / "sums" / name / "task.json",
            {
                "name": name,
                "preferred_score": "exact_str_match",
                "examples": [{"input": "x", "target": a} for a in answers],
            },
        )
    _write(
        root / "quiz" / "task.json",
        {
            "name": "quiz",
            "preferred_score": "multiple_choice_grade",
            "examples": [
                {"input": "q1", "target_scores": {"a": 1, "b": 0, "c": 0}},
                {"input": "q2", "target_scores": {"a": 0, "b": 1, "c": 0}},
                {"input": "q3", "target_scores": {"a": 0, "b": 1}},
            ],
        },
    )
    return root


def test_task_design_of_a_generation_subtask(tasks: Path) -> None:
    design = task_design(tasks / "sums", subtask="two")
    assert design.name == "sums:two"
    assert design.kind == "generation"
    assert design.n_items == 3
    # lengths by the package's rule for answers (read_bigbench_tasks): one token per digit group
    from emergestats.data.bigbench import answer_length

    assert design.lengths == tuple(answer_length(a) for a in ("12", "100", "-7"))
    assert design.source.endswith("two/task.json")
    assert task_design(design) is design


def test_task_design_of_a_choice_task(tasks: Path) -> None:
    design = task_design(tasks / "quiz" / "task.json")
    assert (design.kind, design.n_choices, design.n_items) == ("choice", 3, 3)
    assert math.isnan(design.mean_length)
    assert "3 choices" in design.describe()


def test_task_design_needs_a_subtask_when_there_are_several(tasks: Path) -> None:
    with pytest.raises(ConfigError, match=r"2 subtasks; choose one.*long, two"):
        task_design(tasks / "sums")
    with pytest.raises(ConfigError, match="no subtask 'three'"):
        task_design(tasks / "sums", subtask="three")


@pytest.mark.realdata
def test_task_design_by_name_from_the_bigbench_tasks_dataset(data_dir: Path) -> None:
    design = task_design("logical_deduction", subtask="three_objects")
    assert (design.kind, design.n_choices) == ("choice", 3)
    with pytest.raises(EmptyInputError, match="'no_such_task' is neither"):
        task_design("no_such_task")


def test_task_designs_refuse_what_cannot_be_simulated() -> None:
    with pytest.raises(ConfigError, match="n_choices >= 2"):
        TaskDesign(name="t", kind="choice", n_choices=1)
    with pytest.raises(ConfigError, match="answer lengths"):
        TaskDesign(name="t", kind="generation", lengths=())
    with pytest.raises(ConfigError, match="kind must be"):
        TaskDesign(name="t", kind="ranking", n_choices=2)  # type: ignore[arg-type]


def test_parse_sizes() -> None:
    assert parse_sizes("1e8,3e8, 1e9") == [1e8, 3e8, 1e9]
    assert parse_sizes("1e8:1e10:3") == pytest.approx([1e8, 1e9, 1e10])
    for bad in ("1e8:1e10", "a,b", "1e8:1e10:1"):
        with pytest.raises(ConfigError, match="LOW:HIGH:COUNT"):
            parse_sizes(bad)


@pytest.mark.realdata
def test_task_design_of_a_real_bigbench_subtask(data_dir: Path) -> None:
    design = task_design(data_dir / "bigbench-tasks" / "arithmetic", subtask="3_digit_addition")
    assert design.kind == "generation"
    # 3-digit sums have 3 or 4 digits: the package's length rule gives them 1-2 tokens
    assert design.n_items is not None and design.n_items > 0
    assert design.lengths is not None and len(design.lengths) == design.n_items


def _replicates() -> pd.DataFrame:
    rows = []
    # 100 items: 4 broken truths, 2 detected (one by excess_jump, one by latent_break), one
    # inconclusive; 2 smooth truths, one false alarm
    for verdict, latent in (
        ("excess_jump", 0.0),
        ("explained_by_metric", 1.0),
        ("inconclusive", np.nan),
        ("explained_by_metric", 0.0),
    ):
        rows.append(("broken", 100, verdict, latent, 10.0, 4))
    rows.append(("smooth", 100, "excess_jump", 0.0, 4.0, 2))
    rows.append(("smooth", 100, "explained_by_metric", np.nan, 4.0, 2))
    # 400 items: 4 of 4 broken truths detected, 2 smooth truths without alarm
    for _ in range(4):
        rows.append(("broken", 400, "excess_jump", 0.0, 10.0, 4))
    for _ in range(2):
        rows.append(("smooth", 400, "explained_by_metric", 0.0, 4.0, 2))
    return pd.DataFrame(
        rows,
        columns=["truth", "n_items", "verdict", "latent_break", "batch_seconds", "batch_size"],
    )


def test_detection_counts_either_call_and_never_a_withheld_verdict() -> None:
    replicates = _replicates()
    assert detected(replicates.iloc[:4]).tolist() == [True, True, False, False]
    assert detected(replicates.iloc[:4].drop(columns="latent_break")).tolist() == [
        True,
        False,
        False,
        False,
    ]


def test_power_table_counts_by_hand() -> None:
    table = power_table(_replicates()).set_index("n_items")
    assert table.loc[100, ["n_broken", "detected", "n_smooth", "alarms"]].tolist() == [4, 2, 2, 1]
    assert table.loc[100, "power"] == 0.5
    assert table.loc[100, "false_alarm"] == 0.5
    assert table.loc[100, "inconclusive_broken"] == 0.25
    assert (table.loc[100, "power_q05"], table.loc[100, "power_q95"]) == pytest.approx(
        proportion_interval(2, 4)
    )
    assert table.loc[400, ["power", "false_alarm"]].tolist() == [1.0, 0.0]
    assert table.loc[400, "power_q95"] == 1.0


def _result(replicates: pd.DataFrame, target: float = 0.8) -> PlanResult:
    from emergestats.mirage.calibration import CalibrationResult

    calibration = CalibrationResult(
        replicates=replicates, summary=pd.DataFrame(), wall_seconds=30.0
    )
    return PlanResult(
        task=TaskDesign(name="sums:two", kind="generation", lengths=(1, 2, 2)),
        sizes=(1e8, 1e9, 1e10),
        break_factor=0.5,
        target_power=target,
        power=power_table(replicates),
        calibration=calibration,
    )


def test_the_answer_is_the_fewest_items_that_reach_the_target() -> None:
    result = _result(_replicates())
    assert result.needed_items == 400
    assert "400 items reach 80% power (measured 1.00" in result.answer()
    # a false alarm above the rule's limit disqualifies a candidate whatever its power
    assert _result(_replicates(), target=0.5).needed_items == 400
    lenient = _result(_replicates(), target=0.5)
    assert lenient.power.loc[lenient.power["n_items"] == 100, "power"].item() == 0.5


def test_no_candidate_reaching_the_target_is_said_plainly() -> None:
    replicates = _replicates()
    replicates.loc[replicates["n_items"] == 400, "verdict"] = "inconclusive"
    result = _result(replicates)
    assert result.needed_items is None
    text = result.answer()
    assert "No candidate reaches 80% power: the highest measured is 0.50 at 100 items" in text
    assert "25% of its verdicts were withheld" in text


def test_full_grid_estimate_from_measured_seconds_per_test() -> None:
    result = _result(_replicates())
    # 8 broken rows at 10/4 = 2.5 s, 4 smooth rows at 4/2 = 2 s: 28 s over 12 tests
    assert result.seconds_per_test == pytest.approx(28.0 / 12.0)
    tests = len(FULL_ITEMS) * 100 * 2
    assert result.estimate_minutes(10) == pytest.approx(tests * 28.0 / 12.0 / 10 / 60)
    assert result.estimate_minutes(10, n_items=(1, 2), n_rep=3, truths=1) == pytest.approx(
        6 * 28.0 / 12.0 / 10 / 60
    )


def test_save_writes_the_table_the_replicates_the_answer_and_the_figure(tmp_path: Path) -> None:
    out = _result(_replicates()).save(tmp_path / "plan")
    assert pd.read_csv(out / "power.csv")["n_items"].tolist() == [100, 400]
    assert len(pd.read_csv(out / "replicates.csv")) == 12
    saved = json.loads((out / "plan.json").read_text())
    assert saved["needed_items"] == 400
    assert saved["task"]["lengths"] == [1, 2, 2]
    assert (out / "power.png").stat().st_size > 1000


def test_simulated_batches_use_the_planned_sizes_and_the_task_lengths() -> None:
    cell = {
        "kind": "generation",
        "n_choices": math.nan,
        "mean_length": 3.0,
        "n_items": 40,
        "n_sizes": 4,
        "break_factor": 0.5,
    }
    params = [1e8, 2e8, 5e9, 1e10]
    table, lengths, _ = simulate_batch(
        cell, "broken", [1, 2], {"params": params, "length_pool": [2, 7]}
    )
    assert sorted(table["params"].unique()) == params
    for drawn in lengths.values():
        assert drawn.size == 40
        assert set(np.unique(drawn)) <= {2, 7}
    with pytest.raises(ConfigError, match="n_sizes 4 but 3 sizes"):
        simulate_batch(cell, "broken", [1], {"params": params[:3]})


def test_calibrate_refuses_planned_sizes_that_do_not_fit_the_grid() -> None:
    grid = [
        {
            "kind": "generation",
            "n_choices": None,
            "mean_length": 3,
            "n_items": 50,
            "n_sizes": 5,
            "break_factor": 0.5,
        }
    ]
    with pytest.raises(ConfigError, match="n_sizes must be 4"):
        calibrate(grid, 1, params=[1e8, 1e9, 1e10, 1e11])
    with pytest.raises(ConfigError, match="twice"):
        calibrate(grid, 1, params=[1e8, 1e8, 1e9, 1e10, 1e11])
    with pytest.raises(ConfigError, match="length_pool"):
        calibrate(grid, 1, length_pool=[0, 3])
    with pytest.raises(ConfigError, match="truths must name"):
        calibrate(grid, 1, truths=("flat",))


def test_cli_plan_refuses_bad_items_and_sizes_before_simulating(tasks: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["plan", str(tasks / "quiz"), "--sizes", "1e8:1e10:5", "--items", "a,b"]
    )
    assert result.exit_code == 2
    assert "'a,b': give comma-separated item counts" in result.output
    result = runner.invoke(main, ["plan", str(tasks / "quiz"), "--sizes", "big"])
    assert result.exit_code == 1
    assert "LOW:HIGH:COUNT" in result.output
    result = runner.invoke(main, ["plan", str(tasks / "sums"), "--sizes", "1e8:1e10:5"])
    assert result.exit_code == 1
    assert "choose one with subtask=" in result.output


@pytest.mark.slow
def test_plan_runs_from_a_task_definition_through_the_cli(tasks: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = CliRunner().invoke(
        main,
        [
            "plan",
            str(tasks / "sums"),
            "--subtask",
            "long",
            "--sizes",
            "1e7:1e10:5",
            "--items",
            "30,60",
            "--n-rep",
            "2",
            "--false-alarm",
            "--draws",
            "60",
            "--tune",
            "60",
            "--chains",
            "2",
            "--workers",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    power = pd.read_csv(out / "power.csv")
    assert power["n_items"].tolist() == [30, 60]
    assert power["n_broken"].tolist() == [2, 2]
    assert power["n_smooth"].tolist() == [2, 2]
    assert set(power["power"]) <= {0.0, 0.5, 1.0}
    replicates = pd.read_csv(out / "replicates.csv")
    assert len(replicates) == 8
    assert set(replicates["verdict"]) <= {"excess_jump", "explained_by_metric", "inconclusive"}
    assert "sums:long: generation" in result.output
    assert "on 64 workers" in result.output
    assert json.loads((out / "plan.json").read_text())["task"]["name"] == "sums:long"
