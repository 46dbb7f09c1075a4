""""Мои задачи": my open tasks only, overdue first and highlighted, then by deadline; the
general task list marks overdue tasks too."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from app.extensions import db
from models.base import acting_as
from models.task import Task
from tests.helpers import user

NOW = dt.datetime(2026, 11, 16, 9, 0)  # naive UTC


@pytest.fixture()
def clock():
    # Frozen before anyone logs in: a session signed later than the clock would be refused.
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def task(title, assignee="manager", creator="manager", deadline=None, status="open"):
    with acting_as(user(creator).id):
        t = Task(title=title, assignee_id=user(assignee).id, creator_id=user(creator).id,
                 deadline=deadline, status=status)
        db.session.add(t)
        db.session.commit()
    return t


@pytest.fixture()
def tasks(app, clock):
    day = dt.timedelta(days=1)
    return {
        "tomorrow": task("Завтрашняя", deadline=NOW + day),
        "long_overdue": task("Давно просрочена", deadline=NOW - 2 * day),
        "no_deadline": task("Без срока", status="in_progress"),
        "just_overdue": task("Только что просрочена", deadline=NOW - dt.timedelta(hours=1)),
        "next_week": task("Через неделю", deadline=NOW + 7 * day),
        "done": task("Сделанная", deadline=NOW - day, status="done"),
        "cancelled": task("Отменённая", deadline=NOW - day, status="cancelled"),
        "someone_else": task("Чужая", assignee="manager2", creator="manager2",
                             deadline=NOW - day),
        "i_gave": task("Поручил другому", assignee="manager2", creator="manager",
                       deadline=NOW - day),
    }


def rows(html: str) -> list[tuple[bool, str]]:
    """(highlighted, row text) of each row of the list table."""
    body = html.split("<tbody>")[-1] if "<tbody>" in html else html
    out = []
    for attrs, inner in re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S):
        text = re.sub(r"<[^>]+>", " ", inner)
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            out.append(("crm-overdue" in attrs, text))
    return out


def titles_in_order(html: str, titles: list[str]) -> list[str]:
    return sorted((t for t in titles if t in html), key=html.index)


ALL_TITLES = ["Завтрашняя", "Давно просрочена", "Без срока", "Только что просрочена",
              "Через неделю", "Сделанная", "Отменённая", "Чужая", "Поручил другому"]


def test_my_tasks_lists_only_my_open_tasks_overdue_first(tasks, login):
    manager = login("manager")
    resp = manager.get("/mytaskview/list/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Мои задачи" in html
    assert titles_in_order(html, ALL_TITLES) == [
        "Давно просрочена", "Только что просрочена", "Завтрашняя", "Через неделю", "Без срока"]

    marked = [(hl, text) for hl, text in rows(html) if any(t in text for t in ALL_TITLES)]
    assert [hl for hl, _ in marked] == [True, True, False, False, False]
    assert all("Просрочена" in text for hl, text in marked if hl)
    assert html.count("crm-overdue-mark") == 2


def test_overdue_is_judged_by_the_clock(tasks, login, clock):
    clock.move_to(NOW + dt.timedelta(days=2))
    html = login("manager").get("/mytaskview/list/").get_data(as_text=True)
    assert titles_in_order(html, ALL_TITLES)[:3] == [
        "Давно просрочена", "Только что просрочена", "Завтрашняя"]
    assert html.count("crm-overdue-mark") == 3


def test_closing_a_task_removes_it_from_my_tasks(tasks, login):
    manager = login("manager")
    resp = manager.api("put", f"/api/v1/task/{tasks['tomorrow'].id}",
                       json={"status": "done", "result": "Готово"})
    assert resp.status_code == 200, resp.json
    html = manager.get("/mytaskview/list/").get_data(as_text=True)
    assert "Завтрашняя" not in html and "Через неделю" in html


def test_other_users_see_their_own_tasks(tasks, login):
    html = login("manager2").get("/mytaskview/list/").get_data(as_text=True)
    assert titles_in_order(html, ALL_TITLES) == ["Чужая", "Поручил другому"]
    html = login("secretary").get("/mytaskview/list/").get_data(as_text=True)
    assert titles_in_order(html, ALL_TITLES) == []


def test_general_task_list_marks_overdue_tasks(tasks, login):
    html = login("manager").get("/taskview/list/?psize_TaskView=100").get_data(as_text=True)
    marked = {text for hl, text in rows(html) if hl}
    assert any("Давно просрочена" in t for t in marked)
    assert any("Поручил другому" in t for t in marked)  # I am its постановщик
    assert not any("Сделанная" in t for t in marked)    # closed tasks are never overdue
    assert "Сделанная" in html and "Чужая" not in html


def test_my_tasks_menu_item(app, login):
    html = login("manager").get("/mytaskview/list/").get_data(as_text=True)
    assert "Мои задачи" in html and "/mytaskview/list/" in html
    assert login("employee").get("/mytaskview/list/").status_code == 200


def test_my_tasks_export_has_the_same_rows(tasks, login):
    csv = login("manager").get("/mytaskview/export/").get_data(as_text=True)
    assert "Давно просрочена" in csv and "Чужая" not in csv and "Сделанная" not in csv
    assert "Просрочена" in csv and "<span" not in csv
