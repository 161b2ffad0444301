"""Sampling a model and the :class:`Fit` handle.

:func:`fit` builds a model from a canonical table (:mod:`emergestats.models`), samples it, and
returns a :class:`Fit` holding an ArviZ ``DataTree`` with the groups ``posterior``,
``sample_stats``, ``log_likelihood``, ``posterior_predictive``, ``observed_data`` and
``input_table`` (the table the model was fitted to, one variable per column along ``row``), plus
the configuration (:class:`~emergestats.inference.io.FitConfig`) in the root attributes
``emergestats_*`` (builder, priors as JSON, ``N_ref``, builder and sampler options, package
version, model spec version and a model id). :class:`Fit`'s methods delegate to
:mod:`~emergestats.inference.diagnostics` (``curves``, ``diagnostics``),
:mod:`~emergestats.inference.predict` (``predict``), :mod:`~emergestats.inference.loo`
(``log_likelihood_cells``) and :mod:`~emergestats.inference.io` (``save``, ``load``).

Sampler choice
--------------
``sampler`` is one of ``"numpyro"``, ``"nutpie"`` or ``"pymc"`` (``pm.sample(nuts_sampler=...)``;
nutpie is called directly, as ``pm.sample`` would, without its step assignment: see
:func:`_sample_nutpie`).
The default, :data:`DEFAULT_SAMPLER`, is the fastest per effective draw measured here (see its
docstring for the numbers). A sampler whose package is not installed raises
:class:`~emergestats.errors.SamplerUnavailableError` naming ``pip install emergestats[samplers]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from emergestats.errors import ConfigError, SamplerUnavailableError
from emergestats.inference.io import (
    MODEL_SPEC_VERSION,
    MODELS,
    FitConfig,
    _lengths_from_json,
    _lengths_to_json,
    _package_version,
    _table_hash,
    _table_to_dataset,
    read_fit,
    write_fit,
)
from emergestats.models.builders import (
    PreparedData,
    PreparedItems,
    broken_model_from_prepared,
    item_model_from_prepared,
    prepare_evaluation,
    prepare_items,
    smooth_model_from_prepared,
    with_probability_noise,
)
from emergestats.models.likelihoods import resolve_choice_options
from emergestats.models.priors import resolve_priors

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

#: nutpie's mass-matrix adaptation unless ``adaptation=`` says otherwise: ``"diag"``
#: (nutpie's own default). ``"low_rank"`` (a diagonal plus the leading directions of the
#: draws' and gradients' covariance) follows correlated posteriors: on the one-curve ladder
#: (2 x 2000 draws, seeds 1-6 and 20261202) min bulk ESS 965-1462 against 332-515, every seed
#: passing (the ladder preset, :data:`emergestats.analysis.LADDER_SETTINGS`, uses it). It is
#: not the default because on the real multi-curve tables it did worse: ExpEmergence's three
#: tasks (``benchmarks/cross_metric.py --only expemergence``, 72 curves) ended at R-hat 4.46
#: with 3904 divergences against R-hat 1.45 and none; Pythia LAMBADA (two curves) at 84
#: divergences against 27 (2026-12-04; both fail either way, see ``benchmarks/README.md``).
#: On the sampling benchmark's simulated 10 tasks low-rank mixed and diagonal did not (min
#: bulk ESS 617 vs 7, R-hat 1.008 vs 1.53): which default serves both kinds of table is open.
DEFAULT_NUTPIE_ADAPTATION: Final[str] = "diag"

#: Default NUTS target acceptance per model: 0.95. With the measurement model (cell deviations,
#: item spreads) a 3-curve simulated fit and the ladder's log-likelihood fit each had one
#: divergent transition in 4000 draws at 0.9; the broken model's sharp transitions need small
#: steps too.
DEFAULT_TARGET_ACCEPT: Final[dict[str, float]] = {"smooth": 0.95, "broken": 0.95, "item": 0.8}

#: Default largest NUTS tree depth per model (``max_treedepth`` option): standard NUTS. A cap at
#: depth 3 halved the work on simulated 200-curve fits, but gave 17 divergences on a small real
#: three-metric fit; a default must hold on real tables.
DEFAULT_MAX_TREEDEPTH: Final[dict[str, int]] = {"smooth": 10, "broken": 10, "item": 10}

_BUILDER_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "smooth": ("floor", "lengths", "n_ref", "centered", "lure", "probability_noise"),
    "broken": ("floor", "lengths", "n_ref", "centered", "lure", "probability_noise"),
    "item": ("n_ref",),
}
_SAMPLER_OPTIONS: Final[tuple[str, ...]] = (
    "target_accept",
    "cores",
    "init",
    "max_treedepth",
    "chain_method",
    "adaptation",
)


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


#: Variables started where the data put them (the builders' initial values), not jittered: a
#: U(-1, 1) jitter of ``log b`` moves ``log CE`` by several units at the ends of the scale range,
#: far outside tightly measured rows, where chains stuck with log-likelihoods ~1e7 below the
#: mode. The pooled curves' mean log item sd and its deviations (``item_sd_log_mean``,
#: ``item_sd_log_rest``) start where the curves' start assumes them, at the prior's median:
#: jittered to item sds near e, chains on a simulated table settled in a mode 310 log-density
#: units below.
#: Scales, correlations and item spreads are still jittered, so chains start apart.
UNJITTERED: Final[frozenset[str]] = frozenset(
    {
        "a",
        "log_b",
        "a_centred",
        "log_b_centred",
        "z_a",
        "z_log_b",
        "a_mu",
        "a_mu_shifted",
        "log_b_mu",
        "log_b_mu_shifted",
        "source_a_mu",
        "source_log_b_mu",
        "cell_deviation",
        "cell_deviation_centred",
        "cell_z",
        "item_sd_log_mean",
        "item_sd_log_rest",
    }
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
    free = {rv.name for rv in model.free_RVs}
    start = {
        name: value
        for name, value in getattr(model, "emergestats_start", {}).items()
        if name in free
    }
    if sampler == "nutpie":
        if "init" in kwargs:
            warnings.warn(
                f"init={kwargs['init']!r} is ignored by the nutpie sampler (it starts every "
                "chain at the model's start point)",
                UserWarning,
                stacklevel=3,
            )
        if "target_accept" in kwargs:
            nuts["target_accept"] = kwargs["target_accept"]
        return _sample_nutpie(
            model,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=int(kwargs["cores"]),
            random_seed=random_seed,
            progressbar=progressbar,
            var_names=var_names,
            nuts=nuts,
            start=start,
        )
    if sampler == "pymc" and "init" not in kwargs:
        # PyMC's default init jitters every variable; start as nutpie does instead
        kwargs["initvals"] = _jittered_starts(model, start, chains, random_seed)
        kwargs["init"] = "adapt_diag"
    elif start:
        kwargs["initvals"] = start
    with _quiet_sampler():
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


def _jittered_starts(
    model: pm.Model, start: dict[str, Any], chains: int, random_seed: int | None
) -> list[dict[str, Any]]:
    """One start per chain for PyMC's NUTS: ``start`` with a U(-1, 1) jitter of the
    unconstrained values of every variable but :data:`UNJITTERED`, as nutpie starts its chains.

    PyMC's own ``jitter+adapt_diag`` jitters them all: tiny test fits (40 tuning steps) left
    single curves in the simulated table's low mode (item sd 1.34, a 1.2 above its value).
    """
    from pymc.initial_point import make_initial_point_fn

    point = make_initial_point_fn(
        model=model, overrides=start, jitter_rvs=_jittered(model), return_transformed=False
    )
    return [point(seed) for seed in _chain_seeds(random_seed, chains)]


def _jittered(model: pm.Model) -> set[Any]:
    """The free variables whose starts are jittered: all but :data:`UNJITTERED`."""
    return {rv for rv in model.free_RVs if rv.name not in UNJITTERED}


def _chain_seeds(random_seed: int | None, chains: int) -> list[int]:
    """One seed per chain spawned from ``random_seed``, as ``pm.sample`` spawns them."""
    from pymc.util import get_random_generator

    return [int(rng.integers(2**30)) for rng in get_random_generator(random_seed).spawn(chains)]


@contextlib.contextmanager
def _quiet_sampler() -> Iterator[None]:
    """Silence the samplers' own convergence warnings: ours come from ``Fit.diagnostics``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*MigrationWarning.*")
        yield


def _sample_nutpie(
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    random_seed: int | None,
    progressbar: bool,
    var_names: list[str],
    nuts: Mapping[str, Any],
    start: Mapping[str, Any],
) -> xr.DataTree:
    """nutpie called directly, as ``pm.sample(nuts_sampler="nutpie")`` calls it, less its cost.

    ``pm.sample`` first assigns PyMC's own step methods to every variable (building the model's
    gradient graph) and then hands the model to nutpie, which builds it again: 1.9 s of a 12 s
    calibration fit went to the first. Everything else is what ``pm.sample`` does for nutpie
    (PyMC 6.4): one seed per chain spawned from ``random_seed`` (nutpie takes the first, so a
    seed gives the same draws as before), at least one tuning step, the tuning draws dropped,
    ``max_treedepth`` as nutpie's ``maxdepth``, and the constant and observed data groups.
    """
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    seeds = _chain_seeds(random_seed, chains)
    options = dict(nuts)
    if "max_treedepth" in options:
        options["maxdepth"] = int(options.pop("max_treedepth"))
    with _quiet_sampler():
        compiled = nutpie.compile_pymc_model(
            model,
            backend="numba",
            var_names=var_names,
            jitter_rvs=_jittered(model),
            initial_points=dict(start),
        )
        started = time.time()
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=max(int(tune), 1),  # nuts-rs requires a tuning step
            chains=chains,
            cores=cores,
            seed=seeds[0],
            save_warmup=False,
            store_unconstrained=False,
            progress_bar=progressbar,
            **options,
        )
        patch_nutpie_idata(idata, model, sampling_time=time.time() - started)
    return idata


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
                    prepared = prepare_evaluation(
                        self.table,
                        lengths=_lengths_from_json(self.config.lengths_json),
                        n_ref=self.n_ref,
                        warn=False,
                    )
                    self._prepared = with_probability_noise(prepared, self.config.probability_noise)
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
        from emergestats.inference.diagnostics import curve_summary

        return curve_summary(self)

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
            ESS < 100 per chain, any divergence, E-BFMI < 0.3, a chain that never moved), naming
        the failures.
        """
        from emergestats.inference.diagnostics import diagnose

        # stacklevel 3: the warning names the caller of this method, as before the split
        return diagnose(self, warn=warn, stacklevel=3)

    def diagnostics_summary(self) -> dict[str, Any]:
        """The overall diagnostics: worst R-hat and ESS, divergences, BFMI, stuck chains."""
        return dict(self.diagnostics(warn=False).attrs["summary"])

    # ---- log-likelihood cells -------------------------------------------------------------

    def log_likelihood_cells(self, *, by: str = "cell") -> xr.DataArray:
        """Pointwise log-likelihood per observation cell, dims ``(chain, draw, cell)``.

        ``cell`` holds the table row positions (``obs``) of every row with a likelihood, in
        row order; the observed variables of all metric kinds are joined.
        """
        from emergestats.inference.loo import log_likelihood_cells

        return log_likelihood_cells(self, by=by)

    # ---- predictions ----------------------------------------------------------------------

    @property
    def lengths(self) -> dict[Any, Any] | None:
        """The per-item answer lengths the fit was given (``None`` if none)."""
        return _lengths_from_json(self.config.lengths_json)

    def predict_table(
        self,
        table: pd.DataFrame,
        *,
        lengths: Any = None,
        max_draws: int | None = 2000,
        return_draws: bool = False,
        random_seed: int | None = None,
        cell_deviations: str = "fitted",
    ) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
        """The posterior predictive distribution of every row's observed score.

        For every row of a canonical evaluation table (rows of the fit or new ones: other
        sizes, other metrics of the fitted curves), the distribution of the score that would be
        observed, with the row's own ``n_items``, answer lengths, number of choices and ``k``
        (see :mod:`emergestats.inference.predict`). This is the hook of cross-metric
        prediction, extrapolation and the mirage test.

        Parameters
        ----------
        table
            A canonical evaluation table whose curves are curves of this fit.
        lengths
            Per-item answer lengths by ``(task, subtask)`` or curve label (default: the fit's).
        max_draws
            Posterior draws used (a random subset when there are more; ``None``: all).
        return_draws
            Also return the ``(draws, rows)`` array of predicted observed scores.
        random_seed
            Seed of the subset of draws, the sampling noise and prior draws.
        cell_deviations
            ``"fitted"`` (default): a row of a (curve, model) cell the fit saw uses that
            cell's posterior deviation from the power law, so a metric predicted at a fitted
            model is conditioned on what the fit's other metrics said about that model's
            outputs (cross-metric prediction). ``"fresh"``: every cell draws a new deviation
            from ``Normal(0, cell_sigma)``, draw by draw: a replicate curve of the fitted
            latent itself (the "mixed" posterior predictive of a hierarchical model), which
            is what the mirage test compares an observed jump with.

        Returns
        -------
        pandas.DataFrame
            The validated input rows plus ``mean``, ``q05``, ``q50``, ``q95`` (of the observed
            score), ``expected`` (posterior mean of the noise-free score) and ``reason`` (why a
            row has no prediction: empty when it has one).

        Examples
        --------
        >>> held_out = table[table["metric"] == "accuracy"]  # doctest: +SKIP
        >>> fit.predict_table(held_out)[["params", "score", "q05", "q95"]]  # doctest: +SKIP
        """
        from emergestats.inference.predict import predict_rows

        frame, draws = predict_rows(
            self,
            table,
            lengths=lengths,
            max_draws=max_draws,
            return_draws=return_draws,
            random_seed=random_seed,
            cell_deviations=cell_deviations,
        )
        if return_draws:
            assert draws is not None
            return frame, draws.observed
        return frame

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
            Any of ``exact_match`` (all ``L`` tokens right), ``accuracy``,
            ``multiple_choice_grade``, ``brier`` (or ``brier_mean``), ``brier_sum``,
            ``log_likelihood``, ``edit_distance``, ``pass@<k>``, plus the latent ``p_token``
            and ``cross_entropy`` (of the cell's mean per-token CE). Other rows (subset
            accuracy, per-word log-likelihoods, ...): :meth:`predict_table`.
        curves
            Curve labels to predict (default all).
        n_items
            ``None``: expected values. An integer (or a mapping from curve label to one): the
            proportion observed on that many items, with the likelihood's sampling noise
            (binomial for counts, normal for the continuous metrics).
        lengths
            Answer lengths for the length-dependent metrics: a number (the mean length), a
            1-D array of per-item lengths, or a mapping like the builder's. Default: the fit's
            lengths. A scale the fit has not seen draws a new model deviation per draw.
        random_seed
            Seed for the sampling noise (and for prior draws of parameters the data did not
            inform, e.g. the multiple-choice item noise of a fit without choice metrics).

        Returns
        -------
        xarray.Dataset
            One variable per metric, dims ``(sample, curve, scale)`` (posterior draws).
        """
        from emergestats.inference.predict import predict

        return predict(
            self,
            scales,
            metrics=metrics,
            curves=curves,
            n_items=n_items,
            lengths=lengths,
            random_seed=random_seed,
        )

    # ---- persistence ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fit to a Zarr store (a folder; ``.zarr`` suffix suggested).

        The store holds every inference-data group, the input table (group ``input_table``)
        and the configuration in the root attributes; :meth:`load` reads it back.
        """
        return write_fit(path, self.idata, config=self.config, table=self.table)

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
        tree, config, table = read_fit(path, model=model)
        return cls(tree, config=config, table=table)


# --------------------------------------------------------------------------------------------
# fit()
# --------------------------------------------------------------------------------------------


def _build(model: str, prepared: Any, config: FitConfig) -> pm.Model:
    if model in ("smooth", "broken"):
        builder = smooth_model_from_prepared if model == "smooth" else broken_model_from_prepared
        return builder(
            prepared,
            priors=config.priors,
            floor=config.floor,
            centered=config.centered,
            lure=config.lure,
            probability_noise=config.probability_noise,
        )
    return item_model_from_prepared(prepared, priors=config.priors)


def _resolve_lengths(table: pd.DataFrame, option: str) -> dict[Any, Any] | None:
    """``lengths="auto"``: the answer lengths the package knows for the table's tasks.

    :func:`emergestats.data.default_lengths` (BIG-bench task definitions, GPT-3 arithmetic);
    where the BIG-bench definitions cannot be had, a warning says so and the rows keep their
    ``target_tokens``. The lengths used are stored in the fit's configuration.
    """
    if option != "auto":
        raise ConfigError(f"lengths must be a mapping, None or 'auto', not {option!r}")
    from emergestats.data import default_lengths
    from emergestats.errors import DatasetUnavailableError

    try:
        found = default_lengths(table)
    except DatasetUnavailableError as error:
        warnings.warn(
            f"lengths='auto': the BIG-bench task definitions are not available ({error}); rows "
            "keep their target_tokens",
            UserWarning,
            stacklevel=3,
        )
        return None
    return found or None


def _centered_option(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value == "auto"):
        return None
    return bool(value)


def _from_built_model(built: pm.Model) -> tuple[str, dict[str, Any], Any]:
    """Builder name, builder options and priors a model made by a builder records."""
    info = getattr(built, "emergestats_build", None)
    if not isinstance(info, dict):
        raise ConfigError(
            "fit() accepts a pm.Model only if an emergestats builder made it "
            "(build_smooth_model, build_broken_model); pass the table and a model name otherwise"
        )
    options = {k: v for k, v in info.items() if k not in ("builder", "priors")}
    return str(info["builder"]), options, info["priors"]


def fit(
    table: pd.DataFrame,
    model: str | pm.Model = "smooth",
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
        ``chain_method`` for numpyro, ``adaptation`` for nutpie: ``"diag"`` by default,
        :data:`DEFAULT_NUTPIE_ADAPTATION`, or ``"low_rank"``). ``keep_deterministics=True`` also
        stores the per-row deterministic ``p_token`` (large for big tables; off by default).
        ``log_likelihood=False`` and ``posterior_predictive=False`` skip those two groups: each
        compiles and runs its own function (a quarter of the wall time of one calibration
        batch fitted in a fresh process, far less once the compiled functions are cached), and
        a fit that is only read for its posterior (the calibration's, say) does not need them.
        Without ``log_likelihood`` the row-wise LOO (:func:`~emergestats.inference.loo.
        log_likelihood_cells` with ``integrate_deviation=False``) is unavailable; without
        ``posterior_predictive``, :func:`~emergestats.plots.plot_ppc`.

    Returns
    -------
    Fit
        With ``idata`` holding posterior, sample stats, log-likelihood, posterior predictive,
        observed data and (on save) the input table and configuration.
    """
    given_model: pm.Model | None = None
    if isinstance(model, pm.Model):
        given_model = model
        model, built_options, built_priors = _from_built_model(given_model)
        for key, value in built_options.items():
            options.setdefault(key, value)
        if priors is not None:
            raise ConfigError(
                "priors are set when the model is built; pass them to the builder, not to fit()"
            )
        priors = built_priors
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    keep_deterministics = bool(options.pop("keep_deterministics", False))
    store_log_likelihood = bool(options.pop("log_likelihood", True))
    store_predictive = bool(options.pop("posterior_predictive", True))
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
    if model != "item" and isinstance(builder_options.get("lengths"), str):
        builder_options["lengths"] = _resolve_lengths(table, builder_options["lengths"])
    prepared: PreparedData | PreparedItems
    if model == "item":
        prepared = prepare_items(table, n_ref=builder_options.get("n_ref"))
        stored_table = prepared.items
    else:
        prepared = prepare_evaluation(
            table,
            lengths=builder_options.get("lengths"),
            n_ref=builder_options.get("n_ref"),
        )
        stored_table = prepared.table
    sampler_options.setdefault("target_accept", DEFAULT_TARGET_ACCEPT[model])
    sampler_options.setdefault("max_treedepth", DEFAULT_MAX_TREEDEPTH[model])
    if sampler_name == "nutpie":
        sampler_options.setdefault("adaptation", DEFAULT_NUTPIE_ADAPTATION)
    elif "adaptation" in sampler_options:
        raise ConfigError(
            f"adaptation= is an option of the nutpie sampler; {sampler_name!r} has none"
        )
    noisy, lure = (
        resolve_choice_options(
            builder_options.get("probability_noise", "auto"),
            builder_options.get("lure", "auto"),
            prepared.observations,
        )
        if isinstance(prepared, PreparedData)
        else (False, False)  # the item model has neither
    )
    config = FitConfig(
        model=model,
        priors=resolved,
        n_ref=prepared.n_ref,
        floor=bool(builder_options.get("floor", False)),
        centered=_centered_option(builder_options.get("centered")),
        lure=lure,
        probability_noise=noisy,
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
    pm_model = given_model if given_model is not None else _build(model, prepared, config)
    # per-row and per-cell expectations are large and recomputable: kept only when asked
    var_names = [v.name for v in pm_model.free_RVs] + [
        d.name
        for d in pm_model.deterministics
        if keep_deterministics or not (d.name.startswith("mu_") or d.name == "log_ce")
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
        if store_log_likelihood:
            pm.compute_log_likelihood(
                idata, model=pm_model, extend_inferencedata=True, progressbar=False
            )
        if store_predictive:
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
    result._prepared = (
        with_probability_noise(prepared, config.probability_noise)
        if isinstance(prepared, PreparedData)
        else prepared
    )
    return result
