"""Typed exceptions raised at the package's boundaries.

Every error raised on bad input is an :class:`EmergestatsError`, whose message is one sentence
naming the file (where there is one), the column or rows at fault, what was expected and what to
do. The CLI prints that sentence and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class EmergestatsError(Exception):
    """Base class of every error the package raises on purpose."""


class DataFormatError(EmergestatsError, ValueError):
    """A file or table does not have the expected format.

    Parameters
    ----------
    message
        What is wrong and what to do.
    path
        The file (or folder) at fault, if any; it is prefixed to the message.
    column
        The offending column, if any.
    rows
        Offending row positions (0-based, as in the file's data rows), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        column: str | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.column = column
        self.rows = None if rows is None else list(rows)
        prefix = f"{self.path}: " if self.path is not None else ""
        super().__init__(prefix + message)


class EmptyInputError(DataFormatError):
    """A file or folder holds nothing to read."""


class DatasetUnavailableError(EmergestatsError, RuntimeError):
    """A registered dataset can be neither downloaded nor found in the local mirror."""


class ConfigError(EmergestatsError, ValueError):
    """A model specification, prior override or option is invalid."""


class SamplerUnavailableError(EmergestatsError, ImportError):
    """An optional sampler backend (nutpie, numpyro) is not installed."""


class FitCompatibilityError(EmergestatsError, ValueError):
    """A saved fit was written by another model or package version than the one loading it."""


def format_rows(rows: Sequence[int], *, limit: int = 8) -> str:
    """Render row positions for a message: ``"rows 0, 3, 7"`` or ``"rows 0, 1, ... (12 rows)"``."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f", ... ({len(rows)} rows)"
    return ("row " if len(rows) == 1 else "rows ") + shown


class AssumptionWarning(UserWarning):
    """A value the input lacked was assumed (answer lengths, ``k``, ``n_items``): say it.

    Raised when canonical rows are prepared for a model; :meth:`Fit.predict_table` repeats the
    ones about the rows it predicts.
    """
