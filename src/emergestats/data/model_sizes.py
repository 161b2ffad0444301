"""Parameter counts of well-known open model families, with their sources.

Readers use :func:`params_for` to fill the ``params`` column when a result file names a model but
not its size. Every number here is cited; a model that is not listed gets ``None`` and the reader
asks the caller for ``sizes=``. Counts are **total** parameters (embeddings included), the
convention the families' own names follow, so one family's curve is drawn against one kind of
count. Per family:

=========  ============================================================  =========================
family     source                                                        kind of count
=========  ============================================================  =========================
Pythia     Biderman et al. (2023), "Pythia: A Suite for Analyzing Large  exact totals (non-
           Language Models Across Training and Scaling", ICML,           embedding counts in
           arXiv:2304.01373, Table 1 and the model cards' "Naming        :data:`PYTHIA_NON_
           convention and parameter count" table                         EMBEDDING_PARAMS`)
OPT        Zhang et al. (2022), "OPT: Open Pre-trained Transformer       nominal totals as named
           Language Models", arXiv:2205.01068, Table 1                   in the paper (rounded)
BLOOM      BigScience Workshop (2022), "BLOOM: A 176B-Parameter          exact totals; they equal
           Open-Access Multilingual Language Model", arXiv:2211.05100    V*h + L*(12h^2 + 13h) +
           (architectures of the model family) and the Hugging Face      4h with V = 250,880
           model cards
XGLM       Lin et al. (2021), "Few-shot Learning with Multilingual       nominal totals as named
           Language Models", arXiv:2112.10668, Table 1                   in the paper (rounded)
LLaMA      Touvron et al. (2023), "LLaMA: Open and Efficient Foundation  the paper's "params"
           Language Models", arXiv:2302.13971, Table 2                   column (6.7B, 13.0B,
                                                                         32.5B, 65.2B)
MPT        MosaicML model cards for ``mosaicml/mpt-7b`` (2023-05-05) and ``n_parameters`` of the
           ``mosaicml/mpt-30b`` (2023-06-22)                             cards (6.7B, 29.95B)
=========  ============================================================  =========================

Nominal counts (OPT, XGLM) are within a few percent of the exact ones (OPT-350M, for instance,
has 331,196,416); on the log scale the curves are drawn on, that is a small shift of one point.
"""

from __future__ import annotations

import re
from typing import Final

#: Pythia total parameter counts (Biderman et al. 2023, Table 1; model cards). Deduplicated and
#: standard models of one size share the architecture, hence the count.
_PYTHIA_TOTAL: Final[dict[str, int]] = {
    "70m": 70_426_624,
    "160m": 162_322_944,
    "410m": 405_334_016,
    "1b": 1_011_781_632,
    "1.4b": 1_414_647_808,
    "2.8b": 2_775_208_960,
    "6.9b": 6_857_302_016,
    "12b": 11_846_072_320,
}

#: Pythia non-embedding parameter counts (Biderman et al. 2023, Table 1).
PYTHIA_NON_EMBEDDING_PARAMS: Final[dict[str, float]] = {
    f"pythia-{size}": float(count)
    for size, count in {
        "70m": 18_915_328,
        "160m": 85_056_000,
        "410m": 302_311_424,
        "1b": 805_736_448,
        "1.4b": 1_208_602_624,
        "2.8b": 2_517_652_480,
        "6.9b": 6_444_163_072,
        "12b": 11_327_027_200,
    }.items()
}

#: Names the Pythia models had before they were renamed in January 2023 (model cards, "Naming
#: convention and parameter count": the old names counted non-embedding parameters). The same
#: architectures, so the same counts.
_PYTHIA_OLD_NAMES: Final[dict[str, str]] = {
    "19m": "70m",
    "125m": "160m",
    "350m": "410m",
    "800m": "1b",
    "1.3b": "1.4b",
    "2.7b": "2.8b",
    "6.7b": "6.9b",
    "13b": "12b",
}

_OPT: Final[dict[str, float]] = {
    "opt-125m": 125e6,
    "opt-350m": 350e6,
    "opt-1.3b": 1.3e9,
    "opt-2.7b": 2.7e9,
    "opt-6.7b": 6.7e9,
    "opt-13b": 13e9,
    "opt-30b": 30e9,
    "opt-66b": 66e9,
    "opt-175b": 175e9,
}

_BLOOM: Final[dict[str, float]] = {
    "bloom-560m": 559_214_592,
    "bloom-1b1": 1_065_314_304,
    "bloom-1b7": 1_722_408_960,
    "bloom-3b": 3_002_557_440,
    "bloom-7b1": 7_069_016_064,
    "bloom": 176_247_271_424,
    "bloom-176b": 176_247_271_424,
}

_XGLM: Final[dict[str, float]] = {
    "xglm-564m": 564e6,
    "xglm-1.7b": 1.7e9,
    "xglm-2.9b": 2.9e9,
    "xglm-4.5b": 4.5e9,
    "xglm-7.5b": 7.5e9,
}

#: LLaMA (Touvron et al. 2023, Table 2). The 33B model was distributed as ``llama-30b`` in the
#: Hugging Face conversions (and in lm-evaluation-harness result folders); both names are listed.
_LLAMA: Final[dict[str, float]] = {
    "llama-7b": 6.7e9,
    "llama-13b": 13.0e9,
    "llama-30b": 32.5e9,
    "llama-33b": 32.5e9,
    "llama-65b": 65.2e9,
}

_MPT: Final[dict[str, float]] = {
    "mpt-7b": 6.7e9,
    "mpt-30b": 29.95e9,
}

#: Total parameter count by canonical (lower-case, organisation-free) model name.
PARAMETER_COUNTS: Final[dict[str, float]] = {
    **{f"pythia-{size}": float(count) for size, count in _PYTHIA_TOTAL.items()},
    **{
        f"pythia-{old}": float(_PYTHIA_TOTAL[current]) for old, current in _PYTHIA_OLD_NAMES.items()
    },
    **{name: float(count) for name, count in _OPT.items()},
    **{name: float(count) for name, count in _BLOOM.items()},
    **_XGLM,
    **_LLAMA,
    **_MPT,
}

#: Where each family's counts come from (see the module docstring for the kind of count).
SOURCES: Final[dict[str, str]] = {
    "pythia": "Biderman et al. 2023, arXiv:2304.01373, Table 1 (total params from the model cards)",
    "opt": "Zhang et al. 2022, arXiv:2205.01068, Table 1 (nominal)",
    "bloom": "BigScience Workshop 2022, arXiv:2211.05100, and the model cards (exact)",
    "xglm": "Lin et al. 2021, arXiv:2112.10668, Table 1 (nominal)",
    "llama": "Touvron et al. 2023, arXiv:2302.13971, Table 2",
    "mpt": "MosaicML model cards mosaicml/mpt-7b and mosaicml/mpt-30b (n_parameters)",
}

# Pythia training-setup variants that keep the architecture of their size: deduplicated data,
# the v0 release, bf16 training, batch-size ablations (e.g. ``0.5MtokBS``), random seeds, and
# the gender-pronoun intervention runs (``intervention-...``, ``-long``).
_PYTHIA_SAME_ARCHITECTURE_SUFFIX = re.compile(r"-(deduped|v0|bf16|long|seed\d+|\d+(\.\d+)?mtokbs)$")
# Hugging Face conversions often append ``-hf`` to the original name.
_CONVERSION_SUFFIX = re.compile(r"-hf$")


def canonical_model_name(model_name: str) -> str:
    """The key :func:`params_for` looks up: lower case, no organisation, no checkpoint, no variant.

    ``EleutherAI/pythia-160m-deduped`` -> ``pythia-160m``; ``EleutherAI/pythia-v1.1-1b-bf16``
    -> ``pythia-1b``; ``pythia-1.4b@step3000`` -> ``pythia-1.4b``; ``huggyllama/llama-7b`` ->
    ``llama-7b``.
    """
    name = model_name.strip().rstrip("/")
    name = name.rsplit("/", 1)[-1]  # Hugging Face organisation (or a local folder)
    name = name.split("@", 1)[0]  # checkpoint suffix used by the readers (``@step143000``)
    name = name.lower()
    name = _CONVERSION_SUFFIX.sub("", name)
    if "pythia" in name:
        # The retrained suite ran as ``pythia-v1.1-<size>`` before it took the plain names.
        name = name.replace("pythia-v1.1-", "pythia-")
        name = name.removeprefix("intervention-")
        while True:
            stripped = _PYTHIA_SAME_ARCHITECTURE_SUFFIX.sub("", name)
            if stripped == name:
                break
            name = stripped
    else:
        name = name.removesuffix("-deduped")
    return name


def params_for(model_name: str) -> float | None:
    """Total parameter count of a well-known model, or ``None`` if it is not in the table.

    Parameters
    ----------
    model_name
        A model name as result files spell it, in any case, with or without a Hugging Face
        organisation (``EleutherAI/pythia-160m-deduped``), a ``-deduped`` or other Pythia
        training-variant suffix, or a reader's checkpoint suffix (``pythia-1b@step1000``).

    Returns
    -------
    float or None
        The total parameter count (see the module docstring for each family's source), or
        ``None`` for a model not listed: the caller then passes the count explicitly.

    Examples
    --------
    >>> params_for("EleutherAI/pythia-70m-deduped")
    70426624.0
    >>> params_for("LLaMA-7B")
    6700000000.0
    >>> params_for("gpt-5") is None
    True
    """
    return PARAMETER_COUNTS.get(canonical_model_name(model_name))
