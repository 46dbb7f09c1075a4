"""Base classes of every generated screen and REST API: Russian titles and labels, rights
from the access table, row scope, optimistic locking, model checks and typed errors."""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import math
import re
from decimal import Decimal

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access, protect
from flask_appbuilder.urltools import get_filter_args, get_order_args
from sqlalchemy import Boolean, Date, DateTime, Numeric
from flask_appbuilder.exceptions import InvalidOperationFilterFABException
from flask_appbuilder.hooks import before_request
from flask_appbuilder.models.filters import FilterRelation
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from marshmallow_sqlalchemy.fields import Related, RelatedList
from sqlalchemy import Integer
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import StatementError
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField

from app.access import API_METHOD_RIGHTS, VIEW_METHOD_RIGHTS
from app.extensions import db
from app.formatting import display, format_date, format_datetime, format_money
from app.forms import (DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS, LocalDateField,
                       LocalDateTimeField, VersionField, checked_form)
from app.scope import READ, can_see, may_change_stage, request_mode, scope_query
from errors import CrmError, FieldErrors, StaleRecord
from models.base import RecordLinkMixin, acting_user, current_actor_id
from models.labels import COMMON_LABELS  # for every entity; a view adds or overrides its own
from models.registry import entity_label, get_record
from models.user import CrmUser
from process.service import route_stage_change, transition
from process.snapshot import is_process_record
from process.trash import MOVED, is_trashable, move_to_bin
from views.errors import MAX_ID, PAGES, refuse_with, refusing_database_errors
from views.pickers import PickerViewMixin, wire_pickers


# A cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def csv_cell(value) -> str:
    """One exported cell. Numbers (money included) are plain numbers with a decimal comma
    and no grouping, which Russian Excel, the reader of a `;`-separated file, sums; text
    that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _csv_number(value)
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


# Formatters for the screen that would turn a number into text an export cannot sum.
_NUMBER_FORMATTERS = (display, format_money)


def _csv_number(value) -> str:
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    return format(number, "f").replace(".", ",")


def is_money(column) -> bool:
    return bool(getattr(column, "info", {}).get("money"))


class RowScopeFilter(BaseFilter):
    """Applies the row rule of app/scope.py to lists, record pages, edits, deletes and the API."""

    name = "Доступные записи"
    arg_name = "crm_scope"

    def apply(self, query, value):
        return scope_query(query, self.datamodel.obj, acting_user(), request_mode())


class VisibleRecordFilter(BaseFilter):
    """The records a relation picker offers: those the user may see, whatever the screen."""

    name = "Видимые записи"
    arg_name = "crm_visible"

    def apply(self, query, value):
        return scope_query(query, self.datamodel.obj, acting_user(), READ)


def _visible_related_filters(model) -> dict:
    """A relation field of a form lists (and so accepts) only records the user may see."""
    return {rel.key: [["id", VisibleRecordFilter, None]]
            for rel in sa_inspect(model).relationships
            if hasattr(rel.mapper.class_, "scope_clause")}


def _row_scope_filters(model):
    return [["id", RowScopeFilter, lambda: None]] if hasattr(model, "scope_clause") else []


def check_model(item) -> None:
    """Runs the model's own checks (`check()` returns {field: message}) before a save,
    after the sizes of its number columns."""
    errors = number_range_errors(item)
    if errors:  # before the model's checks, which compare numbers (NaN cannot be compared)
        raise FieldErrors(errors)
    checker = getattr(item, "check", None)
    errors = checker() if checker else {}
    if errors:
        raise FieldErrors(errors)


def _finite(value) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()
    return not isinstance(value, float) or math.isfinite(value)


def number_range_errors(item) -> dict[str, str]:
    """{field: message} for numbers the column cannot hold: PostgreSQL refuses them at the
    write (a 500 before), SQLite would store them. INTEGER is 32 bits; NUMERIC(p, s) holds
    fewer than 10^(p-s)."""
    errors = {}
    for column in sa_inspect(type(item)).columns:
        if column.primary_key or column.foreign_keys:
            continue
        value = getattr(item, column.key, None)
        if value is None or isinstance(value, bool):
            continue
        if not _finite(value):
            errors[column.key] = "Ожидается число (NaN и бесконечность не допускаются)"
            continue
        if isinstance(column.type, Numeric) and column.type.precision:
            limit = 10 ** (column.type.precision - (column.type.scale or 0))
        elif isinstance(column.type, Integer):
            limit = MAX_ID + 1
        else:
            continue
        try:
            too_big = abs(value) >= limit
        except TypeError:
            continue  # not a number: the model's own check names it
        if too_big:
            errors[column.key] = f"Слишком большое число: по модулю меньше {limit:,}" \
                .replace(",", "\u00a0")
    return errors


def check_version(item) -> None:
    """The version the client saw must be the one in the database."""
    if not hasattr(item, "version") or sa_inspect(item).transient:
        return
    history = sa_inspect(item).attrs.version.history
    if history.added and history.deleted and history.added[0] != history.deleted[0]:
        raise StaleRecord()


def check_record_link(item) -> None:
    """A task's or event's link to a record (`record_entity`, `record_id`): a rule's task
    keeps the record the rule gave it; a link a person sets points only at a record they
    may change; a record not found and one not theirs to see get the same answer."""
    if not isinstance(item, RecordLinkMixin):
        return
    state = sa_inspect(item)
    new = state.transient or state.pending
    if not new and not any(state.attrs[name].history.has_changes()
                           for name in ("record_entity", "record_id")):
        return
    if not new and getattr(item, "rule_key", None):
        raise FieldErrors({"record_id": "Задача поставлена процессом записи: привязать её "
                                        "к другой записи нельзя"})
    if not item.record_entity or item.record_id is None:
        return
    user = acting_user()
    record = get_record(item.record_entity, item.record_id)
    if record is None or not can_see(record, user, READ):
        raise FieldErrors({"record_id": f"Запись «{entity_label(item.record_entity)}» "
                                        f"№ {item.record_id} не найдена"})
    if not may_change_stage(record, user):
        raise FieldErrors({"record_id": "Привязать можно только к записи, которую вы "
                                        "можете изменять"})


class _RefusingWrites:
    """Mixed into the interface of every screen: a save the database refuses after the
    checks (a concurrent save of the same record, a duplicate value, a link to a row deleted
    meanwhile) raises its typed refusal, with the Russian message FAB then flashes."""

    def add(self, item, commit=True):
        with refusing_database_errors():
            return super().add(item, commit)

    def edit(self, item, commit=True):
        try:
            with refusing_database_errors():
                return super().edit(item, commit)
        except CrmError as refusal:
            # FAB's edit flashes `database_error_message`, not the exception: see below.
            g.crm_save_refusal = refusal
            g.crm_refused_pk = item.id
            raise

    def delete(self, item, commit=True):
        with refusing_database_errors():
            return super().delete(item, commit)


_REFUSING_INTERFACES: dict[type, type] = {}


def refusing_writes(datamodel):
    """A copy of a view's interface whose writes raise typed refusals (`_RefusingWrites`);
    each view class keeps its own interface class (PipelineRecordInterface...)."""
    cls = type(datamodel)
    if isinstance(datamodel, _RefusingWrites):
        return datamodel
    if cls not in _REFUSING_INTERFACES:
        _REFUSING_INTERFACES[cls] = type(f"Refusing{cls.__name__}", (_RefusingWrites, cls), {})
    typed = copy.copy(datamodel)
    typed.__class__ = _REFUSING_INTERFACES[cls]
    return typed


class ManagedActionsMixin:
    """Screens whose row actions need the `can_manage` right (outbox, recycle bin). FAB's
    own action endpoints answer an unknown action or a non-numeric id with a 500, and the
    single one also answers GET: these accept only POST and refuse in Russian."""

    unknown_action_message = "Нет такого действия или записи"

    def may_manage(self) -> bool:
        return bool(self.appbuilder.sm.has_access("can_manage", self.resource))

    def _back_to_list(self, message: str):
        flash(message, "danger")
        return redirect(url_for(f"{self.endpoint}.list"))

    def _denied(self):
        return self._back_to_list("Недостаточно прав для этого действия.")

    @expose("/action/<string:name>/<pk>", methods=["POST"])
    def action(self, name, pk):
        if not self.may_manage():
            return self._denied()
        if name not in self.actions or not (str(pk).isascii() and str(pk).isdigit()):
            return self._back_to_list(self.unknown_action_message)
        return super().action(name, int(pk))

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action", "")
        pks = request.form.getlist("rowid")
        if not self.may_manage():
            return self._denied()
        if name not in self.actions or not all(p.isascii() and p.isdigit() for p in pks):
            return self._back_to_list(self.unknown_action_message)
        return super().action_post()


class CrmModelView(PickerViewMixin, ModelView):
    """A generated CRUD screen. Subclasses set `datamodel`, columns and `titles`."""

    resource: str = ""
    titles: tuple[str, str, str, str] = ("", "", "", "")  # list, show, add, edit
    method_permission_name = VIEW_METHOD_RIGHTS
    page_size = 25
    # The record page: FAB's fields, then the record's history and files (views/timeline.py).
    show_template = "crm/show.html"
    list_template = "crm/list.html"

    def __init__(self, **kwargs):
        model = self.datamodel.obj
        self.class_permission_name = self.resource
        # crm/show.html needs the entity key to find the record's history and files.
        self.extra_args = {**(self.extra_args or {}),
                           "crm_entity": getattr(model, "__entity__", ""),
                           "crm_view": type(self).__name__}
        self.list_title, self.show_title, self.add_title, self.edit_title = self.titles
        self.datamodel = refusing_writes(self.datamodel)
        self.base_filters = list(self.base_filters or []) + _row_scope_filters(model)
        visible = _visible_related_filters(model)
        self.add_form_query_rel_fields = {**visible, **(self.add_form_query_rel_fields or {})}
        self.edit_form_query_rel_fields = {**visible,
                                           **(self.edit_form_query_rel_fields or {})}
        self.label_columns = {**COMMON_LABELS, **(self.label_columns or {})}
        self.formatters_columns = {**self._auto_formatters(model),
                                   **(self.formatters_columns or {})}
        self._wire_forms(model)
        # Relations over large tables search on the server instead of listing the table.
        wire_pickers(self, visible)
        super().__init__(**kwargs)

    # --- construction -------------------------------------------------------------------
    @staticmethod
    def _auto_formatters(model) -> dict:
        # Everything else through `display`: FAB would print None, True and False.
        mapper = sa_inspect(model)
        out = {rel.key: display for rel in mapper.relationships}
        for column in mapper.columns:
            if isinstance(column.type, DateTime):
                out[column.key] = format_datetime
            elif isinstance(column.type, Date):
                out[column.key] = format_date
            elif isinstance(column.type, Numeric) and is_money(column):
                out[column.key] = format_money
            else:
                out[column.key] = display
        return out

    def _wire_forms(self, model) -> None:
        """Local-time date inputs, unticked flags that can be saved, the hidden version."""
        add_extra = dict(self.add_form_extra_fields or {})
        edit_extra = dict(self.edit_form_extra_fields or {})
        for column in sa_inspect(model).columns:
            key = column.key
            label = self.label_columns.get(key, key)
            if isinstance(column.type, (DateTime, Date)):
                field_cls = LocalDateTimeField if isinstance(column.type, DateTime) \
                    else LocalDateField
                for extra in (add_extra, edit_extra):
                    extra.setdefault(key, field_cls(label, optional=column.nullable))
            elif isinstance(column.type, Boolean):
                # FAB makes a NOT NULL flag required: unticked could never be saved.
                for extra in (add_extra, edit_extra):
                    extra.setdefault(key, BooleanField(label, default=False))
        if hasattr(model, "version"):
            edit_extra["version"] = VersionField()
            if self.edit_fieldsets:
                first_title, first_spec = self.edit_fieldsets[0]
                if "version" not in first_spec["fields"]:
                    self.edit_fieldsets = [(first_title, {**first_spec, "fields": [
                        *first_spec["fields"], "version"]}), *self.edit_fieldsets[1:]]
            elif self.edit_columns and "version" not in self.edit_columns:
                self.edit_columns = list(self.edit_columns) + ["version"]
        self.add_form_extra_fields = add_extra
        self.edit_form_extra_fields = edit_extra

    def _init_forms(self):
        super()._init_forms()
        model = self.datamodel.obj
        if hasattr(model, "check_values"):
            self.add_form = checked_form(self.add_form, model)
            self.edit_form = checked_form(self.edit_form, model)

    def _add(self):
        # FAB fills the record field by field; a lazy load in between would autoflush half
        # of the input (and bump the version) before the checks and the stale check run.
        with db.session.no_autoflush:
            return super()._add()

    def _edit(self, pk):
        with db.session.no_autoflush:
            return super()._edit(pk)

    @property
    def database_error_message(self):
        """What FAB flashes when the save of an edit fails in the database: the refusal of
        this request (another user saved the record first...), else the generic message."""
        refusal = g.pop("crm_save_refusal", None)
        return refusal.message if refusal is not None else lazy_gettext("Database Error")

    # --- list arguments ---------------------------------------------------------------
    @before_request
    def _refuse_broken_list_args(self):
        """FAB reads page, size, order and filter arguments of every list on the page as
        they come: a word for a page, an unknown column to order by or a filter index beyond
        the column's filters were a 500. They are refused here with a Russian 400."""
        problem = list_args_problem({type(v).__name__: v for v in
                                     [self, *getattr(self, "_related_views", [])]}, self)
        return refuse_with(400, problem) if problem else None

    # --- hooks ------------------------------------------------------------------------
    def pre_add(self, item):
        self._guard(item)

    def pre_update(self, item):
        self._guard(item)

    def _guard(self, item) -> None:
        try:
            with refusing_database_errors():
                check_version(item)
                check_model(item)
                check_record_link(item)
                route_stage_change(item, source="form")
        except CrmError:
            g.crm_refused_pk = item.id
            # populate_obj already changed the object: forget it before FAB flashes.
            db.session.rollback()
            raise

    def post_add(self, item):
        super().post_add(item)
        g.crm_added_pk = item.id

    def post_add_redirect(self):
        # Open the new record, as Bitrix24 and amoCRM do, not the page visited before.
        pk = g.pop("crm_added_pk", None)
        if pk is not None and "can_read" in self.base_permissions:
            return redirect(url_for(f"{self.endpoint}.show", pk=pk))
        return super().post_add_redirect()

    def post_edit_redirect(self):
        # A refused save returns to its form (the message is flashed there), not elsewhere.
        pk = g.pop("crm_refused_pk", None)
        if pk is not None:
            return redirect(url_for(f"{self.endpoint}.edit", pk=pk))
        return super().post_edit_redirect()

    def _delete(self, pk):
        """A business record goes to the recycle bin with its tasks and files
        (process/trash.py), found through the same row rule (WRITE) as before."""
        if not is_trashable(self.datamodel.obj):
            return super()._delete(pk)
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        try:
            self.pre_delete(item)
            move_to_bin(item, current_actor_id())
            db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            self.post_delete(item)
            flash(MOVED, "success")
        self.update_redirect()

    # --- export -----------------------------------------------------------------------
    @expose("/export/")
    @has_access
    def export(self):
        """CSV of the current list (same filters and row rules as the screen)."""
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        order = get_order_args().get(self.__class__.__name__)
        order_column, order_direction = order if order else ("", "")
        joined = self._base_filters.get_joined_filters(self._filters)
        _count, items = self.datamodel.query(joined, order_column, order_direction)
        columns = list(self.list_columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow([str(self.label_columns.get(c, c)) for c in columns])
        for item in items:
            writer.writerow([self._export_value(item, c) for c in columns])
        body = "\ufeff" + buffer.getvalue()  # BOM: Excel opens UTF-8 Cyrillic correctly
        filename = f"{self.resource or 'export'}.csv"
        return Response(body, mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={filename}"})

    def _export_value(self, item, column):
        value = item
        for part in column.split("."):
            value = getattr(value, part, None) if value is not None else None
        formatter = self.formatters_columns.get(column)
        if formatter in _NUMBER_FORMATTERS and isinstance(value, (int, float, Decimal)) \
                and not isinstance(value, bool):
            formatter = None  # a number stays a number: «1 073 782,00 ₽» cannot be summed
        if formatter and value is not None:
            value = formatter(value)
        return csv_cell(value)


MAX_SCREEN_PAGE_SIZE = 1000
_LIST_ARG = re.compile(r"^(page|psize|_oc|_od)_(.+)$")
_FILTER_ARG = re.compile(r"^_flt_(\d)_(.+)$")


def list_args_problem(views: dict, main) -> str | None:
    """The Russian reason the list arguments of a screen request cannot be used, or None.
    `views`: the screens of the page by class name (the main one and its related lists)."""
    for name, value in request.args.items():
        match = _LIST_ARG.match(name)
        if match:
            problem = _list_arg_problem(match.group(1), views.get(match.group(2)), value)
            if problem:
                return problem
    for name in request.args:
        match = _FILTER_ARG.match(name)
        if match:
            problem = _filter_problem(main, int(match.group(1)), match.group(2),
                                      request.args.getlist(name))
            if problem:
                return problem
    return None


def _list_arg_problem(kind: str, view, value: str) -> str | None:
    if kind in ("page", "psize"):
        top = MAX_PAGE_ARG if kind == "page" else MAX_SCREEN_PAGE_SIZE
        low = 0 if kind == "page" else 1
        if not re.fullmatch(r"-?[0-9]{1,9}", value.strip()) or not low <= int(value) <= top:
            what = "Номер страницы" if kind == "page" else "Размер страницы"
            return f"{what}: ожидается число от {low} до {top}"
    elif kind == "_od" and value not in ("asc", "desc"):
        return "Направление сортировки: asc или desc"
    elif kind == "_oc" and view is not None and value not in (view.order_columns or []):
        return f"Нельзя сортировать по полю «{value}»"
    return None


def _filter_problem(view, index: int, column: str, values: list[str]) -> str | None:
    filters = getattr(view, "_filters", None)
    known = getattr(filters, "_all_filters", {}) if filters is not None else {}
    if column not in known:
        return None  # FAB ignores a filter of a column it does not know
    if index >= len(known[column]):
        label = (getattr(view, "label_columns", None) or {}).get(column, column)
        return f"Фильтр № {index} для поля «{label}» не существует"
    model = view.datamodel.obj
    mapper = sa_inspect(model)
    flt = known[column][index]
    for value in values:
        if isinstance(flt, FilterRelation) or column in mapper.relationships:
            ok = value == "" or (re.fullmatch(r"[0-9]{1,10}", value.strip()) is not None
                                 and int(value) <= MAX_ID)
        elif column in mapper.columns:
            ok = _fits_column(mapper.columns[column].type, value.strip())
        else:
            ok = True
        if not ok:
            label = (getattr(view, "label_columns", None) or {}).get(column, column)
            return f"Неверное значение фильтра по полю «{label}»: «{value[:50]}»"
    return None


def _fits_column(kind, value: str) -> bool:
    if value == "" or isinstance(kind, Boolean):
        return True
    if isinstance(kind, (Integer, Numeric)):
        try:
            number = Decimal(value.replace(",", ".").replace(" ", ""))
        except ArithmeticError:
            return False
        return number.is_finite() and abs(number) < 10 ** 15
    if isinstance(kind, (Date, DateTime)):
        formats = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", *DATETIME_INPUT_FORMATS,
                   *DATE_INPUT_FORMATS)
        for fmt in formats:
            try:
                dt.datetime.strptime(value, fmt)
                return True
            except ValueError:
                continue
        return False
    return True


class CrmModelRestApi(ModelRestApi):
    """A REST API: explicit columns, rights from the access table, the same checks as forms."""

    resource: str = ""
    method_permission_name = API_METHOD_RIGHTS
    allow_browser_login = True
    # Relations the add form fills with the signed-in user: a POST that leaves them out gets
    # the same, so a record made with a token is the one the form would have made.
    actor_defaults: tuple[str, ...] = ()

    def __init__(self, **kwargs):
        model = self.datamodel.obj
        self.class_permission_name = self.resource
        self.base_filters = list(self.base_filters or []) + _row_scope_filters(model)
        for attr in ("list_columns", "show_columns", "add_columns", "edit_columns"):
            if not getattr(self, attr):
                raise TypeError(f"{type(self).__name__}.{attr} must be listed explicitly")
        if hasattr(model, "version"):
            for attr in ("list_columns", "show_columns", "edit_columns"):
                cols = getattr(self, attr)
                if "version" not in cols:
                    setattr(self, attr, list(cols) + ["version"])
        super().__init__(**kwargs)

    def pre_add(self, item):
        self._refuse_unknown_related(item)
        self._default_to_actor(item)
        check_model(item)
        check_record_link(item)
        route_stage_change(item, source="api")

    def pre_update(self, item):
        self._refuse_unknown_related(item)
        check_version(item)
        check_model(item)
        check_record_link(item)
        route_stage_change(item, source="api")

    def _default_to_actor(self, item) -> None:
        user = acting_user()
        body = request.get_json(silent=True)
        if user is None or not isinstance(body, dict):
            return
        for name in self.actor_defaults:
            # An explicit null is the blank choice of the form ("—"): it stays empty.
            if name not in body and getattr(item, name, None) is None:
                setattr(item, name, db.session.get(CrmUser, user.id))

    def _refuse_unknown_related(self, item) -> None:
        """marshmallow-sqlalchemy builds a new empty object for an id it cannot find
        ("company": 999); without this the INSERT fails with a 500."""
        writable = set(self.add_columns) | set(self.edit_columns)
        errors = {}
        state = sa_inspect(item)
        for rel in sa_inspect(type(item)).relationships:
            if rel.key not in writable:
                continue
            if state.persistent:  # what the request changed; a kept link stays as it is
                values = state.attrs[rel.key].history.added or ()
            else:
                value = getattr(item, rel.key, None)
                values = value if rel.uselist else [value]
            # "Not found" whether it does not exist or is not the user's to see: ids
            # cannot be probed.
            missing = [obj for obj in values or () if obj is not None and (
                not sa_inspect(obj).persistent or not can_see(obj, acting_user(), READ))]
            if missing:
                errors[rel.key] = f"Запись № {getattr(missing[0], 'id', '')} не найдена"
        if errors:
            raise FieldErrors(errors)

    @expose("/move", methods=["POST"])
    @protect()
    def move(self):
        """Bulk move: {"ids": [...], "stage": "<stage key>"}. Each record goes through the
        transition service on its own (row rules, required fields, effects) and is saved or
        refused on its own; the answer lists what happened to each."""
        body = request.get_json(silent=True) or {}
        ids, stage = body.get("ids"), body.get("stage")
        if not is_process_record(self.datamodel.obj()):
            return self.response(404, message="У этих записей нет этапов")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids) \
                or not isinstance(stage, str) or not stage:
            return self.response(422, message={"ids": ["Укажите список номеров записей"],
                                               "stage": ["Укажите ключ этапа"]})
        results = []
        for pk in ids:
            item = self.datamodel.get(pk, self._base_filters)
            if item is None:
                results.append({"id": pk, "ok": False, "message": "Запись не найдена"})
                continue
            if not may_change_stage(item, acting_user()):
                results.append({"id": pk, "ok": False,
                                "message": "Недостаточно прав, чтобы перевести запись"})
                continue
            try:
                with refusing_database_errors(), db.session.no_autoflush:
                    transition(item, stage, source="bulk")
                    db.session.commit()
                results.append({"id": pk, "ok": True, "message": "Перемещено"})
            except CrmError as exc:
                db.session.rollback()
                results.append({"id": pk, "ok": False, "message": exc.message})
        return self.response(200, result=results,
                             moved=sum(r["ok"] for r in results),
                             refused=sum(not r["ok"] for r in results))

    def _crm_error(self, exc: CrmError):
        db.session.rollback()
        if isinstance(exc, FieldErrors):
            return self.response(exc.http_status,
                                 message={k: [v] for k, v in exc.errors.items()})
        return self.response(exc.http_status, message=exc.message)

    # --- reading a request ------------------------------------------------------------
    def _item(self, pk):
        """The record `pk` names within the row rules, or None: a path that is no number
        (PUT and DELETE take any text) or one beyond an INTEGER key names no record."""
        try:
            number = int(pk)
        except (TypeError, ValueError):
            return None
        if abs(number) > MAX_ID:
            return None
        return self.datamodel.get(number, self._base_filters)

    def _json_object(self):
        """(body, None) for a JSON object, or (None, the 400/413 answer refusing it)."""
        if not request.is_json:
            return None, self.response_400(message="Request is not JSON")
        try:
            body = request.get_json(silent=True)
        except RequestEntityTooLarge:
            return None, self.response(413, message=PAGES[413][1])
        if not isinstance(body, dict):
            return None, self.response_400(message=NOT_AN_OBJECT)
        return body, None

    # --- writes: FAB's flow with a schema per request and typed refusals ---------------
    def post_headless(self):
        body, refused = self._json_object()
        if refused is not None:
            return refused
        schema = fresh_schema(self.add_model_schema)
        wrong_ids = related_id_errors(schema, body)
        if wrong_ids:
            return self.response_422(message=wrong_ids)
        try:
            # No autoflush while the body is loaded attribute by attribute: the checks see
            # the whole input and nothing half-written reaches the database. The checks
            # read and lock rows too (the least busy manager): a concurrent save can meet
            # them there as well as at the write.
            with refusing_database_errors():
                with db.session.no_autoflush:
                    item = schema.load(body)
                    self.pre_add(item)
                self.datamodel.add(item)
        except ValidationError as err:
            db.session.rollback()
            return self.response_422(message=err.messages)
        except CrmError as exc:
            return self._crm_error(exc)
        self.post_add(item)
        return self.response(201, result=schema.dump(item),
                             id=self.datamodel.get_pk_value(item))

    def put_headless(self, pk):
        item = self._item(pk)
        body, refused = self._json_object()
        if refused is not None:
            return refused
        if item is None:
            return self.response_404()
        if hasattr(self.datamodel.obj, "version") and "version" not in body:
            return self.response(422, message={"version": [
                "Укажите version: номер версии записи, которую вы изменяете"]})
        schema = fresh_schema(self.edit_model_schema)
        wrong_ids = related_id_errors(schema, body)
        if wrong_ids:
            return self.response_422(message=wrong_ids)
        try:
            with refusing_database_errors():
                with db.session.no_autoflush:
                    # A PUT changes what it names; the rest keeps its stored values.
                    item = schema.load({**schema.dump(item), **body}, instance=item)
                    self.pre_update(item)
                self.datamodel.edit(item)
        except ValidationError as err:
            db.session.rollback()
            return self.response_422(message=err.messages)
        except CrmError as exc:
            return self._crm_error(exc)
        self.post_update(item)
        return self.response(200, result=schema.dump(item))

    def _move_to_bin(self, pk):
        """DELETE of a business record: to the recycle bin, same answer as a delete."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        self.pre_delete(item)
        move_to_bin(item, current_actor_id())
        db.session.commit()
        self.post_delete(item)
        return self.response(200, message="OK")

    def delete_headless(self, pk):
        item = self._item(pk)
        if item is None:
            return self.response_404()
        try:
            if is_trashable(self.datamodel.obj):
                return self._move_to_bin(pk)
            with refusing_database_errors():
                self.pre_delete(item)
                self.datamodel.delete(item)
        except CrmError as exc:
            return self._crm_error(exc)
        self.post_delete(item)
        return self.response(200, message="OK")

    # --- reads --------------------------------------------------------------------------
    def get_headless(self, pk, **kwargs):
        if self._item(pk) is None:
            return self.response_404()
        return super().get_headless(pk, **kwargs)

    def _handle_filters_args(self, rison_args):
        # FAB fills the one Filters object of the API class: two lists at once would each
        # apply the other's filters. Each request fills a copy.
        filters = copy.copy(self._filters)
        filters.clear_filters()
        requested = rison_args.get("filters", [])
        filters.rest_add_filters(requested)
        if len(filters.filters) != len(requested):
            # FAB skips an operation a column does not have instead of refusing it.
            raise InvalidOperationFilterFABException(UNKNOWN_FILTER)
        for spec in requested:
            if isinstance(spec.get("value"), list) and spec.get("opr") not in LIST_FILTERS:
                raise InvalidOperationFilterFABException(
                    f"Фильтр «{spec.get('opr')}» по полю «{spec.get('col')}» принимает одно "
                    "значение, не список")
        return filters.get_joined_filters(self._base_filters)

    def get_list_headless(self, **kwargs):
        args = kwargs.get("rison") or {}
        for key in ("page", "page_size"):
            value = args.get(key)
            if value is not None and not 0 <= value <= MAX_PAGE_ARG:
                return self.response_400(message=f"Параметр {key}: ожидается число от 0 "
                                                 f"до {MAX_PAGE_ARG}")
        if not args.get("filters"):
            return super().get_list_headless(**kwargs)
        try:
            return super().get_list_headless(**kwargs)
        except (TypeError, ValueError, StatementError):
            # A filter value of the wrong kind (a number where text is compared, a word
            # where a number is): the query cannot be built or run with it.
            db.session.rollback()
            return self.response_400(message=BAD_FILTER_VALUE)


def fresh_schema(schema):
    """A schema object of this request's own. marshmallow-sqlalchemy keeps the record being
    loaded on the schema object (`schema.instance`) and FAB builds one per API class: two
    saves at once could load into each other's record or, once the other had reset it,
    into a new row — an INSERT carrying an edit, answered 200."""
    return type(schema)()


def related_id_errors(schema, body: dict) -> dict[str, list[str]]:
    """{field: [message]} for a relation given anything but a record number (a list of them
    for a list): marshmallow-sqlalchemy would build a new record of an object's keys (a
    TypeError, 500) or look a text up as a number (an error of PostgreSQL)."""
    errors = {}
    for name, value in body.items():
        field = schema.fields.get(name)
        if isinstance(field, RelatedList):
            if not isinstance(value, list) or not all(_is_id(v) for v in value):
                errors[name] = [IDS_EXPECTED]
        elif isinstance(field, Related) and value is not None and not _is_id(value):
            errors[name] = [ID_EXPECTED]
    return errors


def _is_id(value) -> bool:
    """A number a primary key can hold; 0 and negative ones name no record, which the
    relation check says (`_refuse_unknown_related`)."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID


UNKNOWN_FILTER = ("Неизвестная операция фильтра: операции каждого поля перечислены в "
                  "filters ответа _info")
LIST_FILTERS = ("in", "not_in")
BAD_FILTER_VALUE = ("Неверное значение фильтра: для текстовых полей — текст, для чисел и "
                    "номеров записей — число, для дат — дата ГГГГ-ММ-ДД")
ID_EXPECTED = "Ожидается номер записи (целое число до 2\u00a0147\u00a0483\u00a0647) или null"
IDS_EXPECTED = "Ожидается список номеров записей (целых чисел)"
NOT_AN_OBJECT = "Тело запроса должно быть объектом JSON: {\"поле\": значение, ...}"
# Pages beyond this are empty anyway; the database cannot take an offset past 64 bits.
MAX_PAGE_ARG = 1_000_000


def register(appbuilder, view, name: str, category: str, icon: str = "fa-folder-open-o",
             api=None, category_icon: str = "fa-folder", menu: bool = True):
    """Adds a screen (and its API) and remembers which resource its menu item shows, so the
    seed can give each role the menus of what it can read."""
    if menu:
        appbuilder.add_view(view, name, icon=icon, category=category,
                            category_icon=category_icon)
    else:
        appbuilder.add_view_no_menu(view)
    MENU_RESOURCES.setdefault(name, view.resource)
    MENU_CATEGORIES.setdefault(category, set()).add(name)
    if api is not None:
        appbuilder.add_api(api)


MENU_RESOURCES: dict[str, str] = {}
MENU_CATEGORIES: dict[str, set[str]] = {}


__all__ = ["CrmModelView", "CrmModelRestApi", "register", "COMMON_LABELS"]
