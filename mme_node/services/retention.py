"""Retention: match history older than ``history_retention_days`` is erased, the audit kept.

A serving node purges once at start-up and then every :data:`PURGE_INTERVAL`;
``mme-node history purge`` does it by hand. 0 days keeps the history for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mme_node.periodic import Periodic
from mme_node.services.history import MatchHistory

PURGE_INTERVAL = 6 * 3600.0
"""Seconds between purges of a serving node."""

log = logging.getLogger(__name__)


@dataclass
class Retention:
    history: MatchHistory
    days: int
    _rounds: Periodic | None = field(default=None, repr=False)

    async def purge(
        self, actor: str = "node", now: datetime | None = None, days: int | None = None
    ) -> int:
        """Erase the matches older than ``days`` (default: the setting); how many went."""
        days = self.days if days is None else days
        if days <= 0:
            return 0
        before = (now or datetime.now(UTC)) - timedelta(days=days)
        purged = await self.history.purge(before, actor)
        if purged:
            log.info("retention: %d matches older than %d days erased", purged, days)
        return purged

    def start(self) -> None:
        """Purge now and every :data:`PURGE_INTERVAL` in the background, until :meth:`stop`."""
        if self.days > 0 and self._rounds is None:
            self._rounds = Periodic("history retention", self._purge_round, PURGE_INTERVAL)
            self._rounds.start()

    async def stop(self) -> None:
        rounds, self._rounds = self._rounds, None
        if rounds is not None:
            await rounds.stop()

    async def _purge_round(self) -> bool:
        await self.purge()
        return False
