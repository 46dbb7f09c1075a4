"""Faults with a real Redis and real worker processes: a worker killed mid-batch, Redis
flushed under enqueued rows, a rolled-back transaction, two schedulers at once, an SMTP
server that is down and then back. Every reminder must arrive exactly once, nothing lost.
The fixture and helpers are in tests/jobs_redis.py."""
from __future__ import annotations

import datetime as dt
import signal
import time

import pytest
from sqlalchemy import update

from app.extensions import db
from jobs import queues, scheduler
from jobs.runner import EPOCH_KEY, get_runner
from models.base import utcnow
from models.notification import Notification
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction
from tests import jobs_redis as jr
from tests.process_flow_helpers import user


@pytest.fixture()
def redis(app):
    yield from jr.redis_db(app)


# --- a) a worker killed mid-work -----------------------------------------------------------
def test_a_worker_killed_mid_work_loses_nothing_and_repeats_nothing(app, redis, tmp_path):
    batch = 20
    app.config.update(JOB_BATCH_SIZE=batch, JOB_LEASE_SECONDS=1)
    task = jr.task()
    env = jr.env(app, JOB_LEASE_SECONDS=1, JOB_BATCH_SIZE=batch)
    ids: list[int] = []
    n = 300
    # The kill must land while work remains; should a worker ever finish everything
    # between two looks, the round is repeated with more rows rather than passing vacuously.
    for attempt in range(3):
        before = len(ids)
        ids += jr.reminders(task, n, f"kill{attempt}")
        assert scheduler.tick(runner=get_runner()).schedule == n
        worker = jr.flask(tmp_path, f"worker{attempt}", ["worker", "--name", f"doomed{attempt}"],
                        env)
        with jr.reaped(worker):
            deadline = time.monotonic() + 45
            # killed as soon as its first batch is committed, in the middle of the next
            while jr.count(Notification) == before:
                assert worker.poll() is None, jr.output(worker)
                if time.monotonic() > deadline:
                    worker.send_signal(signal.SIGABRT)  # its stacks into the log
                    worker.wait(timeout=10)
                    pytest.fail(f"no reminder delivered: {jr.statuses()} "
                                f"{jr.queue_lengths(redis)}\n{jr.output(worker)}")
                time.sleep(0.005)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        done = jr.count(Notification)
        if done < len(ids):
            break
        n *= 2
    else:
        pytest.fail("the worker finished every round before it could be killed")

    statuses = jr.statuses()
    assert 0 < statuses.get("done", 0) < len(ids), statuses
    assert set(statuses) <= {"done", "enqueued"}, statuses
    # A batch is one transaction: the killed one left all its rows as they were.
    assert statuses["done"] % batch == 0, statuses
    assert done == statuses["done"]

    time.sleep(1.2)  # past the lease: the rows still "enqueued" are handed over again
    assert scheduler.tick(runner=get_runner()).schedule == statuses["enqueued"]
    finisher = jr.flask(tmp_path, "burst", ["worker", "--burst", "--name", "finisher"], env)
    with jr.reaped(finisher):
        assert finisher.wait(timeout=60) == 0, jr.output(finisher)
    db.session.expire_all()
    jr.assert_each_reminder_once(ids)
    assert jr.queue_lengths(redis)[queues.SCHEDULE] == 0


# --- b) Redis flushed under enqueued rows --------------------------------------------------
def test_b_a_flushed_redis_is_noticed_and_the_rows_handed_over_at_once(app, redis):
    app.config.update(JOB_BATCH_SIZE=10)
    ids = jr.reminders(jr.task(), 50, "flush")
    assert scheduler.tick(runner=get_runner()).schedule == 50
    assert sorted(jr.queued(redis)) == ids
    assert jr.statuses() == {"enqueued": 50}

    redis.flushdb()
    assert not redis.exists(EPOCH_KEY)
    # well within the lease: only the missing epoch key says the jobs are gone
    assert scheduler.tick(runner=get_runner()).schedule == 50
    assert redis.exists(EPOCH_KEY)
    assert jr.queue_lengths(redis)[queues.SCHEDULE] > 0
    assert sorted(jr.queued(redis)) == ids
    # the next tick leaves the fresh jobs alone
    assert scheduler.tick(runner=get_runner()).total == 0

    jr.burst(redis)
    jr.assert_each_reminder_once(ids)
    assert all(length == 0 for length in jr.queue_lengths(redis).values())


# --- c) a rolled-back transaction schedules nothing ----------------------------------------
def test_c_rows_of_a_rolled_back_transaction_are_never_enqueued(app, redis):
    task = jr.task()
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
    assert all(length == 0 for length in jr.queue_lengths(redis).values())
    jr.burst(redis)
    assert jr.count(Notification) == 0
    assert jr.count(OutboxMessage) == 0
    assert jr.count(ScheduledAction) == 0


# --- d) two schedulers at once -------------------------------------------------------------
def test_d_two_scheduler_processes_hand_over_each_row_once(app, redis, tmp_path):
    n = 500
    # Due far ahead: both schedulers are up and idle before anything falls due.
    ids = jr.reminders(jr.task(), n, "two", due_at=dt.datetime(2100, 1, 1))
    # Small claims: the two loops take turns many times over the 500 rows.
    env = jr.env(app, SCHEDULER_INTERVAL=0.05, SCHEDULER_MAX_CLAIM=25, JOB_BATCH_SIZE=5)
    first = jr.flask(tmp_path, "scheduler1", ["scheduler"], env)
    second = jr.flask(tmp_path, "scheduler2", ["scheduler"], env)
    with jr.reaped(first, second):
        deadline = time.monotonic() + 60
        while not all("Планировщик запущен" in jr.output(p) for p in (first, second)) \
                or not redis.exists(EPOCH_KEY):
            assert first.poll() is None and second.poll() is None, \
                jr.output(first) + jr.output(second)
            assert time.monotonic() < deadline, jr.output(first) + jr.output(second)
            time.sleep(0.05)
        time.sleep(0.2)  # both past their first tick and looping
        db.session.execute(update(ScheduledAction).values(
            due_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        while len(jr.queued(redis)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would come now, from a scheduler still looping
        for process in (first, second):
            assert process.poll() is None, jr.output(process)
            process.send_signal(signal.SIGTERM)
        for process in (first, second):
            process.wait(timeout=10)

    handed = jr.queued(redis)
    assert len(handed) == len(set(handed)), "a row was handed to workers twice"
    assert sorted(handed) == ids
    assert jr.statuses() == {"enqueued": n}


# --- e) the SMTP server down, then back ----------------------------------------------------
def test_e_smtp_down_retries_with_backoff_then_fails_and_a_retry_sends(app, redis):
    base = 30.0
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=jr.free_port(), SMTP_TIMEOUT=3,
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
        assert jr.queue_lengths(redis)[queues.EMAIL] == 1
        started = utcnow()
        jr.burst(redis)
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
    jr.burst(redis)
    message = row()
    assert (message.status, message.attempts, message.next_attempt_at) == ("failed", 3, None)
    assert message.last_error.startswith("Не удалось отправить письмо через SMTP-сервер")
    assert message.sent_at is None
    assert scheduler.tick(now=now + dt.timedelta(days=1), runner=get_runner()).total == 0
    assert jr.count(OutboxMessage) == 1  # failed, shown on the screens, never dropped

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.letters = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's
            self.letters.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = jr.free_port()
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
        jr.burst(redis)
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
