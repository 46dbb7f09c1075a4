"""Shared builders of the employees' reports tests (no tests here): a department with its
head, the default plans, the report tasks and rows of a day."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.report_seed import DEFAULT_PLANS
from models.report import ReportPlan, ReportTask
from models.task import Task
from models.user import CrmUser, Department
from tests.factories import department, make_user


@dataclass
class Office:
    department: Department
    head: CrmUser
    alpha: CrmUser
    beta: CrmUser
    gone: CrmUser  # inactive: gets no report


def make_office(code: str = "rep_dev", name: str = "Отдел разработки",
                prefix: str = "dev") -> Office:
    """A department with a head, two active members and an inactive one."""
    dep = department(code, name)
    dep.active = True
    head = make_user(f"{prefix}_head", ["department_head"], dep, first="Анна",
                     last=f"Главная-{prefix}")
    alpha = make_user(f"{prefix}_a", ["employee"], dep, first="Борис", last=f"Альфа-{prefix}")
    beta = make_user(f"{prefix}_b", ["employee"], dep, first="Вера", last=f"Бета-{prefix}")
    gone = make_user(f"{prefix}_gone", ["employee"], dep, first="Глеб", last=f"Ушёл-{prefix}")
    gone.active = False
    dep.head_id = head.id
    db.session.commit()
    return Office(dep, head, alpha, beta, gone)


def make_plan(kind: str = "daily", department: Department | None = None,
              key: str | None = None, **values) -> ReportPlan:
    """One of the seed's default plans (`daily`, `weekly`), for `department` or for all."""
    spec = {**DEFAULT_PLANS[kind], **values}
    if isinstance(spec["deadline_time"], str):
        spec["deadline_time"] = dt.time.fromisoformat(spec["deadline_time"])
    plan = ReportPlan(key=key or kind, department_id=department.id if department else None,
                      **spec)
    db.session.add(plan)
    db.session.commit()
    return plan


def report_tasks(**where) -> list[Task]:
    """The report tasks, by assignee name: `report_tasks(assignee_id=...)`."""
    query = select(Task).join(ReportTask, ReportTask.task_id == Task.id)
    for name, value in where.items():
        query = query.where(getattr(ReportTask, name) == value)
    db.session.expire_all()
    return list(db.session.scalars(query.order_by(Task.id)))


def links(**where) -> list[ReportTask]:
    query = select(ReportTask)
    for name, value in where.items():
        query = query.where(getattr(ReportTask, name) == value)
    return list(db.session.scalars(query.order_by(ReportTask.id)))
