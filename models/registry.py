"""Entity key -> model class, read from SQLAlchemy's registry.

Comments, the timeline, attachments and the audit screen refer to records by
(entity key, id). The key is each model's `__entity__`; this module finds the model behind
a key without a hand-kept list, so a new entity needs no change here."""
from __future__ import annotations

from app.extensions import db
from models.base import Model

_cache: dict[str, type] = {}
_cache_size = -1


def _own_entity(cls) -> str:
    """The `__entity__` a class declares itself: a mapped subclass inheriting its parent's
    key must not claim the same entity."""
    return cls.__dict__.get("__entity__", "") or ""


def _build() -> dict[str, type]:
    global _cache, _cache_size
    mappers = list(Model.registry.mappers)
    if len(mappers) == _cache_size:
        return _cache
    out: dict[str, type] = {}
    for mapper in mappers:
        cls = mapper.class_
        key = _own_entity(cls)
        if key and key not in out:
            out[key] = cls
    _cache, _cache_size = out, len(mappers)
    return out


def entities() -> dict[str, type]:
    """{entity key: model class} for every mapped model that declares `__entity__`."""
    return dict(_build())


def model_for(entity: str) -> type | None:
    """The model class of an entity key, or None for an unknown key."""
    if not entity:
        return None
    return _build().get(entity)


def model_for_table(table_name: str) -> type | None:
    """The model mapped to a table (used to show a foreign key as the record it points to)."""
    for mapper in Model.registry.mappers:
        local = getattr(mapper, "local_table", None)
        if local is not None and getattr(local, "name", None) == table_name:
            # The most derived class wins (CrmUser over FAB's User on ab_user).
            cls = mapper.class_
            subclasses = [m.class_ for m in Model.registry.mappers
                          if m.class_ is not cls and issubclass(m.class_, cls)]
            return subclasses[0] if subclasses else cls
    return None


def entity_label(entity: str) -> str:
    """The Russian name of an entity (`__label__`), or the key itself."""
    model = model_for(entity)
    return (getattr(model, "__label__", "") or entity) if model is not None else entity


def get_record(entity: str, record_id, session=None):
    """The record (entity, id), or None when the entity or the record does not exist or
    the record is in the recycle bin."""
    model = model_for(entity)
    if model is None:
        return None
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        return None
    if session is None:
        session = db.session
    record = session.get(model, record_id)
    # The bin's criteria act on queries; an object this session already holds is handed
    # out by `get` without one.
    if getattr(record, "deleted_at", None) is not None:
        return None
    return record
