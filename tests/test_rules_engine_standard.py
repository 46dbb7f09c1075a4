"""The engine core on the shipped «Стандартный сценарий» (seed 003)."""
import datetime as dt
from pathlib import Path

from rules.definition import load_file
from rules.engine import plan_field_change, plan_move, plan_outcome, why_not
from tests.rules_catalog import CATALOG

STANDARD = load_file(Path(__file__).parents[1] / "rules/definitions/003_standard.yaml",
                     CATALOG)
NOW = dt.datetime(2026, 11, 3, 12, 0)  # Tuesday before Unity Day (4.11)
DEAL = {"title": "Сайт для пекарни", "contacts": [4], "items": [1, 2], "budget": 85000}


def test_stages_proposal_contract_invoice_payment():
    assert [s.name for s in STANDARD.stages] == [
        "Обращение", "Расчет стоимости", "Коммерческое предложение", "Договор", "Счет",
        "Оплачено", "Сделка проиграна"]


def test_each_inquiry_gets_a_task():
    task, = plan_move(STANDARD, None, "inquiry", {"title": "Звонок"}, "s1", NOW).effects
    assert task.params["title"] == "Связаться с клиентом по обращению"
    assert task.due_at == dt.datetime(2026, 11, 5, 12, 0)


def test_calculation_needs_a_contact_and_the_proposal_the_calculator_lines():
    assert list(why_not(STANDARD, "inquiry", "calculation", {}).errors) == ["contacts"]
    err = why_not(STANDARD, "calculation", "proposal", {"contacts": [4], "budget": None})
    assert err.message == ("Нельзя перейти на этап «Коммерческое предложение»: не заполнены "
                           "поля «Позиции», «Бюджет»")
    task, = plan_move(STANDARD, "calculation", "proposal", DEAL, "s2", NOW).effects
    assert task.params["title"] == "Сформировать КП по шаблону и отправить клиенту ссылку"


def test_filled_brief_notifies_the_manager_by_email():
    notice, = plan_field_change(STANDARD, {**DEAL, "brief_filled": True},
                                {**DEAL, "brief_filled": False}, "s3", NOW,
                                stage_key="calculation")
    assert notice.params == {"to": ["responsible"], "channel": "email",
                             "text": "Клиент заполнил анкету по сделке «Сайт для пекарни»"}


def test_contract_requisites_depend_on_the_client_type():
    assert list(why_not(STANDARD, "proposal", "contract", DEAL).errors) == ["client_type"]
    legal = why_not(STANDARD, "proposal", "contract", {**DEAL, "client_type": "legal"})
    assert list(legal.errors) == ["legal_name", "inn", "kpp", "ogrn", "legal_address",
                                  "bank_details"]
    ip = why_not(STANDARD, "proposal", "contract", {**DEAL, "client_type": "entrepreneur"})
    assert list(ip.errors) == ["entrepreneur_name", "inn", "ogrnip", "bank_details"]
    person = why_not(STANDARD, "proposal", "contract", {**DEAL, "client_type": "person"})
    assert person.message == ("Нельзя перейти на этап «Договор»: не заполнены поля «ФИО», "
                              "«Паспортные данные», «Адрес регистрации»")


def test_invoice_paid_manually_or_by_the_task_moves_to_paid():
    values = {**DEAL, "contract_file": 7}
    task, = plan_move(STANDARD, "contract", "invoice", values, "s4", NOW).effects
    assert task.params["title"] == "Выставить счет и отправить клиенту ссылку"
    set_paid, move = plan_outcome(STANDARD, task.rule, "Счет оплачен", values, "s5", NOW)
    assert set_paid.params == {"field": "invoice_paid", "value": True}
    assert move.params == {"to": "paid"}
    notice, move = plan_field_change(STANDARD, {**values, "invoice_paid": True},
                                     {**values, "invoice_paid": None}, "s6", NOW,
                                     stage_key="invoice")
    assert notice.params["text"] == "Счет по сделке «Сайт для пекарни» оплачен"
    assert move.params == {"to": "paid"}
    assert list(why_not(STANDARD, "invoice", "paid", values).errors) == \
        ["invoice_file", "payment_date"]


def test_lost_deals_keep_the_reason_for_the_funnel_report():
    assert list(why_not(STANDARD, "proposal", "lost", DEAL).errors) == ["lost_reason"]
