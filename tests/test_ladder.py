"""The package's own model ladders: the committed tables, their scores, and their reproduction."""

from __future__ import annotations

import importlib.resources
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from emergestats.data.table import (
    EVALUATION_COLUMNS,
    ITEM_COLUMNS,
    read_table,
    validate,
    validate_items,
)
from emergestats.errors import ConfigError, DataFormatError
from emergestats.ladder import (
    _CONV,
    CONV_LADDER_FILTERS,
    LADDER_SEED,
    LADDER_WIDTHS,
    SUBSET_SIZES,
    LadderTables,
    _conv_features,
    _read_packaged,
    conv_ladder_params,
    evaluate_ladder_items,
    ladder_params,
    load_conv_ladder_evaluations,
    load_conv_ladder_items,
    load_ladder_evaluations,
    load_ladder_items,
    subset_groups,
    train_conv_ladder,
    train_ladder,
    write_ladder,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "analyses" / "train_ladder.py"

N_MODELS = 12  # widths 1, 2, 4, ..., 2048
N_TEST_IMAGES = 540  # 54 test images of each of the 10 digits
N_METRICS = 9  # accuracy, subset accuracy for L = 2, 4, 8, 16, 32, brier_mean, brier_sum, LL
QUANTUM = 2.0**-20  # the grid the log-probabilities are stored on
SCORE_TOLERANCE = 1e-9  # scores are stored rounded to 10 decimals


@pytest.fixture(scope="module")
def evaluations() -> pd.DataFrame:
    return load_ladder_evaluations()


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return load_ladder_items()


@pytest.fixture(scope="module")
def conv_evaluations() -> pd.DataFrame:
    return load_conv_ladder_evaluations()


@pytest.fixture(scope="module")
def conv_items() -> pd.DataFrame:
    return load_conv_ladder_items()


@pytest.fixture(scope="module", params=["ladder", "conv_ladder"])
def packaged(request: pytest.FixtureRequest) -> LadderTables:
    """Each committed ladder's tables, for the checks that hold for both."""
    if request.param == "ladder":
        return LadderTables(load_ladder_evaluations(), load_ladder_items())
    return LadderTables(load_conv_ladder_evaluations(), load_conv_ladder_items())


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_ladder", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# The committed tables
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder_name", ["ladder", "conv_ladder"])
def test_packaged_files_are_found_through_importlib_resources(folder_name: str) -> None:
    folder = importlib.resources.files("emergestats") / "resources" / folder_name
    assert (folder / "evaluations.csv").is_file()
    assert (folder / "items.parquet").is_file()


def test_packaged_tables_validate_with_the_expected_shape(
    evaluations: pd.DataFrame, items: pd.DataFrame
) -> None:
    assert list(evaluations.columns) == [
        *EVALUATION_COLUMNS,
        "target_tokens",
        "score_stderr",
        "n_choices",
    ]
    assert set(evaluations["n_choices"]) == {10.0}
    # continuous metrics carry the items' standard error; proportions' is binomial (n_items)
    continuous = evaluations["metric_kind"].isin(["brier", "log_likelihood"])
    assert (evaluations.loc[continuous, "score_stderr"] > 0).all()
    assert evaluations.loc[~continuous, "score_stderr"].isna().all()
    assert list(items.columns) == [*ITEM_COLUMNS, "correct_choice"]
    assert len(evaluations) == N_MODELS * N_METRICS  # one row per model and metric
    assert len(items) == N_MODELS * N_TEST_IMAGES  # one row per model and test image
    pd.testing.assert_frame_equal(validate(evaluations), evaluations)
    pd.testing.assert_frame_equal(validate_items(items), items)
    assert set(evaluations["task"]) == set(items["task"]) == {"digits"}
    assert set(evaluations["subtask"]) == set(items["subtask"]) == {"digits"}
    assert set(evaluations["family"]) == set(items["family"]) == {"ladder"}
    assert set(evaluations["shots"]) == set(items["shots"]) == {-1}
    assert set(items["target_tokens"]) == {1.0}
    assert evaluations["metric"].value_counts().to_dict() == {
        metric: N_MODELS
        for metric in [
            "accuracy",
            *(f"subset_accuracy_L{size}" for size in SUBSET_SIZES),
            "brier_mean",
            "brier_sum",
            "log_likelihood",
        ]
    }


def test_ladder_has_at_least_eight_sizes_over_two_decades(evaluations: pd.DataFrame) -> None:
    params = np.sort(evaluations["params"].unique())
    assert len(params) == N_MODELS >= 8
    assert params[0] == 85.0  # width 1: 64 weights + 1 bias, then 10 x (1 + 1) in the read-out
    assert params[-1] == 153_610.0  # width 2048: 2048 x 65 + 10 x 2049
    assert np.log10(params[-1] / params[0]) > 3.2  # at least 2 decades asked for


def test_params_count_every_weight_and_bias(items: pd.DataFrame) -> None:
    sizes = items.drop_duplicates("model").set_index("model")["params"]
    assert list(sizes.index) == [f"rff-{width:04d}" for width in LADDER_WIDTHS]
    for model, params in sizes.items():
        width = int(str(model).removeprefix("rff-"))
        assert params == width * 64 + width + 10 * width + 10 == ladder_params(width)


def test_every_model_scores_the_same_540_images_54_per_digit(items: pd.DataFrame) -> None:
    per_model = items.groupby("model")["item"].apply(list)
    first = per_model.iloc[0]
    assert all(ids == first for ids in per_model)
    assert first == sorted(first) and len(set(first)) == N_TEST_IMAGES
    assert all(len(item) == 4 and item.isdigit() for item in first)  # load_digits row, 4 digits
    assert int(first[-1]) < 1797  # load_digits has 1,797 images
    digits = items.loc[items["model"] == "rff-0001", "correct_choice"]
    assert digits.value_counts().to_dict() == dict.fromkeys(range(10), 54)


def test_item_log_probabilities_are_consistent(packaged: LadderTables) -> None:
    items = packaged.items
    log_probs = np.array(items["choice_logprobs"].tolist())
    true_class = items["correct_choice"].to_numpy(dtype=int)
    assert log_probs.shape == (N_MODELS * N_TEST_IMAGES, 10)
    # Probabilities of the 10 digits sum to 1 up to the storage grid (10 values x 2^-21 each).
    assert np.abs(np.exp(log_probs).sum(axis=1) - 1.0).max() < 10 * QUANTUM / 2
    assert (log_probs <= 0).all()
    np.testing.assert_array_equal(np.rint(log_probs / QUANTUM) * QUANTUM, log_probs)
    np.testing.assert_array_equal(
        items["logprob"].to_numpy(), log_probs[np.arange(len(items)), true_class]
    )
    np.testing.assert_array_equal(
        items["correct"].to_numpy(dtype=int), (log_probs.argmax(axis=1) == true_class).astype(int)
    )
    # No item has two classes tied for the largest probability (so accuracy needs no tie rule).
    top_two = np.sort(log_probs, axis=1)[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 10 * QUANTUM


def recomputed_scores(items: pd.DataFrame) -> pd.DataFrame:
    """The evaluation table's scores, recomputed from the items with plain numpy."""
    records = []
    # The documented grouping: one permutation of the items (in order of id) cut into runs of L.
    permutation = np.random.RandomState([LADDER_SEED, 1]).permutation(N_TEST_IMAGES)
    for model, rows in items.groupby("model", sort=False):
        rows = rows.sort_values("item")
        log_probs = np.array(rows["choice_logprobs"].tolist())
        true_class = rows["correct_choice"].to_numpy(dtype=int)
        probs = np.exp(log_probs)
        probs /= probs.sum(axis=1, keepdims=True)
        squared_error = ((probs - np.eye(10)[true_class]) ** 2).sum(axis=1)
        scores = {
            "accuracy": ((log_probs.argmax(axis=1) == true_class).mean(), N_TEST_IMAGES),
            "brier_mean": ((squared_error / 10).mean(), N_TEST_IMAGES),
            "brier_sum": (squared_error.mean(), N_TEST_IMAGES),
            "log_likelihood": (rows["logprob"].mean(), N_TEST_IMAGES),
        }
        correct = rows["correct"].to_numpy(dtype=bool)
        for size in SUBSET_SIZES:
            n_groups = N_TEST_IMAGES // size
            groups = permutation[: n_groups * size].reshape(n_groups, size)
            scores[f"subset_accuracy_L{size}"] = (correct[groups].all(axis=1).mean(), n_groups)
        for metric, (score, n_items) in scores.items():
            records.append({"model": model, "metric": metric, "expected": score, "n": n_items})
    return pd.DataFrame(records)


def test_scores_recomputed_from_the_items_equal_the_evaluation_table(
    packaged: LadderTables,
) -> None:
    evaluations, items = packaged
    merged = evaluations.merge(recomputed_scores(items), on=["model", "metric"], validate="1:1")
    assert len(merged) == len(evaluations)
    np.testing.assert_allclose(merged["score"], merged["expected"], rtol=0, atol=SCORE_TOLERANCE)
    assert (merged["n_items"].to_numpy(dtype=int) == merged["n"]).all()
    # 540 images: 270, 135, 67, 33 and 16 disjoint groups of 2, 4, 8, 16 and 32.
    groups = evaluations.drop_duplicates("metric").set_index("metric")["n_items"].to_dict()
    assert {m: groups[m] for m in groups if m.startswith("subset")} == {
        "subset_accuracy_L2": 270,
        "subset_accuracy_L4": 135,
        "subset_accuracy_L8": 67,
        "subset_accuracy_L16": 33,
        "subset_accuracy_L32": 16,
    }


def test_chance_kind_and_answer_length_of_each_metric(packaged: LadderTables) -> None:
    meta = packaged.evaluations.drop_duplicates("metric").set_index("metric")
    assert meta.loc["accuracy", ["metric_kind", "chance", "target_tokens"]].tolist() == [
        "accuracy",
        0.1,
        1.0,
    ]
    for size in SUBSET_SIZES:
        row = meta.loc[f"subset_accuracy_L{size}"]
        assert row["metric_kind"] == "exact_match"
        assert row["chance"] == pytest.approx(0.1**size, rel=1e-12)
        assert row["target_tokens"] == size
    # A uniform guess over 10 digits: squared error 0.81 + 9 x 0.01 = 0.9 summed, 0.09 mean.
    assert meta.loc["brier_mean", "chance"] == pytest.approx(0.09, rel=1e-12)
    assert meta.loc["brier_sum", "chance"] == pytest.approx(0.9, rel=1e-12)
    assert set(meta.loc[["brier_mean", "brier_sum"], "metric_kind"]) == {"brier"}
    assert meta.loc["log_likelihood", "metric_kind"] == "log_likelihood"
    assert np.isnan(meta.loc["log_likelihood", "chance"])  # validate() takes no negative chance


def test_subset_accuracy_jumps_while_log_likelihood_improves_smoothly(
    evaluations: pd.DataFrame,
) -> None:
    wide = evaluations.pivot_table(index="params", columns="metric", values="score")
    # The committed values (seed 0): near chance at width 1, near perfect at the top.
    assert wide["accuracy"].iloc[0] == pytest.approx(0.2, abs=SCORE_TOLERANCE)  # 108 of 540
    assert wide["accuracy"].iloc[-1] == pytest.approx(529 / 540, abs=SCORE_TOLERANCE)
    assert wide["log_likelihood"].iloc[0] == pytest.approx(-2.0445730704, abs=SCORE_TOLERANCE)
    # All-or-nothing over 32 images: exactly 0 for the six smallest models, then a jump...
    assert (wide["subset_accuracy_L32"].iloc[:6] == 0).all()
    assert wide["subset_accuracy_L32"].iloc[6] == 2 / 16
    # ...while log-likelihood and Brier improve at every one of those sizes.
    assert (np.diff(wide["log_likelihood"].iloc[:7]) > 0.09).all()
    assert (np.diff(wide["brier_mean"].iloc[:7]) < -0.004).all()


# --------------------------------------------------------------------------------------------
# Reproduction
# --------------------------------------------------------------------------------------------


def test_training_two_sizes_reproduces_their_committed_rows_exactly(
    evaluations: pd.DataFrame, items: pd.DataFrame
) -> None:
    rerun = train_ladder(widths=(2, 64))
    models = ["rff-0002", "rff-0064"]
    pd.testing.assert_frame_equal(
        rerun.items, items[items["model"].isin(models)].reset_index(drop=True), check_exact=True
    )
    pd.testing.assert_frame_equal(
        rerun.evaluations,
        evaluations[evaluations["model"].isin(models)].reset_index(drop=True),
        check_exact=True,
    )


def test_written_files_are_byte_identical_and_read_back_equal(tmp_path: Path) -> None:
    tables = train_ladder(widths=(1, 8))
    first = write_ladder(tables, tmp_path / "first")
    second = write_ladder(train_ladder(widths=(8, 1)), tmp_path / "second")
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes()
    pd.testing.assert_frame_equal(read_table(first[0]), tables.evaluations, check_exact=True)
    pd.testing.assert_frame_equal(read_table(first[1]), tables.items, check_exact=True)


@pytest.mark.slow
def test_script_rerun_reproduces_the_committed_files_exactly(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert "subset_accuracy_L32 is exactly 0 for the 6 smallest models" in completed.stdout
    packaged = importlib.resources.files("emergestats") / "resources" / "ladder"
    assert (tmp_path / "evaluations.csv").read_bytes() == (
        packaged / "evaluations.csv"
    ).read_bytes()
    # Parquet bytes carry the pyarrow version that wrote them; the content must match exactly.
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "items.parquet"), load_ladder_items(), check_exact=True
    )


# --------------------------------------------------------------------------------------------
# Building blocks and bad input
# --------------------------------------------------------------------------------------------


def test_subset_groups_are_disjoint_nested_and_seeded() -> None:
    groups = subset_groups(N_TEST_IMAGES, 32)
    assert groups.shape == (16, 32)
    assert len(np.unique(groups)) == 16 * 32  # disjoint; 540 - 512 = 28 images in no group
    halves = subset_groups(N_TEST_IMAGES, 16)
    np.testing.assert_array_equal(groups.ravel(), halves[:32].ravel())  # L = 32 joins pairs
    assert not np.array_equal(subset_groups(N_TEST_IMAGES, 32, seed=1), groups)
    with pytest.raises(ConfigError, match=r"subset size must be in 1\.\.540"):
        subset_groups(N_TEST_IMAGES, 541)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": ()}, "non-empty list of integers in 1..2048"),
        ({"widths": (0, 4)}, r"in 1..2048, not \[0, 4\]"),
        ({"widths": (4096,)}, "in 1..2048"),
        ({"widths": (2, 2)}, "repeats a width"),
        ({"seed": -1}, "'seed' must be an integer in 0..2"),
    ],
)
def test_train_ladder_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train_ladder(**kwargs)  # type: ignore[arg-type]


def test_evaluate_rejects_models_scored_on_different_items(items: pd.DataFrame) -> None:
    two = items[items["model"].isin(["rff-0001", "rff-0002"])]
    with pytest.raises(DataFormatError, match="'rff-0002' was scored on other items"):
        evaluate_ladder_items(two.drop(index=two.index[-1]))
    with pytest.raises(DataFormatError, match="needs 'correct_choice'"):
        evaluate_ladder_items(two.drop(columns="correct_choice"))


def test_missing_packaged_file_names_the_file_and_the_fix() -> None:
    with pytest.raises(DataFormatError, match=r"absent\.csv: the packaged ladder file is missing"):
        _read_packaged("absent.csv")


def test_script_prints_the_table_and_the_mirage_sentence(evaluations: pd.DataFrame) -> None:
    script = load_script()
    table = script.ladder_table_text(evaluations).splitlines()
    assert table[0].split() == [
        "params", "model", "accuracy", "L=2", "L=4", "L=8", "L=16", "L=32", "acc^32",
        "brier_mean", "log_lik",
    ]  # fmt: skip
    assert table[1].split()[:3] == ["85", "rff-0001", "0.200"]
    assert len(table) == 1 + N_MODELS
    sentence = script.mirage_sentence(evaluations)
    assert sentence.startswith(
        "subset_accuracy_L32 is exactly 0 for the 6 smallest models (up to 2,410 params)"
    )
    assert "log-likelihood 90%" in sentence


def test_script_refuses_to_overwrite_the_packaged_files_with_another_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = load_script()
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--seed", "1"])
    assert exit_info.value.code == 2
    assert "need --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--widths", "1,x"])


# --------------------------------------------------------------------------------------------
# The convolutional ladder
# --------------------------------------------------------------------------------------------


def test_conv_tables_validate_and_score_the_ladders_test_images(
    conv_evaluations: pd.DataFrame,
    conv_items: pd.DataFrame,
    evaluations: pd.DataFrame,
    items: pd.DataFrame,
) -> None:
    assert list(conv_evaluations.columns) == list(evaluations.columns)
    assert list(conv_items.columns) == list(items.columns)
    assert len(conv_evaluations) == N_MODELS * N_METRICS
    assert len(conv_items) == N_MODELS * N_TEST_IMAGES
    pd.testing.assert_frame_equal(validate(conv_evaluations), conv_evaluations)
    pd.testing.assert_frame_equal(validate_items(conv_items), conv_items)
    assert set(conv_evaluations["family"]) == set(conv_items["family"]) == {"conv-ladder"}
    assert (
        set(conv_evaluations["source"]) == set(conv_items["source"]) == {"emergestats conv ladder"}
    )
    assert set(conv_evaluations["task"]) == set(conv_items["task"]) == {"digits"}
    # The same metrics with the same counts, chances and answer lengths as the first ladder...
    meta = ["metric", "metric_kind", "n_items", "chance", "target_tokens", "n_choices"]
    pd.testing.assert_frame_equal(
        conv_evaluations[meta].drop_duplicates().reset_index(drop=True),
        evaluations[meta].drop_duplicates().reset_index(drop=True),
    )
    # ...on the same 540 test images with the same true digits, for every model.
    reference = items.loc[items["model"] == "rff-0001", ["item", "correct_choice"]]
    for _, rows in conv_items.groupby("model"):
        pd.testing.assert_frame_equal(
            rows[["item", "correct_choice"]].reset_index(drop=True),
            reference.reset_index(drop=True),
        )


def test_conv_params_count_every_weight_and_bias(conv_items: pd.DataFrame) -> None:
    sizes = conv_items.drop_duplicates("model").set_index("model")["params"]
    assert list(sizes.index) == [f"conv-{filters:04d}" for filters in CONV_LADDER_FILTERS]
    for model, params in sizes.items():
        filters = int(str(model).removeprefix("conv-"))
        # F filters of 3 x 3 weights and a bias; a read-out weight per filter and class, 10 biases
        assert params == filters * 9 + filters + 10 * filters + 10 == conv_ladder_params(filters)
    assert sizes.iloc[0] == 30.0  # 1 filter: 9 + 1, then 10 x (1 + 1)
    assert sizes.iloc[-1] == 40_970.0  # 2048 filters: 2048 x 10 + 10 x 2049
    assert np.log10(sizes.iloc[-1] / sizes.iloc[0]) > 3.1


def test_conv_features_are_a_padded_convolution_relu_and_image_mean() -> None:
    from scipy.signal import correlate2d

    rng = np.random.default_rng(3)
    pixels = rng.uniform(size=(5, 64))
    kernels = rng.normal(size=(40, 3, 3))
    biases = rng.normal(size=40)
    features = _conv_features(pixels, kernels, biases)
    assert features.shape == (5, 40)
    expected = [
        [
            np.maximum(correlate2d(image.reshape(8, 8), kernel, mode="same") + bias, 0.0).mean()
            for kernel, bias in zip(kernels, biases, strict=True)
        ]
        for image in pixels
    ]
    np.testing.assert_allclose(features, expected, rtol=1e-13, atol=1e-15)
    # Nested: the first filters' columns are the same to the bit, computed alone or in a pool
    # (40 filters span two chunks of 32).
    np.testing.assert_array_equal(_conv_features(pixels, kernels[:5], biases[:5]), features[:, :5])
    np.testing.assert_array_equal(
        _conv_features(pixels, kernels[33:], biases[33:]), features[:, 33:]
    )


def test_conv_subset_accuracy_is_zero_for_eight_sizes_then_rises(
    conv_evaluations: pd.DataFrame,
) -> None:
    wide = conv_evaluations.pivot_table(index="params", columns="metric", values="score")
    # The committed values (seed 0): near chance with one filter, above 0.9 at the top.
    assert wide["accuracy"].iloc[0] == pytest.approx(91 / 540, abs=SCORE_TOLERANCE)
    assert wide["accuracy"].iloc[-1] == pytest.approx(519 / 540, abs=SCORE_TOLERANCE)
    assert wide["log_likelihood"].iloc[0] == pytest.approx(-2.1756339532, abs=SCORE_TOLERANCE)
    # All-or-nothing over 32 images: exactly 0 for the eight smallest models, then it rises...
    sharp = wide["subset_accuracy_L32"].to_numpy()
    np.testing.assert_array_equal(sharp, np.array([0] * 8 + [2, 4, 6, 6]) / 16)
    # ...while accuracy, log-likelihood and Brier improve at every size, the flat ones included.
    assert (np.diff(wide["accuracy"]) > 0).all()
    assert (np.diff(wide["log_likelihood"]) > 0.04).all()
    assert (np.diff(wide["brier_mean"]) < -0.001).all()


def test_conv_training_two_sizes_reproduces_their_committed_rows_exactly(
    conv_evaluations: pd.DataFrame, conv_items: pd.DataFrame
) -> None:
    # The committed file drew and used 2,048 filters; a model's rows do not depend on that.
    rerun = train_conv_ladder(filters=(64, 2))
    models = ["conv-0002", "conv-0064"]
    pd.testing.assert_frame_equal(
        rerun.items,
        conv_items[conv_items["model"].isin(models)].reset_index(drop=True),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(
        rerun.evaluations,
        conv_evaluations[conv_evaluations["model"].isin(models)].reset_index(drop=True),
        check_exact=True,
    )


@pytest.mark.slow
def test_conv_script_rerun_reproduces_the_committed_files_exactly(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--kind", "conv", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert "subset_accuracy_L32 is exactly 0 for the 8 smallest models" in completed.stdout
    packaged = importlib.resources.files("emergestats") / "resources" / "conv_ladder"
    assert (tmp_path / "evaluations.csv").read_bytes() == (
        packaged / "evaluations.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "items.parquet"), load_conv_ladder_items(), check_exact=True
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": ()}, r"'filters' must be a non-empty list of integers in 1\.\.2048"),
        ({"filters": (0, 4)}, r"in 1..2048, not \[0, 4\]"),
        ({"filters": (4096,)}, "in 1..2048"),
        ({"filters": (2, 2)}, "repeats a filter count"),
        ({"seed": 2**32}, "'seed' must be an integer in 0..2"),
    ],
)
def test_train_conv_ladder_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train_conv_ladder(**kwargs)  # type: ignore[arg-type]


def test_missing_conv_packaged_file_names_the_ladder_and_the_fix() -> None:
    with pytest.raises(
        DataFormatError,
        match=r"the packaged convolutional ladder file is missing.*train_ladder\.py --kind conv",
    ):
        _read_packaged("absent.csv", _CONV)


def test_conv_ladder_loads_through_the_dataset_registry(conv_evaluations: pd.DataFrame) -> None:
    from emergestats import datasets

    table = datasets.load("ladder-conv")
    pd.testing.assert_frame_equal(table, conv_evaluations)
    assert datasets.DATASETS["ladder-conv"].source is None  # embedded: no download


def test_script_prints_the_conv_table_and_its_mirage_sentence(
    conv_evaluations: pd.DataFrame,
) -> None:
    script = load_script()
    table = script.ladder_table_text(conv_evaluations).splitlines()
    assert table[1].split()[:3] == ["30", "conv-0001", "0.169"]
    assert len(table) == 1 + N_MODELS
    sentence = script.mirage_sentence(conv_evaluations)
    assert sentence.startswith(
        "subset_accuracy_L32 is exactly 0 for the 8 smallest models (up to 2,570 params)"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "conv", "--widths", "1,8"], "--filters with --kind conv"),
        (["--filters", "1,8"], "--widths goes with --kind rf"),
        (["--kind", "conv", "--filters", "1,8"], "need --out"),
        (["--kind", "conv", "--seed", "1"], "need --out"),
    ],
)
def test_script_matches_sizes_to_the_kind_and_guards_the_conv_files(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
