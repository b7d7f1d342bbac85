"""Term search: exact id > exact name > name prefix > synonym prefix > word prefix > id prefix."""

from __future__ import annotations

from tiny_hpo import B, C, D, E, F, G, H

from hpo import MatchKind, Release


def found(release: Release, text: str, limit: int = 10) -> list[tuple[str, MatchKind]]:
    return [(m.term_id, m.kind) for m in release.search(text, limit)]


def test_exact_id_comes_first_in_any_spelling(tiny_release: Release) -> None:
    for text in ["HP:0000012", "hp_0000012", "0000012", "12"]:
        assert found(tiny_release, text)[0] == (D, MatchKind.EXACT_ID), text


def test_alternative_id_finds_its_primary_term(tiny_release: Release) -> None:
    assert found(tiny_release, "HP:0000030") == [(E, MatchKind.EXACT_ID)]


def test_exact_name_ranks_before_longer_names_with_that_prefix(tiny_release: Release) -> None:
    assert found(tiny_release, "seizure") == [
        (D, MatchKind.EXACT_NAME),
        (G, MatchKind.NAME_PREFIX),
    ]


def test_name_prefix_is_case_insensitive_and_shorter_names_come_first(
    tiny_release: Release,
) -> None:
    assert found(tiny_release, "SEIZ") == [(D, MatchKind.NAME_PREFIX), (G, MatchKind.NAME_PREFIX)]


def test_synonym_prefix_finds_the_term(tiny_release: Release) -> None:
    matches = tiny_release.search("poor vis")
    assert [(m.term_id, m.kind, m.matched) for m in matches] == [
        (F, MatchKind.SYNONYM_PREFIX, "Poor vision")
    ]


def test_name_prefix_ranks_before_synonym_prefix(tiny_release: Release) -> None:
    # "Eye defect" is a synonym prefix of C; no name starts with "eye", so C still
    # ranks by its synonym, and "Abnormality of the eye" only as a word prefix.
    assert found(tiny_release, "eye") == [(C, MatchKind.SYNONYM_PREFIX)]


def test_every_query_word_must_start_a_word_in_any_order(tiny_release: Release) -> None:
    # "Intellectual disability" (shorter) before "Seizure with intellectual disability".
    assert found(tiny_release, "disab intel") == [
        (E, MatchKind.WORD_PREFIX),
        (G, MatchKind.WORD_PREFIX),
    ]


def test_incomplete_id_lists_terms_by_id_prefix(tiny_release: Release) -> None:
    assert found(tiny_release, "HP:000001") == [
        (term, MatchKind.ID_PREFIX) for term in [B, C, D, E, F, G, H]
    ]


def test_limit_caps_the_results(tiny_release: Release) -> None:
    assert len(tiny_release.search("HP:00000", limit=3)) == 3
    assert tiny_release.search("   ") == []


def test_real_search_puts_the_named_term_first(bundled_release: Release) -> None:
    assert bundled_release.search("Seizure", 5)[0].term_id == "HP:0001250"
    assert bundled_release.search("short stature", 5)[0].term_id == "HP:0004322"
    assert bundled_release.search("Epilepsy", 5)[0].term_id == "HP:0001250"
