"""The ``emergestats`` command line: a thin layer over the package's public functions.

Every command reads its input through the same readers a notebook user calls, and turns an
:class:`~emergestats.errors.EmergestatsError` into one sentence on stderr and a non-zero exit
status, without a traceback. Output files are written to a temporary name and moved into place
only when complete, so a failed run leaves nothing partial behind.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd

from emergestats import __version__
from emergestats.analysis import load_evaluation_table, select_tasks
from emergestats.errors import EmergestatsError
from emergestats.report.formats import FORMATS, interval_text, render_table

if TYPE_CHECKING:
    from distributed import Client

    from emergestats.mirage.calibration import CalibrationResult

__all__ = ["atomic_folder", "atomic_path", "load_evaluation_table", "main"]

#: ``--format``: how a command prints its table (``table`` moves long reasons to footnotes).
_FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="How to print the table: aligned text (reasons as numbered footnotes), CSV, JSON or "
    "Markdown.",
)


def _info(fmt: str, message: str) -> None:
    """A message beside the table: on stdout for ``table``, on stderr for the data formats."""
    click.echo(message, err=fmt != "table")


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
@_FORMAT_OPTION
@_friendly_errors
def scores_command(table: str, out: Path | None, fmt: str) -> None:
    """Classic jump statistics of every curve in TABLE.

    A curve is one (task, subtask, family, shots, metric). TABLE is a canonical evaluation table
    (CSV or Parquet), a folder of BIG-bench result files, or a dataset name such as `ladder`.
    Prints breakthroughness, linearity, emergence score and the largest adjacent jump.
    """
    from emergestats.emergence import jump_table

    evaluations = load_evaluation_table(table)
    statistics = jump_table(evaluations)
    click.echo(render_table(statistics, fmt))
    if out is not None:
        with atomic_path(out) as tmp:
            statistics.to_csv(tmp, index=False)
        _info(fmt, f"wrote {len(statistics)} curves to {out}")


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


#: Kept for callers of the old private name; the function lives in :mod:`emergestats.analysis`.
_select_tasks = select_tasks


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
@click.option(
    "--calibration",
    default=None,
    metavar="measured|FILE",
    help="Apply the verdict rule's calibration rules 6 and 8 with these measured error rates: "
    "'measured' (the package's docs/calibration.csv) or a calibration summary CSV.",
)
@_FORMAT_OPTION
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
    calibration: str | None,
    fmt: str,
) -> None:
    """The mirage test of every discontinuous metric of TABLE: is its jump more than the metric?

    TABLE is as for `scores`. For each task and metric (exact match, grade, accuracy, pass@k):
    prints the verdict (explained_by_metric, excess_jump or inconclusive), the excess of the
    observed largest jump over the smooth model's prediction with its 90% interval, and the
    p-value, per mode. The rule is printed at the end. With --calibration, each series gets the
    false alarm and power of the nearest measured cell of its mode, and the rule withholds a
    verdict where the false alarm is too high or (for explained_by_metric) the power too low.
    """
    from emergestats.mirage import jump_test

    measured = _calibration_of(calibration)
    evaluations = load_evaluation_table(table)
    if tasks:
        evaluations = _select_tasks(evaluations, tasks, table)
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    client = _scheduler_client(scheduler)
    _info(
        fmt,
        f"mirage test of {len(evaluations)} rows, modes {', '.join(chosen)}: "
        f"{chains} chains x {draws} draws after {tune} tuning steps per fit"
        + (f", on {scheduler}" if scheduler else ""),
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
            calibration=measured,
            lengths="auto",
        )
    finally:
        if client is not None:
            client.close()
    for note in result.notes:
        _info(fmt, f"note: {note}")
    summary = result.summary
    lines = pd.DataFrame(
        {
            "task": summary["task"],
            "metric": summary["metric"],
            "mode": summary["mode"],
            "verdict": summary["verdict"],
            "excess jump [90%]": [
                interval_text(a, b, c)
                for a, b, c in zip(
                    summary["excess_q05"],
                    summary["excess_q50"],
                    summary["excess_q95"],
                    strict=True,
                )
            ],
            "p": summary["p_value"],
            "p_adj": summary["p_adjusted"],
            "reason": summary["reason"].fillna(""),
        }
    )
    if measured is not None:  # the nearest measured cell's rates, before the reason
        primary = result.verdicts[result.verdicts["primary"]]  # the rows of the summary
        lines.insert(len(lines.columns) - 1, "false alarm", primary["false_alarm"].to_numpy())
        lines.insert(len(lines.columns) - 1, "power", primary["power"].to_numpy())
    click.echo(render_table(lines, fmt, digits=3))
    counts = summary["verdict"].value_counts()
    _info(
        fmt,
        "\n" + ", ".join(f"{name}: {int(counts.get(name, 0))}" for name in sorted(counts.index)),
    )
    _info(fmt, f"rule: {result.rule.describe()}")
    if out is not None:
        with atomic_folder(out) as tmp:
            result.save(tmp)
        _info(fmt, f"wrote {out / 'verdicts.csv'}, {out / 'verdicts.json'} and {out / 'fits'}")


def _calibration_of(option: str | None) -> CalibrationResult | None:
    """The ``--calibration`` option as a calibration result (None: no calibration)."""
    if option is None:
        return None
    from emergestats.mirage.calibration import CalibrationResult
    from emergestats.report.sections import measured_calibration

    if option == "measured":
        summary = measured_calibration()
    else:
        path = Path(option)
        if not path.is_file():
            raise click.BadParameter(
                f"{option!r} is neither 'measured' nor a file", param_hint="--calibration"
            )
        summary = pd.read_csv(path)
    needed = {"kind", "n_items", "n_sizes", "false_alarm", "power"}
    missing = sorted(needed - set(summary.columns))
    if missing:
        raise click.BadParameter(
            f"{option} has no column(s) {', '.join(missing)}: give the summary table of "
            "emergestats.mirage.calibrate (CalibrationResult.summary) as CSV",
            param_hint="--calibration",
        )
    return CalibrationResult(replicates=pd.DataFrame(), summary=summary, wall_seconds=0.0)


def _scheduler_client(scheduler: str | None) -> Client | None:
    """A client of the scheduler at ``scheduler`` (None: run here), or a clear error."""
    if scheduler is None:
        return None
    from distributed import Client

    try:
        return Client(scheduler, timeout=30)
    except OSError as exc:
        raise click.ClickException(
            f"cannot reach the dask scheduler at {scheduler} ({exc}); start one with "
            "`dask scheduler` or leave --scheduler out to run here"
        ) from exc


@main.command("plan")
@click.argument("task", metavar="TASK")
@click.option("--subtask", default=None, help="The subtask to plan for (tasks with several).")
@click.option(
    "--sizes",
    required=True,
    metavar="N1,N2,...|LOW:HIGH:COUNT",
    help="Planned model sizes in parameters: a list, or COUNT log-spaced from LOW to HIGH.",
)
@click.option(
    "--break-factor",
    type=float,
    default=0.5,
    show_default=True,
    help="The break worth detecting: per-token CE multiplied by this within half a decade.",
)
@click.option(
    "--items",
    default="100,400,1600",
    show_default=True,
    help="Candidate numbers of items (comma-separated).",
)
@click.option(
    "--n-rep", type=int, default=10, show_default=True, help="Broken truths per candidate."
)
@click.option(
    "--false-alarm/--no-false-alarm",
    default=False,
    show_default=True,
    help="Also simulate as many smooth truths and measure the false-alarm rate (2x the time).",
)
@click.option(
    "--broken/--no-broken",
    default=False,
    show_default=True,
    help="Also fit the broken model per batch, for the smooth-vs-broken LOO (2x the time).",
)
@click.option("--mode", default="cross_metric", show_default=True, help="The jump test's mode.")
@click.option(
    "--power", "target", type=float, default=0.8, show_default=True, help="The power asked for."
)
@click.option("--draws", type=int, default=500, show_default=True, help="Draws per chain.")
@click.option("--tune", type=int, default=500, show_default=True, help="Tuning steps per chain.")
@click.option("--chains", type=int, default=4, show_default=True, help="Chains per fit.")
@click.option("--workers", type=int, default=None, help="Workers of the local cluster.")
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="A dask.distributed scheduler (e.g. tcp://host:8786) to run the simulations on.",
)
@click.option(
    "--cluster-workers",
    type=int,
    default=64,
    show_default=True,
    help="Cluster size the full grid's time is estimated for.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the whole plan.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for power.csv, replicates.csv, plan.json and power.png.",
)
@_FORMAT_OPTION
@_friendly_errors
def plan_command(
    task: str,
    subtask: str | None,
    sizes: str,
    break_factor: float,
    items: str,
    n_rep: int,
    false_alarm: bool,
    broken: bool,
    mode: str,
    target: float,
    draws: int,
    tune: int,
    chains: int,
    workers: int | None,
    scheduler: str | None,
    cluster_workers: int,
    seed: int,
    out: Path | None,
    fmt: str,
) -> None:
    """How many items the jump test needs to detect a break in TASK at the planned sizes.

    TASK is a BIG-bench task name (read from the 'bigbench-tasks' dataset), a task folder or a
    task.json: its answer lengths or number of choices are read from the definition. Simulates
    broken truths at each candidate number of items on Dask, runs the jump test on each, and
    prints the power per candidate with its 90% interval, the fewest items that reach the
    target power, and how long the full grid would take on a cluster.
    """
    from emergestats.planning import FULL_ITEMS, FULL_REPLICATES, parse_sizes, plan

    try:
        candidates = [int(v) for v in items.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{items!r}: give comma-separated item counts") from exc
    client = _scheduler_client(scheduler)
    try:
        result = plan(
            task,
            parse_sizes(sizes),
            subtask=subtask,
            break_factor=break_factor,
            n_items=candidates,
            n_rep=n_rep,
            target_power=target,
            false_alarm=false_alarm,
            mode=mode,
            client=client,
            n_workers=workers,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            compare_broken=broken,
        )
    finally:
        if client is not None:
            client.close()
    click.echo(render_table(result.power, fmt, digits=2))
    _info(fmt, "\n" + result.answer())
    full = (
        f"full grid ({len(FULL_ITEMS)} candidates {FULL_ITEMS[0]}-{FULL_ITEMS[-1]} items, "
        f"{FULL_REPLICATES} smooth and {FULL_REPLICATES} broken truths each): about "
    )
    _info(
        fmt,
        f"this run: {len(result.calibration.replicates)} tests in "
        f"{result.calibration.wall_seconds / 60:.1f} min "
        f"({result.seconds_per_test:.1f} compute s per test); "
        + full
        + f"{result.estimate_minutes(cluster_workers):.0f} min on "
        f"{cluster_workers} workers, {result.estimate_minutes(2) / 60:.1f} h on 2 "
        "(lower bounds: perfect sharing, no start-up)",
    )
    if out is not None:
        with atomic_folder(out) as tmp:
            result.save(tmp)
        _info(fmt, f"wrote {out / 'power.csv'}, {out / 'plan.json'} and {out / 'power.png'}")


def _progress_printer(show: bool | None) -> Callable[[str], None] | None:
    """Stage lines on stderr, shown by default only when stdout is a terminal."""
    if show is None:
        show = sys.stdout.isatty()
    if not show:
        return None

    def echo(line: str) -> None:
        click.echo(f"emergestats: {line}", err=True)

    return echo


def _reproducing_command(source: str, out: Path, given: dict[str, object]) -> str:
    parts = ["emergestats", "analyze", source, "--out", str(out)]
    for name, value in given.items():
        if value is None or value == () or name == "fmt":
            continue
        flag = "--" + name.replace("_", "-")
        if name == "tasks":
            for task in value:  # type: ignore[attr-defined]
                parts += ["--task", str(task)]
        elif name == "broken":
            parts.append("--broken" if value else "--no-broken")
        elif name == "spec_path":
            parts += ["--model", str(value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


@main.command("analyze")
@click.argument("table", metavar="TABLE|DATASET")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the report (report.html, report.md, report.json) and the saved results.",
)
@click.option(
    "--model",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A smooth-model specification (TOML) for the fits' options, priors and sampler.",
)
@click.option("--modes", default=None, help="Comma-separated modes of the test (first: headline).")
@click.option("--draws", type=int, default=None, help="Draws per chain of every fit.")
@click.option("--tune", type=int, default=None, help="Tuning steps per chain of every fit.")
@click.option("--chains", type=int, default=None, help="Chains per fit.")
@click.option("--replicates", type=int, default=None, help="Replicate curves per test.")
@click.option("--seed", type=int, default=None, help="Seed of the fits and replicates.")
@click.option(
    "--broken/--no-broken",
    default=None,
    help="Also fit the broken model for the smooth-vs-broken LOO (default: no).",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    metavar="NAME",
    help="Analyse only this task (repeatable; 'task' or 'task/subtask').",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Print a line per stage on stderr (default: when stdout is a terminal).",
)
@_FORMAT_OPTION
@_friendly_errors
def analyze_command(
    table: str,
    out: Path,
    spec_path: Path | None,
    modes: str | None,
    draws: int | None,
    tune: int | None,
    chains: int | None,
    replicates: int | None,
    seed: int | None,
    broken: bool | None,
    tasks: tuple[str, ...],
    progress: bool | None,
    fmt: str,
) -> None:
    """Scores, smooth fit, mirage test and report of TABLE, written to --out.

    TABLE is as for `scores`. Runs the four stages (classic jump statistics; the smooth model
    fitted to every metric; the mirage test, by default in the cross_metric and in_sample
    modes; the report), prints one line per tested metric series (verdict, excess jump with
    its 90% interval, p) and the path of the report. `emergestats report DIR` re-renders it.
    The dataset `ladder` has its own preset of sampler settings (stated in the report).
    """
    from dataclasses import replace

    from emergestats.analysis import analyze, default_settings, settings_from_spec, verdict_lines
    from emergestats.specs import load_spec

    settings = default_settings(table)
    if spec_path is not None:
        settings = settings_from_spec(load_spec(spec_path), settings)
    changes: dict[str, object] = {
        name: value
        for name, value in (
            ("draws", draws),
            ("tune", tune),
            ("chains", chains),
            ("n_replicates", replicates),
            ("random_seed", seed),
            ("compare_broken", broken),
        )
        if value is not None
    }
    if modes is not None:
        changes["modes"] = tuple(m.strip() for m in modes.split(",") if m.strip())
    if changes:
        settings = replace(settings, **changes)  # type: ignore[arg-type]
    command = _reproducing_command(
        table,
        out,
        {
            "spec_path": spec_path,
            "modes": modes,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "replicates": replicates,
            "seed": seed,
            "broken": broken,
            "tasks": tasks,
        },
    )
    analysis = analyze(
        table,
        out,
        settings=settings,
        tasks=tasks,
        command=command,
        progress=_progress_printer(progress),
    )
    mode = analysis.settings.modes[0]
    _info(fmt, f"verdicts ({mode} mode; every mode is in the report):")
    click.echo(render_table(verdict_lines(analysis), fmt))
    _info(fmt, f"report: {out / 'report.html'} (summary {out / 'report.md'})")


@main.command("report")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@_FORMAT_OPTION
@_friendly_errors
def report_command(folder: Path, fmt: str) -> None:
    """Re-render the report of an analysis folder written by `emergestats analyze`.

    Reads the saved fits, jump-test results and scores in DIR (no sampling) and rewrites
    report.html, report.md and report.json there; prints the verdict table again.
    """
    from emergestats.analysis import load_analysis, verdict_lines
    from emergestats.report import write_report

    analysis = load_analysis(folder)
    paths = write_report(analysis, folder)
    click.echo(render_table(verdict_lines(analysis), fmt))
    _info(fmt, f"report: {paths['html']} (summary {paths['markdown']})")
