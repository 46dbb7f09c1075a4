"""Tasks: the unit of activity. A record with no open task has no activity."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Table, Text,
                        and_, exists, or_, select)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (AuditedMixin, CheckedMixin, Model, RecordLinkMixin, TimestampMixin,
                         utcnow)


class TaskStatus(str, enum.Enum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


TASK_STATUS_LABELS = {
    TaskStatus.open.value: "Новая",
    TaskStatus.in_progress.value: "В работе",
    TaskStatus.done.value: "Выполнена",
    TaskStatus.cancelled.value: "Отменена",
}
OPEN_TASK_STATUSES = (TaskStatus.open.value, TaskStatus.in_progress.value)

task_observer = Table(
    "task_observer", Model.metadata,
    Column("task_id", Integer, ForeignKey("task.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
)


class Task(AuditedMixin, CheckedMixin, RecordLinkMixin, TimestampMixin, Model):
    """`record_entity`/`record_id`: the record the task belongs to (deal, lead, order...)."""

    __tablename__ = "task"
    __entity__ = "task"
    __label__ = "Задача"
    __checked_fields__ = ("title", "assignee", "deadline", "outcome")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"), index=True)
    creator_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"), index=True)
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=TaskStatus.open.value,
                                        index=True)
    result: Mapped[str | None] = mapped_column(Text)
    # Outcome choice: the allowed values (a JSON list of labels) and the chosen one.
    outcome_choices: Mapped[object | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set by the process engine: which rule and which transition created the task.
    rule_key: Mapped[str | None] = mapped_column(String(200))
    transition_id: Mapped[str | None] = mapped_column(String(64))
    effect_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    assignee = relationship("CrmUser", foreign_keys=[assignee_id])
    creator = relationship("CrmUser", foreign_keys=[creator_id])
    observers = relationship("CrmUser", secondary=task_observer)
    checklist = relationship("ChecklistItem", back_populates="task",
                             order_by="ChecklistItem.sort_order", cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    @property
    def is_overdue(self) -> bool:
        return bool(self.is_open and self.deadline and self.deadline < utcnow())

    @property
    def status_label(self) -> str:
        return TASK_STATUS_LABELS.get(self.status, self.status)

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        return or_(cls.assignee_id.in_(user_ids), cls.creator_id.in_(user_ids),
                   cls.observers.any(id=user_id))

    def __str__(self) -> str:
        return self.title or ""


class ChecklistItem(Model):
    __tablename__ = "task_checklist_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    text: Mapped[str] = mapped_column(String(300), nullable=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    task = relationship(Task, back_populates="checklist")

    def __str__(self) -> str:
        return self.text


def open_task_exists(entity: str, id_column):
    """SQL: the record (entity, id_column) has at least one open task. Lists use it for
    the "Нет задач" mark and filter."""
    return exists(select(Task.id).where(and_(Task.record_entity == entity,
                                             Task.record_id == id_column,
                                             Task.status.in_(OPEN_TASK_STATUSES))))
