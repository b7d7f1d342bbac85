"""The ontology arrays: hierarchy, look-ups, id resolution, reading hp.obo and hp.json."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from tiny_hpo import TINY_OBO, A, B, D, E, G, R

from hpo import ObsoleteTermError, Release, ReleaseError, UnknownTermError, read_ontology


def ids(release: Release, indices: object) -> set[str]:
    return {release.ontology.term_id(int(i)) for i in indices}  # type: ignore[attr-defined]


def test_only_current_terms_are_indexed(tiny_release: Release) -> None:
    ontology = tiny_release.ontology
    assert len(ontology) == 9
    assert "HP:0000020" not in ontology
    assert D in ontology


def test_ancestors_include_the_term_and_all_is_a_ancestors(tiny_release: Release) -> None:
    # G is_a D and E; D and E are_a B; B is_a A; A is_a R.
    assert ids(tiny_release, tiny_release.ontology.ancestors(G)) == {G, D, E, B, A, R}
    assert tiny_release.ontology.ancestor_ids(D) == tuple(sorted([D, B, A, R]))


def test_descendants_include_the_term(tiny_release: Release) -> None:
    assert ids(tiny_release, tiny_release.ontology.descendants(B)) == {B, D, E, G}


def test_is_descendant_or_self(tiny_release: Release) -> None:
    ontology = tiny_release.ontology
    assert ontology.is_descendant_or_self(G, B)
    assert ontology.is_descendant_or_self(D, D)
    assert not ontology.is_descendant_or_self(B, G)
    assert not ontology.is_descendant_or_self(D, E)


def test_names_definitions_and_synonyms_are_kept(tiny_release: Release) -> None:
    ontology = tiny_release.ontology
    assert ontology.name(D) == "Seizure"
    assert ontology.definition(D) == "A transient occurrence of signs."
    assert ontology.synonyms(D) == ("Epilepsy", "Seizures")
    assert ontology.parent_ids(G) == (D, E)


def test_version_and_date_come_from_the_data_version_header(tiny_release: Release) -> None:
    assert tiny_release.ontology.version == "2024-02-29"
    assert tiny_release.ontology.date == datetime.date(2024, 2, 29)


def test_resolve_maps_alt_id_to_primary(tiny_release: Release) -> None:
    assert tiny_release.ontology.resolve("HP:0000030") == E


def test_resolve_maps_obsolete_term_to_its_replacement(tiny_release: Release) -> None:
    assert tiny_release.ontology.resolve("HP:0000020") == D


def test_resolve_accepts_lowercase_and_underscore_spellings(tiny_release: Release) -> None:
    assert tiny_release.ontology.resolve(" hp_0000012 ") == D


def test_resolve_refuses_obsolete_term_without_replacement_naming_consider_terms(
    tiny_release: Release,
) -> None:
    with pytest.raises(ObsoleteTermError) as caught:
        tiny_release.ontology.resolve("HP:0000021")
    assert caught.value.term_id == "HP:0000021"
    assert caught.value.consider == ("HP:0000013", "HP:0000014")
    assert "HP:0000013" in str(caught.value)


def test_resolve_refuses_unknown_id_naming_it(tiny_release: Release) -> None:
    with pytest.raises(UnknownTermError, match="HP:0099999"):
        tiny_release.ontology.resolve("HP:0099999")


def test_index_of_accepts_only_current_primary_ids(tiny_release: Release) -> None:
    with pytest.raises(UnknownTermError, match="resolve it first"):
        tiny_release.ontology.index_of("HP:0000030")


def test_resolve_maps_real_alt_id_and_obsolete_term(bundled_release: Release) -> None:
    ontology = bundled_release.ontology
    # hp.obo 2025-01-16: HP:0004715 is an alt_id of HP:0000003 (Multicystic kidney
    # dysplasia); HP:0000057 is obsolete, replaced_by HP:0008665.
    assert ontology.resolve("HP:0004715") == "HP:0000003"
    assert ontology.resolve("HP:0000057") == "HP:0008665"


def test_resolve_refuses_real_obsolete_term_with_consider_list(bundled_release: Release) -> None:
    with pytest.raises(ObsoleteTermError) as caught:
        bundled_release.ontology.resolve("HP:0003295")
    assert caught.value.consider == ("HP:0030339",)


def test_real_release_has_every_current_term(bundled_release: Release) -> None:
    ontology = bundled_release.ontology
    assert len(ontology) == 19034
    assert ontology.version == "2025-01-16"
    assert len(ontology.descendants("HP:0000118")) == 18386 + 1


def test_obographs_json_gives_the_same_structure(tmp_path: Path) -> None:
    path = tmp_path / "hp.json"
    path.write_text(json.dumps(_obographs()), encoding="utf-8")
    ontology = read_ontology(path)
    assert ontology.version == "2024-02-29"
    assert ontology.ids == (R, B, A)
    assert ontology.ancestor_ids(B) == (R, B, A)
    assert ontology.synonyms(A) == ("Phenotype",)
    assert ontology.resolve("HP:0000030") == B
    assert ontology.resolve("HP:0000020") == B


def test_truncated_obo_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hp.obo"
    path.write_text(TINY_OBO[: TINY_OBO.index("name: Seizure with") + 12], encoding="utf-8")
    with pytest.raises(ReleaseError):
        read_ontology(path)


def test_obo_cut_at_a_stanza_boundary_is_refused(tmp_path: Path) -> None:
    # The file ends before E's stanza although G names E as a parent.
    path = tmp_path / "hp.obo"
    cut = TINY_OBO.index("[Term]\nid: HP:0000013")
    path.write_text(TINY_OBO[:cut] + TINY_OBO[TINY_OBO.index("[Term]\nid: HP:0000014") :])
    with pytest.raises(ReleaseError):
        read_ontology(path)


def test_ontology_without_root_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hp.obo"
    path.write_text(
        "format-version: 1.2\ndata-version: hp/releases/2024-02-29\n\n"
        "[Term]\nid: HP:0000118\nname: Phenotypic abnormality\n"
    )
    with pytest.raises(ReleaseError, match="root"):
        read_ontology(path)


def test_is_a_cycle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hp.obo"
    path.write_text(
        "format-version: 1.2\ndata-version: hp/releases/2024-02-29\n\n"
        "[Term]\nid: HP:0000001\nname: All\n\n"
        "[Term]\nid: HP:0000002\nname: X\nis_a: HP:0000001\nis_a: HP:0000003\n\n"
        "[Term]\nid: HP:0000003\nname: Y\nis_a: HP:0000002\n"
    )
    with pytest.raises(ReleaseError, match="cycle"):
        read_ontology(path)


def _obographs() -> dict[str, object]:
    iri = "http://purl.obolibrary.org/obo/HP_"
    return {
        "graphs": [
            {
                "id": "http://purl.obolibrary.org/obo/hp.json",
                "meta": {
                    "version": "http://purl.obolibrary.org/obo/hp/releases/2024-02-29/hp.json"
                },
                "nodes": [
                    {"id": iri + "0000001", "lbl": "All", "type": "CLASS"},
                    {
                        "id": iri + "0000118",
                        "lbl": "Phenotypic abnormality",
                        "type": "CLASS",
                        "meta": {"synonyms": [{"pred": "hasExactSynonym", "val": "Phenotype"}]},
                    },
                    {
                        "id": iri + "0000010",
                        "lbl": "Abnormality of the nervous system",
                        "type": "CLASS",
                        "meta": {
                            "basicPropertyValues": [
                                {
                                    "pred": "http://www.geneontology.org/formats/oboInOwl#hasAlternativeId",
                                    "val": "HP:0000030",
                                }
                            ]
                        },
                    },
                    {
                        "id": iri + "0000020",
                        "lbl": "obsolete Fits",
                        "type": "CLASS",
                        "meta": {
                            "deprecated": True,
                            "basicPropertyValues": [
                                {
                                    "pred": "http://purl.obolibrary.org/obo/IAO_0100001",
                                    "val": iri + "0000010",
                                }
                            ],
                        },
                    },
                ],
                "edges": [
                    {"sub": iri + "0000118", "pred": "is_a", "obj": iri + "0000001"},
                    {"sub": iri + "0000010", "pred": "is_a", "obj": iri + "0000118"},
                ],
            }
        ]
    }
