"""Delivering one outbox message, inside the row's transaction (see jobs.tasks)."""
from __future__ import annotations

from flask import current_app

from app.mail import send_email, smtp_configured
from app.notify import notify_users
from app.sms import deliver_sms, get_sms_provider
from errors import PermanentJobError


def _sent(message, now, via: str) -> None:
    message.status, message.sent_at, message.delivered_via = "sent", now, via
    message.last_error = None
    message.attempts = (message.attempts or 0) + 1


EXTERNAL = ("email", "sms")


def leaves_the_building(message) -> bool:
    return message.kind in EXTERNAL


def held(message) -> bool:
    """An e-mail with no SMTP configured (the embedded default) is kept, not sent: shown on
    «Исходящие сообщения» as such and sendable once an admin sets SMTP up."""
    if message.kind != "email" or smtp_configured(current_app.config):
        return False
    message.status, message.enqueued_at = "held", None
    message.last_error = "SMTP не настроен: письмо сохранено, но не отправлено"
    return True


def send_external(message) -> str:
    """Sends an e-mail or SMS (no transaction needed); returns how it went out."""
    if message.kind == "email":
        send_email(message)
        return "smtp"
    provider = get_sms_provider(current_app.config)
    deliver_sms(message, provider)
    return provider.name


def deliver(message, now) -> None:
    if message.kind == "notification":
        notify_users(message.recipients, message.body, key=f"outbox:{message.id}",
                     entity=message.entity, record_id=message.record_id,
                     subject=message.subject)
        _sent(message, now, "app")
    elif message.kind == "email":
        if held(message):
            return
        send_email(message)
        _sent(message, now, "smtp")
    elif message.kind == "sms":
        provider = get_sms_provider(current_app.config)
        deliver_sms(message, provider)
        _sent(message, now, provider.name)
    else:
        raise PermanentJobError(f"Доставка сообщений вида «{message.kind}» не поддерживается")
