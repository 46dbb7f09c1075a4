"""The engine core on the shipped "Продажа" process: plain values in, decisions out."""
import datetime as dt
from pathlib import Path

import pytest

from errors import MissingFields, TransitionNotAllowed
from rules.engine import plan_move, render, why_not
from rules.definition import load_file
from tests.rules_catalog import CATALOG

SALES = load_file(Path(__file__).parents[1] / "rules/definitions/001_sales.yaml", CATALOG)
NOW = dt.datetime(2026, 10, 30, 15, 0)  # Friday before Unity Day (4.11), Moscow time
READY = {"title": "Поставка весов", "priority": 1, "company": 7, "delivery_term": "2026-12-01",
         "kp_agreed_date": "2026-11-03", "kp_agreed": True, "payment_terms": 2}


def _titles(plan):
    return [e.params["title"] for e in plan.effects if e.action == "create_task"]


def test_stage_names_and_deadlines_follow_the_seed():
    assert [s.name for s in SALES.stages] == [
        "Новая заявка", "Взят в работу", "КП", "Договор", "Счет", "Запуск реализации сделки",
        "Принят", "К отгрузке", "Отгружен/Доставлен", "Сделка успешна", "Сделка провалена"]
    assert SALES.stage("new").deadline == "1h"
    assert SALES.stage("proposal").deadline == "2 working days"


def test_missing_fields_are_named_in_russian():
    refusal = why_not(SALES, "new", "in_work", {"title": "x"})
    assert isinstance(refusal, MissingFields)
    assert refusal.message == ("Нельзя перейти на этап «Взят в работу»: не заполнены поля "
                               "«Приоритет (А/В/С)», «Контрагент», «Срок поставки»")
    assert set(refusal.errors) == {"priority", "company", "delivery_term"}


def test_taken_into_work_creates_the_check_task_and_client_letter():
    plan = plan_move(SALES, "new", "in_work", READY, "t1", NOW,
                     context={"responsible": {"full_name": "Смирнов Алексей",
                                              "position": "Менеджер", "phone": "+7 495 1",
                                              "email": "a@x.ru"}})
    assert _titles(plan) == ["Проверить товарные позиции"]
    task = next(e for e in plan.effects if e.action == "create_task")
    assert task.params["assignee"] == "responsible"
    assert task.params["creator"] == {"role": "sales_head"}
    assert task.due_at == dt.datetime(2026, 10, 31, 15, 0)
    letter = next(e for e in plan.effects if e.action == "send_message")
    assert "Ваш персональный менеджер Смирнов Алексей, Менеджер, телефон +7 495 1, " \
           "почта a@x.ru" in letter.params["body"]
    kp_date = next(e for e in plan.effects if e.action == "set_field")
    # "Дата согласования КП устанавливается в 2 раб дня": Mon 2.11, Tue 3.11.
    assert kp_date.params["value"] == dt.date(2026, 11, 3)
    assert plan.stage_deadline == dt.datetime(2026, 10, 31, 15, 0)


@pytest.mark.parametrize("flag, title", [
    ("need_engineers", "Задание инженерам по сделке «Поставка весов»"),
    ("need_purchasers", "Задание закупщикам по сделке «Поставка весов»"),
    ("need_logistics", "Задание логистике по сделке «Поставка весов»"),
    ("need_production", "Задание производству по сделке «Поставка весов»"),
    ("need_lawyer", "Проверить контрагента по сделке «Поставка весов»"),
    ("need_metrologist", "Задание метрологу по сделке «Поставка весов»"),
])
def test_yes_no_flags_create_tasks_for_their_roles(flag, title):
    plan = plan_move(SALES, "new", "in_work", {**READY, flag: True}, "t1", NOW)
    assert title in _titles(plan)
    assert title not in _titles(plan_move(SALES, "new", "in_work", READY, "t1", NOW))


@pytest.mark.parametrize("budget, title, required", [
    (150000, "Проверить товарные позиции, отправить Счет клиенту", set()),
    (150001, "Отправить Счет-договор на согласование внутри компании", {"invoice_file"}),
    (500000, "Отправить Счет-договор на согласование внутри компании", {"invoice_file"}),
    (500001, "Отправить Счет, Договор на согласование внутри компании",
     {"invoice_file", "contract_file"}),
])
def test_amount_rules_at_the_boundaries(budget, title, required):
    values = {**READY, "budget": budget}
    refusal = why_not(SALES, "proposal", "contract", values)
    assert set(getattr(refusal, "errors", {})) == required
    files = {"invoice_file": 1, "contract_file": 2}
    plan = plan_move(SALES, "proposal", "contract", {**values, **files}, "t2", NOW)
    assert _titles(plan) == [title]


def test_lost_needs_a_reason_and_a_comment_for_other():
    refusal = why_not(SALES, "proposal", "lost", READY)
    assert isinstance(refusal, MissingFields) and set(refusal.errors) == {"lost_reason"}
    other = {**READY, "lost_reason": 6, "lost_reason_is_other": True}
    assert set(why_not(SALES, "proposal", "lost", other).errors) == {"lost_comment"}
    assert why_not(SALES, "proposal", "lost", {**other, "lost_comment": "Передумали"}) is None


def test_unknown_stage_is_refused():
    with pytest.raises(TransitionNotAllowed):
        plan_move(SALES, "new", "mars", READY, "t3", NOW)


def test_same_stage_again_fires_nothing_and_effect_keys_are_unique():
    assert plan_move(SALES, "in_work", "in_work", READY, "t4", NOW).effects == ()
    plan = plan_move(SALES, "new", "in_work", {**READY, "need_lawyer": True}, "t5", NOW)
    keys = [e.key for e in plan.effects]
    assert len(keys) == len(set(keys)) and all(k.startswith("t5:") for k in keys)


def test_render_leaves_unknown_placeholders_empty():
    assert render("{title} / {responsible.phone}", {"title": "A"}) == "A / "


def test_proposal_feedback_loops_until_agreed():
    from rules.engine import plan_outcome

    plan = plan_move(SALES, "in_work", "proposal", READY, "t6", NOW)
    feedback = next(e for e in plan.effects
                    if e.params.get("title") == "Связаться с клиентом, получить обратную "
                                                "связь по КП")
    rework, = plan_outcome(SALES, feedback.rule, "КП не согласовано", READY, "t7", NOW)
    assert rework.params["title"] == "Отработать возражение, переформировать КП"
    assert rework.params["creator"] == {"role": "sales_head"}
    # Closing the rework task returns to the feedback task: the loop.
    back, = plan_outcome(SALES, rework.rule, None, READY, "t8", NOW)
    assert back.params["title"] == feedback.params["title"] and back.rule == feedback.rule
    move, = plan_outcome(SALES, back.rule, "КП согласовано", READY, "t9", NOW)
    assert (move.action, move.params) == ("move_stage", {"to": "contract"})


def test_long_effect_keys_are_shortened_the_same_way_every_time():
    from rules.engine import KEY_MAX, Effect

    long_key = "t9:" + "beds.design.on_enter.x/Клиент просит корректировки/task" * 5
    first, again = (Effect(action="create_task", key=long_key, rule="r", stage="s")
                    for _ in range(2))
    assert len(first.key) <= KEY_MAX and first.key == again.key
    assert first.key.startswith("t9:")


def test_won_asks_for_the_signed_act_and_upd():
    err = why_not(SALES, "shipped", "won", READY)
    assert isinstance(err, MissingFields)
    assert set(err.errors) == {"act_file", "upd_file"}
    assert err.errors["act_file"] == ("Заполните поле «Акт выполненных работ»: оно "
                                      "обязательно на этапе «Сделка успешна»")
    assert why_not(SALES, "shipped", "won", {**READY, "act_file": 2, "upd_file": 3}) is None


def test_a_lost_deal_reopened_at_a_late_stage_owes_every_field_before_it():
    lost = {"title": "Поставка весов", "lost_reason": "price"}
    err = why_not(SALES, "lost", "shipped", lost)
    assert isinstance(err, MissingFields)
    assert {"priority", "company", "delivery_term", "kp_agreed_date"} <= set(err.errors)
    assert err.errors["priority"].endswith("оно обязательно, начиная с этапа «Взят в работу»")
