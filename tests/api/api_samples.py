"""Sample MME patients for the API tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tokens:
    """Tokens of a test node: two submitters, a peer and an admin."""

    submitter: str
    other_submitter: str
    peer: str
    admin: str


def patient_json(patient_id: str = "P1", **changes: object) -> dict[str, object]:
    """A small valid MME patient; ``changes`` replace top-level fields."""
    patient: dict[str, object] = {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": "mailto:dr.example@example.org"},
        "features": [
            {"id": "HP:0001250", "observed": "yes"},
            {"id": "HP:0001263"},
            {"id": "HP:0000252", "observed": "no"},
        ],
        "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
    }
    patient.update(changes)
    return patient


def our_ids(client: Any, shown_ids: Iterable[str], caller: str = "peer-node") -> list[str]:
    """Our patient ids behind the pseudonyms a peer (by token name) was shown, in order.

    Recomputes the pseudonym of every stored patient for that caller with the
    node's key; an id that is no pseudonym of ours stays as it is.
    """
    node = client.app.state.node
    with sqlite3.connect(node.settings.database_path) as database:
        stored = database.execute("SELECT owner, patient_id FROM patients").fetchall()
    ours = {node.sharing.pseudonyms.pseudonym(caller, owner, pid): pid for owner, pid in stored}
    return [ours.get(shown, shown) for shown in shown_ids]
