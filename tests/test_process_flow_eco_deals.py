"""Seed 002's deal pipeline «Продажи (эко-упаковка)» (002_deals.yaml) walked through the REST
API under a frozen clock: tasks and their deadlines in working days (04.11.2026 is a public
holiday), required-field refusals, the letters, the «Нет» call loop, the weekly «Получил ли
клиент образцы?» repeat, the approval chain and the payment reminder before «Срок ожидания
оплаты»."""
import pytest
from sqlalchemy import select

from app.extensions import db
from models.party import Company
from app.attachments import path_of
from documents.sandbox import pdf_text
from models.document import Document
from tests.document_helpers import run_documents
from tests.process_flow_helpers import (attach, close, custom_of, frozen, install, messages,
                                        move, msk, new_deal, new_tasks, put_deal, schedules,
                                        stage_of, task, tasks, text, user, utc)

# «Отгрузка» generates the shipment documents: the shipped templates must be there.
pytestmark = pytest.mark.usefixtures("document_templates")

FRIDAY = msk(2026, 10, 30, 15, 0)
TUESDAY = msk(2026, 11, 3, 15, 0)
KP = {"kp_product": "Пакеты крафт", "kp_quantity": 1000, "kp_price": 12.5,
      "kp_terms": "Самовывоз"}
PROPOSAL = {"company_type": "Ресторан", "website": "https://eco.example.ru",
            "delivery_address": "г. Москва, ул. Ленина, 1"}
SAMPLES = {"sample_sizes": "20×30", "sample_fastening": "Клей", "sample_quantity": 5}
PREPAYMENT = {"packaging_type": "Пакет", "cost": 12500, "prepayment_percent": 50}
# A move that jumps over stages must satisfy their required fields too.
PASSED = {**PROPOSAL, **SAMPLES, **PREPAYMENT, "documents_prepared": True,
          "documents_approved": True}


@pytest.fixture()
def eco(app):
    manager = user("manager")
    manager.phone = "+7 495 000-00-01"
    db.session.commit()
    return install("002_deals.yaml", "eco_deals")


@pytest.fixture()
def buyer(app):
    company = Company(kind="legal", name="ООО «Эко»", email="info@eco.ru")
    db.session.add(company)
    db.session.commit()
    return company


def documents_of(deal) -> list[Document]:
    db.session.expire_all()
    return list(db.session.scalars(select(Document).where(
        Document.entity == "deal", Document.record_id == deal.id).order_by(Document.id)))


def _deal(login, eco, buyer, stage_key="contact", when=FRIDAY, **custom):
    with frozen(login, when) as admin:
        return new_deal(admin, eco, stage_key, title="Эко-пакеты", company=buyer.id,
                        custom=custom or None)


def test_contact_and_proposal_with_the_generated_kp_letter(login, eco, buyer):
    deal = _deal(login, eco, buyer)
    assert new_tasks(deal, 0) == [("Совершить звонок потенциальному клиенту", "manager",
                                   "admin", utc(2026, 11, 2, 15, 0))]
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, eco, "proposal")
        assert resp.status_code == 422
        assert resp.json["message"] == {
            "company_type": ["Заполните поле «Тип компании»: оно обязательно на этапе "
                             "«Коммерческое предложение»"],
            "website": ["Заполните поле «Ссылка на сайт»: оно обязательно на этапе "
                        "«Коммерческое предложение»"],
            "delivery_address": ["Заполните поле «Адрес доставки»: оно обязательно на этапе "
                                 "«Коммерческое предложение»"]}
        assert move(manager, deal, eco, "proposal", custom=PROPOSAL).status_code == 200
        assert messages(deal) == []  # the КП fields are still empty: no letter yet
        # the last КП field filled in generates the proposal from the deal's fields ...
        assert put_deal(manager, deal, custom={**PROPOSAL, **KP}).status_code == 200
        [kp] = documents_of(deal)
        assert (kp.kind, kp.template_key, kp.latest.send_to) == (
            "commercial_offer", "eco_commercial_offer", "info@eco.ru")
        assert messages(deal, "email") == []  # the letter waits for the PDF
        # saved again: no second proposal
        assert put_deal(manager, deal, title="Эко-пакеты (опт)").status_code == 200
    assert len(documents_of(deal)) == 1
    # ... rendered after commit and e-mailed to the client with the PDF
    run_documents()
    [kp] = documents_of(deal)
    [letter] = messages(deal, "email")
    assert (letter.recipients, letter.attachments) == (["info@eco.ru"], [kp.latest.attachment_id])
    assert letter.subject == "Коммерческое предложение № 1 от 30.10.2026"
    assert text(letter.body) == (
        "Здравствуйте! Направляем коммерческое предложение № 1 от 30.10.2026. Документ во "
        "вложении. Ваш менеджер Тестов Иван, телефон +7 495 000-00-01, почта "
        "manager@example.com")
    pdf = pdf_text(path_of(kp.latest.attachment).read_bytes())
    for words in ("Коммерческое предложение № 1", "Пакеты крафт", "1 000", "12,50",
                  "12 500,00", "Двенадцать тысяч пятьсот рублей 00 копеек", "Самовывоз",
                  "ООО «Эко»"):
        assert words in pdf, words


def test_negotiation_call_loops_on_no_over_the_holiday(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "negotiation").status_code == 200
        assert new_tasks(deal, 1) == [("Звонок", "manager", "manager",
                                       utc(2026, 11, 5, 15, 0))]
        call = tasks(deal)[1]
        assert call.description == "Удалось ли связаться с клиентом? Да/Нет"
        # «Да» asks a second question: the form offers its answers as "Да / …"
        assert call.outcome_choices == [
            "Да", "Да / Проигранная сделка", "Да / Ожидание", "Да / Отложенные",
            "Да / Вернуть на этап «КП»", "Нет"]
        assert close(manager, call, "Нет").status_code == 200
    assert new_tasks(deal, 2) == [("Звонок", "manager", "manager", utc(2026, 11, 5, 15, 0))]
    assert tasks(deal)[2].status == "open"
    assert stage_of(deal) == "negotiation"


def test_samples_preparation_and_the_weekly_question(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL)
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, eco, "samples_prep", custom=PROPOSAL)
        assert resp.status_code == 422
        assert resp.json["message"]["sample_sizes"] == [
            "Заполните поле «Размеры»: оно обязательно на этапе «Подготовка образцов»"]
        assert set(resp.json["message"]) == {"sample_sizes", "sample_fastening",
                                             "sample_quantity"}
        assert move(manager, deal, eco, "samples_prep",
                    custom={**PROPOSAL, **SAMPLES}).status_code == 200
        assert new_tasks(deal, 1) == [("Подготовка образцов", "manager", "manager",
                                       utc(2026, 11, 3, 15, 0))]
        assert text(tasks(deal)[1].description) == \
            "Размеры: 20×30; тип скрепления: Клей; количество: 5"
        assert move(manager, deal, eco, "samples_sent").status_code == 200
    [weekly] = schedules(deal)
    assert (weekly.action, weekly.status, weekly.stage_key, weekly.due_at) == \
        ("repeat", "pending", "samples_sent", utc(2026, 11, 6, 15, 0))
    assert weekly.params["every"] == "1w"
    assert weekly.params["action"]["title"] == "Получил ли клиент образцы?"
    assert weekly.rule_key == "eco_deals.samples_sent.on_enter.samples_received"
    # leaving the stage stops the weekly question
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "feedback").status_code == 200
    assert [s.status for s in schedules(deal)] == ["cancelled"]
    assert new_tasks(deal, 2) == [("Обратная связь", "manager", "manager",
                                   utc(2026, 11, 6, 15, 0))]


def _approval(deal):
    from sqlalchemy import select

    from models.approval import Approval
    db.session.expire_all()
    return db.session.scalar(select(Approval).where(Approval.entity == "deal",
                                                    Approval.record_id == deal.id))


def test_feedback_into_production_through_the_approval_chain(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL, **SAMPLES)
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, eco, "feedback").status_code == 200
        feedback = task(deal, "Обратная связь")
        assert feedback.outcome_choices == ["Неинтересно", "Отложить", "В производство"]
        assert close(manager, feedback, "В производство").status_code == 200
        assert stage_of(deal) == "contract"
        # «Подготовка документов» by the checklist and, in parallel, the head's approval
        assert new_tasks(deal, 2) == [
            ("Подготовка документов", "manager", "manager", utc(2026, 11, 2, 15, 0))]
        prepare = tasks(deal)[2]
        assert [c.text for c in prepare.checklist] == [
            "Договор", "Спецификация", "Счет на предоплату", "Реквизиты клиента"]
        approval = _approval(deal)
        assert approval.title == "Согласование документов по сделке «Эко-пакеты»"
        assert [(r.user.username, r.status) for r in approval.steps] == [
            ("sales_head", "waiting")]
        # the manager cannot decide the head's approval, by the API or the form
        resp = manager.api("post", f"/api/v1/approval/{approval.id}/decide",
                           json={"decision": "approve"})
        assert resp.status_code == 403, resp.json
        manager.post(f"/approvals/{approval.id}/decide", data={"decision": "approve"})
        assert _approval(deal).status == "pending"
        # the documents must be attached before «подготовлены и прикреплены»
        resp = close(manager, prepare, "Документы подготовлены и прикреплены")
        assert resp.status_code == 422
        assert put_deal(manager, deal, custom={
            **custom_of(deal), "signed_documents": attach(manager, deal, "Документы.pdf")}
                        ).status_code == 200
        assert close(manager, tasks(deal)[2],
                     "Документы подготовлены и прикреплены").status_code == 200
        assert stage_of(deal) == "contract"  # the head has not approved yet
    [note] = messages(deal, "notification")
    assert note.recipients == [user("sales_head").id]
    assert note.body == "Сделка «Эко-пакеты»: документы подготовлены и прикреплены"

    # The head returns it for rework on the screen: a comment is required.
    with frozen(login, FRIDAY, "sales_head") as head:
        page = head.post(f"/approvals/{approval.id}/decide",
                         data={"decision": "rework", "comment": " "}, follow_redirects=True)
        assert "Напишите, что доработать" in page.get_data(as_text=True)
        assert _approval(deal).status == "pending"
        head.post(f"/approvals/{approval.id}/decide",
                  data={"decision": "rework", "comment": "Нет печати на договоре"})
    assert _approval(deal).status == "rework"
    assert custom_of(deal)["documents_remarks"] == "Нет печати на договоре"
    assert new_tasks(deal, 3) == [
        ("Доработать документы по сделке «Эко-пакеты»: Нет печати на договоре", "manager",
         "sales_head", utc(2026, 11, 2, 15, 0))]
    with frozen(login, FRIDAY, "manager") as manager:
        assert put_deal(manager, deal, custom={**custom_of(deal), **PREPAYMENT}
                        ).status_code == 200
        assert close(manager, tasks(deal)[3], "Отправлено повторно").status_code == 200
    approval = _approval(deal)
    assert (approval.status, approval.round) == ("pending", 2)
    # Approved through the API with the head's token: both branches done, the deal moves on.
    with frozen(login, FRIDAY, "sales_head") as head:
        resp = head.api("post", f"/api/v1/approval/{approval.id}/decide",
                        json={"decision": "approve"})
        assert resp.status_code == 200, resp.json
    assert _approval(deal).status == "approved"
    assert custom_of(deal)["documents_approved"] is True
    assert stage_of(deal) == "prepayment"

    # Производство: the order letter and the request, whose outcome writes to the client
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "production").status_code == 200
        assert new_tasks(deal, 4) == [("Формирование заявки", "manager", "manager",
                                       utc(2026, 11, 6, 15, 0))]
        assert close(manager, tasks(deal)[4], "Заявка сформирована").status_code == 200
    letters = messages(deal, "email")
    assert [(m.subject, m.recipients) for m in letters] == [
        ("Ваш заказ принят", ["info@eco.ru"]), ("Статус вашего заказа", ["info@eco.ru"])]
    assert text(letters[0].body) == (
        "Уважаемый клиент! Ваш заказ «Эко-пакеты» принят: Пакет, стоимость 12 500,00, "
        "предоплата 50%. Ваш менеджер Тестов Иван, телефон +7 495 000-00-01, "
        "почта manager@example.com")

    # Отгрузка: the scans attached send «Ваш заказ отправлен» and move on to «Оплата»
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "shipment").status_code == 200
        assert new_tasks(deal, 5) == [("Выписка документов", "manager", "manager",
                                       utc(2026, 11, 5, 15, 0))]
        assert [c.text for c in tasks(deal)[5].checklist] == [
            "CMR", "invoice", "packing list", "акт", "спецификация"]
    # the five shipment documents, numbered and rendered by the documents worker
    assert [(d.kind, d.number, d.latest.status) for d in documents_of(deal)] == [
        ("cmr", "1", "pending"), ("invoice", "1", "pending"), ("packing_list", "1", "pending"),
        ("act", "1", "pending"), ("specification", "1", "pending")]
    run_documents()
    assert [(d.latest.status, d.latest.attachment.filename) for d in documents_of(deal)] == [
        ("ready", "CMR (международная товарно-транспортная накладная) № 1 от 03.11.2026.pdf"),
        ("ready", "Счёт на оплату № 1 от 03.11.2026.pdf"),
        ("ready", "Упаковочный лист № 1 от 03.11.2026.pdf"),
        ("ready", "Акт выполненных работ № 1 от 03.11.2026.pdf"),
        ("ready", "Спецификация № 1 от 03.11.2026.pdf")]
    with frozen(login, TUESDAY, "manager") as manager:
        scans = attach(manager, deal, "Сканы.pdf")
        assert put_deal(manager, deal, custom={**custom_of(deal), "shipping_scans": scans}
                        ).status_code == 200
    assert stage_of(deal) == "payment"
    shipped = messages(deal, "email")[-1]
    assert shipped.subject == "Ваш заказ отправлен"
    assert text(shipped.body) == (
        "Уважаемый клиент! Ваш заказ «Эко-пакеты» отправлен. Сканы документов во вложении. "
        "Ваш менеджер Тестов Иван, телефон +7 495 000-00-01")
    assert new_tasks(deal, 6) == [("Заполнить поле «Срок ожидания оплаты»", "manager",
                                   "manager", utc(2026, 11, 5, 15, 0))]
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "won").status_code == 200
    assert stage_of(deal) == "won"


def test_payment_reminder_three_days_before_the_due_date(login, eco, buyer):
    deal = _deal(login, eco, buyer, payment_due_date="2026-11-20", **PASSED)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "payment").status_code == 200
    [reminder] = schedules(deal)
    assert (reminder.action, reminder.status, reminder.stage_key) == \
        ("schedule", "pending", "payment")
    # 20.11 − 3 days at 09:00 MSK
    assert reminder.due_at == utc(2026, 11, 17, 9, 0)
    assert reminder.params["action"]["title"] == "Напомнить клиенту об оплате"
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "won").status_code == 200
    assert [s.status for s in schedules(deal)] == ["cancelled"]


def test_payment_reminder_follows_the_date_filled_after_entering(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PASSED)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "payment").status_code == 200
        assert [s.status for s in schedules(deal)] == []  # no date yet: nothing is due
        assert put_deal(manager, deal, custom={"payment_due_date": "2026-11-20"}
                        ).status_code == 200
    assert [(s.status, s.due_at) for s in schedules(deal)] == \
        [("pending", utc(2026, 11, 17, 9, 0))]


def test_feedback_not_interesting_loses_the_deal_with_the_comment(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL, **SAMPLES)
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, eco, "feedback").status_code == 200
        resp = close(manager, task(deal, "Обратная связь"), "Неинтересно",
                     result="Нет бюджета")
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "lost"
    db.session.expire_all()
    from models.deal import Deal

    assert db.session.get(Deal, deal.id).lost_comment == "Нет бюджета"


def test_call_answered_yes_asks_the_second_question(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "negotiation").status_code == 200
        resp = close(manager, task(deal, "Звонок"), "Да")
    assert resp.status_code == 422
    assert resp.json["message"] == {"outcome": [
        "«Да»: выберите вариант: Проигранная сделка, Ожидание, Отложенные, "
        "Вернуть на этап «КП»"]}
    assert task(deal, "Звонок").status == "open"


def test_call_answered_yes_then_postponed_moves_to_postponed(login, eco, buyer):
    deal = _deal(login, eco, buyer, **PROPOSAL)
    with frozen(login, TUESDAY, "manager") as manager:
        assert move(manager, deal, eco, "negotiation").status_code == 200
        # the answer to the second question follows the first: "Да / Отложенные"
        resp = close(manager, task(deal, "Звонок"), "Да / Отложенные")
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "postponed"
    assert new_tasks(deal, 2) == [("Звонок клиенту", "manager", "manager", None)]
