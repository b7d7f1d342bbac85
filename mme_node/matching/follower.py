"""Keeps one process's serving state in step with the node's change log.

Every process that serves matches (each server worker) runs one
:class:`ChangeFollower`. Every :data:`POLL_INTERVAL` seconds it asks the change
log for its highest seq (one indexed lookup, in a worker thread) and, when
that grew, reads the new changes and applies them:

- a patient write (from this process, another worker, or ``mme-node patients
  import`` on the same data dir) goes into the match index of the current
  serving state;
- an erasure (announced by the patient's audit subject only, see
  :mod:`mme_node.stores.changes`) is matched against this process's own keys
  of that owner; the one patient found is brought to what the store holds
  (gone, normally): one row, not a rebuild;
- a release activation starts building the new release's serving state in
  the background; the old state keeps serving and keeps receiving writes,
  which are also queued and replayed on the new state before it is swapped in.

The process's own writes do not wait for a poll: the patient service calls
:meth:`ChangeFollower.catch_up` after each acknowledged write, so a client that
was told "stored" finds its patient in the next match it asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable

from hpo import HPOError, Release
from mme_node.collector import refreeze_when_settled
from mme_node.errors import MMEError
from mme_node.matching.index import PatientKey
from mme_node.matching.matcher import Matcher
from mme_node.matching.snapshot import SAVE_INTERVAL, IndexSnapshots, SnapshotInfo
from mme_node.matching.state import ServingState
from mme_node.model import PatientRecord
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.stores.changes import (
    ChangeBatch,
    ChangeLog,
    ErasureChange,
    PatientChange,
    ReleaseChange,
)

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2
"""Seconds between two looks at the change log: the bound on how stale another process's
write can be here, plus the time to read and apply it (see docs/storage.md)."""

READ_CHUNK = 2000
"""Changes read and applied per step; a bulk import is applied in such steps."""

PRUNE_INTERVAL = 60.0
"""Seconds between two prunings of old patient changes (any follower may do it)."""

Changes = dict[PatientKey, PatientRecord | None]
"""Patient changes collapsed to the latest stored state of each patient."""

ReleaseOpener = Callable[[str], Release]
"""Opens a compiled release by key (``ReleaseLibrary.release``); called in a worker thread."""


class ChangeFollower:
    """Applies the change log to ``matcher``'s serving state, from seq ``applied`` on."""

    def __init__(
        self,
        changes: ChangeLog,
        matcher: Matcher,
        open_release: ReleaseOpener,
        *,
        pseudonyms: Pseudonyms,
        interval: float = POLL_INTERVAL,
        snapshots: IndexSnapshots | None = None,
        save_interval: float = SAVE_INTERVAL,
    ) -> None:
        self.changes = changes
        self.matcher = matcher
        self.open_release = open_release
        self.pseudonyms = pseudonyms
        """Finds an erased patient among this process's keys by its audit subject."""
        self.interval = interval
        self.snapshots = snapshots if matcher.retrieval is None else None
        """Where the index is saved and loaded from; None: always built from the store."""
        self.save_interval = save_interval
        self.applied = 0
        """The highest seq whose change this process has applied."""
        self.reloads = 0
        """Rebuilds from the store after falling behind the pruned changes (each costs
        seconds per 10,000 patients; an erasure no longer causes one)."""
        self._lock = asyncio.Lock()
        self._backlogs: list[list[Changes]] = []
        self._polling: asyncio.Task[None] | None = None
        self._switching: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._last_save = time.monotonic()
        self._deleted_since_save = False

    async def start(self, initial: tuple[ServingState, int] | None = None) -> int:
        """Serve a state, catch up with the log, then follow it; the number of patients.

        ``initial`` is a state valid at a seq (it applied every change up to
        it, from records read at or after it): it is served as is and the
        changes after that seq are applied (a full rebuild if they were pruned
        meanwhile). Without it, the latest snapshot of the serving release is
        that state when there is one (``snapshots``); otherwise the state is
        built from the store (by one process at a time, which saves it for
        the others), and the position is taken *before* the store is read, so
        a write landing during the read is applied again afterwards
        (harmless) rather than lost.
        """
        if initial is None and self.snapshots is not None:
            initial = await self._load_or_build(self.snapshots)
        if initial is None:
            self.applied = await self.changes.latest()
            indexed = await self.matcher.load()
        else:
            state, self.applied = initial
            await self.matcher.follow_release(state.release)
            self.matcher.serving.swap(state)
            indexed = len(state.index)
        await self.catch_up()
        self._polling = asyncio.create_task(self._follow(), name="change follower")
        return indexed

    async def stop(self) -> None:
        """Stop following; save the index if it holds changes no snapshot has."""
        for task in (self._polling, self._switching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._polling = self._switching = None
        if self.snapshots is not None:
            try:
                await self.save_snapshot()
            except (OSError, MMEError) as error:
                log.warning("match index not saved on stop: %s", error)

    async def save_snapshot(self) -> SnapshotInfo | None:
        """Save the serving index, unless the latest snapshot already holds as much.

        Returns what was saved (None if nothing was). One process saves at a
        time; the copy is taken under the state's lock (brief), the writing
        is done without it.
        """
        if self.snapshots is None:
            return None
        snapshots = self.snapshots
        async with _holding(snapshots):
            self._last_save = time.monotonic()
            self._deleted_since_save = False
            state, seq = self.matcher.serving.state, self.applied  # the state holds at least seq
            latest = await asyncio.to_thread(snapshots.latest)
            if latest and latest.seq >= seq and latest.release_key == state.release.info.key:
                return None
            saved = await asyncio.to_thread(snapshots.copy, state, seq)
            info = await asyncio.to_thread(snapshots.save, saved)
        log.info("match index saved: %d patients through change %d", info.patients, info.seq)
        return info

    async def _load_or_build(self, snapshots: IndexSnapshots) -> tuple[ServingState, int] | None:
        """The latest snapshot's state and seq, or None once this process built and saved one."""
        release = self.matcher.serving.release
        consent = self.matcher.serving.default_consent
        loaded = await asyncio.to_thread(snapshots.load, release, consent)
        if loaded is None:
            async with _holding(snapshots):  # another process may be building it: wait
                loaded = await asyncio.to_thread(snapshots.load, release, consent)
                if loaded is None:
                    self.applied = await self.changes.latest()
                    await self.matcher.load()
                    state = self.matcher.serving.state
                    saved = await asyncio.to_thread(snapshots.copy, state, self.applied)
                    await asyncio.to_thread(snapshots.save, saved)
                    return state, self.applied
        state, info = loaded
        await asyncio.to_thread(self.matcher.warm, state)
        log.info("match index loaded: %d patients through change %d", info.patients, info.seq)
        return state, info.seq

    async def patients_changed(self) -> None:
        """The patient service's hook after an acknowledged write: apply it now.

        The write is acknowledged whatever happens here: if the log cannot be
        read now, the next poll applies it.
        """
        try:
            await self.catch_up()
        except MMEError as error:
            log.warning("change feed not applied after a write (next poll will): %s", error)

    async def catch_up(self) -> int:
        """Apply every change committed before this call; returns the seq applied through."""
        async with self._lock:
            while True:
                batch = await self.changes.read(self.applied, READ_CHUNK)
                if batch.missed:
                    await self._reload(batch)
                    continue
                await self._apply(batch)
                self.applied = batch.through
                if len(batch.changes) < READ_CHUNK:
                    return self.applied

    async def switched(self) -> None:
        """Wait until a release switch in progress (if any) has swapped its state in."""
        if self._switching is not None:
            await asyncio.shield(self._switching)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if await self.changes.latest() > self.applied:
                    await self.catch_up()
                await self._prune_now_and_then()
                await self._save_now_and_then()
                refreeze_when_settled()
            except (MMEError, HPOError) as error:
                # The database is busy or failing, or a compiled release cannot be
                # read: keep the state we have and try again at the next poll.
                log.warning("change feed not applied: %s", error)

    async def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_INTERVAL:
            self._last_prune = now
            await self.changes.prune()

    async def _save_now_and_then(self) -> None:
        """Save every ``save_interval`` while changes arrive, at once after a deletion.

        A deleted patient's key must not outlive it in the saved index for long.
        """
        due = time.monotonic() - self._last_save >= self.save_interval
        if self.snapshots is not None and (due or self._deleted_since_save):
            try:
                await self.save_snapshot()
            except OSError as error:
                log.warning("match index not saved: %s", error)

    async def _apply(self, batch: ChangeBatch) -> None:
        pending: Changes = {}
        for change in batch.changes:
            if isinstance(change, PatientChange):
                pending[change.key] = change.record
            elif isinstance(change, ErasureChange):
                pending.update(await self._erased(change))
            else:
                await self._apply_patients(pending)
                pending = {}
                self._start_switch(change)
        await self._apply_patients(pending)

    async def _erased(self, change: ErasureChange) -> Changes:
        """The erased patient's key, if this process indexed it, with what the store holds.

        The store normally holds nothing any more; a patient stored again
        under the same id since is applied as stored.
        """
        if self.matcher.retrieval is not None:
            return {}
        state = self.matcher.serving.state

        def find() -> str | None:
            with state.lock:
                patient_ids = state.index.patient_ids(change.owner)
            return self.pseudonyms.find_subject(change.subject, change.owner, patient_ids)

        patient_id = await asyncio.to_thread(find)
        if patient_id is None:  # never indexed here, or already removed by its deletion
            log.info("change feed: erasure %d applied (the patient was not indexed)", change.seq)
            return {}
        key = (change.owner, patient_id)
        [record] = await self.matcher.store.get_many([key])
        outcome = "the patient left the match index" if record is None else "stored again since"
        log.info("change feed: erasure %d applied (%s)", change.seq, outcome)
        return {key: record}

    async def _apply_patients(self, changes: Changes) -> None:
        if not changes or self.matcher.retrieval is not None:
            return  # a store that is searched on every match keeps nothing in memory
        await asyncio.to_thread(self.matcher.serving.state.apply, changes)
        self._deleted_since_save |= any(record is None for record in changes.values())
        for backlog in self._backlogs:
            backlog.append(changes)

    def _start_switch(self, change: ReleaseChange) -> None:
        """Build the state of the release ``change`` activated; the latest activation wins."""
        if self._switching is not None:
            self._switching.cancel()
            self._switching = None
        if change.release_key == self.matcher.serving.release.info.key:
            return  # already serving it (the activation came from this state, or went back)
        self._switching = asyncio.create_task(self._switch(change), name="release switch")

    async def _switch(self, change: ReleaseChange) -> None:
        backlog: list[Changes] = []
        self._backlogs.append(backlog)
        try:
            release = await asyncio.to_thread(self.open_release, change.release_key)
            state = await self.matcher.build_state(release)
            await self.matcher.follow_release(release)
            async with self._lock:
                await asyncio.to_thread(_replay, state, backlog)
                self.matcher.serving.swap(state)
            log.info("now serving HPO release %s (change %d)", release.version, change.seq)
        except (MMEError, HPOError) as error:
            log.error("HPO release %s not switched to: %s", change.release_version, error)
        finally:
            self._backlogs.remove(backlog)

    async def _reload(self, batch: ChangeBatch) -> None:
        """Changes this process never saw were pruned: rebuild from the store (lock held)."""
        log.warning("change feed: fell behind the pruned changes; reloading every patient")
        self.reloads += 1
        through = await self.changes.latest()
        active = await self.changes.active_release()
        release = self.matcher.serving.release
        if active is not None and active.release_key != release.info.key:
            release = await asyncio.to_thread(self.open_release, active.release_key)
        state = await self.matcher.build_state(release)
        await self.matcher.follow_release(release)
        self.matcher.serving.swap(state)
        self.applied = through


@contextlib.asynccontextmanager
async def _holding(snapshots: IndexSnapshots) -> AsyncIterator[None]:
    """The snapshots' inter-process lock, waited for off the event loop."""
    handle = await asyncio.to_thread(snapshots.acquire)
    try:
        yield
    finally:
        snapshots.release(handle)


def _replay(state: ServingState, backlog: Iterable[Changes]) -> None:
    for changes in backlog:
        state.apply(changes)
