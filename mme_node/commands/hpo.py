"""``mme-node hpo load | list | info | search``: curate the node's HPO releases.

Releases are compiled into ``settings.hpo_dir`` by :class:`hpo.ReleaseLibrary`;
these commands only adapt it to the terminal (progress bar, one-line errors).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpo import HPOError, ReleaseInfo, ReleaseLibrary
from mme_node.progress import ProgressBar
from mme_node.settings import Settings

ACKNOWLEDGEMENT = (
    "This service uses the Human Phenotype Ontology (version {version}). "
    "Find out more at http://www.human-phenotype-ontology.org"
)


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "hpo",
        help="load, list and inspect HPO releases",
        description="Manage the Human Phenotype Ontology releases the node scores with.",
    )
    actions = parser.add_subparsers(dest="hpo_command", required=True, metavar="ACTION")

    load = actions.add_parser(
        "load",
        help="verify, compile and activate a release",
        description="Load hp.obo or hp.json, with phenotype.hpoa if given (plain, .gz or .xz), "
        "compile it and make it the active release. A damaged file leaves the active "
        "release untouched.",
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a directory or files")
    load.set_defaults(handler=load_release)

    listing = actions.add_parser("list", help="list compiled releases (* = active)")
    listing.set_defaults(handler=list_releases)

    info = actions.add_parser("info", help="describe the active release")
    info.set_defaults(handler=show_info)

    search = actions.add_parser("search", help="find terms by id, name or synonym")
    search.add_argument("text", nargs="+", help="the words or id to look for")
    search.add_argument("--limit", type=int, default=10, help="at most this many terms")
    search.set_defaults(handler=search_terms)


def load_release(args: argparse.Namespace, settings: Settings) -> int:
    library = ReleaseLibrary(settings.hpo_dir)
    progress = _StageProgress()
    try:
        info = library.load(args.paths, progress=progress)
    except HPOError as error:
        progress.close()
        return _fail(error)
    progress.close()
    note = " (already compiled)" if progress.cached else ""
    print(f"Loaded HPO release {info.version}{note}; it is now active.")
    print(f"terms: {info.term_count}")
    if info.ic_source == "annotations":
        print(f"annotations: {info.annotation_count} ({info.disease_count} diseases)")
    else:
        print("annotations: none; information content is structure-based")
    return 0


def list_releases(args: argparse.Namespace, settings: Settings) -> int:
    library = ReleaseLibrary(settings.hpo_dir)
    releases = library.list()
    if not releases:
        print("No compiled release yet; the bundled default is compiled on first use.")
        return 0
    active = library.active_key()
    print(f"  {'VERSION':<12} {'KEY':<16} {'TERMS':>6} {'ANNOTATIONS':>11}  {'IC':<11} COMPILED")
    for info in releases:
        marker = "*" if info.key == active else " "
        print(
            f"{marker} {info.version:<12} {info.key:<16} {info.term_count:>6} "
            f"{info.annotation_count:>11}  {info.ic_source:<11} {info.compiled_at}"
        )
    return 0


def show_info(args: argparse.Namespace, settings: Settings) -> int:
    try:
        info = ReleaseLibrary(settings.hpo_dir).info()
    except HPOError as error:
        return _fail(error)
    for line in describe(info):
        print(line)
    return 0


def describe(info: ReleaseInfo) -> list[str]:
    """The lines of ``hpo info``: the version first, then ``terms: N`` and provenance."""
    source = "bundled with mme-node" if info.bundled else "loaded by a curator"
    lines = [
        f"HPO release {info.version} (active)",
        f"terms: {info.term_count}",
        f"date: {info.date or 'unknown'}",
        f"source: {source}",
        f"ontology file: {info.ontology_file}",
        f"annotation file: {info.annotation_file or 'none'}",
        f"annotations: {info.annotation_count} ({info.disease_count} diseases, "
        f"{info.negated_count} NOT excluded, {info.unresolved_count} with unknown terms)",
        f"information content: {info.ic_source}",
        f"obsolete terms: {info.obsolete_count}, alternative ids: {info.alt_id_count}",
        "checksums (sha256 of the decompressed files):",
        *(f"  {name}  {digest}" for name, digest in info.checksums.items()),
        f"compiled: {info.compiled_at} (key {info.key})",
        ACKNOWLEDGEMENT.format(version=info.version),
    ]
    return lines


def search_terms(args: argparse.Namespace, settings: Settings) -> int:
    try:
        release = ReleaseLibrary(settings.hpo_dir).active()
    except HPOError as error:
        return _fail(error)
    matches = release.search(" ".join(args.text), limit=args.limit)
    if not matches:
        print("No matching term.")
        return 1
    for match in matches:
        also = "" if match.matched in (match.name, match.term_id) else f"  [{match.matched}]"
        print(f"{match.term_id}  {match.name}{also}")
    return 0


def _fail(error: HPOError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


class _StageProgress:
    """Adapts the library's ``(stage, done, total)`` callback to one bar per stage."""

    def __init__(self) -> None:
        self._stage = ""
        self._bar: ProgressBar | None = None
        self.cached = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "cached":
            self.cached = True
        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            self._bar = ProgressBar(stage, total=total or None)
        self._bar.advance(done - self._bar.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.finish()
            self._bar = None
