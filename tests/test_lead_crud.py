"""Leads through the forms and the API; checks, custom fields, row rules, stale versions."""
from __future__ import annotations

import pytest

from app.extensions import db
from models.base import acting_as
from models.lead import Lead
from tests.conftest import flashes
from tests.helpers import ref_item as ref, user
from tests.test_pipeline_fixtures import make_lead, make_pipeline, stage

LEAD_FIELDS = [{"key": "volume", "label": "Объём, м²", "type": "integer"},
               {"key": "deadline", "label": "Желаемый срок", "type": "date"}]


@pytest.fixture()
def pipeline(app):
    return make_pipeline("leads", entity="lead", name="Лиды", fields=LEAD_FIELDS)


def _form(pipeline, stage_key="new", **over):
    data = {"title": "Заявка с сайта", "pipeline": str(pipeline.id),
            "stage": str(stage(pipeline, stage_key).id),
            "source": str(ref("lead_source", "website").id), "company_name": "ООО «Вектор»",
            "contact_name": "Анна Смирнова", "phone": "+7 900 000-00-00",
            "email": "anna@vector.ru", "responsible": str(user("manager").id)}
    data.update(over)
    return data


def test_lead_created_shown_and_listed(login, pipeline):
    secretary = login("manager")
    resp = secretary.post("/leadview/add", data=_form(pipeline, custom='{"volume": 120}'))
    assert resp.status_code == 302
    lead = db.session.query(Lead).one()
    assert lead.responsible.username == "manager"
    assert lead.custom == {"volume": 120}
    assert lead.source.code == "website"
    page = secretary.get(f"/leadview/show/{lead.id}").get_data(as_text=True)
    assert "ООО «Вектор»" in page and "Объём, м²: 120" in page
    listing = secretary.get("/leadview/list/").get_data(as_text=True)
    assert "Лиды" in listing and "Заявка с сайта" in listing and "Нет задач" in listing


def test_lead_checks_at_the_fields(login, pipeline):
    other = make_pipeline("partners", entity="lead", name="Партнёры")
    manager = login("manager")
    html = manager.post("/leadview/add", data=_form(
        pipeline, stage=str(stage(other, "new").id), email="не-почта",
        client_activity=str(ref("client_activity", "other").id),
        custom='{"volume": "много"}')).get_data(as_text=True)
    assert "не относится к воронке «Лиды»" in html
    assert "Неверный адрес электронной почты" in html
    assert "Для «Другое» опишите вид деятельности" in html
    assert "«Объём, м²»: ожидается целое число" in html
    html = manager.post("/leadview/add", data=_form(pipeline, custom="{плохой json")
                        ).get_data(as_text=True)
    assert "Дополнительные поля: неверный формат" in html
    assert db.session.query(Lead).count() == 0


def test_deal_pipeline_is_refused_for_a_lead(client, pipeline):
    deals = make_pipeline("sales", entity="deal", name="Продажи")
    resp = client.api("post", "/api/v1/lead/", json={
        "title": "Лид", "pipeline": deals.id, "stage": stage(deals, "new").id})
    assert resp.status_code == 422
    assert resp.json["message"]["pipeline"] == ["Воронка «Продажи» не для раздела «Лиды»"]
    assert db.session.query(Lead).count() == 0


def test_lead_crud_through_api(login, pipeline):
    api = login("manager")
    resp = api.api("post", "/api/v1/lead/", json={
        "title": "Звонок", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
        "phone": "+7 495 123-45-67", "custom": {"deadline": "2026-12-31"},
        "quality_reason": ref("lead_quality_reason", "other").id})
    assert resp.status_code == 422
    assert resp.json["message"]["quality_comment"] == ["Для «Другое» опишите причину"]
    resp = api.api("post", "/api/v1/lead/", json={
        "title": "Звонок", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
        "phone": "+7 495 123-45-67", "custom": {"deadline": "2026-12-31"}})
    assert resp.status_code == 201, resp.json
    lead_id = resp.json["id"]
    shown = api.api("get", f"/api/v1/lead/{lead_id}").json["result"]
    assert shown["custom"] == {"deadline": "2026-12-31"} and shown["version"] == 1
    bad = api.api("put", f"/api/v1/lead/{lead_id}",
                  json={"custom": {"unknown": 1}, "version": 1})
    assert bad.status_code == 422
    assert "нет полей: unknown" in bad.json["message"]["custom"][0]
    ok = api.api("put", f"/api/v1/lead/{lead_id}",
                 json={"stage": stage(pipeline, "talks").id, "version": 1})
    assert ok.status_code == 200, ok.json
    db.session.expire_all()
    lead = db.session.get(Lead, lead_id)
    assert lead.stage.key == "talks" and lead.version == 2
    stale = api.api("put", f"/api/v1/lead/{lead_id}", json={"title": "Старое", "version": 1})
    assert stale.status_code == 409
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).title == "Звонок"


def test_stale_lead_form_is_refused(login, pipeline):
    lead = make_lead("Общий лид", "manager", pipeline)
    first, second = login("manager"), login("sales_head")
    first.post(f"/leadview/edit/{lead.id}", data=_form(pipeline, title="Первый", version="1"))
    resp = second.post(f"/leadview/edit/{lead.id}",
                       data=_form(pipeline, title="Второй", version="1"),
                       follow_redirects=True)
    messages = flashes(resp.get_data(as_text=True))
    assert any("Запись изменена другим пользователем" in f for f in messages), messages
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).title == "Первый"


@pytest.mark.parametrize("username, expected", [
    ("manager", {"Лид менеджера", "Наблюдаемый лид"}),
    ("sales_head", {"Лид менеджера", "Наблюдаемый лид", "Лид второго"}),
    ("outsider", {"Лид исполнения"}),
    ("director", {"Лид менеджера", "Наблюдаемый лид", "Лид второго", "Лид исполнения"}),
])
def test_lead_row_rules(login, pipeline, username, expected):
    make_lead("Лид менеджера", "manager", pipeline)
    make_lead("Наблюдаемый лид", "manager2", pipeline, observers=["manager"])
    hidden = make_lead("Лид второго", "manager2", pipeline)
    make_lead("Лид исполнения", "outsider", pipeline)
    client = login(username)
    titles = {r["title"] for r in client.api("get", "/api/v1/lead/").json["result"]}
    assert titles == expected
    html = client.get("/leadview/list/").get_data(as_text=True)
    assert {t for t in ("Лид менеджера", "Наблюдаемый лид", "Лид второго", "Лид исполнения")
            if t in html} == expected
    export = client.get("/leadview/export/").get_data(as_text=True)
    assert ("Лид второго" in export) == ("Лид второго" in expected)
    if "Лид второго" not in expected:
        assert client.get(f"/leadview/show/{hidden.id}").status_code == 404
        assert client.get(f"/leadview/edit/{hidden.id}").status_code == 404
        assert client.api("get", f"/api/v1/lead/{hidden.id}").status_code == 404
        assert client.api("put", f"/api/v1/lead/{hidden.id}",
                          json={"title": "x", "version": 1}).status_code == 404


def test_own_scope_shows_a_lead_one_created_for_another(login, pipeline):
    with acting_as(user("manager").id):
        created = make_lead("Передан второму", "manager2", pipeline)
    assert created.created_by_id == user("manager").id
    manager = login("manager")
    assert {r["title"] for r in manager.api("get", "/api/v1/lead/").json["result"]} \
        == {"Передан второму"}
    assert manager.get(f"/leadview/show/{created.id}").status_code == 200
    assert login("outsider").api("get", f"/api/v1/lead/{created.id}").status_code == 404


def test_a_wrong_inn_is_refused_on_the_form_and_the_api(login, pipeline):
    manager = login("manager")
    resp = manager.post("/leadview/add", data=_form(pipeline, inn="7707083894",
                                                    company_full_name="ООО «Вектор»"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "ИНН указан с ошибкой: не сходится контрольное число" in html
    assert 'value="7707083894"' in html  # the input is kept
    resp = manager.api("post", "/api/v1/lead/", json={
        "title": "Звонок", "pipeline": pipeline.id, "stage": stage(pipeline, "new").id,
        "inn": "12345"})
    assert resp.status_code == 422
    assert resp.json["message"]["inn"] == [
        "ИНН должен состоять из 10 цифр (организация) или 12 цифр (ИП, физлицо)"]
    assert db.session.query(Lead).count() == 0
    resp = manager.post("/leadview/add", data=_form(pipeline, inn=" 7707083893 ",
                                                    company_full_name="ООО «Вектор»"))
    assert resp.status_code == 302
    lead = db.session.query(Lead).one()
    assert (lead.inn, lead.company_full_name) == ("7707083893", "ООО «Вектор»")
    bad = manager.api("put", f"/api/v1/lead/{lead.id}",
                      json={"inn": "500100732258", "version": lead.version})
    assert bad.status_code == 422 and "контрольное число" in bad.json["message"]["inn"][0]
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).inn == "7707083893"
