"""Shared lookups for the process-flow scenario tests (no tests here): installing a shipped
definition, creating and moving deals through the REST API, closing tasks, reading the
tasks, schedule rows and outbox messages a record got, under a frozen clock."""
from __future__ import annotations

import datetime as dt
import io
from contextlib import contextmanager

import time_machine
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from models.deal import Deal
from models.outbox import OutboxMessage
from models.pipeline import Pipeline, Stage
from models.process import StageHistory
from models.schedule import ScheduledAction
from models.attachment import Attachment
from models.task import Task
from models.user import CrmUser

DEFINITIONS = BASE_DIR / "rules" / "definitions"
MSK = dt.timezone(dt.timedelta(hours=3))


def install(file_name: str, code: str) -> Pipeline:
    processes.install_file(DEFINITIONS / file_name)
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == code))


def msk(*args) -> dt.datetime:
    """A Moscow wall-clock time as an aware datetime (for freezing the clock)."""
    return dt.datetime(*args, tzinfo=MSK)


def utc(*args) -> dt.datetime:
    """A Moscow wall-clock time as the naive UTC the database stores."""
    return msk(*args).astimezone(dt.timezone.utc).replace(tzinfo=None)


@contextmanager
def frozen(login, when: dt.datetime, username: str = "admin"):
    """The clock stopped at `when`, and a client logged in inside that time (a token or a
    session from another time is refused)."""
    with time_machine.travel(when, tick=False):
        yield login(username)


def user(name: str) -> CrmUser:
    return db.session.scalar(select(CrmUser).where(CrmUser.username == name))


def stage(pipeline: Pipeline, key: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                                 Stage.key == key))


def new_deal(client, pipeline, stage_key: str, title: str = "Сделка", **extra) -> Deal:
    resp = client.api("post", "/api/v1/deal/", json={
        "title": title, "pipeline": pipeline.id, "stage": stage(pipeline, stage_key).id,
        "responsible": user("manager").id, **extra})
    assert resp.status_code == 201, resp.json
    return db.session.get(Deal, resp.json["id"])


def put_deal(client, deal, **fields):
    db.session.expire_all()
    version = db.session.get(Deal, deal.id).version
    return client.api("put", f"/api/v1/deal/{deal.id}", json={"version": version, **fields})


def move(client, deal, pipeline, key: str, **extra):
    return put_deal(client, deal, stage=stage(pipeline, key).id, **extra)


def custom_of(deal) -> dict:
    db.session.expire_all()
    return dict(db.session.get(Deal, deal.id).custom or {})


def stage_of(deal) -> str:
    db.session.expire_all()
    return db.session.get(Deal, deal.id).stage.key


def close(client, task, outcome=None, result="Готово"):
    return client.api("put", f"/api/v1/task/{task.id}", json={
        "status": "done", "outcome": outcome, "result": result})


def tasks(deal) -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(
        Task.record_entity == "deal", Task.record_id == deal.id).order_by(Task.id)))


def new_tasks(deal, before: int) -> list[tuple]:
    """(title, assignee, creator, deadline) of the tasks after the first `before`."""
    return [(t.title, t.assignee.username if t.assignee else None,
             t.creator.username if t.creator else None, t.deadline)
            for t in tasks(deal)[before:]]


def task(deal, title: str) -> Task:
    found = [t for t in tasks(deal) if t.title == title]
    assert found, f"no task «{title}» in {[t.title for t in tasks(deal)]}"
    return found[-1]


def schedules(deal) -> list[ScheduledAction]:
    db.session.expire_all()
    return list(db.session.scalars(select(ScheduledAction).where(
        ScheduledAction.entity == "deal", ScheduledAction.record_id == deal.id)
        .order_by(ScheduledAction.id)))


def messages(deal, kind: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).where(OutboxMessage.entity == "deal",
                                        OutboxMessage.record_id == deal.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def history(deal) -> list[StageHistory]:
    db.session.expire_all()
    return list(db.session.scalars(select(StageHistory).where(
        StageHistory.entity == "deal", StageHistory.record_id == deal.id)
        .order_by(StageHistory.id)))


def text(value: str) -> str:
    return " ".join(value.split())


def attach(client, deal, name: str = "Документ.pdf") -> int:
    """A file attached to the deal (a file field takes only a file of its own record)."""
    resp = client.post(f"/crm/attachment/upload/deal/{deal.id}",
                       data={"file": (io.BytesIO(b"%PDF-1.4 test"), name)},
                       content_type="multipart/form-data")
    assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:300]
    return db.session.scalar(select(Attachment.id).where(
        Attachment.entity == "deal", Attachment.record_id == deal.id,
        Attachment.filename == name).order_by(Attachment.id.desc()).limit(1))

