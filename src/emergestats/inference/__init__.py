"""Fitting the models: sampling, save and load, diagnostics, predictions, LOO.

Modules:

- :mod:`~emergestats.inference.fit`: the samplers, :func:`fit` and the :class:`Fit` handle;
- :mod:`~emergestats.inference.io`: :class:`~emergestats.inference.io.FitConfig`, the input
  table as a dataset, saving and loading with the compatibility checks;
- :mod:`~emergestats.inference.diagnostics`: per-curve posterior summaries, sampling
  diagnostics and :class:`DiagnosticsWarning`;
- :mod:`~emergestats.inference.predict`: posterior predictions of metrics at any scale;
- :mod:`~emergestats.inference.loo`: observation cells, PSIS-LOO, exact refits,
  :func:`compare`.

Every name importable from ``emergestats.inference`` before the split still is: ``__all__``
is unchanged, and the other public names of the old module are re-exported with redundant
aliases (``import X as X``) so that they stay importable without joining ``__all__``.
"""

from __future__ import annotations

from emergestats.inference.diagnostics import DIAGNOSTIC_THRESHOLDS, DiagnosticsWarning
from emergestats.inference.fit import (
    DEFAULT_MAX_TREEDEPTH as DEFAULT_MAX_TREEDEPTH,
)
from emergestats.inference.fit import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    Fit,
    fit,
)
from emergestats.inference.fit import (
    DEFAULT_TARGET_ACCEPT as DEFAULT_TARGET_ACCEPT,
)
from emergestats.inference.fit import (
    check_sampler as check_sampler,
)
from emergestats.inference.fit import (
    default_sampler as default_sampler,
)
from emergestats.inference.io import MODEL_SPEC_VERSION
from emergestats.inference.io import MODELS as MODELS
from emergestats.inference.io import FitConfig as FitConfig
from emergestats.inference.loo import LooResult, compare, compare_by_curve, loo

# the roles observed as counts (see emergestats.models.prepare)
from emergestats.models.prepare import COUNT_ROLES as COUNT_ROLES

__all__ = [
    "DEFAULT_SAMPLER",
    "DIAGNOSTIC_THRESHOLDS",
    "MODEL_SPEC_VERSION",
    "SAMPLERS",
    "DiagnosticsWarning",
    "Fit",
    "LooResult",
    "compare",
    "compare_by_curve",
    "fit",
    "loo",
]
