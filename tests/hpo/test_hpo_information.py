"""Information content: annotation counts propagated to ancestors, and the structural fallback."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tiny_hpo import HPOA_HEADER, IC, TINY_HPOA, B, D, E, G, H, R, hpoa_row

from hpo import ICSource, Release, ReleaseError, read_annotations


def test_annotation_ic_matches_hand_computed_values(tiny_release: Release) -> None:
    ontology, ic = tiny_release.ontology, tiny_release.information_content
    assert ic.source is ICSource.ANNOTATIONS
    for term, expected in IC.items():
        assert ic[ontology.index_of(term)] == pytest.approx(expected), term


def test_counts_propagate_to_ancestors_once_per_disease(tiny_release: Release) -> None:
    annotations = read_annotations(tiny_files_hpoa(tiny_release), tiny_release.ontology)
    counts = dict(zip(tiny_release.ontology.ids, annotations.term_diseases.tolist(), strict=True))
    # OMIM:3 is annotated to G only, which reaches B through both D and E: counted once.
    assert counts[B] == 4
    assert counts[D] == 3
    assert counts[R] == annotations.disease_count == 5


def test_annotations_can_leave_diseases_out(tiny_release: Release) -> None:
    path = tiny_files_hpoa(tiny_release)
    annotations = read_annotations(path, tiny_release.ontology, without_diseases={"OMIM:3"})
    counts = dict(zip(tiny_release.ontology.ids, annotations.term_diseases.tolist(), strict=True))
    # OMIM:3 was the only disease annotated to G (and one of the four under B).
    assert (counts[G], counts[B], annotations.disease_count) == (0, 3, 4)


def test_not_qualified_annotations_are_excluded(tiny_release: Release) -> None:
    annotations = read_annotations(tiny_files_hpoa(tiny_release), tiny_release.ontology)
    assert annotations.negated_count == 1
    # Without the exclusion OMIM:4 would make D's count 4 and IC(D) ln(5/4).
    assert annotations.term_diseases[tiny_release.ontology.index_of(D)] == 3


def test_unknown_terms_in_annotations_are_counted_not_fatal(tiny_release: Release) -> None:
    annotations = read_annotations(tiny_files_hpoa(tiny_release), tiny_release.ontology)
    assert annotations.unresolved_count == 1
    assert annotations.unresolved_terms == ("HP:9999999",)
    assert annotations.annotation_count == 6


def test_alt_and_obsolete_ids_in_annotations_are_mapped(tiny_release: Release) -> None:
    annotations = read_annotations(tiny_files_hpoa(tiny_release), tiny_release.ontology)
    assert annotations.remapped_count == 2
    assert annotations.term_diseases[tiny_release.ontology.index_of(E)] == 2


def test_unannotated_term_gets_the_largest_ic(tiny_release: Release) -> None:
    ic = tiny_release.information_content
    assert ic[tiny_release.ontology.index_of(H)] == pytest.approx(math.log(5))
    assert ic[tiny_release.ontology.index_of(H)] == ic.values.max()


def test_without_annotations_ic_is_structural(tiny_files: Path, tmp_path: Path) -> None:
    from hpo import ReleaseLibrary

    library = ReleaseLibrary(tmp_path / "structural")
    info = library.load(tiny_files / "hp.obo")
    release = library.active()
    ic, ontology = release.information_content, release.ontology
    assert info.ic_source == "structure" and ic.source is ICSource.STRUCTURE
    # IC(t) = -ln(|descendants of t, itself included| / 9 terms)
    assert ic[ontology.index_of(G)] == pytest.approx(math.log(9))
    assert ic[ontology.index_of(D)] == pytest.approx(math.log(9 / 2))
    assert ic[ontology.index_of(B)] == pytest.approx(math.log(9 / 4))
    assert ic[ontology.index_of(R)] == 0.0


def test_real_ic_never_decreases_from_parent_to_child(bundled_release: Release) -> None:
    ontology, values = bundled_release.ontology, bundled_release.information_content.values
    child = np.repeat(np.arange(len(ontology)), ontology.parents.lengths())
    assert np.all(values[child] >= values[ontology.parents.indices])
    assert values[ontology.root] == 0.0


def test_truncated_annotation_file_is_refused(tiny_release: Release, tmp_path: Path) -> None:
    path = tmp_path / "phenotype.hpoa"
    path.write_text(TINY_HPOA[:-30], encoding="utf-8")
    with pytest.raises(ReleaseError, match="line 11 has"):
        read_annotations(path, tiny_release.ontology)


def test_annotation_file_without_header_is_refused(tiny_release: Release, tmp_path: Path) -> None:
    path = tmp_path / "phenotype.hpoa"
    path.write_text("#version: 2024-02-29\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match="no header"):
        read_annotations(path, tiny_release.ontology)


def test_annotation_file_with_wrong_columns_is_refused(
    tiny_release: Release, tmp_path: Path
) -> None:
    path = tmp_path / "phenotype.hpoa"
    path.write_text(HPOA_HEADER.replace("hpo_id", "term") + hpoa_row("OMIM:1", D))
    with pytest.raises(ReleaseError, match="hpo_id"):
        read_annotations(path, tiny_release.ontology)


def tiny_files_hpoa(release: Release) -> Path:
    assert release.info.annotation_file is not None
    return Path(release.info.annotation_file)
