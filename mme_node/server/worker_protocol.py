"""The guarded protocol as uvicorn's worker processes import it: by name.

``mme-node serve --workers N`` hands uvicorn's supervisor a config that each
worker process receives pickled, so the protocol must be named by its import
path (a class made at run time cannot be pickled) and its limits cannot travel
with it. A worker imports this module, which builds them from the node's
settings; those reach the worker as ``MME_*`` variables, as the app's do
(:func:`mme_node.app.app_from_environment`).
"""

from __future__ import annotations

from mme_node.server.options import ConnectionLimits, raise_descriptor_limit
from mme_node.server.protocol import guarded_protocol
from mme_node.settings import load_settings

WorkerProtocol = guarded_protocol(
    ConnectionLimits.from_settings(load_settings(), raise_descriptor_limit())
)
