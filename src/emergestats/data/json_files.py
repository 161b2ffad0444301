"""Reading the JSON files of the real result formats, with one-sentence errors naming the file.

Every reader of a JSON format (BIG-bench results and task definitions, lm-evaluation-harness
results, mlfoundations open_lm files) reads through these two functions, so an unreadable, empty
or corrupt file is reported the same way whatever the format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emergestats.errors import DataFormatError, EmptyInputError


def load_json(file: Path, *, expected: str) -> Any:
    """Parse a JSON file.

    Parameters
    ----------
    file
        The file to read (UTF-8).
    expected
        What the file should hold, for the messages (e.g. ``"an lm-eval results JSON"``).

    Raises
    ------
    EmptyInputError
        If the file is empty or holds only whitespace.
    DataFormatError
        If it cannot be read as UTF-8 text or is not valid JSON.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"cannot be read as UTF-8 text ({exc}); expected {expected}", path=file
        ) from exc
    if not text.strip():
        raise EmptyInputError(f"the file is empty; expected {expected}", path=file)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); the file "
            "is corrupt or truncated, so fetch or write it again",
            path=file,
        ) from exc


def load_json_object(file: Path, *, expected: str) -> dict[str, Any]:
    """Parse a JSON file whose top level must be an object; errors as :func:`load_json`."""
    data = load_json(file, expected=expected)
    if not isinstance(data, dict):
        raise DataFormatError(
            f"holds a JSON {type(data).__name__}, not an object; expected {expected}", path=file
        )
    return data
