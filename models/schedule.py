"""The schedule: every piece of work due later (reminders, delayed and repeated actions),
the database being the source of truth. The scheduler (jobs/) moves due rows to workers."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, utcnow


class ScheduleStatus(str, enum.Enum):
    pending = "pending"
    enqueued = "enqueued"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class ScheduledAction(Model):
    __tablename__ = "scheduled_action"
    __entity__ = "scheduled_action"

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
    # The stage whose entry scheduled it: leaving the stage cancels it unless it outlives it.
    stage_key: Mapped[str | None] = mapped_column(String(64))
    outlives_stage: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64), index=True)
    effect_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
