"""The admin page: the node's clients, peers, HPO releases and store, at a glance.

Read-only: changes are made with the ``mme-node`` command line and the admin
API, whose services this page reads.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from hpo import ReleaseLibrary
from mme_node.web.pages import Call, signed_in


@signed_in(admin=True)
async def show_admin(call: Call) -> Response:
    node = call.node
    health = await node.store.health()
    return await call.render(
        "admin.html",
        {
            "clients": node.tokens.list(),
            "peers": node.matches.peers.list(),
            "active_release": node.release.version,
            "releases": await asyncio.to_thread(ReleaseLibrary(node.settings.hpo_dir).list),
            "store": health,
            "patient_count": await node.store.count(),
        },
    )
