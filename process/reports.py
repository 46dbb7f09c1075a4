"""Employees' reports («Формирование отчётов», seed 002): each working day every active
member of a department gets a task to write the plan of work for the day, and for the week
on the week's first working day; the department's head watches it. The plans are data
(models/report.py: `ReportPlan`); the screen «Отчёты сотрудников» reads who filed.

Working days are those of the Russian production calendar (rules/durations.py). Each task
carries the effect key `report:<plan>:<user>:<period start>`, so a run repeated, two runs at
once or a run after downtime make it once; a run creates the current period only, never the
days it missed. A daily schedule row (`REPORT_JOB_KEY`) runs it at the start of the working
day (REPORTS_CREATE_AT, by default WORK_DAY_START); `flask crm reports create` runs it by
hand."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.formatting import to_local, to_utc
from models.base import utcnow
from models.report import ReportPeriod, ReportPlan, ReportTask, render_title
from models.schedule import ScheduledAction
from models.task import REPORT_KIND, Task
from models.trash import SHOW_BINNED
from models.user import CrmUser, Department
from process.absence import absent_user_ids
from rules.durations import is_working_day, parse_clock

REPORT_JOB_KEY = "reports:create"
REPORT_JOB_ACTION = "report_create"
_KEYS_PER_QUERY = 500


@dataclass
class CreateResult:
    day: dt.date
    working: bool
    created: int = 0
    existing: int = 0


# --- the calendar -------------------------------------------------------------------------

def week_of(day: dt.date) -> dt.date:
    """The Monday of `day`'s week: a weekly report's period start."""
    return day - dt.timedelta(days=day.weekday())


def period_start(period: str, day: dt.date) -> dt.date:
    return week_of(day) if period == ReportPeriod.weekly.value else day


def working_days_of_week(day: dt.date) -> list[dt.date]:
    """The working days of `day`'s week, Saturdays a decree made working included; none
    in a week of holidays (the New Year's)."""
    monday = week_of(day)
    return [d for d in (monday + dt.timedelta(days=i) for i in range(7)) if is_working_day(d)]


def week_words(days: list[dt.date]) -> str:
    """"11.01–15.01.2027": the week as its working days."""
    if not days:
        return ""
    first, last = days[0], days[-1]
    if first == last:
        return f"{first:%d.%m.%Y}"
    if first.year == last.year:
        return f"{first:%d.%m}–{last:%d.%m.%Y}"
    return f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"


def effect_key(plan_key: str, user_id: int, start: dt.date) -> str:
    return f"report:{plan_key}:{user_id}:{start.isoformat()}"


def creation_time() -> dt.time:
    """When the day's reports are created: REPORTS_CREATE_AT, else the working day's start."""
    config = current_app.config
    return parse_clock(config.get("REPORTS_CREATE_AT") or config.get("WORK_DAY_START", "09:00"))


# --- creating the period's tasks ------------------------------------------------------------

@dataclass(frozen=True)
class _Wanted:
    plan: ReportPlan
    department: Department
    user: CrmUser
    start: dt.date
    title: str
    deadline: dt.datetime


def create_reports(day: dt.date) -> CreateResult:
    """The report tasks of `day` (a local date): for each active plan, each active member of
    its department (of every active department when it names none) gets one for the day,
    or for the week when the plan is weekly and that one is missing. Nothing on a day off.
    Writes into the caller's session; the caller commits. Two runs at once: the second's
    flush meets the unique effect key (IntegrityError) and its caller may run it again."""
    result = CreateResult(day=day, working=is_working_day(day))
    if not result.working:
        return result
    wanted = _wanted(day)
    have = _existing_keys(list(wanted))
    result.existing = len(have)
    heads = _heads({w.department.head_id for w in wanted.values()})
    for key, want in wanted.items():
        if key in have:
            continue
        _create(key, want, heads.get(want.department.head_id))
        result.created += 1
    db.session.flush()
    return result


def _wanted(day: dt.date) -> dict[str, _Wanted]:
    plans = list(db.session.scalars(select(ReportPlan).where(ReportPlan.active.is_(True))
                                    .order_by(ReportPlan.id)))
    if not plans:
        return {}
    departments = list(db.session.scalars(select(Department).where(
        Department.active.is_(True)).order_by(Department.name, Department.id)))
    members: dict[int, list[CrmUser]] = {d.id: [] for d in departments}
    for user in db.session.scalars(select(CrmUser).where(
            CrmUser.active.is_(True), CrmUser.department_id.in_(list(members)))
            .order_by(CrmUser.last_name, CrmUser.first_name, CrmUser.id)):
        members[user.department_id].append(user)
    week = working_days_of_week(day)
    everyone = [u.id for people in members.values() for u in people]
    # Nobody files a report of a day they are away (an approved leave, a sick leave): a
    # daily plan skips that day, a weekly one a week they are away every working day of.
    away_today = set(absent_user_ids(everyone, day))
    away_all_week = set(everyone)
    for working_day in week:
        away_all_week &= set(absent_user_ids(everyone, working_day))
    out: dict[str, _Wanted] = {}
    for plan in plans:
        weekly = plan.period == ReportPeriod.weekly.value
        start = period_start(plan.period, day)
        deadline = to_utc(dt.datetime.combine(week[-1] if weekly else day,
                                              plan.deadline_time.replace(tzinfo=None)))
        for department in departments:
            if plan.department_id is not None and plan.department_id != department.id:
                continue
            title = render_title(plan.title_template, {
                "date": f"{(week[0] if weekly else day):%d.%m.%Y}", "week": week_words(week),
                "department": department.name})
            for user in members[department.id]:
                if user.id in (away_all_week if weekly else away_today):
                    continue
                out[effect_key(plan.key, user.id, start)] = _Wanted(
                    plan, department, user, start, title, deadline)
    return out


def _existing_keys(keys: list[str]) -> set[str]:
    """Keys already used, by tasks in the recycle bin too (the key stays unique there)."""
    found: set[str] = set()
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        found |= set(db.session.scalars(
            select(Task.effect_key).where(Task.effect_key.in_(keys[i:i + _KEYS_PER_QUERY]))
            .execution_options(**SHOW_BINNED)))
    return found


def _heads(ids: set) -> dict[int, CrmUser]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(CrmUser).where(CrmUser.id.in_(ids)))}


def _create(key: str, want: _Wanted, head: CrmUser | None) -> None:
    task = Task(title=want.title, description=want.plan.description or None,
                assignee_id=want.user.id, deadline=want.deadline, kind=REPORT_KIND,
                effect_key=key)
    if head is not None and head.id != want.user.id:
        task.observers = [head]
    db.session.add(task)
    db.session.add(ReportTask(plan=want.plan, period=want.plan.period,
                              period_start=want.start, user_id=want.user.id,
                              department_id=want.department.id, task=task))


# --- the daily schedule row -----------------------------------------------------------------

def ensure_reports_scheduled() -> bool:
    """The daily creation is one schedule row that puts itself forward after each run
    (jobs/actions.py); True when it had to be created. Its first run is at once: the day
    already begun gets its reports."""
    exists = db.session.scalar(select(ScheduledAction.id)
                               .where(ScheduledAction.effect_key == REPORT_JOB_KEY))
    if exists is not None:
        return False
    db.session.add(ScheduledAction(action=REPORT_JOB_ACTION, params={}, due_at=utcnow(),
                                   effect_key=REPORT_JOB_KEY))
    return True


def run_due(now: dt.datetime) -> tuple[CreateResult | None, dt.datetime]:
    """What the schedule row does at `now` (naive UTC): the current day's reports once its
    working day has begun, and when to run next (naive UTC). A server down for days creates
    only today's, and this week's weekly ones if missing."""
    local = to_local(now).replace(tzinfo=None)
    start = creation_time()
    result = create_reports(local.date()) if local.time() >= start else None
    return result, next_run_at(now)


def next_run_at(now: dt.datetime) -> dt.datetime:
    """The next start of a working day after `now` (naive UTC in, naive UTC out)."""
    local = to_local(now).replace(tzinfo=None)
    start = creation_time()
    day = local.date()
    if not (is_working_day(day) and local.time() < start):
        day += dt.timedelta(days=1)
        while not is_working_day(day):
            day += dt.timedelta(days=1)
    return to_utc(dt.datetime.combine(day, start))
