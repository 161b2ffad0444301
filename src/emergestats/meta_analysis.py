"""Meta-analysis of many curves: how often "emergence" appears, per metric kind, with uncertainty.

Schaeffer, Miranda & Koyejo (2023, section 4) read BIG-bench's curves by their classic
*emergence score* and found the high scores concentrated in a few metrics (exact string match,
multiple-choice grade). This module turns that count into an estimate:

- :func:`high_emergence` marks a curve whose emergence score exceeds ``factor`` times what an
  even, steady rise over the same points gives (``n_points - 1``: see
  :mod:`emergestats.emergence`); with the default ``factor = 2`` the curve made its rise in
  less than half the steps a steady one would need. Curves with fewer than 3 points have no
  score and are left out (counted in ``n_short``).
- :func:`emergence_shares` gives the share of such curves per group (source and metric kind)
  with a **cluster bootstrap over tasks**: the curves of one task (its families, subtasks and
  shot settings) are not independent draws, so tasks are resampled, not curves.
- :func:`verdict_shares` counts the mirage test's verdicts per group with 90% Jeffreys
  intervals (of all tested series, and of the decided ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from emergestats.errors import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_FACTOR",
    "emergence_shares",
    "high_emergence",
    "paired_emergence",
    "verdict_shares",
]

#: A curve is "highly emergent" when its emergence score exceeds this many times ``n - 1``.
DEFAULT_FACTOR: Final[float] = 2.0


def high_emergence(jumps: pd.DataFrame, *, factor: float = DEFAULT_FACTOR) -> pd.Series:
    """Whether each curve's emergence score exceeds ``factor * (n_points - 1)``.

    ``jumps`` is a :func:`emergestats.emergence.jump_table`; curves with fewer than 3 points
    (no score) are ``False``. An infinite score (a pure step) is high.
    """
    missing = [c for c in ("emergence_score", "n_points") if c not in jumps.columns]
    if missing:
        raise DataFormatError(
            f"high_emergence needs column(s) {', '.join(missing)} of a jump_table",
            column=missing[0],
        )
    if not factor > 0:
        raise ConfigError(f"factor must be positive, not {factor}")
    score = jumps["emergence_score"].to_numpy(float)
    points = jumps["n_points"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        return pd.Series(score > factor * (points - 1), index=jumps.index, name="high_emergence")


def emergence_shares(
    jumps: pd.DataFrame,
    *,
    by: Sequence[str] = ("source", "metric_kind"),
    cluster: str = "task",
    factor: float = DEFAULT_FACTOR,
    n_boot: int = 2000,
    level: float = 0.9,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Share of curves with a high emergence score per group, bootstrapped over ``cluster``.

    Parameters
    ----------
    jumps
        A :func:`~emergestats.emergence.jump_table` (with the ``by`` columns added, e.g. a
        ``source`` column when several tables are pooled).
    by
        Columns of one group.
    cluster
        The resampling unit (default ``task``): within each group, ``n_tasks`` tasks are drawn
        with replacement ``n_boot`` times and the share recomputed over their curves.
    factor
        See :func:`high_emergence`.
    n_boot, level, random_seed
        Bootstrap replicates, interval level and seed.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n_curves`` (with a score), ``n_short``
        (curves with fewer than 3 points, left out), ``n_tasks``, ``n_high``, ``share_high``
        with its percentile interval ``share_q05`` / ``share_q95`` (for ``level`` 0.9; NaN
        for a group of one task, whose between-task spread cannot be estimated),
        ``n_step`` (infinite scores: more than half the steps flat) and
        ``median_score`` (of the finite scores).
    """
    by = list(by)
    missing = [c for c in [*by, cluster] if c not in jumps.columns]
    if missing:
        raise DataFormatError(
            f"emergence_shares needs column(s) {', '.join(missing)}", column=missing[0]
        )
    if n_boot < 1 or not 0 < level < 1:
        raise ConfigError(f"n_boot must be >= 1 and level in (0, 1), not {n_boot} and {level}")
    tail = (1 - level) / 2
    rng = np.random.default_rng(random_seed)
    scored = jumps["n_points"].to_numpy(float) >= 3
    high = high_emergence(jumps, factor=factor).to_numpy()
    frame = jumps.assign(_scored=scored, _high=high)
    rows = []
    for key, group in frame.groupby(by, sort=True, dropna=False):
        keys = key if isinstance(key, tuple) else (key,)
        curves = group[group["_scored"]]
        row: dict[str, object] = dict(zip(by, keys, strict=True))
        row["n_curves"] = len(curves)
        row["n_short"] = int((~group["_scored"]).sum())
        n_tasks = int(curves[cluster].nunique())
        row["n_tasks"] = n_tasks
        row["n_high"] = int(curves["_high"].sum())
        row["share_high"] = float(curves["_high"].mean()) if len(curves) else np.nan
        if n_tasks >= 2:
            per_task = curves.groupby(cluster, sort=True)["_high"].agg(["sum", "size"])
            hits, sizes = per_task["sum"].to_numpy(float), per_task["size"].to_numpy(float)
            draws = rng.integers(0, len(per_task), size=(n_boot, len(per_task)))
            shares = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
            row["share_q05"], row["share_q95"] = np.quantile(shares, [tail, 1 - tail]).tolist()
        else:
            row["share_q05"] = row["share_q95"] = np.nan
        score = curves["emergence_score"].to_numpy(float)
        row["n_step"] = int(np.isinf(score).sum())
        finite = score[np.isfinite(score)]
        row["median_score"] = float(np.median(finite)) if finite.size else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_shares(
    verdicts: pd.DataFrame, *, by: Sequence[str] = ("metric_kind",), level: float = 0.9
) -> pd.DataFrame:
    """The mirage test's verdicts counted per group, with Jeffreys intervals.

    Returns one row per group: ``n`` (series tested), the count of each verdict
    (``excess_jump``, ``explained_by_metric``, ``inconclusive``), ``share_excess`` of all
    series with its interval (``excess_q05``, ``excess_q95``), and ``share_excess_decided``
    (of the series with a verdict other than ``inconclusive``).
    """
    from emergestats.mirage.calibration import proportion_interval

    by = list(by)
    missing = [c for c in [*by, "verdict"] if c not in verdicts.columns]
    if missing:
        raise DataFormatError(
            f"verdict_shares needs column(s) {', '.join(missing)}", column=missing[0]
        )
    rows = []
    for key, group in verdicts.groupby(by, sort=True, dropna=False):
        keys = key if isinstance(key, tuple) else (key,)
        counts = group["verdict"].value_counts()
        excess = int(counts.get("excess_jump", 0))
        explained = int(counts.get("explained_by_metric", 0))
        low, high = proportion_interval(excess, len(group), level)
        decided = excess + explained
        rows.append(
            {
                **dict(zip(by, keys, strict=True)),
                "n": len(group),
                "excess_jump": excess,
                "explained_by_metric": explained,
                "inconclusive": int(counts.get("inconclusive", 0)),
                "share_excess": excess / len(group),
                "excess_q05": low,
                "excess_q95": high,
                "share_excess_decided": excess / decided if decided else np.nan,
            }
        )
    return pd.DataFrame(rows)


def paired_emergence(
    jumps: pd.DataFrame,
    first: str,
    second: str,
    *,
    key: Sequence[str] = ("source", "task", "subtask", "family", "shots"),
    factor: float = DEFAULT_FACTOR,
) -> pd.DataFrame:
    """Curves of two metric kinds of the *same outputs*, side by side: which is highly emergent?

    Pairs every curve of kind ``first`` with the curve of kind ``second`` that has the same
    ``key`` (one task, family and setting scored two ways), where both have a score (>= 3
    points). Returns one row per pair: the key, ``n_points``, ``score_<first>``,
    ``score_<second>``, ``high_<first>``, ``high_<second>``. A key with several curves of one
    kind (e.g. difficulty groups without a key column) is an error: add the column to ``key``.
    """
    key = list(key)
    marked = jumps.assign(_high=high_emergence(jumps, factor=factor))
    marked = marked[marked["n_points"] >= 3]
    sides = []
    for kind in (first, second):
        side = marked[marked["metric_kind"] == kind]
        doubled = side.duplicated(key, keep=False)
        if doubled.any():
            example = side.loc[doubled, key].iloc[0].tolist()
            raise DataFormatError(
                f"several {kind} curves share the key {dict(zip(key, example, strict=True))}; "
                "add the column that tells them apart to key"
            )
        sides.append(
            side[[*key, "n_points", "emergence_score", "_high"]].rename(
                columns={"emergence_score": f"score_{kind}", "_high": f"high_{kind}"}
            )
        )
    pairs = sides[0].merge(sides[1].drop(columns="n_points"), on=key, how="inner")
    return pairs.reset_index(drop=True)
