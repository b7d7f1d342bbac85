"""Command groups of the ``mme-node`` CLI.

Each module exposes ``register(groups)`` that adds its sub-parser to the
top-level ``argparse`` sub-parsers and sets ``handler`` (a function of the
parsed arguments and :class:`~mme_node.settings.Settings` returning an exit
code) on every leaf command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from mme_node.commands import audit, backup, doctor, history, hpo, patients, peers, serve, tokens

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

COMMAND_GROUPS: tuple[Registrar, ...] = (
    serve.register,
    doctor.register,
    hpo.register,
    patients.register,
    tokens.register,
    peers.register,
    backup.register,
    history.register,
    audit.register,
)
