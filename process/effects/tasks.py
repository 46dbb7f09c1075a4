"""Effects that create tasks: a definition's `create_task`, with its assignee, creator,
observers, deadline, outcomes and checklist."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.formatting import to_utc
from models.task import OUTCOME_SEPARATOR, ChecklistItem, Task
from models.timeline import add_timeline
from models.outbox import OutboxKind, OutboxMessage
from models.user import CrmUser
from app.access import role_labels
from process.effects.context import EffectContext, already_applied
from process.people import resolve_people, resolve_person, users_with_role
from rules.engine import Effect


def create_task(ctx: EffectContext, effect: Effect) -> None:
    if already_applied(Task, effect.key):
        return
    record, params = ctx.record, effect.params
    assignee_spec = params.get("assignee", "responsible")
    assignee_id = resolve_person(assignee_spec, record, ctx.actor_id)
    nobody = _role_nobody_holds(assignee_spec, assignee_id)
    if nobody:
        assignee_id = fallback_person(record, ctx.actor_id)
    task = Task(
        title=params["title"], description=_description(params.get("description"), nobody),
        assignee_id=assignee_id,
        creator_id=resolve_person(params.get("creator", "actor"), record, ctx.actor_id),
        deadline=to_utc(effect.due_at) if effect.due_at else None,
        outcome_choices=outcome_labels(params.get("outcomes") or {}) or None,
        record_entity=ctx.entity, record_id=record.id, rule_key=effect.rule,
        transition_id=effect.key.split(":")[0], effect_key=effect.key)
    observers = resolve_people(params.get("observers"), record, ctx.actor_id)
    if observers:
        task.observers = list(db.session.scalars(select(CrmUser).where(
            CrmUser.id.in_(observers))))
    db.session.add(task)
    for i, text in enumerate(params.get("checklist") or []):
        db.session.add(ChecklistItem(task=task, text=str(text), sort_order=i))
    add_timeline(ctx.entity, record.id, "task_created", _created_text(ctx, effect, task),
                 author_id=0, payload={"rule": effect.rule})
    if nobody:
        report_role_nobody_holds(ctx, effect, nobody, task)


def _created_text(ctx: EffectContext, effect: Effect, task) -> str:
    try:
        stage = ctx.process.stage(effect.stage).name
    except KeyError:
        return f"Задача «{task.title}» создана автоматически"
    return f"Задача «{task.title}» создана автоматически при переходе на этап «{stage}»"


def _role_nobody_holds(spec, resolved_id) -> str | None:
    """The role of a `{role: ...}` assignee when no active user holds it."""
    if resolved_id is None and isinstance(spec, dict) and "role" in spec:
        return spec["role"]
    return None


def fallback_person(record, actor_id) -> int | None:
    """Who gets work addressed to nobody: the record's responsible, else their head, else
    the actor."""
    responsible = getattr(record, "responsible_id", None)
    if responsible:
        return responsible
    return resolve_person({"department_head": None}, record, actor_id) or actor_id


def _description(text, nobody: str | None):
    if not nobody:
        return text
    mark = no_role_mark(nobody)
    return f"{mark}\n\n{text}" if text else mark


def no_role_mark(role: str) -> str:
    return f"Нет исполнителя с ролью «{role_labels().get(role, role)}»"


def report_role_nobody_holds(ctx: EffectContext, effect: Effect, role: str, task) -> None:
    """The timeline says why the task went to someone else; the admins hear of it once per
    role (an outbox key per role), not once per task."""
    mark = no_role_mark(role)
    add_timeline(ctx.entity, ctx.record.id, "system",
                 f"{mark}: задача «{task.title}» поручена ответственному", author_id=0)
    key = f"no_role:{role}"
    if already_applied(OutboxMessage, key):
        return
    admins = [u.id for u in users_with_role("admin")]
    db.session.add(OutboxMessage(
        kind=OutboxKind.notification.value, recipients=admins, subject=None,
        body=f"{mark}: задачи процесса «{ctx.process.name}» получают ответственные. "
             "Назначьте роль сотруднику в «Безопасность → Пользователи».",
        entity=ctx.entity, record_id=ctx.record.id, rule_key=effect.rule,
        transition_id=effect.key.split(":")[0], effect_key=key, attachments=[]))


def outcome_labels(outcomes: dict) -> list[str]:
    """The task's outcome list as the form offers it: each answer, and for an answer with a
    second question each "answer / second answer" (models.task.OUTCOME_SEPARATOR)."""
    labels = []
    for label, spec in (outcomes or {}).items():
        labels.append(label)
        for sub in ((spec or {}).get("choices") or {}) if isinstance(spec, dict) else {}:
            labels.append(f"{label}{OUTCOME_SEPARATOR}{sub}")
    return labels
