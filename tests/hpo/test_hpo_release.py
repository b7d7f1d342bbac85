"""Release library: verify, compile once, reuse the cache, switch atomically, refuse damage."""

from __future__ import annotations

import gzip
import lzma
import math
import shutil
from pathlib import Path

import pytest
from tiny_hpo import IC, TINY_OBO, D, G, H

from hpo import BUNDLED_FILES, Release, ReleaseError, ReleaseLibrary

OFFICIAL_SHA256 = {
    "hp.obo": "6b77de067eecc838319ce7650ed5bab0f92a502eabb160e6bc7c0238bc1548c5",
    "phenotype.hpoa": "8180403e2f5de0d8f41890e587d95077ce7f8bb8228d5d7b29dd358b70f0938c",
}


class Recorder:
    def __init__(self) -> None:
        self.stages: list[str] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.stages or self.stages[-1] != stage:
            self.stages.append(stage)


def test_load_compiles_registers_and_activates(tiny_files: Path, tmp_path: Path) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    info = library.load(tiny_files)
    assert (info.version, info.date, info.term_count) == ("2024-02-29", "2024-02-29", 9)
    assert (info.annotation_count, info.disease_count, info.unresolved_count) == (6, 5, 1)
    assert info.ic_source == "annotations" and not info.bundled
    assert set(info.checksums) == {"hp.obo", "phenotype.hpoa"}
    assert library.active_key() == info.key
    assert library.info() == info
    assert [listed.key for listed in library.list()] == [info.key]


def test_second_load_of_the_same_files_reuses_the_compiled_release(
    tiny_files: Path, tmp_path: Path
) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    first = library.load(tiny_files)
    manifest = tmp_path / "lib" / "releases" / first.key / "manifest.json"
    written = manifest.stat().st_mtime_ns
    recorder = Recorder()
    second = library.load(tiny_files, progress=recorder)
    assert second == first
    assert "cached" in recorder.stages
    assert not any(stage.startswith("reading") for stage in recorder.stages)
    assert manifest.stat().st_mtime_ns == written


def test_compressed_and_plain_files_share_one_compiled_release(
    tiny_files: Path, tmp_path: Path
) -> None:
    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / "hp.obo.gz").write_bytes(gzip.compress((tiny_files / "hp.obo").read_bytes()))
    (packed / "phenotype.hpoa.xz").write_bytes(
        lzma.compress((tiny_files / "phenotype.hpoa").read_bytes())
    )
    library = ReleaseLibrary(tmp_path / "lib")
    assert library.load(packed).key == library.load(tiny_files).key
    assert len(library.list()) == 1


def test_failed_load_leaves_the_active_release_untouched(tiny_files: Path, tmp_path: Path) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    good = library.load(tiny_files)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hp.obo").write_text(TINY_OBO.replace("[Term]\nid: HP:0000001\nname: All\n", ""))
    with pytest.raises(ReleaseError):
        library.load(broken)
    assert library.active_key() == good.key
    assert library.active().info == good
    assert sorted(p.name for p in (tmp_path / "lib" / "releases").iterdir()) == [good.key]


def test_truncated_gzip_file_is_refused(tiny_files: Path, tmp_path: Path) -> None:
    packed = tmp_path / "packed"
    packed.mkdir()
    data = gzip.compress((tiny_files / "hp.obo").read_bytes())
    (packed / "hp.obo.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReleaseError, match="damaged or truncated"):
        ReleaseLibrary(tmp_path / "lib").load(packed)


def test_truncated_annotation_file_fails_the_whole_load(tiny_files: Path, tmp_path: Path) -> None:
    text = (tiny_files / "phenotype.hpoa").read_text()
    (tiny_files / "phenotype.hpoa").write_text(text[:-20])
    library = ReleaseLibrary(tmp_path / "lib")
    with pytest.raises(ReleaseError, match="truncated"):
        library.load(tiny_files)
    assert library.active_key() is None


def test_missing_annotation_file_falls_back_to_structural_ic(
    tiny_files: Path, tmp_path: Path
) -> None:
    (tiny_files / "phenotype.hpoa").unlink()
    info = ReleaseLibrary(tmp_path / "lib").load(tiny_files)
    assert info.ic_source == "structure"
    assert info.annotation_file is None and info.annotation_count == 0


def test_directory_without_ontology_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="hp.obo or hp.json"):
        ReleaseLibrary(tmp_path / "lib").load(tmp_path)


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="no such file"):
        ReleaseLibrary(tmp_path / "lib").load(tmp_path / "nowhere" / "hp.obo")


def test_unrecognised_file_is_refused(tiny_files: Path, tmp_path: Path) -> None:
    other = tmp_path / "genes.txt"
    other.write_text("x")
    with pytest.raises(ReleaseError, match="not an HPO release file"):
        ReleaseLibrary(tmp_path / "lib").load([tiny_files / "hp.obo", other])


def test_activate_switches_back_to_an_older_release(tiny_files: Path, tmp_path: Path) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    first = library.load(tiny_files)
    second = library.load(tiny_files / "hp.obo")
    assert library.active().info.key == second.key
    library.activate(first.key)
    assert library.active().info.key == first.key
    assert library.release(second.key).info.ic_source == "structure"


def test_damaged_compiled_release_is_reported(tiny_files: Path, tmp_path: Path) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    info = library.load(tiny_files)
    (tmp_path / "lib" / "releases" / info.key / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(ReleaseError, match="damaged"):
        ReleaseLibrary(tmp_path / "lib").active()


def test_unknown_release_key_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="no compiled HPO release"):
        ReleaseLibrary(tmp_path).release("0123456789abcdef")


def test_bundled_default_is_the_official_2025_01_16_release(bundled_release: Release) -> None:
    info = bundled_release.info
    assert info.bundled and info.version == "2025-01-16"
    assert info.checksums == OFFICIAL_SHA256
    assert (info.term_count, info.annotation_count, info.disease_count) == (19034, 270991, 12687)
    assert info.negated_count == 711 and info.ic_source == "annotations"


def test_bundled_files_carry_attribution() -> None:
    attribution = (BUNDLED_FILES[0].parent / "ATTRIBUTION").read_text(encoding="utf-8")
    assert "2025-01-16" in attribution and "10.1093/nar/gkad1005" in attribution


def test_a_second_library_on_the_same_directory_reads_the_cache(
    shared_hpo_dir: Path, bundled_release: Release
) -> None:
    again = ReleaseLibrary(shared_hpo_dir).active()
    assert again.info == bundled_release.info
    assert again.ontology.ids == bundled_release.ontology.ids


def test_bundled_default_is_compiled_into_the_given_root_only(
    shared_hpo_dir: Path, bundled_release: Release
) -> None:
    compiled = shared_hpo_dir / "releases" / bundled_release.info.key
    assert (compiled / "manifest.json").is_file()
    assert not any(path.suffix == ".npz" for path in BUNDLED_FILES[0].parent.iterdir())


def test_copying_a_library_directory_keeps_it_usable(
    shared_hpo_dir: Path, bundled_release: Release, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(shared_hpo_dir, copy)
    assert ReleaseLibrary(copy).active().version == "2025-01-16"


# -- ontology-only releases: borrow annotations, or say how to supply them ----------

NIGHT_BLINDNESS = "HP:0000017"
NEWER_OBO = TINY_OBO.replace("hp/releases/2024-02-29", "hp/releases/2024-06-01") + (
    f"\n[Term]\nid: {NIGHT_BLINDNESS}\nname: Night blindness\nis_a: {H}\n"
)


def test_compile_activates_nothing(tiny_files: Path, tmp_path: Path) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    info = library.compile(tiny_files)
    assert library.active_key() is None
    assert library.find(info.version) == info == library.find(info.key)


def test_an_ontology_alone_borrows_the_newest_own_annotations(
    tiny_files: Path, tmp_path: Path
) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    lender = library.compile(tiny_files)
    newer = tmp_path / "newer.obo"
    newer.write_text(NEWER_OBO, encoding="utf-8")

    info = library.compile(newer, borrow_annotations=True)

    assert (info.ic_source, info.annotations_from) == ("annotations", lender.version)
    assert info.disease_count == lender.disease_count and info.structural_ic_terms == 1
    assert "borrowed" in info.ic_description and "1 terms they do not know" in info.ic_description
    release, before = library.release(info.key), library.release(lender.key)
    for term in (D, G, H):  # known terms keep the lender's annotation IC
        index, old = release.ontology.index_of(term), before.ontology.index_of(term)
        assert release.information_content[index] == pytest.approx(IC[term])
        assert before.information_content[old] == pytest.approx(IC[term])
    # the new leaf: structural IC ln(10 terms / 1), above its parent's ln(5)
    night = release.information_content[release.ontology.index_of(NIGHT_BLINDNESS)]
    assert night == pytest.approx(math.log(10))
    # borrowing twice reuses the compiled release; without borrowing it is another one
    assert library.compile(newer, borrow_annotations=True).key == info.key
    assert library.compile(newer).ic_source == "structure"


def test_an_ontology_alone_with_nothing_to_borrow_is_refused_with_the_way_out(
    tiny_files: Path, tmp_path: Path
) -> None:
    library = ReleaseLibrary(tmp_path / "lib")
    library.compile(tiny_files / "hp.obo")  # a release without annotations lends none
    with pytest.raises(ReleaseError, match="give the annotation file of the same release"):
        library.compile(tiny_files / "hp.obo", borrow_annotations=True)
