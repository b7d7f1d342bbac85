"""Web app fixtures: an in-process node with tokens, a test client that keeps cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mme_node.app import create_app
from mme_node.security import Role, TokenRegistry
from mme_node.settings import Settings, load_settings
from tests.web.oidc_provider import CLINIC_A_DOMAIN, running_provider

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebTokens:
    clinic_a: str
    clinic_b: str
    peer: str
    admin: str


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    with running_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def web_settings(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path, oidc_issuer: str
) -> Settings:
    """One node per test module (starting one costs a second or two): tests use their own ids."""
    return load_settings(environ={}).replace(
        data_dir=tmp_path_factory.mktemp("web-node"),
        hpo_dir_override=shared_hpo_dir,
        oidc_issuer=oidc_issuer,
        oidc_client_id="mme-node-test",
        oidc_client_secret="not-a-real-secret",
        web_owners=(f"email-domain:{CLINIC_A_DOMAIN} = clinic-a",),
    )


@pytest.fixture(scope="module")
def web_tokens(web_settings: Settings) -> WebTokens:
    web_settings.data_dir.mkdir(parents=True, exist_ok=True)
    with TokenRegistry(web_settings.database_path) as registry:
        return WebTokens(
            clinic_a=registry.create("clinic-a", Role.SUBMITTER),
            clinic_b=registry.create("clinic-b", Role.SUBMITTER),
            peer=registry.create("peer-node", Role.PEER),
            admin=registry.create("curator", Role.ADMIN),
        )


@pytest.fixture(scope="module")
def web_node(web_settings: Settings, web_tokens: WebTokens) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def browser_client(web_node: TestClient) -> TestClient:
    """The module's node, seen by a client that keeps cookies like a new browser.

    Redirects are not followed, so that tests see them.
    """
    web_node.cookies.clear()
    return web_node


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found[1]


def sign_in(client: TestClient, token: str, next_url: str = "") -> str:
    """Sign in with a token through the sign-in page, as a new browser would.

    Returns the signed-in session's CSRF token.
    """
    client.cookies.clear()
    page = client.get("/app/sign-in" + (f"?next={next_url}" if next_url else ""))
    answer = client.post("/app/sign-in", data={"csrf_token": csrf_of(page.text), "token": token})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/app/patients").text)


def case(patient_id: str, **fields: str) -> dict[str, str]:
    """A valid case form (the module's tests share a node, so each uses its own ids)."""
    return {
        "id": patient_id,
        "contact_name": "Dr A",
        "contact_email": "a@example.org",
        "features-0-term": "HP:0001250",
        "features-0-observed": "yes",
        **fields,
    }
