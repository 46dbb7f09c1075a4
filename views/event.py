"""Event screens (the 1C document "Событие") with the contact table on the event page, and
the REST APIs of events and their contact rows."""
from __future__ import annotations

from flask import g, redirect, request, url_for
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.fieldwidgets import (BS3TextAreaFieldWidget, BS3TextFieldWidget,
                                           Select2Widget)
from wtforms import SelectField, StringField, TextAreaField

from app.extensions import db
from app.scope import WRITE, can_see
from errors import FieldErrors
from models.base import acting_user
from models.event import (AUTO_COLUMNS, EVENT_DIRECTION_LABELS, EVENT_KIND_LABELS,
                          EVENT_STATE_LABELS, MEETING_TIMES, MEETING_TIMES_LOCKED, Event,
                          EventContactRow, EventDirection, EventKind, EventState)
from models.labels import EVENT_CONTACT_LABELS, EVENT_LABELS
from models.party import Company, Contact
from models.reference import choice_query
from models.registry import get_record
from views.base import CrmModelRestApi, CrmModelView, RowScopeFilter, register
from views.listing import ListInterface
from views.pickers import PickerField
from views.reference import reference_rel_filters
from views.task import (KnownRelatedMixin, PlainExportMixin, checks, format_record_link,
                        prefill_basis, record_entity_field, text_or_blank, user_field)

AUTO_MESSAGES = {
    "number": "Номер присваивается автоматически и не редактируется",
    "started_at": "Начало заполняется автоматически (при переводе в работу) и не редактируется"
                  " (у личной встречи — меняется до завершения)",
    "ended_at": "Окончание заполняется автоматически (при завершении) и не редактируется"
                " (у личной встречи — меняется до завершения)",
}



def _current_pk():
    return (request.view_args or {}).get("pk")


def _edited_event():
    pk = _current_pk()
    if pk is None:
        return None
    with db.session.no_autoflush:
        return db.session.get(Event, pk)


def _minute(value):
    return value.replace(second=0, microsecond=0) if value is not None else None


def meeting_times_form(form_cls):
    """The edit form's start and end: typed for a meeting until it is completed; shown
    read-only on a completed meeting (a forged value is refused at the field); never taken
    from the form for other events (their times follow the state)."""

    class MeetingTimesForm(form_cls):
        def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
            formdata = self.meta.wrap_formdata(self, formdata)
            super().process(formdata, obj, data, extra_filters, **kwargs)
            self._times_refused = []
            record = _edited_event()
            if record is None:
                return
            for name in MEETING_TIMES:
                self._keep_or_refuse(record, name, formdata)

        def _keep_or_refuse(self, record, name, formdata):
            field = self._fields.get(name)
            if field is None:
                return
            stored = getattr(record, name)
            if record.times_editable:
                if _minute(field.data) == _minute(stored):
                    field.data = stored  # the form shows minutes: keep the seconds
                return
            if record.kind == EventKind.meeting.value:
                field.render_kw = {**(field.render_kw or {}), "disabled": True}
                if formdata and name in formdata and _minute(field.data) != _minute(stored):
                    self._times_refused.append(name)
            field.data = stored

        def validate(self, extra_validators=None):
            ok = super().validate(extra_validators)
            for name in getattr(self, "_times_refused", ()):
                self._fields[name].errors = [*self._fields[name].errors, MEETING_TIMES_LOCKED]
                ok = False
            return ok

    MeetingTimesForm.__name__ = form_cls.__name__
    return MeetingTimesForm


def _topics():
    """Active topics, plus the one the edited event already has (even if retired)."""
    keep = None
    pk = _current_pk()
    if pk is not None and request.endpoint and request.endpoint.startswith("EventView."):
        event = db.session.get(Event, pk)
        keep = event.topic_id if event is not None else None
    return db.session.scalars(choice_query("event_topic", keep)).all()


def _choice(label, labels, default):
    return SelectField(label, choices=list(labels.items()), default=default,
                       validate_choice=False)


def _event_form_fields(default_me: bool) -> dict:
    return {
        "kind": _choice("Вид", EVENT_KIND_LABELS, EventKind.call.value),
        "direction": _choice("Направление", EVENT_DIRECTION_LABELS,
                             EventDirection.incoming.value),
        "state": _choice("Состояние", EVENT_STATE_LABELS, EventState.planned.value),
        "topic": QuerySelectField("Тема", checks(Event), query_func=_topics,
                                  get_pk_func=lambda i: i.id, allow_blank=True, blank_text="—",
                                  widget=Select2Widget()),
        "company": PickerField("Контрагент", checks(Event), model=Company),
        "content": TextAreaField("Содержание", widget=BS3TextAreaFieldWidget()),
        "responsible": user_field("Ответственный", default_me=default_me),
        "record_entity": record_entity_field("Основание (тип записи)"),
    }


class EventView(PlainExportMixin, CrmModelView):
    datamodel = ListInterface(Event, load=("topic", "company", "responsible"))
    resource = "event"
    titles = ("События", "Событие", "Новое событие", "Изменение события")
    label_columns = EVENT_LABELS
    show_template = "crm/event_show.html"
    list_columns = ["number_label", "kind_label", "direction_label", "topic", "subject",
                    "company", "state_label", "started_at", "responsible"]
    search_columns = ["number", "kind", "direction", "topic", "state", "subject", "company",
                      "responsible", "started_at", "ended_at", "content"]
    order_columns = ["number", "started_at", "kind", "state"]
    base_order = ("id", "desc")
    add_columns = ["kind", "direction", "topic", "subject", "state", "company", "content",
                   "rejection_reason", "rejection_comment", "responsible", "record_entity",
                   "record_id"]
    # Start and end: only a meeting's edit form shows them (see _get_edit_widget).
    edit_columns = [*add_columns[:5], *MEETING_TIMES, *add_columns[5:]]
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "rejection_reason": reference_rel_filters("rejection_reason")}
    show_fieldsets = [
        ("Событие", {"fields": ["number_label", "kind_label", "direction_label", "topic",
                                "subject", "state_label", "started_at", "ended_at"]}),
        ("Контрагент", {"fields": ["company", "responsible", "created_by"]}),
        ("Содержание", {"fields": ["content", "rejection_reason", "rejection_comment"]}),
        ("Основание", {"fields": ["record_ref"]}),
    ]
    formatters_columns = {"record_ref": format_record_link, "content": text_or_blank,
                          "subject": text_or_blank, "topic": text_or_blank,
                          "company": text_or_blank, "responsible": text_or_blank,
                          "created_by": text_or_blank}
    description_columns = {
        "state": "Начало ставится при переводе в работу, окончание при завершении",
        "started_at": "У личной встречи начало и окончание можно менять до её завершения",
    }
    add_form_extra_fields = _event_form_fields(default_me=True)
    edit_form_extra_fields = _event_form_fields(default_me=False)

    def _init_forms(self):
        super()._init_forms()
        self.edit_form = meeting_times_form(self.edit_form)

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        record = _edited_event()
        if record is None or record.kind != EventKind.meeting.value:
            exclude_cols = [*(exclude_cols or []), *MEETING_TIMES]
        return super()._get_edit_widget(form, exclude_cols=exclude_cols, widgets=widgets)

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        prefill_basis(form)
        if request.method == "GET":
            self._copy_from_basis(form)
        return super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)

    @staticmethod
    def _copy_from_basis(form) -> None:
        """"Ввод на основании": the new event takes the counterparty (and, from another
        event, the kind, direction and topic) of the record it is based on."""
        basis = get_record(request.args.get("record_entity", ""),
                           request.args.get("record_id"))
        if basis is None or not can_see(basis, acting_user()):
            return
        if getattr(basis, "company", None) is not None:
            form.company.data = basis.company
        if isinstance(basis, Event):
            form.kind.data = basis.kind
            form.direction.data = basis.direction
            form.topic.data = basis.topic

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions,
                                           show_fieldsets=show_fieldsets)
        widgets["event"] = item
        widgets["can_write"] = self.appbuilder.sm.has_access("can_write", self.resource)
        widgets["can_add_task"] = self.appbuilder.sm.has_access("can_write", "task")
        return widgets


class EventContactRowView(CrmModelView):
    """A row of an event's contact table; opened from the event page, back to it after."""

    datamodel = ListInterface(EventContactRow, load=("event", "contact"))
    resource = "event"
    link_target = False
    titles = ("Контактные лица событий", "Контактное лицо события",
              "Новое контактное лицо события", "Изменение контактного лица события")
    label_columns = EVENT_CONTACT_LABELS
    list_columns = ["event", "contact", "how_to_reach", "note"]
    add_columns = edit_columns = ["event", "contact", "how_to_reach", "note"]
    show_columns = ["event", "contact", "how_to_reach", "note"]
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "event": [["id", RowScopeFilter, None]]}
    add_form_extra_fields = edit_form_extra_fields = {
        "contact": PickerField("Контактное лицо", model=Contact),
        # Checked from the form: a cleared contact would still be found on the stored row.
        "how_to_reach": StringField("Как связаться (телефон, e-mail)", checks(EventContactRow),
                                    widget=BS3TextFieldWidget()),
    }

    def _guard(self, item) -> None:
        _guard_parent_event(item)
        super()._guard(item)

    def post_add(self, item):
        g.crm_event_page = item.event_id

    def post_update(self, item):
        g.crm_event_page = item.event_id

    def pre_delete(self, item):
        g.crm_event_page = item.event_id

    def _back_to_event(self):
        event_id = getattr(g, "crm_event_page", None)
        if event_id:
            return redirect(url_for("EventView.show", pk=event_id))
        return None

    def post_add_redirect(self):
        return self._back_to_event() or super().post_add_redirect()

    def post_edit_redirect(self):
        return self._back_to_event() or super().post_edit_redirect()

    def post_delete_redirect(self):
        return self._back_to_event() or super().post_delete_redirect()


def _guard_parent_event(item) -> None:
    """A row may only be added to (or moved to) an event the user sees."""
    event = item.event if item.event is not None else (
        db.session.get(Event, item.event_id) if item.event_id else None)
    if event is not None and not can_see(event, acting_user(), WRITE):
        db.session.rollback()
        raise FieldErrors({"event": "Событие не найдено"})


class EventApi(KnownRelatedMixin, CrmModelRestApi):
    resource_name = "event"
    resource = "event"
    datamodel = SQLAInterface(Event)
    list_columns = ["id", "number", "kind", "direction", "topic.id", "subject", "state",
                    "started_at", "ended_at", "company.id", "responsible.id", "record_entity",
                    "record_id", "created_at"]
    show_columns = ["id", "number", "kind", "direction", "topic.id", "topic.label", "subject",
                    "state", "started_at", "ended_at", "company.id", "company.name", "content",
                    "rejection_reason.id", "rejection_reason.label", "rejection_comment",
                    "responsible.id", "created_by.id", "record_entity", "record_id",
                    "rule_key", "transition_id", "effect_key", "created_at", "updated_at"]
    add_columns = ["kind", "direction", "topic", "subject", "state", "company", "content",
                   "rejection_reason", "rejection_comment", "responsible", "record_entity",
                   "record_id"]
    edit_columns = [*add_columns, *MEETING_TIMES]
    actor_defaults = ("responsible",)
    order_columns = ["id", "number", "started_at", "created_at", "state"]
    related_labels = {"topic": "Тема", "company": "Контрагент", "responsible": "Ответственный"}

    def _auto_columns_refused(self, record=None):
        """422 at each automatic column sent; a meeting's times are taken until it is
        completed, and refused with their own message after."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return None
        message = {}
        for key in (k for k in AUTO_COLUMNS if k in body):
            if key in MEETING_TIMES and record is not None \
                    and record.kind == EventKind.meeting.value:
                if record.times_editable:
                    continue
                message[key] = [MEETING_TIMES_LOCKED]
            else:
                message[key] = [AUTO_MESSAGES[key]]
        return self.response(422, message=message) if message else None

    def post_headless(self):
        return self._auto_columns_refused() or super().post_headless()

    def put_headless(self, pk):
        with db.session.no_autoflush:
            record = db.session.get(Event, pk)
        if record is not None and not can_see(record, getattr(g, "user", None), WRITE):
            record = None  # the save answers 404: say nothing of the record here
        return self._auto_columns_refused(record) or super().put_headless(pk)


class EventContactApi(KnownRelatedMixin, CrmModelRestApi):
    resource_name = "event_contact"
    resource = "event"
    datamodel = SQLAInterface(EventContactRow)
    list_columns = ["id", "event.id", "contact.id", "how_to_reach", "note"]
    show_columns = ["id", "event.id", "contact.id", "contact.last_name", "how_to_reach",
                    "note"]
    add_columns = ["event", "contact", "how_to_reach", "note"]
    edit_columns = ["contact", "how_to_reach", "note"]
    related_labels = {"event": "Событие", "contact": "Контактное лицо"}

    def pre_add(self, item):
        _guard_parent_event(item)
        super().pre_add(item)

    def pre_update(self, item):
        _guard_parent_event(item)
        super().pre_update(item)


def register_views(appbuilder):
    register(appbuilder, EventView, "События", "Задачи", icon="fa-phone", api=EventApi,
             category_icon="fa-tasks")
    # The contact rows are edited from the event page only: no menu item of their own.
    appbuilder.add_view_no_menu(EventContactRowView)
    appbuilder.add_api(EventContactApi)
