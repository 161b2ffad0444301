"""emergestats: is a benchmark jump with model scale an emergent ability, or the metric?

The fitting API (:func:`fit`, :class:`Fit`) is imported on first use, so reading tables and
computing jump statistics does not pay PyMC's import time.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from emergestats import data, datasets, emergence, metrics

try:
    __version__ = version("emergestats")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from emergestats.inference import Fit, fit

__all__ = ["Fit", "__version__", "data", "datasets", "emergence", "fit", "metrics"]


def __getattr__(name: str) -> Any:
    if name in ("fit", "Fit"):
        from emergestats import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'emergestats' has no attribute {name!r}")
