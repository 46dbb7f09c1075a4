"""Writes the audit log from SQLAlchemy's flush, whichever path changed the record."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import event, inspect
from sqlalchemy.orm import ColumnProperty, Session

from models.audit import AuditLog
from models.base import AuditedMixin, current_actor_id, utcnow



_INSERT = AuditLog.__table__.insert()  # built once: SQLAlchemy keeps its cache key


def _plain(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(old, new) -> bool:
    """Equal as a person reads them: None and "" are both empty, and a JSON object's empty
    values are no values (a re-saved form writes them where nothing was stored)."""
    if isinstance(old, dict) or isinstance(new, dict):
        old, new = ({k: v for k, v in (d or {}).items() if not _empty(v)}
                    if isinstance(d, dict) or d is None else d for d in (old, new))
    return old == new or (_empty(old) and _empty(new))


def _changes(obj, action: str) -> dict:
    state = inspect(obj)
    out = {}
    exclude = set(getattr(obj, "__audit_exclude__", ()))
    if action == "update":
        # An attribute never set since the load has no history: only the others are asked.
        exclude |= state.unmodified
    for attr in state.mapper.column_attrs:
        if not isinstance(attr, ColumnProperty) or attr.key in exclude:
            continue
        hist = state.attrs[attr.key].history
        if action == "insert":
            value = getattr(obj, attr.key)
            if value is not None:
                out[attr.key] = [None, _plain(value)]
        elif action == "delete":
            value = hist.unchanged[0] if hist.unchanged else (hist.deleted[0] if hist.deleted
                                                              else None)
            if value is not None:
                out[attr.key] = [_plain(value), None]
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if not _same(old, new):
                out[attr.key] = [_plain(old), _plain(new)]
    return out


def _after_flush(session: Session, _context) -> None:
    rows = []
    actor = current_actor_id()
    for action, objs in (("insert", session.new), ("update", session.dirty),
                         ("delete", session.deleted)):
        for obj in objs:
            if not isinstance(obj, AuditedMixin):
                continue
            # An update with no changed column writes no row (_changes is then empty).
            changes = _changes(obj, action)
            if action == "update" and not changes:
                continue
            rows.append({"at": utcnow(), "user_id": actor, "action": action,
                         "entity": obj.__entity__, "record_id": obj.id,
                         "record_repr": str(obj)[:300], "changes": changes})
    if rows:
        session.connection().execute(_INSERT, rows)


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "after_flush", _after_flush)
