"""Consent in matching: a patient whose consent excludes a peer is never scored for it.

The exclusion is a mask over the partition's rows, applied before the best are
chosen, so a peer still gets its full ``limit`` of patients it may see.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matching_samples import patient_json

from hpo import Release
from mme_node.formats.schemas import load_patient
from mme_node.matching.matcher import Matcher
from mme_node.matching.scoring import ScoringWeights
from mme_node.matching.state import Serving
from mme_node.model import Consent, DataUse, DisclosureLevel, Patient, PatientRecord, Sharing
from mme_node.security.consent import PeerScope
from mme_node.stores.sqlite import SQLitePatientStore

SEIZURE = "HP:0001250"
AUTISM = "HP:0000717"
LOCAL = Consent(Sharing.LOCAL, DisclosureLevel.VARIANTS)
GB = Consent(Sharing.COUNTRIES, DisclosureLevel.VARIANTS, countries=("GB",))
EVERYWHERE = Consent(Sharing.ALL, DisclosureLevel.VARIANTS)


def record(
    patient_id: str, consent: Consent | None, *terms: str, test: bool = False
) -> PatientRecord:
    patient, _ = load_patient(patient_json(patient_id, terms or (SEIZURE,), test=test))
    return PatientRecord("clinic-a", patient, "2025-01-16", "{}", consent=consent)


def query(*terms: str, test: bool = False) -> Patient:
    patient, _ = load_patient(
        patient_json("Q", terms or (SEIZURE,), href="https://peer.example.org", test=test)
    )
    return patient


def save(matcher: Matcher, record: PatientRecord) -> None:
    matcher.serving.state.add([record])


@pytest.fixture
def matcher(bundled_release: Release, tmp_path: Path) -> Matcher:
    """A matcher whose index is filled by hand (its store is never opened)."""
    store = SQLitePatientStore(tmp_path / "unused.sqlite3")
    return Matcher(Serving.of(bundled_release), store, ScoringWeights())


def ranked_ids(
    matcher: Matcher, scope: PeerScope | None, limit: int = 3, test: bool = False
) -> list[str]:
    return [c.key[1] for c in matcher.rank(query(test=test), limit, scope=scope)]


def test_the_best_matches_a_peer_may_not_see_are_replaced_by_the_next_it_may(
    matcher: Matcher,
) -> None:
    for number in range(5):  # the exact matches, this node only
        save(matcher, record(f"local-{number}", LOCAL))
    for number in range(4):  # weaker matches anyone may see
        save(matcher, record(f"open-{number}", EVERYWHERE, SEIZURE, AUTISM))

    for_peer = ranked_ids(matcher, PeerScope("GB"))

    assert len(for_peer) == 3
    assert all(patient_id.startswith("open-") for patient_id in for_peer)
    assert all(p.startswith("local-") for p in ranked_ids(matcher, None))


def test_a_country_consent_reaches_peers_of_that_country_only(matcher: Matcher) -> None:
    save(matcher, record("gb", GB))
    save(matcher, record("open", EVERYWHERE, SEIZURE, AUTISM))

    assert ranked_ids(matcher, PeerScope("GB")) == ["gb", "open"]
    assert ranked_ids(matcher, PeerScope("FR")) == ["open"]
    assert ranked_ids(matcher, PeerScope(None)) == ["open"]


def test_patients_without_consent_follow_the_matchers_default(
    bundled_release: Release, tmp_path: Path
) -> None:
    store = SQLitePatientStore(tmp_path / "unused.sqlite3")
    matcher = Matcher(Serving.of(bundled_release, LOCAL), store, ScoringWeights())
    save(matcher, record("defaulted", None))
    save(matcher, record("open", EVERYWHERE, SEIZURE, AUTISM))

    assert ranked_ids(matcher, PeerScope("GB")) == ["open"]
    assert ranked_ids(matcher, None) == ["defaulted", "open"]


def test_a_geographical_restriction_code_is_enforced_like_sharing(matcher: Matcher) -> None:
    restricted = Consent(
        Sharing.ALL, DisclosureLevel.GENES, data_use=(DataUse("DUO:0000022", ("DE",)),)
    )
    save(matcher, record("de-only", restricted))

    assert ranked_ids(matcher, PeerScope("DE")) == ["de-only"]
    assert ranked_ids(matcher, PeerScope("GB")) == []


def test_the_mask_follows_rows_renumbered_when_the_index_compacts(matcher: Matcher) -> None:
    for number in range(2100):
        save(matcher, record(f"gone-{number}", EVERYWHERE, AUTISM))
    save(matcher, record("kept-local", LOCAL))
    save(matcher, record("kept-open", EVERYWHERE))
    generation = matcher.index.real.observed.generation
    for number in range(2100):
        matcher.serving.state.apply({("clinic-a", f"gone-{number}"): None})

    assert matcher.index.real.observed.generation > generation  # rows were renumbered
    assert ranked_ids(matcher, PeerScope("GB")) == ["kept-open"]
    assert ranked_ids(matcher, None) == ["kept-local", "kept-open"]


def test_a_changed_consent_moves_the_patient_out_of_a_peers_reach(matcher: Matcher) -> None:
    save(matcher, record("P1", EVERYWHERE))
    assert ranked_ids(matcher, PeerScope("GB")) == ["P1"]

    save(matcher, record("P1", LOCAL))

    assert ranked_ids(matcher, PeerScope("GB")) == []


def test_candidates_retrieved_by_a_store_are_masked_the_same_way(matcher: Matcher) -> None:
    records = [record("local", LOCAL), record("open", EVERYWHERE, SEIZURE, AUTISM)]

    ranked, _ = matcher.rank_retrieved(records, query(), 3, scope=PeerScope("GB"))

    assert [c.key[1] for c in ranked] == ["open"]
