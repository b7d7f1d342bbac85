"""``mme-node hpo load | activate | report | history | list | info | search``: curate HPO releases.

Releases are compiled into ``settings.hpo_dir`` by :class:`hpo.ReleaseLibrary`;
which one the node uses is recorded in its database. Loading and activating
go through :class:`~mme_node.services.releases.ReleaseService`, so a server
running on the same data dir switches by itself (it follows the change log);
these commands only adapt it to the terminal (progress bars, one-line errors).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path

from hpo import HPOError, ReleaseInfo, ReleaseLibrary
from mme_node.node import running_node
from mme_node.progress import ProgressBar
from mme_node.services.activation_lock import ActivationInProgress
from mme_node.services.release_report import ReleaseReport
from mme_node.services.releases import (
    AlreadyActive,
    ReleaseService,
    UnknownRelease,
    active_release,
)
from mme_node.settings import Settings
from mme_node.stores.changes import ChangeLog

ACKNOWLEDGEMENT = (
    "This service uses the Human Phenotype Ontology (version {version}). "
    "Find out more at http://www.human-phenotype-ontology.org"
)

FOLLOW_NOTE = (
    "A server running on this data dir switches to it by itself within seconds "
    "(an admin token's GET /heartbeat shows _hpoRelease); `mme-node hpo report` has the details."
)


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "hpo",
        help="load, activate and inspect HPO releases",
        description="Manage the Human Phenotype Ontology releases the node scores with.",
    )
    actions = parser.add_subparsers(dest="hpo_command", required=True, metavar="ACTION")

    load = actions.add_parser(
        "load",
        help="verify, compile and activate a release",
        description="Load hp.obo or hp.json, with phenotype.hpoa if given (plain, .gz or .xz), "
        "compile it and make it the node's release: every stored patient's terms are derived "
        "again from what was submitted, and a report says what changed. An ontology without "
        "phenotype.hpoa borrows the annotations of the newest release that has them. A "
        "damaged file leaves the active release untouched.",
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a directory or files")
    load.add_argument(
        "--structural-ic",
        action="store_true",
        help="for an ontology without phenotype.hpoa: use structure-based information "
        "content instead of borrowing another release's annotations",
    )
    load.set_defaults(handler=load_release)

    activate = actions.add_parser(
        "activate",
        help="switch to a compiled release (an upgrade or a rollback)",
        description="Make a compiled release the node's release again, with the same "
        "guarantees as load: nothing submitted is changed, so going back restores the "
        "terms patients had with that release exactly.",
    )
    activate.add_argument("release", metavar="VERSION|KEY", help="as `hpo list` shows them")
    activate.set_defaults(handler=activate_release)

    report = actions.add_parser(
        "report", help="what a release switch did to the stored patients (the latest by default)"
    )
    report.add_argument("change", nargs="?", type=int, help="the switch's number (`hpo history`)")
    report.add_argument("--json", action="store_true", help="the whole report as JSON")
    report.set_defaults(handler=show_report)

    history = actions.add_parser("history", help="the node's release switches, newest first")
    history.set_defaults(handler=show_history)

    listing = actions.add_parser("list", help="list compiled releases (* = the node's)")
    listing.set_defaults(handler=list_releases)

    info = actions.add_parser("info", help="describe the node's release")
    info.set_defaults(handler=show_info)

    search = actions.add_parser("search", help="find terms by id, name or synonym")
    search.add_argument("text", nargs="+", help="the words or id to look for")
    search.add_argument("--limit", type=int, default=10, help="at most this many terms")
    search.set_defaults(handler=search_terms)


def load_release(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_load(settings, args.paths, borrow=not args.structural_ic))


async def _load(settings: Settings, paths: list[Path], *, borrow: bool) -> int:
    async with running_node(settings) as node:
        progress = _StageProgress()
        try:
            info = await node.releases.compile(paths, progress, borrow_annotations=borrow)
        except HPOError as error:
            progress.close()
            return _fail(error)
        progress.close()
        note = " (already compiled)" if progress.cached else ""
        print(f"Loaded HPO release {info.version}{note}.")
        print(f"terms: {info.term_count}")
        if info.ic_source == "annotations":
            print(f"annotations: {info.annotation_count} ({info.disease_count} diseases)")
        else:
            print("annotations: none")
        print(f"information content: {info.ic_description}")
        return await _activate(node.releases, info.key)


def activate_release(args: argparse.Namespace, settings: Settings) -> int:
    async def activate() -> int:
        async with running_node(settings) as node:
            return await _activate(node.releases, args.release)

    return asyncio.run(activate())


async def _activate(releases: ReleaseService, name: str) -> int:
    progress = _StageProgress()
    try:
        report = await releases.activate(name, _actor(), progress.patients)
    except AlreadyActive as error:
        progress.close()
        print(f"{error.message}; nothing to do.")
        return 0
    except (UnknownRelease, ActivationInProgress) as error:
        progress.close()
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    progress.close()
    print(
        f"HPO release {report.to_version} is now active (was {report.from_version}; "
        f"switch {report.seq})."
    )
    print(_summary(report))
    print(FOLLOW_NOTE)
    return 0


def show_report(args: argparse.Namespace, settings: Settings) -> int:
    async def report() -> ReleaseReport:
        async with running_node(settings) as node:
            return await node.releases.report(args.change)

    found = asyncio.run(report())
    if args.json:
        print(json.dumps(found.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in report_lines(found):
            print(line)
    return 0


def report_lines(report: ReleaseReport) -> list[str]:
    """The report for a terminal: summary, terms, then patients with unresolved terms by owner."""
    when = report.created.isoformat(timespec="seconds") if report.created else "?"
    lines = [
        f"HPO release switch {report.seq}: {report.from_version} -> {report.to_version}, "
        f"{when} by {report.actor or 'unknown'}",
        _summary(report),
    ]
    if report.replaced_terms:
        lines += ["", "Terms replaced (matched before -> matched now):"]
        lines += [f"  {old} -> {new}  {_patients(n)}" for old, new, n in report.replaced_terms]
    if report.activated_terms:
        lines += ["", "Terms now matched (pending before):"]
        lines += [f"  {term}  {_patients(n)}" for term, n in report.activated_terms]
    if report.unresolved_terms:
        lines += ["", "Unresolved terms (kept as submitted, not matched):"]
        for term, n in report.unresolved_terms:
            consider = report.suggestions.get(term)
            hint = f"  HPO suggests {', '.join(consider)}" if consider else ""
            lines.append(f"  {term}  {_patients(n)}{hint}")
        lines += ["", "Patients with unresolved terms, by owner:"]
        for owner, patients in report.unresolved_by_owner().items():
            lines.append(f"  {owner}")
            for patient in patients:
                left = set(patient.not_carried_over)
                terms = ", ".join(
                    f"{t} (not carried over)" if t in left else t for t in patient.unresolved
                )
                lines.append(f"    {patient.patient_id}: {terms}")
    return lines


def _summary(report: ReleaseReport) -> str:
    unresolved = [p for p in report.patients if p.unresolved]
    left = sum(bool(p.not_carried_over) for p in report.patients)
    return (
        f"patients: {report.total}, with changed terms: {report.changed}, "
        f"with unresolved terms: {len(unresolved)} ({left} with terms not carried over)"
    )


def _patients(count: int) -> str:
    return f"{count} patient" + ("" if count == 1 else "s")


def _actor() -> str:
    try:
        return f"command line ({getpass.getuser()})"
    except (KeyError, OSError):
        return "command line"


def show_history(args: argparse.Namespace, settings: Settings) -> int:
    changes = ChangeLog(settings.database_path)
    try:
        history = asyncio.run(changes.releases())
    finally:
        changes.close()
    if not history:
        print("No release switch yet: the node uses the bundled release (`mme-node hpo info`).")
        return 0
    print(f"{'SWITCH':>6}  {'WHEN':<25}  {'VERSION':<12} {'KEY':<16}  BY")
    for change in history:
        when = change.created.isoformat(timespec="seconds")
        print(
            f"{change.seq:>6}  {when:<25}  {change.release_version:<12} "
            f"{change.release_key:<16}  {change.actor or ''}"
        )
    return 0


def list_releases(args: argparse.Namespace, settings: Settings) -> int:
    library = ReleaseLibrary(settings.hpo_dir)
    try:
        active = _node_release(settings, library).key
    except HPOError as error:
        return _fail(error)
    releases = library.list()
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
        info = _node_release(settings, ReleaseLibrary(settings.hpo_dir))
    except HPOError as error:
        return _fail(error)
    for line in describe(info):
        print(line)
    return 0


def _node_release(settings: Settings, library: ReleaseLibrary) -> ReleaseInfo:
    """The node's release (its database says which; the bundled one until a switch)."""
    changes = ChangeLog(settings.database_path)
    try:
        return asyncio.run(active_release(library, changes)).info
    finally:
        changes.close()


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
        f"information content: {info.ic_source}, {info.ic_description}",
        f"obsolete terms: {info.obsolete_count}, alternative ids: {info.alt_id_count}",
        "checksums (sha256 of the decompressed files):",
        *(f"  {name}  {digest}" for name, digest in info.checksums.items()),
        f"compiled: {info.compiled_at} (key {info.key})",
        ACKNOWLEDGEMENT.format(version=info.version),
    ]
    return lines


def search_terms(args: argparse.Namespace, settings: Settings) -> int:
    library = ReleaseLibrary(settings.hpo_dir)
    try:
        release = library.release(_node_release(settings, library).key)
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
    """One bar per stage, for the library's ``(stage, done, total)`` callback
    and the activation's ``(stage, handled)`` one (:meth:`patients`)."""

    def __init__(self) -> None:
        self._stage = ""
        self._bar: ProgressBar | None = None
        self.cached = False

    def patients(self, stage: str, handled: int) -> None:
        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            self._bar = ProgressBar(stage)
        self._bar.advance(handled)

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
