"""The scheduler and the jobs under a frozen clock, in-process (the embedded runner): a
reminder fires when due and not before, once; delays, weekly repeats, date-relative rows;
task deadlines escalate; a stage deadline notifies; a failed row is retried then failed."""

import pytest
import time_machine
from sqlalchemy import func, select

from app.extensions import db
from jobs import scheduler
from jobs.runner import InlineRunner
from models.notification import Notification
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction
from models.task import Task
from models.user import Department
from tests.process_flow_helpers import msk, user, utc


def _tick():
    return scheduler.tick(runner=InlineRunner())


def _notes(**where):
    query = select(Notification)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return list(db.session.scalars(query.order_by(Notification.id)))


def _row(**values) -> ScheduledAction:
    row = ScheduledAction(**{"params": {}, "effect_key": f"test:{values.get('action')}",
                             **values})
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture()
def task_of(app):
    def make(**fields):
        task = Task(title=fields.pop("title", "Позвонить клиенту"), **fields)
        db.session.add(task)
        db.session.commit()
        return task
    return make


def test_a_five_minute_reminder_fires_at_five_minutes_and_not_before(app, task_of):
    task = task_of(assignee_id=user("manager").id)
    with time_machine.travel(msk(2026, 12, 1, 10, 0), tick=False):
        row = _row(action="remind", entity="task", record_id=task.id,
                   due_at=utc(2026, 12, 1, 10, 5),
                   params={"to": [{"user": "manager"}], "text": "Перезвонить"})
    with time_machine.travel(msk(2026, 12, 1, 10, 4, 59), tick=False):
        assert _tick().schedule == 0
        assert _notes() == []
    with time_machine.travel(msk(2026, 12, 1, 10, 5), tick=False):
        assert _tick().schedule == 1
        assert _tick().schedule == 0
    notes = _notes()
    assert [(n.user_id, n.text, n.kind) for n in notes] == [
        (user("manager").id, "Перезвонить", "reminder")]
    db.session.refresh(row)
    assert row.status == "done" and row.attempts == 1


def test_a_row_run_twice_notifies_once(app, task_of):
    from jobs.tasks import run_scheduled

    task = task_of(assignee_id=user("manager").id)
    row = _row(action="remind", entity="task", record_id=task.id,
               due_at=utc(2020, 1, 1, 9, 0), params={"to": [{"user": "manager"}],
                                                      "text": "Раз"})
    row.status = "enqueued"
    db.session.commit()
    row_id = row.id
    run_scheduled([row_id])
    # a copy of the job delivered again (re-enqueued after a lost Redis) finds it done
    run_scheduled([row_id])
    db.session.get(ScheduledAction, row_id).status = "enqueued"
    db.session.commit()
    run_scheduled([row_id])  # even forced to run again: the notification key holds
    assert len(_notes()) == 1


def test_downtime_is_caught_up(app, task_of):
    task = task_of(assignee_id=user("manager").id)
    for minute in range(3):
        _row(action="remind", entity="task", record_id=task.id, effect_key=f"r{minute}",
             due_at=utc(2026, 12, 1, 10, minute), params={"to": [{"user": "manager"}],
                                                          "text": f"№{minute}"})
    with time_machine.travel(msk(2026, 12, 2, 9, 0), tick=False):
        assert _tick().schedule == 3
    assert [n.text for n in _notes()] == ["№0", "№1", "№2"]


def test_a_failing_row_is_retried_with_backoff_then_failed(app, task_of):
    app.config.update(JOB_MAX_ATTEMPTS=2, JOB_RETRY_BASE_SECONDS=60)
    try:
        task = task_of(assignee_id=user("manager").id)
        row = _row(action="no_such_action", entity="task", record_id=task.id,
                   due_at=utc(2026, 12, 1, 10, 0))
        row_id = row.id
        with time_machine.travel(msk(2026, 12, 1, 10, 0), tick=False):
            _tick()
        db.session.expire_all()
        row = db.session.get(ScheduledAction, row_id)
        # an unknown action cannot succeed later: failed at once, its error visible
        assert row.status == "failed" and "no_such_action" in row.last_error

        from jobs import actions

        calls = []

        def flaky(row, record, now):
            calls.append(now)
            raise RuntimeError("SMTP молчит")
        actions._ON_RECORD["flaky"] = flaky
        try:
            row = _row(action="flaky", entity="task", record_id=task.id, effect_key="f",
                       due_at=utc(2026, 12, 1, 10, 0))
            with time_machine.travel(msk(2026, 12, 1, 10, 0), tick=False):
                _tick()
                db.session.expire_all()
                assert db.session.get(ScheduledAction, row.id).status == "pending"
                _tick()  # the backoff has not passed
                assert len(calls) == 1
            with time_machine.travel(msk(2026, 12, 1, 10, 1, 1), tick=False):
                _tick()
            db.session.expire_all()
            row = db.session.get(ScheduledAction, row.id)
            assert len(calls) == 2 and row.status == "failed" and row.attempts == 2
            assert "SMTP молчит" in row.last_error
        finally:
            actions._ON_RECORD.pop("flaky")
    finally:
        app.config.update(JOB_MAX_ATTEMPTS=5, JOB_RETRY_BASE_SECONDS=30)


def test_task_deadline_notifies_the_assignee_and_escalates_to_the_head(app, task_of):
    manager, head = user("manager"), user("sales_head")
    # tests.factories: the manager works in «Отдел продаж», headed by the head of sales
    assert db.session.get(Department, manager.department_id).head_id == head.id
    with time_machine.travel(msk(2026, 12, 1, 9, 0), tick=False):
        task = task_of(assignee_id=manager.id, deadline=utc(2026, 12, 1, 12, 0, 37))
        row = db.session.scalar(select(ScheduledAction).where(
            ScheduledAction.effect_key == f"task:{task.id}:task_deadline"))
        assert row.due_at == utc(2026, 12, 1, 12, 0, 37) and row.status == "pending"
    # the deadline moved: the row follows it
    task.deadline = utc(2026, 12, 1, 15, 0, 37)
    db.session.commit()
    db.session.refresh(row)
    assert row.due_at == utc(2026, 12, 1, 15, 0, 37)
    with time_machine.travel(msk(2026, 12, 1, 14, 0), tick=False):
        _tick()
        assert _notes() == []
    with time_machine.travel(msk(2026, 12, 1, 15, 0, 38), tick=False):
        _tick()
    notes = _notes()
    assert [(n.user_id, n.kind) for n in notes] == [(manager.id, "overdue"),
                                                   (head.id, "escalation")]
    assert notes[0].text == "Просрочена задача «Позвонить клиенту» (срок 01.12.2026 15:00)"
    assert notes[1].text == ("Задержка: просрочена задача «Позвонить клиенту» (срок "
                             "01.12.2026 15:00), исполнитель: Тестов Иван")
    # the same deadline saved again by a form (minutes only) is no new deadline
    task = db.session.get(Task, task.id)
    task.deadline = utc(2026, 12, 1, 15, 0)
    task.title = "Позвонить клиенту"
    db.session.commit()
    with time_machine.travel(msk(2026, 12, 1, 16, 0), tick=False):
        _tick()
    assert len(_notes()) == 2
    # moved to another minute: it is a new deadline, told again when it passes
    task = db.session.get(Task, task.id)
    task.deadline = utc(2026, 12, 1, 17, 0)
    db.session.commit()
    with time_machine.travel(msk(2026, 12, 1, 17, 0, 1), tick=False):
        _tick()
    assert len(_notes()) == 4


def test_closing_a_task_cancels_its_reminder_and_deadline(app, task_of):
    task = task_of(assignee_id=user("manager").id, deadline=utc(2030, 1, 1, 12, 0),
                   remind_at=utc(2030, 1, 1, 10, 0))
    rows = list(db.session.scalars(select(ScheduledAction).where(
        ScheduledAction.entity == "task", ScheduledAction.record_id == task.id)))
    assert sorted(r.action for r in rows) == ["task_deadline", "task_reminder"]
    task.status = "done"
    db.session.commit()
    for row in rows:
        db.session.refresh(row)
    assert {r.status for r in rows} == {"cancelled"}


def test_task_reminder_reaches_the_assignee(app, task_of):
    task_of(assignee_id=user("manager").id, remind_at=utc(2026, 12, 1, 10, 0))
    with time_machine.travel(msk(2026, 12, 1, 10, 0, 1), tick=False):
        _tick()
    assert [n.text for n in _notes(user_id=user("manager").id)] == [
        "Напоминание по задаче «Позвонить клиенту»"]  # no deadline, no record to name


def test_notification_outbox_rows_are_delivered_in_app_and_copied_by_email(app):
    manager = user("manager")
    manager.notify_email = True
    db.session.add(OutboxMessage(kind="notification", recipients=[manager.id],
                                 body="Новая заявка", effect_key="n1"))
    db.session.commit()
    _tick()
    assert [n.text for n in _notes(user_id=manager.id)] == ["Новая заявка"]
    copy = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    assert copy.recipients == [manager.email]
    # the e-mail copy: no SMTP configured in tests, so it is held, visible, not lost
    _tick()
    db.session.expire_all()
    copy = db.session.get(OutboxMessage, copy.id)
    assert copy.status == "held" and "SMTP не настроен" in copy.last_error
    manager.notify_email = False
    db.session.commit()


def test_two_schedulers_at_once_hand_over_each_row_once(app, task_of):
    """The SQLite single-writer lock: the second scheduler of the same instant skips."""
    import threading

    task = task_of(assignee_id=user("manager").id)
    for i in range(20):
        _row(action="remind", entity="task", record_id=task.id, effect_key=f"t{i}",
             due_at=utc(2020, 1, 1, 9, 0), params={"to": [{"user": "manager"}],
                                                   "text": f"{i}"})
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(scheduler.tick(runner=InlineRunner()).schedule)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(results) == 20
    assert db.session.scalar(select(func.count(Notification.id))) == 20


def test_a_task_reminder_moved_after_it_fired_reminds_again(app, task_of):
    task = task_of(assignee_id=user("manager").id, remind_at=utc(2026, 12, 1, 10, 0))
    with time_machine.travel(msk(2026, 12, 1, 10, 0, 1), tick=False):
        _tick()
    task = db.session.get(Task, task.id)
    task.remind_at = utc(2026, 12, 2, 10, 0)
    db.session.commit()
    with time_machine.travel(msk(2026, 12, 2, 10, 0, 1), tick=False):
        _tick()
    assert len(_notes(user_id=user("manager").id)) == 2


def test_a_date_far_in_the_future_is_refused_in_russian(app, client):
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Позвонить", "assignee": user("manager").id,
        "remind_at": "9999-12-31T23:59:59"})
    assert resp.status_code == 422, resp.json
    assert "Напомнить: год от 2000 до 2100" in str(resp.json)
    assert db.session.scalar(select(func.count(ScheduledAction.id))) == 0


def test_the_claim_leaves_a_row_finished_meanwhile_alone(app, task_of, monkeypatch):
    """SQLite takes its write lock only at the claim's UPDATE: a row a worker marked done
    between the SELECT and the UPDATE must not be handed over again."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks the selected rows (FOR UPDATE SKIP LOCKED)")
    from sqlalchemy import text

    task = task_of(assignee_id=user("manager").id)
    row = _row(action="remind", entity="task", record_id=task.id,
               due_at=utc(2020, 1, 1, 9, 0), params={"to": [{"user": "manager"}],
                                                     "text": "Раз"})
    row_id = row.id
    original = db.session.scalars

    raced = []

    def racing_scalars(statement, *args, **kwargs):
        result = list(original(statement, *args, **kwargs))
        if not raced:  # the claim's SELECT of schedule rows: a worker finishes it now
            raced.append(result)
            with db.engine.begin() as other:
                other.execute(text("UPDATE scheduled_action SET status = 'done' "
                                   "WHERE id = :i"), {"i": row_id})
        return result
    monkeypatch.setattr(db.session, "scalars", racing_scalars)
    result = scheduler.tick(runner=InlineRunner())
    monkeypatch.undo()
    assert raced == [[row_id]] and result.schedule == 0
    db.session.expire_all()
    assert db.session.get(ScheduledAction, row_id).status == "done"
    assert _notes() == []


def test_e_mail_copies_go_one_per_person(app):
    from app.notify import notify_users

    people = [user("manager"), user("manager2")]
    for person in people:
        person.notify_email = True
    db.session.commit()
    try:
        notify_users([p.id for p in people], "Совещание в 15:00", key="meeting")
        notify_users([p.id for p in people], "Совещание в 15:00", key="meeting")
        db.session.commit()
        letters = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [m.recipients for m in letters] == [[p.email] for p in people]
    finally:
        for person in people:
            person.notify_email = False
        db.session.commit()


def test_seeding_backfills_deadlines_of_tasks_made_before_the_schedule(app):
    from sqlalchemy import text

    from app.deadlines import backfill

    db.session.execute(text(
        "INSERT INTO task (title, status, assignee_id, deadline, created_at, updated_at) "
        "VALUES ('Старая задача', 'open', :u, :d, :d, :d)"),
        {"u": user("manager").id, "d": utc(2026, 1, 1, 9, 0)})
    db.session.commit()
    assert backfill() == 1
    assert backfill() == 0
    row = db.session.scalar(select(ScheduledAction))
    assert (row.action, row.due_at, row.status) == ("task_deadline", utc(2026, 1, 1, 9, 0),
                                                    "pending")


def test_a_reminder_after_the_deadline_is_refused(app, client):
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Позвонить", "assignee": user("manager").id,
        "deadline": "2026-12-02T10:00:00", "remind_at": "2026-12-05T10:00:00"})
    assert resp.status_code == 422, resp.json
    assert "Напомнить: не позже срока задачи" in str(resp.json)
    assert db.session.scalar(select(func.count(Task.id))) == 0
