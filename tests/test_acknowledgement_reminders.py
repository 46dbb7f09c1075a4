"""The reminders of «Ознакомление» under a frozen clock, run by the scheduler's due rows as
the other schedule tests run them: a working day before the deadline and at it, only to
those who have not confirmed by then, once however often a row runs; the author learns at
the deadline how many have not; a closed document reminds nobody."""
from __future__ import annotations

import time_machine
from sqlalchemy import select

from app.extensions import db
from jobs.tasks import run_scheduled
from models.notification import Notification
from models.schedule import ScheduledAction
from tests.acknowledgement_helpers import (DEADLINE, LAUNCH, REMINDER, launch, notes_of,
                                           only_acknowledgement, tick)
from tests.process_flow_helpers import msk

PEOPLE = ("manager", "manager2", "engineer")


def _launch(login):
    with time_machine.travel(LAUNCH, tick=False):
        assert launch(login("sales_head"), users=list(PEOPLE)).status_code == 302
        tick()  # the launch notice
    return only_acknowledgement()


def _confirm(login, username, ack, when):
    with time_machine.travel(when, tick=False):
        assert login(username).post(f"/acknowledgement/{ack.id}/confirm").status_code == 302


def test_the_reminder_before_the_deadline_goes_only_to_those_who_have_not_confirmed(login):
    ack = _launch(login)
    _confirm(login, "manager", ack, msk(2026, 12, 2, 9, 0))
    with time_machine.travel(msk(2026, 12, 3, 17, 59), tick=False):
        assert tick().schedule == 0  # not before its time
    assert notes_of("manager2", "reminder") == []
    with time_machine.travel(REMINDER, tick=False):
        assert tick().schedule == 1
        assert tick().schedule == 0
    assert notes_of("manager", "reminder") == []
    for name in ("manager2", "engineer"):
        (note,) = notes_of(name, "reminder")
        assert note.text.startswith("Напоминание: ознакомьтесь с документом «Приказ о пожарной")
        assert "04.12.2026 18:00" in note.text and note.record_id == ack.id
    # the author is not reminded of their own document
    assert notes_of("sales_head", "reminder") == []


def test_at_the_deadline_those_who_have_not_are_told_and_the_author_learns_how_many(login):
    ack = _launch(login)
    _confirm(login, "manager", ack, msk(2026, 12, 2, 9, 0))
    with time_machine.travel(REMINDER, tick=False):
        assert tick().schedule == 1
    _confirm(login, "manager2", ack, msk(2026, 12, 3, 19, 0))  # after the reminder
    with time_machine.travel(DEADLINE, tick=False):
        assert tick().schedule == 1
    assert [n.kind for n in notes_of("engineer")] == ["process", "reminder", "overdue"]
    assert [n.kind for n in notes_of("manager2")] == ["process", "reminder"]
    assert [n.kind for n in notes_of("manager")] == ["process"]
    (author,) = notes_of("sales_head")
    assert "не ознакомлены 1 из 3" in author.text and author.kind == "overdue"
    rows = db.session.scalars(select(ScheduledAction))
    assert {r.status for r in rows} == {"done"}


def test_a_row_run_twice_notifies_once(login):
    ack = _launch(login)
    with time_machine.travel(REMINDER, tick=False):
        tick()
        (row,) = db.session.scalars(select(ScheduledAction).where(
            ScheduledAction.action == "acknowledgement_reminder")).all()
        row_id = row.id
        # a copy of the job handed over again after a lost claim runs it once more
        row.status = "enqueued"
        db.session.commit()
        run_scheduled([row_id])
        run_scheduled([row_id])
    for name in PEOPLE:
        assert len(notes_of(name, "reminder")) == 1, name
    assert len(db.session.scalars(select(Notification).where(
        Notification.record_id == ack.id, Notification.kind == "reminder")).all()) == 3


def test_when_everyone_has_confirmed_nobody_is_reminded(login):
    ack = _launch(login)
    for name in PEOPLE:
        _confirm(login, name, ack, msk(2026, 12, 2, 12, 0))
    with time_machine.travel(msk(2026, 12, 7, 9, 0), tick=False):
        assert tick().schedule == 2
    assert db.session.scalars(select(Notification).where(
        Notification.kind.in_(("reminder", "overdue")))).all() == []


def test_a_closed_document_reminds_nobody(login):
    ack = _launch(login)
    with time_machine.travel(msk(2026, 12, 2, 12, 0), tick=False):
        assert login("sales_head").post(f"/acknowledgement/{ack.id}/close").status_code == 302
    with time_machine.travel(msk(2026, 12, 7, 9, 0), tick=False):
        assert tick().schedule == 0
    assert db.session.scalars(select(Notification).where(
        Notification.kind.in_(("reminder", "overdue")))).all() == []
    # a row an admin sends again from «Расписание» finds it closed and cancels itself
    row = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.action == "acknowledgement_reminder"))
    row.status = "enqueued"
    db.session.commit()
    with time_machine.travel(msk(2026, 12, 7, 9, 0), tick=False):
        run_scheduled([row.id])
    db.session.expire_all()
    assert row.status == "cancelled" and row.last_error == "Ознакомление закрыто"
    assert notes_of("engineer", "reminder") == []
