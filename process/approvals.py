"""Approvals: starting a route, the approvers' decisions, resubmission after rework,
restarting when what was approved changes, and the step deadlines.

Every decision goes through `decide()`: the one check of who may decide (the addressee of
the current step, or whom it was delegated or escalated to), on every path (screen, API,
notification, e-mail link). What a result does (`on_approved`, `on_rejected`, `on_rework`)
is planned by the engine and written by `process.service.apply_effects` in the decision's
transaction."""
from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from app.approval_links import decision_links
from app.extensions import db
from app.formatting import format_datetime, to_local, to_utc
from app.notify import notify_users
from errors import AccessDenied, CrmError, FieldErrors, MissingFields, TransitionNotAllowed
from models.approval import (DECISION_LABELS, Approval, ApprovalStatus, ApprovalStep,
                             Decision, StepStatus)
from models.base import utcnow
from models.notification import Notification
from models.registry import get_record
from models.schedule import ScheduledAction
from models.timeline import add_timeline
from models.user import CrmUser, Department
from process.absence import substitute_for
from process.effects.context import EffectContext
from process.people import CHOSEN, resolve_person, users_with_role
from process.snapshot import (current_stage, entity_of, process_of, record_values,
                              template_context)
from rules.durations import add_duration
from rules.engine import Effect, approval_route, plan_approval_result
from rules.routes import APPROVER_WORDS

# True while an approval's decision runs its results: a stage only a decision may set
# (order «Согласовано») accepts the move then and only then.
APPROVING: contextvars.ContextVar[bool] = contextvars.ContextVar("crm_approving",
                                                                  default=False)
OPEN = (ApprovalStatus.pending.value, ApprovalStatus.rework.value)
DEADLINE_ACTION = "approval_deadline"


class NotYourApproval(AccessDenied):
    def __init__(self, message: str = "Это согласование адресовано не вам: решение может "
                                      "принять только согласующий текущего шага"):
        super().__init__(message)


class AlreadyDecided(CrmError):
    """The step was decided (by another approver of an any-of step, or before)."""

    http_status = 409

    def __init__(self, message: str = "Решение по этому шагу уже принято"):
        super().__init__(message)


@dataclass(frozen=True)
class Outcome:
    """What a decision did, in words for the person who decided."""

    message: str
    status: str


# --- starting ----------------------------------------------------------------------------
def start(ctx: EffectContext, effect: Effect) -> None:
    """The `start_approval` effect. A route already running on the record for this rule is
    not started twice; one sent back for rework is resubmitted (the record came back to
    the stage that asks for it)."""
    record = ctx.record
    if db.session.scalar(select(Approval.id).where(Approval.effect_key == effect.key)):
        return
    params = effect.params
    same = Approval.rule_key == effect.rule
    if params.get("route"):
        same = same | (Approval.route_name == params["route"])
    running = db.session.scalar(select(Approval).where(
        Approval.entity == ctx.entity, Approval.record_id == record.id, same,
        Approval.status.in_(OPEN)).order_by(Approval.id.desc()))
    if running is not None:
        if running.status == ApprovalStatus.rework.value:
            resubmit(running, ctx.actor_id)
        return
    requester = resolve_person(params.get("requester", "actor"), record, ctx.actor_id) \
        or getattr(record, "responsible_id", None) or ctx.actor_id
    chosen = CHOSEN.get()
    approval = Approval(
        title=params["title"], entity=ctx.entity, record_id=record.id,
        process_key=ctx.process.key, rule_key=effect.rule, effect_key=effect.key,
        route_name=params.get("route"),
        route=approval_route(ctx.process, effect.rule), requester_id=requester,
        covered=fingerprint(record, params.get("covers")),
        chosen={"user": chosen} if chosen else None)
    db.session.add(approval)
    db.session.flush()
    add_timeline(ctx.entity, record.id, "approval",
                 f"Запущено согласование «{approval.title}»", author_id=ctx.actor_id or 0,
                 payload={"approval": approval.id})
    _open_step(approval, 0, record)


def resubmit(approval: Approval, actor_id: int | None) -> None:
    """After «На доработку»: the route starts again from its first step, or from the step
    that sent it back when the route says `rework: step`."""
    if approval.status != ApprovalStatus.rework.value:
        raise TransitionNotAllowed("Повторно отправить можно только согласование, "
                                   "возвращённое на доработку")
    record = _record(approval)
    sent_back = approval.step_index
    approval.status = ApprovalStatus.pending.value
    approval.round += 1
    approval.covered = fingerprint(record, _covers(approval))
    approval.finished_at = None
    index = sent_back if approval.route.get("rework") == "step" else 0
    add_timeline(approval.entity, approval.record_id, "approval",
                 f"Согласование «{approval.title}» отправлено повторно", author_id=actor_id,
                 payload={"approval": approval.id})
    _open_step(approval, index, record)


def fingerprint(record, fields) -> dict | None:
    """The covered fields' values as text; a list relation (line items) by its rows' ids,
    quantities and prices, so a changed line changes the fingerprint."""
    if not fields:
        return None
    values = record_values(record)
    out = {}
    for name in fields:
        value = getattr(record, name, None) if name not in values else values[name]
        if isinstance(value, list) or hasattr(value, "__iter__") and not isinstance(
                value, (str, bytes, dict)):
            rows = getattr(record, name, None) or []
            value = sorted(
                [str(getattr(r, "id", r)), str(getattr(r, "quantity", "")),
                 str(getattr(r, "price", "")), str(getattr(r, "amount", ""))] for r in rows)
        out[name] = value if isinstance(value, (list, dict)) else \
            (None if value is None else str(value))
    return out


def _covers(approval: Approval):
    process = process_of(_record(approval))
    if process is None or approval.rule_key not in process.rules:
        return list((approval.covered or {}).keys()) or None
    return process.rules[approval.rule_key][1].params.get("covers")


def _record(approval: Approval):
    record = get_record(approval.entity, approval.record_id)
    if record is None:
        raise CrmError("Запись согласования не найдена (удалена?)")
    return record


# --- who decides -------------------------------------------------------------------------
def _resolve_approvers(approval: Approval, spec, record) -> list[int]:
    responsible = getattr(record, "responsible_id", None)
    if isinstance(spec, str):
        if spec == "requester":
            return [approval.requester_id] if approval.requester_id else []
        if spec == "responsible":
            return [responsible] if responsible else []
        if spec == "requester_head":
            return _head_of(approval.requester_id)
        if spec == "responsible_head":
            return _head_of(responsible)
        if spec in ("director", "accountant"):
            return [u.id for u in users_with_role(spec)]
        return []
    (kind, arg), = spec.items()
    if kind == "role":
        return [u.id for u in users_with_role(arg)]
    if kind == "chosen":
        chosen = (approval.chosen or {}).get("user")
        return [chosen] if chosen else []
    person = resolve_person(spec, record, approval.requester_id)
    return [person] if person else []


def _head_of(user_id) -> list[int]:
    """The head of the user's department; for a head, the director (the head's own head)."""
    user = db.session.get(CrmUser, user_id) if user_id else None
    department = db.session.get(Department, user.department_id) \
        if user is not None and user.department_id else None
    if department is not None and department.head_id and department.head_id != user_id:
        return [department.head_id]
    return [u.id for u in users_with_role("director") if u.id != user_id][:1]


def _step_people(approval: Approval, index: int, record) -> list[tuple[int, int | None, str]]:
    """(addressee, whom the step named if someone else decides, why) for step `index`."""
    step = approval.route["steps"][index]
    named: list[int] = []
    for spec in step["approvers"]:
        named += [u for u in _resolve_approvers(approval, spec, record) if u not in named]
    named = [u for u in named if _active(u)]
    if step.get("mode", "one") == "one":
        named = named[:1]
    out, seen = [], set()
    if not named:
        fallback = _head_of(approval.requester_id) or [u.id for u in users_with_role("admin")]
        if fallback:
            named_words = ", ".join(_spec_words(s) for s in step["approvers"])
            out.append((fallback[0], None, f"Согласующий не найден ({named_words}): "
                                           "шаг передан руководителю автора"))
            return out
        raise CrmError(f"Некому согласовать шаг «{step['name']}»: нет согласующего")
    today = to_local(utcnow()).date()
    for user_id in named:
        addressee, why = substitute_for(user_id, today)
        if addressee in seen:
            continue
        seen.add(addressee)
        out.append((addressee, user_id if addressee != user_id else None, why))
    return out


def _active(user_id) -> bool:
    return bool(db.session.scalar(select(CrmUser.active).where(CrmUser.id == user_id)))


def _spec_words(spec) -> str:
    if isinstance(spec, str):
        return APPROVER_WORDS.get(spec, spec)
    (kind, arg), = spec.items()
    return f"{kind}: {arg}"


def _open_step(approval: Approval, index: int, record) -> None:
    """Step `index` becomes current: a row per addressee, each told, the deadline set."""
    approval.step_index = index
    step = approval.route["steps"][index]
    due = None
    if step.get("deadline"):
        due = to_utc(add_duration(to_local(utcnow()).replace(tzinfo=None), step["deadline"]))
    for user_id, original, why in _step_people(approval, index, record):
        _add_row(approval, index, user_id, original, why, due)
    add_timeline(approval.entity, approval.record_id, "approval",
                 f"Согласование «{approval.title}»: шаг «{step['name']}» — "
                 + ", ".join(_name(r.user_id) for r in _waiting(approval)),
                 author_id=0, payload={"approval": approval.id})
    if due is not None:
        db.session.add(ScheduledAction(
            action=DEADLINE_ACTION, entity="approval", record_id=approval.id, due_at=due,
            params={"round": approval.round, "step": index},
            rule_key=approval.rule_key, transition_id=uuid.uuid4().hex,
            effect_key=f"approval:{approval.id}:{approval.round}:{index}:deadline"))


def _add_row(approval, index, user_id, original, why, due, note_prefix: str = "") -> None:
    step = approval.route["steps"][index]
    row = ApprovalStep(approval=approval, round=approval.round, step_index=index,
                       step_name=step["name"], mode=step.get("mode", "one"), user_id=user_id,
                       original_user_id=original, route_note=why, due_at=due)
    db.session.add(row)
    db.session.flush()
    if why:
        add_timeline(approval.entity, approval.record_id, "approval",
                     f"Согласование «{approval.title}»: {why}", author_id=0,
                     payload={"approval": approval.id})
    _tell(row, f"{note_prefix}Согласуйте: {approval.title}")


def _tell(row: ApprovalStep, text: str) -> None:
    notify_users([row.user_id], text, key=f"approval:{row.id}", kind="approval",
                 entity="approval", record_id=row.approval_id,
                 email_body=_email_body_for(row, text))


def _email_body_for(row: ApprovalStep, text: str):
    """The e-mail copy carries single-use links to decide without signing in."""
    def body(_user_id):
        return f"{text}\n\n" + decision_links(row.id)
    return body


def _waiting(approval: Approval) -> list[ApprovalStep]:
    return [r for r in approval.steps if r.round == approval.round
            and r.step_index == approval.step_index and r.status == StepStatus.waiting.value]


def _name(user_id) -> str:
    user = db.session.get(CrmUser, user_id) if user_id else None
    return str(user) if user is not None else "—"


# --- deciding ----------------------------------------------------------------------------
def may_decide(row: ApprovalStep | None, user) -> str | None:
    """None when `user` may decide `row` now, else why not (one answer for the buttons and
    every path that decides)."""
    if row is None:
        return "Согласование не найдено"
    if user is None or getattr(user, "id", None) != row.user_id:
        return NotYourApproval().message
    approval = row.approval
    if row.status != StepStatus.waiting.value or approval.status != \
            ApprovalStatus.pending.value or row.round != approval.round \
            or row.step_index != approval.step_index:
        return AlreadyDecided().message
    return None


def decide(row_id: int, user, decision: str, comment: str | None = None,
           delegate_to: int | None = None) -> Outcome:
    """`user` decides their row `row_id`. Raises NotYourApproval, AlreadyDecided or
    FieldErrors (a reason that is required, a wrong delegate); the caller commits."""
    approval_id = db.session.scalar(select(ApprovalStep.approval_id)
                                    .where(ApprovalStep.id == row_id))
    if approval_id is None:
        raise NotYourApproval("Согласование не найдено")
    # A write on the approval's row first: two decisions of one step are taken one after
    # the other (the row lock on PostgreSQL, the database lock on SQLite), and the second
    # reads what the first decided.
    db.session.execute(update(Approval).where(Approval.id == approval_id)
                       .values(decisions=Approval.decisions)
                       .execution_options(synchronize_session=False))
    approval = db.session.get(Approval, approval_id, populate_existing=True)
    row = db.session.get(ApprovalStep, row_id, populate_existing=True)
    if row is None or getattr(user, "id", None) != row.user_id:
        raise NotYourApproval()
    if may_decide(row, user):
        raise AlreadyDecided()
    try:
        decision = Decision(decision).value
    except ValueError:
        raise FieldErrors({"decision": "Неизвестное решение; допустимы: "
                           + ", ".join(DECISION_LABELS.values())}) from None
    comment = (comment or "").strip() or None
    errors = {}
    if decision == Decision.reject.value and not comment:
        errors["comment"] = "Укажите причину отказа"
    if decision == Decision.rework.value and not comment:
        errors["comment"] = "Напишите, что доработать"
    if decision == Decision.delegate.value:
        errors.update(_delegate_errors(approval, row, delegate_to))
    if errors:
        raise FieldErrors(errors)
    record = _record(approval)
    if _covered_changed(approval, record):
        restart(approval, record, user.id)
        return Outcome("Согласуемые данные изменились после запуска: согласование начато "
                       "заново, решение не записано", "restarted")
    row.decided_at, row.decided_by_id, row.comment = utcnow(), user.id, comment
    approval.decisions = (approval.decisions or 0) + 1
    _read_its_notifications(approval, user.id)
    return _DECISIONS[decision](approval, row, record, user.id, delegate_to)


def _read_its_notifications(approval, user_id) -> None:
    """Deciding answers the «Согласуйте» notices of this approval: the bell stops counting
    them."""
    keys = [f"approval:{r.id}" for r in approval.steps if r.user_id == user_id]
    db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.source_key.in_(keys),
        Notification.read_at.is_(None)).values(read_at=utcnow())
        .execution_options(synchronize_session=False))


def _delegate_errors(approval, row, delegate_to) -> dict:
    target = db.session.get(CrmUser, delegate_to) if isinstance(delegate_to, int) else None
    if target is None or not target.active:
        return {"delegate_to": "Выберите активного сотрудника, кому передать согласование"}
    if target.id == row.user_id:
        return {"delegate_to": "Нельзя передать согласование самому себе"}
    if any(r.user_id == target.id for r in _waiting(approval)):
        return {"delegate_to": f"{target} уже согласует этот шаг"}
    return {}


def _approve(approval, row, record, actor_id, _delegate_to) -> Outcome:
    row.status = StepStatus.approved.value
    slot = row.original_user_id or row.user_id
    for other in _waiting(approval):
        if row.mode == "any" or (other.original_user_id or other.user_id) == slot:
            other.status = StepStatus.skipped.value
    _tell_decision(approval, row, actor_id, "согласовал(а)")
    if _waiting(approval):
        _bump(approval)
        return Outcome("Ваше решение записано: шаг ждёт решения остальных согласующих",
                       ApprovalStatus.pending.value)
    if approval.step_index + 1 < len(approval.route["steps"]):
        _bump(approval)
        _open_step(approval, approval.step_index + 1, record)
        return Outcome("Согласовано: согласование перешло к следующему шагу",
                       ApprovalStatus.pending.value)
    _finish(approval, record, ApprovalStatus.approved.value, actor_id, row.comment)
    return Outcome("Согласовано", ApprovalStatus.approved.value)


def _reject(approval, row, record, actor_id, _delegate_to) -> Outcome:
    row.status = StepStatus.rejected.value
    _close_others(approval)
    _tell_decision(approval, row, actor_id, f"отклонил(а): {row.comment}")
    _finish(approval, record, ApprovalStatus.rejected.value, actor_id, row.comment)
    return Outcome("Отклонено: согласование завершено", ApprovalStatus.rejected.value)


def _rework(approval, row, record, actor_id, _delegate_to) -> Outcome:
    row.status = StepStatus.rework.value
    _close_others(approval)
    _tell_decision(approval, row, actor_id, f"вернул(а) на доработку: {row.comment}")
    _finish(approval, record, ApprovalStatus.rework.value, actor_id, row.comment)
    return Outcome("Возвращено автору на доработку", ApprovalStatus.rework.value)


def _delegate(approval, row, record, actor_id, delegate_to) -> Outcome:
    row.status, row.delegated_to_id = StepStatus.delegated.value, delegate_to
    why = f"{_name(row.user_id)} передал(а) согласование {_name(delegate_to)}" + \
        (f": {row.comment}" if row.comment else "")
    _bump(approval)
    _add_row(approval, row.step_index, delegate_to, row.original_user_id or row.user_id,
             why, row.due_at, note_prefix="Вам передано согласование. ")
    return Outcome(f"Передано: {_name(delegate_to)}", ApprovalStatus.pending.value)


_DECISIONS = {Decision.approve.value: _approve, Decision.reject.value: _reject,
              Decision.rework.value: _rework, Decision.delegate.value: _delegate}


def _close_others(approval) -> None:
    """A rejection or a return ends the step for everyone: nothing stays pending."""
    for other in _waiting(approval):
        other.status = StepStatus.cancelled.value


def _bump(approval) -> None:
    """Counts the decision; the flush's UPDATE checks the version read with the row."""
    approval.decisions = (approval.decisions or 0) + 1
    db.session.flush()


def _tell_decision(approval, row, actor_id, words: str) -> None:
    add_timeline(approval.entity, approval.record_id, "approval",
                 f"Согласование «{approval.title}», шаг «{row.step_name}»: "
                 f"{_name(actor_id)} {words}", author_id=actor_id,
                 payload={"approval": approval.id, "step": row.id, "decision": row.status})


def _finish(approval, record, status: str, actor_id, comment) -> None:
    approval.status, approval.finished_at = status, utcnow()
    approval.decisions = (approval.decisions or 0) + 1
    approval.result_comment = comment
    _cancel_deadlines(approval)
    db.session.flush()  # the version check now, before the results run
    requester = approval.requester_id
    words = {ApprovalStatus.approved.value: "согласовано",
             ApprovalStatus.rejected.value: f"отклонено: {comment}",
             ApprovalStatus.rework.value: f"возвращено на доработку: {comment}"}[status]
    if requester:
        notify_users([requester], f"«{approval.title}»: {words}",
                     key=f"approval:{approval.id}:{approval.round}:{status}",
                     kind="approval", entity="approval", record_id=approval.id)
    _run_results(approval, record, status, actor_id, comment)


def _run_results(approval, record, status: str, actor_id, comment) -> None:
    from process.service import apply_effects  # noqa: PLC0415  # cycle: process.service -> effects.registry -> process.approvals
    process = process_of(record)
    if process is None or approval.rule_key not in process.rules:
        return
    result = {ApprovalStatus.approved.value: "on_approved",
              ApprovalStatus.rejected.value: "on_rejected",
              ApprovalStatus.rework.value: "on_rework"}[status]
    context = {**template_context(record),
               "approval": {"comment": comment or "", "title": approval.title,
                            "decided_by": _name(actor_id)}}
    effects = plan_approval_result(
        process, approval.rule_key, result, record_values(record),
        f"approval-{approval.id}-{approval.round}", to_local(utcnow()).replace(tzinfo=None),
        stage_key=current_stage(record), context=context, comment=comment)
    token = APPROVING.set(True)
    try:
        apply_effects(record, [e for e in effects if e.action != "move_stage"], actor_id,
                      "approval", context={"approval": context["approval"]})
        for effect in (e for e in effects if e.action == "move_stage"):
            _try_move(approval, record, effect, actor_id, apply_effects)
    finally:
        APPROVING.reset(token)


def _try_move(approval, record, effect, actor_id, apply_effects) -> None:
    """The decision stands even when the record cannot move on yet (a field still empty):
    the timeline and the responsible are told what is missing."""
    try:
        # transition() refuses before it writes anything: nothing to undo on a refusal
        apply_effects(record, [effect], actor_id, "approval")
    except (MissingFields, TransitionNotAllowed) as exc:
        text = f"После согласования «{approval.title}» запись не перешла дальше: {exc}"
        add_timeline(approval.entity, approval.record_id, "approval", text, author_id=0,
                     payload={"approval": approval.id})
        people = [getattr(record, "responsible_id", None) or approval.requester_id]
        notify_users(people, text, key=f"approval:{approval.id}:{approval.round}:stuck",
                     kind="process", entity=approval.entity, record_id=approval.record_id)


def _cancel_deadlines(approval) -> None:
    rows = db.session.scalars(select(ScheduledAction).where(
        ScheduledAction.entity == "approval", ScheduledAction.record_id == approval.id,
        ScheduledAction.status.in_(("pending", "enqueued")))).all()
    for row in rows:
        row.status = "cancelled"


# --- what was approved changed -----------------------------------------------------------
def _covered_changed(approval, record) -> list[str]:
    if not approval.covered:
        return []
    now = fingerprint(record, list(approval.covered)) or {}
    return [name for name in approval.covered if now.get(name) != approval.covered[name]]


def restart(approval, record, actor_id, changed: list[str] | None = None) -> None:
    """The amount, the lines or the document the approvers were asked about changed: the
    route starts again from the first step, and the timeline says why."""
    changed = changed if changed is not None else _covered_changed(approval, record)
    process = process_of(record)
    labels = getattr(process, "labels", {}) or {}
    words = ", ".join(f"«{labels.get(n, n)}»" for n in changed) or "согласуемые данные"
    for row in _waiting(approval):
        row.status, row.route_note = StepStatus.cancelled.value, f"изменено {words}"
    _cancel_deadlines(approval)
    approval.round += 1
    approval.covered = fingerprint(record, list(approval.covered or {}))
    add_timeline(approval.entity, approval.record_id, "approval",
                 f"Согласование «{approval.title}» начато заново: после запуска изменено "
                 f"{words}", author_id=actor_id, payload={"approval": approval.id})
    _open_step(approval, 0, record)


def record_saved(record) -> None:
    """A save of a record with a running approval: a change of what it covers restarts it."""
    if record.id is None:
        return
    entity = entity_of(record)
    approvals = db.session.scalars(select(Approval).where(
        Approval.entity == entity, Approval.record_id == record.id,
        Approval.status == ApprovalStatus.pending.value, Approval.covered.is_not(None))).all()
    for approval in approvals:
        changed = _covered_changed(approval, record)
        if changed:
            restart(approval, record, None, changed)


def cancel_for_record(entity: str, record_id: int, why: str) -> None:
    """The record left the process (lost, deleted): its open approvals end, none waits."""
    approvals = db.session.scalars(select(Approval).where(
        Approval.entity == entity, Approval.record_id == record_id,
        Approval.status.in_(OPEN))).all()
    for approval in approvals:
        _close_others(approval)
        approval.status, approval.finished_at = ApprovalStatus.cancelled.value, utcnow()
        approval.result_comment = why
        _cancel_deadlines(approval)


def cancel_for_stage(record, process, from_key: str, to_key: str) -> None:
    """The record left by hand the stage whose entry started an approval still waiting
    (the author took the request back to «Черновик»): it ends, so nobody decides what is
    no longer asked. Moves made by the approval's own decision find it decided already."""
    entity = entity_of(record)
    approvals = db.session.scalars(select(Approval).where(
        Approval.entity == entity, Approval.record_id == record.id,
        Approval.status == ApprovalStatus.pending.value)).all()
    for approval in approvals:
        started_at = process.rules.get(approval.rule_key, (None,))[0]
        if started_at != from_key:
            continue
        _close_others(approval)
        approval.status, approval.finished_at = ApprovalStatus.cancelled.value, utcnow()
        approval.result_comment = f"запись перешла на этап «{process.stage(to_key).name}»"
        _cancel_deadlines(approval)
        add_timeline(entity, record.id, "approval",
                     f"Согласование «{approval.title}» снято: {approval.result_comment}",
                     author_id=0, payload={"approval": approval.id})


# --- deadlines ---------------------------------------------------------------------------
def deadline_passed(schedule_row, now) -> str | None:
    """A step's deadline passed: each who has not decided is reminded, and the step also
    goes to their head (escalation), who may decide in their place. Returns why nothing was
    done, or None."""
    approval = db.session.get(Approval, schedule_row.record_id)
    params = schedule_row.params or {}
    if approval is None or approval.status != ApprovalStatus.pending.value \
            or approval.round != params.get("round") \
            or approval.step_index != params.get("step"):
        return "Шаг согласования уже пройден"
    for row in _waiting(approval):
        if row.original_user_id and row.route_note and "эскалац" in row.route_note:
            continue
        notify_users([row.user_id], f"Срок согласования истёк: {approval.title}",
                     key=f"approval:{row.id}:overdue", kind="overdue", entity="approval",
                     record_id=approval.id)
        heads = [h for h in _head_of(row.user_id) if h != row.user_id]
        if not heads or any(r.user_id == heads[0] for r in _waiting(approval)):
            continue
        why = (f"эскалация: {_name(row.user_id)} не согласовал(а) в срок "
               f"({format_datetime(row.due_at)}), решение может принять {_name(heads[0])}")
        _add_row(approval, row.step_index, heads[0], row.original_user_id or row.user_id,
                 why, None, note_prefix="Эскалация. ")
    return None


def inbox_query(user_id: int):
    """My rows waiting for a decision, newest first (the index answers it)."""
    return (select(ApprovalStep).where(ApprovalStep.user_id == user_id,
                                       ApprovalStep.status == StepStatus.waiting.value)
            .order_by(ApprovalStep.id.desc()))
