"""The docker/ files agree with the node and with Elasticsearch (they never run in these tests).

No container can run here, so what can be checked without one is: the image's
health check asks a path the node answers without a token, and compose lets
Elasticsearch lock its heap exactly where it asks to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_the_image_health_check_asks_a_path_answered_without_a_token(client: TestClient) -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    check = re.search(r"^HEALTHCHECK .*?CMD (.*)$", dockerfile, re.MULTILINE | re.DOTALL)
    assert check is not None, "the image has no HEALTHCHECK"
    asked = re.search(r"http://127\.0\.0\.1:%s(/[\w/]*)", check.group(1))
    assert asked is not None, "the health check asks no local URL"

    answer = client.get(asked.group(1))

    assert answer.status_code == 200


def test_compose_locks_the_elasticsearch_heap_only_with_a_memlock_limit_to_allow_it() -> None:
    yaml: Any = pytest.importorskip("yaml")
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    asking = {
        name
        for name, service in services.items()
        if str(service.get("environment", {}).get("bootstrap.memory_lock")).lower() == "true"
    }
    allowed = {
        name
        for name, service in services.items()
        if service.get("ulimits", {}).get("memlock", {}) == {"soft": -1, "hard": -1}
    }
    assert asking == allowed == {"elasticsearch"}
