"""Priors as data: the documented defaults of every model, overridable by key.

A prior is a plain dict ``{"dist": <PyMC distribution name>, <parameter>: <value>, ...}``, so the
whole prior set is JSON and is stored with every fit. Override any entry by key; a partial entry
updates only the parameters it names::

    build_smooth_model(table, priors={"log_b_mu": {"sigma": 0.5}, "floor": {"sigma": 0.05}})

The population spreads have zero-avoiding log-normal priors (95% within a factor 2.7 of the
median) rather than half-normal ones: the curves are centred on their population (the faster
parameterisation when each curve has a dozen sizes), and with few curves a prior with mass near
0 lets the sampler into the funnel where a tiny spread forces every curve onto the mean. On a
3-curve fit (4 x 1000 draws) half-normal spreads with LKJ(2) gave 130 divergent transitions,
Gamma(2, .) spreads with LKJ(4) 20 to 40, these defaults 1.

A model of a single curve has no population means to learn: they are integrated out exactly
(``(a, log b)`` is then bivariate normal around ``(a_mu, log_b_mu)``'s prior means, with their
prior variances added to the population covariance), so the same prior holds without the ridge
the means formed with the curve (the ladder's fits: R-hat up to 1.013 on ``log_b_mu`` and a
divergence before; seeds 1-6 pass after, no divergence).

The floor (``floor=True``) is weakly informative: median 0.34 nats, 95% below 0.98. Until
2026-12-07 it was HalfNormal(0.1), which allowed no floor above 0.2 nats; fitted with a
HalfNormal(1) floor, Pythia and Pythia-deduped's final checkpoints up to 2.8B (LAMBADA, PIQA,
ARC-Easy, SciQ, WinoGrande) put eight of ten curves' floors at 0.9-1.3 nats (SciQ 0.4), and
the 6.9B and 12B models' scores were covered 30 of 36 times (17 with the old floor, and
without one), at median width 0.071 (``benchmarks/cross_metric.py --only
pythia_extrapolation --floor``). At HalfNormal(1) the ladder's log-likelihood fit
(``tests/test_cross_metric.py``) failed R-hat on the item sd (1.014), the floor and the item
spread trading off on its one curve; at HalfNormal(0.5) it passes and Pythia is covered 30 of
36 times again (width 0.074).

The continuous metrics have no free noise scale: their item-level spread follows from the item
difficulty distribution (:mod:`emergestats.models.forward`), or from a reported standard error.

Units: ``a`` is ``log CE`` (CE in nats per token) at the reference scale ``N_ref``; ``b`` is the
slope of ``log CE`` per e-fold of ``N`` (so CE falls by ``exp(b)`` when ``N`` is multiplied by
``e``). The prior predictive check (``tests/test_prior_predictive.py``,
:func:`emergestats.plots.prior_predictive.prior_predictive`) shows what these defaults mean for
the metrics: per-token CE at ``N_ref`` mostly between 0.02 and 6 nats (``log CE`` of the answer
tokens of BIG-bench tasks at ~1e9 parameters spans roughly -4.6 to 1.6), slopes mostly between
0.05 and 1.8 per e-fold, and exact-match curves that are neither all 0 nor all 1 over the usual
range of sizes. :func:`sample_prior_curves` draws such curves (numpy, no model needed).

=============================== ========================================== =====================
key                             what                                       default
=============================== ========================================== =====================
``a_mu``                        population mean of ``a`` (one per family)  Normal(-1, 1)
``a_sigma``                     spread of ``a`` across curves              LogNormal(log 0.8,
                                                                           0.5)
``log_b_mu``                    population mean of ``log b`` (per family)  Normal(log 0.3, 0.75)
``log_b_sigma``                 spread of ``log b`` across curves          LogNormal(log 0.3,
                                                                           0.5)
``ab_corr``                     correlation of ``a`` and ``log b``; LKJ    LKJ(eta=4)
                                with ``eta`` (for two dims: ``(r+1)/2 ~
                                Beta(eta, eta)``)
``task_sigma``                  spread of task effects on (a, log b);      LogNormal(log [0.5,
                                used when a task has several curves        0.15], 0.5)
``floor``                       irreducible per-token CE (nats)            HalfNormal(0.5)
``break_location``              ``log N*`` uniform over the curve's        Uniform, trim 0
                                observed ``log N`` range, less ``trim``
                                (a fraction of the range) at each end
``break_level``                 drop of ``log CE`` across the break        Normal(0, 1)
                                (sign-free: a half-normal's boundary at 0
                                biased the break location upwards)
``break_slope``                 change of slope at the break               Normal(0, 0.5)
``break_width``                 width of the break in e-folds of N (fixed) 0.3
``cell_sigma``                  sd of a (curve, model) cell's deviation    LogNormal(log 0.1,
                                from the power law, shared by its metrics  0.6)
``item_sd_median``              median over curves of the items' sd of     LogNormal(0, 0.5)
                                ``log CE`` (item difficulty)
``item_sd_spread``              sd of ``log item_sd`` across curves        LogNormal(log 0.2,
                                                                           0.5)
``choice_noise``                Gumbel scale of item noise on choice       LogNormal(log 0.5,
                                log-probabilities (the argmax)             0.3)
``lure``                        extra pull of a plausible distractor       HalfNormal(0.5)
                                (only with ``lure=True``)
``rule_shift``                  shift of the grade's logit under another   Normal(0, 0.5)
                                decision rule of the same outputs (e.g.
                                lm-eval's ``acc_norm`` against ``acc``),
                                per (curve, rule)
``distractor_concentration``    0 = wrong mass spread evenly over the      Beta(1.5, 6)
                                distractors, 1 = all on one (Brier forms)
``rival_share``                 share of the mass not on the target that   Beta(2, 2)
                                its strongest rival holds (greedy match:
                                the target wins when its probability is
                                at least ``c / (1 + c)``)
``tokens_per_word``             tokens per word (per_word log-likelihood)  LogNormal(log 1.3,
                                                                           0.3)
``tokens_per_char``             tokens per character (per_char)            LogNormal(log 0.25,
                                                                           0.3)
``item_difficulty_sigma``       item model: sd of item effects on log CE   HalfNormal(1.0)
``item_logprob_sd``             item model: sd of ``log(-logprob)``        HalfNormal(1.0)
=============================== ========================================== =====================
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pymc as pm
import xarray as xr

from emergestats.errors import ConfigError

type PriorSpec = dict[str, Any]

DEFAULT_PRIORS: Final[dict[str, PriorSpec]] = {
    "a_mu": {"dist": "Normal", "mu": -1.0, "sigma": 1.0},
    "a_sigma": {"dist": "LogNormal", "mu": math.log(0.8), "sigma": 0.5},
    "log_b_mu": {"dist": "Normal", "mu": math.log(0.3), "sigma": 0.75},
    "log_b_sigma": {"dist": "LogNormal", "mu": math.log(0.3), "sigma": 0.5},
    "ab_corr": {"dist": "LKJ", "eta": 4.0},
    "task_sigma": {"dist": "LogNormal", "mu": [math.log(0.5), math.log(0.15)], "sigma": 0.5},
    "floor": {"dist": "HalfNormal", "sigma": 0.5},
    "break_location": {"dist": "Uniform", "trim": 0.0},
    "break_level": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "break_slope": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "break_width": {"dist": "Constant", "value": 0.3},
    "cell_sigma": {"dist": "LogNormal", "mu": math.log(0.1), "sigma": 0.6},
    "item_sd_median": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
    "item_sd_spread": {"dist": "LogNormal", "mu": math.log(0.2), "sigma": 0.5},
    "choice_noise": {"dist": "LogNormal", "mu": math.log(0.5), "sigma": 0.3},
    "lure": {"dist": "HalfNormal", "sigma": 0.5},
    "rule_shift": {"dist": "Normal", "mu": 0.0, "sigma": 0.5},
    "distractor_concentration": {"dist": "Beta", "alpha": 1.5, "beta": 6.0},
    "rival_share": {"dist": "Beta", "alpha": 2.0, "beta": 2.0},
    "tokens_per_word": {"dist": "LogNormal", "mu": math.log(1.3), "sigma": 0.3},
    "tokens_per_char": {"dist": "LogNormal", "mu": math.log(0.25), "sigma": 0.3},
    "item_difficulty_sigma": {"dist": "HalfNormal", "sigma": 1.0},
    "item_logprob_sd": {"dist": "HalfNormal", "sigma": 1.0},
}

#: Parameters each distribution name accepts in a prior entry.
_PARAMETERS: Final[dict[str, tuple[str, ...]]] = {
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Exponential": ("lam",),
    "Gamma": ("alpha", "beta"),
    "Beta": ("alpha", "beta"),
    "LKJ": ("eta",),
    "Uniform": ("trim",),
    "Constant": ("value",),
}

#: Priors the model samples as ``exp(mu + sigma z)`` (one shared non-centred form per unit):
#: only a log-normal prior has that form.
_LOG_NORMAL_ONLY: Final[frozenset[str]] = frozenset({"tokens_per_word", "tokens_per_char"})


def resolve_priors(priors: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, PriorSpec]:
    """Merge user overrides over :data:`DEFAULT_PRIORS` and check them.

    Parameters
    ----------
    priors
        ``{key: {parameter: value}}``. A key not in the defaults, a distribution not supported
        for that key or an unknown parameter raises :class:`~emergestats.errors.ConfigError`.
        An entry that names a new ``dist`` replaces the default entry; otherwise it updates it.

    Returns
    -------
    dict
        A deep copy of the defaults with the overrides applied (JSON-serialisable).
    """
    resolved = copy.deepcopy(DEFAULT_PRIORS)
    for key, override in (priors or {}).items():
        if key not in resolved:
            raise ConfigError(
                f"unknown prior {key!r}; the priors that can be overridden are "
                f"{', '.join(sorted(DEFAULT_PRIORS))}"
            )
        if not isinstance(override, Mapping):
            raise ConfigError(
                f"prior {key!r} must be a mapping such as {DEFAULT_PRIORS[key]!r}, not "
                f"{type(override).__name__}"
            )
        entry = dict(override)
        if "dist" in entry and entry["dist"] != resolved[key]["dist"]:
            resolved[key] = entry
        else:
            resolved[key].update(entry)
        dist = resolved[key].get("dist")
        if dist not in _PARAMETERS:
            raise ConfigError(
                f"prior {key!r} has unsupported distribution {dist!r}; use one of "
                f"{', '.join(_PARAMETERS)}"
            )
        unknown = set(resolved[key]) - {"dist"} - set(_PARAMETERS[dist])
        missing = set(_PARAMETERS[dist]) - set(resolved[key])
        if unknown or missing:
            raise ConfigError(
                f"prior {key!r} ({dist}) takes the parameters {', '.join(_PARAMETERS[dist])}; "
                f"got {', '.join(sorted(set(resolved[key]) - {'dist'}))}"
            )
        if key in _LOG_NORMAL_ONLY and dist != "LogNormal":
            raise ConfigError(
                f"prior {key!r} must be LogNormal (the model samples it as exp(mu + sigma z)), "
                f"got {dist!r}; give its median's log as mu and its log-scale sd as sigma"
            )
    return resolved


def priors_to_json(priors: Mapping[str, PriorSpec]) -> str:
    """Serialise resolved priors (stored in the fit's attributes)."""
    return json.dumps(priors, sort_keys=True)


def prior_variable(
    name: str,
    spec: Mapping[str, Any],
    *,
    dims: str | Sequence[str] | None = None,
    shape: int | Sequence[int] | None = None,
) -> Any:
    """Create a PyMC random variable from a prior entry inside the current model context.

    Only location-scale style distributions are handled here (``Normal``, ``HalfNormal``,
    ``LogNormal``, ``Exponential``, ``Gamma``); structural priors (LKJ, Uniform break location,
    Constant width) are built by the model builders, which read their parameters directly.
    """
    dist = spec["dist"]
    kwargs = {k: v for k, v in spec.items() if k != "dist"}
    extra: dict[str, Any] = {}
    if dims is not None:
        extra["dims"] = dims
    if shape is not None:
        extra["shape"] = shape
    if dist == "Normal":
        return pm.Normal(name, mu=kwargs["mu"], sigma=kwargs["sigma"], **extra)
    if dist == "HalfNormal":
        return pm.HalfNormal(name, sigma=kwargs["sigma"], **extra)
    if dist == "LogNormal":
        return pm.LogNormal(name, mu=kwargs["mu"], sigma=kwargs["sigma"], **extra)
    if dist == "Exponential":
        return pm.Exponential(name, lam=kwargs["lam"], **extra)
    if dist == "Gamma":
        return pm.Gamma(name, alpha=kwargs["alpha"], beta=kwargs["beta"], **extra)
    if dist == "Beta":
        return pm.Beta(name, alpha=kwargs["alpha"], beta=kwargs["beta"], **extra)
    raise ConfigError(
        f"prior for {name!r} uses {dist!r}, which cannot be used for this variable; use Normal, "
        "HalfNormal, LogNormal, Exponential, Gamma or Beta"
    )


def sample_prior_curves(
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    scales: Sequence[float] | np.ndarray,
    n_ref: float,
    lengths: Sequence[float] | np.ndarray = (1.0,),
    draws: int = 1000,
    random_seed: int | None = None,
) -> xr.Dataset:
    """Draw latent curves and exact-match curves from the population prior (one curve a draw).

    Ancestral sampling in numpy of exactly the smooth model's prior for one curve of one family
    without task effects: hyperparameters (``a_mu``, ``a_sigma``, ``log_b_mu``,
    ``log_b_sigma``, ``ab_corr``), then ``(a, log_b)`` of the curve.

    Parameters
    ----------
    priors
        Overrides of :data:`DEFAULT_PRIORS`.
    scales
        Scales (parameter counts) to evaluate the curves at.
    n_ref
        Reference scale ``N_ref``.
    lengths
        Per-item answer lengths (tokens) for the exact-match curves.
    draws
        Number of prior curves.
    random_seed
        Seed.

    Returns
    -------
    xarray.Dataset
        ``a``, ``b`` (dims ``draw``); ``cross_entropy``, ``p_token`` and ``exact_match``
        (dims ``draw, scale``).
    """
    resolved = resolve_priors(priors)
    rng = np.random.default_rng(random_seed)
    scales_array = np.asarray(scales, dtype=float)
    x = np.log(scales_array) - np.log(n_ref)

    def draw(key: str) -> np.ndarray:
        spec = resolved[key]
        if spec["dist"] == "Normal":
            return np.asarray(rng.normal(spec["mu"], spec["sigma"], draws))
        if spec["dist"] == "HalfNormal":
            return np.abs(rng.normal(0.0, spec["sigma"], draws))
        if spec["dist"] == "LogNormal":
            return np.asarray(rng.lognormal(spec["mu"], spec["sigma"], draws))
        if spec["dist"] == "Exponential":
            return np.asarray(rng.exponential(1.0 / spec["lam"], draws))
        if spec["dist"] == "Gamma":
            return np.asarray(rng.gamma(spec["alpha"], 1.0 / spec["beta"], draws))
        raise ConfigError(f"cannot draw prior {key!r} ({spec['dist']})")

    a_mu, a_sigma = draw("a_mu"), draw("a_sigma")
    log_b_mu, log_b_sigma = draw("log_b_mu"), draw("log_b_sigma")
    eta = float(resolved["ab_corr"]["eta"])
    corr = 2.0 * rng.beta(eta, eta, draws) - 1.0
    a = a_mu + a_sigma * rng.normal(size=draws)
    log_b = (
        log_b_mu
        + corr * log_b_sigma / a_sigma * (a - a_mu)
        + log_b_sigma * np.sqrt(1.0 - corr**2) * rng.normal(size=draws)
    )
    b = np.exp(log_b)
    # absurd prior draws can put log CE far beyond float range; p = exp(-CE) is 0 there anyway
    ce = np.exp(np.clip(a[:, None] - b[:, None] * x[None, :], -700.0, 700.0))
    length_array = np.asarray(lengths, dtype=float).ravel()
    with np.errstate(over="ignore"):
        exact = np.exp(-ce[..., None] * length_array).mean(axis=-1)
    return xr.Dataset(
        {
            "a": ("draw", a),
            "b": ("draw", b),
            "cross_entropy": (("draw", "scale"), ce),
            "p_token": (("draw", "scale"), np.exp(-ce)),
            "exact_match": (("draw", "scale"), exact),
        },
        coords={"draw": np.arange(draws), "scale": scales_array},
        attrs={"n_ref": float(n_ref), "mean_length": float(length_array.mean())},
    )
