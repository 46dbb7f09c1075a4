"""Row rules on deals, their line items and payments: lists, record pages, edits, deletes,
the API and the CSV export."""
from __future__ import annotations

import datetime as dt

import pytest

from app.extensions import db
from models.base import acting_as
from models.deal import Deal, DealItem, PaymentScheduleEntry
from tests.factories import department, make_user
from tests.helpers import user
from tests.test_pipeline_fixtures import make_deal, make_pipeline, stage

TITLES = {"own": "Сделка менеджера", "observed": "Сделка под наблюдением",
          "other": "Сделка второго менеджера", "outside": "Сделка исполнения"}


@pytest.fixture()
def deals(app):
    pipeline = make_pipeline()
    out = {
        "own": make_deal(TITLES["own"], "manager", pipeline),
        "observed": make_deal(TITLES["observed"], "manager2", pipeline,
                              observers=["manager"]),
        "other": make_deal(TITLES["other"], "manager2", pipeline),
        "outside": make_deal(TITLES["outside"], "outsider", pipeline),
    }
    for deal in out.values():
        db.session.add(DealItem(deal=deal, name=f"Позиция: {deal.title}", quantity=1,
                                price=100))
        db.session.add(PaymentScheduleEntry(deal=deal, percent=50,
                                            planned_date=dt.date(2026, 12, 1),
                                            note=f"Платёж: {deal.title}"))
    db.session.commit()
    return {k: v.id for k, v in out.items()}


def _visible_in_list(client, url="/dealview/list/"):
    html = client.get(url).get_data(as_text=True)
    return {k for k, title in TITLES.items() if title in html}


@pytest.mark.parametrize("username, expected", [
    ("manager", {"own", "observed"}),
    ("manager2", {"observed", "other"}),
    ("sales_head", {"own", "observed", "other"}),
    ("outsider", {"outside"}),
    ("director", {"own", "observed", "other", "outside"}),
    ("admin", {"own", "observed", "other", "outside"}),
])
def test_deal_list_follows_row_rules(login, deals, username, expected):
    client = login(username)
    assert _visible_in_list(client) == expected
    api_titles = {row["title"] for row in client.api("get", "/api/v1/deal/").json["result"]}
    assert api_titles == {TITLES[k] for k in expected}


def test_manager_cannot_open_edit_or_change_another_managers_deal(login, deals):
    manager = login("manager")
    other = deals["other"]
    assert manager.get(f"/dealview/show/{other}").status_code == 404
    assert manager.get(f"/dealview/edit/{other}").status_code == 404
    resp = manager.post(f"/dealview/edit/{other}", data={"title": "Захват", "version": "1"})
    assert resp.status_code == 404
    assert manager.api("get", f"/api/v1/deal/{other}").status_code == 404
    put = manager.api("put", f"/api/v1/deal/{other}", json={"title": "Захват", "version": 1})
    assert put.status_code == 404
    db.session.expire_all()
    assert db.session.get(Deal, other).title == TITLES["other"]
    # own and observed records open
    assert manager.get(f"/dealview/show/{deals['own']}").status_code == 200
    assert manager.get(f"/dealview/show/{deals['observed']}").status_code == 200
    assert manager.api("get", f"/api/v1/deal/{deals['observed']}").status_code == 200


def test_head_cannot_delete_another_departments_deal(login, deals):
    head = login("sales_head")
    head.post(f"/dealview/delete/{deals['outside']}")
    assert head.api("delete", f"/api/v1/deal/{deals['outside']}").status_code == 404
    db.session.expire_all()
    assert db.session.get(Deal, deals["outside"]) is not None
    # the department's deal is deletable
    head.post(f"/dealview/delete/{deals['other']}")
    db.session.expire_all()
    assert db.session.get(Deal, deals["other"]) is None


def test_csv_export_follows_row_rules(login, deals):
    resp = login("manager").get("/dealview/export/")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert TITLES["own"] in body and TITLES["observed"] in body
    assert TITLES["other"] not in body and TITLES["outside"] not in body
    assert "Нет задач" in body and "<span" not in body


def test_line_items_and_payments_follow_the_deal(login, deals):
    manager = login("manager")
    items = {row["name"] for row in manager.api("get", "/api/v1/deal_item/").json["result"]}
    assert items == {f"Позиция: {TITLES['own']}", f"Позиция: {TITLES['observed']}"}
    notes = {row["note"] for row in
             manager.api("get", "/api/v1/payment_schedule/").json["result"]}
    assert notes == {f"Платёж: {TITLES['own']}", f"Платёж: {TITLES['observed']}"}
    foreign_item = db.session.query(DealItem).filter_by(deal_id=deals["other"]).one().id
    assert manager.get(f"/dealitemview/show/{foreign_item}").status_code == 404
    assert manager.api("get", f"/api/v1/deal_item/{foreign_item}").status_code == 404
    html = manager.get("/dealitemview/list/").get_data(as_text=True)
    assert TITLES["other"] not in html


def test_items_cannot_be_attached_to_an_invisible_deal(login, deals):
    manager = login("manager")
    resp = manager.api("post", "/api/v1/deal_item/",
                       json={"deal": deals["other"], "name": "Подброшенная", "quantity": 1,
                             "price": 10})
    assert resp.status_code == 422
    # the same words as for a deal that does not exist
    assert resp.json["message"]["deal"] == [f"Запись № {deals['other']} не найдена"]
    form = manager.post("/dealitemview/add",
                        data={"deal": str(deals["other"]), "name": "Подброшенная",
                              "quantity": "1", "price": "10"})
    assert form.status_code == 200  # the form comes back with an error
    assert db.session.query(DealItem).filter_by(name="Подброшенная").count() == 0


def test_a_department_role_without_heading_sees_only_its_own(login, deals):
    """`department` widens to the departments one heads, not to the one one belongs to."""
    colleague = make_user("sales_head2", ["sales_head"], department("sales", "Отдел продаж"))
    mine = make_deal("Сделка заместителя", "sales_head2")
    client = login(colleague.username)
    assert {r["title"] for r in client.api("get", "/api/v1/deal/").json["result"]} \
        == {"Сделка заместителя"}
    assert client.api("get", f"/api/v1/deal/{deals['own']}").status_code == 404
    assert client.get(f"/dealview/show/{deals['own']}").status_code == 404
    assert client.get(f"/dealview/show/{mine.id}").status_code == 200
    # the head of the department still sees the member's deal
    head_titles = {r["title"] for r in login("sales_head").api("get", "/api/v1/deal/")
                   .json["result"]}
    assert "Сделка заместителя" in head_titles


def test_own_scope_shows_a_deal_one_created_for_another(login, deals):
    pipeline = db.session.get(Deal, deals["own"]).pipeline
    with acting_as(user("manager").id):
        created = Deal(title="Передана второму", pipeline=pipeline,
                       stage=stage(pipeline, "new"), responsible=user("manager2"))
        created.items.append(DealItem(name="Позиция переданной", quantity=1, price=5))
        db.session.add(created)
        db.session.commit()
    manager = login("manager")
    titles = {r["title"] for r in manager.api("get", "/api/v1/deal/").json["result"]}
    assert titles == {TITLES["own"], TITLES["observed"], "Передана второму"}
    assert manager.get(f"/dealview/show/{created.id}").status_code == 200
    items = {r["name"] for r in manager.api("get", "/api/v1/deal_item/").json["result"]}
    assert "Позиция переданной" in items
    # nobody else gains it: the outsider neither created nor answers for it
    outsider = login("outsider")
    assert outsider.api("get", f"/api/v1/deal/{created.id}").status_code == 404
