"""Shared fixtures: the real-data mirror and small canonical tables."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local mirror of the real result files (``$EMERGESTATS_DATA_DIR``).

    Tests that need it are skipped, with the reason, where the variable is unset; ``.ci/run``
    always sets it, so in CI they run.
    """
    value = os.environ.get("EMERGESTATS_DATA_DIR")
    if not value:
        pytest.skip("EMERGESTATS_DATA_DIR is not set: real-data tests need the local mirror")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"EMERGESTATS_DATA_DIR={value} is not a folder")
    return path
