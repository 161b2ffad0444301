"""The whole corpus: every shared source stacked, final checkpoints, families named by source."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest

import emergestats as es
from emergestats import corpus, datasets
from emergestats.data.table import CURVE_KEY, final_checkpoints
from emergestats.errors import ConfigError, DataFormatError
from emergestats.models import build_smooth_model
from emergestats.models.prepare import prepare_evaluation
from emergestats.models.priors import DEFAULT_PRIORS


def _rows(family: str, task: str, steps: list[int] | None = None) -> pd.DataFrame:
    """Accuracy of a 3-size family on a 4-choice task, in the canonical table's columns."""
    sizes = [1e8, 1e9, 1e10]
    rows = pd.DataFrame(
        {
            "task": task,
            "subtask": task,
            "family": family,
            "model": [f"{family}-{int(n):d}" for n in sizes],
            "params": sizes,
            "shots": 0,
            "metric": "acc",
            "metric_kind": "accuracy",
            "score": [0.3, 0.4, 0.6],
            "n_items": 500,
            "chance": 0.25,
            "source": f"fixture:{family}",
        }
    )
    if steps is None:
        return rows
    # the same models at an earlier checkpoint, scoring lower: only the last step is kept
    early = rows.assign(score=rows["score"] - 0.05, step=steps[0])
    return pd.concat([early, rows.assign(step=steps[1])], ignore_index=True)


@pytest.fixture
def two_sources(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """Two sources sharing a family name (OPT) and a task (piqa), one with checkpoints."""
    tables = {
        "first": pd.concat([_rows("OPT", "piqa"), _rows("BLOOM", "arc")], ignore_index=True),
        "second": pd.concat(
            [_rows("OPT", "piqa", steps=[1000, 2000]), _rows("pythia", "sciq", steps=[10, 20])],
            ignore_index=True,
        ),
    }
    calls: list[tuple[str, bool]] = []

    def fake_load(name: str, /, *, verify: bool = True) -> pd.DataFrame:
        calls.append((name, verify))
        return tables[name].copy()

    monkeypatch.setattr(datasets, "load", fake_load)
    tables["calls"] = calls  # type: ignore[assignment]
    return tables


def test_sources_are_stacked_with_their_names_and_last_checkpoints(
    two_sources: dict[str, pd.DataFrame],
) -> None:
    table = corpus.load_corpus(["first", "second"], verify=False)
    assert two_sources["calls"] == [("first", False), ("second", False)]  # type: ignore[comparison-overlap]
    # 6 + 6 rows, the second source's 6 earlier checkpoints left out
    assert len(table) == 12
    assert table["dataset"].tolist() == ["first"] * 6 + ["second"] * 6
    assert sorted(table["family"].unique()) == [
        "first/BLOOM",
        "first/OPT",
        "second/OPT",
        "second/pythia",
    ]
    second = table[table["dataset"] == "second"]
    assert set(second["step"]) == {2000, 20}
    assert second["score"].tolist() == [0.3, 0.4, 0.6, 0.3, 0.4, 0.6]


def test_one_family_in_two_sources_is_two_curves_on_one_task(
    two_sources: dict[str, pd.DataFrame],
) -> None:
    table = corpus.load_corpus(["first", "second"], verify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing read as repeated evidence, nothing dropped
        data = prepare_evaluation(table)
    # the table's ``dataset`` column is an optional canonical column: kept, text
    assert data.table["dataset"].tolist() == table["dataset"].tolist()
    assert data.dataset.coords["dataset"].to_numpy().tolist() == table["dataset"].tolist()
    assert data.source_labels == ["first", "second"]
    assert data.family_source is not None
    assert dict(zip(data.family_labels, data.family_source.tolist(), strict=True)) == {
        "first/BLOOM": 0,
        "first/OPT": 0,
        "second/OPT": 1,
        "second/pythia": 1,
    }
    assert data.curves["family"].tolist().count("first/OPT") == 1
    assert data.curves["family"].tolist().count("second/OPT") == 1
    assert len(data.curve_labels) == 4
    # piqa of both sources is one task: its effect links them
    assert data.task_labels == ["arc", "piqa", "sciq"]
    piqa = data.task_labels.index("piqa")
    assert (data.task_index == piqa).sum() == 2
    assert data.task_effects


def test_bad_names_are_refused_before_anything_is_read(
    two_sources: dict[str, pd.DataFrame],
) -> None:
    with pytest.raises(ConfigError, match="at least one dataset"):
        corpus.load_corpus([])
    with pytest.raises(ConfigError, match=r"\['first'\] named more than once"):
        corpus.load_corpus(["first", "second", "first"])
    assert two_sources["calls"] == []  # type: ignore[comparison-overlap]


def test_a_source_with_its_own_dataset_column_is_refused(
    two_sources: dict[str, pd.DataFrame],
) -> None:
    two_sources["first"]["dataset"] = "x"
    with pytest.raises(ConfigError, match="'first' already has a 'dataset' column"):
        corpus.load_corpus(["first", "second"])


def test_corpus_is_a_dataset_name_without_a_folder() -> None:
    assert "corpus" in datasets.list_datasets()
    entry = datasets.DATASETS["corpus"]
    assert entry.reader == "emergestats.corpus:load_corpus"
    for name in datasets.CORPUS_DATASETS:
        assert datasets.DATASETS[name].citation in entry.citation
    with pytest.raises(ConfigError, match=r"'corpus' \(it reads the files of obsscaling, .*load"):
        datasets.path("corpus")


@pytest.mark.realdata
def test_the_real_corpus_holds_every_source_final_rows(data_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the readers' counted notes
        table = es.datasets.load("corpus")
        parts = {name: final_checkpoints(datasets.load(name)) for name in datasets.CORPUS_DATASETS}
    assert table["dataset"].value_counts().to_dict() == {
        name: len(part) for name, part in parts.items()
    }
    for name, part in parts.items():
        mine = table[table["dataset"] == name]
        assert (mine["family"] == name + "/" + part["family"].astype(str).to_numpy()).all()
        assert (mine["score"].to_numpy() == part["score"].to_numpy()).all()
    # no (curve, model, metric) twice: one source's curve is never another's
    assert not table.duplicated([*CURVE_KEY, "model", "metric"]).any()
    # the tasks two sources share link them (Pythia and lm-eval v0.3 both run piqa)
    shared = table.groupby("task")["dataset"].nunique()
    assert {"piqa", "arc_easy", "winogrande"} <= set(shared[shared >= 2].index)


def _two_source_table() -> pd.DataFrame:
    """Two sources, two families each, two tasks per family (so every family pools its means)."""
    parts = [
        _rows(family, task).assign(dataset=source, family=f"{source}/{family}")
        for source, families in (("first", ("OPT", "BLOOM")), ("second", ("OPT", "pythia")))
        for family in families
        for task in ("piqa", "arc")
    ]
    return pd.concat(parts, ignore_index=True)


def _prior_draws(table: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    model = build_smooth_model(table)
    with model:
        prior = pm.sample_prior_predictive(draws=4000, var_names=names, random_seed=1)
    return {name: prior.prior[name].to_numpy().reshape(4000, -1) for name in names}


def test_families_pool_by_source_with_their_prior_unchanged() -> None:
    table = _two_source_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = build_smooth_model(table)
        pooled = _prior_draws(table, ["a_mu", "log_b_mu"])
        single = _prior_draws(table.drop(columns="dataset"), ["a_mu", "log_b_mu"])
    assert model.coords["source"] == ("first", "second")
    assert {"source_a_mu", "source_log_b_mu"} <= set(model.named_vars)
    assert list(model.coords["family_pooled"]) == [
        "first/BLOOM",
        "first/OPT",
        "second/OPT",
        "second/pythia",
    ]
    sigma = DEFAULT_PRIORS["a_mu"]["sigma"], DEFAULT_PRIORS["log_b_mu"]["sigma"]
    for name, sd in zip(["a_mu", "log_b_mu"], sigma, strict=True):
        # each family's prior is the one without sources (4,000 draws: sd within 4%)
        np.testing.assert_allclose(pooled[name].std(axis=0), sd, rtol=0.04)
        np.testing.assert_allclose(single[name].std(axis=0), sd, rtol=0.04)
        corr = np.corrcoef(pooled[name].T)
        # families of one source share half their prior variance, of two sources none
        assert abs(corr[0, 1] - 0.5) < 0.05 and abs(corr[2, 3] - 0.5) < 0.05
        assert abs(corr[1, 2]) < 0.05 and abs(corr[0, 3]) < 0.05
        assert abs(np.corrcoef(single[name].T)[0, 1]) < 0.05


def test_a_family_in_two_sources_or_a_source_missing_is_an_error() -> None:
    table = _two_source_table()
    # second/OPT renamed first/OPT, on a task of its own (else its rows would repeat first/OPT's)
    moved = table["family"] == "second/OPT"
    mixed = table.copy()
    mixed.loc[moved, "family"] = "first/OPT"
    mixed.loc[moved, "task"] = mixed.loc[moved, "subtask"] = "sciq_" + table.loc[moved, "task"]
    with pytest.raises(
        DataFormatError,
        match=r"1 families have rows of several datasets: 'first/OPT' \(first, second\)",
    ):
        prepare_evaluation(mixed, warn=False)
    gap = table.astype({"dataset": object})
    gap.loc[3, "dataset"] = None
    with pytest.raises(DataFormatError, match=r"column 'dataset' is empty in row 3 but not"):
        prepare_evaluation(gap, warn=False)
    # one source: no source level
    one = table.assign(dataset="first")
    assert prepare_evaluation(one, warn=False).family_source is None


@pytest.mark.slow
def test_a_two_source_fit_keeps_the_source_level_through_save_and_predict(
    tmp_path: Path,
) -> None:
    # plumbing (tiny draws), slow for its compile (20-70 s): the source means are sampled,
    # saved, reloaded and predicted from
    table = _two_source_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = es.fit(table, draws=20, tune=20, chains=2, random_seed=1)
        assert fit.idata.posterior["source_a_mu"].sizes["source"] == 2
        fit.save(tmp_path / "fit.zarr")
        loaded = es.Fit.load(tmp_path / "fit.zarr")
        pred = loaded.predict_table(table, random_seed=1)
    assert list(loaded.idata.posterior["source_log_b_mu"].coords["source"].values) == [
        "first",
        "second",
    ]
    assert np.isfinite(pred[["q05", "q50", "q95"]].to_numpy()).all()
    assert ((pred["q05"] >= 0) & (pred["q95"] <= 1)).all()


@pytest.mark.slow
@pytest.mark.realdata
def test_the_corpus_benchmark_measures_a_source(data_dir: Path) -> None:
    # benchmarks/corpus.py --measure-only on one source: the table, the model, one gradient
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "corpus.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--measure-only", "--datasets", "obsscaling"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "EMERGESTATS_DATA_DIR": str(data_dir)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    header, values = completed.stdout.strip().splitlines()[-2:]
    row = dict(zip(header.split(), values.split(), strict=False))
    assert "error" not in row, completed.stdout
    assert int(row["rows"]) == 613  # ObsScaling's emergent tasks (README)
    assert int(row["curves"]) == 165 and int(row["families"]) == 25
    assert int(row["parameters"]) > int(row["curves"])
    assert 0 < float(row["gradient_ms"]) < 1000


@pytest.mark.slow
@pytest.mark.realdata
def test_a_real_two_source_fit_with_the_source_level_passes(data_dir: Path) -> None:
    # LAMBADA (0-shot, per-word log-likelihood and greedy accuracy) in Pythia's evaluations and
    # in lm-eval v0.3's: the OPT models are in both, as two families. Seeds 1 and 2 passed with
    # and without the source level, 10-26 s, in-sample coverage 0.90-0.92 (2026-12-07)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = corpus.load_corpus(["pythia", "lm-eval-v0.3"])
    rows = table[
        (table["task"] == "lambada_openai")
        & (table["shots"] == 0)
        & table["metric"].isin(["loglik_per_word_from_ppl", "acc"])
        & ~table["family"].str.contains("intervention|bf16")
    ]
    assert len(rows) == 82
    assert {"pythia/opt", "lm-eval-v0.3/opt"} <= set(rows["family"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        # target_accept 0.99 as the one-source LAMBADA fit (tests/test_cross_metric.py)
        fit = es.fit(rows, random_seed=1, target_accept=0.99)
    summary = fit.diagnostics_summary()
    assert summary["passed"], summary["failures"]
    assert list(fit.posterior["source_a_mu"].coords["source"].values) == [
        "lm-eval-v0.3",
        "pythia",
    ]
    pred = fit.predict_table(rows, random_seed=1)
    inside = (pred["score"] >= pred["q05"]) & (pred["score"] <= pred["q95"])
    assert 0.8 <= float(inside.mean()) <= 1.0
