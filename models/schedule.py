"""The schedule: every piece of work due later (reminders, delayed and repeated actions),
the database being the source of truth. The scheduler (jobs/) moves due rows to workers."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, utcnow


class ScheduleStatus(str, enum.Enum):
    pending = "pending"
    enqueued = "enqueued"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


SCHEDULE_STATUS_LABELS = {
    "pending": "Ожидает", "enqueued": "В очереди", "done": "Выполнено",
    "failed": "Ошибка", "cancelled": "Отменено",
}
# What each `action` is called on the admin screens (views/schedule.py).
ACTION_LABELS = {
    "remind": "Напоминание", "schedule": "Отложенное действие", "repeat": "Повтор",
    "task_deadline": "Срок задачи", "task_reminder": "Напоминание по задаче",
    "stage_deadline": "Срок этапа", "trash_purge": "Очистка корзины",
    "approval_deadline": "Срок согласования",
    "acknowledgement_reminder": "Напоминание об ознакомлении",
    "acknowledgement_deadline": "Срок ознакомления",
    "report_create": "Отчёты сотрудников: задачи дня",
}


class ScheduledAction(Model):
    __tablename__ = "scheduled_action"
    __entity__ = "scheduled_action"
    __label__ = "Запланированное действие"
    __choice_labels__ = {"status": SCHEDULE_STATUS_LABELS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[object] = mapped_column(JSON, nullable=False, default=dict)
    entity: Mapped[str | None] = mapped_column(String(32), index=True)
    record_id: Mapped[int | None] = mapped_column(Integer, index=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=ScheduleStatus.pending.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the scheduler handed it to a worker: a row enqueued long ago whose job vanished
    # (Redis flushed, worker killed) is handed over again.
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # A failed attempt waits until then (backoff); None: as soon as it is due.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # How many times a repeat has run: part of each run's effect keys.
    occurrence: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                            server_default="0")
    # The stage whose entry scheduled it: leaving the stage cancels it unless it outlives it.
    stage_key: Mapped[str | None] = mapped_column(String(64))
    outlives_stage: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64), index=True)
    effect_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Held while its record is in the recycle bin (models/trash.py): the scheduler leaves it
    # alone until the record is restored; a purge cancels it.
    trash_batch_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("trash_batch.id"),
                                                       index=True)
