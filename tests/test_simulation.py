"""Tests of :mod:`emergestats.simulation`: the item-by-item benchmark simulator.

Every score is recomputed here from the per-item outputs with code written independently of the
module (pass@k from ``math.comb``, Brier from the stored choice probabilities), so a scoring bug
in the module cannot hide behind itself.
"""

from __future__ import annotations

import ast
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergestats import simulation
from emergestats.data.table import (
    EVALUATION_COLUMNS,
    OPTIONAL_EVALUATION_COLUMNS,
    validate,
    validate_items,
)
from emergestats.simulation import (
    ChoiceStructure,
    CurveTruth,
    SimulatedBenchmark,
    draw_answer_lengths,
    log_linear_fit,
    model_names,
    simulate_benchmark,
    simulate_curve,
)

SIZES = np.geomspace(1e7, 1e10, 10)


@pytest.fixture(scope="module")
def bench() -> SimulatedBenchmark:
    return simulate_benchmark(n_tasks=6, n_sizes=8, n_items=200, n_choices=(2, 4, 3), seed=11)


def _choice_probs(rows: pd.DataFrame) -> np.ndarray:
    columns = [c for c in rows.columns if c.startswith("prob_")]
    return rows.loc[:, columns].to_numpy(dtype=float)


def _pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _recompute(cell: pd.DataFrame, metric: str) -> float:
    """A cell's score from its item rows (one task, one model)."""
    kind = cell["kind"].iloc[0]
    if metric == "log_likelihood":
        return float(cell["logprob"].mean())
    if metric in ("exact_str_match", "multiple_choice_grade"):
        return float(cell["correct"].astype(float).mean())
    if metric == "edit_distance":
        return float(cell["wrong_tokens"].mean())
    if metric.startswith("pass@"):
        k = int(metric.removeprefix("pass@"))
        values = [
            _pass_at_k(int(n), int(c), k)
            for n, c in zip(cell["n_samples"], cell["n_correct_samples"], strict=True)
        ]
        return float(np.mean(values))
    assert kind == "choice", metric
    probs = _choice_probs(cell)
    n_choices = int(np.isfinite(probs).sum(axis=1)[0])
    probs = probs[:, :n_choices]
    onehot = np.eye(n_choices)[cell["correct_choice"].to_numpy(dtype=int)]
    if metric == "brier_score":
        return float(np.mean(np.mean((probs - onehot) ** 2, axis=1)))
    if metric == "brier_score_sum":
        return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    if metric == "brier_correct_choice":
        q = probs[onehot.astype(bool)]
        return float(np.mean((1.0 - q) ** 2))
    if metric.startswith("subset_accuracy_L"):
        size = int(metric.removeprefix("subset_accuracy_L"))
        order = cell["item"].astype(int).to_numpy()
        correct = cell["correct"].astype(int).to_numpy()[np.argsort(order)]
        n_groups = correct.size // size
        groups = correct[: n_groups * size].reshape(n_groups, size)
        return float(groups.all(axis=1).mean())
    raise AssertionError(f"no recomputation for {metric}")


# --------------------------------------------------------------------------------------------
# The table and its bookkeeping
# --------------------------------------------------------------------------------------------


def test_table_validates_with_canonical_columns(bench: SimulatedBenchmark) -> None:
    table = validate(bench.table)
    optional = [c for c in OPTIONAL_EVALUATION_COLUMNS if c in ("target_tokens", "n_choices")]
    assert list(table.columns) == [*EVALUATION_COLUMNS, *optional]
    assert "target_tokens" in optional
    assert len(validate_items(bench.items)) == len(bench.items)
    kinds = dict(zip(table["metric"], table["metric_kind"], strict=True))
    assert kinds == {
        "exact_str_match": "exact_match",
        "edit_distance": "edit_distance",
        "log_likelihood": "log_likelihood",
        "pass@1": "pass_at_k",
        "pass@10": "pass_at_k",
        "multiple_choice_grade": "multiple_choice_grade",
        "brier_score": "brier",
        "brier_score_sum": "brier",
        "brier_correct_choice": "brier",
        "subset_accuracy_L2": "exact_match",
        "subset_accuracy_L4": "exact_match",
        "subset_accuracy_L8": "exact_match",
    }


def test_chance_items_and_target_tokens(bench: SimulatedBenchmark) -> None:
    table = bench.table
    truth = bench.truth.set_index("task")
    for row in table.itertuples():
        task_truth = truth.loc[row.task]
        k = float(task_truth["n_choices"]) if task_truth["kind"] == "choice" else math.nan
        expected_chance = {
            "multiple_choice_grade": 1 / k,
            "brier_score": (k - 1) / k**2,
            "brier_score_sum": (k - 1) / k,
            "brier_correct_choice": (1 - 1 / k) ** 2,
        }
        if "n_choices" in table.columns:
            assert row.n_choices == pytest.approx(k, nan_ok=True)
        if row.metric in expected_chance:
            assert row.chance == pytest.approx(expected_chance[row.metric])
            assert row.n_items == 200 and row.target_tokens == 1.0
        elif row.metric.startswith("subset_accuracy_L"):
            size = int(row.metric.removeprefix("subset_accuracy_L"))
            assert row.chance == pytest.approx(k**-size)
            assert row.target_tokens == size and row.n_items == 200 // size
        else:
            assert math.isnan(row.chance) and row.n_items == 200
            if task_truth["kind"] == "generation":
                lengths = bench.lengths[(row.task, row.task)]
                assert row.target_tokens == pytest.approx(lengths.mean())
            else:
                assert row.target_tokens == 1.0


def test_lengths_are_given_for_generation_tasks_only(bench: SimulatedBenchmark) -> None:
    generation = bench.truth.loc[bench.truth["kind"] == "generation", "task"]
    assert set(bench.lengths) == {(t, t) for t in generation}
    for (task, _), lengths in bench.lengths.items():
        rows = bench.items[bench.items["task"] == task]
        first_model = rows[rows["model"] == rows["model"].iloc[0]]
        np.testing.assert_array_equal(first_model["length"].to_numpy(), lengths)
        assert lengths.min() >= 1


def test_every_score_recomputes_from_items(bench: SimulatedBenchmark) -> None:
    cells = dict(tuple(bench.items.groupby(["task", "model"], sort=False)))
    assert len(bench.table) > 0
    for row in bench.table.itertuples():
        recomputed = _recompute(cells[(row.task, row.model)], row.metric)
        assert row.score == pytest.approx(recomputed, rel=1e-12, abs=1e-12), (row.task, row.metric)


def test_items_are_consistent_outputs(bench: SimulatedBenchmark) -> None:
    items = bench.items
    generation = items[items["kind"] == "generation"]
    # exact match is "no wrong token"; the scored answer is one of the samples
    np.testing.assert_array_equal(
        generation["correct"].to_numpy(dtype=int), (generation["wrong_tokens"] == 0).to_numpy()
    )
    assert (generation["n_correct_samples"] >= generation["correct"].astype(float)).all()
    assert (generation["wrong_tokens"] <= generation["length"]).all()
    # the summed log-probability of the target is -L times the item's per-token CE
    np.testing.assert_allclose(
        generation["logprob"], -generation["length"] * generation["ce"], rtol=1e-10
    )
    choice = items[items["kind"] == "choice"]
    probs = _choice_probs(choice)
    np.testing.assert_allclose(np.nansum(probs, axis=1), 1.0, rtol=1e-12)
    winner = np.nanargmax(probs, axis=1)
    np.testing.assert_array_equal(
        choice["correct"].to_numpy(dtype=int),
        (winner == choice["correct_choice"].to_numpy(dtype=int)).astype(int),
    )
    q = probs[np.arange(len(choice)), choice["correct_choice"].to_numpy(dtype=int)]
    np.testing.assert_allclose(choice["logprob"], np.log(q), rtol=1e-10, atol=1e-12)


def test_true_ce_carries_shared_model_deviations(bench: SimulatedBenchmark) -> None:
    true_ce = bench.true_ce
    per_model = true_ce.groupby("model")["model_deviation"].nunique()
    assert (per_model == 1).all()
    expected = true_ce["ce_curve"] * np.exp(true_ce["model_deviation"] + true_ce["cell_deviation"])
    np.testing.assert_allclose(true_ce["ce"], expected, rtol=1e-12)
    # the items' CE averages to the cell's CE up to the per-(item, model) wobble
    np.testing.assert_allclose(true_ce["ce_items"], true_ce["ce"], rtol=0.1)


def test_truth_records_best_log_linear_fit(bench: SimulatedBenchmark) -> None:
    for row in bench.truth.itertuples():
        ce = bench.true_ce.loc[bench.true_ce["task"] == row.task]
        a, b = log_linear_fit(ce["params"], ce["ce_curve"], n_ref=row.n_ref)
        assert (row.a, row.b) == pytest.approx((a, b))
        assert row.b > 0
    pure = CurveTruth(log_ce_ref=-0.3, slope=0.4, n_ref=1e9)
    assert log_linear_fit(SIZES, pure.ce(SIZES), n_ref=1e9) == pytest.approx((-0.3, 0.4))
    a, b = log_linear_fit([1e9], pure.ce([1e9]), n_ref=1e9)
    assert a == pytest.approx(-0.3) and math.isnan(b)
    # a floor flattens the truth: the best log-linear slope is below the power's
    floored = CurveTruth(log_ce_ref=-0.3, slope=0.4, n_ref=1e9, floor=0.1)
    assert log_linear_fit(SIZES, floored.ce(SIZES), n_ref=1e9)[1] < 0.4


# --------------------------------------------------------------------------------------------
# Properties of the simulated outputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_choices", [2, 4])
def test_grade_near_chance_small_and_near_one_large(n_choices: int) -> None:
    truth = CurveTruth(log_ce_ref=0.0, slope=0.9, n_ref=1e9)  # CE ~ 60 at 1e7, ~0.002 at 1e12
    params = np.array([1e7, 1e12])
    chance = 1.0 / n_choices
    n_items = 3000
    se = math.sqrt(chance * (1 - chance) / n_items)
    no_pull = simulate_curve(
        truth,
        params=params,
        kind="choice",
        n_choices=n_choices,
        n_items=n_items,
        choices=ChoiceStructure(plausible_pull=0.0),
        seed=5,
    )
    grade = no_pull.scores["multiple_choice_grade"]
    assert abs(grade[0] - chance) < 4 * se
    assert grade[1] > 0.97
    pulled = simulate_curve(
        truth,
        params=params,
        kind="choice",
        n_choices=n_choices,
        n_items=n_items,
        choices=ChoiceStructure(plausible_pull=1.0),
        seed=5,
    )
    grade = pulled.scores["multiple_choice_grade"]
    assert grade[0] < chance - 4 * se  # the plausible distractor pulls weak models below chance
    assert grade[1] > 0.97


def test_brier_forms_agree() -> None:
    truth = CurveTruth(log_ce_ref=-0.5, slope=0.4, n_ref=1e9)
    for n_choices in (2, 3, 5):
        curve = simulate_curve(
            truth, params=SIZES, kind="choice", n_choices=n_choices, n_items=300, seed=2
        )
        scores = curve.scores
        np.testing.assert_allclose(
            scores["brier_score"], scores["brier_score_sum"] / n_choices, rtol=1e-13
        )
        probs = curve.outputs.probs
        assert probs is not None and curve.outputs.correct_choice is not None
        q = probs[:, np.arange(300), curve.outputs.correct_choice]
        np.testing.assert_allclose(
            scores["brier_correct_choice"], np.mean((1 - q) ** 2, axis=1), rtol=1e-13
        )
        # the summed Brier is (1 - q)^2 plus the distractors' squared mass: never below it
        assert np.all(scores["brier_score_sum"] >= scores["brier_correct_choice"])


def test_exact_match_falls_with_answer_length() -> None:
    truth = CurveTruth(log_ce_ref=-1.0, slope=0.3, n_ref=1e9, floor=0.02)
    means = []
    for length in (1, 2, 4, 8):
        curve = simulate_curve(
            truth, params=SIZES, lengths=np.full(2000, length), deviation_sd=0.0, seed=4
        )
        means.append(curve.scores["exact_str_match"])
        assert curve.metrics[0].target_tokens == length
    means_array = np.array(means)
    assert np.all(np.diff(means_array, axis=0) < 0)
    # and within one task: long items are right less often than short ones
    mixed = simulate_curve(truth, params=SIZES, mean_length=4.0, n_items=3000, seed=4)
    correct = mixed.outputs.correct.mean(axis=0)
    short = correct[mixed.lengths <= 2].mean()
    long = correct[mixed.lengths >= 6].mean()
    assert short > long


def test_edit_distance_counts_wrong_tokens_and_falls_with_scale() -> None:
    truth = CurveTruth(log_ce_ref=-0.5, slope=0.4, n_ref=1e9)
    curve = simulate_curve(truth, params=SIZES, mean_length=5.0, deviation_sd=0.0, seed=8)
    edit = curve.scores["edit_distance"]
    assert edit[0] > edit[-1]
    assert np.all(edit <= curve.lengths.mean())
    # the expected number of wrong tokens is sum_t (1 - exp(-CE_t)) <= L * CE
    assert np.all(edit <= (curve.lengths * curve.outputs.ce).mean(axis=1) * 1.1)


def test_pass_at_k_rises_with_k_and_matches_exact_match() -> None:
    truth = CurveTruth(log_ce_ref=0.0, slope=0.4, n_ref=1e9)
    curve = simulate_curve(truth, params=SIZES, pass_k=(1, 5, 10), n_samples=20, seed=6)
    scores = curve.scores
    assert np.all(scores["pass@1"] <= scores["pass@5"]) and np.all(
        scores["pass@5"] <= scores["pass@10"]
    )
    # pass@1 (unbiased over 20 samples) and exact match of the first sample estimate the same
    se = np.sqrt(scores["exact_str_match"] * (1 - scores["exact_str_match"]) / 500)
    assert np.all(np.abs(scores["pass@1"] - scores["exact_str_match"]) < 4 * se + 1e-9)


def test_item_difficulty_is_persistent() -> None:
    truth = CurveTruth(log_ce_ref=-0.3, slope=0.3, n_ref=1e9)
    for kind in ("generation", "choice"):
        curve = simulate_curve(truth, params=SIZES, kind=kind, n_items=1000, seed=9)
        correct = pd.DataFrame(curve.outputs.correct.T.astype(float))
        rank_correlation = correct.corr(method="spearman").to_numpy()
        off_diagonal = rank_correlation[~np.eye(len(SIZES), dtype=bool)]
        assert np.nanmean(off_diagonal) > 0.05, kind
        # items hard at one size are hard at all: difficulty predicts failure everywhere
        hard = curve.outputs.difficulty > np.quantile(curve.outputs.difficulty, 0.8)
        easy = curve.outputs.difficulty < np.quantile(curve.outputs.difficulty, 0.2)
        assert np.all(
            curve.outputs.correct[:, hard].mean(axis=1)
            < curve.outputs.correct[:, easy].mean(axis=1)
        )


def test_difficulty_is_skewed_with_hard_items() -> None:
    curve = simulate_curve(CurveTruth(log_ce_ref=0.0, slope=0.3), params=SIZES, n_items=2000)
    difficulty = curve.outputs.difficulty
    assert difficulty.mean() == pytest.approx(1.0)
    assert np.median(difficulty) < difficulty.mean()  # right-skewed
    assert curve.outputs.hard.sum() > 0
    assert difficulty[curve.outputs.hard].mean() > 3 * difficulty[~curve.outputs.hard].mean()


def test_broken_truth_drops_by_its_factor() -> None:
    truth = CurveTruth(
        log_ce_ref=-0.2, slope=0.3, n_ref=1e9, break_at=3e8, break_factor=0.5, break_width=0.25
    )
    assert truth.broken and not truth.unbroken().broken
    far = np.array([3e8 * math.exp(-3), 3e8 * math.exp(3)])
    ratio = truth.ce(far) / truth.unbroken().ce(far)
    assert ratio == pytest.approx([1.0, 0.5], rel=1e-4)
    sharp = CurveTruth(log_ce_ref=-0.2, slope=0.3, break_at=3e8, break_factor=0.5, break_width=0)
    assert sharp.ce([2.9e8, 3.1e8]) / sharp.unbroken().ce([2.9e8, 3.1e8]) == pytest.approx(
        [1.0, 0.5]
    )

    bench = simulate_benchmark(
        n_tasks=2, n_sizes=12, n_items=50, sizes=(1e6, 1e12), break_factor=[0.5, None], seed=1
    )
    broken, smooth = bench.truth.iloc[0], bench.truth.iloc[1]
    assert broken["broken"] and not smooth["broken"] and math.isnan(smooth["break_at"])
    assert broken["break_factor"] == 0.5 and broken["break_width"] == 0.25
    assert 10**7.5 < broken["break_at"] < 10**10.5  # drawn in the middle half of log N
    ce = bench.true_ce[bench.true_ce["task"] == broken["task"]]
    ratio = (ce["ce_curve"] / ce["ce_unbroken"]).to_numpy()
    below = ce["params"].to_numpy() < broken["break_at"] / math.exp(2.5)
    above = ce["params"].to_numpy() > broken["break_at"] * math.exp(2.5)
    assert below.any() and above.any()
    np.testing.assert_allclose(ratio[below], 1.0, rtol=1e-3)
    np.testing.assert_allclose(ratio[above], 0.5, rtol=1e-3)
    ce_smooth = bench.true_ce[bench.true_ce["task"] == smooth["task"]]
    np.testing.assert_array_equal(ce_smooth["ce_curve"], ce_smooth["ce_unbroken"])


def test_slope_change_steepens_past_the_break() -> None:
    truth = CurveTruth(log_ce_ref=0.0, slope=0.2, break_at=1e9, break_slope_change=0.3)
    high = np.array([1e11, 1e12])
    local_slope = -np.diff(np.log(truth.ce(high))) / np.diff(np.log(high))
    assert local_slope[0] == pytest.approx(0.5, rel=1e-3)


# --------------------------------------------------------------------------------------------
# Seeds, speed, inputs, independence
# --------------------------------------------------------------------------------------------


def test_seeds_reproduce() -> None:
    first = simulate_benchmark(n_tasks=3, n_sizes=4, n_items=40, seed=7)
    again = simulate_benchmark(n_tasks=3, n_sizes=4, n_items=40, seed=7)
    other = simulate_benchmark(n_tasks=3, n_sizes=4, n_items=40, seed=8)
    pd.testing.assert_frame_equal(first.table, again.table)
    pd.testing.assert_frame_equal(first.items, again.items)
    pd.testing.assert_frame_equal(first.truth, again.truth)
    pd.testing.assert_frame_equal(first.true_ce, again.true_ce)
    assert not np.array_equal(first.table["score"], other.table["score"])
    truth = CurveTruth(log_ce_ref=0.0, slope=0.3)
    a = simulate_curve(truth, params=SIZES, seed=3)
    b = simulate_curve(truth, params=SIZES, seed=3)
    for name in a.scores:
        np.testing.assert_array_equal(a.scores[name], b.scores[name])
    pd.testing.assert_frame_equal(a.table(), b.table())


def test_simulate_curve_tables() -> None:
    truth = CurveTruth(log_ce_ref=0.0, slope=0.3)
    for kind in ("generation", "choice"):
        curve = simulate_curve(truth, params=SIZES, kind=kind, n_items=64, seed=0)
        table = curve.table(task="t")
        assert set(table["metric"]) == {m.name for m in curve.metrics}
        items = curve.item_table(task="t")
        assert len(validate_items(items)) == len(SIZES) * 64
        cells = dict(tuple(items.groupby("model", sort=False)))
        for row in table.itertuples():
            assert row.score == pytest.approx(_recompute(cells[row.model], row.metric), abs=1e-12)


def test_simulate_curve_is_fast() -> None:
    truth = CurveTruth(log_ce_ref=-0.5, slope=0.4, floor=0.02)
    for kind in ("generation", "choice"):
        simulate_curve(truth, params=SIZES, kind=kind, n_items=500, mean_length=8.0)
        timings = []
        for seed in range(20):
            start = time.perf_counter()
            simulate_curve(truth, params=SIZES, kind=kind, n_items=500, mean_length=8.0, seed=seed)
            timings.append(time.perf_counter() - start)
        assert np.median(timings) < 0.05, kind


def test_answer_lengths_have_the_asked_mean() -> None:
    lengths = draw_answer_lengths(20000, mean_length=5.0, dispersion=2.0, seed=1)
    assert lengths.min() >= 1
    assert lengths.mean() == pytest.approx(5.0, rel=0.03)
    assert lengths.var() > lengths.mean()  # overdispersed: a long tail
    np.testing.assert_array_equal(draw_answer_lengths(10, mean_length=1.0), np.ones(10))


def test_bad_inputs_fail_with_a_sentence() -> None:
    truth = CurveTruth(log_ce_ref=0.0, slope=0.3)
    with pytest.raises(ValueError, match="needs at least 10 samples"):
        simulate_curve(truth, params=SIZES, pass_k=(10,), n_samples=5)
    with pytest.raises(ValueError, match="at least 2 choices"):
        simulate_curve(truth, params=SIZES, kind="choice", n_choices=1)
    with pytest.raises(ValueError, match="distinct"):
        model_names([1e9, 1e9])
    with pytest.raises(ValueError, match="break_factor must be a positive"):
        CurveTruth(log_ce_ref=0.0, slope=0.3, break_at=1e9, break_factor=0.0)
    with pytest.raises(ValueError, match="one per task"):
        simulate_benchmark(n_tasks=3, break_factor=[0.5, None])


def test_simulator_does_not_import_the_models() -> None:
    tree = ast.parse(Path(simulation.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    third_party = {name for name in imported if name.split(".")[0] not in ("__future__", "math")}
    third_party -= {"collections.abc", "dataclasses", "typing"}
    assert third_party == {"numpy", "numpy.typing", "pandas", "emergestats.data.table"}


def test_a_greedy_match_is_scored_from_the_same_outputs_and_changes_nothing_else() -> None:
    truth = CurveTruth(log_ce_ref=-0.3, slope=0.35, n_ref=1e9, floor=0.02)
    sizes = np.geomspace(7e7, 1.2e10, 6)
    plain = simulate_curve(truth, params=sizes, n_items=800, mean_length=2.0, seed=3)
    greedy = simulate_curve(
        truth, params=sizes, n_items=800, mean_length=2.0, seed=3, greedy_rival=(2.0, 4.0)
    )
    assert "greedy_match" not in plain.scores
    for name, values in plain.scores.items():
        np.testing.assert_array_equal(greedy.scores[name], values)
    rate = greedy.scores["greedy_match"]
    assert np.all(np.diff(rate) > -0.05)  # rises with scale (up to the model deviations)
    # a target whose every token holds over half the mass is always the greedy continuation
    assert greedy.outputs.greedy is not None
    sure = np.exp(greedy.outputs.logprob) > 0.5
    assert sure.any() and greedy.outputs.greedy[sure].all()
    # a rival's share is below 1, so greedy decoding is right more often than sampling
    assert np.all(rate >= greedy.scores["exact_str_match"] - 0.02)
    table = greedy.table()
    assert set(table.loc[table["metric"] == "greedy_match", "metric_kind"]) == {"greedy_match"}
    with pytest.raises(ValueError, match="two positive Beta parameters"):
        simulate_curve(truth, params=sizes, n_items=50, seed=3, greedy_rival=(0.0, 1.0))
