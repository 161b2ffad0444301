"""The main job: classic scores -> smooth fit -> mirage test -> report, saved so it can be re-read.

:func:`analyze` runs the four stages on one evaluation table and writes everything the report
shows into one folder; :func:`load_analysis` reads such a folder back, so ``emergestats report
DIR`` re-renders the report without sampling. The folder holds:

``evaluations.csv``
    the canonical evaluation table analysed (after any ``--task`` selection);
``scores.csv``
    the classic jump statistics of every series (:func:`emergestats.emergence.jump_table`);
``fit.zarr``
    the smooth model fitted to every metric at once (the in-sample fit: curves, diagnostics,
    the ``in_sample`` mode of the test);
``jump/``
    ``verdicts.csv``, ``verdicts.json`` (:meth:`JumpTestResult.save`) and the test's own fits
    in ``jump/fits/<mode>-<model>.zarr`` (the ``cross_metric`` fit, ...);
``analysis.json``
    the settings, the source and its citation, the command, seed, package versions, notes
    and the wall time of each stage;
``report.html``, ``report.md``, ``report.json`` and ``figures/``
    the report (:mod:`emergestats.report`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from emergestats.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from emergestats.inference.fit import Fit
    from emergestats.mirage.jumps import JumpTestResult
    from emergestats.specs import ModelSpec

__all__ = [
    "LADDER_SETTINGS",
    "STAGES",
    "Analysis",
    "AnalysisSettings",
    "analyze",
    "default_settings",
    "load_analysis",
    "load_evaluation_table",
    "package_versions",
    "select_tasks",
    "settings_from_spec",
    "verdict_lines",
]

#: The stages of :func:`analyze`, in order (the progress lines count them).
STAGES: Final[tuple[str, ...]] = ("scores", "fit", "jump test", "report")
#: Packages whose versions the report records.
_VERSIONED: Final[tuple[str, ...]] = (
    "emergestats",
    "pymc",
    "pytensor",
    "arviz",
    "arviz-stats",
    "arviz-plots",
    "nutpie",
    "numpyro",
    "jax",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "matplotlib",
    "jinja2",
)
_ANALYSIS_FILE: Final[str] = "analysis.json"
_FORMAT_VERSION: Final[int] = 1


# --------------------------------------------------------------------------------------------
# Reading the input
# --------------------------------------------------------------------------------------------


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


def select_tasks(evaluations: pd.DataFrame, tasks: Sequence[str], source: str) -> pd.DataFrame:
    """The rows of the named tasks (``task`` or ``task/subtask``).

    Raises
    ------
    ConfigError
        If a name matches no task, listing the tasks available.
    """
    task = evaluations["task"].astype(str)
    both = task + "/" + evaluations["subtask"].astype(str)
    missing = [name for name in tasks if not ((task == name) | (both == name)).any()]
    if missing:
        known = sorted(task.unique())
        shown = ", ".join(known[:12]) + (f" and {len(known) - 12} more" if len(known) > 12 else "")
        raise ConfigError(
            f"--task {', '.join(missing)}: no such task in {source} (its tasks: {shown})"
        )
    keep = task.isin(list(tasks)) | both.isin(list(tasks))
    return evaluations[keep.to_numpy()].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisSettings:
    """How :func:`analyze` fits and tests: one set of sampler settings for every fit.

    Attributes
    ----------
    modes
        Modes of the jump test (:data:`emergestats.mirage.MODES`); the first is the headline
        mode of the printed verdict table. ``in_sample`` reuses the all-metrics fit.
    draws, tune, chains
        Sampler settings of every fit.
    n_replicates
        Posterior-predictive replicate curves per tested series.
    random_seed
        Seed of every fit and of the replicates.
    sampler
        ``nutpie``, ``numpyro`` or ``pymc`` (``None``: the package default).
    target_accept, max_treedepth
        NUTS settings (``None``: the builder's defaults).
    adaptation
        nutpie's mass-matrix adaptation, ``"diag"`` or ``"low_rank"`` (``None``: the package's
        :data:`emergestats.inference.fit.DEFAULT_NUTPIE_ADAPTATION`).
    floor
        Fit an irreducible per-token cross-entropy floor.
    lengths
        ``"auto"``: per-item answer lengths from the task definitions
        (:func:`emergestats.data.default_lengths`); ``None``: the table's ``target_tokens``.
    compare_broken
        Also fit the broken model (the smooth-vs-broken LOO, ``latent_break``); doubles the
        sampling.
    priors
        Prior overrides by key (:data:`emergestats.models.priors.DEFAULT_PRIORS`).
    rationale
        Why these settings, in a sentence (shown in the report's configuration section).
    """

    modes: tuple[str, ...] = ("cross_metric", "in_sample")
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    n_replicates: int = 1000
    random_seed: int = 1
    sampler: str | None = None
    target_accept: float | None = None
    max_treedepth: int | None = None
    adaptation: str | None = None
    floor: bool = False
    lengths: str | None = "auto"
    compare_broken: bool = False
    priors: dict[str, Any] = field(default_factory=dict)
    rationale: str = "the package defaults for a table without a preset"

    def __post_init__(self) -> None:
        from emergestats.mirage.jumps import MODES

        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise ConfigError(
                f"unknown mode(s) {', '.join(map(repr, unknown)) or '(none given)'}; use any of "
                f"{', '.join(MODES)}"
            )
        for name in ("draws", "chains", "n_replicates"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be a positive integer, not {getattr(self, name)}")

    def fit_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`emergestats.fit` shared by every fit (no model, no seed)."""
        options: dict[str, Any] = {
            "sampler": self.sampler,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "floor": self.floor,
            "lengths": self.lengths,
        }
        if self.target_accept is not None:
            options["target_accept"] = self.target_accept
        if self.max_treedepth is not None:
            options["max_treedepth"] = self.max_treedepth
        if self.adaptation is not None:
            options["adaptation"] = self.adaptation
        return options

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``from_dict`` reads it back)."""
        out = asdict(self)
        out["modes"] = list(self.modes)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AnalysisSettings:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if "modes" in kept:
            kept["modes"] = tuple(kept["modes"])
        return cls(**kept)


#: The quick start's preset for the package's model ladder (one curve, 12 sizes, 540 items):
#: the sampler settings of ``models/ladder-smooth.toml`` (floor, standard NUTS trees,
#: target_accept 0.99) with fewer draws, so that the whole analysis (two fits and the test)
#: stays within the quick start's budget on 2 cores and both fits still pass their diagnostics.
LADDER_SETTINGS: Final[AnalysisSettings] = AnalysisSettings(
    modes=("cross_metric", "in_sample"),
    draws=2000,
    tune=1000,
    chains=2,
    n_replicates=1000,
    random_seed=20261202,
    target_accept=0.99,
    max_treedepth=10,
    adaptation="low_rank",
    floor=True,
    lengths=None,
    rationale=(
        "the ladder preset: models/ladder-smooth.toml's floor, target_accept 0.99 and standard "
        "NUTS trees (max_treedepth 10), with 2 chains (one per core of a 2-core machine) x "
        "2000 draws after 1000 tuning steps and seed 20261202, and nutpie's low-rank mass "
        "matrix (the one curve's a, floor and item sd are correlated: min bulk ESS 965-1462 "
        "over seeds 1-6 and 20261202 against 332-515 with the diagonal one, whose seed 5 "
        "failed at R-hat 1.017), so that both fits (every metric; the continuous metrics "
        "alone for cross_metric) pass their diagnostics (R-hat <= 1.01, ESS >= 100 per chain, "
        "no divergence) and the whole analysis runs in about two minutes (with the floor's "
        "HalfNormal(0.5) prior of 2026-12-07, 13 of the 14 fits of those seeds pass at "
        "target_accept 0.99 and 12 at 0.95, where the quick start's own continuous fit had a "
        "divergence); subset sizes are exact, so the table's target_tokens are the lengths; "
        "the broken-model LOO is left out (it doubles the sampling; --broken adds it)"
    ),
)


def default_settings(source: str) -> AnalysisSettings:
    """The settings :func:`analyze` uses for ``source`` when none are given.

    The ladders (``ladder``, ``ladder-conv``: one curve each, 12 sizes, the same 540 images and
    metrics) get :data:`LADDER_SETTINGS`; anything else the package defaults (4 chains x 1000
    draws after 1000 tuning steps, modes ``cross_metric`` and ``in_sample``).
    """
    if source in ("ladder", "ladder-conv"):
        return LADDER_SETTINGS
    return AnalysisSettings()


def settings_from_spec(spec: ModelSpec, base: AnalysisSettings) -> AnalysisSettings:
    """``base`` with the builder options, priors and sampler settings of a model specification.

    Raises
    ------
    ConfigError
        If the spec is not a smooth-model spec, or sets an option the analysis does not take.
    """
    if spec.builder != "smooth":
        raise ConfigError(
            f"{spec.path}: the analysis fits the smooth model; this spec's builder is "
            f"{spec.builder!r}"
        )
    unsupported = sorted(set(spec.options) - {"floor"})
    if unsupported:
        raise ConfigError(
            f"{spec.path}: option(s) {', '.join(unsupported)} are not used by the analysis "
            "(it takes floor; lengths are read from the task definitions)"
        )
    sampler = dict(spec.sampler)
    changes: dict[str, Any] = {
        "draws": int(sampler.get("draws", base.draws)),
        "tune": int(sampler.get("tune", base.tune)),
        "chains": int(sampler.get("chains", base.chains)),
        "random_seed": int(sampler.get("random_seed", base.random_seed)),
        "sampler": sampler.get("name", base.sampler),
        "target_accept": sampler.get("target_accept", base.target_accept),
        "max_treedepth": sampler.get("max_treedepth", base.max_treedepth),
        "floor": bool(spec.options.get("floor", base.floor)),
        "priors": dict(spec.priors),
        "rationale": f"the model specification {spec.path}"
        + (f" ({spec.description})" if spec.description else ""),
    }
    return replace(base, **changes)


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """Everything one analysis computed; :mod:`emergestats.report` renders it.

    Attributes
    ----------
    table
        The evaluation table analysed.
    scores
        The classic jump statistics per series (:func:`emergestats.emergence.jump_table`).
    fit
        The smooth model fitted to every metric of the table.
    jump
        The mirage test (:func:`emergestats.mirage.jump_test`); its ``fits`` include the
        ``cross_metric`` fit, and ``in_sample/smooth`` is :attr:`fit`.
    settings
        The settings used.
    info
        ``source``, ``dataset`` (name, description, citation, license, repository, commit),
        ``command``, ``versions``, ``timings`` (seconds per stage), ``notes`` and ``created``.
    folder
        Where it is saved (``None`` until saved).
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    fit: Fit
    jump: JumpTestResult
    settings: AnalysisSettings
    info: dict[str, Any]
    folder: Path | None = None

    @property
    def fits(self) -> dict[str, Fit]:
        """Every fit by role: ``all_metrics`` (:attr:`fit`) and the test's ``<mode>/<model>``."""
        out: dict[str, Fit] = {"all_metrics": self.fit}
        for key, value in self.jump.fits.items():
            if value is not self.fit:
                out[key] = value
        return out

    def fit_keys(self) -> dict[str, str]:
        """Each key of :attr:`jump`'s fits (and ``all_metrics``) -> the key it is stored as."""
        keys = {"all_metrics": "all_metrics"}
        for key, value in self.jump.fits.items():
            keys[key] = "all_metrics" if value is self.fit else key
        return keys

    def diagnostics(self) -> dict[str, dict[str, Any]]:
        """The diagnostics summary of every stored fit, by the keys of :attr:`fits`."""
        return {key: value.diagnostics_summary() for key, value in self.fits.items()}


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages the analysis depends on (``-`` if missing)."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def _dataset_info(source: str) -> dict[str, Any] | None:
    from emergestats import datasets

    dataset = datasets.DATASETS.get(source)
    if dataset is None or Path(source).exists():
        return None
    upstream = dataset.source
    return {
        "name": dataset.name,
        "description": dataset.description,
        "citation": dataset.citation,
        "license": dataset.license,
        "repository": None if upstream is None else upstream.repository,
        "url": None if upstream is None else f"https://github.com/{upstream.repository}",
        "commit": None if upstream is None else upstream.commit,
    }


Progress = Callable[[str], None]


@contextmanager
def _stage(
    number: int, detail: str, progress: Progress | None, timings: dict[str, float]
) -> Iterator[None]:
    name = STAGES[number - 1]
    prefix = f"[{number}/{len(STAGES)}] {name}"
    if progress is not None:
        progress(f"{prefix}: {detail} ...")
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    timings[name] = round(seconds, 2)
    if progress is not None:
        progress(f"{prefix}: done in {_duration(seconds)}")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _record_notes(caught: Sequence[warnings.WarningMessage], notes: list[str], prefix: str) -> None:
    for note in caught:
        text = f"{prefix}: {note.message}"
        if text not in notes:
            notes.append(text)


def analyze(
    source: str | pd.DataFrame,
    out: str | Path,
    *,
    settings: AnalysisSettings | None = None,
    tasks: Sequence[str] = (),
    command: str | None = None,
    progress: Progress | None = None,
    render: bool = True,
    dataset: str | None = None,
) -> Analysis:
    """Scores, smooth fit, mirage test and report of one evaluation table, saved in ``out``.

    Parameters
    ----------
    source
        A canonical table file, a BIG-bench results folder, a dataset name
        (:func:`load_evaluation_table`) or a canonical evaluation table.
    out
        The folder to write (see the module docstring); files of an earlier analysis there are
        replaced.
    settings
        How to fit and test (default :func:`default_settings` of ``source``).
    tasks
        Analyse only these tasks (``task`` or ``task/subtask``).
    command
        The command line that reproduces the analysis (recorded in the report).
    progress
        Called with one line at the start and at the end of every stage.
    render
        Also write the report (``report.html``, ``report.md``, ``report.json``).
    dataset
        For a table given as a DataFrame: the registered dataset it was cut from (its
        description, citation and license go into the report).

    Returns
    -------
    Analysis
        With ``folder`` set to ``out``.

    Examples
    --------
    >>> analysis = analyze("ladder", "out/ladder")  # doctest: +SKIP
    >>> verdict_lines(analysis)  # doctest: +SKIP
    """
    from emergestats.emergence import jump_table
    from emergestats.inference.fit import fit
    from emergestats.mirage.jumps import jump_test

    name = source if isinstance(source, str) else (dataset or "table")
    settings = settings or default_settings(name)
    table = source if isinstance(source, pd.DataFrame) else load_evaluation_table(source)
    if tasks:
        table = select_tasks(table, tasks, name)
    table = table.reset_index(drop=True)
    timings: dict[str, float] = {}
    notes: list[str] = []
    with _stage(1, f"jump statistics of {len(table)} rows", progress, timings):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            scores = jump_table(table)
        _record_notes(caught, notes, "scores")
    options = settings.fit_options()
    with _stage(
        2,
        f"smooth model on every metric, {settings.chains} chains x {settings.draws} draws "
        f"after {settings.tune} tuning steps",
        progress,
        timings,
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            fitted = fit(
                table,
                "smooth",
                random_seed=settings.random_seed,
                priors=settings.priors or None,
                **options,
            )
        _record_notes(caught, notes, "all-metrics fit")
    fit_modes = [m for m in settings.modes if m != "in_sample"]
    with _stage(
        3,
        f"modes {', '.join(settings.modes)}"
        + (f" ({len(fit_modes)} more fit(s))" if fit_modes else "")
        + f", {settings.n_replicates} replicates",
        progress,
        timings,
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            options.pop("draws"), options.pop("tune"), options.pop("chains")
            if settings.priors:
                options["priors"] = settings.priors
            result = jump_test(
                table,
                fit=fitted,
                modes=settings.modes,
                compare_broken=settings.compare_broken,
                n_replicates=min(settings.n_replicates, settings.draws * settings.chains),
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.random_seed,
                **options,
            )
        _record_notes(caught, notes, "jump test")
    for note in result.notes:
        if note not in notes:
            notes.append(note)
    info: dict[str, Any] = {
        "format_version": _FORMAT_VERSION,
        "source": name,
        "tasks": list(tasks),
        "dataset": _dataset_info(name),
        "command": command or _default_command(name, tasks),
        "versions": package_versions(),
        "timings": timings,
        "notes": notes,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }
    analysis = Analysis(
        table=table,
        scores=scores,
        fit=fitted,
        jump=result,
        settings=settings,
        info=info,
    )
    folder = Path(out)
    with _stage(4, f"writing {folder}", progress, timings):
        _save(analysis, folder)
        if render:
            from emergestats.report import write_report

            write_report(analysis, folder)
    analysis.info["timings"] = timings
    (folder / _ANALYSIS_FILE).write_text(json.dumps(_analysis_json(analysis), indent=2) + "\n")
    return analysis


def _default_command(source: str, tasks: Sequence[str]) -> str:
    task_args = "".join(f" --task {t}" for t in tasks)
    return f"emergestats analyze {source}{task_args} --out OUT"


def _analysis_json(analysis: Analysis) -> dict[str, Any]:
    from emergestats.mirage.jumps import _jsonable

    return {
        "settings": analysis.settings.to_dict(),
        "info": _jsonable(analysis.info),
        "fits": {key: _fit_path(stored) for key, stored in analysis.fit_keys().items()},
    }


def _fit_path(key: str) -> str:
    if key == "all_metrics":
        return "fit.zarr"
    return f"jump/fits/{key.replace('/', '-')}.zarr"


def _save(analysis: Analysis, folder: Path) -> None:
    """Write the folder's data files (not the report) through a temporary sibling folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        analysis.table.to_csv(tmp / "evaluations.csv", index=False)
        analysis.scores.to_csv(tmp / "scores.csv", index=False)
        analysis.jump.save(tmp / "jump", fits=False)
        for key, value in analysis.fits.items():
            value.save(tmp / _fit_path(key))
        (tmp / _ANALYSIS_FILE).write_text(json.dumps(_analysis_json(analysis), indent=2) + "\n")
        folder.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            target = folder / item.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    analysis.folder = folder


def load_analysis(folder: str | Path) -> Analysis:
    """Read an analysis written by :func:`analyze` (no sampling).

    Raises
    ------
    DataFormatError
        If the folder is not an analysis folder, or a file in it is missing or unreadable.
    """
    from emergestats.data import read_table
    from emergestats.inference.fit import Fit
    from emergestats.mirage.jumps import VERDICT_COLUMNS, JumpTestResult, VerdictRule

    folder = Path(folder)
    manifest = folder / _ANALYSIS_FILE
    if not manifest.is_file():
        raise DataFormatError(
            f"is not an analysis folder (no {_ANALYSIS_FILE}); write one with "
            "`emergestats analyze TABLE --out DIR`",
            path=folder,
        )
    try:
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        settings = AnalysisSettings.from_dict(saved["settings"])
        info = dict(saved["info"])
        fit_paths: dict[str, str] = dict(saved["fits"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataFormatError(
            f"cannot be read as an analysis manifest ({exc})", path=manifest
        ) from exc
    for name in ("evaluations.csv", "scores.csv", "jump/verdicts.csv", "jump/verdicts.json"):
        if not (folder / name).is_file():
            raise DataFormatError(
                "is missing; rerun `emergestats analyze` to write the whole folder",
                path=folder / name,
            )
    table = read_table(folder / "evaluations.csv")
    scores = pd.read_csv(folder / "scores.csv")
    loaded: dict[str, Fit] = {}
    fits: dict[str, Fit] = {}
    for key, relative in fit_paths.items():
        if relative not in loaded:
            loaded[relative] = Fit.load(folder / relative)
        fits[key] = loaded[relative]
    verdict_json = json.loads((folder / "jump" / "verdicts.json").read_text(encoding="utf-8"))
    # the CSV keeps every float exactly (the JSON rounds to 10 digits)
    verdicts = _verdicts_from_csv(folder / "jump" / "verdicts.csv", list(VERDICT_COLUMNS), table)
    rule_values = {k: v for k, v in verdict_json["rule"].items() if k != "text"}
    jump = JumpTestResult(
        verdicts=verdicts,
        rule=VerdictRule(**rule_values),
        fits={k: v for k, v in fits.items() if k != "all_metrics"},
        diagnostics={k: v.diagnostics_summary() for k, v in fits.items() if k != "all_metrics"},
        notes=tuple(verdict_json.get("notes", ())),
        settings=dict(verdict_json.get("settings", {})),
    )
    return Analysis(
        table=table,
        scores=scores,
        fit=fits["all_metrics"],
        jump=jump,
        settings=settings,
        info=info,
        folder=folder,
    )


#: Verdict columns a saved analysis may lack because it predates them (read back as NaN):
#: ``step_p`` (2026-12-05, rule 7's step test; before it ``latent_break`` came from the LOO).
COLUMNS_ADDED_LATER: Final[tuple[str, ...]] = ("step_p", "n_choices")


def _verdicts_from_csv(path: Path, columns: list[str], table: pd.DataFrame) -> pd.DataFrame:
    text = ["task", "subtask", "family", "metric", "metric_kind", "mode", "statistic", "verdict"]
    frame = pd.read_csv(
        path, dtype=dict.fromkeys([*text, "reason"], object), keep_default_na=False, na_values=[""]
    )
    for column in COLUMNS_ADDED_LATER:  # folders saved before the column existed still load
        if column in columns and column not in frame.columns:
            frame[column] = np.nan
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(f"lacks the column(s) {', '.join(missing)}", path=path)
    frame = frame.loc[:, columns]
    frame["reason"] = frame["reason"].fillna("").astype(object)
    frame["primary"] = frame["primary"].astype(str).str.lower().eq("true")
    frame["shots"] = frame["shots"].astype(table["shots"].dtype)
    frame["n_sizes"] = frame["n_sizes"].astype(np.int64)
    for column in columns:
        if column not in (*text, "reason", "primary", "shots", "n_sizes"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


# --------------------------------------------------------------------------------------------
# The printed verdict table
# --------------------------------------------------------------------------------------------


def verdict_lines(analysis: Analysis, mode: str | None = None) -> pd.DataFrame:
    """One line per tested series in one mode (default the headline mode, the first run).

    Columns: ``task``, ``family``, ``metric``, ``verdict``, ``excess jump [90%]`` (observed
    largest jump minus the predicted one: median and 90% interval), ``p`` (one-sided,
    unadjusted), ``p_adj`` (adjusted across the mode's series), ``fit`` (``passed`` or
    ``FAILED`` diagnostics) and ``reason``.
    """
    from emergestats.report.formats import format_number, interval_text

    mode = mode or analysis.settings.modes[0]
    summary = analysis.jump.summary
    rows = summary[summary["mode"] == mode].reset_index(drop=True)
    passed = analysis.jump.diagnostics.get(f"{mode}/smooth", {}).get("passed")
    fit_text = "-" if passed is None else ("passed" if passed else "FAILED")
    task = rows["task"].astype(str)
    subtask = rows["subtask"].astype(str)
    label = np.where(subtask == task, task, task + "/" + subtask)
    return pd.DataFrame(
        {
            "task": label,
            "family": rows["family"].astype(str),
            "metric": rows["metric"].astype(str),
            "verdict": rows["verdict"].astype(str),
            "excess jump [90%]": [
                interval_text(a, b, c)
                for a, b, c in zip(
                    rows["excess_q05"], rows["excess_q50"], rows["excess_q95"], strict=True
                )
            ],
            "p": [format_number(v, 3) for v in rows["p_value"]],
            "p_adj": [format_number(v, 3) for v in rows["p_adjusted"]],
            "fit": fit_text,
            "reason": rows["reason"].fillna("").astype(str),
        }
    )
