"""The command line: jump statistics per curve, and one clear sentence on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from emergestats.cli import main
from emergestats.data import EVALUATION_COLUMNS

GOOD_ROWS = [
    # a step-like exact-match curve and a smooth log-likelihood curve of one task
    ("arith", "arith", "F", "s", 1e6, 0, "exact_str_match", "exact_match", 0.0, 100, 0.0, "t"),
    ("arith", "arith", "F", "m", 1e7, 0, "exact_str_match", "exact_match", 0.0, 100, 0.0, "t"),
    ("arith", "arith", "F", "l", 1e8, 0, "exact_str_match", "exact_match", 0.1, 100, 0.0, "t"),
    ("arith", "arith", "F", "xl", 1e9, 0, "exact_str_match", "exact_match", 0.9, 100, 0.0, "t"),
    ("arith", "arith", "F", "s", 1e6, 0, "log_likelihood", "log_likelihood", -8.0, 100, "", "t"),
    ("arith", "arith", "F", "m", 1e7, 0, "log_likelihood", "log_likelihood", -6.0, 100, "", "t"),
    ("arith", "arith", "F", "l", 1e8, 0, "log_likelihood", "log_likelihood", -4.0, 100, "", "t"),
    ("arith", "arith", "F", "xl", 1e9, 0, "log_likelihood", "log_likelihood", -2.0, 100, "", "t"),
]


def write_csv(path: Path, rows: list[tuple]) -> Path:
    pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS)).to_csv(path, index=False)
    return path


def test_scores_prints_and_writes_hand_computed_values(tmp_path) -> None:
    table = write_csv(tmp_path / "t.csv", GOOD_ROWS)
    out = tmp_path / "out" / "scores.csv"
    result = CliRunner().invoke(main, ["scores", str(table), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exact_str_match" in result.output and "log_likelihood" in result.output
    written = pd.read_csv(out).set_index("metric")
    # exact match: steps 0, 0.1, 0.8 -> I = 0.9; squared steps 0, 0.01, 0.64
    # breakthroughness = 0.9 / sqrt(median 0.01) = 9; linearity = 0.9 / sqrt(0.65 / 3)
    assert written.loc["exact_str_match", "breakthroughness"] == pytest.approx(9.0)
    assert written.loc["exact_str_match", "linearity"] == pytest.approx(0.9 / (0.65 / 3) ** 0.5)
    assert written.loc["exact_str_match", "max_jump"] == pytest.approx(0.8)
    # log-likelihood: equal steps of 2 -> I = 6, both statistics = 6 / 2 = 3
    assert written.loc["log_likelihood", "breakthroughness"] == pytest.approx(3.0)
    assert written.loc["log_likelihood", "linearity"] == pytest.approx(3.0)


def test_scores_on_the_packaged_ladder() -> None:
    result = CliRunner().invoke(main, ["scores", "ladder"])
    assert result.exit_code == 0, result.output
    assert "subset_accuracy_L" in result.output


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each bad input and the words its one-sentence error must contain."""
    frame = pd.DataFrame(GOOD_ROWS, columns=list(EVALUATION_COLUMNS))
    cases: dict[str, tuple[Path, list[str]]] = {}

    def case(name: str, df: pd.DataFrame, needles: list[str]) -> None:
        path = tmp_path / f"{name}.csv"
        df.to_csv(path, index=False)
        cases[name] = (path, needles)

    case("missing_column", frame.drop(columns="n_items"), ["'n_items'", "missing column"])
    case("wrong_type", frame.assign(score=["x", *list(frame["score"][1:])]), ["'score'", "row 0"])
    case(
        "nonpositive",
        frame.assign(params=[0.0, *list(frame["params"][1:])]),
        ["'params'", "row 0", "positive"],
    )
    case(
        "nan_score",
        frame.assign(score=[*frame["score"][:3], None, *frame["score"][4:]]),
        ["'score'", "row 3"],
    )
    case(
        "unknown_kind",
        frame.assign(metric_kind=["exact", *list(frame["metric_kind"][1:])]),
        ["'metric_kind'", "'exact'"],
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases["empty_file"] = (empty, ["empty"])
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 garbage")
    cases["corrupt"] = (corrupt, ["cannot be read"])
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    cases["empty_folder"] = (folder, ["empty_folder"])
    broken_json = tmp_path / "bb" / "results"
    broken_json.mkdir(parents=True)
    (broken_json / "scores_GPT_small.json").write_text('{"task": {"task_name": ')
    cases["corrupt_json"] = (broken_json.parent, ["scores_GPT_small.json"])
    return cases


@pytest.mark.parametrize(
    "name",
    [
        "missing_column",
        "wrong_type",
        "nonpositive",
        "nan_score",
        "unknown_kind",
        "empty_file",
        "corrupt",
        "empty_folder",
        "corrupt_json",
    ],
)
def test_bad_input_exits_nonzero_with_one_sentence_and_writes_nothing(tmp_path, name) -> None:
    path, needles = bad_inputs(tmp_path)[name]
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["scores", str(path), "--out", str(out)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.startswith("Error: ")
    assert len(message.splitlines()) == 1, message
    assert path.name in message
    for needle in needles:
        assert needle in message, message
    assert not out.exists()
    assert not any(p.name.startswith(".out.csv") for p in tmp_path.iterdir())


def test_unknown_source_lists_datasets(tmp_path) -> None:
    result = CliRunner().invoke(main, ["scores", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "no such file, folder or dataset" in result.output
    assert "ladder" in result.output and "bigbench-tasks" not in result.output


def test_fit_writes_fit_curves_and_diagnostics(tmp_path) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'builder = "smooth"\n[sampler]\ndraws = 30\ntune = 30\nchains = 2\nrandom_seed = 3\n'
    )
    out = tmp_path / "fit"
    result = CliRunner().invoke(
        main, ["fit", "ladder", "--model", str(spec), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    # 30 draws cannot pass the ESS threshold: the run must say so rather than hide it
    assert "FAILED" in result.output and "bulk ESS" in result.output
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["parameter"]) >= {"a", "b"}
    assert {"mean", "sd", "q05", "q95", "r_hat", "ess_bulk"} <= set(curves.columns)
    assert (out / "diagnostics.csv").is_file() and (out / "fit.zarr").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fit.")]


def test_fit_with_a_bad_spec_is_one_sentence(tmp_path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('builder = "smooth"\n[sampler]\ndraw = 10\n')
    out = tmp_path / "fit"
    result = CliRunner().invoke(main, ["fit", "ladder", "--model", str(spec), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "bad.toml" in result.output
    assert "'draw'" in result.output
    assert not out.exists()
