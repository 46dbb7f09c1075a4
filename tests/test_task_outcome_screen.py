"""Task outcomes on screen: «Завершить» on the task page closes the task with the chosen
outcome and acts on it in one step; an outcome refused for fields of the deal («Отказ»
without the lost reason) asks for exactly those fields on the same form; the same through
`POST /api/v1/task/<id>/complete` with a bearer token."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models.deal import Deal
from models.process import StageHistory
from models.task import Task
from models.timeline import TimelineEntry
from tests.conftest import flashes
from tests.helpers import legal_company, ref_item, user
from tests.process_flow_helpers import install, new_deal, put_deal, stage_of, tasks
from tests.test_actor_token import token_only

MANAGERS = ("manager", "manager2", "outsider")
SLOW_DELIVERY = {"priority": "A", "delivery_term": "2026-12-01"}


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def request_deal(client, sales):
    """A new request of seed 001 ready to be taken (company, priority, delivery term), on the
    head of sales: «Взять заявку в работу» is open for one of the managers."""
    return new_deal(client, sales, "new", title="Заявка на весы",
                    responsible=user("sales_head").id, company=legal_company().id,
                    custom=SLOW_DELIVERY)


def _take(deal) -> Task:
    [take] = tasks(deal)
    assert take.title == "Взять заявку в работу" and take.status == "open"
    return take


def _observed_by_assignee(client, deal) -> Task:
    """The request's task, its assignee made an observer of the deal: the row rule lets
    them change the deal, so they may fill its fields."""
    take = _take(deal)
    assert put_deal(client, deal, observers=[take.assignee_id]).status_code == 200
    return take


def _page(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _counts(deal) -> tuple[int, int, int]:
    """Tasks, history entries and stage moves of the deal: what a repeated outcome would add."""
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model).where(*where))
                 for model, where in (
                     (Task, (Task.record_entity == "deal", Task.record_id == deal.id)),
                     (TimelineEntry, (TimelineEntry.entity == "deal",
                                      TimelineEntry.record_id == deal.id)),
                     (StageHistory, (StageHistory.entity == "deal",
                                     StageHistory.record_id == deal.id))))


def _reason(code: str) -> int:
    return ref_item("lost_reason", code).id


def test_the_task_page_offers_the_outcomes_and_accepting_moves_the_deal(login, request_deal):
    take = _take(request_deal)
    acceptor = login(take.assignee.username)
    page = _page(acceptor.get(f"/taskview/show/{take.id}"))
    assert "Завершить задачу" in page
    assert f'action="/taskview/{take.id}/complete"' in page
    assert 'name="outcome" value="Принять заявку"' in page
    assert 'name="outcome" value="Отказ"' in page
    # «Мои задачи» shows open tasks only: its page posts to the general screen
    mine = _page(acceptor.get(f"/mytaskview/show/{take.id}"))
    assert f'action="/taskview/{take.id}/complete"' in mine

    resp = acceptor.post(f"/taskview/{take.id}/complete",
                         data={"outcome": "Принять заявку", "result": "Беру"},
                         follow_redirects=True)
    assert resp.status_code == 200
    assert "Задача «Взять заявку в работу» завершена с итогом «Принять заявку»" \
        in flashes(_page(resp))
    assert stage_of(request_deal) == "in_work"
    deal = db.session.get(Deal, request_deal.id)
    assert deal.responsible_id == take.assignee_id  # the one who accepted
    take = db.session.get(Task, take.id)
    assert (take.status, take.outcome, take.result) == ("done", "Принять заявку", "Беру")
    assert take.closed_at is not None
    # the closed task offers no «Завершить» any more
    assert "Завершить задачу" not in _page(acceptor.get(f"/taskview/show/{take.id}"))


def test_refusal_without_the_lost_reason_asks_for_it_then_closes(login, client, request_deal):
    take = _observed_by_assignee(client, request_deal)
    acceptor = login(take.assignee.username)
    before = _counts(request_deal)
    resp = acceptor.post(f"/taskview/{take.id}/complete",
                         data={"outcome": "Отказ", "result": "Клиент передумал"})
    page = _page(resp)
    # the first display says what to fill: no refusal yet, no error look
    assert resp.status_code == 200
    assert "Завершение задачи" in page and "Итог:</strong> «Отказ»" in page
    assert "Чтобы завершить задачу с итогом «Отказ», заполните поля сделки:" in page
    assert "Нельзя перейти" not in page and "has-error" not in page
    assert flashes(page) == []
    assert '<label class="control-label" for="f_lost_reason">Причина проигрыша' in page
    assert f'<option value="{_reason("no_money")}" >Денег нет</option>' in page
    assert 'name="f_lost_comment"' in page  # «Другое» needs it: offered alongside
    assert "Клиент передумал" in page  # the result typed is kept
    assert stage_of(request_deal) == "new"
    assert db.session.get(Task, take.id).status == "open"
    assert _counts(request_deal) == before

    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "outcome": "Отказ", "result": "Клиент передумал", "asked": ["lost_reason",
                                                                    "lost_comment"],
        "f_lost_reason": str(_reason("no_money")), "f_lost_comment": "",
        "record_version": str(db.session.get(Deal, request_deal.id).version)},
        follow_redirects=True)
    assert resp.status_code == 200
    assert "Задача «Взять заявку в работу» завершена с итогом «Отказ»" in flashes(_page(resp))
    assert stage_of(request_deal) == "lost"
    deal = db.session.get(Deal, request_deal.id)
    assert deal.lost_reason.code == "no_money"
    take = db.session.get(Task, take.id)
    assert (take.status, take.outcome, take.result) == ("done", "Отказ", "Клиент передумал")


def test_other_reason_without_a_comment_is_refused_and_nothing_saved(login, client,
                                                                   request_deal):
    take = _observed_by_assignee(client, request_deal)
    acceptor = login(take.assignee.username)
    other = str(_reason("other"))
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "outcome": "Отказ", "asked": ["lost_reason", "lost_comment"],
        "f_lost_reason": other, "f_lost_comment": "  "})
    page = _page(resp)
    assert resp.status_code == 422
    assert "Для «Другое» опишите причину проигрыша" in page
    assert f'<option value="{other}" selected>Другое</option>' in page  # the choice is kept
    db.session.expire_all()
    deal = db.session.get(Deal, request_deal.id)
    assert (deal.stage.key, deal.lost_reason_id) == ("new", None)
    assert db.session.get(Task, take.id).status == "open"

    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "outcome": "Отказ", "asked": ["lost_reason", "lost_comment"],
        "f_lost_reason": other, "f_lost_comment": "Закрылись"}, follow_redirects=True)
    assert resp.status_code == 200
    deal = db.session.get(Deal, request_deal.id)
    assert (stage_of(deal), deal.lost_comment) == ("lost", "Закрылись")


def test_the_api_names_the_missing_field_then_completes_with_it(login, client, request_deal):
    take = _observed_by_assignee(client, request_deal)
    api = token_only(login, take.assignee.username)
    url = f"/api/v1/task/{take.id}/complete"
    before = _counts(request_deal)
    resp = api.api("post", url, json={"outcome": "Отказ", "result": "Дорого"})
    assert resp.status_code == 422, resp.json
    assert resp.json["message"] == {"lost_reason": [
        "Заполните поле «Причина проигрыша»: оно обязательно на этапе «Сделка провалена»"]}
    assert stage_of(request_deal) == "new" and _counts(request_deal) == before
    assert db.session.get(Task, take.id).status == "open"

    resp = api.api("post", url, json={"outcome": "Отказ", "fields": {"lost_reason": "x"}})
    assert resp.status_code == 422
    assert resp.json["message"] == {"lost_reason": ["«Причина проигрыша»: укажите номер записи"]}

    resp = api.api("post", url, json={"outcome": "Отказ", "result": "Дорого",
                                      "fields": {"lost_reason": _reason("no_money")}})
    assert resp.status_code == 200, resp.json
    assert resp.json["id"] == take.id
    result = resp.json["result"]
    assert (result["status"], result["outcome"], result["result"]) == ("done", "Отказ", "Дорого")
    assert result["closed_at"]
    assert set(result) >= {"title", "record_entity", "record_id", "rule_key"}
    deal = db.session.get(Deal, request_deal.id)
    assert (stage_of(deal), deal.lost_reason.code) == ("lost", "no_money")
    # the stage move is signed by the token's user, as it would be with the cookie
    moved = db.session.scalars(select(StageHistory).where(
        StageHistory.entity == "deal", StageHistory.record_id == deal.id)
        .order_by(StageHistory.id.desc())).first()
    assert moved.entered_by_id == take.assignee_id


def test_accepting_by_token_assigns_the_token_user(login, request_deal):
    take = _take(request_deal)
    resp = token_only(login, take.assignee.username).api(
        "post", f"/api/v1/task/{take.id}/complete", json={"outcome": "Принять заявку"})
    assert resp.status_code == 200, resp.json
    assert stage_of(request_deal) == "in_work"
    assert db.session.get(Deal, request_deal.id).responsible_id == take.assignee_id


def test_a_user_without_the_row_gets_404_and_nothing_changes(login, request_deal):
    take = _take(request_deal)
    stranger = next(name for name in MANAGERS if name != take.assignee.username)
    other = login(stranger)
    assert other.get(f"/taskview/show/{take.id}").status_code == 404
    assert other.post(f"/taskview/{take.id}/complete",
                      data={"outcome": "Принять заявку"}).status_code == 404
    resp = token_only(login, stranger).api("post", f"/api/v1/task/{take.id}/complete",
                                           json={"outcome": "Принять заявку"})
    assert resp.status_code == 404
    assert stage_of(request_deal) == "new"
    assert db.session.get(Task, take.id).status == "open"
    # the same request from its assignee goes through
    assert login(take.assignee.username).post(
        f"/taskview/{take.id}/complete", data={"outcome": "Принять заявку"}).status_code == 302
    assert stage_of(request_deal) == "in_work"


def test_accepting_a_bare_request_asks_for_the_fields_of_the_next_stage(login, client, sales):
    """Custom fields (a list choice, a date) and a related record (the company) on the
    same form, each under its Russian label. The request is not the manager's yet: being
    offered it (a participant of «Новая заявка») is what lets them fill it."""
    deal = new_deal(client, sales, "new", title="Голая заявка",
                    responsible=user("sales_head").id)
    take = _take(deal)
    company = legal_company(name="ООО «Весы»", inn="7736050003")
    acceptor = login(take.assignee.username)
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={"outcome": "Принять заявку"})
    page = _page(resp)
    assert resp.status_code == 200
    for label in ("Приоритет (А/В/С)", "Контрагент", "Срок поставки"):
        assert f"{label} <span class=\"text-danger\">*</span></label>" in page
    assert f'<option value="{company.id}" >ООО «Весы»</option>' in page
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "outcome": "Принять заявку", "asked": ["priority", "company", "delivery_term"],
        "f_priority": "A", "f_company": str(company.id), "f_delivery_term": "31.12.2026"})
    assert resp.status_code == 302, _page(resp)
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert (deal.stage.key, deal.company_id, deal.responsible_id) == (
        "in_work", company.id, take.assignee_id)
    assert (deal.custom["priority"], deal.custom["delivery_term"]) == ("A", "2026-12-31")


def test_a_closed_task_cannot_be_completed_again(login, request_deal):
    take = _take(request_deal)
    acceptor = login(take.assignee.username)
    done = acceptor.post(f"/taskview/{take.id}/complete", data={"outcome": "Принять заявку"})
    assert done.status_code == 302
    after = _counts(request_deal)

    resp = acceptor.post(f"/taskview/{take.id}/complete", data={"outcome": "Отказ"},
                         follow_redirects=True)
    assert resp.status_code == 200
    assert any("уже закрыта" in text for text in flashes(_page(resp)))
    resp = acceptor.api("post", f"/api/v1/task/{take.id}/complete",
                        json={"outcome": "Принять заявку"})
    assert resp.status_code == 409
    assert "уже закрыта" in resp.json["message"]
    assert _counts(request_deal) == after  # the outcome's effects ran once
    assert stage_of(request_deal) == "in_work"
    assert db.session.get(Task, take.id).outcome == "Принять заявку"


def test_unknown_outcome_is_refused_in_russian(login, request_deal):
    take = _take(request_deal)
    acceptor = login(take.assignee.username)
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={"outcome": "Может быть"},
                         follow_redirects=True)
    assert any("Итог «Может быть» не из списка" in text for text in flashes(_page(resp)))
    resp = acceptor.api("post", f"/api/v1/task/{take.id}/complete",
                        json={"outcome": "Может быть"})
    assert resp.status_code == 422 and "outcome" in resp.json["message"]
    assert db.session.get(Task, take.id).status == "open"
    assert stage_of(request_deal) == "new"


def test_a_changed_deal_makes_the_fields_form_stale(login, client, request_deal):
    take = _observed_by_assignee(client, request_deal)
    acceptor = login(take.assignee.username)
    seen = db.session.get(Deal, request_deal.id).version
    resp = client.api("put", f"/api/v1/deal/{request_deal.id}",
                      json={"title": "Заявка на весы (уточнено)", "version": seen})
    assert resp.status_code == 200, resp.json
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "outcome": "Отказ", "asked": ["lost_reason"], "record_version": str(seen),
        "f_lost_reason": str(_reason("no_money"))}, follow_redirects=True)
    assert any("Запись изменена другим пользователем" in text
               for text in flashes(_page(resp)))
    assert stage_of(request_deal) == "new"
    assert db.session.get(Task, take.id).status == "open"


def test_fields_need_the_right_to_change_the_deal(login, client, request_deal):
    """An engineer may close tasks but only read deals: the form is not offered, and typed
    fields are refused."""
    take = _take(request_deal)
    assert client.api("put", f"/api/v1/task/{take.id}",
                      json={"assignee": user("engineer").id}).status_code == 200
    engineer = login("engineer")
    resp = engineer.post(f"/taskview/{take.id}/complete", data={"outcome": "Отказ"},
                         follow_redirects=True)
    # the outcome moves the deal: refused as a stage button would be
    assert any("Итог задачи меняет запись, которую вы не можете изменять" in text
               for text in flashes(_page(resp)))
    resp = engineer.api("post", f"/api/v1/task/{take.id}/complete", json={
        "outcome": "Отказ", "fields": {"lost_reason": _reason("no_money")}})
    assert resp.status_code == 403
    assert "Нет прав изменять запись" in resp.json["message"]
    resp = engineer.api("post", f"/api/v1/task/{take.id}/complete",
                        json={"outcome": "Принять заявку"})
    assert resp.status_code == 403
    assert "Итог задачи меняет запись" in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Deal, request_deal.id).lost_reason_id is None
    assert db.session.get(Task, take.id).status == "open"


def test_a_task_without_outcomes_has_one_button(client):
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Позвонить поставщику", "assignee": user("admin").id})
    assert resp.status_code == 201, resp.json
    pk = resp.json["id"]
    page = _page(client.get(f"/taskview/show/{pk}"))
    assert "crm-complete-outcome\">Завершить</button>" in page
    assert 'name="outcome" value=' not in page
    resp = client.post(f"/taskview/{pk}/complete", data={"result": "Позвонил"},
                       follow_redirects=True)
    assert "Задача «Позвонить поставщику» завершена" in flashes(_page(resp))
    task = db.session.get(Task, pk)
    assert (task.status, task.outcome, task.result) == ("done", None, "Позвонил")


def test_a_refused_submit_of_the_fields_form_shows_the_refusal(login, client, request_deal):
    """The first display only asks; the form's own submit, still missing the reason, is
    refused with the message at the field and what was typed kept."""
    take = _observed_by_assignee(client, request_deal)
    acceptor = login(take.assignee.username)
    first = acceptor.post(f"/taskview/{take.id}/complete", data={"outcome": "Отказ"})
    assert first.status_code == 200
    assert 'name="from_form" value="1"' in _page(first)
    resp = acceptor.post(f"/taskview/{take.id}/complete", data={
        "from_form": "1", "outcome": "Отказ", "result": "Дорого",
        "asked": ["lost_reason", "lost_comment"], "f_lost_reason": "",
        "f_lost_comment": "Нашли дешевле"})
    page = _page(resp)
    assert resp.status_code == 422
    assert "Нельзя перейти на этап «Сделка провалена»: не заполнено поле «Причина проигрыша»" \
        in page
    assert "has-error" in page
    assert "Заполните поле «Причина проигрыша»: оно обязательно на этапе «Сделка провалена»" \
        in page
    assert ">Дорого</textarea>" in page and ">Нашли дешевле</textarea>" in page
    assert stage_of(request_deal) == "new"
    assert db.session.get(Task, take.id).status == "open"


def test_the_edit_form_keeps_what_was_typed_and_points_to_complete(login, request_deal):
    """Closing the task on its edit form with «Отказ» needs the lost reason, which that form
    cannot take: the form comes back as typed, pointing to «Завершить»; nothing is saved."""
    take = _take(request_deal)
    acceptor = login(take.assignee.username)
    before = _counts(request_deal)
    resp = acceptor.post(f"/taskview/edit/{take.id}", data={
        "title": "Взять заявку (перезвонить)", "description": "Клиент не отвечает",
        "assignee": str(take.assignee_id), "creator": str(take.creator_id), "deadline": "",
        "status": "done", "result": "Клиент передумал", "outcome": "Отказ",
        "record_entity": "deal", "record_id": str(request_deal.id)})
    page = _page(resp)
    assert resp.status_code == 200
    assert ("Нельзя перейти на этап «Сделка провалена»: не заполнено поле «Причина "
            "проигрыша». Завершите задачу кнопкой «Завершить» на странице задачи — там можно "
            "заполнить поля") in flashes(page)
    assert f'<a href="/taskview/show/{take.id}#crm-complete">«Завершить» на странице ' \
           'задачи</a>' in page
    assert 'value="Взять заявку (перезвонить)"' in page
    assert "Клиент не отвечает</textarea>" in page and "Клиент передумал</textarea>" in page
    assert '<option selected value="Отказ">' in page
    assert '<option selected value="done">' in page
    db.session.expire_all()
    kept = db.session.get(Task, take.id)
    assert (kept.title, kept.status, kept.outcome) == ("Взять заявку в работу", "open", None)
    assert stage_of(request_deal) == "new" and _counts(request_deal) == before


def test_the_api_writes_only_what_the_outcomes_move_asks_for(login, client, sales):
    """A manager offered the request (a participant, not its responsible) fills what
    «Принять заявку» needs, and nothing else of the deal."""
    deal = new_deal(client, sales, "new", title="Заявка", responsible=user("sales_head").id)
    take = _take(deal)
    company = legal_company(name="ООО «Весы»", inn="7736050003")
    api = token_only(login, take.assignee.username)
    needed = {"priority": "A", "company": company.id, "delivery_term": "2026-12-31"}
    resp = api.api("post", f"/api/v1/task/{take.id}/complete", json={
        "outcome": "Принять заявку", "fields": {**needed, "budget": 1}})
    assert resp.status_code == 422, resp.json
    assert "не нужно для перехода на этап «Взят в работу»" in str(resp.json["message"])
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).budget in (None, 0)
    assert stage_of(deal) == "new"
    resp = api.api("post", f"/api/v1/task/{take.id}/complete", json={
        "outcome": "Принять заявку", "fields": needed})
    assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "in_work"
