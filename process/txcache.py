"""Reads a transaction repeats, kept until it ends: a move asks for a role's members (the
assignee, the creator, the responsible) and for the record's files (the plan, then again
after an effect changed the record) several times.

A kept answer is given only while it is the answer the database would give: it is kept in
the session (`Session.info`, one request's, job's or command's), forgotten when the
transaction ends (commit, rollback, close, a savepoint's release or rollback), after a
flush that wrote one of its models, and after a bulk write to one of its tables (or any
statement that is no SELECT and names no table). While an object of its models is added,
changed or deleted and not flushed yet, the database answers, as it did before.

A read of a few tables alone (these, and those of `reading()`: the open stage history, an
effect's key) flushes the session first only while an object of those tables waits to be
flushed: its answer cannot depend on the others (no flush of this product writes these
tables), and the next statement that may depend on them flushes them all the same. A move
so flushes its record once per step (the stage, the effects, the commit), not at each read.
"""
from __future__ import annotations

from itertools import chain
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db

_INFO_KEY = "crm_transaction_cache"


class TransactionCache:
    """Answers of one kind of read by key (a role's name, a record), for one transaction:
    `models` are what the read reads, `tables` their tables (association tables too)."""

    def __init__(self, name: str, models: tuple, tables: frozenset[str]):
        self.name = name
        self.models = models  # their pending objects: the database answers
        self.tables = tables  # a bulk write to one of them forgets what is kept
        _CACHES.append(self)

    def get(self, key, read: Callable):
        """`read()`'s answer for `key`, read once per transaction."""
        session = db.session()
        pending = self.pending(session)
        kept = session.info.get(_INFO_KEY, {}).get(self.name, {})
        if not pending and key in kept:
            return kept[key]
        value = read() if pending else _unflushed(session, read)
        # Read after the query: its autoflush may have forgotten what was kept.
        session.info.setdefault(_INFO_KEY, {}).setdefault(self.name, {})[key] = value
        return value

    def pending(self, session, objects=None) -> bool:
        if objects is None:
            objects = chain(session.new, session.dirty, session.deleted)
        return any(isinstance(obj, self.models) for obj in objects)

    def forget(self, session) -> None:
        session.info.get(_INFO_KEY, {}).pop(self.name, None)


_CACHES: list[TransactionCache] = []


def reading(models: tuple, read: Callable):
    """`read()`, a read of `models`' tables alone: it flushes the session first (autoflush)
    only while an object of them waits to be flushed, as its answer cannot depend on the
    others."""
    session = db.session()
    if any(isinstance(obj, models)
           for obj in chain(session.new, session.dirty, session.deleted)):
        return read()
    return _unflushed(session, read)


def _unflushed(session, read: Callable):
    autoflush, session.autoflush = session.autoflush, False  # as Session.no_autoflush
    try:
        return read()
    finally:
        session.autoflush = autoflush


def _forget_all(session, *_args) -> None:
    session.info.pop(_INFO_KEY, None)


def _at_transaction_end(session, transaction) -> None:
    # A flush runs in a subtransaction of its own: its end is no end of the transaction.
    if transaction.parent is None or transaction.nested:
        _forget_all(session)


def _after_flush(session, _flush_context) -> None:
    kept = session.info.get(_INFO_KEY)
    if not kept:
        return
    # after_flush still lists what was flushed
    flushed = list(chain(session.new, session.dirty, session.deleted))
    for cache in _CACHES:
        if cache.name in kept and cache.pending(session, flushed):
            cache.forget(session)


def _on_write(state) -> None:
    if state.is_select or _INFO_KEY not in state.session.info:
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    for cache in _CACHES:
        if table is None or table in cache.tables:
            cache.forget(state.session)


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "after_transaction_end", _at_transaction_end)
    event.listen(Session, "after_soft_rollback", _forget_all)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_write)
