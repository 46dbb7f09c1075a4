"""Tasks: the unit of activity. A record with no open task has no activity."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table,
                        Text, and_, bindparam, exists, or_, select, text)
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from models.base import (AuditedMixin, CheckedMixin, Model, RecordLinkMixin, TimestampMixin,
                         TrashableMixin, TrashChildMixin, current_actor_id, in_rows, utcnow)
from models.registry import entity_label, get_record, model_for


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
OUTCOME_SEPARATOR = " / "
OPEN_TASK_STATUSES = (TaskStatus.open.value, TaskStatus.in_progress.value)
CLOSED_TASK_STATUSES = (TaskStatus.done.value, TaskStatus.cancelled.value)
OVERDUE_LABEL = "Просрочена"
# `Task.kind` of an employee's report (models/report.py): closed only with its text.
REPORT_KIND = "report"
REPORT_TEXT_REQUIRED = ("Отчёт не сдан: впишите план работ в «Результат» — без текста "
                        "задачу-отчёт закрыть нельзя")
OPEN_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in OPEN_TASK_STATUSES))

task_observer = Table(
    "task_observer", Model.metadata,
    Column("task_id", Integer, ForeignKey("task.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True,
           index=True),  # the row rule looks observers up by user
)


# --- helpers shared with events -----------------------------------------------------------
def naive_utc(value):
    """An aware datetime (from the API) as the naive UTC the database stores."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def record_link_errors(v) -> dict[str, str]:
    """Checks the (record_entity, record_id) link of a record, form or API payload."""
    entity = (getattr(v, "record_entity", None) or "").strip()
    raw_id = getattr(v, "record_id", None)
    if not entity and raw_id in (None, ""):
        return {}
    if not entity:
        return {"record_entity": "Укажите тип записи-основания"}
    if model_for(entity) is None:
        return {"record_entity": f"Неизвестный тип записи «{entity}»"}
    if raw_id in (None, ""):
        return {"record_id": "Укажите номер записи-основания"}
    try:
        record_id = int(raw_id)
    except (TypeError, ValueError):
        return {"record_id": "Номер записи-основания: целое число"}
    # no_autoflush: the record being checked may already sit half-built in the session.
    with db.session.no_autoflush:
        found = get_record(entity, record_id)
    if found is None:
        return {"record_id": f"Запись «{entity_label(entity)}» № {record_id} не найдена"}
    return {}


def outcome_values(raw) -> list[str] | None:
    """The allowed outcomes as a clean list; None when they are not a list of strings."""
    if raw in (None, "", []):
        return []
    if not isinstance(raw, (list, tuple)):
        return None
    out = []
    for item in raw:
        if not isinstance(item, str):
            return None
        if item.strip():
            out.append(item.strip())
    return out


# A date outside these years is a typo (and 9999 has no local time to show or schedule).
YEARS = (2000, 2100)


class Task(AuditedMixin, CheckedMixin, RecordLinkMixin, TimestampMixin, TrashableMixin,
           Model):
    """`record_entity`/`record_id`: the record the task belongs to (deal, lead, order...)."""

    __tablename__ = "task"
    __table_args__ = (
        # «Нет задач», the marks of lists and a record's tab look up a record's open tasks:
        # only the open ones are indexed (a tenth of all tasks), in the lookup's order.
        Index("ix_task_open_record", "record_entity", "record_id",
              postgresql_where=text(OPEN_SQL), sqlite_where=text(OPEN_SQL)),
        # «Мои задачи» and the readers a record's open tasks bring: a person's open tasks.
        Index("ix_task_assignee_status", "assignee_id", "status"),
    )
    __entity__ = "task"
    __label__ = "Задача"
    __choice_labels__ = {"status": TASK_STATUS_LABELS}
    __checked_fields__ = ("title", "assignee", "deadline", "remind_at", "status", "outcome",
                          "outcome_choices", "record_entity", "record_id", "result")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"), index=True)
    creator_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"), index=True)
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    # «Напомнить»: when the assignee gets a reminder (a schedule row, cancelled on closing).
    remind_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # active_history: closing is detected against the stored status even if it was expired.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=TaskStatus.open.value,
                                        index=True, active_history=True)
    result: Mapped[str | None] = mapped_column(Text)
    # Outcome choice: the allowed values (a JSON list of labels) and the chosen one.
    outcome_choices: Mapped[object | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set by the process engine: which rule and which transition created the task.
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64))
    effect_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # None for an ordinary task; REPORT_KIND for an employee's report. Set by whoever
    # creates the task, never by a form.
    kind: Mapped[str | None] = mapped_column(String(16))

    assignee = relationship("CrmUser", foreign_keys=[assignee_id])
    creator = relationship("CrmUser", foreign_keys=[creator_id])
    observers = relationship("CrmUser", secondary=task_observer)
    checklist = relationship("ChecklistItem", back_populates="task",
                             order_by="ChecklistItem.sort_order, ChecklistItem.id",
                             cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TASK_STATUSES

    @property
    def is_overdue(self) -> bool:
        return bool(self.is_open and self.deadline and self.deadline < utcnow())

    @property
    def overdue_label(self) -> str:
        return OVERDUE_LABEL if self.is_overdue else ""

    @property
    def status_label(self) -> str:
        return TASK_STATUS_LABELS.get(self.status, self.status)

    @property
    def record_ref(self):
        """(entity, id) of the record the task belongs to, or None."""
        if self.record_entity and self.record_id:
            return (self.record_entity, self.record_id)
        return None

    @property
    def checklist_progress(self) -> str:
        items = list(self.checklist)
        if not items:
            return ""
        return f"{sum(1 for i in items if i.done)} из {len(items)}"

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (v.title or "").strip():
            errors["title"] = "Укажите, что нужно сделать"
        if getattr(v, "assignee", None) is None and getattr(v, "assignee_id", None) is None:
            errors["assignee"] = "Укажите исполнителя"
        for field, label in (("deadline", "Срок"), ("remind_at", "Напомнить")):
            value = getattr(v, field, None)
            if value is None:
                continue
            if not isinstance(value, dt.datetime):
                errors[field] = f"{label}: дата и время"
            elif not YEARS[0] <= value.year <= YEARS[1]:
                errors[field] = f"{label}: год от {YEARS[0]} до {YEARS[1]}"
        remind_at, deadline = getattr(v, "remind_at", None), v.deadline
        if isinstance(remind_at, dt.datetime) and isinstance(deadline, dt.datetime) \
                and "remind_at" not in errors and naive_utc(remind_at) > naive_utc(deadline):
            errors["remind_at"] = "Напомнить: не позже срока задачи"
        status = v.status or TaskStatus.open.value
        if status not in TASK_STATUS_LABELS:
            errors["status"] = "Статус: новая, в работе, выполнена или отменена"
        choices = outcome_values(v.outcome_choices)
        outcome = (v.outcome or "").strip()
        if choices is None:
            errors["outcome_choices"] = "Варианты итога: список строк"
        elif choices:
            # "Да / Отложенные": the answer to a choice's second question (the engine checks
            # the second part against the definition).
            if outcome and outcome not in choices and \
                    outcome.split(OUTCOME_SEPARATOR)[0] not in choices:
                errors["outcome"] = ("Итог «" + outcome + "» не из списка: выберите один из "
                                     "вариантов: " + ", ".join(choices))
            elif not outcome and status == TaskStatus.done.value:
                errors["outcome"] = ("Выберите итог: без него задачу нельзя закрыть "
                                     "(варианты: " + ", ".join(choices) + ")")
        if getattr(v, "kind", None) == REPORT_KIND and status == TaskStatus.done.value \
                and not (getattr(v, "result", None) or "").strip():
            errors["result"] = REPORT_TEXT_REQUIRED
        errors.update(record_link_errors(v))
        return errors

    __index_creator__ = True

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        # creator_id is the постановщик (may be somebody else); created_by_id who saved it.
        observed = select(task_observer.c.task_id).where(task_observer.c.user_id == user_id)
        return or_(cls.assignee_id.in_(user_ids), cls.creator_id.in_(user_ids),
                   cls.created_by_id.in_(user_ids), in_rows(cls.id, observed))

    def __str__(self) -> str:
        return self.title or ""


class ChecklistItem(AuditedMixin, CheckedMixin, TrashChildMixin, Model):
    __tablename__ = "task_checklist_item"
    __entity__ = "task_checklist"
    __label__ = "Пункт чек-листа"
    __trash_parent__ = "task"
    __checked_fields__ = ("task", "text")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    text: Mapped[str] = mapped_column(String(300), nullable=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    task = relationship(Task, back_populates="checklist")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if getattr(v, "task", None) is None and getattr(v, "task_id", None) is None:
            errors["task"] = "Укажите задачу"
        if not (v.text or "").strip():
            errors["text"] = "Укажите текст пункта"
        return errors

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        # An item is visible exactly when its task is.
        return cls.task_id.in_(select(Task.id).where(Task.scope_clause(user_id, user_ids)))

    def __str__(self) -> str:
        return self.text


def is_open_task():
    """SQL: the task is open. The statuses are written into the statement, not bound: the
    planner uses the index of open tasks (ix_task_open_record) only when it sees them."""
    return Task.status.in_(bindparam(None, list(OPEN_TASK_STATUSES), expanding=True,
                                     literal_execute=True))


def open_task_exists(entity: str, id_column):
    """SQL: the record (entity, id_column) has at least one open task. Lists use it for
    the "Нет задач" mark and filter."""
    return exists(select(Task.id).where(and_(Task.record_entity == entity,
                                             Task.record_id == id_column, is_open_task())))


# --- automatic columns ----------------------------------------------------------------------
@sa_event.listens_for(Task, "before_insert")
def _task_before_insert(_mapper, _conn, target: Task) -> None:
    if target.creator_id is None and target.creator is None:
        # The постановщик is whoever creates the task, unless somebody else was named.
        target.creator_id = current_actor_id()
    target.deadline = naive_utc(target.deadline)
    target.remind_at = naive_utc(target.remind_at)
    target.closed_at = utcnow() if target.status in CLOSED_TASK_STATUSES else None


@sa_event.listens_for(Task, "before_update")
def _task_before_update(_mapper, _conn, target: Task) -> None:
    target.deadline = naive_utc(target.deadline)
    target.remind_at = naive_utc(target.remind_at)
    hist = sa_inspect(target).attrs.status.history
    if not hist.has_changes():
        return
    was_closed = bool(hist.deleted) and hist.deleted[0] in CLOSED_TASK_STATUSES
    if target.status in CLOSED_TASK_STATUSES:
        if not was_closed or target.closed_at is None:
            target.closed_at = utcnow()
    else:
        target.closed_at = None
