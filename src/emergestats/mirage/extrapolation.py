"""Extrapolation to the largest models of real families: the model beside the field's baselines.

For every family with at least ``min_sizes`` model sizes, the largest ``n`` sizes (``n`` in
``hold_out``, default one and two) are held out; the smooth model is fitted to every row of
the family's smaller models (all metrics, the package's defaults with an irreducible floor)
and predicts the held out rows with :meth:`emergestats.inference.Fit.predict_table`; the two
baselines of :mod:`emergestats.baselines` (a least-squares sigmoid in log scale, and the
two-step scale -> task loss -> score fit) are fitted per series to the same smaller models and
predict the same rows, with bootstrap prediction intervals. Every method is scored on the
held-out rows of the metric kinds the baselines predict
(:data:`emergestats.baselines.SCORE_KINDS`: accuracy, exact match, multiple-choice grade;
scores in 0..1):

- **coverage**: the share of observed scores inside the 90% interval ``[q05, q95]``;
- **width**: the median interval width (coverage by a nearly [0, 1] interval is no success);
- **error**: the median absolute error of the predictive median ``q50``.

A row a method cannot predict keeps its ``reason`` and is counted, never dropped. Every
(family, hold-out) fit is one task on ``dask.distributed`` (a ``LocalCluster`` unless a
``Client`` is given), so the benchmark runs unchanged on a real cluster.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pandas as pd

from emergestats.baselines import BASELINES, SCORE_KINDS, predict_baseline
from emergestats.cluster import Progress, run_on_cluster
from emergestats.data.table import curve_labels, final_checkpoints
from emergestats.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "METHODS",
    "ExtrapolationResult",
    "compare_with_baselines",
    "extrapolate_family",
    "extrapolation_benchmark",
    "final_checkpoints",
    "hold_out_largest",
    "summarise_extrapolation",
]

#: The methods compared: the package's smooth model and the baselines.
METHODS: Final[tuple[str, ...]] = ("model", *BASELINES)
NOT_FITTED: Final[str] = "model: curve not in the fit (no smaller model of it)"


def hold_out_largest(rows: pd.DataFrame, n_largest: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fitted, held_out)``: the rows of the ``n_largest`` largest sizes are held out.

    ``rows`` is one family's table (sizes are compared within it).
    """
    if rows["family"].nunique() != 1:
        raise ConfigError("hold_out_largest takes one family's rows")
    sizes = np.sort(rows["params"].unique())
    if n_largest < 1 or n_largest >= len(sizes):
        raise ConfigError(
            f"cannot hold out the {n_largest} largest of {len(sizes)} sizes of family "
            f"{rows['family'].iloc[0]!r}: at least one size must stay to fit"
        )
    held = rows["params"] >= sizes[-n_largest]
    return rows[~held], rows[held]


def extrapolate_family(
    source: str,
    rows: pd.DataFrame,
    n_largest: int,
    *,
    fit_options: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Fit one family without its ``n_largest`` sizes and predict them by every method.

    Returns one row per (held-out row, method) with the held-out row's columns, ``source``,
    ``hold_out``, ``method``, ``mean``, ``q05``, ``q50``, ``q95``, ``reason`` and the model
    fit's diagnostics (``rhat_max``, ``ess_bulk_min``, ``divergences``, ``fit_passed``,
    ``fit_failures``), whether it was ``refitted`` and the wall time (``fit_seconds``, both
    fits) on every row of the family. A fit that fails its diagnostics is refitted once as the
    failure needs (:func:`emergestats.inference.diagnostics.refit_settings`, as the jump test
    does); the refit's diagnostics are reported. A fit that
    raises (e.g. a sampler that finds no finite starting point) is recorded, not raised: its
    rows keep the baselines' predictions, the model's carry the error as ``reason`` and
    ``fit_failures``, so one family cannot end a long benchmark.
    """
    from emergestats.inference.diagnostics import refit_settings
    from emergestats.inference.fit import fit as fit_model

    fitted, held_out = hold_out_largest(rows, n_largest)
    options = {"random_seed": random_seed, **dict(fit_options or {})}
    started = time.perf_counter()
    diagnostics: dict[str, Any]
    try:
        with warnings.catch_warnings():
            # the package's notes on the fitted table (rows left out of the likelihood,
            # lengths assumed) are the same for every method; the benchmark leaves them out
            warnings.simplefilter("ignore", UserWarning)
            fit = fit_model(fitted, **options)
            first = fit.diagnostics_summary()
            refitted = not first["passed"]
            if refitted:  # once, as the jump test does: the failure decides how
                fit = fit_model(fitted, **refit_settings(options, first)[0])
            seen = curve_labels(held_out).isin(set(curve_labels(fitted))).to_numpy()
            parts: list[pd.DataFrame] = []
            if seen.any():
                predicted = fit.predict_table(held_out[seen], random_seed=random_seed)
                assert isinstance(predicted, pd.DataFrame)  # no draws asked for
                parts.append(predicted)
            if (~seen).any():
                parts.append(held_out[~seen].assign(reason=NOT_FITTED))
        model = pd.concat(parts, ignore_index=True)
        summary = fit.diagnostics_summary()
        diagnostics = {
            "rhat_max": float(summary["r_hat_max"]),
            "ess_bulk_min": float(summary["ess_bulk_min"]),
            "divergences": int(summary["divergences"]),
            "fit_passed": bool(summary["passed"]),
            "fit_failures": "; ".join(summary["failures"]),
            "refitted": refitted,
        }
    except ConfigError:
        raise  # the caller's settings are wrong for every family: say so at once
    except Exception as error:  # recorded on every row of the family, never dropped
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        model = held_out.assign(reason=f"model: the fit raised {message}")
        diagnostics = {
            "rhat_max": np.nan,
            "ess_bulk_min": np.nan,
            "divergences": -1,
            "fit_passed": False,
            "fit_failures": f"the fit raised {message}",
            "refitted": False,
        }
    seconds = time.perf_counter() - started
    model = model.assign(method="model")
    for column in ("mean", "q05", "q50", "q95"):
        if column not in model:
            model[column] = np.nan
    frames = [model]
    for method in BASELINES:
        baseline = predict_baseline(
            fitted, held_out, method, n_boot=n_boot, random_seed=random_seed
        )
        frames.append(baseline.assign(method=method))
    out = pd.concat(frames, ignore_index=True)
    out["reason"] = out["reason"].fillna("").astype(str)
    return out.assign(source=source, hold_out=n_largest, fit_seconds=seconds, **diagnostics)


def summarise_extrapolation(predictions: pd.DataFrame) -> pd.DataFrame:
    """Coverage, median width and median absolute error per source, family, hold-out, method.

    Scored on rows of :data:`~emergestats.baselines.SCORE_KINDS` only. Columns: ``rows`` (the
    held-out rows of those kinds), ``predicted`` (rows the method gave an interval),
    ``covered``, ``coverage``, ``median_width``, ``median_abs_error``, and for the model the
    fit's ``fit_passed``. ``median_abs_error_shared`` is each method's error on the rows every
    method predicted, the like-for-like comparison.
    """
    scored = predictions[predictions["metric_kind"].isin(SCORE_KINDS)].copy()
    scored["has_interval"] = np.isfinite(scored["q05"]) & np.isfinite(scored["q95"])
    keys = ["source", "family", "hold_out"]
    row_id = [*keys, "task", "subtask", "shots", "model", "metric"]
    predicted_by = scored[scored["has_interval"]].groupby(row_id, dropna=False)["method"].nunique()
    shared = predicted_by[predicted_by == len(METHODS)].index
    scored["shared"] = pd.MultiIndex.from_frame(scored[row_id]).isin(shared)
    records = []
    for (source, family, hold_out, method), group in scored.groupby(
        [*keys, "method"], sort=True, dropna=False
    ):
        done = group[group["has_interval"]]
        inside = (done["score"] >= done["q05"]) & (done["score"] <= done["q95"])
        error = (done["score"] - done["q50"]).abs()
        records.append(
            {
                "source": source,
                "family": family,
                "hold_out": int(cast(int, hold_out)),
                "method": method,
                "rows": len(group),
                "predicted": len(done),
                "covered": int(inside.sum()),
                "coverage": float(inside.mean()) if len(done) else np.nan,
                "median_width": float((done["q95"] - done["q05"]).median()),
                "median_abs_error": float(error.median()),
                "median_abs_error_shared": float(error[done["shared"]].median()),
                "fit_passed": bool(group["fit_passed"].iloc[0]),
            }
        )
    return pd.DataFrame.from_records(records)


def compare_with_baselines(predictions: pd.DataFrame) -> pd.DataFrame:
    """The issue's target per (source, family, hold-out): the model against the better baseline.

    Errors are compared like for like: for each baseline, the median absolute error of the
    model and of the baseline on the rows *both* predicted (two-step predicts only the curves
    with a task loss, often a few rows). "No worse than the better baseline" is read as no
    worse than *each* baseline on the rows it shares with the model (on rows both baselines
    predict, the better one's error is the smaller, so this is the same test there).
    Columns: ``model_coverage`` (over every row the model predicted), ``model_width``, per
    baseline ``<b>_rows``, ``model_error_vs_<b>``, ``<b>_error``, then ``beaten_by`` (the
    baselines with a smaller error on the shared rows), ``coverage_met`` (>= 0.8),
    ``error_met`` (beaten by none, and compared with at least one) and ``both_met``.
    """
    scored = predictions[predictions["metric_kind"].isin(SCORE_KINDS)]
    keys = ["source", "family", "hold_out"]
    row_id = ["task", "subtask", "shots", "model", "metric"]
    records = []
    for key, group in scored.groupby(keys, sort=True, dropna=False):
        done = group[np.isfinite(group["q05"]) & np.isfinite(group["q95"])]
        by_method = {
            method: frame.set_index(row_id) for method, frame in done.groupby("method", sort=False)
        }
        model = by_method.get("model")
        record: dict[str, Any] = dict(zip(keys, key, strict=True))
        if model is not None and len(model):
            inside = (model["score"] >= model["q05"]) & (model["score"] <= model["q95"])
            record["model_coverage"] = float(inside.mean())
            record["model_width"] = float((model["q95"] - model["q05"]).median())
        else:
            record["model_coverage"] = record["model_width"] = np.nan
        beaten_by, compared = [], 0
        for baseline in BASELINES:
            other = by_method.get(baseline)
            shared = (
                model.index.intersection(other.index)
                if model is not None and other is not None
                else pd.Index([])
            )
            record[f"{baseline}_rows"] = len(shared)
            if len(shared):
                assert model is not None and other is not None
                mine = (model.loc[shared, "score"] - model.loc[shared, "q50"]).abs().median()
                theirs = (other.loc[shared, "score"] - other.loc[shared, "q50"]).abs().median()
                record[f"model_error_vs_{baseline}"] = float(mine)
                record[f"{baseline}_error"] = float(theirs)
                compared += 1
                if mine > theirs:
                    beaten_by.append(baseline)
            else:
                record[f"model_error_vs_{baseline}"] = record[f"{baseline}_error"] = np.nan
        record["beaten_by"] = ", ".join(beaten_by)
        record["coverage_met"] = bool(record["model_coverage"] >= 0.8)
        record["error_met"] = compared > 0 and not beaten_by
        record["both_met"] = record["coverage_met"] and record["error_met"]
        records.append(record)
    return pd.DataFrame.from_records(records)


@dataclass(frozen=True)
class ExtrapolationResult:
    """What :func:`extrapolation_benchmark` measured.

    Attributes
    ----------
    predictions
        One row per (held-out row, method): see :func:`extrapolate_family`.
    summary
        :func:`summarise_extrapolation` of ``predictions``.
    wall_seconds
        Wall time of the whole benchmark on the cluster.
    settings
        Hold-outs, minimum sizes, bootstrap size, fit options and the scheduler.
    """

    predictions: pd.DataFrame
    summary: pd.DataFrame
    wall_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def _describe_fit(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    return (
        f"{first['source']}/{first['family']} without the {first['hold_out']} largest: fit "
        f"{'passed' if first['fit_passed'] else 'FAILED'} ({first['fit_seconds']:.0f} s)"
    )


def extrapolation_benchmark(
    tables: Mapping[str, pd.DataFrame],
    *,
    hold_out: Sequence[int] = (1, 2),
    min_sizes: int = 5,
    families: Sequence[str] | None = None,
    client: Client | None = None,
    n_workers: int | None = None,
    n_boot: int = 1000,
    random_seed: int = 0,
    progress: Progress = True,
    **fit_options: Any,
) -> ExtrapolationResult:
    """Hold out every family's largest sizes and predict them: model, sigmoid, two-step.

    Parameters
    ----------
    tables
        Canonical evaluation tables by source name (e.g. ``{"pythia": ...}``); use
        :func:`final_checkpoints` first where a table holds training checkpoints.
    hold_out
        How many of the largest sizes to hold out, one benchmark run per entry.
    min_sizes
        Families with fewer sizes are skipped (listed in ``settings["skipped"]``).
    families
        Only these families (default: every family with ``min_sizes`` sizes).
    client
        A ``distributed.Client`` (any cluster); default a ``LocalCluster`` of ``n_workers``
        single-threaded processes, closed at the end.
    n_boot
        Bootstrap refits of each baseline series.
    random_seed
        Seed of every fit and bootstrap.
    progress
        One line per finished fit on stderr (``True``), nothing, or ``progress(done, total, s)``.
    **fit_options
        Passed to :func:`emergestats.fit` (draws, tune, chains, ...). Unless given, ``cores=1``
        (each worker samples its chains on its own core), ``floor=True`` and no
        ``log_likelihood`` or ``posterior_predictive`` group (the benchmark reads only the
        posterior). The floor: a floor-free power law lets per-token CE fall to 0 beyond the
        fitted sizes, an assumption no fitted size can check. Measured 2026-12-07 (seed 1):
        Pythia and Pythia-deduped's final checkpoints fitted up to 2.8B
        (``benchmarks/cross_metric.py --only pythia_extrapolation``) covered 17 of 36 rows of
        the 6.9B and 12B models without the floor (every interval above its observed score:
        the larger models are worse than the line) and 30 of 36 with it, at median widths
        0.079 and 0.074; ObsScaling's five families (``benchmarks/extrapolation.py``) 0.756 of
        90 rows either way (widths 0.147 and 0.148), at median errors 0.026 and 0.023.

    Examples
    --------
    >>> import emergestats as es
    >>> tables = {"pythia": final_checkpoints(es.datasets.load("pythia"))}  # doctest: +SKIP
    >>> result = extrapolation_benchmark(tables, hold_out=(2,))  # doctest: +SKIP
    >>> result.summary[["family", "method", "coverage", "median_width"]]  # doctest: +SKIP
    """
    if not hold_out or any(int(n) < 1 for n in hold_out):
        raise ConfigError(f"hold_out must list sizes to hold out (>= 1), not {list(hold_out)}")
    work: list[tuple[str, str, pd.DataFrame, int]] = []
    skipped: list[str] = []
    for source, table in tables.items():
        for family, rows in table.groupby("family", sort=True):
            if families is not None and family not in families:
                continue
            n_sizes = rows["params"].nunique()
            if n_sizes < min_sizes:
                skipped.append(f"{source}/{family}: {n_sizes} sizes")
                continue
            work.extend((source, str(family), rows, int(n)) for n in hold_out)
    if not work:
        raise ConfigError(
            f"no family with at least {min_sizes} sizes in {', '.join(tables)}"
            + (f" among {', '.join(families)}" if families is not None else "")
        )
    # the benchmark reads only the posterior (predict_table): no pointwise or predictive groups
    options = {
        "cores": 1,
        "floor": True,
        "log_likelihood": False,
        "posterior_predictive": False,
        **fit_options,
    }
    run = run_on_cluster(
        [
            (
                extrapolate_family,
                (source, rows, n),
                {"fit_options": options, "n_boot": n_boot, "random_seed": random_seed},
            )
            for source, _, rows, n in work
        ],
        client=client,
        n_workers=n_workers,
        progress=progress,
        label="extrapolation fits",
        describe=_describe_fit,
    )
    frames = run.finished()
    wall = run.wall_seconds
    scheduler = run.scheduler
    predictions = pd.concat(frames, ignore_index=True)
    order = ["source", "family", "hold_out", "method", "task", "subtask", "model", "metric"]
    predictions = predictions.sort_values(order, kind="stable").reset_index(drop=True)
    return ExtrapolationResult(
        predictions=predictions,
        summary=summarise_extrapolation(predictions),
        wall_seconds=wall,
        settings={
            "hold_out": [int(n) for n in hold_out],
            "min_sizes": min_sizes,
            "n_boot": n_boot,
            "random_seed": random_seed,
            "fit_options": options,
            "scheduler": scheduler,
            "skipped": skipped,
        },
    )
