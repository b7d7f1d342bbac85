"""Reading import sources (MME JSON, phenopackets, files and directories) and preparing cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hpo import Release
from mme_node.errors import InvalidPatient, InvalidRequest
from mme_node.matching.state import Serving
from mme_node.model import Consent, Contact, DisclosureLevel, Sharing
from mme_node.services.importing import (
    MISSING_CONTACT,
    Case,
    CasePreparer,
    ImportFormat,
    UnreadableSource,
    read_cases,
)
from mme_node.services.patients import PatientService
from mme_node.stores.sqlite import SQLitePatientStore
from mme_node.vocabulary.genes import bundled_gene_index

CONTACT = Contact("Genetics team", "mailto:genetics@example.org")


def mme_patient(patient_id: str, **changes: object) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": "mailto:dr.example@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    return patient | changes


def phenopacket(packet_id: str | None, subject_id: str = "proband") -> dict[str, Any]:
    packet: dict[str, Any] = {
        "subject": {"id": subject_id, "sex": "FEMALE"},
        "phenotypicFeatures": [{"type": {"id": "HP:0003701", "label": "Proximal weakness"}}],
        "metaData": {"phenopacketSchemaVersion": "2.0"},
    }
    if packet_id is not None:
        packet["id"] = packet_id
    return packet


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


@pytest.fixture
def service(tmp_path: Path, bundled_release: Release) -> PatientService:
    """A service that only prepares (its store is never opened)."""
    return PatientService(
        store=SQLitePatientStore(tmp_path / "unused.sqlite3"),
        serving=Serving.of(bundled_release),
        genes=bundled_gene_index(),
    )


# ---------------------------------------------------------------- reading


def test_a_list_file_gives_one_case_per_patient_labelled_by_position_and_id(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "cases.json", [mme_patient("P1"), mme_patient("P2")])

    cases = list(read_cases(path))

    assert [case.label for case in cases] == ["cases.json[0] (P1)", "cases.json[1] (P2)"]
    assert [case.format for case in cases] == [ImportFormat.MME, ImportFormat.MME]
    assert cases[1].document == mme_patient("P2")


def test_a_single_patient_file_is_labelled_by_file_name_and_id(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", mme_patient("P1"))

    (case,) = read_cases(path)

    assert case.label == "one.json (P1)"


def test_a_match_request_body_is_unwrapped_to_its_patient(tmp_path: Path) -> None:
    path = write(tmp_path / "request.json", {"patient": mme_patient("P1")})

    (case,) = read_cases(path)

    assert (case.label, case.document) == ("request.json (P1)", mme_patient("P1"))


def test_an_element_without_a_usable_id_is_labelled_by_position_only(tmp_path: Path) -> None:
    path = write(tmp_path / "cases.json", [mme_patient("P1", id=7), "not a patient"])

    assert [case.label for case in read_cases(path)] == ["cases.json[0]", "cases.json[1]"]


def test_a_document_with_metadata_is_read_as_a_phenopacket(tmp_path: Path) -> None:
    path = write(tmp_path / "packet.json", phenopacket("PMID_1_P3"))

    (case,) = read_cases(path)

    assert (case.label, case.format) == ("packet.json (PMID_1_P3)", ImportFormat.PHENOPACKET)


def test_a_phenopacket_without_an_id_is_labelled_by_its_subject(tmp_path: Path) -> None:
    path = write(tmp_path / "packet.json", phenopacket(None, subject_id="II-1"))

    assert [case.label for case in read_cases(path)] == ["packet.json (II-1)"]


def test_a_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path / "packet.json", phenopacket("PP1"))

    (case,) = read_cases(path, ImportFormat.MME)

    assert case.format is ImportFormat.MME


def test_a_directory_is_walked_for_json_files_in_sorted_path_order(tmp_path: Path) -> None:
    write(tmp_path / "b.json", mme_patient("B"))
    write(tmp_path / "a" / "deep" / "c.json", phenopacket("C"))
    write(tmp_path / "a" / "a.json", [mme_patient("A")])
    (tmp_path / "notes.txt").write_text("not imported", encoding="utf-8")

    labels = [case.label for case in read_cases(tmp_path)]

    assert labels == ["a/a.json[0] (A)", "a/deep/c.json (C)", "b.json (B)"]


def test_a_file_that_is_not_json_becomes_one_case_with_its_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('[{"id": "P1",', encoding="utf-8")
    write(tmp_path / "good.json", mme_patient("P2"))

    broken, good = read_cases(tmp_path)

    assert broken.label == "broken.json"
    assert broken.problem is not None and broken.problem.startswith("not valid JSON")
    assert good.problem is None


def test_a_file_that_is_not_utf8_becomes_one_case_with_its_problem(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes('{"id": "Ren\xe9"}'.encode("latin-1"))

    (case,) = read_cases(tmp_path / "latin1.json")

    assert case.problem is not None and case.problem.startswith("not UTF-8 text")


def test_a_missing_path_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSource, match="no such file or directory"):
        read_cases(tmp_path / "missing.json")


def test_a_directory_without_json_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing", encoding="utf-8")

    with pytest.raises(UnreadableSource, match=r"no \*\.json file"):
        read_cases(tmp_path)


# ---------------------------------------------------------------- preparing


def test_an_mme_case_is_validated_and_normalised_like_an_api_submission(
    service: PatientService,
) -> None:
    alt_id = mme_patient("P1", features=[{"id": "HP:0002281"}])
    preparer = CasePreparer(service)

    submission = preparer(Case("cases.json[0] (P1)", ImportFormat.MME, alt_id))

    assert submission == service.prepare(alt_id)
    assert preparer.warned == [("cases.json[0] (P1)", submission.warnings)]


def test_a_phenopacket_case_gets_the_contact_and_keeps_the_phenopacket_as_submitted(
    service: PatientService,
) -> None:
    packet = phenopacket("PP1")
    preparer = CasePreparer(service, CONTACT)

    submission = preparer(Case("packet.json (PP1)", ImportFormat.PHENOPACKET, packet))

    assert (submission.patient.id, submission.patient.contact) == ("PP1", CONTACT)
    assert submission.patient.observed_terms == ("HP:0003701",)
    assert json.loads(submission.submitted_json) == packet
    assert preparer.warned == []


def test_a_phenopacket_case_without_a_contact_is_refused(service: PatientService) -> None:
    case = Case("packet.json (PP1)", ImportFormat.PHENOPACKET, phenopacket("PP1"))

    with pytest.raises(InvalidRequest, match=MISSING_CONTACT):
        CasePreparer(service)(case)


def test_an_unreadable_file_case_is_refused_with_its_problem(service: PatientService) -> None:
    case = Case("broken.json", ImportFormat.AUTO, problem="not valid JSON: Expecting value")

    with pytest.raises(InvalidRequest, match="not valid JSON: Expecting value"):
        CasePreparer(service)(case)


def test_a_phenopacket_term_newer_than_the_release_is_kept_pending(
    service: PatientService,
) -> None:
    packet = phenopacket("PP1")
    packet["phenotypicFeatures"] = [{"type": {"id": "HP:9999999"}}]
    case = Case("packet.json (PP1)", ImportFormat.PHENOPACKET, packet)

    submission = CasePreparer(service, CONTACT)(case)

    assert submission.patient.pending_terms == ("HP:9999999",)
    assert any("HP:9999999" in warning for warning in submission.warnings)


# ---------------------------------------------------------------- consent

GENES_IN_GB = {"sharing": "countries", "countries": ["GB"], "disclosure": "genes"}


def test_a_submission_document_carries_its_consent_beside_the_patient(tmp_path: Path) -> None:
    source = write(
        tmp_path / "cases.json", [{"patient": mme_patient("P1"), "consent": GENES_IN_GB}]
    )

    (case,) = read_cases(source)

    assert (case.document, case.consent) == (mme_patient("P1"), GENES_IN_GB)


def test_a_case_with_its_own_consent_keeps_it_over_the_importers(
    service: PatientService,
) -> None:
    everywhere = Consent(Sharing.ALL, DisclosureLevel.VARIANTS)
    case = Case("cases.json[0] (P1)", ImportFormat.MME, mme_patient("P1"), consent=GENES_IN_GB)

    submission = CasePreparer(service, consent=everywhere)(case)

    assert submission.consent == Consent(
        Sharing.COUNTRIES, DisclosureLevel.GENES, countries=("GB",)
    )


def test_cases_without_consent_get_the_importers_and_phenopackets_too(
    service: PatientService,
) -> None:
    local = Consent(Sharing.LOCAL, DisclosureLevel.CONTACT)
    preparer = CasePreparer(service, CONTACT, consent=local)

    mme = preparer(Case("a.json", ImportFormat.MME, mme_patient("P1")))
    packet = preparer(Case("b.json", ImportFormat.PHENOPACKET, phenopacket("PP1")))

    assert mme.consent == local and packet.consent == local


def test_a_bad_consent_rejects_its_case_naming_the_field(service: PatientService) -> None:
    case = Case("a.json", ImportFormat.MME, mme_patient("P1"), consent={"sharing": "all"})

    with pytest.raises(InvalidPatient, match="consent.disclosure: is required"):
        CasePreparer(service)(case)


def test_an_id_with_a_slash_is_refused_as_it_could_not_be_addressed(
    service: PatientService,
) -> None:
    with pytest.raises(InvalidPatient, match="contains '/'"):
        CasePreparer(service)(Case("a.json", ImportFormat.MME, mme_patient("ward/7")))
    with pytest.raises(InvalidPatient, match="contains '/'"):
        CasePreparer(service, CONTACT)(
            Case("b.json", ImportFormat.PHENOPACKET, phenopacket("ward/8"))
        )
