"""The shipped «Продажа» process (001_sales.yaml) walked end to end through the REST API under
a frozen clock: exact tasks (title, assignee, creator, deadline), stage deadlines, letters,
the proposal and invoice loops, the amount boundaries at «Договор» and the lost reason.

Times in the definition are Moscow wall-clock; Task.deadline and StageHistory.deadline_at
are naive UTC (MSK − 3 h). 04.11.2026 (Wednesday) is a Russian public holiday."""
import datetime as dt

import pytest

from sqlalchemy import select

from app.extensions import db
from models.document import Document
from models.party import Company
from tests.helpers import ref_item
from tests.process_flow_helpers import (attach, close, custom_of, frozen, history, install,
                                        messages, move, msk, new_deal, new_tasks, put_deal,
                                        stage_of, task, tasks, text, user, utc)

# «Отгружен/Доставлен» generates the акт: the shipped templates must be there.
pytestmark = pytest.mark.usefixtures("document_templates")

FRIDAY = msk(2026, 10, 30, 15, 0)
READY_IN_WORK = {"priority": "A", "delivery_term": "2026-12-01"}


@pytest.fixture()
def sales(app):
    install("001_engineers.yaml", "engineers")  # a won deal is converted into it
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def buyer(app):
    manager = user("manager")
    manager.position, manager.phone = "Менеджер по продажам", "+7 495 123-45-67"
    company = Company(kind="person", name="Петров Пётр Петрович", email="petrov@example.ru")
    db.session.add(company)
    db.session.commit()
    return company


def _deadlines(deal):
    return [(h.stage_key, h.deadline_at) for h in history(deal)]


def test_walk_from_new_request_to_won_under_a_frozen_clock(login, sales, buyer):
    # --- Новая заявка: Friday 30.10.2026 15:00 MSK ---------------------------------------
    with frozen(login, FRIDAY) as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                        budget=120000, budget_manual=True)
    assert new_tasks(deal, 0) == [
        ("Взять заявку в работу", "manager", "sales_head", utc(2026, 10, 30, 16, 0))]
    assert tasks(deal)[0].outcome_choices == ["Принять заявку", "Отказ"]
    [note] = messages(deal, "notification")
    assert note.body == "Новая заявка «Поставка весов»: возьмите заявку в работу"
    assert sorted(note.recipients) == sorted(
        user(n).id for n in ("manager", "manager2", "outsider", "sales_head"))
    assert _deadlines(deal) == [("new", utc(2026, 10, 30, 16, 0))]

    # --- Взят в работу: the same Friday, 1 day, and the КП date 2 working days ahead ------
    with frozen(login, FRIDAY) as admin:
        resp = move(admin, deal, sales, "in_work", custom={
            **READY_IN_WORK, "need_engineers": True, "need_lawyer": True})
    assert resp.status_code == 200, resp.json
    saturday = utc(2026, 10, 31, 15, 0)
    assert new_tasks(deal, 1) == [
        ("Проверить товарные позиции", "manager", "sales_head", saturday),
        ("Задание инженерам по сделке «Поставка весов»", "engineer", "manager", saturday),
        ("Проверить контрагента по сделке «Поставка весов»", "lawyer", "manager", saturday)]
    assert _deadlines(deal)[1] == ("in_work", saturday)
    assert history(deal)[0].left_at == utc(2026, 10, 30, 15, 0)
    assert custom_of(deal)["kp_agreed_date"] == "2026-11-03"
    [letter] = messages(deal, "email")
    assert letter.recipients == ["petrov@example.ru"]
    assert letter.subject == "Ваша заявка взята в обработку"
    assert text(letter.body) == (
        "Уважаемый клиент! Ваша заявка взята в обработку. Ваш персональный менеджер "
        "Тестов Иван, Менеджер по продажам, телефон +7 495 123-45-67, "
        "почта manager@example.com")

    # --- КП: 2 working days from Friday 15:00 → Tuesday 03.11 15:00 MSK ------------------
    with frozen(login, FRIDAY) as admin:
        assert move(admin, deal, sales, "proposal").status_code == 200
    assert new_tasks(deal, 4) == [
        ("Отправить КП клиенту", "manager", "sales_head", utc(2026, 10, 30, 16, 0)),
        ("Связаться с клиентом, получить обратную связь по КП", "manager", "sales_head",
         utc(2026, 11, 3, 15, 0))]
    assert _deadlines(deal)[2] == ("proposal", utc(2026, 11, 3, 15, 0))

    # the loop: not agreed on Tuesday → rework → a new feedback task 2 working days later,
    # over the 04.11 holiday: Thursday 05.11 and Friday 06.11
    tuesday = msk(2026, 11, 3, 15, 0)
    with frozen(login, tuesday, "manager") as manager:
        feedback = task(deal, "Связаться с клиентом, получить обратную связь по КП")
        assert close(manager, feedback, "КП не согласовано").status_code == 200
        # The follow-up's own deadline (1 working day), not the 2 days of the task it follows.
        assert new_tasks(deal, 6) == [
            ("Отработать возражение, переформировать КП", "manager", "sales_head",
             utc(2026, 11, 5, 15, 0))]
        assert close(manager, tasks(deal)[6]).status_code == 200
    assert new_tasks(deal, 7) == [
        ("Связаться с клиентом, получить обратную связь по КП", "manager", "sales_head",
         utc(2026, 11, 6, 15, 0))]
    assert stage_of(deal) == "proposal"

    # agreed → «Договор», which needs the КП status and the payment terms
    friday2 = msk(2026, 11, 6, 10, 0)
    with frozen(login, friday2, "manager") as manager:
        second = tasks(deal)[7]
        resp = close(manager, second, "КП согласовано")
        assert resp.status_code == 422, resp.json
        assert stage_of(deal) == "proposal"
        assert put_deal(manager, deal, custom={
            **custom_of(deal), "kp_agreed": True, "payment_terms": "prepayment"}
        ).status_code == 200
        assert close(manager, tasks(deal)[7], "КП согласовано").status_code == 200
    assert stage_of(deal) == "contract"
    assert new_tasks(deal, 8) == [
        ("Проверить товарные позиции, отправить Счет клиенту", "manager", "sales_head",
         utc(2026, 11, 7, 10, 0))]
    assert _deadlines(deal)[3] == ("contract", utc(2026, 11, 7, 10, 0))

    # --- Счет: Monday 09.11 10:00 ---------------------------------------------------------
    monday = msk(2026, 11, 9, 10, 0)
    with frozen(login, monday, "manager") as manager:
        resp = move(manager, deal, sales, "invoice")
        assert resp.status_code == 422
        assert resp.json["message"] == {
            "signed_invoice": ["Заполните поле «Подписанный счет»: оно обязательно на этапе "
                               "«Счет»"],
            "payment_date": ["Заполните поле «Дата оплаты»: оно обязательно на этапе «Счет»"]}
        resp = move(manager, deal, sales, "invoice", custom={
            **custom_of(deal), "signed_invoice": attach(manager, deal, "Счёт подписанный.pdf"),
            "payment_date": "2026-11-12"})
        assert resp.status_code == 200, resp.json
        assert new_tasks(deal, 9) == [
            ("Получить оплату от клиента", "manager", "sales_head", utc(2026, 11, 10, 10, 0))]
        assert close(manager, tasks(deal)[9], "Счет не оплачен").status_code == 200
        assert [t[:3] for t in new_tasks(deal, 10)] == [
            ("Отработать возражение, переформировать Счет", "manager", "sales_head")]
        assert close(manager, tasks(deal)[10]).status_code == 200
        assert new_tasks(deal, 11) == [
            ("Получить оплату от клиента", "manager", "sales_head", utc(2026, 11, 10, 10, 0))]
        assert close(manager, tasks(deal)[11], "Оплачено").status_code == 200
    assert stage_of(deal) == "realization"
    tuesday10 = utc(2026, 11, 10, 10, 0)
    assert new_tasks(deal, 12) == [
        ("Проконтролировать выполнение работ", "manager", "sales_head", tuesday10)]
    assert _deadlines(deal)[4:] == [("invoice", tuesday10), ("realization", None)]

    # --- Принят → К отгрузке → Отгружен/Доставлен -----------------------------------------
    with frozen(login, monday, "manager") as manager:
        assert move(manager, deal, sales, "accepted").status_code == 200
        assert new_tasks(deal, 13) == [
            ("Проконтролировать упаковку", "manager", "sales_head", tuesday10),
            ("Проверить оплату по клиенту", "manager", "sales_head", tuesday10),
            ("Отгрузить товар клиенту", "logistician", "manager", tuesday10)]
        assert move(manager, deal, sales, "to_ship").status_code == 200
        assert new_tasks(deal, 16) == [
            ("Проконтролировать отгрузку-доставку", "manager", "sales_head", tuesday10)]
        assert move(manager, deal, sales, "shipped").status_code == 200
        assert new_tasks(deal, 17) == [
            ("Отправить Акты выполненных работ, получить подписанный документ", "manager",
             "sales_head", tuesday10),
            ("Отправить УПД, получить подписанный документ", "manager", "sales_head",
             tuesday10)]
    assert _deadlines(deal)[6:] == [("accepted", None), ("to_ship", None),
                                    ("shipped", tuesday10)]

    # The акт to send is generated at «Отгружен/Доставлен» (rendered after commit).
    act = db.session.scalar(select(Document).where(Document.entity == "deal",
                                                   Document.record_id == deal.id))
    assert (act.kind, act.number, act.latest.status) == ("act", "1", "pending")

    # --- The signed act and УПД attached at «Отгружен/Доставлен» are mailed to the accountant
    with frozen(login, monday, "manager") as manager:
        # the act and the УПД are files of the deal: chosen among its attachments
        act_file = attach(manager, deal, "Акт.pdf")
        upd_file = attach(manager, deal, "УПД.pdf")
        resp = put_deal(manager, deal, custom={**custom_of(deal), "act_file": act_file})
        assert resp.status_code == 200, resp.json
        assert [m.subject for m in messages(deal, "email")] == [
            "Ваша заявка взята в обработку"]  # one of the two: nothing to mail yet
        resp = put_deal(manager, deal, custom={**custom_of(deal), "upd_file": upd_file})
        assert resp.status_code == 200, resp.json
    mail = messages(deal, "email")[-1]
    assert (mail.subject, mail.recipients, mail.attachments) == (
        "Сделка «Поставка весов»: подписанные Акт и УПД во вложении",
        [user("accountant").email], [act_file, upd_file])

    # --- Сделка успешна -------------------------------------------------------------------
    with frozen(login, monday, "manager") as manager:
        resp = move(manager, deal, sales, "won")
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "won"
    assert len(tasks(deal)) == 19
    assert [n.recipients for n in messages(deal, "notification")[1:]] == []
    letters = messages(deal, "email")
    assert [(m.subject, m.recipients) for m in letters] == [
        ("Ваша заявка взята в обработку", ["petrov@example.ru"]),
        ("Сделка «Поставка весов»: подписанные Акт и УПД во вложении",
         [user("accountant").email]),
        ("Оставьте отзыв о нашей работе", ["petrov@example.ru"])]
    assert text(letters[2].body) == (
        "Уважаемый клиент! Мы рады сотрудничать с вами и будем признательны, если вы "
        "оставите отзыв о нашей работе.")
    assert [h.stage_key for h in history(deal)] == [
        "new", "in_work", "proposal", "contract", "invoice", "realization", "accepted",
        "to_ship", "shipped", "won"]
    assert history(deal)[-1].entered_at == utc(2026, 11, 9, 10, 0)
    # «Конвертация в воронку инженеры»: a deal of the «Инженеры» pipeline, with its task
    from models.deal import Deal

    converted = db.session.scalar(select(Deal).where(Deal.id != deal.id))
    assert (converted.pipeline.code, converted.stage.key) == ("engineers", "new")
    assert (converted.title, converted.company_id) == ("Поставка весов", buyer.id)
    assert converted.responsible.username == "manager"
    assert [(t.title, t.assignee.username) for t in tasks(converted)] == [
        ("Запланировать работы по сделке «Поставка весов»", "engineer")]


def _at_proposal(login, sales, buyer, budget):
    with frozen(login, FRIDAY) as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id,
                        budget=budget, budget_manual=True)
        assert move(admin, deal, sales, "in_work", custom=READY_IN_WORK).status_code == 200
        assert move(admin, deal, sales, "proposal", custom={
            **custom_of(deal), "kp_agreed": True, "payment_terms": "postpayment"}
        ).status_code == 200
    return deal


CONTRACT_TASKS = {
    "invoice_only": "Проверить товарные позиции, отправить Счет клиенту",
    "invoice_contract": "Отправить Счет-договор на согласование внутри компании",
    "contract_and_invoice": "Отправить Счет, Договор на согласование внутри компании"}


@pytest.mark.parametrize("budget, rule, required", [
    (150000, "invoice_only", set()),
    (150001, "invoice_contract", {"invoice_file"}),
    (500000, "invoice_contract", {"invoice_file"}),
    (500001, "contract_and_invoice", {"contract_file", "invoice_file"}),
])
def test_contract_amount_boundaries(login, sales, buyer, budget, rule, required):
    deal = _at_proposal(login, sales, buyer, budget)
    before = len(tasks(deal))
    with frozen(login, FRIDAY) as admin:
        resp = move(admin, deal, sales, "contract")
        if required:
            assert resp.status_code == 422
            assert set(resp.json["message"]) == required
            assert resp.json["message"]["invoice_file"] == [
                "Заполните поле «Счет»: оно обязательно на этапе «Договор»"]
            if "contract_file" in required:
                assert resp.json["message"]["contract_file"] == [
                    "Заполните поле «Договор»: оно обязательно на этапе «Договор»"]
            assert stage_of(deal) == "proposal" and len(tasks(deal)) == before
            resp = move(admin, deal, sales, "contract", custom={
                **custom_of(deal), **{name: attach(admin, deal, f"{name}.pdf")
                                      for name in required}})
        assert resp.status_code == 200, resp.json
    assert new_tasks(deal, before) == [
        (CONTRACT_TASKS[rule], "manager", "sales_head", utc(2026, 10, 31, 15, 0))]
    assert tasks(deal)[-1].rule_key == f"sales.contract.on_enter.{rule}"


def test_contract_needs_the_kp_status_and_payment_terms(login, sales, buyer):
    with frozen(login, FRIDAY) as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id)
        assert move(admin, deal, sales, "in_work", custom=READY_IN_WORK).status_code == 200
        assert move(admin, deal, sales, "proposal").status_code == 200
        resp = move(admin, deal, sales, "contract")
    assert resp.status_code == 422
    assert resp.json["message"] == {
        "kp_agreed": ["Заполните поле «Статус КП (Согласовано/Не согласовано)»: оно "
                      "обязательно на этапе «Договор»"],
        "payment_terms": ["Заполните поле «Оплата (Предоплата/Постоплата)»: оно обязательно "
                          "на этапе «Договор»"]}
    assert stage_of(deal) == "proposal"


def test_lost_needs_a_reason_and_other_needs_a_comment(login, sales, buyer):
    with frozen(login, FRIDAY, "manager") as manager:
        deal = new_deal(manager, sales, "new", title="Поставка весов", company=buyer.id)
        resp = move(manager, deal, sales, "lost")
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"lost_reason"}
        other = ref_item("lost_reason", "other")
        resp = move(manager, deal, sales, "lost", lost_reason=other.id)
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"lost_comment"}
        assert stage_of(deal) == "new"
        resp = move(manager, deal, sales, "lost", lost_reason=other.id,
                    lost_comment="Клиент закрылся")
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "lost"
    assert [(h.stage_key, h.deadline_at) for h in history(deal)] == [
        ("new", utc(2026, 10, 30, 16, 0)), ("lost", None)]
    assert len(tasks(deal)) == 1


def test_a_plain_lost_reason_needs_no_comment(login, sales, buyer):
    with frozen(login, FRIDAY, "manager") as manager:
        deal = new_deal(manager, sales, "new", title="Поставка весов", company=buyer.id)
        resp = move(manager, deal, sales, "lost",
                    lost_reason=ref_item("lost_reason", "competitors").id)
    assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "lost"


def test_refusal_of_the_request_needs_the_lost_reason_first(login, sales, buyer):
    with frozen(login, FRIDAY, "manager") as manager:
        deal = new_deal(manager, sales, "new", title="Поставка весов", company=buyer.id)
        [take] = tasks(deal)
        resp = close(manager, take, "Отказ")
        assert resp.status_code == 422
        assert stage_of(deal) == "new"
        assert put_deal(manager, deal, lost_reason=ref_item("lost_reason", "no_money").id
                        ).status_code == 200
        assert close(manager, tasks(deal)[0], "Отказ").status_code == 200
    assert stage_of(deal) == "lost"


def test_moving_the_clock_does_not_change_a_written_deadline(login, sales, buyer):
    with frozen(login, FRIDAY) as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=buyer.id)
    with frozen(login, FRIDAY + dt.timedelta(days=3)) as admin:
        assert put_deal(admin, deal, title="Поставка весов (уточнено)").status_code == 200
    assert [t.deadline for t in tasks(deal)] == [utc(2026, 10, 30, 16, 0)]
