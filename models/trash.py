"""The recycle bin («Корзина»): one batch per deletion, and the rule that hides what is in it.

Deleting a business record (lead, deal, order, event, task, company, contact) moves it to
the bin together with its tasks and files (process/trash.py): one `TrashBatch` row, and the
batch's id and time on each of them (`TrashableMixin`). The rows stay where they are, so a
restore brings back the same ids, history and links. `install()` adds "not in the bin" to
every ORM SELECT of the application, so lists, record pages, the API, pickers, counts,
exports, widgets and jobs stop seeing binned rows without each reader knowing about the
bin. The few readers that must see them (the bin itself, restore, purge, the checks that
keep keys unique) ask with `.execution_options(**SHOW_BINNED)`."""
from __future__ import annotations

import datetime as dt
import re
import weakref

from flask import current_app
from sqlalchemy import DateTime, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, with_loader_criteria

from models.base import Model, TrashableMixin, TrashChildMixin, utcnow
from models.registry import entity_label

SHOW_BINNED = {"crm_show_binned": True}
DEFAULT_RETENTION_DAYS = 30
# Audit log actions of the bin (models/audit.py shows them in words).
TRASH, RESTORE, PURGE = "trash", "restore", "purge"


def retention_days() -> int:
    """TRASH_RETENTION_DAYS: how long a batch may be restored before it is purged."""
    return int(current_app.config.get("TRASH_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


class TrashBatch(Model):
    """What one deletion moved to the bin: the record a person deleted (entity, id) and, with
    it, its tasks and files. Kept until restored or purged; the audit log keeps the story."""

    __tablename__ = "trash_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # The record's name when it was deleted: the bin lists it without loading the record.
    title: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    # What went with it, in words: "2 задачи, 1 файл".
    summary: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    deleted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    index=True)
    deleted_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                      nullable=True, index=True)

    deleted_by = relationship("CrmUser", foreign_keys=[deleted_by_id])

    @property
    def kind_label(self) -> str:
        return entity_label(self.entity)

    @property
    def purge_at(self) -> dt.datetime:
        """When the daily purge deletes it for good (and until when it may be restored)."""
        return self.deleted_at + dt.timedelta(days=retention_days())

    def __str__(self) -> str:
        return f"{self.kind_label} «{self.title}»"


_NOT_BINNED = with_loader_criteria(TrashableMixin, lambda cls: cls.deleted_at.is_(None),
                                   include_aliases=True)
# [(option, names of the tables it filters)], built once every model is mapped.
_criteria: list = []
# {cache key of a SELECT without the bin's criteria: the options its SQL needs}. Most
# statements name no binnable entity (a stage, a user, the schedule, the history) or one
# kind of them: each execution adds only what changes its SQL, and what a statement is
# made of is examined once per statement shape.
_NEEDED: dict = {}
_MAX_SHAPES = 4096
# {statement: the same with its criteria}: a statement built once and run again (a module's
# prebuilt query) gets them once, and SQLAlchemy keeps the cache key of that copy with it.
# Weak: a statement built for one execution leaves with it.
_HIDDEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _all_criteria() -> list:
    """The options once per process, when every model is mapped: a child's criteria is a
    subquery on its parent's table, built from the relationship it names."""
    if not _criteria:
        mappers = list(Model.registry.mappers)
        _criteria.append((_NOT_BINNED, frozenset(
            t.name for m in mappers if issubclass(m.class_, TrashableMixin) for t in m.tables)))
        _criteria.extend(
            (with_loader_criteria(m.class_, m.class_.parent_not_binned(), include_aliases=True),
             frozenset(t.name for t in m.tables))
            for m in mappers if issubclass(m.class_, TrashChildMixin))
    return _criteria


def trash_words(changes: dict | None) -> str:
    """The audit screen's words for a bin row: what went to the bin with the record, or
    the record a task or a file went with."""
    changes = changes or {}
    parts = []
    for key, text in (("with", "Вместе с записью: {}"),
                      ("part_of", "Относится к записи: {}")):
        pair = changes.get(key)
        value = next((v for v in pair if v), None) if isinstance(pair, list) else None
        if value:
            parts.append(text.format(value))
    return "; ".join(parts)


def _hide_binned(state) -> None:
    # Column loads refresh an object already in hand (after a commit expired it): the
    # object must stay loadable even when it was binned in this very transaction.
    if not state.is_select or state.is_column_load or \
            state.execution_options.get("crm_show_binned"):
        return
    statement = state.statement
    try:
        hidden = _HIDDEN.get(statement)
    except TypeError:  # a statement that takes no weak reference is never kept
        hidden = None
    if hidden is not None:
        state.statement = hidden
        return
    # SQLAlchemy's own (private) cache key, which it computes anyway to find the compiled
    # statement and keeps on the statement: its shape without its parameter values.
    cache_key = statement._generate_cache_key()
    if cache_key is None:  # a statement SQLAlchemy does not cache
        state.statement = statement.options(*(option for option, _ in _all_criteria()))
        return
    needed = _NEEDED.get(cache_key.key)
    if needed is None:
        needed = _needed_criteria(statement,
                                  state.session.get_bind(**state.bind_arguments).dialect)
        if len(_NEEDED) >= _MAX_SHAPES:
            _NEEDED.clear()
        _NEEDED[cache_key.key] = needed
    if needed:
        state.statement = statement.options(*needed)
        try:
            _HIDDEN[statement] = state.statement
        except TypeError:
            pass


def _needed_criteria(statement, dialect) -> tuple:
    """The options that change what `statement` sends to the database: a binnable entity's
    criteria do exactly when the statement (a join, a subquery, an eager load) reads it.
    Decided on the SQL itself, so the answer holds whatever the statement is made of: the
    options of the tables the plain SQL names, when they give the SQL all options give."""
    every = tuple(option for option, _ in _all_criteria())
    try:
        plain = str(statement.compile(dialect=dialect))
        hidden = str(statement.options(*every).compile(dialect=dialect))
        if plain == hidden:
            return ()
        names = set(re.findall(r"\w+", plain))
        some = tuple(option for option, tables in _all_criteria() if tables & names)
        if some != every and \
                str(statement.options(*some).compile(dialect=dialect)) == hidden:
            return some
    except Exception:  # noqa: BLE001 - cannot tell: hide, as before
        pass
    return every


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "do_orm_execute", _hide_binned)
