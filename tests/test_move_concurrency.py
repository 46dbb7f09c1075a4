"""Stage moves and task outcomes arriving together (stage buttons, the bulk move, a PUT of
the stage, «Завершить» on screen and through the API): one of them moves the deal, its
effects happen once, and every other one is refused in Russian (409 in the API, a flash on
screen), never a 500."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models.deal import Deal
from models.process import StageHistory
from models.task import Task
from tests.conftest import flashes
from tests.helpers import in_threads, legal_company, user
from tests.process_flow_helpers import install, new_deal, stage, stage_of, tasks

STALE = "Запись изменена другим пользователем"


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def request_deal(client, sales):
    """A new request of seed 001 with what «Взят в работу» requires."""
    return new_deal(client, sales, "new", title="Заявка на весы",
                    responsible=user("sales_head").id, company=legal_company().id,
                    custom={"priority": "A", "delivery_term": "2026-12-01"})


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _entered_in_work(deal) -> int:
    return _count(StageHistory, StageHistory.entity == "deal",
                  StageHistory.record_id == deal.id, StageHistory.stage_name == "Взят в работу")


def _check_items_tasks(deal) -> int:
    return _count(Task, Task.record_entity == "deal", Task.record_id == deal.id,
                  Task.title == "Проверить товарные позиции")


def _with_token(client):
    client.api("get", "/api/v1/deal/?q=(page_size:1)")  # the token, before the race
    return client


def _button(client, deal):
    def call():
        resp = client.post(f"/crm/move/deal/{deal.id}", data={"stage": "in_work"},
                           follow_redirects=True)
        said = " ".join(flashes(resp.get_data(as_text=True)))
        return ("moved" if "Запись переведена на этап" in said else "refused",
                resp.status_code, said)
    return call


def _bulk(client, deal):
    def call():
        resp = client.api("post", "/api/v1/deal/move", json={"ids": [deal.id],
                                                             "stage": "in_work"})
        if resp.status_code != 200:
            return "error", resp.status_code, resp.get_data(as_text=True)
        [result] = resp.json["result"]
        return ("moved" if result["ok"] else "refused"), 200, result["message"]
    return call


def _put(client, deal, pipeline, version):
    def call():
        resp = client.api("put", f"/api/v1/deal/{deal.id}", json={
            "stage": stage(pipeline, "in_work").id, "version": version})
        said = str((resp.json or {}).get("message", ""))
        return ("moved" if resp.status_code == 200 else "refused"), resp.status_code, said
    return call


def _check(outcomes):
    assert all(status < 500 for _how, status, _said in outcomes), outcomes
    assert [how for how, _s, _m in outcomes].count("moved") == 1, outcomes
    refused = [o for o in outcomes if o[0] == "refused"]
    assert len(refused) == len(outcomes) - 1, outcomes
    assert all(said.strip() for _how, _status, said in refused), outcomes


def test_parallel_moves_move_once_and_refuse_the_others(app, login, sales, request_deal):
    deal = request_deal
    version = db.session.get(Deal, deal.id).version
    calls = [_button(login("admin"), deal), _button(login("sales_head"), deal),
             _button(login("manager"), deal),
             _bulk(_with_token(login("admin")), deal),
             _bulk(_with_token(login("sales_head")), deal),
             _bulk(_with_token(login("manager2")), deal),
             _put(_with_token(login("admin")), deal, sales, version),
             _put(_with_token(login("sales_head")), deal, sales, version)]
    outcomes = in_threads(app, calls)
    _check(outcomes)
    for how, status, said in outcomes[6:]:  # the PUTs: a stale version is a 409
        assert how == "moved" or (status == 409 and STALE in said), outcomes
    assert stage_of(deal) == "in_work"
    assert _entered_in_work(deal) == 1
    assert _check_items_tasks(deal) == 1


def _complete_form(client, task):
    def call():
        resp = client.post(f"/taskview/{task.id}/complete",
                           data={"outcome": "Принять заявку"}, follow_redirects=True)
        said = " ".join(flashes(resp.get_data(as_text=True)))
        return ("moved" if "завершена с итогом" in said else "refused"), resp.status_code, said
    return call


def _complete_api(client, task):
    def call():
        resp = client.api("post", f"/api/v1/task/{task.id}/complete",
                          json={"outcome": "Принять заявку"})
        said = str((resp.json or {}).get("message", ""))
        if resp.status_code == 200:
            return "moved", 200, said
        return ("refused" if resp.status_code == 409 else "error"), resp.status_code, said
    return call


def test_parallel_outcomes_close_the_task_once(app, login, sales, request_deal):
    deal = request_deal
    [take] = tasks(deal)
    users = ["admin", "sales_head", take.assignee.username, "admin", "sales_head",
             take.assignee.username]
    calls = [(_complete_form if i % 2 else _complete_api)(
        login(name) if i % 2 else _with_token(login(name)), take)
        for i, name in enumerate(users)]
    outcomes = in_threads(app, calls)
    _check(outcomes)
    assert stage_of(deal) == "in_work"
    assert _entered_in_work(deal) == 1
    assert _check_items_tasks(deal) == 1
