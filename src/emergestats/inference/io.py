"""Saving and loading fits: the configuration, the input table as a dataset, the checks on load.

A saved fit is a Zarr store of the fit's ``DataTree`` (groups ``posterior``, ``sample_stats``,
``log_likelihood``, ``posterior_predictive``, ``observed_data``) plus the group ``input_table``
(the table the model was fitted to, one variable per column along ``row``, see
:func:`_table_to_dataset`) and the configuration (:class:`FitConfig`) in the root attributes
``emergestats_*`` (builder, priors as JSON, ``N_ref``, builder and sampler options, package
version, model spec version and a model id). :func:`read_fit` refuses a store written by
another package version or model specification, or whose table or configuration no longer
matches its model id. :meth:`~emergestats.inference.Fit.save` and
:meth:`~emergestats.inference.Fit.load` delegate here.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import xarray as xr

from emergestats.errors import FitCompatibilityError
from emergestats.models.priors import PriorSpec, priors_to_json

#: Bump when a builder's variables or likelihoods change: saved fits of another spec cannot be
#: used to predict with the current code.
MODEL_SPEC_VERSION: Final[int] = 2

MODELS: Final[tuple[str, ...]] = ("smooth", "broken", "item")

_ATTR_PREFIX = "emergestats_"


def _package_version() -> str:
    from emergestats import __version__

    return str(__version__)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _lengths_to_json(lengths: Mapping[Any, Any] | None) -> str:
    if not lengths:
        return "[]"
    entries = []
    for key, values in lengths.items():
        json_key = list(key) if isinstance(key, tuple) else str(key)
        entries.append([json_key, [float(v) for v in np.asarray(values, dtype=float).ravel()]])
    return json.dumps(entries)


def _lengths_from_json(text: str) -> dict[Any, np.ndarray] | None:
    entries = json.loads(text)
    if not entries:
        return None
    return {
        (tuple(key) if isinstance(key, list) else key): np.asarray(values, dtype=float)
        for key, values in entries
    }


@dataclass(frozen=True)
class FitConfig:
    """What was fitted and how: stored in the root attributes of the saved fit."""

    model: str
    priors: dict[str, PriorSpec]
    n_ref: float
    floor: bool
    centered: bool | None
    lure: bool
    lengths_json: str
    sampler: str
    draws: int
    tune: int
    chains: int
    random_seed: int | None
    package_version: str
    spec_version: int
    table_hash: str
    sampler_options_json: str = "{}"
    #: the Brier and choice log-likelihood rows read the argmax's logit noise (the builders'
    #: ``probability_noise``; files saved before it existed were all fitted without)
    probability_noise: bool = False

    @property
    def model_id(self) -> str:
        """Hash of everything that defines the model (not the sampler settings)."""
        defining: dict[str, Any] = {
            "model": self.model,
            "priors": priors_to_json(self.priors),
            "n_ref": repr(self.n_ref),
            "floor": self.floor,
            "centered": self.centered,
            "lure": self.lure,
            "lengths": self.lengths_json,
            "spec_version": self.spec_version,
            "table": self.table_hash,
        }
        if self.probability_noise:  # only where set: the ids of earlier models stay as they were
            defining["probability_noise"] = True
        text = json.dumps(defining, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_attrs(self) -> dict[str, Any]:
        return {
            f"{_ATTR_PREFIX}builder": self.model,
            f"{_ATTR_PREFIX}priors": priors_to_json(self.priors),
            f"{_ATTR_PREFIX}n_ref": float(self.n_ref),
            f"{_ATTR_PREFIX}floor": int(self.floor),
            f"{_ATTR_PREFIX}centered": -1 if self.centered is None else int(self.centered),
            f"{_ATTR_PREFIX}lure": int(self.lure),
            f"{_ATTR_PREFIX}probability_noise": int(self.probability_noise),
            f"{_ATTR_PREFIX}lengths": self.lengths_json,
            f"{_ATTR_PREFIX}sampler": self.sampler,
            f"{_ATTR_PREFIX}draws": int(self.draws),
            f"{_ATTR_PREFIX}tune": int(self.tune),
            f"{_ATTR_PREFIX}chains": int(self.chains),
            f"{_ATTR_PREFIX}random_seed": -1 if self.random_seed is None else int(self.random_seed),
            f"{_ATTR_PREFIX}version": self.package_version,
            f"{_ATTR_PREFIX}model_spec": int(self.spec_version),
            f"{_ATTR_PREFIX}table_hash": self.table_hash,
            f"{_ATTR_PREFIX}model_id": self.model_id,
            f"{_ATTR_PREFIX}sampler_options": self.sampler_options_json,
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], *, path: Path) -> FitConfig:
        try:
            seed = int(attrs[f"{_ATTR_PREFIX}random_seed"])
            return cls(
                model=str(attrs[f"{_ATTR_PREFIX}builder"]),
                priors=json.loads(str(attrs[f"{_ATTR_PREFIX}priors"])),
                n_ref=float(attrs[f"{_ATTR_PREFIX}n_ref"]),
                floor=bool(int(attrs[f"{_ATTR_PREFIX}floor"])),
                centered=_centered_from_attr(int(attrs[f"{_ATTR_PREFIX}centered"])),
                lure=bool(int(attrs[f"{_ATTR_PREFIX}lure"])),
                probability_noise=bool(int(attrs.get(f"{_ATTR_PREFIX}probability_noise", 0))),
                lengths_json=str(attrs[f"{_ATTR_PREFIX}lengths"]),
                sampler=str(attrs[f"{_ATTR_PREFIX}sampler"]),
                draws=int(attrs[f"{_ATTR_PREFIX}draws"]),
                tune=int(attrs[f"{_ATTR_PREFIX}tune"]),
                chains=int(attrs[f"{_ATTR_PREFIX}chains"]),
                random_seed=None if seed < 0 else seed,
                package_version=str(attrs[f"{_ATTR_PREFIX}version"]),
                spec_version=int(attrs[f"{_ATTR_PREFIX}model_spec"]),
                table_hash=str(attrs[f"{_ATTR_PREFIX}table_hash"]),
                sampler_options_json=str(attrs.get(f"{_ATTR_PREFIX}sampler_options", "{}")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise FitCompatibilityError(
                f"{path}: is not a fit saved by emergestats (its configuration attribute {exc} "
                "is missing or unreadable); save fits with Fit.save and load them with Fit.load"
            ) from exc


def _centered_from_attr(value: int) -> bool | None:
    """The stored ``centered`` option: -1 is "chosen by the data" (``None``)."""
    return None if value < 0 else bool(value)


def _table_hash(table: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(_table_for_storage(table), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# The input table in the DataTree
# --------------------------------------------------------------------------------------------


def _table_for_storage(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    if "choice_logprobs" in out.columns:
        out["choice_logprobs"] = [
            "" if v is None else json.dumps([float(x) for x in v]) for v in out["choice_logprobs"]
        ]
    return out


def _table_to_dataset(table: pd.DataFrame) -> xr.Dataset:
    stored = _table_for_storage(table)
    variables: dict[str, Any] = {}
    dtypes: dict[str, str] = {}
    for column in stored.columns:
        series = stored[column]
        dtypes[column] = str(series.dtype)
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            variables[column] = ("row", series.astype(str).to_numpy(dtype=object).astype(str))
        else:
            variables[column] = ("row", series.to_numpy(dtype=float, na_value=np.nan))
    dataset = xr.Dataset(variables, coords={"row": np.arange(len(stored))})
    dataset.attrs["columns"] = json.dumps(list(stored.columns))
    dataset.attrs["dtypes"] = json.dumps(dtypes)
    return dataset


def _table_from_dataset(dataset: xr.Dataset) -> pd.DataFrame:
    columns = json.loads(dataset.attrs["columns"])
    dtypes = json.loads(dataset.attrs["dtypes"])
    frame: dict[str, Any] = {}
    for column in columns:
        values = dataset[column].to_numpy()
        dtype = dtypes[column]
        if dtype in ("object", "str", "string"):
            frame[column] = pd.Series(values.astype(str), dtype=object)
        elif dtype == "Int64":
            frame[column] = pd.Series(values).round().astype("Int64")
        elif dtype.startswith("int"):
            frame[column] = pd.Series(values.astype(np.int64))
        else:
            frame[column] = pd.Series(values.astype(float))
    table = pd.DataFrame(frame)
    if "choice_logprobs" in table.columns:
        table["choice_logprobs"] = pd.Series(
            [None if v == "" else tuple(json.loads(v)) for v in table["choice_logprobs"]],
            dtype=object,
        )
    return table


# --------------------------------------------------------------------------------------------
# Save and load
# --------------------------------------------------------------------------------------------


def write_fit(
    path: str | Path, idata: xr.DataTree, *, config: FitConfig, table: pd.DataFrame
) -> Path:
    """Write a fit to a Zarr store (a folder; ``.zarr`` suffix suggested).

    The store holds every group of ``idata``, the input ``table`` (group ``input_table``) and
    ``config`` in the root attributes; :func:`read_fit` reads it back.
    """
    path = Path(path)
    tree = idata.copy()
    tree.attrs.update(config.to_attrs())
    tree["input_table"] = xr.DataTree(_table_to_dataset(table))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree.to_zarr(path, mode="w", consolidated=False)
    return path


def read_fit(
    path: str | Path, *, model: str | None = None
) -> tuple[xr.DataTree, FitConfig, pd.DataFrame]:
    """Read a fit written by :func:`write_fit`, checking it was written by this model and version.

    Parameters
    ----------
    path
        The store written by :func:`write_fit`.
    model
        If given, the builder the fit must have been made with (``smooth``, ``broken``,
        ``item``).

    Returns
    -------
    tuple
        The inference data (with the ``input_table`` group), the configuration and the input
        table.

    Raises
    ------
    FitCompatibilityError
        If the store is not an emergestats fit, was written by another package version or
        model specification, by another model than ``model``, or its contents do not match
        its recorded model id.
    """
    path = Path(path)
    if not path.exists():
        raise FitCompatibilityError(f"{path}: no such fit; give the path passed to Fit.save")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = xr.open_datatree(path, engine="zarr", consolidated=False)
            tree = tree.load()
    except Exception as exc:  # zarr/xarray raise many types on a foreign folder
        raise FitCompatibilityError(
            f"{path}: cannot be read as a saved fit ({exc}); save fits with Fit.save"
        ) from exc
    config = FitConfig.from_attrs({str(k): v for k, v in tree.attrs.items()}, path=path)
    if config.package_version != _package_version():
        raise FitCompatibilityError(
            f"{path}: was written by emergestats {config.package_version}, but this is "
            f"emergestats {_package_version()}; refit with this version (or load it with "
            f"emergestats {config.package_version})"
        )
    if config.spec_version != MODEL_SPEC_VERSION:
        raise FitCompatibilityError(
            f"{path}: was written with model specification {config.spec_version}, but this "
            f"code uses specification {MODEL_SPEC_VERSION}; refit the model"
        )
    if config.model not in MODELS:
        raise FitCompatibilityError(
            f"{path}: was written by an unknown model {config.model!r}; expected one of "
            f"{', '.join(MODELS)}"
        )
    if model is not None and config.model != model:
        raise FitCompatibilityError(
            f"{path}: holds a {config.model!r} fit, not the {model!r} fit asked for; load "
            f"it with model={config.model!r} or refit"
        )
    if "input_table" not in tree.children:
        raise FitCompatibilityError(f"{path}: has no input_table group; it is incomplete")
    table = _table_from_dataset(tree["input_table"].to_dataset())
    stored_id = str(tree.attrs.get(f"{_ATTR_PREFIX}model_id", ""))
    if _table_hash(table) != config.table_hash or config.model_id != stored_id:
        raise FitCompatibilityError(
            f"{path}: its input table or configuration does not match its recorded model id "
            f"{stored_id}; the store was modified after saving; refit the model"
        )
    _restore_string_coords(tree)
    return tree, config, table


def _restore_string_coords(tree: xr.DataTree) -> None:
    """Zarr gives fixed-width/StringDType strings back; make string coordinates plain ``str``."""
    for node in tree.subtree:
        dataset = node.to_dataset()
        changed = {}
        for name, coord in dataset.coords.items():
            if coord.dtype.kind in ("U", "T", "O"):
                # via object: numpy cannot cast a StringDType array straight to fixed-width str
                values = coord.to_numpy().astype(object).astype(str)
                changed[name] = coord.copy(data=np.asarray(values, dtype=str))
        if changed:
            node.dataset = dataset.assign_coords(changed)
