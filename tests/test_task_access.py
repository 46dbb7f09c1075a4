"""Row rules of tasks: the assignee, the постановщик and the observers see and change a task;
another manager sees nothing of it, through lists, record pages, edits, the checklist,
export or the API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.task import ChecklistItem, Task
from tests.helpers import user


def make_task(title, assignee, creator, observers=()) -> Task:
    with acting_as(user(creator).id):
        task = Task(title=title, assignee_id=user(assignee).id, creator_id=user(creator).id,
                    observers=[user(o) for o in observers])
        task.checklist.append(ChecklistItem(text=f"{title}: пункт"))
        db.session.add(task)
        db.session.commit()
    return task


def edit_form(task: Task, **over) -> dict:
    data = {"title": task.title, "description": "", "assignee": str(task.assignee_id),
            "creator": str(task.creator_id), "deadline": "", "status": task.status,
            "result": "", "outcome": "", "record_entity": "", "record_id": ""}
    data.update(over)
    return data


def reload(task_id: int) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


@pytest.fixture()
def theirs(app):
    make_task("Моя задача", "manager", "manager")
    return make_task("Чужая задача", "manager2", "manager2")


def test_manager_does_not_list_another_managers_task(theirs, login):
    manager = login("manager")
    html = manager.get("/taskview/list/").get_data(as_text=True)
    assert "Моя задача" in html and "Чужая задача" not in html
    csv = manager.get("/taskview/export/").get_data(as_text=True)
    assert "Моя задача" in csv and "Чужая задача" not in csv
    listed = manager.api("get", "/api/v1/task/").json
    assert [r["title"] for r in listed["result"]] == ["Моя задача"]
    items = manager.api("get", "/api/v1/task_checklist/").json["result"]
    assert [i["text"] for i in items] == ["Моя задача: пункт"]


def test_manager_cannot_open_or_change_another_managers_task(theirs, login):
    manager = login("manager")
    assert manager.get(f"/taskview/show/{theirs.id}").status_code == 404
    assert manager.get(f"/taskview/edit/{theirs.id}").status_code == 404
    resp = manager.post(f"/taskview/edit/{theirs.id}",
                        data=edit_form(theirs, title="Взлом", assignee=str(user("manager").id)))
    assert resp.status_code == 404
    assert manager.post(f"/taskview/delete/{theirs.id}").status_code in (403, 404)
    assert manager.get(f"/mytaskview/show/{theirs.id}").status_code == 404
    assert manager.api("get", f"/api/v1/task/{theirs.id}").status_code == 404
    assert manager.api("put", f"/api/v1/task/{theirs.id}",
                       json={"title": "Взлом"}).status_code == 404
    task = reload(theirs.id)
    assert task.title == "Чужая задача" and task.assignee_id == user("manager2").id


def test_manager_cannot_touch_another_managers_checklist(theirs, login):
    manager = login("manager")
    item = theirs.checklist[0]
    assert manager.post(f"/taskview/{theirs.id}/checklist/add",
                        data={"text": "Взлом"}).status_code == 404
    assert manager.post(f"/taskview/{theirs.id}/checklist/{item.id}",
                        data={"action": "delete"}).status_code == 404
    resp = manager.api("post", "/api/v1/task_checklist/", json={"task": theirs.id,
                                                               "text": "Взлом"})
    assert resp.status_code == 422 and resp.json["message"]["task"] == ["Задача не найдена"]
    assert manager.api("put", f"/api/v1/task_checklist/{item.id}",
                       json={"done": True}).status_code == 404
    db.session.expire_all()
    assert [(i.text, i.done) for i in db.session.get(Task, theirs.id).checklist] == [
        ("Чужая задача: пункт", False)]


def test_checklist_item_of_one_task_is_not_reachable_through_another(theirs, login):
    mine = db.session.scalar(select(Task).where(Task.title == "Моя задача"))
    item = theirs.checklist[0]
    resp = login("manager").post(f"/taskview/{mine.id}/checklist/{item.id}",
                                 data={"action": "delete"})
    assert resp.status_code == 404
    assert db.session.get(ChecklistItem, item.id) is not None


def test_the_assignee_sees_and_changes_a_task_somebody_else_set(app, login):
    task = make_task("Поручение", assignee="manager", creator="manager2")
    manager = login("manager")
    assert manager.get(f"/taskview/show/{task.id}").status_code == 200
    assert "Поручение" in manager.get("/mytaskview/list/").get_data(as_text=True)
    resp = manager.post(f"/taskview/edit/{task.id}",
                        data=edit_form(task, status="done", result="Сделано"))
    assert resp.status_code == 302
    task = reload(task.id)
    assert task.status == "done" and task.closed_at is not None
    # The постановщик still sees it.
    assert login("manager2").api("get", f"/api/v1/task/{task.id}").status_code == 200


def test_an_observer_sees_and_changes_the_task(app, login):
    task = make_task("Под наблюдением", assignee="manager2", creator="manager2",
                     observers=["manager"])
    manager = login("manager")
    assert "Под наблюдением" in manager.get("/taskview/list/").get_data(as_text=True)
    assert manager.api("get", f"/api/v1/task/{task.id}").status_code == 200
    resp = manager.api("put", f"/api/v1/task/{task.id}", json={"description": "Уточнил срок"})
    assert resp.status_code == 200, resp.json
    assert reload(task.id).description == "Уточнил срок"
    resp = manager.post(f"/taskview/{task.id}/checklist/add", data={"text": "Проверить"})
    assert resp.status_code == 302
    # Not in "Мои задачи": an observer is not the assignee.
    assert "Под наблюдением" not in manager.get("/mytaskview/list/").get_data(as_text=True)
    assert login("outsider").get(f"/taskview/show/{task.id}").status_code == 404


def test_heads_see_their_department_only(theirs, login):
    html = login("sales_head").get("/taskview/list/").get_data(as_text=True)
    assert "Моя задача" in html and "Чужая задача" in html
    assert login("outsider").api("get", "/api/v1/task/").json["count"] == 0
    assert login("director").api("get", "/api/v1/task/").json["count"] == 2


def test_own_scope_shows_a_task_one_created_for_others(login):
    """A secretary sets a task from one manager to another: she still sees it."""
    secretary = login("secretary")
    resp = secretary.api("post", "/api/v1/task/", json={
        "title": "Перезвонить клиенту", "assignee": user("manager2").id,
        "creator": user("manager").id})
    assert resp.status_code == 201, resp.json
    task = reload(resp.json["id"])
    assert task.created_by_id == user("secretary").id
    assert secretary.api("get", f"/api/v1/task/{task.id}").status_code == 200
    assert secretary.get(f"/taskview/show/{task.id}").status_code == 200
    assert login("outsider").api("get", f"/api/v1/task/{task.id}").status_code == 404
