"""Screens and REST APIs of customer orders (the 1C "Заказ покупателя") and their lines,
and the "Новые заказы" inbox of the execution department."""
from __future__ import annotations

from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import and_, or_, select
from wtforms import BooleanField, DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional, ValidationError

from app.extensions import db
from app.forms import LocalDateField, LocalDateTimeField
from app.scope import WRITE, can_see
from errors import CrmError, FieldErrors
from models.base import acting_user
from models.labels import ORDER_ITEM_LABELS, ORDER_LABELS
from models.order import (DRAFT_STATUSES, ORDER_STATUS_LABELS, Order, OrderItem, OrderStatus)
from models.party import Company, Contact
from models.user import CrmUser, Department
from app.access import VIEW_METHOD_RIGHTS
from views.base import CrmModelRestApi, CrmModelView, RowScopeFilter, register
from views.documents import DocumentBatchActionMixin
from views.listing import ListInterface
from views.pickers import PickerField
from views.reference import reference_field, reference_rel_filters

ITEM_LABELS = ORDER_ITEM_LABELS
ORDER_FORM_FIELDSETS = [
    ("Заказ", {"fields": ["date", "status", "company", "contact", "contract", "ship_date"]}),
    ("Исполнение", {"fields": ["responsible", "executor", "requires_approval"]}),
    ("Прочее", {"fields": ["source", "comment"]}),
]
ORDER_SHOW_FIELDSETS = [
    ("Заказ", {"fields": ["number", "date", "status_label", "company", "contact", "contract",
                          "ship_date", "total"]}),
    ("Исполнение", {"fields": ["responsible", "executor", "requires_approval"]}),
    ("Прочее", {"fields": ["source", "comment", "record_entity", "record_id", "created_by",
                           "created_at", "updated_at"]}),
]
# Orders are given to people who still work here.
ACTIVE_USERS = [["active", FilterEqual, True]]


# --- form fields -----------------------------------------------------------------------------

def _me():
    user = acting_user()
    return None if user is None else db.session.get(CrmUser, user.id)


class _OrderFormValues:
    """The order form seen as the record `Order.check_values` reads: fields from the form,
    and what only the database knows (the order's id, its lines, the source it holds).

    Kept although the base runs the model check on every form: the base's proxy hands the
    stored record's instance state to the check (its `_sa_instance_state` falls back to the
    record), so `_ref_id` reads the stored FK of a cleared company, responsible or source,
    and a new order has no `items` to check ("Укажите контрагента", "Для нового клиента
    укажите источник" and the lines rule would be missed on the form)."""

    def __init__(self, form):
        self._form = form
        self._pk = getattr(form, "_id", None)  # FAB sets it on an edit form before validate
        self._record = db.session.get(Order, self._pk) if self._pk is not None else None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "id":
            return self._pk
        if name == "items":
            return list(self._record.items) if self._record is not None else []
        if name == "held_source_id":
            return self._record.source_id if self._record is not None else None
        field = self._form._fields.get(name)
        return field.data if field is not None else None


def _order_check(form, field):
    """One model check per form, its message shown at each field it names."""
    errors = getattr(form, "_crm_order_errors", None)
    if errors is None:
        errors = Order.check_values(_OrderFormValues(form))
        form._crm_order_errors = errors
    if field.name in errors:
        raise ValidationError(errors[field.name])


def _order_fields() -> dict:
    check = [_order_check]
    return {
        "date": LocalDateTimeField("Дата", optional=True,
                                   description="Пусто — текущие дата и время"),
        "status": SelectField("Статус", choices=list(ORDER_STATUS_LABELS.items()),
                              default=OrderStatus.request.value, validators=check),
        "company": PickerField("Контрагент", check, model=Company),
        "contact": PickerField("Контактное лицо", model=Contact),
        "contract": StringField("Договор", validators=check,
                                description="Номер и дата, например: № 15/26 от 01.03.2026"),
        "ship_date": LocalDateField("Дата отгрузки", optional=True, validators=check),
        "responsible": PickerField("Ответственный менеджер", check, model=CrmUser,
                                   rel_filters=ACTIVE_USERS, default=_me),
        "executor": PickerField("Исполнитель", check, model=CrmUser, rel_filters=ACTIVE_USERS),
        "source": reference_field("lead_source", "Источник", model=Order, column="source_id",
                                  validators=check),
        "requires_approval": BooleanField("Требует согласования", default=False),
        "comment": TextAreaField("Комментарий"),
    }


# --- screens ---------------------------------------------------------------------------------

def _guard_line(item: OrderItem, deleting: bool = False) -> None:
    """A line belongs to an order the user may see; an order past "заявка" keeps a line."""
    order = item.order
    user = acting_user()
    with db.session.no_autoflush:  # the new line is not in the session yet
        visible = order is not None and can_see(order, user, WRITE)
    if not visible:
        raise FieldErrors({"order": "Заказ не найден или недоступен"})
    if deleting and order.status not in DRAFT_STATUSES:
        left = [i for i in order.items if i is not item]
        if not left:
            raise CrmError(f"Нельзя удалить последнюю позицию заказа в статусе "
                           f"«{order.status_label}»")


def _quantity_field():
    return DecimalField("Количество", default=1, places=3, render_kw={"step": "any"})


def _price_field():
    # Empty: the product's price is taken when the line is saved.
    return DecimalField("Цена", places=2, validators=[Optional()])


class OrderItemView(CrmModelView):
    datamodel = ListInterface(OrderItem, load=("product", "department", "responsible"))
    resource = "order"
    titles = ("Позиции заказов", "Позиция заказа", "Новая позиция заказа",
              "Изменение позиции заказа")
    label_columns = ITEM_LABELS
    list_columns = ["product", "name", "unit", "quantity", "price", "amount", "department",
                    "responsible", "grey_label"]
    show_columns = ["order", "product", "name", "unit", "quantity", "price", "amount",
                    "department", "responsible", "grey_label", "planned_cost", "planned_hours"]
    add_columns = ["order", "product", "name", "unit", "quantity", "price"]
    edit_columns = ["product", "name", "unit", "quantity", "price"]
    description_columns = {
        "name": "Пусто — из номенклатуры",
        "price": "Пусто или 0 — цена из номенклатуры",
    }
    add_form_extra_fields = {"quantity": _quantity_field(), "price": _price_field()}
    edit_form_extra_fields = {"quantity": _quantity_field(), "price": _price_field()}
    # New lines: active products only; orders the user may see only.
    add_form_query_rel_fields = {"product": [["active", FilterEqual, True]],
                            "order": [["id", RowScopeFilter, None]]}

    def _guard(self, item):
        """The line's own guard (its order visible to the user), then every check of the
        base screen: the version, the model's check, the process."""
        try:
            _guard_line(item)
        except CrmError:
            db.session.rollback()
            raise
        super()._guard(item)

    def pre_delete(self, item):
        _guard_line(item, deleting=True)


class OrderView(DocumentBatchActionMixin, CrmModelView):
    datamodel = ListInterface(Order, load=("company", "responsible", "executor"))
    resource = "order"
    titles = ("Заказы покупателей", "Заказ покупателя", "Новый заказ покупателя",
              "Изменение заказа покупателя")
    method_permission_name = {**VIEW_METHOD_RIGHTS,
                              **DocumentBatchActionMixin.batch_method_rights}
    label_columns = ORDER_LABELS
    list_columns = ["number", "date", "company", "total", "status_label", "ship_date",
                    "responsible", "executor"]
    search_columns = ["number", "company", "status", "responsible", "executor", "date",
                      "ship_date", "requires_approval", "source"]
    order_columns = ["number", "date", "ship_date", "total"]
    base_order = ("id", "desc")
    add_fieldsets = edit_fieldsets = ORDER_FORM_FIELDSETS
    show_fieldsets = ORDER_SHOW_FIELDSETS
    add_form_extra_fields = _order_fields()
    edit_form_extra_fields = _order_fields()
    related_views = [OrderItemView]


def new_order_executor_ids(user) -> set[int]:
    """Whose orders are "new orders" for `user`: their own, and those of every executor of
    the department they head (the head of execution sees the whole department's)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    ids = {user.id}
    headed = set(db.session.scalars(select(Department.id).where(Department.head_id == user.id)))
    roles = {r.name for r in user.roles}
    if "execution_head" in roles and user.department_id:
        headed.add(user.department_id)
    if headed:
        ids |= set(db.session.scalars(select(CrmUser.id)
                                      .where(CrmUser.department_id.in_(headed))))
    return ids


def ready_for_execution():
    """An order reaches execution when agreed, or when opened with no approval needed
    (seed, document №5: "статус «открыт», заполнено поле исполнитель")."""
    return or_(Order.status == OrderStatus.agreed.value,
               and_(Order.status == OrderStatus.open.value,
                    Order.requires_approval.is_(False)))


class NewOrdersFilter(BaseFilter):
    name = "Новые заказы"
    arg_name = "crm_new_orders"

    def apply(self, query, value):
        ids = new_order_executor_ids(acting_user())
        if not ids:
            return query.filter(False)
        return query.filter(ready_for_execution(), Order.executor_id.in_(ids))


class NewOrdersView(OrderView):
    titles = ("Новые заказы", "Заказ покупателя", "Новый заказ покупателя",
              "Изменение заказа покупателя")
    list_columns = ["number", "date", "company", "total", "status_label", "ship_date",
                    "executor", "responsible"]
    base_filters = [["id", NewOrdersFilter, None]]
    base_order = ("ship_date", "asc")


# --- REST APIs -------------------------------------------------------------------------------

ORDER_API_FIELDS = ["date", "contract", "ship_date", "status", "requires_approval", "comment",
                    "record_entity", "record_id"]


class OrderApi(CrmModelRestApi):
    resource_name = "order"
    resource = "order"
    datamodel = SQLAInterface(Order)
    list_columns = ["id", "number", "date", "company.id", "company.name", "contract",
                    "ship_date", "status", "total", "responsible.id", "executor.id",
                    "source.id", "requires_approval"]
    show_columns = ["id", "number", *ORDER_API_FIELDS, "total", "company.id", "company.name",
                    "contact.id", "responsible.id", "executor.id", "source.id", "source.label",
                    "created_by.id", "rule_key", "transition_id", "created_at", "updated_at"]
    add_columns = edit_columns = [*ORDER_API_FIELDS, "company", "contact", "responsible",
                                  "executor", "source"]
    actor_defaults = ("responsible",)
    order_columns = ["id", "number", "date", "ship_date", "total", "status"]
    search_columns = ["number", "status", "company", "responsible", "executor"]
    base_order = ("id", "desc")
    # What /_info offers for a new order's source: active "lead_source" items only.
    add_query_rel_fields = {"source": reference_rel_filters("lead_source")}
    edit_query_rel_fields = {"source": reference_rel_filters("lead_source", new=False)}


class OrderItemApi(CrmModelRestApi):
    resource_name = "order_item"
    resource = "order"
    datamodel = SQLAInterface(OrderItem)
    list_columns = ["id", "order.id", "product.id", "name", "unit", "quantity", "price",
                    "amount", "department.id", "responsible.id", "is_grey"]
    show_columns = ["id", "order.id", "order.number", "product.id", "name", "unit", "quantity",
                    "price", "amount", "department.id", "responsible.id", "is_grey",
                    "planned_cost", "planned_hours", "created_at", "updated_at"]
    add_columns = ["order", "product", "name", "unit", "quantity", "price"]
    edit_columns = ["product", "name", "unit", "quantity", "price"]
    search_columns = ["order", "product"]

    def pre_add(self, item):
        super().pre_add(item)
        _guard_line(item)

    def pre_update(self, item):
        super().pre_update(item)
        _guard_line(item)

    def pre_delete(self, item):
        _guard_line(item, deleting=True)


def register_views(appbuilder):
    register(appbuilder, OrderView, "Заказы покупателей", "Продажи", icon="fa-file-text-o",
             api=OrderApi, category_icon="fa-shopping-cart")
    register(appbuilder, NewOrdersView, "Новые заказы", "Продажи", icon="fa-inbox")
    register(appbuilder, OrderItemView, "Позиции заказов", "Продажи", menu=False,
             api=OrderItemApi)
