"""Fault soak: N reminders falling due over a few minutes while the jobs machinery is hurt,
then how many arrived, how many twice, how many never, and how late.

    .venv/bin/python bench/soak.py [--n 10000] [--duration 180] [--workers 2] [--pg]

The real scheduler and RQ workers run as subprocesses (`flask crm scheduler`, `flask crm
worker --name ...`). While the reminders fall due, at fixed fractions of --duration:
  15 %  worker 1 is killed with kill -9 in the middle of a job, and restarted at once under
        the same name (as a supervisor would);
  30 %  the Redis database is flushed;
  45 %  the scheduler is killed with kill -9 and restarted;
  55 %  a second scheduler runs for a minute (a third of --duration if that is shorter);
  70 %  the last worker is killed with kill -9 mid-job and restarted under its name.
Goal: 0 lost, 0 duplicates, no reminder more than 10 s late.

Its own databases, nothing else touched: a SQLite file in a temporary folder (or, with --pg,
a schema of its own on the PostgreSQL server of DATABASE_URL, dropped at the end), and one
Redis db, flushed: --redis-db, else the one REDIS_URL names, else 14, refused if it holds
keys that are not the bench's. SCHEDULER_INTERVAL, JOB_BATCH_SIZE and the WORKER_* settings
from the environment reach the processes. Prints figures and, last, one JSON line."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reminders import (OWNER_KEY, ROOT, _drop_schema, _interrupt, _own_redis, _own_schema,
                       _pct, _schema_url, target_redis_url)
from sqlalchemy import func, insert, select

sys.path.insert(0, str(ROOT))
# The project's modules, importable once the root is on the path.
from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from jobs.runner import EPOCH_KEY  # noqa: E402
from models.base import acting_as, utcnow  # noqa: E402
from models.notification import Notification  # noqa: E402
from models.schedule import ScheduledAction  # noqa: E402
from models.task import Task  # noqa: E402
from models.user import CrmUser  # noqa: E402

USERS = 10
GOAL_LATE_SECONDS = 10.0
OWN_REDIS_DB = 14


class Supervisor:
    """The scheduler and worker processes by role; killed ones are started again by the
    bench, and all of them go when it ends, however it ends."""

    def __init__(self, env: dict, log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.running: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}
        self.expected_exits: set[int] = set()

    def start(self, role: str, *args: str) -> subprocess.Popen:
        self.starts[role] = self.starts.get(role, 0) + 1
        path = self.log_dir / f"{role}.{self.starts[role]}.log"
        with open(path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "run", "crm", *args], cwd=ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.args_given, process.log_path = args, path
        self.running[role] = process
        return process

    def kill(self, role: str) -> None:
        process = self.running[role]
        self.expected_exits.add(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart(self, role: str) -> subprocess.Popen:
        return self.start(role, *self.running[role].args_given)

    def stop(self, role: str) -> None:
        process = self.running.pop(role)
        self.expected_exits.add(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def check(self) -> None:
        for role, process in self.running.items():
            if process.poll() is not None and process.pid not in self.expected_exits:
                sys.exit(f"{role} exited with {process.returncode}:\n"
                         + process.log_path.read_text(errors="replace")[-3000:])

    def stop_all(self) -> None:
        for role in list(self.running):
            if self.running[role].poll() is None:
                self.stop(role)


def _log(started: float, text: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)


def _wait_ready(supervisor: Supervisor, connection, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        supervisor.check()
        alive = {name for name in names
                 if connection.hget(f"rq:worker:{name}", "birth") is not None}
        if alive == set(names) and connection.exists(EPOCH_KEY):
            return
        if time.monotonic() > deadline:
            sys.exit(f"the scheduler and the workers did not start in {timeout} s "
                     f"(logs: {supervisor.log_dir})")
        time.sleep(0.1)


def _kill_mid_job(supervisor: Supervisor, connection, role: str, name: str,
                  started: float) -> None:
    """kill -9 while the worker runs a job (or after 10 s of waiting for one), then the
    same name again at once."""
    deadline = time.monotonic() + 10
    while connection.hget(f"rq:worker:{name}", "state") != b"busy" \
            and time.monotonic() < deadline:
        time.sleep(0.002)
    supervisor.kill(role)
    # What RQ shows the dead worker running: a job it did not finish.
    running = connection.scard(f"rq:worker:{name}:executions")
    _log(started, f"{name} killed with kill -9 "
                  f"{'in the middle of a job' if running else 'between jobs'}"
                  "; restarted under the same name")
    supervisor.restart(role)


def _faults(args, supervisor, connection, worker_names, started):
    """The fault plan: (moment after t0 in seconds, what to do)."""
    second_for = min(60.0, args.duration / 3)

    def kill_worker(index):
        return lambda: _kill_mid_job(supervisor, connection, f"worker{index}",
                                     worker_names[index - 1], started)

    def flush():
        connection.flushdb()
        connection.set(OWNER_KEY, "1")
        _log(started, "Redis database flushed")

    def kill_scheduler():
        supervisor.kill("scheduler")
        _log(started, "scheduler killed with kill -9; restarted")
        supervisor.restart("scheduler")

    def second_scheduler():
        supervisor.start("scheduler-second", "scheduler")
        _log(started, f"a second scheduler started for {second_for:.0f} s")

    def stop_second():
        supervisor.stop("scheduler-second")
        _log(started, "the second scheduler stopped")

    d = args.duration
    return sorted([(0.15 * d, kill_worker(1)), (0.30 * d, flush),
                   (0.45 * d, kill_scheduler), (0.55 * d, second_scheduler),
                   (0.55 * d + second_for, stop_second),
                   (0.70 * d, kill_worker(len(worker_names)))], key=lambda item: item[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000, help="reminders")
    parser.add_argument("--duration", type=float, default=180.0,
                        help="seconds over which the reminders fall due")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grace", type=float, default=60.0,
                        help="seconds after the last due moment before the count")
    parser.add_argument("--pg", action="store_true",
                        help="PostgreSQL (DATABASE_URL, a schema of the bench's own) "
                             "instead of a SQLite file")
    parser.add_argument("--schema", default="crm_soak")
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the processes' logs (their folder is printed)")
    parser.add_argument("--force", action="store_true",
                        help="flush the Redis db even if it holds someone else's keys")
    args = parser.parse_args()
    if args.workers < 1 or args.n < 1 or args.duration < 10:
        sys.exit("--workers and --n must be positive, --duration at least 10 s")

    redis_url = target_redis_url(os.environ.get("REDIS_URL", ""), args.redis_db,
                                 default=OWN_REDIS_DB)
    folder = Path(tempfile.mkdtemp(prefix="crm-soak-"))
    if args.pg:
        base_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
        if not base_url.startswith("postgresql"):
            sys.exit("--pg: DATABASE_URL must be PostgreSQL")
        url = _schema_url(base_url, args.schema)
    else:
        url = f"sqlite:///{folder / 'soak.sqlite3'}"
    connection = _own_redis(redis_url, args.force)
    if args.pg:
        _own_schema(base_url, args.schema)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, FLASK_APP="run",
               PYTHONUNBUFFERED="1", SECRET_KEY=os.environ.get("SECRET_KEY", "soak-" * 8),
               INSTANCE_DIR=str(folder))
    supervisor = Supervisor(env, folder)
    try:
        result = _run(args, url, redis_url, connection, supervisor)
    finally:
        supervisor.stop_all()
        connection.flushdb()
        if args.pg:
            _drop_schema(base_url, args.schema)
    if args.keep_logs:
        for path in folder.glob("soak.sqlite3*"):
            path.unlink()
    else:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False))


def _prepare() -> int:
    """The users and a task to remind of; returns the task's id."""
    db.create_all()
    users = [CrmUser(username=f"soak{i}", first_name="Сэмпл", last_name=f"Менеджер {i}",
                     email=f"soak{i}@example.ru", active=True) for i in range(USERS)]
    db.session.add_all(users)
    db.session.flush()
    with acting_as(None):
        task = Task(title="Позвонить клиенту", assignee_id=users[0].id)
        db.session.add(task)
        db.session.commit()
    return task.id


def _reminders(task_id: int, n: int, first: dt.datetime, duration: float) -> None:
    """Reminder i falls due at first + i/n of the duration: a steady stream."""
    step = duration / n
    for start in range(0, n, 5000):
        db.session.execute(insert(ScheduledAction), [
            {"action": "remind", "entity": "task", "record_id": task_id,
             "due_at": (first + dt.timedelta(seconds=i * step)).replace(microsecond=0),
             "params": {"to": [{"user": f"soak{i % USERS}"}], "text": f"Напоминание {i}"},
             "effect_key": f"soak:{i}", "status": "pending", "attempts": 0, "occurrence": 0,
             "outlives_stage": False, "created_at": utcnow()}
            for i in range(start, min(n, start + 5000))])
    db.session.commit()


def _by_moment(notes, first: dt.datetime, duration: float) -> None:
    """The worst lateness of the reminders due in each twentieth of the run: which fault
    made them late."""
    worst: dict[int, float] = {}
    for created, due in notes:
        part = min(19, max(0, int((due - first).total_seconds() / duration * 20)))
        worst[part] = max(worst.get(part, 0.0), (created - due).total_seconds())
    print("worst lateness by due moment (s after the first): " + ", ".join(
        f"{part * duration / 20:.0f}: {seconds:.1f}" for part, seconds in sorted(worst.items())))


def _delivered() -> int:
    try:
        return db.session.scalar(select(func.count(Notification.id))) or 0
    finally:
        db.session.rollback()


def _run(args, url, redis_url, connection, supervisor: Supervisor) -> dict:
    started = time.monotonic()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                      "TESTING": True})
    with app.app_context():
        task_id = _prepare()
        names = [f"soak-worker-{i + 1}" for i in range(args.workers)]
        supervisor.start("scheduler", "scheduler")
        for i, name in enumerate(names):
            supervisor.start(f"worker{i + 1}", "worker", "--name", name)
        _wait_ready(supervisor, connection, names, timeout=120)
        first = utcnow() + dt.timedelta(seconds=10)
        _reminders(task_id, args.n, first, args.duration)
        t0 = time.monotonic() + (first - utcnow()).total_seconds()
        _log(started, f"{args.n} reminders due from {first:%H:%M:%S} UTC over "
                      f"{args.duration:.0f} s; scheduler and {args.workers} workers running "
                      f"(logs: {supervisor.log_dir}; Redis {redis_url}; database "
                      f"{'PostgreSQL' if args.pg else 'SQLite'})")
        plan = _faults(args, supervisor, connection, names, started)
        give_up = t0 + args.duration + args.grace
        report_every, next_report = args.duration / 10, t0 + args.duration / 10
        while time.monotonic() < give_up:
            supervisor.check()
            while plan and time.monotonic() >= t0 + plan[0][0]:
                plan.pop(0)[1]()
            delivered = _delivered()
            if not plan and delivered >= args.n:
                break
            if time.monotonic() >= next_report:
                due = min(args.n, int((time.monotonic() - t0) / args.duration * args.n))
                _log(started, f"due {due}, delivered {delivered}")
                next_report += report_every
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate would still be on its way now
        result = _figures(args.n, first, args.duration)
    _log(started, "done")
    return result


def _figures(n: int, first: dt.datetime, duration: float) -> dict:
    rows = dict(db.session.execute(select(ScheduledAction.effect_key,
                                          ScheduledAction.status)).all())
    runs_over = db.session.scalar(select(func.count()).where(ScheduledAction.attempts > 1)) or 0
    per_key = dict(db.session.execute(select(Notification.source_key, func.count())
                                      .group_by(Notification.source_key)).all())
    notes = list(db.session.execute(select(Notification.created_at, Notification.due_at)))
    lateness = [(created - due).total_seconds() for created, due in notes]
    db.session.rollback()
    delivered = sum(1 for key in rows if per_key.get(key))
    stuck = sum(1 for key, status in rows.items()
                if not per_key.get(key) and status in ("pending", "enqueued"))
    lost = sum(1 for key, status in rows.items()
               if not per_key.get(key) and status not in ("pending", "enqueued"))
    extra = sum(count - 1 for count in per_key.values() if count > 1)
    duplicates = extra + runs_over
    late = sum(1 for seconds in lateness if seconds > GOAL_LATE_SECONDS)
    p50, p95 = (round(_pct(lateness, q), 2) for q in (0.5, 0.95))
    worst = round(max(lateness), 2) if lateness else None
    print(f"delivered {delivered} of {n}; lost {lost}; stuck {stuck}; duplicates "
          f"{duplicates} (extra notifications {extra}, rows run more than once {runs_over})")
    print(f"lateness (notification − due): p50 {p50} s, p95 {p95} s, max {worst} s; "
          f"more than {GOAL_LATE_SECONDS:.0f} s late: {late}")
    _by_moment(notes, first, duration)
    met = lost == 0 and stuck == 0 and duplicates == 0 and late == 0 and delivered == n
    print("goal " + ("met" if met else "NOT met") + f": 0 lost, 0 duplicates, none more than "
          f"{GOAL_LATE_SECONDS:.0f} s late")
    return {"n": n, "delivered": delivered, "lost": lost, "stuck": stuck,
            "duplicates": duplicates, "p50_lateness_s": p50, "p95_lateness_s": p95,
            "max_lateness_s": worst, "late_over_10s": late, "goal_met": met}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
