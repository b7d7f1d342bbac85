"""The node's canonical vocabulary: HGNC genes, and patients brought to primary HPO ids."""
