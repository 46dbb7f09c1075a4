"""Seed 002's office processes walked end to end through the API and the screens under a
frozen clock: the payment request (rework, approval, the accountant's payment, the payment
order), the sick leave (privacy, the absence it registers, the next approval going to the
deputy), the leave (the balance, the three-step routes, a rejection in the middle)."""
import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from models.absence import Absence
from models.approval import Approval, ApprovalStep
from models.outbox import OutboxMessage
from models.office_request import OfficeRequest
from models.task import Task
from process.absence import balance, register_absence
from tests.process_flow_helpers import frozen, install, msk, stage, user

MONDAY = msk(2026, 11, 16, 10, 0)


@pytest.fixture()
def office(app):
    return {key: install(f"002_{key}.yaml", key)
            for key in ("payment_request", "document_approval", "sick_leave", "leave")}


def _new(client, pipeline, stage_key="draft", **fields):
    resp = client.api("post", "/api/v1/request/", json={
        "pipeline": pipeline.id, "stage": stage(pipeline, stage_key).id, **fields})
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def _put(client, pk, **fields):
    db.session.expire_all()
    version = db.session.get(OfficeRequest, pk).version
    return client.api("put", f"/api/v1/request/{pk}", json={"version": version, **fields})


def _move(client, office_pipeline, pk, key, **fields):
    return _put(client, pk, stage=stage(office_pipeline, key).id, **fields)


def _stage(pk) -> str:
    db.session.expire_all()
    return db.session.get(OfficeRequest, pk).stage.key


def _approval(pk) -> Approval:
    db.session.expire_all()
    return db.session.scalar(select(Approval).where(  # the latest
        Approval.entity == "request", Approval.record_id == pk).order_by(Approval.id.desc()))


def _waiting(pk) -> list[str]:
    approval = _approval(pk)
    return [r.user.username for r in db.session.scalars(select(ApprovalStep).where(
        ApprovalStep.approval_id == approval.id, ApprovalStep.status == "waiting"))]


def _decide(username, pk, decision, comment=None, when=MONDAY, login=None):
    with frozen(login, when, username) as client:
        return client.api("post", f"/api/v1/approval/{_approval(pk).id}/decide",
                          json={"decision": decision, "comment": comment})


def test_payment_request_rework_approval_payment_and_the_payment_order(login, office):
    pipeline = office["payment_request"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Оплата хостинга", amount="12500.00",
                  custom={"payee": "ООО «Хостер»", "purpose": "Хостинг за декабрь",
                          "needs_payment_doc": True})
        resp = _move(manager, pipeline, pk, "approval")
        assert resp.status_code == 422 and "due_date" in resp.json["message"]
        resp = _move(manager, pipeline, pk, "approval", custom={
            "payee": "ООО «Хостер»", "purpose": "Хостинг за декабрь",
            "needs_payment_doc": True, "due_date": "2026-11-20"})
        assert resp.status_code == 200, resp.json
    # the head of the author's department decides; nobody else can
    assert _waiting(pk) == ["sales_head"]
    assert _decide("manager2", pk, "approve", login=login).status_code == 404
    with frozen(login, MONDAY, "sales_head") as head:
        head.post(f"/approvals/{_approval(pk).id}/decide",
                  data={"decision": "rework", "comment": "Приложите счёт"})
    assert _stage(pk) == "draft"
    assert db.session.get(OfficeRequest, pk).custom["approval_comment"] == "Приложите счёт"
    with frozen(login, MONDAY, "manager") as manager:
        assert _move(manager, pipeline, pk, "approval").status_code == 200
        # the status only a decision sets, and «Оплачено» only the accountant's outcome sets
        assert _move(manager, pipeline, pk, "to_pay").status_code == 409
    assert (_approval(pk).round, _waiting(pk)) == (2, ["sales_head"])
    assert _decide("sales_head", pk, "approve", login=login).status_code == 200
    assert _stage(pk) == "to_pay"
    pay = db.session.scalar(select(Task).where(Task.record_entity == "request",
                                               Task.record_id == pk))
    assert pay.title == ("Оплатить заявку «Оплата хостинга»: 12\u00a0500,00 ₽, получатель "
                         "ООО «Хостер», до 20.11.2026")
    assert pay.description == "Хостинг за декабрь"
    assert pay.deadline == dt.datetime(2026, 11, 20, 15, 0)  # 18:00 MSK as naive UTC
    assert pay.assignee.username == "accountant"
    with frozen(login, MONDAY, "manager") as manager:
        assert _move(manager, pipeline, pk, "paid").status_code == 409
    with frozen(login, MONDAY, "accountant") as accountant:
        assert accountant.api("get", f"/api/v1/request/{pk}").status_code == 200
        resp = accountant.api("post", f"/api/v1/task/{pay.id}/complete",
                              json={"outcome": "Оплачено", "result": "п/п № 51"})
        assert resp.status_code == 200, resp.json
    assert _stage(pk) == "paid"
    [paid] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.entity == "request", OutboxMessage.record_id == pk,
        OutboxMessage.kind == "notification")).all()
    assert (paid.recipients, paid.body) == ([user("manager").id],
                                            "Заявка на оплату «Оплата хостинга» оплачена")
    order = db.session.scalars(select(Task).where(Task.record_entity == "request",
                                                  Task.record_id == pk)).all()[-1]
    assert order.title == "Отправить платёжное поручение по заявке «Оплата хостинга» сотруднику"
    assert order.assignee.username == "accountant"


def test_a_sick_leave_is_seen_by_the_employee_and_the_head_only(login, office):
    pipeline = office["sick_leave"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Больничный", date_from="2026-11-16",
                  date_to="2026-11-20", custom={"sick_kind": "classic"})
        assert _move(manager, pipeline, pk, "approval").status_code == 200
    for stranger in ("manager2", "director", "accountant", "outsider"):
        with frozen(login, MONDAY, stranger) as client:
            assert client.api("get", f"/api/v1/request/{pk}").status_code == 404, stranger
            listed = client.api("get", "/api/v1/request/").json["result"]
            assert pk not in [r["id"] for r in listed], stranger
    with frozen(login, MONDAY, "sales_head") as head:
        assert head.api("get", f"/api/v1/request/{pk}").status_code == 200
    assert _decide("sales_head", pk, "approve", login=login).status_code == 200
    assert _stage(pk) == "approved"
    absence = db.session.scalar(select(Absence).where(Absence.source_entity == "request",
                                                      Absence.source_id == pk))
    assert (absence.user_id, absence.kind, absence.date_from, absence.date_to) == (
        user("manager").id, "sick", dt.date(2026, 11, 16), dt.date(2026, 11, 20))


def test_an_absent_head_s_approval_goes_to_the_deputy(login, office):
    head, deputy = user("sales_head"), user("director")
    head.deputy_id = deputy.id
    register_absence(head.id, "vacation", dt.date(2026, 11, 16), dt.date(2026, 11, 27))
    db.session.commit()
    pipeline = office["sick_leave"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Работаю из дома", date_from="2026-11-17",
                  date_to="2026-11-17", custom={"sick_kind": "remote"})
        assert _move(manager, pipeline, pk, "approval").status_code == 200
    assert _waiting(pk) == ["director"]
    row = db.session.scalar(select(ApprovalStep).where(
        ApprovalStep.approval_id == _approval(pk).id))
    assert row.original_user_id == head.id
    assert "отсутствует (отпуск по 27.11.2026)" in row.route_note
    assert "заместител" in row.route_note
    assert _decide("sales_head", pk, "approve", login=login).status_code in (403, 404)
    assert _decide("director", pk, "approve", login=login).status_code == 200
    assert _stage(pk) == "approved"


def test_vacation_within_the_balance_through_three_approvers(login, office):
    pipeline = office["leave"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Отпуск", date_from="2026-12-01",
                  date_to="2027-01-15", custom={"leave_kind": "vacation"})
        resp = _move(manager, pipeline, pk, "approval")
        assert resp.status_code == 422
        assert "Недостаточно дней отпуска" in str(resp.json["message"])
        assert _stage(pk) == "draft" and _approval(pk) is None
        assert _put(manager, pk, date_to="2026-12-14").status_code == 200
        assert _move(manager, pipeline, pk, "approval").status_code == 200
    # отпуск: бухгалтерия → руководитель отдела → директор
    assert _waiting(pk) == ["accountant"]
    assert _decide("accountant", pk, "approve", login=login).status_code == 200
    assert _waiting(pk) == ["sales_head"]
    assert _decide("sales_head", pk, "approve", login=login).status_code == 200
    assert _waiting(pk) == ["director"]
    assert _decide("director", pk, "approve", login=login).status_code == 200
    assert _stage(pk) == "approved"
    assert balance(user("manager").id, 2026)["used"] == 14
    assert balance(user("manager").id, 2026)["remaining"] == 14


def test_unpaid_leave_rejected_by_the_director_in_the_middle(login, office):
    pipeline = office["leave"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Отгул", date_from="2026-11-20",
                  date_to="2026-11-20", custom={"leave_kind": "unpaid"})
        assert _move(manager, pipeline, pk, "approval").status_code == 200
    # за свой счёт: руководитель отдела → директор → бухгалтер
    assert _waiting(pk) == ["sales_head"]
    assert _decide("sales_head", pk, "approve", login=login).status_code == 200
    assert _waiting(pk) == ["director"]
    assert _decide("director", pk, "reject", login=login).status_code == 422
    assert _decide("director", pk, "reject", "Конец квартала", login=login).status_code == 200
    assert _stage(pk) == "rejected"
    assert _waiting(pk) == []
    assert db.session.scalar(select(Absence.id).where(Absence.source_id == pk)) is None


def test_the_form_files_a_request_as_the_signed_in_employee(login, office):
    pipeline = office["document_approval"]
    with frozen(login, MONDAY, "manager") as manager:
        page = manager.get("/officerequestview/add")
        assert page.status_code == 200 and "Вид заявки" in page.get_data(as_text=True)
        resp = manager.post("/officerequestview/add", data={
            "title": "Договор поставки", "pipeline": pipeline.id,
            "stage": stage(pipeline, "draft").id})
        assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    request = db.session.scalar(select(OfficeRequest).where(
        OfficeRequest.title == "Договор поставки"))
    assert request.responsible_id == request.created_by_id == user("manager").id
    assert request.department.code == "sales"
    # a document or a link is required to send it for approval
    with frozen(login, MONDAY, "manager") as manager:
        resp = _move(manager, pipeline, request.id, "approval")
        assert resp.status_code == 422 and "document" in resp.json["message"]
        resp = _move(manager, pipeline, request.id, "approval",
                     custom={"link": "https://disk.example.ru/dogovor"})
        assert resp.status_code == 200, resp.json
    assert _waiting(request.id) == ["sales_head"]
    assert _decide("sales_head", request.id, "approve", login=login).status_code == 200
    assert _stage(request.id) == "approved"


def test_a_decided_request_is_locked_and_a_withdrawn_one_leaves_nothing_pending(login,
                                                                               office):
    pipeline = office["leave"]
    with frozen(login, MONDAY, "manager") as manager:
        pk = _new(manager, pipeline, title="Отпуск в декабре", date_from="2026-12-07",
                  date_to="2026-12-11", custom={"leave_kind": "vacation"})
        assert _move(manager, pipeline, pk, "approval").status_code == 200
        # taken back while waiting: the approval is withdrawn, nobody decides it
        assert _move(manager, pipeline, pk, "draft").status_code == 200
        assert _approval(pk).status == "cancelled" and _waiting(pk) == []
        assert _move(manager, pipeline, pk, "approval").status_code == 200
    assert _waiting(pk) == ["accountant"]
    with frozen(login, MONDAY, "accountant") as accountant:
        page = accountant.get(f"/approvals/{_approval(pk).id}").get_data(as_text=True)
    # the approver reads words: the dates, the kind, the days it costs and what is left
    assert "07.12.2026" in page and "Отпуск" in page and "vacation" not in page
    assert "Дней отпуска (без праздников)" in page and "Остаток отпуска на 2026 год" in page
    for who in ("accountant", "sales_head", "director"):
        assert _decide(who, pk, "approve", login=login).status_code == 200
    assert _stage(pk) == "approved"
    with frozen(login, MONDAY, "manager") as manager:
        resp = _move(manager, pipeline, pk, "draft")
        assert resp.status_code == 409, resp.json
        resp = _put(manager, pk, date_to="2026-12-25")
        assert resp.status_code in (409, 422), resp.json
    db.session.expire_all()
    assert db.session.get(OfficeRequest, pk).date_to == dt.date(2026, 12, 11)
