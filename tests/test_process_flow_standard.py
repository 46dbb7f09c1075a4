"""Seed 003's «Стандартный сценарий» (003_standard.yaml) walked through the REST API under a
frozen clock: a task on every stage with its deadline in working days (04.11.2026 is a
holiday), the contacts / calculator / budget requirements, the requisites by client type,
the invoice outcome and the «Счет оплачен» switch, the brief notice and the lost reason."""
import pytest
import time_machine

from app.extensions import db
from models.deal import Deal
from models.document import DocumentVersion
from models.party import Company, Contact
from process import documents, payments
from process.document_context import build_context
from tests.document_helpers import run_documents
from tests.helpers import ref_item
from tests.process_flow_helpers import (attach, close, custom_of, frozen, history, install,
                                        messages, move, msk, new_deal, new_tasks, put_deal,
                                        stage_of, task, tasks, user, utc)

FRIDAY = msk(2026, 10, 30, 15, 0)
TUESDAY = msk(2026, 11, 3, 15, 0)
LEGAL = {"client_type": "legal", "legal_name": "ООО «Ромашка»", "inn": "7707083893",
         "kpp": "770701001", "ogrn": "1027700132195", "legal_address": "г. Москва",
         "bank_details": "р/с 40702810000000000001"}


@pytest.fixture()
def standard(app):
    return install("003_standard.yaml", "standard")


@pytest.fixture()
def person(app):
    company = Company(kind="legal", name="ООО «Ромашка»", email="info@romashka.ru")
    contact = Contact(last_name="Иванова", first_name="Анна", company=company,
                      email="anna@romashka.ru")
    db.session.add_all([company, contact])
    db.session.commit()
    return company, contact


def _deal(login, standard, person, **extra):
    company, _contact = person
    with frozen(login, FRIDAY) as admin:
        return new_deal(admin, standard, "inquiry", title="Обращение: стеллажи",
                        company=company.id, **extra)


def _ready_for_contract(login, standard, person):
    company, contact = person
    deal = _deal(login, standard, person, contacts=[contact.id])
    with frozen(login, FRIDAY, "manager") as manager:
        resp = manager.api("post", "/api/v1/deal_item/", json={
            "deal": deal.id, "name": "Стеллаж", "quantity": 2, "price": 50000})
        assert resp.status_code == 201, resp.json
        assert move(manager, deal, standard, "proposal").status_code == 200
    return deal


def test_inquiry_calculation_and_proposal(login, standard, person):
    company, contact = person
    deal = _deal(login, standard, person)
    assert new_tasks(deal, 0) == [("Связаться с клиентом по обращению", "manager", "admin",
                                   utc(2026, 11, 2, 15, 0))]
    assert tasks(deal)[0].description == \
        "Добавьте контактное лицо и отметьте суть обращения комментарием"
    assert [(h.stage_key, h.deadline_at) for h in history(deal)] == [
        ("inquiry", utc(2026, 11, 2, 15, 0))]
    with frozen(login, TUESDAY, "manager") as manager:
        resp = move(manager, deal, standard, "calculation")
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"contacts"}
        assert resp.json["message"]["contacts"] == [
            "Заполните поле «Контакты»: оно обязательно на этапе «Расчет стоимости»"]
        resp = move(manager, deal, standard, "calculation", contacts=[contact.id])
        assert resp.status_code == 200, resp.json
        # 1 working day from Tuesday over the Wednesday holiday: Thursday 05.11
        assert new_tasks(deal, 1) == [("Рассчитать стоимость в калькуляторе", "manager",
                                       "manager", utc(2026, 11, 5, 15, 0))]
        resp = move(manager, deal, standard, "proposal")
        assert resp.status_code == 422
        # the budget defaults to 0, which counts as filled: only the items are missing
        assert set(resp.json["message"]) == {"items"}
        assert resp.json["message"]["items"] == [
            "Заполните поле «Позиции»: оно обязательно на этапе «Коммерческое предложение»"]
        resp = manager.api("post", "/api/v1/deal_item/", json={
            "deal": deal.id, "name": "Стеллаж", "quantity": 2, "price": 50000})
        assert resp.status_code == 201, resp.json
        db.session.expire_all()
        assert db.session.get(Deal, deal.id).budget == 100000
        assert move(manager, deal, standard, "proposal").status_code == 200
    assert new_tasks(deal, 2) == [("Сформировать КП по шаблону и отправить клиенту ссылку",
                                   "manager", "manager", utc(2026, 11, 5, 15, 0))]


@pytest.mark.parametrize("client_type, missing", [
    ("legal", {"legal_name", "inn", "kpp", "ogrn", "legal_address", "bank_details"}),
    ("entrepreneur", {"entrepreneur_name", "inn", "ogrnip", "bank_details"}),
    ("person", {"person_name", "passport", "registration_address"}),
])
def test_contract_requisites_by_client_type(login, standard, person, client_type, missing):
    deal = _ready_for_contract(login, standard, person)
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, standard, "contract")
        assert resp.status_code == 422
        assert resp.json["message"] == {"client_type": [
            "Заполните поле «Тип клиента»: оно обязательно на этапе «Договор»"]}
        resp = move(manager, deal, standard, "contract", custom={"client_type": client_type})
        assert resp.status_code == 422
        assert set(resp.json["message"]) == missing
        assert resp.json["message"]["bank_details" if "bank_details" in missing
                                    else "passport"][0].startswith(
            "Заполните поле «Банковские реквизиты»" if "bank_details" in missing
            else "Заполните поле «Паспортные данные»")
    assert stage_of(deal) == "proposal"


def test_contract_invoice_and_paid_by_the_task_outcome(login, standard, person):
    deal = _ready_for_contract(login, standard, person)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, standard, "contract", custom=LEGAL).status_code == 200
        assert new_tasks(deal, 2) == [
            ("Сформировать договор по шаблону и отправить клиенту ссылку", "manager",
             "manager", utc(2026, 11, 5, 15, 0))]
        resp = move(manager, deal, standard, "invoice")
        assert resp.status_code == 422
        assert resp.json["message"] == {"contract_file": [
            "Заполните поле «Договор»: оно обязательно на этапе «Счет»"]}
        assert move(manager, deal, standard, "invoice",
                    custom={**LEGAL, "contract_file": attach(manager, deal, "Договор.pdf")}
                    ).status_code == 200
        invoice = task(deal, "Выставить счет и отправить клиенту ссылку")
        assert (invoice.assignee.username, invoice.creator.username, invoice.deadline) == \
            ("manager", "manager", utc(2026, 11, 5, 15, 0))
        assert invoice.outcome_choices == ["Счет оплачен", "Счет не оплачен"]
        # «Оплачено» needs the invoice and the payment date
        resp = close(manager, invoice, "Счет оплачен")
        assert resp.status_code == 422
        assert stage_of(deal) == "invoice"
        invoice_file = attach(manager, deal, "Счёт.pdf")
        assert put_deal(manager, deal, custom={**custom_of(deal), "invoice_file": invoice_file,
                                               "payment_date": "2026-11-03"}).status_code == 200
        assert close(manager, tasks(deal)[-1], "Счет оплачен").status_code == 200
    assert stage_of(deal) == "paid"
    assert custom_of(deal)["invoice_paid"] is True
    assert [h.stage_key for h in history(deal)] == [
        "inquiry", "proposal", "contract", "invoice", "paid"]


def test_invoice_not_paid_keeps_the_stage(login, standard, person):
    deal = _ready_for_contract(login, standard, person)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, standard, "invoice",
                    custom={**LEGAL, "contract_file": attach(manager, deal, "Договор.pdf")}
                    ).status_code == 200
        invoice = task(deal, "Выставить счет и отправить клиенту ссылку")
        assert close(manager, invoice, "Счет не оплачен").status_code == 200
    assert stage_of(deal) == "invoice"
    assert custom_of(deal).get("invoice_paid") is None


def test_marking_the_invoice_paid_by_hand_notifies_and_moves(login, standard, person):
    deal = _ready_for_contract(login, standard, person)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, standard, "invoice",
                    custom={**LEGAL, "contract_file": attach(manager, deal, "Договор.pdf")}
                    ).status_code == 200
        resp = put_deal(manager, deal, custom={
            **custom_of(deal), "invoice_file": attach(manager, deal, "Счёт.pdf"),
            "payment_date": "2026-11-03",
            "invoice_paid": True})
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "paid"
    notes = [(m.body, m.recipients) for m in messages(deal)]
    # `channel: email` in the definition: the notice goes to the manager's address
    assert notes == [("Счет по сделке «Обращение: стеллажи» оплачен", [user("manager").email])]


def test_the_filled_brief_notifies_the_manager_once(login, standard, person):
    deal = _deal(login, standard, person)
    with frozen(login, FRIDAY, "manager") as manager:
        assert put_deal(manager, deal, custom={"brief_filled": True}).status_code == 200
        assert put_deal(manager, deal, title="Обращение: стеллажи (2)").status_code == 200
    [note] = messages(deal)
    assert (note.body, note.recipients) == (
        "Клиент заполнил анкету по сделке «Обращение: стеллажи»", [user("manager").email])


def test_the_brief_notice_goes_by_email(login, standard, person):
    deal = _deal(login, standard, person)
    with frozen(login, FRIDAY, "manager") as manager:
        assert put_deal(manager, deal, custom={"brief_filled": True}).status_code == 200
    [note] = messages(deal)
    assert note.kind == "email"
    assert note.recipients == ["manager@example.com"]


def test_lost_needs_the_reason(login, standard, person):
    deal = _deal(login, standard, person)
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, standard, "lost")
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"lost_reason"}
        resp = move(manager, deal, standard, "lost", lost_reason=ref_item("lost_reason",
                                                                         "other").id)
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"lost_comment"}
        resp = move(manager, deal, standard, "lost",
                    lost_reason=ref_item("lost_reason", "too_long").id)
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "lost"


def test_the_contract_and_invoice_made_from_templates_fill_their_fields(
        login, standard, person, document_templates):
    """«Договор из заранее созданных шаблонов ... реквизиты клиента»: the contract generated
    on the deal is its «Договор» (the move to «Счет» needs nothing attached by hand), with
    the requisites of the client type the deal holds; the invoice likewise fills «Счет»; a
    new version of the contract takes its predecessor's place in the field."""
    deal = _ready_for_contract(login, standard, person)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, standard, "contract", custom=LEGAL).status_code == 200
    deal = db.session.get(Deal, deal.id)
    contract = documents.request(deal, "deal", "supply_contract")
    db.session.commit()
    assert custom_of(deal).get("contract_file") is None  # rendered after commit
    run_documents()
    first_file = db.session.get(DocumentVersion, contract.latest.id).attachment_id
    assert custom_of(deal)["contract_file"] == first_file
    context = build_context(contract, db.session.get(Deal, deal.id))
    assert {k: context["buyer"][k] for k in ("type", "name", "inn", "kpp", "ogrn")} == {
        "type": "legal", "name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "770701001",
        "ogrn": "1027700132195"}
    assert context["totals"]["total_in_words"].startswith("Сто тысяч рублей 00 копеек")

    documents.regenerate(db.session.get(type(contract), contract.id))
    db.session.commit()
    run_documents()
    db.session.expire_all()
    second_file = db.session.get(type(contract), contract.id).latest.attachment_id
    assert second_file != first_file and custom_of(deal)["contract_file"] == second_file

    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, standard, "invoice").status_code == 200
    invoice = documents.request(db.session.get(Deal, deal.id), "deal", "invoice")
    db.session.commit()
    run_documents()
    db.session.expire_all()
    assert custom_of(deal)["invoice_file"] == \
        db.session.get(type(invoice), invoice.id).latest.attachment_id

    # «Оплачен» (by hand or the bank's notice) sets «Счет оплачен» and «Дата оплаты»: the
    # definition's own reaction notifies the manager (once: not the generic notice too) and
    # closes the deal at «Оплачено».
    with time_machine.travel(TUESDAY):
        assert payments.mark_paid(db.session.get(type(invoice), invoice.id),
                                  user("accountant").id)
        db.session.commit()
    assert stage_of(deal) == "paid"
    assert {k: custom_of(deal)[k] for k in ("invoice_paid", "payment_date")} == {
        "invoice_paid": True, "payment_date": "2026-11-03"}
    assert [m.body for m in messages(deal) if "оплачен" in m.body] == [
        "Счет по сделке «Обращение: стеллажи» оплачен"]
    assert not payments.mark_paid(db.session.get(type(invoice), invoice.id), None)
