# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Walkthrough: is the model ladder's jump a mirage?
#
# A notebook as a [jupytext](https://jupytext.readthedocs.io) percent script: run it as it is
# (`python docs/notebooks/walkthrough.py`), or open it as a notebook
# (`jupytext --to notebook docs/notebooks/walkthrough.py`). From a fresh clone:
#
# ```bash
# python -m venv .venv && .venv/bin/pip install -q -e ".[samplers]"
# .venv/bin/python docs/notebooks/walkthrough.py
# ```
#
# It loads the package's own model ladder, builds the smooth model with the builder, changes a
# prior, fits the model through `es.fit`, predicts every row with `predict_table`, runs the
# mirage test and draws the figures. `WALKTHROUGH_DRAWS` (default 1000) sets the draws per
# chain; the test suite runs it with a few, for plumbing only.

# %%
import os
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # run as a script: the figures go to files

import emergestats as es
from emergestats import plots
from emergestats.models import build_smooth_model
from emergestats.models.priors import DEFAULT_PRIORS

DRAWS = int(os.environ.get("WALKTHROUGH_DRAWS", "1000"))
TUNE = int(os.environ.get("WALKTHROUGH_TUNE", "1000"))
OUT = Path(os.environ.get("WALKTHROUGH_OUT", "out/walkthrough"))
OUT.mkdir(parents=True, exist_ok=True)
SEED = 20261202

# %% [markdown]
# ## The data
#
# Twelve random-feature classifiers of handwritten digits (85 to 153,610 parameters), each
# scored on the same 540 test images: accuracy, subset accuracy over L = 2 ... 32 images (all
# must be right), Brier scores and the log-likelihood of the correct class.

# %%
table = es.datasets.load("ladder")
print(table.groupby(["metric", "metric_kind"]).size().to_string())
table[table["metric"] == "subset_accuracy_L32"][["model", "params", "score", "n_items"]]

# %% [markdown]
# ## Build the model, with a prior of our own
#
# `build_smooth_model` returns a plain `pm.Model` with named dims. Here the population mean
# of the log slope gets a tighter prior than the default (`DEFAULT_PRIORS["log_b_mu"]`), and
# the ladder's saturation gets an irreducible per-token floor.

# %%
print("default:", DEFAULT_PRIORS["log_b_mu"])
priors = {"log_b_mu": {"mu": -1.2, "sigma": 0.5}}
model = build_smooth_model(table, priors=priors, floor=True)
print(model.coords["curve"], sorted(model.named_vars)[:8], "...")

# %% [markdown]
# ## Fit it
#
# `es.fit` accepts the built model: it samples it and keeps the table, the priors and the
# options the model was built with (so it can be saved, reloaded and predicted from).

# %%
fit = es.fit(
    table,
    model,
    draws=DRAWS,
    tune=TUNE,
    chains=2,
    random_seed=SEED,
    target_accept=0.95,
    max_treedepth=10,
)
print(fit)
print(fit.config.priors["log_b_mu"])
summary = fit.diagnostics_summary()
print("diagnostics passed:", summary["passed"], summary["failures"])
fit.curves()

# %% [markdown]
# ## Predict every row
#
# `predict_table` gives the posterior predictive of each row's observed score, with the row's
# own items, lengths and choices.

# %%
predicted = fit.predict_table(table, random_seed=SEED)
predicted[predicted["metric"] == "subset_accuracy_L32"][["params", "score", "q05", "q50", "q95"]]

# %% [markdown]
# ## The mirage test
#
# In `cross_metric` mode the smooth model is fitted to the continuous metrics only (Brier,
# log-likelihood) and asked for the discontinuous ones; `in_sample` reuses our fit.

# %%
result = es.jump_test(
    table,
    fit=fit,
    modes=["cross_metric", "in_sample"],
    compare_broken=False,
    n_replicates=min(1000, 2 * DRAWS),
    draws=DRAWS,
    tune=TUNE,
    chains=2,
    random_seed=SEED,
    floor=True,
    target_accept=0.95,
    max_treedepth=10,
)
result.summary[["metric", "mode", "verdict", "excess_q05", "excess_q50", "excess_q95", "p_value"]]

# %% [markdown]
# ## The figures
#
# Each plotting function returns its figure (or arviz-plots `PlotCollection`), so it can be
# restyled here; nothing is sampled again.

# %%
curve = fit.prepared.curve_labels[0]
figures = {
    "curves": plots.plot_curves(fit, table, curves=[curve], jump_result=result),
    "jump-test": plots.plot_jump_test(result),
    "pareto-k": plots.plot_pareto_k(fit),
}
for name, figure in figures.items():
    figure.savefig(OUT / f"{name}.png", dpi=90, bbox_inches="tight")
slopes = plots.plot_slopes(fit)
slopes.savefig(OUT / "slopes.png")
for name, collection in plots.plot_diagnostics(fit).items():
    collection.savefig(OUT / f"{name}.png")
print("figures in", OUT, sorted(p.name for p in OUT.glob("*.png")))
