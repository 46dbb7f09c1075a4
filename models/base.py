"""Shared columns and behaviours of business records."""
from __future__ import annotations

import contextvars
import datetime as dt

from flask import g, has_request_context
from flask_login import current_user
from flask_appbuilder.models.sqla import Model
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["Model", "utcnow", "TimestampMixin", "AuditedMixin", "VersionedMixin",
           "OwnedMixin", "RecordLinkMixin", "TrashableMixin", "TrashChildMixin",
           "current_actor_id", "acting_as", "acting_user", "in_rows"]

# Who is acting when no request is present (CLI, jobs, tests): set with `acting_as`.
_actor: contextvars.ContextVar[int | None] = contextvars.ContextVar("crm_actor", default=None)


def utcnow() -> dt.datetime:
    """Naive UTC: the database stores UTC; the screens convert to TIMEZONE."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def acting_user():
    """The signed-in user of the current request, whichever way they signed in; None outside
    a request or for an anonymous one.

    The one answer to "who is the current user": with a bearer token flask-login's
    `current_user` stays anonymous and Flask-AppBuilder puts the token's user in `g.user`
    only, so code reading `current_user` alone took a token's request for the system."""
    if not has_request_context():
        return None
    for user in (g.get("user"), current_user):
        if user is not None and getattr(user, "is_authenticated", False):
            # g.user is flask-login's proxy under a cookie: hand out the user itself.
            return getattr(user, "_get_current_object", lambda: user)()
    return None


def current_actor_id() -> int | None:
    """Whom a write is attributed to: `acting_as` if set, else the request's user."""
    explicit = _actor.get()
    if explicit is not None:
        return explicit
    user = acting_user()
    return user.id if user is not None else None


class acting_as:
    """Context manager: attribute writes made inside to this user id (0/None: the system)."""

    def __init__(self, user_id: int | None):
        self.user_id = user_id

    def __enter__(self):
        self._token = _actor.set(self.user_id)
        return self

    def __exit__(self, *exc):
        _actor.reset(self._token)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    # True on records whose row rule shows them to their creator: the rule filters on it.
    __index_creator__: bool = False

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(Integer, ForeignKey("ab_user.id"), default=current_actor_id,
                             nullable=True, index=cls.__index_creator__)


class AuditedMixin:
    """Every insert, update and delete of this model is written to the audit log.

    `__entity__` is the stable key of the entity (used by links, timeline, access rules);
    `__label__` its Russian name."""

    __entity__: str = ""
    __label__: str = ""
    __audit_exclude__: tuple[str, ...] = ("updated_at", "version")

    def __str__(self) -> str:  # pragma: no cover - overridden by models
        return f"{self.__label__} №{getattr(self, 'id', '')}"


class VersionedMixin:
    """Optimistic locking: SQLAlchemy checks `version` in every UPDATE."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}


class OwnedMixin:
    """A record with a responsible user; row rules use it."""

    @declared_attr
    def responsible_id(cls) -> Mapped[int | None]:
        return mapped_column(Integer, ForeignKey("ab_user.id"), nullable=True, index=True)


class RecordLinkMixin:
    """A link to any business record by (entity key, id), e.g. "created on the basis of"."""

    @declared_attr
    def record_entity(cls) -> Mapped[str | None]:
        return mapped_column(String(32), nullable=True, index=True)

    @declared_attr
    def record_id(cls) -> Mapped[int | None]:
        return mapped_column(Integer, nullable=True, index=True)


class CheckedMixin:
    """Business checks shared by the form (at each field) and the API (422 by field).

    `check_values(values)` reads attributes of `values` (the record or a form) and returns
    {field: Russian message}; `__checked_fields__` names the fields it may complain about."""

    __checked_fields__: tuple[str, ...] = ()

    @classmethod
    def check_values(cls, values) -> dict[str, str]:
        return {}

    def check(self) -> dict[str, str]:
        return type(self).check_values(self)


class TrashableMixin:
    """A record deleted by a person goes to the recycle bin («Корзина», models/trash.py):
    `deleted_at` hides it from every query of the application until it is restored or
    purged; `trash_batch_id` names the batch it went there with (the record, its tasks and
    its files are restored or purged together)."""

    @declared_attr
    def deleted_at(cls) -> Mapped[dt.datetime | None]:
        return mapped_column(DateTime, nullable=True, index=True)

    @declared_attr
    def trash_batch_id(cls) -> Mapped[int | None]:
        return mapped_column(Integer, ForeignKey("trash_batch.id"), nullable=True, index=True)

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None


class TrashChildMixin:
    """A row that lives and dies with its parent record (a deal's line items, an event's
    contact rows): hidden while the parent is in the bin, purged with it.
    `__trash_parent__` names the many-to-one relationship to the parent."""

    __trash_parent__: str = ""

    @classmethod
    def parent_not_binned(cls):
        """SQL: the row's parent record is not in the bin. The subquery reads the parent's
        table, not its class, so the bin's own criteria (models/trash.py) do not empty it."""
        rel = sa_inspect(cls).relationships[cls.__trash_parent__]
        (fk,) = rel.local_columns
        parent = rel.mapper.local_table
        return fk.not_in(select(parent.c.id).where(parent.c.deleted_at.is_not(None)))


# --- row rules -----------------------------------------------------------------------------

class _InRows(ColumnElement):
    """`column IN (subquery)`, written for PostgreSQL as `column = ANY(ARRAY(subquery))`.

    A row rule ORs a few conditions (responsible, creator, observer, a reader's task...).
    PostgreSQL evaluates an `IN (subquery)` arm as a hashed subplan on every row, so the
    whole OR reads the table; `= ANY(ARRAY(...))` runs the subquery once and is an index
    condition, so the OR becomes a BitmapOr of index scans. Other databases get the IN."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it is, not `... = 1` where no booleans
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("rows", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, rows):
        self.column = column
        self.rows = rows.scalar_subquery()


@compiles(_InRows)
def _in_rows(element, compiler, **kw):
    return compiler.process(element.column.in_(element.rows.element), **kw)


@compiles(_InRows, "postgresql")
def _in_rows_postgresql(element, compiler, **kw):
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY" \
           f"{compiler.process(element.rows, **kw)})"


def in_rows(column, rows):
    """`column` is one of the values the (small) select `rows` returns: for the subqueries
    of row rules (see _InRows)."""
    return _InRows(column, rows)
