"""Scaling curves: every metric's observed scores against the posterior predictive band.

One block of panels per curve (task, subtask, family, shots), scale on a log axis:

``scores``
    The metrics whose scores lie in ``[0, 2]`` (exact match, grade, accuracy, pass@k, Brier,
    ...): observed points (hollow where the row was not fitted) over the 90% posterior
    predictive band of :meth:`Fit.predict_table <emergestats.inference.Fit.predict_table>`, and
    optionally the metric-only (cross-metric) band, hatched: the prediction of a fit to the
    continuous metrics alone. With a :class:`~emergestats.mirage.JumpTestResult` the verdicts
    are written on this panel.
``continuous``
    Log-likelihoods and edit distances (unbounded scores), drawn the same way; present when any
    shown curve has such rows.
``latent``
    The per-token cross-entropy (or ``p = exp(-CE)``) of the curve's power law, posterior
    median and 90% band, with each model's own cell (its posterior CE, 90% interval); the
    metric-only fit's latent dashed.

The predictions are summaries of posterior draws already made (``predict_table`` evaluates the
forward maps on them with a seeded subset and seeded sampling noise); nothing here samples a
model. Every axis carries a label ``"<curve>:<panel>"`` (``Axes.get_label``) and every band a
``gid`` (``"band:<metric>"``, ``"cross_band:<metric>"``, ``"latent_band"``) so that a notebook
can find and restyle them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from emergestats.data.table import ROW_KEY, curve_labels
from emergestats.errors import ConfigError
from emergestats.models.latent import broken_log_cross_entropy, log_cross_entropy
from emergestats.plots.style import (
    BAND_ALPHA,
    CONTINUOUS_PANEL_KINDS,
    CROSS_METRIC_HATCH,
    KIND_LABELS,
    LATENT_COLOUR,
    LATENT_LABELS,
    SCALE_LABEL,
    VERDICT_LABELS,
    diagnostics_note,
    figure_title,
    metric_colours,
    verdict_colour,
)

if TYPE_CHECKING:
    from emergestats.inference.fit import Fit
    from emergestats.mirage.jumps import JumpTestResult

__all__ = ["plot_curves", "plot_latent"]

#: Height (inches) of each panel of a curve's block.
_PANEL_HEIGHT = {"scores": 2.5, "continuous": 1.7, "latent": 1.7}
_PANEL_WIDTH = 4.6
#: Points of the latent curve between a curve's smallest and largest size.
_GRID_POINTS = 60


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _check_fit(fit: Any, role: str = "fit") -> Fit:
    from emergestats.inference.fit import Fit

    if not isinstance(fit, Fit):
        raise ConfigError(
            f"{role} must be an emergestats Fit (from es.fit or Fit.load), not {type(fit).__name__}"
        )
    if fit.model_name not in ("smooth", "broken"):
        raise ConfigError(
            f"{role} is a {fit.model_name!r} fit; the curve figures need a smooth or broken "
            "evaluation fit (predict_table maps table rows)"
        )
    return fit


def _cross_fit(
    cross_metric: Fit | JumpTestResult | None, jump_result: JumpTestResult | None
) -> Fit | None:
    """The metric-only fit: given, or the ``cross_metric/smooth`` fit of a jump-test result."""
    source = cross_metric if cross_metric is not None else jump_result
    if source is None:
        return None
    if hasattr(source, "verdicts") and hasattr(source, "fits"):
        fitted = source.fits.get("cross_metric/smooth")
        if fitted is None:
            if cross_metric is None:
                return None  # a jump result without the cross_metric mode: no second band
            raise ConfigError(
                "cross_metric is a JumpTestResult without a 'cross_metric/smooth' fit (fits: "
                f"{', '.join(source.fits) or 'none'}); run jump_test with the cross_metric mode "
                "or pass the metric-only Fit"
            )
        return _check_fit(fitted, "the jump result's cross_metric fit")
    return _check_fit(source, "cross_metric")


def _check_jump_result(jump_result: Any) -> JumpTestResult | None:
    if jump_result is None:
        return None
    if not (hasattr(jump_result, "verdicts") and hasattr(jump_result, "fits")):
        raise ConfigError(
            "jump_result must be a JumpTestResult (from es.jump_test), not "
            f"{type(jump_result).__name__}"
        )
    return jump_result


def _select_curves(fit: Fit, labels: pd.Series, curves: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(labels))
    if curves is None:
        return present
    if isinstance(curves, str):
        curves = [curves]
    fitted = set(fit.prepared.curve_labels)
    unknown = [c for c in curves if c not in fitted or c not in present]
    if unknown:
        raise ConfigError(
            f"unknown curve(s) {', '.join(map(repr, unknown[:5]))}; the curves of the fit and "
            f"table are {', '.join(present[:8])}{', ...' if len(present) > 8 else ''}"
        )
    return list(dict.fromkeys(curves))


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    parts = [frame[c].astype(str) for c in ROW_KEY]
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    return key


def _series_keys(frame: pd.DataFrame, labels: pd.Series) -> pd.Series:
    return labels.astype(str) + "\x1f" + frame["metric"].astype(str)


def _modelled_rows(fit: Fit) -> pd.DataFrame:
    """The rows of the fit's table that are in its likelihood (not excluded by the builder)."""
    table = fit.table
    observations = getattr(fit.prepared, "observations", None)
    modelled = getattr(observations, "modelled", None)
    if modelled is None or len(modelled) != len(table):
        return table
    return table[np.asarray(modelled, dtype=bool)]


def _predict(
    fit: Fit, table: pd.DataFrame, *, max_draws: int | None, random_seed: int | None
) -> pd.DataFrame:
    with warnings.catch_warnings():
        # rows the model cannot map are summarised over NaNs ("Mean of empty slice") and carry
        # their reason; assumed lengths and exclusions are the fit's business, not the figure's
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        frame = fit.predict_table(table, max_draws=max_draws, random_seed=random_seed)
    assert isinstance(frame, pd.DataFrame)
    return frame.reset_index(drop=True)


def _verdict_label(jump_result: Any) -> pd.Series:
    rows = jump_result.verdicts.copy()
    shots = pd.to_numeric(rows["shots"], errors="coerce")
    if shots.notna().all():
        rows["shots"] = shots.astype(np.int64)
    return curve_labels(rows)


def _pick_mode(jump_result: Any, mode: str | None) -> str | None:
    if jump_result is None:
        return None
    modes = list(dict.fromkeys(jump_result.verdicts["mode"].astype(str)))
    if mode is None:
        return "cross_metric" if "cross_metric" in modes else (modes[0] if modes else None)
    if mode not in modes:
        raise ConfigError(
            f"mode {mode!r} is not in the jump result (its modes: {', '.join(modes) or 'none'})"
        )
    return mode


# --------------------------------------------------------------------------------------------
# Latent curves from the posterior
# --------------------------------------------------------------------------------------------


#: Posterior variables the latent panels read.
_LATENT_VARIABLES = (
    "a",
    "b",
    "floor",
    "log_n_break",
    "break_slope",
    "break_level",
    "cell_deviation",
)


def _draw_subset(fit: Fit, max_draws: int | None, rng: np.random.Generator) -> Any:
    posterior = fit.posterior
    names = [v for v in _LATENT_VARIABLES if v in posterior.data_vars]
    stacked = posterior[names].stack(sample=("chain", "draw"))
    n = stacked.sizes["sample"]
    if max_draws is not None and n > max_draws:
        stacked = stacked.isel(sample=np.sort(rng.choice(n, size=max_draws, replace=False)))
    return stacked


def _latent_draws(
    fit: Fit, cross: Fit | None, max_draws: int | None, random_seed: int | None
) -> tuple[Any, Any]:
    """The seeded subsets of draws of the fit and of the metric-only fit, stacked once."""
    rng = np.random.default_rng(random_seed)
    post = _draw_subset(fit, max_draws, rng)
    return post, (None if cross is None else _draw_subset(cross, max_draws, rng))


def _log_ce(fit: Fit, post: Any, label: str, x: np.ndarray) -> np.ndarray:
    """``(draws, points)`` log CE of a curve's power law (and break) at centred log scales."""

    def curve_draws(name: str) -> np.ndarray:
        return np.asarray(post[name].sel(curve=label).to_numpy(), dtype=float)[:, None]

    a, b = curve_draws("a"), curve_draws("b")
    if fit.model_name == "broken":
        width = float(fit.config.priors["break_width"]["value"])
        x_break = curve_draws("log_n_break") - math.log(fit.n_ref)
        return np.asarray(
            broken_log_cross_entropy(
                x[None, :],
                a,
                b,
                x_break,
                curve_draws("break_slope"),
                curve_draws("break_level"),
                width,
            )
        )
    return np.asarray(log_cross_entropy(x[None, :], a, b))


def _latent_values(
    fit: Fit, post: Any, label: str, log_ce: np.ndarray, quantity: str
) -> np.ndarray:
    ce = np.exp(log_ce)
    if "floor" in post:
        ce = ce + np.asarray(post["floor"].sel(curve=label).to_numpy(), dtype=float)[:, None]
    return ce if quantity == "cross_entropy" else np.exp(-ce)


def _cells_of(fit: Fit, post: Any, label: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """Each (curve, model) cell's scale and ``(draws, cells)`` latent value with its deviation."""
    prepared = fit.prepared
    position = list(prepared.curve_labels).index(label)
    cells = np.flatnonzero(np.asarray(prepared.cell_curve) == position)  # type: ignore[union-attr]
    if not cells.size or "cell_deviation" not in post:
        return np.zeros(0), np.zeros((0, 0))
    x = np.asarray(prepared.cell_x, dtype=float)[cells]  # type: ignore[union-attr]
    names = [prepared.cell_labels[c] for c in cells]  # type: ignore[union-attr]
    deviation = post["cell_deviation"].sel(cell=names).transpose("sample", "cell").to_numpy()
    log_ce = _log_ce(fit, post, label, x) + deviation
    return np.exp(x + math.log(fit.n_ref)), _latent_values(fit, post, label, log_ce, quantity)


def _draw_latent(
    ax: Axes,
    fit: Fit,
    label: str,
    scales: np.ndarray,
    *,
    quantity: str,
    cross: Fit | None,
    draws: tuple[Any, Any],
) -> None:
    post, cross_post = draws
    grid = np.geomspace(float(scales.min()), float(scales.max()), _GRID_POINTS)
    x = np.log(grid) - math.log(fit.n_ref)
    values = _latent_values(fit, post, label, _log_ce(fit, post, label, x), quantity)
    low, mid, high = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
    band = ax.fill_between(grid, low, high, color=LATENT_COLOUR, alpha=BAND_ALPHA, lw=0)
    band.set_gid("latent_band")
    ax.plot(grid, mid, color=LATENT_COLOUR, lw=1.5, label="fit: median, 90%")
    cell_scales, cell_values = _cells_of(fit, post, label, quantity)
    if cell_scales.size:
        c_low, c_mid, c_high = np.quantile(cell_values, [0.05, 0.5, 0.95], axis=0)
        ax.errorbar(
            cell_scales,
            c_mid,
            yerr=[c_mid - c_low, c_high - c_mid],
            fmt="o",
            ms=3,
            lw=0.8,
            color=LATENT_COLOUR,
            label="each model's cell",
            gid="latent_cells",
        )
    if cross is not None and label in cross.prepared.curve_labels:
        x_cross = np.log(grid) - math.log(cross.n_ref)
        other = _latent_values(
            cross, cross_post, label, _log_ce(cross, cross_post, label, x_cross), quantity
        )
        o_low, o_mid, o_high = np.quantile(other, [0.05, 0.5, 0.95], axis=0)
        hatched = ax.fill_between(
            grid,
            o_low,
            o_high,
            facecolor="none",
            edgecolor=LATENT_COLOUR,
            hatch=CROSS_METRIC_HATCH,
            lw=0,
            alpha=0.5,
        )
        hatched.set_gid("cross_latent_band")
        ax.plot(grid, o_mid, color=LATENT_COLOUR, lw=1.2, ls="--", label="metric-only fit")
    ax.set_xscale("log")
    if quantity == "cross_entropy":
        ax.set_yscale("log")
    else:
        ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(LATENT_LABELS[quantity], fontsize="small")
    ax.legend(loc="best", fontsize="x-small")


# --------------------------------------------------------------------------------------------
# Score panels
# --------------------------------------------------------------------------------------------


def _band(
    ax: Axes, x: np.ndarray, low: np.ndarray, high: np.ndarray, colour: str, *, hatched: bool
) -> Any:
    style: dict[str, Any] = (
        {"facecolor": "none", "edgecolor": colour, "hatch": CROSS_METRIC_HATCH, "lw": 0.6}
        if hatched
        else {"color": colour, "alpha": BAND_ALPHA, "lw": 0}
    )
    if x.size == 1:  # one size: the interval as a bar
        return ax.vlines(x, low, high, colors=colour, lw=6 if not hatched else 2, alpha=0.5)
    return ax.fill_between(x, low, high, **style)


def _draw_scores(
    ax: Axes,
    rows: pd.DataFrame,
    colours: dict[str, str],
    *,
    has_cross: bool,
) -> None:
    handles: list[Any] = []
    drew_band = drew_cross = False
    for metric, mine in rows.groupby("metric", sort=False):
        mine = mine.sort_values("params")
        name = str(metric)
        colour = colours[name]
        x = mine["params"].to_numpy(float)
        score = mine["score"].to_numpy(float)
        (line,) = ax.plot(
            x, score, "-o", color=colour, ms=3.5, lw=0.9, label=name, gid=f"observed:{name}"
        )
        fitted = mine["_fitted"].to_numpy(bool)
        if (~fitted).any():
            ax.plot(
                x[~fitted],
                score[~fitted],
                "o",
                ms=5,
                mfc="white",
                mec=colour,
                zorder=4,
                gid=f"not_fitted:{name}",
            )
        handles.append(line)
        ok = (mine["reason"].fillna("") == "").to_numpy() & np.isfinite(mine["q05"].to_numpy(float))
        if ok.any():
            band = _band(
                ax,
                x[ok],
                mine["q05"].to_numpy(float)[ok],
                mine["q95"].to_numpy(float)[ok],
                colour,
                hatched=False,
            )
            band.set_gid(f"band:{name}")
            drew_band = True
        if has_cross:
            cross_ok = np.isfinite(mine["cross_q05"].to_numpy(float))
            if cross_ok.any():
                band = _band(
                    ax,
                    x[cross_ok],
                    mine["cross_q05"].to_numpy(float)[cross_ok],
                    mine["cross_q95"].to_numpy(float)[cross_ok],
                    colour,
                    hatched=True,
                )
                band.set_gid(f"cross_band:{name}")
                drew_cross = True
    if drew_band:
        handles.append(Patch(color="0.5", alpha=BAND_ALPHA * 2, label="posterior predictive 90%"))
    if drew_cross:
        handles.append(
            Patch(
                facecolor="none",
                edgecolor="0.3",
                hatch=CROSS_METRIC_HATCH,
                label="metric-only prediction 90%",
            )
        )
    if (~rows["_fitted"].to_numpy(bool)).any():
        hollow = Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", label="not fitted")
        handles.append(hollow)
    ax.legend(handles=handles, loc="best", fontsize="x-small")
    ax.set_xscale("log")


def _annotate_verdicts(ax: Axes, verdicts: pd.DataFrame) -> None:
    for line, (_, row) in enumerate(verdicts.iterrows()):
        verdict = str(row["verdict"])
        text = f"{row['metric']}: {VERDICT_LABELS.get(verdict, verdict)}"
        if np.isfinite(row["excess_q50"]):
            text += f", excess {row['excess_q50']:+.2f}"
        p = row["p_adjusted"] if np.isfinite(row["p_adjusted"]) else row["p_value"]
        if np.isfinite(p):
            text += f", p {p:.2g}"
        ax.annotate(
            text,
            xy=(0.02, 0.97),
            xycoords="axes fraction",
            xytext=(0, -9 * line),
            textcoords="offset points",
            va="top",
            ha="left",
            fontsize=6.5,
            color=verdict_colour(verdict),
            gid=f"verdict:{row['metric']}",
        )


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def _grid(
    labels: list[str], panels: list[str], ncols: int | None
) -> tuple[Figure, dict[str, dict[str, Axes]]]:
    if ncols is not None and ncols < 1:
        raise ConfigError(f"ncols must be a positive integer, not {ncols!r}")
    columns = min(len(labels), ncols or 3)
    blocks = math.ceil(len(labels) / columns)
    ratios = [_PANEL_HEIGHT[p] for p in panels] * blocks
    fig = plt.figure(
        figsize=(_PANEL_WIDTH * columns, sum(ratios) + 0.6), layout="constrained", dpi=100
    )
    spec = fig.add_gridspec(len(ratios), columns, height_ratios=ratios)
    axes: dict[str, dict[str, Axes]] = {}
    for index, label in enumerate(labels):
        block, column = divmod(index, columns)
        mine: dict[str, Axes] = {}
        first: Axes | None = None
        for offset, panel in enumerate(panels):
            ax = fig.add_subplot(spec[block * len(panels) + offset, column], sharex=first)
            first = first or ax
            ax.set_label(f"{label}:{panel}")
            mine[panel] = ax
        for panel in panels[:-1]:
            mine[panel].tick_params(labelbottom=False)
        mine[panels[-1]].set_xlabel(SCALE_LABEL)
        mine[panels[0]].set_title(label, fontsize="medium")
        axes[label] = mine
    return fig, axes


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def plot_curves(
    fit: Fit,
    table: pd.DataFrame | None = None,
    *,
    curves: Sequence[str] | None = None,
    cross_metric: Fit | JumpTestResult | None = None,
    jump_result: JumpTestResult | None = None,
    mode: str | None = None,
    latent: str | None = "cross_entropy",
    ncols: int | None = None,
    max_draws: int | None = 500,
    random_seed: int | None = 0,
    title: str | None = None,
) -> Figure:
    """Every metric of every curve against its posterior predictive band, and the latent.

    Parameters
    ----------
    fit
        A smooth or broken evaluation fit (e.g. the ``in_sample/smooth`` fit of a jump test).
    table
        The rows to draw (any rows of the fit's curves: held-out sizes or metrics too); default
        the fitted table. Rows outside the fit's likelihood (not in its table, or left out by
        the builder, e.g. subset accuracies beside an accuracy of the same items) are hollow.
    curves
        Curve labels (``task/subtask/family/shots``, the subtask omitted when equal to the task,
        as in ``fit.prepared.curve_labels``) to draw; default every curve of ``table``.
    cross_metric
        The metric-only prediction: a Fit to the continuous metrics of the same curves, or a
        :class:`~emergestats.mirage.JumpTestResult` (its ``cross_metric/smooth`` fit). Its band
        is drawn, hatched, for the metrics outside its likelihood. Default: the jump result's
        ``cross_metric/smooth`` fit where it has one.
    jump_result
        A :class:`~emergestats.mirage.JumpTestResult`: each tested metric's verdict, median
        excess and p (adjusted where tested) are written on its curve's scores panel.
    mode
        Which mode's verdicts to write (default ``cross_metric`` when present, else the first).
    latent
        ``"cross_entropy"`` (default), ``"p_token"`` or ``None`` (no latent panel).
    ncols
        Curves per row of the figure (default up to 3).
    max_draws, random_seed
        Posterior draws summarised (a seeded subset) and the seed of the predictive noise: the
        same seed draws the same figure.
    title
        A figure title; a fit that fails its sampling diagnostics is always named above it.

    Returns
    -------
    matplotlib.figure.Figure
        One block per curve: panels ``scores``, ``continuous`` (when any shown curve has
        log-likelihood, edit-distance or other unbounded rows) and ``latent`` (unless
        ``latent=None``), each labelled ``"<curve>:<panel>"``.

    Raises
    ------
    ConfigError
        If ``fit`` (or the metric-only fit) is not a smooth or broken evaluation fit, a curve
        is unknown, the table's rows belong to curves the fit has not seen, or ``latent`` or
        ``mode`` is not one of the choices.

    Examples
    --------
    >>> result = es.jump_test(table, modes=["cross_metric", "in_sample"])  # doctest: +SKIP
    >>> in_sample = result.fits["in_sample/smooth"]  # doctest: +SKIP
    >>> fig = plot_curves(in_sample, table, jump_result=result)  # doctest: +SKIP
    """
    fit = _check_fit(fit)
    jump_result = _check_jump_result(jump_result)
    cross = _cross_fit(cross_metric, jump_result)
    if latent is not None and latent not in LATENT_LABELS:
        raise ConfigError(
            f"latent must be one of {', '.join(map(repr, LATENT_LABELS))} or None, not {latent!r}"
        )
    mode = _pick_mode(jump_result, mode)
    source = fit.table if table is None else table
    frame = _predict(fit, source, max_draws=max_draws, random_seed=random_seed)
    labels = curve_labels(frame)
    shown = _select_curves(fit, labels, curves)
    frame["_curve"] = labels.to_numpy()
    frame = frame[frame["_curve"].isin(shown)].reset_index(drop=True)
    frame["_fitted"] = _row_keys(frame).isin(set(_row_keys(_modelled_rows(fit))))

    frame["cross_q05"] = np.nan
    frame["cross_q95"] = np.nan
    if cross is not None:
        cross_rows = _modelled_rows(cross)
        cross_fitted = set(_series_keys(cross_rows, curve_labels(cross_rows)))
        wanted = frame["_curve"].isin(set(cross.prepared.curve_labels)) & ~_series_keys(
            frame, frame["_curve"]
        ).isin(cross_fitted)
        if wanted.any():
            subset = frame.loc[wanted, list(source.columns.intersection(frame.columns))]
            predicted = _predict(cross, subset, max_draws=max_draws, random_seed=random_seed)
            ok = predicted["reason"].fillna("") == ""
            lookup = pd.DataFrame(
                {
                    "key": _row_keys(predicted)[ok].to_numpy(),
                    "q05": predicted["q05"][ok].to_numpy(float),
                    "q95": predicted["q95"][ok].to_numpy(float),
                }
            ).set_index("key")
            keys = _row_keys(frame)
            frame["cross_q05"] = keys.map(lookup["q05"]).to_numpy(float)
            frame["cross_q95"] = keys.map(lookup["q95"]).to_numpy(float)

    continuous = frame["metric_kind"].astype(str).isin(CONTINUOUS_PANEL_KINDS)
    panels = ["scores"]
    if continuous.any():
        panels.append("continuous")
    if latent is not None:
        panels.append("latent")
    colours = metric_colours(zip(frame["metric"], frame["metric_kind"].astype(str), strict=True))
    fig, axes = _grid(shown, panels, ncols)

    verdicts = None
    if jump_result is not None and mode is not None:
        rows = jump_result.verdicts
        chosen = (rows["mode"] == mode).to_numpy() & rows["primary"].to_numpy(bool)
        verdicts = rows[chosen].assign(_curve=_verdict_label(jump_result)[chosen].to_numpy())

    draws: tuple[Any, Any] = (None, None)
    if latent is not None:
        draws = _latent_draws(fit, cross, max_draws, random_seed)
    for label in shown:
        mine = frame[frame["_curve"] == label]
        mine_continuous = continuous.loc[mine.index].to_numpy(bool)
        blocks = (("scores", mine[~mine_continuous]), ("continuous", mine[mine_continuous]))
        for panel, rows in blocks:
            if panel not in axes[label]:
                continue
            ax = axes[label][panel]
            if rows.empty:
                ax.text(
                    0.5,
                    0.5,
                    "no rows of these metrics",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize="small",
                    color="0.4",
                )
                continue
            _draw_scores(ax, rows, colours, has_cross=cross is not None)
            kinds = list(dict.fromkeys(rows["metric_kind"].astype(str)))
            ylabel = "score"
            if panel == "continuous":
                ylabel = ", ".join(KIND_LABELS.get(k, k) for k in kinds)
            ax.set_ylabel(ylabel, fontsize="small")
        if verdicts is not None:
            _annotate_verdicts(axes[label]["scores"], verdicts[verdicts["_curve"] == label])
        if latent is not None:
            _draw_latent(
                axes[label]["latent"],
                fit,
                label,
                mine["params"].to_numpy(float),
                quantity=latent,
                cross=cross,
                draws=draws,
            )
    notes = [diagnostics_note(fit, "the fit")]
    if cross is not None:
        notes.append(diagnostics_note(cross, "the metric-only fit"))
    figure_title(fig, title, notes)
    return fig


def plot_latent(
    fit: Fit,
    *,
    curves: Sequence[str] | None = None,
    cross_metric: Fit | JumpTestResult | None = None,
    quantity: str = "cross_entropy",
    ncols: int | None = None,
    max_draws: int | None = 500,
    random_seed: int | None = 0,
    title: str | None = None,
) -> Figure:
    """The latent per-token curve of each fitted curve: posterior median, 90% band, cells.

    Parameters
    ----------
    fit
        A smooth or broken evaluation fit.
    curves
        Curve labels to draw (default all of the fit's).
    cross_metric
        A metric-only Fit (or a JumpTestResult with a ``cross_metric/smooth`` fit): its latent
        is drawn dashed over a hatched band.
    quantity
        ``"cross_entropy"`` (log axis) or ``"p_token"`` (``exp(-CE)``).
    ncols, max_draws, random_seed, title
        As in :func:`plot_curves`.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per curve, labelled ``"<curve>:latent"``, over the curve's fitted sizes.
    """
    fit = _check_fit(fit)
    cross = _cross_fit(cross_metric, None)
    if quantity not in LATENT_LABELS:
        raise ConfigError(
            f"quantity must be one of {', '.join(map(repr, LATENT_LABELS))}, not {quantity!r}"
        )
    labels = curve_labels(fit.table)
    shown = _select_curves(fit, labels, curves)
    fig, axes = _grid(shown, ["latent"], ncols)
    draws = _latent_draws(fit, cross, max_draws, random_seed)
    for label in shown:
        scales = fit.table["params"].to_numpy(float)[(labels == label).to_numpy()]
        _draw_latent(
            axes[label]["latent"],
            fit,
            label,
            scales,
            quantity=quantity,
            cross=cross,
            draws=draws,
        )
    notes = [diagnostics_note(fit, "the fit")]
    if cross is not None:
        notes.append(diagnostics_note(cross, "the metric-only fit"))
    figure_title(fig, title, notes)
    return fig
