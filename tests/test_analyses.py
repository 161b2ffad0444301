"""The paper's analyses (``analyses/``) run from a fresh clone; slow tests run reduced versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.realdata
def test_metric_choice_reduced(data_dir: Path, tmp_path: Path) -> None:
    result = tmp_path / "metric_choice.md"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "analyses" / "metric_choice.py"),
            "--families",
            "OPT,Pythia",
            "--draws",
            "200",
            "--tune",
            "300",
            "--chains",
            "2",
            "--no-report",
            "--out",
            str(tmp_path / "out"),
            "--result",
            str(result),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = result.read_text()
    assert "Reproduced" in text or "Not reproduced" in text
    assert "90% interval coverage" in text
    table = pd.read_csv(tmp_path / "out" / "length_effect.csv")
    # every 3-digit row of the two families is predicted, from its model's 2-digit curve
    assert set(table["family"]) == {"OPT", "Pythia"}
    assert len(table) == 16
    assert table[["q05", "q50", "q95"]].notna().all().all()
    assert (table["q05"] <= table["q95"]).all()
    assert (tmp_path / "out" / "length_effect.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.realdata
def test_bigbench_meta_analysis_reduced(data_dir: Path, tmp_path: Path) -> None:
    result = tmp_path / "bigbench_meta.md"
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "analyses" / "bigbench_meta.py"),
            "--families",
            "OPT",
            "--modes",
            "in_sample",
            "--draws",
            "200",
            "--tune",
            "300",
            "--chains",
            "2",
            "--replicates",
            "200",
            "--n-boot",
            "500",
            "--no-retry",
            "--out",
            str(out),
            "--result",
            str(result),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = result.read_text()
    assert "## Reproduced?" in text
    shares = pd.read_csv(out / "shares.csv")
    # every source and the pooled rows; exact match pooled over open-lm and ObsScaling
    assert set(shares["source"]) == {"open-lm", "obsscaling", "expemergence", "all"}
    pooled = shares[shares["source"] == "all"].set_index("metric_kind")
    per_source = shares[shares["source"] != "all"]
    em = per_source[per_source["metric_kind"] == "exact_match"]
    assert pooled.loc["exact_match", "n_curves"] == em["n_curves"].sum()
    assert pooled.loc["exact_match", "n_high"] == em["n_high"].sum()
    curves = pd.read_csv(out / "curves.csv")
    assert not curves["subtask"].astype(str).str.contains("/brier_group_").any()
    verdicts = pd.read_csv(out / "verdicts.csv")
    # the jump test of ObsScaling's OPT family (8 sizes): every discontinuous series, one mode
    assert set(verdicts["family"]) == {"OPT"}
    assert set(verdicts["mode"]) == {"in_sample"}
    assert set(verdicts["verdict"]) <= {"excess_jump", "explained_by_metric", "inconclusive"}
    assert len(verdicts) == len(verdicts.drop_duplicates(["task", "subtask", "metric"]))
    assert (out / "shares.png").stat().st_size > 10_000
