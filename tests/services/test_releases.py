"""HPO release switches: 2025-01-16 -> 2026-02-16 -> back, on a node with real files.

One serving node (real SQLite file, its change follower running) and the two
real releases (the session compiles 2026-02-16 once). In 2026-02-16,
HP:0002438 (Cerebellar malformation) is obsolete, replaced by HP:0001317;
HP:0025834 is new (unknown to 2025-01-16); HP:0025237 is obsolete without a
single successor.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mme_node.errors import NotFound
from mme_node.node import Node, start_node
from mme_node.services.activation_lock import ActivationInProgress
from mme_node.services.notices import TERMS_NOT_CARRIED_OVER
from mme_node.services.releases import AlreadyActive, UnknownRelease
from mme_node.settings import Settings
from tests.federation.mail_sink import MailSink

pytestmark = pytest.mark.anyio

OWNER = "clinic-a"
CEREBELLAR_MALFORMATION = "HP:0002438"  # 2026: obsolete, replaced by
ABNORMAL_CEREBELLUM = "HP:0001317"
NEWER_TERM = "HP:0025834"  # only in 2026
WITHOUT_SUCCESSOR = "HP:0025237"  # 2026: obsolete, no single successor
SEIZURE = "HP:0001250"
MICROCEPHALY = "HP:0000252"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def patient_json(patient_id: str, *terms: str, email: str | None = None) -> dict[str, Any]:
    contact: dict[str, str] = {"name": "Dr. Example", "href": "https://clinic.example.org/"}
    if email:
        contact["email"] = email
    return {"id": patient_id, "contact": contact, "features": [{"id": term} for term in terms]}


@pytest.fixture
async def node(
    node_settings: Settings, upgrade_hpo_dir: Path, mail: MailSink
) -> AsyncIterator[Node]:
    settings = node_settings.replace(
        hpo_dir_override=upgrade_hpo_dir, smtp_host="127.0.0.1", smtp_port=mail.port
    )
    node = await start_node(settings)
    try:
        for patient in (
            patient_json("P1", CEREBELLAR_MALFORMATION, SEIZURE),
            patient_json("P2", NEWER_TERM, SEIZURE),
            patient_json("P3", WITHOUT_SUCCESSOR, MICROCEPHALY, email="p3@clinic.example.org"),
            patient_json("P4", SEIZURE),
        ):
            await node.patients.submit(OWNER, patient)
        yield node
    finally:
        await node.stop()


async def switch(node: Node, release: str) -> Any:
    report = await node.releases.activate(release, "test")
    assert node.follower is not None
    await node.follower.catch_up()
    await node.follower.switched()
    return report


async def matched(node: Node, *terms: str) -> list[str]:
    query = node.patients.prepare(patient_json("Q", *terms)).patient
    results = await node.matcher.match(query, limit=3)
    return [result.record.patient.id for result in results]


async def test_upgrade_and_rollback_derive_every_patient_again_and_lose_nothing(
    node: Node, mail: MailSink
) -> None:
    before = {pid: await node.patients.get(OWNER, pid) for pid in ("P1", "P2", "P3")}
    assert before["P2"].patient.pending_terms == (NEWER_TERM,)

    report = await switch(node, "2026-02-16")

    assert node.release.version == "2026-02-16"
    assert (CEREBELLAR_MALFORMATION, ABNORMAL_CEREBELLUM, 1) in report.replaced_terms
    assert report.activated_terms == [(NEWER_TERM, 1)]
    assert report.unresolved_terms == [(WITHOUT_SUCCESSOR, 1)]
    [p3] = report.unresolved_by_owner()[OWNER]
    assert (p3.patient_id, p3.not_carried_over) == ("P3", (WITHOUT_SUCCESSOR,))
    # the replaced term matches by its replacement, the pending one now matches
    assert (await matched(node, ABNORMAL_CEREBELLUM))[0] == "P1"
    assert (await matched(node, NEWER_TERM))[0] == "P2"
    upgraded = await node.patients.get(OWNER, "P1")
    assert upgraded.patient.features[0].id == ABNORMAL_CEREBELLUM
    assert upgraded.patient.features[0].submitted_id == CEREBELLAR_MALFORMATION

    back = await switch(node, "2025-01-16")

    assert node.release.version == "2025-01-16"
    assert back.unresolved_terms == [(NEWER_TERM, 1)]
    for pid, record in before.items():  # the old terms, exactly
        assert (await node.patients.get(OWNER, pid)).patient == record.patient
    assert (await matched(node, CEREBELLAR_MALFORMATION))[0] == "P1"


async def test_owners_hear_of_terms_not_carried_over_in_the_inbox_and_by_email(
    node: Node, mail: MailSink
) -> None:
    report = await switch(node, "2026-02-16")

    [notice] = await node.notices.for_owner(OWNER)
    assert (notice.kind, notice.patient_id) == (TERMS_NOT_CARRIED_OVER, "P3")
    assert notice.details["terms"] == {WITHOUT_SUCCESSOR: report.suggestions[WITHOUT_SUCCESSOR]}
    assert notice.details["names"] == {WITHOUT_SUCCESSOR: "Confusional arousal"}  # as 2025 named it
    assert WITHOUT_SUCCESSOR in notice.message
    [email] = mail.sent_to("p3@clinic.example.org")
    assert "HPO terms not carried over" in email["Subject"]
    assert f"{WITHOUT_SUCCESSOR} (Confusional arousal)" in email.get_content()


async def test_the_report_is_kept_and_a_deleted_patient_leaves_no_trace_in_it(node: Node) -> None:
    activated = await switch(node, "2026-02-16")

    stored = await node.releases.report()
    assert stored.seq == activated.seq and stored.to_version == "2026-02-16"
    assert stored.to_json()["unresolvedByOwner"] == {
        OWNER: [
            {"patientId": "P3", "terms": [WITHOUT_SUCCESSOR], "notCarriedOver": [WITHOUT_SUCCESSOR]}
        ]
    }
    await node.patients.delete(OWNER, "P3")
    assert "P3" not in {p.patient_id for p in (await node.releases.report()).patients}
    assert await node.notices.for_owner(OWNER) == []


async def test_active_info_names_the_release_in_use_from_its_manifest_alone(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await node.releases.active_info()
    await switch(node, "2026-02-16")

    def no_opening(key: str) -> None:
        raise AssertionError(f"release {key} was opened")

    monkeypatch.setattr(node.releases.library, "release", no_opening)
    after = await node.releases.active_info()

    assert before.version == "2025-01-16" and before.annotation_count > 0
    assert (after.key, after.version) == (node.release.info.key, "2026-02-16")
    assert after.annotations_from == "2025-01-16"  # ontology only: borrowed annotations


async def test_activating_the_active_or_an_unknown_release_is_refused(node: Node) -> None:
    with pytest.raises(AlreadyActive):
        await node.releases.activate("2025-01-16", "test")
    with pytest.raises(UnknownRelease, match="2031-01-01"):
        await node.releases.activate("2031-01-01", "test")
    with pytest.raises(NotFound):
        await node.releases.report()


def activate_in_another_process(
    settings: Settings, release: str
) -> subprocess.CompletedProcess[str]:
    """``mme-node hpo activate RELEASE`` on the node's data dir, as a curator would run it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MME_")} | {
        "MME_DATA_DIR": str(settings.data_dir),
        "MME_HPO_DIR_OVERRIDE": str(settings.hpo_dir),
    }
    return subprocess.run(
        [sys.executable, "-P", "-m", "mme_node.cli", "hpo", "activate", release],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_second_activation_while_one_runs_is_refused_and_changes_nothing(
    node: Node,
) -> None:
    refused: list[subprocess.CompletedProcess[str]] = []

    def meanwhile(stage: str, handled: int) -> None:
        # The first activation is comparing patients, its lock held: another
        # process (the command line) and this one (the admin API) try too.
        if not refused:
            refused.append(activate_in_another_process(node.settings, "2026-02-16"))
            second = node.releases.activate("2026-02-16", "second")
            with (
                ThreadPoolExecutor(1) as thread,
                pytest.raises(ActivationInProgress, match="HPO release 2026-02-16 by first"),
            ):
                thread.submit(asyncio.run, second).result()

    report = await node.releases.activate("2026-02-16", "first", meanwhile)

    [other] = refused
    assert other.returncode == 1, other.stdout
    assert "another HPO release activation is in progress (HPO release 2026-02-16 by first" in (
        other.stderr
    )
    assert f"process {os.getpid()}" in other.stderr
    history = await node.releases.history()
    assert [(change.release_version, change.actor) for change in history] == [
        ("2026-02-16", "first")
    ]
    assert (report.from_version, report.seq) == ("2025-01-16", history[0].seq)

    # the lock went with the activation: the next one (a rollback) goes through
    back = await node.releases.activate("2025-01-16", "third")
    assert (back.from_version, back.to_version) == ("2026-02-16", "2025-01-16")
