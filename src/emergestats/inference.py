"""Fitting the models: sampling, diagnostics, summaries, predictions, LOO, save and load.

:func:`fit` builds a model from a canonical table (:mod:`emergestats.models`), samples it, and
returns a :class:`Fit` holding an ArviZ ``DataTree`` with the groups ``posterior``,
``sample_stats``, ``log_likelihood``, ``posterior_predictive``, ``observed_data`` and
``input_table`` (the table the model was fitted to, one variable per column along ``row``), plus
the configuration in the root attributes ``emergestats_*`` (builder, priors as JSON, ``N_ref``,
builder and sampler options, package version, model spec version and a model id).

Sampler choice
--------------
``sampler`` is one of ``"numpyro"``, ``"nutpie"`` or ``"pymc"`` (``pm.sample(nuts_sampler=...)``).
The default, :data:`DEFAULT_SAMPLER`, is the fastest per effective draw measured here (see its
docstring for the numbers). A sampler whose package is not installed raises
:class:`~emergestats.errors.SamplerUnavailableError` naming ``pip install emergestats[samplers]``.

Diagnostics thresholds (:data:`DIAGNOSTIC_THRESHOLDS`)
------------------------------------------------------
Rank-normalised split R-hat <= 1.01 for every scalar; bulk and tail ESS >= 100 per chain (400
for 4 chains); no divergent transitions; E-BFMI >= 0.3 in every chain. :meth:`Fit.diagnostics`
emits a :class:`DiagnosticsWarning` naming every failed check.

LOO
---
The pointwise log-likelihood is defined per observation cell (one table row with a
likelihood), :meth:`Fit.log_likelihood_cells`. Every probability inside the likelihoods is
clipped to ``[1e-12, 1 - 1e-12]``, so each cell is finite in every draw. A cell whose
log-likelihood is the same in every draw (e.g. a count of 0 where the rate is ~0 in every
draw) carries no information for importance sampling and makes PSIS return NaN; :func:`loo`
gives such cells their exact value (the constant; Pareto k = 0). Cells with Pareto k above 0.7
are reported and, with ``refit=True``, replaced by exact leave-one-out refits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from emergestats.data.table import CURVE_KEY
from emergestats.errors import (
    ConfigError,
    FitCompatibilityError,
    SamplerUnavailableError,
)
from emergestats.models.builders import (
    PreparedData,
    PreparedItems,
    broken_model_from_prepared,
    item_model_from_prepared,
    length_histogram,
    prepare_evaluation,
    prepare_items,
    smooth_model_from_prepared,
)
from emergestats.models.latent import (
    broken_log_cross_entropy,
    log_cross_entropy,
)
from emergestats.models.likelihoods import (
    COUNT_KINDS,
    LENGTH_KINDS,
    brier_score_mean,
    edit_distance_mean,
    exact_match_rate,
    loglik_series,
    multiple_choice_grade_rate,
    pass_at_k_rate,
    pass_k_of,
    unit_series,
)
from emergestats.models.priors import PriorSpec, priors_to_json, resolve_priors

__all__ = [
    "DEFAULT_SAMPLER",
    "DIAGNOSTIC_THRESHOLDS",
    "MODEL_SPEC_VERSION",
    "SAMPLERS",
    "DiagnosticsWarning",
    "Fit",
    "LooResult",
    "compare",
    "fit",
    "loo",
]

SAMPLERS: Final[tuple[str, ...]] = ("numpyro", "nutpie", "pymc")

#: The default sampler: the fastest per effective draw measured here. Smooth model, 50 simulated
#: curves x 12 sizes (``tests/simulate_independent.simulate_smooth``, exact match +
#: log-likelihood), ``fit`` defaults (4 chains x 1000 draws after 1000 tuning steps), 2 shared
#: CPU cores; sampler-reported sampling time (numpyro's includes its JIT compilation) and min
#: bulk ESS: nutpie 7.2 s / 3602 (500 ESS/s), pymc 14.3 s / 3935 (275 ESS/s), numpyro 14.3 s /
#: 2351 (164 ESS/s). Per gradient at 200 curves: ~0.49 ms compiled with numba (nutpie) or C
#: (pymc), ~1.0 ms with JAX, whose CPU backend splits this graph into ~170 separate kernels.
#: nutpie's numba compilation takes ~15 s more per model than numpyro's JIT.
DEFAULT_SAMPLER: Final[str] = "nutpie"

#: Default NUTS target acceptance per model. The smooth model uses 0.8 from
#: :data:`SMALL_FIT_CURVES` curves on, and 0.9 below: with few curves the population spreads are
#: weakly identified and a 3-curve or 1-curve fit had 1 to 4 divergent transitions in 4000 draws
#: at 0.8 and 0 or 1 at 0.9 (large fits are near Gaussian and need no smaller steps). The broken
#: model's sharp transitions need small steps.
DEFAULT_TARGET_ACCEPT: Final[dict[str, float]] = {"smooth": 0.8, "broken": 0.95, "item": 0.8}
SMALL_FIT_CURVES: Final[int] = 50

#: Default largest NUTS tree depth per model (``max_treedepth`` option). The smooth model's
#: posterior is close to Gaussian once each curve has a dozen sizes: at 200 curves NUTS adapts
#: a step size of ~0.37 and builds depth-4 trees (15 leapfrog steps) that return nearly
#: antithetic draws (bulk ESS ~5000 from 4000 draws); capping the depth at 3 halves the work and
#: still gave min bulk ESS ~1800, tail ESS ~1800, R-hat <= 1.005 and no divergences (nutpie,
#: 4 x 1000 draws). Pass ``max_treedepth=10`` for standard NUTS.
DEFAULT_MAX_TREEDEPTH: Final[dict[str, int]] = {"smooth": 3, "broken": 10, "item": 10}

#: Bump when a builder's variables or likelihoods change: saved fits of another spec cannot be
#: used to predict with the current code.
MODEL_SPEC_VERSION: Final[int] = 1

MODELS: Final[tuple[str, ...]] = ("smooth", "broken", "item")

DIAGNOSTIC_THRESHOLDS: Final[dict[str, float]] = {
    "r_hat_max": 1.01,
    "ess_per_chain_min": 100.0,
    "divergences_max": 0.0,
    "bfmi_min": 0.3,
}

_BUILDER_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "smooth": ("floor", "lengths", "n_ref", "centered", "loglik_noise"),
    "broken": ("lengths", "n_ref", "centered", "loglik_noise"),
    "item": ("n_ref",),
}
_SAMPLER_OPTIONS: Final[tuple[str, ...]] = (
    "target_accept",
    "cores",
    "init",
    "max_treedepth",
    "chain_method",
)
#: Per-curve parameters reported by :meth:`Fit.curves`, in order.
_CURVE_PARAMETERS: Final[tuple[str, ...]] = (
    "a",
    "b",
    "floor",
    "log_n_break",
    "break_level",
    "break_slope",
)
_ATTR_PREFIX = "emergestats_"


class DiagnosticsWarning(UserWarning):
    """A fit fails at least one sampling diagnostic (see :data:`DIAGNOSTIC_THRESHOLDS`)."""


def _package_version() -> str:
    from emergestats import __version__

    return str(__version__)


# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------

_SAMPLER_PACKAGES: Final[dict[str, tuple[str, ...]]] = {
    "numpyro": ("numpyro", "jax"),
    "nutpie": ("nutpie",),
    "pymc": (),
}


def default_sampler() -> str:
    """The first installed of :data:`SAMPLERS` in order of measured speed (pymc always is)."""
    for name in (DEFAULT_SAMPLER, *(s for s in SAMPLERS if s != DEFAULT_SAMPLER)):
        if all(importlib.util.find_spec(p) is not None for p in _SAMPLER_PACKAGES[name]):
            return name
    return "pymc"


def check_sampler(sampler: str) -> None:
    """Raise a clear error if ``sampler`` is unknown or its package is not installed."""
    if sampler not in SAMPLERS:
        raise ConfigError(
            f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)} (or None for the "
            f"default, {DEFAULT_SAMPLER})"
        )
    missing = [p for p in _SAMPLER_PACKAGES[sampler] if importlib.util.find_spec(p) is None]
    if missing:
        raise SamplerUnavailableError(
            f"the {sampler!r} sampler needs the package(s) {', '.join(missing)}, which are not "
            "installed; run `pip install emergestats[samplers]` or choose sampler='pymc'"
        )


def _sample(
    model: pm.Model,
    *,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    progressbar: bool,
    var_names: list[str],
    sampler_options: dict[str, Any],
) -> xr.DataTree:
    check_sampler(sampler)
    # Without an explicit core count nutpie ran all chains on one thread here (CPU seconds ==
    # wall time); one core per chain halved sampling time at 200 curves (28.8 s -> 15.0 s).
    kwargs: dict[str, Any] = {"cores": min(chains, os.cpu_count() or 1)}
    nuts: dict[str, Any] = {}
    for key, value in sampler_options.items():
        if key in ("target_accept", "cores", "init"):
            kwargs[key] = value
        elif key == "max_treedepth" and sampler == "numpyro":
            nuts["max_tree_depth"] = int(value)  # numpyro's NUTS spells it this way
        else:
            nuts[key] = value
    if nuts:
        kwargs["nuts"] = nuts
    with warnings.catch_warnings():
        # pm.sample reports its own convergence checks; ours come from Fit.diagnostics
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*MigrationWarning.*")
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=random_seed,
            progressbar=progressbar,
            quiet=not progressbar,
            nuts_sampler=sampler,
            var_names=var_names,
            compute_convergence_checks=False,
            model=model,
            **kwargs,
        )
    return idata


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _lengths_to_json(lengths: Mapping[Any, Any] | None) -> str:
    if not lengths:
        return "[]"
    entries = []
    for key, values in lengths.items():
        json_key = list(key) if isinstance(key, tuple) else str(key)
        entries.append([json_key, [float(v) for v in np.asarray(values, dtype=float).ravel()]])
    return json.dumps(entries)


def _lengths_from_json(text: str) -> dict[Any, np.ndarray] | None:
    entries = json.loads(text)
    if not entries:
        return None
    return {
        (tuple(key) if isinstance(key, list) else key): np.asarray(values, dtype=float)
        for key, values in entries
    }


@dataclass(frozen=True)
class FitConfig:
    """What was fitted and how: stored in the root attributes of the saved fit."""

    model: str
    priors: dict[str, PriorSpec]
    n_ref: float
    floor: bool
    centered: bool
    loglik_noise: str
    lengths_json: str
    sampler: str
    draws: int
    tune: int
    chains: int
    random_seed: int | None
    package_version: str
    spec_version: int
    table_hash: str
    sampler_options_json: str = "{}"

    @property
    def model_id(self) -> str:
        """Hash of everything that defines the model (not the sampler settings)."""
        text = json.dumps(
            {
                "model": self.model,
                "priors": priors_to_json(self.priors),
                "n_ref": repr(self.n_ref),
                "floor": self.floor,
                "centered": self.centered,
                "loglik_noise": self.loglik_noise,
                "lengths": self.lengths_json,
                "spec_version": self.spec_version,
                "table": self.table_hash,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_attrs(self) -> dict[str, Any]:
        return {
            f"{_ATTR_PREFIX}builder": self.model,
            f"{_ATTR_PREFIX}priors": priors_to_json(self.priors),
            f"{_ATTR_PREFIX}n_ref": float(self.n_ref),
            f"{_ATTR_PREFIX}floor": int(self.floor),
            f"{_ATTR_PREFIX}centered": int(self.centered),
            f"{_ATTR_PREFIX}loglik_noise": self.loglik_noise,
            f"{_ATTR_PREFIX}lengths": self.lengths_json,
            f"{_ATTR_PREFIX}sampler": self.sampler,
            f"{_ATTR_PREFIX}draws": int(self.draws),
            f"{_ATTR_PREFIX}tune": int(self.tune),
            f"{_ATTR_PREFIX}chains": int(self.chains),
            f"{_ATTR_PREFIX}random_seed": -1 if self.random_seed is None else int(self.random_seed),
            f"{_ATTR_PREFIX}version": self.package_version,
            f"{_ATTR_PREFIX}model_spec": int(self.spec_version),
            f"{_ATTR_PREFIX}table_hash": self.table_hash,
            f"{_ATTR_PREFIX}model_id": self.model_id,
            f"{_ATTR_PREFIX}sampler_options": self.sampler_options_json,
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], *, path: Path) -> FitConfig:
        try:
            seed = int(attrs[f"{_ATTR_PREFIX}random_seed"])
            return cls(
                model=str(attrs[f"{_ATTR_PREFIX}builder"]),
                priors=json.loads(str(attrs[f"{_ATTR_PREFIX}priors"])),
                n_ref=float(attrs[f"{_ATTR_PREFIX}n_ref"]),
                floor=bool(int(attrs[f"{_ATTR_PREFIX}floor"])),
                centered=bool(int(attrs[f"{_ATTR_PREFIX}centered"])),
                loglik_noise=str(attrs[f"{_ATTR_PREFIX}loglik_noise"]),
                lengths_json=str(attrs[f"{_ATTR_PREFIX}lengths"]),
                sampler=str(attrs[f"{_ATTR_PREFIX}sampler"]),
                draws=int(attrs[f"{_ATTR_PREFIX}draws"]),
                tune=int(attrs[f"{_ATTR_PREFIX}tune"]),
                chains=int(attrs[f"{_ATTR_PREFIX}chains"]),
                random_seed=None if seed < 0 else seed,
                package_version=str(attrs[f"{_ATTR_PREFIX}version"]),
                spec_version=int(attrs[f"{_ATTR_PREFIX}model_spec"]),
                table_hash=str(attrs[f"{_ATTR_PREFIX}table_hash"]),
                sampler_options_json=str(attrs.get(f"{_ATTR_PREFIX}sampler_options", "{}")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise FitCompatibilityError(
                f"{path}: is not a fit saved by emergestats (its configuration attribute {exc} "
                "is missing or unreadable); save fits with Fit.save and load them with Fit.load"
            ) from exc


def _table_hash(table: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(_table_for_storage(table), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# The input table in the DataTree
# --------------------------------------------------------------------------------------------


def _table_for_storage(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    if "choice_logprobs" in out.columns:
        out["choice_logprobs"] = [
            "" if v is None else json.dumps([float(x) for x in v]) for v in out["choice_logprobs"]
        ]
    return out


def _table_to_dataset(table: pd.DataFrame) -> xr.Dataset:
    stored = _table_for_storage(table)
    variables: dict[str, Any] = {}
    dtypes: dict[str, str] = {}
    for column in stored.columns:
        series = stored[column]
        dtypes[column] = str(series.dtype)
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            variables[column] = ("row", series.astype(str).to_numpy(dtype=object).astype(str))
        else:
            variables[column] = ("row", series.to_numpy(dtype=float, na_value=np.nan))
    dataset = xr.Dataset(variables, coords={"row": np.arange(len(stored))})
    dataset.attrs["columns"] = json.dumps(list(stored.columns))
    dataset.attrs["dtypes"] = json.dumps(dtypes)
    return dataset


def _table_from_dataset(dataset: xr.Dataset) -> pd.DataFrame:
    columns = json.loads(dataset.attrs["columns"])
    dtypes = json.loads(dataset.attrs["dtypes"])
    frame: dict[str, Any] = {}
    for column in columns:
        values = dataset[column].to_numpy()
        dtype = dtypes[column]
        if dtype in ("object", "str", "string"):
            frame[column] = pd.Series(values.astype(str), dtype=object)
        elif dtype == "Int64":
            frame[column] = pd.Series(values).round().astype("Int64")
        elif dtype.startswith("int"):
            frame[column] = pd.Series(values.astype(np.int64))
        else:
            frame[column] = pd.Series(values.astype(float))
    table = pd.DataFrame(frame)
    if "choice_logprobs" in table.columns:
        table["choice_logprobs"] = pd.Series(
            [None if v == "" else tuple(json.loads(v)) for v in table["choice_logprobs"]],
            dtype=object,
        )
    return table


# --------------------------------------------------------------------------------------------
# Fit
# --------------------------------------------------------------------------------------------


class Fit:
    """A fitted model: the inference data, the input table and the configuration.

    Create with :func:`fit` or :meth:`Fit.load`. ``idata`` is an ArviZ ``DataTree``.
    """

    def __init__(self, idata: xr.DataTree, *, config: FitConfig, table: pd.DataFrame) -> None:
        self.idata = idata
        self.config = config
        self.table = table
        self._prepared: PreparedData | PreparedItems | None = None

    # ---- basic properties -----------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """``"smooth"``, ``"broken"`` or ``"item"``."""
        return self.config.model

    @property
    def n_ref(self) -> float:
        """The reference scale ``N_ref`` the parameters ``a`` are defined at."""
        return self.config.n_ref

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    @property
    def prepared(self) -> PreparedData | PreparedItems:
        """The model arrays, recomputed from the stored table and configuration."""
        if self._prepared is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if self.config.model == "item":
                    self._prepared = prepare_items(self.table, n_ref=self.n_ref, warn=False)
                else:
                    self._prepared = prepare_evaluation(
                        self.table,
                        lengths=_lengths_from_json(self.config.lengths_json),
                        n_ref=self.n_ref,
                        loglik_noise=self.config.loglik_noise,
                        warn=False,
                    )
        return self._prepared

    def build_model(self) -> pm.Model:
        """Rebuild the ``pm.Model`` this fit was sampled from."""
        return _build(self.config.model, self.prepared, self.config)

    def __repr__(self) -> str:
        post = self.posterior
        return (
            f"Fit(model={self.model_name!r}, curves={post.sizes.get('curve', 0)}, "
            f"chains={post.sizes.get('chain', 0)}, draws={post.sizes.get('draw', 0)}, "
            f"sampler={self.config.sampler!r})"
        )

    # ---- summaries ------------------------------------------------------------------------

    def curves(self) -> pd.DataFrame:
        """One row per curve and per-curve parameter, with posterior summaries.

        Columns: ``curve, task, subtask, family, shots, parameter, mean, sd, q05, q95, r_hat,
        ess_bulk``. Parameters: ``a`` (``log CE`` at ``N_ref``), ``b`` (slope), and where the
        model has them ``floor``, ``log_n_break`` (natural log of ``N*``), ``break_level`` and
        ``break_slope``.
        """
        post = self.posterior
        names = [p for p in _CURVE_PARAMETERS if p in post.data_vars]
        subset = post[names]
        r_hat = az.rhat(subset)
        ess_bulk = az.ess(subset, method="bulk")
        prepared = self.prepared
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

    def diagnostics(self, *, warn: bool = True) -> pd.DataFrame:
        """Sampling diagnostics per posterior variable, with a warning if any check fails.

        Returns
        -------
        pandas.DataFrame
            One row per posterior variable: ``variable, size, r_hat_max, ess_bulk_min,
            ess_tail_min, ok``. ``frame.attrs["summary"]`` is :meth:`diagnostics_summary`.

        Warns
        -----
        DiagnosticsWarning
            When any check of :data:`DIAGNOSTIC_THRESHOLDS` fails (R-hat > 1.01, bulk or tail
            ESS < 100 per chain, any divergence, E-BFMI < 0.3), naming the failures.
        """
        post = self.posterior
        r_hat = az.rhat(post)
        ess_bulk = az.ess(post, method="bulk")
        ess_tail = az.ess(post, method="tail")
        chains = int(post.sizes["chain"])
        ess_min = DIAGNOSTIC_THRESHOLDS["ess_per_chain_min"] * chains
        rows = []
        for name in post.data_vars:
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
        summary = self._summary_from(frame, chains=chains, ess_min=ess_min)
        frame.attrs["summary"] = summary
        if warn and summary["failures"]:
            warnings.warn(
                "sampling diagnostics failed: "
                + "; ".join(summary["failures"])
                + ". Do not trust this fit's conclusions: run more draws/tuning, raise "
                "target_accept or reparameterise (centered=False)",
                DiagnosticsWarning,
                stacklevel=2,
            )
        return frame

    def diagnostics_summary(self) -> dict[str, Any]:
        """The overall diagnostics: worst R-hat and ESS, divergences, BFMI, failures."""
        return dict(self.diagnostics(warn=False).attrs["summary"])

    def _summary_from(self, frame: pd.DataFrame, *, chains: int, ess_min: float) -> dict[str, Any]:
        stats = self.idata["sample_stats"].to_dataset()
        divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
        if "energy" in stats:
            bfmi = az.bfmi(self.idata)
            bfmi_energy = bfmi.get("energy", bfmi)
            bfmi_min = float(np.nanmin(np.asarray(bfmi_energy.to_numpy(), dtype=float)))
        else:
            bfmi_min = float("nan")
        r_hat_max = float(frame["r_hat_max"].max())
        ess_bulk_min = float(frame["ess_bulk_min"].min())
        ess_tail_min = float(frame["ess_tail_min"].min())
        failures = []
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
            "passed": not failures,
            "failures": failures,
        }

    # ---- log-likelihood cells -------------------------------------------------------------

    def log_likelihood_cells(self) -> xr.DataArray:
        """Pointwise log-likelihood per observation cell, dims ``(chain, draw, cell)``.

        ``cell`` holds the table row positions (``obs``) of every row with a likelihood, in
        row order; the observed variables of all metric kinds are joined.
        """
        group = self.idata["log_likelihood"].to_dataset()
        pieces = []
        for name in group.data_vars:
            array = group[name]
            (dim,) = [d for d in array.dims if d not in ("chain", "draw")]
            pieces.append(
                array.rename({dim: "cell"}).assign_coords(
                    cell=np.asarray(array[dim].to_numpy(), dtype=np.int64)
                )
            )
        cells = xr.concat(pieces, dim="cell").sortby("cell")
        return cells.transpose("chain", "draw", "cell").rename("log_likelihood")

    # ---- predictions ----------------------------------------------------------------------

    def predict(
        self,
        scales: Sequence[float] | np.ndarray,
        *,
        metrics: Sequence[str] = ("exact_match",),
        curves: Sequence[str] | None = None,
        n_items: int | Mapping[str, int] | None = None,
        lengths: Any = None,
        random_seed: int | None = None,
    ) -> xr.Dataset:
        """Posterior predictive of metrics at any scales, including unseen sizes.

        Parameters
        ----------
        scales
            Scales (parameter counts, > 0) to predict at.
        metrics
            Any of ``exact_match`` (all ``L`` tokens right), ``subset_accuracy`` (all ``L``
            items right, each with the curve's ``accuracy``), ``accuracy``,
            ``multiple_choice_grade``, ``brier`` (or ``brier_mean``), ``brier_sum``,
            ``log_likelihood``, ``log_likelihood_per_word``, ``log_likelihood_per_char``,
            ``edit_distance``, ``pass_at_k`` / ``pass@k`` / ``pass_at_<k>``, plus the latent
            ``p_token`` and ``cross_entropy``.
        curves
            Curve labels to predict (default all).
        n_items
            ``None``: expected values. An integer (or a mapping from curve label to one): the
            proportion observed on that many items, with the likelihood's sampling noise
            (beta-binomial for counts, normal for the continuous metrics).
        lengths
            Answer lengths for the length-dependent metrics: a number (every item that long),
            a 1-D array of per-item lengths, or a mapping like the builder's. Default: each
            curve's fitted length distribution (an error names curves whose rows used several).
        random_seed
            Seed for the sampling noise (and for prior draws of parameters the data did not
            inform, e.g. the multiple-choice item noise of a fit without choice metrics).

        Returns
        -------
        xarray.Dataset
            One variable per metric, dims ``(chain, draw, curve, scale)``.
        """
        scales_array = np.asarray(scales, dtype=float).ravel()
        if scales_array.size == 0 or not np.all(np.isfinite(scales_array) & (scales_array > 0)):
            raise ConfigError("scales must be a non-empty list of positive parameter counts")
        rng = np.random.default_rng(random_seed)
        if self.config.model == "item":
            return _predict_items(
                self,
                scales_array,
                metrics=metrics,
                curves=curves,
                n_items=n_items,
                lengths=lengths,
                rng=rng,
            )
        return _predict_evaluation(
            self,
            scales_array,
            metrics=metrics,
            curves=curves,
            n_items=n_items,
            lengths=lengths,
            rng=rng,
        )

    # ---- persistence ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fit to a Zarr store (a folder; ``.zarr`` suffix suggested).

        The store holds every inference-data group, the input table (group ``input_table``)
        and the configuration in the root attributes; :meth:`load` reads it back.
        """
        path = Path(path)
        tree = self.idata.copy()
        tree.attrs.update(self.config.to_attrs())
        tree["input_table"] = xr.DataTree(_table_to_dataset(self.table))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree.to_zarr(path, mode="w", consolidated=False)
        return path

    @classmethod
    def load(cls, path: str | Path, *, model: str | None = None) -> Fit:
        """Read a fit written by :meth:`save`, checking it was written by this model and version.

        Parameters
        ----------
        path
            The store written by :meth:`save`.
        model
            If given, the builder the fit must have been made with (``smooth``, ``broken``,
            ``item``).

        Raises
        ------
        FitCompatibilityError
            If the store is not an emergestats fit, was written by another package version or
            model specification, by another model than ``model``, or its contents do not match
            its recorded model id.
        """
        path = Path(path)
        if not path.exists():
            raise FitCompatibilityError(f"{path}: no such fit; give the path passed to Fit.save")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = xr.open_datatree(path, engine="zarr", consolidated=False)
                tree = tree.load()
        except Exception as exc:  # zarr/xarray raise many types on a foreign folder
            raise FitCompatibilityError(
                f"{path}: cannot be read as a saved fit ({exc}); save fits with Fit.save"
            ) from exc
        config = FitConfig.from_attrs({str(k): v for k, v in tree.attrs.items()}, path=path)
        if config.package_version != _package_version():
            raise FitCompatibilityError(
                f"{path}: was written by emergestats {config.package_version}, but this is "
                f"emergestats {_package_version()}; refit with this version (or load it with "
                f"emergestats {config.package_version})"
            )
        if config.spec_version != MODEL_SPEC_VERSION:
            raise FitCompatibilityError(
                f"{path}: was written with model specification {config.spec_version}, but this "
                f"code uses specification {MODEL_SPEC_VERSION}; refit the model"
            )
        if config.model not in MODELS:
            raise FitCompatibilityError(
                f"{path}: was written by an unknown model {config.model!r}; expected one of "
                f"{', '.join(MODELS)}"
            )
        if model is not None and config.model != model:
            raise FitCompatibilityError(
                f"{path}: holds a {config.model!r} fit, not the {model!r} fit asked for; load "
                f"it with model={config.model!r} or refit"
            )
        if "input_table" not in tree.children:
            raise FitCompatibilityError(f"{path}: has no input_table group; it is incomplete")
        table = _table_from_dataset(tree["input_table"].to_dataset())
        stored_id = str(tree.attrs.get(f"{_ATTR_PREFIX}model_id", ""))
        if _table_hash(table) != config.table_hash or config.model_id != stored_id:
            raise FitCompatibilityError(
                f"{path}: its input table or configuration does not match its recorded model id "
                f"{stored_id}; the store was modified after saving; refit the model"
            )
        _restore_string_coords(tree)
        return cls(tree, config=config, table=table)


def _restore_string_coords(tree: xr.DataTree) -> None:
    """Zarr gives fixed-width/StringDType strings back; make string coordinates plain ``str``."""
    for node in tree.subtree:
        dataset = node.to_dataset()
        changed = {}
        for name, coord in dataset.coords.items():
            if coord.dtype.kind in ("U", "T", "O"):
                changed[name] = coord.copy(data=np.asarray(coord.to_numpy().astype(str), dtype=str))
        if changed:
            node.dataset = dataset.assign_coords(changed)


# --------------------------------------------------------------------------------------------
# fit()
# --------------------------------------------------------------------------------------------


def _build(model: str, prepared: Any, config: FitConfig) -> pm.Model:
    if model == "smooth":
        return smooth_model_from_prepared(
            prepared, priors=config.priors, floor=config.floor, centered=config.centered
        )
    if model == "broken":
        return broken_model_from_prepared(prepared, priors=config.priors, centered=config.centered)
    return item_model_from_prepared(prepared, priors=config.priors)


def fit(
    table: pd.DataFrame,
    model: str = "smooth",
    *,
    sampler: str | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    progressbar: bool = False,
    **options: Any,
) -> Fit:
    """Build a model from a canonical table, sample it and return a :class:`Fit`.

    Parameters
    ----------
    table
        Canonical evaluation table (``model="smooth"`` or ``"broken"``) or item table
        (``model="item"``).
    model
        ``"smooth"`` (:func:`~emergestats.models.build_smooth_model`), ``"broken"``
        (:func:`~emergestats.models.build_broken_model`) or ``"item"``
        (:func:`~emergestats.models.build_item_model`).
    sampler
        ``"numpyro"``, ``"nutpie"`` or ``"pymc"``; default :data:`DEFAULT_SAMPLER` (nutpie),
        or the next installed one of numpyro and pymc when it is not installed.
    draws, tune, chains
        Draws kept and tuning steps per chain, and the number of chains.
    random_seed
        Seed of the sampler and of the posterior predictive draws.
    priors
        Prior overrides by key (:data:`emergestats.models.priors.DEFAULT_PRIORS`).
    progressbar
        Show the sampler's progress.
    **options
        Builder options (``floor``, ``lengths``, ``n_ref``, ``centered``; see the builders) and
        sampler options (``target_accept``, ``cores``, ``init``, ``max_treedepth``,
        ``chain_method`` for numpyro). ``keep_deterministics=True`` also stores the per-row
        deterministic ``p_token`` (large for big tables; off by default).

    Returns
    -------
    Fit
        With ``idata`` holding posterior, sample stats, log-likelihood, posterior predictive,
        observed data and (on save) the input table and configuration.
    """
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    keep_deterministics = bool(options.pop("keep_deterministics", False))
    builder_options = {k: options.pop(k) for k in list(options) if k in _BUILDER_OPTIONS[model]}
    sampler_options = {k: options.pop(k) for k in list(options) if k in _SAMPLER_OPTIONS}
    if options:
        raise ConfigError(
            f"unknown option(s) {', '.join(sorted(options))} for model {model!r}; builder "
            f"options are {', '.join(_BUILDER_OPTIONS[model])} and sampler options "
            f"{', '.join(_SAMPLER_OPTIONS)}"
        )
    sampler_name = default_sampler() if sampler is None else sampler
    check_sampler(sampler_name)
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if int(value) != value or value < (0 if name == "tune" else 1):
            raise ConfigError(f"{name} must be a positive integer, not {value!r}")

    resolved = resolve_priors(priors)
    prepared: PreparedData | PreparedItems
    if model == "item":
        prepared = prepare_items(table, n_ref=builder_options.get("n_ref"))
        stored_table = prepared.items
    else:
        prepared = prepare_evaluation(
            table,
            lengths=builder_options.get("lengths"),
            n_ref=builder_options.get("n_ref"),
            loglik_noise=builder_options.get("loglik_noise", "pooled"),
        )
        stored_table = prepared.table
    target_accept = DEFAULT_TARGET_ACCEPT[model]
    if model == "smooth" and len(prepared.curve_labels) < SMALL_FIT_CURVES:
        target_accept = 0.9
    sampler_options.setdefault("target_accept", target_accept)
    sampler_options.setdefault("max_treedepth", DEFAULT_MAX_TREEDEPTH[model])
    config = FitConfig(
        model=model,
        priors=resolved,
        n_ref=prepared.n_ref,
        floor=bool(builder_options.get("floor", False)),
        centered=bool(builder_options.get("centered", True)),
        loglik_noise=str(builder_options.get("loglik_noise", "pooled")),
        lengths_json=_lengths_to_json(builder_options.get("lengths")),
        sampler=sampler_name,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        random_seed=random_seed,
        package_version=_package_version(),
        spec_version=MODEL_SPEC_VERSION,
        table_hash=_table_hash(stored_table),
        sampler_options_json=json.dumps(sampler_options, sort_keys=True),
    )
    pm_model = _build(model, prepared, config)
    per_row = {"p_token"}
    var_names = [v.name for v in pm_model.free_RVs] + [
        d.name for d in pm_model.deterministics if keep_deterministics or d.name not in per_row
    ]
    idata = _sample(
        pm_model,
        sampler=sampler_name,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        random_seed=random_seed,
        progressbar=progressbar,
        var_names=var_names,
        sampler_options=sampler_options,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        pm.compute_log_likelihood(
            idata, model=pm_model, extend_inferencedata=True, progressbar=False
        )
        ppc_seed = None if random_seed is None else int(random_seed) + 1
        pm.sample_posterior_predictive(
            idata,
            model=pm_model,
            var_names=[v.name for v in pm_model.observed_RVs],
            random_seed=ppc_seed,
            extend_inferencedata=True,
            progressbar=False,
        )
    idata.attrs.update(config.to_attrs())
    idata["input_table"] = xr.DataTree(_table_to_dataset(stored_table))
    result = Fit(idata, config=config, table=stored_table)
    result._prepared = prepared
    return result


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------


def _draws(post: xr.Dataset, name: str, curve_positions: np.ndarray | None = None) -> np.ndarray:
    """``(chain, draw[, curve])`` numpy array of a posterior variable."""
    array = post[name]
    if "curve" in array.dims:
        values = array.transpose("chain", "draw", "curve").to_numpy()
        return values if curve_positions is None else values[..., curve_positions]
    return array.transpose("chain", "draw", ...).to_numpy()


def _curve_selection(fit_: Fit, curves: Sequence[str] | None) -> np.ndarray:
    labels = list(fit_.prepared.curve_labels)
    if curves is None:
        return np.arange(len(labels))
    unknown = [c for c in curves if c not in labels]
    if unknown:
        raise ConfigError(
            f"unknown curve(s) {', '.join(map(repr, unknown[:5]))}; the fit's curves are "
            f"{', '.join(labels[:5])}{', ...' if len(labels) > 5 else ''}"
        )
    return np.array([labels.index(c) for c in curves], dtype=np.int64)


def _latent_ce(fit_: Fit, positions: np.ndarray, x: np.ndarray) -> np.ndarray:
    """CE with dims (chain, draw, curve, scale)."""
    post = fit_.posterior
    a = _draws(post, "a", positions)[..., None]
    b = _draws(post, "b", positions)[..., None]
    if fit_.config.model == "broken":
        x_break = _draws(post, "log_n_break", positions)[..., None] - np.log(fit_.n_ref)
        slope = _draws(post, "break_slope", positions)[..., None]
        level = _draws(post, "break_level", positions)[..., None]
        width = float(fit_.config.priors["break_width"]["value"])
        log_ce = broken_log_cross_entropy(x, a, b, x_break, slope, level, width)
    else:
        log_ce = log_cross_entropy(x, a, b)
    ce = np.exp(log_ce)
    if "floor" in post.data_vars:
        ce = ce + _draws(post, "floor", positions)[..., None]
    return np.asarray(ce)


def _prior_draws(
    spec: Mapping[str, Any], shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    dist = spec["dist"]
    if dist == "LogNormal":
        return np.asarray(rng.lognormal(spec["mu"], spec["sigma"], size=shape))
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, spec["sigma"], size=shape))
    if dist == "Normal":
        return np.asarray(rng.normal(spec["mu"], spec["sigma"], size=shape))
    if dist == "Exponential":
        return np.asarray(rng.exponential(1.0 / spec["lam"], size=shape))
    if dist == "Gamma":
        return np.asarray(rng.gamma(spec["alpha"], 1.0 / spec["beta"], size=shape))
    raise ConfigError(f"cannot draw from a {dist} prior")


def _global_parameter(
    fit_: Fit, name: str, prior_key: str, rng: np.random.Generator, *, index: int | None = None
) -> np.ndarray:
    """(chain, draw) draws of a scalar likelihood parameter: posterior, else prior draws."""
    post = fit_.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    if name in post.data_vars:
        values = post[name].transpose("chain", "draw", ...).to_numpy()
        return values if index is None else values[..., index]
    warnings.warn(
        f"the fit has no data on {name!r} (no rows of a metric that uses it); its prior "
        f"{prior_key} is used for the prediction",
        UserWarning,
        stacklevel=4,
    )
    return _prior_draws(fit_.config.priors[prior_key], shape, rng)


def _curve_choices(prepared: PreparedData) -> np.ndarray:
    obs = prepared.observations
    out = np.full(len(prepared.curve_labels), np.nan)
    for position in range(len(out)):
        mine = obs.n_choices[(prepared.curve_index == position) & obs.modelled]
        mine = mine[np.isfinite(mine)]
        if mine.size:
            out[position] = float(np.median(mine))
    return out


def _curve_length_histograms(
    fit_: Fit, positions: np.ndarray, lengths: Any, *, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """(curve, slot) padded length histograms for the predicted curves.

    Default per curve: the length distribution of the curve's rows of the predicted ``kind``
    (else of all its rows that use lengths), when it is one distribution.
    """
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedData)
    obs = prepared.observations
    histograms: list[tuple[np.ndarray, np.ndarray]] = []
    ambiguous: list[str] = []
    for position in positions:
        label = prepared.curve_labels[position]
        curve_row = prepared.curves.iloc[position]
        given: Any = None
        if isinstance(lengths, Mapping):
            for key in (label, (str(curve_row["task"]), str(curve_row["subtask"]))):
                if key in lengths:
                    given = lengths[key]
                    break
        elif lengths is not None:
            given = lengths
        if given is not None:
            histograms.append(length_histogram(np.atleast_1d(np.asarray(given, dtype=float))))
            continue
        candidates = (
            (prepared.curve_index == position)
            & np.isin(obs.kind, LENGTH_KINDS)
            & obs.modelled
            & (obs.unit == "token")
        )
        same_kind = candidates & (obs.kind == kind)
        rows = np.flatnonzero(same_kind if same_kind.any() else candidates)
        distinct: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for row in rows:
            keep = obs.length_weights[row] > 0
            values, weights = obs.length_values[row][keep], obs.length_weights[row][keep]
            distinct[np.concatenate([values, weights]).tobytes()] = (values, weights)
        if len(distinct) > 1:
            ambiguous.append(label)
            histograms.append((np.array([1.0]), np.array([1.0])))
        elif distinct:
            histograms.append(next(iter(distinct.values())))
        else:
            histograms.append((np.array([1.0]), np.array([1.0])))
    if ambiguous:
        raise ConfigError(
            f"curves {', '.join(ambiguous[:5])} were fitted with rows of several answer-length "
            "distributions (e.g. subset accuracy at several L); pass lengths= to say which one "
            "to predict"
        )
    slots = max(len(v) for v, _ in histograms)
    values = np.ones((len(histograms), slots))
    weights = np.zeros((len(histograms), slots))
    for i, (v, w) in enumerate(histograms):
        values[i, : len(v)] = v
        weights[i, : len(w)] = w
    return values, weights


def _n_items_per_curve(n_items: int | Mapping[str, int], labels: list[str]) -> np.ndarray:
    if isinstance(n_items, Mapping):
        missing = [c for c in labels if c not in n_items]
        if missing:
            raise ConfigError(
                f"n_items has no entry for curve(s) {', '.join(missing[:5])}; give an integer "
                "for every predicted curve"
            )
        values = np.array([n_items[c] for c in labels], dtype=float)
    else:
        values = np.full(len(labels), float(n_items))
    if not np.all((values >= 1) & (values == np.round(values))):
        raise ConfigError(f"n_items must be positive integers, not {n_items!r}")
    return values


def _beta_binomial_proportion(
    rate: np.ndarray, kappa: np.ndarray, n: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    rate = np.clip(rate, 1e-12, 1.0 - 1e-12)
    k = kappa[..., None, None]
    mixed = rng.beta(rate * k, (1.0 - rate) * k)
    counts = rng.binomial(np.broadcast_to(n[:, None], rate.shape).astype(np.int64), mixed)
    return counts / n[:, None]


def _predict_evaluation(
    fit_: Fit,
    scales: np.ndarray,
    *,
    metrics: Sequence[str],
    curves: Sequence[str] | None,
    n_items: int | Mapping[str, int] | None,
    lengths: Any,
    rng: np.random.Generator,
) -> xr.Dataset:
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedData)
    positions = _curve_selection(fit_, curves)
    labels = [prepared.curve_labels[p] for p in positions]
    x = np.log(scales) - np.log(fit_.n_ref)
    ce = _latent_ce(fit_, positions, x)
    post = fit_.posterior
    n = None if n_items is None else _n_items_per_curve(n_items, labels)
    kinds = list(post["count_kind"].to_numpy().astype(str)) if "count_kind" in post.coords else []
    choices_all = _curve_choices(prepared)
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    dims = ("chain", "draw", "curve", "scale")

    def kappa_for(kind: str) -> np.ndarray:
        if kind in kinds:
            return _global_parameter(
                fit_, "concentration", "concentration", rng, index=kinds.index(kind)
            )
        if kinds:  # another count kind was fitted: its item heterogeneity is the best guess
            return _global_parameter(fit_, "concentration", "concentration", rng, index=0)
        return _global_parameter(fit_, "concentration", "concentration", rng)

    def choices() -> np.ndarray:
        k = choices_all[positions]
        if not np.all(np.isfinite(k)):
            missing = [labels[i] for i in np.flatnonzero(~np.isfinite(k))]
            raise ConfigError(
                f"curves {', '.join(missing[:5])} have no known number of choices (no "
                "multiple-choice, accuracy-with-chance or Brier rows); multiple-choice metrics "
                "cannot be predicted for them"
            )
        return k[None, None, :, None]

    def accuracy_rate() -> np.ndarray:
        """The choice model's grade where the curve's number of choices is known, else p."""
        k_choices = choices_all[positions]
        rate = np.exp(-ce)
        if np.isfinite(k_choices).any():
            noise = _global_parameter(fit_, "choice_noise", "choice_noise", rng)
            safe = np.where(np.isfinite(k_choices), k_choices, 2.0)[None, None, :, None]
            grade = multiple_choice_grade_rate(ce, safe, noise[..., None, None])
            rate = np.where(np.isfinite(k_choices)[None, None, :, None], grade, rate)
        return np.asarray(rate)

    for metric in metrics:
        name = str(metric)
        if name == "p_token":
            out[name] = (dims, np.exp(-ce))
        elif name == "cross_entropy":
            out[name] = (dims, ce)
        elif name in ("exact_match", "subset_accuracy") or name.startswith("pass"):
            kind = "pass_at_k" if name.startswith("pass") else "exact_match"
            values, weights = _curve_length_histograms(fit_, positions, lengths, kind=kind)
            lv = values[None, None, :, None, :]
            lw = weights[None, None, :, None, :]
            if kind == "pass_at_k":
                k = pass_k_of(name) or 1
                rate = pass_at_k_rate(ce, lv, lw, np.full(ce.shape, float(k)))
            elif name == "subset_accuracy":
                per_item = accuracy_rate()
                with np.errstate(divide="ignore"):
                    rate = np.sum(lw * np.exp(lv * np.log(per_item)[..., None]), axis=-1)
            else:
                rate = exact_match_rate(ce, lv, lw)
            if n is not None:
                rate = _beta_binomial_proportion(rate, kappa_for(kind), n, rng)
            out[name] = (dims, rate)
        elif name in ("multiple_choice_grade", "accuracy"):
            if name == "accuracy":
                rate = accuracy_rate()
            else:
                k_choices = choices()
                noise = _global_parameter(fit_, "choice_noise", "choice_noise", rng)
                rate = multiple_choice_grade_rate(ce, k_choices, noise[..., None, None])
            if n is not None:
                rate = _beta_binomial_proportion(rate, kappa_for(name), n, rng)
            out[name] = (dims, rate)
        elif name in ("brier", "brier_mean", "brier_sum"):
            k_choices = choices()
            summed = name == "brier_sum"
            value = brier_score_mean(ce, k_choices, summed=summed)
            if n is not None:
                sd_item = _global_parameter(fit_, "brier_item_sd", "brier_item_sd", rng)
                scale = (k_choices if summed else 1.0) / np.sqrt(n)[None, None, :, None]
                value = value + rng.normal(size=value.shape) * sd_item[..., None, None] * scale
            out[name] = (dims, value)
        elif name.startswith("log_likelihood"):
            unit = "word" if "per_word" in name else "char" if "per_char" in name else "token"
            if unit == "token":
                values, weights = _curve_length_histograms(
                    fit_, positions, lengths, kind="log_likelihood"
                )
                per_unit = (values * weights).sum(axis=-1)[None, None, :, None]
            else:
                per_unit = _tokens_per_unit(fit_, positions, unit, rng)[..., None]
            mean = -per_unit * ce
            if n is not None:
                cv = _loglik_cv(fit_, positions, rng)[..., None]
                sd = cv * np.abs(mean) / np.sqrt(n)[None, None, :, None]
                mean = np.minimum(mean + rng.normal(size=mean.shape) * sd, 0.0)
            out[name] = (dims, mean)
        elif name == "edit_distance":
            values, weights = _curve_length_histograms(
                fit_, positions, lengths, kind="edit_distance"
            )
            mean_len = (values * weights).sum(axis=-1)[None, None, :, None]
            mean = edit_distance_mean(ce, mean_len)
            if n is not None:
                sd_item = _global_parameter(
                    fit_, "edit_distance_item_sd", "edit_distance_item_sd", rng
                )
                sd = sd_item[..., None, None] * mean_len / np.sqrt(n)[None, None, :, None]
                mean = np.maximum(mean + rng.normal(size=mean.shape) * sd, 0.0)
            out[name] = (dims, mean)
        else:
            raise ConfigError(
                f"cannot predict metric {name!r}; use exact_match, accuracy, "
                "multiple_choice_grade, brier, brier_sum, log_likelihood (_per_word, _per_char), "
                "edit_distance, pass_at_<k>, p_token or cross_entropy"
            )
    coords = {
        "chain": post["chain"].to_numpy(),
        "draw": post["draw"].to_numpy(),
        "curve": np.asarray(labels, dtype=str),
        "scale": scales,
    }
    dataset = xr.Dataset(out, coords=coords)
    dataset.attrs["n_ref"] = fit_.n_ref
    dataset.attrs["n_items"] = (
        "expected value"
        if n_items is None
        else json.dumps(n_items if not isinstance(n_items, Mapping) else dict(n_items))
    )
    return dataset


def _tokens_per_unit(
    fit_: Fit, positions: np.ndarray, unit: str, rng: np.random.Generator
) -> np.ndarray:
    """(chain, draw, curve): the curve's fitted tokens-per-word/char, else prior draws."""
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedData)
    post = fit_.posterior
    shape = (post.sizes["chain"], post.sizes["draw"], len(positions))
    out = _prior_draws(fit_.config.priors[f"tokens_per_{unit}"], shape, rng)
    if "tokens_per_unit" in post.data_vars:
        _, _, labels, units = unit_series(prepared.observations)
        values = post["tokens_per_unit"].transpose("chain", "draw", "unit_series").to_numpy()
        for j, position in enumerate(positions):
            prefix = prepared.curve_labels[position] + "/"
            for s, (label, u) in enumerate(zip(labels, units, strict=True)):
                if u == unit and label.startswith(prefix):
                    out[..., j] = values[..., s]
                    break
    return out


def _loglik_cv(fit_: Fit, positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(chain, draw, curve): the log-likelihood item CV of each curve (series' or pooled)."""
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedData)
    post = fit_.posterior
    shape = (post.sizes["chain"], post.sizes["draw"], len(positions))
    if "loglik_item_cv" not in post.data_vars:
        return _prior_draws(fit_.config.priors["loglik_item_cv"], shape, rng)
    values = post["loglik_item_cv"].transpose("chain", "draw", "loglik_group").to_numpy()
    _, labels = loglik_series(prepared.observations)
    if prepared.observations.loglik_noise == "pooled":
        group = labels.index("token") if "token" in labels else 0
        return np.repeat(values[..., group, None], len(positions), axis=-1)
    out = np.repeat(values.mean(axis=-1)[..., None], len(positions), axis=-1)
    for j, position in enumerate(positions):
        prefix = prepared.curve_labels[position] + "/"
        for s, label in enumerate(labels):
            if label.startswith(prefix):
                out[..., j] = values[..., s]
                break
    return out


def _predict_items(
    fit_: Fit,
    scales: np.ndarray,
    *,
    metrics: Sequence[str],
    curves: Sequence[str] | None,
    n_items: int | Mapping[str, int] | None,
    lengths: Any,
    rng: np.random.Generator,
) -> xr.Dataset:
    """Item fits: each curve's metric averaged over its own items (with their difficulties)."""
    prepared = fit_.prepared
    assert isinstance(prepared, PreparedItems)
    if n_items is not None or lengths is not None:
        raise ConfigError(
            "predictions from an item fit average over the curve's own items; n_items and "
            "lengths cannot be changed (fit the evaluation-level model for that)"
        )
    positions = _curve_selection(fit_, curves)
    labels = [prepared.curve_labels[p] for p in positions]
    post = fit_.posterior
    x = np.log(scales) - np.log(fit_.n_ref)
    a = _draws(post, "a", positions)
    b = _draws(post, "b", positions)
    difficulty = post["item_difficulty"].transpose("chain", "draw", "item").to_numpy()
    item_lengths = np.ones(len(prepared.item_labels))
    item_lengths[prepared.item_index] = prepared.lengths
    shape = (*a.shape, len(scales))
    out: dict[str, np.ndarray] = {}
    for metric in metrics:
        if metric not in ("exact_match", "log_likelihood", "p_token", "cross_entropy"):
            raise ConfigError(
                f"an item fit predicts exact_match, log_likelihood, p_token or cross_entropy, "
                f"not {metric!r}"
            )
        out[str(metric)] = np.zeros(shape)
    for j, position in enumerate(positions):
        items = np.flatnonzero(prepared.item_curve_index == position)
        log_ce = (
            a[..., j, None, None]
            - b[..., j, None, None] * x[:, None]
            + difficulty[..., None, items]
        )  # (chain, draw, scale, item)
        ce = np.exp(log_ce)
        lengths_here = item_lengths[items]
        for metric in out:
            if metric == "exact_match":
                out[metric][..., j, :] = np.exp(-lengths_here * ce).mean(axis=-1)
            elif metric == "log_likelihood":
                out[metric][..., j, :] = (-lengths_here * ce).mean(axis=-1)
            else:
                typical = np.exp(a[..., j, None] - b[..., j, None] * x)
                out[metric][..., j, :] = np.exp(-typical) if metric == "p_token" else typical
    coords = {
        "chain": post["chain"].to_numpy(),
        "draw": post["draw"].to_numpy(),
        "curve": np.asarray(labels, dtype=str),
        "scale": scales,
    }
    return xr.Dataset(
        {k: (("chain", "draw", "curve", "scale"), v) for k, v in out.items()}, coords=coords
    )


# --------------------------------------------------------------------------------------------
# LOO
# --------------------------------------------------------------------------------------------


@dataclass
class LooResult:
    """PSIS-LOO of a fit, per observation cell.

    Attributes
    ----------
    elpd
        Expected log pointwise predictive density (sum over cells).
    se
        Its standard error.
    p_loo
        Effective number of parameters.
    pointwise
        One row per cell: ``cell`` (table row), ``elpd``, ``pareto_k``, ``method``
        (``psis``, ``constant`` for cells with the same log-likelihood in every draw, or
        ``refit`` for exact leave-one-out refits).
    n_high_k
        Cells with Pareto k > 0.7 left after any refits.
    elpd_data
        ArviZ's own result for the PSIS cells (for :func:`arviz.compare` and plots).
    """

    elpd: float
    se: float
    p_loo: float
    pointwise: pd.DataFrame
    n_high_k: int
    elpd_data: Any

    def __repr__(self) -> str:
        return (
            f"LooResult(elpd={self.elpd:.1f}, se={self.se:.1f}, p_loo={self.p_loo:.1f}, "
            f"cells={len(self.pointwise)}, pareto_k>0.7: {self.n_high_k})"
        )


def _cells_tree(cells: xr.DataArray, posterior: xr.Dataset) -> xr.DataTree:
    """A DataTree with the cell log-likelihood (and the posterior, for ArviZ's relative ESS)."""
    tree = xr.DataTree()
    tree["posterior"] = xr.DataTree(posterior)
    tree["log_likelihood"] = xr.DataTree(xr.Dataset({"cells": cells}))
    return tree


def loo(
    fit_: Fit,
    *,
    refit: bool = False,
    max_refits: int = 10,
    k_threshold: float = 0.7,
) -> LooResult:
    """PSIS-LOO per observation cell, with constant cells handled exactly and optional refits.

    Parameters
    ----------
    fit_
        The fit.
    refit
        Replace the PSIS estimate of every cell with Pareto k > ``k_threshold`` by an exact
        leave-one-out refit (the model refitted without that table row, with the fit's sampler
        settings); at most ``max_refits`` refits (else a warning says how many were left).
    max_refits
        Cap on the number of refits.
    k_threshold
        Pareto k above which PSIS is unreliable (0.7).

    Returns
    -------
    LooResult
    """
    cells = fit_.log_likelihood_cells()
    values = cells.to_numpy().reshape(-1, cells.sizes["cell"])
    spread = values.max(axis=0) - values.min(axis=0)
    constant = spread < 1e-10
    cell_ids = cells["cell"].to_numpy()
    elpd_i = np.empty(len(cell_ids))
    k = np.zeros(len(cell_ids))
    method = np.array(["constant"] * len(cell_ids), dtype=object)
    elpd_i[constant] = values[0, constant]
    elpd_data = None
    p_loo = 0.0
    if (~constant).any():
        sub = cells.isel(cell=np.flatnonzero(~constant))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elpd_data = az.loo(_cells_tree(sub, fit_.posterior), pointwise=True, var_name="cells")
        elpd_i[~constant] = np.asarray(elpd_data.elpd_i).ravel()
        k[~constant] = np.asarray(elpd_data.pareto_k).ravel()
        method[~constant] = "psis"
        lppd_i = _logmeanexp(values[:, ~constant], axis=0)
        p_loo = float(np.sum(lppd_i - elpd_i[~constant]))
    high = np.flatnonzero(k > k_threshold)
    if refit and len(high):
        todo, left = high[:max_refits], high[max_refits:]
        for position in todo:
            elpd_i[position] = _exact_loo_cell(fit_, int(cell_ids[position]))
            method[position] = "refit"
            k[position] = np.nan
        if len(left):
            warnings.warn(
                f"{len(left)} cells still have Pareto k > {k_threshold} after {len(todo)} "
                "refits; raise max_refits or use k-fold cross-validation",
                UserWarning,
                stacklevel=2,
            )
        n_high = len(left)
    else:
        n_high = len(high)
        if n_high:
            warnings.warn(
                f"{n_high} of {len(cell_ids)} cells have Pareto k > {k_threshold}: their PSIS "
                "estimates are unreliable; call loo(fit, refit=True) for exact refits",
                UserWarning,
                stacklevel=2,
            )
    pointwise = pd.DataFrame({"cell": cell_ids, "elpd": elpd_i, "pareto_k": k, "method": method})
    elpd = float(elpd_i.sum())
    se = float(np.sqrt(len(elpd_i) * np.var(elpd_i)))
    return LooResult(
        elpd=elpd, se=se, p_loo=p_loo, pointwise=pointwise, n_high_k=n_high, elpd_data=elpd_data
    )


def _logmeanexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.mean(np.exp(values - top), axis=axis))


def _exact_loo_cell(fit_: Fit, cell: int) -> float:
    """Exact LOO log predictive density of one table row: refit without it, score it."""
    config = fit_.config
    table = fit_.table.drop(index=cell).reset_index(drop=True)
    options: dict[str, Any] = {"n_ref": config.n_ref}
    if config.model != "item":
        options["loglik_noise"] = config.loglik_noise
        options["centered"] = config.centered
    if config.model == "smooth":
        options["floor"] = config.floor
    lengths = _lengths_from_json(config.lengths_json)
    if lengths:
        options["lengths"] = lengths
    options.update(json.loads(config.sampler_options_json))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        held_out = fit(
            table,
            config.model,
            sampler=config.sampler,
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            random_seed=config.random_seed,
            priors=config.priors,
            **options,
        )
    full_model = fit_.build_model()
    free = {v.name for v in full_model.free_RVs}
    posterior = held_out.posterior[[v for v in held_out.posterior.data_vars if v in free]]
    tree = xr.DataTree()
    tree["posterior"] = xr.DataTree(posterior)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log_lik = pm.compute_log_likelihood(
            tree, model=full_model, extend_inferencedata=False, progressbar=False
        )
    group = (
        log_lik["log_likelihood"]
        if "log_likelihood" in getattr(log_lik, "children", {})
        else log_lik
    )
    for name in group.data_vars:
        array = group[name]
        (dim,) = [d for d in array.dims if d not in ("chain", "draw")]
        if cell in set(np.asarray(array[dim].to_numpy(), dtype=np.int64)):
            values = array.sel({dim: cell}).to_numpy().ravel()
            return float(_logmeanexp(values[:, None], axis=0)[0])
    raise ConfigError(f"table row {cell} has no likelihood; it cannot be left out")


def compare(fits: Mapping[str, Fit]) -> pd.DataFrame:
    """Compare fits of the same table by PSIS-LOO (ArviZ ``compare`` on the cell log-likelihood).

    Parameters
    ----------
    fits
        Named fits, e.g. ``{"smooth": smooth_fit, "broken": broken_fit}``; all must be fitted
        to the same rows.

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (rank, elpd, differences and their standard errors, weights).
    """
    if len(fits) < 2:
        raise ConfigError("compare needs at least two fits")
    cells = {name: f.log_likelihood_cells() for name, f in fits.items()}
    reference = next(iter(cells.values()))["cell"].to_numpy()
    for name, array in cells.items():
        if not np.array_equal(array["cell"].to_numpy(), reference):
            raise ConfigError(
                f"fit {name!r} was fitted to other rows than the first fit; LOO comparison "
                "needs the same observation cells"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.compare(
            {name: _cells_tree(c, fits[name].posterior) for name, c in cells.items()},
            var_name="cells",
        )


# keep COUNT_KINDS importable from here for users of the kinds list
_ = COUNT_KINDS
