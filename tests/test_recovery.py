"""Recovery and LOO model choice on the simulator (``emergestats.recovery``).

The statistical measurement itself (slope coverage and LOO choice over many replicates) is
``benchmarks/recovery.py`` on Dask: one replicate (four curves, a smooth and a broken fit)
takes 13 minutes of these 2 cores, too long for CI. Here: the summary's arithmetic on a table
with known answers, and the whole path (simulate, fit smooth and broken, integrated cell LOO,
per-curve rows) on a ``LocalCluster`` with tiny draws (``slow``: two compiles).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergestats.errors import ConfigError
from emergestats.recovery import RecoveryDesign, recovery_study, summarise_recovery


def _curves() -> pd.DataFrame:
    rows = []
    for replicate in range(5):
        for kind in ("generation", "choice"):
            for broken in (False, True):
                rows.append(
                    {
                        "replicate": replicate,
                        "kind": kind,
                        "broken": broken,
                        "b_q05": 0.3,
                        "b_q95": 0.5 if kind == "generation" else 0.7,
                        # generation: 4 of 5 covered; choice: 2 of 5
                        "b_covered": replicate < (4 if kind == "generation" else 2),
                        # LOO picks the break on 1 of 5 smooth and 4 of 5 broken truths
                        "picks_break": replicate < (4 if broken else 1),
                        "pareto_k_max": 0.9 if replicate == 0 else 0.4,
                        "smooth_passed": replicate != 4,
                        "broken_passed": True,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_counts_coverage_and_choices_per_kind_and_truth() -> None:
    summary = summarise_recovery(_curves()).set_index(["kind", "truth"])
    assert summary.loc[("generation", "smooth"), "slope_coverage"] == pytest.approx(0.8)
    assert summary.loc[("choice", "smooth"), "slope_coverage"] == pytest.approx(0.4)
    assert summary.loc[("all", "smooth"), "slope_coverage"] == pytest.approx(0.6)
    assert summary.loc[("all", "smooth"), "curves"] == 10
    assert summary.loc[("choice", "smooth"), "slope_width_median"] == pytest.approx(0.4)
    assert summary.loc[("generation", "smooth"), "picks_break"] == pytest.approx(0.2)
    assert summary.loc[("generation", "broken"), "picks_break"] == pytest.approx(0.8)
    # slope coverage is a smooth-truth quantity only
    assert np.isnan(summary.loc[("generation", "broken"), "slope_coverage"])
    # failed fits and unreliable LOO are counted, not dropped
    assert summary.loc[("generation", "smooth"), "fits_failed"] == 1
    assert summary.loc[("all", "broken"), "pareto_k_over_0_7"] == 2
    # Jeffreys intervals bracket the rates
    low, high = summary.loc[("all", "smooth"), ["slope_coverage_low", "slope_coverage_high"]]
    assert 0.0 < low < 0.6 < high < 1.0


def test_recovery_study_refuses_no_replicates() -> None:
    with pytest.raises(ConfigError, match="n_rep must be >= 1"):
        recovery_study(0)


@pytest.mark.slow
def test_recovery_study_runs_the_whole_path_on_a_local_cluster() -> None:
    design = RecoveryDesign(n_sizes=6, n_items=120)
    # PyMC's own sampler: its C compilation is cached across the suite, nutpie's is not
    result = recovery_study(
        1,
        design=design,
        n_workers=1,
        draws=40,
        tune=60,
        chains=1,
        sampler="pymc",
        progress=False,
    )
    curves = result.curves
    assert len(curves) == 4 and result.settings["n_done"] == 1
    # replicate 0: the generation and choice tasks of the second pair are the broken ones
    assert curves["broken"].tolist() == [False, False, True, True]
    assert curves["kind"].tolist() == ["generation", "choice"] * 2
    for column in ("b_true", "b_q05", "b_q95", "elpd_diff", "elpd_se", "pareto_k_max"):
        assert np.isfinite(curves[column].to_numpy(float)).all(), column
    assert (curves["b_q05"] < curves["b_q95"]).all()
    # a choice task's slope is compared in the fitted map's units
    choice = curves[curves["kind"] == "choice"]
    assert (choice["b_true"] != choice["b"]).all()
    assert result.settings["fit_options"]["floor"] is True
    assert set(result.summary["truth"]) == {"smooth", "broken"}
