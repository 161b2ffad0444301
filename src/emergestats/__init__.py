"""emergestats: is a benchmark jump with model scale an emergent ability, or the metric?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("emergestats")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
