"""The dataset registry: names, pinned URLs, the mirror, the download cache, the errors.

No test touches the network: downloads go through ``emergestats.datasets._http_download``, which
the tests replace with a fake server (a dict from URL to bytes) or with one that fails like an
offline machine. The real registry is proved against the real mirror (``data_dir``, realdata).
"""

from __future__ import annotations

import gc
import hashlib
import http.server
import io
import subprocess
import sys
import tarfile
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pooch
import pytest
import requests

from emergestats import datasets
from emergestats.datasets import (
    CACHE_DIR_VARIABLE,
    DATA_DIR_VARIABLE,
    DATASETS,
    Dataset,
    Source,
    cache_dir,
    list_datasets,
    load,
    path,
)
from emergestats.errors import ConfigError, DataFormatError, DatasetUnavailableError

# Registered files per mirror folder, counted in /work/shared/data (../shared/data in CI):
REGISTRY_SIZES = {
    # 3 CSVs (emergent capabilities, benchmarks, the sub-10B benchmark subset) + LICENSE.
    "obsscaling": 4,
    # 104 exp_data/models/*.json + 104 exp_data/evals/*.json + eval_metadata.csv, grid.json,
    # heavy.yaml + LICENSE.txt.
    "mlfoundations-scaling": 212,
    # 30 data/<task>/*.csv + evaluation/{base_llm_benchmark_eval.csv, all_models.txt} + LICENSE.
    "expemergence": 33,
    # 876 evals/pythia-v1 JSONs + 8 opt + 5 bloom + 7 csv/*/term_frquency_all_shots.csv
    # + evals/README.md + LICENSE.
    "pythia-evals": 898,
    # 188 files under results/ (166 JSONs and 22 per-model README.md) + LICENSE.md; the mirror's
    # SOURCE.txt is a note of the mirror's maker, not an upstream file.
    "lm-eval-harness-v0.3": 189,
    # 75 task.json files (20 tasks and their subtasks) from the bigbench 1.0.0 sdist.
    "bigbench-tasks": 75,
}
MIRROR_NOTES = {"lm-eval-harness-v0.3": {"SOURCE.txt"}}
FILE_SOURCES = sorted(name for name, dataset in DATASETS.items() if dataset.source is not None)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture(autouse=True)
def no_dataset_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts with no mirror and a private, empty cache (never the user's)."""
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "cache"))


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, bytes], list[str]]]:
    """Replace HTTP downloads: serve ``files[url]``, record each URL asked for, 404 otherwise."""
    files: dict[str, bytes] = {}
    requested: list[str] = []

    def serve(url, output_file, pooch_instance, check_only=False):
        requested.append(url)
        if url not in files:
            raise requests.exceptions.HTTPError(f"404 Client Error: Not Found for url: {url}")
        with open(output_file, "wb") if isinstance(output_file, str) else output_file as out:
            out.write(files[url])

    monkeypatch.setattr(datasets, "_http_download", serve)
    yield files, requested


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every HTTP download fail the way it does without a network."""
    requested: list[str] = []

    def fail(url, output_file, pooch_instance, check_only=False):
        requested.append(url)
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='raw.githubusercontent.com', port=443): Max retries "
            "exceeded (Caused by NameResolutionError: Failed to resolve)"
        )

    monkeypatch.setattr(datasets, "_http_download", fail)
    return requested


TINY_FILES = {
    "LICENSE": b"MIT License\n",
    "a.json": b'{"results": {"task": {"acc": 0.5}}}\n',
    "sub/b.json": b'{"results": {"task": {"acc": 0.75}}}\n',
}


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """A registered dataset of three small files: ``results/...`` upstream, LICENSE at the root."""
    source = Source(
        folder="tiny-results",
        repository="example/tiny",
        commit="c" * 40,
        license="MIT",
        upstream_prefix="results/",
        root_files=frozenset({"LICENSE"}),
        files={relative: sha256(content) for relative, content in TINY_FILES.items()},
    )
    dataset = Dataset(
        name="tiny",
        description="Three small files.",
        citation="Nobody (2025).",
        source=source,
        reader="tiny_reader_module:read_tiny",
    )
    monkeypatch.setitem(DATASETS, "tiny", dataset)
    return dataset


def tiny_url(relative: str) -> str:
    upstream = relative if relative == "LICENSE" else f"results/{relative}"
    return f"https://raw.githubusercontent.com/example/tiny/{'c' * 40}/{upstream}"


def write_mirror(root: Path, folder: str, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        (root / folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / folder / relative).write_bytes(content)
    return root


# --- names, registry, URLs -----------------------------------------------------------------------


def test_list_datasets_names_every_dataset() -> None:
    assert list_datasets() == [
        "bigbench-tasks",
        "corpus",
        "expemergence",
        "ladder",
        "ladder-conv",
        "lm-eval-v0.3",
        "obsscaling",
        "open-lm",
        "pythia",
    ]
    for dataset in DATASETS.values():
        assert dataset.description.endswith(".")
        assert "(20" in dataset.citation or dataset.name in {"ladder", "ladder-conv"}


@pytest.mark.parametrize("entry", [load, path])
def test_unknown_name_lists_the_known_names(entry: Callable[..., object]) -> None:
    with pytest.raises(ConfigError) as info:
        entry("pythai")
    message = str(info.value)
    assert message.startswith("Unknown dataset 'pythai' (did you mean 'pythia'?)")
    assert message.endswith(
        "the known datasets are bigbench-tasks, corpus, expemergence, ladder, ladder-conv, "
        "lm-eval-v0.3, obsscaling, open-lm, pythia."
    )


def test_registry_sizes_and_format() -> None:
    sizes = {
        dataset.source.folder: len(dataset.source.registered_files())
        for dataset in DATASETS.values()
        if dataset.source is not None
    }
    assert sizes == REGISTRY_SIZES
    files = DATASETS["open-lm"].source.registered_files()  # type: ignore[union-attr]
    assert "exp_data/eval_metadata.csv" in files
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in files.values())


def test_each_source_is_pinned_with_its_license() -> None:
    pins = {
        name: (d.source.repository, d.source.commit, d.source.license, d.source.folder)
        for name, d in DATASETS.items()
        if d.source is not None
    }
    assert pins == {
        "obsscaling": (
            "ryoungj/ObsScaling",
            "4d6e1e43fd2635d04654aa77d1df9d5266ea0382",
            "Apache-2.0",
            "obsscaling",
        ),
        "open-lm": (
            "mlfoundations/scaling",
            "a003c4913793ac2ae7ef87b28ecb562955d026d5",
            "MIT",
            "mlfoundations-scaling",
        ),
        "expemergence": (
            "tony10101105/ExpEmergence",
            "288b731d68fbc0328de28d394af108da71a09d36",
            "MIT",
            "expemergence",
        ),
        "pythia": (
            "EleutherAI/pythia",
            "a19eecb807ec2c79a39ebf18108816e6ffffc1d5",
            "Apache-2.0",
            "pythia-evals",
        ),
        "lm-eval-v0.3": (
            "EleutherAI/lm-evaluation-harness",
            "5e59782e861391d4130b6cfccd9bf88c0f491d09",
            "MIT",
            "lm-eval-harness-v0.3",
        ),
        "bigbench-tasks": ("google/BIG-bench", None, "Apache-2.0", "bigbench-tasks"),
    }


@pytest.mark.parametrize(
    ("name", "relative", "url"),
    [
        (
            "obsscaling",
            "base_llm_emergent_capability_eval.csv",
            "https://raw.githubusercontent.com/ryoungj/ObsScaling/"
            "4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results/"
            "base_llm_emergent_capability_eval.csv",
        ),
        (
            "obsscaling",
            "LICENSE",
            "https://raw.githubusercontent.com/ryoungj/ObsScaling/"
            "4d6e1e43fd2635d04654aa77d1df9d5266ea0382/LICENSE",
        ),
        (
            "open-lm",
            "exp_data/eval_metadata.csv",
            "https://raw.githubusercontent.com/mlfoundations/scaling/"
            "a003c4913793ac2ae7ef87b28ecb562955d026d5/exp_data/eval_metadata.csv",
        ),
        (
            "open-lm",
            "LICENSE.txt",
            "https://raw.githubusercontent.com/mlfoundations/scaling/"
            "a003c4913793ac2ae7ef87b28ecb562955d026d5/LICENSE.txt",
        ),
        (
            "expemergence",
            "evaluation/all_models.txt",
            "https://raw.githubusercontent.com/tony10101105/ExpEmergence/"
            "288b731d68fbc0328de28d394af108da71a09d36/evaluation/all_models.txt",
        ),
        (
            "pythia",
            "evals/csv/pythia-125m-deduped/term_frquency_all_shots.csv",
            "https://raw.githubusercontent.com/EleutherAI/pythia/"
            "a19eecb807ec2c79a39ebf18108816e6ffffc1d5/evals/csv/pythia-125m-deduped/"
            "term_frquency_all_shots.csv",
        ),
        (
            "lm-eval-v0.3",
            "results/opt/opt-125m/README.md",
            "https://raw.githubusercontent.com/EleutherAI/lm-evaluation-harness/"
            "5e59782e861391d4130b6cfccd9bf88c0f491d09/results/opt/opt-125m/README.md",
        ),
        (
            "bigbench-tasks",
            "arithmetic/task.json",
            "https://files.pythonhosted.org/packages/95/f8/"
            "c019b3579df548a04cac12342cfcb878e50ddf6cfcd7fddba8cfc721c157/bigbench-1.0.0.tar.gz",
        ),
    ],
)
def test_registered_files_map_to_pinned_upstream_urls(name: str, relative: str, url: str) -> None:
    source = DATASETS[name].source
    assert source is not None
    assert relative in source.registered_files()
    assert source.url(relative) == url


def test_bigbench_members_sit_under_the_sdist_root() -> None:
    source = DATASETS["bigbench-tasks"].source
    assert source is not None
    assert source.archive_root + source.upstream_path("arithmetic/1_digit_addition/task.json") == (
        "bigbench-1.0.0/bigbench/benchmark_tasks/arithmetic/1_digit_addition/task.json"
    )
    assert source.archive_sha256 == (
        "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
    )


def test_module_imports_without_readers_pooch_or_pandas() -> None:
    # The CLI looks names up in DATASETS before any reader exists; path() needs no pandas.
    code = (
        "import sys, emergestats.datasets as d; d.list_datasets(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pooch', 'pandas') "
        "or m.startswith(('emergestats.data.', 'emergestats.ladder'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --- the cache folder ----------------------------------------------------------------------------


def test_cache_dir_honours_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"


def test_cache_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(CACHE_DIR_VARIABLE)
    assert cache_dir() == Path(platformdirs.user_cache_dir("emergestats"))
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "")  # empty counts as unset
    assert cache_dir() == Path(platformdirs.user_cache_dir("emergestats"))


# --- a mirror ------------------------------------------------------------------------------------


def test_fake_mirror_is_read_without_downloading(
    tiny: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    mirror = write_mirror(tmp_path / "mirror", "tiny-results", TINY_FILES)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    assert path("tiny") == mirror / "tiny-results"
    assert offline == []
    assert not (tmp_path / "cache").exists()


def test_missing_mirror_folder_names_folder_and_variable(
    tiny: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    mirror = write_mirror(tmp_path / "mirror", "other", TINY_FILES)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    with pytest.raises(DatasetUnavailableError) as info:
        path("tiny")
    assert str(info.value) == (
        f"Dataset 'tiny' is not in the local mirror: EMERGESTATS_DATA_DIR={mirror} has no "
        "'tiny-results/' folder; copy that folder into it (laid out like the project's shared "
        "data folder), or unset EMERGESTATS_DATA_DIR to download the dataset into the cache."
    )
    assert offline == []  # a mirror that lacks a dataset is an error, not a reason to download


def test_mirror_missing_a_file_names_it(
    tiny: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = write_mirror(tmp_path / "mirror", "tiny-results", TINY_FILES)
    (mirror / "tiny-results" / "sub" / "b.json").unlink()
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    with pytest.raises(DatasetUnavailableError, match=r"1 of its 3 registered files are missing"):
        path("tiny", verify=False)
    with pytest.raises(DatasetUnavailableError, match=r"\(sub/b\.json\); copy them from "):
        path("tiny")


def test_mirror_checksums_are_checked_by_default(
    tiny: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = write_mirror(tmp_path / "mirror", "tiny-results", TINY_FILES)
    (mirror / "tiny-results" / "a.json").write_bytes(b'{"results": {"task": {"acc": 0.9}}}\n')
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    with pytest.raises(DatasetUnavailableError) as info:
        path("tiny")
    assert "1 files in the local mirror" in str(info.value)
    assert "(a.json); restore them from https://github.com/example/tiny/tree/ccc" in str(info.value)
    assert "pass verify=False" in str(info.value)
    assert path("tiny", verify=False) == mirror / "tiny-results"


# --- downloads into the cache --------------------------------------------------------------------


def test_download_fills_the_cache_once_with_the_mirror_layout(
    tiny: Dataset, tmp_path: Path, fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    served, requested = fake_server
    served.update({tiny_url(relative): content for relative, content in TINY_FILES.items()})
    folder = path("tiny")
    assert folder == tmp_path / "cache" / "tiny-results"
    assert sorted(requested) == sorted(served)  # LICENSE from the root, the rest from results/
    for relative, content in TINY_FILES.items():
        assert (folder / relative).read_bytes() == content
    requested.clear()
    assert path("tiny") == folder
    assert requested == []  # downloaded once


def test_a_damaged_cached_file_is_fetched_again_when_verifying(
    tiny: Dataset, fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    served, requested = fake_server
    served.update({tiny_url(relative): content for relative, content in TINY_FILES.items()})
    folder = path("tiny")
    (folder / "sub" / "b.json").write_bytes(b"truncated")
    requested.clear()
    path("tiny", verify=False)
    assert requested == []  # presence only
    path("tiny")
    assert requested == [tiny_url("sub/b.json")]
    assert (folder / "sub" / "b.json").read_bytes() == TINY_FILES["sub/b.json"]


def test_a_refused_download_closes_its_connection(tmp_path: Path) -> None:
    # A local server that answers 404 (an offline machine behind a proxy that refuses the
    # request): the downloader raises requests' HTTPError and leaves no socket open. pooch's own
    # HTTPDownloader leaked the response here, a ResourceWarning that pytest turns into an error.
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/missing.json"
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(requests.exceptions.HTTPError, match="404"):
                datasets._http_download(url, str(tmp_path / "missing.json"), None)
            gc.collect()
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "missing.json").exists()


def test_download_with_a_wrong_checksum_is_refused(
    tiny: Dataset, fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    served, _ = fake_server
    served.update({tiny_url(relative): content for relative, content in TINY_FILES.items()})
    served[tiny_url("a.json")] = b"changed upstream"
    with pytest.raises(DatasetUnavailableError) as info:
        path("tiny")
    assert str(info.value).startswith(
        f"Dataset 'tiny' could not be downloaded: {tiny_url('a.json')} does not match its "
        "registered sha256 checksum"
    )
    assert not (cache_dir() / "tiny-results" / "a.json").exists()


@pytest.mark.parametrize(
    ("name", "folder"), [("obsscaling", "obsscaling"), ("pythia", "pythia-evals")]
)
def test_offline_without_mirror_says_which_variable_to_set(
    name: str, folder: str, offline: list[str]
) -> None:
    with pytest.raises(DatasetUnavailableError) as info:
        path(name)
    assert str(info.value) == (
        f"Dataset '{name}' could not be downloaded from GitHub (ConnectionError); set "
        "EMERGESTATS_DATA_DIR to a local mirror laid out like the project's shared data folder "
        f"(with a '{folder}/' folder), or connect to the internet."
    )
    assert offline and all(url.startswith("https://raw.githubusercontent.com/") for url in offline)
    with pytest.raises(DatasetUnavailableError, match="could not be downloaded"):
        load(name)


def test_offline_bigbench_tasks_names_pypi(offline: list[str]) -> None:
    with pytest.raises(DatasetUnavailableError) as info:
        path("bigbench-tasks")
    assert str(info.value).startswith(
        "Dataset 'bigbench-tasks' could not be downloaded from PyPI (ConnectionError); set "
        "EMERGESTATS_DATA_DIR to a local mirror"
    )
    assert offline == [DATASETS["bigbench-tasks"].source.url("")]  # type: ignore[union-attr]


def test_unwritable_cache_says_so(
    tiny: Dataset, monkeypatch: pytest.MonkeyPatch, fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    with pytest.raises(
        DatasetUnavailableError,
        match=r"could not be downloaded into the cache .*"
        r"\(PermissionError: Permission denied\); set EMERGESTATS_CACHE_DIR",
    ):
        path("tiny")


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def tiny_archive(monkeypatch: pytest.MonkeyPatch) -> tuple[Dataset, bytes]:
    """A dataset extracted from a release archive, like bigbench-tasks from its sdist."""
    tasks = {"a/task.json": b'{"name": "a"}', "a/sub/task.json": b'{"name": "a/sub"}'}
    archive = make_tar_gz(
        {"tiny-1.0/setup.py": b"", "tiny-1.0/tiny/tasks/c/task.json": b"{}"}
        | {f"tiny-1.0/tiny/tasks/{relative}": content for relative, content in tasks.items()}
    )
    source = Source(
        folder="tiny-tasks",
        repository="example/tiny",
        commit=None,
        license="Apache-2.0",
        upstream_prefix="tiny/tasks/",
        archive_url="https://files.example.org/tiny-1.0.tar.gz",
        archive_sha256=sha256(archive),
        archive_root="tiny-1.0/",
        files={relative: sha256(content) for relative, content in tasks.items()},
    )
    dataset = Dataset("tiny-tasks", "Two tasks.", "Nobody (2025).", source, reader=None)
    monkeypatch.setitem(DATASETS, "tiny-tasks", dataset)
    return dataset, archive


def test_archive_source_extracts_only_registered_members(
    tiny_archive: tuple[Dataset, bytes], fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    _, archive = tiny_archive
    served, requested = fake_server
    served["https://files.example.org/tiny-1.0.tar.gz"] = archive
    folder = path("tiny-tasks")
    assert folder == cache_dir() / "tiny-tasks"
    extracted = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert extracted == ["a/sub/task.json", "a/task.json"]  # not c/ (unregistered), not setup.py
    assert (folder / "a" / "sub" / "task.json").read_bytes() == b'{"name": "a/sub"}'
    assert not (cache_dir() / "archives").exists()  # the archive is deleted once extracted
    path("tiny-tasks")
    assert len(requested) == 1


def test_archive_lacking_a_registered_member_is_an_error(
    tiny_archive: tuple[Dataset, bytes],
    monkeypatch: pytest.MonkeyPatch,
    fake_server: tuple[dict[str, bytes], list[str]],
) -> None:
    dataset, archive = tiny_archive
    source = dataset.source
    assert source is not None
    files = dict(source.registered_files()) | {"z/task.json": "0" * 64}
    monkeypatch.setitem(
        DATASETS,
        "tiny-tasks",
        Dataset("tiny-tasks", "", "", Source(**{**source.__dict__, "files": files}), reader=None),
    )
    fake_server[0]["https://files.example.org/tiny-1.0.tar.gz"] = archive
    with pytest.raises(DatasetUnavailableError, match=r"1 registered files are not in .*z/task"):
        path("tiny-tasks")


# --- load() dispatch -----------------------------------------------------------------------------


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, function: str) -> list[tuple]:
    """Install a stand-in reader module; return the list of calls it receives."""
    calls: list[tuple] = []

    def reader(*args: object, **kwargs: object) -> pd.DataFrame:
        calls.append((args, kwargs))
        return pd.DataFrame({"called": [name]})

    module = types.ModuleType(name)
    setattr(module, function, reader)
    monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_load_calls_the_reader_with_the_folder_and_kwargs(
    tiny: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_module(monkeypatch, "tiny_reader_module", "read_tiny")
    mirror = write_mirror(tmp_path / "mirror", "tiny-results", TINY_FILES)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    table = load("tiny", shots=5)
    assert table["called"].tolist() == ["tiny_reader_module"]
    assert calls == [((mirror / "tiny-results",), {"shots": 5})]


@pytest.mark.parametrize(
    ("name", "module", "function"),
    [
        ("obsscaling", "emergestats.data.obsscaling", "read_obsscaling"),
        ("open-lm", "emergestats.data.open_lm", "read_open_lm"),
        ("expemergence", "emergestats.data.expemergence", "read_expemergence"),
        ("pythia", "emergestats.data.lm_eval", "read_lm_eval"),
        ("lm-eval-v0.3", "emergestats.data.lm_eval", "read_lm_eval"),
    ],
)
@pytest.mark.realdata
def test_load_routes_each_dataset_to_its_reader(
    name: str,
    module: str,
    function: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = fake_module(monkeypatch, module, function)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data_dir))
    load(name, verify=False)
    folder = DATASETS[name].source.folder  # type: ignore[union-attr]
    assert calls == [((data_dir / folder,), {})]


@pytest.mark.parametrize(
    ("name", "function"),
    [("ladder", "load_ladder_evaluations"), ("ladder-conv", "load_conv_ladder_evaluations")],
)
def test_load_ladder_calls_the_embedded_loader(
    name: str, function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_module(monkeypatch, "emergestats.ladder", function)
    table = load(name, seed=1)
    assert table["called"].tolist() == ["emergestats.ladder"]
    assert calls == [((), {"seed": 1})]  # no folder: the ladder ships with the package


@pytest.mark.parametrize("name", ["ladder", "ladder-conv"])
def test_ladder_has_no_folder(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"embedded in the package .*datasets\.load\('{name}'\)"):
        path(name)


def test_bigbench_tasks_is_not_an_evaluation_table() -> None:
    with pytest.raises(ConfigError) as info:
        load("bigbench-tasks")
    assert str(info.value) == (
        "Dataset 'bigbench-tasks' holds files that are not an evaluation table; get its folder "
        "with emergestats.datasets.path('bigbench-tasks') (BIG-bench task definitions: read them "
        "with emergestats.data.bigbench.read_bigbench_tasks)."
    )


# --- the real registry against the real mirror ---------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("name", FILE_SOURCES)
def test_registry_matches_the_mirror_file_for_file(name: str, data_dir: Path) -> None:
    source = DATASETS[name].source
    assert source is not None
    folder = data_dir / source.folder
    registered = source.registered_files()
    for relative, digest in registered.items():
        assert sha256((folder / relative).read_bytes()) == digest, relative
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk - set(registered) == MIRROR_NOTES.get(source.folder, set())
    assert len(registered) == REGISTRY_SIZES[source.folder]


@pytest.mark.realdata
@pytest.mark.parametrize("name", FILE_SOURCES)
def test_path_resolves_the_real_mirror(
    name: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data_dir))
    assert path(name) == data_dir / DATASETS[name].source.folder  # type: ignore[union-attr]
    assert offline == []


@pytest.mark.realdata
def test_a_changed_byte_in_a_real_mirror_file_is_caught(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    for file in (data_dir / "obsscaling").iterdir():
        write_mirror(mirror, "obsscaling", {file.name: file.read_bytes()})
    target = mirror / "obsscaling" / "base_llm_emergent_capability_eval.csv"
    content = target.read_bytes()
    target.write_bytes(content[:-1] + (b"0" if content[-1:] != b"0" else b"1"))
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(mirror))
    with pytest.raises(
        DatasetUnavailableError, match=r"\(base_llm_emergent_capability_eval\.csv\)"
    ):
        path("obsscaling")


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name", ["obsscaling", "open-lm", "expemergence", "lm-eval-v0.3", "pythia"]
)
def test_download_from_github_reproduces_the_mirror(
    name: str, data_dir: Path, fake_server: tuple[dict[str, bytes], list[str]]
) -> None:
    # A fake raw.githubusercontent.com serving the mirror's bytes at the upstream paths: the
    # download (pooch, real checksums) must rebuild the mirror folder exactly.
    source = DATASETS[name].source
    assert source is not None
    served, requested = fake_server
    mirror_folder = data_dir / source.folder
    for relative in source.registered_files():
        served[source.url(relative)] = (mirror_folder / relative).read_bytes()
    folder = path(name)
    assert folder == cache_dir() / source.folder
    assert len(requested) == REGISTRY_SIZES[source.folder]
    for relative in source.registered_files():
        assert (folder / relative).read_bytes() == (mirror_folder / relative).read_bytes()


# --- load() through the real readers (skipped until they exist) ----------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "module", "function"),
    [
        ("obsscaling", "emergestats.data.obsscaling", "read_obsscaling"),
        ("open-lm", "emergestats.data.open_lm", "read_open_lm"),
        ("expemergence", "emergestats.data.expemergence", "read_expemergence"),
        ("pythia", "emergestats.data.lm_eval", "read_lm_eval"),
        ("lm-eval-v0.3", "emergestats.data.lm_eval", "read_lm_eval"),
    ],
)
def test_load_returns_the_real_readers_table(
    name: str, module: str, function: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader_module = pytest.importorskip(module)
    real_reader = getattr(reader_module, function)
    received: list[Path] = []
    returned: list[pd.DataFrame] = []

    def spy(folder: Path, **kwargs: object) -> pd.DataFrame:
        received.append(folder)
        returned.append(real_reader(folder, **kwargs))
        return returned[-1]

    monkeypatch.setattr(reader_module, function, spy)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data_dir))
    # Readers warn about the rows they exclude (their own counted exclusions); not this test's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = load(name)
    assert received == [data_dir / DATASETS[name].source.folder]  # type: ignore[union-attr]
    assert table is returned[0]
    assert len(table) > 0
    assert table["score"].notna().all()


@pytest.mark.parametrize(
    ("name", "function", "family"),
    [
        ("ladder", "load_ladder_evaluations", "ladder"),
        ("ladder-conv", "load_conv_ladder_evaluations", "conv-ladder"),
    ],
)
def test_load_ladder_through_the_real_module(name: str, function: str, family: str) -> None:
    ladder = pytest.importorskip("emergestats.ladder")
    try:
        expected = getattr(ladder, function)()
    except DataFormatError as error:  # the ladder's own tests cover a missing packaged table
        pytest.skip(f"the packaged ladder table is not there yet: {error}")
    table = load(name)
    assert len(table) > 0
    assert set(table["family"]) == {family}
    pd.testing.assert_frame_equal(table, expected)


def test_datasets_module_exports() -> None:
    assert set(datasets.__all__) == {
        "CORPUS_DATASETS",
        "DATASETS",
        "DATA_DIR_VARIABLE",
        "CACHE_DIR_VARIABLE",
        "Dataset",
        "Source",
        "cache_dir",
        "list_datasets",
        "load",
        "path",
    }
