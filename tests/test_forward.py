"""The forward maps (``emergestats.models.forward``) against Monte Carlo and closed forms.

Every map is an expectation over item difficulty ``log CE_i = log CE + s z``; here the same
expectations are computed by brute-force Monte Carlo over items (plain numpy, written apart from
the quadrature) and must agree within 4 Monte Carlo standard errors. The pytensor graphs must
give the numpy values.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import integrate, special, stats

from emergestats.models import forward

RNG = np.random.default_rng(20261202)
Z = RNG.standard_normal(400_000)


def _items(ce: float, s: float) -> np.ndarray:
    return ce * np.exp(s * Z - s**2 / 2)  # mean ce over items


#: Quadrature error allowed beside the Monte Carlo error (32 Gauss-Hermite nodes; measured
#: worst case 0.0011 on exact match with s = 3, L = 5 against 2e6 Monte Carlo items).
QUADRATURE_TOLERANCE = 0.002


def _close(value: float, samples: np.ndarray) -> None:
    se = samples.std() / np.sqrt(samples.size)
    assert abs(value - samples.mean()) <= 4 * se + QUADRATURE_TOLERANCE, (value, samples.mean())


CASES = [(0.05, 0.5), (0.4, 1.0), (2.0, 1.5), (0.01, 2.5)]


@pytest.mark.parametrize(("ce", "s"), CASES)
def test_exact_match_and_pass_at_k_integrate_item_difficulty(ce: float, s: float) -> None:
    lengths = np.array([[1.0, 3.0, 7.0]])
    weights = np.array([[0.5, 0.3, 0.2]])
    item_ce = _items(ce, s)
    draws_l = RNG.choice(lengths[0], size=Z.size, p=weights[0])
    right = np.exp(-draws_l * item_ce)
    value = forward.exact_match(np.array([ce]), np.array([s]), lengths, weights)[0]
    _close(value, right)
    for k in (1, 10):  # k = 100 at s = 1.5: quadrature error 0.005
        solved = 1 - (1 - right) ** k
        value = forward.pass_at_k(np.array([ce]), np.array([s]), lengths, weights, np.array([k]))
        _close(value[0], solved)


@pytest.mark.parametrize(("ce", "s"), CASES)
@pytest.mark.parametrize("share", [0.1, 0.5, 1.0])
def test_greedy_match_is_the_share_of_items_whose_target_beats_its_rival(
    ce: float, s: float, share: float
) -> None:
    """Monte Carlo over items: the target (probability P) wins when P >= share (1 - P)."""
    lengths = np.array([[1.0, 3.0, 7.0]])
    weights = np.array([[0.5, 0.3, 0.2]])
    draws_l = RNG.choice(lengths[0], size=Z.size, p=weights[0])
    target = np.exp(-draws_l * _items(ce, s))
    wins = (target >= share * (1.0 - target)).astype(float)
    value = forward.greedy_match(np.array([ce]), np.array([s]), lengths, weights, share)[0]
    _close(value, wins)


def test_greedy_match_differs_from_exact_match_as_decoding_does() -> None:
    """A target with half the mass always wins greedily; sampling it is right half the time."""
    one = np.ones((1, 1))
    certain = forward.greedy_match(np.array([np.log(2.0) * 0.5]), np.array([0.01]), one, one, 1.0)
    assert certain[0] == pytest.approx(1.0)
    sampled = forward.exact_match(np.array([np.log(2.0) * 0.5]), np.array([0.01]), one, one)
    assert sampled[0] == pytest.approx(2.0**-0.5, rel=1e-3)
    # a harder target needs a weaker rival; the rate falls as the rival's share grows
    shares = np.array([0.05, 0.2, 0.5, 1.0])
    rates = [forward.greedy_match(np.array([1.0]), np.array([0.8]), one, one, c)[0] for c in shares]
    assert np.all(np.diff(rates) < 0)
    assert forward.greedy_threshold(1.0) == 0.5


def test_pass_at_k_follows_a_power_law_in_k_with_item_difficulty() -> None:
    """With heterogeneous items pass@k creeps towards 1 (no jump): -log pass@k falls slowly."""
    ks = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    one = np.ones((5, 1))
    heterogeneous = forward.pass_at_k(np.full(5, 3.0), np.full(5, 2.0), one * 5, one, ks)
    homogeneous = forward.pass_at_k(np.full(5, 3.0), np.full(5, 0.0), one * 5, one, ks)
    assert heterogeneous[0] > 1e-4 and heterogeneous[-1] < 0.9
    assert homogeneous[-1] > 0.999 or homogeneous[0] < 1e-6


@pytest.mark.parametrize(("ce", "s"), CASES)
def test_log_likelihood_and_edit_distance(ce: float, s: float) -> None:
    lengths = np.array([[2.0, 5.0]])
    weights = np.array([[0.6, 0.4]])
    item_ce = _items(ce, s)
    draws_l = RNG.choice(lengths[0], size=Z.size, p=weights[0])
    mean_l = float((lengths * weights).sum())
    second_l = float((lengths**2 * weights).sum())
    mean, sd = forward.log_likelihood(
        np.array([ce]), np.array([s]), np.array([mean_l]), np.array([second_l])
    )
    _close(mean[0], -draws_l * item_ce)
    if s <= 1.0:  # beyond, the lognormal's sd is too heavy-tailed for Monte Carlo to check
        assert sd[0] == pytest.approx(np.std(draws_l * item_ce), rel=0.05)
    wrong = RNG.binomial(draws_l.astype(int), -np.expm1(-item_ce))
    mean, sd = forward.edit_distance(np.array([ce]), np.array([s]), lengths, weights)
    _close(mean[0], wrong)
    assert sd[0] == pytest.approx(wrong.std(), rel=0.05)


@pytest.mark.parametrize(("ce", "s"), CASES)
@pytest.mark.parametrize("k", [2, 4, 10])
def test_choice_maps(ce: float, s: float, k: int) -> None:
    q = 1 / k + (1 - 1 / k) * np.exp(-_items(ce, s))
    mean, sd = forward.choice_log_likelihood(np.array([ce]), np.array([s]), np.array([k * 1.0]))
    _close(mean[0], np.log(q))
    assert sd[0] == pytest.approx(np.log(q).std(), rel=0.05, abs=1e-6)
    c = 0.3
    h = 1 / (k - 1) + (1 - 1 / (k - 1)) * c
    expected = {0: (1 - q) ** 2 * (1 + h) / k, 1: (1 - q) ** 2 * (1 + h), 2: (1 - q) ** 2}
    for form, values in expected.items():
        mean, _ = forward.brier(
            np.array([ce]), np.array([s]), np.array([k * 1.0]), np.array([form]), c
        )
        _close(mean[0], values)
    tau = 0.6
    margin = np.log(q * (k - 1) / (1 - q))
    win = special.expit(margin / tau - np.log(k - 1))
    _close(forward.grade(np.array([ce]), np.array([s]), np.array([k * 1.0]), tau)[0], win)


@pytest.mark.parametrize("shift", [-0.4, 0.0, 0.7])
def test_another_decision_rule_moves_every_items_grade_logit(shift: float) -> None:
    ce, s, k, tau = np.array([0.4, 2.0]), np.array([0.0, 0.0]), np.array([4.0, 2.0]), 0.6
    q = 1 / k + (1 - 1 / k) * np.exp(-ce)
    logit = np.log(q * (k - 1) / (1 - q)) / tau - np.log(k - 1)
    shifted = forward.grade(ce, s, k, tau, 0.0, np.full(2, shift))
    np.testing.assert_allclose(shifted, special.expit(logit + shift), rtol=1e-9)
    # over items: the shift is inside the integral, not added to the mean grade's logit
    spread = np.array([1.0, 1.0])
    nodes = _items(0.4, 1.0)
    q_items = 0.25 + 0.75 * np.exp(-nodes)
    items = special.expit(np.log(q_items * 3 / (1 - q_items)) / tau - np.log(3) + shift)
    _close(forward.grade(ce[:1], spread[:1], k[:1], tau, 0.0, shift)[0], items)


def test_grade_is_chance_without_knowledge_and_below_chance_with_a_lure() -> None:
    big = np.array([50.0])
    k = np.array([4.0])
    assert forward.grade(big, np.array([0.5]), k, 0.5)[0] == pytest.approx(0.25, abs=1e-5)
    assert forward.grade(big, np.array([0.5]), k, 0.5, lure=1.0)[0] < 0.2
    assert forward.grade(np.array([1e-4]), np.array([0.5]), k, 0.5)[0] > 0.99


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("ce", [0.05, 0.7, 50.0])
def test_a_lure_pulls_every_choice_metric_below_chance_from_one_set_of_logits(
    ce: float, k: int
) -> None:
    """Logits written out: the answer ``m``, one plausible distractor ``lure (1 - p)``, the rest 0.

    Softmax gives the correct choice's probability (log-likelihood, correct-choice Brier); the
    argmax under Gumbel noise of scale ``tau`` gives the grade, simulated here choice by choice.
    """
    lure, tau = 1.2, 0.6
    p = np.exp(-ce)
    m = np.log1p((k - 1) * p) - np.log(-np.expm1(-ce))
    logits = np.r_[m, lure * (1 - p), np.zeros(k - 2)]
    q = special.softmax(logits)[0]
    ce_, s_, k_ = np.array([ce]), np.array([0.0]), np.array([float(k)])
    log_q, _ = forward.choice_log_likelihood(ce_, s_, k_, lure)
    assert log_q[0] == pytest.approx(np.log(q), rel=1e-9)
    brier_correct, _ = forward.brier(ce_, s_, k_, np.array([2]), 0.0, lure)
    assert brier_correct[0] == pytest.approx((1 - q) ** 2, rel=1e-9, abs=1e-15)
    gumbel = RNG.gumbel(size=(200_000, k)) * tau
    wins = np.argmax(logits + gumbel, axis=1) == 0
    grade = forward.grade(ce_, s_, k_, tau, lure)[0]
    assert abs(grade - wins.mean()) <= 4 * wins.std() / np.sqrt(wins.size) + 1e-9
    if ce == 50.0:  # knows nothing: below chance in every metric
        assert q == pytest.approx(1 / (k - 1 + np.exp(lure)))
        assert grade < 1 / k and np.log(q) < -np.log(k)
    # no lure: the chance-anchored map of the module docstring
    plain, _ = forward.choice_log_likelihood(ce_, s_, k_)
    assert plain[0] == pytest.approx(np.log(1 / k + (1 - 1 / k) * p), rel=1e-9)


#: The logistic reading of the realised log-odds (module docstring): its measured worst error
#: against K Gumbel noises over K = 2..12, p <= 0.9, tau <= 2.5, lure <= 3 was 0.010 (Brier)
#: and 0.083 (log-probability, at a mean of -6.7).
NOISY_BRIER_TOLERANCE = 0.012
NOISY_LOG_Q_TOLERANCE = 0.09


@pytest.mark.parametrize(
    ("k", "ce", "s", "tau", "lure"),
    [
        (2, 50.0, 0.0, 1.0, 0.0),
        (4, 50.0, 0.0, 1.0, 0.0),
        (4, 0.4, 0.8, 0.5, 0.0),
        (7, 1.0, 0.0, 2.0, 1.5),
        (10, 0.1, 0.5, 1.0, 0.0),
        (12, 2.0, 0.0, 2.5, 3.0),
    ],
)
def test_noisy_choice_maps_against_gumbel_noise_on_every_choice(
    k: int, ce: float, s: float, tau: float, lure: float
) -> None:
    """One set of noisy logits per simulated question gives the grade, Brier and log q.

    Items differ (``s``), every choice's logit gets its own Gumbel noise of scale ``tau``: the
    argmax is the grade, the softmax's correct entry the ``q`` of Brier and log-likelihood.
    """
    n = 100_000
    item_ce = _items(ce, s)[:n]
    p = np.exp(-item_ce)
    m = np.log1p((k - 1) * p) - np.log(-np.expm1(-item_ce))
    logits = np.zeros((n, k))
    logits[:, 0] = m
    logits[:, 1] = lure * (1 - p)
    logits += RNG.gumbel(size=(n, k)) * tau
    q = special.softmax(logits, axis=1)[:, 0]
    ce_, s_, k_ = np.array([ce]), np.array([s]), np.array([float(k)])
    wins = np.argmax(logits, axis=1) == 0
    _close(forward.grade(ce_, s_, k_, tau, lure)[0], wins)
    brier, brier_sd = forward.brier(ce_, s_, k_, np.array([2]), 0.0, lure, tau)
    miss = (1 - q) ** 2
    assert abs(brier[0] - miss.mean()) <= NOISY_BRIER_TOLERANCE + 4 * miss.std() / np.sqrt(n)
    assert brier_sd[0] == pytest.approx(miss.std(), abs=0.02)
    log_q, _ = forward.choice_log_likelihood(ce_, s_, k_, lure, tau)
    log_q_mc = np.log(q)
    assert abs(log_q[0] - log_q_mc.mean()) <= NOISY_LOG_Q_TOLERANCE + 4 * log_q_mc.std() / np.sqrt(
        n
    )
    if ce == 50.0 and lure == 0.0:  # knows nothing: guesses at chance, confidently
        assert wins.mean() == pytest.approx(1 / k, abs=0.01)
        assert brier[0] > (1 - 1 / k) ** 2 + 0.03
        assert log_q[0] < -np.log(k) - 0.2


def test_without_noise_the_noisy_maps_are_the_noise_free_ones() -> None:
    ce, s, k = np.array([0.05, 0.9, 4.0]), np.array([0.0, 1.0, 0.5]), np.array([2.0, 4.0, 7.0])
    for lure in (0.0, 1.0):
        q = forward.choice_probability(ce, k, lure)
        assert forward.rival_temperature(k, 0.0) == pytest.approx(np.ones(3))
        logit = forward.noisy_choice_logit(ce, k, 0.0, lure)
        np.testing.assert_allclose(special.expit(logit), q, rtol=1e-10)
    # more noise, worse Brier and log-likelihood at the same latent
    briers = [forward.brier(ce, s, k, np.full(3, 2), 0.0, 0.0, tau)[0] for tau in (0.0, 0.5, 1.5)]
    assert np.all(np.diff(np.array(briers), axis=0) > 0)


def test_brier_mean_with_even_spread_is_bigbench_formula() -> None:
    """Even spread (c = 0): BIG-bench's mean over choices of a q / even-distractor vector."""
    k = 5
    ce = np.array([0.7])
    mean, _ = forward.brier(ce, np.array([0.0]), np.array([float(k)]), np.array([0]), 0.0)
    q = 1 / k + (1 - 1 / k) * np.exp(-0.7)
    probs = np.r_[q, np.full(k - 1, (1 - q) / (k - 1))]
    target = np.r_[1.0, np.zeros(k - 1)]
    assert mean[0] == pytest.approx(np.mean((probs - target) ** 2))


def test_pytensor_graphs_match_numpy() -> None:
    ce = np.array([0.1, 0.8, 3.0])
    s = np.array([0.3, 1.2, 2.0])
    lengths = np.array([[1.0, 4.0], [2.0, 3.0], [1.0, 1.0]])
    weights = np.array([[0.5, 0.5], [1.0, 0.0], [1.0, 0.0]])
    k = np.array([2.0, 4.0, 10.0])
    ce_t, s_t = pt.dvector("ce"), pt.dvector("s")
    pairs = [
        (
            forward.exact_match(ce_t, s_t, lengths, weights),
            forward.exact_match(ce, s, lengths, weights),
        ),
        (forward.grade(ce_t, s_t, k, 0.4), forward.grade(ce, s, k, 0.4)),
        (
            forward.brier(ce_t, s_t, k, np.array([0, 1, 2]), 0.2)[0],
            forward.brier(ce, s, k, np.array([0, 1, 2]), 0.2)[0],
        ),
        (
            forward.choice_log_likelihood(ce_t, s_t, k)[1],
            forward.choice_log_likelihood(ce, s, k)[1],
        ),
        (forward.grade(ce_t, s_t, k, 0.4, 0.8), forward.grade(ce, s, k, 0.4, 0.8)),
        (
            forward.choice_log_likelihood(ce_t, s_t, k, 0.8)[0],
            forward.choice_log_likelihood(ce, s, k, 0.8)[0],
        ),
        (
            forward.brier(ce_t, s_t, k, np.array([0, 1, 2]), 0.2, 0.5, 0.9)[1],
            forward.brier(ce, s, k, np.array([0, 1, 2]), 0.2, 0.5, 0.9)[1],
        ),
        (
            forward.choice_log_likelihood(ce_t, s_t, k, 0.8, 1.3)[0],
            forward.choice_log_likelihood(ce, s, k, 0.8, 1.3)[0],
        ),
        (
            forward.greedy_match(ce_t, s_t, lengths, weights, 0.3),
            forward.greedy_match(ce, s, lengths, weights, 0.3),
        ),
    ]
    for graph, numpy_value in pairs:
        assert graph.eval({ce_t: ce, s_t: s}) == pytest.approx(numpy_value, rel=1e-10)


def test_quadrature_weights_integrate_normal_moments() -> None:
    z, w = forward.item_quadrature()
    assert w.sum() == pytest.approx(1.0)
    for power in (2, 4, 6):
        assert np.sum(w * z**power) == pytest.approx(stats.norm.moment(power))


def test_noise_quadrature_integrates_the_logistic() -> None:
    xi, w = forward.noise_quadrature()
    assert w.sum() == pytest.approx(1.0)
    assert np.sum(w * xi) == pytest.approx(0.0, abs=1e-12)  # symmetric nodes
    assert np.sum(w * xi**2) == pytest.approx(np.pi**2 / 3, rel=0.02)
    # E[log sigmoid(mu + s xi)] has linear tails: a log singularity in the logistic's probability
    for mu, s in [(-3.0, 0.5), (0.0, 1.0), (2.0, 2.5), (-1.0, 2.0)]:
        exact = integrate.quad(
            lambda x, mu=mu, s=s: -np.logaddexp(0.0, -(mu + s * x)) * stats.logistic.pdf(x),
            -np.inf,
            np.inf,
        )[0]
        assert np.sum(w * -np.logaddexp(0.0, -(mu + s * xi))) == pytest.approx(exact, abs=0.01)


def test_noisy_choice_maps_match_a_fine_quadrature(monkeypatch: pytest.MonkeyPatch) -> None:
    # the accuracy forward.NOISE_NODES' comment quotes: 400 random rows against 96 x 300 nodes
    rng = np.random.default_rng(0)
    rows = 400
    k = rng.integers(2, 11, rows).astype(float)
    ce = np.exp(rng.uniform(np.log(0.005), np.log(20.0), rows))
    s = rng.uniform(0.0, 2.5, rows)
    noise = rng.uniform(0.1, 2.5, rows)
    lure = np.where(rng.random(rows) < 0.3, rng.uniform(0.0, 3.0, rows), 0.0)
    form = np.full(rows, 2)

    def maps() -> np.ndarray:
        return np.array(
            [
                *forward.brier(ce, s, k, form, 0.0, lure, noise),
                *forward.choice_log_likelihood(ce, s, k, lure, noise),
            ]
        )

    fast = maps()
    u, w = np.polynomial.legendre.leggauss(96)
    u = 0.5 * (u + 1.0)
    fine = (np.log(u) - np.log1p(-u), w / w.sum())
    monkeypatch.setattr(forward, "noise_quadrature", lambda nodes=None: fine)
    monkeypatch.setattr(forward, "CHOICE_ITEM_NODES", 300)
    error = np.abs(fast - maps()).max(axis=1)
    assert np.all(error <= [0.0025, 0.0085, 0.012, 0.03]), error
