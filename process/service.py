"""The transition service: every change of a process record's stage goes through
`transition()`, and every effect a definition decides, whichever path decided it (a stage
move, a field change, a task outcome, «на основании», a due schedule row), goes through
`apply_effects()`.

Both write into the caller's session: the caller's commit keeps the move, its history,
its timeline and every effect; a failure anywhere rolls all of it back. Effects carry
unique keys derived from the transition id, so a move applied twice never creates a task
twice."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, inspect as sa_inspect, select

from flask import has_request_context

from app.extensions import db
from app.formatting import to_local, to_utc
from app.scope import may_change_stage
from errors import AccessDenied, AlreadyDone, CrmError, TransitionNotAllowed
from models.base import acting_user, current_actor_id, utcnow
from models.outbox import OutboxMessage
from models.process import StageHistory
from models.schedule import ScheduledAction
from models.registry import model_for
from models.task import OPEN_TASK_STATUSES, OUTCOME_SEPARATOR, Task, TaskStatus
from models.timeline import add_timeline
from models.trash import SHOW_BINNED
from process import approvals, checks, guard
from process.approvals import APPROVING
from process.effects.context import EffectContext
from process.effects.registry import handler_for
from process.effects.schedule import (
    cancel_stage_schedules, schedule_stage_deadline, write_row,
)
from process.people import CHOSEN
from process.txcache import reading
from process.snapshot import (
    committed_stage, current_stage, entity_of, is_process_record, old_values, process_of,
    record_values, template_context,
)
from rules.engine import (
    Effect, Plan, approval_only, plan_field_change, plan_manual, plan_move, plan_outcome,
    replan_dated,
    rerender, why_not,
)

_MAX_CHAIN = 5  # move_stage inside a move: a definition loop must not recurse forever
# Effects after which templates are rendered again: they change what a template may name.
RECORD_CHANGING = frozenset({"assign", "set_field"})
# Effects that leave the record's own values as they were (they add tasks, messages or
# schedule rows beside it): the values read for the effect before them still hold after.
KEEPS_RECORD = frozenset({"create_task", "notify", "send_message", "schedule", "repeat",
                          "remind"})
# Outcome effects that change the record itself (not only add tasks or messages): a task's
# outcome may act so only for whom a stage button would.
OUTCOME_CHANGES_RECORD = RECORD_CHANGING | {"move_stage", "convert_lead", "move_record"}
MOVED_WORDS = {"deal": "сделка перешла", "lead": "лид перешёл", "event": "событие перешло",
               "order": "заказ перешёл", "request": "заявка перешла"}


@dataclass(frozen=True)
class MoveResult:
    plan: Plan | None
    from_stage: str | None
    to_stage: str


def _now_local():
    return to_local(utcnow()).replace(tzinfo=None)


def may_move(record, to_key: str):
    """One answer for the button and the request: None, or the typed refusal."""
    process = process_of(record)
    if process is None:
        return None
    values = record_values(record)
    current = current_stage(record)
    return by_hand_refusal(process, current, to_key, values) \
        or why_not(process, current, to_key, values) \
        or (checks.refusal(record, process, to_key) if current != to_key else None)


def by_hand_refusal(process, from_key, to_key: str, values) -> TransitionNotAllowed | None:
    """A stage a person may not set by a button or a save: one an approver's decision sets
    (`approval_only`) or the process sets (`by_process`)."""
    if from_key == to_key or APPROVING.get():
        return None
    if approval_only(process, to_key, values):
        return _only_by_approval(process, to_key)
    return _by_hand_refused(process, to_key)


# Saves and buttons of a person; every other source is the process itself.
HAND_SOURCES = frozenset({"form", "api", "bulk"})


def _by_hand_refused(process, to_key) -> TransitionNotAllowed | None:
    try:
        stage = process.stage(to_key)
    except KeyError:
        return None  # why_not() names the unknown stage
    if stage.by_process:
        return TransitionNotAllowed(f"Этап «{stage.name}» выставляется итогом задачи, "
                                    "вручную его не выбирают")
    return None


def _only_by_approval(process, to_key) -> TransitionNotAllowed:
    return TransitionNotAllowed(f"Этап «{process.stage(to_key).name}» выставляет только "
                                "решение согласующего")


# --- the move ----------------------------------------------------------------------------
def transition(record, to_key: str, actor_id: int | None = None, source: str = "form",
               _depth: int = 0, from_key: str | None = ...) -> MoveResult:
    """Moves `record` to stage `to_key` and writes every effect into the session.

    Raises TransitionNotAllowed or MissingFields (Russian messages); the caller rolls back."""
    if _depth > _MAX_CHAIN:
        raise CrmError("Процесс зациклился: слишком много переходов подряд")
    actor_id = actor_id if actor_id is not None else current_actor_id()
    if from_key is ...:
        from_key = committed_stage(record)
    process = process_of(record)
    if record.id is None:
        db.session.add(record)
        db.session.flush()  # effects point at the record by id
    if process is None:
        guard.set_stage(record, to_key)
        return MoveResult(None, from_key, to_key)
    values = record_values(record, process)
    if from_key != to_key and not APPROVING.get() and approval_only(process, to_key, values):
        raise _only_by_approval(process, to_key)
    if from_key != to_key and _depth == 0 and source in HAND_SOURCES \
            and (refused := _by_hand_refused(process, to_key)):
        raise refused
    plan = plan_move(process, from_key, to_key, values,
                     uuid.uuid4().hex, _now_local(), context=template_context(record))
    if from_key != to_key:
        refused = checks.refusal(record, process, to_key)
        if refused is not None:
            raise refused
    guard.set_stage(record, to_key)
    if from_key != to_key:
        entity = entity_of(record)
        _write_history(record, entity, process, from_key, to_key, plan, actor_id, source)
        cancel_stage_schedules(entity, record.id, from_key)
        close_stage_tasks(record, process, from_key, to_key)
        approvals.cancel_for_stage(record, process, from_key, to_key)
        if process.stage(to_key).kind == "lost":
            approvals.cancel_for_record(entity, record.id,
                                        f"Запись перешла на этап «{process.stage(to_key).name}»")
    apply_effects(record, plan.effects, actor_id, source, _depth=_depth, process=process)
    return MoveResult(plan, from_key, to_key)


def apply_effects(record, effects, actor_id: int | None, source: str, _depth: int = 0,
                  process=None, context: dict | None = None) -> int:
    """Writes `effects` of `record`'s process into the session, whichever path decided them.

    Each effect's templates are rendered again once an effect before it changed the record
    (an `assign`, a `set_field`): a letter after `assign` names the new manager. Moves
    (`move_stage`) come last, each through `transition()`. Returns how many were applied."""
    if not effects:
        return 0
    process = process or process_of(record)
    entity = entity_of(record)

    def move(target, to_key, from_key=...):
        return transition(target, to_key, actor_id, source="process", _depth=_depth + 1,
                          from_key=from_key)

    ctx = EffectContext(record=record, entity=entity, process=process, actor_id=actor_id,
                        source=source, move=move)
    moves, changed = [], False
    # (stamp, values, context) of the record as read for the last rerender: still the
    # record after effects that keep it, unless a flush wrote it meanwhile (the stamp).
    fresh = None
    for effect in effects:
        if effect.action == "move_stage":
            moves.append(effect.params["to"])
            continue
        if changed:
            stamp = _stamp(record)
            if fresh is None or fresh[0] != stamp:
                fresh = stamp, record_values(record, process), template_context(record)
            # `context`: what the caller's templates named beyond the record ({approval.*})
            effect = rerender(process, effect, fresh[1], {**fresh[2], **(context or {})})
        handler_for(effect.action)(ctx, effect)
        changed = changed or effect.action in RECORD_CHANGING
        if effect.action not in KEEPS_RECORD:
            fresh = None
    for to_key in moves:
        if current_stage(record) != to_key:
            move(record, to_key)
    return len(effects)


def _stamp(record) -> tuple:
    """What a flush that writes the record changes (its version, its update time)."""
    return getattr(record, "version", None), getattr(record, "updated_at", None)


def _write_history(record, entity, process, from_key, to_key, plan, actor_id, source):
    now = utcnow()
    open_rows = reading((StageHistory,), lambda: db.session.scalars(
        _open_history_query(), {"entity": entity, "record_id": record.id}).all())
    for row in open_rows:
        row.left_at, row.left_by_id = now, actor_id
    target = process.stage(to_key)
    db.session.add(StageHistory(
        entity=entity, record_id=record.id, process_key=process.key, stage_key=to_key,
        stage_name=target.name, entered_at=now, entered_by_id=actor_id,
        transition_id=plan.transition_id, source=source,
        deadline_at=to_utc(plan.stage_deadline) if plan.stage_deadline else None))
    if plan.stage_deadline:
        schedule_stage_deadline(record, entity, target, plan)
    old_name = process.stage(from_key).name if from_key else None
    text = (f"Этап: «{old_name}» → «{target.name}»" if old_name
            else f"Этап: «{target.name}»")
    add_timeline(entity, record.id, "stage", text, author_id=actor_id,
                 payload={"from": from_key, "to": to_key, "transition": plan.transition_id})


def close_stage_tasks(record, process, from_key: str | None, to_key: str) -> None:
    """Tasks a rule of the stage being left created, still open, are cancelled with the
    reason (Bitrix24's «завершить задачу при смене стадии»); `keep_open: true` keeps one."""
    if not from_key:
        return
    stage_of = {rule: stage for rule, (stage, _action) in process.rules.items()}
    with db.session.no_autoflush:
        tasks = db.session.scalars(_open_rule_tasks_query(), {
            "entity": entity_of(record), "record_id": record.id}).all()
    target = process.stage(to_key).name
    moved = MOVED_WORDS.get(entity_of(record), "запись перешла")
    for task in tasks:
        if task.status not in OPEN_TASK_STATUSES or stage_of.get(task.rule_key) != from_key:
            continue  # closed in this very save (the outcome that moves the record)
        if process.rules[task.rule_key][1].params.get("keep_open"):
            continue
        task.status = TaskStatus.cancelled.value
        task.result = f"Отменена: {moved} на этап «{target}»"
        add_timeline(entity_of(record), record.id, "system",
                     f"Задача «{task.title}» отменена: этап «{target}»", author_id=0)


# Built once (every move runs them): the record is a parameter.
@cache
def _open_history_query():
    return select(StageHistory).where(
        StageHistory.entity == bindparam("entity"),
        StageHistory.record_id == bindparam("record_id"), StageHistory.left_at.is_(None))


@cache
def _open_rule_tasks_query():
    return select(Task).where(
        Task.record_entity == bindparam("entity"), Task.record_id == bindparam("record_id"),
        Task.rule_key.is_not(None), Task.status.in_(OPEN_TASK_STATUSES))


# --- saves from forms and the API --------------------------------------------------------
def route_stage_change(item, source: str) -> None:
    """Called before a form or API save: a changed (or first) stage goes through
    `transition()`; a changed field may fire the definition's triggers; a task the engine
    created, closed with an outcome, runs what that outcome says."""
    if entity_of(item) == "task":
        task_closed(item, source)
        return
    if not is_process_record(item):
        return
    new_key = current_stage(item)
    state = sa_inspect(item)
    if state.transient or state.pending:
        # A new record enters its first stage: its entry actions run (with a process).
        if new_key is not None and process_of(item) is not None:
            transition(item, new_key, source=source, from_key=None)
        return
    old_key = committed_stage(item)
    guard.refuse_readonly_changes(item, old_key)
    if new_key != old_key and new_key is not None:
        transition(item, new_key, source=source, from_key=old_key)
    else:
        field_changed(item, source)


def field_changed(record, source: str = "form") -> None:
    """A save that keeps the stage: dated rows and task deadlines follow their dates, and
    the definition's `on_change` triggers may fire."""
    with db.session.no_autoflush:  # a flush now would make the new values the stored ones
        process = process_of(record)
        before = old_values(record) if process is not None else None
    if process is None:
        return
    approvals.record_saved(record)
    _replan_dated(record, process, before)
    if not getattr(process, "triggers", None):
        return
    effects = plan_field_change(process, record_values(record), before, uuid.uuid4().hex,
                                _now_local(), stage_key=current_stage(record),
                                context=template_context(record))
    apply_effects(record, effects, current_actor_id(), source)


def _replan_dated(record, process, before: dict) -> None:
    stage_key = current_stage(record)
    entry = db.session.scalar(select(StageHistory.transition_id).where(
        StageHistory.entity == entity_of(record), StageHistory.record_id == record.id,
        StageHistory.left_at.is_(None)).order_by(StageHistory.id.desc()))
    if entry is None or stage_key is None:
        return
    effects = replan_dated(process, stage_key, record_values(record), before, entry,
                           _now_local(), context=template_context(record))
    for effect in effects:
        if effect.action == "create_task":
            _follow_date(effect)
        else:
            write_row(record, entity_of(record), effect)


def _follow_date(effect: Effect) -> None:
    """A task whose deadline hangs on a date field gets it when the date is filled and
    follows it when it moves."""
    task = db.session.scalar(select(Task).where(Task.effect_key == effect.key))
    if task is not None and task.status in OPEN_TASK_STATUSES:
        task.deadline = to_utc(effect.due_at) if effect.due_at else None


def task_closed(task, source: str = "form") -> None:
    """A task created by a definition is being closed (status "done"): its outcome may move
    the record, create the next task (the proposal loop), set fields or start actions."""
    if not task.rule_key or task.status != TaskStatus.done.value or not task.record_entity:
        return
    state = sa_inspect(task)
    if not (state.transient or state.pending):
        with db.session.no_autoflush:
            stored = db.session.execute(select(type(task).status)
                                        .where(type(task).id == task.id)).scalar()
        if stored == TaskStatus.done.value:
            return  # closed before: saving it again runs nothing twice
    model = model_for(task.record_entity)
    record = db.session.get(model, task.record_id) if model is not None else None
    if record is None or not is_process_record(record):
        return
    process = process_of(record)
    if process is None or task.rule_key not in getattr(process, "rules", {}):
        return
    effects = plan_outcome(process, task.rule_key, _outcome_parts(task.outcome),
                           record_values(record),
                           uuid.uuid4().hex, _now_local(), comment=task.result,
                           stage_key=current_stage(record), context=template_context(record))
    if any(e.action in OUTCOME_CHANGES_RECORD for e in effects) and has_request_context() \
            and not may_change_stage(record, acting_user()):
        # The same check as a stage button: closing a task is no back door to a record.
        raise AccessDenied("Итог задачи меняет запись, которую вы не можете изменять: "
                           "закройте задачу без итога или попросите ответственного")
    apply_effects(record, effects, current_actor_id(), "task")


def _outcome_parts(outcome):
    """An outcome as the engine takes it: "Да / Отложенные" is the answer and the second
    question's answer."""
    if outcome and OUTCOME_SEPARATOR in outcome:
        return [part.strip() for part in outcome.split(OUTCOME_SEPARATOR)]
    return outcome or None


def outcome_target(task, outcome) -> str | None:
    """The stage `outcome` of a rule's `task` would move its record to (None: no move).
    Planned, not applied: what a form may ask for before closing the task."""
    model = model_for(task.record_entity) if task.record_entity else None
    record = db.session.get(model, task.record_id) if model is not None else None
    process = process_of(record) if record is not None else None
    if process is None or task.rule_key not in getattr(process, "rules", {}):
        return None
    effects = plan_outcome(process, task.rule_key, _outcome_parts(outcome),
                           record_values(record), "probe",
                           _now_local(), stage_key=current_stage(record),
                           context=template_context(record))
    return next((e.params["to"] for e in effects if e.action == "move_stage"), None)


# --- «создать на основании» --------------------------------------------------------------
def create_based_on(record, key: str, chosen_user_id: int | None = None,
                    source: str = "form", request_key: str | None = None) -> int:
    """A person's «создать на основании» `key` of the record's process (the work assignment
    «Консультация потенциального клиента», «Утверждение К.П.», a meeting, an order...).
    `request_key` names the click: the same click sent again writes nothing again (its
    effects carry the same keys). Returns how many effects were applied; raises the typed
    refusal."""
    process = process_of(record)
    if process is None:
        raise TransitionNotAllowed("У записи нет процесса")
    click = f"click-{request_key}" if request_key else uuid.uuid4().hex
    effects = plan_manual(process, key, record_values(record), click,
                          _now_local(), stage_key=current_stage(record),
                          context=template_context(record))
    if request_key and _click_applied(effects):
        raise AlreadyDone()
    if chosen_user_id is None and any(_needs_choice(e.params) for e in effects):
        raise TransitionNotAllowed("Выберите сотрудника")
    token = CHOSEN.set(chosen_user_id)
    try:
        return apply_effects(record, effects, current_actor_id(), source)
    finally:
        CHOSEN.reset(token)


def _click_applied(effects) -> bool:
    """Any effect of this click already written (a task, a message or a schedule row)."""
    keys = [e.key for e in effects]
    return any(db.session.scalar(select(model.id).where(model.effect_key.in_(keys))
                                 .execution_options(**SHOW_BINNED))
               is not None for model in (Task, OutboxMessage, ScheduledAction))


def _needs_choice(params) -> bool:
    return any(isinstance(v, dict) and "chosen" in v for v in params.values())


def chosen_role(process, key: str) -> str | None:
    """The role whose member the person must pick for this «на основании» action."""
    manual = next((m for m in getattr(process, "manual", ()) if m.key == key), None)
    for action in manual.actions if manual else ():
        for value in action.params.values():
            if isinstance(value, dict) and "chosen" in value:
                return value["chosen"]
    return None
