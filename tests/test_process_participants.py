"""Who may act at a stage: the roles a definition names as a stage's `participants` see the
record while it is there and move it on (seed 004's constructor and production head, seed
001's managers offered a new request); the assignee of an open task on a record reads it;
neither may edit the record otherwise. Both through the screens (cookie) and the API
(token)."""
import pytest

from errors import DefinitionError
from models.task import Task
from process import catalog as processes
from tests.process_flow_helpers import (DEFINITIONS, history, install, messages, new_deal,
                                        put_deal, stage, stage_of, task, user)
from app.extensions import db
from models.deal import Deal
from models.party import Company


CLIENT = {"client_name": "Смирнова Ольга", "email": "olga@example.ru", "phone": "+7 900 1",
          "passport": "4510 123456", "delivery_address": "г. Тула, ул. Мира, 5",
          "payment_date": "2026-10-30", "prepayment": 30000, "debt": 30000,
          "shipping_deadline": "2026-11-30", "delivery_type": "courier",
          "delivery_city": "Тула"}


def _bed(client, beds, stage_key, title="Кровать"):
    return new_deal(client, beds, stage_key, title=title, budget=60000, custom=CLIENT)


@pytest.fixture()
def beds(app):
    return install("004_beds.yaml", "beds")


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


def _page(client, deal):
    return client.get(f"/dealview/show/{deal.id}")


def _button_move(client, deal, key):
    return client.post(f"/crm/move/deal/{deal.id}", data={"stage": key},
                       headers={"Referer": f"http://localhost/dealview/show/{deal.id}"})


def _api_move(client, deal, key):
    resp = client.api("post", "/api/v1/deal/move", json={"ids": [deal.id], "stage": key})
    assert resp.status_code == 200, resp.json
    return resp.json["result"][0]


def test_constructor_sees_and_moves_a_deal_only_while_it_is_at_cutting(client, login, beds):
    deal = _bed(client, beds, "paid", title="Кровать-чердак")
    constructor = login("constructor")
    # at «Оплачено» the deal is the manager's alone
    assert _page(constructor, deal).status_code == 404
    assert constructor.api("get", f"/api/v1/deal/{deal.id}").status_code == 404
    db.session.expire_all()
    assert put_deal(client, deal, stage=stage(beds, "cutting").id).status_code == 200

    page = _page(constructor, deal)
    assert page.status_code == 200
    assert "Производство" in page.get_data(as_text=True)  # the stage buttons are offered
    assert constructor.api("get", f"/api/v1/deal/{deal.id}").status_code == 200
    listed = constructor.api("get", "/api/v1/deal/").json["result"]
    assert [d["title"] for d in listed] == ["Кровать-чердак"]
    # reading is not editing: his role has no right to change deals
    assert constructor.get(f"/dealview/edit/{deal.id}").status_code == 403
    assert put_deal(constructor, deal, title="Чужая").status_code == 403

    resp = _button_move(constructor, deal, "production")
    assert resp.status_code == 302
    assert stage_of(deal) == "production"
    assert history(deal)[-1].entered_by_id == user("constructor").id
    # the production head's task of the stage is there; the constructor's view is gone
    assert task(deal, "Принять в работу. Документация готова").assignee.username == \
        "production_head"
    assert _page(constructor, deal).status_code == 404
    assert _button_move(constructor, deal, "sawing").status_code == 404
    assert stage_of(deal) == "production"


def test_production_head_moves_through_the_shop_by_token_and_by_button(client, login, beds):
    deal = _bed(client, beds, "production", title="Кровать-машина")
    head = login("production_head")
    assert _api_move(head, deal, "sawing") == {"id": deal.id, "ok": True,
                                               "message": "Перемещено"}
    assert _button_move(head, deal, "milling").status_code == 302
    assert _api_move(head, deal, "priming")["ok"] is True
    assert stage_of(deal) == "priming"
    assert [h.entered_by_id for h in history(deal)[-3:]] == [user("production_head").id] * 3
    assert task(deal, "Контроль задолженности").assignee.username == "manager"
    # a stage outside the shop is not his: once the deal is back with the manager, he is out
    db.session.expire_all()
    assert put_deal(client, deal, stage=stage(beds, "bz_agreement").id).status_code == 200
    refused = _api_move(head, deal, "paid")
    assert refused == {"id": deal.id, "ok": False, "message": "Запись не найдена"}
    assert stage_of(deal) == "bz_agreement"


def test_a_participant_without_the_stage_role_gets_nothing(client, login, beds):
    deal = _bed(client, beds, "cutting")
    designer = login("designer")
    assert _page(designer, deal).status_code == 404
    assert _api_move(designer, deal, "production")["ok"] is False
    assert stage_of(deal) == "cutting"


def test_assignee_of_an_open_task_reads_the_record_until_the_task_is_closed(client, login,
                                                                           beds):
    deal = _bed(client, beds, "bz_agreement")
    # a manager of another department: may write deals, but not this one
    outsider = login("outsider")
    assert _page(outsider, deal).status_code == 404
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Проверить договор", "assignee": user("outsider").id,
        "record_entity": "deal", "record_id": deal.id})
    assert resp.status_code == 201, resp.json
    assert _page(outsider, deal).status_code == 200
    assert outsider.api("get", f"/api/v1/deal/{deal.id}").status_code == 200
    # reading only: no edit, no stage moves for a task's assignee
    assert outsider.get(f"/dealview/edit/{deal.id}").status_code == 404
    assert put_deal(outsider, deal, title="Чужая").status_code == 404
    assert _api_move(outsider, deal, "invoiced") == {
        "id": deal.id, "ok": False, "message": "Недостаточно прав, чтобы перевести запись"}
    assert _button_move(outsider, deal, "invoiced").status_code == 403
    assert stage_of(deal) == "bz_agreement"
    done = outsider.api("put", f"/api/v1/task/{resp.json['id']}",
                        json={"status": "done", "result": "Проверено"})
    assert done.status_code == 200, done.json
    assert _page(outsider, deal).status_code == 404


def test_every_manager_may_take_a_new_request_and_becomes_its_responsible(client, login,
                                                                         sales):
    company = Company(kind="person", name="Фролов Ф. Ф.")
    db.session.add(company)
    db.session.commit()
    head = login("sales_head")
    resp = head.api("post", "/api/v1/deal/", json={
        "title": "Заявка с сайта", "pipeline": sales.id, "stage": stage(sales, "new").id,
        "company": company.id, "custom": {"priority": "B", "delivery_term": "2026-12-20"}})
    assert resp.status_code == 201, resp.json
    deal = db.session.get(Deal, resp.json["id"])
    offered = task(deal, "Взять заявку в работу")
    other = next(name for name in ("manager", "manager2") if name != offered.assignee.username)
    # the manager the task did not go to was told too, and may open and take the request
    taker = login(other)
    assert _page(taker, deal).status_code == 200
    assert taker.api("get", f"/api/v1/deal/{deal.id}").status_code == 200
    # offered to read and take, not to edit before it is theirs
    assert put_deal(taker, deal, title="Моя").status_code == 404
    assert _button_move(taker, deal, "in_work").status_code == 302
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert deal.stage.key == "in_work"
    assert deal.responsible.username == other
    letter = messages(deal, "email")[-1]
    assert user(other).last_name in letter.body
    # taken: the request is no longer offered to the other managers
    assert _page(login(offered.assignee.username), deal).status_code == 404
    assert db.session.get(Task, offered.id).status != "open"


def test_taking_by_the_task_outcome_assigns_the_manager_who_closed_it(client, login, sales):
    company = Company(kind="person", name="Фролов Ф. Ф.")
    db.session.add(company)
    db.session.commit()
    deal = new_deal(client, sales, "new", company=company.id, responsible=user("sales_head").id,
                    custom={"priority": "A", "delivery_term": "2026-12-20"})
    offered = task(deal, "Взять заявку в работу")
    manager = login(offered.assignee.username)
    resp = manager.api("put", f"/api/v1/task/{offered.id}",
                       json={"status": "done", "outcome": "Принять заявку", "result": "Беру"})
    assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "in_work"
    assert db.session.get(Deal, deal.id).responsible.username == offered.assignee.username


def test_participants_must_be_known_roles(app):
    source = (DEFINITIONS / "004_beds.yaml").read_text(encoding="utf-8").replace(
        "participants: [constructor]", "participants: [astronaut]")
    with pytest.raises(DefinitionError) as exc:
        processes.parse_text(source, "004_beds.yaml")
    assert "stages.cutting.participants" in exc.value.message
    assert "неизвестная роль «astronaut»" in exc.value.message
