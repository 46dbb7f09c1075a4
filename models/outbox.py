"""The outbox: external effects a transaction decided (e-mail, SMS, in-app notifications,
documents), written in that transaction and delivered after commit by the jobs."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, utcnow


class OutboxKind(str, enum.Enum):
    email = "email"
    sms = "sms"
    notification = "notification"
    document = "document"


class OutboxStatus(str, enum.Enum):
    pending = "pending"
    enqueued = "enqueued"
    # Handed to the SMTP server or SMS gateway right now: a second copy of the job skips it.
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"
    # E-mail with no SMTP configured (the embedded default): kept, shown, sendable later.
    held = "held"


OUTBOX_KIND_LABELS = {"email": "E-mail", "sms": "SMS", "notification": "Уведомление",
                      "document": "Документ"}
OUTBOX_STATUS_LABELS = {
    "pending": "Ожидает", "enqueued": "В очереди", "sending": "Отправляется",
    "sent": "Отправлено", "failed": "Ошибка",
    "cancelled": "Отменено", "held": "Не отправлено: SMTP не настроен",
}


class OutboxMessage(Model):
    __tablename__ = "outbox_message"
    __entity__ = "outbox_message"
    __label__ = "Исходящее сообщение"
    __choice_labels__ = {"kind": OUTBOX_KIND_LABELS, "status": OUTBOX_STATUS_LABELS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=OutboxStatus.pending.value, index=True)
    # Who receives it: user ids for notifications, addresses for e-mail and SMS.
    recipients: Mapped[object] = mapped_column(JSON, nullable=False, default=list)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    entity: Mapped[str | None] = mapped_column(String(32), index=True)
    record_id: Mapped[int | None] = mapped_column(Integer, index=True)
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64), index=True)
    effect_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Attachment ids (files of the record) sent with an e-mail.
    attachments: Mapped[object] = mapped_column(JSON, nullable=False, default=list,
                                                server_default=text("'[]'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # A document kind row renders this version (models/document.py).
    document_version_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("document_version.id"), index=True)
    # "smtp", "log" (SMS logging provider), "app" (in-app notification).
    delivered_via: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Held while its record is in the recycle bin (models/trash.py): the scheduler leaves it
    # alone until the record is restored; a purge cancels it.
    trash_batch_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("trash_batch.id"),
                                                       index=True)
