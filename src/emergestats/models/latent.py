"""Pure latent-curve functions: per-token cross-entropy as a function of scale.

Every function here works on numpy arrays *and* on pytensor tensors (the backend is chosen from
the arguments), so the same formula is used inside the PyMC models and in numpy analysis, and the
tests check the pytensor graphs against closed-form numpy values.

The latent of one curve ``j`` is written on a centred log scale ``x = log N - log N_ref``:

- smooth power law: ``log CE_j(x) = a_j - b_j * x`` with ``b_j > 0`` (Schaeffer et al.'s
  ``CE = (N / c) ** alpha`` with ``alpha = -b`` and ``a = -b * log(c / N_ref)``);
- optional irreducible floor: ``CE_j(x) = E_j + exp(a_j - b_j * x)``;
- broken power law (:func:`broken_log_cross_entropy`): the same line, plus a smooth but sharp
  change of level and slope at ``x*_j``;
- the per-token probability of the correct token is ``p = exp(-CE)``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

#: Smallest and largest per-token probability used inside likelihoods, so that every log
#: likelihood stays finite in every draw (PSIS-LOO needs finite pointwise values).
P_MIN = 1e-12
P_MAX = 1.0 - 1e-12


def backend_of(*values: Any) -> ModuleType:
    """Return ``pytensor.tensor`` if any value is a pytensor variable, else ``numpy``."""
    return pt if any(isinstance(v, Variable) for v in values) else np


def centred_log_scale(params: Any, n_ref: float) -> Any:
    """``x = log N - log N_ref``: the scale axis every latent curve is written on."""
    xp = backend_of(params)
    return xp.log(params) - np.log(n_ref)


def log_cross_entropy(x: Any, a: Any, b: Any) -> Any:
    """Smooth power law on the log scale: ``log CE = a - b * x``.

    Parameters
    ----------
    x
        Centred log scale, ``log N - log N_ref``.
    a
        ``log CE`` at ``N_ref``.
    b
        Positive slope: CE falls by a factor ``exp(b)`` per e-fold of ``N``.
    """
    return a - b * x


def cross_entropy(x: Any, a: Any, b: Any, floor: Any = None) -> Any:
    """Per-token cross-entropy in nats: ``floor + exp(a - b * x)`` (``floor`` optional)."""
    xp = backend_of(x, a, b, floor)
    ce = xp.exp(log_cross_entropy(x, a, b))
    return ce if floor is None else ce + floor


def softplus(z: Any) -> Any:
    """``log(1 + exp(z))``, computed without overflow for either backend."""
    xp = backend_of(z)
    if xp is pt:
        return pt.softplus(z)
    return np.logaddexp(0.0, z)


def sigmoid(z: Any) -> Any:
    """Logistic function for either backend."""
    xp = backend_of(z)
    if xp is pt:
        return pt.sigmoid(z)
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def broken_log_cross_entropy(
    x: Any,
    a: Any,
    b: Any,
    x_break: Any,
    break_slope: Any,
    break_level: Any,
    width: float,
) -> Any:
    """Broken power law on the log scale, smooth but sharp near ``x_break``.

    ``log CE = a - b x - break_level * sigmoid(u) - break_slope * width * softplus(u)`` with
    ``u = (x - x_break) / width``.

    Far below the break this is the smooth line ``a - b x``. Far above it, ``log CE`` is lower by
    ``break_level`` (a drop of CE by a factor ``exp(break_level)``) and falls with slope
    ``b + break_slope``. ``width`` (in e-folds of N) sets how sharp the change is: the level
    change happens 76% of the way within ``x_break +/- 2 width``. ``break_level = break_slope = 0``
    is exactly the smooth model, so "no break" lies inside the broken model.

    Parameters
    ----------
    x
        Centred log scale.
    a, b
        Level at ``N_ref`` and slope of the line below the break.
    x_break
        Centred log scale of the break, ``log N* - log N_ref``.
    break_slope
        Change of slope at the break (positive: CE falls faster above it).
    break_level
        Drop of ``log CE`` across the break (positive: a sudden improvement).
    width
        Width of the transition, in e-folds of ``N`` (> 0).
    """
    u = (x - x_break) / width
    return log_cross_entropy(x, a, b) - break_level * sigmoid(u) - break_slope * width * softplus(u)


def broken_cross_entropy(
    x: Any,
    a: Any,
    b: Any,
    x_break: Any,
    break_slope: Any,
    break_level: Any,
    width: float,
    floor: Any = None,
) -> Any:
    """Per-token CE of the broken power law (:func:`broken_log_cross_entropy`), plus a floor."""
    xp = backend_of(x, a, b, x_break, break_slope, break_level, floor)
    ce = xp.exp(broken_log_cross_entropy(x, a, b, x_break, break_slope, break_level, width))
    return ce if floor is None else ce + floor


def token_probability(ce: Any) -> Any:
    """Per-token probability of the correct token, ``exp(-CE)``."""
    xp = backend_of(ce)
    return xp.exp(-ce)
