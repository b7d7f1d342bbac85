"""The match service: inbound, local and outbound matches, recorded and notified.

This is where a match becomes more than a ranking: every match is written
to the :class:`~mme_node.services.history.MatchHistory`, and the contact of a real
patient hears about results that are new for that patient.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from mme_node.errors import InvalidRequest, NotFound
from mme_node.matching.matcher import Matcher
from mme_node.model import MatchResult, Patient
from mme_node.peers import CircuitBreaker, Peer, PeerOutcome, PeerRegistry, match_peers
from mme_node.services.history import MatchHistory, RecordedMatch, RecordedResult
from mme_node.services.notifications import NewMatch, Notifier
from mme_node.services.patients import PatientService
from mme_node.settings import Settings

LOCAL_PEER = "local"
"""The peer name recorded for a submitter's match against this node's own patients."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class MatchService:
    settings: Settings
    matcher: Matcher
    patients: PatientService
    history: MatchHistory
    peers: PeerRegistry
    http: httpx.AsyncClient
    breaker: CircuitBreaker
    notifier: Notifier

    async def inbound(self, peer: str, query: Patient) -> list[MatchResult]:
        """Answer a peer's ``/match``: our best patients, recorded, their contacts told."""
        results = await self.matcher.match(
            query, limit=self.settings.max_results, min_score=self.settings.min_score
        )
        recorded = await self.history.record(
            RecordedMatch(
                direction="inbound",
                peer=peer,
                created=_now(),
                query_patient_id=query.id,
                test=query.test,
                results=tuple(
                    RecordedResult(r.score, r.record.patient.id, r.record.owner) for r in results
                ),
                query_contact=query.contact,
            )
        )
        for result, entry in zip(results, recorded.results, strict=True):
            if entry.new and self._worth_telling(result.score):
                about_query = NewMatch(
                    patient_id=query.id,
                    score=result.score,
                    contact_name=query.contact.name,
                    contact_href=query.contact.href,
                    peer=peer,
                )
                await self.notifier.notify(result.record.patient, "inbound", [about_query])
        return results

    async def local(self, owner: str, patient_id: str) -> list[MatchResult]:
        """Match one of ``owner``'s patients against the rest of this node, with explanations."""
        record = await self.patients.get(owner, patient_id)
        results = await self.matcher.match(
            record.patient,
            limit=self.settings.max_results,
            min_score=self.settings.min_score,
            exclude=record.key,
            with_explanations=True,
        )
        await self.history.record(
            RecordedMatch(
                direction="local",
                peer=LOCAL_PEER,
                created=_now(),
                owner=owner,
                patient_id=patient_id,
                query_patient_id=patient_id,
                test=record.patient.test,
                results=tuple(
                    RecordedResult(r.score, r.record.patient.id, r.record.owner) for r in results
                ),
            )
        )
        return results

    async def external(
        self, owner: str, patient_id: str, peer_names: Sequence[str] | None = None
    ) -> list[PeerOutcome]:
        """Send one of ``owner``'s patients to peers (all enabled ones by default).

        Every peer's results and errors are recorded, all in one transaction;
        the patient's contact is told about results no earlier match with that
        peer returned.
        """
        record = await self.patients.get(owner, patient_id)
        peers = self._eligible(peer_names)
        outcomes = await match_peers(record.patient, peers, client=self.http, breaker=self.breaker)
        recorded = await self.history.record_many(
            [
                RecordedMatch(
                    direction="outbound",
                    peer=outcome.peer,
                    created=_now(),
                    owner=owner,
                    patient_id=patient_id,
                    query_patient_id=patient_id,
                    test=record.patient.test,
                    status=outcome.status,
                    error_kind=outcome.error.kind if outcome.error else None,
                    error_message=outcome.error.message if outcome.error else None,
                    results=tuple(
                        RecordedResult(
                            m.score,
                            m.patient.id,
                            None,
                            json.dumps(m.raw["patient"], ensure_ascii=False),
                        )
                        for m in outcome.results
                    ),
                )
                for outcome in outcomes
            ]
        )
        new_matches = [
            NewMatch(
                patient_id=remote.patient.id,
                score=remote.score,
                contact_name=remote.patient.contact.name,
                contact_href=remote.patient.contact.href,
                peer=outcome.peer,
            )
            for outcome, match in zip(outcomes, recorded, strict=True)
            for result, remote in zip(match.results, outcome.results, strict=True)
            if result.new and self._worth_telling(remote.score)
        ]
        await self.notifier.notify(record.patient, "outbound", new_matches)
        return outcomes

    def _worth_telling(self, score: float) -> bool:
        """Whether a new result is good enough to email about (``notify_min_score``).

        Every result is recorded and shown in the history whatever its score;
        only the email waits for a score a clinician would follow up.
        """
        return score >= self.settings.notify_min_score

    def _eligible(self, names: Sequence[str] | None) -> list[Peer]:
        if names is None:
            return list(self.peers.enabled())
        chosen = []
        for name in dict.fromkeys(names):
            try:
                peer = self.peers.get(name)
            except NotFound as error:
                # The patient in the URL exists: an unknown peer in the body is a bad request.
                raise InvalidRequest(f"{error.message}; see `mme-node peers list`") from error
            if not peer.enabled:
                raise InvalidRequest(f"peer {name!r} is disabled; enable it or leave it out")
            chosen.append(peer)
        return chosen
