"""A task's deadline and «Напомнить» time as schedule rows, kept in step with the task in the
same transaction whichever path saved it (form, API, a definition's effect): a new or moved
deadline (re)schedules its row, closing or deleting the task cancels its rows."""
from __future__ import annotations

from sqlalchemy import bindparam, event, inspect as sa_inspect, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from models.base import utcnow
from models.process import StageHistory
from models.schedule import ScheduledAction, ScheduleStatus
from models.task import OPEN_TASK_STATUSES, Task

_ROWS = (("deadline", "task_deadline"), ("remind_at", "task_reminder"))
_LIVE = (ScheduleStatus.pending.value, ScheduleStatus.enqueued.value)
_TABLE = ScheduledAction.__table__
# Built once, run with each flush's values: a flush that touches tasks builds no statement.
_READ_ROWS = select(_TABLE.c.effect_key, _TABLE.c.id, _TABLE.c.due_at, _TABLE.c.status).where(
    _TABLE.c.effect_key.in_(bindparam("keys", expanding=True)))
_CANCEL_ROW = update(_TABLE).where(_TABLE.c.id == bindparam("row_id")).values(
    status=ScheduleStatus.cancelled.value, last_error="Задача закрыта или срок снят")
_RESCHEDULE_ROW = update(_TABLE).where(_TABLE.c.id == bindparam("row_id")).values(
    due_at=bindparam("when"), status=ScheduleStatus.pending.value, attempts=0,
    next_attempt_at=None, enqueued_at=None, last_error=None)
_INSERT_ROW = _TABLE.insert()


def _key(task_id: int, action: str) -> str:
    return f"task:{task_id}:{action}"


def _minute(value):
    """Forms carry minutes: a save that re-sends the same deadline without its seconds is
    no new deadline and must not notify again."""
    return value.replace(second=0, microsecond=0) if value is not None else None


def _changed(task, attr: str) -> bool:
    return sa_inspect(task).attrs[attr].history.has_changes()


def _sync(session: Session, _context) -> None:
    tasks = [o for o in list(session.new) + list(session.dirty) if isinstance(o, Task)]
    deleted = [o.id for o in session.deleted if isinstance(o, Task) and o.id]
    if not tasks and not deleted:
        return
    connection = session.connection()
    if deleted:
        connection.execute(update(_TABLE).where(
            _TABLE.c.entity == "task", _TABLE.c.record_id.in_(deleted),
            _TABLE.c.status.in_(_LIVE)).values(status=ScheduleStatus.cancelled.value,
                                              last_error="Задача удалена"))
    todo = []
    for task in tasks:
        if task.id is None:
            continue
        is_new = task in session.new
        status_changed = is_new or _changed(task, "status")
        for attr, action in _ROWS:
            if not (is_new or status_changed or _changed(task, attr)):
                continue
            todo.append((task, action, getattr(task, attr)))
    if not todo:
        return
    # One read for the whole flush: each key is written below by its own task only.
    rows = {row.effect_key: row for row in connection.execute(
        _READ_ROWS, {"keys": [_key(task.id, action) for task, action, _ in todo]})}
    for task, action, when in todo:
        _sync_row(connection, task, action, when, rows.get(_key(task.id, action)))


def _sync_row(connection, task, action: str, when, row) -> None:
    key = _key(task.id, action)
    if not task.is_open or when is None:
        if row is not None and row.status in _LIVE:
            connection.execute(_CANCEL_ROW, {"row_id": row.id})
        return
    if row is None:
        connection.execute(_INSERT_ROW, {
            "action": action, "params": {}, "entity": "task", "record_id": task.id,
            "due_at": when, "status": ScheduleStatus.pending.value, "attempts": 0,
            "occurrence": 0, "outlives_stage": True, "effect_key": key,
            "created_at": utcnow()})
    elif _minute(row.due_at) != _minute(when) or row.status == ScheduleStatus.cancelled.value:
        # A moved deadline fires again (a new notification key: jobs.actions); a deadline
        # already in the past runs at the scheduler's next tick.
        connection.execute(_RESCHEDULE_ROW, {"row_id": row.id, "when": when})


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "after_flush", _sync)


def backfill() -> int:
    """Rows for what existed before the schedule did (open tasks with a deadline or a
    «Напомнить» time, records waiting in a stage with a deadline), so their overdue notices
    and escalations fire after an upgrade. Safe to repeat: the keys are the same."""
    known = set(db.session.scalars(select(ScheduledAction.effect_key)))
    added = 0
    for task in db.session.scalars(select(Task).where(
            Task.status.in_(list(OPEN_TASK_STATUSES)),
            (Task.deadline.is_not(None)) | (Task.remind_at.is_not(None)))):
        for attr, action in _ROWS:
            when = getattr(task, attr)
            if when is not None and _key(task.id, action) not in known:
                db.session.add(ScheduledAction(
                    action=action, params={}, entity="task", record_id=task.id, due_at=when,
                    outlives_stage=True, effect_key=_key(task.id, action)))
                added += 1
    for entry in db.session.scalars(select(StageHistory).where(
            StageHistory.left_at.is_(None), StageHistory.deadline_at.is_not(None))):
        key = f"{entry.transition_id}:{entry.stage_key}:deadline"
        if key not in known:
            db.session.add(ScheduledAction(
                action="stage_deadline", params={}, entity=entry.entity,
                record_id=entry.record_id, due_at=entry.deadline_at, stage_key=entry.stage_key,
                rule_key=f"{entry.process_key}.{entry.stage_key}.deadline",
                transition_id=entry.transition_id, effect_key=key))
            added += 1
    db.session.commit()
    return added
