"""Email notifications: tell a patient's contact that a match found something new.

Sent through the SMTP server in the settings (none when ``smtp_host`` is
empty). Sending happens off the event loop and a failure is logged, never
raised: a match must not fail because a mail server is down. Match
notifications go through a :class:`NotificationQueue`, so a match answers
before its emails are sent: a slow mail server must not delay a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote

from mme_node.model import Patient
from mme_node.settings import Settings

log = logging.getLogger(__name__)

QUEUE_CAPACITY = 1000
"""Match notifications that may wait to be sent; one more is logged and dropped."""

DRAIN_SECONDS = 30.0
"""How long a stopping node keeps sending the notifications still waiting; the rest are logged."""


@dataclass(frozen=True, slots=True)
class NewMatch:
    """One new result to report: who matched, how well, and how to reach them."""

    patient_id: str
    score: float
    contact_name: str
    contact_href: str
    peer: str


def contact_address(patient: Patient) -> str | None:
    """The email address to notify: the contact's email, else a ``mailto:`` href."""
    if patient.contact.email:
        return patient.contact.email
    href = patient.contact.href
    if href.lower().startswith("mailto:"):
        return href[len("mailto:") :].split("?")[0] or None
    return None


class Notifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def recipient(self, patient: Patient) -> str | None:
        """The address to email about ``patient``; None for a test patient or nobody to tell."""
        if patient.test or not self.enabled:
            return None
        return contact_address(patient)

    async def notify(self, patient: Patient, direction: str, matches: list[NewMatch]) -> bool:
        """Email the patient's contact about ``matches``; True when a message was sent.

        Nothing is sent for test patients, for an empty list, or when
        notifications are off or the patient has no email address.
        """
        address = self.recipient(patient)
        if not matches or address is None:
            return False
        message = self._message(patient, address, direction, matches)
        return await self._deliver(patient, message, "match notification")

    async def tell_contact(self, patient: Patient, subject: str, lines: list[str]) -> bool:
        """Email the patient's contact a plain message; True when one was sent.

        For notices other than matches (terms not carried over to a new HPO
        release). Same rules as :meth:`notify`: nothing for test patients, or
        when notifications are off or the patient has no email address.
        """
        address = self.recipient(patient)
        if address is None:
            return False
        message = self._envelope(address, f"MME: {subject} ({_label(patient)})")
        message.set_content("\n".join(lines) + "\n")
        return await self._deliver(patient, message, "notice")

    async def _deliver(self, patient: Patient, message: EmailMessage, what: str) -> bool:
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("could not send %s for %s: %s", what, patient.id, error)
            return False
        return True

    def _envelope(self, address: str, subject: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from or f"mme-node@{self.settings.host}"
        message["To"] = address
        message["Subject"] = subject
        return message

    def _message(
        self, patient: Patient, address: str, direction: str, matches: list[NewMatch]
    ) -> EmailMessage:
        label = _label(patient)
        message = self._envelope(address, f"MME: {len(matches)} new match(es) for patient {label}")
        if direction == "inbound":
            intro = f"Your patient {label} was returned as a possible match to a query from:"
        else:
            intro = f"A match request for your patient {label} found new possible matches:"
        lines = [intro, ""]
        for match in matches:
            lines.append(
                f"- {match.patient_id} at {match.peer}, score {match.score:.2f}: "
                f"contact {match.contact_name} <{match.contact_href}>"
            )
        if self.settings.public_url:
            # Links into the web app, which asks a signed-out browser to sign in first.
            app = f"{self.settings.public_url.rstrip('/')}/app"
            lines += [
                "",
                f"Your inbox of new matches: {app}/inbox",
                f"This patient and its match history: {app}/patients/{quote(patient.id, safe='')}",
            ]
        message.set_content("\n".join(lines) + "\n")
        return message

    def _send(self, message: EmailMessage) -> None:
        settings = self.settings
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)


@dataclass(frozen=True, slots=True)
class _Pending:
    patient: Patient
    direction: str
    matches: list[NewMatch]


class NotificationQueue:
    """Match notifications sent in the background, one after another, by one task of the node.

    :meth:`submit` returns at once, so a match answers without waiting for
    the mail server. What was queued is sent even when the node stops
    cleanly: :meth:`close` keeps sending for up to :data:`DRAIN_SECONDS` and
    logs (ERROR) every notification it could not send. A failed email is
    logged (WARNING) and not retried, as before.
    """

    def __init__(self, notifier: Notifier, capacity: int = QUEUE_CAPACITY) -> None:
        self._notifier = notifier
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(capacity)
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    def submit(self, patient: Patient, direction: str, matches: list[NewMatch]) -> bool:
        """Queue an email to the patient's contact about ``matches``; True when queued.

        Nothing is queued when :meth:`Notifier.notify` would send nothing;
        a notification the queue cannot take (full, or the node stopping)
        is logged and dropped.
        """
        if not matches or self._notifier.recipient(patient) is None:
            return False
        if self._closed:
            log.error("match notification for %s not sent: the node is stopping", patient.id)
            return False
        try:
            self._queue.put_nowait(_Pending(patient, direction, matches))
        except asyncio.QueueFull:
            log.error(
                "match notification for %s not sent: %d notifications already wait for the "
                "mail server",
                patient.id,
                self._queue.qsize(),
            )
            return False
        if self._worker is None:
            self._worker = asyncio.create_task(self._send_all(), name="match notifications")
        return True

    async def settled(self) -> None:
        """Wait until every queued notification was sent (or failed and was logged)."""
        await self._queue.join()

    async def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Take no more; send those waiting for ``drain_seconds`` at most and log the rest."""
        self._closed = True
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except TimeoutError:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                log.error(
                    "match notification for %s not sent: the node stopped before the mail "
                    "server took it",
                    pending.patient.id,
                )
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    async def _send_all(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._notifier.notify(pending.patient, pending.direction, pending.matches)
            except Exception:  # one bad notification must not stop the others
                log.exception("could not send match notification for %s", pending.patient.id)
            finally:
                self._queue.task_done()


def _label(patient: Patient) -> str:
    # A label or id may hold line breaks, which a header must not (nor may they inject one).
    return " ".join((patient.label or patient.id).split())
