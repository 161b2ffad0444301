"""The package's own model ladder: real models of 12 sizes, small enough to ship with it.

Schaeffer, Miranda & Koyejo (2023) manufacture "emergent" abilities in vision networks by
scoring them with an all-or-nothing metric. The ladder repeats that experiment on data that ships
with scikit-learn (its 1,797 8x8 handwritten digits, 10 classes), with models trained in a few
seconds on a CPU by ``analyses/train_ladder.py``, and records every model's probability of every
class for every test image, so any metric can be computed from the same outputs.

The family
----------
A model of width ``h`` is a one-hidden-layer network: ``h`` random Fourier features of the
pixels, ``sqrt(2 / h) * cos(x @ w + b)`` (Rahimi & Recht 2007: they approximate an RBF kernel
whose bandwidth is scikit-learn's ``gamma="scale"`` heuristic), followed by a softmax read-out
with an L2 penalty. The first layer is drawn at random and frozen, the read-out is trained; this
random-feature model is the solvable model of neural scaling laws (Maloney, Roberts & Sully
2022). Widths double from 1 to 2,048, and the family is nested: the width-``h`` model uses the
first ``h`` of one set of random features. Its ``params`` are all weights and biases of the
network, ``65 h + 10 (h + 1)`` (see :func:`ladder_params`): 85 to 153,610, 3.3 decades.

Why not an MLP trained by gradient descent: its training is chaotic, so the last-bit differences
between two CPUs' BLAS kernels (``OPENBLAS_CORETYPE=Haswell`` versus ``SkylakeX`` on one machine)
change the stored log-probabilities by up to 5 nats, and the committed file could only be
reproduced on the CPU that made it. The read-out here is a strictly convex problem with one
optimum, which :func:`train_ladder` reaches to the floating-point floor by Newton's method; two
such CPUs (and numpy with and without AVX-512) agree to about 1e-12 nats, far below the
2^-20 nat grid the log-probabilities are stored on, so a rerun reproduces the files exactly.

Tables
------
:func:`load_ladder_items`: one row per model and test image (540 images, 54 per class), with the
log-probabilities of all 10 classes (``choice_logprobs``, on a grid of 2^-20 nats). Item ids are
the images' row numbers in ``sklearn.datasets.load_digits`` (zero-padded to 4 digits).

:func:`load_ladder_evaluations`: per model, ``accuracy`` (argmax is the true class),
``subset_accuracy_L{L}`` (fraction of disjoint groups of ``L`` test images that are all right,
see :func:`subset_groups`), ``brier_mean`` (BIG-bench's per-choice mean) and ``brier_sum``, and
``log_likelihood`` (mean log-probability of the true class, nats). Scores are rounded to 10
decimals. Every score is computed from the stored item table by :func:`evaluate_ladder_items`.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from emergestats.data.table import read_table, validate, validate_items, write_table
from emergestats.errors import ConfigError, DataFormatError
from emergestats.metrics import (
    brier_score,
    chance_level,
    choice_probabilities,
    multiple_choice_grade,
)

__all__ = [
    "LADDER_SEED",
    "LADDER_WIDTHS",
    "SUBSET_SIZES",
    "LadderTables",
    "evaluate_ladder_items",
    "ladder_model_name",
    "ladder_params",
    "load_ladder_evaluations",
    "load_ladder_items",
    "subset_groups",
    "train_ladder",
    "write_ladder",
]

#: Hidden widths of the committed ladder; the widest also sets how many random features are drawn.
LADDER_WIDTHS: Final[tuple[int, ...]] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
#: The seed the committed files were made with.
LADDER_SEED: Final[int] = 0
#: Group sizes ``L`` of the subset-accuracy metrics.
SUBSET_SIZES: Final[tuple[int, ...]] = (2, 4, 8, 16, 32)

TASK: Final[str] = "digits"
FAMILY: Final[str] = "ladder"
SOURCE: Final[str] = "emergestats ladder"
EVALUATIONS_FILE: Final[str] = "evaluations.csv"
ITEMS_FILE: Final[str] = "items.parquet"

N_CLASSES: Final[int] = 10
N_PIXELS: Final[int] = 64
#: Test images per class (the smallest class has 174 images, leaving at least 120 to train on).
TEST_IMAGES_PER_CLASS: Final[int] = 54
#: L2 penalty on the read-out, added to the mean cross-entropy as ``penalty / 2 * ||W||^2``.
L2_PENALTY: Final[float] = 1e-4
#: Log-probabilities are stored on this grid (about 1e-6 nats): a power of two, so that storing
#: is exact arithmetic, and coarse enough that cross-CPU noise (~1e-12) does not reach the file.
LOGPROB_QUANTUM: Final[float] = 2.0**-20
#: Evaluation scores are rounded to this many decimals (exp/log differ in the last bit by CPU).
SCORE_DECIMALS: Final[int] = 10

_FEATURE_POOL: Final[int] = max(LADDER_WIDTHS)
# Independent random streams from one seed: the legacy RandomState stream is frozen by NEP 19,
# so the split, the features and the groups do not change with numpy versions.
_STREAM_SPLIT_AND_FEATURES: Final[int] = 0
_STREAM_SUBSET_GROUPS: Final[int] = 1
# Newton's method: line search until the gradient is small, then full steps; stop one full step
# after the largest gradient entry falls below the tolerance (the floor is ~1e-17 here).
_GRADIENT_TOLERANCE: Final[float] = 1e-12
_FULL_STEPS_BELOW: Final[float] = 1e-8
_MAX_NEWTON_STEPS: Final[int] = 50
_MAX_CG_STEPS: Final[int] = 2000

type FloatArray = npt.NDArray[np.float64]


class LadderTables(NamedTuple):
    """The ladder's two canonical tables."""

    evaluations: pd.DataFrame
    items: pd.DataFrame


def ladder_params(width: int) -> int:
    """All weights and biases of the width-``h`` network: ``65 h`` (features) ``+ 10 (h + 1)``."""
    return width * (N_PIXELS + 1) + N_CLASSES * (width + 1)


def ladder_model_name(width: int) -> str:
    """The ``model`` name of the width-``h`` network, e.g. ``rff-0032``."""
    return f"rff-{width:04d}"


# --------------------------------------------------------------------------------------------
# Loading the packaged tables
# --------------------------------------------------------------------------------------------


def load_ladder_evaluations() -> pd.DataFrame:
    """The committed evaluation table of the ladder (12 models x 9 metrics).

    Returns
    -------
    pandas.DataFrame
        A validated evaluation table (see ``emergestats.data.table``) with ``target_tokens``
        (1, or ``L`` for ``subset_accuracy_L{L}``); see the module docstring for the metrics.

    Raises
    ------
    DataFormatError
        If the packaged file is missing or does not validate (a broken installation).
    """
    table = _read_packaged(EVALUATIONS_FILE)
    if "item" in table.columns:
        raise DataFormatError(
            "the packaged ladder evaluation file holds an item table; regenerate it with "
            "`python analyses/train_ladder.py`",
            path=EVALUATIONS_FILE,
        )
    return table


def load_ladder_items() -> pd.DataFrame:
    """The committed item table of the ladder (12 models x 540 test images).

    Returns
    -------
    pandas.DataFrame
        A validated item table with ``correct_choice`` (the true digit) and ``choice_logprobs``
        (the log-probability of each digit 0..9, nats, on a 2^-20 grid).

    Raises
    ------
    DataFormatError
        If the packaged file is missing or does not validate (a broken installation).
    """
    table = _read_packaged(ITEMS_FILE)
    if "item" not in table.columns:
        raise DataFormatError(
            "the packaged ladder item file holds no 'item' column; regenerate it with "
            "`python analyses/train_ladder.py`",
            path=ITEMS_FILE,
        )
    return table


def _read_packaged(file_name: str) -> pd.DataFrame:
    resource = importlib.resources.files("emergestats") / "resources" / "ladder" / file_name
    if not resource.is_file():
        raise DataFormatError(
            "the packaged ladder file is missing; reinstall emergestats, or regenerate the file "
            "from a source checkout with `python analyses/train_ladder.py`",
            path=str(resource),
        )
    # as_file: a real path even where the package is installed inside a zip file.
    with importlib.resources.as_file(resource) as path:
        return read_table(path)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train_ladder(*, widths: Sequence[int] = LADDER_WIDTHS, seed: int = LADDER_SEED) -> LadderTables:
    """Train the ladder and score it: the item table and the evaluation table.

    Deterministic: the same ``seed`` gives the same tables, on any CPU (see the module
    docstring), and a model's rows do not depend on which other widths are trained.

    Parameters
    ----------
    widths
        Hidden widths to train, each in 1..2048 (the random features are always drawn for
        width 2048, so a model's rows are the same whatever other widths are asked for).
    seed
        Seed (>= 0) of the train/test split, the random features and the subset groups.

    Returns
    -------
    LadderTables
        ``evaluations`` (from :func:`evaluate_ladder_items`) and ``items``, models in order of
        width, items in order of id.

    Raises
    ------
    ConfigError
        If a width or the seed is out of range.
    ModuleNotFoundError
        If scikit-learn (the ``ladder`` extra), which ships the digits, is not installed.
    """
    widths = _checked_widths(widths)
    if not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ConfigError(f"argument 'seed' must be an integer in 0..2**32-1, not {seed!r}")
    try:
        from sklearn.datasets import load_digits
        from threadpoolctl import threadpool_limits
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "training the ladder needs scikit-learn, which ships the digits: "
            "pip install 'emergestats[ladder]'"
        ) from exc

    images, labels = load_digits(return_X_y=True)
    pixels = np.asarray(images, dtype=np.float64) / 16.0  # 0..16 grey levels to 0..1
    labels = np.asarray(labels, dtype=np.intp)
    rng = np.random.RandomState([seed, _STREAM_SPLIT_AND_FEATURES])
    test = np.sort(
        np.concatenate(
            [
                rng.permutation(np.flatnonzero(labels == digit))[:TEST_IMAGES_PER_CLASS]
                for digit in range(N_CLASSES)
            ]
        )
    )
    train = np.setdiff1d(np.arange(len(labels)), test)
    gamma = 1.0 / (N_PIXELS * float(pixels[train].var()))  # scikit-learn's gamma="scale"
    frequencies = rng.normal(scale=math.sqrt(2.0 * gamma), size=(N_PIXELS, _FEATURE_POOL))
    phases = rng.uniform(0.0, 2.0 * math.pi, size=_FEATURE_POOL)

    frames = []
    # One BLAS thread: the same summation order on every run (and faster for these sizes).
    with threadpool_limits(limits=1):
        for width in widths:
            readout = _fit_softmax_readout(
                _random_features(pixels[train], frequencies, phases, width),
                labels[train],
                l2_penalty=L2_PENALTY,
            )
            logits = _random_features(pixels[test], frequencies, phases, width) @ readout
            log_probs = _quantize(_log_softmax(logits))
            frames.append(_item_rows(width, test, labels[test], log_probs))
    items = validate_items(pd.concat(frames, ignore_index=True))
    return LadderTables(evaluate_ladder_items(items, seed=seed), items)


def _checked_widths(widths: Sequence[int]) -> list[int]:
    values = list(widths)
    bad = [w for w in values if not isinstance(w, int | np.integer) or not 1 <= w <= _FEATURE_POOL]
    if not values or bad:
        raise ConfigError(
            f"argument 'widths' must be a non-empty list of integers in 1..{_FEATURE_POOL}, "
            f"not {values!r}"
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"argument 'widths' repeats a width: {values!r}; give each once")
    return sorted(int(w) for w in values)


def _random_features(
    pixels: FloatArray, frequencies: FloatArray, phases: FloatArray, width: int
) -> FloatArray:
    """The first ``width`` random Fourier features, plus a constant 1 for the read-out's bias."""
    features = math.sqrt(2.0 / width) * np.cos(pixels @ frequencies[:, :width] + phases[:width])
    return np.hstack([features, np.ones((len(pixels), 1))])


def _log_softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _quantize(log_probs: FloatArray) -> FloatArray:
    # Division and multiplication by a power of two are exact; "+ 0.0" turns -0.0 into 0.0.
    return np.rint(log_probs / LOGPROB_QUANTUM) * LOGPROB_QUANTUM + 0.0


def _fit_softmax_readout(
    features: FloatArray, labels: npt.NDArray[np.intp], *, l2_penalty: float
) -> FloatArray:
    """Minimise mean cross-entropy + ``l2_penalty / 2 * ||W||^2`` by Newton-CG to the floor.

    The penalty covers the bias too (the constant feature), so the problem is strictly convex:
    its one optimum, not the path to it, decides the result.
    """
    n_samples = len(labels)
    rows = np.arange(n_samples)
    targets = np.zeros((n_samples, N_CLASSES))
    targets[rows, labels] = 1.0
    weights = np.zeros((features.shape[1], N_CLASSES))

    def objective(candidate: FloatArray) -> float:
        log_probs = _log_softmax(features @ candidate)
        return float(-log_probs[rows, labels].mean() + 0.5 * l2_penalty * np.sum(candidate**2))

    for _ in range(_MAX_NEWTON_STEPS):
        probs = np.exp(_log_softmax(features @ weights))
        gradient = features.T @ (probs - targets) / n_samples + l2_penalty * weights

        def hessian_times(direction: FloatArray, probs: FloatArray = probs) -> FloatArray:
            # Softmax Hessian: J^T (diag(p) - p p^T) J per sample, averaged, plus the penalty.
            response = probs * (features @ direction)
            response -= probs * response.sum(axis=1, keepdims=True)
            return features.T @ response / n_samples + l2_penalty * direction

        largest = float(np.abs(gradient).max())
        converged = largest <= _GRADIENT_TOLERANCE
        # Inexact Newton (Eisenstat-Walker forcing term); a tight solve for the final step.
        forcing = 1e-8 if converged else min(0.5, math.sqrt(float(np.linalg.norm(gradient))))
        step = _conjugate_gradient(hessian_times, -gradient, relative_tolerance=forcing)
        length = 1.0
        if largest > _FULL_STEPS_BELOW:
            start, slope = objective(weights), float(np.sum(gradient * step))
            while objective(weights + length * step) > start + 1e-4 * length * slope:
                length /= 2.0
        weights = weights + length * step
        if converged:
            return weights
    raise RuntimeError(
        f"the ladder's read-out did not converge in {_MAX_NEWTON_STEPS} Newton steps (largest "
        f"gradient entry {largest:.1e}); this is a bug, please report it"
    )


def _conjugate_gradient(
    operator: Callable[[FloatArray], FloatArray],
    right_side: FloatArray,
    *,
    relative_tolerance: float,
) -> FloatArray:
    solution = np.zeros_like(right_side)
    residual = right_side.copy()
    direction = residual.copy()
    residual_norm2 = float(np.sum(residual**2))
    target = relative_tolerance**2 * residual_norm2
    for _ in range(_MAX_CG_STEPS):
        if residual_norm2 <= target:
            break
        image = operator(direction)
        alpha = residual_norm2 / float(np.sum(direction * image))
        solution += alpha * direction
        residual -= alpha * image
        new_norm2 = float(np.sum(residual**2))
        direction = residual + (new_norm2 / residual_norm2) * direction
        residual_norm2 = new_norm2
    return solution


def _item_rows(
    width: int,
    images: npt.NDArray[np.intp],
    labels: npt.NDArray[np.intp],
    log_probs: FloatArray,
) -> pd.DataFrame:
    n_images = len(images)
    return pd.DataFrame(
        {
            "task": TASK,
            "subtask": TASK,
            "family": FAMILY,
            "model": ladder_model_name(width),
            "params": float(ladder_params(width)),
            "shots": -1,
            "item": [f"{image:04d}" for image in images],
            "target_tokens": 1.0,
            "logprob": log_probs[np.arange(n_images), labels],
            "correct": (log_probs.argmax(axis=1) == labels).astype(np.int64),
            "choice_logprobs": [tuple(row) for row in log_probs.tolist()],
            "source": SOURCE,
            "correct_choice": labels.astype(np.int64),
        }
    )


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def subset_groups(n_items: int, size: int, *, seed: int = LADDER_SEED) -> npt.NDArray[np.intp]:
    """The disjoint groups of ``size`` items that subset accuracy scores together.

    ``numpy.random.RandomState([seed, 1]).permutation(n_items)`` cut into consecutive runs of
    ``size``; the last ``n_items % size`` items of the permutation are in no group (for 540
    items: 0, 0, 4, 12 and 28 items for ``L`` = 2, 4, 8, 16, 32 — a deliberate, counted
    exclusion). Item positions refer to a model's items in order of item id; every model gets
    the same groups, and the groups for ``2 L`` are unions of pairs of groups for ``L``.

    Parameters
    ----------
    n_items
        Number of items (> 0).
    size
        Items per group, 1..``n_items``.
    seed
        The ladder's seed.

    Returns
    -------
    numpy.ndarray
        Item positions, shape ``(n_items // size, size)``.
    """
    if not 1 <= size <= n_items:
        raise ConfigError(f"subset size must be in 1..{n_items} (the items), not {size}")
    permutation = np.random.RandomState([seed, _STREAM_SUBSET_GROUPS]).permutation(n_items)
    n_groups = n_items // size
    return permutation[: n_groups * size].reshape(n_groups, size)


def evaluate_ladder_items(
    items: pd.DataFrame,
    *,
    subset_sizes: Sequence[int] = SUBSET_SIZES,
    seed: int = LADDER_SEED,
) -> pd.DataFrame:
    """Score every model of a ladder item table: the evaluation table.

    Parameters
    ----------
    items
        An item table with ``correct_choice`` and ``choice_logprobs``, every model scored on the
        same items (as :func:`train_ladder` and :func:`load_ladder_items` give).
    subset_sizes
        The ``L`` of the ``subset_accuracy_L{L}`` rows.
    seed
        Seed of :func:`subset_groups`.

    Returns
    -------
    pandas.DataFrame
        A validated evaluation table, models in order of ``params``; metrics ``accuracy``,
        ``subset_accuracy_L{L}``, ``brier_mean``, ``brier_sum``, ``log_likelihood``, with
        ``target_tokens`` (``L`` for subset accuracy, else 1). Scores rounded to 10 decimals.

    Raises
    ------
    DataFormatError
        If a column the scores need is missing or the models were scored on different items.
    """
    table = validate_items(items)
    if "correct_choice" not in table.columns or table["choice_logprobs"].isna().any():
        raise DataFormatError(
            "the ladder item table needs 'correct_choice' and 'choice_logprobs' in every row; "
            "make it with train_ladder()",
            column="correct_choice",
        )
    models = table.drop_duplicates("model").sort_values("params", kind="stable")["model"]
    reference_items: list[str] | None = None
    rows: list[dict[str, object]] = []
    for model in models:
        scored = table[table["model"] == model].sort_values("item", kind="stable")
        item_ids = scored["item"].tolist()
        if reference_items is None:
            reference_items = item_ids
        elif item_ids != reference_items:
            raise DataFormatError(
                f"model {model!r} was scored on other items than {models.iloc[0]!r}; every "
                "model of the ladder must be scored on the same test items",
                column="item",
            )
        rows.extend(_model_scores(scored, subset_sizes=subset_sizes, seed=seed))
    return validate(pd.DataFrame(rows))


def _model_scores(
    scored: pd.DataFrame, *, subset_sizes: Sequence[int], seed: int
) -> list[dict[str, object]]:
    """The evaluation rows of one model from its item rows (in order of item id)."""
    log_probs = np.array(scored["choice_logprobs"].tolist(), dtype=np.float64)
    true_class = scored["correct_choice"].to_numpy(dtype=np.intp)
    correct = scored["correct"].to_numpy(dtype=np.int64)
    n_items = len(scored)
    # BIG-bench's Brier score renormalises the choices' probabilities to sum to one.
    probs = choice_probabilities(log_probs)
    # per-item values of the continuous metrics, for their standard errors
    one_hot = np.eye(N_CLASSES)[true_class]
    item_brier = ((probs - one_hot) ** 2).mean(axis=1)
    item_logprob = scored["logprob"].to_numpy(dtype=np.float64)

    def stderr(values: np.ndarray) -> float:
        return float(np.std(values, ddof=1) / math.sqrt(len(values)))

    # (metric, metric_kind, score, n_items, chance, target_tokens, score_stderr); chances are
    # exact fractions. Proportions carry no stderr: it is binomial, given by n_items.
    scores: list[tuple[str, str, float, int, float, int, float]] = [
        (
            "accuracy",
            "accuracy",
            multiple_choice_grade(log_probs, true_class),
            n_items,
            chance_level(N_CLASSES),
            1,
            math.nan,
        )
    ]
    for size in subset_sizes:
        all_right = correct[subset_groups(n_items, size, seed=seed)].all(axis=1)
        chance = float(Fraction(1, N_CLASSES**size))
        scores.append(
            (f"subset_accuracy_L{size}", "exact_match", float(all_right.mean()), len(all_right),
             chance, size, math.nan)
        )  # fmt: skip
    scores += [
        ("brier_mean", "brier", brier_score(probs, true_class, form="mean"), n_items,
         chance_level(N_CLASSES, metric="brier_mean"), 1, stderr(item_brier)),
        ("brier_sum", "brier", brier_score(probs, true_class, form="sum"), n_items,
         chance_level(N_CLASSES, metric="brier_sum"), 1, N_CLASSES * stderr(item_brier)),
        # A guesser's log-likelihood is log(1/10), but validate() takes no negative chance: NaN.
        ("log_likelihood", "log_likelihood", math.fsum(scored["logprob"]) / n_items, n_items,
         math.nan, 1, stderr(item_logprob)),
    ]  # fmt: skip
    first = scored.iloc[0]
    key = {column: first[column] for column in ("task", "subtask", "family", "model", "params")}
    return [
        {
            **key,
            "shots": first["shots"],
            "metric": metric,
            "metric_kind": kind,
            "score": round(float(score), SCORE_DECIMALS),
            "n_items": count,
            "chance": chance,
            "source": SOURCE,
            "target_tokens": float(tokens),
            "n_choices": N_CLASSES,
            "score_stderr": round(se, SCORE_DECIMALS) if math.isfinite(se) else math.nan,
        }
        for metric, kind, score, count, chance, tokens, se in scores
    ]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_ladder(tables: LadderTables, folder: str | Path) -> tuple[Path, Path]:
    """Write ``evaluations.csv`` and ``items.parquet`` into ``folder`` (created if needed).

    The item table is written with zstd compression and byte-stream-split encoding of the
    log-probabilities (about 2.4 bytes a value on the 2^-20 grid instead of 8): the same content
    as :func:`emergestats.data.write_table`, in a third of the bytes. Rewriting the same tables
    with the same pandas and pyarrow gives byte-identical files.

    Returns
    -------
    tuple of Path
        The evaluation file and the item file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    evaluations_path = write_table(tables.evaluations, folder / EVALUATIONS_FILE)
    items = tables.items.copy()
    items["choice_logprobs"] = [list(values) for values in items["choice_logprobs"]]
    items_path = folder / ITEMS_FILE
    items.to_parquet(
        items_path,
        index=False,
        compression="zstd",
        use_dictionary=["task", "subtask", "family", "model", "item", "source"],
        use_byte_stream_split=["logprob", "choice_logprobs.list.element"],
    )
    return evaluations_path, items_path
