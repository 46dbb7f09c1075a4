"""Completing a task with its outcome in one step: «Завершить» on the task page and
`POST /api/v1/task/<id>/complete` (views/task.py).

The task is closed through the same path as a form save (the model's checks, then
`route_stage_change()`, which runs what the outcome says) in the caller's transaction. When
the outcome is refused for fields of the record the task belongs to (the lost reason of
«Отказ»), the refusal names them, and the same form asks for exactly those fields: typed in,
they are written to the record through the record's own checks and saved in the same commit
as the closed task, or nothing is saved."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, Text, select
from sqlalchemy import inspect as sa_inspect

from app.extensions import db
from app.formatting import to_local, to_utc
from app.forms import DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS
from app.scope import can_see, may_change_stage, scope_query
from errors import AccessDenied, CrmError, FieldErrors, StaleRecord
from models.base import acting_user
from models.labels import labels_for
from models.reference import FIELD_LISTS, ReferenceItem, choice_query
from models.registry import entity_label, get_record
from models.task import OUTCOME_SEPARATOR, TASK_STATUS_LABELS, TaskStatus, outcome_values
from models.user import CrmUser
from process.service import route_stage_change
from process.snapshot import STAGE_ATTR, process_of
from views.base import CrmModelRestApi, check_model
from views.errors import refusing_database_errors
from views.pipeline import OTHER, custom_input_row, parse_custom_value

# What the engine calls the task's comment (`plan_outcome`: «Оставьте комментарий: ...»); on
# the form and in the API it is the task's «Результат».
COMMENT_KEY = "comment"
# A reason of the list's «Другое» asks for its comment: offered together, never required.
COMPANIONS = {"lost_reason": "lost_comment", "quality_reason": "quality_comment",
              "rejection_reason": "rejection_comment"}
INPUT_PREFIX = "f_"
MONEY_TYPES = ("money", "percent")


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
@dataclass(frozen=True)
class RecordField:
    """A field of the record the form may fill: `kind` is "custom", "column", "one" or
    "many"; `type` the input type of crm/_custom_input.html (or "multi")."""

    key: str
    label: str
    kind: str
    type: str
    target: object = None  # the custom field's definition, or the related model


def linked_record(task):
    return get_record(task.record_entity, task.record_id) if task.record_entity else None


def may_write_record(record) -> bool:
    """The form writes the fields the outcome's move asks for: a writer of the record
    within the role's scope, or a participant of its stage, who may make that move."""
    return may_change_stage(record, acting_user())


def _record_api(model):
    for view in current_app.appbuilder.baseviews:
        if isinstance(view, CrmModelRestApi) and view.datamodel.obj is model:
            return view
    return None


def _column_type(column) -> str:
    kind = column.type
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Numeric):
        return "money"
    if isinstance(kind, Integer):
        return "integer"
    return "text" if isinstance(kind, Text) else "string"


def fillable_fields(record) -> dict[str, RecordField]:
    """What the form may fill on `record`: what the record's own API lets a writer change,
    less its pipeline and stage (the outcome moves the record), the custom fields of its
    pipeline one by one. Child rows (line items) and files are entered on the record page."""
    model = type(record)
    api = _record_api(model)
    entity = getattr(model, "__entity__", "")
    names = set(api.edit_columns if api is not None else ()) - {
        "pipeline", "version", STAGE_ATTR.get(entity)}
    process = process_of(record) if entity in STAGE_ATTR else None
    labels = {**labels_for(entity), **(process.labels if process is not None else {})}
    mapper = sa_inspect(model)
    out: dict[str, RecordField] = {}
    for name in sorted(names - {"custom"}):
        if name in mapper.relationships:
            rel = mapper.relationships[name]
            if rel.uselist and rel.secondary is None:
                continue
            out[name] = RecordField(name, labels.get(name, name),
                                    "many" if rel.uselist else "one",
                                    "multi" if rel.uselist else "choice", rel.mapper.class_)
        elif name in mapper.column_attrs:
            column = mapper.column_attrs[name].columns[0]
            out[name] = RecordField(name, labels.get(name, name), "column",
                                    _column_type(column))
    pipeline = getattr(record, "pipeline", None)
    if "custom" in names and pipeline is not None:
        for fdef in pipeline.fields:
            if fdef.type != "file":
                out[fdef.key] = RecordField(fdef.key, fdef.label, "custom", fdef.type, fdef)
    return out


def _parse_column(spec: RecordField, raw):
    """A value typed in or sent as JSON, as the column holds it; ValueError in Russian."""
    if isinstance(raw, str):
        raw = raw.strip()
    if raw in (None, ""):
        return False if spec.type == "bool" else None
    try:
        if spec.type == "bool":
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if spec.type in ("string", "text"):
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if spec.type == "integer":
            if isinstance(raw, bool) or isinstance(raw, float):
                raise ValueError
            return int(raw)
        if spec.type == "money":
            if isinstance(raw, bool):
                raise ValueError
            number = Decimal(str(raw).replace(" ", "").replace("\u00a0", "")
                             .replace(",", "."))
            if not number.is_finite():
                raise ValueError
            return number
        formats = DATE_INPUT_FORMATS if spec.type == "date" else DATETIME_INPUT_FORMATS
        for fmt in formats:
            try:
                value = dt.datetime.strptime(str(raw), fmt)
            except ValueError:
                continue
            return value.date() if spec.type == "date" else to_utc(value)
        raise ValueError
    except (ValueError, TypeError, InvalidOperation):
        expected = {"bool": "да или нет", "integer": "целое число",
                    "money": "число, например 1 500,00", "date": "дата ДД.ММ.ГГГГ",
                    "datetime": "дата и время ДД.ММ.ГГГГ ЧЧ:ММ"}.get(spec.type, "текст")
        raise ValueError(f"«{spec.label}»: ожидается {expected}") from None


def _related(spec: RecordField, raw):
    """The record an id names, if the user may see it; ValueError in Russian."""
    if raw in (None, ""):
        return None
    try:
        if isinstance(raw, bool):
            raise ValueError
        pk = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"«{spec.label}»: укажите номер записи") from None
    found = db.session.get(spec.target, pk)
    if found is None or not can_see(found, acting_user()):
        raise ValueError(f"«{spec.label}»: запись № {pk} не найдена")
    return found


def fill_record(record, values: dict) -> None:
    """Writes `values` ({field: value}, JSON or as typed) to `record`; FieldErrors naming
    each value that does not fit (the record's own checks come after)."""
    fields = fillable_fields(record)
    errors: dict[str, str] = {}
    custom = dict(getattr(record, "custom", None) or {})
    custom_changed = False
    for key, raw in values.items():
        spec = fields.get(key)
        try:
            if spec is None:
                raise ValueError(f"Поле «{key}» нельзя заполнить при завершении задачи")
            if spec.kind == "custom":
                custom[key] = raw  # the record's check types it against its definition
                custom_changed = True
            elif spec.kind == "column":
                setattr(record, key, _parse_column(spec, raw))
            elif spec.kind == "one":
                setattr(record, key, _related(spec, raw))
            else:
                if not isinstance(raw, (list, tuple)):
                    raise ValueError(f"«{spec.label}»: ожидается список номеров записей")
                setattr(record, key, [_related(spec, pk) for pk in raw if pk not in (None, "")])
        except ValueError as exc:
            errors[key] = str(exc)
    if custom_changed:
        record.custom = {k: v for k, v in custom.items() if v not in (None, "")} or None
    if errors:
        raise FieldErrors(errors)


def form_values(record, asked, form) -> dict:
    """The values of the asked fields as the form sent them, typed as the API would send
    them; FieldErrors for a custom value that does not parse."""
    fields = fillable_fields(record)
    values, errors = {}, {}
    for key in asked:
        spec = fields.get(key)
        if spec is None:
            continue
        name = INPUT_PREFIX + key
        if spec.kind == "custom":
            try:
                values[key] = parse_custom_value(spec.target, form, name)
            except ValueError as exc:
                errors[key] = str(exc)
        elif spec.type == "bool":
            values[key] = name in form
        elif spec.type == "multi":
            values[key] = form.getlist(name)
        else:
            values[key] = form.get(name)
    if errors:
        raise FieldErrors(errors)
    return values


# --- the step ----------------------------------------------------------------------------
def complete(task, outcome: str | None, result: str | None, values: dict | None = None,
             record_version=None, source: str = "form") -> None:
    """Closes `task` with `outcome` as a save of the task would, after writing `values` to
    the record it belongs to. Everything goes into the caller's session: raises the typed
    refusal (the caller rolls back) or leaves the caller to commit."""
    with refusing_database_errors():  # a flush meeting a concurrent save: StaleRecord
        _complete(task, outcome, result, values, record_version, source)


def _complete(task, outcome, result, values, record_version, source) -> None:
    db.session.refresh(task, with_for_update=True)  # two clicks at once: one closes it
    if not task.is_open:
        raise TaskClosed(task)
    outcome = (outcome or "").strip() or None
    if outcome and not outcome_values(task.outcome_choices):
        raise TaskRefused({"outcome": "У задачи нет вариантов итога: завершите её без итога"})
    if values:
        _write_record(task, values, record_version, source)
    task.status = TaskStatus.done.value
    task.outcome = outcome
    if (result or "").strip():
        task.result = result.strip()
    errors = task.check()
    if errors:
        raise TaskRefused(errors)
    route_stage_change(task, source)


def _write_record(task, values: dict, record_version, source: str) -> None:
    record = linked_record(task)
    if record is None:
        raise TaskRefused({"fields": "Задача не относится к записи: заполнять нечего"})
    if not may_write_record(record):
        raise AccessDenied(f"Нет прав изменять запись «{entity_label(task.record_entity)}: "
                           f"{record}»: её поля может заполнить ответственный за неё.")
    if record_version not in (None, "") and hasattr(record, "version") \
            and str(record_version) != str(record.version):
        raise StaleRecord()
    fill_record(record, values)
    check_model(record)
    route_stage_change(record, source)


def commit() -> None:
    """The request's one commit; a record changed meanwhile by someone else is the same
    refusal as on its own form."""
    with refusing_database_errors():
        db.session.commit()


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
    asked = list(dict.fromkeys([*asked_before, *named]))
    for key in list(asked):
        companion = COMPANIONS.get(key)
        if companion in fields and companion not in asked:
            asked.insert(asked.index(key) + 1, companion)
    return asked


def input_rows(record, asked, submitted, errors: dict) -> list[dict]:
    """The inputs of the asked fields for crm/task_complete.html, showing what was typed;
    each is required but the comments offered with a reason."""
    fields = fillable_fields(record)
    rows = []
    for key in asked:
        spec = fields.get(key)
        if spec is None:
            continue
        name = INPUT_PREFIX + key
        if spec.kind == "custom":
            row = custom_input_row(spec.target, name, (record.custom or {}).get(key),
                                   submitted, model=type(record), record=record)
        else:
            row = _model_row(record, spec, name, submitted)
        row["error"] = errors.get(key)
        row["required"] = key not in COMPANIONS.values()
        rows.append(row)
    return rows


def _model_row(record, spec: RecordField, name: str, submitted) -> dict:
    current = getattr(record, spec.key, None)
    row = {"key": spec.key, "label": spec.label, "type": spec.type, "name": name,
           "disabled": False, "options": [], "other": "", "allow_other": False,
           "checked": bool(current)}
    if spec.kind in ("one", "many"):
        held = current if spec.kind == "many" else [current] if current is not None else []
        row["options"] = _options(record, spec, held)
        if submitted is not None:
            chosen = submitted.getlist(name)
        else:
            chosen = [str(item.id) for item in held]
        row["value"] = chosen[0] if chosen and spec.kind == "one" else ""
        row["values"] = set(chosen)
        return row
    if submitted is not None:
        row["value"] = submitted.get(name, "")
        row["checked"] = name in submitted
    elif spec.type == "datetime" and current is not None:
        row["value"] = to_local(current).strftime("%Y-%m-%dT%H:%M")
    else:
        row["value"] = "" if current is None else str(current)
    return row


def _options(record, spec: RecordField, held) -> list[tuple[str, str]]:
    """Choices of a related field: the items of its list (a reason, a source), active
    users, or the records of that kind the user may see; plus what the record holds."""
    target = spec.target
    if target is ReferenceItem:
        process = process_of(record) if getattr(type(record), "__entity__", "") in STAGE_ATTR \
            else None
        list_code = (getattr(process, "lost_reason_list", None)
                     if spec.key == "lost_reason" else None) or FIELD_LISTS.get(spec.key)
        keep = held[0].id if held else None
        items = db.session.scalars(choice_query(list_code, keep)).all() if list_code else held
        return [(str(i.id), i.label) for i in items]
    stmt = select(target)
    if target is CrmUser:
        stmt = stmt.where(CrmUser.active.is_(True))
    elif hasattr(target, "scope_clause"):
        stmt = scope_query(stmt, target, acting_user())
    found = list(db.session.scalars(stmt))
    found += [item for item in held if item not in found]
    return sorted(((str(item.id), str(item)) for item in found), key=lambda pair: pair[1])


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


__all__ = ["complete", "commit", "fields_to_ask", "input_rows", "form_values",
           "leaf_outcomes", "may_complete", "may_write_record", "linked_record",
           "refusal_text", "for_api", "TaskClosed", "OTHER", "MONEY_TYPES", "COMMENT_KEY"]
