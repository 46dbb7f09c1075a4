"""The engine core on the shipped eco-packaging deal pipeline (seed 002): negotiation
outcomes, samples with the weekly question, feedback, the parallel document approval,
production letters, shipment and the payment reminder before «Срок ожидания оплаты»."""
import datetime as dt
from pathlib import Path

import pytest

from errors import FieldErrors
from rules.definition import load_file
from rules.engine import (approval_route, plan_approval_result, plan_field_change, plan_move,
                          plan_outcome, plan_scheduled, schedule_due, why_not)


from tests.rules_catalog import CATALOG

DEALS = load_file(Path(__file__).parents[1] / "rules/definitions/002_deals.yaml", CATALOG)
NOW = dt.datetime(2026, 10, 30, 15, 0)  # Friday before Unity Day (Wednesday 4.11)
DEAL = {"title": "Крафт-пакеты", "company_type": "Кофейня", "website": "https://coffee.ru",
        "delivery_address": "Москва"}
RESP = {"responsible": {"full_name": "Петрова Анна", "phone": "+7 495 2",
                        "email": "anna@eco.ru"}}


def _task(effects, title):
    found = [e for e in effects if e.action == "create_task" and e.params["title"] == title]
    assert len(found) == 1, [e.params.get("title") for e in effects]
    return found[0]


def test_stages_follow_the_seed():
    assert [s.name for s in DEALS.stages] == [
        "Установление контакта", "Коммерческое предложение", "Переговоры о сотрудничестве",
        "Подготовка образцов", "Отправка образцов", "Feedback", "Подписание договора",
        "Предоплата", "Производство", "Отгрузка", "Оплата", "Отложенные",
        "Выигранные сделки", "Проигранные сделки"]


def test_contact_call_and_proposal_required_fields():
    task = _task(plan_move(DEALS, None, "contact", DEAL, "d1", NOW).effects,
                 "Совершить звонок потенциальному клиенту")
    assert task.due_at == dt.datetime(2026, 11, 2, 15, 0)
    err = why_not(DEALS, "contact", "proposal", {"title": "x"})
    assert err.message == ("Нельзя перейти на этап «Коммерческое предложение»: не заполнены "
                           "поля «Тип компании», «Ссылка на сайт», «Адрес доставки»")


def test_proposal_is_sent_when_its_generation_fields_are_complete():
    assert plan_move(DEALS, "contact", "proposal", DEAL, "d2", NOW).effects == ()
    old = {**DEAL, "kp_product": "Крафт-пакет 20×30", "kp_quantity": 5000, "kp_price": 12}
    new = {**old, "kp_terms": "EXW Москва"}
    kp, = plan_field_change(DEALS, new, old, "d3", NOW, stage_key="proposal", context=RESP)
    assert (kp.action, kp.params) == ("generate_document", {
        "kind": "commercial_offer", "template": "eco_commercial_offer", "send_to": "client"})
    # A later correction of a complete proposal does not send it again.
    assert plan_field_change(DEALS, {**new, "kp_price": 11}, new, "d4", NOW,
                             stage_key="proposal") == ()


def test_negotiation_call_outcomes_with_the_second_question():
    call = _task(plan_move(DEALS, "proposal", "negotiation", DEAL, "d5", NOW).effects,
                 "Звонок")
    assert call.params["description"] == "Удалось ли связаться с клиентом? Да/Нет"
    rule = call.rule
    again, = plan_outcome(DEALS, rule, "Нет", DEAL, "k1", NOW)
    assert (again.action, again.params["title"]) == ("create_task", "Звонок")
    with pytest.raises(FieldErrors) as err:
        plan_outcome(DEALS, rule, "Да", DEAL, "k2", NOW)
    assert "выберите вариант: Проигранная сделка, Ожидание, Отложенные" in err.value.message
    for choice, stage in [("Проигранная сделка", "lost"), ("Отложенные", "postponed"),
                          ("Вернуть на этап «КП»", "proposal")]:
        move, = plan_outcome(DEALS, rule, ["Да", choice], DEAL, "k3", NOW)
        assert (move.action, move.params) == ("move_stage", {"to": stage})
    assert plan_outcome(DEALS, rule, ["Да", "Ожидание"], DEAL, "k4", NOW) == ()


def test_samples_need_sizes_fastening_quantity_and_the_task_carries_them():
    err = why_not(DEALS, "negotiation", "samples_prep", DEAL)
    assert list(err.errors) == ["sample_sizes", "sample_fastening", "sample_quantity"]
    values = {**DEAL, "sample_sizes": "20×30×10", "sample_fastening": "клей",
              "sample_quantity": 10}
    task = _task(plan_move(DEALS, "negotiation", "samples_prep", values, "d6", NOW).effects,
                 "Подготовка образцов")
    assert task.params["description"] == ("Размеры: 20×30×10; тип скрепления: клей; "
                                          "количество: 10")


def test_weekly_question_whether_the_client_got_the_samples():
    repeat, = plan_move(DEALS, "samples_prep", "samples_sent", DEAL, "d7", NOW).effects
    assert repeat.action == "repeat" and repeat.params["every"] == "1w"
    assert repeat.due_at == dt.datetime(2026, 11, 6, 15, 0)
    effects, following = plan_scheduled(DEALS, repeat, DEAL, repeat.due_at, occurrence=1,
                                        stage_key="samples_sent")
    task, = effects
    assert task.params["title"] == "Получил ли клиент образцы?"
    assert task.key == "d7:samples_sent:on_enter:samples_received:1"
    assert task.due_at == dt.datetime(2026, 11, 9, 15, 0)  # 1 working day, from Friday
    assert following == dt.datetime(2026, 11, 13, 15, 0)
    second, _ = plan_scheduled(DEALS, repeat, DEAL, following, occurrence=2,
                               stage_key="samples_sent")
    assert second[0].key.endswith(":2")
    # Once the deal left the stage the repeat stops.
    assert plan_scheduled(DEALS, repeat, DEAL, following, stage_key="feedback") == ((), None)
    # «Да» needs who confirmed, «Нет» where the parcel is.
    with pytest.raises(FieldErrors) as err:
        plan_outcome(DEALS, task.rule, "Да", DEAL, "k5", NOW)
    assert err.value.errors == {
        "comment": "Оставьте комментарий: ФИО того, кто подтвердил получение посылки"}
    assert plan_outcome(DEALS, task.rule, "Нет", DEAL, "k6", NOW,
                        comment="На складе СДЭК") == ()


def test_feedback_outcomes_lost_postponed_or_next_stage():
    task = _task(plan_move(DEALS, "samples_sent", "feedback", DEAL, "d8", NOW).effects,
                 "Обратная связь")
    lost = plan_outcome(DEALS, task.rule, "Неинтересно", DEAL, "k7", NOW,
                        comment="Дорого")
    assert [(e.action, e.params) for e in lost] == [
        ("set_field", {"field": "lost_comment", "value": "Дорого"}),
        ("move_stage", {"to": "lost"})]
    later = plan_outcome(DEALS, task.rule, "Отложить", DEAL, "k8", NOW, comment="После НГ")
    assert [e.params for e in later] == [{"field": "postpone_comment", "value": "После НГ"},
                                         {"to": "postponed"}]
    nxt, = plan_outcome(DEALS, task.rule, "В производство", DEAL, "k9", NOW)
    assert nxt.params == {"to": "contract"}


def test_contract_checklist_and_parallel_approval_with_the_head():
    """«Подготовка документов» by its checklist, and «Согласование документов» with the head
    in parallel: whichever ends second moves the deal on."""
    effects = plan_move(DEALS, "feedback", "contract", DEAL, "d9", NOW).effects
    prepare = _task(effects, "Подготовка документов")
    assert prepare.params["checklist"]
    approval = next(e for e in effects if e.action == "start_approval")
    assert approval.params["title"] == "Согласование документов по сделке «Крафт-пакеты»"
    assert approval_route(DEALS, approval.rule)["steps"][0]["approvers"] == \
        ["responsible_head"]
    with pytest.raises(FieldErrors) as err:
        plan_outcome(DEALS, prepare.rule, "Документы подготовлены и прикреплены", DEAL,
                     "k10", NOW)
    assert err.value.errors == {"signed_documents": "Заполните поле «Полученные документы»"}
    # The head has not approved yet: the documents are marked prepared, the deal stays.
    done = plan_outcome(DEALS, prepare.rule, "Документы подготовлены и прикреплены",
                        {**DEAL, "signed_documents": [4]}, "k11", NOW)
    assert [e.action for e in done] == ["set_field", "notify"]
    # The head approved first: preparing the documents moves the deal on.
    done = plan_outcome(DEALS, prepare.rule, "Документы подготовлены и прикреплены",
                        {**DEAL, "signed_documents": [4], "documents_approved": True},
                        "k12", NOW)
    assert done[-1].params == {"to": "prepayment"}
    # And the other way round: the approval's result moves it when the documents are ready.
    approved = plan_approval_result(DEALS, approval.rule, "on_approved",
                                    {**DEAL, "documents_prepared": True}, "a1", NOW)
    assert [e.action for e in approved] == ["set_field", "move_stage"]
    approved = plan_approval_result(DEALS, approval.rule, "on_approved", DEAL, "a2", NOW)
    assert [e.action for e in approved] == ["set_field"]
    rework = plan_approval_result(DEALS, approval.rule, "on_rework", DEAL, "a3", NOW,
                                  context={"approval": {"comment": "Нет печати"}},
                                  comment="Нет печати")
    assert rework[0].params == {"field": "documents_remarks", "value": "Нет печати"}
    assert rework[1].params["title"] == "Доработать документы по сделке «Крафт-пакеты»: " \
        "Нет печати"


def test_prepayment_fields_and_production_letters():
    err = why_not(DEALS, "contract", "prepayment", DEAL)
    assert err.message == ("Нельзя перейти на этап «Предоплата»: не заполнены поля "
                           "«Документы подготовлены», «Документы согласованы руководителем», "
                           "«Вид упаковки», «Стоимость», «Процент предоплаты»")
    values = {**DEAL, "packaging_type": "Крафт-пакет", "cost": 60000, "prepayment_percent": 50}
    effects = plan_move(DEALS, "prepayment", "production", values, "d10", NOW,
                        context=RESP).effects
    letter = next(e for e in effects if e.action == "send_message")
    assert letter.params["subject"] == "Ваш заказ принят"
    request = _task(effects, "Формирование заявки")
    assert request.due_at == dt.datetime(2026, 11, 3, 15, 0)
    status, = plan_outcome(DEALS, request.rule, "Заявка сформирована", values, "k13", NOW,
                           context=RESP)
    assert (status.action, status.params["subject"]) == ("send_message",
                                                         "Статус вашего заказа")


def test_shipment_documents_then_scans_mail_the_client_and_move_on():
    task = _task(plan_move(DEALS, "production", "shipment", DEAL, "d11", NOW).effects,
                 "Выписка документов")
    assert task.params["checklist"] == ["CMR", "invoice", "packing list", "акт", "спецификация"]
    old = {**DEAL, "shipping_scans": None}
    letter, move = plan_field_change(DEALS, {**old, "shipping_scans": [31]}, old, "d12", NOW,
                                     stage_key="shipment")
    assert letter.params["attachments"] == ["shipping_scans"]
    assert letter.params["subject"] == "Ваш заказ отправлен"
    assert move.params == {"to": "payment"}


def test_payment_reminder_three_days_before_the_expected_date():
    effects = plan_move(DEALS, "shipment", "payment", DEAL, "d13", NOW).effects
    fill = _task(effects, "Заполнить поле «Срок ожидания оплаты»")
    assert fill.params["fields"] == ["payment_due_date"]
    reminder = next(e for e in effects if e.action == "schedule")
    assert reminder.due_at is None  # the date is not known yet
    values = {**DEAL, "payment_due_date": dt.date(2026, 11, 20)}
    assert schedule_due(reminder.params, values, NOW) == dt.datetime(2026, 11, 17, 9, 0)
    assert schedule_due(reminder.params, {**DEAL, "payment_due_date": "2026-12-01"},
                        NOW) == dt.datetime(2026, 11, 28, 9, 0)
    task, = plan_scheduled(DEALS, reminder, values, dt.datetime(2026, 11, 17, 9, 0))[0]
    assert task.params["title"] == "Напомнить клиенту об оплате"
    assert task.params["description"] == "Срок ожидания оплаты: 20.11.2026"
    # Known on entering: due at once.
    planned = plan_move(DEALS, "shipment", "payment", values, "d14", NOW).effects
    assert next(e for e in planned if e.action == "schedule").due_at == \
        dt.datetime(2026, 11, 17, 9, 0)


def test_postponed_call_is_due_on_the_call_back_date():
    call = _task(plan_move(DEALS, "feedback", "postponed", DEAL, "d15", NOW).effects,
                 "Звонок клиенту")
    assert call.due_at is None and call.params["fields"] == ["callback_date"]
    assert schedule_due(call.params, {"callback_date": "2026-11-16"}, NOW,
                        offset="deadline") == dt.datetime(2026, 11, 16, 10, 0)
