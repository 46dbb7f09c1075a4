"""The process services (process/): the handler table checked against the engine, and the
engine defects found walking the seeds end to end, each through the REST API."""
import pytest
from sqlalchemy import select

from app.extensions import db
from config import BASE_DIR
from models.deal import Deal
from models.event import Event
from models.outbox import OutboxMessage
from models.party import Company
from models.reference import ReferenceItem, ReferenceList
from models.schedule import ScheduledAction
from models.task import Task
from models.timeline import TimelineEntry
from models.user import CrmUser
from process.effects import registry
from tests.test_process_flow_events import _topic
from tests.process_flow_helpers import frozen, install, move, msk, new_deal, put_deal, utc

DEFINITIONS = BASE_DIR / "rules" / "definitions"
IN_WORK = {"priority": "A", "delivery_term": "2026-12-01"}


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def buyer(app):
    company = Company(kind="person", name="Петров Пётр Петрович", email="petrov@example.ru")
    db.session.add(company)
    db.session.commit()
    return company


def _user(name):
    return db.session.scalar(select(CrmUser).where(CrmUser.username == name))


def _tasks(record, entity="deal"):
    db.session.expire_all()
    return db.session.scalars(select(Task).where(Task.record_entity == entity,
                                                 Task.record_id == record.id)
                              .order_by(Task.id)).all()


def _close(client, task, outcome, result="Готово"):
    return client.api("put", f"/api/v1/task/{task.id}", json={
        "status": "done", "outcome": outcome, "result": result})


# --- the handler table -------------------------------------------------------------------
def test_every_available_engine_action_has_a_handler():
    registry.check_registry()  # the app started, so this holds; it must hold here too


def test_an_action_without_a_handler_stops_the_start(monkeypatch):
    monkeypatch.delitem(registry.HANDLERS, "notify")
    with pytest.raises(RuntimeError, match="notify"):
        registry.check_registry()


# --- templates see the record after the effects before them ------------------------------
def test_the_letter_names_the_manager_who_accepted_not_the_registrar(login, sales, buyer):
    head = login("sales_head")
    deal = new_deal(head, sales, "new", title="Поставка весов", company=buyer.id,
                    responsible=_user("sales_head").id, custom=IN_WORK)
    take = next(t for t in _tasks(deal) if t.title == "Взять заявку в работу")
    taker = take.assignee
    assert _close(login(taker.username), take, "Принять заявку").status_code == 200
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).responsible_id == taker.id
    letter = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    body = " ".join(letter.body.split())
    # (test users share a name: their e-mail addresses tell them apart)
    assert taker.email in body
    assert _user("sales_head").email not in body


# --- required fields of skipped stages -----------------------------------------------------
def test_a_jump_asks_for_the_fields_of_every_stage_it_passes(login):
    beds = install("004_beds.yaml", "beds")
    admin = login("admin")
    deal = new_deal(admin, beds, "bz_agreement", title="Кровать-домик")
    resp = move(admin, deal, beds, "paid", custom={
        "payment_date": "2026-10-30", "prepayment": 30000, "debt": 30000,
        "shipping_deadline": "2026-11-20", "delivery_type": "courier",
        "delivery_city": "Москва"})
    assert resp.status_code == 422
    # «Счет выставлен» lies between: its fields are asked for, each once
    assert {"client_name", "email", "phone", "passport", "delivery_address",
            "budget"} <= set(resp.json["message"])
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "bz_agreement"


def test_a_move_to_a_lost_stage_asks_only_for_its_own_fields(login, sales):
    admin = login("admin")
    deal = new_deal(admin, sales, "new", title="Поставка весов")
    reason = db.session.scalar(select(ReferenceItem.id).join(ReferenceList).where(
        ReferenceList.code == "lost_reason", ReferenceItem.is_other.is_(False)))
    assert move(admin, deal, sales, "lost", lost_reason=reason).status_code == 200


# --- flags set at any stage ----------------------------------------------------------------
def _titles(deal):
    return [t.title for t in _tasks(deal)]


def test_a_flag_set_later_creates_its_task_once_at_any_stage(login, sales, buyer):
    admin = login("admin")
    deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                    custom=IN_WORK)
    assert move(admin, deal, sales, "in_work").status_code == 200
    engineers = "Задание инженерам по сделке «Поставка весов»"
    assert engineers not in _titles(deal)
    assert put_deal(admin, deal, custom={**IN_WORK, "need_engineers": True}
                    ).status_code == 200
    assert _titles(deal).count(engineers) == 1
    task = next(t for t in _tasks(deal) if t.title == engineers)
    assert task.assignee.username == "engineer"
    # saving again, or unticking and ticking again, creates nothing more
    assert put_deal(admin, deal, custom={**IN_WORK, "need_engineers": True,
                                         "need_lawyer": False}).status_code == 200
    assert put_deal(admin, deal, custom={**IN_WORK, "need_engineers": False}
                    ).status_code == 200
    assert put_deal(admin, deal, custom={**IN_WORK, "need_engineers": True}
                    ).status_code == 200
    assert _titles(deal).count(engineers) == 1


def test_a_flag_set_before_the_stage_is_not_doubled_on_entry(login, sales, buyer):
    admin = login("admin")
    deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                    custom={**IN_WORK})
    assert put_deal(admin, deal, custom={**IN_WORK, "need_lawyer": True}).status_code == 200
    assert move(admin, deal, sales, "in_work").status_code == 200
    assert _titles(deal).count("Проверить контрагента по сделке «Поставка весов»") == 1


# --- process tasks close with their stage --------------------------------------------------
def test_a_stage_task_is_cancelled_when_the_record_leaves_by_another_path(login, sales, buyer):
    admin = login("admin")
    deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                    custom=IN_WORK)
    assert move(admin, deal, sales, "in_work").status_code == 200
    take = next(t for t in _tasks(deal) if t.title == "Взять заявку в работу")
    assert take.status == "cancelled"
    assert take.result == "Отменена: сделка перешла на этап «Взят в работу»"
    # the tasks of the new stage stay open
    check = next(t for t in _tasks(deal) if t.title == "Проверить товарные позиции")
    assert check.status == "open"


# --- a role nobody holds -------------------------------------------------------------------
def test_a_task_for_a_role_nobody_holds_goes_to_the_responsible(login, sales, buyer):
    for user in db.session.scalars(select(CrmUser).join(CrmUser.roles)).unique():
        if any(r.name == "metrologist" for r in user.roles):
            user.active = False
    db.session.commit()
    admin = login("admin")
    titles = []
    for n in (1, 2):
        deal = new_deal(admin, sales, "new", title=f"Весы {n}", company=buyer.id,
                        custom={**IN_WORK, "need_metrologist": True})
        assert move(admin, deal, sales, "in_work").status_code == 200
        task = next(t for t in _tasks(deal) if t.title.startswith("Задание метрологу"))
        assert task.assignee.username == "manager"
        assert task.description.startswith("Нет исполнителя с ролью «")
        titles += db.session.scalars(select(TimelineEntry.text).where(
            TimelineEntry.record_id == deal.id, TimelineEntry.entity == "deal")).all()
    assert sum("Нет исполнителя с ролью" in t for t in titles) == 2
    notices = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.effect_key == "no_role:metrologist")).all()
    assert len(notices) == 1  # the admins hear of it once per role
    assert _user("admin").id in notices[0].recipients


# --- changes from empty --------------------------------------------------------------------
@pytest.mark.parametrize("way", ["api", "service"])
def test_choosing_the_approver_from_empty_creates_the_5_minute_reminder(login, one_c, way):
    manager = login("manager")
    resp = manager.api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "outgoing", "state": "planned",
        "topic": _topic("order_approval"), "subject": "Согласовать заказ 7"})
    assert resp.status_code == 201, resp.json
    event = db.session.get(Event, resp.json["id"])
    assert event.responsible_id is None or event.responsible_id == _user("manager").id
    if event.responsible_id is not None:
        # created by the manager for themself: empty it first, as the form allows
        event.responsible_id = None
        db.session.commit()
    approver = _user("director").id
    with frozen(login, msk(2026, 11, 30, 12, 0), "manager") as acting:
        db.session.refresh(event)
        if way == "api":
            resp = acting.api("put", f"/api/v1/event/{event.id}", json={
                "responsible": approver, "version": event.version}
                if hasattr(event, "version") else {"responsible": approver})
            assert resp.status_code == 200, resp.json
        else:
            event.responsible = db.session.get(CrmUser, approver)
            from process.service import field_changed

            field_changed(event, "form")
            db.session.commit()
    rows = db.session.scalars(select(ScheduledAction).where(
        ScheduledAction.entity == "event", ScheduledAction.record_id == event.id,
        ScheduledAction.action == "remind")).all()
    assert len(rows) == 1
    assert rows[0].due_at == utc(2026, 11, 30, 12, 5)


# --- follow-up tasks are tasks of their own ------------------------------------------------
def test_a_follow_up_task_has_its_own_creator_and_deadline(login, sales, buyer):
    with frozen(login, msk(2026, 11, 30, 12, 0), "admin") as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                        custom={**IN_WORK, "kp_agreed_date": "2026-12-02"})
        assert move(admin, deal, sales, "in_work").status_code == 200
        assert move(admin, deal, sales, "proposal").status_code == 200
        feedback = next(t for t in _tasks(deal)
                        if t.title == "Связаться с клиентом, получить обратную связь по КП")
        assert _close(admin, feedback, "КП не согласовано").status_code == 200
    rework = next(t for t in _tasks(deal)
                  if t.title == "Отработать возражение, переформировать КП")
    assert rework.creator.username == "sales_head"
    assert rework.assignee.username == "manager"
    # 1 working day from Monday 30.11 12:00 MSK, not the 2 days of the task it follows
    assert rework.deadline == utc(2026, 12, 1, 12, 0)


# --- a task deadline hanging on a date field -----------------------------------------------
def test_a_task_deadline_follows_its_date_field(login, buyer):
    eco = install("002_deals.yaml", "eco_deals")
    admin = login("admin")
    deal = new_deal(admin, eco, "contact", title="Эко-пакеты", company=buyer.id)
    assert move(admin, deal, eco, "postponed").status_code == 200
    call = next(t for t in _tasks(deal) if t.title == "Звонок клиенту")
    assert call.deadline is None  # no date yet
    assert put_deal(admin, deal, custom={"callback_date": "2026-12-03"}).status_code == 200
    call = next(t for t in _tasks(deal) if t.title == "Звонок клиенту")
    assert call.deadline == utc(2026, 12, 3, 10, 0)  # at 10:00, as the definition says
    assert put_deal(admin, deal, custom={"callback_date": "2026-12-04"}).status_code == 200
    call = next(t for t in _tasks(deal) if t.title == "Звонок клиенту")
    assert call.deadline == utc(2026, 12, 4, 10, 0)


# --- a reminder whose person is not set yet ------------------------------------------------
def test_a_reminder_to_nobody_yet_goes_to_the_records_author(login, one_c):
    from jobs.actions import run_row
    from models.base import utcnow
    from models.notification import Notification

    secretary = login("secretary")
    resp = secretary.api("post", "/api/v1/event/", json={
        "kind": "call", "direction": "incoming", "state": "planned", "responsible": None,
        "topic": _topic("order_approval"),
        "subject": "Перезвонить клиенту"})
    assert resp.status_code == 201, resp.json
    event = db.session.get(Event, resp.json["id"])
    assert event.responsible_id is None
    row = ScheduledAction(action="remind", entity="event", record_id=event.id,
                          params={"to": [{"field": "responsible"}], "text": "Перезвонить"},
                          due_at=utcnow(), effect_key=f"test:{event.id}:remind",
                          rule_key="events.test")
    db.session.add(row)
    db.session.commit()
    run_row(row, utcnow())
    db.session.commit()
    [note] = db.session.scalars(select(Notification)).all()
    assert note.user_id == _user("secretary").id
    assert "напоминание отправлено автору записи" in note.text
    assert row.status == "done"
