"""A real SMTP server on 127.0.0.1 that keeps every message it is given, for notification tests.

It runs aiosmtpd in a background thread. A message is stored before the
server acknowledges it, so once the sender's ``send_message`` has returned
the message is in :attr:`MailSink.messages`. Nodes send their match
notifications in the background: :meth:`MailSink.wait_for` waits for them.
:meth:`MailSink.slow` makes it a slow mail server that holds every message
until the test lets it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


class _Keeper:
    """The aiosmtpd handler: parse and keep each delivered message."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        sink = self.sink
        if not sink.open.is_set():
            sink.holding.set()
            # A slow server: the sender waits for "250" until the test opens the gate.
            await asyncio.get_running_loop().run_in_executor(None, sink.open.wait, 60)
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink.lock:
            self.sink.envelope_recipients.append(list(envelope.rcpt_tos))
            self.sink.messages.append(message)
            self.sink.arrived.notify_all()
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on a free port of 127.0.0.1; ``logins`` records AUTH attempts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.open = threading.Event()
        self.open.set()
        self.holding = threading.Event()
        """Set when a slow server holds a message unanswered."""
        self.messages: list[EmailMessage] = []
        self.envelope_recipients: list[list[str]] = []
        self.logins: list[tuple[str, str]] = []
        self.port = free_port()
        self._controller = Controller(
            _Keeper(self),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @contextlib.contextmanager
    def slow(self) -> Iterator[threading.Event]:
        """Hold every message unanswered until the event yielded is set (at the latest on exit)."""
        self.holding.clear()
        self.open.clear()
        try:
            yield self.open
        finally:
            self.open.set()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """The messages once there are at least ``count`` (all there are after ``timeout`` s)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelope_recipients.clear()
            self.logins.clear()

    def sent_to(self, address: str) -> list[EmailMessage]:
        """The messages whose ``To`` header is ``address``, oldest first."""
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        with self.lock:
            self.logins.append(login)
        return AuthResult(success=True)


def body_of(message: EmailMessage) -> str:
    """The plain-text body of a notification."""
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
