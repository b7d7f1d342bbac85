"""The running node: settings, store, tokens, HPO release and services, wired once.

:func:`start_node` is the only place that decides which store to use and
which HPO release is active; the web layer and the command line both get a
:class:`Node` from it and never build parts themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import httpx

from hpo import Release, ReleaseLibrary
from mme_node.collector import collection_paused
from mme_node.errors import MMEError
from mme_node.matching.follower import ChangeFollower
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.snapshot import IndexSnapshots
from mme_node.matching.state import Serving
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.peers import CircuitBreaker, PeerRegistry
from mme_node.security.audit import SUBJECTS_FILING, AuditLog
from mme_node.security.consent import default_consent, peer_default_disclosure
from mme_node.security.files import create_private_directory, permission_warning
from mme_node.security.keys import NodeKey
from mme_node.security.policy import SharingPolicy
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.security.ratelimit import AccessLimits
from mme_node.security.sessions import SessionStore
from mme_node.security.tokens import TokenRegistry
from mme_node.services.activation_lock import ActivationLock
from mme_node.services.erasure import ErasureService
from mme_node.services.history import RESULTS_FILING, MatchHistory
from mme_node.services.matches import MatchService
from mme_node.services.notices import OwnerNotices
from mme_node.services.notifications import NotificationQueue, Notifier
from mme_node.services.patients import PatientService
from mme_node.services.release_report import ReleaseReports
from mme_node.services.releases import ReleaseService, active_release
from mme_node.services.retention import Retention
from mme_node.settings import Settings
from mme_node.stores.base import PatientStore
from mme_node.stores.changes import ChangeLog
from mme_node.stores.filing import LateFiling
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.gene_cache import BundledGenes
from mme_node.vocabulary.liftover import VariantLifter

log = logging.getLogger(__name__)

DEMO_OWNER = "demo"


@dataclass
class Node:
    """The node's parts. ``follower`` and ``filing`` run only in a serving process (not on
    the command line)."""

    settings: Settings
    store: PatientStore
    tokens: TokenRegistry
    serving: Serving
    patients: PatientService
    matcher: Matcher
    history: MatchHistory
    matches: MatchService
    sharing: SharingPolicy
    """Consent defaults, peer policies and pseudonyms: what each recipient is shown."""
    audit: AuditLog
    erasure: ErasureService
    retention: Retention
    changes: ChangeLog
    limits: AccessLimits
    sessions: SessionStore
    releases: ReleaseService
    notices: OwnerNotices
    follower: ChangeFollower | None = None
    filing: LateFiling | None = None
    """Files the history's results and the audit's entries by patient in the background."""

    @property
    def release(self) -> Release:
        """The HPO release being served now (read it once per request)."""
        return self.serving.release

    async def metrics(self) -> dict[str, Any]:
        """The MME metrics: aggregate counts of real (non-test) patients and matches.

        Patient counts come from the in-memory match index; a store that
        retrieves candidates itself (Elasticsearch) keeps no such index, so
        there only the match counts are reported (every metric is optional).
        """
        counts = self.matcher.index.counts() if self.matcher.retrieval is None else {}
        history = await self.history.counts()
        return counts | {
            "numberOfRequestsReceived": history.requests_received,
            "numberOfPotentialMatchesSent": history.matches_sent,
        }

    async def stop(self) -> None:
        await self.matches.notifications.close()
        await self.retention.stop()
        if self.filing is not None:
            await self.filing.stop()
        if self.follower is not None:
            await self.follower.stop()
        await self.matches.http.aclose()
        self.history.close()
        self.sessions.close()
        self.audit.close()
        self.tokens.close()
        self.limits.close()
        self.changes.close()
        self.notices.close()
        self.releases.reports.close()
        await self.store.close()


def open_store(settings: Settings, release: Release) -> PatientStore:
    """The store the settings ask for (``sqlite`` by default)."""
    if settings.store == "sqlite":
        return SQLitePatientStore(settings.database_path)
    if settings.store == "elasticsearch":
        from mme_node.stores.elastic import elasticsearch_store_from_settings

        return elasticsearch_store_from_settings(
            settings, ReleaseTermWeights(release), hpo_release=release.version
        )
    raise MMEError(f"setting 'store' must be 'sqlite' or 'elasticsearch', not {settings.store!r}")


async def start_node(settings: Settings, *, serving: bool = True) -> Node:
    """Open the store and build the services.

    ``serving=False`` (the command line) skips the in-memory match index and
    the change follower: a command that imports or exports patients never
    matches, and building the index costs seconds per 10,000 patients.
    The cyclic garbage collector is paused meanwhile (:mod:`mme_node.collector`).
    """
    with collection_paused():
        return await _open_node(settings, serving=serving)


async def _open_node(settings: Settings, *, serving: bool) -> Node:
    create_private_directory(settings.data_dir)
    loose = permission_warning(settings.data_dir)
    if loose is not None:
        log.warning(loose)
    peers = PeerRegistry.in_data_dir(settings.data_dir)
    key = NodeKey.in_data_dir(settings.data_dir)
    sharing = SharingPolicy(  # a bad setting stops start-up here, before any work
        registry=peers,
        default_consent=default_consent(settings),
        peer_default_disclosure=peer_default_disclosure(settings),
        pseudonyms=Pseudonyms(key),
    )
    audit = AuditLog(settings.database_path, key)
    library = ReleaseLibrary(settings.hpo_dir)
    if library.active_key() is None:
        log.info(
            "first start: compiling the bundled HPO release into %s (about 10 s, done once)",
            settings.hpo_dir,
        )
    changes = ChangeLog(settings.database_path)
    release = await active_release(library, changes)
    log.info("HPO release %s active (%d terms)", release.version, len(release.ontology))
    store = open_store(settings, release)
    await store.open()
    current = Serving.of(release, sharing.default_consent)
    matcher = Matcher(
        current,
        store,
        ScoringWeights.from_settings(settings),
        retrieval_depth=settings.match_retrieval_depth,
    )
    follower = (
        ChangeFollower(
            changes,
            matcher,
            library.release,
            pseudonyms=sharing.pseudonyms,
            snapshots=IndexSnapshots(settings.index_dir),
        )
        if serving
        else None
    )
    history = MatchHistory(settings.database_path, audit)
    notices = OwnerNotices(settings.database_path)
    notifier = Notifier(settings)
    releases = ReleaseService(
        library=library,
        changes=changes,
        store=store,
        reports=ReleaseReports(settings.database_path),
        notices=notices,
        notifier=notifier,
        lock=ActivationLock.in_data_dir(settings.data_dir),
    )
    genes = BundledGenes(settings.compiled_genes_path)
    if serving:
        genes.load()  # before the first request, not during it
    patients = PatientService(
        store=store,
        serving=current,
        genes=genes,
        listeners=[follower] if follower is not None else [],
        lifter=VariantLifter(),
        mentions=[notices, releases.reports],
    )
    matches = MatchService(
        settings=settings,
        matcher=matcher,
        patients=patients,
        history=history,
        peers=peers,
        http=httpx.AsyncClient(follow_redirects=False),
        breaker=CircuitBreaker(),
        notifications=NotificationQueue(notifier),
        sharing=sharing,
        audit=audit,
    )
    node = Node(
        settings=settings,
        store=store,
        tokens=TokenRegistry(settings.database_path),
        serving=current,
        patients=patients,
        matcher=matcher,
        history=history,
        matches=matches,
        sharing=sharing,
        audit=audit,
        erasure=ErasureService(
            patients=patients,
            history=history,
            changes=changes,
            audit=audit,
            pseudonyms=sharing.pseudonyms,
            database_path=settings.database_path,
        ),
        retention=Retention(history, settings.history_retention_days),
        changes=changes,
        releases=releases,
        notices=notices,
        follower=follower,
        filing=LateFiling(settings.database_path, (RESULTS_FILING, SUBJECTS_FILING))
        if serving
        else None,
        limits=AccessLimits.per_minute(
            settings.rate_limit_failed_auth,
            settings.rate_limit_match,
            settings.rate_limits_path if serving else None,  # the command line serves nothing
        ),
        sessions=SessionStore(settings.database_path),
    )
    if follower is not None:
        indexed = await follower.start()
        if indexed:
            log.info("%d patients indexed for matching (%s store)", indexed, store.kind)
        else:
            log.info(
                "no patients yet: submit some with POST /api/patients or `mme-node patients import`"
            )
    if settings.demo:
        await load_demo_patients(node)
    if serving:
        node.retention.start()
    if node.filing is not None:
        node.filing.start()
    return node


@contextlib.asynccontextmanager
async def running_node(settings: Settings) -> AsyncIterator[Node]:
    """A node for one command-line command: no match index, no demo patients, stopped after."""
    node = await start_node(settings.replace(demo=False), serving=False)
    try:
        yield node
    finally:
        await node.stop()


async def load_demo_patients(node: Node) -> None:
    """Load the 50 MME benchmark patients (all ``test: true``) under the owner ``demo``."""
    data = resources.files("mme_node") / "data" / "benchmark_patients.json"
    patients = json.loads(data.read_text(encoding="utf-8"))
    labelled = ((f"benchmark patient {i + 1}", patient) for i, patient in enumerate(patients))
    report = await node.patients.import_many(DEMO_OWNER, labelled)
    log.info(
        "demo: %d benchmark patients loaded as test patients of owner %r (%d rejected)",
        report.imported,
        DEMO_OWNER,
        len(report.rejected),
    )
