"""Screens and REST API of leads."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms.validators import Length

from models.lead import Lead
from models import labels as domain_labels
from views.base import CrmModelRestApi, CrmModelView, register
from views.pipeline import (TASKS_COLUMN, TASKS_SEARCH_FIELD, HasOpenTaskFilter,
                            NoOpenTaskFilter, PipelineRecordInterface,
                            PipelineRecordViewMixin, custom_field,
                            optional_text, pipeline_select, reference_select, stage_select,
                            tasks_mark)

# The domain's labels plus the list's own computed column.
LEAD_LABELS = {**domain_labels.LEAD_LABELS, TASKS_COLUMN: "Задачи"}
LEAD_FORM_COLUMNS = ["title", "pipeline", "stage", "source", "responsible", "observers",
                     "company_name", "company_full_name", "inn", "contact_name", "phone",
                     "email", "client_activity",
                     "activity_other", "quality_reason", "quality_comment", "company",
                     "contact", "custom"]


def _form_extras():
    return {
        "pipeline": pipeline_select("Воронка", Lead),
        "stage": stage_select("Этап", Lead),
        "source": reference_select("Источник", "lead_source", Lead, "source"),
        "client_activity": reference_select("Вид деятельности", "client_activity", Lead,
                                            "client_activity"),
        "quality_reason": reference_select("Причина некачественного лида",
                                           "lead_quality_reason", Lead, "quality_reason"),
        "custom": custom_field(Lead),
        "activity_other": optional_text("Вид деятельности (другое)", area=False),
        "quality_comment": optional_text("Комментарий к причине"),
        "company_full_name": _limited_text("Полное наименование", 500),
        "inn": _limited_text("ИНН", 12),
    }


def _limited_text(label: str, length: int):
    """Stripped, empty as NULL, and no longer than the column (PostgreSQL refuses more)."""
    field = optional_text(label, area=False)
    field.kwargs["validators"] = [Length(max=length, message=f"Не длиннее {length} символов")]
    return field


class LeadView(PipelineRecordViewMixin, CrmModelView):
    datamodel = PipelineRecordInterface(Lead, load=("stage", "source", "responsible"))
    resource = "lead"
    titles = ("Лиды", "Лид", "Новый лид", "Изменение лида")
    label_columns = LEAD_LABELS
    list_columns = ["title", "stage", "source", "company_name", "phone", "responsible",
                    TASKS_COLUMN, "created_at"]
    search_columns = ["title", "pipeline", "stage", "source", "responsible", "company_name",
                      "inn", "contact_name", "phone", "email", "created_at", TASKS_COLUMN]
    search_form_extra_fields = {TASKS_COLUMN: TASKS_SEARCH_FIELD}
    add_columns = edit_columns = LEAD_FORM_COLUMNS
    show_fieldsets = [
        ("Лид", {"fields": ["title", "pipeline", "stage", "stage_entered_at", "source",
                            "responsible", "observers"]}),
        ("Клиент", {"fields": ["company_name", "company_full_name", "inn", "contact_name",
                               "phone", "email",
                               "client_activity", "activity_other"]}),
        ("Качество", {"fields": ["quality_reason", "quality_comment"]}),
        ("Результат", {"fields": ["company", "contact", "converted_at"]}),
        ("Дополнительно", {"fields": ["custom_display", "created_at", "updated_at"]}),
    ]
    order_columns = ["title", "created_at", "company_name"]
    base_order = ("created_at", "desc")
    formatters_columns = {TASKS_COLUMN: tasks_mark}
    add_form_extra_fields = _form_extras()
    edit_form_extra_fields = _form_extras()
    description_columns = {"responsible": "Если не указан, ответственным станете вы",
                           "inn": "10 цифр для организации, 12 — для ИП; по ИНН конвертация "
                                  "находит уже существующего контрагента"}


class LeadApi(CrmModelRestApi):
    resource_name = "lead"
    resource = "lead"
    datamodel = SQLAInterface(Lead)
    list_columns = ["id", "title", "pipeline.id", "stage.id", "stage.name", "source.id",
                    "responsible.id", "company_name", "company_full_name", "inn",
                    "contact_name", "phone", "email", "company.id", "contact.id",
                    "converted_at", "created_at"]
    show_columns = ["id", "title", "pipeline.id", "pipeline.name", "stage.id", "stage.name",
                    "stage_entered_at", "source.id", "source.label", "responsible.id",
                    "observers.id", "company_name", "company_full_name", "inn",
                    "contact_name", "phone", "email",
                    "company.id", "contact.id", "client_activity.id", "activity_other",
                    "quality_reason.id", "quality_comment", "custom", "converted_at",
                    "created_at", "updated_at"]
    add_columns = edit_columns = ["title", "pipeline", "stage", "source", "responsible",
                                  "observers", "company_name", "company_full_name", "inn",
                                  "contact_name", "phone", "email", "company", "contact",
                                  "client_activity",
                                  "activity_other", "quality_reason", "quality_comment",
                                  "custom"]
    search_columns = ["title", "pipeline", "stage", "responsible", "company_name", "inn",
                      "phone", "email", "id"]
    search_filters = {"id": [NoOpenTaskFilter, HasOpenTaskFilter]}


def register_views(appbuilder):
    register(appbuilder, LeadView, "Лиды", "Продажи", icon="fa-bullseye", api=LeadApi,
             category_icon="fa-handshake-o")
