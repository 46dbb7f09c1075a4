"""Who acts: a request signed with a bearer token acts as the token's user, exactly as one
with the session cookie (creator, responsible by default, audit, timeline, row rule `own`,
the process's `strategy: actor`). Each flow runs both ways and the results are compared."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from models.audit import AuditLog
from models.deal import Deal
from models.event import Event
from models.order import Order
from models.pipeline import Pipeline
from models.task import Task
from models.timeline import TimelineEntry
from tests.helpers import ref_item, user
from tests.test_deal_crud import _form as deal_form
from tests.test_order_support import company
from tests.test_pipeline_fixtures import stage

SALES_FILE = BASE_DIR / "rules" / "definitions" / "001_sales.yaml"


def token_only(login, username: str):
    """A client that holds a bearer token and no session cookie (the tests' usual client
    holds both, and the cookie alone used to hide the token's user)."""
    client = login(None)
    client.username = username
    return client


def _newest(model):
    db.session.expire_all()
    return db.session.scalars(select(model).order_by(model.id.desc())).first()


def _audit_users(entity: str, record_id: int) -> set:
    return set(db.session.scalars(select(AuditLog.user_id).where(
        AuditLog.entity == entity, AuditLog.record_id == record_id,
        AuditLog.action == "insert")))


def _timeline_authors(entity: str, record_id: int) -> set:
    """{(kind, author id)} of the record's history."""
    return set(db.session.execute(select(TimelineEntry.kind, TimelineEntry.author_id).where(
        TimelineEntry.entity == entity, TimelineEntry.record_id == record_id)).all())


def _facts(record, entity: str, responsible: str = "responsible_id") -> dict:
    return {"created_by": record.created_by_id, "responsible": getattr(record, responsible),
            "audit": _audit_users(entity, record.id)}


@pytest.fixture()
def sales(app):
    processes.install_file(SALES_FILE)
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def test_a_deal_by_token_is_the_managers_as_by_the_form(login, sales):
    me = user("manager").id
    login("manager").post("/dealview/add",
                          data=deal_form(sales, title="Формой", responsible="__None"))
    by_form = _newest(Deal)
    resp = token_only(login, "manager").api("post", "/api/v1/deal/", json={
        "title": "Токеном", "pipeline": sales.id, "stage": stage(sales, "new").id,
        "budget": 150000, "budget_manual": True})
    assert resp.status_code == 201, resp.json
    by_token = _newest(Deal)
    assert (by_form.title, by_token.title) == ("Формой", "Токеном")
    expected = {"created_by": me, "responsible": me, "audit": {me}}
    assert _facts(by_form, "deal") == expected
    assert _facts(by_token, "deal") == expected
    # The process's entries: the stage one is signed by whoever saved the deal.
    history = _timeline_authors("deal", by_form.id)
    assert ("stage", me) in history
    assert _timeline_authors("deal", by_token.id) == history


def test_a_secretary_sees_the_event_she_created_by_token(login):
    secretary = user("secretary").id
    topic = ref_item("event_topic", "first_contact").id
    fields = {"kind": "call", "direction": "incoming", "subject": "Звонок клиента",
              "state": "planned"}
    # The add form offers her as the responsible; left as offered, it keeps her.
    login("secretary").post("/eventview/add", data={**fields, "topic": str(topic),
                                                    "company": "__None"})
    by_form = _newest(Event)
    api = token_only(login, "secretary")
    resp = api.api("post", "/api/v1/event/", json={**fields, "topic": topic})
    assert resp.status_code == 201, resp.json
    by_token = _newest(Event)
    assert by_form.id != by_token.id
    expected = {"created_by": secretary, "responsible": secretary, "audit": {secretary}}
    assert _facts(by_form, "event") == expected
    assert _facts(by_token, "event") == expected
    shown = api.api("get", f"/api/v1/event/{by_token.id}")
    assert shown.status_code == 200, shown.json
    assert shown.json["result"]["created_by"]["id"] == secretary


def test_an_explicit_empty_responsible_stays_empty_by_token(login):
    """null is the form's blank choice «—»: only a field left out gets the default."""
    resp = token_only(login, "secretary").api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "incoming", "state": "planned", "responsible": None,
        "topic": ref_item("event_topic", "first_contact").id})
    assert resp.status_code == 201, resp.json
    event = _newest(Event)
    assert event.responsible_id is None and event.created_by_id == user("secretary").id


def test_a_task_by_token_is_set_by_and_to_its_author_as_by_the_form(login):
    me = user("manager").id
    login("manager").post("/taskview/add", data={
        "title": "Формой", "description": "", "creator": "__None", "deadline": "",
        "status": "open", "outcome_choices": "", "record_entity": "", "record_id": ""})
    by_form = _newest(Task)
    resp = token_only(login, "manager").api("post", "/api/v1/task/",
                                            json={"title": "Токеном"})
    assert resp.status_code == 201, resp.json
    by_token = _newest(Task)
    assert (by_form.title, by_token.title) == ("Формой", "Токеном")
    for task in (by_form, by_token):
        assert (task.assignee_id, task.creator_id, task.created_by_id) == (me, me, me)
        assert _audit_users("task", task.id) == {me}


def test_an_order_by_token_defaults_the_responsible_as_the_form(login):
    me = user("manager").id
    comp = company()
    source = ref_item("lead_source", "call").id
    login("manager").post("/orderview/add", data={
        "status": "request", "company": str(comp.id), "contract": "№ 1 от 01.03.2026",
        "ship_date": "2026-12-15", "executor": "__None", "source": str(source)})
    by_form = _newest(Order)
    resp = token_only(login, "manager").api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 2 от 01.03.2026", "ship_date": "2026-12-15",
        "source": source})
    assert resp.status_code == 201, resp.json
    by_token = _newest(Order)
    assert (by_form.contract, by_token.contract) == ("№ 1 от 01.03.2026", "№ 2 от 01.03.2026")
    expected = {"created_by": me, "responsible": me, "audit": {me}}
    assert _facts(by_form, "order") == expected
    assert _facts(by_token, "order") == expected


def test_a_comment_by_token_is_signed_by_its_author(login, sales):
    deal_id = token_only(login, "manager").api("post", "/api/v1/deal/", json={
        "title": "С комментарием", "pipeline": sales.id,
        "stage": stage(sales, "new").id}).json["id"]
    resp = token_only(login, "manager").api("post", f"/api/v1/timeline/deal/{deal_id}",
                                            json={"text": "Позвонил клиенту"})
    assert resp.status_code == 201, resp.json
    entry = db.session.get(TimelineEntry, resp.json["result"]["id"])
    assert entry.author_id == user("manager").id


def test_accepting_a_request_by_token_makes_the_acceptor_responsible(login, sales):
    resp = token_only(login, "admin").api("post", "/api/v1/deal/", json={
        "title": "Заявка с сайта", "pipeline": sales.id, "stage": stage(sales, "new").id,
        "company": company("ООО «Заявитель»").id,
        "custom": {"priority": "A", "delivery_term": "2026-12-01"}})
    assert resp.status_code == 201, resp.json
    deal = db.session.get(Deal, resp.json["id"])
    assert deal.responsible_id == user("admin").id  # whoever registered it
    [take] = db.session.scalars(select(Task).where(Task.record_entity == "deal",
                                                   Task.record_id == deal.id)).all()
    acceptor = take.assignee
    resp = token_only(login, acceptor.username).api("put", f"/api/v1/task/{take.id}", json={
        "status": "done", "outcome": "Принять заявку", "result": "Беру"})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert deal.stage.key == "in_work"
    assert deal.responsible_id == acceptor.id
    moved = db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id,
        TimelineEntry.kind == "stage").order_by(TimelineEntry.id)).all()
    assert moved[-1].author_id == acceptor.id
