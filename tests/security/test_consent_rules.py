"""Consent rules: where a patient may go (its reach) and the node's default consent."""

from __future__ import annotations

import pytest

from mme_node.model import (
    Consent,
    Contact,
    DataUse,
    DisclosureLevel,
    Patient,
    PatientRecord,
    Sharing,
)
from mme_node.security.consent import (
    EVERY_PEER,
    THIS_NODE_ONLY,
    Reach,
    consent_of,
    default_consent,
    reach_of,
)
from mme_node.settings import Settings, SettingsError


def consent(sharing: Sharing, *countries: str, data_use: tuple[DataUse, ...] = ()) -> Consent:
    return Consent(sharing, DisclosureLevel.GENES, countries=countries, data_use=data_use)


def test_local_consent_reaches_no_peer() -> None:
    reach = reach_of(consent(Sharing.LOCAL))

    assert reach == THIS_NODE_ONLY
    assert not reach.allows("GB") and not reach.allows(None)


def test_all_peers_consent_reaches_peers_of_unknown_country_too() -> None:
    reach = reach_of(consent(Sharing.ALL))

    assert reach == EVERY_PEER
    assert reach.allows("JP") and reach.allows(None)


def test_countries_consent_reaches_only_peers_known_to_be_there() -> None:
    reach = reach_of(consent(Sharing.COUNTRIES, "GB", "FR"))

    assert reach.allows("GB") and reach.allows("FR")
    assert not reach.allows("US") and not reach.allows(None)


def test_geographical_restriction_narrows_every_peer_to_its_countries() -> None:
    reach = reach_of(consent(Sharing.ALL, data_use=(DataUse("DUO:0000022", ("DE",)),)))

    assert reach == Reach(peers=True, countries=frozenset({"DE"}))


def test_geographical_restriction_intersects_the_consented_countries() -> None:
    restricted = consent(
        Sharing.COUNTRIES, "GB", "FR", data_use=(DataUse("DUO:0000022", ("FR", "DE")),)
    )

    assert reach_of(restricted) == Reach(peers=True, countries=frozenset({"FR"}))


def test_disjoint_geographical_restriction_leaves_this_node_only() -> None:
    restricted = consent(Sharing.COUNTRIES, "GB", data_use=(DataUse("DUO:0000022", ("DE",)),))

    assert reach_of(restricted) == THIS_NODE_ONLY


@pytest.mark.parametrize("code", ["DUO:0000026", "DUO:0000027", "DUO:0000028"])
def test_user_project_or_institution_restriction_keeps_the_patient_on_this_node(code: str) -> None:
    assert reach_of(consent(Sharing.ALL, data_use=(DataUse(code),))) == THIS_NODE_ONLY


def test_purpose_codes_are_recorded_without_narrowing_the_reach() -> None:
    assert reach_of(consent(Sharing.ALL, data_use=(DataUse("DUO:0000042"),))) == EVERY_PEER


def test_default_consent_comes_from_the_settings() -> None:
    settings = Settings(
        consent_default_sharing="countries",
        consent_default_countries="gb, FR",
        consent_default_disclosure="phenotype",
    )

    assert default_consent(settings) == Consent(
        Sharing.COUNTRIES, DisclosureLevel.PHENOTYPE, countries=("GB", "FR")
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"consent_default_sharing": "world"}, "consent_default_sharing"),
        ({"consent_default_disclosure": "all"}, "consent_default_disclosure"),
        ({"consent_default_sharing": "countries"}, "consent_default_countries"),
        ({"consent_default_countries": "GBR"}, "'GBR' is not an ISO 3166"),
    ],
)
def test_bad_default_consent_setting_is_named(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        default_consent(Settings(**changes))


def test_a_record_without_consent_gets_the_default_and_one_with_keeps_its_own() -> None:
    patient = Patient(id="p", contact=Contact(name="n", href="mailto:n@example.org"))
    default = consent(Sharing.ALL)
    own = consent(Sharing.LOCAL)

    assert consent_of(PatientRecord("o", patient, "r", "{}"), default) is default
    assert consent_of(PatientRecord("o", patient, "r", "{}", consent=own), default) is own
