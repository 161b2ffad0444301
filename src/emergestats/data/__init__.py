"""Canonical tables, their validation, and readers for each real result format."""

from emergestats.data.bigbench import (
    answer_length,
    read_bigbench_items,
    read_bigbench_results,
    read_bigbench_tasks,
)
from emergestats.data.choices import choice_task, item_count
from emergestats.data.expemergence import read_expemergence
from emergestats.data.lengths import (
    default_lengths,
    gpt3_arithmetic_length_distribution,
    gpt3_arithmetic_lengths,
    unknown_length_tasks,
)
from emergestats.data.lm_eval import read_lm_eval, read_lm_eval_samples
from emergestats.data.model_sizes import params_for
from emergestats.data.obsscaling import read_obsscaling
from emergestats.data.open_lm import read_open_lm
from emergestats.data.table import (
    CURVE_KEY,
    EVALUATION_COLUMNS,
    ITEM_COLUMNS,
    METRIC_KINDS,
    OPTIONAL_EVALUATION_COLUMNS,
    SERIES_KEY,
    UNITS,
    brier_form,
    metric_kind_of,
    read_table,
    to_dataset,
    validate,
    validate_items,
    write_table,
)

__all__ = [
    "CURVE_KEY",
    "EVALUATION_COLUMNS",
    "ITEM_COLUMNS",
    "METRIC_KINDS",
    "OPTIONAL_EVALUATION_COLUMNS",
    "SERIES_KEY",
    "UNITS",
    "answer_length",
    "brier_form",
    "choice_task",
    "default_lengths",
    "gpt3_arithmetic_length_distribution",
    "gpt3_arithmetic_lengths",
    "item_count",
    "metric_kind_of",
    "params_for",
    "read_bigbench_items",
    "read_bigbench_results",
    "read_bigbench_tasks",
    "read_expemergence",
    "read_lm_eval",
    "read_lm_eval_samples",
    "read_obsscaling",
    "read_open_lm",
    "read_table",
    "to_dataset",
    "unknown_length_tasks",
    "validate",
    "validate_items",
    "write_table",
]
