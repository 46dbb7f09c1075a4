"""Job functions: module level, they take ids and assume no request. One job carries many
rows; each row is its own transaction, so one bad row never holds back the others.

A row runs once: it is locked (PostgreSQL) and its status checked before it runs, and every
effect it writes has a unique key, so a second delivery of the same job (a retry, a
re-enqueue after Redis lost it, two schedulers) finds the work done and does nothing.
A failure is recorded on the row (attempts, last error) and retried with backoff until
JOB_MAX_ATTEMPTS, then the row is "failed" and shown on the admin screens."""
from __future__ import annotations

import contextlib
import datetime as dt
import logging

from flask import current_app, has_app_context
from sqlalchemy import select

from rq.timeouts import JobTimeoutException

from app import create_app
from app.extensions import db
from errors import DocumentRefused, PermanentJobError
from jobs.actions import run_row
from documents.render import render_pdf
from documents.sandbox import TemplateError
from jobs.delivery import deliver, held, leaves_the_building, send_external
from process import documents as document_service
from models.base import utcnow
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction

log = logging.getLogger("crm.jobs")
_worker_app = None


@contextlib.contextmanager
def app_context():
    """Workers started by `flask crm worker` already have the app; a bare `rq worker` gets
    one app per process, made on the first job. Each row commits, so the session holds
    nothing stale between jobs."""
    global _worker_app
    if has_app_context():
        yield
        return
    if _worker_app is None:
        _worker_app = create_app()
    with _worker_app.app_context():
        yield


def backoff(attempts: int) -> dt.timedelta:
    base = float(current_app.config.get("JOB_RETRY_BASE_SECONDS", 30))
    cap = float(current_app.config.get("JOB_RETRY_MAX_SECONDS", 3600))
    return dt.timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))


def _lock(model, ids) -> list:
    # populate_existing: a row already in the session (deliver_outbox looks at its kind
    # first) is read again under the lock, not taken as it was before another copy of the
    # job sent it.
    query = (select(model).where(model.id.in_(list(ids))).order_by(model.id)
             .execution_options(populate_existing=True))
    if db.engine.dialect.name == "postgresql":
        # A second copy of the job waits for the first and then finds the rows done. Not
        # SKIP LOCKED: a row briefly locked by a web transaction would be skipped and wait
        # for the lease.
        query = query.with_for_update()
    return list(db.session.scalars(query))


def _runnable(row, now: dt.datetime, due_at) -> bool:
    if row.trash_batch_id is not None:
        return False  # held since it was handed over: its record went to the recycle bin
    if due_at > now:
        return False  # its date moved later after it was handed over
    if row.status == "enqueued":
        return True
    # Embedded retries and a job that outlived its lease find the row back at pending.
    return (row.status == "pending"
            and (row.next_attempt_at is None or row.next_attempt_at <= now))


def _record_failure(row, exc: Exception) -> None:
    row.attempts = (row.attempts or 0) + 1
    row.last_error = (getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")[:2000]
    limit = int(current_app.config.get("JOB_MAX_ATTEMPTS", 5))
    if isinstance(exc, PermanentJobError) or row.attempts >= limit:
        row.status = "failed"
        row.next_attempt_at = None
    else:
        row.status = "pending"
        row.next_attempt_at = utcnow() + backoff(row.attempts)
    row.enqueued_at = None


def _begin_sqlite() -> None:
    """pysqlite opens no transaction before a SAVEPOINT, so releasing a row's savepoint
    would commit that row alone and the batch would not be one transaction. Taking the
    write lock up front also keeps two SQLite workers from running the same row at once
    (PostgreSQL has the row locks of `_lock` for that)."""
    if db.engine.dialect.name != "sqlite":
        return
    raw = db.session.connection().connection.dbapi_connection
    if not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def _each(model, ids, due_of, run) -> dict:
    """The batch in one transaction, each row in a savepoint: one commit for many small
    rows, a failing row rolls back alone, and a worker killed mid-batch leaves every row
    of it as it was (the scheduler hands the batch over again after the lease)."""
    counts = {"done": 0, "skipped": 0, "failed": 0}
    now = utcnow()
    try:
        _begin_sqlite()
        rows = _lock(model, ids)
        counts["skipped"] = len(set(ids)) - len(rows)
        for row in rows:
            if not _runnable(row, now, due_of(row)):
                counts["skipped"] += 1
                continue
            try:
                with db.session.begin_nested():
                    run(row, now)
                counts["done"] += 1
            except JobTimeoutException:
                raise  # RQ stops the job: the batch rolls back and is handed over again
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                log.warning("%s %s failed: %s", model.__tablename__, row.id, exc)
                _record_failure(row, exc)
                counts["failed"] += 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return counts


def run_scheduled(ids: list[int]) -> dict:
    """Runs due schedule rows: reminders, delayed and repeated actions, deadlines."""
    with app_context():
        return _each(ScheduledAction, ids, lambda row: row.due_at, run_row)


def deliver_outbox(ids: list[int]) -> dict:
    """Delivers outbox messages: in-app notifications, e-mail, SMS."""
    with app_context():
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for row_id in ids:
            row = db.session.get(OutboxMessage, row_id)
            if row is not None and row.kind == "document":
                counts[_render_outside_transaction(row_id)] += 1
                continue
            if row is not None and leaves_the_building(row):
                outcome = _send_outside_transaction(row_id)
                counts[outcome] += 1
                continue
            for key, value in _each(OutboxMessage, [row_id], lambda row: row.created_at,
                                    deliver).items():
                counts[key] += value
        return counts


def _claim(row_id: int, now) -> OutboxMessage | None:
    """Marks the row "sending" and commits, so a second copy of the job skips it."""
    _begin_sqlite()
    rows = _lock(OutboxMessage, [row_id])
    if not rows or not _runnable(rows[0], now, rows[0].created_at):
        db.session.rollback()
        return None
    rows[0].status, rows[0].enqueued_at = "sending", now
    db.session.commit()
    return db.session.get(OutboxMessage, row_id)


def _render_outside_transaction(row_id: int) -> str:
    """A document: claimed, its input read in a short transaction, rendered with no
    transaction open (seconds of CPU must not hold SQLite's write lock), then stored with
    the row marked sent in one transaction."""
    now = utcnow()
    try:
        message = _claim(row_id, now)
        if message is None:
            return "skipped"
        version_id = message.document_version_id
        error = pdf = job = None
        try:
            job = document_service.render_input(version_id)
            db.session.rollback()
            if job is not None:
                pdf = render_pdf(job.source, job.context)
        except JobTimeoutException:
            raise
        except (TemplateError, DocumentRefused) as exc:
            # the template or the record, not the moment: retrying makes the same error
            error = PermanentJobError(str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
            error = exc
        db.session.rollback()
        _begin_sqlite()
        [row] = _lock(OutboxMessage, [row_id])
        if error is not None:
            log.warning("document outbox %s failed: %s", row_id, error)
            _record_failure(row, error)
            if row.status == "failed":
                document_service.failed(version_id, row.last_error or "")
            db.session.commit()
            return "failed"
        if job is not None:
            document_service.store(version_id, pdf, job.filename)
        row.status, row.sent_at, row.delivered_via = "sent", utcnow(), "pdf"
        row.last_error, row.enqueued_at = None, None
        row.attempts = (row.attempts or 0) + 1
        db.session.commit()
        return "done"
    except Exception:
        db.session.rollback()
        raise


def _send_outside_transaction(row_id: int) -> str:
    """E-mail and SMS: claimed as "sending" and committed, sent with no transaction open (a
    slow SMTP server must not hold SQLite's write lock or a row lock), then marked sent.
    A crash between sending and marking leaves it "sending"; after the lease it is sent
    again with the same Message-ID, which mail clients use to drop the copy."""
    now = utcnow()
    try:
        _begin_sqlite()
        rows = _lock(OutboxMessage, [row_id])
        if not rows or not _runnable(rows[0], now, rows[0].created_at):
            db.session.rollback()
            return "skipped"
        if held(rows[0]):
            db.session.commit()
            return "done"
        rows[0].status, rows[0].enqueued_at = "sending", now
        db.session.commit()
        message = db.session.get(OutboxMessage, row_id)
        try:
            via = send_external(message)
            error = None
        except JobTimeoutException:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
            error = exc
        db.session.rollback()  # what sending read is done; record the result anew
        _begin_sqlite()
        [row] = _lock(OutboxMessage, [row_id])
        if error is not None:
            log.warning("outbox %s failed: %s", row_id, error)
            _record_failure(row, error)
            db.session.commit()
            return "failed"
        row.status, row.sent_at, row.delivered_via = "sent", utcnow(), via[:32]
        row.last_error, row.enqueued_at = None, None
        row.attempts = (row.attempts or 0) + 1
        db.session.commit()
        return "done"
    except Exception:
        db.session.rollback()
        raise
