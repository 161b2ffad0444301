"""Section builders: an :class:`~emergestats.analysis.Analysis` -> the report's numbers.

Each builder returns plain JSON-ready data (dicts, lists, strings, numbers, ``None`` for a
missing value); :func:`build_report` joins them into the one dictionary that is written as
``report.json`` and that the HTML and Markdown templates render. The templates show nothing
that is not in it, so the JSON holds every number of the report.

A fit that failed its sampling diagnostics is named in ``failed_fits``; every row computed
from it carries ``fit_passed: false`` and the templates mark it wherever it appears.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from io import StringIO
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pandas as pd

from emergestats.data.table import CURVE_KEY, curve_labels
from emergestats.report.formats import format_number, interval_text

if TYPE_CHECKING:
    from emergestats.analysis import Analysis
    from emergestats.inference.fit import Fit

__all__ = [
    "CALIBRATION_RESOURCE",
    "FIT_ROLES",
    "build_report",
    "measured_calibration",
]

#: The break whose power the report quotes: per-token CE multiplied by this factor.
REFERENCE_BREAK: Final[float] = 0.5

#: The measured error rates shipped with the package (a copy of ``docs/calibration.csv``).
CALIBRATION_RESOURCE: Final[str] = "calibration.csv"
#: What each fit of an analysis is, in words.
FIT_ROLES: Final[dict[str, str]] = {
    "all_metrics": "smooth model fitted to every metric (curves, in-sample predictive bands)",
    "cross_metric/smooth": "smooth model fitted to the continuous metrics only (metric-only "
    "prediction of the discontinuous ones)",
    "cross_metric/broken": "broken model fitted to the continuous metrics (smooth-vs-broken LOO)",
    "in_sample/broken": "broken model fitted to every metric (smooth-vs-broken LOO)",
    "leave_future_out/smooth": "smooth model fitted to the sizes up to the largest jump",
}
_LENGTH_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "pass_at_k",
    "edit_distance",
)


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, non-finite floats to ``None``, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in frame.to_dict(orient="records")]


def _fit_key_of_mode(mode: str) -> str:
    return f"{mode}/smooth"


def measured_calibration() -> pd.DataFrame:
    """The measured false alarm and power of the mirage test (``docs/calibration.csv``).

    The package ships a copy of the repository's calibration table (a test keeps the two
    identical); its rows are the grid cells measured so far, per mode.
    """
    text = (
        resources.files("emergestats.report")
        .joinpath(CALIBRATION_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return pd.read_csv(StringIO(text))


# --------------------------------------------------------------------------------------------
# What was fitted
# --------------------------------------------------------------------------------------------


def _lengths_of(fit_: Fit, task: str, subtask: str, label: str) -> np.ndarray | None:
    lengths = fit_.lengths
    if not lengths:
        return None
    for key in (label, (task, subtask)):
        if key in lengths:
            return np.asarray(lengths[key], dtype=float)
    return None


def data_section(analysis: Analysis) -> dict[str, Any]:
    """Sources with citations; per curve its sizes, metrics, item counts and answer lengths."""
    table = analysis.table
    curves = table.loc[:, list(CURVE_KEY)].drop_duplicates().reset_index(drop=True)
    labels = curve_labels(curves).tolist() if len(curves) else []
    out_curves = []
    for position, label in enumerate(labels):
        key = curves.iloc[position]
        mine = table[(table.loc[:, list(CURVE_KEY)] == key.to_numpy()).all(axis=1)]
        sizes = np.unique(mine["params"].to_numpy(float))
        metrics = []
        for (metric, kind), rows in mine.groupby(["metric", "metric_kind"], sort=False):
            items = pd.to_numeric(rows["n_items"], errors="coerce").dropna()
            entry: dict[str, Any] = {
                "metric": str(metric),
                "metric_kind": str(kind),
                "n_rows": len(rows),
                "n_items_min": float(items.min()) if len(items) else None,
                "n_items_max": float(items.max()) if len(items) else None,
                "answer_length": None,
            }
            if kind in _LENGTH_KINDS or kind == "log_likelihood":
                lengths = _lengths_of(analysis.fit, str(key["task"]), str(key["subtask"]), label)
                if lengths is not None and lengths.size:
                    entry["answer_length"] = {
                        "source": "per-item lengths of the task definition",
                        "mean": float(lengths.mean()),
                        "min": float(lengths.min()),
                        "max": float(lengths.max()),
                        "n_items": int(lengths.size),
                    }
                elif "target_tokens" in rows and rows["target_tokens"].notna().any():
                    tokens = pd.to_numeric(rows["target_tokens"], errors="coerce").dropna()
                    entry["answer_length"] = {
                        "source": "the table's target_tokens",
                        "mean": float(tokens.mean()),
                        "min": float(tokens.min()),
                        "max": float(tokens.max()),
                        "n_items": None,
                    }
            metrics.append(entry)
        out_curves.append(
            {
                "curve": label,
                **{k: _clean(key[k]) for k in CURVE_KEY},
                "n_rows": len(mine),
                "n_models": int(mine["model"].nunique()),
                "n_sizes": int(sizes.size),
                "size_min": float(sizes.min()),
                "size_max": float(sizes.max()),
                "sizes": [float(s) for s in sizes],
                "metrics": metrics,
            }
        )
    dataset = analysis.info.get("dataset")
    sources = sorted({str(s) for s in table["source"].dropna()}) if "source" in table else []
    return {
        "input": analysis.info.get("source"),
        "tasks_selected": list(analysis.info.get("tasks", [])),
        "dataset": dataset,
        "sources": sources,
        "n_rows": len(table),
        "n_curves": len(labels),
        "n_series": int(table.loc[:, [*CURVE_KEY, "metric"]].drop_duplicates().shape[0]),
        "metric_kinds": sorted({str(k) for k in table["metric_kind"]}),
        "curves": out_curves,
    }


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


def _fit_passed(analysis: Analysis) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for key, summary in analysis.jump.diagnostics.items():
        out[key] = bool(summary.get("passed"))
    return out


def verdict_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per (series, mode) on the primary statistic, with the fit's diagnostics flag."""
    passed = _fit_passed(analysis)
    rows = analysis.jump.verdicts[analysis.jump.verdicts["primary"]].reset_index(drop=True)
    labels = curve_labels(rows.loc[:, list(CURVE_KEY)]).tolist() if len(rows) else []
    out = []
    for label, record in zip(labels, _records(rows), strict=True):
        key = _fit_key_of_mode(str(record["mode"]))
        record["curve"] = label
        record["fit"] = key
        record["fit_passed"] = passed.get(key)
        record["excess_text"] = interval_text(
            record["excess_q05"] if record["excess_q05"] is not None else math.nan,
            record["excess_q50"] if record["excess_q50"] is not None else math.nan,
            record["excess_q95"] if record["excess_q95"] is not None else math.nan,
        )
        record["predicted_text"] = interval_text(
            record["predicted_q05"] if record["predicted_q05"] is not None else math.nan,
            record["predicted_q50"] if record["predicted_q50"] is not None else math.nan,
            record["predicted_q95"] if record["predicted_q95"] is not None else math.nan,
            signed=False,
        )
        record["p_text"] = format_number(record["p_value"], 3)
        record["p_adjusted_text"] = format_number(record["p_adjusted"], 3)
        record["observed_text"] = format_number(record["observed"], 4)
        out.append(record)
    return out


def summary_by_kind(analysis: Analysis) -> list[dict[str, Any]]:
    """Verdict counts per mode and metric kind, with the fit's diagnostics flag."""
    from emergestats.mirage.jumps import VERDICTS

    passed = _fit_passed(analysis)
    counts = analysis.jump.counts()
    out = []
    for index, row in counts.iterrows():
        mode, kind = cast(tuple[Any, Any], index)
        entry: dict[str, Any] = {"mode": str(mode), "metric_kind": str(kind)}
        entry.update({v: int(row[v]) for v in VERDICTS})
        entry["n_series"] = int(sum(row[v] for v in VERDICTS))
        entry["fit_passed"] = passed.get(_fit_key_of_mode(str(mode)))
        out.append(entry)
    return out


def headline(analysis: Analysis, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer in one sentence per verdict, for the headline mode."""
    mode = analysis.settings.modes[0]
    mine = [r for r in rows if r["mode"] == mode]
    counts = {
        v: sum(r["verdict"] == v for r in mine)
        for v in ("excess_jump", "explained_by_metric", "inconclusive")
    }
    passed = _fit_passed(analysis).get(_fit_key_of_mode(mode))
    parts = []
    if counts["excess_jump"]:
        parts.append(f"{counts['excess_jump']} jump(s) exceed what the metric alone predicts")
    if counts["explained_by_metric"]:
        parts.append(
            f"{counts['explained_by_metric']} are explained by the metric (no excess detected)"
        )
    if counts["inconclusive"]:
        parts.append(f"{counts['inconclusive']} are inconclusive")
    sentence = f"Of {len(mine)} tested series ({mode} mode): " + "; ".join(parts) + "."
    if passed is False:
        sentence += (
            f" The {mode} fit FAILED its sampling diagnostics, so its verdicts are withheld "
            "(inconclusive) and its numbers are not to be trusted."
        )
    return {
        "mode": mode,
        "counts": counts,
        "n_series": len(mine),
        "sentence": sentence,
        "fit_passed": passed,
    }


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def calibration_section(analysis: Analysis, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The measured false alarm and power at the closest measured cell of every tested series.

    The closest cell is of the same mode and kind (generation for exact match and pass@k,
    choice for grade and accuracy), nearest by :func:`~emergestats.mirage.calibration.
    closest_cells` (items, sizes and, for a choice series, its number of choices), among the
    cells of the reference break (CE halved, :data:`REFERENCE_BREAK`) where that break was
    measured; when the series' design is not a measured one, the row says so. Beside the
    verdict's rates, the latent-break step test's (``latent_break``, rule 7).
    """
    from emergestats.mirage.calibration import closest_cells, kind_of_metric

    measured = measured_calibration()
    out_rows = []
    for row in rows:
        kind = kind_of_metric(str(row["metric_kind"]))
        mine = measured[(measured["mode"] == row["mode"]) & (measured["kind"] == kind)]
        reference = mine[np.isclose(mine["break_factor"].to_numpy(float), REFERENCE_BREAK)]
        if not reference.empty:
            mine = reference
        n_items = row["n_items"] if row["n_items"] is not None else math.nan
        entry: dict[str, Any] = {
            "curve": row["curve"],
            "metric": row["metric"],
            "metric_kind": row["metric_kind"],
            "mode": row["mode"],
            "verdict": row["verdict"],
            "n_items": row["n_items"],
            "n_sizes": row["n_sizes"],
            "n_choices": row.get("n_choices"),
            "fit_passed": row["fit_passed"],
            "cell": None,
            "false_alarm": None,
            "false_alarm_low": None,
            "false_alarm_high": None,
            "power": None,
            "power_low": None,
            "power_high": None,
            "false_alarm_break": None,
            "power_break": None,
            "n_smooth": None,
            "n_broken": None,
            "in_grid": False,
        }
        if mine.empty:
            entry["caveat"] = (
                f"not measured: no {kind} cell of the {row['mode']} mode has been calibrated, "
                "so this verdict's error rates are unknown"
            )
            out_rows.append(entry)
            continue
        n_choices = float(row["n_choices"]) if row.get("n_choices") is not None else math.nan
        near = closest_cells(mine, kind, n_items, float(row["n_sizes"]), n_choices).iloc[0]
        in_grid = bool(
            math.isfinite(n_items)
            and float(near["n_items"]) == float(n_items)
            and int(near["n_sizes"]) == int(row["n_sizes"])
            and (kind != "choice" or float(near["n_choices"]) == n_choices)
        )
        entry.update(
            cell=str(near["cell"]),
            false_alarm=float(near["false_alarm"]),
            false_alarm_low=_clean(float(near.get("false_alarm_wilson95_low", math.nan))),
            false_alarm_high=_clean(float(near.get("false_alarm_wilson95_high", math.nan))),
            power=float(near["power"]),
            false_alarm_break=_clean(float(near.get("false_alarm_break", math.nan))),
            power_break=_clean(float(near.get("power_break", math.nan))),
            power_low=_clean(float(near.get("power_wilson95_low", math.nan))),
            power_high=_clean(float(near.get("power_wilson95_high", math.nan))),
            n_smooth=int(near["n_smooth"]),
            n_broken=int(near["n_broken"]),
            break_factor=float(near["break_factor"]),
            in_grid=in_grid,
        )
        design = f"{format_number(n_items)} items and {row['n_sizes']} sizes"
        if kind == "choice":
            known = math.isfinite(n_choices)
            design = f"{format_number(n_choices) if known else 'unknown'} choices, {design}"
        if in_grid:
            entry["caveat"] = f"measured at this series' design ({design})"
        else:
            entry["caveat"] = (
                f"this series has {design}, which is not a measured cell; the closest "
                f"measured cell ({near['cell']}) is shown, and its rates are indicative only"
            )
        out_rows.append(entry)
    measured_rows = measured.loc[
        :,
        [
            c
            for c in (
                "mode",
                "cell",
                "break_factor",
                "n_smooth",
                "n_broken",
                "false_alarm",
                "false_alarm_wilson95_low",
                "false_alarm_wilson95_high",
                "power",
                "power_wilson95_low",
                "power_wilson95_high",
                "false_alarm_break",
                "power_break",
            )
            if c in measured.columns
        ],
    ]
    return {
        "source": "docs/calibration.csv (simulated smooth and broken truths, seed 0; 95% "
        "Wilson intervals)",
        "measured": _records(measured_rows),
        "rows": out_rows,
        "all_in_grid": bool(out_rows) and all(r["in_grid"] for r in out_rows),
        "note": (
            "False alarm: the share of smooth truths called excess_jump; power: the share of "
            "broken truths called excess_jump (CE halved within half a decade); latent break: "
            "the same shares for the step test's latent_break. Only the cells listed were "
            "measured; where a "
            "series is not one of them its rates are those of the closest cell and are "
            "indicative only."
        ),
    }


# --------------------------------------------------------------------------------------------
# Diagnostics and configuration
# --------------------------------------------------------------------------------------------


def _pareto_k(fit_: Fit) -> dict[str, Any]:
    import warnings

    from emergestats.inference.loo import loo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # high k is reported in the table
        result = loo(fit_)
    k = result.pointwise["pareto_k"].to_numpy(float)
    return {
        "elpd_loo": result.elpd,
        "elpd_se": result.se,
        "p_loo": result.p_loo,
        "pareto_k_max": float(np.nanmax(k)) if k.size else None,
        "n_high_k": int(result.n_high_k),
        "n_cells": len(k),
    }


def diagnostics_section(analysis: Analysis) -> dict[str, Any]:
    """R-hat, ESS, divergences, E-BFMI and PSIS-LOO Pareto k of every fit, and per variable."""
    from emergestats.inference.diagnostics import DIAGNOSTIC_THRESHOLDS

    fits = []
    variables = {}
    for key, fitted in analysis.fits.items():
        frame = fitted.diagnostics(warn=False)
        summary = dict(frame.attrs["summary"])
        loo = _pareto_k(fitted)
        fits.append(
            {
                "fit": key,
                "role": FIT_ROLES.get(key, key),
                "model": fitted.model_name,
                "n_rows": len(fitted.table),
                "chains": int(summary["chains"]),
                "draws": int(fitted.config.draws),
                **{
                    k: summary[k]
                    for k in (
                        "r_hat_max",
                        "ess_bulk_min",
                        "ess_tail_min",
                        "ess_threshold",
                        "divergences",
                        "bfmi_min",
                        "passed",
                    )
                },
                "failures": list(summary["failures"]),
                **loo,
            }
        )
        # sorted: a reloaded fit lists its variables in the store's order, not the sampler's
        frame = frame.sort_values("variable").reset_index(drop=True)
        frame.attrs = {}
        variables[key] = _records(frame)
    return {
        "thresholds": dict(DIAGNOSTIC_THRESHOLDS),
        "max_pareto_k": 0.7,
        "fits": [_clean(f) for f in fits],
        "variables": variables,
    }


def config_section(analysis: Analysis) -> dict[str, Any]:
    """The settings of the analysis and the configuration stored in every fit."""
    import json

    from emergestats.models.priors import priors_to_json

    fits = {}
    for key, fitted in analysis.fits.items():
        config = fitted.config
        fits[key] = {
            "model": config.model,
            "model_id": config.model_id,
            "sampler": config.sampler,
            "draws": config.draws,
            "tune": config.tune,
            "chains": config.chains,
            "random_seed": config.random_seed,
            "n_ref": config.n_ref,
            "floor": config.floor,
            "centered": "chosen from the data" if config.centered is None else config.centered,
            "lure": config.lure,
            "probability_noise": config.probability_noise,
            "sampler_options": json.loads(config.sampler_options_json),
            "priors": json.loads(priors_to_json(config.priors)),
            "lengths": "per-item lengths of the task definitions"
            if json.loads(config.lengths_json or "null")
            else "the table's target_tokens",
        }
    return {
        "settings": analysis.settings.to_dict(),
        "rationale": analysis.settings.rationale,
        "rule": analysis.jump.rule.describe(),
        "jump_settings": _clean(analysis.jump.settings),
        "fits": _clean(fits),
    }


def reproduce_section(analysis: Analysis) -> dict[str, Any]:
    """The command, seed, package versions, platform and wall time per stage."""
    info = analysis.info
    return _clean(
        {
            "command": info.get("command"),
            "seed": analysis.settings.random_seed,
            "versions": info.get("versions", {}),
            "platform": info.get("platform"),
            "timings": info.get("timings", {}),
            "created": info.get("created"),
        }
    )


def scores_section(analysis: Analysis) -> list[dict[str, Any]]:
    """The classic jump statistics per series."""
    keep = [
        c
        for c in (
            "task",
            "subtask",
            "family",
            "shots",
            "metric",
            "metric_kind",
            "n_points",
            "breakthroughness",
            "linearity",
            "emergence_score",
            "max_jump",
            "max_jump_from",
            "max_jump_at",
            "reason",
        )
        if c in analysis.scores.columns
    ]
    return _records(analysis.scores.loc[:, keep])


def build_report(analysis: Analysis) -> dict[str, Any]:
    """Every number of the report, by section (the content of ``report.json``)."""
    rows = verdict_rows(analysis)
    diagnostics = diagnostics_section(analysis)
    failed = [f["fit"] for f in diagnostics["fits"] if not f["passed"]]
    source = analysis.info.get("source") or "table"
    data = data_section(analysis)
    curve_panels: list[dict[str, Any]] = []
    for curve in data["curves"]:
        curve_panels.append(
            {
                "curve": curve["curve"],
                "figure": f"curve-{len(curve_panels) + 1}",
                "verdicts": [r for r in rows if r["curve"] == curve["curve"]],
            }
        )
    return _clean(
        {
            "title": f"emergestats report: {source}",
            "question": (
                "Does the jump of each discontinuous metric with scale exceed what the metric "
                "alone predicts from a smooth per-token power law?"
            ),
            "headline": headline(analysis, rows),
            "failed_fits": failed,
            "fit_passed": {f["fit"]: f["passed"] for f in diagnostics["fits"]},
            "data": data,
            "curves": curve_panels,
            "verdicts": rows,
            "summary_by_kind": summary_by_kind(analysis),
            "scores": scores_section(analysis),
            "calibration": calibration_section(analysis, rows),
            "diagnostics": diagnostics,
            "config": config_section(analysis),
            "reproduce": reproduce_section(analysis),
            "notes": list(analysis.info.get("notes", [])),
        }
    )
