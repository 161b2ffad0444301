"""A canonical evaluation table turned into the arrays a model needs.

:func:`prepare_evaluation` validates the table and works out, for every row, which forward map
of :mod:`emergestats.models.forward` it follows (its *role*), with the row's own number of
items, answer-length histogram, number of choices, Brier form, ``k`` and unit. Rows that cannot
be mapped, or that repeat the evidence of another row, stay in the table (prediction still
covers them) but are left out of the likelihood; :attr:`ObservationData.excluded` says why, row
by row, and one warning per reason counts them.

Roles
-----
========================= ===================================================================
role                      rows
========================= ===================================================================
``exact_match``           generated answers, all tokens right (``exact_match`` rows)
``greedy_match``          the target is the greedy continuation (``greedy_match`` rows, e.g.
                          lm-eval's LAMBADA ``acc``; per token, or per word with ``unit``)
``pass_at_k``             ``pass_at_k`` rows (``k`` from the metric name)
``grade``                 ``multiple_choice_grade`` rows, and ``accuracy`` rows of a task with a
                          known number of choices
``subset``                ``subset_accuracy_L<n>`` rows: ``L`` units all right
``brier``                 ``brier`` rows (form from the metric name: mean, sum, correct choice)
``choice_log_likelihood`` ``log_likelihood`` rows of a choice task (the correct choice's
                          log-probability)
``log_likelihood``        ``log_likelihood`` rows of generated answers (per token, per word or
                          per character: ``unit``)
``edit_distance``         ``edit_distance`` rows (tokens, or characters/words with ``unit``)
========================= ===================================================================

Rows left out of the likelihood (reasons)
-----------------------------------------
- kinds ``bleu``, ``rouge``, ``other``: no forward map;
- a training checkpoint other than the last of its (family, size) (a ``step`` column, as in
  Pythia's suite): the scale model compares models at the end of their training;
- an ``accuracy`` row whose task has no known number of choices (``chance`` NaN): a generated
  answer's accuracy is an exact match and must be labelled so; it is never modelled at chance 0;
- grade or Brier rows with no usable number of choices;
- *repeated evidence*: a subset-accuracy row of a cell that also has its accuracy or grade (it
  is computed from the same items), and any row whose scores are a fixed multiple of another row
  of the same curve at every model (``brier_sum`` = K x ``brier_mean``, one score under two
  names). The first row of such a group (by :data:`_ROLE_PREFERENCE`) stays in.

Decision rules
--------------
A grade is the argmax of the choices' log-probabilities; some harnesses report a second grade
of the same outputs under another rule (:data:`ALTERNATIVE_DECISION_RULES`: lm-eval's
``acc_norm`` divides each choice's log-probability by its length in bytes before the argmax).
Such a row of a curve that also has a plain grade row in the likelihood gets the label
``"<curve> <metric>"`` (:attr:`ObservationData.decision_rule`): the model moves its grade's logit
by a shift of its own (:func:`emergestats.models.likelihoods.add_map_parameters`). Where a curve
is graded only by the other rule its rows are read as the plain argmax (label ``""``).

Answer lengths
--------------
Per-item lengths given by ``lengths`` (``(task, subtask)`` or curve label -> array) are used as
their histogram. A row with only a mean length (``target_tokens``) gets a *shifted Poisson*
``1 + Poisson(mean - 1)`` histogram (truncated at its 99.9% quantile and renormalised), a
dispersed distribution with the right mean: real answer lengths are never a two-point split, and
exact match is convex in ``L``. Rows without any length use 1 token with a warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from emergestats.data.table import (
    BRIER_FORMS,
    CURVE_KEY,
    is_final_checkpoint,
    to_dataset,
    validate,
)
from emergestats.data.table import brier_form as metric_brier_form
from emergestats.errors import AssumptionWarning, ConfigError, DataFormatError, format_rows
from emergestats.models.latent import centred_log_scale

type LengthsMapping = Mapping[Any, Any]

#: Items assumed where a row's ``n_items`` is unknown (a warning names the curves).
FALLBACK_N_ITEMS: Final[int] = 100

ROLES: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "pass_at_k",
    "grade",
    "subset",
    "brier",
    "choice_log_likelihood",
    "log_likelihood",
    "edit_distance",
)
#: Roles observed as counts out of ``n_items`` (binomial).
COUNT_ROLES: Final[tuple[str, ...]] = (
    "exact_match",
    "greedy_match",
    "pass_at_k",
    "grade",
    "subset",
)
#: Roles observed as means of item values (normal, item-level sd from the map or reported).
CONTINUOUS_ROLES: Final[tuple[str, ...]] = (
    "brier",
    "choice_log_likelihood",
    "log_likelihood",
    "edit_distance",
)
#: Metric kinds whose score may be in words or characters (the ``unit`` column).
UNIT_KINDS: Final[tuple[str, ...]] = ("log_likelihood", "edit_distance", "greedy_match")
#: Metric kinds with no forward map.
UNMODELLED_KINDS: Final[tuple[str, ...]] = ("bleu", "rouge", "other")
#: Which row of a repeated-evidence group stays in the likelihood (earlier wins).
_ROLE_PREFERENCE: Final[tuple[str, ...]] = (
    "choice_log_likelihood",
    "log_likelihood",
    "grade",
    "exact_match",
    "greedy_match",
    "brier",
    "edit_distance",
    "pass_at_k",
    "subset",
)

#: Grade metrics that are another decision rule over the same log-probabilities as the plain
#: argmax (``acc``), and what the rule does. lm-eval (v0.3, v0.4): ``acc_norm`` picks the choice
#: whose log-likelihood per byte (character) of its continuation is highest.
ALTERNATIVE_DECISION_RULES: Final[dict[str, str]] = {
    "acc_norm": "the argmax of the choices' log-likelihood per byte (lm-eval)",
}

_PASS_AT_K = re.compile(r"pass(?:@|_at_|_)(\d+)", re.IGNORECASE)
_SUBSET = re.compile(r"^subset_accuracy_?L?(\d+)$", re.IGNORECASE)
#: Largest chance level read as a number of choices (``K = 1 / chance >= 2``).
_MAX_CHOICE_CHANCE: Final[float] = 0.5 + 1e-9


def pass_k_of(metric: str) -> int | None:
    """``k`` of a pass@k metric name (``pass@10``, ``pass_at_10``), ``None`` if not given."""
    match = _PASS_AT_K.search(metric)
    return int(match.group(1)) if match else None


def subset_size_of(metric: str) -> int | None:
    """``L`` of a ``subset_accuracy_L<L>`` metric name, ``None`` for other names."""
    match = _SUBSET.match(metric.strip())
    return int(match.group(1)) if match else None


def unit_of(metric: str, given: Any = None) -> str:
    """``"token"``, ``"word"`` or ``"char"``: the unit of a log-likelihood or edit distance."""
    if isinstance(given, str) and given in ("token", "word", "char"):
        return given
    lowered = metric.lower()
    if "per_word" in lowered or "word" in lowered:
        return "word"
    if "per_char" in lowered or "char" in lowered:
        return "char"
    return "token"


def default_n_ref(params: np.ndarray) -> float:
    """Geometric mean of the distinct scales: the default reference scale ``N_ref``."""
    distinct = np.unique(np.asarray(params, dtype=float))
    return float(np.exp(np.mean(np.log(distinct))))


def curves_in_family(family_index: np.ndarray) -> np.ndarray:
    """Per curve, how many curves its family has (1: a family of one curve, whose means the
    builders integrate out and whose centring uses their prior sd too)."""
    _, family_of_curve = np.unique(np.asarray(family_index), return_inverse=True)
    return np.bincount(family_of_curve)[family_of_curve]


def length_histogram(lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    """Distinct answer lengths and their frequencies (summing to 1) from per-item lengths."""
    values = np.asarray(lengths, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ConfigError(
            "answer lengths must be a non-empty array of positive, finite numbers of tokens; "
            f"got {values[:8]!r}"
        )
    distinct, counts = np.unique(values, return_counts=True)
    return distinct, counts / counts.sum()


#: Most support points of a row's length histogram in the model graph (see
#: :func:`compress_histogram`).
MAX_LENGTH_SLOTS: Final[int] = 12


def compress_histogram(
    values: np.ndarray, weights: np.ndarray, max_slots: int = MAX_LENGTH_SLOTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_slots`` support points: quantile bins of the lengths, each at its mean.

    Every row is padded to the longest histogram of the table, so one task with 27 distinct
    answer lengths (IPA transliteration) made every row of a 613-row fit evaluate 27 lengths per
    quadrature node. Merging neighbouring lengths into equal-probability bins keeps the mean
    exactly; the error of ``E[p^L]`` is second order in the spread within a bin (about
    ``(log p)^2 Var_bin(L) / 2`` relative; measured on BIG-bench's IPA
    transliteration, 27 lengths in 11 bins: at most 0.00075 absolute for item sd 1 and CE 0.01
    to 1).
    """
    if len(values) <= max_slots:
        return values, weights
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    middle = np.cumsum(weights) - weights / 2
    bins = np.minimum((middle * max_slots).astype(int), max_slots - 1)
    merged_weights = np.bincount(bins, weights=weights, minlength=max_slots)
    merged_values = np.bincount(bins, weights=weights * values, minlength=max_slots)
    used = merged_weights > 0
    return merged_values[used] / merged_weights[used], merged_weights[used]


def mean_length_histogram(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """The shifted-Poisson length distribution ``1 + Poisson(mean - 1)`` with a given mean.

    Truncated at its 99.9% quantile and renormalised; a mean of at most 1 is one token.
    """
    if mean <= 1.0:
        return np.array([1.0]), np.array([1.0])
    rate = mean - 1.0
    top = int(stats.poisson.ppf(0.999, rate))
    extra = np.arange(top + 1)
    weights = stats.poisson.pmf(extra, rate)
    return extra + 1.0, weights / weights.sum()


@dataclass
class ObservationData:
    """Per-row arrays the likelihoods and predictions need (all run over the table rows)."""

    kind: np.ndarray
    metric: np.ndarray
    role: np.ndarray
    score: np.ndarray
    n_items: np.ndarray
    length_values: np.ndarray
    length_weights: np.ndarray
    n_choices: np.ndarray
    brier_form: np.ndarray
    pass_k: np.ndarray
    subset_size: np.ndarray
    unit: np.ndarray
    stderr: np.ndarray
    modelled: np.ndarray
    excluded: np.ndarray
    fallback_n_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Per row, ``"<curve> <metric>"`` for a grade under an alternative decision rule whose
    #: curve also has a plain grade in the likelihood (the rule's shift), else ``""``.
    decision_rule: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    #: Whether the Brier and choice log-likelihood rows read the choices' logit noise
    #: (``choice_noise``) as the argmax does: the model builders' ``probability_noise``
    #: option, set by them (:func:`emergestats.models.likelihoods.shows_confident_guessing`).
    probability_noise: bool = False

    def rows_of(self, role: str) -> np.ndarray:
        """Row positions of a role that are in the likelihood."""
        return np.flatnonzero((self.role == role) & self.modelled)

    @property
    def mean_lengths(self) -> np.ndarray:
        return np.sum(self.length_values * self.length_weights, axis=-1)

    @property
    def second_lengths(self) -> np.ndarray:
        return np.sum(self.length_values**2 * self.length_weights, axis=-1)

    def roles_present(self) -> list[str]:
        return [r for r in ROLES if len(self.rows_of(r))]

    def exclusions(self) -> pd.Series:
        """How many rows are left out of the likelihood, by reason."""
        reasons = pd.Series(self.excluded[~self.modelled], dtype=object)
        return reasons.value_counts()


@dataclass
class PreparedData:
    """A validated table turned into model arrays (see :func:`prepare_evaluation`).

    ``cell_*`` index the (curve, model) cells: every metric of one model's outputs on one curve
    shares the cell's deviation from the power law.
    """

    table: pd.DataFrame
    dataset: xr.Dataset
    curve_labels: list[str]
    curves: pd.DataFrame
    curve_index: np.ndarray
    x: np.ndarray
    n_ref: float
    family_labels: list[str]
    family_index: np.ndarray
    task_labels: list[str]
    task_index: np.ndarray
    task_effects: bool
    curve_log_range: np.ndarray
    cell_labels: list[str]
    cell_index: np.ndarray
    cell_curve: np.ndarray
    cell_x: np.ndarray
    observations: ObservationData
    curve_choices: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Per family (``family_labels`` order), its source's position in ``source_labels``;
    #: ``None`` unless the table's ``dataset`` column names two sources or more.
    family_source: np.ndarray | None = None
    source_labels: list[str] = field(default_factory=list)

    def coords(self) -> dict[str, Any]:
        """Model coordinates: ``curve``, ``obs``, ``cell``, ``family``, ``param``, ``task``."""
        coords: dict[str, Any] = {
            "curve": self.curve_labels,
            "obs": np.arange(len(self.table)),
            "cell": self.cell_labels,
            "family": self.family_labels,
            "param": ["a", "log_b"],
        }
        if self.task_effects:
            coords["task"] = self.task_labels
        if self.family_source is not None:
            coords["source"] = self.source_labels
        return coords


def _warn(message: str, *, warn: bool, assumed: bool = False) -> None:
    """Warn (when ``warn``); ``assumed`` marks a value assumed for rows that lack it."""
    if warn:
        category = AssumptionWarning if assumed else UserWarning
        warnings.warn(message, category, stacklevel=4)


def name_curves(labels: list[str], *, limit: int = 6) -> str:
    """A short list of curve labels for a message."""
    shown = ", ".join(labels[:limit])
    return shown + (f", ... ({len(labels)} curves)" if len(labels) > limit else "")


def _lookup_lengths(mapping: LengthsMapping | None, label: str, task: str, subtask: str) -> Any:
    if not mapping:
        return None
    for key in (label, (task, subtask)):
        if key in mapping:
            return mapping[key]
    return None


def _choices_from_chance(chance: np.ndarray) -> np.ndarray:
    valid = np.isfinite(chance) & (chance > 0) & (chance <= _MAX_CHOICE_CHANCE)
    with np.errstate(divide="ignore"):
        return np.where(valid, 1.0 / np.where(valid, chance, 1.0), np.nan)


def row_choices(table: pd.DataFrame) -> np.ndarray:
    """Number of choices each grade or accuracy row says it has (NaN for other rows).

    The row's own ``n_choices`` where given (>= 2), else ``1 / chance``; NaN where neither
    tells it.
    """
    kind = table["metric_kind"].to_numpy(dtype=object).astype(str)
    given = _column(table, "n_choices")
    given = np.where(np.isfinite(given) & (given >= 2), given, np.nan)
    own = np.where(np.isfinite(given), given, _choices_from_chance(_column(table, "chance")))
    return np.where(np.isin(kind, ("multiple_choice_grade", "accuracy")), own, np.nan)


def _brier_chance_to_choices(chance: float, form: str) -> float:
    """Number of choices whose guessing Brier score (even spread) is ``chance`` (NaN if none)."""
    if not np.isfinite(chance) or chance <= 0:
        return np.nan
    if form == "sum":
        return 1.0 / (1.0 - chance) if chance < 1.0 else np.nan
    if form == "correct_choice":
        root = np.sqrt(chance)
        return 1.0 / (1.0 - root) if root < 1.0 else np.nan
    if chance > 0.25:
        return np.nan
    return float((1.0 + np.sqrt(1.0 - 4.0 * chance)) / (2.0 * chance))


def prepare_evaluation(
    table: pd.DataFrame,
    *,
    lengths: LengthsMapping | None = None,
    n_ref: float | None = None,
    warn: bool = True,
) -> PreparedData:
    """Validate an evaluation table and compute everything a model builder needs.

    One ``UserWarning`` (when ``warn``) per reason rows are left out of the likelihood (see the
    module docstring), for rows with unknown ``n_items`` (:data:`FALLBACK_N_ITEMS` assumed) and
    for curves with no answer length (1 token assumed), each naming counts and curves.

    Raises
    ------
    DataFormatError
        A token edit distance larger than the longest answer (wrong unit: set the ``unit``
        column to ``char`` or ``word``).
    """
    if isinstance(lengths, str):
        # ``es.fit(..., lengths="auto")`` resolves the name before it builds; a builder called
        # directly gets the mapping, not the name (a str would be searched for tuple keys)
        raise ConfigError(
            f"lengths={lengths!r}: a model builder takes a mapping of answer lengths or None; "
            "pass emergestats.data.default_lengths(table) for the lengths the package knows "
            "(what es.fit(..., lengths='auto') does)"
        )
    table = validate(table)
    dataset = to_dataset(table)
    labels = [str(v) for v in dataset["curve"].to_numpy()]
    curves = pd.DataFrame(
        {k: dataset[k].to_numpy() for k in CURVE_KEY}, index=pd.RangeIndex(len(labels))
    )
    curve_index = dataset["curve_index"].to_numpy().astype(np.int64)
    params = table["params"].to_numpy(float)
    if n_ref is None:
        n_ref = default_n_ref(params)
    if not (np.isfinite(n_ref) and n_ref > 0):
        raise ConfigError(f"n_ref must be a positive scale (a parameter count), not {n_ref!r}")
    x = np.asarray(centred_log_scale(params, float(n_ref)), dtype=float)

    family_labels = sorted({str(f) for f in curves["family"]})
    family_index = np.array([family_labels.index(str(f)) for f in curves["family"]])
    family_source, source_labels = family_sources(table, family_labels)
    task_labels = sorted({str(t) for t in curves["task"]})
    task_index = np.array([task_labels.index(str(t)) for t in curves["task"]])
    curves_per_task = np.bincount(task_index, minlength=len(task_labels))
    task_effects = len(task_labels) >= 2 and bool((curves_per_task >= 2).any())

    log_params = np.log(params)
    curve_log_range = np.zeros((len(labels), 2))
    for position in range(len(labels)):
        mine = log_params[curve_index == position]
        curve_log_range[position] = (mine.min(), mine.max())

    # cells: one (curve, model) each
    models = table["model"].astype(str).to_numpy()
    cell_keys = [f"{labels[c]}|{m}" for c, m in zip(curve_index, models, strict=True)]
    cell_labels = list(dict.fromkeys(cell_keys))
    cell_position = {k: i for i, k in enumerate(cell_labels)}
    cell_index = np.array([cell_position[k] for k in cell_keys], dtype=np.int64)
    cell_curve = np.zeros(len(cell_labels), dtype=np.int64)
    cell_curve[cell_index] = curve_index
    cell_x = np.zeros(len(cell_labels))
    cell_x[cell_index] = x

    observations, curve_choices = _prepare_observations(
        table,
        labels=labels,
        curve_index=curve_index,
        cell_index=cell_index,
        lengths=lengths,
        warn=warn,
    )
    return PreparedData(
        table=table,
        dataset=dataset,
        curve_labels=labels,
        curves=curves,
        curve_index=curve_index,
        x=x,
        n_ref=float(n_ref),
        family_labels=family_labels,
        family_index=family_index,
        task_labels=task_labels,
        task_index=task_index,
        task_effects=task_effects,
        curve_log_range=curve_log_range,
        cell_labels=cell_labels,
        cell_index=cell_index,
        cell_curve=cell_curve,
        cell_x=cell_x,
        observations=observations,
        curve_choices=curve_choices,
        family_source=family_source,
        source_labels=source_labels,
    )


def family_sources(
    table: pd.DataFrame, family_labels: list[str]
) -> tuple[np.ndarray | None, list[str]]:
    """Per family its source's position, and the sources (the ``dataset`` column).

    ``(None, sources)`` without the column or with one source: there is no source level.

    Raises
    ------
    DataFormatError
        Some rows have no ``dataset`` while others do, or a family has rows of two sources (the
        same family evaluated by two sources is two families: name them per source, as
        :func:`emergestats.corpus.load_corpus` does).
    """
    if "dataset" not in table.columns:
        return None, []
    values = table["dataset"]
    missing = values.isna().to_numpy()
    if missing.all():
        return None, []
    if missing.any():
        rows = np.flatnonzero(missing).tolist()
        raise DataFormatError(
            f"column 'dataset' is empty in {format_rows(rows)} but not in the others; give "
            "every row its source, or drop the column",
            column="dataset",
            rows=rows,
        )
    sources = sorted({str(v) for v in values})
    if len(sources) < 2:
        return None, sources
    per_family = values.astype(str).groupby(table["family"].astype(str).to_numpy()).unique()
    mixed = [f"{f!r} ({', '.join(sorted(v))})" for f, v in per_family.items() if len(v) > 1]
    if mixed:
        raise DataFormatError(
            f"{len(mixed)} families have rows of several datasets: {'; '.join(mixed[:5])}; a "
            "family belongs to one source: name it per source (as "
            "emergestats.corpus.load_corpus does: '<dataset>/<family>')",
            column="dataset",
        )
    return np.array([sources.index(str(per_family[f][0])) for f in family_labels]), sources


def _column(table: pd.DataFrame, name: str, dtype: Any = float) -> np.ndarray:
    if name not in table.columns:
        return np.full(len(table), np.nan if dtype is float else None, dtype=dtype)
    if dtype is float:
        return table[name].to_numpy(dtype=float, na_value=np.nan)
    return table[name].to_numpy(dtype=object)


def _prepare_observations(
    table: pd.DataFrame,
    *,
    labels: list[str],
    curve_index: np.ndarray,
    cell_index: np.ndarray,
    lengths: LengthsMapping | None,
    warn: bool,
) -> tuple[ObservationData, np.ndarray]:
    n_rows = len(table)
    kind = table["metric_kind"].to_numpy(dtype=object).astype(str)
    metric = table["metric"].to_numpy(dtype=object).astype(str)
    chance = table["chance"].to_numpy(float)
    score = table["score"].to_numpy(float)
    excluded = np.full(n_rows, "", dtype=object)

    def exclude(mask: np.ndarray, reason: str) -> None:
        fresh = mask & (excluded == "")
        excluded[fresh] = reason

    exclude(np.isin(kind, UNMODELLED_KINDS), "no forward map for this metric kind")
    intermediate = ~is_final_checkpoint(table)
    exclude(intermediate, "an intermediate training checkpoint")
    if intermediate.any():
        _warn(
            f"{int(intermediate.sum())} rows of intermediate training checkpoints (column "
            "'step') are left out of the likelihood: models are compared across size at the "
            "last step of each (family, size); to fit a checkpoint, select its rows first",
            warn=warn,
        )

    subset_size = np.array([subset_size_of(m) or 0 for m in metric], dtype=float)
    subset_size[kind != "exact_match"] = 0.0
    subset = subset_size > 0

    # number of choices per row and per curve (grade / accuracy rows say it by their chance)
    given = _column(table, "n_choices")
    given = np.where(np.isfinite(given) & (given >= 2), given, np.nan)
    choice_rows = np.isin(kind, ("multiple_choice_grade", "accuracy"))
    n_choices = row_choices(table)
    curve_choices = np.full(len(labels), np.nan)
    for position in range(len(labels)):
        mine = np.concatenate(
            [n_choices[(curve_index == position) & choice_rows], given[curve_index == position]]
        )
        mine = mine[np.isfinite(mine)]
        if mine.size:
            curve_choices[position] = float(np.median(mine))
    brier_form = np.zeros(n_rows, dtype=np.int64)
    for row in np.flatnonzero(kind == "brier"):
        form = metric_brier_form(metric[row])
        brier_form[row] = BRIER_FORMS.index(form)
        from_curve = curve_choices[curve_index[row]]
        if np.isfinite(given[row]):
            n_choices[row] = given[row]
        elif np.isfinite(from_curve):
            n_choices[row] = from_curve
        else:
            n_choices[row] = _brier_chance_to_choices(chance[row], form)
    grade_rows = kind == "multiple_choice_grade"
    fill = grade_rows & ~np.isfinite(n_choices)
    n_choices[fill] = curve_choices[curve_index[fill]]
    # a curve with Brier rows but no grade/accuracy row gets its K from them
    for missing_k in np.flatnonzero(~np.isfinite(curve_choices)):
        mine = n_choices[(curve_index == missing_k) & (kind == "brier")]
        mine = mine[np.isfinite(mine)]
        if mine.size:
            curve_choices[missing_k] = float(np.median(mine))
    is_choice_curve = np.isfinite(curve_choices[curve_index])
    loglik = kind == "log_likelihood"
    n_choices[loglik & is_choice_curve] = curve_choices[curve_index[loglik & is_choice_curve]]
    n_choices[subset] = curve_choices[curve_index[subset]]

    role = np.full(n_rows, "", dtype=object)
    role[kind == "exact_match"] = "exact_match"
    role[kind == "greedy_match"] = "greedy_match"
    role[subset] = "subset"
    role[kind == "pass_at_k"] = "pass_at_k"
    role[grade_rows | (kind == "accuracy")] = "grade"
    role[kind == "brier"] = "brier"
    role[loglik] = np.where(is_choice_curve[loglik], "choice_log_likelihood", "log_likelihood")
    role[kind == "edit_distance"] = "edit_distance"

    accuracy_without_k = (kind == "accuracy") & ~np.isfinite(n_choices)
    if accuracy_without_k.any():
        tasks = sorted({str(t) for t in table["task"].to_numpy()[accuracy_without_k]})
        exclude(accuracy_without_k, "accuracy with no known number of choices")
        _warn(
            f"{int(accuracy_without_k.sum())} accuracy rows have no known number of choices "
            f"(chance is NaN) and are left out of the likelihood: tasks {name_curves(tasks)}. "
            "Fill 'chance' (1 / choices) for a choice task; label a generated answer's accuracy "
            "'exact_match'",
            warn=warn,
        )
    no_choices = np.isin(kind, ("multiple_choice_grade", "brier")) & ~np.isfinite(n_choices)
    if no_choices.any():
        affected = sorted({labels[c] for c in curve_index[no_choices]})
        exclude(no_choices, "no usable number of choices")
        _warn(
            f"{int(no_choices.sum())} multiple-choice grade or Brier rows have no usable chance "
            f"level (1 / number of choices) and are left out of the likelihood: curves "
            f"{name_curves(affected)}; fill their 'chance' column",
            warn=warn,
        )

    # pass@k
    pass_k = np.ones(n_rows)
    no_k: list[str] = []
    for row in np.flatnonzero(kind == "pass_at_k"):
        k = pass_k_of(metric[row])
        if k is None:
            no_k.append(labels[curve_index[row]])
        else:
            pass_k[row] = float(k)
    if no_k:
        _warn(
            f"pass@k rows of curves {name_curves(sorted(set(no_k)))} do not say k in the metric "
            "name (e.g. 'pass@10'); k = 1 is assumed",
            warn=warn,
            assumed=True,
        )

    # number of items
    n_items = table["n_items"].to_numpy(dtype=float, na_value=np.nan)
    unknown_n = (excluded == "") & ~np.isfinite(n_items)
    if unknown_n.any():
        affected = sorted({labels[c] for c in curve_index[unknown_n]})
        _warn(
            f"{int(unknown_n.sum())} rows have no n_items; {FALLBACK_N_ITEMS} items are assumed "
            f"for them (curves {name_curves(affected)}); fill 'n_items' for honest uncertainty",
            warn=warn,
            assumed=True,
        )
    n_items = np.where(np.isfinite(n_items), n_items, float(FALLBACK_N_ITEMS))

    given_unit = _column(table, "unit", dtype=object)
    unit = np.array(
        [
            unit_of(m, u) if k in UNIT_KINDS else "token"
            for k, m, u in zip(kind, metric, given_unit, strict=True)
        ],
        dtype=object,
    )
    length_values, length_weights = _length_histograms(
        table,
        role=role,
        unit=unit,
        labels=labels,
        curve_index=curve_index,
        lengths=lengths,
        warn=warn,
    )

    # a token edit distance longer than every answer is in another unit
    edit = (role == "edit_distance") & (unit == "token")
    too_long = edit & (score > length_values.max(axis=1, initial=1.0) + 1e-9)
    if too_long.any():
        rows = np.flatnonzero(too_long)
        raise DataFormatError(
            f"{len(rows)} edit-distance rows are larger than the longest answer in tokens (e.g. "
            f"{score[rows[0]]:g} with answers of at most {length_values[rows[0]].max():g} "
            "tokens): they are not token edit distances. Set the 'unit' column to 'char' or "
            "'word' (converted with a fitted tokens-per-unit) or give the answer lengths",
            column="score",
            rows=[int(r) for r in rows[:8]],
        )

    stderr = _column(table, "score_stderr")
    stderr = np.where(np.isfinite(stderr) & (stderr > 0), stderr, np.nan)

    _exclude_repeated_evidence(
        role=role,
        metric=metric,
        score=score,
        n_items=n_items,
        curve_index=curve_index,
        cell_index=cell_index,
        excluded=excluded,
        labels=labels,
        warn=warn,
    )
    modelled = excluded == ""
    decision_rule = _decision_rule_labels(role, metric, modelled, curve_index, labels)
    return (
        ObservationData(
            kind=kind,
            metric=metric,
            role=role,
            score=score,
            n_items=n_items,
            length_values=length_values,
            length_weights=length_weights,
            n_choices=n_choices,
            brier_form=brier_form,
            pass_k=pass_k,
            subset_size=subset_size,
            unit=unit,
            stderr=stderr,
            modelled=modelled,
            excluded=excluded,
            fallback_n_items=unknown_n,
            decision_rule=decision_rule,
        ),
        curve_choices,
    )


def _length_histograms(
    table: pd.DataFrame,
    *,
    role: np.ndarray,
    unit: np.ndarray,
    labels: list[str],
    curve_index: np.ndarray,
    lengths: LengthsMapping | None,
    warn: bool,
) -> tuple[np.ndarray, np.ndarray]:
    n_rows = len(table)
    target = _column(table, "target_tokens")
    needs_length = np.isin(
        role, ("exact_match", "greedy_match", "pass_at_k", "log_likelihood", "edit_distance")
    )
    needs_length &= (unit == "token") | (role == "edit_distance")
    tasks = table["task"].to_numpy(dtype=object)
    subtasks = table["subtask"].to_numpy(dtype=object)
    one = (np.array([1.0]), np.array([1.0]))
    histograms: list[tuple[np.ndarray, np.ndarray]] = []
    cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    without_length: set[str] = set()
    for row in range(n_rows):
        label = labels[curve_index[row]]
        if not needs_length[row]:
            histograms.append(one)
            continue
        given = _lookup_lengths(lengths, label, str(tasks[row]), str(subtasks[row]))
        if given is not None:
            if label not in cache:
                cache[label] = compress_histogram(*length_histogram(given))
            histograms.append(cache[label])
        elif np.isfinite(target[row]) and target[row] > 0:
            key = ("mean", float(target[row]))
            if key not in cache:
                cache[key] = compress_histogram(*mean_length_histogram(float(target[row])))
            histograms.append(cache[key])
        else:
            without_length.add(label)
            histograms.append(one)
    if without_length:
        _warn(
            f"no answer lengths for curves {name_curves(sorted(without_length))} (no 'lengths' "
            "entry and no 'target_tokens'); answers of 1 token are assumed",
            warn=warn,
            assumed=True,
        )
    slots = max(len(values) for values, _ in histograms) if histograms else 1
    length_values = np.ones((n_rows, slots))
    length_weights = np.zeros((n_rows, slots))
    for position, (values, weights) in enumerate(histograms):
        length_values[position, : len(values)] = values
        length_weights[position, : len(weights)] = weights
    return length_values, length_weights


def _decision_rule_labels(
    role: np.ndarray,
    metric: np.ndarray,
    modelled: np.ndarray,
    curve_index: np.ndarray,
    labels: list[str],
) -> np.ndarray:
    """``"<curve> <metric>"`` for modelled grades under an alternative decision rule whose
    curve has a modelled plain grade (module docstring, "Decision rules"), else ``""``."""
    grade = modelled & (role == "grade")
    alternative = grade & np.isin(metric, list(ALTERNATIVE_DECISION_RULES))
    plain = np.zeros(len(labels), dtype=bool)
    plain[curve_index[grade & ~alternative]] = True
    shifted = alternative & plain[curve_index]
    out = np.full(len(role), "", dtype=object)
    for row in np.flatnonzero(shifted):
        out[row] = decision_rule_label(labels[curve_index[row]], metric[row])
    return out


def decision_rule_label(curve: str, metric: str) -> str:
    """The label of a curve's grade under another decision rule: ``"<curve> <metric>"``."""
    return f"{curve} {metric}"


def _exclude_repeated_evidence(
    *,
    role: np.ndarray,
    metric: np.ndarray,
    score: np.ndarray,
    n_items: np.ndarray,
    curve_index: np.ndarray,
    cell_index: np.ndarray,
    excluded: np.ndarray,
    labels: list[str],
    warn: bool,
) -> None:
    """Mark rows that repeat another row's evidence (see the module docstring)."""
    live = excluded == ""
    # subset accuracy of a cell whose unit accuracy is also a row: the same items again
    has_unit = np.zeros(cell_index.max() + 1 if len(cell_index) else 0, dtype=bool)
    has_unit[cell_index[live & (role == "grade")]] = True
    has_unit[cell_index[live & np.isin(role, ("exact_match", "greedy_match"))]] = True
    derived = live & (role == "subset") & has_unit[cell_index]
    excluded[derived] = "repeated evidence: subset accuracy of items whose accuracy is a row"

    # rows of one curve whose scores are a fixed multiple of another row's, at every model
    rank = {r: i for i, r in enumerate(_ROLE_PREFERENCE)}
    frame = pd.DataFrame(
        {
            "curve": curve_index,
            "cell": cell_index,
            "metric": metric,
            "score": score,
            "row": np.arange(len(score)),
        }
    )[excluded == ""]
    repeated: dict[str, int] = {}
    for curve, group in frame.groupby("curve", sort=False):
        wide = group.pivot_table(index="cell", columns="metric", values="score", aggfunc="first")
        names = list(wide.columns)
        names.sort(
            key=lambda m: rank.get(str(role[group["row"][group["metric"] == m].iloc[0]]), 99)
        )
        kept: list[str] = []
        for name in names:
            column = wide[name].to_numpy(float)
            duplicate_of = None
            for other in kept:
                reference = wide[other].to_numpy(float)
                both = np.isfinite(column) & np.isfinite(reference)
                if both.sum() < 2 or np.any(reference[both] == 0):
                    continue
                ratio = column[both] / reference[both]
                if np.allclose(ratio, ratio[0], rtol=1e-6, atol=0.0) and np.all(ratio != 0):
                    duplicate_of = other
                    break
            if duplicate_of is None:
                kept.append(name)
                continue
            rows = group["row"][group["metric"] == name].to_numpy()
            excluded[rows] = f"repeated evidence: a fixed multiple of {duplicate_of}"
            repeated[labels[int(curve)]] = repeated.get(labels[int(curve)], 0) + len(rows)
    derived_count = int(derived.sum())
    if derived_count:
        _warn(
            f"{derived_count} subset-accuracy rows are computed from the same items as an "
            "accuracy row of the same model and are left out of the likelihood (they stay in "
            "predictions)",
            warn=warn,
        )
    if repeated:
        _warn(
            f"{sum(repeated.values())} rows are a fixed multiple of another row of the same "
            f"curve at every model (e.g. a summed and a mean Brier score) and are left out of "
            f"the likelihood: curves {name_curves(sorted(repeated))}",
            warn=warn,
        )


#: The highest ``log CE`` a curve read only through bounds starts at (:func:`initial_curves`).
_BOUND_START_LOG_CE: Final[float] = 1.5


def initial_curves(
    data: PreparedData, row_readings: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rough per-curve ``(a, log b)`` from the rows that tell a CE directly: a starting point.

    Per row a per-token CE is read off by inverting the map with no item spread (a
    log-likelihood, an exact match strictly between 0 and 1, a grade or choice log-likelihood
    strictly above chance); per curve ``log CE`` is regressed on the centred log scale. A
    curve with none of those rows uses its rows' ``row_readings`` where given (``(log CE,
    precision)`` per row, :func:`emergestats.models.centering.row_log_ce_readings`: every
    role through its forward map, e.g. a Brier score), and a curve without readings its rows'
    bounds (a score worse than chance: near chance). Curves with no usable row get the
    prior's centre, and curves read at one scale its slope. Used only to start the sampler
    near the data: a random start far from a tightly measured curve made chains stick where
    the log-likelihood was ~1e7 below the mode; ExpEmergence's Brier-only curves, started at
    the prior's centre (a near-perfect model where most scored near chance), started at a log
    density of -4.7e5.
    """
    obs = data.observations
    estimate = np.full(len(obs.score), np.nan)
    k = obs.n_choices
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = obs.modelled & (obs.role == "log_likelihood") & (obs.unit == "token")
        estimate[rows] = -obs.score[rows] / obs.mean_lengths[rows]
        rows = obs.modelled & (obs.role == "exact_match")
        rows &= (obs.score > 0.005) & (obs.score < 0.995)
        estimate[rows] = -np.log(obs.score[rows]) / obs.mean_lengths[rows]
        for role, value in (("choice_log_likelihood", np.exp(obs.score)), ("grade", obs.score)):
            rows = obs.modelled & (obs.role == role) & np.isfinite(k)
            p = (value - 1.0 / k) / (1.0 - 1.0 / k)
            rows &= (p > 0.01) & (p < 0.99)
            estimate[rows] = -np.log(p[rows])
    a = np.full(len(data.curve_labels), -1.0)
    log_b = np.full(len(data.curve_labels), np.log(0.3))
    usable = np.isfinite(estimate) & (estimate > 0)
    if row_readings is not None:
        read_log_ce, precision = row_readings
        unread = obs.modelled & ~np.isin(data.curve_index, data.curve_index[usable])
        read = unread & np.isfinite(read_log_ce) & (precision > 0)
        # a curve with no reading at all starts where its bounds put it, at most at a CE of
        # e^1.5 (p = 0.011: a choice near chance; beyond, the maps are flat)
        bounded = unread & ~np.isin(data.curve_index, data.curve_index[read])
        bounded &= np.isfinite(read_log_ce)
        estimate[read] = np.exp(read_log_ce[read])
        estimate[bounded] = np.exp(np.minimum(read_log_ce[bounded], _BOUND_START_LOG_CE))
        usable |= read | bounded
    for curve in range(len(data.curve_labels)):
        mine = usable & (data.curve_index == curve)
        if not mine.any():
            continue
        x, y = data.x[mine], np.log(estimate[mine])
        if np.ptp(x) > 0:
            slope = np.polyfit(x, y, 1)[0]
            b = float(np.clip(-slope, 0.02, 3.0))
            a[curve] = float(np.mean(y) + b * np.mean(x))
            log_b[curve] = np.log(b)
        else:
            a[curve] = float(np.mean(y) + np.exp(log_b[curve]) * np.mean(x))
    return np.clip(a, -8.0, 4.0), log_b
