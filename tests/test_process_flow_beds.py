"""Seed 004's «Индивидуальный заказ» of children's beds (004_beds.yaml) walked through the
REST API under a frozen clock: «до сегодня» tasks (23:59 MSK), the design approval chain
between the manager, the designer and the constructor, the required client data, and the
delays written as schedule rows: 3 days after «Счет выставлен», the day after the planned
delivery, 1 week after «Успешно реализовано», 2 weeks after «Закрыто и не реализовано»;
leaving a stage cancels its pending rows."""
import pytest

from tests.process_flow_helpers import (close, custom_of, frozen, install, move, msk,
                                        new_deal, new_tasks, put_deal, schedules, stage_of,
                                        task, tasks, utc)

FRIDAY = msk(2026, 10, 30, 15, 0)
END_OF_FRIDAY = utc(2026, 10, 30, 23, 59)
CLIENT = {"client_name": "Смирнова Ольга", "email": "olga@example.ru", "phone": "+7 900 1",
          "passport": "4510 123456", "delivery_address": "г. Тула, ул. Мира, 5"}
PAID = {"payment_date": "2026-10-30", "prepayment": 30000, "debt": 30000,
        "shipping_deadline": "2026-11-30", "delivery_type": "courier",
        "delivery_city": "Тула"}


@pytest.fixture()
def beds(app):
    return install("004_beds.yaml", "beds")


def _deal(login, beds, stage_key="unsorted", **extra):
    with frozen(login, FRIDAY) as admin:
        return new_deal(admin, beds, stage_key, title="Кровать-домик", **extra)


def _schedule_rows(deal):
    return [(s.action, s.stage_key, s.status, s.due_at, s.params["action"]["title"])
            for s in schedules(deal)]


def test_first_stages_give_tasks_due_today(login, beds):
    deal = _deal(login, beds)
    assert new_tasks(deal, 0) == [("Связаться с клиентом", "manager", "admin", END_OF_FRIDAY)]
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "first_contact").status_code == 200
        assert move(manager, deal, beds, "design_agreement").status_code == 200
    assert new_tasks(deal, 1) == [("Предложить согласовать БЗ", "manager", "manager",
                                   END_OF_FRIDAY)]
    assert tasks(deal)[1].description == "Сделать предложение о покупке"
    assert stage_of(deal) == "design_agreement"


def test_design_chain_between_designer_and_constructor(login, beds):
    deal = _deal(login, beds, "design_agreement")
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "design").status_code == 200
    assert new_tasks(deal, 0) == [
        ("Проведена оплата за дизайн? прикреплен бриф?", "manager", "manager", END_OF_FRIDAY),
        ("Дизайн. Связаться с клиентом для уточнения деталей", "designer", "manager",
         END_OF_FRIDAY)]
    assert tasks(deal)[0].description == "!!! Сменить ответственного на ДИЗАЙНЕР"
    with frozen(login, FRIDAY, "designer") as designer:
        assert close(designer, tasks(deal)[1], "Графическая модель готова").status_code == 200
    assert new_tasks(deal, 2) == [("Возможно ли создать такую кровать технически?",
                                   "constructor", "designer", END_OF_FRIDAY)]
    with frozen(login, FRIDAY, "constructor") as constructor:
        assert close(constructor, tasks(deal)[2],
                     "Да, такую кровать сделать можем").status_code == 200
    assert new_tasks(deal, 3) == [("Да, такую кровать сделать можем", "designer",
                                   "constructor", END_OF_FRIDAY)]
    assert tasks(deal)[3].description == "Согласуйте дизайн с клиентом"
    with frozen(login, FRIDAY, "designer") as designer:
        # the client asks for corrections: the same task comes round again
        assert close(designer, tasks(deal)[3], "Клиент просит корректировки",
                     result="Другой цвет").status_code == 200
        assert [t[:3] for t in new_tasks(deal, 4)] == [
            ("Да, такую кровать сделать можем", "designer", "constructor")]
        assert close(designer, tasks(deal)[4], "Дизайн согласован с клиентом").status_code == 200
    assert new_tasks(deal, 5) == [("Связаться с клиентом. Дизайн готов", "manager",
                                   "designer", END_OF_FRIDAY)]
    assert stage_of(deal) == "design"


def test_constructor_asks_for_changes(login, beds):
    deal = _deal(login, beds, "design_agreement")
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "design").status_code == 200
    with frozen(login, FRIDAY, "designer") as designer:
        assert close(designer, task(deal, "Дизайн. Связаться с клиентом для уточнения деталей"),
                     "Графическая модель готова").status_code == 200
    with frozen(login, FRIDAY, "constructor") as constructor:
        assert close(constructor, task(deal, "Возможно ли создать такую кровать технически?"),
                     "Нет, нужны уточнения", result="Слишком тонкие рейки").status_code == 200
    assert new_tasks(deal, 3) == [("Нет, адаптировать дизайн под технические возможности",
                                   "designer", "constructor", END_OF_FRIDAY)]


def test_unpaid_design_returns_to_design_agreement(login, beds):
    deal = _deal(login, beds, "design_agreement")
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "design").status_code == 200
        resp = close(manager, task(deal, "Проведена оплата за дизайн? прикреплен бриф?"),
                     "Нет: вернуть на «Согласование дизайна»")
        assert resp.status_code == 200, resp.json
    assert stage_of(deal) == "design_agreement"


def test_invoiced_schedules_the_payment_control_in_3_days(login, beds):
    deal = _deal(login, beds, "bz_agreement")
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, beds, "invoiced")
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"client_name", "email", "phone", "passport",
                                             "delivery_address", "budget"}
        assert resp.json["message"]["passport"] == [
            "Заполните поле «Серия и номер паспорта»: оно обязательно на этапе "
            "«Счет выставлен»"]
        assert move(manager, deal, beds, "invoiced", custom=CLIENT,
                    budget=60000, budget_manual=True).status_code == 200
    assert tasks(deal) == []
    # Friday 15:00 + 3 days = Monday 02.11 15:00 MSK
    assert _schedule_rows(deal) == [("schedule", "invoiced", "pending",
                                     utc(2026, 11, 2, 15, 0), "Контроль оплаты счета")]
    assert schedules(deal)[0].rule_key == "beds.invoiced.on_enter.payment_control"
    # paid before the control is due: the control is cancelled
    with frozen(login, msk(2026, 10, 31, 11, 0), "manager") as manager:
        resp = move(manager, deal, beds, "paid")
        assert resp.status_code == 422
        assert set(resp.json["message"]) == {"payment_date", "prepayment", "debt",
                                             "shipping_deadline", "delivery_type",
                                             "delivery_city"}
        assert move(manager, deal, beds, "paid",
                    custom={**CLIENT, **PAID}).status_code == 200
    assert [s.status for s in schedules(deal)] == ["cancelled"]
    assert new_tasks(deal, 0) == [("Прикрепить БЗ для производства", "manager", "manager",
                                   utc(2026, 10, 31, 23, 59))]


def test_invoiced_needs_a_budget(login, beds):
    deal = _deal(login, beds, "bz_agreement")
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, beds, "invoiced", custom=CLIENT)
    assert resp.status_code == 422
    assert set(resp.json["message"]) == {"budget"}


def test_production_line_to_shipping_and_won(login, beds):
    # Jumping to «Раскрой» passes «Счет выставлен» and «Оплачено»: their fields are filled.
    deal = _deal(login, beds, "unsorted", budget=60000, budget_manual=True,
                 custom={**CLIENT, **PAID, "sms_needed": True, "assembly_needed": True,
                         "planned_delivery_date": "2026-11-20"})
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, beds, "cutting")
        assert resp.status_code == 200, resp.json
        assert move(manager, deal, beds, "production").status_code == 200
        for key in ("sawing", "milling", "drilling", "assembly", "rework", "grinding"):
            assert move(manager, deal, beds, key).status_code == 200
        assert move(manager, deal, beds, "priming").status_code == 200
        assert move(manager, deal, beds, "painting").status_code == 200
        assert move(manager, deal, beds, "packing").status_code == 200
        assert move(manager, deal, beds, "shipped").status_code == 200
    assert new_tasks(deal, 1) == [
        ("Заказ оплачен, принять в работу", "constructor", "manager", END_OF_FRIDAY),
        ("Принять в работу. Документация готова", "production_head", "manager",
         END_OF_FRIDAY),
        ("Контроль задолженности", "manager", "manager", END_OF_FRIDAY),
        ("Связаться с клиентом и согласовать доставку", "manager", "manager", END_OF_FRIDAY),
        ("Отправить СМС с данными транспортной компании", "manager", "manager",
         END_OF_FRIDAY),
        ("Связаться с клиентом и согласовать сборку", "manager", "manager", END_OF_FRIDAY)]
    assert tasks(deal)[3].description == "Сумма задолженности: 30\u00a0000,00"
    # the day after the planned delivery (20.11), at 10:00 MSK
    assert _schedule_rows(deal) == [("schedule", "shipped", "pending",
                                     utc(2026, 11, 21, 10, 0), "Подтвердить получение заказа")]
    wednesday = msk(2026, 11, 4, 12, 0)
    with frozen(login, wednesday, "manager") as manager:
        assert move(manager, deal, beds, "delivered").status_code == 200
        assert move(manager, deal, beds, "won").status_code == 200
    assert stage_of(deal) == "won"
    assert _schedule_rows(deal) == [
        ("schedule", "shipped", "cancelled", utc(2026, 11, 21, 10, 0),
         "Подтвердить получение заказа"),
        # a week after «Успешно реализовано»: 11.11 12:00 MSK
        ("schedule", "won", "pending", utc(2026, 11, 11, 12, 0),
         "Напомнить об акции. Получить отзыв")]


def test_shipping_without_sms_or_assembly_gives_no_tasks(login, beds):
    deal = _deal(login, beds, "packing", custom={"planned_delivery_date": "2026-11-20"})
    before = len(tasks(deal))
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "shipped").status_code == 200
    assert new_tasks(deal, before) == []
    assert [s.due_at for s in schedules(deal)] == [utc(2026, 11, 21, 10, 0)]


def test_delivery_check_follows_the_planned_date_filled_after_shipping(login, beds):
    deal = _deal(login, beds, "packing")
    with frozen(login, FRIDAY, "manager") as manager:
        assert move(manager, deal, beds, "shipped").status_code == 200
        assert schedules(deal) == []
        assert put_deal(manager, deal, custom={**custom_of(deal),
                                               "planned_delivery_date": "2026-11-20"}
                        ).status_code == 200
    assert [(s.status, s.due_at) for s in schedules(deal)] == \
        [("pending", utc(2026, 11, 21, 10, 0))]


def test_lost_schedules_the_promo_in_2_weeks(login, beds):
    deal = _deal(login, beds)
    with frozen(login, FRIDAY, "manager") as manager:
        resp = move(manager, deal, beds, "lost")
        assert resp.status_code == 200, resp.json
    assert _schedule_rows(deal) == [("schedule", "lost", "pending", utc(2026, 11, 13, 15, 0),
                                     "Проинформировать клиента об акции")]
    assert schedules(deal)[0].rule_key == "beds.lost.on_enter.promo"
    # brought back: the promo is cancelled
    with frozen(login, msk(2026, 11, 2, 9, 0), "manager") as manager:
        assert move(manager, deal, beds, "first_contact").status_code == 200
    assert [s.status for s in schedules(deal)] == ["cancelled"]
