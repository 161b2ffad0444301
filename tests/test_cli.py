"""The command line: jump statistics per curve, and one clear sentence on bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------------------------------
# --format, footnoted reasons, analyze and report
# --------------------------------------------------------------------------------------------

#: a curve with 2 sizes: its scores row has a long reason
TWO_SIZES = [
    ("short", "short", "F", "s", 1e6, 0, "exact_str_match", "exact_match", 0.0, 100, 0.0, "t"),
    ("short", "short", "F", "m", 1e7, 0, "exact_str_match", "exact_match", 0.2, 100, 0.0, "t"),
]


def test_scores_table_moves_reasons_to_short_footnotes(tmp_path) -> None:
    table = write_csv(tmp_path / "t.csv", GOOD_ROWS + TWO_SIZES)
    result = CliRunner().invoke(main, ["scores", str(table)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if line.lstrip().startswith("short"))
    assert row.rstrip().endswith("[1]")
    footnote = next(line for line in lines if line.startswith("[1] "))
    assert "only 2 distinct scales" in footnote
    # no line is padded to the reason's width: the footnotes wrap at 100 columns
    assert all(len(line) <= 100 for line in lines[lines.index(footnote) :])
    assert all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_scores_formats_are_machine_readable(tmp_path, fmt) -> None:
    table = write_csv(tmp_path / "t.csv", GOOD_ROWS + TWO_SIZES)
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["scores", str(table), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "wrote 3 curves" in result.stderr and "wrote" not in text
    if fmt == "csv":
        parsed = pd.read_csv(io.StringIO(text))
        assert len(parsed) == 3 and "only 2 distinct scales" in " ".join(parsed["reason"].dropna())
    elif fmt == "json":
        records = json.loads(text)
        assert len(records) == 3 and records[0]["metric"]
    else:
        lines = text.strip().splitlines()
        assert lines[0].startswith("| task |") and lines[1].startswith("| --- |")
        assert len(lines) == 2 + 3


def test_unknown_format_is_refused() -> None:
    result = CliRunner().invoke(main, ["scores", "ladder", "--format", "xml"])
    assert result.exit_code == 2 and "'xml'" in result.output


TINY_ANALYZE = [
    "--draws",
    "40",
    "--tune",
    "40",
    "--chains",
    "2",
    "--replicates",
    "40",
    "--seed",
    "5",
]


def test_analyze_then_report_on_a_small_table(tmp_path) -> None:
    import warnings

    table = write_csv(tmp_path / "t.csv", GOOD_ROWS)
    out = tmp_path / "analysis"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no per-item lengths for the CSV's task
        result = CliRunner().invoke(main, ["analyze", str(table), "--out", str(out), *TINY_ANALYZE])
    assert result.exit_code == 0, result.output
    text = result.stdout
    # one line per tested series in the headline mode: verdict, excess jump [90%], p
    assert "cross_metric mode" in text and "excess jump [90%]" in text
    (line,) = [row for row in text.splitlines() if "exact_str_match" in row]
    assert line.split()[3] in ("explained_by_metric", "excess_jump", "inconclusive")
    assert f"report: {out / 'report.html'}" in text
    # stdout is not a terminal here: no progress lines
    assert "[1/4]" not in result.stderr
    for name in ("report.html", "report.md", "report.json", "analysis.json", "fit.zarr"):
        assert (out / name).exists(), name
    report = json.loads((out / "report.json").read_text())
    assert report["reproduce"]["command"].startswith(f"emergestats analyze {table} --out {out}")
    assert "--draws 40" in report["reproduce"]["command"]
    (out / "report.html").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = CliRunner().invoke(main, ["report", str(out), "--format", "json"])
    assert again.exit_code == 0, again.output
    assert (out / "report.html").is_file()
    assert '"verdict"' in again.output


def test_analyze_progress_lines_when_asked(tmp_path) -> None:
    import warnings

    table = write_csv(tmp_path / "t.csv", GOOD_ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = CliRunner().invoke(
            main,
            [
                "analyze",
                str(table),
                "--out",
                str(tmp_path / "a"),
                "--modes",
                "in_sample",
                "--progress",
                "--format",
                "csv",
                *TINY_ANALYZE,
            ],
        )
    assert result.exit_code == 0, result.output
    stages = [line for line in result.stderr.splitlines() if line.startswith("emergestats: [")]
    assert [line.split("]")[0][-3:] for line in stages] == ["1/4"] * 2 + ["2/4"] * 2 + [
        "3/4"
    ] * 2 + ["4/4"] * 2
    assert all(s.endswith("...") or "done in" in s for s in stages)
    assert result.stdout.splitlines()[0].startswith("task,family,metric,verdict")


def test_report_of_a_folder_without_an_analysis_is_one_sentence(tmp_path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "not an analysis folder" in result.output
    assert len(result.output.strip().splitlines()) == 1


#: A tiny cross_metric mirage run of GOOD_ROWS (plumbing only: 2 chains x 40 draws).
TINY_MIRAGE = ["--modes", "cross_metric", "--no-broken", "--draws", "40", "--tune", "40"]
TINY_MIRAGE += ["--chains", "2", "--replicates", "40", "--seed", "2"]


def run_tiny_mirage(tmp_path: Path, *options: str):
    """``emergestats mirage`` on GOOD_ROWS with TINY_MIRAGE and ``options``, quietly."""
    import warnings

    table = write_csv(tmp_path / "t.csv", GOOD_ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return CliRunner().invoke(main, ["mirage", str(table), *TINY_MIRAGE, *options])


def test_mirage_json_is_only_the_table_on_stdout(tmp_path) -> None:
    result = run_tiny_mirage(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["metric"] == "exact_str_match" and record["mode"] == "cross_metric"
    assert record["verdict"] in ("explained_by_metric", "excess_jump", "inconclusive")
    assert "rule:" in result.stderr and "rule:" not in result.stdout


def test_mirage_calibration_option_attaches_the_measured_rates(tmp_path) -> None:
    out = str(tmp_path / "o")
    result = run_tiny_mirage(tmp_path, "--format", "csv", "--calibration", "measured", "--out", out)
    assert result.exit_code == 0, result.output
    saved = pd.read_csv(tmp_path / "o" / "verdicts.csv")
    # the nearest measured cross_metric generation cell: its rates are attached to every row
    assert saved["false_alarm"].notna().all() and saved["power"].notna().all()
    assert saved["false_alarm"].max() <= 0.25 and saved["power"].max() <= 1.0
    assert "fewer than 0.8 of its simulated breaks" in result.stderr  # rule 8, in the rule
    printed = pd.read_csv(io.StringIO(result.stdout))
    assert list(printed.columns[-3:]) == ["false alarm", "power", "reason"]
    np.testing.assert_allclose(printed["power"], saved.loc[saved["primary"], "power"], atol=1e-3)
    bad = run_tiny_mirage(tmp_path, "--calibration", "nowhere.csv")
    assert bad.exit_code == 2 and "neither 'measured' nor a file" in bad.output
    wrong = tmp_path / "w.csv"
    pd.DataFrame({"kind": ["generation"], "n_sizes": [8], "power": [0.5]}).to_csv(wrong)
    bad = run_tiny_mirage(tmp_path, "--calibration", str(wrong))
    assert bad.exit_code == 2 and "no column(s) false_alarm, n_items" in bad.output
