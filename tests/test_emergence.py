"""Tests of the jump statistics in :mod:`emergestats.emergence`.

Expected values are worked out by hand in the comments: ``d`` are the adjacent steps of the
scores sorted by scale, ``I`` the signed range.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emergestats.data.table import validate
from emergestats.emergence import (
    JumpStatistics,
    breakthroughness,
    emergence_score,
    jump_statistics,
    jump_table,
    linearity,
    max_jump,
    signed_range,
)
from emergestats.errors import AssumptionWarning, DataFormatError, EmptyInputError

SCALE5 = [1e7, 1e8, 1e9, 1e10, 1e11]


def test_hand_computed_rising_curve() -> None:
    # y = 0, .1, .2, .6, .7 -> d = .1, .1, .4, .1; d^2 = .01, .01, .16, .01; I = +.7
    # mean d^2 = .19 / 4 = .0475 -> linearity = .7 / sqrt(.0475) = 3.2118203
    # median d^2 = (.01 + .01) / 2 = .01 -> breakthroughness = .7 / .1 = 7
    score = [0.0, 0.1, 0.2, 0.6, 0.7]
    stats = jump_statistics(SCALE5, score)
    assert stats == JumpStatistics(
        n_points=5,
        breakthroughness=pytest.approx(7.0),  # type: ignore[arg-type]
        linearity=pytest.approx(0.7 / math.sqrt(0.0475)),  # type: ignore[arg-type]
        emergence_score=pytest.approx(7.0),  # type: ignore[arg-type]
        max_jump=pytest.approx(0.4),  # type: ignore[arg-type]
        max_jump_from=1e9,
        max_jump_at=1e10,
        reason=None,
    )
    assert stats.linearity == pytest.approx(3.2118203, abs=1e-7)
    assert signed_range(SCALE5, score) == pytest.approx(0.7)
    assert breakthroughness(SCALE5, score) == pytest.approx(7.0)
    assert emergence_score(SCALE5, score) == pytest.approx(7.0)
    assert linearity(SCALE5, score) == pytest.approx(3.2118203, abs=1e-7)
    assert max_jump(SCALE5, score) == pytest.approx(0.4)


def test_steady_rise_versus_single_step() -> None:
    # steady: d = .1 x 4, I = .4 -> both ratios .4 / .1 = 4 = m - 1
    steady = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert linearity(SCALE5, steady) == pytest.approx(4.0)
    assert breakthroughness(SCALE5, steady) == pytest.approx(4.0)
    # one step of .4 among tiny steps of .01: d = .01, .01, .4, .01; I = .43
    # mean d^2 = (3e-4 + .16) / 4 = .040075 -> linearity = .43 / .2001874 = 2.1479872
    # median d^2 = 1e-4 -> breakthroughness = .43 / .01 = 43
    step = [0.0, 0.01, 0.02, 0.42, 0.43]
    assert linearity(SCALE5, step) == pytest.approx(0.43 / math.sqrt(0.040075))
    assert linearity(SCALE5, step) == pytest.approx(2.1479872, abs=1e-7)
    assert breakthroughness(SCALE5, step) == pytest.approx(43.0)


def test_falling_curve_and_sign_of_the_range() -> None:
    # y = .9, .5, .4, .4: argmax 0 before argmin 2 -> I = -(.9 - .4) = -.5
    # d = -.4, -.1, 0; d^2 = .16, .01, 0 -> median .01, mean .17 / 3
    score = [0.9, 0.5, 0.4, 0.4]
    scale = SCALE5[:4]
    stats = jump_statistics(scale, score)
    assert stats.breakthroughness == pytest.approx(-0.5 / 0.1)
    assert stats.linearity == pytest.approx(-0.5 / math.sqrt(0.17 / 3))
    # largest increase is the flat last step (0), between the 3rd and 4th sizes
    assert (stats.max_jump, stats.max_jump_from, stats.max_jump_at) == (0.0, 1e9, 1e10)
    assert stats.reason is None


def test_range_sign_uses_positions_of_max_and_min() -> None:
    # y = .2, .8, .1, .3: argmax 1 before argmin 2 -> I = -(.8 - .1) = -.7, although the last
    # score exceeds the first (BIG-bench's definition)
    # d = .6, -.7, .2; d^2 = .36, .49, .04 -> median .36 -> B = -.7 / .6
    score = [0.2, 0.8, 0.1, 0.3]
    assert signed_range(SCALE5[:4], score) == pytest.approx(-0.7)
    assert breakthroughness(SCALE5[:4], score) == pytest.approx(-0.7 / 0.6)
    assert max_jump(SCALE5[:4], score) == pytest.approx(0.6)


def test_ties_in_max_take_the_first_position() -> None:
    # y = .5, .1, .5: argmax -> 0 (first of the tied maxima), argmin 1 -> I = -.4
    assert signed_range([1, 2, 3], [0.5, 0.1, 0.5]) == pytest.approx(-0.4)


def test_unsorted_input_is_sorted_by_scale() -> None:
    order = [3, 0, 4, 1, 2]
    scale = np.array(SCALE5)[order]
    score = np.array([0.0, 0.1, 0.2, 0.6, 0.7])[order]
    assert jump_statistics(scale, score) == jump_statistics(SCALE5, [0.0, 0.1, 0.2, 0.6, 0.7])


def test_equal_scales_are_averaged_into_one_point() -> None:
    # scales 1, 2, 2, 3 -> points 1, 2, 3 with scores 0, (.2 + .4) / 2 = .3, 1
    # d = .3, .7; d^2 = .09, .49 -> mean = median = .29; I = 1
    stats = jump_statistics([1, 2, 2, 3], [0.0, 0.2, 0.4, 1.0])
    assert stats.n_points == 3
    assert stats.breakthroughness == pytest.approx(1 / math.sqrt(0.29))
    assert stats.linearity == pytest.approx(1 / math.sqrt(0.29))
    assert (stats.max_jump, stats.max_jump_from, stats.max_jump_at) == (
        pytest.approx(0.7),
        2.0,
        3.0,
    )
    # the same with the duplicates in the other order
    assert jump_statistics([2, 3, 1, 2], [0.4, 1.0, 0.0, 0.2]) == stats


def test_two_points() -> None:
    stats = jump_statistics([1e8, 1e9], [0.1, 0.4])
    assert stats.n_points == 2
    assert math.isnan(stats.breakthroughness)
    assert math.isnan(stats.linearity)
    assert math.isnan(stats.emergence_score)
    assert stats.max_jump == pytest.approx(0.3)
    assert (stats.max_jump_from, stats.max_jump_at) == (1e8, 1e9)
    assert stats.reason is not None and "only 2 distinct scales" in stats.reason
    # two distinct scales from three rows
    assert jump_statistics([1, 1, 2], [0.1, 0.3, 0.4]).n_points == 2


def test_one_and_zero_points() -> None:
    one = jump_statistics([1e9], [0.3])
    assert one.n_points == 1
    assert all(math.isnan(v) for v in (one.breakthroughness, one.linearity, one.max_jump))
    assert one.reason is not None and "only 1 distinct scale" in one.reason
    none = jump_statistics([], [])
    assert none.n_points == 0
    assert none.reason == "no points: every statistic is NaN"


def test_constant_curve_is_zero_with_a_reason() -> None:
    stats = jump_statistics(SCALE5, [0.25] * 5)
    assert (stats.breakthroughness, stats.linearity, stats.emergence_score) == (0.0, 0.0, 0.0)
    assert stats.max_jump == 0.0
    assert stats.reason is not None and "all scores are equal" in stats.reason


def test_zero_median_step_gives_infinite_breakthroughness() -> None:
    # y = 0, 0, 0, 1: d = 0, 0, 1 -> more than half flat, median d^2 = 0 -> B = +inf
    # mean d^2 = 1/3 -> linearity = 1 / sqrt(1/3) = sqrt(3)
    stats = jump_statistics(SCALE5[:4], [0.0, 0.0, 0.0, 1.0])
    assert stats.breakthroughness == math.inf
    assert stats.emergence_score == math.inf
    assert stats.linearity == pytest.approx(math.sqrt(3))
    assert stats.reason is not None and "median squared step is 0" in stats.reason
    # a pure fall: -inf
    assert breakthroughness(SCALE5[:4], [1.0, 1.0, 1.0, 0.0]) == -math.inf


def test_exactly_half_flat_steps_is_finite() -> None:
    # y = 0, 0, .5, 1, 1: d = 0, .5, .5, 0 -> d^2 sorted 0, 0, .25, .25 -> median .125
    # B = 1 / sqrt(.125) = 2.8284271
    stats = jump_statistics(SCALE5, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert stats.breakthroughness == pytest.approx(2.8284271, abs=1e-7)
    assert stats.reason is None


def test_replicates_on_leading_axes_match_one_curve_at_a_time() -> None:
    rng = np.random.default_rng(7)
    scale = np.array([3e9, 1e8, 1e10, 1e9, 3e8, 1e9])  # unsorted, with an equal-scale pair
    replicates = rng.binomial(20, [0.05, 0.1, 0.9, 0.2, 0.1, 0.3], size=(4, 50, 6)) / 20
    replicates[0, 0] = 0.5  # a flat replicate
    for statistic, name in (
        (breakthroughness, "breakthroughness"),
        (linearity, "linearity"),
        (emergence_score, "emergence_score"),
        (max_jump, "max_jump"),
    ):
        values = statistic(scale, replicates)
        assert isinstance(values, np.ndarray)
        assert values.shape == (4, 50)
        looped = np.array(
            [[getattr(jump_statistics(scale, row), name) for row in draws] for draws in replicates]
        )
        np.testing.assert_array_equal(values, looped)
    assert np.asarray(breakthroughness(scale, replicates))[0, 0] == 0.0


def test_ratios_are_invariant_to_positive_affine_maps() -> None:
    # BIG-bench normalises to 100 * (score - low) / (high - low); the ratios do not change
    score = np.array([0.05, 0.1, 0.12, 0.5, 0.55])
    normalised = 100 * (score - 0.25) / (1.0 - 0.25)
    for statistic in (linearity, breakthroughness):
        assert statistic(SCALE5, normalised) == pytest.approx(statistic(SCALE5, score))
    assert max_jump(SCALE5, normalised) == pytest.approx(100 / 0.75 * 0.38)


@settings(max_examples=50, deadline=None)
@given(
    scores=st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_statistics_do_not_depend_on_row_order(scores: list[float], seed: int) -> None:
    scale = np.arange(1.0, len(scores) + 1)
    order = np.random.default_rng(seed).permutation(len(scores))
    shuffled = jump_statistics(scale[order], np.array(scores)[order])
    assert shuffled == jump_statistics(scale, scores)


@pytest.mark.parametrize(
    ("scale", "score", "fragment"),
    [
        ([1, 2, 3], [0.1, np.nan, 0.3], "NaN or infinite"),
        ([1, 2, np.inf], [0.1, 0.2, 0.3], "'scale'"),
        ([1, 2, 3], [0.1, 0.2], "3 of them"),
        ([[1, 2, 3]], [0.1, 0.2, 0.3], "1-D"),
    ],
)
def test_bad_curves_raise(scale: object, score: object, fragment: str) -> None:
    with pytest.raises(DataFormatError) as raised:
        jump_statistics(scale, score)  # type: ignore[arg-type]
    assert fragment in str(raised.value)


# --------------------------------------------------------------------------------------------
# jump_table
# --------------------------------------------------------------------------------------------


def canonical_table() -> pd.DataFrame:
    """A small evaluation table: one task, two metrics on 5 sizes, a second task on 2 sizes."""
    sizes = [1e8, 1e9, 1e10, 1e11, 1e12]
    rows = []
    # multiple-choice grade: .25, .25, .26, .25, .70 (chance then a jump at the largest model)
    for size, grade, brier in zip(
        sizes, [0.25, 0.25, 0.26, 0.25, 0.70], [0.20, 0.18, 0.16, 0.14, 0.12], strict=True
    ):
        rows.append(("mc_task", "multiple_choice_grade", "multiple_choice_grade", size, grade, 4))
        rows.append(("mc_task", "calibration_multiple_choice_brier_score", "brier", size, brier, 4))
    # a generative task evaluated on two sizes only
    for size, match in zip(sizes[:2], [0.0, 0.1], strict=True):
        rows.append(("gen_task", "exact_str_match", "exact_match", size, match, -1))
    frame = pd.DataFrame(
        [
            {
                "task": task,
                "subtask": task,
                "family": "BIG-G T=0",
                "model": f"{size:.0e}",
                "params": size,
                "shots": 0,
                "metric": metric,
                "metric_kind": kind,
                "score": score,
                "n_items": 100,
                "chance": (1 / choices if kind == "multiple_choice_grade" else np.nan),
                "source": "test",
            }
            for task, metric, kind, size, score, choices in rows
        ]
    )
    return validate(frame)


def test_jump_table_one_row_per_curve() -> None:
    table = jump_table(canonical_table())
    assert list(table.columns) == [
        "task",
        "subtask",
        "family",
        "shots",
        "metric",
        "metric_kind",
        "orientation",
        "n_rows",
        "n_points",
        "breakthroughness",
        "linearity",
        "emergence_score",
        "max_jump",
        "max_jump_from",
        "max_jump_at",
        "reason",
    ]
    assert len(table) == 3  # gen_task/exact_str_match, mc_task/brier, mc_task/grade
    assert table["task"].dtype == object
    assert table["shots"].dtype == np.int64
    by_metric = table.set_index("metric")

    grade = by_metric.loc["multiple_choice_grade"]
    # y = .25, .25, .26, .25, .70: d = 0, .01, -.01, .45; I = +(.70 - .25) = .45
    # d^2 sorted 0, 1e-4, 1e-4, .2025 -> median 1e-4 -> B = .45 / .01 = 45
    # mean d^2 = (2e-4 + .2025) / 4 = .050675 -> L = .45 / .2251111 = 1.9990131
    assert grade["orientation"] == 1
    assert grade["breakthroughness"] == pytest.approx(45.0)
    assert grade["emergence_score"] == pytest.approx(45.0)
    assert grade["linearity"] == pytest.approx(0.45 / math.sqrt(0.050675))
    assert grade["max_jump"] == pytest.approx(0.45)
    assert (grade["max_jump_from"], grade["max_jump_at"]) == (1e11, 1e12)
    assert grade["reason"] is None

    brier = by_metric.loc["calibration_multiple_choice_brier_score"]
    # lower is better: negated to -.20, -.18, -.16, -.14, -.12 -> a steady rise, d = .02 x 4
    # I = +.08 -> B = L = .08 / .02 = 4; max_jump = .02 (the Brier score's largest decrease)
    assert brier["orientation"] == -1
    assert brier["breakthroughness"] == pytest.approx(4.0)
    assert brier["linearity"] == pytest.approx(4.0)
    assert brier["max_jump"] == pytest.approx(0.02)

    generative = by_metric.loc["exact_str_match"]
    assert (generative["n_rows"], generative["n_points"]) == (2, 2)
    assert np.isnan(generative["breakthroughness"])
    assert generative["max_jump"] == pytest.approx(0.1)
    assert "only 2 distinct scales" in generative["reason"]


def test_jump_table_without_orientation_uses_stored_scores() -> None:
    table = jump_table(canonical_table(), orient=False).set_index("metric")
    brier = table.loc["calibration_multiple_choice_brier_score"]
    # stored .20 ... .12: argmax 0 before argmin 4 -> I = -.08 -> B = -4; largest increase -.02
    assert brier["orientation"] == 1
    assert brier["breakthroughness"] == pytest.approx(-4.0)
    assert brier["max_jump"] == pytest.approx(-0.02)


def test_jump_table_averages_equal_scales_and_counts_rows() -> None:
    frame = canonical_table()
    twin = frame[frame["metric"] == "multiple_choice_grade"].iloc[[4]].copy()
    twin["model"] = "another 1e12 model"
    twin["score"] = 0.60  # the two largest models average to (.70 + .60) / 2 = .65
    table = jump_table(pd.concat([frame, twin], ignore_index=True)).set_index("metric")
    grade = table.loc["multiple_choice_grade"]
    assert (grade["n_rows"], grade["n_points"]) == (6, 5)
    assert grade["max_jump"] == pytest.approx(0.40)  # .65 - .25


def test_jump_table_uses_the_last_training_checkpoint_of_each_size() -> None:
    frame = canonical_table().assign(step=143000)
    early = frame.assign(step=1000, model=frame["model"] + "@1000", score=frame["score"] / 2)
    table = pd.concat([early, frame], ignore_index=True)
    with pytest.warns(AssumptionWarning, match=r"rows of intermediate training checkpoints"):
        checkpoints = jump_table(table)
    pd.testing.assert_frame_equal(checkpoints, jump_table(frame))  # not an average with them
    # a bad value of a final checkpoint is named by its row in the whole table
    table.loc[len(early) + 1, "score"] = np.nan
    with (
        pytest.raises(DataFormatError, match=rf"row {len(early) + 1}\b"),
        pytest.warns(AssumptionWarning),
    ):
        jump_table(table)


def test_jump_table_bad_tables() -> None:
    frame = canonical_table()
    with pytest.raises(DataFormatError, match=r"'metric_kind'.*orient=False"):
        jump_table(frame.drop(columns="metric_kind"))
    assert len(jump_table(frame.drop(columns="metric_kind"), orient=False)) == 3
    with pytest.raises(DataFormatError, match="mixes metric kinds"):
        jump_table(frame, by=("task", "family", "shots"))
    mixed = jump_table(frame, by=("task", "family", "shots"), orient=False)
    # gen_task has one kind; mc_task mixes grade and Brier, so it has none
    assert mixed["metric_kind"].tolist() == ["exact_match", None]
    assert mixed["n_rows"].tolist() == [2, 10]
    broken = frame.copy()
    broken.loc[3, "score"] = np.nan
    with pytest.raises(DataFormatError, match="row 3") as raised:
        jump_table(broken)
    assert raised.value.rows == [3]
    with pytest.raises(DataFormatError, match="'flops'"):
        jump_table(frame, scale="flops")
    with pytest.raises(EmptyInputError):
        jump_table(frame.iloc[:0])
