"""Completing a task with its outcome in one step: «Завершить» on the task page and
`POST /api/v1/task/<id>/complete` (views/task.py).

The task is closed through the same path as a form save (the model's checks, then
`route_stage_change()`, which runs what the outcome says) in the caller's transaction. When
the outcome is refused for fields of the record the task belongs to (the lost reason of
«Отказ»), the refusal names them, and the same form asks for exactly those fields: typed in,
they are written to the record through the record's own checks and saved in the same commit
as the closed task, or nothing is saved."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import update

from app.extensions import db
from app.scope import may_change_stage
from errors import AccessDenied, CrmError, FieldErrors
from models.base import acting_user
from models.registry import entity_label, get_record
from models.task import OUTCOME_SEPARATOR, Task, TASK_STATUS_LABELS, TaskStatus, outcome_values
from process.service import outcome_target, route_stage_change
from views.base import check_model
from views.errors import refusing_database_errors
from views.record_fields import (check_version, fill_asked, fillable_fields,
                                 with_companions)

# What the engine calls the task's comment (`plan_outcome`: «Оставьте комментарий: ...»); on
# the form and in the API it is the task's «Результат».
COMMENT_KEY = "comment"


class TaskClosed(CrmError):
    http_status = 409

    def __init__(self, task):
        status = TASK_STATUS_LABELS.get(task.status, task.status).lower()
        super().__init__(f"Задача «{task.title}» уже закрыта ({status}): завершить её "
                         "ещё раз нельзя")


class TaskRefused(FieldErrors):
    """The task's own checks refused the closing (an outcome not of its list...): nothing
    the record's fields could answer."""


# --- the task page's buttons -------------------------------------------------------------
def leaf_outcomes(task) -> list[str]:
    """The outcomes a button may carry: an answer with a second question is offered only as
    its "answer / second answer" pairs, which the task's list holds too."""
    choices = outcome_values(task.outcome_choices) or []
    return [c for c in choices
            if not any(o.startswith(c + OUTCOME_SEPARATOR) for o in choices)]


def may_complete(task) -> bool:
    """The task is open and the user may write tasks (the row rule let them see it)."""
    return task.is_open and bool(current_app.appbuilder.sm.has_access("can_write", "task"))


# --- the record's fields -----------------------------------------------------------------
def linked_record(task):
    return get_record(task.record_entity, task.record_id) if task.record_entity else None


def may_write_record(record) -> bool:
    """The form writes the fields the outcome's move asks for: a writer of the record
    within the role's scope, or a participant of its stage, who may make that move."""
    return may_change_stage(record, acting_user())


# --- the step ----------------------------------------------------------------------------
def complete(task, outcome: str | None, result: str | None, values: dict | None = None,
             record_version=None, source: str = "form") -> None:
    """Closes `task` with `outcome` as a save of the task would, after writing `values` to
    the record it belongs to. Everything goes into the caller's session: raises the typed
    refusal (the caller rolls back) or leaves the caller to commit."""
    with refusing_database_errors():  # a flush meeting a concurrent save: StaleRecord
        _complete(task, outcome, result, values, record_version, source)


def _complete(task, outcome, result, values, record_version, source) -> None:
    # Two clicks at once: one closes it. A write first takes the row (PostgreSQL) or the
    # database (SQLite, where FOR UPDATE is ignored) before the task is read again.
    db.session.execute(update(Task).where(Task.id == task.id).values(status=Task.status)
                       .execution_options(synchronize_session=False))
    db.session.refresh(task)
    if not task.is_open:
        raise TaskClosed(task)
    outcome = (outcome or "").strip() or None
    if outcome and not outcome_values(task.outcome_choices):
        raise TaskRefused({"outcome": "У задачи нет вариантов итога: завершите её без итога"})
    if values:
        _write_record(task, outcome, values, record_version, source)
    task.status = TaskStatus.done.value
    task.outcome = outcome
    if (result or "").strip():
        task.result = result.strip()
    errors = task.check()
    if errors:
        raise TaskRefused(errors)
    route_stage_change(task, source)


def _write_record(task, outcome, values: dict, record_version, source: str) -> None:
    """Only what the outcome's move asks for, as a stage button's form writes: closing a
    task is no way to change other fields of a record (a participant's above all)."""
    record = linked_record(task)
    if record is None:
        raise TaskRefused({"fields": "Задача не относится к записи: заполнять нечего"})
    if not may_write_record(record):
        raise AccessDenied(f"Нет прав изменять запись «{entity_label(task.record_entity)}: "
                           f"{record}»: её поля может заполнить ответственный за неё.")
    check_version(record, record_version)
    to_key = outcome_target(task, outcome)
    if to_key is None:
        raise TaskRefused({"fields": "Этот итог не переводит запись на другой этап: "
                                     "заполнять нечего"})
    fill_asked(record, to_key, dict(values))
    check_model(record)
    route_stage_change(record, source)


# --- answering a refusal -----------------------------------------------------------------
def fields_to_ask(task, exc: CrmError, asked_before=()) -> list[str] | None:
    """The record fields the form asks for after refusal `exc`: those it names that the
    form can fill, with the companions of reasons, after the ones asked before. None when
    the refusal is not about fields (or not about fields the form can fill)."""
    if not isinstance(exc, FieldErrors) or isinstance(exc, TaskRefused):
        return None
    record = linked_record(task)
    fields = fillable_fields(record) if record is not None else {}
    named = [key for key in exc.errors if key in fields and key != COMMENT_KEY]
    if not named and not asked_before and COMMENT_KEY not in exc.errors:
        return None
    return with_companions(record, [*asked_before, *named], fields)


def refusal_text(task, exc: CrmError, needs_record: bool) -> str:
    """The message of a refusal the form does not answer; `needs_record`: fields of the
    record are needed, but this user may not write it."""
    if needs_record:
        record = linked_record(task)
        return (f"{exc.message}. Заполнить поля записи «{entity_label(task.record_entity)}: "
                f"{record}» может тот, у кого есть право её изменять.")
    return exc.message


def for_api(exc: CrmError) -> CrmError:
    """The engine's «comment» is the API's «result»."""
    if isinstance(exc, FieldErrors) and COMMENT_KEY in exc.errors:
        return FieldErrors({("result" if key == COMMENT_KEY else key): message
                            for key, message in exc.errors.items()})
    return exc


__all__ = ["complete", "fields_to_ask", "leaf_outcomes", "may_complete", "may_write_record",
           "linked_record", "refusal_text", "for_api", "TaskClosed", "COMMENT_KEY"]
