"""The document formats the node reads and writes: MME JSON (marshmallow) and Phenopacket v2."""
