"""Администрирование → «Исходящие сообщения»: the admin reads the outbox in Russian, filters
it, sends a failed, held or cancelled message again and cancels one still waiting; a wrong
status is refused with a Russian message; no one else may see or touch it; a letter of a
process carries the record's files as attachment ids."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from app.attachments import save_upload
from app.extensions import db
from models.outbox import OutboxMessage
from tests.conftest import flashes
from tests.helpers import legal_company, user
from tests.test_russian_ui import assert_russian

LIST = "/outboxview/list/"


def _row(**kw) -> OutboxMessage:
    values = {"kind": "email", "status": "pending", "recipients": ["info@eco.ru"],
              "subject": "Ваш заказ принят", "body": "Уважаемый клиент!\nВаш заказ принят."}
    message = OutboxMessage(**{**values, **kw})
    db.session.add(message)
    db.session.commit()
    return message


def _status(message) -> str:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message.id).status


def _show(pk) -> str:
    return f"/outboxview/show/{pk}"


def _act(client, name, pk):
    return client.post(f"/outboxview/action/{name}/{pk}")


def _flashes(client, resp) -> list[str]:
    assert resp.status_code == 302, resp.status_code
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    return [" ".join(re.sub(r"<[^>]+>", "", f).split()) for f in flashes(page)]


@pytest.fixture()
def outbox(app):
    company = legal_company(email="info@eco.ru")
    failed = _row(status="failed", attempts=5, last_error="SMTP-сервер не отвечает",
                  next_attempt_at=dt.datetime(2026, 1, 1, 9, 0), entity="company",
                  record_id=company.id, subject="Статус вашего заказа")
    held = _row(status="held", last_error="SMTP не настроен: письмо сохранено, но не "
                                          "отправлено")
    sms = _row(kind="sms", recipients=["+79991234567"], subject=None, body="Код 1234")
    note = _row(kind="notification", status="sent", recipients=[user("manager").id],
                subject=None, body="Сделка согласована", sent_at=dt.datetime(2026, 1, 1))
    return {"company": company, "failed": failed, "held": held, "sms": sms, "note": note}


def test_admin_reads_the_list_in_russian(client, outbox):
    text = assert_russian(client.get(LIST), "Исходящие сообщения", "Вид", "Статус",
                          "Получатели", "Тема", "Запись", "Попыток", "Последняя ошибка",
                          "E-mail", "SMS", "Уведомление", "Ошибка", "Ожидает", "Отправлено",
                          "Не отправлено: SMTP не настроен", "SMTP-сервер не отвечает",
                          "Статус вашего заказа", "info@eco.ru", "+79991234567",
                          "Тестов Иван", "Контрагент: ООО «Ромашка»")
    # the letter's record is a link to the record's page
    page = client.get(LIST).get_data(as_text=True)
    assert f'href="/companyview/show/{outbox["company"].id}"' in page
    assert "failed" not in text and "pending" not in text


def test_admin_reads_a_message_with_its_body_and_buttons(client, outbox):
    company = outbox["company"]
    scan = save_upload(io.BytesIO(b"%PDF-1.4 scan"), "Скан УПД.pdf", "company", company.id)
    db.session.commit()
    failed = outbox["failed"]
    failed.attachments = [scan.id]
    db.session.commit()
    resp = client.get(_show(failed.id))
    text = assert_russian(resp, "Исходящее сообщение", "Текст", "Уважаемый клиент!",
                          "Ваш заказ принят.", "Вложения", "Скан УПД.pdf", "Ошибка",
                          "Повторить отправку", "Отменить")
    assert "Отправить" not in text.replace("Повторить отправку", "")
    page = resp.get_data(as_text=True)
    assert f'action="/outboxview/action/retry/{failed.id}"' in page
    assert 'method="POST"' in page
    # a sent message offers neither button
    text = assert_russian(client.get(_show(outbox["note"].id)), "Сделка согласована")
    assert "Повторить отправку" not in text and "Отменить" not in text


def test_the_list_filters_by_kind_status_and_record(client, outbox):
    page = client.get(LIST + "?_flt_3_status=failed").get_data(as_text=True)
    assert "Статус вашего заказа" in page and "Код 1234" not in page
    rows = lambda page: len(re.findall(r'name="rowid"', page))  # noqa: E731
    assert rows(page) == 1
    assert rows(client.get(LIST + "?_flt_3_kind=sms").get_data(as_text=True)) == 1
    company = outbox["company"]
    page = client.get(LIST + f"?_flt_3_entity=company&_flt_0_record_id={company.id}")
    assert rows(page.get_data(as_text=True)) == 1


def test_others_may_not_see_or_act(login, outbox):
    for username in ("manager", "director", "sales_head"):
        other = login(username)
        for url in (LIST, _show(outbox["failed"].id)):
            assert other.get(url).status_code in (302, 403), (username, url)
        resp = _act(other, "retry", outbox["failed"].id)
        assert resp.status_code in (302, 403)
        assert other.post("/outboxview/action_post", data={
            "action": "cancel", "rowid": [str(outbox["sms"].id)]}).status_code in (302, 403)
    assert _status(outbox["failed"]) == "failed" and _status(outbox["sms"]) == "pending"


def test_nobody_adds_edits_or_deletes_outbox_rows(client, outbox):
    pk = outbox["sms"].id
    for url in ("/outboxview/add", f"/outboxview/edit/{pk}", f"/outboxview/delete/{pk}"):
        assert client.get(url).status_code in (302, 403, 404), url
    assert client.post(f"/outboxview/delete/{pk}").status_code in (302, 403, 404, 405)
    assert _status(outbox["sms"]) == "pending"


def test_retry_puts_failed_held_and_cancelled_back_to_pending(app, client, outbox,
                                                              monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.eco-pack.ru")
    failed = outbox["failed"]
    resp = _act(client, "retry", failed.id)
    assert resp.headers["Location"].endswith(_show(failed.id))
    assert _flashes(client, resp) == [f"Поставлено на повторную отправку: № {failed.id}"]
    row = db.session.get(OutboxMessage, failed.id)
    assert (row.status, row.attempts, row.next_attempt_at, row.enqueued_at) == \
        ("pending", 0, None, None)
    assert row.last_error == "SMTP-сервер не отвечает"  # kept until the next try says more

    # with SMTP still missing the admin is told the letters will be held again
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    held = outbox["held"]
    cancelled = _row(status="cancelled")
    resp = client.post("/outboxview/action_post", data={
        "action": "retry", "rowid": [str(held.id), str(cancelled.id)]})
    assert resp.headers["Location"].endswith(LIST)
    assert _flashes(client, resp) == [
        f"Поставлено на повторную отправку: № {held.id}, № {cancelled.id}",
        "SMTP-сервер не настроен (SMTP_HOST): письма снова не будут отправлены, пока сервер "
        "не указан в настройках"]
    assert _status(held) == "pending" and _status(cancelled) == "pending"
    # an SMS is not held by SMTP: no such warning
    cancelled_sms = _row(kind="sms", status="cancelled", recipients=["+79991234567"])
    assert _flashes(client, _act(client, "retry", cancelled_sms.id)) == [
        f"Поставлено на повторную отправку: № {cancelled_sms.id}"]


@pytest.mark.parametrize("status", ["pending", "enqueued", "sent"])
def test_retry_refuses_other_statuses(client, status):
    message = _row(status=status, attempts=2)
    resp = _act(client, "retry", message.id)
    label = {"pending": "Ожидает", "enqueued": "В очереди", "sent": "Отправлено"}[status]
    assert _flashes(client, resp) == [
        f"Сообщение № {message.id} («{label}»): повторить можно только сообщение со "
        "статусом «Ошибка», «Не отправлено: SMTP не настроен» или «Отменено»"]
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message.id)
    assert (row.status, row.attempts) == (status, 2)


def test_cancel_stops_pending_held_and_failed(client, outbox):
    sms = outbox["sms"]
    resp = _act(client, "cancel", sms.id)
    assert _flashes(client, resp) == [f"Отменено: № {sms.id}"]
    assert _status(sms) == "cancelled"
    resp = client.post("/outboxview/action_post", data={
        "action": "cancel", "rowid": [str(outbox["held"].id), str(outbox["failed"].id),
                                      str(outbox["note"].id)]})
    assert _flashes(client, resp) == [
        f"Отменено: № {outbox['held'].id}, № {outbox['failed'].id}",
        f"Сообщение № {outbox['note'].id} («Отправлено»): отменить можно только сообщение "
        "со статусом «Ожидает», «Не отправлено: SMTP не настроен» или «Ошибка»"]
    assert [_status(outbox[k]) for k in ("held", "failed", "note")] == \
        ["cancelled", "cancelled", "sent"]


@pytest.mark.parametrize("status", ["enqueued", "sent", "cancelled"])
def test_cancel_refuses_other_statuses(client, status):
    message = _row(status=status)
    label = {"enqueued": "В очереди", "sent": "Отправлено", "cancelled": "Отменено"}[status]
    assert _flashes(client, _act(client, "cancel", message.id)) == [
        f"Сообщение № {message.id} («{label}»): отменить можно только сообщение со статусом "
        "«Ожидает», «Не отправлено: SMTP не настроен» или «Ошибка»"]
    assert _status(message) == status


def test_bad_requests_get_a_russian_message_not_an_error(client, outbox):
    pk = outbox["failed"].id
    # a record number that is no number: the Russian «not found» page, as on every screen
    assert _act(client, "retry", "abc").status_code == 404
    for send in (lambda: _act(client, "resend_all", pk),
                 lambda: client.post("/outboxview/action_post", data={"action": "drop"}),
                 lambda: client.post("/outboxview/action_post",
                                     data={"action": "retry", "rowid": ["x"]})):
        assert _flashes(client, send()) == ["Нет такого действия или сообщения"]
    assert _flashes(client, _act(client, "retry", 999999)) == ["Сообщение не найдено"]
    assert _flashes(client, client.post("/outboxview/action_post",
                                        data={"action": "retry"})) == ["Выберите сообщения"]
    # a GET never changes anything
    assert client.get(f"/outboxview/action/retry/{pk}").status_code == 405
    assert _status(outbox["failed"]) == "failed"


def test_actions_need_the_csrf_token(app, outbox):
    from app import create_app
    from tests.factories import PASSWORD

    csrf_app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True,
                           "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                           "SECRET_KEY": app.config["SECRET_KEY"]})
    http = csrf_app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      http.get("/login/").get_data(as_text=True)).group(1)
    assert http.post("/login/", data={"username": "admin", "password": PASSWORD,
                                      "csrf_token": token}).status_code == 302
    pk = outbox["failed"].id
    assert http.post(f"/outboxview/action/retry/{pk}").status_code == 400
    assert _status(outbox["failed"]) == "failed"
    page = http.get(_show(pk)).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert http.post(f"/outboxview/action/retry/{pk}",
                     data={"csrf_token": token}).status_code == 302
    assert _status(outbox["failed"]) == "pending"


# --- a process letter with the record's files ------------------------------------------------
def test_shipment_letter_stores_the_deal_scan_as_an_attachment(login, app):
    from tests.process_flow_helpers import (custom_of, frozen, install, messages, msk,
                                            new_deal, put_deal, text)

    manager = user("manager")
    manager.phone = "+7 495 000-00-01"
    db.session.commit()
    eco = install("002_deals.yaml", "eco_deals")
    buyer = legal_company(name="ООО «Эко»", email="info@eco.ru")
    when = msk(2026, 11, 3, 15, 0)
    with frozen(login, when) as admin:
        deal = new_deal(admin, eco, "shipment", title="Эко-пакеты", company=buyer.id)
        other = new_deal(admin, eco, "shipment", title="Чужая сделка", company=buyer.id)
    scan = save_upload(io.BytesIO(b"%PDF-1.4 scans"), "Сканы CMR.pdf", "deal", deal.id)
    foreign = save_upload(io.BytesIO(b"%PDF-1.4 other"), "Чужой.pdf", "deal", other.id)
    db.session.commit()
    with frozen(login, when, "manager") as client:
        # a value pointing at another deal's file is refused: never mailed to this client
        refused = put_deal(client, other, custom={**custom_of(other),
                                                  "shipping_scans": scan.id})
        assert refused.status_code == 422
        assert "не найден среди файлов этой записи" in refused.json["message"]["custom"][0]
        assert put_deal(client, deal, custom={**custom_of(deal), "shipping_scans": scan.id}
                        ).status_code == 200
    [letter] = messages(deal, "email")
    assert (letter.subject, letter.recipients) == ("Ваш заказ отправлен", ["info@eco.ru"])
    assert text(letter.body) == (
        "Уважаемый клиент! Ваш заказ «Эко-пакеты» отправлен. Сканы документов во вложении. "
        "Ваш менеджер Тестов Иван, телефон +7 495 000-00-01")
    assert letter.attachments == [scan.id]
    assert messages(other, "email") == [] and foreign.id
    from models.timeline import TimelineEntry

    notes = set(db.session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.entity == "deal")))
    assert "Письмо клиенту «Ваш заказ отправлен» поставлено в очередь (info@eco.ru, " \
           "вложений: 1)" in notes
