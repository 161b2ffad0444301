"""Extrapolation benchmark: hold-out splits, scoring, and a tiny run on a Dask LocalCluster."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import emergestats as es
from emergestats.errors import ConfigError
from emergestats.mirage.extrapolation import (
    METHODS,
    compare_with_baselines,
    extrapolate_family,
    extrapolation_benchmark,
    final_checkpoints,
    hold_out_largest,
    summarise_extrapolation,
)


def _ladder(metrics: tuple[str, ...] = ("accuracy", "log_likelihood", "subset_accuracy_L4")):
    table = es.datasets.load("ladder")
    return table[table["metric"].isin(metrics)].reset_index(drop=True)


def test_hold_out_largest_keeps_the_smaller_sizes_to_fit() -> None:
    table = _ladder()
    sizes = np.sort(table["params"].unique())
    fitted, held = hold_out_largest(table, 2)
    assert set(held["params"]) == set(sizes[-2:])
    assert fitted["params"].max() == sizes[-3]
    assert len(fitted) + len(held) == len(table)
    with pytest.raises(ConfigError, match="at least one size must stay"):
        hold_out_largest(table, len(sizes))
    with pytest.raises(ConfigError, match="one family"):
        hold_out_largest(pd.concat([table, table.assign(family="other")]), 1)


def test_final_checkpoints_keep_the_last_step_of_each_size() -> None:
    rows = pd.DataFrame(
        {
            "family": ["p", "p", "p", "q"],
            "params": [1e8, 1e8, 2e8, 1e8],
            "model": ["a@1", "a@9", "b@5", "c"],
            "step": pd.array([1, 9, 5, pd.NA], dtype="Int64"),
        }
    )
    kept = final_checkpoints(rows)
    assert kept["model"].tolist() == ["a@9", "b@5", "c"]


def test_summary_scores_coverage_width_and_error_per_method() -> None:
    base = {
        "source": "s",
        "family": "f",
        "hold_out": 1,
        "task": "t",
        "subtask": "t",
        "shots": 0,
        "metric_kind": "accuracy",
        "fit_passed": True,
    }
    rows = []
    for method, (q05, q50, q95) in {
        "model": (0.4, 0.5, 0.6),
        "sigmoid": (0.55, 0.6, 0.65),
        "two_step": (np.nan, np.nan, np.nan),
    }.items():
        for model, metric, score in (("m1", "acc", 0.5), ("m1", "acc_norm", 0.62)):
            rows.append(
                {
                    **base,
                    "method": method,
                    "model": model,
                    "metric": metric,
                    "score": score,
                    "q05": q05,
                    "q50": q50,
                    "q95": q95,
                }
            )
    rows.append({**rows[0], "metric_kind": "log_likelihood", "metric": "ll", "score": -1.0})
    summary = summarise_extrapolation(pd.DataFrame(rows)).set_index("method")
    assert summary.loc["model", "rows"] == 2  # the log-likelihood row is not scored
    assert summary.loc["model", "coverage"] == pytest.approx(0.5)
    assert summary.loc["sigmoid", "coverage"] == pytest.approx(0.5)
    assert summary.loc["model", "median_width"] == pytest.approx(0.2)
    assert summary.loc["model", "median_abs_error"] == pytest.approx(0.06)
    assert summary.loc["sigmoid", "median_abs_error"] == pytest.approx(0.06)
    assert summary.loc["two_step", "predicted"] == 0
    # no row was predicted by every method: the shared error is undefined, not 0
    assert np.isnan(summary.loc["model", "median_abs_error_shared"])
    target = compare_with_baselines(pd.DataFrame(rows)).iloc[0]
    assert target["sigmoid_rows"] == 2 and target["two_step_rows"] == 0
    assert target["model_error_vs_sigmoid"] == pytest.approx(0.06)
    assert target["beaten_by"] == ""  # a tie is no worse
    assert target["error_met"] and not target["coverage_met"] and not target["both_met"]
    # a sigmoid closer on the shared rows beats the model
    closer = pd.DataFrame(rows)
    closer.loc[closer["method"] == "sigmoid", "q50"] = closer["score"]
    target = compare_with_baselines(closer).iloc[0]
    assert target["beaten_by"] == "sigmoid" and not target["error_met"]


def test_tiny_benchmark_on_a_local_cluster() -> None:
    seen: list[tuple[int, int]] = []
    result = extrapolation_benchmark(
        {"ladder": _ladder()},
        hold_out=(1,),
        n_workers=1,
        n_boot=40,
        progress=lambda done, total, _: seen.append((done, total)),
        sampler="pymc",
        draws=100,
        tune=100,
        chains=1,
    )
    pred = result.predictions
    assert seen == [(1, 1)]
    largest = _ladder()["params"].max()
    assert (pred["params"] == largest).all()
    assert set(pred["method"]) == set(METHODS)
    assert pred.groupby("method").size().nunique() == 1  # every method sees every held-out row
    model = pred[(pred["method"] == "model") & (pred["metric"] == "accuracy")].iloc[0]
    assert model["q05"] <= model["q50"] <= model["q95"]
    # the ladder's log-likelihood gives two-step its task loss
    two_step = pred[(pred["method"] == "two_step") & (pred["metric"] == "accuracy")].iloc[0]
    assert two_step["reason"] == "" and np.isfinite(two_step["q50"])
    assert set(result.summary["method"]) == set(METHODS)
    assert result.settings["scheduler"] == "LocalCluster"
    # the model extrapolates with its floor unless told otherwise (a floor-free power law lets
    # CE fall to 0 beyond the fitted sizes)
    assert result.settings["fit_options"]["floor"] is True
    with pytest.raises(ConfigError, match="no family with at least 20 sizes"):
        extrapolation_benchmark({"ladder": _ladder()}, min_sizes=20, n_workers=1)


def test_a_fit_that_raises_is_recorded_and_the_baselines_still_predict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the module, not the function of the same name that emergestats.inference exports
    fit_module = importlib.import_module("emergestats.inference.fit")

    def broken_fit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("All initialization points failed\n\nCaused by: ...")

    monkeypatch.setattr(fit_module, "fit", broken_fit)
    out = extrapolate_family("ladder", _ladder(), 1, n_boot=20)
    model = out[out["method"] == "model"]
    assert len(model) == len(out[out["method"] == "sigmoid"])  # every held-out row is there
    assert model["q50"].isna().all()
    assert (
        model["reason"] == "model: the fit raised RuntimeError: All initialization points failed"
    ).all()
    assert not out["fit_passed"].any()
    sigmoid = out[(out["method"] == "sigmoid") & (out["metric"] == "accuracy")]
    assert np.isfinite(sigmoid["q50"]).all()

    def refused(*args: object, **kwargs: object) -> None:
        raise ConfigError("draws must be positive")

    monkeypatch.setattr(fit_module, "fit", refused)
    with pytest.raises(ConfigError, match="draws"):
        extrapolate_family("ladder", _ladder(), 1, n_boot=20)


def test_a_failed_fit_is_refitted_once_as_its_failure_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fit_module = importlib.import_module("emergestats.inference.fit")
    calls: list[dict[str, object]] = []

    class FakeFit:
        def __init__(self, passed: bool) -> None:
            self.passed = passed

        def diagnostics_summary(self) -> dict[str, object]:
            return {
                "r_hat_max": 1.0 if self.passed else 1.03,
                "ess_bulk_min": 900.0 if self.passed else 150.0,
                "ess_tail_min": 900.0 if self.passed else 150.0,
                "ess_threshold": 400.0,
                "divergences": 0,
                "stuck_chains": [],
                "passed": self.passed,
                "failures": [] if self.passed else ["R-hat 1.030 > 1.01 (worst: item_sd)"],
            }

        def predict_table(self, rows: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
            return rows.assign(mean=0.5, q05=0.4, q50=0.5, q95=0.6, reason="")

    def fake_fit(table: pd.DataFrame, **options: object) -> FakeFit:
        calls.append(options)
        return FakeFit(passed=len(calls) > 1)

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    out = extrapolate_family("ladder", _ladder(), 1, fit_options={"draws": 500}, n_boot=20)
    # the slow-mixing failure (no divergence) got 4x the draws (ceil(1.5 * 400 / 150) = 4),
    # twice the tuning and the next seed; the refit's diagnostics are reported
    assert len(calls) == 2
    assert calls[1]["draws"] == 2000 and calls[1]["tune"] == 2000
    assert calls[1]["random_seed"] == calls[0]["random_seed"] + 1  # type: ignore[operator]
    assert out["refitted"].all() and out["fit_passed"].all()
