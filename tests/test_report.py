"""The report: section builders, templates, the JSON of every number, re-rendering, formats.

Fast tests run on one tiny analysis of the ladder (2 chains x 60 draws: it fails its
diagnostics, which the report must say wherever its numbers appear). Slow tests generate the
ladder report with the quick start's settings and the report of one ObsScaling BIG-bench
emergent task, and check their sections.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from emergestats.analysis import (
    LADDER_SETTINGS,
    Analysis,
    AnalysisSettings,
    analyze,
    load_analysis,
    verdict_lines,
)
from emergestats.report import build_report, measured_calibration, render_table, write_report

REPO = Path(__file__).resolve().parents[1]
#: Plumbing only: too few draws to pass the diagnostics.
TINY = AnalysisSettings(
    modes=("cross_metric", "in_sample"),
    draws=60,
    tune=60,
    chains=2,
    n_replicates=50,
    random_seed=3,
    floor=True,
    lengths=None,
    rationale="tiny test settings",
)
#: The sections every report has (HTML ids; Markdown headings are checked separately).
SECTIONS = (
    "headline",
    "data",
    "curves",
    "verdicts",
    "summary",
    "scores",
    "calibration",
    "diagnostics",
    "config",
    "reproduce",
)


def ladder_folder(tmp_path_factory: pytest.TempPathFactory, *, tiny: bool) -> Path:
    """The ladder analysis folder of this test session (made once, shared across modules)."""
    folder = tmp_path_factory.getbasetemp() / ("ladder-tiny" if tiny else "ladder")
    if not (folder / "report.html").is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            analyze(
                "ladder",
                folder,
                settings=TINY if tiny else LADDER_SETTINGS,
                command="emergestats analyze ladder --out out/ladder",
            )
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ladder_folder(tmp_path_factory, tiny=True)


def _differences(before: object, after: object, path: str = "") -> list[str]:
    """Leaves of two JSON values that differ (floats: beyond a relative 1e-9)."""
    if isinstance(before, dict) and isinstance(after, dict):
        if set(before) != set(after):
            return [f"{path}: keys {sorted(set(before) ^ set(after))}"]
        return [d for k in before for d in _differences(before[k], after[k], f"{path}.{k}")]
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: lengths {len(before)} != {len(after)}"]
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in _differences(b, a, f"{path}[{i}]")
        ]
    if isinstance(before, float) and isinstance(after, float):
        same = math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12) or (
            math.isnan(before) and math.isnan(after)
        )
        return [] if same else [f"{path}: {before!r} != {after!r}"]
    return [] if before == after else [f"{path}: {before!r} != {after!r}"]


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def check_sections(folder: Path) -> dict:
    """Every section in the HTML and Markdown, self-contained HTML; returns the report JSON."""
    html = (folder / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    # self-contained: no external resource of any kind
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "<link" not in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    for heading in (
        "## What was fitted",
        "## Verdicts",
        "## Summary by metric kind",
        "## Calibration",
        "## Diagnostics",
        "## Configuration and reproduction",
    ):
        assert heading in markdown
    report = _report(folder)
    for key in ("data", "curves", "verdicts", "summary_by_kind", "calibration", "diagnostics"):
        assert report[key], key
    assert report["reproduce"]["command"].startswith("emergestats analyze")
    assert report["reproduce"]["versions"]["pymc"] != "-"
    assert {f["fit"] for f in report["diagnostics"]["fits"]} >= {"all_metrics"}
    for fit in report["diagnostics"]["fits"]:
        assert fit["pareto_k_max"] is not None and fit["r_hat_max"] is not None
    return report


# --------------------------------------------------------------------------------------------
# The tiny ladder analysis
# --------------------------------------------------------------------------------------------


def test_tiny_ladder_report_has_every_section(tiny: Path) -> None:
    report = check_sections(tiny)
    data = report["data"]
    assert data["dataset"]["name"] == "ladder" and data["dataset"]["citation"]
    (curve,) = data["curves"]
    assert curve["n_sizes"] == 12 and curve["size_min"] == 85.0
    metrics = {m["metric"]: m for m in curve["metrics"]}
    assert metrics["accuracy"]["n_items_max"] == 540
    assert metrics["subset_accuracy_L32"]["answer_length"]["mean"] == 32
    # one verdict per tested series and mode: accuracy and 5 subset accuracies, two modes
    assert len(report["verdicts"]) == 12
    assert {r["mode"] for r in report["verdicts"]} == {"cross_metric", "in_sample"}
    kinds = {(s["mode"], s["metric_kind"]) for s in report["summary_by_kind"]}
    assert ("cross_metric", "exact_match") in kinds and ("in_sample", "accuracy") in kinds


def test_failed_fits_are_marked_wherever_their_numbers_appear(tiny: Path) -> None:
    report = _report(tiny)
    # 60 draws cannot pass the ESS threshold: every fit fails
    assert set(report["failed_fits"]) == {"all_metrics", "cross_metric/smooth"}
    assert all(r["fit_passed"] is False for r in report["verdicts"])
    assert all(r["fit_passed"] is False for r in report["calibration"]["rows"])
    assert all(s["fit_passed"] is False for s in report["summary_by_kind"])
    assert "FAILED" in report["headline"]["sentence"]
    html = (tiny / "report.html").read_text(encoding="utf-8")
    assert 'id="failed-fits"' in html
    for section in ("curves", "verdicts", "summary", "calibration", "diagnostics"):
        start = html.index(f'<section id="{section}"')
        end = html.index("</section>", start)
        assert "FAILED" in html[start:end], section
    markdown = (tiny / "report.md").read_text(encoding="utf-8")
    for heading in ("## Verdicts", "## Summary by metric kind", "## Calibration", "## Diagnostics"):
        part = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
        assert "FAILED diagnostics" in part, heading


def test_every_shown_number_is_in_the_json(tiny: Path) -> None:
    report = _report(tiny)
    text = json.dumps(report)
    html = (tiny / "report.html").read_text(encoding="utf-8")
    # the verdict rows' texts are rendered from the JSON's fields
    for row in report["verdicts"]:
        assert row["excess_text"] in html and row["excess_text"] in text
    start = html.index('<section id="diagnostics"')
    end = html.index("</section>", start)
    for fit in report["diagnostics"]["fits"]:
        assert f"{fit['r_hat_max']:.4g}" in html[start:end]


def test_calibration_names_the_closest_cell_and_the_caveat(tiny: Path) -> None:
    rows = _report(tiny)["calibration"]["rows"]
    subset = [
        r for r in rows if r["metric"] == "subset_accuracy_L32" and r["mode"] == "cross_metric"
    ]
    (row,) = subset
    # the ladder's 16 groups of 32 images over 12 sizes are not a measured design: the closest
    # cell of the reference break (CE halved), nearest in (log items, sizes / 4): 50 items and
    # 8 sizes (distance 2.14) before 200 items and 12 sizes (2.53); flagged as indicative,
    # with the latent-break step test's rates beside the verdict's
    assert row["cell"] == "generation L=5, 50 items, 8 sizes"
    assert row["in_grid"] is False and "indicative only" in row["caveat"]
    assert row["false_alarm"] == 0.0 and row["false_alarm_high"] == pytest.approx(0.1611, abs=1e-3)
    assert row["false_alarm_break"] == 0.0 and row["power_break"] == 0.25
    # accuracy of the ladder's ten-class task (540 images): of the measured choice cells (K = 2
    # and 4 at 200 items, K = 4 at 1,000; 8 sizes) the nearest in items and in the number of
    # choices, flagged as indicative
    accuracy = [r for r in rows if r["metric"] == "accuracy" and r["mode"] == "cross_metric"]
    assert accuracy[0]["n_choices"] == 10
    assert accuracy[0]["cell"] == "choice K=4, 1000 items, 8 sizes"
    assert "10 choices" in accuracy[0]["caveat"] and "indicative only" in accuracy[0]["caveat"]
    in_sample = [r for r in rows if r["mode"] == "in_sample"]
    assert all("not measured" in r["caveat"] for r in in_sample)


def test_report_rerenders_from_the_saved_folder(tiny: Path) -> None:
    before = _report(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = load_analysis(tiny)
    assert isinstance(analysis, Analysis)
    assert set(analysis.fits) == {"all_metrics", "cross_metric/smooth"}
    assert analysis.jump.fits["in_sample/smooth"] is analysis.fit
    write_report(analysis, tiny)
    after = _report(tiny)
    assert after["verdicts"] == before["verdicts"]
    assert after["calibration"] == before["calibration"]
    # the LOO sums may differ in the last digit (summation order of the reloaded arrays)
    assert _differences(before["diagnostics"], after["diagnostics"]) == []
    lines = verdict_lines(analysis)
    assert len(lines) == 6 and set(lines["fit"]) == {"FAILED"}


def test_a_folder_saved_before_the_step_test_still_loads(tiny: Path, tmp_path: Path) -> None:
    # analyses saved before 2026-12-05 have no step_p column: it reads back as NaN
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny, old)
    path = old / "jump" / "verdicts.csv"
    pd.read_csv(path).drop(columns="step_p").to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = load_analysis(old)
        current = load_analysis(tiny)
    assert analysis.jump.verdicts["step_p"].isna().all()
    assert list(analysis.jump.verdicts.columns) == list(current.jump.verdicts.columns)


def test_build_report_is_json_ready(tiny: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = build_report(load_analysis(tiny))
    json.dumps(report, allow_nan=False)


def test_load_analysis_of_a_foreign_folder_is_one_sentence(tmp_path: Path) -> None:
    from emergestats.errors import DataFormatError

    with pytest.raises(DataFormatError, match="not an analysis folder"):
        load_analysis(tmp_path)


# --------------------------------------------------------------------------------------------
# Package data and formats (no fit)
# --------------------------------------------------------------------------------------------


def test_templates_and_calibration_ship_with_the_package() -> None:
    folder = resources.files("emergestats.report")
    assert folder.joinpath("templates", "report.html.j2").is_file()
    assert folder.joinpath("templates", "report.md.j2").is_file()
    shipped = folder.joinpath("calibration.csv").read_text(encoding="utf-8")
    assert shipped == (REPO / "docs" / "calibration.csv").read_text(encoding="utf-8"), (
        "src/emergestats/report/calibration.csv must be a copy of docs/calibration.csv"
    )
    assert {"mode", "cell", "false_alarm", "power"} <= set(measured_calibration().columns)


def test_render_table_moves_long_reasons_to_footnotes() -> None:
    reason = "no continuous metric (log-likelihood, Brier, edit distance) of the same outputs " * 3
    frame = pd.DataFrame(
        {
            "metric": ["a", "b", "c"],
            "p": [0.5, float("nan"), 0.01234],
            "reason": [reason, "", reason],
        }
    )
    text = render_table(frame, "table", width=80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[1].split() == ["a", "0.5", "[1]"]
    assert lines[2].split() == ["b"]  # a missing value and no reason: nothing shown
    assert lines[3].split() == ["c", "0.01234", "[1]"]
    assert text.count("[1]") == 3 and "[2]" not in text  # the same reason: one footnote
    assert render_table(frame, "csv").splitlines()[0] == "metric,p,reason"
    records = json.loads(render_table(frame, "json"))
    assert records[1]["p"] is None and records[0]["reason"] == reason
    markdown = render_table(frame, "markdown").splitlines()
    assert markdown[0] == "| metric | p | reason |" and markdown[1] == "| --- | --- | --- |"
    with pytest.raises(ValueError, match="unknown format"):
        render_table(frame, "xml")


def test_render_table_keeps_integers_whole_beside_float_columns() -> None:
    frame = pd.DataFrame({"n_items": [100, 1600], "power": [0.1, 0.123456]})
    lines = render_table(frame, "table", digits=2).splitlines()
    assert lines[1].split() == ["100", "0.1"]
    assert lines[2].split() == ["1600", "0.12"]
    assert render_table(frame, "markdown", digits=2).splitlines()[3] == "| 1600 | 0.12 |"


# --------------------------------------------------------------------------------------------
# Slow: the real reports
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ladder_report_with_the_quick_start_settings(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = ladder_folder(tmp_path_factory, tiny=False)
    report = check_sections(folder)
    print(json.dumps(report["diagnostics"]["fits"], indent=1))
    # the preset is chosen so that both fits pass: nothing is marked failed
    assert report["failed_fits"] == []
    assert report["headline"]["fit_passed"] is True
    row = next(
        r
        for r in report["verdicts"]
        if r["metric"] == "subset_accuracy_L32" and r["mode"] == "cross_metric"
    )
    assert row["verdict"] == "explained_by_metric"
    assert row["predicted_q05"] <= row["observed"] <= row["predicted_q95"]
    assert "2 chains" in report["config"]["rationale"]


@pytest.mark.slow
@pytest.mark.realdata
def test_obsscaling_emergent_task_report(tmp_path: Path, data_dir: Path) -> None:
    import emergestats as es

    table = es.datasets.load("obsscaling")
    # word_unscrambling (called emergent by Wei et al. 2022) for the two families with 8 sizes
    small = table[
        (table["task"] == "word_unscrambling") & table["family"].isin(["Pythia", "OPT"])
    ].reset_index(drop=True)
    settings = AnalysisSettings(
        modes=("in_sample", "cross_metric"),
        draws=1000,
        tune=1000,
        chains=2,
        n_replicates=1000,
        random_seed=1,
        rationale="slow test: two families of one ObsScaling task",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analyze(
            small,
            tmp_path,
            settings=settings,
            dataset="obsscaling",
            command="emergestats analyze obsscaling --task word_unscrambling --out OUT",
        )
    report = check_sections(tmp_path)
    print(json.dumps(report["diagnostics"]["fits"], indent=1))
    data = report["data"]
    assert data["dataset"]["name"] == "obsscaling" and "Ruan" in data["dataset"]["citation"]
    assert data["n_curves"] == 2
    lengths = [m["answer_length"] for c in data["curves"] for m in c["metrics"]]
    # answer lengths from the BIG-bench task definition, item by item
    assert all(a is not None and a["n_items"] for a in lengths)
    verdicts = report["verdicts"]
    assert len(verdicts) == 4
    cross = [r for r in verdicts if r["mode"] == "cross_metric"]
    assert all(r["verdict"] == "inconclusive" and "continuous" in r["reason"] for r in cross)
    in_sample = [r for r in verdicts if r["mode"] == "in_sample"]
    passed = report["fit_passed"]["all_metrics"]
    for row in in_sample:
        assert row["fit_passed"] is passed
        if not passed:
            assert row["verdict"] == "inconclusive"


def test_both_ladders_get_the_ladder_preset_and_other_tables_the_defaults() -> None:
    from emergestats.analysis import AnalysisSettings, default_settings

    assert default_settings("ladder") is LADDER_SETTINGS
    assert default_settings("ladder-conv") is LADDER_SETTINGS
    assert default_settings("obsscaling") == AnalysisSettings()
