"""Latent scaling curves, metric likelihoods, priors and the model builders.

Three layers (pymc-marketing style): pure curve functions (:mod:`.latent`, numpy and pytensor)
-> metric likelihoods (:mod:`.likelihoods`) with priors held as data (:mod:`.priors`) ->
builders returning plain ``pm.Model`` objects with named dims (:mod:`.builders`).
"""

from emergestats.models.builders import (
    build_broken_model,
    build_item_model,
    build_smooth_model,
    prepare_evaluation,
    prepare_items,
)
from emergestats.models.priors import DEFAULT_PRIORS, resolve_priors, sample_prior_curves

__all__ = [
    "DEFAULT_PRIORS",
    "build_broken_model",
    "build_item_model",
    "build_smooth_model",
    "prepare_evaluation",
    "prepare_items",
    "resolve_priors",
    "sample_prior_curves",
]
