"""Model specifications: which builder, which priors, which sampler settings, held in TOML.

A specification file (see ``models/`` in the repository) looks like::

    builder = "smooth"            # "smooth", "broken" or "item"
    description = "..."           # optional, free text

    [options]                     # passed to the model builder
    floor = false
    centered = true

    [priors]                      # overrides of emergestats.models.priors.DEFAULT_PRIORS, by key
    b_mu = { mu = 0.0, sigma = 1.0 }

    [sampler]                     # passed to emergestats.fit
    name = "numpyro"              # omit for the package default
    draws = 1000
    tune = 1000
    chains = 4
    random_seed = 1
    target_accept = 0.9

Unknown sections or keys are errors: a misspelt key must not silently fall back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emergestats.errors import ConfigError

BUILDERS = ("smooth", "broken", "item")
_TOP_LEVEL = {"builder", "description", "options", "priors", "sampler"}
_BUILDER_OPTIONS = {"floor", "centered", "n_ref", "lengths", "lure", "probability_noise"}
_SAMPLER_KEYS = {
    "name",
    "draws",
    "tune",
    "chains",
    "random_seed",
    "target_accept",
    "max_treedepth",
    "adaptation",
    "progressbar",
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model specification.

    Attributes
    ----------
    builder
        Which model builder to use: ``smooth``, ``broken`` or ``item``.
    options
        Keyword arguments for the builder.
    priors
        Overrides of the default priors, by key.
    sampler
        Sampler settings: ``name`` (``None`` for the default), ``draws``, ``tune``, ``chains``,
        ``random_seed``, ``target_accept``, ``progressbar``.
    description
        Free text shown in reports.
    path
        The file the spec came from, if any.
    """

    builder: str = "smooth"
    options: dict[str, Any] = field(default_factory=dict)
    priors: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`emergestats.fit` (model, sampler, draws, ..., options)."""
        settings = dict(self.sampler)
        kwargs: dict[str, Any] = {"model": self.builder, "sampler": settings.pop("name", None)}
        kwargs.update(settings)
        if self.priors:
            kwargs["priors"] = dict(self.priors)
        kwargs.update(self.options)
        return kwargs


def _check_keys(section: str, values: dict[str, Any], allowed: set[str], path: Path) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(repr(k) for k in unknown)} in {section}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def load_spec(path: str | Path) -> ModelSpec:
    """Read and check a TOML model specification.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or has an unknown section, key or builder.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such model specification file (see models/ for examples)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    _check_keys("the top level", raw, _TOP_LEVEL, path)
    builder = raw.get("builder", "smooth")
    if builder not in BUILDERS:
        raise ConfigError(
            f"{path}: builder {builder!r} is unknown; expected one of {', '.join(BUILDERS)}"
        )
    sections: dict[str, dict[str, Any]] = {}
    for name in ("options", "priors", "sampler"):
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{name}] must be a table of keys")
        sections[name] = value
    _check_keys("[options]", sections["options"], _BUILDER_OPTIONS, path)
    _check_keys("[sampler]", sections["sampler"], _SAMPLER_KEYS, path)
    return ModelSpec(
        builder=builder,
        options=sections["options"],
        priors=sections["priors"],
        sampler=sections["sampler"],
        description=str(raw.get("description", "")),
        path=path,
    )
