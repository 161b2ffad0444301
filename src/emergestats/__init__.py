"""emergestats: is a benchmark jump with model scale an emergent ability, or the metric?

Submodules, the fitting API (:func:`fit`, :class:`Fit`), the mirage test (:func:`jump_test`) and
the evaluation planner (:func:`plan`) are imported on first use, so ``import emergestats`` is
cheap and reading tables does not pay PyMC's import time.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("emergestats")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from emergestats import corpus, data, datasets, emergence, metrics, mirage, planning
    from emergestats.inference.fit import Fit, fit
    from emergestats.mirage import jump_test
    from emergestats.planning import plan

_SUBMODULES = ("corpus", "data", "datasets", "emergence", "metrics", "mirage", "planning")

__all__ = [
    "Fit",
    "__version__",
    "corpus",
    "data",
    "datasets",
    "emergence",
    "fit",
    "jump_test",
    "metrics",
    "mirage",
    "plan",
    "planning",
]


def __getattr__(name: str) -> Any:
    if name in ("fit", "Fit"):
        return getattr(importlib.import_module("emergestats.inference"), name)
    if name == "jump_test":
        return importlib.import_module("emergestats.mirage").jump_test
    if name == "plan":
        return importlib.import_module("emergestats.planning").plan
    if name in _SUBMODULES:
        return importlib.import_module(f"emergestats.{name}")
    raise AttributeError(f"module 'emergestats' has no attribute {name!r}")
