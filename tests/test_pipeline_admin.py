"""Pipeline settings: screens with stages as a related list, checks, REST API, rights."""
from __future__ import annotations

from app.extensions import db
from models.pipeline import CustomFieldDef, Pipeline, Stage
from tests.test_pipeline_fixtures import make_deal, make_pipeline, stage


def test_admin_creates_pipeline_and_stages_through_forms(client):
    resp = client.post("/pipelineview/add", data={"code": "service", "name": "Сервис",
                                                  "entity": "deal", "active": "y",
                                                  "sort_order": "10"})
    assert resp.status_code == 302
    pipeline = db.session.query(Pipeline).one()
    assert pipeline.entity == "deal" and pipeline.active
    resp = client.post(f"/stageview/add?_flt_0_pipeline={pipeline.id}",
                       data={"key": "diagnostics", "name": "Диагностика", "kind": "open",
                             "sort_order": "10", "deadline": "2 working days",
                             "color": "#3366ff"})
    assert resp.status_code == 302
    stage_row = db.session.query(Stage).one()
    assert stage_row.pipeline_id == pipeline.id and stage_row.deadline == "2 working days"
    page = client.get(f"/pipelineview/show/{pipeline.id}").get_data(as_text=True)
    assert "Воронка" in page and "Диагностика" in page and "Этапы воронок" in page
    assert f"/stageview/add?_flt_0_pipeline={pipeline.id}" in page
    listing = client.get("/pipelineview/list/").get_data(as_text=True)
    assert "Сервис" in listing and "Сделки" in listing


def test_pipeline_can_be_deactivated_through_form(client):
    pipeline = make_pipeline()
    resp = client.post(f"/pipelineview/edit/{pipeline.id}",
                       data={"code": "sales", "name": "Продажи", "entity": "deal",
                             "sort_order": "1"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Pipeline, pipeline.id).active is False


def test_stage_and_field_checks(client):
    pipeline = make_pipeline()
    html = client.post(f"/stageview/add?_flt_0_pipeline={pipeline.id}",
                       data={"key": "new", "name": "Дубль", "kind": "open",
                             "sort_order": "1", "deadline": "скоро"}).get_data(as_text=True)
    assert "уже есть этап с ключом «new»" in html
    assert "Срок: число и единица" in html
    html = client.post(f"/customfielddefview/add?_flt_0_pipeline={pipeline.id}",
                       data={"key": "kind", "label": "Вид", "type": "choice",
                             "reference_list": "no_such_list", "sort_order": "1"}
                       ).get_data(as_text=True)
    assert "Справочника с кодом «no_such_list» нет" in html
    assert db.session.query(Stage).count() == 4
    assert db.session.query(CustomFieldDef).count() == 0
    # editing a stage without changing its key is not a duplicate
    new = stage(pipeline, "new")
    resp = client.post(f"/stageview/edit/{new.id}",
                       data={"pipeline": str(pipeline.id), "key": "new", "name": "Новая!",
                             "kind": "open", "sort_order": "5", "deadline": "1h"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Stage, new.id).name == "Новая!"


def test_pipeline_and_stage_api(client):
    resp = client.api("post", "/api/v1/pipeline/",
                      json={"code": "orders", "name": "Заказы", "entity": "order"})
    assert resp.status_code == 201, resp.json
    pid = resp.json["id"]
    bad = client.api("post", "/api/v1/pipeline/",
                     json={"code": "orders", "name": "Снова", "entity": "spaceship"})
    assert bad.status_code == 422
    assert bad.json["message"]["code"] == ["Воронка с кодом «orders» уже есть"]
    assert "entity" in bad.json["message"]
    resp = client.api("post", "/api/v1/stage/", json={
        "pipeline": pid, "key": "draft", "name": "Заявка", "kind": "open", "sort_order": 1,
        "deadline": "1d"})
    assert resp.status_code == 201, resp.json
    bad = client.api("post", "/api/v1/stage/", json={
        "pipeline": pid, "key": "done", "name": "Готово", "kind": "finished"})
    assert bad.status_code == 422
    assert bad.json["message"]["kind"] == ["Тип этапа: в работе, успешно или провал"]
    listed = client.api("get", "/api/v1/stage/").json["result"]
    assert [(s["key"], s["pipeline"]["id"]) for s in listed] == [("draft", pid)]
    field = client.api("post", "/api/v1/custom_field/", json={
        "pipeline": pid, "key": "area", "label": "Площадь", "type": "integer",
        "required": True})
    assert field.status_code == 201, field.json


def test_stage_in_use_cannot_be_deleted(client):
    pipeline = make_pipeline()
    make_deal("Сделка", "manager", pipeline, stage_key="talks")
    talks = stage(pipeline, "talks")
    resp = client.api("delete", f"/api/v1/stage/{talks.id}")
    assert resp.status_code == 409
    assert "Нельзя удалить этап «Переговоры»" in resp.json["message"]
    resp = client.api("delete", f"/api/v1/pipeline/{pipeline.id}")
    assert resp.status_code == 409
    client.post(f"/stageview/delete/{talks.id}")
    db.session.expire_all()
    assert db.session.get(Stage, talks.id) is not None
    unused = stage(pipeline, "lost")
    assert client.api("delete", f"/api/v1/stage/{unused.id}").status_code == 200


def test_manager_reads_pipelines_but_cannot_change_them(login):
    pipeline = make_pipeline()
    manager = login("manager")
    assert manager.get("/pipelineview/list/").status_code == 200
    assert manager.api("get", f"/api/v1/pipeline/{pipeline.id}").status_code == 200
    resp = manager.api("put", f"/api/v1/pipeline/{pipeline.id}", json={"name": "Взлом"})
    assert resp.status_code == 403
    assert manager.get("/pipelineview/add").status_code in (302, 403)
    assert login("employee").api("get", "/api/v1/pipeline/").status_code == 403
    db.session.expire_all()
    assert db.session.get(Pipeline, pipeline.id).name != "Взлом"
