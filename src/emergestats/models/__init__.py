"""Latent scaling curves, metric likelihoods, priors and the model builders.

Layers (pymc-marketing style): pure curve functions (:mod:`.latent`) and the only forward maps
latent -> metric (:mod:`.forward`), both numpy and pytensor -> table rows turned into arrays
with a role per row (:mod:`.prepare`) -> observed variables (:mod:`.likelihoods`) with priors
held as data (:mod:`.priors`) -> builders returning plain ``pm.Model`` objects with named dims
(:mod:`.builders`).
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
