"""The transition service: every change of a process record's stage goes through
`transition()`, whichever path it came from (form, API, bulk move, task outcome, job).

It asks the engine core (rules/) whether the move may happen and what it causes, and writes
the move, the stage history, the timeline and every effect (tasks, outbox messages,
schedule rows, field changes) into the caller's session: the caller's commit keeps all of
it, a failure anywhere rolls all of it back. Effects carry unique keys derived from the
transition id, so a move applied twice never creates a task twice. A stage column changed
behind the service's back is refused at flush."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import event, func, inspect as sa_inspect, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.formatting import to_local, to_utc
from errors import CrmError, TransitionNotAllowed
from models.base import current_actor_id, utcnow
from rules.engine import Effect, Plan, plan_move, readonly_fields, why_not

import contextvars

# The user a person picked for a `{chosen: role}` spec of a «на основании» action.
_CHOSEN: contextvars.ContextVar[int | None] = contextvars.ContextVar("crm_chosen", default=None)

# The column that holds the stage of each process entity.
STAGE_ATTR = {"deal": "stage", "lead": "stage", "event": "state", "order": "status"}
_MAX_CHAIN = 5  # move_stage inside a move: a definition loop must not recurse forever


@dataclass(frozen=True)
class MoveResult:
    plan: Plan | None
    from_stage: str | None
    to_stage: str


# --- reading a record --------------------------------------------------------------------
def entity_of(record) -> str:
    return getattr(type(record), "__entity__", "")


def is_process_record(record) -> bool:
    return entity_of(record) in STAGE_ATTR


def _key(value) -> str | None:
    """A stage value as its key: a Stage row, or the status string of events and orders."""
    if value is None:
        return None
    return getattr(value, "key", value)


def current_stage(record) -> str | None:
    return _key(getattr(record, STAGE_ATTR[entity_of(record)]))


def committed_stage(record) -> str | None:
    """The stage as the database has it (before this unit of work changed it). Read from
    the database: an unloaded relationship keeps no history of its old value."""
    state = sa_inspect(record)
    if state.transient or state.pending:
        return None
    model = type(record)
    attr = STAGE_ATTR[entity_of(record)]
    with db.session.no_autoflush:
        if attr == "stage":
            from models.pipeline import Stage

            return db.session.execute(select(Stage.key).join(
                model, model.stage_id == Stage.id).where(model.id == record.id)).scalar()
        return db.session.execute(select(getattr(model, attr))
                                  .where(model.id == record.id)).scalar()


def process_of(record):
    from app import processes

    entity = entity_of(record)
    if entity in ("deal", "lead"):
        pipeline_id = record.pipeline_id or getattr(record.pipeline, "id", None)
        return processes.process_for_pipeline(pipeline_id) if pipeline_id else None
    return processes.process_for_entity(entity)


def record_values(record) -> dict:
    """The record as plain values for conditions, required fields and templates: every
    column, every to-one relationship by its id under the relationship's name, the custom
    fields, and the "Другое" flag of the lost reason."""
    mapper = sa_inspect(type(record))
    values = {c.key: getattr(record, c.key) for c in mapper.column_attrs}
    from models.reference import ReferenceItem

    for rel in mapper.relationships:
        target = getattr(record, rel.key, None)
        if rel.uselist:
            values[rel.key] = [getattr(x, "id", x) for x in target or []]
        elif isinstance(target, ReferenceItem):
            values[rel.key] = target.code  # definitions compare list items by their codes
        else:
            values[rel.key] = getattr(target, "id", None) if target is not None else None
    values.update(getattr(record, "custom", None) or {})
    _attached_files(record, values)
    reason = getattr(record, "lost_reason", None)
    values["lost_reason_is_other"] = bool(getattr(reason, "is_other", False))
    return values


def _attached_files(record, values: dict) -> None:
    """A definition's file field with no value is filled when the record has a file on its
    «Файлы» tab: "attached file mandatory" means a file attached to the record."""
    if record.id is None or entity_of(record) not in STAGE_ATTR:
        return
    process = process_of(record)
    file_fields = [f.key for f in getattr(process, "fields", ()) if f.type == "file"]
    if not any(values.get(key) in (None, "") for key in file_fields):
        return
    from models.attachment import Attachment

    first = db.session.scalar(select(Attachment.id).where(
        Attachment.entity == entity_of(record), Attachment.record_id == record.id)
        .order_by(Attachment.id))
    for key in file_fields:
        if values.get(key) in (None, "") and first is not None:
            values[key] = first


def _person(user) -> dict:
    if user is None:
        return {}
    return {"full_name": user.full_name, "first_name": user.first_name,
            "last_name": user.last_name, "position": user.position or "",
            "phone": user.phone or "", "email": user.email or ""}


def template_context(record) -> dict:
    company = getattr(record, "company", None)
    return {"responsible": _person(getattr(record, "responsible", None)),
            "company": {"name": getattr(company, "name", ""), "inn": getattr(company, "inn", "")},
            "record": {"id": record.id, "title": str(record)},
            "now": to_local(utcnow()).strftime("%d.%m.%Y %H:%M")}


# --- the guard: stage columns change only through transition() -------------------------
def _allowed(session: Session) -> set:
    return session.info.setdefault("crm_stage_moves", set())


def _set_stage(record, to_key: str, process) -> None:
    attr = STAGE_ATTR[entity_of(record)]
    if attr == "stage":
        from models.pipeline import Stage

        stage = db.session.scalar(select(Stage).where(
            Stage.pipeline_id == record.pipeline_id, Stage.key == to_key))
        if stage is None:
            raise TransitionNotAllowed(f"В воронке нет этапа «{to_key}»")
        record.stage = stage
    else:
        setattr(record, attr, to_key)
    _allowed(db.session).add(id(record))


def _refuse_stage_writes(session: Session, _context, _instances) -> None:
    allowed = _allowed(session)
    for obj in session.dirty:
        if not is_process_record(obj) or id(obj) in allowed:
            continue
        state = sa_inspect(obj)
        attr = STAGE_ATTR[entity_of(obj)]
        names = (attr, "stage_id") if attr == "stage" else (attr,)
        added = [state.attrs[n].history.added for n in names]
        if not any(added):
            continue
        new = next(_key(a[0]) if n == attr else a[0] for n, a in zip(names, added) if a)
        column = "stage_id" if attr == "stage" else attr
        with session.no_autoflush:
            stored = session.execute(select(getattr(type(obj), column))
                                     .where(type(obj).id == obj.id)).scalar()
        if attr == "stage" and isinstance(new, str):
            new_id = getattr(state.attrs["stage"].history.added[0], "id", None)
            changed = new_id != stored
        else:
            changed = new != stored
        if changed:
            raise TransitionNotAllowed(
                "Этап записи меняется только переходом по процессу (форма, API или "
                "действие процесса), а не прямой записью в базу")


def _forget_allowed(session: Session, _context) -> None:
    session.info.pop("crm_stage_moves", None)


_installed = False


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _refuse_stage_writes)
        event.listen(Session, "after_flush_postexec", _forget_allowed)
        _installed = True


# --- the service -------------------------------------------------------------------------
def may_move(record, to_key: str):
    """One answer for the button and the request: None, or the typed refusal."""
    process = process_of(record)
    if process is None:
        return None
    return why_not(process, current_stage(record), to_key, record_values(record))


def transition(record, to_key: str, actor_id: int | None = None, source: str = "form",
               _depth: int = 0, from_key: str | None = ...) -> MoveResult:
    """Moves `record` to stage `to_key` and writes every effect into the session.

    Raises TransitionNotAllowed or MissingFields (Russian messages); the caller rolls back."""
    if _depth > _MAX_CHAIN:
        raise CrmError("Процесс зациклился: слишком много переходов подряд")
    actor_id = actor_id if actor_id is not None else current_actor_id()
    entity = entity_of(record)
    if from_key is ...:
        from_key = committed_stage(record)
    process = process_of(record)
    if record.id is None:
        db.session.add(record)
        db.session.flush()  # effects point at the record by id
    if process is None:
        _set_stage(record, to_key, None)
        return MoveResult(None, from_key, to_key)
    now_local = to_local(utcnow()).replace(tzinfo=None)
    values = record_values(record)
    transition_id = uuid.uuid4().hex
    plan = plan_move(process, from_key, to_key, values, transition_id, now_local,
                     context=template_context(record))
    _set_stage(record, to_key, process)
    if from_key != to_key:
        _write_history(record, entity, process, from_key, to_key, plan, actor_id, source)
        _cancel_stage_schedules(entity, record.id, from_key)
    chained = []
    for effect in plan.effects:
        if effect.action == "move_stage":
            chained.append(effect.params["to"])
            continue
        APPLY.get(effect.action, _unsupported)(record, entity, process, effect, actor_id)
    for target in chained:
        transition(record, target, actor_id, source="process", _depth=_depth + 1)
    return MoveResult(plan, from_key, to_key)


def _write_history(record, entity, process, from_key, to_key, plan, actor_id, source):
    from models.process import StageHistory
    from models.timeline import add_timeline

    now = utcnow()
    open_rows = db.session.scalars(select(StageHistory).where(
        StageHistory.entity == entity, StageHistory.record_id == record.id,
        StageHistory.left_at.is_(None))).all()
    for row in open_rows:
        row.left_at, row.left_by_id = now, actor_id
    target = process.stage(to_key)
    db.session.add(StageHistory(
        entity=entity, record_id=record.id, process_key=process.key, stage_key=to_key,
        stage_name=target.name, entered_at=now, entered_by_id=actor_id,
        transition_id=plan.transition_id, source=source,
        deadline_at=to_utc(plan.stage_deadline) if plan.stage_deadline else None))
    if plan.stage_deadline:
        _schedule_stage_deadline(record, entity, target, plan)
    old_name = process.stage(from_key).name if from_key else None
    text = (f"Этап: «{old_name}» → «{target.name}»" if old_name
            else f"Этап: «{target.name}»")
    add_timeline(entity, record.id, "stage", text, author_id=actor_id,
                 payload={"from": from_key, "to": to_key, "transition": plan.transition_id})


def _schedule_stage_deadline(record, entity, stage, plan) -> None:
    """The stage's deadline passing with the record still there notifies the responsible
    and escalates (jobs.actions); leaving the stage cancels it like any row of the stage."""
    from models.schedule import ScheduledAction

    db.session.add(ScheduledAction(
        action="stage_deadline", params={"deadline": stage.deadline}, entity=entity,
        record_id=record.id, due_at=to_utc(plan.stage_deadline), stage_key=stage.key,
        rule_key=f"{plan.process}.{stage.key}.deadline", transition_id=plan.transition_id,
        effect_key=f"{plan.transition_id}:{stage.key}:deadline"))


def _cancel_stage_schedules(entity, record_id, stage_key) -> None:
    if not stage_key:
        return
    from models.schedule import ScheduledAction, ScheduleStatus

    rows = db.session.scalars(select(ScheduledAction).where(
        ScheduledAction.entity == entity, ScheduledAction.record_id == record_id,
        ScheduledAction.stage_key == stage_key, ScheduledAction.outlives_stage.is_(False),
        ScheduledAction.status.in_((ScheduleStatus.pending.value,
                                    ScheduleStatus.enqueued.value)))).all()
    for row in rows:
        # An enqueued row's job finds it cancelled and does nothing.
        row.status = ScheduleStatus.cancelled.value


# --- people ------------------------------------------------------------------------------
def _users_with_role(role: str) -> list:
    from flask_appbuilder.security.sqla.models import Role

    from models.user import CrmUser

    return list(db.session.scalars(select(CrmUser).join(CrmUser.roles).where(
        Role.name == role, CrmUser.active.is_(True)).order_by(CrmUser.id)))


def _least_busy(users) -> int | None:
    """The member with the fewest open tasks (ties: the lowest id): work spreads evenly."""
    from models.task import OPEN_TASK_STATUSES, Task

    if not users:
        return None
    counts = dict(db.session.execute(
        select(Task.assignee_id, func.count(Task.id))
        .where(Task.assignee_id.in_([u.id for u in users]),
               Task.status.in_(OPEN_TASK_STATUSES))
        .group_by(Task.assignee_id)).all())
    return min(users, key=lambda u: (counts.get(u.id, 0), u.id)).id


def resolve_person(spec, record, actor_id) -> int | None:
    from models.user import CrmUser, Department

    if spec in (None, "responsible"):
        return getattr(record, "responsible_id", None) or actor_id
    if spec == "actor":
        return actor_id
    (kind, arg), = spec.items()
    if kind == "role":
        return _least_busy(_users_with_role(arg))
    if kind == "department_head":
        responsible = db.session.get(CrmUser, getattr(record, "responsible_id", None) or 0)
        department = db.session.get(Department, responsible.department_id) \
            if responsible and responsible.department_id else None
        return department.head_id if department else None
    if kind == "user":
        return db.session.scalar(select(CrmUser.id).where(CrmUser.username == arg))
    if kind == "field":
        return record_values(record).get(arg)
    if kind == "chosen":
        return _CHOSEN.get()
    return None


def resolve_people(specs, record, actor_id) -> list[int]:
    out = []
    for spec in specs or []:
        if isinstance(spec, dict) and "role" in spec:
            ids = [u.id for u in _users_with_role(spec["role"])]
        else:
            ids = [resolve_person(spec, record, actor_id)]
        out += [i for i in ids if i and i not in out]
    return out


# --- effects -----------------------------------------------------------------------------
def _exists(model, effect_key: str) -> bool:
    return db.session.scalar(select(model.id).where(model.effect_key == effect_key)) is not None


def _create_task(record, entity, process, effect: Effect, actor_id) -> None:
    from models.task import ChecklistItem, Task
    from models.timeline import add_timeline
    from models.user import CrmUser

    if _exists(Task, effect.key):
        return
    params = effect.params
    outcomes = params.get("outcomes") or {}
    task = Task(
        title=params["title"], description=params.get("description"),
        assignee_id=resolve_person(params.get("assignee", "responsible"), record, actor_id),
        creator_id=resolve_person(params.get("creator", "actor"), record, actor_id),
        deadline=to_utc(effect.due_at) if effect.due_at else None,
        outcome_choices=_outcome_labels(outcomes) or None, record_entity=entity,
        record_id=record.id,
        rule_key=effect.rule, transition_id=effect.key.split(":")[0], effect_key=effect.key)
    observers = resolve_people(params.get("observers"), record, actor_id)
    if observers:
        task.observers = list(db.session.scalars(select(CrmUser).where(
            CrmUser.id.in_(observers))))
    db.session.add(task)
    for i, text in enumerate(params.get("checklist") or []):
        db.session.add(ChecklistItem(task=task, text=str(text), sort_order=i))
    stage = process.stage(effect.stage).name
    add_timeline(entity, record.id, "task_created",
                 f"Задача «{task.title}» создана автоматически при переходе на этап "
                 f"«{stage}»", author_id=0, payload={"rule": effect.rule})


def _outcome_labels(outcomes: dict) -> list[str]:
    """The task's outcome list as the form offers it: each answer, and for an answer with a
    second question each "answer / second answer" (models.task.OUTCOME_SEPARATOR)."""
    from models.task import OUTCOME_SEPARATOR

    labels = []
    for label, spec in (outcomes or {}).items():
        labels.append(label)
        for sub in ((spec or {}).get("choices") or {}) if isinstance(spec, dict) else {}:
            labels.append(f"{label}{OUTCOME_SEPARATOR}{sub}")
    return labels


def _outbox(kind, record, entity, effect, recipients, subject, body,
            attachments=()) -> None:
    from models.outbox import OutboxMessage

    if _exists(OutboxMessage, effect.key):
        return
    db.session.add(OutboxMessage(
        kind=kind, recipients=recipients, subject=subject, body=body or "", entity=entity,
        record_id=record.id, rule_key=effect.rule, transition_id=effect.key.split(":")[0],
        effect_key=effect.key, attachments=list(attachments)))


def _notify(record, entity, process, effect, actor_id) -> None:
    """Employees: in-app by default; `channel: email` sends it to their e-mail addresses."""
    from models.user import CrmUser

    people = resolve_people(effect.params["to"], record, actor_id)
    if effect.params.get("channel") == "email":
        addresses = list(db.session.scalars(select(CrmUser.email).where(
            CrmUser.id.in_(people)).order_by(CrmUser.id)))
        _outbox("email", record, entity, effect, addresses,
                effect.params["text"][:300], effect.params["text"])
        return
    _outbox("notification", record, entity, effect, people, None, effect.params["text"])


def _client_addresses(record) -> list[str]:
    addresses = [getattr(c, "email", None) for c in getattr(record, "contacts", None) or []]
    contact = getattr(record, "contact", None)
    addresses += [getattr(contact, "email", None), getattr(record, "email", None),
                  getattr(getattr(record, "company", None), "email", None)]
    out = []
    for address in addresses:
        if address and address not in out:
            out.append(address)
    return out[:1] if out else []


def _client_phones(record) -> list[str]:
    """The client's phone for an SMS: the record's own field (a custom «Телефон» of seed 004),
    then its contacts, then the company."""
    phones = [record_values(record).get("phone")]
    phones += [getattr(c, "phone", None) for c in getattr(record, "contacts", None) or []]
    contact = getattr(record, "contact", None)
    phones += [getattr(contact, "phone", None),
               getattr(getattr(record, "company", None), "phone", None)]
    return next(([str(p)] for p in phones if p and str(p).strip()), [])


def _send_sms(record, entity, effect) -> None:
    from models.timeline import add_timeline

    to = _client_phones(record)
    _outbox("sms", record, entity, effect, to, effect.params["subject"],
            effect.params["body"])
    add_timeline(entity, record.id, "system",
                 f"СМС клиенту «{effect.params['subject']}» поставлено в очередь"
                 + (f" ({to[0]})" if to else " (у клиента нет телефона)"), author_id=0)


def _send_message(record, entity, process, effect, actor_id) -> None:
    from models.timeline import add_timeline

    if effect.params.get("channel") == "sms":
        _send_sms(record, entity, effect)
        return
    to = _client_addresses(record)
    wanted = effect.params.get("attachments")
    files = _message_attachments(record, entity, wanted)
    _outbox(effect.params.get("channel") or "email", record, entity, effect, to,
            effect.params["subject"], effect.params["body"], files)
    note = f", вложений: {len(files)}" if files else \
        (", файлы для вложения не найдены" if wanted else "")
    add_timeline(entity, record.id, "system",
                 f"Письмо клиенту «{effect.params['subject']}» поставлено в очередь"
                 + (f" ({to[0]}{note})" if to else f" (у клиента нет адреса e-mail{note})"),
                 author_id=0)


def _message_attachments(record, entity, spec) -> list[int]:
    """Attachment ids for a letter. `spec` names file fields of the record (each holds an
    Attachment id or a list of them; an empty one falls back to the record's first file, as
    in `_attached_files`) or gives ids. Only files of this very record are kept: a value
    pointing elsewhere must never mail another record's file to this client."""
    from models.attachment import Attachment

    if not spec:
        return []
    values = record_values(record)
    wanted: list[int] = []
    for item in [spec] if isinstance(spec, (str, int)) else spec:
        value = values.get(item) if isinstance(item, str) and not item.isdigit() else item
        for one in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(one, bool):
                continue
            try:
                wanted.append(int(one))
            except (TypeError, ValueError):
                continue
    if not wanted:
        return []
    own = set(db.session.scalars(select(Attachment.id).where(
        Attachment.entity == entity, Attachment.record_id == record.id,
        Attachment.id.in_(wanted))))
    return list(dict.fromkeys(i for i in wanted if i in own))


def _set_field(record, entity, process, effect, actor_id) -> None:
    field, value = effect.params["field"], effect.params["value"]
    if hasattr(type(record), field) and field != "custom":
        setattr(record, field, value)
        return
    custom = dict(getattr(record, "custom", None) or {})
    custom[field] = value.isoformat() if hasattr(value, "isoformat") else value
    record.custom = custom


def _schedule(record, entity, process, effect, actor_id) -> None:
    """A schedule row. One hanging on an empty date field is not written until the date is
    filled (`replan_dated`); one whose date moved gets its due time recomputed."""
    from models.schedule import ScheduledAction, ScheduleStatus

    row = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.effect_key == effect.key))
    relative = bool(effect.params.get("relative_to"))
    if effect.due_at is None and relative:
        if row is not None and row.status in (ScheduleStatus.pending.value,
                                              ScheduleStatus.enqueued.value):
            row.status = ScheduleStatus.cancelled.value  # the date was emptied
        return
    due = to_utc(effect.due_at or to_local(utcnow()).replace(tzinfo=None))
    if row is not None:
        if relative and row.status in (ScheduleStatus.pending.value,
                                       ScheduleStatus.enqueued.value,
                                       ScheduleStatus.cancelled.value):
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


def _remind(record, entity, process, effect, actor_id) -> None:
    """A reminder is a schedule row; who receives it is resolved when it fires, because the
    responsible may be set after the move (the secretary sets it on event No. 2)."""
    _schedule(record, entity, process, effect, actor_id)


def _assign(record, entity, process, effect, actor_id) -> None:
    """`strategy: actor`: the member of the role who acted (accepted the request) becomes
    responsible; otherwise the member with the fewest open tasks."""
    members = _users_with_role(effect.params["role"])
    if effect.params.get("strategy") == "actor":
        if actor_id in {u.id for u in members}:
            record.responsible_id = actor_id
            return
        if getattr(record, "responsible_id", None):
            return  # accepted on someone's behalf: the responsible already set stays
    user_id = _least_busy(members)
    if user_id is None:
        raise CrmError(f"Некого назначить ответственным: в роли «{effect.params['role']}» "
                       "нет активных пользователей")
    record.responsible_id = user_id


def _reference_item(model, field: str, code):
    """The ReferenceItem of `model.field`'s list with `code` (definitions name items by
    code; the list is the one the field's relationship points at in the model)."""
    from models.reference import ReferenceItem, ReferenceList

    lists = {"topic": "event_topic", "source": "lead_source", "lost_reason": "lost_reason",
             "client_activity": "client_activity", "quality_reason": "lead_quality_reason"}
    return db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == lists.get(field, field), ReferenceItem.code == str(code)))


def _assign_value(new, field: str, value) -> None:
    from models.reference import ReferenceItem

    mapper = sa_inspect(type(new))
    if field in mapper.relationships:
        rel = mapper.relationships[field]
        target_cls = rel.mapper.class_
        if rel.uselist:
            if isinstance(value, list):
                setattr(new, field, list(db.session.scalars(
                    select(target_cls).where(target_cls.id.in_(value)))))
            return
        if field == "pipeline" and isinstance(value, str):
            return  # placed by its code with its first stage (_place_in_pipeline)
        if target_cls is ReferenceItem and isinstance(value, str):
            setattr(new, field, _reference_item(type(new), field, value))
        elif isinstance(value, int):
            setattr(new, field, db.session.get(target_cls, value))
        else:
            setattr(new, field, value)
    elif field in mapper.column_attrs:
        setattr(new, field, value)
    else:
        custom = dict(getattr(new, "custom", None) or {})
        custom[field] = value
        if hasattr(new, "custom"):
            new.custom = custom


def _create_record(record, entity, process, effect, actor_id) -> None:
    """Creates the record a definition names (event No. 2, an approval event, an order),
    linked «на основании» this one. The engine has already resolved the copied and given
    values: relationships by id (reference items by code), contact rows by row ids."""
    from models.registry import model_for
    from models.timeline import add_timeline

    params = effect.params
    model = model_for(params["entity"])
    if model is None:
        raise CrmError(f"Неизвестная сущность «{params['entity']}»")
    if hasattr(model, "effect_key") and _exists(model, effect.key):
        return
    new = model()
    rows = None
    for field, value in (params.get("values") or {}).items():
        if field == "contact_rows":
            rows = value
        else:
            _assign_value(new, field, value)
    responsible = params.get("responsible")
    if responsible is not None and hasattr(new, "responsible_id"):
        new.responsible_id = resolve_person(responsible, record, actor_id)
    if params.get("basis", True) and hasattr(new, "record_entity"):
        new.record_entity, new.record_id = entity, record.id
    for attr, value in (("rule_key", effect.rule), ("effect_key", effect.key),
                        ("transition_id", effect.key.split(":")[0])):
        if hasattr(new, attr):
            setattr(new, attr, value)
    _copy_contact_rows(new, rows)
    first_stage = _place_in_pipeline(new, params.get("values") or {})
    db.session.add(new)
    db.session.flush()
    if first_stage is not None:
        transition(new, first_stage, actor_id, source="process", from_key=None)
    label = getattr(model, "__label__", "") or params["entity"]
    add_timeline(entity, record.id, "system", f"Создано автоматически: {label} «{new}»",
                 author_id=0, payload={"rule": effect.rule, "entity": params["entity"],
                                       "id": new.id})
    reminder = params.get("reminder")
    if reminder:
        _schedule(new, params["entity"], process, Effect(
            action="remind", key=f"{effect.key}:reminder", rule=f"{effect.rule}/reminder",
            stage=effect.stage, params={k: v for k, v in reminder.items() if k != "due_at"},
            due_at=reminder.get("due_at")), actor_id)


def _place_in_pipeline(new, values: dict) -> str | None:
    """A lead or deal created by a definition goes to the first stage of the pipeline it
    names by code; returns that stage's key (its entry actions then run)."""
    code = values.get("pipeline")
    if not isinstance(code, str) or not hasattr(new, "pipeline_id"):
        return None
    from models.pipeline import Pipeline, Stage

    pipeline = db.session.scalar(select(Pipeline).where(Pipeline.code == code))
    if pipeline is None:
        raise CrmError(f"Нет воронки «{code}»: установите её определение")
    first = db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id)
                              .order_by(Stage.sort_order))
    new.pipeline, new.stage = pipeline, first
    return first.key


def _copy_contact_rows(new, rows) -> None:
    """`rows`: ids of another event's contact rows, or one contact id (an order's)."""
    from models.event import EventContactRow

    if rows in (None, [], "") or not hasattr(new, "contact_rows"):
        return
    if isinstance(rows, int):
        new.contact_rows.append(EventContactRow(contact_id=rows))
        return
    for row in db.session.scalars(select(EventContactRow).where(EventContactRow.id.in_(rows))
                                  .order_by(EventContactRow.id)):
        new.contact_rows.append(EventContactRow(contact_id=row.contact_id,
                                                how_to_reach=row.how_to_reach, note=row.note))


def _move_record(record, entity, process, effect, actor_id) -> None:
    """Moves the record this one was created on the basis of (the order an approval event
    was made for) through its own process."""
    from models.registry import model_for

    params = effect.params
    if getattr(record, "record_entity", None) != params["entity"] or not record.record_id:
        return  # not created on the basis of such a record: nothing to move
    target = db.session.get(model_for(params["entity"]), record.record_id)
    if target is not None and current_stage(target) != params["to"]:
        transition(target, params["to"], actor_id, source="process")


def _convert_lead(lead, entity, process, effect, actor_id) -> None:
    """Lead -> counterparty + contact + deal. An existing counterparty or contact is linked
    when it matches (models.party.match_company / match_contact), never duplicated; the
    deal enters the first stage of the named pipeline through the transition service."""
    from models.deal import Deal
    from models.party import Company, Contact, kind_for_inn, match_company, match_contact
    from models.pipeline import Pipeline, Stage
    from models.timeline import add_timeline

    if lead.converted_at is not None:
        return
    custom = lead.custom or {}
    contact = lead.contact or match_contact(phone=lead.phone, email=lead.email)
    company = lead.company or match_company(
        inn=lead.inn, full_name=lead.company_full_name, name=lead.company_name,
        short_name=custom.get("company_short_name"), phone=lead.phone, email=lead.email,
        contact=contact)
    if company is None:
        name = custom.get("company_short_name") or lead.company_name or lead.title
        company = Company(kind=kind_for_inn(lead.inn), name=name,
                          inn=(lead.inn or "").strip() or None,
                          full_name=lead.company_full_name or lead.company_name,
                          phone=lead.phone, email=lead.email,
                          postal_address=custom.get("company_postal_address"),
                          responsible_id=lead.responsible_id)
        db.session.add(company)
    if contact is None:
        person = (custom.get("decision_maker") or lead.contact_name or lead.title).split()
        contact = Contact(last_name=person[0], first_name=" ".join(person[1:2]) or None,
                          middle_name=" ".join(person[2:3]) or None, company=company,
                          phone=lead.phone, email=lead.email,
                          decision_maker=bool(custom.get("decision_maker")))
        db.session.add(contact)
    pipeline = db.session.scalar(select(Pipeline).where(
        Pipeline.code == effect.params.get("pipeline"))) if effect.params.get("pipeline") \
        else db.session.scalar(select(Pipeline).where(Pipeline.entity == "deal",
                                                      Pipeline.active.is_(True))
                               .order_by(Pipeline.sort_order))
    if pipeline is None:
        raise CrmError("Нет воронки сделок для конвертации лида")
    first = db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id)
                              .order_by(Stage.sort_order))
    deal = Deal(title=lead.title, pipeline=pipeline, stage=first, company=company,
                contacts=[contact], responsible_id=lead.responsible_id,
                source_id=lead.source_id, lead=lead)
    lead.company, lead.contact, lead.converted_at = company, contact, utcnow()
    db.session.add(deal)
    db.session.flush()
    transition(deal, first.key, actor_id, source="process", from_key=None)
    add_timeline(entity, lead.id, "system",
                 f"Лид конвертирован: контрагент «{company}», контакт «{contact}», "
                 f"сделка «{deal.title}»", author_id=0, payload={"deal": deal.id})


def _unsupported(record, entity, process, effect, actor_id) -> None:
    raise CrmError(f"Действие «{effect.action}» ещё не поддерживается: переход отменён")


APPLY = {"create_task": _create_task, "notify": _notify, "send_message": _send_message,
         "set_field": _set_field, "schedule": _schedule, "repeat": _schedule,
         "remind": _remind, "assign": _assign, "create_record": _create_record,
         "move_record": _move_record, "convert_lead": _convert_lead}


# --- routing of saves from forms and the API ---------------------------------------------
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
    refuse_readonly_changes(item, old_key)
    if new_key != old_key and new_key is not None:
        transition(item, new_key, source=source, from_key=old_key)
    else:
        field_changed(item, source)


def readonly_now(record, stage_key: str | None = ..., values: dict | None = None) -> tuple:
    """Fields a person may not change on the record's (stored) stage, by its process."""
    process = process_of(record)
    if stage_key is ...:
        stage_key = committed_stage(record)
    if process is None or stage_key is None:
        return ()
    try:
        process.stage(stage_key)
    except KeyError:
        return ()
    return readonly_fields(process, stage_key,
                           values if values is not None else old_values(record))


def _same(a, b) -> bool:
    empty = (None, "", [], {})
    if a in empty and b in empty and not isinstance(a, bool) and not isinstance(b, bool):
        return True
    return a == b


def refuse_readonly_changes(record, stage_key: str | None = ...) -> None:
    """A save (form or API) may not change a field read-only on the stored stage: refused
    with a Russian message at that field, nothing saved (the caller rolls back)."""
    from errors import FieldErrors

    state = sa_inspect(record)
    if state.transient or state.pending or not is_process_record(record):
        return
    if stage_key is ...:
        stage_key = committed_stage(record)
    before = old_values(record)
    fields = readonly_now(record, stage_key, before)
    if not fields:
        return
    after = record_values(record)
    process = process_of(record)
    stage_name = process.stage(stage_key).name
    errors = {}
    for name in fields:
        if not _same(before.get(name), after.get(name)):
            label = process.labels.get(name, name)
            errors[name] = f"Поле «{label}» нельзя менять на этапе «{stage_name}»"
    if errors:
        raise FieldErrors(errors)


def old_values(record) -> dict:
    """The record's values as the database has them (before this unit of work)."""
    values = record_values(record)
    state = sa_inspect(record)
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if hist.deleted:
            values[attr.key] = hist.deleted[0]
            if attr.key == "custom":
                # custom fields are read as top-level values: put the old ones back
                for key in (hist.added[0] or {}) if hist.added else {}:
                    values.pop(key, None)
                values.update(hist.deleted[0] or {})
    for rel in state.mapper.relationships:
        if rel.uselist:
            continue
        hist = state.attrs[rel.key].history
        if hist.deleted:
            old = hist.deleted[0]
            values[rel.key] = getattr(old, "code", None) or getattr(old, "id", None) \
                if old is not None else None
    return values


def _replan_dated(record, process) -> None:
    from models.process import StageHistory
    from rules.engine import replan_dated

    stage_key = current_stage(record)
    entry = db.session.scalar(select(StageHistory.transition_id).where(
        StageHistory.entity == entity_of(record), StageHistory.record_id == record.id,
        StageHistory.left_at.is_(None)).order_by(StageHistory.id.desc()))
    if entry is None or stage_key is None:
        return
    effects = replan_dated(process, stage_key, record_values(record), old_values(record),
                           entry, to_local(utcnow()).replace(tzinfo=None),
                           context=template_context(record))
    for effect in effects:
        _schedule(record, entity_of(record), process, effect, current_actor_id())


def field_changed(record, source: str = "form") -> None:
    """A save that keeps the stage: the definition's `on_change` triggers may fire."""
    from rules.engine import plan_field_change

    process = process_of(record)
    if process is None:
        return
    _replan_dated(record, process)
    if not getattr(process, "triggers", None):
        return
    actor_id = current_actor_id()
    effects = plan_field_change(process, record_values(record), old_values(record),
                                uuid.uuid4().hex, to_local(utcnow()).replace(tzinfo=None),
                                stage_key=current_stage(record),
                                context=template_context(record))
    entity = entity_of(record)
    for effect in effects:
        if effect.action == "move_stage":
            transition(record, effect.params["to"], actor_id, source="process")
            continue
        APPLY.get(effect.action, _unsupported)(record, entity, process, effect, actor_id)


def task_closed(task, source: str = "form") -> None:
    """A task created by a definition is being closed (status "done"): its outcome may move
    the record, create the next task (the proposal loop), set fields or start actions."""
    from models.registry import model_for
    from rules.engine import plan_outcome

    if not task.rule_key or task.status != "done" or not task.record_entity:
        return
    state = sa_inspect(task)
    if not (state.transient or state.pending):
        with db.session.no_autoflush:
            stored = db.session.execute(select(type(task).status)
                                        .where(type(task).id == task.id)).scalar()
        if stored == "done":
            return  # closed before: saving it again runs nothing twice
    model = model_for(task.record_entity)
    record = db.session.get(model, task.record_id) if model is not None else None
    if record is None or not is_process_record(record):
        return
    process = process_of(record)
    if process is None or task.rule_key not in getattr(process, "rules", {}):
        return
    from models.task import OUTCOME_SEPARATOR

    actor_id = current_actor_id()
    outcome = task.outcome or None
    if outcome and OUTCOME_SEPARATOR in outcome:
        outcome = [part.strip() for part in outcome.split(OUTCOME_SEPARATOR)]
    effects = plan_outcome(process, task.rule_key, outcome, record_values(record),
                           uuid.uuid4().hex, to_local(utcnow()).replace(tzinfo=None),
                           comment=task.result, stage_key=current_stage(record),
                           context=template_context(record))
    entity = entity_of(record)
    for effect in effects:
        if effect.action == "move_stage":
            transition(record, effect.params["to"], actor_id, source="task")
            continue
        APPLY.get(effect.action, _unsupported)(record, entity, process, effect, actor_id)


def create_based_on(record, key: str, chosen_user_id: int | None = None,
                    source: str = "form") -> int:
    """A person's «создать на основании» `key` of the record's process (the work assignment
    «Консультация потенциального клиента», «Утверждение К.П.», a meeting, an order...).
    Returns how many effects were applied; raises the typed refusal."""
    from rules.engine import plan_manual

    process = process_of(record)
    if process is None:
        raise TransitionNotAllowed("У записи нет процесса")
    token = _CHOSEN.set(chosen_user_id)
    try:
        effects = plan_manual(process, key, record_values(record), uuid.uuid4().hex,
                              to_local(utcnow()).replace(tzinfo=None),
                              stage_key=current_stage(record),
                              context=template_context(record))
        actor_id = current_actor_id()
        for effect in effects:
            if _needs_choice(effect.params) and chosen_user_id is None:
                raise TransitionNotAllowed("Выберите сотрудника")
            APPLY.get(effect.action, _unsupported)(record, entity_of(record), process,
                                                   effect, actor_id)
        return len(effects)
    finally:
        _CHOSEN.reset(token)


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
