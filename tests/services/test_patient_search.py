"""PatientService.search on a real SQLite store: what it looks in, paging, owners."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo import Release
from mme_node.matching.state import Serving
from mme_node.services import patients as patients_module
from mme_node.services.patients import PatientService
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import bundled_gene_index


def case(patient_id: str, gene: str, label: str = "", contact: str = "Dr Who") -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": patient_id,
        "contact": {"name": contact, "href": "mailto:who@example.org"},
        "features": [{"id": "HP:0001250"}],
        "genomicFeatures": [{"gene": {"id": gene}}],
    }
    return patient | ({"label": label} if label else {})


@pytest.fixture
def service(tmp_path: Path, bundled_release: Release) -> Iterator[PatientService]:
    store = SQLitePatientStore(tmp_path / "node.sqlite3")
    asyncio.run(store.open())
    service = PatientService(
        store=store, serving=Serving.of(bundled_release), genes=bundled_gene_index()
    )
    for patient in (
        case("P1", "SCN1A", "epilepsy twin"),
        case("P2", "HUNK1"),  # an alias of BRD4
        case("P3", "KMT2D", contact="Dr Kabuki"),
        case("P4", "SCN1A"),
    ):
        asyncio.run(service.submit("clinic-a", patient))
    asyncio.run(service.submit("clinic-b", case("B1", "SCN1A")))
    yield service
    asyncio.run(store.close())


def found(service: PatientService, text: str, offset: int = 0, limit: int = 10) -> list[str]:
    page = asyncio.run(service.search("clinic-a", text, offset, limit))
    return [record.patient.id for record in page.records]


def test_search_finds_the_owners_patients_by_gene_symbol_in_id_order(
    service: PatientService,
) -> None:
    assert found(service, "scn1a") == ["P1", "P4"]


def test_search_finds_a_gene_entered_as_an_alias_by_its_symbol(service: PatientService) -> None:
    assert found(service, "BRD4") == ["P2"]


def test_search_looks_in_ids_labels_and_contacts(service: PatientService) -> None:
    assert found(service, "twin") == ["P1"]
    assert found(service, "kabuki") == ["P3"]
    assert found(service, "p3") == ["P3"]


def test_an_empty_search_lists_every_patient_of_the_owner(service: PatientService) -> None:
    assert found(service, "  ") == ["P1", "P2", "P3", "P4"]


def test_search_pages_with_the_total_of_all_that_matched(
    service: PatientService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patients_module, "SEARCH_BATCH", 1)  # several store pages per search
    page = asyncio.run(service.search("clinic-a", "dr who", 1, 1))
    assert ([r.patient.id for r in page.records], page.total) == (["P2"], 3)
