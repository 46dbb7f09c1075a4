"""Shared by the jobs tests that use a real Redis and real worker processes (no tests
here): the `redis` fixture, rows to deliver, fresh reads, worker and scheduler processes.

Redis: TEST_REDIS_URL (default db 11 of the local server; only that db is flushed). Without
a Redis answering the tests are skipped, except on CI, where they fail."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import func, select

from app.extensions import db
from jobs import queues
from jobs.worker import make_worker
from models.base import utcnow
from models.notification import Notification
from models.schedule import ScheduledAction
from models.task import Task
from tests.process_flow_helpers import user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
ROOT = Path(__file__).resolve().parents[1]
# What the tests change in app.config, put back afterwards: the session app is shared.
_TOUCHED = ("REDIS_URL", "JOB_BATCH_SIZE", "JOB_LEASE_SECONDS", "JOB_MAX_ATTEMPTS",
            "JOB_RETRY_BASE_SECONDS", "SCHEDULER_MAX_CLAIM", "SMTP_HOST", "SMTP_PORT",
            "SMTP_TIMEOUT", "JOB_TIMEOUT", "WORKER_HEARTBEAT_SECONDS", "WORKER_DEAD_SECONDS")


def redis_db(app):
    """The body of each jobs test module's `redis` fixture: a clean Redis db, the app
    pointed at it, and the app's settings put back afterwards."""
    connection = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        connection.ping()
    except RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis {REDIS_URL} does not answer on CI: {exc}")
        pytest.skip(f"Redis {REDIS_URL} does not answer: {exc}")
    connection.flushdb()
    saved = {key: app.config.get(key) for key in _TOUCHED}
    app.config["REDIS_URL"] = REDIS_URL
    queues._connections.clear()
    try:
        yield connection
    finally:
        app.config.update(saved)
        queues._connections.clear()
        connection.flushdb()
        connection.close()


# --- helpers -------------------------------------------------------------------------------
def task() -> Task:
    task = Task(title="Позвонить клиенту", assignee_id=user("manager").id)
    db.session.add(task)
    db.session.commit()
    return task


def reminders(task: Task, n: int, prefix: str, due_at: dt.datetime | None = None) -> list:
    due_at = due_at or utcnow() - dt.timedelta(seconds=1)
    rows = [ScheduledAction(action="remind", entity="task", record_id=task.id, due_at=due_at,
                            params={"to": [{"user": "manager"}], "text": f"Напоминание {i}"},
                            effect_key=f"{prefix}:{i}") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def scalar(query):
    """A fresh read each time: the workers write from other processes."""
    try:
        return db.session.scalar(query)
    finally:
        db.session.rollback()


def count(model, *where) -> int:
    return scalar(select(func.count(model.id)).where(*where))


def statuses() -> dict:
    rows = db.session.execute(select(ScheduledAction.status, func.count())
                              .group_by(ScheduledAction.status)).all()
    db.session.rollback()
    return dict(rows)


def queued(connection, name: str = queues.SCHEDULE) -> list[int]:
    """Every row id in the jobs waiting in an RQ queue, repeats included."""
    return [i for job in Queue(name, connection=connection).get_jobs() for i in job.args[0]]


def queue_lengths(connection) -> dict:
    return {name: Queue(name, connection=connection).count for name in queues.QUEUE_NAMES}


def burst(connection) -> None:
    """The worker of `flask crm worker`, in this process: the jobs run in this app context
    and session."""
    worker = make_worker([Queue(q, connection=connection) for q in queues.QUEUE_NAMES],
                         connection, None, current_app.config)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    db.session.expire_all()


def env(app, **extra) -> dict:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=REDIS_URL, PYTHONUNBUFFERED="1", FLASK_APP="run",
               PYTHONFAULTHANDLER="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def flask(tmp_path: Path, name: str, args: list[str], env: dict) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "crm", *args],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = tmp_path / f"{name}.log"
    log.close()
    return process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def output(process) -> str:
    return process.log_path.read_text(errors="replace")


@contextlib.contextmanager
def reaped(*processes):
    """No test leaves a worker or a scheduler behind, whatever fails."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def assert_each_reminder_once(ids: list[int]) -> None:
    rows = list(db.session.execute(select(ScheduledAction.id, ScheduledAction.status,
                                          ScheduledAction.attempts,
                                          ScheduledAction.effect_key)
                                   .where(ScheduledAction.id.in_(ids))))
    assert len(rows) == len(ids)
    assert {status for _id, status, _a, _k in rows} == {"done"}
    # attempts counts runs that did the work: a second delivery found the row done
    assert {attempts for _id, _s, attempts, _k in rows} == {1}
    per_key = dict(db.session.execute(select(Notification.source_key, func.count())
                                      .group_by(Notification.source_key)).all())
    assert {key: per_key.get(key, 0) for _i, _s, _a, key in rows} == \
        {key: 1 for _i, _s, _a, key in rows}
    assert count(Notification) == len(ids)
    repeats = db.session.execute(select(Notification.source_key, Notification.user_id)
                                 .group_by(Notification.source_key, Notification.user_id)
                                 .having(func.count() > 1)).all()
    assert repeats == []
