"""The ``emergestats`` command line: a thin layer over the package's public functions.

Every command reads its input through the same readers a notebook user calls, and turns an
:class:`~emergestats.errors.EmergestatsError` into one sentence on stderr and a non-zero exit
status, without a traceback. Output files are written to a temporary name and moved into place
only when complete, so a failed run leaves nothing partial behind.
"""

from __future__ import annotations

import functools
import math
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


def _interval_text(low: float, middle: float, high: float) -> str:
    if not all(map(math.isfinite, (low, middle, high))):
        return "-"
    return f"{middle:+.3f} [{low:+.3f}, {high:+.3f}]"


def _select_tasks(evaluations: pd.DataFrame, tasks: tuple[str, ...], source: str) -> pd.DataFrame:
    """The rows of the named tasks (``task`` or ``task/subtask``); a name that matches nothing
    stops with the names available."""
    task = evaluations["task"].astype(str)
    both = task + "/" + evaluations["subtask"].astype(str)
    missing = [name for name in tasks if not ((task == name) | (both == name)).any()]
    if missing:
        known = sorted(task.unique())
        shown = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
        raise click.ClickException(
            f"--task {', '.join(missing)}: no such task in {source} (its tasks: {shown})"
        )
    keep = task.isin(tasks) | both.isin(tasks)
    return evaluations[keep.to_numpy()].reset_index(drop=True)


@main.command("mirage")
@click.argument("table", metavar="TABLE|DATASET")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for verdicts.csv, verdicts.json and the fits (fits/<mode>-<model>.zarr).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="A dask.distributed scheduler (e.g. tcp://host:8786): each mode runs there.",
)
@click.option(
    "--modes",
    default="cross_metric,in_sample,leave_future_out",
    show_default=True,
    help="Comma-separated modes of the test.",
)
@click.option("--draws", type=int, default=1000, show_default=True, help="Draws per chain.")
@click.option("--tune", type=int, default=1000, show_default=True, help="Tuning steps per chain.")
@click.option("--chains", type=int, default=4, show_default=True, help="Chains per fit.")
@click.option(
    "--replicates", type=int, default=1000, show_default=True, help="Replicate curves per test."
)
@click.option("--seed", type=int, default=None, help="Seed of the fits and replicates.")
@click.option(
    "--broken/--no-broken",
    default=True,
    show_default=True,
    help="Also fit the broken model and report the smooth-vs-broken LOO.",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    metavar="NAME",
    help="Test only this task (repeatable; matches the 'task' column, or 'task/subtask').",
)
@_friendly_errors
def mirage_command(
    table: str,
    out: Path | None,
    scheduler: str | None,
    modes: str,
    draws: int,
    tune: int,
    chains: int,
    replicates: int,
    seed: int | None,
    broken: bool,
    tasks: tuple[str, ...],
) -> None:
    """The mirage test of every discontinuous metric of TABLE: is its jump more than the metric?

    TABLE is as for `scores`. For each task and metric (exact match, grade, accuracy, pass@k):
    prints the verdict (explained_by_metric, excess_jump or inconclusive), the excess of the
    observed largest jump over the smooth model's prediction with its 90% interval, and the
    p-value, per mode. The rule is printed at the end.
    """
    from emergestats.mirage import jump_test

    evaluations = load_evaluation_table(table)
    if tasks:
        evaluations = _select_tasks(evaluations, tasks, table)
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    client = None
    if scheduler is not None:
        from distributed import Client

        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise click.ClickException(
                f"cannot reach the dask scheduler at {scheduler} ({exc}); start one with "
                "`dask scheduler` or leave --scheduler out to run here"
            ) from exc
    click.echo(
        f"mirage test of {len(evaluations)} rows, modes {', '.join(chosen)}: "
        f"{chains} chains x {draws} draws after {tune} tuning steps per fit"
        + (f", on {scheduler}" if scheduler else "")
    )
    try:
        result = jump_test(
            evaluations,
            modes=chosen,
            compare_broken=broken,
            n_replicates=replicates,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            client=client,
            lengths="auto",
        )
    finally:
        if client is not None:
            client.close()
    for note in result.notes:
        click.echo(f"note: {note}")
    summary = result.summary
    lines = pd.DataFrame(
        {
            "task": summary["task"],
            "metric": summary["metric"],
            "mode": summary["mode"],
            "verdict": summary["verdict"],
            "excess jump [90%]": [
                _interval_text(a, b, c)
                for a, b, c in zip(
                    summary["excess_q05"],
                    summary["excess_q50"],
                    summary["excess_q95"],
                    strict=True,
                )
            ],
            "p": summary["p_value"].map(lambda v: f"{v:.3f}" if math.isfinite(v) else "-"),
            "reason": summary["reason"].fillna("").str.slice(0, 70),
        }
    )
    with pd.option_context("display.width", 250, "display.max_rows", None):
        click.echo(lines.to_string(index=False))
    counts = summary["verdict"].value_counts()
    click.echo(
        "\n" + ", ".join(f"{name}: {int(counts.get(name, 0))}" for name in sorted(counts.index))
    )
    click.echo(f"rule: {result.rule.describe()}")
    if out is not None:
        with atomic_folder(out) as tmp:
            result.save(tmp)
        click.echo(f"wrote {out / 'verdicts.csv'}, {out / 'verdicts.json'} and {out / 'fits'}")
