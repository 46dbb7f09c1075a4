"""Task screens ("Задачи", "Мои задачи") and the REST APIs of tasks and checklist items.

Also holds the small helpers the event screens share: user pickers, the record-link
formatter and the "на основании" fields."""
from __future__ import annotations

from flask import abort, current_app, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget, BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, protect
from flask_appbuilder.widgets import ListWidget
from markupsafe import Markup, escape
from sqlalchemy import case, func, select
from wtforms import Field, SelectField, StringField, TextAreaField

from app.access import API_METHOD_RIGHTS, VIEW_METHOD_RIGHTS
from app.extensions import db
from app.forms import model_check_validator
from app.scope import WRITE, can_see, scope_query
from errors import CrmError, FieldErrors, MissingFields
from models.base import acting_user, utcnow
from models.labels import TASK_LABELS
from models.registry import entities, entity_label, get_record, model_for
from models.task import (OPEN_TASK_STATUSES, TASK_STATUS_LABELS, ChecklistItem,
                         Task, TaskStatus, outcome_values)
from models.user import CrmUser
from views.base import CrmModelRestApi, CrmModelView, register
from views import record_fields, task_outcome
from views.listing import ListInterface
from views.pickers import PickerField, PickerMultipleField

# --- shared helpers ------------------------------------------------------------------------


def _me():
    user = acting_user()
    return None if user is None else db.session.get(CrmUser, user.id)


def user_field(label: str, default_me: bool = False, model=None) -> PickerField:
    """A person, searched by name on the server (there may be thousands)."""
    return PickerField(label, checks(model), model=CrmUser,
                       default=_me if default_me else None)


def users_field(label: str) -> PickerMultipleField:
    return PickerMultipleField(label, model=CrmUser)


def checks(model) -> list:
    """The model's check at a relation field, read from the form alone. The base's form-level
    check falls back to the stored record for what the form lacks, so a cleared relation
    (`assignee`, `topic`) still finds the record's `<name>_id` there and would pass."""
    return [model_check_validator(model)] if model is not None else []


# What a person links a task or an event to on a form (the engine may link any entity).
LINKABLE_ENTITIES = ("lead", "deal", "order", "company", "contact", "event", "task")


def _entity_choices():
    """Entities a record may be linked to, by their Russian names."""
    known = entities()
    out = [(key, getattr(known[key], "__label__", "") or key) for key in LINKABLE_ENTITIES
           if key in known]
    return [("", "—")] + sorted(out, key=lambda pair: pair[1])


def text_or_blank(value):
    return "" if value is None else value


def names(values):
    return ", ".join(str(v) for v in values or [])


def record_entity_field(label: str) -> SelectField:
    # Empty choice means "no link"; stored as NULL, not as "".
    return SelectField(label, choices=_entity_choices,
                       coerce=lambda v: v or None, validate_choice=False)


def record_url(entity: str, record_id) -> str | None:
    """The record page of (entity, id) on the first screen that shows that model."""
    model = model_for(entity)
    if model is None:
        return None
    for view in current_app.appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        # A screen of its own (no datamodel) names the model its `show` page shows.
        shown = getattr(datamodel, "obj", None) or getattr(view, "record_model", None)
        if (shown is model and getattr(view, "link_target", True)
                and hasattr(view, "show")):
            try:
                return url_for(f"{view.endpoint}.show", pk=record_id)
            except Exception:  # a view without a show route: try the next one
                continue
    return None


LINKED = "crm.linked_records"  # request.environ key: {(entity, id): record or None}


def prefetch_record_links(items) -> None:
    """The records a page's rows link to, as far as the user sees them: one query per kind
    of record and one for its row rule, not two per row."""
    if not has_request_context():  # the answers are kept for the request being served
        return
    wanted: dict[str, set[int]] = {}
    for item in items:
        ref = getattr(item, "record_ref", None)
        if ref and model_for(ref[0]) is not None and isinstance(ref[1], int):
            wanted.setdefault(ref[0], set()).add(ref[1])
    linked = request.environ.setdefault(LINKED, {})
    user = acting_user()
    for entity, ids in wanted.items():
        model = model_for(entity)
        records = {r.id: r for r in db.session.scalars(select(model).where(model.id.in_(ids)))}
        visible = set(db.session.scalars(scope_query(
            select(model.id).where(model.id.in_(ids)), model, user)))
        linked.update({(entity, pk): records[pk] if pk in visible else None
                       for pk in ids if pk in records})


def _linked(ref):
    """The record of a link if the user may see it, else None (gone or not theirs)."""
    entity, record_id = ref
    linked = request.environ.get(LINKED, {}) if has_request_context() else {}
    if (entity, record_id) in linked:
        return linked[(entity, record_id)]
    record = get_record(entity, record_id)
    return record if record is not None and can_see(record, acting_user()) else None


def record_text(ref) -> str:
    """Plain text of a record link (CSV export, titles)."""
    if not ref:
        return ""
    entity, record_id = ref
    record = _linked(ref)
    if record is None:
        return f"{entity_label(entity)} № {record_id}"
    return f"{entity_label(entity)}: {record}"


def format_record_link(ref):
    """(entity, id) as a link to the record's page; the name only if the user may see it."""
    if not ref:
        return ""
    entity, record_id = ref
    record = _linked(ref)
    if record is None:
        # One answer for a record that is gone and one not the user's: ids are not probed.
        return f"{entity_label(entity)} № {record_id}"
    text = f"{entity_label(entity)}: {record}"
    url = record_url(entity, record_id)
    if not url:
        return text
    return Markup(f'<a class="crm-record-link" href="{escape(url)}">{escape(text)}</a>')


def format_overdue(value):
    if not value:
        return ""
    return Markup(f'<span class="label label-danger crm-overdue-mark">{escape(value)}</span>')


def prefill_basis(form) -> None:
    """`?record_entity=deal&record_id=5` on an add form: "создать на основании"."""
    if request.method != "GET":
        return
    entity = request.args.get("record_entity")
    record_id = request.args.get("record_id", type=int)
    if entity and record_id and model_for(entity) is not None:
        if hasattr(form, "record_entity"):
            form.record_entity.data = entity
        if hasattr(form, "record_id"):
            form.record_id.data = record_id


class PlainExportMixin:
    """CSV gets the text of a record link, not its HTML."""

    def _export_value(self, item, column):
        if column == "record_ref":
            return record_text(item.record_ref)
        if column == "overdue_label":
            return item.overdue_label
        return super()._export_value(item, column)


# --- form fields of tasks ----------------------------------------------------------------

class LinesField(TextAreaField):
    """A list of strings typed one per line (the allowed outcomes)."""

    widget = BS3TextAreaFieldWidget()

    def process_data(self, value):
        self.data = list(value) if isinstance(value, (list, tuple)) else []

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [line.strip() for line in valuelist[0].splitlines() if line.strip()]

    def _value(self):
        return "\n".join(self.data or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, list(self.data) or None)


class _StaticListWidget:
    def __call__(self, field, **kwargs):
        values = field.data or []
        text = ", ".join(values) if values else "—"
        return Markup(f'<p class="form-control-static" id="{escape(field.id)}">'
                      f'{escape(text)}</p>')


class StoredChoicesField(Field):
    """The task's stored outcome choices on the edit form: shown, never taken from the
    browser, never written back. The outcome check reads them from here at the field."""

    widget = _StaticListWidget()

    def _load(self):
        pk = (request.view_args or {}).get("pk")
        task = db.session.get(Task, pk) if pk is not None else None
        return (outcome_values(task.outcome_choices) or []) if task is not None else []

    def process_data(self, value):
        self.data = self._load()

    def process_formdata(self, valuelist):
        self.data = self._load()

    def populate_obj(self, obj, name):
        pass


class OutcomeField(SelectField):
    """The outcome is chosen from the task's choices; the view fills them before rendering,
    and the model's check (not the widget) decides what is allowed."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, choices=[("", "—")], validate_choice=False,
                         coerce=lambda v: (v or "").strip() or None, **kwargs)


def _status_field():
    return SelectField("Статус", choices=list(TASK_STATUS_LABELS.items()),
                       default=TaskStatus.open.value, validate_choice=False)


def _title_field():
    # Declared here: FAB's generated field would add its own "required" message next to
    # the model's Russian one.
    return StringField("Задача", widget=BS3TextFieldWidget())


TASK_SEARCH = ["title", "status", "assignee", "creator", "deadline", "record_entity",
               "record_id"]


# «Завершить» posts to the general task screen and returns there: «Мои задачи» shows open
# tasks only, and the task is closed by then.
COMPLETE_ENDPOINT = "TaskView"
# Sent by the fields form of «Завершить», not by the task page's buttons: a refusal of the
# form's own submit is shown as one.
COMPLETE_FORM_MARK = "from_form"
COMPLETE_POINTER = ("Завершите задачу кнопкой «Завершить» на странице задачи — там можно "
                    "заполнить поля")


class OutcomeNeedsFields(FieldErrors):
    """The edit form closed a task with an outcome whose move needs empty fields of the
    record: the edit form cannot fill them, «Завершить» can."""

    def __init__(self, refusal: MissingFields):
        super().__init__(refusal.errors)
        self.message = f"{refusal.message}. {COMPLETE_POINTER}"


class TaskListWidget(ListWidget):
    """The list with overdue rows highlighted."""

    template = "crm/task_list_widget.html"


class TaskInterface(ListInterface):
    """A page of tasks with the records they link to."""

    def prepare_page(self, items: list) -> None:
        prefetch_record_links(items)


class TaskView(PlainExportMixin, CrmModelView):
    datamodel = TaskInterface(Task, load=("assignee", "creator"))
    resource = "task"
    titles = ("Задачи", "Задача", "Новая задача", "Изменение задачи")
    method_permission_name = {**VIEW_METHOD_RIGHTS, "checklist_add": "write",
                              "checklist_item": "write", "complete": "write"}
    label_columns = TASK_LABELS
    list_widget = TaskListWidget
    show_template = "crm/task_show.html"
    list_columns = ["overdue_label", "title", "status_label", "assignee", "creator",
                    "deadline", "record_ref"]
    search_columns = TASK_SEARCH
    order_columns = ["title", "deadline", "status"]
    base_order = ("deadline", "asc")
    add_columns = ["title", "description", "assignee", "creator", "observers", "deadline",
                   "remind_at", "status", "outcome_choices", "record_entity", "record_id"]
    edit_columns = ["title", "description", "assignee", "creator", "observers", "deadline",
                    "remind_at", "status", "result", "outcome_choices", "outcome",
                    "record_entity", "record_id"]
    show_fieldsets = [
        ("Задача", {"fields": ["title", "description", "status_label", "overdue_label",
                               "deadline", "remind_at", "record_ref"]}),
        ("Люди", {"fields": ["assignee", "creator", "observers"]}),
        ("Результат", {"fields": ["result", "outcome", "outcome_choices", "closed_at"]}),
        ("Служебное", {"fields": ["created_at", "updated_at"], "expanded": False}),
    ]
    formatters_columns = {
        "record_ref": format_record_link,
        "overdue_label": format_overdue,
        "outcome_choices": lambda v: ", ".join(v) if isinstance(v, list) else (v or ""),
        "description": text_or_blank, "result": text_or_blank, "outcome": text_or_blank,
        "observers": names, "assignee": text_or_blank, "creator": text_or_blank,
    }
    add_form_extra_fields = {
        "title": _title_field(),
        "assignee": user_field("Исполнитель", default_me=True, model=Task),
        "creator": user_field("Постановщик", default_me=True),
        "observers": users_field("Наблюдатели"),
        "status": _status_field(),
        "outcome_choices": LinesField("Варианты итога",
                                      description="По одному в строке; если заданы, "
                                                  "закрыть задачу можно только с итогом"),
        "record_entity": record_entity_field("Относится к (тип записи)"),
    }
    edit_form_extra_fields = {
        "title": _title_field(),
        "assignee": user_field("Исполнитель", model=Task),
        "creator": user_field("Постановщик"),
        "observers": users_field("Наблюдатели"),
        "status": _status_field(),
        "outcome_choices": StoredChoicesField("Варианты итога"),
        "outcome": OutcomeField("Итог"),
        "record_entity": record_entity_field("Относится к (тип записи)"),
    }

    # --- forms ----------------------------------------------------------------------------
    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        prefill_basis(form)
        return super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        if hasattr(form, "outcome"):
            allowed = list(getattr(getattr(form, "outcome_choices", None), "data", None) or [])
            current = form.outcome.data
            if current and current not in allowed:
                allowed.append(current)
            form.outcome.choices = [("", "—")] + [(c, c) for c in allowed]
        return super()._get_edit_widget(form, exclude_cols=exclude_cols, widgets=widgets)

    # --- a refused save keeps what was typed --------------------------------------------
    def pre_update(self, item):
        closing_with_outcome = item.status == TaskStatus.done.value and bool(item.outcome)
        try:
            super().pre_update(item)
        except MissingFields as exc:
            if not closing_with_outcome:
                g.crm_task_refused = "fields"
                raise
            g.crm_task_refused = "outcome"
            raise OutcomeNeedsFields(exc) from None
        except FieldErrors:
            g.crm_task_refused = "fields"
            raise

    def _edit(self, pk):
        """FAB sends a refused save back to an empty form; a refusal of the task's fields
        (the outcome's move needing fields of the record) shows the form again as it was
        typed, the outcome pointing to «Завершить»."""
        widgets = super()._edit(pk)
        refused = g.pop("crm_task_refused", None)
        if widgets is not None or refused is None or request.method != "POST":
            return widgets
        g.pop("crm_refused_pk", None)  # answered here, not by a redirect to the form
        form = self.edit_form.refresh(request.form)
        form._id = pk
        if refused == "outcome" and hasattr(form, "outcome"):
            link = url_for(f"{COMPLETE_ENDPOINT}.show", pk=pk, _anchor="crm-complete")
            form.outcome.errors = [Markup(
                f'Завершите задачу кнопкой <a href="{escape(link)}">«Завершить» на странице '
                f'задачи</a> — там можно заполнить поля')]
        return self._get_edit_widget(form=form)

    # --- the list -------------------------------------------------------------------------
    def _get_list_widget(self, filters, *args, **kwargs):
        widgets = super()._get_list_widget(filters, *args, **kwargs)
        widget = widgets["list"]
        pks = list(widget.template_args.get("pks") or [])
        overdue = set()
        if pks:
            overdue = set(db.session.scalars(select(Task.id).where(
                Task.id.in_(pks), Task.status.in_(OPEN_TASK_STATUSES),
                Task.deadline.is_not(None), Task.deadline < utcnow())))
        widget.template_args["overdue_pks"] = overdue
        return widgets

    # --- the record page with its checklist -----------------------------------------------
    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions,
                                           show_fieldsets=show_fieldsets)
        widgets["task"] = item
        widgets["checklist_editable"] = self.appbuilder.sm.has_access("can_write",
                                                                      self.resource)
        widgets["checklist_endpoint"] = self.endpoint
        widgets["complete"] = {
            "url": url_for(f"{COMPLETE_ENDPOINT}.complete", pk=item.id),
            "outcomes": task_outcome.leaf_outcomes(item),
        } if task_outcome.may_complete(item) else None
        return widgets

    def _visible_task(self, pk) -> Task:
        task = self.datamodel.get(pk, self._base_filters)
        if task is None:
            abort(404)
        return task

    def _back(self, pk):
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    # --- «Завершить» --------------------------------------------------------------------
    @expose("/<int:pk>/complete", methods=["POST"])
    @has_access
    def complete(self, pk):
        """The task closed with the chosen outcome, and the outcome acted on, in one step;
        the record's fields the outcome needs are asked for on the same form."""
        task = self._visible_task(pk)
        form = request.form
        asked = form.getlist("asked")
        outcome = (form.get("outcome") or "").strip()
        try:
            with db.session.no_autoflush:
                record = task_outcome.linked_record(task) if asked else None
                values = record_fields.form_values(record, asked, form) \
                    if record is not None else None
                task_outcome.complete(task, outcome, form.get("result"), values,
                                      form.get("record_version"), source="form")
            record_fields.commit()
        except CrmError as exc:
            db.session.rollback()
            return self._refused(pk, exc, asked)
        flash(f"Задача «{task.title}» завершена"
              + (f" с итогом «{outcome}»" if outcome else ""), "success")
        return redirect(url_for(f"{COMPLETE_ENDPOINT}.show", pk=pk))

    def _refused(self, pk, exc: CrmError, asked_before):
        """The form of the fields the refusal names, or its message on the task page. Its
        first display (from the task page's buttons) only says what to fill: 200, no
        messages; a refused submit of the form shows them, with what was typed (422)."""
        task = self._visible_task(pk)
        asked = task_outcome.fields_to_ask(task, exc, asked_before)
        record = task_outcome.linked_record(task)
        if asked is None or (asked and not task_outcome.may_write_record(record)):
            flash(task_outcome.refusal_text(task, exc, needs_record=asked is not None),
                  "danger")
            return self._back(pk)
        form = request.form
        resubmitted = COMPLETE_FORM_MARK in form or bool(asked_before)
        errors = dict(getattr(exc, "errors", {}))
        notes = [exc.message] if resubmitted and isinstance(exc, MissingFields) else []
        notes += [text for key, text in errors.items()
                  if key not in asked and key != task_outcome.COMMENT_KEY]
        shown_errors = errors if resubmitted else {}
        rows = record_fields.input_rows(record, asked, form if asked_before else None,
                                        shown_errors) if record is not None else []
        return self.render_template(
            "crm/task_complete.html", title="Завершение задачи", task=task,
            record_link=format_record_link(task.record_ref),
            of_record=record_fields.of_record(task.record_entity),
            action=url_for(f"{COMPLETE_ENDPOINT}.complete", pk=pk),
            back=url_for(f"{COMPLETE_ENDPOINT}.show", pk=pk), form_mark=COMPLETE_FORM_MARK,
            outcome=(form.get("outcome") or "").strip(), result=form.get("result") or "",
            result_error=shown_errors.get(task_outcome.COMMENT_KEY),
            notes=list(dict.fromkeys(notes)), asked=asked, rows=rows,
            record_version=form.get("record_version") or getattr(record, "version", ""),
            other=record_fields.OTHER,
            money_types=record_fields.MONEY_TYPES), 422 if resubmitted else 200

    @expose("/<int:pk>/checklist/add", methods=["POST"])
    @has_access
    def checklist_add(self, pk):
        task = self._visible_task(pk)
        text = (request.form.get("text") or "").strip()
        if not text:
            flash("Укажите текст пункта чек-листа", "danger")
            return self._back(pk)
        if len(text) > 300:
            flash("Пункт чек-листа: не длиннее 300 знаков", "danger")
            return self._back(pk)
        last = db.session.scalar(select(func.max(ChecklistItem.sort_order))
                                 .where(ChecklistItem.task_id == task.id)) or 0
        task.checklist.append(ChecklistItem(text=text, sort_order=last + 1))
        db.session.commit()
        flash("Пункт добавлен", "success")
        return self._back(pk)

    @expose("/<int:pk>/checklist/<int:item_id>", methods=["POST"])
    @has_access
    def checklist_item(self, pk, item_id):
        task = self._visible_task(pk)
        item = db.session.get(ChecklistItem, item_id)
        if item is None or item.task_id != task.id:
            abort(404)
        action = request.form.get("action", "save")
        if action == "delete":
            db.session.delete(item)
            db.session.commit()
            flash("Пункт удалён", "success")
            return self._back(pk)
        if action == "toggle":
            item.done = not item.done
        else:
            text = request.form.get("text")
            if text is not None:
                text = text.strip()
                if not text or len(text) > 300:
                    flash("Пункт чек-листа: от 1 до 300 знаков", "danger")
                    return self._back(pk)
                item.text = text
            item.done = request.form.get("done") in ("1", "y", "on", "true")
        db.session.commit()
        flash("Пункт сохранён", "success")
        return self._back(pk)


class MyOpenTasksFilter(BaseFilter):
    """My open tasks: I am the assignee and the task is not closed."""

    name = "Мои открытые задачи"
    arg_name = "crm_my_open"

    def apply(self, query, value):
        user = acting_user()
        if user is None:
            return query.filter(False)
        return query.filter(Task.assignee_id == user.id,
                            Task.status.in_(OPEN_TASK_STATUSES))


def overdue_first(now):
    """ORDER BY of open tasks: overdue first, then by deadline (none last)."""
    return (case((Task.deadline < now, 0), else_=1),
            case((Task.deadline.is_(None), 1), else_=0), Task.deadline, Task.id)


RECORD_CLOSED_TASKS_SHOWN = 5
HOME_TASKS_SHOWN = 10


def _may_read_tasks() -> bool:
    return bool(current_app.appbuilder.sm.has_access("can_read", "task"))


def record_tasks(entity: str, pk) -> dict | None:
    """The «Задачи» tab of a record page: the record's open tasks, overdue first, and its
    last closed ones, as far as the reader sees them. None: no tab (no right to tasks)."""
    try:
        record_id = int(pk)
    except (TypeError, ValueError):
        return None
    if not entity or not _may_read_tasks():
        return None
    mine = select(Task).where(Task.record_entity == entity, Task.record_id == record_id)
    mine = scope_query(mine, Task, acting_user())
    open_tasks = db.session.scalars(mine.where(Task.status.in_(OPEN_TASK_STATUSES))
                                    .order_by(*overdue_first(utcnow()))).all()
    closed = mine.where(Task.status.not_in(OPEN_TASK_STATUSES))
    closed_total = db.session.scalar(select(func.count()).select_from(closed.subquery()))
    return {
        "open": open_tasks,
        "overdue": sum(1 for t in open_tasks if t.is_overdue),
        # The latest few: the history tab tells the rest.
        "closed": db.session.scalars(closed.order_by(Task.closed_at.desc(), Task.id.desc())
                                     .limit(RECORD_CLOSED_TASKS_SHOWN)).all(),
        "closed_total": closed_total,
        "can_add": bool(current_app.appbuilder.sm.has_access("can_write", "task")),
        "add_url": url_for("TaskView.add", record_entity=entity, record_id=record_id),
    }


def my_open_tasks(limit: int = HOME_TASKS_SHOWN) -> dict | None:
    """The home page's «Мои задачи»: the first of my open tasks, overdue first."""
    user = acting_user()
    if user is None or not _may_read_tasks():
        return None
    now = utcnow()
    mine = (Task.assignee_id == user.id, Task.status.in_(OPEN_TASK_STATUSES))
    return {
        "tasks": db.session.scalars(select(Task).where(*mine).order_by(*overdue_first(now))
                                    .limit(limit)).all(),
        "total": db.session.scalar(select(func.count(Task.id)).where(*mine)),
        "overdue": db.session.scalar(select(func.count(Task.id)).where(
            *mine, Task.deadline.is_not(None), Task.deadline < now)),
    }


class MyTasksInterface(TaskInterface):
    """Default order of "Мои задачи": overdue first, then by deadline (none last)."""

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        # FAB builds the interfaces of related models (users...) from this class too.
        if order_column or self.obj is not Task:
            return super().apply_order_by(query, order_column, order_direction,
                                          *args, **kwargs)
        return query.order_by(*overdue_first(utcnow()))

    def query_count(self, query, filters=None, select_columns=None):
        # FAB counts through the same path that orders the page: the count needs no order.
        counted = self._apply_inner_all(query, filters, select_columns=select_columns,
                                        aliases_mapping={})
        return counted.order_by(None).count()


class MyTaskView(TaskView):
    """The current user's open tasks. Same rights as the task screens (resource "task")."""

    datamodel = MyTasksInterface(Task, load=("creator", "checklist"))
    link_target = False  # record links go to the general task screen
    titles = ("Мои задачи", "Задача", "Новая задача", "Изменение задачи")
    list_columns = ["overdue_label", "title", "deadline", "status_label", "creator",
                    "record_ref", "checklist_progress"]
    base_order = None
    base_filters = [["id", MyOpenTasksFilter, lambda: None]]


# --- REST APIs ------------------------------------------------------------------------------

class KnownRelatedMixin:
    """The base's 422 for an unknown related id (`"assignee": 999`), its message led by the
    field's Russian name: "Исполнитель: запись № 999 не найдена"."""

    related_labels: dict[str, str] = {}

    def _refuse_unknown_related(self, item) -> None:
        try:
            super()._refuse_unknown_related(item)
        except FieldErrors as exc:
            raise FieldErrors({name: f"{self.related_labels.get(name, name)}: "
                                     f"{message[:1].lower()}{message[1:]}"
                               for name, message in exc.errors.items()}) from None


# --- checklist items as records (API) -----------------------------------------------------

def _guard_parent_task(item) -> None:
    task = item.task if item.task is not None else (
        db.session.get(Task, item.task_id) if item.task_id else None)
    if task is not None and not can_see(task, acting_user(), WRITE):
        raise FieldErrors({"task": "Задача не найдена"})


class TaskApi(KnownRelatedMixin, CrmModelRestApi):
    resource_name = "task"
    resource = "task"
    datamodel = SQLAInterface(Task)
    list_columns = ["id", "title", "status", "assignee.id", "creator.id", "deadline",
                    "remind_at", "outcome", "record_entity", "record_id", "closed_at",
                    "created_at"]
    show_columns = ["id", "title", "description", "status", "assignee.id", "creator.id",
                    "observers.id", "deadline", "remind_at", "result", "outcome_choices", "outcome",
                    "closed_at", "record_entity", "record_id", "rule_key", "transition_id",
                    "effect_key", "kind", "created_at", "updated_at"]
    add_columns = ["title", "description", "assignee", "creator", "observers", "deadline",
                   "remind_at", "status", "result", "outcome_choices", "outcome",
                   "record_entity", "record_id"]
    actor_defaults = ("assignee", "creator")
    # The allowed outcomes are fixed when the task is made (by a person or a rule).
    edit_columns = ["title", "description", "assignee", "creator", "observers", "deadline",
                    "remind_at", "status", "result", "outcome", "record_entity", "record_id"]
    order_columns = ["id", "title", "deadline", "status", "created_at"]
    related_labels = {"assignee": "Исполнитель", "creator": "Постановщик",
                      "observers": "Наблюдатели"}
    method_permission_name = {**API_METHOD_RIGHTS, "complete": "write"}

    @expose("/<int:pk>/complete", methods=["POST"])
    @protect()
    def complete(self, pk):
        """{"outcome": "...", "result": "...", "fields": {"lost_reason": 3},
        "record_version": 2}: the task closed with its outcome, the outcome acted on and the
        given fields written to the task's record, in one transaction. A refusal for the
        record's fields is a 422 naming them; nothing is changed."""
        task = self.datamodel.get(pk, self._base_filters)
        if task is None:
            return self.response_404()
        body = request.get_json(silent=True)
        try:
            outcome, result, fields, version = _complete_body(body)
            with db.session.no_autoflush:
                task_outcome.complete(task, outcome, result, fields, version, source="api")
            record_fields.commit()
        except CrmError as exc:
            return self._crm_error(task_outcome.for_api(exc))
        return self.response(200, id=pk, result=self.show_model_schema.dump(task, many=False))


def _complete_body(body) -> tuple:
    """(outcome, result, fields, record_version) of a complete request; FieldErrors for
    values of the wrong kind."""
    if not isinstance(body, dict):
        raise FieldErrors({"body": "Ожидается JSON-объект: {\"outcome\": \"...\", "
                                   "\"result\": \"...\", \"fields\": {...}}"})
    errors = {}
    for key in ("outcome", "result"):
        if body.get(key) is not None and not isinstance(body[key], str):
            errors[key] = "Ожидается строка"
    fields = body.get("fields")
    if fields is not None and not isinstance(fields, dict):
        errors["fields"] = "Ожидается объект {\"поле\": значение}"
    version = body.get("record_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        errors["record_version"] = "Ожидается номер версии записи (целое число)"
    if errors:
        raise FieldErrors(errors)
    return body.get("outcome"), body.get("result"), fields, version


class ChecklistItemApi(KnownRelatedMixin, CrmModelRestApi):
    resource_name = "task_checklist"
    resource = "task"
    datamodel = SQLAInterface(ChecklistItem)
    list_columns = ["id", "task.id", "text", "done", "sort_order"]
    show_columns = ["id", "task.id", "text", "done", "sort_order"]
    add_columns = ["task", "text", "done", "sort_order"]
    edit_columns = ["text", "done", "sort_order"]
    related_labels = {"task": "Задача"}

    def pre_add(self, item):
        _guard_parent_task(item)
        super().pre_add(item)

    def pre_update(self, item):
        _guard_parent_task(item)
        super().pre_update(item)


def register_views(appbuilder):
    register(appbuilder, MyTaskView, "Мои задачи", "Задачи", icon="fa-check-square-o",
             category_icon="fa-tasks")
    register(appbuilder, TaskView, "Задачи", "Задачи", icon="fa-tasks", api=TaskApi)
    appbuilder.add_api(ChecklistItemApi)
    # _record_panel.html asks for the record's tasks through this global.
    current_app.jinja_env.globals["crm_record_tasks"] = record_tasks
