"""The fields of a process record a move asks for, on one small form or in one API body.

Two screens ask for exactly the fields a refused move names and write them through the
record's own checks in the transaction that makes the move: «Завершить» on a task whose
outcome moves its record (views/task_outcome.py), and a stage button whose stage has
required fields still empty (views/move.py, Bitrix24's «заполните поля, чтобы перейти»).
This module is what they share: which fields such a form may fill, reading and typing what
was sent, the inputs that show it again, and the move made after the fields are written."""
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
from app.scope import can_see, scope_query
from errors import FieldErrors, MissingFields, StaleRecord, TransitionNotAllowed
from models.base import acting_user
from models.labels import labels_for
from models.reference import FIELD_LISTS, ReferenceItem, choice_query
from models.user import CrmUser
from process.service import may_move, route_stage_change, transition
from process.snapshot import STAGE_ATTR, process_of
from views.errors import refusing_database_errors
from views.base import CrmModelRestApi, check_model
from views.pipeline import OTHER, custom_input_row, parse_custom_value

# A reason of the list's «Другое» asks for its comment: offered together, never required.
COMPANIONS = {"lost_reason": "lost_comment", "quality_reason": "quality_comment",
              "rejection_reason": "rejection_comment"}
INPUT_PREFIX = "f_"
MONEY_TYPES = ("money", "percent")
# «заполните поля сделки»: the record a form's fields belong to, in the genitive.
OF_RECORD = {"deal": "сделки", "lead": "лида", "order": "заказа", "event": "события"}


@dataclass(frozen=True)
class RecordField:
    """A field of the record the form may fill: `kind` is "custom", "column", "one" or
    "many"; `type` the input type of crm/_custom_input.html (or "multi")."""

    key: str
    label: str
    kind: str
    type: str
    target: object = None  # the custom field's definition, or the related model


def of_record(entity: str) -> str:
    return OF_RECORD.get(entity, "записи")


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
    less its pipeline and stage (the move changes the stage), the custom fields of its
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


def with_companions(record, keys, fields: dict | None = None) -> list[str]:
    """`keys` in order, without repeats, each reason followed by its comment when the
    record has one (`fields`: its fillable fields, when already at hand)."""
    if fields is None:
        fields = fillable_fields(record) if record is not None else {}
    asked = list(dict.fromkeys(keys))
    for key in list(asked):
        companion = COMPANIONS.get(key)
        if companion in fields and companion not in asked:
            asked.insert(asked.index(key) + 1, companion)
    return asked


def missing_to_ask(record, refusal, fields: dict | None = None) -> list[str] | None:
    """The fields to ask for when `refusal` is only about empty fields and the form can
    fill every one of them; None otherwise (a move not allowed, a file to attach)."""
    if not isinstance(refusal, MissingFields):
        return None
    if fields is None:
        fields = fillable_fields(record)
    if not all(key in fields for key in refusal.errors):
        return None
    return with_companions(record, refusal.errors, fields)


# --- typing what was sent ----------------------------------------------------------------
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
                raise ValueError(f"Поле «{key}» здесь не заполняется: такого поля нет или "
                                 "его заполняют на странице записи")
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


def check_version(record, seen) -> None:
    """The version the form or the client saw (none given: not checked)."""
    if seen not in (None, "") and hasattr(record, "version") \
            and str(seen) != str(record.version):
        raise StaleRecord()


def commit() -> None:
    """The request's one commit; a record changed meanwhile by someone else is the same
    refusal as on its own form."""
    with refusing_database_errors():
        db.session.commit()


# --- the move ----------------------------------------------------------------------------
def move_with_fields(record, to_key: str, values: dict | None, seen_version=None,
                     source: str = "form") -> None:
    """Moves `record` to stage `to_key` after writing `values`, which may hold only the
    fields the move asks for (a stage's participant writes nothing else), through the
    record's own checks. Everything goes into the caller's session: raises the typed
    refusal (the caller rolls back) or leaves the caller to commit."""
    check_version(record, seen_version)
    refusal = may_move(record, to_key)
    if isinstance(refusal, TransitionNotAllowed):
        raise refusal
    if values:
        fill_asked(record, to_key, dict(values))
        check_model(record)
        route_stage_change(record, source)
    transition(record, to_key, source=source)


def fill_asked(record, to_key: str, pending: dict) -> None:
    """Writes the values the move asks for, as often as a written value makes the move
    ask for more (a reason «Другое» asks for its comment); a value it never asks for is
    refused."""
    while pending:
        refusal = may_move(record, to_key)
        asked = with_companions(record, refusal.errors) \
            if isinstance(refusal, MissingFields) else []
        taken = {key: pending.pop(key) for key in list(pending) if key in asked}
        if not taken:
            break
        fill_record(record, taken)
    if pending:
        fields = fillable_fields(record)
        stage = process_of(record).stage(to_key).name
        raise FieldErrors({
            key: f"Поле «{fields[key].label if key in fields else key}» не нужно для "
                 f"перехода на этап «{stage}»: его меняют на странице записи"
            for key in pending})


# --- showing the form --------------------------------------------------------------------
def input_rows(record, asked, submitted, errors: dict) -> list[dict]:
    """The inputs of the asked fields for crm/_record_field_inputs.html, showing what was
    typed; each is required but the comments offered with a reason."""
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


__all__ = ["fillable_fields", "with_companions", "missing_to_ask", "fill_record",
           "form_values", "check_version", "commit", "move_with_fields", "input_rows",
           "of_record", "OTHER", "MONEY_TYPES", "COMPANIONS", "INPUT_PREFIX"]
