"""E-mail of the outbox over real SMTP: a client letter with a Russian subject, body and a
Cyrillic-named file goes through an aiosmtpd server on loopback and arrives intact, with the
same Message-ID on every attempt; a server that is down is a retryable DeliveryError, a
letter without an address a PermanentJobError."""
from __future__ import annotations

import email
import email.policy
import io
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.attachments import path_of, save_upload
from app.extensions import db
from errors import DeliveryError, PermanentJobError
from models.outbox import OutboxMessage
from tests.helpers import legal_company

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
SUBJECT = "Ваш заказ отправлен"
BODY = ("Уважаемый клиент! Ваш заказ «Эко-пакеты» отправлен. Сканы документов во вложении.\n"
        "Ваш менеджер Тестов Иван, телефон +7 495 000-00-01")
SENDER = "CRM «Эко» <crm@eco-pack.ru>"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Inbox:
    """aiosmtpd handler: keeps every envelope the server accepted."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture()
def smtp_server():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture()
def smtp_settings(app, monkeypatch, smtp_server):
    """The app pointed at the loopback server; monkeypatch restores the config after."""
    controller, inbox = smtp_server
    for key, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", controller.port),
                       ("SMTP_FROM", SENDER), ("SMTP_USER", ""), ("SMTP_SSL", False),
                       ("SMTP_STARTTLS", False), ("SMTP_TIMEOUT", 5)):
        monkeypatch.setitem(app.config, key, value)
    return inbox


@pytest.fixture()
def letter(app):
    """A client letter of a company with one attached scan, saved in the outbox."""
    company = legal_company(email="info@eco.ru")
    scan = save_upload(io.BytesIO(PDF), "Скан УПД №7.pdf", "company", company.id)
    message = OutboxMessage(kind="email", recipients=["info@eco.ru"], subject=SUBJECT,
                            body=BODY, entity="company", record_id=company.id,
                            attachments=[scan.id])
    db.session.add(message)
    db.session.commit()
    return message


def _received(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def test_client_letter_arrives_with_russian_text_and_the_attachment(smtp_settings, letter):
    from app.mail import send_email

    send_email(letter)

    [envelope] = smtp_settings.envelopes
    assert envelope.mail_from == "crm@eco-pack.ru"
    assert envelope.rcpt_tos == ["info@eco.ru"]
    received = _received(envelope)
    assert received["Subject"] == SUBJECT
    assert received["To"] == "info@eco.ru"
    assert received["From"].addresses[0].addr_spec == "crm@eco-pack.ru"
    assert received["Message-ID"] == f"<outbox-{letter.id}@eco-pack.ru>"
    body = received.get_body(preferencelist=("plain",))
    assert body.get_content_charset() == "utf-8"
    assert body.get_content().rstrip("\n") == BODY
    [part] = list(received.iter_attachments())
    assert part.get_filename() == "Скан УПД №7.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_payload(decode=True) == PDF


def test_message_id_is_the_same_on_every_attempt(smtp_settings, letter):
    from app.mail import build_email, send_email

    assert build_email(letter)["Message-ID"] == build_email(letter)["Message-ID"] \
        == f"<outbox-{letter.id}@eco-pack.ru>"
    send_email(letter)
    send_email(letter)  # a resend after a crash between the answer and the commit
    ids = [_received(e)["Message-ID"] for e in smtp_settings.envelopes]
    assert ids == [f"<outbox-{letter.id}@eco-pack.ru>"] * 2


def test_smtp_server_down_is_a_retryable_delivery_error(app, monkeypatch, letter):
    from app.mail import send_email

    port = _free_port()  # nothing listens there
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 2)
    with pytest.raises(DeliveryError) as caught:
        send_email(letter)
    assert not isinstance(caught.value, PermanentJobError)
    assert caught.value.message.startswith(
        f"Не удалось отправить письмо через SMTP-сервер 127.0.0.1:{port}: ")
    assert "соединение отклонено" in caught.value.message


def test_letter_without_recipients_is_a_permanent_error(smtp_settings, letter):
    from app.mail import send_email

    letter.recipients = []
    db.session.commit()
    with pytest.raises(PermanentJobError) as caught:
        send_email(letter)
    assert caught.value.message == ("У письма нет получателя: у клиента не указан адрес "
                                    "e-mail")
    assert smtp_settings.envelopes == []


def test_missing_attachment_file_is_a_permanent_error(smtp_settings, letter):
    from app.mail import send_email
    from models.attachment import Attachment

    scan = db.session.get(Attachment, letter.attachments[0])
    Path(path_of(scan)).unlink()
    with pytest.raises(PermanentJobError) as caught:
        send_email(letter)
    assert caught.value.message == ("Файл вложения «Скан УПД №7.pdf» не найден в хранилище: "
                                    "письмо не отправлено")
    assert smtp_settings.envelopes == []


def test_refused_recipient_is_permanent_and_a_busy_server_retryable(app, monkeypatch,
                                                                    letter):
    from app.mail import send_email

    class Refusing(_Inbox):
        def __init__(self, code):
            super().__init__()
            self.code = code

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return f"{self.code} 5.1.1 Mailbox unavailable"

    for code, error in ((550, PermanentJobError), (451, DeliveryError)):
        handler = Refusing(code)
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        controller.start()
        try:
            monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
            monkeypatch.setitem(app.config, "SMTP_PORT", controller.port)
            with pytest.raises(error) as caught:
                send_email(letter)
        finally:
            controller.stop()
        assert type(caught.value) is error
        assert caught.value.message == (f"Сервер отклонил адреса: info@eco.ru ({code} "
                                        "5.1.1 Mailbox unavailable)")
        assert handler.envelopes == []


def test_letter_rejected_at_data_is_permanent_only_for_5xx(app, monkeypatch, letter):
    from app.mail import send_email

    class Rejecting(_Inbox):
        def __init__(self, answer):
            super().__init__()
            self.answer = answer

        async def handle_DATA(self, server, session, envelope):
            return self.answer

    for answer, error in (("554 5.7.1 Message rejected as spam", PermanentJobError),
                          ("452 4.3.1 Insufficient system storage", DeliveryError)):
        controller = Controller(Rejecting(answer), hostname="127.0.0.1", port=_free_port())
        controller.start()
        try:
            monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
            monkeypatch.setitem(app.config, "SMTP_PORT", controller.port)
            with pytest.raises(error) as caught:
                send_email(letter)
        finally:
            controller.stop()
        assert type(caught.value) is error
        assert caught.value.message == (f"SMTP-сервер 127.0.0.1:{controller.port} отклонил "
                                        f"письмо: {answer}")


def test_smtp_configured_follows_the_host(app):
    from app.mail import smtp_configured

    assert not smtp_configured({"SMTP_HOST": ""})
    assert not smtp_configured({"SMTP_HOST": "  "})
    assert smtp_configured({"SMTP_HOST": "smtp.eco-pack.ru"})


def test_deliver_outbox_sends_the_row_and_marks_it_sent(smtp_settings, letter):
    from jobs.tasks import deliver_outbox

    result = deliver_outbox([letter.id])

    assert result["done"] == 1
    [envelope] = smtp_settings.envelopes
    assert _received(envelope)["Subject"] == SUBJECT
    db.session.expire_all()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == letter.id))
    assert (row.status, row.delivered_via, row.attempts) == ("sent", "smtp", 1)
    assert row.sent_at is not None and row.last_error is None


def test_sales_letter_renders_the_record_and_arrives_through_the_jobs(smtp_settings, client):
    """«Ваша заявка взята в обработку» of the shipped sales process, from the move to the
    letter in the client's mailbox: the placeholders filled with the responsible's values."""
    from jobs.tasks import deliver_outbox
    from tests.process_flow_helpers import install, messages, move, new_deal, user

    manager = user("manager")
    manager.position, manager.phone = "менеджер по продажам", "+7 495 000-00-01"
    db.session.commit()
    sales = install("001_sales.yaml", "sales")
    buyer = legal_company(name="ООО «Весы»", email="zakaz@vesy.ru")
    deal = new_deal(client, sales, "new", title="Поставка весов", company=buyer.id)
    assert move(client, deal, sales, "in_work", custom={
        "priority": "A", "delivery_term": "2026-12-01"}).status_code == 200
    [row] = messages(deal, "email")

    assert deliver_outbox([row.id])["done"] == 1

    [envelope] = smtp_settings.envelopes
    assert envelope.rcpt_tos == ["zakaz@vesy.ru"]
    received = _received(envelope)
    assert received["Subject"] == "Ваша заявка взята в обработку"
    assert " ".join(received.get_body().get_content().split()) == (
        "Уважаемый клиент! Ваша заявка взята в обработку. Ваш персональный менеджер "
        "Тестов Иван, менеджер по продажам, телефон +7 495 000-00-01, почта "
        "manager@example.com")
    assert messages(deal, "email")[0].status == "sent"
