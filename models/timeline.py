"""The timeline of a record: comments, stage changes, tasks, files, documents, and the field
changes the audit log already knows, merged in time order and told in Russian words."""
from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from dataclasses import dataclass, field as dc_field

from flask import current_app, has_app_context
from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        Text, select)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.formatting import format_date, format_datetime, format_money
from models.audit import AuditLog
from models.base import Model, current_actor_id, utcnow
from models.custom_words import custom_changes, custom_values, field_specs
from models.labels import labels_for
from models.registry import entity_label, model_for, model_for_table
from models.task import TASK_STATUS_LABELS, Task
from models.user import CrmUser


class TimelineKind(str, enum.Enum):
    comment = "comment"
    stage = "stage"
    field = "field"
    task_created = "task_created"
    task_closed = "task_closed"
    file = "file"
    document = "document"
    system = "system"
    approval = "approval"


KIND_LABELS = {
    TimelineKind.comment.value: "Комментарий",
    TimelineKind.stage.value: "Смена этапа",
    TimelineKind.field.value: "Изменение",
    TimelineKind.task_created.value: "Задача",
    TimelineKind.task_closed.value: "Задача закрыта",
    TimelineKind.file.value: "Файл",
    TimelineKind.document.value: "Документ",
    TimelineKind.system.value: "Событие",
    TimelineKind.approval.value: "Согласование",
}
KINDS = frozenset(KIND_LABELS)
COMMENT_MAX_LENGTH = 5000
# The process engine's bookkeeping: the admin reads it in the audit record's technical
# details, nobody reads it in a history.
TECHNICAL_KEYS = frozenset({"rule_key", "transition_id", "effect_key"})
TECHNICAL_PAYLOAD_KEYS = TECHNICAL_KEYS | {"rule", "transition", "effect"}
# Columns whose changes say nothing to a person reading the history.
TIMELINE_EXCLUDE = frozenset({"id", "created_at", "updated_at", "version",
                              "created_by_id"}) | TECHNICAL_KEYS
CUSTOM = "custom"
EMPTY = "—"


def public_payload(payload):
    """A timeline entry's payload without the engine's keys (what the API shows)."""
    if not isinstance(payload, dict):
        return payload
    return {k: v for k, v in payload.items() if k not in TECHNICAL_PAYLOAD_KEYS}


class TimelineEntry(Model):
    """One event in a record's history that the audit log does not tell by itself."""

    __tablename__ = "timeline_entry"
    __table_args__ = (Index("ix_timeline_entry_record", "entity", "record_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Machine-readable details: attachment id, task id, rule and transition, old/new stage...
    payload: Mapped[object | None] = mapped_column(JSON, nullable=True)
    author_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                  nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    author = relationship("CrmUser", foreign_keys=[author_id])

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def __str__(self) -> str:
        return f"{self.kind_label}: {self.text[:80]}"


def is_blank(text: str | None) -> bool:
    """Nothing a reader would see: spaces, line breaks and invisible characters (zero-width
    spaces and joiners, BOM, soft hyphens: Unicode's format and control categories)."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc") for ch in text or "")


def add_timeline(entity: str, record_id: int, kind: str, text: str, payload=None,
                 author_id: int | None = None, session=None, at: dt.datetime | None = None
                 ) -> TimelineEntry:
    """Adds an entry to the caller's session (the caller commits, so the entry lives or dies
    with the change it tells about).

    `author_id=None` means whoever is acting now (the request's user, or `acting_as`);
    pass 0 for an entry written by the system itself."""
    if kind not in KINDS:
        raise ValueError(f"unknown timeline kind {kind!r}")
    if not entity or record_id is None:
        raise ValueError("a timeline entry needs an entity and a record id")
    if author_id is None:
        author_id = current_actor_id()
    if session is None:
        session = db.session
    entry = TimelineEntry(entity=entity, record_id=int(record_id), kind=kind,
                          text=(text or "").strip(), payload=payload,
                          author_id=author_id or None, at=at or utcnow())
    session.add(entry)
    return entry


# --- reading -------------------------------------------------------------------------------

@dataclass
class TimelineItem:
    """One line of the history as the record page shows it."""

    at: dt.datetime
    kind: str
    text: str
    author_id: int | None = None
    author_name: str = ""
    payload: dict | None = None
    entry_id: int | None = None      # a TimelineEntry
    audit_id: int | None = None      # an AuditLog row
    field: str | None = None         # the changed column, for field changes
    lines: list[str] = dc_field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def is_comment(self) -> bool:
        return self.kind == TimelineKind.comment.value


def field_labels(model) -> dict[str, str]:
    """Russian labels of a model's columns: a column's own `info["label"]` first, then the
    domain's labels (models.labels), then a screen's own ones for what the domain lacks."""
    labels = {k: str(v) for k, v in
              labels_for(getattr(model, "__entity__", None) if model else None).items()}
    for key, value in _view_labels(model).items():
        labels.setdefault(key, value)
    if model is not None:
        for column in sa_inspect(model).columns:
            label = (getattr(column, "info", None) or {}).get("label")
            if label:
                labels[column.key] = str(label)
    return labels


def _view_labels(model) -> dict[str, str]:
    if model is None:
        return {}
    if not has_app_context():
        return {}
    # The labels the screens declare, read from the app's registry (models never import
    # views/): none while the app is being built.
    baseviews = getattr(getattr(current_app, "appbuilder", None), "baseviews", None) or []
    out: dict[str, str] = {}
    for view in baseviews:
        datamodel = getattr(view, "datamodel", None)
        # The class's declared labels: the instance's also hold FAB's generated English
        # ones ("Responsible Id"), which would hide the relationship's Russian label.
        declared = getattr(type(view), "label_columns", None) or {}
        if getattr(datamodel, "obj", None) is model:
            for key, value in declared.items():
                out.setdefault(key, str(value))
    return out


def _label(key: str, labels: dict[str, str], model) -> str:
    if key in labels:
        return labels[key]
    relation = _relationship_of(model, key)
    if relation and relation in labels:
        return labels[relation]
    if key.endswith("_id") and key[:-3] in labels:
        return labels[key[:-3]]
    return key


def _relationship_of(model, column_key: str) -> str | None:
    """The name of the relationship that a foreign key column feeds (responsible_id ->
    responsible), so its label and the related record's name can be shown."""
    if model is None:
        return None
    mapper = sa_inspect(model)
    for rel in mapper.relationships:
        if any(getattr(c, "key", None) == column_key for c in rel.local_columns):
            return rel.key
    return None


def _column(model, key):
    if model is None:
        return None
    try:
        return sa_inspect(model).columns[key]
    except KeyError:
        return None


def format_value(model, key: str, value, session=None) -> str:
    """A stored audit value as a person reads it: money, dates in the local zone, yes/no,
    the name of a linked record, the label of a choice."""
    if value is None or value == "":
        return EMPTY
    column = _column(model, key)
    info = (getattr(column, "info", None) or {}) if column is not None else {}
    choices = info.get("choices") or (getattr(model, "__choice_labels__", None) or {}).get(key)
    try:
        if choices and str(value) in choices:
            return str(choices[str(value)])
        if column is not None:
            ctype = column.type
            if isinstance(ctype, Boolean) or isinstance(value, bool):
                return "да" if value else "нет"
            if isinstance(ctype, DateTime):
                return format_datetime(dt.datetime.fromisoformat(str(value)))
            if isinstance(ctype, Date):
                return format_date(dt.date.fromisoformat(str(value)[:10]))
            if isinstance(ctype, Numeric) and info.get("money"):
                return format_money(value)
            if column.foreign_keys:
                named = _linked_name(column, value, session)
                if named:
                    return named
    except (ValueError, TypeError, ArithmeticError):
        pass  # an odd stored value is shown as it is rather than hiding the change
    if isinstance(value, bool):
        return "да" if value else "нет"
    if key == "record_entity":  # a task's or event's record kind: its Russian name
        return entity_label(str(value))
    if isinstance(value, (list, tuple)):  # a list of words (a task's outcomes)
        return ", ".join(format_value(None, "", v, session) for v in value) or EMPTY
    if isinstance(value, dict):
        return "; ".join(f"{k}: {format_value(None, '', v, session)}"
                         for k, v in value.items()) or EMPTY
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _linked_name(column, value, session) -> str | None:
    fk = next(iter(column.foreign_keys))
    target = model_for_table(fk.column.table.name)
    if target is None:
        return None
    if session is None:
        session = db.session
    try:
        with session.no_autoflush:
            obj = session.get(target, value)
    except Exception:
        return None
    return str(obj) if obj is not None else f"№{value} (удалено)"


def _session_or_default(session):
    if session is None:
        session = db.session
    return session


def _custom_specs(model, record_id, changes: dict | None, session) -> dict:
    """The custom fields of the record's pipeline (the new one when the change moved it)."""
    pipeline = (changes or {}).get("pipeline_id")
    pipeline_id = pipeline[-1] if isinstance(pipeline, (list, tuple)) and pipeline else None
    if pipeline_id is None and record_id is not None and model is not None \
            and hasattr(model, "pipeline_id"):
        with session.no_autoflush:
            record = session.get(model, int(record_id))
        pipeline_id = getattr(record, "pipeline_id", None)
    return field_specs(pipeline_id, session)


def _custom_change(model, record_id, changes, old, new, session) -> str | None:
    parts = custom_changes(_custom_specs(model, record_id, changes, session), old, new,
                           session)
    return "Изменены дополнительные поля: " + "; ".join(parts) if parts else None


def describe_changes(entity: str, changes: dict | None, session=None,
                     labels: dict[str, str] | None = None,
                     include_all: bool = False,
                     record_id: int | None = None) -> list[tuple[str, str]]:
    """[(field key, "Изменено поле «Бюджет»: 100 000,00 ₽ → 150 000,00 ₽"), ...]: only what
    reads as a change (a None → "" is none); custom fields one by one, by their labels."""
    model = model_for(entity)
    session = _session_or_default(session)
    if labels is None:
        labels = field_labels(model)
    skip = set() if include_all else set(TIMELINE_EXCLUDE) | set(
        getattr(model, "__timeline_exclude__", ()) or ())
    out = []
    for key, pair in (changes or {}).items():
        if key in skip:
            continue
        try:
            old, new = pair
        except (TypeError, ValueError):
            old, new = None, pair
        if key == CUSTOM:
            text = _custom_change(model, record_id, changes, old, new, session)
            if text:
                out.append((key, text))
            continue
        before = format_value(model, key, old, session)
        after = format_value(model, key, new, session)
        if before != after:
            out.append((key, f"Изменено поле «{_label(key, labels, model)}»: "
                             f"{before} → {after}"))
    return out


def changes_in_words(entity: str, action: str, changes: dict | None, session=None,
                     record_id: int | None = None) -> str:
    """The audit screen's column: what an insert, update or delete changed, in words."""
    model = model_for(entity)
    session = _session_or_default(session)
    labels = field_labels(model)
    if action == "update":
        return "; ".join(text for _key, text in describe_changes(
            entity, changes, session, labels, include_all=False, record_id=record_id))
    parts = []
    for key, pair in (changes or {}).items():
        if key in TIMELINE_EXCLUDE:
            continue
        value = pair[1] if action == "insert" else pair[0]
        if key == CUSTOM:
            specs = _custom_specs(model, None if action == "delete" else record_id, changes,
                                  session)
            parts += custom_values(specs, value, session)
            continue
        parts.append(f"{_label(key, labels, model)}: {format_value(model, key, value, session)}")
    return "; ".join(parts)


def technical_details(changes: dict | None) -> dict:
    """The engine's keys an audit row holds, for the admin's eyes only."""
    return {k: pair for k, pair in (changes or {}).items() if k in TECHNICAL_KEYS}


def _task_items(entity: str, record_id: int, session, kinds) -> list:
    """Tasks of the record, created and closed, read from the tasks themselves: whichever
    path made or closed a task, the record's history says so."""
    want = {TimelineKind.task_created.value, TimelineKind.task_closed.value}
    if kinds is not None and not kinds & want:
        return []
    out = []
    tasks = session.scalars(select(Task).where(Task.record_entity == entity,
                                               Task.record_id == record_id)).all()
    for task in tasks:
        # A process rule's task: the transition service wrote its creation (with the stage)
        # on the record's timeline in the same transaction; telling it again doubles it.
        if not task.effect_key:
            how = " автоматически" if task.rule_key else ""
            assignee = f", исполнитель: {task.assignee}" if task.assignee_id else ""
            out.append(((task.created_at, 3, task.id), TimelineItem(
                at=task.created_at, kind=TimelineKind.task_created.value,
                text=f"Задача «{task.title}» создана{how}{assignee}",
                author_id=task.creator_id or task.created_by_id)))
        if task.closed_at:
            result = f": {task.outcome or task.result}" if (task.outcome or task.result) else ""
            out.append(((task.closed_at, 3, task.id), TimelineItem(
                at=task.closed_at, kind=TimelineKind.task_closed.value,
                text=f"Задача «{task.title}»: {TASK_STATUS_LABELS.get(task.status, '')}"
                     f"{result}",
                author_id=task.assignee_id)))
    return out


def timeline_for(entity: str, record_id: int, session=None,
                 kinds: set[str] | None = None) -> list[TimelineItem]:
    """The record's history, oldest first: its timeline entries merged with the audit log's
    creation and field changes of the record. `kinds` keeps only those kinds."""
    if session is None:
        session = db.session
    record_id = int(record_id)
    items: list[tuple[tuple, TimelineItem]] = []
    entries = session.scalars(
        select(TimelineEntry).where(TimelineEntry.entity == entity,
                                    TimelineEntry.record_id == record_id)
        .order_by(TimelineEntry.at, TimelineEntry.id)).all()
    for e in entries:
        items.append(((e.at, 1, e.id), TimelineItem(
            at=e.at, kind=e.kind, text=e.text, author_id=e.author_id,
            payload=public_payload(e.payload), entry_id=e.id)))
    want_audit = kinds is None or kinds & {TimelineKind.field.value, TimelineKind.system.value}
    if want_audit:
        model = model_for(entity)
        labels = field_labels(model)
        label = getattr(model, "__label__", "") or "Запись"
        rows = session.scalars(
            select(AuditLog).where(AuditLog.entity == entity, AuditLog.record_id == record_id,
                                   AuditLog.action.in_(("insert", "update")))
            .order_by(AuditLog.at, AuditLog.id)).all()
        for row in rows:
            if row.action == "insert":
                items.append(((row.at, 0, row.id), TimelineItem(
                    at=row.at, kind=TimelineKind.system.value,
                    text=f"Создано: {label} «{row.record_repr or record_id}»",
                    author_id=row.user_id, audit_id=row.id)))
                continue
            for n, (key, text) in enumerate(describe_changes(entity, row.changes, session,
                                                             labels, record_id=record_id)):
                items.append(((row.at, 2, row.id * 1000 + n), TimelineItem(
                    at=row.at, kind=TimelineKind.field.value, text=text,
                    author_id=row.user_id, audit_id=row.id, field=key)))
    items.extend(_task_items(entity, record_id, session, kinds))
    items.sort(key=lambda pair: pair[0])
    result = [item for _key, item in items if kinds is None or item.kind in kinds]
    author_ids = {i.author_id for i in result if i.author_id}
    if author_ids:
        users = {u.id: u for u in session.scalars(
            select(CrmUser).where(CrmUser.id.in_(author_ids))).all()}
        for item in result:
            user = users.get(item.author_id)
            item.author_name = str(user) if user is not None else ""
    for item in result:
        if not item.author_id:
            item.author_name = item.author_name or "Система"
    return result
