"""TOML model specifications: parsing, checking, and the keyword arguments they give fit()."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergestats.errors import ConfigError
from emergestats.specs import load_spec

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_spec_gives_fit_keyword_arguments(tmp_path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            """
builder = "broken"
[options]
centered = false
[priors]
b_mu = { mu = 0.5, sigma = 1.0 }
[sampler]
name = "pymc"
draws = 300
chains = 2
random_seed = 7
""",
        )
    )
    assert spec.fit_kwargs() == {
        "model": "broken",
        "sampler": "pymc",
        "draws": 300,
        "chains": 2,
        "random_seed": 7,
        "priors": {"b_mu": {"mu": 0.5, "sigma": 1.0}},
        "centered": False,
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('builder = "wiggly"', "builder 'wiggly' is unknown"),
        ("[sampler]\ndraw = 10", "unknown key(s) 'draw' in [sampler]"),
        ("[option]\nfloor = true", "unknown key(s) 'option' in the top level"),
        ("builder = ", "not valid TOML"),
    ],
)
def test_bad_spec_is_a_config_error_naming_the_file(tmp_path, text, needle) -> None:
    with pytest.raises(ConfigError) as info:
        load_spec(write(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / "spec.toml"))
    assert needle in str(info.value)


def test_every_shipped_spec_loads() -> None:
    specs = sorted((REPO / "models").glob("*.toml"))
    assert specs, "models/ must hold at least one specification"
    for path in specs:
        assert load_spec(path).builder in ("smooth", "broken", "item")
