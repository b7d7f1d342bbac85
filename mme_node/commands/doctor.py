"""``mme-node doctor``: is this node set up to run, and can it reach its peers?

Checks, in order, and prints one line each (``ok``, ``warn`` or ``FAIL``
with what to do): the data dir (absolute path, exists, writable), the
permissions of the files holding patients and peer tokens, the HPO release,
the store (opened, counted), the clients (is there a submitter?), and every
enabled peer's ``/heartbeat``. It changes nothing: a node that never ran is
told what its first start will create. Exit code 0 unless a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from hpo import HPOError, Release, ReleaseLibrary
from mme_node.commands._program import command_name
from mme_node.errors import MMEError
from mme_node.node import open_store
from mme_node.peers import REGISTRY_FILE, PeerRegistry
from mme_node.peers.probe import check_heartbeat
from mme_node.security.tokens import Role, TokenRegistry
from mme_node.services.releases import active_release
from mme_node.settings import Settings
from mme_node.stores.changes import ChangeLog

Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    topic: str
    message: str


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "doctor",
        help="check the data dir, permissions, store, HPO release and peers",
        description=__doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else None,
    )
    parser.set_defaults(handler=doctor)


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    findings = asyncio.run(examine(settings))
    width = max(len(finding.topic) for finding in findings)
    print(f"mme-node doctor: data dir {settings.data_dir}")
    for finding in findings:
        print(f"  {finding.level:<4}  {finding.topic:<{width}}  {finding.message}")
    failed = sum(finding.level == "FAIL" for finding in findings)
    warned = sum(finding.level == "warn" for finding in findings)
    print(f"{failed} failed, {warned} warnings." if failed or warned else "All checks passed.")
    return 1 if failed else 0


async def examine(settings: Settings) -> list[Finding]:
    """Every finding about the node of ``settings``, in the order they are printed."""
    findings = [_data_dir(settings.data_dir), *_permissions(settings)]
    release, finding = await _release(settings)
    findings.append(finding)
    findings.append(await _store(settings, release))
    findings.append(_clients(settings))
    findings.extend(await _peers(settings))
    return findings


def _data_dir(data_dir: Path) -> Finding:
    if not data_dir.is_absolute():
        return Finding("FAIL", "data dir", f"{data_dir} is not absolute")
    if not data_dir.exists():
        parent = next((p for p in data_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return Finding("warn", "data dir", "does not exist yet; the first start creates it")
        return Finding("FAIL", "data dir", f"does not exist and {parent} is not writable")
    if not data_dir.is_dir():
        return Finding("FAIL", "data dir", "exists but is not a directory")
    if not os.access(data_dir, os.W_OK | os.X_OK):
        return Finding("FAIL", "data dir", "is not writable by this user")
    return Finding("ok", "data dir", "exists and is writable by this user")


def _permissions(settings: Settings) -> Iterator[Finding]:
    """Patient data and peer tokens must not be readable by other users of the machine."""
    for path, what in (
        (settings.database_path, "patients and tokens"),
        (settings.data_dir / REGISTRY_FILE, "the tokens we send to peers"),
    ):
        if not path.exists():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            yield Finding(
                "warn",
                "permissions",
                f"{path.name} ({what}) is open to other users (mode {mode:o}): chmod 600 {path}",
            )
        else:
            yield Finding("ok", "permissions", f"{path.name} is private (mode {mode:o})")


async def _release(settings: Settings) -> tuple[Release | None, Finding]:
    """The node's release: the latest switch its database records, else the library's."""
    library = ReleaseLibrary(settings.hpo_dir)
    if library.active_key() is None:
        return None, Finding(
            "warn",
            "HPO release",
            f"none compiled in {settings.hpo_dir} yet; the first start compiles the bundled "
            "one (about 10 s)",
        )
    try:
        release = await _node_release(settings, library)
    except HPOError as error:
        return None, Finding("FAIL", "HPO release", f"cannot be read: {error}")
    return release, Finding(
        "ok",
        "HPO release",
        f"{release.version} ({len(release.ontology)} terms) in {settings.hpo_dir}",
    )


async def _node_release(settings: Settings, library: ReleaseLibrary) -> Release:
    if not settings.database_path.exists():  # the doctor creates nothing
        return await asyncio.to_thread(library.active)
    changes = ChangeLog(settings.database_path)
    try:
        return await active_release(library, changes)
    finally:
        changes.close()


async def _store(settings: Settings, release: Release | None) -> Finding:
    if settings.store == "sqlite" and not settings.database_path.exists():
        return Finding("warn", "store", "sqlite: no database yet; the first start creates it")
    if release is None:
        return Finding("warn", "store", f"{settings.store}: not checked without an HPO release")
    try:
        store = open_store(settings, release)
        await store.open()
        try:
            health = await store.health()
            count = await store.count() if health.ok else 0
        finally:
            await store.close()
    except MMEError as error:
        return Finding("FAIL", "store", f"{settings.store}: {error.message}")
    if not health.ok:
        return Finding("FAIL", "store", f"{health.kind}: {health.detail}")
    return Finding("ok", "store", f"{health.kind}, {count} patients")


def _clients(settings: Settings) -> Finding:
    if not settings.database_path.exists():
        return Finding("warn", "clients", "none yet")
    with TokenRegistry(settings.database_path) as registry:
        active = [client for client in registry.list() if client.active]
    counts = {role: sum(c.role is role for c in active) for role in Role}
    summary = ", ".join(f"{counts[role]} {role.value}" for role in Role)
    if not counts[Role.SUBMITTER]:
        hint = f"{command_name()} tokens create --name my-clinic --role submitter"
        return Finding("warn", "clients", f"{summary}: no submitter can add patients ({hint})")
    return Finding("ok", "clients", summary)


async def _peers(settings: Settings) -> list[Finding]:
    try:
        peers = PeerRegistry.in_data_dir(settings.data_dir).enabled()
    except MMEError as error:
        return [Finding("FAIL", "peers", error.message)]
    if not peers:
        return [Finding("ok", "peers", "none enabled (see docs/operators.md to join the MME)")]
    async with httpx.AsyncClient(follow_redirects=False) as client:
        checks = await asyncio.gather(*(check_heartbeat(client, peer) for peer in peers))
    return [
        Finding(
            "ok" if check.ok else "FAIL",
            f"peer {check.peer}",
            f"{peer.base_url}: {check.message}"
            + (f" ({check.elapsed_ms:.0f} ms)" if check.status is not None else ""),
        )
        for peer, check in zip(peers, checks, strict=True)
    ]
