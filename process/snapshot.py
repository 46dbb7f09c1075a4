"""A process record as plain values: its entity, stage (current and as committed), process,
field values now and before this unit of work, and the context templates are rendered with.
Everything the engine core (rules/) is given comes from here."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, inspect as sa_inspect, select

from app.extensions import db
from app.formatting import to_local
from process import catalog as processes
from process.txcache import TransactionCache
from models.attachment import Attachment
from models.base import utcnow
from models.pipeline import Stage
from models.reference import ReferenceItem
from models.user import CrmUser


STAGE_ATTR = {"deal": "stage", "lead": "stage", "event": "state", "order": "status",
              "request": "stage"}
# The id of a record's first file (or None) by (entity, record id).
_FIRST_FILE = TransactionCache("first_file", (Attachment,), frozenset({"attachment"}))


def entity_of(record) -> str:
    return getattr(type(record), "__entity__", "")


def is_process_record(record) -> bool:
    return entity_of(record) in STAGE_ATTR


def _key(value) -> str | None:
    """A stage value as its key: a Stage row, or the status string of events and orders."""
    if value is None:
        return None
    return getattr(value, "key", value)


def current_stage(record) -> str | None:
    return _key(getattr(record, STAGE_ATTR[entity_of(record)]))


def committed_stage(record) -> str | None:
    """The stage as the database has it (before this unit of work changed it). Read from
    the database: an unloaded relationship keeps no history of its old value."""
    state = sa_inspect(record)
    if state.transient or state.pending:
        return None
    with db.session.no_autoflush:
        return db.session.execute(_committed_stage_query(type(record)),
                                  {"record_id": record.id}).scalar()


@cache
def _committed_stage_query(model):
    """Built once per model (a move runs it every time): its values are parameters."""
    attr = STAGE_ATTR[model.__entity__]
    if attr == "stage":
        return select(Stage.key).join(model, model.stage_id == Stage.id).where(
            model.id == bindparam("record_id"))
    return select(getattr(model, attr)).where(model.id == bindparam("record_id"))


def process_of(record):
    entity = entity_of(record)
    if STAGE_ATTR.get(entity) == "stage":
        pipeline_id = record.pipeline_id or getattr(record.pipeline, "id", None)
        return processes.process_for_pipeline(pipeline_id) if pipeline_id else None
    return processes.process_for_entity(entity)


def record_values(record, process=...) -> dict:
    """The record as plain values for conditions, required fields and templates: every
    column, every to-one relationship by its id under the relationship's name, the custom
    fields, and the "Другое" flag of the lost reason."""
    mapper = sa_inspect(type(record))
    values = {c.key: getattr(record, c.key) for c in mapper.column_attrs}
    for rel in mapper.relationships:
        held = _held_id(record, rel)
        if held is not None:
            values[rel.key] = held
            continue
        target = getattr(record, rel.key, None)
        if rel.uselist:
            values[rel.key] = [getattr(x, "id", x) for x in target or []]
        elif isinstance(target, ReferenceItem):
            values[rel.key] = target.code  # definitions compare list items by their codes
        else:
            values[rel.key] = getattr(target, "id", None) if target is not None else None
    values.update(getattr(record, "custom", None) or {})
    _attached_files(record, values, process)
    reason = getattr(record, "lost_reason", None)
    values["lost_reason_is_other"] = bool(getattr(reason, "is_other", False))
    return values


def _held_id(record, rel):
    """The id of the record's to-one related object when the session holds that object,
    read from the foreign key: a commit expired the object, and reading it only for its id
    would load its whole row again. None: read the relationship as before."""
    target = rel.mapper
    if rel.uselist or rel.secondary is not None or target.class_ is ReferenceItem or \
            len(rel.local_columns) != 1 or len(target.primary_key) != 1 or \
            set(rel.remote_side) != set(target.primary_key):
        return None
    state = sa_inspect(record)
    if rel.key in state.dict or state.session is None:
        return None  # loaded (maybe just set): as it is
    (column,) = rel.local_columns
    value = getattr(record, state.mapper.get_property_by_column(column).key)
    if value is None or target.identity_key_from_primary_key([value]) \
            not in state.session.identity_map:
        return None
    return value


def _attached_files(record, values: dict, process=...) -> None:
    """A definition's file field with no value is filled when the record has a file on its
    «Файлы» tab: "attached file mandatory" means a file attached to the record."""
    if record.id is None or entity_of(record) not in STAGE_ATTR:
        return
    if process is ...:
        process = process_of(record)
    file_fields = [f.key for f in getattr(process, "fields", ())
                   if f.type == "file" and f.any_file]
    if not any(values.get(key) in (None, "") for key in file_fields):
        return
    entity = entity_of(record)
    first = _FIRST_FILE.get((entity, record.id), lambda: db.session.scalar(
        _first_file_query(), {"entity": entity, "record_id": record.id}))
    for key in file_fields:
        if values.get(key) in (None, "") and first is not None:
            values[key] = first


@cache
def _first_file_query():
    return select(Attachment.id).where(
        Attachment.entity == bindparam("entity"), Attachment.record_id == bindparam("record_id")
    ).order_by(Attachment.id)


def old_values(record) -> dict:
    """The record's values as the database has them (before this unit of work).

    Read from the row itself, not from attribute history: a relationship that was empty
    keeps no old value in its history, so an empty -> set change would look unchanged.
    Nothing is flushed meanwhile: a flush would make the new values the stored ones."""
    committed = _committed_columns(record)
    with db.session.no_autoflush:
        values = record_values(record)
    if committed is None:
        return values
    mapper = sa_inspect(type(record))
    for key, old in committed.items():
        if key == "custom":
            # custom fields are read as top-level values: put the old ones back
            for name in getattr(record, "custom", None) or {}:
                values.pop(name, None)
            values.update(old or {})
        values[key] = old
    for rel in mapper.relationships:
        if rel.uselist or len(rel.local_columns) != 1:
            continue
        (column,) = rel.local_columns
        old_id = committed.get(mapper.get_property_by_column(column).key)
        if old_id == getattr(getattr(record, rel.key, None), "id", None):
            continue
        target = rel.mapper.class_
        values[rel.key] = _reference_code(old_id) if target is ReferenceItem else old_id
    return values


def _committed_columns(record) -> dict | None:
    """{column attribute: value} of the stored row; None for a record not yet stored."""
    state = sa_inspect(record)
    if state.transient or state.pending:
        return None
    model = type(record)
    keys = [c.key for c in state.mapper.column_attrs]
    with db.session.no_autoflush:
        row = db.session.execute(select(*[getattr(model, k) for k in keys])
                                 .where(model.id == record.id)).one_or_none()
    return dict(zip(keys, row)) if row is not None else None


def _reference_code(item_id) -> str | None:
    if item_id is None:
        return None
    with db.session.no_autoflush:
        return db.session.scalar(select(ReferenceItem.code).where(ReferenceItem.id == item_id))


def _person(user) -> dict:
    if user is None:
        return {}
    return {"full_name": user.full_name, "first_name": user.first_name,
            "last_name": user.last_name, "position": user.position or "",
            "phone": user.phone or "", "email": user.email or ""}


def template_context(record) -> dict:
    """What templates may name besides the record's fields. People are read by their ids:
    an effect that just assigned a responsible changed the id, and the relationship may
    still hold the previous person."""
    company = getattr(record, "company", None)
    responsible_id = getattr(record, "responsible_id", None)
    responsible = db.session.get(CrmUser, responsible_id) if responsible_id else None
    return {"responsible": _person(responsible),
            "company": {"name": getattr(company, "name", ""), "inn": getattr(company, "inn", "")},
            "record": {"id": record.id, "title": str(record)},
            "now": to_local(utcnow()).strftime("%d.%m.%Y %H:%M")}
