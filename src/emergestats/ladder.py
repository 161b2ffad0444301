"""The package's own model ladders: real models of 12 sizes, small enough to ship with it.

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

The convolutional ladder
------------------------
A ladder of a different kind on the same images (scikit-learn ships no other image data set
without a download, and a fresh clone must reproduce the files offline): the model with ``F``
filters convolves the 8x8 image (zero-padded, stride 1) with ``F`` random 3x3 filters plus a
bias, all standard normal, applies a ReLU, averages each of the ``F`` maps over the whole image
(global average pooling to a 1x1 grid), and feeds the ``F`` averages to the same softmax
read-out (:func:`train_conv_ladder`). The filters are frozen random features (ReLU features of
Gaussian weights: the arc-cosine kernel of Cho & Saul 2009, here of image patches) and the family
is nested: the ``F``-filter model uses the first ``F`` of one drawn set of 2,048 filters. Filter
counts double from 1 to 2,048; ``params`` = ``10 F + 10 (F + 1)`` (see
:func:`conv_ladder_params`): 30 to 40,970, 3.1 decades. Family ``conv-ladder``, models
``conv-0001`` .. ``conv-2048``, files under ``resources/conv_ladder/``
(:func:`load_conv_ladder_evaluations`, :func:`load_conv_ladder_items`). It uses the same test
images, subset groups, read-out solver, storage grid and scores as the first ladder.

Why pooling to one cell and no ``1 / sqrt(F)`` factor (measured, seed 0): pooling to a 2x2 grid
gives every filter four features, and one filter already reaches accuracy 0.56, so
``subset_accuracy_L32`` is 0 for only the two smallest models; with a ``1 / sqrt(F)`` factor the
fixed penalty weighs more as ``F`` grows and accuracy stalls near 0.6.

Why not an MLP trained by gradient descent: its training is chaotic, so the last-bit differences
between two CPUs' BLAS kernels (``OPENBLAS_CORETYPE=Haswell`` versus ``SkylakeX`` on one machine)
change the stored log-probabilities by up to 5 nats, and the committed file could only be
reproduced on the CPU that made it. The read-out here is a strictly convex problem with one
optimum, which :func:`train_ladder` reaches to the floating-point floor by Newton's method; two
such CPUs (and numpy with and without AVX-512) agree to about 1e-12 nats, far below the
2^-20 nat grid the log-probabilities are stored on, so a rerun reproduces the files exactly.

Tables
------
The same for both ladders (``load_conv_ladder_*`` for the convolutional one).

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
from dataclasses import dataclass
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
    "CONV_LADDER_FILTERS",
    "LADDER_SEED",
    "LADDER_WIDTHS",
    "SUBSET_SIZES",
    "LadderTables",
    "conv_ladder_model_name",
    "conv_ladder_params",
    "evaluate_ladder_items",
    "ladder_model_name",
    "ladder_params",
    "load_conv_ladder_evaluations",
    "load_conv_ladder_items",
    "load_ladder_evaluations",
    "load_ladder_items",
    "subset_groups",
    "train_conv_ladder",
    "train_ladder",
    "write_ladder",
]

#: Hidden widths of the committed ladder; the widest also sets how many random features are drawn.
LADDER_WIDTHS: Final[tuple[int, ...]] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
#: Filter counts of the committed convolutional ladder; the largest also sets how many are drawn.
CONV_LADDER_FILTERS: Final[tuple[int, ...]] = LADDER_WIDTHS
#: The seed the committed files were made with.
LADDER_SEED: Final[int] = 0
#: Group sizes ``L`` of the subset-accuracy metrics.
SUBSET_SIZES: Final[tuple[int, ...]] = (2, 4, 8, 16, 32)

TASK: Final[str] = "digits"
FAMILY: Final[str] = "ladder"
SOURCE: Final[str] = "emergestats ladder"
CONV_FAMILY: Final[str] = "conv-ladder"
CONV_SOURCE: Final[str] = "emergestats conv ladder"
EVALUATIONS_FILE: Final[str] = "evaluations.csv"
ITEMS_FILE: Final[str] = "items.parquet"

N_CLASSES: Final[int] = 10
N_PIXELS: Final[int] = 64
IMAGE_SIDE: Final[int] = 8
#: The convolutional ladder's filters are ``KERNEL_SIZE x KERNEL_SIZE``.
KERNEL_SIZE: Final[int] = 3
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
_FILTER_POOL: Final[int] = max(CONV_LADDER_FILTERS)
# Filters convolved at once (bounds memory: 32 x 1,797 images x 64 positions x 8 bytes = 29 MB).
_FILTER_CHUNK: Final[int] = 32
# Independent random streams from one seed: the legacy RandomState stream is frozen by NEP 19,
# so the split, the features and the groups do not change with numpy versions.
_STREAM_SPLIT_AND_FEATURES: Final[int] = 0
_STREAM_SUBSET_GROUPS: Final[int] = 1
_STREAM_CONV_FILTERS: Final[int] = 2
# Newton's method: line search until the gradient is small, then full steps; stop one full step
# after the largest gradient entry falls below the tolerance (the floor is ~1e-17 here).
_GRADIENT_TOLERANCE: Final[float] = 1e-12
_FULL_STEPS_BELOW: Final[float] = 1e-8
_MAX_NEWTON_STEPS: Final[int] = 50
_MAX_CG_STEPS: Final[int] = 2000

type FloatArray = npt.NDArray[np.float64]
type IndexArray = npt.NDArray[np.intp]


class LadderTables(NamedTuple):
    """A ladder's two canonical tables."""

    evaluations: pd.DataFrame
    items: pd.DataFrame


def ladder_params(width: int) -> int:
    """All weights and biases of the width-``h`` network: ``65 h`` (features) ``+ 10 (h + 1)``."""
    return width * (N_PIXELS + 1) + N_CLASSES * (width + 1)


def ladder_model_name(width: int) -> str:
    """The ``model`` name of the width-``h`` network, e.g. ``rff-0032``."""
    return f"rff-{width:04d}"


def conv_ladder_params(filters: int) -> int:
    """All weights and biases of the ``F``-filter network: ``10 F`` (filters) ``+ 10 (F + 1)``.

    Each filter has ``3 x 3`` weights and a bias; the read-out has a weight per pooled filter and
    a bias for each of the 10 classes.
    """
    return filters * (KERNEL_SIZE**2 + 1) + N_CLASSES * (filters + 1)


def conv_ladder_model_name(filters: int) -> str:
    """The ``model`` name of the ``F``-filter network, e.g. ``conv-0032``."""
    return f"conv-{filters:04d}"


@dataclass(frozen=True)
class _LadderKind:
    """What tells the ladders apart in their tables, files and messages."""

    label: str  # in messages
    family: str
    source: str
    folder: str  # under emergestats/resources/
    argument: str  # the training function's argument for the sizes
    size_noun: str
    pool: int  # the largest size; the random first layer is always drawn for it
    model_name: Callable[[int], str]
    params: Callable[[int], int]
    command: str  # rewrites the packaged files


_RF: Final = _LadderKind(
    label="ladder",
    family=FAMILY,
    source=SOURCE,
    folder="ladder",
    argument="widths",
    size_noun="width",
    pool=_FEATURE_POOL,
    model_name=ladder_model_name,
    params=ladder_params,
    command="python analyses/train_ladder.py",
)
_CONV: Final = _LadderKind(
    label="convolutional ladder",
    family=CONV_FAMILY,
    source=CONV_SOURCE,
    folder="conv_ladder",
    argument="filters",
    size_noun="filter count",
    pool=_FILTER_POOL,
    model_name=conv_ladder_model_name,
    params=conv_ladder_params,
    command="python analyses/train_ladder.py --kind conv",
)


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
    return _load_evaluations(_RF)


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
    return _load_items(_RF)


def load_conv_ladder_evaluations() -> pd.DataFrame:
    """The committed evaluation table of the convolutional ladder (12 models x 9 metrics).

    Returns
    -------
    pandas.DataFrame
        A validated evaluation table, as :func:`load_ladder_evaluations` (family
        ``conv-ladder``).

    Raises
    ------
    DataFormatError
        If the packaged file is missing or does not validate (a broken installation).
    """
    return _load_evaluations(_CONV)


def load_conv_ladder_items() -> pd.DataFrame:
    """The committed item table of the convolutional ladder (12 models x 540 test images).

    Returns
    -------
    pandas.DataFrame
        A validated item table, as :func:`load_ladder_items` (the same 540 test images).

    Raises
    ------
    DataFormatError
        If the packaged file is missing or does not validate (a broken installation).
    """
    return _load_items(_CONV)


def _load_evaluations(kind: _LadderKind) -> pd.DataFrame:
    table = _read_packaged(EVALUATIONS_FILE, kind)
    if "item" in table.columns:
        raise DataFormatError(
            f"the packaged {kind.label} evaluation file holds an item table; regenerate it with "
            f"`{kind.command}`",
            path=EVALUATIONS_FILE,
        )
    return table


def _load_items(kind: _LadderKind) -> pd.DataFrame:
    table = _read_packaged(ITEMS_FILE, kind)
    if "item" not in table.columns:
        raise DataFormatError(
            f"the packaged {kind.label} item file holds no 'item' column; regenerate it with "
            f"`{kind.command}`",
            path=ITEMS_FILE,
        )
    return table


def _read_packaged(file_name: str, kind: _LadderKind = _RF) -> pd.DataFrame:
    resource = importlib.resources.files("emergestats") / "resources" / kind.folder / file_name
    if not resource.is_file():
        raise DataFormatError(
            f"the packaged {kind.label} file is missing; reinstall emergestats, or regenerate the "
            f"file from a source checkout with `{kind.command}`",
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
    widths = _checked_sizes(widths, _RF)
    _check_seed(seed)
    rng = np.random.RandomState([seed, _STREAM_SPLIT_AND_FEATURES])
    digits = _split_digits(rng)
    # the features are drawn from the split's stream, after the split
    gamma = 1.0 / (N_PIXELS * float(digits.pixels[digits.train].var()))  # sklearn's gamma="scale"
    frequencies = rng.normal(scale=math.sqrt(2.0 * gamma), size=(N_PIXELS, _FEATURE_POOL))
    phases = rng.uniform(0.0, 2.0 * math.pi, size=_FEATURE_POOL)

    def features(images: IndexArray, width: int) -> FloatArray:
        return _random_features(digits.pixels[images], frequencies, phases, width)

    return _train_readouts(_RF, widths, digits, features, seed=seed)


def train_conv_ladder(
    *, filters: Sequence[int] = CONV_LADDER_FILTERS, seed: int = LADDER_SEED
) -> LadderTables:
    """Train the convolutional ladder and score it: the item table and the evaluation table.

    The same test images, read-out, storage and scores as :func:`train_ladder`; only the
    features differ (random 3x3 filters, ReLU, global average pooling: see the module
    docstring). Deterministic in the same way.

    Parameters
    ----------
    filters
        Filter counts to train, each in 1..2048 (the filters are always drawn for 2048, so a
        model's rows are the same whatever other counts are asked for).
    seed
        Seed (>= 0) of the train/test split, the filters and the subset groups.

    Returns
    -------
    LadderTables
        ``evaluations`` (from :func:`evaluate_ladder_items`) and ``items``, models in order of
        filter count, items in order of id.

    Raises
    ------
    ConfigError
        If a filter count or the seed is out of range.
    ModuleNotFoundError
        If scikit-learn (the ``ladder`` extra), which ships the digits, is not installed.
    """
    filters = _checked_sizes(filters, _CONV)
    _check_seed(seed)
    digits = _split_digits(np.random.RandomState([seed, _STREAM_SPLIT_AND_FEATURES]))
    rng = np.random.RandomState([seed, _STREAM_CONV_FILTERS])
    kernels = rng.normal(size=(_FILTER_POOL, KERNEL_SIZE, KERNEL_SIZE))
    biases = rng.normal(size=_FILTER_POOL)
    used = max(filters)
    pooled = _conv_features(digits.pixels, kernels[:used], biases[:used])

    def features(images: IndexArray, count: int) -> FloatArray:
        return np.hstack([pooled[images, :count], np.ones((len(images), 1))])

    return _train_readouts(_CONV, filters, digits, features, seed=seed)


class _Digits(NamedTuple):
    pixels: FloatArray  # (1797, 64), grey levels 0..1
    labels: IndexArray
    train: IndexArray  # row numbers, sorted
    test: IndexArray  # row numbers, sorted: 54 images of each digit


def _split_digits(rng: np.random.RandomState) -> _Digits:
    """scikit-learn's digits and the ladders' train/test split, drawn first from ``rng``."""
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "training the ladder needs scikit-learn, which ships the digits: "
            "pip install 'emergestats[ladder]'"
        ) from exc

    images, labels = load_digits(return_X_y=True)
    pixels = np.asarray(images, dtype=np.float64) / 16.0  # 0..16 grey levels to 0..1
    labels = np.asarray(labels, dtype=np.intp)
    test = np.sort(
        np.concatenate(
            [
                rng.permutation(np.flatnonzero(labels == digit))[:TEST_IMAGES_PER_CLASS]
                for digit in range(N_CLASSES)
            ]
        )
    )
    train = np.setdiff1d(np.arange(len(labels)), test)
    return _Digits(pixels, labels, train, test)


def _train_readouts(
    kind: _LadderKind,
    sizes: Sequence[int],
    digits: _Digits,
    features: Callable[[IndexArray, int], FloatArray],
    *,
    seed: int,
) -> LadderTables:
    """Fit the read-out of every size on ``features(images, size)`` (with a constant column)."""
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    train_labels, test_labels = digits.labels[digits.train], digits.labels[digits.test]
    frames = []
    # One BLAS thread: the same summation order on every run (and faster for these sizes).
    with threadpool_limits(limits=1):
        for size in sizes:
            readout = _fit_softmax_readout(
                features(digits.train, size), train_labels, l2_penalty=L2_PENALTY
            )
            logits = features(digits.test, size) @ readout
            log_probs = _quantize(_log_softmax(logits))
            frames.append(_item_rows(kind, size, digits.test, test_labels, log_probs))
    items = validate_items(pd.concat(frames, ignore_index=True))
    return LadderTables(evaluate_ladder_items(items, seed=seed), items)


def _checked_sizes(sizes: Sequence[int], kind: _LadderKind) -> list[int]:
    values = list(sizes)
    bad = [v for v in values if not isinstance(v, int | np.integer) or not 1 <= v <= kind.pool]
    if not values or bad:
        raise ConfigError(
            f"argument '{kind.argument}' must be a non-empty list of integers in 1..{kind.pool}, "
            f"not {values!r}"
        )
    if len(set(values)) != len(values):
        raise ConfigError(
            f"argument '{kind.argument}' repeats a {kind.size_noun}: {values!r}; give each once"
        )
    return sorted(int(v) for v in values)


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ConfigError(f"argument 'seed' must be an integer in 0..2**32-1, not {seed!r}")


def _random_features(
    pixels: FloatArray, frequencies: FloatArray, phases: FloatArray, width: int
) -> FloatArray:
    """The first ``width`` random Fourier features, plus a constant 1 for the read-out's bias."""
    features = math.sqrt(2.0 / width) * np.cos(pixels @ frequencies[:, :width] + phases[:width])
    return np.hstack([features, np.ones((len(pixels), 1))])


def _conv_features(pixels: FloatArray, kernels: FloatArray, biases: FloatArray) -> FloatArray:
    """Each filter's ReLU map over the zero-padded image, averaged over its 64 positions.

    Returns shape ``(n_images, n_filters)``. Elementwise arithmetic in a fixed order and a
    contiguous mean per filter, no BLAS kernel (those differ by CPU): a filter's column does not
    depend on how many filters are computed with it.
    """
    n_images = len(pixels)
    side, pad = IMAGE_SIDE, KERNEL_SIZE // 2
    padded = np.pad(pixels.reshape(n_images, side, side), ((0, 0), (pad, pad), (pad, pad)))
    pooled = np.empty((len(kernels), n_images))
    for start in range(0, len(kernels), _FILTER_CHUNK):
        chunk = slice(start, start + _FILTER_CHUNK)
        weights, offsets = kernels[chunk], biases[chunk]
        maps = np.empty((len(weights), n_images, side, side))
        maps[...] = offsets[:, None, None, None]
        for row in range(KERNEL_SIZE):
            for col in range(KERNEL_SIZE):
                window = padded[None, :, row : row + side, col : col + side]
                maps += weights[:, row, col, None, None, None] * window
        np.maximum(maps, 0.0, out=maps)
        pooled[chunk] = maps.reshape(len(weights), n_images, side * side).mean(axis=2)
    return pooled.T


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
    kind: _LadderKind,
    size: int,
    images: IndexArray,
    labels: IndexArray,
    log_probs: FloatArray,
) -> pd.DataFrame:
    n_images = len(images)
    return pd.DataFrame(
        {
            "task": TASK,
            "subtask": TASK,
            "family": kind.family,
            "model": kind.model_name(size),
            "params": float(kind.params(size)),
            "shots": -1,
            "item": [f"{image:04d}" for image in images],
            "target_tokens": 1.0,
            "logprob": log_probs[np.arange(n_images), labels],
            "correct": (log_probs.argmax(axis=1) == labels).astype(np.int64),
            "choice_logprobs": [tuple(row) for row in log_probs.tolist()],
            "source": kind.source,
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
            "source": first["source"],
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
