"""Prior predictive check: the default priors put mass on plausible scaling curves only.

"Plausible" is set from what is known about language models on benchmark tasks: per-token
cross-entropy of answer tokens at ~1e9 parameters between 0.01 and 10 nats, a slope of log CE
per e-fold of parameters between 0.02 and 3 (Kaplan et al.'s whole-loss exponent is ~0.08;
task-token cross-entropies fall faster), and exact-match curves over 1e6..1e12 parameters that
mostly rise through 50% somewhere instead of being flat at 0 or 1.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from emergestats.models import build_smooth_model, sample_prior_curves
from emergestats.models.priors import DEFAULT_PRIORS
from emergestats.plots.prior_predictive import plot_prior_predictive

SCALES = np.geomspace(1e6, 1e12, 13)
N_REF = 1e9


def plausibility(curves: object) -> dict[str, float]:
    """Fractions of prior draws that are plausible or absurd (see the module docstring)."""
    assert hasattr(curves, "sizes")
    with np.errstate(over="ignore"):  # absurd priors reach CE beyond float range
        ce_at_ref = np.exp(curves["a"].to_numpy())  # type: ignore[index]
    slope = curves["b"].to_numpy()  # type: ignore[index]
    exact = curves["exact_match"].to_numpy()  # type: ignore[index]
    return {
        "ce_plausible": float(np.mean((ce_at_ref > 0.01) & (ce_at_ref < 10.0))),
        "ce_absurd": float(np.mean(ce_at_ref > 100.0)),
        "slope_plausible": float(np.mean((slope > 0.02) & (slope < 3.0))),
        "slope_absurd": float(np.mean(slope > 5.0)),
        "exact_all_zero": float(np.mean(exact.max(axis=1) < 0.01)),
        "exact_all_one": float(np.mean(exact.min(axis=1) > 0.99)),
        "exact_crosses_half": float(np.mean((exact.max(axis=1) > 0.5) & (exact.min(axis=1) < 0.5))),
    }


def test_default_priors_put_mass_on_plausible_curves() -> None:
    curves = sample_prior_curves(
        scales=SCALES, n_ref=N_REF, lengths=[5], draws=20_000, random_seed=1
    )
    check = plausibility(curves)
    # measured with this seed: 0.977, 0.0007, 0.991, 0.002, 0.038, 0.0002, 0.713
    assert check["ce_plausible"] > 0.95
    assert check["ce_absurd"] < 0.005
    assert check["slope_plausible"] > 0.97
    assert check["slope_absurd"] < 0.01
    assert check["exact_all_zero"] < 0.08
    assert check["exact_all_one"] < 0.01
    assert check["exact_crosses_half"] > 0.6


def test_the_check_fails_for_absurd_priors() -> None:
    # a very wide population of a and b: the same check must reject it
    wide = {"a_sigma": {"sigma": 6.0}, "log_b_mu": {"mu": 1.0, "sigma": 2.0}}
    check = plausibility(
        sample_prior_curves(
            wide, scales=SCALES, n_ref=N_REF, lengths=[5], draws=20_000, random_seed=1
        )
    )
    assert check["ce_plausible"] < 0.7
    assert check["slope_absurd"] > 0.2


def test_numpy_prior_matches_the_model_prior() -> None:
    # one curve, one family: pm.sample_prior_predictive of the model vs the numpy sampler
    table = pd.DataFrame(
        {
            "task": "t",
            "subtask": "t",
            "family": "f",
            "model": ["m1", "m2"],
            "params": [1e8, 1e10],
            "shots": 0,
            "metric": "exact_str_match",
            "metric_kind": "exact_match",
            "score": [0.1, 0.5],
            "n_items": 100,
            "chance": 0.0,
            "source": "test",
            "target_tokens": 2.0,
        }
    )
    table["n_items"] = table["n_items"].astype("Int64")
    model = build_smooth_model(table, n_ref=N_REF)
    prior = pm.sample_prior_predictive(draws=4000, model=model, random_seed=2, var_names=["a", "b"])
    model_a = prior["prior"]["a"].to_numpy().ravel()
    model_b = prior["prior"]["b"].to_numpy().ravel()
    numpy_curves = sample_prior_curves(scales=SCALES, n_ref=N_REF, draws=20_000, random_seed=3)
    for model_draws, numpy_draws in (
        (model_a, numpy_curves["a"].to_numpy()),
        (np.log(model_b), np.log(numpy_curves["b"].to_numpy())),
    ):
        np.testing.assert_allclose(
            np.quantile(model_draws, [0.1, 0.5, 0.9]),
            np.quantile(numpy_draws, [0.1, 0.5, 0.9]),
            atol=0.12,
        )


def test_prior_predictive_figure() -> None:
    assert matplotlib.get_backend().lower() == "agg"
    curves = sample_prior_curves(
        scales=SCALES, n_ref=N_REF, lengths=[1, 3, 5], draws=500, random_seed=0
    )
    fig, axes = plot_prior_predictive(curves, n_lines=10)
    assert len(axes) == 2
    # 10 prior lines + the median on each panel, and a 5-95% band
    assert len(axes[0].get_lines()) == 10 + 1 + 1  # + the N_ref marker
    assert len(axes[1].get_lines()) == 11
    assert axes[0].get_yscale() == "log" and axes[1].get_xscale() == "log"
    assert "mean length 3" in axes[1].get_ylabel()
    fig2, _ = plot_prior_predictive(curves, ax=axes)
    assert fig2 is fig
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="two axes"):
        plot_prior_predictive(curves, ax=axes[:1])


def test_the_prior_table_in_the_docs_names_every_default() -> None:
    # the table in emergestats.models.priors' docstring is what users read; it once said
    # HalfNormal for two priors that had become log-normal
    import emergestats.models.priors as priors_module

    doc = priors_module.__doc__ or ""
    rows: dict[str, str] = {}
    key = ""
    for line in doc.splitlines():
        if line.startswith("``"):
            key = line.split("``")[1]
            rows[key] = line[75:].strip()
        elif key and line.startswith(" " * 32) and len(line) > 75:
            rows[key] += " " + line[75:].strip()
        elif not line.strip() or line.startswith("="):
            key = ""
    for name, spec in DEFAULT_PRIORS.items():
        expected = str(spec["value"]) if spec["dist"] == "Constant" else str(spec["dist"])
        assert name in rows, f"prior {name!r} is not in the table"
        assert rows[name].startswith(expected), (name, rows[name], expected)
