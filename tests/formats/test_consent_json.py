"""The consent JSON of a submission: what is accepted, and errors naming the field."""

from __future__ import annotations

import pytest

from mme_node.errors import InvalidPatient
from mme_node.formats.consent import dump_consent, load_consent
from mme_node.model import Consent, DataUse, DisclosureLevel, Sharing


def test_consent_with_countries_and_duo_codes_loads_into_the_model() -> None:
    consent = load_consent(
        {
            "sharing": "countries",
            "countries": ["GB", "FR", "GB"],
            "disclosure": "phenotype",
            "dataUse": [{"id": "DUO:0000042"}, {"id": "DUO:0000022", "countries": ["GB"]}],
        }
    )

    assert consent == Consent(
        sharing=Sharing.COUNTRIES,
        disclosure=DisclosureLevel.PHENOTYPE,
        countries=("GB", "FR"),
        data_use=(DataUse("DUO:0000042"), DataUse("DUO:0000022", countries=("GB",))),
    )


def test_dump_names_duo_codes_and_says_whether_it_is_the_default() -> None:
    consent = Consent(Sharing.ALL, DisclosureLevel.GENES, data_use=(DataUse("DUO:0000042"),))

    shown = dump_consent(consent, default=True)

    assert shown == {
        "sharing": "all",
        "disclosure": "genes",
        "dataUse": [{"id": "DUO:0000042", "label": "general research use"}],
        "default": True,
    }
    del shown["default"]
    assert load_consent(shown) == consent


@pytest.mark.parametrize(
    ("consent", "message"),
    [
        ({"disclosure": "genes"}, "consent.sharing: is required"),
        ({"sharing": "everywhere", "disclosure": "genes"}, 'consent.sharing: "everywhere" is not'),
        ({"sharing": "all", "disclosure": "everything"}, 'consent.disclosure: "everything"'),
        ({"sharing": "countries", "disclosure": "genes"}, "consent.countries: sharing"),
        (
            {"sharing": "all", "countries": ["GB"], "disclosure": "genes"},
            "consent.countries: countries are given with sharing",
        ),
        (
            {"sharing": "countries", "countries": ["GB", "UK1"], "disclosure": "genes"},
            'consent.countries[1]: "UK1" is not an ISO 3166 alpha-2 code',
        ),
        (
            {"sharing": "all", "disclosure": "genes", "dataUse": [{"id": "DUO:9999999"}]},
            'consent.dataUse[0].id: "DUO:9999999" is not a DUO code this node knows',
        ),
        (
            {"sharing": "all", "disclosure": "genes", "dataUse": [{"id": "DUO:0000022"}]},
            "consent.dataUse[0].countries: DUO:0000022 needs the countries",
        ),
        (
            {
                "sharing": "all",
                "disclosure": "genes",
                "dataUse": [{"id": "DUO:0000042", "countries": ["GB"]}],
            },
            "consent.dataUse[0].countries: DUO:0000042 takes no countries",
        ),
        (
            {"sharing": "all", "disclosure": "genes", "scope": "x"},
            "consent.scope: is not a consent field",
        ),
        ("all", "consent: must be an object"),
    ],
)
def test_invalid_consent_is_refused_naming_the_field(consent: object, message: str) -> None:
    with pytest.raises(InvalidPatient) as raised:
        load_consent(consent)

    assert message in raised.value.message


def test_underscore_fields_are_ignored_like_in_mme_json() -> None:
    consent = load_consent({"sharing": "local", "disclosure": "contact", "_form": "v2"})

    assert consent == Consent(Sharing.LOCAL, DisclosureLevel.CONTACT)
