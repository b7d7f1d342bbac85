"""The match history as stored rows, read with plain SQL: for erasure and retention tests.

A page of a patient's history shows what its submitter may see, so it could
hide a row that an erasure or a purge left behind; these rows hide nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def stored_matches(path: Path) -> list[tuple[str, list[str]]]:
    """Every stored match, oldest first: its query patient and its results' patient ids."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        requests = db.execute("SELECT pk, query_patient_id FROM match_requests ORDER BY pk")
        return [
            (
                query,
                [
                    patient_id
                    for (patient_id,) in db.execute(
                        "SELECT patient_id FROM match_results WHERE request_pk = ? ORDER BY rank",
                        (pk,),
                    )
                ],
            )
            for pk, query in requests.fetchall()
        ]


def stored_result_count(path: Path) -> int:
    """How many result rows the file holds, whatever match they belong to."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (count,) = db.execute("SELECT count(*) FROM match_results").fetchone()
    return int(count)


def filed_as_stored(path: Path) -> bool:
    """Whether the results filed by patient are exactly the stored results of our patients
    at or below the mark: none missing, none left behind by a deletion."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        filed = set(
            db.execute("SELECT owner, patient_id, request_pk, rank FROM match_results_filed")
        )
        stored = set(
            db.execute(
                "SELECT owner, patient_id, request_pk, rank FROM match_results"
                " WHERE owner IS NOT NULL AND request_pk <="
                " (SELECT upto FROM filing_marks WHERE name = 'match_results')"
            )
        )
    return filed == stored
