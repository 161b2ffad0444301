"""Sampling efficiency of the smooth model: wall time, ESS, ESS per second, divergences, memory.

For each number of tasks (default 10, 50 and 200; 12 sizes each, exact match plus
log-likelihood, simulated by ``tests/simulate_independent.py``) five configurations are run on
the same data:

``default``
    ``emergestats.inference.fit(table, model="smooth")`` with ``sampler=None``: the package's
    default path (model, parameterisation and sampler as a user gets them).
``pymc``
    The same call with ``sampler="pymc"``: PyMC's own NUTS on the same model.
``nutpie``
    The same call with ``sampler="nutpie"`` (for the choice of the default sampler).
``nutpie_low_rank``
    nutpie with ``adaptation="low_rank"`` instead of the package's diagonal mass matrix
    (:data:`emergestats.inference.fit.DEFAULT_NUTPIE_ADAPTATION`).
``textbook``
    The model a user would write from the paper's formula, as a plain ``pm.Model`` (see
    :func:`build_textbook_model`): ``CE = (N / c) ** alpha`` per curve, priors on ``c`` and
    ``alpha``, binomial exact match with ``p ** L`` at the task's mean answer length, a normal
    log-likelihood, sampled with ``pm.sample``'s default NUTS (nutpie when installed; called
    here through ``nutpie`` directly, which is what ``pm.sample`` runs, so that compilation and
    sampling can be timed apart and sampling can be capped). ``alpha`` is kept below 0 and
    started at -0.3 (without a start value no chain initialises).
``textbook_naive``
    The same without the care: ``alpha`` unconstrained, PyMC's default start.

What is timed
-------------
Every configuration runs in its own Python subprocess, so compilation caches and peak memory do
not carry over between rows.

* ``compile_s``: for ``default`` and ``pymc``, the wall time of a throw-away ``fit`` with the
  same chains and 5 tuning + 5 draws: model build, graph compilation (numba, C or JAX, for the
  sampler and for ``fit``'s log-likelihood and posterior-predictive steps) and a negligible
  amount of sampling. For ``textbook``, the wall time of ``nutpie.compile_pymc_model``.
* ``sampling_s``: for ``default`` and ``pymc``, the sampler's own ``sampling_time`` record
  (PyMC writes it to ``posterior.attrs``) of the full run minus that of the throw-away run:
  numpyro compiles its NUTS kernel with XLA inside that record, and PyMC starts one process per
  chain inside it; the throw-away run measures those fixed costs (``timing`` says
  ``record - tiny``; without a record it is ``total_s - compile_s``). Tuning is included: it is
  part of what a user waits for. For ``textbook``, the wall time of ``nutpie.sample``.
* ``total_s``: wall time of the full ``fit`` call (its own compilation, sampling, and the
  log-likelihood and posterior-predictive groups ``fit`` adds); for ``textbook`` compile plus
  sampling. The first compilation in a fresh process (``compile_s``) can take longer than the
  one inside ``total_s``: pytensor keeps compiled code on disk.
* ``cpu_s``: CPU seconds (user + system, this process and its finished children) spent in the
  full ``fit`` call (``textbook``: in sampling). On a shared machine ``cpu_s / total_s`` shows
  how much of the 2 cores the run got; ``cpu_s / 2`` estimates the wall time on 2 idle cores
  for samplers that keep both busy.
* ``min_ess_bulk``: the smallest bulk ESS over every scalar of every posterior variable of that
  model; ``min_ess_ab`` the same over the per-curve ``(a, b)`` only (for ``textbook``,
  ``a = alpha * (log N_ref - log c)`` and ``b = -alpha``), so the three rows compare the same
  quantities; ``ess_per_s = min_ess_bulk / sampling_s``.
* ``max_rhat``: largest rank-normalised split R-hat over every scalar of the posterior.
* ``rss_mib``: peak resident memory of the benchmark subprocess (``ru_maxrss``; native
  allocations of numba, JAX and Rust included, which ``tracemalloc`` cannot see);
  ``rss_children_mib``: the largest peak of any process that subprocess started (PyMC's
  per-chain processes), 0 when none.

The textbook model can be very slow at 200 tasks: ``--textbook-time-limit`` aborts its sampling
after that many seconds and its row reports the draws actually completed (``capped``).

Usage::

    python benchmarks/sampling.py                       # 10, 50, 200 tasks, 4 x 1000 draws
    python benchmarks/sampling.py --sizes 10 --quick    # a quick look
    python benchmarks/sampling.py --configs default,textbook --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the independent simulator lives with the tests

from simulate_independent import SimulatedBenchmark, simulate_smooth  # noqa: E402

CONFIGS = ("default", "pymc", "nutpie", "nutpie_low_rank", "textbook", "textbook_naive")
N_SIZES = 12
DATA_SEED = 20261126


def simulate_benchmark_data(n_tasks: int, *, seed: int = DATA_SEED) -> SimulatedBenchmark:
    """``n_tasks`` smooth curves at 12 sizes (1e7..1e11), exact match + log-likelihood."""
    return simulate_smooth(
        n_tasks=n_tasks,
        params=np.geomspace(1e7, 1e11, N_SIZES),
        n_ref=1e9,
        n_items_range=(200, 1000),
        em_concentration=200.0,
        seed=seed + n_tasks,
    )


def build_textbook_model(table: pd.DataFrame, *, careful: bool = True) -> Any:
    """The per-curve model a user would write from the paper's formula, as a plain ``pm.Model``.

    ``CE_j(N) = (N / c_j) ** alpha_j``, ``p = exp(-CE)``; exact match ``k ~ Binomial(n, p ** L)``
    with ``L`` the task's mean answer length (``target_tokens``); log-likelihood
    ``score ~ Normal(-L * CE, sigma)``. Priors: ``c_j ~ LogNormal(log 1e9, 2)`` (the size at
    which CE is 1 nat), ``alpha_j ~ Normal(-0.3, 0.2)``, ``sigma ~ HalfNormal(1)``.

    ``careful=True`` (the ``textbook`` row) is what a user ends up with after the first attempt
    fails: ``alpha`` truncated below 0 and started at -0.3. (Truncated with PyMC's default start,
    ``alpha = -1``, every chain fails to initialise: ``p ** L`` underflows to 0 where items were
    answered right.) ``careful=False`` (the ``textbook_naive`` row) is the first attempt:
    ``alpha`` not truncated, default start; its chains can settle in modes with
    ``alpha > 0`` and a huge ``c`` (CE almost flat), which R-hat then shows.
    """
    import pymc as pm

    curve_key = ["task", "subtask", "family", "shots"]
    curves = table.loc[:, curve_key].drop_duplicates().reset_index(drop=True)
    curve_of_row = table.merge(
        curves.assign(_curve=np.arange(len(curves))), on=curve_key, how="left"
    )["_curve"].to_numpy()
    labels = [f"{row.task}/{row.family}/{row.shots}" for row in curves.itertuples()]
    em = (table["metric_kind"] == "exact_match").to_numpy()
    ll = (table["metric_kind"] == "log_likelihood").to_numpy()
    n_items = table["n_items"].to_numpy(dtype=np.int64)
    coords = {"curve": labels, "em_obs": np.flatnonzero(em), "ll_obs": np.flatnonzero(ll)}
    with pm.Model(coords=coords) as model:
        c = pm.LogNormal("c", mu=np.log(1e9), sigma=2.0, dims="curve")
        if careful:
            alpha = pm.TruncatedNormal(
                "alpha",
                mu=-0.3,
                sigma=0.2,
                upper=0.0,
                dims="curve",
                initval=np.full(len(labels), -0.3),
            )
        else:
            alpha = pm.Normal("alpha", mu=-0.3, sigma=0.2, dims="curve")
        sigma = pm.HalfNormal("sigma", sigma=1.0)

        def per_token_ce(rows: np.ndarray) -> Any:
            params = table["params"].to_numpy(float)[rows]
            j = curve_of_row[rows]
            return (params / c[j]) ** alpha[j]

        ce_em = per_token_ce(em)
        length_em = table["target_tokens"].to_numpy(float)[em]
        pm.Binomial(
            "exact_match",
            n=n_items[em],
            p=pm.math.exp(-ce_em) ** length_em,
            observed=np.rint(table["score"].to_numpy(float)[em] * n_items[em]).astype(np.int64),
            dims="em_obs",
        )
        length_ll = table["target_tokens"].to_numpy(float)[ll]
        pm.Normal(
            "log_likelihood",
            mu=-length_ll * per_token_ce(ll),
            sigma=sigma,
            observed=table["score"].to_numpy(float)[ll],
            dims="ll_obs",
        )
    return model


# --------------------------------------------------------------------------------------------
# measurements inside one worker process


def _posterior_summary(idata: Any, *, ab: tuple[Any, Any] | None = None) -> dict[str, float | int]:
    """Min bulk ESS and max R-hat over every posterior scalar; divergences; min ESS of (a, b)."""
    import arviz as az
    import xarray as xr

    posterior = idata["posterior"].to_dataset() if hasattr(idata, "children") else idata.posterior
    posterior = posterior.dropna("draw", how="any")  # an aborted textbook run pads with NaN
    ess = az.ess(posterior, method="bulk")
    rhat = az.rhat(posterior)
    min_ess = min(float(ess[v].min()) for v in ess.data_vars)
    max_rhat = max(float(rhat[v].max()) for v in rhat.data_vars)
    ab_set = posterior[["a", "b"]] if ab is None else xr.Dataset({"a": ab[0], "b": ab[1]})
    ess_ab = az.ess(ab_set, method="bulk")
    stats = idata["sample_stats"].to_dataset() if hasattr(idata, "children") else None
    if stats is None:
        stats = idata.sample_stats
    diverging = "diverging" if "diverging" in stats else "divergences"
    return {
        "min_ess_bulk": min_ess,
        "min_ess_ab": min(float(ess_ab[v].min()) for v in ess_ab.data_vars),
        "max_rhat": max_rhat,
        "divergences": int(stats[diverging].sum()),
        "draws_done": int(posterior.sizes["draw"]),
        "chains_done": int(posterior.sizes["chain"]),
    }


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run_fit(
    data: SimulatedBenchmark,
    *,
    sampler: str | None,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    adaptation: str | None = None,
) -> dict[str, Any]:
    from emergestats.inference import fit

    kwargs: dict[str, Any] = {"model": "smooth", "sampler": sampler, "lengths": data.lengths}
    if adaptation is not None:
        kwargs["adaptation"] = adaptation
    start = time.perf_counter()
    with warnings.catch_warnings():
        # the throw-away run is far too short to converge; its warnings mean nothing
        warnings.simplefilter("ignore")
        tiny = fit(data.table, draws=5, tune=5, chains=chains, random_seed=seed, **kwargs)
    compile_s = time.perf_counter() - start
    tiny_sampling = tiny.idata["posterior"].attrs.get("sampling_time")
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diagnostics are measured below, not warned about
        result = fit(data.table, draws=draws, tune=tune, chains=chains, random_seed=seed, **kwargs)
    total_s = time.perf_counter() - start
    cpu_s = _cpu_seconds() - cpu_start
    idata = result.idata
    recorded = idata["posterior"].attrs.get("sampling_time")
    if recorded is not None and tiny_sampling is not None:
        # the recorded time includes fixed costs that come back on every call (numpyro's XLA
        # compilation, PyMC's per-chain process start); the tiny run measures them
        sampling_s = max(float(recorded) - float(tiny_sampling), 1e-9)
        timing = "record - tiny"
    else:
        sampling_s, timing = max(total_s - compile_s, 1e-9), "wall - compile"
    sampler_name = idata["posterior"].attrs.get(
        "inference_library", idata["sample_stats"].attrs.get("inference_library", "?")
    )
    return {
        "compile_s": compile_s,
        "sampling_s": sampling_s,
        "total_s": total_s,
        "cpu_s": cpu_s,
        "timing": timing,
        "sampler": str(sampler_name),
        **_posterior_summary(idata),
    }


def _run_textbook(
    data: SimulatedBenchmark,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    time_limit: float,
    careful: bool,
) -> dict[str, Any]:
    import nutpie

    start = time.perf_counter()
    model = build_textbook_model(data.table, careful=careful)
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    background = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=False,
        save_warmup=False,
        blocking=False,
    )
    trace = background.wait(timeout=time_limit)
    capped = not background.is_finished
    if capped:
        trace = background.abort()
    sampling_s = time.perf_counter() - start
    cpu_s = _cpu_seconds() - cpu_start
    posterior = trace["posterior"].to_dataset()
    a = posterior["alpha"] * (np.log(data.n_ref) - np.log(posterior["c"]))
    b = -posterior["alpha"]
    return {
        "compile_s": compile_s,
        "sampling_s": sampling_s,
        "total_s": compile_s + sampling_s,
        "cpu_s": cpu_s,
        "timing": f"capped at {time_limit:.0f} s" if capped else "wall",
        "sampler": "nutpie (pm.sample default)",
        **_posterior_summary(trace, ab=(a, b)),
    }


def worker(
    config: str,
    n_tasks: int,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    textbook_draws: int,
    textbook_time_limit: float,
) -> dict[str, Any]:
    """Run one configuration on one data size and return its measurements."""
    data = simulate_benchmark_data(n_tasks)
    if config.startswith("textbook"):
        result = _run_textbook(
            data,
            draws=textbook_draws,
            tune=textbook_draws,
            chains=chains,
            seed=seed,
            time_limit=textbook_time_limit,
            careful=config == "textbook",
        )
    else:
        result = _run_fit(
            data,
            sampler={"default": None, "nutpie_low_rank": "nutpie"}.get(config, config),
            adaptation="low_rank" if config == "nutpie_low_rank" else None,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
        )
    result["ess_per_s"] = result["min_ess_bulk"] / result["sampling_s"]
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_children_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


# --------------------------------------------------------------------------------------------
# driver


def _load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _error_line(output: str) -> str:
    """The exception line of a worker's traceback (Rust backtraces from nutpie follow it)."""
    lines = [ln.strip() for ln in output.strip().splitlines()]
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
    return errors[-1] if errors else " | ".join(lines[-3:])


def run_one(config: str, n_tasks: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration in a fresh subprocess (so memory peaks don't accumulate)."""
    request = {
        "config": config,
        "n_tasks": n_tasks,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
        "textbook_draws": args.textbook_draws,
        "textbook_time_limit": args.textbook_time_limit,
    }
    load_before = _load_average()
    row: dict[str, Any] = {"tasks": n_tasks, "config": config}
    row.update(run_worker(__file__, request, timeout=args.worker_timeout))
    if "error" not in row:
        row["load_before"] = load_before
    return row


def run_worker(script: str, request: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """``python script --worker JSON`` in a fresh subprocess: its last JSON line, or an error."""
    try:
        completed = subprocess.run(
            [sys.executable, script, "--worker", json.dumps(request)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run kills the worker; a hung fit must not stop the other rows
        return {"error": f"no result within --worker-timeout {timeout:.0f} s"}
    lines = [ln for ln in completed.stdout.splitlines() if ln.startswith("{")]
    if completed.returncode != 0 or not lines:
        return {"error": _error_line(completed.stderr or completed.stdout)}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def markdown_table(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table (pandas' to_markdown needs the optional ``tabulate``)."""
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.to_numpy().tolist()]
    return "\n".join(lines)


def format_table(rows: Sequence[dict[str, Any]], *, markdown: bool) -> str:
    """The results as a text (or Markdown) table, with ESS/s relative to the textbook model."""
    frame = pd.DataFrame(rows)
    if "ess_per_s" in frame and (frame["config"] == "textbook").any():
        textbook = frame.loc[frame["config"] == "textbook"].set_index("tasks")["ess_per_s"]
        frame["vs_textbook"] = frame["ess_per_s"] / frame["tasks"].map(textbook)
    columns = [
        "tasks",
        "config",
        "sampler",
        "compile_s",
        "sampling_s",
        "total_s",
        "cpu_s",
        "timing",
        "min_ess_bulk",
        "min_ess_ab",
        "ess_per_s",
        "vs_textbook",
        "divergences",
        "max_rhat",
        "draws_done",
        "rss_mib",
        "rss_children_mib",
        "load_before",
        "error",
    ]
    frame = frame.loc[:, [c for c in columns if c in frame.columns]]
    rounding = {
        "compile_s": 1,
        "sampling_s": 1,
        "total_s": 1,
        "cpu_s": 1,
        "min_ess_bulk": 0,
        "min_ess_ab": 0,
        "ess_per_s": 1,
        "vs_textbook": 3,
        "max_rhat": 3,
        "rss_mib": 0,
        "rss_children_mib": 0,
    }
    frame = frame.round({k: v for k, v in rounding.items() if k in frame.columns})
    for column in (
        "divergences",
        "draws_done",
        "min_ess_bulk",
        "min_ess_ab",
        "rss_mib",
        "rss_children_mib",
    ):
        if column in frame.columns:  # rows with an error leave NaN: keep the others integers
            frame[column] = frame[column].astype("Int64")
    if markdown:
        return markdown_table(frame)
    return frame.to_string(index=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10,50,200", help="comma-separated numbers of tasks (default 10,50,200)"
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated subset of {','.join(CONFIGS)}",
    )
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    parser.add_argument("--tune", type=int, default=None, help="tuning steps (default = draws)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--textbook-draws",
        type=int,
        default=None,
        help="draws and tuning steps per chain for the textbook model (default = draws)",
    )
    parser.add_argument(
        "--textbook-time-limit",
        type=float,
        default=600.0,
        help="abort the textbook model's sampling after this many seconds",
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=1800.0,
        help="give up on one configuration after this many seconds (default 1800)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a quick look: 300 draws, 300 tuning steps, textbook capped at 60 s",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.draws, args.tune, args.textbook_time_limit = 300, 300, 60.0
    if args.tune is None:
        args.tune = args.draws
    if args.textbook_draws is None:
        args.textbook_draws = args.draws
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        request = json.loads(args.worker)
        result = worker(request.pop("config"), request.pop("n_tasks"), **request)
        print(json.dumps(result))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}; choose from {', '.join(CONFIGS)}")
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')}  nproc={os.cpu_count()}  cpu={_cpu_model()}  "
        f"load={_load_average()}"
    )
    print(
        f"# {N_SIZES} sizes, exact match + log-likelihood; {args.chains} chains x "
        f"{args.draws} draws ({args.tune} tune); textbook {args.textbook_draws} draws, "
        f"limit {args.textbook_time_limit:.0f} s"
    )
    rows = []
    for n_tasks in sizes:
        for config in configs:
            row = run_one(config, n_tasks, args)
            rows.append(row)
            summary = {k: row.get(k) for k in ("sampling_s", "min_ess_bulk", "error")}
            print(f"# done: {n_tasks} tasks, {config}: {summary}", flush=True)
    print(format_table(rows, markdown=args.markdown))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
