"""A stage button whose move is refused only for empty fields opens a form asking for
exactly those (Bitrix24's «заполните поля, чтобы перейти»): filled in, they are written and
the record moved in one commit, or the form comes back with the messages and what was
typed, and nothing is saved. Seed 001's new request, offered to every manager (a participant
of «Новая заявка» who may not edit it), is taken so; the same through
`POST /api/v1/deal/<id>/move` with a bearer token. The record page offers «Изменить» only
to whom may change that very row."""
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
from tests.process_flow_helpers import history, install, messages, new_deal, stage_of
from tests.test_actor_token import token_only

ASKED = ("Приоритет (А/В/С)", "Контрагент", "Срок поставки")


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def bare_request(client, sales):
    """A new request with none of the fields «Взят в работу» requires, on the head of
    sales: every manager is offered it (a participant of «Новая заявка»)."""
    return new_deal(client, sales, "new", title="Заявка на весы",
                    responsible=user("sales_head").id)


@pytest.fixture()
def company(app):
    return legal_company(name="ООО «Весы»", inn="7736050003")


def _page(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _form_url(deal, stage: str = "in_work") -> str:
    return f"/crm/move/deal/{deal.id}/fields?stage={stage}"


def _post_form(client, deal, stage="in_work", **fields):
    data = {"stage": stage, "asked": ["priority", "company", "delivery_term"],
            "record_version": str(_fresh(deal).version)}
    data.update({f"f_{key}": value for key, value in fields.items()})
    return client.post(f"/crm/move/deal/{deal.id}/fields", data=data)


def _fresh(deal) -> Deal:
    db.session.expire_all()
    return db.session.get(Deal, deal.id)


def _counts(deal) -> tuple[int, int, int]:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model).where(*where))
                 for model, where in (
                     (Task, (Task.record_entity == "deal", Task.record_id == deal.id)),
                     (TimelineEntry, (TimelineEntry.entity == "deal",
                                      TimelineEntry.record_id == deal.id)),
                     (StageHistory, (StageHistory.entity == "deal",
                                     StageHistory.record_id == deal.id))))


def _edit_link(deal) -> str:
    return f'href="/dealview/edit/{deal.id}"'


def test_the_offered_manager_fills_the_fields_and_takes_the_request(login, bare_request,
                                                                     company):
    taker = login("manager2")
    page = _page(taker.get(f"/dealview/show/{bare_request.id}"))
    # the button of «Взят в работу» leads to the form instead of being disabled
    assert f'href="/crm/move/deal/{bare_request.id}/fields?stage=in_work"' in page
    assert f'href="/crm/move/deal/{bare_request.id}/fields?stage=lost"' in page
    # a stage asking for a file (attached on the «Файлы» tab) stays disabled with the reason
    assert "stage=invoice" not in page and "«Подписанный счет»" in page
    # offered to take, not to edit: no «Изменить» leading to a 404
    assert _edit_link(bare_request) not in page

    resp = taker.get(_form_url(bare_request))
    form = _page(resp)
    assert resp.status_code == 200
    assert "Чтобы перейти на этап «Взят в работу», заполните поля сделки:" in form
    for label in ASKED:
        assert f'{label} <span class="text-danger">*</span></label>' in form
    assert form.count('name="asked"') == 3
    assert f'<option value="{company.id}" >ООО «Весы»</option>' in form
    assert 'name="csrf_token"' in form
    # the first display asks; it does not scold
    assert "has-error" not in form and flashes(form) == []

    resp = _post_form(taker, bare_request, priority="A", company=str(company.id),
                      delivery_term="31.12.2026")
    assert resp.status_code == 302, _page(resp)
    assert resp.headers["Location"].endswith(f"/dealview/show/{bare_request.id}")
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.company_id, deal.responsible.username) == (
        "in_work", company.id, "manager2")
    assert (deal.custom["priority"], deal.custom["delivery_term"]) == ("A", "2026-12-31")
    assert history(deal)[-1].entered_by_id == user("manager2").id
    letter = messages(deal, "email")[-1]
    assert "Второв" in letter.body  # the client is told of the manager who took it
    page = _page(taker.get(f"/dealview/show/{deal.id}"))
    assert "Запись переведена на этап «Взят в работу»" in flashes(page)
    assert _edit_link(deal) in page  # his deal now: «Изменить» is offered


def test_a_refused_submit_keeps_what_was_typed_and_saves_nothing(login, bare_request):
    taker = login("manager2")
    before = _counts(bare_request)
    resp = _post_form(taker, bare_request, priority="B", company="",
                      delivery_term="31.12.2026")
    form = _page(resp)
    assert resp.status_code == 422
    assert "Нельзя перейти на этап «Взят в работу»: не заполнено поле «Контрагент»" in form
    assert "has-error" in form
    assert 'Заполните поле «Контрагент»: оно обязательно на этапе «Взят в работу»' in form
    assert '<option value="B" selected>' in form
    assert 'value="31.12.2026"' in form
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.custom, deal.responsible.username) == (
        "new", None, "sales_head")
    assert _counts(bare_request) == before

    resp = _post_form(taker, bare_request, priority="B", company="",
                      delivery_term="32.13.2026")
    assert resp.status_code == 422
    assert "«Срок поставки»: ожидается дата ДД.ММ.ГГГГ" in _page(resp)
    assert _fresh(bare_request).custom is None


def test_a_reason_other_asks_for_its_comment_before_the_deal_is_lost(login, bare_request):
    taker = login("manager2")
    form = _page(taker.get(_form_url(bare_request, "lost")))
    assert "Чтобы перейти на этап «Сделка провалена», заполните поля сделки:" in form
    assert 'for="f_lost_reason">Причина проигрыша <span class="text-danger">*</span>' in form
    assert 'name="f_lost_comment"' in form  # offered with the reason, not required
    other = str(ref_item("lost_reason", "other").id)
    data = {"stage": "lost", "asked": ["lost_reason", "lost_comment"],
            "f_lost_reason": other, "f_lost_comment": " "}
    resp = taker.post(f"/crm/move/deal/{bare_request.id}/fields", data=data)
    assert resp.status_code == 422
    assert "Для «Другое» опишите причину проигрыша" in _page(resp)
    assert (stage_of(bare_request), _fresh(bare_request).lost_reason_id) == ("new", None)

    resp = taker.post(f"/crm/move/deal/{bare_request.id}/fields",
                      data={**data, "f_lost_comment": "Закрылись"})
    assert resp.status_code == 302, _page(resp)
    # the request is no longer offered to him: back home with the message, not to a 404
    assert resp.headers["Location"] == "/"
    assert "Запись переведена на этап «Сделка провалена»" in flashes(_page(taker.get("/")))
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.lost_reason.code, deal.lost_comment) == (
        "lost", "other", "Закрылись")


def test_nothing_to_fill_and_a_move_not_possible(login, bare_request):
    taker = login("manager2")
    resp = taker.get(_form_url(bare_request, "nowhere"), follow_redirects=True)
    assert "В процессе «Продажа» нет этапа «nowhere»" in flashes(_page(resp))
    # a stage asking for a file the form cannot take: the reason, on the record page
    resp = taker.get(_form_url(bare_request, "invoice"), follow_redirects=True)
    assert any("«Подписанный счет»" in text for text in flashes(_page(resp)))
    resp = taker.post(f"/crm/move/deal/{bare_request.id}/fields",
                      data={"stage": "invoice"}, follow_redirects=True)
    assert any("Нельзя перейти на этап «Счет»" in text for text in flashes(_page(resp)))
    assert stage_of(bare_request) == "new"


def test_who_may_not_move_the_record_gets_nothing(client, login, bare_request, company):
    fields = {"stage": "in_work", "asked": ["priority", "company", "delivery_term"],
              "f_priority": "A", "f_company": str(company.id),
              "f_delivery_term": "31.12.2026"}
    url = f"/crm/move/deal/{bare_request.id}/fields"
    # an engineer reads deals, but not this one
    engineer = login("engineer")
    assert engineer.get(_form_url(bare_request)).status_code == 404
    assert engineer.post(url, data=fields).status_code == 404
    # given a task on it, he reads it; moving it stays with those who may
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Проверить весы", "assignee": user("engineer").id,
        "record_entity": "deal", "record_id": bare_request.id})
    assert resp.status_code == 201, resp.json
    assert engineer.get(f"/dealview/show/{bare_request.id}").status_code == 200
    assert engineer.get(_form_url(bare_request)).status_code == 403
    assert engineer.post(url, data=fields).status_code == 403
    # nobody signed in: the login page
    resp = login(None).get(_form_url(bare_request))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.custom, deal.company_id) == ("new", None, None)


def test_a_task_reader_who_may_edit_deals_is_not_offered_to_edit_this_one(client, login,
                                                                         sales, company):
    deal = new_deal(client, sales, "in_work", title="Чужая сделка", company=company.id,
                    custom={"priority": "A", "delivery_term": "2026-12-20"})
    resp = client.api("post", "/api/v1/task/", json={
        "title": "Проверить договор", "assignee": user("outsider").id,
        "record_entity": "deal", "record_id": deal.id})
    assert resp.status_code == 201, resp.json
    outsider = login("outsider")
    page = _page(outsider.get(f"/dealview/show/{deal.id}"))
    assert "Чужая сделка" in page and _edit_link(deal) not in page
    assert outsider.get(f"/dealview/edit/{deal.id}").status_code == 404
    assert _edit_link(deal) in _page(login("manager").get(f"/dealview/show/{deal.id}"))


def test_the_api_names_the_missing_fields_then_moves_with_them(login, bare_request, company):
    api = token_only(login, "manager2")
    url = f"/api/v1/deal/{bare_request.id}/move"
    before = _counts(bare_request)
    resp = api.api("post", url, json={"stage": "in_work"})
    assert resp.status_code == 422, resp.json
    assert set(resp.json["message"]) == {"priority", "company", "delivery_term"}
    assert resp.json["message"]["company"] == [
        "Заполните поле «Контрагент»: оно обязательно на этапе «Взят в работу»"]

    good = {"priority": "C", "company": company.id, "delivery_term": "2026-12-31"}
    # a participant writes what the move asks for, nothing else
    resp = api.api("post", url, json={"stage": "in_work",
                                      "fields": {**good, "title": "Моя заявка"}})
    assert resp.status_code == 422, resp.json
    assert resp.json["message"] == {"title": [
        "Поле «Название» не нужно для перехода на этап «Взят в работу»: его меняют на "
        "странице записи"]}
    resp = api.api("post", url, json={"stage": "in_work", "fields": {**good, "company": 999}})
    assert resp.status_code == 422
    assert resp.json["message"] == {"company": ["«Контрагент»: запись № 999 не найдена"]}
    resp = api.api("post", url, json={"fields": "priority"})
    assert resp.status_code == 422
    assert set(resp.json["message"]) == {"stage", "fields"}
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.title, deal.custom) == ("new", "Заявка на весы", None)
    assert _counts(bare_request) == before

    resp = api.api("post", url, json={"stage": "in_work", "fields": good,
                                      "record_version": deal.version})
    assert resp.status_code == 200, resp.json
    assert (resp.json["id"], resp.json["stage"]) == (deal.id, "in_work")
    assert resp.json["message"] == "Запись переведена на этап «Взят в работу»"
    deal = _fresh(bare_request)
    assert (deal.stage.key, deal.responsible.username, deal.custom["priority"]) == (
        "in_work", "manager2", "C")
    assert history(deal)[-1].source == "api"


def test_the_api_refuses_strangers_stale_versions_and_anonymous_calls(login, bare_request,
                                                                      company):
    url = f"/api/v1/deal/{bare_request.id}/move"
    good = {"stage": "in_work", "fields": {"priority": "A", "company": company.id,
                                           "delivery_term": "2026-12-31"}}
    assert token_only(login, "engineer").api("post", url, json=good).status_code == 404
    assert login(None).http.post(url, json=good).status_code == 401
    assert token_only(login, "manager2").api("post", "/api/v1/deal/999999/move",
                                             json=good).status_code == 404
    seen = _fresh(bare_request).version
    resp = token_only(login, "manager2").api("post", url,
                                             json={**good, "record_version": seen + 1})
    assert resp.status_code == 409
    assert "Запись изменена другим пользователем" in resp.json["message"]
    assert stage_of(bare_request) == "new"
