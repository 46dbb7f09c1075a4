"""Events (the 1C document "Событие"): screens, API, automatic start and end, checks."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from models.event import Event, EventContactRow
from models.party import Company, Contact
from models.reference import ReferenceItem
from models.task import Task
from tests.helpers import legal_company, ref_item, user

T0 = dt.datetime(2026, 11, 16, 9, 0)       # naive UTC, 12:00 in Moscow
T1 = dt.datetime(2026, 11, 16, 9, 5)
T2 = dt.datetime(2026, 11, 16, 9, 12)


@pytest.fixture()
def clock():
    """Time frozen at T0 from before the login: a session signed "later" than the frozen
    clock would be refused as from the future."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture()
def admin(clock, login):
    return login("admin")


def topic(code: str = "first_contact") -> ReferenceItem:
    return ref_item("event_topic", code)


def company(name: str = "ООО «Ромашка»") -> Company:
    return legal_company(name=name)


def form(**over) -> dict:
    data = {"kind": "call", "direction": "incoming", "topic": str(topic().id),
            "subject": "Звонок от потенциального клиента", "state": "planned",
            "company": "__None", "content": "", "responsible": "__None",
            "record_entity": "", "record_id": ""}
    data.update({k: str(v) for k, v in over.items()})
    return data


def reload(event_id: int) -> Event:
    db.session.expire_all()
    return db.session.get(Event, event_id)


def only_event() -> Event:
    db.session.expire_all()
    return db.session.scalars(select(Event)).one()


# --- screens --------------------------------------------------------------------------------

def test_event_created_through_form_gets_a_number_and_russian_page(client):
    resp = client.post("/eventview/add", data=form(), follow_redirects=True)
    assert resp.status_code == 200
    event = only_event()
    assert event.number == event.id
    assert event.kind == "call" and event.state == "planned"
    assert event.started_at is None and event.ended_at is None
    assert event.created_by_id == user("admin").id

    page = client.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert f"№ {event.number}" in page
    assert "Звонок" in page and "Входящее" in page and "Запланировано" in page
    assert "Первый контакт с клиентом" in page
    assert "Контактные лица" in page

    listing = client.get("/eventview/list/").get_data(as_text=True)
    assert "События" in listing and f"№ {event.number}" in listing


def test_event_form_offers_russian_choices(client):
    html = client.get("/eventview/add").get_data(as_text=True)
    for label in ("Звонок", "Электронное письмо", "Личная встреча", "Входящее", "Исходящее",
                  "Запланировано", "В работе", "Завершено", "Первый контакт с клиентом"):
        assert label in html


def test_start_and_end_follow_the_state(admin, clock):
    admin.post("/eventview/add", data=form())
    event = only_event()
    assert event.started_at is None

    clock.move_to(T1)
    admin.post(f"/eventview/edit/{event.id}", data=form(state="in_progress"))
    event = reload(event.id)
    assert event.state == "in_progress"
    assert event.started_at == T1 and event.ended_at is None

    clock.move_to(T2)
    admin.post(f"/eventview/edit/{event.id}",
               data=form(state="completed", content="Клиент просит КП"))
    event = reload(event.id)
    assert event.state == "completed"
    assert event.started_at == T1 and event.ended_at == T2

    page = admin.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert "16.11.2026 12:05" in page and "16.11.2026 12:12" in page  # Moscow time

    # Reopened: no end any more; the start stays.
    admin.post(f"/eventview/edit/{event.id}", data=form(state="in_progress"))
    event = reload(event.id)
    assert event.started_at == T1 and event.ended_at is None


def test_event_registered_completed_starts_and_ends_at_creation(admin):
    resp = admin.post("/eventview/add",
                      data=form(state="completed", content="Договорились о встрече"))
    assert resp.status_code == 302
    event = only_event()
    assert event.started_at == T0 and event.ended_at == T0


def test_event_registered_in_progress_starts_at_creation(admin):
    admin.post("/eventview/add", data=form(state="in_progress"))
    event = only_event()
    assert event.started_at == T0 and event.ended_at is None


def test_start_and_end_cannot_be_typed_in_the_form(admin, clock):
    admin.post("/eventview/add", data={**form(state="in_progress"),
                                       "started_at": "2020-01-01T10:00",
                                       "ended_at": "2020-01-02T10:00", "number": "999"})
    event = only_event()
    assert event.started_at == T0 and event.ended_at is None and event.number == event.id

    clock.move_to(T1)
    resp = admin.post(f"/eventview/edit/{event.id}", data={**form(state="in_progress"),
                                                           "started_at": "2020-01-01T10:00",
                                                           "ended_at": "2020-01-02T10:00"})
    assert resp.status_code == 302
    event = reload(event.id)
    assert event.started_at == T0 and event.ended_at is None
    html = admin.get(f"/eventview/edit/{event.id}").get_data(as_text=True)
    assert 'name="started_at"' not in html and 'name="ended_at"' not in html


def test_direct_write_of_start_is_put_back(app):
    with time_machine.travel(T0, tick=False):
        event = Event(kind="call", direction="incoming", state="in_progress",
                      started_at=dt.datetime(2001, 1, 1))
        db.session.add(event)
        db.session.commit()
    assert event.started_at == T0
    event.started_at = dt.datetime(2001, 1, 1)
    event.ended_at = dt.datetime(2001, 1, 2)
    db.session.commit()
    event = reload(event.id)
    assert event.started_at == T0 and event.ended_at is None


def test_completing_without_content_is_allowed_by_the_model(client):
    """«Содержание» is required by the process only for a proposal or a meeting (see
    tests/test_process_flow_events.py); the model itself does not ask for it."""
    client.post("/eventview/add", data=form(state="in_progress"))
    event = only_event()
    resp = client.post(f"/eventview/edit/{event.id}", data=form(state="completed", content=""))
    assert resp.status_code == 302
    event = reload(event.id)
    assert event.state == "completed" and event.ended_at is not None and not event.content
    resp = client.post("/eventview/add", data=form(state="completed", subject="Сразу"))
    assert resp.status_code == 302
    assert db.session.query(Event).count() == 2


def test_outgoing_email_needs_a_company(client):
    resp = client.post("/eventview/add", data=form(kind="email", direction="outgoing"))
    assert "Для исходящего электронного письма укажите контрагента" in resp.get_data(as_text=True)
    assert db.session.query(Event).count() == 0
    c = company()
    resp = client.post("/eventview/add", data=form(kind="email", direction="outgoing",
                                                   company=c.id))
    assert resp.status_code == 302
    assert only_event().company_id == c.id


def test_topic_is_required(client):
    resp = client.post("/eventview/add", data=form(topic="__None"))
    assert "Укажите тему события" in resp.get_data(as_text=True)
    assert db.session.query(Event).count() == 0


def test_event_edited_and_deleted_through_forms(client):
    client.post("/eventview/add", data=form())
    event = only_event()
    resp = client.post(f"/eventview/edit/{event.id}",
                       data=form(kind="meeting", direction="outgoing",
                                 topic=topic("meeting").id, subject="Встреча в офисе"))
    assert resp.status_code == 302
    event = reload(event.id)
    assert (event.kind, event.direction, event.subject) == ("meeting", "outgoing",
                                                              "Встреча в офисе")
    assert event.topic.code == "meeting"
    resp = client.post(f"/eventview/delete/{event.id}")
    assert resp.status_code == 302
    assert db.session.query(Event).count() == 0


# --- "на основании" ----------------------------------------------------------------------

def test_event_created_on_the_basis_of_another_keeps_the_link(client):
    c = company()
    client.post("/eventview/add", data=form(company=c.id, subject="Первое"))
    first = only_event()

    html = client.get(f"/eventview/add?record_entity=event&record_id={first.id}") \
        .get_data(as_text=True)
    assert f'<option selected value="{c.id}">' in html or \
        f'value="{c.id}" selected' in html  # the counterparty is taken from the basis

    resp = client.post("/eventview/add", data=form(company=c.id, subject="Второе",
                                                   record_entity="event",
                                                   record_id=first.id))
    assert resp.status_code == 302
    db.session.expire_all()
    second = db.session.scalar(select(Event).where(Event.subject == "Второе"))
    assert (second.record_entity, second.record_id) == ("event", first.id)
    page = client.get(f"/eventview/show/{second.id}").get_data(as_text=True)
    assert "Создано на основании" in page
    assert f'href="/eventview/show/{first.id}"' in page


def test_basis_must_exist(client):
    resp = client.post("/eventview/add", data=form(record_entity="event", record_id=999))
    assert "не найдена" in resp.get_data(as_text=True)
    resp = client.api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "incoming", "topic": topic().id,
        "record_entity": "spaceship", "record_id": 1})
    assert resp.status_code == 422
    assert "Неизвестный тип записи" in resp.json["message"]["record_entity"][0]
    assert db.session.query(Event).count() == 0


def test_task_created_on_the_basis_of_an_event(client):
    client.post("/eventview/add", data=form())
    event = only_event()
    page = client.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert f"/taskview/add?record_entity=event&amp;record_id={event.id}" in page or \
        f"/taskview/add?record_entity=event&record_id={event.id}" in page
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Перезвонить", "assignee": user("manager").id,
        "record_entity": "event", "record_id": event.id})
    assert resp.status_code == 201, resp.json
    task = db.session.get(Task, resp.json["id"])
    assert (task.record_entity, task.record_id) == ("event", event.id)


# --- contact rows -------------------------------------------------------------------------

def test_contact_rows_shown_as_a_table_on_the_event_page(client):
    c = company()
    person = Contact(last_name="Иванова", first_name="Анна", company_id=c.id,
                     phone="+7 495 123-45-67")
    db.session.add(person)
    db.session.commit()
    client.post("/eventview/add", data=form(company=c.id))
    event = only_event()

    resp = client.post(f"/eventcontactrowview/add?_flt_0_event={event.id}",
                       data={"contact": str(person.id), "how_to_reach": "", "note": "ЛПР"})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/eventview/show/{event.id}")
    row = db.session.scalars(select(EventContactRow)).one()
    assert row.event_id == event.id
    assert row.how_to_reach == "+7 495 123-45-67"  # taken from the contact card

    page = client.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert "crm-contact-row" in page and "Иванова Анна" in page and "+7 495 123-45-67" in page

    resp = client.post(f"/eventcontactrowview/edit/{row.id}",
                       data={"event": str(event.id), "contact": str(person.id),
                             "how_to_reach": "anna@example.com", "note": "ЛПР"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(EventContactRow, row.id).how_to_reach == "anna@example.com"


def test_contact_row_needs_somebody(client):
    client.post("/eventview/add", data=form())
    event = only_event()
    resp = client.post(f"/eventcontactrowview/add?_flt_0_event={event.id}",
                       data={"contact": "__None", "how_to_reach": "", "note": ""})
    assert "Укажите контакт или как с ним связаться" in resp.get_data(as_text=True)
    assert db.session.query(EventContactRow).count() == 0


# --- REST API -------------------------------------------------------------------------------

def api_event(**over) -> dict:
    data = {"kind": "call", "direction": "incoming", "topic": topic().id,
            "subject": "Входящий звонок", "state": "planned"}
    data.update(over)
    return data


def test_event_crud_through_api(client):
    c = company()
    resp = client.api("post", "/api/v1/event/", json=api_event(company=c.id,
                                                               responsible=user("manager").id))
    assert resp.status_code == 201, resp.json
    event_id = resp.json["id"]
    shown = client.api("get", f"/api/v1/event/{event_id}").json["result"]
    assert shown["number"] == event_id
    assert shown["company"] == {"id": c.id, "name": "ООО «Ромашка»"}
    assert shown["responsible"] == {"id": user("manager").id}
    assert shown["created_by"] == {"id": user("admin").id}
    assert "password" not in str(shown)

    listed = client.api("get", "/api/v1/event/").json
    assert listed["count"] == 1 and listed["result"][0]["topic"] == {"id": topic().id}

    resp = client.api("put", f"/api/v1/event/{event_id}", json={"subject": "Изменено"})
    assert resp.status_code == 200, resp.json
    assert reload(event_id).subject == "Изменено"

    resp = client.api("delete", f"/api/v1/event/{event_id}")
    assert resp.status_code == 200
    assert db.session.query(Event).count() == 0


def test_api_stamps_start_and_end(admin, clock):
    event_id = admin.api("post", "/api/v1/event/", json=api_event()).json["id"]
    clock.move_to(T1)
    resp = admin.api("put", f"/api/v1/event/{event_id}", json={"state": "in_progress"})
    assert resp.status_code == 200, resp.json
    clock.move_to(T2)
    resp = admin.api("put", f"/api/v1/event/{event_id}",
                     json={"state": "completed", "content": "Отправили КП"})
    assert resp.status_code == 200, resp.json
    shown = admin.api("get", f"/api/v1/event/{event_id}").json["result"]
    event = reload(event_id)
    assert event.started_at == T1 and event.ended_at == T2
    assert shown["started_at"].startswith("2026-11-16T09:05")
    assert shown["ended_at"].startswith("2026-11-16T09:12")


def test_api_refuses_to_set_start_and_end(admin):
    resp = admin.api("post", "/api/v1/event/",
                     json=api_event(started_at="2020-01-01T10:00:00"))
    assert resp.status_code == 422
    assert "автоматически" in resp.json["message"]["started_at"][0]
    assert db.session.query(Event).count() == 0

    event_id = admin.api("post", "/api/v1/event/",
                         json=api_event(state="in_progress")).json["id"]
    resp = admin.api("put", f"/api/v1/event/{event_id}",
                      json={"ended_at": "2020-01-01T10:00:00", "started_at": None})
    assert resp.status_code == 422
    assert set(resp.json["message"]) == {"started_at", "ended_at"}
    event = reload(event_id)
    assert event.started_at == T0 and event.ended_at is None


def test_api_refuses_bad_kind_and_outgoing_email_without_company(client):
    resp = client.api("post", "/api/v1/event/", json=api_event(kind="fax"))
    assert resp.status_code == 422 and "kind" in resp.json["message"]
    resp = client.api("post", "/api/v1/event/", json=api_event(kind="email",
                                                               direction="outgoing"))
    assert resp.status_code == 422
    assert "контрагента" in resp.json["message"]["company"][0]
    assert db.session.query(Event).count() == 0


def test_contact_rows_through_api(client):
    event_id = client.api("post", "/api/v1/event/", json=api_event()).json["id"]
    resp = client.api("post", "/api/v1/event_contact/",
                      json={"event": event_id, "how_to_reach": "+7 900 000-00-00",
                            "note": "Секретарь"})
    assert resp.status_code == 201, resp.json
    row_id = resp.json["id"]
    listed = client.api("get", "/api/v1/event_contact/").json["result"]
    assert listed == [{"id": row_id, "event": {"id": event_id}, "contact": None,
                       "how_to_reach": "+7 900 000-00-00", "note": "Секретарь"}]
    resp = client.api("post", "/api/v1/event_contact/", json={"event": event_id})
    assert resp.status_code == 422
    assert "how_to_reach" in resp.json["message"]
    resp = client.api("put", f"/api/v1/event_contact/{row_id}", json={"note": "ЛПР"})
    assert resp.status_code == 200
    resp = client.api("delete", f"/api/v1/event_contact/{row_id}")
    assert resp.status_code == 200
    assert db.session.query(EventContactRow).count() == 0


# --- a meeting's start and end -----------------------------------------------------------

def _meeting(admin) -> Event:
    resp = admin.post("/eventview/add", data=form(kind="meeting", direction="outgoing",
                                                  topic=topic("meeting").id,
                                                  subject="Встреча в офисе"))
    assert resp.status_code == 302
    return only_event()


def meeting_form(**over) -> dict:
    return form(kind="meeting", direction="outgoing", topic=topic("meeting").id,
                subject="Встреча в офисе", **over)


def test_a_meeting_is_a_personal_meeting(admin):
    event = _meeting(admin)
    page = admin.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert "Личная встреча" in page
    assert str(event) == f"Личная встреча № {event.number}"


def test_meeting_start_and_end_are_edited_until_it_is_completed(admin, clock):
    event = _meeting(admin)
    html = admin.get(f"/eventview/edit/{event.id}").get_data(as_text=True)
    assert 'name="started_at"' in html and 'name="ended_at"' in html
    assert "disabled" not in html.split('name="started_at"')[1].split(">")[0]
    resp = admin.post(f"/eventview/edit/{event.id}", data=meeting_form(
        started_at="2026-11-17T15:00", ended_at="2026-11-17T16:30"))
    assert resp.status_code == 302
    event = reload(event.id)  # typed in Moscow time, stored in UTC
    assert (event.started_at, event.ended_at) == (dt.datetime(2026, 11, 17, 12, 0),
                                                  dt.datetime(2026, 11, 17, 13, 30))
    resp = admin.post(f"/eventview/edit/{event.id}", data=meeting_form(
        started_at="2026-11-17T15:00", ended_at="2026-11-17T14:00"))
    assert resp.status_code == 200
    assert "Окончание не может быть раньше начала" in resp.get_data(as_text=True)
    assert reload(event.id).ended_at == dt.datetime(2026, 11, 17, 13, 30)

    clock.move_to(T2)
    resp = admin.post(f"/eventview/edit/{event.id}", data=meeting_form(
        state="completed", content="Обсудили поставку", started_at="2026-11-17T15:00",
        ended_at="2026-11-17T17:00"))
    assert resp.status_code == 302
    event = reload(event.id)  # the end typed with the completion is kept, not "now"
    assert event.state == "completed" and event.ended_at == dt.datetime(2026, 11, 17, 14, 0)

    html = admin.get(f"/eventview/edit/{event.id}").get_data(as_text=True)
    assert "disabled" in html.split('name="started_at"')[1].split(">")[0]
    resp = admin.post(f"/eventview/edit/{event.id}", data=meeting_form(
        state="completed", content="Обсудили поставку", started_at="2026-11-17T10:00",
        ended_at="2026-11-17T17:00"))
    assert resp.status_code == 200
    assert "Встреча завершена: начало и окончание больше не редактируются" in \
        resp.get_data(as_text=True)
    event = reload(event.id)
    assert event.started_at == dt.datetime(2026, 11, 17, 12, 0)
    # A save without the (disabled, so unsent) inputs keeps them.
    resp = admin.post(f"/eventview/edit/{event.id}", data=meeting_form(
        state="completed", content="Обсудили поставку и сроки"))
    assert resp.status_code == 302
    event = reload(event.id)
    assert event.content == "Обсудили поставку и сроки"
    assert (event.started_at, event.ended_at) == (dt.datetime(2026, 11, 17, 12, 0),
                                                  dt.datetime(2026, 11, 17, 14, 0))


def test_api_edits_meeting_times_until_completion_only(admin):
    event_id = admin.api("post", "/api/v1/event/", json=api_event(
        kind="meeting", topic=topic("meeting").id)).json["id"]
    resp = admin.api("put", f"/api/v1/event/{event_id}", json={
        "started_at": "2026-11-17T12:00:00", "ended_at": "2026-11-17T13:00:00"})
    assert resp.status_code == 200, resp.json
    assert reload(event_id).started_at == dt.datetime(2026, 11, 17, 12, 0)
    resp = admin.api("put", f"/api/v1/event/{event_id}", json={
        "started_at": "2026-11-17T14:00:00"})
    assert resp.status_code == 422
    assert resp.json["message"]["ended_at"] == ["Окончание не может быть раньше начала"]
    resp = admin.api("put", f"/api/v1/event/{event_id}", json={
        "state": "completed", "content": "Поговорили"})
    assert resp.status_code == 200, resp.json
    resp = admin.api("put", f"/api/v1/event/{event_id}", json={
        "started_at": "2026-11-17T10:00:00"})
    assert resp.status_code == 422
    assert resp.json["message"] == {
        "started_at": ["Встреча завершена: начало и окончание больше не редактируются"]}
    event = reload(event_id)
    assert (event.started_at, event.ended_at) == (dt.datetime(2026, 11, 17, 12, 0),
                                                  dt.datetime(2026, 11, 17, 13, 0))
