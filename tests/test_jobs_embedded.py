"""Embedded mode: with no REDIS_URL the web process runs the scheduler in a thread and a
reminder arrives with no Redis; with REDIS_URL it never runs jobs itself."""
import datetime as dt
import threading
import time

from sqlalchemy import func, select

from app.extensions import db
from jobs import embedded
from jobs.runner import InlineRunner, RQRunner, get_runner
from models.base import utcnow
from models.notification import Notification
from models.schedule import ScheduledAction
from models.task import Task
from tests.process_flow_helpers import user


def _wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.expire_all()
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_without_redis_the_web_process_delivers_a_reminder_itself(app):
    assert not app.config.get("REDIS_URL")
    assert isinstance(get_runner(app), InlineRunner)
    task = Task(title="Позвонить", assignee_id=user("manager").id)
    db.session.add(task)
    db.session.commit()
    stop = threading.Event()
    thread = embedded.start(app, stop=stop)
    try:
        assert thread is not None and thread.is_alive()
        db.session.add(ScheduledAction(
            action="remind", entity="task", record_id=task.id, effect_key="embedded:1",
            due_at=utcnow() - dt.timedelta(seconds=1),
            params={"to": [{"user": "manager"}], "text": "Встроенный режим"}))
        db.session.commit()
        assert _wait_for(lambda: db.session.scalar(
            select(func.count(Notification.id))) == 1)
        row = db.session.scalar(select(ScheduledAction))
        assert row.status == "done"
    finally:
        stop.set()
        embedded._wake.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_with_redis_the_web_process_never_runs_jobs(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    try:
        assert embedded.start(app) is None
        assert isinstance(get_runner(app), RQRunner)
    finally:
        app.config["REDIS_URL"] = ""
