"""Base classes of every generated screen and REST API: Russian titles and labels, rights
from the access table, row scope, optimistic locking, model checks and typed errors."""
from __future__ import annotations

import csv
import io

from flask import Response, g, redirect, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access, protect
from flask_appbuilder.urltools import get_filter_args, get_order_args
from sqlalchemy import Boolean, Date, DateTime, Numeric
from sqlalchemy import inspect as sa_inspect
from wtforms import BooleanField

from app.access import API_METHOD_RIGHTS, VIEW_METHOD_RIGHTS
from app.extensions import db
from app.formatting import display, format_date, format_datetime, format_money
from app.forms import LocalDateField, LocalDateTimeField, VersionField, checked_form
from app.scope import READ, can_see, may_change_stage, request_mode, scope_query
from errors import CrmError, FieldErrors, StaleRecord
from models.base import RecordLinkMixin, acting_user
from models.labels import COMMON_LABELS  # for every entity; a view adds or overrides its own
from models.registry import entity_label, get_record
from models.user import CrmUser
from process.service import route_stage_change, transition
from process.snapshot import is_process_record
from views.pickers import PickerViewMixin, wire_pickers


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
    """Runs the model's own checks (`check()` returns {field: message}) before a save."""
    checker = getattr(item, "check", None)
    errors = checker() if checker else {}
    if errors:
        raise FieldErrors(errors)


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

    # --- hooks ------------------------------------------------------------------------
    def pre_add(self, item):
        self._guard(item)

    def pre_update(self, item):
        self._guard(item)

    def _guard(self, item) -> None:
        try:
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
        if formatter and value is not None:
            return formatter(value)
        return "" if value is None else str(value)


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
                with db.session.no_autoflush:
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

    def post_headless(self):
        # No autoflush while the body is loaded attribute by attribute: the checks see the
        # whole input and nothing half-written reaches the database.
        try:
            with db.session.no_autoflush:
                return super().post_headless()
        except CrmError as exc:
            return self._crm_error(exc)

    def put_headless(self, pk):
        model = self.datamodel.obj
        if hasattr(model, "version") and request.is_json and \
                "version" not in (request.json or {}):
            return self.response(422, message={"version": [
                "Укажите version: номер версии записи, которую вы изменяете"]})
        try:
            with db.session.no_autoflush:
                return super().put_headless(pk)
        except CrmError as exc:
            return self._crm_error(exc)

    def delete_headless(self, pk):
        try:
            return super().delete_headless(pk)
        except CrmError as exc:
            return self._crm_error(exc)


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
