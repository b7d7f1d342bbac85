"""The phenotype scorers: the learned picture model (the default) and the previous blend."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matching_samples import MatchingNode, patient_json

from hpo import Release
from mme_node.errors import MMEError
from mme_node.matching.phenotype import (
    BLEND,
    DEFAULT_MODEL,
    FEATURES,
    MODEL_FORMAT,
    BlendScorer,
    PhenotypeModel,
    bundled_models,
    load_model,
)
from mme_node.matching.scoring import ScoringWeights
from mme_node.settings import Settings

pytestmark = pytest.mark.anyio

OWNER = "clinic-a"
AUTISM = "HP:0000717"
GAIT_ATAXIA = "HP:0002066"
VSD = "HP:0001629"
SEIZURE = "HP:0001250"
HEARING_LOSS = "HP:0000407"
MICROCEPHALY = "HP:0000252"


def model_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "name": "trial",
        "version": 3,
        "features": {"picture_resnik": 2.0, "picture_overlap": 1.0, "observed_simgic": 0.0},
    }
    document.update(changes)
    return document


async def store_all(node: MatchingNode, *patients: dict[str, Any]) -> None:
    report = await node.patients.import_many(OWNER, ((p["id"], p) for p in patients))
    assert report.imported == len(patients), report.rejected


async def ranked_ids(node: MatchingNode, query: dict[str, Any]) -> list[str]:
    return [r.record.patient.id for r in await node.matcher.match(node.query(query), limit=10)]


def test_bundled_default_model_loads_with_its_version_and_training_record() -> None:
    model = load_model(DEFAULT_MODEL)
    assert DEFAULT_MODEL in bundled_models()
    assert (model.tag, model.name, model.version) == (DEFAULT_MODEL, "picture", 1)
    assert set(model.weights) <= set(FEATURES)
    assert all(w > 0 for w in model.weights.values())
    assert sum(model.weights.values()) == pytest.approx(1.0)
    assert 0 < model.training["cv_mrr_cross_publication"] <= 1


def test_default_settings_select_the_learned_model_and_blend_stays_one_setting_away() -> None:
    default = ScoringWeights.from_settings(Settings()).phenotype_scorer()
    assert default.tag == DEFAULT_MODEL
    old = ScoringWeights.from_settings(Settings(phenotype_model=BLEND)).phenotype_scorer()
    assert old == BlendScorer()
    assert old.tag == BLEND


def test_weights_of_a_model_file_are_scaled_to_sum_to_one(tmp_path: Path) -> None:
    path = tmp_path / "trial.json"
    path.write_text(json.dumps(model_document()), encoding="utf-8")
    model = ScoringWeights(phenotype_model=str(path)).phenotype_scorer()
    assert isinstance(model, PhenotypeModel)
    assert model.tag == "trial-v3"
    assert model.weights == pytest.approx({"picture_resnik": 2 / 3, "picture_overlap": 1 / 3})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 99}, "format"),
        ({"version": "one"}, "integer version"),
        ({"features": {"picture_cosine": 1.0}}, "unknown features picture_cosine"),
        ({"features": {"picture_resnik": -0.5, "picture_overlap": 1.0}}, "non-negative"),
        ({"features": {"picture_resnik": 0.0}}, "at least one weight"),
    ],
)
def test_broken_model_files_are_refused_with_the_reason(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(model_document(**changes)), encoding="utf-8")
    with pytest.raises(MMEError, match=message):
        ScoringWeights.from_settings(Settings(phenotype_model=str(path)))


def test_unknown_model_name_names_the_setting_and_the_choices() -> None:
    with pytest.raises(MMEError, match=f"phenotype_model must be one of {BLEND}, {DEFAULT_MODEL}"):
        ScoringWeights.from_settings(Settings(phenotype_model="picture-v0"))


async def test_identical_pictures_score_one_and_every_score_lies_in_the_unit_interval(
    node: MatchingNode, annotated_terms: list[str]
) -> None:
    chance = random.Random(5)
    cohort = [
        patient_json(
            f"case-{n}",
            chance.sample(annotated_terms, chance.randint(0, 8)),
            excluded=chance.sample(annotated_terms, chance.randint(0, 8)),
        )
        for n in range(80)
    ]
    twin = patient_json("twin", [AUTISM, VSD], excluded=[SEIZURE])
    await store_all(node, *cohort, twin)
    query = node.query(patient_json("Q", [AUTISM, VSD], excluded=[SEIZURE]))
    results = await node.matcher.match(query, limit=100)
    assert results[0].record.patient.id == "twin"
    assert results[0].score == pytest.approx(1.0)
    assert all(0 < r.score <= 1 and 0 <= r.phenotype_score <= 1 for r in results)
    assert len(results) > 20


async def test_shared_pertinent_negatives_raise_a_candidate_above_an_equal_one(
    node: MatchingNode, blend_node: MatchingNode
) -> None:
    """Both candidates observe what the query observes; one was also examined for, and found
    free of, the features the query lacks. The learned model ranks it first; the blend
    ignores negatives that agree, so for it the two candidates tie."""
    candidates = (
        patient_json("no-negatives", [AUTISM, GAIT_ATAXIA]),
        patient_json("same-negatives", [AUTISM, GAIT_ATAXIA], excluded=[SEIZURE, HEARING_LOSS]),
    )
    query = patient_json("Q", [AUTISM, GAIT_ATAXIA], excluded=[SEIZURE, HEARING_LOSS])
    await store_all(node, *candidates)
    await store_all(blend_node, *candidates)
    assert await ranked_ids(node, query) == ["same-negatives", "no-negatives"]
    blend = await blend_node.matcher.match(blend_node.query(query), limit=10)
    assert blend[0].score == pytest.approx(blend[1].score)


async def test_a_feature_examined_in_both_counts_whether_present_or_absent(
    node: MatchingNode, blend_node: MatchingNode
) -> None:
    """A candidate that observed a feature the query excludes was examined for it too: the
    learned model counts it as shared ground (cases of one gene often disagree so), while the
    blend ranks that candidate below one that never mentions the feature."""
    candidates = (
        patient_json("observes-it", [AUTISM, GAIT_ATAXIA, MICROCEPHALY]),
        patient_json("silent-on-it", [AUTISM, GAIT_ATAXIA]),
    )
    query = patient_json("Q", [AUTISM, GAIT_ATAXIA], excluded=[MICROCEPHALY])
    await store_all(node, *candidates)
    await store_all(blend_node, *candidates)
    assert await ranked_ids(node, query) == ["observes-it", "silent-on-it"]
    assert await ranked_ids(blend_node, query) == ["silent-on-it", "observes-it"]


async def test_query_without_negatives_is_scored_on_its_observed_terms(
    node: MatchingNode, bundled_release: Release
) -> None:
    await store_all(node, patient_json("P1", [AUTISM, VSD]), patient_json("P2", [HEARING_LOSS]))
    query = node.query(patient_json("Q", [AUTISM, GAIT_ATAXIA]))
    results = {r.record.patient.id: r.score for r in await node.matcher.match(query, limit=5)}
    model = load_model(DEFAULT_MODEL)
    similarity = bundled_release.similarity
    pair = [AUTISM, GAIT_ATAXIA], [AUTISM, VSD]
    expected = (
        model.weights["picture_resnik"] * similarity.profile_similarity(*pair, "resnik", True).score
        + model.weights["picture_simgic"] * similarity.profile_similarity(*pair, "simgic").score
        + model.weights["picture_overlap"] * (1 / 3)
    )
    assert results["P1"] == pytest.approx(expected)
    assert results["P1"] > results["P2"]


def test_combine_clips_to_the_unit_interval() -> None:
    model = PhenotypeModel.from_json(model_document(), "test")
    features = {
        "picture_resnik": np.array([0.0, 1.0, 1.0]),
        "picture_overlap": np.array([0.0, 1.0, 0.5]),
    }
    assert model.combine(features).tolist() == pytest.approx([0.0, 1.0, 5 / 6])
