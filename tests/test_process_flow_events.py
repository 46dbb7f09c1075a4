"""The 1C process of seed 000 through the real app: completing event No. 1 creates event
No. 2 with a 5-minute reminder; completing the approval event agrees the order."""
import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from config import BASE_DIR
from models.base import utcnow
from models.event import Event
from models.order import Order, OrderItem
from models.party import Company, Contact
from models.reference import ReferenceItem, ReferenceList
from models.schedule import ScheduledAction
from models.user import CrmUser

DEFINITIONS = BASE_DIR / "rules" / "definitions"


def _topic(code):
    return db.session.scalar(select(ReferenceItem.id).join(ReferenceList).where(
        ReferenceList.code == "event_topic", ReferenceItem.code == code))


def _user(name):
    return db.session.scalar(select(CrmUser).where(CrmUser.username == name))


@pytest.fixture()
def client_company(app):
    company = Company(kind="person", name="Орлов Олег Олегович", email="orlov@example.ru")
    contact = Contact(last_name="Орлов", first_name="Олег", company=company,
                      phone="+7 900 000-00-00")
    db.session.add_all([company, contact])
    db.session.commit()
    return company, contact


def _event_with_contact(client, contact, **fields):
    resp = client.api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "incoming", "state": "planned", **fields})
    assert resp.status_code == 201, resp.json
    event_id = resp.json["id"]
    row = client.api("post", "/api/v1/event_contact/", json={"event": event_id,
                                                               "contact": contact.id})
    assert row.status_code == 201, row.json
    return db.session.get(Event, event_id)


def test_completing_the_call_creates_event_no2_and_a_reminder(client, one_c, client_company):
    company, contact = client_company
    first = _event_with_contact(client, contact, topic=_topic("client_call"),
                                subject="Звонок от потенциального клиента",
                                company=company.id, responsible=_user("secretary").id)
    resp = client.api("put", f"/api/v1/event/{first.id}", json={
        "state": "completed", "content": "Интересуется поставкой весов"})
    assert resp.status_code == 200, resp.json
    second = db.session.scalar(select(Event).where(Event.id != first.id))
    assert second is not None
    assert second.topic.code == "first_contact" and second.state == "planned"
    assert (second.record_entity, second.record_id) == ("event", first.id)
    assert second.company_id == company.id and second.kind == "call"
    assert [r.contact_id for r in second.contact_rows] == [contact.id]
    reminder = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.entity == "event", ScheduledAction.record_id == second.id))
    assert reminder.action == "remind" and reminder.status == "pending"
    assert dt.timedelta(minutes=4) < reminder.due_at - utcnow() <= dt.timedelta(minutes=5)
    # the same completion saved again creates nothing more
    db.session.refresh(first)
    client.api("put", f"/api/v1/event/{first.id}", json={"content": "Уточнение"})
    assert db.session.query(Event).count() == 2


def test_refusal_needs_a_reason(client, one_c, client_company):
    company, contact = client_company
    event = _event_with_contact(client, contact, topic=_topic("refusal"), subject="Отказ",
                                company=company.id)
    resp = client.api("put", f"/api/v1/event/{event.id}", json={"state": "completed",
                                                                  "content": "Дорого"})
    assert resp.status_code == 422
    assert "rejection_reason" in resp.json["message"]
    assert db.session.query(Event).count() == 1


def test_only_the_approvers_decision_completes_the_approval_event(login, one_c,
                                                                  client_company):
    """«При завершении документа «событие» с темой «согласовать заказ», статус в заказе ...
    меняется на «согласовано»»: the event's completion is the approver's decision."""
    from models.approval import Approval

    company, contact = client_company
    manager = login("manager")
    order = Order(company=company, contact=contact, contract="Договор № 5 от 01.11.2026",
                  ship_date=dt.date(2026, 12, 1), status="request",
                  responsible_id=_user("manager").id, executor_id=_user("executor").id)
    order.items.append(OrderItem(name="Весы ВК-150", quantity=1, price=15000))
    db.session.add(order)
    db.session.commit()
    event = _event_with_contact(manager, contact, topic=_topic("order_approval"),
                                subject="Согласовать заказ", company=company.id,
                                record_entity="order", record_id=order.id,
                                responsible=_user("sales_head").id)
    approval = db.session.scalar(select(Approval).where(Approval.entity == "event",
                                                        Approval.record_id == event.id))
    assert approval is not None and approval.status == "pending"
    # Neither the event's completion, nor the order's status, nor the approval itself are
    # the manager's to decide.
    resp = manager.api("put", f"/api/v1/event/{event.id}", json={"state": "completed"})
    assert resp.status_code == 409 and "только решение согласующего" in resp.json["message"]
    resp = manager.api("put", f"/api/v1/order/{order.id}", json={"status": "agreed"})
    assert resp.status_code in (409, 422), resp.json
    resp = manager.api("post", f"/api/v1/approval/{approval.id}/decide",
                       json={"decision": "approve"})
    assert resp.status_code == 403 and "адресовано не вам" in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "request"
    resp = login("sales_head").api("post", f"/api/v1/approval/{approval.id}/decide",
                                   json={"decision": "approve"})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    assert db.session.get(Event, event.id).state == "completed"
    assert db.session.get(Order, order.id).status == "agreed"
    resp = login("sales_head").api("post", f"/api/v1/approval/{approval.id}/decide",
                                   json={"decision": "approve"})
    assert resp.status_code == 409 and "уже принято" in resp.json["message"]


def _rejection(code):
    return db.session.scalar(select(ReferenceItem.id).join(ReferenceList).where(
        ReferenceList.code == "rejection_reason", ReferenceItem.code == code))


def test_refusal_with_its_reason_ends_the_process(client, one_c, client_company):
    company, contact = client_company
    event = _event_with_contact(client, contact, topic=_topic("refusal"), subject="Отказ",
                                company=company.id)
    resp = client.api("put", f"/api/v1/event/{event.id}", json={
        "state": "completed", "content": "Дорого", "rejection_reason": _rejection("other")})
    assert resp.status_code == 422 and "rejection_comment" in resp.json["message"]
    resp = client.api("put", f"/api/v1/event/{event.id}", json={
        "state": "completed", "content": "Дорого", "rejection_reason": _rejection("other"),
        "rejection_comment": "Нашли дешевле"})
    assert resp.status_code == 200, resp.json
    assert db.session.query(Event).count() == 1  # nothing follows a refusal


def test_a_proposal_is_completed_only_with_an_attached_file(client, one_c, client_company):
    import io

    company, contact = client_company
    event = _event_with_contact(client, contact, topic=_topic("proposal"), kind="email",
                                direction="outgoing", subject="Коммерческое предложение",
                                company=company.id, content="КП во вложении")
    resp = client.api("put", f"/api/v1/event/{event.id}", json={"state": "completed"})
    assert resp.status_code == 422 and "attachment" in resp.json["message"]
    upload = client.post(f"/crm/attachment/upload/event/{event.id}", data={
        "file": (io.BytesIO(b"%PDF-1.4 kp"), "КП.pdf")}, content_type="multipart/form-data")
    assert upload.status_code in (200, 302)
    resp = client.api("put", f"/api/v1/event/{event.id}", json={"state": "completed"})
    assert resp.status_code == 200, resp.json


def test_work_assignment_created_on_the_basis_of_an_event(client, login, one_c,
                                                           client_company):
    from models.task import Task

    company, contact = client_company
    event = _event_with_contact(client, contact, topic=_topic("first_contact"),
                                subject="Первый контакт с клиентом", company=company.id,
                                responsible=_user("manager").id)
    manager = login("manager")
    page = manager.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    assert "Задание на работу «Консультация потенциального клиента»" in page
    assert "Утверждение К.П." not in page  # only on a proposal event
    resp = manager.post(f"/crm/move/event/{event.id}/based_on/consultation", data={})
    assert resp.status_code == 302
    assert db.session.query(Task).count() == 0  # the executor must be chosen
    executor = _user("executor")
    manager.post(f"/crm/move/event/{event.id}/based_on/consultation",
                 data={"chosen": executor.id})
    task = db.session.scalar(select(Task))
    assert task.title == "Консультация потенциального клиента"
    assert task.assignee_id == executor.id and task.creator_id == _user("manager").id
    assert (task.record_entity, task.record_id) == ("event", event.id)
    # a commercial proposal event on the basis of the same event
    manager.post(f"/crm/move/event/{event.id}/based_on/proposal", data={})
    proposal = db.session.scalar(select(Event).where(Event.id != event.id))
    assert proposal.topic.code == "proposal" and proposal.direction == "outgoing"
    assert (proposal.record_entity, proposal.record_id) == ("event", event.id)
    assert [r.contact_id for r in proposal.contact_rows] == [contact.id]


def test_events_no1_and_no2_complete_without_content(client, one_c, client_company):
    """Seed 000: №1 and №2 need the topic and the contact table; «Содержание» only №3, №4."""
    company, contact = client_company
    first = _event_with_contact(client, contact, topic=_topic("client_call"),
                                subject="Звонок от потенциального клиента",
                                responsible=_user("secretary").id)
    resp = client.api("put", f"/api/v1/event/{first.id}", json={"state": "completed"})
    assert resp.status_code == 200, resp.json
    second = db.session.scalar(select(Event).where(Event.id != first.id))
    assert second.topic.code == "first_contact" and not second.content
    assert [r.contact_id for r in second.contact_rows] == [contact.id]
    resp = client.api("put", f"/api/v1/event/{second.id}", json={"state": "completed"})
    assert resp.status_code == 422  # №2: «4. Контрагент»
    assert set(resp.json["message"]) == {"company"}
    resp = client.api("put", f"/api/v1/event/{second.id}",
                      json={"state": "completed", "company": company.id})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    assert db.session.get(Event, second.id).state == "completed"


def test_event_no1_without_contact_rows_is_not_completed(client, one_c):
    resp = client.api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "incoming", "state": "planned",
        "topic": _topic("client_call"), "subject": "Звонок"})
    event_id = resp.json["id"]
    resp = client.api("put", f"/api/v1/event/{event_id}", json={"state": "completed"})
    assert resp.status_code == 422 and set(resp.json["message"]) == {"contact_rows"}
    assert db.session.query(Event).count() == 1


def test_a_meeting_needs_content_and_its_times_lock_at_completion(client, one_c,
                                                                  client_company):
    company, contact = client_company
    meeting = _event_with_contact(client, contact, kind="meeting", direction="outgoing",
                                  topic=_topic("meeting"), company=company.id,
                                  subject="Встреча с потенциальным клиентом")
    resp = client.api("put", f"/api/v1/event/{meeting.id}", json={
        "started_at": "2026-12-01T08:00:00", "ended_at": "2026-12-01T09:00:00"})
    assert resp.status_code == 200, resp.json
    resp = client.api("put", f"/api/v1/event/{meeting.id}", json={"state": "completed"})
    assert resp.status_code == 422 and set(resp.json["message"]) == {"content"}
    resp = client.api("put", f"/api/v1/event/{meeting.id}", json={
        "state": "completed", "content": "Показали образцы"})
    assert resp.status_code == 200, resp.json
    resp = client.api("put", f"/api/v1/event/{meeting.id}", json={
        "ended_at": "2026-12-01T10:00:00"})
    assert resp.status_code == 422
    assert resp.json["message"]["ended_at"] == [
        "Встреча завершена: начало и окончание больше не редактируются"]
    db.session.expire_all()
    event = db.session.get(Event, meeting.id)
    assert event.ended_at == dt.datetime(2026, 12, 1, 9, 0)


def test_a_based_on_click_acts_once_however_often_it_arrives(app, client, login, one_c,
                                                           client_company):
    """Four clicks of one «на основании» button (the form's request key) make one task,
    sent one after another or all at once; a new click of the page makes another."""
    import re
    import threading

    from models.task import Task

    company, contact = client_company
    event = _event_with_contact(client, contact, topic=_topic("first_contact"),
                                subject="Первый контакт с клиентом", company=company.id,
                                responsible=_user("manager").id)
    manager = login("manager")
    page = manager.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    keys = re.findall(r'name="request_key" value="([0-9a-f]{32})"', page)
    assert keys, "the form carries the key of its click"
    url = f"/crm/move/event/{event.id}/based_on/consultation"
    data = {"chosen": _user("executor").id, "request_key": keys[0]}
    for _ in range(2):
        assert manager.post(url, data=data).status_code == 302
    assert db.session.query(Task).count() == 1

    other = manager.get(f"/eventview/show/{event.id}").get_data(as_text=True)
    fresh = re.findall(r'name="request_key" value="([0-9a-f]{32})"', other)[0]
    assert fresh != keys[0]
    clients = [login("manager") for _ in range(4)]
    barrier, codes = threading.Barrier(4), []

    def click(c):
        with app.app_context():
            barrier.wait(timeout=10)
            codes.append(c.post(url, data={**data, "request_key": fresh}).status_code)
            db.session.remove()

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [302] * 4
    db.session.expire_all()
    assert db.session.query(Task).count() == 2


def test_event_no2_made_by_the_rule_enters_its_process(client, one_c, client_company):
    """Event №2, created when the call is completed, has its own stage history like an
    event a person creates."""
    from models.process import StageHistory

    company, contact = client_company
    first = _event_with_contact(client, contact, topic=_topic("client_call"),
                                subject="Звонок от потенциального клиента",
                                responsible=_user("secretary").id)
    resp = client.api("put", f"/api/v1/event/{first.id}", json={"state": "completed"})
    assert resp.status_code == 200, resp.json
    second = db.session.scalar(select(Event).where(Event.id != first.id))
    assert second is not None
    rows = db.session.scalars(select(StageHistory).where(
        StageHistory.entity == "event", StageHistory.record_id == second.id)).all()
    assert [r.stage_key for r in rows] == [second.state]


def test_proposal_approval_by_the_chosen_head_with_a_rework_round(login, one_c,
                                                                   client_company):
    """«Утверждение К.П.»: the head the manager chose decides; «На доработку» returns it to
    the manager, who sends it again; the approval completes the event."""
    from models.approval import Approval
    from models.outbox import OutboxMessage

    company, contact = client_company
    manager = login("manager")
    event = _event_with_contact(manager, contact, topic=_topic("proposal_approval"),
                                subject="КП для Орлова", company=company.id,
                                content="КП на весы", responsible=_user("sales_head").id)
    approval = db.session.scalar(select(Approval).where(Approval.entity == "event",
                                                        Approval.record_id == event.id))
    assert approval.title == "Утверждение К.П.: КП для Орлова"
    head = login("sales_head")
    resp = head.api("post", f"/api/v1/approval/{approval.id}/decide",
                    json={"decision": "rework", "comment": "Снизьте цену на 5%"})
    assert resp.status_code == 200, resp.json
    [note] = [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.entity == "event", OutboxMessage.record_id == event.id,
        OutboxMessage.kind == "notification"))]
    assert note.body == "К.П. на доработку — Снизьте цену на 5%"
    assert note.recipients == [_user("manager").id]
    # only the author sends it again
    assert head.api("post", f"/api/v1/approval/{approval.id}/resubmit").status_code == 409
    resp = manager.api("post", f"/api/v1/approval/{approval.id}/resubmit")
    assert resp.status_code == 200, resp.json
    assert resp.json["result"]["round"] == 2
    resp = head.api("post", f"/api/v1/approval/{approval.id}/decide",
                    json={"decision": "approve"})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    assert db.session.get(Event, event.id).state == "completed"
