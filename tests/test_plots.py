"""The figures of emergestats.plots: panels, bands, labels, return types and input errors.

One tiny smooth fit of two ladder curves (three metrics, six sizes) is made per module and
reused; it is far too short to converge, so every figure drawn from it must say that it failed
its sampling diagnostics. Jump-test results are built by hand from verdict rows: the figure
only reads them. Agg backend; nothing here may warn.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import warnings
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from arviz_plots import PlotCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import emergestats as es
import emergestats.plots as plots
from emergestats.errors import ConfigError
from emergestats.inference import Fit, loo
from emergestats.mirage import VERDICT_COLUMNS, JumpTestResult, VerdictRule
from emergestats.plots.style import (
    KIND_COLOURS,
    VERDICT_COLOURS,
    kind_colour,
    metric_colours,
    verdict_colour,
)

FITTED = ["accuracy", "subset_accuracy_L4", "log_likelihood"]
CURVES = ["digits/ladder/-1", "digits_b/ladder/-1"]
PANELS = ["scores", "continuous", "latent"]


def _two_curves(table: pd.DataFrame) -> pd.DataFrame:
    sizes = np.sort(table["params"].unique())[::2]
    rows = table[table["params"].isin(sizes)]
    other = rows.assign(task="digits_b", subtask="digits_b")
    return pd.concat([rows, other], ignore_index=True)


@pytest.fixture(scope="module")
def ladder() -> pd.DataFrame:
    return _two_curves(es.datasets.load("ladder"))


@pytest.fixture(scope="module")
def smooth_fit(ladder: pd.DataFrame) -> Fit:
    table = ladder[ladder["metric"].isin(FITTED)].reset_index(drop=True)
    # the subset accuracy is scored on the accuracy's items: kept out of the likelihood, so
    # it is a predicted (hollow, metric-only banded) series of this fit
    with pytest.warns(UserWarning, match="subset-accuracy rows .* left out of the likelihood"):
        return es.fit(
            table,
            model="smooth",
            sampler="pymc",
            draws=100,
            tune=100,
            chains=2,
            cores=1,
            max_treedepth=6,
            random_seed=1,
        )


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _gids(fig: Figure, panel: str | None = None) -> list[str]:
    out = []
    for ax in fig.axes:
        if panel is not None and not ax.get_label().endswith(f":{panel}"):
            continue
        for artist in [*ax.collections, *ax.lines, *ax.texts]:
            if artist.get_gid():
                out.append(str(artist.get_gid()))
    return out


def _axis(fig: Figure, label: str) -> plt.Axes:
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def _verdict_row(task: str, metric: str, mode: str, statistic: str, **values: object) -> dict:
    row: dict = {c: np.nan for c in VERDICT_COLUMNS}
    row.update(
        task=task,
        subtask=task,
        family="ladder",
        shots=-1,
        metric=metric,
        metric_kind="exact_match",
        mode=mode,
        statistic=statistic,
        primary=statistic == "max_jump",
        n_sizes=6,
        n_items=135,
        verdict="inconclusive",
        reason="",
    )
    row.update(values)
    return row


def _result(fits: dict[str, Fit] | None = None) -> JumpTestResult:
    tested = {
        "observed": 0.45,
        "predicted_q05": 0.1,
        "predicted_q50": 0.2,
        "predicted_q95": 0.3,
        "excess_q05": 0.15,
        "excess_q50": 0.25,
        "excess_q95": 0.35,
    }
    rows = []
    for mode in ("cross_metric", "in_sample"):
        for statistic in ("max_jump", "linearity"):
            rows.append(
                _verdict_row(
                    "digits",
                    "subset_accuracy_L4",
                    mode,
                    statistic,
                    verdict="excess_jump",
                    p_value=0.004,
                    p_adjusted=0.008,
                    **tested,
                )
            )
            rows.append(
                _verdict_row(
                    "digits_b",
                    "subset_accuracy_L4",
                    mode,
                    statistic,
                    verdict="explained_by_metric",
                    p_value=0.4,
                    p_adjusted=0.4,
                    **(tested | {"observed": 0.25}),
                )
            )
    rows.append(
        _verdict_row(
            "digits",
            "accuracy",
            "cross_metric",
            "max_jump",
            metric_kind="accuracy",
            reason="only 2 distinct size(s): the jump statistics need at least 3",
        )
    )
    verdicts = pd.DataFrame.from_records(rows, columns=list(VERDICT_COLUMNS))
    return JumpTestResult(verdicts=verdicts, rule=VerdictRule(), fits=fits or {})


# --------------------------------------------------------------------------------------------
# style
# --------------------------------------------------------------------------------------------


def test_style_gives_one_colour_per_kind_and_shades_within_a_kind() -> None:
    colours = metric_colours(
        [("acc", "accuracy"), ("L2", "exact_match"), ("L4", "exact_match"), ("L2", "exact_match")]
    )
    assert colours["acc"] == KIND_COLOURS["accuracy"]
    assert len({colours["L2"], colours["L4"], KIND_COLOURS["exact_match"]}) == 3
    assert kind_colour("no_such_kind") == KIND_COLOURS["other"]
    assert verdict_colour("excess_jump") == VERDICT_COLOURS["excess_jump"]
    assert len(set(KIND_COLOURS.values())) == len(KIND_COLOURS)


def test_plots_exports_every_figure() -> None:
    for name in (
        "plot_curves",
        "plot_latent",
        "plot_jump_test",
        "plot_slopes",
        "plot_pareto_k",
        "plot_diagnostics",
        "plot_calibration",
        "plot_prior_predictive",
    ):
        assert name in plots.__all__ and callable(getattr(plots, name))


# --------------------------------------------------------------------------------------------
# plot_curves / plot_latent
# --------------------------------------------------------------------------------------------


def test_plot_curves_draws_a_block_per_curve(smooth_fit: Fit) -> None:
    fig = plots.plot_curves(smooth_fit)
    assert isinstance(fig, Figure)
    assert [ax.get_label() for ax in fig.axes] == [f"{c}:{p}" for c in CURVES for p in PANELS]
    for curve in CURVES:
        scores = _axis(fig, f"{curve}:scores")
        assert scores.get_title() == curve and scores.get_xscale() == "log"
        assert _axis(fig, f"{curve}:latent").get_xlabel() == "parameters N"
        assert _axis(fig, f"{curve}:latent").get_yscale() == "log"
        assert _axis(fig, f"{curve}:continuous").get_ylabel() == "log-likelihood"
    # every fitted metric: observed points and a predictive band, on its own panel
    scores = _gids(fig, "scores")
    for metric in ("accuracy", "subset_accuracy_L4"):
        assert scores.count(f"observed:{metric}") == 2 and scores.count(f"band:{metric}") == 2
    assert _gids(fig, "continuous").count("band:log_likelihood") == 2
    assert _gids(fig, "latent").count("latent_band") == 2
    # no metric-only fit given: no hatched band
    assert not [g for g in _gids(fig) if g.startswith("cross_")]
    # the tiny fit fails its diagnostics, and the figure says so
    assert not smooth_fit.diagnostics_summary()["passed"]
    assert "FAILED its sampling diagnostics" in fig.get_suptitle()


def test_plot_curves_band_follows_the_prediction(smooth_fit: Fit) -> None:
    fig = plots.plot_curves(smooth_fit, latent=None, curves=["digits/ladder/-1"])
    ax = _axis(fig, "digits/ladder/-1:scores")
    (band,) = [c for c in ax.collections if c.get_gid() == "band:accuracy"]
    predicted = smooth_fit.predict_table(smooth_fit.table, max_draws=500, random_seed=0)
    assert isinstance(predicted, pd.DataFrame)
    mine = predicted[(predicted["task"] == "digits") & (predicted["metric"] == "accuracy")]
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 1].min() == pytest.approx(mine["q05"].min())
    assert vertices[:, 1].max() == pytest.approx(mine["q95"].max())
    # the observed line is the table's scores, sorted by scale
    (line,) = [line for line in ax.lines if line.get_gid() == "observed:accuracy"]
    expected = mine.sort_values("params")["score"].to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)


def test_plot_curves_bands_only_where_rows_have_a_prediction(
    smooth_fit: Fit, ladder: pd.DataFrame
) -> None:
    held_out = ladder[ladder["metric"] == "brier_mean"]
    unmappable = ladder[ladder["metric"] == "accuracy"].assign(
        metric="bleu", metric_kind="bleu", chance=np.nan
    )
    table = pd.concat([smooth_fit.table, held_out, unmappable], ignore_index=True)
    fig = plots.plot_curves(smooth_fit, table, cross_metric=smooth_fit, latent=None)
    gids = _gids(fig, "scores")
    assert gids.count("observed:bleu") == 2 and "band:bleu" not in gids
    assert gids.count("band:brier_mean") == 2
    # the metric-only band is drawn only for metrics outside that fit's likelihood: the held-out
    # Brier score and the subset accuracy the builder left out
    cross = sorted(g for g in gids if g.startswith("cross_band:"))
    assert cross == ["cross_band:brier_mean"] * 2 + ["cross_band:subset_accuracy_L4"] * 2
    # rows outside the likelihood are drawn hollow, at every size; the fitted accuracy is not
    scores = _axis(fig, f"{CURVES[0]}:scores")
    hollow = {str(line.get_gid()): line for line in scores.lines if line.get_marker() == "o"}
    hollow = {k: v for k, v in hollow.items() if k.startswith("not_fitted:")}
    assert set(hollow) == {f"not_fitted:{m}" for m in ("brier_mean", "subset_accuracy_L4", "bleu")}
    assert all(len(line.get_xdata()) == 6 for line in hollow.values())
    assert all(line.get_markerfacecolor() == "white" for line in hollow.values())
    legend = [t.get_text() for t in _axis(fig, f"{CURVES[0]}:scores").get_legend().get_texts()]
    assert {"posterior predictive 90%", "metric-only prediction 90%", "not fitted"} <= set(legend)


def test_plot_curves_writes_the_verdicts(smooth_fit: Fit) -> None:
    result = _result()
    fig = plots.plot_curves(smooth_fit, jump_result=result, latent="p_token")
    first = _axis(fig, "digits/ladder/-1:scores")
    texts = {t.get_gid(): t for t in first.texts if t.get_gid()}
    verdict = texts["verdict:subset_accuracy_L4"]
    assert "excess jump" in verdict.get_text() and "p 0.008" in verdict.get_text()
    assert to_hex(verdict.get_color()) == to_hex(VERDICT_COLOURS["excess_jump"])
    assert "verdict:accuracy" in texts  # the untested series is named, inconclusive
    second = {t.get_gid(): t for t in _axis(fig, "digits_b/ladder/-1:scores").texts}
    assert "explained by metric" in second["verdict:subset_accuracy_L4"].get_text()
    latent = _axis(fig, "digits/ladder/-1:latent")
    assert latent.get_ylim() == pytest.approx((-0.02, 1.02))
    # the in_sample verdicts are chosen by mode
    fig = plots.plot_curves(smooth_fit, jump_result=result, mode="in_sample", latent=None)
    texts = {t.get_gid() for t in _axis(fig, "digits/ladder/-1:scores").texts}
    assert texts == {"verdict:subset_accuracy_L4"}


def test_plot_curves_takes_the_cross_metric_fit_of_a_jump_result(smooth_fit: Fit) -> None:
    result = _result({"cross_metric/smooth": smooth_fit})
    fig = plots.plot_curves(smooth_fit, jump_result=result)
    assert _gids(fig, "latent").count("cross_latent_band") == 2
    assert "metric-only fit FAILED" in fig.get_suptitle()


def test_plot_curves_rejects_bad_input(smooth_fit: Fit) -> None:
    with pytest.raises(ConfigError, match="must be an emergestats Fit"):
        plots.plot_curves(smooth_fit.table)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown curve"):
        plots.plot_curves(smooth_fit, curves=["nope/ladder/-1"])
    with pytest.raises(ConfigError, match="latent must be one of"):
        plots.plot_curves(smooth_fit, latent="loss")
    with pytest.raises(ConfigError, match="mode 'leave_future_out' is not in the jump result"):
        plots.plot_curves(smooth_fit, jump_result=_result(), mode="leave_future_out")
    with pytest.raises(ConfigError, match="without a 'cross_metric/smooth' fit"):
        plots.plot_curves(smooth_fit, cross_metric=_result())
    with pytest.raises(ConfigError, match="ncols must be a positive integer"):
        plots.plot_curves(smooth_fit, ncols=0)


def test_plot_latent_one_panel_per_curve(smooth_fit: Fit) -> None:
    fig = plots.plot_latent(smooth_fit, quantity="p_token", ncols=1)
    assert [ax.get_label() for ax in fig.axes] == [f"{c}:latent" for c in CURVES]
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("per-token probability")
    (median,) = [line for line in ax.lines if line.get_label() == "fit: median, 90%"]
    assert np.all((median.get_ydata() > 0) & (median.get_ydata() < 1))
    # the fitted power law falls with scale, so p rises along the median
    assert median.get_ydata()[-1] > median.get_ydata()[0]
    with pytest.raises(ConfigError, match="quantity must be one of"):
        plots.plot_latent(smooth_fit, quantity="ce")


# --------------------------------------------------------------------------------------------
# plot_jump_test
# --------------------------------------------------------------------------------------------


def test_plot_jump_test_one_panel_per_mode_one_row_per_series() -> None:
    fig = plots.plot_jump_test(_result())
    assert isinstance(fig, Figure)
    assert [ax.get_label() for ax in fig.axes] == ["jump_test:cross_metric", "jump_test:in_sample"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [
        "digits/ladder/-1: subset_accuracy_L4",
        "digits_b/ladder/-1: subset_accuracy_L4",
        "digits/ladder/-1: accuracy",
    ]
    cross = fig.axes[0]
    observed = [line for line in cross.lines if str(line.get_gid()).startswith("observed:")]
    assert [float(line.get_xdata()[0]) for line in observed] == [0.45, 0.25]
    assert to_hex(observed[0].get_color()) == to_hex(VERDICT_COLOURS["excess_jump"])
    verdicts = [t.get_text() for t in cross.texts if t.get_gid() == "verdict"]
    assert verdicts == ["excess jump, p adj. 0.008", "explained by metric, p adj. 0.4"]
    (untested,) = [t.get_text() for t in cross.texts if t.get_gid() == "not_tested"]
    assert untested.startswith("not tested: only 2 distinct size(s)")
    assert cross.get_xlabel() == "largest rise between adjacent sizes"


def test_plot_jump_test_selects_series_modes_and_statistic() -> None:
    fig = plots.plot_jump_test(_result(), series=["accuracy"], modes=["cross_metric"])
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["digits/ladder/-1: accuracy"]
    fig = plots.plot_jump_test(_result(), statistic="linearity")
    assert fig.axes[0].get_xlabel() == "linearity"
    with pytest.raises(ConfigError, match="unknown series 'nope'"):
        plots.plot_jump_test(_result(), series=["nope"])
    with pytest.raises(ConfigError, match="no rows of statistic 'max_jumps'"):
        plots.plot_jump_test(_result(), statistic="max_jumps")
    with pytest.raises(ConfigError, match="not in the result"):
        plots.plot_jump_test(_result(), modes=["leave_future_out"])
    with pytest.raises(ConfigError, match="takes a JumpTestResult"):
        plots.plot_jump_test(pd.DataFrame())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# plot_slopes
# --------------------------------------------------------------------------------------------


def test_plot_slopes_is_a_forest_of_b_and_a_per_curve(smooth_fit: Fit) -> None:
    pc = plots.plot_slopes(smooth_fit)
    assert isinstance(pc, PlotCollection)
    trunks = pc.viz["trunk"]
    assert set(trunks.data_vars) == {"b", "a"}
    assert list(trunks["b"]["curve"].to_numpy()) == CURVES
    # the trunk of b spans the posterior's central 50% of b for the first curve
    x = trunks["b"].sel(curve=CURVES[0]).item().get_xdata()
    draws = smooth_fit.posterior["b"].sel(curve=CURVES[0]).to_numpy().ravel()
    assert sorted(x) == pytest.approx(np.quantile(draws, [0.25, 0.75]), rel=0.05)
    figure = plots.plot_collection_figure(pc)
    assert isinstance(figure, Figure) and "N_ref" in figure.get_suptitle()
    only_b = plots.plot_slopes(smooth_fit, var_names=("b",))
    assert set(only_b.viz["trunk"].data_vars) == {"b"}
    with pytest.raises(ConfigError, match="is not a per-curve variable"):
        plots.plot_slopes(smooth_fit, var_names=("a_sigma",))
    with pytest.raises(ConfigError, match="no 'floor'"):
        plots.plot_slopes(smooth_fit, var_names=("floor",))


# --------------------------------------------------------------------------------------------
# plot_pareto_k and the sampling diagnostics
# --------------------------------------------------------------------------------------------


def test_plot_pareto_k_per_cell_with_the_threshold(smooth_fit: Fit) -> None:
    fig = plots.plot_pareto_k(smooth_fit)
    (ax,) = fig.axes
    (threshold,) = [line for line in ax.lines if line.get_gid() == "threshold"]
    assert list(threshold.get_ydata()) == [0.7, 0.7]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "Pareto k"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cells with high k: what the figure shows
        result = loo(smooth_fit)
    drawn = [line for line in ax.lines if str(line.get_gid()).startswith("k:")]
    assert sum(len(line.get_xdata()) for line in drawn) == len(result.pointwise)
    assert {line.get_gid() for line in drawn} >= {f"k:{c}" for c in CURVES}
    high = int((result.pointwise["pareto_k"] > 0.7).sum())
    assert f"{high} of {len(result.pointwise)} above 0.7" in ax.get_title()
    # from the LOO result alone: k against the cell's position
    fig = plots.plot_pareto_k(result, threshold=0.5)
    assert fig.axes[0].get_xlabel() == "observation cell"
    with pytest.raises(ConfigError, match="takes a Fit or a LooResult"):
        plots.plot_pareto_k(result.pointwise)  # type: ignore[arg-type]


def test_population_variables_leave_out_per_curve_and_internal_ones(smooth_fit: Fit) -> None:
    names = plots.population_variables(smooth_fit)
    assert {"a_mu", "log_b_mu", "a_sigma", "log_b_sigma", "cell_sigma"} <= set(names)
    posterior = smooth_fit.posterior
    for name in names:
        assert "curve" not in posterior[name].dims and "cell" not in posterior[name].dims
        assert not name.startswith("z_") and "centred" not in name


def test_plot_diagnostics_draws_rank_energy_and_ppc(smooth_fit: Fit) -> None:
    figures = plots.plot_diagnostics(smooth_fit)
    assert set(figures) == {"rank", "energy", "ppc"}
    assert all(isinstance(pc, PlotCollection) for pc in figures.values())
    rank = figures["rank"]
    assert set(rank.viz["plot"].data_vars) == set(plots.population_variables(smooth_fit))
    ppc = figures["ppc"]
    observed = set(smooth_fit.idata["observed_data"].to_dataset().data_vars)
    assert set(ppc.viz["plot"].data_vars) == observed
    for pc in figures.values():
        title = plots.plot_collection_figure(pc).get_suptitle()
        assert "FAILED its sampling diagnostics" in title
    # more panels than arviz-plots allows by default (a fit of 23 families has 46 family
    # means): every one is still drawn, the cap is raised for the call only
    from arviz_base import rc_context, rcParams

    with rc_context({"plot.max_subplots": 2}):
        many = plots.plot_rank(smooth_fit)
        assert rcParams["plot.max_subplots"] == 2
    assert set(many.viz["plot"].data_vars) == set(plots.population_variables(smooth_fit))
    assert len(plots.population_variables(smooth_fit)) > 2
    trace = plots.plot_rank(smooth_fit, var_names=["a_sigma"], kind="trace")
    assert set(trace.viz["plot"].data_vars) == {"a_sigma"}
    with pytest.raises(ConfigError, match="kind must be one of"):
        plots.plot_rank(smooth_fit, kind="pair")
    with pytest.raises(ConfigError, match="no 'nope'"):
        plots.plot_rank(smooth_fit, var_names=["nope"])
    with pytest.raises(ConfigError, match="no posterior predictive variable 'obs_nope'"):
        plots.plot_ppc(smooth_fit, var_names=["obs_nope"])
    with pytest.raises(ConfigError, match="takes an emergestats Fit"):
        plots.plot_energy(smooth_fit.idata)  # type: ignore[arg-type]
