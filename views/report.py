"""«Отчёты сотрудников»: who filed the day's (or the week's) report, department by
department, and the admin's «Планы отчётов» (what is asked for, process/reports.py creates
the tasks).

The screen's rows are the report tasks of the period (`ReportTask`) under the report row
rule (app/scope.py `report_clause`: one's own, the departments one heads, or all), plus the
active members who should have one and have none («Задача не поставлена»)."""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from sqlalchemy import and_, func, or_, select
from wtforms import SelectField, StringField, TimeField
from wtforms.validators import Optional as OptionalInput

from app.extensions import db
from app.formatting import to_local
from app.scope import report_clause, report_departments, scope_query
from errors import CrmError
from models.base import acting_user, utcnow
from models.report import (PERIOD_LABELS, REPORT_PLAN_LABELS, TEMPLATE_FIELDS, ReportPeriod,
                           ReportPlan, ReportTask)
from models.task import YEARS, Task, TaskStatus
from models.user import CrmUser, Department
from process.absence import absent_user_ids
from process.reports import period_start, week_words, working_days_of_week
from rules.durations import is_working_day
from views.base import CrmModelView, register

CATEGORY = "Отчёты сотрудников"
FILED, LATE, OPEN, OVERDUE, CANCELLED, NO_TASK, AWAY = (
    "Сдан", "Сдан с опозданием", "Не сдан", "Просрочен", "Не сдан (задача отменена)",
    "Задача не поставлена", "Отсутствует")
STATUS_CLASSES = {FILED: "success", LATE: "warning", OPEN: "", OVERDUE: "danger",
                  CANCELLED: "danger", NO_TASK: "active", AWAY: "info"}
BAD_DATE = "Дата: неверное значение «{value}», ожидается ДД.ММ.ГГГГ. Показан сегодняшний день."
BAD_DEPARTMENT = "Отдел не найден: показаны все доступные отделы."
BAD_PLAN = "План отчёта не найден: показаны все планы."
IN_USE = ("По плану «{plan}» уже поставлено задач: {count}. Удалить его нельзя — снимите "
          "отметку «Действует», и новые задачи ставиться не будут.")


# --- «Планы отчётов» ----------------------------------------------------------------------

def _time(value) -> str:
    return value.strftime("%H:%M") if isinstance(value, dt.time) else ""


def _period_field():
    return SelectField(REPORT_PLAN_LABELS["period"], choices=list(PERIOD_LABELS.items()),
                       default=ReportPeriod.daily.value, validate_choice=False)


def _deadline_field():
    return TimeField(REPORT_PLAN_LABELS["deadline_time"], format="%H:%M",
                     validators=[OptionalInput()], default=dt.time(18, 0),
                     description="Ежедневный отчёт сдаётся в этот час того же рабочего дня, "
                                 "еженедельный — в последний рабочий день недели")


_TEMPLATE_HINT = "Можно подставить: " + ", ".join(
    "{" + key + "} — " + words for key, words in TEMPLATE_FIELDS.items())


class ReportPlanView(CrmModelView):
    datamodel = SQLAInterface(ReportPlan)
    resource = "report_plan"
    titles = ("Планы отчётов", "План отчёта", "Новый план отчёта", "Изменение плана отчёта")
    label_columns = REPORT_PLAN_LABELS
    list_columns = ["name", "period_label", "department_label", "title_template",
                    "deadline_time", "active"]
    show_columns = ["key", "name", "period_label", "department_label", "title_template",
                    "description", "deadline_time", "active", "created_at", "updated_at"]
    add_columns = ["key", "name", "period", "department", "title_template", "description",
                   "deadline_time", "active"]
    # The key stays: the seed finds the plan by it and each task's effect key carries it.
    edit_columns = ["name", "period", "department", "title_template", "description",
                    "deadline_time", "active"]
    search_columns = ["name", "department", "active"]
    order_columns = ["name"]
    base_order = ("name", "asc")
    description_columns = {
        "key": "Постоянный латинский ключ, например daily; после создания не меняется",
        "department": "Пусто — задачи получают сотрудники всех отделов",
        "title_template": _TEMPLATE_HINT,
        "active": "Снимите отметку, чтобы новые задачи по плану больше не ставились",
    }
    formatters_columns = {"deadline_time": _time}
    add_form_extra_fields = {"key": StringField(REPORT_PLAN_LABELS["key"]),
                             "period": _period_field(), "deadline_time": _deadline_field()}
    edit_form_extra_fields = {"period": _period_field(), "deadline_time": _deadline_field()}
    add_form_query_rel_fields = {"department": [["active", FilterEqual, True]]}

    def pre_delete(self, item):
        count = db.session.scalar(select(func.count(ReportTask.id))
                                  .where(ReportTask.plan_id == item.id))
        if count:
            raise CrmError(IN_USE.format(plan=item, count=count))


# --- «Отчёты сотрудников» -----------------------------------------------------------------

def _parse_day(raw: str | None) -> dt.date | None:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            day = dt.datetime.strptime((raw or "").strip(), fmt).date()
        except ValueError:
            continue
        return day if YEARS[0] <= day.year <= YEARS[1] else None
    return None


def _int_arg(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _status(task: Task, now: dt.datetime) -> str:
    if task.status == TaskStatus.done.value:
        late = task.deadline is not None and task.closed_at is not None \
            and task.closed_at > task.deadline
        return LATE if late else FILED
    if task.status == TaskStatus.cancelled.value:
        return CANCELLED
    if task.deadline is not None and task.deadline < now:
        return OVERDUE
    return OPEN


def _period_words(plan: ReportPlan, day: dt.date) -> str:
    if plan.period == ReportPeriod.weekly.value:
        return f"неделя {week_words(working_days_of_week(day))}"
    return f"{day:%d.%m.%Y}"


class ReportsView(BaseView):
    """Per department and day (or week): filed, with the time and the text; not filed;
    overdue. Filters: the day, the department, the plan."""

    route_base = "/crm/reports"
    resource = "report"
    class_permission_name = "report"
    method_permission_name = {"list": "read"}
    base_permissions = ["can_read"]
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        user = acting_user()
        visible = report_departments(user)
        day = self._day()
        departments = self._departments(visible, user)
        department = self._chosen(request.args.get("department"), departments, BAD_DEPARTMENT)
        plans = list(db.session.scalars(select(ReportPlan).order_by(
            ReportPlan.period, ReportPlan.name, ReportPlan.id)))
        plan = self._chosen(request.args.get("plan"), plans, BAD_PLAN)
        chosen_plans = [plan] if plan is not None else plans
        groups = _board(user, visible, day, chosen_plans,
                        [department] if department is not None else departments)
        step = dt.timedelta(days=7 if plan is not None
                            and plan.period == ReportPeriod.weekly.value else 1)
        args = {k: v for k, v in (("department", department.id if department else None),
                                  ("plan", plan.id if plan else None)) if v}
        return self.render_template(
            "crm/reports.html", title=CATEGORY, day=day, groups=groups,
            departments=departments, department=department, plans=plans, plan=plan,
            working=is_working_day(day), week=week_words(working_days_of_week(day)),
            prev_url=url_for("ReportsView.list", date=(day - step).isoformat(), **args),
            next_url=url_for("ReportsView.list", date=(day + step).isoformat(), **args),
            today_url=url_for("ReportsView.list", **args))

    @staticmethod
    def _day() -> dt.date:
        raw = request.args.get("date")
        if raw:
            day = _parse_day(raw)
            if day is not None:
                return day
            flash(BAD_DATE.format(value=raw[:40]), "warning")
        return to_local(utcnow()).date()

    @staticmethod
    def _departments(visible: set[int] | None, user) -> list:
        """The departments the reader may choose: every one (scope all), else those they
        head and their own (where only their own rows show)."""
        query = select(Department).order_by(Department.name, Department.id)
        if visible is not None:
            own = getattr(user, "department_id", None)
            query = query.where(Department.id.in_(visible | ({own} if own else set())))
        return list(db.session.scalars(query))

    @staticmethod
    def _chosen(raw: str | None, options: list, message: str):
        if raw in (None, ""):
            return None
        pk = _int_arg(raw)
        found = next((o for o in options if o.id == pk), None)
        if found is None:
            flash(message, "warning")
        return found


def _board(user, visible: set[int] | None, day: dt.date, plans: list,
           departments: list) -> list[dict]:
    """The rows by department: [{department, rows, filed, total}]."""
    if not plans or not departments:
        return []
    starts = {p.id: period_start(p.period, day) for p in plans}
    dep_ids = [d.id for d in departments]
    stmt = (select(ReportTask, Task).join(Task, Task.id == ReportTask.task_id)
            .where(or_(*[and_(ReportTask.plan_id == pid, ReportTask.period_start == start)
                         for pid, start in starts.items()]),
                   ReportTask.department_id.in_(dep_ids)))
    clause = report_clause(user, visible)
    if clause is not None:
        stmt = stmt.where(clause)
    found = list(db.session.execute(stmt))
    names = _names({link.user_id for link, _task in found})
    plan_by_id = {p.id: p for p in plans}
    now = utcnow()
    linkable = _linkable([task.id for _link, task in found], user)
    rows: dict[int, list[dict]] = {d: [] for d in dep_ids}
    seen = set()
    for link, task in found:
        seen.add((link.plan_id, link.user_id))
        status = _status(task, now)
        filed = status in (FILED, LATE)
        rows[link.department_id].append({
            "user": names.get(link.user_id, f"№ {link.user_id}"),
            "plan": str(plan_by_id[link.plan_id]),
            "period": _period_words(plan_by_id[link.plan_id], day),
            "status": status, "css": STATUS_CLASSES[status], "filed": filed,
            "filed_at": task.closed_at if filed else None, "deadline": task.deadline,
            "text": (task.result or "") if filed else "",
            "task_url": url_for("TaskView.show", pk=task.id) if task.id in linkable else None})
    members = _members(dep_ids, user, visible)
    away = absent_user_ids([m.id for m in members], day)
    for plan in plans:
        if not plan.active or not _asks_on(plan, day):
            continue
        for member in members:
            if (plan.department_id and plan.department_id != member.department_id) \
                    or (plan.id, member.id) in seen:
                continue
            # away that day: no report is asked, and the kind of absence is not told
            status = AWAY if member.id in away else NO_TASK
            rows[member.department_id].append({
                "user": str(member), "plan": str(plan), "period": _period_words(plan, day),
                "status": status, "css": STATUS_CLASSES[status], "filed": False,
                "filed_at": None, "deadline": None, "text": "", "task_url": None,
                "away": status == AWAY})
    groups = []
    for department in departments:
        items = sorted(rows[department.id], key=lambda r: (r["plan"], r["user"]))
        if items:
            groups.append({"department": department, "rows": items,
                           "filed": sum(1 for r in items if r["filed"]),
                           "total": sum(1 for r in items if not r.get("away"))})
    return groups


def _asks_on(plan: ReportPlan, day: dt.date) -> bool:
    """A task of the plan belongs to `day`'s period: a working day, or a week with one."""
    if plan.period == ReportPeriod.weekly.value:
        return bool(working_days_of_week(day))
    return is_working_day(day)


def _names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {u.id: str(u) for u in db.session.scalars(select(CrmUser).where(CrmUser.id.in_(ids)))}


def _members(dep_ids: list[int], user, visible: set[int] | None) -> list:
    """The active members of the shown departments the reader sees: themselves, those of
    the departments they head, or all."""
    where = [CrmUser.department_id.in_(dep_ids), CrmUser.active.is_(True)]
    if visible is not None:
        mine = CrmUser.id == getattr(user, "id", None)
        where.append(or_(mine, CrmUser.department_id.in_(visible)) if visible else mine)
    return list(db.session.scalars(select(CrmUser).where(*where)))


def _linkable(task_ids: list[int], user) -> set[int]:
    """The tasks the reader may open: the right to tasks and the tasks' row rule."""
    if not task_ids or not current_app.appbuilder.sm.has_access("can_read", "task"):
        return set()
    return set(db.session.scalars(scope_query(select(Task.id).where(Task.id.in_(task_ids)),
                                              Task, user)))


def register_views(appbuilder):
    register(appbuilder, ReportsView, "Сдача отчётов", CATEGORY, icon="fa-calendar-check-o",
             category_icon="fa-calendar")
    register(appbuilder, ReportPlanView, "Планы отчётов", CATEGORY, icon="fa-list-alt")
