"""`flask crm scheduler --once`, `flask crm worker` and `flask crm jobs` from the command line."""
from sqlalchemy import select

from app.extensions import db
from models.base import utcnow
from models.notification import Notification
from models.schedule import ScheduledAction
from models.task import Task
from tests.process_flow_helpers import user


def test_scheduler_once_runs_due_rows_in_process_without_redis(app, runner):
    task = Task(title="Позвонить", assignee_id=user("manager").id)
    db.session.add(task)
    db.session.commit()
    db.session.add(ScheduledAction(action="remind", entity="task", record_id=task.id,
                                   effect_key="cli:1", due_at=utcnow(),
                                   params={"to": [{"user": "manager"}], "text": "Из CLI"}))
    db.session.commit()
    result = runner.invoke(args=["crm", "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "Передано: расписание 1, сообщения 0" in result.output
    db.session.expire_all()
    assert [n.text for n in db.session.scalars(select(Notification))] == ["Из CLI"]
    result = runner.invoke(args=["crm", "jobs"])
    assert "встроенный исполнитель" in result.output
    assert "к выполнению сейчас 0" in result.output


def test_worker_needs_redis_and_says_so_in_russian(app, runner):
    result = runner.invoke(args=["crm", "worker", "--burst"])
    assert result.exit_code == 2
    assert "REDIS_URL не задан" in result.output


def test_worker_refuses_an_unknown_queue(app, runner):
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    try:
        result = runner.invoke(args=["crm", "worker", "--burst", "--queue", "nope"])
    finally:
        app.config["REDIS_URL"] = ""
    assert result.exit_code == 2 and "Неизвестная очередь: nope" in result.output
