"""Screens and REST APIs of counterparties and contacts."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import SelectField

from models.labels import COMPANY_LABELS, CONTACT_LABELS
from models.party import COMPANY_KIND_LABELS, Company, Contact
from views.base import CrmModelRestApi, CrmModelView, register
from views.listing import ListInterface

COMPANY_FIELDSETS = [
    ("Контрагент", {"fields": ["kind", "name", "full_name", "responsible", "phone", "email",
                               "website"]}),
    ("Реквизиты", {"fields": ["inn", "kpp", "ogrn", "ogrnip", "legal_address",
                              "postal_address"]}),
    ("Банк", {"fields": ["bank_name", "bik", "settlement_account", "correspondent_account"]}),
    ("Физическое лицо", {"fields": ["passport_series", "passport_number", "address"]}),
    ("Прочее", {"fields": ["note"]}),
]
COMPANY_COLUMNS = ["kind", "name", "full_name", "inn", "kpp", "ogrn", "ogrnip",
                   "legal_address", "postal_address", "bank_name", "bik", "settlement_account",
                   "correspondent_account", "passport_series", "passport_number", "address",
                   "phone", "email", "website", "note"]


def _kind_field():
    return SelectField("Вид", choices=list(COMPANY_KIND_LABELS.items()))


class CompanyView(CrmModelView):
    datamodel = ListInterface(Company, load=("responsible",))
    resource = "company"
    titles = ("Контрагенты", "Контрагент", "Новый контрагент", "Изменение контрагента")
    label_columns = COMPANY_LABELS
    list_columns = ["name", "kind_label", "inn", "phone", "email", "responsible"]
    search_columns = ["name", "full_name", "inn", "kind", "phone", "email", "responsible"]
    add_fieldsets = edit_fieldsets = COMPANY_FIELDSETS
    show_fieldsets = [(title, {"fields": [("kind_label" if f == "kind" else f)
                                          for f in spec["fields"]]})
                      for title, spec in COMPANY_FIELDSETS]
    add_form_extra_fields = {"kind": _kind_field()}
    edit_form_extra_fields = {"kind": _kind_field()}
    order_columns = ["name", "inn"]


class ContactView(CrmModelView):
    datamodel = ListInterface(Contact, load=("company",))
    resource = "contact"
    titles = ("Контакты", "Контакт", "Новый контакт", "Изменение контакта")
    label_columns = CONTACT_LABELS
    list_columns = ["full_name", "company", "position", "phone", "email", "decision_maker"]
    search_columns = ["last_name", "first_name", "company", "phone", "email",
                      "decision_maker"]
    add_columns = edit_columns = ["last_name", "first_name", "middle_name", "company",
                                  "position", "phone", "phone_extra", "email", "email_extra",
                                  "decision_maker", "note"]
    show_columns = ["full_name", "company", "position", "phone", "phone_extra", "email",
                    "email_extra", "decision_maker", "note", "created_at"]
    order_columns = ["last_name", "company"]


class CompanyApi(CrmModelRestApi):
    resource_name = "company"
    resource = "company"
    datamodel = SQLAInterface(Company)
    list_columns = ["id", "kind", "name", "inn", "phone", "email", "responsible.id"]
    show_columns = ["id", *COMPANY_COLUMNS, "responsible.id", "created_at", "updated_at"]
    add_columns = edit_columns = [*COMPANY_COLUMNS, "responsible"]


class ContactApi(CrmModelRestApi):
    resource_name = "contact"
    resource = "contact"
    datamodel = SQLAInterface(Contact)
    _cols = ["last_name", "first_name", "middle_name", "position", "phone", "phone_extra",
             "email", "email_extra", "decision_maker", "note"]
    list_columns = ["id", "last_name", "first_name", "middle_name", "company.id",
                    "company.name", "phone", "email", "decision_maker"]
    show_columns = ["id", *_cols, "company.id", "company.name", "created_at", "updated_at"]
    add_columns = edit_columns = [*_cols, "company"]


def register_views(appbuilder):
    register(appbuilder, CompanyView, "Контрагенты", "Клиенты", icon="fa-building",
             api=CompanyApi, category_icon="fa-users")
    register(appbuilder, ContactView, "Контакты", "Клиенты", icon="fa-address-book",
             api=ContactApi)
