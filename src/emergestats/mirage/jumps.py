"""The mirage test: is a curve's jump larger than what the metric alone predicts?

For every (task, subtask, family, shots, metric) series of a discontinuous or nonlinear metric
(:data:`TESTED_KINDS`: exact match, grade, accuracy, pass@k; subset accuracy is an exact-match
kind), :func:`jump_test` compares the observed jump statistics
(:mod:`emergestats.mirage.statistics`) with their posterior-predictive distribution under the
smooth power-law latent, evaluated at the series' own sizes with the rows' own ``n_items``,
answer lengths and choices (:meth:`Fit.predict_table <emergestats.inference.Fit.predict_table>`
with ``return_draws=True``: each posterior draw is one replicate curve). Modes:

``cross_metric``
    The smooth model fitted to the *continuous* metrics only (:data:`CONTINUOUS_KINDS`:
    log-likelihood, Brier, edit distance) of the same curves, then asked for the discontinuous
    one: literally what the metric choice alone predicts from the smooth latent. A curve with
    no continuous metric is ``inconclusive``.
``in_sample``
    A posterior-predictive check of the smooth fit to every metric of the curves.
``leave_future_out``
    The smooth fit to the sizes up to the largest observed jump (every metric of the curve;
    the cut is the smaller size of the largest ``max_jump`` step among the curve's tested
    metrics), predicting every size: was the jump predictable in advance?

Replicates are curves of the *smooth latent*: each posterior draw gives the power law, the
item spread and the map parameters, and every (curve, model) cell a fresh deviation from
``Normal(0, cell_sigma)`` (``predict_table(..., cell_deviations="fresh")``, the "mixed"
posterior predictive of a hierarchical model). Conditioning on the fitted cell deviations
instead would let them carry any break of the latent the continuous metrics show into the
prediction (a deviation per cell can follow any curve), and the test could then never see a
broken latent: measured before this choice, power 0/10 on 2x breaks in ``docs/calibration.md``.

Outputs per series and statistic: ``observed``; the predicted statistic's 5/50/95% quantiles;
the *excess* ``T_obs - T_rep`` with its 5/50/95% quantiles (the 90% interval); the one-sided
``p_value = (1 + #{T_rep >= T_obs}) / (1 + S)`` over ``S`` replicates (the Monte Carlo p-value,
never 0); and, in the ``cross_metric`` and ``in_sample`` modes, the smooth-vs-broken PSIS-LOO
difference of the fitted rows of that curve (``elpd_diff = elpd_broken - elpd_smooth`` summed
over the curve's (curve, model) cells, positive favours a break; ``elpd_se`` the standard
error ``sqrt(n_cells var(diff_cell))``; ``pareto_k_max`` the worst cell of either fit).

The verdict rule (:class:`VerdictRule`; stated in ``JumpTestResult.rule`` and in the result's
JSON)
--------------------------------------------------------------------------------------------
Decided on the primary statistic (``max_jump``) per (series, mode); the other statistics' rows
carry the same verdict.

1. ``inconclusive`` when the series cannot be tested: fewer than ``min_sizes`` (3) distinct
   sizes; no continuous metric of the same curve (``cross_metric``); fewer than
   ``min_sizes - 1`` sizes before the jump (``leave_future_out``); a row the model cannot map
   (its ``predict_table`` reason); the fit failed; or the fit fails its sampling diagnostics
   (:meth:`Fit.diagnostics_summary`, unless ``require_diagnostics=False``) after one refit
   as the failure needs (``retry_failed``, :func:`refit_settings`). The reason says which.
2. Multiple testing: the p-values of the testable series of one mode are adjusted together,
   by Benjamini-Hochberg (false discovery rate; default, ``adjust="bh"``), Holm (family-wise
   error, ``"holm"``) or not at all (``"none"``); ``p_adjusted`` holds the result.
3. ``excess_jump`` when ``p_adjusted <= alpha`` (0.05): the observed jump is larger than the
   smooth latent makes likely through this metric.
4. ``inconclusive`` when the *lower* tail ``P(T_rep <= T_obs)``, adjusted the same way, is
   ``<= alpha``: the observed jump is smaller than predicted, so the smooth model does not
   describe this metric and cannot explain it either.
5. ``explained_by_metric`` otherwise: the observed jump lies inside what metric choice alone
   produces from a smooth latent.
6. With a calibration (``calibration=``, :func:`emergestats.mirage.calibrate`), a series whose
   nearest simulated grid cell (:func:`~emergestats.mirage.calibration.closest_cells`: same
   task kind, nearest in items, sizes and, for a grade or accuracy series, its number of
   choices ``n_choices``; the worst rate over what the row does not know) has a false-alarm
   rate above ``max_false_alarm`` (0.10) becomes ``inconclusive`` by rule, and every row
   reports the nearest cell's false alarm and power.
8. With a calibration, ``explained_by_metric`` also needs power: where the nearest cell's
   simulated breaks are found (``excess_jump`` or ``latent_break``; the verdict's own power
   where the calibration has no ``latent_break`` rates) less often than ``min_power`` (0.8),
   a break of that size could hide behind the verdict, so the series is ``inconclusive`` by
   rule ("not detected" is not "explained" at that power). ``excess_jump`` stays: a
   detection needs no power, only the false-alarm control of rule 6. Without a calibration
   the verdict cannot know its power; ``docs/calibration.md`` says how low it is.

7. ``latent_break`` (a column beside the verdict, in ``cross_metric`` and ``in_sample``): does
   the latent itself break? The step test of :mod:`emergestats.mirage.breaks` on the smooth
   fit's posterior-mean cell deviations of the curve (``step_p``: the p-value of the largest
   quadratic-plus-step improvement against iid normal deviations; scale-free, so a ``cell_sigma``
   the fit widened to absorb a break does not hide it). The ``step_p`` of one
   fit's curves are adjusted together like the verdicts' p; ``latent_break`` is 1 when the
   adjusted p <= ``alpha``, 0 otherwise, NaN (not measurable) with fewer than 5 sizes or when
   the fit fails its diagnostics. With ``compare_broken`` the smooth-vs-broken PSIS-LOO is
   reported beside it (``elpd_diff``, ``elpd_se``, ``pareto_k_max``); it no longer decides
   ``latent_break`` (its cell-level Pareto k exceeded 0.7 on nearly every simulated curve).

What the two answers mean, and why they are separate. In ``cross_metric`` mode the verdict asks
"is the jump more than a smooth power law, fitted to the continuous metrics of the same
outputs, produces through this metric?". The replicates are curves of that smooth latent with
fresh cell deviations, so a break of the latent that the continuous metrics show is not
carried into the prediction; but the smooth fit also widens ``cell_sigma`` to absorb such a
break, so the verdict's power against a latent break is low (measured:
``docs/calibration.md``). Whether the latent itself breaks is the second question, answered
by ``latent_break``. An ability that "really emerges" is a latent break (``latent_break ==
1``); a mirage is a jump ``explained_by_metric`` with ``latent_break == 0``. The verdict labels
are never changed by rule 7. The error rates of both are measured in ``docs/calibration.md``;
read ``explained_by_metric`` with ``latent_break == 0`` as "no excess and no break detected" at
the power measured there, not as a proven mirage.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from emergestats.data.table import (
    CURVE_KEY,
    SERIES_KEY,
    drop_intermediate_checkpoints,
    validate,
)
from emergestats.errors import ConfigError, DataFormatError, EmergestatsError, format_rows
from emergestats.inference.diagnostics import refit_settings
from emergestats.mirage.statistics import (
    PRIMARY_STATISTIC,
    STATISTICS,
    jump_statistics_of_replicates,
    score_resolution,
)

if TYPE_CHECKING:
    from distributed import Client

    from emergestats.inference.fit import Fit

__all__ = [
    "CONTINUOUS_KINDS",
    "MODES",
    "TESTED_KINDS",
    "VERDICTS",
    "VERDICT_COLUMNS",
    "JumpTestResult",
    "VerdictRule",
    "adjust_p_values",
    "jump_test",
]

MODES: Final[tuple[str, ...]] = ("cross_metric", "in_sample", "leave_future_out")
#: Metric kinds whose jumps are tested (discontinuous or nonlinear in the latent).
TESTED_KINDS: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "multiple_choice_grade",
    "accuracy",
    "pass_at_k",
)
#: Metric kinds the ``cross_metric`` mode fits (continuous in the latent).
CONTINUOUS_KINDS: Final[tuple[str, ...]] = ("log_likelihood", "brier", "edit_distance")
VERDICTS: Final[tuple[str, ...]] = ("explained_by_metric", "excess_jump", "inconclusive")
ADJUSTMENTS: Final[tuple[str, ...]] = ("bh", "holm", "none")

#: Columns of :attr:`JumpTestResult.verdicts`, in order.
VERDICT_COLUMNS: Final[tuple[str, ...]] = (
    *CURVE_KEY,
    "metric",
    "metric_kind",
    "mode",
    "statistic",
    "primary",
    "n_sizes",
    "n_items",
    "n_choices",
    "observed",
    "predicted_q05",
    "predicted_q50",
    "predicted_q95",
    "excess_q05",
    "excess_q50",
    "excess_q95",
    "p_value",
    "p_lower",
    "p_adjusted",
    "elpd_diff",
    "elpd_se",
    "pareto_k_max",
    "step_p",
    "latent_break",
    "false_alarm",
    "power",
    "verdict",
    "reason",
)

_SERIES: Final[list[str]] = list(SERIES_KEY)
_CURVE: Final[list[str]] = list(CURVE_KEY)


@dataclass(frozen=True)
class VerdictRule:
    """The rule turning p-values into verdicts (see the module docstring).

    Attributes
    ----------
    alpha
        Level of the (adjusted) one-sided tests.
    adjust
        ``"bh"`` (Benjamini-Hochberg), ``"holm"`` or ``"none"``: how p-values of one mode's
        series are adjusted together.
    statistic
        The statistic the verdict is decided on.
    min_sizes
        Fewest distinct sizes a tested series needs.
    require_diagnostics
        Whether a fit failing its sampling diagnostics makes its rows ``inconclusive``.
    max_false_alarm
        With a calibration: the largest false-alarm rate of the nearest grid cell for which a
        verdict is given.
    min_power
        With a calibration: the smallest power of the nearest grid cell (either call, else the
        verdict's) for which ``explained_by_metric`` is given (rule 8).
    break_z, max_pareto_k
        Not used by the rule since 2026-12-05 (``latent_break`` was ``elpd_diff > break_z *
        elpd_se`` of the smooth-vs-broken LOO, withheld above ``max_pareto_k``; it is now the
        step test); kept so that results saved before then load unchanged.
    """

    alpha: float = 0.05
    adjust: str = "bh"
    statistic: str = PRIMARY_STATISTIC
    min_sizes: int = 3
    require_diagnostics: bool = True
    max_false_alarm: float = 0.10
    min_power: float = 0.80
    break_z: float = 2.0
    max_pareto_k: float = 0.7

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), not {self.alpha!r}")
        if self.adjust not in ADJUSTMENTS:
            raise ConfigError(
                f"adjust must be one of {', '.join(ADJUSTMENTS)}, not {self.adjust!r}"
            )
        if self.statistic not in STATISTICS:
            raise ConfigError(
                f"statistic must be one of {', '.join(STATISTICS)}, not {self.statistic!r}"
            )
        if self.min_sizes < 3:
            raise ConfigError(f"min_sizes must be at least 3, not {self.min_sizes!r}")

    def describe(self) -> str:
        """The rule in one paragraph, with its numbers."""
        adjustment = {
            "bh": "Benjamini-Hochberg (false discovery rate)",
            "holm": "Holm (family-wise error rate)",
            "none": "no adjustment",
        }[self.adjust]
        return (
            f"Per (series, mode), on the statistic {self.statistic!r}: inconclusive when the "
            f"series has fewer than {self.min_sizes} distinct sizes, lacks what the mode needs, "
            "has a row the model cannot map, or its fit failed"
            + (" or fails its sampling diagnostics" if self.require_diagnostics else "")
            + f"; otherwise the one-sided p = P(T_rep >= T_obs) of the series of one mode are "
            f"adjusted together by {adjustment}, and the verdict is excess_jump when the "
            f"adjusted p <= {self.alpha}, inconclusive when the adjusted lower tail "
            f"P(T_rep <= T_obs) <= {self.alpha} (the jump is smaller than the smooth model "
            "predicts), and explained_by_metric otherwise. With a calibration, a series whose "
            f"nearest simulated cell has a false-alarm rate above {self.max_false_alarm} is "
            "inconclusive, and so is an explained_by_metric series whose nearest cell finds "
            f"fewer than {self.min_power} of its simulated breaks. Beside the verdict, "
            "latent_break = 1 when the step test of the curve's posterior-mean cell deviations "
            "in the smooth fit (step_p, the p of a quadratic-plus-step against iid normal "
            "deviations, adjusted over the fit's curves the same way) is <= "
            f"{self.alpha} (NaN with fewer than 5 sizes or when the fit fails its "
            "diagnostics); it never changes the verdict."
        )


def adjust_p_values(p: Sequence[float] | np.ndarray, method: str = "bh") -> np.ndarray:
    """Adjust one-sided p-values for multiple testing; NaN entries are left out and kept NaN.

    Parameters
    ----------
    p
        The p-values.
    method
        ``"bh"`` (Benjamini-Hochberg step-up, :func:`scipy.stats.false_discovery_control`),
        ``"holm"`` (Holm step-down) or ``"none"``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1.

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    values = np.asarray(p, dtype=float)
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if method not in ADJUSTMENTS:
        raise ConfigError(f"method must be one of {', '.join(ADJUSTMENTS)}, not {method!r}")
    if not finite.any():
        return out
    kept = values[finite]
    if method == "none":
        adjusted = kept
    elif method == "bh":
        adjusted = stats.false_discovery_control(kept, method="bh")
    else:
        order = np.argsort(kept)
        m = kept.size
        stepped = np.maximum.accumulate((m - np.arange(m)) * kept[order])
        adjusted = np.empty(m)
        adjusted[order] = stepped
    out[finite] = np.minimum(adjusted, 1.0)
    return out


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JumpTestResult:
    """What :func:`jump_test` found.

    Attributes
    ----------
    verdicts
        One row per (series, mode, statistic): :data:`VERDICT_COLUMNS`. ``primary`` marks the
        rows of the statistic the verdict is decided on.
    rule
        The :class:`VerdictRule` applied; ``rule.describe()`` states it.
    fits
        The fits made (or given), by ``"<mode>/<model>"`` (``"cross_metric/smooth"``,
        ``"in_sample/broken"``, ...).
    diagnostics
        The diagnostics summary of every fit, by the same keys.
    notes
        Warnings raised while fitting (rows left out of a likelihood, assumed lengths, ...).
    settings
        The sampler and replicate settings used.
    """

    verdicts: pd.DataFrame
    rule: VerdictRule
    fits: dict[str, Fit] = field(default_factory=dict)
    diagnostics: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """One line per (series, mode): the primary statistic's verdict, excess and p."""
        rows = self.verdicts[self.verdicts["primary"]]
        columns = [
            "task",
            "subtask",
            "family",
            "shots",
            "metric",
            "mode",
            "verdict",
            "observed",
            "excess_q05",
            "excess_q50",
            "excess_q95",
            "p_value",
            "p_adjusted",
            "reason",
        ]
        return rows.loc[:, columns].reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Verdict counts per mode and metric kind (primary statistic)."""
        rows = self.verdicts[self.verdicts["primary"]]
        table = rows.groupby(["mode", "metric_kind", "verdict"]).size().unstack(fill_value=0)
        return table.reindex(columns=list(VERDICTS), fill_value=0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: the rule, settings, diagnostics, notes and verdict rows."""
        records = json.loads(self.verdicts.to_json(orient="records"))
        return {
            "rule": {**asdict(self.rule), "text": self.rule.describe()},
            "settings": self.settings,
            "diagnostics": _jsonable(self.diagnostics),
            "notes": list(self.notes),
            "verdicts": records,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | Path, *, fits: bool = True) -> Path:
        """Write ``verdicts.csv``, ``verdicts.json`` and (``fits``) ``fits/<mode>-<model>.zarr``.

        Returns the folder.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.verdicts.to_csv(folder / "verdicts.csv", index=False)
        (folder / "verdicts.json").write_text(self.to_json() + "\n", encoding="utf-8")
        if fits:
            for key, fitted in self.fits.items():
                fitted.save(folder / "fits" / f"{key.replace('/', '-')}.zarr")
        return folder


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------


@dataclass
class _Series:
    """One tested (curve, metric) series: its rows in the validated table and its status."""

    key: tuple[Any, ...]
    rows: np.ndarray
    sizes: np.ndarray
    n_items: float
    kind: str
    n_choices: float = math.nan
    reason: str = ""


def _series_of(table: pd.DataFrame) -> list[_Series]:
    from emergestats.models.prepare import row_choices

    tested = table[table["metric_kind"].isin(TESTED_KINDS)]
    out = []
    for key, rows in tested.groupby(_SERIES, sort=True, dropna=False):
        n_items = pd.to_numeric(rows["n_items"], errors="coerce").to_numpy(float, na_value=np.nan)
        finite = n_items[np.isfinite(n_items)]
        choices = row_choices(rows)
        choices = choices[np.isfinite(choices)]
        out.append(
            _Series(
                key=tuple(key),
                rows=rows.index.to_numpy(),
                sizes=np.unique(rows["params"].to_numpy(float)),
                n_items=float(np.median(finite)) if finite.size else math.nan,
                kind=str(rows["metric_kind"].iloc[0]),
                n_choices=float(np.median(choices)) if choices.size else math.nan,
            )
        )
    return out


def _curve_key(series: _Series) -> tuple[Any, ...]:
    return series.key[: len(_CURVE)]


def _rows_of_curves(table: pd.DataFrame, curves: set[tuple[Any, ...]]) -> pd.Series:
    keys = pd.Series(list(zip(*(table[c] for c in _CURVE), strict=True)), index=table.index)
    return keys.isin(curves)


def _fit_quietly(
    table: pd.DataFrame, model: str, settings: Mapping[str, Any], notes: list[str]
) -> Fit:
    from emergestats.inference.fit import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = fit(table.reset_index(drop=True), model, **settings)
    for note in caught:
        text = f"{model} fit: {note.message}"
        if text not in notes:
            notes.append(text)
    return result


def _fit_checked(
    table: pd.DataFrame,
    model: str,
    settings: Mapping[str, Any],
    notes: list[str],
    retry: bool,
) -> Fit:
    """Fit; if the fit fails its sampling diagnostics and ``retry``, refit once, as it needs.

    The refit answers the failure (:func:`refit_settings`): divergences or a stuck chain get
    ``target_accept`` 0.99 (smaller steps) and twice the tuning; a fit that only mixes slowly
    (R-hat, ESS or E-BFMI, no divergence) gets more draws and twice the tuning at the same step
    size. Always the next seed; whichever fit is returned, its own diagnostics decide (the first
    fit is discarded, never mixed in).
    """
    result = _fit_quietly(table, model, settings, notes)
    if not retry:
        return result
    summary = result.diagnostics_summary()
    if summary["passed"]:
        return result
    refit, how = refit_settings(settings, summary)
    notes.append(
        f"{model} fit failed its diagnostics ({'; '.join(summary['failures'])}); refitted once "
        f"with {how}"
    )
    return _fit_quietly(table, model, refit, notes)


def _loo_by_curve(smooth: Fit, broken: Fit) -> dict[tuple[Any, ...], tuple[float, float, float]]:
    """``(elpd_diff, se, worst k)`` per curve key from the two fits' cell-level PSIS-LOO."""
    from emergestats.inference.loo import compare_by_curve

    frame = compare_by_curve(smooth, broken)
    return {
        tuple(row[c] for c in _CURVE): (row["elpd_diff"], row["elpd_se"], row["pareto_k_max"])
        for row in frame.to_dict("records")
    }


def _training_table(
    mode: str, table: pd.DataFrame, series: list[_Series], min_sizes: int
) -> pd.DataFrame:
    """The rows the mode fits; marks series that cannot be tested (``series.reason``)."""
    open_series = [s for s in series if not s.reason]
    curves = {_curve_key(s) for s in open_series}
    mine = table[_rows_of_curves(table, curves)]
    if mode == "in_sample":
        return mine
    if mode == "cross_metric":
        continuous = mine[mine["metric_kind"].isin(CONTINUOUS_KINDS)]
        have = {
            tuple(k) for k in continuous.loc[:, _CURVE].drop_duplicates().itertuples(index=False)
        }
        for s in open_series:
            if _curve_key(s) not in have:
                s.reason = (
                    "no continuous metric (log-likelihood, Brier, edit distance) of the same "
                    "outputs to fit: cross_metric needs one"
                )
        return continuous
    # leave_future_out: per curve, the sizes up to the earliest largest jump of its metrics
    cutoff: dict[tuple[Any, ...], float] = {}
    for s in open_series:
        rows = table.loc[s.rows]
        scores = rows.groupby("params")["score"].mean().sort_index()
        steps = np.diff(scores.to_numpy())
        before = float(scores.index[int(np.argmax(steps))])
        key = _curve_key(s)
        cutoff[key] = min(cutoff.get(key, math.inf), before)
    for s in open_series:
        n_before = int(np.sum(s.sizes <= cutoff[_curve_key(s)]))
        if n_before < min_sizes - 1:
            s.reason = (
                f"only {n_before} size(s) up to the largest jump: leave_future_out needs at "
                f"least {min_sizes - 1} to fit"
            )
    keep = {_curve_key(s) for s in open_series if not s.reason}
    frame = mine[_rows_of_curves(mine, keep)]
    limit = np.array(
        [cutoff[k] for k in zip(*(frame[c] for c in _CURVE), strict=True)], dtype=float
    )
    return frame[frame["params"].to_numpy(float) <= limit]


def _empty_record(s: _Series, mode: str, statistic: str, rule: VerdictRule) -> dict[str, Any]:
    record: dict[str, Any] = dict(zip(_SERIES, s.key, strict=True))
    record.update(
        metric_kind=s.kind,
        mode=mode,
        statistic=statistic,
        primary=statistic == rule.statistic,
        n_sizes=int(s.sizes.size),
        n_items=s.n_items,
        n_choices=s.n_choices,
    )
    for column in VERDICT_COLUMNS:
        record.setdefault(column, np.nan)
    record["verdict"] = "inconclusive"
    record["reason"] = s.reason
    return record


def _run_mode(
    mode: str,
    table: pd.DataFrame,
    series: list[_Series],
    *,
    given_fit: Fit | None,
    rule: VerdictRule,
    compare_broken: bool,
    n_replicates: int,
    fit_settings: Mapping[str, Any],
    random_seed: int | None,
    fits: dict[str, Fit],
    diagnostics: dict[str, dict[str, Any]],
    notes: list[str],
    retry: bool = True,
) -> list[dict[str, Any]]:
    training = _training_table(mode, table, series, rule.min_sizes)
    open_series = [s for s in series if not s.reason]
    smooth: Fit | None = None
    loo_rows: dict[tuple[Any, ...], tuple[float, float, float]] = {}
    failure = ""
    if open_series:
        try:
            if mode == "in_sample" and given_fit is not None:
                smooth = given_fit
            else:
                smooth = _fit_checked(training, "smooth", fit_settings, notes, retry)
            fits[f"{mode}/smooth"] = smooth
            diagnostics[f"{mode}/smooth"] = smooth.diagnostics_summary()
            if compare_broken and mode != "leave_future_out":
                broken = _fit_checked(smooth.table, "broken", fit_settings, notes, retry)
                fits[f"{mode}/broken"] = broken
                diagnostics[f"{mode}/broken"] = broken.diagnostics_summary()
                loo_rows = _loo_by_curve(smooth, broken)
        except EmergestatsError as error:
            failure = f"the {mode} fit failed: {error}"
    records: list[dict[str, Any]] = []
    if smooth is None or failure:
        for s in series:
            s.reason = s.reason or failure or "nothing to fit"
    else:
        summary = diagnostics[f"{mode}/smooth"]
        failed = ""
        if rule.require_diagnostics and not summary["passed"]:
            failed = f"the {mode} smooth fit fails its diagnostics: " + "; ".join(
                summary["failures"]
            )
        breaks: dict[tuple[Any, ...], tuple[float, float]] = {}
        if mode != "leave_future_out":
            breaks = latent_breaks(
                smooth,
                rule,
                n_null=max(n_replicates, 4000),
                random_seed=random_seed,
                fit_passed=bool(summary["passed"]),
            )
        # the statistics are computed even for a failed fit: the reason then withholds the verdict
        records.extend(
            _predict_and_score(
                mode,
                table,
                series,
                smooth,
                rule,
                n_replicates,
                random_seed,
                loo_rows,
                failed,
                breaks,
            )
        )
    done = {(r["mode"], *(r[c] for c in _SERIES)) for r in records}
    for s in series:
        if (mode, *s.key) not in done:
            records.extend(_empty_record(s, mode, stat, rule) for stat in STATISTICS)
    return records


def _predict_and_score(
    mode: str,
    table: pd.DataFrame,
    series: list[_Series],
    smooth: Fit,
    rule: VerdictRule,
    n_replicates: int,
    random_seed: int | None,
    loo_rows: Mapping[tuple[Any, ...], tuple[float, float, float]],
    failed: str,
    breaks: Mapping[tuple[Any, ...], tuple[float, float]],
) -> list[dict[str, Any]]:
    """Replicates of every open series at its own rows; the statistics and tail probabilities."""
    open_series = [s for s in series if not s.reason]
    if not open_series:
        return []
    rows = np.concatenate([s.rows for s in open_series])
    wanted = table.loc[rows].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # predict_rows takes nanmean/nanquantile over rows it cannot map (all NaN), which warns
        # "Mean of empty slice"; those rows carry their reason, read below
        warnings.simplefilter("ignore", RuntimeWarning)
        # replicate curves of the smooth latent: fresh cell deviations (see the module notes)
        predicted = smooth.predict_table(
            wanted,
            max_draws=n_replicates,
            return_draws=True,
            random_seed=random_seed,
            cell_deviations="fresh",
        )
    assert isinstance(predicted, tuple)
    frame, draws = predicted
    # predict_table validates (and may reorder) the rows: find each series' rows in its frame
    located = frame.reset_index(drop=True).groupby(_SERIES, sort=False, dropna=False).indices
    records: list[dict[str, Any]] = []
    for s in open_series:
        positions = np.asarray(located[s.key])
        reasons = [r for r in frame["reason"].to_numpy()[positions] if r]
        if reasons:
            s.reason = f"the model cannot map this metric: {reasons[0]}"
            continue
        scale = frame["params"].to_numpy(float)[positions]
        observed = frame["score"].to_numpy(float)[positions]
        replicates = draws[:, positions]
        delta = score_resolution(frame["n_items"].to_numpy(dtype=float, na_value=np.nan)[positions])
        obs = jump_statistics_of_replicates(scale, observed, resolution=delta)
        rep = jump_statistics_of_replicates(scale, replicates, resolution=delta)
        elpd = loo_rows.get(_curve_key(s), (np.nan, np.nan, np.nan))
        step_p, latent_break = breaks.get(_curve_key(s), (np.nan, np.nan))
        for statistic in STATISTICS:
            t_obs = float(obs[statistic])
            t_rep = rep[statistic]
            t_rep = t_rep[np.isfinite(t_rep)]
            record = _empty_record(s, mode, statistic, rule)
            q05, q50, q95 = np.quantile(t_rep, [0.05, 0.5, 0.95])
            record.update(
                observed=t_obs,
                predicted_q05=q05,
                predicted_q50=q50,
                predicted_q95=q95,
                excess_q05=t_obs - q95,
                excess_q50=t_obs - q50,
                excess_q95=t_obs - q05,
                p_value=(1.0 + np.sum(t_rep >= t_obs)) / (1.0 + t_rep.size),
                p_lower=(1.0 + np.sum(t_rep <= t_obs)) / (1.0 + t_rep.size),
                elpd_diff=elpd[0],
                elpd_se=elpd[1],
                pareto_k_max=elpd[2],
                step_p=step_p,
                latent_break=latent_break,
                reason=failed,
            )
            records.append(record)
        s.reason = failed
    return records


def latent_breaks(
    smooth: Fit,
    rule: VerdictRule,
    *,
    n_null: int,
    random_seed: int | None,
    fit_passed: bool,
) -> dict[tuple[Any, ...], tuple[float, float]]:
    """Rule 7 per curve of a smooth fit: ``(step_p, latent_break)``.

    ``step_p`` is the step test of the curve's posterior-mean cell deviations
    (:func:`emergestats.mirage.breaks.step_test_p`, ``n_null`` null draws; NaN with fewer than
    5 sizes). The ``step_p`` of the fit's curves are adjusted together by ``rule.adjust``;
    ``latent_break`` is 1 where the adjusted p <= ``rule.alpha``, 0 elsewhere, NaN where
    ``step_p`` is NaN or the fit fails its diagnostics (``fit_passed`` false).
    """
    from emergestats.mirage.breaks import step_test_p

    prepared = smooth.prepared
    posterior = smooth.posterior
    if not hasattr(prepared, "cell_curve") or "cell_deviation" not in posterior:
        return {}  # the item model has no cell deviations
    deviations = (
        posterior["cell_deviation"]
        .stack(sample=("chain", "draw"))
        .transpose("sample", "cell")
        .to_numpy()
    )
    rng = np.random.default_rng(random_seed)
    cell_curve = np.asarray(prepared.cell_curve)
    cell_x = np.asarray(prepared.cell_x, dtype=float)  # type: ignore[union-attr]
    curves = prepared.curves
    keys, p_values = [], []
    for curve in range(len(curves)):
        cells = np.flatnonzero(cell_curve == curve)
        key = tuple(curves[column].iloc[curve] for column in _CURVE)
        keys.append(key)
        p_values.append(
            step_test_p(deviations[:, cells], cell_x[cells], rng=rng, n_null=n_null)
            if cells.size
            else math.nan
        )
    p = np.asarray(p_values, dtype=float)
    adjusted = adjust_p_values(p, rule.adjust)
    flags = np.where(np.isfinite(adjusted) & fit_passed, (adjusted <= rule.alpha) * 1.0, np.nan)
    return {key: (float(pv), float(flag)) for key, pv, flag in zip(keys, p, flags, strict=True)}


def _apply_rule(frame: pd.DataFrame, rule: VerdictRule) -> pd.DataFrame:
    """Adjust p-values per mode over testable series and write the verdicts (module docstring)."""
    frame = frame.copy()
    frame["p_adjusted"] = np.nan
    primary = frame["primary"].to_numpy(bool)
    testable = primary & (frame["reason"].fillna("") == "").to_numpy()
    verdict = np.full(len(frame), "inconclusive", dtype=object)
    reason = frame["reason"].fillna("").to_numpy(dtype=object)
    for mode in frame["mode"].unique():
        mine = np.flatnonzero(testable & (frame["mode"] == mode).to_numpy())
        if not mine.size:
            continue
        upper = adjust_p_values(frame["p_value"].to_numpy(float)[mine], rule.adjust)
        lower = adjust_p_values(frame["p_lower"].to_numpy(float)[mine], rule.adjust)
        frame.loc[frame.index[mine], "p_adjusted"] = upper
        for position, p_up, p_low in zip(mine, upper, lower, strict=True):
            if p_up <= rule.alpha:
                verdict[position] = "excess_jump"
            elif p_low <= rule.alpha:
                reason[position] = (
                    f"the observed jump is smaller than the smooth model predicts (adjusted "
                    f"lower-tail p {p_low:.3g} <= {rule.alpha}): the model does not describe "
                    "this metric"
                )
            else:
                verdict[position] = "explained_by_metric"
    frame["verdict"] = verdict
    frame["reason"] = reason
    # the other statistics' rows carry their series' verdict
    key = [*_SERIES, "mode"]
    decided = frame.loc[primary, [*key, "verdict", "reason", "p_adjusted"]]
    merged = frame.drop(columns=["verdict", "reason", "p_adjusted"]).merge(
        decided, on=key, how="left", validate="many_to_one"
    )
    merged["p_adjusted"] = np.where(merged["primary"].to_numpy(bool), merged["p_adjusted"], np.nan)
    return merged


def _calibration_lookup(frame: pd.DataFrame, calibration: Any, rule: VerdictRule) -> pd.DataFrame:
    """Attach the nearest calibration cell's false alarm and power; apply rules 6 and 8."""
    from emergestats.mirage.calibration import nearest_cells

    frame = frame.copy()
    cells = nearest_cells(frame, calibration)
    frame["false_alarm"] = cells["false_alarm"].to_numpy()
    frame["power"] = cells["power"].to_numpy()
    bad = (frame["false_alarm"] > rule.max_false_alarm).to_numpy() & (
        frame["verdict"] != "inconclusive"
    ).to_numpy()
    frame.loc[bad, "verdict"] = "inconclusive"
    frame.loc[bad, "reason"] = [
        f"calibration: the nearest simulated cell ({cell}) has false-alarm rate {fa:.2f} > "
        f"{rule.max_false_alarm}"
        for cell, fa in zip(cells["cell"][bad], frame["false_alarm"][bad], strict=True)
    ]
    found = cells["power_any"].to_numpy(float)
    found = np.where(np.isfinite(found), found, frame["power"].to_numpy(float))
    weak = (found < rule.min_power) & (frame["verdict"] == "explained_by_metric").to_numpy()
    frame.loc[weak, "verdict"] = "inconclusive"
    frame.loc[weak, "reason"] = [
        f"calibration: at the nearest simulated cell ({cell}) the test finds {rate:.2f} of the "
        f"simulated breaks (< {rule.min_power}): a break of that size could hide behind "
        "'explained_by_metric'"
        for cell, rate in zip(cells["cell"][weak], found[weak], strict=True)
    ]
    return frame


def _combine(results: Sequence[JumpTestResult], rule: VerdictRule) -> JumpTestResult:
    """One result from per-mode results (each mode's verdicts are final on their own)."""
    settings = dict(results[0].settings)
    settings["modes"] = [m for r in results for m in r.settings["modes"]]
    return JumpTestResult(
        verdicts=pd.concat([r.verdicts for r in results], ignore_index=True),
        rule=rule,
        fits={k: v for r in results for k, v in r.fits.items()},
        diagnostics={k: v for r in results for k, v in r.diagnostics.items()},
        notes=tuple(dict.fromkeys(n for r in results for n in r.notes)),
        settings=settings,
    )


def jump_test(
    table: pd.DataFrame,
    *,
    fit: Fit | None = None,
    modes: Sequence[str] = MODES,
    rule: VerdictRule | None = None,
    compare_broken: bool = True,
    n_replicates: int = 1000,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    calibration: Any = None,
    client: Client | None = None,
    retry_failed: bool = True,
    **fit_options: Any,
) -> JumpTestResult:
    """The mirage test of every discontinuous or nonlinear metric series of a table.

    Parameters
    ----------
    table
        A canonical evaluation table (:mod:`emergestats.data.table`). Series of the kinds in
        :data:`TESTED_KINDS` are tested; the other rows are evidence for the fits. Where a
        ``step`` column holds several training checkpoints of a (family, size), only the last
        is used (:func:`~emergestats.data.table.drop_intermediate_checkpoints`: the rest are
        counted in an :class:`~emergestats.errors.AssumptionWarning`).
    fit
        A smooth fit of ``table`` to use for the ``in_sample`` mode instead of fitting it here.
    modes
        Any of :data:`MODES` (default all three; see the module docstring).
    rule
        The verdict rule (default :class:`VerdictRule`: alpha 0.05, Benjamini-Hochberg).
    compare_broken
        Also fit the broken model in the ``cross_metric`` and ``in_sample`` modes and report
        the smooth-vs-broken PSIS-LOO per curve (doubles the sampling).
    n_replicates
        Posterior-predictive replicate curves per series (posterior draws used; at most
        ``draws * chains``).
    draws, tune, chains
        Sampler settings of every fit made here.
    random_seed
        Seed of the fits and of the replicates.
    calibration
        A :class:`~emergestats.mirage.calibration.CalibrationResult`; see rule 6.
    client
        A ``distributed.Client``: each mode then runs as one task on its cluster (the rule
        adjusts p-values within a mode, so the verdicts are those of one local run).
    retry_failed
        Refit once a fit that fails its sampling diagnostics, before rule 1 withholds its
        verdicts (default ``True``): ``target_accept`` 0.99 after divergences, more draws for a
        fit that only mixes slowly; twice the tuning and the next seed either way
        (:func:`refit_settings`).
    **fit_options
        Passed to :func:`emergestats.fit` (``sampler``, ``lengths``, ``floor``,
        ``target_accept``, ...).

    Returns
    -------
    JumpTestResult
        The verdict table, the rule, the fits made and their diagnostics.

    Raises
    ------
    DataFormatError
        If the table has no row of a tested kind (naming the ``metric_kind`` column).
    ConfigError
        If a mode is unknown or ``fit`` is not a smooth evaluation fit.

    Examples
    --------
    >>> result = jump_test(es.datasets.load("ladder"), modes=["cross_metric"])  # doctest: +SKIP
    >>> result.summary[["metric", "verdict", "excess_q50", "p_value"]]  # doctest: +SKIP
    """
    rule = rule or VerdictRule()
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(
            f"unknown mode(s) {', '.join(map(repr, unknown)) or '(none given)'}; use any of "
            f"{', '.join(MODES)}"
        )
    if fit is not None and fit.model_name != "smooth":
        raise ConfigError(f"fit must be a smooth-model fit, not a {fit.model_name!r} one")
    if n_replicates < 20:
        raise ConfigError(f"n_replicates must be at least 20, not {n_replicates}")
    # the fit reads a size's early checkpoints as huge model deviations (the whole ``pythia``
    # table's LAMBADA fit: R-hat 3.8); row numbers in reasons stay the whole table's
    checked = drop_intermediate_checkpoints(
        validate(table).reset_index(drop=True), analysis="the jump test"
    )
    kinds = checked["metric_kind"].astype(str)
    if not kinds.isin(TESTED_KINDS).any():
        raise DataFormatError(
            f"no row has a tested metric kind ({', '.join(TESTED_KINDS)}) in column "
            f"'metric_kind' (found {', '.join(sorted(kinds.unique()))}); the mirage test needs "
            "a discontinuous or nonlinear metric",
            column="metric_kind",
        )
    if client is not None and len(dict.fromkeys(modes)) > 1:
        futures = [
            client.submit(
                jump_test,
                checked,
                fit=fit,
                modes=(mode,),
                rule=rule,
                compare_broken=compare_broken,
                n_replicates=n_replicates,
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=random_seed,
                calibration=calibration,
                retry_failed=retry_failed,
                pure=False,
                **fit_options,
            )
            for mode in dict.fromkeys(modes)
        ]
        return _combine(client.gather(futures), rule)
    fit_settings: dict[str, Any] = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        **fit_options,
    }
    fits: dict[str, Fit] = {}
    diagnostics: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    records: list[dict[str, Any]] = []
    for mode in dict.fromkeys(modes):
        series = _series_of(checked)
        for s in series:
            if s.sizes.size < rule.min_sizes:
                s.reason = (
                    f"only {s.sizes.size} distinct size(s) ({format_rows(s.rows.tolist())}): "
                    f"the jump statistics need at least {rule.min_sizes}"
                )
        records.extend(
            _run_mode(
                mode,
                checked,
                series,
                given_fit=fit,
                rule=rule,
                compare_broken=compare_broken,
                n_replicates=n_replicates,
                fit_settings=fit_settings,
                random_seed=random_seed,
                fits=fits,
                diagnostics=diagnostics,
                notes=notes,
                retry=retry_failed and rule.require_diagnostics,
            )
        )
    frame = pd.DataFrame.from_records(records, columns=list(VERDICT_COLUMNS))
    frame = _apply_rule(frame, rule)
    if calibration is not None:
        frame = _calibration_lookup(frame, calibration, rule)
    frame = frame.loc[:, list(VERDICT_COLUMNS)]
    frame["primary"] = frame["primary"].astype(bool)
    frame["n_sizes"] = frame["n_sizes"].astype(np.int64)
    settings = {
        "modes": list(dict.fromkeys(modes)),
        "n_replicates": n_replicates,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        "compare_broken": compare_broken,
        "fit_options": {k: v for k, v in fit_options.items() if k != "lengths"},
    }
    return JumpTestResult(
        verdicts=frame,
        rule=rule,
        fits=fits,
        diagnostics=diagnostics,
        notes=tuple(notes),
        settings=_jsonable(settings),
    )
