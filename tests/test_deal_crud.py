"""Deals through the forms and the REST API: create, edit, delete, wrong stage, stale
version."""
from __future__ import annotations

from decimal import Decimal

from app.extensions import db
from models.deal import Deal
from models.registry import get_record
from tests.conftest import flashes
from tests.helpers import ref_item as ref, user
from tests.test_pipeline_fixtures import make_deal, make_pipeline, stage


def _form(pipeline, stage_key="new", **over):
    data = {"title": "Поставка оборудования", "pipeline": str(pipeline.id),
            "stage": str(stage(pipeline, stage_key).id), "budget": "150000",
            "budget_manual": "y", "responsible": str(user("manager").id)}
    data.update(over)
    return data


def test_deal_created_through_form(login):
    pipeline = make_pipeline()
    manager = login("manager")
    resp = manager.post("/dealview/add", data=_form(pipeline), follow_redirects=True)
    assert resp.status_code == 200
    deal = db.session.query(Deal).one()
    assert deal.title == "Поставка оборудования"
    assert deal.budget == Decimal("150000.00")
    assert deal.responsible.username == "manager"
    assert deal.stage.key == "new" and deal.stage_entered_at is not None
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Поставка оборудования" in page
    assert "150\u00a0000,00\u00a0₽" in page


def test_deal_without_responsible_belongs_to_its_author(login):
    pipeline = make_pipeline()
    manager = login("manager")
    manager.post("/dealview/add", data=_form(pipeline, responsible="__None"))
    deal = db.session.query(Deal).one()
    assert deal.responsible_id == user("manager").id


def test_deal_list_shows_stage_budget_responsible_in_russian(login):
    pipeline = make_pipeline()
    make_deal("Монтаж вентиляции", "manager", pipeline, stage_key="talks", budget="1073782")
    html = login("manager").get("/dealview/list/").get_data(as_text=True)
    assert "Сделки" in html
    assert "Монтаж вентиляции" in html
    assert "Переговоры" in html
    assert "1\u00a0073\u00a0782,00\u00a0₽" in html
    assert "Тестов Иван" in html or "Иван" in html


def test_stage_of_another_pipeline_is_refused_at_the_field(login):
    sales = make_pipeline("sales")
    other = make_pipeline("service", name="Сервис")
    data = _form(sales, stage=str(stage(other, "talks").id))
    resp = login("manager").post("/dealview/add", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Этап «Переговоры» не относится к воронке «Воронка sales»" in html
    assert 'value="Поставка оборудования"' in html  # the input is kept
    assert db.session.query(Deal).count() == 0


def test_deal_edited_and_deleted_through_forms(login):
    pipeline = make_pipeline()
    deal = make_deal("Старое название", "manager", pipeline, budget="10")
    head = login("sales_head")
    resp = head.post(f"/dealview/edit/{deal.id}",
                     data=_form(pipeline, "talks", title="Новое название",
                                version=str(deal.version)), follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert deal.title == "Новое название"
    assert deal.stage.key == "talks"
    assert deal.version == 2
    head.post(f"/dealview/delete/{deal.id}", follow_redirects=True)
    db.session.expire_all()
    assert get_record("deal", deal.id) is None  # in the recycle bin (tests/test_trash.py)


def test_closing_stage_sets_closed_at(login):
    pipeline = make_pipeline()
    deal = make_deal("Сделка", "manager", pipeline)
    assert deal.closed_at is None
    login("manager").post(f"/dealview/edit/{deal.id}",
                          data=_form(pipeline, "won", version=str(deal.version)))
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).closed_at is not None


def test_lost_reason_other_needs_a_comment(login):
    pipeline = make_pipeline()
    data = _form(pipeline, "lost", lost_reason=str(ref("lost_reason", "other").id))
    html = login("manager").post("/dealview/add", data=data).get_data(as_text=True)
    assert "Для «Другое» опишите причину проигрыша" in html
    assert db.session.query(Deal).count() == 0
    data["lost_comment"] = "Клиент закрылся"
    login("manager").post("/dealview/add", data=data)
    assert db.session.query(Deal).one().lost_comment == "Клиент закрылся"


def test_deal_crud_through_api(login):
    pipeline = make_pipeline()
    api = login("manager")
    body = {"title": "Сделка из API", "pipeline": pipeline.id,
            "stage": stage(pipeline, "new").id, "budget": 5000, "budget_manual": True,
            "observers": [user("manager2").id], "source": ref("lead_source", "website").id}
    resp = api.api("post", "/api/v1/deal/", json=body)
    assert resp.status_code == 201, resp.json
    deal_id = resp.json["id"]
    got = api.api("get", f"/api/v1/deal/{deal_id}")
    assert got.status_code == 200
    result = got.json["result"]
    assert result["title"] == "Сделка из API"
    assert result["stage"]["id"] == stage(pipeline, "new").id
    assert result["responsible"]["id"] == user("manager").id
    assert result["version"] == 1
    assert "password" not in got.get_data(as_text=True)
    put = api.api("put", f"/api/v1/deal/{deal_id}",
                  json={"title": "Переименована", "version": 1})
    assert put.status_code == 200, put.json
    db.session.expire_all()
    assert db.session.get(Deal, deal_id).title == "Переименована"
    listed = api.api("get", "/api/v1/deal/")
    assert listed.status_code == 200 and listed.json["count"] == 1
    assert api.api("delete", f"/api/v1/deal/{deal_id}").status_code == 403  # manager: rw
    head = login("sales_head")
    gone = head.api("delete", f"/api/v1/deal/{deal_id}")
    assert gone.status_code == 200, gone.json
    db.session.expire_all()
    assert get_record("deal", deal_id) is None


def test_api_refuses_stage_of_another_pipeline_with_422(client):
    sales = make_pipeline("sales")
    other = make_pipeline("service")
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "Чужой этап", "pipeline": sales.id, "stage": stage(other, "new").id})
    assert resp.status_code == 422
    assert "не относится к воронке" in resp.json["message"]["stage"][0]
    assert db.session.query(Deal).count() == 0


def test_api_bad_input_is_4xx_with_russian_message(client):
    pipeline = make_pipeline()
    resp = client.api("post", "/api/v1/deal/", json={"pipeline": pipeline.id,
                                                     "stage": stage(pipeline, "new").id,
                                                     "title": " "})
    assert resp.status_code == 422
    assert resp.json["message"]["title"] == ["Укажите название сделки"]
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "x", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
        "source": ref("lost_reason", "other").id})
    assert resp.status_code == 422
    assert "Источники и каналы" in resp.json["message"]["source"][0]
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "x", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
        "budget": -5, "budget_manual": True})
    assert resp.status_code == 422
    assert resp.json["message"]["budget"] == ["Бюджет не может быть отрицательным"]
    assert db.session.query(Deal).count() == 0


def test_two_users_saving_the_same_deal_second_is_refused_in_form(login):
    pipeline = make_pipeline()
    deal = make_deal("Общая сделка", "manager", pipeline, observers=["manager2"], budget="1")
    first, second = login("manager"), login("manager2")
    assert 'name="version"' in first.get(f"/dealview/edit/{deal.id}").get_data(as_text=True)
    seen_version = str(deal.version)
    observers = str(user("manager2").id)
    ok = first.post(f"/dealview/edit/{deal.id}",
                    data=_form(pipeline, title="Правка первого", version=seen_version,
                               observers=observers),
                    follow_redirects=True)
    assert ok.status_code == 200
    resp = second.post(f"/dealview/edit/{deal.id}",
                       data=_form(pipeline, "talks", title="Правка второго",
                                  version=seen_version, observers=observers),
                       follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert any("Запись изменена другим пользователем" in f for f in flashes(html)), flashes(html)
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert deal.title == "Правка первого"
    assert deal.stage.key == "new"
    assert deal.version == 2


def test_two_users_saving_the_same_deal_second_gets_409_in_api(login):
    pipeline = make_pipeline()
    deal = make_deal("Общая сделка", "manager", pipeline, observers=["manager2"])
    first, second = login("manager"), login("manager2")
    assert first.api("put", f"/api/v1/deal/{deal.id}",
                     json={"title": "Первый", "version": 1}).status_code == 200
    resp = second.api("put", f"/api/v1/deal/{deal.id}",
                      json={"title": "Второй", "version": 1})
    assert resp.status_code == 409
    assert "Запись изменена другим пользователем" in resp.json["message"]
    missing = second.api("put", f"/api/v1/deal/{deal.id}", json={"title": "Без версии"})
    assert missing.status_code == 422
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).title == "Первый"
    assert db.session.get(Deal, deal.id).version == 2
