"""Tests of the mirage test (:mod:`emergestats.mirage`).

Fast tests: the statistics and the verdict rule against hand-computed values, the three modes
and the bad inputs on one small simulated table (tiny PyMC fits: plumbing, not statistics), and
a Dask ``LocalCluster`` calibration of a one-cell grid. Slow tests: the ladder's subset accuracy
over 32 images, and error rates on simulated smooth and broken truths.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import emergestats as es
from emergestats.emergence import breakthroughness, capped_breakthroughness, linearity, max_jump
from emergestats.errors import AssumptionWarning, ConfigError, DataFormatError
from emergestats.mirage import (
    STATISTICS,
    VERDICT_COLUMNS,
    JumpTestResult,
    VerdictRule,
    adjust_p_values,
    calibrate,
    jump_test,
)
from emergestats.mirage.calibration import (
    CalibrationResult,
    closest_cells,
    nearest_cells,
    simulate_batch,
    summarise_calibration,
)
from emergestats.mirage.jumps import _apply_rule, _calibration_lookup
from emergestats.mirage.statistics import jump_statistics_of_replicates, score_resolution
from emergestats.simulation import CurveTruth, simulate_curve

SIZES6 = np.geomspace(1e7, 1e10, 6)
#: Tiny sampler settings of the fast tests (plumbing only; PyMC's sampler caches its compile).
TINY: dict[str, Any] = {
    "sampler": "pymc",
    "draws": 150,
    "tune": 150,
    "chains": 2,
    "cores": 1,
    "random_seed": 11,
}


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def test_replicate_statistics_match_the_single_curve_formulas() -> None:
    rng = np.random.default_rng(0)
    replicates = rng.uniform(size=(7, 6))
    out = jump_statistics_of_replicates(SIZES6, replicates, resolution=0.01)
    for i, row in enumerate(replicates):
        assert out["max_jump"][i] == pytest.approx(max_jump(SIZES6, row))
        assert out["linearity"][i] == pytest.approx(linearity(SIZES6, row))
        assert out["breakthroughness"][i] == pytest.approx(breakthroughness(SIZES6, row))
    # one decade apart per 0.6 of a step here: d / 0.6
    steps = np.diff(replicates, axis=1) / np.diff(np.log10(SIZES6))
    np.testing.assert_allclose(out["max_jump_per_decade"], steps.max(axis=1))
    assert set(out) == set(STATISTICS)


def test_capped_breakthroughness_is_finite_for_a_pure_step() -> None:
    # y = 0, 0, 0, 0.5: d = 0, 0, .5 -> median d^2 = 0 -> classic inf; capped at delta = 1/200
    scores = [0.0, 0.0, 0.0, 0.5]
    assert math.isinf(breakthroughness(SIZES6[:4], scores))
    assert capped_breakthroughness(SIZES6[:4], scores, 1 / 200) == pytest.approx(100.0)
    # where the median step exceeds delta, the capped value is the classic one (I / .1 = 7)
    rising = [0.0, 0.1, 0.2, 0.6, 0.7]
    assert capped_breakthroughness(SIZES6[:5], rising, 0.01) == pytest.approx(7.0)
    assert score_resolution([np.nan, np.nan]) == pytest.approx(0.01)
    with pytest.raises(DataFormatError, match="resolution"):
        capped_breakthroughness(SIZES6[:4], scores, 0.0)


def test_adjusted_p_values_by_hand() -> None:
    p = [0.001, 0.2, 0.04, 0.03, np.nan]
    # BH, m = 4: sorted .001 .03 .04 .2 -> x m / rank: .004 .06 .0533 .2 -> running min from top
    np.testing.assert_allclose(
        adjust_p_values(p, "bh")[:4], [0.004, 0.2, 0.05333333, 0.05333333], rtol=1e-6
    )
    # Holm: .001 x 4, .03 x 3, .04 x 2, .2 x 1 -> running max: .004 .09 .09 .2
    np.testing.assert_allclose(adjust_p_values(p, "holm")[:4], [0.004, 0.2, 0.09, 0.09])
    assert math.isnan(adjust_p_values(p, "none")[4])
    with pytest.raises(ConfigError, match="method"):
        adjust_p_values(p, "bonferoni")


def _rule_frame(p_upper: list[float], p_lower: list[float]) -> pd.DataFrame:
    records = []
    for i, (up, low) in enumerate(zip(p_upper, p_lower, strict=True)):
        for statistic in STATISTICS:
            record = dict.fromkeys(VERDICT_COLUMNS, np.nan)
            record.update(
                task=f"t{i}",
                subtask=f"t{i}",
                family="f",
                shots=0,
                metric="exact_str_match",
                mode="cross_metric",
                statistic=statistic,
                primary=statistic == "max_jump",
                p_value=up,
                p_lower=low,
                verdict="inconclusive",
                reason="",
            )
            records.append(record)
    return pd.DataFrame.from_records(records, columns=list(VERDICT_COLUMNS))


def test_verdict_rule_adjusts_across_curves_and_reads_both_tails() -> None:
    # BH over 4 curves: adjusted upper p .004, .2, .0533, .0533 (see above)
    frame = _rule_frame([0.001, 0.2, 0.04, 0.03], [1.0, 0.001, 0.9, 0.9])
    out = _apply_rule(frame, VerdictRule())
    primary = out[out["primary"]].set_index("task")
    assert primary["verdict"].to_dict() == {
        "t0": "excess_jump",
        "t1": "inconclusive",  # lower tail .001 x 4 = .004: smaller than predicted
        "t2": "explained_by_metric",  # .04 alone would be an alarm; BH withholds it
        "t3": "explained_by_metric",
    }
    assert "smaller than the smooth model predicts" in primary.loc["t1", "reason"]
    # without adjustment the two alarms at .04 and .03 stand
    unadjusted = _apply_rule(frame, VerdictRule(adjust="none"))
    verdicts = unadjusted[unadjusted["primary"]].set_index("task")["verdict"]
    assert list(verdicts) == ["excess_jump", "inconclusive", "excess_jump", "excess_jump"]
    # the other statistics' rows carry the series' verdict
    assert (out.groupby("task")["verdict"].nunique() == 1).all()


def test_verdict_rule_checks_its_settings() -> None:
    with pytest.raises(ConfigError, match="adjust"):
        VerdictRule(adjust="fdr")
    with pytest.raises(ConfigError, match="min_sizes"):
        VerdictRule(min_sizes=2)
    assert "Benjamini-Hochberg" in VerdictRule().describe()


# --------------------------------------------------------------------------------------------
# jump_test on a small simulated table
# --------------------------------------------------------------------------------------------

_KEEP = ["exact_str_match", "log_likelihood", "edit_distance"]


def _curve_table(task: str, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    truth = CurveTruth(log_ce_ref=-0.8, slope=0.45, n_ref=3e8)
    curve = simulate_curve(truth, params=SIZES6, n_items=200, mean_length=3, pass_k=(), seed=seed)
    table = curve.table(task=task)
    return table[table["metric"].isin(_KEEP)], curve.lengths


@pytest.fixture(scope="module")
def small_table() -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """Four tasks: a smooth curve (plus an unmappable accuracy row), the same with an exact
    match jumped by +0.3 at the top two sizes (its other metrics unchanged), a curve with one
    size, and a curve with exact match only."""
    smooth, smooth_lengths = _curve_table("smooth", 1)
    jumped, jumped_lengths = _curve_table("jumped", 2)
    top = (jumped["metric"] == "exact_str_match") & (jumped["params"] >= SIZES6[4])
    jumped.loc[top, "score"] = np.minimum(jumped.loc[top, "score"] + 0.3, 1.0)
    accuracy = smooth[smooth["metric"] == "exact_str_match"].assign(
        metric="numeric_match", metric_kind="accuracy", chance=np.nan
    )
    single, single_lengths = _curve_table("single", 3)
    single = single[single["params"] == SIZES6[2]]
    em_only, em_lengths = _curve_table("em_only", 4)
    em_only = em_only[em_only["metric"] == "exact_str_match"]
    table = pd.concat([smooth, accuracy, jumped, single, em_only], ignore_index=True)
    lengths = {
        ("smooth", "smooth"): smooth_lengths,
        ("jumped", "jumped"): jumped_lengths,
        ("single", "single"): single_lengths,
        ("em_only", "em_only"): em_lengths,
    }
    return table, lengths


@pytest.fixture(scope="module")
def small_result(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]],
) -> JumpTestResult:
    table, lengths = small_table
    return jump_test(
        table,
        rule=VerdictRule(require_diagnostics=False),
        n_replicates=300,
        lengths=lengths,
        **TINY,
    )


def test_intermediate_checkpoints_are_set_aside_with_a_count() -> None:
    # exact match only (no continuous metric: no fit), at the last step and at an earlier one;
    # task "one" has a single size (its reason names its rows)
    final, _ = _curve_table("em", 5)
    final = final[final["metric"] == "exact_str_match"]
    one = final.iloc[[2]].assign(task="one", subtask="one")
    final = pd.concat([final, one], ignore_index=True).assign(step=143000)
    early = final.assign(step=1000, score=final["score"] / 3, model=final["model"] + "@1000")
    table = pd.concat([early, final], ignore_index=True)  # final rows: 7-13
    with pytest.warns(AssumptionWarning, match=r"7 rows of intermediate training checkpoints"):
        result = jump_test(table, modes=("cross_metric",), n_replicates=20)
    rows = result.verdicts[result.verdicts["primary"]].set_index("task")
    assert rows.loc["em", "n_sizes"] == 6
    assert "no continuous metric" in rows.loc["em", "reason"]
    # row numbers are the whole table's: the single size is row 13 (its early twin, 6, is out)
    assert "only 1 distinct size" in rows.loc["one", "reason"]
    assert "13" in rows.loc["one", "reason"] and "6" not in rows.loc["one", "reason"]


def _primary(result: JumpTestResult, mode: str) -> pd.DataFrame:
    rows = result.verdicts[result.verdicts["primary"] & (result.verdicts["mode"] == mode)]
    return rows.set_index(["task", "metric"])


def test_result_table_shape_and_fits(small_result: JumpTestResult) -> None:
    verdicts = small_result.verdicts
    assert list(verdicts.columns) == list(VERDICT_COLUMNS)
    # 5 tested series (4 exact match + 1 accuracy) x 3 modes x 5 statistics
    assert len(verdicts) == 5 * 3 * len(STATISTICS)
    assert verdicts.groupby(["task", "metric", "mode"])["primary"].sum().eq(1).all()
    assert set(verdicts["verdict"]) <= {"explained_by_metric", "excess_jump", "inconclusive"}
    assert set(small_result.fits) == {
        "cross_metric/smooth",
        "cross_metric/broken",
        "in_sample/smooth",
        "in_sample/broken",
        "leave_future_out/smooth",
    }
    # cross_metric fitted the continuous rows only
    fitted = small_result.fits["cross_metric/smooth"].table
    assert set(fitted["metric_kind"]) == {"log_likelihood", "edit_distance"}
    assert set(fitted["task"]) == {"smooth", "jumped"}


def test_the_step_test_of_a_latent_break_is_reported_per_curve(
    small_result: JumpTestResult,
) -> None:
    verdicts = small_result.verdicts
    primary = verdicts[verdicts["primary"]].set_index(["mode", "task", "metric"])
    # a p-value for every fitted curve with >= 5 sizes (6 here), in the modes that fit the
    # whole curve; none where the mode fits no cell of it or only the sizes before the jump
    for mode, task, metric in [
        ("cross_metric", "smooth", "exact_str_match"),
        ("cross_metric", "jumped", "exact_str_match"),
        ("in_sample", "em_only", "exact_str_match"),
    ]:
        assert 0.0 < primary.loc[(mode, task, metric), "step_p"] <= 1.0
    # cross_metric has no continuous metric of em_only to fit
    assert np.isnan(primary.loc[("cross_metric", "em_only", "exact_str_match"), "step_p"])
    assert primary.xs("leave_future_out")["step_p"].isna().all()
    # latent_break is the adjusted step test where the fit passes, NaN where it does not
    passed = {m: small_result.diagnostics[f"{m}/smooth"]["passed"] for m in ("cross_metric",)}
    cross = primary.xs("cross_metric")
    if passed["cross_metric"]:
        assert cross["latent_break"].dropna().isin([0.0, 1.0]).all()
    else:
        assert cross["latent_break"].isna().all()
    # every statistic's row of one series carries the same step_p
    spread = verdicts.groupby(["mode", "task", "metric"])["step_p"].nunique(dropna=False)
    assert (spread == 1).all()


def test_observed_statistic_and_excess_interval(
    small_result: JumpTestResult,
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]],
) -> None:
    table, _ = small_table
    rows = table[(table["task"] == "jumped") & (table["metric"] == "exact_str_match")]
    for mode in ("cross_metric", "in_sample", "leave_future_out"):
        row = _primary(small_result, mode).loc[("jumped", "exact_str_match")]
        assert row["observed"] == pytest.approx(max_jump(rows["params"], rows["score"]))
        assert row["excess_q50"] == pytest.approx(row["observed"] - row["predicted_q50"])
        assert row["excess_q05"] == pytest.approx(row["observed"] - row["predicted_q95"])
        assert row["excess_q05"] <= row["excess_q50"] <= row["excess_q95"]
        assert 1 / 301 <= row["p_value"] <= 1


def test_the_jump_the_metric_does_not_explain_is_found(small_result: JumpTestResult) -> None:
    cross = _primary(small_result, "cross_metric")
    jumped = cross.loc[("jumped", "exact_str_match")]
    smooth = cross.loc[("smooth", "exact_str_match")]
    print(cross[["observed", "predicted_q50", "predicted_q95", "p_value", "verdict"]])
    # +0.3 on top of a step of ~0.1: far outside what the log-likelihood and edit distance imply
    assert jumped["verdict"] == "excess_jump"
    assert jumped["excess_q05"] > 0.1
    assert smooth["verdict"] == "explained_by_metric"
    assert smooth["p_value"] > 0.1
    # the LOO columns: filled where a broken fit was made, NaN for leave_future_out
    assert np.isfinite(jumped["elpd_diff"]) and jumped["elpd_se"] >= 0
    lfo = _primary(small_result, "leave_future_out")
    assert lfo["elpd_diff"].isna().all()


def test_bad_input_gives_inconclusive_with_the_reason(small_result: JumpTestResult) -> None:
    for mode in ("cross_metric", "in_sample", "leave_future_out"):
        rows = _primary(small_result, mode)
        single = rows.loc[("single", "exact_str_match")]
        assert single["verdict"] == "inconclusive"
        assert "only 1 distinct size" in single["reason"]
        unmapped = rows.loc[("smooth", "numeric_match")]
        assert unmapped["verdict"] == "inconclusive"
        assert "cannot map" in unmapped["reason"]
    em_only = _primary(small_result, "cross_metric").loc[("em_only", "exact_str_match")]
    assert em_only["verdict"] == "inconclusive"
    assert "no continuous metric" in em_only["reason"]
    # in_sample fits exact match alone: that curve gets a verdict there
    in_sample = _primary(small_result, "in_sample").loc[("em_only", "exact_str_match")]
    assert in_sample["reason"] == ""


def test_failed_diagnostics_withhold_the_verdict(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]],
) -> None:
    table, lengths = small_table
    mine = table[table["task"] == "smooth"]
    # 30 draws x 2 chains cannot reach a bulk ESS of 200
    result = jump_test(
        mine,
        modes=["cross_metric"],
        compare_broken=False,
        n_replicates=50,
        lengths=lengths,
        **{**TINY, "draws": 30, "tune": 100},
    )
    row = result.summary.set_index("metric").loc["exact_str_match"]
    assert row["verdict"] == "inconclusive"
    assert "fails its diagnostics" in row["reason"]
    assert np.isfinite(row["p_value"])  # computed, but withheld
    assert result.diagnostics["cross_metric/smooth"]["passed"] is False


def test_errors_name_the_problem(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]],
) -> None:
    table, _ = small_table
    continuous = table[table["metric_kind"] == "log_likelihood"]
    with pytest.raises(DataFormatError, match="metric_kind"):
        jump_test(continuous)
    with pytest.raises(ConfigError, match="unknown mode"):
        jump_test(table, modes=["in_sampel"])


def test_result_to_json_and_save(small_result: JumpTestResult, tmp_path: Path) -> None:
    document = json.loads(small_result.to_json())
    assert document["rule"]["adjust"] == "bh"
    assert "Benjamini-Hochberg" in document["rule"]["text"]
    assert len(document["verdicts"]) == len(small_result.verdicts)
    assert set(document["diagnostics"]) == set(small_result.fits)
    folder = small_result.save(tmp_path / "out")
    back = pd.read_csv(folder / "verdicts.csv", keep_default_na=False, na_values=[""])
    assert len(back) == len(small_result.verdicts)
    saved = es.Fit.load(folder / "fits" / "cross_metric-smooth.zarr")
    assert len(saved.table) == len(small_result.fits["cross_metric/smooth"].table)
    counts = small_result.counts()
    assert int(counts.to_numpy().sum()) == 5 * 3


def test_es_exports_jump_test() -> None:
    assert es.jump_test is jump_test
    assert es.mirage.calibrate is calibrate


# --------------------------------------------------------------------------------------------
# calibration on a LocalCluster
# --------------------------------------------------------------------------------------------

_CELL = {
    "kind": "generation",
    "n_choices": np.nan,
    "mean_length": 3.0,
    "n_items": 100,
    "n_sizes": 5,
    "break_factor": 0.25,
}


def test_simulated_batch_is_the_same_whatever_the_batching() -> None:
    settings: dict[str, Any] = {}
    together, _, _ = simulate_batch(_CELL, "broken", [5, 6], settings)
    alone, _, _ = simulate_batch(_CELL, "broken", [6], settings)
    second = together[together["task"] == "rep001"].reset_index(drop=True)
    np.testing.assert_array_equal(second["score"], alone["score"])
    smooth, _, _ = simulate_batch(_CELL, "smooth", [6], settings)
    em = smooth["metric"] == "exact_str_match"
    # the broken truth (CE x 0.25 above the middle) scores higher at the largest size
    assert alone.loc[em, "score"].iloc[-1] > smooth.loc[em, "score"].iloc[-1]


def test_simulated_batch_without_model_deviations_follows_the_truths_curve() -> None:
    _, _, (usual,) = simulate_batch(_CELL, "smooth", [6], {})
    _, _, (population,) = simulate_batch(_CELL, "smooth", [6], {"deviation_sd": 0.0})
    assert np.all(usual.deviation != 0.0)
    np.testing.assert_array_equal(population.deviation, 0.0)
    np.testing.assert_array_equal(population.ce, population.ce_curve)
    # the same truth either way: the deviation sd changes the outputs, not the curve drawn
    np.testing.assert_array_equal(population.ce_curve, usual.ce_curve)


def test_tiny_grid_on_a_local_cluster() -> None:
    seen: list[tuple[int, int]] = []
    result = calibrate(
        [_CELL],
        2,
        batch_size=2,
        n_workers=1,
        n_replicates=50,
        rule=VerdictRule(adjust="none", require_diagnostics=False),
        progress=lambda done, total, _: seen.append((done, total)),
        **{k: v for k, v in TINY.items() if k != "random_seed"},
    )
    replicates = result.replicates
    assert len(replicates) == 4
    assert replicates.groupby("truth").size().to_dict() == {"broken": 2, "smooth": 2}
    assert seen[-1] == (2, 2)  # one batch per truth
    assert (replicates["batch_size"] == 2).all()
    assert replicates["p_value"].between(1 / 51, 1).all()
    assert set(replicates["verdict"]) <= {"explained_by_metric", "excess_jump", "inconclusive"}
    # the tested statistic is the simulated curve's own max jump
    table, _, _ = simulate_batch(_CELL, "smooth", replicates["seed"][:1].tolist(), {})
    first = replicates[replicates["truth"] == "broken"].iloc[0]
    broken_table, _, _ = simulate_batch(_CELL, "broken", [int(first["seed"])], {})
    em = broken_table[broken_table["metric"] == "exact_str_match"]
    assert first["observed"] == pytest.approx(max_jump(em["params"], em["score"]))
    summary = result.summary
    assert len(summary) == 1
    assert summary.loc[0, "n_smooth"] == 2 and summary.loc[0, "n_broken"] == 2
    assert 0 <= summary.loc[0, "false_alarm"] <= 1
    assert result.tests_per_minute > 0
    assert not table.empty
    # each replicate's fitted slope interval beside the slope its truth has over the sizes
    smooth_rows = replicates[replicates["truth"] == "smooth"]
    _, _, curves = simulate_batch(_CELL, "smooth", smooth_rows["seed"][:1].tolist(), {})
    assert smooth_rows["slope_estimand"].iloc[0] == pytest.approx(curves[0].b_knowledge)
    assert (replicates["slope_q05"] < replicates["slope_q95"]).all()
    assert 0 <= summary.loc[0, "n_slope"] <= 2


def test_slope_coverage_counts_smooth_truths_whose_fit_passed() -> None:
    base = {**_CELL, "verdict": "explained_by_metric", "p_value": 0.5}
    rows = [
        # covered, passed
        {
            **base,
            "truth": "smooth",
            "slope_estimand": 0.5,
            "slope_q05": 0.4,
            "slope_q95": 0.6,
            "smooth_passed": True,
        },
        # missed, passed
        {
            **base,
            "truth": "smooth",
            "slope_estimand": 0.7,
            "slope_q05": 0.4,
            "slope_q95": 0.6,
            "smooth_passed": True,
        },
        # covered but the fit failed: not counted
        {
            **base,
            "truth": "smooth",
            "slope_estimand": 0.5,
            "slope_q05": 0.1,
            "slope_q95": 0.9,
            "smooth_passed": False,
        },
        # a broken truth: not counted
        {
            **base,
            "truth": "broken",
            "slope_estimand": 0.5,
            "slope_q05": 0.45,
            "slope_q95": 0.55,
            "smooth_passed": True,
        },
    ]
    summary = summarise_calibration(pd.DataFrame(rows)).iloc[0]
    assert summary["n_slope"] == 2
    assert summary["slope_coverage"] == pytest.approx(0.5)
    assert summary["slope_width_median"] == pytest.approx(0.2)


def _summary_cell(**values: Any) -> dict[str, Any]:
    cell = {
        "kind": "choice",
        "n_choices": math.nan,
        "mean_length": math.nan,
        "n_items": 200,
        "n_sizes": 8,
        "break_factor": 0.5,
        "false_alarm": 0.0,
        "power": 0.5,
    }
    return {**cell, **values}


def test_the_closest_cell_matches_the_number_of_choices_where_known() -> None:
    summary = pd.DataFrame(
        [
            _summary_cell(n_choices=2, false_alarm=0.0, power=0.3),
            _summary_cell(n_choices=4, false_alarm=0.05, power=0.6),
            _summary_cell(kind="generation", mean_length=5.0, n_items=1000, false_alarm=0.1),
            _summary_cell(kind="generation", mean_length=20.0, n_items=1000, false_alarm=0.0),
            _summary_cell(kind="generation", mean_length=5.0, n_items=200, false_alarm=0.02),
        ]
    )
    ten = closest_cells(summary, "choice", 540.0, 12, n_choices=10)
    assert ten["n_choices"].tolist() == [4]  # |log 4/10| < |log 2/10|
    assert closest_cells(summary, "choice", 540.0, 12, n_choices=2)["n_choices"].tolist() == [2]
    assert len(closest_cells(summary, "choice", 540.0, 12)) == 2  # K unknown: both tie
    assert closest_cells(summary, "generation", 800.0, 8)["n_items"].tolist() == [1000, 1000]
    assert closest_cells(summary, "generation", math.nan, 8)["n_items"].tolist() == [200]
    assert closest_cells(summary[summary["kind"] == "generation"], "choice", 200, 8).empty

    verdicts = pd.DataFrame(
        {
            "metric_kind": ["accuracy", "multiple_choice_grade", "exact_match"],
            "n_items": [540.0, 540.0, 800.0],
            "n_sizes": [12, 12, 8],
            "n_choices": [10.0, math.nan, math.nan],
        }
    )
    result = CalibrationResult(replicates=pd.DataFrame(), summary=summary, wall_seconds=0.0)
    cells = nearest_cells(verdicts, result)
    assert cells["cell"].tolist() == [
        "choice K=4, 200 items, 8 sizes",
        "choice K=2|4, 200 items, 8 sizes",
        "generation L=5|20, 1000 items, 8 sizes",
    ]
    # over what the row does not know, the worst rates
    assert cells["false_alarm"].tolist() == [0.05, 0.05, 0.1]
    assert cells["power"].tolist() == [0.6, 0.3, 0.5]


def test_explained_by_metric_needs_the_calibrated_power_rule_8() -> None:
    summary = pd.DataFrame(
        [
            _summary_cell(kind="generation", mean_length=5.0, n_items=200, power=0.1),
            _summary_cell(kind="generation", mean_length=5.0, n_items=5000, power=0.1),
        ]
    )
    summary["power_any"] = [0.3, 0.9]  # excess_jump or latent_break
    verdicts = pd.DataFrame(
        {
            "metric_kind": ["exact_match"] * 4,
            "n_items": [200.0, 5000.0, 200.0, 200.0],
            "n_sizes": [8, 8, 8, 8],
            "n_choices": [math.nan] * 4,
            "verdict": [
                "explained_by_metric",
                "explained_by_metric",
                "excess_jump",
                "inconclusive",
            ],
            "reason": ["", "", "", "only 2 distinct size(s)"],
        }
    )
    calibration = CalibrationResult(replicates=pd.DataFrame(), summary=summary, wall_seconds=0.0)
    out = _calibration_lookup(verdicts, calibration, VerdictRule())
    # low power: not detected is not explained; enough power: kept; a detection and an earlier
    # reason are left alone
    assert out["verdict"].tolist() == [
        "inconclusive",
        "explained_by_metric",
        "excess_jump",
        "inconclusive",
    ]
    assert "finds 0.30 of the simulated breaks (< 0.8)" in out["reason"].iloc[0]
    assert out["reason"].iloc[3] == "only 2 distinct size(s)"
    # without latent_break rates the verdict's own power decides; the threshold is the rule's
    old = CalibrationResult(
        replicates=pd.DataFrame(), summary=summary.drop(columns="power_any"), wall_seconds=0.0
    )
    lenient = _calibration_lookup(verdicts, old, VerdictRule(min_power=0.05))
    assert lenient["verdict"].tolist()[:2] == ["explained_by_metric"] * 2
    assert (
        _calibration_lookup(verdicts, old, VerdictRule())["verdict"].tolist()[:2]
        == ["inconclusive"] * 2
    )
    # a calibration measured in one mode says nothing about another: no cell, no rule
    moded = CalibrationResult(
        replicates=pd.DataFrame(), summary=summary.assign(mode="cross_metric"), wall_seconds=0.0
    )
    two_modes = verdicts.iloc[:2].assign(mode=["cross_metric", "in_sample"])
    cells = nearest_cells(two_modes, moded)
    assert cells["power_any"].iloc[0] == 0.3 and np.isnan(cells["power_any"].iloc[1])
    out = _calibration_lookup(two_modes, moded, VerdictRule())
    assert out["verdict"].tolist() == ["inconclusive", "explained_by_metric"]


# --------------------------------------------------------------------------------------------
# slow: real fits
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ladder_subset_accuracy_32_is_explained_by_the_metric() -> None:
    table = es.datasets.load("ladder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = jump_test(
            table,
            modes=["cross_metric"],
            compare_broken=False,
            random_seed=20261202,
            tune=2000,
            floor=True,
            target_accept=0.99,
            adaptation="low_rank",  # the ladder preset's (LADDER_SETTINGS)
        )
    print(result.summary.to_string())
    row = _primary(result, "cross_metric").loc[("digits", "subset_accuracy_L32")]
    assert result.diagnostics["cross_metric/smooth"]["passed"]
    assert row["verdict"] == "explained_by_metric"
    assert row["predicted_q05"] <= row["observed"] <= row["predicted_q95"]


@pytest.fixture(scope="module")
def power_cell_calibration() -> pd.Series:
    # the power target's cell: CE halves within half a decade, 8 sizes, 200 items; one batch of
    # 10 replicates per truth (the fixed sweep seed 0), one worker per truth
    cell = {**_CELL, "mean_length": 5.0, "n_items": 200, "n_sizes": 8, "break_factor": 0.5}
    result = calibrate([cell], 10, batch_size=10, n_workers=2, progress=False)
    print(result.summary.to_string())
    return result.summary.iloc[0]


@pytest.mark.slow
def test_false_alarm_on_simulated_smooth_truths(power_cell_calibration: pd.Series) -> None:
    # by raw p (computed whether or not the fit passed its diagnostics, so not vacuous) and by
    # the rule: at most 1 of 10 smooth truths called an excess jump; nor a latent break
    assert power_cell_calibration["false_alarm_p"] <= 0.10
    assert power_cell_calibration["false_alarm"] <= 0.10
    assert power_cell_calibration["false_alarm_any"] <= 0.10


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="power target (>= 0.80 for a 2x CE drop, 8 sizes, 200 items) not met: the jump "
    "test calls at most 2/20 by the rule and by raw p in every generation cell, and no step "
    "test of the continuous metric can reach it on this simulator (oracle bound 0.24, "
    "benchmarks/break_oracle.py; docs/calibration.md); strict, so a fix shows up here",
)
def test_power_on_simulated_broken_truths(power_cell_calibration: pd.Series) -> None:
    assert power_cell_calibration["power_any"] >= 0.80


@pytest.mark.slow
def test_the_step_test_finds_a_4x_break_with_12_sizes() -> None:
    # where a step test can see a break (oracle bound 0.90 for CE x 0.25 at 12 sizes): rule 7's
    # latent_break calls most broken truths and no more than 1 of 10 smooth ones
    cell = {**_CELL, "mean_length": 5.0, "n_items": 200, "n_sizes": 12, "break_factor": 0.25}
    result = calibrate([cell], 10, batch_size=10, n_workers=2, progress=False)
    summary = result.summary.iloc[0]
    print(summary.to_string())
    assert summary["false_alarm_break"] <= 0.10
    assert summary["power_break"] >= 0.70
    # the verdict itself stays calibrated: the latent break does not make excess_jump calls
    assert summary["false_alarm"] <= 0.10


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def test_cli_mirage_writes_verdicts_and_fits(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from emergestats.cli import main

    table, _ = small_table
    path = tmp_path / "table.csv"
    table[table["task"] == "jumped"].to_csv(path, index=False)
    out = tmp_path / "mirage"
    arguments = [
        "mirage",
        str(path),
        "--out",
        str(out),
        "--modes",
        "cross_metric",
        "--no-broken",
        "--draws",
        "100",
        "--tune",
        "100",
        "--chains",
        "2",
        "--replicates",
        "50",
        "--seed",
        "3",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no per-item lengths for the CSV's curves
        result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "exact_str_match" in result.output and "rule:" in result.output
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert len(verdicts) == len(STATISTICS)
    assert (out / "verdicts.json").is_file()
    assert (out / "fits" / "cross_metric-smooth.zarr").is_dir()


def test_cli_mirage_bad_input_is_one_sentence(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from emergestats.cli import main

    table, _ = small_table
    path = tmp_path / "continuous.csv"
    table[table["metric_kind"] == "log_likelihood"].to_csv(path, index=False)
    result = CliRunner().invoke(main, ["mirage", str(path)])
    assert result.exit_code == 1
    assert "metric_kind" in result.output and "Traceback" not in result.output


def test_cli_mirage_task_filter_names_unknown_tasks(
    small_table: tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from emergestats.cli import _select_tasks, main

    table, _ = small_table
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["mirage", str(path), "--task", "jumped", "--task", "nope"])
    assert result.exit_code == 1
    assert "--task nope: no such task" in result.output and "Traceback" not in result.output
    kept = _select_tasks(table, ("jumped", "smooth/smooth"), "t")
    assert set(kept["task"]) == {"jumped", "smooth"}


# --------------------------------------------------------------------------------------------
# the refit of a failed fit
# --------------------------------------------------------------------------------------------


def _summary(**changes: object) -> dict[str, object]:
    summary: dict[str, object] = {
        "r_hat_max": 1.035,
        "ess_bulk_min": 95.0,
        "ess_tail_min": 147.0,
        "ess_threshold": 400.0,
        "divergences": 0,
        "stuck_chains": [],
        "passed": False,
    }
    return summary | changes


def test_a_divergent_fit_is_refitted_with_smaller_steps() -> None:
    from emergestats.inference.diagnostics import refit_settings

    settings = {"draws": 1000, "tune": 1000, "chains": 4, "random_seed": 7}
    refit, how = refit_settings(settings, _summary(divergences=3))
    assert refit == {
        "draws": 1000,
        "tune": 2000,
        "chains": 4,
        "random_seed": 8,
        "target_accept": 0.99,
    }
    assert how == "target_accept 0.99 and 2000 tuning steps"
    # a stuck chain is a step-size failure too; a higher target_accept the user set is kept
    stuck, _ = refit_settings({**settings, "target_accept": 0.995}, _summary(stuck_chains=[2]))
    assert stuck["target_accept"] == 0.995 and stuck["draws"] == 1000


def test_a_slowly_mixing_fit_is_refitted_with_more_draws_at_the_same_step() -> None:
    from emergestats.inference.diagnostics import MAX_DRAWS_FACTOR, refit_settings

    settings = {"draws": 1000, "tune": 500, "random_seed": None}
    # ESS 95 against 400: ceil(1.5 * 400 / 95) = 7, capped at 4
    refit, how = refit_settings(settings, _summary())
    assert refit["draws"] == MAX_DRAWS_FACTOR * 1000 == 4000
    assert refit["tune"] == 1000 and refit["random_seed"] is None
    assert "target_accept" not in refit
    assert how == "4000 draws per chain (4 x) and 1000 tuning steps"
    # ESS 350 (tail): ceil(1.5 * 400 / 350) = 2
    nearly, _ = refit_settings(settings, _summary(ess_bulk_min=500.0, ess_tail_min=350.0))
    assert nearly["draws"] == 2000
    # passing ESS with a high R-hat still gets at least twice the draws
    rhat_only, _ = refit_settings(settings, _summary(ess_bulk_min=900.0, ess_tail_min=800.0))
    assert rhat_only["draws"] == 2000
