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
from scipy import stats

from emergestats import metrics
from emergestats.data.table import to_dataset
from emergestats.errors import ConfigError, DataFormatError
from emergestats.models import (
    DEFAULT_PRIORS,
    build_broken_model,
    build_item_model,
    build_smooth_model,
    forward,
    latent,
    prepare_evaluation,
    resolve_priors,
)
from emergestats.models.builders import choose_centering, length_histogram, mean_length_histogram

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
    # sampled as exp(mu + sigma z): another distribution was a KeyError deep in the builder
    with pytest.raises(ConfigError, match="'tokens_per_word' must be LogNormal"):
        resolve_priors({"tokens_per_word": {"dist": "HalfNormal", "sigma": 1.0}})


def test_prior_override_reaches_the_model() -> None:
    model = build_smooth_model(
        make_table(), priors={"a_sigma": {"dist": "HalfNormal", "sigma": 0.25}}
    )
    # HalfNormal(0.25) log-density at 0.5, evaluated through the model's log-transformed value
    logp = pm.logp(model["a_sigma"], 0.5).eval()
    assert float(logp) == pytest.approx(stats.halfnorm(scale=0.25).logpdf(0.5))


def test_families_of_one_curve_integrate_their_means_out() -> None:
    # a family with one curve cannot inform its means: they are integrated out (the prior of
    # the curve is unchanged: tests/test_prior_predictive.py compares it with the numpy sampler)
    one = build_smooth_model(make_table(tasks=("arith",)))
    assert not {v.name for v in one.free_RVs} & {"a_mu", "log_b_mu"}
    assert "family_pooled" not in one.coords
    two_solo = pd.concat(
        [make_table(tasks=("arith",), family="f1"), make_table(tasks=("arith",), family="f2")]
    )
    solo_model = build_smooth_model(two_solo)
    assert "a_mu" not in solo_model.named_vars
    # each curve's a: Normal(E[a_mu], sqrt(sd(a_mu)^2 + a_sigma^2)) over a_sigma's prior
    a = pm.draw(solo_model["a"], draws=40_000, random_seed=1)
    second_moment = math.exp(2 * math.log(0.8) + 2 * 0.5**2)  # E[a_sigma^2], LogNormal prior
    np.testing.assert_allclose(a.std(axis=0), math.sqrt(1.0 + second_moment), rtol=0.03)
    np.testing.assert_allclose(a.mean(axis=0), -1.0, atol=0.03)
    # a family of two curves keeps its means
    mixed = pd.concat([make_table(family="f1"), make_table(tasks=("arith",), family="f2")])
    model = build_smooth_model(mixed)
    assert model.coords["family_pooled"] == ("f1",)
    assert model["a_mu"].eval().shape == (1,)


# --------------------------------------------------------------------------------------------
# builders: graphs and dims


def test_pointwise_log_likelihood_finite_at_extreme_latent() -> None:
    # counts of 0 where the latent says p ~ 0, and full counts where p ~ 1: still finite
    table = make_table()
    table.loc[table["metric_kind"] == "exact_match", "score"] = [0, 0, 0, 1, 0, 0, 1, 1]
    model = build_smooth_model(table, centered=True)
    for a_value in (40.0, -40.0):
        point = model.initial_point()
        point["a_centred"] = np.full(2, a_value)
        logp = model.compile_logp(vars=model.observed_RVs, sum=False)(point)
        assert all(np.all(np.isfinite(v)) for v in logp)


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


def _per_word_table(*, mixed: bool = True) -> pd.DataFrame:
    """Curve ``words``: per-word log-likelihoods only; curve ``mixed``: the same plus an
    exact match in tokens (which pins its level apart from the tokens per word), or another
    per-word-only curve ``words2`` with ``mixed=False``. One family."""
    table = make_table(tasks=("words", "mixed" if mixed else "words2"))
    table = table[
        ~(table["task"].str.startswith("words") & (table["metric_kind"] == "exact_match"))
    ]
    table = table.reset_index(drop=True)
    table["unit"] = np.where(table["metric_kind"] == "log_likelihood", "word", "token")
    return table


def _levels_after_moving_the_ratio(
    model: pm.Model, name: str = "a"
) -> tuple[np.ndarray, np.ndarray]:
    """``name`` (default ``a``) at the model's initial point, and with ``tokens_per_unit_z``
    one higher (the sampler's other coordinates held)."""
    a_of = pytensor.function(
        model.value_vars, model.replace_rvs_by_values([model[name]])[0], on_unused_input="ignore"
    )
    point = model.initial_point()
    before = a_of(*(point[v.name] for v in model.value_vars))
    point["tokens_per_unit_z"] = point["tokens_per_unit_z"] + 1.0
    return before, a_of(*(point[v.name] for v in model.value_vars))


@pytest.mark.parametrize("builder", [build_smooth_model, build_broken_model])
def test_a_per_word_only_curve_samples_its_level_plus_log_tokens_per_word(builder) -> None:
    model = builder(_per_word_table(), centered=True)
    assert "tokens_per_unit_z" in model.named_vars
    # the family (not all per word) keeps its own mean whatever the ratio (its mean may still
    # be sampled as ``a_mu_shifted``: the item-sd shear of curves that do not inform their
    # own item sd moves it with the pooled item sd, not with the ratio)
    np.testing.assert_allclose(*_levels_after_moving_the_ratio(model, "a_mu"))
    before, after = _levels_after_moving_the_ratio(model)
    words, mixed = (list(model.coords["curve"]).index(c) for c in ("words/fam/0", "mixed/fam/0"))
    # the sampler's coordinate of the per-word curve is a + log tokens-per-word: moving the
    # ratio by one prior sd (0.3 on the log scale) moves a by minus that; the mixed curve's a
    # is its own coordinate
    assert after[words] - before[words] == pytest.approx(-0.3)
    assert after[mixed] == pytest.approx(before[mixed])
    # non-centred curves keep their z: no curve is sheared, and the family (not all per word)
    # keeps its own mean
    noncentred = builder(_per_word_table(), centered=False)
    before, after = _levels_after_moving_the_ratio(noncentred)
    np.testing.assert_allclose(after, before)


def test_metric_likelihoods_make_the_unit_ratio_when_not_given_one() -> None:
    # the builders make the ratio before the curves; a notebook calling the likelihood step
    # alone gets it made there (no shear: no curves)
    from emergestats.models.likelihoods import add_metric_likelihoods

    data = prepare_evaluation(_per_word_table())
    n = len(data.observations.score)
    with pm.Model(coords=data.coords()) as model:
        add_metric_likelihoods(
            pt.ones(n) * 0.5, pt.ones(n) * 0.3, data.observations, resolve_priors(None)
        )
    assert {"tokens_per_unit_z", "tokens_per_unit"} <= set(model.named_vars)
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_a_family_of_per_word_only_curves_samples_its_mean_plus_log_tokens_per_word() -> None:
    model = build_smooth_model(_per_word_table(mixed=False), centered=False)
    assert {"a_mu_shifted", "z_a"} <= set(model.named_vars)
    assert model["a_mu"] not in model.free_RVs  # deterministic: a_mu_shifted - deviation
    before, after = _levels_after_moving_the_ratio(model)
    np.testing.assert_allclose(after - before, [-0.3, -0.3], rtol=1e-6)


@pytest.mark.parametrize(("mixed", "centered"), [(True, True), (False, False)])
def test_the_shear_leaves_the_prior_unchanged(mixed: bool, centered: bool) -> None:
    model = build_smooth_model(_per_word_table(mixed=mixed), centered=centered)
    names = ["a", "tokens_per_unit"] + ([] if mixed else ["a_mu"])
    prior = pm.sample_prior_predictive(
        draws=4000, model=model, var_names=names, random_seed=3
    ).prior
    a = prior["a"].to_numpy().reshape(-1, 2)
    log_ratio = np.log(prior["tokens_per_unit"].to_numpy().reshape(-1))
    # tokens per word: LogNormal(log 1.3, 0.3), independent of both curves' levels
    assert log_ratio.mean() == pytest.approx(math.log(1.3), abs=0.02)
    assert log_ratio.std() == pytest.approx(0.3, rel=0.05)
    for curve in range(2):
        assert abs(np.corrcoef(a[:, curve], log_ratio)[0, 1]) < 0.05
    # and the two curves' levels have one prior (the population's)
    assert a[:, 0].std() == pytest.approx(a[:, 1].std(), rel=0.08)
    assert a[:, 0].mean() == pytest.approx(a[:, 1].mean(), abs=0.1)
    if not mixed:  # the family mean: Normal(-1, 1) whatever the ratio
        a_mu = prior["a_mu"].to_numpy().reshape(-1)
        assert a_mu.mean() == pytest.approx(-1.0, abs=0.05)
        assert a_mu.std() == pytest.approx(1.0, rel=0.05)
        assert abs(np.corrcoef(a_mu, log_ratio)[0, 1]) < 0.05


def _values_at(model: pm.Model, names: list[str], point: dict) -> dict[str, np.ndarray]:
    """The model's variables ``names`` at a point of its free (value) variables."""
    evaluate = pytensor.function(
        model.value_vars,
        model.replace_rvs_by_values([model[n] for n in names]),
        on_unused_input="ignore",
    )
    return dict(zip(names, evaluate(**point), strict=True))


@pytest.mark.parametrize("choice", [True, False])
def test_choice_curves_follow_the_item_sd_they_inform(choice: bool) -> None:
    """Curves read only through the choices (here grade and Brier) inform their item sd and
    their lines follow it (``builders._follows_own_item_sd``): moving the pooled curves' mean log
    item sd, the sampler's other coordinates held, moves their levels. A curve with a free
    answer's log-likelihood (which reads the mean CE whatever the spread) is not sheared."""
    if choice:
        kinds = (("brier_score", "brier"), ("multiple_choice_grade", "multiple_choice_grade"))
        table = make_table(kinds=kinds, chance=0.25, target_tokens=None)
    else:
        table = make_table()  # exact match and log-likelihood
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, centered=True)
    point = model.initial_point()
    rng = np.random.default_rng(3)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
    moved = {**point, "item_sd_log_mean": point["item_sd_log_mean"] + 0.5}
    before = _values_at(model, ["a", "item_sd"], point)
    after = _values_at(model, ["a", "item_sd"], moved)
    assert np.allclose(np.log(after["item_sd"] / before["item_sd"]), 0.5)
    change = np.abs(after["a"] - before["a"])
    assert np.all(change > 1e-3) if choice else np.all(change == 0.0)


@pytest.mark.parametrize("followed", ["item_sd_median", "choice_noise"])
def test_curves_that_follow_a_pooled_map_parameter_keep_the_textbook_prior_density(
    followed: str,
) -> None:
    """A centred curve's ``(a, log b)`` is sampled as it would be read at the prior medians.

    The free variables are ``a`` less its line's change with the followed parameter's log
    (interpolated between the lines read over its prior range; the parameter is the pooled
    item sd of curves with one count metric, the argmax noise of curves seen only through
    multiple-choice grades), and the same for ``log b``
    (:func:`emergestats.models.centering.line_sensitivity`): shears of unit Jacobian. At a
    random point the model's log density of those free variables equals scipy's bivariate
    normal density of ``(a, log b)`` around the family means.
    """
    from emergestats.models.centering import line_sensitivity
    from emergestats.models.priors import resolve_priors

    if followed == "item_sd_median":
        # one count metric per curve: no curve informs its own item sd, the pooled one serves
        table = make_table(kinds=(("exact_str_match", "exact_match"),))
    else:
        kinds = (("multiple_choice_grade", "multiple_choice_grade"),)
        table = make_table(kinds=kinds, chance=0.25, target_tokens=None)
    sensitivity = line_sensitivity(prepare_evaluation(table), resolve_priors(None), followed)
    # five readings per curve, none moved at the median; both curves' lines follow, and
    # not linearly: the slopes between readings differ
    assert sensitivity.a.shape == sensitivity.log_b.shape == (5, 2)
    assert np.all(sensitivity.a[2] == 0.0) and sensitivity.following().all()
    assert np.ptp(np.diff(sensitivity.a, axis=0), axis=0).min() > 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, centered=True)
    assert {"a_mu_shifted", "log_b_mu_shifted", followed} <= set(model.named_vars)
    point = model.initial_point()
    rng = np.random.default_rng(11)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
    names = ["a", "log_b", "a_mu", "log_b_mu", "a_sigma", "log_b_sigma", "ab_corr", "a_centred"]
    values = _values_at(model, names, point)
    # the free level is not a where the parameter is away from its prior median, and moving
    # the parameter (the sampler's other coordinates held) moves a
    assert np.all(np.abs(values["a_centred"] - values["a"]) > 1e-3)
    a_of = pytensor.function(
        model.value_vars, model.replace_rvs_by_values([model["a"]])[0], on_unused_input="ignore"
    )
    moved = {**point, f"{followed}_log__": point[f"{followed}_log__"] + 0.5}
    assert np.all(np.abs(a_of(**moved) - a_of(**point)) > 1e-3)
    free = ["a_centred", "log_b_centred", "a_mu_shifted", "log_b_mu_shifted"]
    model_logp = float(model.compile_logp(vars=[model[n] for n in free])(point))
    sa, sb, rho = values["a_sigma"], values["log_b_sigma"], values["ab_corr"]
    cov = np.array([[sa**2, rho * sa * sb], [rho * sa * sb, sb**2]])
    textbook = sum(
        stats.multivariate_normal([values["a_mu"][0], values["log_b_mu"][0]], cov).logpdf(
            [values["a"][c], values["log_b"][c]]
        )
        for c in range(2)
    )
    # and the family means keep their priors, Normal(-1, 1) and Normal(log 0.3, 0.75)
    textbook += stats.norm(-1.0, 1.0).logpdf(values["a_mu"][0])
    textbook += stats.norm(math.log(0.3), 0.75).logpdf(values["log_b_mu"][0])
    assert model_logp == pytest.approx(textbook, abs=1e-6)


def test_a_centred_curve_is_sampled_at_its_own_sizes_with_the_textbook_prior() -> None:
    """A centred ``a`` is sampled as its line's level at the curve's own sizes.

    Two families of one curve each, their sizes two decades either side of ``N_ref``: read at
    ``N_ref``, each curve's level and slope lie on a ridge (ObsScaling's 2-digit addition: 2-9
    divergences on every seed). The free ``a_centred`` is ``a - b (log N* - log N_ref)`` with
    ``N*`` inside the curve's sizes; a shear of unit Jacobian given ``log b``: the model's log
    density of the free variables is scipy's bivariate normal of ``(a, log b)``.
    """
    table = make_table(tasks=("arith",), family="small")
    big = make_table(tasks=("arith",), family="big")
    table["params"] = table["params"] / 100.0
    big["params"] = big["params"] * 100.0
    table = pd.concat([table, big], ignore_index=True)
    data = prepare_evaluation(table)
    reference = choose_centering(data)["curve_reference"]
    small, large = (list(data.curve_labels).index(f"arith/{f}/0") for f in ("small", "big"))
    for curve in (small, large):
        own = data.cell_x[data.cell_curve == curve]
        assert own.min() < reference[curve] < own.max()
    assert reference[small] < -2.0 and reference[large] > 2.0
    model = build_smooth_model(table, centered=True)
    point = model.initial_point()
    rng = np.random.default_rng(5)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
    names = ["a", "log_b", "a_sigma", "log_b_sigma", "ab_corr", "a_centred"]
    values = _values_at(model, names, point)
    np.testing.assert_allclose(
        values["a_centred"], values["a"] - np.exp(values["log_b"]) * reference, rtol=1e-9
    )
    model_logp = float(model.compile_logp(vars=[model["a_centred"], model["log_b_centred"]])(point))
    sa, sb, rho = values["a_sigma"], values["log_b_sigma"], values["ab_corr"]
    # a family of one curve: its means' prior variances, Normal(-1, 1) and Normal(log 0.3,
    # 0.75), are added to the population's
    cov = np.array([[sa**2 + 1.0, rho * sa * sb], [rho * sa * sb, sb**2 + 0.75**2]])
    textbook = sum(
        stats.multivariate_normal([-1.0, math.log(0.3)], cov).logpdf(
            [values["a"][c], values["log_b"][c]]
        )
        for c in range(2)
    )
    assert model_logp == pytest.approx(textbook, abs=1e-6)


def test_a_followed_line_moves_one_way_over_the_parameters_prior_range() -> None:
    """The followed change never turns back over two prior sds either side of the median.

    Near the floor (OPT's 3-digit subtraction before its jump: 0.15-1.9% of 2,000 answers) a
    quadratic through three readings turned back half a prior sd below the median (a larger
    item sd read a *steeper* line; that fit failed, R-hat 1.058 on ``log_b_centred``). Read on
    the model's ``log CE`` grid, these rows fell off its edge above the median, and the line
    left was read flat (a 2.2 drop of ``log b``); on the follow's wider grid they are read,
    and the interpolant is monotone between readings.
    """
    from emergestats.models.centering import line_sensitivity
    from emergestats.models.priors import resolve_priors

    table = make_table(
        tasks=("sub",),
        kinds=(("exact_str_match", "exact_match"),),
        target_tokens=3.5,
        n_items=2000,
    )
    table["score"] = [0.0015, 0.0030, 0.0045, 0.019]
    priors = resolve_priors(None)
    sensitivity = line_sensitivity(prepare_evaluation(table), priors, "item_sd_median")
    reach = 2.0 * priors["item_sd_median"]["sigma"]
    moved = np.linspace(-reach, reach, 121)
    for which in ("a", "log_b"):
        change = np.array([sensitivity.change(which, d)[0] for d in moved])
        assert np.ptp(change) > 0.3  # the line does follow the item sd
        assert (np.diff(change) >= 0.0).all()  # a larger item sd reads a higher, steeper line


def test_a_curve_that_reads_the_correct_choice_directly_does_not_follow_the_argmax_noise() -> None:
    # grade and Brier of the same outputs: the Brier rows pin the correct choice's probability
    kinds = (("multiple_choice_grade", "multiple_choice_grade"), ("brier", "brier"))
    table = make_table(kinds=kinds, chance=0.25, target_tokens=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, centered=True)
    # its line follows the item sd it informs (test_choice_curves_follow_the_item_sd_they_inform),
    # not the noise
    assert "choice_noise" in model.named_vars
    a_of = pytensor.function(
        model.value_vars, model.replace_rvs_by_values([model["a"]])[0], on_unused_input="ignore"
    )
    point = model.initial_point()
    before = a_of(**point)
    point["choice_noise_log__"] = point["choice_noise_log__"] + 0.5
    np.testing.assert_allclose(a_of(**point), before)


def test_builders_reject_bad_tables() -> None:
    table = make_table().drop(columns="score")
    with pytest.raises(Exception, match="missing column"):
        build_smooth_model(table)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match="n_ref"):
            build_smooth_model(make_table(), n_ref=-1.0)
    # "auto" is es.fit's option; a builder says what to pass instead of failing on the string
    with pytest.raises(ConfigError, match=r"lengths='auto'.*default_lengths\(table\)"):
        build_smooth_model(make_table(), lengths="auto")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# the measurement model: roles, maps, cells, items


def test_forward_maps_without_item_spread_agree_with_metrics_module() -> None:
    ce = np.array([0.05, 0.7, 3.0])
    p = np.exp(-ce)
    lengths = np.array([1.0, 2.0, 2.0, 5.0])
    values, weights = length_histogram(lengths)
    assert values.tolist() == [1.0, 2.0, 5.0]
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.25])
    lv, lw = np.tile(values, (3, 1)), np.tile(weights, (3, 1))
    zero = np.zeros(3)
    np.testing.assert_allclose(
        forward.exact_match(ce, zero, lv, lw), metrics.exact_match(p, lengths), rtol=1e-12
    )
    np.testing.assert_allclose(
        forward.pass_at_k(ce, zero, lv, lw, np.full(3, 10.0)),
        metrics.pass_at_k(p, lengths, 10),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        forward.edit_distance(ce, zero, lv, lw)[0], metrics.edit_distance(p, lengths)
    )
    np.testing.assert_allclose(
        forward.log_likelihood(ce, zero, np.full(3, lengths.mean()), np.full(3, 1.0))[0],
        metrics.log_likelihood(p, lengths),
    )
    q = forward.choice_probability(ce, 4.0)
    np.testing.assert_allclose(q, 0.25 + 0.75 * p)
    for form, name in ((0, "mean"), (1, "sum")):
        np.testing.assert_allclose(
            forward.brier(ce, zero, np.full(3, 4.0), np.full(3, form), 0.0)[0],
            metrics.expected_brier_score(q, 4.0, form=name),
        )


def test_grade_is_chance_at_zero_and_q_at_unit_noise() -> None:
    k = np.array([2.0, 4.0, 10.0])
    zero = np.zeros(3)
    np.testing.assert_allclose(forward.grade(np.full(3, 50.0), zero, k, 0.3), 1.0 / k, rtol=1e-9)
    ce = np.array([0.2, 1.0, 2.5])
    np.testing.assert_allclose(
        forward.grade(ce, zero, k, 1.0), forward.choice_probability(ce, k), rtol=1e-12
    )
    rng = np.random.default_rng(0)
    q = float(forward.choice_probability(np.array([1.0]), 4.0)[0])
    log_probs = np.log([q, (1 - q) / 3, (1 - q) / 3, (1 - q) / 3])
    noisy = log_probs + 0.5 * rng.gumbel(size=(200_000, 4))
    simulated = np.mean(noisy.argmax(axis=1) == 0)
    exact = forward.grade(np.array([1.0]), np.zeros(1), np.array([4.0]), 0.5)[0]
    assert simulated == pytest.approx(exact, abs=0.005)


def test_mean_length_histogram_is_a_dispersed_shifted_poisson() -> None:
    values, weights = mean_length_histogram(1.0)
    assert values.tolist() == [1.0] and weights.tolist() == [1.0]
    values, weights = mean_length_histogram(3.4)
    assert float(values @ weights) == pytest.approx(3.4, abs=0.01)
    assert len(values) > 3  # not a two-point split
    variance = float(values**2 @ weights) - 3.4**2
    assert variance == pytest.approx(2.4, rel=0.05)  # Poisson(mean - 1), truncated


def test_smooth_model_dims_coords_and_variables() -> None:
    table = make_table()
    model = build_smooth_model(table)
    labels = list(to_dataset(table)["curve"].to_numpy())
    assert list(model.coords["curve"]) == labels == ["arith/fam/0", "words/fam/0"]
    assert list(model.coords["obs"]) == list(range(len(table)))
    assert len(model.coords["cell"]) == 2 * len(SIZES)
    assert model.named_vars_to_dims["cell_deviation"] == ("cell",)
    assert model.named_vars_to_dims["item_sd"] == ("curve",)
    observed = sorted(v.name for v in model.observed_RVs)
    assert observed == ["obs_exact_match", "obs_log_likelihood"]
    em_rows = np.flatnonzero(table["metric_kind"] == "exact_match")
    assert model.named_vars_to_dims["obs_exact_match"] == ("exact_match_obs",)
    assert model.named_vars_to_dims["mu_exact_match"] == ("exact_match_obs",)
    assert list(model.coords["exact_match_obs"]) == list(em_rows)
    assert "floor" not in model.named_vars
    assert "task_effect" not in model.named_vars
    for var in model.free_RVs + model.deterministics:
        if var.ndim:
            assert model.named_vars_to_dims.get(var.name), var.name


def test_a_greedy_match_per_word_is_scored_from_the_word_ce_and_the_rival_share() -> None:
    """LAMBADA-like curve: per-word log-likelihood and greedy accuracy of the same outputs."""
    table = make_table(
        tasks=("words",), kinds=(("loglik", "log_likelihood"), ("acc", "greedy_match"))
    )
    table["unit"] = "word"
    model = build_smooth_model(table, centered=True)
    assert {"rival_share", "obs_greedy_match", "tokens_per_unit"} <= set(model.named_vars)
    # both metrics see tokens-per-word times the token CE: the curve is sheared as a
    # per-word-only one (its sampled level is a + log tokens per word)
    before, after = _levels_after_moving_the_ratio(model)
    assert after - before == pytest.approx([-0.3])
    names = ["log_ce", "item_sd", "tokens_per_unit", "rival_share", "mu_greedy_match"]
    values = pytensor.function(
        model.value_vars,
        model.replace_rvs_by_values([model[n] for n in names]),
        on_unused_input="ignore",
    )
    point = model.initial_point()
    point["rival_share_logodds__"] = np.array(-0.7)
    log_ce, item_sd, ratio, share, rate = values(*(point[v.name] for v in model.value_vars))
    data = prepare_evaluation(table, warn=False)
    rows = data.observations.rows_of("greedy_match")
    word_ce = ratio[0] * np.exp(log_ce[data.cell_index[rows]])
    one = np.ones((len(rows), 1))
    expected = forward.greedy_match(word_ce, item_sd[data.curve_index[rows]], one, one, share)
    np.testing.assert_allclose(rate, expected, rtol=1e-9)
    n = data.observations.n_items[rows]
    counts = np.rint(data.observations.score[rows] * n)
    logp = model.compile_logp(vars=[model["obs_greedy_match"]])(point)
    assert logp == pytest.approx(stats.binom.logpmf(counts, n, expected).sum(), rel=1e-9)


def test_every_role_and_its_parameters() -> None:
    kinds = (
        ("exact_str_match", "exact_match"),
        ("log_likelihood", "log_likelihood"),
        ("multiple_choice_grade", "multiple_choice_grade"),
        ("brier_sum", "brier"),
        ("pass@10", "pass_at_k"),
        ("acc", "accuracy"),
    )
    table = make_table(kinds=kinds, chance=0.25)
    with pytest.warns(UserWarning, match="fixed multiple"):
        model = build_smooth_model(table)
    observed = {v.name for v in model.observed_RVs}
    # a curve with choices reads its log-likelihood as the correct choice's; make_table gives
    # pass@10 the same scores as exact match, so it is left out as repeated evidence
    assert observed == {
        "obs_exact_match",
        "obs_choice_log_likelihood",
        "obs_grade",
        "obs_brier",
    }
    assert {"choice_noise", "distractor_concentration"} <= set(model.named_vars)
    obs = prepare_evaluation(table, warn=False).observations
    assert set(obs.n_choices[np.isin(obs.kind, ["multiple_choice_grade", "brier"])]) == {4.0}
    assert set(obs.pass_k[obs.kind == "pass_at_k"]) == {10.0}
    # accuracy and grade of the same outputs: one is repeated evidence of the other
    assert obs.exclusions().sum() >= 8
    assert np.isfinite(model.point_logps()["obs_brier"])


def test_repeated_evidence_is_left_out_with_a_note() -> None:
    kinds = (("brier_mean", "brier"), ("brier_sum", "brier"), ("acc", "accuracy"))
    table = make_table(kinds=kinds, chance=0.25)
    table.loc[table["metric"] == "brier_sum", "score"] = (
        4 * table.loc[table["metric"] == "brier_mean", "score"].to_numpy()
    )
    with pytest.warns(UserWarning, match="fixed multiple of another row"):
        obs = prepare_evaluation(table).observations
    excluded = obs.metric[~obs.modelled]
    assert set(excluded) == {"brier_sum"}
    assert all("brier_mean" in reason for reason in obs.excluded[~obs.modelled])


def test_intermediate_training_checkpoints_are_left_out_with_a_count() -> None:
    final = make_table().assign(step=143000)
    early = final.assign(step=1000, model=final["model"] + "@1000", score=final["score"] * 0.5)
    early = early[early["params"] > SIZES[0]]  # the smallest size has its last step only
    table = pd.concat([early, final], ignore_index=True)
    with pytest.warns(UserWarning, match=r"intermediate training checkpoint"):
        obs = prepare_evaluation(table).observations
    assert (~obs.modelled).sum() == len(early)
    assert not obs.modelled[: len(early)].any() and obs.modelled[len(early) :].all()
    # without a step column, or at one step, nothing is left out
    assert prepare_evaluation(final).observations.modelled.all()


def test_accuracy_without_choices_is_excluded_never_chance_zero() -> None:
    table = make_table(kinds=(("acc", "accuracy"), ("log_likelihood", "log_likelihood")))
    with pytest.warns(UserWarning, match=r"8 accuracy rows have no known number of choices"):
        obs = prepare_evaluation(table).observations
    assert not obs.modelled[obs.kind == "accuracy"].any()


def _two_rule_table() -> pd.DataFrame:
    """Grades under two decision rules (``acc``, ``acc_norm``): ``arith`` has both, ``words``
    only ``acc_norm``, ``count`` only ``acc``."""
    kinds = (("acc", "accuracy"), ("acc_norm", "accuracy"))
    table = make_table(tasks=("arith", "words", "count"), kinds=kinds, chance=0.25)
    other = table["metric"] == "acc_norm"
    # lower by a non-constant amount, so acc_norm is not a fixed multiple of acc
    table.loc[other, "score"] -= 0.02 + 0.01 * (np.arange(other.sum()) % 3)
    drop = ((table["task"] == "words") & ~other) | ((table["task"] == "count") & other)
    return table[~drop].reset_index(drop=True)


def test_a_second_decision_rule_gets_its_own_logit_shift_per_curve() -> None:
    table = _two_rule_table()
    prepared = prepare_evaluation(table)
    obs = prepared.observations
    assert obs.modelled.all() and set(obs.role) == {"grade"}
    labels = obs.decision_rule
    arith_norm = (prepared.table["task"] == "arith").to_numpy() & (obs.metric == "acc_norm")
    assert arith_norm.sum() == len(SIZES)
    assert set(labels[arith_norm]) == {"arith/fam/0 acc_norm"}
    # words is graded by acc_norm alone: its rows stand for the plain argmax, no shift
    assert set(labels[~arith_norm]) == {""}
    model = build_smooth_model(table)
    assert list(model.coords["decision_rule"]) == ["arith/fam/0 acc_norm"]
    assert model.named_vars_to_dims["rule_shift"] == ("decision_rule",)
    # the shift moves exactly the rows under the other rule, upwards on the logit
    mu = pytensor.function(
        model.value_vars,
        model.replace_rvs_by_values([model["mu_grade"]])[0],
        on_unused_input="ignore",
    )
    point = model.initial_point()
    before = mu(*(point[v.name] for v in model.value_vars))
    point["rule_shift"] = np.array([0.5])
    after = mu(*(point[v.name] for v in model.value_vars))
    rows = np.asarray(model.coords["grade_obs"])
    moved = arith_norm[rows]
    assert np.all(after[moved] > before[moved]) and np.array_equal(after[~moved], before[~moved])


def test_subset_accuracy_without_its_accuracy_row_uses_grade_to_the_power_l() -> None:
    kinds = (("subset_accuracy_L4", "exact_match"),)
    table = make_table(kinds=kinds, chance=1e-4, target_tokens=4.0)
    table["n_choices"] = 10.0
    obs = prepare_evaluation(table).observations
    assert set(obs.role) == {"subset"}
    assert set(obs.subset_size) == {4.0} and set(obs.n_choices) == {10.0}
    model = build_smooth_model(table)
    assert "choice_noise" in model.named_vars
    assert np.isfinite(model.point_logps()["obs_subset"])


def test_excluded_kinds_and_fallbacks_warn_with_counts_and_curves() -> None:
    kinds = (("exact_str_match", "exact_match"), ("bleu", "bleu"), ("rouge1", "rouge"))
    table = make_table(kinds=kinds, n_items=None, target_tokens=None)
    with pytest.warns(UserWarning) as record:
        model = build_smooth_model(table)
    messages = [str(w.message) for w in record]
    assert any(
        "8 rows have no n_items; 100 items are assumed" in m and "arith/fam/0" in m
        for m in messages
    )
    assert any("no answer lengths for curves arith/fam/0, words/fam/0" in m for m in messages)
    assert {v.name for v in model.observed_RVs} == {"obs_exact_match"}
    obs = prepare_evaluation(table, warn=False).observations
    assert obs.exclusions()["no forward map for this metric kind"] == 16


def test_token_edit_distance_longer_than_the_answer_is_refused() -> None:
    table = make_table(kinds=(("edit_distance", "edit_distance"),), target_tokens=3.0)
    table["score"] = 40.0
    with pytest.raises(DataFormatError, match="Set the 'unit' column"):
        prepare_evaluation(table)


def test_centering_is_chosen_by_the_data_or_forced() -> None:
    table = pd.concat([make_table(family="f1"), make_table(family="f2")], ignore_index=True)
    model = build_smooth_model(table, centered=False)
    assert {"z_a", "z_log_b", "task_effect_z"} <= {v.name for v in model.free_RVs}
    assert model.named_vars_to_dims["task_effect"] == ("task", "param")
    assert model.named_vars_to_dims["a"] == ("curve",)
    assert list(model.coords["family"]) == ["f1", "f2"]
    # two curves per family (< 3): the family mean and its curves are one ridge either way, so
    # the data choose non-centred curves; cells: a boolean per (curve, model) cell
    chosen = choose_centering(prepare_evaluation(table))
    centred_a, centred_log_b = chosen["curve"]
    assert not centred_a.any() and not centred_log_b.any() and chosen["task"] is False
    assert chosen["cell"].shape == (16,) and chosen["cell"].dtype == bool
    forced = build_smooth_model(table, centered=True)
    assert {"a_centred", "log_b_centred", "task_effect"} <= {v.name for v in forced.free_RVs}
    assert not {"z_a", "z_log_b"} & {v.name for v in forced.free_RVs}


def test_broken_model_has_the_floor_too() -> None:
    model = build_broken_model(make_table(), floor=True)
    assert model.named_vars_to_dims["floor"] == ("curve",)
    assert {"cell_deviation", "item_sd"} <= set(model.named_vars)


def test_lure_auto_is_in_the_model_only_where_a_choice_row_is_below_chance() -> None:
    kinds = (("multiple_choice_grade", "multiple_choice_grade"),)
    above = make_table(kinds=kinds, chance=0.25, target_tokens=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(above)
        assert "lure" not in model.named_vars
        assert model.emergestats_build["lure"] is False
        below = above.copy()
        # 30 of 200 right with four choices: 3.3 binomial standard errors below chance
        below.loc[below["params"] == SIZES[0], "score"] = 0.15
        model = build_smooth_model(below)
        assert "lure" in model.named_vars and model.emergestats_build["lure"] is True
        assert "lure" not in build_smooth_model(below, lure=False).named_vars
        # within two standard errors of chance is not evidence of a lure
        near = above.copy()
        near.loc[near["params"] == SIZES[0], "score"] = 0.24
        assert "lure" not in build_smooth_model(near).named_vars
    with pytest.raises(ConfigError, match="lure must be True, False or 'auto'"):
        build_smooth_model(above, lure="sometimes")


def test_probability_noise_auto_reads_confident_guessing_from_the_brier_scores() -> None:
    """Grades at chance with a correct-choice Brier worse than chance's: the probabilities
    carry the argmax's noise (no lure needed); beyond ``1 - 1/K`` only a lure can do it."""
    kinds = (("multiple_choice_grade", "multiple_choice_grade"), ("tc_brier", "brier"))
    table = make_table(kinds=kinds, chance=0.25, target_tokens=None)
    smallest = table["params"] == SIZES[0]
    brier = table["metric"] == "tc_brier"
    table.loc[brier, "score"] = 0.4  # better than chance's 0.5625 everywhere
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        calibrated = build_smooth_model(table)
        assert calibrated.emergestats_build["probability_noise"] is False
        assert "choice_noise" in calibrated.named_vars  # the grades' argmax
        guessing = table.copy()
        guessing.loc[brier & smallest, "score"] = 0.65  # worse than (1 - 1/4)^2, under 3/4
        model = build_smooth_model(guessing)
        assert model.emergestats_build["probability_noise"] is True
        assert model.emergestats_build["lure"] is False
        # the same table without the rule reads it as a lure
        forced = build_smooth_model(guessing, probability_noise=False)
        assert forced.emergestats_build["lure"] is True
        beyond = table.copy()
        beyond.loc[brier & smallest, "score"] = 0.85  # worse than 1 - 1/4: a lure as well
        model = build_smooth_model(beyond)
        assert model.emergestats_build["probability_noise"] is True
        assert model.emergestats_build["lure"] is True
        # a Brier-only curve reads the noise only where the probabilities carry it
        brier_only = guessing[guessing["metric"] == "tc_brier"]
        assert "choice_noise" in build_smooth_model(brier_only).named_vars
        assert (
            "choice_noise" not in build_smooth_model(brier_only, probability_noise=False).named_vars
        )
    with pytest.raises(ConfigError, match="probability_noise must be True, False or 'auto'"):
        build_smooth_model(table, probability_noise="sometimes")


def test_the_noisy_probabilities_enter_the_brier_likelihood() -> None:
    """With the flag the Brier rows' expectation is the noisy map at the model's noise."""
    from emergestats.models import forward

    kinds = (("tc_brier", "brier"),)
    # a correct-choice Brier row's chance is (1 - 1/K)^2: four choices
    table = make_table(kinds=kinds, chance=0.5625, target_tokens=None, tasks=("arith",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, probability_noise=True)
    data = prepare_evaluation(table, warn=False)
    rows = np.asarray(model.coords["brier_obs"], dtype=int)
    point = model.initial_point()
    values = model.compile_fn(
        [model["mu_brier"], model["log_ce"], model["item_sd"], model["choice_noise"]],
        inputs=model.value_vars,
        on_unused_input="ignore",
    )(point)
    mu, log_ce, item_sds, noise = (np.asarray(v, dtype=float) for v in values)
    ce = np.exp(log_ce[data.cell_index[rows]])
    item_sd = item_sds[data.curve_index[rows]]
    k = data.observations.n_choices[rows]
    form = data.observations.brier_form[rows]
    assert np.all(k == 4.0) and np.all(form == 2)
    expected, _ = forward.brier(ce, item_sd, k, form, 0.0, 0.0, float(noise))
    noise_free, _ = forward.brier(ce, item_sd, k, form, 0.0, 0.0)
    np.testing.assert_allclose(mu, expected, rtol=1e-8)
    assert np.all(expected > noise_free)


def test_a_curve_no_likelihood_row_informs_starts_off_zero_and_nutpie_can_start() -> None:
    # t2's accuracy rows have no known number of choices: left out of the likelihood, so its
    # curve and cells feel only their N(0, 1) priors, whose gradient at the start (z = 0) was
    # exactly 0 and nutpie refused to start ("All initialization points failed")
    import warnings

    import emergestats as es
    from emergestats.models import build_smooth_model

    rows = []
    for i, (params, em, acc) in enumerate(
        zip([1e7, 1e8, 1e9, 1e10], [0.05, 0.15, 0.35, 0.6], [0.3, 0.4, 0.5, 0.7], strict=True)
    ):
        common = {"family": "f", "model": f"m{i}", "params": params, "shots": 0, "source": "t"}
        rows.append(
            {
                **common,
                "task": "t1",
                "subtask": "t1",
                "metric": "exact_str_match",
                "metric_kind": "exact_match",
                "score": em,
                "n_items": 200,
                "chance": 0.0,
                "target_tokens": 2.0,
            }
        )
        rows.append(
            {
                **common,
                "task": "t2",
                "subtask": "t2",
                "metric": "acc",
                "metric_kind": "accuracy",
                "score": acc,
                "n_items": 200,
                "chance": np.nan,
                "target_tokens": np.nan,
            }
        )
    table = pd.DataFrame(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, centered=False)
    start = model.emergestats_start
    curves = list(model.coords["curve_noncentred_a"])
    blind = [i for i, label in enumerate(curves) if label.startswith("t2")]
    seen = [i for i, label in enumerate(curves) if label.startswith("t1")]
    assert blind and seen
    assert np.all(start["z_a"][blind] != 0) and np.all(start["z_log_b"][blind] != 0)
    cells = list(model.coords["cell_noncentred"])
    blind_cells = [i for i, label in enumerate(cells) if label.startswith("t2")]
    assert np.all(start["cell_z"][blind_cells] != 0)
    assert np.all(start["cell_z"][[i for i in range(len(cells)) if i not in blind_cells]] == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fitted = es.fit(table, model=model, draws=20, tune=20, chains=1, random_seed=1)
    assert fitted.idata.posterior.sizes["draw"] == 20


@pytest.mark.realdata
def test_a_curve_seen_at_one_scale_starts_its_slope_off_zero(data_dir: object) -> None:
    # ObsScaling's arithmetic, four subtasks: Jamba is one model, so each of its curves has
    # one scale; the start's line passes through its row, which then has no gradient on the
    # slope, and with the slope's z at 0 neither had its prior: nutpie refused to start
    # ("All initialization points failed", 2026-12-06)
    import warnings

    import emergestats as es
    from emergestats.models import build_smooth_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = es.datasets.load("obsscaling")
    table = table[table["task"] == "gpt3_arithmetic"]
    assert len(table) == 316 and table.loc[table["family"] == "Jamba", "params"].nunique() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table)
        curves = list(model.coords["curve_noncentred_log_b"])
        jamba = [i for i, label in enumerate(curves) if "/Jamba/" in label]
        assert jamba and np.all(model.emergestats_start["z_log_b"][jamba] != 0)
        fitted = es.fit(table, model=model, draws=10, tune=10, chains=1, random_seed=1)
    assert fitted.idata.posterior.sizes["draw"] == 10


def test_curves_seen_only_through_brier_start_where_their_scores_put_them() -> None:
    # ExpEmergence: Brier-only curves started at the prior's centre (a CE of e^-1, a Brier
    # near 0) where their models scored near or worse than chance (analogical_similarity, 7
    # choices): the start's log density was -4.7e5. Now a readable curve starts on its rows'
    # readings; one worse than chance at every size on its bound, near chance.
    from emergestats.models.centering import row_log_ce_readings
    from emergestats.models.prepare import initial_curves, prepare_evaluation
    from emergestats.models.priors import resolve_priors

    chance = 0.75**2
    scores = {"read": [0.50, 0.40, 0.30, 0.20], "worse": [0.70, 0.72, 0.70, 0.71]}
    table = pd.DataFrame(
        [
            {
                "task": task,
                "subtask": task,
                "family": "f",
                "model": f"m{i}",
                "params": params,
                "shots": 0,
                "source": "t",
                "metric": "tc_brier",
                "metric_kind": "brier",
                "score": score,
                "n_items": 200,
                "chance": chance,
            }
            for task, values in scores.items()
            for i, (params, score) in enumerate(zip(SIZES, values, strict=True))
        ]
    )
    data = prepare_evaluation(table)
    readings = row_log_ce_readings(data, resolve_priors(None), bounds=True)
    np.testing.assert_allclose(initial_curves(data)[0], -1.0)  # nothing read: prior's centre
    a, log_b = initial_curves(data, readings)
    read = data.curve_labels.index("read/f/0")
    worse = data.curve_labels.index("worse/f/0")
    mine = data.curve_index == read
    slope, level = np.polyfit(data.x[mine], readings[0][mine], 1)
    assert a[read] == pytest.approx(level) and np.exp(log_b[read]) == pytest.approx(-slope)
    # worse than chance everywhere: at the bound's cap (a choice near chance), as flat as a
    # start's slope gets (0.02)
    line = a[worse] - np.exp(log_b[worse]) * data.x[data.curve_index == worse]
    assert np.mean(line) == pytest.approx(1.5) and np.ptp(line) < 0.2


def test_a_family_whose_curves_start_on_its_mean_starts_off_it_with_a_gradient() -> None:
    # family g: three curves at one size with the same sharp score, so each starts on its
    # family's mean (z_a = 0) and its one centred cell on its line: no gradient reached z_a
    # and nutpie refused every chain (ExpEmergence, three tasks, 2026-12-07)
    import warnings

    from pymc.initial_point import make_initial_point_fn

    from emergestats.models import build_smooth_model

    def row(task: str, family: str, model: str, params: float, score: float) -> dict:
        return {
            "task": task,
            "subtask": task,
            "family": family,
            "model": model,
            "params": params,
            "shots": 0,
            "source": "t",
            "metric": "exact_str_match",
            "metric_kind": "exact_match",
            "score": score,
            "n_items": 3000,
            "chance": 0.0,
            "target_tokens": 2.0,
        }

    rows = []
    for task in ("t1", "t2", "t3"):
        for i, (params, score) in enumerate(zip(SIZES, [0.05, 0.15, 0.35, 0.6], strict=True)):
            rows.append(row(task, "f", f"f{i}", params, score))
        rows.append(row(task, "g", "g0", 3e9, 0.4))
    table = pd.DataFrame(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table)
    curves = list(model.coords["curve_noncentred_a"])
    assert curves == ["t1/g/0", "t2/g/0", "t3/g/0"]
    assert all(f"{label}|g0" in model.coords["cell_centred"] for label in curves)
    z_a = model.emergestats_start["z_a"]
    # off zero, and by a small nudge only (the start stays on the data)
    assert np.all(z_a != 0) and np.all(np.abs(z_a) < 0.5)
    # nuts-rs refuses a start with any gradient entry exactly 0 (nutpie compiles for ~50 s, so
    # the gradient on z_a is checked here with PyMC's own; test_a_curve_no_likelihood_row_
    # informs... runs nutpie from such a start)
    free = {rv.name for rv in model.free_RVs}
    start = {k: v for k, v in model.emergestats_start.items() if k in free}
    point = make_initial_point_fn(model=model, overrides=start, return_transformed=True)(1)
    assert np.all(model.compile_dlogp(vars=[model["z_a"]])(point) != 0)


@pytest.mark.parametrize("median_prior", ["LogNormal", "HalfNormal"])
def test_pooled_item_sds_keep_their_prior_under_the_shear(median_prior: str) -> None:
    # builders._pooled_item_sds samples the pooled curves' mean log item sd and the zero-sum
    # rest instead of the median and z: the prior must stay log median ~ its prior and
    # z ~ N(0, 1) independent. A non-log-normal median prior keeps the plain form.
    import warnings

    import pymc as pm

    from emergestats.models import build_smooth_model
    from emergestats.simulation import CurveTruth, simulate_curve

    tables = []
    for position, level in enumerate([-0.3, 0.2, -0.6]):
        curve = simulate_curve(
            CurveTruth(log_ce_ref=level, slope=0.3, n_ref=1e9),
            params=np.geomspace(1e8, 1e10, 4),
            n_items=200,
            mean_length=2.0,
            seed=position,
        )
        table = curve.table(task=f"t{position}")
        tables.append(table[table["metric"].isin(["log_likelihood", "exact_str_match"])])
    table = pd.concat(tables, ignore_index=True)
    priors = {"item_sd_median": {"dist": "HalfNormal", "sigma": 1.0}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table, priors=priors if median_prior == "HalfNormal" else None)
    assert len(model.coords["informed_curve"]) == 3
    free = {rv.name for rv in model.free_RVs}
    if median_prior == "HalfNormal":
        assert {"item_sd_median", "item_sd_z"} <= free and "item_sd_log_mean" not in free
        return
    assert {"item_sd_log_mean", "item_sd_z_mean", "item_sd_log_rest"} <= free
    assert "item_sd_median" not in free and "item_sd_z" not in free
    with model:
        draws = pm.sample_prior_predictive(
            4000, var_names=["item_sd_median", "item_sd_z"], random_seed=3
        ).prior
    log_median = np.log(draws["item_sd_median"].to_numpy().ravel())
    z = draws["item_sd_z"].to_numpy().reshape(-1, 3)
    # LogNormal(0, 0.5): 4,000 draws put the mean within 0.03 and the sd within 0.02
    assert abs(log_median.mean()) < 0.03 and abs(log_median.std() - 0.5) < 0.02
    assert np.abs(z.mean(axis=0)).max() < 0.06 and np.abs(z.std(axis=0) - 1).max() < 0.04
    assert np.abs(np.corrcoef(np.column_stack([z, log_median]).T) - np.eye(4)).max() < 0.06


@pytest.mark.parametrize("key", ["item_sd_median", "choice_noise"])
def test_lines_follow_only_a_log_normal_parameter(key: str) -> None:
    # A curve whose data do not inform its item sd (exact match alone) follows the item sd
    # median, a grade-only curve the argmax noise; the follow is read in the log of the
    # parameter less its log prior median, which another prior does not have. Such a prior
    # built a KeyError ('mu'); now the curves do not follow it, and the model builds.
    import warnings

    from emergestats.models import build_smooth_model
    from emergestats.simulation import CurveTruth, simulate_curve

    tables = []
    for position, (kind, kept) in enumerate(
        [
            ("generation", ["log_likelihood", "exact_str_match"]),
            ("generation", ["log_likelihood", "exact_str_match"]),
            ("generation", ["exact_str_match"]),
            ("choice", ["multiple_choice_grade"]),
        ]
    ):
        curve = simulate_curve(
            CurveTruth(log_ce_ref=-0.3 + 0.2 * position, slope=0.3, n_ref=1e9),
            params=np.geomspace(1e8, 1e10, 4),
            kind=kind,  # type: ignore[arg-type]
            n_items=200,
            mean_length=2.0,
            seed=position,
        )
        table = curve.table(task=f"t{position}")
        tables.append(table[table["metric"].isin(kept)])
    table = pd.concat(tables, ignore_index=True)
    halfnormal = {key: {"dist": "HalfNormal", "sigma": 1.0}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = build_smooth_model(table, priors=halfnormal)
    assert key in {rv.name for rv in plain.free_RVs}
    assert type(plain[key].owner.op).__name__ == "HalfNormalRV"
    point = plain.initial_point()
    assert np.isfinite(plain.compile_logp()(point))


def test_confident_guessing_is_read_in_expemergence_and_not_in_the_ladders(
    data_dir: object,
) -> None:
    """The rule of ``probability_noise="auto"`` on real tables: ExpEmergence's weak models
    have a correct-choice Brier worse than chance's; the ladders' classifiers do not."""
    import emergestats as es
    from emergestats.ladder import load_conv_ladder_evaluations, load_ladder_evaluations
    from emergestats.models.likelihoods import shows_below_chance, shows_confident_guessing

    for ladder in (load_ladder_evaluations(), load_conv_ladder_evaluations()):
        observations = prepare_evaluation(ladder, warn=False).observations
        assert not shows_confident_guessing(observations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the reader's notes on its rows
        table = es.datasets.load("expemergence")
    overall = table[table["subtask"] == table["task"]]
    observations = prepare_evaluation(overall, warn=False).observations
    assert shows_confident_guessing(observations)
    # grades below chance and Brier scores beyond 1 - 1/K: a lure besides the noise
    assert shows_below_chance(observations, probability_noise=True)
