"""POST /match: at most ``match_concurrency`` requests of a process are worked on at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from api_samples import Tokens, patient_json

from mme_node.app import create_app
from mme_node.model import Patient
from mme_node.security.disclosure import Disclosure
from mme_node.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio

MME_V1_0 = "application/vnd.ga4gh.matchmaker.v1.0+json"


async def test_match_requests_past_the_concurrency_wait_for_a_slot(
    node_settings: Settings, tokens: Tokens
) -> None:
    app = create_app(node_settings.replace(match_concurrency=1))
    async with app.router.lifespan_context(app):
        started: list[str] = []
        finish = asyncio.Event()

        async def held(
            caller: str, query: Patient, answer: Callable[[list[Disclosure]], bytes]
        ) -> bytes:
            started.append(query.id)
            await finish.wait()
            return answer([])

        app.state.node.matches.inbound = held
        headers = {"X-Auth-Token": tokens.peer, "Content-Type": MME_V1_0, "Accept": MME_V1_0}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:

            def ask(patient_id: str) -> asyncio.Task[httpx.Response]:
                body = {"patient": patient_json(patient_id, features=[{"id": "HP:0000717"}])}
                post = client.post("/match", content=json.dumps(body), headers=headers)
                return asyncio.create_task(post)

            first, second = ask("Q1"), ask("Q2")
            await asyncio.sleep(0.3)
            assert len(started) == 1  # the other waits for the slot
            health = await client.get("/health")  # not held up by the waiting /match
            finish.set()
            answers = await asyncio.gather(first, second)

    assert health.status_code == 200
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(started) == ["Q1", "Q2"]


def test_a_match_concurrency_below_one_is_refused(node_settings: Settings) -> None:
    with pytest.raises(SettingsError, match="match_concurrency"):
        create_app(node_settings.replace(match_concurrency=0))
