"""Screens and REST API of employees' requests («Заявки сотрудников»): заявка на оплату,
согласование документов, заявления на больничный, отпуск и отгул. Each kind is a process
(its own pipeline); the row rule is the request's own (models/office_request.py)."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from models import labels as domain_labels
from models.office_request import OfficeRequest
from views.base import CrmModelRestApi, CrmModelView, register
from views.pipeline import (TASKS_COLUMN, TASKS_SEARCH_FIELD, HasOpenTaskFilter,
                            NoOpenTaskFilter, PipelineRecordInterface,
                            PipelineRecordViewMixin, custom_field, pipeline_select,
                            stage_select, tasks_mark)

REQUEST_LABELS = {**domain_labels.REQUEST_LABELS, TASKS_COLUMN: "Задачи"}
FORM_COLUMNS = ["title", "pipeline", "stage", "responsible", "amount", "date_from", "date_to",
                "custom"]


def _form_extras():
    return {"pipeline": pipeline_select("Вид заявки", OfficeRequest),
            "stage": stage_select("Этап", OfficeRequest),
            "custom": custom_field(OfficeRequest)}


class OfficeRequestView(PipelineRecordViewMixin, CrmModelView):
    datamodel = PipelineRecordInterface(OfficeRequest,
                                        load=("stage", "pipeline", "responsible"))
    resource = "request"
    titles = ("Заявки сотрудников", "Заявка", "Новая заявка", "Изменение заявки")
    label_columns = REQUEST_LABELS
    list_columns = ["title", "pipeline", "stage", "responsible", "amount", "date_from",
                    "date_to", "created_at"]
    search_columns = ["title", "pipeline", "stage", "responsible", "department", "date_from",
                      "date_to", "created_at", TASKS_COLUMN]
    search_form_extra_fields = {TASKS_COLUMN: TASKS_SEARCH_FIELD}
    add_columns = edit_columns = FORM_COLUMNS
    show_fieldsets = [
        ("Заявка", {"fields": ["title", "pipeline", "stage", "stage_entered_at",
                               "responsible", "department", "created_by"]}),
        ("Суть", {"fields": ["amount", "date_from", "date_to", "custom_display"]}),
        ("Дополнительно", {"fields": ["created_at", "updated_at"]}),
    ]
    order_columns = ["title", "created_at", "date_from"]
    base_order = ("created_at", "desc")
    formatters_columns = {TASKS_COLUMN: tasks_mark}
    add_form_extra_fields = _form_extras()
    edit_form_extra_fields = _form_extras()
    description_columns = {
        "responsible": "Если не указан, заявка ваша",
        "pipeline": "Заявка на оплату, согласование документа, больничный, отпуск или отгул",
        "amount": "Для заявки на оплату", "date_from": "Для больничного, отпуска, отгула"}


class OfficeRequestApi(CrmModelRestApi):
    resource_name = "request"
    resource = "request"
    datamodel = SQLAInterface(OfficeRequest)
    list_columns = ["id", "title", "pipeline.id", "pipeline.name", "stage.id", "stage.name",
                    "responsible.id", "department.id", "amount", "date_from", "date_to",
                    "created_at"]
    show_columns = ["id", "title", "pipeline.id", "pipeline.name", "stage.id", "stage.name",
                    "stage_entered_at", "responsible.id", "department.id", "amount",
                    "date_from", "date_to", "custom", "created_by.id", "created_at",
                    "updated_at"]
    add_columns = edit_columns = ["title", "pipeline", "stage", "responsible", "amount",
                                  "date_from", "date_to", "custom"]
    search_columns = ["title", "pipeline", "stage", "responsible", "date_from", "date_to",
                      "id"]
    search_filters = {"id": [NoOpenTaskFilter, HasOpenTaskFilter]}


def register_views(appbuilder):
    register(appbuilder, OfficeRequestView, "Заявки сотрудников", "Сотрудники",
             icon="fa-file-text-o", api=OfficeRequestApi)
