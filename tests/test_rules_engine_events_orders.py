"""The engine core on the shipped 1C processes (seed 000): the event chain, the refusal, the
«на основании» documents, the required fields per document and the customer order's
approval. Plain values in, decisions out."""
import datetime as dt
from pathlib import Path

import pytest

from errors import MissingFields, TransitionNotAllowed
from rules.definition import load_file
from rules.engine import (manual_actions, plan_field_change, plan_manual, plan_move,
                          readonly_fields, why_not)
from tests.rules_catalog import CATALOG

DEFS = Path(__file__).parents[1] / "rules/definitions"
EVENTS = load_file(DEFS / "000_events.yaml", CATALOG)
ORDERS = load_file(DEFS / "000_orders.yaml", CATALOG)
NOW = dt.datetime(2026, 11, 3, 10, 0)  # Tuesday, Moscow time
CALL = {"number": 17, "kind": "call", "direction": "incoming", "topic": "client_call",
        "subject": "Звонок от потенциального клиента", "contact_rows": [5],
        "company": 3, "content": "Нужны весы на склад", "responsible": 2}


def _only(plan, action):
    found = [e for e in plan if e.action == action]
    assert len(found) == 1, found
    return found[0]


def test_event_stages_are_the_event_states():
    assert [(s.key, s.name) for s in EVENTS.stages] == [
        ("planned", "Запланировано"), ("in_progress", "В работе"), ("completed", "Завершено")]
    assert [(s.key, s.name) for s in ORDERS.stages] == [
        ("request", "Заявка"), ("open", "Открыт"), ("agreed", "Согласовано"),
        ("in_work", "В работе"), ("done", "Выполнен"), ("cancelled", "Отменён")]


def test_completing_event_no1_creates_event_no2_with_a_reminder_in_5_minutes():
    plan = plan_move(EVENTS, "in_progress", "completed", CALL, "t1", NOW)
    created = _only(plan.effects, "create_record")
    assert created.params["entity"] == "event"
    assert created.params["values"] == {
        "kind": "call", "direction": "incoming", "company": 3, "contact_rows": [5],
        "subject": "Звонок от потенциального клиента", "content": "Нужны весы на склад",
        "topic": "first_contact", "state": "planned"}
    assert created.params["basis"] is True
    # The secretary sets the responsible of No. 2: the reminder goes to whoever it is then.
    assert "responsible" not in created.params["values"]
    reminder = created.params["reminder"]
    assert reminder["due_at"] == dt.datetime(2026, 11, 3, 10, 5)
    assert reminder["to"] == [{"field": "responsible"}]
    assert reminder["text"].startswith("Первый контакт с клиентом")
    assert created.rule == "events_1c.completed.on_enter.event_no2"


def test_a_letter_is_handled_like_a_call_and_other_topics_create_nothing():
    letter = {**CALL, "kind": "email", "topic": "client_letter"}
    values = _only(plan_move(EVENTS, "planned", "completed", letter, "t2", NOW).effects,
                   "create_record").params["values"]
    assert (values["kind"], values["topic"]) == ("email", "first_contact")
    meeting = {**CALL, "kind": "meeting", "topic": "meeting"}
    assert plan_move(EVENTS, "in_progress", "completed", meeting, "t3", NOW).effects == ()


def test_refusal_needs_a_reason_and_ends_the_process():
    refusal = {**CALL, "topic": "refusal"}
    err = why_not(EVENTS, "in_progress", "completed", refusal)
    assert isinstance(err, MissingFields)
    assert err.message == ("Нельзя перейти на этап «Завершено»: не заполнено поле "
                           "«Причина отказа»")
    other = {**refusal, "rejection_reason": "other"}
    assert set(why_not(EVENTS, "in_progress", "completed", other).errors) == \
        {"rejection_comment"}
    done = plan_move(EVENTS, "in_progress", "completed",
                     {**refusal, "rejection_reason": "expensive"}, "t4", NOW)
    assert done.effects == ()
    # Refusal is not a topic anything continues from.
    assert manual_actions(EVENTS, {**refusal, "rejection_reason": "expensive"}) == []


@pytest.mark.parametrize("topic, missing", [
    ("client_call", ["contact_rows"]),
    ("first_contact", ["contact_rows", "company"]),
    ("proposal", ["contact_rows", "company", "content", "attachment"]),
    ("meeting", ["contact_rows", "company", "content"]),
])
def test_required_fields_per_document(topic, missing):
    for source, target in (("planned", "in_progress"), ("in_progress", "completed")):
        err = why_not(EVENTS, source, target, {"topic": topic})
        assert list(err.errors) == missing
    if topic == "proposal":
        assert err.message == (
            "Нельзя перейти на этап «Завершено»: не заполнены поля «Контактные лица», "
            "«Контрагент», «Содержание», «Прикрепленный файл»")
    # A planned event needs its topic only: the contact rows are added to a saved event.
    assert why_not(EVENTS, None, "planned", {"topic": topic}) is None
    assert list(why_not(EVENTS, None, "planned", {}).errors) == ["topic"]


def test_start_and_end_are_read_only_except_a_meeting_until_completed():
    # A meeting is the kind «Личная встреча» (models/event.py decides the same way).
    meeting = {"kind": "meeting", "topic": "meeting"}
    assert readonly_fields(EVENTS, "in_progress", {"kind": "call", "topic": "first_contact"}) \
        == ("started_at", "ended_at")
    assert readonly_fields(EVENTS, "planned", meeting) == ()
    assert readonly_fields(EVENTS, "in_progress", meeting) == ()
    assert readonly_fields(EVENTS, "completed", meeting) == ("started_at", "ended_at")


def test_continuations_on_the_basis_of_event_no2():
    first = {**CALL, "topic": "first_contact", "number": 18}
    assert [k for k, _ in manual_actions(EVENTS, first)] == [
        "consultation", "proposal", "meeting", "order"]
    task = _only(plan_manual(EVENTS, "consultation", first, "m1", NOW), "create_task")
    assert task.params["title"] == "Консультация потенциального клиента"
    assert task.params["assignee"] == {"chosen": "executor"}
    assert task.params["creator"] == "actor"
    # 1 working day from Tuesday 3.11 skips Unity Day (Wednesday 4.11).
    assert task.due_at == dt.datetime(2026, 11, 5, 10, 0)
    proposal = _only(plan_manual(EVENTS, "proposal", first, "m2", NOW), "create_record")
    assert proposal.params["values"] == {
        "company": 3, "contact_rows": [5], "kind": "email", "direction": "outgoing",
        "topic": "proposal", "state": "planned", "subject": "Коммерческое предложение"}
    meeting = _only(plan_manual(EVENTS, "meeting", first, "m3", NOW), "create_record")
    assert meeting.params["values"]["subject"] == "Встреча с потенциальным клиентом"
    order = _only(plan_manual(EVENTS, "order", first, "m4", NOW), "create_record")
    assert order.params["entity"] == "order"
    assert order.params["values"] == {"company": 3, "status": "request"}


def test_proposal_approval_is_optional_and_only_on_a_proposal():
    proposal = {**CALL, "topic": "proposal", "attachment": 9}
    keys = [k for k, _ in manual_actions(EVENTS, proposal)]
    assert keys == ["consultation", "proposal_approval", "meeting", "order"]
    approval = _only(plan_manual(EVENTS, "proposal_approval", proposal, "m5", NOW),
                     "create_record")
    assert approval.params["values"]["topic"] == "proposal_approval"
    assert approval.params["values"]["subject"] == "Утверждение К.П."
    assert approval.params["responsible"] == {"chosen": "sales_head"}
    with pytest.raises(TransitionNotAllowed):
        plan_manual(EVENTS, "proposal_approval", {**CALL, "topic": "meeting"}, "m6", NOW)
    # The meeting continues only with the order or a refusal.
    assert [k for k, _ in manual_actions(EVENTS, {**CALL, "topic": "meeting"})] == \
        ["consultation", "order"]


ORDER = {"number": "ЗП-000042", "company": 3, "contact": 8, "contract": "№ 15/26",
         "ship_date": dt.date(2026, 11, 20), "responsible": 2, "items": [1], "executor": 11,
         "requires_approval": True}


def test_posting_an_order_that_requires_approval_creates_the_approval_event():
    plan = plan_move(ORDERS, "request", "open", ORDER, "o1", NOW)
    event = _only(plan.effects, "create_record")
    assert event.params["entity"] == "event"
    assert event.params["values"] == {"company": 3, "contact_rows": 8,
                                      "topic": "order_approval", "state": "planned",
                                      "subject": "Согласовать заказ ЗП-000042"}
    assert event.params["basis"] is True
    # Not yet in the executor's new orders: it waits for the approval.
    assert [e.action for e in plan.effects] == ["create_record"]


def test_the_manager_picks_the_approver_and_saving_makes_a_5_minute_reminder():
    old = {"topic": "order_approval", "subject": "Согласовать заказ ЗП-000042",
           "responsible": None, "state": "planned"}
    new = {**old, "responsible": 14}
    effects = plan_field_change(EVENTS, new, old, "s1", NOW, stage_key="planned")
    remind = _only(effects, "remind")
    assert remind.params["to"] == [{"field": "responsible"}]
    assert remind.params["text"] == "Согласовать заказ: Согласовать заказ ЗП-000042"
    assert remind.due_at == dt.datetime(2026, 11, 3, 10, 5)
    assert remind.key == "s1:on_change:approver_reminder:remind_approver"
    # Saving again without a change, or another topic, reminds nobody.
    assert plan_field_change(EVENTS, new, new, "s2", NOW) == ()
    assert plan_field_change(EVENTS, {**new, "topic": "first_contact"},
                             {**old, "topic": "first_contact"}, "s3", NOW) == ()


def test_completing_the_approval_event_sets_the_order_agreed():
    approval = {"topic": "order_approval", "contact_rows": [8], "responsible": 14,
                "content": "Согласовано"}
    plan = plan_move(EVENTS, "in_progress", "completed", approval, "e9", NOW)
    move = _only(plan.effects, "move_record")
    assert move.params == {"record": "basis", "entity": "order", "to": "agreed"}
    agreed = plan_move(ORDERS, "open", "agreed", ORDER, "o2", NOW)
    assert [e.action for e in agreed.effects] == ["notify", "remind"]
    notify, remind = agreed.effects
    assert notify.params["to"] == [{"field": "executor"}, {"role": "execution_head"}]
    assert notify.params["channel"] == "new_orders"
    assert notify.params["text"] == "Новый заказ ЗП-000042: дата отгрузки 20.11.2026"
    assert remind.params["to"] == [{"field": "executor"}]
    assert remind.due_at == NOW


def test_an_order_without_approval_goes_straight_to_new_orders():
    plan = plan_move(ORDERS, "request", "open", {**ORDER, "requires_approval": False},
                     "o3", NOW)
    assert [e.action for e in plan.effects] == ["notify", "remind"]


def test_approval_set_on_a_posted_order_creates_the_event():
    old = {**ORDER, "requires_approval": False}
    effects = plan_field_change(ORDERS, ORDER, old, "o4", NOW, stage_key="open")
    assert _only(effects, "create_record").params["values"]["topic"] == "order_approval"
    assert plan_field_change(ORDERS, ORDER, old, "o5", NOW, stage_key="request") == ()


def test_order_required_fields_follow_the_document():
    err = why_not(ORDERS, None, "request", {})
    assert err.message == ("Нельзя перейти на этап «Заявка»: не заполнены поля "
                           "«Контрагент», «Договор», «Дата отгрузки», «Ответственный менеджер»")
    head = {k: ORDER[k] for k in ("company", "contract", "ship_date", "responsible")}
    assert why_not(ORDERS, None, "request", head) is None
    err = why_not(ORDERS, "request", "open", {**head, "requires_approval": None})
    assert list(err.errors) == ["items", "executor", "requires_approval"]
    assert "«Позиции», «Исполнитель», «Требует согласования»" in err.message
