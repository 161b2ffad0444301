"""The whole-corpus fit: every shared source at once, beside PyMC's default sampler.

Issue 9 asks for one fit of every shared source (final checkpoints), hierarchical over sources,
families and tasks, with its wall time and ESS per second beside PyMC's default sampler in the
same run, and a target of <= 3 minutes on 2 cores with the diagnostics passing. The table is
``es.datasets.load("corpus")`` (:mod:`emergestats.corpus`: each source's families named by
source, shared tasks linking the sources); the model is the package's default smooth model with
``lengths="auto"``.

Configurations (each in its own Python subprocess, so compile caches and memory peaks do not
carry over):

``default``
    ``es.fit(table, lengths="auto")``: the package's default path (nutpie).
``pymc``
    The same call with ``sampler="pymc"``: PyMC's own NUTS on the same model.

What is measured
----------------
* ``rows``, ``rows_fitted`` (in the likelihood), ``curves``, ``families``, ``tasks`` and
  ``parameters`` (unconstrained scalars the sampler moves) of the table and model;
* ``build_s``: preparing the table and building the model; ``gradient_ms``: one evaluation of
  the compiled log density and its gradient at the model's start (median of 20), the cost of
  one leapfrog step;
* ``total_s``: wall time of the ``fit`` call (build, compile, sample, the log-likelihood and
  posterior-predictive groups); ``sampling_s``: the sampler's own ``sampling_time`` record;
* ``steps_per_draw``: mean leapfrog steps per iteration over the kept draws;
  ``min_ess_bulk``, ``ess_per_s`` (``min_ess_bulk / sampling_s``), ``max_rhat``,
  ``divergences``; ``passed``: the fit's own diagnostics (``Fit.diagnostics_summary``);
* ``default_run_min``: what the package's default run (4 chains x 1,000 tuning + 1,000 draws,
  2 chains at a time on 2 cores) would take at this run's sampling speed per iteration:
  ``sampling_s / (chains x (tune + draws)) x 4,000``, seconds to minutes. A lower bound where
  the short run's tuning had not reached the long run's step size.
* ``rss_mib``: peak resident memory of the worker.

Short runs cannot pass diagnostics (a few hundred draws of a model with thousands of
parameters); they measure the cost. Usage::

    EMERGESTATS_DATA_DIR=../shared/data python benchmarks/corpus.py --draws 100 --chains 2
    python benchmarks/corpus.py --datasets obsscaling,pythia --configs default --markdown
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))  # the sampling benchmark's shared measurements

from sampling import (  # noqa: E402
    _cpu_model,
    _load_average,
    _posterior_summary,
    markdown_table,
    run_worker,
)

CONFIGS = ("default", "pymc")
#: The package's default run: chains x (tuning + draws), for ``default_run_min``.
DEFAULT_ITERATIONS = 4 * (1000 + 1000)


def load_table(names: Sequence[str]) -> pd.DataFrame:
    from emergestats.corpus import load_corpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the readers' counted notes
        return load_corpus(names)


def model_measurements(table: pd.DataFrame, lengths: Any) -> dict[str, Any]:
    """Size of the prepared table and model; build time; one log density + gradient's cost."""
    from emergestats.models import build_smooth_model
    from emergestats.models.prepare import prepare_evaluation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # the counts below (build_smooth_model prepares the table again, inside the timing)
        data = prepare_evaluation(table, lengths=lengths, warn=False)
        start = time.perf_counter()
        model = build_smooth_model(table, lengths=lengths)
        build_s = time.perf_counter() - start
    point = model.initial_point()
    start_point = getattr(model, "emergestats_start", {})
    for name, value in start_point.items():
        if name in point:
            point[name] = np.asarray(value, dtype=point[name].dtype).reshape(point[name].shape)
    function = model.logp_dlogp_function(ravel_inputs=True)
    function.set_extra_values({})
    flat = np.concatenate([np.ravel(point[v.name]) for v in function._grad_vars])
    function(flat)  # the first call may finish compiling
    times = []
    for _ in range(20):
        start = time.perf_counter()
        function(flat)
        times.append(time.perf_counter() - start)
    return {
        "rows": len(table),
        "rows_fitted": int(data.observations.modelled.sum()),
        "curves": len(data.curve_labels),
        "families": len(data.family_labels),
        "tasks": len(data.task_labels),
        "parameters": int(flat.size),
        "build_s": build_s,
        "gradient_ms": 1000 * float(np.median(times)),
    }


def worker(
    config: str, names: list[str], *, draws: int, tune: int, chains: int, seed: int
) -> dict[str, Any]:
    """Run one configuration and return its measurements."""
    import emergestats as es
    from emergestats.data import default_lengths

    table = load_table(names)
    lengths = default_lengths(table) or None
    result: dict[str, Any] = model_measurements(table, lengths)
    if draws == 0:  # --measure-only
        return result
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the diagnostics are measured below
        fit = es.fit(
            table,
            sampler=None if config == "default" else config,
            lengths=lengths,
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
        )
    result["total_s"] = time.perf_counter() - start
    idata = fit.idata
    recorded = idata["posterior"].attrs.get("sampling_time")
    result["sampling_s"] = float(recorded) if recorded is not None else result["total_s"]
    result["sampler"] = str(idata["posterior"].attrs.get("inference_library", "?"))
    stats = idata["sample_stats"].to_dataset()
    steps = next((name for name in ("n_steps", "tree_size") if name in stats), None)
    result["steps_per_draw"] = float(stats[steps].mean()) if steps else float("nan")
    result.update(_posterior_summary(idata))
    result["ess_per_s"] = result["min_ess_bulk"] / result["sampling_s"]
    per_iteration = result["sampling_s"] / (chains * (tune + draws))
    # nutpie and PyMC run two chains at a time on two cores
    result["default_run_min"] = per_iteration * DEFAULT_ITERATIONS / min(chains, 2) / 60
    summary = fit.diagnostics_summary()
    result["passed"] = bool(summary["passed"])
    result["failures"] = "; ".join(str(f) for f in summary["failures"])[:300]
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_one(config: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration in a fresh subprocess."""
    request = {
        "config": config,
        "names": args.datasets,
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
    }
    row: dict[str, Any] = {"config": config, "load_before": _load_average()}
    row.update(run_worker(__file__, request, timeout=args.worker_timeout))
    return row


COLUMNS = (
    "config",
    "sampler",
    "rows",
    "rows_fitted",
    "curves",
    "families",
    "tasks",
    "parameters",
    "build_s",
    "gradient_ms",
    "total_s",
    "sampling_s",
    "steps_per_draw",
    "min_ess_bulk",
    "ess_per_s",
    "max_rhat",
    "divergences",
    "passed",
    "default_run_min",
    "rss_mib",
    "load_before",
    "failures",
    "error",
)


def format_table(rows: Sequence[dict[str, Any]], *, markdown: bool) -> str:
    frame = pd.DataFrame(rows)
    frame = frame.loc[:, [c for c in COLUMNS if c in frame.columns]]
    frame = frame.round(
        {
            "build_s": 1,
            "gradient_ms": 1,
            "total_s": 0,
            "sampling_s": 0,
            "steps_per_draw": 1,
            "min_ess_bulk": 0,
            "ess_per_s": 3,
            "max_rhat": 3,
            "default_run_min": 0,
            "rss_mib": 0,
        }
    )
    return markdown_table(frame) if markdown else frame.to_string(index=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from emergestats.datasets import CORPUS_DATASETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        default=",".join(CORPUS_DATASETS),
        help=f"comma-separated sources (default {','.join(CORPUS_DATASETS)})",
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help="default,pymc")
    parser.add_argument("--draws", type=int, default=100, help="draws per chain (default 100)")
    parser.add_argument("--tune", type=int, default=None, help="tuning steps (default = draws)")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=3600.0,
        help="give up on one configuration after this many seconds (default 3600)",
    )
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="measure the table, the model and one gradient's cost; do not sample",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.measure_only:
        args.draws = args.tune = 0
        args.configs = "default"
    if args.tune is None:
        args.tune = args.draws
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        request = json.loads(args.worker)
        print(json.dumps(worker(request.pop("config"), request.pop("names"), **request)))
        return 0
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}; choose from {', '.join(CONFIGS)}")
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')}  cpu={_cpu_model()}  load={_load_average()}\n"
        f"# corpus of {', '.join(args.datasets)}; {args.chains} chains x {args.draws} draws "
        f"({args.tune} tune), seed {args.seed}"
    )
    rows = []
    for config in configs:
        row = run_one(config, args)
        rows.append(row)
        print(f"# done: {config}: total {row.get('total_s')} s {row.get('error', '')}", flush=True)
    print(format_table(rows, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
