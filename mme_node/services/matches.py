"""The match service: inbound, local and outbound matches, recorded and notified.

This is where a match becomes more than a ranking: what each recipient may
see is decided by the :class:`~mme_node.security.policy.SharingPolicy` (who may
be matched for it, at what level, under which pseudonym), every match is
written to the :class:`~mme_node.services.history.MatchHistory`, and the
contact of a real patient hears about results that are new for that patient.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import httpx

from mme_node.errors import InvalidPatient, InvalidRequest, NotFound
from mme_node.matching.explain import explain
from mme_node.matching.matcher import Matcher
from mme_node.model import Explanation, MatchResult, Patient, PatientRecord
from mme_node.peers import (
    CircuitBreaker,
    Peer,
    PeerError,
    PeerOutcome,
    PeerRegistry,
    match_peers,
)
from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.security.disclosure import Disclosure, OutboundQuery, Recipient, shows_anything
from mme_node.security.policy import SharingPolicy
from mme_node.services.history import MatchHistory, RecordedMatch, RecordedResult
from mme_node.services.notifications import NewMatch, NotificationQueue
from mme_node.services.patients import PatientService
from mme_node.settings import Settings

T = TypeVar("T")

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
    notifications: NotificationQueue
    sharing: SharingPolicy
    audit: AuditLog

    async def inbound(
        self, caller: str, query: Patient, answer: Callable[[list[Disclosure]], T]
    ) -> T:
        """Answer ``/match`` from ``caller``'s token: our best patients it may see, as it may.

        Only patients whose consent reaches the caller are scored, each shown
        at the lesser of its consent and the caller's policy, under the
        caller's pseudonym; recorded, and their contacts told. ``answer``
        makes the response from what is shown once the history and the audit
        are handed to their worker thread to be written: it is returned once
        they are on disk, never before, and a failure to write them is raised
        instead. (The two hardly overlap: the thread needs the GIL, which the
        loop holds while ``answer`` runs; docs/serving.md.)
        """
        recipient = self.sharing.caller(caller)
        limit = self.settings.max_results
        # A query that may be our patient sent back under its pseudonym asks for one more.
        echo = self.sharing.pseudonyms.could_be(query.id)
        results = await self.matcher.match(
            query,
            limit=limit + 1 if echo else limit,
            min_score=self.settings.min_score,
            scope=recipient.scope,
        )
        if echo:
            results = [r for r in results if not self._echoes(query, r, recipient)][:limit]
        disclosures = [self.sharing.disclose(result, recipient) for result in results]
        now = _now()
        recording = asyncio.create_task(
            self.history.record(
                RecordedMatch(
                    direction="inbound",
                    peer=recipient.name,
                    created=now,
                    query_patient_id=query.id,
                    test=query.test,
                    results=tuple(_recorded_result(shown) for shown in disclosures),
                    query_contact=query.contact,
                ),
                audit=[self._disclosed(shown, caller, now) for shown in disclosures],
            )
        )
        try:
            await asyncio.sleep(0)  # the write starts in its thread
            answered = answer(disclosures)
        finally:
            # Whatever happened meanwhile: what is recorded is also told.
            recorded = await recording
            self._tell_contacts(query, recipient, disclosures, recorded)
        return answered

    def _tell_contacts(
        self,
        query: Patient,
        recipient: Recipient,
        disclosures: list[Disclosure],
        recorded: RecordedMatch,
    ) -> None:
        """Tell the contacts of our patients that ``query`` found them, where that is new."""
        for shown, entry in zip(disclosures, recorded.results, strict=True):
            if entry.new and self._worth_telling(shown.result.score):
                about_query = NewMatch(
                    patient_id=query.id,
                    score=shown.result.score,
                    contact_name=query.contact.name,
                    contact_href=query.contact.href,
                    peer=recipient.name,
                )
                self.notifications.submit(shown.result.record.patient, "inbound", [about_query])

    def _echoes(self, query: Patient, result: MatchResult, recipient: Recipient) -> bool:
        """Whether ``query`` is ``result``'s patient sent back by ``recipient`` under the
        pseudonym we showed it, with its contact.

        The matcher already leaves out a patient queried under its own id and
        contact; a peer only knows ours by pseudonym. The digest is the one
        disclosing the result takes (remembered per process), so this costs
        nothing more, and only queries whose id has a pseudonym's form get here.
        """
        record = result.record
        return record.patient.contact.href == query.contact.href and (
            self.sharing.pseudonyms.pseudonym(recipient.audience, *record.key) == query.id
        )

    async def local(self, owner: str, patient_id: str) -> list[Disclosure]:
        """Match one of ``owner``'s patients against the rest of this node, with explanations.

        Every patient is a candidate (all consents allow this node); other
        owners' patients are shown as their consent allows, under ``owner``'s
        pseudonym.
        """
        record = await self.patients.get(owner, patient_id)
        results = await self.matcher.match(
            record.patient,
            limit=self.settings.max_results,
            min_score=self.settings.min_score,
            exclude=record.key,
            with_explanations=True,
        )
        recipient = self.sharing.submitter(owner)
        disclosures = [self.sharing.disclose(result, recipient) for result in results]
        now = _now()
        others = [shown for shown in disclosures if shown.result.record.owner != owner]
        await self.history.record(
            RecordedMatch(
                direction="local",
                peer=LOCAL_PEER,
                created=now,
                owner=owner,
                patient_id=patient_id,
                query_patient_id=patient_id,
                test=record.patient.test,
                results=tuple(_recorded_result(shown) for shown in disclosures),
            ),
            audit=[self._disclosed(shown, owner, now) for shown in others],
        )
        return disclosures

    def _disclosed(self, shown: Disclosure, actor: str, time: datetime.datetime) -> AuditEntry:
        """The audit entry of one of our patients shown to someone."""
        record = shown.result.record
        return AuditEntry(
            AuditEvent.DISCLOSURE,
            time,
            actor=actor,
            recipient=shown.recipient.audience,
            subject=self.sharing.pseudonyms.subject(*record.key),
            pseudonym=shown.shown_as,
            level=shown.level.value,
            score=shown.result.score,
            test=record.patient.test,
        )

    async def external(
        self, owner: str, patient_id: str, peer_names: Sequence[str] | None = None
    ) -> list[PeerOutcome]:
        """Send one of ``owner``'s patients to peers (all enabled ones by default).

        Each peer is sent the patient as its policy and the patient's consent
        allow, under its own pseudonym; a peer the consent does not reach is
        not asked (its outcome says so). Every peer's results and errors are
        recorded, all in one transaction; the patient's contact is told about
        results no earlier match with that peer returned.
        """
        record = await self.patients.get(owner, patient_id)
        peers = self._eligible(peer_names)
        queries, refused = self._queries(record, peers)
        # Sending is the disclosure: its entries are on disk before anything leaves.
        await self.audit.record(*(self._sent(record, query, owner) for _, query in queries))
        asked = await match_peers(
            [peer for peer, _ in queries],
            client=self.http,
            breaker=self.breaker,
            shown={peer.name: query.patient for peer, query in queries},
        )
        sent = {peer.name: query for peer, query in queries}
        by_peer = {outcome.peer: outcome for outcome in asked + refused}
        outcomes = [by_peer[peer.name] for peer in peers]
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
                    shown_as=sent[outcome.peer].shown_as if outcome.peer in sent else None,
                    disclosure=sent[outcome.peer].level if outcome.peer in sent else None,
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
        self.notifications.submit(record.patient, "outbound", new_matches)
        return outcomes

    def _sent(self, record: PatientRecord, query: OutboundQuery, actor: str) -> AuditEntry:
        """The audit entry of our request about ``record`` to one peer."""
        return AuditEntry(
            AuditEvent.OUTBOUND_REQUEST,
            actor=actor,
            recipient=query.recipient.audience,
            subject=self.sharing.pseudonyms.subject(*record.key),
            pseudonym=query.shown_as,
            level=query.level.value,
            test=record.patient.test,
        )

    def _worth_telling(self, score: float) -> bool:
        """Whether a new result is good enough to email about (``notify_min_score``).

        Every result is recorded and shown in the history whatever its score;
        only the email waits for a score a clinician would follow up.
        """
        return score >= self.settings.notify_min_score

    def _queries(
        self, record: PatientRecord, peers: Sequence[Peer]
    ) -> tuple[list[tuple[Peer, OutboundQuery]], list[PeerOutcome]]:
        """What to send each peer the patient's consent reaches; an outcome for each other."""
        queries = []
        refused = []
        for peer in peers:
            recipient = self.sharing.peer(peer)
            query = self.sharing.outbound_query(record, recipient)
            if not self.sharing.may_see(recipient, record):
                country = peer.country or "unknown"
                why = f"the patient's consent does not cover this peer (country {country})"
            elif not shows_anything(query.patient):
                why = (
                    f"at the level this peer may be shown ({query.level}) nothing is left to match"
                )
            else:
                queries.append((peer, query))
                continue
            refused.append(
                PeerOutcome(peer.name, error=PeerError("not-shared", f"not asked: {why}"))
            )
        return queries, refused

    def explain_remote(self, query: Patient, remote: Patient) -> Explanation | None:
        """Why a peer's patient matched ours, in the terms of a local match's explanation.

        The peer's patient is normalised leniently (terms and genes this node
        does not know are left out); None when nothing of it is known here.
        """
        try:
            normalised, _ = self.patients.normalise_query(remote)
        except InvalidPatient:
            return None
        return explain(self.matcher.release, query, normalised)

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


def _recorded_result(shown: Disclosure) -> RecordedResult:
    """How the history keeps one of our patients shown to a recipient: both ids, the level."""
    record = shown.result.record
    return RecordedResult(
        shown.result.score,
        record.patient.id,
        record.owner,
        shown_as=shown.shown_as,
        disclosure=shown.level,
    )
