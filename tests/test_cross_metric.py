"""Cross-metric prediction on the package's ladder: fit log-likelihood alone, predict the rest.

The ladder's every metric is computed from the same class probabilities of the same 540 test
images (``emergestats.ladder``). Fitted on the log-likelihood rows only (with their reported
standard errors), the smooth model must predict accuracy, Brier (mean and summed) and subset
accuracy (L = 2..32) of all 12 sizes: inside their 90% predictive intervals for >= 85% of rows,
and with intervals that are narrow, not [0, 1]. Coverage and width are both asserted.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import emergestats as es


@pytest.mark.slow
def test_ladder_log_likelihood_alone_predicts_every_other_metric() -> None:
    table = es.datasets.load("ladder")
    fitted_rows = table[table["metric"] == "log_likelihood"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # the ladder preset's sampler settings (one curve, low-rank mass matrix;
        # emergestats.analysis.LADDER_SETTINGS) but target_accept 0.99: fitted on its
        # log-likelihood rows alone, the floor model had 1-2 divergences at 0.95 on 4 of 5
        # seeds (0 of 5 at 0.99; 2026-12-05), and whether this seed had one depended on
        # whether the compiled log density came from pytensor's cache
        fit = es.fit(
            fitted_rows,
            floor=True,
            random_seed=20261202,
            tune=2000,
            # 2,000 draws: on 2026-12-07 one clean-clone CI run failed at R-hat 1.013 on the
            # item sd at 1,000 (the same seed passed on rerun, in 4 earlier runs and at 2,000)
            draws=2000,
            target_accept=0.99,
            adaptation="low_rank",
        )
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    # the fit records the sampler options it ran with
    assert json.loads(fit.config.sampler_options_json)["adaptation"] == "low_rank"
    held_out = table[table["metric"] != "log_likelihood"]
    pred = fit.predict_table(held_out, random_seed=1)
    inside = (pred["score"] >= pred["q05"]) & (pred["score"] <= pred["q95"])
    width = pred["q95"] - pred["q05"]
    proportions = ~pred["metric"].isin(["brier_sum"])  # brier_sum is on a 0..2 scale
    coverage = float(inside.mean())
    median_width = float(width[proportions].median())
    print(f"ladder cross-metric: coverage {coverage:.3f}, median width {median_width:.3f}")
    assert 0.85 <= coverage <= 1.0
    assert median_width <= 0.12
    # the floor under the width: the binomial noise of each count row (accuracy over 540
    # images, subset accuracy over 540 / L subsets) with its observed score taken as known;
    # an interval narrower than that would be overconfident (README: 0.179 against 0.069)
    counts = pred[pred["metric"].str.startswith(("accuracy", "subset_accuracy"))]
    n, p = counts["n_items"].to_numpy(), counts["score"].clip(0, 1).to_numpy()
    floor = (stats.binom.ppf(0.95, n, p) - stats.binom.ppf(0.05, n, p)) / n
    count_width = float(width[counts.index].median())
    print(
        f"ladder count rows: median width {count_width:.3f}, binomial floor "
        f"{float(np.median(floor)):.3f}; by metric: "
        + ", ".join(f"{m} {w:.3f}" for m, w in width.groupby(pred["metric"]).median().items())
    )
    assert float(np.median(floor)) <= count_width <= 3 * float(np.median(floor))
    # the all-or-nothing metric: subset accuracy over 32 images is predicted 0 where it is 0
    l32 = pred[pred["metric"] == "subset_accuracy_L32"]
    assert (l32.loc[l32["score"] == 0, "q05"] == 0).all()
    assert np.isfinite(pred["q50"]).all()


@pytest.mark.slow
@pytest.mark.realdata
def test_pythia_lambada_default_fit_passes_and_reads_the_item_spread(data_dir: object) -> None:
    # Pythia's final checkpoints, both families, LAMBADA's -log ppl: with its standard error
    # (the reader's delta method) the fit passes its diagnostics; without it the item sd was
    # left to its prior (sd 0.58) and the fit had 45 divergences (2026-12-04). The per-word
    # rows pin only the sum of each curve's level `a` and log tokens-per-word; sampled as they
    # stood, chains crawled along that ridge and the default 4 x 1000 draws failed on 4 of 8
    # seeds (R-hat 1.011-1.017, fresh compiles). With the sum as the sampler's coordinate
    # (add_unit_conversions' shear, 2026-12-06): 8/8 seeds pass, R-hat <= 1.008, bulk ESS
    # >= 991, yet one CI run reached R-hat 1.010. With centred cells read as levels and each
    # curve's item sd its own (add_cells_and_items, add_item_spread): 30/30 seeds pass, R-hat
    # <= 1.007, bulk ESS >= 2955.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the reader's notes on re-runs, n_items
        table = es.datasets.load("pythia")
    final = (
        (table["step"] == 143000)
        & (table["shots"] == 0)
        & table["family"].isin(["pythia", "pythia-deduped"])
        & (table["task"] == "lambada_openai")
    )
    rows = table[final.fillna(False).astype(bool)]
    rows = rows[rows["metric"] == "loglik_per_word_from_ppl"]
    assert len(rows) == 15 and rows["score_stderr"].gt(0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = es.fit(rows, "smooth", random_seed=1)
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    item_sd = fit.posterior["item_sd"]
    assert float(item_sd.std()) < 0.15  # pinned by the data (prior-driven before: 0.58)


@pytest.mark.slow
@pytest.mark.realdata
def test_lambada_greedy_accuracy_and_log_likelihood_fit_together(data_dir: object) -> None:
    # lm-eval's LAMBADA accuracy is the greedy match of the target word (kind greedy_match):
    # fitted with the per-word log-likelihood of the same outputs, for Pythia (both families),
    # BLOOM and OPT at once, one rival share for the task, the fit passes and every family's
    # accuracy sits on the map. (Read as the probability of sampling the word, exact_match
    # with 1-token answers, Pythia's accuracies predicted from its log-likelihood lay below
    # the observed ones: 11 of 15 above their 90% intervals, benchmarks/cross_metric.py.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = es.datasets.load("pythia")
    final = table["step"].isna() | (table["step"] == 143000)
    rows = table[
        final.fillna(False).astype(bool)
        & (table["shots"] == 0)
        & table["family"].isin(["pythia", "pythia-deduped", "bloom", "opt"])
        & (table["task"] == "lambada_openai")
        & table["metric"].isin(["loglik_per_word_from_ppl", "acc"])
    ]
    assert len(rows) == 56 and set(rows["metric_kind"]) == {"log_likelihood", "greedy_match"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # at the default target_accept (0.95) seeds 5 and 6 of 1-6 had 1 and 5 divergences,
        # where the curves' item sds (pinned to +-0.012 by the accuracies and the reported
        # standard errors) meet their population's median and spread (non-centred: a ridge);
        # at 0.99 seeds 1, 5, 6 pass with none (2026-12-06). Left open: data-chosen centring of
        # the item sd, as for the curves' levels
        fit = es.fit(rows, "smooth", random_seed=1, target_accept=0.99)
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    accuracy = fit.predict_table(rows[rows["metric"] == "acc"], random_seed=2)
    inside = (accuracy["score"] >= accuracy["q05"]) & (accuracy["score"] <= accuracy["q95"])
    width = accuracy["q95"] - accuracy["q05"]
    assert inside.mean() >= 0.7, accuracy[["model", "score", "q05", "q95"]]
    assert width.median() < 0.06  # narrow: the fit reads the accuracies, not the prior
    assert (accuracy["q50"] - accuracy["score"]).abs().median() < 0.02
    share = fit.posterior["rival_share"]
    assert 0.1 < float(share.mean()) < 0.6 and float(share.std()) < 0.05


@pytest.mark.slow
def test_greedy_match_map_on_a_simulator_with_per_token_rivals() -> None:
    # emergestats.simulation decides greedy decoding token by token, each token against its own
    # rival (a Beta(2, 4) share of the rest, persistent, with a per-size wobble), over gamma
    # item difficulties and negative-binomial lengths; the model thresholds the whole target's
    # probability at one fitted c / (1 + c) over log-normal items. Fitted on the log-likelihood
    # at 8 sizes and the greedy match at the 6 smallest (three tasks, 1,000 items), it
    # predicts the 2 largest: measured 2026-12-06, held out 4/6 inside 90% intervals (median
    # width 0.029, median error 0.010; the misses are the task with 2.5-token answers, whose
    # greedy rate lies 0.05 above the interval, 0.08-0.09 above its median: the word-level
    # threshold is harder on long answers than token-by-token rivals), in sample 15/18
    # (width 0.058).
    from emergestats.simulation import CurveTruth, simulate_curve

    sizes = np.geomspace(7e7, 1.2e10, 8)
    tables = []
    for position, (level, slope, length) in enumerate(
        [(-0.3, 0.35, 1.5), (0.2, 0.3, 2.5), (-0.6, 0.45, 1.2)]
    ):
        truth = CurveTruth(log_ce_ref=level, slope=slope, n_ref=1e9, floor=0.02)
        curve = simulate_curve(
            truth,
            params=sizes,
            n_items=1000,
            mean_length=length,
            seed=10 + position,
            greedy_rival=(2.0, 4.0),
        )
        table = curve.table(task=f"t{position}")
        tables.append(table[table["metric"].isin(["log_likelihood", "greedy_match"])])
    table = pd.concat(tables, ignore_index=True)
    largest = (table["params"] >= sizes[-2] * 0.99) & (table["metric"] == "greedy_match")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # the pooled item sds sampled as their mean and centred deviations (2026-12-06): at the
        # defaults seeds 1-4 pass (R-hat <= 1.007, bulk ESS >= 936, no divergence); at 0.99 and
        # 2,000 draws, kept for margin, R-hat <= 1.003 and ESS >= 1,760 on seeds 1-3. Before,
        # non-centred: bulk ESS 400-600 on the median and z, R-hat 1.012 on CI at 0.99/2,000
        fit = es.fit(table[~largest], random_seed=1, target_accept=0.99, draws=2000)
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    for rows, least, widest in (
        (table[largest], 3, 0.06),
        (table[~largest & (table["metric"] == "greedy_match")], 13, 0.10),
    ):
        pred = fit.predict_table(rows, random_seed=2)
        inside = (pred["score"] >= pred["q05"]) & (pred["score"] <= pred["q95"])
        print(pred[["task", "params", "score", "q05", "q50", "q95"]].round(3).to_string())
        assert inside.sum() >= least
        assert (pred["q95"] - pred["q05"]).median() < widest
        assert (pred["q50"] - pred["score"]).abs().median() < 0.03
