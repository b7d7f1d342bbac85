"""The ``store`` fixture: every contract test runs once per store implementation.

SQLite always runs, on a real file in ``tmp_path``. Elasticsearch runs when
``ELASTICSEARCH_URL`` points at a server (each test gets its own indexes,
dropped afterwards), and is reported as skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mme_node.stores import PatientStore, SQLitePatientStore

ELASTICSEARCH_SKIP_REASON = "ELASTICSEARCH_URL not set: Elasticsearch contract tests skipped"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "elasticsearch",
            marks=pytest.mark.skipif(
                not os.environ.get("ELASTICSEARCH_URL"), reason=ELASTICSEARCH_SKIP_REASON
            ),
        ),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PatientStore]:
    """An open, empty store of the parametrised kind, closed (and dropped) after the test."""
    if request.param == "sqlite":
        sqlite = SQLitePatientStore(tmp_path / "data" / "mme-node.sqlite3", batch_size=7)
        await sqlite.open()
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    from mme_node.stores.elastic import ElasticsearchPatientStore

    elastic = ElasticsearchPatientStore(
        url=os.environ["ELASTICSEARCH_URL"], index_prefix=f"mme-test-{uuid.uuid4().hex[:12]}"
    )
    await elastic.open()
    try:
        yield elastic
    finally:
        drop = getattr(elastic, "drop", None)
        if drop is not None:
            await drop()
        await elastic.close()
