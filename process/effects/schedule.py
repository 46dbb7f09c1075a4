"""Effects due later: rows of the schedule table (reminders, delayed and repeated actions,
date-relative ones, stage deadlines). The scheduler hands due rows to the workers."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select

from app.extensions import db
from app.formatting import to_local, to_utc
from models.base import utcnow
from models.schedule import ScheduledAction, ScheduleStatus
from process.effects.context import EffectContext
from rules.engine import Effect


PENDING = (ScheduleStatus.pending.value, ScheduleStatus.enqueued.value)


def schedule(ctx: EffectContext, effect: Effect) -> None:
    """A schedule row (`schedule`, `repeat`, `remind`). One hanging on an empty date field is
    not written until the date is filled (`replan_dated`); one whose date moved gets its due
    time recomputed. A reminder's people are resolved when it fires: the responsible may be
    set after the move (the secretary sets it on event No. 2)."""
    write_row(ctx.record, ctx.entity, effect)


def write_row(record, entity: str, effect: Effect) -> None:
    row = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.effect_key == effect.key))
    relative = bool(effect.params.get("relative_to"))
    if effect.due_at is None and relative:
        if row is not None and row.status in PENDING:
            row.status = ScheduleStatus.cancelled.value  # the date was emptied
        return
    due = to_utc(effect.due_at or to_local(utcnow()).replace(tzinfo=None))
    if row is not None:
        if relative and row.status in (*PENDING, ScheduleStatus.cancelled.value):
            # Back to pending: a job already holding it finds it not due and skips it.
            row.due_at, row.status, row.enqueued_at = due, ScheduleStatus.pending.value, None
            row.next_attempt_at = None
        return
    db.session.add(ScheduledAction(
        action=effect.action, params=_jsonable(effect.params), entity=entity,
        record_id=record.id, due_at=due, stage_key=effect.stage,
        outlives_stage=bool(effect.params.get("keep") or effect.params.get("outlives_stage")),
        rule_key=effect.rule, transition_id=effect.key.split(":")[0], effect_key=effect.key))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def schedule_stage_deadline(record, entity, stage, plan) -> None:
    """The stage's deadline passing with the record still there notifies the responsible
    and escalates (jobs.actions); leaving the stage cancels it like any row of the stage."""
    db.session.add(ScheduledAction(
        action="stage_deadline", params={"deadline": stage.deadline}, entity=entity,
        record_id=record.id, due_at=to_utc(plan.stage_deadline), stage_key=stage.key,
        rule_key=f"{plan.process}.{stage.key}.deadline", transition_id=plan.transition_id,
        effect_key=f"{plan.transition_id}:{stage.key}:deadline"))


def cancel_stage_schedules(entity, record_id, stage_key) -> None:
    if not stage_key:
        return
    rows = db.session.scalars(_stage_rows_query(), {
        "entity": entity, "record_id": record_id, "stage_key": stage_key}).all()
    for row in rows:
        # An enqueued row's job finds it cancelled and does nothing.
        row.status = ScheduleStatus.cancelled.value


@cache
def _stage_rows_query():
    """Built once (every move runs it): the record and the stage are parameters."""
    return select(ScheduledAction).where(
        ScheduledAction.entity == bindparam("entity"),
        ScheduledAction.record_id == bindparam("record_id"),
        ScheduledAction.stage_key == bindparam("stage_key"),
        ScheduledAction.outlives_stage.is_(False), ScheduledAction.status.in_(PENDING))
