"""The Notifier against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mme_node.model import Contact, Feature, Patient
from mme_node.services.notifications import (
    NewMatch,
    NotificationQueue,
    Notifier,
    contact_address,
)
from mme_node.settings import Settings
from tests.federation.mail_sink import MailSink, body_of, free_port


@pytest.fixture
def settings(mail: MailSink) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        smtp_from="mme@node.example.org",
        public_url="https://mme.example.org/",
    )


def patient(
    patient_id: str = "P1",
    *,
    href: str = "https://clinic.example.org/dr-who",
    email: str | None = "dr.who@example.org",
    label: str | None = None,
    test: bool = False,
) -> Patient:
    return Patient(
        id=patient_id,
        label=label,
        contact=Contact(name="Dr Who", href=href, email=email),
        features=(Feature("HP:0001250"),),
        test=test,
    )


REMOTE = NewMatch(
    patient_id="remote-7",
    score=0.8312,
    contact_name="Dr Remote",
    contact_href="mailto:remote@example.org",
    peer="node-b",
)


def notify(
    settings: Settings, about: Patient, matches: list[NewMatch], direction: str = "outbound"
) -> bool:
    return asyncio.run(Notifier(settings).notify(about, direction, matches))


def test_contact_address_prefers_the_contacts_email() -> None:
    assert contact_address(patient(href="mailto:other@example.org")) == "dr.who@example.org"


def test_contact_address_falls_back_to_a_mailto_href_without_its_query() -> None:
    chosen = patient(href="mailto:dr.who@example.org?subject=MME", email=None)
    assert contact_address(chosen) == "dr.who@example.org"


def test_contact_address_is_none_for_a_web_page_href() -> None:
    assert contact_address(patient(email=None)) is None


def test_notify_emails_the_contact_about_each_new_match(settings: Settings, mail: MailSink) -> None:
    second = NewMatch("remote-9", 0.5, "Dr Other", "https://c.example.org/x", "node-c")
    assert notify(settings, patient(), [REMOTE, second]) is True
    (message,) = mail.messages
    assert (message["From"], message["To"]) == ("mme@node.example.org", "dr.who@example.org")
    assert mail.envelope_recipients == [["dr.who@example.org"]]
    assert message["Subject"] == "MME: 2 new match(es) for patient P1"
    body = body_of(message)
    assert "- remote-7 at node-b, score 0.83: contact Dr Remote <mailto:remote@example.org>" in body
    assert "- remote-9 at node-c, score 0.50: contact Dr Other <https://c.example.org/x>" in body


def test_notify_names_the_patient_by_its_label(settings: Settings, mail: MailSink) -> None:
    notify(settings, patient(label="twin A"), [REMOTE])
    assert mail.messages[0]["Subject"] == "MME: 1 new match(es) for patient twin A"


def test_outbound_notification_says_a_match_request_found_new_matches(
    settings: Settings, mail: MailSink
) -> None:
    notify(settings, patient(), [REMOTE], "outbound")
    assert "A match request for your patient P1 found new possible matches" in body_of(
        mail.messages[0]
    )


def test_inbound_notification_says_the_patient_was_returned_to_a_query(
    settings: Settings, mail: MailSink
) -> None:
    notify(settings, patient(), [REMOTE], "inbound")
    assert "Your patient P1 was returned as a possible match to a query from" in body_of(
        mail.messages[0]
    )


def test_notify_links_to_the_inbox_and_the_patients_page(
    settings: Settings, mail: MailSink
) -> None:
    notify(settings, patient("case 7/b"), [REMOTE])
    body = body_of(mail.messages[0])
    assert "https://mme.example.org/app/inbox" in body
    assert "https://mme.example.org/app/patients/case%207%2Fb" in body


def test_notify_gives_no_link_without_a_public_url(settings: Settings, mail: MailSink) -> None:
    notify(settings.replace(public_url=""), patient(), [REMOTE])
    assert "/app/" not in body_of(mail.messages[0])


def test_notify_writes_to_a_mailto_href_when_the_contact_has_no_email(
    settings: Settings, mail: MailSink
) -> None:
    notify(settings, patient(href="mailto:desk@clinic.example.org", email=None), [REMOTE])
    assert [m["To"] for m in mail.messages] == ["desk@clinic.example.org"]


@pytest.mark.parametrize(
    ("about", "matches"),
    [
        pytest.param(patient(test=True), [REMOTE], id="test patient"),
        pytest.param(patient(), [], id="nothing new"),
        pytest.param(patient(email=None), [REMOTE], id="no email address"),
    ],
)
def test_notify_sends_nothing(
    settings: Settings, mail: MailSink, about: Patient, matches: list[NewMatch]
) -> None:
    assert notify(settings, about, matches) is False
    assert mail.messages == []


def test_notify_sends_nothing_when_no_smtp_host_is_set(settings: Settings, mail: MailSink) -> None:
    assert notify(settings.replace(smtp_host=""), patient(), [REMOTE]) is False
    assert mail.messages == []


def test_notify_logs_and_returns_false_when_the_smtp_server_is_down(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mme_node.services.notifications"):
        assert notify(settings.replace(smtp_port=free_port()), patient(), [REMOTE]) is False
    assert "could not send match notification for P1" in caplog.text


def test_notify_survives_a_label_with_a_line_break(settings: Settings, mail: MailSink) -> None:
    assert notify(settings, patient(label="twin A\nBcc: someone@example.org"), [REMOTE]) is True
    (message,) = mail.messages
    assert message["Bcc"] is None
    assert mail.envelope_recipients == [["dr.who@example.org"]]
    assert "twin A" in message["Subject"]


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_notify_logs_in_with_the_configured_username_and_password(
    settings: Settings, mail: MailSink
) -> None:
    with_login = settings.replace(smtp_username="mme-node", smtp_password="not-a-real-secret")
    assert notify(with_login, patient(), [REMOTE]) is True
    assert mail.logins == [("mme-node", "not-a-real-secret")]


# ---------------------------------------------------------------- the queue


def test_the_queue_sends_in_the_background_and_a_stopping_node_sends_what_waits(
    settings: Settings, mail: MailSink
) -> None:
    async def scenario() -> None:
        queue = NotificationQueue(Notifier(settings))
        with mail.slow() as let_go:
            assert queue.submit(patient("P1"), "outbound", [REMOTE])
            assert queue.submit(patient("P2", email="dr.two@example.org"), "inbound", [REMOTE])
            closing = asyncio.create_task(queue.close())
            await asyncio.sleep(0)  # the node is stopping, the mail server holds the first
            assert not closing.done()
            let_go.set()
            await closing
        assert [m["To"] for m in mail.messages] == ["dr.who@example.org", "dr.two@example.org"]

    asyncio.run(scenario())


def test_notifications_left_when_the_drain_ends_are_logged(
    settings: Settings, mail: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        queue = NotificationQueue(Notifier(settings))
        with mail.slow():
            queue.submit(patient("P1"), "outbound", [REMOTE])
            queue.submit(patient("P2"), "outbound", [REMOTE])
            await queue.close(drain_seconds=0.1)
        assert not queue.submit(patient("P3"), "outbound", [REMOTE])

    with caplog.at_level(logging.ERROR, logger="mme_node.services.notifications"):
        asyncio.run(scenario())
    assert "match notification for P2 not sent: the node stopped" in caplog.text
    assert "match notification for P3 not sent: the node is stopping" in caplog.text


def test_the_queue_takes_nothing_that_would_send_nothing(settings: Settings) -> None:
    queue = NotificationQueue(Notifier(settings))
    assert not queue.submit(patient(test=True), "outbound", [REMOTE])
    assert not queue.submit(patient(), "outbound", [])
    assert not queue.submit(patient(email=None), "outbound", [REMOTE])


def test_a_full_queue_logs_the_notification_it_drops(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        queue = NotificationQueue(Notifier(settings), capacity=1)
        assert queue.submit(patient("P1"), "outbound", [REMOTE])
        assert not queue.submit(patient("P2"), "outbound", [REMOTE])
        await queue.close()

    with caplog.at_level(logging.ERROR, logger="mme_node.services.notifications"):
        asyncio.run(scenario())
    assert "match notification for P2 not sent: 1 notifications already wait" in caplog.text
