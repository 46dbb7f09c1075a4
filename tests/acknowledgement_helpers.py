"""Shared steps of the «Ознакомление» tests (no tests here): the launch through the form,
the scheduler's tick, the notifications a person got."""
from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import select

from app.extensions import db
from jobs import scheduler
from jobs.runner import InlineRunner
from models.acknowledgement import Acknowledgement, AcknowledgementRecipient
from models.notification import Notification
from models.user import Department
from tests.process_flow_helpers import msk, user

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
# Tuesday 1 December 2026, 10:00 in Moscow: the launch; the deadline is Friday at 18:00, so
# the reminder comes on Thursday at 18:00 (one working day before).
LAUNCH = msk(2026, 12, 1, 10, 0)
DEADLINE_TEXT = "2026-12-04T18:00"
REMINDER = msk(2026, 12, 3, 18, 0)
DEADLINE = msk(2026, 12, 4, 18, 0)


def department(code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


def form(title="Приказ о пожарной безопасности", users=(), departments=(), link="",
         deadline=DEADLINE_TEXT, files=(("Приказ №5.pdf", PDF),), description="Прочитать "
         "до пятницы") -> dict:
    data = {"title": title, "description": description, "link": link, "deadline": deadline,
            "users": [str(user(u).id) for u in users],
            "departments": [str(department(d).id) for d in departments]}
    data["files"] = [(io.BytesIO(body), name) for name, body in files]
    return data


def launch(client, **kw):
    return client.post("/acknowledgement/add", data=form(**kw),
                       content_type="multipart/form-data")


def only_acknowledgement() -> Acknowledgement:
    (ack,) = db.session.scalars(select(Acknowledgement)).all()
    return ack


def recipients(ack) -> dict[str, dt.datetime | None]:
    """{username: confirmed_at}."""
    rows = db.session.scalars(select(AcknowledgementRecipient).where(
        AcknowledgementRecipient.acknowledgement_id == ack.id))
    return {r.user.username: r.confirmed_at for r in rows}


def tick():
    return scheduler.tick(runner=InlineRunner())


def notes_of(username: str, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user(username).id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query.order_by(Notification.id)))
