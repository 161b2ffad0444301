"""Meta-analysis of many curves: the high-emergence rule, shares bootstrapped over tasks,
verdict counts and curves of the same outputs paired; every number checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergestats.emergence import jump_table
from emergestats.errors import ConfigError, DataFormatError
from emergestats.meta_analysis import (
    emergence_shares,
    high_emergence,
    paired_emergence,
    verdict_shares,
)
from emergestats.mirage.calibration import proportion_interval


def _jumps(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["task", "metric_kind", "n_points", "emergence_score"]
    ).assign(source="s")


def test_high_emergence_is_more_than_twice_a_steady_rise() -> None:
    jumps = _jumps(
        [
            ("a", "exact_match", 4, 6.0),  # exactly 2 (n - 1): not more
            ("a", "exact_match", 4, 6.01),
            ("a", "exact_match", 4, math.inf),  # a pure step
            ("a", "exact_match", 2, math.nan),  # no score
            ("a", "exact_match", 5, -math.inf),  # a pure fall is not emergence
        ]
    )
    assert high_emergence(jumps).tolist() == [False, True, True, False, False]
    assert high_emergence(jumps, factor=1.0).tolist() == [True, True, True, False, False]
    with pytest.raises(ConfigError, match="positive"):
        high_emergence(jumps, factor=0)
    with pytest.raises(DataFormatError, match="n_points"):
        high_emergence(jumps.drop(columns="n_points"))


def test_a_steady_rise_and_a_step_on_real_jump_tables() -> None:
    params = [1e8, 1e9, 1e10, 1e11, 1e12]
    table = pd.DataFrame(
        {
            "task": ["steady"] * 5 + ["step"] * 5,
            "subtask": ["steady"] * 5 + ["step"] * 5,
            "family": "f",
            "shots": 0,
            "metric": "exact_str_match",
            "metric_kind": "exact_match",
            "params": params * 2,
            "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 0.0, 0.0, 0.01, 0.6],
        }
    )
    assert high_emergence(jump_table(table)).tolist() == [False, True]


def test_shares_are_bootstrapped_over_tasks() -> None:
    rows = [("a", "exact_match", 4, 9.0)] * 3 + [("a", "exact_match", 4, 1.0)]
    rows += [("b", "exact_match", 4, 1.0)] * 4
    rows += [("a", "exact_match", 2, math.nan)]  # too short: counted apart
    rows += [("c", "brier", 4, math.inf), ("c", "brier", 4, 2.0)]  # one task only
    shares = emergence_shares(_jumps(rows), n_boot=4000).set_index("metric_kind")
    em = shares.loc["exact_match"]
    assert (em["n_curves"], em["n_short"], em["n_tasks"], em["n_high"]) == (8, 1, 2, 3)
    assert em["share_high"] == 3 / 8
    # resampling two tasks of 4 curves each: the share is 0, 3/8 or 6/8, each quantile one of them
    assert em["share_q05"] == 0.0
    assert em["share_q95"] == 0.75
    assert em["median_score"] == 1.0
    brier = shares.loc["brier"]
    assert (brier["n_step"], brier["n_high"], brier["share_high"]) == (1, 1, 0.5)
    assert math.isnan(brier["share_q05"]) and math.isnan(brier["share_q95"])
    assert brier["median_score"] == 2.0
    with pytest.raises(DataFormatError, match=r"needs column\(s\) family"):
        emergence_shares(_jumps(rows), by=("family",))
    with pytest.raises(ConfigError, match="n_boot"):
        emergence_shares(_jumps(rows), n_boot=0)


def test_verdict_shares_count_every_verdict() -> None:
    verdicts = pd.DataFrame(
        {
            "metric_kind": ["exact_match"] * 5 + ["accuracy"],
            "verdict": [
                "excess_jump",
                "explained_by_metric",
                "explained_by_metric",
                "inconclusive",
                "inconclusive",
                "inconclusive",
            ],
        }
    )
    table = verdict_shares(verdicts).set_index("metric_kind")
    em = table.loc["exact_match"]
    assert em[["n", "excess_jump", "explained_by_metric", "inconclusive"]].tolist() == [5, 1, 2, 2]
    assert em["share_excess"] == 0.2
    assert em["share_excess_decided"] == pytest.approx(1 / 3)
    assert (em["excess_q05"], em["excess_q95"]) == pytest.approx(proportion_interval(1, 5))
    assert math.isnan(table.loc["accuracy", "share_excess_decided"])


def test_curves_of_the_same_outputs_are_paired_by_key() -> None:
    key = {"source": "s", "subtask": "x", "family": "f", "shots": 0}
    jumps = pd.DataFrame(
        [
            {
                **key,
                "task": "t1",
                "metric_kind": "multiple_choice_grade",
                "n_points": 4,
                "emergence_score": 9.0,
            },
            {**key, "task": "t1", "metric_kind": "brier", "n_points": 4, "emergence_score": 2.0},
            {
                **key,
                "task": "t2",
                "metric_kind": "multiple_choice_grade",
                "n_points": 4,
                "emergence_score": 1.0,
            },
            # t3 has no Brier curve; t4's are too short
            {
                **key,
                "task": "t3",
                "metric_kind": "multiple_choice_grade",
                "n_points": 4,
                "emergence_score": 1.0,
            },
            {**key, "task": "t2", "metric_kind": "brier", "n_points": 4, "emergence_score": np.inf},
            {**key, "task": "t4", "metric_kind": "brier", "n_points": 2, "emergence_score": np.nan},
            {
                **key,
                "task": "t4",
                "metric_kind": "multiple_choice_grade",
                "n_points": 2,
                "emergence_score": np.nan,
            },
        ]
    )
    pairs = paired_emergence(jumps, "multiple_choice_grade", "brier").set_index("task")
    assert pairs.index.tolist() == ["t1", "t2"]
    assert pairs["high_multiple_choice_grade"].tolist() == [True, False]
    assert pairs["high_brier"].tolist() == [False, True]
    assert pairs.loc["t1", "score_brier"] == 2.0
    doubled = pd.concat([jumps, jumps.iloc[[1]]], ignore_index=True)
    with pytest.raises(DataFormatError, match="several brier curves share the key"):
        paired_emergence(doubled, "multiple_choice_grade", "brier")
