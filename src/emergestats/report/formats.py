"""Tables as text for the terminal and for files: ``table``, ``csv``, ``json`` and ``markdown``.

The ``table`` format keeps lines short: long free-text columns (``reason``) are moved to
numbered footnotes below the table (identical texts share one number), wrapped at the
terminal width. ``csv`` and ``json`` keep every column as it is; ``markdown`` writes a pipe
table, with the footnote columns in full (a Markdown viewer wraps them).
"""

from __future__ import annotations

import json
import math
import shutil
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = ["FORMATS", "format_number", "interval_text", "render_table"]

#: The output formats of the command line.
FORMATS: Final[tuple[str, ...]] = ("table", "csv", "json", "markdown")


def format_number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; ``-`` for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}g}" if math.isfinite(value) else "-"
    return str(value)


def interval_text(low: float, middle: float, high: float, *, signed: bool = True) -> str:
    """``+0.123 [-0.010, +0.200]``: a median and its interval; ``-`` when any is missing.

    ``signed=False`` drops the plus signs (for quantities that are not differences).

    Examples
    --------
    >>> interval_text(-0.3125, -0.0625, 0.0625)
    '-0.062 [-0.312, +0.062]'
    >>> interval_text(0.125, 0.25, 0.5, signed=False)
    '0.250 [0.125, 0.500]'
    """
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, middle, high)):
        return "-"
    spec = "+.3f" if signed else ".3f"
    return f"{middle:{spec}} [{low:{spec}}, {high:{spec}}]"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell_text(value: Any, float_format: Callable[[Any], str]) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float | np.floating):
        return float_format(value)
    return str(value)


def _footnoted(
    frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Replace the free-text ``columns`` by one ``note`` column of footnote numbers."""
    present = [c for c in columns if c in frame.columns]
    if not present:
        return frame, []
    numbers: dict[str, int] = {}
    notes: list[str] = []
    for _, row in frame[present].iterrows():
        refs = []
        for column in present:
            text = row[column]
            if _missing(text) or not str(text).strip():
                continue
            text = str(text).strip()
            if text not in numbers:
                numbers[text] = len(numbers) + 1
            refs.append(f"[{numbers[text]}]")
        notes.append(" ".join(refs))
    out = frame.drop(columns=present)
    if numbers:
        out = out.assign(note=notes)
    return out, [(n, text) for text, n in numbers.items()]


def _markdown(frame: pd.DataFrame, float_format: Callable[[Any], str]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(escape(str(c)) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(escape(_cell_text(v, float_format)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render_table(
    frame: pd.DataFrame,
    fmt: str = "table",
    *,
    footnotes: Sequence[str] = ("reason",),
    digits: int = 4,
    width: int | None = None,
) -> str:
    """A table as text in one of :data:`FORMATS`.

    Parameters
    ----------
    frame
        The table; its index is not written.
    fmt
        ``table`` (aligned columns, free-text columns as footnotes), ``csv``, ``json`` (a list
        of records, missing values as ``null``) or ``markdown``.
    footnotes
        The free-text columns that ``table`` moves to numbered footnotes.
    digits
        Significant digits of floats in ``table`` and ``markdown``.
    width
        Wrapping width of the footnotes (default: the terminal's, at most 100).

    Returns
    -------
    str
        The text, without a trailing newline.

    Examples
    --------
    >>> frame = pd.DataFrame({"metric": ["a", "b"], "reason": ["too few sizes", None]})
    >>> print(render_table(frame))
    metric note
         a  [1]
         b
    <BLANKLINE>
    [1] too few sizes
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")

    def float_format(value: Any) -> str:
        return format_number(value, digits)

    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        records = [
            {str(k): _jsonable(v) for k, v in record.items()}
            for record in frame.to_dict(orient="records")
        ]
        return json.dumps(records, indent=2)
    if fmt == "markdown":
        return _markdown(frame, float_format)
    shown, notes = _footnoted(frame, footnotes)
    # object dtype column by column: a to_numpy() of mixed columns would make integers floats
    text = [_cell_text(v, float_format) for v in shown.astype(object).to_numpy().ravel()]
    cells = pd.DataFrame(np.asarray(text, dtype=object).reshape(shown.shape), columns=shown.columns)
    with pd.option_context(
        "display.width", 10_000, "display.max_rows", None, "display.max_columns", None
    ):
        body = cells.to_string(index=False) if len(cells) else "(no rows)"
    lines = [line.rstrip() for line in body.splitlines()]
    if notes:
        wrap = width or min(100, shutil.get_terminal_size((100, 24)).columns)
        lines.append("")
        for number, note in notes:
            lead = f"[{number}] "
            lines.extend(
                textwrap.wrap(
                    note,
                    width=max(40, wrap),
                    initial_indent=lead,
                    subsequent_indent=" " * len(lead),
                    break_on_hyphens=False,
                )
            )
    return "\n".join(lines)
