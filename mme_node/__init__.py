"""mme-node: a Matchmaker Exchange node for rare-disease patient matchmaking."""

__version__ = "0.1.0"
