"""The canonical evaluation and item tables: validation, I/O round trips, the xarray view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emergestats.data import (
    EVALUATION_COLUMNS,
    OPTIONAL_EVALUATION_COLUMNS,
    metric_kind_of,
    read_table,
    to_dataset,
    validate,
    validate_items,
    write_table,
)
from emergestats.data.table import BRIER_FORMS, UNITS, brier_form
from emergestats.errors import DataFormatError, EmptyInputError


def evaluation_rows() -> pd.DataFrame:
    """Two curves (one with two metrics) over three sizes."""
    rows = []
    for model, params in (("s", 1e7), ("m", 1e8), ("l", 1e9)):
        for metric, kind, score in (
            ("exact_str_match", "exact_match", {"s": 0.0, "m": 0.1, "l": 0.6}[model]),
            ("log_likelihood", "log_likelihood", {"s": -9.0, "m": -5.0, "l": -2.0}[model]),
        ):
            rows.append(
                (
                    "arithmetic",
                    "2_digit_addition",
                    "F",
                    model,
                    params,
                    2,
                    metric,
                    kind,
                    score,
                    500,
                    0.0 if kind == "exact_match" else np.nan,
                    "test",
                )
            )
        rows.append(
            (
                "qa",
                "qa",
                "F",
                model,
                params,
                0,
                "multiple_choice_grade",
                "multiple_choice_grade",
                0.3,
                100,
                0.25,
                "test",
            )
        )
    return pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))


def test_validate_returns_canonical_dtypes() -> None:
    table = validate(evaluation_rows())
    assert list(table.columns) == list(EVALUATION_COLUMNS)
    assert table["shots"].dtype == np.int64
    assert str(table["n_items"].dtype) == "Int64"
    assert table["params"].dtype == float
    assert len(table) == 9


@pytest.mark.parametrize(
    ("mutate", "column", "needle"),
    [
        (lambda df: df.drop(columns="chance"), "chance", "missing column"),
        (
            lambda df: df.assign(params=df["params"].where(df.index != 4, -1.0)),
            "params",
            "not positive in row 4",
        ),
        (
            lambda df: df.assign(score=df["score"].where(df.index != 2, np.nan)),
            "score",
            "not finite",
        ),
        (
            lambda df: df.assign(score=df["score"].astype(object).where(df.index != 1, "abc")),
            "score",
            "not numeric in row 1",
        ),
        (
            lambda df: df.assign(metric_kind=df["metric_kind"].where(df.index != 3, "fancy")),
            "metric_kind",
            "unknown value 'fancy'",
        ),
        (
            lambda df: df.assign(score=df["score"].where(df.index != 0, 45.0)),
            "score",
            "outside [0.0, 1.0]",
        ),
        (
            lambda df: df.assign(shots=df["shots"].astype(float).where(df.index != 0, 1.5)),
            "shots",
            "integer",
        ),
        (
            lambda df: df.assign(n_items=df["n_items"].where(df.index != 5, 0)),
            "n_items",
            "invalid values in row 5",
        ),
        (
            lambda df: df.assign(task=df["task"].where(df.index != 6, None)),
            "task",
            "empty in row 6",
        ),
    ],
)
def test_validate_names_column_and_rows(mutate, column, needle) -> None:
    with pytest.raises(DataFormatError) as info:
        validate(mutate(evaluation_rows()), path="bad.csv")
    message = str(info.value)
    assert message.startswith("bad.csv: ")
    assert repr(column) in message
    assert needle in message
    assert info.value.column == column


def test_validate_rejects_duplicate_keys_and_empty() -> None:
    rows = evaluation_rows()
    with pytest.raises(DataFormatError, match="repeat the same"):
        validate(pd.concat([rows, rows.iloc[[0]]]))
    with pytest.raises(EmptyInputError, match="empty"):
        validate(rows.iloc[:0])


def test_csv_and_parquet_round_trip(tmp_path) -> None:
    table = validate(evaluation_rows())
    for name in ("t.csv", "t.parquet"):
        path = write_table(table, tmp_path / name)
        back = read_table(path)
        pd.testing.assert_frame_equal(back, table)


def test_read_table_errors_name_the_file(tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(EmptyInputError, match=r"empty\.csv: the file is empty"):
        read_table(empty)
    with pytest.raises(DataFormatError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match=r"corrupt\.parquet: cannot be read"):
        read_table(corrupt)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(EVALUATION_COLUMNS) + "\n")
    with pytest.raises(EmptyInputError, match="no data rows"):
        read_table(header_only)


def test_to_dataset_has_named_dims_and_curves() -> None:
    ds = to_dataset(evaluation_rows())
    assert dict(ds.sizes) == {"obs": 9, "curve": 2}
    assert list(ds["curve"].values) == ["arithmetic/2_digit_addition/F/2", "qa/F/0"]
    # both metrics of the arithmetic curve share its latent: same curve index
    arithmetic = ds["curve_index"].values[ds["metric"].values != "multiple_choice_grade"]
    assert set(arithmetic.tolist()) == {0}
    np.testing.assert_allclose(ds["log_params"].values, np.log(ds["params"].values))


def test_item_table_choice_tuples_survive_csv(tmp_path) -> None:
    items = pd.DataFrame(
        {
            "task": ["t", "t"],
            "subtask": ["t", "t"],
            "family": ["f", "f"],
            "model": ["m", "m"],
            "params": [1e6, 1e6],
            "shots": [0, 0],
            "item": ["0", "1"],
            "target_tokens": [1.0, 1.0],
            "logprob": [-0.1, -2.3],
            "correct": [1, 0],
            "choice_logprobs": [(-0.1, -2.4), None],
            "source": ["x", "x"],
        }
    )
    table = validate_items(items)
    back = read_table(write_table(table, tmp_path / "items.csv"))
    assert back["choice_logprobs"].iloc[0] == (-0.1, -2.4)
    assert back["choice_logprobs"].iloc[1] is None
    bad = items.assign(logprob=[0.5, -1.0])
    with pytest.raises(DataFormatError, match="'logprob' is positive in row 0"):
        validate_items(bad)


def test_metric_kind_of_known_and_unknown_names() -> None:
    assert metric_kind_of("exact_str_match") == "exact_match"
    assert metric_kind_of("calibration_multiple_choice_brier_score") == "brier"
    assert metric_kind_of("rougeLsum") == "rouge"
    assert metric_kind_of("something_new") == "other"


# --------------------------------------------------------------------------------------------
# Optional columns: score_stderr and unit; Brier forms


def with_stderr_and_unit() -> pd.DataFrame:
    rows = evaluation_rows()
    rows["score_stderr"] = np.where(rows["metric"] == "exact_str_match", 0.01, np.nan)
    rows["unit"] = [None] * len(rows)
    return rows


def test_stderr_and_unit_are_kept_with_canonical_dtypes() -> None:
    rows = with_stderr_and_unit()
    rows.loc[rows["metric"] == "log_likelihood", "unit"] = "word"
    table = validate(rows)
    assert list(table.columns) == [*EVALUATION_COLUMNS, "score_stderr", "unit"]
    assert table["score_stderr"].dtype == float
    assert table["score_stderr"].notna().sum() == 3
    assert table["unit"].dtype == object
    assert table["unit"].isna().sum() == 6
    assert set(table["unit"].dropna()) == {"word"}
    ds = to_dataset(table)
    assert sorted(set(ds["unit"].values.tolist())) == ["", "word"]
    np.testing.assert_allclose(ds["score_stderr"].values, table["score_stderr"].to_numpy())


def test_stderr_and_unit_survive_csv_and_parquet(tmp_path) -> None:
    rows = with_stderr_and_unit()
    rows.loc[rows["metric"] == "log_likelihood", "unit"] = "char"
    table = validate(rows)
    for name in ("t.csv", "t.parquet"):
        back = read_table(write_table(table, tmp_path / name))
        pd.testing.assert_frame_equal(back, table)


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("score_stderr", -0.01, "a standard error is a finite number >= 0"),
        ("score_stderr", np.inf, "a standard error is a finite number >= 0"),
        ("score_stderr", "about 1%", "invalid values in row 4"),
        ("unit", "bytes", "unknown value 'bytes' in row 4; expected one of token, word, char"),
    ],
)
def test_stderr_and_unit_errors_name_column_and_rows(column, value, needle) -> None:
    rows = with_stderr_and_unit().astype({column: object})
    rows.loc[4, column] = value
    with pytest.raises(DataFormatError) as info:
        validate(rows, path="bad.csv")
    message = str(info.value)
    assert message.startswith("bad.csv: ")
    assert repr(column) in message
    assert needle in message
    assert info.value.column == column
    assert info.value.rows == [4]


def test_empty_text_and_nan_are_missing_stderr_and_unit() -> None:
    rows = with_stderr_and_unit().astype({"unit": object, "score_stderr": object})
    rows.loc[0, "unit"] = ""
    rows.loc[1, "unit"] = np.nan
    rows.loc[0, "score_stderr"] = ""
    table = validate(rows)
    assert table["unit"].isna().all()
    assert np.isnan(table.loc[0, "score_stderr"])


@pytest.mark.parametrize(
    ("metric", "form"),
    [
        ("calibration_multiple_choice_brier_score", "mean"),
        ("brier", "mean"),
        ("brier_mean", "mean"),
        ("brier_sum", "sum"),
        ("tc_brier", "correct_choice"),
        ("tc_brier_unnormalized", "correct_choice"),
        ("my_brier_summed", "sum"),
        ("brier_of_correct_choice", "correct_choice"),
        ("target_class_brier", "correct_choice"),
        ("some_brier", "mean"),
    ],
)
def test_brier_form_by_name(metric: str, form: str) -> None:
    assert brier_form(metric) == form
    assert form in BRIER_FORMS


def test_lambada_loglik_metric_is_a_log_likelihood() -> None:
    assert metric_kind_of("loglik_per_word_from_ppl") == "log_likelihood"
    assert metric_kind_of("tc_brier") == metric_kind_of("tc_brier_unnormalized") == "brier"
    assert "score_stderr" in OPTIONAL_EVALUATION_COLUMNS
    assert "unit" in OPTIONAL_EVALUATION_COLUMNS
    assert set(UNITS) >= {"token", "word", "char"}
