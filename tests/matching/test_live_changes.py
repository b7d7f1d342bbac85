"""A real server follows writes made by another process on its data dir (the change feed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from matching_samples import patient_json

from mme_node.matching.follower import POLL_INTERVAL
from mme_node.security.pseudonyms import Pseudonyms
from tests.federation.node_process import NodeProcess

MME_JSON = "application/vnd.ga4gh.matchmaker.v1.0+json"
CRANIOSYNOSTOSIS = "HP:0001363"
ARACHNODACTYLY = "HP:0001166"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path
) -> Iterator[tuple[NodeProcess, httpx.Client]]:
    node = NodeProcess("live", tmp_path_factory.mktemp("live-changes"), shared_hpo_dir)
    token = node.create_token("peer-a", "peer")
    node.create_token("clinic-a", "submitter")  # the owner of the imported patients
    node.start()
    try:
        node.wait_until_up(token)
        with node.client(token) as client:
            yield node, client
    finally:
        node.stop()


def matched(client: httpx.Client, *terms: str) -> list[str]:
    body: dict[str, Any] = {"patient": patient_json("query", terms)}
    response = client.post(
        "/match", json=body, headers={"Content-Type": MME_JSON, "Accept": MME_JSON}
    )
    assert response.status_code == 200, response.text
    return [result["patient"]["id"] for result in response.json()["results"]]


def wait_for(condition: Any, what: str) -> float:
    """Seconds until ``condition()`` holds; fails after a generous deadline (liveness only)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < 50 * POLL_INTERVAL, f"never happened: {what}"
        time.sleep(POLL_INTERVAL / 4)
    return time.monotonic() - start


def test_a_cli_import_into_the_data_dir_is_matched_without_restart(
    server: tuple[NodeProcess, httpx.Client], tmp_path: Path
) -> None:
    node, client = server
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([patient_json("imported-1", [CRANIOSYNOSTOSIS, ARACHNODACTYLY])]))
    # The peer sees our patient under its pseudonym.
    shown = Pseudonyms.in_data_dir(node.root / "data").pseudonym("peer-a", "clinic-a", "imported-1")
    assert shown not in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY)

    node.cli("patients", "import", str(cases), "--owner", "clinic-a")

    wait_for(
        lambda: shown in matched(client, CRANIOSYNOSTOSIS, ARACHNODACTYLY),
        "the running server matches the imported patient",
    )
