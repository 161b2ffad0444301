"""The mirage test: does a jump exceed what the metric alone predicts, and how often is it wrong?

Modules:

- :mod:`~emergestats.mirage.statistics`: the jump statistics of an observed curve and of its
  posterior-predictive replicates (vectorised over :mod:`emergestats.emergence`'s formulas);
- :mod:`~emergestats.mirage.jumps`: :func:`jump_test` (three modes), the verdict rule
  (:class:`VerdictRule`) and :class:`JumpTestResult`;
- :mod:`~emergestats.mirage.calibration`: :func:`calibrate`, false-alarm rate and power on the
  item-level simulator, run on ``dask.distributed``;
- :mod:`~emergestats.mirage.extrapolation`: the largest models of real families held out and
  predicted by the model and by the field's baselines (:mod:`emergestats.baselines`), on Dask.
"""

from __future__ import annotations

from emergestats.mirage.calibration import (
    CalibrationResult,
    calibrate,
    default_grid,
    summarise_calibration,
)
from emergestats.mirage.jumps import (
    CONTINUOUS_KINDS,
    MODES,
    TESTED_KINDS,
    VERDICT_COLUMNS,
    VERDICTS,
    JumpTestResult,
    VerdictRule,
    adjust_p_values,
    jump_test,
)
from emergestats.mirage.statistics import PRIMARY_STATISTIC, STATISTICS

__all__ = [
    "CONTINUOUS_KINDS",
    "MODES",
    "PRIMARY_STATISTIC",
    "STATISTICS",
    "TESTED_KINDS",
    "VERDICTS",
    "VERDICT_COLUMNS",
    "CalibrationResult",
    "JumpTestResult",
    "VerdictRule",
    "adjust_p_values",
    "calibrate",
    "default_grid",
    "jump_test",
    "summarise_calibration",
]
