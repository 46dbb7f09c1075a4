"""Screens and REST APIs of deals, their line items and payment schedule."""
from __future__ import annotations

from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.extensions import db
from app.scope import WRITE, can_see
from errors import CrmError, FieldErrors
from models.base import acting_user
from models.deal import Deal, DealItem, PaymentScheduleEntry
from models import labels as domain_labels
from models.labels import DEAL_ITEM_LABELS, PAYMENT_LABELS
from app.access import VIEW_METHOD_RIGHTS
from views.base import CrmModelRestApi, CrmModelView, RowScopeFilter, register
from views.documents import DocumentBatchActionMixin
from views.listing import ListInterface
from views.pipeline import (TASKS_COLUMN, TASKS_SEARCH_FIELD, HasOpenTaskFilter,
                            NoOpenTaskFilter, PipelineRecordInterface,
                            PipelineRecordViewMixin, custom_field,
                            optional_text, pipeline_select, reference_select, stage_select,
                            tasks_mark)

# The domain's labels plus the list's own computed column.
DEAL_LABELS = {**domain_labels.DEAL_LABELS, TASKS_COLUMN: "Задачи"}
ITEM_LABELS = DEAL_ITEM_LABELS
DEAL_FORM_COLUMNS = ["title", "pipeline", "stage", "company", "contacts", "budget_manual",
                     "budget", "responsible", "observers", "source", "lost_reason",
                     "lost_comment", "custom"]
# Deals a user may attach items and payments to: the same row rule as the deal list.
SCOPED_DEALS = {"deal": [["id", RowScopeFilter, lambda: None]]}


def _deal_extras():
    return {
        "pipeline": pipeline_select("Воронка", Deal),
        "stage": stage_select("Этап", Deal),
        "source": reference_select("Источник", "lead_source", Deal, "source"),
        "lost_reason": reference_select("Причина проигрыша", "lost_reason", Deal,
                                        "lost_reason"),
        "custom": custom_field(Deal),
        "lost_comment": optional_text("Комментарий к причине проигрыша"),
    }




class DealNotVisible(FieldErrors):
    def __init__(self):
        super().__init__({"deal": "Сделка не найдена или недоступна"})


def _guard_deal_visible(item) -> None:
    """Items and payments belong to a deal the user may see (the API takes any deal id)."""
    if item.deal is not None and not can_see(item.deal, acting_user(), WRITE):
        raise DealNotVisible()


class _DealChildView(CrmModelView):
    add_form_query_rel_fields = SCOPED_DEALS
    edit_form_query_rel_fields = SCOPED_DEALS

    def _guard(self, item) -> None:
        super()._guard(item)
        try:
            _guard_deal_visible(item)
        except CrmError:
            db.session.rollback()
            raise


class DealItemView(_DealChildView):
    datamodel = ListInterface(DealItem, load=("product", "department", "responsible"))
    resource = "deal"
    titles = ("Позиции сделок", "Позиция сделки", "Новая позиция", "Изменение позиции")
    label_columns = ITEM_LABELS
    list_columns = ["name", "product", "quantity", "unit", "price", "amount", "department",
                    "responsible", "grey_label"]
    show_columns = ["deal", "product", "name", "unit", "quantity", "price", "amount",
                    "department", "responsible", "grey_label"]
    add_columns = edit_columns = ["deal", "product", "name", "unit", "quantity", "price"]
    search_columns = ["deal", "product", "name", "department", "responsible", "is_grey"]
    order_columns = ["name", "amount"]
    add_form_extra_fields = {"name": optional_text("Наименование", area=False)}
    edit_form_extra_fields = {"name": optional_text("Наименование", area=False)}
    # The product is a picker that searches (views/pickers.py); new lines: active products.
    add_form_query_rel_fields = {**SCOPED_DEALS, "product": [["active", FilterEqual, True]]}
    description_columns = {
        "product": "Отдел, исполнитель и признак «серый/белый» берутся из номенклатуры",
        "name": "Если пусто, берётся из номенклатуры",
        "price": "Если пусто, берётся цена номенклатуры",
    }


class PaymentScheduleView(_DealChildView):
    datamodel = SQLAInterface(PaymentScheduleEntry)
    resource = "deal"
    titles = ("График платежей", "Платёж по графику", "Новый платёж", "Изменение платежа")
    label_columns = PAYMENT_LABELS
    list_columns = ["planned_date", "percent", "amount", "paid_date", "note"]
    show_columns = ["deal", "percent", "amount", "planned_date", "paid_date", "note"]
    add_columns = edit_columns = ["deal", "percent", "amount", "planned_date", "paid_date",
                                  "note"]
    search_columns = ["deal", "planned_date", "paid_date"]
    order_columns = ["planned_date", "amount"]
    base_order = ("planned_date", "asc")
    description_columns = {"amount": "Если пусто, считается от бюджета сделки по проценту"}


class DealView(DocumentBatchActionMixin, PipelineRecordViewMixin, CrmModelView):
    datamodel = PipelineRecordInterface(Deal, load=("stage", "company", "responsible",
                                                    "pipeline.fields"))
    resource = "deal"
    titles = ("Сделки", "Сделка", "Новая сделка", "Изменение сделки")
    method_permission_name = {**VIEW_METHOD_RIGHTS, **DocumentBatchActionMixin.batch_method_rights}
    label_columns = DEAL_LABELS
    list_columns = ["title", "stage", "budget", "company", "responsible", "custom_list",
                    TASKS_COLUMN, "created_at"]
    search_columns = ["title", "pipeline", "stage", "company", "responsible", "source",
                      "budget", "created_at", "closed_at", TASKS_COLUMN]
    search_form_extra_fields = {TASKS_COLUMN: TASKS_SEARCH_FIELD}
    add_columns = edit_columns = DEAL_FORM_COLUMNS
    show_fieldsets = [
        ("Сделка", {"fields": ["title", "pipeline", "stage", "stage_entered_at", "budget",
                               "budget_manual", "responsible", "observers"]}),
        ("Клиент", {"fields": ["company", "contacts", "source", "lead"]}),
        ("Итог", {"fields": ["closed_at", "lost_reason", "lost_comment"]}),
        ("Дополнительно", {"fields": ["custom_display", "created_at", "updated_at"]}),
    ]
    order_columns = ["title", "budget", "created_at"]
    base_order = ("created_at", "desc")
    formatters_columns = {TASKS_COLUMN: tasks_mark}
    related_views = [DealItemView, PaymentScheduleView]
    show_template = "crm/show_cascade.html"
    edit_template = "appbuilder/general/model/edit_cascade.html"
    add_form_extra_fields = _deal_extras()
    edit_form_extra_fields = _deal_extras()
    description_columns = {
        "budget": "Без флажка «вручную» бюджет равен сумме позиций",
        "responsible": "Если не указан, ответственным станете вы",
    }


class DealApi(CrmModelRestApi):
    resource_name = "deal"
    resource = "deal"
    datamodel = SQLAInterface(Deal)
    list_columns = ["id", "title", "pipeline.id", "stage.id", "stage.name", "budget",
                    "budget_manual", "responsible.id", "company.id", "company.name",
                    "source.id", "closed_at", "created_at"]
    show_columns = ["id", "title", "pipeline.id", "pipeline.name", "stage.id", "stage.name",
                    "stage_entered_at", "budget", "budget_manual", "responsible.id",
                    "observers.id", "source.id", "company.id", "company.name", "contacts.id",
                    "custom", "lost_reason.id", "lost_comment", "closed_at", "lead.id",
                    "created_at", "updated_at"]
    add_columns = edit_columns = ["title", "pipeline", "stage", "budget", "budget_manual",
                                  "responsible", "observers", "source", "company", "contacts",
                                  "custom", "lost_reason", "lost_comment", "lead"]
    search_columns = ["title", "pipeline", "stage", "responsible", "company", "budget", "id"]
    search_filters = {"id": [NoOpenTaskFilter, HasOpenTaskFilter]}


class _DealChildApi(CrmModelRestApi):
    def pre_add(self, item):
        super().pre_add(item)
        _guard_deal_visible(item)

    def pre_update(self, item):
        super().pre_update(item)
        _guard_deal_visible(item)


class DealItemApi(_DealChildApi):
    resource_name = "deal_item"
    resource = "deal"
    datamodel = SQLAInterface(DealItem)
    list_columns = ["id", "deal.id", "product.id", "name", "unit", "quantity", "price",
                    "amount", "department.id", "responsible.id", "is_grey"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = edit_columns = ["deal", "product", "name", "unit", "quantity", "price"]


class PaymentScheduleApi(_DealChildApi):
    resource_name = "payment_schedule"
    resource = "deal"
    datamodel = SQLAInterface(PaymentScheduleEntry)
    list_columns = ["id", "deal.id", "percent", "amount", "planned_date", "paid_date", "note"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = edit_columns = ["deal", "percent", "amount", "planned_date", "paid_date",
                                  "note"]


def register_views(appbuilder):
    register(appbuilder, DealView, "Сделки", "Продажи", icon="fa-handshake-o", api=DealApi,
             category_icon="fa-handshake-o")
    register(appbuilder, DealItemView, "Позиции сделок", "Продажи", api=DealItemApi,
             menu=False)
    register(appbuilder, PaymentScheduleView, "График платежей", "Продажи",
             api=PaymentScheduleApi, menu=False)
