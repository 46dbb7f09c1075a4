"""Tasks: screens and API, the постановщик, closing, outcome rules, the record link and the
checklist."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.event import Event
from models.task import ChecklistItem, Task
from models.user import CrmUser
from tests.helpers import user

NOW = dt.datetime(2026, 11, 16, 9, 0)  # naive UTC


def form(**over) -> dict:
    data = {"title": "Подготовить КП", "description": "", "assignee": str(user("manager").id),
            "creator": "__None", "deadline": "", "status": "open", "outcome_choices": "",
            "record_entity": "", "record_id": ""}
    data.update({k: (v if isinstance(v, list) else str(v)) for k, v in over.items()})
    return data


def edit_form(task: Task, **over) -> dict:
    data = {"title": task.title, "description": task.description or "",
            "assignee": str(task.assignee_id) if task.assignee_id else "__None",
            "creator": str(task.creator_id) if task.creator_id else "__None",
            "deadline": "", "status": task.status, "result": task.result or "",
            "outcome": task.outcome or "", "record_entity": task.record_entity or "",
            "record_id": str(task.record_id or "")}
    data.update({k: (v if isinstance(v, list) else str(v)) for k, v in over.items()})
    return data


def only_task() -> Task:
    db.session.expire_all()
    return db.session.scalars(select(Task)).one()


def reload(task_id: int) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


def make_task(**kw) -> Task:
    kw.setdefault("title", "Позвонить клиенту")
    kw.setdefault("assignee_id", user("manager").id)
    with acting_as(kw.pop("actor", user("manager").id)):
        task = Task(**kw)
        db.session.add(task)
        db.session.commit()
    return task


# --- screens ------------------------------------------------------------------------------

def test_task_created_through_form_creator_is_me(login):
    manager = login("manager")
    html = manager.get("/taskview/add").get_data(as_text=True)
    assert "Новая задача" in html and "Постановщик" in html and "Исполнитель" in html
    assert f'<option selected value="{user("manager").id}">' in html or \
        f'value="{user("manager").id}" selected' in html  # the постановщик defaults to me

    resp = manager.post("/taskview/add", data=form(
        creator=user("manager").id, observers=[str(user("manager2").id)],
        deadline="2026-11-20T15:00", description="С расчётом доставки"))
    assert resp.status_code == 302
    task = only_task()
    assert task.creator_id == user("manager").id
    assert task.assignee_id == user("manager").id
    assert [o.username for o in task.observers] == ["manager2"]
    assert task.deadline == dt.datetime(2026, 11, 20, 12, 0)  # typed in Moscow, stored UTC
    assert task.status == "open" and task.closed_at is None

    page = manager.get(f"/taskview/show/{task.id}").get_data(as_text=True)
    assert "Подготовить КП" in page and "Новая" in page and "20.11.2026 15:00" in page
    assert "Постановщик" in page and "Наблюдатели" in page and "Чек-лист" in page


def test_blank_creator_is_filled_with_the_current_user(login):
    login("secretary").post("/taskview/add", data=form(creator="__None"))
    assert only_task().creator_id == user("secretary").id


def test_task_title_and_assignee_are_required(client):
    resp = client.post("/taskview/add", data=form(title="", assignee="__None"))
    html = resp.get_data(as_text=True)
    assert "Укажите, что нужно сделать" in html and "Укажите исполнителя" in html
    assert db.session.query(Task).count() == 0


def test_bad_deadline_is_refused_in_russian(client):
    resp = client.post("/taskview/add", data=form(deadline="завтра"))
    assert "Неверная дата и время" in resp.get_data(as_text=True)
    assert db.session.query(Task).count() == 0


def test_closing_sets_closed_at_and_reopening_clears_it(app, login):
    task = make_task()
    with time_machine.travel(NOW, tick=False):
        client = login("manager")
        resp = client.post(f"/taskview/edit/{task.id}",
                           data=edit_form(task, status="done", result="Отправлено"))
    assert resp.status_code == 302
    task = reload(task.id)
    assert task.status == "done" and task.closed_at == NOW and task.result == "Отправлено"
    page = client.get(f"/taskview/show/{task.id}").get_data(as_text=True)
    assert "Выполнена" in page and "16.11.2026 12:00" in page

    client.post(f"/taskview/edit/{task.id}", data=edit_form(task, status="in_progress"))
    task = reload(task.id)
    assert task.status == "in_progress" and task.closed_at is None


def test_task_list_is_in_russian_and_task_deleted(client):
    task = make_task(title="Отправить счёт")
    html = client.get("/taskview/list/").get_data(as_text=True)
    assert "Задачи" in html and "Отправить счёт" in html and "Исполнитель" in html
    assert client.post(f"/taskview/delete/{task.id}").status_code == 302
    assert db.session.query(Task).count() == 0


# --- outcome rules --------------------------------------------------------------------------

CHOICES = ["Клиент согласен", "Клиент отказался"]


def test_outcome_choices_typed_one_per_line(client):
    client.post("/taskview/add", data=form(outcome_choices="Клиент согласен\n\nКлиент отказался\n"))
    assert only_task().outcome_choices == CHOICES


def test_closing_a_task_with_choices_requires_an_outcome(client):
    task = make_task(outcome_choices=CHOICES)
    html = client.get(f"/taskview/edit/{task.id}").get_data(as_text=True)
    assert '<option value="Клиент согласен">' in html  # the outcome is a choice

    resp = client.post(f"/taskview/edit/{task.id}", data=edit_form(task, status="done"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Выберите итог: без него задачу нельзя закрыть" in html
    task = reload(task.id)
    assert task.status == "open" and task.closed_at is None

    resp = client.post(f"/taskview/edit/{task.id}",
                       data=edit_form(task, status="done", outcome="Клиент согласен"))
    assert resp.status_code == 302
    task = reload(task.id)
    assert task.status == "done" and task.outcome == "Клиент согласен"
    assert task.closed_at is not None


def test_outcome_outside_the_choices_is_refused(client):
    task = make_task(outcome_choices=CHOICES)
    resp = client.post(f"/taskview/edit/{task.id}",
                       data=edit_form(task, outcome="Подумает"))
    assert "не из списка" in resp.get_data(as_text=True)
    assert reload(task.id).outcome is None

    resp = client.api("put", f"/api/v1/task/{task.id}", json={"outcome": "Подумает"})
    assert resp.status_code == 422
    assert "Клиент согласен" in resp.json["message"]["outcome"][0]
    assert reload(task.id).outcome is None


def test_choices_cannot_be_changed_from_the_edit_form(client):
    task = make_task(outcome_choices=CHOICES)
    client.post(f"/taskview/edit/{task.id}",
                data={**edit_form(task, outcome="Подумает", status="done"),
                      "outcome_choices": "Подумает"})
    task = reload(task.id)
    assert task.outcome_choices == CHOICES and task.outcome is None and task.status == "open"


def test_outcome_rules_through_api(client):
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Согласовать КП", "assignee": user("manager").id,
        "outcome_choices": CHOICES, "status": "done"})
    assert resp.status_code == 422
    assert "нельзя закрыть" in resp.json["message"]["outcome"][0]
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Согласовать КП", "assignee": user("manager").id,
        "outcome_choices": "Да"})
    assert resp.status_code == 422 and "outcome_choices" in resp.json["message"]
    assert db.session.query(Task).count() == 0

    resp = client.api("post", "/api/v1/task/", json={
        "title": "Согласовать КП", "assignee": user("manager").id, "outcome_choices": CHOICES})
    assert resp.status_code == 201, resp.json
    task_id = resp.json["id"]
    resp = client.api("put", f"/api/v1/task/{task_id}", json={"status": "done"})
    assert resp.status_code == 422
    resp = client.api("put", f"/api/v1/task/{task_id}",
                      json={"status": "done", "outcome": "Клиент отказался"})
    assert resp.status_code == 200, resp.json
    task = reload(task_id)
    assert task.status == "done" and task.outcome == "Клиент отказался" and task.closed_at


def test_cancelling_needs_no_outcome(client):
    task = make_task(outcome_choices=CHOICES)
    resp = client.api("put", f"/api/v1/task/{task.id}", json={"status": "cancelled"})
    assert resp.status_code == 200, resp.json
    task = reload(task.id)
    assert task.status == "cancelled" and task.closed_at is not None


# --- REST API -----------------------------------------------------------------------------

def test_task_crud_through_api(login):
    manager = login("manager")
    resp = manager.api("post", "/api/v1/task/", json={
        "title": "Выставить счёт", "assignee": user("manager").id,
        "observers": [user("manager2").id], "deadline": "2026-11-20T12:00:00"})
    assert resp.status_code == 201, resp.json
    task_id = resp.json["id"]
    shown = manager.api("get", f"/api/v1/task/{task_id}").json["result"]
    assert shown["creator"] == {"id": user("manager").id}   # the постановщик is the caller
    assert shown["observers"] == [{"id": user("manager2").id}]
    assert shown["status"] == "open" and shown["closed_at"] is None
    assert "password" not in str(shown)
    listed = manager.api("get", "/api/v1/task/").json
    assert listed["count"] == 1 and listed["result"][0]["assignee"] == {"id": user("manager").id}

    resp = manager.api("put", f"/api/v1/task/{task_id}",
                       json={"status": "done", "result": "Счёт отправлен"})
    assert resp.status_code == 200, resp.json
    task = reload(task_id)
    assert task.closed_at is not None and task.result == "Счёт отправлен"

    assert manager.api("delete", f"/api/v1/task/{task_id}").status_code == 403  # no "d" right
    head = login("sales_head")
    assert head.api("delete", f"/api/v1/task/{task_id}").status_code == 200
    assert db.session.query(Task).count() == 0


def test_api_refuses_bad_status_and_unknown_assignee(client):
    resp = client.api("post", "/api/v1/task/", json={
        "title": "X", "assignee": user("manager").id, "status": "lost"})
    assert resp.status_code == 422 and "status" in resp.json["message"]
    resp = client.api("post", "/api/v1/task/", json={"title": "X", "assignee": 999999})
    assert resp.status_code == 422
    assert resp.json["message"]["assignee"] == ["Исполнитель: запись № 999999 не найдена"]
    resp = client.api("post", "/api/v1/task/", json={"title": "X", "assignee": user("manager").id,
                                                     "observers": [999998]})
    assert resp.status_code == 422 and "observers" in resp.json["message"]
    assert db.session.query(Task).count() == 0
    assert db.session.get(CrmUser, 999999) is None


def test_closed_at_cannot_be_set_through_api(client):
    task = make_task()
    resp = client.api("put", f"/api/v1/task/{task.id}", json={"closed_at": "2020-01-01T00:00:00"})
    assert 400 <= resp.status_code < 500
    assert reload(task.id).closed_at is None


# --- the record a task belongs to ---------------------------------------------------------

def test_task_shows_its_record_as_a_link(client):
    with acting_as(user("admin").id):
        event = Event(kind="call", direction="incoming", state="planned", subject="Звонок")
        db.session.add(event)
        db.session.commit()
    resp = client.post("/taskview/add", data=form(record_entity="event", record_id=event.id))
    assert resp.status_code == 302
    task = only_task()
    assert (task.record_entity, task.record_id) == ("event", event.id)
    page = client.get(f"/taskview/show/{task.id}").get_data(as_text=True)
    assert "Относится к" in page
    assert f'href="/eventview/show/{event.id}"' in page and f"Звонок № {event.number}" in page
    listing = client.get("/taskview/list/").get_data(as_text=True)
    assert f'href="/eventview/show/{event.id}"' in listing
    csv = client.get("/taskview/export/").get_data(as_text=True)
    assert f"Событие: Звонок № {event.number}" in csv and "href" not in csv


def test_add_form_prefilled_on_the_basis_of_a_record(client):
    with acting_as(user("admin").id):
        event = Event(kind="call", direction="incoming", state="planned")
        db.session.add(event)
        db.session.commit()
    html = client.get(f"/taskview/add?record_entity=event&record_id={event.id}") \
        .get_data(as_text=True)
    assert '<option selected value="event">' in html or 'value="event" selected' in html
    assert f'value="{event.id}"' in html


def test_link_to_a_missing_record_is_refused(client):
    resp = client.post("/taskview/add", data=form(record_entity="event", record_id=424242))
    assert "не найдена" in resp.get_data(as_text=True)
    assert db.session.query(Task).count() == 0


# --- checklist ----------------------------------------------------------------------------

def test_checklist_edited_on_the_task_page(login):
    manager = login("manager")
    task = make_task()
    resp = manager.post(f"/taskview/{task.id}/checklist/add", data={"text": "Собрать реквизиты"})
    assert resp.status_code == 302
    manager.post(f"/taskview/{task.id}/checklist/add", data={"text": "Согласовать цену"})
    resp = manager.post(f"/taskview/{task.id}/checklist/add", data={"text": "   "})
    assert resp.status_code == 302
    db.session.expire_all()
    items = db.session.scalars(select(ChecklistItem).order_by(ChecklistItem.sort_order)).all()
    assert [i.text for i in items] == ["Собрать реквизиты", "Согласовать цену"]

    first, second = items
    manager.post(f"/taskview/{task.id}/checklist/{first.id}",
                 data={"action": "save", "text": "Собрать реквизиты клиента", "done": "1"})
    manager.post(f"/taskview/{task.id}/checklist/{second.id}", data={"action": "delete"})
    db.session.expire_all()
    items = db.session.scalars(select(ChecklistItem)).all()
    assert [(i.text, i.done) for i in items] == [("Собрать реквизиты клиента", True)]

    page = manager.get(f"/taskview/show/{task.id}").get_data(as_text=True)
    assert "Собрать реквизиты клиента" in page and "1 из 1" in page
    assert "Добавить пункт" in page


def test_checklist_empty_text_gets_a_russian_message(login):
    manager = login("manager")
    task = make_task()
    resp = manager.post(f"/taskview/{task.id}/checklist/add", data={"text": ""},
                        follow_redirects=True)
    assert "Укажите текст пункта чек-листа" in resp.get_data(as_text=True)


def test_checklist_through_api(client):
    task = make_task()
    resp = client.api("post", "/api/v1/task_checklist/",
                      json={"task": task.id, "text": "Проверить оплату"})
    assert resp.status_code == 201, resp.json
    item_id = resp.json["id"]
    resp = client.api("put", f"/api/v1/task_checklist/{item_id}", json={"done": True})
    assert resp.status_code == 200
    listed = client.api("get", "/api/v1/task_checklist/").json["result"]
    assert listed == [{"id": item_id, "task": {"id": task.id}, "text": "Проверить оплату",
                       "done": True, "sort_order": 0}]
    resp = client.api("post", "/api/v1/task_checklist/", json={"task": task.id, "text": ""})
    assert resp.status_code == 422 and "text" in resp.json["message"]
    assert client.api("delete", f"/api/v1/task_checklist/{item_id}").status_code == 200
    assert db.session.query(ChecklistItem).count() == 0
