"""Faults with a real Redis and real worker processes: a worker killed mid-batch, Redis
flushed under enqueued rows, a rolled-back transaction, two schedulers at once, an SMTP
server that is down and then back. Every reminder must arrive exactly once, nothing lost.

Redis: TEST_REDIS_URL (default db 11 of the local server; only that db is flushed). Without
a Redis answering the tests are skipped, except on CI, where they fail."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from jobs import queues, scheduler
from jobs.runner import EPOCH_KEY, get_runner
from models.base import utcnow
from models.notification import Notification
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction
from models.task import Task
from tests.process_flow_helpers import user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
ROOT = Path(__file__).resolve().parents[1]
# What the tests change in app.config, put back afterwards: the session app is shared.
_TOUCHED = ("REDIS_URL", "JOB_BATCH_SIZE", "JOB_LEASE_SECONDS", "JOB_MAX_ATTEMPTS",
            "JOB_RETRY_BASE_SECONDS", "SCHEDULER_MAX_CLAIM", "SMTP_HOST", "SMTP_PORT",
            "SMTP_TIMEOUT")


@pytest.fixture()
def redis(app):
    from redis import Redis
    from redis.exceptions import RedisError

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
def _task() -> Task:
    task = Task(title="Позвонить клиенту", assignee_id=user("manager").id)
    db.session.add(task)
    db.session.commit()
    return task


def _reminders(task: Task, n: int, prefix: str, due_at: dt.datetime | None = None) -> list:
    due_at = due_at or utcnow() - dt.timedelta(seconds=1)
    rows = [ScheduledAction(action="remind", entity="task", record_id=task.id, due_at=due_at,
                            params={"to": [{"user": "manager"}], "text": f"Напоминание {i}"},
                            effect_key=f"{prefix}:{i}") for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _scalar(query):
    """A fresh read each time: the workers write from other processes."""
    try:
        return db.session.scalar(query)
    finally:
        db.session.rollback()


def _count(model, *where) -> int:
    return _scalar(select(func.count(model.id)).where(*where))


def _statuses() -> dict:
    rows = db.session.execute(select(ScheduledAction.status, func.count())
                              .group_by(ScheduledAction.status)).all()
    db.session.rollback()
    return dict(rows)


def _queued(connection, name: str = queues.SCHEDULE) -> list[int]:
    """Every row id in the jobs waiting in an RQ queue, repeats included."""
    from rq import Queue

    return [i for job in Queue(name, connection=connection).get_jobs() for i in job.args[0]]


def _queue_lengths(connection) -> dict:
    from rq import Queue

    return {name: Queue(name, connection=connection).count for name in queues.QUEUE_NAMES}


def _burst(connection) -> None:
    """An RQ worker in this process: the jobs run in this app context and session."""
    from rq import Queue, SimpleWorker

    worker = SimpleWorker([Queue(q, connection=connection) for q in queues.QUEUE_NAMES],
                          connection=connection)
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    db.session.expire_all()


def _env(app, **extra) -> dict:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=REDIS_URL, PYTHONUNBUFFERED="1", FLASK_APP="run",
               PYTHONFAULTHANDLER="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def _flask(tmp_path: Path, name: str, args: list[str], env: dict) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "crm", *args],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = tmp_path / f"{name}.log"
    log.close()
    return process


def _output(process) -> str:
    return process.log_path.read_text(errors="replace")


@contextlib.contextmanager
def _reaped(*processes):
    """No test leaves a worker or a scheduler behind, whatever fails."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _assert_each_reminder_once(ids: list[int]) -> None:
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
    assert _count(Notification) == len(ids)
    repeats = db.session.execute(select(Notification.source_key, Notification.user_id)
                                 .group_by(Notification.source_key, Notification.user_id)
                                 .having(func.count() > 1)).all()
    assert repeats == []


# --- a) a worker killed mid-work -----------------------------------------------------------
def test_a_worker_killed_mid_work_loses_nothing_and_repeats_nothing(app, redis, tmp_path):
    batch = 20
    app.config.update(JOB_BATCH_SIZE=batch, JOB_LEASE_SECONDS=1)
    task = _task()
    env = _env(app, JOB_LEASE_SECONDS=1, JOB_BATCH_SIZE=batch)
    ids: list[int] = []
    n = 300
    # The kill must land while work remains; should a worker ever finish everything
    # between two looks, the round is repeated with more rows rather than passing vacuously.
    for attempt in range(3):
        before = len(ids)
        ids += _reminders(task, n, f"kill{attempt}")
        assert scheduler.tick(runner=get_runner()).schedule == n
        worker = _flask(tmp_path, f"worker{attempt}", ["worker", "--name", f"doomed{attempt}"],
                        env)
        with _reaped(worker):
            deadline = time.monotonic() + 45
            # killed as soon as its first batch is committed, in the middle of the next
            while _count(Notification) == before:
                assert worker.poll() is None, _output(worker)
                if time.monotonic() > deadline:
                    worker.send_signal(signal.SIGABRT)  # its stacks into the log
                    worker.wait(timeout=10)
                    pytest.fail(f"no reminder delivered: {_statuses()} "
                                f"{_queue_lengths(redis)}\n{_output(worker)}")
                time.sleep(0.005)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        done = _count(Notification)
        if done < len(ids):
            break
        n *= 2
    else:
        pytest.fail("the worker finished every round before it could be killed")

    statuses = _statuses()
    assert 0 < statuses.get("done", 0) < len(ids), statuses
    assert set(statuses) <= {"done", "enqueued"}, statuses
    # A batch is one transaction: the killed one left all its rows as they were.
    assert statuses["done"] % batch == 0, statuses
    assert done == statuses["done"]

    time.sleep(1.2)  # past the lease: the rows still "enqueued" are handed over again
    assert scheduler.tick(runner=get_runner()).schedule == statuses["enqueued"]
    finisher = _flask(tmp_path, "burst", ["worker", "--burst", "--name", "finisher"], env)
    with _reaped(finisher):
        assert finisher.wait(timeout=60) == 0, _output(finisher)
    db.session.expire_all()
    _assert_each_reminder_once(ids)
    assert _queue_lengths(redis)[queues.SCHEDULE] == 0


# --- b) Redis flushed under enqueued rows --------------------------------------------------
def test_b_a_flushed_redis_is_noticed_and_the_rows_handed_over_at_once(app, redis):
    app.config.update(JOB_BATCH_SIZE=10)
    ids = _reminders(_task(), 50, "flush")
    assert scheduler.tick(runner=get_runner()).schedule == 50
    assert sorted(_queued(redis)) == ids
    assert _statuses() == {"enqueued": 50}

    redis.flushdb()
    assert not redis.exists(EPOCH_KEY)
    # well within the lease: only the missing epoch key says the jobs are gone
    assert scheduler.tick(runner=get_runner()).schedule == 50
    assert redis.exists(EPOCH_KEY)
    assert _queue_lengths(redis)[queues.SCHEDULE] > 0
    assert sorted(_queued(redis)) == ids
    # the next tick leaves the fresh jobs alone
    assert scheduler.tick(runner=get_runner()).total == 0

    _burst(redis)
    _assert_each_reminder_once(ids)
    assert all(length == 0 for length in _queue_lengths(redis).values())


# --- c) a rolled-back transaction schedules nothing ----------------------------------------
def test_c_rows_of_a_rolled_back_transaction_are_never_enqueued(app, redis):
    task = _task()
    db.session.add(OutboxMessage(kind="notification", recipients=[user("manager").id],
                                 body="Не будет отправлено", effect_key="rollback:n"))
    db.session.add(OutboxMessage(kind="email", recipients=["client@example.ru"],
                                 subject="Счёт", body="Не будет отправлено",
                                 effect_key="rollback:e"))
    db.session.add(ScheduledAction(action="remind", entity="task", record_id=task.id,
                                   due_at=utcnow() - dt.timedelta(seconds=1),
                                   params={"to": [{"user": "manager"}], "text": "Нет"},
                                   effect_key="rollback:r"))
    db.session.flush()  # written to the database inside the transaction, then undone
    db.session.rollback()

    assert scheduler.tick(runner=get_runner()).total == 0
    assert all(length == 0 for length in _queue_lengths(redis).values())
    _burst(redis)
    assert _count(Notification) == 0
    assert _count(OutboxMessage) == 0
    assert _count(ScheduledAction) == 0


# --- d) two schedulers at once -------------------------------------------------------------
def test_d_two_scheduler_processes_hand_over_each_row_once(app, redis, tmp_path):
    n = 500
    # Due far ahead: both schedulers are up and idle before anything falls due.
    ids = _reminders(_task(), n, "two", due_at=dt.datetime(2100, 1, 1))
    # Small claims: the two loops take turns many times over the 500 rows.
    env = _env(app, SCHEDULER_INTERVAL=0.05, SCHEDULER_MAX_CLAIM=25, JOB_BATCH_SIZE=5)
    first = _flask(tmp_path, "scheduler1", ["scheduler"], env)
    second = _flask(tmp_path, "scheduler2", ["scheduler"], env)
    with _reaped(first, second):
        deadline = time.monotonic() + 60
        while not all("Планировщик запущен" in _output(p) for p in (first, second)) \
                or not redis.exists(EPOCH_KEY):
            assert first.poll() is None and second.poll() is None, \
                _output(first) + _output(second)
            assert time.monotonic() < deadline, _output(first) + _output(second)
            time.sleep(0.05)
        time.sleep(0.2)  # both past their first tick and looping
        db.session.execute(update(ScheduledAction).values(
            due_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        while len(_queued(redis)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would come now, from a scheduler still looping
        for process in (first, second):
            assert process.poll() is None, _output(process)
            process.send_signal(signal.SIGTERM)
        for process in (first, second):
            process.wait(timeout=10)

    handed = _queued(redis)
    assert len(handed) == len(set(handed)), "a row was handed to workers twice"
    assert sorted(handed) == ids
    assert _statuses() == {"enqueued": n}


# --- e) the SMTP server down, then back ----------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_e_smtp_down_retries_with_backoff_then_fails_and_a_retry_sends(app, redis):
    base = 30.0
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port(), SMTP_TIMEOUT=3,
                      JOB_MAX_ATTEMPTS=3, JOB_RETRY_BASE_SECONDS=base)
    message = OutboxMessage(kind="email", recipients=["client@example.ru"],
                            subject="Счёт № 7 на оплату", body="Здравствуйте! Счёт во вложении.",
                            effect_key="smtp:1")
    db.session.add(message)
    db.session.commit()
    message_id = message.id

    def row() -> OutboxMessage:
        db.session.expire_all()
        return db.session.get(OutboxMessage, message_id)

    # The clock of the ticks is moved instead of waiting out the backoff.
    now = utcnow()
    for attempt in (1, 2):
        assert scheduler.tick(now=now, runner=get_runner()).outbox == 1
        assert _queue_lengths(redis)[queues.EMAIL] == 1
        started = utcnow()
        _burst(redis)
        failed_at = utcnow()
        message = row()
        assert (message.status, message.attempts) == ("pending", attempt)
        assert "соединение отклонено" in message.last_error
        # the backoff doubles, counted from the failure on the real clock
        wait = dt.timedelta(seconds=base * 2 ** (attempt - 1))
        assert started + wait <= message.next_attempt_at <= failed_at + wait
        # not before the backoff is over
        before = message.next_attempt_at - dt.timedelta(seconds=1)
        assert scheduler.tick(now=before, runner=get_runner()).total == 0
        assert row().status == "pending"
        now = message.next_attempt_at
    assert scheduler.tick(now=now, runner=get_runner()).outbox == 1
    _burst(redis)
    message = row()
    assert (message.status, message.attempts, message.next_attempt_at) == ("failed", 3, None)
    assert message.last_error.startswith("Не удалось отправить письмо через SMTP-сервер")
    assert message.sent_at is None
    assert scheduler.tick(now=now + dt.timedelta(days=1), runner=get_runner()).total == 0
    assert _count(OutboxMessage) == 1  # failed, shown on the screens, never dropped

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.letters = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's
            self.letters.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config["SMTP_PORT"] = port
        # «Повторить отправку»: back to pending with a clean attempt count
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                           .values(status="pending", attempts=0, next_attempt_at=None,
                                   enqueued_at=None))
        db.session.commit()
        assert scheduler.tick(runner=get_runner()).outbox == 1
        _burst(redis)
    finally:
        controller.stop()
    message = row()
    assert (message.status, message.attempts, message.delivered_via) == ("sent", 1, "smtp")
    assert message.sent_at is not None
    assert [letter.rcpt_tos for letter in inbox.letters] == [["client@example.ru"]]
    from email import message_from_bytes, policy

    letter = message_from_bytes(inbox.letters[0].content, policy=policy.default)
    assert letter["Subject"] == "Счёт № 7 на оплату"
    assert scheduler.tick(runner=get_runner()).total == 0
