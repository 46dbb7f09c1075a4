"""The seeds' delayed work carried out by the scheduler under a frozen clock: the 2-week promo
task of seed 004, the weekly «Получил ли клиент образцы?» stopping when the stage is left,
the payment reminder following «Срок ожидания оплаты» when it moves, the 1-hour deadline of
a new sales request escalating to the head of sales, and the 5-minute reminder of seed 000."""
import pytest
import time_machine
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from jobs import scheduler
from jobs.runner import InlineRunner
from models.event import Event
from models.notification import Notification
from models.party import Company, Contact
from models.reference import ReferenceItem, ReferenceList
from tests.process_flow_helpers import (frozen, install, move, msk, new_deal, put_deal,
                                        schedules, tasks, user, utc)


def _tick_at(when):
    with time_machine.travel(when, tick=False):
        return scheduler.tick(runner=InlineRunner())


def _titles(deal):
    return [t.title for t in tasks(deal)]


def _notes(user_name):
    db.session.expire_all()
    return [n.text for n in db.session.scalars(
        select(Notification).where(Notification.user_id == user(user_name).id)
        .order_by(Notification.id))]


@pytest.fixture()
def beds(app):
    return install("004_beds.yaml", "beds")


@pytest.fixture()
def eco(app):
    return install("002_deals.yaml", "eco_deals")


def test_the_promo_task_comes_two_weeks_after_losing_the_deal(login, beds):
    with frozen(login, msk(2026, 10, 30, 15, 0), "manager") as manager:
        deal = new_deal(manager, beds, "unsorted", title="Кровать-домик")
        assert move(manager, deal, beds, "lost").status_code == 200
    _tick_at(msk(2026, 11, 13, 14, 59))
    assert "Проинформировать клиента об акции" not in _titles(deal)
    _tick_at(msk(2026, 11, 13, 15, 0))
    _tick_at(msk(2026, 11, 13, 15, 1))
    assert _titles(deal).count("Проинформировать клиента об акции") == 1
    promo = [s for s in schedules(deal) if s.action == "schedule"]
    assert [s.status for s in promo] == ["done"]


def test_the_weekly_question_repeats_until_the_stage_is_left(login, eco):
    samples = {"company_type": "Ресторан", "website": "https://eco.example.ru",
               "delivery_address": "г. Москва", "sample_sizes": "20×30",
               "sample_fastening": "Клей", "sample_quantity": 5}
    question = "Получил ли клиент образцы?"
    with frozen(login, msk(2026, 10, 30, 15, 0), "manager") as manager:
        deal = new_deal(manager, eco, "contact", title="Эко-пакеты", custom=samples)
        assert move(manager, deal, eco, "samples_prep").status_code == 200
        assert move(manager, deal, eco, "samples_sent").status_code == 200
    _tick_at(msk(2026, 11, 6, 14, 59))
    assert _titles(deal).count(question) == 0
    _tick_at(msk(2026, 11, 6, 15, 0))
    _tick_at(msk(2026, 11, 6, 15, 5))
    assert _titles(deal).count(question) == 1
    [weekly] = [s for s in schedules(deal) if s.action == "repeat"]
    assert (weekly.status, weekly.due_at, weekly.occurrence) == \
        ("pending", utc(2026, 11, 13, 15, 0), 1)
    _tick_at(msk(2026, 11, 13, 15, 0))
    assert _titles(deal).count(question) == 2
    with frozen(login, msk(2026, 11, 16, 10, 0), "manager") as manager:
        assert move(manager, deal, eco, "feedback").status_code == 200
    _tick_at(msk(2026, 11, 20, 15, 0))
    _tick_at(msk(2026, 11, 27, 15, 0))
    assert _titles(deal).count(question) == 2
    assert [s.status for s in schedules(deal) if s.action == "repeat"] == ["cancelled"]


ECO_PASSED = {"company_type": "Ресторан", "website": "https://eco.example.ru",
              "delivery_address": "г. Москва, ул. Ленина, 1", "sample_sizes": "20×30",
              "sample_fastening": "Клей", "sample_quantity": 5, "packaging_type": "Пакет",
              "cost": 12500, "prepayment_percent": 50, "documents_prepared": True,
              "documents_approved": True}


def test_the_payment_reminder_follows_the_date_when_it_moves(login, eco):
    reminder = "Напомнить клиенту об оплате"
    with frozen(login, msk(2026, 11, 3, 15, 0), "manager") as manager:
        deal = new_deal(manager, eco, "contact", title="Эко-пакеты")
        # The jump to «Оплата» passes stages whose required fields must be filled too.
        assert move(manager, deal, eco, "payment",
                    custom={"payment_due_date": "2026-11-20", **ECO_PASSED}
                    ).status_code == 200
        [row] = [s for s in schedules(deal) if s.action == "schedule"]
        assert row.due_at == utc(2026, 11, 17, 9, 0)
        # the client asked for more time: three days before the new date
        assert put_deal(manager, deal, custom={"payment_due_date": "2026-11-25"}
                        ).status_code == 200
    [row] = [s for s in schedules(deal) if s.action == "schedule"]
    assert (row.status, row.due_at) == ("pending", utc(2026, 11, 22, 9, 0))
    _tick_at(msk(2026, 11, 17, 9, 0))
    assert reminder not in _titles(deal)
    _tick_at(msk(2026, 11, 22, 9, 0))
    assert _titles(deal).count(reminder) == 1


def test_a_date_moved_into_the_past_runs_at_once(login, eco):
    with frozen(login, msk(2026, 11, 3, 15, 0), "manager") as manager:
        deal = new_deal(manager, eco, "contact", title="Эко-пакеты")
        assert move(manager, deal, eco, "payment",
                    custom={"payment_due_date": "2026-11-30", **ECO_PASSED}
                    ).status_code == 200
    with frozen(login, msk(2026, 11, 10, 12, 0), "manager") as manager:
        assert put_deal(manager, deal, custom={"payment_due_date": "2026-11-11"}
                        ).status_code == 200
    # due 08.11 09:00, already past on the 10th: the next tick runs it
    _tick_at(msk(2026, 11, 10, 12, 0, 1))
    assert "Напомнить клиенту об оплате" in _titles(deal)


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


def test_a_new_request_not_taken_within_the_hour_escalates(login, sales):
    with frozen(login, msk(2026, 12, 1, 10, 0), "admin") as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов",
                        custom={"direction": "Весы"})
    [row] = [s for s in schedules(deal) if s.action == "stage_deadline"]
    assert (row.due_at, row.stage_key) == (utc(2026, 12, 1, 11, 0), "new")
    _tick_at(msk(2026, 12, 1, 10, 59))
    assert not [t for t in _notes("sales_head") if t.startswith("Задержка")]
    _tick_at(msk(2026, 12, 1, 11, 0))
    late = [t for t in _notes("sales_head") if t.startswith("Задержка")]
    # the stage and its task «Взять заявку в работу» (also due in 1 hour) both escalate
    assert sorted(late) == [
        "Задержка: Сделка «Поставка весов» на этапе «Новая заявка» дольше срока (срок "
        "истёк 01.12.2026 11:00)",
        "Задержка: просрочена задача «Взять заявку в работу» (срок 01.12.2026 11:00, "
        "Сделка «Поставка весов»), исполнитель: Тестов Иван"]


def test_a_request_taken_in_time_does_not_escalate(login, sales):
    company = Company(kind="legal", name="ООО «Весы»", email="info@vesy.ru")
    db.session.add(company)
    db.session.commit()
    with frozen(login, msk(2026, 12, 1, 10, 0), "admin") as admin:
        deal = new_deal(admin, sales, "new", title="Поставка весов", company=company.id)
    with frozen(login, msk(2026, 12, 1, 10, 30), "manager") as manager:
        resp = move(manager, deal, sales, "in_work",
                    custom={"priority": "A", "delivery_term": "2026-12-20"})
        assert resp.status_code == 200, resp.json
    _tick_at(msk(2026, 12, 1, 11, 0))
    assert not [t for t in _notes("sales_head") if "на этапе «Новая заявка»" in t]
    assert [s.status for s in schedules(deal) if s.action == "stage_deadline"] == \
        ["cancelled", "pending"]  # «Взят в работу» has its own deadline of 1 day


def _topic(code):
    return db.session.scalar(select(ReferenceItem.id).join(ReferenceList).where(
        ReferenceList.code == "event_topic", ReferenceItem.code == code))


def test_the_five_minute_reminder_of_event_no2(client, app):
    processes.install_file(BASE_DIR / "rules" / "definitions" / "000_events.yaml")
    company = Company(kind="person", name="Орлов Олег Олегович", email="orlov@example.ru")
    contact = Contact(last_name="Орлов", first_name="Олег", company=company)
    db.session.add_all([company, contact])
    db.session.commit()
    with time_machine.travel(msk(2026, 12, 1, 10, 0), tick=False):
        resp = client.api("post", "/api/v1/event/", json={
            "kind": "call", "direction": "incoming", "state": "planned",
            "topic": _topic("client_call"), "subject": "Звонок", "company": company.id,
            "responsible": user("secretary").id})
        first = resp.json["id"]
        assert client.api("post", "/api/v1/event_contact/", json={
            "event": first, "contact": contact.id}).status_code == 201
        assert client.api("put", f"/api/v1/event/{first}", json={
            "state": "completed", "content": "Интересуется весами"}).status_code == 200
    second = db.session.scalar(select(Event).where(Event.id != first))
    second.responsible_id = user("manager").id  # the secretary picks the manager
    db.session.commit()
    _tick_at(msk(2026, 12, 1, 10, 4, 59))
    assert _notes("manager") == []
    _tick_at(msk(2026, 12, 1, 10, 5, 0))
    _tick_at(msk(2026, 12, 1, 10, 6, 0))
    [text] = _notes("manager")
    assert text.startswith("Первый контакт с клиентом: обработайте нового клиента")


def test_the_paid_sms_is_recorded_by_the_logging_provider(login, beds, caplog):
    """Seed 004's SMS «Оплачено инд» with the client's name: no gateway is configured, so the
    logging provider records it and the outbox row is visible as sent through «log»."""
    from models.outbox import OutboxMessage

    client_data = {"client_name": "Смирнова Ольга", "email": "olga@example.ru",
                   "phone": "+7 900 123-45-67", "passport": "4510 123456",
                   "delivery_address": "г. Тула, ул. Мира, 5"}
    paid = {"payment_date": "2026-10-30", "prepayment": 30000, "debt": 30000,
            "shipping_deadline": "2026-11-30", "delivery_type": "courier",
            "delivery_city": "Тула"}
    with frozen(login, msk(2026, 10, 30, 15, 0), "manager") as manager:
        deal = new_deal(manager, beds, "bz_agreement", title="Кровать-домик")
        assert move(manager, deal, beds, "invoiced", custom=client_data, budget=60000,
                    budget_manual=True).status_code == 200
        assert move(manager, deal, beds, "paid",
                    custom={**client_data, **paid}).status_code == 200
    [sms] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "sms"))
    assert sms.recipients == ["+7 900 123-45-67"] and sms.subject == "Оплачено инд"
    assert sms.body.startswith("Смирнова Ольга, здравствуйте! Оплата по заказу "
                               "«Кровать-домик» получена")
    with caplog.at_level("INFO", logger="crm.sms"):
        _tick_at(msk(2026, 10, 30, 15, 1))
    db.session.expire_all()
    sms = db.session.get(OutboxMessage, sms.id)
    assert (sms.status, sms.delivered_via) == ("sent", "log")
    assert "Смирнова Ольга" in caplog.text


def test_after_weeks_of_downtime_the_weekly_question_comes_once(login, eco):
    samples = {"company_type": "Ресторан", "website": "https://eco.example.ru",
               "delivery_address": "г. Москва", "sample_sizes": "20×30",
               "sample_fastening": "Клей", "sample_quantity": 5}
    with frozen(login, msk(2026, 10, 30, 15, 0), "manager") as manager:
        deal = new_deal(manager, eco, "contact", title="Эко-пакеты", custom=samples)
        assert move(manager, deal, eco, "samples_prep").status_code == 200
        assert move(manager, deal, eco, "samples_sent").status_code == 200
    # the scheduler was down from 06.11 to 10.12: one catch-up question, not five
    for second in range(3):
        _tick_at(msk(2026, 12, 10, 12, 0, second))
    assert _titles(deal).count("Получил ли клиент образцы?") == 1
    [weekly] = [s for s in schedules(deal) if s.action == "repeat"]
    assert (weekly.status, weekly.due_at) == ("pending", utc(2026, 12, 11, 15, 0))


def test_a_repeat_that_would_not_move_forward_is_refused(app, tmp_path):
    from errors import DefinitionError

    source = (BASE_DIR / "rules" / "definitions" / "002_deals.yaml").read_text("utf-8")
    assert "        every: 1w\n" in source
    path = tmp_path / "002_deals.yaml"
    path.write_text(source.replace("        every: 1w\n", "        every: 0m\n", 1), "utf-8")
    with pytest.raises(DefinitionError) as refused:
        processes.install_file(path)
    assert "интервал повтора должен быть больше нуля" in str(refused.value)
