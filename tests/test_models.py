"""Latent curves, forward maps, priors and model builders: closed forms, graphs and dims.

No sampling here: the models are checked by their variables, dims, coordinates and by
evaluating their log-densities at chosen points against values computed independently.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from emergestats import metrics
from emergestats.data.table import to_dataset
from emergestats.errors import ConfigError
from emergestats.models import (
    DEFAULT_PRIORS,
    build_broken_model,
    build_item_model,
    build_smooth_model,
    latent,
    likelihoods,
    prepare_evaluation,
    resolve_priors,
)
from emergestats.models.builders import length_histogram, mean_length_histogram

SIZES = np.array([1e7, 1e8, 1e9, 1e10])


def make_table(
    *,
    tasks: tuple[str, ...] = ("arith", "words"),
    kinds: tuple[tuple[str, str], ...] = (
        ("exact_str_match", "exact_match"),
        ("log_likelihood", "log_likelihood"),
    ),
    target_tokens: float | None = 3.0,
    n_items: int | None = 200,
    chance: float = np.nan,
    family: str = "fam",
) -> pd.DataFrame:
    """A small canonical evaluation table with plausible scores (no randomness)."""
    rows = []
    for t, task in enumerate(tasks):
        for size in SIZES:
            ce = math.exp(-0.5 + 0.1 * t - 0.3 * (math.log(size) - math.log(1e8)))
            p = math.exp(-ce)
            for metric, kind in kinds:
                if kind in ("exact_match", "pass_at_k"):
                    score = p ** (target_tokens or 1.0)
                elif kind == "log_likelihood":
                    score = -(target_tokens or 1.0) * ce
                elif kind == "edit_distance":
                    score = (target_tokens or 1.0) * (1 - p)
                elif kind == "brier":
                    score = 0.1 * (1 - p) ** 2
                else:
                    score = 0.25 + 0.75 * p
                rows.append(
                    {
                        "task": task,
                        "subtask": task,
                        "family": family,
                        "model": f"m{size:.0e}",
                        "params": size,
                        "shots": 0,
                        "metric": metric,
                        "metric_kind": kind,
                        "score": min(max(score, 0.0), 1.0) if kind != "log_likelihood" else score,
                        "n_items": n_items,
                        "chance": chance,
                        "source": "test",
                        "target_tokens": target_tokens,
                    }
                )
    table = pd.DataFrame(rows)
    for column in ("task", "subtask", "family", "model", "metric", "metric_kind", "source"):
        table[column] = table[column].astype(object)
    table["n_items"] = table["n_items"].astype("Int64")
    if target_tokens is None:
        table = table.drop(columns="target_tokens")
    return table


# --------------------------------------------------------------------------------------------
# latent curves


def _eval(expression: pt.TensorVariable) -> np.ndarray:
    return np.asarray(pytensor.function([], expression)())


def test_smooth_latent_matches_closed_form_in_numpy_and_pytensor() -> None:
    x = np.array([-2.0, 0.0, 1.5])
    # log CE = a - b x with a = 0.5, b = 0.4: CE = exp(0.5 - 0.4 x), p = exp(-CE)
    expected = np.exp(0.5 - 0.4 * x)
    np.testing.assert_allclose(latent.cross_entropy(x, 0.5, 0.4), expected)
    np.testing.assert_allclose(latent.cross_entropy(x, 0.5, 0.4, floor=0.1), expected + 0.1)
    symbolic = latent.cross_entropy(pt.as_tensor_variable(x), pt.constant(0.5), 0.4)
    np.testing.assert_allclose(_eval(symbolic), expected)
    np.testing.assert_allclose(latent.token_probability(expected), np.exp(-expected))
    # x = log N - log N_ref
    np.testing.assert_allclose(
        latent.centred_log_scale(np.array([1e9, 1e10]), 1e9), [0.0, math.log(10.0)]
    )


def test_broken_latent_limits_and_no_break() -> None:
    x = np.array([-30.0, 30.0])
    a, b, x_break, slope, level, width = 0.2, 0.3, 0.0, 0.5, 1.2, 0.3
    broken = latent.broken_log_cross_entropy(x, a, b, x_break, slope, level, width)
    # far below the break: the line a - b x
    assert broken[0] == pytest.approx(a - b * x[0], abs=1e-9)
    # far above: lower by the level, with slope b + slope (softplus(u) ~ u there)
    assert broken[1] == pytest.approx(a - b * x[1] - level - slope * (x[1] - x_break), abs=1e-9)
    # no break (level = slope = 0) is exactly the smooth line
    grid = np.linspace(-3, 3, 7)
    none = latent.broken_log_cross_entropy(grid, a, b, 1.0, 0.0, 0.0, width)
    np.testing.assert_allclose(none, a - b * grid)
    # at the break the level change is half done: sigmoid(0) = 0.5, softplus(0) = log 2
    at = latent.broken_log_cross_entropy(np.array([x_break]), a, b, x_break, slope, level, width)
    assert at[0] == pytest.approx(a - 0.5 * level - slope * width * math.log(2.0))
    symbolic = latent.broken_log_cross_entropy(
        pt.as_tensor_variable(grid), a, b, 0.4, slope, level, width
    )
    np.testing.assert_allclose(
        _eval(symbolic), latent.broken_log_cross_entropy(grid, a, b, 0.4, slope, level, width)
    )


# --------------------------------------------------------------------------------------------
# forward maps vs emergestats.metrics and closed forms


def test_forward_maps_agree_with_metrics_module() -> None:
    ce = np.array([0.05, 0.7, 3.0])
    p = np.exp(-ce)
    lengths = np.array([1.0, 2.0, 2.0, 5.0])
    values, weights = length_histogram(lengths)
    assert values.tolist() == [1.0, 2.0, 5.0]
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.25])
    lv = np.tile(values, (3, 1))
    lw = np.tile(weights, (3, 1))
    np.testing.assert_allclose(
        likelihoods.exact_match_rate(ce, lv, lw), metrics.exact_match(p, lengths), rtol=1e-12
    )
    np.testing.assert_allclose(
        _eval(likelihoods.exact_match_polynomial(pt.as_tensor_variable(p), lv, lw)),
        metrics.exact_match(p, lengths),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        likelihoods.pass_at_k_rate(ce, lv, lw, np.full(3, 10.0)),
        metrics.pass_at_k(p, lengths, 10),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        likelihoods.edit_distance_mean(ce, np.full(3, lengths.mean())),
        metrics.edit_distance(p, lengths),
    )
    np.testing.assert_allclose(
        likelihoods.log_likelihood_mean(ce, np.full(3, lengths.mean())),
        metrics.log_likelihood(p, lengths),
    )
    # Brier from the choice model's q = 1/K + (1 - 1/K) p, both forms
    k = 4.0
    q = likelihoods.choice_probability(ce, k)
    np.testing.assert_allclose(q, 0.25 + 0.75 * p)
    np.testing.assert_allclose(
        likelihoods.brier_score_mean(ce, k), metrics.expected_brier_score(q, k, form="mean")
    )
    np.testing.assert_allclose(
        likelihoods.brier_score_mean(ce, k, summed=True),
        metrics.expected_brier_score(q, k, form="sum"),
    )


def test_multiple_choice_grade_is_chance_at_zero_and_q_at_unit_noise() -> None:
    k = np.array([2.0, 4.0, 10.0])
    # p -> 0 (CE huge): at chance 1/K whatever the noise
    np.testing.assert_allclose(
        likelihoods.multiple_choice_grade_rate(np.full(3, 50.0), k, 0.3), 1.0 / k, rtol=1e-9
    )
    # Gumbel noise of scale 1 on log-probabilities: P(argmax correct) = q (softmax identity)
    ce = np.array([0.2, 1.0, 2.5])
    np.testing.assert_allclose(
        likelihoods.multiple_choice_grade_rate(ce, k, 1.0),
        likelihoods.choice_probability(ce, k),
        rtol=1e-12,
    )
    # small noise: the argmax's step (grade ~ 1 as soon as p is clearly above 0)
    assert likelihoods.multiple_choice_grade_rate(np.array([1.0]), 4.0, 0.02)[0] > 0.999
    # check the closed form once by Monte Carlo: Gumbel noise on log-probabilities
    rng = np.random.default_rng(0)
    q = float(likelihoods.choice_probability(np.array([1.0]), 4.0)[0])
    log_probs = np.log([q, (1 - q) / 3, (1 - q) / 3, (1 - q) / 3])
    noisy = log_probs + 0.5 * rng.gumbel(size=(200_000, 4))
    simulated = np.mean(noisy.argmax(axis=1) == 0)
    exact = likelihoods.multiple_choice_grade_rate(np.array([1.0]), 4.0, 0.5)[0]
    assert simulated == pytest.approx(exact, abs=0.005)


def test_log_gamma_and_beta_binomial_match_scipy() -> None:
    z = np.geomspace(1e-10, 1e6, 400)
    np.testing.assert_allclose(likelihoods.log_gamma(z), special.gammaln(z), rtol=2e-9, atol=1e-7)
    n = np.array([10, 200, 1000, 1000, 50])
    k = np.array([0, 37, 1000, 3, 50])
    rate = np.array([1e-9, 0.2, 0.999, 0.01, 0.5])
    kappa = 40.0
    expected = stats.betabinom.logpmf(k, n, rate * kappa, (1 - rate) * kappa)
    np.testing.assert_allclose(
        likelihoods.beta_binomial_logp(k, n, rate, kappa), expected, rtol=1e-7, atol=1e-7
    )
    # the observed variable's log-probability in a model is the same
    with pm.Model() as model:
        likelihoods.beta_binomial(
            "y", n=n, rate=pt.as_tensor_variable(rate), kappa=kappa, observed=k, dims=None
        )
    np.testing.assert_allclose(pm.logp(model["y"], k).eval(), expected, rtol=1e-7, atol=1e-7)


def test_length_histograms_from_target_tokens() -> None:
    # an integer mean is a point mass; 3.4 splits 0.6 / 0.4 between 3 and 4, keeping the mean
    values, weights = mean_length_histogram(4.0)
    assert values.tolist() == [4.0] and weights.tolist() == [1.0]
    values, weights = mean_length_histogram(3.4)
    assert values.tolist() == [3.0, 4.0]
    np.testing.assert_allclose(weights, [0.6, 0.4])
    assert float(values @ weights) == pytest.approx(3.4)


# --------------------------------------------------------------------------------------------
# priors


def test_priors_override_by_key_and_reject_unknown() -> None:
    resolved = resolve_priors({"log_b_mu": {"sigma": 0.2}})
    assert resolved["log_b_mu"] == {
        "dist": "Normal",
        "mu": DEFAULT_PRIORS["log_b_mu"]["mu"],
        "sigma": 0.2,
    }
    assert DEFAULT_PRIORS["log_b_mu"]["sigma"] == 0.75  # defaults untouched
    assert resolve_priors({"floor": {"dist": "Exponential", "lam": 20.0}})["floor"] == {
        "dist": "Exponential",
        "lam": 20.0,
    }
    with pytest.raises(ConfigError, match="unknown prior 'slope'"):
        resolve_priors({"slope": {"sigma": 1.0}})
    with pytest.raises(ConfigError, match="takes the parameters"):
        resolve_priors({"a_mu": {"scale": 1.0}})


def test_prior_override_reaches_the_model() -> None:
    model = build_smooth_model(
        make_table(), priors={"a_sigma": {"dist": "HalfNormal", "sigma": 0.25}}
    )
    # HalfNormal(0.25) log-density at 0.5, evaluated through the model's log-transformed value
    logp = pm.logp(model["a_sigma"], 0.5).eval()
    assert float(logp) == pytest.approx(stats.halfnorm(scale=0.25).logpdf(0.5))


# --------------------------------------------------------------------------------------------
# builders: graphs and dims


def test_smooth_model_dims_coords_and_variables() -> None:
    table = make_table()
    model = build_smooth_model(table)
    labels = list(to_dataset(table)["curve"].to_numpy())
    assert list(model.coords["curve"]) == labels == ["arith/fam/0", "words/fam/0"]
    assert list(model.coords["obs"]) == list(range(len(table)))
    assert model.named_vars_to_dims["a"] == ("curve",)
    assert model.named_vars_to_dims["b"] == ("curve",)
    assert model.named_vars_to_dims["p_token"] == ("obs",)
    observed = sorted(v.name for v in model.observed_RVs)
    assert observed == ["obs_exact_match", "obs_log_likelihood"]
    em_rows = np.flatnonzero(table["metric_kind"] == "exact_match")
    assert model.named_vars_to_dims["obs_exact_match"] == ("exact_match_obs",)
    assert list(model.coords["exact_match_obs"]) == list(em_rows)
    assert "floor" not in model.named_vars
    assert {"a_mu", "log_b_mu", "a_sigma", "log_b_sigma", "ab_corr"} <= set(model.named_vars)
    # one task per curve here: no task effects
    assert "task_effect" not in model.named_vars
    # every deterministic and free variable has dims where it is not a scalar
    for var in model.free_RVs + model.deterministics:
        if var.ndim:
            assert model.named_vars_to_dims.get(var.name), var.name


def test_smooth_model_logp_is_finite_and_p_token_matches_latent() -> None:
    table = make_table()
    model = build_smooth_model(table, floor=True)
    assert model.named_vars_to_dims["floor"] == ("curve",)
    point = model.initial_point()
    point["a"] = np.array([0.3, -0.2])
    point["log_b"] = np.log([0.3, 0.5])
    point["floor_log__"] = np.log([0.01, 0.02])
    logps = model.point_logps(point)
    assert all(np.isfinite(v) for v in logps.values())
    p_token = model["p_token"].eval(
        {model["a"]: point["a"], model["log_b"]: point["log_b"], model["floor"]: [0.01, 0.02]}
    )
    x = np.log(table["params"].to_numpy()) - np.log(np.exp(np.mean(np.log(SIZES))))
    curve = (table["task"] == "words").to_numpy().astype(int)
    expected = np.exp(
        -(
            np.array([0.01, 0.02])[curve]
            + np.exp(np.array([0.3, -0.2])[curve] - np.array([0.3, 0.5])[curve] * x)
        )
    )
    np.testing.assert_allclose(p_token, expected, rtol=1e-10)


def test_pointwise_log_likelihood_finite_at_extreme_latent() -> None:
    # counts of 0 where the latent says p ~ 0, and full counts where p ~ 1: still finite
    table = make_table()
    table.loc[table["metric_kind"] == "exact_match", "score"] = [0, 0, 0, 1, 0, 0, 1, 1]
    model = build_smooth_model(table)
    for a_value in (40.0, -40.0):
        point = model.initial_point()
        point["a"] = np.full(2, a_value)
        logp = model.compile_logp(vars=model.observed_RVs, sum=False)(point)
        assert all(np.all(np.isfinite(v)) for v in logp)


def test_one_observed_variable_per_kind_with_kind_specific_parameters() -> None:
    kinds = (
        ("exact_str_match", "exact_match"),
        ("log_likelihood_per_word", "log_likelihood"),
        ("multiple_choice_grade", "multiple_choice_grade"),
        ("brier_sum", "brier"),
        ("edit_distance", "edit_distance"),
        ("pass@10", "pass_at_k"),
        ("acc", "accuracy"),
    )
    table = make_table(kinds=kinds, chance=0.25)
    model = build_smooth_model(table)
    observed = {v.name for v in model.observed_RVs}
    assert observed == {f"obs_{kind}" for _, kind in kinds}
    assert list(model.coords["count_kind"]) == [
        "exact_match",
        "pass_at_k",
        "accuracy",
        "multiple_choice_grade",
    ]
    assert "choice_noise" in model.named_vars
    assert model.named_vars_to_dims["tokens_per_unit"] == ("unit_series",)
    assert list(model.coords["unit_series"]) == [
        "arith/fam/0/log_likelihood_per_word",
        "words/fam/0/log_likelihood_per_word",
    ]
    prepared = prepare_evaluation(table)
    obs = prepared.observations
    # K = 1 / chance for grade, accuracy and (from the curve) Brier rows; k from 'pass@10'
    assert set(
        obs.n_choices[np.isin(obs.kind, ["multiple_choice_grade", "brier", "accuracy"])]
    ) == {4.0}
    assert set(obs.pass_k[obs.kind == "pass_at_k"]) == {10.0}
    assert np.isfinite(model.point_logps()["obs_brier"])


def test_subset_accuracy_rows_use_the_curves_accuracy() -> None:
    kinds = (("accuracy", "accuracy"), ("subset_accuracy_L4", "exact_match"))
    table = make_table(kinds=kinds, chance=0.1, target_tokens=4.0)
    obs = prepare_evaluation(table).observations
    subset_rows = obs.metric == "subset_accuracy_L4"
    assert obs.subset.tolist() == subset_rows.tolist()
    assert set(obs.n_choices[subset_rows]) == {10.0}  # K from the accuracy rows' chance
    model = build_smooth_model(table)
    assert "choice_noise" in model.named_vars
    # rate of a subset row = grade ** 4; check the model's log-likelihood at a chosen point
    point = model.initial_point()
    point["a"] = np.array([-0.5, 0.2])
    point["log_b"] = np.log([0.3, 0.3])
    point["choice_noise_log__"] = np.log(0.7)
    point["concentration_log__"] = np.log([1e6, 1e6])  # ~binomial
    logp = model.compile_logp(vars=[model["obs_exact_match"]], sum=False)(point)[0]
    ce = np.exp(point["a"][0] - 0.3 * (np.log(SIZES[0]) - np.mean(np.log(SIZES))))
    grade = likelihoods.multiple_choice_grade_rate(np.array([ce]), 10.0, 0.7)[0]
    count = round(table.loc[1, "score"] * 200)
    assert logp[0] == pytest.approx(stats.binom.logpmf(count, 200, grade**4), abs=0.01)


def test_excluded_kinds_and_fallbacks_warn_with_counts_and_curves() -> None:
    kinds = (("exact_str_match", "exact_match"), ("bleu", "bleu"), ("rouge1", "rouge"))
    table = make_table(kinds=kinds, n_items=None, target_tokens=None)
    with pytest.warns(UserWarning) as record:
        model = build_smooth_model(table)
    messages = [str(w.message) for w in record]
    # 2 tasks x 4 sizes of bleu and of rouge = 16 rows excluded, counted by kind
    assert any("16 rows (8 bleu, 8 rouge)" in m for m in messages)
    assert any(
        "8 rows have no n_items; 100 items are assumed" in m and "arith/fam/0" in m
        for m in messages
    )
    assert any("no answer lengths for curves arith/fam/0, words/fam/0" in m for m in messages)
    assert {v.name for v in model.observed_RVs} == {"obs_exact_match"}


def test_lengths_mapping_is_used_and_keyed_by_task_or_label() -> None:
    table = make_table(target_tokens=None, kinds=(("exact_str_match", "exact_match"),))
    lengths = {("arith", "arith"): np.array([1, 1, 3]), "words/fam/0": np.array([2, 2])}
    prepared = prepare_evaluation(table, lengths=lengths)
    obs = prepared.observations
    arith = np.flatnonzero(table["task"] == "arith")[0]
    words = np.flatnonzero(table["task"] == "words")[0]
    assert obs.length_values[arith].tolist() == [1.0, 3.0]
    np.testing.assert_allclose(obs.length_weights[arith], [2 / 3, 1 / 3])
    assert obs.length_values[words][obs.length_weights[words] > 0].tolist() == [2.0]


def test_noncentred_and_task_effects() -> None:
    table = pd.concat([make_table(family="f1"), make_table(family="f2")], ignore_index=True)
    model = build_smooth_model(table, centered=False)
    assert {"z_a", "z_log_b", "task_effect_z"} <= {v.name for v in model.free_RVs}
    assert model.named_vars_to_dims["task_effect"] == ("task", "param")
    assert list(model.coords["family"]) == ["f1", "f2"]
    assert model.named_vars_to_dims["a_mu"] == ("family",)
    centred = build_smooth_model(table)
    assert {"a", "log_b", "task_effect"} <= {v.name for v in centred.free_RVs}


def test_broken_model_variables_and_bounds() -> None:
    table = make_table()
    model = build_broken_model(table)
    for name in ("log_n_break", "break_level", "break_slope", "a", "b"):
        assert model.named_vars_to_dims[name] == ("curve",)
    # the break location is bounded by each curve's observed log N range
    low = pm.logp(model["log_n_break"], np.full(2, math.log(1e7) - 0.1)).eval()
    inside = pm.logp(model["log_n_break"], np.full(2, math.log(1e9))).eval()
    assert np.all(np.isneginf(low)) and np.all(np.isfinite(inside))
    assert np.all(np.isfinite(list(model.point_logps().values())))


def test_item_model_dims_and_likelihoods() -> None:
    rows = []
    for size in SIZES:
        for item, length in (("q1", 2.0), ("q2", 4.0), ("q3", 1.0)):
            rows.append(
                {
                    "task": "t",
                    "subtask": "t",
                    "family": "f",
                    "model": f"m{size:.0e}",
                    "params": size,
                    "shots": 0,
                    "item": item,
                    "target_tokens": length,
                    "logprob": -length * 0.5,
                    "correct": int(size > 1e8),
                    "choice_logprobs": (-0.1, -2.0, -3.0) if item == "q3" else None,
                    "source": "test",
                }
            )
    items = pd.DataFrame(rows)
    model = build_item_model(items)
    assert list(model.coords["item"]) == ["t/t/q1", "t/t/q2", "t/t/q3"]
    assert model.named_vars_to_dims["item_difficulty"] == ("item",)
    assert {v.name for v in model.observed_RVs} == {"obs_logprob", "obs_correct"}
    assert len(model.coords["logprob_obs"]) == 12
    assert "choice_noise" in model.named_vars  # q3 is multiple choice
    assert all(np.isfinite(v) for v in model.point_logps().values())


def test_builders_reject_bad_tables() -> None:
    table = make_table().drop(columns="score")
    with pytest.raises(Exception, match="missing column"):
        build_smooth_model(table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match="n_ref"):
            build_smooth_model(make_table(), n_ref=-1.0)
