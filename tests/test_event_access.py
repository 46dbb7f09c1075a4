"""Row rules of events: the responsible person and the creator see an event; heads see their
department's; nobody else, through lists, record pages, edits, deletes, export or the API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.event import Event, EventContactRow
from tests.helpers import ref_item, user


def topic_id() -> int:
    return ref_item("event_topic", "first_contact").id


def make_event(creator: str, responsible: str | None, subject: str) -> Event:
    with acting_as(user(creator).id):
        event = Event(kind="call", direction="incoming", state="planned", topic_id=topic_id(),
                      subject=subject,
                      responsible_id=user(responsible).id if responsible else None)
        db.session.add(event)
        db.session.commit()
    return event


def form(**over) -> dict:
    data = {"kind": "call", "direction": "incoming", "topic": str(topic_id()),
            "subject": "Взлом", "state": "planned", "company": "__None", "content": "",
            "responsible": "__None", "record_entity": "", "record_id": ""}
    data.update(over)
    return data


@pytest.fixture()
def events(app):
    mine = make_event("manager", "manager", "Мой звонок")
    theirs = make_event("manager2", "manager2", "Чужой звонок")
    return mine, theirs


def test_manager_lists_only_own_events(events, login):
    manager = login("manager")
    html = manager.get("/eventview/list/").get_data(as_text=True)
    assert "Мой звонок" in html and "Чужой звонок" not in html
    csv = manager.get("/eventview/export/").get_data(as_text=True)
    assert "Мой звонок" in csv and "Чужой звонок" not in csv
    listed = manager.api("get", "/api/v1/event/").json
    assert [r["subject"] for r in listed["result"]] == ["Мой звонок"]


def test_manager_cannot_open_change_or_delete_another_managers_event(events, login):
    _mine, theirs = events
    manager = login("manager")
    assert manager.get(f"/eventview/show/{theirs.id}").status_code == 404
    assert manager.get(f"/eventview/edit/{theirs.id}").status_code == 404
    assert manager.post(f"/eventview/edit/{theirs.id}", data=form()).status_code == 404
    # A manager has no right to delete events at all (403); a sales head has it, but not for
    # records outside the department's scope (404, see below).
    assert manager.post(f"/eventview/delete/{theirs.id}").status_code in (403, 404)
    assert manager.api("get", f"/api/v1/event/{theirs.id}").status_code == 404
    assert manager.api("put", f"/api/v1/event/{theirs.id}",
                       json={"subject": "Взлом"}).status_code == 404
    assert manager.api("delete", f"/api/v1/event/{theirs.id}").status_code in (403, 404)
    db.session.expire_all()
    event = db.session.get(Event, theirs.id)
    assert event is not None and event.subject == "Чужой звонок"


def test_manager_cannot_add_contact_rows_to_another_managers_event(events, login):
    _mine, theirs = events
    manager = login("manager")
    resp = manager.api("post", "/api/v1/event_contact/",
                       json={"event": theirs.id, "how_to_reach": "+7 900 111-22-33"})
    assert resp.status_code == 422
    assert resp.json["message"]["event"] == ["Событие не найдено"]
    manager.post(f"/eventcontactrowview/add?_flt_0_event={theirs.id}",
                 data={"contact": "__None", "how_to_reach": "+7 900 111-22-33", "note": ""})
    assert db.session.query(EventContactRow).count() == 0


def test_contact_rows_of_another_managers_event_are_hidden(events, login):
    _mine, theirs = events
    db.session.add(EventContactRow(event_id=theirs.id, how_to_reach="secret@example.com"))
    db.session.commit()
    row_id = db.session.scalar(select(EventContactRow.id))
    manager = login("manager")
    assert manager.api("get", "/api/v1/event_contact/").json["count"] == 0
    assert manager.api("get", f"/api/v1/event_contact/{row_id}").status_code == 404
    assert manager.api("put", f"/api/v1/event_contact/{row_id}",
                       json={"note": "x"}).status_code == 404
    assert manager.get(f"/eventcontactrowview/edit/{row_id}").status_code == 404


def test_responsible_and_creator_both_see_the_event(app, login):
    event = make_event("secretary", "manager", "Передан менеджеру")
    for username in ("secretary", "manager"):
        who = login(username)
        assert who.get(f"/eventview/show/{event.id}").status_code == 200
        assert who.api("get", f"/api/v1/event/{event.id}").status_code == 200
    assert login("manager2").get(f"/eventview/show/{event.id}").status_code == 404


def test_the_responsible_manager_can_edit_it(app, login):
    event = make_event("secretary", "manager", "Передан менеджеру")
    manager = login("manager")
    resp = manager.api("put", f"/api/v1/event/{event.id}",
                       json={"state": "completed", "content": "Поговорили"})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    assert db.session.get(Event, event.id).state == "completed"


def test_sales_head_sees_the_department_and_outsider_does_not(events, login):
    mine, theirs = events
    head = login("sales_head")
    html = head.get("/eventview/list/").get_data(as_text=True)
    assert "Мой звонок" in html and "Чужой звонок" in html
    outsider = login("outsider")
    assert outsider.api("get", "/api/v1/event/").json["count"] == 0
    assert outsider.get(f"/eventview/show/{mine.id}").status_code == 404


def test_sales_head_cannot_delete_outside_the_department(app, login):
    foreign = make_event("outsider", "outsider", "Звонок исполнению")
    head = login("sales_head")
    assert head.post(f"/eventview/delete/{foreign.id}").status_code == 404
    assert head.api("delete", f"/api/v1/event/{foreign.id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(Event, foreign.id) is not None


def test_a_role_without_event_rights_is_refused(events, login):
    employee = login("employee")
    assert employee.get("/eventview/list/").status_code in (302, 403)
    assert employee.api("get", "/api/v1/event/").status_code == 403
