"""Pseudonyms: stable per recipient, different between recipients, under a private key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mme_node.errors import ServiceUnavailable
from mme_node.security.keys import KEY_FILE
from mme_node.security.pseudonyms import Pseudonyms


def test_a_pseudonym_is_stable_for_one_peer_and_differs_between_peers(tmp_path: Path) -> None:
    pseudonyms = Pseudonyms.in_data_dir(tmp_path)

    first = pseudonyms.pseudonym("node-b", "clinic-a", "P1")

    assert first == pseudonyms.pseudonym("node-b", "clinic-a", "P1")
    assert first != pseudonyms.pseudonym("node-c", "clinic-a", "P1")
    assert first != pseudonyms.pseudonym("node-b", "clinic-b", "P1")
    assert len(first) == 32 and "P1" not in first


def test_the_key_is_created_once_mode_0600_and_shared_by_every_process(tmp_path: Path) -> None:
    first = Pseudonyms.in_data_dir(tmp_path).pseudonym("node-b", "clinic-a", "P1")

    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Pseudonyms.in_data_dir(tmp_path).pseudonym("node-b", "clinic-a", "P1") == first
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left


def test_another_key_gives_other_pseudonyms(tmp_path: Path) -> None:
    ours = Pseudonyms.in_data_dir(tmp_path / "a").pseudonym("node-b", "clinic-a", "P1")

    assert Pseudonyms.in_data_dir(tmp_path / "b").pseudonym("node-b", "clinic-a", "P1") != ours


def test_an_audit_subject_is_no_pseudonym_and_holds_no_id(tmp_path: Path) -> None:
    pseudonyms = Pseudonyms.in_data_dir(tmp_path)

    subject = pseudonyms.subject("clinic-a", "P1")

    assert subject == pseudonyms.subject("clinic-a", "P1")
    assert subject != pseudonyms.subject("clinic-b", "P1")
    assert subject != pseudonyms.pseudonym("clinic-a", "P1", "")
    assert "P1" not in subject


def test_a_damaged_key_stops_with_a_message_instead_of_new_pseudonyms(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not hex\n")

    with pytest.raises(ServiceUnavailable, match="node key"):
        Pseudonyms.in_data_dir(tmp_path).pseudonym("node-b", "clinic-a", "P1")


def test_an_audit_subject_is_found_among_the_owners_ids_and_nowhere_else(tmp_path: Path) -> None:
    pseudonyms = Pseudonyms.in_data_dir(tmp_path)
    ids = [f"P{n}" for n in range(50)] + ["é/ü"]
    for patient_id in ("P0", "P37", "é/ü"):
        subject = pseudonyms.subject("clinic-a", patient_id)
        assert pseudonyms.find_subject(subject, "clinic-a", ids) == patient_id
    assert pseudonyms.find_subject(pseudonyms.subject("clinic-b", "P3"), "clinic-a", ids) is None
    assert pseudonyms.find_subject(pseudonyms.subject("clinic-a", "P99"), "clinic-a", ids) is None
