"""Consent rules: the node's default consent, the DUO codes it knows, and where a patient may go.

A patient's :class:`~mme_node.model.Consent` says where it may be matched and
what a match may show. This module turns it into a :class:`Reach` (which
peers may be shown the patient at all), taking the GA4GH Data Use Ontology
codes recorded with the consent into account where they restrict where data
may go. Patients stored without a consent get the node's default consent,
built from the settings by :func:`default_consent`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mme_node.model import Consent, DisclosureLevel, PatientRecord, Sharing
from mme_node.settings import Settings, SettingsError

COUNTRY = re.compile(r"[A-Z]{2}")
"""An ISO 3166-1 alpha-2 country code, as peers and consents name countries."""


class DataUseEffect(StrEnum):
    """How matching honours a DUO code."""

    RECORDED = "recorded"
    """Stored and shown; it restricts research purposes, not discovery of a match."""
    COUNTRIES = "countries"
    """Only peers in the countries the code lists may be shown the patient."""
    THIS_NODE = "this-node"
    """The node cannot verify who the peer's users are: no peer is shown the patient."""


@dataclass(frozen=True, slots=True)
class DataUseCode:
    code: str
    shorthand: str
    label: str
    effect: DataUseEffect


DATA_USE_CODES: dict[str, DataUseCode] = {
    entry.code: entry
    for entry in (
        DataUseCode(code, shorthand, label, effect)
        for code, shorthand, label, effect in (
            ("DUO:0000004", "NRES", "no restriction", DataUseEffect.RECORDED),
            ("DUO:0000042", "GRU", "general research use", DataUseEffect.RECORDED),
            (
                "DUO:0000006",
                "HMB",
                "health or medical or biomedical research",
                DataUseEffect.RECORDED,
            ),
            ("DUO:0000007", "DS", "disease specific research", DataUseEffect.RECORDED),
            (
                "DUO:0000011",
                "POA",
                "population origins or ancestry research only",
                DataUseEffect.RECORDED,
            ),
            ("DUO:0000043", "CC", "clinical care use", DataUseEffect.RECORDED),
            ("DUO:0000012", "RS", "research specific restrictions", DataUseEffect.RECORDED),
            ("DUO:0000015", "NMDS", "no general methods research", DataUseEffect.RECORDED),
            ("DUO:0000016", "GSO", "genetic studies only", DataUseEffect.RECORDED),
            (
                "DUO:0000018",
                "NPUNCU",
                "not for profit, non commercial use only",
                DataUseEffect.RECORDED,
            ),
            ("DUO:0000019", "PUB", "publication required", DataUseEffect.RECORDED),
            ("DUO:0000020", "COL", "collaboration required", DataUseEffect.RECORDED),
            ("DUO:0000021", "IRB", "ethics approval required", DataUseEffect.RECORDED),
            ("DUO:0000022", "GS", "geographical restriction", DataUseEffect.COUNTRIES),
            ("DUO:0000024", "MOR", "publication moratorium", DataUseEffect.RECORDED),
            ("DUO:0000025", "TS", "time limit on use", DataUseEffect.RECORDED),
            ("DUO:0000026", "US", "user specific restriction", DataUseEffect.THIS_NODE),
            ("DUO:0000027", "PS", "project specific restriction", DataUseEffect.THIS_NODE),
            ("DUO:0000028", "IS", "institution specific restriction", DataUseEffect.THIS_NODE),
            ("DUO:0000029", "RTN", "return to database or resource", DataUseEffect.RECORDED),
            (
                "DUO:0000044",
                "NPOA",
                "population origins or ancestry research prohibited",
                DataUseEffect.RECORDED,
            ),
            ("DUO:0000045", "NPU", "not for profit organisation use only", DataUseEffect.RECORDED),
            ("DUO:0000046", "NCU", "non-commercial use only", DataUseEffect.RECORDED),
        )
    )
}
"""The DUO codes a consent may carry (others are refused: the node could not honour them)."""


@dataclass(frozen=True, slots=True)
class Reach:
    """Which peers may be shown a patient: none, those of some countries, or any.

    ``countries`` None means any country; a peer whose country is unknown is
    reached only then.
    """

    peers: bool
    countries: frozenset[str] | None = None

    def allows(self, country: str | None) -> bool:
        """May a peer in ``country`` (None: unknown) be shown the patient?"""
        if not self.peers:
            return False
        return self.countries is None or (country is not None and country in self.countries)


THIS_NODE_ONLY = Reach(peers=False, countries=frozenset())
EVERY_PEER = Reach(peers=True)


@dataclass(frozen=True, slots=True)
class PeerScope:
    """A peer as the consent rules see it: only its country (None: unknown) matters."""

    country: str | None

    def reaches(self, reach: Reach) -> bool:
        return reach.allows(self.country)


@dataclass(frozen=True, slots=True)
class Audience:
    """A peer about to be shown a match's results, as a store that retrieves candidates needs it.

    ``default_reach`` is the reach of the node's default consent, which
    patients stored without a consent follow: a store can then leave out
    every patient the peer may not see before choosing candidates.
    """

    scope: PeerScope
    default_reach: Reach


def reach_of(consent: Consent) -> Reach:
    """The peers ``consent`` lets see the patient, its DUO restrictions applied."""
    if consent.sharing is Sharing.LOCAL:
        return THIS_NODE_ONLY
    countries = None if consent.sharing is Sharing.ALL else frozenset(consent.countries)
    for use in consent.data_use:
        known = DATA_USE_CODES.get(use.code)
        effect = known.effect if known is not None else DataUseEffect.THIS_NODE
        if effect is DataUseEffect.THIS_NODE:
            return THIS_NODE_ONLY
        if effect is DataUseEffect.COUNTRIES:
            listed = frozenset(use.countries)
            countries = listed if countries is None else countries & listed
    if countries is not None and not countries:
        return THIS_NODE_ONLY
    return Reach(peers=True, countries=countries)


SHIPPED_DEFAULT_CONSENT = Consent(sharing=Sharing.ALL, disclosure=DisclosureLevel.GENES)
"""The default consent of ``config/default.toml``, for code given no settings (tools, tests)."""


def consent_of(record: PatientRecord, default: Consent) -> Consent:
    """The consent that applies to ``record``: its own, or the node's default."""
    return record.consent if record.consent is not None else default


def default_consent(settings: Settings) -> Consent:
    """The node's default consent, from ``consent_default_*`` (``SettingsError`` if invalid)."""
    try:
        sharing = Sharing(settings.consent_default_sharing)
    except ValueError:
        raise SettingsError(
            f"setting consent_default_sharing: {settings.consent_default_sharing!r} is not one "
            f"of {', '.join(Sharing)}"
        ) from None
    try:
        disclosure = DisclosureLevel(settings.consent_default_disclosure)
    except ValueError:
        raise SettingsError(
            f"setting consent_default_disclosure: {settings.consent_default_disclosure!r} is not "
            f"one of {', '.join(DisclosureLevel)}"
        ) from None
    countries = country_list(settings.consent_default_countries, "consent_default_countries")
    if (sharing is Sharing.COUNTRIES) != bool(countries):
        raise SettingsError(
            "setting consent_default_countries must list countries exactly when "
            'consent_default_sharing is "countries"'
        )
    return Consent(sharing=sharing, disclosure=disclosure, countries=countries)


def country_list(text: str, setting: str) -> tuple[str, ...]:
    """Comma-separated ISO 3166 alpha-2 codes (``"GB, FR"``), upper-cased, in order, no repeats."""
    codes = [code.strip().upper() for code in text.split(",") if code.strip()]
    for code in codes:
        if not COUNTRY.fullmatch(code):
            raise SettingsError(f"setting {setting}: {code!r} is not an ISO 3166 alpha-2 code")
    return tuple(dict.fromkeys(codes))


def peer_default_disclosure(settings: Settings) -> DisclosureLevel:
    """The most a peer may be shown when the operator set no level for it."""
    try:
        return DisclosureLevel(settings.peer_default_disclosure)
    except ValueError:
        raise SettingsError(
            f"setting peer_default_disclosure: {settings.peer_default_disclosure!r} is not one "
            f"of {', '.join(DisclosureLevel)}"
        ) from None
