"""Screens and REST API of products (nomenclature)."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import BooleanField, SelectField
from wtforms.validators import ValidationError

from app.extensions import db
from errors import FieldErrors
from models.labels import PRODUCT_LABELS
from models.product import VAT_RATES, Product, sku_taken
from views.base import CrmModelRestApi, CrmModelView, register

PRODUCT_FIELDSETS = [
    ("Номенклатура", {"fields": ["name", "sku", "unit", "price", "vat_rate", "active"]}),
    ("Исполнение", {"fields": ["department", "responsible", "is_grey"]}),
    ("Плановая себестоимость и время", {"fields": ["planned_cost", "planned_hours"]}),
    ("Прочее", {"fields": ["description"]}),
]
PRODUCT_COLUMNS = ["name", "sku", "unit", "price", "vat_rate", "is_grey", "planned_cost",
                   "planned_hours", "active", "description"]


def _sku_unique(form, field):
    message = sku_taken(db.session, field.data, getattr(form, "_id", None))
    if message:
        raise ValidationError(message)


def _vat_field():
    return SelectField("Ставка НДС", choices=list(VAT_RATES.items()), default="20")


def _grey_field():
    return BooleanField("Учёт: серый", default=False,
                        description="Отмечено — «серый» учёт, не отмечено — «белый»; "
                                    "переносится в позиции заказов и сделок")


class ProductView(CrmModelView):
    datamodel = SQLAInterface(Product)
    resource = "product"
    titles = ("Номенклатура", "Номенклатура", "Новая номенклатура", "Изменение номенклатуры")
    label_columns = PRODUCT_LABELS
    list_columns = ["name", "sku", "unit", "price", "vat_label", "department", "responsible",
                    "grey_label", "active"]
    search_columns = ["name", "sku", "department", "responsible", "is_grey", "active"]
    order_columns = ["name", "sku", "price"]
    base_order = ("name", "asc")
    add_fieldsets = edit_fieldsets = PRODUCT_FIELDSETS
    show_fieldsets = [(title, {"fields": [{"vat_rate": "vat_label", "is_grey": "grey_label"}
                                          .get(f, f) for f in spec["fields"]]})
                      for title, spec in PRODUCT_FIELDSETS]
    # Checkboxes the base would give without a description and unticked.
    add_form_extra_fields = {"vat_rate": _vat_field(), "is_grey": _grey_field(),
                             "active": BooleanField("Активна", default=True)}
    edit_form_extra_fields = {"vat_rate": _vat_field(), "is_grey": _grey_field(),
                              "active": BooleanField("Активна", default=True)}
    validators_columns = {"sku": [_sku_unique]}


class ProductApi(CrmModelRestApi):
    resource_name = "product"
    resource = "product"
    datamodel = SQLAInterface(Product)
    list_columns = ["id", "name", "sku", "unit", "price", "vat_rate", "is_grey", "active",
                    "department.id", "department.name", "responsible.id"]
    show_columns = ["id", *PRODUCT_COLUMNS, "department.id", "department.name",
                    "responsible.id", "created_at", "updated_at"]
    add_columns = edit_columns = [*PRODUCT_COLUMNS, "department", "responsible"]
    order_columns = ["id", "name", "sku", "price"]

    def pre_add(self, item):
        super().pre_add(item)
        self._sku(item)

    def pre_update(self, item):
        super().pre_update(item)
        self._sku(item)

    @staticmethod
    def _sku(item):
        message = sku_taken(db.session, item.sku, item.id)
        if message:
            raise FieldErrors({"sku": message})


def register_views(appbuilder):
    register(appbuilder, ProductView, "Номенклатура", "Справочники", icon="fa-cubes",
             api=ProductApi, category_icon="fa-book")
