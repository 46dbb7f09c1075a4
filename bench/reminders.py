"""Benchmark: N reminders falling due at the same moment, delivered by the real scheduler
and RQ workers (subprocesses), then one reminder on the idle system.

    .venv/bin/python bench/reminders.py [--n 10000] [--workers 2]

PostgreSQL and Redis: DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) and
REDIS_URL (default redis://127.0.0.1:6379/13). Nothing of theirs is touched: the tables live
in a schema of the bench's own (--schema, dropped at the end unless --keep), and on the
Redis server only the db number REDIS_URL names is used and flushed (--redis-db chooses
another; a URL without one gets db 13), and only if it is empty or the bench's. SCHEDULER_INTERVAL
and JOB_BATCH_SIZE from the environment reach the scheduler and the workers. Prints figures
and, last, one JSON line."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Marks the Redis db as the bench's: a db holding keys without it belongs to someone else.
OWNER_KEY = "crm-bench:owner"
USERS = 10


def _schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


DEFAULT_REDIS_DB = 13


def target_redis_url(url: str, db_number: int | None, default: int = DEFAULT_REDIS_DB) -> str:
    """REDIS_URL with the db the bench may flush: --redis-db if given, else the one the URL
    names, else the bench's default."""
    parts = urlsplit(url or "redis://127.0.0.1:6379")
    named = parts.path.strip("/")
    if db_number is None:
        db_number = int(named) if named.isdigit() else default
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_number}", parts.query, ""))


def _own_redis(url: str, force: bool):
    from redis import Redis

    connection = Redis.from_url(url, socket_connect_timeout=5)
    if connection.dbsize() and not connection.exists(OWNER_KEY) and not force:
        sys.exit(f"Redis {url} holds keys that are not the bench's; choose another "
                 f"--redis-db or pass --force")
    connection.flushdb()
    connection.set(OWNER_KEY, "1")
    return connection


def _own_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


class Processes:
    """The scheduler and the workers; all of them go when the bench ends, however it ends."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir, self.items = env, log_dir, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        path = self.log_dir / f"{name}.log"
        with open(path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "run", "crm", *args], cwd=ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log_path = path
        self.items.append(process)
        return process

    def check(self) -> None:
        for process in self.items:
            if process.poll() is not None:
                sys.exit(f"{process.log_path.stem} exited with {process.returncode}:\n"
                         + process.log_path.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        for process in self.items:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.items:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _wait_ready(processes: Processes, connection, workers: int, timeout: float) -> None:
    from rq import Worker

    from jobs.runner import EPOCH_KEY

    deadline = time.monotonic() + timeout
    while True:
        processes.check()
        names = {w.name for w in Worker.all(connection=connection)}
        scheduler_up = "Планировщик запущен" in processes.items[0].log_path.read_text()
        # The epoch key is set by the scheduler's first (idle) tick: it is looping.
        if len(names) >= workers and scheduler_up and connection.exists(EPOCH_KEY):
            return
        if time.monotonic() > deadline:
            sys.exit("the scheduler and the workers did not start in time")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ahead", type=float, default=3.0,
                        help="seconds between scheduling the batch and its due moment")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds after the due moment before undelivered ones count lost")
    parser.add_argument("--idle-samples", type=int, default=8)
    parser.add_argument("--schema", default="crm_bench")
    parser.add_argument("--redis-db", type=int, default=None,
                        help="Redis db to use and flush (default: the one REDIS_URL names)")
    parser.add_argument("--force", action="store_true",
                        help="flush the Redis db even if it holds someone else's keys")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    if not base_url.startswith("postgresql"):
        sys.exit("DATABASE_URL must be PostgreSQL")
    redis_url = target_redis_url(os.environ.get("REDIS_URL", ""), args.redis_db)
    url = _schema_url(base_url, args.schema)
    connection = _own_redis(redis_url, args.force)
    _own_schema(base_url, args.schema)
    # SIGTERM ends the bench the way Ctrl-C does, through the finally below; SIGINT too
    # when a shell started the bench in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, FLASK_APP="run",
               PYTHONUNBUFFERED="1")
    processes = Processes(env, Path(tempfile.mkdtemp(prefix="crm-bench-reminders-")))
    try:
        result = _run(args, url, redis_url, connection, processes)
    finally:
        processes.stop()
        connection.flushdb()
        if not args.keep:
            _drop_schema(base_url, args.schema)
    print(json.dumps(result, ensure_ascii=False))


def _run(args, url: str, redis_url: str, connection, processes: Processes) -> dict:
    from sqlalchemy import func, insert, select, update

    from app import create_app
    from app.extensions import db
    from models.base import acting_as, utcnow
    from models.notification import Notification
    from models.schedule import ScheduledAction
    from models.task import Task
    from models.user import CrmUser

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                      "TESTING": True})
    with app.app_context():
        db.create_all()
        users = [CrmUser(username=f"bench{i}", first_name="Бенч", last_name=f"Менеджер {i}",
                         email=f"bench{i}@example.ru", active=True) for i in range(USERS)]
        db.session.add_all(users)
        db.session.flush()
        with acting_as(None):
            task = Task(title="Позвонить клиенту", assignee_id=users[0].id)
            db.session.add(task)
            db.session.commit()
        # Far ahead for now: they all fall due together once everything is up.
        later = dt.datetime(2100, 1, 1)
        db.session.execute(insert(ScheduledAction), [
            {"action": "remind", "entity": "task", "record_id": task.id, "due_at": later,
             "params": {"to": [{"user": f"bench{i % USERS}"}], "text": f"Напоминание {i}"},
             "effect_key": f"bench:{i}", "status": "pending", "attempts": 0,
             "occurrence": 0, "outlives_stage": False, "created_at": utcnow()}
            for i in range(args.n)])
        db.session.commit()

        processes.start("scheduler", "scheduler")
        for i in range(args.workers):
            processes.start(f"worker{i + 1}", "worker", "--name", f"bench-worker-{i + 1}")
        _wait_ready(processes, connection, args.workers, timeout=60)

        due = (utcnow() + dt.timedelta(seconds=args.ahead)).replace(microsecond=0)
        db.session.execute(update(ScheduledAction).values(due_at=due))
        db.session.commit()
        print(f"{args.n} reminders due at {due:%H:%M:%S} UTC; scheduler and "
              f"{args.workers} workers running (logs: {processes.log_dir})")

        def count() -> int:
            try:
                return db.session.scalar(select(func.count(Notification.id))) or 0
            finally:
                db.session.rollback()

        give_up = due + dt.timedelta(seconds=args.timeout)
        delivered, seen_all = 0, None
        while utcnow() < give_up:
            processes.check()
            delivered = count()
            if delivered >= args.n:
                seen_all = round((utcnow() - due).total_seconds(), 2)
                break
            time.sleep(0.05)
        time.sleep(0.5)  # a duplicate would still be on its way now

        rows = dict(db.session.execute(select(ScheduledAction.effect_key,
                                              ScheduledAction.status)).all())
        attempts_over = db.session.scalar(select(func.count()).where(
            ScheduledAction.attempts > 1)) or 0
        per_key = dict(db.session.execute(select(Notification.source_key, func.count())
                                          .group_by(Notification.source_key)).all())
        lateness = [(created - due_at).total_seconds() for created, due_at in
                    db.session.execute(select(Notification.created_at, Notification.due_at))]
        last = db.session.scalar(select(func.max(Notification.created_at)))
        db.session.rollback()
        delivered = sum(1 for key in rows if per_key.get(key))
        lost = sum(1 for key, status in rows.items() if status != "done" or not per_key.get(key))
        duplicates = sum(c - 1 for c in per_key.values() if c > 1) + attempts_over
        seconds_to_all = round((last - due).total_seconds(), 2) \
            if last is not None and not lost else None
        p50, p95, p99 = (round(_pct(lateness, q), 3) for q in (0.5, 0.95, 0.99))
        print(f"delivered {delivered} of {args.n}; all delivered "
              f"{seconds_to_all} s after the due moment "
              f"({round(args.n / seconds_to_all) if seconds_to_all else '-'} reminders/s; "
              f"all committed and seen by the bench at {seen_all} s)")
        print(f"lateness (notification − due): p50 {p50} s, p95 {p95} s, p99 {p99} s, "
              f"max {round(max(lateness), 3) if lateness else '-'} s")
        print(f"duplicates {duplicates} (extra notifications "
              f"{sum(c - 1 for c in per_key.values() if c > 1)}, rows run more than once "
              f"{attempts_over}); lost {lost}")

        idle, idle_seen = [], []
        for i in range(args.idle_samples):
            # a different point of the scheduler's pause each time
            time.sleep(random.uniform(1.0, 2.0))
            at = utcnow() + dt.timedelta(seconds=2)
            db.session.add(ScheduledAction(
                action="remind", entity="task", record_id=task.id, due_at=at,
                params={"to": [{"user": "bench0"}], "text": "Одно напоминание"},
                effect_key=f"bench:idle:{i}"))
            db.session.commit()
            stop_at = time.monotonic() + 30
            created = None
            while created is None and time.monotonic() < stop_at:
                processes.check()
                created = db.session.scalar(select(Notification.created_at).where(
                    Notification.source_key == f"bench:idle:{i}"))
                db.session.rollback()
                time.sleep(0.02)
            idle.append(round((created - at).total_seconds(), 3) if created else None)
            idle_seen.append(round((utcnow() - at).total_seconds(), 2) if created else None)
        idle_worst = None if None in idle or not idle else max(idle)
        print(f"one reminder on the idle system, lateness: {idle} s "
              f"(worst {idle_worst} s; committed and seen by the bench at {idle_seen} s; "
              f"SCHEDULER_INTERVAL {os.environ.get('SCHEDULER_INTERVAL', '1')} s)")
    return {"delivered": delivered, "lost": lost, "duplicates": duplicates,
            "seconds_to_all": seconds_to_all, "p99_lateness_s": p99,
            "p50_lateness_s": p50, "p95_lateness_s": p95, "idle_lateness_s": idle_worst,
            "n": args.n, "workers": args.workers}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
