"""Schemathesis against a real server: 0 server errors, every answer as /openapi.json says.

Requests generated from the description (valid and invalid ones) are sent
with a submitter, a peer and an admin token to a uvicorn server on 127.0.0.1
running the node with the same connection guards as ``mme-node serve``.
Each answer must be no 5xx and conform to its operation: a documented
status, content type, headers and body schema.

Two of schemathesis's default checks are left out, for reasons of the API,
not of the node: ``positive_data_acceptance`` (a schema-valid patient can
still be refused: whether ``HP:0000000`` exists is not a JSON Schema fact) and
``negative_data_rejection`` (the loader's documented leniencies, such as
``chr1`` or ``female``, accept what the canonical schema does not describe).
Examples per operation and token are bounded (``MAX_EXAMPLES``) to keep CI short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from mme_node.api.openapi import openapi_document
from mme_node.app import create_app
from mme_node.security import Role, TokenRegistry
from mme_node.server import server_options
from mme_node.settings import Settings
from tests.threaded_server import ThreadedServer

MAX_EXAMPLES = 10
ROLES = (Role.SUBMITTER, Role.PEER, Role.ADMIN)

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_hpo_dir: Path
) -> Iterator[tuple[ThreadedServer, dict[Role, str]]]:
    data_dir = tmp_path_factory.mktemp("conformance") / "data"
    settings = Settings(
        data_dir=data_dir,
        hpo_dir_override=shared_hpo_dir,
        rate_limit_failed_auth=0,
        rate_limit_match=0,
    )
    data_dir.mkdir(parents=True)
    with TokenRegistry(settings.database_path) as registry:
        tokens = {role: registry.create(f"{role.value}-client", role) for role in ROLES}
    with ThreadedServer(create_app(settings), **server_options(settings)) as node:
        yield node, tokens


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_answer_conforms_and_none_is_a_server_error(
    case: schemathesis.Case, role: Role, served: tuple[ThreadedServer, dict[Role, str]]
) -> None:
    node, tokens = served
    case.call_and_validate(
        base_url=node.url,
        headers={"X-Auth-Token": tokens[role]},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
    )
