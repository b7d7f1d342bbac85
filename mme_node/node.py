"""The running node: settings, store, tokens, HPO release and services, wired once.

:func:`start_node` is the only place that decides which store to use and
which HPO release is active; the web layer and the command line both get a
:class:`Node` from it and never build parts themselves.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources

from hpo import Release, ReleaseLibrary
from mme_node.errors import MMEError
from mme_node.genes import bundled_gene_index
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.patients import PatientService
from mme_node.security.tokens import TokenRegistry
from mme_node.settings import Settings
from mme_node.stores.base import PatientStore
from mme_node.stores.sqlite import SQLitePatientStore

log = logging.getLogger(__name__)


@dataclass
class Node:
    settings: Settings
    store: PatientStore
    tokens: TokenRegistry
    release: Release
    patients: PatientService

    async def stop(self) -> None:
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


async def start_node(settings: Settings) -> Node:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    release = ReleaseLibrary(settings.hpo_dir).active()
    log.info("HPO release %s active (%d terms)", release.version, len(release.ontology))
    store = open_store(settings, release)
    await store.open()
    tokens = TokenRegistry(settings.database_path)
    patients = PatientService(
        store=store,
        terms=release.ontology,
        genes=bundled_gene_index(),
        hpo_release=release.version,
    )
    node = Node(settings=settings, store=store, tokens=tokens, release=release, patients=patients)
    if settings.demo:
        await load_demo_patients(node)
    count = await store.count()
    log.info("%d patients in the %s store", count, store.kind) if count else log.info(
        "no patients yet: submit some with POST /api/patients or `mme-node patients import`"
    )
    return node


DEMO_OWNER = "demo"


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
