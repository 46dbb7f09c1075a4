"""Screens and REST APIs of pipelines, stages and custom fields, and the pieces every
pipeline record screen (leads, deals) shares: stage and reference selects, the custom
fields input, the "Задачи" column and its filter."""
from __future__ import annotations

import json
import logging

from flask import request
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import (BS3TextAreaFieldWidget, BS3TextFieldWidget,
                                           Select2Widget)
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup
from sqlalchemy import func, or_, select
from wtforms import BooleanField, Field, HiddenField, SelectField, StringField, TextAreaField

from app.extensions import db
from errors import CrmError
from models.pipeline import (FIELD_TYPE_LABELS, PIPELINE_ENTITY_LABELS, STAGE_KIND_LABELS,
                             CustomFieldDef, Pipeline, Stage)
from models.reference import choice_query
from models.task import open_task_exists
from views.base import CrmModelRestApi, CrmModelView, register

PIPELINE_LABELS = {
    "code": "Код", "name": "Название", "entity": "Раздел", "entity_label": "Раздел",
    "active": "Активна", "sort_order": "Порядок", "stages": "Этапы", "fields": "Поля",
}
STAGE_LABELS = {
    "pipeline": "Воронка", "key": "Ключ", "name": "Название", "kind": "Тип",
    "kind_label": "Тип", "color": "Цвет", "deadline": "Срок на этапе", "sort_order": "Порядок",
}
FIELD_LABELS = {
    "pipeline": "Воронка", "key": "Ключ", "label": "Подпись", "type": "Тип",
    "type_label": "Тип", "reference_list": "Справочник (код)",
    "allow_other": "Разрешить своё значение", "required": "Обязательное",
    "sort_order": "Порядок",
}


def _select(label, choices):
    return SelectField(label, choices=list(choices.items()))


class InUseError(CrmError):
    http_status = 409


def _records_on(column, value) -> int:
    """How many leads and deals hold `value` in `column` ("pipeline_id" or "stage_id")."""
    from models.deal import Deal
    from models.lead import Lead

    return sum(db.session.scalar(select(func.count()).select_from(m)
                                 .where(getattr(m, column) == value)) or 0
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
    """The values of a pipeline's custom fields, typed as a JSON object."""

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


def custom_field():
    return JsonObjectField("Дополнительные поля",
                           description="Значения полей воронки: {\"ключ\": значение}")


def optional_text(label: str, area: bool = True):
    """A text input that stores an empty entry as NULL (FAB's own would store "")."""
    cls = TextAreaField if area else StringField
    widget = BS3TextAreaFieldWidget() if area else BS3TextFieldWidget()
    return cls(label, widget=widget, filters=[lambda v: (v or "").strip() or None])


class _TaskPresenceFilter(BaseFilter):
    has_tasks = False

    def apply(self, query, value):
        cond = open_task_exists(self.model.__entity__, self.model.id)
        return query.filter(cond if self.has_tasks else ~cond)


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
    return "Есть" if value else NO_TASKS


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

    def _export_value(self, item, column):
        if column == TASKS_COLUMN:
            return "Есть" if item.has_open_task else "Нет задач"
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
           "PipelineRecordViewMixin", "TASKS_COLUMN", "TASKS_SEARCH_FIELD", "tasks_mark"]
