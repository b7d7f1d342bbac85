"""What a request works with from start to end: one HPO release and the index built with it.

A :class:`ServingState` never changes its release; its index changes only
under its lock, when the change follower applies patient writes. A release
switch builds a whole new state off the event loop and swaps the
:class:`Serving` reference in one assignment: a request reads
``serving.state`` once when it starts and keeps that state to its end, so
requests in flight finish on the old release while new ones start on the new.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hpo import Release
from mme_node.collector import thaw
from mme_node.matching.index import MatchIndex, PatientKey
from mme_node.model import Consent, PatientRecord
from mme_node.security.consent import SHIPPED_DEFAULT_CONSENT
from mme_node.vocabulary.normalise import derive_record


@dataclass(frozen=True, eq=False)
class ServingState:
    """An HPO release and the in-memory match index of every patient, derived with it.

    On a store that retrieves candidates itself (Elasticsearch) the index
    stays empty and the state is just the release.
    """

    release: Release
    index: MatchIndex
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def empty(
        cls, release: Release, default_consent: Consent = SHIPPED_DEFAULT_CONSENT
    ) -> ServingState:
        """No patient yet; patients stored without consent will follow ``default_consent``."""
        return cls(release, MatchIndex(release.ontology, default_consent))

    def derived(self, record: PatientRecord) -> PatientRecord:
        """``record`` with its terms derived with this state's release.

        A stored record is derived with the release it names; one written by a
        process on another release (during a switch) is derived again here,
        from the submitted ids it keeps.
        """
        return derive_record(record, self.release)

    def add(self, records: Iterable[PatientRecord]) -> None:
        """Index ``records`` (blocking: call it from a worker thread)."""
        with self.lock:
            for record in records:
                self.index.add(self.derived(record))

    def apply(self, changes: Mapping[PatientKey, PatientRecord | None]) -> None:
        """Bring the index to the stored state of each key (None: the patient is gone)."""
        with self.lock:
            for key, record in changes.items():
                if record is None:
                    self.index.remove(key)
                else:
                    self.index.add(self.derived(record))


class Serving:
    """The node's current :class:`ServingState`, replaced whole on a release switch."""

    def __init__(self, state: ServingState) -> None:
        self._state = state

    @classmethod
    def of(cls, release: Release, default_consent: Consent = SHIPPED_DEFAULT_CONSENT) -> Serving:
        """A serving holder of ``release`` with an empty index (fill it with ``Matcher.load``).

        ``default_consent`` is the node's default, for patients stored without one.
        """
        return cls(ServingState.empty(release, default_consent))

    @property
    def state(self) -> ServingState:
        """Read it once per request: a later read may return a newer state."""
        return self._state

    @property
    def release(self) -> Release:
        return self._state.release

    @property
    def default_consent(self) -> Consent:
        """The consent of patients stored without one; every state built keeps it."""
        return self._state.index.default_consent

    def swap(self, state: ServingState) -> ServingState:
        """Make ``state`` current (one reference assignment); returns the previous one.

        The previous state is long-lived garbage once requests let go of it: a
        serving process that froze its start-up heap thaws it (:func:`thaw`).
        """
        previous, self._state = self._state, state
        thaw()
        return previous
