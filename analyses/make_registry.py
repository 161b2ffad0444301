"""Write the dataset registry (paths and sha256 checksums, never contents) from a verified mirror.

For every source in ``emergestats.datasets.DATASETS`` this lists the files of
``<mirror>/<folder>/`` and writes ``src/emergestats/resources/registry/<folder>.txt``, one
``<path relative to the folder> <sha256>`` line per file, sorted. Run it when a source is re-pinned
(new commit, new files) after refreshing the mirror from upstream::

    .venv/bin/python analyses/make_registry.py                      # mirror: $EMERGESTATS_DATA_DIR
    .venv/bin/python analyses/make_registry.py ../shared/data --check   # exit 1 if out of date

The mirror must be a verbatim copy of upstream: the checksums written here are what every later
download is checked against.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from emergestats.datasets import DATASETS, Source

REGISTRY_DIR = (
    Path(__file__).resolve().parents[1] / "src" / "emergestats" / "resources" / "registry"
)

# Files a mirror folder holds that are not upstream files (notes written by whoever made the
# mirror): never registered, since no URL serves them.
MIRROR_NOTES: dict[str, frozenset[str]] = {
    "lm-eval-harness-v0.3": frozenset({"SOURCE.txt"}),
}


def registry_text(source: Source, mirror_folder: Path) -> str:
    """The registry file of one source, from the files in its mirror folder."""
    notes = MIRROR_NOTES.get(source.folder, frozenset())
    lines = [
        f"# emergestats dataset registry: {source.folder}/ = {source.homepage}",
        f"# upstream path = {source.upstream_prefix or '(same as here)'}<path> "
        f"(except {', '.join(sorted(source.root_files)) or 'none'} at the root)",
        "# <path relative to the folder> <sha256>; written by analyses/make_registry.py, "
        "do not edit",
    ]
    files = sorted(
        file.relative_to(mirror_folder).as_posix()
        for file in mirror_folder.rglob("*")
        if file.is_file()
    )
    for relative in files:
        if relative in notes:
            continue
        if relative != relative.strip():
            # The registry's lines are stripped before parsing: such a name would not round-trip.
            raise ValueError(f"{mirror_folder / relative}: a name with leading or trailing space")
        digest = hashlib.sha256((mirror_folder / relative).read_bytes()).hexdigest()
        lines.append(f"{relative} {digest}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "mirror",
        nargs="?",
        default=os.environ.get("EMERGESTATS_DATA_DIR"),
        help="the mirror folder (default: $EMERGESTATS_DATA_DIR)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a registry is out of date"
    )
    args = parser.parse_args(argv)
    if not args.mirror:
        parser.error("give the mirror folder or set EMERGESTATS_DATA_DIR")
    mirror = Path(args.mirror)
    stale = []
    sources = {d.source.folder: d.source for d in DATASETS.values() if d.source is not None}
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    for folder, source in sorted(sources.items()):
        if not (mirror / folder).is_dir():
            parser.error(f"{mirror / folder} is missing: the mirror must hold every source")
        text = registry_text(source, mirror / folder)
        target = REGISTRY_DIR / f"{folder}.txt"
        count = sum(1 for line in text.splitlines() if not line.startswith("#"))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            print(f"{folder}: {count} files, up to date")
            continue
        stale.append(folder)
        if args.check:
            print(f"{folder}: {count} files, registry OUT OF DATE")
        else:
            target.write_text(text, encoding="utf-8")
            print(f"{folder}: {count} files, written to {target}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
