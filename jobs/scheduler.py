"""The scheduler: each tick claims the schedule rows that fell due and the outbox messages
waiting for delivery, commits the claim, then hands their ids to workers in batches.

The database is the source of truth: a claimed row is "enqueued" with the time it was
handed over; one whose job vanished (Redis flushed, worker killed) is handed over again
after JOB_LEASE_SECONDS, or at once when the Redis epoch key is gone. After downtime the
first tick finds everything missed. Safe to run twice at once: PostgreSQL claims with
FOR UPDATE SKIP LOCKED; SQLite, which has one writer anyway, takes a file lock."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, or_, select, update

from app.extensions import db
from jobs import queues, tasks
from jobs.runner import get_runner
from models.base import utcnow
from models.outbox import OutboxMessage, OutboxStatus
from models.schedule import ScheduledAction, ScheduleStatus

log = logging.getLogger("crm.scheduler")
_thread_lock = threading.Lock()


@dataclass
class TickResult:
    schedule: int = 0
    outbox: int = 0
    skipped: bool = False  # another scheduler holds the SQLite lock

    @property
    def total(self) -> int:
        return self.schedule + self.outbox


def _config(name: str, default):
    return type(default)(current_app.config.get(name, default))


@contextlib.contextmanager
def _single_writer():
    """SQLite: one scheduler at a time across processes (a lock file beside the database);
    PostgreSQL needs none, its row locks do the work."""
    if db.engine.dialect.name != "sqlite":
        yield True
        return
    database = db.engine.url.database
    if not database or database == ":memory:":
        with _thread_lock:
            yield True
        return
    path = Path(f"{database}.scheduler.lock")
    with _thread_lock, open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _claim(model, due_condition, now: dt.datetime, lost: bool, limit: int) -> list:
    """Marks up to `limit` rows "enqueued" and returns (id[, kind]) of those it marked.
    The UPDATE repeats the condition: a row a worker finished, an admin cancelled or a
    date change rescheduled between the SELECT and the UPDATE is left alone (SQLite takes
    its write lock only at the UPDATE; PostgreSQL has locked the rows already)."""
    lease = now - dt.timedelta(seconds=_config("JOB_LEASE_SECONDS", 120))
    stale = model.status.in_((ScheduleStatus.enqueued.value, OutboxStatus.sending.value))
    if not lost:
        stale = and_(stale, or_(model.enqueued_at.is_(None), model.enqueued_at < lease))
    ready = and_(model.status == "pending", due_condition,
                 or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now))
    # A row held for a record in the recycle bin waits for the restore (process/trash.py).
    condition = and_(or_(ready, stale), model.trash_batch_id.is_(None))
    query = select(model.id).where(condition).order_by(model.id).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=model)
    ids = list(db.session.scalars(query))
    if not ids:
        return []
    table = model.__table__
    returning = [table.c.id] + ([table.c.kind] if "kind" in table.c else [])
    return sorted(db.session.execute(
        update(table).where(table.c.id.in_(ids), condition)
        .values(status=ScheduleStatus.enqueued.value, enqueued_at=now).returning(*returning)))


def _chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def tick(now: dt.datetime | None = None, runner=None) -> TickResult:
    """One pass. Returns how many rows were handed over."""
    runner = runner or get_runner()
    result = TickResult()
    limit = _config("SCHEDULER_MAX_CLAIM", 5000)
    batch = _config("JOB_BATCH_SIZE", 100)
    with _single_writer() as mine:
        if not mine:
            result.skipped = True
            return result
        now = now or utcnow()
        lost = runner.lost_jobs()
        try:
            due = _claim(ScheduledAction, ScheduledAction.due_at <= now, now, lost, limit)
            outbox = _claim(OutboxMessage, OutboxMessage.id.isnot(None), now, lost, limit)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        if not due and not outbox:
            if lost:
                runner.mark_epoch()
            return result
        # Before the jobs: if Redis loses them, it loses the mark with them.
        runner.mark_epoch()
        handed = []
        try:
            for ids in _chunks([r[0] for r in due], batch):
                runner.enqueue(queues.SCHEDULE, tasks.run_scheduled, ids)
                handed.append((ScheduledAction, ids))
                result.schedule += len(ids)
            by_queue: dict[str, list[int]] = {}
            for row_id, kind in outbox:
                by_queue.setdefault(queues.OUTBOX_QUEUE.get(kind, queues.NOTIFICATIONS),
                                    []).append(row_id)
            for queue, ids_all in by_queue.items():
                for ids in _chunks(ids_all, batch):
                    runner.enqueue(queue, tasks.deliver_outbox, ids)
                    handed.append((OutboxMessage, ids))
                    result.outbox += len(ids)
        except Exception:
            _release_unhanded(due, outbox, handed)
            raise
    return result


def _release_unhanded(due, outbox, handed) -> None:
    """Redis refused mid-way: what was not handed over goes back to pending at once rather
    than waiting for the lease."""
    db.session.rollback()
    done = {(model, i) for model, ids in handed for i in ids}
    for model, rows in ((ScheduledAction, due), (OutboxMessage, outbox)):
        back = [r[0] for r in rows if (model, r[0]) not in done]
        if back:
            db.session.execute(update(model).where(model.id.in_(back),
                                                   model.status == "enqueued")
                               .values(status=ScheduleStatus.pending.value, enqueued_at=None)
                               .execution_options(synchronize_session=False))
    db.session.commit()
    log.warning("Redis refused the jobs; %s rows back to pending",
                sum(len(r) for r in (due, outbox)) - len(done))


def run_forever(interval: float = 1.0, stop: threading.Event | None = None,
                wake: threading.Event | None = None, runner=None) -> None:
    """The scheduler loop (`flask crm scheduler`, or the embedded thread). A failed tick is
    logged and retried on the next one: a database or Redis outage must not end the loop."""
    stop = stop or threading.Event()
    while not stop.is_set():
        handed = 0
        try:
            handed = tick(runner=runner).total
        except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
            log.exception("scheduler tick failed")
            db.session.rollback()
        finally:
            db.session.remove()
        if handed:
            continue  # more may be due: no sleep while there is a backlog
        if wake is not None:
            wake.wait(interval)  # a commit with new work wakes it early
            wake.clear()
        else:
            stop.wait(interval)
