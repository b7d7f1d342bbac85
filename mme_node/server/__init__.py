"""The HTTP server around the app: uvicorn, with the deadlines and limits it lacks.

See :mod:`mme_node.server.protocol` for what uvicorn enforces by itself and
what this package adds, and ``docs/deployment.md`` for the reverse proxy's part.
"""

from mme_node.server.options import ConnectionLimits, server_options

__all__ = ["ConnectionLimits", "server_options"]
