"""Seed 001's internal approval («Смарт-процесс Согласование» of the invoice and contract)
walked through the API and the screens under a frozen clock: who may decide, any-of,
delegation, rework and resubmission, rejection with its reason, the restart when the amount
changes, the escalation at the step's deadline, and the e-mail copy's single-use link."""
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from models.approval import Approval, ApprovalStep
from models.notification import Notification
from models.outbox import OutboxMessage
from models.party import Company
from models.schedule import ScheduledAction
from models.timeline import TimelineEntry
from models.user import Department
from tests.factories import make_user
from tests.process_flow_helpers import (attach, close, custom_of, frozen, install, move, msk,
                                        new_deal, put_deal, stage_of, tasks, user)

FRIDAY = msk(2026, 10, 30, 15, 0)
MONDAY = msk(2026, 11, 2, 10, 0)
TUESDAY = msk(2026, 11, 3, 16, 0)
SEND = "Отправлено на согласование"


@pytest.fixture()
def sales(app):
    install("001_engineers.yaml", "engineers")
    pipeline = install("001_sales.yaml", "sales")
    sales_dep = db.session.scalar(select(Department).where(Department.code == "sales"))
    make_user("sales_head2", ["sales_head"], sales_dep, first="Анна", last="Второва")
    return pipeline


@pytest.fixture()
def buyer(app):
    company = Company(kind="person", name="Петров Пётр Петрович", email="petrov@example.ru")
    db.session.add(company)
    db.session.commit()
    return company


def _at_contract(login, sales, buyer, budget=600000):
    with frozen(login, FRIDAY) as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                        budget=budget, budget_manual=True)
        assert move(admin, deal, sales, "in_work", custom={
            "priority": "A", "delivery_term": "2026-12-01"}).status_code == 200
        assert move(admin, deal, sales, "proposal", custom={
            **custom_of(deal), "kp_agreed": True, "payment_terms": "postpayment"}
        ).status_code == 200
        files = {name: attach(admin, deal, f"{name}.pdf")
                 for name in ("contract_file", "invoice_file")}
        resp = move(admin, deal, sales, "contract", custom={**custom_of(deal), **files})
        assert resp.status_code == 200, resp.json
    return deal


def _send(login, deal, when=FRIDAY):
    send = tasks(deal)[-1]
    assert send.title == "Отправить Счет, Договор на согласование внутри компании"
    with frozen(login, when, "manager") as manager:
        assert close(manager, send, SEND).status_code == 200
    return _approval(deal)


def _approval(deal) -> Approval:
    db.session.expire_all()
    return db.session.scalar(select(Approval).where(
        Approval.entity == "deal", Approval.record_id == deal.id).order_by(Approval.id.desc()))


def _rows(approval):
    db.session.expire_all()
    return [(r.round, r.user.username, r.status) for r in db.session.scalars(
        select(ApprovalStep).where(ApprovalStep.approval_id == approval.id)
        .order_by(ApprovalStep.id))]


def _decide(client, approval, decision, comment=None, **extra):
    return client.api("post", f"/api/v1/approval/{approval.id}/decide",
                      json={"decision": decision, "comment": comment, **extra})


def test_under_150000_there_is_no_internal_approval(login, sales, buyer):
    deal = _at_contract(login, sales, buyer, budget=150000)
    assert tasks(deal)[-1].title == "Проверить товарные позиции, отправить Счет клиенту"
    assert tasks(deal)[-1].outcome_choices is None
    assert _approval(deal) is None


def test_delegation_then_a_rejection_with_its_reason_ends_the_route(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    assert approval.title == "Согласование Счета и Договора по сделке «Поставка весов»"
    assert approval.requester_id == user("manager").id
    assert _rows(approval) == [(1, "sales_head", "waiting"), (1, "sales_head2", "waiting")]
    with frozen(login, FRIDAY, "manager") as manager:
        assert _decide(manager, approval, "approve").status_code == 403
    director = user("director")
    with frozen(login, FRIDAY, "sales_head") as head:
        resp = _decide(head, approval, "delegate", "Я в командировке",
                       delegate_to=director.id)
        assert resp.status_code == 200, resp.json
    assert _rows(approval)[-1] == (1, "director", "waiting")
    row = db.session.scalar(select(ApprovalStep).where(ApprovalStep.user_id == director.id))
    assert row.original_user.username == "sales_head"
    with frozen(login, FRIDAY, "director") as boss:
        resp = _decide(boss, approval, "reject", "  ")
        assert resp.status_code == 422 and resp.json["errors"] == {
            "comment": "Укажите причину отказа"}
        resp = _decide(boss, approval, "reject", "Цена ниже себестоимости")
        assert resp.status_code == 200, resp.json
    approval = _approval(deal)
    assert approval.status == "rejected"
    # nothing stays pending after a rejection
    assert "waiting" not in [status for _r, _u, status in _rows(approval)]
    assert custom_of(deal)["approval_comment"] == "Цена ниже себестоимости"
    texts = [n.text for n in db.session.scalars(select(Notification).where(
        Notification.user_id == user("manager").id))]
    assert "«Согласование Счета и Договора по сделке «Поставка весов»»: отклонено: " \
           "Цена ниже себестоимости" in texts
    history = [e.text for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id,
        TimelineEntry.kind == "approval"))]
    assert any("отклонил(а): Цена ниже себестоимости" in t for t in history)
    assert any("передал(а) согласование" in t for t in history)


def test_rework_resubmission_and_any_of_approval(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    with frozen(login, FRIDAY, "sales_head2") as head2:
        page = head2.post(f"/approvals/{approval.id}/decide",
                          data={"decision": "rework", "comment": "Добавьте спецификацию"})
        assert page.status_code == 302
    assert _approval(deal).status == "rework"
    rework = tasks(deal)[-1]
    assert rework.title == "Доработать Счет, Договор по замечаниям: Добавьте спецификацию"
    with frozen(login, FRIDAY, "manager") as manager:
        assert close(manager, rework, "Отправлено повторно").status_code == 200
    approval = _approval(deal)
    assert (approval.status, approval.round) == ("pending", 2)
    assert db.session.scalar(select(Approval.id).where(Approval.id != approval.id)) is None
    with frozen(login, FRIDAY, "sales_head") as head:
        assert _decide(head, approval, "approve").status_code == 200
    # any-of: the other head's row is closed, and deciding it now is refused
    assert _rows(approval)[-2:] == [(2, "sales_head", "approved"), (2, "sales_head2", "skipped")]
    with frozen(login, FRIDAY, "sales_head2") as head2:
        resp = _decide(head2, approval, "approve")
        assert resp.status_code == 409 and "уже принято" in resp.json["message"]
    assert _approval(deal).status == "approved"
    assert tasks(deal)[-1].title == ("Проверить товарные позиции, отправить Счет, Договор на "
                                     "согласование и подписание с клиентом")
    assert tasks(deal)[-1].assignee.username == "manager"


def test_changing_the_amount_restarts_the_route(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    with frozen(login, FRIDAY, "manager") as manager:
        assert put_deal(manager, deal, budget=650000).status_code == 200
    approval = _approval(deal)
    assert approval.round == 2 and approval.status == "pending"
    assert [s for r, _u, s in _rows(approval) if r == 1] == ["cancelled", "cancelled"]
    assert [s for r, _u, s in _rows(approval) if r == 2] == ["waiting", "waiting"]
    texts = [e.text for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id))]
    assert any("начато заново: после запуска изменено" in t for t in texts)
    assert stage_of(deal) == "contract"


def test_the_deadline_reminds_and_escalates_to_the_head(app, login, sales, buyer):
    from jobs.actions import run_row
    import time_machine

    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    row = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.entity == "approval", ScheduledAction.record_id == approval.id))
    # one working day after Friday 15:00 is Monday 15:00 MSK
    assert row.due_at == msk(2026, 11, 2, 15, 0).astimezone(
        __import__("datetime").timezone.utc).replace(tzinfo=None)
    with time_machine.travel(TUESDAY, tick=False):
        from models.base import utcnow
        run_row(row, utcnow())
        db.session.commit()
    rows = _rows(approval)
    # the heads of sales have the director as their head: he may decide in their place
    assert rows[-1] == (1, "director", "waiting")
    overdue = db.session.scalars(select(Notification.text).where(
        Notification.user_id == user("sales_head").id, Notification.kind == "overdue")).all()
    assert overdue == ["Срок согласования истёк: Согласование Счета и Договора по сделке "
                       "«Поставка весов»"]
    with frozen(login, TUESDAY, "director") as boss:
        assert _decide(boss, approval, "approve").status_code == 200
    assert _approval(deal).status == "approved"


def test_the_email_link_decides_once(app, login, sales, buyer):
    head = user("sales_head")
    head.notify_email = True
    db.session.commit()
    deal = _at_contract(login, sales, buyer)
    _send(login, deal)
    [letter] = [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "email")) if m.recipients == [head.email]]
    url = re.search(r"http://localhost:5000(/approvals/mail/\S+)", letter.body).group(1)
    notes = db.session.scalars(select(Notification.text).where(
        Notification.user_id == head.id)).all()
    assert not any("/approvals/mail/" in n for n in notes)  # the link is for the letter only
    import time_machine

    with time_machine.travel(msk(2026, 10, 31, 10, 0), tick=False):
        _decide_by_link(login, deal, head, url)
    with time_machine.travel(msk(2026, 11, 30, 10, 0), tick=False):
        expired = login(None).get(url)
        assert expired.status_code == 410 and "Срок действия ссылки истёк" in \
            expired.get_data(as_text=True)


def _decide_by_link(login, deal, head, url):
    anonymous = login(None)
    page = anonymous.get(url)
    assert page.status_code == 200 and "Согласовать" in page.get_data(as_text=True)
    assert _approval(deal).status == "pending"  # opening decides nothing
    assert anonymous.post(url, data={"decision": "reject"}).status_code == 422
    assert anonymous.post(url, data={"decision": "approve"}).status_code == 200
    assert _approval(deal).status == "approved"
    decided = db.session.scalar(select(ApprovalStep).where(ApprovalStep.user_id == head.id))
    assert decided.decided_by_id == head.id
    again = anonymous.post(url, data={"decision": "reject", "comment": "передумал"})
    assert "уже принято" in again.get_data(as_text=True)
    assert _approval(deal).status == "approved"
    assert anonymous.get(url[:-3] + "abc").status_code == 410


def test_an_outsider_sees_no_approval_anywhere(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    with frozen(login, FRIDAY, "outsider") as outsider:
        assert outsider.api("get", f"/api/v1/approval/{approval.id}").status_code == 404
        assert _decide(outsider, approval, "approve").status_code == 404
        assert outsider.get(f"/approvals/{approval.id}").status_code == 404
        assert outsider.api("get", "/api/v1/approval/").json["count"] == 0
    with frozen(login, FRIDAY, "sales_head") as head:
        inbox = head.api("get", "/api/v1/approval/")
        assert inbox.json["count"] == 1
        assert inbox.json["result"][0]["title"] == approval.title
        page = head.get(f"/approvals/{approval.id}").get_data(as_text=True)
        assert "contract_file.pdf" in page and "Согласовать" in page


def test_approvers_deciding_at_the_same_moment_count_once(app, login, sales, buyer):
    """Two heads of an any-of step, one of them twice (by the API and the screen), all at
    once: one decision counts, the others get a clear refusal, never a 500, and the
    approval's result runs once."""
    from tests.helpers import in_threads

    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    heads = [login("sales_head"), login("sales_head2"), login("sales_head")]
    for head in heads[:2]:
        head.api("get", "/api/v1/approval/")  # the tokens, before the race

    def by_api(client):
        def call():
            resp = _decide(client, approval, "approve")
            return resp.status_code, (resp.json or {}).get("message", "")
        return call

    def by_form(client):
        def call():
            resp = client.post(f"/approvals/{approval.id}/decide",
                               data={"decision": "approve"}, follow_redirects=True)
            return resp.status_code, resp.get_data(as_text=True)
        return call

    results = in_threads(app, [by_api(heads[0]), by_api(heads[1]), by_form(heads[2])])
    codes = [code for code, _said in results]
    assert 500 not in codes, results
    approved_by_api = [said for code, said in results[:2] if code == 200]
    refused = [said for code, said in results[:2] if code != 200]
    assert all(code in (409,) for code, _s in results[:2] if code != 200), results
    assert all("уже принято" in said or "изменена другим" in said for said in refused)
    assert _approval(deal).status == "approved"
    db.session.expire_all()
    decided = db.session.scalars(select(ApprovalStep).where(
        ApprovalStep.approval_id == approval.id, ApprovalStep.status == "approved")).all()
    assert len(decided) == 1
    follow_ups = [t for t in tasks(deal) if t.title.startswith("Проверить товарные позиции, "
                                                              "отправить Счет, Договор")]
    assert len(follow_ups) == 1
    assert len(approved_by_api) <= 1


def test_approve_from_the_notification(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    with frozen(login, FRIDAY, "sales_head") as head:
        page = head.get("/notifications/").get_data(as_text=True)
        assert f'action="/approvals/{approval.id}/decide"' in page
        assert "Согласовать" in page
        unread = head.http.get("/notifications/unread").json["unread"]
        resp = head.post(f"/approvals/{approval.id}/decide",
                         data={"decision": "approve", "back": "notifications"})
        assert resp.location.endswith("/notifications/")
        page = head.get("/notifications/").get_data(as_text=True)
        assert f'action="/approvals/{approval.id}/decide"' not in page  # decided
        # deciding answered the «Согласуйте» notice: the bell counts one less
        assert head.http.get("/notifications/unread").json["unread"] == unread - 1
    with frozen(login, FRIDAY, "manager") as manager:
        page = manager.get("/notifications/").get_data(as_text=True)
        assert "/decide" not in page  # the requester is told, and decides nothing
    assert _approval(deal).status == "approved"


def test_the_deal_page_links_its_approval(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    approval = _send(login, deal)
    with frozen(login, FRIDAY, "manager") as manager:
        page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Запущено согласование «Согласование Счета и Договора по сделке" in page
    assert f'href="/approvals/{approval.id}"' in page
    with frozen(login, FRIDAY, "manager") as manager:
        shown = manager.get(f"/approvals/{approval.id}").get_data(as_text=True)
    assert "Руководитель отдела продаж" in shown and "Ожидает решения" in shown
    assert 'name="decision"' not in shown  # the requester sees it, and decides nothing


def test_opening_an_approval_notification_shows_the_approval(login, sales, buyer):
    deal = _send_and_get_deal(login, sales, buyer)
    approval = _approval(deal)
    note = db.session.scalar(select(Notification).where(
        Notification.user_id == user("sales_head").id, Notification.entity == "approval"))
    with frozen(login, FRIDAY, "sales_head") as head:
        resp = head.post(f"/notifications/{note.id}/open")
    assert resp.status_code == 302 and resp.location.endswith(f"/approvals/{approval.id}")


def _send_and_get_deal(login, sales, buyer):
    deal = _at_contract(login, sales, buyer)
    _send(login, deal)
    return deal
