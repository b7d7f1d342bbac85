"""An HPO release switch on the Elasticsearch store, on the in-memory cluster of tests/stores.

The activating process rebuilds every document into the new release's index
(``swap_release``, patients derived again from their submitted ids) before it
records the switch; another process of the node follows with ``use_release``.
A real cluster runs the same swap in tests/stores when ELASTICSEARCH_URL is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hpo import ReleaseLibrary
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.matching.weights import ReleaseTermWeights
from mme_node.services.activation_lock import ActivationLock
from mme_node.services.notices import OwnerNotices
from mme_node.services.notifications import Notifier
from mme_node.services.patients import PatientService
from mme_node.services.release_report import ReleaseReports
from mme_node.services.releases import ReleaseService
from mme_node.settings import Settings
from mme_node.stores.changes import ChangeLog
from mme_node.stores.elastic import ElasticsearchPatientStore
from mme_node.stores.elastic.requests import connect
from mme_node.vocabulary.genes import bundled_gene_index
from tests.stores.elastic_cluster import FakeCluster, Faults, faulty_node

pytestmark = pytest.mark.anyio

URL = "http://es.test:9200"
OWNER = "clinic-a"
CEREBELLAR_MALFORMATION = "HP:0002438"  # 2026-02-16: replaced by HP:0001317
ABNORMAL_CEREBELLUM = "HP:0001317"
NEWER_TERM = "HP:0025834"  # only in 2026-02-16


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def patient_json(patient_id: str, *terms: str) -> dict[str, Any]:
    contact = {"name": "Dr. Example", "href": "https://clinic.example.org/"}
    return {"id": patient_id, "contact": contact, "features": [{"id": t} for t in terms]}


def elastic_store(cluster: FakeCluster, release: str, weights: Any) -> ElasticsearchPatientStore:
    client = connect(URL, node_class=faulty_node(Faults(), cluster))
    return ElasticsearchPatientStore(
        URL, index_prefix="mme-switch", hpo_release=release, term_weights=weights, client=client
    )


@pytest.fixture
async def switch(
    node_settings: Settings, upgrade_hpo_dir: Path
) -> AsyncIterator[tuple[ReleaseService, ElasticsearchPatientStore, FakeCluster, ReleaseLibrary]]:
    library = ReleaseLibrary(upgrade_hpo_dir)
    old = library.release(library.find("2025-01-16").key)
    cluster = FakeCluster()
    store = elastic_store(cluster, old.version, ReleaseTermWeights(old))
    await store.open()
    node_settings.data_dir.mkdir(parents=True)
    database = node_settings.database_path
    changes, reports, notices = (
        ChangeLog(database),
        ReleaseReports(database),
        OwnerNotices(database),
    )
    patients = PatientService(store=store, serving=Serving.of(old), genes=bundled_gene_index())
    for patient in (patient_json("P1", CEREBELLAR_MALFORMATION), patient_json("P2", NEWER_TERM)):
        await patients.submit(OWNER, patient)
    service = ReleaseService(
        library,
        changes,
        store,
        reports,
        notices,
        Notifier(node_settings),
        ActivationLock.in_data_dir(node_settings.data_dir),
    )
    try:
        yield service, store, cluster, library
    finally:
        await store.close()
        for kept in (changes, reports, notices):
            kept.close()


async def test_a_switch_rebuilds_the_index_of_the_new_release_then_records_it(
    switch: tuple[ReleaseService, ElasticsearchPatientStore, FakeCluster, ReleaseLibrary],
) -> None:
    service, store, cluster, library = switch

    report = await service.activate("2026-02-16", "test")

    assert (CEREBELLAR_MALFORMATION, ABNORMAL_CEREBELLUM, 1) in report.replaced_terms
    assert report.activated_terms == [(NEWER_TERM, 1)]
    assert (await service.active()).version == "2026-02-16"
    assert store.index == "mme-switch-2026-02-16"  # the aliases moved to the new index
    p1 = await store.get(OWNER, "P1")
    assert (p1.hpo_release, p1.patient.observed_terms) == ("2026-02-16", (ABNORMAL_CEREBELLUM,))
    assert (await store.get(OWNER, "P2")).patient.pending_terms == ()

    # another process of the node follows: its candidate queries use the new weights
    new = library.release(library.find("2026-02-16").key)
    other = elastic_store(cluster, "2025-01-16", None)
    await other.open()
    await Matcher(Serving.of(new), other, ScoringWeights()).follow_release(new)
    assert other.hpo_release == "2026-02-16"
    await other.close()

    back = await service.activate("2025-01-16", "test")

    assert back.unresolved_terms == [(NEWER_TERM, 1)]
    p1 = await store.get(OWNER, "P1")
    assert (p1.hpo_release, p1.patient.observed_terms) == ("2025-01-16", (CEREBELLAR_MALFORMATION,))
