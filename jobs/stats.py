"""The state of the background work in one dict: the database side (schedule and outbox
rows by status, how late the oldest due row is) and, with REDIS_URL, the RQ side (queue
lengths, started and failed registries, workers and their heartbeats). Shared by the
«Очереди и обработчики» screen and the CLI; it never raises because Redis is down."""
from __future__ import annotations

import datetime as dt

from flask import current_app, has_app_context
from rq import Queue, Worker
from sqlalchemy import func, or_, select

from app.extensions import db
from jobs.queues import QUEUE_NAMES
from jobs.queues import redis_connection as workers_connection
from models.base import utcnow
from models.outbox import OUTBOX_STATUS_LABELS, OutboxMessage
from models.schedule import ScheduledAction, ScheduleStatus

# A worker whose last heartbeat is older than this is shown as not answering. `flask crm
# worker` beats every WORKER_HEARTBEAT_SECONDS and is gone from the list WORKER_DEAD_SECONDS
# after its last beat; a bare `rq worker` beats between jobs only (every `worker_ttl - 15`
# seconds while idle), so it must run with a worker_ttl below this plus 15.
DEFAULT_STALE_SECONDS = 60


def redis_connection(app):
    """The connection the workers use, so the screen reads what they write."""
    return workers_connection(app)


def queue_stats(app=None, now: dt.datetime | None = None) -> dict:
    """{"mode": "redis" | "embedded", "redis_error", "queues", "workers", "schedule",
    "outbox", "stale_seconds", "now"}; datetimes are naive UTC (RQ's heartbeats aware).
    Without `app`, the current one (the CLI runs inside its app context)."""
    if app is None:
        app = current_app._get_current_object()
    if has_app_context() and current_app._get_current_object() is app:
        return _stats(app, now or utcnow())
    with app.app_context():
        return _stats(app, now or utcnow())


def _stats(app, now: dt.datetime) -> dict:
    stale_seconds = int(app.config.get("WORKER_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    out = {
        "now": now,
        "mode": "redis" if (app.config.get("REDIS_URL") or "").strip() else "embedded",
        "redis_error": None,
        "queues": [],
        "workers": [],
        "stale_seconds": stale_seconds,
        "schedule": schedule_counts(now),
        "outbox": outbox_counts(),
    }
    if out["mode"] == "redis":
        try:
            out["queues"], out["workers"] = _rq_state(app, now, stale_seconds)
        except Exception as exc:  # noqa: BLE001 - a status page reports, it does not fail
            out["redis_error"] = _error_text(exc)
    return out


def schedule_counts(now: dt.datetime) -> dict:
    """Counts of schedule rows; "pending_due" are those the scheduler should pick now
    (due, and not waiting out a retry backoff)."""
    col = ScheduledAction
    # A row held for a record in the recycle bin is not for the scheduler to pick.
    ready = (col.status == ScheduleStatus.pending.value) & (col.due_at <= now) & or_(
        col.next_attempt_at.is_(None), col.next_attempt_at <= now) & \
        col.trash_batch_id.is_(None)
    by_status = dict(db.session.execute(
        select(col.status, func.count()).group_by(col.status)).all())
    pending_due = db.session.scalar(select(func.count()).where(ready)) or 0
    oldest = db.session.scalar(select(func.min(col.due_at)).where(ready))
    return {
        "by_status": {k: int(v) for k, v in by_status.items()},
        "pending_due": int(pending_due),
        "pending_later": int(by_status.get(ScheduleStatus.pending.value, 0)) - int(pending_due),
        "enqueued": int(by_status.get(ScheduleStatus.enqueued.value, 0)),
        "failed": int(by_status.get(ScheduleStatus.failed.value, 0)),
        "oldest_due_at": oldest,
        "oldest_late_seconds": max(0, int((now - oldest).total_seconds())) if oldest else None,
    }


def outbox_counts() -> list[dict]:
    """[{status, label, count}] in the order of the labels, then any unknown status."""
    rows = dict(db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    known = [s for s in OUTBOX_STATUS_LABELS if s in rows]
    other = sorted(s for s in rows if s not in OUTBOX_STATUS_LABELS)
    return [{"status": s, "label": OUTBOX_STATUS_LABELS.get(s, s), "count": int(rows[s])}
            for s in known + other]


def _rq_state(app, now: dt.datetime, stale_seconds: int) -> tuple[list[dict], list[dict]]:
    connection = redis_connection(app)
    connection.ping()  # one clear "not answering" before any per-queue call
    queues = []
    for name in QUEUE_NAMES:  # the workers' queues
        queue = Queue(name, connection=connection)
        queues.append({"name": name, "count": queue.count,
                       "started": queue.started_job_registry.count,
                       "failed": queue.failed_job_registry.count})
    aware_now = now.replace(tzinfo=dt.timezone.utc)
    workers = []
    for worker in sorted(Worker.all(connection=connection), key=lambda w: w.name):
        heartbeat = worker.last_heartbeat
        age = (aware_now - heartbeat).total_seconds() if heartbeat else None
        workers.append({
            "name": worker.name,
            "state": worker.get_state(),
            "queues": worker.queue_names(),
            "last_heartbeat": heartbeat,
            "heartbeat_age": int(age) if age is not None else None,
            "stale": age is None or age > stale_seconds,
            "current_job": worker.get_current_job_id(),
        })
    return queues, workers


def _error_text(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
