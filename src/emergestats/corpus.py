"""The whole corpus: every shared source's evaluation table at once, final checkpoints only.

One table for a fit that pools everything the package can read: ObsScaling's BIG-bench emergent
tasks, open_lm's 46 tasks, ExpEmergence, Pythia's evaluations and the lm-evaluation-harness v0.3
results. The hierarchy over sources, families and tasks is carried by the labels:

- ``dataset`` (a new column) names the source of every row;
- ``family`` becomes ``"<dataset>/<family>"``. The same family evaluated by two sources (OPT in
  ObsScaling, Pythia and lm-eval v0.3) is run through different harnesses, prompts and shot
  counts, so its curves in one source are not its curves in another (and two sources' rows of
  the same task, family, model and metric would otherwise be read as repeated evidence). Each
  family gets its own means (``a_mu``, ``log_b_mu``), pooled around its source's
  (``source_a_mu``, ``source_log_b_mu``: the model builders add that level wherever a table's
  ``dataset`` column names two sources or more; see
  :func:`emergestats.models.builders.add_curve_population`), with the spreads of curves around
  their family's shared by the whole corpus;
- ``task`` is kept: a task two sources evaluate (``piqa``, ``arc_easy``, ``winogrande``,
  ``lambada_openai``... in Pythia and lm-eval v0.3; ``arithmetic`` in ObsScaling and lm-eval
  v0.3) has one task effect, the link between sources.

Only the last training step of each (family, size) is kept
(:func:`emergestats.data.table.final_checkpoints`): Pythia's intermediate checkpoints are
another axis (training time), not more models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from emergestats import datasets
from emergestats.data.table import final_checkpoints
from emergestats.datasets import CORPUS_DATASETS
from emergestats.errors import ConfigError

#: The column naming each row's source dataset.
DATASET_COLUMN: Final[str] = "dataset"


def load_corpus(names: Sequence[str] = CORPUS_DATASETS, *, verify: bool = True) -> pd.DataFrame:
    """Every named dataset's canonical table, final checkpoints only, in one table.

    Parameters
    ----------
    names
        Dataset names (:func:`emergestats.datasets.list_datasets`); default
        :data:`emergestats.datasets.CORPUS_DATASETS`. Also ``es.datasets.load("corpus")``.
    verify
        Check the files' checksums (:func:`emergestats.datasets.load`).

    Returns
    -------
    pandas.DataFrame
        The tables stacked, with a ``dataset`` column and families named
        ``"<dataset>/<family>"`` (see the module docstring). Every column of every table is
        kept (missing where a source has none); the row order is the datasets' in ``names``.

    Raises
    ------
    ConfigError
        No names, a name given twice, or a table that already has a ``dataset`` column.
    DatasetUnavailableError
        A dataset's files are missing (see :func:`emergestats.datasets.path`).
    """
    names = list(names)
    if not names:
        raise ConfigError("load_corpus needs at least one dataset name.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"load_corpus: dataset(s) {repeated} named more than once.")
    parts = []
    for name in names:
        table = final_checkpoints(datasets.load(name, verify=verify))
        if DATASET_COLUMN in table.columns:
            raise ConfigError(
                f"Dataset '{name}' already has a '{DATASET_COLUMN}' column; the corpus uses "
                "that name for each row's source."
            )
        table = table.copy()
        table[DATASET_COLUMN] = name
        table["family"] = name + "/" + table["family"].astype(str)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
