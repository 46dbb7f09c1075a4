"""What a due schedule row does, by its `action`. Each runner writes into the row's
transaction and marks the row; every effect carries a key derived from the row's, so
running a row twice changes nothing the second time."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.extensions import db
from app.formatting import format_datetime, to_local, to_utc
from app.notify import notify_users
from errors import MissingFields, PermanentJobError, TransitionNotAllowed
from models.base import acting_as
from models.process import StageHistory
from models.registry import model_for
from models.schedule import ScheduleStatus
from models.user import CrmUser, Department
from models.trash import SHOW_BINNED
from process import acknowledgement, approvals
from process.people import resolve_people
from process.reports import REPORT_JOB_ACTION, run_due
from process.service import apply_effects
from process.snapshot import current_stage, process_of, record_values, template_context
from process.trash import PURGE_JOB_ACTION, purge_expired
from rules.durations import add_duration
from rules.engine import Effect, plan_scheduled

PURGE_EVERY = dt.timedelta(days=1)


def _done(row, now) -> None:
    row.status, row.done_at, row.enqueued_at = ScheduleStatus.done.value, now, None
    row.attempts = (row.attempts or 0) + 1
    row.last_error = None


def _cancel(row, now, why: str) -> None:
    row.status, row.done_at, row.enqueued_at, row.last_error = (
        ScheduleStatus.cancelled.value, now, None, why)


def _record(row):
    """The row's record, in the recycle bin too (`run_row` holds the row for it then)."""
    model = model_for(row.entity) if row.entity else None
    return db.session.get(model, row.record_id, execution_options=SHOW_BINNED) \
        if model is not None else None


def _hold(row, record) -> None:
    """Its record went to the bin after the row was claimed: it waits for the restore."""
    row.trash_batch_id = record.trash_batch_id
    row.status, row.enqueued_at = ScheduleStatus.pending.value, None


def _trash_purge(row, now) -> None:
    """The daily purge of the recycle bin: batches past TRASH_RETENTION_DAYS go for good,
    files included. The same row carries the next day's run; what could not be purged
    (a record outside the batch still points at it) is told in its last error."""
    _purged, refused = purge_expired(now)
    row.due_at, row.status, row.enqueued_at = (
        now + PURGE_EVERY, ScheduleStatus.pending.value, None)
    row.attempts = 0
    row.last_error = "; ".join(refused)[:2000] or None


def _reports(row, now) -> None:
    """Employees' reports (process/reports.py): the day's tasks once its working day has
    begun; the same row carries the next working day's run. A run after downtime creates
    the current period only."""
    result, next_at = run_due(now)
    row.due_at, row.status, row.enqueued_at = next_at, ScheduleStatus.pending.value, None
    row.attempts, row.last_error = 0, None
    if result is not None:  # the last run, for «Расписание»
        row.params = {"day": result.day.isoformat(), "created": result.created,
                      "existing": result.existing}


def _department_head(user_id) -> int | None:
    user = db.session.get(CrmUser, user_id) if user_id else None
    if user is None or not user.department_id:
        return None
    department = db.session.get(Department, user.department_id)
    head = department.head_id if department else None
    return head if head != user_id else None


def _local(value) -> dt.datetime:
    return to_local(value).replace(tzinfo=None)


# --- process effects ---------------------------------------------------------------------
def _remind(row, record, now) -> None:
    to = row.params.get("to") or ["responsible"]
    people = resolve_people(to if isinstance(to, list) else [to], record, None)
    text = row.params.get("text") or f"Напоминание: {record}"
    if not people and getattr(record, "created_by_id", None):
        # Nobody the definition names yet (event No. 2 before the secretary sets its
        # responsible): the reminder must still reach someone, and say why it came to them.
        people = [record.created_by_id]
        text += " (кому напомнить, не указано: напоминание отправлено автору записи)"
    notify_users(people, text, key=row.effect_key, kind="reminder", entity=row.entity,
                 record_id=row.record_id, due_at=row.due_at)
    _done(row, now)


def _delayed(row, record, now) -> None:
    """`schedule` and `repeat`: the inner action now, through the transition service."""

    process = process_of(record)
    if process is None:
        _cancel(row, now, "У записи больше нет процесса")
        return
    effect = Effect(action=row.action, key=row.effect_key, rule=row.rule_key or "",
                    stage=row.stage_key or "", params=dict(row.params))
    occurrence = (row.occurrence or 0) + 1
    effects, next_due = plan_scheduled(
        process, effect, record_values(record), _local(row.due_at), occurrence=occurrence,
        stage_key=current_stage(record), context=template_context(record))
    try:
        apply_effects(record, effects, None, "schedule")
    except (TransitionNotAllowed, MissingFields) as exc:
        # The record is not where the definition expected: retrying cannot help.
        raise PermanentJobError(f"Отложенный переход не выполнен: {exc}") from None
    next_at = _next_run(row, next_due, now)
    if row.action == "repeat" and next_at is not None \
            and row.status != ScheduleStatus.cancelled.value:
        # The same row carries the next run; its effects are keyed by the occurrence.
        row.occurrence, row.due_at = occurrence, next_at
        row.status, row.enqueued_at, row.attempts, row.last_error = (
            ScheduleStatus.pending.value, None, 0, None)
        return
    _done(row, now)


def _next_run(row, next_due, now) -> dt.datetime | None:
    """A repeat's next due time after `now`: runs missed during downtime are skipped (one
    catch-up run, not one per missed week); a time that does not move forward ends it."""
    if next_due is None:
        return None
    next_at = to_utc(next_due)
    every = row.params.get("every")
    while next_at <= now and every:
        later = to_utc(add_duration(_local(next_at), every))
        if later <= next_at:
            return None
        next_at = later
    return next_at if next_at > row.due_at else None


# --- deadlines and task reminders --------------------------------------------------------
def _about(task) -> str:
    """What a task notice names besides the title: its deadline and the record it is for."""
    parts = [f"срок {format_datetime(task.deadline)}"] if task.deadline else []
    model = model_for(task.record_entity) if task.record_entity else None
    record = db.session.get(model, task.record_id) if model is not None and task.record_id \
        else None
    if record is not None:
        parts.append(f"{getattr(model, '__label__', '') or task.record_entity} «{record}»")
    return f" ({', '.join(parts)})" if parts else ""


def _task_reminder(row, task, now) -> None:
    if not task.is_open:
        _cancel(row, now, "Задача закрыта")
        return
    # Keyed by the time: a «Напомнить» moved after it fired reminds again.
    notify_users([task.assignee_id or task.creator_id],
                 f"Напоминание по задаче «{task.title}»{_about(task)}",
                 key=f"{row.effect_key}:{row.due_at.isoformat()}",
                 kind="reminder", entity="task", record_id=task.id, due_at=row.due_at)
    _done(row, now)


def _task_deadline(row, task, now) -> None:
    """The deadline passed with the task open: the assignee is told, and their department
    head (the escalation of seed 001's «оповещение в случае задержки»)."""
    if not task.is_open or task.deadline is None:
        _cancel(row, now, "Задача закрыта или срок снят")
        return
    if task.deadline > now:
        row.due_at, row.status, row.enqueued_at = (
            task.deadline, ScheduleStatus.pending.value, None)
        return
    # One notice per deadline: saving the task again (the form drops the seconds) is no
    # new deadline, moving it to another minute is.
    key = f"{row.effect_key}:{task.deadline:%Y-%m-%dT%H:%M}"
    assignee = task.assignee_id or task.creator_id
    about = _about(task)
    notify_users([assignee], f"Просрочена задача «{task.title}»{about}",
                 key=key, kind="overdue", entity="task", record_id=task.id,
                 due_at=row.due_at)
    head = _department_head(assignee)
    if head:
        who = task.assignee or task.creator
        notify_users([head], f"Задержка: просрочена задача «{task.title}»{about}, "
                             f"исполнитель: {who}", key=f"{key}:head", kind="escalation",
                     entity="task", record_id=task.id, due_at=row.due_at)
    _done(row, now)


def _stage_deadline(row, record, now) -> None:
    still_there = db.session.scalar(select(StageHistory.id).where(
        StageHistory.entity == row.entity, StageHistory.record_id == row.record_id,
        StageHistory.transition_id == row.transition_id, StageHistory.left_at.is_(None)))
    if still_there is None or current_stage(record) != row.stage_key:
        _cancel(row, now, "Запись уже ушла с этапа")
        return
    process = process_of(record)
    stage = process.stage(row.stage_key) if process is not None else None
    name = stage.name if stage is not None else row.stage_key
    responsible = getattr(record, "responsible_id", None)
    people = [responsible] if responsible else []
    head = _department_head(responsible)
    people += [head] if head else []
    people += resolve_people(list(getattr(stage, "escalate_to", ()) or ()), record, None)
    label = getattr(type(record), "__label__", "") or row.entity
    text = (f"Задержка: {label} «{record}» на этапе «{name}» дольше срока "
            f"(срок истёк {format_datetime(row.due_at)})")
    notify_users(people, text, key=row.effect_key, kind="escalation", entity=row.entity,
                 record_id=row.record_id, due_at=row.due_at)
    _done(row, now)


def _approval_deadline(row, _approval, now) -> None:
    """A step of an approval is past its deadline: reminders and the escalation."""
    why = approvals.deadline_passed(row, now)
    if why:
        _cancel(row, now, why)
    else:
        _done(row, now)


# --- «Ознакомление» -------------------------------------------------------------------------
def _acknowledgement(tell):
    """A reminder or the deadline of a document: only those who have not confirmed by now
    are told (process/acknowledgement.py); a closed one tells nobody."""
    def run(row, ack, now) -> None:
        if not ack.is_open:
            _cancel(row, now, "Ознакомление закрыто")
            return
        tell(ack, row.effect_key, row.due_at)
        _done(row, now)
    return run


_ON_RECORD = {"remind": _remind, "schedule": _delayed, "repeat": _delayed,
              "stage_deadline": _stage_deadline,
              approvals.DEADLINE_ACTION: _approval_deadline,
              acknowledgement.REMINDER_ACTION: _acknowledgement(acknowledgement.remind),
              acknowledgement.DEADLINE_ACTION: _acknowledgement(acknowledgement.deadline_passed)}
_ON_TASK = {"task_reminder": _task_reminder, "task_deadline": _task_deadline}


def run_row(row, now) -> None:
    if row.action == PURGE_JOB_ACTION:
        with acting_as(None):
            _trash_purge(row, now)
        return
    if row.action == REPORT_JOB_ACTION:
        with acting_as(None):
            _reports(row, now)
        return
    runner = _ON_RECORD.get(row.action) or _ON_TASK.get(row.action)
    if runner is None:
        raise PermanentJobError(f"Неизвестное запланированное действие «{row.action}»")
    record = _record(row)
    if record is None:
        _cancel(row, now, "Запись удалена")
        return
    if getattr(record, "deleted_at", None) is not None:
        _hold(row, record)
        return
    with acting_as(None):
        runner(row, record, now)
