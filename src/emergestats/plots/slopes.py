"""Forest plot of the per-curve power-law parameters: slopes ``b`` and levels ``a``.

``b`` is how fast the per-token cross-entropy falls with scale (``log CE = a - b x``,
``x = log N - log N_ref``) and ``a`` is ``log CE`` at the reference scale ``N_ref``; one row per
curve, drawn by :func:`arviz_plots.plot_forest` from the fit's posterior (nothing sampled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from emergestats.errors import ConfigError
from emergestats.plots.style import diagnostics_note, figure_title

if TYPE_CHECKING:
    from arviz_plots import PlotCollection

    from emergestats.inference.fit import Fit

__all__ = ["plot_collection_figure", "plot_slopes"]


def plot_collection_figure(pc: PlotCollection) -> Any:
    """The matplotlib Figure behind an arviz-plots ``PlotCollection`` (matplotlib backend)."""
    return pc.viz["figure"].item()


def plot_slopes(
    fit: Fit,
    *,
    var_names: Sequence[str] = ("b", "a"),
    ci_probs: tuple[float, float] = (0.5, 0.9),
    title: str | None = None,
    **pc_kwargs: Any,
) -> PlotCollection:
    """Forest plot of the per-curve slopes ``b`` (and levels ``a``) across curves.

    Parameters
    ----------
    fit
        Any fit (smooth, broken or item): its posterior holds ``a`` and ``b`` along ``curve``.
    var_names
        The per-curve parameters to draw (default ``b`` then ``a``; e.g. ``("b",)`` alone, or
        ``"log_n_break"`` of a broken fit).
    ci_probs
        The two credible intervals drawn (thick trunk, thin twig): 50% and 90%.
    title
        A figure title; a fit that fails its sampling diagnostics is named above the plot.
    **pc_kwargs
        Passed to :func:`arviz_plots.plot_forest` (``visuals``, ``aes_by_visuals``, ...).

    Returns
    -------
    arviz_plots.PlotCollection
        ``plot_collection_figure(pc)`` is its matplotlib Figure.

    Raises
    ------
    ConfigError
        If the posterior has none of ``var_names`` or one of them is not per curve.
    """
    import arviz_plots as azp

    posterior = getattr(fit, "posterior", None)
    if posterior is None or not hasattr(fit, "idata"):
        raise ConfigError(f"plot_slopes takes an emergestats Fit, not {type(fit).__name__}")
    names = [str(v) for v in ([var_names] if isinstance(var_names, str) else var_names)]
    missing = [v for v in names if v not in posterior.data_vars]
    if missing or not names:
        raise ConfigError(
            f"the posterior has no {', '.join(map(repr, missing)) or 'variable given'}; per-curve "
            f"variables of this {fit.model_name} fit: "
            + ", ".join(v for v in posterior.data_vars if "curve" in posterior[v].dims)
        )
    not_curves = [v for v in names if "curve" not in posterior[v].dims]
    if not_curves:
        raise ConfigError(
            f"{', '.join(map(repr, not_curves))} is not a per-curve variable (dims "
            f"{posterior[not_curves[0]].dims}); plot_slopes draws one row per curve"
        )
    pc = azp.plot_forest(
        fit.idata,
        var_names=names,
        combined=True,
        ci_probs=list(ci_probs),
        backend="matplotlib",
        **pc_kwargs,
    )
    default = (
        f"per-curve power law log CE = a - b (log N - log N_ref), N_ref = {fit.n_ref:.3g}: "
        f"median, {ci_probs[0]:.0%} and {ci_probs[1]:.0%} intervals"
    )
    figure = plot_collection_figure(pc)
    figure_title(figure, title or default, [diagnostics_note(fit)])
    return pc
