"""Delivering one outbox message, inside the row's transaction (see jobs.tasks)."""
from __future__ import annotations

from flask import current_app

from app.notify import notify_users
from errors import PermanentJobError


def _sent(message, now, via: str) -> None:
    message.status, message.sent_at, message.delivered_via = "sent", now, via
    message.last_error = None
    message.attempts = (message.attempts or 0) + 1


def deliver(message, now) -> None:
    if message.kind == "notification":
        notify_users(message.recipients, message.body, key=f"outbox:{message.id}",
                     entity=message.entity, record_id=message.record_id,
                     subject=message.subject)
        _sent(message, now, "app")
    elif message.kind == "email":
        from app.mail import send_email, smtp_configured

        if not smtp_configured(current_app.config):
            # The embedded default: kept and shown on «Исходящие сообщения», sendable later.
            message.status, message.enqueued_at = "held", None
            message.last_error = "SMTP не настроен: письмо сохранено, но не отправлено"
            return
        send_email(message)
        _sent(message, now, "smtp")
    elif message.kind == "sms":
        from app.sms import deliver_sms, get_sms_provider

        provider = get_sms_provider(current_app.config)
        deliver_sms(message, provider)
        _sent(message, now, provider.name)
    else:
        raise PermanentJobError(f"Доставка сообщений вида «{message.kind}» не поддерживается")
