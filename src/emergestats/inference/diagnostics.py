"""Posterior summaries and sampling diagnostics of a :class:`~emergestats.inference.Fit`.

Diagnostics thresholds (:data:`DIAGNOSTIC_THRESHOLDS`)
------------------------------------------------------
Rank-normalised split R-hat <= 1.01 for every scalar; bulk and tail ESS >= 100 per chain (400
for 4 chains); no divergent transitions; E-BFMI >= 0.3 in every chain. :func:`diagnose` (and
:meth:`Fit.diagnostics <emergestats.inference.Fit.diagnostics>`, which delegates to it) emits a
:class:`DiagnosticsWarning` naming every failed check. :func:`curve_summary` is behind
:meth:`Fit.curves <emergestats.inference.Fit.curves>`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from emergestats.data.table import CURVE_KEY

if TYPE_CHECKING:
    from emergestats.inference.fit import Fit

DIAGNOSTIC_THRESHOLDS: Final[dict[str, float]] = {
    "r_hat_max": 1.01,
    "ess_per_chain_min": 100.0,
    "divergences_max": 0.0,
    "bfmi_min": 0.3,
}

#: Per-curve parameters reported by :meth:`Fit.curves`, in order.
_CURVE_PARAMETERS: Final[tuple[str, ...]] = (
    "a",
    "b",
    "floor",
    "log_n_break",
    "break_level",
    "break_slope",
)


class DiagnosticsWarning(UserWarning):
    """A fit fails at least one sampling diagnostic (see :data:`DIAGNOSTIC_THRESHOLDS`)."""


#: Most draws a slowly mixing fit's refit multiplies its draws by.
MAX_DRAWS_FACTOR: Final[int] = 4


def refit_settings(
    settings: Mapping[str, Any], summary: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """The sampler settings of the one refit of a failed fit, and a phrase saying what changed.

    ``summary`` is the failed fit's :meth:`~emergestats.inference.Fit.diagnostics_summary`.
    Divergences or a stuck chain mean the step size is too large for the posterior's geometry:
    ``target_accept`` 0.99 and twice the tuning. Without them the chains are healthy but slow
    along a weakly identified direction (an item sd the data barely inform, traded against
    every curve's level): a smaller step would only slow them further, so the draws are
    multiplied by ``ceil(1.5 * threshold / ESS)`` (2 to :data:`MAX_DRAWS_FACTOR`), enough to
    lift the smallest ESS above its threshold at the rate the failed fit measured, with twice
    the tuning. Both: the next seed.
    """
    seed = settings.get("random_seed")
    tune = 2 * int(settings.get("tune", 1000))
    refit: dict[str, Any] = {
        **settings,
        "tune": tune,
        "random_seed": None if seed is None else int(seed) + 1,
    }
    if summary.get("divergences", 0) or summary.get("stuck_chains"):
        refit["target_accept"] = max(0.99, float(settings.get("target_accept") or 0.0))
        return refit, f"target_accept 0.99 and {tune} tuning steps"
    ess = min(float(summary.get("ess_bulk_min", 0.0)), float(summary.get("ess_tail_min", 0.0)))
    threshold = float(summary.get("ess_threshold", 400.0))
    wanted = 1.5 * threshold / ess if ess > 0 else float(MAX_DRAWS_FACTOR)
    factor = int(min(MAX_DRAWS_FACTOR, max(2, math.ceil(wanted))))
    draws = factor * int(settings.get("draws", 1000))
    refit["draws"] = draws
    return refit, f"{draws} draws per chain ({factor} x) and {tune} tuning steps"


def curve_summary(fit_: Fit) -> pd.DataFrame:
    """One row per curve and per-curve parameter, with posterior summaries.

    Columns: ``curve, task, subtask, family, shots, parameter, mean, sd, q05, q95, r_hat,
    ess_bulk``. Parameters: ``a`` (``log CE`` at ``N_ref``), ``b`` (slope), and where the
    model has them ``floor``, ``log_n_break`` (natural log of ``N*``), ``break_level`` and
    ``break_slope``.
    """
    post = fit_.posterior
    names = [p for p in _CURVE_PARAMETERS if p in post.data_vars]
    subset = post[names]
    r_hat = az.rhat(subset)
    ess_bulk = az.ess(subset, method="bulk")
    prepared = fit_.prepared
    curves = prepared.curves
    frames = []
    for name in names:
        values = subset[name].transpose("chain", "draw", "curve").to_numpy()
        flat = values.reshape(-1, values.shape[-1])
        frame = curves.loc[:, list(CURVE_KEY)].copy()
        frame.insert(0, "curve", list(prepared.curve_labels))
        frame["parameter"] = name
        frame["mean"] = flat.mean(axis=0)
        frame["sd"] = flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.nan
        frame["q05"] = np.quantile(flat, 0.05, axis=0)
        frame["q95"] = np.quantile(flat, 0.95, axis=0)
        frame["r_hat"] = r_hat[name].to_numpy()
        frame["ess_bulk"] = ess_bulk[name].to_numpy()
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    for column in ("curve", "task", "subtask", "family", "parameter"):
        out[column] = out[column].astype(object)
    out["shots"] = out["shots"].astype(np.int64)
    return out


def diagnose(fit_: Fit, *, warn: bool = True, stacklevel: int = 2) -> pd.DataFrame:
    """Sampling diagnostics per posterior variable, with a warning if any check fails.

    Parameters
    ----------
    fit_
        The fit.
    warn
        Emit a :class:`DiagnosticsWarning` when a check fails.
    stacklevel
        Passed to :func:`warnings.warn` (2: the warning names the caller of this function).

    Returns
    -------
    pandas.DataFrame
        One row per posterior variable: ``variable, size, r_hat_max, ess_bulk_min,
        ess_tail_min, ok``. ``frame.attrs["summary"]`` is
        :meth:`Fit.diagnostics_summary <emergestats.inference.Fit.diagnostics_summary>`.

    Warns
    -----
    DiagnosticsWarning
        When any check of :data:`DIAGNOSTIC_THRESHOLDS` fails (R-hat > 1.01, bulk or tail
        ESS < 100 per chain, any divergence, E-BFMI < 0.3, a chain that never moved), naming
        the failures.
    """
    post = fit_.posterior
    r_hat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    chains = int(post.sizes["chain"])
    ess_min = DIAGNOSTIC_THRESHOLDS["ess_per_chain_min"] * chains
    rows = []
    # by name, not storage order: a reloaded fit lists its variables in another order, and
    # the "worst" variable named below must not change with it (b and log_b_centred of one
    # curve tie exactly: R-hat and ESS are rank-based)
    for name in sorted(post.data_vars, key=str):
        rh = float(np.nanmax(r_hat[name].to_numpy())) if r_hat[name].size else np.nan
        eb = float(np.nanmin(ess_bulk[name].to_numpy()))
        et = float(np.nanmin(ess_tail[name].to_numpy()))
        ok = bool(
            (np.isnan(rh) or rh <= DIAGNOSTIC_THRESHOLDS["r_hat_max"])
            and eb >= ess_min
            and et >= ess_min
        )
        rows.append(
            {
                "variable": str(name),
                "size": int(
                    np.prod(
                        [
                            post[name].sizes[d]
                            for d in post[name].dims
                            if d not in ("chain", "draw")
                        ],
                        dtype=np.int64,
                    )
                ),
                "r_hat_max": rh,
                "ess_bulk_min": eb,
                "ess_tail_min": et,
                "ok": ok,
            }
        )
    frame = pd.DataFrame(rows)
    summary = _summary_from(fit_.idata, frame, chains=chains, ess_min=ess_min)
    frame.attrs["summary"] = summary
    if warn and summary["failures"]:
        warnings.warn(
            "sampling diagnostics failed: "
            + "; ".join(summary["failures"])
            + ". Do not trust this fit's conclusions. "
            + _remedy(fit_, summary),
            DiagnosticsWarning,
            stacklevel=stacklevel,
        )
    return frame


def _remedy(fit_: Fit, summary: Mapping[str, Any]) -> str:
    """What a failed fit needs, as :func:`refit_settings` reads its failure, in the words of
    ``fit()``'s arguments (the jump test refits with exactly these)."""
    config = fit_.config
    settings: dict[str, Any] = {
        "draws": config.draws,
        "tune": config.tune,
        "random_seed": config.random_seed,
        **json.loads(config.sampler_options_json),
    }
    refit, how = refit_settings(settings, summary)
    changed = ", ".join(
        f"{key}={refit[key]!r}"
        for key in ("draws", "tune", "target_accept")
        if key in refit and refit[key] != settings.get(key)
    )
    return f"What this failure needs: {how} (fit again with {changed})."


def stuck_chains(posterior: xr.Dataset) -> list[int]:
    """Chains (0-based) whose every draw of every variable is the same: they never moved.

    Seen on a fit of three ExpEmergence tasks: two of four chains kept their starting values
    for all 300 draws (step size 0, every transition divergent), which R-hat reports only as
    a large number on some variable.
    """
    draws = int(posterior.sizes.get("draw", 0))
    if draws < 2:
        return []
    moved = np.zeros(int(posterior.sizes["chain"]), dtype=bool)
    for name in posterior.data_vars:
        values = posterior[name].transpose("chain", "draw", ...).to_numpy()
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        moved |= np.any(flat != flat[:, :1], axis=(1, 2))
    return [int(c) for c in np.flatnonzero(~moved)]


def _summary_from(
    idata: xr.DataTree, frame: pd.DataFrame, *, chains: int, ess_min: float
) -> dict[str, Any]:
    stats = idata["sample_stats"].to_dataset()
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    if "energy" in stats:
        bfmi = az.bfmi(idata)
        bfmi_energy = bfmi.get("energy", bfmi)
        bfmi_min = float(np.nanmin(np.asarray(bfmi_energy.to_numpy(), dtype=float)))
    else:
        bfmi_min = float("nan")
    stuck = stuck_chains(idata["posterior"].to_dataset())
    r_hat_max = float(frame["r_hat_max"].max())
    ess_bulk_min = float(frame["ess_bulk_min"].min())
    ess_tail_min = float(frame["ess_tail_min"].min())
    failures = []
    if stuck:
        failures.append(
            f"chain{'s' if len(stuck) > 1 else ''} {', '.join(map(str, stuck))} never moved "
            "(every draw the same: the sampler stayed where it started, far from the posterior)"
        )
    if r_hat_max > DIAGNOSTIC_THRESHOLDS["r_hat_max"]:
        worst = frame["variable"].iloc[int(np.argmax(frame["r_hat_max"].to_numpy()))]
        failures.append(f"R-hat {r_hat_max:.3f} > 1.01 (worst: {worst})")
    if ess_bulk_min < ess_min:
        worst = frame["variable"].iloc[int(np.argmin(frame["ess_bulk_min"].to_numpy()))]
        failures.append(f"bulk ESS {ess_bulk_min:.0f} < {ess_min:.0f} (worst: {worst})")
    if ess_tail_min < ess_min:
        worst = frame["variable"].iloc[int(np.argmin(frame["ess_tail_min"].to_numpy()))]
        failures.append(f"tail ESS {ess_tail_min:.0f} < {ess_min:.0f} (worst: {worst})")
    if divergences > DIAGNOSTIC_THRESHOLDS["divergences_max"]:
        failures.append(f"{divergences} divergent transitions")
    if np.isfinite(bfmi_min) and bfmi_min < DIAGNOSTIC_THRESHOLDS["bfmi_min"]:
        failures.append(f"E-BFMI {bfmi_min:.2f} < 0.3")
    return {
        "r_hat_max": r_hat_max,
        "ess_bulk_min": ess_bulk_min,
        "ess_tail_min": ess_tail_min,
        "ess_threshold": ess_min,
        "divergences": divergences,
        "bfmi_min": bfmi_min,
        "chains": chains,
        "stuck_chains": stuck,
        "passed": not failures,
        "failures": failures,
    }
