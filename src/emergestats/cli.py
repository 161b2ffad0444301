"""The ``emergestats`` command line: a thin layer over the package's public functions.

Every command reads its input through the same readers a notebook user calls, and turns an
:class:`~emergestats.errors.EmergestatsError` into one sentence on stderr and a non-zero exit
status, without a traceback. Output files are written to a temporary name and moved into place
only when complete, so a failed run leaves nothing partial behind.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pandas as pd

from emergestats import __version__
from emergestats.errors import DataFormatError, EmergestatsError


def _friendly_errors[**P, R](command: Callable[P, R]) -> Callable[P, R]:
    """Report the package's own errors as one sentence and exit 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EmergestatsError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_evaluation_table(source: str) -> pd.DataFrame:
    """Read an evaluation table from a file, a BIG-bench results folder, or a dataset name.

    ``source`` is tried, in order, as a canonical table file (CSV or Parquet), a folder of
    BIG-bench ``scores_*.json`` / ``full-log_*.json`` files, and a registered dataset name
    (``emergestats.datasets``; ``ladder`` is the package's own model ladder).
    """
    from emergestats import datasets
    from emergestats.data import read_table
    from emergestats.data.bigbench import read_bigbench_results

    path = Path(source)
    if path.is_dir():
        return read_bigbench_results(path)
    if path.exists():
        table = read_table(path)
        if "item" in table.columns:
            raise DataFormatError(
                "is an item table; this command needs an evaluation table (one row per model and "
                "metric), e.g. the evaluations.csv written beside it",
                path=path,
            )
        return table
    tables = sorted(
        name
        for name, dataset in datasets.DATASETS.items()
        if dataset.reader is not None or dataset.source is None
    )
    if source in tables:
        return datasets.load(source)
    raise DataFormatError(
        "no such file, folder or dataset; give a CSV/Parquet evaluation table, a BIG-bench "
        f"results folder, or one of the datasets {', '.join(tables)}",
        path=path,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emergestats")
def main() -> None:
    """Measure whether benchmark jumps with model scale exceed what the metric alone predicts."""


@main.command("scores")
@click.argument("table", metavar="TABLE")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the statistics as CSV to this file.",
)
@_friendly_errors
def scores_command(table: str, out: Path | None) -> None:
    """Classic jump statistics of every curve in TABLE.

    A curve is one (task, subtask, family, shots, metric). TABLE is a canonical evaluation table
    (CSV or Parquet), a folder of BIG-bench result files, or a dataset name such as `ladder`.
    Prints breakthroughness, linearity, emergence score and the largest adjacent jump.
    """
    from emergestats.emergence import jump_table

    evaluations = load_evaluation_table(table)
    statistics = jump_table(evaluations)
    with pd.option_context(
        "display.width", 200, "display.max_rows", None, "display.max_columns", None
    ):
        click.echo(statistics.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out is not None:
        with atomic_path(out) as tmp:
            statistics.to_csv(tmp, index=False)
        click.echo(f"wrote {len(statistics)} curves to {out}")
