"""The scheduler: each tick claims the schedule rows that fell due and the outbox messages
waiting for delivery, hands their ids to workers in batches, then commits the claim.

The database is the source of truth: a claimed row is "enqueued" with the time it was
handed over. One whose job vanished is handed over again: within a pass or two when Redis
lost it (flushed or restarted, jobs/runner.py: the epoch), within seconds when the worker
running it died (its heartbeat stops, jobs/worker.py), after JOB_LEASE_SECONDS otherwise.
After downtime the first tick finds everything missed. Safe to run twice at once:
PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite, which has one writer anyway, takes a
file lock."""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from app.extensions import db
from jobs import queues, tasks
from jobs.runner import Batch, get_runner
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
    full: bool = False  # a claim reached SCHEDULER_MAX_CLAIM: more is waiting

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


def _claim(model, condition, limit: int, now: dt.datetime) -> list:
    """Marks up to `limit` rows matching `condition` "enqueued" and returns (id[, kind]) of
    those it marked. The UPDATE repeats the condition: a row a worker finished, an admin
    cancelled or a date change rescheduled between the SELECT and the UPDATE is left alone
    (SQLite takes its write lock only at the UPDATE; PostgreSQL has locked the rows already)."""
    if limit <= 0:
        return []
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


def _waiting(model, due_condition, now: dt.datetime, lost_before) -> object:
    """Rows to hand over: due and pending, or handed over to a job that is gone. An
    "enqueued" row's job is gone after the lease, or when Redis lost it (enqueued before
    `lost_before`). A message being sent keeps its claim until the send can no longer be
    running (RQ stops a job after JOB_TIMEOUT): only then is it handed over again, and a
    copy may reach the recipient (with the same Message-ID, which mail clients drop)."""
    lease = _config("JOB_LEASE_SECONDS", 120)
    sending_for = max(lease, _config("JOB_TIMEOUT", 90))
    unclaimed = model.enqueued_at.is_(None)
    expired = [unclaimed, model.enqueued_at < now - dt.timedelta(seconds=lease)]
    if lost_before is not None:
        expired.append(model.enqueued_at < lost_before)
    stale = and_(model.status == ScheduleStatus.enqueued.value, or_(*expired))
    stale_sending = and_(model.status == OutboxStatus.sending.value, or_(
        unclaimed, model.enqueued_at < now - dt.timedelta(seconds=sending_for)))
    ready = and_(model.status == "pending", due_condition,
                 or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now))
    # A row held for a record in the recycle bin waits for the restore (process/trash.py).
    return and_(or_(ready, stale, stale_sending), model.trash_batch_id.is_(None))


# What the jobs of each kind carry: ids of this model.
_JOB_MODELS = {f"{tasks.run_scheduled.__module__}.{tasks.run_scheduled.__name__}":
               ScheduledAction,
               f"{tasks.deliver_outbox.__module__}.{tasks.deliver_outbox.__name__}":
               OutboxMessage}


def _claim_model(model, due_condition, now, lost_before, abandoned, limit) -> list:
    """The rows of abandoned jobs first (a handful of batches), then what is waiting."""
    ids = sorted({i for job in abandoned if _JOB_MODELS.get(job.func_name) is model
                  for i in job.ids})
    taken = _claim(model, and_(model.id.in_(ids),
                               model.status == ScheduleStatus.enqueued.value),
                   len(ids), now) if ids else []
    taken += _claim(model, _waiting(model, due_condition, now, lost_before),
                    limit - len(taken), now)
    return sorted(set(taken))


def _settled(abandoned, due, outbox) -> list:
    """The abandoned jobs whose every row was just claimed or is past "enqueued": RQ may
    forget them. One whose row another scheduler holds locked waits for the next pass."""
    claimed = {ScheduledAction: {r[0] for r in due}, OutboxMessage: {r[0] for r in outbox}}
    settled = []
    for job in abandoned:
        model = _JOB_MODELS.get(job.func_name)
        rest = [i for i in job.ids if i not in claimed.get(model, set())]
        if model is None or not rest or not db.session.scalar(
                select(func.count()).select_from(model)
                .where(model.id.in_(rest), model.status == ScheduleStatus.enqueued.value)):
            settled.append(job)
    return settled


def _batches(due, outbox, size: int, abandoned) -> list[Batch]:
    """The jobs of the pass. Those of a dead worker's rows go to the front of their queue:
    their rows have waited longest. Documents go in small jobs: each takes CPU time, and a
    batch of invoices is shared by every documents worker instead of waiting for one."""
    again = {(_JOB_MODELS.get(job.func_name), i) for job in abandoned for i in job.ids}
    by_queue: dict[tuple, list[int]] = {}
    for model, rows in ((ScheduledAction, due), (OutboxMessage, outbox)):
        func = tasks.run_scheduled if model is ScheduledAction else tasks.deliver_outbox
        for row in rows:
            queue = (queues.SCHEDULE if model is ScheduledAction
                     else queues.OUTBOX_QUEUE.get(row[1], queues.NOTIFICATIONS))
            by_queue.setdefault((queue, func, (model, row[0]) in again), []).append(row[0])
    return [Batch(queue, func, ids, at_front=front)
            for (queue, func, front), ids_all in by_queue.items()
            for ids in _chunks(ids_all, size if queue != queues.DOCUMENTS
                               else _config("DOCUMENT_JOB_SIZE", 4))]


def _chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def tick(now: dt.datetime | None = None, runner=None) -> TickResult:
    """One pass. Returns how many rows were handed over."""
    runner = runner or get_runner()
    result = TickResult()
    limit = _config("SCHEDULER_MAX_CLAIM", 5000)
    size = _config("JOB_BATCH_SIZE", 100)
    with _single_writer() as mine:
        if not mine:
            result.skipped = True
            return result
        # The clock is read after the epoch: rows claimed now are stamped at or after the
        # moment a loss was noticed, never taken for lost themselves.
        lost_before = runner.lost_before()
        abandoned = runner.abandoned()
        now = now or utcnow()
        try:
            due = _claim_model(ScheduledAction, ScheduledAction.due_at <= now, now,
                               lost_before, abandoned, limit)
            outbox = _claim_model(OutboxMessage, OutboxMessage.id.isnot(None), now,
                                  lost_before, abandoned, limit)
            batches = _batches(due, outbox, size, abandoned)
            if not runner.inline:
                # Before the commit: a scheduler that dies between the two leaves the rows
                # pending (the database drops the claim) while their jobs, if already in
                # Redis, find them pending and run them. Committed first, the rows would
                # stay "enqueued" with no job until the lease ran out.
                runner.hand_over(batches, _settled(abandoned, due, outbox))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        if runner.inline:
            _run_inline(runner, batches, due, outbox)
    result.schedule, result.outbox = len(due), len(outbox)
    result.full = max(len(due), len(outbox)) >= limit
    return result


def _run_inline(runner, batches: list[Batch], due, outbox) -> None:
    handed = []
    try:
        for batch in batches:
            runner.run(batch)
            handed.append(batch)
    except Exception:
        _release_unhanded(due, outbox, handed)
        raise


def _release_unhanded(due, outbox, handed: list[Batch]) -> None:
    """A job failed mid-way in embedded mode: what was not run yet goes back to pending at
    once rather than waiting for the lease."""
    db.session.rollback()
    done = {(batch.func, i) for batch in handed for i in batch.ids}
    back_by_model = (
        (ScheduledAction, [r[0] for r in due if (tasks.run_scheduled, r[0]) not in done]),
        (OutboxMessage, [r[0] for r in outbox if (tasks.deliver_outbox, r[0]) not in done]))
    for model, back in back_by_model:
        if back:
            db.session.execute(update(model).where(model.id.in_(back),
                                                   model.status == "enqueued")
                               .values(status=ScheduleStatus.pending.value, enqueued_at=None)
                               .execution_options(synchronize_session=False))
    db.session.commit()
    log.warning("a job failed in process; %s rows back to pending",
                sum(len(back) for _m, back in back_by_model))


def run_forever(interval: float = 1.0, stop: threading.Event | None = None,
                wake: threading.Event | None = None, runner=None) -> None:
    """The scheduler loop (`flask crm scheduler`, or the embedded thread). A failed tick is
    logged and retried on the next one: a database or Redis outage must not end the loop."""
    stop = stop or threading.Event()
    while not stop.is_set():
        backlog = False
        try:
            backlog = tick(runner=runner).full
        except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
            log.exception("scheduler tick failed")
            db.session.rollback()
        finally:
            db.session.remove()
        if backlog:
            continue  # no sleep while a claim leaves rows behind
        # Everything due is handed over: the next pass after the pause. Looping at once
        # would hand a steady stream over a row or two per job, and the workers would
        # spend their time on the jobs rather than on the rows.
        if wake is not None:
            wake.wait(interval)  # a commit with new work wakes it early
            wake.clear()
        else:
            stop.wait(interval)
