"""Tests of the forward maps in :mod:`emergestats.metrics`.

Monte Carlo checks simulate the process each map claims to describe (Bernoulli tokens of
probability ``p`` in answers of lengths ``L_i``) with a fixed seed, and require the map to lie
within ``MC_TOLERANCE_SE`` Monte Carlo standard errors of the simulated mean. Each simulation
draw is one evaluation of the whole task (every item once), so the standard error is the
standard deviation of the per-draw task score over ``sqrt(n_draws)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emergestats.errors import ConfigError, DataFormatError
from emergestats.metrics import (
    brier_score,
    chance_level,
    choice_probabilities,
    edit_distance,
    exact_match,
    expected_brier_score,
    expected_multiple_choice_grade,
    expected_thresholded_reconstruction,
    log_likelihood,
    multiple_choice_grade,
    pass_at_k,
    subset_accuracy,
    thresholded_reconstruction,
)

#: A simulated mean must lie within this many Monte Carlo standard errors of the map.
MC_TOLERANCE_SE = 4.0
SEED = 20230428
LENGTHS = np.array([1, 2, 3, 5, 8])  # mixed answer lengths, so Jensen's gap is large

FAST = settings(max_examples=60, deadline=None)
probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
length = st.integers(min_value=1, max_value=40)
length_list = st.lists(length, min_size=1, max_size=6)


def token_outcomes(
    rng: np.random.Generator, p: float, lengths: npt.NDArray[np.int_], n_draws: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Bernoulli(p) token outcomes (draw x item x position) and the mask of real positions."""
    longest = int(lengths.max())
    right = rng.random((n_draws, lengths.size, longest)) < p
    in_answer = np.arange(longest) < lengths[:, None]
    return right, np.broadcast_to(in_answer, right.shape)


def assert_within_mc_error(expected: float, per_draw: npt.NDArray[np.float64]) -> float:
    """Assert the map's value is within MC_TOLERANCE_SE standard errors; return the SE."""
    standard_error = float(per_draw.std(ddof=1) / math.sqrt(per_draw.size))
    assert standard_error > 0
    gap = abs(float(per_draw.mean()) - expected)
    assert gap < MC_TOLERANCE_SE * standard_error, (
        f"map {expected:.6f} vs simulation {per_draw.mean():.6f} "
        f"({gap / standard_error:.1f} SE apart)"
    )
    return standard_error


# --------------------------------------------------------------------------------------------
# Monte Carlo agreement
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.55, 0.8, 0.95])
def test_exact_match_agrees_with_simulated_tokens(p: float) -> None:
    rng = np.random.default_rng(SEED)
    right, in_answer = token_outcomes(rng, p, LENGTHS, n_draws=20_000)
    item_right = np.all(right | ~in_answer, axis=-1)  # every token of the answer right
    per_draw = item_right.mean(axis=1)
    assert_within_mc_error(exact_match(p, LENGTHS), per_draw)


def test_simulation_tells_mean_of_powers_from_power_of_mean() -> None:
    # The Monte Carlo check has the power to see Jensen's gap: the power of the mean length
    # p ** mean(L) = 0.7 ** 3.8 = 0.2578 is many standard errors from the simulated rate, which
    # matches the mean of powers (0.7 + 0.49 + 0.343 + 0.16807 + 0.057648) / 5 = 0.3517436.
    p = 0.7
    rng = np.random.default_rng(SEED)
    right, in_answer = token_outcomes(rng, p, LENGTHS, n_draws=20_000)
    per_draw = np.all(right | ~in_answer, axis=-1).mean(axis=1)
    standard_error = assert_within_mc_error(exact_match(p, LENGTHS), per_draw)
    assert exact_match(p, LENGTHS) == pytest.approx(0.3517436, abs=1e-7)
    assert abs(per_draw.mean() - p ** LENGTHS.mean()) > 10 * standard_error


@pytest.mark.parametrize("p", [0.3, 0.9])
def test_edit_distance_agrees_with_simulated_wrong_tokens(p: float) -> None:
    rng = np.random.default_rng(SEED + 1)
    right, in_answer = token_outcomes(rng, p, LENGTHS, n_draws=20_000)
    wrong_tokens = (~right & in_answer).sum(axis=-1)  # substitutions (Hamming distance)
    per_draw = wrong_tokens.mean(axis=1)
    assert_within_mc_error(edit_distance(p, LENGTHS), per_draw)


def levenshtein(a: list[int], b: list[int]) -> int:
    """Token edit distance (insertions, deletions and substitutions cost 1)."""
    previous = list(range(len(b) + 1))
    for i, token_a in enumerate(a, start=1):
        current = [i]
        for j, token_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token_a != token_b))
            )
        previous = current
    return previous[-1]


def test_edit_distance_approximates_levenshtein_for_a_large_vocabulary() -> None:
    # Substitution-only approximation: with wrong tokens drawn from a large vocabulary, the
    # Levenshtein distance of the sampled answer to the target is the number of wrong tokens.
    rng = np.random.default_rng(SEED + 2)
    p, vocabulary, n_draws = 0.7, 1000, 1500
    per_draw = np.empty(n_draws)
    for draw in range(n_draws):
        distances = []
        for answer_length in LENGTHS:
            target = rng.integers(vocabulary, size=answer_length)
            wrong = rng.random(answer_length) >= p
            # A wrong token is any other token: shift by 1..vocabulary-1.
            output = np.where(
                wrong,
                (target + rng.integers(1, vocabulary, size=answer_length)) % vocabulary,
                target,
            )
            distances.append(levenshtein(target.tolist(), output.tolist()))
        per_draw[draw] = np.mean(distances)
    assert_within_mc_error(edit_distance(p, LENGTHS), per_draw)


@pytest.mark.parametrize(("p", "k"), [(0.6, 1), (0.6, 5), (0.85, 3)])
def test_pass_at_k_agrees_with_simulated_samples(p: float, k: int) -> None:
    rng = np.random.default_rng(SEED + 3)
    n_draws = 10_000
    right = rng.random((n_draws, k, LENGTHS.size, int(LENGTHS.max()))) < p
    in_answer = np.arange(LENGTHS.max()) < LENGTHS[:, None]
    sample_right = np.all(right | ~in_answer, axis=-1)  # (draw, sample, item)
    item_solved = sample_right.any(axis=1)  # at least one of the k samples entirely right
    per_draw = item_solved.mean(axis=1)
    assert_within_mc_error(pass_at_k(p, LENGTHS, k), per_draw)


def test_subset_accuracy_agrees_with_simulated_items() -> None:
    rng = np.random.default_rng(SEED + 4)
    accuracy, subset_sizes = 0.8, np.array([2, 4, 10])
    right, in_subset = token_outcomes(rng, accuracy, subset_sizes, n_draws=20_000)
    per_draw = np.all(right | ~in_subset, axis=-1).mean(axis=1)
    assert_within_mc_error(subset_accuracy(accuracy, subset_sizes), per_draw)


def test_expected_thresholded_reconstruction_agrees_with_lognormal_errors() -> None:
    rng = np.random.default_rng(SEED + 5)
    median_error, log_sd, threshold, n_items = 0.8, 0.6, 1.0, 200
    errors = median_error * np.exp(log_sd * rng.standard_normal((5000, n_items)))
    per_draw = thresholded_reconstruction(errors, threshold)
    assert isinstance(per_draw, np.ndarray)
    assert per_draw.shape == (5000,)
    expected = expected_thresholded_reconstruction(median_error, threshold, log_sd=log_sd)
    # Phi(log(1 / 0.8) / 0.6) = Phi(0.2231436 / 0.6) = Phi(0.3719059) = 0.6450186
    assert expected == pytest.approx(0.6450186, abs=1e-7)
    assert_within_mc_error(float(expected), per_draw)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_closed_form_values() -> None:
    assert exact_match(0.9, 2) == pytest.approx(0.81)
    assert exact_match(0.5, [1, 3]) == pytest.approx((0.5 + 0.125) / 2)
    assert edit_distance(0.75, [2, 6]) == pytest.approx(4 * 0.25)
    assert log_likelihood(math.exp(-0.5), [2, 4]) == pytest.approx(-0.5 * 3)
    assert log_likelihood(0.0, 3) == -math.inf
    assert pass_at_k(0.5, 1, 2) == pytest.approx(1 - 0.5**2)
    # items of length 1 and 2: (1 - 0.5**2 + 1 - 0.75**2) / 2 = (0.75 + 0.4375) / 2
    assert pass_at_k(0.5, [1, 2], 2) == pytest.approx(0.59375)
    assert pass_at_k(1.0, 7, 4) == 1.0
    assert pass_at_k(0.0, 7, 4) == 0.0
    assert subset_accuracy(0.9, 3) == pytest.approx(0.729)


def test_pass_at_1_is_exact_match() -> None:
    p = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(pass_at_k(p, LENGTHS, 1), exact_match(p, LENGTHS), rtol=1e-12)


def test_pass_at_k_keeps_precision_for_tiny_rates() -> None:
    # p**L = 1e-12: the naive 1 - (1 - x)**k loses most digits; 1-(1-x)^k = kx - C(k,2)x^2 + ...
    x, k = 1e-12, 10
    assert pass_at_k(1e-3, 4, k) == pytest.approx(k * x - 45 * x**2, rel=1e-9, abs=0)


def test_weights_are_item_counts() -> None:
    # three items of length 1 and one of length 3: (3 * 0.5 + 0.125) / 4 = 0.40625
    assert exact_match(0.5, [1, 3], weights=[3, 1]) == pytest.approx(0.40625)
    for metric in (exact_match, edit_distance, log_likelihood):
        assert metric(0.7, [1, 3], weights=[3, 1]) == pytest.approx(metric(0.7, [1, 1, 1, 3]))


def test_per_item_axis_broadcasts_on_a_new_trailing_axis() -> None:
    p = np.array([[0.2, 0.5, 0.9], [0.99, 0.7, 0.0]])
    result = exact_match(p, LENGTHS)
    assert isinstance(result, np.ndarray)
    assert result.shape == p.shape
    looped = np.array([[np.mean(value**LENGTHS) for value in row] for row in p])
    np.testing.assert_allclose(result, looped, rtol=1e-14)
    assert exact_match(p, 2).shape == p.shape  # a scalar length is elementwise


def test_result_kind_follows_the_first_argument() -> None:
    assert type(exact_match(0.5, [1, 3])) is float
    assert type(exact_match(np.float64(0.5), 2)) is float
    zero_d = exact_match(np.array(0.5), [1, 3])
    assert isinstance(zero_d, np.ndarray)
    assert zero_d.shape == ()
    assert float(zero_d) == pytest.approx(0.3125)


def test_multiple_choice_grade_counts_ties_as_a_share() -> None:
    probs = [[0.7, 0.3], [0.4, 0.4, 0.2], [0.1, 0.9]]
    # item 0 right (1), item 1 tied between 2 choices incl. the correct one (1/2), item 2 wrong
    assert multiple_choice_grade(probs, [0, 1, 0]) == pytest.approx(1.5 / 3)
    assert multiple_choice_grade(probs, [0, 2, 1]) == pytest.approx(2 / 3)
    assert multiple_choice_grade(np.full((1, 4), 0.25), [3]) == pytest.approx(0.25)
    # log-probabilities give the same grade
    logprobs = [np.log(row) for row in probs]
    assert multiple_choice_grade(logprobs, [0, 1, 0]) == pytest.approx(0.5)


def test_brier_score_mean_and_sum_forms() -> None:
    # item 0: (0.7-1)^2 + 0.2^2 + 0.1^2 = 0.09 + 0.04 + 0.01 = 0.14 over 3 choices
    # item 1: 0.5^2 + (0.5-1)^2 = 0.5 over 2 choices
    probs = [np.array([0.7, 0.2, 0.1]), np.array([0.5, 0.5])]
    assert brier_score(probs, [0, 1], form="sum") == pytest.approx((0.14 + 0.5) / 2)
    assert brier_score(probs, [0, 1], form="mean") == pytest.approx((0.14 / 3 + 0.5 / 2) / 2)
    square = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    # item 1: 0.01 + 0.01 + 0.04 = 0.06
    assert brier_score(square, [0, 2]) == pytest.approx((0.14 + 0.06) / 3 / 2)


def test_choice_probabilities_is_a_softmax_over_each_items_choices() -> None:
    logprobs = [np.log([2.0, 6.0]), np.array([-1.0, -1.0, -np.inf])]
    probs = choice_probabilities(logprobs)
    np.testing.assert_allclose(probs[0], [0.25, 0.75])
    np.testing.assert_allclose(probs[1], [0.5, 0.5, 0.0])
    square = choice_probabilities(np.log(np.array([[1.0, 3.0], [1.0, 1.0]])))
    assert isinstance(square, np.ndarray)
    np.testing.assert_allclose(square, [[0.25, 0.75], [0.5, 0.5]])


@pytest.mark.parametrize("n_choices", [2, 4, 5])
def test_evenly_spread_maps_match_the_scorers(n_choices: int) -> None:
    for q in (0.05, 1.0 / n_choices, 0.3, 0.9):
        rest = (1.0 - q) / (n_choices - 1)
        probs = np.array([[q] + [rest] * (n_choices - 1)])
        assert expected_multiple_choice_grade(q, n_choices) == pytest.approx(
            multiple_choice_grade(probs, [0])
        )
        for form in ("mean", "sum"):
            assert expected_brier_score(q, n_choices, form=form) == pytest.approx(
                brier_score(probs, [0], form=form)
            )
    uniform = 1.0 / n_choices
    assert chance_level(n_choices) == pytest.approx(uniform)
    assert chance_level(n_choices, metric="brier_mean") == pytest.approx(
        expected_brier_score(uniform, n_choices, form="mean")
    )
    assert chance_level(n_choices, metric="brier_sum") == pytest.approx(
        expected_brier_score(uniform, n_choices, form="sum")
    )


def test_chance_level_averages_over_items() -> None:
    assert chance_level([2, 4]) == pytest.approx((0.5 + 0.25) / 2)
    assert chance_level([2, 4], metric="brier_sum") == pytest.approx((0.5 + 0.75) / 2)


def test_thresholded_reconstruction_counts_strictly_below() -> None:
    assert thresholded_reconstruction([0.5, 1.0, 1.5, 0.2], 1.0) == pytest.approx(0.5)
    # the smooth form becomes the step as the spread shrinks
    assert expected_thresholded_reconstruction(0.9, 1.0, log_sd=1e-3) == pytest.approx(1.0)
    assert expected_thresholded_reconstruction(1.1, 1.0, log_sd=1e-3) == pytest.approx(0.0)
    assert expected_thresholded_reconstruction(1.0, 1.0, log_sd=0.5) == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------
# numpy and pytensor give the same values
# --------------------------------------------------------------------------------------------


def test_numpy_and_pytensor_agree() -> None:
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.basic import Variable

    p_values = np.array([[0.0, 0.3, 0.77], [0.95, 0.999, 1.0]])
    q_values = np.array([0.1, 0.25, 0.6])
    weights = np.array([1.0, 2.0, 3.0, 1.0, 5.0])
    p = pt.dmatrix("p")
    q = pt.dvector("q")
    maps = {
        "exact_match": (lambda x: exact_match(x, LENGTHS), p, p_values),
        "exact_match_scalar": (lambda x: exact_match(x, 4), p, p_values),
        "exact_match_weighted": (lambda x: exact_match(x, LENGTHS, weights=weights), p, p_values),
        "edit_distance": (lambda x: edit_distance(x, LENGTHS), p, p_values),
        "log_likelihood": (lambda x: log_likelihood(x, LENGTHS), p, p_values),
        "pass_at_k": (lambda x: pass_at_k(x, LENGTHS, 5), p, p_values),
        "subset_accuracy": (lambda x: subset_accuracy(x, [2, 3]), p, p_values),
        "grade": (lambda x: expected_multiple_choice_grade(x, [2, 4]), q, q_values),
        "brier_mean": (lambda x: expected_brier_score(x, [2, 4]), q, q_values),
        "brier_sum": (lambda x: expected_brier_score(x, [2, 4], form="sum"), q, q_values),
        "reconstruction": (
            lambda x: expected_thresholded_reconstruction(x + 0.5, 1.0, log_sd=0.4),
            q,
            q_values,
        ),
    }
    symbolic = {name: forward(variable) for name, (forward, variable, _) in maps.items()}
    for name, output in symbolic.items():
        assert isinstance(output, Variable), name
    # a symbolic per-item argument with a numeric p also gives a graph
    symbolic_lengths = exact_match(0.8, pt.as_tensor_variable(LENGTHS))
    assert isinstance(symbolic_lengths, Variable)
    assert symbolic_lengths.eval() == pytest.approx(exact_match(0.8, LENGTHS), rel=1e-12)
    compiled = pytensor.function([p, q], list(symbolic.values()), on_unused_input="ignore")
    results = dict(zip(symbolic, compiled(p_values, q_values), strict=True))
    for name, (forward, _, values) in maps.items():
        np.testing.assert_allclose(results[name], forward(values), rtol=1e-12, err_msg=name)


def test_maps_build_inside_a_pymc_model() -> None:
    import pymc as pm

    with pm.Model():
        per_token_ce = pm.LogNormal("per_token_ce", mu=-1.0, sigma=0.3, shape=3)
        p = pm.math.exp(-per_token_ce)
        rate = pm.Deterministic("exact_match_rate", exact_match(p, LENGTHS))
    drawn_ce, drawn_rate = pm.draw([per_token_ce, rate], random_seed=SEED)
    np.testing.assert_allclose(drawn_rate, exact_match(np.exp(-drawn_ce), LENGTHS), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: exact_match(1.2, 3), DataFormatError, "probabilities in [0, 1]"),
        (lambda: exact_match(np.nan, 3), DataFormatError, "probabilities in [0, 1]"),
        (lambda: exact_match(0.5, [1, 0]), DataFormatError, "'lengths'"),
        (lambda: exact_match(0.5, [[1, 2]]), DataFormatError, "1-D array"),
        (lambda: exact_match(0.5, [1, 2], weights=[1.0]), DataFormatError, "'weights'"),
        (lambda: exact_match(0.5, 2, weights=[1.0]), DataFormatError, "is a scalar"),
        (lambda: pass_at_k(0.5, 2, 0), ConfigError, "'k'"),
        (lambda: expected_brier_score(0.5, 1), DataFormatError, "choices >= 2"),
        (lambda: brier_score([[0.5, 0.5]], [0], form="median"), ConfigError, "'form'"),  # type: ignore[arg-type]
        (lambda: brier_score([[0.6, 0.6]], [0]), DataFormatError, "choice_probabilities"),
        (lambda: multiple_choice_grade([[0.5, 0.5]], [2]), DataFormatError, "'correct'"),
        (lambda: multiple_choice_grade([[0.5, 0.5]], [0.0]), DataFormatError, "integer"),
        (lambda: multiple_choice_grade([[0.5]], [0]), DataFormatError, "at least 2 choices"),
        (lambda: multiple_choice_grade([], []), DataFormatError, "no items"),
        (lambda: thresholded_reconstruction([-1.0, 2.0], 1.0), DataFormatError, "'errors'"),
        (lambda: chance_level(3, metric="ece"), ConfigError, "'metric'"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_raises_a_sentence(
    call: Callable[[], object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as raised:
        call()
    assert fragment in str(raised.value)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@FAST
@given(p=probability, lengths=length_list, k=st.integers(1, 50))
def test_bounds(p: float, lengths: list[int], k: int) -> None:
    assert 0.0 <= exact_match(p, lengths) <= 1.0
    assert 0.0 <= pass_at_k(p, lengths, k) <= 1.0
    assert 0.0 <= edit_distance(p, lengths) <= max(lengths)
    assert log_likelihood(p, lengths) <= 0.0
    # pass@k is at least exact match (k >= 1 samples), and at most k times it (union bound)
    assert pass_at_k(p, lengths, k) >= exact_match(p, lengths) - 1e-12
    assert pass_at_k(p, lengths, k) <= k * exact_match(p, lengths) + 1e-12


@FAST
@given(p=probability, answer_length=length)
def test_edit_distance_is_within_zero_and_length(p: float, answer_length: int) -> None:
    assert 0.0 <= edit_distance(p, answer_length) <= answer_length


@FAST
@given(p1=probability, p2=probability, lengths=length_list, k=st.integers(1, 20))
def test_increasing_in_p(p1: float, p2: float, lengths: list[int], k: int) -> None:
    low, high = sorted((p1, p2))
    assert exact_match(low, lengths) <= exact_match(high, lengths)
    assert pass_at_k(low, lengths, k) <= pass_at_k(high, lengths, k)
    assert edit_distance(low, lengths) >= edit_distance(high, lengths)


@FAST
@given(p=probability, length1=length, length2=length, k=st.integers(1, 20))
def test_decreasing_in_length(p: float, length1: int, length2: int, k: int) -> None:
    short, long = sorted((length1, length2))
    assert exact_match(p, short) >= exact_match(p, long)
    assert pass_at_k(p, short, k) >= pass_at_k(p, long, k)


@FAST
@given(p=probability, lengths=length_list, k1=st.integers(1, 30), k2=st.integers(1, 30))
def test_pass_at_k_increasing_in_k(p: float, lengths: list[int], k1: int, k2: int) -> None:
    fewer, more = sorted((k1, k2))
    assert pass_at_k(p, lengths, fewer) <= pass_at_k(p, lengths, more)


@FAST
@given(p=st.floats(min_value=1e-3, max_value=1.0), lengths=length_list)
def test_jensen_gaps(p: float, lengths: list[int]) -> None:
    rate = exact_match(p, lengths)
    assert isinstance(rate, float)
    # mean of powers >= power of the mean length (p**L is convex in L)
    assert rate >= p ** np.mean(lengths) * (1 - 1e-12)
    # log of the mean >= mean of the logs: log EM >= LL
    assert math.log(rate) >= log_likelihood(p, lengths) - 1e-9
