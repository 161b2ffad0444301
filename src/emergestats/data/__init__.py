"""Canonical tables, their validation, and readers for each real result format."""

from emergestats.data.table import (
    CURVE_KEY,
    EVALUATION_COLUMNS,
    ITEM_COLUMNS,
    METRIC_KINDS,
    OPTIONAL_EVALUATION_COLUMNS,
    SERIES_KEY,
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
    "metric_kind_of",
    "read_table",
    "to_dataset",
    "validate",
    "validate_items",
    "write_table",
]
