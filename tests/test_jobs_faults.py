"""Jobs under faults, each as the fault soak met it: a Redis flush that lands inside a
scheduler pass, a scheduler killed between its claim and the hand-over, a worker killed with
kill -9 in the middle of a job and restarted under its name, workers and a letter being sent
while Redis is flushed. Real Redis (tests/jobs_redis.py) and real worker processes; the
heartbeat is a fraction of a second so nothing waits long."""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from redis.client import Pipeline
from rq import Queue, Worker
from sqlalchemy import event, select, update

from app.extensions import db
from jobs import queues, scheduler, tasks
from jobs.runner import get_runner
from jobs.stats import queue_stats
from jobs.worker import make_worker
from models.base import utcnow
from models.outbox import OutboxMessage
from tests import jobs_redis as jr

# A killed worker must be seen dead well within this (its heartbeat says so in 1 s); the
# margin is for a loaded machine, not for the lease (120 s).
HANDOVER_BOUND_SECONDS = 8
STALL = "задержать"


@pytest.fixture()
def redis(app):
    yield from jr.redis_db(app)


class StallingInbox:
    """An SMTP server that holds the first letter whose subject says «задержать» at DATA
    until the test releases it: a slow send in progress for as long as the test needs."""

    def __init__(self):
        self.subjects: list[str] = []
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        subject = email.message_from_bytes(envelope.content, policy=email.policy.default)[
            "Subject"]
        if STALL in subject and not self.stalled.is_set():
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        self.subjects.append(subject)
        return "250 OK"


@pytest.fixture()
def smtp(app, monkeypatch):
    inbox = StallingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=jr.free_port())
    controller.start()
    for key, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", controller.port),
                       ("SMTP_TIMEOUT", 60)):
        monkeypatch.setitem(app.config, key, value)
    try:
        yield inbox
    finally:
        inbox.release.set()
        controller.stop()


def _worker_env(app, **extra) -> dict:
    return jr.env(app, SMTP_HOST=app.config["SMTP_HOST"] or "",
                  SMTP_PORT=app.config["SMTP_PORT"], SMTP_TIMEOUT=60,
                  WORKER_HEARTBEAT_SECONDS=0.2, WORKER_DEAD_SECONDS=1, **extra)


def _letter(subject: str) -> int:
    message = OutboxMessage(kind="email", recipients=["client@example.ru"], subject=subject,
                            body="Здравствуйте!", effect_key=f"fault:{subject}")
    db.session.add(message)
    db.session.commit()
    return message.id


def _status(message_id: int) -> str:
    return jr.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))


def _workers(connection) -> dict:
    """{name: pid} of the workers RQ lists (what «Очереди и обработчики» shows)."""
    return {w.name: w.pid for w in Worker.all(connection=connection)}


def _registry_counts(connection) -> dict:
    return {name: (Queue(name, connection=connection).started_job_registry.count,
                   Queue(name, connection=connection).failed_job_registry.count)
            for name in queues.QUEUE_NAMES}


def _wait_for(condition, what: str, *processes, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            assert process.poll() is None, f"{what}: the process ended\n{jr.output(process)}"
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s\n"
                        + "\n".join(jr.output(p) for p in processes))
        time.sleep(0.05)


def _tick(**kwargs):
    return scheduler.tick(runner=get_runner(), **kwargs)


# --- the scheduler -------------------------------------------------------------------------
@pytest.mark.parametrize("landing", ["claim", "commit"])
def test_a_flush_inside_a_scheduler_pass_is_noticed_and_the_wiped_rows_handed_over(
        app, redis, landing):
    """The flush lands after the pass read the epoch: while it claims rows, or as it
    commits them. Either way the next pass must hand over every wiped row at once."""
    app.config.update(JOB_BATCH_SIZE=10)
    task = jr.task()
    before = jr.reminders(task, 30, "before")
    assert _tick().schedule == 30
    during = jr.reminders(task, 20, "during")
    flushed = []

    def flush(*_args):
        if not flushed:
            flushed.append(True)
            redis.flushdb()

    def on_statement(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE SCHEDULED_ACTION"):
            flush()

    target, name, hook = ((db.engine, "after_cursor_execute", on_statement)
                          if landing == "claim" else (db.engine, "commit", flush))
    event.listen(target, name, hook)
    try:
        _tick()
    finally:
        event.remove(target, name, hook)
    assert flushed
    # within the lease: only the lost epoch says the jobs are gone
    for _ in range(3):
        _tick()
    assert sorted(set(jr.queued(redis))) == before + during
    jr.burst(redis)
    jr.assert_each_reminder_once(before + during)


def test_a_steady_stream_is_handed_over_once_per_interval_not_a_job_per_row(app, monkeypatch):
    """Rows falling due one by one: the loop pauses after each pass that took everything
    due, so each job carries a second's worth of rows. It goes on at once only while a
    claim leaves rows behind."""
    passes = []

    def one_row_due(**_kwargs):
        passes.append(1)
        result = scheduler.TickResult(schedule=1)
        result.full = len(passes) <= 3
        return result

    monkeypatch.setattr(scheduler, "tick", one_row_due)
    stop = threading.Event()

    def scheduler_loop():
        with app.app_context():
            scheduler.run_forever(interval=0.1, stop=stop)

    loop = threading.Thread(target=scheduler_loop)
    loop.start()
    time.sleep(0.55)
    stop.set()
    loop.join(timeout=5)
    # three full claims back to back, then one pass per pause of 0.1 s
    assert 3 + 3 <= len(passes) <= 3 + 7


def test_a_scheduler_killed_between_its_claim_and_the_hand_over_leaves_nothing_behind(
        app, redis, monkeypatch):
    ids = jr.reminders(jr.task(), 10, "killed-scheduler")
    real_execute = Pipeline.execute

    def die(self, *args, **kwargs):
        monkeypatch.setattr(Pipeline, "execute", real_execute)
        raise KeyboardInterrupt  # the process ends here: no handler of the tick runs

    monkeypatch.setattr(Pipeline, "execute", die)
    with pytest.raises(KeyboardInterrupt):
        _tick()
    db.session.rollback()  # what the database does with the dead process's transaction
    assert _tick().schedule == 10  # the next pass, well within the lease
    jr.burst(redis)
    jr.assert_each_reminder_once(ids)


# --- workers -------------------------------------------------------------------------------
def test_a_killed_workers_job_is_handed_over_in_seconds_but_not_the_letter_being_sent(
        app, redis, smtp, tmp_path):
    app.config.update(JOB_BATCH_SIZE=10)  # the lease stays 120 s
    being_sent = _letter(f"Счёт № 7 — {STALL}")
    waiting = _letter("Акт сверки")
    assert _tick().outbox == 2  # one job: the worker sends the first, the second waits
    env = _worker_env(app)
    doomed = jr.flask(tmp_path, "doomed", ["worker", "--name", "doomed"], env)
    with jr.reaped(doomed):
        _wait_for(smtp.stalled.is_set, "the first letter handed to the SMTP server", doomed)
        assert (_status(being_sent), _status(waiting)) == ("sending", "enqueued")
        doomed.kill()
        doomed.wait()
    killed_at = time.monotonic()
    # A supervisor restarts it under the same name at once.
    again = jr.flask(tmp_path, "again", ["worker", "--name", "doomed"], env)
    with jr.reaped(again):
        handed = _tick().outbox
        while not handed:
            assert time.monotonic() - killed_at < HANDOVER_BOUND_SECONDS, \
                "the killed worker's job was not handed over"
            time.sleep(0.1)
            handed = _tick().outbox
        assert handed == 1  # the waiting letter; the one being sent keeps its claim
        _wait_for(lambda: _workers(redis).get("doomed") == again.pid,
                  "the worker restarted under its name", again)
        _wait_for(lambda: _status(waiting) == "sent", "the waiting letter sent", again)
        _wait_for(lambda: not any(s for s, _f in _registry_counts(redis).values()),
                  "the restarted worker idle", again)
    assert smtp.subjects == ["Акт сверки"]
    assert _status(being_sent) == "sending"
    # the abandoned job is gone from RQ's registries, not shown as started or failed
    assert _registry_counts(redis) == {name: (0, 0) for name in queues.QUEUE_NAMES}
    # A letter being sent keeps its claim until its send timeout (the job's), then it is
    # handed over again (the same Message-ID lets the mail client drop a copy).
    timeout = max(app.config["JOB_TIMEOUT"], app.config["JOB_LEASE_SECONDS"])
    assert _tick(now=utcnow() + dt.timedelta(seconds=app.config["JOB_TIMEOUT"] - 5)) \
        .outbox == 0
    assert _tick(now=utcnow() + dt.timedelta(seconds=timeout + 1)).outbox == 1


def test_the_name_of_a_worker_that_died_on_this_machine_is_free_at_once(app, redis):
    """What kill -9 leaves in Redis: the worker's key, alive for RQ until it expires."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    key = Worker.redis_worker_namespace_prefix + "w9"
    redis.hset(key, mapping={"birth": "2026-01-01T10:00:00.000000Z",
                             "last_heartbeat": "2026-01-01T10:00:00.000000Z",
                             "hostname": socket.gethostname(), "pid": gone.pid,
                             "queues": "crm-email"})
    redis.expire(key, 300)
    redis.sadd("rq:workers", key)
    redis.sadd("rq:workers:crm-email", key)
    heir = make_worker([Queue(queues.SCHEDULE, connection=redis)], redis, "w9", app.config)
    heir.register_birth()
    try:
        assert _workers(redis) == {"w9": os.getpid()}
        assert Worker.all(connection=redis, queue=Queue(queues.EMAIL, connection=redis)) == []
        # a namesake whose process runs is refused, as RQ refuses it
        redis.hset(key, "pid", os.getppid())
        with pytest.raises(ValueError, match="active worker named 'w9'"):
            make_worker([Queue(queues.SCHEDULE, connection=redis)], redis, "w9",
                        app.config).register_birth()
    finally:
        heir.register_death()


def test_a_flush_while_a_letter_is_sent_neither_resends_it_nor_hides_the_worker_nor_fails_it(
        app, redis, smtp, tmp_path, runner):
    letter = _letter(f"Счёт № 8 — {STALL}")
    assert _tick().outbox == 1
    worker = jr.flask(tmp_path, "w1", ["worker", "--name", "w1"], _worker_env(app))
    with jr.reaped(worker):
        _wait_for(smtp.stalled.is_set, "the letter handed to the SMTP server", worker)
        assert _workers(redis) == {"w1": worker.pid}
        redis.flushdb()
        # the epoch is lost, yet the letter is being sent: it is not taken back
        assert _tick().total == 0
        assert _status(letter) == "sending"
        _wait_for(lambda: _workers(redis) == {"w1": worker.pid},
                  "the worker registered again after the flush", worker, timeout=5)
        [shown] = queue_stats()["workers"]
        assert (shown["name"], shown["stale"]) == ("w1", False)
        listed = runner.invoke(args=["crm", "jobs"]).output
        assert "Обработчик w1" in listed and "не отвечает" not in listed

        smtp.release.set()
        _wait_for(lambda: _status(letter) == "sent", "the letter sent", worker)
        _wait_for(lambda: not any(s for s, _f in _registry_counts(redis).values()),
                  "the job finished", worker)
        # its rows committed: RQ does not count it as failed
        assert _registry_counts(redis) == {name: (0, 0) for name in queues.QUEUE_NAMES}
        listed = runner.invoke(args=["crm", "jobs"]).output
        assert "с ошибкой 1" not in listed
    assert smtp.subjects == [f"Счёт № 8 — {STALL}"]
    assert _tick().total == 0


def test_a_letter_another_copy_of_the_job_began_sending_meanwhile_is_not_sent_again(
        app, smtp, monkeypatch):
    """deliver_outbox looks at a message before it locks it; a copy of the job (handed over
    after a flush or for a worker taken for dead) may mark it "sending" in between."""
    letter = _letter("Счёт № 9")
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == letter)
                       .values(status="enqueued", enqueued_at=utcnow()))
    db.session.commit()
    real = tasks.leaves_the_building

    def other_copy_starts_sending(message):
        with db.engine.begin() as other:
            other.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                          .values(status="sending", enqueued_at=utcnow()))
        return real(message)

    monkeypatch.setattr(tasks, "leaves_the_building", other_copy_starts_sending)
    assert tasks.deliver_outbox([letter]) == {"done": 0, "skipped": 1, "failed": 0}
    assert smtp.subjects == []
    assert _status(letter) == "sending"


# --- the reminders bench -------------------------------------------------------------------
def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_reminders",
                                                  jr.ROOT / "bench" / "reminders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reminders_bench_uses_the_redis_database_its_url_names():
    target = _bench_module().target_redis_url
    assert target("redis://127.0.0.1:6379/12", None) == "redis://127.0.0.1:6379/12"
    assert target("redis://:secret@redis.local:6380/4", None) == \
        "redis://:secret@redis.local:6380/4"
    # --redis-db chooses another one; a URL without a number gets the bench's own
    assert target("redis://127.0.0.1:6379/12", 14) == "redis://127.0.0.1:6379/14"
    assert target("redis://127.0.0.1:6379", None) == "redis://127.0.0.1:6379/13"
    assert target("", None) == "redis://127.0.0.1:6379/13"
