"""The ``emergestats`` command line: a thin layer over the package's public functions.

Every command reads its input through the same readers a notebook user calls, and turns an
:class:`~emergestats.errors.EmergestatsError` into one sentence on stderr and a non-zero exit
status, without a traceback. Output files are written to a temporary name and moved into place
only when complete, so a failed run leaves nothing partial behind.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import warnings
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


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; its files replace those in ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        path.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            target = path / item.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@main.command("fit")
@click.argument("table", metavar="TABLE")
@click.option(
    "--model",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model specification (TOML), e.g. models/smooth.toml.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the saved fit (fit.zarr), curves.csv and diagnostics.csv.",
)
@click.option("--seed", type=int, default=None, help="Override the spec's random seed.")
@click.option("--progress/--no-progress", default=True, help="Show the sampler's progress.")
@_friendly_errors
def fit_command(table: str, spec_path: Path, out: Path, seed: int | None, progress: bool) -> None:
    """Fit a model specification to TABLE and write the posterior summary and diagnostics.

    TABLE is as for `scores` (an item table for the `item` builder). Prints one row per curve
    and parameter (posterior mean, sd, 5% and 95% quantiles, R-hat, bulk ESS) and the sampler
    diagnostics; a fit that fails a diagnostic threshold says so.
    """
    from emergestats.data import read_table
    from emergestats.inference import DiagnosticsWarning, fit
    from emergestats.specs import load_spec

    spec = load_spec(spec_path)
    kwargs = spec.fit_kwargs()
    kwargs.setdefault("progressbar", progress)
    if seed is not None:
        kwargs["random_seed"] = seed
    data = read_table(Path(table)) if spec.builder == "item" else load_evaluation_table(table)
    click.echo(
        f"fitting the {spec.builder} model ({spec_path}) to {len(data)} rows: "
        f"{kwargs.get('chains', 4)} chains x {kwargs.get('draws', 1000)} draws "
        f"after {kwargs.get('tune', 1000)} tuning steps, sampler {kwargs['sampler'] or 'default'}"
    )
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", UserWarning)
        result = fit(data, **kwargs)
    for note in notes:
        click.echo(f"note: {note.message}")
    curves = result.curves()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DiagnosticsWarning)
        diagnostics = result.diagnostics()
    summary = diagnostics.attrs["summary"]
    with pd.option_context(
        "display.width", 250, "display.max_rows", None, "display.max_columns", None
    ):
        click.echo("\nPosterior summary per curve:")
        click.echo(curves.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        click.echo("\nSampler diagnostics per variable:")
        click.echo(diagnostics.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    click.echo(
        f"\nmax R-hat {summary['r_hat_max']:.4f}, min bulk ESS {summary['ess_bulk_min']:.0f}, "
        f"min tail ESS {summary['ess_tail_min']:.0f}, divergences {summary['divergences']}, "
        f"min E-BFMI {summary['bfmi_min']:.2f}: "
        + (
            "all checks passed"
            if summary["passed"]
            else "FAILED: " + "; ".join(summary["failures"])
        )
    )
    for warning in caught:
        if not issubclass(warning.category, DiagnosticsWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    with atomic_folder(out) as tmp:
        result.save(tmp / "fit.zarr")
        curves.to_csv(tmp / "curves.csv", index=False)
        diagnostics.to_csv(tmp / "diagnostics.csv", index=False)
    click.echo(f"wrote {out / 'fit.zarr'}, {out / 'curves.csv'} and {out / 'diagnostics.csv'}")
