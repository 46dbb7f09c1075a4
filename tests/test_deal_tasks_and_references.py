"""The "Задачи" column and filter of the deal list; reference selects offer active items
only, and an inactive item stays on the records that hold it."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from models.deal import Deal
from models.task import Task
from tests.helpers import ref_item as ref, user
from tests.test_pipeline_fixtures import make_deal, make_pipeline, stage


def _task(deal, status="open"):
    db.session.add(Task(title=f"Позвонить: {deal.title}", record_entity="deal",
                        record_id=deal.id, status=status, assignee_id=user("manager").id,
                        creator_id=user("manager").id))
    db.session.commit()


@pytest.fixture()
def three_deals(app):
    pipeline = make_pipeline()
    busy = make_deal("Сделка с задачей", "manager", pipeline)
    idle = make_deal("Сделка без задач", "manager", pipeline)
    closed = make_deal("Сделка с закрытой задачей", "manager", pipeline)
    _task(busy)
    _task(closed, status="done")
    return busy, idle, closed


def test_list_marks_deals_without_open_task(login, three_deals):
    html = login("manager").get("/dealview/list/").get_data(as_text=True)
    assert "Задачи" in html
    assert html.count("crm-no-tasks") == 2  # the idle deal and the one with a done task


def test_no_tasks_filter(login, three_deals):
    manager = login("manager")
    html = manager.get("/dealview/list/?_flt_0_has_open_task=").get_data(as_text=True)
    assert "Сделка без задач" in html and "Сделка с закрытой задачей" in html
    assert "Сделка с задачей" not in html
    html = manager.get("/dealview/list/?_flt_1_has_open_task=").get_data(as_text=True)
    assert "Сделка с задачей" in html
    assert "Сделка без задач" not in html and "Сделка с закрытой задачей" not in html
    # the filter is offered in the search form
    assert "Нет задач" in manager.get("/dealview/list/").get_data(as_text=True)


def test_no_tasks_filter_in_api(login, three_deals):
    query = '(filters:!((col:id,opr:crm_no_tasks,value:x)))'
    resp = login("manager").api("get", f"/api/v1/deal/?q={query}")
    assert resp.status_code == 200, resp.json
    assert {r["title"] for r in resp.json["result"]} == {"Сделка без задач",
                                                         "Сделка с закрытой задачей"}


def test_inactive_reference_item_is_not_offered_on_a_new_deal(login, app):
    pipeline = make_pipeline()
    old = make_deal("Старая сделка", "manager", pipeline,
                    source=ref("lead_source", "website"))
    item = ref("lead_source", "website")
    item.active = False
    db.session.commit()
    try:
        manager = login("manager")
        new_form = manager.get("/dealview/add").get_data(as_text=True)
        assert "Входящий звонок" in new_form
        assert ">Сайт<" not in new_form
        edit_form = manager.get(f"/dealview/edit/{old.id}").get_data(as_text=True)
        assert f'value="{item.id}">Сайт<' in edit_form.replace(" selected", "")
        # the old deal saves with its inactive source kept
        resp = manager.post(f"/dealview/edit/{old.id}", data={
            "title": "Старая сделка (правка)", "pipeline": str(pipeline.id),
            "stage": str(stage(pipeline, "talks").id), "source": str(item.id),
            "responsible": str(user("manager").id), "budget": "0", "version": "1"})
        errors = re.findall(r'(?s)alert-danger">\s*(.{0,120}?)\s*</div>',
                            resp.get_data(as_text=True))
        assert resp.status_code == 302, errors
        db.session.expire_all()
        saved = db.session.get(Deal, old.id)
        assert saved.title == "Старая сделка (правка)" and saved.source_id == item.id
        # a new deal cannot take it, neither through the form nor the API
        html = manager.post("/dealview/add", data={
            "title": "Новая", "pipeline": str(pipeline.id),
            "stage": str(stage(pipeline, "new").id), "source": str(item.id)}
        ).get_data(as_text=True)
        assert "Новая" in html  # the form comes back
        api = manager.api("post", "/api/v1/deal/", json={
            "title": "Новая", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
            "source": item.id})
        assert api.status_code == 422
        assert "больше не используется" in api.json["message"]["source"][0]
        assert db.session.query(Deal).filter_by(title="Новая").count() == 0
    finally:
        db.session.rollback()
        item = ref("lead_source", "website")
        item.active = True
        db.session.commit()


def test_won_and_lost_deals_owe_no_task(login, three_deals):
    """«Нет задач» marks open deals only: a closed one is not forgotten work."""
    pipeline = three_deals[0].pipeline
    won = [s.key for s in pipeline.stages if s.kind == "won"][0]
    make_deal("Выигранная сделка", "manager", pipeline, stage_key=won)
    manager = login("manager")
    html = manager.get("/dealview/list/").get_data(as_text=True)
    assert "Выигранная сделка" in html
    assert html.count("crm-no-tasks") == 2  # still the two open ones without a task
    html = manager.get("/dealview/list/?_flt_0_has_open_task=").get_data(as_text=True)
    assert "Выигранная сделка" not in html and "Сделка без задач" in html
