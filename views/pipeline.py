"""Screens and REST APIs of pipelines, stages and custom fields, and the pieces every
pipeline record screen (leads, deals) shares: stage and reference selects, the custom
fields input, the "Задачи" column and its filter."""
from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal
from flask import has_request_context, render_template, request
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import (BS3TextAreaFieldWidget, BS3TextFieldWidget,
                                           Select2Widget)
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup
from sqlalchemy import func, or_, select
from wtforms import BooleanField, Field, HiddenField, SelectField, StringField, TextAreaField
from wtforms.utils import unset_value

from app.extensions import db
from app.formatting import format_money
from errors import CrmError
from models.attachment import Attachment
from models.deal import Deal
from models.labels import CUSTOM_FIELD_LABELS, PIPELINE_LABELS, STAGE_LABELS
from models.lead import Lead
from models.party import Contact
from models.pipeline import (FIELD_TYPE_LABELS, PIPELINE_ENTITY_LABELS, STAGE_KIND_LABELS,
                             CustomFieldDef, Pipeline, Stage, StageKind)
from models.reference import ReferenceItem, ReferenceList, choice_query
from models.task import Task, is_open_task, open_task_exists
from models.trash import SHOW_BINNED
from models.user import CrmUser
from process.guard import readonly_now
from views.base import CrmModelRestApi, CrmModelView, register
from views.listing import ListInterface, keep_for_request
from views.pickers import CUSTOM_PICKERS, held_option, picker_url

FIELD_LABELS = CUSTOM_FIELD_LABELS


def _select(label, choices):
    return SelectField(label, choices=list(choices.items()))


class InUseError(CrmError):
    http_status = 409


def _records_on(column, value) -> int:
    """How many leads and deals hold `value` in `column` ("pipeline_id" or "stage_id"),
    those in the recycle bin included: a restore brings them back to it."""
    return sum(db.session.scalar(select(func.count()).select_from(m)
                                 .where(getattr(m, column) == value)
                                 .execution_options(**SHOW_BINNED)) or 0
               for m in (Lead, Deal))


def _refuse_delete_in_use(item) -> None:
    if isinstance(item, Pipeline):
        count = _records_on("pipeline_id", item.id)
        if count:
            raise InUseError(f"Нельзя удалить воронку «{item.name}»: в ней {count} "
                             "записей. Сделайте её неактивной.")
    elif isinstance(item, Stage):
        count = _records_on("stage_id", item.id)
        if count:
            raise InUseError(f"Нельзя удалить этап «{item.name}»: на нём {count} записей.")


# --- pipeline settings screens -------------------------------------------------------------

class StageView(CrmModelView):
    datamodel = SQLAInterface(Stage)
    resource = "pipeline"
    titles = ("Этапы воронок", "Этап", "Новый этап", "Изменение этапа")
    label_columns = STAGE_LABELS
    list_columns = ["pipeline", "sort_order", "name", "key", "kind_label", "deadline", "color"]
    show_columns = ["pipeline", "key", "name", "kind_label", "sort_order", "color", "deadline"]
    add_columns = edit_columns = ["pipeline", "key", "name", "kind", "sort_order", "color",
                                  "deadline"]
    search_columns = ["pipeline", "key", "name", "kind"]
    order_columns = ["sort_order", "name", "key"]
    base_order = ("sort_order", "asc")
    add_form_extra_fields = {"kind": _select("Тип", STAGE_KIND_LABELS)}
    edit_form_extra_fields = {"kind": _select("Тип", STAGE_KIND_LABELS)}
    description_columns = {"deadline": "Например: 1h, 1d, 2 working days"}

    def pre_delete(self, item):
        _refuse_delete_in_use(item)


class CustomFieldDefView(CrmModelView):
    datamodel = SQLAInterface(CustomFieldDef)
    resource = "pipeline"
    titles = ("Поля воронок", "Поле воронки", "Новое поле", "Изменение поля")
    label_columns = FIELD_LABELS
    list_columns = ["pipeline", "sort_order", "label", "key", "type_label", "reference_list",
                    "required"]
    show_columns = ["pipeline", "key", "label", "type_label", "reference_list", "allow_other",
                    "required", "sort_order"]
    add_columns = edit_columns = ["pipeline", "key", "label", "type", "reference_list",
                                  "allow_other", "required", "sort_order"]
    search_columns = ["pipeline", "key", "label", "type", "required"]
    order_columns = ["sort_order", "label", "key"]
    base_order = ("sort_order", "asc")
    add_form_extra_fields = edit_form_extra_fields = {"type": _select("Тип", FIELD_TYPE_LABELS)}


class PipelineView(CrmModelView):
    datamodel = SQLAInterface(Pipeline)
    resource = "pipeline"
    titles = ("Воронки", "Воронка", "Новая воронка", "Изменение воронки")
    label_columns = PIPELINE_LABELS
    list_columns = ["sort_order", "name", "code", "entity_label", "active"]
    show_columns = ["name", "code", "entity_label", "active", "sort_order", "created_at"]
    add_columns = edit_columns = ["code", "name", "entity", "active", "sort_order"]
    search_columns = ["code", "name", "entity", "active"]
    order_columns = ["sort_order", "name", "code"]
    base_order = ("sort_order", "asc")
    related_views = [StageView, CustomFieldDefView]
    show_template = "crm/show_cascade.html"
    edit_template = "appbuilder/general/model/edit_cascade.html"
    add_form_extra_fields = {"entity": _select("Раздел", PIPELINE_ENTITY_LABELS),
                             "active": BooleanField("Активна", default=True)}
    edit_form_extra_fields = add_form_extra_fields

    def pre_delete(self, item):
        _refuse_delete_in_use(item)


class PipelineApi(CrmModelRestApi):
    resource_name = "pipeline"
    resource = "pipeline"
    datamodel = SQLAInterface(Pipeline)
    list_columns = ["id", "code", "name", "entity", "active", "sort_order"]
    show_columns = ["id", "code", "name", "entity", "active", "sort_order", "created_at",
                    "updated_at"]
    add_columns = edit_columns = ["code", "name", "entity", "active", "sort_order"]

    def pre_delete(self, item):
        _refuse_delete_in_use(item)


class StageApi(CrmModelRestApi):
    resource_name = "stage"
    resource = "pipeline"
    datamodel = SQLAInterface(Stage)
    list_columns = ["id", "pipeline.id", "key", "name", "sort_order", "kind", "color",
                    "deadline"]
    show_columns = ["id", "pipeline.id", "pipeline.name", "key", "name", "sort_order", "kind",
                    "color", "deadline", "created_at", "updated_at"]
    add_columns = edit_columns = ["pipeline", "key", "name", "sort_order", "kind", "color",
                                  "deadline"]

    def pre_delete(self, item):
        _refuse_delete_in_use(item)


class CustomFieldDefApi(CrmModelRestApi):
    resource_name = "custom_field"
    resource = "pipeline"
    datamodel = SQLAInterface(CustomFieldDef)
    list_columns = ["id", "pipeline.id", "key", "label", "type", "reference_list",
                    "allow_other", "required", "sort_order"]
    show_columns = list_columns
    add_columns = edit_columns = ["pipeline", "key", "label", "type", "reference_list",
                                  "allow_other", "required", "sort_order"]


# --- shared by the screens of pipeline records (leads, deals) -------------------------------

def _current_pk():
    raw = (request.view_args or {}).get("pk") if request else None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _held(model, column: str):
    """The value the edited record holds in `column` (None on the add form)."""
    pk = _current_pk()
    if pk is None:
        return None
    return db.session.scalar(select(getattr(model, column)).where(model.id == pk))


def reference_select(label: str, list_code: str, model, field: str):
    """Active items of the list, plus the one the edited record already holds."""

    def query():
        return db.session.scalars(choice_query(list_code, _held(model, f"{field}_id"))).all()

    return QuerySelectField(label, query_func=query, get_pk_func=lambda o: o.id,
                            allow_blank=True, blank_text="—", widget=Select2Widget())


def pipeline_select(label: str, model):
    entity = model.__pipeline_entity__

    def query():
        held = _held(model, "pipeline_id")
        cond = Pipeline.active.is_(True)
        if held:
            cond = or_(cond, Pipeline.id == held)
        return db.session.scalars(select(Pipeline).where(Pipeline.entity == entity, cond)
                                  .order_by(Pipeline.sort_order, Pipeline.name)).all()

    return QuerySelectField(label, query_func=query, get_pk_func=lambda o: o.id,
                            allow_blank=True, blank_text="—", widget=Select2Widget())


def stage_select(label: str, model):
    """Stages of the entity's pipelines, labelled "Воронка → Этап"; the model's check
    refuses a stage of another pipeline than the chosen one."""
    entity = model.__pipeline_entity__

    def query():
        held = _held(model, "stage_id")
        cond = Pipeline.active.is_(True)
        if held:
            cond = or_(cond, Stage.id == held)
        return db.session.scalars(select(Stage).join(Pipeline)
                                  .where(Pipeline.entity == entity, cond)
                                  .order_by(Pipeline.sort_order, Pipeline.name,
                                            Stage.sort_order)).all()

    return QuerySelectField(label, query_func=query, get_pk_func=lambda o: o.id,
                            get_label=lambda s: f"{s.pipeline.name} → {s.name}",
                            allow_blank=True, blank_text="—", widget=Select2Widget())


class JsonObjectField(Field):
    """The values of a pipeline's custom fields, typed as a JSON object (kept for callers
    that still want the raw input; the record forms use CustomFieldsField)."""

    widget = BS3TextAreaFieldWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return json.dumps(self.data, ensure_ascii=False) if self.data else ""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            self.data = None
            return
        try:
            value = json.loads(raw)
        except ValueError:
            self.data = None
            raise ValueError("Дополнительные поля: неверный формат, ожидается "
                             "{\"ключ\": значение}") from None
        if not isinstance(value, dict):
            self.data = None
            raise ValueError("Дополнительные поля: ожидается объект {\"ключ\": значение}")
        self.data = value


# --- custom fields: one input per field of the record's pipeline ---------------------------

OTHER = "__other__"
FILE_NOTE = "Файлы прикрепляются на странице записи, вкладка «Файлы»"


def _input_name(pipeline_id, key: str) -> str:
    return f"custom__{pipeline_id}__{key}"


def _record_of(model):
    pk = _current_pk()
    if pk is None:
        return None
    with db.session.no_autoflush:
        return db.session.get(model, pk)


def readonly_keys(record) -> tuple:
    """Fields the record's process makes read-only on its stored stage (edit forms)."""
    if record is None:
        return ()
    with db.session.no_autoflush:
        return readonly_now(record)


def _number(raw: str):
    text = raw.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    number = Decimal(text)
    if not number.is_finite():
        raise InvalidOperation
    return int(number) if number == number.to_integral_value() else float(number)


def parse_custom_value(fdef, formdata, name):
    """The typed value of input `name` of custom field `fdef`, as `custom` stores it;
    ValueError with a Russian message when it does not fit."""
    kind = fdef.type
    raw = (formdata.get(name) or "").strip()
    if kind == "bool":
        return name in formdata and raw not in ("", "0", "false", "n")
    if kind == "choice":
        if raw == OTHER:
            return (formdata.get(name + "__other") or "").strip() or None
        return raw or None
    if not raw:
        return None
    try:
        if kind == "integer":
            return int(raw.replace(" ", "").replace("\u00a0", ""))
        if kind in ("money", "percent"):
            return _number(raw)
        if kind == "date":
            for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
                try:
                    return dt.datetime.strptime(raw, fmt).date().isoformat()
                except ValueError:
                    continue
            raise ValueError
        if kind == "datetime":
            for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M",
                        "%Y-%m-%d %H:%M"):
                try:
                    return dt.datetime.strptime(raw, fmt).isoformat(timespec="minutes")
                except ValueError:
                    continue
            raise ValueError
        if kind in ("user", "contact", "file"):
            return int(raw)
    except (ValueError, InvalidOperation):
        expected = {"integer": "целое число, например 12",
                    "money": "сумма числом, например 1 500 000,00",
                    "percent": "число от 0 до 100",
                    "date": "дата ДД.ММ.ГГГГ",
                    "datetime": "дата и время ДД.ММ.ГГГГ ЧЧ:ММ"}.get(kind, "другое значение")
        raise ValueError(f"«{fdef.label}»: ожидается {expected}") from None
    return raw


class CustomFieldsField(Field):
    """The values of the record's pipeline fields, one typed input each; `data` is the dict
    stored in `custom`. Read-only fields (by the process stage) and files keep the stored
    value: disabled inputs are not sent."""

    def __init__(self, label=None, validators=None, model=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.model = model
        self.sub_errors: dict[str, str] = {}
        self.submitted = None

    def process_formdata(self, valuelist):
        pass  # the marker input only; the values are read in process()

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        self.sub_errors = {}
        if formdata is None or self.name not in formdata:
            return
        raw_json = (formdata.get(self.name) or "").strip()
        if raw_json not in ("", "1"):
            # A script may still send the values as one JSON object, as before.
            try:
                JsonObjectField.process_formdata(self, [raw_json])
            except ValueError as exc:
                self.process_errors.append(str(exc))
            return
        self.submitted = formdata
        record = _record_of(self.model)
        stored = dict((record.custom or {}) if record is not None else {})
        try:
            pipeline_id = int(formdata.get("pipeline") or "")
        except ValueError:
            pipeline_id = record.pipeline_id if record is not None else None
        pipeline = db.session.get(Pipeline, pipeline_id) if pipeline_id else None
        if pipeline is None:
            self.data = {}
            return
        same_pipeline = record is not None and record.pipeline_id == pipeline.id
        locked = set(readonly_keys(record)) if same_pipeline else set()
        values = {}
        for fdef in pipeline.fields:
            name = _input_name(pipeline.id, fdef.key)
            if fdef.key in locked or (fdef.type == "file" and name not in formdata):
                value = stored.get(fdef.key) if same_pipeline else None
            else:
                try:
                    value = parse_custom_value(fdef, formdata, name)
                except ValueError as exc:
                    self.sub_errors[fdef.key] = str(exc)
                    continue
            if value is not None:
                values[fdef.key] = value
        self.data = values
        if self.sub_errors:
            self.process_errors.extend(self.sub_errors.values())

    def populate_obj(self, obj, name):
        setattr(obj, name, self.data or None)

    def widget(self, field, **kwargs):
        return render_template("crm/custom_fields_widget.html",
                               **custom_fields_context(field))


def _choice_options(fdef, current):
    cond = ReferenceItem.active.is_(True)
    if isinstance(current, str) and current:
        cond = or_(cond, ReferenceItem.code == current)
    items = db.session.scalars(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == fdef.reference_list, cond)
        .order_by(ReferenceItem.sort_order, ReferenceItem.label)).all()
    return [(i.code, i.label if i.active else f"{i.label} (не используется)") for i in items]


def _file_options(model, record):
    if record is None:
        return []
    rows = db.session.scalars(select(Attachment).where(
        Attachment.entity == model.__entity__, Attachment.record_id == record.id)
        .order_by(Attachment.id)).all()
    return [(str(a.id), a.filename) for a in rows]


def _form_pipelines(model, record):
    """Pipelines whose fields the form shows: the record's (edit), the one in the URL
    (?pipeline=<id>), or every active one of the entity, grouped by name."""
    with db.session.no_autoflush:
        if record is not None and record.pipeline is not None:
            return [record.pipeline]
        wanted = request.args.get("pipeline", type=int)
        if wanted:
            pipeline = db.session.get(Pipeline, wanted)
            if pipeline is not None and pipeline.entity == model.__pipeline_entity__:
                return [pipeline]
        return db.session.scalars(select(Pipeline).where(
            Pipeline.entity == model.__pipeline_entity__, Pipeline.active.is_(True))
            .order_by(Pipeline.sort_order, Pipeline.name)).all()


def _shown(fdef, value) -> str:
    """A stored value as an input's value."""
    if value is None:
        return ""
    if fdef.type == "date":
        return str(value)[:10]
    if fdef.type == "datetime":
        return str(value)[:16]
    if fdef.type in ("money", "percent"):
        return str(value).replace(".", ",")
    return str(value)


def custom_fields_context(field) -> dict:
    model = field.model
    record = _record_of(model)
    submitted = field.submitted
    pipelines = _form_pipelines(model, record)
    if submitted is not None:
        try:
            chosen = int(submitted.get("pipeline") or 0)
        except ValueError:
            chosen = 0
    else:
        chosen = record.pipeline_id if record is not None else \
            (pipelines[0].id if len(pipelines) == 1 else 0)
    stored = field.data if isinstance(field.data, dict) else {}
    locked = set(readonly_keys(record))
    groups = []
    for pipeline in pipelines:
        same = record is not None and record.pipeline_id == pipeline.id
        rows = []
        for fdef in pipeline.fields:
            name = _input_name(pipeline.id, fdef.key)
            value = stored.get(fdef.key) if (same or submitted is not None) else None
            rows.append(custom_input_row(
                fdef, name, value, submitted,
                error=field.sub_errors.get(fdef.key) if chosen == pipeline.id else None,
                disabled=same and fdef.key in locked, model=model,
                record=record if same else None))
        groups.append({"id": pipeline.id, "name": pipeline.name, "fields": rows})
    return {"field": field, "groups": groups, "chosen": chosen, "other": OTHER,
            "money_types": ("money", "percent")}


def custom_input_row(fdef, name: str, value, submitted=None, error: str | None = None,
                     disabled: bool = False, model=None, record=None) -> dict:
    """One input of crm/_custom_input.html: custom field `fdef` under input `name`, showing
    what was typed (`submitted`, the form data) or else the stored `value`."""
    raw = submitted.get(name) if submitted is not None and name in submitted else None
    row = {"key": fdef.key, "label": fdef.label, "type": fdef.type, "name": name,
           "required": fdef.required, "disabled": disabled,
           "value": raw if raw is not None else _shown(fdef, value),
           "checked": bool(value), "error": error, "options": [], "other": "",
           "allow_other": fdef.allow_other}
    if fdef.type == "choice":
        row["options"] = _choice_options(fdef, value)
        codes = {c for c, _ in row["options"]}
        current = row["value"]
        if current and current not in codes and current != OTHER:
            row["other"], row["value"] = current, OTHER
        elif current == OTHER and submitted is not None:
            row["other"] = submitted.get(name + "__other") or ""
    elif f"custom_{fdef.type}" in CUSTOM_PICKERS:
        # Searched on the server: only the held person or contact is an option.
        picker = f"custom_{fdef.type}"
        row["options"] = held_option(CUSTOM_PICKERS[picker][0], row["value"])
        row["picker_url"] = picker_url(picker)
    elif fdef.type == "file":
        row["options"] = _file_options(model, record)
        row["note"] = FILE_NOTE
    return row


def custom_field(model=None):
    return CustomFieldsField("Дополнительные поля", model=model,
                             description="Поля выбранной воронки")


# --- showing custom values ----------------------------------------------------------------

def format_custom_value(fdef, value, record=None) -> str:
    """A stored value as office staff read it: money, Russian dates, Да/Нет, item labels."""
    if value is None or value == "":
        return ""
    kind = fdef.type
    try:
        if kind == "bool":
            return "Да" if value else "Нет"
        if kind == "money":
            return format_money(value)
        if kind == "percent":
            return f"{format_decimal(Decimal(str(value)), locale='ru_RU')}\u00a0%"
        if kind == "integer":
            return format_decimal(int(value), locale="ru_RU")
        if kind == "date":
            return dt.date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y")
        if kind == "datetime":
            return dt.datetime.fromisoformat(str(value)).strftime("%d.%m.%Y %H:%M")
        if kind == "choice":
            return _choice_label(fdef.reference_list, value) or str(value)
        if kind == "user":
            user = db.session.get(CrmUser, int(value))
            return str(user) if user is not None else f"№ {value}"
        if kind == "contact":
            contact = db.session.get(Contact, int(value))
            return str(contact) if contact is not None else f"№ {value}"
        if kind == "file":
            attachment = db.session.get(Attachment, int(value))
            return attachment.filename if attachment is not None else f"файл № {value}"
    except (ValueError, TypeError, InvalidOperation):
        pass
    return str(value)


def _choice_label(list_code: str, code) -> str | None:
    """A list item's label, read once per request (a list page shows the same few)."""
    cache = request.environ.setdefault("crm.choice_labels", {}) if has_request_context() \
        else {}
    key = (list_code, str(code))
    if key not in cache:
        cache[key] = db.session.scalar(select(ReferenceItem.label).join(ReferenceList).where(
            ReferenceList.code == list_code, ReferenceItem.code == str(code)))
    return cache[key]


def custom_lines(record, compact: bool = False) -> list[tuple[str, str]]:
    values = getattr(record, "custom", None) or {}
    pipeline = getattr(record, "pipeline", None)
    if not values or pipeline is None:
        return []
    out = []
    for fdef in pipeline.fields:
        value = values.get(fdef.key)
        if value is None or value == "" or (compact and value is False):
            continue
        out.append((fdef.label, format_custom_value(fdef, value, record)))
    return out


def custom_markup(record, compact: bool = False) -> Markup:
    lines = custom_lines(record, compact)
    sep = Markup("<br>")
    return sep.join(Markup('<span class="crm-custom">{}: {}</span>').format(label, text)
                    for label, text in lines)


class PipelineRecordInterface(ListInterface):
    """The datamodel of lead and deal screens: "custom_display" reads as the custom values
    by label, formatted in Russian (record page: all of them; list: the set ones)."""

    def prepare_page(self, items: list) -> None:
        """The «Нет задач» marks of the page, and the people, contacts and files its custom
        values name: one query each, not one per row (and per time the template reads it)."""
        model = self.obj
        ids = [item.id for item in items]
        if hasattr(model, "has_open_task"):
            with_tasks = set(db.session.scalars(select(Task.record_id).where(
                Task.record_entity == model.__entity__, Task.record_id.in_(ids),
                is_open_task()).distinct()))
            for item in items:
                item.known_open_task = item.id in with_tasks
        _load_custom_references(items)

    def _get_attr_value(self, item, col):
        if col == "custom_display":
            return custom_markup(item, compact=False)
        if col == "custom_list":
            return custom_markup(item, compact=True)
        return SQLAInterface._get_attr_value(item, col)


CUSTOM_REFERENCES = {"user": CrmUser, "contact": Contact, "file": Attachment}


def _load_custom_references(items) -> None:
    """Loads the records custom values point at into the session, so formatting a page's
    values finds them there (`db.session.get` asks no query for a loaded record)."""
    wanted: dict = {}
    for item in items:
        values = getattr(item, "custom", None) or {}
        pipeline = getattr(item, "pipeline", None)
        for fdef in (pipeline.fields if pipeline is not None and values else ()):
            model = CUSTOM_REFERENCES.get(fdef.type)
            value = values.get(fdef.key)
            if model is not None and isinstance(value, int) and not isinstance(value, bool):
                wanted.setdefault(model, set()).add(value)
    for model, ids in wanted.items():
        keep_for_request(db.session.scalars(select(model).where(model.id.in_(ids))))


def optional_text(label: str, area: bool = True):
    """A text input that stores an empty entry as NULL (FAB's own would store "")."""
    cls = TextAreaField if area else StringField
    widget = BS3TextAreaFieldWidget() if area else BS3TextFieldWidget()
    return cls(label, widget=widget, filters=[lambda v: (v or "").strip() or None])


class _TaskPresenceFilter(BaseFilter):
    has_tasks = False

    def apply(self, query, value):
        cond = open_task_exists(self.model.__entity__, self.model.id)
        if self.has_tasks:
            return query.filter(cond)
        # Only open records owe a task: won and lost ones are never «Нет задач».
        return query.filter(~cond, self.model.stage.has(Stage.kind == StageKind.open.value))


class NoOpenTaskFilter(_TaskPresenceFilter):
    name = "Нет задач"
    arg_name = "crm_no_tasks"
    has_tasks = False


class HasOpenTaskFilter(_TaskPresenceFilter):
    name = "Есть задачи"
    arg_name = "crm_has_tasks"
    has_tasks = True


TASKS_COLUMN = "has_open_task"
NO_TASKS = Markup('<span class="label label-danger crm-no-tasks">Нет задач</span>')


def tasks_mark(value) -> str:
    if value is None:  # a closed record: no mark
        return ""
    return "Есть" if value else NO_TASKS


def readonly_aware_form(form_cls, model):
    """The edit form with the fields read-only on the record's stage disabled; a disabled
    input is not sent, so its field keeps the stored value (a forged value reaches the
    save check, which refuses it)."""

    class ReadonlyAwareForm(form_cls):
        def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
            formdata = self.meta.wrap_formdata(self, formdata)
            super().process(formdata, obj, data, extra_filters, **kwargs)
            record = _record_of(model)
            for name in readonly_keys(record):
                field = self._fields.get(name)
                if field is None or name == "custom":
                    continue
                field.render_kw = {**(field.render_kw or {}), "disabled": True}
                if formdata is not None and name not in formdata:
                    field.data = getattr(record, name)
                    field.raw_data = None
                    try:  # "sent" for InputRequired: the stored value stands
                        field.raw_data = [str(field._value())]
                    except Exception:
                        field.raw_data = ["kept"]

    ReadonlyAwareForm.__name__ = form_cls.__name__
    return ReadonlyAwareForm


class PipelineRecordViewMixin:
    """The "Задачи" column and filter of lead and deal lists. The filter is a pseudo-column:
    FAB finds filters of real columns only, so they are added after construction."""

    def __init__(self, **kwargs):
        # FAB warns that the pseudo-column has no filter type; it gets its filters below.
        filters_log = logging.getLogger("flask_appbuilder.models.filters")
        level = filters_log.level
        filters_log.setLevel(logging.ERROR)
        try:
            super().__init__(**kwargs)
        finally:
            filters_log.setLevel(level)
        filters = [NoOpenTaskFilter(TASKS_COLUMN, self.datamodel),
                   HasOpenTaskFilter(TASKS_COLUMN, self.datamodel)]
        self._filters._search_filters[TASKS_COLUMN] = filters
        self._filters._all_filters[TASKS_COLUMN] = filters

    def _init_forms(self):
        super()._init_forms()
        self.edit_form = readonly_aware_form(self.edit_form, self.datamodel.obj)

    def _export_value(self, item, column):
        if column in ("custom_display", "custom_list"):
            return "; ".join(f"{label}: {text}" for label, text in
                             custom_lines(item, compact=column == "custom_list"))
        if column == TASKS_COLUMN:
            mark = item.has_open_task
            return "" if mark is None else ("Есть" if mark else "Нет задач")
        return super()._export_value(item, column)


TASKS_SEARCH_FIELD = HiddenField("Задачи")


def register_views(appbuilder):
    register(appbuilder, PipelineView, "Воронки", "Настройки", icon="fa-filter",
             api=PipelineApi, category_icon="fa-cogs")
    register(appbuilder, StageView, "Этапы воронок", "Настройки", icon="fa-list-ol",
             api=StageApi, menu=False)
    register(appbuilder, CustomFieldDefView, "Поля воронок", "Настройки", icon="fa-list",
             api=CustomFieldDefApi, menu=False)


__all__ = ["PipelineView", "StageView", "CustomFieldDefView", "reference_select",
           "pipeline_select", "stage_select", "custom_field", "optional_text",
           "CustomFieldsField", "PipelineRecordInterface", "format_custom_value",
           "custom_input_row", "parse_custom_value", "OTHER",
           "custom_markup", "readonly_keys",
           "PipelineRecordViewMixin", "TASKS_COLUMN", "TASKS_SEARCH_FIELD", "tasks_mark"]
