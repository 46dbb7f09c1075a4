"""An overdue open task is marked «Просрочена» (red) wherever tasks are listed: the task
list, «Мои задачи», the «Задачи» tab of a record page and the home page; a closed task or
one due later is not. The deal and lead lists keep their «Есть» / «Нет задач» column."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from app.extensions import db
from models.base import acting_as
from models.task import Task
from tests.helpers import user
from tests.test_pipeline_fixtures import make_deal, make_lead, make_pipeline

NOW = dt.datetime(2026, 11, 16, 9, 0)  # naive UTC: Monday, 12:00 in Moscow
DAY = dt.timedelta(days=1)
OVERDUE, IN_WORK, CLOSED, LATER = ("Просроченный звонок", "Просроченное КП в работе",
                                   "Закрытый просроченный звонок", "Звонок завтра")


@pytest.fixture()
def clock():
    # Frozen before anyone logs in: a session signed later than the clock would be refused.
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _task(title, record=None, deadline=None, status="open", assignee="manager",
          creator="manager"):
    with acting_as(user(creator).id):
        task = Task(title=title, assignee_id=user(assignee).id, creator_id=user(creator).id,
                    deadline=deadline, status=status,
                    record_entity=record.__entity__ if record is not None else None,
                    record_id=record.id if record is not None else None)
        db.session.add(task)
        db.session.commit()
    return task


@pytest.fixture()
def deal(app, clock):
    deal = make_deal("Поставка стеллажей", "manager", make_pipeline())
    _task(OVERDUE, deal, NOW - DAY)
    _task(IN_WORK, deal, NOW - dt.timedelta(minutes=5), status="in_progress")
    _task(CLOSED, deal, NOW - DAY, status="done")
    _task(LATER, deal, NOW + DAY)
    return deal


def row(html: str, title: str) -> str:
    """The table row naming `title` (its attributes and cells)."""
    found = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if title in r]
    assert len(found) == 1, f"{title}: {len(found)} rows"
    return found[0]


def is_marked(html: str, title: str) -> bool:
    tr = row(html, title)
    opening = tr[:tr.index(">")]
    marked = "crm-overdue-mark" in tr and "Просрочена" in tr and "label-danger" in tr
    assert marked == ("crm-overdue" in opening and "danger" in opening), tr
    return marked


def assert_marks(html: str, overdue=(OVERDUE, IN_WORK), not_overdue=(CLOSED, LATER)):
    assert {t: is_marked(html, t) for t in (*overdue, *not_overdue)} == \
        {**dict.fromkeys(overdue, True), **dict.fromkeys(not_overdue, False)}


def test_task_list(deal, login):
    html = login("manager").get("/taskview/list/").get_data(as_text=True)
    assert_marks(html)
    assert html.count("crm-overdue-mark") == 2


def test_my_tasks(deal, login):
    html = login("manager").get("/mytaskview/list/").get_data(as_text=True)
    assert CLOSED not in html  # «Мои задачи» lists open tasks only
    assert_marks(html, not_overdue=(LATER,))
    assert html.count("crm-overdue-mark") == 2


def test_record_page_tab(deal, login):
    html = login("manager").get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    tab = html[html.index('id="crm-tasks"'):html.index('id="crm-files"')]
    assert_marks(tab)
    assert tab.count("crm-overdue-mark") == 2
    # the tab's heading says so while the tab is closed
    assert re.search(r'href="#crm-tasks".*?Просрочено: 2</span></a>', html, re.S)
    # open ones first, overdue first among them; the closed one last
    assert sorted((OVERDUE, IN_WORK, CLOSED, LATER), key=tab.index) == \
        [OVERDUE, IN_WORK, LATER, CLOSED]


def test_record_page_tab_of_a_lead_and_the_lists_columns(deal, login):
    lead = make_lead("Запрос с сайта", "manager", make_pipeline("leads", "lead"))
    _task("Перезвонить по лиду", lead, NOW - DAY)
    idle = make_deal("Сделка с закрытой задачей", "manager", deal.pipeline)
    _task("Старая задача", idle, NOW - DAY, status="cancelled")
    manager = login("manager")
    html = manager.get(f"/leadview/show/{lead.id}").get_data(as_text=True)
    assert is_marked(html, "Перезвонить по лиду")
    # The lists keep their «Задачи» column: an overdue open task is still a task.
    deals = manager.get("/dealview/list/").get_data(as_text=True)
    assert "crm-no-tasks" not in row(deals, "Поставка стеллажей")
    assert "crm-no-tasks" in row(deals, "Сделка с закрытой задачей")
    leads = manager.get("/leadview/list/").get_data(as_text=True)
    assert "crm-no-tasks" not in row(leads, "Запрос с сайта")


def test_record_page_tab_shows_only_tasks_the_reader_sees(deal, login):
    _task("Чужое поручение", deal, NOW - DAY, assignee="manager2", creator="manager2")
    # The history tells of every task of the record; the tab lists those one may open.
    html = login("manager").get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    tab = html[html.index('id="crm-tasks"'):html.index('id="crm-files"')]
    assert "Чужое поручение" not in tab and OVERDUE in tab
    html = login("admin").get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    tab = html[html.index('id="crm-tasks"'):html.index('id="crm-files"')]
    assert is_marked(tab, "Чужое поручение")


def test_home_page(deal, login):
    _task("Чужая просроченная", None, NOW - DAY, assignee="manager2", creator="manager2")
    html = login("manager").get("/").get_data(as_text=True)
    assert "Мои задачи" in html and "Чужая просроченная" not in html
    assert CLOSED not in html
    assert_marks(html, not_overdue=(LATER,))
    assert "Просрочено: 2" in html


def test_overdue_is_judged_by_the_clock(deal, login, clock):
    clock.move_to(NOW + 2 * DAY)
    manager = login("manager")
    for url in ("/taskview/list/", "/mytaskview/list/", f"/dealview/show/{deal.id}", "/"):
        html = manager.get(url).get_data(as_text=True)
        assert is_marked(html, LATER), url
        if CLOSED in html:
            assert not is_marked(html, CLOSED), url
