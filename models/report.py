"""Employees' reports («Отчёты сотрудников»): what the office asks for (`ReportPlan`, data an
admin edits) and which task asked whom for which day or week (`ReportTask`).

A report is an ordinary task of kind «отчёт» (models/task.py: `REPORT_KIND`), closed with the
plan of work as its result; process/reports.py creates them each working day."""
from __future__ import annotations

import datetime as dt
import enum
import re
import string

from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, Time,
                        UniqueConstraint, select)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin, utcnow


class ReportPeriod(str, enum.Enum):
    daily = "daily"
    weekly = "weekly"


PERIOD_LABELS = {ReportPeriod.daily.value: "Ежедневный",
                 ReportPeriod.weekly.value: "Еженедельный"}
# What a title template may name; {date} of a weekly plan is the week's first working day.
TEMPLATE_FIELDS = {"date": "дата (ДД.ММ.ГГГГ)", "week": "неделя (рабочие дни, ДД.ММ–ДД.ММ.ГГГГ)",
                   "department": "отдел"}
TITLE_MAX = 300
KEY_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")
REPORT_PLAN_LABELS = {
    "key": "Ключ", "name": "Наименование", "department": "Отдел", "period": "Периодичность",
    "period_label": "Периодичность", "department_label": "Отдел",
    "title_template": "Название задачи", "description": "Описание задачи",
    "deadline_time": "Срок сдачи (время)", "active": "Действует",
}


def template_errors(template: str) -> str | None:
    """Why the title template cannot be rendered, in Russian; None when it can."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return ("Название задачи: непарная фигурная скобка; подстановки пишутся так: "
                "{date}, {week}, {department}")
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            allowed = ", ".join("{" + key + "}" for key in TEMPLATE_FIELDS)
            return f"Название задачи: неизвестная подстановка «{{{name}}}»; можно {allowed}"
    return None


def render_title(template: str, values: dict[str, str]) -> str:
    """The task's title; a template saved before the check (or by SQL) falls back to itself
    rather than failing the day's run for everybody."""
    try:
        text = template.format_map(values) if template_errors(template) is None else template
    except (KeyError, ValueError, IndexError):
        text = template
    return text.strip()[:TITLE_MAX]


class ReportPlan(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    """One kind of report the office asks for: each working day (or week) every active
    member of the department (of each department when none is named) gets a task with this
    title, due at `deadline_time` that day (a weekly one: on the week's last working day)."""

    __tablename__ = "report_plan"
    __entity__ = "report_plan"
    __label__ = "План отчёта"
    __choice_labels__ = {"period": PERIOD_LABELS}
    __checked_fields__ = ("key", "name", "period", "title_template", "deadline_time")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable: the seed finds its plans by it, and it is part of each task's effect key.
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"),
                                                      nullable=True, index=True)
    period: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=ReportPeriod.daily.value)
    title_template: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Local wall-clock time.
    deadline_time: Mapped[dt.time] = mapped_column(Time, nullable=False,
                                                   default=dt.time(18, 0))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    department = relationship("Department", foreign_keys=[department_id])

    @property
    def period_label(self) -> str:
        return PERIOD_LABELS.get(self.period, self.period or "")

    @property
    def department_label(self) -> str:
        return str(self.department) if self.department is not None else "Все отделы"

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        key = (getattr(v, "key", None) or "").strip()
        if not key:
            errors["key"] = "Укажите ключ плана"
        elif not KEY_PATTERN.match(key):
            errors["key"] = "Ключ: строчные латинские буквы, цифры, _ и -, до 64 знаков"
        else:
            taken = select(cls.id).where(cls.key == key)
            own_id = getattr(v, "id", None)
            if own_id is not None:
                taken = taken.where(cls.id != own_id)
            with db.session.no_autoflush:
                if db.session.scalar(taken) is not None:
                    errors["key"] = f"План с ключом «{key}» уже есть"
        if not (getattr(v, "name", None) or "").strip():
            errors["name"] = "Укажите наименование плана"
        if getattr(v, "period", None) not in PERIOD_LABELS:
            errors["period"] = "Периодичность: ежедневный или еженедельный"
        template = (getattr(v, "title_template", None) or "").strip()
        if not template:
            errors["title_template"] = "Укажите название задачи"
        else:
            problem = template_errors(template)
            if problem:
                errors["title_template"] = problem
        if not isinstance(getattr(v, "deadline_time", None), dt.time):
            errors["deadline_time"] = "Укажите время сдачи, например 18:00"
        return errors

    def __str__(self) -> str:
        return self.name or self.key or ""


class ReportTask(Model):
    """The task that asked `user` for `plan`'s report of the period starting `period_start`
    (the day; a weekly plan: the Monday). The department is the one the user was in then:
    its head watches the task and sees the report on the screen."""

    __tablename__ = "report_task"
    __table_args__ = (
        UniqueConstraint("plan_id", "user_id", "period_start", name="uq_report_task_period"),
        # The screen: one period, the departments the reader sees.
        Index("ix_report_task_period_department", "period_start", "department_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(Integer, ForeignKey("report_plan.id"), nullable=False,
                                         index=True)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False,
                                         index=True)
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"),
                                                      nullable=True)
    # A task purged from the recycle bin takes its row along (process/trash.py cascades).
    task_id: Mapped[int] = mapped_column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                         nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    plan = relationship(ReportPlan)
    user = relationship("CrmUser", foreign_keys=[user_id])
    department = relationship("Department", foreign_keys=[department_id])
    task = relationship("Task")
