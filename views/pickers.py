"""Relation pickers that search on the server.

A select over a large table (companies, contacts, deals, orders, events, users...) renders
only the option it holds; typing asks the screen's picker endpoint for the first matches
(Select2 over AJAX, app/static/crm/pickers.js). Forms and list filters of every generated
screen get them for such relations (`wire_pickers`), so no page lists a whole table, and a
submitted id is looked up under the same filters the choices came from: an id the user may
not pick reads as not found."""
from __future__ import annotations

import re

from flask import jsonify, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from markupsafe import Markup, escape
from sqlalchemy import String, cast, or_
from sqlalchemy import inspect as sa_inspect
from wtforms.validators import DataRequired, Optional, StopValidation

from app.extensions import db
from models.deal import Deal
from models.event import Event
from models.lead import Lead
from models.order import Order
from models.party import Company, Contact
from models.product import Product
from models.user import CrmUser

MATCHES = 20
NOT_FOUND = "Запись не найдена или недоступна"
PLACEHOLDER = "Начните вводить для поиска…"

# What a picker matches typed text against, and the order of its matches, per model.
SEARCHED = {
    Company: ((Company.name, Company.inn), (Company.name, Company.id)),
    Contact: ((Contact.last_name, Contact.first_name, Contact.phone, Contact.email),
              (Contact.last_name, Contact.first_name, Contact.id)),
    CrmUser: ((CrmUser.last_name, CrmUser.first_name, CrmUser.username),
              (CrmUser.last_name, CrmUser.first_name, CrmUser.id)),
    Deal: ((Deal.title,), (Deal.id.desc(),)),
    Lead: ((Lead.title, Lead.company_name), (Lead.id.desc(),)),
    Order: ((Order.number,), (Order.id.desc(),)),
    Event: ((Event.subject, cast(Event.number, String)), (Event.id.desc(),)),
    Product: ((Product.name, Product.sku), (Product.name, Product.id)),
}


def label_of(obj) -> str:
    """A match as the picker shows it. Names repeat: a company comes with its INN, a person
    with the position."""
    if isinstance(obj, Company) and obj.inn:
        return f"{obj.name}, ИНН {obj.inn}"
    if isinstance(obj, CrmUser) and obj.position:
        return f"{obj} ({obj.position})"
    return str(obj)


def _pk(raw):
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 2 ** 63 else None


def base_query(model, rel_filters):
    """The rows a picker may offer: FAB filter specs as a form's query_rel_fields give them."""
    query = db.session.query(model)
    if rel_filters:
        filters = SQLAInterface(model).get_filters().add_filter_list(rel_filters)
        query = filters.apply_all(query)
    return query


def lookup(model, rel_filters, raw_ids) -> list:
    ids = {pk for pk in (_pk(raw) for raw in raw_ids) if pk is not None}
    if not ids:
        return []
    return base_query(model, rel_filters).filter(model.id.in_(ids)).all()


def search(model, rel_filters, term: str, limit: int = MATCHES) -> list:
    columns, order = SEARCHED[model]
    query = base_query(model, rel_filters)
    term = (term or "").strip()[:100]
    if term:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"
        query = query.filter(or_(*(c.ilike(pattern, escape="\\") for c in columns)))
    return query.order_by(*order).limit(limit).all()


# --- fields -----------------------------------------------------------------------------

class PickerWidget:
    """A select holding only the chosen options; pickers.js makes it search as you type."""

    def __init__(self, multiple: bool = False):
        self.multiple = multiple

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        attrs = {"name": field.name, "class": "form-control crm-picker",
                 "data-picker-url": field.picker_url(), "data-placeholder": PLACEHOLDER,
                 **kwargs}
        if self.multiple:
            attrs["multiple"] = True
        html = [f"<select {_attrs(attrs)}>"]
        if not self.multiple:
            html.append('<option value=""></option>')  # the placeholder, and «no value»
        for value, label, selected, *_ in field.iter_choices():
            if value == "__None":
                continue
            html.append(f'<option value="{escape(value)}"'
                        f'{" selected" if selected else ""}>{escape(label)}</option>')
        html.append("</select>")
        return Markup("".join(html))


def _attrs(attrs: dict) -> str:
    out = []
    for key, value in attrs.items():
        if value is True:
            out.append(escape(key))
        elif value not in (False, None):
            out.append(f'{escape(key)}="{escape(value)}"')
    return " ".join(out)


class _PickerMixin:
    """What the single and multiple pickers share: the related model, the filters its
    choices pass, and where the browser asks for matches."""

    def _setup(self, model, rel_filters, for_search: bool, get_label) -> None:
        self.model = model
        self.rel_filters = rel_filters
        self.for_search = for_search
        self.get_pk_func = lambda obj: obj.id
        self.get_label = get_label or label_of

    def picker_url(self) -> str:
        return picker_url(self.short_name, self.for_search)

    def _lookup(self, raw_ids) -> list:
        return [(str(obj.id), obj) for obj in lookup(self.model, self.rel_filters, raw_ids)]


class PickerField(_PickerMixin, QuerySelectField):
    """One related record; the choices are the held record alone, never the table."""

    widget = PickerWidget()

    def __init__(self, label=None, validators=None, model=None, rel_filters=None,
                 for_search=False, get_label=None, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("blank_text", "—")
        super().__init__(label, validators, **kwargs)
        self._setup(model, rel_filters, for_search, get_label)

    def _get_object_list(self):
        if self._object_list is None:
            if self._formdata not in (None, "", "__None"):
                self._object_list = self._lookup([self._formdata])
            elif self._data is not None:
                self._object_list = [(str(self._data.id), self._data)]
            elif self.for_search:
                self._object_list = self._lookup(_active_filter_values(self.short_name))
            else:
                self._object_list = []
        return self._object_list

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0] in ("", "__None"):
            self.data = None
            return
        super().process_formdata(valuelist)

    def pre_validate(self, form):
        asked = self._formdata
        if self.data is None and asked not in (None, "", "__None"):
            raise StopValidation(NOT_FOUND)


class PickerMultipleField(_PickerMixin, QuerySelectMultipleField):
    """Several related records (observers, contacts of a deal)."""

    widget = PickerWidget(multiple=True)

    def __init__(self, label=None, validators=None, model=None, rel_filters=None,
                 for_search=False, get_label=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self._setup(model, rel_filters, for_search, get_label)

    def _get_object_list(self):
        if self._object_list is None:
            if self._formdata is not None:
                self._object_list = self._lookup(self._formdata)
            else:
                self._object_list = [(str(obj.id), obj) for obj in self._data or []]
        return self._object_list

    def process_formdata(self, valuelist):
        super().process_formdata([v for v in valuelist if v not in ("", "__None")])

    def pre_validate(self, form):
        self._get_data()  # finds the asked ids, and notes the ones not found
        if self._invalid_formdata:
            raise StopValidation(NOT_FOUND)
        super().pre_validate(form)


def picker_url(name: str, for_search: bool = False) -> str:
    """Where a picker of the screen being shown asks for matches: the list's filter asks
    /picker, the add or edit form /form_picker."""
    endpoint = (request.endpoint or "").rsplit(".", 1)
    view = endpoint[0] if len(endpoint) == 2 else ""
    try:
        if for_search:
            return url_for(f"{view}.picker", name=name)
        form = "edit" if endpoint[-1] == "edit" else "add"
        return url_for(f"{view}.form_picker", name=name, form=form)
    except Exception:  # a form shown by a screen without pickers: no search
        return ""


def _active_filter_values(name: str) -> list[str]:
    """Ids the list is filtered by in `name` (`_flt_0_company=12`): the filter row shows
    them by name."""
    pattern = re.compile(rf"^_flt_\d+_{re.escape(name)}$")
    return [v for key in request.args if pattern.match(key) for v in request.args.getlist(key)]


# The custom fields of a pipeline that hold a person (one who still works here) or a contact
# (views/pipeline.py): no form field of their own, the same picker on every form.
CUSTOM_PICKERS = {"custom_user": (CrmUser, [["active", FilterEqual, True]]),
                  "custom_contact": (Contact, None)}


def held_option(model, raw) -> list[tuple[str, str]]:
    """The option a custom field's picker shows for the id it holds (or was sent)."""
    found = lookup(model, None, [raw]) if raw not in (None, "") else []
    return [(str(obj.id), label_of(obj)) for obj in found]


# --- wiring the generated screens ---------------------------------------------------------

def picked_model(view, column: str):
    """The related model of `column` if it is one a picker searches, else None."""
    rel = sa_inspect(view.datamodel.obj).relationships.get(column)
    if rel is None or rel.mapper.class_ not in SEARCHED:
        return None
    return rel.mapper.class_


def picker_for(view, column: str, rel_filters=None, for_search: bool = False, label=None):
    """The picker a generated form would get for relation `column` of the view's model."""
    model = picked_model(view, column)
    rel = sa_inspect(view.datamodel.obj).relationships[column]
    label = label or view.label_columns.get(column, column)
    description = (view.description_columns or {}).get(column, "")
    if rel.uselist:
        return PickerMultipleField(label, description=description, model=model,
                                   rel_filters=rel_filters, for_search=for_search)
    required = not for_search and not view.datamodel.is_nullable(column)
    checks = [DataRequired()] if required else [Optional()]
    checks += list((view.validators_columns or {}).get(column, []))
    return PickerField(label, checks, description=description, model=model,
                       rel_filters=rel_filters, for_search=for_search,
                       allow_blank=not required)


def _form_columns(view, kind: str) -> list[str]:
    fieldsets = getattr(view, f"{kind}_fieldsets", None)
    if fieldsets:
        return [f for _title, spec in fieldsets for f in spec["fields"]]
    columns = getattr(view, f"{kind}_columns", None)
    if columns:
        return list(columns)
    excluded = getattr(view, f"{kind}_exclude_columns", None) or []
    return [c for c in view.datamodel.get_user_columns_list() if c not in excluded]


def wire_pickers(view, visible_filters: dict) -> None:
    """Gives the view's forms and search form a picker for every relation over a searched
    model that the view does not define itself. Called before FAB builds the forms."""
    for kind in ("add", "edit"):
        extra = dict(getattr(view, f"{kind}_form_extra_fields") or {})
        rel_filters = getattr(view, f"{kind}_form_query_rel_fields") or {}
        for column in _form_columns(view, kind):
            if column not in extra and picked_model(view, column) is not None:
                extra[column] = picker_for(view, column, rel_filters.get(column))
        setattr(view, f"{kind}_form_extra_fields", extra)
    search_extra = dict(view.search_form_extra_fields or {})
    searched = view.search_columns or [
        c for c in view.datamodel.get_search_columns_list()
        if c not in (view.search_exclude_columns or [])]
    for column in searched:
        if column not in search_extra and picked_model(view, column) is not None:
            search_extra[column] = picker_for(view, column, visible_filters.get(column),
                                              for_search=True)
    view.search_form_extra_fields = search_extra


class PickerViewMixin:
    """The endpoints pickers ask: /picker/<name> for the list's filters (the read right),
    /form_picker/<name>?form=add|edit for the forms (the write right, the forms' filters)."""

    @expose("/picker/<name>")
    @has_access
    def picker(self, name):
        return self._matches(self.search_form, name)

    @expose("/form_picker/<name>")
    @has_access
    def form_picker(self, name):
        form = self.edit_form if request.args.get("form") == "edit" else self.add_form
        return self._matches(form, name)

    def _matches(self, form_class, name: str):
        get_label = label_of
        if name in CUSTOM_PICKERS and form_class is not self.search_form:
            model, rel_filters = CUSTOM_PICKERS[name]
        else:
            unbound = getattr(form_class, name, None) if name.isidentifier() else None
            field_class = getattr(unbound, "field_class", None)
            if not (isinstance(field_class, type) and issubclass(field_class, _PickerMixin)):
                return jsonify({"results": [], "message": "Поле не найдено"}), 404
            model, rel_filters = unbound.kwargs["model"], unbound.kwargs.get("rel_filters")
            get_label = unbound.kwargs.get("get_label") or label_of
        found = search(model, rel_filters, request.args.get("q", ""))
        return jsonify({"results": [{"id": str(obj.id), "text": get_label(obj)}
                                    for obj in found]})


__all__ = ["PickerField", "PickerMultipleField", "PickerViewMixin", "wire_pickers",
           "picker_for", "picker_url", "held_option", "lookup", "search", "SEARCHED",
           "CUSTOM_PICKERS"]
