"""Events, the 1C document "Событие": a call, an e-mail or a meeting with a counterparty.

Start and end are stamped by the model from the state (never typed by a person): an event
starts when it goes to work (or is registered already in work or completed) and ends when
it is completed."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.orm.attributes import set_committed_value

from models.base import (AuditedMixin, CheckedMixin, Model, RecordLinkMixin, TimestampMixin,
                         TrashableMixin, TrashChildMixin, utcnow)
from models.task import record_link_errors


class EventKind(str, enum.Enum):
    call = "call"
    email = "email"
    meeting = "meeting"


class EventDirection(str, enum.Enum):
    incoming = "incoming"
    outgoing = "outgoing"


class EventState(str, enum.Enum):
    planned = "planned"
    in_progress = "in_progress"
    completed = "completed"


EVENT_KIND_LABELS = {
    EventKind.call.value: "Звонок",
    EventKind.email.value: "Электронное письмо",
    # The 1C document's own word: «Вид – Личная встреча».
    EventKind.meeting.value: "Личная встреча",
}
EVENT_DIRECTION_LABELS = {
    EventDirection.incoming.value: "Входящее",
    EventDirection.outgoing.value: "Исходящее",
}
EVENT_STATE_LABELS = {
    EventState.planned.value: "Запланировано",
    EventState.in_progress.value: "В работе",
    EventState.completed.value: "Завершено",
}
STARTED_STATES = (EventState.in_progress.value, EventState.completed.value)
# Columns only the model writes: forms and the API never offer them (except the times of a
# meeting, see MEETING_TIMES).
AUTO_COLUMNS = ("number", "started_at", "ended_at")
# «Начало/окончание – автоматически заполняется, редактируется до завершения» (meetings only).
MEETING_TIMES = ("started_at", "ended_at")
MEETING_TIMES_LOCKED = "Встреча завершена: начало и окончание больше не редактируются"


def _stored(record, name):
    """The value as loaded from the database, before this unit of work changed it."""
    hist = sa_inspect(record).attrs[name].history
    return hist.deleted[0] if hist.deleted else getattr(record, name)


def _related(values, name):
    """A relation as a form (object), the API (object) or the engine (only `<name>_id`) has it."""
    value = getattr(values, name, None)
    if value is None:
        value = getattr(values, f"{name}_id", None)
    return value


class Event(AuditedMixin, CheckedMixin, RecordLinkMixin, TimestampMixin, TrashableMixin,
            Model):
    """`record_entity`/`record_id`: the record this event was created on the basis of."""

    __tablename__ = "event"
    __entity__ = "event"
    __label__ = "Событие"
    __choice_labels__ = {"kind": EVENT_KIND_LABELS, "direction": EVENT_DIRECTION_LABELS,
                         "state": EVENT_STATE_LABELS}
    __checked_fields__ = ("kind", "direction", "state", "topic", "company", "ended_at",
                          "record_entity", "record_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Equal to id: gap-free enough for people and free of races between two writers.
    number: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True,
                                               active_history=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default=EventKind.call.value,
                                      index=True)
    direction: Mapped[str] = mapped_column(String(16), nullable=False,
                                           default=EventDirection.incoming.value)
    topic_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reference_item.id"),
                                                 index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    # active_history: the listeners compare with the stored value even if it was expired.
    state: Mapped[str] = mapped_column(String(16), nullable=False,
                                       default=EventState.planned.value, index=True,
                                       active_history=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, active_history=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, active_history=True)
    company_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("company.id"),
                                                   index=True)
    content: Mapped[str | None] = mapped_column(Text)
    # A refusal ("отказ") closes the process with a reason from the list rejection_reason.
    rejection_reason_id: Mapped[int | None] = mapped_column(Integer,
                                                           ForeignKey("reference_item.id"))
    rejection_comment: Mapped[str | None] = mapped_column(Text)
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       index=True)
    # Set by the process engine: which rule and which transition created the event.
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64))
    effect_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    topic = relationship("ReferenceItem", foreign_keys=[topic_id])
    rejection_reason = relationship("ReferenceItem", foreign_keys=[rejection_reason_id])
    company = relationship("Company")
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    created_by = relationship("CrmUser", foreign_keys="Event.created_by_id")
    contact_rows = relationship("EventContactRow", back_populates="event",
                                order_by="EventContactRow.id", cascade="all, delete-orphan")

    @property
    def kind_label(self) -> str:
        return EVENT_KIND_LABELS.get(self.kind, self.kind or "")

    @property
    def direction_label(self) -> str:
        return EVENT_DIRECTION_LABELS.get(self.direction, self.direction or "")

    @property
    def state_label(self) -> str:
        return EVENT_STATE_LABELS.get(self.state, self.state or "")

    @property
    def number_label(self) -> str:
        return f"№ {self.number}" if self.number else ""

    @validates("started_at", "ended_at")
    def _naive_utc(self, _key, value):
        # The API may send an offset ("…+03:00"); the columns hold naive UTC.
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    @property
    def times_editable(self) -> bool:
        """A meeting's start and end are typed by a person until it is completed (the
        stored state: the save that completes it may still set them)."""
        return self.kind == EventKind.meeting.value and \
            _stored(self, "state") != EventState.completed.value

    @property
    def record_ref(self):
        """(entity, id) of the record the event was created on the basis of, or None."""
        if self.record_entity and self.record_id:
            return (self.record_entity, self.record_id)
        return None

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        kind = v.kind or EventKind.call.value
        direction = v.direction or EventDirection.incoming.value
        state = v.state or EventState.planned.value
        if kind not in EVENT_KIND_LABELS:
            errors["kind"] = "Выберите вид события: звонок, электронное письмо или встреча"
        if direction not in EVENT_DIRECTION_LABELS:
            errors["direction"] = "Выберите направление: входящее или исходящее"
        if state not in EVENT_STATE_LABELS:
            errors["state"] = "Выберите состояние: запланировано, в работе или завершено"
        if _related(v, "topic") is None:
            errors["topic"] = "Укажите тему события"
        # The content is required by the process definition (only for some topics), not here.
        started, ended = getattr(v, "started_at", None), getattr(v, "ended_at", None)
        if started is not None and ended is not None and ended < started:
            errors["ended_at"] = "Окончание не может быть раньше начала"
        if (kind == EventKind.email.value and direction == EventDirection.outgoing.value
                and _related(v, "company") is None):
            errors["company"] = "Для исходящего электронного письма укажите контрагента"
        errors.update(record_link_errors(v))
        return errors

    __index_creator__ = True

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        return or_(cls.responsible_id.in_(user_ids), cls.created_by_id.in_(user_ids))

    def __str__(self) -> str:
        return f"{self.kind_label or 'Событие'} № {self.number or self.id or ''}".strip()


class EventContactRow(AuditedMixin, CheckedMixin, TrashChildMixin, Model):
    """A row of the event's contact table: who was reached and how."""

    __tablename__ = "event_contact_row"
    __entity__ = "event_contact"
    __label__ = "Контакт события"
    __trash_parent__ = "event"
    __checked_fields__ = ("event", "contact", "how_to_reach")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, ForeignKey("event.id", ondelete="CASCADE"),
                                          nullable=False, index=True)
    contact_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("contact.id"),
                                                   index=True)
    how_to_reach: Mapped[str | None] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)

    event = relationship(Event, back_populates="contact_rows")
    contact = relationship("Contact")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if _related(v, "event") is None:
            errors["event"] = "Укажите событие"
        if _related(v, "contact") is None and not (v.how_to_reach or "").strip():
            errors["how_to_reach"] = "Укажите контакт или как с ним связаться (телефон, e-mail)"
        return errors

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        # A row is visible exactly when its event is.
        return cls.event_id.in_(select(Event.id).where(Event.scope_clause(user_id, user_ids)))

    def __str__(self) -> str:
        who = str(self.contact) if self.contact is not None else ""
        return ", ".join(p for p in (who, self.how_to_reach or "") if p)


# --- automatic columns ----------------------------------------------------------------------
@sa_event.listens_for(Event, "before_insert")
def _event_before_insert(_mapper, _conn, target: Event) -> None:
    now = utcnow()
    # Whatever a caller put there is ignored: start and end follow the state only.
    target.started_at = now if target.state in STARTED_STATES else None
    target.ended_at = now if target.state == EventState.completed.value else None
    target.number = None


@sa_event.listens_for(Event, "after_insert")
def _event_after_insert(_mapper, conn, target: Event) -> None:
    conn.execute(update(Event.__table__).where(Event.__table__.c.id == target.id)
                 .values(number=target.id))
    set_committed_value(target, "number", target.id)


@sa_event.listens_for(Event, "before_update")
def _event_before_update(_mapper, _conn, target: Event) -> None:
    attrs = sa_inspect(target).attrs
    typed = target.times_editable
    for key in AUTO_COLUMNS:
        hist = attrs[key].history
        if typed and key in MEETING_TIMES:
            continue
        if hist.added and hist.deleted != hist.added:
            # A direct write (a form, the API, a script): put the stored value back.
            setattr(target, key, hist.deleted[0] if hist.deleted else None)
    if not attrs.state.history.has_changes():
        return
    now = utcnow()
    if target.state in STARTED_STATES and target.started_at is None:
        target.started_at = now
    meeting = target.kind == EventKind.meeting.value
    if target.state == EventState.completed.value:
        # A meeting keeps the end a person typed; other events end when completed.
        if not (meeting and target.ended_at is not None):
            target.ended_at = now
    elif not meeting:
        # Reopened: it has not ended any more.
        target.ended_at = None


@sa_event.listens_for(EventContactRow, "before_insert")
def _row_before_insert(_mapper, _conn, target: EventContactRow) -> None:
    # The table must say how to reach the person: take it from the contact card if empty.
    contact = target.contact
    if not (target.how_to_reach or "").strip() and contact is not None:
        target.how_to_reach = contact.phone or contact.email


__all__ = ["Event", "EventContactRow", "EventKind", "EventDirection", "EventState",
           "EVENT_KIND_LABELS", "EVENT_DIRECTION_LABELS", "EVENT_STATE_LABELS",
           "AUTO_COLUMNS", "MEETING_TIMES", "MEETING_TIMES_LOCKED"]
