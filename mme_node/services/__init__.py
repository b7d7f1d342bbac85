"""The node's services: what happens to patients and matches, between the API and the stores."""
