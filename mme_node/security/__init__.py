"""Who may call the node and what they may see: client tokens and roles."""

from mme_node.security.tokens import Client, Role, TokenRegistry

__all__ = ["Client", "Role", "TokenRegistry"]
