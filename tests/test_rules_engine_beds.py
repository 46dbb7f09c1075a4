"""The engine core on the shipped custom-beds pipeline (seed 004, amoCRM)."""
import datetime as dt
from pathlib import Path

import pytest

from errors import FieldErrors
from rules.definition import load_file
from rules.engine import plan_move, plan_outcome, plan_scheduled, schedule_due, why_not
from tests.rules_catalog import CATALOG

BEDS = load_file(Path(__file__).parents[1] / "rules/definitions/004_beds.yaml", CATALOG)
NOW = dt.datetime(2026, 11, 2, 13, 34)  # Monday, Moscow time
EOD = dt.datetime(2026, 11, 2, 23, 59)  # «Задача, до сегодня»
DEAL = {"title": "Тест Тестович CRM", "budget": 32000}
INVOICE = {**DEAL, "client_name": "Тестов Тест Тестович", "email": "test@test.ru",
           "phone": "8800800800", "passport": "3681543578",
           "delivery_address": "г. Нью-Йорк, ул. Бродвей"}
PAID = {**INVOICE, "payment_date": "2026-11-02", "prepayment": 32000, "debt": 0,
        "shipping_deadline": "2026-12-14", "delivery_type": "courier",
        "delivery_city": "Нью-Йорк"}


def _tasks(plan):
    return [(e.params["title"], e.params["assignee"], e.params["creator"], e.due_at)
            for e in plan.effects if e.action == "create_task"]


def test_all_stages_in_order():
    assert [s.name for s in BEDS.stages] == [
        "Неразобранное", "Первичный контакт", "Согласование дизайна", "Дизайн",
        "Согласование БЗ", "Счет выставлен", "Оплачено", "Раскрой", "Производство",
        "Распил", "Фрезеровка", "Присадка", "Сборка", "Доработка", "Шлифовка", "Грунтовка",
        "Покраска", "Упаковка", "Отгружено", "Доставлено", "Успешно реализовано",
        "Закрыто и не реализовано"]
    assert (BEDS.stage("won").kind, BEDS.stage("lost").kind) == ("won", "lost")


@pytest.mark.parametrize("source, target, values, tasks", [
    (None, "unsorted", DEAL, [("Связаться с клиентом", "responsible", "actor", EOD)]),
    ("unsorted", "first_contact", DEAL,
     [("Предложить согласовать БЗ", "responsible", "actor", EOD)]),
    ("design_agreement", "design", DEAL,
     [("Проведена оплата за дизайн? прикреплен бриф?", "responsible", "actor", EOD),
      ("Дизайн. Связаться с клиентом для уточнения деталей", {"role": "designer"}, "actor",
       EOD)]),
    ("invoiced", "paid", PAID, [("Прикрепить БЗ для производства", "responsible", "actor",
                                 EOD)]),
    ("paid", "cutting", PAID, [("Заказ оплачен, принять в работу", {"role": "constructor"},
                                "actor", EOD)]),
    ("cutting", "production", PAID, [("Принять в работу. Документация готова",
                                      {"role": "production_head"}, "actor", EOD)]),
    ("grinding", "priming", PAID, [("Контроль задолженности", "responsible", "actor", EOD)]),
    ("painting", "packing", PAID, [("Связаться с клиентом и согласовать доставку",
                                    "responsible", "actor", EOD)]),
    ("packing", "shipped", {**PAID, "sms_needed": True, "assembly_needed": True},
     [("Отправить СМС с данными транспортной компании", "responsible", "actor", EOD),
      ("Связаться с клиентом и согласовать сборку", "responsible", "actor", EOD)]),
    ("packing", "shipped", PAID, []),
    ("production", "sawing", PAID, []),
])
def test_automatic_tasks_per_stage(source, target, values, tasks):
    assert _tasks(plan_move(BEDS, source, target, values, "b1", NOW)) == tasks


def test_design_confirmation_goes_back_if_not_paid_or_no_brief():
    plan = plan_move(BEDS, "design_agreement", "design", DEAL, "b2", NOW)
    confirm = plan.effects[0]
    assert confirm.params["kind"] == "Подтверждение"
    assert confirm.params["description"] == "!!! Сменить ответственного на ДИЗАЙНЕР"
    move, = plan_outcome(BEDS, confirm.rule, "Нет: вернуть на «Согласование дизайна»", DEAL,
                         "b3", NOW)
    assert move.params == {"to": "design_agreement"}
    assert plan_outcome(BEDS, confirm.rule, "Да: оплата проведена, бриф прикреплен", DEAL,
                        "b4", NOW) == ()


def test_designer_and_constructor_confirmation_chain():
    designer = plan_move(BEDS, "design_agreement", "design", DEAL, "b5", NOW).effects[1]
    ask, = plan_outcome(BEDS, designer.rule, "Графическая модель готова", DEAL, "b6", NOW)
    assert (ask.params["title"], ask.params["assignee"], ask.params["creator"]) == (
        "Возможно ли создать такую кровать технически?", {"role": "constructor"},
        {"role": "designer"})
    with pytest.raises(FieldErrors):
        plan_outcome(BEDS, ask.rule, "Нет, нужны уточнения", DEAL, "b7", NOW)
    adapt, = plan_outcome(BEDS, ask.rule, "Нет, нужны уточнения", DEAL, "b7", NOW,
                          comment="Слишком узкая лестница")
    assert adapt.params["assignee"] == {"role": "designer"}
    yes, = plan_outcome(BEDS, ask.rule, "Да, такую кровать сделать можем", DEAL, "b8", NOW)
    assert (yes.params["title"], yes.params["creator"]) == (
        "Да, такую кровать сделать можем", {"role": "constructor"})
    again, = plan_outcome(BEDS, yes.rule, "Клиент просит корректировки", DEAL, "b9", NOW,
                          comment="Другой цвет")
    assert again.params["title"] == "Да, такую кровать сделать можем"
    ready, = plan_outcome(BEDS, yes.rule, "Дизайн согласован с клиентом", DEAL, "b10", NOW)
    assert (ready.params["title"], ready.params["assignee"], ready.params["creator"]) == (
        "Связаться с клиентом. Дизайн готов", "responsible", {"role": "designer"})


def test_invoice_requires_client_data_and_controls_payment_after_3_days():
    err = why_not(BEDS, "bz_agreement", "invoiced", {"title": "x"})
    assert err.message == (
        "Нельзя перейти на этап «Счет выставлен»: не заполнены поля «ФИО», «E-mail», "
        "«Телефон», «Серия и номер паспорта», «Адрес клиента для доставки», «Бюджет»")
    later, = plan_move(BEDS, "bz_agreement", "invoiced", INVOICE, "b11", NOW).effects
    assert later.action == "schedule"
    assert later.due_at == dt.datetime(2026, 11, 5, 13, 34)
    (task,), _ = plan_scheduled(BEDS, later, INVOICE, later.due_at)
    assert task.params["title"] == "Контроль оплаты счета"
    assert task.due_at == dt.datetime(2026, 11, 5, 23, 59)
    move, = plan_outcome(BEDS, task.rule, "Счет оплачен", INVOICE, "b12", NOW)
    assert move.params == {"to": "paid"}


def test_paid_requires_payment_and_delivery_fields():
    err = why_not(BEDS, "invoiced", "paid", INVOICE)
    assert err.message == (
        "Нельзя перейти на этап «Оплачено»: не заполнены поля «Дата оплаты», "
        "«Сумма предоплаты», «Сумма задолженности», «Крайний срок отгрузки», "
        "«Тип доставки», «Город доставки»")
    # No debt is a value, not an empty field.
    assert why_not(BEDS, "invoiced", "paid", PAID) is None


def test_call_the_day_after_the_planned_delivery():
    later = next(e for e in plan_move(BEDS, "packing", "shipped", PAID, "b13", NOW).effects
                 if e.action == "schedule")
    assert later.due_at is None
    assert schedule_due(later.params, {"planned_delivery_date": "2026-11-18"}, NOW) == \
        dt.datetime(2026, 11, 19, 10, 0)
    (task,), _ = plan_scheduled(BEDS, later, PAID, dt.datetime(2026, 11, 19, 10, 0))
    assert task.params["title"] == "Подтвердить получение заказа"
    assert task.params["kind"] == "Связаться с клиентом"


@pytest.mark.parametrize("source, target, due, title", [
    ("first_contact", "lost", dt.datetime(2026, 11, 16, 13, 34),
     "Проинформировать клиента об акции"),
    ("delivered", "won", dt.datetime(2026, 11, 9, 13, 34),
     "Напомнить об акции. Получить отзыв"),
])
def test_delays_after_refusal_and_success(source, target, due, title):
    later, = plan_move(BEDS, source, target, PAID, "b14", NOW).effects
    assert (later.action, later.due_at) == ("schedule", due)
    (task,), following = plan_scheduled(BEDS, later, PAID, due)
    assert (task.params["title"], task.params["assignee"]) == (title, "responsible")
    assert following is None


def test_invoiced_refuses_a_zero_budget():
    from errors import MissingFields
    from rules.engine import why_not

    stage = next(s for s in BEDS.stages if s.name == "Счет выставлен")
    values = {**DEAL, **{k: "x" for k in stage.required}}
    assert why_not(BEDS, None, stage.key, values) is None
    refusal = why_not(BEDS, None, stage.key, {**values, "budget": 0})
    assert isinstance(refusal, MissingFields) and set(refusal.errors) == {"budget"}
