"""The operator's policy: which registered peer a caller is, and what it may be shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from mme_node.model import (
    Consent,
    Contact,
    DisclosureLevel,
    Feature,
    MatchResult,
    Patient,
    PatientRecord,
    Sharing,
)
from mme_node.peers import Peer, PeerRegistry
from mme_node.security.disclosure import Recipient
from mme_node.security.policy import SharingPolicy
from mme_node.security.pseudonyms import Pseudonyms

TOKEN = "fake-token-0123456789"


@pytest.fixture
def policy(tmp_path: Path) -> SharingPolicy:
    registry = PeerRegistry.in_data_dir(tmp_path)
    registry.add(
        Peer("node-b", "https://b.example.org", TOKEN, country="GB", inbound_token_name="b-token")
    )
    registry.add(
        Peer(
            "node-c",
            "https://c.example.org",
            TOKEN,
            country="FR",
            max_disclosure=DisclosureLevel.CONTACT,
        )
    )
    return SharingPolicy(
        registry=registry,
        default_consent=Consent(Sharing.ALL, DisclosureLevel.GENES),
        peer_default_disclosure=DisclosureLevel.PHENOTYPE,
        pseudonyms=Pseudonyms.in_data_dir(tmp_path),
    )


def record(consent: Consent | None, owner: str = "clinic-a") -> PatientRecord:
    patient = Patient(
        id="P1",
        label="bed 3",
        contact=Contact("Dr Ada", "mailto:ada@example.org"),
        features=(Feature("HP:0001250"),),
    )
    return PatientRecord(owner, patient, "2025-01-16", "{}", consent=consent)


def test_a_caller_is_the_peer_linked_to_its_token_then_the_peer_of_its_name(
    policy: SharingPolicy,
) -> None:
    assert policy.caller("b-token") == Recipient("node-b", "GB", DisclosureLevel.PHENOTYPE)
    assert policy.caller("node-c") == Recipient("node-c", "FR", DisclosureLevel.CONTACT)


def test_a_caller_the_registry_does_not_know_has_no_country_and_the_default_level(
    policy: SharingPolicy,
) -> None:
    assert policy.caller("stranger") == Recipient("stranger", None, DisclosureLevel.PHENOTYPE)


def test_a_peer_outside_the_consented_countries_may_not_see_the_patient(
    policy: SharingPolicy,
) -> None:
    gb_only = record(Consent(Sharing.COUNTRIES, DisclosureLevel.VARIANTS, countries=("GB",)))

    assert policy.may_see(policy.caller("b-token"), gb_only)
    assert not policy.may_see(policy.caller("node-c"), gb_only)
    assert not policy.may_see(policy.caller("stranger"), gb_only)
    assert policy.may_see(policy.submitter("clinic-b"), gb_only)


def test_a_disclosure_is_shown_under_the_peers_pseudonym_at_the_lesser_level(
    policy: SharingPolicy,
) -> None:
    result = MatchResult(record(None), 0.9, 0.9, 0.0)

    shown = policy.disclose(result, policy.caller("node-c"))

    assert shown.level is DisclosureLevel.CONTACT
    assert shown.shown_as == policy.pseudonyms.pseudonym("node-c", "clinic-a", "P1")
    assert (shown.patient.id, shown.patient.label) == (shown.shown_as, None)


def test_a_submitter_sees_its_own_patient_whole_and_others_as_consented(
    policy: SharingPolicy,
) -> None:
    result = MatchResult(record(None), 0.9, 0.9, 0.0)

    own = policy.disclose(result, policy.submitter("clinic-a"))
    other = policy.disclose(result, policy.submitter("clinic-b"))

    assert (own.shown_as, own.patient) == ("P1", result.record.patient)
    assert other.level is DisclosureLevel.GENES and other.patient.label is None
    assert other.shown_as == policy.pseudonyms.pseudonym("local:clinic-b", "clinic-a", "P1")
