"""Records reachable through links: a task's record link, relation ids and file fields
accept only what the user may see (and, for a link, change); "not found" and "not yours"
answer alike; a task's outcome acts only where a stage button would."""
import io

import pytest
from sqlalchemy import select

from app.extensions import db
from models.attachment import Attachment
from models.deal import Deal
from models.lead import Lead
from models.party import Company
from models.task import Task
from tests.process_flow_helpers import install, new_deal, put_deal, stage, task, user


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


def _company() -> Company:
    company = Company(kind="person", name="Фролов Ф. Ф.")
    db.session.add(company)
    db.session.commit()
    return company


def _deal_in_work(client, sales, owner="manager"):
    return new_deal(client, sales, "in_work", title=f"Сделка {owner}",
                    responsible=user(owner).id, company=_company().id,
                    custom={"priority": "A", "delivery_term": "2026-12-20"})


def _put_task(client, task_id, **fields):
    db.session.expire_all()
    return client.api("put", f"/api/v1/task/{task_id}", json=fields)


def test_a_rule_task_cannot_be_repointed_at_another_deal(client, login, sales):
    mine = _deal_in_work(client, sales, "manager")
    theirs = _deal_in_work(client, sales, "manager2")
    check = task(mine, "Проверить товарные позиции")
    manager = login("manager")
    resp = _put_task(manager, check.id, record_id=theirs.id)
    assert resp.status_code == 422, resp.json
    assert resp.json["message"]["record_id"] == [
        "Задача поставлена процессом записи: привязать её к другой записи нельзя"]
    # the same through the form
    page = manager.post(f"/taskview/edit/{check.id}", data={
        "title": check.title, "status": "open", "assignee": str(user("manager").id),
        "creator": str(check.creator_id), "record_entity": "deal",
        "record_id": str(theirs.id)}, follow_redirects=True)
    assert "привязать её к другой записи нельзя" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Task, check.id).record_id == mine.id


def test_a_manual_task_points_only_at_a_record_the_user_may_change(client, login, sales):
    theirs = _deal_in_work(client, sales, "manager2")
    manager = login("manager")

    def add(record_id):
        return manager.api("post", "/api/v1/task/", json={
            "title": "Позвонить", "record_entity": "deal", "record_id": record_id})

    hidden, missing = add(theirs.id), add(theirs.id + 1000)
    assert hidden.status_code == missing.status_code == 422
    # not theirs and not there: the same words, only the number differs
    assert hidden.json["message"]["record_id"] == [
        f"Запись «Сделка» № {theirs.id} не найдена"]
    assert missing.json["message"]["record_id"] == [
        f"Запись «Сделка» № {theirs.id + 1000} не найдена"]
    # seen through an open task, but not the manager's to change
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Помочь коллеге", "assignee": user("manager").id,
        "record_entity": "deal", "record_id": theirs.id})
    assert resp.status_code == 201, resp.json
    refused = add(theirs.id)
    assert refused.status_code == 422
    assert refused.json["message"]["record_id"] == [
        "Привязать можно только к записи, которую вы можете изменять"]
    assert db.session.scalar(select(Task).where(Task.title == "Позвонить")) is None


def test_a_task_link_reads_the_same_for_a_missing_and_a_hidden_record(client, login, sales):
    theirs = _deal_in_work(client, sales, "manager2")
    made = [client.api("post", "/api/v1/task/", json={
        "title": f"Ссылка {i}", "assignee": user("manager").id, "record_entity": "deal",
        "record_id": theirs.id}).json["id"] for i in range(2)]
    # one link points at a deal that is then deleted by the admin
    gone = _deal_in_work(client, sales, "manager2")
    db.session.execute(Task.__table__.update().where(Task.id == made[1])
                       .values(record_id=gone.id))
    db.session.delete(db.session.get(Deal, gone.id))
    db.session.commit()
    html = login("manager").get("/taskview/list/").get_data(as_text=True)
    assert f"Сделка № {gone.id}" in html and f"Сделка № {theirs.id}" not in html.replace(
        f"Сделка № {theirs.id}<", "")  # (theirs is visible through its open task)
    assert "не найдена" not in html


def test_an_outcome_that_moves_a_record_needs_the_right_to_move_it(client, login, sales):
    deal = new_deal(client, sales, "new", company=_company().id,
                    responsible=user("sales_head").id,
                    custom={"priority": "A", "delivery_term": "2026-12-20"})
    take = task(deal, "Взять заявку в работу")
    # handed to an engineer, who may read deals but not move them
    assert _put_task(client, take.id, assignee=user("engineer").id).status_code == 200
    resp = _put_task(login("engineer"), take.id, status="done", outcome="Принять заявку",
                     result="Беру")
    assert resp.status_code == 403, resp.json
    assert "Итог задачи меняет запись, которую вы не можете изменять" in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "new"
    assert db.session.get(Task, take.id).status == "open"


def test_a_deal_takes_only_a_lead_the_user_sees(client, login, sales):
    leads = install("002_leads.yaml", "eco_leads")
    theirs = Lead(title="Чужой лид", responsible_id=user("manager2").id, pipeline=leads,
                  stage=stage(leads, "new"))
    db.session.add(theirs)
    db.session.commit()
    manager = login("manager")
    body = {"title": "Моя сделка", "pipeline": sales.id, "stage": stage(sales, "new").id}
    hidden = manager.api("post", "/api/v1/deal/", json={**body, "lead": theirs.id})
    missing = manager.api("post", "/api/v1/deal/", json={**body, "lead": theirs.id + 1000})
    assert hidden.status_code == missing.status_code == 422
    assert hidden.json["message"]["lead"] == [f"Запись № {theirs.id} не найдена"]
    assert missing.json["message"]["lead"] == [f"Запись № {theirs.id + 1000} не найдена"]
    assert db.session.scalar(select(Deal).where(Deal.title == "Моя сделка")) is None
    # the form does not offer it either
    form = manager.get(f"/dealview/add?pipeline={sales.id}").get_data(as_text=True)
    assert "Чужой лид" not in form
    # an edit that keeps a link the user cannot see is no reason to refuse the edit
    mine = _deal_in_work(client, sales, "manager")
    db.session.execute(Deal.__table__.update().where(Deal.id == mine.id)
                       .values(lead_id=theirs.id))
    db.session.commit()
    assert put_deal(manager, mine, title="Переименована").status_code == 200


def test_a_file_field_takes_only_a_file_of_the_same_record(app, client, login, sales):
    mine = _deal_in_work(client, sales, "manager")
    theirs = _deal_in_work(client, sales, "manager2")
    for deal, name in ((mine, "КП наше.pdf"), (theirs, "КП чужое.pdf")):
        resp = client.post(f"/crm/attachment/upload/deal/{deal.id}",
                           data={"file": (io.BytesIO(b"%PDF-1.4 test"), name)},
                           content_type="multipart/form-data")
        assert resp.status_code in (200, 302)
    files = {a.filename: a.id for a in db.session.scalars(select(Attachment))}
    manager = login("manager")
    custom = {"priority": "A", "delivery_term": "2026-12-20"}
    refused = put_deal(manager, mine, custom={**custom, "kp_file": files["КП чужое.pdf"]})
    assert refused.status_code == 422, refused.json
    assert "не найден среди файлов этой записи" in refused.json["message"]["custom"][0]
    assert "чужое" not in str(refused.json)
    ok = put_deal(manager, mine, custom={**custom, "kp_file": files["КП наше.pdf"]})
    assert ok.status_code == 200, ok.json
